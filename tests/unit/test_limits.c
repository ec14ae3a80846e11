/* Unit tests for the constraints mapping: OCI resources to VM shape, guest and host cgroups, pinning. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/limits.h"
#include "container/oci.h"
#include "lib/cpuset.h"
#include "lib/util.h"
#include "vmm/config.h"

#define M (1ull << 20)
#define G (1ull << 30)

/* The resources of a row, with the has_ flags implied by non-zero values. */
struct res {
	uint64_t quota, period, weight, mem, swap, low, pids;
	const char *cpus, *mems;
};

static void make(const struct res *in, struct ctr_resources *r)
{
	*r = (struct ctr_resources){
		.cpu_quota = in->quota, .has_cpu_quota = in->quota != 0,
		.cpu_period = in->period, .has_cpu_period = in->period != 0,
		.cpu_weight = in->weight, .has_cpu_weight = in->weight != 0,
		.mem_max = in->mem, .has_mem_max = in->mem != 0,
		.swap_max = in->swap, .has_swap_max = in->swap != 0,
		.mem_low = in->low, .has_mem_low = in->low != 0,
		.pids_max = in->pids, .has_pids_max = in->pids != 0,
		.cpuset_cpus = (char *)(uintptr_t)in->cpus, .cpuset_mems = (char *)(uintptr_t)in->mems,
	};
}

/* An 8-CPU host with 16 GiB; the VM's own settings at hull vm's defaults. */
static struct ctr_shape_in host(void)
{
	struct ctr_shape_in in = { .host_mem = 16 * G, .cpus = 1, .mem = 512 * M };

	assert_int_equal(cpuset_parse("0-7", &in.host_cpus), 0);
	return in;
}

/* One row: resources, changes to the host/settings, the shape wanted. */
struct row {
	const char *what;
	struct res r;
	const char *host_cpus; /* NULL: 0-7 */
	uint64_t host_mem, max_mem;
	unsigned int cpus, max_cpus;
	struct ctr_shape want;
};

static const struct row rows[] = {
	{ "nothing", { 0 }, NULL, 0, 0, 0, 0, { 1, 8, 512 * M, 0, 0 } },
	{ "--cpus when nothing asks", { 0 }, NULL, 0, 0, 3, 0, { 3, 8, 512 * M, 0, 0 } },
	{ "quota 1.5 CPUs", { .quota = 150000, .period = 100000 }, NULL, 0, 0, 0, 0,
	  { 2, 8, 512 * M, 0, 0 } },
	{ "quota alone: period 100000", { .quota = 250000 }, NULL, 0, 0, 0, 0,
	  { 3, 8, 512 * M, 0, 0 } },
	{ "quota below one CPU", { .quota = 1000, .period = 100000 }, NULL, 0, 0, 0, 0,
	  { 1, 8, 512 * M, 0, 0 } },
	{ "quota over a 1 s period", { .quota = 2000000, .period = 1000000 }, NULL, 0, 0, 0, 0,
	  { 2, 8, 512 * M, 0, 0 } },
	{ "quota beyond the cpuset", { .quota = 400000, .cpus = "0-1" }, NULL, 0, 0, 0, 0,
	  { 4, 8, 512 * M, 0, 0 } },
	{ "quota 2 on one CPU", { .quota = 200000, .period = 100000, .cpus = "0" }, NULL, 0, 0, 0,
	  0, { 2, 8, 512 * M, 0, 0 } },
	{ "quota within the cpuset", { .quota = 100000, .cpus = "0-3" }, NULL, 0, 0, 0, 0,
	  { 1, 8, 512 * M, 0, 0 } },
	{ "cpuset alone", { .cpus = "2-4" }, NULL, 0, 0, 0, 0, { 3, 8, 512 * M, 0, 0 } },
	{ "cpuset beats --cpus", { .cpus = "5" }, NULL, 0, 0, 4, 0, { 1, 8, 512 * M, 0, 0 } },
	{ "quota beyond the host", { .quota = 10000000 }, NULL, 0, 0, 0, 0,
	  { 8, 8, 512 * M, 0, 0 } },
	{ "--cpus beyond the host", { 0 }, "0-1", 0, 0, 6, 0, { 2, 2, 512 * M, 0, 0 } },
	{ "--max-cpus caps", { .cpus = "0-3" }, NULL, 0, 0, 0, 2, { 2, 2, 512 * M, 0, 0 } },
	{ "--max-cpus above the host", { .quota = 300000 }, NULL, 0, 0, 0, 32,
	  { 3, 32, 512 * M, 0, 0 } },
	{ "weight changes no shape", { .weight = 500 }, NULL, 0, 0, 0, 0, { 1, 8, 512 * M, 0, 0 } },
	{ "limit 256M", { .mem = 256 * M }, NULL, 0, 0, 0, 0,
	  { 1, 8, 128 * M + 16 * M, 1 * G, 256 * M } },
	{ "limit rounded to a block", { .mem = 100 * M }, NULL, 0, 0, 0, 0,
	  { 1, 8, 128 * M + 8 * M, 512 * M, 128 * M } },
	{ "limit of one byte", { .mem = 1 }, NULL, 0, 0, 0, 0,
	  { 1, 8, 128 * M + 8 * M, 512 * M, 128 * M } },
	{ "limit with --max-memory", { .mem = 1 * G }, NULL, 0, 2 * G, 0, 0,
	  { 1, 8, 128 * M + 30 * M, 1920 * M, 1 * G } },
	{ "--max-memory exactly enough", { .mem = 1 * G }, NULL, 0, 1 * G + 128 * M, 0, 0,
	  { 1, 8, 128 * M + 16 * M, 1 * G, 1 * G } },
	{ "growth within the host's RAM", { .mem = 4 * G }, NULL, 6 * G, 0, 0, 0,
	  { 1, 8, 128 * M + 94 * M, 6016 * M, 4 * G } },
	{ "a limit past the host's RAM", { .mem = 8 * G }, NULL, 6 * G, 0, 0, 0,
	  { 1, 8, 128 * M + 128 * M, 8 * G, 8 * G } },
	{ "no limit, --max-memory", { 0 }, NULL, 0, 2 * G, 0, 0, { 1, 8, 512 * M, 1536 * M, 0 } },
	{ "no limit, --max-memory below --memory", { 0 }, NULL, 0, 256 * M, 0, 0,
	  { 1, 8, 512 * M, 0, 0 } },
	{ "everything", { .quota = 200000, .period = 100000, .weight = 100, .mem = 512 * M,
			  .swap = 256 * M, .low = 128 * M, .pids = 100, .cpus = "4-7", .mems = "0" },
	  NULL, 0, 0, 0, 0, { 2, 8, 128 * M + 32 * M, 2 * G, 512 * M } },
};

static void run_row(const struct row *row)
{
	struct ctr_shape_in in = host();
	struct ctr_resources r;
	struct ctr_shape s;
	char err[256] = "";
	int ret;

	make(&row->r, &r);
	if (row->host_cpus)
		assert_int_equal(cpuset_parse(row->host_cpus, &in.host_cpus), 0);
	if (row->host_mem)
		in.host_mem = row->host_mem;
	if (row->cpus)
		in.cpus = row->cpus;
	in.max_cpus = row->max_cpus;
	in.max_mem = row->max_mem;
	ret = ctr_limits_shape(&r, &in, NULL, &s, err, sizeof(err));
	if (ret)
		fail_msg("%s: %d %s", row->what, ret, err);
	if (s.vcpus != row->want.vcpus || s.max_vcpus != row->want.max_vcpus ||
	    s.boot_mem != row->want.boot_mem || s.region != row->want.region ||
	    s.plugged != row->want.plugged)
		fail_msg("%s: vcpus %u/%u boot %" PRIu64 "M region %" PRIu64 "M plugged %" PRIu64
			 "M, want %u/%u %" PRIu64 "M %" PRIu64 "M %" PRIu64 "M",
			 row->what, s.vcpus, s.max_vcpus, s.boot_mem / M, s.region / M,
			 s.plugged / M, row->want.vcpus, row->want.max_vcpus, row->want.boot_mem / M,
			 row->want.region / M, row->want.plugged / M);
}

static void test_shape_table(void **state)
{
	unsigned int i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(rows); i++)
		run_row(&rows[i]);
}

static void check_refused(const struct res *rr, uint64_t max_mem, const struct ctr_shape *fixed,
			  const char *why)
{
	struct ctr_shape_in in = host();
	struct ctr_shape s = { 77, 77, 77, 77, 77 };
	struct ctr_resources r;
	char err[256] = "";

	make(rr, &r);
	in.max_mem = max_mem;
	assert_int_equal(ctr_limits_shape(&r, &in, fixed, &s, err, sizeof(err)), -EINVAL);
	if (!strstr(err, why))
		fail_msg("reason '%s' lacks '%s'", err, why);
	assert_int_equal(s.vcpus, 77); /* untouched */
}

static void test_shape_refused(void **state)
{
	struct ctr_shape fixed = { 1, 8, 144 * M, 1 * G, 256 * M };

	(void)state;
	check_refused(&(struct res){ .cpus = "3-1" }, 0, NULL, "cpu.cpus 3-1: not a CPU list");
	check_refused(&(struct res){ .cpus = "1024" }, 0, NULL, "cpu.cpus 1024: not a CPU list");
	check_refused(&(struct res){ .mem = 1 * G }, 512 * M, NULL,
		      "max memory 536870912 bytes: below the memory limit");
	check_refused(&(struct res){ .mem = 1 * G }, 1 * G, NULL, "below the memory limit");
	check_refused(&(struct res){ .mem = CONFIG_MAX_MEM + 1 }, 0, NULL,
		      "above hull's maximum of 1024G");
	check_refused(&(struct res){ .mem = 1010 * G }, 0, NULL, "the VM would need");
	check_refused(&(struct res){ .mem = 1 * G + 1 }, 0, &fixed,
		      "more than this VM can plug (1073741824 bytes");
}

/* An update keeps the VM's maximums and boot RAM; what the resources leave out stays. */
static void test_shape_update(void **state)
{
	struct ctr_shape fixed = { 2, 4, 144 * M, 1 * G, 256 * M }, s;
	struct ctr_shape_in in = host();
	struct ctr_resources r;
	char err[256];

	(void)state;
	make(&(struct res){ .mem = 768 * M, .quota = 300000 }, &r);
	assert_int_equal(ctr_limits_shape(&r, &in, &fixed, &s, err, sizeof(err)), 0);
	assert_int_equal(s.vcpus, 3);
	assert_int_equal(s.max_vcpus, 4);
	assert_int_equal(s.boot_mem, 144 * M);
	assert_int_equal(s.region, 1 * G);
	assert_int_equal(s.plugged, 768 * M);
	/* More CPUs than the VM was made with: its maximum. */
	make(&(struct res){ .quota = 800000 }, &r);
	assert_int_equal(ctr_limits_shape(&r, &in, &fixed, &s, err, sizeof(err)), 0);
	assert_int_equal(s.vcpus, 4);
	assert_int_equal(s.plugged, 256 * M); /* no limit in the resources: as it was */
	/* Shrinking to the whole region's end and down to one block. */
	make(&(struct res){ .mem = 1 * G, .cpus = "1" }, &r);
	assert_int_equal(ctr_limits_shape(&r, &in, &fixed, &s, err, sizeof(err)), 0);
	assert_int_equal(s.plugged, 1 * G);
	assert_int_equal(s.vcpus, 1);
	make(&(struct res){ .mem = 5 * M }, &r);
	assert_int_equal(ctr_limits_shape(&r, &in, &fixed, &s, err, sizeof(err)), 0);
	assert_int_equal(s.plugged, 128 * M);
}

static void test_guest(void **state)
{
	struct ctr_shape s = { 2, 8, 160 * M, 2 * G, 512 * M };
	struct ctr_resources r, g;

	(void)state;
	make(&(struct res){ .quota = 200000, .period = 100000, .weight = 100, .mem = 512 * M,
			    .swap = 256 * M, .low = 128 * M, .pids = 100, .cpus = "4-7",
			    .mems = "1" },
	     &r);
	assert_int_equal(ctr_limits_guest(&r, &s, &g), 0);
	assert_true(g.has_cpu_quota && g.cpu_quota == 200000);
	assert_true(g.has_cpu_period && g.cpu_period == 100000);
	assert_true(g.has_cpu_weight && g.cpu_weight == 100);
	assert_true(g.has_mem_max && g.mem_max == 512 * M);
	assert_true(g.has_swap_max && g.swap_max == 256 * M);
	assert_true(g.has_mem_low && g.mem_low == 128 * M);
	assert_true(g.has_pids_max && g.pids_max == 100);
	/* The guest's own numbers: its online vCPUs, its one node. */
	assert_string_equal(g.cpuset_cpus, "0-1");
	assert_string_equal(g.cpuset_mems, "0");
	ctr_resources_free(&g);
	s.vcpus = 1;
	make(&(struct res){ .cpus = "3" }, &r);
	assert_int_equal(ctr_limits_guest(&r, &s, &g), 0);
	assert_string_equal(g.cpuset_cpus, "0");
	assert_null(g.cpuset_mems);
	assert_false(g.has_cpu_quota || g.has_mem_max || g.has_pids_max);
	ctr_resources_free(&g);
	/* Nothing in, nothing out. */
	make(&(struct res){ 0 }, &r);
	assert_int_equal(ctr_limits_guest(&r, &s, &g), 0);
	assert_null(g.cpuset_cpus);
	ctr_resources_free(&g);
}

static void test_overhead(void **state)
{
	struct ctr_shape s = { 2, 4, 144 * M, 1 * G, 256 * M };
	uint64_t want;

	(void)state;
	want = CTR_HULL_MEM + 4 * CTR_VCPU_MEM + 3 * M + (144 * M + 256 * M) / CTR_PT_DIV +
	       (144 * M + 1 * G) / CTR_PT_DIV;
	assert_int_equal(ctr_limits_overhead(&s, 3 * M), want);
	/* Each term grows with what it counts. */
	s.max_vcpus = 5;
	assert_int_equal(ctr_limits_overhead(&s, 3 * M), want + CTR_VCPU_MEM);
	s.plugged += 512 * M;
	assert_int_equal(ctr_limits_overhead(&s, 3 * M), want + CTR_VCPU_MEM + M);
}

static void test_host(void **state)
{
	struct ctr_shape s = { 2, 8, 160 * M, 2 * G, 512 * M };
	struct ctr_resources r, h;
	uint64_t over = ctr_limits_overhead(&s, 5 * M);

	(void)state;
	make(&(struct res){ .quota = 200000, .period = 50000, .weight = 100, .mem = 500 * M,
			    .swap = 256 * M, .low = 128 * M, .pids = 100, .cpus = "4-7",
			    .mems = "1" },
	     &r);
	assert_int_equal(ctr_limits_host(&r, &s, 5 * M, &h), 0);
	assert_true(h.has_cpu_quota && h.cpu_quota == 200000);
	assert_true(h.has_cpu_period && h.cpu_period == 50000);
	assert_true(h.has_cpu_weight && h.cpu_weight == 100);
	assert_string_equal(h.cpuset_cpus, "4-7"); /* the host's own numbers */
	assert_string_equal(h.cpuset_mems, "1");
	/* The guest's memory (boot and plugged, not the limit itself) and hull's. */
	assert_true(h.has_mem_max && h.mem_max == 160 * M + 512 * M + over);
	assert_true(h.mem_max > r.mem_max + over);
	assert_true(h.has_swap_max && h.swap_max == 256 * M);
	assert_true(h.has_mem_low && h.mem_low == 128 * M + 160 * M + over);
	assert_false(h.has_pids_max); /* the guest's processes are not the host's */
	ctr_resources_free(&h);
	make(&(struct res){ .weight = 7 }, &r);
	assert_int_equal(ctr_limits_host(&r, &s, 0, &h), 0);
	assert_false(h.has_mem_max || h.has_mem_low || h.has_cpu_quota);
	assert_true(h.has_cpu_weight && h.cpu_weight == 7);
	ctr_resources_free(&h);
}

static void test_pinning(void **state)
{
	struct ctr_shape_in in = host();
	struct ctr_resources r;
	char err[256] = "";
	cpu_set_t set;
	bool pinned = true;

	(void)state;
	make(&(struct res){ .quota = 100000 }, &r);
	assert_int_equal(ctr_limits_pinning(&r, &in, &set, &pinned, err, sizeof(err)), 0);
	assert_false(pinned);
	make(&(struct res){ .cpus = "6,1-2" }, &r);
	assert_int_equal(ctr_limits_pinning(&r, &in, &set, &pinned, err, sizeof(err)), 0);
	assert_true(pinned);
	/* vCPU i on the (i mod n)-th CPU of the set, whatever the counts. */
	assert_int_equal(cpuset_nth(&set, 0 % 3), 1);
	assert_int_equal(cpuset_nth(&set, 1 % 3), 2);
	assert_int_equal(cpuset_nth(&set, 2 % 3), 6);
	assert_int_equal(cpuset_nth(&set, 3 % 3), 1);
	assert_int_equal(cpuset_parse("0-3", &in.host_cpus), 0);
	assert_int_equal(ctr_limits_pinning(&r, &in, &set, &pinned, err, sizeof(err)), -EINVAL);
	assert_false(pinned);
	assert_string_equal(err, "cpu.cpus 6,1-2: CPU 6 is not one hull may run on (0-3)");
	make(&(struct res){ .cpus = "1--2" }, &r);
	assert_int_equal(ctr_limits_pinning(&r, &in, &set, &pinned, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a CPU list"));
}

/* `hull run`'s VM for a container's resources: one row's resources, flags, and what it gets. */
struct run_row {
	const char *what;
	struct res r;
	bool cpus_set, mem_set; /* --cpus 3, --memory 1G */
	unsigned int cpus;
	uint64_t mem, max_mem;		   /* RAM; and with the hotplug region (0: none) */
	const char *affinity, *guest_cpus; /* NULL: none */
};

static const struct run_row run_rows[] = {
	{ "nothing: --cpus and --memory's defaults, no region", { 0 }, false, false, 1, 512 * M, 0,
	  NULL, NULL },
	{ "quota of two on one CPU, 256M: 4 times it in all", { .quota = 200000, .period = 100000,
	  .cpus = "0", .mem = 256 * M }, false, false, 2, 256 * M, 1 * G, "0", "0-1" },
	{ "--cpus and --memory win", { .quota = 200000, .cpus = "0", .mem = 256 * M }, true, true,
	  3, 1 * G, 4 * G, "0", "0-2" },
	{ "--cpus alone wins", { .quota = 400000, .mem = 256 * M }, true, false, 3, 256 * M, 1 * G,
	  NULL, NULL },
	{ "cpuset alone", { .cpus = "4-6" }, false, false, 3, 512 * M, 0, "4-6", "0-2" },
	{ "limit rounded to a block", { .mem = 100 * M }, false, false, 1, 128 * M, 512 * M, NULL,
	  NULL },
	{ "limit of 1G and a reservation", { .mem = 1 * G, .low = 256 * M }, false, false, 1, 1 * G,
	  4 * G, NULL, NULL },
	{ "limit of 6G: the host's 16G", { .mem = 6 * G }, false, false, 1, 6 * G, 16 * G, NULL,
	  NULL },
	{ "limit of 16G: no room above it", { .mem = 16 * G }, false, false, 1, 16 * G, 0, NULL,
	  NULL },
	{ "quota beyond the host", { .quota = 5000000 }, false, false, 8, 512 * M, 0, NULL, NULL },
};

static void check_run_row(const struct run_row *row)
{
	struct ctr_shape_in in = host();
	struct ctr_shape hs;
	struct ctr_run_limits l;
	struct ctr_resources r;
	char err[256] = "";
	uint64_t over, region;

	make(&row->r, &r);
	in.cpus = row->cpus_set ? 3 : 1;
	in.mem = row->mem_set ? 1 * G : 512 * M;
	if (ctr_limits_run(&r, &in, row->cpus_set, row->mem_set, 5 * M, &l, err, sizeof(err)))
		fail_msg("%s: refused: %s", row->what, err);
	if (l.cpus != row->cpus || l.mem != row->mem || l.max_mem != row->max_mem)
		fail_msg("%s: %u vCPUs, %" PRIu64 "M, max %" PRIu64 "M; wanted %u, %" PRIu64
			 "M, max %" PRIu64 "M", row->what, l.cpus, l.mem / M, l.max_mem / M,
			 row->cpus, row->mem / M, row->max_mem / M);
	region = l.max_mem ? l.max_mem - l.mem : 0;
	if (row->affinity)
		assert_string_equal(l.affinity, row->affinity);
	else
		assert_null(l.affinity);
	/* The container's cgroup in the guest: in the VM's vCPUs. */
	if (row->guest_cpus)
		assert_string_equal(l.guest.cpuset_cpus, row->guest_cpus);
	else
		assert_null(l.guest.cpuset_cpus);
	assert_true(l.guest.has_mem_max == r.has_mem_max && l.guest.mem_max == r.mem_max);
	/* hull's: the RAM, all of it the container's, plus hull's overhead for it and the region. */
	hs = (struct ctr_shape){ .vcpus = l.cpus, .max_vcpus = l.cpus, .region = l.mem + region,
				 .plugged = l.mem };
	over = ctr_limits_overhead(&hs, 5 * M);
	assert_int_equal(over, CTR_HULL_MEM + l.cpus * CTR_VCPU_MEM + 5 * M + l.mem / CTR_PT_DIV +
				       (l.mem + region) / CTR_PT_DIV);
	assert_int_equal(l.host.has_mem_max, r.has_mem_max);
	if (r.has_mem_max)
		assert_int_equal(l.host.mem_max, l.mem + over);
	assert_int_equal(l.host.has_mem_low, r.has_mem_low);
	if (r.has_mem_low)
		assert_int_equal(l.host.mem_low, r.mem_low + over);
	assert_true(l.host.has_cpu_quota == r.has_cpu_quota && l.host.cpu_quota == r.cpu_quota);
	if (r.cpuset_cpus)
		assert_string_equal(l.host.cpuset_cpus, r.cpuset_cpus); /* the host's numbers */
	ctr_run_limits_free(&l);
}

static void test_run_table(void **state)
{
	unsigned int i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(run_rows); i++)
		check_run_row(&run_rows[i]);
}

static void test_run_refused(void **state)
{
	struct ctr_shape_in in = host();
	struct ctr_run_limits l = { .cpus = 77 };
	struct ctr_resources r;
	char err[256] = "";

	(void)state;
	make(&(struct res){ .cpus = "0,8" }, &r);
	assert_int_equal(ctr_limits_run(&r, &in, false, false, 0, &l, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "cpu.cpus 0,8: CPU 8 is not one hull may run on (0-7)");
	assert_int_equal(l.cpus, 0);
	assert_null(l.affinity);
	/* --cpus does not make a cpuset hull may not use any better. */
	assert_int_equal(ctr_limits_run(&r, &in, true, false, 0, &l, err, sizeof(err)), -EINVAL);
	make(&(struct res){ .cpus = "7-5" }, &r);
	assert_int_equal(ctr_limits_run(&r, &in, false, false, 0, &l, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a CPU list"));
	make(&(struct res){ .mem = 2ull << 40 }, &r);
	assert_int_equal(ctr_limits_run(&r, &in, false, true, 0, &l, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "above hull's maximum"));
	/* --max-memory not above the RAM. */
	make(&(struct res){ .mem = 1 * G }, &r);
	in.max_mem = 1 * G;
	assert_int_equal(ctr_limits_run(&r, &in, false, false, 0, &l, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "max memory 1073741824 bytes: not above the VM's RAM of "
				 "1073741824 bytes");
	ctr_run_limits_free(&l);
}

/* --max-memory wins over the default region, rounded up to a block; with no limit too. */
static void test_run_max_mem(void **state)
{
	struct ctr_shape_in in = host();
	struct ctr_run_limits l;
	struct ctr_resources r;
	char err[256] = "";

	(void)state;
	make(&(struct res){ .mem = 256 * M }, &r);
	in.max_mem = 300 * M;
	assert_int_equal(ctr_limits_run(&r, &in, false, false, 0, &l, err, sizeof(err)), 0);
	assert_int_equal(l.mem, 256 * M);
	assert_int_equal(l.max_mem, 384 * M);
	ctr_run_limits_free(&l);
	make(&(struct res){ 0 }, &r);
	in.max_mem = 2 * G;
	assert_int_equal(ctr_limits_run(&r, &in, false, false, 0, &l, err, sizeof(err)), 0);
	assert_int_equal(l.mem, 512 * M);
	assert_int_equal(l.max_mem, 2 * G);
	ctr_run_limits_free(&l);
}

/* From config.json text, as `hull run --bundle` reads it, to the VM's settings. */
static void test_run_bundle(void **state)
{
	static const char text[] =
		"{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"rootfs\"},"
		" \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\","
		"  \"user\": {\"uid\": 0, \"gid\": 0}},"
		" \"linux\": {\"cgroupsPath\": \"/hull/c1\", \"resources\": {"
		"  \"cpu\": {\"quota\": 200000, \"period\": 100000, \"cpus\": \"0\","
		"   \"shares\": 1024},"
		"  \"memory\": {\"limit\": 268435456, \"reservation\": 134217728}}}}";
	char dir[] = "/tmp/test_limits.XXXXXX", root[64], err[512] = "";
	struct ctr_shape_in in = host();
	struct ctr_run_limits l;
	struct ctr_bundle b;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(root, sizeof(root), "%s/rootfs", dir);
	assert_int_equal(mkdir(root, 0755), 0);
	if (ctr_oci_parse(text, sizeof(text) - 1, dir, NULL, &b, err, sizeof(err)))
		fail_msg("config.json: %s", err);
	assert_string_equal(b.cgroups_path, "/hull/c1");
	assert_int_equal(ctr_limits_run(&b.resources, &in, false, false, 0, &l, err, sizeof(err)),
			 0);
	assert_int_equal(l.cpus, 2);
	assert_int_equal(l.mem, 256 * M);
	assert_string_equal(l.affinity, "0");
	assert_true(l.host.has_cpu_quota && l.host.cpu_quota == 200000);
	assert_true(l.host.has_cpu_weight && l.host.cpu_weight == 39); /* shares 1024, as runc */
	assert_true(l.host.has_mem_max && l.host.mem_max > 256 * M);
	assert_true(l.host.has_mem_low && l.host.mem_low > 128 * M);
	assert_true(l.host.mem_low < l.host.mem_max);
	assert_string_equal(l.guest.cpuset_cpus, "0-1");
	ctr_run_limits_free(&l);
	ctr_bundle_free(&b);
	assert_int_equal(rmdir(root), 0);
	assert_int_equal(rmdir(dir), 0);
}


/* --- live update ---------------------------------------------------------------------------- */

/* A running VM: 2 vCPUs, 256M of RAM (a limit of 256M at start), on the 8-CPU host. */
static struct ctr_vm_now vm_now(void)
{
	struct ctr_vm_now v = { .vcpus = 2, .max_vcpus = 2, .mem = 256 * M, .devices_mem = 4 * M };

	assert_int_equal(cpuset_parse("0-7", &v.host_cpus), 0);
	return v;
}

/* A resources object as an update gives it (ctr_oci_resources). */
static void upd_of(const char *json, struct ctr_resources *r)
{
	char err[256] = "";

	if (ctr_oci_resources(json, strlen(json), r, err, sizeof(err)))
		fail_msg("%s: %s", json, err);
}

/*
 * The plan: want is the old resources with the update's fields; both sides of each level name
 * the same fields (defaults where one side had none), so writing the old side undoes the new.
 */
static void test_update_plan(void **state)
{
	struct ctr_vm_now v = vm_now();
	struct ctr_resources cur, upd;
	struct ctr_update u;
	char err[256] = "";

	(void)state;
	make(&(struct res){ .quota = 100000, .period = 100000, .mem = 256 * M }, &cur);
	upd_of("{\"cpu\":{\"quota\":50000,\"period\":200000,\"cpus\":\"2-3\"},"
	       "\"memory\":{\"limit\":134217728},\"pids\":{\"limit\":20}}", &upd);
	assert_int_equal(ctr_limits_update(&cur, &upd, &v, &u, err, sizeof(err)), 0);
	ctr_resources_free(&upd);
	/* want: the update over the old. */
	assert_true(u.want.has_cpu_quota && u.want.cpu_quota == 50000);
	assert_true(u.want.cpu_period == 200000 && u.want.mem_max == 128 * M);
	assert_true(u.want.has_pids_max && u.want.pids_max == 20);
	assert_string_equal(u.want.cpuset_cpus, "2-3");
	/* The guest: the new limits; the old side has pids "max" and the guest's whole cpuset. */
	assert_true(u.guest[1].pids_max == 20 && u.guest[1].mem_max == 128 * M);
	assert_true(u.guest[0].has_pids_max && u.guest[0].pids_max == UINT64_MAX);
	assert_true(u.guest[0].mem_max == 256 * M && u.guest[0].cpu_quota == 100000);
	/* A quota of a quarter CPU: one vCPU online of the two, the guest's cpuset 0. */
	assert_int_equal(u.vcpus[0], 2);
	assert_int_equal(u.vcpus[1], 1);
	assert_string_equal(u.guest[1].cpuset_cpus, "0");
	assert_string_equal(u.guest[0].cpuset_cpus, "0-1");
	/* The host: no pids.max; memory.max the RAM + overhead on both sides; the cpuset the
	 * host's CPUs before (none was set), the new one after. */
	assert_false(u.host[0].has_pids_max || u.host[1].has_pids_max);
	assert_true(u.host[1].mem_max > 256 * M && u.host[1].mem_max == u.host[0].mem_max);
	assert_true(u.host[1].cpu_quota == 50000 && u.host[1].cpu_period == 200000);
	assert_true(u.host[0].cpu_quota == 100000 && u.host[0].cpu_period == 100000);
	assert_string_equal(u.host[0].cpuset_cpus, "0-7");
	assert_string_equal(u.host[1].cpuset_cpus, "2-3");
	/* The pinning: none before (all of hull's CPUs), vCPU i on the i-th of 2-3 after. */
	assert_true(u.pinned && !u.pin[0].pin && u.pin[1].pin);
	assert_int_equal(CPU_COUNT(&u.pin[0].set), 8);
	assert_int_equal(cpuset_nth(&u.pin[1].set, 0), 2);
	assert_int_equal(cpuset_nth(&u.pin[1].set, 1), 3);
	ctr_update_free(&u);

	/* -1 clears: quota and pids "max" after, the host's memory.max "max" too. */
	upd_of("{\"cpu\":{\"quota\":-1},\"memory\":{\"limit\":-1},\"pids\":{\"limit\":-1}}",
	       &upd);
	assert_int_equal(ctr_limits_update(&cur, &upd, &v, &u, err, sizeof(err)), 0);
	ctr_resources_free(&upd);
	assert_true(u.guest[1].cpu_quota == UINT64_MAX && u.guest[1].pids_max == UINT64_MAX);
	assert_true(u.guest[1].mem_max == UINT64_MAX && u.host[1].mem_max == UINT64_MAX);
	assert_true(u.host[0].mem_max > 256 * M && u.host[0].mem_max != UINT64_MAX);
	assert_false(u.pinned);
	ctr_update_free(&u);
}

/*
 * vCPUs online after an update: the quota's count, else the cpuset's, else as now; within the
 * vCPUs made (--max-cpus) and the CPUs hull may use; the guest's cpuset follows.
 */
static void test_update_vcpus(void **state)
{
	static const struct {
		const char *json, *host;
		unsigned int now, want;
	} vrows[] = {
		{ "{\"cpu\":{\"quota\":300000}}", NULL, 1, 3 },
		{ "{\"cpu\":{\"quota\":50000,\"period\":100000}}", NULL, 3, 1 },
		{ "{\"cpu\":{\"quota\":900000}}", NULL, 1, 4 },      /* the vCPUs made */
		{ "{\"cpu\":{\"quota\":400000}}", "0-1", 1, 2 },     /* the host's CPUs */
		{ "{\"cpu\":{\"cpus\":\"1-3\"}}", NULL, 1, 1 },     /* the quota still wins */
		{ "{\"cpu\":{\"quota\":-1,\"cpus\":\"1-3\"}}", NULL, 1, 3 },
		{ "{\"cpu\":{\"quota\":-1}}", NULL, 2, 2 },          /* no quota: as now */
		{ "{\"pids\":{\"limit\":9}}", NULL, 1, 1 },
	};
	struct ctr_vm_now v = vm_now();
	struct ctr_resources cur = { .cpu_quota = 100000, .has_cpu_quota = true }, upd;
	struct ctr_update u;
	char err[256];
	unsigned int i;

	(void)state;
	v.max_vcpus = 4;
	for (i = 0; i < ARRAY_SIZE(vrows); i++) {
		assert_int_equal(cpuset_parse(vrows[i].host ? vrows[i].host : "0-7", &v.host_cpus), 0);
		v.vcpus = vrows[i].now;
		upd_of(vrows[i].json, &upd);
		assert_int_equal(ctr_limits_update(&cur, &upd, &v, &u, err, sizeof(err)), 0);
		ctr_resources_free(&upd);
		if (u.vcpus[0] != vrows[i].now || u.vcpus[1] != vrows[i].want)
			fail_msg("%s: %u -> %u, want %u", vrows[i].json, u.vcpus[0], u.vcpus[1],
				 vrows[i].want);
		ctr_update_free(&u);
	}
	/* The guest's cpuset is 0-N for the vCPUs online on each side. */
	cur = (struct ctr_resources){ .cpuset_cpus = (char[]){ "0" } };
	v.vcpus = 1;
	assert_int_equal(cpuset_parse("0-7", &v.host_cpus), 0);
	upd_of("{\"cpu\":{\"cpus\":\"4-6\"}}", &upd);
	assert_int_equal(ctr_limits_update(&cur, &upd, &v, &u, err, sizeof(err)), 0);
	ctr_resources_free(&upd);
	assert_string_equal(u.guest[0].cpuset_cpus, "0");
	assert_string_equal(u.guest[1].cpuset_cpus, "0-2");
	assert_int_equal(u.vcpus[1], 3);
	ctr_update_free(&u);
}

/*
 * Memory with a hotplug region (256M of RAM, 768M above it): the limit's bytes above the RAM,
 * in blocks, asked to be plugged; below the RAM none; the host's memory.max follows up at once,
 * and down (host_mem_max) only once the guest has unplugged; past the region refused.
 */
static void test_update_plug(void **state)
{
	static const struct {
		const char *json;
		uint64_t now, want; /* plugged */
	} prows[] = {
		{ "{\"memory\":{\"limit\":805306368}}", 0, 512 * M },          /* 768M */
		{ "{\"memory\":{\"limit\":1073741824}}", 0, 768 * M },         /* the region's end */
		{ "{\"memory\":{\"limit\":314572800}}", 0, 128 * M },          /* 300M: a block */
		{ "{\"memory\":{\"limit\":268435456}}", 512 * M, 0 },          /* the RAM */
		{ "{\"memory\":{\"limit\":67108864}}", 512 * M, 0 },           /* below it */
		{ "{\"memory\":{\"limit\":-1}}", 256 * M, 256 * M },           /* no limit: as now */
		{ "{\"pids\":{\"limit\":9}}", 0, 0 },                         /* the same limit */
	};
	struct ctr_vm_now v = vm_now();
	struct ctr_resources cur, upd;
	struct ctr_update u;
	struct ctr_shape hs = { .vcpus = 2, .max_vcpus = 2, .region = 1 * G };
	char err[256] = "";
	unsigned int i;

	(void)state;
	v.region = 768 * M;
	make(&(struct res){ .mem = 256 * M }, &cur);
	for (i = 0; i < ARRAY_SIZE(prows); i++) {
		v.plugged = prows[i].now;
		upd_of(prows[i].json, &upd);
		if (ctr_limits_update(&cur, &upd, &v, &u, err, sizeof(err)))
			fail_msg("%s: refused: %s", prows[i].json, err);
		ctr_resources_free(&upd);
		if (u.plug[0] != prows[i].now || u.plug[1] != prows[i].want)
			fail_msg("%s: %" PRIu64 "M -> %" PRIu64 "M, want %" PRIu64 "M",
				 prows[i].json, u.plug[0] / M, u.plug[1] / M, prows[i].want / M);
		/* The host: the RAM and what is plugged, plus the overhead with the region. */
		hs.plugged = 256 * M + u.plug[1];
		if (u.want.mem_max != UINT64_MAX)
			assert_int_equal(u.host_mem_max,
					 hs.plugged + ctr_limits_overhead(&hs, v.devices_mem));
		if (u.plug[1] < u.plug[0])
			assert_int_equal(u.host[1].mem_max, u.host[0].mem_max);
		else
			assert_int_equal(u.host[1].mem_max, u.host_mem_max);
		ctr_update_free(&u);
	}
	/* Past the region; a RAM not in blocks (300M) rounds the part above it up. */
	upd_of("{\"memory\":{\"limit\":1073741825}}", &upd);
	assert_int_equal(ctr_limits_update(&cur, &upd, &v, &u, err, sizeof(err)), -EINVAL);
	ctr_resources_free(&upd);
	assert_string_equal(err, "memory limit 1073741825 bytes: above what the VM can reach, its "
				 "RAM of 268435456 bytes and a hotplug region of 805306368 bytes "
				 "(--max-memory when it starts)");
	v.mem = 300 * M;
	upd_of("{\"memory\":{\"limit\":1048576000}}", &upd); /* 1000M: 700M above, 6 blocks */
	assert_int_equal(ctr_limits_update(&cur, &upd, &v, &u, err, sizeof(err)), 0);
	ctr_resources_free(&upd);
	assert_int_equal(u.plug[1], 768 * M);
	ctr_update_free(&u);
	upd_of("{\"memory\":{\"limit\":1119879168}}", &upd); /* 1068M: the region's end */
	assert_int_equal(ctr_limits_update(&cur, &upd, &v, &u, err, sizeof(err)), 0);
	ctr_resources_free(&upd);
	assert_int_equal(u.plug[1], 768 * M);
	ctr_update_free(&u);
	upd_of("{\"memory\":{\"limit\":1120927744}}", &upd); /* 1069M: past 300M + 768M */
	assert_int_equal(ctr_limits_update(&cur, &upd, &v, &u, err, sizeof(err)), -EINVAL);
	ctr_resources_free(&upd);
	ctr_resources_free(&cur);
}

/*
 * A container VM's balloon (512M of RAM, 1536M above it): the guest's size is the limit, the
 * part below the RAM in the balloon (in 4 KiB pages), the part above plugged; the host's
 * memory.max counts the balloon: RAM + plugged - ballooned + overhead, held where it was until
 * a shrink is done, raised at once for a growth.
 */
static void test_update_balloon(void **state)
{
	static const struct {
		uint64_t cur, ballooned, plugged; /* the limit now; the balloon's, the region's */
		const char *json;
		uint64_t plug, balloon;
	} brows[] = {
		{ 512 * M, 0, 0, "{\"memory\":{\"limit\":268435456}}", 0, 256 * M },
		{ 512 * M, 0, 0, "{\"memory\":{\"limit\":134217728}}", 0, 384 * M }, /* the floor */
		/* 300000000: 73243 pages of 4 KiB kept, the rest of the RAM in the balloon */
		{ 512 * M, 0, 0, "{\"memory\":{\"limit\":300000000}}", 0, 512 * M - 73243 * 4096 },
		{ 1024 * M, 0, 512 * M, "{\"memory\":{\"limit\":268435456}}", 0, 256 * M },
		{ 256 * M, 256 * M, 0, "{\"memory\":{\"limit\":805306368}}", 256 * M, 0 },
		{ 256 * M, 256 * M, 0, "{\"memory\":{\"limit\":402653184}}", 0, 128 * M },
		{ 256 * M, 256 * M, 0, "{\"memory\":{\"limit\":536870912}}", 0, 0 }, /* the RAM */
		{ 256 * M, 256 * M, 0, "{\"memory\":{\"limit\":-1}}", 0, 0 },
		{ 256 * M, 256 * M, 0, "{\"pids\":{\"limit\":9}}", 0, 256 * M },
		/* A limit below the floor the VM was made with: refused only when set anew. */
		{ 64 * M, 0, 0, "{\"pids\":{\"limit\":9}}", 0, 0 },
		{ 300 * M, 0, 0, "{\"cpu\":{\"shares\":512}}", 0, 0 }, /* no limit set: as now */
		{ 64 * M, 0, 0, "{\"memory\":{\"limit\":67108864}}", 0, 384 * M },
	};
	struct ctr_vm_now v = vm_now();
	struct ctr_shape hs = { .vcpus = 2, .max_vcpus = 2, .region = 2 * G };
	struct ctr_resources cur, upd;
	struct ctr_update u;
	char err[256] = "";
	unsigned int i;

	(void)state;
	v.mem = 512 * M;
	v.region = 1536 * M;
	v.balloon = true;
	for (i = 0; i < ARRAY_SIZE(brows); i++) {
		make(&(struct res){ .mem = brows[i].cur }, &cur);
		v.ballooned = brows[i].ballooned;
		v.plugged = brows[i].plugged;
		upd_of(brows[i].json, &upd);
		if (ctr_limits_update(&cur, &upd, &v, &u, err, sizeof(err)))
			fail_msg("%s: refused: %s", brows[i].json, err);
		ctr_resources_free(&upd);
		if (u.plug[1] != brows[i].plug || u.balloon[1] != brows[i].balloon ||
		    u.balloon[0] != brows[i].ballooned)
			fail_msg("%s: plugged %" PRIu64 "M, balloon %" PRIu64 " -> %" PRIu64
				 ", want %" PRIu64 "M and %" PRIu64, brows[i].json, u.plug[1] / M,
				 u.balloon[0], u.balloon[1], brows[i].plug / M, brows[i].balloon);
		hs.plugged = 512 * M + u.plug[1];
		if (u.want.mem_max != UINT64_MAX)
			assert_int_equal(u.host_mem_max, 512 * M + u.plug[1] - u.balloon[1] +
					 ctr_limits_overhead(&hs, v.devices_mem));
		else
			assert_int_equal(u.host[1].mem_max, UINT64_MAX);
		/* A shrink holds the host's limit; anything else writes it at once. */
		if (u.plug[1] < u.plug[0] || u.balloon[1] > u.balloon[0])
			assert_int_equal(u.host[1].mem_max, u.host[0].mem_max);
		else
			assert_int_equal(u.host[1].mem_max, u.host_mem_max);
		if (u.balloon[1] > u.balloon[0])
			assert_true(u.host_mem_max < u.host[0].mem_max);
		ctr_update_free(&u);
		ctr_resources_free(&cur);
	}

	/* The floor: a limit below it refused, naming it; nothing planned. */
	make(&(struct res){ .mem = 512 * M }, &cur);
	v.ballooned = v.plugged = 0;
	upd_of("{\"memory\":{\"limit\":134213632}}", &upd); /* the floor less a page */
	assert_int_equal(ctr_limits_update(&cur, &upd, &v, &u, err, sizeof(err)), -EINVAL);
	ctr_resources_free(&upd);
	assert_string_equal(err, "memory limit 134213632 bytes: below the 128 MiB a "
				 "container's VM keeps for its kernel, hull-init and the container "
				 "(the balloon takes the rest of its RAM)");

	/* Without a balloon (a standalone VM, hugepages=on): as before, nothing below the RAM. */
	v.balloon = false;
	upd_of("{\"memory\":{\"limit\":67108864}}", &upd);
	assert_int_equal(ctr_limits_update(&cur, &upd, &v, &u, err, sizeof(err)), 0);
	ctr_resources_free(&upd);
	assert_true(u.balloon[0] == 0 && u.balloon[1] == 0 && u.plug[1] == 0);
	assert_int_equal(u.host[1].mem_max, u.host[0].mem_max);
	assert_int_equal(u.host_mem_max, u.host[0].mem_max);
	ctr_update_free(&u);
	ctr_resources_free(&cur);
}

/*
 * An unplug that ended with blocks busy: the balloon takes their size on top of its target,
 * never past what leaves the guest CTR_GUEST_MIN; nothing busy leaves it as it is.
 */
static void test_busy_balloon(void **state)
{
	static const struct {
		uint64_t balloon, ram, plugged, requested, want;
	} xrows[] = {
		{ 0, 512 * M, 384 * M, 128 * M, 256 * M },       /* 256M busy above the limit */
		{ 128 * M, 512 * M, 256 * M, 0, 384 * M },       /* below the RAM: all of it busy */
		{ 256 * M, 512 * M, 128 * M, 128 * M, 256 * M }, /* nothing busy */
		{ 256 * M, 512 * M, 0, 0, 256 * M },
		{ 384 * M, 512 * M, 128 * M, 0, 512 * M },       /* the floor: RAM + busy - 128M */
		{ 300 * M, 256 * M, 384 * M, 0, 512 * M },       /* capped by the floor */
		{ 100 * M, 128 * M, 128 * M, 0, 128 * M },       /* capped below the busy size */
		{ 200 * M, 200 * M, 0, 0, 200 * M },             /* past the cap already */
		{ 0, 96 * M, 128 * M, 0, 96 * M },               /* a guest below the floor's RAM */
	};
	unsigned int i;
	uint64_t got;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(xrows); i++) {
		got = ctr_limits_busy_balloon(xrows[i].balloon, xrows[i].ram, xrows[i].plugged,
					      xrows[i].requested);
		if (got != xrows[i].want)
			fail_msg("row %u: %" PRIu64 "M, want %" PRIu64 "M", i, got / M,
				 xrows[i].want / M);
	}
}

/* Everything checked before any level is written: each refusal says why, and names both sizes. */
static void test_update_refused(void **state)
{
	static const struct {
		const char *json, *want;
	} refused[] = {
		{ "{\"memory\":{\"limit\":1073741824}}",
		  "memory limit 1073741824 bytes: above what the VM can reach, its RAM of 268435456 "
		  "bytes and a hotplug region of 0 bytes" },
		{ "{\"memory\":{\"reservation\":536870912}}",
		  "memory reservation 536870912 bytes: above the VM's RAM of 268435456" },
		{ "{\"cpu\":{\"cpus\":\"9\"}}", "CPU 9 is not one hull may run on (0-7)" },
		{ "{\"cpu\":{\"cpus\":\"1--2\"}}", "cpu.cpus 1--2: not a CPU list" },
		{ "{\"cpu\":{\"mems\":\"1--2\"}}", "cpu.mems 1--2: not a list of memory nodes" },
		{ "{\"cpu\":{\"period\":999}}", "cpu.period 999 us: outside the kernel's 1000 to" },
		{ "{\"cpu\":{\"period\":1000001}}", "cpu.period 1000001 us: outside" },
		{ "{\"cpu\":{\"quota\":999}}", "cpu.quota 999 us: below the kernel's minimum" },
	};
	struct ctr_vm_now v = vm_now();
	struct ctr_resources cur = { 0 }, upd;
	struct ctr_update u;
	char err[256];
	unsigned int i;
	int ret;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(refused); i++) {
		err[0] = '\0';
		ret = ctr_oci_resources(refused[i].json, strlen(refused[i].json), &upd, err, sizeof(err));
		if (!ret) {
			ret = ctr_limits_update(&cur, &upd, &v, &u, err, sizeof(err));
			ctr_resources_free(&upd);
		}
		if (ret != -EINVAL || !strstr(err, refused[i].want))
			fail_msg("%s: %d '%s', want '%s'", refused[i].json, ret, err, refused[i].want);
	}
}

/* Fake levels: each records what it was set to; the writes numbered in refuse (bit n: the n-th) fail. */
struct fake {
	char log[256];
	unsigned int refuse, writes;
};

static int fake_set(void *opaque, const void *values, char *err, size_t errlen)
{
	struct fake *f = opaque;
	size_t at = strlen(f->log);

	snprintf(f->log + at, sizeof(f->log) - at, "%s ", (const char *)values);
	if (f->refuse & (1u << ++f->writes)) {
		snprintf(err, errlen, "no (%s)", (const char *)values);
		return -EPERM;
	}
	return 0;
}

/* The levels set in order; a refusal sets it and every one before it back, in reverse. */
static void test_levels_rollback(void **state)
{
	struct fake f = { 0 };
	const struct ctr_level lv[3] = {
		{ "the host cgroup", fake_set, &f, { "host-old", "host-new" } },
		{ "the vCPU pinning", fake_set, &f, { "pin-old", "pin-new" } },
		{ "the guest", fake_set, &f, { "guest-old", "guest-new" } },
	};
	char err[512];

	(void)state;
	assert_int_equal(ctr_levels_set(lv, 3, err, sizeof(err)), 0);
	assert_string_equal(f.log, "host-new pin-new guest-new ");
	/* The second refuses: it and the first set back, the third never touched. */
	f = (struct fake){ .refuse = 1u << 2 };
	assert_int_equal(ctr_levels_set(lv, 3, err, sizeof(err)), -EPERM);
	assert_string_equal(f.log, "host-new pin-new pin-old host-old ");
	assert_string_equal(err, "the vCPU pinning refused: no (pin-new)");
	/* The first refuses: only it is set back. */
	f = (struct fake){ .refuse = 1u << 1 };
	assert_int_equal(ctr_levels_set(lv, 3, err, sizeof(err)), -EPERM);
	assert_string_equal(f.log, "host-new host-old ");
	/* The third refuses and setting the pinning back fails too: both said, host still undone. */
	f = (struct fake){ .refuse = 1u << 3 | 1u << 5 };
	assert_int_equal(ctr_levels_set(lv, 3, err, sizeof(err)), -EPERM);
	assert_string_equal(f.log, "host-new pin-new guest-new guest-old pin-old host-old ");
	assert_string_equal(err, "the guest refused: no (guest-new); setting the vCPU pinning "
				 "back failed too: no (pin-old)");
	/* An undo of what was set (the guest refused later): reverse order. */
	f = (struct fake){ 0 };
	assert_int_equal(ctr_levels_undo(lv, 2, err, sizeof(err)), 0);
	assert_string_equal(f.log, "pin-old host-old ");
	f = (struct fake){ .refuse = 1u << 1 };
	assert_int_equal(ctr_levels_undo(lv, 2, err, sizeof(err)), -EPERM);
	assert_string_equal(f.log, "pin-old host-old ");
	assert_string_equal(err, "setting the vCPU pinning back failed too: no (pin-old)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shape_table),  cmocka_unit_test(test_shape_refused),
		cmocka_unit_test(test_shape_update), cmocka_unit_test(test_guest),
		cmocka_unit_test(test_overhead),     cmocka_unit_test(test_host),
		cmocka_unit_test(test_pinning),	     cmocka_unit_test(test_run_table),
		cmocka_unit_test(test_run_refused),  cmocka_unit_test(test_run_bundle),
		cmocka_unit_test(test_run_max_mem),  cmocka_unit_test(test_update_plug),
		cmocka_unit_test(test_update_plan),  cmocka_unit_test(test_update_refused),
		cmocka_unit_test(test_levels_rollback), cmocka_unit_test(test_update_vcpus),
		cmocka_unit_test(test_update_balloon), cmocka_unit_test(test_busy_balloon),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
