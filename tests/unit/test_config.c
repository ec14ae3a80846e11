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

#include "vmm/config.h"

static struct vm_config c;
static char err[256];

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
	assert_true(c.rng);
	assert_int_equal(c.ndisks, 0);
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
	assert_int_equal(config_set(&c, "boot_timer", "on", err, sizeof(err)), 0);
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
	assert_int_equal(config_set(&c, "boot_timer", "maybe", err, sizeof(err)), -EINVAL);
	assert_err_has("boot_timer");
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
	assert_int_equal(config_add_disk(&c, "path=/srv/a.img", err, sizeof(err)), 0);
	assert_int_equal(config_add_disk(&c, "path=/srv/b,,c.img,ro=on,cache=none,serial=B-1", err,
					 sizeof(err)),
			 0);
	assert_int_equal(config_add_disk(&c, "cache=unsafe,path=x", err, sizeof(err)), 0);
	assert_int_equal(c.ndisks, 3);
	assert_string_equal(c.disks[0].path, "/srv/a.img");
	assert_false(c.disks[0].ro);
	assert_int_equal(c.disks[0].cache, VBLK_CACHE_WRITEBACK);
	assert_string_equal(c.disks[0].serial, "");
	assert_string_equal(c.disks[1].path, "/srv/b,c.img");
	assert_true(c.disks[1].ro);
	assert_int_equal(c.disks[1].cache, VBLK_CACHE_NONE);
	assert_string_equal(c.disks[1].serial, "B-1");
	assert_int_equal(c.disks[2].cache, VBLK_CACHE_UNSAFE);
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
		if (config_add_disk(&c, bad[i].spec, err, sizeof(err)) != -EINVAL)
			fail_msg("disk spec '%s' was accepted", bad[i].spec);
		assert_err_has(bad[i].needle);
		assert_int_equal(c.ndisks, 0);
	}
}

static void test_disk_limit(void **state)
{
	unsigned int i;

	(void)state;
	for (i = 0; i < CONFIG_MAX_DISKS; i++)
		assert_int_equal(config_add_disk(&c, "path=x", err, sizeof(err)), 0);
	assert_int_equal(config_add_disk(&c, "path=x", err, sizeof(err)), -ENOSPC);
	assert_err_has("at most");
}

static void test_json_disks_rng(void **state)
{
	(void)state;
	assert_int_equal(load("{\"disks\": [{\"path\": \"/a\"}, {\"path\": \"/b\", \"ro\": true, "
			      "\"cache\": \"none\", \"serial\": \"S\"}], \"rng\": false}"),
			 0);
	assert_int_equal(c.ndisks, 2);
	assert_string_equal(c.disks[1].path, "/b");
	assert_true(c.disks[1].ro);
	assert_int_equal(c.disks[1].cache, VBLK_CACHE_NONE);
	assert_string_equal(c.disks[1].serial, "S");
	assert_false(c.rng);
	/* A second "disks" replaces the list. */
	assert_int_equal(load("{\"disks\": [{\"path\": \"/c\"}]}"), 0);
	assert_int_equal(c.ndisks, 1);
	assert_string_equal(c.disks[0].path, "/c");

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
	assert_int_equal(config_add_share(&c, "tag=docs,path=/srv/docs", err, sizeof(err)), 0);
	assert_int_equal(config_add_share(&c, "path=/srv/a,,b,ro=on,cache=never,tag=T-1:x", err,
					  sizeof(err)),
			 0);
	assert_int_equal(config_set(&c, "fs", "cache=always,tag=c,path=x,ro=off", err, sizeof(err)),
			 0);
	{
		char spec[80];

		snprintf(spec, sizeof(spec), "tag=%s,path=/d", tag36);
		assert_int_equal(config_add_share(&c, spec, err, sizeof(err)), 0);
	}
	assert_int_equal(c.nshares, 4);
	assert_string_equal(c.shares[0].tag, "docs");
	assert_string_equal(c.shares[0].path, "/srv/docs");
	assert_false(c.shares[0].ro);
	assert_int_equal(c.shares[0].cache, VFS_CACHE_AUTO);
	assert_string_equal(c.shares[1].tag, "T-1:x");
	assert_string_equal(c.shares[1].path, "/srv/a,b");
	assert_true(c.shares[1].ro);
	assert_int_equal(c.shares[1].cache, VFS_CACHE_NEVER);
	assert_int_equal(c.shares[2].cache, VFS_CACHE_ALWAYS);
	assert_false(c.shares[2].ro);
	assert_string_equal(c.shares[3].tag, tag36);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	/* Disks and shares are separate lists. */
	assert_int_equal(c.ndisks, 0);
	config_clear_shares(&c);
	assert_int_equal(c.nshares, 0);
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
		if (config_add_share(&c, bad[i].spec, err, sizeof(err)) != -EINVAL)
			fail_msg("share spec '%s' was accepted", bad[i].spec);
		assert_err_has(bad[i].needle);
		assert_true(!strncmp(err, "fs ", 3));
		assert_int_equal(c.nshares, 0);
	}
}

static void test_share_limit_and_tags(void **state)
{
	char spec[32];
	unsigned int i;

	(void)state;
	for (i = 0; i < CONFIG_MAX_SHARES; i++) {
		snprintf(spec, sizeof(spec), "tag=t%u,path=/x", i);
		assert_int_equal(config_add_share(&c, spec, err, sizeof(err)), 0);
	}
	assert_int_equal(config_add_share(&c, "tag=t9,path=/x", err, sizeof(err)), -ENOSPC);
	assert_err_has("at most 8 shares");
	assert_int_equal(c.nshares, CONFIG_MAX_SHARES);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	/* One tag twice: the guest could mount only one of them. */
	config_clear_shares(&c);
	assert_int_equal(config_add_share(&c, "tag=a,path=/x", err, sizeof(err)), 0);
	assert_int_equal(config_add_share(&c, "tag=b,path=/x", err, sizeof(err)), 0);
	assert_int_equal(config_add_share(&c, "tag=a,path=/y", err, sizeof(err)), 0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_has("share a: tag used twice");
	/* Tags are compared byte for byte. */
	config_clear_shares(&c);
	assert_int_equal(config_add_share(&c, "tag=a,path=/x", err, sizeof(err)), 0);
	assert_int_equal(config_add_share(&c, "tag=A,path=/x", err, sizeof(err)), 0);
	assert_int_equal(config_add_share(&c, "tag=ab,path=/x", err, sizeof(err)), 0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
}

static void test_json_shares(void **state)
{
	(void)state;
	assert_int_equal(load("{\"shares\": [{\"tag\": \"a\", \"path\": \"/a\"}, {\"tag\": \"b\", "
			      "\"path\": \"/b\", \"ro\": true, \"cache\": \"never\"}], "
			      "\"disks\": [{\"path\": \"/d\"}]}"),
			 0);
	assert_int_equal(c.nshares, 2);
	assert_int_equal(c.ndisks, 1);
	assert_string_equal(c.shares[0].tag, "a");
	assert_string_equal(c.shares[0].path, "/a");
	assert_false(c.shares[0].ro);
	assert_int_equal(c.shares[0].cache, VFS_CACHE_AUTO);
	assert_string_equal(c.shares[1].tag, "b");
	assert_true(c.shares[1].ro);
	assert_int_equal(c.shares[1].cache, VFS_CACHE_NEVER);
	/* A second "shares" replaces the list, and leaves the disks alone. */
	assert_int_equal(load("{\"shares\": [{\"path\": \"/c\", \"tag\": \"c\"}]}"), 0);
	assert_int_equal(c.nshares, 1);
	assert_string_equal(c.shares[0].tag, "c");
	assert_int_equal(c.ndisks, 1);
	assert_int_equal(load("{\"shares\": []}"), 0);
	assert_int_equal(c.nshares, 0);

	assert_int_equal(load("{\"shares\": {\"tag\": \"a\", \"path\": \"/a\"}}"), -EINVAL);
	assert_err_has("shares: expected an array");
	assert_int_equal(load("{\"shares\": [\"tag=a,path=/a\"]}"), -EINVAL);
	assert_err_has("shares[0]: expected an object");
	assert_int_equal(load("{\"shares\": [{\"path\": \"/a\"}]}"), -EINVAL);
	assert_err_has("shares[0]: no \"tag\"");
	assert_int_equal(load("{\"shares\": [{\"tag\": \"a\"}]}"), -EINVAL);
	assert_err_has("shares[0]: no \"path\"");
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
	assert_int_equal(c.nshares, 0);
	/* Nine entries: the ninth is refused. */
	assert_int_equal(load("{\"shares\": [{\"tag\": \"1\", \"path\": \"/a\"}, {\"tag\": \"2\", "
			      "\"path\": \"/a\"}, {\"tag\": \"3\", \"path\": \"/a\"}, {\"tag\": "
			      "\"4\", \"path\": \"/a\"}, {\"tag\": \"5\", \"path\": \"/a\"}, "
			      "{\"tag\": \"6\", \"path\": \"/a\"}, {\"tag\": \"7\", \"path\": "
			      "\"/a\"}, {\"tag\": \"8\", \"path\": \"/a\"}, {\"tag\": \"9\", "
			      "\"path\": \"/a\"}]}"),
			 -ENOSPC);
	assert_err_has("at most 8 shares");
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
	assert_int_equal(config_add_net(&c, "tap=tap0", err, sizeof(err)), 0);
	assert_int_equal(config_add_net(&c, "tap=tap1,mac=02:00:00:ab:cd:ef", err, sizeof(err)), 0);
	assert_int_equal(config_add_net(&c, "passt", err, sizeof(err)), 0);
	assert_int_equal(config_add_net(&c, "passt=/run/p.sock", err, sizeof(err)), 0);
	assert_int_equal(c.nnets, 4);
	assert_int_equal(c.nets[0].backend, VNET_TAP);
	assert_string_equal(c.nets[0].tap, "tap0");
	assert_false(c.nets[0].mac_set);
	assert_true(c.nets[1].mac_set);
	assert_memory_equal(c.nets[1].mac, mac, 6);
	assert_int_equal(c.nets[2].backend, VNET_PASST);
	assert_null(c.nets[2].passt);
	assert_int_equal(c.nets[3].backend, VNET_PASST);
	assert_string_equal(c.nets[3].passt, "/run/p.sock");
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);

	/* Bad specs are refused whole and name the flag. */
	assert_int_equal(config_add_net(&c, "", err, sizeof(err)), -EINVAL);
	assert_err_has("net");
	assert_int_equal(config_add_net(&c, "tap=tap9,mac=zz", err, sizeof(err)), -EINVAL);
	assert_err_has("mac");
	assert_int_equal(config_add_net(&c, "tap=tap9,passt", err, sizeof(err)), -EINVAL);
	assert_int_equal(config_add_net(&c, "mac=02:00:00:00:00:01", err, sizeof(err)), -EINVAL);
	assert_int_equal(c.nnets, 4);

	/* One tap for two devices, or one MAC twice. */
	assert_int_equal(config_add_net(&c, "tap=tap0", err, sizeof(err)), 0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_has("net tap0: tap used twice");
	config_clear_nets(&c);
	assert_int_equal(config_add_net(&c, "tap=a,mac=02:00:00:ab:cd:ef", err, sizeof(err)), 0);
	assert_int_equal(config_add_net(&c, "passt,mac=02:00:00:ab:cd:ef", err, sizeof(err)), 0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_err_has("mac 02:00:00:ab:cd:ef used twice");

	config_clear_nets(&c);
	for (i = 0; i < CONFIG_MAX_NETS; i++) {
		snprintf(spec, sizeof(spec), "tap=t%u", i);
		assert_int_equal(config_add_net(&c, spec, err, sizeof(err)), 0);
	}
	assert_int_equal(config_add_net(&c, "tap=t9", err, sizeof(err)), -ENOSPC);
	assert_err_has("at most 8 nets");
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
}

static void test_json_nets(void **state)
{
	(void)state;
	assert_int_equal(load("{\"nets\": [{\"tap\": \"tap0\", \"mac\": \"02:00:00:00:00:01\"}, "
			      "{\"passt\": true}, {\"passt\": \"/run/p.sock\"}]}"),
			 0);
	assert_int_equal(c.nnets, 3);
	assert_string_equal(c.nets[0].tap, "tap0");
	assert_true(c.nets[0].mac_set);
	assert_int_equal(c.nets[1].backend, VNET_PASST);
	assert_null(c.nets[1].passt);
	assert_string_equal(c.nets[2].passt, "/run/p.sock");
	/* A second "nets" replaces the list. */
	assert_int_equal(load("{\"nets\": [{\"tap\": \"x\"}]}"), 0);
	assert_int_equal(c.nnets, 1);

	assert_int_equal(load("{\"nets\": [{\"mac\": \"02:00:00:00:00:01\"}]}"), -EINVAL);
	assert_err_has("nets[0]: no \"tap\" or \"passt\"");
	assert_int_equal(load("{\"nets\": [{\"passt\": false}]}"), -EINVAL);
	assert_err_has("nets[0].passt: expected true or a string");
	assert_int_equal(load("{\"nets\": [{\"tap\": true}]}"), -EINVAL);
	assert_err_has("nets[0].tap: expected a string");
	assert_int_equal(load("{\"nets\": [{\"tap\": \"a\", \"speed\": \"1G\"}]}"), -EINVAL);
	assert_err_has("speed");
	assert_int_equal(load("{\"nets\": {\"tap\": \"a\"}}"), -EINVAL);
	assert_err_has("nets: expected an array");
	assert_int_equal(c.nnets, 0);
}

/* --vsock and "vsock": one device; a later one replaces an earlier one. */
static void test_vsock(void **state)
{
	(void)state;
	assert_false(c.has_vsock);
	assert_int_equal(config_set_vsock(&c, "cid=3,uds=/run/v.sock", err, sizeof(err)), 0);
	assert_true(c.has_vsock);
	assert_int_equal(c.vsock.cid, 3);
	assert_string_equal(c.vsock.uds, "/run/v.sock");
	assert_int_equal(config_set(&c, "vsock", "uds=/run/w.sock,cid=4294967294", err, sizeof(err)),
			 0);
	assert_int_equal(c.vsock.cid, 4294967294u);
	assert_string_equal(c.vsock.uds, "/run/w.sock");

	/* Reserved CIDs (0 hypervisor, 1 local, 2 host, -1 any), junk, missing parts. */
	assert_int_equal(config_set_vsock(&c, "cid=2,uds=/a", err, sizeof(err)), -EINVAL);
	assert_err_has("vsock");
	assert_int_equal(config_set_vsock(&c, "cid=4294967295,uds=/a", err, sizeof(err)), -EINVAL);
	assert_int_equal(config_set_vsock(&c, "cid=-3,uds=/a", err, sizeof(err)), -EINVAL);
	assert_int_equal(config_set_vsock(&c, "cid=3x,uds=/a", err, sizeof(err)), -EINVAL);
	assert_int_equal(config_set_vsock(&c, "cid=3", err, sizeof(err)), -EINVAL);
	assert_int_equal(config_set_vsock(&c, "uds=/a", err, sizeof(err)), -EINVAL);
	assert_int_equal(config_set_vsock(&c, "cid=3,uds=/a,port=5", err, sizeof(err)), -EINVAL);
	/* A refused spec leaves the earlier device as it was. */
	assert_int_equal(c.vsock.cid, 4294967294u);
	assert_string_equal(c.vsock.uds, "/run/w.sock");

	assert_int_equal(load("{\"vsock\": {\"cid\": 7, \"uds\": \"/run/j.sock\"}}"), 0);
	assert_int_equal(c.vsock.cid, 7);
	assert_string_equal(c.vsock.uds, "/run/j.sock");
	assert_int_equal(load("{\"vsock\": {\"cid\": \"7\", \"uds\": \"/a\"}}"), -EINVAL);
	assert_err_has("vsock.cid: expected an integer");
	assert_int_equal(load("{\"vsock\": {\"cid\": 7}}"), -EINVAL);
	assert_err_has("vsock: no \"uds\"");
	assert_int_equal(load("{\"vsock\": {\"uds\": \"/a\"}}"), -EINVAL);
	assert_err_has("vsock: no \"cid\"");
	assert_int_equal(load("{\"vsock\": {\"cid\": 1, \"uds\": \"/a\"}}"), -EINVAL);
	assert_err_has("vsock");
	assert_int_equal(load("{\"vsock\": {\"cid\": -5, \"uds\": \"/a\"}}"), -EINVAL);
	assert_int_equal(load("{\"vsock\": [3]}"), -EINVAL);
	assert_err_has("vsock: expected an object");
	assert_int_equal(c.vsock.cid, 7);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_defaults),
		T(test_set),
		T(test_json_full),
		T(test_json_partial_keeps_others),
		T(test_json_memory_forms),
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
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
