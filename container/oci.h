/* oci: an OCI runtime spec (config.json) read and checked into the host's plain view of a container. */
#ifndef HULL_CONTAINER_OCI_H
#define HULL_CONTAINER_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "container/proto.h"

#define CTR_CONFIG_MAX (4u << 20) /* bytes of config.json */
#define CTR_NCAPS 41		  /* capabilities hull knows by name: CAP_CHOWN (0) .. CAP_CHECKPOINT_RESTORE (40) */
#define CTR_CAPS_ALL ((1ull << CTR_NCAPS) - 1)

/* A mount as the bundle states it, its options resolved. */
struct ctr_bmount {
	char *dest;	      /* absolute, no ".." component */
	char *type;	      /* "bind" (bind and rbind), or the guest fs type as given */
	char *source;	      /* bind: the host path, absolute, symlinks resolved; else as given (may be NULL) */
	bool is_file;	      /* bind of a regular file (else of a directory) */
	uint64_t flags;	      /* MS_*: MS_RDONLY is the mount's read-only flag */
	char *data;	      /* the options that are no flags, joined by ',' (NULL: none) */
	uint32_t propagation; /* MS_SHARED/SLAVE/PRIVATE/UNBINDABLE (| MS_REC), 0: none given */
};

/* A device node the container gets. */
struct ctr_bdevice {
	char *path; /* inside the container */
	char type;  /* 'c', 'b', 'p' (OCI's 'u' reads as 'c') */
	uint32_t major, minor;
	uint32_t mode; /* permission bits (0666 when not given) */
	uint32_t uid, gid;
	char *host; /* type 'b': the host's node for major:minor, passed in as a virtio-blk disk */
};

struct ctr_annotation {
	char *key, *value;
};

/*
 * The container, as the host sees it: what config.json (or `hull run`'s
 * flags) asked for, checked. Fields carried for later issues are kept but not
 * acted on yet (README's table of OCI fields).
 */
struct ctr_bundle {
	char *dir;	   /* the bundle directory, absolute; NULL for `hull run --rootfs` */
	char *oci_version; /* "1.0.2", ... */
	char *root;	   /* the rootfs directory: absolute, symlinks resolved */
	bool root_ro;
	struct ctr_process process;
	char *hostname, *domainname; /* NULL: not set */
	struct ctr_bmount *mounts;
	unsigned int nmounts;
	char **sysctls; /* "key=value" */
	unsigned int nsysctls;
	char **masked, **readonly; /* absolute paths */
	unsigned int nmasked, nreadonly;
	struct ctr_bdevice *devices;
	unsigned int ndevices;
	struct ctr_resources resources; /* cgroup v2 terms (shares as weight, swap alone) */
	bool privileged; /* `hull run --privileged`: every guest device, every capability */
	/* Carried for later issues (14: runtime verbs, network, seccomp): */
	char *cgroups_path; /* linux.cgroupsPath */
	char *netns;	    /* linux.namespaces' network path: a namespace to join */
	char *seccomp;	    /* linux.seccomp, as compact JSON text */
	void *seccomp_prog; /* ... compiled: struct sock_filter[] for hull-init (container/seccomp.h) */
	size_t seccomp_len; /* its bytes */
	unsigned int seccomp_flags; /* SECCOMP_FILTER_FLAG_* its load takes */
	char *hooks;	    /* hooks, as compact JSON text */
	struct ctr_annotation *annotations;
	unsigned int nannotations;
};

/*
 * Whether the bundle is a Kubernetes pod's sandbox (its "pause" container), as the CRI
 * runtimes mark it: annotation io.kubernetes.cri.container-type (containerd) or
 * io.kubernetes.cri-o.ContainerType (CRI-O) set to "sandbox".
 */
bool ctr_pod_sandbox(const struct ctr_bundle *b);

/*
 * Read config.json text for the bundle in dir (absolute or relative to the
 * working directory; root.path and relative bind sources are relative to it).
 * Host block devices (linux.devices of type b) are looked up below dev_dir
 * (NULL: "/dev"), as dev_dir/block/MAJ:MIN or at their own path. 0 with b
 * filled, or -errno with a one-line reason in err that names the field and
 * the cause ("mounts[3] (/data): source /srv/x: No such file or directory")
 * and b zeroed. Limits: CTR_CONFIG_MAX bytes, CTR_LIST_MAX entries in any
 * list, strings within TLV_STR_MAX.
 */
int ctr_oci_parse(const char *text, size_t len, const char *dir, const char *dev_dir,
		  struct ctr_bundle *b, char *err, size_t errlen);
/*
 * An OCI process object alone (runc exec --process FILE's JSON), read as config.json's process
 * is: 0, or -errno with the reason in err ("process.cwd: missing"). ctr_process_free(p) after
 * success.
 */
int ctr_oci_process(const char *text, size_t len, struct ctr_process *p, char *err,
		    size_t errlen);
/*
 * A linux.resources object alone, as an update gives it (runc update --resources, its flags):
 * read as config.json's, but -1 for cpu.quota, memory.limit, memory.swap or pids.limit clears
 * that limit (the field set to UINT64_MAX, "max") and -1 for memory.reservation sets it to 0.
 * 0, or -errno with the reason in err; ctr_resources_free(r) after success.
 */
int ctr_oci_resources(const char *text, size_t len, struct ctr_resources *r, char *err,
		      size_t errlen);
/*
 * dir/config.json read and parsed; err starts "config.json: ". Its seccomp profile, compiled,
 * is kept in $HULL_CACHE/seccomp (default /var/cache/hull/seccomp) for the next container
 * with the same profile; ctr_oci_parse keeps nothing.
 */
int ctr_oci_load(const char *dir, struct ctr_bundle *b, char *err, size_t errlen);
/* Safe on a zeroed or freed bundle. */
void ctr_bundle_free(struct ctr_bundle *b);

/*
 * One mount option applied to m: a flag (ro, nosuid, bind, ...) set or
 * cleared in m->flags, a propagation (private, rshared, ...) into
 * m->propagation, the r-variants of mount_setattr flags (rro, rnosuid...) as
 * their plain flag, runc's tmpcopyup dropped; any other option is appended to
 * m->data. -EINVAL for idmap/ridmap (user namespaces), -E2BIG when data would
 * pass TLV_STR_MAX, -ENOMEM.
 */
int ctr_mount_option(struct ctr_bmount *m, const char *opt);
/*
 * The i-th option ctr_mount_option knows by name (for `features`), NULL past the last; an
 * r-variant ("rro") is in a static buffer, valid until the next call.
 */
const char *ctr_mount_option_name(unsigned int i);
/* A mount type made in the guest: tmpfs, proc, sysfs, devpts, mqueue, cgroup, cgroup2. */
bool ctr_guest_fs_type(const char *type);
/*
 * A bind mount's host source: relative to dir when not absolute (dir NULL:
 * must be absolute), symlinks resolved into a malloc'd *out, a directory or
 * a regular file (*is_file). -errno with the cause in err ("source X: ...").
 */
int ctr_bind_source(const char *dir, const char *src, char **out, bool *is_file, char *err,
		    size_t errlen);
/* A hostname or domain name: 1..64 bytes, letters, digits, '-', '.' and '_'. */
bool ctr_hostname_ok(const char *h);
/* "CAP_SYS_ADMIN" -> 21; -1 for a name hull does not know. */
int ctr_cap_by_name(const char *name);
/* Capability cap's name ("CAP_CHOWN"), NULL outside 0..CTR_NCAPS-1. */
const char *ctr_cap_name(int cap);
/* "RLIMIT_NOFILE" -> RLIMIT_NOFILE; -1 for an unknown name. */
int ctr_rlimit_by_name(const char *name);

/* A copy of n strings into a new array *out, counted in *nout as they are made (for a free). */
int ctr_strv_dup(const char *const *src, unsigned int n, char ***out, unsigned int *nout);
void ctr_strv_free(char **v, unsigned int n);
void ctr_bmount_free(struct ctr_bmount *m);

#endif
