/* Unit tests for the bzImage loader and format detection: synthetic headers and the real kernel. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <asm/bootparam.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86_64/x86.h"

#define RAM_SIZE  (64ULL << 20)
#define MIB       (1ULL << 20)
#define SETUP_LEN (5 * 512) /* setup_sects = 4 */
#define PAYLOAD   1024
#define IMG_LEN   (SETUP_LEN + PAYLOAD)

static uint8_t *ram;
static struct gmem mem;

static int setup(void **state)
{
	(void)state;
	ram = calloc(1, RAM_SIZE);
	if (!ram)
		return -1;
	memset(&mem, 0, sizeof(mem));
	return gmem_add(&mem, 0, RAM_SIZE, ram);
}

static int teardown(void **state)
{
	(void)state;
	free(ram);
	return 0;
}

static int clear_ram(void **state)
{
	(void)state;
	memset(ram, 0, RAM_SIZE);
	return 0;
}

static void hdr_get(const uint8_t *img, struct setup_header *h)
{
	memcpy(h, img + 0x1f1, sizeof(*h));
}

static void hdr_put(uint8_t *img, const struct setup_header *h)
{
	memcpy(img + 0x1f1, h, sizeof(*h));
}

/* A minimal protocol-2.15 image shaped like Debian's: relocatable, 2 MiB aligned. */
static uint8_t *make_image(void)
{
	uint8_t *img = calloc(1, IMG_LEN);
	struct setup_header h;
	size_t i;

	assert_non_null(img);
	memset(&h, 0, sizeof(h));
	h.setup_sects = 4;
	h.boot_flag = 0xaa55;
	h.jump = 0x6aeb; /* jmp .+0x6a: header ends at 0x26c */
	memcpy(&h.header, "HdrS", 4);
	h.version = 0x020f;
	h.loadflags = LOADED_HIGH;
	h.initrd_addr_max = 0x7fffffff;
	h.kernel_alignment = 0x200000;
	h.relocatable_kernel = 1;
	h.xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G;
	h.cmdline_size = 2047;
	h.pref_address = 16 * MIB;
	h.init_size = 4 * MIB;
	hdr_put(img, &h);
	for (i = SETUP_LEN; i < IMG_LEN; i++)
		img[i] = (uint8_t)(i * 7 + 1);
	return img;
}

static void test_valid(void **state)
{
	uint8_t *img = make_image();
	struct boot_image bi;
	const char *msg = NULL;

	(void)state;
	assert_int_equal(x86_load_kernel(&mem, img, IMG_LEN, MIB, &bi, &msg), 0);
	assert_int_equal(bi.arch_kind, X86_BOOT_BZIMAGE);
	assert_int_equal(bi.entry, MIB + 0x200);
	assert_memory_equal(ram + MIB, img + SETUP_LEN, PAYLOAD);
	assert_int_equal(bi.arch_data_len, 0x26c - 0x1f1);
	assert_memory_equal(bi.arch_data, img + 0x1f1, bi.arch_data_len);
	assert_int_equal(bi.initrd_addr_max, 0x7fffffff);
	assert_int_equal(bi.cmdline_size, 2047);
	/* The decompressor runs from pref_address, so init_size counts from 16 MiB. */
	assert_int_equal(bi.load_start, MIB);
	assert_int_equal(bi.load_end, 20 * MIB);
	free(img);
}

/* From a file: the payload read straight into guest memory; a file that shrank is an error. */
static void test_from_file(void **state)
{
	struct boot_src src = { .fd = memfd_create("bzImage", MFD_CLOEXEC), .len = IMG_LEN };
	uint8_t *img = make_image();
	struct boot_image bi;
	const char *msg = NULL;

	(void)state;
	assert_true(src.fd >= 0);
	assert_int_equal(pwrite(src.fd, img, IMG_LEN, 0), IMG_LEN);
	assert_int_equal(arch_check_kernel(&mem, &src, &bi, &msg), 0);
	assert_int_equal(ram[MIB], 0); /* a check writes nothing */
	assert_int_equal(arch_load_kernel(&mem, &src, &bi, &msg), 0);
	assert_int_equal(bi.arch_kind, X86_BOOT_BZIMAGE);
	assert_int_equal(bi.entry, MIB + 0x200);
	assert_memory_equal(ram + MIB, img + SETUP_LEN, PAYLOAD);
	assert_memory_equal(bi.arch_data, img + 0x1f1, bi.arch_data_len);
	src.len = IMG_LEN + 4096;
	assert_int_equal(arch_load_kernel(&mem, &src, &bi, &msg), -EIO);
	assert_non_null(strstr(msg, "the file shrank while it was read"));
	close(src.fd);
	free(img);
}

static void test_defaults_and_long_header(void **state)
{
	uint8_t *img = make_image();
	struct setup_header h;
	struct boot_image bi;

	(void)state;
	hdr_get(img, &h);
	h.initrd_addr_max = 0;
	h.cmdline_size = 0;
	h.setup_sects = 0; /* means 4 */
	h.jump = 0xffeb;   /* longer than the loader keeps: clipped */
	hdr_put(img, &h);
	assert_int_equal(x86_load_kernel(&mem, img, IMG_LEN, MIB, &bi, NULL), 0);
	assert_int_equal(bi.initrd_addr_max, 0x37ffffff);
	assert_int_equal(bi.cmdline_size, 255);
	assert_int_equal(bi.arch_data_len, X86_SETUP_HEADER_MAX);
	assert_memory_equal(ram + MIB, img + SETUP_LEN, PAYLOAD);
	free(img);
}

static void expect_fail(uint8_t *img, size_t len, uint64_t min_addr, int err, const char *needle)
{
	struct boot_image bi;
	const char *msg = NULL;

	assert_int_equal(x86_load_kernel(&mem, img, len, min_addr, &bi, &msg), err);
	assert_non_null(msg);
	if (!strstr(msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", msg, needle);
	/* Nothing reaches guest memory unless the whole image is acceptable. */
	assert_int_equal(ram[MIB], 0);
	free(img);
}

static void test_old_protocol(void **state)
{
	uint8_t *img = make_image();
	struct setup_header h;

	(void)state;
	hdr_get(img, &h);
	h.version = 0x020a;
	hdr_put(img, &h);
	expect_fail(img, IMG_LEN, MIB, -ENOEXEC, "boot protocol 2.10 too old (need 2.12)");
}

static void test_not_64bit(void **state)
{
	uint8_t *img = make_image();
	struct setup_header h;

	(void)state;
	hdr_get(img, &h);
	h.xloadflags = 0;
	hdr_put(img, &h);
	expect_fail(img, IMG_LEN, MIB, -ENOEXEC, "not a 64-bit kernel");
}

static void test_not_loaded_high(void **state)
{
	uint8_t *img = make_image();
	struct setup_header h;

	(void)state;
	hdr_get(img, &h);
	h.loadflags = 0;
	hdr_put(img, &h);
	expect_fail(img, IMG_LEN, MIB, -ENOEXEC, "load high");
}

static void test_short_header(void **state)
{
	uint8_t *img = make_image();
	struct setup_header h;

	(void)state;
	hdr_get(img, &h);
	h.jump = 0x10eb; /* header would end before init_size */
	hdr_put(img, &h);
	expect_fail(img, IMG_LEN, MIB, -ENOEXEC, "truncated setup header");
}

static void test_bad_alignment(void **state)
{
	uint8_t *img = make_image();
	struct setup_header h;

	(void)state;
	hdr_get(img, &h);
	h.kernel_alignment = 0x300000;
	hdr_put(img, &h);
	expect_fail(img, IMG_LEN, MIB, -ENOEXEC, "power of two");
}

static void test_init_size_too_big(void **state)
{
	uint8_t *img = make_image();
	struct setup_header h;

	(void)state;
	hdr_get(img, &h);
	h.init_size = 48 * MIB + 1; /* 16 MiB + this passes the end of 64 MiB RAM */
	hdr_put(img, &h);
	expect_fail(img, IMG_LEN, MIB, -ENOMEM,
		    "kernel does not fit in guest memory (needs 50331649 bytes at 0x1000000)");
}

static void test_pref_address_huge(void **state)
{
	uint8_t *img = make_image();
	struct setup_header h;

	(void)state;
	hdr_get(img, &h);
	h.pref_address = UINT64_MAX - 0x1000;
	hdr_put(img, &h);
	expect_fail(img, IMG_LEN, MIB, -ENOMEM, "does not fit");
}

static void test_payload_too_big(void **state)
{
	uint8_t *img = make_image();
	struct boot_image bi;
	struct gmem small = { 0 };
	static uint8_t tiny[MIB + 512];
	const char *msg = NULL;

	(void)state;
	assert_int_equal(gmem_add(&small, 0, sizeof(tiny), tiny), 0);
	assert_int_equal(x86_load_kernel(&small, img, IMG_LEN, MIB, &bi, &msg), -ENOMEM);
	assert_string_equal(msg, "kernel does not fit in guest memory (needs 1024 bytes at 0x100000)");
	free(img);
}

static void test_min_addr_above_1m(void **state)
{
	uint8_t *img = make_image();
	struct setup_header h;
	struct boot_image bi;

	(void)state;
	assert_int_equal(x86_load_kernel(&mem, img, IMG_LEN, 3 * MIB, &bi, NULL), 0);
	assert_int_equal(bi.entry, 4 * MIB + 0x200);
	assert_memory_equal(ram + 4 * MIB, img + SETUP_LEN, PAYLOAD);
	assert_int_equal(bi.load_start, 4 * MIB);

	hdr_get(img, &h);
	h.relocatable_kernel = 0;
	hdr_put(img, &h);
	memset(ram, 0, RAM_SIZE);
	expect_fail(img, IMG_LEN, 3 * MIB, -ENOMEM, "not relocatable");
}

static void test_non_relocatable_below_min(void **state)
{
	uint8_t *img = make_image();
	struct setup_header h;

	(void)state;
	hdr_get(img, &h);
	h.relocatable_kernel = 0;
	h.pref_address = 0x1000;
	hdr_put(img, &h);
	expect_fail(img, IMG_LEN, MIB, -ENOMEM, "below");
}

/* Every prefix, in an allocation of exactly that size so ASan sees any over-read. */
static void test_every_prefix(void **state)
{
	uint8_t *img = make_image();
	struct boot_image bi;
	size_t n;
	int ret;

	(void)state;
	for (n = 0; n <= IMG_LEN; n++) {
		uint8_t *p = malloc(n ? n : 1);
		const char *msg = NULL;

		assert_non_null(p);
		memcpy(p, img, n);
		ret = x86_load_kernel(&mem, p, n, MIB, &bi, &msg);
		if (n <= SETUP_LEN + 0x200) {
			assert_int_equal(ret, -ENOEXEC);
			assert_non_null(msg);
		} else {
			assert_int_equal(ret, 0);
			assert_int_equal(bi.entry, MIB + 0x200);
		}
		ret = x86_load_bzimage(&mem, p, n, MIB, &bi, &msg);
		assert_true(ret == 0 || ret == -ENOEXEC);
		free(p);
	}
	free(img);
}

static void test_not_a_kernel(void **state)
{
	static const uint8_t junk[600] = { 1, 2, 3 };
	struct boot_image bi;
	const char *msg = NULL;

	(void)state;
	assert_int_equal(x86_load_kernel(&mem, junk, sizeof(junk), MIB, &bi, &msg), -ENOEXEC);
	assert_string_equal(msg, "not an ELF or bzImage kernel");
	assert_int_equal(x86_load_kernel(&mem, junk, 0, MIB, &bi, NULL), -ENOEXEC);
	assert_int_equal(x86_load_bzimage(&mem, junk, sizeof(junk), MIB, &bi, &msg), -ENOEXEC);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* CI installs Debian kernels; a missing one is a failure, not a skip. */
static void test_real_kernels(void **state)
{
	const size_t big_size = 256 * MIB;
	uint8_t *big = calloc(1, big_size);
	struct gmem bigmem = { 0 };
	glob_t g;
	size_t i, len;

	(void)state;
	assert_non_null(big);
	assert_int_equal(gmem_add(&bigmem, 0, big_size, big), 0);
	assert_int_equal(glob("/boot/vmlinuz-*-amd64", 0, NULL, &g), 0);
	assert_true(g.gl_pathc > 0);
	for (i = 0; i < g.gl_pathc; i++) {
		uint8_t *img = slurp(g.gl_pathv[i], &len);
		struct boot_image bi;
		struct setup_header h;
		const char *msg = NULL;
		size_t setup_len;
		int ret;

		ret = x86_load_kernel(&bigmem, img, len, MIB, &bi, &msg);
		if (ret)
			fail_msg("%s: %d %s", g.gl_pathv[i], ret, msg ? msg : "");
		hdr_get(img, &h);
		setup_len = ((size_t)h.setup_sects + 1) * 512;
		assert_int_equal(bi.arch_kind, X86_BOOT_BZIMAGE);
		assert_int_equal(bi.entry, 0x100000 + 0x200);
		assert_true(h.version >= 0x020c);
		assert_int_equal(bi.arch_data_len, 0x202 + img[0x201] - 0x1f1);
		assert_memory_equal(big + MIB, img + setup_len, len - setup_len);
		assert_int_equal(bi.load_end, h.pref_address + h.init_size);
		assert_int_equal(bi.cmdline_size, h.cmdline_size);

		/* 64 MiB is too little: the kernel decompresses at 16 MiB. */
		ret = x86_load_kernel(&mem, img, len, MIB, &bi, &msg);
		assert_int_equal(ret, -ENOMEM);
		free(img);
	}
	globfree(&g);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_valid, clear_ram),
		cmocka_unit_test_setup(test_from_file, clear_ram),
		cmocka_unit_test_setup(test_defaults_and_long_header, clear_ram),
		cmocka_unit_test_setup(test_old_protocol, clear_ram),
		cmocka_unit_test_setup(test_not_64bit, clear_ram),
		cmocka_unit_test_setup(test_not_loaded_high, clear_ram),
		cmocka_unit_test_setup(test_short_header, clear_ram),
		cmocka_unit_test_setup(test_bad_alignment, clear_ram),
		cmocka_unit_test_setup(test_init_size_too_big, clear_ram),
		cmocka_unit_test_setup(test_pref_address_huge, clear_ram),
		cmocka_unit_test_setup(test_payload_too_big, clear_ram),
		cmocka_unit_test_setup(test_min_addr_above_1m, clear_ram),
		cmocka_unit_test_setup(test_non_relocatable_below_min, clear_ram),
		cmocka_unit_test_setup(test_every_prefix, clear_ram),
		cmocka_unit_test_setup(test_not_a_kernel, clear_ram),
		cmocka_unit_test_setup(test_real_kernels, clear_ram),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
