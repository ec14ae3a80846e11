/* tiny-pvh: a guest of a few dozen instructions (PVH entry, 32-bit) for tests that must run even
 * where guest kernel code is emulated. It prints a line on COM1, then acts on the first character
 * of its command line: 'f' triple-faults, 'r' resets through the i8042, 'h' halts forever with
 * interrupts off, 'o' writes the output again many times (a flood), anything else powers off
 * through the ACPI sleep register. */
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
	mov $0x8000, %esp		/* PVH leaves the stack to us: low RAM below the zero page area */
	mov 0x18(%ebx), %edi	/* hvm_start_info.cmdline_paddr (low half) */
	mov $msg, %esi
	call puts
	movb (%edi), %al
	cmp $'f', %al
	je triple_fault
	cmp $'r', %al
	je reset
	cmp $'h', %al
	je hang
	cmp $'o', %al
	je flood
poweroff:
	mov $0x600, %dx		/* ACPI sleep control: SLP_TYP 5 << 2 | SLP_EN */
	mov $0x34, %al
	outb %al, %dx
hang:
	cli
1:	hlt
	jmp 1b

reset:
	mov $0x64, %dx		/* i8042: pulse the reset line */
	mov $0xfe, %al
	outb %al, %dx
	jmp hang

triple_fault:
	lidt null_idt		/* no IDT: the next exception cannot be delivered */
	int3

flood:
	mov $20000, %ecx
2:	mov $msg, %esi
	call puts
	loop 2b
	jmp poweroff

/* Write the NUL-terminated string at %esi to COM1. */
puts:
	mov $0x3f8, %dx
3:	lodsb
	test %al, %al
	jz 4f
	outb %al, %dx
	jmp 3b
4:	ret

	.section .rodata
	.balign 8
null_idt:
	.word 0
	.long 0
msg:	.asciz "hull tiny guest: hello from PVH\n"
	.section .note.GNU-stack, "", @progbits
