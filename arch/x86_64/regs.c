/* regs: page tables, GDT and segment registers for entering the kernel in long or protected mode. */
#include <errno.h>
#include <string.h>

#include "arch/x86_64/x86.h"

#define X86_CR0_PE 0x1ULL
#define X86_CR0_ET 0x10ULL
#define X86_CR0_NE 0x20ULL
#define X86_CR0_PG 0x80000000ULL
#define X86_CR4_PAE 0x20ULL
#define EFER_LME 0x100ULL
#define EFER_LMA 0x400ULL

#define PTE_P 0x1ULL
#define PTE_RW 0x2ULL
#define PTE_PS 0x80ULL

/* A GDT descriptor from flags (access byte + nibble of granularity bits), base and limit. */
static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(flags & 0xf0ffu) << 40) |
	       ((uint64_t)(limit & 0x000f0000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
	       (uint64_t)(limit & 0x0000ffffu);
}

static const uint64_t *gdt_table(void)
{
	static uint64_t gdt[GDT_ENTRIES];

	gdt[0] = 0;
	gdt[1] = 0;
	gdt[SEL_CODE64 >> 3] = gdt_entry(0xa09b, 0, 0xfffff); /* 64-bit code, G, present */
	gdt[SEL_DATA >> 3] = gdt_entry(0xc093, 0, 0xfffff);   /* 32-bit data, G, present */
	gdt[SEL_CODE32 >> 3] = gdt_entry(0xc09b, 0, 0xfffff); /* 32-bit code, G, present */
	gdt[SEL_TSS >> 3] = gdt_entry(0x808b, 0, 0xfffff);    /* busy TSS */
	return gdt;
}

int x86_write_gdt(const struct gmem *m)
{
	uint64_t idt = 0;
	int ret = gmem_write(m, LAYOUT_GDT, gdt_table(), GDT_ENTRIES * sizeof(uint64_t));

	return ret ? ret : gmem_write(m, LAYOUT_IDT, &idt, sizeof(idt));
}

int x86_write_pagetables(const struct gmem *m)
{
	uint64_t *pml4 = gmem_ptr(m, LAYOUT_PML4, 0x1000);
	uint64_t *pdpt = gmem_ptr(m, LAYOUT_PDPT, 0x1000);
	uint64_t *pd = gmem_ptr(m, LAYOUT_PD, 4 * 0x1000);
	unsigned int i;

	if (!pml4 || !pdpt || !pd)
		return -EFAULT;
	memset(pml4, 0, 0x1000);
	memset(pdpt, 0, 0x1000);
	pml4[0] = LAYOUT_PDPT | PTE_P | PTE_RW;
	for (i = 0; i < 4; i++)
		pdpt[i] = (LAYOUT_PD + i * 0x1000ULL) | PTE_P | PTE_RW;
	for (i = 0; i < 4 * 512; i++)
		pd[i] = ((uint64_t)i << 21) | PTE_P | PTE_RW | PTE_PS;
	return 0;
}

/* The hidden part of a segment register, decoded from its own GDT descriptor. */
static struct kvm_segment segment(uint16_t sel)
{
	uint64_t d = gdt_table()[sel >> 3];
	struct kvm_segment s = {
		.base = (uint32_t)(((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000)),
		.limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000)),
		.selector = sel,
		.type = (uint8_t)((d >> 40) & 0xf),
		.present = (uint8_t)((d >> 47) & 1),
		.dpl = (uint8_t)((d >> 45) & 3),
		.db = (uint8_t)((d >> 54) & 1),
		.s = (uint8_t)((d >> 44) & 1),
		.l = (uint8_t)((d >> 53) & 1),
		.g = (uint8_t)((d >> 55) & 1),
	};

	if (s.g)
		s.limit = (s.limit << 12) | 0xfff;
	return s;
}

static void common_sregs(struct kvm_sregs *s, uint16_t code_sel)
{
	struct kvm_segment data = segment(SEL_DATA);

	s->cs = segment(code_sel);
	s->ds = s->es = s->fs = s->gs = s->ss = data;
	s->tr = segment(SEL_TSS);
	s->gdt.base = LAYOUT_GDT;
	s->gdt.limit = GDT_ENTRIES * 8 - 1;
	s->idt.base = LAYOUT_IDT;
	s->idt.limit = 7;
}

void x86_sregs_long_mode(struct kvm_sregs *s)
{
	common_sregs(s, SEL_CODE64);
	s->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE | X86_CR0_PG;
	s->cr3 = LAYOUT_PML4;
	s->cr4 = X86_CR4_PAE;
	s->efer = EFER_LME | EFER_LMA;
}

void x86_sregs_protected_mode(struct kvm_sregs *s)
{
	common_sregs(s, SEL_CODE32);
	s->cr0 = X86_CR0_PE | X86_CR0_ET;
	s->cr3 = 0;
	s->cr4 = 0;
	s->efer = 0;
}
