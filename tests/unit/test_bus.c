/* Unit tests for the address-space bus: registration rules and dispatch by address. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "lib/bus.h"

/* A device that records its last access and answers reads with off + i. */
struct fake {
	unsigned int reads, writes;
	uint64_t off;
	uint32_t len;
	uint8_t data[8];
};

static void fake_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	struct fake *f = dev;
	uint32_t i;

	f->reads++;
	f->off = off;
	f->len = len;
	for (i = 0; i < len; i++)
		data[i] = (uint8_t)(off + i);
}

static void fake_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct fake *f = dev;

	f->writes++;
	f->off = off;
	f->len = len;
	memcpy(f->data, data, len);
}

static const struct bus_ops fake_ops = { .read = fake_read, .write = fake_write };
static const struct bus_ops write_only_ops = { .write = fake_write };
static const struct bus_ops no_ops = { 0 };

static struct bus b;

static int setup(void **state)
{
	(void)state;
	bus_init(&b, "test");
	return 0;
}

static void test_init(void **state)
{
	(void)state;
	assert_string_equal(b.name, "test");
	assert_int_equal(b.n, 0);
}

static void test_register_rejects(void **state)
{
	struct fake f = { 0 };

	(void)state;
	assert_int_equal(bus_register(&b, 0x100, 0, &fake_ops, &f, "zero"), -EINVAL);
	assert_int_equal(bus_register(&b, 0x100, 8, NULL, &f, "noops"), -EINVAL);
	assert_int_equal(bus_register(&b, UINT64_MAX - 3, 8, &fake_ops, &f, "wrap"), -EINVAL);
	assert_int_equal(bus_register(&b, UINT64_MAX - 7, 8, &fake_ops, &f, "to2^64"), -EINVAL);
	assert_int_equal(b.n, 0);

	assert_int_equal(bus_register(&b, 0x3f8, 8, &fake_ops, &f, "com1"), 0);
	assert_int_equal(bus_register(&b, 0x3f8, 8, &fake_ops, &f, "same"), -EINVAL);
	assert_int_equal(bus_register(&b, 0x3f0, 9, &fake_ops, &f, "low"), -EINVAL);
	assert_int_equal(bus_register(&b, 0x3ff, 1, &fake_ops, &f, "last"), -EINVAL);
	assert_int_equal(bus_register(&b, 0x3fa, 1, &fake_ops, &f, "inside"), -EINVAL);
	assert_int_equal(bus_register(&b, 0x300, 0x200, &fake_ops, &f, "cover"), -EINVAL);
	/* Neighbours that touch are fine. */
	assert_int_equal(bus_register(&b, 0x3f0, 8, &fake_ops, &f, "below"), 0);
	assert_int_equal(bus_register(&b, 0x400, 1, &fake_ops, &f, "above"), 0);
	assert_int_equal(b.n, 3);
}

static void test_register_full(void **state)
{
	struct fake f = { 0 };
	unsigned int i;

	(void)state;
	for (i = 0; i < BUS_MAX_RANGES; i++)
		assert_int_equal(bus_register(&b, 0x1000 + i * 0x10ULL, 0x10, &fake_ops, &f, "r"), 0);
	assert_int_equal(bus_register(&b, 0x100000, 1, &fake_ops, &f, "more"), -ENOSPC);
	assert_int_equal(b.n, BUS_MAX_RANGES);
}

static void test_dispatch_offset(void **state)
{
	struct fake lo = { 0 }, hi = { 0 }, mid = { 0 };
	uint8_t d[8];
	const uint8_t w[4] = { 1, 2, 3, 4 };

	(void)state;
	/* Registered out of order: lookups must still find each. */
	assert_int_equal(bus_register(&b, 0xfe000000, 0x1000, &fake_ops, &hi, "hi"), 0);
	assert_int_equal(bus_register(&b, 0x60, 1, &fake_ops, &lo, "lo"), 0);
	assert_int_equal(bus_register(&b, 0x3f8, 8, &fake_ops, &mid, "mid"), 0);

	assert_true(bus_read(&b, 0x3fd, d, 1));
	assert_int_equal(mid.reads, 1);
	assert_int_equal(mid.off, 5);
	assert_int_equal(d[0], 5);

	assert_true(bus_write(&b, 0xfe000ffc, w, 4));
	assert_int_equal(hi.writes, 1);
	assert_int_equal(hi.off, 0xffc);
	assert_int_equal(hi.len, 4);
	assert_memory_equal(hi.data, w, 4);

	assert_true(bus_read(&b, 0xfe000010, d, 8));
	assert_int_equal(hi.off, 0x10);
	assert_int_equal(hi.len, 8);
	assert_int_equal(d[7], 0x17);

	assert_true(bus_write(&b, 0x60, w, 1));
	assert_int_equal(lo.writes, 1);
	assert_int_equal(lo.off, 0);
	assert_int_equal(mid.writes, 0);
}

static void test_unclaimed(void **state)
{
	struct fake f = { 0 };
	uint8_t d[8];
	const uint8_t w[8] = { 0 };
	unsigned int i;

	(void)state;
	memset(d, 0, sizeof(d));
	assert_false(bus_read(&b, 0x80, d, 4));
	for (i = 0; i < 4; i++)
		assert_int_equal(d[i], 0xff);
	assert_int_equal(d[4], 0); /* only len bytes are touched */
	assert_false(bus_write(&b, 0x80, w, 4));

	assert_int_equal(bus_register(&b, 0x3f8, 8, &fake_ops, &f, "com1"), 0);
	/* Just outside on either side. */
	assert_false(bus_read(&b, 0x3f7, d, 1));
	assert_false(bus_read(&b, 0x400, d, 1));
	/* Straddling the end (or the start) belongs to nobody and the device sees nothing. */
	memset(d, 0, sizeof(d));
	assert_false(bus_read(&b, 0x3fe, d, 4));
	for (i = 0; i < 4; i++)
		assert_int_equal(d[i], 0xff);
	assert_false(bus_write(&b, 0x3fc, w, 8));
	assert_false(bus_read(&b, 0x3f6, d, 4));
	assert_int_equal(f.reads, 0);
	assert_int_equal(f.writes, 0);
	/* Exactly up to the end is fine. */
	assert_true(bus_read(&b, 0x3fc, d, 4));
	assert_int_equal(f.off, 4);
}

static void test_missing_ops(void **state)
{
	struct fake f = { 0 };
	uint8_t d[2] = { 0, 0 };
	const uint8_t w[2] = { 9, 9 };

	(void)state;
	assert_int_equal(bus_register(&b, 0x70, 2, &write_only_ops, &f, "wo"), 0);
	assert_int_equal(bus_register(&b, 0x80, 1, &no_ops, &f, "none"), 0);
	/* Claimed, but there is nothing to read: all ones, and still true. */
	assert_true(bus_read(&b, 0x70, d, 2));
	assert_int_equal(d[0], 0xff);
	assert_int_equal(d[1], 0xff);
	assert_true(bus_write(&b, 0x71, w, 1));
	assert_int_equal(f.writes, 1);
	assert_int_equal(f.off, 1);
	/* Neither op: accesses are swallowed. */
	d[0] = 0;
	assert_true(bus_read(&b, 0x80, d, 1));
	assert_int_equal(d[0], 0xff);
	assert_true(bus_write(&b, 0x80, w, 1));
	assert_int_equal(f.writes, 1);
}

static void test_high_addresses(void **state)
{
	struct fake f = { 0 };
	uint8_t d[8];

	(void)state;
	/* The very top of the space, ending one short of 2^64. */
	assert_int_equal(bus_register(&b, UINT64_MAX - 0xf, 0xf, &fake_ops, &f, "top"), 0);
	assert_true(bus_read(&b, UINT64_MAX - 1, d, 1));
	assert_int_equal(f.off, 0xe);
	assert_false(bus_read(&b, UINT64_MAX, d, 1));
	assert_false(bus_read(&b, UINT64_MAX - 1, d, 4));
	assert_false(bus_read(&b, 0, d, 8));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_init, setup),
		cmocka_unit_test_setup(test_register_rejects, setup),
		cmocka_unit_test_setup(test_register_full, setup),
		cmocka_unit_test_setup(test_dispatch_offset, setup),
		cmocka_unit_test_setup(test_unclaimed, setup),
		cmocka_unit_test_setup(test_missing_ops, setup),
		cmocka_unit_test_setup(test_high_addresses, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
