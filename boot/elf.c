/* elf: load an ELF64 executable by its PT_LOAD segments; find a note (a boot protocol's entry). */
#include "boot/boot.h"

#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Enough for any vmlinux (Linux emits about five) while keeping the
 * pairwise overlap check and the on-stack table small.
 */
#define MAX_PHDRS 64

/* [off, off+size) lies inside a file of len bytes, with no wrap. */
static int in_file(uint64_t off, uint64_t size, uint64_t len)
{
	return off <= len && size <= len - off;
}

/* The identification and the program header table: what walking the image needs. */
static int check_ident(const Elf64_Ehdr *eh, uint64_t len, const char **msg)
{
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return boot_fail(msg, -ENOEXEC, "ELF: not a little-endian ELF64 image");
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > MAX_PHDRS)
		return boot_fail(msg, -ENOEXEC, "ELF: bad program header table (%u entries of %u bytes)",
			    eh->e_phnum, eh->e_phentsize);
	if (!in_file(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), len))
		return boot_fail(msg, -ENOEXEC, "ELF: program header table outside the file");
	return 0;
}

/* Read the header and the program headers of a checked image. */
static int read_headers(const struct boot_src *img, Elf64_Ehdr *eh, Elf64_Phdr ph[MAX_PHDRS],
			const char **msg)
{
	int err;

	if (img->len < sizeof(*eh))
		return boot_fail(msg, -ENOEXEC, "ELF: truncated header");
	err = boot_src_read(img, 0, eh, sizeof(*eh), msg);
	if (err)
		return err;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return boot_fail(msg, -ENOEXEC, "ELF: bad magic");
	err = check_ident(eh, img->len, msg);
	if (err)
		return err;
	return boot_src_read(img, eh->e_phoff, ph, (size_t)eh->e_phnum * sizeof(ph[0]), msg);
}

int boot_is_elf(const struct boot_src *img, const char **msg)
{
	uint8_t magic[SELFMAG];
	int err;

	if (img->len < SELFMAG)
		return 0;
	err = boot_src_read(img, 0, magic, sizeof(magic), msg);
	if (err)
		return err;
	return memcmp(magic, ELFMAG, SELFMAG) == 0;
}

/* A PT_LOAD segment that can be copied shift bytes above its p_paddr: inside the file, RAM, and
 * above min_addr. */
static int check_load(const struct gmem *m, const Elf64_Phdr *p, uint64_t len, uint64_t min_addr,
		      uint64_t shift, const char **msg)
{
	uint64_t at = p->p_paddr + shift;

	if (p->p_filesz > p->p_memsz)
		return boot_fail(msg, -ENOEXEC, "ELF: segment at 0x%llx has p_filesz > p_memsz",
			    (unsigned long long)p->p_paddr);
	if (!in_file(p->p_offset, p->p_filesz, len))
		return boot_fail(msg, -ENOEXEC, "ELF: segment at 0x%llx extends past the file",
			    (unsigned long long)p->p_paddr);
	if (p->p_paddr > UINT64_MAX - shift || p->p_memsz > UINT64_MAX - at)
		return boot_fail(msg, -ENOEXEC, "ELF: segment at 0x%llx wraps the address space",
			    (unsigned long long)p->p_paddr);
	if (at < min_addr)
		return boot_fail(msg, -ENOEXEC, "ELF: segment at 0x%llx is below 0x%llx",
			    (unsigned long long)at, (unsigned long long)min_addr);
	if (!gmem_ptr(m, at, p->p_memsz))
		return boot_fail(msg, -ENOMEM,
			    "kernel does not fit in guest memory (needs %llu bytes at 0x%llx)",
			    (unsigned long long)p->p_memsz, (unsigned long long)at);
	return 0;
}

static int overlaps(const Elf64_Phdr *a, const Elf64_Phdr *b)
{
	return a->p_paddr < b->p_paddr + b->p_memsz && b->p_paddr < a->p_paddr + a->p_memsz;
}

/* The note wanted by boot_elf_note(), and the last one found. */
struct note_query {
	const char *name;
	uint32_t namesz; /* with the NUL */
	uint32_t type;
	uint8_t *desc; /* the caller's, cap bytes */
	size_t cap;
	uint32_t desc_len;
	bool found;
};

/*
 * Look through one PT_NOTE segment's bytes for the note q names. Each note
 * takes at least a header, so the walk ends; sizes are widened to 64 bits
 * before padding so a 0xffffffff namesz cannot wrap.
 */
static int scan_notes(const uint8_t *p, uint64_t n, struct note_query *q, const char **msg)
{
	uint64_t off = 0, name_sz, desc_sz;
	Elf64_Nhdr nh;

	while (n - off >= sizeof(nh)) {
		memcpy(&nh, p + off, sizeof(nh));
		off += sizeof(nh);
		name_sz = ((uint64_t)nh.n_namesz + 3) & ~3ULL;
		desc_sz = ((uint64_t)nh.n_descsz + 3) & ~3ULL;
		if (name_sz > n - off || nh.n_descsz > n - off - name_sz)
			return boot_fail(msg, -ENOEXEC, "ELF: truncated note");
		if (nh.n_namesz == q->namesz && memcmp(p + off, q->name, q->namesz) == 0 &&
		    nh.n_type == q->type) {
			memcpy(q->desc, p + off + name_sz, nh.n_descsz < q->cap ? nh.n_descsz : q->cap);
			q->desc_len = nh.n_descsz;
			q->found = true;
		}
		/* The last descriptor's padding may be missing; nothing follows it then. */
		if (desc_sz >= n - off - name_sz)
			break;
		off += name_sz + desc_sz;
	}
	return 0;
}

int boot_elf_note(const struct boot_src *img, const char *name, uint32_t type, void *desc,
		  size_t cap, uint32_t *desc_len, const char **msg)
{
	struct note_query q = { .name = name, .namesz = (uint32_t)strlen(name) + 1, .type = type,
				.desc = desc, .cap = cap };
	Elf64_Phdr ph[MAX_PHDRS];
	uint8_t *notes = NULL;
	Elf64_Ehdr eh;
	unsigned int i;
	int err;

	err = read_headers(img, &eh, ph, msg);
	if (err)
		return err;
	for (i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type != PT_NOTE)
			continue;
		if (!in_file(ph[i].p_offset, ph[i].p_filesz, img->len))
			err = boot_fail(msg, -ENOEXEC, "ELF: note segment outside the file");
		else if (ph[i].p_filesz > BOOT_NOTES_MAX)
			err = boot_fail(msg, -ENOEXEC, "ELF: note segment of %llu bytes (at most %u)",
					(unsigned long long)ph[i].p_filesz, BOOT_NOTES_MAX);
		else if (!notes && !(notes = malloc(BOOT_NOTES_MAX)))
			err = boot_fail(msg, -ENOMEM, "%s", strerror(ENOMEM));
		if (!err)
			err = boot_src_read(img, ph[i].p_offset, notes, ph[i].p_filesz, msg);
		if (!err)
			err = scan_notes(notes, ph[i].p_filesz, &q, msg);
		if (err)
			goto out;
	}
	err = q.found;
	if (q.found)
		*desc_len = q.desc_len;
out:
	free(notes);
	return err;
}

int boot_load_elf(const struct gmem *m, const struct boot_src *img, uint64_t min_addr,
		  uint16_t machine, const uint64_t *entry_override, bool copy,
		  struct boot_image *out, const char **msg)
{
	return boot_load_elf_at(m, img, 0, min_addr, machine, entry_override, copy, out, msg);
}

int boot_load_elf_at(const struct gmem *m, const struct boot_src *img, uint64_t shift,
		     uint64_t min_addr, uint16_t machine, const uint64_t *entry_override, bool copy,
		     struct boot_image *out, const char **msg)
{
	Elf64_Phdr ph[MAX_PHDRS];
	Elf64_Ehdr eh;
	uint64_t entry, lo = UINT64_MAX, hi = 0;
	unsigned int i, j, nload = 0;
	int err, entry_ok = 0;
	uint8_t *dst;

	err = read_headers(img, &eh, ph, msg);
	if (err)
		return err;
	if (eh.e_machine != machine)
		return boot_fail(msg, -ENOEXEC, "ELF: machine %u is not this machine's (%u)",
				 eh.e_machine, machine);
	if (eh.e_type != ET_EXEC)
		return boot_fail(msg, -ENOEXEC, "ELF: type %u is not an executable", eh.e_type);

	/* Validate everything before the first byte reaches guest memory. */
	for (i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
			continue;
		err = check_load(m, &ph[i], img->len, min_addr, shift, msg);
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
	entry = entry_override ? *entry_override : eh.e_entry;
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
		dst = gmem_ptr(m, ph[i].p_paddr + shift, ph[i].p_memsz);
		if (!dst) /* checked above; kept so no path writes through NULL */
			return boot_fail(msg, -ENOMEM, "ELF: segment left guest memory");
		if (copy) {
			err = boot_src_read(img, ph[i].p_offset, dst, ph[i].p_filesz, msg);
			if (err)
				return err;
			memset(dst + ph[i].p_filesz, 0, ph[i].p_memsz - ph[i].p_filesz);
		}
		if (ph[i].p_paddr < lo)
			lo = ph[i].p_paddr;
		if (ph[i].p_paddr + ph[i].p_memsz > hi)
			hi = ph[i].p_paddr + ph[i].p_memsz;
	}

	/* Every segment moved by shift without wrapping (check_load), so do these. */
	memset(out, 0, sizeof(*out));
	out->entry = entry + shift;
	out->load_start = lo + shift;
	out->load_end = hi + shift;
	return 0;
}

int boot_elf_end(const struct boot_src *img, uint64_t *end, const char **msg)
{
	Elf64_Phdr ph[MAX_PHDRS];
	Elf64_Shdr *sh = NULL;
	Elf64_Ehdr eh;
	uint64_t e;
	unsigned int i;
	int err;

	err = read_headers(img, &eh, ph, msg);
	if (err)
		return err;
	e = eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr); /* in the file: checked */
	for (i = 0; i < eh.e_phnum; i++) {
		if (!in_file(ph[i].p_offset, ph[i].p_filesz, img->len))
			return boot_fail(msg, -ENOEXEC, "ELF: segment outside the file");
		if (ph[i].p_offset + ph[i].p_filesz > e)
			e = ph[i].p_offset + ph[i].p_filesz;
	}
	if (eh.e_shoff && eh.e_shnum) {
		if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum > BOOT_SECTIONS_MAX ||
		    !in_file(eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr), img->len))
			return boot_fail(msg, -ENOEXEC, "ELF: bad section header table");
		sh = malloc((size_t)eh.e_shnum * sizeof(*sh));
		if (!sh)
			return -ENOMEM;
		err = boot_src_read(img, eh.e_shoff, sh, (size_t)eh.e_shnum * sizeof(*sh), msg);
		if (eh.e_shoff + (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr) > e)
			e = eh.e_shoff + (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr);
		for (i = 0; !err && i < eh.e_shnum; i++) {
			if (sh[i].sh_type == SHT_NOBITS || sh[i].sh_type == SHT_NULL)
				continue;
			if (!in_file(sh[i].sh_offset, sh[i].sh_size, img->len))
				err = boot_fail(msg, -ENOEXEC, "ELF: section %u outside the file", i);
			else if (sh[i].sh_offset + sh[i].sh_size > e)
				e = sh[i].sh_offset + sh[i].sh_size;
		}
		free(sh);
		if (err)
			return err;
	}
	*end = e;
	return 0;
}

int boot_elf_section(const struct boot_src *img, const char *name, uint64_t *off, uint64_t *size,
		     const char **msg)
{
	size_t want = strlen(name) + 1;
	Elf64_Shdr *sh = NULL;
	char *names = NULL;
	uint64_t nlen;
	Elf64_Ehdr eh;
	unsigned int i;
	int err;

	if (img->len < sizeof(eh))
		return boot_fail(msg, -ENOEXEC, "ELF: truncated header");
	err = boot_src_read(img, 0, &eh, sizeof(eh), msg);
	if (err)
		return err;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return boot_fail(msg, -ENOEXEC, "ELF: not a little-endian ELF64 image");
	/* No table, or one counted past e_shnum (extended numbering): nothing to look in. */
	if (!eh.e_shoff || !eh.e_shnum || eh.e_shstrndx == SHN_UNDEF ||
	    eh.e_shstrndx >= SHN_LORESERVE)
		return 0;
	if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum > BOOT_SECTIONS_MAX ||
	    eh.e_shstrndx >= eh.e_shnum ||
	    !in_file(eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr), img->len))
		return boot_fail(msg, -ENOEXEC,
				 "ELF: bad section header table (%u entries of %u bytes)",
				 eh.e_shnum, eh.e_shentsize);
	sh = malloc((size_t)eh.e_shnum * sizeof(*sh));
	if (!sh)
		return -ENOMEM;
	err = boot_src_read(img, eh.e_shoff, sh, (size_t)eh.e_shnum * sizeof(*sh), msg);
	if (err)
		goto out;
	nlen = sh[eh.e_shstrndx].sh_size;
	if (sh[eh.e_shstrndx].sh_type != SHT_STRTAB || nlen > BOOT_SECTION_NAMES_MAX ||
	    !in_file(sh[eh.e_shstrndx].sh_offset, nlen, img->len)) {
		err = boot_fail(msg, -ENOEXEC, "ELF: bad section name table");
		goto out;
	}
	names = malloc(nlen ? (size_t)nlen : 1);
	err = names ? boot_src_read(img, sh[eh.e_shstrndx].sh_offset, names, (size_t)nlen, msg) :
		      -ENOMEM;
	if (err)
		goto out;
	for (i = 0; i < eh.e_shnum; i++) {
		/* The name and its NUL must lie in the table: one cut by its end is no match. */
		if (sh[i].sh_name >= nlen || nlen - sh[i].sh_name < want ||
		    memcmp(names + sh[i].sh_name, name, want) != 0)
			continue;
		if (sh[i].sh_type == SHT_NOBITS)
			break; /* no bytes in the file */
		if (!in_file(sh[i].sh_offset, sh[i].sh_size, img->len)) {
			err = boot_fail(msg, -ENOEXEC, "ELF: section %s outside the file", name);
			goto out;
		}
		*off = sh[i].sh_offset;
		*size = sh[i].sh_size;
		err = 1;
		goto out;
	}
	err = 0;
out:
	free(names);
	free(sh);
	return err;
}
