/* ops_file: open files: OPEN, CREATE, READ/WRITE straight to guest memory, sync, seeks. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "virtio/fs/srv.h"

#define IOV_STACK 64

/* The guest's open flags hull passes on; O_CREAT, O_TRUNC, O_PATH, O_TMPFILE... never. */
/*
 * Open flags of the guest's that reach the host. O_DIRECT does not: the guest
 * kernel already bypasses its own cache (cache=never, or its O_DIRECT), the
 * host file system may refuse it (tmpfs before 6.6) and its alignment rules
 * are not the guest's.
 */
#define KEEP_FLAGS (O_ACCMODE | O_APPEND | O_SYNC | O_DSYNC | O_NOATIME)

int srv_reopen(struct fsrv *s, const struct srv_node *n, int flags)
{
	char num[16];
	int fd;

	if (n->type != S_IFREG && n->type != S_IFDIR)
		return -EACCES; /* FIFOs, sockets, devices and symlinks are never opened */
	/*
	 * /proc/self/fd/N is hull's own magic link to this exact inode; it must
	 * be followed, so no O_NOFOLLOW here (it would fail with ELOOP). The
	 * type check above keeps anything but files and directories out.
	 */
	snprintf(num, sizeof(num), "%d", n->fd);
	flags |= O_CLOEXEC | O_NOCTTY;
	if (n->type == S_IFDIR)
		flags |= O_DIRECTORY;
	fd = openat(s->proc_fd, num, flags);
	if (fd < 0 && errno == EPERM && (flags & O_NOATIME)) /* not the owner, rootless */
		fd = openat(s->proc_fd, num, flags & ~O_NOATIME);
	return fd < 0 ? -errno : fd;
}

int srv_kill_priv(int fd)
{
	struct stat st;
	mode_t kill = S_ISUID;

	/* hull has CAP_FSETID, so the host kernel would not do this for the guest's writer. */
	if (fstat(fd, &st))
		return -errno;
	if ((st.st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		kill |= S_ISGID;
	if ((st.st_mode & kill) && fchmod(fd, st.st_mode & ~kill & 07777))
		return -errno;
	if (fremovexattr(fd, "security.capability") && errno != ENODATA && errno != EOPNOTSUPP)
		return -errno;
	return 0;
}

/* Open a regular-file node with the guest's flags; the handle goes into *oo. */
static int open_file(struct srv_req *r, const struct srv_node *n, uint32_t gflags,
		     uint32_t open_flags, struct fuse_open_out *oo)
{
	bool kill = (open_flags & FUSE_OPEN_KILL_SUIDGID) && (r->flags & FUSE_HANDLE_KILLPRIV_V2);
	int acc = gflags & O_ACCMODE, fd, tfd, ret = 0;

	if (n->type != S_IFREG)
		return n->type == S_IFLNK ? -ELOOP : -EACCES;
	if (acc == O_ACCMODE)
		return -EINVAL;
	if ((acc != O_RDONLY || (gflags & O_TRUNC)) && srv_writable(r->s, n->entry))
		return -EROFS;
	fd = srv_reopen(r->s, n, (int)(gflags & KEEP_FLAGS));
	if (fd < 0)
		return fd;
	if (gflags & O_TRUNC) { /* ATOMIC_O_TRUNC: done here, with the kill-priv rule */
		tfd = acc == O_RDONLY ? srv_reopen(r->s, n, O_WRONLY) : fd;
		ret = tfd < 0 ? tfd : (ftruncate(tfd, 0) ? -errno : 0);
		if (!ret && kill)
			ret = srv_kill_priv(tfd);
		if (tfd >= 0 && tfd != fd)
			close(tfd);
	}
	if (!ret)
		ret = srv_handle_new(r->s, fd, n->id, n->entry, &oo->fh);
	if (ret) {
		close(fd);
		return ret;
	}
	oo->open_flags = r->s->fopen_flags;
	return 0;
}

int srv_op_open(struct srv_req *r)
{
	struct fuse_open_in in;
	struct fuse_open_out oo = { 0 };
	struct srv_node n;
	int ret;

	memcpy(&in, r->body, sizeof(in));
	if ((ret = srv_node_get(r->s, r->h.nodeid, &n)))
		return ret;
	ret = open_file(r, &n, in.flags, in.open_flags, &oo);
	srv_node_put(r->s, &n);
	return ret ? ret : srv_reply(r, &oo, sizeof(oo));
}

/* CREATE without O_EXCL found the name taken (by the host, meanwhile): open what is there. */
static int create_existing(struct srv_req *r, struct srv_node *dir, const char *name,
			   const struct fuse_create_in *in, void *reply)
{
	struct fuse_entry_out eo;
	struct fuse_open_out oo = { 0 };
	struct srv_node n;
	int ret = srv_lookup(r, dir->fd, dir->entry, name, &eo);

	if (ret)
		return ret;
	ret = srv_node_get(r->s, eo.nodeid, &n);
	if (!ret) {
		ret = n.type == S_IFDIR ? -EISDIR
					: open_file(r, &n, in->flags, in->open_flags, &oo);
		srv_node_put(r->s, &n);
	}
	if (ret) {
		srv_node_forget(r->s, eo.nodeid, 1);
		return ret;
	}
	memcpy(reply, &eo, sizeof(eo));
	memcpy((char *)reply + sizeof(eo), &oo, sizeof(oo));
	return 0;
}

int srv_op_create(struct srv_req *r)
{
	struct fuse_create_in in;
	struct fuse_entry_out eo = { 0 };
	struct fuse_open_out oo = { 0 };
	char reply[sizeof(eo) + sizeof(oo)], num[16];
	struct srv_node dir;
	const char *name;
	size_t off = sizeof(in);
	int fd, pfd, flags, ret;
	mode_t mode;

	memcpy(&in, r->body, sizeof(in));
	if ((ret = srv_name(r, &off, &name)))
		return ret;
	if ((in.flags & O_ACCMODE) == O_ACCMODE)
		return -EINVAL;
	if ((ret = srv_get_dir(r, &dir)))
		return ret;
	mode = in.mode & ~in.umask & 07777;
	flags = (int)(in.flags & KEEP_FLAGS) | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;
	srv_thread_prepare();
	fd = openat(dir.fd, name, flags, mode);
	if (fd < 0 && errno == EPERM && (flags & O_NOATIME))
		fd = openat(dir.fd, name, flags & ~O_NOATIME, mode);
	if (fd < 0) {
		ret = -errno;
		if (ret == -EEXIST && !(in.flags & O_EXCL))
			ret = create_existing(r, &dir, name, &in, reply);
		srv_node_put(r->s, &dir);
		return ret ? ret : srv_reply(r, reply, sizeof(reply));
	}
	ret = srv_set_owner(r, fd, dir.fd);
	/* chown cleared a setuid/setgid the guest asked for: set the mode again. */
	if (!ret && (mode & (S_ISUID | S_ISGID)) && fchmod(fd, mode))
		ret = -errno;
	if (!ret) {
		snprintf(num, sizeof(num), "%d", fd);
		pfd = openat(r->s->proc_fd, num, O_PATH | O_CLOEXEC); /* this inode, as a node */
		ret = pfd < 0 ? -errno : srv_enter(r, pfd, dir.entry, &eo);
	}
	if (!ret) {
		ret = srv_handle_new(r->s, fd, eo.nodeid, dir.entry, &oo.fh);
		if (ret)
			srv_node_forget(r->s, eo.nodeid, 1);
	}
	if (ret) {
		close(fd);
		unlinkat(dir.fd, name, 0);
		srv_node_put(r->s, &dir);
		return ret;
	}
	srv_node_put(r->s, &dir);
	oo.open_flags = r->s->fopen_flags;
	memcpy(reply, &eo, sizeof(eo));
	memcpy(reply + sizeof(eo), &oo, sizeof(oo));
	return srv_reply(r, reply, sizeof(reply));
}

/*
 * preadv/pwritev of len bytes at off between the file and the guest's buffers
 * v[] (starting at byte skip): no copy. The buffers are sliced once, then
 * moved IOV_MAX entries at a time. Stops at EOF or a short transfer.
 */
static ssize_t file_io(int fd, bool write, const struct iovec *v, unsigned int n, size_t skip,
		       size_t len, off_t off)
{
	struct iovec stack[IOV_STACK], *iov = stack;
	size_t done = 0;
	unsigned int k, at, cap = n < IOV_STACK ? IOV_STACK : n;
	ssize_t got = 0;
	int sliced;

	if (!len)
		return 0;
	if (cap > IOV_STACK && !(iov = calloc(cap, sizeof(*iov))))
		return -ENOMEM;
	/* A range past the buffers' end moves nothing (the caller checked it fits). */
	sliced = iov_slice(iov, cap, v, n, skip, len);
	k = sliced > 0 ? (unsigned int)sliced : 0;
	for (at = 0; at < k; at += IOV_MAX) {
		unsigned int cnt = k - at < IOV_MAX ? k - at : IOV_MAX;
		size_t want = iov_total(iov + at, cnt);

		got = write ? pwritev(fd, iov + at, (int)cnt, off + (off_t)done)
			    : preadv(fd, iov + at, (int)cnt, off + (off_t)done);
		if (got <= 0)
			break;
		done += (size_t)got;
		if ((size_t)got < want)
			break;
	}
	if (iov != stack)
		free(iov);
	if (got < 0 && !done)
		return -errno;
	return (ssize_t)done;
}

/* At most FSRV_MAX_WRITE bytes (and the out part's room), straight into the guest's buffers. */
int srv_op_read(struct srv_req *r)
{
	struct fuse_read_in in;
	struct srv_handle *h;
	size_t len;
	ssize_t n;
	int ret;

	memcpy(&in, r->body, sizeof(in));
	if (in.size > FSRV_MAX_WRITE || in.offset > INT64_MAX)
		return -EINVAL;
	if ((ret = srv_handle_get(r->s, in.fh, &h)))
		return ret;
	len = r->outlen - sizeof(struct fuse_out_header);
	if (len > in.size)
		len = in.size;
	n = file_io(h->fd, false, r->out, r->nout, sizeof(struct fuse_out_header), len,
		    (off_t)in.offset);
	srv_handle_put(r->s, h);
	return n < 0 ? (int)n : srv_reply_inplace(r, (size_t)n);
}

/* Exactly the payload present, at most FSRV_MAX_WRITE bytes (FSRV_IN_MAX bounds the request). */
int srv_op_write(struct srv_req *r)
{
	struct fuse_write_in in;
	struct fuse_write_out wo = { 0 };
	struct srv_handle *h;
	size_t at = sizeof(struct fuse_in_header) + sizeof(in);
	ssize_t n;
	int ret;

	memcpy(&in, r->body, sizeof(in));
	if (in.size != r->inlen - at || in.size > FSRV_MAX_WRITE || in.offset > INT64_MAX)
		return -EINVAL;
	if ((ret = srv_handle_get(r->s, in.fh, &h)))
		return ret;
	/* The handle's entry rules, whatever node the header names. */
	ret = srv_writable(r->s, h->entry);
	if (!ret && (in.write_flags & FUSE_WRITE_KILL_SUIDGID) &&
	    (r->flags & FUSE_HANDLE_KILLPRIV_V2))
		ret = srv_kill_priv(h->fd);
	n = ret ? ret : file_io(h->fd, true, r->in, r->nin, at, in.size, (off_t)in.offset);
	srv_handle_put(r->s, h);
	if (n < 0)
		return (int)n;
	wo.size = (uint32_t)n;
	return srv_reply(r, &wo, sizeof(wo));
}

int srv_op_flush(struct srv_req *r)
{
	struct fuse_flush_in in;
	struct srv_handle *h;
	int ret;

	/* No POSIX locks to drop and nothing buffered: only the handle must exist. */
	memcpy(&in, r->body, sizeof(in));
	if ((ret = srv_handle_get(r->s, in.fh, &h)))
		return ret;
	srv_handle_put(r->s, h);
	return srv_reply(r, NULL, 0);
}

int srv_op_release(struct srv_req *r)
{
	struct fuse_release_in in;
	int ret;

	memcpy(&in, r->body, sizeof(in));
	ret = srv_handle_release(r->s, in.fh);
	return ret ? ret : srv_reply(r, NULL, 0);
}

int srv_op_fsync(struct srv_req *r)
{
	struct fuse_fsync_in in;
	struct srv_handle *h;
	int ret;

	memcpy(&in, r->body, sizeof(in));
	if ((ret = srv_handle_get(r->s, in.fh, &h)))
		return ret;
	/* The synthetic root's handles have no fd: nothing to sync, as in a read-only dir. */
	if (h->fd >= 0 &&
	    ((in.fsync_flags & FUSE_FSYNC_FDATASYNC) ? fdatasync(h->fd) : fsync(h->fd)))
		ret = -errno;
	srv_handle_put(r->s, h);
	return ret ? ret : srv_reply(r, NULL, 0);
}

int srv_op_fallocate(struct srv_req *r)
{
	struct fuse_fallocate_in in;
	struct srv_handle *h;
	int ret;

	memcpy(&in, r->body, sizeof(in));
	if (in.offset > INT64_MAX || in.length > INT64_MAX)
		return -EINVAL;
	if ((ret = srv_handle_get(r->s, in.fh, &h)))
		return ret;
	ret = srv_writable(r->s, h->entry);
	if (!ret && fallocate(h->fd, (int)in.mode, (off_t)in.offset, (off_t)in.length))
		ret = -errno;
	srv_handle_put(r->s, h);
	return ret ? ret : srv_reply(r, NULL, 0);
}

int srv_op_lseek(struct srv_req *r)
{
	struct fuse_lseek_in in;
	struct fuse_lseek_out o;
	struct srv_handle *h;
	off_t pos;
	int ret;

	memcpy(&in, r->body, sizeof(in));
	if (in.whence != SEEK_SET && in.whence != SEEK_CUR && in.whence != SEEK_END &&
	    in.whence != SEEK_DATA && in.whence != SEEK_HOLE)
		return -EINVAL;
	if ((ret = srv_handle_get(r->s, in.fh, &h)))
		return ret;
	pos = lseek(h->fd, (off_t)in.offset, (int)in.whence);
	if (pos < 0)
		ret = -errno;
	srv_handle_put(r->s, h);
	if (ret)
		return ret;
	o.offset = (uint64_t)pos;
	return srv_reply(r, &o, sizeof(o));
}

/* At most SRV_COPY_MAX bytes per request: a short copy, which the guest continues. */
int srv_op_copy_file_range(struct srv_req *r)
{
	struct fuse_copy_file_range_in in;
	struct fuse_write_out wo = { 0 };
	struct srv_handle *hi, *ho;
	loff_t oi, oo;
	ssize_t n;
	int ret;

	memcpy(&in, r->body, sizeof(in));
	if (in.flags || in.off_in > INT64_MAX || in.off_out > INT64_MAX)
		return -EINVAL;
	if ((ret = srv_handle_get(r->s, in.fh_in, &hi)))
		return ret;
	if ((ret = srv_handle_get(r->s, in.fh_out, &ho))) {
		srv_handle_put(r->s, hi);
		return ret;
	}
	oi = (loff_t)in.off_in;
	oo = (loff_t)in.off_out;
	/* Data may come from any entry (the guest reads it anyway); it lands in a writable one. */
	ret = srv_writable(r->s, ho->entry);
	n = ret ? 0
		: copy_file_range(hi->fd, &oi, ho->fd, &oo,
				  in.len < SRV_COPY_MAX ? in.len : SRV_COPY_MAX, 0);
	if (n < 0)
		ret = -errno;
	srv_handle_put(r->s, ho);
	srv_handle_put(r->s, hi);
	if (ret)
		return ret;
	wo.size = (uint32_t)n;
	return srv_reply(r, &wo, sizeof(wo));
}
