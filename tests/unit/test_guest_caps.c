/* Unit tests for hull-init's capability plan: which capabilities, in which order. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "container/guest/guest.h"

#define CAP(n) (1ull << (n))

static size_t first(const struct gi_cap_op *ops, size_t n, enum gi_cap_op_kind kind)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ops[i].kind == kind)
			return i;
	fail_msg("no op of kind %d", kind);
	return n;
}

static void test_order(void **state)
{
	/* runc's default set: AUDIT_WRITE (29), KILL (5), NET_BIND_SERVICE (10). */
	uint64_t def = CAP(29) | CAP(5) | CAP(10);
	uint64_t caps[5] = { def, def, def, 0, CAP(10) };
	struct gi_cap_op ops[GI_CAP_OPS_MAX];
	size_t n = gi_caps_plan(caps, 40, ops), i, keep, ids, unkeep, set, clear;
	unsigned int dropped = 0, raised = 0;

	(void)state;
	keep = first(ops, n, GI_CAP_KEEP);
	ids = first(ops, n, GI_CAP_IDS);
	unkeep = first(ops, n, GI_CAP_UNKEEP);
	set = first(ops, n, GI_CAP_SET);
	clear = first(ops, n, GI_CAP_AMBIENT_CLEAR);
	/* Bounding drops while root with CAP_SETPCAP; ids under keepcaps; capset; then ambient. */
	assert_true(keep < ids);
	assert_true(ids < unkeep);
	assert_true(unkeep < set);
	assert_true(set < clear);
	for (i = 0; i < n; i++) {
		if (ops[i].kind == GI_CAP_BOUND_DROP) {
			assert_true(i < keep);
			assert_false(def & CAP(ops[i].cap));
			assert_true(ops[i].cap <= 40);
			dropped++;
		}
		if (ops[i].kind == GI_CAP_AMBIENT_RAISE) {
			assert_true(i > clear);
			assert_int_equal(ops[i].cap, 10);
			raised++;
		}
	}
	assert_int_equal(dropped, 41 - 3);
	assert_int_equal(raised, 1);
	assert_int_equal(n, dropped + 5 + raised);
}

static void test_all_and_none(void **state)
{
	uint64_t all[5] = { ~0ull, ~0ull, ~0ull, ~0ull, 0 };
	uint64_t none[5] = { 0 };
	struct gi_cap_op ops[GI_CAP_OPS_MAX];
	size_t n;

	(void)state;
	/* A privileged container: nothing dropped. */
	n = gi_caps_plan(all, 40, ops);
	assert_int_equal(n, 5);
	assert_int_equal(ops[0].kind, GI_CAP_KEEP);
	/* No capabilities: every one the kernel knows is dropped, none past it. */
	n = gi_caps_plan(none, 40, ops);
	assert_int_equal(n, 41 + 5);
	assert_int_equal(ops[40].cap, 40);
	/* A kernel reporting more than 64 capabilities is clamped to the mask's width. */
	n = gi_caps_plan(none, 1000, ops);
	assert_int_equal(n, 64 + 5);
	all[CTR_CAP_AMBIENT] = ~0ull;
	n = gi_caps_plan(all, 1000, ops);
	assert_true(n <= GI_CAP_OPS_MAX);
	assert_int_equal(n, 5 + 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_all_and_none),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
