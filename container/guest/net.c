/* net: an interface configured as the spec or START carries it (MTU, IPv4 and IPv6 addresses, up, the default routes). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "container/guest/guest.h"

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

static int ifr_call(int fd, unsigned long req, struct ifreq *ifr, const char *name,
		    const char *what, char *err, size_t errlen)
{
	if (ioctl(fd, req, ifr) == 0)
		return 0;
	return fail(err, errlen, -errno, "network %s: %s: %s", name, what, strerror(errno));
}

static void set_inet(struct ifreq *ifr, uint32_t addr)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr->ifr_addr;

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = addr;
}

static int configure(int fd, const struct ctr_netif *n, char *err, size_t errlen)
{
	struct sockaddr_in *gw;
	struct rtentry rt;
	struct ifreq ifr;
	uint32_t addr, mask;
	unsigned int j;
	int ret;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", n->name);
	if (n->mtu) {
		ifr.ifr_mtu = (int)n->mtu;
		ret = ifr_call(fd, SIOCSIFMTU, &ifr, n->name, "MTU", err, errlen);
		if (ret)
			return ret;
	}
	for (j = 0; j < n->naddrs; j++) {
		if (gi_parse_cidr(n->addrs[j], &addr, &mask))
			return fail(err, errlen, -EINVAL, "network %s: address %s: not "
				    "ADDRESS/PREFIX", n->name, n->addrs[j]);
		memset(&ifr, 0, sizeof(ifr));
		if (snprintf(ifr.ifr_name, IFNAMSIZ, j ? "%s:%u" : "%s", n->name, j) >= IFNAMSIZ)
			return fail(err, errlen, -ENAMETOOLONG, "network %s: no alias name for "
				    "address %s", n->name, n->addrs[j]);
		set_inet(&ifr, addr);
		ret = ifr_call(fd, SIOCSIFADDR, &ifr, ifr.ifr_name, n->addrs[j], err, errlen);
		if (ret)
			return ret;
		set_inet(&ifr, mask);
		ret = ifr_call(fd, SIOCSIFNETMASK, &ifr, ifr.ifr_name, n->addrs[j], err, errlen);
		if (ret)
			return ret;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", n->name);
	ret = ifr_call(fd, SIOCGIFFLAGS, &ifr, n->name, "flags", err, errlen);
	if (ret)
		return ret;
	ifr.ifr_flags |= IFF_UP;
	ret = ifr_call(fd, SIOCSIFFLAGS, &ifr, n->name, "up", err, errlen);
	if (ret || !n->gateway)
		return ret;
	memset(&rt, 0, sizeof(rt));
	gw = (struct sockaddr_in *)&rt.rt_gateway;
	((struct sockaddr_in *)&rt.rt_dst)->sin_family = AF_INET;
	((struct sockaddr_in *)&rt.rt_genmask)->sin_family = AF_INET;
	gw->sin_family = AF_INET;
	if (inet_pton(AF_INET, n->gateway, &gw->sin_addr) != 1)
		return fail(err, errlen, -EINVAL, "network %s: gateway %s: not an IPv4 address",
			    n->name, n->gateway);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	rt.rt_dev = ifr.ifr_name;
	if (ioctl(fd, SIOCADDRT, &rt))
		return fail(err, errlen, -errno, "network %s: default route via %s: %s", n->name,
			    n->gateway, strerror(errno));
	return 0;
}

/* One rtnetlink request sent on nl, and its ack read: 0, or the kernel's -errno. */
static int nl_ask(int nl, const void *req, size_t len)
{
	struct {
		struct nlmsghdr nh;
		struct nlmsgerr e;
	} ack;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	const struct nlmsghdr *nh = req;
	ssize_t n;

	if (sendto(nl, req, len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	/* The kernel has queued the ack (or the error) when sendto returns. */
	n = recv(nl, &ack, sizeof(ack), MSG_DONTWAIT);
	if (n < 0)
		return -errno;
	if ((size_t)n < sizeof(ack) || ack.nh.nlmsg_type != NLMSG_ERROR ||
	    ack.nh.nlmsg_seq != nh->nlmsg_seq)
		return -EPROTO;
	return ack.e.error;
}

/*
 * n's IPv6 addresses and IPv6 default route, the interface up: through rtnetlink, as the
 * ioctls cannot ask for an address without duplicate address detection. A kernel without
 * IPv6 is an error that says so: never a container that silently has IPv4 only.
 */
static int configure6(const struct ctr_netif *n, char *err, size_t errlen)
{
	uint8_t buf[GI_NL_MSG_MAX] __attribute__((aligned(4))), a[16];
	int nl, fd, ifindex, ret = 0;
	unsigned int j, prefix;
	uint32_t seq = 0;
	size_t len;

	if (!n->naddrs6 && !n->gateway6)
		return 0;
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 && errno == EAFNOSUPPORT)
		return fail(err, errlen, -EAFNOSUPPORT, "the guest kernel has no IPv6: cannot "
			    "configure %s on %s; use a kernel with CONFIG_IPV6",
			    n->naddrs6 ? n->addrs6[0] : n->gateway6, n->name);
	if (fd < 0)
		return fail(err, errlen, -errno, "network %s: IPv6 socket: %s", n->name,
			    strerror(errno));
	close(fd);
	ifindex = (int)if_nametoindex(n->name);
	if (!ifindex)
		return fail(err, errlen, -errno, "network %s: %s", n->name, strerror(errno));
	nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl < 0)
		return fail(err, errlen, -errno, "network %s: netlink: %s", n->name,
			    strerror(errno));
	for (j = 0; j < n->naddrs6 && !ret; j++) {
		if (ctr_inet6_prefix(n->addrs6[j], a, &prefix)) {
			ret = fail(err, errlen, -EINVAL, "network %s: address %s: not IPv6 "
				   "ADDRESS/PREFIX", n->name, n->addrs6[j]);
			break;
		}
		len = gi_nl_addr6(buf, ++seq, ifindex, a, prefix);
		ret = nl_ask(nl, buf, len);
		if (ret)
			fail(err, errlen, ret, "network %s: %s: %s", n->name, n->addrs6[j],
			     strerror(-ret));
	}
	if (!ret && n->gateway6) {
		if (inet_pton(AF_INET6, n->gateway6, a) != 1) {
			ret = fail(err, errlen, -EINVAL, "network %s: gateway %s: not an IPv6 "
				   "address", n->name, n->gateway6);
		} else {
			len = gi_nl_route6(buf, ++seq, ifindex, a);
			ret = nl_ask(nl, buf, len);
			if (ret)
				fail(err, errlen, ret, "network %s: default route via %s: %s",
				     n->name, n->gateway6, strerror(-ret));
		}
	}
	close(nl);
	return ret;
}

int gi_net_config(const struct ctr_netif *n, char *err, size_t errlen)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret;

	if (fd < 0)
		return fail(err, errlen, -errno, "network: socket: %s", strerror(errno));
	ret = configure(fd, n, err, errlen) ?: configure6(n, err, errlen);
	close(fd);
	return ret;
}
