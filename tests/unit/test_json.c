/* Unit tests for the strict JSON parser and the exact integer readers (lib/json). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <json.h>
#include <string.h>

#include "lib/json.h"

static int parse(const char *text, struct json_object **root, char *err, size_t errlen)
{
	err[0] = '\0';
	return json_parse_strict(text, strlen(text), 64, root, err, errlen);
}

static void test_parse(void **state)
{
	struct json_object *root;
	char err[128];

	(void)state;
	assert_int_equal(parse(" [1, \"a'b\"] \n", &root, err, sizeof(err)), 0);
	assert_true(json_object_is_type(root, json_type_array));
	json_object_put(root);
	assert_int_equal(parse("\"x\"", &root, err, sizeof(err)), 0); /* any type at the top */
	json_object_put(root);
	assert_int_equal(parse("{'a': 1}", &root, err, sizeof(err)), -EINVAL);
	assert_null(root);
	assert_non_null(strstr(err, "single quote at byte 1"));
	assert_int_equal(parse("{} x", &root, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "at byte 3"));
	assert_int_equal(parse("{\"a\": ", &root, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not valid JSON"));
	assert_int_equal(parse("[1,]", &root, err, sizeof(err)), -EINVAL);
	assert_int_equal(parse("", &root, err, sizeof(err)), -EINVAL);
	assert_int_equal(parse("[\"0123456789012345678901234567890123456789012345678901234567890\"]",
			       &root, err, sizeof(err)),
			 -EFBIG);
	assert_string_equal(err, "too large (limit 64 bytes)");
}

static struct json_object *num(const char *text)
{
	struct json_object *v;
	char err[128];

	assert_int_equal(parse(text, &v, err, sizeof(err)), 0);
	return v;
}

static void test_integers(void **state)
{
	static const struct {
		const char *text;
		int u_ret;
		uint64_t u;
		int i_ret;
		int64_t i;
	} cases[] = {
		{ "0", 0, 0, 0, 0 },
		{ "42", 0, 42, 0, 42 },
		{ "-1", -ERANGE, 0, 0, -1 },
		{ "18446744073709551615", 0, UINT64_MAX, -ERANGE, 0 },
		{ "9223372036854775807", 0, INT64_MAX, 0, INT64_MAX },
		{ "9223372036854775808", 0, (uint64_t)INT64_MAX + 1, -ERANGE, 0 },
		{ "-9223372036854775808", -ERANGE, 0, 0, INT64_MIN },
		{ "1.5", -EINVAL, 0, -EINVAL, 0 },
		{ "1e3", -EINVAL, 0, -EINVAL, 0 },
		{ "\"7\"", -EINVAL, 0, -EINVAL, 0 },
		{ "true", -EINVAL, 0, -EINVAL, 0 },
	};
	struct json_object *v;
	uint64_t u;
	int64_t i;
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		v = num(cases[k].text);
		u = 1234;
		i = 1234;
		if (json_get_u64(v, 0, UINT64_MAX, &u) != cases[k].u_ret)
			fail_msg("json_get_u64(%s)", cases[k].text);
		if (!cases[k].u_ret && u != cases[k].u)
			fail_msg("json_get_u64(%s) value", cases[k].text);
		if (json_get_i64(v, INT64_MIN, INT64_MAX, &i) != cases[k].i_ret)
			fail_msg("json_get_i64(%s)", cases[k].text);
		if (!cases[k].i_ret && i != cases[k].i)
			fail_msg("json_get_i64(%s) value", cases[k].text);
		json_object_put(v);
	}
	/* Ranges. */
	v = num("-1000");
	assert_int_equal(json_get_i64(v, -1000, 1000, &i), 0);
	assert_int_equal(i, -1000);
	assert_int_equal(json_get_i64(v, -999, 1000, &i), -ERANGE);
	assert_int_equal(json_get_i64(v, 0, 1000, &i), -ERANGE);
	json_object_put(v);
	v = num("1001");
	assert_int_equal(json_get_i64(v, -1000, 1000, &i), -ERANGE);
	assert_int_equal(json_get_i64(v, -1000, -1, &i), -ERANGE);
	assert_int_equal(json_get_u64(v, 0, 1000, &u), -ERANGE);
	assert_int_equal(json_get_u64(v, 1002, 2000, &u), -ERANGE);
	assert_int_equal(json_get_u64(v, 1001, 1001, &u), 0);
	json_object_put(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_integers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
