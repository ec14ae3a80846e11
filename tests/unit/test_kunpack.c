/* Unit tests for vmm/kunpack: a bzImage unpacked on the host, kept, and when it is not. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <asm/bootparam.h>
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "arch/x86_64/x86.h"
#include "lib/log.h"
#include "vmm/vm.h"

#define MIB         (1ULL << 20)
#define SETUP_LEN   (5 * 512) /* setup_sects = 4 */
#define PM_CODE_LEN 0x400 /* the protected-mode kernel's "decompressor", before the payload */
#define ELF_LEN     0x1100
#define SEG_OFF     0x1000
#define SEG_LEN     0x100
#define KERN_AT     (16 * MIB)
#define RAM_SIZE    (64 * MIB)

static char top[64], cache[128], kpath[192];

static int setup(void **state)
{
	(void)state;
	log_set_verbose(true); /* the debug lines say why a kernel was left packed */
	snprintf(top, sizeof(top), "/tmp/hull-kunpack-XXXXXX");
	if (!mkdtemp(top))
		return -1;
	snprintf(cache, sizeof(cache), "%s/cache", top);
	snprintf(kpath, sizeof(kpath), "%s/bzImage", top);
	return setenv("HULL_CACHE", cache, 1);
}

static int teardown(void **state)
{
	char cmd[256];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	return system(cmd);
}

/* An ELF kernel: one segment of SEG_LEN bytes of fill at 16 MiB, and the PVH entry note. */
static void make_elf(uint8_t *b, uint8_t fill)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)b;
	Elf64_Phdr *ph = (Elf64_Phdr *)(b + sizeof(*eh));
	Elf64_Nhdr nh = { .n_namesz = 4, .n_descsz = 4, .n_type = 18 };
	uint32_t entry = KERN_AT + 0x40;

	memset(b, 0, ELF_LEN);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = KERN_AT;
	eh->e_phoff = sizeof(*eh);
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 2;
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = SEG_OFF,
			      .p_paddr = KERN_AT, .p_vaddr = KERN_AT, .p_filesz = SEG_LEN,
			      .p_memsz = 0x2000, .p_align = 0x1000 };
	ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = 0x800, .p_filesz = 20, .p_align = 4 };
	memcpy(b + 0x800, &nh, sizeof(nh));
	memcpy(b + 0x800 + sizeof(nh), "Xen", 4);
	memcpy(b + 0x800 + sizeof(nh) + 4, &entry, 4);
	memset(b + SEG_OFF, fill, SEG_LEN);
}

static size_t gzip(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	z_stream z;
	size_t n;

	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
			 Z_OK);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	n = z.total_out;
	deflateEnd(&z);
	return n;
}

/* A bzImage at kpath whose payload is payload (len bytes). */
static void write_bzimage(const uint8_t *payload, size_t len, int relocatable)
{
	size_t total = SETUP_LEN + PM_CODE_LEN + len;
	uint8_t *img = calloc(1, total);
	struct setup_header h;
	FILE *f;

	assert_non_null(img);
	memset(&h, 0, sizeof(h));
	h.setup_sects = 4;
	h.boot_flag = 0xaa55;
	h.jump = 0x6aeb; /* header ends at 0x26c */
	memcpy(&h.header, "HdrS", 4);
	h.version = 0x020f;
	h.loadflags = LOADED_HIGH;
	h.initrd_addr_max = 0x7fffffff;
	h.kernel_alignment = 0x200000;
	h.relocatable_kernel = (uint8_t)relocatable;
	h.xloadflags = XLF_KERNEL_64;
	h.cmdline_size = 2047;
	h.pref_address = KERN_AT;
	h.init_size = 4 * MIB;
	h.payload_offset = PM_CODE_LEN;
	h.payload_length = (uint32_t)len;
	memcpy(img + 0x1f1, &h, sizeof(h));
	memset(img + SETUP_LEN, 0x90, PM_CODE_LEN);
	memcpy(img + SETUP_LEN + PM_CODE_LEN, payload, len);
	f = fopen(kpath, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(img, 1, total, f), total);
	assert_int_equal(fclose(f), 0);
	free(img);
}

/* The usual kernel: an ELF of fill, gzip'd (its trailer ends with the unpacked size). */
static void write_kernel(uint8_t fill, int relocatable)
{
	uint8_t elf[ELF_LEN], gz[ELF_LEN + 512];

	make_elf(elf, fill);
	write_bzimage(gz, gzip(elf, sizeof(elf), gz, sizeof(gz)), relocatable);
}

/* vm_check_kernel on kpath: the kind of kernel it will boot; p is left open for the caller. */
static unsigned int check(struct vm_prep *p, const char *cmdline, bool packed)
{
	struct vm_config cfg;

	config_init(&cfg);
	cfg.kernel = strdup(kpath);
	cfg.cmdline = cmdline ? strdup(cmdline) : NULL;
	cfg.kernel_packed = packed;
	*p = (struct vm_prep){ .initrd_fd = -1, .kernel.fd = -1 };
	assert_int_equal(vm_check_kernel(&cfg, p), 0);
	config_free(&cfg);
	return p->boot.arch_kind;
}

static unsigned int check_once(const char *cmdline, bool packed)
{
	struct vm_prep p;
	unsigned int kind = check(&p, cmdline, packed);

	vm_prep_free_boot(&p);
	return kind;
}

/* How many unpacked kernels the cache holds, and the name of one. */
static int cached(char *name, size_t len)
{
	char dir[256];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s", cache, VM_KERNEL_CACHE_SUBDIR);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "kn-", 3)) {
			if (name)
				snprintf(name, len, "%s/%s", dir, e->d_name);
			n++;
		}
	closedir(d);
	return n;
}

static void clear_cache(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cache);
	assert_int_equal(system(cmd), 0);
}

/* Loaded into RAM: the segment's first byte as guest memory holds it. */
static uint8_t loaded_byte(const struct vm_prep *p)
{
	uint8_t *ram = calloc(1, RAM_SIZE), b;
	struct gmem mem = { 0 };
	struct boot_image bi;
	const char *msg = NULL;

	assert_non_null(ram);
	assert_int_equal(gmem_add(&mem, 0, RAM_SIZE, ram), 0);
	assert_int_equal(arch_load_kernel(&mem, &p->kernel, &bi, &msg), 0);
	assert_int_equal(bi.arch_kind, X86_BOOT_PVH);
	b = ram[KERN_AT];
	free(ram);
	return b;
}

/* Not relocatable: unpacked once and kept; the next check takes it from the cache. */
static void test_unpacked_and_kept(void **state)
{
	char name[512];
	struct vm_prep p;
	uint8_t elf[ELF_LEN];
	FILE *f;

	(void)state;
	clear_cache();
	write_kernel(0xaa, 0);
	assert_int_equal(check(&p, NULL, false), X86_BOOT_PVH);
	assert_true(p.kernel.base > 0);
	assert_int_equal(p.kernel.len, ELF_LEN);
	assert_int_equal(loaded_byte(&p), 0xaa);
	vm_prep_free_boot(&p);
	assert_int_equal(cached(name, sizeof(name)), 1);

	/* What the cache holds is what boots: its segment changed in the file is what loads. */
	f = fopen(name, "r+");
	assert_non_null(f);
	assert_int_equal(fseek(f, -(long)ELF_LEN, SEEK_END), 0);
	assert_int_equal(fread(elf, 1, ELF_LEN, f), ELF_LEN);
	memset(elf + SEG_OFF, 0xcc, SEG_LEN);
	assert_int_equal(fseek(f, -(long)ELF_LEN, SEEK_END), 0);
	assert_int_equal(fwrite(elf, 1, ELF_LEN, f), ELF_LEN);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(check(&p, NULL, false), X86_BOOT_PVH);
	assert_int_equal(loaded_byte(&p), 0xcc);
	vm_prep_free_boot(&p);
	assert_int_equal(cached(NULL, 0), 1);

	/* A new kernel at the same path is another entry (its ctime, its payload). */
	write_kernel(0xbb, 0);
	assert_int_equal(check(&p, NULL, false), X86_BOOT_PVH);
	assert_int_equal(loaded_byte(&p), 0xbb);
	vm_prep_free_boot(&p);
	assert_int_equal(cached(NULL, 0), 2);
}

/* Only with nokaslr does a relocatable kernel leave its own decompressor out. */
static void test_kaslr(void **state)
{
	(void)state;
	clear_cache();
	write_kernel(0xaa, 1);
	assert_int_equal(check_once(NULL, false), X86_BOOT_BZIMAGE);
	assert_int_equal(check_once("console=ttyS0 nokaslr=0", false), X86_BOOT_BZIMAGE);
	assert_int_equal(cached(NULL, 0), 0);
	assert_int_equal(check_once("console=ttyS0 nokaslr", false), X86_BOOT_PVH);
	assert_int_equal(cached(NULL, 0), 1);
}

static void test_packed_flag(void **state)
{
	(void)state;
	clear_cache();
	write_kernel(0xaa, 0);
	assert_int_equal(check_once(NULL, true), X86_BOOT_BZIMAGE);
	assert_int_equal(cached(NULL, 0), 0);
}

/* Whatever is wrong with the payload, the kernel boots as it is, as it would have. */
static void test_left_packed(void **state)
{
	uint8_t elf[ELF_LEN], gz[ELF_LEN + 512], bad[ELF_LEN + 512];
	size_t n;

	(void)state;
	clear_cache();
	make_elf(elf, 0xaa);
	n = gzip(elf, sizeof(elf), gz, sizeof(gz));

	memcpy(bad, gz, n); /* corrupt in the middle */
	bad[n / 2] ^= 0xff;
	write_bzimage(bad, n, 0);
	assert_int_equal(check_once(NULL, false), X86_BOOT_BZIMAGE);

	write_bzimage(gz, n - 10, 0); /* cut short */
	assert_int_equal(check_once(NULL, false), X86_BOOT_BZIMAGE);

	memcpy(bad, gz, n); /* a size in its trailer larger than it holds */
	bad[n - 1] = 0x01;
	write_bzimage(bad, n, 0);
	assert_int_equal(check_once(NULL, false), X86_BOOT_BZIMAGE);

	memcpy(bad, "BZh9", 4); /* bzip2: not read */
	memcpy(bad + 4, gz + 4, n - 4);
	write_bzimage(bad, n, 0);
	assert_int_equal(check_once(NULL, false), X86_BOOT_BZIMAGE);
	assert_int_equal(cached(NULL, 0), 0);

	memset(elf, 0x11, sizeof(elf)); /* unpacks, but to no ELF: kept, never booted */
	write_bzimage(gz, gzip(elf, sizeof(elf), gz, sizeof(gz)), 0);
	assert_int_equal(check_once(NULL, false), X86_BOOT_BZIMAGE);
	assert_int_equal(check_once(NULL, false), X86_BOOT_BZIMAGE);
	assert_int_equal(cached(NULL, 0), 1);
}

/* A cache directory others may write is not used: the kernel unpacks itself. */
static void test_untrusted_cache(void **state)
{
	char dir[256];

	(void)state;
	clear_cache();
	write_kernel(0xaa, 0);
	snprintf(dir, sizeof(dir), "%s/%s", cache, VM_KERNEL_CACHE_SUBDIR);
	assert_int_equal(mkdir(cache, 0755), 0);
	assert_int_equal(mkdir(dir, 0777), 0);
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(check_once(NULL, false), X86_BOOT_BZIMAGE);
	assert_int_equal(cached(NULL, 0), 0);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(check_once(NULL, false), X86_BOOT_PVH);
}

/* In its cgroup hull takes what is kept but unpacks nothing (memory.max has no room for it). */
static void test_in_cgroup(void **state)
{
	static char dummy;
	struct vm_config cfg;
	struct vm_prep p;

	(void)state;
	clear_cache();
	write_kernel(0xaa, 0);
	config_init(&cfg);
	cfg.kernel = strdup(kpath);
	p = (struct vm_prep){ .initrd_fd = -1, .kernel.fd = -1,
			      .cgroup = (struct vm_host_cg *)(void *)&dummy };
	assert_int_equal(vm_check_kernel(&cfg, &p), 0);
	assert_int_equal(p.boot.arch_kind, X86_BOOT_BZIMAGE);
	vm_prep_free_boot(&p);
	assert_int_equal(cached(NULL, 0), 0);
	assert_int_equal(check_once(NULL, false), X86_BOOT_PVH); /* outside: unpacked */
	p = (struct vm_prep){ .initrd_fd = -1, .kernel.fd = -1,
			      .cgroup = (struct vm_host_cg *)(void *)&dummy };
	assert_int_equal(vm_check_kernel(&cfg, &p), 0);
	assert_int_equal(p.boot.arch_kind, X86_BOOT_PVH);
	vm_prep_free_boot(&p);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unpacked_and_kept),
		cmocka_unit_test(test_kaslr),
		cmocka_unit_test(test_packed_flag),
		cmocka_unit_test(test_left_packed),
		cmocka_unit_test(test_untrusted_cache),
		cmocka_unit_test(test_in_cgroup),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
