/* fuse_env: a scratch share and a raw FUSE client for unit tests of the virtio-fs server. */
#ifndef HULL_TESTS_UNIT_FUSE_ENV_H
#define HULL_TESTS_UNIT_FUSE_ENV_H

/*
 * What a test gets (everything is static inline; no cmocka dependency):
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

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/fuse.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

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

/* How fenv_send cuts the two parts into iovecs. All zero: one iovec each, reply area FENV_OUT_MAX.
 */
struct fenv_split {
	const size_t *in_cuts; /* increasing byte offsets inside the request */
	unsigned int nin_cuts;
	bool in_bytes;		/* every request byte its own iovec (ignores in_cuts) */
	size_t out_size;	/* 0: FENV_OUT_MAX; (size_t)-1: no out iovec at all */
	const size_t *out_cuts; /* increasing byte offsets inside the reply area */
	unsigned int nout_cuts;
	bool out_bytes; /* every reply byte its own iovec */
};

/* ---- scratch tree ---- */

static inline int fenv_rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	remove(p);
	return 0;
}

static inline void fenv_rm_tree(const char *dir)
{
	nftw(dir, fenv_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static inline char *fenv_path(struct fuse_env *e, const char *rel)
{
	char *b = e->pathbuf[e->pathnext++ % 4];

	snprintf(b, PATH_MAX, "%s%s%s", e->share, *rel ? "/" : "", rel);
	return b;
}

static inline char *fenv_opath(struct fuse_env *e, const char *rel)
{
	char *b = e->pathbuf[e->pathnext++ % 4];

	snprintf(b, PATH_MAX, "%s%s%s", e->outside, *rel ? "/" : "", rel);
	return b;
}

/* Whole file (up to size - 1 bytes, NUL-terminated) without following a final symlink: bytes or
 * -errno. */
static inline ssize_t fenv_read_host(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	ssize_t n, got = 0;

	if (fd < 0)
		return -errno;
	while ((size_t)got + 1 < size && (n = read(fd, buf + got, size - 1 - got)) > 0)
		got += n;
	close(fd);
	buf[got] = 0;
	return got;
}

static inline int fenv_write_host(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -EIO;
}

/* S_IFMT bits of lstat(path), 0 when it does not exist. */
static inline mode_t fenv_type(const char *path)
{
	struct stat st;

	return lstat(path, &st) ? 0 : (st.st_mode & S_IFMT);
}

static inline bool fenv_stat_same(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_mode == b->st_mode && a->st_uid == b->st_uid &&
	       a->st_gid == b->st_gid && a->st_size == b->st_size && a->st_nlink == b->st_nlink &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* outside/ holds exactly secret (same bytes and inode state) and an empty dir/. */
static inline bool fenv_outside_intact(struct fuse_env *e)
{
	struct stat st;
	char buf[256];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	if (lstat(fenv_opath(e, "secret"), &st) || !fenv_stat_same(&st, &e->secret_st))
		return false;
	if (fenv_read_host(fenv_opath(e, "secret"), buf, sizeof(buf)) !=
		    (ssize_t)strlen(FENV_SECRET) ||
	    strcmp(buf, FENV_SECRET))
		return false;
	if (lstat(fenv_opath(e, "dir"), &st) || !fenv_stat_same(&st, &e->dir_st))
		return false;
	dir = opendir(e->outside);
	if (!dir)
		return false;
	while ((d = readdir(dir)))
		if (strcmp(d->d_name, ".") && strcmp(d->d_name, ".."))
			n += !strcmp(d->d_name, "secret") || !strcmp(d->d_name, "dir") ? 1 : 100;
	closedir(dir);
	if (n != 2)
		return false;
	dir = opendir(fenv_opath(e, "dir"));
	if (!dir)
		return false;
	while ((d = readdir(dir)))
		if (strcmp(d->d_name, ".") && strcmp(d->d_name, ".."))
			n++;
	closedir(dir);
	return n == 2;
}

static inline void fenv_listing_add(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s);

	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		*buf = realloc(*buf, *cap);
		if (!*buf)
			abort();
	}
	memcpy(*buf + *len, s, n + 1);
	*len += n;
}

static inline void fenv_listing_dir(const char *dir, const char *rel, char **buf, size_t *len,
				    size_t *cap)
{
	struct dirent **ents;
	int i, n = scandir(dir, &ents, NULL, alphasort);

	for (i = 0; i < n; i++) {
		char p[PATH_MAX], r[PATH_MAX], line[PATH_MAX * 2 + 200], tgt[PATH_MAX] = "";
		struct stat st;

		if (!strcmp(ents[i]->d_name, ".") || !strcmp(ents[i]->d_name, "..")) {
			free(ents[i]);
			continue;
		}
		snprintf(p, sizeof(p), "%s/%s", dir, ents[i]->d_name);
		snprintf(r, sizeof(r), "%s/%s", rel, ents[i]->d_name);
		free(ents[i]);
		if (lstat(p, &st)) {
			snprintf(line, sizeof(line), "%s ?\n", r);
			fenv_listing_add(buf, len, cap, line);
			continue;
		}
		if (S_ISLNK(st.st_mode)) {
			ssize_t t = readlink(p, tgt, sizeof(tgt) - 1);

			tgt[t < 0 ? 0 : t] = 0;
		}
		snprintf(line, sizeof(line), "%s %o %u:%u %lld %lld.%09ld %lu %s\n", r,
			 (unsigned int)st.st_mode, (unsigned int)st.st_uid, (unsigned int)st.st_gid,
			 (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
			 (unsigned long)st.st_nlink, tgt);
		fenv_listing_add(buf, len, cap, line);
		if (S_ISDIR(st.st_mode))
			fenv_listing_dir(p, r, buf, len, cap);
	}
	if (n >= 0)
		free(ents);
}

/* A malloc'd text listing of dir's tree (without dir's own times); free() it. */
static inline char *fenv_listing(const char *dir)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;

	fenv_listing_add(&buf, &len, &cap, "");
	fenv_listing_dir(dir, "", &buf, &len, &cap);
	return buf;
}

/* The scratch tree; 0 or -1. The server is not opened (fenv_start). */
static inline int fenv_setup(struct fuse_env *e)
{
	const char *tmp = getenv("TMPDIR");

	memset(e, 0, sizeof(*e));
	e->init_flags = FENV_INIT_FLAGS;
	snprintf(e->root, sizeof(e->root), "%s/hull-fsrv-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(e->root))
		return -1;
	snprintf(e->share, sizeof(e->share), "%s/share", e->root);
	snprintf(e->outside, sizeof(e->outside), "%s/outside", e->root);
	if (mkdir(e->share, 0755) || mkdir(e->outside, 0755) || mkdir(fenv_opath(e, "dir"), 0755) ||
	    fenv_write_host(fenv_opath(e, "secret"), FENV_SECRET, 0600) ||
	    chmod(fenv_opath(e, "secret"), 0600) || lstat(fenv_opath(e, "secret"), &e->secret_st) ||
	    lstat(fenv_opath(e, "dir"), &e->dir_st))
		return -1;
	e->out = malloc(FENV_OUT_MAX);
	e->req_cap = 65536;
	e->req = malloc(e->req_cap);
	return e->out && e->req ? 0 : -1;
}

static inline void fenv_teardown(struct fuse_env *e)
{
	fsrv_close(e->s);
	e->s = NULL;
	if (e->root[0])
		fenv_rm_tree(e->root);
	free(e->out);
	free(e->req);
	e->out = e->req = NULL;
}

/* ---- raw requests ---- */

static inline struct fuse_in_header *fenv_hdr(struct fuse_env *e)
{
	return (struct fuse_in_header *)(void *)e->req;
}

static inline void fenv_put(struct fuse_env *e, const void *p, size_t n)
{
	if (e->req_len + n > e->req_cap) {
		e->req_cap = (e->req_len + n) * 2;
		e->req = realloc(e->req, e->req_cap);
		if (!e->req)
			abort();
	}
	if (n)
		memcpy(e->req + e->req_len, p, n);
	e->req_len += n;
	if (e->req_len >= sizeof(struct fuse_in_header))
		fenv_hdr(e)->len = (uint32_t)e->req_len;
}

static inline void fenv_name(struct fuse_env *e, const char *s)
{
	fenv_put(e, s, strlen(s) + 1);
}

static inline void fenv_begin(struct fuse_env *e, uint32_t opcode, uint64_t nodeid)
{
	struct fuse_in_header h = {
		.len = sizeof(h),
		.opcode = opcode,
		.unique = ++e->unique,
		.nodeid = nodeid,
		.uid = e->uid,
		.gid = e->gid,
		.pid = e->pid,
	};

	e->req_len = 0;
	fenv_put(e, &h, sizeof(h));
}

/* Cut [0, total) at cuts (or at every byte) into exact-size malloc'd pieces; the count. */
static inline unsigned int fenv_cut(struct iovec *iov, size_t total, const size_t *cuts,
				    unsigned int ncuts, bool bytes)
{
	unsigned int n = 0, i;
	size_t at = 0;

	for (i = 0; at < total && n < FENV_MAX_IOV; i++) {
		size_t end = total;

		if (bytes)
			end = at + 1;
		else if (i < ncuts && cuts[i] > at && cuts[i] < total)
			end = cuts[i];
		else if (i < ncuts)
			continue;
		if (n == FENV_MAX_IOV - 1)
			end = total;
		iov[n].iov_len = end - at;
		iov[n].iov_base = malloc(end - at);
		if (!iov[n].iov_base)
			abort();
		n++;
		at = end;
	}
	return n;
}

/* Serve e->req; see the top of this file. */
static inline int fenv_send(struct fuse_env *e, const struct fenv_split *sp)
{
	static const struct fenv_split none;
	struct iovec *in = calloc(FENV_MAX_IOV, sizeof(*in));
	struct iovec *out = calloc(FENV_MAX_IOV, sizeof(*out));
	unsigned int nin, nout = 0, i;
	size_t out_size, at, n;
	struct fuse_out_header oh;
	uint64_t unique = e->req_len >= 16 ? fenv_hdr(e)->unique : 0;
	int rc;

	if (!in || !out)
		abort();
	if (!sp)
		sp = &none;
	out_size = sp->out_size ? sp->out_size : FENV_OUT_MAX;
	if (out_size == (size_t)-1)
		out_size = 0;
	if (out_size > FENV_OUT_MAX)
		out_size = FENV_OUT_MAX;
	nin = fenv_cut(in, e->req_len, sp->in_cuts, sp->nin_cuts, sp->in_bytes);
	for (i = 0, at = 0; i < nin; at += in[i].iov_len, i++)
		memcpy(in[i].iov_base, e->req + at, in[i].iov_len);
	nout = fenv_cut(out, out_size, sp->out_cuts, sp->nout_cuts, sp->out_bytes);
	for (i = 0; i < nout; i++)
		memset(out[i].iov_base, 0xa5, out[i].iov_len);

	n = fsrv_handle(e->s, in, nin, out, nout);

	memset(e->out, 0xa5, FENV_OUT_MAX);
	for (i = 0, at = 0; i < nout; at += out[i].iov_len, i++)
		memcpy(e->out + at, out[i].iov_base, out[i].iov_len);
	for (i = 0; i < nin; i++)
		free(in[i].iov_base);
	for (i = 0; i < nout; i++)
		free(out[i].iov_base);
	free(in);
	free(out);
	e->out_n = n;
	e->body = e->out + sizeof(oh);
	e->body_len = 0;
	if (!n)
		return FENV_NOREPLY;
	if (n < sizeof(oh) || n > out_size)
		return FENV_BADREPLY;
	memcpy(&oh, e->out, sizeof(oh));
	if (oh.len != n || oh.unique != unique || oh.error > 0 || oh.error < -4095 ||
	    (oh.error && n != sizeof(oh)))
		return FENV_BADREPLY;
	rc = oh.error;
	e->body_len = n - sizeof(oh);
	return rc;
}

/* Send with no cuts and copy a successful reply's body (at least want bytes) to dst. */
static inline int fenv_call(struct fuse_env *e, void *dst, size_t want)
{
	int rc = fenv_send(e, NULL);

	if (rc)
		return rc;
	if (e->body_len < want)
		return FENV_BADREPLY;
	if (dst && want)
		memcpy(dst, e->body, want);
	return 0;
}

/* ---- wrappers ---- */

static inline int fenv_init(struct fuse_env *e)
{
	struct fuse_init_in in = {
		.major = FUSE_KERNEL_VERSION,
		.minor = FUSE_KERNEL_MINOR_VERSION,
		.max_readahead = 131072,
		.flags = e->init_flags,
	};

	fenv_begin(e, FUSE_INIT, 0);
	fenv_put(e, &in, sizeof(in));
	return fenv_call(e, &e->init_out, 24); /* FUSE_COMPAT_22_INIT_OUT_SIZE at least */
}

/* A fresh server of config c (the last one closed): 0 or -errno (said on stderr). */
static inline int fenv_open_config(struct fuse_env *e, const struct fsrv_config *c)
{
	char err[512];
	int rc;

	fsrv_close(e->s);
	e->s = NULL;
	rc = fsrv_open(c, &e->s, err, sizeof(err));
	if (rc)
		fprintf(stderr, "fenv: fsrv_open: %s\n", err);
	return rc;
}

static inline int fenv_start_noinit(struct fuse_env *e, bool ro, enum vfs_cache cache,
				    unsigned int max_inodes, unsigned int max_handles)
{
	struct fsrv_config c = {
		.path = e->share,
		.ro = ro,
		.cache = cache,
		.max_inodes = max_inodes,
		.max_handles = max_handles,
	};

	return fenv_open_config(e, &c);
}

/* A share of n entries (fsrv_config.entries), INIT done: 0, -errno, or INIT's error. */
static inline int fenv_start_entries(struct fuse_env *e, const struct fsrv_entry *ents,
				     unsigned int n, bool ro, unsigned int max_inodes,
				     unsigned int max_handles)
{
	struct fsrv_config c = {
		.path = "entries",
		.entries = ents,
		.nentries = n,
		.ro = ro,
		.cache = VFS_CACHE_AUTO,
		.max_inodes = max_inodes,
		.max_handles = max_handles,
	};
	int rc = fenv_open_config(e, &c);

	return rc ? rc : fenv_init(e);
}

/* Open the server on the share and INIT it: 0, -errno, or INIT's error. */
static inline int fenv_start(struct fuse_env *e, bool ro, enum vfs_cache cache,
			     unsigned int max_inodes, unsigned int max_handles)
{
	int rc = fenv_start_noinit(e, ro, cache, max_inodes, max_handles);

	return rc ? rc : fenv_init(e);
}

static inline int fenv_lookup(struct fuse_env *e, uint64_t parent, const char *name,
			      struct fuse_entry_out *eo)
{
	fenv_begin(e, FUSE_LOOKUP, parent);
	fenv_name(e, name);
	return fenv_call(e, eo, eo ? sizeof(*eo) : 0);
}

static inline int fenv_getattr(struct fuse_env *e, uint64_t node, struct fuse_attr_out *ao)
{
	struct fuse_getattr_in in = { 0 };

	fenv_begin(e, FUSE_GETATTR, node);
	fenv_put(e, &in, sizeof(in));
	return fenv_call(e, ao, ao ? sizeof(*ao) : 0);
}

static inline int fenv_setattr(struct fuse_env *e, uint64_t node, const struct fuse_setattr_in *in,
			       struct fuse_attr_out *ao)
{
	fenv_begin(e, FUSE_SETATTR, node);
	fenv_put(e, in, sizeof(*in));
	return fenv_call(e, ao, ao ? sizeof(*ao) : 0);
}

/* CREATE: flags are open(2) flags (O_CREAT is added); fh may be NULL. */
static inline int fenv_create(struct fuse_env *e, uint64_t parent, const char *name, uint32_t mode,
			      uint32_t flags, struct fuse_entry_out *eo, uint64_t *fh)
{
	struct fuse_create_in in = { .flags = flags | O_CREAT, .mode = S_IFREG | mode };
	int rc;

	fenv_begin(e, FUSE_CREATE, parent);
	fenv_put(e, &in, sizeof(in));
	fenv_name(e, name);
	rc = fenv_call(e, NULL, sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out));
	if (!rc && eo)
		memcpy(eo, e->body, sizeof(*eo));
	if (!rc && fh)
		memcpy(fh, e->body + sizeof(struct fuse_entry_out), sizeof(*fh));
	return rc;
}

static inline int fenv_mkdir(struct fuse_env *e, uint64_t parent, const char *name, uint32_t mode,
			     struct fuse_entry_out *eo)
{
	struct fuse_mkdir_in in = { .mode = S_IFDIR | mode };

	fenv_begin(e, FUSE_MKDIR, parent);
	fenv_put(e, &in, sizeof(in));
	fenv_name(e, name);
	return fenv_call(e, eo, eo ? sizeof(*eo) : 0);
}

/* mode includes the type bits (S_IFREG, S_IFIFO, S_IFCHR...). */
static inline int fenv_mknod(struct fuse_env *e, uint64_t parent, const char *name, uint32_t mode,
			     uint32_t rdev, struct fuse_entry_out *eo)
{
	struct fuse_mknod_in in = { .mode = mode, .rdev = rdev };

	fenv_begin(e, FUSE_MKNOD, parent);
	fenv_put(e, &in, sizeof(in));
	fenv_name(e, name);
	return fenv_call(e, eo, eo ? sizeof(*eo) : 0);
}

/* SYMLINK: the body is the link's name, then its target (the kernel's order). */
static inline int fenv_symlink(struct fuse_env *e, uint64_t parent, const char *name,
			       const char *target, struct fuse_entry_out *eo)
{
	fenv_begin(e, FUSE_SYMLINK, parent);
	fenv_name(e, name);
	fenv_name(e, target);
	return fenv_call(e, eo, eo ? sizeof(*eo) : 0);
}

static inline int fenv_link(struct fuse_env *e, uint64_t oldnode, uint64_t newparent,
			    const char *newname, struct fuse_entry_out *eo)
{
	struct fuse_link_in in = { .oldnodeid = oldnode };

	fenv_begin(e, FUSE_LINK, newparent);
	fenv_put(e, &in, sizeof(in));
	fenv_name(e, newname);
	return fenv_call(e, eo, eo ? sizeof(*eo) : 0);
}

static inline int fenv_unlink(struct fuse_env *e, uint64_t parent, const char *name)
{
	fenv_begin(e, FUSE_UNLINK, parent);
	fenv_name(e, name);
	return fenv_call(e, NULL, 0);
}

static inline int fenv_rmdir(struct fuse_env *e, uint64_t parent, const char *name)
{
	fenv_begin(e, FUSE_RMDIR, parent);
	fenv_name(e, name);
	return fenv_call(e, NULL, 0);
}

static inline int fenv_rename(struct fuse_env *e, uint64_t parent, const char *name,
			      uint64_t newdir, const char *newname)
{
	struct fuse_rename_in in = { .newdir = newdir };

	fenv_begin(e, FUSE_RENAME, parent);
	fenv_put(e, &in, sizeof(in));
	fenv_name(e, name);
	fenv_name(e, newname);
	return fenv_call(e, NULL, 0);
}

static inline int fenv_rename2(struct fuse_env *e, uint64_t parent, const char *name,
			       uint64_t newdir, const char *newname, uint32_t flags)
{
	struct fuse_rename2_in in = { .newdir = newdir, .flags = flags };

	fenv_begin(e, FUSE_RENAME2, parent);
	fenv_put(e, &in, sizeof(in));
	fenv_name(e, name);
	fenv_name(e, newname);
	return fenv_call(e, NULL, 0);
}

/* READLINK: the target, NUL-terminated, into buf (size bytes). */
static inline int fenv_readlink(struct fuse_env *e, uint64_t node, char *buf, size_t size)
{
	int rc;

	fenv_begin(e, FUSE_READLINK, node);
	rc = fenv_call(e, NULL, 0);
	if (!rc) {
		size_t n = e->body_len < size - 1 ? e->body_len : size - 1;

		memcpy(buf, e->body, n);
		buf[n] = 0;
	}
	return rc;
}

static inline int fenv_open_op(struct fuse_env *e, uint32_t opcode, uint64_t node, uint32_t flags,
			       uint64_t *fh)
{
	struct fuse_open_in in = { .flags = flags };
	struct fuse_open_out oo;
	int rc;

	fenv_begin(e, opcode, node);
	fenv_put(e, &in, sizeof(in));
	rc = fenv_call(e, &oo, sizeof(oo));
	if (!rc && fh)
		*fh = oo.fh;
	return rc;
}

static inline int fenv_open(struct fuse_env *e, uint64_t node, uint32_t flags, uint64_t *fh)
{
	return fenv_open_op(e, FUSE_OPEN, node, flags, fh);
}

static inline int fenv_opendir(struct fuse_env *e, uint64_t node, uint64_t *fh)
{
	return fenv_open_op(e, FUSE_OPENDIR, node, O_RDONLY | O_DIRECTORY, fh);
}

/* READ: the data stays in e->body / e->body_len. */
static inline int fenv_read(struct fuse_env *e, uint64_t node, uint64_t fh, uint64_t off,
			    uint32_t size)
{
	struct fuse_read_in in = { .fh = fh, .offset = off, .size = size };

	fenv_begin(e, FUSE_READ, node);
	fenv_put(e, &in, sizeof(in));
	return fenv_call(e, NULL, 0);
}

/* WRITE of len bytes at off; *written (may be NULL) gets the reply's size. */
static inline int fenv_write(struct fuse_env *e, uint64_t node, uint64_t fh, uint64_t off,
			     const void *data, uint32_t len, uint32_t write_flags,
			     uint32_t *written)
{
	struct fuse_write_in in = {
		.fh = fh, .offset = off, .size = len, .write_flags = write_flags
	};
	struct fuse_write_out wo;
	int rc;

	fenv_begin(e, FUSE_WRITE, node);
	fenv_put(e, &in, sizeof(in));
	fenv_put(e, data, len);
	rc = fenv_call(e, &wo, sizeof(wo));
	if (!rc && written)
		*written = wo.size;
	return rc;
}

/* READDIR or READDIRPLUS (opcode): the entries stay in e->body / e->body_len. */
static inline int fenv_readdir(struct fuse_env *e, uint32_t opcode, uint64_t node, uint64_t fh,
			       uint64_t off, uint32_t size)
{
	struct fuse_read_in in = { .fh = fh, .offset = off, .size = size };

	fenv_begin(e, opcode, node);
	fenv_put(e, &in, sizeof(in));
	return fenv_call(e, NULL, 0);
}

/* RELEASE or RELEASEDIR (opcode). */
static inline int fenv_release(struct fuse_env *e, uint32_t opcode, uint64_t node, uint64_t fh)
{
	struct fuse_release_in in = { .fh = fh };

	fenv_begin(e, opcode, node);
	fenv_put(e, &in, sizeof(in));
	return fenv_call(e, NULL, 0);
}

/* FORGET: FENV_NOREPLY is the right answer. */
static inline int fenv_forget(struct fuse_env *e, uint64_t node, uint64_t nlookup)
{
	struct fuse_forget_in in = { .nlookup = nlookup };

	fenv_begin(e, FUSE_FORGET, node);
	fenv_put(e, &in, sizeof(in));
	return fenv_send(e, NULL);
}

/* BATCH_FORGET with count in the header and n entries actually present. */
static inline int fenv_batch_forget(struct fuse_env *e, uint32_t count,
				    const struct fuse_forget_one *ents, unsigned int n)
{
	struct fuse_batch_forget_in in = { .count = count };

	fenv_begin(e, FUSE_BATCH_FORGET, 0);
	fenv_put(e, &in, sizeof(in));
	fenv_put(e, ents, n * sizeof(*ents));
	return fenv_send(e, NULL);
}

/* GETXATTR with size bytes of room (0: ask the size); the value/size reply stays in e->body. */
static inline int fenv_getxattr(struct fuse_env *e, uint64_t node, const char *name, uint32_t size)
{
	struct fuse_getxattr_in in = { .size = size };

	fenv_begin(e, FUSE_GETXATTR, node);
	fenv_put(e, &in, sizeof(in));
	fenv_name(e, name);
	return fenv_call(e, NULL, 0);
}

/* SETXATTR with the 8-byte body a kernel sends when FUSE_SETXATTR_EXT was not negotiated. */
static inline int fenv_setxattr(struct fuse_env *e, uint64_t node, const char *name,
				const void *value, uint32_t size, uint32_t flags)
{
	struct fuse_setxattr_in in = { .size = size, .flags = flags };

	fenv_begin(e, FUSE_SETXATTR, node);
	fenv_put(e, &in, FUSE_COMPAT_SETXATTR_IN_SIZE);
	fenv_name(e, name);
	fenv_put(e, value, size);
	return fenv_call(e, NULL, 0);
}

#endif
