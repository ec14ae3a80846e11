/* fuse_env: a scratch share and a raw FUSE client for unit tests of the virtio-fs server. */
#ifndef HULL_TESTS_UNIT_FUSE_ENV_H
#define HULL_TESTS_UNIT_FUSE_ENV_H

/*
 * What a test gets (compiled once, tests/unit/fuse_env.c, into libtest.a; no cmocka dependency):
 *
 * Scratch tree (fenv_setup / fenv_teardown):
 *   <root>/share            the shared directory (e->share)
 *   <root>/outside          a sibling the guest must never reach (e->outside)
 *   <root>/outside/secret   FENV_SECRET, mode 0600 (its lstat is remembered)
 *   <root>/outside/dir/     an empty directory
 *   fenv_outside_intact(e)  1 when outside/ still holds exactly secret and dir/, with the
 *                           same contents, mode, owner, times, and dir/ is empty
 *   fenv_teardown removes everything (nftw FTW_DEPTH | FTW_PHYS) and closes the server.
 *
 * Server (fenv_start): fsrv_open on the share with ro / cache / max_inodes / max_handles,
 * then INIT (e->init_flags, default FENV_INIT_FLAGS; the reply lands in e->init_out).
 * fenv_start_noinit does the same without INIT. fenv_start_entries opens a share of
 * entries instead (the synthetic root, node FUSE_ROOT_ID, holds them) and INITs it;
 * fenv_open_config opens a server of any fsrv_config (no INIT).
 *
 * Raw requests, built in e->req (one request at a time):
 *   fenv_begin(e, opcode, nodeid)   header: len (kept up to date), opcode, a fresh unique,
 *                                   nodeid, e->uid / e->gid / e->pid
 *   fenv_put(e, p, n)               append raw bytes (an opcode body, hostile name bytes, data)
 *   fenv_name(e, s)                 append s with its NUL
 *   fenv_hdr(e)                     the header, to forge fields (len, unique...) after building
 *   fenv_send(e, sp)                fsrv_handle; sp (may be NULL) chooses where the request
 *                                   and the reply area are cut into iovecs, and the reply
 *                                   area's size. Every iovec is its own exact-size malloc, so
 *                                   ASan sees any byte read or written past one. Returns the
 *                                   reply's error (0 or -errno), FENV_NOREPLY when fsrv_handle
 *                                   returned 0, FENV_BADREPLY when the reply is inconsistent
 *                                   (len != bytes returned, wrong unique, error > 0 or an
 *                                   error reply with a body). e->out_n is fsrv_handle's
 *                                   result, e->out the gathered reply area, e->body /
 *                                   e->body_len the reply's body.
 *
 * Wrappers (build + send with no cuts; they return what fenv_send returns, and
 * FENV_BADREPLY when a successful reply's body is shorter than its struct):
 *   fenv_init, fenv_lookup, fenv_getattr, fenv_setattr, fenv_create, fenv_mkdir, fenv_mknod,
 *   fenv_symlink, fenv_link, fenv_unlink, fenv_rmdir, fenv_rename, fenv_rename2,
 *   fenv_readlink, fenv_open, fenv_opendir, fenv_read, fenv_write, fenv_readdir (READDIR or
 *   READDIRPLUS: entries in e->body), fenv_release (RELEASE or RELEASEDIR), fenv_forget,
 *   fenv_batch_forget, fenv_getxattr, fenv_setxattr.
 *   Output structs may be NULL.
 *
 * Host side: fenv_path(e, rel) (share-relative path; 4 rotating buffers), fenv_opath(e, rel)
 * (outside-relative), fenv_read_host, fenv_write_host, fenv_type (S_IFMT of lstat, 0 when
 * absent), fenv_listing (a malloc'd, sorted, recursive listing of a tree: path, type, mode,
 * owner, size, mtime, link target; for before/after comparisons).
 */

#include <limits.h>
#include <linux/fuse.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "virtio/fs/fsrv.h"

#define FENV_SECRET "the secret outside the share\n"
#define FENV_NOREPLY 1			      /* fsrv_handle returned 0 */
#define FENV_BADREPLY 2			      /* the reply contradicts itself */
#define FENV_OUT_MAX (FSRV_MAX_WRITE + 65536) /* default reply area */
#define FENV_MAX_IOV 4096		      /* cuts per part, at most */
#define FENV_INIT_FLAGS                                                                   \
	(FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_ATOMIC_O_TRUNC | FUSE_EXPORT_SUPPORT | \
	 FUSE_BIG_WRITES | FUSE_DONT_MASK | FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | \
	 FUSE_ASYNC_DIO | FUSE_PARALLEL_DIROPS | FUSE_HANDLE_KILLPRIV | FUSE_POSIX_ACL |  \
	 FUSE_MAX_PAGES | FUSE_HANDLE_KILLPRIV_V2)

struct fuse_env {
	char root[PATH_MAX / 8];
	char share[PATH_MAX / 4];
	char outside[PATH_MAX / 4];
	struct stat secret_st; /* lstat of outside/secret at setup */
	struct stat dir_st;    /* lstat of outside/dir at setup */
	struct fsrv *s;
	uint32_t init_flags; /* sent by fenv_init */
	struct fuse_init_out init_out;

	/* Header fields of the next requests. */
	uint32_t uid, gid, pid;
	uint64_t unique; /* last unique used */

	/* The request being built. */
	uint8_t *req;
	size_t req_len, req_cap;

	/* The last reply. */
	uint8_t *out;	     /* FENV_OUT_MAX bytes */
	size_t out_n;	     /* fsrv_handle's result */
	const uint8_t *body; /* into out, after the out header */
	size_t body_len;

	char pathbuf[4][PATH_MAX];
	unsigned int pathnext;
};

/* How fenv_send cuts the two parts into iovecs. All zero: one iovec each, a FENV_OUT_MAX reply. */
struct fenv_split {
	const size_t *in_cuts; /* increasing byte offsets inside the request */
	unsigned int nin_cuts;
	bool in_bytes;		/* every request byte its own iovec (ignores in_cuts) */
	size_t out_size;	/* 0: FENV_OUT_MAX; (size_t)-1: no out iovec at all */
	const size_t *out_cuts; /* increasing byte offsets inside the reply area */
	unsigned int nout_cuts;
	bool out_bytes; /* every reply byte its own iovec */
};

/* ---- scratch tree and host side ---- */

int fenv_setup(struct fuse_env *e); /* the scratch tree; 0 or -1; the server is not opened */
void fenv_teardown(struct fuse_env *e);
char *fenv_path(struct fuse_env *e, const char *rel);
char *fenv_opath(struct fuse_env *e, const char *rel);
/* A whole file (size - 1 bytes at most, NUL-terminated), no final symlink followed; -errno. */
ssize_t fenv_read_host(const char *path, char *buf, size_t size);
int fenv_write_host(const char *path, const char *text, mode_t mode);
mode_t fenv_type(const char *path);
/* Same inode, type, mode, owner, size, links, mtime and ctime. */
bool fenv_stat_same(const struct stat *a, const struct stat *b);
bool fenv_outside_intact(struct fuse_env *e);
char *fenv_listing(const char *dir); /* malloc'd, without dir's own times; free() it */

/* ---- raw requests ---- */

struct fuse_in_header *fenv_hdr(struct fuse_env *e);
void fenv_begin(struct fuse_env *e, uint32_t opcode, uint64_t nodeid);
void fenv_put(struct fuse_env *e, const void *p, size_t n);
void fenv_name(struct fuse_env *e, const char *s);
int fenv_send(struct fuse_env *e, const struct fenv_split *sp);
/* Send with no cuts and copy a successful reply's body (at least want bytes) to dst. */
int fenv_call(struct fuse_env *e, void *dst, size_t want);

/* ---- server ---- */

int fenv_start_noinit(struct fuse_env *e, bool ro, enum vfs_cache cache, unsigned int max_inodes,
		      unsigned int max_handles);
/* Open the server on the share and INIT it: 0, -errno, or INIT's error. */
int fenv_start(struct fuse_env *e, bool ro, enum vfs_cache cache, unsigned int max_inodes,
	       unsigned int max_handles);
int fenv_init(struct fuse_env *e);
/* A fresh server of config c (the last one closed): 0 or -errno (said on stderr). */
int fenv_open_config(struct fuse_env *e, const struct fsrv_config *c);
/* A share of n entries (fsrv_config.entries), INIT done: 0, -errno, or INIT's error. */
int fenv_start_entries(struct fuse_env *e, const struct fsrv_entry *ents, unsigned int n,
		       bool ro, unsigned int max_inodes, unsigned int max_handles);

/* ---- wrappers ---- */

int fenv_lookup(struct fuse_env *e, uint64_t parent, const char *name, struct fuse_entry_out *eo);
int fenv_getattr(struct fuse_env *e, uint64_t node, struct fuse_attr_out *ao);
int fenv_setattr(struct fuse_env *e, uint64_t node, const struct fuse_setattr_in *in,
		 struct fuse_attr_out *ao);
/* CREATE: flags are open(2) flags (O_CREAT is added); fh may be NULL. */
int fenv_create(struct fuse_env *e, uint64_t parent, const char *name, uint32_t mode,
		uint32_t flags, struct fuse_entry_out *eo, uint64_t *fh);
int fenv_mkdir(struct fuse_env *e, uint64_t parent, const char *name, uint32_t mode,
	       struct fuse_entry_out *eo);
/* mode includes the type bits (S_IFREG, S_IFIFO, S_IFCHR...). */
int fenv_mknod(struct fuse_env *e, uint64_t parent, const char *name, uint32_t mode, uint32_t rdev,
	       struct fuse_entry_out *eo);
/* SYMLINK: the body is the link's name, then its target (the kernel's order). */
int fenv_symlink(struct fuse_env *e, uint64_t parent, const char *name, const char *target,
		 struct fuse_entry_out *eo);
int fenv_link(struct fuse_env *e, uint64_t oldnode, uint64_t newparent, const char *newname,
	      struct fuse_entry_out *eo);
int fenv_unlink(struct fuse_env *e, uint64_t parent, const char *name);
int fenv_rmdir(struct fuse_env *e, uint64_t parent, const char *name);
int fenv_rename(struct fuse_env *e, uint64_t parent, const char *name, uint64_t newdir,
		const char *newname);
int fenv_rename2(struct fuse_env *e, uint64_t parent, const char *name, uint64_t newdir,
		 const char *newname, uint32_t flags);
/* READLINK: the target, NUL-terminated, into buf (size bytes). */
int fenv_readlink(struct fuse_env *e, uint64_t node, char *buf, size_t size);
int fenv_open(struct fuse_env *e, uint64_t node, uint32_t flags, uint64_t *fh);
int fenv_opendir(struct fuse_env *e, uint64_t node, uint64_t *fh);
/* READ: the data stays in e->body / e->body_len. */
int fenv_read(struct fuse_env *e, uint64_t node, uint64_t fh, uint64_t off, uint32_t size);
/* WRITE of len bytes at off; *written (may be NULL) gets the reply's size. */
int fenv_write(struct fuse_env *e, uint64_t node, uint64_t fh, uint64_t off, const void *data,
	       uint32_t len, uint32_t write_flags, uint32_t *written);
/* READDIR or READDIRPLUS (opcode): the entries stay in e->body / e->body_len. */
int fenv_readdir(struct fuse_env *e, uint32_t opcode, uint64_t node, uint64_t fh, uint64_t off,
		 uint32_t size);
/* RELEASE or RELEASEDIR (opcode). */
int fenv_release(struct fuse_env *e, uint32_t opcode, uint64_t node, uint64_t fh);
/* FORGET: FENV_NOREPLY is the right answer. */
int fenv_forget(struct fuse_env *e, uint64_t node, uint64_t nlookup);
/* BATCH_FORGET with count in the header and n entries actually present. */
int fenv_batch_forget(struct fuse_env *e, uint32_t count, const struct fuse_forget_one *ents,
		      unsigned int n);
/* GETXATTR with size bytes of room (0: ask the size); the value/size reply stays in e->body. */
int fenv_getxattr(struct fuse_env *e, uint64_t node, const char *name, uint32_t size);
/* SETXATTR with the 8-byte body a kernel sends when FUSE_SETXATTR_EXT was not negotiated. */
int fenv_setxattr(struct fuse_env *e, uint64_t node, const char *name, const void *value,
		  uint32_t size, uint32_t flags);

#endif
