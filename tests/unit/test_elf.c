/* Unit tests for the ELF vmlinux loader: segments, the PVH note, and malformed images. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86_64/x86.h"

#define RAM_SIZE (64ULL << 20)
#define MIB      (1ULL << 20)
#define IMG_CAP  0x2000
#define NOTE_OFF 0x1200

static uint8_t *ram;
static struct gmem mem;

/* A test image: header, program headers at 64, segment bytes from 0x1000. */
struct img {
	uint8_t b[IMG_CAP];
	size_t len;
	Elf64_Ehdr *eh;
	Elf64_Phdr *ph;
};

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

/* Two segments: text at 1 MiB with 0x2000 of bss after 0x100 bytes, data at 2 MiB. */
static void make(struct img *im)
{
	memset(im, 0, sizeof(*im));
	im->eh = (Elf64_Ehdr *)im->b;
	im->ph = (Elf64_Phdr *)(im->b + sizeof(Elf64_Ehdr));
	memcpy(im->eh->e_ident, ELFMAG, SELFMAG);
	im->eh->e_ident[EI_CLASS] = ELFCLASS64;
	im->eh->e_ident[EI_DATA] = ELFDATA2LSB;
	im->eh->e_ident[EI_VERSION] = EV_CURRENT;
	im->eh->e_type = ET_EXEC;
	im->eh->e_machine = EM_X86_64;
	im->eh->e_version = EV_CURRENT;
	im->eh->e_entry = MIB + 0x10;
	im->eh->e_phoff = sizeof(Elf64_Ehdr);
	im->eh->e_ehsize = sizeof(Elf64_Ehdr);
	im->eh->e_phentsize = sizeof(Elf64_Phdr);
	im->eh->e_phnum = 2;
	im->ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = 0x1000,
				  .p_paddr = MIB, .p_vaddr = MIB, .p_filesz = 0x100,
				  .p_memsz = 0x2100, .p_align = 0x1000 };
	im->ph[1] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_W, .p_offset = 0x1100,
				  .p_paddr = 2 * MIB, .p_vaddr = 2 * MIB, .p_filesz = 0x80,
				  .p_memsz = 0x80, .p_align = 0x1000 };
	memset(im->b + 0x1000, 0xaa, 0x100);
	memset(im->b + 0x1100, 0xbb, 0x80);
	im->len = 0x1180;
}

/* Append a note at *off inside the image; returns the bytes used. */
static size_t put_note(struct img *im, size_t off, const char *name, uint32_t namesz,
		       uint32_t type, const void *desc, uint32_t descsz)
{
	Elf64_Nhdr nh = { .n_namesz = namesz, .n_descsz = descsz, .n_type = type };
	size_t start = off;

	memcpy(im->b + off, &nh, sizeof(nh));
	off += sizeof(nh);
	memcpy(im->b + off, name, namesz);
	off += (namesz + 3) & ~3U;
	memcpy(im->b + off, desc, descsz);
	off += (descsz + 3) & ~3U;
	return off - start;
}

/* A GNU build-id note, then Xen's PHYS32_ENTRY with a desc of descsz bytes. */
static void add_pvh(struct img *im, uint64_t entry, uint32_t descsz)
{
	static const uint8_t build_id[20] = { 1, 2, 3 };
	size_t n = 0;

	n += put_note(im, NOTE_OFF + n, "GNU", 4, NT_GNU_BUILD_ID, build_id, sizeof(build_id));
	n += put_note(im, NOTE_OFF + n, "Xen", 4, 18, &entry, descsz);
	im->ph[2] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = NOTE_OFF, .p_filesz = n,
				  .p_align = 4 };
	im->eh->e_phnum = 3;
	im->len = NOTE_OFF + n;
}

static void test_valid(void **state)
{
	struct img im;
	struct boot_image bi;
	const char *msg = NULL;
	size_t i;

	(void)state;
	make(&im);
	memset(ram + MIB, 0xff, 0x3000); /* stale bytes the bss must not inherit */
	assert_int_equal(x86_load_kernel(&mem, im.b, im.len, MIB, &bi, &msg), 0);
	assert_int_equal(bi.arch_kind, X86_BOOT_ELF);
	assert_int_equal(bi.entry, MIB + 0x10);
	assert_int_equal(bi.load_start, MIB);
	assert_int_equal(bi.load_end, 2 * MIB + 0x80);
	assert_int_equal(bi.arch_data_len, 0);
	assert_int_equal(bi.initrd_addr_max, 0x37ffffff);
	assert_int_equal(bi.cmdline_size, 2047);
	for (i = 0; i < 0x100; i++)
		assert_int_equal(ram[MIB + i], 0xaa);
	for (; i < 0x2100; i++)
		assert_int_equal(ram[MIB + i], 0);
	assert_int_equal(ram[MIB + 0x2100], 0xff);
	for (i = 0; i < 0x80; i++)
		assert_int_equal(ram[2 * MIB + i], 0xbb);
}

static void test_pvh(void **state)
{
	static const uint32_t sizes[] = { 4, 8 };
	struct img im;
	struct boot_image bi;
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		make(&im);
		add_pvh(&im, MIB + 0x40, sizes[i]);
		assert_int_equal(x86_load_kernel(&mem, im.b, im.len, MIB, &bi, NULL), 0);
		assert_int_equal(bi.arch_kind, X86_BOOT_PVH);
		assert_int_equal(bi.entry, MIB + 0x40);
		assert_int_equal(bi.initrd_addr_max, 0xffffffff);
		assert_int_equal(ram[MIB], 0xaa);
	}
}

/* An image in a file: the same load by pread; a note segment too large is refused. */
static void test_pvh_from_file(void **state)
{
	struct boot_src src = { .fd = memfd_create("vmlinux", MFD_CLOEXEC) };
	struct boot_image bi;
	const char *msg = NULL;
	struct img im;

	(void)state;
	assert_true(src.fd >= 0);
	make(&im);
	add_pvh(&im, MIB + 0x40, 8);
	assert_int_equal(pwrite(src.fd, im.b, im.len, 0), (ssize_t)im.len);
	src.len = im.len;
	assert_int_equal(arch_check_kernel(&mem, &src, &bi, &msg), 0);
	assert_int_equal(ram[MIB], 0); /* a check writes nothing */
	assert_int_equal(arch_load_kernel(&mem, &src, &bi, &msg), 0);
	assert_int_equal(bi.arch_kind, X86_BOOT_PVH);
	assert_int_equal(bi.entry, MIB + 0x40);
	assert_memory_equal(ram + MIB, im.b + 0x1000, 0x100);
	/* The file is shorter than its size said (it shrank): an error, named. */
	src.len = IMG_CAP * 2;
	im.ph[0].p_offset = IMG_CAP + 0x10;
	assert_int_equal(pwrite(src.fd, im.b, im.len, 0), (ssize_t)im.len);
	assert_int_equal(arch_load_kernel(&mem, &src, &bi, &msg), -EIO);
	assert_non_null(strstr(msg, "shrank"));
	/* A note segment past BOOT_NOTES_MAX is not read. */
	make(&im);
	add_pvh(&im, MIB + 0x40, 8);
	im.ph[2].p_filesz = BOOT_NOTES_MAX + 1;
	src.len = NOTE_OFF + BOOT_NOTES_MAX + 1;
	assert_int_equal(ftruncate(src.fd, (off_t)src.len), 0);
	assert_int_equal(pwrite(src.fd, im.b, im.len, 0), (ssize_t)im.len);
	assert_int_equal(arch_check_kernel(&mem, &src, &bi, &msg), -ENOEXEC);
	assert_non_null(strstr(msg, "note segment of 65537 bytes"));
	/* A good note segment read, then a bad one: refused, and nothing leaks (ASan). */
	make(&im);
	add_pvh(&im, MIB + 0x40, 8);
	im.ph[3] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = IMG_CAP * 4, .p_filesz = 16 };
	im.eh->e_phnum = 4;
	src.len = im.len;
	assert_int_equal(ftruncate(src.fd, (off_t)src.len), 0);
	assert_int_equal(pwrite(src.fd, im.b, im.len, 0), (ssize_t)im.len);
	assert_int_equal(arch_check_kernel(&mem, &src, &bi, &msg), -ENOEXEC);
	assert_non_null(strstr(msg, "note segment outside the file"));
	close(src.fd);
}

static void expect_fail(struct img *im, uint64_t min_addr, int err, const char *needle)
{
	struct boot_image bi;
	const char *msg = NULL;

	assert_int_equal(x86_load_kernel(&mem, im->b, im->len, min_addr, &bi, &msg), err);
	assert_non_null(msg);
	if (!strstr(msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", msg, needle);
	/* Validation precedes copying: no segment may be half-loaded. */
	assert_int_equal(ram[MIB], 0);
	assert_int_equal(ram[2 * MIB], 0);
}

static void test_bad_pvh_notes(void **state)
{
	struct img im;
	uint32_t v = 0x100040;

	(void)state;
	make(&im);
	add_pvh(&im, 0x100000000ULL, 8);
	expect_fail(&im, MIB, -ENOEXEC, "above 4 GiB");

	make(&im);
	add_pvh(&im, MIB, 2);
	expect_fail(&im, MIB, -ENOEXEC, "PVH entry note of 2 bytes");

	make(&im);
	add_pvh(&im, 0x500000, 4);
	expect_fail(&im, MIB, -ENOEXEC, "outside the loaded segments");

	/* A name size that would wrap 32-bit padding arithmetic. */
	make(&im);
	put_note(&im, NOTE_OFF, "Xen", 4, 18, &v, 4);
	memcpy(im.b + NOTE_OFF, &(uint32_t){ 0xffffffff }, 4);
	im.ph[2] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = NOTE_OFF, .p_filesz = 20 };
	im.eh->e_phnum = 3;
	im.len = NOTE_OFF + 20;
	expect_fail(&im, MIB, -ENOEXEC, "truncated note");

	/* A descriptor running past the note segment. */
	memcpy(im.b + NOTE_OFF, &(uint32_t){ 4 }, 4);
	memcpy(im.b + NOTE_OFF + 4, &(uint32_t){ 0xfffffff0 }, 4);
	expect_fail(&im, MIB, -ENOEXEC, "truncated note");

	/* A note segment outside the file. */
	im.ph[2].p_offset = UINT64_MAX - 4;
	expect_fail(&im, MIB, -ENOEXEC, "note segment outside the file");
}

static void test_unpadded_last_note(void **state)
{
	struct img im;
	struct boot_image bi;
	uint8_t desc[2] = { 0 };

	(void)state;
	make(&im);
	add_pvh(&im, MIB + 0x40, 4);
	/* A trailing 2-byte note with its padding cut off by the segment end. */
	put_note(&im, NOTE_OFF + im.ph[2].p_filesz, "X", 2, 1, desc, 2);
	im.ph[2].p_filesz += 12 + 4 + 2;
	im.len += 12 + 4 + 2;
	assert_int_equal(x86_load_kernel(&mem, im.b, im.len, MIB, &bi, NULL), 0);
	assert_int_equal(bi.arch_kind, X86_BOOT_PVH);
}

static void test_every_prefix(void **state)
{
	struct img im;
	struct boot_image bi;
	size_t n;
	int ret;

	(void)state;
	make(&im);
	add_pvh(&im, MIB + 0x40, 8);
	for (n = 0; n <= im.len; n++) {
		uint8_t *p = malloc(n ? n : 1);

		assert_non_null(p);
		memcpy(p, im.b, n);
		ret = x86_load_kernel(&mem, p, n, MIB, &bi, NULL);
		assert_int_equal(ret, n == im.len ? 0 : -ENOEXEC);
		ret = x86_load_elf(&mem, p, n, MIB, &bi, NULL);
		assert_int_equal(ret, n == im.len ? 0 : -ENOEXEC);
		free(p);
	}
}

static void test_header_checks(void **state)
{
	struct img im;

	(void)state;
	make(&im);
	im.eh->e_machine = EM_386;
	expect_fail(&im, MIB, -ENOEXEC, "machine 3 is not this machine's (62)");

	make(&im);
	im.eh->e_ident[EI_CLASS] = ELFCLASS32;
	expect_fail(&im, MIB, -ENOEXEC, "ELF64");

	make(&im);
	im.eh->e_ident[EI_DATA] = ELFDATA2MSB;
	expect_fail(&im, MIB, -ENOEXEC, "little-endian");

	make(&im);
	im.eh->e_type = ET_DYN;
	expect_fail(&im, MIB, -ENOEXEC, "not an executable");

	make(&im);
	im.eh->e_phentsize = sizeof(Elf64_Phdr) + 8;
	expect_fail(&im, MIB, -ENOEXEC, "program header table");

	make(&im);
	im.eh->e_phnum = 65;
	expect_fail(&im, MIB, -ENOEXEC, "program header table");

	make(&im);
	im.eh->e_phnum = 0xffff;
	expect_fail(&im, MIB, -ENOEXEC, "program header table");

	make(&im);
	im.eh->e_phnum = 0;
	expect_fail(&im, MIB, -ENOEXEC, "program header table");

	make(&im);
	im.eh->e_phoff = im.len - sizeof(Elf64_Phdr);
	expect_fail(&im, MIB, -ENOEXEC, "outside the file");

	make(&im);
	im.eh->e_phoff = UINT64_MAX - 8;
	expect_fail(&im, MIB, -ENOEXEC, "outside the file");

	make(&im);
	im.eh->e_entry = 3 * MIB;
	expect_fail(&im, MIB, -ENOEXEC, "entry point 0x300000 outside");

	make(&im);
	im.ph[0].p_type = PT_NULL;
	im.ph[1].p_type = PT_NULL;
	expect_fail(&im, MIB, -ENOEXEC, "no loadable segments");
}

static void test_segment_checks(void **state)
{
	struct img im;

	(void)state;
	make(&im);
	im.ph[1].p_filesz = 0x81;
	expect_fail(&im, MIB, -ENOEXEC, "p_filesz > p_memsz");

	make(&im);
	im.ph[1].p_offset = im.len - 0x7f;
	expect_fail(&im, MIB, -ENOEXEC, "past the file");

	make(&im);
	im.ph[1].p_offset = UINT64_MAX - 0x10;
	expect_fail(&im, MIB, -ENOEXEC, "past the file");

	make(&im);
	im.ph[1].p_paddr = MIB + 0x2000; /* inside segment 0's bss */
	expect_fail(&im, MIB, -ENOEXEC, "overlap");

	make(&im);
	im.ph[1].p_paddr = MIB - 0x40; /* ends inside segment 0 */
	expect_fail(&im, 0, -ENOEXEC, "overlap");

	make(&im);
	im.ph[1].p_paddr = UINT64_MAX - 0x40;
	expect_fail(&im, MIB, -ENOEXEC, "wraps");

	make(&im);
	im.ph[1].p_paddr = 0x1000;
	expect_fail(&im, MIB, -ENOEXEC, "below 0x100000");

	make(&im);
	im.ph[1].p_paddr = 63 * MIB;
	im.ph[1].p_memsz = 2 * MIB;
	expect_fail(&im, MIB, -ENOMEM,
		    "kernel does not fit in guest memory (needs 2097152 bytes at 0x3f00000)");

	make(&im);
	im.ph[1].p_paddr = 1ULL << 40;
	expect_fail(&im, MIB, -ENOMEM, "does not fit");
}

static void test_empty_segments_ignored(void **state)
{
	struct img im;
	struct boot_image bi;

	(void)state;
	make(&im);
	/* memsz 0: nothing to load, so its address (even a bogus one) does not matter. */
	im.ph[2] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_paddr = 0, .p_offset = 0 };
	im.eh->e_phnum = 3;
	assert_int_equal(x86_load_kernel(&mem, im.b, im.len, MIB, &bi, NULL), 0);
	assert_int_equal(bi.load_start, MIB);
}

/* Section headers at SH_OFF: null, .text (the first segment's bytes), .bss, .shstrtab. */
#define SH_OFF	  0x1400
#define NAMES_OFF 0x1600

static const char sh_names[] = "\0.text\0.bss\0.shstrtab\0.rodata.x";

static Elf64_Shdr *add_sections(struct img *im)
{
	Elf64_Shdr *sh = (Elf64_Shdr *)(im->b + SH_OFF);

	memset(sh, 0, 4 * sizeof(*sh));
	sh[1] = (Elf64_Shdr){ .sh_name = 1, .sh_type = SHT_PROGBITS, .sh_offset = 0x1000,
			      .sh_size = 0x100 };
	sh[2] = (Elf64_Shdr){ .sh_name = 7, .sh_type = SHT_NOBITS, .sh_offset = 0x1100,
			      .sh_size = 0x2000 };
	sh[3] = (Elf64_Shdr){ .sh_name = 12, .sh_type = SHT_STRTAB, .sh_offset = NAMES_OFF,
			      .sh_size = sizeof(sh_names) };
	memcpy(im->b + NAMES_OFF, sh_names, sizeof(sh_names));
	im->eh->e_shoff = SH_OFF;
	im->eh->e_shentsize = sizeof(Elf64_Shdr);
	im->eh->e_shnum = 4;
	im->eh->e_shstrndx = 3;
	im->len = NAMES_OFF + sizeof(sh_names);
	return sh;
}

static int section(const struct img *im, const char *name, uint64_t *off, uint64_t *size)
{
	struct boot_src src = { .buf = im->b, .fd = -1, .len = im->len };

	*off = *size = 0;
	return boot_elf_section(&src, name, off, size, NULL);
}

static void test_sections(void **state)
{
	struct img im;
	Elf64_Shdr *sh;
	uint64_t off, size;

	(void)state;
	make(&im);
	assert_int_equal(section(&im, ".text", &off, &size), 0); /* no table */
	sh = add_sections(&im);
	assert_int_equal(section(&im, ".text", &off, &size), 1);
	assert_int_equal(off, 0x1000);
	assert_int_equal(size, 0x100);
	/* NOBITS has no bytes in the file; a name is matched whole, NUL included. */
	assert_int_equal(section(&im, ".bss", &off, &size), 0);
	assert_int_equal(section(&im, ".rodata", &off, &size), 0);
	assert_int_equal(section(&im, ".tex", &off, &size), 0);
	/* ".rodata.x" is the table's last bytes: cut before its NUL, it is no name at all. */
	sh[1].sh_name = 22;
	assert_int_equal(section(&im, ".rodata.x", &off, &size), 1);
	sh[3].sh_size--;
	assert_int_equal(section(&im, ".rodata.x", &off, &size), 0);
	sh[3].sh_size++;
	sh[1].sh_name = 1000;
	assert_int_equal(section(&im, ".text", &off, &size), 0);
	sh[1].sh_name = 1;

	/* Malformed: the section, the table, the name table; extended numbering is no table. */
	sh[1].sh_size = im.len;
	assert_int_equal(section(&im, ".text", &off, &size), -ENOEXEC);
	sh[1].sh_size = 0x100;
	im.eh->e_shentsize = 32;
	assert_int_equal(section(&im, ".text", &off, &size), -ENOEXEC);
	im.eh->e_shentsize = sizeof(Elf64_Shdr);
	im.eh->e_shstrndx = 4;
	assert_int_equal(section(&im, ".text", &off, &size), -ENOEXEC);
	im.eh->e_shstrndx = SHN_XINDEX;
	assert_int_equal(section(&im, ".text", &off, &size), 0);
	im.eh->e_shstrndx = 3;
	im.eh->e_shoff = im.len - sizeof(Elf64_Shdr);
	assert_int_equal(section(&im, ".text", &off, &size), -ENOEXEC);
	im.eh->e_shoff = SH_OFF;
	im.eh->e_shnum = BOOT_SECTIONS_MAX + 1;
	assert_int_equal(section(&im, ".text", &off, &size), -ENOEXEC);
	im.eh->e_shnum = 4;
	sh[3].sh_type = SHT_PROGBITS;
	assert_int_equal(section(&im, ".text", &off, &size), -ENOEXEC);
	sh[3].sh_type = SHT_STRTAB;
	sh[3].sh_size = BOOT_SECTION_NAMES_MAX + 1;
	assert_int_equal(section(&im, ".text", &off, &size), -ENOEXEC);
	sh[3].sh_size = 0x10000;
	assert_int_equal(section(&im, ".text", &off, &size), -ENOEXEC);
	sh[3].sh_size = sizeof(sh_names);
	im.eh->e_ident[EI_CLASS] = ELFCLASS32;
	assert_int_equal(section(&im, ".text", &off, &size), -ENOEXEC);
	im.eh->e_ident[EI_CLASS] = ELFCLASS64;
	assert_int_equal(section(&im, ".text", &off, &size), 1);
}

/* Every prefix of an image with a section table: found only whole, never read past the end. */
static void test_sections_every_prefix(void **state)
{
	struct img im;
	uint64_t off, size;
	size_t n, full;
	int ret;

	(void)state;
	make(&im);
	add_sections(&im);
	full = im.len;
	for (n = 0; n <= full; n++) {
		uint8_t *p = malloc(n ? n : 1);
		struct boot_src src = { .buf = p, .fd = -1, .len = n };

		assert_non_null(p);
		memcpy(p, im.b, n);
		ret = boot_elf_section(&src, ".text", &off, &size, NULL);
		assert_int_equal(ret, n == full ? 1 : -ENOEXEC);
		free(p);
	}
}

/* Where the ELF's own bytes end: what follows (a kernel's relocation table) is not its. */
static void test_elf_end(void **state)
{
	struct img im;
	struct boot_src src = { .buf = NULL, .fd = -1 };
	uint64_t end = 0;
	Elf64_Shdr *sh;

	(void)state;
	make(&im);
	src.buf = im.b;
	src.len = im.len + 12; /* appended bytes are no part of it */
	assert_int_equal(boot_elf_end(&src, &end, NULL), 0);
	assert_int_equal(end, 0x1180); /* its last segment's end */
	sh = add_sections(&im);
	src.len = im.len + 12;
	assert_int_equal(boot_elf_end(&src, &end, NULL), 0);
	assert_int_equal(end, im.len); /* the name table, after the section headers */
	sh[2].sh_size = 0x100000; /* NOBITS: no bytes in the file, whatever its size */
	assert_int_equal(boot_elf_end(&src, &end, NULL), 0);
	assert_int_equal(end, im.len);
	sh[1].sh_size = src.len; /* a section past the file */
	assert_int_equal(boot_elf_end(&src, &end, NULL), -ENOEXEC);
	sh[1].sh_size = 0x100;
	im.eh->e_shnum = BOOT_SECTIONS_MAX + 1;
	assert_int_equal(boot_elf_end(&src, &end, NULL), -ENOEXEC);
	im.eh->e_shnum = 4;
	im.ph[1].p_filesz = src.len; /* a segment past the file */
	assert_int_equal(boot_elf_end(&src, &end, NULL), -ENOEXEC);
}

/* Moved as a whole: every segment, the entry and the extent shift; RAM and wrap still checked. */
static void test_load_moved(void **state)
{
	struct img im;
	struct boot_src src = { .buf = NULL, .fd = -1 };
	struct boot_image bi;
	const char *msg = NULL;

	(void)state;
	make(&im);
	src.buf = im.b;
	src.len = im.len;
	assert_int_equal(boot_load_elf_at(&mem, &src, 8 * MIB, MIB, EM_X86_64, NULL, true, &bi,
					  &msg), 0);
	assert_int_equal(bi.entry, 9 * MIB + 0x10);
	assert_int_equal(bi.load_start, 9 * MIB);
	assert_int_equal(bi.load_end, 10 * MIB + 0x80);
	assert_int_equal(ram[9 * MIB], 0xaa);
	assert_int_equal(ram[10 * MIB], 0xbb);
	assert_int_equal(ram[MIB], 0);
	assert_int_equal(boot_load_elf_at(&mem, &src, RAM_SIZE - 2 * MIB, MIB, EM_X86_64, NULL,
					  true, &bi, &msg), -ENOMEM);
	assert_int_equal(boot_load_elf_at(&mem, &src, UINT64_MAX - MIB, MIB, EM_X86_64, NULL,
					  true, &bi, &msg), -ENOEXEC);
	assert_non_null(strstr(msg, "wraps"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_valid, clear_ram),
		cmocka_unit_test_setup(test_pvh, clear_ram),
		cmocka_unit_test_setup(test_pvh_from_file, clear_ram),
		cmocka_unit_test_setup(test_bad_pvh_notes, clear_ram),
		cmocka_unit_test_setup(test_unpadded_last_note, clear_ram),
		cmocka_unit_test_setup(test_every_prefix, clear_ram),
		cmocka_unit_test_setup(test_header_checks, clear_ram),
		cmocka_unit_test_setup(test_segment_checks, clear_ram),
		cmocka_unit_test_setup(test_empty_segments_ignored, clear_ram),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_sections_every_prefix),
		cmocka_unit_test(test_elf_end),
		cmocka_unit_test_setup(test_load_moved, clear_ram),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
