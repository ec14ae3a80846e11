/* Unit tests for the per-vCPU CPUID fixup: APIC ids, topology, hypervisor leaves untouched. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "arch/x86_64/x86.h"

enum {
	L1,
	L4_0,
	L4_1,
	L4_NULL,
	LB_0,
	LB_1,
	LB_2,
	L8,
	L1E,
	HV0,
	HV1,
	HV2,
	L7,
	N
};

/* Something like what KVM_GET_SUPPORTED_CPUID returns, with sentinels where we expect no change. */
static void make_table(struct kvm_cpuid_entry2 *e)
{
	memset(e, 0, N * sizeof(*e));
	e[L1] = (struct kvm_cpuid_entry2){ .function = 0x1, .eax = 0x000806f8,
					   .ebx = 0xaabb0800, .ecx = 0x7ffafbff, .edx = 0xbfebfbff };
	/* Leaf 4 as a host with 8 cores and 2 threads per L1D would report it. */
	e[L4_0] = (struct kvm_cpuid_entry2){ .function = 0x4, .index = 0, .eax = 0x1c004121,
					     .ebx = 0x01c0003f, .ecx = 0x3f, .edx = 0 };
	e[L4_1] = (struct kvm_cpuid_entry2){ .function = 0x4, .index = 3, .eax = 0x1c03c163,
					     .ebx = 0x02c0003f, .ecx = 0x3fff, .edx = 6 };
	e[L4_NULL] = (struct kvm_cpuid_entry2){ .function = 0x4, .index = 4, .eax = 0 };
	e[LB_0] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 0, .eax = 1, .ebx = 2,
					     .ecx = 0x100, .edx = 0x77 };
	e[LB_1] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 1, .eax = 5, .ebx = 16,
					     .ecx = 0x201, .edx = 0x77 };
	e[LB_2] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 2, .eax = 9, .ebx = 9,
					     .ecx = 0x302, .edx = 0x77 };
	e[L8] = (struct kvm_cpuid_entry2){ .function = 0x80000008, .eax = 0x3030,
					   .ebx = 0x12345678, .ecx = 0xabcd700f, .edx = 0 };
	e[L1E] = (struct kvm_cpuid_entry2){ .function = 0x8000001e, .eax = 0x55, .ebx = 0xdead0107,
					    .ecx = 0x0302, .edx = 0 };
	e[HV0] = (struct kvm_cpuid_entry2){ .function = 0x40000000, .eax = 0x40000001,
					    .ebx = 0x4b4d564b, .ecx = 0x564b4d56, .edx = 0x4d };
	e[HV1] = (struct kvm_cpuid_entry2){ .function = 0x40000001, .eax = 0x01007afb,
					    .ebx = 0xffffffff, .ecx = 0x12345678, .edx = 0x1 };
	e[HV2] = (struct kvm_cpuid_entry2){ .function = 0x40000002, .index = 7, .flags = 1,
					    .eax = 0xdeadbeef, .ebx = 0xcafef00d, .ecx = 0x0b,
					    .edx = 0x0c };
	e[L7] = (struct kvm_cpuid_entry2){ .function = 0x7, .ebx = 0x029c6fbf, .ecx = 0x40000000,
					   .edx = 0xbc000400 };
}

static void fixup(struct kvm_cpuid_entry2 *e, unsigned int index, unsigned int ncpus)
{
	make_table(e);
	x86_cpuid_fixup(e, N, index, ncpus);
}

static void test_leaf1(void **state)
{
	struct kvm_cpuid_entry2 e[N];

	(void)state;
	fixup(e, 3, 4);
	assert_int_equal(e[L1].ebx >> 24, 3);
	assert_int_equal((e[L1].ebx >> 16) & 0xff, 4);
	assert_int_equal(e[L1].ebx & 0xffff, 0x0800); /* brand index, CLFLUSH size kept */
	assert_true(e[L1].ecx & (1u << 31));
	assert_true(e[L1].edx & (1u << 28));
	assert_int_equal(e[L1].eax, 0x000806f8);
	assert_int_equal(e[L1].ecx & 0x7fffffff, 0x7ffafbff);

	fixup(e, 0, 1);
	assert_int_equal(e[L1].ebx >> 24, 0);
	assert_int_equal((e[L1].ebx >> 16) & 0xff, 1);
	assert_true(e[L1].ecx & (1u << 31));
	assert_false(e[L1].edx & (1u << 28)); /* HTT only with several CPUs */
	assert_int_equal(e[L1].edx | (1u << 28), 0xbfebfbff);

	fixup(e, 254, 255);
	assert_int_equal(e[L1].ebx >> 24, 254);
	assert_int_equal((e[L1].ebx >> 16) & 0xff, 255);
}

static void test_leaf_b(void **state)
{
	struct kvm_cpuid_entry2 e[N];

	(void)state;
	fixup(e, 5, 6);
	/* SMT level: one thread, shift 0. */
	assert_int_equal(e[LB_0].eax & 0x1f, 0);
	assert_int_equal(e[LB_0].ebx & 0xffff, 1);
	assert_int_equal(e[LB_0].ecx & 0xff, 0);
	assert_int_equal((e[LB_0].ecx >> 8) & 0xff, 1);
	assert_int_equal(e[LB_0].edx, 5);
	/* Core level: all vCPUs, shift wide enough for them. */
	assert_int_equal(e[LB_1].eax & 0x1f, 3);
	assert_int_equal(e[LB_1].ebx & 0xffff, 6);
	assert_int_equal(e[LB_1].ecx & 0xff, 1);
	assert_int_equal((e[LB_1].ecx >> 8) & 0xff, 2);
	assert_int_equal(e[LB_1].edx, 5);
	/* No third level. */
	assert_int_equal(e[LB_2].eax, 0);
	assert_int_equal(e[LB_2].ebx, 0);
	assert_int_equal(e[LB_2].ecx & 0xff, 2);
	assert_int_equal((e[LB_2].ecx >> 8) & 0xff, 0);
	assert_int_equal(e[LB_2].edx, 5);

	fixup(e, 0, 1);
	assert_int_equal(e[LB_1].eax & 0x1f, 0);
	assert_int_equal(e[LB_1].ebx & 0xffff, 1);
	assert_int_equal(e[LB_0].edx, 0);
	fixup(e, 7, 8);
	assert_int_equal(e[LB_1].eax & 0x1f, 3);
	fixup(e, 8, 9);
	assert_int_equal(e[LB_1].eax & 0x1f, 4);
}

/* The package id the guest derives, APIC id >> shift, is the same for every vCPU. */
static void test_apic_ids_one_package(void **state)
{
	struct kvm_cpuid_entry2 e[N];
	unsigned int ncpus, i;

	(void)state;
	for (ncpus = 1; ncpus <= 255; ncpus++) {
		for (i = 0; i < ncpus; i++) {
			fixup(e, i, ncpus);
			if ((e[LB_1].edx >> (e[LB_1].eax & 0x1f)) != 0)
				fail_msg("vcpu %u of %u lands in package %u", i, ncpus,
					 e[LB_1].edx >> (e[LB_1].eax & 0x1f));
			assert_int_equal(e[L1].ebx >> 24, i);
		}
	}
}

static void test_leaf4(void **state)
{
	struct kvm_cpuid_entry2 e[N];

	(void)state;
	fixup(e, 0, 4);
	assert_int_equal(e[L4_0].eax >> 26, 3);
	assert_int_equal((e[L4_0].eax >> 14) & 0xfff, 0); /* no cache sharing between threads */
	assert_int_equal(e[L4_0].eax & 0x3ff, 0x121);    /* type, level kept */
	assert_int_equal(e[L4_0].ebx, 0x01c0003f);
	assert_int_equal(e[L4_1].eax >> 26, 3);
	assert_int_equal(e[L4_1].eax & 0x3ff, 0x163);
	assert_int_equal(e[L4_1].edx, 6);
	assert_int_equal(e[L4_NULL].eax, 0); /* the terminating null cache type stays null */
	fixup(e, 0, 1);
	assert_int_equal(e[L4_0].eax >> 26, 0);
}

/*
 * EAX[31:26] is a 6-bit field (cores per package - 1, at most 63). With more
 * than 64 vCPUs the value must saturate, not wrap around to a small count.
 */
static void test_leaf4_many_cpus(void **state)
{
	struct kvm_cpuid_entry2 e[N];
	unsigned int ncpus;

	(void)state;
	for (ncpus = 2; ncpus <= 255; ncpus++) {
		unsigned int want = ncpus - 1 > 63 ? 63 : ncpus - 1;

		fixup(e, 0, ncpus);
		if ((e[L4_0].eax >> 26) < want)
			fail_msg("%u vCPUs: leaf 4 says %u cores per package", ncpus,
				 (e[L4_0].eax >> 26) + 1);
		assert_int_equal(e[L4_0].eax & 0x3ff, 0x121);
	}
}

static void test_amd_leaves(void **state)
{
	struct kvm_cpuid_entry2 e[N];

	(void)state;
	fixup(e, 2, 3);
	assert_int_equal(e[L8].ecx & 0xff, 2);
	assert_int_equal((e[L8].ecx >> 12) & 0xf, 2);
	assert_int_equal(e[L8].ecx & ~0xf0ffu, 0xabcd700f & ~0xf0ffu);
	assert_int_equal(e[L8].eax, 0x3030);
	assert_int_equal(e[L8].ebx, 0x12345678);
	assert_int_equal(e[L1E].eax, 2);
	assert_int_equal(e[L1E].ebx & 0xff, 2);
	assert_int_equal((e[L1E].ebx >> 8) & 0xff, 0); /* one thread per compute unit */
	assert_int_equal(e[L1E].ebx >> 16, 0xdead);
	assert_int_equal(e[L1E].ecx, 0);
}

static void test_hypervisor_leaves_untouched(void **state)
{
	struct kvm_cpuid_entry2 e[N], ref[N];
	unsigned int ncpus;

	(void)state;
	for (ncpus = 1; ncpus <= 255; ncpus += 37) {
		make_table(ref);
		fixup(e, ncpus - 1, ncpus);
		assert_memory_equal(&e[HV0], &ref[HV0], sizeof(e[HV0]));
		assert_memory_equal(&e[HV1], &ref[HV1], sizeof(e[HV1]));
		assert_memory_equal(&e[HV2], &ref[HV2], sizeof(e[HV2]));
		/* Leaves hull does not own are left alone too. */
		assert_memory_equal(&e[L7], &ref[L7], sizeof(e[L7]));
	}
}

static void test_empty_table(void **state)
{
	struct kvm_cpuid_entry2 e[1];

	(void)state;
	memset(e, 0x5a, sizeof(e));
	x86_cpuid_fixup(e, 0, 0, 1);
	assert_int_equal(e[0].eax, 0x5a5a5a5a);
}

/* The TSC-deadline bit goes into leaf 1 only; the hypervisor leaves stay as KVM gave them. */
static void test_tsc_deadline(void **state)
{
	struct kvm_cpuid_entry2 e[N], ref[N];

	(void)state;
	make_table(e);
	e[L1].ecx &= ~(1u << 24);
	memcpy(ref, e, sizeof(e));
	x86_cpuid_tsc_deadline(e, N);
	assert_int_equal(e[L1].ecx, ref[L1].ecx | (1u << 24));
	e[L1].ecx = ref[L1].ecx;
	assert_memory_equal(e, ref, sizeof(e));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_leaf1),
		cmocka_unit_test(test_leaf_b),
		cmocka_unit_test(test_apic_ids_one_package),
		cmocka_unit_test(test_leaf4),
		cmocka_unit_test(test_leaf4_many_cpus),
		cmocka_unit_test(test_amd_leaves),
		cmocka_unit_test(test_hypervisor_leaves_untouched),
		cmocka_unit_test(test_empty_table),
		cmocka_unit_test(test_tsc_deadline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
