/* Unit tests for the guest-memory translator: region bookkeeping, bounds, wrap and copies. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "lib/gmem.h"

static uint8_t ram_a[0x4000], ram_b[0x2000];

static void test_add_basic(void **state)
{
	struct gmem m = { 0 };

	(void)state;
	assert_int_equal(gmem_add(&m, 0x10000, sizeof(ram_a), ram_a), 0);
	assert_int_equal(gmem_add(&m, 0x0, sizeof(ram_b), ram_b), 0);
	assert_int_equal(m.n, 2);
	/* Kept sorted by address whatever the order of adds. */
	assert_int_equal(m.r[0].gpa, 0);
	assert_int_equal(m.r[1].gpa, 0x10000);
	assert_int_equal(gmem_total(&m), sizeof(ram_a) + sizeof(ram_b));
	assert_int_equal(gmem_end(&m), 0x10000 + sizeof(ram_a));
}

static void test_add_rejects(void **state)
{
	struct gmem m = { 0 };

	(void)state;
	assert_int_equal(gmem_end(&m), 0);
	assert_int_equal(gmem_total(&m), 0);
	assert_int_equal(gmem_add(&m, 0x1000, 0, ram_a), -EINVAL);
	assert_int_equal(gmem_add(&m, 0x1000, 0x1000, NULL), -EINVAL);
	/* Wrap past 2^64, and a region ending exactly at 2^64 (its end is not representable). */
	assert_int_equal(gmem_add(&m, UINT64_MAX - 0xfff, 0x2000, ram_a), -EINVAL);
	assert_int_equal(gmem_add(&m, UINT64_MAX, 2, ram_a), -EINVAL);
	assert_int_equal(m.n, 0);

	assert_int_equal(gmem_add(&m, 0x10000, 0x4000, ram_a), 0);
	/* Overlaps: same range, inside, straddling either end, covering. */
	assert_int_equal(gmem_add(&m, 0x10000, 0x4000, ram_b), -EINVAL);
	assert_int_equal(gmem_add(&m, 0x11000, 0x1000, ram_b), -EINVAL);
	assert_int_equal(gmem_add(&m, 0xf000, 0x2000, ram_b), -EINVAL);
	assert_int_equal(gmem_add(&m, 0x13fff, 0x2000, ram_b), -EINVAL);
	assert_int_equal(gmem_add(&m, 0x0, 0x100000, ram_b), -EINVAL);
	assert_int_equal(m.n, 1);
	/* Touching ranges on either side are not overlaps. */
	assert_int_equal(gmem_add(&m, 0xe000, 0x2000, ram_b), 0);
	assert_int_equal(gmem_add(&m, 0x14000, 0x2000, ram_b), 0);
	assert_int_equal(m.n, 3);
}

static void test_add_full(void **state)
{
	struct gmem m = { 0 };
	unsigned int i;

	(void)state;
	for (i = 0; i < GMEM_MAX_REGIONS; i++)
		assert_int_equal(gmem_add(&m, (uint64_t)i << 20, 0x1000, ram_a), 0);
	assert_int_equal(gmem_add(&m, 0x100000000ULL, 0x1000, ram_a), -ENOSPC);
	assert_int_equal(m.n, GMEM_MAX_REGIONS);
	for (i = 1; i < GMEM_MAX_REGIONS; i++)
		assert_true(m.r[i - 1].gpa < m.r[i].gpa);
}

static void test_ptr_bounds(void **state)
{
	struct gmem m = { 0 };

	(void)state;
	assert_int_equal(gmem_add(&m, 0x10000, sizeof(ram_a), ram_a), 0);
	assert_ptr_equal(gmem_ptr(&m, 0x10000, 1), ram_a);
	assert_ptr_equal(gmem_ptr(&m, 0x10000, sizeof(ram_a)), ram_a);
	assert_ptr_equal(gmem_ptr(&m, 0x10123, 0x10), ram_a + 0x123);
	/* Last byte, exactly up to the end, one past the end. */
	assert_ptr_equal(gmem_ptr(&m, 0x13fff, 1), ram_a + 0x3fff);
	assert_ptr_equal(gmem_ptr(&m, 0x13ff0, 0x10), ram_a + 0x3ff0);
	assert_null(gmem_ptr(&m, 0x13ff0, 0x11));
	assert_null(gmem_ptr(&m, 0x14000, 1));
	assert_null(gmem_ptr(&m, 0xffff, 1));
	assert_null(gmem_ptr(&m, 0xffff, 2));
	assert_null(gmem_ptr(&m, 0x10000, sizeof(ram_a) + 1));
	/* len 0 is never a valid range, even inside RAM. */
	assert_null(gmem_ptr(&m, 0x10000, 0));
	/* Wrap at 2^64. */
	assert_null(gmem_ptr(&m, 0x10000, UINT64_MAX));
	assert_null(gmem_ptr(&m, UINT64_MAX, 2));
	assert_null(gmem_ptr(&m, UINT64_MAX, 1));
	assert_null(gmem_ptr(&m, 0x10001, UINT64_MAX));
}

static void test_ptr_adjacent_regions(void **state)
{
	struct gmem m = { 0 };

	(void)state;
	/* Two regions back to back in guest space, unrelated in host space. */
	assert_int_equal(gmem_add(&m, 0x0, sizeof(ram_b), ram_b), 0);
	assert_int_equal(gmem_add(&m, sizeof(ram_b), sizeof(ram_a), ram_a), 0);
	assert_ptr_equal(gmem_ptr(&m, sizeof(ram_b) - 4, 4), ram_b + sizeof(ram_b) - 4);
	assert_ptr_equal(gmem_ptr(&m, sizeof(ram_b), 4), ram_a);
	assert_null(gmem_ptr(&m, sizeof(ram_b) - 4, 8));
	assert_null(gmem_ptr(&m, sizeof(ram_b) - 1, 2));
	assert_null(gmem_ptr(&m, 0, sizeof(ram_b) + sizeof(ram_a)));
}

static void test_ptr_empty(void **state)
{
	struct gmem m = { 0 };

	(void)state;
	assert_null(gmem_ptr(&m, 0, 1));
	assert_null(gmem_ptr(&m, 0x1000, 0x1000));
}

static void test_read_write(void **state)
{
	struct gmem m = { 0 };
	uint8_t buf[16], back[16];
	unsigned int i;

	(void)state;
	memset(ram_a, 0, sizeof(ram_a));
	assert_int_equal(gmem_add(&m, 0x10000, sizeof(ram_a), ram_a), 0);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(0xa0 + i);
	assert_int_equal(gmem_write(&m, 0x13ff0, buf, sizeof(buf)), 0);
	assert_memory_equal(ram_a + 0x3ff0, buf, sizeof(buf));
	memset(back, 0, sizeof(back));
	assert_int_equal(gmem_read(&m, 0x13ff0, back, sizeof(back)), 0);
	assert_memory_equal(back, buf, sizeof(buf));

	/* One byte past the end: nothing is copied either way. */
	memset(back, 0x5a, sizeof(back));
	assert_int_equal(gmem_read(&m, 0x13ff1, back, sizeof(back)), -EFAULT);
	for (i = 0; i < sizeof(back); i++)
		assert_int_equal(back[i], 0x5a);
	memset(buf, 0x77, sizeof(buf));
	assert_int_equal(gmem_write(&m, 0x13ff1, buf, sizeof(buf)), -EFAULT);
	assert_int_equal(ram_a[0x3ff1], 0xa1);
	assert_int_equal(gmem_write(&m, 0x0, buf, 1), -EFAULT);
	assert_int_equal(gmem_read(&m, UINT64_MAX, back, 2), -EFAULT);
	assert_int_equal(gmem_read(&m, 0x10000, back, 0), -EFAULT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_basic),
		cmocka_unit_test(test_add_rejects),
		cmocka_unit_test(test_add_full),
		cmocka_unit_test(test_ptr_bounds),
		cmocka_unit_test(test_ptr_adjacent_regions),
		cmocka_unit_test(test_ptr_empty),
		cmocka_unit_test(test_read_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
