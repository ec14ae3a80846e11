/* fcache: hull's cache files, each a header, its key (compared whole) and a payload. */
#include "lib/fcache.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define TMP_PREFIX ".tmp-"

/* A cache file: this header, the key, then the payload. */
struct hdr {
	char magic[8];
	uint32_t version;
	uint32_t keylen;
	uint64_t payload;
	uint32_t aux; /* the kind's own word (the initramfs's next inode number) */
	uint32_t zero;
};

int fcache_dir(const char *env, const char *sub, char *out, size_t outlen)
{
	const char *base = env && *env ? env : FCACHE_DEFAULT;

	if ((size_t)snprintf(out, outlen, "%s/%s", base, sub) >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

void fcache_name(const struct fcache_kind *k, const char *key, size_t len,
		     char out[FCACHE_NAME_LEN + 1])
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a: the header holds the whole key */
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
	snprintf(out, FCACHE_NAME_LEN + 1, "%.2s-%016llx.img", k->prefix,
		 (unsigned long long)h);
}

/* Only hull's user (or root, who could change hull itself) may have written what hull uses. */
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

int fcache_open(int dirfd, const struct fcache_kind *k, const char *key, size_t keylen,
		uint64_t *off, uint64_t *len, uint32_t *aux)
{
	char name[FCACHE_NAME_LEN + 1], kbuf[4096];
	struct stat st;
	struct hdr h;
	size_t done, n;
	int fd, ret;

	fcache_name(k, key, keylen, name);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ELOOP ? -EINVAL : -errno;
	if (fstat(fd, &st)) {
		ret = -errno;
		goto fail;
	}
	ret = S_ISREG(st.st_mode) && trusted(&st) ? read_at(fd, &h, sizeof(h), 0) : -EINVAL;
	if (ret)
		goto fail;
	if (memcmp(h.magic, k->magic, sizeof(h.magic)) || h.version != k->version ||
	    h.keylen != keylen || keylen > k->key_max || h.payload > k->payload_max || h.zero ||
	    (uint64_t)st.st_size != sizeof(h) + keylen + h.payload) {
		ret = -EINVAL;
		goto fail;
	}
	/* The key compared a piece at a time: no allocation for it, whatever its length. */
	for (done = 0; done < keylen; done += n) {
		n = keylen - done < sizeof(kbuf) ? keylen - done : sizeof(kbuf);
		ret = read_at(fd, kbuf, n, (off_t)(sizeof(h) + done));
		if (!ret && memcmp(kbuf, key + done, n))
			ret = -EINVAL;
		if (ret)
			goto fail;
	}
	*off = sizeof(h) + keylen;
	*len = h.payload;
	*aux = h.aux;
	return fd;
fail:
	close(fd);
	return ret;
}

int fcache_load(int dirfd, const struct fcache_kind *k, const char *key, size_t keylen,
		size_t extra, uint8_t **payload, size_t *len, uint32_t *aux)
{
	uint64_t off, plen;
	uint8_t *buf;
	int fd, ret;

	fd = fcache_open(dirfd, k, key, keylen, &off, &plen, aux);
	if (fd < 0)
		return fd;
	if (plen > SIZE_MAX - extra - 1) {
		close(fd);
		return -EINVAL;
	}
	buf = malloc((size_t)plen + extra + 1);
	ret = buf ? read_at(fd, buf, (size_t)plen, (off_t)off) : -ENOMEM;
	close(fd);
	if (ret) {
		free(buf);
		return ret;
	}
	*payload = buf;
	*len = (size_t)plen;
	return 0;
}

int fcache_store(int dirfd, const struct fcache_kind *k, const char *key, size_t keylen,
		     const void *payload, size_t len, uint32_t aux,
		     char name[FCACHE_NAME_LEN + 1])
{
	struct hdr h = { .version = k->version, .keylen = (uint32_t)keylen, .payload = len,
			 .aux = aux };
	struct iovec iov[3] = { { &h, sizeof(h) }, { (void *)(uintptr_t)key, keylen },
				{ (void *)(uintptr_t)payload, len } };
	size_t total = sizeof(h) + keylen + len;
	struct timespec now;
	char tmp[64];
	ssize_t n;
	int fd, ret = 0;

	if (keylen > k->key_max || len > k->payload_max)
		return -EINVAL;
	memcpy(h.magic, k->magic, sizeof(h.magic));
	fcache_name(k, key, keylen, name);
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
	fcache_trim(dirfd, k, k->keep);
	return 0;
}

/* PREFIX "-" + 16 lowercase hex digits + ".img". */
static bool is_entry(const struct fcache_kind *k, const char *s)
{
	size_t i;

	if (strlen(s) != FCACHE_NAME_LEN || strncmp(s, k->prefix, 2) || s[2] != '-' ||
	    strcmp(s + 19, ".img"))
		return false;
	for (i = 3; i < 19; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

struct kept {
	char name[FCACHE_NAME_LEN + 1];
	struct timespec mtime;
};

static bool older(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

void fcache_trim(int dirfd, const struct fcache_kind *kind, unsigned int keep)
{
	struct kept k[FCACHE_KEEP_MAX];
	unsigned int n = 0, i, old;
	struct timespec now;
	struct dirent *e;
	struct stat st;
	DIR *d;
	int fd;

	if (keep > FCACHE_KEEP_MAX)
		keep = FCACHE_KEEP_MAX;
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
			if (st.st_mtim.tv_sec + FCACHE_TMP_AGE < now.tv_sec)
				unlinkat(dirfd, e->d_name, 0);
			continue;
		}
		if (!is_entry(kind, e->d_name))
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

int fcache_open_dir(const char *dir, const char **why)
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

struct build_id {
	char *out;
	size_t outlen;
	int ret;
};

/* The executable is the first object dl_iterate_phdr reports: its notes, walked in memory. */
static int find_build_id(struct dl_phdr_info *info, size_t size, void *data)
{
	struct build_id *b = data;
	const uint8_t *p, *end, *desc;
	ElfW(Nhdr) nh;
	size_t i, j, name_sz, desc_sz;

	(void)size;
	for (i = 0; i < info->dlpi_phnum; i++) {
		if (info->dlpi_phdr[i].p_type != PT_NOTE)
			continue;
		p = (const uint8_t *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
		end = p + info->dlpi_phdr[i].p_memsz;
		while ((size_t)(end - p) >= sizeof(nh)) {
			memcpy(&nh, p, sizeof(nh));
			name_sz = ((size_t)nh.n_namesz + 3) & ~(size_t)3;
			desc_sz = ((size_t)nh.n_descsz + 3) & ~(size_t)3;
			if (name_sz > (size_t)(end - p) - sizeof(nh) ||
			    desc_sz > (size_t)(end - p) - sizeof(nh) - name_sz)
				break;
			desc = p + sizeof(nh) + name_sz;
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    !memcmp(p + sizeof(nh), "GNU", 4) && nh.n_descsz) {
				if (b->outlen < 2 * (size_t)nh.n_descsz + 1) {
					b->ret = -ENAMETOOLONG;
					return 1;
				}
				for (j = 0; j < nh.n_descsz; j++)
					snprintf(b->out + 2 * j, 3, "%02x", desc[j]);
				b->ret = 0;
				return 1;
			}
			p = desc + desc_sz;
		}
	}
	return 1; /* only the executable */
}

int fcache_build_id(char *out, size_t outlen)
{
	struct build_id b = { out, outlen, -ENOENT };

	dl_iterate_phdr(find_build_id, &b);
	return b.ret;
}
