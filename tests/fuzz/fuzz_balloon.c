/* libFuzzer target: a hostile driver's rings, PFNs, ranges and statistics against the balloon. */
#include <endian.h>
#include <linux/virtio_mmio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tests/fuzz/fuzz_dev.h"
#include "virtio/balloon/internal.h"

/*
 * Input: a 4-byte header, then operations.
 *   header: [0] queue size 1 << (b % 9) for every queue; [1] bit 0 EVENT_IDX, bit 1
 *   INDIRECT_DESC, bit 2 STATS_VQ, bit 3 DEFLATE_ON_OOM, bit 4 REPORTING, bit 5 FREE_PAGE_HINT
 *   too, written whether offered or not (the device must refuse it); [2] queues the driver sets
 *   up (b % 5); [3] unused.
 *   ops (first byte % 9):
 *    0 RAM write: le16 offset, one byte of length, that many bytes
 *    1 kick queue (next byte % 4), then run the loop (bounded)
 *    2 make b chains available on queue (next byte % 4), whatever the rings hold
 *    3 a crafted chain on queue (b % 4) of (next byte % 8 + 1) buffers, each: a selector byte
 *      (bits 0-2 where: BUFS, BUFS + page, the big region's start, middle and last page, the
 *      rings, the MMIO hole, 4 GiB - 1 page; bit 6 length in pages; bit 7 writable) and a le16
 *      length (bytes, or pages with bit 6); buffers may alias each other
 *    4 PFNs at BUFS + (b % 16) * 256: (next byte % 128) of them, each a selector byte: the
 *      base (bits 0-2: the big region, the rings' RAM, the hole, 0xffffffff, 0, the big
 *      region's end, the page before it, BUFS) plus bits 3-7
 *    5 statistics entries at BUFS + (b % 16) * 256: (next byte % 40), each one byte of tag
 *      (0..255) and one of value
 *    6 set the target to le16 pages (or an unaligned byte count with bit 15)
 *    7 query (fresh statistics asked for), a refresh tick with the clock moved by b seconds
 *    8 a config write: offset b % 16, length 1, 2 or 4 (next byte), le32 value; or a reset
 *      and bring-up again when b bit 7 is set
 * Pages the guest names are really released (madvise) from the test's RAM: the fuzzer zeroes
 * its own rings sometimes, as a guest may.
 */

#define RAM_GPA 0x10000ULL
#define RAM_SIZE 0x40000ULL
#define BASE 0xd0000000ULL
#define RING(q) (RAM_GPA + (uint64_t)(q)*0x2000)
#define DESC(q) RING(q)
#define AVAIL(q) (RING(q) + 0x1000)
#define USED(q) (RING(q) + 0x1400)
#define BUFS (RAM_GPA + 0x8000) /* buffers, PFN lists and statistics from here */
#define PG 4096ULL
/* A second region of guest RAM, as hull's above 4 GiB. */
#define BIG_GPA 0x100000000ULL
#define BIG_SIZE (64 * PG)
#define MAX_OPS 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct virtio_env env;
static struct vballoon *b;
static uint8_t *big;
static uint16_t qsize, next_desc[VBALLOON_QUEUES], avail_idx[VBALLOON_QUEUES];
static uint64_t fake_ns = 1;

static uint64_t fake_now(void)
{
	return fake_ns;
}

static void cleanup(void)
{
	vballoon_destroy(b);
	munmap(big, BIG_SIZE);
}

static void init(void)
{
	const struct vballoon_params p = { .now_ns = fake_now };

	big = mmap(NULL, BIG_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (big == MAP_FAILED || virtio_env_init(&env, RAM_GPA, RAM_SIZE, fuzz_no_irq, NULL) ||
	    gmem_add(&env.mem, BIG_GPA, BIG_SIZE, big) || vballoon_create(&env.host, &p, &b) ||
	    virtio_mmio_attach(vballoon_dev(b), &env.host, BASE, 5))
		abort();
	atexit(cleanup);
}

static void wr(uint64_t off, uint32_t v)
{
	virtio_env_wr(vballoon_dev(b), off, v);
}

static uint32_t rd(uint64_t off)
{
	return virtio_env_rd(vballoon_dev(b), off);
}

static const struct virtio_drv drv = { rd, wr };

static void bring_up(const uint8_t *h)
{
	uint64_t f = fuzz_ring_features(h[1]);
	unsigned int q;

	if (h[1] & 4)
		f |= 1ULL << VIRTIO_BALLOON_F_STATS_VQ;
	if (h[1] & 8)
		f |= 1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
	if (h[1] & 16)
		f |= 1ULL << VIRTIO_BALLOON_F_REPORTING;
	if (h[1] & 32)
		f |= 1ULL << VIRTIO_BALLOON_F_FREE_PAGE_HINT;
	qsize = (uint16_t)(1U << (h[0] % 9));
	memset(next_desc, 0, sizeof(next_desc));
	memset(avail_idx, 0, sizeof(avail_idx));
	wr(VIRTIO_MMIO_STATUS, 0);
	if (h[1] & 32) {
		/* Hinting is not offered: written as asked, the device must refuse FEATURES_OK. */
		wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
		wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
		virtio_drv_features(&drv, f);
		wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					       VIRTIO_CONFIG_S_FEATURES_OK);
	} else {
		virtio_drv_negotiate(&drv, f);
	}
	for (q = 0; q < h[2] % 5u; q++) {
		virtio_drv_queue(&drv, q, qsize, DESC(q), AVAIL(q), USED(q));
		wr(VIRTIO_MMIO_QUEUE_READY, 1);
	}
	virtio_drv_driver_ok(&drv);
}

static void *gpa(uint64_t a, uint64_t len)
{
	return gmem_ptr(&env.mem, a, len);
}

/* Where a crafted buffer starts, by selector. */
static uint64_t where(uint8_t sel)
{
	static const uint64_t at[8] = { BUFS,
					BUFS + PG,
					BIG_GPA,
					BIG_GPA + BIG_SIZE / 2,
					BIG_GPA + BIG_SIZE - PG,
					RAM_GPA,
					0xd0000000ULL,
					0xfffff000ULL };

	return at[sel & 7];
}

/* A chain of the buffers the op describes, made available on q (the ring may be gone). */
static const uint8_t *crafted(const uint8_t *p, const uint8_t *end)
{
	struct vring_desc *desc;
	struct vring_avail *avail;
	unsigned int q, n, i;
	uint16_t head;

	if (end - p < 2)
		return NULL;
	q = p[0] % VBALLOON_QUEUES;
	n = p[1] % 8 + 1;
	p += 2;
	desc = gpa(DESC(q), 16 * 256);
	avail = gpa(AVAIL(q), 4 + 2 * 256);
	head = next_desc[q] % qsize;
	for (i = 0; i < n; i++, p += 3) {
		uint16_t idx = next_desc[q]++ % qsize;
		uint32_t len;

		if (end - p < 3)
			return NULL;
		len = (uint32_t)(p[1] | p[2] << 8);
		if (p[0] & 0x40)
			len *= PG;
		desc[idx] = (struct vring_desc){
			.addr = htole64(where(p[0])),
			.len = htole32(len),
			.flags = htole16((uint16_t)((p[0] & 0x80 ? VRING_DESC_F_WRITE : 0) |
						    (i + 1 < n ? VRING_DESC_F_NEXT : 0))),
			.next = htole16((uint16_t)(next_desc[q] % qsize)),
		};
	}
	avail->ring[avail_idx[q] % qsize] = htole16(head);
	__atomic_store_n(&avail->idx, htole16(++avail_idx[q]), __ATOMIC_RELEASE);
	return p;
}

/* PFNs by selector: a base and an offset of up to 31 pages. */
static const uint8_t *pfns(const uint8_t *p, const uint8_t *end)
{
	static const uint32_t base[8] = {
		BIG_GPA / PG,
		RAM_GPA / PG,
		0xd0000,
		0xffffffe0,
		0,
		(BIG_GPA + BIG_SIZE) / PG,
		(BIG_GPA + BIG_SIZE) / PG - 1,
		BUFS / PG,
	};
	uint32_t *out;
	unsigned int n, i;

	if (end - p < 2)
		return NULL;
	out = gpa(BUFS + (uint64_t)(p[0] % 16) * 256, 256);
	n = p[1] % 128;
	p += 2;
	for (i = 0; i < n && p < end; i++, p++)
		memcpy((uint8_t *)out + (i * 4) % 256,
		       &(uint32_t){ htole32(base[*p & 7] + (*p >> 3)) }, 4);
	return p;
}

/* Statistics entries (le16 tag, le64 value) as a driver writes them. */
static const uint8_t *stats(const uint8_t *p, const uint8_t *end)
{
	uint8_t *out;
	unsigned int n, i;

	if (end - p < 2)
		return NULL;
	out = gpa(BUFS + (uint64_t)(p[0] % 16) * 256, 512);
	n = p[1] % 40;
	p += 2;
	for (i = 0; i < n && end - p >= 2; i++, p += 2) {
		uint16_t tag = htole16(p[0]);
		uint64_t val = htole64((uint64_t)p[1] << 40 | p[1]);

		memcpy(out + i * VBALLOON_STAT_SIZE, &tag, 2);
		memcpy(out + i * VBALLOON_STAT_SIZE + 2, &val, 8);
	}
	return p;
}

/* A config write through the bus, as a vCPU's: the transport bounds it to the config space. */
static void config_write(uint8_t sel, uint8_t width, const uint8_t *v)
{
	static const uint32_t widths[3] = { 1, 2, 4 };

	bus_write(&env.mmio, BASE + VIRTIO_MMIO_CONFIG + sel % 16u, v, widths[width % 3]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 4, *end = data + size;
	struct vballoon_info info;
	unsigned int ops = 0, q;

	if (!b)
		init();
	if (size < 4)
		return 0;
	memset(env.ram, 0, RAM_SIZE);
	memset(big, 0xa5, BIG_SIZE);
	bring_up(data);
	while (p < end && ops++ < MAX_OPS) {
		uint8_t op = *p++ % 9;

		switch (op) {
		case 0:
			p = fuzz_ram_write(env.ram, RAM_SIZE, p, end);
			break;
		case 1:
			if (p >= end)
				return 0;
			wr(VIRTIO_MMIO_QUEUE_NOTIFY, *p++ % VBALLOON_QUEUES);
			fuzz_run_loop(&env.loop, 8, 16);
			break;
		case 2:
			if (end - p < 2)
				return 0;
			q = p[0] % VBALLOON_QUEUES;
			avail_idx[q] = (uint16_t)(avail_idx[q] + p[1]);
			__atomic_store_n(&((struct vring_avail *)gpa(AVAIL(q), 4))->idx,
					 htole16(avail_idx[q]), __ATOMIC_RELEASE);
			p += 2;
			break;
		case 3:
			p = crafted(p, end);
			break;
		case 4:
			p = pfns(p, end);
			break;
		case 5:
			p = stats(p, end);
			break;
		case 6:
			if (end - p < 2)
				return 0;
			vballoon_set_target(b, p[1] & 0x80 ? (uint64_t)(p[0] | p[1] << 8)
							   : (uint64_t)(p[0] | p[1] << 8) * PG);
			p += 2;
			break;
		case 7:
			if (p >= end)
				return 0;
			vballoon_query(b, &info);
			fake_ns += (uint64_t)*p++ * 1000000000ULL;
			vballoon_stats_tick(&env.loop, &b->stats_timer);
			break;
		case 8:
			if (end - p < 6)
				return 0;
			if (p[0] & 0x80)
				bring_up(data);
			else
				config_write(p[0], p[1], p + 2);
			p += 6;
			break;
		default:
			break;
		}
		if (!p)
			return 0;
	}
	/* What the device says stays within what it can say. */
	vballoon_query(b, &info);
	if (info.have >> VBALLOON_TAGS || info.target >> 44 || info.actual >> 44)
		abort();
	return 0;
}
