/* virtio-blk: a raw image or block device as the guest's /dev/vdX (io_uring backend). */
#ifndef HULL_VIRTIO_BLK_BLK_H
#define HULL_VIRTIO_BLK_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/virtio.h"

/*
 * ---- virtio-blk ----------------------------------------------------------------------
 */

enum vblk_cache {
	VBLK_CACHE_WRITEBACK, /* default: page cache, FLUSH -> fdatasync */
	VBLK_CACHE_UNSAFE,    /* page cache, FLUSH not offered */
	VBLK_CACHE_NONE,      /* O_DIRECT, FLUSH -> fdatasync */
};

#define VBLK_SERIAL_MAX 20 /* VIRTIO_BLK_ID_BYTES */

struct vblk_config {
	char *path;
	bool ro;
	enum vblk_cache cache;
	char serial[VBLK_SERIAL_MAX + 1]; /* "" when not given */
};

/* The kind (virtio/blk/config.c): --disk, "disks", up to one per virtio slot. */
extern const struct virtio_kind vblk_kind;

/*
 * Parse "path=FILE[,ro=on|off][,cache=unsafe|writeback|none][,serial=ID]"
 * (also the JSON object's string fields go through vblk_config_set). 0, or
 * -EINVAL with a one-line reason in err. c->path is malloc'd.
 */
int vblk_parse(struct vblk_config *c, const char *spec, char *err, size_t errlen);
int vblk_config_set(struct vblk_config *c, const char *key, const char *value, char *err,
		    size_t errlen);
void vblk_config_free(struct vblk_config *c);

struct vblk;

/*
 * vblk_kind's check and create in one call, for tests and fuzzers: open the image (O_DIRECT
 * for cache=none; O_RDONLY when ro), take an OFD lock (write lock when writable, read lock
 * when read-only) failing with -EBUSY and "disk PATH: locked by another process (another hull
 * using it?)", set up io_uring. The device is not attached (virtio_mmio_attach). Every
 * failure logs "disk PATH: cause". 0 or -errno; *out is set on success. Needs about 2 MiB
 * per disk (the preallocated request pool).
 */
int vblk_create(const struct vblk_config *c, unsigned int index, const struct virtio_host *host,
		struct vblk **out);
/* Detach when attached (waiting for in-flight I/O), release the lock, close, free. NULL is fine. */
void vblk_destroy(struct vblk *b);

#endif
