/* Unit tests for container mode's initramfs: kernel releases, modules.dep, module files, the image. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "container/initbin.h"
#include "container/initramfs.h"
#include "container/proto.h"

static char err[512];

/* ---- kernel releases ---- */

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
	assert_int_equal(ctr_kernel_release(img, sizeof(img), out, sizeof(out)), 0);
	assert_string_equal(out, "6.1.0-57-cloud-amd64");
	/* Too small a buffer, an offset past the image, no string, a '/' in it. */
	assert_int_equal(ctr_kernel_release(img, sizeof(img), out, 8), -ENAMETOOLONG);
	assert_int_equal(ctr_kernel_release(img, 0x1000, out, sizeof(out)), -ENOENT);
	img[0x20e] = img[0x20f] = 0;
	assert_int_equal(ctr_kernel_release(img, sizeof(img), out, sizeof(out)), -ENOENT);
	img[0x20f] = 0x0e;
	memcpy(img + 0x1000, "../etc x", 9);
	assert_int_equal(ctr_kernel_release(img, sizeof(img), out, sizeof(out)), -ENOENT);
	memset(img + 0x1000, 'a', 200);
	assert_int_equal(ctr_kernel_release(img, sizeof(img), out, sizeof(out)), -ENAMETOOLONG);
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
	assert_int_equal(ctr_kernel_release(img, sizeof(img), out, sizeof(out)), 0);
	assert_string_equal(out, "6.1.192");
	/* Cut right after the prefix, or no banner at all. */
	assert_int_equal(ctr_kernel_release(img, 1024 + (size_t)(last - body) + 14, out,
					    sizeof(out)), -ENOENT);
	memset(img + 1024, 'x', sizeof(body));
	assert_int_equal(ctr_kernel_release(img, sizeof(img), out, sizeof(out)), -ENOENT);
	assert_int_equal(ctr_kernel_release(img, 0, out, sizeof(out)), -ENOENT);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_release_bzimage),
		cmocka_unit_test(test_release_elf),
		cmocka_unit_test_teardown(test_modules_order, mods_teardown),
		cmocka_unit_test_teardown(test_modules_refused, mods_teardown),
		cmocka_unit_test_setup_teardown(test_module_files, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_module_bomb, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_image, tree_setup, tree_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
