/* Unit tests for the TLV codec: the byte layout, every type both ways, nesting, limits, bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "container/tlv.h"

static void test_layout(void **state)
{
	static const uint8_t want[] = {
		0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x78, 0x56, 0x34, 0x12, /* u32 */
		0x02, 0x01, 0x08, 0x00, 0x00, 0x00, 8, 7, 6, 5, 4, 3, 2, 1, /* u64 */
		0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,		    /* bool */
		0x04, 0x00, 0x02, 0x00, 0x00, 0x00, 'h', 'i',		    /* str */
		0x05, 0x00, 0x0a, 0x00, 0x00, 0x00,			    /* list of 10 bytes */
		0x06, 0x00, 0x04, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
		0x07, 0x00, 0x00, 0x00, 0x00, 0x00, /* an empty string */
	};
	struct tlv_w w;

	(void)state;
	tlv_w_init(&w, 1024);
	tlv_put_u32(&w, 1, 0x12345678);
	tlv_put_u64(&w, 0x102, 0x0102030405060708ull);
	tlv_put_bool(&w, 3, true);
	tlv_put_str(&w, 4, "hi");
	tlv_begin(&w, 5);
	tlv_put_u32(&w, 6, UINT32_MAX);
	tlv_end(&w);
	tlv_put_str(&w, 7, "");
	assert_int_equal(tlv_w_finish(&w), 0);
	assert_int_equal(w.len, sizeof(want));
	assert_memory_equal(w.data, want, sizeof(want));
	tlv_w_free(&w);
	assert_null(w.data);
}

static void test_read_back(void **state)
{
	static const uint8_t blob[] = { 0xde, 0xad, 0x00, 0xbe, 0xef };
	struct tlv_r r, val, list, inner;
	struct tlv_w w;
	uint16_t tag;
	uint32_t u;
	uint64_t q;
	bool b;
	char *s;

	(void)state;
	tlv_w_init(&w, 4096);
	tlv_put_u32(&w, 10, 7);
	tlv_put_u64(&w, 11, UINT64_MAX);
	tlv_put_bool(&w, 12, false);
	tlv_put_str(&w, 13, "hello world");
	tlv_put_bytes(&w, 14, blob, sizeof(blob));
	tlv_begin(&w, 15);
	tlv_put_str(&w, 1, "");
	tlv_end(&w);
	assert_int_equal(tlv_w_finish(&w), 0);

	tlv_r_init(&r, w.data, w.len);
	assert_int_equal(tlv_next(&r, &tag, &val), 1);
	assert_int_equal(tag, 10);
	assert_int_equal(tlv_u32(&val, &u), 0);
	assert_int_equal(u, 7);
	assert_int_equal(tlv_u64(&val, &q), -EINVAL); /* a u32 is not a u64 */
	assert_int_equal(tlv_bool(&val, &b), -EINVAL);
	assert_int_equal(tlv_next(&r, &tag, &val), 1);
	assert_int_equal(tlv_u64(&val, &q), 0);
	assert_true(q == UINT64_MAX);
	assert_int_equal(tlv_u32(&val, &u), -EINVAL);
	assert_int_equal(tlv_next(&r, &tag, &val), 1);
	b = true;
	assert_int_equal(tlv_bool(&val, &b), 0);
	assert_false(b);
	assert_int_equal(tlv_next(&r, &tag, &val), 1);
	assert_int_equal(tlv_str(&val, &s), 0);
	assert_string_equal(s, "hello world");
	free(s);
	assert_int_equal(tlv_next(&r, &tag, &val), 1);
	assert_int_equal(tag, 14);
	assert_int_equal(val.left, sizeof(blob));
	assert_memory_equal(val.p, blob, sizeof(blob));
	assert_int_equal(tlv_str(&val, &s), -EINVAL); /* holds a NUL */
	assert_int_equal(tlv_next(&r, &tag, &val), 1);
	assert_int_equal(tlv_list(&val, &list), 0);
	assert_int_equal(list.depth, 1);
	assert_int_equal(tlv_next(&list, &tag, &inner), 1);
	assert_int_equal(tlv_str(&inner, &s), 0);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(tlv_next(&list, &tag, &inner), 0);
	assert_int_equal(tlv_next(&r, &tag, &val), 0);
	assert_int_equal(tlv_next(&r, &tag, &val), 0); /* the end stays the end */
	tlv_w_free(&w);
}

/* Lists nest TLV_DEPTH_MAX deep, both ways; one more is refused by the writer and the reader. */
static void test_depth(void **state)
{
	struct tlv_r r[TLV_DEPTH_MAX + 2], val, extra;
	struct tlv_w w;
	uint16_t tag;
	unsigned int i;

	(void)state;
	tlv_w_init(&w, 4096);
	for (i = 0; i < TLV_DEPTH_MAX; i++)
		tlv_begin(&w, 1);
	tlv_put_u32(&w, 2, 1);
	for (i = 0; i < TLV_DEPTH_MAX; i++)
		tlv_end(&w);
	assert_int_equal(tlv_w_finish(&w), 0);
	tlv_r_init(&r[0], w.data, w.len);
	for (i = 0; i < TLV_DEPTH_MAX; i++) {
		assert_int_equal(tlv_next(&r[i], &tag, &val), 1);
		assert_int_equal(tlv_list(&val, &r[i + 1]), 0);
	}
	assert_int_equal(tlv_next(&r[TLV_DEPTH_MAX], &tag, &val), 1);
	assert_int_equal(tag, 2);
	/* The u32 read as a list would be one level too deep. */
	assert_int_equal(tlv_list(&val, &extra), -EINVAL);
	tlv_w_free(&w);

	tlv_w_init(&w, 4096);
	for (i = 0; i <= TLV_DEPTH_MAX; i++)
		tlv_begin(&w, 1);
	assert_int_equal(w.err, -EINVAL);
	for (i = 0; i <= TLV_DEPTH_MAX; i++)
		tlv_end(&w);
	assert_int_equal(tlv_w_finish(&w), -EINVAL);
	tlv_w_free(&w);
}

static void test_writer_errors(void **state)
{
	struct tlv_w w;
	char *big;

	(void)state;
	/* Past max: -E2BIG, and it sticks. */
	tlv_w_init(&w, 16);
	tlv_put_u32(&w, 1, 1);
	assert_int_equal(w.len, 10);
	tlv_put_u32(&w, 1, 1);
	assert_int_equal(w.err, -E2BIG);
	assert_int_equal(w.len, 10);
	tlv_put_bool(&w, 1, true); /* would fit, but the error sticks */
	assert_int_equal(w.len, 10);
	assert_int_equal(tlv_w_finish(&w), -E2BIG);
	assert_true(w.cap <= 16);
	tlv_w_free(&w);

	/* Exactly max fits. */
	tlv_w_init(&w, 10);
	tlv_put_u32(&w, 1, 1);
	assert_int_equal(tlv_w_finish(&w), 0);
	assert_int_equal(w.cap, 10);
	tlv_w_free(&w);

	big = malloc(TLV_STR_MAX + 2);
	assert_non_null(big);
	memset(big, 'x', TLV_STR_MAX + 1);
	big[TLV_STR_MAX + 1] = '\0';
	tlv_w_init(&w, 1 << 20);
	tlv_put_str(&w, 1, big);
	assert_int_equal(tlv_w_finish(&w), -EINVAL);
	tlv_w_free(&w);
	big[TLV_STR_MAX] = '\0';
	tlv_put_str(&w, 1, big);
	assert_int_equal(tlv_w_finish(&w), 0);
	assert_int_equal(w.len, TLV_HDR + TLV_STR_MAX);
	tlv_w_free(&w);
	free(big);

	tlv_put_str(&w, 1, NULL);
	assert_int_equal(tlv_w_finish(&w), -EINVAL);
	tlv_w_free(&w);
	tlv_put_bytes(&w, 1, NULL, 3);
	assert_int_equal(tlv_w_finish(&w), -EINVAL);
	tlv_w_free(&w);
	tlv_end(&w); /* nothing open */
	assert_int_equal(tlv_w_finish(&w), -EINVAL);
	tlv_w_free(&w);
	tlv_begin(&w, 1); /* left open */
	assert_int_equal(tlv_w_finish(&w), -EINVAL);
	tlv_w_free(&w);
}

/* Growth doubles but never allocates more than max, however the fields arrive. */
static void test_writer_growth(void **state)
{
	struct tlv_w w;
	unsigned int i;

	(void)state;
	tlv_w_init(&w, 100000);
	for (i = 0; i < 20000; i++)
		tlv_put_bool(&w, 1, true);
	assert_int_equal(w.err, -E2BIG);
	assert_int_equal(w.len, 100000 / 7 * 7);
	assert_true(w.cap <= 100000);
	tlv_w_free(&w);
}

static void test_reader_errors(void **state)
{
	uint8_t buf[16] = { 1, 0, 4, 0, 0, 0, 1, 2, 3, 4 };
	struct tlv_r r, val;
	uint16_t tag;
	size_t n;
	char *s;
	bool b;

	(void)state;
	/* A header cut short anywhere. */
	for (n = 1; n < TLV_HDR; n++) {
		tlv_r_init(&r, buf, n);
		assert_int_equal(tlv_next(&r, &tag, &val), -EINVAL);
	}
	/* A length past the end, by one byte and by nearly 4 GiB. */
	tlv_r_init(&r, buf, 9);
	assert_int_equal(tlv_next(&r, &tag, &val), -EINVAL);
	buf[2] = buf[3] = buf[4] = buf[5] = 0xff;
	tlv_r_init(&r, buf, 10);
	assert_int_equal(tlv_next(&r, &tag, &val), -EINVAL);
	/* An empty payload is just the end. */
	tlv_r_init(&r, NULL, 0);
	assert_int_equal(tlv_next(&r, &tag, &val), 0);

	/* A bool of 2, a bool of two bytes. */
	buf[0] = 2;
	val = (struct tlv_r){ .p = buf, .left = 1 };
	assert_int_equal(tlv_bool(&val, &b), -EINVAL);
	val.left = 2;
	assert_int_equal(tlv_bool(&val, &b), -EINVAL);
	/* NUL anywhere in a string. */
	memcpy(buf, "ab\0cd", 5);
	val = (struct tlv_r){ .p = buf, .left = 5 };
	assert_int_equal(tlv_str(&val, &s), -EINVAL);
	val.left = 2;
	assert_int_equal(tlv_str(&val, &s), 0);
	assert_string_equal(s, "ab");
	free(s);
	val = (struct tlv_r){ .p = NULL, .left = 0 };
	assert_int_equal(tlv_str(&val, &s), 0);
	assert_string_equal(s, "");
	free(s);
}

static void test_long_string(void **state)
{
	uint8_t *buf = calloc(1, TLV_STR_MAX + 1);
	struct tlv_r val;
	char *s;

	(void)state;
	assert_non_null(buf);
	memset(buf, 'a', TLV_STR_MAX + 1);
	val = (struct tlv_r){ .p = buf, .left = TLV_STR_MAX + 1 };
	assert_int_equal(tlv_str(&val, &s), -EINVAL);
	val.left = TLV_STR_MAX;
	assert_int_equal(tlv_str(&val, &s), 0);
	assert_int_equal(strlen(s), TLV_STR_MAX);
	free(s);
	free(buf);
}

/* Fields of a list past the list's own end are the parent's, not the list's. */
static void test_list_bounds(void **state)
{
	struct tlv_r r, val, list;
	struct tlv_w w;
	uint16_t tag;
	uint32_t u;

	(void)state;
	tlv_w_init(&w, 256);
	tlv_begin(&w, 1);
	tlv_put_u32(&w, 2, 5);
	tlv_end(&w);
	tlv_put_u32(&w, 3, 6);
	assert_int_equal(tlv_w_finish(&w), 0);
	tlv_r_init(&r, w.data, w.len);
	assert_int_equal(tlv_next(&r, &tag, &val), 1);
	assert_int_equal(tlv_list(&val, &list), 0);
	assert_int_equal(tlv_next(&list, &tag, &val), 1);
	assert_int_equal(tlv_u32(&val, &u), 0);
	assert_int_equal(u, 5);
	assert_int_equal(tlv_next(&list, &tag, &val), 0);
	assert_int_equal(tlv_next(&r, &tag, &val), 1);
	assert_int_equal(tag, 3);
	tlv_w_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),	      cmocka_unit_test(test_read_back),
		cmocka_unit_test(test_depth),	      cmocka_unit_test(test_writer_errors),
		cmocka_unit_test(test_writer_growth), cmocka_unit_test(test_reader_errors),
		cmocka_unit_test(test_long_string),   cmocka_unit_test(test_list_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
