/* Unit tests for container/netns: /proc/net/route's default gateway, joining a namespace, adopting its interface late (private ones, root needed). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_tun.h>
#include <linux/ipv6.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "container/netns.h"

#define HDR "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"

static void test_gateway(void **state)
{
	char gw[INET_ADDRSTRLEN];

	(void)state;
	/* netavark's namespace: the subnet's route, then the default one through 10.88.0.1. */
	assert_int_equal(ctr_netns_gateway(HDR
		"eth0\t0000580A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
		"eth0\t00000000\t0100580A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n", "eth0", gw,
		sizeof(gw)), 0);
	assert_string_equal(gw, "10.88.0.1");
	/* Another interface's default route, a default route without RTF_GATEWAY: none. */
	assert_int_equal(ctr_netns_gateway(HDR
		"eth1\t00000000\t0100580A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
		"eth0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n", "eth0", gw,
		sizeof(gw)), -ENOENT);
	/* A route that is not the default one (a mask), a route that is down. */
	assert_int_equal(ctr_netns_gateway(HDR
		"eth0\t00000000\t0100580A\t0003\t0\t0\t0\t000000FF\t0\t0\t0\n"
		"eth0\t00000000\t0100580A\t0002\t0\t0\t0\t00000000\t0\t0\t0\n", "eth0", gw,
		sizeof(gw)), -ENOENT);
	assert_int_equal(ctr_netns_gateway(HDR, "eth0", gw, sizeof(gw)), -ENOENT);
	assert_int_equal(ctr_netns_gateway("", "eth0", gw, sizeof(gw)), -ENOENT);
	assert_int_equal(ctr_netns_gateway(HDR "eth0 garbage\n", "eth0", gw, sizeof(gw)),
			 -EINVAL);
	/* gw too small for the address. */
	assert_int_equal(ctr_netns_gateway(HDR
		"eth0\t00000000\t0100580A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n", "eth0", gw, 4),
		-ENOSPC);
}

/* /proc/net/ipv6_route as the kernel prints it (no header; %8s pads the device name). */
#define R6_ZERO "00000000000000000000000000000000"

static void test_gateway6(void **state)
{
	char gw[INET6_ADDRSTRLEN];

	(void)state;
	/* netavark's namespace: the subnet's route, the default one through fd77::1, the local
	 * and multicast routes, the unreachable default route on lo. */
	assert_int_equal(ctr_netns_gateway6(
		"fd770000000000000000000000000000 40 " R6_ZERO " 00 " R6_ZERO
		" 00000100 00000001 00000000 00000001     eth0\n"
		R6_ZERO " 00 " R6_ZERO " 00 fd770000000000000000000000000001"
		" 00000400 00000001 00000000 00000003     eth0\n"
		"fd770000000000000000000000000005 80 " R6_ZERO " 00 " R6_ZERO
		" 00000000 00000002 00000000 80200001     eth0\n"
		"ff000000000000000000000000000000 08 " R6_ZERO " 00 " R6_ZERO
		" 00000100 00000001 00000000 00000001     eth0\n"
		R6_ZERO " 00 " R6_ZERO " 00 " R6_ZERO
		" ffffffff 00000001 00000000 00200200       lo\n", "eth0", gw, sizeof(gw)), 0);
	assert_string_equal(gw, "fd77::1");
	/* A link-local gateway (a router's advertisement), on a line without a newline. */
	assert_int_equal(ctr_netns_gateway6(
		R6_ZERO " 00 " R6_ZERO " 00 fe80000000000000020000fffe000001"
		" 00000400 00000001 00000000 00450003     eth0", "eth0", gw, sizeof(gw)), 0);
	assert_string_equal(gw, "fe80::200:ff:fe00:1");
	/* Another interface's, one without RTF_GATEWAY, one that is down, one that is not ::/0
	 * (a destination, or a prefix length): none. */
	assert_int_equal(ctr_netns_gateway6(
		R6_ZERO " 00 " R6_ZERO " 00 fd770000000000000000000000000001"
		" 00000400 00000001 00000000 00000003     eth1\n"
		R6_ZERO " 00 " R6_ZERO " 00 fd770000000000000000000000000001"
		" 00000400 00000001 00000000 00000001     eth0\n"
		R6_ZERO " 00 " R6_ZERO " 00 fd770000000000000000000000000001"
		" 00000400 00000001 00000000 00000002     eth0\n"
		"20010db8000000000000000000000000 00 " R6_ZERO " 00 fd770000000000000000000000000001"
		" 00000400 00000001 00000000 00000003     eth0\n"
		R6_ZERO " 40 " R6_ZERO " 00 fd770000000000000000000000000001"
		" 00000400 00000001 00000000 00000003     eth0\n", "eth0", gw, sizeof(gw)),
		-ENOENT);
	assert_int_equal(ctr_netns_gateway6("", "eth0", gw, sizeof(gw)), -ENOENT);
	/* Lines that do not parse: short, an address not 32 hex digits. */
	assert_int_equal(ctr_netns_gateway6("eth0 garbage\n", "eth0", gw, sizeof(gw)), -EINVAL);
	assert_int_equal(ctr_netns_gateway6(
		R6_ZERO " 00 " R6_ZERO " 00 fd77000000000000000000000000000g"
		" 00000400 00000001 00000000 00000003     eth0\n", "eth0", gw, sizeof(gw)),
		-EINVAL);
	assert_int_equal(ctr_netns_gateway6(
		R6_ZERO " 00 " R6_ZERO " 00 fd77"
		" 00000400 00000001 00000000 00000003     eth0\n", "eth0", gw, sizeof(gw)),
		-EINVAL);
	/* gw too small for the address. */
	assert_int_equal(ctr_netns_gateway6(
		R6_ZERO " 00 " R6_ZERO " 00 fd770000000000000000000000000001"
		" 00000400 00000001 00000000 00000003     eth0\n", "eth0", gw, 4), -ENOSPC);
}

static void ioctl_ok(int fd, unsigned long req, void *arg)
{
	if (ioctl(fd, req, arg)) {
		fprintf(stderr, "ioctl %#lx: %s\n", req, strerror(errno));
		fail();
	}
}

static void set_inet(struct sockaddr *sa, const char *addr)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)sa;

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
}

/* A stand-in for netavark's veth: a persistent TAP "vethtest", 10.99.0.5/24, MTU 1400, up,
 * with the default route through 10.99.0.1. */
static void persistent_tap(const char *name, struct ifreq *ifr)
{
	int tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	assert_true(tun >= 0);
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, IFNAMSIZ, "%s", name);
	ifr->ifr_flags = IFF_TAP | IFF_NO_PI;
	ioctl_ok(tun, TUNSETIFF, ifr);
	ioctl_ok(tun, TUNSETPERSIST, (void *)1);
	close(tun);
}

static void fake_veth(void)
{
	struct ifreq ifr;
	struct rtentry rt = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	persistent_tap("vethtest", &ifr);
	set_inet(&ifr.ifr_addr, "10.99.0.5");
	ioctl_ok(s, SIOCSIFADDR, &ifr);
	set_inet(&ifr.ifr_addr, "255.255.255.0");
	ioctl_ok(s, SIOCSIFNETMASK, &ifr);
	ifr.ifr_mtu = 1400;
	ioctl_ok(s, SIOCSIFMTU, &ifr);
	ioctl_ok(s, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	ioctl_ok(s, SIOCSIFFLAGS, &ifr);
	set_inet(&rt.rt_dst, "0.0.0.0");
	set_inet(&rt.rt_genmask, "0.0.0.0");
	set_inet(&rt.rt_gateway, "10.99.0.1");
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	rt.rt_dev = ifr.ifr_name;
	ioctl_ok(s, SIOCADDRT, &rt);
	close(s);
}

/* An IPv6 address on interface name (ioctl, as the kernel's own tools did). */
static void give_addr6(const char *name, const char *addr, unsigned int prefix)
{
	/* As large as a struct ifreq, zeroed: Valgrind reads SIOCSIFADDR's argument as one. */
	union {
		struct in6_ifreq r6;
		struct ifreq r;
	} u;
	int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	memset(&u, 0, sizeof(u));
	u.r6.ifr6_prefixlen = prefix;
	u.r6.ifr6_ifindex = (int)if_nametoindex(name);
	assert_int_equal(inet_pton(AF_INET6, addr, &u.r6.ifr6_addr), 1);
	ioctl_ok(s, SIOCSIFADDR, &u.r6);
	close(s);
}

/* The fake veth dual-stack: fd77::5/64, fd78::5/112 and a link-local address (its own, never
 * the guest's), the IPv6 default route through fd77::1. */
static void fake_veth6(void)
{
	/* As large as a struct rtentry, zeroed: Valgrind reads SIOCADDRT's argument as one. */
	union {
		struct in6_rtmsg rt6;
		struct rtentry rt;
	} u;
	int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	give_addr6("vethtest", "fe80::5", 64);
	give_addr6("vethtest", "fd77::5", 64);
	give_addr6("vethtest", "fd78::5", 112);
	memset(&u, 0, sizeof(u));
	u.rt6.rtmsg_flags = RTF_UP | RTF_GATEWAY;
	u.rt6.rtmsg_metric = 1;
	u.rt6.rtmsg_ifindex = (int)if_nametoindex("vethtest");
	assert_int_equal(inet_pton(AF_INET6, "fd77::1", &u.rt6.rtmsg_gateway), 1);
	ioctl_ok(s, SIOCADDRT, &u.rt6);
	close(s);
}

/* How many addresses of family (AF_INET, or AF_INET6 that are not link-local) name has. */
static unsigned int addrs_of(const char *name, int family)
{
	struct ifaddrs *all, *i;
	unsigned int n = 0;

	assert_int_equal(getifaddrs(&all), 0);
	for (i = all; i; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == family && !strcmp(i->ifa_name, name) &&
		    (family != AF_INET6 || !IN6_IS_ADDR_LINKLOCAL(
				&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr)))
			n++;
	freeifaddrs(all);
	return n;
}

static unsigned int inet_addrs(const char *name)
{
	return addrs_of(name, AF_INET);
}

/* The first line of the sysfs file rel (below class/net/) into buf, "" when there is none, or
 * with write, write written to it first: a sysfs mounted here, in a mount namespace of the
 * test's own (/sys shows the namespace that mounted it). */
static void sysfs_io(const char *rel, char *buf, size_t len, const char *write)
{
	char dir[] = "/tmp/test_netns.XXXXXX", path[160];
	FILE *f;

	assert_int_equal(unshare(CLONE_NEWNS), 0);
	assert_int_equal(mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL), 0);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(mount("sysfs", dir, "sysfs", 0, NULL), 0);
	snprintf(path, sizeof(path), "%s/class/net/%s", dir, rel);
	if (write) {
		f = fopen(path, "we");
		assert_non_null(f);
		assert_true(fputs(write, f) >= 0);
		assert_int_equal(fclose(f), 0);
	}
	buf[0] = '\0';
	f = fopen(path, "re");
	if (f && fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = '\0';
	if (f)
		fclose(f);
	umount(dir);
	rmdir(dir);
}

static void sysfs_net(const char *rel, char *buf, size_t len)
{
	sysfs_io(rel, buf, len, NULL);
}

/* Whether interface name is a port of CTR_NETNS_BRIDGE (its brif/ entry, a symlink). */
static bool bridge_has(const char *name)
{
	char rel[64], buf[8];

	snprintf(rel, sizeof(rel), "%s/brport/bridge/ifindex", name);
	sysfs_net(rel, buf, sizeof(buf));
	return buf[0] && (unsigned int)atoi(buf) == if_nametoindex(CTR_NETNS_BRIDGE);
}

/* Whether port name learns addresses (brport/learning). */
static bool learns(const char *name)
{
	char rel[64], buf[8];

	snprintf(rel, sizeof(rel), "%s/brport/learning", name);
	sysfs_net(rel, buf, sizeof(buf));
	assert_true(buf[0]);
	return strcmp(buf, "0") != 0;
}

static void test_join(void **state)
{
	struct ctr_spec spec = { 0 };
	struct ctr_netif nif;
	char err[512] = "";
	bool found = false;

	(void)state;
	assert_int_equal(unshare(CLONE_NEWNET), 0);
	fake_veth();
	assert_int_equal(ctr_netns_join("/proc/self/ns/net", &nif, &found, err, sizeof(err)), 0);
	assert_true(found);
	assert_string_equal(nif.name, CTR_NETNS_GUEST_IF);
	assert_int_equal(nif.naddrs, 1);
	assert_string_equal(nif.addrs[0], "10.99.0.5/24");
	assert_non_null(nif.gateway);
	assert_string_equal(nif.gateway, "10.99.0.1");
	assert_int_equal(nif.mtu, 1400);
	assert_int_equal(nif.naddrs6, 0); /* IPv4 only */
	assert_null(nif.gateway6);
	/* The address is the guest's now; the TAP and the interface are the bridge's ports. */
	assert_int_equal(inet_addrs("vethtest"), 0);
	assert_int_not_equal(if_nametoindex(CTR_NETNS_BRIDGE), 0);
	assert_int_not_equal(if_nametoindex(CTR_NETNS_TAP), 0);
	assert_true(bridge_has("vethtest"));
	assert_true(bridge_has(CTR_NETNS_TAP));
	/* The guest's MAC is learned on the TAP only (a hairpin host side sends it back). */
	assert_false(learns("vethtest"));
	assert_true(learns(CTR_NETNS_TAP));
	/* Freed as the spec it goes into frees it. */
	spec.netifs = calloc(1, sizeof(nif));
	assert_non_null(spec.netifs);
	spec.netifs[0] = nif;
	spec.nnetifs = 1;
	ctr_spec_free(&spec);
}

/*
 * A second container joining a namespace whose TAP another VM holds (a pod's app container
 * beside its pause container) is refused, saying why; once that VM let go it may join.
 */
static void test_join_in_use(void **state)
{
	struct ifreq ifr = { 0 };
	struct ctr_netif nif;
	char err[512] = "";
	bool found = false;
	int vm;

	(void)state;
	assert_int_equal(unshare(CLONE_NEWNET), 0);
	fake_veth();
	assert_int_equal(ctr_netns_join("/proc/self/ns/net", &nif, &found, err, sizeof(err)), 0);
	assert_true(found);
	ctr_netif_free(&nif);
	/* The first VM's tap backend holds it, with the flags it was made with. */
	vm = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	assert_true(vm >= 0);
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", CTR_NETNS_TAP);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	ioctl_ok(vm, TUNSETIFF, &ifr);
	found = true;
	assert_int_equal(ctr_netns_join("/proc/self/ns/net", &nif, &found, err, sizeof(err)),
			 -EBUSY);
	assert_false(found);
	assert_non_null(strstr(err, CTR_NETNS_TAP " is in use: another hull VM has this "
				    "namespace's network"));
	close(vm);
	/* Let go (a pod's container restarted): what the first guest had, from the record. */
	assert_int_equal(ctr_netns_join("/proc/self/ns/net", &nif, &found, err, sizeof(err)), 0);
	assert_true(found);
	assert_string_equal(nif.name, CTR_NETNS_GUEST_IF);
	assert_int_equal(nif.naddrs, 1);
	assert_string_equal(nif.addrs[0], "10.99.0.5/24");
	assert_string_equal(nif.gateway, "10.99.0.1");
	assert_int_equal(nif.mtu, 1400);
	assert_int_equal(nif.naddrs6, 0);
	assert_null(nif.gateway6);
	ctr_netif_free(&nif);
}

/*
 * The record on the bridge's alias: what a join took, read back by the next join; a bad one
 * refused naming the field; another alias, or none, is no record.
 */
static void test_record(void **state)
{
	char alias[300], err[512] = "";
	struct ctr_netif nif;
	bool found = false;

	(void)state;
	assert_int_equal(unshare(CLONE_NEWNET), 0);
	fake_veth();
	assert_int_equal(ctr_netns_join("/proc/self/ns/net", &nif, &found, err, sizeof(err)), 0);
	ctr_netif_free(&nif);
	sysfs_net(CTR_NETNS_BRIDGE "/ifalias", alias, sizeof(alias));
	assert_string_equal(alias, "hull-netif mtu=1400 gw=10.99.0.1 a=10.99.0.5/24");

	sysfs_io(CTR_NETNS_BRIDGE "/ifalias", alias, sizeof(alias),
		 "hull-netif mtu=9000 gw6=fd77::1 a6=fd77::5/64 a=10.1.0.2/16 a=10.2.0.2/8\n");
	assert_int_equal(ctr_netns_join("/proc/self/ns/net", &nif, &found, err, sizeof(err)), 0);
	assert_true(found);
	assert_int_equal(nif.mtu, 9000);
	assert_null(nif.gateway);
	assert_string_equal(nif.gateway6, "fd77::1");
	assert_int_equal(nif.naddrs, 2);
	assert_string_equal(nif.addrs[1], "10.2.0.2/8");
	assert_int_equal(nif.naddrs6, 1);
	assert_string_equal(nif.addrs6[0], "fd77::5/64");
	ctr_netif_free(&nif);

	static const char *const bad[] = {
		"hull-netif mtu=1400 a=10.99.0.300/24", "hull-netif mtu=1400 a=10.99.0.5/33",
		"hull-netif mtu=1400 a6=10.99.0.5/24",	"hull-netif mtu=1400 a=10.99.0.5",
		"hull-netif mtu=1400 a=10.99.0.5/",	"hull-netif mtu=12 a=10.99.0.5/24",
		"hull-netif mtu=x a=10.99.0.5/24",	"hull-netif gw=10.0.0.1 gw=10.0.0.2 mtu=1400",
		"hull-netif mtu=1400 gw=fd77::1 a=10.99.0.5/24", "hull-netif mtu=1400 other=1",
		"hull-netif mtu=1400 a",
	};
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sysfs_io(CTR_NETNS_BRIDGE "/ifalias", alias, sizeof(alias), bad[i]);
		found = true;
		if (ctr_netns_join("/proc/self/ns/net", &nif, &found, err, sizeof(err)) != -EINVAL) {
			fprintf(stderr, "record '%s' was not refused\n", bad[i]);
			fail();
		}
		assert_false(found);
		assert_non_null(strstr(err, "hullbr0's record: bad field"));
		ctr_netif_free(&nif);
	}
	/* The message quotes the field whole. */
	sysfs_io(CTR_NETNS_BRIDGE "/ifalias", alias, sizeof(alias), bad[0]);
	assert_int_equal(ctr_netns_join("/proc/self/ns/net", &nif, &found, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "bad field 'a=10.99.0.300/24'"));
	ctr_netif_free(&nif);
	/* Fields but no address: refused too. */
	sysfs_io(CTR_NETNS_BRIDGE "/ifalias", alias, sizeof(alias), "hull-netif mtu=1400");
	assert_int_equal(ctr_netns_join("/proc/self/ns/net", &nif, &found, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "no MTU or no address"));
	ctr_netif_free(&nif);
	/* Someone else's alias, and none: no record, no network. */
	sysfs_io(CTR_NETNS_BRIDGE "/ifalias", alias, sizeof(alias), "hull-netifs mtu=1400");
	assert_int_equal(ctr_netns_join("/proc/self/ns/net", &nif, &found, err, sizeof(err)), 0);
	assert_false(found);
	sysfs_io(CTR_NETNS_BRIDGE "/ifalias", alias, sizeof(alias), "\n");
	assert_int_equal(ctr_netns_join("/proc/self/ns/net", &nif, &found, err, sizeof(err)), 0);
	assert_false(found);
}

/* Whether nif carries IPv6 address text (getifaddrs's order is the kernel's). */
static bool has(const struct ctr_netif *nif, const char *text)
{
	unsigned int i;

	for (i = 0; i < nif->naddrs6; i++)
		if (!strcmp(nif->addrs6[i], text))
			return true;
	return false;
}

static void test_join_dual_stack(void **state)
{
	struct ctr_netif nif;
	char err[512] = "";
	bool found = false;

	(void)state;
	/* netavark's namespace on a network with an IPv6 subnet: the global IPv6 addresses and
	 * the IPv6 default gateway go to the guest too, the link-local address stays. */
	assert_int_equal(unshare(CLONE_NEWNET), 0);
	fake_veth();
	fake_veth6();
	assert_int_equal(ctr_netns_join("/proc/self/ns/net", &nif, &found, err, sizeof(err)), 0);
	assert_true(found);
	assert_int_equal(nif.naddrs, 1);
	assert_string_equal(nif.addrs[0], "10.99.0.5/24");
	assert_string_equal(nif.gateway, "10.99.0.1");
	assert_int_equal(nif.naddrs6, 2);
	assert_true(has(&nif, "fd77::5/64"));
	assert_true(has(&nif, "fd78::5/112"));
	assert_non_null(nif.gateway6);
	assert_string_equal(nif.gateway6, "fd77::1");
	/* The guest's addresses are gone from the interface, its own link-local one is not. */
	assert_int_equal(inet_addrs("vethtest"), 0);
	assert_int_equal(addrs_of("vethtest", AF_INET6), 0);
	assert_true(bridge_has("vethtest"));
	ctr_netif_free(&nif);
}

/* More than an alias holds (7 long IPv6 addresses): no record, and a later VM no network. */
static void test_record_too_long(void **state)
{
	char alias[300], err[512] = "", addr[64];
	struct ctr_netif nif;
	bool found = false;
	unsigned int i;

	(void)state;
	assert_int_equal(unshare(CLONE_NEWNET), 0);
	fake_veth();
	for (i = 0; i < 7; i++) {
		snprintf(addr, sizeof(addr), "fd77:1111:2222:3333:4444:5555:6666:%x", 0x7000 + i);
		give_addr6("vethtest", addr, 128);
	}
	assert_int_equal(ctr_netns_join("/proc/self/ns/net", &nif, &found, err, sizeof(err)), 0);
	assert_true(found);
	assert_int_equal(nif.naddrs6, 7);
	ctr_netif_free(&nif);
	sysfs_net(CTR_NETNS_BRIDGE "/ifalias", alias, sizeof(alias));
	assert_string_equal(alias, "");
	assert_int_equal(ctr_netns_join("/proc/self/ns/net", &nif, &found, err, sizeof(err)), 0);
	assert_false(found);
}

static void test_join_ipv6_only(void **state)
{
	struct ctr_netif nif;
	char err[512] = "";
	bool found = false;
	const char *names[] = { "vethlocal", "vethtest" };
	struct ifreq ifr;
	unsigned int i;
	int s;

	(void)state;
	/* An interface with IPv6 addresses only (and one with a link-local address only, made
	 * first, which is not it): taken, with no IPv4 address and no IPv4 gateway. */
	assert_int_equal(unshare(CLONE_NEWNET), 0);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	for (i = 0; i < 2; i++) {
		persistent_tap(names[i], &ifr);
		ioctl_ok(s, SIOCGIFFLAGS, &ifr);
		ifr.ifr_flags |= IFF_UP;
		ioctl_ok(s, SIOCSIFFLAGS, &ifr);
	}
	close(s);
	give_addr6("vethlocal", "fe80::7", 64);
	fake_veth6();
	assert_int_equal(ctr_netns_join("/proc/self/ns/net", &nif, &found, err, sizeof(err)), 0);
	assert_true(found);
	assert_int_equal(nif.naddrs, 0);
	assert_null(nif.gateway);
	assert_int_equal(nif.naddrs6, 2);
	assert_string_equal(nif.gateway6, "fd77::1");
	assert_int_equal(addrs_of("vethtest", AF_INET6), 0);
	assert_true(bridge_has("vethtest"));
	assert_false(bridge_has("vethlocal"));
	ctr_netif_free(&nif);
}

static void test_only_loopback(void **state)
{
	struct ctr_netif nif;
	char err[512] = "";
	bool found = true;

	(void)state;
	/* A namespace path with only lo (a container without a network): nothing is made. */
	assert_int_equal(unshare(CLONE_NEWNET), 0);
	assert_int_equal(ctr_netns_join("/proc/self/ns/net", &nif, &found, err, sizeof(err)), 0);
	assert_false(found);
	assert_int_equal(nif.naddrs, 0);
	assert_null(nif.name);
	assert_int_equal(if_nametoindex(CTR_NETNS_BRIDGE), 0);
	assert_int_equal(if_nametoindex(CTR_NETNS_TAP), 0);
}

static uint32_t mtu_of(const char *name)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	ioctl_ok(s, SIOCGIFMTU, &ifr);
	close(s);
	return (uint32_t)ifr.ifr_mtu;
}

/* An IPv4 address on interface name, up (as docker's veth has, or one hull must not take). */
static void give_addr(const char *name, const char *addr)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	set_inet(&ifr.ifr_addr, addr);
	ioctl_ok(s, SIOCSIFADDR, &ifr);
	close(s);
}

static void test_prepare_then_adopt(void **state)
{
	struct ctr_netif nif;
	char err[512] = "";
	bool found = true;

	(void)state;
	/* The VMM's own namespace at create: the TAP and the bridge, the TAP its only port. */
	assert_int_equal(unshare(CLONE_NEWNET), 0);
	assert_int_equal(ctr_netns_prepare(err, sizeof(err)), 0);
	assert_int_not_equal(if_nametoindex(CTR_NETNS_BRIDGE), 0);
	assert_int_not_equal(if_nametoindex(CTR_NETNS_TAP), 0);
	assert_true(bridge_has(CTR_NETNS_TAP));
	/* Nothing wired by start (docker's --network none): nothing found, nothing changed;
	 * hull's own interfaces are never taken, even with an address. */
	give_addr(CTR_NETNS_BRIDGE, "10.98.0.9");
	assert_int_equal(ctr_netns_adopt(&nif, &found, err, sizeof(err)), 0);
	assert_false(found);
	assert_null(nif.name);
	assert_int_equal(nif.naddrs, 0);
	assert_int_equal(inet_addrs(CTR_NETNS_BRIDGE), 1);
	/* docker's prestart hook moved its veth in: taken as ctr_netns_join takes it. */
	fake_veth();
	assert_int_equal(ctr_netns_adopt(&nif, &found, err, sizeof(err)), 0);
	assert_true(found);
	assert_string_equal(nif.name, CTR_NETNS_GUEST_IF);
	assert_int_equal(nif.naddrs, 1);
	assert_string_equal(nif.addrs[0], "10.99.0.5/24");
	assert_non_null(nif.gateway);
	assert_string_equal(nif.gateway, "10.99.0.1");
	assert_int_equal(nif.mtu, 1400);
	assert_int_equal(inet_addrs("vethtest"), 0);
	assert_true(bridge_has("vethtest"));
	assert_true(bridge_has(CTR_NETNS_TAP));
	assert_int_equal(mtu_of(CTR_NETNS_TAP), 1400);
	assert_false(learns("vethtest"));
	ctr_netif_free(&nif);
	assert_null(nif.name);
}

static void test_adopt_second_interface(void **state)
{
	struct ctr_netif nif;
	char err[512] = "";
	bool found = false;
	struct ifreq ifr;

	(void)state;
	/* Two interfaces with IPv4 addresses: the first one's (made first), as ctr_netns_join
	 * takes it; the other is left alone. */
	assert_int_equal(unshare(CLONE_NEWNET), 0);
	assert_int_equal(ctr_netns_prepare(err, sizeof(err)), 0);
	fake_veth();
	persistent_tap("vethother", &ifr);
	give_addr("vethother", "10.97.0.3");
	assert_int_equal(ctr_netns_adopt(&nif, &found, err, sizeof(err)), 0);
	assert_true(found);
	assert_int_equal(nif.naddrs, 1);
	assert_string_equal(nif.addrs[0], "10.99.0.5/24");
	assert_int_equal(inet_addrs("vethtest"), 0);
	assert_int_equal(inet_addrs("vethother"), 1);
	assert_true(bridge_has("vethtest"));
	assert_false(bridge_has("vethother"));
	ctr_netif_free(&nif);
}

static void test_adopt_without_bridge(void **state)
{
	struct ctr_netif nif;
	char err[512] = "";
	bool found = true;

	(void)state;
	/* No ctr_netns_prepare first: the failure names what is missing and the cause. */
	assert_int_equal(unshare(CLONE_NEWNET), 0);
	fake_veth();
	assert_int_equal(ctr_netns_adopt(&nif, &found, err, sizeof(err)), -ENODEV);
	assert_false(found);
	assert_non_null(strstr(err, CTR_NETNS_TAP));
	assert_non_null(strstr(err, "No such device"));
	ctr_netif_free(&nif);
}

/* The check for a VM whose TAP and bridge could not be made: whether there is one, no change. */
static void test_find(void **state)
{
	char err[512] = "";
	bool found = true;

	(void)state;
	assert_int_equal(unshare(CLONE_NEWNET), 0);
	assert_int_equal(ctr_netns_find(&found, err, sizeof(err)), 0);
	assert_false(found); /* only loopback */
	fake_veth();
	assert_int_equal(ctr_netns_find(&found, err, sizeof(err)), 0);
	assert_true(found);
	assert_int_equal(inet_addrs("vethtest"), 1); /* its address left where it was */
	assert_int_equal(if_nametoindex(CTR_NETNS_BRIDGE), 0);
}

static void test_bad_path(void **state)
{
	struct ctr_netif nif;
	char err[512] = "";
	bool found = true;

	(void)state;
	assert_int_equal(ctr_netns_join("/nonexistent/netns", &nif, &found, err, sizeof(err)),
			 -ENOENT);
	assert_false(found);
	assert_non_null(strstr(err, "No such file"));
	/* Not a namespace: setns refuses. */
	assert_int_equal(ctr_netns_join("/proc/self/status", &nif, &found, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "joining it"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gateway),
		cmocka_unit_test(test_gateway6),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_join_in_use),
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_record_too_long),
		cmocka_unit_test(test_join_dual_stack),
		cmocka_unit_test(test_join_ipv6_only),
		cmocka_unit_test(test_only_loopback),
		cmocka_unit_test(test_bad_path),
		cmocka_unit_test(test_prepare_then_adopt),
		cmocka_unit_test(test_adopt_second_interface),
		cmocka_unit_test(test_adopt_without_bridge),
		cmocka_unit_test(test_find),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
