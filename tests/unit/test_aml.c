/* Unit tests for the AML encoder: byte strings checked against iasl 20200925 output. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86_64/acpi.h"

/* An allocator that always fails, injected where the encoder allocates. */
static void *no_alloc(void *p, size_t n)
{
	(void)p;
	(void)n;
	return NULL;
}

static void expect_bytes(const struct aml *a, const uint8_t *want, size_t n)
{
	assert_int_equal(a->error, 0);
	assert_int_equal(a->depth, 0);
	assert_int_equal(a->len, n);
	assert_memory_equal(a->buf, want, n);
}

#define EXPECT(a, ...)                                                   \
	do {                                                             \
		static const uint8_t want_[] = { __VA_ARGS__ };          \
		expect_bytes((a), want_, sizeof(want_));                 \
	} while (0)

static void check_int(uint64_t v, const uint8_t *want, size_t n)
{
	struct aml a;

	aml_init(&a);
	aml_integer(&a, v);
	expect_bytes(&a, want, n);
	aml_free(&a);
}

static void test_integers(void **state)
{
	(void)state;
	check_int(0, (const uint8_t[]){ 0x00 }, 1);
	check_int(1, (const uint8_t[]){ 0x01 }, 1);
	check_int(2, (const uint8_t[]){ 0x0a, 0x02 }, 2);
	check_int(0xff, (const uint8_t[]){ 0x0a, 0xff }, 2);
	check_int(0x100, (const uint8_t[]){ 0x0b, 0x00, 0x01 }, 3);
	check_int(0xffff, (const uint8_t[]){ 0x0b, 0xff, 0xff }, 3);
	check_int(0x10000, (const uint8_t[]){ 0x0c, 0x00, 0x00, 0x01, 0x00 }, 5);
	check_int(0xffffffff, (const uint8_t[]){ 0x0c, 0xff, 0xff, 0xff, 0xff }, 5);
	check_int(0x100000000ULL,
		  (const uint8_t[]){ 0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00 }, 9);
}

static void test_strings(void **state)
{
	struct aml a;

	(void)state;
	aml_init(&a);
	aml_string(&a, "");
	aml_string(&a, "AB");
	EXPECT(&a, 0x0d, 0x00, 0x0d, 'A', 'B', 0x00);
	aml_free(&a);

	aml_string(&a, "caf\xc3\xa9");
	assert_int_equal(a.error, -EINVAL);
	aml_free(&a);
}

static void test_eisaid(void **state)
{
	static const char *const bad[] = { "pnp0501", "PNP050", "PNP05011", "PNP05G1", "P1P0501" };
	struct aml a;
	size_t i;

	(void)state;
	aml_init(&a);
	aml_eisaid(&a, "PNP0501");	/* 0x0105d041 */
	aml_eisaid(&a, "PNP0B00");	/* 0x000bd041 */
	EXPECT(&a, 0x0c, 0x41, 0xd0, 0x05, 0x01, 0x0c, 0x41, 0xd0, 0x0b, 0x00);
	aml_free(&a);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_eisaid(&a, bad[i]);
		assert_int_equal(a.error, -EINVAL);
		aml_free(&a);
	}
}

static void test_s5_package(void **state)
{
	struct aml a;

	(void)state;
	aml_init(&a);
	aml_name(&a, "_S5");	/* padded to _S5_ */
	aml_package_begin(&a, 2);
	aml_integer(&a, 5);
	aml_integer(&a, 0);
	aml_end(&a);
	EXPECT(&a, 0x08, '_', 'S', '5', '_', 0x12, 0x05, 0x02, 0x0a, 0x05, 0x00);
	aml_free(&a);
}

static void test_mmio_device(void **state)
{
	struct aml a;

	(void)state;
	aml_init(&a);
	aml_device_begin(&a, "VR00");
	aml_name(&a, "_HID");
	aml_string(&a, "LNRO0005");
	aml_name(&a, "_UID");
	aml_integer(&a, 0);
	aml_name(&a, "_CRS");
	aml_rt_begin(&a);
	aml_rt_memory32_fixed(&a, 0xfe001000, 0x1000, 1);
	aml_rt_interrupt(&a, 5, 0, 0);
	aml_rt_end(&a);
	aml_end(&a);
	EXPECT(&a, 0x5b, 0x82, 0x3a, 'V', 'R', '0', '0',
	       0x08, '_', 'H', 'I', 'D', 0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00,
	       0x08, '_', 'U', 'I', 'D', 0x00,
	       0x08, '_', 'C', 'R', 'S', 0x11, 0x1a, 0x0a, 0x17,
	       0x86, 0x09, 0x00, 0x01, 0x00, 0x10, 0x00, 0xfe, 0x00, 0x10, 0x00, 0x00,
	       0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00,
	       0x79, 0x00);
	aml_free(&a);
}

static void test_com1_device(void **state)
{
	struct aml a;

	(void)state;
	aml_init(&a);
	aml_device_begin(&a, "COM1");
	aml_name(&a, "_HID");
	aml_eisaid(&a, "PNP0501");
	aml_name(&a, "_UID");
	aml_integer(&a, 0);
	aml_name(&a, "_CRS");
	aml_rt_begin(&a);
	aml_rt_io(&a, 0x3f8, 8);
	aml_rt_interrupt(&a, 4, 0, 0);
	aml_rt_end(&a);
	aml_end(&a);
	EXPECT(&a, 0x5b, 0x82, 0x31, 'C', 'O', 'M', '1',
	       0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01,
	       0x08, '_', 'U', 'I', 'D', 0x00,
	       0x08, '_', 'C', 'R', 'S', 0x11, 0x16, 0x0a, 0x13,
	       0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,
	       0x89, 0x06, 0x00, 0x03, 0x01, 0x04, 0x00, 0x00, 0x00,
	       0x79, 0x00);
	aml_free(&a);
}

/* A template over 255 bytes needs a WordConst BufferSize (iasl: 0b 73 01). */
static void test_big_template(void **state)
{
	struct aml a;
	int i;

	(void)state;
	aml_init(&a);
	aml_rt_begin(&a);
	for (i = 0; i < 30; i++)
		aml_rt_memory32_fixed(&a, 0x1000, 0x10, 0);
	aml_rt_interrupt(&a, 5, 1, 1);
	aml_rt_end(&a);
	assert_int_equal(a.error, 0);
	assert_int_equal(a.len, 377);
	assert_memory_equal(a.buf, ((const uint8_t[]){ 0x11, 0x48, 0x17, 0x0b, 0x73, 0x01, 0x86 }), 7);
	assert_memory_equal(a.buf + 366, ((const uint8_t[]){ 0x89, 0x06, 0x00, 0x05, 0x01, 0x05,
							     0x00, 0x00, 0x00, 0x79, 0x00 }), 11);
	aml_free(&a);
}

/* Scope(ABCD) whose body (NameSeg + one string) is exactly body bytes long. */
static void check_pkglen(size_t body, const uint8_t *want, size_t n)
{
	struct aml a;
	char *s;

	s = malloc(body - 6 + 1);
	assert_non_null(s);
	memset(s, 'x', body - 6);
	s[body - 6] = 0;
	aml_init(&a);
	aml_scope_begin(&a, "ABCD");
	aml_string(&a, s);
	aml_end(&a);
	assert_int_equal(a.error, 0);
	assert_int_equal(a.depth, 0);
	assert_int_equal(a.len, 1 + n + body);
	assert_int_equal(a.buf[0], 0x10);
	assert_memory_equal(a.buf + 1, want, n);
	/* The body moved intact behind the widened PkgLength. */
	assert_memory_equal(a.buf + 1 + n, "ABCD\x0dx", 6);
	assert_int_equal(a.buf[a.len - 2], 'x');
	assert_int_equal(a.buf[a.len - 1], 0);
	aml_free(&a);
	free(s);
}

static void test_pkglength(void **state)
{
	(void)state;
	check_pkglen(7, (const uint8_t[]){ 0x08 }, 1);
	check_pkglen(62, (const uint8_t[]){ 0x3f }, 1);
	check_pkglen(63, (const uint8_t[]){ 0x41, 0x04 }, 2);	/* 65 */
	check_pkglen(64, (const uint8_t[]){ 0x42, 0x04 }, 2);	/* 66 */
	check_pkglen(4093, (const uint8_t[]){ 0x4f, 0xff }, 2);	/* 4095 */
	check_pkglen(4094, (const uint8_t[]){ 0x81, 0x00, 0x01 }, 3);	/* 4097 */
	check_pkglen(4095, (const uint8_t[]){ 0x82, 0x00, 0x01 }, 3);
	check_pkglen(4096, (const uint8_t[]){ 0x83, 0x00, 0x01 }, 3);
	check_pkglen(0xffffc, (const uint8_t[]){ 0x8f, 0xff, 0xff }, 3);	/* 0xfffff */
	check_pkglen(0xffffd, (const uint8_t[]){ 0xc1, 0x00, 0x00, 0x01 }, 4);	/* 0x100001 */
}

static void check_name(const char *name, const uint8_t *want, size_t n)
{
	struct aml a;

	aml_init(&a);
	aml_name(&a, name);
	assert_int_equal(a.error, 0);
	assert_int_equal(a.len, n + 1);
	assert_int_equal(a.buf[0], 0x08);
	assert_memory_equal(a.buf + 1, want, n);
	aml_free(&a);
}

static void test_names(void **state)
{
	struct aml a;

	(void)state;
	check_name("_HID", (const uint8_t *)"_HID", 4);
	check_name("A", (const uint8_t *)"A___", 4);
	check_name("\\_SB_.VR00", (const uint8_t *)"\\\x2e_SB_VR00", 10);
	check_name("\\_SB.PCI0.S08", (const uint8_t *)"\\\x2f\x03_SB_PCI0S08_", 15);
	check_name("^^FOO", (const uint8_t *)"^^FOO_", 6);
	check_name("^A.B", (const uint8_t *)"^\x2e" "A___B___", 10);

	/* The root alone is a prefix with a NullName. */
	aml_init(&a);
	aml_scope_begin(&a, "\\");
	aml_end(&a);
	EXPECT(&a, 0x10, 0x03, 0x5c, 0x00);
	aml_free(&a);
}

static void test_bad_names(void **state)
{
	static const char *const bad[] = {
		"", "TOOLONG", "_SB_.", ".ABC", "_SB_..AB", "ab", "1ABC", "A-B", "\\\\A", "^\\A",
		"_SB_.VR000", "A B",
	};
	char many[256 * 2 + 1];
	struct aml a;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a);
		aml_name(&a, bad[i]);
		assert_int_equal(a.error, -EINVAL);
		aml_free(&a);
	}
	aml_name(&a, NULL);
	assert_int_equal(a.error, -EINVAL);
	aml_free(&a);

	/* MultiNamePrefix counts segments in one byte. */
	for (i = 0; i < 256; i++) {
		many[2 * i] = 'A';
		many[2 * i + 1] = '.';
	}
	many[2 * 255 + 1] = 0;
	aml_name(&a, many);
	assert_int_equal(a.error, -EINVAL);
	aml_free(&a);
	many[2 * 254 + 1] = 0;
	aml_name(&a, many);
	assert_int_equal(a.error, 0);
	assert_int_equal(a.len, 1 + 2 + 255 * 4);
	aml_free(&a);
}

static void test_depth(void **state)
{
	struct aml a;
	size_t len;
	int i;

	(void)state;
	aml_init(&a);
	for (i = 0; i < AML_MAX_DEPTH; i++)
		aml_scope_begin(&a, "ABCD");
	assert_int_equal(a.error, 0);
	aml_package_begin(&a, 0);
	assert_int_equal(a.error, -EINVAL);
	/* The error sticks: nothing more is encoded. */
	len = a.len;
	aml_integer(&a, 7);
	aml_end(&a);
	assert_int_equal(a.len, len);
	assert_int_equal(a.error, -EINVAL);
	aml_free(&a);

	aml_init(&a);
	for (i = 0; i < AML_MAX_DEPTH; i++)
		aml_scope_begin(&a, "ABCD");
	for (i = 0; i < AML_MAX_DEPTH; i++)
		aml_end(&a);
	assert_int_equal(a.error, 0);
	assert_int_equal(a.depth, 0);
	aml_free(&a);
}

static void test_misuse(void **state)
{
	struct aml a;

	(void)state;
	aml_init(&a);
	aml_end(&a);			/* nothing open */
	assert_int_equal(a.error, -EINVAL);
	aml_free(&a);

	aml_rt_io(&a, 0x70, 2);		/* descriptor outside a template */
	assert_int_equal(a.error, -EINVAL);
	aml_free(&a);

	aml_rt_begin(&a);
	aml_end(&a);			/* template closed without its EndTag */
	assert_int_equal(a.error, -EINVAL);
	aml_free(&a);

	aml_scope_begin(&a, "ABCD");
	aml_rt_end(&a);			/* not a template */
	assert_int_equal(a.error, -EINVAL);
	aml_free(&a);
}

static void test_enomem(void **state)
{
	struct aml a;

	(void)state;
	aml_init(&a);
	a.alloc = no_alloc;
	aml_integer(&a, 0x1234);
	assert_int_equal(a.error, -ENOMEM);
	assert_int_equal(a.len, 0);
	aml_integer(&a, 1);
	assert_int_equal(a.error, -ENOMEM);
	aml_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_eisaid),
		cmocka_unit_test(test_s5_package),
		cmocka_unit_test(test_mmio_device),
		cmocka_unit_test(test_com1_device),
		cmocka_unit_test(test_big_template),
		cmocka_unit_test(test_pkglength),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_enomem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
