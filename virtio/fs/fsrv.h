/* fsrv: the FUSE server behind virtio-fs, confined to one host directory or to named entries. */
#ifndef HULL_VIRTIO_FS_FSRV_H
#define HULL_VIRTIO_FS_FSRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio/fs/fs.h"

/*
 * The server knows nothing about virtqueues: a request is the device-readable
 * part of a chain (in), the reply goes to its device-writable part (out). Both
 * are iovecs over guest memory, already translated by the virtqueue parser;
 * everything in them is hostile and may change while it is read (other vCPUs
 * write guest memory concurrently): every field is copied out once, checked,
 * then used.
 *
 * Confinement (the guarantees the README documents):
 *  - every name from the guest is one path component: not empty, not "." or
 *    "..", no '/', NUL-terminated inside the request, at most FSRV_NAME_MAX bytes
 *    (-EINVAL, or -ENAMETOOLONG past FSRV_NAME_MAX);
 *  - a lookup of a new inode is openat2(parent O_PATH fd, name, O_PATH |
 *    O_NOFOLLOW, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
 *    one already held is found by fstatat(parent, name, AT_SYMLINK_NOFOLLOW):
 *    the host never follows a symlink, a magic link or "..";
 *  - inodes are held as O_PATH fds; a file is opened for I/O only when its type
 *    (fixed for the life of an inode) is a regular file or a directory; FIFOs,
 *    sockets and device nodes are never opened; a symlink is only ever read
 *    (readlinkat) or stat'ed;
 *  - node ids and file handles are indices into bounded tables with a
 *    generation number, never pointers; an unknown, stale or forged id gets
 *    -ESTALE (node) or -EBADF (handle); FORGET counts are clamped, never
 *    trusted; a full table, or hull's descriptor budget used up, gives -ENFILE;
 *  - ro makes every modifying request fail with -EROFS.
 *
 * A share of entries (fsrv_config.entries: a container's bind mounts) has a
 * synthetic root instead of a host directory: a read-only directory owned by
 * root (mode 0555) that holds exactly the entries' names. Each entry is a
 * host directory or a single regular file, opened O_PATH at fsrv_open, and
 * confined as a plain share's root is: a directory entry is a share root of
 * its own (the rules above, its O_PATH fd as the anchor), a file entry is a
 * leaf (a lookup under it is -ENOTDIR). Each has its own read-only flag
 * (-EROFS for any change under it, an open for writing included); the root
 * refuses every change with -EROFS. Every inode records the entry it was
 * reached through, and one host inode reached through two entries is two
 * nodes, so a node id or handle of one entry never acts with another's
 * rights: RENAME and LINK across entries (or with the root) get -EXDEV. All
 * entries share the share's tables and its one descriptor account.
 */

#define FSRV_NAME_MAX 255            /* bytes of one name, without the NUL */
#define FSRV_MAX_WRITE (1u << 20)    /* max_write and max_read offered in INIT */
#define FSRV_MAX_PAGES 256           /* FSRV_MAX_WRITE / 4096 */
/*
 * The longest request (the readable part, header included) that means
 * anything: a WRITE of max_write bytes after its fuse_in_header and
 * fuse_write_in (40 bytes each). A longer one is refused unread (-EINVAL, or
 * dropped when its opcode gets no reply) and counted in fsrv_stats.oversized:
 * a guest can make a request gigabytes long by aliasing its descriptors to
 * one buffer, and no byte of it may cost work.
 */
#define FSRV_IN_MAX (FSRV_MAX_WRITE + 80)
/*
 * FORGET, BATCH_FORGET and INTERRUPT (the high-priority queue's requests) are
 * at most one page, header included, so a BATCH_FORGET carries at most 253
 * entries and one costs a bounded number of table operations. Linux's
 * virtio-fs driver sends single FORGETs (48 bytes); longer ones are dropped
 * and counted. FORGET and INTERRUPT must also be no longer than their struct.
 */
#define FSRV_HIPRIO_MAX 4096
#define FSRV_MAX_INODES 262144       /* default bound of the inode table (one O_PATH fd each) */
#define FSRV_MAX_HANDLES 16384       /* default bound of open files and directories */
/*
 * Entries of one share at most: each holds one O_PATH descriptor of hull's own
 * for the life of the share (not the guest's budget: the user named them).
 */
#define FSRV_ENTRIES_MAX 256

struct fdbudget;

/* One named entry of a share's synthetic root. */
struct fsrv_entry {
	const char *name; /* 1..FSRV_NAME_MAX bytes, no '/', not "." or "..", unique in the share */
	const char *path; /* a host directory or regular file (symlinks followed, at open only) */
	bool ro;
};

struct fsrv_config {
	const char *path;            /* the shared directory; must exist. With entries: a label */
	const struct fsrv_entry *entries; /* nentries > 0: the root is a synthetic dir of these */
	unsigned int nentries;       /* at most FSRV_ENTRIES_MAX */
	bool ro;                     /* the whole share (with entries: every entry) read-only */
	enum vfs_cache cache;        /* timeouts and FOPEN_* flags */
	unsigned int max_inodes;     /* 0: FSRV_MAX_INODES */
	unsigned int max_handles;    /* 0: FSRV_MAX_HANDLES */
	struct fdbudget *fds;        /* hull's descriptor budget (vmm/fdbudget.h); NULL: none */
};

struct fsrv;

/*
 * Open the share: an O_PATH | O_DIRECTORY fd of c->path (which must be a
 * directory) or, with entries, an O_PATH fd of each entry's path (which must
 * be a directory or a regular file; the names are checked: -EINVAL for an
 * invalid or repeated name, more than FSRV_ENTRIES_MAX entries, or another
 * kind of file), the tables, and an fd of /proc/self/fd for reopening inodes.
 * Every inode but the root and every open handle holds a descriptor taken
 * from c->fds (an account of its own, ceiling max_inodes - 1 + max_handles);
 * when the budget refuses one the guest gets -ENFILE, as for a full table.
 * 0, or -errno with "share PATH: cause" (entries: "share LABEL: entry NAME
 * (PATH): cause") in err.
 */
int fsrv_open(const struct fsrv_config *c, struct fsrv **out, char *err, size_t errlen);
/*
 * fsrv_open in two steps, so the share is opened before /dev/kvm is touched (vfs_kind's
 * check) and served once the VM exists. fsrv_open_root: path must be a directory; *fd is an
 * O_PATH | O_DIRECTORY descriptor of it; 0, or -errno with "share PATH: cause" in err.
 * fsrv_open_at: fsrv_open with that root, which the server takes (closed on failure too).
 */
int fsrv_open_root(const char *path, int *fd, char *err, size_t errlen);
int fsrv_open_at(const struct fsrv_config *c, int root_fd, struct fsrv **out, char *err,
		 size_t errlen);

/*
 * Move the server's descriptor account to budget b (fsrv_open with fds NULL, before /dev/kvm,
 * then the VM's budget once it exists). Before the first request only: nothing is held yet.
 * 0, or -ENOSPC when b has no room for another account.
 */
int fsrv_set_budget(struct fsrv *s, struct fdbudget *b);

/* Close every fd and free everything. Not concurrent with anything else. NULL is fine. */
void fsrv_close(struct fsrv *s);

/* What the transport needs to know about a request before serving it. */
struct fsrv_peek {
	uint32_t opcode;
	uint64_t unique;
	uint64_t intr_unique;        /* FUSE_INTERRUPT only: the request to interrupt */
};

/* Copy out the request header (and an INTERRUPT's body). 0, or -EINVAL when too short. */
int fsrv_peek(const struct iovec *in, unsigned int nin, struct fsrv_peek *p);

/*
 * Serve one request. Returns the number of bytes written to out (the
 * fuse_out_header's len), or 0 when the request gets no reply: FORGET,
 * BATCH_FORGET, INTERRUPT, and requests whose header is unusable (too short,
 * len disagreeing with the readable bytes) or whose out part cannot hold even
 * an error reply. Every other malformed request gets an error reply: longer
 * than FSRV_IN_MAX or its opcode's bound, shorter than its opcode's fixed
 * part, a nonzero total_extlen (no extension is negotiated): -EINVAL.
 * The work is bounded by the request's bounded length: in and out are each
 * walked once (their entry counts are the caller's bound), replies are at
 * most max_read (READ), 128 KiB (READDIR) or 64 KiB (xattrs) whatever the out
 * part's size. FORGET, BATCH_FORGET and INTERRUPT make no host call but
 * closing O_PATH descriptors, so the event loop may serve them.
 * Thread-safe: workers call it concurrently (inode/handle tables are locked
 * inside; host syscalls run without the table lock).
 */
size_t fsrv_handle(struct fsrv *s, const struct iovec *in, unsigned int nin,
		   const struct iovec *out, unsigned int nout);

/* An error reply (err < 0) for request unique, e.g. -EINTR for an interrupted one; bytes written. */
size_t fsrv_reply_error(const struct iovec *out, unsigned int nout, uint64_t unique, int err);

/*
 * The guest is gone (device reset): drop every inode but the root and every
 * open handle, and require a new INIT. Not concurrent with fsrv_handle.
 */
void fsrv_reset(struct fsrv *s);

/* Table occupancy, for tests (leaks, bounds) and messages. */
struct fsrv_stats {
	unsigned int inodes;         /* including the root */
	unsigned int handles;
	unsigned long dropped;       /* requests dropped unanswered: unusable header or out part */
	unsigned long oversized;     /* refused for their length: see FSRV_IN_MAX, FSRV_HIPRIO_MAX */
};
void fsrv_stats(struct fsrv *s, struct fsrv_stats *st);

#endif
