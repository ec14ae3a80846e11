/* virtio-fs internals between the device (fs.c) and its kind description (config.c). */
#ifndef HULL_VIRTIO_FS_INTERNAL_H
#define HULL_VIRTIO_FS_INTERNAL_H

#include "virtio/fs/fs.h"

/*
 * vfs_kind's building steps (fs.c). vfs_open, the check: the shared directory opened
 * (fsrv_open_root) into *res. vfs_release closes it. vfs_build, the create: the FUSE server,
 * the device and its worker threads, from res (which it takes).
 */
int vfs_open(const struct vfs_config *c, void **res);
void vfs_release(void *res);
int vfs_build(const void *cfg, void *res, unsigned int index, const struct virtio_host *host,
	      struct virtio_dev **out);

#endif
