/* limits: OCI linux.resources mapped to every level — VM shape, guest cgroup, host cgroup, pinning. */
#ifndef HULL_CONTAINER_LIMITS_H
#define HULL_CONTAINER_LIMITS_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "container/proto.h"

/*
 * Pure functions: every input is a parameter (the host's CPUs and RAM
 * included), so each mapping is a table test. The README's table of OCI
 * resources says the same in prose.
 */

#define CTR_CPU_PERIOD 100000ull      /* cgroup's default period (us), for a quota given alone */
#define CTR_MEM_BLOCK (128ull << 20)  /* virtio-mem's block: hotplugged memory moves in these */
#define CTR_GUEST_BASE (128ull << 20) /* boot RAM the guest keeps for itself with a memory limit */
#define CTR_MEMMAP_DIV 64             /* Linux's struct page: 64 bytes per 4 KiB page */
#define CTR_MEM_GROWTH 4              /* default region: the limit times this, for updates */
/*
 * The least a container VM's balloon leaves the guest (an update's limit below the RAM): a
 * block, the smallest RAM hull run boots a container with (a limit is rounded up to it), so
 * a guest of this size is one known to run its kernel, hull-init and a small container; a
 * limit below it is refused by an update that sets it.
 */
#define CTR_GUEST_MIN CTR_MEM_BLOCK
#define CTR_BALLOON_PAGE 4096ull      /* the balloon's page: its target is in these */

/*
 * hull's own memory beyond guest RAM (README, "Host constraints": the formula and the lab's
 * measurements it comes from). CTR_HULL_MEM for the process (its heap, stacks, the event
 * loop, console and control socket buffers, its text and libraries when they are first read
 * into this cgroup, KVM's VM-wide state): measured 0.9 MiB, 2 MiB with the text (1.1 MiB),
 * four times that kept. CTR_VCPU_MEM per vCPU (its thread's stack, kvm_run, KVM's vCPU
 * state): measured 0.2 MiB, 2.5 times that kept. Per guest byte, twice 8 bytes per 4 KiB page (1/CTR_PT_DIV):
 * hull's own page tables for what of guest RAM is present (boot RAM and plugged memory),
 * and KVM's second-level (NPT/EPT) tables, or on a shadow-paging host its reverse maps, for
 * all the guest memory registered (boot RAM and the whole hotplug region).
 */
#define CTR_HULL_MEM (8ull << 20)
#define CTR_VCPU_MEM (512ull << 10)
#define CTR_PT_DIV 512

/* What the mapping needs besides the resources: the host, and the VM's own settings. */
struct ctr_shape_in {
	cpu_set_t host_cpus;   /* the CPUs hull may run on (its affinity: online and allowed) */
	uint64_t host_mem;     /* the host's RAM, bytes */
	unsigned int cpus;     /* vCPUs when the resources ask for none (--cpus) */
	unsigned int max_cpus; /* --max-cpus; 0: the host's CPUs */
	uint64_t mem;          /* guest RAM when there is no memory limit (--memory) */
	uint64_t max_mem;      /* --max-memory: boot RAM plus the hotplug region; 0: derived */
};

/* The VM a container gets. */
struct ctr_shape {
	unsigned int vcpus;     /* online (at boot, or after an update) */
	unsigned int max_vcpus; /* created: vCPUs above vcpus stay offline until an update */
	uint64_t boot_mem;      /* RAM at boot */
	uint64_t region;        /* the virtio-mem hotplug region above it, 0: none */
	uint64_t plugged;       /* of the region, plugged (at the start, or after an update) */
};

/*
 * The VM's shape for resources r. vCPUs: ceil(quota / period) with a quota
 * (the period CTR_CPU_PERIOD when not given), else the CPUs of the cpuset,
 * else in->cpus; never more than the host's CPUs (in->host_cpus) or
 * max_vcpus; at least 1 (a quota beyond the cpuset's CPUs gets its vCPUs:
 * they share the cpuset, ctr_limits_pinning). max_vcpus: in->max_cpus, else the host's CPUs, at
 * most CONFIG_MAX_CPUS. Memory without a limit: in->mem at boot, a region up
 * to in->max_mem when it is larger, nothing plugged. With a limit L: L rounded
 * up to CTR_MEM_BLOCK plugged; a region of in->max_mem less CTR_GUEST_BASE, or
 * else CTR_MEM_GROWTH times that, at most what the host's RAM holds, at least
 * what is plugged; boot RAM CTR_GUEST_BASE plus the guest's memory map of the
 * region (1/CTR_MEMMAP_DIV, rounded up to 2 MiB).
 *
 * fixed: NULL when the VM is made; for an update, the running VM's shape, of
 * which max_vcpus, boot_mem and region stay, r being the resources as they
 * are after the update (the old ones, each field the update sets replaced);
 * without a memory limit the plugged memory stays. -EINVAL with the reason in err for a cpuset
 * that is not a CPU list, a max_mem below the limit plus CTR_GUEST_BASE, a
 * limit the VM cannot reach (beyond its region, or past CONFIG_MAX_MEM).
 */
int ctr_limits_shape(const struct ctr_resources *r, const struct ctr_shape_in *in,
		     const struct ctr_shape *fixed, struct ctr_shape *out, char *err,
		     size_t errlen);

/*
 * The container's cgroup in the guest: r as it is (cpu.max, cpu.weight,
 * memory.max, memory.swap.max, memory.low, pids.max), but a cpuset in the
 * guest's numbers: cpus "0-N" for the shape's online vCPUs, mems "0" (one
 * node). 0 with g filled (ctr_resources_free it), or -ENOMEM.
 */
int ctr_limits_guest(const struct ctr_resources *r, const struct ctr_shape *s,
		     struct ctr_resources *g);

/*
 * hull's memory beyond guest RAM for shape s, devices_mem being what the VM's
 * devices may hold (the sum of their kinds' host_mem):
 *   CTR_HULL_MEM + max_vcpus * CTR_VCPU_MEM + devices_mem
 *   + (boot_mem + plugged) / CTR_PT_DIV     (hull's page tables)
 *   + (boot_mem + region) / CTR_PT_DIV      (KVM's second-level tables or reverse maps).
 */
uint64_t ctr_limits_overhead(const struct ctr_shape *s, uint64_t devices_mem);

/*
 * hull's cgroup on the host: cpu.max, cpu.weight, cpuset.cpus and mems as r
 * gives them; with a memory limit memory.max = the guest's memory (boot RAM
 * and what is plugged) plus ctr_limits_overhead(); with a reservation
 * memory.low = it plus boot RAM and the overhead; memory.swap.max as r; no
 * pids.max (the container's processes are the guest's). 0 with h filled
 * (ctr_resources_free it), or -ENOMEM.
 */
int ctr_limits_host(const struct ctr_resources *r, const struct ctr_shape *s,
		    uint64_t devices_mem, struct ctr_resources *h);

/*
 * The pinning plan: the cpuset's CPUs, vCPU i on the (i mod n)-th of them,
 * hull's other threads on all of them. 0 with *set and *pinned (false: no
 * cpuset, nothing is pinned); -EINVAL with the reason in err for a list that
 * is not one, or that names a CPU outside in->host_cpus.
 */
int ctr_limits_pinning(const struct ctr_resources *r, const struct ctr_shape_in *in,
		       cpu_set_t *set, bool *pinned, char *err, size_t errlen);

/* What `hull run` makes of a container's resources before its VM starts (ctr_limits_run). */
struct ctr_run_limits {
	unsigned int cpus;	     /* the VM's vCPUs online at boot */
	unsigned int max_cpus;	     /* made: in->max_cpus when above cpus, else cpus */
	uint64_t mem;		     /* its RAM */
	uint64_t max_mem;	     /* its RAM plus the hotplug region (virtio-mem); 0: none */
	char *affinity;		     /* the pinning as --cpu-affinity takes it, NULL: none */
	struct ctr_resources host;   /* hull's host cgroup's limits (ctr_limits_host) */
	struct ctr_resources guest;  /* the container's cgroup in the guest (ctr_limits_guest) */
};

/*
 * `hull run`'s VM for resources r: vCPUs as ctr_limits_shape() has them
 * unless cpus_set (--cpus given: in->cpus wins); RAM the memory limit rounded
 * up to CTR_MEM_BLOCK (the shape's plugged memory: with no virtio-mem device
 * yet, all of it is RAM at boot) unless mem_set or there is no limit (in->mem).
 * The host cgroup's limits are ctr_limits_host()'s for a VM whose RAM is all
 * the container's (boot RAM 0, plugged and region the RAM: the same overhead,
 * memory.low the reservation plus the overhead), devices_mem its devices';
 * the pinning ctr_limits_pinning()'s; the guest's cgroup ctr_limits_guest()'s
 * for the vCPUs made. 0 with out filled (ctr_run_limits_free it), -EINVAL
 * with the reason in err (as ctr_limits_shape and ctr_limits_pinning), or
 * -ENOMEM.
 */
int ctr_limits_run(const struct ctr_resources *r, const struct ctr_shape_in *in, bool cpus_set,
		   bool mem_set, uint64_t devices_mem, struct ctr_run_limits *out, char *err,
		   size_t errlen);
/* Safe on a zeroed one. */
void ctr_run_limits_free(struct ctr_run_limits *l);

/* --- live update -------------------------------------------------------------------------- */

#define CTR_PERIOD_MIN 1000ull    /* cgroup v2's cpu.max period and quota, us (the kernel's) */
#define CTR_PERIOD_MAX 1000000ull

/* A running container VM as an update sees it. */
struct ctr_vm_now {
	cpu_set_t host_cpus;    /* the CPUs hull may run on (its affinity before any pinning) */
	unsigned int vcpus;     /* online vCPUs */
	unsigned int max_vcpus; /* created */
	uint64_t mem;           /* boot RAM */
	uint64_t region;        /* its hotplug region (virtio-mem), 0: none */
	uint64_t plugged;       /* of the region, the bytes asked to be plugged now */
	uint64_t devices_mem;   /* its devices' host memory (config_devices_mem) */
	bool balloon;           /* a balloon an update fills (a container VM's) ... */
	uint64_t ballooned;     /* ... with this target now (the plan's: no busy blocks') */
};

/* The pinning one level holds: vCPU i on the (i mod n)-th CPU of set, or (!pin) none pinned. */
struct ctr_pin {
	cpu_set_t set;
	bool pin;
};

/*
 * An update planned: each level's values before ([0]) and after ([1]) it. Both sides of a level
 * name the same fields (a limit one side lacks is its default there: quota and memory, swap
 * and pids limits "max" (UINT64_MAX), period CTR_CPU_PERIOD, weight 100, reservation 0, a
 * cpuset every CPU hull may use), so writing [0] back undoes writing [1].
 */
struct ctr_update {
	struct ctr_resources want;     /* the container's resources after it (OCI terms) */
	struct ctr_resources host[2];  /* hull's host cgroup (ctr_limits_host) */
	struct ctr_resources guest[2]; /* the container's cgroup in the guest (ctr_limits_guest) */
	struct ctr_pin pin[2];         /* the vCPU threads' pinning ... */
	bool pinned;                   /* ... when either side has a cpuset (else left alone) */
	unsigned int vcpus[2];         /* online vCPUs (hull-init on- or offlines the rest) */
	uint64_t plug[2];              /* of the hotplug region, the bytes asked to be plugged */
	uint64_t balloon[2];           /* the balloon's target (vm->balloon: else 0) */
	uint64_t host_mem_max;         /* the host cgroup's memory.max once an unplug is done */
};

/*
 * Plan an update of a running VM whose container has resources cur, upd being the fields the
 * update sets (ctr_oci_resources: UINT64_MAX clears a limit): want is cur with each of upd's
 * fields replaced. Everything is checked before any level is written: -EINVAL with the reason
 * in err for a period outside CTR_PERIOD_MIN..CTR_PERIOD_MAX us, a quota below CTR_PERIOD_MIN,
 * a cpuset that is no CPU list or names a CPU hull may not use, a mems list that is no list, a
 * memory limit above the VM's RAM (growing past it needs virtio-mem: both sizes named), a
 * reservation above it, and with a balloon (vm->balloon) a memory limit below CTR_GUEST_MIN
 * that upd sets and cur does not have. The vCPUs online after it (vcpus[1]) as
 * ctr_limits_shape() has them for want, within the vCPUs made (vm->max_vcpus: --max-cpus), as
 * now without a quota or a cpuset; the guest's cpuset is 0-N for them. Memory: the guest's
 * size is the limit: its part above the RAM plugged (plug[1], in blocks), and with a balloon
 * its shortfall below the RAM in the balloon (balloon[1]: the RAM less the limit rounded up to
 * CTR_BALLOON_PAGE; 0 at or above the RAM and without a limit; as now when upd sets none).
 * The host cgroup's memory.max is the VM's RAM plus what is plugged, less what is in the
 * balloon, plus the overhead (ctr_limits_run's); without a balloon whatever lower limit the
 * guest enforces. A shrink
 * (less plugged, or more in the balloon) leaves host[1].mem_max at host[0]'s, host_mem_max
 * being the lower one to write once the guest has given the memory (vm_settle_begin). 0 with
 * u filled (ctr_update_free it), -EINVAL, or -ENOMEM.
 */
int ctr_limits_update(const struct ctr_resources *cur, const struct ctr_resources *upd,
		      const struct ctr_vm_now *vm, struct ctr_update *u, char *err, size_t errlen);
void ctr_update_free(struct ctr_update *u);

/*
 * An unplug that ended with blocks still plugged (busy in the guest): the balloon's target
 * that takes their size instead, balloon (its target now) plus plugged less requested, at
 * most what leaves the guest CTR_GUEST_MIN of its RAM and plugged memory (a multiple of
 * CTR_BALLOON_PAGE as every size here is); balloon when nothing is busy.
 */
uint64_t ctr_limits_busy_balloon(uint64_t balloon, uint64_t ram, uint64_t plugged,
				 uint64_t requested);

/*
 * One level an update rewrites: set(opaque, values) writes values there (0, or -errno with the
 * reason in err). vals[0] the level's values before the update, vals[1] after.
 */
struct ctr_level {
	const char *name; /* "the host cgroup", "the vCPU pinning" */
	int (*set)(void *opaque, const void *values, char *err, size_t errlen);
	void *opaque;
	const void *vals[2];
};

/*
 * Every level set to vals[1], in order. When one refuses, it and each before it are set back
 * to vals[0], in reverse order (the refused one too: it may have written part), so the levels
 * never disagree. 0, or the refusal's -errno with err "LEVEL refused: WHY", and when a level
 * could not be set back "; setting LEVEL back failed too: WHY".
 */
int ctr_levels_set(const struct ctr_level *lv, unsigned int n, char *err, size_t errlen);
/* Levels 0..n-1 set back to vals[0], in reverse: 0, or the first -errno with err as above. */
int ctr_levels_undo(const struct ctr_level *lv, unsigned int n, char *err, size_t errlen);

#endif
