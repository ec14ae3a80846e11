/* libFuzzer target: a hostile driver's rings and requests against virtio-blk on real io_uring. */
#include <linux/virtio_mmio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtio/blk.h"

/*
 * Input: an 8-byte header, then operations.
 *   header: [0] queue size 1 << (b % 9); [1] [2] [3] page (b % 8) of the
 *   descriptor table, avail ring, used ring in RAM (offset by b2 bits for
 *   misalignment); [4..5] le16 mask of the offered feature bits 0..15 to
 *   accept; [6] bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bit 2 a read-only disk,
 *   bit 3 cache=unsafe; [7] unused.
 *   ops: 0 RAM write: le16 offset, one byte of length, that many bytes
 *        1 kick, then wait for and process every completion
 *        2 make le16 chains available: avail->idx += b (the ring entries are
 *          whatever RAM holds)
 *        3 reset and bring the driver up again
 *        4 kick without processing completions (reset later waits for them)
 * The image is a 64 KiB file on tmpfs, shared by all inputs (writes persist).
 */

#define RAM_GPA 0x10000ULL
#define RAM_SIZE 0x8000ULL
#define BASE 0xd0000000ULL
#define IMG_SIZE 0x10000
#define MAX_OPS 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *ram;
static struct gmem mem;
static struct loop loop;
static struct bus mmio;
static struct virtio_host host;
static struct vblk *b;
static int img_fd = -1;
static char img[64];

static void no_irq(void *opaque, unsigned int irq, int level)
{
	(void)opaque;
	(void)irq;
	(void)level;
}

static const struct dev_host lines = { .irq = no_irq };

static void cleanup(void)
{
	vblk_destroy(b);
	unlink(img);
}

static void init(void)
{
	struct vblk_config c = { .cache = VBLK_CACHE_WRITEBACK };

	ram = aligned_alloc(4096, RAM_SIZE);
	snprintf(img, sizeof(img), "/dev/shm/hull-fuzz-blk-XXXXXX");
	img_fd = mkstemp(img);
	if (!ram || img_fd < 0 || ftruncate(img_fd, IMG_SIZE) < 0 ||
	    gmem_add(&mem, RAM_GPA, RAM_SIZE, ram) || loop_init(&loop))
		abort();
	bus_init(&mmio, "mmio");
	host = (struct virtio_host){
		.mem = &mem, .loop = &loop, .mmio = &mmio, .vm_fd = -1, .lines = &lines
	};
	c.path = img;
	snprintf(c.serial, sizeof(c.serial), "fuzz");
	if (vblk_create(&c, 0, &host, BASE, 5, &b))
		abort();
	atexit(cleanup);
}

static void wr(uint64_t off, uint32_t v)
{
	uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	virtio_mmio_ops.write(&b->dev, off, d, 4);
}

static uint32_t rd(uint64_t off)
{
	uint8_t d[4] = { 0 };

	virtio_mmio_ops.read(&b->dev, off, d, 4);
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static uint64_t qaddr(uint8_t page, uint8_t mis)
{
	return RAM_GPA + (uint64_t)(page % 8) * 0x1000 + (mis & 0x0f);
}

static void bring_up(const uint8_t *h)
{
	uint64_t want = (uint64_t)(h[4] | h[5] << 8), f;
	uint64_t desc = qaddr(h[1], 0), avail = qaddr(h[2], 0), used = qaddr(h[3], 0);

	/* Rarely misaligned rings: virtq_enable must refuse them (NEEDS_RESET). */
	if ((h[7] & 0xe0) == 0xe0) {
		desc = qaddr(h[1], h[7]);
		avail = qaddr(h[2], h[7] >> 1);
		used = qaddr(h[3], h[7] >> 2);
	}
	f = (1ULL << VIRTIO_F_VERSION_1) | (want & 0xffff);
	if (h[6] & 1)
		f |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	if (h[6] & 2)
		f |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	f &= rd(VIRTIO_MMIO_DEVICE_FEATURES) | (0xffffffffULL << 32);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
	wr(VIRTIO_MMIO_STATUS,
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(VIRTIO_MMIO_QUEUE_NUM, 1U << (h[0] % 9));
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	wr(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
	wr(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
	wr(VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)used);
	wr(VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				       VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	/* Protocol-level knobs the image cannot vary per input. */
	b->disk.ro = h[6] & 4;
	b->disk.cache = h[6] & 8 ? VBLK_CACHE_UNSAFE : VBLK_CACHE_WRITEBACK;
}

static void kick(void)
{
	struct loop_handler *k = &b->dev.kick_h[0];

	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	k->cb(&loop, k, EPOLLIN);
}

/* Wait for and process completions as the event loop would; bounded. */
static void complete(void)
{
	int rounds;

	for (rounds = 0; b->inflight && rounds < 64; rounds++) {
		if (io_uring_submit_and_wait(&b->ring, 1) < 0)
			break;
		b->ev_h.cb(&loop, &b->ev_h, EPOLLIN);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 8, *end = data + size;
	struct vring_avail *avail;
	struct stat st;
	unsigned int ops = 0;

	if (!b)
		init();
	if (size < 8)
		return 0;
	memset(ram, 0, RAM_SIZE);
	bring_up(data);
	avail = gmem_ptr(&mem, qaddr(data[2], 0), sizeof(*avail));
	while (p < end && ops++ < MAX_OPS) {
		uint8_t op = *p++ % 5;
		uint16_t off, n;

		switch (op) {
		case 0:
			if (end - p < 3)
				return 0;
			off = (uint16_t)((p[0] | p[1] << 8) % RAM_SIZE);
			n = p[2];
			p += 3;
			if (n > end - p)
				n = (uint16_t)(end - p);
			if (n > RAM_SIZE - off)
				n = (uint16_t)(RAM_SIZE - off);
			memcpy(ram + off, p, n);
			p += n;
			break;
		case 1:
			kick();
			complete();
			break;
		case 2:
			if (end - p < 1)
				break;
			avail->idx = (uint16_t)(avail->idx + *p++);
			break;
		case 3:
			bring_up(data);
			break;
		case 4:
			kick();
			break;
		}
	}
	kick();
	complete();
	/* A reset waits for everything: the pool is whole again, the image kept its size. */
	wr(VIRTIO_MMIO_STATUS, 0);
	if (b->inflight || b->nfree != VBLK_QUEUE_MAX)
		abort();
	if (fstat(img_fd, &st) || st.st_size != IMG_SIZE)
		abort();
	return 0;
}
