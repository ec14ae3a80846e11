/* boot: the generic ELF loader, initrd placement, command line and cpio (newc) writer. */
#ifndef HULL_BOOT_BOOT_H
#define HULL_BOOT_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/gmem.h"

/* Bytes of an image's architecture-specific part a loader may keep (see struct boot_image). */
#define BOOT_ARCH_DATA_MAX 256

/* What a loader leaves behind for the arch code that builds the boot state. */
struct boot_image {
	uint64_t entry;      /* guest-physical entry point */
	uint64_t load_start; /* guest-physical extent of everything the loader wrote */
	uint64_t load_end;   /* exclusive */
	uint32_t initrd_addr_max; /* highest address the initrd may touch (inclusive) */
	uint32_t cmdline_size;    /* longest command line the kernel accepts, without NUL */
	/*
	 * The architecture's own part, read only by arch/: how it enters this
	 * kernel (values of its own; 0 is a plain ELF entry) and bytes it kept
	 * from the image for the boot structures (x86_64: a bzImage's setup
	 * header, for the zero page).
	 */
	unsigned int arch_kind;
	uint8_t arch_data[BOOT_ARCH_DATA_MAX];
	size_t arch_data_len;
};

/*
 * A compressed kernel's payload, as its format's header places it (x86: a bzImage's
 * payload_offset and payload_length): what its own decompressor unpacks at boot.
 */
struct boot_payload {
	uint64_t off;	  /* in the image */
	uint64_t len;
	bool relocatable; /* it may move itself at boot, and so place itself at random (KASLR) */
};

/*
 * A kernel image as the loaders read it: bytes in memory (buf, len), or a file (buf NULL, fd,
 * len its size) read piece by piece with pread, so that nothing but the headers passes through
 * hull on the way: each segment is read straight into guest memory. A file's image may start
 * at base (a cache file's payload, after its header); offsets are the image's.
 */
struct boot_src {
	const uint8_t *buf;
	int fd;
	uint64_t base;
	uint64_t len;
};

/*
 * n bytes at off of the image into dst: 0, -ENOEXEC (msg as boot_fail()) when [off, off + n)
 * is not inside len, or -EIO/-errno when the file cannot be read or holds fewer bytes than its
 * size said (it shrank since).
 */
int boot_src_read(const struct boot_src *s, uint64_t off, void *dst, size_t n, const char **msg);

/*
 * Load an ELF64 little-endian executable for machine (an EM_ value) into
 * guest memory m by its PT_LOAD segments, every one at or above min_addr and
 * inside RAM. The entry point is e_entry, or *entry when entry is not NULL
 * (a boot protocol's own entry); either must lie inside a loaded segment.
 * Fills out's entry and load range and zeroes the rest: the limits and the
 * arch part are the caller's. Nothing reaches m unless the whole image is
 * valid. Returns 0, -ENOEXEC for a malformed image (truncated, segments
 * outside the file, overlapping or wrapping segments), -ENOMEM when it does
 * not fit in guest RAM, -EIO/-errno when a file cannot be read in full (after
 * part of it reached m). msg (may be NULL) receives a short reason on error;
 * a formatted one lives in per-thread storage until the next failure.
 * Without copy, everything is checked and out filled but nothing is written
 * to m (whose host pointers may then be a PROT_NONE reservation): the check
 * before /dev/kvm is touched.
 */
int boot_load_elf(const struct gmem *m, const struct boot_src *img, uint64_t min_addr,
		  uint16_t machine, const uint64_t *entry, bool copy, struct boot_image *out,
		  const char **msg);

/*
 * boot_load_elf() with every segment shift bytes above its p_paddr (a kernel moved as a whole,
 * its entry and extent in out moved with it).
 */
int boot_load_elf_at(const struct gmem *m, const struct boot_src *img, uint64_t shift,
		     uint64_t min_addr, uint16_t machine, const uint64_t *entry, bool copy,
		     struct boot_image *out, const char **msg);

/*
 * Where an ELF64 image's own bytes end in its file: past its headers, its program and section
 * header tables, every segment's and every section's bytes. What follows is not the ELF's (a
 * kernel's relocation table, appended). 0 with *end, or -ENOEXEC (msg) for a malformed table.
 */
int boot_elf_end(const struct boot_src *img, uint64_t *end, const char **msg);

/*
 * Does the image start like an ELF image? (Its headers are checked by the functions above and
 * below.) 1, 0, or -errno when it cannot be read.
 */
int boot_is_elf(const struct boot_src *img, const char **msg);

/* The largest PT_NOTE segment read (Linux's are a few hundred bytes). */
#define BOOT_NOTES_MAX (64 * 1024)

/*
 * Walk every note of an ELF64 image's PT_NOTE segments and report the last
 * one called name (compared with its NUL, as ELF stores it) of type type:
 * 1 with its descriptor's length in *desc_len and its first bytes (at most cap) copied to
 * desc, 0 when there is none, or -ENOEXEC (msg as above) for a malformed header or note, or a
 * note segment larger than BOOT_NOTES_MAX.
 */
int boot_elf_note(const struct boot_src *img, const char *name, uint32_t type, void *desc,
		  size_t cap, uint32_t *desc_len, const char **msg);

/*
 * The largest section header table and section name table boot_elf_section() reads (a vmlinux
 * has about 40 sections and a few hundred bytes of their names).
 */
#define BOOT_SECTIONS_MAX      4096
#define BOOT_SECTION_NAMES_MAX (64 * 1024)

/*
 * Find an ELF64 image's section called name by its section header table: 1 with the section's
 * bytes in the file at [*off, *off + *size), 0 when the image has no such section with bytes in
 * the file (no section header table, none of that name, or SHT_NOBITS), or -ENOEXEC (msg as
 * above) for a malformed header, section header table or name table, or a section that
 * reaches past the file.
 */
int boot_elf_section(const struct boot_src *img, const char *name, uint64_t *off, uint64_t *size,
		     const char **msg);

/*
 * For the loaders (here and in arch/): point *msg (when msg is not NULL) at a
 * formatted reason, kept per thread until the next failure, and return err.
 */
int boot_fail(const char **msg, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Choose where an initrd of len bytes goes: the highest 4 KiB-aligned address
 * such that it ends at or below min(limit, ram_end) and starts at or above
 * floor. limit is the kernel's initrd_addr_max + 1. Returns 0 or -ENOMEM.
 */
int boot_place_initrd(uint64_t floor, uint64_t ram_end, uint64_t limit, uint64_t len,
		      uint64_t *addr);

/*
 * Whether line holds word as an option of its own (between spaces, tabs or newlines), as a
 * kernel's boolean options are found.
 */
bool boot_cmdline_has(const char *line, const char *word);
/* Whether line holds the option key, alone or as key=VALUE (any value). */
bool boot_cmdline_param(const char *line, const char *key);

/*
 * Build the kernel command line: base (may be NULL or empty), then each of
 * extra[0..nextra) separated by single spaces, into out[0..cap). Fails with
 * -E2BIG when the result (without its NUL) is longer than max_len or does not
 * fit in cap.
 */
int boot_cmdline_build(char *out, size_t cap, size_t max_len, const char *base,
		       const char *const *extra, size_t nextra);

/* A growable in-memory cpio "newc" archive, as the kernel unpacks an initramfs. */
struct cpio {
	uint8_t *buf;
	size_t len;
	size_t cap;
	uint32_t next_ino;
	int error; /* first error (-errno); later calls do nothing once set */
};

/* Start an empty archive. Cannot fail; the buffer grows on demand. */
void boot_cpio_init(struct cpio *c);
/*
 * Room for n more bytes in one allocation, for an archive whose size is known about: 0, or
 * -ENOMEM (then also the archive's error).
 */
int boot_cpio_reserve(struct cpio *c, size_t n);
/* Add a directory, a regular file, or a symlink; mode is the permission bits. */
int boot_cpio_dir(struct cpio *c, const char *path, uint32_t mode);
int boot_cpio_file(struct cpio *c, const char *path, uint32_t mode, const void *data, size_t len);
int boot_cpio_symlink(struct cpio *c, const char *path, const char *target);
/* Append the TRAILER!!! record; returns c->error (0 on success). */
int boot_cpio_finish(struct cpio *c);
/* Free the buffer; c may be reused after boot_cpio_init. */
void boot_cpio_free(struct cpio *c);

/*
 * hull's built-in demo initramfs: a small static /init (boot/demo/demo-init.c,
 * embedded at build time) that reports on the guest, marks the boot timer
 * and powers off. Adds its entries to c; returns c->error.
 */
int boot_demo_initramfs(struct cpio *c);

#endif
