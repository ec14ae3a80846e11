/* Unit tests for the size, integer, boolean and device-spec parsers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/parse.h"

static void check_size(const char *s, uint64_t want)
{
	uint64_t v = 0xdeadbeef;

	if (parse_size(s, &v) != 0)
		fail_msg("parse_size(\"%s\") failed", s);
	if (v != want)
		fail_msg("parse_size(\"%s\") = %llu, want %llu", s, (unsigned long long)v,
			 (unsigned long long)want);
}

static void check_size_err(const char *s, int err)
{
	uint64_t v = 0x1234;
	int ret = parse_size(s, &v);

	if (ret != err)
		fail_msg("parse_size(\"%s\") = %d, want %d", s ? s : "(null)", ret, err);
	assert_int_equal(v, 0x1234); /* untouched on error */
}

static void test_size_ok(void **state)
{
	(void)state;
	check_size("512M", 512ULL << 20);
	check_size("512m", 512ULL << 20);
	check_size("4G", 4ULL << 30);
	check_size("4g", 4ULL << 30);
	check_size("1K", 1024);
	check_size("1k", 1024);
	check_size("1T", 1ULL << 40);
	check_size("65536", 65536);
	check_size("65536B", 65536);
	check_size("0", 0);
	check_size("512MiB", 512ULL << 20);
	check_size("512MB", 512ULL << 20);
	check_size("4GiB", 4ULL << 30);
	check_size("1KB", 1024);
	check_size("007M", 7ULL << 20);
	check_size("18446744073709551615", UINT64_MAX);
	check_size("16777215T", 16777215ULL << 40);
	check_size("17179869183G", 17179869183ULL << 30);
}

static void test_size_garbage(void **state)
{
	(void)state;
	check_size_err(NULL, -EINVAL);
	check_size_err("", -EINVAL);
	check_size_err("M", -EINVAL);
	check_size_err("12Q", -EINVAL);
	check_size_err("-1", -EINVAL);
	check_size_err("+1", -EINVAL);
	check_size_err("1.5G", -EINVAL);
	check_size_err(" 1G", -EINVAL);
	check_size_err("1G ", -EINVAL);
	check_size_err("1 G", -EINVAL);
	check_size_err("1GG", -EINVAL);
	check_size_err("1Gi", -EINVAL);
	check_size_err("1iB", -EINVAL);
	check_size_err("1GiBx", -EINVAL);
	check_size_err("1Gb", -EINVAL);
	check_size_err("0x100", -EINVAL);
	check_size_err("1P", -EINVAL);
}

static void test_size_overflow(void **state)
{
	(void)state;
	check_size_err("18446744073709551616", -ERANGE);
	check_size_err("99999999999999999999999", -ERANGE);
	check_size_err("17179869184G", -ERANGE);
	check_size_err("16777216T", -ERANGE);
	check_size_err("18014398509481984K", -ERANGE);
}

static void test_uint(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(parse_uint("4", 1, 255, &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(parse_uint("1", 1, 255, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(parse_uint("255", 1, 255, &v), 0);
	assert_int_equal(v, 255);
	assert_int_equal(parse_uint("18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_int_equal(v, UINT64_MAX);

	v = 77;
	assert_int_equal(parse_uint("0", 1, 255, &v), -ERANGE);
	assert_int_equal(parse_uint("256", 1, 255, &v), -ERANGE);
	assert_int_equal(parse_uint("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
	assert_int_equal(parse_uint("", 0, 10, &v), -EINVAL);
	assert_int_equal(parse_uint(NULL, 0, 10, &v), -EINVAL);
	assert_int_equal(parse_uint("-1", 0, 10, &v), -EINVAL);
	assert_int_equal(parse_uint(" 1", 0, 10, &v), -EINVAL);
	assert_int_equal(parse_uint("1 ", 0, 10, &v), -EINVAL);
	assert_int_equal(parse_uint("1K", 0, 10000, &v), -EINVAL);
	assert_int_equal(parse_uint("0x1", 0, 10, &v), -EINVAL);
	assert_int_equal(v, 77);
}

static void test_bool(void **state)
{
	static const char *const yes[] = { "on", "true", "yes", "1", "ON", "True", "YES" };
	static const char *const no[] = { "off", "false", "no", "0", "OFF", "False", "No" };
	static const char *const bad[] = { "", "2", "y", "n", "onn", "of", "truee", " on", "on " };
	unsigned int i;
	int b;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = -1;
		assert_int_equal(parse_bool(yes[i], &b), 0);
		assert_int_equal(b, 1);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = -1;
		assert_int_equal(parse_bool(no[i], &b), 0);
		assert_int_equal(b, 0);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = -1;
		assert_int_equal(parse_bool(bad[i], &b), -EINVAL);
		assert_int_equal(b, -1);
	}
	assert_int_equal(parse_bool(NULL, &b), -EINVAL);
}

/* parse_spec's callback: records "key=value;" pairs; the key "bad" fails. */
static int record(void *obj, const char *key, const char *value, char *err, size_t errlen)
{
	char *log = obj;

	if (!strcmp(key, "bad")) {
		snprintf(err, errlen, "bad: refused");
		return -EINVAL;
	}
	snprintf(log + strlen(log), 256 - strlen(log), "%s=%s;", key, value);
	return 0;
}

static int spec(const char *s, char *log, char *err)
{
	static const char *const keys[] = { "path", "ro" };

	log[0] = err[0] = '\0';
	return parse_spec(s, keys, 2, "path=FILE", record, log, err, 128);
}

static void test_spec(void **state)
{
	char log[256], err[128];

	(void)state;
	assert_int_equal(spec("path=/a,ro=on", log, err), 0);
	assert_string_equal(log, "path=/a;ro=on;");
	/* A doubled comma is a literal comma, also at the ends of a value. */
	assert_int_equal(spec("path=/a,,b,,,ro=off", log, err), 0);
	assert_string_equal(log, "path=/a,b,;ro=off;");
	assert_int_equal(spec("path=x=y", log, err), 0);
	assert_string_equal(log, "path=x=y;");
	/* Keys outside the list may repeat: the callback decides about them. */
	assert_int_equal(spec("other=1,other=2", log, err), 0);
	assert_string_equal(log, "other=1;other=2;");

	assert_int_equal(spec("path=/a,path=/b", log, err), -EINVAL);
	assert_non_null(strstr(err, "path: given twice"));
	assert_int_equal(spec("path=/a,", log, err), -EINVAL);
	assert_non_null(strstr(err, "expected key=value (path=FILE)"));
	assert_int_equal(spec("", log, err), -EINVAL);
	assert_int_equal(spec("ro", log, err), -EINVAL);
	assert_string_equal(log, "");
	/* The callback's error stops the walk and keeps its message. */
	assert_int_equal(spec("path=/a,bad=1,ro=on", log, err), -EINVAL);
	assert_string_equal(log, "path=/a;");
	assert_string_equal(err, "bad: refused");
}

static void test_set_helpers(void **state)
{
	static const char *const names[] = { "auto", "always", "never" };
	char err[128], *path = NULL;
	bool b = false;
	int v = -1;

	(void)state;
	assert_int_equal(parse_set_path("path", "/a", &path, err, sizeof(err)), 0);
	assert_int_equal(parse_set_path("path", "/b", &path, err, sizeof(err)), 0);
	assert_string_equal(path, "/b");
	assert_int_equal(parse_set_path("path", "", &path, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "path: empty");
	assert_string_equal(path, "/b");
	free(path);

	assert_int_equal(parse_set_bool("ro", "on", &b, err, sizeof(err)), 0);
	assert_true(b);
	assert_int_equal(parse_set_bool("ro", "maybe", &b, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "ro 'maybe': not on/off");
	assert_true(b);

	assert_int_equal(parse_set_choice("cache", "never", names, 3, &v, err, sizeof(err)), 0);
	assert_int_equal(v, 2);
	assert_int_equal(parse_set_choice("cache", "fast", names, 3, &v, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "cache 'fast': not one of auto, always, never");
	assert_int_equal(v, 2);
	{
		char word[5] = "old";

		assert_int_equal(parse_set_word("tag", "abcd", 4, false, word, err, 128), 0);
		assert_string_equal(word, "abcd");
		assert_int_equal(parse_set_word("tag", "abcde", 4, false, word, err, 128), -EINVAL);
		assert_string_equal(err, "tag 'abcde': longer than 4 characters");
		assert_int_equal(parse_set_word("tag", "", 4, false, word, err, 128), -EINVAL);
		assert_string_equal(err, "tag: empty");
		assert_int_equal(parse_set_word("serial", "", 4, true, word, err, 128), 0);
		assert_string_equal(word, "");
		static const char *const bad[] = { "a b", "a,b", "a\tb", "\x7f", "\xc3\xa9" };
		for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			strcpy(word, "old");
			assert_int_equal(parse_set_word("tag", bad[i], 4, false, word, err, 128),
					 -EINVAL);
			assert_non_null(strstr(err, "only printable ASCII without spaces or commas"));
			assert_string_equal(word, "old");
		}
	}
	/* A short buffer truncates the message, never overruns it. */
	assert_int_equal(parse_set_choice("cache", "fast", names, 3, &v, err, 20), -EINVAL);
	assert_int_equal(strlen(err), 19);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_ok),
		cmocka_unit_test(test_size_garbage),
		cmocka_unit_test(test_size_overflow),
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_spec),
		cmocka_unit_test(test_set_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
