/* demo: hull's built-in demo initramfs around the embedded static /init. */
#include "boot/boot.h"

extern const uint8_t demo_init_start[];
extern const uint8_t demo_init_end[];

int boot_demo_initramfs(struct cpio *c)
{
	boot_cpio_dir(c, "dev", 0755);
	boot_cpio_dir(c, "proc", 0555);
	boot_cpio_dir(c, "sys", 0555);
	boot_cpio_file(c, "init", 0755, demo_init_start, (size_t)(demo_init_end - demo_init_start));
	return boot_cpio_finish(c);
}
