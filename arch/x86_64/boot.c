/* boot: the x86_64 boot state in guest memory: command line, GDT, page tables, ACPI, zero page. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/x86_64/acpi.h"
#include "arch/x86_64/x86.h"

uint64_t arch_initrd_ram_end(const struct gmem *mem)
{
	uint64_t end = mem->n ? mem->r[0].gpa + mem->r[0].size : 0;

	return end < LAYOUT_MMIO_HOLE ? end : LAYOUT_MMIO_HOLE;
}

static int write_acpi(const struct arch_vm *avm, const struct arch_boot *b)
{
	struct acpi_mmio_dev *devs = NULL;
	struct acpi_config cfg = {
		.ncpus = avm->ncpus,
		.ioapic_addr = (uint32_t)LAYOUT_IOAPIC,
		.lapic_addr = (uint32_t)LAYOUT_LAPIC,
		.pm_port = PORT_ACPI_PM,
		.reset_value = ACPI_RESET_VALUE,
		.s5_slp_typ = ACPI_S5_SLP_TYP,
	};
	uint8_t *buf = gmem_ptr(b->mem, LAYOUT_ACPI, LAYOUT_ACPI_SIZE);
	unsigned int i;
	size_t used;
	int ret;

	if (!buf)
		return -EFAULT;
	if (b->nvirtio) {
		devs = calloc(b->nvirtio, sizeof(*devs));
		if (!devs)
			return -ENOMEM;
	}
	for (i = 0; i < b->nvirtio; i++) {
		const struct arch_mmio_window *w = &b->virtio[i];

		/* The windows sit in the 32-bit MMIO hole (arch_virtio_slot). */
		if (w->base > UINT32_MAX || w->size > UINT32_MAX - w->base) {
			free(devs);
			return -EINVAL;
		}
		devs[i] = (struct acpi_mmio_dev){ .hid = "LNRO0005", .addr = (uint32_t)w->base,
						  .size = (uint32_t)w->size, .gsi = w->gsi };
	}
	cfg.devs = devs;
	cfg.ndevs = b->nvirtio;
	ret = acpi_build(buf, LAYOUT_ACPI_SIZE, LAYOUT_ACPI, &cfg, &used);
	free(devs);
	return ret;
}

int arch_boot_setup(struct arch_vm *avm, const struct arch_boot *b)
{
	struct e820_entry e820[E820_MAX];
	struct boot_params *bp;
	size_t clen = strlen(b->cmdline) + 1;
	int ne820, ret;

	if (clen > LAYOUT_CMDLINE_MAX)
		return -E2BIG;
	ret = gmem_write(b->mem, LAYOUT_CMDLINE, b->cmdline, clen);
	if (!ret)
		ret = x86_write_gdt(b->mem);
	if (!ret)
		ret = x86_write_pagetables(b->mem);
	if (!ret)
		ret = write_acpi(avm, b);
	if (ret)
		return ret;
	ne820 = x86_e820_build(b->mem, e820, E820_MAX);
	if (ne820 < 0)
		return ne820;
	if (b->img->arch_kind == X86_BOOT_PVH)
		return x86_pvh_write(b->mem, LAYOUT_CMDLINE, b->initrd_gpa, b->initrd_len, e820,
				     (unsigned int)ne820, LAYOUT_ACPI);
	bp = gmem_ptr(b->mem, LAYOUT_ZERO_PAGE, sizeof(*bp));
	if (!bp)
		return -EFAULT;
	return x86_zeropage_build(bp, b->img, LAYOUT_CMDLINE, b->initrd_gpa, b->initrd_len, e820,
				  (unsigned int)ne820, LAYOUT_ACPI);
}
