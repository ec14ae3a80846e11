/* x86_64 guest-physical memory map: every fixed address hull uses lives here. */
#ifndef HULL_ARCH_X86_64_LAYOUT_H
#define HULL_ARCH_X86_64_LAYOUT_H

#include <stdint.h>

#define KiB(x) ((uint64_t)(x) << 10)
#define MiB(x) ((uint64_t)(x) << 20)
#define GiB(x) ((uint64_t)(x) << 30)

/* Low memory: boot structures, all below the EBDA. */
#define LAYOUT_GDT        0x500ULL     /* 6 GDT entries */
#define LAYOUT_IDT        0x580ULL     /* empty IDT */
#define LAYOUT_PVH_INFO   0x6000ULL    /* struct hvm_start_info + memmap (PVH boot) */
#define LAYOUT_ZERO_PAGE  0x7000ULL    /* struct boot_params */
#define LAYOUT_BOOT_STACK 0x8ff0ULL
#define LAYOUT_PML4       0x9000ULL    /* PML4, PDPT, then 4 PDs: identity map of 4 GiB */
#define LAYOUT_PDPT       0xa000ULL
#define LAYOUT_PD         0xb000ULL    /* 4 pages: 0xb000-0xefff */
#define LAYOUT_CMDLINE    0x20000ULL
#define LAYOUT_CMDLINE_MAX 0x10000ULL  /* hard ceiling; the kernel's cmdline_size applies too */
#define LAYOUT_EBDA       0x9fc00ULL   /* RAM below this is usable */
#define LAYOUT_ACPI       0xe0000ULL   /* RSDP first (the kernel scans 0xe0000-0xfffff) */
#define LAYOUT_ACPI_SIZE  0x20000ULL
#define LAYOUT_HIMEM      MiB(1)       /* protected-mode kernel and ELF segments */

/* The 32-bit MMIO hole: RAM stops here and continues at 4 GiB. */
#define LAYOUT_MMIO_HOLE  0xc0000000ULL
#define LAYOUT_4G         GiB(4)

/*
 * The memory hotplug region (virtio-mem) follows RAM, aligned to its block size (128 MiB), at 4
 * GiB at the lowest: above every hole. With at most 1 TiB of RAM and a region of at most 1 TiB
 * (vmm/config.h) it ends below 2^41. e820 marks it reserved, not RAM: the guest's driver
 * claims it and hot-adds what gets plugged.
 */
#define LAYOUT_HOTPLUG_MIN LAYOUT_4G

/* MMIO devices, just below the IOAPIC. */
#define LAYOUT_MMIO_DEV   0xfe000000ULL
#define LAYOUT_BOOT_TIMER LAYOUT_MMIO_DEV      /* 4 KiB; guest writes 123 at offset 0 */
#define LAYOUT_VIRTIO_MMIO (LAYOUT_MMIO_DEV + 0x1000ULL) /* 4 KiB per slot, 17 slots */
/* Each slot's second window, announced on the command line (virtio_mmio_alias): 1 MiB above. */
#define LAYOUT_VIRTIO_ALIAS_OFF MiB(1)
#define LAYOUT_IOAPIC     0xfec00000ULL
#define LAYOUT_LAPIC      0xfee00000ULL
#define LAYOUT_TSS        0xfffbd000ULL        /* KVM_SET_TSS_ADDR: 3 pages */
#define LAYOUT_IDMAP      0xfffbc000ULL        /* KVM_SET_IDENTITY_MAP_ADDR: 1 page */

/* Legacy I/O ports. */
#define PORT_COM1         0x3f8
#define PORT_I8042_DATA   0x60
#define PORT_I8042_CMD    0x64
#define PORT_CMOS         0x70
#define PORT_PCI_CONF     0xcf8        /* PCI configuration mechanism #1: address, data at +4 */
#define PORT_ACPI_PM      0x600        /* sleep control (+0), sleep status (+1), reset (+2) */
#define ACPI_PM_LEN       3
#define ACPI_RESET_VALUE  0x1
#define ACPI_S5_SLP_TYP   5            /* value of \_S5_ that hull decodes as poweroff */

#define IRQ_COM1          4
#define IRQ_RTC           8

/* Guest physical addresses stay below 2^43 (PVM hosts need it). */
#define LAYOUT_GPA_LIMIT  (1ULL << 43)

#endif
