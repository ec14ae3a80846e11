/* Unit tests for the split virtqueue parser: a fake guest driver, well-behaved and hostile. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "virtio/virtio.h"

/* Guest memory: 1 MiB of RAM at 0, a hole, then 64 KiB at 4 GiB. */
#define RAM_SIZE 0x100000ULL
#define HIGH_GPA 0x100000000ULL
#define HIGH_SIZE 0x10000ULL
#define HOLE_GPA 0x200000ULL

#define QSIZE 16
#define DESC_GPA 0x1000ULL
#define AVAIL_GPA 0x2000ULL
#define USED_GPA 0x3000ULL
#define TABLE_GPA 0x8000ULL /* indirect tables */
#define BUF_GPA 0x10000ULL  /* data buffers */

#define FEAT_EVENT (1ULL << VIRTIO_RING_F_EVENT_IDX)
#define FEAT_INDIRECT (1ULL << VIRTIO_RING_F_INDIRECT_DESC)

#define NEXT VRING_DESC_F_NEXT
#define WRITE VRING_DESC_F_WRITE
#define INDIRECT VRING_DESC_F_INDIRECT

static struct {
	uint8_t *ram, *high;
	struct gmem mem;
	struct virtq q;
	struct iovec iov[64];
	struct virtq_chain c;
	unsigned int cap;
	uint16_t size;
	uint16_t avail_idx; /* the driver's shadow of avail->idx */
} f;

/* ---- the fake driver ---- */

static void *g(uint64_t gpa, uint64_t len)
{
	void *p = gmem_ptr(&f.mem, gpa, len);

	assert_non_null(p);
	return p;
}

static struct vring_avail *avail(void)
{
	return g(AVAIL_GPA, 6 + 2 * (uint64_t)f.size);
}

static struct vring_used *used(void)
{
	return g(USED_GPA, 6 + 8 * (uint64_t)f.size);
}

static void desc_in(uint64_t table, unsigned int i, uint64_t addr, uint32_t len, uint16_t flags,
		    uint16_t next)
{
	struct vring_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };

	/* memcpy: indirect tables may be unaligned. */
	memcpy(g(table + 16ULL * i, 16), &d, sizeof(d));
}

static void desc(unsigned int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	desc_in(DESC_GPA, i, addr, len, flags, next);
}

static void make_avail(uint16_t head)
{
	struct vring_avail *a = avail();

	a->ring[f.avail_idx % f.size] = head;
	f.avail_idx++;
	__atomic_store_n(&a->idx, f.avail_idx, __ATOMIC_RELEASE);
}

static void set_used_event(uint16_t v)
{
	avail()->ring[f.size] = v;
}

static uint16_t avail_event(void)
{
	return *(uint16_t *)&used()->ring[f.size];
}

static int pop(void)
{
	f.c.iov = f.iov;
	f.c.cap = f.cap;
	return virtq_pop(&f.q, &f.c);
}

static void enable(uint16_t size, uint64_t features)
{
	f.size = size;
	f.avail_idx = 0;
	memset(f.ram, 0, 0x8000); /* the rings */
	assert_int_equal(virtq_enable(&f.q, &f.mem, size, DESC_GPA, AVAIL_GPA, USED_GPA, features),
			 0);
	assert_true(f.q.enabled);
}

/* The ring is broken, and stays broken whatever the guest does next. */
static void assert_broken(void)
{
	assert_int_equal(pop(), -EIO);
	assert_true(f.q.broken);
	assert_int_equal(pop(), -EIO);
}

static int setup(void **state)
{
	(void)state;
	memset(&f, 0, sizeof(f));
	f.ram = aligned_alloc(4096, RAM_SIZE);
	f.high = aligned_alloc(4096, HIGH_SIZE);
	if (!f.ram || !f.high)
		return -1;
	memset(f.ram, 0, RAM_SIZE);
	memset(f.high, 0, HIGH_SIZE);
	if (gmem_add(&f.mem, 0, RAM_SIZE, f.ram) || gmem_add(&f.mem, HIGH_GPA, HIGH_SIZE, f.high))
		return -1;
	f.cap = 64;
	enable(QSIZE, FEAT_EVENT | FEAT_INDIRECT);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(f.ram);
	free(f.high);
	return 0;
}

/* ---- well-behaved drivers ---- */

static void test_normal_chain(void **state)
{
	uint8_t hdr[20], status = 0x5a;
	uint8_t *buf = g(BUF_GPA, 0x3000);
	unsigned int i;

	(void)state;
	for (i = 0; i < 0x1000; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(pop(), 0);
	/* Out: 16 + 100 bytes; in: 1 + 512 bytes. Descriptor order is not the index order. */
	desc(3, BUF_GPA, 16, NEXT, 7);
	desc(7, BUF_GPA + 16, 100, NEXT, 1);
	desc(1, BUF_GPA + 0x2000, 1, NEXT | WRITE, 2);
	desc(2, HIGH_GPA + 0x100, 512, WRITE, 0);
	make_avail(3);

	assert_int_equal(pop(), 1);
	assert_int_equal(f.c.head, 3);
	assert_int_equal(f.c.nout, 2);
	assert_int_equal(f.c.nin, 2);
	assert_int_equal(f.c.out_len, 116);
	assert_int_equal(f.c.in_len, 513);
	assert_ptr_equal(f.iov[0].iov_base, buf);
	assert_int_equal(f.iov[0].iov_len, 16);
	assert_ptr_equal(f.iov[1].iov_base, buf + 16);
	assert_ptr_equal(f.iov[2].iov_base, buf + 0x2000);
	assert_ptr_equal(f.iov[3].iov_base, f.high + 0x100);
	assert_int_equal(f.iov[3].iov_len, 512);
	assert_int_equal(f.q.inflight, 1);
	assert_int_equal(f.q.last_avail, 1);

	/* A header split across the two out buffers. */
	assert_int_equal(virtq_read_out(&f.c, 6, hdr, sizeof(hdr)), sizeof(hdr));
	for (i = 0; i < sizeof(hdr); i++)
		assert_int_equal(hdr[i], (uint8_t)(6 + i));
	/* Short at the end of the part, nothing past it. */
	assert_int_equal(virtq_read_out(&f.c, 110, hdr, sizeof(hdr)), 6);
	assert_int_equal(hdr[0], 110);
	assert_int_equal(virtq_read_out(&f.c, 116, hdr, 1), 0);
	assert_int_equal(virtq_read_out(&f.c, 5000, hdr, 1), 0);
	/* In part: offset 0 is the first writable buffer, offset 1 the next one. */
	assert_int_equal(virtq_write_in(&f.c, 0, &status, 1), 1);
	assert_int_equal(buf[0x2000], 0x5a);
	assert_int_equal(virtq_write_in(&f.c, 512, &status, 1), 1);
	assert_int_equal(f.high[0x100 + 511], 0x5a);
	assert_int_equal(virtq_write_in(&f.c, 513, &status, 1), 0);

	assert_int_equal(pop(), 0);
	assert_int_equal(virtq_push(&f.q, 3, 513), 0);
	assert_int_equal(used()->idx, 1);
	assert_int_equal(used()->ring[0].id, 3);
	assert_int_equal(used()->ring[0].len, 513);
	assert_int_equal(f.q.inflight, 0);
	/* The same head may come back once it was used. */
	make_avail(3);
	assert_int_equal(pop(), 1);
	assert_int_equal(f.c.head, 3);
}

static void test_size_one_and_full_ring(void **state)
{
	unsigned int i;

	(void)state;
	enable(1, 0);
	desc(0, BUF_GPA, 8, 0, 0);
	for (i = 0; i < 5; i++) {
		make_avail(0);
		assert_int_equal(pop(), 1);
		assert_int_equal(f.c.head, 0);
		assert_int_equal(virtq_push(&f.q, 0, 0), 0);
	}
	assert_int_equal(used()->idx, 5);

	/* Exactly size buffers ahead is a full ring, not an error. */
	enable(QSIZE, 0);
	for (i = 0; i < QSIZE; i++) {
		desc(i, BUF_GPA + 8 * i, 8, 0, 0);
		make_avail((uint16_t)(QSIZE - 1 - i));
	}
	for (i = 0; i < QSIZE; i++) {
		assert_int_equal(pop(), 1);
		assert_int_equal(f.c.head, QSIZE - 1 - i);
	}
	assert_int_equal(pop(), 0);
	assert_int_equal(f.q.inflight, QSIZE);
	/* Out of order completion. */
	for (i = 0; i < QSIZE; i++)
		assert_int_equal(virtq_push(&f.q, (uint16_t)(i * 5 % QSIZE), 1), 0);
	assert_int_equal(used()->ring[1].id, 5);
	assert_int_equal(f.q.inflight, 0);
}

static void test_indirect_chain(void **state)
{
	(void)state;
	/* A direct out descriptor, then an indirect table (in the high region) of three. */
	desc(0, BUF_GPA, 16, NEXT, 5);
	desc(5, HIGH_GPA + 0x1000, 3 * 16, INDIRECT, 0);
	desc_in(HIGH_GPA + 0x1000, 0, BUF_GPA + 0x100, 32, NEXT, 2);
	desc_in(HIGH_GPA + 0x1000, 2, BUF_GPA + 0x200, 64, NEXT | WRITE, 1);
	desc_in(HIGH_GPA + 0x1000, 1, HIGH_GPA + 0x2000, 128, WRITE, 0);
	make_avail(0);
	assert_int_equal(pop(), 1);
	assert_int_equal(f.c.head, 0);
	assert_int_equal(f.c.nout, 2);
	assert_int_equal(f.c.nin, 2);
	assert_int_equal(f.c.out_len, 48);
	assert_int_equal(f.c.in_len, 192);
	assert_ptr_equal(f.iov[1].iov_base, f.ram + BUF_GPA + 0x100);
	assert_ptr_equal(f.iov[3].iov_base, f.high + 0x2000);

	/* An unaligned table of one, directly at the head. */
	desc(1, BUF_GPA + 0x303, 16, INDIRECT, 0);
	desc_in(BUF_GPA + 0x303, 0, BUF_GPA + 0x400, 4, WRITE, 0);
	make_avail(1);
	assert_int_equal(pop(), 1);
	assert_int_equal(f.c.nout, 0);
	assert_int_equal(f.c.nin, 1);
	assert_int_equal(f.c.in_len, 4);

	/* The hop budget counts table entries: QSIZE entries fit, QSIZE + 1 do not. */
	for (unsigned int i = 0; i <= QSIZE; i++)
		desc_in(TABLE_GPA, i, BUF_GPA + i, 1, NEXT, (uint16_t)(i + 1));
	desc_in(TABLE_GPA, QSIZE - 1, BUF_GPA, 1, 0, 0);
	desc(2, TABLE_GPA, QSIZE * 16, INDIRECT, 0);
	make_avail(2);
	assert_int_equal(pop(), 1);
	assert_int_equal(f.c.nout, QSIZE);
	desc_in(TABLE_GPA, QSIZE - 1, BUF_GPA, 1, NEXT, QSIZE);
	desc_in(TABLE_GPA, QSIZE, BUF_GPA, 1, 0, 0);
	desc(3, TABLE_GPA, (QSIZE + 1) * 16, INDIRECT, 0);
	make_avail(3);
	assert_broken();
}

/* ---- notification suppression ---- */

static void test_event_idx_avail_event(void **state)
{
	uint16_t old;

	(void)state;
	desc(0, BUF_GPA, 8, 0, 0);
	desc(1, BUF_GPA, 8, 0, 0);
	/* Poison: an empty pop must overwrite it with last_avail. */
	*(uint16_t *)&used()->ring[f.size] = 0xbeef;
	assert_int_equal(pop(), 0);
	assert_int_equal(avail_event(), 0);

	/* The driver adds one: avail_event says kick. */
	old = f.avail_idx;
	make_avail(0);
	assert_true(vring_need_event(avail_event(), f.avail_idx, old));
	assert_int_equal(pop(), 1);
	/* While the device is busy, the driver need not kick for the next one. */
	old = f.avail_idx;
	make_avail(1);
	assert_false(vring_need_event(avail_event(), f.avail_idx, old));
	assert_int_equal(pop(), 1);
	/* Empty again: the device asks for a kick at index 2. */
	assert_int_equal(pop(), 0);
	assert_int_equal(avail_event(), 2);

	/* Without EVENT_IDX nothing is written to the used ring's tail. */
	enable(QSIZE, 0);
	*(uint16_t *)&used()->ring[f.size] = 0xbeef;
	assert_int_equal(pop(), 0);
	assert_int_equal(avail_event(), 0xbeef);
}

static void test_event_idx_should_notify(void **state)
{
	unsigned int i, notified = 0;

	(void)state;
	enable(4, FEAT_EVENT);
	desc(0, BUF_GPA, 8, 0, 0);
	desc(1, BUF_GPA, 8, 0, 0);
	desc(2, BUF_GPA, 8, 0, 0);
	/* The first call after enable always notifies, later ones follow used_event. */
	set_used_event(100);
	assert_true(virtq_should_notify(&f.q));
	assert_false(virtq_should_notify(&f.q)); /* nothing new */

	/*
	 * Run the 16-bit indices around: the driver wants an interrupt only when
	 * entry 65535 is used, so exactly one single push notifies.
	 */
	set_used_event(65535);
	for (i = 0; i < 65536 + 10; i++) {
		make_avail(0);
		assert_int_equal(pop(), 1);
		assert_int_equal(virtq_push(&f.q, 0, 8), 0);
		if (virtq_should_notify(&f.q)) {
			notified++;
			assert_int_equal(f.q.used_idx, 0);
		}
	}
	assert_int_equal(notified, 1);
	assert_int_equal(used()->idx, 10);
	assert_int_equal(f.q.last_avail, 10);

	/* A batch across the wrap: entries 65534, 65535, 0. */
	enable(4, FEAT_EVENT);
	f.avail_idx = 65534;
	avail()->idx = 65534;
	f.q.last_avail = f.q.used_idx = 65534;
	desc(0, BUF_GPA, 8, 0, 0);
	desc(1, BUF_GPA, 8, 0, 0);
	desc(2, BUF_GPA, 8, 0, 0);
	assert_true(virtq_should_notify(&f.q)); /* first call: signalled_used = 65534 */
	for (i = 0; i < 3; i++)
		make_avail((uint16_t)i);
	for (i = 0; i < 3; i++)
		assert_int_equal(pop(), 1);
	for (i = 0; i < 3; i++)
		assert_int_equal(virtq_push(&f.q, (uint16_t)i, 0), 0);
	set_used_event(1); /* not among 65534, 65535, 0 */
	assert_false(virtq_should_notify(&f.q));
	assert_int_equal(used()->idx, 1);

	f.q.signalled_used = 65534; /* as if the batch were checked again */
	set_used_event(0);
	assert_true(virtq_should_notify(&f.q));
	f.q.signalled_used = 65534;
	set_used_event(65534);
	assert_true(virtq_should_notify(&f.q));
	f.q.signalled_used = 65534;
	set_used_event(65533);
	assert_false(virtq_should_notify(&f.q));
}

static void test_no_interrupt_flag(void **state)
{
	(void)state;
	enable(QSIZE, 0);
	desc(0, BUF_GPA, 8, 0, 0);
	make_avail(0);
	assert_int_equal(pop(), 1);
	assert_int_equal(virtq_push(&f.q, 0, 0), 0);
	avail()->flags = VRING_AVAIL_F_NO_INTERRUPT;
	assert_false(virtq_should_notify(&f.q));
	avail()->flags = 0;
	assert_true(virtq_should_notify(&f.q));
	assert_true(virtq_should_notify(&f.q));

	/* With EVENT_IDX the flag means nothing: used_event decides. */
	enable(QSIZE, FEAT_EVENT);
	desc(0, BUF_GPA, 8, 0, 0);
	avail()->flags = VRING_AVAIL_F_NO_INTERRUPT;
	assert_true(virtq_should_notify(&f.q));
	make_avail(0);
	assert_int_equal(pop(), 1);
	assert_int_equal(virtq_push(&f.q, 0, 0), 0);
	set_used_event(0);
	assert_true(virtq_should_notify(&f.q));

	/* A disabled queue never notifies. */
	virtq_reset(&f.q);
	assert_false(virtq_should_notify(&f.q));
}

/*
 * A real second thread as the driver, kicking only when avail_event asks for
 * it. The device sleeps whenever virtq_pop finds nothing: a kick lost between
 * its empty check and its avail_event store would leave it asleep for good.
 */
#define RACE_BUFFERS 200000

static sem_t kick;
static bool race_stop;

static void *race_driver(void *arg)
{
	struct vring_avail *a = avail();
	struct vring_used *u = used();
	uint16_t idx = 0, event;
	unsigned int n;

	(void)arg;
	for (n = 0; n < RACE_BUFFERS && !__atomic_load_n(&race_stop, __ATOMIC_RELAXED); n++) {
		/* Heads are used in order, so slot idx % size is free once idx - used < size. */
		while ((uint16_t)(idx - __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE)) >= f.size) {
			if (__atomic_load_n(&race_stop, __ATOMIC_RELAXED))
				return NULL;
			sched_yield();
		}
		a->ring[idx % f.size] = idx % f.size;
		idx++;
		__atomic_store_n(&a->idx, idx, __ATOMIC_RELEASE);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		event = __atomic_load_n((uint16_t *)&u->ring[f.size], __ATOMIC_RELAXED);
		if (vring_need_event(event, idx, (uint16_t)(idx - 1)))
			sem_post(&kick);
	}
	return NULL;
}

static void test_event_idx_no_lost_kick(void **state)
{
	unsigned int done = 0, i;
	bool lost = false;
	struct timespec ts;
	pthread_t t;
	int ret;

	(void)state;
	race_stop = false;
	enable(4, FEAT_EVENT);
	for (i = 0; i < 4; i++)
		desc(i, BUF_GPA + 8 * i, 8, 0, 0);
	assert_int_equal(sem_init(&kick, 0, 0), 0);
	assert_int_equal(pthread_create(&t, NULL, race_driver, NULL), 0);
	while (done < RACE_BUFFERS) {
		while ((ret = pop()) == 1 && virtq_push(&f.q, f.c.head, 0) == 0)
			done++;
		if (ret != 0 || done == RACE_BUFFERS)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 5;
		if (sem_timedwait(&kick, &ts)) {
			lost = true;
			break;
		}
	}
	/* Stop the driver before any assertion can free its memory. */
	__atomic_store_n(&race_stop, true, __ATOMIC_RELAXED);
	assert_int_equal(pthread_join(t, NULL), 0);
	sem_destroy(&kick);
	if (lost)
		fail_msg("no kick after %u buffers: a notification was lost", done);
	assert_int_equal(ret, 0);
	assert_int_equal(done, RACE_BUFFERS);
}

/* ---- hostile drivers: each breaks the ring ---- */

static void test_loops(void **state)
{
	(void)state;
	desc(0, BUF_GPA, 8, NEXT, 1);
	desc(1, BUF_GPA, 8, NEXT, 2);
	desc(2, BUF_GPA, 8, NEXT, 0);
	make_avail(0);
	assert_broken();

	enable(QSIZE, 0);
	desc(4, BUF_GPA, 8, NEXT, 4);
	make_avail(4);
	assert_broken();

	/* A loop inside an indirect table. */
	enable(QSIZE, FEAT_INDIRECT);
	desc_in(TABLE_GPA, 0, BUF_GPA, 8, NEXT, 1);
	desc_in(TABLE_GPA, 1, BUF_GPA, 8, NEXT, 0);
	desc(0, TABLE_GPA, 32, INDIRECT, 0);
	make_avail(0);
	assert_broken();
}

static void test_bad_indices(void **state)
{
	(void)state;
	desc(0, BUF_GPA, 8, 0, 0);
	make_avail(QSIZE);
	assert_broken();

	enable(QSIZE, 0);
	make_avail(0xffff);
	assert_broken();

	/* A good descriptor just past the table must not be reached either. */
	enable(QSIZE, 0);
	desc(0, BUF_GPA, 8, NEXT, QSIZE);
	desc(QSIZE, BUF_GPA, 8, 0, 0);
	make_avail(0);
	assert_broken();

	/* next past an indirect table, though inside the queue. */
	enable(QSIZE, FEAT_INDIRECT);
	desc_in(TABLE_GPA, 0, BUF_GPA, 8, NEXT, 2);
	desc_in(TABLE_GPA, 2, BUF_GPA, 8, 0, 0);
	desc(0, TABLE_GPA, 32, INDIRECT, 0);
	make_avail(0);
	assert_broken();

	/* avail->idx more than size ahead (the entries themselves are fine). */
	enable(QSIZE, 0);
	desc(0, BUF_GPA, 8, 0, 0);
	avail()->idx = QSIZE + 1;
	assert_broken();
	enable(QSIZE, FEAT_EVENT);
	avail()->idx = 0x8000;
	assert_broken();
}

static void test_bad_buffers(void **state)
{
	static const struct {
		uint64_t addr;
		uint32_t len;
	} bad[] = {
		{ BUF_GPA, 0 },			 /* zero length */
		{ UINT64_MAX - 10, 100 },	 /* wraps 2^64 */
		{ UINT64_MAX, 1 },		 /* ends exactly at 2^64 */
		{ HOLE_GPA, 8 },		 /* in the hole */
		{ RAM_SIZE, 1 },		 /* first byte past RAM */
		{ RAM_SIZE - 8, 16 },		 /* straddles the end of RAM */
		{ HIGH_GPA - 1, 2 },		 /* straddles the start of high RAM */
		{ HIGH_GPA + HIGH_SIZE - 4, 8 }, /* straddles the end of high RAM */
		{ HIGH_GPA + HIGH_SIZE, 8 },	 /* past all RAM */
		{ 0, UINT32_MAX },		 /* longer than RAM */
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enable(QSIZE, 0);
		desc(0, BUF_GPA, 8, NEXT, 1); /* a good one first */
		desc(1, bad[i].addr, bad[i].len, WRITE, 0);
		make_avail(0);
		assert_broken();
	}
	/* The last byte of each region is fine. */
	enable(QSIZE, 0);
	desc(0, RAM_SIZE - 1, 1, NEXT, 1);
	desc(1, HIGH_GPA + HIGH_SIZE - 1, 1, 0, 0);
	make_avail(0);
	assert_int_equal(pop(), 1);
}

static void test_bad_indirect(void **state)
{
	static const struct {
		uint64_t addr;
		uint32_t len;
		uint16_t flags;
	} bad[] = {
		{ TABLE_GPA, 24, INDIRECT },				/* not a multiple of 16 */
		{ TABLE_GPA, 0, INDIRECT },				/* empty */
		{ TABLE_GPA, (VIRTQ_MAX_INDIRECT + 1) * 16, INDIRECT }, /* too big */
		{ TABLE_GPA, 32, INDIRECT | NEXT },			/* with NEXT */
		{ HOLE_GPA, 32, INDIRECT },				/* table not in RAM */
		{ RAM_SIZE - 16, 32, INDIRECT }, /* table straddles RAM end */
	};
	struct iovec *big = calloc(VIRTQ_MAX_INDIRECT, sizeof(*big));
	unsigned int i;

	(void)state;
	assert_non_null(big);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enable(QSIZE, FEAT_INDIRECT);
		desc_in(TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
		desc_in(TABLE_GPA, 1, BUF_GPA, 8, 0, 0);
		desc(0, bad[i].addr, bad[i].len, bad[i].flags, 1);
		desc(1, BUF_GPA, 8, 0, 0);
		make_avail(0);
		assert_broken();
	}

	/* Nested: a table entry that points at another table. */
	enable(QSIZE, FEAT_INDIRECT);
	desc_in(TABLE_GPA + 0x100, 0, BUF_GPA, 8, 0, 0);
	desc_in(TABLE_GPA, 0, BUF_GPA, 8, NEXT, 1);
	desc_in(TABLE_GPA, 1, TABLE_GPA + 0x100, 16, INDIRECT, 0);
	desc(0, TABLE_GPA, 32, INDIRECT, 0);
	make_avail(0);
	assert_broken();

	/* A perfectly good table, but the feature was not negotiated. */
	enable(QSIZE, FEAT_EVENT);
	desc_in(TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	desc(0, TABLE_GPA, 16, INDIRECT, 0);
	make_avail(0);
	assert_broken();

	/* The largest table is fine when the queue is big enough for its entries. */
	f.size = VIRTQ_MAX_SIZE;
	assert_int_equal(virtq_enable(&f.q, &f.mem, VIRTQ_MAX_SIZE, 0x20000, 0x30000, 0x40000,
				      FEAT_INDIRECT),
			 0);
	for (i = 0; i < VIRTQ_MAX_INDIRECT; i++)
		desc_in(0x50000, i, BUF_GPA, 8, i + 1 < VIRTQ_MAX_INDIRECT ? NEXT : 0,
			(uint16_t)(i + 1));
	desc_in(0x20000, 0, 0x50000, VIRTQ_MAX_INDIRECT * 16, INDIRECT, 0);
	((struct vring_avail *)g(0x30000, 4))->idx = 1;
	f.c.iov = big;
	f.c.cap = VIRTQ_MAX_INDIRECT;
	assert_int_equal(virtq_pop(&f.q, &f.c), 1);
	assert_int_equal(f.c.nout, VIRTQ_MAX_INDIRECT);
	free(big);
}

static void test_out_after_in(void **state)
{
	(void)state;
	desc(0, BUF_GPA, 8, NEXT, 1);
	desc(1, BUF_GPA + 8, 8, NEXT | WRITE, 2);
	desc(2, BUF_GPA + 16, 8, 0, 0);
	make_avail(0);
	assert_broken();

	/* Also across the step into an indirect table. */
	enable(QSIZE, FEAT_INDIRECT);
	desc_in(TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	desc(0, BUF_GPA + 8, 8, NEXT | WRITE, 1);
	desc(1, TABLE_GPA, 16, INDIRECT, 0);
	make_avail(0);
	assert_broken();
}

static void test_head_twice_in_flight(void **state)
{
	(void)state;
	desc(0, BUF_GPA, 8, NEXT, 1);
	desc(1, BUF_GPA + 8, 8, WRITE, 0);
	make_avail(0);
	make_avail(0);
	assert_int_equal(pop(), 1);
	assert_int_equal(pop(), -EIO);
	assert_true(f.q.broken);
	assert_int_equal(f.q.inflight, 1);
	/* The first one can still be returned; the ring stays broken. */
	assert_int_equal(virtq_push(&f.q, 0, 8), 0);
	make_avail(0);
	assert_int_equal(pop(), -EIO);
}

static void test_iovec_capacity(void **state)
{
	struct iovec *three = malloc(3 * sizeof(*three));
	unsigned int i;

	(void)state;
	assert_non_null(three);
	for (i = 0; i < 4; i++)
		desc(i, BUF_GPA + 8 * i, 8, i < 3 ? NEXT : 0, (uint16_t)(i + 1));
	make_avail(0);
	f.cap = 4;
	assert_int_equal(pop(), 1);
	assert_int_equal(f.c.nout, 4);
	assert_int_equal(virtq_push(&f.q, 0, 0), 0);
	make_avail(0);
	f.cap = 3;
	assert_broken();
	/* ASan would catch a write to iov[3] through a 3-entry array. */
	enable(QSIZE, 0);
	for (i = 0; i < 4; i++)
		desc(i, BUF_GPA + 8 * i, 8, i < 3 ? NEXT : 0, (uint16_t)(i + 1));
	make_avail(0);
	f.c.iov = three;
	f.c.cap = 3;
	assert_int_equal(virtq_pop(&f.q, &f.c), -EIO);
	free(three);
}

static void test_part_over_4g(void **state)
{
	static uint8_t fake[16];
	struct gmem big = f.mem;

	(void)state;
	/* A 4 GiB region that is never touched: the parser only translates addresses. */
	assert_int_equal(gmem_add(&big, 16ULL << 30, 4ULL << 30, fake), 0);
	assert_int_equal(virtq_enable(&f.q, &big, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA, 0), 0);
	f.avail_idx = 0;
	memset(f.ram, 0, 0x4000);
	desc(0, 16ULL << 30, UINT32_MAX, WRITE, 0);
	make_avail(0);
	assert_int_equal(pop(), 1);
	assert_int_equal(f.c.in_len, UINT32_MAX);
	desc(1, 16ULL << 30, UINT32_MAX, NEXT, 2);
	desc(2, 16ULL << 30, 1, 0, 0);
	make_avail(1);
	assert_broken();
	virtq_reset(&f.q);
}

/*
 * Descriptors that all alias one buffer: the totals stay within VIRTQ_PART_MAX (a used
 * length always fits 32 bits) and the walk within the hop budget, however much is claimed.
 */
static void test_aliased_totals(void **state)
{
	static uint8_t fake[16];
	struct gmem big = f.mem;
	unsigned int i;

	(void)state;
	/* A 4 GiB region that is never touched: the parser only translates addresses. */
	assert_int_equal(gmem_add(&big, 16ULL << 30, 4ULL << 30, fake), 0);
	assert_int_equal(
		virtq_enable(&f.q, &big, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA, FEAT_INDIRECT), 0);
	f.avail_idx = 0;
	memset(f.ram, 0, 0x4000);
	for (i = 0; i < QSIZE; i++)
		desc_in(TABLE_GPA, i, 16ULL << 30, 0x10000000, WRITE | (i + 1 < QSIZE ? NEXT : 0),
			(uint16_t)(i + 1));
	/* 15 entries of 256 MiB: 3.75 GiB, accepted. */
	desc_in(TABLE_GPA, QSIZE - 2, 16ULL << 30, 0x10000000, WRITE, 0);
	desc(0, TABLE_GPA, 16 * (QSIZE - 1), INDIRECT, 0);
	make_avail(0);
	assert_int_equal(pop(), 1);
	assert_int_equal(f.c.nin, QSIZE - 1);
	assert_true(f.c.in_len == (QSIZE - 1) * 0x10000000ULL);
	assert_true(f.c.in_len <= VIRTQ_PART_MAX);
	assert_int_equal(virtq_push(&f.q, 0, (uint32_t)f.c.in_len), 0);
	/* The 16th makes 4 GiB: more than a part may hold, the ring is broken. */
	desc_in(TABLE_GPA, QSIZE - 2, 16ULL << 30, 0x10000000, WRITE | NEXT, QSIZE - 1);
	desc(1, TABLE_GPA, 16 * QSIZE, INDIRECT, 0);
	make_avail(1);
	assert_broken();
	virtq_reset(&f.q);
}

static void test_push_not_in_flight(void **state)
{
	(void)state;
	desc(0, BUF_GPA, 8, 0, 0);
	assert_int_equal(virtq_push(&f.q, 0, 8), -EINVAL);
	assert_int_equal(virtq_push(&f.q, QSIZE, 8), -EINVAL);
	assert_int_equal(virtq_push(&f.q, 0xffff, 8), -EINVAL);
	assert_int_equal(used()->idx, 0);
	assert_int_equal(used()->ring[0].id, 0);
	assert_int_equal(used()->ring[0].len, 0);
	make_avail(0);
	assert_int_equal(pop(), 1);
	assert_int_equal(virtq_push(&f.q, 1, 8), -EINVAL);
	assert_int_equal(virtq_push(&f.q, 0, 8), 0);
	assert_int_equal(virtq_push(&f.q, 0, 8), -EINVAL); /* twice */
	assert_int_equal(used()->idx, 1);
	assert_int_equal(f.q.used_idx, 1);
	assert_int_equal(used()->ring[1].len, 0);
	assert_false(f.q.broken);
}

/* ---- enable, reset ---- */

static void test_enable_checks(void **state)
{
	static const uint16_t sizes[] = { 0, 3, 6, 100, VIRTQ_MAX_SIZE + 1, 2 * VIRTQ_MAX_SIZE };
	static const struct {
		uint64_t desc, avail, used, features;
	} bad[] = {
		{ DESC_GPA + 8, AVAIL_GPA, USED_GPA, 0 }, /* desc not 16-aligned */
		{ DESC_GPA, AVAIL_GPA + 1, USED_GPA, 0 }, /* avail not 2-aligned */
		{ DESC_GPA, AVAIL_GPA, USED_GPA + 2, 0 }, /* used not 4-aligned */
		{ HOLE_GPA, AVAIL_GPA, USED_GPA, 0 },	  /* in the hole */
		{ DESC_GPA, HOLE_GPA, USED_GPA, 0 },
		{ DESC_GPA, AVAIL_GPA, HOLE_GPA, 0 },
		{ RAM_SIZE - 16 * QSIZE + 16, AVAIL_GPA, USED_GPA, 0 }, /* straddles RAM end */
		{ DESC_GPA, RAM_SIZE - 2, USED_GPA, 0 },
		{ DESC_GPA, AVAIL_GPA, HIGH_GPA + HIGH_SIZE - 4, 0 },
		{ UINT64_MAX - 15, AVAIL_GPA, USED_GPA, 0 }, /* wraps */
		/* Fit exactly without the event words, not with them. */
		{ DESC_GPA, RAM_SIZE - (4 + 2 * QSIZE), USED_GPA, FEAT_EVENT },
		{ DESC_GPA, AVAIL_GPA, RAM_SIZE - (4 + 8 * QSIZE), FEAT_EVENT },
	};
	struct gmem skew = f.mem;
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		enable(QSIZE, 0);
		assert_int_equal(
			virtq_enable(&f.q, &f.mem, sizes[i], DESC_GPA, AVAIL_GPA, USED_GPA, 0),
			-EINVAL);
		assert_false(f.q.enabled);
		assert_int_equal(pop(), 0);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enable(QSIZE, 0);
		assert_int_equal(virtq_enable(&f.q, &f.mem, QSIZE, bad[i].desc, bad[i].avail,
					      bad[i].used, bad[i].features),
				 -EINVAL);
		assert_false(f.q.enabled);
		assert_int_equal(pop(), 0);
		assert_int_equal(virtq_push(&f.q, 0, 0), -EINVAL);
	}
	/*
	 * A region whose host mapping is aligned unlike its guest addresses: the
	 * guest address must be aligned, and so must the host view (atomics).
	 */
	assert_int_equal(gmem_add(&skew, HOLE_GPA + 1, 0x8000, f.ram + 0x80000), 0);
	assert_int_equal(virtq_enable(&f.q, &skew, QSIZE, HOLE_GPA + 1, AVAIL_GPA, USED_GPA, 0),
			 -EINVAL);
	assert_int_equal(virtq_enable(&f.q, &skew, QSIZE, HOLE_GPA + 0x10, AVAIL_GPA, USED_GPA, 0),
			 -EINVAL);
	assert_int_equal(
		virtq_enable(&f.q, &skew, QSIZE, DESC_GPA, AVAIL_GPA, HOLE_GPA + 0x1001, 0),
		-EINVAL);
	assert_false(f.q.enabled);

	/* The same exact fits are fine without EVENT_IDX, and everything in high RAM too. */
	assert_int_equal(virtq_enable(&f.q, &f.mem, QSIZE, RAM_SIZE - 16 * QSIZE, AVAIL_GPA,
				      RAM_SIZE - 16 * QSIZE - (4 + 8 * QSIZE), 0),
			 0);
	assert_int_equal(virtq_enable(&f.q, &f.mem, QSIZE, DESC_GPA, RAM_SIZE - (4 + 2 * QSIZE),
				      USED_GPA, 0),
			 0);
	assert_int_equal(virtq_enable(&f.q, &f.mem, VIRTQ_MAX_SIZE, HIGH_GPA, HIGH_GPA + 0x4000,
				      HIGH_GPA + 0x8000, FEAT_EVENT | FEAT_INDIRECT),
			 0);
	assert_true(f.q.event_idx);
	assert_true(f.q.indirect);
	assert_int_equal(f.q.size, VIRTQ_MAX_SIZE);
	assert_ptr_equal(f.q.desc, f.high);
}

static void test_reset_recovers(void **state)
{
	(void)state;
	desc(0, BUF_GPA, 8, NEXT, 0);
	desc(1, BUF_GPA, 8, 0, 0);
	make_avail(1);
	assert_int_equal(pop(), 1);
	make_avail(0);
	assert_broken();
	assert_int_equal(f.q.inflight, 1);

	virtq_reset(&f.q);
	assert_false(f.q.enabled);
	assert_false(f.q.broken);
	assert_int_equal(f.q.inflight, 0);
	assert_int_equal(f.q.inflight_map[0], 0);
	assert_int_equal(pop(), 0);

	/* The driver starts over with a fresh ring; head 1 is no longer in flight. */
	enable(QSIZE, FEAT_EVENT | FEAT_INDIRECT);
	assert_int_equal(f.q.last_avail, 0);
	assert_int_equal(f.q.used_idx, 0);
	desc(1, BUF_GPA, 8, 0, 0);
	make_avail(1);
	assert_int_equal(pop(), 1);
	assert_int_equal(f.c.head, 1);
	assert_int_equal(virtq_push(&f.q, 1, 0), 0);
	assert_true(virtq_should_notify(&f.q));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_normal_chain),
		T(test_size_one_and_full_ring),
		T(test_indirect_chain),
		T(test_event_idx_avail_event),
		T(test_event_idx_should_notify),
		T(test_no_interrupt_flag),
		T(test_event_idx_no_lost_kick),
		T(test_loops),
		T(test_bad_indices),
		T(test_bad_buffers),
		T(test_bad_indirect),
		T(test_out_after_in),
		T(test_head_twice_in_flight),
		T(test_iovec_capacity),
		T(test_part_over_4g),
		T(test_aliased_totals),
		T(test_push_not_in_flight),
		T(test_enable_checks),
		T(test_reset_recovers),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
