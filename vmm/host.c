/* host: hull's place on the host — its CPUs (vCPUs pinned, every other thread confined), its cgroup. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container/cgroup.h"
#include "container/limits.h"
#include "container/oci.h"
#include "lib/cpuset.h"
#include "lib/file.h"
#include "lib/log.h"
#include "virtio/balloon/balloon.h"
#include "virtio/mem/mem.h"
#include "vmm/vm.h"

#define CHILDREN_MAX 4096 /* bytes of one thread's /proc/.../children list */

/* --- the first pass: the CPUs and the cgroup, before anything is started ---------------------- */

struct vm_host_cg {
	struct ctr_cg_env env;
	struct ctr_cgroup cg;
	/* a standalone VM's limits as last written, in an update's terms (memory: the guest's) */
	struct ctr_resources cur;
};

/*
 * Confine the calling thread, the one that starts every other (passt in the
 * first pass, the share workers, the vCPU threads): they inherit it.
 */
static int confine_self(const char *list)
{
	char allowed_list[CPUSET_LIST_MAX];
	cpu_set_t set, allowed;
	int cpu, ret;

	if (cpuset_parse(list, &set))
		return -EINVAL; /* config_validate() said why */
	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0) {
		ret = -errno;
		log_msg("cpu-affinity %s: sched_getaffinity: %s", list, strerror(errno));
		return ret;
	}
	cpu = cpuset_first_outside(&set, &allowed);
	if (cpu >= 0) {
		cpuset_format(&allowed, allowed_list, sizeof(allowed_list));
		log_msg("cpu-affinity %s: CPU %d is not one hull may run on (%s)", list, cpu,
			allowed_list);
		return -EINVAL;
	}
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		ret = -errno;
		log_msg("cpu-affinity %s: sched_setaffinity: %s", list, strerror(errno));
		return ret;
	}
	return 0;
}

/*
 * The VM's host memory: its RAM, all of its hotplug region (--max-memory: `hull ctl PATH memory`
 * may have it all plugged, and the limit is written once), plus hull's overhead
 * (container/limits.h's formula for a VM whose vCPUs are all online).
 */
uint64_t vm_host_mem(const struct vm_config *cfg)
{
	uint64_t region = config_hotplug_size(cfg);
	unsigned int made = cfg->max_cpus > cfg->cpus ? cfg->max_cpus : cfg->cpus;
	struct ctr_shape s = { .vcpus = cfg->cpus, .max_vcpus = made, .boot_mem = cfg->mem,
			       .region = region, .plugged = region };

	return cfg->mem + region + ctr_limits_overhead(&s, config_devices_mem(cfg));
}

/* Make (or join) the cgroup, write its limits and move hull, every thread of it, in. */
static int place(const struct vm_config *cfg, struct vm_prep *p)
{
	struct ctr_resources own = { .mem_max = vm_host_mem(cfg), .has_mem_max = true,
				     .cpuset_cpus = cfg->cpu_affinity };
	const struct ctr_resources *r = cfg->cgroup_limits ? cfg->cgroup_limits : &own;
	struct vm_host_cg *h = calloc(1, sizeof(*h));
	char err[512], err2[512];
	int ret;

	if (!h)
		return -ENOMEM;
	ret = ctr_cg_env_load(&h->env, err, sizeof(err));
	if (ret)
		goto err_log;
	ret = ctr_cgroup_open(&h->env, cfg->cgroup, cfg->cgroup_systemd, &h->cg, err, sizeof(err));
	if (ret) {
		log_msg("%s", err);
		goto err_env;
	}
	ret = ctr_cgroup_create(&h->cg, err, sizeof(err));
	if (ret) {
		log_msg("%s", err);
		goto err_close;
	}
	ret = ctr_cgroup_set(&h->cg, r, err, sizeof(err));
	if (ret) {
		log_msg("%s", err);
		goto err_remove;
	}
	ret = ctr_cgroup_enter(&h->cg, getpid(), err, sizeof(err));
	if (ret) {
		log_msg("%s", err);
		goto err_leave;
	}
	if (!cfg->cgroup_limits) {
		h->cur = (struct ctr_resources){ .mem_max = cfg->mem, .has_mem_max = true };
		if (cfg->cpu_affinity && !(h->cur.cpuset_cpus = strdup(cfg->cpu_affinity))) {
			ret = -ENOMEM;
			goto err_leave;
		}
	}
	if (r->has_mem_max)
		log_debug("cgroup %s: hull in %s, memory.max %llu", cfg->cgroup, h->cg.h[0].dir,
			  (unsigned long long)r->mem_max);
	else
		log_debug("cgroup %s: hull in %s, no memory.max", cfg->cgroup, h->cg.h[0].dir);
	p->cgroup = h;
	return 0;

err_leave:
	/* v1: hull may be in some of the hierarchies already. */
	if (ctr_cgroup_leave(&h->cg, getpid(), err2, sizeof(err2)))
		log_msg("%s", err2);
err_remove:
	/* One hull made goes again. */
	if (h->cg.made && ctr_cgroup_remove(&h->cg, err2, sizeof(err2)))
		log_msg("%s", err2);
err_close:
	ctr_cgroup_close(&h->cg);
err_env:
	ctr_cg_env_free(&h->env);
	free(h);
	return ret;
err_log:
	log_msg("%s", err);
	free(h);
	return ret;
}

int vm_host_prepare(const struct vm_config *cfg, struct vm_prep *p)
{
	int ret = 0;

	if (sched_getaffinity(0, sizeof(p->host_cpus), &p->host_cpus) < 0)
		CPU_ZERO(&p->host_cpus); /* an update's cpuset is then refused */

	if (cfg->cpu_affinity)
		ret = confine_self(cfg->cpu_affinity);
	if (!ret && cfg->cgroup)
		ret = place(cfg, p);
	return ret;
}

void vm_host_release(struct vm_prep *p)
{
	struct vm_host_cg *h = p->cgroup;
	char err[512];

	if (!h)
		return;
	/* One hull made is removed, hull first moved back to where it was. */
	if (h->cg.made && (ctr_cgroup_leave(&h->cg, getpid(), err, sizeof(err)) ||
			   ctr_cgroup_remove(&h->cg, err, sizeof(err))))
		log_msg("%s", err);
	ctr_cgroup_close(&h->cg);
	ctr_cg_env_free(&h->env);
	ctr_resources_free(&h->cur);
	free(h);
	p->cgroup = NULL;
}

/* --- pinning, at start and at any time after ------------------------------------------------ */

int vm_pin_vcpu(struct vm *vm, struct vcpu *vcpu)
{
	unsigned int n = cpuset_count(&vm->affinity);
	cpu_set_t one;
	int cpu, ret;

	if (!vm->pinned || !n)
		return 0;
	cpu = cpuset_nth(&vm->affinity, vcpu->index % n);
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (!sched_setaffinity(vcpu->tid, sizeof(one), &one))
		return 0;
	ret = -errno;
	log_msg("vcpu %u: pinning it to CPU %d: %s", vcpu->index, cpu, strerror(-ret));
	return ret;
}

static bool is_vcpu(const struct vm *vm, pid_t tid)
{
	unsigned int i;

	for (i = 0; vm->vcpus && i < vm->ncpus; i++)
		if (vm->vcpus[i].tid == tid)
			return true;
	return false;
}

/*
 * One thread confined to set. A thread that is gone meanwhile is fine; so is
 * one the kernel keeps where it is (EINVAL: io_uring's workers, which follow
 * their ring, not sched_setaffinity).
 */
static int confine(pid_t tid, const cpu_set_t *set)
{
	int ret;

	if (!sched_setaffinity(tid, sizeof(*set), set) || errno == ESRCH)
		return 0;
	ret = -errno;
	if (ret == -EINVAL) {
		log_debug("thread %d: keeps its CPUs (%s)", (int)tid, strerror(-ret));
		return 0;
	}
	log_msg("thread %d: confining it to hull's CPUs: %s", (int)tid, strerror(-ret));
	return ret;
}

static int confine_children(const char *task, const cpu_set_t *set);

/*
 * Every thread of process dir ("/proc/self", "/proc/PID") but the vCPUs, and
 * with children the processes each thread started (passt), their threads too.
 */
static int confine_process(const struct vm *vm, const char *proc, const cpu_set_t *set,
			   bool children)
{
	char path[64];
	struct dirent *e;
	int ret = 0, r;
	long tid;
	DIR *d;

	snprintf(path, sizeof(path), "%s/task", proc);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -errno; /* a child that is gone */
	while ((e = readdir(d))) {
		tid = strtol(e->d_name, NULL, 10);
		if (tid <= 0 || (vm && is_vcpu(vm, (pid_t)tid)))
			continue;
		r = confine((pid_t)tid, set);
		if (!r && children) {
			snprintf(path, sizeof(path), "%s/task/%ld", proc, tid);
			r = confine_children(path, set);
		}
		if (r && !ret)
			ret = r;
	}
	closedir(d);
	return ret;
}

static int confine_children(const char *task, const cpu_set_t *set)
{
	char path[96], proc[32], *list, *p, *end;
	size_t len;
	long pid;
	int ret, r;

	snprintf(path, sizeof(path), "%s/children", task);
	ret = file_read_text(path, CHILDREN_MAX, &list, &len);
	if (ret)
		return ret == -ENOENT || ret == -ESRCH ? 0 : ret; /* no CONFIG_PROC_CHILDREN, gone */
	for (p = list, ret = 0;; p = end) {
		pid = strtol(p, &end, 10);
		if (end == p)
			break;
		snprintf(proc, sizeof(proc), "/proc/%ld", pid);
		r = confine_process(NULL, proc, set, false);
		if (r && !ret)
			ret = r;
	}
	free(list);
	return ret;
}

int vm_set_affinity(struct vm *vm, const cpu_set_t *set, bool pin)
{
	unsigned int i;
	int ret = 0, r;

	if (!cpuset_count(set))
		return -EINVAL;
	/* Under the lock a vCPU thread that is starting pins itself by the new set, or is here. */
	pthread_mutex_lock(&vm->vcpu_lock);
	vm->affinity = *set;
	vm->pinned = pin;
	for (i = 0; vm->vcpus && i < vm->ncpus; i++) {
		if (!vm->vcpus[i].started || !vm->vcpus[i].tid)
			continue;
		r = pin ? vm_pin_vcpu(vm, &vm->vcpus[i]) : confine(vm->vcpus[i].tid, set);
		if (r && r != -ESRCH && !ret)
			ret = r;
	}
	r = confine_process(vm, "/proc/self", set, true);
	pthread_mutex_unlock(&vm->vcpu_lock);
	return ret ?: r;
}

int vm_host_cgroup_set(struct vm *vm, const struct ctr_resources *r, char *err, size_t errlen)
{
	struct vm_host_cg *h = vm->prep ? vm->prep->cgroup : NULL;

	if (!h) {
		snprintf(err, errlen, "hull has no host cgroup (--cgroup, linux.cgroupsPath)");
		return -ENOENT;
	}
	return ctr_cgroup_set(&h->cg, r, err, errlen);
}

bool vm_host_has_cgroup(const struct vm *vm)
{
	return vm->prep && vm->prep->cgroup;
}

/* --- a standalone VM's update --------------------------------------------------------------- */

int vm_level_cgroup(void *vm, const void *values, char *err, size_t errlen)
{
	return vm_host_cgroup_set(vm, values, err, errlen);
}

int vm_level_pin(void *vm, const void *values, char *err, size_t errlen)
{
	const struct ctr_pin *p = values;
	int ret = vm_set_affinity(vm, &p->set, p->pin);

	if (ret)
		snprintf(err, errlen, "%s", strerror(-ret));
	return ret;
}

int vm_level_plug(void *vm, const void *values, char *err, size_t errlen)
{
	struct virtio_dev *d = vm_hotplug_dev(vm);
	uint64_t size = *(const uint64_t *)values;
	int ret = d ? vmem_request(d, size) : (size ? -ENODEV : 0);

	if (ret)
		snprintf(err, errlen, "%" PRIu64 " MiB plugged: %s", size >> 20, strerror(-ret));
	return ret;
}

uint64_t vm_plugged_now(const struct vm *vm)
{
	struct virtio_dev *d = vm_hotplug_dev(vm);
	struct vmem_status st;

	return d && !vmem_status(d, &st) ? st.plugged : 0;
}

int vm_level_balloon(void *vm, const void *values, char *err, size_t errlen)
{
	struct vballoon *b = vm_balloon(vm);
	uint64_t size = *(const uint64_t *)values;
	int ret = b ? vballoon_set_target(b, size) : (size ? -ENODEV : 0);

	if (ret)
		snprintf(err, errlen, "a target of %" PRIu64 " MiB: %s", size >> 20,
			 strerror(-ret));
	return ret;
}

/* --- an update's unplug and balloon, polled -------------------------------------------------- */

#define MIB(v) ((v) >> 20)

/*
 * The unplug is over (done, or blocks busy) and the balloon holds its planned target: the
 * balloon takes the busy blocks' size (ctr_limits_busy_balloon). True when it has more to hold
 * than it had: the poll goes on for it.
 */
static bool fall_back(struct vm *vm, const struct vmem_status *st, struct vballoon *b,
		      const struct vballoon_info *bi)
{
	struct vm_settle *s = &vm->settle;
	uint64_t want = ctr_limits_busy_balloon(s->planned, vm->cfg->mem, st->plugged,
						st->requested);

	s->fell = true;
	if (want == s->planned + s->busy)
		return false;
	if (vballoon_set_target(b, want)) {
		log_msg("update: memory: the balloon refused a target of %" PRIu64 " MiB",
			MIB(want));
		return false;
	}
	s->busy = want - s->planned;
	if (st->plugged > st->requested)
		log_msg("update: memory: %" PRIu64 " MiB of %" PRIu64 " asked unplugged, %" PRIu64
			" MiB busy in the guest (still plugged): the balloon inflated to %" PRIu64
			" MiB instead", MIB(s->from - st->plugged), MIB(s->from - st->requested),
			MIB(st->plugged - st->requested), MIB(want));
	else
		log_msg("update: memory: the busy blocks were unplugged: the balloon's target back "
			"to %" PRIu64 " MiB", MIB(want));
	return want > bi->actual;
}

static void on_settle(struct loop *l, struct loop_timer *t)
{
	struct vm *vm = t->opaque;
	struct vm_settle *s = &vm->settle;
	struct virtio_dev *d = vm_hotplug_dev(vm);
	struct vballoon *b = s->own_balloon ? vm_balloon(vm) : NULL;
	struct vmem_status st = { 0 };
	struct vballoon_info bi = { 0 };
	bool unplugging, filling;
	uint64_t target;
	char err[256];

	(void)l;
	if (d && vmem_status(d, &st)) {
		s->polls = 0;
		return;
	}
	if (b)
		vballoon_query(b, &bi);
	unplugging = st.plugged > st.requested;
	filling = b && bi.actual < s->planned + s->busy;
	if (((unplugging && !s->fell) || filling) && --s->polls) {
		loop_timer_arm(&vm->loop, &s->timer, VM_SETTLE_MS * 1000000ull, 0);
		return;
	}
	if (b && !s->fell && !filling && fall_back(vm, &st, b, &bi)) {
		s->polls = VM_SETTLE_POLLS;
		loop_timer_arm(&vm->loop, &s->timer, VM_SETTLE_MS * 1000000ull, 0);
		return;
	}
	s->polls = 0;
	if (filling) {
		log_msg("update: memory: the balloon holds %" PRIu64 " MiB of the %" PRIu64
			" asked (the host cgroup's memory.max left)", MIB(bi.actual),
			MIB(s->planned + s->busy));
		return;
	}
	if (unplugging && !b) {
		log_msg("update: memory: %" PRIu64 " MiB unplugged of %" PRIu64 " asked, %" PRIu64
			" MiB busy in the guest (still plugged; the host cgroup's memory.max left)",
			MIB(s->from - st.plugged), MIB(s->from - st.requested),
			MIB(st.plugged - st.requested));
		return;
	}
	if (!b || s->from != st.plugged)
		log_msg("update: memory: %" PRIu64 " MiB unplugged, %" PRIu64 " MiB plugged",
			MIB(s->from - st.plugged), MIB(st.plugged));
	if (b && s->planned + s->busy)
		log_msg("update: memory: the balloon holds %" PRIu64 " MiB", MIB(bi.actual));
	target = s->target == UINT64_MAX ? s->target : s->target + s->busy / CTR_PT_DIV;
	if (vm_host_has_cgroup(vm) &&
	    vm_level_cgroup(vm, &(struct ctr_resources){ .has_mem_max = true, .mem_max = target },
			    err, sizeof(err)))
		log_msg("update: the host cgroup's memory.max: %s", err);
}

void vm_settle_begin(struct vm *vm, uint64_t held, uint64_t target, bool own_balloon,
		     uint64_t planned)
{
	struct vm_settle *s = &vm->settle;

	loop_timer_cancel(&vm->loop, &s->timer);
	loop_timer_init(&s->timer, on_settle, vm);
	s->from = vm_plugged_now(vm);
	s->held = held;
	s->target = target;
	s->own_balloon = own_balloon;
	s->planned = planned;
	s->fell = false;
	s->polls = VM_SETTLE_POLLS;
	loop_timer_arm(&vm->loop, &s->timer, VM_SETTLE_MS * 1000000ull, 0);
}

bool vm_settling(const struct vm *vm, uint64_t *held)
{
	*held = vm->settle.held;
	return vm->settle.polls != 0;
}

/* --- a standalone VM's update, continued ------------------------------------------------------ */

/*
 * A standalone VM's memory.max for a limit below its RAM: the limit (not the whole RAM) plus
 * the overhead. At or above the RAM it is the guest's size, RAM plus plugged, as computed.
 */
static uint64_t own_mem_max(uint64_t host_max, const struct ctr_resources *r, uint64_t ram)
{
	if (r->has_mem_max && r->mem_max < ram && host_max != UINT64_MAX)
		return host_max - ram + r->mem_max;
	return host_max;
}

/*
 * A standalone VM's cgroup and the memory it may hold: its memory.max as own_mem_max says,
 * held where it was while an unplug is under way (the guest still has the blocks), and
 * pids.max too (a container's is the guest's: the plan has it there).
 */
static void own_limits(struct ctr_update *u, const struct ctr_resources *cur, uint64_t ram)
{
	unsigned int i;

	for (i = 0; i < 2; i++) {
		u->host[i].has_pids_max = u->guest[i].has_pids_max;
		u->host[i].pids_max = u->guest[i].pids_max;
	}
	u->host[0].mem_max = own_mem_max(u->host[0].mem_max, cur, ram);
	if (u->plug[1] >= u->plug[0]) {
		u->host[1].mem_max = own_mem_max(u->host[1].mem_max, &u->want, ram);
		return;
	}
	u->host_mem_max = own_mem_max(u->host_mem_max, &u->want, ram);
	u->host[1].mem_max = !u->host[0].has_mem_max ? UINT64_MAX
			     : u->host[0].mem_max > u->host_mem_max ? u->host[0].mem_max
								     : u->host_mem_max;
}

int vm_host_update(struct vm *vm, const char *json, char *err, size_t errlen)
{
	struct vm_host_cg *h = vm->prep ? vm->prep->cgroup : NULL;
	struct virtio_dev *hp = vm_hotplug_dev(vm);
	struct ctr_vm_now now = { .host_cpus = vm->prep ? vm->prep->host_cpus : vm->affinity,
				  .vcpus = vm->ncpus, .max_vcpus = vm->ncpus, .mem = vm->cfg->mem,
				  .devices_mem = config_devices_mem(vm->cfg) };
	struct ctr_resources upd, cur = { 0 };
	char list[CPUSET_LIST_MAX], why[512];
	struct vmem_status st;
	struct ctr_level lv[3];
	struct ctr_update u;
	unsigned int n = 0;
	uint64_t held;
	bool pinned;
	int ret;

	ret = ctr_oci_resources(json, strlen(json), &upd, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "update: linux.resources: %s", why);
		return ret;
	}
	if (!h && (upd.has_cpu_quota || upd.has_cpu_period || upd.has_cpu_weight ||
		   (upd.has_mem_max && !hp) || upd.has_swap_max || upd.has_mem_low ||
		   upd.has_pids_max || upd.cpuset_mems)) {
		snprintf(err, errlen, "update: cpu quota, period and shares, memory, cpu.mems and "
			 "pids limits are the host cgroup's: this VM has none (hull vm --cgroup)%s",
			 hp ? "" : "; a memory limit resizes a VM with --max-memory");
		ret = -EINVAL;
		goto out;
	}
	if (hp && !vmem_status(hp, &st)) {
		now.region = st.region;
		now.plugged = st.requested;
	}
	ret = h ? ctr_resources_copy(&cur, &h->cur) : 0;
	pthread_mutex_lock(&vm->vcpu_lock);
	pinned = vm->pinned;
	if (pinned)
		cpuset_format(&vm->affinity, list, sizeof(list));
	pthread_mutex_unlock(&vm->vcpu_lock);
	free(cur.cpuset_cpus);
	cur.cpuset_cpus = NULL;
	if (!ret && pinned && !(cur.cpuset_cpus = strdup(list)))
		ret = -ENOMEM;
	if (ret) {
		snprintf(err, errlen, "update: %s", strerror(-ret));
		goto out;
	}
	ret = ctr_limits_update(&cur, &upd, &now, &u, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "update: %s", why);
		goto out;
	}
	own_limits(&u, &cur, now.mem);
	if (vm_settling(vm, &held)) {
		/* An earlier shrink is still being unplugged: its poll lowers memory.max. */
		if (u.plug[0] != u.plug[1] || u.want.has_mem_max != cur.has_mem_max ||
		    u.want.mem_max != cur.mem_max) {
			snprintf(err, errlen, "update: memory: an earlier shrink is still being "
				 "unplugged (for up to %d s): try again",
				 VM_SETTLE_MS * VM_SETTLE_POLLS / 1000);
			ret = -EBUSY;
			goto done;
		}
		u.host[0].mem_max = u.host[1].mem_max = held;
	}
	if (h)
		lv[n++] = (struct ctr_level){ "the host cgroup", vm_level_cgroup, vm,
					      { &u.host[0], &u.host[1] } };
	if (u.plug[0] != u.plug[1])
		lv[n++] = (struct ctr_level){ "the hotplugged memory", vm_level_plug, vm,
					      { &u.plug[0], &u.plug[1] } };
	if (u.pinned)
		lv[n++] = (struct ctr_level){ "the vCPU pinning", vm_level_pin, vm,
					      { &u.pin[0], &u.pin[1] } };
	ret = ctr_levels_set(lv, n, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "update: %s", why);
		goto done;
	}
	if (u.plug[1] != u.plug[0])
		log_msg("update: memory: %" PRIu64 " MiB %s (%" PRIu64 " MiB asked to be plugged "
			"in all)", (u.plug[1] > u.plug[0] ? u.plug[1] - u.plug[0]
							  : u.plug[0] - u.plug[1]) >> 20,
			u.plug[1] > u.plug[0] ? "more to plug" : "to unplug", u.plug[1] >> 20);
	if (u.plug[1] < u.plug[0])
		vm_settle_begin(vm, u.host[1].mem_max, u.host_mem_max, false, 0);
	if (h) {
		ctr_resources_free(&h->cur);
		h->cur = u.want;
		u.want = (struct ctr_resources){ 0 };
	}
done:
	ctr_update_free(&u);
out:
	ctr_resources_free(&cur);
	ctr_resources_free(&upd);
	return ret;
}
