/* blob: the demo guest's static /init, embedded in hull at build time. */
	.section .rodata
	.global demo_init_start
	.global demo_init_end
	.balign 16
demo_init_start:
	.incbin DEMO_INIT_PATH
demo_init_end:
	.section .note.GNU-stack,"",@progbits
