/* virtq: the one split-virtqueue parser, written for a hostile guest that rewrites its rings. */
#include "virtio/virtio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/iov.h"
#include "lib/log.h"

#define DESC_SIZE sizeof(struct vring_desc) /* 16 */

/*
 * An indirect table need not be aligned (the spec asks nothing of it), so
 * descriptors are read through aligned(1) types; volatile makes each field one
 * load into a local that is then both checked and used, whatever the guest
 * writes in between.
 */
typedef uint16_t ua16 __attribute__((aligned(1)));
typedef uint32_t ua32 __attribute__((aligned(1)));
typedef uint64_t ua64 __attribute__((aligned(1)));

static void desc_load(struct vring_desc *d, const uint8_t *table, unsigned int i)
{
	const uint8_t *e = table + (size_t)i * DESC_SIZE;

	d->addr = *(const volatile ua64 *)(e + offsetof(struct vring_desc, addr));
	d->len = *(const volatile ua32 *)(e + offsetof(struct vring_desc, len));
	d->flags = *(const volatile ua16 *)(e + offsetof(struct vring_desc, flags));
	d->next = *(const volatile ua16 *)(e + offsetof(struct vring_desc, next));
}

/* The event words sit right after each ring (virtio 1.2, 2.7.10 and 2.7.8). */
static uint16_t *used_event(const struct virtq *q)
{
	return &q->avail->ring[q->size];
}

static uint16_t *avail_event(const struct virtq *q)
{
	return (uint16_t *)&q->used->ring[q->size];
}

static bool inflight_test(const struct virtq *q, uint16_t head)
{
	return q->inflight_map[head / 64] & (1ULL << (head % 64));
}

static void inflight_flip(struct virtq *q, uint16_t head)
{
	q->inflight_map[head / 64] ^= 1ULL << (head % 64);
}

/*
 * The guest broke the ring: remember it so every later pop fails too. The
 * cause only goes to the debug log, because a guest can repeat it at will;
 * the device reports the failure itself (virtio_dev_fail).
 */
static int ring_broken(struct virtq *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int ring_broken(struct virtq *q, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->why, sizeof(q->why), fmt, ap);
	va_end(ap);
	q->broken = true;
	log_debug("virtqueue (size %u, avail %u): broken ring: %s", q->size, q->last_avail, q->why);
	return -EIO;
}

/*
 * Host view of a whole ring area. The host pointer must be as aligned as the
 * guest address: the ring words are accessed atomically.
 */
static void *map_area(const struct gmem *mem, uint64_t gpa, uint64_t len, uint64_t align,
		      const char *what)
{
	void *p;

	if (gpa & (align - 1)) {
		log_debug("virtqueue: %s area 0x%llx is not %llu-byte aligned", what,
			  (unsigned long long)gpa, (unsigned long long)align);
		return NULL;
	}
	p = gmem_ptr(mem, gpa, len);
	if (!p) {
		log_debug("virtqueue: %s area [0x%llx, +0x%llx) is not in RAM", what,
			  (unsigned long long)gpa, (unsigned long long)len);
		return NULL;
	}
	if ((uintptr_t)p & (align - 1)) {
		log_msg("virtqueue: %s area 0x%llx: host mapping not %llu-byte aligned", what,
			(unsigned long long)gpa, (unsigned long long)align);
		return NULL;
	}
	return p;
}

void virtq_reset(struct virtq *q)
{
	memset(q, 0, sizeof(*q));
}

int virtq_enable(struct virtq *q, const struct gmem *mem, uint16_t size, uint64_t desc_gpa,
		 uint64_t avail_gpa, uint64_t used_gpa, uint64_t features)
{
	bool event_idx = features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
	/* The event words (used_event, avail_event) follow the rings. */
	uint64_t extra = event_idx ? sizeof(uint16_t) : 0;
	uint64_t avail_len = offsetof(struct vring_avail, ring) + size * sizeof(uint16_t) + extra;
	uint64_t used_len =
		offsetof(struct vring_used, ring) + size * sizeof(struct vring_used_elem) + extra;
	void *desc, *avail, *used;

	virtq_reset(q);
	if (!mem || size == 0 || size > VIRTQ_MAX_SIZE || (size & (size - 1))) {
		log_debug("virtqueue: size %u is not a power of two in 1..%u", size,
			  VIRTQ_MAX_SIZE);
		return -EINVAL;
	}
	desc = map_area(mem, desc_gpa, (uint64_t)size * DESC_SIZE, 16, "descriptor");
	avail = map_area(mem, avail_gpa, avail_len, 2, "available");
	used = map_area(mem, used_gpa, used_len, 4, "used");
	if (!desc || !avail || !used)
		return -EINVAL;

	q->size = size;
	q->event_idx = event_idx;
	q->indirect = features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	q->desc = desc;
	q->avail = avail;
	q->used = used;
	q->mem = mem;
	q->enabled = true;
	return 0;
}

/* Append one buffer to c: checks order, the iovec capacity, the part totals and the translation. */
static int add_buffer(struct virtq *q, struct virtq_chain *c, const struct vring_desc *d)
{
	bool writable = d->flags & VRING_DESC_F_WRITE;
	size_t *total = writable ? &c->in_len : &c->out_len;
	void *p;

	if (!writable && c->nin)
		return ring_broken(q, "head %u: device-readable buffer after a writable one",
				   c->head);
	if (c->nout + c->nin >= c->cap)
		return ring_broken(q, "head %u: more than %u buffers", c->head, c->cap);
	if (d->len > VIRTQ_PART_MAX - *total)
		return ring_broken(q, "head %u: %s part over 4 GiB", c->head,
				   writable ? "writable" : "readable");
	p = gmem_ptr(q->mem, d->addr, d->len);
	if (!p)
		return ring_broken(q, "head %u: buffer [0x%llx, +0x%x) is not in RAM", c->head,
				   (unsigned long long)d->addr, d->len);

	c->iov[c->nout + c->nin] = (struct iovec){ .iov_base = p, .iov_len = d->len };
	if (writable)
		c->nin++;
	else
		c->nout++;
	*total += d->len;
	return 0;
}

/*
 * Follow the chain from head into c. The hop budget (q->size buffers, the
 * entries of an indirect table included) ends loops; the descriptor that
 * points at an indirect table is not a buffer and is not counted, and there
 * can be only one per chain since it may not have NEXT.
 */
static int walk_chain(struct virtq *q, struct virtq_chain *c)
{
	const uint8_t *table = (const uint8_t *)q->desc;
	unsigned int n = q->size, i = c->head, hops = 0;
	bool in_table = false;
	struct vring_desc d;
	int ret;

	for (;;) {
		desc_load(&d, table, i);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (!q->indirect)
				return ring_broken(q, "head %u: indirect descriptor not negotiated",
						   c->head);
			if (in_table)
				return ring_broken(q, "head %u: nested indirect table", c->head);
			if (d.flags & VRING_DESC_F_NEXT)
				return ring_broken(q, "head %u: indirect descriptor with NEXT",
						   c->head);
			if (d.len == 0 || d.len % DESC_SIZE ||
			    d.len / DESC_SIZE > VIRTQ_MAX_INDIRECT)
				return ring_broken(q, "head %u: indirect table of %u bytes",
						   c->head, d.len);
			table = gmem_ptr(q->mem, d.addr, d.len);
			if (!table)
				return ring_broken(q, "head %u: indirect table 0x%llx not in RAM",
						   c->head, (unsigned long long)d.addr);
			n = d.len / DESC_SIZE;
			i = 0;
			in_table = true;
			continue;
		}
		if (++hops > q->size)
			return ring_broken(q, "head %u: chain longer than the queue", c->head);
		ret = add_buffer(q, c, &d);
		if (ret)
			return ret;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= n)
			return ring_broken(q, "head %u: next %u is past %s of %u", c->head, d.next,
					   in_table ? "the indirect table" : "the queue", n);
		i = d.next;
	}
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	uint16_t avail_idx, head;
	int ret;

	if (q->broken)
		return -EIO;
	if (!q->enabled)
		return 0;
	c->nout = c->nin = 0;
	c->out_len = c->in_len = 0;

	/* Acquire: the ring entries and descriptors behind avail->idx are read after it. */
	avail_idx = __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE);
	if (avail_idx == q->last_avail) {
		if (!q->event_idx)
			return 0;
		/*
		 * Ask for a kick at the next buffer, then look again: the
		 * driver may have added one before it could see avail_event,
		 * and then it does not kick. The full fence orders our store
		 * before our load, mirroring the driver's own fence.
		 */
		__atomic_store_n(avail_event(q), q->last_avail, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		avail_idx = __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE);
		if (avail_idx == q->last_avail)
			return 0;
	}
	if ((uint16_t)(avail_idx - q->last_avail) > q->size)
		return ring_broken(q, "avail idx %u is more than the queue ahead", avail_idx);

	head = __atomic_load_n(&q->avail->ring[q->last_avail & (q->size - 1)], __ATOMIC_RELAXED);
	if (head >= q->size)
		return ring_broken(q, "head %u is past the queue", head);
	if (inflight_test(q, head))
		return ring_broken(q, "head %u made available while in flight", head);
	c->head = head;
	ret = walk_chain(q, c);
	if (ret)
		return ret;

	inflight_flip(q, head);
	q->inflight++;
	q->last_avail++;
	return 1;
}

bool virtq_pending(const struct virtq *q)
{
	return q->enabled && !q->broken &&
	       __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE) != q->last_avail;
}

int virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e;

	if (!q->enabled || head >= q->size || !inflight_test(q, head))
		return -EINVAL;
	e = &q->used->ring[q->used_idx & (q->size - 1)];
	__atomic_store_n(&e->id, head, __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, len, __ATOMIC_RELAXED);
	q->used_idx++;
	/* Release: the driver that sees the new idx sees the element (and the data) too. */
	__atomic_store_n(&q->used->idx, q->used_idx, __ATOMIC_RELEASE);
	inflight_flip(q, head);
	q->inflight--;
	return 0;
}

bool virtq_should_notify(struct virtq *q)
{
	uint16_t old, event;
	bool valid;

	if (!q->enabled)
		return false;
	/*
	 * Our used->idx store must be visible before we read the driver's
	 * suppression words, else both sides may decide the other will act.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q->event_idx)
		return !(__atomic_load_n(&q->avail->flags, __ATOMIC_RELAXED) &
			 VRING_AVAIL_F_NO_INTERRUPT);

	event = __atomic_load_n(used_event(q), __ATOMIC_RELAXED);
	old = q->signalled_used;
	valid = q->signalled_valid;
	q->signalled_used = q->used_idx;
	q->signalled_valid = true;
	/* Until we have signalled once, old means nothing: notify. */
	return !valid || vring_need_event(event, q->used_idx, old);
}

size_t virtq_read_out(const struct virtq_chain *c, size_t off, void *dst, size_t len)
{
	return iov_read(c->iov, c->nout, off, dst, len);
}

size_t virtq_write_in(const struct virtq_chain *c, size_t off, const void *src, size_t len)
{
	return iov_write(c->iov + c->nout, c->nin, off, src, len);
}
