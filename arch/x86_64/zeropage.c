/* zeropage: struct boot_params for the Linux 64-bit boot protocol. */
#include <errno.h>
#include <string.h>

#include "arch/x86_64/x86.h"

#define SETUP_HDR_OFFSET 0x1f1
#define HDRS_MAGIC 0x53726448 /* "HdrS" */

int x86_zeropage_build(struct boot_params *bp, const struct boot_image *img, uint64_t cmdline_gpa,
		       uint64_t initrd_gpa, uint64_t initrd_len, const struct e820_entry *e820,
		       unsigned int ne820, uint64_t rsdp_gpa)
{
	struct setup_header *h = &bp->hdr;
	unsigned int i;

	memset(bp, 0, sizeof(*bp));
	if (ne820 > sizeof(bp->e820_table) / sizeof(bp->e820_table[0]) || cmdline_gpa >> 32)
		return -EINVAL;
	if (img->arch_kind == X86_BOOT_BZIMAGE) {
		if (img->arch_data_len > X86_SETUP_HEADER_MAX)
			return -EINVAL;
		memcpy((uint8_t *)bp + SETUP_HDR_OFFSET, img->arch_data, img->arch_data_len);
	} else {
		/* An ELF vmlinux has no setup header; give the kernel the fields it reads. */
		h->boot_flag = 0xaa55;
		h->header = HDRS_MAGIC;
		h->version = 0x020f;
		h->kernel_alignment = 0x1000000;
	}
	h->type_of_loader = 0xff; /* undefined boot loader */
	h->loadflags |= LOADED_HIGH;
	h->cmd_line_ptr = (uint32_t)cmdline_gpa;
	h->ramdisk_image = 0;
	h->ramdisk_size = 0;
	if (initrd_len) {
		h->ramdisk_image = (uint32_t)initrd_gpa;
		h->ramdisk_size = (uint32_t)initrd_len;
		bp->ext_ramdisk_image = (uint32_t)(initrd_gpa >> 32);
		bp->ext_ramdisk_size = (uint32_t)(initrd_len >> 32);
	}
	bp->acpi_rsdp_addr = rsdp_gpa;
	for (i = 0; i < ne820; i++) {
		bp->e820_table[i].addr = e820[i].addr;
		bp->e820_table[i].size = e820[i].size;
		bp->e820_table[i].type = e820[i].type;
	}
	bp->e820_entries = (uint8_t)ne820;
	return 0;
}
