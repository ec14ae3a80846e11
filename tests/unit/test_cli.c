/* Unit tests for hull's command line: subcommands, flags, config-file precedence, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static struct vm_config cfg;
static bool verbose;

static enum cli_action parse(int argc, const char **argv)
{
	config_free(&cfg);
	verbose = false;
	return cli_parse(argc, (char **)(uintptr_t)argv, &cfg, &verbose);
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
	assert_int_equal(PARSE("vm", "--cpus", "0"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--cpus", "256"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--cpus", "two"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--memory", "12Q"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--memory", "16M"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--memory", "100001"), CLI_EXIT_USAGE);
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
	assert_int_equal(cfg.ndisks, 2);
	assert_string_equal(cfg.disks[0].path, "/a");
	assert_true(cfg.disks[1].ro);
	assert_false(cfg.rng);
	assert_int_equal(PARSE("vm"), CLI_RUN_VM);
	assert_int_equal(cfg.ndisks, 0);
	assert_true(cfg.rng);
	assert_int_equal(PARSE("vm", "--disk", "/a"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--disk"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--rng", "maybe"), CLI_EXIT_USAGE);

	/* The file's disks stay unless a --disk flag is given, which replaces them all. */
	assert_true(fd >= 0);
	assert_int_equal(write(fd, json, sizeof(json) - 1), (ssize_t)(sizeof(json) - 1));
	close(fd);
	assert_int_equal(PARSE("vm", "--config", path), CLI_RUN_VM);
	assert_int_equal(cfg.ndisks, 2);
	assert_int_equal(PARSE("vm", "--disk", "path=/flag", "--config", path), CLI_RUN_VM);
	assert_int_equal(cfg.ndisks, 1);
	assert_string_equal(cfg.disks[0].path, "/flag");
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
	assert_int_equal(cfg.nshares, 2);
	assert_string_equal(cfg.shares[0].tag, "a");
	assert_string_equal(cfg.shares[0].path, "/a");
	assert_true(cfg.shares[1].ro);
	assert_int_equal(cfg.shares[1].cache, VFS_CACHE_NEVER);
	assert_int_equal(PARSE("vm"), CLI_RUN_VM);
	assert_int_equal(cfg.nshares, 0);
	assert_int_equal(PARSE("vm", "--fs", "/a"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--fs"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--fs", "tag=a"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--fs", "path=/a"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--fs", "tag=a,path=/a,cache=fast"), CLI_EXIT_USAGE);
	/* A tag used twice is caught before anything is built. */
	assert_int_equal(PARSE("vm", "--fs", "tag=a,path=/a", "--fs", "tag=a,path=/b"),
			 CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--fs", "tag=1,path=/a", "--fs", "tag=2,path=/a", "--fs",
			       "tag=3,path=/a", "--fs", "tag=4,path=/a", "--fs", "tag=5,path=/a",
			       "--fs", "tag=6,path=/a", "--fs", "tag=7,path=/a", "--fs",
			       "tag=8,path=/a", "--fs", "tag=9,path=/a"),
			 CLI_EXIT_USAGE);

	/* The file's shares stay unless an --fs flag is given, which replaces them all... */
	assert_true(fd >= 0);
	assert_int_equal(write(fd, json, sizeof(json) - 1), (ssize_t)(sizeof(json) - 1));
	close(fd);
	assert_int_equal(PARSE("vm", "--config", path), CLI_RUN_VM);
	assert_int_equal(cfg.nshares, 2);
	assert_int_equal(PARSE("vm", "--fs", "tag=x,path=/flag", "--config", path), CLI_RUN_VM);
	assert_int_equal(cfg.nshares, 1);
	assert_string_equal(cfg.shares[0].tag, "x");
	assert_int_equal(cfg.ndisks, 1);
	/* ... and the file's tags may be reused by the flags that replace them. */
	assert_int_equal(PARSE("vm", "--config", path, "--fs", "tag=f1,path=/c"), CLI_RUN_VM);
	assert_int_equal(cfg.nshares, 1);
	/* --disk replaces the disks only. */
	assert_int_equal(PARSE("vm", "--config", path, "--disk", "path=/e"), CLI_RUN_VM);
	assert_int_equal(cfg.nshares, 2);
	assert_string_equal(cfg.disks[0].path, "/e");
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
	assert_int_equal(cfg.nnets, 2);
	assert_string_equal(cfg.nets[0].tap, "tap0");
	assert_true(cfg.nets[0].mac_set);
	assert_int_equal(cfg.nets[1].backend, VNET_PASST);
	assert_true(cfg.has_vsock);
	assert_int_equal(cfg.vsock.cid, 5);
	assert_string_equal(cfg.vsock.uds, "/run/v.sock");
	assert_int_equal(PARSE("vm"), CLI_RUN_VM);
	assert_int_equal(cfg.nnets, 0);
	assert_false(cfg.has_vsock);
	assert_int_equal(PARSE("vm", "--net"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--net", "tap0"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--net", "tap=a", "--net", "tap=a"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--vsock", "cid=5"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("vm", "--vsock", "cid=1,uds=/a"), CLI_EXIT_USAGE);
	/* The last --vsock wins, as for the other single-valued flags. */
	assert_int_equal(PARSE("vm", "--vsock", "cid=5,uds=/a", "--vsock", "cid=6,uds=/b"),
			 CLI_RUN_VM);
	assert_int_equal(cfg.vsock.cid, 6);
	assert_string_equal(cfg.vsock.uds, "/b");

	assert_true(fd >= 0);
	assert_int_equal(write(fd, json, sizeof(json) - 1), (ssize_t)(sizeof(json) - 1));
	close(fd);
	assert_int_equal(PARSE("vm", "--config", path), CLI_RUN_VM);
	assert_int_equal(cfg.nnets, 2);
	assert_int_equal(cfg.vsock.cid, 9);
	assert_int_equal(PARSE("vm", "--net", "tap=x", "--config", path, "--vsock", "cid=4,uds=/c"),
			 CLI_RUN_VM);
	assert_int_equal(cfg.nnets, 1);
	assert_string_equal(cfg.nets[0].tap, "x");
	assert_int_equal(cfg.vsock.cid, 4);
	assert_string_equal(cfg.vsock.uds, "/c");
	unlink(path);
}

static int teardown(void **state)
{
	(void)state;
	config_free(&cfg);
	return 0;
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
	};

	return cmocka_run_group_tests(tests, NULL, teardown);
}
