/* initramfs: what a container's guest boots from — hull-init, its spec, the kernel's modules. */
#ifndef HULL_CONTAINER_INITRAMFS_H
#define HULL_CONTAINER_INITRAMFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/boot.h"

#define CTR_MODULES_BASE "/lib/modules"
#define CTR_RELEASE_MAX 64	     /* bytes of a kernel release ("6.1.0-57-cloud-amd64") */
#define CTR_MODDEP_MAX (16u << 20)   /* bytes of modules.dep or modules.builtin read */
#define CTR_MODULE_MAX (64u << 20)   /* bytes of one module, compressed or unpacked */
#define CTR_MODULES_MAX 64	     /* modules in one initramfs, dependencies included */
#define CTR_MODULE_NAME_MAX 255	     /* bytes of a module's file name in the initramfs */

/*
 * The kernel release of a kernel image: a bzImage's, from its setup header's kernel_version
 * string; an ELF vmlinux's, from its first "Linux version RELEASE " banner (read in 64 KiB
 * windows: the .rodata section when a section header table names one, else, or when it has
 * none, the whole file). 0 with the release in out (printable, no '/', not "." or ".."),
 * -ENOENT when the image has none, -ENAMETOOLONG past outlen or CTR_RELEASE_MAX, -errno when
 * it cannot be read.
 */
int ctr_kernel_release(const struct boot_src *img, char *out, size_t outlen);

/* A module to load, in load order. */
struct ctr_module {
	char *file; /* its name in CTR_MODULES_DIR of the guest: "virtio_mmio.ko" */
	char *path; /* where it is, relative to the module directory (may end .xz or .zst) */
};

struct ctr_modules {
	struct ctr_module *mods;
	unsigned int n;
};

/*
 * The modules wanted (names as modprobe takes them: '-' and '_' alike) and everything they
 * depend on, each after its dependencies, from the text of modules.dep ("PATH: DEP DEP...",
 * paths relative to the module directory) and of modules.builtin (one path a line; what it
 * lists is built in, and needs no file). Pure (fuzzed): dep and builtin may be anything.
 * 0 with *out, or -errno with the reason in err: a wanted module neither built in nor in
 * modules.dep (-ENOENT), a dependency missing from it (-ENOENT), more than CTR_MODULES_MAX
 * modules or a chain of dependencies deeper than that (-E2BIG), a file name longer than
 * CTR_MODULE_NAME_MAX (-ENAMETOOLONG).
 */
int ctr_modules_from(const char *dep, size_t deplen, const char *builtin, size_t builtinlen,
		     const char *const *wanted, unsigned int nwanted, struct ctr_modules *out,
		     char *err, size_t errlen);
/*
 * The same from dir/modules.dep and dir/modules.builtin (dir: /lib/modules/RELEASE). When dir
 * does not exist the kernel is taken to have every module built in: 0 with none. The files
 * are read up to CTR_MODDEP_MAX bytes (modules.builtin may be missing: nothing built in).
 */
int ctr_modules_resolve(const char *dir, const char *const *wanted, unsigned int nwanted,
			struct ctr_modules *out, char *err, size_t errlen);
void ctr_modules_free(struct ctr_modules *m);

/*
 * A module's contents, unpacked: PATH.ko as it is, .ko.xz (liblzma) and .ko.zst (libzstd)
 * decompressed, at most CTR_MODULE_MAX bytes either way. 0 with a malloc'd *out and *len, or
 * -errno with the reason in err (-EFBIG past the bound, -EINVAL for a corrupt file or another
 * compression).
 */
int ctr_module_read(const char *path, uint8_t **out, size_t *len, char *err, size_t errlen);

/*
 * The part of a container's initramfs that depends only on hull-init and the modules, into c
 * (boot_cpio_init'ed), without the trailer: /dev, /proc, /sys and /hull, /init (hull-init,
 * embedded in hull), and each of m's modules unpacked as /hull/modules/FILE, read from moddir.
 * 0 or -errno with the reason in err. icache.h keeps it in a file.
 */
int ctr_initramfs_fixed(const char *moddir, const struct ctr_modules *m, struct cpio *c,
			char *err, size_t errlen);
/* The per-start rest after the fixed part: /hull/spec (spec, already encoded), the trailer. */
int ctr_initramfs_finish(struct cpio *c, const uint8_t *spec, size_t speclen, char *err,
			 size_t errlen);
/* The whole image in memory: ctr_initramfs_fixed, then ctr_initramfs_finish. */
int ctr_initramfs_build(const uint8_t *spec, size_t speclen, const char *moddir,
			const struct ctr_modules *m, struct cpio *c, char *err, size_t errlen);

#endif
