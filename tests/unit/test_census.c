/* Unit tests for the census: milestones, exits by reason and by site, the sum over vCPUs, and
 * the control socket's "stats" member of the state reply. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <json.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/census.h"
#include "vmm/ctlproto.h"

static void now(struct timespec *t)
{
	clock_gettime(CLOCK_MONOTONIC, t);
}

static void test_milestones(void **state)
{
	struct milestones m;
	struct timespec start;
	int64_t a, b;

	(void)state;
	now(&start);
	milestones_init(&m, &start);
	assert_int_equal(milestone_ns(&m, MS_MEMORY), -1);
	milestone_mark(&m, MS_MEMORY);
	a = milestone_ns(&m, MS_MEMORY);
	assert_true(a >= 0);
	/* The first mark counts: a later one does not move it. */
	nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);
	milestone_mark(&m, MS_MEMORY);
	assert_int_equal(milestone_ns(&m, MS_MEMORY), a);
	milestone_mark(&m, MS_STOP);
	b = milestone_ns(&m, MS_STOP);
	assert_true(b >= a + 2000000);
	assert_int_equal(milestone_ns(&m, MS_LOADED), -1);
	/* Out of range: ignored, never reached. */
	milestone_mark(&m, MS_COUNT);
	assert_int_equal(milestone_ns(&m, MS_COUNT), -1);
	assert_string_equal(milestone_name(MS_FIRST_RUN), "first_run");
	assert_string_equal(milestone_name(MS_COUNT), "?");
}

static void test_milestone_before_start(void **state)
{
	struct milestones m;
	struct timespec later;

	(void)state;
	/* A start in the future (a clock read out of order) gives 0, not a negative time. */
	now(&later);
	later.tv_sec += 100;
	milestones_init(&m, &later);
	milestone_mark(&m, MS_FIRST_OUTPUT);
	assert_int_equal(milestone_ns(&m, MS_FIRST_OUTPUT), 0);
}

static void test_reasons(void **state)
{
	struct exit_census *c = calloc(1, sizeof(*c));
	const struct exit_census *cs[1] = { c };
	struct census_total t;
	char buf[16];

	(void)state;
	assert_non_null(c);
	census_exit(c, KVM_EXIT_IO);
	census_exit(c, KVM_EXIT_IO);
	census_exit(c, KVM_EXIT_HLT);
	census_exit(c, 1000);       /* past the table: "other" */
	census_exit(c, UINT32_MAX); /* the same */
	census_sum(cs, 1, &t);
	assert_int_equal(t.exits, 5);
	assert_int_equal(t.reasons[KVM_EXIT_IO], 2);
	assert_int_equal(t.reasons[KVM_EXIT_HLT], 1);
	assert_int_equal(t.reasons[CENSUS_REASONS], 2);
	assert_string_equal(census_reason_name(KVM_EXIT_MMIO, buf, sizeof(buf)), "mmio");
	assert_string_equal(census_reason_name(KVM_EXIT_S390_SIEIC, buf, sizeof(buf)),
			    "reason_13");
	assert_string_equal(census_reason_name(CENSUS_REASONS, buf, sizeof(buf)), "other");
	free(c);
}

static void test_sites(void **state)
{
	struct exit_census *c = calloc(1, sizeof(*c));
	const struct exit_census *cs[1] = { c };
	struct census_total *t = malloc(sizeof(*t));
	int i;

	(void)state;
	assert_non_null(c);
	assert_non_null(t);
	for (i = 0; i < 5; i++)
		census_access(c, false, 0x3f8, true);
	census_access(c, false, 0x3f8, false); /* a read is its own site */
	census_access(c, true, 0x3f8, true);   /* and MMIO at the same number */
	for (i = 0; i < 3; i++)
		census_access(c, true, 0xd0000050, true);
	census_sum(cs, 1, t);
	assert_int_equal(t->nsites, 4);
	/* Most first; equal counts: ports before MMIO, then by address and read before write. */
	assert_false(t->sites[0].mmio);
	assert_int_equal(t->sites[0].addr, 0x3f8);
	assert_true(t->sites[0].write);
	assert_int_equal(t->sites[0].count, 5);
	assert_true(t->sites[1].mmio);
	assert_int_equal(t->sites[1].addr, 0xd0000050);
	assert_int_equal(t->sites[1].count, 3);
	assert_false(t->sites[2].mmio);
	assert_false(t->sites[2].write);
	assert_true(t->sites[3].mmio);
	assert_int_equal(t->sites[3].addr, 0x3f8);
	assert_int_equal(t->other_sites, 0);
	free(t);
	free(c);
}

/* A guest touching a thousand addresses fills the table and no more: the rest are counted
 * together, and every access is counted once. */
static void test_sites_bounded(void **state)
{
	struct exit_census *c = calloc(1, sizeof(*c));
	const struct exit_census *cs[1] = { c };
	struct census_total *t = malloc(sizeof(*t));
	uint64_t sum = 0;
	unsigned int i;

	(void)state;
	assert_non_null(c);
	assert_non_null(t);
	for (i = 0; i < 1000; i++)
		census_access(c, true, 0xd0000000 + 4ull * i, i & 1);
	census_sum(cs, 1, t);
	assert_int_equal(t->nsites, CENSUS_SITES);
	for (i = 0; i < t->nsites; i++)
		sum += t->sites[i].count;
	assert_int_equal(sum + t->other_sites, 1000);
	assert_int_equal(t->other_sites, 1000 - CENSUS_SITES);
	/* Addresses past 2^61 keep their low bits and stay in range of the key. */
	census_access(c, true, UINT64_MAX, false);
	census_sum(cs, 1, t);
	assert_int_equal(t->other_sites, 1000 - CENSUS_SITES + 1);
	free(t);
	free(c);
}

/* Several vCPUs: one site seen by two is one line; past CENSUS_TOTAL_SITES, the rest counts. */
static void test_sum(void **state)
{
	enum { N = 6 };
	struct exit_census *c[N];
	const struct exit_census *cs[N];
	struct census_total *t = malloc(sizeof(*t));
	uint64_t sum = 0;
	unsigned int i, j;

	(void)state;
	assert_non_null(t);
	for (i = 0; i < N; i++) {
		c[i] = calloc(1, sizeof(*c[i]));
		assert_non_null(c[i]);
		cs[i] = c[i];
		census_exit(c[i], KVM_EXIT_MMIO);
		census_access(c[i], false, 0x70, true);
		/* CENSUS_SITES - 1 more each, all different: 6 * 63 > CENSUS_TOTAL_SITES. */
		for (j = 0; j < CENSUS_SITES - 1; j++)
			census_access(c[i], true, 0x100000ull * i + 8 * j, false);
	}
	census_sum(cs, N, t);
	assert_int_equal(t->exits, N);
	assert_int_equal(t->reasons[KVM_EXIT_MMIO], N);
	assert_int_equal(t->nsites, CENSUS_TOTAL_SITES);
	assert_false(t->sites[0].mmio);
	assert_int_equal(t->sites[0].addr, 0x70);
	assert_int_equal(t->sites[0].count, N);
	for (i = 0; i < t->nsites; i++)
		sum += t->sites[i].count;
	assert_int_equal(sum + t->other_sites, N * CENSUS_SITES);
	for (i = 0; i < N; i++)
		free(c[i]);
	free(t);
}

static struct json_object *member(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no \"%s\" in %s", key, json_object_to_json_string(o));
	return v;
}

/* The state reply carries the census as "stats", and leaves it out when there is none. */
static void test_state_reply(void **state)
{
	struct exit_census *c = calloc(1, sizeof(*c));
	const struct exit_census *cs[1] = { c };
	struct census_total *t = malloc(sizeof(*t));
	struct json_object *o, *st, *site;
	struct ctl_state s = { 0 };
	struct milestones m;
	struct timespec start;
	size_t len;
	char *line;

	(void)state;
	assert_non_null(c);
	assert_non_null(t);
	now(&start);
	milestones_init(&m, &start);
	milestone_mark(&m, MS_FIRST_RUN);
	census_exit(c, KVM_EXIT_IO);
	census_access(c, false, 0x3f8, true);
	census_sum(cs, 1, t);

	line = ctl_reply_state(&s, &len);
	assert_non_null(line);
	o = json_tokener_parse(line);
	assert_non_null(o);
	assert_false(json_object_object_get_ex(o, "stats", NULL));
	json_object_put(o);
	free(line);

	s.ms = &m;
	s.exits = t;
	line = ctl_reply_state(&s, &len);
	assert_non_null(line);
	o = json_tokener_parse(line);
	assert_non_null(o);
	st = member(o, "stats");
	assert_int_equal(json_object_get_uint64(member(st, "exits")), 1);
	assert_int_equal(json_object_get_uint64(member(member(st, "exit_reasons"), "io")), 1);
	assert_true(json_object_get_double(member(member(st, "milestones_ms"), "first_run")) >= 0);
	assert_false(json_object_object_get_ex(member(st, "milestones_ms"), "memory", NULL));
	assert_int_equal(json_object_array_length(member(st, "exit_sites")), 1);
	site = json_object_array_get_idx(member(st, "exit_sites"), 0);
	assert_string_equal(json_object_get_string(member(site, "bus")), "port");
	assert_int_equal(json_object_get_uint64(member(site, "addr")), 0x3f8);
	assert_string_equal(json_object_get_string(member(site, "dir")), "write");
	assert_int_equal(json_object_get_uint64(member(site, "count")), 1);
	json_object_put(o);
	free(line);
	free(t);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_milestones),
		cmocka_unit_test(test_milestone_before_start),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_sites),
		cmocka_unit_test(test_sites_bounded),
		cmocka_unit_test(test_sum),
		cmocka_unit_test(test_state_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
