/* arch: what generic VMM code needs from an architecture; arch/<name>/ implements it. */
#ifndef HULL_ARCH_ARCH_H
#define HULL_ARCH_ARCH_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct vcpu;
struct boot_image;
struct gmem;

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

/* Lowest address a kernel may be loaded at, and where RAM usable for an initrd ends in mem. */
uint64_t arch_kernel_min_addr(void);
uint64_t arch_initrd_ram_end(const struct gmem *mem);

/* After KVM_CREATE_VM, before memory: interrupt controllers, timers, VM-wide KVM state. */
int arch_vm_create(struct vm *vm);

/*
 * Where virtio-mmio device i lives: its MMIO base and interrupt line (GSI).
 * -ENOSPC past the machine's last slot. Slots are announced to the guest in
 * the firmware tables (arch_boot_setup, for vm->nvirtio slots) and by generic
 * code on the kernel command line.
 */
int arch_virtio_slot(unsigned int i, uint64_t *base, uint32_t *gsi);
/* How many virtio-mmio slots the machine has: slots 0 .. arch_virtio_slots() - 1 exist. */
unsigned int arch_virtio_slots(void);

/* Register the platform's devices on vm's buses (UART, reset, RTC, ...). */
int arch_devices_init(struct vm *vm);

/*
 * Write every boot structure into guest memory for a loaded kernel: page
 * tables, GDT, ACPI, memory map, zero page or PVH start info, command line.
 * initrd_len 0 means no initrd.
 */
int arch_boot_setup(struct vm *vm, const struct boot_image *img, uint64_t initrd_gpa,
		    uint64_t initrd_len, const char *cmdline);

/* Per-vCPU state before the first KVM_RUN: CPUID, MSRs, FPU, and registers (boot vCPU). */
int arch_vcpu_setup(struct vm *vm, struct vcpu *vcpu, const struct boot_image *img);

/* Registers of a stopped vCPU, as one line for an error message. */
void arch_vcpu_dump(struct vcpu *vcpu, char *buf, size_t len);

#endif
