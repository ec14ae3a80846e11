/* run: `hull run`'s command line — a container's flags, or a bundle, and the VM's settings. */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/util.h"

static const char run_help[] =
	"usage: hull [global options] run --rootfs DIR [options] [--] CMD [ARG...]\n"
	"       hull [global options] run --bundle DIR [options] [ID]\n"
	"\n"
	"Run a container in its own microVM: its process is CMD (or config.json's), hull's\n"
	"stdin, stdout and stderr are its own, and hull exits with its status (its exit\n"
	"code, or 128+N when it was killed by signal N).\n"
	"\n"
	"the container (with --rootfs; a default spec as `runc spec` makes it):\n"
	"  --rootfs DIR        its root filesystem (shared with virtio-fs)\n"
	"  --read-only         the root is read-only\n"
	"  --env K=V           an environment variable (repeatable; replaces an earlier K)\n"
	"  --workdir D         its working directory (absolute; default /)\n"
	"  --user UID[:GID]    numeric user and group (default 0:0; GID 0 when not given)\n"
	"  --hostname H        its hostname (default hull)\n"
	"  --mount SRC:DST[:ro|:rw]\n"
	"                      bind-mount host directory or file SRC at DST (repeatable;\n"
	"                      SRC absolute; all of them share one virtio-fs device)\n"
	"  --tmpfs DST[:OPTS]  a tmpfs at DST (repeatable; nosuid,nodev,noexec, then OPTS)\n"
	"  -t, --tty           a terminal: a pty in the guest, raw mode on hull's terminal\n"
	"  --privileged        every capability and every device of the guest\n"
	"\n"
	"or the container from an OCI bundle:\n"
	"  --bundle DIR        DIR/config.json and its root (ID names the container)\n"
	"\n"
	"the VM:\n"
	"  --kernel PATH       bzImage or ELF vmlinux (default as for `hull vm`); the modules\n"
	"                      it needs come from /lib/modules/RELEASE\n"
	"  --cpus N            vCPUs (default: from the bundle's linux.resources, else 1)\n"
	"  --max-cpus N        vCPUs made (default: --cpus): those above boot offline, and an\n"
	"                      update of the CPU limits onlines or offlines them\n"
	"  --memory SIZE       guest RAM (default: the bundle's memory limit, else 512M)\n"
	"  --max-memory SIZE   RAM plus a hotplug region (virtio-mem) an update of the memory\n"
	"                      limit plugs and unplugs (default with a limit: 4 times the RAM,\n"
	"                      at most the host's RAM; none without one)\n"
	"  --net SPEC          a network device as `hull vm --net` takes it (repeatable)\n"
	"  --console-log FILE  the guest's serial console, appended to FILE (default:\n"
	"                      nowhere; it never mixes with the container's output)\n"
	"  -v, --verbose       more diagnostics\n"
	"  -h, --help          show this help\n"
	"\n"
	"SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 go to the container's process\n"
	"(SIGWINCH becomes its window size); a second SIGINT within a second stops the VM.\n"
	"Exit status: the container's; 2 for bad input (found before /dev/kvm is opened); 1\n"
	"when the VM or the guest's init failed; 128+N when hull was stopped by signal N.\n";

enum {
	RUN_ROOTFS = 256, RUN_READ_ONLY, RUN_ENV, RUN_WORKDIR, RUN_USER, RUN_HOSTNAME, RUN_MOUNT,
	RUN_TMPFS, RUN_PRIVILEGED, RUN_BUNDLE, RUN_KERNEL, RUN_CPUS, RUN_MAX_CPUS, RUN_MAX_MEMORY,
	RUN_MEMORY, RUN_NET,
	RUN_CONSOLE_LOG,
};

static const struct option run_options[] = {
	{ "rootfs", required_argument, NULL, RUN_ROOTFS },
	{ "read-only", no_argument, NULL, RUN_READ_ONLY },
	{ "env", required_argument, NULL, RUN_ENV },
	{ "workdir", required_argument, NULL, RUN_WORKDIR },
	{ "user", required_argument, NULL, RUN_USER },
	{ "hostname", required_argument, NULL, RUN_HOSTNAME },
	{ "mount", required_argument, NULL, RUN_MOUNT },
	{ "tmpfs", required_argument, NULL, RUN_TMPFS },
	{ "tty", no_argument, NULL, 't' },
	{ "privileged", no_argument, NULL, RUN_PRIVILEGED },
	{ "bundle", required_argument, NULL, RUN_BUNDLE },
	{ "kernel", required_argument, NULL, RUN_KERNEL },
	{ "cpus", required_argument, NULL, RUN_CPUS },
	{ "max-cpus", required_argument, NULL, RUN_MAX_CPUS },
	{ "max-memory", required_argument, NULL, RUN_MAX_MEMORY },
	{ "memory", required_argument, NULL, RUN_MEMORY },
	{ "net", required_argument, NULL, RUN_NET },
	{ "console-log", required_argument, NULL, RUN_CONSOLE_LOG },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* A VM setting or device flag through vmm's tables: the message names the flag. */
static int vm_flag(struct vm_config *cfg, const char *name, const char *value)
{
	char err[256];
	int ret = config_set(cfg, name, value, err, sizeof(err));

	if (ret)
		log_msg("run: --%s", ret == -ENOMEM ? strerror(ENOMEM) : err);
	return ret;
}

static void push(const char **list, unsigned int *n, const char *v)
{
	list[(*n)++] = v;
}

/* The flags that shape the container without a bundle: refused with --bundle. */
static const char *container_flag(const struct ctr_run_opts *o)
{
	if (o->rootfs)
		return "--rootfs";
	if (o->read_only)
		return "--read-only";
	if (o->nenv)
		return "--env";
	if (o->workdir)
		return "--workdir";
	if (o->user)
		return "--user";
	if (o->hostname)
		return "--hostname";
	if (o->nmounts)
		return "--mount";
	if (o->ntmpfs)
		return "--tmpfs";
	if (o->tty)
		return "--tty";
	if (o->privileged)
		return "--privileged";
	return NULL;
}

enum cli_action cli_parse_run(int argc, char **argv, struct vm_config *cfg, struct cli_run *run,
			      bool *verbose)
{
	struct ctr_run_opts *o = &run->args.opts;
	const char *arg, *flag;
	int opt;

	/* Every list has room for all of argv. */
	run->env = calloc((size_t)argc, sizeof(*run->env));
	run->mounts = calloc((size_t)argc, sizeof(*run->mounts));
	run->tmpfs = calloc((size_t)argc, sizeof(*run->tmpfs));
	if (!run->env || !run->mounts || !run->tmpfs) {
		log_msg("run: %s", strerror(ENOMEM));
		return CLI_EXIT_USAGE;
	}
	o->env = run->env;
	o->mounts = run->mounts;
	o->tmpfs = run->tmpfs;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:tvh", run_options, NULL)) != -1) {
		arg = optarg;
		switch (opt) {
		case RUN_ROOTFS:
			o->rootfs = arg;
			break;
		case RUN_READ_ONLY:
			o->read_only = true;
			break;
		case RUN_ENV:
			push(run->env, &o->nenv, arg);
			break;
		case RUN_WORKDIR:
			o->workdir = arg;
			break;
		case RUN_USER:
			o->user = arg;
			break;
		case RUN_HOSTNAME:
			o->hostname = arg;
			break;
		case RUN_MOUNT:
			push(run->mounts, &o->nmounts, arg);
			break;
		case RUN_TMPFS:
			push(run->tmpfs, &o->ntmpfs, arg);
			break;
		case 't':
			o->tty = true;
			break;
		case RUN_PRIVILEGED:
			o->privileged = true;
			break;
		case RUN_BUNDLE:
			run->args.bundle = arg;
			break;
		case RUN_CONSOLE_LOG:
			run->args.console_log = arg;
			break;
		case RUN_CPUS:
		case RUN_MEMORY:
			run->args.cpus_set |= opt == RUN_CPUS;
			run->args.mem_set |= opt == RUN_MEMORY;
			/* fall through */
		case RUN_KERNEL:
		case RUN_NET:
		case RUN_MAX_CPUS:
		case RUN_MAX_MEMORY:
			if (vm_flag(cfg, opt == RUN_KERNEL ? "kernel" : opt == RUN_CPUS ? "cpus" :
					 opt == RUN_MEMORY ? "memory" : opt == RUN_MAX_CPUS ? "max-cpus" :
					 opt == RUN_MAX_MEMORY ? "max-memory" : "net", arg))
				return CLI_EXIT_USAGE;
			break;
		case 'v':
			*verbose = true;
			break;
		case 'h':
			fputs(run_help, stdout);
			return CLI_EXIT_OK;
		case ':':
			log_msg("run: option '%s' needs a value", argv[optind - 1]);
			return CLI_EXIT_USAGE;
		default:
			log_msg("run: unknown option '%s' (see 'hull run --help')", argv[optind - 1]);
			return CLI_EXIT_USAGE;
		}
	}
	if (run->args.bundle) {
		flag = container_flag(o);
		if (flag) {
			log_msg("run: %s cannot be given with --bundle: config.json says what the "
				"container is", flag);
			return CLI_EXIT_USAGE;
		}
		if (argc - optind > 1) {
			log_msg("run: unexpected argument '%s' after the container's id",
				argv[optind + 1]);
			return CLI_EXIT_USAGE;
		}
		run->args.id = optind < argc ? argv[optind] : NULL;
		return CLI_RUN_CONTAINER;
	}
	if (!o->rootfs) {
		log_msg("run: --rootfs DIR or --bundle DIR is needed (see 'hull run --help')");
		return CLI_EXIT_USAGE;
	}
	if (optind >= argc) {
		log_msg("run: no command given: hull run --rootfs DIR -- CMD [ARG...]");
		return CLI_EXIT_USAGE;
	}
	o->args = (const char *const *)argv + optind;
	o->nargs = (unsigned int)(argc - optind);
	return CLI_RUN_CONTAINER;
}

void cli_run_free(struct cli_run *run)
{
	rt_cmd_free(&run->rt);
	free(run->env);
	free(run->mounts);
	free(run->tmpfs);
	*run = (struct cli_run){ 0 };
}
