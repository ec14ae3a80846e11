/* Unit tests for hull-init's pure values: path checks, sysctl paths, cgroup v2 file values. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "container/guest/guest.h"

static void test_paths(void **state)
{
	char longp[PATH_MAX + 2];

	(void)state;
	assert_true(gi_abs_path_ok("/"));
	assert_true(gi_abs_path_ok("/a/b"));
	assert_true(gi_abs_path_ok("//a//b/"));
	assert_true(gi_abs_path_ok("/a/..b/.c/b.."));
	assert_false(gi_abs_path_ok(NULL));
	assert_false(gi_abs_path_ok(""));
	assert_false(gi_abs_path_ok("a/b"));
	assert_false(gi_abs_path_ok("/a/../b"));
	assert_false(gi_abs_path_ok("/.."));
	assert_false(gi_abs_path_ok("/a/."));
	assert_false(gi_abs_path_ok("/a/./b"));
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_false(gi_abs_path_ok(longp));
	assert_true(gi_name_ok("data"));
	assert_true(gi_name_ok("..."));
	assert_false(gi_name_ok(NULL));
	assert_false(gi_name_ok(""));
	assert_false(gi_name_ok("."));
	assert_false(gi_name_ok(".."));
	assert_false(gi_name_ok("a/b"));
	memset(longp, 'a', NAME_MAX + 1);
	longp[NAME_MAX + 1] = '\0';
	assert_false(gi_name_ok(longp));
	longp[NAME_MAX] = '\0';
	assert_true(gi_name_ok(longp));
}

static void test_path_next(void **state)
{
	const char *c = "//ab///c/", *name = NULL;

	(void)state;
	assert_int_equal(gi_path_next(&c, &name), 2);
	assert_memory_equal(name, "ab", 2);
	assert_int_equal(gi_path_next(&c, &name), 1);
	assert_memory_equal(name, "c", 1);
	assert_int_equal(gi_path_next(&c, &name), 0);
	assert_int_equal(gi_path_next(&c, &name), 0);
	c = "";
	assert_int_equal(gi_path_next(&c, &name), 0);
	c = "rel";
	assert_int_equal(gi_path_next(&c, &name), 3);
}

static void test_sysctl(void **state)
{
	const char *v = NULL;
	char p[64];

	(void)state;
	assert_int_equal(gi_sysctl_path("net.ipv4.ip_forward=1", p, sizeof(p), &v), 0);
	assert_string_equal(p, "/proc/sys/net/ipv4/ip_forward");
	assert_string_equal(v, "1");
	assert_int_equal(gi_sysctl_path("kernel.msgmax=", p, sizeof(p), &v), 0);
	assert_string_equal(v, "");
	assert_int_equal(gi_sysctl_path("a=b=c", p, sizeof(p), &v), 0);
	assert_string_equal(p, "/proc/sys/a");
	assert_string_equal(v, "b=c");
	assert_int_equal(gi_sysctl_path("noequals", p, sizeof(p), &v), -EINVAL);
	assert_int_equal(gi_sysctl_path("=1", p, sizeof(p), &v), -EINVAL);
	assert_int_equal(gi_sysctl_path("net/../../etc=1", p, sizeof(p), &v), -EINVAL);
	assert_int_equal(gi_sysctl_path("net..x=1", p, sizeof(p), &v), -EINVAL);
	assert_int_equal(gi_sysctl_path(".net=1", p, sizeof(p), &v), -EINVAL);
	assert_int_equal(gi_sysctl_path("net.=1", p, sizeof(p), &v), -EINVAL);
	assert_int_equal(gi_sysctl_path("net.ipv4.a_very_long_key_name_here=1", p, 20, &v),
			 -ENAMETOOLONG);
}

static const char *value_of(const struct gi_cgval *v, size_t n, const char *file)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(v[i].file, file))
			return v[i].value;
	return NULL;
}

static void test_cgroup_values(void **state)
{
	struct ctr_resources r = { 0 };
	struct gi_cgval v[GI_CGVAL_MAX];
	char cpus[] = "0-1", mems[] = "0";
	size_t n;

	(void)state;
	/* Nothing set: nothing written. */
	assert_int_equal(gi_cgroup_values(&r, v), 0);
	r = (struct ctr_resources){ .cpu_quota = 50000, .has_cpu_quota = true };
	n = gi_cgroup_values(&r, v);
	assert_int_equal(n, 1);
	assert_string_equal(value_of(v, n, "cpu.max"), "50000 100000");
	r.cpu_period = 20000;
	r.has_cpu_period = true;
	assert_string_equal(value_of(v, gi_cgroup_values(&r, v), "cpu.max"), "50000 20000");
	r.has_cpu_quota = false;
	assert_string_equal(value_of(v, gi_cgroup_values(&r, v), "cpu.max"), "max 20000");
	r = (struct ctr_resources){
		.cpu_quota = 200000, .cpu_period = 100000, .cpu_weight = 39,
		.cpuset_cpus = cpus, .cpuset_mems = mems, .mem_max = 256 << 20,
		.swap_max = 0, .mem_low = 64 << 20, .pids_max = UINT64_MAX,
		.has_cpu_quota = true, .has_cpu_period = true, .has_cpu_weight = true,
		.has_mem_max = true, .has_swap_max = true, .has_mem_low = true,
		.has_pids_max = true,
	};
	n = gi_cgroup_values(&r, v);
	assert_int_equal(n, 8);
	assert_string_equal(v[0].file, "cpuset.cpus");
	assert_string_equal(v[0].value, "0-1");
	assert_string_equal(v[1].file, "cpuset.mems");
	assert_string_equal(value_of(v, n, "cpu.max"), "200000 100000");
	assert_string_equal(value_of(v, n, "cpu.weight"), "39");
	assert_string_equal(value_of(v, n, "memory.max"), "268435456");
	assert_string_equal(value_of(v, n, "memory.low"), "67108864");
	assert_string_equal(value_of(v, n, "memory.swap.max"), "0");
	assert_string_equal(value_of(v, n, "pids.max"), "max");
	r.mem_max = UINT64_MAX;
	assert_string_equal(value_of(v, gi_cgroup_values(&r, v), "memory.max"), "max");
	/* A zero quota is no quota. */
	r = (struct ctr_resources){ .cpu_quota = 0, .has_cpu_quota = true };
	assert_int_equal(gi_cgroup_values(&r, v), 0);
}

static void test_cidr(void **state)
{
	uint32_t addr, mask;

	(void)state;
	assert_int_equal(gi_parse_cidr("10.88.0.5/16", &addr, &mask), 0);
	assert_int_equal(addr, htonl(0x0a580005));
	assert_int_equal(mask, htonl(0xffff0000));
	assert_int_equal(gi_parse_cidr("192.168.1.1/32", &addr, &mask), 0);
	assert_int_equal(mask, 0xffffffff);
	assert_int_equal(gi_parse_cidr("0.0.0.0/0", &addr, &mask), 0);
	assert_int_equal(addr, 0);
	assert_int_equal(mask, 0);
	assert_int_equal(gi_parse_cidr("10.0.0.1/8", &addr, &mask), 0);
	assert_int_equal(mask, htonl(0xff000000));
	/* No prefix, a prefix past 32, signs and junk, not a dotted quad, too long a quad. */
	assert_int_equal(gi_parse_cidr("10.0.0.1", &addr, &mask), -EINVAL);
	assert_int_equal(gi_parse_cidr("10.0.0.1/", &addr, &mask), -EINVAL);
	assert_int_equal(gi_parse_cidr("10.0.0.1/33", &addr, &mask), -EINVAL);
	assert_int_equal(gi_parse_cidr("10.0.0.1/-1", &addr, &mask), -EINVAL);
	assert_int_equal(gi_parse_cidr("10.0.0.1/+8", &addr, &mask), -EINVAL);
	assert_int_equal(gi_parse_cidr("10.0.0.1/8x", &addr, &mask), -EINVAL);
	assert_int_equal(gi_parse_cidr("10.0.0.1/99999999999999999999", &addr, &mask), -EINVAL);
	assert_int_equal(gi_parse_cidr("10.0.0/8", &addr, &mask), -EINVAL);
	assert_int_equal(gi_parse_cidr("fe80::1/64", &addr, &mask), -EINVAL);
	assert_int_equal(gi_parse_cidr("1111111111111111111.0.0.1/8", &addr, &mask), -EINVAL);
	assert_int_equal(gi_parse_cidr("/8", &addr, &mask), -EINVAL);
}

/* The attribute of type in the request's attributes (from first, to the request's end). */
static const struct rtattr *attr(const struct nlmsghdr *nh, const void *first, uint16_t type)
{
	const struct rtattr *rta = first;
	int left = (int)nh->nlmsg_len - (int)((const char *)first - (const char *)nh);

	for (; RTA_OK(rta, left); rta = RTA_NEXT(rta, left))
		if (rta->rta_type == type)
			return rta;
	return NULL;
}

static void test_netlink6(void **state)
{
	uint8_t buf[GI_NL_MSG_MAX] __attribute__((aligned(4))), a[16], gw[16];
	const struct nlmsghdr *nh = (const void *)buf;
	const struct ifaddrmsg *ifa;
	const struct rtmsg *rtm;
	const struct rtattr *rta;
	size_t len;

	(void)state;
	assert_int_equal(inet_pton(AF_INET6, "fd77::5", a), 1);
	len = gi_nl_addr6(buf, 3, 7, a, 64);
	assert_int_equal(len, nh->nlmsg_len);
	assert_true(len <= sizeof(buf));
	assert_int_equal(nh->nlmsg_type, RTM_NEWADDR);
	assert_int_equal(nh->nlmsg_seq, 3);
	assert_int_equal(nh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
	ifa = NLMSG_DATA(nh);
	assert_int_equal(ifa->ifa_family, AF_INET6);
	assert_int_equal(ifa->ifa_prefixlen, 64);
	assert_int_equal(ifa->ifa_flags, IFA_F_NODAD); /* usable at once */
	assert_int_equal(ifa->ifa_index, 7);
	rta = attr(nh, IFA_RTA(ifa), IFA_LOCAL);
	assert_non_null(rta);
	assert_int_equal(RTA_PAYLOAD(rta), 16);
	assert_memory_equal(RTA_DATA(rta), a, 16);
	rta = attr(nh, IFA_RTA(ifa), IFA_ADDRESS);
	assert_non_null(rta);
	assert_memory_equal(RTA_DATA(rta), a, 16);

	assert_int_equal(inet_pton(AF_INET6, "fd77::1", gw), 1);
	len = gi_nl_route6(buf, 4, 7, gw);
	assert_int_equal(len, nh->nlmsg_len);
	assert_true(len <= sizeof(buf));
	assert_int_equal(nh->nlmsg_type, RTM_NEWROUTE);
	assert_int_equal(nh->nlmsg_seq, 4);
	rtm = NLMSG_DATA(nh);
	assert_int_equal(rtm->rtm_family, AF_INET6);
	assert_int_equal(rtm->rtm_dst_len, 0); /* ::/0 */
	assert_int_equal(rtm->rtm_table, RT_TABLE_MAIN);
	assert_int_equal(rtm->rtm_type, RTN_UNICAST);
	assert_int_equal(rtm->rtm_scope, RT_SCOPE_UNIVERSE);
	assert_null(attr(nh, RTM_RTA(rtm), RTA_DST));
	rta = attr(nh, RTM_RTA(rtm), RTA_GATEWAY);
	assert_non_null(rta);
	assert_memory_equal(RTA_DATA(rta), gw, 16);
	rta = attr(nh, RTM_RTA(rtm), RTA_OIF);
	assert_non_null(rta);
	assert_int_equal(*(const uint32_t *)RTA_DATA(rta), 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_path_next),
		cmocka_unit_test(test_sysctl),
		cmocka_unit_test(test_cgroup_values),
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_netlink6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
