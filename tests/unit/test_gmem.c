/* Unit tests for the guest-memory translator: region bookkeeping, bounds, wrap and copies. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

/* --- gmem_release: pages given back to the host ------------------------------------------- */

#define PAGES 16
#define PG GMEM_PAGE

/* A mapping of n pages with every page touched (resident), each holding its index. */
static uint8_t *touched(size_t n, int flags)
{
	uint8_t *p = mmap(NULL, n * PG, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);
	size_t i;

	assert_true(p != MAP_FAILED);
	for (i = 0; i < n; i++)
		memset(p + i * PG, (int)(i + 1), PG);
	return p;
}

/* Bit i: page i of p is resident. */
static unsigned int resident(uint8_t *p, size_t n)
{
	unsigned char vec[PAGES];
	unsigned int bits = 0;
	size_t i;

	assert_true(n <= PAGES);
	assert_int_equal(mincore(p, n * PG, vec), 0);
	for (i = 0; i < n; i++)
		bits |= (vec[i] & 1u) << i;
	return bits;
}

static void test_release_private(void **state)
{
	uint8_t *p = touched(PAGES, MAP_PRIVATE);
	struct gmem m = { 0 };

	(void)state;
	assert_int_equal(gmem_add(&m, 0x100000, PAGES * PG, p), 0);
	assert_int_equal(resident(p, PAGES), 0xffff);
	/* Pages 2..5 go back: they are no longer resident and read as zeros; the rest stay. */
	assert_int_equal(gmem_release(&m, 0x100000 + 2 * PG, 4 * PG), 0);
	assert_int_equal(resident(p, PAGES), 0xffc3);
	assert_int_equal(p[2 * PG], 0);
	assert_int_equal(p[6 * PG - 1], 0);
	assert_int_equal(p[1 * PG], 2);
	assert_int_equal(p[6 * PG], 7);
	munmap(p, PAGES * PG);
}

static void test_release_shared(void **state)
{
	uint8_t *p = touched(PAGES, MAP_SHARED);
	struct gmem m = { 0 };

	(void)state;
	assert_int_equal(gmem_add_backed(&m, 0, PAGES * PG, p, GMEM_SHARED), 0);
	assert_int_equal(m.r[0].backing, GMEM_SHARED);
	/* MADV_REMOVE frees the shared memory itself: the page reads as zeros from then on. */
	assert_int_equal(gmem_release(&m, 3 * PG, PG), 0);
	assert_int_equal(resident(p, PAGES), 0xfff7);
	assert_int_equal(p[3 * PG], 0);
	assert_int_equal(p[4 * PG], 5);
	assert_int_equal(gmem_add_backed(&m, 1ULL << 32, PG, p, (enum gmem_backing)7), -EINVAL);
	munmap(p, PAGES * PG);
}

static void test_release_refuses(void **state)
{
	uint8_t *p = touched(PAGES, MAP_PRIVATE);
	struct gmem m = { 0 };

	(void)state;
	/* Two regions with a hole between them: [0x10000, +8 pages), [0x20000, +8 pages). */
	assert_int_equal(gmem_add(&m, 0x10000, 8 * PG, p), 0);
	assert_int_equal(gmem_add(&m, 0x20000, 8 * PG, p + 8 * PG), 0);
	/* Misaligned start or length, length 0, wrap. */
	assert_int_equal(gmem_release(&m, 0x10001, PG), -EINVAL);
	assert_int_equal(gmem_release(&m, 0x10000, PG + 1), -EINVAL);
	assert_int_equal(gmem_release(&m, 0x10000, 0), -EINVAL);
	assert_int_equal(gmem_release(&m, UINT64_MAX - PG + 1, 2 * PG), -EINVAL);
	/* Outside RAM, in the hole, straddling into the hole or past the end: nothing released. */
	assert_int_equal(gmem_release(&m, 0, PG), -EFAULT);
	assert_int_equal(gmem_release(&m, 0x18000, PG), -EFAULT);
	assert_int_equal(gmem_release(&m, 0x17000, 2 * PG), -EFAULT);
	assert_int_equal(gmem_release(&m, 0x10000, 0x20000), -EFAULT);
	assert_int_equal(gmem_release(&m, 0x27000, 2 * PG), -EFAULT);
	assert_int_equal(gmem_release(&m, 0xf000, 2 * PG), -EFAULT);
	assert_int_equal(resident(p, PAGES), 0xffff);
	/* Host side: only whole pages of a region. */
	assert_int_equal(gmem_release_host(&m, p + 1, PG), -EINVAL);
	assert_int_equal(gmem_release_host(&m, p, PG / 2), -EINVAL);
	assert_int_equal(gmem_release_host(&m, p + 7 * PG, 2 * PG), -EFAULT);
	assert_int_equal(gmem_release_host(&m, p + 16 * PG, PG), -EFAULT);
	assert_int_equal(resident(p, PAGES), 0xffff);
	assert_int_equal(gmem_release_host(&m, p + 9 * PG, 2 * PG), 0);
	assert_int_equal(resident(p, PAGES), 0xf9ff);
	munmap(p, PAGES * PG);
}

static void test_release_adjacent(void **state)
{
	uint8_t *p = touched(PAGES, MAP_PRIVATE);
	struct gmem m = { 0 };

	(void)state;
	/* Back to back in guest space, apart on the host: one range covers both. */
	assert_int_equal(gmem_add(&m, 0x40000, 4 * PG, p + 8 * PG), 0);
	assert_int_equal(gmem_add(&m, 0x44000, 4 * PG, p), 0);
	assert_int_equal(gmem_release(&m, 0x43000, 2 * PG), 0);
	assert_int_equal(resident(p, PAGES), 0xf7fe);
	/* A region whose size is no page multiple cannot give its partial page back. */
	m = (struct gmem){ 0 };
	assert_int_equal(gmem_add(&m, 0x40000, PG + 512, p), 0);
	assert_int_equal(gmem_add(&m, 0x41200, PG, p + 4 * PG), 0);
	assert_int_equal(gmem_release(&m, 0x40000, 2 * PG), -EINVAL);
	munmap(p, PAGES * PG);
}

/* What a new mapping can still reserve: free less others' reservations, plus overcommit room. */
static void test_huge_available(void **state)
{
	static const struct {
		struct gmem_huge_pool pool;
		uint64_t want;
	} cases[] = {
		{ { .free = 0 }, 0 },
		{ { .free = 128 }, 128 },
		{ { .free = 128, .resv = 100 }, 28 },
		{ { .free = 128, .resv = 128 }, 0 },
		/* Counts read at different moments may disagree: never below 0. */
		{ { .free = 10, .resv = 20 }, 0 },
		{ { .free = 10, .resv = 4, .overcommit = 16, .surplus = 6 }, 16 },
		{ { .free = 10, .overcommit = 4, .surplus = 9 }, 10 },
		{ { .free = UINT64_MAX, .overcommit = UINT64_MAX }, UINT64_MAX },
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (gmem_huge_available(&cases[i].pool) != cases[i].want)
			fail_msg("case %u: %llu, not %llu", i,
				 (unsigned long long)gmem_huge_available(&cases[i].pool),
				 (unsigned long long)cases[i].want);
	assert_int_equal(gmem_huge_pages(0), 0);
	assert_int_equal(gmem_huge_pages(1), 1);
	assert_int_equal(gmem_huge_pages(GMEM_HUGE_PAGE), 1);
	assert_int_equal(gmem_huge_pages(GMEM_HUGE_PAGE + 4096), 2);
	assert_int_equal(gmem_huge_pages(256ULL << 20), 128);
	assert_int_equal(gmem_huge_pages(UINT64_MAX), (UINT64_MAX >> 21) + 1);
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void rm_pool(const char *dir)
{
	static const char *const names[] = { "free_hugepages", "resv_hugepages",
					     "nr_overcommit_hugepages", "surplus_hugepages" };
	char path[256];
	unsigned int i;

	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* The pool's sysfs files, one decimal count each; anything else is refused. */
static void test_huge_pool_read(void **state)
{
	char dir[] = "/tmp/test_gmem_pool.XXXXXX";
	struct gmem_huge_pool p;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(gmem_huge_pool_read(dir, &p), -ENOENT);
	put(dir, "free_hugepages", "100\n");
	put(dir, "resv_hugepages", "30\n");
	put(dir, "nr_overcommit_hugepages", "0\n");
	assert_int_equal(gmem_huge_pool_read(dir, &p), -ENOENT);
	put(dir, "surplus_hugepages", "0\n");
	assert_int_equal(gmem_huge_pool_read(dir, &p), 0);
	assert_true(p.free == 100 && p.resv == 30 && p.overcommit == 0 && p.surplus == 0);
	assert_int_equal(gmem_huge_available(&p), 70);
	put(dir, "resv_hugepages", "lots\n");
	assert_int_equal(gmem_huge_pool_read(dir, &p), -EINVAL);
	put(dir, "resv_hugepages", "");
	assert_int_equal(gmem_huge_pool_read(dir, &p), -EINVAL);
	put(dir, "resv_hugepages", "-1\n");
	assert_int_equal(gmem_huge_pool_read(dir, &p), -EINVAL);
	put(dir, "resv_hugepages", "1\n2\n");
	assert_int_equal(gmem_huge_pool_read(dir, &p), -EINVAL);
	put(dir, "resv_hugepages", "99999999999999999999999999\n");
	assert_int_equal(gmem_huge_pool_read(dir, &p), -EINVAL);
	rm_pool(dir);
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
		cmocka_unit_test(test_release_private),
		cmocka_unit_test(test_release_shared),
		cmocka_unit_test(test_release_refuses),
		cmocka_unit_test(test_release_adjacent),
		cmocka_unit_test(test_huge_available),
		cmocka_unit_test(test_huge_pool_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
