/* Unit tests for CPU lists: parsing, formatting, counting, the n-th CPU. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/cpuset.h"
#include "lib/util.h"

/* s parses, and formats back as want. */
static void check(const char *s, const char *want, unsigned int count)
{
	char buf[CPUSET_LIST_MAX];
	cpu_set_t set;

	if (cpuset_parse(s, &set))
		fail_msg("cpuset_parse(\"%s\") failed", s);
	assert_int_equal(cpuset_format(&set, buf, sizeof(buf)), 0);
	if (strcmp(buf, want))
		fail_msg("\"%s\" formats as \"%s\", want \"%s\"", s, buf, want);
	assert_int_equal(cpuset_count(&set), count);
}

static void test_parse_ok(void **state)
{
	(void)state;
	check("0", "0", 1);
	check("0-3", "0-3", 4);
	check("0-3,6", "0-3,6", 5);
	check("6,0-3", "0-3,6", 5);
	check("2-2", "2", 1);
	check("1,2,3,5,7-8", "1-3,5,7-8", 6);
	check("0-3,2-5", "0-5", 6);
	check("007", "7", 1);
	check("1023", "1023", 1);
	check("0-1023", "0-1023", 1024);
}

static void test_parse_bad(void **state)
{
	static const struct {
		const char *s;
		int err;
	} bad[] = {
		{ "", -EINVAL },      { ",", -EINVAL },     { "1,", -EINVAL },    { ",1", -EINVAL },
		{ "1,,2", -EINVAL },  { "-1", -EINVAL },    { "1-", -EINVAL },    { "3-1", -EINVAL },
		{ "1-2-3", -EINVAL }, { " 1", -EINVAL },    { "1 ", -EINVAL },    { "1\n", -EINVAL },
		{ "a", -EINVAL },     { "0-3:1/2", -EINVAL }, { "0x1", -EINVAL }, { "1024", -ERANGE },
		{ "0-1024", -ERANGE }, { "99999999999999999999", -ERANGE },
	};
	cpu_set_t set;
	unsigned int i;
	int ret;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		CPU_ZERO(&set);
		CPU_SET(5, &set);
		ret = cpuset_parse(bad[i].s, &set);
		if (ret != bad[i].err)
			fail_msg("cpuset_parse(\"%s\") = %d, want %d", bad[i].s, ret, bad[i].err);
		assert_true(CPU_ISSET(5, &set) && CPU_COUNT(&set) == 1); /* untouched */
	}
	assert_int_equal(cpuset_parse(NULL, &set), -EINVAL);
}

static void test_format_space(void **state)
{
	char buf[CPUSET_LIST_MAX], small[6];
	cpu_set_t set;
	unsigned int cpu;

	(void)state;
	CPU_ZERO(&set);
	assert_int_equal(cpuset_format(&set, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	/* The longest list there is: every other CPU. */
	for (cpu = 0; cpu < CPUSET_MAX; cpu += 2)
		CPU_SET(cpu, &set);
	assert_int_equal(cpuset_format(&set, buf, sizeof(buf)), 0);
	assert_true(strlen(buf) < sizeof(buf));
	assert_int_equal(strncmp(buf, "0,2,4,", 6), 0);
	assert_int_equal(cpuset_format(&set, small, sizeof(small)), -ENOSPC);
	assert_string_equal(small, "");
	assert_int_equal(cpuset_format(&set, small, 0), -ENOSPC);
	CPU_ZERO(&set);
	CPU_SET(1000, &set);
	CPU_SET(1001, &set);
	assert_int_equal(cpuset_format(&set, small, sizeof(small)), -ENOSPC);
	CPU_CLR(1001, &set);
	assert_int_equal(cpuset_format(&set, small, sizeof(small)), 0);
	assert_string_equal(small, "1000");
}

static void test_nth_and_outside(void **state)
{
	cpu_set_t a, b;

	(void)state;
	assert_int_equal(cpuset_parse("2-3,6", &a), 0);
	assert_int_equal(cpuset_nth(&a, 0), 2);
	assert_int_equal(cpuset_nth(&a, 1), 3);
	assert_int_equal(cpuset_nth(&a, 2), 6);
	assert_int_equal(cpuset_nth(&a, 3), -1);
	assert_int_equal(cpuset_parse("0-5", &b), 0);
	assert_int_equal(cpuset_first_outside(&a, &b), 6);
	assert_int_equal(cpuset_first_outside(&b, &b), -1);
	assert_int_equal(cpuset_parse("0-7", &b), 0);
	assert_int_equal(cpuset_first_outside(&a, &b), -1);
	assert_int_equal(cpuset_first_outside(&b, &a), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_format_space),
		cmocka_unit_test(test_nth_and_outside),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
