/* points: the mount points a read-only root lacks, made in the host's rootfs before the VM starts. */
#ifndef HULL_CONTAINER_POINTS_H
#define HULL_CONTAINER_POINTS_H

#include <stddef.h>

#include "container/plan.h"
#include "container/proto.h"

/*
 * A read-only root is shared read-only, so hull-init cannot make the mount
 * points its mounts need there: runc makes them in the rootfs before it
 * remounts it read-only, and this does the same on the host. For each of s's
 * mounts whose destination is not at or below an earlier mount's (that one's
 * filesystem holds it, in the guest), the missing directories of the
 * destination are made (0755), and the destination itself as an empty file
 * (0644) for a bind of a file entry of p. Every path resolves inside rootfs
 * (openat2 RESOLVE_IN_ROOT: its symlinks and ".." stop at its root; without
 * openat2 a symlink on the way is refused, ELOOP); a dangling symlink on the
 * way is an error, not made. What exists is left as it is. 0, or -errno with
 * the mount named in err.
 */
int ctr_mount_points(const char *rootfs, const struct ctr_spec *s, const struct ctr_plan *p,
		     char *err, size_t errlen);

#endif
