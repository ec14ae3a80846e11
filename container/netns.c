/* netns: the container's network namespace (config.json's path, or the VMM's own that docker wires), its interface bridged to the guest. */
#include "container/netns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/ipv6.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/parse.h"

int ctr_netns_gateway(const char *route, const char *ifname, char *gw, size_t gwlen)
{
	const char *line = strchr(route, '\n'); /* past the header */
	char name[IFNAMSIZ + 1];
	unsigned int dst, via, flags, mask;
	struct in_addr a;
	int n;

	while (line && *++line) {
		/* Iface Destination Gateway Flags RefCnt Use Metric Mask ... */
		n = sscanf(line, "%16s %x %x %x %*d %*u %*d %x", name, &dst, &via, &flags, &mask);
		if (n != 5)
			return -EINVAL;
		line = strchr(line, '\n');
		/* RTF_UP 0x1, RTF_GATEWAY 0x2: a default route through a gateway. */
		if (strcmp(name, ifname) || dst || mask || (flags & 3) != 3)
			continue;
		a.s_addr = via; /* printed as the kernel holds it: network order */
		return inet_ntop(AF_INET, &a, gw, (socklen_t)gwlen) ? 0 : -ENOSPC;
	}
	return -ENOENT;
}

/* 32 hex digits, as /proc/net/ipv6_route prints an address, into a. */
static bool hex128(const char *hex, struct in6_addr *a)
{
	unsigned int i, b;

	if (strlen(hex) != 32 || strspn(hex, "0123456789abcdefABCDEF") != 32)
		return false;
	for (i = 0; i < 16; i++) {
		sscanf(hex + 2 * i, "%2x", &b);
		a->s6_addr[i] = (uint8_t)b;
	}
	return true;
}

int ctr_netns_gateway6(const char *route, const char *ifname, char *gw, size_t gwlen)
{
	char dst[33], via[33], name[IFNAMSIZ + 1];
	unsigned int plen, flags;
	struct in6_addr d, a;
	const char *line;
	int n;

	for (line = route; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		/* Destination Plen Source Plen NextHop Metric RefCnt Use Flags Iface */
		n = sscanf(line, "%32s %x %*32s %*x %32s %*x %*x %*x %x %16s", dst, &plen, via,
			   &flags, name);
		if (n != 5 || !hex128(dst, &d) || !hex128(via, &a))
			return -EINVAL;
		/* RTF_UP 0x1, RTF_GATEWAY 0x2: a default route through a gateway. */
		if (strcmp(name, ifname) || plen || !IN6_IS_ADDR_UNSPECIFIED(&d) || (flags & 3) != 3)
			continue;
		return inet_ntop(AF_INET6, &a, gw, (socklen_t)gwlen) ? 0 : -ENOSPC;
	}
	return -ENOENT;
}

/* A netmask's prefix length: its bits set (IPv4 or IPv6). */
static int prefix_len(const struct sockaddr *mask)
{
	const uint8_t *b;
	int n = 0, i, len;

	if (!mask)
		return 0;
	if (mask->sa_family == AF_INET6) {
		b = ((const struct sockaddr_in6 *)mask)->sin6_addr.s6_addr;
		len = 16;
	} else {
		b = (const uint8_t *)&((const struct sockaddr_in *)mask)->sin_addr;
		len = 4;
	}
	for (i = 0; i < len; i++)
		n += __builtin_popcount(b[i]);
	return n;
}

/* hull's own interfaces in the namespace: never the one to adopt. */
static bool hulls(const char *name)
{
	return !strcmp(name, CTR_NETNS_TAP) || !strcmp(name, CTR_NETNS_BRIDGE);
}

/*
 * An address of the guest's: IPv4, or IPv6 that is not link-local (the interface's own, made
 * from its MAC: the guest makes its own from its own), loopback or multicast.
 */
static bool guests(const struct sockaddr *sa)
{
	const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

	if (sa->sa_family == AF_INET)
		return true;
	return sa->sa_family == AF_INET6 && !IN6_IS_ADDR_LINKLOCAL(a) &&
	       !IN6_IS_ADDR_LOOPBACK(a) && !IN6_IS_ADDR_MULTICAST(a) &&
	       !IN6_IS_ADDR_UNSPECIFIED(a);
}

/* "ADDR/PREFIX" text appended to nif's IPv4 or IPv6 addresses; what names where they are from. */
static int push_addr(struct ctr_netif *nif, bool v6, const char *text, const char *what,
		     char *err, size_t errlen)
{
	char ***v = v6 ? &nif->addrs6 : &nif->addrs;
	unsigned int *n = v6 ? &nif->naddrs6 : &nif->naddrs;

	if (*n == CTR_NETNS_ADDRS_MAX)
		return parse_fail(err, errlen, -E2BIG, "%s: more than %d %s addresses", what,
				  CTR_NETNS_ADDRS_MAX, v6 ? "IPv6" : "IPv4");
	if ((!*v && !(*v = calloc(CTR_NETNS_ADDRS_MAX, sizeof(char *)))) ||
	    !((*v)[*n] = strdup(text)))
		return parse_fail(err, errlen, -ENOMEM, "%s", strerror(ENOMEM));
	(*n)++;
	return 0;
}

/* ifa's address as "ADDR/PREFIX" appended to nif's IPv4 or IPv6 ones. */
static int add_addr(const struct ifaddrs *ifa, struct ctr_netif *nif, char *err, size_t errlen)
{
	bool v6 = ifa->ifa_addr->sa_family == AF_INET6;
	char addr[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN + 12];
	const void *a = v6 ? (const void *)&((struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr
			   : (const void *)&((struct sockaddr_in *)ifa->ifa_addr)->sin_addr;

	inet_ntop(ifa->ifa_addr->sa_family, a, addr, sizeof(addr));
	snprintf(text, sizeof(text), "%s/%d", addr, prefix_len(ifa->ifa_netmask));
	return push_addr(nif, v6, text, ifa->ifa_name, err, errlen);
}

/*
 * The first non-loopback interface with an IPv4 address or a global IPv6 one: its name and
 * those addresses into nif.
 */
static int find_interface(char *ifname, struct ctr_netif *nif, char *err, size_t errlen)
{
	struct ifaddrs *all, *i;
	int ret = 0;

	if (getifaddrs(&all))
		return parse_fail(err, errlen, -errno, "its interfaces: %s", strerror(errno));
	ifname[0] = '\0';
	for (i = all; i && !ret; i = i->ifa_next) {
		if (!i->ifa_addr || !guests(i->ifa_addr) || (i->ifa_flags & IFF_LOOPBACK) ||
		    strlen(i->ifa_name) >= IFNAMSIZ || hulls(i->ifa_name))
			continue;
		if (!ifname[0])
			snprintf(ifname, IFNAMSIZ, "%s", i->ifa_name);
		else if (strcmp(ifname, i->ifa_name))
			continue; /* one interface: the first one's */
		ret = add_addr(i, nif, err, errlen);
	}
	freeifaddrs(all);
	return ret;
}

/*
 * The default gateway through ifname that parse finds in the route file at path into *gw
 * (left NULL when there is none). A missing file is no route: /proc/net/ipv6_route is not
 * there when the host has no IPv6.
 */
static int read_gateway(const char *path, int (*parse)(const char *, const char *, char *,
						       size_t),
			const char *ifname, char **gw, char *err, size_t errlen)
{
	char *text = malloc(CTR_NETNS_ROUTE_MAX), via[INET6_ADDRSTRLEN];
	size_t len = 0;
	ssize_t n;
	int fd, ret;

	if (!text)
		return parse_fail(err, errlen, -ENOMEM, "%s", strerror(ENOMEM));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = errno == ENOENT ? 0 : parse_fail(err, errlen, -errno, "%s: %s", path,
							strerror(errno));
		goto out;
	}
	while (len < CTR_NETNS_ROUTE_MAX - 1 &&
	       (n = read(fd, text + len, CTR_NETNS_ROUTE_MAX - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	text[len] = '\0';
	ret = parse(text, ifname, via, sizeof(via));
	if (ret == -ENOENT) {
		ret = 0; /* no default route: the guest gets none */
	} else if (ret) {
		parse_fail(err, errlen, ret, "%s: %s", path, strerror(-ret));
	} else if (!(*gw = strdup(via))) {
		ret = parse_fail(err, errlen, -ENOMEM, "%s", strerror(ENOMEM));
	}
out:
	free(text);
	return ret;
}

static int ifr_call(int s, unsigned long req, struct ifreq *ifr, const char *name,
		    const char *what, char *err, size_t errlen)
{
	if (ioctl(s, req, ifr) == 0)
		return 0;
	return parse_fail(err, errlen, -errno, "%s: %s: %s", name, what, strerror(errno));
}

static int set_up(int s, const char *name, char *err, size_t errlen)
{
	struct ifreq ifr = { 0 };
	int ret;

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	ret = ifr_call(s, SIOCGIFFLAGS, &ifr, name, "flags", err, errlen);
	ifr.ifr_flags |= IFF_UP;
	return ret ?: ifr_call(s, SIOCSIFFLAGS, &ifr, name, "up", err, errlen);
}

/*
 * A persistent TAP with hull's tap backend's flags (it opens it again by name). One in use
 * is another VM's: one VM per container, and a namespace's network goes to one VM.
 */
static int make_tap(char *err, size_t errlen)
{
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return parse_fail(err, errlen, -errno, "/dev/net/tun: %s", strerror(errno));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", CTR_NETNS_TAP);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr)) {
		int e = errno;

		ret = e == EBUSY ? parse_fail(err, errlen, -EBUSY, "%s is in use: another hull VM "
					      "has this namespace's network (hull gives each "
					      "container its own VM, so containers sharing a "
					      "network namespace, as a pod's do, cannot all have "
					      "it)", CTR_NETNS_TAP)
				 : parse_fail(err, errlen, -e, "%s: TUNSETIFF: %s", CTR_NETNS_TAP,
					      strerror(e));
	}
	if (!ret && ioctl(fd, TUNSETPERSIST, 1))
		ret = parse_fail(err, errlen, -errno, "%s: TUNSETPERSIST: %s", CTR_NETNS_TAP,
				 strerror(errno));
	close(fd);
	return ret;
}

/*
 * One rtnetlink request of len bytes and the kernel's one answer into reply (cap bytes): 0, the
 * error an NLMSG_ERROR carries (0 for an ack), or -errno. An answer other than an error is
 * whole (its nlmsg_len within what arrived); an error's copy of the request may be cut off.
 */
static int rtnl(const void *req, size_t len, void *reply, size_t cap)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	const struct nlmsghdr *nh = reply;
	ssize_t n;
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), ret;

	if (s < 0)
		return -errno;
	ret = sendto(s, req, len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0 ? -errno : 0;
	if (!ret) {
		/* The kernel answers at once, in one message. */
		n = recv(s, reply, cap, 0);
		if (n < 0)
			ret = -errno;
		else if ((size_t)n < NLMSG_LENGTH(sizeof(int)))
			ret = -EPROTO;
		else if (nh->nlmsg_type == NLMSG_ERROR)
			ret = ((const struct nlmsgerr *)NLMSG_DATA(nh))->error;
		else if (nh->nlmsg_len > (size_t)n)
			ret = -EPROTO;
	}
	close(s);
	return ret;
}

/*
 * An rtnetlink request about link ifname: its header (len bytes in all, NLM_F_REQUEST and
 * flags) and ifinfomsg (family, the link's index). 0, or -errno when there is no such link.
 */
static int link_req(struct nlmsghdr *nh, struct ifinfomsg *ifi, size_t len, uint16_t type,
		    uint16_t flags, unsigned char family, const char *ifname, char *err,
		    size_t errlen)
{
	nh->nlmsg_len = (uint32_t)len;
	nh->nlmsg_type = type;
	nh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	nh->nlmsg_seq = 1;
	ifi->ifi_family = family;
	ifi->ifi_index = (int)if_nametoindex(ifname);
	if (!ifi->ifi_index)
		return parse_fail(err, errlen, -errno, "%s: %s", ifname, strerror(errno));
	return 0;
}

/*
 * Port ifname learns no addresses (IFLA_BRPORT_LEARNING 0, one RTM_SETLINK; the legacy bridge
 * ioctls have no such flag). What arrives there is from the network, never the guest: a host
 * side in hairpin mode (docker's bridge with --userland-proxy=false) sends the guest's own
 * broadcasts back, and a port that learned the guest's MAC from them would swallow the answers
 * meant for it. With one other port (the TAP) nothing needs to be learned there.
 */
static int no_learning(const char *ifname, char *err, size_t errlen)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
		struct nlattr protinfo, learning;
		uint8_t off, pad[3];
	} req = { 0 };
	struct {
		struct nlmsghdr nh;
		struct nlmsgerr e;
	} ack;
	int ret;

	ret = link_req(&req.nh, &req.ifi, sizeof(req), RTM_SETLINK, NLM_F_ACK, AF_BRIDGE, ifname,
		       err, errlen);
	if (ret)
		return ret;
	req.protinfo.nla_type = IFLA_PROTINFO | NLA_F_NESTED;
	req.protinfo.nla_len = (uint16_t)(2 * sizeof(struct nlattr) + 4);
	req.learning.nla_type = IFLA_BRPORT_LEARNING;
	req.learning.nla_len = (uint16_t)(sizeof(struct nlattr) + 1);
	ret = rtnl(&req, sizeof(req), &ack, sizeof(ack));
	if (ret)
		return parse_fail(err, errlen, ret, "%s: learning off on the bridge: %s", ifname,
				  strerror(-ret));
	return 0;
}

/* ifname a port of the bridge (whose MTU follows its ports'), up. */
static int add_port(const char *ifname, int s, char *err, size_t errlen)
{
	struct ifreq ifr = { 0 };
	int ret;

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", CTR_NETNS_BRIDGE);
	ifr.ifr_ifindex = (int)if_nametoindex(ifname);
	if (!ifr.ifr_ifindex)
		return parse_fail(err, errlen, -errno, "%s: %s", ifname, strerror(errno));
	ret = ifr_call(s, SIOCBRADDIF, &ifr, CTR_NETNS_BRIDGE, ifname, err, errlen);
	return ret ?: set_up(s, ifname, err, errlen);
}

/* The bridge, with the TAP as its first port, up. */
static int make_bridge(int s, char *err, size_t errlen)
{
	if (ioctl(s, SIOCBRADDBR, CTR_NETNS_BRIDGE))
		return parse_fail(err, errlen, -errno, "bridge %s: %s (is the bridge module "
				  "there?)", CTR_NETNS_BRIDGE, strerror(errno));
	return add_port(CTR_NETNS_TAP, s, err, errlen) ?: set_up(s, CTR_NETNS_BRIDGE, err, errlen);
}

static int inet_socket(char *err, size_t errlen)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	return s >= 0 ? s : parse_fail(err, errlen, -errno, "socket: %s", strerror(errno));
}

/* The interface's IPv4 addresses removed (setting 0.0.0.0 deletes the primary one and its
 * secondaries): the guest answers for them, not the namespace's own stack. */
static int clear_addrs(const char *ifname, unsigned int naddrs, int s, char *err,
		       size_t errlen)
{
	struct ifreq ifr;
	unsigned int i;

	for (i = 0; i < naddrs; i++) {
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
		ifr.ifr_addr.sa_family = AF_INET;
		if (ioctl(s, SIOCSIFADDR, &ifr) == 0)
			continue;
		if (errno == EADDRNOTAVAIL && i)
			break; /* the secondaries went with the primary */
		return parse_fail(err, errlen, -errno, "%s: removing its address: %s", ifname,
				  strerror(errno));
	}
	return 0;
}

/* The interface's IPv6 addresses (nif's) removed, one by one. */
static int clear_addrs6(const char *ifname, const struct ctr_netif *nif, char *err,
			size_t errlen)
{
	struct in6_ifreq r;
	unsigned int i, prefix;
	int s, ret = 0;

	if (!nif->naddrs6)
		return 0;
	s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return parse_fail(err, errlen, -errno, "IPv6 socket: %s", strerror(errno));
	for (i = 0; i < nif->naddrs6 && !ret; i++) {
		memset(&r, 0, sizeof(r));
		r.ifr6_ifindex = (int)if_nametoindex(ifname);
		if (ctr_inet6_prefix(nif->addrs6[i], r.ifr6_addr.s6_addr, &prefix)) {
			ret = parse_fail(err, errlen, -EINVAL, "%s: address %s: not IPv6",
					 ifname, nif->addrs6[i]);
			break;
		}
		r.ifr6_prefixlen = prefix;
		if (ioctl(s, SIOCDIFADDR, &r))
			ret = parse_fail(err, errlen, -errno, "%s: removing its address %s: %s",
					 ifname, nif->addrs6[i], strerror(errno));
	}
	close(s);
	return ret;
}

/*
 * The interface ifname handed to the guest, the TAP and the bridge made already: its MTU and
 * default gateways into nif (its addresses are there), its addresses removed, the TAP given its
 * MTU and the interface made a port of the bridge that learns nothing.
 */
static int adopt(const char *ifname, struct ctr_netif *nif, int s, char *err, size_t errlen)
{
	struct ifreq ifr = { 0 };
	int ret;

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	ret = ifr_call(s, SIOCGIFMTU, &ifr, ifname, "MTU", err, errlen) ?:
	      read_gateway("/proc/net/route", ctr_netns_gateway, ifname, &nif->gateway, err,
			   errlen) ?:
	      read_gateway("/proc/net/ipv6_route", ctr_netns_gateway6, ifname, &nif->gateway6,
			   err, errlen);
	if (ret)
		return ret;
	nif->mtu = (uint32_t)ifr.ifr_mtu;
	nif->name = strdup(CTR_NETNS_GUEST_IF);
	if (!nif->name)
		return parse_fail(err, errlen, -ENOMEM, "%s", strerror(ENOMEM));
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", CTR_NETNS_TAP);
	ifr.ifr_mtu = (int)nif->mtu;
	return clear_addrs(ifname, nif->naddrs, s, err, errlen) ?:
	       clear_addrs6(ifname, nif, err, errlen) ?:
	       ifr_call(s, SIOCSIFMTU, &ifr, CTR_NETNS_TAP, "MTU", err, errlen) ?:
	       add_port(ifname, s, err, errlen) ?: no_learning(ifname, err, errlen);
}

/*
 * What a guest took from the namespace, kept on the bridge as its alias (IFLA_IFALIAS, at most
 * ALIAS_MAX - 1 bytes): "hull-netif mtu=1500 gw=10.88.0.1 a=10.88.0.5/16 a6=fd00::5/64 ...".
 * The addresses went into that guest; a VM started in the namespace after it ended (a pod's
 * container restarted) reads them back from here. Set by whoever may configure the
 * namespace's links (its engine, hull), never by a guest.
 */
#define RECORD "hull-netif"
#define ALIAS_MAX 256 /* IFALIASZ, of linux/if.h (which clashes with net/if.h) */

static int append(char *buf, size_t cap, size_t *off, const char *key, const char *value)
{
	int n = snprintf(buf + *off, cap - *off, " %s=%s", key, value);

	if (n < 0 || (size_t)n >= cap - *off)
		return -ENOSPC;
	*off += (size_t)n;
	return 0;
}

/* The bridge's alias set to text ("" clears it). */
static int set_alias(const char *text, char *err, size_t errlen)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
		struct rtattr rta;
		char alias[ALIAS_MAX];
	} req = { 0 };
	struct {
		struct nlmsghdr nh;
		struct nlmsgerr e;
	} ack;
	size_t n = strlen(text) + 1;
	int ret;

	if (n > sizeof(req.alias))
		return parse_fail(err, errlen, -ENOSPC, "bridge %s: alias too long",
				  CTR_NETNS_BRIDGE);
	ret = link_req(&req.nh, &req.ifi, NLMSG_LENGTH(sizeof(req.ifi) + RTA_LENGTH(n)),
		       RTM_SETLINK, NLM_F_ACK, AF_UNSPEC, CTR_NETNS_BRIDGE, err, errlen);
	if (ret)
		return ret;
	req.rta.rta_type = IFLA_IFALIAS;
	req.rta.rta_len = (unsigned short)RTA_LENGTH(n);
	memcpy(req.alias, text, n);
	ret = rtnl(&req, req.nh.nlmsg_len, &ack, sizeof(ack));
	if (ret)
		return parse_fail(err, errlen, ret, "bridge %s: setting its alias: %s",
				  CTR_NETNS_BRIDGE, strerror(-ret));
	return 0;
}

/*
 * nif's addresses, gateways and MTU recorded on the bridge. One that does not fit in an alias
 * (many IPv6 addresses) is not recorded: the record is cleared, and a later VM of the
 * namespace finds no network, as before there was a record.
 */
static int record(const struct ctr_netif *nif, char *err, size_t errlen)
{
	char text[ALIAS_MAX], mtu[16];
	size_t off;
	unsigned int i;
	int ret;

	off = (size_t)snprintf(text, sizeof(text), "%s", RECORD);
	snprintf(mtu, sizeof(mtu), "%u", nif->mtu);
	ret = append(text, sizeof(text), &off, "mtu", mtu);
	if (!ret && nif->gateway)
		ret = append(text, sizeof(text), &off, "gw", nif->gateway);
	if (!ret && nif->gateway6)
		ret = append(text, sizeof(text), &off, "gw6", nif->gateway6);
	for (i = 0; !ret && i < nif->naddrs; i++)
		ret = append(text, sizeof(text), &off, "a", nif->addrs[i]);
	for (i = 0; !ret && i < nif->naddrs6; i++)
		ret = append(text, sizeof(text), &off, "a6", nif->addrs6[i]);
	return set_alias(ret ? "" : text, err, errlen);
}

/* Whether text is "ADDR/PREFIX" of the family v6 says. */
static bool cidr(const char *text, bool v6)
{
	char addr[INET6_ADDRSTRLEN], *end;
	const char *slash = strchr(text, '/');
	uint8_t bin[16];
	unsigned long prefix;

	if (!slash || (size_t)(slash - text) >= sizeof(addr))
		return false;
	memcpy(addr, text, (size_t)(slash - text));
	addr[slash - text] = '\0';
	errno = 0;
	prefix = strtoul(slash + 1, &end, 10);
	return inet_pton(v6 ? AF_INET6 : AF_INET, addr, bin) == 1 && slash[1] && !*end &&
	       !errno && prefix <= (v6 ? 128 : 32);
}

/* Whether text is an address of the family v6 says. */
static bool address(const char *text, bool v6)
{
	uint8_t bin[16];

	return inet_pton(v6 ? AF_INET6 : AF_INET, text, bin) == 1;
}

/* One "key=value" of a record into nif. */
static int recall_field(char *field, struct ctr_netif *nif, char *err, size_t errlen)
{
	char *eq = strchr(field, '='), *value, *end;
	unsigned long mtu;

	if (!eq)
		goto bad;
	*eq = '\0';
	value = eq + 1;
	if (!strcmp(field, "mtu")) {
		errno = 0;
		mtu = strtoul(value, &end, 10);
		if (!*value || *end || errno || mtu < 68 || mtu > 65535)
			goto bad;
		nif->mtu = (uint32_t)mtu;
		return 0;
	}
	if (!strcmp(field, "a") || !strcmp(field, "a6")) {
		if (!cidr(value, field[1] == '6'))
			goto bad;
		return push_addr(nif, field[1] == '6', value, "bridge " CTR_NETNS_BRIDGE "'s record",
				 err, errlen);
	}
	if (!strcmp(field, "gw") || !strcmp(field, "gw6")) {
		char **gw = field[2] == '6' ? &nif->gateway6 : &nif->gateway;

		if (*gw || !address(value, field[2] == '6'))
			goto bad;
		*gw = strdup(value);
		return *gw ? 0 : parse_fail(err, errlen, -ENOMEM, "%s", strerror(ENOMEM));
	}
bad:
	if (eq)
		*eq = '='; /* the whole field in the message */
	return parse_fail(err, errlen, -EINVAL, "bridge %s's record: bad field '%.60s'",
			  CTR_NETNS_BRIDGE, field);
}

/*
 * The record a VM of this namespace left on the bridge, read into nif: 1 when there is one, 0
 * when there is none, or -errno with the cause in err.
 */
static int recall(struct ctr_netif *nif, char *err, size_t errlen)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = { 0 };
	union {
		struct nlmsghdr nh;
		char buf[16384];
	} reply;
	char text[ALIAS_MAX], *field, *save;
	const struct ifinfomsg *ifi;
	struct rtattr *rta;
	int left, ret;

	if (!if_nametoindex(CTR_NETNS_BRIDGE))
		return 0; /* no bridge, no record */
	ret = link_req(&req.nh, &req.ifi, sizeof(req), RTM_GETLINK, 0, AF_UNSPEC,
		       CTR_NETNS_BRIDGE, err, errlen) ?:
	      rtnl(&req, sizeof(req), &reply, sizeof(reply));
	if (!ret && (reply.nh.nlmsg_type != RTM_NEWLINK ||
		     reply.nh.nlmsg_len < NLMSG_LENGTH(sizeof(*ifi))))
		ret = -EPROTO;
	if (ret)
		return parse_fail(err, errlen, ret, "bridge %s: %s", CTR_NETNS_BRIDGE,
				  strerror(-ret));
	ifi = NLMSG_DATA(&reply.nh);
	text[0] = '\0';
	left = (int)(reply.nh.nlmsg_len - NLMSG_LENGTH(sizeof(*ifi)));
	for (rta = IFLA_RTA(ifi); RTA_OK(rta, left); rta = RTA_NEXT(rta, left)) {
		size_t n = RTA_PAYLOAD(rta);

		if (rta->rta_type != IFLA_IFALIAS)
			continue;
		n = n < sizeof(text) ? n : sizeof(text) - 1;
		memcpy(text, RTA_DATA(rta), n);
		text[n] = '\0';
	}
	field = strtok_r(text, " ", &save);
	if (!field || strcmp(field, RECORD))
		return 0;
	while ((field = strtok_r(NULL, " ", &save)))
		if ((ret = recall_field(field, nif, err, errlen)))
			return ret;
	if (!nif->mtu || (!nif->naddrs && !nif->naddrs6))
		return parse_fail(err, errlen, -EINVAL, "bridge %s's record: no MTU or no address",
				  CTR_NETNS_BRIDGE);
	nif->name = strdup(CTR_NETNS_GUEST_IF);
	return nif->name ? 1 : parse_fail(err, errlen, -ENOMEM, "%s", strerror(ENOMEM));
}

/* The TAP and the bridge, in the namespace the caller is in. */
static int make_ports(int s, char *err, size_t errlen)
{
	return make_tap(err, errlen) ?: make_bridge(s, err, errlen);
}

/*
 * The interface found in the caller's namespace handed to the guest (the TAP and the bridge
 * made first when make): what ctr_netns_join and ctr_netns_adopt share.
 */
static int take(bool make, struct ctr_netif *nif, bool *found, char *err, size_t errlen)
{
	char ifname[IFNAMSIZ];
	int s, ret;

	ret = find_interface(ifname, nif, err, errlen);
	if (ret)
		return ret;
	/*
	 * None to take. Where hull's TAP is, a VM took it before: still running, making the TAP
	 * again fails saying so; ended, what its guest had is on the bridge's record, and the
	 * bridge, its ports and the TAP are there for this VM.
	 */
	if (!ifname[0]) {
		if (!make || !if_nametoindex(CTR_NETNS_TAP))
			return 0;
		ret = make_tap(err, errlen) ?: recall(nif, err, errlen);
		*found = ret > 0;
		return ret < 0 ? ret : 0;
	}
	s = inet_socket(err, errlen);
	if (s < 0)
		return s;
	ret = (make ? make_ports(s, err, errlen) : 0) ?: adopt(ifname, nif, s, err, errlen) ?:
	      record(nif, err, errlen);
	if (!ret)
		*found = true;
	close(s);
	return ret;
}

int ctr_netns_enter(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return parse_fail(err, errlen, -errno, "%s", strerror(errno));
	ret = setns(fd, CLONE_NEWNET) ? -errno : 0;
	close(fd);
	if (ret)
		return parse_fail(err, errlen, ret, "joining it: %s", strerror(-ret));
	return 0;
}

int ctr_netns_join(const char *path, struct ctr_netif *nif, bool *found, char *err,
		   size_t errlen)
{
	*found = false;
	*nif = (struct ctr_netif){ 0 };
	return ctr_netns_enter(path, err, errlen) ?: take(true, nif, found, err, errlen);
}

int ctr_netns_prepare(char *err, size_t errlen)
{
	int s = inet_socket(err, errlen), ret;

	if (s < 0)
		return s;
	ret = make_ports(s, err, errlen);
	close(s);
	return ret;
}

int ctr_netns_find(bool *found, char *err, size_t errlen)
{
	struct ctr_netif nif = { 0 };
	char ifname[IFNAMSIZ];
	int ret = find_interface(ifname, &nif, err, errlen);

	*found = !ret && ifname[0];
	ctr_netif_free(&nif);
	return ret;
}

int ctr_netns_adopt(struct ctr_netif *nif, bool *found, char *err, size_t errlen)
{
	*found = false;
	*nif = (struct ctr_netif){ 0 };
	return take(false, nif, found, err, errlen);
}
