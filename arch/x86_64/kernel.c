/* kernel: the x86_64 kernel formats — bzImage, ELF vmlinux, and the ELF's PVH entry note. */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/x86_64/x86.h"

/* bzImage: boot sector signature, then the "HdrS" setup header magic. */
#define BZ_SIG_OFF   0x1fe
#define BZ_MAGIC_OFF 0x202

#define XEN_ELFNOTE_PHYS32_ENTRY 18

/*
 * There is no setup header to ask. Without one the 64-bit boot protocol
 * promises nothing about where an initrd may sit, so keep to the limit
 * every protocol-2.03+ kernel accepts. PVH hands the kernel 64-bit
 * addresses in start_info, but its 32-bit entry runs before paging, so
 * stay below 4 GiB. Linux's COMMAND_LINE_SIZE is 2048 with the NUL.
 */
#define ELF_INITRD_MAX   0x37ffffffU
#define PVH_INITRD_MAX   0xffffffffU
#define ELF_CMDLINE_SIZE 2047U

/* 1, 0, or -errno when the image cannot be read. */
static int is_bzimage(const struct boot_src *img, const char **msg)
{
	uint8_t head[BZ_MAGIC_OFF + 4];
	int err;

	if (img->len < sizeof(head))
		return 0;
	err = boot_src_read(img, 0, head, sizeof(head), msg);
	if (err)
		return err;
	return head[BZ_SIG_OFF] == 0x55 && head[BZ_SIG_OFF + 1] == 0xaa &&
	       memcmp(head + BZ_MAGIC_OFF, "HdrS", 4) == 0;
}

/* Xen's PHYS32_ENTRY note: a 32-bit entry in flat protected mode, as 4 or 8 bytes. */
static int pvh_entry(const struct boot_src *img, uint64_t *entry, const char **msg)
{
	uint8_t desc[8];
	uint32_t desc_len, v32;
	uint64_t val;
	int found;

	found = boot_elf_note(img, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, desc, sizeof(desc), &desc_len,
			      msg);
	if (found <= 0)
		return found;
	if (desc_len == 4) {
		memcpy(&v32, desc, 4);
		val = v32;
	} else if (desc_len == 8) {
		memcpy(&val, desc, 8);
	} else {
		return boot_fail(msg, -ENOEXEC, "ELF: PVH entry note of %u bytes", desc_len);
	}
	if (val > UINT32_MAX)
		return boot_fail(msg, -ENOEXEC, "ELF: PVH entry 0x%llx above 4 GiB",
				 (unsigned long long)val);
	*entry = val;
	return 1;
}

int x86_elf(const struct gmem *m, const struct boot_src *img, uint64_t min_addr, bool copy,
	    struct boot_image *out, const char **msg)
{
	uint64_t entry = 0;
	int pvh, err;

	pvh = pvh_entry(img, &entry, msg);
	if (pvh < 0)
		return pvh;
	err = boot_load_elf(m, img, min_addr, EM_X86_64, pvh ? &entry : NULL, copy, out, msg);
	if (err)
		return err;
	out->arch_kind = pvh ? X86_BOOT_PVH : X86_BOOT_ELF;
	out->initrd_addr_max = pvh ? PVH_INITRD_MAX : ELF_INITRD_MAX;
	out->cmdline_size = ELF_CMDLINE_SIZE;
	return 0;
}

/* An image in memory, as the tests and the fuzzer give it. */
static struct boot_src mem_src(const uint8_t *img, size_t len)
{
	return (struct boot_src){ .buf = img, .fd = -1, .len = img ? len : 0 };
}

int x86_load_elf(const struct gmem *m, const uint8_t *img, size_t len, uint64_t min_addr,
		 struct boot_image *out, const char **msg)
{
	struct boot_src src = mem_src(img, len);

	return x86_elf(m, &src, min_addr, true, out, msg);
}

/* Either format, recognised by content; with copy false nothing reaches m. */
static int load(const struct gmem *m, const struct boot_src *img, uint64_t min_addr, bool copy,
		struct boot_image *out, const char **msg)
{
	int ret = boot_is_elf(img, msg);

	if (ret > 0)
		return x86_elf(m, img, min_addr, copy, out, msg);
	if (!ret)
		ret = is_bzimage(img, msg);
	if (ret > 0)
		return x86_bzimage(m, img, min_addr, copy, out, msg);
	if (!ret && msg)
		*msg = "not an ELF or bzImage kernel";
	return ret ? ret : -ENOEXEC;
}

int x86_load_kernel(const struct gmem *m, const uint8_t *img, size_t len, uint64_t min_addr,
		    struct boot_image *out, const char **msg)
{
	struct boot_src src = mem_src(img, len);

	return load(m, &src, min_addr, true, out, msg);
}

int arch_load_kernel(const struct gmem *m, const struct boot_src *img, struct boot_image *out,
		     const char **msg)
{
	return load(m, img, LAYOUT_HIMEM, true, out, msg);
}

int arch_check_kernel(const struct gmem *m, const struct boot_src *img, struct boot_image *out,
		      const char **msg)
{
	return load(m, img, LAYOUT_HIMEM, false, out, msg);
}

int arch_kernel_payload(const struct boot_image *bi, uint64_t img_len, struct boot_payload *out)
{
	return x86_bzimage_payload(bi, img_len, out);
}
