/* fuzz_kernel: any bytes at all, loaded as the kernel image a user named, must fail cleanly. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "boot/boot.h"

#define RAM_SIZE (16ULL << 20)
#define MIN_ADDR (1ULL << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* One RAM for the whole run: a fresh 16 MiB per input would dominate the time. */
	static struct gmem mem;
	static uint8_t *ram;
	struct boot_image bi;
	const char *msg = NULL;
	int ret;

	if (!ram) {
		ram = calloc(1, RAM_SIZE);
		if (!ram || gmem_add(&mem, 0, RAM_SIZE, ram))
			abort();
	}
	ret = boot_load_kernel(&mem, data, size, MIN_ADDR, &bi, &msg);
	if (ret) {
		if ((ret != -ENOEXEC && ret != -ENOMEM) || !msg)
			abort();
		return 0;
	}
	/* What the arch code will trust: everything inside RAM, above min_addr. */
	if (bi.load_start < MIN_ADDR || bi.load_end > RAM_SIZE || bi.load_start >= bi.load_end)
		abort();
	if (bi.entry < bi.load_start || bi.entry >= bi.load_end)
		abort();
	if (bi.setup_header_len > sizeof(bi.setup_header) ||
	    (bi.kind != BOOT_BZIMAGE && bi.setup_header_len))
		abort();
	if (bi.kind == BOOT_PVH && bi.entry > UINT32_MAX)
		abort();
	return 0;
}
