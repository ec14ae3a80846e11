/* fuzz_dev: what the virtio fuzz targets share: no-op IRQs, feature bits, RAM writes, the loop. */
#ifndef HULL_TESTS_FUZZ_FUZZ_DEV_H
#define HULL_TESTS_FUZZ_FUZZ_DEV_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>

/* struct virtio_env (the VM) and the driver steps (virtio_drv_*), shared with the unit tests. */
#include "tests/unit/virtio_env.h"

static inline void fuzz_no_irq(void *opaque, unsigned int irq, int level)
{
	(void)opaque;
	(void)irq;
	(void)level;
}

/* VERSION_1, and the ring features a header byte asks for: bit 0 EVENT_IDX, bit 1 INDIRECT_DESC. */
static inline uint64_t fuzz_ring_features(uint8_t b)
{
	uint64_t f = 1ULL << VIRTIO_F_VERSION_1;

	if (b & 1)
		f |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	if (b & 2)
		f |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
	return f;
}

/*
 * The "RAM write" op at p: le16 offset (modulo size), one byte of length, that many bytes
 * copied into ram (fewer at the end of the input or of RAM). Where the next op starts, or
 * NULL when the input ends inside the op's 3-byte head.
 */
static inline const uint8_t *fuzz_ram_write(uint8_t *ram, size_t size, const uint8_t *p,
					    const uint8_t *end)
{
	size_t off, n;

	if (end - p < 3)
		return NULL;
	off = (size_t)(p[0] | p[1] << 8) % size;
	n = p[2];
	p += 3;
	if (n > (size_t)(end - p))
		n = (size_t)(end - p);
	if (n > size - off)
		n = size - off;
	memcpy(ram + off, p, n);
	return p + n;
}

/*
 * Run l's ready handlers as hull's loop thread would, batch (at most 16) events at a time
 * for at most rounds rounds: a device that keeps finding work must not hang the fuzzer.
 */
static inline void fuzz_run_loop(struct loop *l, int rounds, int batch)
{
	struct epoll_event ev[16];
	int i, n;

	while (rounds-- > 0) {
		n = epoll_wait(l->epfd, ev, batch, 0);
		if (n <= 0)
			return;
		for (i = 0; i < n; i++) {
			struct loop_handler *h = ev[i].data.ptr;

			h->cb(l, h, ev[i].events);
		}
	}
}

#endif
