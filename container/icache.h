/* icache: the fixed part of container initramfs images, kept in files per hull-init and modules. */
#ifndef HULL_CONTAINER_ICACHE_H
#define HULL_CONTAINER_ICACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/boot.h"
#include "lib/fcache.h"
#include "container/initramfs.h"

#define CTR_ICACHE_VERSION 1	  /* of the file and of the fixed part's layout: bump on change */
#define CTR_ICACHE_SUBDIR "initramfs"
#define CTR_ICACHE_KEEP 8	  /* files kept in the directory: the newest, by mtime */
#define CTR_ICACHE_NAME_LEN FCACHE_NAME_LEN /* "ir-" + 16 hex digits + ".img" */
/* The key: a few lines per module (paths at most 4096 bytes), so this is never reached. */
#define CTR_ICACHE_KEY_MAX (CTR_MODULES_MAX * 8448u + 8192u)
/*
 * The fixed part: the headers of its entries (each with a name up to 4096 bytes and padding),
 * CTR_MODULES_MAX modules of CTR_MODULE_MAX bytes, and hull-init, counted as one more of those.
 */
#define CTR_ICACHE_ENTRY_MAX (110u + 4096u + 8u)
#define CTR_ICACHE_PAYLOAD_MAX                                                                   \
	((uint64_t)(CTR_MODULES_MAX + 6) * CTR_ICACHE_ENTRY_MAX +                                \
	 (uint64_t)CTR_MODULES_MAX * CTR_MODULE_MAX + (uint64_t)CTR_MODULE_MAX)

/* $HULL_CACHE/initramfs (env: HULL_CACHE's value, NULL or "" for FCACHE_DEFAULT). */
int ctr_icache_dir(const char *env, char *out, size_t outlen);

/*
 * The key of a fixed part (ctr_initramfs_fixed): the format version, init_id (hull-init's
 * identity, hull_init_id), moddir, and for each of m's modules its names and its file's device,
 * inode, size, mtime and ctime (stat, in nanoseconds). A malloc'd text of *len bytes in *key;
 * -errno when a module cannot be stat'ed (the build names it) or init_id is empty (-EINVAL).
 */
int ctr_icache_key(const char *init_id, const char *moddir, const struct ctr_modules *m,
		   char **key, size_t *len);
/* The file name of a key in the directory: "ir-HEX.img", HEX a 64-bit hash of the key. */
void ctr_icache_name(const char *key, size_t len, char out[CTR_ICACHE_NAME_LEN + 1]);

/*
 * The fixed part for key from the directory dirfd into c (boot_cpio_init'ed, empty), with room
 * for extra more bytes; its next inode number restored. 0; -ENOENT when there is none; -EINVAL
 * for a file that is not a good one: shorter or longer than its header says, another magic,
 * version or key, a payload past CTR_ICACHE_PAYLOAD_MAX, not a regular file (a symlink is not
 * followed), not owned by hull's user or root, writable by its group or others; -errno when
 * it cannot be read. c is untouched on error.
 */
int ctr_icache_load(int dirfd, const char *key, size_t keylen, size_t extra, struct cpio *c);
/*
 * c (a fixed part, not finished) as the file for key in dirfd, written to a temporary file,
 * synced and renamed over the name (so a reader sees the old file or the new one, whole), then
 * the directory trimmed (ctr_icache_trim). 0 with the name in name, or -errno (a short write:
 * -ENOSPC); nothing is left behind on error.
 */
int ctr_icache_store(int dirfd, const char *key, size_t keylen, const struct cpio *c,
		     char name[CTR_ICACHE_NAME_LEN + 1]);
/*
 * At most keep of dirfd's initramfs files, the newest by mtime; temporary files older than
 * FCACHE_TMP_AGE seconds removed. Memory and work bounded by keep and the directory's size.
 */
void ctr_icache_trim(int dirfd, unsigned int keep);

/* How ctr_icache_get got the fixed part. */
enum ctr_icache_how {
	CTR_ICACHE_HIT,	   /* read from the cache */
	CTR_ICACHE_STORED, /* built and written to the cache */
	CTR_ICACHE_MEMORY, /* built in memory only: the cache could not be used (debug log: why) */
};

/*
 * The fixed part of the image for moddir's modules m into c (boot_cpio_init'ed, empty): from
 * dir's file when a good one is there, else built with ctr_initramfs_fixed and written there
 * (replacing a bad one). Without modules (the project kernel) it is built in memory: there is
 * nothing to unpack, and hull-init is in hull's own image. A directory that cannot be made,
 * opened or written, or that is not hull's user's (or root's) alone, is no error: the image is
 * built in memory (a debug message says why); so with dir NULL. extra: the bytes expected after
 * it (the spec). 0 with *how (and the file in file, or ""), or -errno with the reason in err
 * when the image cannot be built.
 */
int ctr_icache_get(const char *dir, const char *init_id, const char *moddir,
		   const struct ctr_modules *m, size_t extra, struct cpio *c,
		   enum ctr_icache_how *how, char *file, size_t filelen, char *err, size_t errlen);

#endif
