/* cgroup: hull's cgroup on the host, v2 or v1 — made for cgroupsPath, limits written, processes moved in. */
#ifndef HULL_CONTAINER_CGROUP_H
#define HULL_CONTAINER_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "container/proto.h"

#define CTR_CG_ROOT "/sys/fs/cgroup"
#define CTR_CG_TEXT_MAX (1u << 20) /* bytes of /proc/self/mountinfo or /proc/self/cgroup read */
#define CTR_CG_RMDIR_TRIES 5       /* a busy cgroup is removed after 10, 20, ... 160 ms more */

/* The controllers hull writes (v1: each in its own hierarchy or sharing one, as mounted). */
enum ctr_cg_ctrl { CTR_CG_CPU, CTR_CG_CPUSET, CTR_CG_MEMORY, CTR_CG_PIDS, CTR_CG_NCTRL };

/*
 * The host's cgroup filesystems and hull's place in them. Everything takes
 * these as data, so tests run the writer against a fake tree.
 */
struct ctr_cg_env {
	char *root;      /* where the cgroup filesystems are mounted: CTR_CG_ROOT */
	char *mountinfo; /* the text of /proc/self/mountinfo */
	char *self;      /* the text of /proc/self/cgroup */
	/*
	 * Making and removing one cgroup directory, 0 or -errno; NULL: mkdir(2)
	 * (mode 0755) and rmdir(2). A test's fake tree fills a new directory with
	 * the files the kernel would and empties it before removing it.
	 */
	int (*mkdir)(const char *dir, void *opaque);
	int (*rmdir)(const char *dir, void *opaque);
	void *opaque;
};

/*
 * The host's: root CTR_CG_ROOT and this process's own files (each read up to
 * CTR_CG_TEXT_MAX bytes). 0, or -errno with the file and the cause in err.
 */
int ctr_cg_env_load(struct ctr_cg_env *env, char *err, size_t errlen);
/* What ctr_cg_env_load allocated; safe on a zeroed env. */
void ctr_cg_env_free(struct ctr_cg_env *env);

/* One hierarchy hull uses: the cgroup's directory in it, and hull's own cgroup there. */
struct ctr_cg_dir {
	char *mount; /* where the hierarchy is mounted */
	char *dir;
	char *home;
	unsigned int ctrls; /* 1 << enum ctr_cg_ctrl for each controller it holds */
};

struct ctr_cgroup {
	int version;   /* 2: unified at the root; 1: v1 controllers (v2 beside them is not used) */
	char *path;    /* the cgroup from the hierarchies' root: "/system.slice/hull-c1.scope" */
	struct ctr_cg_dir h[CTR_CG_NCTRL];
	unsigned int nh; /* v2: 1; v1: the distinct hierarchies of cpu, cpuset, memory, pids */
	bool made;       /* ctr_cgroup_create() made the cgroup (it did not exist) */
	const struct ctr_cg_env *env;
};

/*
 * "slice:prefix:name" (runc's --systemd-cgroup form) as the cgroupfs path
 * systemd gives that unit, without asking systemd: the slice ("" is
 * system.slice) expanded as systemd nests slices ("a-b.slice" is
 * /a.slice/a-b.slice, "-.slice" the root), then "prefix-name.scope", or the
 * name itself when it ends in ".slice". 0, or -EINVAL with the reason in err.
 */
int ctr_cg_systemd_path(const char *spec, char *out, size_t len, char *err, size_t errlen);
/*
 * A linux.cgroupsPath in the systemd form (`hull run` has no --systemd-cgroup flag): relative,
 * of three fields "slice:prefix:name". Any other is a cgroupfs path.
 */
bool ctr_cg_systemd_form(const char *path);

/*
 * Find where cgroup path cg_path (linux.cgroupsPath: absolute from the
 * hierarchies' root, or relative to hull's own cgroup as runc takes it; the
 * systemd form when systemd) lives: from env's mountinfo, cgroup v2 when a
 * cgroup2 filesystem is mounted at env->root, else the v1 hierarchies mounted
 * below it that hold cpu, cpuset, memory or pids. Nothing is made yet. 0, or
 * -errno with the reason in err (no cgroup filesystem, a ".." component, an
 * own cgroup outside a mount).
 */
int ctr_cgroup_open(const struct ctr_cg_env *env, const char *cg_path, bool systemd,
		    struct ctr_cgroup *cg, char *err, size_t errlen);
/*
 * Make the cgroup and any missing parent. v2: every ancestor's
 * cgroup.subtree_control gets the controllers of cpu, cpuset, memory and pids
 * its cgroup.controllers offers and it lacks. v1: each cpuset directory on the
 * way with an empty cpuset.cpus or mems gets its parent's (the kernel starts
 * them empty, and an empty cpuset takes no process). An existing cgroup is
 * used as it is (cg->made false).
 */
int ctr_cgroup_create(struct ctr_cgroup *cg, char *err, size_t errlen);
/*
 * Write r's limits (cgroup v2 terms; what r does not set is left alone). v2:
 * cpu.max (a period alone keeps the quota there), cpu.weight, cpuset.cpus,
 * cpuset.mems, memory.max, memory.swap.max, memory.low, pids.max. v1:
 * cpu.cfs_period_us, cpu.cfs_quota_us, cpu.shares (ctr_cg_shares), cpuset.*,
 * memory.limit_in_bytes, memory.memsw.limit_in_bytes (limit + swap, in the
 * order the kernel accepts against the current limit), memory.soft_limit_in_bytes
 * (memory.low), pids.max. Rewriting later (an update) is the same call.
 */
int ctr_cgroup_set(struct ctr_cgroup *cg, const struct ctr_resources *r, char *err,
		   size_t errlen);
/* Move process pid, every thread of it, into the cgroup (v1: in each hierarchy). */
int ctr_cgroup_enter(struct ctr_cgroup *cg, pid_t pid, char *err, size_t errlen);
/* Move pid back to hull's own cgroup as it was when opened (before a remove). */
int ctr_cgroup_leave(struct ctr_cgroup *cg, pid_t pid, char *err, size_t errlen);
/*
 * Remove the cgroup (not its parents), in every hierarchy; one that is gone
 * already is fine. A busy one (its last processes exiting) is tried again
 * CTR_CG_RMDIR_TRIES times over about 300 ms.
 */
int ctr_cgroup_remove(struct ctr_cgroup *cg, char *err, size_t errlen);
void ctr_cgroup_close(struct ctr_cgroup *cg);

/*
 * cgroup v2's cpu.weight (1..10000) as v1's cpu.shares: the smallest shares
 * that runc's conversion (the OCI reader's) takes back to this weight.
 */
uint64_t ctr_cg_shares(uint64_t weight);

#endif
