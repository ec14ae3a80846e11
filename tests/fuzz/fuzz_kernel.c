/* fuzz_kernel: any bytes at all, loaded as the kernel image a user named, must fail cleanly. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "arch/x86_64/x86.h"

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
	ret = x86_load_kernel(&mem, data, size, MIN_ADDR, &bi, &msg);
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
	if (bi.arch_data_len > X86_SETUP_HEADER_MAX ||
	    (bi.arch_kind != X86_BOOT_BZIMAGE && bi.arch_data_len))
		abort();
	if (bi.arch_kind == X86_BOOT_PVH && bi.entry > UINT32_MAX)
		abort();
	return 0;
}
