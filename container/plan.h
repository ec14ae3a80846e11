/* plan: from a checked bundle to the spec hull-init runs and the host's plan of the devices it needs. */
#ifndef HULL_CONTAINER_PLAN_H
#define HULL_CONTAINER_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "container/oci.h"
#include "container/proto.h"
#include "virtio/blk/blk.h"

#define CTR_ROOTFS_TAG "rootfs" /* virtio-fs tag of the container's root */
#define CTR_MOUNTS_TAG "mounts" /* virtio-fs tag of the share of bind-mount entries */
#define CTR_DISK_SERIAL "hull-dev%u" /* a passed-in block device's serial, by its order */

/* One named entry of the mounts share: a host directory or regular file. */
struct ctr_share_entry {
	char name[8]; /* "m0", "m1", ... in the order of the bind mounts */
	char *host;   /* absolute, symlinks resolved */
	bool is_file;
	bool ro; /* the mount's ro: the host refuses writes to the entry too */
};

/* A host block device the VM adds as a virtio-blk disk. */
struct ctr_disk {
	char *host;			 /* the host's block device node */
	char serial[VBLK_SERIAL_MAX + 1]; /* CTR_DISK_SERIAL: identifies it in the guest */
	char guest[16];			 /* the node it appears as in the guest: "/dev/vdb" */
};

/* What the VM needs for the container, besides the spec: its shares and disks. */
struct ctr_plan {
	char *rootfs; /* shared as CTR_ROOTFS_TAG */
	bool rootfs_ro;
	struct ctr_share_entry *entries; /* shared as CTR_MOUNTS_TAG, when there are any */
	unsigned int nentries;
	struct ctr_disk *disks; /* in the order the VM adds them, after first_disk others */
	unsigned int ndisks;
};

/*
 * The guest's spec s and the host's plan p for bundle b. Bind mounts become
 * entries m0, m1, ... of the mounts share (mount type "bind", source the
 * entry's name); "cgroup" mounts become "cgroup2" (the guest has cgroup v2
 * only); type b devices become disks whose guest node is named from their
 * order, the VM adding them after first_disk virtio-blk disks of its own
 * (vda, vdb, ..., vdz, vdaa, as Linux names them), and the device node in the
 * container mirrors that node. The spec is checked by encoding it: 0, or
 * -errno with the reason in err (-E2BIG: past CTR_SPEC_MAX). Modules, the
 * guest cgroup, seccomp and network interfaces are left to the caller.
 */
int ctr_plan_build(const struct ctr_bundle *b, unsigned int first_disk, struct ctr_spec *s,
		   struct ctr_plan *p, char *err, size_t errlen);
void ctr_plan_free(struct ctr_plan *p);

/* Linux's name of virtio-blk disk index (0: "vda", 26: "vdaa") into buf: 0 or -ENAMETOOLONG. */
int ctr_disk_name(unsigned int index, char *buf, size_t size);

#endif
