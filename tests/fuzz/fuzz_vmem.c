/* libFuzzer target: a hostile driver's rings and plug/unplug/state requests against virtio-mem. */
#include <endian.h>
#include <errno.h>
#include <linux/virtio_mmio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tests/fuzz/fuzz_dev.h"
#include "virtio/mem/internal.h"

/*
 * Input: a 4-byte header, then operations.
 *   header: [0] queue size 1 << (b % 9); [1] bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bit 2
 *   leave out UNPLUGGED_INACCESSIBLE (the device must refuse FEATURES_OK), bit 3 no queue
 *   set up; [2] [3] unused.
 *   ops (first byte % 7):
 *    0 RAM write: le16 offset, one byte of length, that many bytes
 *    1 kick the queue, then run the loop (bounded)
 *    2 make b chains available, whatever the ring holds
 *    3 a crafted chain of (b % 8 + 1) buffers, each: a selector byte (bits 0-2 where: request
 *      slot bits 3-5, 32 bytes into it (room for a response), the rings, the hotplug region's
 *      first, middle and last block, the MMIO hole, 4 GiB - 1 page; bit 7 writable) and a
 *      byte of length
 *    4 a request at REQS + (b % 8) * 64: a type byte (0-3 the spec's, else a random le16
 *      type), an address selector byte (bits 0-2: the region's start plus bits 3-7 blocks,
 *      the same plus one page, below the region, ~0 less bits 3-7 blocks, 0, the region's
 *      end, a random le64 from the next 8 bytes, the region's start plus bits 3-7 pages) and
 *      a le16 block count
 *    5 requested_size: b % (NBLK + 2) blocks, or a byte count that is no block multiple with
 *      bit 7
 *    6 a config read or write through the bus: offset b % 64, one byte of width, le32 value;
 *      or a reset and bring-up again when b is 0xff
 * The region's memory is real (a memfd, unplugged blocks PROT_NONE to the guest's view), so
 * every plug and unplug really changes it; at the end the bitmap, the count, translation and
 * the guest view's access must all agree.
 */

#define RAM_GPA 0x10000ULL
#define RAM_SIZE 0x20000ULL
#define BASE 0xd0000000ULL
#define DESC RAM_GPA
#define AVAIL (RAM_GPA + 0x1000)
#define USED (RAM_GPA + 0x1400)
#define REQS (RAM_GPA + 0x8000)
#define PG 4096ULL
#define HP_GPA 0x100000000ULL
#define BLK (64 * 1024ULL)
#define NBLK 64
#define MAX_OPS 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct virtio_env env;
static struct gmem_hp hp;
static struct vmem *m;
static uint16_t qsize, next_desc, avail_idx;

static void cleanup(void)
{
	vmem_destroy(m);
	gmem_hp_unmap(&hp);
}

static void init(void)
{
	if (virtio_env_init(&env, RAM_GPA, RAM_SIZE, fuzz_no_irq, NULL) ||
	    gmem_hp_map(&hp, "fuzz-hotplug", HP_GPA, BLK, NBLK) || gmem_add_hotplug(&env.mem, &hp))
		abort();
	env.host.hotplug = &hp;
	if (vmem_create(&env.host, &m) || virtio_mmio_attach(vmem_dev(m), &env.host, BASE, 5))
		abort();
	atexit(cleanup);
}

static void wr(uint64_t off, uint32_t v)
{
	virtio_env_wr(vmem_dev(m), off, v);
}

static uint32_t rd(uint64_t off)
{
	return virtio_env_rd(vmem_dev(m), off);
}

static const struct virtio_drv drv = { rd, wr };

static void bring_up(const uint8_t *h)
{
	uint64_t f = fuzz_ring_features(h[1]);

	if (!(h[1] & 4))
		f |= 1ULL << VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE;
	qsize = (uint16_t)(1U << (h[0] % 9));
	next_desc = avail_idx = 0;
	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	virtio_drv_features(&drv, f);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				       VIRTIO_CONFIG_S_FEATURES_OK);
	if ((h[1] & 4) && (rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK))
		abort(); /* a driver that may read unplugged memory got in */
	if (!(h[1] & 8)) {
		virtio_drv_queue(&drv, 0, qsize, DESC, AVAIL, USED);
		wr(VIRTIO_MMIO_QUEUE_READY, 1);
	}
	virtio_drv_driver_ok(&drv);
}

static void *gpa(uint64_t a, uint64_t len)
{
	return gmem_ptr(&env.mem, a, len);
}

static uint64_t where(uint8_t sel)
{
	static const uint64_t at[8] = { REQS,
					REQS + 32,
					RAM_GPA,
					HP_GPA,
					HP_GPA + NBLK / 2 * BLK,
					HP_GPA + (NBLK - 1) * BLK,
					0xd0000000ULL,
					0xfffff000ULL };

	/* A request slot (bits 3-5) and the room after its request, for the response. */
	return at[sel & 7] + ((sel & 7) < 2 ? (uint64_t)(sel >> 3 & 7) * 64 : 0);
}

static const uint8_t *crafted(const uint8_t *p, const uint8_t *end)
{
	struct vring_desc *desc = gpa(DESC, 16 * 256);
	struct vring_avail *avail = gpa(AVAIL, 4 + 2 * 256);
	unsigned int n, i;
	uint16_t head;

	if (p >= end)
		return NULL;
	n = *p++ % 8 + 1;
	head = next_desc % qsize;
	for (i = 0; i < n; i++, p += 2) {
		uint16_t idx = next_desc++ % qsize;

		if (end - p < 2)
			return NULL;
		desc[idx] = (struct vring_desc){
			.addr = htole64(where(p[0])),
			.len = htole32(p[1]),
			.flags = htole16((uint16_t)((p[0] & 0x80 ? VRING_DESC_F_WRITE : 0) |
						    (i + 1 < n ? VRING_DESC_F_NEXT : 0))),
			.next = htole16((uint16_t)(next_desc % qsize)),
		};
	}
	avail->ring[avail_idx % qsize] = htole16(head);
	__atomic_store_n(&avail->idx, htole16(++avail_idx), __ATOMIC_RELEASE);
	return p;
}

static const uint8_t *request(const uint8_t *p, const uint8_t *end)
{
	struct virtio_mem_req r = { 0 };
	uint64_t addr, k;
	uint16_t type;

	if (end - p < 5)
		return NULL;
	type = p[1] < 4 ? p[1] : (uint16_t)(p[1] << 8 | p[2]);
	k = p[2] >> 3;
	switch (p[2] & 7) {
	case 0:
		addr = HP_GPA + k * BLK;
		break;
	case 1:
		addr = HP_GPA + k * BLK + PG;
		break;
	case 2:
		addr = HP_GPA - (k + 1) * BLK;
		break;
	case 3:
		addr = ~0ULL - k * BLK;
		break;
	case 4:
		addr = 0;
		break;
	case 5:
		addr = HP_GPA + NBLK * BLK;
		break;
	case 6:
		if (end - p < 13)
			return NULL;
		memcpy(&addr, p + 5, 8);
		break;
	default:
		addr = HP_GPA + k * PG;
		break;
	}
	r.type = htole16(type);
	r.u.plug.addr = htole64(addr);
	memcpy(&r.u.plug.nb_blocks, p + 3, 2);
	memcpy(gpa(REQS + (uint64_t)(p[0] % 8) * 64, sizeof(r)), &r, sizeof(r));
	return p + ((p[2] & 7) == 6 ? 13 : 5);
}

static const uint8_t *config(const uint8_t *p, const uint8_t *end)
{
	static const uint32_t widths[4] = { 1, 2, 4, 8 };
	uint8_t v[8] = { 0 };

	if (end - p < 6)
		return NULL;
	if (p[0] == 0xff)
		return p + 6; /* the caller brings the device up again */
	if (p[1] & 0x80) {
		memcpy(v, p + 2, 4);
		bus_write(&env.mmio, BASE + VIRTIO_MMIO_CONFIG + p[0] % 64u, v, widths[p[1] % 4]);
	} else {
		bus_read(&env.mmio, BASE + VIRTIO_MMIO_CONFIG + p[0] % 64u, v, widths[p[1] % 4]);
	}
	return p + 6;
}

/* Can the process read p? process_vm_readv() on itself says, without a signal. */
static bool readable(void *p)
{
	char c;
	struct iovec local = { &c, 1 }, remote = { p, 1 };

	if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != 1) {
		if (errno != EFAULT)
			abort();
		return false;
	}
	return true;
}

/* The bitmap, the count, translation and the guest's access agree, block by block. */
static void check(void)
{
	struct vmem_status s;
	unsigned int i, n = 0;

	if (vmem_status(vmem_dev(m), &s) || s.region != NBLK * BLK || s.requested > s.region)
		abort();
	for (i = 0; i < NBLK; i++) {
		bool on = gmem_hp_is_plugged(&hp, i);

		n += on;
		if (on != (gmem_ptr(&env.mem, HP_GPA + i * BLK, BLK) != NULL))
			abort();
		if (on != readable(hp.guest + i * BLK + (i % 16) * PG))
			abort();
	}
	if (n != hp.nplugged || s.plugged != (uint64_t)n * BLK)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 4, *end = data + size;
	unsigned int ops = 0;

	if (!m)
		init();
	if (size < 4)
		return 0;
	memset(env.ram, 0, RAM_SIZE);
	/* Each input starts from nothing plugged, as a new guest's driver finds after UNPLUG_ALL. */
	gmem_hp_unplug(&hp, 0, NBLK);
	vmem_request(vmem_dev(m), 0);
	bring_up(data);
	while (p && p < end && ops++ < MAX_OPS) {
		uint8_t op = *p++ % 7;

		switch (op) {
		case 0:
			p = fuzz_ram_write(env.ram, RAM_SIZE, p, end);
			break;
		case 1:
			wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
			fuzz_run_loop(&env.loop, 8, 16);
			break;
		case 2:
			if (p >= end)
				return 0;
			avail_idx = (uint16_t)(avail_idx + *p++);
			__atomic_store_n(&((struct vring_avail *)gpa(AVAIL, 4))->idx,
					 htole16(avail_idx), __ATOMIC_RELEASE);
			break;
		case 3:
			p = crafted(p, end);
			break;
		case 4:
			p = request(p, end);
			break;
		case 5:
			if (p >= end)
				return 0;
			if (*p & 0x80)
				vmem_request(vmem_dev(m), (uint64_t)(*p & 0x7f) * BLK + PG);
			else
				vmem_request(vmem_dev(m), (uint64_t)(*p % (NBLK + 2)) * BLK);
			p++;
			break;
		case 6:
			if (p < end && *p == 0xff)
				bring_up(data);
			p = config(p, end);
			break;
		default:
			break;
		}
	}
	check();
	return 0;
}
