/* blob: hull-init, the static guest PID 1 of container mode, embedded in hull at build time. */
	.section .rodata
	.global hull_init_start
	.global hull_init_end
	.balign 16
hull_init_start:
	.incbin HULL_INIT_PATH
hull_init_end:
	/* Its identity, a sha256 of the file the Makefile took: the initramfs cache's key. */
	.global hull_init_id
hull_init_id:
	.asciz HULL_INIT_ID
	.section .note.GNU-stack,"",@progbits
