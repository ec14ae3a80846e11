/* virtio-fs: a host directory shared with the guest, served by hull's own FUSE server. */
#ifndef HULL_VIRTIO_FS_FS_H
#define HULL_VIRTIO_FS_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/virtio.h"

/*
 * ---- virtio-fs ---------------------------------------------------------------------
 *
 * A host directory shared with the guest (`mount -t virtiofs TAG /mnt`),
 * served in-process by the FUSE server in virtio/fs/ (fsrv.h states its
 * confinement guarantees). One high-priority queue, whose FORGETs are served
 * on the event loop (at most VIRTIO_NOTIFY_BUDGET chains of at most a page
 * each per pass), and one request queue, served by worker threads.
 */

enum vfs_cache {
	VFS_CACHE_AUTO,   /* default: 1 s entry/attr timeouts, page cache kept while unchanged */
	VFS_CACHE_ALWAYS, /* long timeouts, page cache kept across opens */
	VFS_CACHE_NEVER,  /* no timeouts, direct I/O (FOPEN_DIRECT_IO) */
};

#define VFS_TAG_MAX 36 /* bytes, the size of virtio_fs_config.tag */

/* One named entry of a share of entries: a host directory or regular file (fsrv.h). */
struct vfs_entry {
	char *name; /* its name in the share's synthetic root */
	char *path;
	bool ro;
};

struct vfs_config {
	char tag[VFS_TAG_MAX + 1];
	char *path; /* the shared directory; with entries, only a label for messages (may be NULL) */
	bool ro;
	enum vfs_cache cache;
	/*
	 * nentries > 0: a share of entries instead of one directory (container mode's bind
	 * mounts; no flag or JSON key sets them). Its check opens every entry before /dev/kvm.
	 */
	struct vfs_entry *entries;
	unsigned int nentries;
};

/* The kind (virtio/fs/config.c): --fs, "shares", up to one per virtio slot. */
extern const struct virtio_kind vfs_kind;

/*
 * Parse "tag=TAG,path=DIR[,ro=on|off][,cache=auto|always|never]" (the JSON
 * object's fields go through vfs_config_set). TAG is 1..36 bytes of printable
 * ASCII without ',' or whitespace. 0, or -EINVAL with a one-line reason in
 * err. c->path is malloc'd.
 */
int vfs_parse(struct vfs_config *c, const char *spec, char *err, size_t errlen);
int vfs_config_set(struct vfs_config *c, const char *key, const char *value, char *err,
		   size_t errlen);
/* Frees path and the entries (names and paths too). */
void vfs_config_free(struct vfs_config *c);

struct vfs;

/* What a caller of vfs_create may vary; zeroes (and the kind's create) are what hull runs. */
struct vfs_params {
	/*
	 * Runs in a worker before each request-queue request is served, without the device
	 * lock, with arg (tests park workers in it to hold requests in service). NULL: none.
	 */
	void (*before_serve)(void *arg);
	void *arg;
};

/*
 * vfs_kind's check and create in one call, for tests and fuzzers: open the share
 * (fsrv_open), start the worker threads; not attached (virtio_mmio_attach). p may be NULL.
 * Failures log "share PATH: cause". 0 or -errno; *out on success.
 */
int vfs_create(const struct vfs_config *c, unsigned int index, const struct virtio_host *host,
	       const struct vfs_params *p, struct vfs **out);
/* Detach when attached (waiting for requests in service), stop the workers, close. NULL is fine. */
void vfs_destroy(struct vfs *f);
/* f's generic device, to attach it. */
struct virtio_dev *vfs_dev(struct vfs *f);

/* What a share has done and holds now (for a VM's state and for tests). */
struct vfs_stats {
	uint64_t served;	      /* request-queue requests answered */
	uint64_t hiprio, refused;     /* hiprio requests served; answered -EINVAL (not hiprio's) */
	uint64_t dropped;	      /* served while a reset or failure came: not answered */
	unsigned int busy, idle;      /* workers in fsrv_handle; waiting for a kick */
	unsigned int inodes, handles; /* fsrv_stats */
	uint64_t oversized;	      /* fsrv_stats: refused for their length */
};
/* A consistent snapshot, taken under the device lock. */
void vfs_stats(struct vfs *f, struct vfs_stats *st);

#endif
