/* virtio-blk protocol: features, config space, request parsing and validation, status codes. */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_ids.h>

#include "virtio/blk/internal.h"
#include "lib/iov.h"
#include "lib/log.h"

static struct vblk *to_vblk(struct virtio_dev *d)
{
	return container_of(d, struct vblk, dev);
}

/* [sector, sector + bytes/512) inside the disk; bytes is a multiple of 512. Cannot overflow. */
static bool range_ok(const struct vblk_disk *disk, uint64_t sector, uint64_t bytes)
{
	return sector <= disk->capacity && bytes / VBLK_SECTOR <= disk->capacity - sector;
}

/* IN: data is the in part minus the status byte; OUT: the out part after the header. */
static void classify_rw(const struct vblk_disk *disk, struct vblk_req *r, uint64_t sector,
			bool write)
{
	const struct virtq_chain *c = &r->chain;
	const struct iovec *part = c->iov;
	unsigned int n = c->nout;
	size_t off = sizeof(struct virtio_blk_outhdr), len;
	int k;

	if (write) {
		/* RO is enforced whether or not the driver negotiated VIRTIO_BLK_F_RO. */
		if (disk->ro || c->in_len != 1)
			return;
		len = c->out_len - off;
	} else {
		part += c->nout;
		n = c->nin;
		off = 0;
		len = c->in_len - 1;
	}
	if (len % VBLK_SECTOR || !range_ok(disk, sector, len))
		return;
	k = iov_slice(r->data, VBLK_IOV_MAX, part, n, off, len);
	if (k < 0)
		return;
	r->ndata = (unsigned int)k;
	r->off = sector * VBLK_SECTOR;
	r->len = len;
	r->status = VIRTIO_BLK_S_OK;
	if (len)
		r->op = write ? VBLK_OP_WRITE : VBLK_OP_READ;
}

/* DISCARD and WRITE_ZEROES: exactly one range segment after the header (max_*_seg is 1). */
static void classify_zero(const struct vblk_disk *disk, struct vblk_req *r, bool discard)
{
	const struct virtq_chain *c = &r->chain;
	const size_t hdr = sizeof(struct virtio_blk_outhdr);
	struct virtio_blk_discard_write_zeroes seg;
	size_t segs = c->out_len - hdr;
	uint64_t sector;
	uint32_t num, flags;

	if (disk->ro || c->in_len != 1 || !segs || segs % sizeof(seg))
		return;
	if (segs > sizeof(seg) || virtq_read_out(c, hdr, &seg, sizeof(seg)) != sizeof(seg)) {
		r->status = VIRTIO_BLK_S_UNSUPP;
		return;
	}
	sector = le64toh(seg.sector);
	num = le32toh(seg.num_sectors);
	flags = le32toh(seg.flags);
	/* Unknown flags, and UNMAP on a discard, are UNSUPP per the spec. */
	if ((flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ||
	    (discard && (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))) {
		r->status = VIRTIO_BLK_S_UNSUPP;
		return;
	}
	if (num > VBLK_MAX_ZERO_SECTORS || !range_ok(disk, sector, (uint64_t)num * VBLK_SECTOR))
		return;
	r->off = sector * VBLK_SECTOR;
	r->len = (uint64_t)num * VBLK_SECTOR;
	r->unmap = flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	r->status = VIRTIO_BLK_S_OK;
	if (num)
		r->op = discard ? VBLK_OP_DISCARD : VBLK_OP_WRITE_ZEROES;
}

bool vblk_too_long(const struct virtq_chain *c)
{
	return (uint64_t)c->out_len + c->in_len > VBLK_CHAIN_MAX;
}

void vblk_classify(const struct vblk_disk *disk, struct vblk_req *r)
{
	const struct virtq_chain *c = &r->chain;
	struct virtio_blk_outhdr hdr;
	uint64_t sector;

	r->op = VBLK_OP_DONE;
	r->status = VIRTIO_BLK_S_IOERR;
	r->unmap = r->buffered = false;
	r->tries = r->zmode = 0;
	r->off = r->len = r->done = 0;
	r->ndata = r->cur = 0;
	if (!c->nin || !c->in_len) {
		r->op = VBLK_OP_DROP;
		return;
	}
	/* No request is that long: IOERR on the totals alone, whatever the header says. */
	if (vblk_too_long(c))
		return;
	/* The header may be split across descriptors: copy it out, never cast a buffer. */
	if (virtq_read_out(c, 0, &hdr, sizeof(hdr)) != sizeof(hdr))
		return;
	sector = le64toh(hdr.sector);
	switch (le32toh(hdr.type)) {
	case VIRTIO_BLK_T_IN:
		classify_rw(disk, r, sector, false);
		break;
	case VIRTIO_BLK_T_OUT:
		classify_rw(disk, r, sector, true);
		break;
	case VIRTIO_BLK_T_FLUSH:
		r->status = VIRTIO_BLK_S_OK;
		/* cache=unsafe does not offer FLUSH; a driver sending one anyway gets a no-op. */
		if (disk->cache != VBLK_CACHE_UNSAFE)
			r->op = VBLK_OP_FLUSH;
		break;
	case VIRTIO_BLK_T_GET_ID:
		r->status = VIRTIO_BLK_S_OK;
		r->op = VBLK_OP_GET_ID;
		break;
	case VIRTIO_BLK_T_DISCARD:
		classify_zero(disk, r, true);
		break;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		classify_zero(disk, r, false);
		break;
	default:
		r->status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
}

/* The serial, NUL-padded to 20 bytes (no terminator when it is 20 long), into the in part. */
static void get_id(const struct vblk_disk *disk, struct vblk_req *r)
{
	char id[VIRTIO_BLK_ID_BYTES] = { 0 };
	size_t n = r->chain.in_len - 1;

	memcpy(id, disk->serial, strnlen(disk->serial, sizeof(id)));
	virtq_write_in(&r->chain, 0, id, n < sizeof(id) ? n : sizeof(id));
	r->op = VBLK_OP_DONE;
}

struct vblk_req *vblk_req_get(struct vblk *b)
{
	struct vblk_req *r = b->free;

	if (!r)
		return NULL;
	b->free = r->next_free;
	r->next_free = NULL;
	b->nfree--;
	r->chain = (struct virtq_chain){ .iov = r->iov, .cap = VBLK_IOV_MAX };
	return r;
}

void vblk_req_put(struct vblk *b, struct vblk_req *r)
{
	b->inflight_bytes -= r->charged;
	r->charged = 0;
	r->next_free = b->free;
	b->free = r;
	b->nfree++;
}

void vblk_req_finish(struct vblk *b, struct vblk_req *r)
{
	struct virtq *q = &b->dev.vq[0];
	uint32_t used = 0;

	if (r->op == VBLK_OP_DROP) {
		b->stats.no_status++;
	} else {
		if (r->status == VIRTIO_BLK_S_IOERR)
			b->stats.ioerr++;
		else if (r->status == VIRTIO_BLK_S_UNSUPP)
			b->stats.unsupp++;
		/*
		 * The status byte is the last byte of the in part, so len covers the
		 * whole in part: a driver may ignore bytes beyond len, and the
		 * status must not be one of them.
		 */
		virtq_write_in(&r->chain, r->chain.in_len - 1, &r->status, 1);
		used = (uint32_t)r->chain.in_len;
	}
	/* A failed device (NEEDS_RESET) serves nothing more: drop the answer, keep the pool. */
	if (virtio_dev_live(&b->dev))
		virtq_push(q, r->chain.head, used);
	vblk_req_put(b, r);
}

static void count(struct vblk *b, enum vblk_op op)
{
	uint64_t *n[] = {
		[VBLK_OP_READ] = &b->stats.reads,
		[VBLK_OP_WRITE] = &b->stats.writes,
		[VBLK_OP_FLUSH] = &b->stats.flushes,
		[VBLK_OP_DISCARD] = &b->stats.discards,
		[VBLK_OP_GET_ID] = &b->stats.get_ids,
		[VBLK_OP_WRITE_ZEROES] = &b->stats.write_zeroes,
	};

	if (n[op])
		(*n[op])++;
}

/*
 * Pop available requests: answer the immediate ones, queue the I/O, submit
 * once. Bounded per call: at most VIRTIO_NOTIFY_BUDGET requests (then a
 * requeue brings us back after the loop's other handlers), and none while
 * VBLK_INFLIGHT_MAX bytes are in flight (then a completion brings us back),
 * so one call submits less than VBLK_INFLIGHT_MAX plus one request.
 */
static void vblk_notify(struct virtio_dev *d, unsigned int qi)
{
	struct vblk *b = to_vblk(d);
	struct virtq *q = &d->vq[qi];
	unsigned int budget = VIRTIO_NOTIFY_BUDGET;
	bool pushed = false, queued = false;

	b->starved = false;
	for (;;) {
		struct vblk_req *r;
		int ret;

		if (b->inflight_bytes >= VBLK_INFLIGHT_MAX) {
			b->starved = true;
			break;
		}
		if (!budget--) {
			if (virtq_pending(q))
				virtio_dev_requeue(d, qi);
			break;
		}
		r = vblk_req_get(b);
		if (!r) {
			/* Cannot happen: the pool is as deep as the largest queue. */
			b->starved = true;
			break;
		}
		ret = virtq_pop(q, &r->chain);
		if (ret <= 0) {
			vblk_req_put(b, r);
			if (ret < 0)
				virtio_dev_fail(d, "queue 0: %s", d->vq[0].why);
			break;
		}
		b->stats.requests++;
		if (vblk_too_long(&r->chain))
			b->stats.too_long++;
		vblk_classify(&b->disk, r);
		count(b, r->op);
		if (r->op == VBLK_OP_GET_ID)
			get_id(&b->disk, r);
		if (r->op != VBLK_OP_DONE && r->op != VBLK_OP_DROP) {
			if (!vblk_io_queue(b, r)) {
				/* Data moved, or a range zeroed or discarded (on a block device,
				 * zeroing may write it): FLUSH and GET_ID have no length. */
				r->charged = r->len;
				b->inflight_bytes += r->charged;
				queued = true;
				continue;
			}
			r->status = VIRTIO_BLK_S_IOERR;
		}
		vblk_req_finish(b, r);
		pushed = true;
	}
	if (queued)
		vblk_io_submit(b);
	if (pushed)
		virtio_dev_queue_done(d, qi);
}

static void vblk_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len)
{
	memcpy(data, (const uint8_t *)&to_vblk(d)->cfg + off, len);
}

/* Nothing in our config space is writable (no CONFIG_WCE): ignore the driver's writes. */
static void vblk_config_write(struct virtio_dev *d, uint32_t off, const uint8_t *data, uint32_t len)
{
	(void)data;
	log_debug("%s: config write at %u (%u bytes) ignored", d->name, off, len);
}

static void vblk_reset(struct virtio_dev *d)
{
	struct vblk *b = to_vblk(d);

	vblk_io_drain(b);
	b->starved = false;
}

static void vblk_free(struct virtio_dev *d);

static const struct virtio_dev_ops vblk_ops = {
	.type = "blk",
	.device_id = VIRTIO_ID_BLOCK,
	.config_read = vblk_config_read,
	.config_write = vblk_config_write,
	.notify = vblk_notify,
	.reset = vblk_reset,
	.destroy = vblk_free,
};

static uint64_t features(const struct vblk_disk *disk)
{
	uint64_t f = (1ULL << VIRTIO_BLK_F_SIZE_MAX) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |
		     (1ULL << VIRTIO_BLK_F_BLK_SIZE) | (1ULL << VIRTIO_BLK_F_TOPOLOGY) |
		     (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);

	if (disk->cache != VBLK_CACHE_UNSAFE)
		f |= 1ULL << VIRTIO_BLK_F_FLUSH;
	if (disk->ro)
		f |= 1ULL << VIRTIO_BLK_F_RO;
	return f;
}

static void fill_config(struct vblk *b)
{
	const struct vblk_disk *disk = &b->disk;
	struct virtio_blk_config *cfg = &b->cfg;
	uint32_t align = disk->blk_size / VBLK_SECTOR;
	uint8_t exp = 0;

	while ((disk->blk_size << exp) < disk->phys_size && exp < 15)
		exp++;
	memset(cfg, 0, sizeof(*cfg));
	cfg->capacity = htole64(disk->capacity);
	cfg->size_max = htole32(VBLK_SIZE_MAX);
	cfg->seg_max = htole32(VBLK_SEG_MAX);
	cfg->blk_size = htole32(disk->blk_size);
	cfg->physical_block_exp = exp;
	cfg->min_io_size = htole16(1);
	cfg->max_discard_sectors = htole32(VBLK_MAX_ZERO_SECTORS);
	cfg->max_discard_seg = htole32(1);
	cfg->discard_sector_alignment = htole32(align ? align : 1);
	cfg->max_write_zeroes_sectors = htole32(VBLK_MAX_ZERO_SECTORS);
	cfg->max_write_zeroes_seg = htole32(1);
	cfg->write_zeroes_may_unmap = 1;
}

/* The check: the image opened, sized and locked, before /dev/kvm is touched. */
int vblk_open(const struct vblk_config *c, void **res)
{
	struct vblk *b = calloc(1, sizeof(*b));
	int ret;

	if (!b) {
		log_msg("disk %s: %s", c->path, strerror(ENOMEM));
		return -ENOMEM;
	}
	b->fd = b->buf_fd = b->ev_fd = -1;
	ret = vblk_io_open(b, c); /* says why */
	if (ret) {
		vblk_release(b);
		return ret;
	}
	*res = b;
	return 0;
}

void vblk_release(void *res)
{
	struct vblk *b = res;

	if (!b)
		return;
	vblk_io_close(b);
	free(b->pool);
	free(b->path);
	free(b);
}

static void vblk_free(struct virtio_dev *d)
{
	struct vblk *b = to_vblk(d);

	/* d lives inside b: its lock goes before b does. */
	pthread_mutex_destroy(&d->lock);
	vblk_release(b);
}

int vblk_build(const void *cfg, void *res, unsigned int index, const struct virtio_host *host,
	       struct virtio_dev **out)
{
	const struct vblk_config *c = cfg;
	struct vblk *b = res;
	char name[sizeof(b->dev.name)];
	unsigned int i;
	int ret;

	b->path = strdup(c->path);
	b->pool = calloc(VBLK_QUEUE_MAX, sizeof(*b->pool));
	if (!b->path || !b->pool) {
		log_msg("disk %s: %s", c->path, strerror(ENOMEM));
		vblk_release(b);
		return -ENOMEM;
	}
	for (i = VBLK_QUEUE_MAX; i > 0; i--)
		vblk_req_put(b, &b->pool[i - 1]);
	fill_config(b);
	snprintf(name, sizeof(name), "virtio-blk %u (%s)", index, c->path);
	ret = virtio_dev_init(&b->dev, &vblk_ops, name, 1, VBLK_QUEUE_MAX, features(&b->disk),
			      VBLK_CONFIG_SIZE);
	if (ret) {
		log_msg("disk %s: %s", c->path, strerror(-ret));
		vblk_release(b);
		return ret;
	}
	ret = vblk_io_start(b, host->loop);
	if (ret) {
		vblk_free(&b->dev);
		return ret;
	}
	*out = &b->dev;
	return 0;
}

int vblk_create(const struct vblk_config *c, unsigned int index, const struct virtio_host *host,
		struct vblk **out)
{
	struct virtio_dev *d;
	void *res = NULL;
	int ret;

	ret = vblk_open(c, &res);
	if (!ret)
		ret = vblk_build(c, res, index, host, &d);
	if (!ret)
		*out = to_vblk(d);
	return ret;
}

void vblk_destroy(struct vblk *b)
{
	if (b)
		virtio_dev_destroy(&b->dev); /* detaching resets it, which waits for in-flight I/O */
}
