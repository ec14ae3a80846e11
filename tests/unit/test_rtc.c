/* Unit tests for the CMOS RTC: time encoding, the index/data ports, setting the clock, CMOS RAM. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <time.h>

#include "devices/devices.h"

#define R_SEC 0x00
#define R_MIN 0x02
#define R_HOUR 0x04
#define R_WDAY 0x06
#define R_MDAY 0x07
#define R_MON 0x08
#define R_YEAR 0x09
#define R_A 0x0a
#define R_B 0x0b
#define R_C 0x0c
#define R_D 0x0d
#define R_CENTURY 0x32

#define B_SET 0x80
#define B_BINARY 0x04
#define B_24H 0x02

/* 2024-02-29 13:45:56 UTC, a Thursday. */
#define T_LEAP 1709214356
static time_t fake_time = T_LEAP;

static time_t fake_now(void)
{
	return fake_time;
}

static const time_t samples[] = {
	0,          /* 1970-01-01 00:00:00 Thursday */
	43199,      /* 11:59:59 */
	43200,      /* noon: 12 PM */
	T_LEAP,
	946684799,  /* 1999-12-31 23:59:59 */
	946684800,  /* 2000-01-01 00:00:00 */
	1234567890,
	2147483647, /* 2038-01-19 03:14:07 */
	4102444799, /* 2099-12-31 23:59:59 */
	4102444800, /* 2100-01-01 */
};

static void roundtrip(uint8_t b)
{
	unsigned int i;

	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		uint8_t ram[128];
		time_t back = -42;

		memset(ram, 0, sizeof(ram));
		ram[R_B] = b;
		rtc_encode(ram, samples[i]);
		if (rtc_decode(ram, &back) != 0 || back != samples[i])
			fail_msg("B=0x%02x: %lld came back as %lld", b, (long long)samples[i],
				 (long long)back);
	}
}

static void test_roundtrip_formats(void **state)
{
	(void)state;
	roundtrip(B_24H);
	roundtrip(B_24H | B_BINARY);
	roundtrip(0);
	roundtrip(B_BINARY);
}

static void test_roundtrip_every_hour(void **state)
{
	static const uint8_t formats[] = { 0, B_24H, B_BINARY, B_BINARY | B_24H };
	unsigned int f, h;

	(void)state;
	for (f = 0; f < sizeof(formats); f++) {
		for (h = 0; h < 48; h++) {
			uint8_t ram[128] = { 0 };
			time_t t = T_LEAP + (time_t)h * 1800 + 7, back = 0;

			ram[R_B] = formats[f];
			rtc_encode(ram, t);
			assert_int_equal(rtc_decode(ram, &back), 0);
			assert_int_equal(back, t);
		}
	}
}

static void test_encode_bcd(void **state)
{
	uint8_t ram[128] = { 0 };

	(void)state;
	ram[R_B] = B_24H;
	rtc_encode(ram, T_LEAP);
	assert_int_equal(ram[R_SEC], 0x56);
	assert_int_equal(ram[R_MIN], 0x45);
	assert_int_equal(ram[R_HOUR], 0x13);
	assert_int_equal(ram[R_WDAY], 5); /* Sunday is 1 */
	assert_int_equal(ram[R_MDAY], 0x29);
	assert_int_equal(ram[R_MON], 0x02);
	assert_int_equal(ram[R_YEAR], 0x24);
	assert_int_equal(ram[R_CENTURY], 0x20);
	assert_int_equal(ram[R_B], B_24H); /* format bits untouched */
}

static void test_encode_binary_12h(void **state)
{
	uint8_t ram[128] = { 0 };

	(void)state;
	ram[R_B] = B_BINARY;
	rtc_encode(ram, T_LEAP);
	assert_int_equal(ram[R_SEC], 56);
	assert_int_equal(ram[R_MIN], 45);
	assert_int_equal(ram[R_HOUR], 0x80 | 1); /* 1 PM */
	assert_int_equal(ram[R_MDAY], 29);
	assert_int_equal(ram[R_YEAR], 24);
	assert_int_equal(ram[R_CENTURY], 20);

	ram[R_B] = 0; /* BCD, 12 hour */
	rtc_encode(ram, 0);
	assert_int_equal(ram[R_HOUR], 0x12); /* midnight is 12 AM */
	rtc_encode(ram, 43200);
	assert_int_equal(ram[R_HOUR], 0x92); /* noon is 12 PM */
	rtc_encode(ram, 23 * 3600);
	assert_int_equal(ram[R_HOUR], 0x91); /* 11 PM */
	rtc_encode(ram, 9 * 3600);
	assert_int_equal(ram[R_HOUR], 0x09);
}

static void expect_decode_rejects(uint8_t b, unsigned int reg, uint8_t v)
{
	uint8_t ram[128] = { 0 };
	time_t t = 12345;

	ram[R_B] = b;
	rtc_encode(ram, T_LEAP);
	ram[reg] = v;
	if (rtc_decode(ram, &t) != -EINVAL)
		fail_msg("B=0x%02x reg 0x%02x = 0x%02x accepted as %lld", b, reg, v, (long long)t);
	assert_int_equal(t, 12345);
}

static void test_decode_rejects(void **state)
{
	(void)state;
	expect_decode_rejects(B_24H, R_SEC, 0x60);
	expect_decode_rejects(B_24H, R_MIN, 0x60);
	expect_decode_rejects(B_24H, R_HOUR, 0x24);
	expect_decode_rejects(B_24H, R_MDAY, 0x00);
	expect_decode_rejects(B_24H, R_MDAY, 0x32);
	expect_decode_rejects(B_24H, R_MON, 0x00);
	expect_decode_rejects(B_24H, R_MON, 0x13);
	expect_decode_rejects(B_24H | B_BINARY, R_SEC, 60);
	expect_decode_rejects(B_24H | B_BINARY, R_HOUR, 24);
	expect_decode_rejects(B_24H | B_BINARY, R_MON, 12 + 1);
	expect_decode_rejects(B_24H | B_BINARY, R_MDAY, 0);
	expect_decode_rejects(B_24H, R_SEC, 0xff);
}

/* Digits above 9 are not BCD; 0x1a seconds is garbage, not "20". */
static void test_decode_rejects_bad_bcd(void **state)
{
	(void)state;
	expect_decode_rejects(B_24H, R_SEC, 0x1a);
	expect_decode_rejects(B_24H, R_MIN, 0x0f);
	expect_decode_rejects(B_24H, R_MDAY, 0x1b);
}

/* In 12-hour mode the hour is 1..12; 0 and 13.. do not exist. */
static void test_decode_rejects_bad_12h(void **state)
{
	(void)state;
	expect_decode_rejects(0, R_HOUR, 0x00);
	expect_decode_rejects(0, R_HOUR, 0x13);
	expect_decode_rejects(0, R_HOUR, 0x80 | 0x13);
}

/* In 24-hour mode bit 7 is not a PM flag: 0x99 is no hour, not 19:00. */
static void test_decode_rejects_pm_bit_in_24h(void **state)
{
	(void)state;
	expect_decode_rejects(B_24H, R_HOUR, 0x99);
	expect_decode_rejects(B_24H | B_BINARY, R_HOUR, 0x80 | 13);
}

/* A day that the month does not have (February 30th) must not roll over into March. */
static void test_decode_rejects_bad_day_of_month(void **state)
{
	(void)state;
	expect_decode_rejects(B_24H, R_MDAY, 0x30); /* 2024-02-30 */
	expect_decode_rejects(B_24H | B_BINARY, R_MDAY, 31);
}

/* --- through the ports ---------------------------------------------------------------- */

static struct rtc r;

static int setup(void **state)
{
	(void)state;
	fake_time = T_LEAP;
	rtc_init(&r, fake_now);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rtc_destroy(&r);
	return 0;
}

static uint8_t rd(uint8_t idx)
{
	uint8_t v = idx;

	rtc_ops.write(&r, 0, &v, 1);
	v = 0x5a;
	rtc_ops.read(&r, 1, &v, 1);
	return v;
}

static void wr(uint8_t idx, uint8_t val)
{
	rtc_ops.write(&r, 0, &idx, 1);
	rtc_ops.write(&r, 1, &val, 1);
}

static void test_ports_read_time(void **state)
{
	(void)state;
	assert_int_equal(rd(R_SEC), 0x56);
	assert_int_equal(rd(R_MIN), 0x45);
	assert_int_equal(rd(R_HOUR), 0x13);
	assert_int_equal(rd(R_WDAY), 5);
	assert_int_equal(rd(R_MDAY), 0x29);
	assert_int_equal(rd(R_MON), 0x02);
	assert_int_equal(rd(R_YEAR), 0x24);
	assert_int_equal(rd(R_CENTURY), 0x20);
	assert_int_equal(rd(R_A) & 0x80, 0); /* never an update in progress */
	assert_int_equal(rd(R_B) & (B_SET | B_BINARY | B_24H), B_24H);
	assert_int_equal(rd(R_C), 0);
	assert_int_equal(rd(R_D), 0x80);

	/* The clock follows the host. */
	fake_time += 61;
	assert_int_equal(rd(R_SEC), 0x57);
	assert_int_equal(rd(R_MIN), 0x46);
}

static void test_ports_index(void **state)
{
	uint8_t v;

	(void)state;
	/* Bit 7 of the index is the NMI mask, not part of the register number. */
	v = 0x80 | R_MIN;
	rtc_ops.write(&r, 0, &v, 1);
	v = 0;
	rtc_ops.read(&r, 1, &v, 1);
	assert_int_equal(v, 0x45);
	v = 0x80 | R_D;
	rtc_ops.write(&r, 0, &v, 1);
	rtc_ops.read(&r, 1, &v, 1);
	assert_int_equal(v, 0x80);
	/* Reading the data port does not move the index. */
	rtc_ops.read(&r, 1, &v, 1);
	assert_int_equal(v, 0x80);
}

static void test_ports_binary_mode(void **state)
{
	(void)state;
	wr(R_B, B_24H | B_BINARY);
	assert_int_equal(rd(R_SEC), 56);
	assert_int_equal(rd(R_HOUR), 13);
	assert_int_equal(rd(R_YEAR), 24);
	wr(R_B, B_BINARY);
	assert_int_equal(rd(R_HOUR), 0x81);
	wr(R_B, 0);
	assert_int_equal(rd(R_HOUR), 0x81);
}

static void test_ports_readonly(void **state)
{
	(void)state;
	wr(R_A, 0xff);
	assert_int_equal(rd(R_A) & 0x80, 0); /* UIP cannot be set */
	assert_int_equal(rd(R_A), 0x7f);
	wr(R_C, 0xff);
	assert_int_equal(rd(R_C), 0);
	wr(R_D, 0x00);
	assert_int_equal(rd(R_D), 0x80);
}

static void test_ports_set_time(void **state)
{
	(void)state;
	/* Set 2001-02-03 04:05:06 the way a guest does: SET up, write, SET down. */
	wr(R_B, B_24H | B_SET);
	wr(R_SEC, 0x06);
	wr(R_MIN, 0x05);
	wr(R_HOUR, 0x04);
	wr(R_MDAY, 0x03);
	wr(R_MON, 0x02);
	wr(R_YEAR, 0x01);
	wr(R_CENTURY, 0x20);
	/* While SET is up the clock shows what was written, even as time passes. */
	fake_time += 5;
	assert_int_equal(rd(R_SEC), 0x06);
	wr(R_B, B_24H);
	assert_int_equal(rd(R_SEC), 0x06);
	assert_int_equal(rd(R_MIN), 0x05);
	assert_int_equal(rd(R_HOUR), 0x04);
	assert_int_equal(rd(R_MDAY), 0x03);
	assert_int_equal(rd(R_MON), 0x02);
	assert_int_equal(rd(R_YEAR), 0x01);
	assert_int_equal(rd(R_CENTURY), 0x20);
	/* And it runs on from there. */
	fake_time += 100;
	assert_int_equal(rd(R_SEC), 0x46);
	assert_int_equal(rd(R_MIN), 0x06);
	assert_int_equal(rd(R_HOUR), 0x04);
	assert_int_equal(rd(R_YEAR), 0x01);
}

static void test_ports_write_without_set(void **state)
{
	(void)state;
	/* A single register written without SET changes the clock at once. */
	wr(R_MIN, 0x10);
	assert_int_equal(rd(R_MIN), 0x10);
	assert_int_equal(rd(R_HOUR), 0x13);
	assert_int_equal(rd(R_SEC), 0x56);
	fake_time += 4;
	assert_int_equal(rd(R_SEC), 0x00);
	assert_int_equal(rd(R_MIN), 0x11);
	/* A nonsense value leaves the clock where it was. */
	wr(R_HOUR, 0x25);
	assert_int_equal(rd(R_MIN), 0x11);
	assert_int_equal(rd(R_HOUR), 0x13);
}

static void test_ports_cmos_ram(void **state)
{
	uint8_t i;

	(void)state;
	for (i = 0x0e; i < 0x80; i++) {
		if (i == R_CENTURY)
			continue;
		wr(i, (uint8_t)(i ^ 0xa5));
	}
	for (i = 0x0e; i < 0x80; i++) {
		if (i == R_CENTURY)
			continue;
		if (rd(i) != (uint8_t)(i ^ 0xa5))
			fail_msg("CMOS byte 0x%02x lost", i);
	}
	/* The time still reads right after all that. */
	assert_int_equal(rd(R_SEC), 0x56);
	/* 0x80 | 0x40 is index 0x40. */
	wr(0x80 | 0x40, 0x3c);
	assert_int_equal(rd(0x40), 0x3c);
}

static time_t wall_now(void)
{
	return time(NULL);
}

static void test_default_clock(void **state)
{
	struct rtc hr;
	uint8_t v = R_YEAR;

	(void)state;
	rtc_init(&hr, NULL);
	rtc_ops.write(&hr, 0, &v, 1);
	rtc_ops.read(&hr, 1, &v, 1);
	{
		time_t now = wall_now();
		struct tm tm;

		gmtime_r(&now, &tm);
		assert_int_equal(v, ((tm.tm_year % 100) / 10) << 4 | (tm.tm_year % 10));
	}
	rtc_destroy(&hr);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_formats),
		cmocka_unit_test(test_roundtrip_every_hour),
		cmocka_unit_test(test_encode_bcd),
		cmocka_unit_test(test_encode_binary_12h),
		cmocka_unit_test(test_decode_rejects),
		cmocka_unit_test(test_decode_rejects_bad_bcd),
		cmocka_unit_test(test_decode_rejects_bad_12h),
		cmocka_unit_test(test_decode_rejects_pm_bit_in_24h),
		cmocka_unit_test(test_decode_rejects_bad_day_of_month),
		T(test_ports_read_time),
		T(test_ports_index),
		T(test_ports_binary_mode),
		T(test_ports_readonly),
		T(test_ports_set_time),
		T(test_ports_write_without_set),
		T(test_ports_cmos_ram),
		cmocka_unit_test(test_default_clock),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
