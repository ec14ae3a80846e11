/* kunpack: a compressed kernel unpacked on the host once, kept in $HULL_CACHE/vmlinux. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arch/arch.h"
#include "lib/fcache.h"
#include "lib/log.h"
#include "lib/unpack.h"
#include "vmm/vm.h"

#define PACKED_MAX   (256ull << 20) /* a payload larger than this is left to the guest */
#define UNPACKED_MAX (1ull << 30)
#define EDGE	     64		     /* payload bytes from each end in the key */
#define KEY_MAX	     1024

static const struct fcache_kind kernel_kind = {
	.magic = "HULLKERN",
	.prefix = "kn",
	.version = 1,
	.payload_max = UNPACKED_MAX,
	.key_max = KEY_MAX,
	.keep = VM_KERNEL_CACHE_KEEP,
};

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/*
 * What names the image: its file (device, inode, size, change and modification times: any
 * write to it moves ctime), its setup header and both ends of its payload.
 */
static int make_key(const struct vm_prep *p, const struct boot_payload *pl, char *key,
		    size_t *keylen)
{
	uint8_t head[EDGE], tail[EDGE];
	size_t n, edge = pl->len < EDGE ? (size_t)pl->len : EDGE;
	struct stat st;
	int len;

	if (fstat(p->kernel.fd, &st))
		return -errno;
	if (boot_src_read(&p->kernel, pl->off, head, edge, NULL) ||
	    boot_src_read(&p->kernel, pl->off + pl->len - edge, tail, edge, NULL))
		return -EIO;
	len = snprintf(key, KEY_MAX, "kernel dev %ju ino %ju size %jd mtime %jd.%09ld ctime %jd.%09ld\n",
		       (uintmax_t)st.st_dev, (uintmax_t)st.st_ino, (intmax_t)st.st_size,
		       (intmax_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
		       (intmax_t)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	n = (size_t)len;
	if (len < 0 || n + p->boot.arch_data_len + 2 * edge > KEY_MAX)
		return -ENAMETOOLONG;
	memcpy(key + n, p->boot.arch_data, p->boot.arch_data_len);
	n += p->boot.arch_data_len;
	memcpy(key + n, head, edge);
	memcpy(key + n + edge, tail, edge);
	*keylen = n + 2 * edge;
	return 0;
}

/* The payload decompressed and kept: 0, or -errno with *why. */
static int fill(const struct vm_prep *p, const struct boot_payload *pl, enum unpack_format f,
		int dfd, const char *key, size_t keylen, size_t *got, const char **why)
{
	char name[FCACHE_NAME_LEN + 1];
	uint8_t *in = NULL, *out = NULL, le[4];
	uint64_t want;
	int ret;

	/* Linux ends every payload with its unpacked size (gzip's trailer, or appended). */
	ret = boot_src_read(&p->kernel, pl->off + pl->len - 4, le, 4, NULL);
	want = (uint64_t)le[0] | (uint64_t)le[1] << 8 | (uint64_t)le[2] << 16 |
	       (uint64_t)le[3] << 24;
	if (ret || !want || want > UNPACKED_MAX) {
		*why = "its payload does not end with a size hull can take (1 GiB at most)";
		return -EINVAL;
	}
	in = malloc((size_t)pl->len);
	out = malloc((size_t)want);
	ret = in && out ? boot_src_read(&p->kernel, pl->off, in, (size_t)pl->len, NULL) : -ENOMEM;
	if (!ret) {
		ret = unpack(f, in, (size_t)pl->len, out, (size_t)want, got);
		if (ret == -EFBIG)
			*why = "its payload holds more than its size says";
		else if (ret)
			*why = ret == -EINVAL ? "its payload cannot be decompressed" : strerror(-ret);
	} else {
		*why = strerror(-ret);
	}
	if (!ret && *got != want) {
		*why = "its payload holds less than its size says";
		ret = -EINVAL;
	}
	if (!ret) {
		ret = fcache_store(dfd, &kernel_kind, key, keylen, out, *got, 0, name);
		if (ret)
			*why = strerror(-ret);
	}
	free(in);
	free(out);
	return ret;
}

/*
 * The unpacked kernel in the cache, checked as a kernel hull boots: 0 with *src and *bi;
 * -ENOEXEC when it is not one; fcache_open()'s error when there is no good file.
 */
static int open_unpacked(int dfd, const char *key, size_t keylen, const struct gmem *m,
			 struct boot_src *src, struct boot_image *bi, const char **why)
{
	uint64_t off, len;
	uint32_t aux;
	int fd, ret;

	fd = fcache_open(dfd, &kernel_kind, key, keylen, &off, &len, &aux);
	if (fd < 0) {
		*why = strerror(-fd);
		return fd;
	}
	*src = (struct boot_src){ .fd = fd, .base = off, .len = len };
	ret = boot_is_elf(src, why);
	if (ret == 0) {
		*why = "it is not an ELF kernel";
		ret = -ENOEXEC;
	}
	if (ret > 0)
		ret = arch_check_kernel(m, src, bi, why);
	if (ret) {
		close(fd);
		src->fd = -1;
	}
	/* The file is good, what it holds is no kernel hull boots: unpacking again won't help. */
	return ret ? -ENOEXEC : 0;
}

/*
 * Why a kernel is left for its own decompressor, or NULL when hull may unpack it; *kaslr when it
 * would place itself at random (relocatable, without nokaslr), which hull then does for it.
 */
static const char *left_packed(const struct vm_config *cfg, const struct vm_prep *p,
			       const struct boot_payload *pl, enum unpack_format *f, bool *kaslr)
{
	const char *line = cfg->cmdline ? cfg->cmdline : arch_default_cmdline();
	uint8_t magic[8] = { 0 };

	if (pl->len > PACKED_MAX)
		return "its payload is over 256 MiB";
	if (boot_src_read(&p->kernel, pl->off, magic, pl->len < sizeof(magic) ?
			  (size_t)pl->len : sizeof(magic), NULL))
		return "its payload cannot be read";
	*f = unpack_detect(magic, pl->len < sizeof(magic) ? (size_t)pl->len : sizeof(magic));
	if (*f == UNPACK_NONE)
		return "its payload is compressed in a format hull does not read (gzip, xz, zstd, lz4)";
	/* What hull appends to the line never holds these: the user's line, or the default. */
	*kaslr = pl->relocatable && !boot_cmdline_has(line, "nokaslr");
	/* Its decompressor keeps clear of memory these withhold; hull does not read them. */
	if (*kaslr && (boot_cmdline_param(line, "mem") || boot_cmdline_param(line, "memmap") ||
		       boot_cmdline_param(line, "hugepages")))
		return "it places itself at random, and its command line withholds memory from "
		       "it (mem=, memmap=, hugepages=), which only its own decompressor heeds then";
	return NULL;
}

void vm_unpack_kernel(const struct vm_config *cfg, struct vm_prep *p, const struct gmem *m)
{
	const char *why = NULL, *path = p->kernel_path;
	char dir[PATH_MAX], key[KEY_MAX];
	enum unpack_format f = UNPACK_NONE;
	struct boot_payload pl;
	struct boot_image bi, kbi;
	struct boot_src src;
	struct timespec t0;
	size_t keylen = 0, got = 0;
	int dfd = -1, ret;
	bool kaslr = false;

	if (arch_kernel_payload(&p->boot, p->kernel.len, &pl) <= 0)
		return; /* not a packed kernel, or a bad header the guest's own boot will meet */
	why = left_packed(cfg, p, &pl, &f, &kaslr);
	if (why)
		goto packed;
	ret = make_key(p, &pl, key, &keylen);
	if (ret) {
		why = strerror(-ret);
		goto packed;
	}
	if (fcache_dir(getenv("HULL_CACHE"), VM_KERNEL_CACHE_SUBDIR, dir, sizeof(dir))) {
		why = "no cache directory (HULL_CACHE too long)";
		goto packed;
	}
	dfd = fcache_open_dir(dir, &why);
	if (dfd < 0)
		goto packed;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = open_unpacked(dfd, key, keylen, m, &src, &bi, &why);
	if (!ret) {
		log_debug("kernel %s: unpacked before, taken from %s (%" PRIu64 " bytes)", path, dir,
			  src.len);
		goto unpacked;
	}
	if (ret == -ENOEXEC)
		goto packed;
	/* Its memory.max counts the guest's RAM and hull's own overhead, not an unpacking. */
	if (p->cgroup) {
		why = "it is not unpacked yet, and hull runs in its cgroup (--cgroup) already: a "
		      "boot outside one unpacks it, for every later boot";
		goto packed;
	}
	ret = fill(p, &pl, f, dfd, key, keylen, &got, &why);
	if (!ret)
		ret = open_unpacked(dfd, key, keylen, m, &src, &bi, &why);
	if (ret)
		goto packed;
	log_debug("kernel %s: unpacked (%s, %zu bytes) in %.1f ms, kept in %s", path,
		  unpack_name(f), got, ms_since(&t0), dir);
unpacked:
	close(dfd);
	dfd = -1;
	if (kaslr) {
		ret = arch_kaslr_plan(m, &src, &p->boot, &bi, &p->kaslr, &kbi, &why);
		if (ret < 0) {
			close(src.fd);
			p->kaslr.on = false;
			goto packed;
		}
		if (ret > 0) {
			bi = kbi;
			log_debug("kernel %s: placed at random by hull at every boot (KASLR, %" PRIu64
				  " bytes of relocations)", path, p->kaslr.relocs_len);
		}
	}
	close(p->kernel.fd);
	p->kernel = src;
	p->boot = bi;
	return;
packed:
	if (dfd >= 0)
		close(dfd);
	log_debug("kernel %s: left to unpack itself in the guest: %s", path, why);
}
