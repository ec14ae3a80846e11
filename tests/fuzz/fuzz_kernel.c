/*
 * fuzz_kernel: any bytes at all, loaded as the kernel image a user named, must fail cleanly;
 * so must a bzImage's payload, unpacked as hull unpacks it on the host, and loaded in turn,
 * and then placed at random and relocated by its appended relocation table (KASLR by hull).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "arch/x86_64/x86.h"
#include "lib/unpack.h"

#define RAM_SIZE (16ULL << 20)
#define MIN_ADDR (1ULL << 20)
#define UNPACKED_MAX (1u << 20) /* per input: the decoders' work is bounded by it */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* data loaded as a kernel: -1 when it is none, 0 an ELF, 1 a bzImage (bi holds its header). */
static int load(const struct gmem *mem, const uint8_t *data, size_t size, struct boot_image *bi)
{
	const char *msg = NULL;
	int ret;

	ret = x86_load_kernel(mem, data, size, MIN_ADDR, bi, &msg);
	if (ret) {
		if ((ret != -ENOEXEC && ret != -ENOMEM) || !msg)
			abort();
		return -1;
	}
	/* What the arch code will trust: everything inside RAM, above min_addr. */
	if (bi->load_start < MIN_ADDR || bi->load_end > RAM_SIZE || bi->load_start >= bi->load_end)
		abort();
	if (bi->entry < bi->load_start || bi->entry >= bi->load_end)
		abort();
	if (bi->arch_data_len > X86_SETUP_HEADER_MAX ||
	    (bi->arch_kind != X86_BOOT_BZIMAGE && bi->arch_data_len))
		abort();
	if (bi->arch_kind == X86_BOOT_PVH && bi->entry > UINT32_MAX)
		abort();
	return bi->arch_kind == X86_BOOT_BZIMAGE;
}

/* The unpacked ELF elf of the bzImage packed, placed at random: cleanly refused, or sound. */
static void kaslr(const struct gmem *mem, const uint8_t *img, size_t len,
		  const struct boot_image *packed, const struct boot_image *elf)
{
	struct boot_src src = { .buf = img, .fd = -1, .len = len };
	struct boot_image planned, bi;
	struct arch_kaslr k;
	const char *msg = NULL;
	uint64_t rnd[2];
	int ret;

	ret = arch_kaslr_plan(mem, &src, packed, elf, &k, &planned, &msg);
	if (ret < 0 && ((ret != -ENOEXEC && ret != -ENOMEM) || !msg))
		abort();
	if (ret <= 0)
		return;
	if (!k.on || planned.load_start != k.base || planned.load_end > RAM_SIZE ||
	    k.relocs_off + k.relocs_len != len || k.align & (k.align - 1))
		abort();
	/* Chosen by the input's last bytes, not by getrandom, so that a run can be repeated. */
	rnd[0] = img[len - 1] * 0x9e3779b97f4a7c15ull;
	rnd[1] = img[len - 2] * 0x9e3779b97f4a7c15ull;
	k.rnd = rnd;
	/* An initrd in the middle of RAM, as the first pass would have placed one. */
	ret = arch_kaslr_load(mem, &src, &k, RAM_SIZE / 2, RAM_SIZE / 8, &bi, &msg);
	if (ret) {
		if ((ret != -ENOMEM && ret != -ENOEXEC) || !msg)
			abort();
		return;
	}
	if (k.phys < k.base || (k.phys - k.base) % k.align || k.phys + k.span > RAM_SIZE ||
	    (k.phys < RAM_SIZE / 2 + RAM_SIZE / 8 && k.phys + k.span > RAM_SIZE / 2) ||
	    k.virt < k.base || (k.virt - k.base) % k.align || k.virt + k.span > (1ULL << 30) ||
	    bi.entry < k.phys || bi.entry >= bi.load_end || bi.load_start != k.phys)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* One RAM for the whole run: a fresh 16 MiB per input would dominate the time. */
	static struct gmem mem;
	static uint8_t *ram, *out;
	struct boot_payload pl;
	struct boot_image bi, ebi;
	enum unpack_format f;
	size_t got;
	int ret;

	if (!ram) {
		ram = calloc(1, RAM_SIZE);
		out = malloc(UNPACKED_MAX);
		if (!ram || !out || gmem_add(&mem, 0, RAM_SIZE, ram))
			abort();
	}
	if (load(&mem, data, size, &bi) != 1)
		return 0;
	ret = arch_kernel_payload(&bi, size, &pl);
	if (ret <= 0) {
		if (ret && ret != -ENOEXEC)
			abort();
		return 0;
	}
	if (pl.off > size || pl.len > size - pl.off || !pl.len)
		abort();
	f = unpack_detect(data + pl.off, (size_t)pl.len);
	ret = unpack(f, data + pl.off, (size_t)pl.len, out, UNPACKED_MAX, &got);
	if (ret && ret != -EINVAL && ret != -EFBIG && ret != -ENOMEM)
		abort();
	if (got > UNPACKED_MAX)
		abort();
	/* What hull would boot instead: loaded, it must fail cleanly or be sound. */
	if (!ret && load(&mem, out, got, &ebi) == 0)
		kaslr(&mem, out, got, &bi, &ebi);
	return 0;
}
