/* machine: the x86_64 PC-like microVM — KVM irqchip/PIT, RAM layout, legacy devices, boot state. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/arch.h"
#include "arch/x86_64/acpi.h"
#include "arch/x86_64/x86.h"
#include "lib/log.h"
#include "vmm/vm.h"

#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

#define MISC_ENABLE_FAST_STRING 0x1
#define MTRR_ENABLE_WB ((1u << 11) | 6) /* MTRRs on, default type write-back */

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_EXTINT 0x7
#define APIC_MODE_NMI 0x4

#define CPUID_MAX_ENTRIES 256

const char *arch_default_cmdline(void)
{
	return "console=ttyS0 reboot=k panic=-1 pci=off i8042.noaux i8042.nomux i8042.dumbkbd "
	       "8250.nr_uarts=1 quiet";
}

unsigned int arch_ram_layout(uint64_t size, struct arch_ram_range out[ARCH_MAX_RAM_RANGES])
{
	if (size <= LAYOUT_MMIO_HOLE) {
		out[0] = (struct arch_ram_range){ 0, size };
		return 1;
	}
	out[0] = (struct arch_ram_range){ 0, LAYOUT_MMIO_HOLE };
	out[1] = (struct arch_ram_range){ LAYOUT_4G, size - LAYOUT_MMIO_HOLE };
	return 2;
}

uint64_t arch_kernel_min_addr(void)
{
	return LAYOUT_HIMEM;
}

uint64_t arch_initrd_ram_end(const struct gmem *mem)
{
	uint64_t end = mem->n ? mem->r[0].gpa + mem->r[0].size : 0;

	return end < LAYOUT_MMIO_HOLE ? end : LAYOUT_MMIO_HOLE;
}

int arch_vm_create(struct vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t idmap = LAYOUT_IDMAP;

	/* Needed by VMX for real-mode emulation; harmless elsewhere. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_TSS) < 0)
		log_debug("KVM_SET_TSS_ADDR: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
		log_debug("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		int err = -errno;

		log_msg("KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return err;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		int err = -errno;

		log_msg("KVM_CREATE_PIT2: %s", strerror(errno));
		return err;
	}
	return 0;
}

int arch_devices_init(struct vm *vm)
{
	int ret;

	acpi_pm_init(&vm->pm, ACPI_S5_SLP_TYP, ACPI_RESET_VALUE, &vm->host);
	ret = bus_register(&vm->pio, PORT_COM1, 8, &serial_ops, &vm->serial, "com1");
	if (!ret)
		ret = bus_register(&vm->pio, PORT_I8042_DATA, 1, &i8042_data_ops, &vm->i8042, "i8042");
	if (!ret)
		ret = bus_register(&vm->pio, PORT_I8042_CMD, 1, &i8042_cmd_ops, &vm->i8042, "i8042");
	if (!ret)
		ret = bus_register(&vm->pio, PORT_CMOS, 2, &rtc_ops, &vm->rtc, "cmos");
	if (!ret)
		ret = bus_register(&vm->pio, PORT_ACPI_PM, ACPI_PM_LEN, &acpi_pm_ops, &vm->pm, "acpi-pm");
	if (!ret && vm->cfg->boot_timer)
		ret = bus_register(&vm->mmio, LAYOUT_BOOT_TIMER, 0x1000, &boot_timer_ops, &vm->timer,
				   "boot-timer");
	vm->serial.irq = IRQ_COM1;
	if (ret)
		log_msg("devices: %s", strerror(-ret));
	return ret;
}

/*
 * ISA interrupt lines no other device uses: COM1 is 4, the RTC 8, the SCI 9;
 * the timer takes 0/2 and 1 stays the keyboard's. 12 (the PS/2 mouse) is free
 * because hull announces no i8042 and Linux's driver never binds. Below 16
 * because without an MP table Linux maps only the ISA IRQs up front, which
 * kernels finding devices on the command line rely on. Edge-triggered,
 * active high: irqfd pulses the line.
 */
static const uint8_t virtio_gsis[] = { 5, 6, 7, 10, 11, 12, 14, 15, 3 };

unsigned int arch_virtio_slots(void)
{
	return sizeof(virtio_gsis);
}

int arch_virtio_slot(unsigned int i, uint64_t *base, uint32_t *gsi)
{
	if (i >= sizeof(virtio_gsis))
		return -ENOSPC;
	*base = LAYOUT_VIRTIO_MMIO + (uint64_t)i * 0x1000;
	*gsi = virtio_gsis[i];
	return 0;
}

static int write_acpi(struct vm *vm)
{
	struct acpi_mmio_dev devs[sizeof(virtio_gsis)];
	unsigned int i;

	struct acpi_config cfg = {
		.ncpus = vm->ncpus,
		.ioapic_addr = (uint32_t)LAYOUT_IOAPIC,
		.lapic_addr = (uint32_t)LAYOUT_LAPIC,
		.pm_port = PORT_ACPI_PM,
		.reset_value = ACPI_RESET_VALUE,
		.s5_slp_typ = ACPI_S5_SLP_TYP,
		.devs = devs,
	};
	uint8_t *buf = gmem_ptr(&vm->mem, LAYOUT_ACPI, LAYOUT_ACPI_SIZE);
	size_t used;

	if (!buf)
		return -EFAULT;
	for (i = 0; i < vm->ndevs && i < sizeof(virtio_gsis); i++) {
		uint64_t base;
		uint32_t gsi;

		arch_virtio_slot(i, &base, &gsi);
		devs[i] = (struct acpi_mmio_dev){ .hid = "LNRO0005", .addr = (uint32_t)base,
						  .size = 0x1000, .gsi = gsi };
	}
	cfg.ndevs = i;
	return acpi_build(buf, LAYOUT_ACPI_SIZE, LAYOUT_ACPI, &cfg, &used);
}

int arch_boot_setup(struct vm *vm, const struct boot_image *img, uint64_t initrd_gpa,
		    uint64_t initrd_len, const char *cmdline)
{
	struct e820_entry e820[E820_MAX];
	struct boot_params *bp;
	size_t clen = strlen(cmdline) + 1;
	int ne820, ret;

	if (clen > LAYOUT_CMDLINE_MAX)
		return -E2BIG;
	ret = gmem_write(&vm->mem, LAYOUT_CMDLINE, cmdline, clen);
	if (!ret)
		ret = x86_write_gdt(&vm->mem);
	if (!ret)
		ret = x86_write_pagetables(&vm->mem);
	if (!ret)
		ret = write_acpi(vm);
	if (ret)
		return ret;
	ne820 = x86_e820_build(&vm->mem, e820, E820_MAX);
	if (ne820 < 0)
		return ne820;
	if (img->kind == BOOT_PVH)
		return x86_pvh_write(&vm->mem, LAYOUT_CMDLINE, initrd_gpa, initrd_len, e820,
				     (unsigned int)ne820, LAYOUT_ACPI);
	bp = gmem_ptr(&vm->mem, LAYOUT_ZERO_PAGE, sizeof(*bp));
	if (!bp)
		return -EFAULT;
	return x86_zeropage_build(bp, img, LAYOUT_CMDLINE, initrd_gpa, initrd_len, e820,
				  (unsigned int)ne820, LAYOUT_ACPI);
}

static int setup_cpuid(struct vm *vm, struct vcpu *vcpu)
{
	struct kvm_cpuid2 *cpuid;
	int ret = 0;

	cpuid = calloc(1, sizeof(*cpuid) + CPUID_MAX_ENTRIES * sizeof(cpuid->entries[0]));
	if (!cpuid)
		return -ENOMEM;
	cpuid->nent = CPUID_MAX_ENTRIES;
	if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
		ret = -errno;
		log_msg("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		goto out;
	}
	x86_cpuid_fixup(cpuid->entries, cpuid->nent, vcpu->index, vm->ncpus);
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
		x86_cpuid_tsc_deadline(cpuid->entries, cpuid->nent);
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid) < 0) {
		ret = -errno;
		log_msg("vcpu %u: KVM_SET_CPUID2: %s", vcpu->index, strerror(errno));
	}
out:
	free(cpuid);
	return ret;
}

static int setup_msrs(struct vcpu *vcpu)
{
	static const struct { uint32_t index; uint64_t data; } boot_msrs[] = {
		{ MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 }, { MSR_STAR, 0 }, { MSR_CSTAR, 0 },
		{ MSR_KERNEL_GS_BASE, 0 }, { MSR_SYSCALL_MASK, 0 }, { MSR_LSTAR, 0 },
		{ MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
		{ MSR_MTRR_DEF_TYPE, MTRR_ENABLE_WB },
	};
	enum { N = sizeof(boot_msrs) / sizeof(boot_msrs[0]) };
	struct kvm_msrs *msrs;
	unsigned int i;
	int set, ret = 0;

	msrs = calloc(1, sizeof(*msrs) + N * sizeof(msrs->entries[0]));
	if (!msrs)
		return -ENOMEM;
	msrs->nmsrs = N;
	for (i = 0; i < N; i++) {
		msrs->entries[i].index = boot_msrs[i].index;
		msrs->entries[i].data = boot_msrs[i].data;
	}
	set = ioctl(vcpu->fd, KVM_SET_MSRS, msrs);
	if (set < 0)
		ret = -errno;
	/* KVM stops at the first MSR it refuses; some hosts (PVM) lack a few. Not fatal. */
	else if (set < N)
		log_debug("vcpu %u: KVM refused MSR 0x%x", vcpu->index, msrs->entries[set].index);
	free(msrs);
	return ret;
}

static int setup_lapic(struct vcpu *vcpu)
{
	struct kvm_lapic_state lapic;
	uint32_t *lvt0 = (uint32_t *)(void *)&lapic.regs[APIC_LVT0];
	uint32_t *lvt1 = (uint32_t *)(void *)&lapic.regs[APIC_LVT1];

	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	/* LINT0 delivers the PIC's ExtINT, LINT1 the NMI, as a PC's firmware leaves them. */
	*lvt0 = (*lvt0 & ~0x700u) | (APIC_MODE_EXTINT << 8);
	*lvt1 = (*lvt1 & ~0x700u) | (APIC_MODE_NMI << 8);
	return ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic) < 0 ? -errno : 0;
}

static int setup_boot_regs(struct vcpu *vcpu, const struct boot_image *img)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_fpu fpu;

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;
	regs.rip = img->entry;
	if (img->kind == BOOT_PVH) {
		x86_sregs_protected_mode(&sregs);
		regs.rbx = LAYOUT_PVH_INFO;
	} else {
		x86_sregs_long_mode(&sregs);
		regs.rsi = LAYOUT_ZERO_PAGE;
		regs.rsp = regs.rbp = LAYOUT_BOOT_STACK;
	}
	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	if (ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0 || ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

int arch_vcpu_setup(struct vm *vm, struct vcpu *vcpu, const struct boot_image *img)
{
	int ret = setup_cpuid(vm, vcpu);

	if (!ret)
		ret = setup_msrs(vcpu);
	if (!ret)
		ret = setup_lapic(vcpu);
	/* Only the boot vCPU starts at the kernel; the others wait for INIT/SIPI in the LAPIC. */
	if (!ret && vcpu->index == 0)
		ret = setup_boot_regs(vcpu, img);
	return ret;
}

void arch_vcpu_dump(struct vcpu *vcpu, char *buf, size_t len)
{
	struct kvm_sregs s;
	struct kvm_regs r;

	if (vcpu->fd < 0 || ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0) {
		snprintf(buf, len, "registers unavailable");
		return;
	}
	snprintf(buf, len,
		 "rip=0x%llx rsp=0x%llx rflags=0x%llx rax=0x%llx rbx=0x%llx rcx=0x%llx "
		 "rdx=0x%llx rsi=0x%llx rdi=0x%llx cr0=0x%llx cr2=0x%llx cr3=0x%llx cr4=0x%llx "
		 "efer=0x%llx cs=0x%x",
		 r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, s.cr0, s.cr2,
		 s.cr3, s.cr4, s.efer, s.cs.selector);
}
