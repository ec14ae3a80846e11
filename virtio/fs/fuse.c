/* fuse: FUSE request framing (header checks, opcode table, replies), INIT, DESTROY and FORGET. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "virtio/fs/srv.h"
#include "lib/log.h"

#define MIN_MINOR 27	  /* oldest protocol minor served (Linux 4.20+; virtio-fs needs 7.31) */
#define MAX_BACKGROUND 64 /* outstanding async requests (readahead, writeback) per guest */
#define BODY_STACK 1024	  /* bodies up to this size are copied to the stack */

/* INIT flags offered (intersected with the guest's); cache=auto adds FUSE_AUTO_INVAL_DATA. */
#define OFFERED                                                                                   \
	(FUSE_ASYNC_READ | FUSE_PARALLEL_DIROPS | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES |         \
	 FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_MAX_PAGES | FUSE_HANDLE_KILLPRIV_V2 | \
	 FUSE_SETXATTR_EXT | FUSE_INIT_EXT)

size_t fsrv_reply_error(const struct iovec *out, unsigned int nout, uint64_t unique, int err)
{
	struct fuse_out_header oh = { .len = sizeof(oh), .error = err, .unique = unique };

	if (iov_total(out, nout) < sizeof(oh))
		return 0;
	return iov_write(out, nout, 0, &oh, sizeof(oh));
}

static int reply_error(struct srv_req *r, int err)
{
	r->written = fsrv_reply_error(r->out, r->nout, r->h.unique, err);
	return 0;
}

int srv_reply_inplace(struct srv_req *r, size_t len)
{
	struct fuse_out_header oh = { .len = (uint32_t)(sizeof(oh) + len), .unique = r->h.unique };

	if (len > r->outlen - sizeof(oh))
		return reply_error(r, -EINVAL);
	iov_write(r->out, r->nout, 0, &oh, sizeof(oh));
	r->written = sizeof(oh) + len;
	return 0;
}

int srv_reply(struct srv_req *r, const void *body, size_t len)
{
	if (len > r->outlen - sizeof(struct fuse_out_header))
		return reply_error(r, -EINVAL);
	iov_write(r->out, r->nout, sizeof(struct fuse_out_header), body, len);
	return srv_reply_inplace(r, len);
}

int srv_str(const struct srv_req *r, size_t *off, size_t max, const char **str)
{
	const char *p = (const char *)r->body + *off;
	const char *nul;
	size_t n;

	if (*off >= r->blen || !(nul = memchr(p, 0, r->blen - *off)))
		return -EINVAL;
	n = (size_t)(nul - p);
	if (!n)
		return -EINVAL;
	if (n > max)
		return -ENAMETOOLONG;
	*str = p;
	*off += n + 1;
	return 0;
}

int srv_name(const struct srv_req *r, size_t *off, const char **name)
{
	int ret = srv_str(r, off, FSRV_NAME_MAX, name);

	if (ret)
		return ret;
	if (!strcmp(*name, ".") || !strcmp(*name, "..") || strchr(*name, '/'))
		return -EINVAL;
	return 0;
}

void srv_thread_prepare(void)
{
	static __thread bool done;

	/*
	 * The guest kernel applies the requester's umask before sending a mode
	 * (FUSE_DONT_MASK is not offered); hull's own umask must not mask it
	 * again. The thread gets its own fs context so umask(0) stays its own;
	 * only creating requests call this, so the event loop (which serves
	 * FORGETs) keeps hull's umask for anything it creates itself.
	 */
	if (done)
		return;
	done = true;
	if (unshare(CLONE_FS)) {
		log_msg("virtio-fs worker: unshare(CLONE_FS): %s; new files get hull's umask",
			strerror(errno));
		return;
	}
	umask(0);
}

static int op_init(struct srv_req *r)
{
	struct fsrv *s = r->s;
	struct fuse_init_in in = { 0 };
	struct fuse_init_out o = { .major = FUSE_KERNEL_VERSION,
				   .minor = FUSE_KERNEL_MINOR_VERSION };
	uint64_t want, offer = OFFERED;

	memcpy(&in, r->body, r->blen < sizeof(in) ? r->blen : sizeof(in));
	if (in.major > FUSE_KERNEL_VERSION) /* the guest retries with our major */
		return srv_reply(r, &o, sizeof(o));
	if (in.major < FUSE_KERNEL_VERSION || in.minor < MIN_MINOR) {
		if (!atomic_exchange(&s->said_old, true)) /* once: the guest may repeat it */
			log_msg("share %s: guest FUSE %u.%u is too old (7.%u needed)", s->path,
				in.major, in.minor, MIN_MINOR);
		return -EPROTO;
	}
	want = in.flags;
	if ((in.flags & FUSE_INIT_EXT) && r->blen >= offsetof(struct fuse_init_in, unused))
		want |= (uint64_t)in.flags2 << 32;
	if (s->timeout == 1) /* cache=auto: drop cached pages when mtime/size change */
		offer |= FUSE_AUTO_INVAL_DATA;
	want &= offer;
	o.minor = in.minor < FUSE_KERNEL_MINOR_VERSION ? in.minor : FUSE_KERNEL_MINOR_VERSION;
	o.max_readahead = in.max_readahead;
	o.flags = (uint32_t)want;
	o.flags2 = (uint32_t)(want >> 32);
	o.max_background = MAX_BACKGROUND;
	o.congestion_threshold = MAX_BACKGROUND * 3 / 4;
	o.max_write = FSRV_MAX_WRITE;
	o.time_gran = 1;
	o.max_pages = (want & FUSE_MAX_PAGES) ? FSRV_MAX_PAGES : 0;
	atomic_store(&s->flags, want);
	atomic_store(&s->minor, o.minor);
	atomic_store(&s->ready, true);
	return srv_reply(r, &o, sizeof(o));
}

static int op_destroy(struct srv_req *r)
{
	/* Forget everything; a new INIT starts over (requests in flight keep their refs). */
	atomic_store(&r->s->ready, false);
	srv_tables_drop(r->s);
	return srv_reply(r, NULL, 0);
}

/* FORGET, BATCH_FORGET, INTERRUPT: on the event loop, table operations only, bounded below. */
static int op_forget(struct srv_req *r)
{
	struct fuse_forget_in in;

	memcpy(&in, r->body, sizeof(in));
	srv_node_forget(r->s, r->h.nodeid, in.nlookup);
	return SRV_NOREPLY;
}

/*
 * At most BATCH_MAX entries (the request fits FSRV_HIPRIO_MAX), read in one
 * pass of the cursor: one table lookup each.
 */
static int op_batch_forget(struct srv_req *r)
{
	struct fuse_batch_forget_in in;
	struct fuse_forget_one one;
	uint32_t i;

	memcpy(&in, r->body, sizeof(in));
	/* The kernel sends exactly count entries: any other count is malformed; forget nothing. */
	if ((uint64_t)in.count * sizeof(one) != r->inlen - sizeof(r->h) - sizeof(in)) {
		atomic_fetch_add(&r->s->oversized, 1);
		return SRV_NOREPLY;
	}
	for (i = 0; i < in.count && iov_cursor_read(&r->cur, &one, sizeof(one)) == sizeof(one); i++)
		srv_node_forget(r->s, one.nodeid, one.nlookup);
	return SRV_NOREPLY;
}

static int op_interrupt(struct srv_req *r)
{
	(void)r; /* every request completes anyway: FUSE lets a server ignore INTERRUPT */
	return SRV_NOREPLY;
}

/*
 * MOD: modifies the share: -EROFS when it is read-only, or when the entry of
 * the header's node is (checked before the handler runs). MOD | BODY: what it
 * modifies is named in the body (a handle, RENAME's target, LINK's inode): the
 * handler checks the entries (-EXDEV across entries, then -EROFS).
 */
#define MOD 1u
#define STREAM 2u /* only the fixed part is copied; the handler reads the rest at r->cur */
#define QUIET 4u  /* gets no reply (the high-priority queue's opcodes) */
#define BODY 8u

/*
 * min covers the fixed struct each handler copies out of the body (INIT and
 * SETXATTR, whose struct grew with the protocol, check blen themselves).
 * max, when set, bounds the body below FSRV_IN_MAX - 40.
 */
struct op {
	int (*fn)(struct srv_req *r);
	uint16_t min;	/* body bytes at least */
	uint16_t max;	/* body bytes at most; 0: FSRV_IN_MAX bounds it */
	uint16_t reply; /* reply body bytes at least (checked before the handler acts) */
	uint8_t flags;
};

#define ENTRY sizeof(struct fuse_entry_out)
#define ATTR sizeof(struct fuse_attr_out)
#define HDR sizeof(struct fuse_in_header)
#define BATCH_MAX                                                        \
	((FSRV_HIPRIO_MAX - HDR - sizeof(struct fuse_batch_forget_in)) / \
	 sizeof(struct fuse_forget_one))

_Static_assert(FSRV_IN_MAX == HDR + sizeof(struct fuse_write_in) + FSRV_MAX_WRITE,
	       "FSRV_IN_MAX is a maximal WRITE");
_Static_assert(BATCH_MAX == 253, "a page of forgets");

/*
 * Opcodes without an entry (GETLK/SETLK/SETLKW, BMAP, IOCTL, POLL, mappings...) get -ENOSYS.
 * Work per request: one or two host calls, or I/O bounded by max_write (READ, WRITE),
 * SRV_COPY_MAX (COPY_FILE_RANGE), 128 KiB of entries (READDIR, READDIRPLUS: one lookup each),
 * 64 KiB (xattrs); DESTROY closes what the tables hold (bounded by their size).
 */
static const struct op ops[] = {
	[FUSE_LOOKUP] = { srv_op_lookup, 2, 0, ENTRY, 0 },
	[FUSE_FORGET] = { op_forget, sizeof(struct fuse_forget_in), sizeof(struct fuse_forget_in),
			  0, QUIET },
	[FUSE_GETATTR] = { srv_op_getattr, sizeof(struct fuse_getattr_in), 0, ATTR, 0 },
	[FUSE_SETATTR] = { srv_op_setattr, sizeof(struct fuse_setattr_in), 0, ATTR, MOD },
	[FUSE_READLINK] = { srv_op_readlink, 0, 0, 0, 0 },
	[FUSE_SYMLINK] = { srv_op_symlink, 4, 0, ENTRY, MOD },
	[FUSE_MKNOD] = { srv_op_mknod, sizeof(struct fuse_mknod_in) + 2, 0, ENTRY, MOD },
	[FUSE_MKDIR] = { srv_op_mkdir, sizeof(struct fuse_mkdir_in) + 2, 0, ENTRY, MOD },
	[FUSE_UNLINK] = { srv_op_unlink, 2, 0, 0, MOD },
	[FUSE_RMDIR] = { srv_op_rmdir, 2, 0, 0, MOD },
	[FUSE_RENAME] = { srv_op_rename, sizeof(struct fuse_rename_in) + 4, 0, 0, MOD | BODY },
	[FUSE_LINK] = { srv_op_link, sizeof(struct fuse_link_in) + 2, 0, ENTRY, MOD | BODY },
	[FUSE_OPEN] = { srv_op_open, sizeof(struct fuse_open_in), 0, sizeof(struct fuse_open_out),
			0 },
	[FUSE_READ] = { srv_op_read, sizeof(struct fuse_read_in), 0, 0, 0 },
	[FUSE_WRITE] = { srv_op_write, sizeof(struct fuse_write_in), 0,
			 sizeof(struct fuse_write_out), MOD | BODY | STREAM },
	[FUSE_STATFS] = { srv_op_statfs, 0, 0, sizeof(struct fuse_statfs_out), 0 },
	[FUSE_RELEASE] = { srv_op_release, sizeof(struct fuse_release_in), 0, 0, 0 },
	[FUSE_FSYNC] = { srv_op_fsync, sizeof(struct fuse_fsync_in), 0, 0, 0 },
	[FUSE_SETXATTR] = { srv_op_setxattr, FUSE_COMPAT_SETXATTR_IN_SIZE + 2, 0, 0, MOD },
	[FUSE_GETXATTR] = { srv_op_getxattr, sizeof(struct fuse_getxattr_in) + 2, 0, 0, 0 },
	[FUSE_LISTXATTR] = { srv_op_listxattr, sizeof(struct fuse_getxattr_in), 0, 0, 0 },
	[FUSE_REMOVEXATTR] = { srv_op_removexattr, 2, 0, 0, MOD },
	[FUSE_FLUSH] = { srv_op_flush, sizeof(struct fuse_flush_in), 0, 0, 0 },
	[FUSE_INIT] = { op_init, 16, 0, 0, 0 },
	[FUSE_OPENDIR] = { srv_op_opendir, sizeof(struct fuse_open_in), 0,
			   sizeof(struct fuse_open_out), 0 },
	[FUSE_READDIR] = { srv_op_readdir, sizeof(struct fuse_read_in), 0, 0, 0 },
	[FUSE_RELEASEDIR] = { srv_op_release, sizeof(struct fuse_release_in), 0, 0, 0 },
	[FUSE_FSYNCDIR] = { srv_op_fsync, sizeof(struct fuse_fsync_in), 0, 0, 0 },
	[FUSE_ACCESS] = { srv_op_access, sizeof(struct fuse_access_in), 0, 0, 0 },
	[FUSE_CREATE] = { srv_op_create, sizeof(struct fuse_create_in) + 2, 0,
			  ENTRY + sizeof(struct fuse_open_out), MOD },
	[FUSE_INTERRUPT] = { op_interrupt, sizeof(struct fuse_interrupt_in),
			     sizeof(struct fuse_interrupt_in), 0, QUIET },
	[FUSE_DESTROY] = { op_destroy, 0, 0, 0, 0 },
	[FUSE_BATCH_FORGET] = { op_batch_forget, sizeof(struct fuse_batch_forget_in),
				FSRV_HIPRIO_MAX - HDR, 0, STREAM | QUIET },
	[FUSE_FALLOCATE] = { srv_op_fallocate, sizeof(struct fuse_fallocate_in), 0, 0, MOD | BODY },
	[FUSE_READDIRPLUS] = { srv_op_readdirplus, sizeof(struct fuse_read_in), 0, 0, 0 },
	[FUSE_RENAME2] = { srv_op_rename2, sizeof(struct fuse_rename2_in) + 4, 0, 0, MOD | BODY },
	[FUSE_LSEEK] = { srv_op_lseek, sizeof(struct fuse_lseek_in), 0,
			 sizeof(struct fuse_lseek_out), 0 },
	[FUSE_COPY_FILE_RANGE] = { srv_op_copy_file_range, sizeof(struct fuse_copy_file_range_in),
				   0, sizeof(struct fuse_write_out), MOD | BODY },
};

int fsrv_peek(const struct iovec *in, unsigned int nin, struct fsrv_peek *p)
{
	struct fuse_in_header h;
	struct fuse_interrupt_in ii = { 0 };

	if (iov_read(in, nin, 0, &h, sizeof(h)) != sizeof(h))
		return -EINVAL;
	p->opcode = h.opcode;
	p->unique = h.unique;
	p->intr_unique = 0;
	if (h.opcode == FUSE_INTERRUPT) {
		if (iov_read(in, nin, sizeof(h), &ii, sizeof(ii)) != sizeof(ii))
			return -EINVAL;
		p->intr_unique = ii.unique;
	}
	return 0;
}

/*
 * Is the request's length one its opcode can mean? 0 or -EINVAL (a request
 * too long is counted). No extension (security context, supplementary groups)
 * is negotiated, so a nonzero total_extlen is malformed: nothing is taken off
 * the body after its size is checked here, and the fixed struct a handler
 * copies out is always bytes of this request.
 */
static int check_len(struct srv_req *r, const struct op *op)
{
	size_t body = r->inlen - sizeof(r->h);

	if (r->inlen > FSRV_IN_MAX || (op && op->max && body > op->max)) {
		atomic_fetch_add(&r->s->oversized, 1);
		return -EINVAL;
	}
	if (r->h.total_extlen || (op && body < op->min))
		return -EINVAL;
	return 0;
}

/* Copy the body, run the handler, reply with its error if it did not reply itself. */
static void serve(struct srv_req *r, const struct op *op)
{
	uint8_t stack[BODY_STACK] __attribute__((aligned(16)));
	uint8_t *buf = stack;
	size_t n = (op->flags & STREAM) ? op->min : r->inlen - sizeof(r->h);
	int ret;

	if (n > SRV_BODY_MAX) {
		reply_error(r, -EINVAL);
		return;
	}
	/* Bigger bodies get a buffer of their exact size: ASan sees any read past it. */
	if (n > sizeof(stack) && !(buf = malloc(n))) {
		reply_error(r, -ENOMEM);
		return;
	}
	r->body = buf;
	r->blen = iov_cursor_read(&r->cur, buf, n);
	/* No stale bytes of an earlier request behind the body, whatever a handler reads. */
	if (buf == stack)
		memset(stack + r->blen, 0, sizeof(stack) - r->blen);
	ret = op->fn(r);
	if (ret < 0)
		reply_error(r, ret);
	else if (!ret &&
		 !r->written) /* a handler that forgot to reply: never leave the guest waiting */
		reply_error(r, -EIO);
	if (buf != stack)
		free(buf);
}

size_t fsrv_handle(struct fsrv *s, const struct iovec *in, unsigned int nin,
		   const struct iovec *out, unsigned int nout)
{
	struct srv_req r = { .s = s, .in = in, .nin = nin, .out = out, .nout = nout };
	const struct op *op = NULL;
	int bad;

	r.inlen = iov_total(in, nin);
	r.outlen = iov_total(out, nout);
	iov_cursor_init(&r.cur, in, nin, 0);
	if (r.inlen < sizeof(r.h) || iov_cursor_read(&r.cur, &r.h, sizeof(r.h)) != sizeof(r.h) ||
	    r.h.len != r.inlen) {
		atomic_fetch_add(&s->dropped, 1);
		return 0;
	}
	if (r.h.opcode < sizeof(ops) / sizeof(ops[0]) && ops[r.h.opcode].fn)
		op = &ops[r.h.opcode];
	bad = check_len(&r, op);
	if (op && (op->flags & QUIET)) {
		if (!bad && atomic_load(&s->ready))
			serve(&r, op);
		return 0;
	}
	if (r.outlen < sizeof(struct fuse_out_header)) {
		atomic_fetch_add(&s->dropped, 1);
		return 0;
	}
	r.flags = atomic_load(&s->flags);
	if (bad)
		reply_error(&r, bad);
	else if (!op)
		reply_error(&r, -ENOSYS);
	else if (op->fn != op_init && !atomic_load(&s->ready))
		reply_error(&r, -EIO);
	else if (r.outlen - sizeof(struct fuse_out_header) < op->reply)
		reply_error(&r, -EINVAL);
	else if ((op->flags & MOD) && s->ro)
		reply_error(&r, -EROFS);
	else if ((op->flags & (MOD | BODY)) == MOD && (bad = srv_node_writable(s, r.h.nodeid)))
		reply_error(&r, bad);
	else
		serve(&r, op);
	return r.written;
}
