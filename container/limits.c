/* limits: OCI linux.resources mapped to every level — VM shape, guest cgroup, host cgroup, pinning. */
#include "container/limits.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cpuset.h"
#include "vmm/config.h"

#define MEMMAP_ALIGN (2ull << 20)

static uint64_t round_up(uint64_t v, uint64_t to)
{
	return v + (to - v % to) % to;
}

/* A cpuset from the resources: 0 with *set and *n (0: none given), or -EINVAL. */
static int resource_cpus(const struct ctr_resources *r, cpu_set_t *set, unsigned int *n,
			 char *err, size_t errlen)
{
	*n = 0;
	if (!r->cpuset_cpus)
		return 0;
	if (cpuset_parse(r->cpuset_cpus, set)) {
		snprintf(err, errlen, "cpu.cpus %.64s: not a CPU list (like 0-3,6, CPUs below %d)",
			 r->cpuset_cpus, CPUSET_MAX);
		return -EINVAL;
	}
	*n = cpuset_count(set);
	return 0;
}

static int shape_cpus(const struct ctr_resources *r, const struct ctr_shape_in *in,
		      const struct ctr_shape *fixed, struct ctr_shape *out, char *err,
		      size_t errlen)
{
	unsigned int host = cpuset_count(&in->host_cpus), nset, want;
	uint64_t period, q;
	cpu_set_t set;
	int ret;

	ret = resource_cpus(r, &set, &nset, err, errlen);
	if (ret)
		return ret;
	if (fixed) {
		out->max_vcpus = fixed->max_vcpus;
	} else {
		out->max_vcpus = in->max_cpus ? in->max_cpus : host;
		if (out->max_vcpus > CONFIG_MAX_CPUS)
			out->max_vcpus = CONFIG_MAX_CPUS;
		if (!out->max_vcpus)
			out->max_vcpus = 1;
	}
	if (r->has_cpu_quota) {
		period = r->has_cpu_period && r->cpu_period ? r->cpu_period : CTR_CPU_PERIOD;
		q = r->cpu_quota / period + (r->cpu_quota % period != 0);
		want = q > UINT32_MAX ? UINT32_MAX : (unsigned int)q;
	} else if (nset) {
		want = nset;
	} else {
		want = in->cpus;
	}
	if (host && want > host)
		want = host;
	if (want > out->max_vcpus)
		want = out->max_vcpus;
	out->vcpus = want ? want : 1;
	return 0;
}

/* The region a VM with limit-sized plugged memory gets when it is made. */
static int make_region(const struct ctr_shape_in *in, uint64_t plugged, uint64_t *region,
		       char *err, size_t errlen)
{
	uint64_t r, room;

	if (in->max_mem) {
		if (in->max_mem < CTR_GUEST_BASE + plugged) {
			snprintf(err, errlen,
				 "max memory %" PRIu64 " bytes: below the memory limit (%" PRIu64
				 " bytes in %llu MiB blocks) and the guest's own %llu MiB",
				 in->max_mem, plugged, CTR_MEM_BLOCK >> 20, CTR_GUEST_BASE >> 20);
			return -EINVAL;
		}
		r = round_up(in->max_mem - CTR_GUEST_BASE, CTR_MEM_BLOCK);
	} else {
		r = plugged > UINT64_MAX / CTR_MEM_GROWTH ? UINT64_MAX : plugged * CTR_MEM_GROWTH;
		/* Room to grow is address space; the host's RAM is what it could ever fill. */
		room = in->host_mem > CTR_GUEST_BASE ? in->host_mem - CTR_GUEST_BASE : 0;
		room -= room % CTR_MEM_BLOCK;
		if (r > room)
			r = room;
	}
	*region = r > plugged ? r : plugged;
	return 0;
}

static int shape_mem(const struct ctr_resources *r, const struct ctr_shape_in *in,
		     const struct ctr_shape *fixed, struct ctr_shape *out, char *err,
		     size_t errlen)
{
	uint64_t plugged;
	int ret;

	if (r->has_mem_max && r->mem_max > CONFIG_MAX_MEM) {
		snprintf(err, errlen, "memory limit %" PRIu64 " bytes: above hull's maximum of %lluG",
			 r->mem_max, CONFIG_MAX_MEM >> 30);
		return -EINVAL;
	}
	plugged = r->has_mem_max ? round_up(r->mem_max, CTR_MEM_BLOCK) : 0;
	if (fixed) {
		out->boot_mem = fixed->boot_mem;
		out->region = fixed->region;
		if (!r->has_mem_max) {
			out->plugged = fixed->plugged;
			return 0;
		}
		if (plugged > fixed->region) {
			snprintf(err, errlen,
				 "memory limit %" PRIu64 " bytes: more than this VM can plug (%" PRIu64
				 " bytes above its boot RAM; a larger maximum is set when it starts)",
				 r->mem_max, fixed->region);
			return -EINVAL;
		}
		out->plugged = plugged;
		return 0;
	}
	if (!r->has_mem_max) {
		out->boot_mem = in->mem;
		out->region = in->max_mem > in->mem ? round_up(in->max_mem - in->mem, CTR_MEM_BLOCK)
						    : 0;
		out->plugged = 0;
		return 0;
	}
	ret = make_region(in, plugged, &out->region, err, errlen);
	if (ret)
		return ret;
	out->plugged = plugged;
	out->boot_mem = CTR_GUEST_BASE + round_up(out->region / CTR_MEMMAP_DIV, MEMMAP_ALIGN);
	if (out->boot_mem + out->region > CONFIG_MAX_MEM) {
		snprintf(err, errlen,
			 "memory limit %" PRIu64 " bytes: the VM would need %" PRIu64
			 " bytes of guest memory, above hull's maximum of %lluG",
			 r->mem_max, out->boot_mem + out->region, CONFIG_MAX_MEM >> 30);
		return -EINVAL;
	}
	return 0;
}

int ctr_limits_shape(const struct ctr_resources *r, const struct ctr_shape_in *in,
		     const struct ctr_shape *fixed, struct ctr_shape *out, char *err,
		     size_t errlen)
{
	struct ctr_shape s = { 0 };
	int ret;

	ret = shape_cpus(r, in, fixed, &s, err, errlen);
	if (!ret)
		ret = shape_mem(r, in, fixed, &s, err, errlen);
	if (!ret)
		*out = s;
	return ret;
}

/* *dst replaced by a copy of s (or left when s is NULL). */
static int replace(char **dst, const char *s)
{
	char *copy;

	if (!s)
		return 0;
	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	free(*dst);
	*dst = copy;
	return 0;
}

int ctr_limits_guest(const struct ctr_resources *r, const struct ctr_shape *s,
		     struct ctr_resources *g)
{
	char cpus[24];
	int ret;

	ret = ctr_resources_copy(g, r);
	if (ret)
		return ret;
	if (s->vcpus > 1)
		snprintf(cpus, sizeof(cpus), "0-%u", s->vcpus - 1);
	else
		snprintf(cpus, sizeof(cpus), "0");
	ret = replace(&g->cpuset_cpus, r->cpuset_cpus ? cpus : NULL);
	if (!ret)
		ret = replace(&g->cpuset_mems, r->cpuset_mems ? "0" : NULL);
	if (ret)
		ctr_resources_free(g);
	return ret;
}

uint64_t ctr_limits_overhead(const struct ctr_shape *s, uint64_t devices_mem)
{
	return CTR_HULL_MEM + (uint64_t)s->max_vcpus * CTR_VCPU_MEM + devices_mem +
	       (s->boot_mem + s->plugged) / CTR_PT_DIV + (s->boot_mem + s->region) / CTR_PT_DIV;
}

int ctr_limits_host(const struct ctr_resources *r, const struct ctr_shape *s,
		    uint64_t devices_mem, struct ctr_resources *h)
{
	uint64_t over = ctr_limits_overhead(s, devices_mem);
	int ret;

	ret = ctr_resources_copy(h, r);
	if (ret)
		return ret;
	if (r->has_mem_max)
		h->mem_max = s->boot_mem + s->plugged + over;
	if (r->has_mem_low)
		h->mem_low = r->mem_low + s->boot_mem + over;
	h->has_pids_max = false;
	h->pids_max = 0;
	return 0;
}

int ctr_limits_pinning(const struct ctr_resources *r, const struct ctr_shape_in *in,
		       cpu_set_t *set, bool *pinned, char *err, size_t errlen)
{
	char host[CPUSET_LIST_MAX];
	unsigned int n;
	cpu_set_t out;
	int ret, cpu;

	*pinned = false;
	ret = resource_cpus(r, &out, &n, err, errlen);
	if (ret || !n)
		return ret;
	cpu = cpuset_first_outside(&out, &in->host_cpus);
	if (cpu >= 0) {
		cpuset_format(&in->host_cpus, host, sizeof(host));
		snprintf(err, errlen, "cpu.cpus %.64s: CPU %d is not one hull may run on (%.64s)",
			 r->cpuset_cpus, cpu, host);
		return -EINVAL;
	}
	*set = out;
	*pinned = true;
	return 0;
}

/*
 * The hotplug region of a VM booted with mem bytes of RAM: up to in->max_mem (--max-memory),
 * else with a memory limit CTR_MEM_GROWTH times the RAM in all, at most the host's RAM and
 * CONFIG_MAX_MEM (the region is address space until plugged: KVM's cost per registered byte
 * is its large-page table, 4 bytes per 2 MiB, with the TDP MMU); none without a limit.
 */
static int run_region(const struct ctr_resources *r, const struct ctr_shape_in *in, uint64_t mem,
		      uint64_t *region, char *err, size_t errlen)
{
	uint64_t total, room;

	*region = 0;
	if (in->max_mem) {
		if (in->max_mem <= mem) {
			snprintf(err, errlen,
				 "max memory %" PRIu64 " bytes: not above the VM's RAM of %" PRIu64
				 " bytes", in->max_mem, mem);
			return -EINVAL;
		}
		*region = round_up(in->max_mem - mem, CTR_MEM_BLOCK);
		return 0;
	}
	if (!r->has_mem_max)
		return 0;
	total = mem > CONFIG_MAX_MEM / CTR_MEM_GROWTH ? CONFIG_MAX_MEM : mem * CTR_MEM_GROWTH;
	room = in->host_mem - in->host_mem % CTR_MEM_BLOCK;
	if (total > room)
		total = room;
	*region = total > mem ? (total - mem) / CTR_MEM_BLOCK * CTR_MEM_BLOCK : 0;
	return 0;
}

int ctr_limits_run(const struct ctr_resources *r, const struct ctr_shape_in *in, bool cpus_set,
		   bool mem_set, uint64_t devices_mem, struct ctr_run_limits *out, char *err,
		   size_t errlen)
{
	struct ctr_shape_in sin;
	struct ctr_shape s, hs;
	char list[CPUSET_LIST_MAX];
	uint64_t region;
	cpu_set_t set;
	bool pinned;
	int ret;

	*out = (struct ctr_run_limits){ 0 };
	/* The shape's vCPUs and plugged memory; the region is run_region()'s. */
	sin = *in;
	sin.max_mem = 0;
	ret = ctr_limits_shape(r, &sin, NULL, &s, err, errlen);
	if (!ret)
		ret = ctr_limits_pinning(r, in, &set, &pinned, err, errlen);
	if (ret)
		return ret;
	out->cpus = cpus_set ? in->cpus : s.vcpus;
	out->max_cpus = in->max_cpus > out->cpus ? in->max_cpus : out->cpus;
	out->mem = mem_set || !r->has_mem_max ? in->mem : s.plugged;
	ret = run_region(r, in, out->mem, &region, err, errlen);
	if (ret)
		return ret;
	out->max_mem = region ? out->mem + region : 0;
	s.vcpus = out->cpus;
	/*
	 * vCPUs up to --max-cpus made at boot; the guest's RAM stands for plugged memory, its
	 * hotplug region counts for KVM's tables (ctr_limits_overhead).
	 */
	hs = (struct ctr_shape){ .vcpus = out->cpus, .max_vcpus = out->max_cpus,
				 .region = out->mem + region, .plugged = out->mem };
	if (pinned) {
		ret = cpuset_format(&set, list, sizeof(list));
		if (!ret && !(out->affinity = strdup(list)))
			ret = -ENOMEM;
	}
	if (!ret)
		ret = ctr_limits_host(r, &hs, devices_mem, &out->host);
	if (!ret)
		ret = ctr_limits_guest(r, &s, &out->guest);
	if (ret)
		ctr_run_limits_free(out);
	return ret;
}

void ctr_run_limits_free(struct ctr_run_limits *l)
{
	free(l->affinity);
	ctr_resources_free(&l->host);
	ctr_resources_free(&l->guest);
	*l = (struct ctr_run_limits){ 0 };
}

/* --- live update -------------------------------------------------------------------------- */

/* cur with each field upd sets replaced. */
static int merge(const struct ctr_resources *cur, const struct ctr_resources *upd,
		 struct ctr_resources *out)
{
	int ret = ctr_resources_copy(out, cur);

#define TAKE(f)                                     \
	do {                                        \
		if (upd->has_##f) {                 \
			out->f = upd->f;            \
			out->has_##f = true;        \
		}                                   \
	} while (0)
	if (ret)
		return ret;
	TAKE(cpu_quota);
	TAKE(cpu_period);
	TAKE(cpu_weight);
	TAKE(mem_max);
	TAKE(swap_max);
	TAKE(mem_low);
	TAKE(pids_max);
#undef TAKE
	ret = replace(&out->cpuset_cpus, upd->cpuset_cpus);
	if (!ret)
		ret = replace(&out->cpuset_mems, upd->cpuset_mems);
	if (ret)
		ctr_resources_free(out);
	return ret;
}

/* a with each limit that b has and a lacks at its default (ctr_update's); cpus: all of hull's. */
static int fill(const struct ctr_resources *a, const struct ctr_resources *b, const char *cpus,
		struct ctr_resources *out)
{
	int ret = ctr_resources_copy(out, a);

#define DEF(f, v)                                       \
	do {                                            \
		if (b->has_##f && !out->has_##f) {      \
			out->f = (v);                   \
			out->has_##f = true;            \
		}                                       \
	} while (0)
	if (ret)
		return ret;
	DEF(cpu_quota, UINT64_MAX);
	DEF(cpu_period, CTR_CPU_PERIOD);
	DEF(cpu_weight, 100);
	DEF(mem_max, UINT64_MAX);
	DEF(swap_max, UINT64_MAX);
	DEF(mem_low, 0);
	DEF(pids_max, UINT64_MAX);
#undef DEF
	/* A cpuset's mems cannot be undone to "none" here: a side without them leaves them. */
	if (b->cpuset_cpus && !out->cpuset_cpus)
		ret = replace(&out->cpuset_cpus, cpus);
	if (ret)
		ctr_resources_free(out);
	return ret;
}

static int update_check(const struct ctr_resources *w, const struct ctr_vm_now *vm, char *err,
			size_t errlen)
{
	struct ctr_shape_in in = { .host_cpus = vm->host_cpus };
	cpu_set_t set;
	bool pinned;

	if (w->has_cpu_period && (w->cpu_period < CTR_PERIOD_MIN || w->cpu_period > CTR_PERIOD_MAX)) {
		snprintf(err, errlen, "cpu.period %" PRIu64 " us: outside the kernel's %llu to %llu",
			 w->cpu_period, CTR_PERIOD_MIN, CTR_PERIOD_MAX);
		return -EINVAL;
	}
	if (w->has_cpu_quota && w->cpu_quota != UINT64_MAX && w->cpu_quota < CTR_PERIOD_MIN) {
		snprintf(err, errlen, "cpu.quota %" PRIu64 " us: below the kernel's minimum of %llu",
			 w->cpu_quota, CTR_PERIOD_MIN);
		return -EINVAL;
	}
	if (ctr_limits_pinning(w, &in, &set, &pinned, err, errlen))
		return -EINVAL;
	if (w->cpuset_mems && cpuset_parse(w->cpuset_mems, &set)) {
		snprintf(err, errlen, "cpu.mems %.64s: not a list of memory nodes (like 0-1)",
			 w->cpuset_mems);
		return -EINVAL;
	}
	if (w->has_mem_max && w->mem_max != UINT64_MAX &&
	    (w->mem_max > vm->mem + vm->region ||
	     (w->mem_max > vm->mem && round_up(w->mem_max - vm->mem, CTR_MEM_BLOCK) > vm->region))) {
		snprintf(err, errlen,
			 "memory limit %" PRIu64 " bytes: above what the VM can reach, its RAM of %" PRIu64
			 " bytes and a hotplug region of %" PRIu64 " bytes (--max-memory when it starts)",
			 w->mem_max, vm->mem, vm->region);
		return -EINVAL;
	}
	if (w->has_mem_low && w->mem_low > vm->mem + vm->region) {
		snprintf(err, errlen,
			 "memory reservation %" PRIu64 " bytes: above the VM's RAM of %" PRIu64
			 " bytes and its hotplug region of %" PRIu64 " bytes", w->mem_low, vm->mem,
			 vm->region);
		return -EINVAL;
	}
	return 0;
}

/*
 * The vCPUs online after an update to w: as the VM's shape has them (ceil(quota / period), else
 * the cpuset's count, else as now; at most the CPUs hull may use and the vCPUs made).
 */
static unsigned int update_vcpus(const struct ctr_resources *w, const struct ctr_vm_now *vm)
{
	struct ctr_shape_in in = { .host_cpus = vm->host_cpus, .cpus = vm->vcpus };
	struct ctr_shape fixed = { .max_vcpus = vm->max_vcpus }, s = { 0 };
	struct ctr_resources r = *w;
	char err[8];

	if (r.has_cpu_quota && r.cpu_quota == UINT64_MAX)
		r.has_cpu_quota = false; /* no quota: no CPU count from it */
	if (shape_cpus(&r, &in, &fixed, &s, err, sizeof(err)))
		return vm->vcpus; /* update_check() parsed the cpuset */
	return s.vcpus;
}

/*
 * The region's bytes plugged for w: what of its memory limit is above boot RAM, in blocks, none
 * when it is not; as now without a limit.
 */
static uint64_t update_plug(const struct ctr_resources *w, const struct ctr_vm_now *vm)
{
	if (!w->has_mem_max || w->mem_max == UINT64_MAX)
		return vm->plugged;
	/* update_check(): within the region */
	return w->mem_max > vm->mem ? round_up(w->mem_max - vm->mem, CTR_MEM_BLOCK) : 0;
}

/*
 * The balloon's target for w: the RAM less the limit (in the balloon's pages, at least
 * CTR_GUEST_MIN left), 0 at or above the RAM, without a limit, or without a balloon.
 */
static uint64_t update_balloon(const struct ctr_resources *w, const struct ctr_vm_now *vm)
{
	uint64_t keep;

	if (!vm->balloon || !w->has_mem_max || w->mem_max == UINT64_MAX)
		return 0;
	keep = round_up(w->mem_max, CTR_BALLOON_PAGE);
	if (keep < CTR_GUEST_MIN)
		keep = CTR_GUEST_MIN; /* a limit below it the VM was made with: the guest has RAM */
	return keep < vm->mem ? vm->mem - keep : 0;
}

uint64_t ctr_limits_busy_balloon(uint64_t balloon, uint64_t ram, uint64_t plugged,
				 uint64_t requested)
{
	uint64_t most = ram + plugged > CTR_GUEST_MIN ? ram + plugged - CTR_GUEST_MIN : 0, want;

	if (plugged <= requested)
		return balloon;
	most -= most % CTR_BALLOON_PAGE;
	want = balloon + (plugged - requested);
	if (want > most)
		want = most > balloon ? most : balloon;
	return want;
}

/* One side of the host and guest levels and the pinning, from its full resources f. */
static int update_side(const struct ctr_resources *f, bool pin, const struct ctr_vm_now *vm,
		       unsigned int side, struct ctr_update *u)
{
	struct ctr_shape hs = { .vcpus = vm->vcpus, .max_vcpus = vm->max_vcpus,
				.region = vm->mem + vm->region, .plugged = vm->mem + u->plug[side] };
	struct ctr_shape gs = { .vcpus = u->vcpus[side], .max_vcpus = vm->max_vcpus };
	int ret;

	ret = ctr_limits_host(f, &hs, vm->devices_mem, &u->host[side]);
	if (ret)
		return ret;
	/* No limit stays none, no reservation none: ctr_limits_host adds the overhead to both. */
	if (f->has_mem_max && f->mem_max == UINT64_MAX)
		u->host[side].mem_max = UINT64_MAX;
	/* The balloon's pages are the host's again (update_balloon keeps the guest some RAM). */
	else if (f->has_mem_max)
		u->host[side].mem_max -= u->balloon[side];
	if (f->has_mem_low && !f->mem_low)
		u->host[side].mem_low = 0;
	ret = ctr_limits_guest(f, &gs, &u->guest[side]);
	if (ret)
		return ret;
	u->pin[side].pin = pin;
	CPU_ZERO(&u->pin[side].set);
	if (f->cpuset_cpus && cpuset_parse(f->cpuset_cpus, &u->pin[side].set))
		return -EINVAL; /* update_check() parsed both */
	return 0;
}

int ctr_limits_update(const struct ctr_resources *cur, const struct ctr_resources *upd,
		      const struct ctr_vm_now *vm, struct ctr_update *u, char *err, size_t errlen)
{
	struct ctr_resources full[2] = { 0 };
	char cpus[CPUSET_LIST_MAX];
	int ret;

	*u = (struct ctr_update){ 0 };
	if (errlen)
		err[0] = '\0';
	ret = merge(cur, upd, &u->want);
	if (ret) {
		snprintf(err, errlen, "%s", ret == -ENOMEM ? strerror(ENOMEM)
			 : "cpu.cpus or cpu.mems: not a list (digits, ',' and '-')");
		return ret;
	}
	ret = update_check(&u->want, vm, err, errlen);
	if (ret)
		goto fail;
	/* The floor the balloon keeps: a limit below it that the update sets is refused. */
	if (vm->balloon && upd->has_mem_max && upd->mem_max < CTR_GUEST_MIN &&
	    !(cur->has_mem_max && cur->mem_max == upd->mem_max)) {
		snprintf(err, errlen,
			 "memory limit %" PRIu64 " bytes: below the %llu MiB a container's VM "
			 "keeps for its kernel, hull-init and the container (the balloon takes the "
			 "rest of its RAM)", upd->mem_max, CTR_GUEST_MIN >> 20);
		ret = -EINVAL;
		goto fail;
	}
	ret = cpuset_format(&vm->host_cpus, cpus, sizeof(cpus));
	if (!ret)
		ret = fill(cur, &u->want, cpus, &full[0]);
	if (!ret)
		ret = fill(&u->want, cur, cpus, &full[1]);
	if (ret)
		goto fail;
	u->vcpus[0] = vm->vcpus;
	u->vcpus[1] = update_vcpus(&u->want, vm);
	u->plug[0] = vm->plugged;
	u->plug[1] = update_plug(&u->want, vm);
	u->balloon[0] = vm->balloon ? vm->ballooned : 0;
	/* A limit the update sets resizes the balloon (the VM boots with it empty). */
	u->balloon[1] = upd->has_mem_max ? update_balloon(&u->want, vm) : u->balloon[0];
	u->pinned = cur->cpuset_cpus || u->want.cpuset_cpus;
	ret = update_side(&full[0], cur->cpuset_cpus != NULL, vm, 0, u);
	if (!ret)
		ret = update_side(&full[1], u->want.cpuset_cpus != NULL, vm, 1, u);
	if (ret)
		goto fail;
	/*
	 * A shrink: the host's limit falls once the guest has unplugged and filled its balloon
	 * (until then hull holds the memory); one the guest cannot finish leaves it where it was.
	 */
	u->host_mem_max = u->host[1].mem_max;
	if ((u->plug[1] < u->plug[0] || u->balloon[1] > u->balloon[0]) &&
	    u->host[0].mem_max > u->host[1].mem_max)
		u->host[1].mem_max = u->host[0].mem_max;
	ctr_resources_free(&full[0]);
	ctr_resources_free(&full[1]);
	return 0;
fail:
	if (errlen && !err[0])
		snprintf(err, errlen, "%s", strerror(-ret));
	ctr_resources_free(&full[0]);
	ctr_resources_free(&full[1]);
	ctr_update_free(u);
	return ret;
}

void ctr_update_free(struct ctr_update *u)
{
	ctr_resources_free(&u->want);
	ctr_resources_free(&u->host[0]);
	ctr_resources_free(&u->host[1]);
	ctr_resources_free(&u->guest[0]);
	ctr_resources_free(&u->guest[1]);
	*u = (struct ctr_update){ 0 };
}

/* Levels n-1..0 set to vals[0]; the first failure appended to err at *at. */
static int undo(const struct ctr_level *lv, unsigned int n, char *err, size_t errlen)
{
	char why[256];
	size_t at = strlen(err);
	int ret = 0, r;

	while (n--) {
		r = lv[n].set(lv[n].opaque, lv[n].vals[0], why, sizeof(why));
		if (r && !ret) {
			ret = r;
			snprintf(err + at, errlen - at, "%ssetting %s back failed too: %s",
				 at ? "; " : "", lv[n].name, why);
		}
	}
	return ret;
}

int ctr_levels_undo(const struct ctr_level *lv, unsigned int n, char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	return undo(lv, n, err, errlen);
}

int ctr_levels_set(const struct ctr_level *lv, unsigned int n, char *err, size_t errlen)
{
	char why[256];
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++) {
		ret = lv[i].set(lv[i].opaque, lv[i].vals[1], why, sizeof(why));
		if (!ret)
			continue;
		snprintf(err, errlen, "%s refused: %s", lv[i].name, why);
		undo(lv, i + 1, err, errlen);
		return ret;
	}
	return 0;
}
