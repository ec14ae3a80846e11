/* Unit tests for hull's command line: subcommands, flags, config-file precedence, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "cli/cli.h"
#include "lib/log.h"
#include "virtio/blk/blk.h"
#include "virtio/fs/fs.h"
#include "virtio/net/net.h"
#include "virtio/rng/rng.h"
#include "virtio/vsock/vsock.h"

static struct vm_config cfg;
static struct cli_run run;
static bool verbose;

#define NDISKS config_count(&cfg, &vblk_kind)
#define NSHARES config_count(&cfg, &vfs_kind)
#define NNETS config_count(&cfg, &vnet_kind)
#define HAS_VSOCK (config_count(&cfg, &vsock_kind) == 1)
#define HAS_RNG (config_count(&cfg, &vrng_kind) == 1)
#define DISK(i) ((const struct vblk_config *)config_device(&cfg, &vblk_kind, i))
#define SHARE(i) ((const struct vfs_config *)config_device(&cfg, &vfs_kind, i))
#define NET(i) ((const struct vnet_config *)config_device(&cfg, &vnet_kind, i))
#define VSOCK ((const struct vsock_config *)config_device(&cfg, &vsock_kind, 0))

/* What the first pass's config_validate says of what the command line gave. */
static int validate(void)
{
	char err[256];

	return config_validate(&cfg, err, sizeof(err));
}

static enum cli_action parse(int argc, const char **argv)
{
	config_free(&cfg);
	verbose = false;
	int verb;

	/* hull run keeps pointers into argv: give it an argv that outlives PARSE's own. */
	static const char *kept[64];

	assert_true(argc < 64);
	memcpy(kept, argv, (size_t)(argc + 1) * sizeof(*argv));
	cli_run_free(&run);
	return cli_parse(argc, (char **)(uintptr_t)kept, &cfg, &run, &verbose, &verb);
}

#define PARSE(...)                                                                   \
	({                                                                           \
		const char *argv_[] = { "hull", __VA_ARGS__, NULL };                 \
		parse((int)(sizeof(argv_) / sizeof(argv_[0])) - 1, argv_);          \
	})

static void test_top_level(void **state)
{
	const char *none[] = { "hull", NULL };

	(void)state;
	assert_int_equal(parse(1, none), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("--version"), CLI_EXIT_OK);
	assert_int_equal(PARSE("-V"), CLI_EXIT_OK);
	assert_int_equal(PARSE("--help"), CLI_EXIT_OK);
	assert_int_equal(PARSE("frobnicate"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--help"), CLI_EXIT_OK);
}

static void test_vm_flags(void **state)
{
	(void)state;
	assert_int_equal(PARSE("vm", "--kernel", "/k", "--initrd", "/i", "--cmdline", "a b",
			       "--cpus", "4", "--memory", "4G", "--boot-timer", "-v"),
			 CLI_RUN_VM);
	assert_string_equal(cfg.kernel, "/k");
	assert_string_equal(cfg.initrd, "/i");
	assert_string_equal(cfg.cmdline, "a b");
	assert_int_equal(cfg.cpus, 4);
	assert_int_equal(cfg.mem, 4ULL << 30);
	assert_true(cfg.boot_timer);
	assert_true(verbose);

	assert_int_equal(PARSE("vm"), CLI_RUN_VM);
	assert_null(cfg.kernel);
	assert_null(cfg.initrd);
	assert_int_equal(cfg.cpus, CONFIG_DEFAULT_CPUS);
	assert_int_equal(cfg.mem, CONFIG_DEFAULT_MEM);
	assert_false(cfg.boot_timer);
}

static void test_vm_errors(void **state)
{
	(void)state;
	assert_int_equal(PARSE("vm", "--bogus"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--kernel"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--cpus", "two"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--memory", "12Q"), CLI_EXIT_USAGE);
	/* Values that parse but are out of range: the first pass (config_validate) refuses them. */
	assert_int_equal(PARSE("vm", "--cpus", "0"), CLI_RUN_VM);
	assert_int_equal(validate(), -EINVAL);
	assert_int_equal(PARSE("vm", "--cpus", "256"), CLI_RUN_VM);
	assert_int_equal(validate(), -EINVAL);
	assert_int_equal(PARSE("vm", "--memory", "16M"), CLI_RUN_VM);
	assert_int_equal(validate(), -EINVAL);
	assert_int_equal(PARSE("vm", "--memory", "100001"), CLI_RUN_VM);
	assert_int_equal(validate(), -EINVAL);
	assert_int_equal(PARSE("vm", "--kernel", ""), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "stray"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--config", "/nonexistent/hull.json"), CLI_EXIT_USAGE);
}

/* --config applies first wherever it stands; the other flags override it. */
static void test_config_precedence(void **state)
{
	char path[] = "/tmp/hull-test-cli-XXXXXX";
	const char json[] = "{\"cpus\": 3, \"memory\": \"1G\", \"kernel\": \"/from/file\"}";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, json, sizeof(json) - 1), (ssize_t)(sizeof(json) - 1));
	close(fd);
	assert_int_equal(PARSE("vm", "--cpus", "2", "--config", path), CLI_RUN_VM);
	assert_int_equal(cfg.cpus, 2);
	assert_int_equal(cfg.mem, 1ULL << 30);
	assert_string_equal(cfg.kernel, "/from/file");
	assert_int_equal(PARSE("vm", "--config", path, "--kernel", "/flag"), CLI_RUN_VM);
	assert_string_equal(cfg.kernel, "/flag");
	assert_int_equal(cfg.cpus, 3);
	unlink(path);
}

static void test_disks_and_rng(void **state)
{
	char path[] = "/tmp/hull-test-cli-XXXXXX";
	const char json[] = "{\"disks\": [{\"path\": \"/file/a\"}, {\"path\": \"/file/b\"}]}";
	int fd = mkstemp(path);

	(void)state;
	assert_int_equal(PARSE("vm", "--disk", "path=/a", "--disk", "path=/b,ro=on", "--rng", "off"),
			 CLI_RUN_VM);
	assert_int_equal(NDISKS, 2);
	assert_string_equal(DISK(0)->path, "/a");
	assert_true(DISK(1)->ro);
	assert_false(HAS_RNG);
	assert_int_equal(PARSE("vm"), CLI_RUN_VM);
	assert_int_equal(NDISKS, 0);
	assert_true(HAS_RNG);
	assert_int_equal(PARSE("vm", "--disk", "/a"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--disk"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--rng", "maybe"), CLI_EXIT_USAGE);

	/* The file's disks stay unless a --disk flag is given, which replaces them all. */
	assert_true(fd >= 0);
	assert_int_equal(write(fd, json, sizeof(json) - 1), (ssize_t)(sizeof(json) - 1));
	close(fd);
	assert_int_equal(PARSE("vm", "--config", path), CLI_RUN_VM);
	assert_int_equal(NDISKS, 2);
	assert_int_equal(PARSE("vm", "--disk", "path=/flag", "--config", path), CLI_RUN_VM);
	assert_int_equal(NDISKS, 1);
	assert_string_equal(DISK(0)->path, "/flag");
	unlink(path);
}

static void test_shares(void **state)
{
	char path[] = "/tmp/hull-test-cli-XXXXXX";
	const char json[] = "{\"shares\": [{\"tag\": \"f1\", \"path\": \"/file/a\"}, "
			    "{\"tag\": \"f2\", \"path\": \"/file/b\"}], "
			    "\"disks\": [{\"path\": \"/file/d\"}]}";
	int fd = mkstemp(path);

	(void)state;
	assert_int_equal(
		PARSE("vm", "--fs", "tag=a,path=/a", "--fs", "tag=b,path=/b,ro=on,cache=never"),
		CLI_RUN_VM);
	assert_int_equal(NSHARES, 2);
	assert_string_equal(SHARE(0)->tag, "a");
	assert_string_equal(SHARE(0)->path, "/a");
	assert_true(SHARE(1)->ro);
	assert_int_equal(SHARE(1)->cache, VFS_CACHE_NEVER);
	assert_int_equal(PARSE("vm"), CLI_RUN_VM);
	assert_int_equal(NSHARES, 0);
	assert_int_equal(PARSE("vm", "--fs", "/a"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--fs"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--fs", "tag=a"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--fs", "path=/a"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--fs", "tag=a,path=/a,cache=fast"), CLI_EXIT_USAGE);
	/* A tag used twice is caught before anything is built. */
	assert_int_equal(PARSE("vm", "--fs", "tag=a,path=/a", "--fs", "tag=a,path=/b"),
			 CLI_RUN_VM);
	assert_int_equal(validate(), -EINVAL);

	/* The file's shares stay unless an --fs flag is given, which replaces them all... */
	assert_true(fd >= 0);
	assert_int_equal(write(fd, json, sizeof(json) - 1), (ssize_t)(sizeof(json) - 1));
	close(fd);
	assert_int_equal(PARSE("vm", "--config", path), CLI_RUN_VM);
	assert_int_equal(NSHARES, 2);
	assert_int_equal(PARSE("vm", "--fs", "tag=x,path=/flag", "--config", path), CLI_RUN_VM);
	assert_int_equal(NSHARES, 1);
	assert_string_equal(SHARE(0)->tag, "x");
	assert_int_equal(NDISKS, 1);
	/* ... and the file's tags may be reused by the flags that replace them. */
	assert_int_equal(PARSE("vm", "--config", path, "--fs", "tag=f1,path=/c"), CLI_RUN_VM);
	assert_int_equal(NSHARES, 1);
	/* --disk replaces the disks only. */
	assert_int_equal(PARSE("vm", "--config", path, "--disk", "path=/e"), CLI_RUN_VM);
	assert_int_equal(NSHARES, 2);
	assert_string_equal(DISK(0)->path, "/e");
	unlink(path);
}

/* --net and --vsock: flags, repeats, and the config file's "nets" and "vsock" replaced by flags. */
static void test_nets_and_vsock(void **state)
{
	char path[] = "/tmp/hull-test-cli-XXXXXX";
	const char json[] = "{\"nets\": [{\"tap\": \"ft0\"}, {\"passt\": true}], "
			    "\"vsock\": {\"cid\": 9, \"uds\": \"/file/v.sock\"}}";
	int fd = mkstemp(path);

	(void)state;
	assert_int_equal(PARSE("vm", "--net", "tap=tap0,mac=02:00:00:00:00:07", "--net", "passt",
			       "--vsock", "cid=5,uds=/run/v.sock"),
			 CLI_RUN_VM);
	assert_int_equal(NNETS, 2);
	assert_string_equal(NET(0)->tap, "tap0");
	assert_true(NET(0)->mac_set);
	assert_int_equal(NET(1)->backend, VNET_PASST);
	assert_true(HAS_VSOCK);
	assert_int_equal(VSOCK->cid, 5);
	assert_string_equal(VSOCK->uds, "/run/v.sock");
	assert_int_equal(PARSE("vm"), CLI_RUN_VM);
	assert_int_equal(NNETS, 0);
	assert_false(HAS_VSOCK);
	assert_int_equal(PARSE("vm", "--net"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--net", "tap0"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--net", "tap=a", "--net", "tap=a"), CLI_RUN_VM);
	assert_int_equal(validate(), -EINVAL);
	assert_int_equal(PARSE("vm", "--vsock", "cid=5"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--vsock", "cid=1,uds=/a"), CLI_EXIT_USAGE);
	/* The last --vsock wins, as for the other single-valued flags. */
	assert_int_equal(PARSE("vm", "--vsock", "cid=5,uds=/a", "--vsock", "cid=6,uds=/b"),
			 CLI_RUN_VM);
	assert_int_equal(VSOCK->cid, 6);
	assert_string_equal(VSOCK->uds, "/b");

	assert_true(fd >= 0);
	assert_int_equal(write(fd, json, sizeof(json) - 1), (ssize_t)(sizeof(json) - 1));
	close(fd);
	assert_int_equal(PARSE("vm", "--config", path), CLI_RUN_VM);
	assert_int_equal(NNETS, 2);
	assert_int_equal(VSOCK->cid, 9);
	assert_int_equal(PARSE("vm", "--net", "tap=x", "--config", path, "--vsock", "cid=4,uds=/c"),
			 CLI_RUN_VM);
	assert_int_equal(NNETS, 1);
	assert_string_equal(NET(0)->tap, "x");
	assert_int_equal(VSOCK->cid, 4);
	assert_string_equal(VSOCK->uds, "/c");
	unlink(path);
}

/* `hull vm --help` is generated: every setting and device kind is there with its argument. */
static void test_help_lists_every_option(void **state)
{
	char *help = cli_vm_help(), *flat, want[160];
	const char *c;
	unsigned int i;
	size_t n = 0;

	(void)state;
	assert_non_null(help);
	/* The --config paragraph wraps anywhere: its words are looked for with the breaks undone. */
	flat = malloc(strlen(help) + 1);
	assert_non_null(flat);
	for (c = help; *c; c++) {
		if (*c != '\n')
			flat[n++] = *c;
		else
			for (flat[n++] = ' '; c[1] == ' '; c++)
				;
	}
	flat[n] = '\0';
	for (i = 0; i < config_nsettings; i++) {
		const struct config_setting *s = &config_settings[i];

		snprintf(want, sizeof(want), "  --%s%s%s", s->flag, s->arg ? " " : "",
			 s->arg ? s->arg : "");
		if (!strstr(help, want))
			fail_msg("--help lacks \"%s\"", want);
		/* ... and in the --config paragraph, by its JSON key. */
		snprintf(want, sizeof(want), "%s,", s->json);
		if (!strstr(flat, want))
			fail_msg("--help's --config lacks \"%s\"", want);
	}
	for (i = 0; i < config_nkinds; i++) {
		const struct virtio_kind *k = config_kinds[i];

		snprintf(want, sizeof(want), "  --%s %s", k->name, k->arg);
		if (!strstr(help, want))
			fail_msg("--help lacks \"%s\"", want);
		snprintf(want, sizeof(want), "%s (", k->json);
		if (!strstr(flat, want))
			fail_msg("--help's --config lacks \"%s\"", want);
	}
	assert_non_null(strstr(help, "--config FILE"));
	assert_non_null(strstr(help, "-v, --verbose"));
	assert_non_null(strstr(help, "-h, --help"));
	assert_non_null(strstr(help, arch_default_cmdline()));
	/* The limits come from the machine's slots. */
	snprintf(want, sizeof(want), "at most %u, and %u virtio devices in all",
		 config_kind_max(&vblk_kind), arch_virtio_slots());
	assert_non_null(strstr(help, want));
	/* Nothing wider than a terminal. */
	for (const char *l = help, *nl; *l; l = nl + 1) {
		nl = strchr(l, '\n');
		assert_non_null(nl);
		if (nl - l > 80 && strncmp(l, "  \"", 3))
			fail_msg("help line of %d columns: %.*s", (int)(nl - l), (int)(nl - l), l);
	}
	free(flat);
	free(help);
}

/* Every setting's flag is a getopt option: a value reaches the config. */
static void test_generated_options(void **state)
{
	(void)state;
	assert_int_equal(PARSE("vm", "--api-sock", "/run/h.sock", "--boot-timer"), CLI_RUN_VM);
	assert_string_equal(cfg.api_sock, "/run/h.sock");
	assert_true(cfg.boot_timer);
	assert_int_equal(PARSE("vm", "--api-sock=/run/i.sock"), CLI_RUN_VM);
	assert_string_equal(cfg.api_sock, "/run/i.sock");
	assert_int_equal(PARSE("vm", "--api-sock", ""), CLI_EXIT_USAGE);
	/* A flag takes no value. */
	assert_int_equal(PARSE("vm", "--boot-timer=on"), CLI_EXIT_USAGE);
}

static char *read_all(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* --log and --log-format before the command: the messages about the rest go there already. */
static void test_global_log_options(void **state)
{
	char path[] = "/tmp/hull-test-cli-log-XXXXXX";
	int fd = mkstemp(path);
	char *text;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(PARSE("--log", path, "--log-format", "json", "vm", "--bogus"),
			 CLI_EXIT_USAGE);
	text = read_all(path);
	if (!strstr(text, "{\"level\":\"error\",\"msg\":\"vm: unknown option '--bogus'"))
		fail_msg("log file: %s", text);
	assert_int_equal(strchr(text, '\n') - text + 1, (long)strlen(text)); /* one line */
	/* Appended to; the = forms too; text is the default format. */
	assert_int_equal(PARSE("--log=" "/dev/null", "vm"), CLI_RUN_VM);
	{
		char arg[64];
		const char *argv[] = { "hull", arg, "vm", "--cpus", "x", NULL };

		snprintf(arg, sizeof(arg), "--log=%s", path);
		assert_int_equal(parse(5, argv), CLI_EXIT_USAGE);
	}
	text = read_all(path);
	assert_non_null(strstr(text, "\nhull: --cpus 'x': not a count\n"));
	assert_int_equal(PARSE("--log-format", "yaml", "vm"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("--log-format=text", "vm"), CLI_RUN_VM);
	assert_int_equal(PARSE("--log"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("--log", "/nonexistent/dir/log", "vm"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("--frobnicate", "vm"), CLI_EXIT_USAGE);
	/* Global options go before the command only. */
	assert_int_equal(PARSE("vm", "--log", path), CLI_EXIT_USAGE);
	unlink(path);
	log_open(NULL, LOG_TEXT);
}

static int teardown(void **state)
{
	(void)state;
	config_free(&cfg);
	cli_run_free(&run);
	return 0;
}

/* hull run: the container's flags into runspec's options, the VM's into cfg. */
static void test_run_flags(void **state)
{
	const struct ctr_run_opts *o = &run.args.opts;

	(void)state;
	assert_int_equal(PARSE("run", "--rootfs", "/r", "--read-only", "--env", "A=1", "--env",
			       "B=2", "--workdir", "/w", "--user", "7:8", "--hostname", "h",
			       "--mount", "/a:/b:ro", "--tmpfs", "/t", "--tmpfs", "/u:size=1m",
			       "-t", "--privileged", "--kernel", "/k", "--cpus", "2", "--memory",
			       "1G", "--net", "tap=tap7", "--console-log", "/c", "-v", "--", "sh",
			       "-c", "echo --rootfs"),
			 CLI_RUN_CONTAINER);
	assert_string_equal(o->rootfs, "/r");
	assert_true(o->read_only && o->tty && o->privileged && verbose);
	assert_int_equal(o->nenv, 2);
	assert_string_equal(o->env[1], "B=2");
	assert_string_equal(o->workdir, "/w");
	assert_string_equal(o->user, "7:8");
	assert_string_equal(o->hostname, "h");
	assert_int_equal(o->nmounts, 1);
	assert_string_equal(o->mounts[0], "/a:/b:ro");
	assert_int_equal(o->ntmpfs, 2);
	assert_string_equal(o->tmpfs[1], "/u:size=1m");
	assert_int_equal(o->nargs, 3);
	assert_string_equal(o->args[2], "echo --rootfs");
	assert_string_equal(run.args.console_log, "/c");
	assert_null(run.args.bundle);
	assert_string_equal(cfg.kernel, "/k");
	assert_int_equal(cfg.cpus, 2);
	assert_int_equal(cfg.mem, 1ULL << 30);
	assert_true(run.args.cpus_set && run.args.mem_set); /* they win over the resources */
	assert_int_equal(NNETS, 1);
	assert_string_equal(NET(0)->tap, "tap7");

	/* The command may follow without "--": the first word that is no option starts it. */
	assert_int_equal(PARSE("run", "--rootfs", "/r", "true", "--env", "X=1"),
			 CLI_RUN_CONTAINER);
	assert_int_equal(o->nargs, 3);
	assert_int_equal(o->nenv, 0);
	assert_int_equal(cfg.cpus, CONFIG_DEFAULT_CPUS);
	assert_false(run.args.cpus_set || run.args.mem_set);

	/* A bundle, with or without an id, and the VM's flags. */
	assert_int_equal(PARSE("run", "--bundle", "/b", "--cpus", "3", "c1"), CLI_RUN_CONTAINER);
	assert_string_equal(run.args.bundle, "/b");
	assert_string_equal(run.args.id, "c1");
	assert_int_equal(cfg.cpus, 3);
	assert_true(run.args.cpus_set && !run.args.mem_set);
	assert_int_equal(PARSE("run", "--bundle", "/b", "--memory", "256M"), CLI_RUN_CONTAINER);
	assert_null(run.args.id);
	assert_true(!run.args.cpus_set && run.args.mem_set);
	assert_int_equal(PARSE("run", "--help"), CLI_EXIT_OK);
}

static void test_run_errors(void **state)
{
	(void)state;
	assert_int_equal(PARSE("run"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("run", "--rootfs", "/r"), CLI_EXIT_USAGE);	  /* no command */
	assert_int_equal(PARSE("run", "--", "true"), CLI_EXIT_USAGE);	  /* no rootfs */
	assert_int_equal(PARSE("run", "--rootfs"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("run", "--bogus", "--rootfs", "/r", "true"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("run", "--cpus", "two", "--rootfs", "/r", "true"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("run", "--memory", "12Q", "--rootfs", "/r", "true"),
			 CLI_EXIT_USAGE);
	assert_int_equal(PARSE("run", "--net", "tap=", "--rootfs", "/r", "true"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("run", "--kernel", "", "--rootfs", "/r", "true"), CLI_EXIT_USAGE);
	/* A bundle says what the container is: no container flags, no command, one id. */
	assert_int_equal(PARSE("run", "--bundle", "/b", "--env", "A=1"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("run", "--bundle", "/b", "--rootfs", "/r"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("run", "--bundle", "/b", "-t"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("run", "--bundle", "/b", "id", "extra"), CLI_EXIT_USAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_top_level),
		cmocka_unit_test(test_vm_flags),
		cmocka_unit_test(test_vm_errors),
		cmocka_unit_test(test_config_precedence),
		cmocka_unit_test(test_disks_and_rng),
		cmocka_unit_test(test_shares),
		cmocka_unit_test(test_nets_and_vsock),
		cmocka_unit_test(test_help_lists_every_option),
		cmocka_unit_test(test_generated_options),
		cmocka_unit_test(test_global_log_options),
		cmocka_unit_test(test_run_flags),
		cmocka_unit_test(test_run_errors),
	};

	return cmocka_run_group_tests(tests, NULL, teardown);
}
