/* x86: the x86_64 implementation's internal contract — pure builders that unit tests call directly. */
#ifndef HULL_ARCH_X86_64_X86_H
#define HULL_ARCH_X86_64_X86_H

#include <asm/bootparam.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/arch.h"
#include "arch/x86_64/layout.h"
#include "boot/boot.h"
#include "devices/devices.h"
#include "lib/gmem.h"

/* --- the machine -------------------------------------------------------------------- */

struct arch_vm {
	int kvm_fd, vm_fd;
	unsigned int ncpus;
	/* The PC devices hull emulates, live from arch_devices_init() to _exit(). */
	bool devices;
	struct i8042 i8042;
	struct rtc rtc;
	struct acpi_pm pm;
	struct pci_conf pci;
};

/* --- kernel images ------------------------------------------------------------------ */

/* How x86_64 enters a kernel: struct boot_image's arch_kind. */
enum x86_boot_kind {
	X86_BOOT_ELF = 0, /* ELF vmlinux without the PVH note: 64-bit boot protocol, zero page */
	X86_BOOT_BZIMAGE, /* bzImage: 64-bit boot protocol, zero page with its setup header */
	X86_BOOT_PVH,     /* ELF with XEN_ELFNOTE_PHYS32_ENTRY: 32-bit PVH entry, start_info */
};

/* A bzImage's setup header kept for the zero page: offsets 0x1f1 up to 0x290 of the image. */
#define X86_SETUP_HEADER_MAX (0x290 - 0x1f1)
_Static_assert(X86_SETUP_HEADER_MAX <= BOOT_ARCH_DATA_MAX, "setup header fits boot_image");

/*
 * arch_load_kernel() with the lowest load address given (tests and fuzzers
 * move it), and the two formats it dispatches to; each checks its own magic.
 * A bzImage keeps its setup header in out->arch_data.
 */
int x86_load_kernel(const struct gmem *m, const uint8_t *img, size_t len, uint64_t min_addr,
		    struct boot_image *out, const char **msg);
int x86_load_bzimage(const struct gmem *m, const uint8_t *img, size_t len, uint64_t min_addr,
		     struct boot_image *out, const char **msg);
int x86_load_elf(const struct gmem *m, const uint8_t *img, size_t len, uint64_t min_addr,
		 struct boot_image *out, const char **msg);
/*
 * The two formats with the choice arch_check_kernel() makes: copy false writes nothing to m.
 * The image is read piece by piece (a file by pread): its headers into hull, its payload or
 * segments straight into guest memory.
 */
int x86_bzimage(const struct gmem *m, const struct boot_src *img, uint64_t min_addr, bool copy,
		struct boot_image *out, const char **msg);
int x86_elf(const struct gmem *m, const struct boot_src *img, uint64_t min_addr, bool copy,
	    struct boot_image *out, const char **msg);
/* arch_kernel_payload() for a bzImage x86_bzimage() checked. */
int x86_bzimage_payload(const struct boot_image *bi, uint64_t img_len, struct boot_payload *out);

/* --- CPUID ------------------------------------------------------------------------ */

/*
 * Make KVM's supported CPUID describe vCPU index of ncpus: APIC id and
 * topology (one socket, ncpus cores, one thread each), the hypervisor bit.
 * KVM's own leaves 0x40000000-0x400000ff are left exactly as KVM gave them.
 */
void x86_cpuid_fixup(struct kvm_cpuid_entry2 *e, unsigned int n, unsigned int index,
		     unsigned int ncpus);

/*
 * Advertise the LAPIC TSC-deadline timer (leaf 1 ECX bit 24). KVM emulates it
 * with the in-kernel LAPIC but leaves it out of KVM_GET_SUPPORTED_CPUID;
 * callers check KVM_CAP_TSC_DEADLINE_TIMER first.
 */
void x86_cpuid_tsc_deadline(struct kvm_cpuid_entry2 *e, unsigned int n);

/* --- memory map -------------------------------------------------------------------- */

#define E820_MAX 16
#define E820_RAM 1
#define E820_RESERVED 2

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/*
 * The guest's memory map from its RAM regions: RAM below the EBDA, the
 * BIOS/ACPI area reserved, RAM from 1 MiB, RAM above 4 GiB; then the hotplug
 * region, if any, reserved. Returns the number of entries, or -ENOSPC when
 * out[max] is too small.
 */
int x86_e820_build(const struct gmem *m, struct e820_entry *out, unsigned int max);

/* --- boot structures --------------------------------------------------------------- */

/* GDT selectors hull loads before entry. */
#define SEL_CODE64 0x10 /* __BOOT_CS of the 64-bit boot protocol */
#define SEL_DATA 0x18   /* __BOOT_DS */
#define SEL_CODE32 0x20 /* PVH entry: flat 32-bit code */
#define SEL_TSS 0x28
#define GDT_ENTRIES 6

/* Identity-map the first 4 GiB with 2 MiB pages at LAYOUT_PML4; write the GDT and IDT. */
int x86_write_pagetables(const struct gmem *m);
int x86_write_gdt(const struct gmem *m);

/* Fill sregs for 64-bit long mode (64-bit boot protocol) or flat 32-bit protected mode (PVH). */
void x86_sregs_long_mode(struct kvm_sregs *s);
void x86_sregs_protected_mode(struct kvm_sregs *s);

/*
 * Fill a zero page for a 64-bit-protocol boot: the kernel's setup header
 * (a bzImage's, from img->arch_data) or a minimal synthetic one (ELF),
 * command line, initrd, e820, RSDP address.
 */
int x86_zeropage_build(struct boot_params *bp, const struct boot_image *img, uint64_t cmdline_gpa,
		       uint64_t initrd_gpa, uint64_t initrd_len, const struct e820_entry *e820,
		       unsigned int ne820, uint64_t rsdp_gpa);

/* PVH start info (xen/interface/hvm/start_info.h, version 1). */
#define PVH_START_MAGIC 0x336ec578

struct pvh_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct pvh_module {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct pvh_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

/* Write start info, module list and memory map at LAYOUT_PVH_INFO. */
int x86_pvh_write(const struct gmem *m, uint64_t cmdline_gpa, uint64_t initrd_gpa,
		  uint64_t initrd_len, const struct e820_entry *e820, unsigned int ne820,
		  uint64_t rsdp_gpa);

#endif
