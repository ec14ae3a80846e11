/* Unit tests for x86 boot structures: zero page, PVH start info, page tables, GDT and sregs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/x86.h"

static const struct e820_entry map[] = {
	{ 0, 0x9fc00, E820_RAM },
	{ 0xe0000, 0x20000, E820_RESERVED },
	{ 0x100000, GiB(3) - 0x100000, E820_RAM },
	{ GiB(4), GiB(1), E820_RAM },
};
#define NMAP (sizeof(map) / sizeof(map[0]))

static void make_bzimage(struct boot_image *img)
{
	size_t i;

	memset(img, 0, sizeof(*img));
	img->arch_kind = X86_BOOT_BZIMAGE;
	for (i = 0; i < X86_SETUP_HEADER_MAX; i++)
		img->arch_data[i] = (uint8_t)(i * 13 + 1);
	img->arch_data_len = X86_SETUP_HEADER_MAX;
}

static void test_bzimage(void **state)
{
	static struct boot_params bp;
	struct boot_image img;
	const uint8_t *raw = (const uint8_t *)&bp;
	size_t i, loader = offsetof(struct boot_params, hdr.type_of_loader) - 0x1f1;
	size_t lf = offsetof(struct boot_params, hdr.loadflags) - 0x1f1;
	size_t cmd = offsetof(struct boot_params, hdr.cmd_line_ptr) - 0x1f1;
	size_t rd = offsetof(struct boot_params, hdr.ramdisk_image) - 0x1f1;

	(void)state;
	make_bzimage(&img);
	memset(&bp, 0xcc, sizeof(bp));
	assert_int_equal(x86_zeropage_build(&bp, &img, 0x20000, 0x7f000000, 0x123456, map, NMAP,
					    0xe0000),
			 0);
	assert_int_equal(offsetof(struct boot_params, hdr), 0x1f1);
	/* The kernel's header bytes, except the fields the loader fills in. */
	for (i = 0; i < img.arch_data_len; i++) {
		if (i == loader || i == lf || (i >= cmd && i < cmd + 4) || (i >= rd && i < rd + 8))
			continue;
		if (raw[0x1f1 + i] != img.arch_data[i])
			fail_msg("setup header byte 0x%zx not copied", 0x1f1 + i);
	}
	assert_int_equal(bp.hdr.type_of_loader, 0xff);
	assert_true(bp.hdr.loadflags & LOADED_HIGH);
	assert_int_equal(bp.hdr.cmd_line_ptr, 0x20000);
	assert_int_equal(bp.hdr.ramdisk_image, 0x7f000000);
	assert_int_equal(bp.hdr.ramdisk_size, 0x123456);
	assert_int_equal(bp.ext_ramdisk_image, 0);
	assert_int_equal(bp.ext_ramdisk_size, 0);
	assert_int_equal(bp.acpi_rsdp_addr, 0xe0000);
	assert_int_equal(bp.e820_entries, NMAP);
	for (i = 0; i < NMAP; i++) {
		assert_int_equal(bp.e820_table[i].addr, map[i].addr);
		assert_int_equal(bp.e820_table[i].size, map[i].size);
		assert_int_equal(bp.e820_table[i].type, map[i].type);
	}
	/* Everything else starts zeroed (no stale 0xcc from the caller's buffer). */
	for (i = 0; i < 0x1f1; i++) {
		if (i >= offsetof(struct boot_params, acpi_rsdp_addr) &&
		    i < offsetof(struct boot_params, acpi_rsdp_addr) + 8)
			continue;
		if (i == offsetof(struct boot_params, e820_entries))
			continue;
		if (raw[i] != 0)
			fail_msg("byte 0x%zx of the zero page is 0x%02x", i, raw[i]);
	}
}

static void test_initrd_high(void **state)
{
	static struct boot_params bp;
	struct boot_image img;

	(void)state;
	make_bzimage(&img);
	assert_int_equal(x86_zeropage_build(&bp, &img, 0x20000, 0x123456000ULL, 0x100001000ULL,
					    map, NMAP, 0),
			 0);
	assert_int_equal(bp.hdr.ramdisk_image, 0x23456000);
	assert_int_equal(bp.ext_ramdisk_image, 0x1);
	assert_int_equal(bp.hdr.ramdisk_size, 0x00001000);
	assert_int_equal(bp.ext_ramdisk_size, 0x1);
}

/*
 * ramdisk_image/ramdisk_size are "write (obligatory)" for the loader in the
 * boot protocol: with no initrd they must be 0, whatever the image carried.
 */
static void test_no_initrd(void **state)
{
	static struct boot_params bp;
	struct boot_image img;

	(void)state;
	make_bzimage(&img);
	assert_int_equal(x86_zeropage_build(&bp, &img, 0x20000, 0x7f000000, 0, map, NMAP, 0), 0);
	assert_int_equal(bp.hdr.ramdisk_image, 0);
	assert_int_equal(bp.hdr.ramdisk_size, 0);
	assert_int_equal(bp.ext_ramdisk_image, 0);
	assert_int_equal(bp.ext_ramdisk_size, 0);
}

static void test_elf(void **state)
{
	static struct boot_params bp;
	struct boot_image img;

	(void)state;
	memset(&img, 0, sizeof(img));
	img.arch_kind = X86_BOOT_ELF;
	assert_int_equal(x86_zeropage_build(&bp, &img, 0x20000, 0, 0, map, NMAP, 0xe0000), 0);
	assert_int_equal(bp.hdr.boot_flag, 0xaa55);
	assert_memory_equal(&bp.hdr.header, "HdrS", 4);
	assert_true(bp.hdr.version >= 0x020c);
	assert_int_equal(bp.hdr.type_of_loader, 0xff);
	assert_int_equal(bp.hdr.cmd_line_ptr, 0x20000);
	assert_int_equal(bp.e820_entries, NMAP);
	assert_int_equal(bp.acpi_rsdp_addr, 0xe0000);
}

static void test_rejects(void **state)
{
	static struct boot_params bp;
	struct boot_image img;
	size_t max = sizeof(bp.e820_table) / sizeof(bp.e820_table[0]);
	struct e820_entry *big = calloc(max + 1, sizeof(*big));

	(void)state;
	assert_non_null(big);
	make_bzimage(&img);
	assert_int_equal(x86_zeropage_build(&bp, &img, 0x20000, 0, 0, big, (unsigned int)max, 0), 0);
	assert_int_equal(bp.e820_entries, max);
	assert_int_equal(x86_zeropage_build(&bp, &img, 0x20000, 0, 0, big, (unsigned int)max + 1, 0),
			 -EINVAL);
	assert_int_equal(x86_zeropage_build(&bp, &img, 0x20000, 0, 0, map, 255, 0), -EINVAL);
	/* The command line pointer is 32 bits. */
	assert_int_equal(x86_zeropage_build(&bp, &img, GiB(4), 0, 0, map, NMAP, 0), -EINVAL);
	/* A setup header longer than any the loader keeps. */
	img.arch_data_len = X86_SETUP_HEADER_MAX + 1;
	assert_int_equal(x86_zeropage_build(&bp, &img, 0x20000, 0, 0, map, NMAP, 0), -EINVAL);
	free(big);
}

/* --- guest-memory structures -------------------------------------------------------- */

#define LOW_SIZE MiB(2)

struct lowmem {
	uint8_t *ram;
	struct gmem m;
};

static int mem_setup(void **state)
{
	struct lowmem *lm = calloc(1, sizeof(*lm));

	if (!lm)
		return -1;
	lm->ram = calloc(1, LOW_SIZE);
	if (!lm->ram || gmem_add(&lm->m, 0, LOW_SIZE, lm->ram))
		return -1;
	memset(lm->ram, 0xee, LOW_SIZE);
	*state = lm;
	return 0;
}

static int mem_teardown(void **state)
{
	struct lowmem *lm = *state;

	free(lm->ram);
	free(lm);
	return 0;
}

static uint64_t q(const struct lowmem *lm, uint64_t gpa)
{
	uint64_t v;

	memcpy(&v, lm->ram + gpa, 8);
	return v;
}

static void test_pagetables(void **state)
{
	struct lowmem *lm = *state;
	unsigned int i;

	assert_int_equal(x86_write_pagetables(&lm->m), 0);
	assert_int_equal(q(lm, LAYOUT_PML4) & ~0xfffULL, LAYOUT_PDPT);
	assert_int_equal(q(lm, LAYOUT_PML4) & 3, 3); /* present, writable */
	for (i = 1; i < 512; i++)
		assert_int_equal(q(lm, LAYOUT_PML4 + i * 8), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(q(lm, LAYOUT_PDPT + i * 8) & ~0xfffULL, LAYOUT_PD + i * 0x1000ULL);
		assert_int_equal(q(lm, LAYOUT_PDPT + i * 8) & 3, 3);
	}
	for (i = 4; i < 512; i++)
		assert_int_equal(q(lm, LAYOUT_PDPT + i * 8), 0);
	for (i = 0; i < 2048; i++) {
		uint64_t e = q(lm, LAYOUT_PD + i * 8ULL);

		if ((e & ~0xfffULL) != (uint64_t)i << 21 || (e & 0x83) != 0x83)
			fail_msg("PD entry %u = 0x%llx", i, (unsigned long long)e);
	}
	/* Nothing written past the last PD. */
	assert_int_equal(lm->ram[LAYOUT_PD + 0x4000], 0xee);
}

static void test_pagetables_no_ram(void **state)
{
	struct gmem m = { 0 };
	static uint8_t small[0x1000];

	(void)state;
	assert_int_equal(x86_write_pagetables(&m), -EFAULT);
	assert_int_equal(gmem_add(&m, 0, sizeof(small), small), 0);
	assert_int_equal(x86_write_pagetables(&m), -EFAULT);
	assert_int_equal(x86_write_gdt(&m), 0);
}

static void test_gdt(void **state)
{
	struct lowmem *lm = *state;
	uint64_t code64, code32, data;

	assert_int_equal(x86_write_gdt(&lm->m), 0);
	assert_int_equal(q(lm, LAYOUT_GDT), 0);
	code64 = q(lm, LAYOUT_GDT + SEL_CODE64);
	code32 = q(lm, LAYOUT_GDT + SEL_CODE32);
	data = q(lm, LAYOUT_GDT + SEL_DATA);
	/* Present code segments; L set only on the 64-bit one, D set only on the 32-bit one. */
	assert_true(code64 & (1ULL << 47));
	assert_true(code64 & (1ULL << 43));
	assert_true(code64 & (1ULL << 53));
	assert_false(code64 & (1ULL << 54));
	assert_true(code32 & (1ULL << 43));
	assert_false(code32 & (1ULL << 53));
	assert_true(code32 & (1ULL << 54));
	/* Data: present, writable, not code. */
	assert_true(data & (1ULL << 47));
	assert_false(data & (1ULL << 43));
	assert_true(data & (1ULL << 41));
	/* The IDT is empty. */
	assert_int_equal(q(lm, LAYOUT_IDT), 0);
}

static void test_sregs_long(void **state)
{
	struct kvm_sregs s;

	(void)state;
	memset(&s, 0xcc, sizeof(s));
	x86_sregs_long_mode(&s);
	assert_int_equal(s.cr0 & 0x80000001ULL, 0x80000001ULL);
	assert_true(s.cr4 & 0x20);
	assert_int_equal(s.efer & 0x500, 0x500);
	assert_int_equal(s.cr3, LAYOUT_PML4);
	assert_int_equal(s.cs.selector, SEL_CODE64);
	assert_int_equal(s.cs.l, 1);
	assert_int_equal(s.cs.db, 0);
	assert_int_equal(s.cs.present, 1);
	assert_int_equal(s.cs.s, 1);
	assert_int_equal(s.ds.selector, SEL_DATA);
	assert_int_equal(s.ss.selector, SEL_DATA);
	assert_int_equal(s.ds.l, 0);
	assert_int_equal(s.tr.selector, SEL_TSS);
	assert_int_equal(s.gdt.base, LAYOUT_GDT);
	assert_int_equal(s.gdt.limit, GDT_ENTRIES * 8 - 1);
}

static void test_sregs_protected(void **state)
{
	struct kvm_sregs s;

	(void)state;
	memset(&s, 0xcc, sizeof(s));
	x86_sregs_protected_mode(&s);
	assert_true(s.cr0 & 1);
	assert_false(s.cr0 & 0x80000000ULL);
	assert_int_equal(s.efer, 0);
	assert_int_equal(s.cr4, 0);
	assert_int_equal(s.cs.selector, SEL_CODE32);
	assert_int_equal(s.cs.db, 1);
	assert_int_equal(s.cs.l, 0);
	assert_int_equal(s.cs.base, 0);
	assert_int_equal(s.cs.limit, 0xffffffff);
	assert_int_equal(s.cs.g, 1);
	assert_int_equal(s.ds.base, 0);
	assert_int_equal(s.ds.limit, 0xffffffff);
}

static void test_pvh(void **state)
{
	struct lowmem *lm = *state;
	struct pvh_start_info si;
	struct pvh_memmap_entry me;
	struct pvh_module mod;
	unsigned int i;

	assert_int_equal(x86_pvh_write(&lm->m, 0x20000, 0x7f000000, 0x4321, map, NMAP, 0xe0000), 0);
	memcpy(&si, lm->ram + LAYOUT_PVH_INFO, sizeof(si));
	assert_int_equal(si.magic, 0x336ec578);
	assert_int_equal(si.version, 1);
	assert_int_equal(si.cmdline_paddr, 0x20000);
	assert_int_equal(si.rsdp_paddr, 0xe0000);
	assert_int_equal(si.nr_modules, 1);
	assert_int_equal(si.memmap_entries, NMAP);
	assert_true(si.memmap_paddr + NMAP * sizeof(me) <= LAYOUT_ZERO_PAGE);
	for (i = 0; i < NMAP; i++) {
		memcpy(&me, lm->ram + si.memmap_paddr + i * sizeof(me), sizeof(me));
		assert_int_equal(me.addr, map[i].addr);
		assert_int_equal(me.size, map[i].size);
		assert_int_equal(me.type, map[i].type);
		assert_int_equal(me.reserved, 0);
	}
	memcpy(&mod, lm->ram + si.modlist_paddr, sizeof(mod));
	assert_int_equal(mod.paddr, 0x7f000000);
	assert_int_equal(mod.size, 0x4321);
	assert_int_equal(mod.cmdline_paddr, 0);
	/* The structures do not overlap one another. */
	assert_true(si.modlist_paddr >= LAYOUT_PVH_INFO + sizeof(si));
	assert_true(si.memmap_paddr >= si.modlist_paddr + sizeof(mod));
}

static void test_pvh_no_initrd(void **state)
{
	struct lowmem *lm = *state;
	struct pvh_start_info si;

	assert_int_equal(x86_pvh_write(&lm->m, 0x20000, 0, 0, map, NMAP, 0), 0);
	memcpy(&si, lm->ram + LAYOUT_PVH_INFO, sizeof(si));
	assert_int_equal(si.nr_modules, 0);
	assert_int_equal(si.modlist_paddr, 0);
}

static void test_pvh_rejects(void **state)
{
	struct lowmem *lm = *state;
	struct e820_entry big[17];
	struct gmem none = { 0 };

	memset(big, 0, sizeof(big));
	assert_int_equal(x86_pvh_write(&lm->m, 0x20000, 0, 0, big, 17, 0), -EINVAL);
	assert_int_equal(x86_pvh_write(&none, 0x20000, 0, 0, map, NMAP, 0), -EFAULT);
}

int main(void)
{
#define M(fn) cmocka_unit_test_setup_teardown(fn, mem_setup, mem_teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bzimage),
		cmocka_unit_test(test_initrd_high),
		cmocka_unit_test(test_no_initrd),
		cmocka_unit_test(test_elf),
		cmocka_unit_test(test_rejects),
		M(test_pagetables),
		cmocka_unit_test(test_pagetables_no_ram),
		M(test_gdt),
		cmocka_unit_test(test_sregs_long),
		cmocka_unit_test(test_sregs_protected),
		M(test_pvh),
		M(test_pvh_no_initrd),
		M(test_pvh_rejects),
	};
#undef M

	return cmocka_run_group_tests(tests, NULL, NULL);
}
