/* virtio-blk backend: the image (open, OFD lock, size) and asynchronous I/O through io_uring. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtio/blk/internal.h"
#include "lib/log.h"

enum { FIXED_IMAGE, FIXED_BUFFERED }; /* registered file slots */

/* Size and block sizes of a block device. */
static int bdev_geometry(struct vblk *b, uint64_t *size, uint32_t *lbs, uint32_t *pbs)
{
	unsigned int p = 0;
	int l = 0;

	if (ioctl(b->fd, BLKGETSIZE64, size) < 0 || ioctl(b->fd, BLKSSZGET, &l) < 0)
		return -errno;
	if (ioctl(b->fd, BLKPBSZGET, &p) < 0)
		p = 0;
	/* Anything odd falls back to 512 rather than confusing the guest. */
	*lbs = l >= 512 && l <= 65536 && !(l & (l - 1)) ? (uint32_t)l : 512;
	*pbs = p >= *lbs && p <= 65536 && !(p & (p - 1)) ? p : *lbs;
	return 0;
}

/* What O_DIRECT needs on this file: statx when the kernel says, else the logical block size. */
static void dio_alignment(struct vblk *b, uint32_t lbs)
{
	b->dio_mem_align = lbs;
	b->dio_off_align = lbs;
#ifdef STATX_DIOALIGN
	struct statx sx;

	if (!statx(b->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) &&
	    (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align) {
		b->dio_mem_align = sx.stx_dio_mem_align ? sx.stx_dio_mem_align : 1;
		b->dio_off_align = sx.stx_dio_offset_align;
	}
#endif
}

/*
 * Open path as the file stat() saw (-ESTALE if it was swapped meanwhile);
 * O_NONBLOCK only keeps open() from waiting and is dropped again, since
 * io_uring must be allowed to block on the file.
 */
static int open_image(const char *path, int flags, struct stat *st)
{
	struct stat seen = *st;
	int ret = 0, fd = open(path, flags | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0 || fcntl(fd, F_SETFL, flags & O_DIRECT) < 0)
		ret = -errno;
	else if (st->st_dev != seen.st_dev || st->st_ino != seen.st_ino)
		ret = -ESTALE;
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

int vblk_io_open(struct vblk *b, const struct vblk_config *c)
{
	const char *path = c->path, *why = NULL;
	int flags = (c->ro ? O_RDONLY : O_RDWR) | (c->cache == VBLK_CACHE_NONE ? O_DIRECT : 0);
	struct flock fl = { .l_type = c->ro ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET };
	uint32_t lbs = 512, pbs = 512;
	struct stat st;
	uint64_t size;
	int ret;

	/* Look before opening: opening some character devices has side effects. */
	if (stat(path, &st) < 0)
		goto err_errno;
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		why = "not a regular file or block device";
		ret = -EINVAL;
		goto err;
	}
	ret = b->fd = open_image(path, flags, &st);
	if (ret == -EINVAL && (flags & O_DIRECT))
		why = "cache=none needs O_DIRECT, which this filesystem does not support";
	if (ret < 0)
		goto err;
	/* OFD locks belong to this open file: a second hull (or a second open here) conflicts. */
	if (fcntl(b->fd, F_OFD_SETLK, &fl) < 0) {
		if (errno != EAGAIN && errno != EACCES)
			goto err_errno;
		why = "locked by another process (another hull using it?)";
		ret = -EBUSY;
		goto err;
	}
	size = (uint64_t)st.st_size;
	if (S_ISBLK(st.st_mode) && (ret = bdev_geometry(b, &size, &lbs, &pbs)))
		goto err;
	if (size < VBLK_SECTOR) {
		why = "smaller than one 512-byte sector";
		ret = -EINVAL;
		goto err;
	}
	b->disk = (struct vblk_disk){ .capacity = size / VBLK_SECTOR,
				      .blk_size = lbs,
				      .phys_size = pbs,
				      .ro = c->ro,
				      .cache = c->cache };
	snprintf(b->disk.serial, sizeof(b->disk.serial), "%s", c->serial);
	if (!(flags & O_DIRECT))
		return 0;

	dio_alignment(b, lbs);
	/* Tell the guest what avoids the buffered path; a hint, not a promise. */
	if (b->dio_off_align > b->disk.phys_size && b->dio_off_align <= 65536)
		b->disk.phys_size = b->dio_off_align;
	/*
	 * Requests O_DIRECT cannot take (guest buffers or offsets less aligned
	 * than the host needs) go through a second, buffered descriptor of the
	 * same file: the kernel keeps page cache and direct I/O coherent, and
	 * unlike a bounce buffer this also covers sub-block offsets without a
	 * read-modify-write race between requests.
	 */
	ret = b->buf_fd = open_image(path, flags & ~O_DIRECT, &st);
	if (ret < 0)
		goto err;
	return 0;

err_errno:
	ret = -errno;
err:
	if (ret == -ESTALE)
		why = "replaced while being opened";
	log_msg("disk %s: %s", path, why ? why : strerror(-ret));
	return ret;
}

/*
 * Reap completions on the event loop thread. Bounded: each request in the
 * pool has at most one SQE in the kernel, so one call sees at most
 * VBLK_QUEUE_MAX completions (resubmissions go out after the reap), plus one
 * notify's budget when requests were waiting for room.
 */
static void vblk_io_event(struct loop *l, struct loop_handler *h, uint32_t events)
{
	struct vblk *b = h->opaque;
	struct virtio_dev *d = &b->dev;
	eventfd_t v;

	(void)l;
	(void)events;
	if (eventfd_read(h->fd, &v) < 0 && errno != EAGAIN)
		log_debug("%s: eventfd: %s", d->name, strerror(errno));
	pthread_mutex_lock(&d->lock);
	if (b->ring_ok && vblk_io_reap(b) && virtio_dev_live(d))
		virtio_dev_queue_done(d, 0);
	/* Requests are free again: pick up what an exhausted pool left in the ring. */
	if (b->starved && virtio_dev_live(d) && d->vq[0].enabled && !d->vq[0].broken)
		d->ops->notify(d, 0);
	pthread_mutex_unlock(&d->lock);
}

/*
 * Debian's liburing 2.3 declares io_uring_register_restrictions() and
 * io_uring_enable_rings() but does not export them (fixed in 2.4): use the
 * raw register call it does export.
 */
static int ring_register(struct vblk *b, unsigned int op, const void *arg, unsigned int n)
{
	int ret = io_uring_register((unsigned int)b->ring.ring_fd, op, arg, n);

	return ret == -1 ? -errno : ret;
}

int vblk_io_start(struct vblk *b, struct loop *loop)
{
	/* SUBMIT_ALL: an SQE the kernel rejects gets its own error CQE, the rest still go. */
	struct io_uring_params p = { .flags = IORING_SETUP_R_DISABLED | IORING_SETUP_SUBMIT_ALL };
	/* Only what this backend issues, and only on the registered image files. */
	struct io_uring_restriction res[] = {
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_READV },
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_WRITEV },
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_FSYNC },
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_FALLOCATE },
		{ .opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED, .sqe_flags = IOSQE_FIXED_FILE },
		{ .opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED, .sqe_flags = IOSQE_FIXED_FILE },
	};
	int fds[2] = { b->fd, b->buf_fd };
	const char *what;
	int ret;

	ret = io_uring_queue_init_params(VBLK_QUEUE_MAX, &b->ring, &p);
	if (ret) {
		log_msg("disk %s: io_uring unavailable: %s", b->path, strerror(-ret));
		return ret;
	}
	b->ring_ok = true;
	what = "register files";
	ret = io_uring_register_files(&b->ring, fds, b->buf_fd >= 0 ? 2 : 1);
	if (ret)
		goto err;
	what = "eventfd";
	b->ev_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ret = b->ev_fd < 0 ? -errno : io_uring_register_eventfd(&b->ring, b->ev_fd);
	if (ret)
		goto err;
	/* Restrictions only take a disabled ring: they hold before the first SQE. */
	what = "restrictions";
	ret = ring_register(b, IORING_REGISTER_RESTRICTIONS, res, sizeof(res) / sizeof(res[0]));
	if (!ret)
		ret = ring_register(b, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (ret)
		goto err;
	what = "event loop";
	b->loop = loop;
	b->ev_h = (struct loop_handler){ .fd = b->ev_fd, .cb = vblk_io_event, .opaque = b };
	ret = loop_add(loop, &b->ev_h, EPOLLIN);
	if (ret)
		goto err;
	b->ev_added = true;
	return 0;

err:
	log_msg("disk %s: io_uring %s: %s", b->path, what, strerror(-ret));
	return ret;
}

/* Can the remaining transfer go straight to the O_DIRECT descriptor? */
static bool dio_ok(const struct vblk *b, const struct vblk_req *r)
{
	unsigned int i;

	if ((r->off + r->done) % b->dio_off_align)
		return false;
	for (i = r->cur; i < r->ndata; i++)
		if ((uintptr_t)r->data[i].iov_base % b->dio_mem_align ||
		    r->data[i].iov_len % b->dio_off_align)
			return false;
	return true;
}

/* WRITE_ZEROES: ZERO_RANGE unless unmapping is allowed; the other mode when one is unsupported. */
static uint8_t zero_mode(const struct vblk *b, const struct vblk_req *r)
{
	bool zr_first = !r->unmap && !b->no_zero_range;

	if (zr_first && !(r->tries & VBLK_ZERO_RANGE))
		return VBLK_ZERO_RANGE;
	if (!(r->tries & VBLK_ZERO_PUNCH))
		return VBLK_ZERO_PUNCH;
	return VBLK_ZERO_RANGE;
}

int vblk_io_queue(struct vblk *b, struct vblk_req *r)
{
	struct io_uring_sqe *sqe;
	unsigned int fixed = FIXED_IMAGE;
	int mode;

	if (r->op < VBLK_OP_READ || r->op > VBLK_OP_WRITE_ZEROES)
		return -EINVAL;
	sqe = io_uring_get_sqe(&b->ring);
	if (!sqe)
		return -EBUSY; /* cannot happen: one SQE per request, as many SQEs as requests */
	switch (r->op) {
	case VBLK_OP_READ:
	case VBLK_OP_WRITE:
		if (b->buf_fd >= 0 && !r->buffered && !dio_ok(b, r)) {
			r->buffered = true;
			b->stats.buffered++;
		}
		if (r->buffered)
			fixed = FIXED_BUFFERED;
		if (r->op == VBLK_OP_READ)
			io_uring_prep_readv(sqe, (int)fixed, r->data + r->cur, r->ndata - r->cur,
					    r->off + r->done);
		else
			io_uring_prep_writev(sqe, (int)fixed, r->data + r->cur, r->ndata - r->cur,
					     r->off + r->done);
		break;
	case VBLK_OP_FLUSH:
		io_uring_prep_fsync(sqe, FIXED_IMAGE, IORING_FSYNC_DATASYNC);
		break;
	case VBLK_OP_DISCARD:
		io_uring_prep_fallocate(sqe, FIXED_IMAGE,
					FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, r->off, r->len);
		break;
	case VBLK_OP_WRITE_ZEROES:
		r->zmode = zero_mode(b, r);
		r->tries |= r->zmode;
		mode = r->zmode == VBLK_ZERO_RANGE ? FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE;
		io_uring_prep_fallocate(sqe, FIXED_IMAGE, mode | FALLOC_FL_KEEP_SIZE, r->off,
					r->len);
		break;
	case VBLK_OP_DONE:
	case VBLK_OP_DROP:
	case VBLK_OP_GET_ID:
		break;
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data(sqe, r);
	b->inflight++;
	return 0;
}

void vblk_io_submit(struct vblk *b)
{
	int ret = io_uring_submit(&b->ring);

	if (ret < 0) {
		/* The SQEs stay queued; the next kick, completion or reset submits them. */
		if (!b->submit_pending)
			log_msg("%s: io_uring submit: %s", b->dev.name, strerror(-ret));
		b->submit_pending = true;
		return;
	}
	b->submit_pending = false;
}

/* Skip n transferred bytes in the remaining data iovecs. */
static void advance(struct vblk_req *r, size_t n)
{
	r->done += n;
	while (n && r->cur < r->ndata) {
		struct iovec *v = &r->data[r->cur];

		if (n < v->iov_len) {
			v->iov_base = (uint8_t *)v->iov_base + n;
			v->iov_len -= n;
			return;
		}
		n -= v->iov_len;
		r->cur++;
	}
}

/* Account one CQE to r: true when r is finished (status set), false to resubmit. */
static bool result(struct vblk *b, struct vblk_req *r, int res)
{
	bool rw = r->op == VBLK_OP_READ || r->op == VBLK_OP_WRITE;
	bool zero = r->op == VBLK_OP_DISCARD || r->op == VBLK_OP_WRITE_ZEROES;

	if (rw && res == -EINVAL && b->buf_fd >= 0 && !r->buffered) {
		/* O_DIRECT refused what statx (or our guess) called aligned: go buffered. */
		r->buffered = true;
		b->stats.buffered++;
		return false;
	}
	if (r->op == VBLK_OP_WRITE_ZEROES && res == -EOPNOTSUPP) {
		if (r->zmode == VBLK_ZERO_RANGE)
			b->no_zero_range = true; /* tmpfs: stop asking */
		if (r->tries != (VBLK_ZERO_RANGE | VBLK_ZERO_PUNCH))
			return false;
	}
	r->status = VIRTIO_BLK_S_IOERR;
	if (res < 0) {
		if (zero && res == -EOPNOTSUPP)
			r->status = VIRTIO_BLK_S_UNSUPP;
		return true;
	}
	if (rw) {
		/* Nothing transferred: the image shrank under us. */
		if (!res || (uint64_t)res > r->len - r->done)
			return true;
		advance(r, (size_t)res);
		if (r->done < r->len) {
			b->stats.short_io++;
			return false;
		}
	}
	r->status = VIRTIO_BLK_S_OK;
	return true;
}

unsigned int vblk_io_reap(struct vblk *b)
{
	struct io_uring_cqe *cqe;
	unsigned int pushed = 0;
	bool requeued = false;

	while (io_uring_peek_cqe(&b->ring, &cqe) == 0) {
		struct vblk_req *r = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&b->ring, cqe);
		if (!r)
			continue;
		b->inflight--;
		if (!result(b, r, res)) {
			if (!vblk_io_queue(b, r)) {
				requeued = true;
				continue;
			}
			r->status = VIRTIO_BLK_S_IOERR;
		}
		vblk_req_finish(b, r);
		pushed++;
	}
	if (requeued || b->submit_pending)
		vblk_io_submit(b);
	return pushed;
}

void vblk_io_drain(struct vblk *b)
{
	struct io_uring_cqe *cqe;

	if (!b->ring_ok)
		return;
	while (b->inflight) {
		/* Also submits SQEs a failed submit left queued, so their CQEs come too. */
		int ret = io_uring_submit_and_wait(&b->ring, 1);

		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			log_msg("%s: waiting for %u requests: %s", b->dev.name, b->inflight,
				strerror(-ret));
			break;
		}
		while (io_uring_peek_cqe(&b->ring, &cqe) == 0) {
			struct vblk_req *r = io_uring_cqe_get_data(cqe);

			io_uring_cqe_seen(&b->ring, cqe);
			if (!r)
				continue;
			b->inflight--;
			b->stats.dropped++;
			vblk_req_put(b, r);
		}
	}
	b->submit_pending = false;
}

void vblk_io_close(struct vblk *b)
{
	if (b->ev_added)
		loop_del(b->loop, &b->ev_h);
	b->ev_added = false;
	if (b->ring_ok) {
		vblk_io_drain(b);
		io_uring_queue_exit(&b->ring);
	}
	b->ring_ok = false;
	if (b->ev_fd >= 0)
		close(b->ev_fd);
	if (b->buf_fd >= 0)
		close(b->buf_fd);
	if (b->fd >= 0) {
		/*
		 * io_uring drops its reference to the registered file only when the
		 * ring's teardown finishes, asynchronously: unlock now, so the image
		 * is free as soon as we return.
		 */
		struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

		fcntl(b->fd, F_OFD_SETLK, &fl);
		close(b->fd);
	}
	b->ev_fd = b->buf_fd = b->fd = -1;
}
