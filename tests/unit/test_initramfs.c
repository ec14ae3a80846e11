/* Unit tests for container mode's initramfs: releases, modules.dep, modules, image, cache. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "container/icache.h"
#include "container/initbin.h"
#include "container/initramfs.h"
#include "container/proto.h"

static char err[512];

/* ---- kernel releases ---- */

/* The release of an image in memory. */
static int release_of(const uint8_t *img, size_t len, char *out, size_t outlen)
{
	struct boot_src src = { .buf = img, .fd = -1, .len = len };

	return ctr_kernel_release(&src, out, outlen);
}

static void test_release_bzimage(void **state)
{
	static uint8_t img[0x4000];
	static const char v[] = "6.1.0-57-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP";
	char out[CTR_RELEASE_MAX + 1];

	(void)state;
	memcpy(img + 0x202, "HdrS", 4);
	img[0x20e] = 0x00; /* the string at 0x1000 - 0x200 + 0x200 */
	img[0x20f] = 0x0e;
	memcpy(img + 0x1000, v, sizeof(v));
	assert_int_equal(release_of(img, sizeof(img), out, sizeof(out)), 0);
	assert_string_equal(out, "6.1.0-57-cloud-amd64");
	/* Too small a buffer, an offset past the image, no string, a '/' in it. */
	assert_int_equal(release_of(img, sizeof(img), out, 8), -ENAMETOOLONG);
	assert_int_equal(release_of(img, 0x1000, out, sizeof(out)), -ENOENT);
	img[0x20e] = img[0x20f] = 0;
	assert_int_equal(release_of(img, sizeof(img), out, sizeof(out)), -ENOENT);
	img[0x20f] = 0x0e;
	memcpy(img + 0x1000, "../etc x", 9);
	assert_int_equal(release_of(img, sizeof(img), out, sizeof(out)), -ENOENT);
	memset(img + 0x1000, 'a', 200);
	assert_int_equal(release_of(img, sizeof(img), out, sizeof(out)), -ENAMETOOLONG);
}

static void test_release_elf(void **state)
{
	static const char body[] = "junk Linux version %s (%s) Linux version \0more "
				   "Linux version 6.1.192 (hull@hull) (gcc) #1 SMP\0tail";
	static uint8_t img[4096];
	const char *last = memmem(body, sizeof(body), "Linux version 6", 15);
	char out[CTR_RELEASE_MAX + 1];

	(void)state;
	memcpy(img, "\x7f" "ELF\x02\x01\x01", 7);
	memcpy(img + 1024, body, sizeof(body));
	/* The banner's format strings are passed over: the first one followed by a digit. */
	assert_int_equal(release_of(img, sizeof(img), out, sizeof(out)), 0);
	assert_string_equal(out, "6.1.192");
	/* Cut right after the prefix, or no banner at all. */
	assert_int_equal(release_of(img, 1024 + (size_t)(last - body) + 14, out,
					    sizeof(out)), -ENOENT);
	memset(img + 1024, 'x', sizeof(body));
	assert_int_equal(release_of(img, sizeof(img), out, sizeof(out)), -ENOENT);
	assert_int_equal(release_of(img, 0, out, sizeof(out)), -ENOENT);
}

/*
 * A vmlinux is read from its file in 64 KiB windows: a banner across a window's end, and one
 * megabytes past the first window, are found; a file that shrank is an error.
 */
static void test_release_elf_file(void **state)
{
	static const char banner[] = "Linux version 6.1.192-hull (hull@hull) #1 SMP";
	const size_t at[] = { (1 << 20) - 8, (3 << 20) + 100, (1 << 20) - 20 };
	char out[CTR_RELEASE_MAX + 1];
	struct boot_src src = { .fd = memfd_create("vmlinux", MFD_CLOEXEC) };
	unsigned int i;

	(void)state;
	assert_true(src.fd >= 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(ftruncate(src.fd, 0), 0);
		assert_int_equal(pwrite(src.fd, "\x7f" "ELF\x02\x01\x01", 7, 0), 7);
		assert_int_equal(pwrite(src.fd, banner, sizeof(banner), (off_t)at[i]),
				 (ssize_t)sizeof(banner));
		src.len = (uint64_t)at[i] + sizeof(banner) + 4096;
		assert_int_equal(ftruncate(src.fd, (off_t)src.len), 0);
		out[0] = '\0';
		assert_int_equal(ctr_kernel_release(&src, out, sizeof(out)), 0);
		assert_string_equal(out, "6.1.192-hull");
	}
	/* Its size said more than it holds now. */
	assert_int_equal(ftruncate(src.fd, (off_t)at[2]), 0);
	assert_int_equal(ctr_kernel_release(&src, out, sizeof(out)), -EIO);
	close(src.fd);
}

/*
 * With a section header table only .rodata is scanned first: a banner there wins over an
 * earlier one elsewhere, which is found when .rodata has none or the table is malformed.
 */
static void test_release_elf_rodata(void **state)
{
	static const char decoy[] = "Linux version 9.9.9-decoy (x) #1";
	static const char banner[] = "Linux version 6.1.192-hull (hull@hull) #1 SMP";
	static const char names[] = "\0.rodata\0.shstrtab";
	static uint8_t img[0x3000];
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Shdr *sh = (Elf64_Shdr *)(img + 0x2000);
	char out[CTR_RELEASE_MAX + 1];

	(void)state;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_shoff = 0x2000;
	eh->e_shentsize = sizeof(Elf64_Shdr);
	eh->e_shnum = 3;
	eh->e_shstrndx = 2;
	sh[1] = (Elf64_Shdr){ .sh_name = 1, .sh_type = SHT_PROGBITS, .sh_offset = 0x1000,
			      .sh_size = 0x800 };
	sh[2] = (Elf64_Shdr){ .sh_name = 9, .sh_type = SHT_STRTAB, .sh_offset = 0x2800,
			      .sh_size = sizeof(names) };
	memcpy(img + 0x2800, names, sizeof(names));
	memcpy(img + 0x400, decoy, sizeof(decoy));
	/* The banner starts at .rodata's last byte: the release past the section's end is read. */
	memcpy(img + 0x17ff, banner, sizeof(banner));
	assert_int_equal(release_of(img, sizeof(img), out, sizeof(out)), 0);
	assert_string_equal(out, "6.1.192-hull");
	sh[1].sh_size = 0x7ff;
	assert_int_equal(release_of(img, sizeof(img), out, sizeof(out)), 0);
	assert_string_equal(out, "9.9.9-decoy");
	sh[1].sh_size = 0x800;
	sh[2].sh_type = SHT_PROGBITS;
	assert_int_equal(release_of(img, sizeof(img), out, sizeof(out)), 0);
	assert_string_equal(out, "9.9.9-decoy");
}

/* ---- modules.dep ---- */

static const char dep_text[] =
	"kernel/fs/fuse/fuse.ko:\n"
	"kernel/fs/fuse/virtiofs.ko: kernel/drivers/virtio/virtio.ko "
	"kernel/drivers/virtio/virtio_ring.ko kernel/fs/fuse/fuse.ko\n"
	"kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko "
	"kernel/drivers/virtio/virtio_ring.ko\n"
	"kernel/drivers/virtio/virtio.ko:\n"
	"kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko.xz: "
	"kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.zst "
	"kernel/net/vmw_vsock/vsock.ko kernel/drivers/virtio/virtio.ko "
	"kernel/drivers/virtio/virtio_ring.ko\n"
	"kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.zst: "
	"kernel/net/vmw_vsock/vsock.ko\n"
	"kernel/net/vmw_vsock/vsock.ko:\n"
	"# a comment, and a line without a colon\n"
	"garbage\n"
	"kernel/drivers/block/virtio-blk.ko: kernel/drivers/virtio/virtio.ko\n";
static const char builtin_text[] = "kernel/drivers/virtio/virtio_ring.ko\nkernel/fs/ext4/ext4.ko\n";

static struct ctr_modules mods;

static int mods_teardown(void **state)
{
	(void)state;
	ctr_modules_free(&mods);
	return 0;
}

static int resolve(const char *const *wanted, unsigned int n)
{
	err[0] = '\0';
	return ctr_modules_from(dep_text, strlen(dep_text), builtin_text, strlen(builtin_text),
				wanted, n, &mods, err, sizeof(err));
}

static void expect_files(const char *const *files, unsigned int n)
{
	unsigned int i;

	assert_int_equal(mods.n, n);
	for (i = 0; i < n; i++)
		assert_string_equal(mods.mods[i].file, files[i]);
}

static void test_modules_order(void **state)
{
	static const char *const wanted[] = { "virtio_mmio", "vmw_vsock_virtio_transport",
					      "virtiofs", "ext4" };
	static const char *const files[] = { "virtio.ko", "virtio_mmio.ko", "vsock.ko",
					     "vmw_vsock_virtio_transport_common.ko",
					     "vmw_vsock_virtio_transport.ko", "fuse.ko", "virtiofs.ko" };

	(void)state;
	/* Dependencies first, each once; built-in ones (virtio_ring, ext4) need no file. */
	assert_int_equal(resolve(wanted, 4), 0);
	expect_files(files, 7);
	assert_string_equal(mods.mods[4].path,
			    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko.xz");
	assert_string_equal(mods.mods[3].path,
			    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.zst");
	ctr_modules_free(&mods);
	/* '-' and '_' are one: the file keeps the module's own spelling. */
	{
		static const char *const w[] = { "virtio_blk" };
		static const char *const f[] = { "virtio.ko", "virtio-blk.ko" };

		assert_int_equal(resolve(w, 1), 0);
		expect_files(f, 2);
	}
}

static void test_modules_refused(void **state)
{
	static const char *const missing[] = { "virtio_mmio", "nfs" };
	static const char *const builtin_only[] = { "ext4", "virtio_ring" };
	char big[CTR_MODULES_MAX * 40 + 64], *p = big;
	const char *w[1] = { "m0" };
	unsigned int i;

	(void)state;
	assert_int_equal(resolve(missing, 2), -ENOENT);
	assert_string_equal(err, "module nfs: neither built into the kernel nor in modules.dep");
	assert_int_equal(mods.n, 0);
	assert_null(mods.mods);
	assert_int_equal(resolve(builtin_only, 2), 0);
	assert_int_equal(mods.n, 0);
	ctr_modules_free(&mods);
	/* A dependency that has no line of its own. */
	assert_int_equal(ctr_modules_from("a.ko: b.ko\n", 11, NULL, 0, w, 0, &mods, err,
					  sizeof(err)), 0);
	ctr_modules_free(&mods);
	w[0] = "a";
	assert_int_equal(ctr_modules_from("a.ko: x/b.ko\n", 13, NULL, 0, w, 1, &mods, err,
					  sizeof(err)), -ENOENT);
	assert_string_equal(err, "module a: its dependency x/b.ko is not in modules.dep");
	/* A cycle ends (modules.dep has none, a hostile file may). */
	assert_int_equal(ctr_modules_from("a.ko: b.ko\nb.ko: a.ko\n", 22, NULL, 0, w, 1, &mods,
					  err, sizeof(err)), 0);
	assert_int_equal(mods.n, 2);
	ctr_modules_free(&mods);
	/* More modules than an initramfs takes: a chain m0 -> m1 -> ... */
	for (i = 0; i <= CTR_MODULES_MAX; i++)
		p += sprintf(p, "m%u.ko: m%u.ko\n", i, i + 1);
	p += sprintf(p, "m%u.ko:\n", CTR_MODULES_MAX + 1);
	w[0] = "m0";
	assert_int_equal(ctr_modules_from(big, (size_t)(p - big), NULL, 0, w, 1, &mods, err,
					  sizeof(err)), -E2BIG);
	assert_null(mods.mods);
}

/* ---- a module tree on disk ---- */

static char dir[64];

static void put_file(const char *rel, const void *data, size_t len)
{
	char path[512], *slash;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	for (slash = strchr(path + strlen(dir) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static uint8_t *pattern(size_t len, unsigned int seed)
{
	uint8_t *p = malloc(len);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 7 + seed) ^ (i >> 9));
	return p;
}

static void put_xz(const char *rel, const uint8_t *data, size_t len)
{
	size_t cap = len + 4096, n = 0;
	uint8_t *buf = malloc(cap);

	assert_non_null(buf);
	assert_int_equal(lzma_easy_buffer_encode(1, LZMA_CHECK_CRC32, NULL, data, len, buf, &n,
						 cap), LZMA_OK);
	put_file(rel, buf, n);
	free(buf);
}

static void put_zst(const char *rel, const uint8_t *data, size_t len)
{
	size_t cap = ZSTD_compressBound(len), n;
	uint8_t *buf = malloc(cap);

	assert_non_null(buf);
	n = ZSTD_compress(buf, cap, data, len, 1);
	assert_false(ZSTD_isError(n));
	put_file(rel, buf, n);
	free(buf);
}

static int tree_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/hull-mods-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int tree_teardown(void **state)
{
	char cmd[128];

	(void)state;
	ctr_modules_free(&mods);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_module_files(void **state)
{
	uint8_t *a = pattern(100000, 1), *b = pattern(70000, 2), *out;
	char path[512];
	size_t len;

	(void)state;
	put_file("plain.ko", a, 100000);
	put_xz("packed.ko.xz", a, 100000);
	put_zst("packed.ko.zst", b, 70000);
	snprintf(path, sizeof(path), "%s/plain.ko", dir);
	assert_int_equal(ctr_module_read(path, &out, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 100000);
	assert_memory_equal(out, a, len);
	free(out);
	snprintf(path, sizeof(path), "%s/packed.ko.xz", dir);
	assert_int_equal(ctr_module_read(path, &out, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 100000);
	assert_memory_equal(out, a, len);
	free(out);
	snprintf(path, sizeof(path), "%s/packed.ko.zst", dir);
	assert_int_equal(ctr_module_read(path, &out, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 70000);
	assert_memory_equal(out, b, len);
	free(out);

	/* Corrupt, cut short, of another kind, missing. */
	put_file("bad.ko.xz", a, 1000);
	snprintf(path, sizeof(path), "%s/bad.ko.xz", dir);
	assert_int_equal(ctr_module_read(path, &out, &len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "/bad.ko.xz: cannot be decompressed"));
	put_file("bad.ko.zst", b, 1000);
	snprintf(path, sizeof(path), "%s/bad.ko.zst", dir);
	assert_int_equal(ctr_module_read(path, &out, &len, err, sizeof(err)), -EINVAL);
	snprintf(path, sizeof(path), "%s/x.ko.gz", dir);
	assert_int_equal(ctr_module_read(path, &out, &len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a .ko, .ko.xz or .ko.zst file"));
	snprintf(path, sizeof(path), "%s/none.ko", dir);
	assert_int_equal(ctr_module_read(path, &out, &len, err, sizeof(err)), -ENOENT);
	free(a);
	free(b);
}

/* A small file that unpacks past CTR_MODULE_MAX is refused, never unpacked whole. */
static void test_module_bomb(void **state)
{
	size_t big = CTR_MODULE_MAX + 4096;
	uint8_t *zeros = calloc(1, big), *out;
	char path[512];
	size_t len;

	(void)state;
	assert_non_null(zeros);
	put_zst("bomb.ko.zst", zeros, big);
	free(zeros);
	snprintf(path, sizeof(path), "%s/bomb.ko.zst", dir);
	assert_int_equal(ctr_module_read(path, &out, &len, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "larger than 64 MiB unpacked"));
	assert_null(out);
}

/* newc entries of an archive: name -> (mode, data). */
static const uint8_t *cpio_find(const struct cpio *c, const char *name, uint32_t *mode,
				size_t *len)
{
	size_t off = 0;

	while (off + 110 <= c->len) {
		char hdr[111], f[9];
		unsigned long namesize, filesize;
		const char *n;

		memcpy(hdr, c->buf + off, 110);
		hdr[110] = '\0';
		assert_memory_equal(hdr, "070701", 6);
		memcpy(f, hdr + 6 + 8 * 1, 8);
		f[8] = '\0';
		*mode = (uint32_t)strtoul(f, NULL, 16);
		memcpy(f, hdr + 6 + 8 * 6, 8);
		filesize = strtoul(f, NULL, 16);
		memcpy(f, hdr + 6 + 8 * 11, 8);
		namesize = strtoul(f, NULL, 16);
		n = (const char *)c->buf + off + 110;
		off += (110 + namesize + 3) & ~3UL;
		if (!strcmp(n, name)) {
			*len = filesize;
			return c->buf + off;
		}
		off += (filesize + 3) & ~3UL;
	}
	return NULL;
}

static void test_image(void **state)
{
	static const char *const wanted[] = { "vmw_vsock_virtio_transport", "virtiofs" };
	static const char dep[] = "kernel/a/fuse.ko:\n"
				  "kernel/a/virtiofs.ko.xz: kernel/a/fuse.ko\n";
	static const uint8_t spec[] = { 1, 0, 4, 0, 0, 0, 1, 0, 0, 0 };
	uint8_t *a = pattern(5000, 3), *b = pattern(9000, 4);
	char path[512];
	const uint8_t *p;
	struct cpio c;
	uint32_t mode;
	size_t len;

	(void)state;
	put_file("modules.dep", dep, sizeof(dep) - 1);
	put_file("modules.builtin", "kernel/net/vmw_vsock_virtio_transport.ko\n", 41);
	put_file("kernel/a/fuse.ko", a, 5000);
	put_xz("kernel/a/virtiofs.ko.xz", b, 9000);
	assert_int_equal(ctr_modules_resolve(dir, wanted, 2, &mods, err, sizeof(err)), 0);
	assert_int_equal(mods.n, 2);
	boot_cpio_init(&c);
	assert_int_equal(ctr_initramfs_build(spec, sizeof(spec), dir, &mods, &c, err, sizeof(err)),
			 0);
	p = cpio_find(&c, "init", &mode, &len);
	assert_non_null(p);
	assert_int_equal(mode, S_IFREG | 0755);
	assert_int_equal(len, (size_t)(hull_init_end - hull_init_start));
	assert_memory_equal(p, hull_init_start, len);
	p = cpio_find(&c, "hull/spec", &mode, &len);
	assert_non_null(p);
	assert_int_equal(len, sizeof(spec));
	assert_memory_equal(p, spec, len);
	assert_non_null(cpio_find(&c, "dev", &mode, &len));
	assert_int_equal(mode, S_IFDIR | 0755);
	assert_non_null(cpio_find(&c, "hull/modules", &mode, &len));
	p = cpio_find(&c, "hull/modules/fuse.ko", &mode, &len);
	assert_non_null(p);
	assert_int_equal(len, 5000);
	assert_memory_equal(p, a, len);
	p = cpio_find(&c, "hull/modules/virtiofs.ko", &mode, &len);
	assert_non_null(p);
	assert_int_equal(len, 9000);
	assert_memory_equal(p, b, len);
	assert_non_null(cpio_find(&c, "TRAILER!!!", &mode, &len));
	boot_cpio_free(&c);

	/* A module file gone since modules.dep was read: the build names it. */
	snprintf(path, sizeof(path), "%s/kernel/a/fuse.ko", dir);
	unlink(path);
	boot_cpio_init(&c);
	assert_int_equal(ctr_initramfs_build(spec, sizeof(spec), dir, &mods, &c, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/kernel/a/fuse.ko: "));
	boot_cpio_free(&c);
	ctr_modules_free(&mods);

	/* No module tree for the release: the kernel is taken to have it all built in. */
	snprintf(path, sizeof(path), "%s/6.1.192", dir);
	assert_int_equal(ctr_modules_resolve(path, wanted, 2, &mods, err, sizeof(err)), 0);
	assert_int_equal(mods.n, 0);
	/* A tree without modules.dep is an error. */
	snprintf(path, sizeof(path), "%s/modules.dep", dir);
	unlink(path);
	assert_int_equal(ctr_modules_resolve(dir, wanted, 2, &mods, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/modules.dep: "));
	free(a);
	free(b);
}

/* ---- the cache of the fixed part (icache.c) ---- */

struct entry {
	char name[256];
	uint32_t ino, mode;
	const uint8_t *data;
	size_t len;
};

/* Every entry of a whole newc archive, checked to end with its trailer exactly at its end. */
static unsigned int cpio_entries(const uint8_t *buf, size_t len, struct entry *e, unsigned int max)
{
	size_t off = 0;
	unsigned int n = 0;

	for (;;) {
		char f[9];
		unsigned long v[13];
		unsigned int i;

		assert_true(off + 110 <= len);
		assert_memory_equal(buf + off, "070701", 6);
		for (i = 0; i < 13; i++) {
			memcpy(f, buf + off + 6 + 8 * i, 8);
			f[8] = '\0';
			v[i] = strtoul(f, NULL, 16);
		}
		assert_true(v[11] >= 2 && v[11] <= sizeof(e->name));
		assert_true(off + 110 + v[11] <= len);
		assert_int_equal(buf[off + 110 + v[11] - 1], 0);
		assert_true(n < max);
		memcpy(e[n].name, buf + off + 110, v[11]);
		e[n].ino = (uint32_t)v[0];
		e[n].mode = (uint32_t)v[1];
		off += (110 + v[11] + 3) & ~3UL;
		assert_true(off + v[6] <= len);
		e[n].data = buf + off;
		e[n].len = v[6];
		off += (v[6] + 3) & ~3UL;
		if (!strcmp(e[n++].name, "TRAILER!!!"))
			break;
	}
	assert_int_equal(off, len);
	return n;
}

static const char cache_dep[] = "kernel/a/fuse.ko:\n"
				"kernel/a/virtiofs.ko.xz: kernel/a/fuse.ko\n";
static const char *const cache_wanted[] = { "virtiofs" };
static const uint8_t cache_spec[] = { 1, 0, 4, 0, 0, 0, 1, 0, 0, 0, 9 };
static char cdir[128];
static uint8_t *mod_a, *mod_b;

static int cache_setup(void **state)
{
	assert_int_equal(tree_setup(state), 0);
	mod_a = pattern(5000, 3);
	mod_b = pattern(9000, 4);
	put_file("modules.dep", cache_dep, sizeof(cache_dep) - 1);
	put_file("kernel/a/fuse.ko", mod_a, 5000);
	put_xz("kernel/a/virtiofs.ko.xz", mod_b, 9000);
	assert_int_equal(ctr_modules_resolve(dir, cache_wanted, 1, &mods, err, sizeof(err)), 0);
	assert_int_equal(mods.n, 2);
	snprintf(cdir, sizeof(cdir), "%s/cache/initramfs", dir);
	return 0;
}

static int cache_teardown(void **state)
{
	free(mod_a);
	free(mod_b);
	return tree_teardown(state);
}

static char *key_of(const char *id, size_t *len)
{
	char *k;

	assert_int_equal(ctr_icache_key(id, dir, &mods, &k, len), 0);
	return k;
}

static bool same_key(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && !memcmp(a, b, alen);
}

static void set_mtime(const char *rel, time_t sec, long nsec)
{
	struct timespec ts[2] = { { sec, nsec }, { sec, nsec } };
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void test_cache_key(void **state)
{
	char *k0, *k1, name0[CTR_ICACHE_NAME_LEN + 1], name1[CTR_ICACHE_NAME_LEN + 1], path[512];
	size_t l0, l1;
	uint8_t *c = pattern(5001, 3);

	(void)state;
	set_mtime("kernel/a/fuse.ko", 1000000000, 5);
	k0 = key_of("a1", &l0);
	k1 = key_of("a1", &l1);
	assert_true(same_key(k0, l0, k1, l1));
	ctr_icache_name(k0, l0, name0);
	assert_int_equal(strlen(name0), CTR_ICACHE_NAME_LEN);
	assert_memory_equal(name0, "ir-", 3);
	free(k1);
	/* Another hull-init. */
	k1 = key_of("a2", &l1);
	assert_false(same_key(k0, l0, k1, l1));
	ctr_icache_name(k1, l1, name1);
	assert_string_not_equal(name0, name1);
	free(k1);
	/* A module's mtime, by a nanosecond. */
	set_mtime("kernel/a/fuse.ko", 1000000000, 6);
	k1 = key_of("a1", &l1);
	assert_false(same_key(k0, l0, k1, l1));
	free(k1);
	/* Its size, with the old mtime put back (the inode is the same: O_TRUNC). */
	put_file("kernel/a/fuse.ko", c, 5001);
	set_mtime("kernel/a/fuse.ko", 1000000000, 5);
	k1 = key_of("a1", &l1);
	assert_false(same_key(k0, l0, k1, l1));
	free(k1);
	/* Another module directory. */
	assert_int_equal(ctr_icache_key("a1", "/lib/modules/x", &mods, &k1, &l1), -ENOENT);
	/* No identity, a module gone. */
	assert_int_equal(ctr_icache_key("", dir, &mods, &k1, &l1), -EINVAL);
	assert_null(k1);
	snprintf(path, sizeof(path), "%s/kernel/a/fuse.ko", dir);
	unlink(path);
	assert_int_equal(ctr_icache_key("a1", dir, &mods, &k1, &l1), -ENOENT);
	free(k0);
	free(c);
	/* The directory: HULL_CACHE's, or the default when it is unset or empty. */
	assert_int_equal(ctr_icache_dir(NULL, path, sizeof(path)), 0);
	assert_string_equal(path, "/var/cache/hull/initramfs");
	assert_int_equal(ctr_icache_dir("", path, sizeof(path)), 0);
	assert_string_equal(path, "/var/cache/hull/initramfs");
	assert_int_equal(ctr_icache_dir("/x/y", path, sizeof(path)), 0);
	assert_string_equal(path, "/x/y/initramfs");
	assert_int_equal(ctr_icache_dir("/x/y", path, 10), -ENAMETOOLONG);
}

/* The image through ctr_icache_get, finished: 0 with how, the file's name in file. */
static int get_image(const char *d, struct cpio *c, enum ctr_icache_how *how, char *file,
		     size_t filelen)
{
	int ret;

	boot_cpio_init(c);
	ret = ctr_icache_get(d, hull_init_id, dir, &mods, sizeof(cache_spec), c, how, file,
			     filelen, err, sizeof(err));
	return ret ?: ctr_initramfs_finish(c, cache_spec, sizeof(cache_spec), err, sizeof(err));
}

/* The image today's builder made, entry by entry: the same names, modes and contents. */
static void expect_image(const struct cpio *c)
{
	static const struct { const char *name; uint32_t mode; } want[] = {
		{ "dev", S_IFDIR | 0755 }, { "proc", S_IFDIR | 0555 }, { "sys", S_IFDIR | 0555 },
		{ "hull", S_IFDIR | 0700 }, { "init", S_IFREG | 0755 },
		{ "hull/spec", S_IFREG | 0600 }, { "hull/modules", S_IFDIR | 0700 },
		{ "hull/modules/fuse.ko", S_IFREG | 0600 },
		{ "hull/modules/virtiofs.ko", S_IFREG | 0600 }, { "TRAILER!!!", 0 },
	};
	struct entry e[16];
	unsigned int n = cpio_entries(c->buf, c->len, e, 16), i, j;

	assert_int_equal(n, 10);
	for (i = 0; i < 10; i++) {
		for (j = 0; j < n && strcmp(e[j].name, want[i].name); j++)
			;
		assert_true(j < n);
		assert_int_equal(e[j].mode, want[i].mode);
		/* Unique inode numbers: the unpacker links none of them. */
		for (unsigned int k = 0; k < n; k++)
			assert_true(k == j || e[k].ino != e[j].ino);
	}
	assert_string_equal(e[n - 1].name, "TRAILER!!!");
	for (i = 0; i < n; i++) {
		if (!strcmp(e[i].name, "init")) {
			assert_int_equal(e[i].len, (size_t)(hull_init_end - hull_init_start));
			assert_memory_equal(e[i].data, hull_init_start, e[i].len);
		} else if (!strcmp(e[i].name, "hull/spec")) {
			assert_int_equal(e[i].len, sizeof(cache_spec));
			assert_memory_equal(e[i].data, cache_spec, e[i].len);
		} else if (!strcmp(e[i].name, "hull/modules/fuse.ko")) {
			assert_int_equal(e[i].len, 5000);
			assert_memory_equal(e[i].data, mod_a, e[i].len);
		} else if (!strcmp(e[i].name, "hull/modules/virtiofs.ko")) {
			assert_int_equal(e[i].len, 9000);
			assert_memory_equal(e[i].data, mod_b, e[i].len);
		} else {
			assert_int_equal(e[i].len, 0);
		}
	}
}

static unsigned int count_files(const char *d)
{
	DIR *dd = opendir(d);
	struct dirent *de;
	unsigned int n = 0;

	assert_non_null(dd);
	while ((de = readdir(dd)))
		n += de->d_name[0] != '.';
	closedir(dd);
	return n;
}

static void test_cache_round_trip(void **state)
{
	char file[512], file2[512];
	enum ctr_icache_how how;
	struct stat st0, st1;
	struct cpio mem, c1, c2;

	(void)state;
	boot_cpio_init(&mem);
	assert_int_equal(ctr_initramfs_build(cache_spec, sizeof(cache_spec), dir, &mods, &mem, err,
					     sizeof(err)), 0);
	expect_image(&mem);
	/* The first start builds and writes it, the second reads it, both the same image. */
	assert_int_equal(get_image(cdir, &c1, &how, file, sizeof(file)), 0);
	assert_int_equal(how, CTR_ICACHE_STORED);
	assert_int_equal(strncmp(file, cdir, strlen(cdir)), 0);
	assert_int_equal(stat(file, &st0), 0);
	assert_int_equal(get_image(cdir, &c2, &how, file2, sizeof(file2)), 0);
	assert_int_equal(how, CTR_ICACHE_HIT);
	assert_string_equal(file, file2);
	assert_int_equal(stat(file, &st1), 0);
	assert_int_equal(st0.st_ino, st1.st_ino);
	assert_int_equal(st0.st_mtim.tv_nsec, st1.st_mtim.tv_nsec);
	assert_int_equal(count_files(cdir), 1);
	assert_int_equal(c1.len, mem.len);
	assert_memory_equal(c1.buf, mem.buf, mem.len);
	assert_int_equal(c2.len, mem.len);
	assert_memory_equal(c2.buf, mem.buf, mem.len);
	expect_image(&c2);
	boot_cpio_free(&mem);
	boot_cpio_free(&c1);
	boot_cpio_free(&c2);
}

/* The cache file's header, as icache.c writes it. */
struct hdr {
	char magic[8];
	uint32_t version, keylen;
	uint64_t payload;
	uint32_t next_ino, zero;
};

/* Spoil the cache file with f, then see it refused and rebuilt into a good one. */
static void spoil(const char *file, void (*f)(const char *path, struct hdr *h))
{
	char *key, again[512];
	enum ctr_icache_how how;
	struct stat st;
	struct hdr h;
	struct cpio c;
	size_t keylen;
	int fd, dfd;

	fd = open(file, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &h, sizeof(h), 0), sizeof(h));
	f(file, &h);
	assert_int_equal(pwrite(fd, &h, sizeof(h), 0), sizeof(h));
	close(fd);
	key = key_of(hull_init_id, &keylen);
	dfd = open(cdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	boot_cpio_init(&c);
	assert_int_equal(ctr_icache_load(dfd, key, keylen, 0, &c), -EINVAL);
	assert_null(c.buf);
	/* ctr_icache_get rebuilds and replaces it. */
	assert_int_equal(get_image(cdir, &c, &how, again, sizeof(again)), 0);
	assert_int_equal(how, CTR_ICACHE_STORED);
	assert_string_equal(again, file);
	expect_image(&c);
	boot_cpio_free(&c);
	assert_int_equal(ctr_icache_load(dfd, key, keylen, 0, &c), 0);
	boot_cpio_free(&c);
	assert_int_equal(lstat(file, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	close(dfd);
	free(key);
}

static void bad_magic(const char *path, struct hdr *h)
{
	(void)path;
	h->magic[0] ^= 1;
}

static void bad_version(const char *path, struct hdr *h)
{
	(void)path;
	h->version++;
}

static void bad_length(const char *path, struct hdr *h)
{
	(void)path;
	h->payload--;
}

static void huge_length(const char *path, struct hdr *h)
{
	(void)path;
	h->payload = ~0ull;
}

static void bad_ino(const char *path, struct hdr *h)
{
	(void)path;
	h->next_ino = 0;
}

static void cut_short(const char *path, struct hdr *h)
{
	struct stat st;

	(void)h;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size - 1), 0);
}

static void grown(const char *path, struct hdr *h)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);

	(void)h;
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
}

/* The same length of key with one byte changed: the name is right, the key is not. */
static void other_key(const char *path, struct hdr *h)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	char b;

	(void)h;
	assert_int_equal(pread(fd, &b, 1, sizeof(*h) + 5), 1);
	b ^= 0x20;
	assert_int_equal(pwrite(fd, &b, 1, sizeof(*h) + 5), 1);
	close(fd);
}

static void spoilt_payload(const char *path, struct hdr *h)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	assert_int_equal(pwrite(fd, "x", 1, (off_t)(sizeof(*h) + h->keylen)), 1);
	close(fd);
}

static void writable(const char *path, struct hdr *h)
{
	(void)h;
	assert_int_equal(chmod(path, 0666), 0);
}

/* A symlink to a good file elsewhere: never followed. */
static void symlinked(const char *path, struct hdr *h)
{
	char away[512];

	(void)h;
	snprintf(away, sizeof(away), "%s/away", dir);
	assert_int_equal(rename(path, away), 0);
	assert_int_equal(symlink(away, path), 0);
}

static void test_cache_bad_files(void **state)
{
	static void (*const spoilers[])(const char *, struct hdr *) = {
		bad_magic, bad_version, bad_length, huge_length, bad_ino, cut_short, grown,
		other_key, spoilt_payload, writable, symlinked,
	};
	char file[512];
	enum ctr_icache_how how;
	struct cpio c;
	unsigned int i;

	(void)state;
	assert_int_equal(get_image(cdir, &c, &how, file, sizeof(file)), 0);
	assert_int_equal(how, CTR_ICACHE_STORED);
	boot_cpio_free(&c);
	for (i = 0; i < sizeof(spoilers) / sizeof(spoilers[0]); i++)
		spoil(file, spoilers[i]);
	/* An empty file, a directory in its place. */
	assert_int_equal(truncate(file, 0), 0);
	assert_int_equal(get_image(cdir, &c, &how, file, sizeof(file)), 0);
	assert_int_equal(how, CTR_ICACHE_STORED);
	boot_cpio_free(&c);
	assert_int_equal(unlink(file), 0);
	assert_int_equal(mkdir(file, 0700), 0);
	assert_int_equal(get_image(cdir, &c, &how, file, sizeof(file)), 0);
	assert_int_equal(how, CTR_ICACHE_MEMORY);
	expect_image(&c);
	boot_cpio_free(&c);
}

static void test_cache_unwritable(void **state)
{
	char d[512], file[512];
	enum ctr_icache_how how;
	struct cpio c;
	uint32_t mode;
	size_t len;

	(void)state;
	/* HULL_CACHE a file: the directory cannot be made. */
	snprintf(d, sizeof(d), "%s/modules.dep/initramfs", dir);
	assert_int_equal(get_image(d, &c, &how, file, sizeof(file)), 0);
	assert_int_equal(how, CTR_ICACHE_MEMORY);
	assert_string_equal(file, "");
	expect_image(&c);
	boot_cpio_free(&c);
	/* No directory given (HULL_CACHE too long). */
	assert_int_equal(get_image(NULL, &c, &how, file, sizeof(file)), 0);
	assert_int_equal(how, CTR_ICACHE_MEMORY);
	expect_image(&c);
	boot_cpio_free(&c);
	/* No modules (the project kernel): nothing to cache, no directory made. */
	{
		struct ctr_modules none = { 0 };

		boot_cpio_init(&c);
		assert_int_equal(ctr_icache_get(cdir, hull_init_id, "", &none, 0, &c, &how, file,
						sizeof(file), err, sizeof(err)), 0);
		assert_int_equal(how, CTR_ICACHE_MEMORY);
		assert_int_equal(access(cdir, F_OK), -1);
		assert_non_null(cpio_find(&c, "init", &mode, &len));
		assert_null(cpio_find(&c, "hull/modules", &mode, &len));
		boot_cpio_free(&c);
	}
	/* A directory others may write: neither read nor written. */
	assert_int_equal(get_image(cdir, &c, &how, file, sizeof(file)), 0);
	assert_int_equal(how, CTR_ICACHE_STORED);
	boot_cpio_free(&c);
	assert_int_equal(chmod(cdir, 0777), 0);
	assert_int_equal(get_image(cdir, &c, &how, file, sizeof(file)), 0);
	assert_int_equal(how, CTR_ICACHE_MEMORY);
	expect_image(&c);
	boot_cpio_free(&c);
	assert_int_equal(count_files(cdir), 1);
	assert_int_equal(chmod(cdir, 0755), 0);
}

static void test_cache_trim(void **state)
{
	char path[512], name[64], file[512];
	enum ctr_icache_how how;
	struct cpio c;
	unsigned int i;
	int dfd;

	(void)state;
	assert_int_equal(get_image(cdir, &c, &how, file, sizeof(file)), 0);
	boot_cpio_free(&c);
	/* Twelve older entries, a temporary file left long ago, a fresh one, another file. */
	for (i = 0; i < 12; i++) {
		struct timespec ts[2] = { { 1000000 + i, 0 }, { 1000000 + i, 0 } };

		snprintf(name, sizeof(name), "ir-%016x.img", i);
		snprintf(path, sizeof(path), "%s/%s", cdir, name);
		assert_int_equal(close(open(path, O_WRONLY | O_CREAT, 0644)), 0);
		assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	}
	snprintf(path, sizeof(path), "%s/.tmp-1-old", cdir);
	assert_int_equal(close(open(path, O_WRONLY | O_CREAT, 0644)), 0);
	{
		struct timespec ts[2] = { { 1000, 0 }, { 1000, 0 } };

		assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	}
	snprintf(path, sizeof(path), "%s/.tmp-2-new", cdir);
	assert_int_equal(close(open(path, O_WRONLY | O_CREAT, 0644)), 0);
	snprintf(path, sizeof(path), "%s/README", cdir);
	assert_int_equal(close(open(path, O_WRONLY | O_CREAT, 0644)), 0);
	dfd = open(cdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	ctr_icache_trim(dfd, CTR_ICACHE_KEEP);
	close(dfd);
	/* The 8 newest: the real one and ir-...4 to ir-...b. */
	assert_int_equal(access(file, F_OK), 0);
	for (i = 0; i < 12; i++) {
		snprintf(path, sizeof(path), "%s/ir-%016x.img", cdir, i);
		assert_int_equal(access(path, F_OK) == 0, i >= 12 - (CTR_ICACHE_KEEP - 1));
	}
	snprintf(path, sizeof(path), "%s/.tmp-1-old", cdir);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/.tmp-2-new", cdir);
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/README", cdir);
	assert_int_equal(access(path, F_OK), 0);
	/* A new entry written trims too: still 8 of them. */
	unlink(file);
	for (i = 12; i < 14; i++) {
		snprintf(path, sizeof(path), "%s/ir-%016x.img", cdir, i);
		assert_int_equal(close(open(path, O_WRONLY | O_CREAT, 0644)), 0);
	}
	assert_int_equal(get_image(cdir, &c, &how, file, sizeof(file)), 0);
	assert_int_equal(how, CTR_ICACHE_STORED);
	boot_cpio_free(&c);
	assert_int_equal(count_files(cdir), CTR_ICACHE_KEEP + 1); /* and README */
	assert_int_equal(access(file, F_OK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_release_bzimage),
		cmocka_unit_test(test_release_elf),
		cmocka_unit_test(test_release_elf_file),
		cmocka_unit_test(test_release_elf_rodata),
		cmocka_unit_test_teardown(test_modules_order, mods_teardown),
		cmocka_unit_test_teardown(test_modules_refused, mods_teardown),
		cmocka_unit_test_setup_teardown(test_module_files, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_module_bomb, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_image, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_cache_key, cache_setup, cache_teardown),
		cmocka_unit_test_setup_teardown(test_cache_round_trip, cache_setup, cache_teardown),
		cmocka_unit_test_setup_teardown(test_cache_bad_files, cache_setup, cache_teardown),
		cmocka_unit_test_setup_teardown(test_cache_unwritable, cache_setup, cache_teardown),
		cmocka_unit_test_setup_teardown(test_cache_trim, cache_setup, cache_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
