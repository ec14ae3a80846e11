/* icache: the fixed part of container initramfs images, kept in files per hull-init and modules. */
#include "container/icache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

#define MAGIC "HULLIRFS"
#define NEWC "070701"
#define TMP_PREFIX ".tmp-"
#define KEEP_MAX 64u /* bound of ctr_icache_trim's keep: its table is on the stack */

/* A cache file: this header, the key, then the payload (the fixed part's cpio bytes). */
struct hdr {
	char magic[8];
	uint32_t version;
	uint32_t keylen;
	uint64_t payload;
	uint32_t next_ino; /* the cpio's next inode number, for the entries appended after it */
	uint32_t zero;
};

int ctr_icache_dir(const char *env, char *out, size_t outlen)
{
	const char *base = env && *env ? env : CTR_ICACHE_DEFAULT;

	if ((size_t)snprintf(out, outlen, "%s/%s", base, CTR_ICACHE_SUBDIR) >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

/* Length-prefixed, so that no name can pass for another's. */
int ctr_icache_key(const char *init_id, const char *moddir, const struct ctr_modules *m,
		   char **key, size_t *len)
{
	char path[4096];
	struct stat st;
	unsigned int i;
	FILE *f;
	int ret = 0;

	*key = NULL;
	*len = 0;
	if (!init_id || !*init_id)
		return -EINVAL;
	f = open_memstream(key, len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "hull initramfs %u\ninit %zu:%s\ndir %zu:%s\n", CTR_ICACHE_VERSION,
		strlen(init_id), init_id, strlen(moddir), moddir);
	for (i = 0; i < m->n && !ret; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", moddir, m->mods[i].path) >=
		    sizeof(path))
			ret = -ENAMETOOLONG;
		else if (stat(path, &st))
			ret = -errno;
		else
			fprintf(f, "module %zu:%s %zu:%s %llu %llu %lld %lld.%09ld %lld.%09ld\n",
				strlen(m->mods[i].file), m->mods[i].file, strlen(m->mods[i].path),
				m->mods[i].path, (unsigned long long)st.st_dev,
				(unsigned long long)st.st_ino, (long long)st.st_size,
				(long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
				(long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	}
	if (fclose(f) && !ret)
		ret = -ENOMEM;
	if (!ret && *len > CTR_ICACHE_KEY_MAX)
		ret = -E2BIG;
	if (ret) {
		free(*key);
		*key = NULL;
		*len = 0;
	}
	return ret;
}

void ctr_icache_name(const char *key, size_t len, char out[CTR_ICACHE_NAME_LEN + 1])
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a: the header holds the whole key */
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
	snprintf(out, CTR_ICACHE_NAME_LEN + 1, "ir-%016llx.img", (unsigned long long)h);
}

/* Only hull's user (or root, who could change hull itself) may have written what the guest runs. */
static bool trusted(const struct stat *st)
{
	return (st->st_uid == geteuid() || st->st_uid == 0) && !(st->st_mode & 022);
}

/* n bytes at off, all of them (a regular file gives a short count only at its end). */
static int read_at(int fd, void *buf, size_t n, off_t off)
{
	ssize_t got = pread(fd, buf, n, off);

	if (got < 0)
		return -errno;
	return (size_t)got == n ? 0 : -EINVAL;
}

int ctr_icache_load(int dirfd, const char *key, size_t keylen, size_t extra, struct cpio *c)
{
	char name[CTR_ICACHE_NAME_LEN + 1], *k = NULL;
	uint8_t *buf = NULL;
	struct stat st;
	struct hdr h;
	int fd, ret;

	ctr_icache_name(key, keylen, name);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ELOOP ? -EINVAL : -errno;
	if (fstat(fd, &st)) {
		ret = -errno;
		goto out;
	}
	ret = S_ISREG(st.st_mode) && trusted(&st) ? read_at(fd, &h, sizeof(h), 0) : -EINVAL;
	if (ret)
		goto out;
	if (memcmp(h.magic, MAGIC, sizeof(h.magic)) || h.version != CTR_ICACHE_VERSION ||
	    h.keylen != keylen || h.payload < 110 || h.payload > CTR_ICACHE_PAYLOAD_MAX ||
	    h.payload > SIZE_MAX - extra || !h.next_ino || h.next_ino > CTR_MODULES_MAX + 8 ||
	    h.zero || (uint64_t)st.st_size != sizeof(h) + keylen + h.payload) {
		ret = -EINVAL;
		goto out;
	}
	k = malloc(keylen ? keylen : 1);
	buf = malloc((size_t)h.payload + extra);
	ret = k && buf ? read_at(fd, k, keylen, sizeof(h)) : -ENOMEM;
	if (!ret && memcmp(k, key, keylen))
		ret = -EINVAL;
	if (!ret)
		ret = read_at(fd, buf, (size_t)h.payload, (off_t)(sizeof(h) + keylen));
	if (!ret && memcmp(buf, NEWC, sizeof(NEWC) - 1))
		ret = -EINVAL;
	if (ret)
		goto out;
	/* The archive continues from here: boot_cpio_* grow buf as they would their own. */
	c->buf = buf;
	c->len = (size_t)h.payload;
	c->cap = (size_t)h.payload + extra;
	c->next_ino = h.next_ino;
	buf = NULL;
out:
	free(k);
	free(buf);
	close(fd);
	return ret;
}

int ctr_icache_store(int dirfd, const char *key, size_t keylen, const struct cpio *c,
		     char name[CTR_ICACHE_NAME_LEN + 1])
{
	struct hdr h = { .version = CTR_ICACHE_VERSION, .keylen = (uint32_t)keylen,
			 .payload = c->len, .next_ino = c->next_ino };
	struct iovec iov[3] = { { &h, sizeof(h) }, { (void *)(uintptr_t)key, keylen },
				{ c->buf, c->len } };
	size_t total = sizeof(h) + keylen + c->len;
	struct timespec now;
	char tmp[64];
	ssize_t n;
	int fd, ret = 0;

	if (c->error || keylen > CTR_ICACHE_KEY_MAX || c->len > CTR_ICACHE_PAYLOAD_MAX)
		return -EINVAL;
	memcpy(h.magic, MAGIC, sizeof(h.magic));
	ctr_icache_name(key, keylen, name);
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(tmp, sizeof(tmp), TMP_PREFIX "%d-%lx", (int)getpid(),
		 (unsigned long)now.tv_nsec ^ (unsigned long)now.tv_sec);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	/* One call: a regular file takes it all or is full (a short count is taken as ENOSPC). */
	n = writev(fd, iov, 3);
	if (n < 0)
		ret = -errno;
	else if ((size_t)n != total)
		ret = -ENOSPC;
	if (!ret && fdatasync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && renameat(dirfd, tmp, dirfd, name))
		ret = -errno;
	if (ret) {
		unlinkat(dirfd, tmp, 0);
		return ret;
	}
	ctr_icache_trim(dirfd, CTR_ICACHE_KEEP);
	return 0;
}

/* "ir-" + 16 lowercase hex digits + ".img". */
static bool is_entry(const char *s)
{
	size_t i;

	if (strlen(s) != CTR_ICACHE_NAME_LEN || strncmp(s, "ir-", 3) || strcmp(s + 19, ".img"))
		return false;
	for (i = 3; i < 19; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

struct kept {
	char name[CTR_ICACHE_NAME_LEN + 1];
	struct timespec mtime;
};

static bool older(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

void ctr_icache_trim(int dirfd, unsigned int keep)
{
	struct kept k[KEEP_MAX];
	unsigned int n = 0, i, old;
	struct timespec now;
	struct dirent *e;
	struct stat st;
	DIR *d;
	int fd;

	if (keep > KEEP_MAX)
		keep = KEEP_MAX;
	fd = dup(dirfd);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	/* The newest keep stay in k; whatever one pushes out (or is older than all) goes. */
	while ((e = readdir(d))) {
		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
			continue;
		if (!strncmp(e->d_name, TMP_PREFIX, sizeof(TMP_PREFIX) - 1)) {
			if (st.st_mtim.tv_sec + CTR_ICACHE_TMP_AGE < now.tv_sec)
				unlinkat(dirfd, e->d_name, 0);
			continue;
		}
		if (!is_entry(e->d_name))
			continue;
		if (n < keep) {
			memcpy(k[n].name, e->d_name, sizeof(k[n].name)); /* is_entry: its length */
			k[n++].mtime = st.st_mtim;
			continue;
		}
		for (old = 0, i = 1; i < n; i++)
			if (older(&k[i].mtime, &k[old].mtime))
				old = i;
		if (!n || !older(&k[old].mtime, &st.st_mtim)) {
			unlinkat(dirfd, e->d_name, 0);
			continue;
		}
		unlinkat(dirfd, k[old].name, 0);
		memcpy(k[old].name, e->d_name, sizeof(k[old].name));
		k[old].mtime = st.st_mtim;
	}
	closedir(d);
}

/* dir's parent (HULL_CACHE) and dir, as mkdir -p would for the last two; 0 or -errno. */
static int make_dir(const char *dir)
{
	char parent[4096];
	const char *slash = strrchr(dir, '/');

	if (slash && slash != dir && (size_t)(slash - dir) < sizeof(parent)) {
		memcpy(parent, dir, (size_t)(slash - dir));
		parent[slash - dir] = '\0';
		if (mkdir(parent, 0755) && errno != EEXIST)
			return -errno;
	}
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/* dir opened, when it is hull's user's (or root's) and nobody else may write it; or -errno. */
static int open_dir(const char *dir, const char **why)
{
	struct stat st;
	int fd, ret;

	ret = make_dir(dir);
	if (ret) {
		*why = strerror(-ret);
		return ret;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		ret = -errno;
		*why = strerror(errno);
		return ret;
	}
	if (fstat(fd, &st) || !trusted(&st)) {
		*why = "not hull's user's or root's alone";
		close(fd);
		return -EPERM;
	}
	return fd;
}

int ctr_icache_get(const char *dir, const char *init_id, const char *moddir,
		   const struct ctr_modules *m, size_t extra, struct cpio *c,
		   enum ctr_icache_how *how, char *file, size_t filelen, char *err, size_t errlen)
{
	char name[CTR_ICACHE_NAME_LEN + 1];
	const char *why = NULL;
	char *key = NULL;
	size_t keylen;
	int dfd = -1, ret;

	*how = CTR_ICACHE_MEMORY;
	snprintf(file, filelen, "%s", "");
	if (!m->n) {
		/* hull-init alone is copied from hull's own image: a file would save nothing. */
		log_debug("container: initramfs: no modules, nothing to cache");
		goto build;
	}
	if (!dir) {
		log_debug("container: initramfs: no cache directory (HULL_CACHE too long)");
		goto build;
	}
	ret = ctr_icache_key(init_id, moddir, m, &key, &keylen);
	if (ret) {
		/* A module that cannot be stat'ed cannot be read either: the build says which. */
		log_debug("container: initramfs: no cache key: %s", strerror(-ret));
		goto build;
	}
	dfd = open_dir(dir, &why);
	if (dfd < 0) {
		log_debug("container: initramfs: cache %s: %s", dir, why);
		goto build;
	}
	ret = ctr_icache_load(dfd, key, keylen, extra, c);
	ctr_icache_name(key, keylen, name);
	if (!ret) {
		*how = CTR_ICACHE_HIT;
		snprintf(file, filelen, "%s/%s", dir, name);
		goto out;
	}
	if (ret != -ENOENT)
		log_debug("container: initramfs: cache %s/%s: %s: rebuilt", dir, name,
			  ret == -EINVAL ? "not a good cache file" : strerror(-ret));
build:
	ret = ctr_initramfs_fixed(moddir, m, c, err, errlen);
	if (ret || dfd < 0)
		goto out;
	ret = ctr_icache_store(dfd, key, keylen, c, name);
	if (ret) {
		log_debug("container: initramfs: cache %s: cannot write: %s", dir, strerror(-ret));
		ret = 0;
		goto out;
	}
	*how = CTR_ICACHE_STORED;
	snprintf(file, filelen, "%s/%s", dir, name);
out:
	if (dfd >= 0)
		close(dfd);
	free(key);
	return ret;
}
