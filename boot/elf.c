/* elf: load an x86_64 ELF vmlinux by its PT_LOAD segments, preferring the PVH entry note. */
#include "boot/boot.h"

#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/*
 * Enough for any vmlinux (Linux emits about five) while keeping the
 * pairwise overlap check and the on-stack table small.
 */
#define MAX_PHDRS 64

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


/* [off, off+size) lies inside a file of len bytes, with no wrap. */
static int in_file(uint64_t off, uint64_t size, size_t len)
{
	return off <= len && size <= len - off;
}

static int check_ehdr(const Elf64_Ehdr *eh, size_t len, const char **msg)
{
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return boot_fail(msg, -ENOEXEC, "ELF: not a little-endian ELF64 image");
	if (eh->e_machine != EM_X86_64)
		return boot_fail(msg, -ENOEXEC, "ELF: machine %u is not x86_64", eh->e_machine);
	if (eh->e_type != ET_EXEC)
		return boot_fail(msg, -ENOEXEC, "ELF: type %u is not an executable", eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > MAX_PHDRS)
		return boot_fail(msg, -ENOEXEC, "ELF: bad program header table (%u entries of %u bytes)",
			    eh->e_phnum, eh->e_phentsize);
	if (!in_file(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), len))
		return boot_fail(msg, -ENOEXEC, "ELF: program header table outside the file");
	return 0;
}

/* A PT_LOAD segment that can be copied: inside the file, RAM, and above min_addr. */
static int check_load(const struct gmem *m, const Elf64_Phdr *p, size_t len, uint64_t min_addr,
		      const char **msg)
{
	if (p->p_filesz > p->p_memsz)
		return boot_fail(msg, -ENOEXEC, "ELF: segment at 0x%llx has p_filesz > p_memsz",
			    (unsigned long long)p->p_paddr);
	if (!in_file(p->p_offset, p->p_filesz, len))
		return boot_fail(msg, -ENOEXEC, "ELF: segment at 0x%llx extends past the file",
			    (unsigned long long)p->p_paddr);
	if (p->p_memsz > UINT64_MAX - p->p_paddr)
		return boot_fail(msg, -ENOEXEC, "ELF: segment at 0x%llx wraps the address space",
			    (unsigned long long)p->p_paddr);
	if (p->p_paddr < min_addr)
		return boot_fail(msg, -ENOEXEC, "ELF: segment at 0x%llx is below 0x%llx",
			    (unsigned long long)p->p_paddr, (unsigned long long)min_addr);
	if (!gmem_ptr(m, p->p_paddr, p->p_memsz))
		return boot_fail(msg, -ENOMEM,
			    "kernel does not fit in guest memory (needs %llu bytes at 0x%llx)",
			    (unsigned long long)p->p_memsz, (unsigned long long)p->p_paddr);
	return 0;
}

static int overlaps(const Elf64_Phdr *a, const Elf64_Phdr *b)
{
	return a->p_paddr < b->p_paddr + b->p_memsz && b->p_paddr < a->p_paddr + a->p_memsz;
}

/*
 * Look through one PT_NOTE segment's bytes for Xen's PHYS32_ENTRY. Each
 * note takes at least a header, so the walk ends; sizes are widened to 64
 * bits before padding so a 0xffffffff namesz cannot wrap.
 */
static int scan_notes(const uint8_t *p, uint64_t n, uint64_t *entry, int *found, const char **msg)
{
	uint64_t off = 0, name_sz, desc_sz, val;
	Elf64_Nhdr nh;
	uint32_t v32;

	while (n - off >= sizeof(nh)) {
		memcpy(&nh, p + off, sizeof(nh));
		off += sizeof(nh);
		name_sz = ((uint64_t)nh.n_namesz + 3) & ~3ULL;
		desc_sz = ((uint64_t)nh.n_descsz + 3) & ~3ULL;
		if (name_sz > n - off || nh.n_descsz > n - off - name_sz)
			return boot_fail(msg, -ENOEXEC, "ELF: truncated note");
		if (nh.n_namesz == 4 && memcmp(p + off, "Xen", 4) == 0 &&
		    nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY) {
			if (nh.n_descsz == 4) {
				memcpy(&v32, p + off + name_sz, 4);
				val = v32;
			} else if (nh.n_descsz == 8) {
				memcpy(&val, p + off + name_sz, 8);
			} else {
				return boot_fail(msg, -ENOEXEC, "ELF: PVH entry note of %u bytes",
					    nh.n_descsz);
			}
			if (val > UINT32_MAX)
				return boot_fail(msg, -ENOEXEC, "ELF: PVH entry 0x%llx above 4 GiB",
					    (unsigned long long)val);
			*entry = val;
			*found = 1;
		}
		/* The last descriptor's padding may be missing; nothing follows it then. */
		if (desc_sz >= n - off - name_sz)
			break;
		off += name_sz + desc_sz;
	}
	return 0;
}

/* Check the image against RAM shaped like m and fill out; with copy, load it too. */
static int elf(const struct gmem *m, const uint8_t *img, size_t len, uint64_t min_addr,
	       struct boot_image *out, const char **msg, bool copy)
{
	Elf64_Phdr ph[MAX_PHDRS];
	Elf64_Ehdr eh;
	uint64_t entry, pvh_entry = 0, lo = UINT64_MAX, hi = 0;
	unsigned int i, j, nload = 0;
	int err, pvh = 0, entry_ok = 0;
	uint8_t *dst;

	if (!img || len < sizeof(eh))
		return boot_fail(msg, -ENOEXEC, "ELF: truncated header");
	memcpy(&eh, img, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
		return boot_fail(msg, -ENOEXEC, "ELF: bad magic");
	err = check_ehdr(&eh, len, msg);
	if (err)
		return err;
	memcpy(ph, img + eh.e_phoff, (size_t)eh.e_phnum * sizeof(ph[0]));

	/* Validate everything before the first byte reaches guest memory. */
	for (i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_NOTE) {
			if (!in_file(ph[i].p_offset, ph[i].p_filesz, len))
				return boot_fail(msg, -ENOEXEC, "ELF: note segment outside the file");
			err = scan_notes(img + ph[i].p_offset, ph[i].p_filesz, &pvh_entry, &pvh, msg);
			if (err)
				return err;
			continue;
		}
		if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
			continue;
		err = check_load(m, &ph[i], len, min_addr, msg);
		if (err)
			return err;
		for (j = 0; j < i; j++) {
			if (ph[j].p_type == PT_LOAD && ph[j].p_memsz && overlaps(&ph[i], &ph[j]))
				return boot_fail(msg, -ENOEXEC, "ELF: segments at 0x%llx and 0x%llx overlap",
					    (unsigned long long)ph[j].p_paddr,
					    (unsigned long long)ph[i].p_paddr);
		}
		nload++;
	}
	if (!nload)
		return boot_fail(msg, -ENOEXEC, "ELF: no loadable segments");

	/* An entry outside what we load would run whatever the guest RAM held. */
	entry = pvh ? pvh_entry : eh.e_entry;
	for (i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && ph[i].p_memsz && entry >= ph[i].p_paddr &&
		    entry - ph[i].p_paddr < ph[i].p_memsz)
			entry_ok = 1;
	}
	if (!entry_ok)
		return boot_fail(msg, -ENOEXEC, "ELF: entry point 0x%llx outside the loaded segments",
			    (unsigned long long)entry);

	for (i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
			continue;
		dst = gmem_ptr(m, ph[i].p_paddr, ph[i].p_memsz);
		if (!dst) /* checked above; kept so no path writes through NULL */
			return boot_fail(msg, -ENOMEM, "ELF: segment left guest memory");
		if (copy) {
			memcpy(dst, img + ph[i].p_offset, ph[i].p_filesz);
			memset(dst + ph[i].p_filesz, 0, ph[i].p_memsz - ph[i].p_filesz);
		}
		if (ph[i].p_paddr < lo)
			lo = ph[i].p_paddr;
		if (ph[i].p_paddr + ph[i].p_memsz > hi)
			hi = ph[i].p_paddr + ph[i].p_memsz;
	}

	memset(out, 0, sizeof(*out));
	out->kind = pvh ? BOOT_PVH : BOOT_ELF;
	out->entry = entry;
	out->load_start = lo;
	out->load_end = hi;
	out->initrd_addr_max = pvh ? PVH_INITRD_MAX : ELF_INITRD_MAX;
	out->cmdline_size = ELF_CMDLINE_SIZE;
	return 0;
}

int boot_load_elf(const struct gmem *m, const uint8_t *img, size_t len, uint64_t min_addr,
		  struct boot_image *out, const char **msg)
{
	return elf(m, img, len, min_addr, out, msg, true);
}

int boot_check_elf(const struct gmem *m, const uint8_t *img, size_t len, uint64_t min_addr,
		   struct boot_image *out, const char **msg)
{
	return elf(m, img, len, min_addr, out, msg, false);
}
