/* Unit tests for virtio-rng: a guest-like driver over the MMIO transport, fills, the rate bound. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "tests/unit/virtio_env.h"
#include "virtio/rng/rng.h"

#define BASE 0xd0000000ULL
#define GSI 6
#define RAM_GPA 0x100000ULL
#define RAM_SIZE 0x40000ULL
#define DESC (RAM_GPA + 0x0)
#define AVAIL (RAM_GPA + 0x1000)
#define USED (RAM_GPA + 0x2000)
#define BUF (RAM_GPA + 0x10000) /* 192 KiB of buffers from here */
#define QSIZE 32
#define PATTERN 0xcc

#define S_ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV VIRTIO_CONFIG_S_DRIVER
#define S_FOK VIRTIO_CONFIG_S_FEATURES_OK
#define S_DOK VIRTIO_CONFIG_S_DRIVER_OK

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

static struct env {
	struct virtio_env v;
	struct vrng *r;
	struct virtio_dev *d;
	unsigned int pulses;
	uint16_t avail_idx, next_desc;
} e;

static uint64_t fake_ns;

static uint64_t fake_now(void)
{
	return fake_ns;
}

static void rec_irq(void *opaque, unsigned int irq, int level)
{
	struct env *en = opaque;

	assert_int_equal(irq, GSI);
	en->pulses += level;
}

static int setup(void **state)
{
	(void)state;
	memset(&e, 0, sizeof(e));
	if (virtio_env_init(&e.v, RAM_GPA, RAM_SIZE, rec_irq, &e))
		return -1;
	/* The rings start zeroed, as a driver leaves them; buffers hold a pattern to overwrite. */
	memset(e.v.ram + (BUF - RAM_GPA), PATTERN, RAM_SIZE - (BUF - RAM_GPA));
	if (vrng_create(&e.v.host, NULL, &e.r) ||
	    virtio_mmio_attach(vrng_dev(e.r), &e.v.host, BASE, GSI) || e.v.mmio.n != 1)
		return -1;
	e.d = e.v.mmio.r[0].dev;
	fake_ns = 1000000000ULL;
	return 0;
}

/* The device again (the bucket full), at rate bytes/s on the test's clock. */
static void recreate(uint64_t rate)
{
	const struct vrng_params p = { .rate = rate, .now_ns = fake_now };

	vrng_destroy(e.r);
	e.r = NULL;
	bus_init(&e.v.mmio, "mmio"); /* a bus never unregisters: start it again */
	assert_int_equal(vrng_create(&e.v.host, &p, &e.r), 0);
	assert_int_equal(virtio_mmio_attach(vrng_dev(e.r), &e.v.host, BASE, GSI), 0);
	assert_int_equal(e.v.mmio.n, 1);
	e.d = e.v.mmio.r[0].dev;
}

static int teardown(void **state)
{
	(void)state;
	vrng_destroy(e.r);
	virtio_env_fini(&e.v);
	return 0;
}

static uint32_t rd(uint64_t off)
{
	uint8_t b[4];

	assert_true(bus_read(&e.v.mmio, BASE + off, b, 4));
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void wr(uint64_t off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	assert_true(bus_write(&e.v.mmio, BASE + off, b, 4));
}

static const struct virtio_drv drv = { rd, wr };

static void *gpa(uint64_t a)
{
	return gmem_ptr(&e.v.mem, a, 1);
}

static int dispatch(int ms)
{
	return virtio_env_dispatch(&e.v, ms);
}

/* What the Linux driver does: negotiate VERSION_1 only, one queue of QSIZE, DRIVER_OK. */
static void bring_up(void)
{
	memset(e.v.ram, 0, BUF - RAM_GPA);
	e.avail_idx = e.next_desc = 0;
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(virtio_drv_negotiate(&drv, 1ULL << VIRTIO_F_VERSION_1),
			 S_ACK | S_DRV | S_FOK);
	virtio_drv_queue(&drv, 0, QSIZE, DESC, AVAIL, USED);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	assert_int_equal(virtio_drv_driver_ok(&drv), S_ACK | S_DRV | S_FOK | S_DOK);
}

/* Make one chain available; returns its head. */
static uint16_t post(const struct seg *s, unsigned int n)
{
	struct vring_desc *desc = gpa(DESC);
	struct vring_avail *a = gpa(AVAIL);
	uint16_t head = e.next_desc % QSIZE;
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t idx = e.next_desc++ % QSIZE;

		desc[idx] = (struct vring_desc){
			.addr = s[i].gpa,
			.len = s[i].len,
			.flags = (uint16_t)((s[i].write ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = (uint16_t)(e.next_desc % QSIZE),
		};
	}
	a->ring[e.avail_idx % QSIZE] = head;
	__atomic_store_n(&a->idx, ++e.avail_idx, __ATOMIC_RELEASE);
	return head;
}

static void kick(void)
{
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	while (dispatch(0) > 0)
		;
}

static uint16_t used_idx(void)
{
	return __atomic_load_n(&((struct vring_used *)gpa(USED))->idx, __ATOMIC_ACQUIRE);
}

static struct vring_used_elem used(unsigned int i)
{
	return ((struct vring_used *)gpa(USED))->ring[i % QSIZE];
}

static bool all(uint64_t a, size_t len, uint8_t v)
{
	const uint8_t *p = gmem_ptr(&e.v.mem, a, len);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* Random bytes: not one repeated value (2^-8*len chance of a false alarm, nil for len >= 32). */
static bool looks_random(uint64_t a, size_t len)
{
	const uint8_t *p = gmem_ptr(&e.v.mem, a, len);

	return !all(a, len, p[0]);
}

static void test_device(void **state)
{
	uint8_t b[4] = { 0xa5, 0xa5, 0xa5, 0xa5 };

	(void)state;
	assert_int_equal(rd(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(rd(VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	/* No device feature bits (0..23), only the transport's. */
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_FEATURES), (uint32_t)VIRTIO_TRANSPORT_FEATURES);
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_FEATURES) & 0xffffff, 0);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_FEATURES), 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 64);
	wr(VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	/* No config space. */
	assert_true(bus_read(&e.v.mmio, BASE + VIRTIO_MMIO_CONFIG, b, 4));
	assert_memory_equal(b, "\0\0\0\0", 4);
}

static void test_fill(void **state)
{
	struct seg a[2] = { { BUF, 64, true }, { BUF + 0x1000, 64, true } };
	struct seg b[1] = { { BUF + 0x2000, 256, true } };
	uint16_t ha, hb;

	(void)state;
	bring_up();
	ha = post(a, 2);
	hb = post(b, 1);
	kick();
	assert_int_equal(used_idx(), 2);
	assert_int_equal(used(0).id, ha);
	assert_int_equal(used(0).len, 128);
	assert_int_equal(used(1).id, hb);
	assert_int_equal(used(1).len, 256);
	assert_true(looks_random(BUF, 64));
	assert_true(looks_random(BUF + 0x1000, 64));
	assert_true(looks_random(BUF + 0x2000, 256));
	/* Two requests do not get the same bytes. */
	assert_memory_not_equal(gpa(BUF), gpa(BUF + 0x2000), 64);
	/* Not a byte past the buffers. */
	assert_true(all(BUF + 64, 0x1000 - 64, PATTERN));
	assert_true(all(BUF + 0x1000 + 64, 0x1000 - 64, PATTERN));
	assert_true(all(BUF + 0x2000 + 256, 0x100, PATTERN));
	assert_int_equal(e.pulses, 1);
	assert_int_equal(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);

	/* The next round works the same. */
	post(b, 1);
	kick();
	assert_int_equal(used_idx(), 3);
	assert_int_equal(used(2).len, 256);
}

static void test_out_only(void **state)
{
	struct seg out[1] = { { BUF, 32, false } };
	struct seg mixed[2] = { { BUF + 0x1000, 16, false }, { BUF + 0x2000, 64, true } };
	struct seg in[1] = { { BUF + 0x3000, 48, true } };
	uint16_t h0, h1, h2;

	(void)state;
	bring_up();
	h0 = post(out, 1);
	h1 = post(mixed, 2);
	h2 = post(in, 1);
	kick();
	assert_int_equal(used_idx(), 3);
	assert_int_equal(used(0).id, h0);
	assert_int_equal(used(0).len, 0);
	assert_int_equal(used(1).id, h1);
	assert_int_equal(used(1).len, 0);
	assert_int_equal(used(2).id, h2);
	assert_int_equal(used(2).len, 48);
	/* Requests that carry data in are answered untouched. */
	assert_true(all(BUF, 32, PATTERN));
	assert_true(all(BUF + 0x2000, 64, PATTERN));
	assert_true(looks_random(BUF + 0x3000, 48));
	assert_false(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void test_rate(void **state)
{
	struct seg huge[2] = { { BUF, 0x4000, true }, { BUF + 0x4000, 0x4000, true } };
	struct seg s1[1] = { { BUF + 0x10000, 1000, true } };
	struct seg s2[1] = { { BUF + 0x11000, 100, true } };
	struct vrng *r2 = NULL;

	(void)state;
	/* Above 2^32 bytes/s refill() could overflow: refused. */
	assert_int_equal(
		vrng_create(&e.v.host, &(struct vrng_params){ .rate = VRNG_RATE_MAX + 1 }, &r2),
		-EINVAL);
	assert_null(r2);
	recreate(4096);
	bring_up();
	/* 32 KiB asked, one second's worth (4096) given: a partial fill. */
	post(huge, 2);
	kick();
	assert_int_equal(used_idx(), 1);
	assert_int_equal(used(0).len, 4096);
	assert_true(looks_random(BUF, 4096));
	assert_true(all(BUF + 4096, 0x8000 - 4096, PATTERN));

	/* The bucket is empty: the next request waits, however often the guest kicks. */
	post(s1, 1);
	kick();
	kick();
	assert_int_equal(used_idx(), 1);
	assert_true(all(BUF + 0x10000, 1000, PATTERN));

	/* A quarter of a second later 1024 bytes are back; the timer resumes the queue. */
	fake_ns += 250000000ULL;
	assert_int_equal(dispatch(2000), 1);
	assert_int_equal(used_idx(), 2);
	assert_int_equal(used(1).len, 1000);
	assert_true(looks_random(BUF + 0x10000, 1000));
	/* 24 bytes left for the next one. */
	post(s2, 1);
	kick();
	assert_int_equal(used_idx(), 3);
	assert_int_equal(used(2).len, 24);
	assert_true(all(BUF + 0x11000 + 24, 100 - 24, PATTERN));
	/* Fractions of a byte are not lost: 4096 ns at 4096 B/s is 0 bytes, 0.25 ms is 1. */
	post(s2, 1);
	kick();
	assert_int_equal(used_idx(), 3);
	fake_ns += 122071; /* half a byte */
	kick();
	assert_int_equal(used_idx(), 3);
	fake_ns += 122071; /* the other half */
	kick();
	assert_int_equal(used_idx(), 4);
	assert_int_equal(used(3).len, 1);
	/* The burst is one second's worth even after a long pause. */
	fake_ns += 3600ULL * 1000000000ULL;
	post(huge, 2);
	kick();
	assert_int_equal(used_idx(), 5);
	assert_int_equal(used(4).len, 4096);
}

/* One request gets at most VRNG_REQ_MAX bytes, however long its aliased buffers claim to be. */
static void test_request_cap(void **state)
{
	struct seg alias[16];
	unsigned int i;

	(void)state;
	recreate(VRNG_RATE_MAX);
	bring_up();
	/* 16 descriptors over the same 192 KiB: 3 MiB asked. */
	for (i = 0; i < 16; i++)
		alias[i] = (struct seg){ BUF, (uint32_t)(RAM_SIZE - (BUF - RAM_GPA)), true };
	post(alias, 16);
	kick();
	assert_int_equal(used_idx(), 1);
	assert_int_equal(used(0).len, VRNG_REQ_MAX);
	assert_true(looks_random(BUF, VRNG_REQ_MAX));
	assert_true(all(BUF + VRNG_REQ_MAX, RAM_SIZE - (BUF - RAM_GPA) - VRNG_REQ_MAX, PATTERN));
}

#define REFILLS 640

/* A guest vCPU that keeps the ring full: every used buffer is posted again, with a kick. */
static void *refiller(void *arg)
{
	struct seg in[1] = { { BUF, 16, true } };
	unsigned int posted = QSIZE;
	uint16_t seen = 0;

	(void)arg;
	while (posted < REFILLS) {
		uint16_t u = used_idx();

		for (; seen != u && posted < REFILLS; seen++, posted++)
			post(in, 1);
		wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		sched_yield(); /* where threads take turns (Valgrind), let the device run */
	}
	return NULL;
}

/* However fast the guest refills, one call serves at most VIRTIO_NOTIFY_BUDGET requests. */
static void test_budget(void **state)
{
	struct seg in[1] = { { BUF, 16, true } };
	struct loop_handler *k;
	unsigned int i, calls = 0;
	pthread_t t;

	(void)state;
	recreate(VRNG_RATE_MAX);
	bring_up();
	k = &e.d->kick_h[0];
	for (i = 0; i < QSIZE; i++)
		post(in, 1);
	assert_int_equal(pthread_create(&t, NULL, refiller, NULL), 0);
	while (used_idx() != (uint16_t)REFILLS) {
		uint16_t before = used_idx();

		k->cb(&e.v.loop, k, EPOLLIN);
		assert_true((uint16_t)(used_idx() - before) <= VIRTIO_NOTIFY_BUDGET);
		assert_true(++calls < 10000000);
		if (used_idx() == before)
			sched_yield();
	}
	pthread_join(t, NULL);
	assert_false(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void test_broken_ring(void **state)
{
	struct seg in[1] = { { BUF, 64, true } };
	struct seg many[17];
	struct vring_avail *a;
	unsigned int i;

	(void)state;
	bring_up();
	/* The avail index runs ahead by more than the queue size. */
	a = gpa(AVAIL);
	__atomic_store_n(&a->idx, QSIZE + 5, __ATOMIC_RELEASE);
	kick();
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(rd(VIRTIO_MMIO_CONFIG_GENERATION), 1);
	assert_true(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(e.pulses, 1);
	assert_int_equal(used_idx(), 0);

	/* Reset, and the device serves again. */
	bring_up();
	post(in, 1);
	kick();
	assert_int_equal(used_idx(), 1);
	assert_int_equal(used(0).len, 64);

	/* A chain longer than the device's iovec array is a broken ring too. */
	for (i = 0; i < 17; i++)
		many[i] = (struct seg){ BUF + 0x100 * i, 16, true };
	post(many, 17);
	kick();
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(rd(VIRTIO_MMIO_CONFIG_GENERATION), 2);
	assert_int_equal(used_idx(), 1);
}

static void test_reset_disarms_timer(void **state)
{
	struct seg in[1] = { { BUF, 200, true } };

	(void)state;
	recreate(128);
	bring_up();
	post(in, 1);
	kick();
	assert_int_equal(used(0).len, 128);
	post(in, 1);
	kick();
	assert_int_equal(used_idx(), 1);
	/* The timer is armed (1/64 s); a reset disarms it and nothing fires. */
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(dispatch(200), 0);
	/* The bucket survives the reset: a reset buys no entropy. */
	bring_up();
	post(in, 1);
	kick();
	assert_int_equal(used_idx(), 0);
	fake_ns += 1000000000ULL;
	assert_int_equal(dispatch(2000), 1);
	assert_int_equal(used_idx(), 1);
	assert_int_equal(used(0).len, 128);
}

static int count_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(dir);
	while ((de = readdir(dir)))
		n += de->d_name[0] != '.';
	closedir(dir);
	return n;
}

static void test_create_destroy(void **state)
{
	struct vrng *r2 = NULL;
	int before = count_fds();

	(void)state;
	/* Overlapping the first device: attaching fails and leaves nothing behind. */
	assert_int_equal(vrng_create(&e.v.host, NULL, &r2), 0);
	assert_non_null(r2);
	assert_int_equal(virtio_mmio_attach(vrng_dev(r2), &e.v.host, BASE + 0x800, GSI), -EINVAL);
	vrng_destroy(r2);
	assert_int_equal(count_fds(), before);
	assert_int_equal(vrng_create(&e.v.host, NULL, &r2), 0);
	assert_int_equal(virtio_mmio_attach(vrng_dev(r2), &e.v.host, BASE + VIRTIO_MMIO_SIZE, GSI),
			 0);
	assert_true(count_fds() > before);
	vrng_destroy(r2);
	assert_int_equal(count_fds(), before);
	vrng_destroy(NULL);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_device),
		T(test_fill),
		T(test_out_only),
		T(test_rate),
		T(test_request_cap),
		T(test_budget),
		T(test_broken_ring),
		T(test_reset_disarms_timer),
		T(test_create_destroy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
