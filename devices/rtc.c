/* rtc: an MC146818 CMOS real-time clock, so guests read the host's time at boot without waiting. */
#include "devices/devices.h"

#include <errno.h>
#include <string.h>

#define RTC_SEC 0x00
#define RTC_MIN 0x02
#define RTC_HOUR 0x04
#define RTC_WDAY 0x06
#define RTC_MDAY 0x07
#define RTC_MON 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0a
#define RTC_REG_B 0x0b
#define RTC_REG_C 0x0c
#define RTC_REG_D 0x0d
#define RTC_CENTURY 0x32

#define RTC_B_SET 0x80
#define RTC_B_DM_BINARY 0x04
#define RTC_B_24H 0x02
#define RTC_D_VRT 0x80

static uint8_t to_bcd(unsigned int v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static unsigned int from_bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0x0f);
}

void rtc_encode(uint8_t ram[128], time_t t)
{
	int binary = ram[RTC_REG_B] & RTC_B_DM_BINARY;
	struct tm tm;
	unsigned int hour;
	uint8_t pm = 0;

	gmtime_r(&t, &tm);
	hour = (unsigned int)tm.tm_hour;
	if (!(ram[RTC_REG_B] & RTC_B_24H)) {
		pm = hour >= 12 ? 0x80 : 0;
		hour = hour % 12 ? hour % 12 : 12;
	}
#define ENC(v) (binary ? (uint8_t)(v) : to_bcd(v))
	ram[RTC_SEC] = ENC((unsigned int)tm.tm_sec);
	ram[RTC_MIN] = ENC((unsigned int)tm.tm_min);
	ram[RTC_HOUR] = (uint8_t)(ENC(hour) | pm);
	ram[RTC_WDAY] = ENC((unsigned int)tm.tm_wday + 1);
	ram[RTC_MDAY] = ENC((unsigned int)tm.tm_mday);
	ram[RTC_MON] = ENC((unsigned int)tm.tm_mon + 1);
	ram[RTC_YEAR] = ENC((unsigned int)tm.tm_year % 100);
	ram[RTC_CENTURY] = ENC((unsigned int)(tm.tm_year + 1900) / 100);
#undef ENC
}

/* One register as a number: BCD digits must be decimal; -1 when they are not. */
static int field(uint8_t v, int binary)
{
	if (binary)
		return v;
	if ((v & 0x0f) > 9 || (v >> 4) > 9)
		return -1;
	return (int)from_bcd(v);
}

int rtc_decode(const uint8_t ram[128], time_t *t)
{
	int binary = ram[RTC_REG_B] & RTC_B_DM_BINARY;
	int h24 = ram[RTC_REG_B] & RTC_B_24H;
	int hour, century, year;
	struct tm tm, check;
	time_t v;

	memset(&tm, 0, sizeof(tm));
	tm.tm_sec = field(ram[RTC_SEC], binary);
	tm.tm_min = field(ram[RTC_MIN], binary);
	tm.tm_mday = field(ram[RTC_MDAY], binary);
	tm.tm_mon = field(ram[RTC_MON], binary) - 1;
	year = field(ram[RTC_YEAR], binary);
	century = field(ram[RTC_CENTURY], binary);
	/* Bit 7 of the hour register is the PM flag in 12-hour mode and must be clear otherwise. */
	hour = field(ram[RTC_HOUR] & (h24 ? 0xff : 0x7f), binary);
	if (!h24) {
		if (hour < 1 || hour > 12)
			return -EINVAL;
		hour = (hour % 12) + ((ram[RTC_HOUR] & 0x80) ? 12 : 0);
	}
	tm.tm_hour = hour;
	if (tm.tm_sec < 0 || tm.tm_sec > 59 || tm.tm_min < 0 || tm.tm_min > 59 || hour < 0 ||
	    hour > 23 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_mon < 0 || tm.tm_mon > 11 ||
	    year < 0 || year > 99 || century < 0 || century > 99)
		return -EINVAL;
	tm.tm_year = century * 100 + year - 1900;
	check = tm;
	v = timegm(&tm);
	/* timegm() normalises 30 February into 1 March: reject dates that do not round-trip. */
	if (v == (time_t)-1 || tm.tm_mday != check.tm_mday || tm.tm_mon != check.tm_mon)
		return -EINVAL;
	*t = v;
	return 0;
}

static time_t host_now(void)
{
	return time(NULL);
}

void rtc_init(struct rtc *r, time_t (*now)(void))
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->now = now ? now : host_now;
	r->ram[RTC_REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz periodic rate; UIP never set */
	r->ram[RTC_REG_B] = RTC_B_24H;
	r->ram[RTC_REG_D] = RTC_D_VRT;
}

void rtc_destroy(struct rtc *r)
{
	pthread_mutex_destroy(&r->lock);
}

static bool is_time_reg(uint8_t idx)
{
	return idx <= RTC_YEAR || idx == RTC_CENTURY;
}

static void rtc_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	struct rtc *r = dev;
	uint8_t idx;

	memset(data, 0xff, len);
	pthread_mutex_lock(&r->lock);
	idx = r->index;
	if (off == 0) {
		data[0] = r->index;
	} else if (is_time_reg(idx) && !(r->ram[RTC_REG_B] & RTC_B_SET)) {
		/* Time is computed on every read, so there is never an update in progress. */
		rtc_encode(r->ram, r->now() + r->offset);
		data[0] = r->ram[idx];
	} else if (idx == RTC_REG_C) {
		data[0] = 0; /* no interrupt flags: hull raises no RTC interrupts */
	} else {
		data[0] = r->ram[idx];
	}
	pthread_mutex_unlock(&r->lock);
}

static void rtc_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct rtc *r = dev;
	uint8_t idx, v = data[0];
	time_t t;

	(void)len;
	pthread_mutex_lock(&r->lock);
	if (off == 0) {
		r->index = v & 0x7f; /* bit 7 is the NMI mask */
		goto out;
	}
	idx = r->index;
	if (idx == RTC_REG_C || idx == RTC_REG_D)
		goto out; /* read-only */
	if (idx == RTC_REG_A) {
		r->ram[idx] = v & 0x7f; /* UIP is read-only */
		goto out;
	}
	if (idx == RTC_REG_B) {
		/* Freeze the time being shown when SET goes up; apply it when it comes down. */
		if ((v & RTC_B_SET) && !(r->ram[RTC_REG_B] & RTC_B_SET))
			rtc_encode(r->ram, r->now() + r->offset);
		if (!(v & RTC_B_SET) && (r->ram[RTC_REG_B] & RTC_B_SET) && !rtc_decode(r->ram, &t))
			r->offset = (int64_t)t - (int64_t)r->now();
		r->ram[idx] = v;
		goto out;
	}
	if (is_time_reg(idx) && !(r->ram[RTC_REG_B] & RTC_B_SET)) {
		/* A write without SET changes the clock immediately. */
		rtc_encode(r->ram, r->now() + r->offset);
		r->ram[idx] = v;
		if (!rtc_decode(r->ram, &t))
			r->offset = (int64_t)t - (int64_t)r->now();
		goto out;
	}
	r->ram[idx] = v;
out:
	pthread_mutex_unlock(&r->lock);
}

const struct bus_ops rtc_ops = {
	.read = rtc_read,
	.write = rtc_write,
};
