/* fuzz_dev: what the virtio fuzz targets share, compiled once for all of them. */
#include "tests/fuzz/fuzz_dev.h"

#include <string.h>
#include <sys/epoll.h>

void fuzz_no_irq(void *opaque, unsigned int irq, int level)
{
	(void)opaque;
	(void)irq;
	(void)level;
}

uint64_t fuzz_ring_features(uint8_t b)
{
	uint64_t f = 1ULL << VIRTIO_F_VERSION_1;

	if (b & 1)
		f |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	if (b & 2)
		f |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
	return f;
}

const uint8_t *fuzz_ram_write(uint8_t *ram, size_t size, const uint8_t *p, const uint8_t *end)
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

void fuzz_run_loop(struct loop *l, int rounds, int batch)
{
	struct epoll_event ev[16];
	int i, n;

	/* An epoll_wait for more than ev holds would write past it. */
	if (batch > 16)
		batch = 16;
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
