/* libFuzzer target: a hostile guest drives one split virtqueue; must never crash, leak or hang. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtio.h"

/*
 * Input: a header choosing the queue, an image copied to the start of both
 * RAM regions, then a script of one op byte per iteration (plus operands):
 *   [0] size: 1 << (b & 7), or with bit 7 a raw 16-bit size follows
 *   [1] bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bits 2-3/4-5/6-7 where the
 *       desc/avail/used areas are (0-1 low RAM, 2 high RAM, 3 the hole)
 *   u16 desc, avail, used offsets; u8 iovec capacity - 1; u16 image length
 * Op bits: 0 poke a byte, 1 poke a 16-bit word (both in low RAM), 2 hold the
 * popped head instead of pushing it, 3 push every held head, 7 reset and
 * enable again (the guest's reset).
 */
#define RAM_GPA 0x1000ULL
#define RAM_SIZE 0x10000ULL
#define HOLE_GPA 0x20000ULL
#define HIGH_GPA 0x40000ULL
#define HIGH_SIZE 0x1000ULL
#define ITERATIONS 64
#define FUZZ_IOV 16

static uint8_t ram[RAM_SIZE] __attribute__((aligned(4096)));
static uint8_t high[HIGH_SIZE] __attribute__((aligned(4096)));

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t take8(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint16_t take16(struct input *in)
{
	uint16_t lo = take8(in);

	return (uint16_t)(lo | take8(in) << 8);
}

static uint64_t place(uint16_t off, unsigned int where)
{
	switch (where & 3) {
	case 2:
		return HIGH_GPA + (off & (HIGH_SIZE - 1));
	case 3:
		return HOLE_GPA + off;
	default:
		return RAM_GPA + off;
	}
}

static bool in_region(const struct iovec *v, const uint8_t *base, size_t size)
{
	const uint8_t *b = v->iov_base;

	return b >= base && b < base + size && v->iov_len <= (size_t)(base + size - b);
}

/* What must hold for every chain virtq_pop hands out, whatever the guest did. */
static void check_chain(const struct virtq *q, const struct virtq_chain *c)
{
	size_t out = 0, in = 0;
	unsigned int i;

	if (c->head >= q->size || c->nout + c->nin > c->cap || c->nout + c->nin == 0)
		abort();
	for (i = 0; i < c->nout + c->nin; i++) {
		if (!c->iov[i].iov_len || (!in_region(&c->iov[i], ram, RAM_SIZE) &&
					   !in_region(&c->iov[i], high, HIGH_SIZE)))
			abort();
		if (i < c->nout)
			out += c->iov[i].iov_len;
		else
			in += c->iov[i].iov_len;
	}
	if (out != c->out_len || in != c->in_len || out > UINT32_MAX || in > UINT32_MAX)
		abort();
}

/* Device-style use of a chain: read a header, write a status somewhere in the in part. */
static void use_chain(const struct virtq_chain *c, uint8_t op)
{
	uint8_t buf[64];
	size_t got;

	got = virtq_read_out(c, op % 8, buf, sizeof(buf));
	if (got > sizeof(buf) || (c->out_len > op % 8 + sizeof(buf) && got != sizeof(buf)))
		abort();
	memset(buf, op, sizeof(buf));
	got = virtq_write_in(c, c->in_len ? (op % 4) % c->in_len : 0, buf, 1 + op % 32);
	if (got > 1 + op % 32u)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	uint16_t held[ITERATIONS], qsize, doff, aoff, uoff, len;
	unsigned int nheld = 0, it, i;
	uint64_t desc, avail, used, features;
	struct iovec iov[FUZZ_IOV];
	struct virtq_chain c;
	struct gmem mem = { 0 };
	struct virtq q;
	uint8_t b0, b1, op;
	int ret;

	memset(ram, 0, sizeof(ram));
	memset(high, 0, sizeof(high));
	if (gmem_add(&mem, RAM_GPA, RAM_SIZE, ram) || gmem_add(&mem, HIGH_GPA, HIGH_SIZE, high))
		abort();

	b0 = take8(&in);
	qsize = b0 & 0x80 ? take16(&in) : (uint16_t)(1u << (b0 & 7));
	b1 = take8(&in);
	features = (b1 & 1 ? 1ULL << VIRTIO_RING_F_EVENT_IDX : 0) |
		   (b1 & 2 ? 1ULL << VIRTIO_RING_F_INDIRECT_DESC : 0);
	doff = take16(&in);
	aoff = take16(&in);
	uoff = take16(&in);
	desc = place(doff, b1 >> 2);
	avail = place(aoff, b1 >> 4);
	used = place(uoff, b1 >> 6);
	c.iov = iov;
	c.cap = 1 + take8(&in) % FUZZ_IOV;
	len = take16(&in);
	if (len > in.n)
		len = (uint16_t)in.n;
	memcpy(ram, in.p, len);
	memcpy(high, in.p, len < HIGH_SIZE ? len : HIGH_SIZE);
	in.p += len;
	in.n -= len;

	ret = virtq_enable(&q, &mem, qsize, desc, avail, used, features);
	if (ret) {
		if (ret != -EINVAL || q.enabled || virtq_pop(&q, &c) != 0)
			abort();
		return 0;
	}
	if (!qsize || qsize > VIRTQ_MAX_SIZE || (qsize & (qsize - 1)) || (desc & 15) ||
	    (avail & 1) || (used & 3))
		abort();

	for (it = 0; it < ITERATIONS; it++) {
		op = take8(&in);
		if (op & 1) {
			uint16_t off = take16(&in);

			ram[off % RAM_SIZE] = take8(&in);
		}
		if (op & 2) {
			uint16_t off = take16(&in) & ~1u, v = take16(&in);

			memcpy(&ram[off % RAM_SIZE], &v, sizeof(v));
		}
		if (op & 0x80) {
			/* The guest resets the device: held buffers are forgotten. */
			virtq_reset(&q);
			nheld = 0;
			if (virtq_enable(&q, &mem, qsize, desc, avail, used, features))
				abort();
		}
		if (op & 8) {
			for (i = 0; i < nheld; i++)
				if (virtq_push(&q, held[i], 0))
					abort();
			nheld = 0;
		}

		ret = virtq_pop(&q, &c);
		if (ret < 0) {
			if (ret != -EIO || !q.broken || virtq_pop(&q, &c) != -EIO)
				abort();
			if (!in.n)
				break;
		} else if (ret == 1) {
			check_chain(&q, &c);
			if (q.inflight != nheld + 1u)
				abort();
			use_chain(&c, op);
			if (op & 4) {
				held[nheld++] = c.head;
			} else {
				if (virtq_push(&q, c.head, (uint32_t)c.in_len) ||
				    virtq_push(&q, c.head, 0) != -EINVAL)
					abort();
			}
		} else if (q.broken) {
			abort();
		} else if (!in.n) {
			break;
		}
		if (q.inflight != nheld)
			abort();
		(void)virtq_should_notify(&q);
	}

	for (i = 0; i < nheld; i++)
		if (virtq_push(&q, held[i], 1))
			abort();
	if (q.inflight)
		abort();
	virtq_reset(&q);
	return 0;
}
