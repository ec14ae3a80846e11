/* cli: hull's command line — subcommands, flags, help and version. */
#include "cli/cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "arch/arch.h"
#include "lib/log.h"
#include "lib/usock.h"

static const char usage_top[] =
	"usage: hull <command> [options]\n"
	"\n"
	"hull is a minimal KVM virtual machine monitor.\n"
	"\n"
	"commands:\n"
	"  vm        boot a Linux microVM (see 'hull vm --help')\n"
	"  ctl       send a command to a running VM's control socket\n"
	"            (hull ctl PATH state|pause|resume|stop)\n"
	"\n"
	"options:\n"
	"  -h, --help     show this help\n"
	"  -V, --version  show the version\n";

static const char usage_vm[] =
	"usage: hull vm [options]\n"
	"\n"
	"Boot a Linux microVM on /dev/kvm; its serial console is hull's stdin and stdout.\n"
	"\n"
	"  --kernel PATH     bzImage or ELF vmlinux (PVH entry used when present)\n"
	"                    (default: $HULL_KERNEL, else build/guest/vmlinux beside hull)\n"
	"  --initrd PATH     initramfs image; 'none' for no initramfs\n"
	"                    (default: hull's built-in demo initramfs)\n"
	"  --cmdline STR     kernel command line, replacing the default:\n"
	"                    \"%s\"\n"
	"  --cpus N          number of vCPUs, 1-255 and at most KVM's limit (default 1)\n"
	"  --memory SIZE     guest RAM: bytes or K/M/G suffix, multiple of 4K, 32M-1T\n"
	"                    (default 512M; above 3G, RAM continues above 4 GiB)\n"
	"  --disk path=FILE[,ro=on][,cache=writeback|unsafe|none][,serial=ID]\n"
	"                    a virtio-blk disk: raw image or block device; repeatable,\n"
	"                    at most %d; the guest sees them as /dev/vda, /dev/vdb, ...\n"
	"                    ro=on: read-only; cache=writeback (default) uses the host\n"
	"                    page cache and flushes on request, unsafe never flushes,\n"
	"                    none uses O_DIRECT; serial= up to 20 characters;\n"
	"                    ',,' in a value is a literal comma. Writable images are\n"
	"                    locked: a second hull cannot use them at the same time\n"
	"  --fs tag=TAG,path=DIR[,ro=on][,cache=auto|always|never]\n"
	"                    share host directory DIR with the guest (virtio-fs):\n"
	"                    mount -t virtiofs TAG /mnt; repeatable, at most %d;\n"
	"                    TAG: 1-36 printable characters, no spaces or commas,\n"
	"                    unique; ro=on: read-only; cache=auto (default) caches\n"
	"                    names and attributes for 1 s, always for long (only this\n"
	"                    guest changes DIR), never not at all (direct file I/O);\n"
	"                    ',,' in a value is a literal comma. The guest cannot\n"
	"                    reach files outside DIR\n"
	"  --net tap=NAME[,mac=MAC]\n"
	"  --net passt[=SOCKET][,mac=MAC]\n"
	"                    a virtio-net device, eth0, eth1, ... in the guest;\n"
	"                    repeatable, at most %d. tap=NAME: the TAP interface NAME\n"
	"                    (created when missing and hull may), with checksum and\n"
	"                    segmentation offloads; passt: rootless user-mode\n"
	"                    networking through passt, which hull starts (and stops)\n"
	"                    itself unless SOCKET names a running passt's socket;\n"
	"                    mac= the guest's MAC (default: a random local one)\n"
	"  --vsock cid=N,uds=PATH\n"
	"                    a virtio-vsock device; the guest's CID is N (3 or more).\n"
	"                    Firecracker-style hybrid host side: connect to PATH and\n"
	"                    write \"CONNECT <port>\\n\" to reach a guest port; a guest\n"
	"                    connecting to CID 2 port P reaches the Unix socket PATH_P\n"
	"  --rng on|off      virtio-rng entropy device fed by getrandom(), at most\n"
	"                    1 MiB/s (default on)\n"
	"  --api-sock PATH   serve the control socket at PATH (created 0600, removed\n"
	"                    at exit): one JSON object per line each way, commands\n"
	"                    state, pause, resume, stop; see 'hull ctl'\n"
	"  --boot-timer      report the time until the guest writes 123 to the boot\n"
	"                    timer at 0xfe000000 (Firecracker-compatible)\n"
	"  --config FILE     JSON object with the same fields: kernel, initrd, cmdline,\n"
	"                    cpus, memory, boot_timer, rng (true/false), disks (array\n"
	"                    of {\"path\", \"ro\", \"cache\", \"serial\"}), shares (array\n"
	"                    of {\"tag\", \"path\", \"ro\", \"cache\"}), nets (array of\n"
	"                    {\"tap\", \"mac\"} or {\"passt\": true or SOCKET, \"mac\"}),\n"
	"                    vsock ({\"cid\": N, \"uds\": PATH}); flags given too\n"
	"                    override it (any --disk replaces the file's disks, any\n"
	"                    --fs its shares, any --net its nets)\n"
	"  -v, --verbose     more diagnostics on stderr\n"
	"  -h, --help        show this help\n"
	"\n"
	"On a terminal, Ctrl-A x stops the VM (exit 0); Ctrl-A Ctrl-A sends Ctrl-A.\n"
	"Exit status: 0 when the guest powers off or reboots, or on a stop through\n"
	"the control socket; 128+N on a terminating signal N (SIGINT 130, SIGTERM\n"
	"143, SIGHUP 129, SIGUSR1 138, SIGUSR2 140, ...); 1 when the VM fails (KVM\n"
	"error, triple fault); 2 for bad input.\n";

enum { OPT_KERNEL = 256, OPT_INITRD, OPT_CMDLINE, OPT_CPUS, OPT_MEMORY, OPT_BOOT_TIMER, OPT_CONFIG,
       OPT_DISK, OPT_FS, OPT_NET, OPT_RNG, OPT_VSOCK, OPT_API_SOCK };

static const struct option vm_opts[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "boot-timer", no_argument, NULL, OPT_BOOT_TIMER },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "fs", required_argument, NULL, OPT_FS },
	{ "net", required_argument, NULL, OPT_NET },
	{ "rng", required_argument, NULL, OPT_RNG },
	{ "vsock", required_argument, NULL, OPT_VSOCK },
	{ "api-sock", required_argument, NULL, OPT_API_SOCK },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const char *const opt_keys[] = {
	[OPT_KERNEL - OPT_KERNEL] = "kernel",   [OPT_INITRD - OPT_KERNEL] = "initrd",
	[OPT_CMDLINE - OPT_KERNEL] = "cmdline", [OPT_CPUS - OPT_KERNEL] = "cpus",
	[OPT_MEMORY - OPT_KERNEL] = "memory",
};

/* The repeatable device flags, by opt - OPT_DISK: their config key and list. */
static const char *const list_keys[] = { "disk", "fs", "net" };
static void (*const list_clear[])(struct vm_config *) = {
	config_clear_disks, config_clear_shares, config_clear_nets,
};

static enum cli_action bad_option(int argc, char **argv, int opt)
{
	const char *arg = optind - 1 < argc ? argv[optind - 1] : "?";

	if (opt == ':')
		log_msg("vm: option '%s' needs a value", arg);
	else
		log_msg("vm: unknown option '%s' (see 'hull vm --help')", arg);
	return CLI_EXIT_USAGE;
}

static enum cli_action parse_vm(int argc, char **argv, struct vm_config *cfg, bool *verbose)
{
	bool given[3] = { false };
	char err[256];
	int opt, pass, k;

	/* Two passes: --config first, wherever it stands, so other flags override it. */
	for (pass = 0; pass < 2; pass++) {
		optind = 0;
		opterr = 0;
		while ((opt = getopt_long(argc, argv, "+:vh", vm_opts, NULL)) != -1) {
			switch (opt) {
			case 'h':
				if (pass == 0) {
					printf(usage_vm, arch_default_cmdline(), CONFIG_MAX_DISKS,
					       CONFIG_MAX_SHARES, CONFIG_MAX_NETS);
					return CLI_EXIT_OK;
				}
				break;
			case 'v':
				*verbose = true;
				break;
			case OPT_CONFIG:
				if (pass == 0 && config_load_file(cfg, optarg, err, sizeof(err))) {
					log_msg("config %s: %s", optarg, err);
					return CLI_EXIT_USAGE;
				}
				break;
			case OPT_BOOT_TIMER:
				cfg->boot_timer = true;
				break;
			case OPT_DISK:
			case OPT_FS:
			case OPT_NET:
				/* The first flag of a kind replaces what the config file listed. */
				if (pass == 0)
					break;
				k = opt - OPT_DISK;
				if (!given[k])
					list_clear[k](cfg);
				given[k] = true;
				if (config_set(cfg, list_keys[k], optarg, err, sizeof(err))) {
					log_msg("--%s", err);
					return CLI_EXIT_USAGE;
				}
				break;
			case OPT_API_SOCK:
				if (pass == 1 && config_set(cfg, "api_sock", optarg, err, sizeof(err))) {
					log_msg("--%s", err);
					return CLI_EXIT_USAGE;
				}
				break;
			case OPT_RNG:
			case OPT_VSOCK:
				if (pass == 1 && config_set(cfg, opt == OPT_RNG ? "rng" : "vsock", optarg,
							    err, sizeof(err))) {
					log_msg("--%s", err);
					return CLI_EXIT_USAGE;
				}
				break;
			case OPT_KERNEL:
			case OPT_INITRD:
			case OPT_CMDLINE:
			case OPT_CPUS:
			case OPT_MEMORY:
				if (pass == 1 &&
				    config_set(cfg, opt_keys[opt - OPT_KERNEL], optarg, err, sizeof(err))) {
					log_msg("--%s", err);
					return CLI_EXIT_USAGE;
				}
				break;
			default:
				return bad_option(argc, argv, opt);
			}
		}
	}
	if (optind < argc) {
		log_msg("vm: unexpected argument '%s' (see 'hull vm --help')", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	if (config_validate(cfg, err, sizeof(err))) {
		log_msg("%s", err);
		return CLI_EXIT_USAGE;
	}
	/* Before /dev/kvm is touched, so a path that cannot serve is bad input on any host. */
	if (cfg->api_sock) {
		char what[PATH_MAX + 16];

		snprintf(what, sizeof(what), "api socket %s", cfg->api_sock);
		if (usock_check(cfg->api_sock, what))
			return CLI_EXIT_USAGE;
	}
	return CLI_RUN_VM;
}

enum cli_action cli_parse(int argc, char **argv, struct vm_config *cfg, bool *verbose)
{
	if (argc < 2) {
		fputs(usage_top, stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(usage_top, stdout);
		return CLI_EXIT_OK;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("hull %s\n", HULL_VERSION);
		return CLI_EXIT_OK;
	}
	if (!strcmp(argv[1], "vm"))
		return parse_vm(argc - 1, argv + 1, cfg, verbose);
	if (!strcmp(argv[1], "ctl"))
		return CLI_RUN_CTL;
	log_msg("unknown command '%s' (see 'hull --help')", argv[1]);
	return CLI_EXIT_USAGE;
}
