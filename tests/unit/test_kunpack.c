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
/* What the next kernels written say: their header's pref_address, their ELF's e_entry. */
static uint64_t hdr_pref = KERN_AT, elf_entry = KERN_AT;

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
	eh->e_entry = elf_entry;
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
	h.pref_address = hdr_pref;
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

/* Relocatable without a relocation table (no RANDOMIZE_BASE): it never moves, booted as it is. */
static void test_relocatable_unmoved(void **state)
{
	struct vm_prep p;

	(void)state;
	clear_cache();
	write_kernel(0xaa, 1);
	assert_int_equal(check(&p, NULL, false), X86_BOOT_PVH);
	assert_false(p.kaslr.on);
	vm_prep_free_boot(&p);
	assert_int_equal(check_once("console=ttyS0 nokaslr", false), X86_BOOT_PVH);
	assert_int_equal(cached(NULL, 0), 1);
}

/* Values the relocations move, at these offsets in the segment (linked at KERN_AT). */
#define R64_OFF	 0x10
#define R32_OFF	 0x20
#define RNEG_OFF 0x30
#define V64	 0xffffffff81000040ULL
#define V32	 0x81000080U
#define VNEG	 0x00001000U
#define VIRT(off) ((uint32_t)(0x81000000U + (off))) /* the kernel's address of a byte, low half */

/* A relocatable kernel with its relocation table (words, n of them) after its ELF. */
static void write_reloc_kernel(const uint32_t *words, size_t n, size_t extra)
{
	size_t len = ELF_LEN + n * 4 + extra;
	uint8_t *elf = calloc(1, len), *gz = malloc(len + 512);
	uint64_t v64 = V64;
	uint32_t v32 = V32, vneg = VNEG;

	assert_non_null(elf);
	assert_non_null(gz);
	make_elf(elf, 0xaa);
	memcpy(elf + SEG_OFF + R64_OFF, &v64, 8);
	memcpy(elf + SEG_OFF + R32_OFF, &v32, 4);
	memcpy(elf + SEG_OFF + RNEG_OFF, &vneg, 4);
	memcpy(elf + ELF_LEN, words, n * 4);
	write_bzimage(gz, gzip(elf, len, gz, len + 512), 1);
	free(gz);
	free(elf);
}

static const uint32_t good_relocs[] = { 0, VIRT(R64_OFF), 0, VIRT(RNEG_OFF), 0, VIRT(R32_OFF) };

/*
 * With its table and without nokaslr, hull places it: at every load a place in RAM clear of
 * the initrd and a virtual offset, chosen at random, with every value moved by the offset and
 * the zero page told (KASLR_FLAG), as its decompressor would have done.
 */
static void test_kaslr_by_hull(void **state)
{
	const uint64_t avoid = 48 * MIB, avoid_len = 4 * MIB;
	uint8_t *ram = calloc(1, RAM_SIZE);
	struct setup_header h;
	struct gmem mem = { 0 };
	struct boot_image bi;
	const char *msg = NULL;
	uint64_t first_phys = 0, first_virt = 0, v64, delta, off;
	bool phys_moved = false, virt_moved = false;
	uint32_t v32, vneg;
	struct vm_prep p;
	int i;

	(void)state;
	clear_cache();
	assert_non_null(ram);
	assert_int_equal(gmem_add(&mem, 0, RAM_SIZE, ram), 0);
	write_reloc_kernel(good_relocs, 6, 0);
	assert_int_equal(check(&p, NULL, false), X86_BOOT_BZIMAGE);
	assert_true(p.kaslr.on);
	assert_int_equal(p.kaslr.relocs_len, sizeof(good_relocs));
	/* The first pass places the rest above it where it is linked, init_size long. */
	assert_int_equal(p.boot.load_start, KERN_AT);
	assert_int_equal(p.boot.load_end, KERN_AT + 4 * MIB);
	memcpy(&h, p.boot.arch_data, sizeof(h));
	assert_true(h.loadflags & KASLR_FLAG);
	assert_int_equal(h.kernel_alignment, 0x200000);

	for (i = 0; i < 64; i++) {
		memset(ram, 0, RAM_SIZE);
		assert_int_equal(arch_kaslr_load(&mem, &p.kernel, &p.kaslr, avoid, avoid_len, &bi,
						 &msg), 0);
		off = p.kaslr.phys;
		assert_int_equal(off % (2 * MIB), 0);
		assert_true(off >= KERN_AT && off + 4 * MIB <= RAM_SIZE);
		assert_true(off + 4 * MIB <= avoid || off >= avoid + avoid_len);
		assert_int_equal(bi.arch_kind, X86_BOOT_BZIMAGE);
		assert_int_equal(bi.entry, off); /* e_entry, moved with the kernel */
		assert_int_equal(bi.load_start, off);
		memcpy(&h, bi.arch_data, sizeof(h));
		assert_true(h.loadflags & KASLR_FLAG);
		delta = p.kaslr.virt - KERN_AT;
		assert_int_equal(delta % (2 * MIB), 0);
		assert_true(p.kaslr.virt + 4 * MIB <= (1ULL << 30));
		assert_int_equal(ram[off], 0xaa);
		memcpy(&v64, ram + off + R64_OFF, 8);
		memcpy(&v32, ram + off + R32_OFF, 4);
		memcpy(&vneg, ram + off + RNEG_OFF, 4);
		assert_int_equal(v64, V64 + delta);
		assert_int_equal(v32, (uint32_t)(V32 + delta));
		assert_int_equal(vneg, (uint32_t)(VNEG - delta));
		if (i == 0) {
			first_phys = off;
			first_virt = p.kaslr.virt;
		}
		phys_moved |= off != first_phys;
		virt_moved |= p.kaslr.virt != first_virt;
	}
	/* 22 places and 490 offsets: 64 loads all alike would be chance of 2^-280. */
	assert_true(phys_moved);
	assert_true(virt_moved);

	/* Numbers given instead of getrandom's (a fuzzer's): the n-th place and offset. */
	for (i = 0; i < 4; i++) {
		const uint64_t rnd[2] = { (uint64_t)i / 2, (uint64_t)i / 2 };

		p.kaslr.rnd = rnd;
		assert_int_equal(arch_kaslr_load(&mem, &p.kernel, &p.kaslr, avoid, avoid_len, &bi,
						 &msg), 0);
		assert_int_equal(p.kaslr.phys, KERN_AT + (uint64_t)(i / 2) * 2 * MIB);
		assert_int_equal(p.kaslr.virt, KERN_AT + (uint64_t)(i / 2) * 2 * MIB);
	}
	p.kaslr.rnd = NULL;

	/* No room clear of the initrd: a clear error, nothing loaded. */
	assert_int_equal(arch_kaslr_load(&mem, &p.kernel, &p.kaslr, KERN_AT, RAM_SIZE - KERN_AT,
					 &bi, &msg), -ENOMEM);
	vm_prep_free_boot(&p);
	free(ram);

	/* Memory withheld on its command line: left to its decompressor, which heeds it. */
	assert_int_equal(check(&p, "console=ttyS0 mem=32M", false), X86_BOOT_BZIMAGE);
	assert_false(p.kaslr.on);
	vm_prep_free_boot(&p);
	assert_int_equal(check_once("console=ttyS0 memmap=4M$20M", false), X86_BOOT_BZIMAGE);
	assert_int_equal(check_once("console=ttyS0 hugepages=4", false), X86_BOOT_BZIMAGE);
	assert_int_equal(check_once("console=ttyS0 nokaslr mem=32M", false), X86_BOOT_PVH);

	/* nokaslr: as it is linked, through its PVH entry. */
	assert_int_equal(check(&p, "console=ttyS0 nokaslr", false), X86_BOOT_PVH);
	assert_false(p.kaslr.on);
	vm_prep_free_boot(&p);
}

/*
 * A table longer than the pieces hull reads it in (4096 words): every entry counts, each of
 * the many naming one value moves it once more.
 */
static void test_kaslr_long_table(void **state)
{
	const size_t n64 = 5000, n32 = 3000, n = n64 + n32 + 4;
	uint32_t *words = calloc(n, 4);
	uint8_t *ram = calloc(1, RAM_SIZE);
	struct gmem mem = { 0 };
	struct boot_image bi;
	const char *msg = NULL;
	uint64_t v64, delta;
	uint32_t v32, vneg;
	struct vm_prep p;
	size_t i;

	(void)state;
	clear_cache();
	assert_non_null(words);
	assert_non_null(ram);
	assert_int_equal(gmem_add(&mem, 0, RAM_SIZE, ram), 0);
	for (i = 0; i < n64; i++)
		words[1 + i] = VIRT(R64_OFF);
	words[n64 + 2] = VIRT(RNEG_OFF);
	for (i = 0; i < n32; i++)
		words[n64 + 4 + i] = VIRT(R32_OFF);
	write_reloc_kernel(words, n, 0);
	assert_int_equal(check(&p, NULL, false), X86_BOOT_BZIMAGE);
	assert_true(p.kaslr.on);
	do
		assert_int_equal(arch_kaslr_load(&mem, &p.kernel, &p.kaslr, 0, 0, &bi, &msg), 0);
	while (p.kaslr.virt == KERN_AT); /* an offset of 0 moves nothing: 1 in 490 */
	delta = p.kaslr.virt - KERN_AT;
	memcpy(&v64, ram + p.kaslr.phys + R64_OFF, 8);
	memcpy(&v32, ram + p.kaslr.phys + R32_OFF, 4);
	memcpy(&vneg, ram + p.kaslr.phys + RNEG_OFF, 4);
	assert_int_equal(v64, V64 + n64 * delta);
	assert_int_equal(v32, (uint32_t)(V32 + n32 * delta));
	assert_int_equal(vneg, (uint32_t)(VNEG - delta));
	vm_prep_free_boot(&p);
	free(ram);
	free(words);
}

/* A table that is malformed or points outside the kernel: left to its own decompressor. */
static void test_kaslr_bad_table(void **state)
{
	const uint32_t outside[] = { 0, VIRT(R64_OFF), 0, 0x90000000U, 0, VIRT(R32_OFF) };
	const uint32_t past_end[] = { 0, VIRT(0x1ffc), 0, 0, VIRT(R32_OFF) };
	const uint32_t below[] = { 0, 0, 0, 0x80ff0000U };
	const uint32_t two_lists[] = { 0, VIRT(RNEG_OFF), 0, VIRT(R32_OFF) };
	const uint32_t extra_words[] = { VIRT(R32_OFF), 0, 0, 0, VIRT(R32_OFF) };
	struct vm_prep p;

	(void)state;
	clear_cache();
	write_reloc_kernel(outside, 6, 0);
	assert_int_equal(check(&p, NULL, false), X86_BOOT_BZIMAGE);
	assert_false(p.kaslr.on);
	vm_prep_free_boot(&p);
	write_reloc_kernel(past_end, 5, 0); /* a 64-bit value's last byte past the segment */
	assert_int_equal(check_once(NULL, false), X86_BOOT_BZIMAGE);
	write_reloc_kernel(below, 4, 0);
	assert_int_equal(check_once(NULL, false), X86_BOOT_BZIMAGE);
	write_reloc_kernel(two_lists, 4, 0);
	assert_int_equal(check_once(NULL, false), X86_BOOT_BZIMAGE);
	write_reloc_kernel(extra_words, 5, 0);
	assert_int_equal(check_once(NULL, false), X86_BOOT_BZIMAGE);
	write_reloc_kernel(good_relocs, 6, 3); /* not whole words */
	assert_int_equal(check_once(NULL, false), X86_BOOT_BZIMAGE);
	/* Linked elsewhere than its header says; its own entry outside it (PVH's is inside). */
	hdr_pref = 2 * KERN_AT;
	write_reloc_kernel(good_relocs, 6, 0);
	assert_int_equal(check_once(NULL, false), X86_BOOT_BZIMAGE);
	hdr_pref = KERN_AT;
	elf_entry = KERN_AT + 0x4000;
	write_reloc_kernel(good_relocs, 6, 0);
	assert_int_equal(check_once(NULL, false), X86_BOOT_BZIMAGE);
	elf_entry = KERN_AT;
	/* The same tables with nokaslr are never read. */
	assert_int_equal(check_once("nokaslr", false), X86_BOOT_PVH);
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
		cmocka_unit_test(test_relocatable_unmoved),
		cmocka_unit_test(test_kaslr_by_hull),
		cmocka_unit_test(test_kaslr_long_table),
		cmocka_unit_test(test_kaslr_bad_table),
		cmocka_unit_test(test_packed_flag),
		cmocka_unit_test(test_left_packed),
		cmocka_unit_test(test_untrusted_cache),
		cmocka_unit_test(test_in_cgroup),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
