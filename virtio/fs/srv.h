/* srv: the private contract between the FUSE server's files (fuse.c, inode.c, ops_*.c, xattr.c). */
#ifndef HULL_VIRTIO_FS_SRV_H
#define HULL_VIRTIO_FS_SRV_H

#include <errno.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "virtio/fs/fsrv.h"
#include "lib/fdbudget.h"
#include "lib/iov.h"

/*
 * Locking: s->lock guards both tables (slots, counts, hash, free lists). It
 * is never held across a host syscall that may block; closing an O_PATH fd
 * under it is fine (it cannot block). Handlers hold references (node refs,
 * handle refs) instead: a referenced slot and its fd stay valid, whatever
 * FORGET, RELEASE or DESTROY the guest sends meanwhile.
 */

#define SRV_NOREPLY 1		 /* handler result: the opcode gets no reply */
#define SRV_XATTR_SIZE_MAX 65536 /* XATTR_SIZE_MAX */
#define SRV_XATTR_NAME_MAX 255	 /* XATTR_NAME_MAX */
#define SRV_SYMLINK_MAX 4095	 /* PATH_MAX - 1: longest symlink target */
/* The largest body copied out of a request: SETXATTR (ext) + name + a maximal value. */
#define SRV_BODY_MAX (sizeof(struct fuse_setxattr_in) + SRV_XATTR_NAME_MAX + 1 + SRV_XATTR_SIZE_MAX)
/*
 * Bytes one COPY_FILE_RANGE moves at most (the guest loops on a short copy):
 * a worker, and a reset or shutdown waiting for it, is held up by 16 MiB of
 * host I/O at worst, not by a gigabyte.
 */
#define SRV_COPY_MAX (16ULL << 20)

struct srv_inode {
	int fd;		/* O_PATH | O_NOFOLLOW; -1 when the slot is free (or the synthetic root) */
	uint32_t gen;	/* bumped when the slot is freed: stale ids never resolve */
	mode_t type;	/* S_IFMT bits, fixed for the life of an inode */
	uint16_t entry; /* the entry it was reached through (0: the root), fixed for its life */
	dev_t dev;
	ino_t ino;
	uint64_t nlookup;  /* the guest's references (LOOKUP et al. minus FORGET) */
	unsigned int refs; /* handlers using the slot right now */
	uint32_t hnext;	   /* (dev, ino) hash chain, 0 = end */
	uint32_t fnext;	   /* free list, 0 = end */
};

struct srv_handle {
	int fd; /* an ordinary open fd (regular file or directory) */
	uint32_t gen;
	uint32_t idx; /* its own slot */
	bool used;    /* slot taken (live, or released but still referenced) */
	bool live;    /* not released: get() finds it */
	unsigned int refs;
	uint64_t nodeid; /* the inode it was opened from (FATTR_FH checks) */
	uint16_t entry;	 /* that inode's entry: its read-only flag rules WRITE and the like */
	uint32_t fnext;
	pthread_mutex_t lock; /* serialises READDIRs (the fd position) */
};

#define SRV_INODE_CHUNK 1024u
#define SRV_HANDLE_CHUNK 256u
#define SRV_ROOT_IDX 1u /* the root's slot: node id FUSE_ROOT_ID (generation 0), forever */

/*
 * What an inode was reached through. A plain share has one, entry 0: the
 * shared directory. A share of entries (fsrv_config.entries) has the
 * synthetic root as entry 0 (no host directory: fd -1, read-only) and
 * entry k (1..n) for the k-th configured entry. Every inode records its
 * entry, and inodes of different entries are different nodes even for one
 * host inode, so a node id never carries one entry's rights into another.
 */
struct srv_entry {
	char *name;  /* the name in the synthetic root ("" for entry 0) */
	int fd;	     /* O_PATH of the host directory or file; -1 for the synthetic root */
	mode_t type; /* S_IFDIR or S_IFREG */
	bool ro;     /* every change under it is -EROFS */
};

struct fsrv {
	char *path;  /* for messages: the shared directory, or the entries share's label */
	int proc_fd; /* O_PATH of /proc/self/fd: reopening inodes */
	bool ro;     /* the whole share is read-only: refused before any handler runs */
	bool synth;  /* the root is the synthetic directory of entries 1..nent-1 */
	struct srv_entry *ent;
	unsigned int nent;	  /* entries, entry 0 included */
	struct timespec born;	  /* the synthetic root's times: when the share was opened */
	bool can_chown;		  /* hull has CAP_CHOWN: new entries get the requester's ids */
	uint64_t timeout;	  /* entry/attr validity, seconds */
	uint32_t fopen_flags;	  /* FOPEN_* for files by cache mode */
	uint32_t fopen_dir_flags; /* FOPEN_* for directories */

	/* Negotiated at INIT (requests read them concurrently, hence atomics). */
	atomic_bool ready;
	_Atomic uint64_t flags; /* FUSE_* flags in effect */
	atomic_uint minor;
	atomic_ulong dropped;	/* requests with an unusable header or out part */
	atomic_ulong oversized; /* requests refused for their length */
	atomic_bool said_old;	/* the too-old-guest message was logged */

	/* Every descriptor an inode (but the root) or a handle holds is taken from it. */
	struct fdbudget_acct fds;

	pthread_mutex_t lock;
	struct srv_inode **ichunk; /* chunks of SRV_INODE_CHUNK; slot 0 unused, slot 1 the root */
	unsigned int ichunks, max_inodes, ialloc, iused;
	uint32_t ifree;
	uint32_t *hash; /* (dev, ino) -> slot, chains through hnext */
	uint32_t hmask;
	struct srv_handle **hchunk;
	unsigned int hchunks, max_handles, halloc, hused;
	uint32_t hfree; /* free list, slot + 1 (0 = empty) */
};

/* One request being served. */
struct srv_req {
	struct fsrv *s;
	struct fuse_in_header h;
	const uint8_t *body;   /* copy of the body (for WRITE/BATCH_FORGET: the fixed part) */
	size_t blen;	       /* bytes in body: at least the opcode's fixed struct */
	size_t inlen;	       /* readable bytes, header included (at most FSRV_IN_MAX) */
	struct iov_cursor cur; /* in, just past the bytes copied to body */
	const struct iovec *in, *out;
	unsigned int nin, nout;
	size_t outlen;	/* writable bytes */
	size_t written; /* reply bytes once a reply was written */
	uint64_t flags; /* negotiated flags, as of this request */
};

/* A node as a handler holds it (a reference on the slot). */
struct srv_node {
	uint64_t id;
	uint32_t idx;
	int fd; /* -1: the synthetic root */
	mode_t type;
	uint16_t entry;
};

/* Is nodeid the synthetic root of an entries share (which has no host directory)? */
static inline bool srv_synth(const struct fsrv *s, uint64_t nodeid)
{
	return s->synth && nodeid == FUSE_ROOT_ID;
}

/* 0, or -EROFS when changes under entry are refused (it, or the whole share, is read-only). */
static inline int srv_writable(const struct fsrv *s, unsigned int entry)
{
	return s->ro || s->ent[entry].ro ? -EROFS : 0;
}

/* ---- fuse.c: request access (lib/iov.h: the cursor, one-off copies, slices) and replies ---- */
/* A reply with body (len bytes): -EINVAL reply when out cannot hold it. Returns 0. */
int srv_reply(struct srv_req *r, const void *body, size_t len);
/* A reply whose len body bytes the handler already wrote at out offset 16. Returns 0. */
int srv_reply_inplace(struct srv_req *r, size_t len);
/*
 * A name in the body at *off: NUL-terminated inside the body, 1..max bytes;
 * *off moves past the NUL. -EINVAL (no NUL, empty), -ENAMETOOLONG.
 */
int srv_str(const struct srv_req *r, size_t *off, size_t max, const char **str);
/* srv_str for a path component: also -EINVAL for ".", ".." and any '/'. */
int srv_name(const struct srv_req *r, size_t *off, const char **name);
/* Before creating: the calling thread gets its own fs context with umask 0 (modes arrive masked). */
void srv_thread_prepare(void);

/* ---- inode.c: node and handle tables ---- */
int srv_tables_init(struct fsrv *s);
void srv_tables_free(struct fsrv *s);
/* Drop every node but the root and every handle (DESTROY, reset); safe with requests in flight. */
void srv_tables_drop(struct fsrv *s);
/* Resolve a node id and take a reference: 0 or -ESTALE. */
int srv_node_get(struct fsrv *s, uint64_t id, struct srv_node *n);
void srv_node_put(struct fsrv *s, struct srv_node *n);
/*
 * May the node id's entry change? 0, or -EROFS (the entry or the share is
 * read-only). An unknown id gives 0: the handler that resolves it says -ESTALE.
 */
int srv_node_writable(struct fsrv *s, uint64_t id);
/*
 * Enter a looked-up inode of entry (fd: O_PATH, ownership passes to the table
 * in every case): the existing node for (entry, dev, ino) with nlookup + 1, or
 * a new one. 0 with *id, or -ENFILE / -ENOMEM. With fd -1, only an existing
 * node is counted: -ENOENT when hull holds no node for (entry, dev, ino).
 */
int srv_node_add(struct fsrv *s, int fd, const struct stat *st, unsigned int entry, uint64_t *id);
/* FORGET: nlookup -= min(n, nlookup); unknown or stale ids are ignored. */
void srv_node_forget(struct fsrv *s, uint64_t id, uint64_t n);
/*
 * A new handle for fd, opened from node nodeid of entry (ownership of fd passes
 * on success; -1 for the synthetic root): 0 with *fh, or -ENFILE / -ENOMEM.
 */
int srv_handle_new(struct fsrv *s, int fd, uint64_t nodeid, unsigned int entry, uint64_t *fh);
/* Resolve fh and take a reference: 0 or -EBADF. */
int srv_handle_get(struct fsrv *s, uint64_t fh, struct srv_handle **h);
void srv_handle_put(struct fsrv *s, struct srv_handle *h);
/* RELEASE: the fd closes once no handler uses it. 0 or -EBADF. */
int srv_handle_release(struct fsrv *s, uint64_t fh);

/* ---- entries.c: the entry table and the synthetic root ---- */
/* s->ent, nent and synth from c, every entry checked: 0, or -errno with "share ..." in err. */
int srv_entries_open(struct fsrv *s, const struct fsrv_config *c, int root_fd, char *err,
		     size_t errlen);
void srv_entries_close(struct fsrv *s);
/* The synthetic root's attributes (a read-only directory owned by root). */
void srv_root_stat(const struct fsrv *s, struct stat *st);
/* Entry k (1..nent-1) as a node of its own (nlookup + 1); eo filled. */
int srv_root_enter(struct srv_req *r, unsigned int k, struct fuse_entry_out *eo);
/* LOOKUP in the synthetic root: the entry called name, or -ENOENT. */
int srv_root_lookup(struct srv_req *r, const char *name, struct fuse_entry_out *eo);

/* ---- ops_node.c ---- */
void srv_fill_attr(struct fuse_attr *a, const struct stat *st);
int srv_stat(int fd, struct stat *st);
/* A held node's attributes: the host inode's, or the synthetic root's. */
int srv_node_stat(struct fsrv *s, const struct srv_node *n, struct stat *st);
/* Look name up in directory dirfd of entry and enter it (nlookup + 1); eo filled. */
int srv_lookup(struct srv_req *r, int dirfd, unsigned int entry, const char *name,
	       struct fuse_entry_out *eo);
/* The confined O_PATH open of one name in dirfd (never follows anything): fd or -errno. */
int srv_open_child(int dirfd, const char *name);
/* Enter an O_PATH fd of entry (ownership passes in every case) as a node; eo filled. */
int srv_enter(struct srv_req *r, int fd, unsigned int entry, struct fuse_entry_out *eo);
/* srv_enter for an inode already stat'ed (fd -1: count a node hull holds, else -ENOENT). */
int srv_enter_stat(struct srv_req *r, int fd, const struct stat *st, unsigned int entry,
		   struct fuse_entry_out *eo);
/* The header's node, which must be a directory: 0, -ESTALE or -ENOTDIR. */
int srv_get_dir(struct srv_req *r, struct srv_node *n);
/* chown a new entry (O_PATH or open fd) to the requester when hull can (setgid dirs: uid only). */
int srv_set_owner(struct srv_req *r, int fd, int parent_fd);
/* Reopen a regular file or directory node for I/O through /proc/self/fd. fd or -errno. */
int srv_reopen(struct fsrv *s, const struct srv_node *n, int flags);
/* Clear S_ISUID, S_ISGID (if group-executable) and security.capability of an open file. */
int srv_kill_priv(int fd);

int srv_op_lookup(struct srv_req *r);
int srv_op_getattr(struct srv_req *r);
int srv_op_setattr(struct srv_req *r);
int srv_op_readlink(struct srv_req *r);
int srv_op_symlink(struct srv_req *r);
int srv_op_mknod(struct srv_req *r);
int srv_op_mkdir(struct srv_req *r);
int srv_op_unlink(struct srv_req *r);
int srv_op_rmdir(struct srv_req *r);
int srv_op_rename(struct srv_req *r);
int srv_op_rename2(struct srv_req *r);
int srv_op_link(struct srv_req *r);
int srv_op_statfs(struct srv_req *r);
int srv_op_access(struct srv_req *r);

/* ---- ops_file.c ---- */
int srv_op_open(struct srv_req *r);
int srv_op_create(struct srv_req *r);
int srv_op_read(struct srv_req *r);
int srv_op_write(struct srv_req *r);
int srv_op_flush(struct srv_req *r);
int srv_op_release(struct srv_req *r);
int srv_op_fsync(struct srv_req *r);
int srv_op_fallocate(struct srv_req *r);
int srv_op_lseek(struct srv_req *r);
int srv_op_copy_file_range(struct srv_req *r);

/* ---- ops_dir.c ---- */
int srv_op_opendir(struct srv_req *r);
int srv_op_readdir(struct srv_req *r);
int srv_op_readdirplus(struct srv_req *r);

/* ---- xattr.c ---- */
int srv_op_getxattr(struct srv_req *r);
int srv_op_listxattr(struct srv_req *r);
int srv_op_setxattr(struct srv_req *r);
int srv_op_removexattr(struct srv_req *r);

#endif
