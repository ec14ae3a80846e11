/* arch: what generic VMM code needs from an architecture; arch/<name>/ implements it. */
#ifndef HULL_ARCH_ARCH_H
#define HULL_ARCH_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/boot.h"
#include "devices/devices.h"
#include "lib/bus.h"
#include "lib/gmem.h"

/*
 * The architecture's part of one VM: VM-wide KVM state it set up and the
 * platform devices it owns (x86_64: the i8042, the CMOS RTC, the ACPI PM
 * registers). Created by arch_vm_create(), opaque to generic code.
 */
struct arch_vm;

#define ARCH_MAX_RAM_RANGES 2

struct arch_ram_range {
	uint64_t gpa;
	uint64_t size;
};

/* The architecture's default guest command line (console on the first UART, reset on reboot). */
const char *arch_default_cmdline(void);

/*
 * Split size bytes of RAM into guest-physical ranges around the
 * architecture's holes. Returns the number of ranges (1..ARCH_MAX_RAM_RANGES).
 */
unsigned int arch_ram_layout(uint64_t size, struct arch_ram_range out[ARCH_MAX_RAM_RANGES]);

/*
 * Where a memory hotplug region (virtio-mem) aligned to align (a power of two) starts above
 * ram_size bytes of RAM laid out by arch_ram_layout(): above all of it and clear of the
 * architecture's holes, so the region may be as large as the guest-physical limit allows.
 */
uint64_t arch_hotplug_base(uint64_t ram_size, uint64_t align);

/* Where RAM usable for an initrd ends in guest memory mem. */
uint64_t arch_initrd_ram_end(const struct gmem *mem);

/*
 * Load a kernel image (in memory, or a file read piece by piece: its headers into hull, the
 * rest straight into guest memory) into guest memory m in any format the architecture boots
 * (x86_64: bzImage, ELF vmlinux with or without the PVH entry note), recognised by content.
 * Needs no VM. 0, -ENOEXEC for an unknown format or a malformed image, -ENOMEM when the kernel
 * does not fit, -EIO/-errno when the file cannot be read (or shrank); msg (may be NULL)
 * receives a short reason on error (see boot_fail()).
 */
int arch_load_kernel(const struct gmem *m, const struct boot_src *img, struct boot_image *out,
		     const char **msg);
/*
 * Everything arch_load_kernel() checks, and the out it fills, without writing
 * to m: for the check before /dev/kvm is touched. m describes the guest's RAM;
 * its host pointers are never dereferenced (a PROT_NONE reservation will do).
 */
int arch_check_kernel(const struct gmem *m, const struct boot_src *img, struct boot_image *out,
		      const char **msg);

/*
 * The payload of the kernel bi describes (as arch_check_kernel() found it in an image of
 * img_len bytes), when it is one that unpacks itself at boot (x86_64: a bzImage): 1 with *out;
 * 0 when it is not (an ELF); -ENOEXEC when its header places the payload outside the image.
 */
int arch_kernel_payload(const struct boot_image *bi, uint64_t img_len, struct boot_payload *out);

/*
 * A kernel hull places at random as its own decompressor would have (x86_64: KASLR, the
 * physical place and the virtual offset), for an unpacked image that carries what moving it
 * takes (x86_64: the relocation table appended to the ELF). Filled by arch_kaslr_plan(); the
 * place is chosen at every boot by arch_kaslr_load().
 */
struct arch_kaslr {
	bool on;
	uint64_t entry;		  /* the image's own entry, where it is linked */
	uint64_t base;		  /* where it is linked (x86_64: LOAD_PHYSICAL_ADDR) */
	uint64_t span;		  /* bytes from base it may use before it reads its memory map */
	uint64_t align;		  /* both offsets are multiples of this */
	uint64_t relocs_off;	  /* the relocation table in the image */
	uint64_t relocs_len;
	struct boot_image packed; /* the packed kernel's own: its header and limits */
	uint64_t phys, virt;	  /* the last arch_kaslr_load()'s choice: where, and the offset */
	const uint64_t *rnd;	  /* two numbers to choose by instead of getrandom's (a fuzzer's,
				     to be reproducible); NULL (as arch_kaslr_plan() leaves it) */
};

/*
 * Does the unpacked image img (checked: elf is what arch_check_kernel() found) of the packed
 * kernel packed carry what randomising it takes? 1 with *k (k->on) and *out, the boot image
 * the first pass places the rest by (the kernel where it is linked, with its span); 0 when it
 * carries none (it cannot be moved: boot it as it is); -ENOEXEC (why) when what it carries is
 * malformed or out of bounds, -ENOMEM (why) when the kernel's span does not fit m.
 */
int arch_kaslr_plan(const struct gmem *m, const struct boot_src *img,
		    const struct boot_image *packed, const struct boot_image *elf,
		    struct arch_kaslr *k, struct boot_image *out, const char **why);
/*
 * Load img at a place chosen at random (getrandom, or k->rnd) among those in m's RAM clear of
 * [avoid, avoid + avoid_len) (the initrd), with a random virtual offset, apply its relocations
 * and fill out to enter it as its decompressor would. k->phys and k->virt say what was chosen. 0, or
 * -errno as arch_load_kernel() (msg).
 */
int arch_kaslr_load(const struct gmem *m, const struct boot_src *img, struct arch_kaslr *k,
		    uint64_t avoid, uint64_t avoid_len, struct boot_image *out, const char **msg);

/*
 * After KVM_CREATE_VM on vm_fd (kvm_fd is /dev/kvm), before memory:
 * interrupt controllers, timers, VM-wide KVM state for a VM of ncpus vCPUs.
 * 0 with *out set (freed with arch_vm_destroy), or -errno, logged.
 */
int arch_vm_create(int kvm_fd, int vm_fd, unsigned int ncpus, struct arch_vm **out);
void arch_vm_destroy(struct arch_vm *avm);

/*
 * The machine's virtio-mmio slots (17 on x86_64): how many there are, and
 * where slot i lives: its MMIO base (a 4 KiB window) and interrupt line
 * (GSI); -ENOSPC past the last. Every slot is announced to the guest in the
 * firmware tables (arch_boot_setup).
 */
unsigned int arch_virtio_slots(void);
int arch_virtio_slot(unsigned int i, uint64_t *base, uint32_t *gsi);

/*
 * The window at which slot i is announced on the kernel command line
 * (virtio_mmio.device=), for kernels that look there: a second window onto
 * the device (virtio_mmio_alias), so a kernel that also reads the firmware
 * tables finds each device once. -ENOENT when such kernels cannot use the
 * slot (x86_64: its GSI is 16 or above), -ENOSPC past the last slot.
 */
int arch_virtio_alias(unsigned int i, uint64_t *alias);

/* The interrupt line of the console UART, for serial_init(); arch_devices_init() places it. */
unsigned int arch_console_irq(void);

/* The VM-wide devices generic code owns and the architecture places on the buses. */
struct arch_devices {
	struct bus *pio, *mmio;
	const struct dev_host *host; /* interrupt lines and power events of arch's own devices */
	struct serial *console;      /* the first UART, initialised with arch_console_irq() */
	struct boot_timer *boot_timer; /* NULL: none */
};

/*
 * Create the platform devices avm owns and register them and d's on the
 * buses. 0, or -errno (logged); arch_devices_exit() undoes it either way.
 */
int arch_devices_init(struct arch_vm *avm, const struct arch_devices *d);
void arch_devices_exit(struct arch_vm *avm);

/* A virtio-mmio window to announce in the firmware tables. */
struct arch_mmio_window {
	uint64_t base;
	uint64_t size;
	uint32_t gsi;
};

/* What arch_boot_setup() needs to describe the machine and hand over to the kernel. */
struct arch_boot {
	const struct gmem *mem;
	const struct boot_image *img;   /* the loaded kernel */
	uint64_t initrd_gpa, initrd_len; /* initrd_len 0: no initrd */
	const char *cmdline;
	const struct arch_mmio_window *virtio; /* the virtio devices, in slot order */
	unsigned int nvirtio;
};

/*
 * Write every boot structure into guest memory for a loaded kernel: page
 * tables, GDT, firmware tables, memory map, zero page or PVH start info,
 * command line. 0 or -errno.
 */
int arch_boot_setup(struct arch_vm *avm, const struct arch_boot *b);

/*
 * Per-vCPU state before the first KVM_RUN on vcpu_fd (vCPU index): CPUID,
 * MSRs, FPU, and registers at the kernel's entry (the boot vCPU). 0 or
 * -errno.
 */
int arch_vcpu_setup(struct arch_vm *avm, int vcpu_fd, unsigned int index,
		    const struct boot_image *img);

/* Registers of a stopped vCPU, as one line for an error message. */
void arch_vcpu_dump(int vcpu_fd, char *buf, size_t len);

#endif
