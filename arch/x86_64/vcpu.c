/* vcpu: x86_64 vCPU state before the first KVM_RUN — CPUID, MSRs, LAPIC, FPU, entry registers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/arch.h"
#include "arch/x86_64/x86.h"
#include "lib/log.h"

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

static int setup_cpuid(const struct arch_vm *avm, int fd, unsigned int index)
{
	struct kvm_cpuid2 *cpuid;
	int ret = 0;

	cpuid = calloc(1, sizeof(*cpuid) + CPUID_MAX_ENTRIES * sizeof(cpuid->entries[0]));
	if (!cpuid)
		return -ENOMEM;
	cpuid->nent = CPUID_MAX_ENTRIES;
	if (ioctl(avm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
		ret = -errno;
		log_msg("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		goto out;
	}
	x86_cpuid_fixup(cpuid->entries, cpuid->nent, index, avm->ncpus);
	if (ioctl(avm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
		x86_cpuid_tsc_deadline(cpuid->entries, cpuid->nent);
	if (ioctl(fd, KVM_SET_CPUID2, cpuid) < 0) {
		ret = -errno;
		log_msg("vcpu %u: KVM_SET_CPUID2: %s", index, strerror(errno));
	}
out:
	free(cpuid);
	return ret;
}

static int setup_msrs(int fd, unsigned int index)
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
	set = ioctl(fd, KVM_SET_MSRS, msrs);
	if (set < 0)
		ret = -errno;
	/* KVM stops at the first MSR it refuses; some hosts (PVM) lack a few. Not fatal. */
	else if (set < N)
		log_debug("vcpu %u: KVM refused MSR 0x%x", index, msrs->entries[set].index);
	free(msrs);
	return ret;
}

static int setup_lapic(int fd)
{
	struct kvm_lapic_state lapic;
	uint32_t *lvt0 = (uint32_t *)(void *)&lapic.regs[APIC_LVT0];
	uint32_t *lvt1 = (uint32_t *)(void *)&lapic.regs[APIC_LVT1];

	if (ioctl(fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	/* LINT0 delivers the PIC's ExtINT, LINT1 the NMI, as a PC's firmware leaves them. */
	*lvt0 = (*lvt0 & ~0x700u) | (APIC_MODE_EXTINT << 8);
	*lvt1 = (*lvt1 & ~0x700u) | (APIC_MODE_NMI << 8);
	return ioctl(fd, KVM_SET_LAPIC, &lapic) < 0 ? -errno : 0;
}

static int setup_boot_regs(int fd, const struct boot_image *img)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_fpu fpu;

	if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;
	regs.rip = img->entry;
	if (img->arch_kind == X86_BOOT_PVH) {
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
	if (ioctl(fd, KVM_SET_FPU, &fpu) < 0 || ioctl(fd, KVM_SET_SREGS, &sregs) < 0 ||
	    ioctl(fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

int arch_vcpu_setup(struct arch_vm *avm, int vcpu_fd, unsigned int index,
		    const struct boot_image *img)
{
	int ret = setup_cpuid(avm, vcpu_fd, index);

	if (!ret)
		ret = setup_msrs(vcpu_fd, index);
	if (!ret)
		ret = setup_lapic(vcpu_fd);
	/* Only the boot vCPU starts at the kernel; the others wait for INIT/SIPI in the LAPIC. */
	if (!ret && index == 0)
		ret = setup_boot_regs(vcpu_fd, img);
	return ret;
}

void arch_vcpu_dump(int vcpu_fd, char *buf, size_t len)
{
	struct kvm_sregs s;
	struct kvm_regs r;

	if (vcpu_fd < 0 || ioctl(vcpu_fd, KVM_GET_REGS, &r) < 0 ||
	    ioctl(vcpu_fd, KVM_GET_SREGS, &s) < 0) {
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
