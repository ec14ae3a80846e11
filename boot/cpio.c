/* cpio: build a "newc" archive in memory, the format the kernel unpacks as an initramfs. */
#include "boot/boot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define NEWC_MAGIC   "070701"
#define NEWC_HDR_LEN 110	/* magic + 13 fields of 8 hex digits */
#define PATH_MAX_LEN 4096
#define TRAILER      "TRAILER!!!"

struct entry {
	uint32_t mode;
	uint32_t nlink;
	const char *name;
	size_t namelen; /* without the NUL */
	const void *data;
	size_t len;
};

static size_t pad4(size_t n)
{
	return (4 - (n & 3)) & 3;
}

static int set_error(struct cpio *c, int err)
{
	if (!c->error)
		c->error = err;
	return c->error;
}

/* Make room for n more bytes, doubling so a long archive costs amortised O(1). */
static int reserve(struct cpio *c, size_t n)
{
	size_t cap = c->cap ? c->cap : 4096;
	uint8_t *buf;

	if (n > SIZE_MAX - c->len)
		return -ENOMEM;
	while (cap < c->len + n) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	if (cap == c->cap)
		return 0;
	buf = realloc(c->buf, cap);
	if (!buf)
		return -ENOMEM;
	c->buf = buf;
	c->cap = cap;
	return 0;
}

static void put(struct cpio *c, const void *p, size_t n)
{
	if (n)
		memcpy(c->buf + c->len, p, n);
	c->len += n;
}

static void put_zeros(struct cpio *c, size_t n)
{
	memset(c->buf + c->len, 0, n);
	c->len += n;
}

static int emit(struct cpio *c, const struct entry *e, uint32_t ino)
{
	char hdr[NEWC_HDR_LEN + 1];
	size_t head, total;
	int err;

	/* newc sizes are 32-bit; a bigger file cannot be described. */
	if (e->len > UINT32_MAX)
		return set_error(c, -EFBIG);
	head = NEWC_HDR_LEN + e->namelen + 1;
	total = head + pad4(head);
	if (e->len > SIZE_MAX - total - 3)
		return set_error(c, -ENOMEM);
	total += e->len + pad4(e->len);
	err = reserve(c, total);
	if (err)
		return set_error(c, err);

	/* ino, mode, uid, gid, nlink, mtime, filesize, dev maj/min, rdev maj/min, namesize, check */
	snprintf(hdr, sizeof(hdr),
		 NEWC_MAGIC "%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 ino, e->mode, 0U, 0U, e->nlink, 0U, (uint32_t)e->len, 0U, 0U, 0U, 0U,
		 (uint32_t)(e->namelen + 1), 0U);
	put(c, hdr, NEWC_HDR_LEN);
	put(c, e->name, e->namelen);
	put_zeros(c, 1 + pad4(head));
	put(c, e->data, e->len);
	put_zeros(c, pad4(e->len));
	return 0;
}

/* Archive names are relative: the kernel unpacks them under its rootfs. */
static int add(struct cpio *c, const char *path, uint32_t type, uint32_t perm, uint32_t nlink,
	       const void *data, size_t len)
{
	struct entry e;

	if (c->error)
		return c->error;
	if (!path || (len && !data))
		return set_error(c, -EINVAL);
	if (path[0] == '/')
		path++;
	e.namelen = strnlen(path, PATH_MAX_LEN + 1);
	if (e.namelen == 0 || e.namelen > PATH_MAX_LEN)
		return set_error(c, -EINVAL);
	e.name = path;
	e.mode = type | (perm & 07777);
	e.nlink = nlink;
	e.data = data;
	e.len = len;
	return emit(c, &e, c->next_ino++);
}

void boot_cpio_init(struct cpio *c)
{
	memset(c, 0, sizeof(*c));
	/* Inode 0 is the trailer's; unique numbers keep the unpacker from linking files. */
	c->next_ino = 1;
}

int boot_cpio_reserve(struct cpio *c, size_t n)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo, hi;
	int err;

	if (c->error)
		return c->error;
	err = reserve(c, n);
	if (err)
		return set_error(c, err);
	/*
	 * Its pages made at once (Linux 5.14; older kernels refuse the advice and fault them in
	 * as they are written): one call where hundreds of faults would be, each expensive
	 * under virtualization. The range is the buffer's own pages, rounded inwards.
	 */
	lo = ((uintptr_t)c->buf + c->len + page - 1) & ~(page - 1);
	hi = ((uintptr_t)c->buf + c->cap) & ~(page - 1);
	if (hi > lo)
		madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
	return 0;
}

int boot_cpio_dir(struct cpio *c, const char *path, uint32_t mode)
{
	return add(c, path, S_IFDIR, mode, 2, NULL, 0);
}

int boot_cpio_file(struct cpio *c, const char *path, uint32_t mode, const void *data, size_t len)
{
	return add(c, path, S_IFREG, mode, 1, data, len);
}

int boot_cpio_symlink(struct cpio *c, const char *path, const char *target)
{
	size_t n;

	if (c->error)
		return c->error;
	n = target ? strnlen(target, PATH_MAX_LEN + 1) : 0;
	if (n == 0 || n > PATH_MAX_LEN)
		return set_error(c, -EINVAL);
	/* The link target is the file data, without a NUL. */
	return add(c, path, S_IFLNK, 0777, 1, target, n);
}

int boot_cpio_finish(struct cpio *c)
{
	struct entry e = { .mode = 0, .nlink = 1, .name = TRAILER,
			   .namelen = sizeof(TRAILER) - 1, .data = NULL, .len = 0 };

	if (c->error)
		return c->error;
	return emit(c, &e, 0);
}

void boot_cpio_free(struct cpio *c)
{
	free(c->buf);
	memset(c, 0, sizeof(*c));
}
