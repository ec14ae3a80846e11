/* Unit tests for command-line joining and its length limits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include <stdlib.h>

#include "boot/boot.h"
#include "vmm/vm.h"

static void test_joins(void **state)
{
	const char *const extra[] = { "quiet", NULL, "", "virtio_mmio.device=4K@0xfe001000:5" };
	char out[256];

	(void)state;
	assert_int_equal(boot_cmdline_build(out, sizeof(out), 255, "console=ttyS0", extra, 4), 0);
	assert_string_equal(out, "console=ttyS0 quiet virtio_mmio.device=4K@0xfe001000:5");
	assert_int_equal(boot_cmdline_build(out, sizeof(out), 255, NULL, extra, 4), 0);
	assert_string_equal(out, "quiet virtio_mmio.device=4K@0xfe001000:5");
	assert_int_equal(boot_cmdline_build(out, sizeof(out), 255, "", extra, 1), 0);
	assert_string_equal(out, "quiet");
	assert_int_equal(boot_cmdline_build(out, sizeof(out), 255, "root=/dev/vda", NULL, 0), 0);
	assert_string_equal(out, "root=/dev/vda");
	assert_int_equal(boot_cmdline_build(out, sizeof(out), 255, NULL, NULL, 0), 0);
	assert_string_equal(out, "");
}

static void test_has(void **state)
{
	(void)state;
	assert_true(boot_cmdline_has("nokaslr", "nokaslr"));
	assert_true(boot_cmdline_has("console=ttyS0 nokaslr quiet", "nokaslr"));
	assert_true(boot_cmdline_has("quiet\tnokaslr\n", "nokaslr"));
	assert_true(boot_cmdline_has("  nokaslr", "nokaslr"));
	assert_false(boot_cmdline_has("nokaslr=1", "nokaslr"));
	assert_false(boot_cmdline_has("xnokaslr", "nokaslr"));
	assert_false(boot_cmdline_has("nokasl", "nokaslr"));
	assert_false(boot_cmdline_has("foo.nokaslr", "nokaslr"));
	assert_false(boot_cmdline_has("", "nokaslr"));
	assert_false(boot_cmdline_has(NULL, "nokaslr"));
	assert_false(boot_cmdline_has("a b", ""));
}

static void test_param(void **state)
{
	(void)state;
	assert_true(boot_cmdline_param("mem=512M", "mem"));
	assert_true(boot_cmdline_param("console=ttyS0 mem quiet", "mem"));
	assert_true(boot_cmdline_param("quiet\tmemmap=1G$4G\n", "memmap"));
	assert_false(boot_cmdline_param("memmap=1G$4G", "mem"));
	assert_false(boot_cmdline_param("xmem=1", "mem"));
	assert_false(boot_cmdline_param("me=1", "mem"));
	assert_false(boot_cmdline_param("", "mem"));
	assert_false(boot_cmdline_param(NULL, "mem"));
	assert_false(boot_cmdline_param("a=b", ""));
}

static void test_max_len(void **state)
{
	const char *const extra[] = { "bb" };
	char out[64];

	(void)state;
	/* "aaaa bb" is 7 characters. */
	assert_int_equal(boot_cmdline_build(out, sizeof(out), 7, "aaaa", extra, 1), 0);
	assert_string_equal(out, "aaaa bb");
	assert_int_equal(boot_cmdline_build(out, sizeof(out), 6, "aaaa", extra, 1), -E2BIG);
	assert_string_equal(out, "");
	/* The separator alone can be the byte too many. */
	assert_int_equal(boot_cmdline_build(out, sizeof(out), 5, "aaaa", extra, 1), -E2BIG);
	assert_int_equal(boot_cmdline_build(out, sizeof(out), 4, "aaaa", NULL, 0), 0);
	assert_int_equal(boot_cmdline_build(out, sizeof(out), 3, "aaaa", NULL, 0), -E2BIG);
}

static void test_cap(void **state)
{
	const char *const extra[] = { "bb" };
	char out[8];

	(void)state;
	/* 7 characters and the NUL fill cap exactly; max_len is not the limit here. */
	assert_int_equal(boot_cmdline_build(out, 8, 1000, "aaaa", extra, 1), 0);
	assert_string_equal(out, "aaaa bb");
	assert_int_equal(boot_cmdline_build(out, 7, 1000, "aaaa", extra, 1), -E2BIG);
	assert_int_equal(boot_cmdline_build(out, 0, 1000, "aaaa", NULL, 0), -E2BIG);
	assert_int_equal(boot_cmdline_build(out, 1, 0, "", NULL, 0), 0);
	assert_string_equal(out, "");
}

static void test_kernel_sized(void **state)
{
	static char out[4096], base[2048];
	const char *const extra[] = { "y" };

	(void)state;
	memset(base, 'x', 2047);
	base[2047] = '\0';
	assert_int_equal(boot_cmdline_build(out, sizeof(out), 2047, base, NULL, 0), 0);
	assert_int_equal(strlen(out), 2047);
	base[2046] = '\0';
	assert_int_equal(boot_cmdline_build(out, sizeof(out), 2047, base, extra, 1), -E2BIG);
}

/*
 * hull's line for a VM of --max-cpus above --cpus: maxcpus=CPUS appended with every device's
 * item (ASan sees the items array overrun the extra one once caused), unless the user's own
 * line says maxcpus.
 */
static void test_vm_maxcpus(void **state)
{
	struct vm_config cfg = { .cpus = 2, .max_cpus = 4, .cmdline = (char[]){ "console=ttyS0" } };
	char *line = NULL;

	(void)state;
	assert_int_equal(vm_cmdline(&cfg, 3, 2048, &line), 0);
	assert_non_null(strstr(line, "console=ttyS0 maxcpus=2 virtio_mmio.device=4K@"));
	assert_non_null(strstr(line, ":7"));
	free(line);
	cfg.cmdline = (char[]){ "console=ttyS0 maxcpus=3" };
	assert_int_equal(vm_cmdline(&cfg, 3, 2048, &line), 0);
	assert_null(strstr(line, "maxcpus=2"));
	free(line);
	cfg.cmdline = (char[]){ "nomaxcpus=1" };
	assert_int_equal(vm_cmdline(&cfg, 1, 2048, &line), 0);
	assert_non_null(strstr(line, "nomaxcpus=1 maxcpus=2"));
	free(line);
	cfg.max_cpus = 2;
	assert_int_equal(vm_cmdline(&cfg, 1, 2048, &line), 0);
	assert_null(strstr(line, " maxcpus="));
	free(line);
}

/* Both of hull's own parameters and every device's item: each has its place in the list. */
static void test_vm_hotplug_and_maxcpus(void **state)
{
	struct vm_config cfg = { .cpus = 2, .max_cpus = 4, .mem = 512ull << 20,
				 .max_mem = 2ull << 30, .cmdline = (char[]){ "console=ttyS0" } };
	char *line = NULL;

	(void)state;
	assert_int_equal(vm_cmdline(&cfg, 3, 2048, &line), 0);
	assert_non_null(strstr(line, "console=ttyS0 memhp_default_state=online_movable maxcpus=2 "
				     "virtio_mmio.device=4K@"));
	assert_non_null(strstr(line, ":7"));
	free(line);
	/* The user's own state stands; a longer key that only starts alike is not it. */
	cfg.cmdline = (char[]){ "memhp_default_state=offline" };
	assert_int_equal(vm_cmdline(&cfg, 1, 2048, &line), 0);
	assert_null(strstr(line, "online_movable"));
	free(line);
	cfg.cmdline = (char[]){ "memhp_default_statex=1" };
	assert_int_equal(vm_cmdline(&cfg, 1, 2048, &line), 0);
	assert_non_null(strstr(line, "memhp_default_state=online_movable"));
	free(line);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vm_hotplug_and_maxcpus),
		cmocka_unit_test(test_joins),
		cmocka_unit_test(test_max_len),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_has),
		cmocka_unit_test(test_param),
		cmocka_unit_test(test_kernel_sized),
		cmocka_unit_test(test_vm_maxcpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
