/* Unit tests for the VM configuration: settings, JSON loading, files and validation. */
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
#include "virtio/balloon/balloon.h"
#include "virtio/blk/blk.h"
#include "virtio/fs/fs.h"
#include "virtio/net/net.h"
#include "virtio/rng/rng.h"
#include "virtio/vsock/vsock.h"
#include "vmm/config.h"

static struct vm_config c;
static char err[256];

/* The device list, seen by kind. */
#define NDISKS config_count(&c, &vblk_kind)
#define NSHARES config_count(&c, &vfs_kind)
#define NNETS config_count(&c, &vnet_kind)
#define HAS_VSOCK (config_count(&c, &vsock_kind) == 1)
#define HAS_RNG (config_count(&c, &vrng_kind) == 1)
#define DISK(i) ((const struct vblk_config *)config_device(&c, &vblk_kind, i))
#define SHARE(i) ((const struct vfs_config *)config_device(&c, &vfs_kind, i))
#define NET(i) ((const struct vnet_config *)config_device(&c, &vnet_kind, i))
#define VSOCK ((const struct vsock_config *)config_device(&c, &vsock_kind, 0))

/* A device flag as the CLI gives it, by name: a failure's reason starts with the flag. */
static int add(const char *flag, const char *spec)
{
	return config_set(&c, flag, spec, err, sizeof(err));
}

static int setup(void **state)
{
	(void)state;
	config_init(&c);
	memset(err, 0, sizeof(err));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	config_free(&c);
	return 0;
}

static int load(const char *json)
{
	err[0] = '\0';
	return config_load_json(&c, json, strlen(json), err, sizeof(err));
}

/* The error names the field (or says what is wrong) so the user can find it. */
static void assert_err_has(const char *needle)
{
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void test_defaults(void **state)
{
	(void)state;
	assert_null(c.kernel);
	assert_null(c.initrd);
	assert_null(c.cmdline);
	assert_int_equal(c.cpus, CONFIG_DEFAULT_CPUS);
	assert_int_equal(c.mem, CONFIG_DEFAULT_MEM);
	assert_false(c.boot_timer);
	assert_true(HAS_RNG);
	assert_int_equal(NDISKS, 0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
}

static void test_set(void **state)
{
	(void)state;
	assert_int_equal(config_set(&c, "kernel", "/boot/vmlinuz", err, sizeof(err)), 0);
	assert_string_equal(c.kernel, "/boot/vmlinuz");
	assert_int_equal(config_set(&c, "kernel", "/other", err, sizeof(err)), 0);
	assert_string_equal(c.kernel, "/other");
	assert_int_equal(config_set(&c, "initrd", "none", err, sizeof(err)), 0);
	assert_string_equal(c.initrd, CONFIG_INITRD_NONE);
	assert_int_equal(config_set(&c, "cmdline", "", err, sizeof(err)), 0);
	assert_string_equal(c.cmdline, "");
	assert_int_equal(config_set(&c, "cpus", "4", err, sizeof(err)), 0);
	assert_int_equal(c.cpus, 4);
	assert_int_equal(config_set(&c, "memory", "1G", err, sizeof(err)), 0);
	assert_int_equal(c.mem, 1ULL << 30);
	assert_int_equal(config_set(&c, "boot-timer", "on", err, sizeof(err)), 0);
	assert_true(c.boot_timer);

	assert_int_equal(config_set(&c, "kernel", "", err, sizeof(err)), -EINVAL);
	assert_err_has("kernel");
	assert_string_equal(c.kernel, "/other");
	assert_int_equal(config_set(&c, "initrd", "", err, sizeof(err)), -EINVAL);
	assert_err_has("initrd");
	assert_int_equal(config_set(&c, "cpus", "four", err, sizeof(err)), -EINVAL);
	assert_err_has("cpus");
	assert_int_equal(config_set(&c, "cpus", "4294967296", err, sizeof(err)), -EINVAL);
	assert_err_has("cpus");
	assert_int_equal(c.cpus, 4);
	assert_int_equal(config_set(&c, "memory", "lots", err, sizeof(err)), -EINVAL);
	assert_err_has("memory");
	assert_int_equal(config_set(&c, "memory", "18446744073709551616", err, sizeof(err)), -EINVAL);
	assert_err_has("memory");
	assert_int_equal(c.mem, 1ULL << 30);
	assert_int_equal(config_set(&c, "boot-timer", "maybe", err, sizeof(err)), -EINVAL);
	assert_err_has("boot-timer");
	assert_true(c.boot_timer);
	assert_int_equal(config_set(&c, "disk", "x", err, sizeof(err)), -EINVAL);
	assert_err_has("disk");
}

static void test_json_full(void **state)
{
	(void)state;
	assert_int_equal(load("{\"kernel\": \"/k\", \"initrd\": \"/i.cpio\", \"cmdline\": \"quiet\","
			      " \"cpus\": 2, \"memory\": \"1G\", \"boot_timer\": true}"),
			 0);
	assert_string_equal(c.kernel, "/k");
	assert_string_equal(c.initrd, "/i.cpio");
	assert_string_equal(c.cmdline, "quiet");
	assert_int_equal(c.cpus, 2);
	assert_int_equal(c.mem, 1ULL << 30);
	assert_true(c.boot_timer);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
}

static void test_json_partial_keeps_others(void **state)
{
	(void)state;
	assert_int_equal(config_set(&c, "kernel", "/flag-kernel", err, sizeof(err)), 0);
	assert_int_equal(load("{\"cpus\": 3}"), 0);
	assert_string_equal(c.kernel, "/flag-kernel");
	assert_int_equal(c.cpus, 3);
	assert_int_equal(c.mem, CONFIG_DEFAULT_MEM);
	assert_int_equal(load("{}"), 0);
	assert_int_equal(load("  {}\n\t \r\n"), 0); /* trailing whitespace is fine */
	assert_int_equal(c.cpus, 3);
}

static void test_json_memory_forms(void **state)
{
	(void)state;
	assert_int_equal(load("{\"memory\": \"256MiB\"}"), 0);
	assert_int_equal(c.mem, 256ULL << 20);
	assert_int_equal(load("{\"memory\": 134217728}"), 0);
	assert_int_equal(c.mem, 128ULL << 20);
	assert_int_equal(load("{\"memory\": \"12Q\"}"), -EINVAL);
	assert_err_has("memory");
	assert_int_equal(load("{\"memory\": \"99999999999999999999T\"}"), -EINVAL);
	assert_err_has("memory");
	assert_int_equal(load("{\"memory\": -1}"), -EINVAL);
	assert_err_has("memory");
	assert_int_equal(load("{\"memory\": 1.5}"), -EINVAL);
	assert_err_has("memory");
	assert_int_equal(c.mem, 128ULL << 20);
}

/* --memory SIZE[,hugepages=on|off]: a SIZE alone is as before (and turns huge pages off). */
static void test_memory_hugepages(void **state)
{
	static const struct {
		const char *value, *why;
	} bad[] = {
		{ "256M,hugepages=maybe", "hugepages 'maybe': not on/off" },
		{ "256M,huge=on", "unknown setting 'huge' (hugepages)" },
		{ "256M,hugepages", "expected key=value" },
		{ "256M,", "expected key=value" },
		{ "256M,hugepages=on,hugepages=off", "hugepages: given twice" },
		{ ",hugepages=on", "not a size" },
		{ "lots,hugepages=on", "not a size" },
		{ "", "not a size" },
	};
	unsigned int i;

	(void)state;
	assert_false(c.hugepages);
	assert_int_equal(config_set(&c, "memory", "256M,hugepages=on", err, sizeof(err)), 0);
	assert_int_equal(c.mem, 256ULL << 20);
	assert_true(c.hugepages);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	assert_int_equal(config_set(&c, "memory", "1G,hugepages=off", err, sizeof(err)), 0);
	assert_int_equal(c.mem, 1ULL << 30);
	assert_false(c.hugepages);
	assert_int_equal(config_set(&c, "memory", "512M,hugepages=yes", err, sizeof(err)), 0);
	assert_true(c.hugepages);
	assert_int_equal(config_set(&c, "memory", "384M", err, sizeof(err)), 0);
	assert_int_equal(c.mem, 384ULL << 20);
	assert_false(c.hugepages);

	/* A bad value names the option and the value, and changes neither field. */
	assert_int_equal(config_set(&c, "memory", "256M,hugepages=on", err, sizeof(err)), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (config_set(&c, "memory", bad[i].value, err, sizeof(err)) != -EINVAL)
			fail_msg("memory '%s': accepted", bad[i].value);
		assert_err_has("memory");
		assert_err_has(bad[i].why);
		assert_int_equal(c.mem, 256ULL << 20);
		assert_true(c.hugepages);
	}

	/* The config file's "memory" takes the same string. */
	assert_int_equal(load("{\"memory\": \"64M,hugepages=off\"}"), 0);
	assert_int_equal(c.mem, 64ULL << 20);
	assert_false(c.hugepages);
	assert_int_equal(load("{\"memory\": \"128M,hugepages=on\"}"), 0);
	assert_int_equal(c.mem, 128ULL << 20);
	assert_true(c.hugepages);
	assert_int_equal(load("{\"memory\": 268435456}"), 0);
	assert_false(c.hugepages);
	assert_int_equal(load("{\"memory\": \"128M,pages=on\"}"), -EINVAL);
	assert_err_has("memory '128M,pages=on': unknown setting 'pages'");
}

/* hugepages=on: a whole number of 2 MiB pages, and no balloon (it frees 4 KiB pages). */
static void test_validate_hugepages(void **state)
{
	(void)state;
	assert_int_equal(config_set(&c, "memory", "255M,hugepages=on", err, sizeof(err)), 0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_has("memory 267386880 bytes: hugepages=on needs a multiple of 2M");
	c.mem = (256ULL << 20) + 4096;
	assert_int_equal(config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_has("multiple of 2M");
	c.mem = 258ULL << 20;
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	/* The same sizes without huge pages are fine: 4K multiples. */
	c.hugepages = false;
	c.mem = (256ULL << 20) + 4096;
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);

	c.mem = 256ULL << 20;
	assert_int_equal(config_set(&c, "balloon", "on", err, sizeof(err)), 0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	c.hugepages = true;
	assert_int_equal(config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_has("balloon: not with memory hugepages=on");
	assert_int_equal(config_set(&c, "balloon", "off", err, sizeof(err)), 0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);

	/* The hotplug region goes with it: its 128 MiB blocks are whole huge pages. */
	c.max_mem = 1ULL << 30;
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
}

static void test_json_wrong_types(void **state)
{
	static const struct {
		const char *json, *field;
	} cases[] = {
		{ "{\"kernel\": 1}", "kernel" },
		{ "{\"kernel\": null}", "kernel" },
		{ "{\"kernel\": [\"/k\"]}", "kernel" },
		{ "{\"initrd\": false}", "initrd" },
		{ "{\"cmdline\": {}}", "cmdline" },
		{ "{\"cpus\": \"2\"}", "cpus" },
		{ "{\"cpus\": 2.0}", "cpus" },
		{ "{\"cpus\": true}", "cpus" },
		{ "{\"cpus\": null}", "cpus" },
		{ "{\"memory\": true}", "memory" },
		{ "{\"memory\": [1]}", "memory" },
		{ "{\"boot_timer\": 1}", "boot_timer" },
		{ "{\"boot_timer\": \"on\"}", "boot_timer" },
		{ "{\"boot_timer\": null}", "boot_timer" },
		{ "{\"kernel\": \"\"}", "kernel" },
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		config_free(&c);
		if (load(cases[i].json) != -EINVAL)
			fail_msg("%s: accepted", cases[i].json);
		assert_err_has(cases[i].field);
	}
}

static void test_json_negative_cpus(void **state)
{
	(void)state;
	assert_int_equal(load("{\"cpus\": -1}"), -EINVAL);
	assert_err_has("cpus");
	assert_int_equal(load("{\"cpus\": 4294967296}"), -EINVAL);
	assert_err_has("cpus");
	assert_int_equal(c.cpus, CONFIG_DEFAULT_CPUS);
}

static void test_json_unknown_field(void **state)
{
	(void)state;
	assert_int_equal(load("{\"cpus\": 2, \"disk\": []}"), -EINVAL);
	assert_err_has("disk");
	assert_int_equal(load("{\"Kernel\": \"/k\"}"), -EINVAL);
	assert_err_has("Kernel");
}

static void test_json_malformed(void **state)
{
	static const char *const cases[] = {
		"",
		"   ",
		"{",
		"{\"cpus\": 2",
		"{\"cpus\" 2}",
		"{} x",
		"{}{}",
		"{\"cpus\": 2} // comment",
		"[]",
		"[{\"cpus\": 2}]",
		"\"string\"",
		"42",
		"null",
		"true",
		"{\"kernel\": \"/k\x01\"}x",
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		config_free(&c);
		if (load(cases[i]) != -EINVAL)
			fail_msg("'%s': accepted", cases[i]);
		assert_true(err[0] != '\0');
	}
	assert_int_equal(load("[]"), -EINVAL);
	assert_err_has("object");
	assert_int_equal(load("{} x"), -EINVAL);
	assert_err_has("byte 3");
}

/*
 * Only JSON is JSON: json-c's default (non-strict) tokener also takes
 * trailing commas, single quotes, comments and leading zeros, so a typo'd
 * file is silently read differently from how any other tool reads it.
 */
static void test_json_strict_syntax(void **state)
{
	static const char *const cases[] = {
		"{\"cpus\": 2,}",
		"{'cpus': 2}",
		"/* comment */ {\"cpus\": 2}",
		"{\"cpus\": 010}",
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		config_free(&c);
		if (load(cases[i]) != -EINVAL)
			fail_msg("'%s': accepted as JSON (cpus=%u)", cases[i], c.cpus);
	}
}

/* An integer json-c cannot hold in int64 must not silently become a different number. */
static void test_json_huge_integer(void **state)
{
	int ret;

	(void)state;
	ret = load("{\"memory\": 18446744073709551615}");
	if (ret == 0 && c.mem != UINT64_MAX)
		fail_msg("memory 18446744073709551615 read as %llu", (unsigned long long)c.mem);
	ret = load("{\"cpus\": 18446744073709551615}");
	assert_int_equal(ret, -EINVAL);
	assert_err_has("cpus");
	if (strstr(err, "9223372036854775807"))
		fail_msg("error reports a different number: %s", err);
}

static void test_json_embedded_nul(void **state)
{
	static const char text[] = "{\"cpus\": 2}\0{\"cpus\": 3}";

	(void)state;
	/* Bytes after a NUL are still part of the input and are not whitespace. */
	assert_int_equal(config_load_json(&c, text, sizeof(text) - 1, err, sizeof(err)), -EINVAL);
}

static void test_json_deep_nesting(void **state)
{
	static const char head[] = "{\"cmdline\": ";
	size_t depth = 10000, hl = sizeof(head) - 1;
	char *s = malloc(hl + 2 * depth + 2);

	(void)state;
	assert_non_null(s);
	memcpy(s, head, hl);
	memset(s + hl, '[', depth);
	memset(s + hl + depth, ']', depth);
	strcpy(s + hl + 2 * depth, "}");
	assert_int_equal(load(s), -EINVAL);
	assert_null(c.cmdline);
	free(s);
}

static void test_json_too_large(void **state)
{
	size_t len = (1 << 20) + 1;
	char *s = malloc(len);

	(void)state;
	assert_non_null(s);
	memset(s, ' ', len);
	s[0] = '{';
	s[len - 1] = '}';
	assert_int_equal(config_load_json(&c, s, len, err, sizeof(err)), -EFBIG);
	/* Exactly at the limit is allowed. */
	s[len - 2] = '}';
	assert_int_equal(config_load_json(&c, s, len - 1, err, sizeof(err)), 0);
	free(s);
}

static void test_json_err_truncated(void **state)
{
	char small[8];

	(void)state;
	memset(small, 'x', sizeof(small));
	assert_int_equal(config_load_json(&c, "{\"kernel\": 1}", 13, small, sizeof(small)), -EINVAL);
	assert_int_equal(small[sizeof(small) - 1], '\0');
	/* No err buffer at all. */
	assert_int_equal(config_load_json(&c, "{\"kernel\": 1}", 13, NULL, 0), -EINVAL);
}

/* Write text to a fresh temporary file; the caller unlinks path. */
static void temp_file(char *path, const void *text, size_t len)
{
	FILE *f;
	int fd;

	strcpy(path, "/tmp/hull-test-config-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_file_ok(void **state)
{
	static const char json[] = "{\"cpus\": 8, \"memory\": \"2G\", \"kernel\": \"/vmlinux\"}\n";
	char path[64];

	(void)state;
	temp_file(path, json, strlen(json));
	assert_int_equal(config_load_file(&c, path, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(c.cpus, 8);
	assert_int_equal(c.mem, 2ULL << 30);
	assert_string_equal(c.kernel, "/vmlinux");
}

static void test_file_bad_json(void **state)
{
	static const char json[] = "{\"cpus\": 8, \"mem\": \"2G\"}";
	char path[64];

	(void)state;
	temp_file(path, json, strlen(json));
	assert_int_equal(config_load_file(&c, path, err, sizeof(err)), -EINVAL);
	unlink(path);
	assert_err_has("mem");
}

static void test_file_errors(void **state)
{
	char path[64];
	size_t len = (1 << 20) + 1;
	char *big = malloc(len);

	(void)state;
	assert_int_equal(config_load_file(&c, "/nonexistent/hull.json", err, sizeof(err)), -ENOENT);
	assert_true(err[0] != '\0');
	assert_int_equal(config_load_file(&c, "/tmp", err, sizeof(err)), -EISDIR);
	assert_true(err[0] != '\0');
	assert_int_equal(config_load_file(&c, "/dev/null", err, sizeof(err)), -EINVAL);

	assert_non_null(big);
	memset(big, ' ', len);
	big[0] = '{';
	big[len - 1] = '}';
	temp_file(path, big, len);
	free(big);
	assert_int_equal(config_load_file(&c, path, err, sizeof(err)), -EFBIG);
	unlink(path);
	assert_err_has("too large");

	temp_file(path, "", 0);
	assert_int_equal(config_load_file(&c, path, err, sizeof(err)), -EINVAL);
	unlink(path);
}

static void expect_invalid(const char *field)
{
	err[0] = '\0';
	assert_int_equal(config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_has(field);
}

static void test_validate(void **state)
{
	(void)state;
	c.cpus = 0;
	expect_invalid("cpus");
	c.cpus = 256;
	expect_invalid("cpus");
	c.cpus = UINT32_MAX;
	expect_invalid("cpus");
	c.cpus = 255;
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	c.cpus = 1;
	/* --max-cpus: at least --cpus, at most 255. */
	c.cpus = 2;
	c.max_cpus = 1;
	expect_invalid("max-cpus 1: must be between cpus (2) and 255");
	c.max_cpus = 256;
	expect_invalid("max-cpus");
	c.max_cpus = 255;
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	c.max_cpus = 2;
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	c.max_cpus = 0;
	c.cpus = 1;

	c.mem = CONFIG_MIN_MEM - 4096;
	expect_invalid("memory");
	c.mem = 0;
	expect_invalid("memory");
	c.mem = CONFIG_MIN_MEM;
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	c.mem = CONFIG_MAX_MEM;
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	c.mem = CONFIG_MAX_MEM + 4096;
	expect_invalid("memory");
	c.mem = UINT64_MAX;
	expect_invalid("memory");
	c.mem = (64ULL << 20) + 512;
	expect_invalid("memory");
	assert_err_has("4K");
	c.mem = (64ULL << 20) + 4096;
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
}

static void test_disk_spec(void **state)
{
	(void)state;
	assert_int_equal(add("disk", "path=/srv/a.img"), 0);
	assert_int_equal(add("disk", "path=/srv/b,,c.img,ro=on,cache=none,serial=B-1"),
			 0);
	assert_int_equal(add("disk", "cache=unsafe,path=x"), 0);
	assert_int_equal(NDISKS, 3);
	assert_string_equal(DISK(0)->path, "/srv/a.img");
	assert_false(DISK(0)->ro);
	assert_int_equal(DISK(0)->cache, VBLK_CACHE_WRITEBACK);
	assert_string_equal(DISK(0)->serial, "");
	assert_string_equal(DISK(1)->path, "/srv/b,c.img");
	assert_true(DISK(1)->ro);
	assert_int_equal(DISK(1)->cache, VBLK_CACHE_NONE);
	assert_string_equal(DISK(1)->serial, "B-1");
	assert_int_equal(DISK(2)->cache, VBLK_CACHE_UNSAFE);
}

static void test_disk_spec_errors(void **state)
{
	static const struct {
		const char *spec, *needle;
	} bad[] = {
		{ "", "key=value" },
		{ "/srv/a.img", "key=value" },
		{ "path=", "empty" },
		{ "ro=on", "no path" },
		{ "path=a,ro=maybe", "ro" },
		{ "path=a,cache=fast", "cache" },
		{ "path=a,serial=123456789012345678901", "20" },
		{ "path=a,serial=has space", "printable" },
		{ "path=a,path=b", "twice" },
		{ "path=a,size=1G", "size" },
		{ "path=a,", "key=value" },
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (add("disk", bad[i].spec) != -EINVAL)
			fail_msg("disk spec '%s' was accepted", bad[i].spec);
		assert_err_has(bad[i].needle);
		assert_int_equal(NDISKS, 0);
	}
}

static void test_disk_limit(void **state)
{
	char want[64];
	unsigned int i;

	(void)state;
	/* One per virtio slot: the machine's slots are the only limit. */
	assert_int_equal(config_kind_max(&vblk_kind), arch_virtio_slots());
	for (i = 0; i < arch_virtio_slots(); i++)
		assert_int_equal(add("disk", "path=x"), 0);
	assert_int_equal(add("disk", "path=x"), -ENOSPC);
	snprintf(want, sizeof(want), "disk 'path=x': at most %u disks", arch_virtio_slots());
	assert_err_has(want);
}

static void test_json_disks_rng(void **state)
{
	(void)state;
	assert_int_equal(load("{\"disks\": [{\"path\": \"/a\"}, {\"path\": \"/b\", \"ro\": true, "
			      "\"cache\": \"none\", \"serial\": \"S\"}], \"rng\": false}"),
			 0);
	assert_int_equal(NDISKS, 2);
	assert_string_equal(DISK(1)->path, "/b");
	assert_true(DISK(1)->ro);
	assert_int_equal(DISK(1)->cache, VBLK_CACHE_NONE);
	assert_string_equal(DISK(1)->serial, "S");
	assert_false(HAS_RNG);
	/* A second "disks" replaces the list. */
	assert_int_equal(load("{\"disks\": [{\"path\": \"/c\"}]}"), 0);
	assert_int_equal(NDISKS, 1);
	assert_string_equal(DISK(0)->path, "/c");

	assert_int_equal(load("{\"disks\": {\"path\": \"/a\"}}"), -EINVAL);
	assert_err_has("array");
	assert_int_equal(load("{\"disks\": [\"/a\"]}"), -EINVAL);
	assert_err_has("disks[0]");
	assert_int_equal(load("{\"disks\": [{\"ro\": true}]}"), -EINVAL);
	assert_err_has("path");
	assert_int_equal(load("{\"disks\": [{\"path\": \"/a\", \"ro\": \"on\"}]}"), -EINVAL);
	assert_err_has("disks[0].ro");
	assert_int_equal(load("{\"disks\": [{\"path\": 5}]}"), -EINVAL);
	assert_err_has("disks[0].path");
	assert_int_equal(load("{\"disks\": [{\"path\": \"/a\", \"cache\": \"x\"}]}"), -EINVAL);
	assert_err_has("cache");
	assert_int_equal(load("{\"disks\": [{\"path\": \"/a\", \"sise\": \"1\"}]}"), -EINVAL);
	assert_err_has("sise");
	assert_int_equal(load("{\"rng\": 1}"), -EINVAL);
	assert_err_has("rng");
}

static void test_share_spec(void **state)
{
	char tag36[VFS_TAG_MAX + 1];

	(void)state;
	memset(tag36, 'x', VFS_TAG_MAX);
	tag36[VFS_TAG_MAX] = '\0';
	assert_int_equal(add("fs", "tag=docs,path=/srv/docs"), 0);
	assert_int_equal(add("fs", "path=/srv/a,,b,ro=on,cache=never,tag=T-1:x"),
			 0);
	assert_int_equal(config_set(&c, "fs", "cache=always,tag=c,path=x,ro=off", err, sizeof(err)),
			 0);
	{
		char spec[80];

		snprintf(spec, sizeof(spec), "tag=%s,path=/d", tag36);
		assert_int_equal(add("fs", spec), 0);
	}
	assert_int_equal(NSHARES, 4);
	assert_string_equal(SHARE(0)->tag, "docs");
	assert_string_equal(SHARE(0)->path, "/srv/docs");
	assert_false(SHARE(0)->ro);
	assert_int_equal(SHARE(0)->cache, VFS_CACHE_AUTO);
	assert_string_equal(SHARE(1)->tag, "T-1:x");
	assert_string_equal(SHARE(1)->path, "/srv/a,b");
	assert_true(SHARE(1)->ro);
	assert_int_equal(SHARE(1)->cache, VFS_CACHE_NEVER);
	assert_int_equal(SHARE(2)->cache, VFS_CACHE_ALWAYS);
	assert_false(SHARE(2)->ro);
	assert_string_equal(SHARE(3)->tag, tag36);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	/* Disks and shares are separate lists. */
	assert_int_equal(NDISKS, 0);
	config_clear_kind(&c, &vfs_kind);
	assert_int_equal(NSHARES, 0);
}

static void test_share_spec_errors(void **state)
{
	static const struct {
		const char *spec, *needle;
	} bad[] = {
		{ "", "key=value" },
		{ "/srv/docs", "key=value" },
		{ "path=/srv", "no tag" },
		{ "tag=docs", "share docs: no path= given" },
		{ "tag=,path=/srv", "tag: empty" },
		{ "tag=0123456789012345678901234567890123456,path=/srv", "longer than 36" },
		{ "tag=a,,b,path=/srv", "commas" },
		{ "tag=a b,path=/srv", "printable" },
		{ "tag=\xc3\xa9,path=/srv", "printable" },
		{ "tag=a\tb,path=/srv", "printable" },
		{ "tag=docs,path=", "share docs: path: empty" },
		{ "tag=docs,path=/srv,ro=maybe", "share docs: ro 'maybe'" },
		{ "tag=docs,path=/srv,cache=writeback", "share docs: cache 'writeback'" },
		{ "tag=docs,path=/srv,size=1G", "unknown share setting 'size'" },
		{ "tag=a,tag=b,path=/srv", "tag: given twice" },
		{ "tag=docs,path=/srv,", "key=value" },
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (add("fs", bad[i].spec) != -EINVAL)
			fail_msg("share spec '%s' was accepted", bad[i].spec);
		assert_err_has(bad[i].needle);
		assert_true(!strncmp(err, "fs ", 3));
		assert_int_equal(NSHARES, 0);
	}
}

static void test_share_limit_and_tags(void **state)
{
	char spec[32];
	unsigned int i;

	(void)state;
	for (i = 0; i < config_kind_max(&vfs_kind); i++) {
		snprintf(spec, sizeof(spec), "tag=t%u,path=/x", i);
		assert_int_equal(add("fs", spec), 0);
	}
	assert_int_equal(add("fs", "tag=t99,path=/x"), -ENOSPC);
	snprintf(spec, sizeof(spec), "at most %u shares", config_kind_max(&vfs_kind));
	assert_err_has(spec);
	assert_int_equal(NSHARES, config_kind_max(&vfs_kind));
	/* rng is on by default: with every slot a share, it has none. */
	assert_int_equal(config_validate(&c, err, sizeof(err)), -ENOSPC);
	assert_err_has("rng: no room for another virtio device");
	assert_int_equal(config_set(&c, "rng", "off", err, sizeof(err)), 0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	/* One tag twice: the guest could mount only one of them. */
	config_clear_kind(&c, &vfs_kind);
	assert_int_equal(add("fs", "tag=a,path=/x"), 0);
	assert_int_equal(add("fs", "tag=b,path=/x"), 0);
	assert_int_equal(add("fs", "tag=a,path=/y"), 0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_has("share a: tag used twice");
	/* Tags are compared byte for byte. */
	config_clear_kind(&c, &vfs_kind);
	assert_int_equal(add("fs", "tag=a,path=/x"), 0);
	assert_int_equal(add("fs", "tag=A,path=/x"), 0);
	assert_int_equal(add("fs", "tag=ab,path=/x"), 0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
}

static void test_json_shares(void **state)
{
	(void)state;
	assert_int_equal(load("{\"shares\": [{\"tag\": \"a\", \"path\": \"/a\"}, {\"tag\": \"b\", "
			      "\"path\": \"/b\", \"ro\": true, \"cache\": \"never\"}], "
			      "\"disks\": [{\"path\": \"/d\"}]}"),
			 0);
	assert_int_equal(NSHARES, 2);
	assert_int_equal(NDISKS, 1);
	assert_string_equal(SHARE(0)->tag, "a");
	assert_string_equal(SHARE(0)->path, "/a");
	assert_false(SHARE(0)->ro);
	assert_int_equal(SHARE(0)->cache, VFS_CACHE_AUTO);
	assert_string_equal(SHARE(1)->tag, "b");
	assert_true(SHARE(1)->ro);
	assert_int_equal(SHARE(1)->cache, VFS_CACHE_NEVER);
	/* A second "shares" replaces the list, and leaves the disks alone. */
	assert_int_equal(load("{\"shares\": [{\"path\": \"/c\", \"tag\": \"c\"}]}"), 0);
	assert_int_equal(NSHARES, 1);
	assert_string_equal(SHARE(0)->tag, "c");
	assert_int_equal(NDISKS, 1);
	assert_int_equal(load("{\"shares\": []}"), 0);
	assert_int_equal(NSHARES, 0);

	assert_int_equal(load("{\"shares\": {\"tag\": \"a\", \"path\": \"/a\"}}"), -EINVAL);
	assert_err_has("shares: expected an array");
	assert_int_equal(load("{\"shares\": [\"tag=a,path=/a\"]}"), -EINVAL);
	assert_err_has("shares[0]: expected an object");
	assert_int_equal(load("{\"shares\": [{\"path\": \"/a\"}]}"), -EINVAL);
	assert_err_has("shares[0]: no tag= given");
	assert_int_equal(load("{\"shares\": [{\"tag\": \"a\"}]}"), -EINVAL);
	assert_err_has("shares[0]: share a: no path= given");
	assert_int_equal(load("{\"shares\": [{\"tag\": \"a\", \"path\": \"/a\", \"ro\": \"on\"}]}"),
			 -EINVAL);
	assert_err_has("shares[0].ro");
	assert_int_equal(load("{\"shares\": [{\"tag\": 1, \"path\": \"/a\"}]}"), -EINVAL);
	assert_err_has("shares[0].tag");
	assert_int_equal(
		load("{\"shares\": [{\"tag\": \"a\", \"path\": \"/a\", \"cache\": \"x\"}]}"),
		-EINVAL);
	assert_err_has("cache 'x'");
	assert_int_equal(
		load("{\"shares\": [{\"tag\": \"a\", \"path\": \"/a\", \"size\": \"1\"}]}"),
		-EINVAL);
	assert_err_has("size");
	assert_int_equal(load("{\"shares\": [{\"tag\": \"a b\", \"path\": \"/a\"}]}"), -EINVAL);
	assert_err_has("shares[0]: tag 'a b'");
	assert_int_equal(load("{\"shares\": [{\"tag\": \"\", \"path\": \"/a\"}]}"), -EINVAL);
	assert_err_has("tag: empty");
	assert_int_equal(NSHARES, 0);
	/* One entry more than the limit: the last is refused. */
	{
		char json[4096], want[64];
		unsigned int i, max = config_kind_max(&vfs_kind);
		size_t n = (size_t)snprintf(json, sizeof(json), "{\"shares\": [");

		for (i = 0; i <= max; i++)
			n += (size_t)snprintf(json + n, sizeof(json) - n,
					      "%s{\"tag\": \"t%u\", \"path\": \"/a\"}", i ? ", " : "", i);
		snprintf(json + n, sizeof(json) - n, "]}");
		assert_int_equal(load(json), -ENOSPC);
		snprintf(want, sizeof(want), "shares[%u]: at most %u shares", max, max);
		assert_err_has(want);
	}
	/* Duplicates are found by validation, as for flags. */
	assert_int_equal(load("{\"shares\": [{\"tag\": \"a\", \"path\": \"/a\"}, {\"tag\": \"a\", "
			      "\"path\": \"/b\"}]}"),
			 0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_has("share a: tag used twice");
}

/* --net: tap or passt, a MAC, the list limit, and what validation refuses. */
static void test_net_spec(void **state)
{
	static const uint8_t mac[6] = { 0x02, 0x00, 0x00, 0xab, 0xcd, 0xef };
	char spec[32];
	unsigned int i;

	(void)state;
	assert_int_equal(add("net", "tap=tap0"), 0);
	assert_int_equal(add("net", "tap=tap1,mac=02:00:00:ab:cd:ef"), 0);
	assert_int_equal(add("net", "passt"), 0);
	assert_int_equal(add("net", "passt=/run/p.sock"), 0);
	assert_int_equal(NNETS, 4);
	assert_int_equal(NET(0)->backend, VNET_TAP);
	assert_string_equal(NET(0)->tap, "tap0");
	assert_false(NET(0)->mac_set);
	assert_true(NET(1)->mac_set);
	assert_memory_equal(NET(1)->mac, mac, 6);
	assert_int_equal(NET(2)->backend, VNET_PASST);
	assert_null(NET(2)->passt);
	assert_int_equal(NET(3)->backend, VNET_PASST);
	assert_string_equal(NET(3)->passt, "/run/p.sock");
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);

	/* Bad specs are refused whole and name the flag. */
	assert_int_equal(add("net", ""), -EINVAL);
	assert_err_has("net");
	assert_int_equal(add("net", "tap=tap9,mac=zz"), -EINVAL);
	assert_err_has("mac");
	assert_int_equal(add("net", "tap=tap9,passt"), -EINVAL);
	assert_int_equal(add("net", "mac=02:00:00:00:00:01"), -EINVAL);
	assert_int_equal(NNETS, 4);

	/* One tap for two devices, or one MAC twice. */
	assert_int_equal(add("net", "tap=tap0"), 0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_has("net tap0: tap used twice");
	config_clear_kind(&c, &vnet_kind);
	assert_int_equal(add("net", "tap=a,mac=02:00:00:ab:cd:ef"), 0);
	assert_int_equal(add("net", "passt,mac=02:00:00:ab:cd:ef"), 0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_has("mac 02:00:00:ab:cd:ef used twice");

	config_clear_kind(&c, &vnet_kind);
	assert_int_equal(config_set(&c, "rng", "off", err, sizeof(err)), 0);
	for (i = 0; i < config_kind_max(&vnet_kind); i++) {
		snprintf(spec, sizeof(spec), "tap=t%u", i);
		assert_int_equal(add("net", spec), 0);
	}
	assert_int_equal(add("net", "tap=t99"), -ENOSPC);
	snprintf(spec, sizeof(spec), "at most %u nets", config_kind_max(&vnet_kind));
	assert_err_has(spec);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
}

static void test_json_nets(void **state)
{
	(void)state;
	assert_int_equal(load("{\"nets\": [{\"tap\": \"tap0\", \"mac\": \"02:00:00:00:00:01\"}, "
			      "{\"passt\": true}, {\"passt\": \"/run/p.sock\"}]}"),
			 0);
	assert_int_equal(NNETS, 3);
	assert_string_equal(NET(0)->tap, "tap0");
	assert_true(NET(0)->mac_set);
	assert_int_equal(NET(1)->backend, VNET_PASST);
	assert_null(NET(1)->passt);
	assert_string_equal(NET(2)->passt, "/run/p.sock");
	/* A second "nets" replaces the list. */
	assert_int_equal(load("{\"nets\": [{\"tap\": \"x\"}]}"), 0);
	assert_int_equal(NNETS, 1);

	assert_int_equal(load("{\"nets\": [{\"mac\": \"02:00:00:00:00:01\"}]}"), -EINVAL);
	assert_err_has("nets[0]: no tap=NAME or passt given");
	assert_int_equal(load("{\"nets\": [{\"passt\": false}]}"), -EINVAL);
	assert_err_has("nets[0].passt: expected true or a string");
	assert_int_equal(load("{\"nets\": [{\"tap\": true}]}"), -EINVAL);
	assert_err_has("nets[0].tap: expected a string");
	assert_int_equal(load("{\"nets\": [{\"tap\": \"a\", \"speed\": \"1G\"}]}"), -EINVAL);
	assert_err_has("speed");
	assert_int_equal(load("{\"nets\": {\"tap\": \"a\"}}"), -EINVAL);
	assert_err_has("nets: expected an array");
	assert_int_equal(NNETS, 0);
}

/* --vsock and "vsock": one device; a later one replaces an earlier one. */
static void test_vsock(void **state)
{
	(void)state;
	assert_false(HAS_VSOCK);
	assert_int_equal(add("vsock", "cid=3,uds=/run/v.sock"), 0);
	assert_true(HAS_VSOCK);
	assert_int_equal(VSOCK->cid, 3);
	assert_string_equal(VSOCK->uds, "/run/v.sock");
	assert_int_equal(config_set(&c, "vsock", "uds=/run/w.sock,cid=4294967294", err, sizeof(err)),
			 0);
	assert_int_equal(VSOCK->cid, 4294967294u);
	assert_string_equal(VSOCK->uds, "/run/w.sock");

	/* Reserved CIDs (0 hypervisor, 1 local, 2 host, -1 any), junk, missing parts. */
	assert_int_equal(add("vsock", "cid=2,uds=/a"), -EINVAL);
	assert_err_has("vsock");
	assert_int_equal(add("vsock", "cid=4294967295,uds=/a"), -EINVAL);
	assert_int_equal(add("vsock", "cid=-3,uds=/a"), -EINVAL);
	assert_int_equal(add("vsock", "cid=3x,uds=/a"), -EINVAL);
	assert_int_equal(add("vsock", "cid=3"), -EINVAL);
	assert_int_equal(add("vsock", "uds=/a"), -EINVAL);
	assert_int_equal(add("vsock", "cid=3,uds=/a,port=5"), -EINVAL);
	/* A refused spec leaves the earlier device as it was. */
	assert_int_equal(VSOCK->cid, 4294967294u);
	assert_string_equal(VSOCK->uds, "/run/w.sock");

	assert_int_equal(load("{\"vsock\": {\"cid\": 7, \"uds\": \"/run/j.sock\"}}"), 0);
	assert_int_equal(VSOCK->cid, 7);
	assert_string_equal(VSOCK->uds, "/run/j.sock");
	assert_int_equal(load("{\"vsock\": {\"cid\": \"7\", \"uds\": \"/a\"}}"), -EINVAL);
	assert_err_has("vsock.cid: expected an integer");
	assert_int_equal(load("{\"vsock\": {\"cid\": 7}}"), -EINVAL);
	assert_err_has("vsock: no uds= given");
	assert_int_equal(load("{\"vsock\": {\"uds\": \"/a\"}}"), -EINVAL);
	assert_err_has("vsock: no cid= given");
	assert_int_equal(load("{\"vsock\": {\"cid\": 1, \"uds\": \"/a\"}}"), -EINVAL);
	assert_err_has("vsock");
	assert_int_equal(load("{\"vsock\": {\"cid\": -5, \"uds\": \"/a\"}}"), -EINVAL);
	assert_int_equal(load("{\"vsock\": [3]}"), -EINVAL);
	assert_err_has("vsock: expected an object");
	assert_int_equal(VSOCK->cid, 7);
}

/* ---- the tables ---- */

/* Every kind and setting is described whole, with flags and JSON keys used once. */
static void test_tables(void **state)
{
	const char *names[64], *keys[64];
	unsigned int i, j, nn = 0, nk = 0;

	(void)state;
	for (i = 0; i < config_nsettings; i++) {
		const struct config_setting *st = &config_settings[i];

		assert_non_null(st->flag);
		assert_non_null(st->json);
		assert_non_null(st->help);
		assert_true(st->type == CONFIG_FLAG ? !st->arg : st->arg != NULL);
		names[nn++] = st->flag;
		keys[nk++] = st->json;
	}
	for (i = 0; i < config_nkinds; i++) {
		const struct virtio_kind *k = config_kinds[i];

		assert_non_null(k->name);
		assert_non_null(k->json);
		assert_non_null(k->arg);
		assert_non_null(k->help);
		assert_non_null(k->describe);
		assert_non_null(k->create);
		if (k->form == VIRTIO_KIND_SWITCH) {
			assert_int_equal(k->config_size, 0);
		} else {
			assert_true(k->config_size > 0 && k->nfields > 0);
			assert_true(k->init && k->parse && k->set && k->finish && k->free);
			/* What check opens, release closes. */
			assert_true(!k->check == !k->release);
		}
		assert_true(strlen(k->name) + 3 < 16); /* "<name><n>" ids fit VM_DEV_ID_MAX */
		names[nn++] = k->name;
		keys[nk++] = k->json;
	}
	for (i = 0; i < nn; i++)
		for (j = 0; j < i; j++)
			if (!strcmp(names[i], names[j]))
				fail_msg("flag --%s used twice", names[i]);
	for (i = 0; i < nk; i++)
		for (j = 0; j < i; j++)
			if (!strcmp(keys[i], keys[j]))
				fail_msg("JSON key \"%s\" used twice", keys[i]);
}

/* --help's columns: each line of a description fits 58 columns and ends the text whole. */
static void check_help(const char *what, const char *help)
{
	const char *line, *nl;

	assert_true(help[0] && help[strlen(help) - 1] == '\n');
	for (line = help; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (nl - line > 58)
			fail_msg("%s: help line longer than 58 columns: %.*s", what, (int)(nl - line),
				 line);
	}
}

static void test_help_texts(void **state)
{
	unsigned int i;

	(void)state;
	for (i = 0; i < config_nsettings; i++)
		check_help(config_settings[i].flag, config_settings[i].help);
	for (i = 0; i < config_nkinds; i++)
		check_help(config_kinds[i]->name, config_kinds[i]->help);
}

static int load_fresh(const char *json)
{
	config_free(&c);
	return load(json);
}

/* The same device as a flag and as a JSON entry comes out the same. */
static void test_flag_json_round_trip(void **state)
{
	struct vblk_config d;
	struct vfs_config f;
	struct vnet_config n;
	struct vsock_config v;

	(void)state;
	assert_int_equal(add("disk", "path=/a,,b,ro=on,cache=none,serial=S1"), 0);
	d = *DISK(0);
	assert_int_equal(load_fresh("{\"disks\": [{\"path\": \"/a,b\", \"ro\": true, \"cache\": "
				    "\"none\", \"serial\": \"S1\"}]}"),
			 0);
	assert_string_equal(DISK(0)->path, d.path ? "/a,b" : "");
	assert_true(DISK(0)->ro == d.ro && DISK(0)->cache == d.cache);
	assert_string_equal(DISK(0)->serial, d.serial);

	config_free(&c);
	assert_int_equal(add("fs", "tag=t,path=/d,ro=on,cache=never"), 0);
	f = *SHARE(0);
	assert_int_equal(load_fresh("{\"shares\": [{\"tag\": \"t\", \"path\": \"/d\", \"ro\": true, "
				    "\"cache\": \"never\"}]}"),
			 0);
	assert_string_equal(SHARE(0)->tag, f.tag);
	assert_string_equal(SHARE(0)->path, "/d");
	assert_true(SHARE(0)->ro == f.ro && SHARE(0)->cache == f.cache);

	config_free(&c);
	assert_int_equal(add("net", "tap=tap0,mac=02:00:00:00:00:01"), 0);
	assert_int_equal(add("net", "passt=/s"), 0);
	assert_int_equal(add("net", "passt"), 0);
	n = *NET(0);
	assert_int_equal(load_fresh("{\"nets\": [{\"tap\": \"tap0\", \"mac\": \"02:00:00:00:00:01\"},"
				    " {\"passt\": \"/s\"}, {\"passt\": true}]}"),
			 0);
	assert_string_equal(NET(0)->tap, "tap0");
	assert_memory_equal(NET(0)->mac, n.mac, 6);
	assert_true(NET(0)->mac_set && n.mac_set);
	assert_int_equal(NET(1)->backend, VNET_PASST);
	assert_string_equal(NET(1)->passt, "/s");
	assert_int_equal(NET(2)->backend, VNET_PASST);
	assert_null(NET(2)->passt);

	config_free(&c);
	assert_int_equal(add("vsock", "cid=5,uds=/v"), 0);
	v = *VSOCK;
	assert_int_equal(load_fresh("{\"vsock\": {\"cid\": 5, \"uds\": \"/v\"}}"), 0);
	assert_int_equal(VSOCK->cid, v.cid);
	assert_string_equal(VSOCK->uds, "/v");

	config_free(&c);
	assert_int_equal(add("rng", "off"), 0);
	assert_false(HAS_RNG);
	assert_int_equal(load_fresh("{\"rng\": false}"), 0);
	assert_false(HAS_RNG);
	assert_int_equal(load("{\"rng\": true}"), 0);
	assert_true(HAS_RNG);
	assert_int_equal(add("rng", "on"), 0);
	assert_int_equal(config_count(&c, &vrng_kind), 1); /* a switch: on twice is one device */

	/* The balloon: off by default, a switch like rng. */
	config_free(&c);
	assert_int_equal(config_count(&c, &vballoon_kind), 0);
	assert_int_equal(add("balloon", "on"), 0);
	assert_int_equal(add("balloon", "on"), 0);
	assert_int_equal(config_count(&c, &vballoon_kind), 1);
	assert_int_equal(load_fresh("{\"balloon\": true}"), 0);
	assert_int_equal(config_count(&c, &vballoon_kind), 1);
	assert_int_equal(load("{\"balloon\": false}"), 0);
	assert_int_equal(config_count(&c, &vballoon_kind), 0);
	assert_int_equal(load("{\"balloon\": 1}"), -EINVAL);
	assert_err_has("balloon");
}

/* Every kind refuses settings it does not have, as a flag and in JSON, naming them. */
static void test_unknown_keys(void **state)
{
	char spec[96], json[160];
	unsigned int i;
	int ret;

	(void)state;
	for (i = 0; i < config_nkinds; i++) {
		const struct virtio_kind *k = config_kinds[i];

		if (k->form == VIRTIO_KIND_SWITCH)
			continue;
		snprintf(spec, sizeof(spec), "frobnicate=1,%s=x", k->fields[0].key);
		ret = config_add_device(&c, k, spec, err, sizeof(err));
		if (ret != -EINVAL)
			fail_msg("--%s %s: %d", k->name, spec, ret);
		assert_err_has("frobnicate");
		snprintf(json, sizeof(json),
			 k->form == VIRTIO_KIND_LIST ? "{\"%s\": [{\"frobnicate\": 1}]}"
						     : "{\"%s\": {\"frobnicate\": 1}}",
			 k->json);
		assert_int_equal(load(json), -EINVAL);
		assert_err_has("unknown setting 'frobnicate'");
		assert_err_has(k->fields[0].key); /* the message lists what there is */
	}
}

/* Whatever order the flags come in, devices are listed (and get slots) kind by kind. */
static void test_device_order(void **state)
{
	(void)state;
	assert_int_equal(add("balloon", "on"), 0);
	assert_int_equal(add("rng", "on"), 0);
	assert_int_equal(add("vsock", "cid=3,uds=/v"), 0);
	assert_int_equal(add("fs", "tag=a,path=/a"), 0);
	assert_int_equal(add("disk", "path=/d0"), 0);
	assert_int_equal(add("net", "tap=t0"), 0);
	assert_int_equal(add("disk", "path=/d1"), 0);
	assert_int_equal(c.ndevs, 7);
	assert_ptr_equal(c.devs[0].kind, &vblk_kind);
	assert_string_equal(((const struct vblk_config *)c.devs[0].cfg)->path, "/d0");
	assert_ptr_equal(c.devs[1].kind, &vblk_kind);
	assert_string_equal(((const struct vblk_config *)c.devs[1].cfg)->path, "/d1");
	assert_ptr_equal(c.devs[2].kind, &vfs_kind);
	assert_ptr_equal(c.devs[3].kind, &vnet_kind);
	assert_ptr_equal(c.devs[4].kind, &vsock_kind);
	assert_ptr_equal(c.devs[5].kind, &vrng_kind);
	assert_null(c.devs[5].cfg);
	assert_ptr_equal(c.devs[6].kind, &vballoon_kind);
}

/* More devices than slots: validation names the first that finds none, whatever its kind. */
static void test_slots(void **state)
{
	unsigned int i, slots = arch_virtio_slots();
	char spec[32];

	(void)state;
	/* Every slot but one a disk: one share fits, the second and rng do not. */
	for (i = 0; i + 1 < slots; i++)
		assert_int_equal(add("disk", "path=/d"), 0);
	assert_int_equal(add("fs", "tag=a,path=/a"), 0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), -ENOSPC);
	assert_err_has("rng: no room for another virtio device");
	assert_int_equal(add("fs", "tag=b,path=/a"), 0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), -ENOSPC);
	snprintf(spec, sizeof(spec), "(this machine has %u)", slots);
	assert_err_has("share b: no room for another virtio device");
	assert_err_has(spec);
	assert_int_equal(add("rng", "off"), 0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), -ENOSPC);
	assert_err_has("share b");
	config_clear_kind(&c, &vfs_kind);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
}

/* --api-sock and "api_sock": a path, never empty. */
static void test_api_sock(void **state)
{
	(void)state;
	assert_null(c.api_sock);
	assert_int_equal(config_set(&c, "api-sock", "/run/hull.sock", err, sizeof(err)), 0);
	assert_string_equal(c.api_sock, "/run/hull.sock");
	assert_int_equal(load("{\"api_sock\": \"/run/h2.sock\"}"), 0);
	assert_string_equal(c.api_sock, "/run/h2.sock");
	assert_int_equal(load("{\"api_sock\": \"\"}"), -EINVAL);
	assert_err_has("api_sock");
	assert_int_equal(load("{\"api_sock\": 1}"), -EINVAL);
	assert_err_has("api_sock: expected a string");
	assert_int_equal(config_set(&c, "api-sock", "", err, sizeof(err)), -EINVAL);
	assert_err_has("api-sock");
}

/* Devices built by the caller (container mode): in their kind's place in slot order, owned. */
static void test_config_add(void **state)
{
	struct vsock_config *v = calloc(1, sizeof(*v));
	struct vfs_config *f;
	unsigned int i;

	(void)state;
	assert_int_equal(add("disk", "path=/a.img"), 0);
	v->cid = 3; /* no uds: in-process endpoints only */
	assert_int_equal(config_add(&c, &vsock_kind, v, err, sizeof(err)), 0);
	f = calloc(1, sizeof(*f));
	snprintf(f->tag, sizeof(f->tag), "mounts");
	f->nentries = 1;
	f->entries = calloc(1, sizeof(*f->entries));
	f->entries[0].name = strdup("m0");
	f->entries[0].path = strdup("/srv");
	assert_int_equal(config_add(&c, &vfs_kind, f, err, sizeof(err)), 0);
	/* disk, share, vsock, rng: the kinds' order, whatever the order of the calls. */
	assert_int_equal(c.ndevs, 4);
	assert_ptr_equal(c.devs[0].kind, &vblk_kind);
	assert_ptr_equal(c.devs[1].kind, &vfs_kind);
	assert_ptr_equal(c.devs[2].kind, &vsock_kind);
	assert_ptr_equal(c.devs[3].kind, &vrng_kind);
	assert_null(VSOCK->uds);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	/* A second vsock replaces the first (one per VM); past a list's limit: refused, freed. */
	v = calloc(1, sizeof(*v));
	v->cid = 4;
	assert_int_equal(config_add(&c, &vsock_kind, v, err, sizeof(err)), 0);
	assert_int_equal(VSOCK->cid, 4);
	for (i = NSHARES; i < config_kind_max(&vfs_kind); i++) {
		f = calloc(1, sizeof(*f));
		snprintf(f->tag, sizeof(f->tag), "t%u", i);
		f->path = strdup("/srv");
		assert_int_equal(config_add(&c, &vfs_kind, f, err, sizeof(err)), 0);
	}
	f = calloc(1, sizeof(*f));
	snprintf(f->tag, sizeof(f->tag), "late");
	f->path = strdup("/srv");
	assert_int_equal(config_add(&c, &vfs_kind, f, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "share late: at most"));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_defaults),
		T(test_config_add),
		T(test_set),
		T(test_json_full),
		T(test_json_partial_keeps_others),
		T(test_json_memory_forms),
		T(test_memory_hugepages),
		T(test_validate_hugepages),
		T(test_json_wrong_types),
		T(test_json_negative_cpus),
		T(test_json_unknown_field),
		T(test_json_malformed),
		T(test_json_strict_syntax),
		T(test_json_huge_integer),
		T(test_json_embedded_nul),
		T(test_json_deep_nesting),
		T(test_json_too_large),
		T(test_json_err_truncated),
		T(test_file_ok),
		T(test_file_bad_json),
		T(test_file_errors),
		T(test_validate),
		T(test_disk_spec),
		T(test_disk_spec_errors),
		T(test_disk_limit),
		T(test_json_disks_rng),
		T(test_share_spec),
		T(test_share_spec_errors),
		T(test_share_limit_and_tags),
		T(test_json_shares),
		T(test_net_spec),
		T(test_json_nets),
		T(test_vsock),
		T(test_tables),
		T(test_help_texts),
		T(test_flag_json_round_trip),
		T(test_unknown_keys),
		T(test_device_order),
		T(test_slots),
		T(test_api_sock),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
