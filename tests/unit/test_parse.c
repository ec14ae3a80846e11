/* Unit tests for the size, integer and boolean parsers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "vmm/parse.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_ok),
		cmocka_unit_test(test_size_garbage),
		cmocka_unit_test(test_size_overflow),
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_bool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
