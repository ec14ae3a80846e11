/* boot: kernel loaders, initrd placement, command line and cpio (newc) writer. */
#ifndef HULL_BOOT_BOOT_H
#define HULL_BOOT_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/gmem.h"

enum boot_kind {
	BOOT_BZIMAGE, /* Linux bzImage: 64-bit boot protocol, zero page */
	BOOT_ELF,     /* ELF vmlinux without PVH note: 64-bit boot protocol, zero page */
	BOOT_PVH,     /* ELF with XEN_ELFNOTE_PHYS32_ENTRY: 32-bit PVH entry, start_info */
};

/* What a loader leaves behind for the arch code that builds the boot state. */
struct boot_image {
	enum boot_kind kind;
	uint64_t entry;      /* guest-physical entry point (64-bit for BZIMAGE/ELF, 32-bit for PVH) */
	uint64_t load_start; /* guest-physical extent of everything the loader wrote */
	uint64_t load_end;   /* exclusive */
	/*
	 * BZIMAGE only: the kernel's setup header (struct setup_header, from
	 * offset 0x1f1 of the image), to be copied into the zero page.
	 */
	uint8_t setup_header[0x290 - 0x1f1];
	size_t setup_header_len; /* bytes valid in setup_header; 0 unless BZIMAGE */
	uint32_t initrd_addr_max; /* highest address the initrd may touch (inclusive) */
	uint32_t cmdline_size;    /* longest command line the kernel accepts, without NUL */
};

/*
 * Load a kernel image (the whole file, img[0..len)) into guest memory m,
 * detecting bzImage or ELF64 (x86_64) by content. Everything is loaded at or
 * above min_addr and must lie inside RAM. Returns 0, or -ENOEXEC for a format
 * it does not recognise or a malformed image (truncated, segments outside
 * the file, overlapping or wrapping segments), -ENOMEM when the kernel does
 * not fit in guest RAM. msg (may be NULL) receives a short reason on error.
 */
int boot_load_kernel(const struct gmem *m, const uint8_t *img, size_t len, uint64_t min_addr,
		     struct boot_image *out, const char **msg);

/*
 * Everything boot_load_kernel() checks, and the out it fills, without writing to m: for the
 * check before /dev/kvm is touched. m describes the guest's RAM; its host pointers are never
 * dereferenced (a PROT_NONE reservation will do).
 */
int boot_check_kernel(const struct gmem *m, const uint8_t *img, size_t len, uint64_t min_addr,
		      struct boot_image *out, const char **msg);

/*
 * The two halves boot_load_kernel() dispatches to, with its contract; each
 * checks its own magic too, so tests and fuzzers may call them directly.
 * A formatted msg lives in per-thread storage until the next load.
 */
int boot_load_bzimage(const struct gmem *m, const uint8_t *img, size_t len, uint64_t min_addr,
		      struct boot_image *out, const char **msg);
int boot_load_elf(const struct gmem *m, const uint8_t *img, size_t len, uint64_t min_addr,
		  struct boot_image *out, const char **msg);
/* The same halves for boot_check_kernel(): nothing is written to m. */
int boot_check_bzimage(const struct gmem *m, const uint8_t *img, size_t len, uint64_t min_addr,
		       struct boot_image *out, const char **msg);
int boot_check_elf(const struct gmem *m, const uint8_t *img, size_t len, uint64_t min_addr,
		   struct boot_image *out, const char **msg);

/*
 * For the loaders: point *msg (when msg is not NULL) at a formatted reason,
 * kept per thread until the next failure, and return err.
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
