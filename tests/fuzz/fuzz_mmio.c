/* libFuzzer target: MMIO register accesses and guest RAM writes against a virtio-rng. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "tests/fuzz/fuzz_dev.h"
#include "virtio/rng/rng.h"

/*
 * Input: one byte of rate (64 << (b & 15) bytes/s), then operations:
 *   op & 7 in 0..2: write of width 1 << ((op >> 3) & 3) at le16 & 0xfff, value: width bytes,
 *      through the device's second window when le16 & 0x1000 (virtio_mmio_alias)
 *   3: read, same width, offset and window
 *   4: guest RAM write: le16 offset, one byte of length, that many bytes
 *   5: run the event loop (kicks, timer) without waiting
 *   6: advance the device's clock by byte milliseconds
 *   7: 32-bit write to register byte * 4 (< 0x100) of the first window, value le32: the
 *      common case, compact
 */

#define RAM_GPA 0x10000ULL
#define RAM_SIZE 0x10000ULL
#define BASE 0xd0000000ULL
#define ALIAS 0xd0100000ULL /* the device's second window: bit 12 of an access's offset picks it */
#define MAX_OPS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *ram;
static struct loop loop;
static uint64_t fake_ns;

static uint64_t fake_now(void)
{
	return fake_ns;
}

static const struct dev_host lines = { .irq = fuzz_no_irq };

static void dispatch(void)
{
	fuzz_run_loop(&loop, 4, 8);
}

/* What must hold whatever the guest did. */
static void check(const struct virtio_dev *d)
{
	unsigned int q;

	if (d->owner < -1 || d->owner > 1)
		abort();

	if ((d->status & VIRTIO_CONFIG_S_DRIVER_OK) && !(d->status & VIRTIO_CONFIG_S_FEATURES_OK))
		abort();
	if ((d->status & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    ((d->features & ~d->host_features) || !(d->features & (1ULL << VIRTIO_F_VERSION_1))))
		abort();
	if (atomic_load(&d->isr) & ~3u)
		abort();
	for (q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		const struct virtq *vq = &d->vq[q];

		if (!vq->enabled)
			continue;
		if (q >= d->nqueues || !vq->size || vq->size > d->queue_max ||
		    (vq->size & (vq->size - 1)))
			abort();
	}
}

static uint64_t le(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	struct gmem mem = { 0 };
	struct bus mmio;
	struct virtio_host host;
	struct virtio_dev *d;
	struct vrng_params rp;
	struct vrng *r;
	unsigned int ops = 0;

	if (!ram) {
		ram = aligned_alloc(4096, RAM_SIZE);
		if (!ram || loop_init(&loop))
			abort();
	}
	if (size < 1)
		return 0;
	memset(ram, 0, RAM_SIZE);
	if (gmem_add(&mem, RAM_GPA, RAM_SIZE, ram))
		abort();
	bus_init(&mmio, "mmio");
	host = (struct virtio_host){
		.mem = &mem, .loop = &loop, .mmio = &mmio, .vm_fd = -1, .lines = &lines
	};
	fake_ns = 1;
	rp = (struct vrng_params){ .rate = 64ULL << (*p++ & 15), .now_ns = fake_now };
	if (vrng_create(&host, &rp, &r) || virtio_mmio_attach(vrng_dev(r), &host, BASE, 5))
		abort();
	d = mmio.r[0].dev;
	if (virtio_mmio_alias(d, ALIAS))
		abort();

	while (p < end && ops++ < MAX_OPS) {
		uint8_t op = *p++, buf[8] = { 0 };
		unsigned int w = 1u << ((op >> 3) & 3), kind = op & 7;
		const struct bus_ops *win;
		uint64_t off;

		switch (kind) {
		case 0:
		case 1:
		case 2:
		case 3:
			if (end - p < 2 + (kind < 3 ? (long)w : 0))
				goto out;
			off = le(p, 2);
			win = off & 0x1000 ? &virtio_mmio_alias_ops : &virtio_mmio_ops;
			off &= 0xfff;
			p += 2;
			if (kind == 3) {
				win->read(d, off, buf, w);
				break;
			}
			memcpy(buf, p, w);
			p += w;
			win->write(d, off, buf, w);
			break;
		case 4:
			p = fuzz_ram_write(ram, RAM_SIZE, p, end);
			if (!p)
				goto out;
			break;
		case 5:
			dispatch();
			break;
		case 6:
			if (p == end)
				goto out;
			fake_ns += (uint64_t)*p++ * 1000000ULL;
			break;
		default:
			if (end - p < 5)
				goto out;
			off = (uint64_t)(p[0] & 0x3f) * 4;
			virtio_mmio_ops.write(d, off, p + 1, 4);
			p += 5;
			break;
		}
		check(d);
	}
out:
	dispatch();
	check(d);
	vrng_destroy(r);
	return 0;
}
