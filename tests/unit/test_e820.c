/* Unit tests for the x86 e820 memory map built from guest RAM regions. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/x86_64/x86.h"

/* e820 never touches guest memory, so every region can share one dummy host pointer. */
static uint8_t dummy;

static void add_ram(struct gmem *m, uint64_t size)
{
	struct arch_ram_range r[ARCH_MAX_RAM_RANGES];
	unsigned int n = arch_ram_layout(size, r), i;

	for (i = 0; i < n; i++)
		assert_int_equal(gmem_add(m, r[i].gpa, r[i].size, &dummy), 0);
}

static void assert_entry(const struct e820_entry *e, uint64_t start, uint64_t end, uint32_t type)
{
	if (e->addr != start || e->size != end - start || e->type != type)
		fail_msg("entry [0x%llx,+0x%llx) type %u, want [0x%llx,0x%llx) type %u",
			 (unsigned long long)e->addr, (unsigned long long)e->size, e->type,
			 (unsigned long long)start, (unsigned long long)end, type);
}

static void test_256m(void **state)
{
	struct gmem m = { 0 };
	struct e820_entry e[E820_MAX];

	(void)state;
	add_ram(&m, MiB(256));
	assert_int_equal(m.n, 1);
	assert_int_equal(x86_e820_build(&m, e, E820_MAX), 3);
	assert_entry(&e[0], 0, LAYOUT_EBDA, E820_RAM);
	assert_entry(&e[1], LAYOUT_ACPI, MiB(1), E820_RESERVED);
	assert_entry(&e[2], MiB(1), MiB(256), E820_RAM);
}

static void test_4g(void **state)
{
	struct gmem m = { 0 };
	struct e820_entry e[E820_MAX];

	(void)state;
	add_ram(&m, GiB(4));
	assert_int_equal(m.n, 2);
	assert_int_equal(m.r[0].gpa, 0);
	assert_int_equal(m.r[0].size, GiB(3));
	assert_int_equal(m.r[1].gpa, GiB(4));
	assert_int_equal(m.r[1].size, GiB(1));
	assert_int_equal(x86_e820_build(&m, e, E820_MAX), 4);
	assert_entry(&e[0], 0, 0x9fc00, E820_RAM);
	assert_entry(&e[1], 0xe0000, 0x100000, E820_RESERVED);
	assert_entry(&e[2], 0x100000, GiB(3), E820_RAM);
	assert_entry(&e[3], GiB(4), GiB(5), E820_RAM);
}

static void test_exactly_hole(void **state)
{
	struct gmem m = { 0 };
	struct e820_entry e[E820_MAX];
	uint64_t total = 0;
	int n, i;

	(void)state;
	/* RAM that ends exactly at the MMIO hole needs no high region. */
	add_ram(&m, LAYOUT_MMIO_HOLE);
	assert_int_equal(m.n, 1);
	n = x86_e820_build(&m, e, E820_MAX);
	assert_int_equal(n, 3);
	assert_entry(&e[2], MiB(1), LAYOUT_MMIO_HOLE, E820_RAM);
	/* Sorted, disjoint, and no RAM in the hole. */
	for (i = 0; i < n; i++) {
		if (i)
			assert_true(e[i].addr >= e[i - 1].addr + e[i - 1].size);
		assert_true(e[i].addr + e[i].size <= LAYOUT_MMIO_HOLE);
		if (e[i].type == E820_RAM)
			total += e[i].size;
	}
	assert_int_equal(total, LAYOUT_MMIO_HOLE - (MiB(1) - LAYOUT_EBDA));
}

static void test_too_small(void **state)
{
	struct gmem m = { 0 };
	struct e820_entry e[E820_MAX];

	(void)state;
	add_ram(&m, GiB(4));
	memset(e, 0, sizeof(e));
	assert_int_equal(x86_e820_build(&m, e, 3), -ENOSPC);
	assert_int_equal(x86_e820_build(&m, e, 1), -ENOSPC);
	assert_int_equal(x86_e820_build(&m, e, 0), -ENOSPC);
	assert_int_equal(x86_e820_build(&m, e, 4), 4);
}

static void test_empty(void **state)
{
	struct gmem m = { 0 };
	struct e820_entry e[1];

	(void)state;
	assert_int_equal(x86_e820_build(&m, e, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_256m),
		cmocka_unit_test(test_4g),
		cmocka_unit_test(test_exactly_hole),
		cmocka_unit_test(test_too_small),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
