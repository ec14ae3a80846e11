/* virtio-blk internals shared by the protocol (blk.c), the backend (blk_io.c) and the tests. */
#ifndef HULL_VIRTIO_BLK_INTERNAL_H
#define HULL_VIRTIO_BLK_INTERNAL_H

#include <liburing.h>
#include <linux/virtio_blk.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio/blk/blk.h"
#include "lib/loop.h"

#define VBLK_SECTOR 512ULL
#define VBLK_QUEUE_MAX 256		  /* QueueNumMax, request pool and SQ size */
#define VBLK_SEG_MAX (VBLK_QUEUE_MAX - 2) /* data segments: the chain minus header and status */
#define VBLK_IOV_MAX (VBLK_SEG_MAX + 2)	  /* iovecs of one chain (= the virtq hop budget) */
#define VBLK_SIZE_MAX (128U << 10)	  /* advertised largest segment (size_max) */
/*
 * The data of one READ or WRITE is at most what the advertised limits allow
 * (seg_max segments of size_max bytes: 31.75 MiB); a chain longer than that
 * plus the header and the status byte is answered IOERR before anything
 * else is looked at, however its descriptors alias guest memory.
 */
#define VBLK_DATA_MAX ((uint64_t)VBLK_SEG_MAX * VBLK_SIZE_MAX)
#define VBLK_CHAIN_MAX (sizeof(struct virtio_blk_outhdr) + VBLK_DATA_MAX + 1)
/*
 * Bytes handed to io_uring and not completed yet (READ/WRITE data, and the
 * ranges of DISCARD and WRITE_ZEROES, which a block device may have to
 * write): no request is taken from the ring while this much is in flight,
 * so a reset (which waits for in-flight I/O under the device lock) waits for
 * less than VBLK_INFLIGHT_MAX plus one request, and one submit does no more.
 */
#define VBLK_INFLIGHT_MAX (64U << 20)
#define VBLK_MAX_ZERO_SECTORS 0x3fffffU	  /* one DISCARD / WRITE_ZEROES range: just under 2 GiB */
/* The config space ends before the secure-erase fields (that feature is not offered). */
#define VBLK_CONFIG_SIZE offsetof(struct virtio_blk_config, max_secure_erase_sectors)

/* What the protocol needs to know about the image; filled by vblk_io_open(). */
struct vblk_disk {
	uint64_t capacity;  /* 512-byte sectors */
	uint32_t blk_size;  /* logical block size advertised to the guest */
	uint32_t phys_size; /* physical block size (TOPOLOGY), a multiple of blk_size */
	bool ro;
	enum vblk_cache cache;
	char serial[VBLK_SERIAL_MAX + 1];
};

enum vblk_op {
	VBLK_OP_DONE, /* answered without I/O: r->status is final (errors, GET_ID, no-op FLUSH) */
	VBLK_OP_DROP, /* no device-writable byte for a status: push with len 0 */
	VBLK_OP_GET_ID,
	VBLK_OP_READ,
	VBLK_OP_WRITE,
	VBLK_OP_FLUSH,
	VBLK_OP_DISCARD,
	VBLK_OP_WRITE_ZEROES,
};

#define VBLK_ZERO_RANGE 1 /* FALLOC_FL_ZERO_RANGE */
#define VBLK_ZERO_PUNCH 2 /* FALLOC_FL_PUNCH_HOLE */

/* One request: preallocated in the pool, never malloc'd per request. */
struct vblk_req {
	struct virtq_chain chain; /* chain.iov = iov */
	enum vblk_op op;
	uint8_t status;		 /* VIRTIO_BLK_S_* */
	bool unmap;		 /* WRITE_ZEROES: deallocating is allowed */
	bool buffered;		 /* cache=none: go through the fd without O_DIRECT */
	uint8_t tries;		 /* WRITE_ZEROES: fallocate modes tried (VBLK_ZERO_*) */
	uint8_t zmode;		 /* WRITE_ZEROES: the mode of the SQE in flight */
	uint64_t off;		 /* byte offset in the image */
	uint64_t len;		 /* bytes of data, or of the DISCARD/WRITE_ZEROES range */
	uint64_t done;		 /* bytes transferred; a short transfer resumes here */
	uint64_t charged;	 /* bytes counted in vblk.inflight_bytes until it is put back */
	unsigned int ndata, cur; /* data[cur..ndata) is what remains to transfer */
	struct vblk_req *next_free;
	struct iovec iov[VBLK_IOV_MAX];	 /* the chain as popped */
	struct iovec data[VBLK_IOV_MAX]; /* the data part, cut out of iov */
};

/* Debugging counters; cheap, updated under the device lock. */
struct vblk_stats {
	uint64_t requests, reads, writes, flushes, discards, write_zeroes, get_ids;
	uint64_t ioerr, unsupp, no_status; /* answered IOERR / UNSUPP; no status byte (len 0) */
	uint64_t too_long;		   /* chains over VBLK_CHAIN_MAX (answered IOERR) */
	uint64_t short_io;		   /* partial transfers resubmitted */
	uint64_t buffered;		   /* cache=none requests sent without O_DIRECT */
	uint64_t dropped;		   /* in flight at a reset: waited for, not answered */
};

struct vblk {
	struct virtio_dev dev;
	struct vblk_disk disk;
	struct virtio_blk_config cfg; /* little-endian, as the guest reads it */
	char *path;

	/* Backend (blk_io.c). */
	int fd;	    /* the image; O_DIRECT with cache=none */
	int buf_fd; /* cache=none: the image again without O_DIRECT, for unaligned I/O; or -1 */
	uint32_t dio_mem_align, dio_off_align; /* O_DIRECT needs; 0 when not O_DIRECT */
	bool no_zero_range;		       /* FALLOC_FL_ZERO_RANGE said EOPNOTSUPP */
	struct io_uring ring;
	bool ring_ok;
	int ev_fd; /* io_uring's completion eventfd, a loop handler */
	struct loop_handler ev_h;
	struct loop *loop;
	bool ev_added;
	bool submit_pending;   /* SQEs waiting for a failed io_uring_submit */
	unsigned int inflight; /* requests with an SQE in the kernel */

	/* Request pool (blk.c). */
	struct vblk_req *pool;
	struct vblk_req *free;
	unsigned int nfree;
	bool starved; /* stopped popping for want of a free request or of VBLK_INFLIGHT_MAX room */
	uint64_t inflight_bytes; /* bytes (r->charged) of the requests queued and not put back */

	struct vblk_stats stats;
};

/* ---- blk.c: protocol ---- */

/* Is the chain longer than any request (VBLK_CHAIN_MAX)? */
bool vblk_too_long(const struct virtq_chain *c);

/*
 * Parse and validate the request in r->chain against the disk: sets r->op,
 * and r->status, r->off, r->len, r->data/ndata as the op needs. Pure: reads
 * the chain's buffers, writes nothing anywhere but r.
 */
void vblk_classify(const struct vblk_disk *disk, struct vblk_req *r);

/* Pool: a free request (NULL when none), and giving it back. Lock held. */
struct vblk_req *vblk_req_get(struct vblk *b);
void vblk_req_put(struct vblk *b, struct vblk_req *r);

/*
 * Answer r: write its status byte (the last byte of the in part), push it
 * with the used length, count it and return it to the pool. When the device
 * is no longer live the result is dropped instead. Lock held; the caller
 * calls virtio_dev_queue_done() after a batch.
 */
void vblk_req_finish(struct vblk *b, struct vblk_req *r);

/*
 * vblk_kind's building steps (blk.c). vblk_open, the check: the image opened, sized and locked
 * (a struct vblk in *res, with b->disk filled). vblk_release frees what it opened. vblk_build,
 * the create: the request pool, the device and its io_uring, from res (which it takes).
 */
int vblk_open(const struct vblk_config *c, void **res);
void vblk_release(void *res);
int vblk_build(const void *cfg, void *res, unsigned int index, const struct virtio_host *host,
	       struct virtio_dev **out);

/* ---- blk_io.c: backend ---- */

/*
 * Open c->path (O_DIRECT for cache=none, read-only for ro), check it is a
 * regular file or block device of at least one sector, take the OFD lock,
 * and fill b->disk, b->fd, b->buf_fd and the alignment needs. Messages
 * "disk PATH: cause". 0 or -errno (-EBUSY when locked elsewhere).
 */
int vblk_io_open(struct vblk *b, const struct vblk_config *c);

/*
 * Set up the restricted io_uring (image fds fixed, only the opcodes used)
 * and its completion eventfd as a handler on loop. 0 or -errno.
 */
int vblk_io_start(struct vblk *b, struct loop *loop);

/* Queue the next SQE of r (not yet submitted). 0, or -errno: r was not queued. Lock held. */
int vblk_io_queue(struct vblk *b, struct vblk_req *r);

/* Submit what vblk_io_queue queued. Lock held. */
void vblk_io_submit(struct vblk *b);

/*
 * Reap every CQE: resubmit remainders, answer finished requests. Returns the
 * number of requests pushed (the caller calls virtio_dev_queue_done). Lock held.
 */
unsigned int vblk_io_reap(struct vblk *b);

/*
 * Wait for every in-flight request and drop the results (nothing touches
 * the virtqueue or guest memory afterwards); all requests are free again.
 * Lock held (device reset).
 */
void vblk_io_drain(struct vblk *b);

/* Undo vblk_io_start and vblk_io_open (drain first). */
void vblk_io_close(struct vblk *b);

#endif
