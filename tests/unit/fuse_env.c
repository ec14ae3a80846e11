/* fuse_env: a scratch share and a raw FUSE client for the virtio-fs server's unit tests. */
#include "tests/unit/fuse_env.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* ---- scratch tree ---- */

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	remove(p);
	return 0;
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

char *fenv_path(struct fuse_env *e, const char *rel)
{
	char *b = e->pathbuf[e->pathnext++ % 4];

	snprintf(b, PATH_MAX, "%s%s%s", e->share, *rel ? "/" : "", rel);
	return b;
}

char *fenv_opath(struct fuse_env *e, const char *rel)
{
	char *b = e->pathbuf[e->pathnext++ % 4];

	snprintf(b, PATH_MAX, "%s%s%s", e->outside, *rel ? "/" : "", rel);
	return b;
}

ssize_t fenv_read_host(const char *path, char *buf, size_t size)
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

int fenv_write_host(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -EIO;
}

mode_t fenv_type(const char *path)
{
	struct stat st;

	return lstat(path, &st) ? 0 : (st.st_mode & S_IFMT);
}

bool fenv_stat_same(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_mode == b->st_mode && a->st_uid == b->st_uid &&
	       a->st_gid == b->st_gid && a->st_size == b->st_size && a->st_nlink == b->st_nlink &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

bool fenv_outside_intact(struct fuse_env *e)
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

static void listing_add(char **buf, size_t *len, size_t *cap, const char *s)
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

static void listing_dir(const char *dir, const char *rel, char **buf, size_t *len, size_t *cap)
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
			listing_add(buf, len, cap, line);
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
		listing_add(buf, len, cap, line);
		if (S_ISDIR(st.st_mode))
			listing_dir(p, r, buf, len, cap);
	}
	if (n >= 0)
		free(ents);
}

char *fenv_listing(const char *dir)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;

	listing_add(&buf, &len, &cap, "");
	listing_dir(dir, "", &buf, &len, &cap);
	return buf;
}

int fenv_setup(struct fuse_env *e)
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

void fenv_teardown(struct fuse_env *e)
{
	fsrv_close(e->s);
	e->s = NULL;
	if (e->root[0])
		rm_tree(e->root);
	free(e->out);
	free(e->req);
	e->out = e->req = NULL;
}

/* ---- raw requests ---- */

struct fuse_in_header *fenv_hdr(struct fuse_env *e)
{
	return (struct fuse_in_header *)(void *)e->req;
}

void fenv_put(struct fuse_env *e, const void *p, size_t n)
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

void fenv_name(struct fuse_env *e, const char *s)
{
	fenv_put(e, s, strlen(s) + 1);
}

void fenv_begin(struct fuse_env *e, uint32_t opcode, uint64_t nodeid)
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
static unsigned int cut(struct iovec *iov, size_t total, const size_t *cuts, unsigned int ncuts,
			bool bytes)
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

int fenv_send(struct fuse_env *e, const struct fenv_split *sp)
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
	nin = cut(in, e->req_len, sp->in_cuts, sp->nin_cuts, sp->in_bytes);
	for (i = 0, at = 0; i < nin; at += in[i].iov_len, i++)
		memcpy(in[i].iov_base, e->req + at, in[i].iov_len);
	nout = cut(out, out_size, sp->out_cuts, sp->nout_cuts, sp->out_bytes);
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

int fenv_call(struct fuse_env *e, void *dst, size_t want)
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

int fenv_init(struct fuse_env *e)
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

int fenv_open_config(struct fuse_env *e, const struct fsrv_config *c)
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

int fenv_start_noinit(struct fuse_env *e, bool ro, enum vfs_cache cache, unsigned int max_inodes,
		      unsigned int max_handles)
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

int fenv_start_entries(struct fuse_env *e, const struct fsrv_entry *ents, unsigned int n, bool ro,
		       unsigned int max_inodes, unsigned int max_handles)
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

int fenv_start(struct fuse_env *e, bool ro, enum vfs_cache cache, unsigned int max_inodes,
	       unsigned int max_handles)
{
	int rc = fenv_start_noinit(e, ro, cache, max_inodes, max_handles);

	return rc ? rc : fenv_init(e);
}

int fenv_lookup(struct fuse_env *e, uint64_t parent, const char *name, struct fuse_entry_out *eo)
{
	fenv_begin(e, FUSE_LOOKUP, parent);
	fenv_name(e, name);
	return fenv_call(e, eo, eo ? sizeof(*eo) : 0);
}

int fenv_getattr(struct fuse_env *e, uint64_t node, struct fuse_attr_out *ao)
{
	struct fuse_getattr_in in = { 0 };

	fenv_begin(e, FUSE_GETATTR, node);
	fenv_put(e, &in, sizeof(in));
	return fenv_call(e, ao, ao ? sizeof(*ao) : 0);
}

int fenv_setattr(struct fuse_env *e, uint64_t node, const struct fuse_setattr_in *in,
		 struct fuse_attr_out *ao)
{
	fenv_begin(e, FUSE_SETATTR, node);
	fenv_put(e, in, sizeof(*in));
	return fenv_call(e, ao, ao ? sizeof(*ao) : 0);
}

int fenv_create(struct fuse_env *e, uint64_t parent, const char *name, uint32_t mode,
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

int fenv_mkdir(struct fuse_env *e, uint64_t parent, const char *name, uint32_t mode,
	       struct fuse_entry_out *eo)
{
	struct fuse_mkdir_in in = { .mode = S_IFDIR | mode };

	fenv_begin(e, FUSE_MKDIR, parent);
	fenv_put(e, &in, sizeof(in));
	fenv_name(e, name);
	return fenv_call(e, eo, eo ? sizeof(*eo) : 0);
}

int fenv_mknod(struct fuse_env *e, uint64_t parent, const char *name, uint32_t mode, uint32_t rdev,
	       struct fuse_entry_out *eo)
{
	struct fuse_mknod_in in = { .mode = mode, .rdev = rdev };

	fenv_begin(e, FUSE_MKNOD, parent);
	fenv_put(e, &in, sizeof(in));
	fenv_name(e, name);
	return fenv_call(e, eo, eo ? sizeof(*eo) : 0);
}

int fenv_symlink(struct fuse_env *e, uint64_t parent, const char *name, const char *target,
		 struct fuse_entry_out *eo)
{
	fenv_begin(e, FUSE_SYMLINK, parent);
	fenv_name(e, name);
	fenv_name(e, target);
	return fenv_call(e, eo, eo ? sizeof(*eo) : 0);
}

int fenv_link(struct fuse_env *e, uint64_t oldnode, uint64_t newparent, const char *newname,
	      struct fuse_entry_out *eo)
{
	struct fuse_link_in in = { .oldnodeid = oldnode };

	fenv_begin(e, FUSE_LINK, newparent);
	fenv_put(e, &in, sizeof(in));
	fenv_name(e, newname);
	return fenv_call(e, eo, eo ? sizeof(*eo) : 0);
}

int fenv_unlink(struct fuse_env *e, uint64_t parent, const char *name)
{
	fenv_begin(e, FUSE_UNLINK, parent);
	fenv_name(e, name);
	return fenv_call(e, NULL, 0);
}

int fenv_rmdir(struct fuse_env *e, uint64_t parent, const char *name)
{
	fenv_begin(e, FUSE_RMDIR, parent);
	fenv_name(e, name);
	return fenv_call(e, NULL, 0);
}

int fenv_rename(struct fuse_env *e, uint64_t parent, const char *name, uint64_t newdir,
		const char *newname)
{
	struct fuse_rename_in in = { .newdir = newdir };

	fenv_begin(e, FUSE_RENAME, parent);
	fenv_put(e, &in, sizeof(in));
	fenv_name(e, name);
	fenv_name(e, newname);
	return fenv_call(e, NULL, 0);
}

int fenv_rename2(struct fuse_env *e, uint64_t parent, const char *name, uint64_t newdir,
		 const char *newname, uint32_t flags)
{
	struct fuse_rename2_in in = { .newdir = newdir, .flags = flags };

	fenv_begin(e, FUSE_RENAME2, parent);
	fenv_put(e, &in, sizeof(in));
	fenv_name(e, name);
	fenv_name(e, newname);
	return fenv_call(e, NULL, 0);
}

int fenv_readlink(struct fuse_env *e, uint64_t node, char *buf, size_t size)
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

static int open_op(struct fuse_env *e, uint32_t opcode, uint64_t node, uint32_t flags, uint64_t *fh)
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

int fenv_open(struct fuse_env *e, uint64_t node, uint32_t flags, uint64_t *fh)
{
	return open_op(e, FUSE_OPEN, node, flags, fh);
}

int fenv_opendir(struct fuse_env *e, uint64_t node, uint64_t *fh)
{
	return open_op(e, FUSE_OPENDIR, node, O_RDONLY | O_DIRECTORY, fh);
}

int fenv_read(struct fuse_env *e, uint64_t node, uint64_t fh, uint64_t off, uint32_t size)
{
	struct fuse_read_in in = { .fh = fh, .offset = off, .size = size };

	fenv_begin(e, FUSE_READ, node);
	fenv_put(e, &in, sizeof(in));
	return fenv_call(e, NULL, 0);
}

int fenv_write(struct fuse_env *e, uint64_t node, uint64_t fh, uint64_t off, const void *data,
	       uint32_t len, uint32_t write_flags, uint32_t *written)
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

int fenv_readdir(struct fuse_env *e, uint32_t opcode, uint64_t node, uint64_t fh, uint64_t off,
		 uint32_t size)
{
	struct fuse_read_in in = { .fh = fh, .offset = off, .size = size };

	fenv_begin(e, opcode, node);
	fenv_put(e, &in, sizeof(in));
	return fenv_call(e, NULL, 0);
}

int fenv_release(struct fuse_env *e, uint32_t opcode, uint64_t node, uint64_t fh)
{
	struct fuse_release_in in = { .fh = fh };

	fenv_begin(e, opcode, node);
	fenv_put(e, &in, sizeof(in));
	return fenv_call(e, NULL, 0);
}

int fenv_forget(struct fuse_env *e, uint64_t node, uint64_t nlookup)
{
	struct fuse_forget_in in = { .nlookup = nlookup };

	fenv_begin(e, FUSE_FORGET, node);
	fenv_put(e, &in, sizeof(in));
	return fenv_send(e, NULL);
}

int fenv_batch_forget(struct fuse_env *e, uint32_t count, const struct fuse_forget_one *ents,
		      unsigned int n)
{
	struct fuse_batch_forget_in in = { .count = count };

	fenv_begin(e, FUSE_BATCH_FORGET, 0);
	fenv_put(e, &in, sizeof(in));
	fenv_put(e, ents, n * sizeof(*ents));
	return fenv_send(e, NULL);
}

int fenv_getxattr(struct fuse_env *e, uint64_t node, const char *name, uint32_t size)
{
	struct fuse_getxattr_in in = { .size = size };

	fenv_begin(e, FUSE_GETXATTR, node);
	fenv_put(e, &in, sizeof(in));
	fenv_name(e, name);
	return fenv_call(e, NULL, 0);
}

int fenv_setxattr(struct fuse_env *e, uint64_t node, const char *name, const void *value,
		  uint32_t size, uint32_t flags)
{
	struct fuse_setxattr_in in = { .size = size, .flags = flags };

	fenv_begin(e, FUSE_SETXATTR, node);
	fenv_put(e, &in, FUSE_COMPAT_SETXATTR_IN_SIZE);
	fenv_name(e, name);
	fenv_put(e, value, size);
	return fenv_call(e, NULL, 0);
}
