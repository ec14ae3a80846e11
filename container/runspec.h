/* runspec: the default spec of `hull run --rootfs DIR`, as `runc spec` writes it minus namespaces, with hull run's flags. */
#ifndef HULL_CONTAINER_RUNSPEC_H
#define HULL_CONTAINER_RUNSPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "container/oci.h"

#define CTR_RUN_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define CTR_RUN_HOSTNAME "hull"

/* `hull run`'s flags that shape the container, as parsed from its command line. */
struct ctr_run_opts {
	const char *rootfs; /* --rootfs DIR */
	bool read_only;	    /* --read-only */
	bool tty;	    /* --tty: a terminal, TERM=xterm */
	bool privileged;    /* --privileged */
	const char *const *env; /* --env K=V, in order; a later K replaces an earlier one */
	unsigned int nenv;
	const char *workdir;  /* --workdir D (absolute); NULL: "/" */
	const char *user;     /* --user UID[:GID] (numbers; GID 0 when not given); NULL: 0:0 */
	const char *hostname; /* --hostname H; NULL: "hull" */
	const char *const *mounts; /* --mount SRC:DST[:ro|:rw], SRC an absolute host path */
	unsigned int nmounts;
	const char *const *tmpfs; /* --tmpfs DST[:OPTIONS] (nosuid,nodev,noexec, then OPTIONS) */
	unsigned int ntmpfs;
	const char *const *args; /* CMD [ARG...] */
	unsigned int nargs;
};

/*
 * The bundle `hull run --rootfs` runs: runc's default spec (capabilities
 * AUDIT_WRITE, KILL and NET_BIND_SERVICE in the bounding, effective and
 * permitted sets; RLIMIT_NOFILE 1024; no new privileges; its masked and
 * read-only paths; /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys (ro),
 * /sys/fs/cgroup (ro)), with o's flags applied. --privileged: every
 * capability in every set, no masked or read-only paths, /sys and the cgroup
 * mount writable, new privileges allowed, every guest device. A --mount or
 * --tmpfs on a default mount's destination replaces it; two of them on one
 * destination are an error. Reads the file system only to check the rootfs
 * and the mount sources. 0, or -errno with a reason naming the flag in err.
 */
int ctr_run_bundle(const struct ctr_run_opts *o, struct ctr_bundle *b, char *err, size_t errlen);

#endif
