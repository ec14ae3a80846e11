/* bzimage: load a Linux x86 bzImage for the 64-bit boot protocol (Documentation/x86/boot.rst). */
#include <asm/bootparam.h>
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86_64/x86.h"

#define HDR_OFF      0x1f1	/* struct setup_header starts here in the image */
#define JUMP_LEN_OFF 0x201	/* jump displacement: the header ends at 0x202 + this byte */
#define HDR_MAGIC    0x53726448	/* "HdrS" */
#define BOOT_FLAG    0xaa55
#define PROTO_MIN    0x020c	/* 2.12: xloadflags says whether the 64-bit entry exists */
#define ENTRY64_OFF  0x200	/* 64-bit entry, from the start of the protected-mode kernel */
#define SECTOR       512
#define HDR_END_MAX  (JUMP_LEN_OFF + 1 + 255) /* the jump's byte is at most 255 */

/* Defaults the boot protocol gives for headers without these fields (or with 0 in them). */
#define DEFAULT_INITRD_MAX  0x37ffffffU
#define DEFAULT_CMDLINE_MAX 255U

/* Image offset just past a setup_header field. */
#define FIELD_END(f) (HDR_OFF + offsetof(struct setup_header, f) + \
		      sizeof(((struct setup_header *)0)->f))


static int is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* Round x up to a (a power of two); fails rather than wrap past 2^64. */
static int align_up(uint64_t x, uint64_t a, uint64_t *res)
{
	if (x > UINT64_MAX - (a - 1))
		return -1;
	*res = (x + a - 1) & ~(a - 1);
	return 0;
}

/*
 * Where the protected-mode kernel is copied. 1 MiB is the address every
 * LOADED_HIGH kernel accepts, and a relocatable kernel realigns itself
 * from there, so only a min_addr above it forces a different choice.
 */
static int pick_load(const struct setup_header *h, uint64_t min_addr, uint64_t *load,
		     const char **msg)
{
	if (min_addr <= LAYOUT_HIMEM) {
		*load = LAYOUT_HIMEM;
		return 0;
	}
	if (!h->relocatable_kernel)
		return boot_fail(msg, -ENOMEM, "bzImage: kernel is not relocatable and 0x%llx is reserved",
			    (unsigned long long)LAYOUT_HIMEM);
	if (align_up(min_addr, le32toh(h->kernel_alignment), load))
		return boot_fail(msg, -ENOMEM, "bzImage: no aligned load address above 0x%llx",
			    (unsigned long long)min_addr);
	return 0;
}

/*
 * Where the decompressed kernel will live. boot.rst gives
 * align_up(load, kernel_alignment) for relocatable kernels, but the
 * decompressor (compressed/head_64.S) never goes below LOAD_PHYSICAL_ADDR,
 * which the header publishes as pref_address; init_size counts from here.
 */
static int pick_runtime(const struct setup_header *h, uint64_t load, uint64_t *run)
{
	uint64_t pref = le64toh(h->pref_address);

	if (!h->relocatable_kernel) {
		*run = pref;
		return 0;
	}
	if (align_up(load, le32toh(h->kernel_alignment), run))
		return -1;
	if (*run < pref)
		*run = pref;
	return 0;
}

static int no_room(const char **msg, uint64_t bytes, uint64_t at)
{
	return boot_fail(msg, -ENOMEM, "kernel does not fit in guest memory (needs %llu bytes at 0x%llx)",
		    (unsigned long long)bytes, (unsigned long long)at);
}

int x86_bzimage(const struct gmem *m, const struct boot_src *src, uint64_t min_addr, bool copy,
		struct boot_image *out, const char **msg)
{
	/* The first sector and the longest header its jump can announce: all that is parsed. */
	uint8_t img[HDR_END_MAX];
	struct setup_header h;
	size_t hdr_end, hdr_len, setup_len, payload, len;
	uint64_t load = 0, run, init_size, lo, hi;
	uint16_t version;
	uint8_t *dst;
	int err;

	if (src->len < FIELD_END(version))
		return boot_fail(msg, -ENOEXEC, "bzImage: truncated setup header");
	/* Past SIZE_MAX it cannot fit in guest memory: the size check below says so. */
	len = src->len > SIZE_MAX ? SIZE_MAX : (size_t)src->len;
	err = boot_src_read(src, 0, img, len < sizeof(img) ? len : sizeof(img), msg);
	if (err)
		return err;
	memset(&h, 0, sizeof(h));
	memcpy(&h, img + HDR_OFF, FIELD_END(version) - HDR_OFF);
	if (le16toh(h.boot_flag) != BOOT_FLAG || le32toh(h.header) != HDR_MAGIC)
		return boot_fail(msg, -ENOEXEC, "bzImage: no HdrS setup header");
	version = le16toh(h.version);
	if (version < PROTO_MIN)
		return boot_fail(msg, -ENOEXEC, "bzImage: boot protocol %u.%02u too old (need 2.12)",
			    version >> 8, version & 0xff);

	/* The header says how long it is; it must cover every field read below. */
	hdr_end = 0x202 + (size_t)img[JUMP_LEN_OFF];
	if (hdr_end > len || hdr_end < FIELD_END(init_size))
		return boot_fail(msg, -ENOEXEC, "bzImage: truncated setup header");
	hdr_len = hdr_end - HDR_OFF;
	if (hdr_len > X86_SETUP_HEADER_MAX)
		hdr_len = X86_SETUP_HEADER_MAX;
	memcpy(&h, img + HDR_OFF, hdr_len < sizeof(h) ? hdr_len : sizeof(h));

	if (!(h.loadflags & LOADED_HIGH))
		return boot_fail(msg, -ENOEXEC, "bzImage: kernel does not load high (zImage?)");
	if (!(le16toh(h.xloadflags) & XLF_KERNEL_64))
		return boot_fail(msg, -ENOEXEC, "bzImage: not a 64-bit kernel");
	if (h.relocatable_kernel && !is_pow2(le32toh(h.kernel_alignment)))
		return boot_fail(msg, -ENOEXEC, "bzImage: kernel_alignment 0x%x is not a power of two",
			    le32toh(h.kernel_alignment));

	/* At most 256 sectors, so this cannot overflow; the header sits inside it. */
	setup_len = ((size_t)(h.setup_sects ? h.setup_sects : 4) + 1) * SECTOR;
	if (setup_len >= len || len - setup_len <= ENTRY64_OFF)
		return boot_fail(msg, -ENOEXEC, "bzImage: truncated protected-mode kernel");
	payload = len - setup_len;

	err = pick_load(&h, min_addr, &load, msg);
	if (err)
		return err;
	dst = gmem_ptr(m, load, payload);
	if (!dst)
		return no_room(msg, payload, load);
	lo = load;
	hi = load + payload; /* gmem_ptr succeeded, so this did not wrap */

	init_size = le32toh(h.init_size);
	if (init_size) {
		if (pick_runtime(&h, load, &run))
			return no_room(msg, init_size, load);
		if (run < min_addr)
			return boot_fail(msg, -ENOMEM, "bzImage: kernel runs at 0x%llx, below 0x%llx",
				    (unsigned long long)run, (unsigned long long)min_addr);
		if (!gmem_ptr(m, run, init_size))
			return no_room(msg, init_size, run);
		if (run < lo)
			lo = run;
		if (run + init_size > hi)
			hi = run + init_size;
	}

	/* Straight from the file into guest memory. */
	if (copy) {
		err = boot_src_read(src, setup_len, dst, payload, msg);
		if (err)
			return err;
	}

	memset(out, 0, sizeof(*out));
	out->arch_kind = X86_BOOT_BZIMAGE;
	out->entry = load + ENTRY64_OFF;
	out->load_start = lo;
	out->load_end = hi;
	memcpy(out->arch_data, img + HDR_OFF, hdr_len);
	out->arch_data_len = hdr_len;
	out->initrd_addr_max = le32toh(h.initrd_addr_max);
	if (!out->initrd_addr_max)
		out->initrd_addr_max = DEFAULT_INITRD_MAX;
	out->cmdline_size = le32toh(h.cmdline_size);
	if (!out->cmdline_size)
		out->cmdline_size = DEFAULT_CMDLINE_MAX;
	return 0;
}

int x86_load_bzimage(const struct gmem *m, const uint8_t *img, size_t len, uint64_t min_addr,
		     struct boot_image *out, const char **msg)
{
	struct boot_src src = { .buf = img, .fd = -1, .len = img ? len : 0 };

	return x86_bzimage(m, &src, min_addr, true, out, msg);
}

/* Where the payload starts is counted from the protected-mode kernel, past the setup sectors. */
int x86_bzimage_payload(const struct boot_image *bi, uint64_t img_len, struct boot_payload *out)
{
	struct setup_header h;
	uint64_t setup_len, off, len;

	if (bi->arch_kind != X86_BOOT_BZIMAGE || bi->arch_data_len < FIELD_END(payload_length) -
	    HDR_OFF)
		return 0;
	memset(&h, 0, sizeof(h));
	memcpy(&h, bi->arch_data, bi->arch_data_len < sizeof(h) ? bi->arch_data_len : sizeof(h));
	setup_len = ((uint64_t)(h.setup_sects ? h.setup_sects : 4) + 1) * SECTOR;
	off = setup_len + le32toh(h.payload_offset);
	len = le32toh(h.payload_length);
	if (!len || off > img_len || len > img_len - off)
		return -ENOEXEC;
	out->off = off;
	out->len = len;
	out->relocatable = h.relocatable_kernel;
	return 1;
}
