/*
 * kaslr: an unpacked x86_64 kernel placed at random by hull, as its decompressor would
 * (arch/x86/boot/compressed: kaslr.c chooses, misc.c relocates), entered at startup_64.
 */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "arch/arch.h"
#include "arch/x86_64/x86.h"

#define START_KERNEL_MAP  0xffffffff80000000ULL /* the kernel's virtual address of physical 0 */
#define KERNEL_IMAGE_SIZE GiB(1)	/* with RANDOMIZE_BASE: the kernel's virtual window */
#define ALIGN_MIN	  MiB(2)	/* startup_64 maps itself with 2 MiB pages */
#define RELOCS_MAX	  MiB(64)	/* Debian's generic kernel carries 0.9 MB */

/* The setup header's fields read here, from the packed kernel's copy. */
static int header(const struct boot_image *packed, struct setup_header *h)
{
	if (packed->arch_kind != X86_BOOT_BZIMAGE ||
	    packed->arch_data_len < offsetof(struct setup_header, init_size) + sizeof(h->init_size))
		return -ENOEXEC;
	memset(h, 0, sizeof(*h));
	memcpy(h, packed->arch_data, packed->arch_data_len < sizeof(*h) ? packed->arch_data_len :
	       sizeof(*h));
	return 0;
}

/* The relocation table, read from its end in pieces: hull never holds it whole. */
#define TABLE_PIECE 4096 /* words */

struct table {
	const struct boot_src *img;
	uint64_t off;  /* in the image */
	uint64_t left; /* words not yet taken, counted from the start */
	uint64_t lo;   /* the word buf[0] holds */
	uint32_t buf[TABLE_PIECE];
};

/* The word before the last one taken: 1 with *w, 0 at the table's start, or -errno (why). */
static int table_prev(struct table *t, uint32_t *w, const char **why)
{
	uint64_t i;
	int ret;

	if (!t->left)
		return 0;
	i = --t->left;
	if (i < t->lo || i - t->lo >= TABLE_PIECE) {
		t->lo = i + 1 >= TABLE_PIECE ? i + 1 - TABLE_PIECE : 0;
		ret = boot_src_read(t->img, t->off + t->lo * 4, t->buf, (size_t)(i + 1 - t->lo) * 4,
				    why);
		if (ret)
			return ret;
	}
	*w = t->buf[i - t->lo];
	return 1;
}

/*
 * k's relocation table in img, read from its end as the decompressor reads it: 32-bit entries
 * to a 0, inverse 32-bit entries to a 0, 64-bit entries to the 0 that is its first word. Each
 * entry is the kernel's virtual address (its low 32 bits, sign-extended) of a value to move by
 * delta; it must lie within the extent bytes loaded from k->base. With mem (the kernel as
 * loaded at its new place) the values are moved; without, the table is only checked.
 */
static int relocate(const struct boot_src *img, const struct arch_kaslr *k, uint64_t extent,
		    uint64_t delta, uint8_t *mem, const char **why)
{
	struct table *t = malloc(sizeof(*t));
	uint64_t at, v64;
	unsigned int list;
	uint32_t w = 0, v32;
	size_t size;
	int ret = 0;

	if (!t)
		return boot_fail(why, -ENOMEM, "no memory to read its relocation table");
	*t = (struct table){ .img = img, .off = k->relocs_off, .left = k->relocs_len / 4,
			     .lo = UINT64_MAX };
	for (list = 0; !ret && list < 3; list++) {
		size = list == 2 ? 8 : 4;
		while ((ret = table_prev(t, &w, why)) == 1 && w) {
			at = (uint64_t)(int64_t)(int32_t)w - START_KERNEL_MAP;
			if (at < k->base || extent < size || at - k->base > extent - size) {
				ret = boot_fail(why, -ENOEXEC, "its relocation 0x%x lies outside "
						"the kernel", w);
				break;
			}
			if (!mem)
				continue;
			if (list == 2) {
				memcpy(&v64, mem + (at - k->base), 8);
				v64 += delta;
				memcpy(mem + (at - k->base), &v64, 8);
			} else {
				memcpy(&v32, mem + (at - k->base), 4);
				v32 = list == 0 ? v32 + (uint32_t)delta : v32 - (uint32_t)delta;
				memcpy(mem + (at - k->base), &v32, 4);
			}
		}
		if (ret == 0)
			ret = boot_fail(why, -ENOEXEC, "its relocation table ends inside its list %u",
					list + 1);
		else if (ret == 1)
			ret = 0;
	}
	if (!ret && t->left)
		ret = boot_fail(why, -ENOEXEC, "its relocation table has %llu stray words before "
				"its lists", (unsigned long long)t->left);
	free(t);
	return ret;
}

/* What the zero page gets: the packed kernel's header and limits, told it was randomised. */
static void enter_as_packed(const struct arch_kaslr *k, struct boot_image *out)
{
	out->arch_kind = X86_BOOT_BZIMAGE;
	memcpy(out->arch_data, k->packed.arch_data, k->packed.arch_data_len);
	out->arch_data_len = k->packed.arch_data_len;
	out->arch_data[offsetof(struct setup_header, loadflags)] |= KASLR_FLAG;
	out->initrd_addr_max = k->packed.initrd_addr_max;
	out->cmdline_size = k->packed.cmdline_size;
}

int arch_kaslr_plan(const struct gmem *m, const struct boot_src *img,
		    const struct boot_image *packed, const struct boot_image *elf,
		    struct arch_kaslr *k, struct boot_image *out, const char **why)
{
	struct setup_header h;
	uint64_t end, align, extent;
	Elf64_Ehdr eh;
	int ret;

	if (header(packed, &h) || !h.relocatable_kernel)
		return boot_fail(why, -ENOEXEC, "it is not a relocatable bzImage");
	ret = boot_elf_end(img, &end, why);
	if (ret)
		return ret;
	if (end == img->len)
		return 0; /* no table: built without RANDOMIZE_BASE, it never moves itself */
	memset(k, 0, sizeof(*k));
	k->relocs_off = end;
	k->relocs_len = img->len - end;
	if (k->relocs_len % 4 || k->relocs_len > RELOCS_MAX)
		return boot_fail(why, -ENOEXEC, "%llu bytes follow its ELF, not a relocation table "
				 "(whole 32-bit words, at most 64 MiB)",
				 (unsigned long long)k->relocs_len);
	ret = boot_src_read(img, 0, &eh, sizeof(eh), why);
	if (ret)
		return ret;
	align = h.kernel_alignment < ALIGN_MIN ? ALIGN_MIN : h.kernel_alignment;
	k->base = h.pref_address;
	k->entry = eh.e_entry;
	k->align = align;
	extent = elf->load_end - elf->load_start;
	k->span = h.init_size > extent ? h.init_size : extent;
	/* Where it is linked, and room for every virtual offset at the smallest. */
	if ((align & (align - 1)) || align > KERNEL_IMAGE_SIZE || elf->load_start != k->base ||
	    k->base % align ||
	    k->base >= KERNEL_IMAGE_SIZE || k->span > KERNEL_IMAGE_SIZE - k->base)
		return boot_fail(why, -ENOEXEC, "its ELF is not laid out as its header says (linked "
				 "at 0x%llx, header 0x%llx, alignment 0x%llx, %llu bytes)",
				 (unsigned long long)elf->load_start, (unsigned long long)k->base,
				 (unsigned long long)align, (unsigned long long)k->span);
	if (k->entry < k->base || k->entry - k->base >= extent)
		return boot_fail(why, -ENOEXEC, "its entry 0x%llx is outside it",
				 (unsigned long long)k->entry);
	if (!gmem_ptr(m, k->base, k->span))
		return boot_fail(why, -ENOMEM, "it needs %llu bytes at 0x%llx",
				 (unsigned long long)k->span, (unsigned long long)k->base);
	ret = relocate(img, k, extent, 0, NULL, why);
	if (ret)
		return ret;
	k->packed = *packed;
	k->on = true;
	/* The first pass places the initrd above the kernel where it is linked. */
	*out = *elf;
	enter_as_packed(k, out);
	out->entry = k->entry;
	out->load_start = k->base;
	out->load_end = k->base + k->span;
	return 1;
}

static bool clear_of(uint64_t at, uint64_t len, uint64_t avoid, uint64_t avoid_len)
{
	return !avoid_len || at + len <= avoid || avoid + avoid_len <= at;
}

int arch_kaslr_load(const struct gmem *m, const struct boot_src *img, struct arch_kaslr *k,
		    uint64_t avoid, uint64_t avoid_len, struct boot_image *out, const char **msg)
{
	uint64_t ram_end = arch_initrd_ram_end(m), at, n = 0, pick, rnd[2], vslots;
	uint8_t *mem;
	ssize_t got;
	int ret;

	/* Every aligned place from where it is linked up that fits RAM below the hole. */
	for (at = k->base; ram_end >= k->span && at <= ram_end - k->span; at += k->align)
		n += clear_of(at, k->span, avoid, avoid_len);
	if (!n)
		return boot_fail(msg, -ENOMEM, "kernel does not fit in guest memory clear of the "
				 "initrd (needs %llu bytes)", (unsigned long long)k->span);
	if (k->rnd) {
		rnd[0] = k->rnd[0];
		rnd[1] = k->rnd[1];
	} else {
		do
			got = getrandom(rnd, sizeof(rnd), 0);
		while (got < 0 && errno == EINTR);
		if (got != (ssize_t)sizeof(rnd))
			return boot_fail(msg, got < 0 ? -errno : -EIO,
					 "no random numbers (getrandom)");
	}
	pick = rnd[0] % n;
	for (at = k->base;; at += k->align) {
		if (clear_of(at, k->span, avoid, avoid_len) && !pick--)
			break;
	}
	vslots = (KERNEL_IMAGE_SIZE - k->base - k->span) / k->align + 1;
	k->phys = at;
	k->virt = k->base + rnd[1] % vslots * k->align;
	ret = boot_load_elf_at(m, img, at - k->base, LAYOUT_HIMEM, EM_X86_64, NULL, true, out, msg);
	if (ret)
		return ret;
	mem = gmem_ptr(m, out->load_start, out->load_end - out->load_start);
	if (!mem)
		return boot_fail(msg, -EFAULT, "kernel left guest memory");
	if (k->virt != k->base) {
		ret = relocate(img, k, out->load_end - out->load_start, k->virt - k->base, mem, msg);
		if (ret)
			return ret;
	}
	enter_as_packed(k, out);
	out->load_end = at + k->span;
	return 0;
}
