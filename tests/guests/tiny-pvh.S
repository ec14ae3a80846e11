/* tiny-pvh: a guest of a few dozen instructions (PVH entry, 32-bit) that prints a line on COM1 and
 * powers off through the ACPI sleep register; it finishes even where guest kernel code is emulated. */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4			/* namesz */
	.long 4			/* descsz */
	.long 18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long _start

	.text
	.code32
	.global _start
_start:
	mov $msg, %esi
	mov $0x3f8, %dx
1:	lodsb
	test %al, %al
	jz 2f
	outb %al, %dx
	jmp 1b
2:	mov $0x600, %dx		/* ACPI sleep control: SLP_TYP 5, SLP_EN */
	mov $0x34, %al
	outb %al, %dx
3:	hlt
	jmp 3b

	.section .rodata
msg:	.asciz "hull tiny guest: hello from PVH\n"
	.section .note.GNU-stack, "", @progbits
