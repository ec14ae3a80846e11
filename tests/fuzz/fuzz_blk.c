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

#include "tests/fuzz/fuzz_dev.h"
#include "virtio/blk/internal.h"

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
 * The image is a 64 KiB file on tmpfs, shared by all inputs (writes persist). RAM is
 * 256 KiB: descriptors that alias it can claim more than VBLK_CHAIN_MAX.
 */

#define RAM_GPA 0x10000ULL
#define RAM_SIZE 0x40000ULL
#define BASE 0xd0000000ULL
#define IMG_SIZE 0x10000
#define MAX_OPS 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct virtio_env env;
static struct vblk *b;
static int img_fd = -1;
static char img[64];

static void cleanup(void)
{
	vblk_destroy(b);
	unlink(img);
}

static void init(void)
{
	struct vblk_config c = { .cache = VBLK_CACHE_WRITEBACK };

	snprintf(img, sizeof(img), "/dev/shm/hull-fuzz-blk-XXXXXX");
	img_fd = mkstemp(img);
	if (img_fd < 0 || ftruncate(img_fd, IMG_SIZE) < 0 ||
	    virtio_env_init(&env, RAM_GPA, RAM_SIZE, fuzz_no_irq, NULL))
		abort();
	c.path = img;
	snprintf(c.serial, sizeof(c.serial), "fuzz");
	if (vblk_create(&c, 0, &env.host, &b) || virtio_mmio_attach(&b->dev, &env.host, BASE, 5))
		abort();
	atexit(cleanup);
}

static void wr(uint64_t off, uint32_t v)
{
	virtio_env_wr(&b->dev, off, v);
}

static uint32_t rd(uint64_t off)
{
	return virtio_env_rd(&b->dev, off);
}

static const struct virtio_drv drv = { rd, wr };

static uint64_t qaddr(uint8_t page, uint8_t mis)
{
	return RAM_GPA + (uint64_t)(page % 8) * 0x1000 + (mis & 0x0f);
}

static void bring_up(const uint8_t *h)
{
	uint64_t f = fuzz_ring_features(h[6]) | (uint64_t)(h[4] | h[5] << 8);
	uint64_t desc = qaddr(h[1], 0), avail = qaddr(h[2], 0), used = qaddr(h[3], 0);

	/* Rarely misaligned rings: virtq_enable must refuse them (NEEDS_RESET). */
	if ((h[7] & 0xe0) == 0xe0) {
		desc = qaddr(h[1], h[7]);
		avail = qaddr(h[2], h[7] >> 1);
		used = qaddr(h[3], h[7] >> 2);
	}
	wr(VIRTIO_MMIO_STATUS, 0);
	virtio_drv_negotiate(&drv, f);
	virtio_drv_queue(&drv, 0, 1U << (h[0] % 9), desc, avail, used);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	virtio_drv_driver_ok(&drv);
	/* Protocol-level knobs the image cannot vary per input. */
	b->disk.ro = h[6] & 4;
	b->disk.cache = h[6] & 8 ? VBLK_CACHE_UNSAFE : VBLK_CACHE_WRITEBACK;
}

static void kick(void)
{
	struct loop_handler *k = &b->dev.kick_h[0];

	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	k->cb(&env.loop, k, EPOLLIN);
}

/* Wait for and process completions as the event loop would; bounded. */
static void complete(void)
{
	int rounds;

	for (rounds = 0; b->inflight && rounds < 64; rounds++) {
		if (io_uring_submit_and_wait(&b->ring, 1) < 0)
			break;
		b->ev_h.cb(&env.loop, &b->ev_h, EPOLLIN);
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
	memset(env.ram, 0, RAM_SIZE);
	bring_up(data);
	avail = gmem_ptr(&env.mem, qaddr(data[2], 0), sizeof(*avail));
	while (p < end && ops++ < MAX_OPS) {
		uint8_t op = *p++ % 5;

		switch (op) {
		case 0:
			p = fuzz_ram_write(env.ram, RAM_SIZE, p, end);
			if (!p)
				return 0;
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
	if (b->inflight || b->nfree != VBLK_QUEUE_MAX || b->inflight_bytes)
		abort();
	if (fstat(img_fd, &st) || st.st_size != IMG_SIZE)
		abort();
	return 0;
}
