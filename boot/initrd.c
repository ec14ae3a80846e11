/* initrd: choose the guest-physical address of the initial ramdisk. */
#include "boot/boot.h"

#include <errno.h>

#define INITRD_ALIGN 0x1000ULL

/*
 * As high as possible, like other boot loaders do: the kernel reserves the
 * initrd early, and keeping it at the top leaves the low memory it
 * decompresses into free. Pure arithmetic on caller-supplied bounds, so
 * every subtraction is guarded rather than trusted.
 */
int boot_place_initrd(uint64_t floor, uint64_t ram_end, uint64_t limit, uint64_t len,
		      uint64_t *addr)
{
	uint64_t top = limit < ram_end ? limit : ram_end;
	uint64_t at;

	if (len == 0 || !addr)
		return -EINVAL;
	if (len > top)
		return -ENOMEM;
	at = (top - len) & ~(INITRD_ALIGN - 1);
	if (at < floor)
		return -ENOMEM;
	*addr = at;
	return 0;
}
