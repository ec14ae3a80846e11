/* values: hull-init's pure checks and conversions — paths, sysctl keys, cgroup file values, netlink requests. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "container/guest/guest.h"

size_t gi_path_next(const char **c, const char **name)
{
	size_t n;

	*c += strspn(*c, "/");
	*name = *c;
	n = strcspn(*c, "/");
	*c += n;
	return n;
}

bool gi_abs_path_ok(const char *p)
{
	const char *c = p, *name;
	size_t n;

	if (!p || p[0] != '/' || strlen(p) >= PATH_MAX)
		return false;
	while ((n = gi_path_next(&c, &name)))
		if ((n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.'))
			return false;
	return true;
}

int gi_parse_cidr(const char *text, uint32_t *addr, uint32_t *mask)
{
	char quad[INET_ADDRSTRLEN], *end;
	const char *slash = strchr(text, '/');
	struct in_addr a;
	unsigned long n;

	if (!slash || (size_t)(slash - text) >= sizeof(quad) || !slash[1])
		return -EINVAL;
	memcpy(quad, text, (size_t)(slash - text));
	quad[slash - text] = '\0';
	if (inet_pton(AF_INET, quad, &a) != 1 || slash[1] < '0' || slash[1] > '9')
		return -EINVAL;
	errno = 0;
	n = strtoul(slash + 1, &end, 10);
	if (errno || *end || n > 32)
		return -EINVAL;
	*addr = a.s_addr;
	*mask = n ? htonl(~0u << (32 - n)) : 0;
	return 0;
}

/* A request's header in buf, zeroed with room for its body. */
static struct nlmsghdr *nl_start(void *buf, uint16_t type, uint32_t seq, size_t body)
{
	struct nlmsghdr *nh = buf;

	memset(buf, 0, GI_NL_MSG_MAX);
	nh->nlmsg_len = (uint32_t)NLMSG_LENGTH(body);
	nh->nlmsg_type = type;
	nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
	nh->nlmsg_seq = seq;
	return nh;
}

/* An attribute appended to the request (the callers' fit in GI_NL_MSG_MAX). */
static void nl_attr(struct nlmsghdr *nh, uint16_t type, const void *data, size_t len)
{
	struct rtattr *rta = (struct rtattr *)(void *)((char *)nh + NLMSG_ALIGN(nh->nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = (uint16_t)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	nh->nlmsg_len = (uint32_t)(NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(rta->rta_len));
}

size_t gi_nl_addr6(void *buf, uint32_t seq, int ifindex, const uint8_t addr[16],
		   unsigned int prefix)
{
	struct nlmsghdr *nh = nl_start(buf, RTM_NEWADDR, seq, sizeof(struct ifaddrmsg));
	struct ifaddrmsg *ifa = NLMSG_DATA(nh);

	ifa->ifa_family = AF_INET6;
	ifa->ifa_prefixlen = (uint8_t)prefix;
	ifa->ifa_flags = IFA_F_NODAD;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)ifindex;
	nl_attr(nh, IFA_LOCAL, addr, 16);
	nl_attr(nh, IFA_ADDRESS, addr, 16);
	return nh->nlmsg_len;
}

size_t gi_nl_route6(void *buf, uint32_t seq, int ifindex, const uint8_t gw[16])
{
	struct nlmsghdr *nh = nl_start(buf, RTM_NEWROUTE, seq, sizeof(struct rtmsg));
	struct rtmsg *rtm = NLMSG_DATA(nh);
	uint32_t oif = (uint32_t)ifindex;

	rtm->rtm_family = AF_INET6;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_BOOT;
	rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	nl_attr(nh, RTA_GATEWAY, gw, 16);
	nl_attr(nh, RTA_OIF, &oif, sizeof(oif));
	return nh->nlmsg_len;
}

bool gi_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	return n && n <= NAME_MAX && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
}

int gi_sysctl_path(const char *kv, char *path, size_t n, const char **value)
{
	const char *eq = strchr(kv, '=');
	size_t klen, pre = strlen("/proc/sys/"), i;

	if (!eq || eq == kv)
		return -EINVAL;
	klen = (size_t)(eq - kv);
	/* A key names a file below /proc/sys: dots are the separators, as sysctl(8) has them. */
	if (memchr(kv, '/', klen) || kv[0] == '.' || kv[klen - 1] == '.')
		return -EINVAL;
	for (i = 0; i + 1 < klen; i++)
		if (kv[i] == '.' && kv[i + 1] == '.')
			return -EINVAL;
	if (pre + klen + 1 > n)
		return -ENAMETOOLONG;
	memcpy(path, "/proc/sys/", pre);
	for (i = 0; i < klen; i++)
		path[pre + i] = kv[i] == '.' ? '/' : kv[i];
	path[pre + klen] = '\0';
	*value = eq + 1;
	return 0;
}

static void num(struct gi_cgval *v, const char *file, uint64_t x)
{
	v->file = file;
	if (x == UINT64_MAX)
		snprintf(v->buf, sizeof(v->buf), "max");
	else
		snprintf(v->buf, sizeof(v->buf), "%" PRIu64, x);
	v->value = v->buf;
}

size_t gi_cgroup_values(const struct ctr_resources *r, struct gi_cgval out[GI_CGVAL_MAX])
{
	size_t n = 0;

	if (r->cpuset_cpus) {
		out[n].file = "cpuset.cpus";
		out[n++].value = r->cpuset_cpus;
	}
	if (r->cpuset_mems) {
		out[n].file = "cpuset.mems";
		out[n++].value = r->cpuset_mems;
	}
	if ((r->has_cpu_quota && r->cpu_quota) || r->has_cpu_period) {
		uint64_t period = r->has_cpu_period && r->cpu_period ? r->cpu_period : 100000;

		out[n].file = "cpu.max";
		if (r->has_cpu_quota && r->cpu_quota && r->cpu_quota != UINT64_MAX)
			snprintf(out[n].buf, sizeof(out[n].buf), "%" PRIu64 " %" PRIu64, r->cpu_quota,
				 period);
		else
			snprintf(out[n].buf, sizeof(out[n].buf), "max %" PRIu64, period);
		out[n].value = out[n].buf;
		n++;
	}
	if (r->has_cpu_weight)
		num(&out[n++], "cpu.weight", r->cpu_weight);
	if (r->has_mem_low)
		num(&out[n++], "memory.low", r->mem_low);
	if (r->has_mem_max)
		num(&out[n++], "memory.max", r->mem_max);
	if (r->has_swap_max)
		num(&out[n++], "memory.swap.max", r->swap_max);
	if (r->has_pids_max)
		num(&out[n++], "pids.max", r->pids_max);
	return n;
}
