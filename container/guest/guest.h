/* guest: hull-init's internal contract — the pure planners (unit-tested on the host) and PID 1's steps. */
#ifndef HULL_CONTAINER_GUEST_GUEST_H
#define HULL_CONTAINER_GUEST_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "container/proto.h"

/*
 * hull-init is a static guest program: it includes libc, kernel headers and
 * container/{tlv,proto}.h only, never lib/ or anything of the VMM. Symbols
 * carry the gi_ prefix. Functions return 0 or -errno; only main() powers off.
 */

/* Paths in the initramfs, outside the container's root. */
#define GI_NEWROOT "/newroot"	     /* the container's root until the switch */
#define GI_SHARE "/hull/share"	     /* the mounts share (named bind entries) */
#define GI_CGROUP_MNT "/hull/cgroup" /* hull-init's own cgroup2 mount (read-write) */
#define GI_DEFAULT_CGROUP "/hull"
#define GI_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Bounds on what one request or one spec can make hull-init do. */
#define GI_PROC_MAX 256		 /* processes (START + EXEC) alive at once */
#define GI_RELAY_BUF 16384	 /* bytes buffered each way of one tty relay */
#define GI_DRAIN_MS 5000	 /* how long an exited process's tty output may take to drain */
#define GI_CONNECT_TRIES 50	 /* vsock connects to the host, 100 ms apart */
#define GI_MOUNT_WAIT_MS 5000	 /* for the rootfs tag to appear (modules probing) */
#define GI_PROCS_READ_MAX 4096 /* pids signalled per read of cgroup.procs (then read again) */

/* ---- pure helpers (values.c) ---- */

/*
 * The next component of a path: skips slashes, sets *name to the component
 * and moves *c past it; returns its length, 0 at the end of the path.
 */
size_t gi_path_next(const char **c, const char **name);
/* An absolute path without "." or ".." components and shorter than PATH_MAX. */
bool gi_abs_path_ok(const char *p);
/* One path component: not empty, no '/', not "." or "..", at most NAME_MAX bytes. */
bool gi_name_ok(const char *name);
/*
 * "net.ipv4.ip_forward=1" -> path "/proc/sys/net/ipv4/ip_forward" and *value
 * "1" (pointing into kv). -EINVAL for a key that is empty, has "/" or "..",
 * or no '='; -ENAMETOOLONG when the path does not fit n.
 */
int gi_sysctl_path(const char *kv, char *path, size_t n, const char **value);

/*
 * "10.88.0.5/16" -> *addr and *mask (network byte order, as struct in_addr holds them).
 * -EINVAL for anything but a dotted quad, '/', and a prefix length 0..32.
 */
int gi_parse_cidr(const char *text, uint32_t *addr, uint32_t *mask);

/*
 * rtnetlink requests for an interface's IPv6 configuration, built in buf (GI_NL_MSG_MAX
 * bytes), asking for an ack; each returns its length. gi_nl_addr6: RTM_NEWADDR of addr/prefix
 * on interface ifindex with IFA_F_NODAD (usable at once: duplicate address detection would
 * keep it tentative for a second or two after the process started; the address is the one
 * the engine gave the container). gi_nl_route6: RTM_NEWROUTE of the default route (::/0,
 * main table) via gw through ifindex.
 */
#define GI_NL_MSG_MAX 128
size_t gi_nl_addr6(void *buf, uint32_t seq, int ifindex, const uint8_t addr[16],
		   unsigned int prefix);
size_t gi_nl_route6(void *buf, uint32_t seq, int ifindex, const uint8_t gw[16]);

/* One cgroup v2 interface file and what to write into it. */
struct gi_cgval {
	const char *file;
	const char *value; /* points into buf or into the resources' strings */
	char buf[48];
};
#define GI_CGVAL_MAX 8
/*
 * The files and values for r, in the order they are written: cpuset.cpus,
 * cpuset.mems, cpu.max ("QUOTA PERIOD", "max" without a quota, period 100000
 * by default), cpu.weight, memory.low, memory.max, memory.swap.max, pids.max
 * (UINT64_MAX: "max"). Only resources r has are listed. Returns the count.
 */
size_t gi_cgroup_values(const struct ctr_resources *r, struct gi_cgval out[GI_CGVAL_MAX]);

/* ---- the exec of a container process (path.c) ---- */

/* Try to execute path; returns the errno of the failure (it returns only when it failed). */
typedef int gi_try_fn(const char *path, void *ctx);
/*
 * Run file as execvp(3) does, but with PATH from the container's environment
 * (path_env): a name with '/' is tried as is; otherwise each PATH entry in
 * order (an empty entry is the current directory), going on past ENOENT,
 * ENOTDIR, EACCES, ENOEXEC and ELOOP. Returns the errno to report: EACCES if
 * any candidate was refused so, else the last error (ENOENT when none was
 * tried).
 */
int gi_exec_search(const char *file, const char *path_env, gi_try_fn *try_exec, void *ctx);
/* The exit status of a process whose exec failed with err: 127 for ENOENT, else 126. */
int gi_exec_status(int err);
/* The value of PATH in env[0..n), or GI_DEFAULT_PATH when it has none. */
const char *gi_env_path(char *const *env, unsigned int n);

/* ---- the capability plan (caps.c) ---- */

enum gi_cap_op_kind {
	GI_CAP_BOUND_DROP,     /* prctl(PR_CAPBSET_DROP, cap) */
	GI_CAP_KEEP,	       /* prctl(PR_SET_KEEPCAPS, 1): permitted survives the uid change */
	GI_CAP_IDS,	       /* setgroups, setresgid, setresuid */
	GI_CAP_UNKEEP,	       /* prctl(PR_SET_KEEPCAPS, 0) */
	GI_CAP_SET,	       /* capset: effective, permitted, inheritable */
	GI_CAP_AMBIENT_CLEAR,  /* PR_CAP_AMBIENT_CLEAR_ALL */
	GI_CAP_AMBIENT_RAISE,  /* PR_CAP_AMBIENT_RAISE cap */
};

struct gi_cap_op {
	enum gi_cap_op_kind kind;
	unsigned int cap;
};

#define GI_CAP_LAST_MAX 63
#define GI_CAP_OPS_MAX (2 * (GI_CAP_LAST_MAX + 1) + 5)
/*
 * The order in which a process's identity and capabilities are applied:
 * bounding drops (while hull-init's child still has CAP_SETPCAP), keepcaps,
 * the ids, keepcaps off, capset, then the ambient set. last_cap is the
 * kernel's highest capability (/proc/sys/kernel/cap_last_cap); capabilities
 * past it are ignored. Returns the number of ops written (at most
 * GI_CAP_OPS_MAX).
 */
size_t gi_caps_plan(const uint64_t caps[5], unsigned int last_cap, struct gi_cap_op *ops);

/* ---- the mount plan (plan.c) ---- */

enum gi_step_kind {
	GI_MOUNT,    /* mount(source, target, fstype, flags, data) */
	GI_BIND,     /* bind source (a guest path outside the root) over target, then remount */
	GI_MKNOD,    /* a device node */
	GI_SYMLINK,  /* target is a symlink whose text is source */
	GI_MASK,     /* /dev/null over a file, a read-only tmpfs over a directory; absent: skip */
	GI_READONLY, /* target bound over itself read-only; absent: skip */
};

/* What is created at a missing target before mounting on it. */
enum gi_mp { GI_MP_DIR, GI_MP_FILE };

struct gi_step {
	enum gi_step_kind kind;
	const char *target; /* absolute, inside the new root */
	const char *source;
	const char *fstype;
	const char *data;
	unsigned long flags;  /* GI_MOUNT: mount flags; GI_BIND: MS_REC and the remount's flags */
	uint32_t propagation; /* applied after the mount when not 0 */
	enum gi_mp mp;
	mode_t mode; /* GI_MKNOD, GI_BIND of a device: S_IFCHR/S_IFBLK/S_IFIFO | permissions */
	dev_t dev;
	uid_t uid;
	gid_t gid;
	char *own; /* a string the plan made (source points into it), freed with the plan */
};

struct gi_plan {
	struct gi_step *steps;
	size_t n, cap;
};

/* Whether path (in the guest, outside the new root) is a directory: 1, 0, or -errno. */
typedef int gi_isdir_fn(const char *path, void *ctx);

/*
 * Everything that is mounted or created inside the new root, in order: /proc,
 * /sys, /sys/fs/cgroup, /dev (a tmpfs with the OCI default devices, or the
 * guest's devtmpfs for a privileged container), /dev/pts, /dev/shm,
 * /dev/mqueue, /dev/console; then the spec's mounts (one of the same type on
 * a default's destination replaces that default), devices, masked paths and
 * read-only paths (none for a privileged container). isdir tells a bind
 * entry's kind (file or directory mount point). -EINVAL with err naming the
 * mount and the cause for a relative or dotted destination, an unknown type,
 * a bind without a mounts share or with a bad entry name, a bad device.
 */
int gi_plan_build(const struct ctr_spec *s, gi_isdir_fn *isdir, void *ctx, struct gi_plan *p,
		  char *err, size_t errlen);
void gi_plan_free(struct gi_plan *p);

/* ---- PID 1's steps (the rest: syscalls, tested in the lab) ---- */

/* Report on the console and power off; never returns. */
void gi_fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void gi_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Write all of buf to fd (retrying on EINTR and short writes): 0 or -errno. */
int gi_write_all(int fd, const void *buf, size_t len);
/* Write s into the file dirfd/path (O_WRONLY, no creation): 0 or -errno. */
int gi_write_file(int dirfd, const char *path, const char *s);

/*
 * net.c: interface n (its name the guest's) given its MTU, its IPv4 addresses (the first on
 * the interface, the others on aliases NAME:N), up, and the default route through its
 * gateway. 0, or -errno with err naming the interface, the step and the cause.
 */
int gi_net_config(const struct ctr_netif *n, char *err, size_t errlen);

/* rootfs.c: mount the root, run the plan, switch into the new root. */
int gi_rootfs_setup(const struct ctr_spec *s, char *err, size_t errlen);

/* cgroup.c: hull-init's cgroup2 mount and the container's cgroup. */
struct gi_cgroup {
	int root; /* dirfd of hull-init's cgroup2 mount */
	int dir;  /* dirfd of the container's cgroup */
	int cpus; /* dirfd of hull-init's /sys/devices/system/cpu (-1: none): the container's
		   * /sys, hull-init's root after the setup, is read-only */
};
int gi_cgroup_setup(struct gi_cgroup *cg, const char *path, const struct ctr_resources *r,
		    char *err, size_t errlen);
int gi_cgroup_apply(const struct gi_cgroup *cg, const struct ctr_resources *r, char *err,
		    size_t errlen);
/*
 * The guest's vCPUs for an UPDATE of n online (CPU 0 always is): up, CPUs 1..n-1 onlined; else
 * CPUs n and above offlined (/sys/devices/system/cpu/cpuN/online, up to GI_CPUS_MAX). The
 * container's cpuset is written between the two (ctr_limits_guest's 0-N). 0, or -errno with
 * the CPU in err (-ENODEV for one the VM did not make).
 */
#define GI_CPUS_MAX 256
int gi_cpus_online(const struct gi_cgroup *cg, unsigned int n, bool up, char *err,
		   size_t errlen);
/* Signal every process of the container: cgroup.kill for SIGKILL, else each pid. */
int gi_cgroup_signal(const struct gi_cgroup *cg, int sig);

/* proc.c: start a process of the container. */
struct gi_stdio {
	int fd[3];     /* the child's 0, 1, 2 (sockets or the pty slave), -1: /dev/null */
	bool terminal; /* fd[0] is a pty slave: it becomes the controlling terminal */
};
/*
 * Fork the process p with stdio, in the container's cgroup cg. Returns the
 * pid once the child is about to exec (its failed exec is then an exit
 * status: gi_exec_status()), or -errno when its setup failed (err says
 * which step). The spec's seccomp filter (none when spec->seccomp is NULL) is loaded with
 * its flags.
 */
pid_t gi_proc_spawn(const struct ctr_process *p, const struct gi_stdio *io,
		    const struct gi_cgroup *cg, const struct ctr_spec *spec, char *err,
		    size_t errlen);

/* agent.c: serve hull until the connection drops; returns when it has. */
struct gi_hello {
	uint32_t cpus;
	uint64_t memory;
	char release[65];
};
int gi_agent_run(const struct ctr_spec *s, const struct gi_cgroup *cg,
		 const struct gi_hello *hello);

#endif
