/* cpuid: per-vCPU CPUID from KVM's supported set — APIC ids, topology, hypervisor bit. */
#include "arch/x86_64/x86.h"

#define CPUID_HV_BASE 0x40000000u
#define CPUID_HV_END 0x400000ffu

/* Bits needed to number n things (the APIC id field width of a topology level). */
static unsigned int order(unsigned int n)
{
	unsigned int bits = 0;

	while ((1u << bits) < n)
		bits++;
	return bits;
}

static void leaf_topology(struct kvm_cpuid_entry2 *e, unsigned int index, unsigned int ncpus)
{
	unsigned int core_bits = order(ncpus);

	e->edx = index;
	switch (e->index) {
	case 0: /* SMT level: one thread per core */
		e->eax = 0;
		e->ebx = 1;
		e->ecx = 0 | (1u << 8);
		break;
	case 1: /* core level: every vCPU a core of one package */
		e->eax = core_bits;
		e->ebx = ncpus;
		e->ecx = 1 | (2u << 8);
		break;
	default: /* no further levels */
		e->eax = 0;
		e->ebx = 0;
		e->ecx = e->index;
		break;
	}
}

void x86_cpuid_tsc_deadline(struct kvm_cpuid_entry2 *e, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (e[i].function == 0x1)
			e[i].ecx |= 1u << 24;
}

void x86_cpuid_fixup(struct kvm_cpuid_entry2 *e, unsigned int n, unsigned int index,
		     unsigned int ncpus)
{
	unsigned int i, core_bits = order(ncpus);

	for (i = 0; i < n; i++, e++) {
		if (e->function >= CPUID_HV_BASE && e->function <= CPUID_HV_END)
			continue; /* KVM's (or PVM's) own leaves: the guest detects its host by them */
		switch (e->function) {
		case 0x1:
			e->ebx = (e->ebx & 0x0000ffffu) | (index << 24) |
				 ((ncpus > 0xff ? 0xffu : ncpus) << 16);
			e->ecx |= 1u << 31; /* running on a hypervisor */
			if (ncpus > 1)
				e->edx |= 1u << 28; /* HTT: the package has several logical CPUs */
			else
				e->edx &= ~(1u << 28);
			break;
		case 0x4:
			/* Cores per package - 1, threads sharing this cache - 1 (none). */
			if (e->eax & 0x1f)
				e->eax = (e->eax & 0x3ffu) |
					 ((ncpus > 64 ? 63u : ncpus - 1) << 26); /* 6-bit field */
			break;
		case 0xb:
		case 0x1f:
			leaf_topology(e, index, ncpus);
			break;
		case 0x80000008:
			e->ecx = (e->ecx & ~0xf0ffu) | (core_bits << 12) | (ncpus - 1);
			break;
		case 0x8000001e:
			e->eax = index;
			e->ebx = (e->ebx & ~0xffffu) | index; /* compute unit id; one thread per unit */
			e->ecx = 0;
			break;
		default:
			break;
		}
	}
}
