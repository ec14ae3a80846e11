/* Unit tests for lib/iov: slicing, copying and totalling iovec ranges, and the cursor. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "lib/iov.h"
#include "lib/util.h"

static uint8_t a[10], b[20], c[5];

/* Three entries of 10, 20 and 5 bytes: bytes 0..34 of the range hold their index. */
static void fill(struct iovec v[3])
{
	unsigned int i;

	v[0] = (struct iovec){ a, sizeof(a) };
	v[1] = (struct iovec){ b, sizeof(b) };
	v[2] = (struct iovec){ c, sizeof(c) };
	for (i = 0; i < 35; i++)
		*(i < 10 ? a + i : i < 30 ? b + i - 10 : c + i - 30) = (uint8_t)i;
}

static void test_slice_empty(void **state)
{
	struct iovec dst[2];

	(void)state;
	assert_int_equal(iov_slice(dst, 2, NULL, 0, 0, 0), 0);
	assert_int_equal(iov_slice(dst, 2, NULL, 0, 0, 1), -ERANGE);
	assert_int_equal(iov_slice(dst, 0, NULL, 0, 5, 0), 0);
	assert_int_equal(iov_total(NULL, 0), 0);
	assert_int_equal(iov_read(NULL, 0, 0, dst, 1), 0);
	assert_int_equal(iov_write(NULL, 0, 0, "x", 1), 0);
}

static void test_slice_exact(void **state)
{
	struct iovec src[3], dst[3];

	(void)state;
	fill(src);
	assert_int_equal(iov_slice(dst, 3, src, 3, 0, 35), 3);
	assert_memory_equal(dst, src, sizeof(src));
	/* One entry's bytes exactly, and the range ending where src ends. */
	assert_int_equal(iov_slice(dst, 1, src, 3, 10, 20), 1);
	assert_ptr_equal(dst[0].iov_base, b);
	assert_int_equal(dst[0].iov_len, 20);
	assert_int_equal(iov_slice(dst, 1, src, 3, 30, 5), 1);
	assert_ptr_equal(dst[0].iov_base, c);
	assert_int_equal(dst[0].iov_len, 5);
}

static void test_slice_spanning(void **state)
{
	struct iovec src[3], dst[3];

	(void)state;
	fill(src);
	assert_int_equal(iov_slice(dst, 3, src, 3, 12, 10), 1);
	assert_ptr_equal(dst[0].iov_base, b + 2);
	assert_int_equal(dst[0].iov_len, 10);
	assert_int_equal(iov_slice(dst, 3, src, 3, 8, 24), 3);
	assert_ptr_equal(dst[0].iov_base, a + 8);
	assert_int_equal(dst[0].iov_len, 2);
	assert_ptr_equal(dst[1].iov_base, b);
	assert_int_equal(dst[1].iov_len, 20);
	assert_ptr_equal(dst[2].iov_base, c);
	assert_int_equal(dst[2].iov_len, 2);
	/* Everything after a header, as the devices cut a frame or packet. */
	assert_int_equal(iov_slice(dst, 3, src, 3, 12, 23), 2);
	assert_ptr_equal(dst[0].iov_base, b + 2);
	assert_int_equal(dst[0].iov_len, 18);
	assert_int_equal(dst[1].iov_len, 5);
}

static void test_slice_past_end(void **state)
{
	struct iovec src[3], dst[3];

	(void)state;
	fill(src);
	assert_int_equal(iov_slice(dst, 3, src, 3, 30, 6), -ERANGE);
	assert_int_equal(iov_slice(dst, 3, src, 3, 0, 36), -ERANGE);
	assert_int_equal(iov_slice(dst, 3, src, 3, 35, 1), -ERANGE);
	assert_int_equal(iov_slice(dst, 3, src, 3, SIZE_MAX, 1), -ERANGE);
	assert_int_equal(iov_slice(dst, 3, src, 3, 1, SIZE_MAX), -ERANGE);
	assert_int_equal(iov_slice(dst, 3, src, 3, SIZE_MAX, SIZE_MAX), -ERANGE);
	/* An empty range is empty wherever it is. */
	assert_int_equal(iov_slice(dst, 3, src, 3, 35, 0), 0);
	assert_int_equal(iov_slice(dst, 3, src, 3, 100, 0), 0);
}

static void test_slice_cap(void **state)
{
	struct iovec src[3], dst[3];

	(void)state;
	fill(src);
	memset(dst, 0, sizeof(dst));
	assert_int_equal(iov_slice(dst, 1, src, 3, 5, 10), -ENOBUFS);
	/* Nothing past the cap was written. */
	assert_null(dst[1].iov_base);
	assert_int_equal(iov_slice(dst, 2, src, 3, 0, 35), -ENOBUFS);
	assert_int_equal(iov_slice(dst, 0, src, 3, 0, 1), -ENOBUFS);
	assert_int_equal(iov_slice(dst, 2, src, 3, 5, 25), 2);
}

static void test_zero_length_entries(void **state)
{
	uint8_t x[4] = { 1, 2, 3, 4 }, y[4] = { 5, 6, 7, 8 }, got[8];
	struct iovec src[5] = { { x, 0 }, { x, 4 }, { y, 0 }, { y, 0 }, { y, 4 } }, dst[5];
	struct iov_cursor cur;

	(void)state;
	/* Never copied into a slice, never counted against the cap. */
	assert_int_equal(iov_slice(dst, 2, src, 5, 0, 8), 2);
	assert_ptr_equal(dst[0].iov_base, x);
	assert_ptr_equal(dst[1].iov_base, y);
	assert_int_equal(iov_slice(dst, 1, src, 5, 4, 4), 1);
	assert_ptr_equal(dst[0].iov_base, y);
	assert_int_equal(dst[0].iov_len, 4);
	assert_int_equal(iov_total(src, 5), 8);
	assert_int_equal(iov_read(src, 5, 3, got, 8), 5);
	assert_memory_equal(got, "\4\5\6\7\10", 5);
	iov_cursor_init(&cur, src, 5, 4);
	assert_int_equal(iov_cursor_read(&cur, got, 2), 2);
	assert_memory_equal(got, "\5\6", 2);
	/* Only empty entries: nothing to slice or copy. */
	assert_int_equal(iov_slice(dst, 5, src + 2, 2, 0, 0), 0);
	assert_int_equal(iov_slice(dst, 5, src + 2, 2, 0, 1), -ERANGE);
	assert_int_equal(iov_read(src + 2, 2, 0, got, 1), 0);
}

/*
 * A guest may alias one small buffer with descriptors of any length: totals saturate, offsets
 * far past 4 GiB slice right, and nothing adds an offset to a length. Only the bytes the
 * calls are asked to copy are touched (the entries here claim more than the buffers hold).
 */
static void test_huge_lengths(void **state)
{
	static uint8_t buf[16];
	struct iovec big[4], dst[4];
	uint8_t got[4];
	unsigned int i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(big); i++)
		big[i] = (struct iovec){ buf, SIZE_MAX / 2 };
	assert_true(iov_total(big, 2) == SIZE_MAX - 1);
	assert_true(iov_total(big, 3) == SIZE_MAX);
	assert_true(iov_total(big, 4) == SIZE_MAX);
	for (i = 0; i < ARRAY_SIZE(big); i++)
		big[i].iov_len = (size_t)1 << 32;
	assert_true(iov_total(big, 4) == (size_t)4 << 32);
	/* 4 GiB + 3 is byte 3 of the second entry. */
	assert_int_equal(iov_slice(dst, 4, big, 4, ((size_t)1 << 32) + 3, 2), 1);
	assert_ptr_equal(dst[0].iov_base, buf + 3);
	assert_int_equal(dst[0].iov_len, 2);
	/* A range across an entry boundary far out. */
	assert_int_equal(iov_slice(dst, 4, big, 4, ((size_t)2 << 32) - 1, 2), 2);
	assert_true((uintptr_t)dst[0].iov_base == (uintptr_t)buf + ((size_t)1 << 32) - 1);
	assert_int_equal(dst[0].iov_len, 1);
	assert_ptr_equal(dst[1].iov_base, buf);
	assert_int_equal(dst[1].iov_len, 1);
	assert_int_equal(iov_slice(dst, 4, big, 4, SIZE_MAX - 1, 1), -ERANGE);
	assert_int_equal(iov_slice(dst, 4, big, 4, 0, SIZE_MAX), -ERANGE);
	assert_int_equal(iov_slice(dst, 2, big, 4, 0, (size_t)3 << 32), -ENOBUFS);
	assert_int_equal(iov_slice(dst, 3, big, 4, (size_t)1 << 32, (size_t)3 << 32), 3);
	memcpy(buf, "abcd", 4);
	assert_int_equal(iov_read(big, 4, (size_t)3 << 32, got, 4), 4);
	assert_memory_equal(got, "abcd", 4);
	assert_int_equal(iov_read(big, 4, SIZE_MAX, got, 4), 0);
	assert_int_equal(iov_write(big, 4, (size_t)2 << 32, "wxyz", 4), 4);
	assert_memory_equal(buf, "wxyz", 4);
}

static void test_read_write(void **state)
{
	struct iovec v[3];
	uint8_t got[40], want[40];
	unsigned int i;

	(void)state;
	fill(v);
	for (i = 0; i < 35; i++)
		want[i] = (uint8_t)i;
	memset(got, 0xee, sizeof(got));
	assert_int_equal(iov_read(v, 3, 0, got, 35), 35);
	assert_memory_equal(got, want, 35);
	/* Fewer when the iovecs end first; none past the end. */
	assert_int_equal(iov_read(v, 3, 8, got, 40), 27);
	assert_memory_equal(got, want + 8, 27);
	assert_int_equal(iov_read(v, 3, 35, got, 1), 0);
	assert_int_equal(iov_read(v, 3, 36, got, 1), 0);
	assert_int_equal(iov_read(v, 3, 9, got, 0), 0);
	/* Across all three entries. */
	memset(want, 0x5a, sizeof(want));
	assert_int_equal(iov_write(v, 3, 9, want, 22), 22);
	assert_int_equal(a[8], 8);
	assert_int_equal(a[9], 0x5a);
	assert_true(b[0] == 0x5a && b[19] == 0x5a);
	assert_int_equal(c[0], 0x5a);
	assert_int_equal(c[1], 31);
	assert_int_equal(iov_write(v, 3, 33, want, 10), 2);
	assert_int_equal(c[4], 0x5a);
}

static void test_cursor(void **state)
{
	struct iovec v[3];
	struct iov_cursor cur;
	uint8_t got[40];
	unsigned int i;

	(void)state;
	fill(v);
	/* Fields read one after the other move on, across entry boundaries. */
	iov_cursor_init(&cur, v, 3, 4);
	for (i = 0; i < 5; i++) {
		assert_int_equal(iov_cursor_read(&cur, got, 6), 6);
		assert_int_equal(got[0], 4 + 6 * i);
		assert_int_equal(got[5], 9 + 6 * i);
	}
	assert_int_equal(iov_cursor_read(&cur, got, 6), 1);
	assert_int_equal(got[0], 34);
	assert_int_equal(iov_cursor_read(&cur, got, 6), 0);
	/* Writes too. */
	iov_cursor_init(&cur, v, 3, 28);
	assert_int_equal(iov_cursor_write(&cur, "ABC", 3), 3);
	assert_int_equal(iov_cursor_write(&cur, "DEFGHI", 6), 4);
	assert_memory_equal(b + 18, "AB", 2);
	assert_memory_equal(c, "CDEFG", 5);
	/* Started at the end or past it: nothing. */
	iov_cursor_init(&cur, v, 3, 35);
	assert_int_equal(iov_cursor_read(&cur, got, 1), 0);
	iov_cursor_init(&cur, v, 3, SIZE_MAX);
	assert_int_equal(iov_cursor_read(&cur, got, 1), 0);
	assert_int_equal(iov_cursor_write(&cur, "x", 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slice_empty),    cmocka_unit_test(test_slice_exact),
		cmocka_unit_test(test_slice_spanning), cmocka_unit_test(test_slice_past_end),
		cmocka_unit_test(test_slice_cap),      cmocka_unit_test(test_zero_length_entries),
		cmocka_unit_test(test_huge_lengths),   cmocka_unit_test(test_read_write),
		cmocka_unit_test(test_cursor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
