/* Unit tests for initrd placement: the top of usable memory, alignment, and the floor. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>

#include "boot/boot.h"

#define MIB (1ULL << 20)

static void test_limit_below_ram_end(void **state)
{
	uint64_t a = 0;

	(void)state;
	/* initrd_addr_max 0x37ffffff, 2 GiB of RAM: the kernel's limit wins. */
	assert_int_equal(boot_place_initrd(16 * MIB, 2048 * MIB, 0x38000000, 0x1000, &a), 0);
	assert_int_equal(a, 0x38000000 - 0x1000);
	assert_int_equal(boot_place_initrd(16 * MIB, 2048 * MIB, 0x38000000, 0x1800, &a), 0);
	assert_int_equal(a, 0x38000000 - 0x2000);
}

static void test_ram_end_below_limit(void **state)
{
	uint64_t a = 0;

	(void)state;
	assert_int_equal(boot_place_initrd(16 * MIB, 128 * MIB, 0x100000000ULL, 5 * MIB + 3, &a), 0);
	assert_int_equal(a, (128 * MIB - (5 * MIB + 3)) & ~0xfffULL);
	assert_true(a + 5 * MIB + 3 <= 128 * MIB);
	assert_int_equal(a % 4096, 0);
}

static void test_unaligned_top(void **state)
{
	uint64_t a = 0;

	(void)state;
	/* A limit that is not page aligned still bounds the end, not the start. */
	assert_int_equal(boot_place_initrd(0, 4096 * MIB, 0x7fffffff + 1ULL - 0x10, 0x1000, &a), 0);
	assert_int_equal(a, 0x7fffe000);
}

static void test_too_big(void **state)
{
	uint64_t a = 0x1234;

	(void)state;
	assert_int_equal(boot_place_initrd(0, 64 * MIB, UINT64_MAX, 64 * MIB + 1, &a), -ENOMEM);
	assert_int_equal(boot_place_initrd(0, 64 * MIB, UINT64_MAX, UINT64_MAX, &a), -ENOMEM);
	assert_int_equal(a, 0x1234);
	/* Exactly all of it fits when the floor is 0. */
	assert_int_equal(boot_place_initrd(0, 64 * MIB, UINT64_MAX, 64 * MIB, &a), 0);
	assert_int_equal(a, 0);
}

static void test_floor(void **state)
{
	uint64_t a = 0;

	(void)state;
	/* Room between floor and top, exactly. */
	assert_int_equal(boot_place_initrd(32 * MIB, 64 * MIB, UINT64_MAX, 32 * MIB, &a), 0);
	assert_int_equal(a, 32 * MIB);
	/* One byte more and alignment would push it onto the kernel. */
	assert_int_equal(boot_place_initrd(32 * MIB, 64 * MIB, UINT64_MAX, 32 * MIB + 1, &a),
			 -ENOMEM);
	/* Floor not page aligned: the aligned start must still be at or above it. */
	assert_int_equal(boot_place_initrd(32 * MIB + 1, 64 * MIB, UINT64_MAX, 32 * MIB - 4096,
					   &a), 0);
	assert_int_equal(a, 32 * MIB + 4096);
	assert_int_equal(boot_place_initrd(32 * MIB + 1, 64 * MIB, UINT64_MAX, 32 * MIB - 4095,
					   &a), -ENOMEM);
	/* Floor above the top. */
	assert_int_equal(boot_place_initrd(128 * MIB, 64 * MIB, UINT64_MAX, 1, &a), -ENOMEM);
}

static void test_zero_len(void **state)
{
	uint64_t a = 0;

	(void)state;
	assert_int_equal(boot_place_initrd(0, 64 * MIB, UINT64_MAX, 0, &a), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_below_ram_end),
		cmocka_unit_test(test_ram_end_below_limit),
		cmocka_unit_test(test_unaligned_top),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_floor),
		cmocka_unit_test(test_zero_len),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
