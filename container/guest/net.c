/* net: an interface configured as the spec or START carries it (MTU, IPv4 addresses, up, the default route). */
#include <arpa/inet.h>
#include <errno.h>
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

int gi_net_config(const struct ctr_netif *n, char *err, size_t errlen)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret;

	if (fd < 0)
		return fail(err, errlen, -errno, "network: socket: %s", strerror(errno));
	ret = configure(fd, n, err, errlen);
	close(fd);
	return ret;
}
