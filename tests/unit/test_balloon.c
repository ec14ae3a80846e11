/* Unit tests for virtio-balloon: each queue with a guest-like driver, hostile PFNs and ranges. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tests/unit/virtio_env.h"
#include "virtio/balloon/internal.h"

#define BASE 0xd0000000ULL
#define GSI 7
#define RAM_GPA 0x100000ULL /* rings and buffers */
#define RAM_SIZE 0x40000ULL
#define RING(q) (RAM_GPA + (uint64_t)(q)*0x2000)
#define DESC(q) RING(q)
#define AVAIL(q) (RING(q) + 0x1000)
#define USED(q) (RING(q) + 0x1800)
#define BUF (RAM_GPA + 0x10000) /* 192 KiB of buffers from here */
#define QSIZE 64
/* The memory the guest gives back: 8 MiB at 4 GiB, mapped like hull's RAM, so residency shows. */
#define BIG_GPA 0x100000000ULL
#define BIG_PAGES 2048
#define PG 4096ULL
#define BIG_PFN (BIG_GPA / PG)

#define S_ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV VIRTIO_CONFIG_S_DRIVER
#define S_FOK VIRTIO_CONFIG_S_FEATURES_OK
#define S_DOK VIRTIO_CONFIG_S_DRIVER_OK

#define F_STATS (1ULL << VIRTIO_BALLOON_F_STATS_VQ)
#define F_OOM (1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM)
#define F_REPORT (1ULL << VIRTIO_BALLOON_F_REPORTING)
#define F_ALL (F_STATS | F_OOM | F_REPORT | (1ULL << VIRTIO_F_VERSION_1))

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

static struct env {
	struct virtio_env v;
	struct vballoon *b;
	struct virtio_dev *d;
	uint8_t *big;
	unsigned int pulses;
	uint16_t avail_idx[VBALLOON_QUEUES], next_desc[VBALLOON_QUEUES];
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
	e.big = mmap(NULL, BIG_PAGES * PG, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (e.big == MAP_FAILED || gmem_add(&e.v.mem, BIG_GPA, BIG_PAGES * PG, e.big))
		return -1;
	if (vballoon_create(&e.v.host, &(struct vballoon_params){ .now_ns = fake_now }, &e.b) ||
	    virtio_mmio_attach(vballoon_dev(e.b), &e.v.host, BASE, GSI) || e.v.mmio.n != 1)
		return -1;
	e.d = e.v.mmio.r[0].dev;
	fake_ns = 1000000000ULL;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vballoon_destroy(e.b);
	munmap(e.big, BIG_PAGES * PG);
	virtio_env_fini(&e.v);
	return 0;
}

/* Registers through the transport; config writes of other widths go through the bus below. */
static uint32_t rd(uint64_t off)
{
	return virtio_env_rd(e.d, off);
}

static void wr(uint64_t off, uint32_t v)
{
	virtio_env_wr(e.d, off, v);
}

static const struct virtio_drv drv = { rd, wr };

static void *gpa(uint64_t a)
{
	return gmem_ptr(&e.v.mem, a, 1);
}

/* The driver: the features in want, nq queues of QSIZE, DRIVER_OK. */
static void bring_up(uint64_t want, unsigned int nq)
{
	unsigned int q;

	memset(e.v.ram, 0, BUF - RAM_GPA);
	memset(e.avail_idx, 0, sizeof(e.avail_idx));
	memset(e.next_desc, 0, sizeof(e.next_desc));
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(virtio_drv_negotiate(&drv, want), S_ACK | S_DRV | S_FOK);
	for (q = 0; q < nq; q++) {
		virtio_drv_queue(&drv, q, QSIZE, DESC(q), AVAIL(q), USED(q));
		wr(VIRTIO_MMIO_QUEUE_READY, 1);
	}
	assert_int_equal(virtio_drv_driver_ok(&drv), S_ACK | S_DRV | S_FOK | S_DOK);
	/* DRIVER_OK has the device look at its queues once: let the loop do that. */
	while (virtio_env_dispatch(&e.v, 0) > 0)
		;
	e.pulses = 0;
}

/* Make one chain available on queue q; returns its head. */
static uint16_t post(unsigned int q, const struct seg *s, unsigned int n)
{
	struct vring_desc *desc = gpa(DESC(q));
	struct vring_avail *a = gpa(AVAIL(q));
	uint16_t head = e.next_desc[q] % QSIZE;
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t idx = e.next_desc[q]++ % QSIZE;

		desc[idx] = (struct vring_desc){
			.addr = s[i].gpa,
			.len = s[i].len,
			.flags = (uint16_t)((s[i].write ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = (uint16_t)(e.next_desc[q] % QSIZE),
		};
	}
	a->ring[e.avail_idx[q] % QSIZE] = head;
	__atomic_store_n(&a->idx, ++e.avail_idx[q], __ATOMIC_RELEASE);
	return head;
}

/* Notify queue q and run the loop until it is idle. */
static void kick(unsigned int q)
{
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, q);
	while (virtio_env_dispatch(&e.v, 0) > 0)
		;
}

static uint16_t used_idx(unsigned int q)
{
	return __atomic_load_n(&((struct vring_used *)gpa(USED(q)))->idx, __ATOMIC_ACQUIRE);
}

static struct vring_used_elem used(unsigned int q, unsigned int i)
{
	return ((struct vring_used *)gpa(USED(q)))->ring[i % QSIZE];
}

/* PFNs as the driver writes them (le32) at BUF + off; the segment that carries them. */
static struct seg pfns_at(uint64_t off, const uint32_t *pfn, unsigned int n)
{
	uint32_t *p = gpa(BUF + off);
	unsigned int i;

	for (i = 0; i < n; i++)
		p[i] = htole32(pfn[i]);
	return (struct seg){ BUF + off, n * 4, false };
}

/* Every page of the big region touched: resident, holding its index + 1. */
static void touch_all(void)
{
	unsigned int i;

	for (i = 0; i < BIG_PAGES; i++)
		memset(e.big + i * PG, (int)(i % 255 + 1), PG);
}

static bool resident(unsigned int page)
{
	unsigned char v;

	assert_int_equal(mincore(e.big + page * PG, PG, &v), 0);
	return v & 1;
}

static unsigned int resident_count(void)
{
	static unsigned char vec[BIG_PAGES];
	unsigned int i, n = 0;

	assert_int_equal(mincore(e.big, BIG_PAGES * PG, vec), 0);
	for (i = 0; i < BIG_PAGES; i++)
		n += vec[i] & 1;
	return n;
}

static uint32_t config32(uint32_t off)
{
	return rd(VIRTIO_MMIO_CONFIG + off);
}

/* --- the device ------------------------------------------------------------------------ */

static void test_device(void **state)
{
	uint8_t b[2] = { 0x34, 0x12 };
	uint32_t gen;

	(void)state;
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BALLOON);
	/* Stats, deflate-on-OOM and reporting; not MUST_TELL_HOST, hinting or poison. */
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_FEATURES) & 0xffffff, F_STATS | F_OOM | F_REPORT);
	wr(VIRTIO_MMIO_QUEUE_SEL, 3);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), VBALLOON_QUEUE_MAX);
	wr(VIRTIO_MMIO_QUEUE_SEL, 4);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	/* Hinting is not offered: a driver that wants it is refused. */
	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_STATUS, S_ACK);
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV);
	virtio_drv_features(&drv, F_ALL | (1ULL << VIRTIO_BALLOON_F_FREE_PAGE_HINT));
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK);
	assert_false(rd(VIRTIO_MMIO_STATUS) & S_FOK);

	/* Config: num_pages is the host's, actual the driver's (whole or in part). */
	bring_up(F_ALL, 4);
	assert_int_equal(config32(0), 0);
	assert_int_equal(config32(4), 0);
	wr(VIRTIO_MMIO_CONFIG + 0, 77);
	wr(VIRTIO_MMIO_CONFIG + 4, 0x100);
	wr(VIRTIO_MMIO_CONFIG + 8, 5);
	assert_int_equal(config32(0), 0);
	assert_int_equal(config32(4), 0x100);
	assert_int_equal(config32(8), 0);
	assert_true(bus_write(&e.v.mmio, BASE + VIRTIO_MMIO_CONFIG + 6, b, 2));
	assert_int_equal(config32(4), 0x12340100);
	assert_true(bus_write(&e.v.mmio, BASE + VIRTIO_MMIO_CONFIG + 3, b, 1));
	assert_int_equal(config32(0), 0);

	/* A target: num_pages, a new generation, a configuration interrupt. */
	gen = rd(VIRTIO_MMIO_CONFIG_GENERATION);
	assert_int_equal(vballoon_set_target(e.b, 256ULL << 20), 0);
	assert_int_equal(config32(0), (256 << 20) / PG);
	assert_int_equal(rd(VIRTIO_MMIO_CONFIG_GENERATION), gen + 1);
	assert_int_equal(e.pulses, 1);
	assert_true(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(vballoon_set_target(e.b, 4097), -EINVAL);
	assert_int_equal(vballoon_set_target(e.b, 1ULL << 44), -EINVAL);
	assert_int_equal(vballoon_set_target(e.b, (1ULL << 44) - PG), 0);
	assert_int_equal(config32(0), UINT32_MAX);

	/* A reset empties the guest's balloon; the host's target stays. */
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(config32(4), 0);
	assert_int_equal(config32(0), UINT32_MAX);
	/* Without a driver there is no interrupt, but the target is there for it. */
	e.pulses = 0;
	assert_int_equal(vballoon_set_target(e.b, 8 * PG), 0);
	assert_int_equal(e.pulses, 0);
	assert_int_equal(config32(0), 8);
	assert_ptr_equal(vballoon_of(e.d), e.b);
}

static void test_roles(void **state)
{
	(void)state;
	/* Queues are numbered without gaps: reporting follows stats, or deflate without it. */
	bring_up(F_ALL, 4);
	assert_int_equal(vballoon_role(e.b, 0), VB_INFLATE);
	assert_int_equal(vballoon_role(e.b, 1), VB_DEFLATE);
	assert_int_equal(vballoon_role(e.b, 2), VB_STATS);
	assert_int_equal(vballoon_role(e.b, 3), VB_REPORT);
	bring_up(F_REPORT | (1ULL << VIRTIO_F_VERSION_1), 3);
	assert_int_equal(vballoon_role(e.b, 2), VB_REPORT);
	assert_int_equal(vballoon_role(e.b, 3), VB_NONE);
	bring_up(F_STATS | (1ULL << VIRTIO_F_VERSION_1), 3);
	assert_int_equal(vballoon_role(e.b, 2), VB_STATS);
	assert_int_equal(vballoon_role(e.b, 3), VB_NONE);
	bring_up(1ULL << VIRTIO_F_VERSION_1, 2);
	assert_int_equal(vballoon_role(e.b, 2), VB_NONE);
}

/* --- inflate and deflate ------------------------------------------------------------------ */

static void test_inflate_releases(void **state)
{
	/* A run of 8, two single pages, a page twice, a run of 3 out of order. */
	uint32_t pfn[] = { BIG_PFN + 16, BIG_PFN + 17,	BIG_PFN + 18,  BIG_PFN + 19,  BIG_PFN + 20,
			   BIG_PFN + 21, BIG_PFN + 22,	BIG_PFN + 23,  BIG_PFN + 100, BIG_PFN + 5,
			   BIG_PFN + 5,	 BIG_PFN + 202, BIG_PFN + 201, BIG_PFN + 200 };
	struct seg s = pfns_at(0, pfn, 14);
	struct vballoon_info info;
	unsigned int before;
	uint16_t head;

	(void)state;
	bring_up(F_ALL, 4);
	touch_all();
	before = resident_count();
	assert_int_equal(before, BIG_PAGES);
	head = post(VB_INFLATE, &s, 1);
	kick(VB_INFLATE);
	assert_int_equal(used_idx(VB_INFLATE), 1);
	assert_int_equal(used(VB_INFLATE, 0).id, head);
	assert_int_equal(used(VB_INFLATE, 0).len, 0);
	assert_int_equal(e.pulses, 1);
	/* Exactly those pages left hull's memory, and read as zeros now. */
	assert_false(resident(16));
	assert_false(resident(23));
	assert_false(resident(100));
	assert_false(resident(5));
	assert_false(resident(200));
	assert_false(resident(202));
	assert_true(resident(15));
	assert_true(resident(24));
	assert_true(resident(6));
	assert_true(resident(203));
	assert_int_equal(resident_count(), before - 13);
	vballoon_query(e.b, &info);
	assert_int_equal(info.released, 14 * PG); /* the page given twice counts twice */
	assert_int_equal(e.b->refused, 0);

	/* Deflating touches nothing on the host: the pages come back when the guest uses them. */
	s = pfns_at(0x1000, pfn, 8);
	head = post(VB_DEFLATE, &s, 1);
	kick(VB_DEFLATE);
	assert_int_equal(used_idx(VB_DEFLATE), 1);
	assert_int_equal(used(VB_DEFLATE, 0).id, head);
	assert_int_equal(resident_count(), before - 13);
	/* Released pages read as zeros (reading maps them again), the others kept their bytes. */
	assert_int_equal(e.big[16 * PG], 0);
	assert_int_equal(e.big[201 * PG + 100], 0);
	assert_int_equal(e.big[24 * PG], 24 % 255 + 1);
	e.big[23 * PG] = 1;
	assert_true(resident(23));
}

static void test_inflate_hostile(void **state)
{
	/*
	 * Pages that are not guest RAM among good ones: the MMIO hole, the gap below the big
	 * region, one past its end, the highest PFN, a run that crosses the region's end.
	 */
	uint32_t pfn[] = { 0xd0000,
			   BIG_PFN - 1,
			   BIG_PFN + 1,
			   BIG_PFN + BIG_PAGES,
			   0xffffffff,
			   BIG_PFN + BIG_PAGES - 2,
			   BIG_PFN + BIG_PAGES - 1,
			   BIG_PFN + BIG_PAGES,
			   BIG_PFN + BIG_PAGES + 1,
			   (RAM_GPA + RAM_SIZE) / PG - 1 };
	uint32_t many[VBALLOON_PFNS_MAX + 1];
	struct seg s = pfns_at(0, pfn, 10), split[2], odd;
	unsigned int i, before;

	(void)state;
	bring_up(F_ALL, 4);
	touch_all();
	post(VB_INFLATE, &s, 1);
	kick(VB_INFLATE);
	assert_int_equal(used_idx(VB_INFLATE), 1);
	assert_false(resident(1));
	assert_false(resident(BIG_PAGES - 2));
	assert_false(resident(BIG_PAGES - 1));
	assert_int_equal(resident_count(), BIG_PAGES - 3);
	/* 4 good pages (one is in the rings' RAM: that guest breaks only itself), 6 refused. */
	assert_int_equal(e.b->released_pages, 4);
	assert_int_equal(e.b->refused, 6);
	assert_true(virtio_dev_live(e.d));

	/* 257 PFNs, however they are split: refused whole, nothing released. */
	touch_all();
	before = resident_count();
	for (i = 0; i < VBALLOON_PFNS_MAX + 1; i++)
		many[i] = BIG_PFN + i;
	split[0] = pfns_at(0x2000, many, 200);
	split[1] = pfns_at(0x3000, many + 200, VBALLOON_PFNS_MAX + 1 - 200);
	post(VB_INFLATE, split, 2);
	kick(VB_INFLATE);
	/* Aliased: one 1 KiB buffer 63 times over claims 16128 PFNs. */
	{
		struct seg alias[QSIZE - 1];

		for (i = 0; i < QSIZE - 1; i++)
			alias[i] = pfns_at(0x2000, many, VBALLOON_PFNS_MAX);
		post(VB_INFLATE, alias, QSIZE - 1);
		kick(VB_INFLATE);
	}
	/* Not a whole number of PFNs. */
	odd = pfns_at(0x2000, many, 4);
	odd.len = 15;
	post(VB_INFLATE, &odd, 1);
	kick(VB_INFLATE);
	assert_int_equal(used_idx(VB_INFLATE), 4);
	assert_int_equal(resident_count(), before);
	assert_int_equal(e.b->refused, 9);
	assert_true(virtio_dev_live(e.d));
	/* Exactly 256 in two buffers is fine. */
	split[1].len = (VBALLOON_PFNS_MAX - 200) * 4;
	post(VB_INFLATE, split, 2);
	kick(VB_INFLATE);
	assert_int_equal(resident_count(), before - VBALLOON_PFNS_MAX);
}

static void test_inflate_budget(void **state)
{
	uint32_t pfn;
	struct seg s;
	unsigned int i;

	(void)state;
	bring_up(F_ALL, 4);
	/* 40 chains and one notification: 16 per pass of the loop, the rest on later passes. */
	for (i = 0; i < 40; i++) {
		pfn = BIG_PFN + i;
		s = pfns_at(i * 4, &pfn, 1);
		post(VB_INFLATE, &s, 1);
	}
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, VB_INFLATE);
	assert_int_equal(virtio_env_dispatch(&e.v, 0), 1);
	assert_int_equal(used_idx(VB_INFLATE), VBALLOON_CHAINS_PER_CALL);
	assert_int_equal(virtio_env_dispatch(&e.v, 0), 1);
	assert_int_equal(used_idx(VB_INFLATE), 2 * VBALLOON_CHAINS_PER_CALL);
	assert_int_equal(virtio_env_dispatch(&e.v, 0), 1);
	assert_int_equal(used_idx(VB_INFLATE), 40);
	/* Nothing left: no requeue, the loop is idle. */
	assert_int_equal(virtio_env_dispatch(&e.v, 0), 0);
	assert_int_equal(e.b->released_pages, 40);
}

static void test_broken_ring(void **state)
{
	struct vring_avail *a;

	(void)state;
	bring_up(F_ALL, 4);
	/* A head past the queue: the device fails (NEEDS_RESET), hull goes on. */
	a = gpa(AVAIL(VB_DEFLATE));
	a->ring[0] = QSIZE + 3;
	__atomic_store_n(&a->idx, 1, __ATOMIC_RELEASE);
	virtio_env_capture_start();
	kick(VB_DEFLATE);
	assert_non_null(strstr(virtio_env_capture_end(), "virtio-balloon: queue 1: "));
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* A reset and the driver again: it works. */
	bring_up(F_ALL, 4);
	assert_true(virtio_dev_live(e.d));
}

/* --- free page reporting ------------------------------------------------------------------- */

static void test_report(void **state)
{
	/* 2 MiB and 4 MiB blocks as Linux reports them, and a readable buffer it ignores. */
	struct seg ok[3] = { { BIG_GPA + (2ULL << 20), 2U << 20, true },
			     { BIG_GPA + (4ULL << 20), 4U << 20, true },
			     { BUF, 16, false } };
	struct seg bad[3] = { { BIG_GPA + PG + 512, 2 * PG, true },   /* misaligned */
			      { BIG_GPA + 8 * PG, 2 * PG + 1, true }, /* a partial page */
			      { BIG_GPA + 16 * PG, PG, true } };      /* fine */
	struct seg many[VBALLOON_REPORT_MAX + 1];
	struct vballoon_info info;
	unsigned int i;
	uint16_t head;

	(void)state;
	bring_up(F_ALL, 4);
	touch_all();
	/* Readable parts come first in a chain. */
	{
		struct seg order[3] = { ok[2], ok[0], ok[1] };

		head = post(VB_REPORT, order, 3);
	}
	kick(VB_REPORT);
	assert_int_equal(used_idx(VB_REPORT), 1);
	assert_int_equal(used(VB_REPORT, 0).id, head);
	assert_int_equal(used(VB_REPORT, 0).len, 0);
	assert_int_equal(resident_count(), BIG_PAGES - 1536);
	assert_true(resident(511));
	assert_false(resident(512));
	assert_false(resident(2047));
	vballoon_query(e.b, &info);
	assert_int_equal(info.reported, 6ULL << 20);

	/* Misaligned and partial ranges are refused, the good one in the same chain released. */
	touch_all();
	post(VB_REPORT, bad, 3);
	kick(VB_REPORT);
	assert_int_equal(resident_count(), BIG_PAGES - 1);
	assert_false(resident(16));
	assert_int_equal(e.b->refused, 2);

	/* More ranges than Linux's 32 in one chain: refused whole. */
	for (i = 0; i < VBALLOON_REPORT_MAX + 1; i++)
		many[i] = (struct seg){ BIG_GPA + (uint64_t)i * 2 * PG, (uint32_t)PG, true };
	touch_all();
	post(VB_REPORT, many, VBALLOON_REPORT_MAX + 1);
	kick(VB_REPORT);
	assert_int_equal(resident_count(), BIG_PAGES);
	assert_int_equal(e.b->refused, 3);
	/* The same range 32 times over, aliased: released (once in effect), nothing more. */
	for (i = 0; i < VBALLOON_REPORT_MAX; i++)
		many[i] = (struct seg){ BIG_GPA, 4U << 20, true };
	post(VB_REPORT, many, VBALLOON_REPORT_MAX);
	kick(VB_REPORT);
	assert_int_equal(resident_count(), BIG_PAGES - 1024);

	/* Without the stats queue, reporting is queue 2. */
	bring_up(F_REPORT | (1ULL << VIRTIO_F_VERSION_1), 3);
	touch_all();
	post(2, ok, 1);
	kick(2);
	assert_int_equal(used_idx(2), 1);
	assert_int_equal(resident_count(), BIG_PAGES - 512);
}

/* --- statistics ----------------------------------------------------------------------------- */

/* n statistics entries at BUF + off: tag[i], value tag[i] * 1000 + 1. */
static struct seg stats_at(uint64_t off, const uint16_t *tag, unsigned int n)
{
	uint8_t *p = gpa(BUF + off);
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t t = htole16(tag[i]);
		uint64_t v = htole64((uint64_t)tag[i] * 1000 + 1);

		memcpy(p + i * VBALLOON_STAT_SIZE, &t, 2);
		memcpy(p + i * VBALLOON_STAT_SIZE + 2, &v, 8);
	}
	return (struct seg){ BUF + off, n * VBALLOON_STAT_SIZE, false };
}

static void test_stats(void **state)
{
	static const uint16_t tags[] = { 4, 5, 6, 99, 15, 16, 0 };
	uint16_t many[VBALLOON_STATS_MAX + 1];
	struct vballoon_info info;
	struct seg s = stats_at(0, tags, 7);
	uint16_t h1, h2;
	unsigned int i;

	(void)state;
	bring_up(F_ALL, 4);
	vballoon_query(e.b, &info);
	assert_int_equal(info.have, 0);
	/* The driver's first buffer is kept, not returned. */
	h1 = post(VB_STATS, &s, 1);
	kick(VB_STATS);
	assert_int_equal(used_idx(VB_STATS), 0);
	fake_ns += 250000000;
	vballoon_query(e.b, &info);
	/* Known tags kept, 99 and 16 ignored. */
	assert_int_equal(info.have, (1u << 4) | (1u << 5) | (1u << 6) | (1u << 15) | 1u);
	assert_int_equal(info.stats[4], 4001);
	assert_int_equal(info.stats[15], 15001);
	assert_int_equal(info.stats[0], 1);
	assert_int_equal(info.stats_age_ns, 250000000);
	assert_string_equal(vballoon_stat_name(4), "free_memory");
	assert_string_equal(vballoon_stat_name(15), "direct_reclaims");
	assert_null(vballoon_stat_name(16));
	/* The query sent the buffer back for fresh figures, with an interrupt. */
	assert_int_equal(used_idx(VB_STATS), 1);
	assert_int_equal(used(VB_STATS, 0).id, h1);
	assert_int_equal(used(VB_STATS, 0).len, 0);
	assert_int_equal(e.pulses, 1);
	/* The guest answers with new figures: they replace the old ones. */
	s = stats_at(0x100, tags, 2);
	h2 = post(VB_STATS, &s, 1);
	kick(VB_STATS);
	vballoon_query(e.b, &info);
	assert_int_equal(info.have, (1u << 4) | (1u << 5));
	assert_int_equal(info.stats_age_ns, 0);
	assert_int_equal(used_idx(VB_STATS), 2);
	assert_int_equal(used(VB_STATS, 1).id, h2);

	/* Too long (33 entries, or aliased to 4 GiB): held, but the figures are kept. */
	for (i = 0; i < VBALLOON_STATS_MAX + 1; i++)
		many[i] = 4;
	s = stats_at(0x200, many, VBALLOON_STATS_MAX + 1);
	post(VB_STATS, &s, 1);
	kick(VB_STATS);
	assert_int_equal(e.b->refused, 1);
	assert_true(e.b->stats_held);
	vballoon_query(e.b, &info);
	assert_int_equal(info.have, (1u << 4) | (1u << 5));
	assert_int_equal(info.stats[4], 4001);
	/* Two buffers at once: the first goes back when the second comes. */
	s = stats_at(0x400, tags, 1);
	h1 = post(VB_STATS, &s, 1);
	h2 = post(VB_STATS, &s, 1);
	kick(VB_STATS);
	assert_int_equal(used_idx(VB_STATS), 4);
	assert_int_equal(used(VB_STATS, 3).id, h1);
	assert_true(e.b->stats_held);
	assert_int_equal(e.b->stats_head, h2);
}

/*
 * Linux puts its first statistics buffer in and kicks before DRIVER_OK (virtballoon's init_vqs):
 * that kick is dropped, so DRIVER_OK must make the device look at its queues.
 */
static void test_stats_before_driver_ok(void **state)
{
	static const uint16_t tags[] = { 4, 5 };
	struct vballoon_info info;
	struct seg s;
	unsigned int q;

	(void)state;
	memset(e.v.ram, 0, BUF - RAM_GPA);
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(virtio_drv_negotiate(&drv, F_ALL), S_ACK | S_DRV | S_FOK);
	for (q = 0; q < 4; q++) {
		virtio_drv_queue(&drv, q, QSIZE, DESC(q), AVAIL(q), USED(q));
		wr(VIRTIO_MMIO_QUEUE_READY, 1);
	}
	s = stats_at(0, tags, 2);
	post(VB_STATS, &s, 1);
	kick(VB_STATS);
	vballoon_query(e.b, &info);
	assert_int_equal(info.have, 0);
	assert_int_equal(virtio_drv_driver_ok(&drv), S_ACK | S_DRV | S_FOK | S_DOK);
	while (virtio_env_dispatch(&e.v, 0) > 0)
		;
	vballoon_query(e.b, &info);
	assert_int_equal(info.have, (1u << 4) | (1u << 5));
	assert_int_equal(info.stats[5], 5001);
	/* The query gave it back for fresh figures. */
	assert_int_equal(used_idx(VB_STATS), 1);
}

static void test_stats_timer(void **state)
{
	static const uint16_t tags[] = { 4 };
	struct vballoon_info info;
	struct seg s = stats_at(0, tags, 1);

	(void)state;
	bring_up(F_ALL, 4);
	post(VB_STATS, &s, 1);
	kick(VB_STATS);
	/* A query arms the refresh: each tick returns the buffer the guest sent since. */
	vballoon_query(e.b, &info);
	assert_true(loop_timer_armed(&e.v.loop, &e.b->stats_timer));
	assert_int_equal(used_idx(VB_STATS), 1);
	post(VB_STATS, &s, 1);
	kick(VB_STATS);
	fake_ns += VBALLOON_STATS_PERIOD_NS;
	vballoon_stats_tick(&e.v.loop, &e.b->stats_timer);
	assert_int_equal(used_idx(VB_STATS), 2);
	/* Nothing held (the guest has not answered): a tick does nothing. */
	vballoon_stats_tick(&e.v.loop, &e.b->stats_timer);
	assert_int_equal(used_idx(VB_STATS), 2);
	/* Nobody asked for KEEP: the timer stops and the guest's buffer stays with hull. */
	post(VB_STATS, &s, 1);
	kick(VB_STATS);
	fake_ns += VBALLOON_STATS_KEEP_NS + 1;
	vballoon_stats_tick(&e.v.loop, &e.b->stats_timer);
	assert_false(loop_timer_armed(&e.v.loop, &e.b->stats_timer));
	assert_int_equal(used_idx(VB_STATS), 2);
	/* A reset forgets the held buffer: nothing is returned into the new rings. */
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_false(e.b->stats_held);
	/* Without the stats feature a query returns nothing and arms a timer that does nothing. */
	bring_up(F_REPORT | (1ULL << VIRTIO_F_VERSION_1), 3);
	vballoon_query(e.b, &info);
	assert_int_equal(used_idx(2), 0);
}

/* --- the kind ------------------------------------------------------------------------------- */

static void test_kind(void **state)
{
	struct virtio_dev *d = NULL;

	(void)state;
	assert_string_equal(vballoon_kind.name, "balloon");
	assert_int_equal(vballoon_kind.form, VIRTIO_KIND_SWITCH);
	assert_false(vballoon_kind.default_on);
	assert_int_equal(vballoon_kind.create(NULL, NULL, 0, &e.v.host, &d), 0);
	assert_non_null(vballoon_of(d));
	assert_string_equal(d->ops->type, "balloon");
	virtio_dev_destroy(d);
	assert_null(vballoon_of(NULL));
}

/*
 * The kind's settings (a container VM's): without deflate-on-OOM the guest cannot take back by
 * itself what the host's memory.max no longer counts; stats and reporting stay. No settings
 * (--balloon on): all three.
 */
static void test_kind_no_deflate_on_oom(void **state)
{
	struct vballoon_config c = { .no_deflate_on_oom = true };
	struct virtio_dev *d;

	(void)state;
	assert_int_equal(vballoon_kind.create(&c, NULL, 0, &e.v.host, &d), 0);
	assert_int_equal(d->host_features & (F_STATS | F_OOM | F_REPORT), F_STATS | F_REPORT);
	vballoon_destroy(vballoon_of(d));
	assert_int_equal(vballoon_kind.create(NULL, NULL, 0, &e.v.host, &d), 0);
	assert_int_equal(d->host_features & (F_STATS | F_OOM | F_REPORT),
			 F_STATS | F_OOM | F_REPORT);
	vballoon_destroy(vballoon_of(d));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_device),		 T(test_roles),		 T(test_inflate_releases),
		T(test_inflate_hostile), T(test_inflate_budget), T(test_broken_ring),
		T(test_report),		 T(test_stats),		 T(test_stats_before_driver_ok),
		T(test_stats_timer),	 T(test_kind),		 T(test_kind_no_deflate_on_oom),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
