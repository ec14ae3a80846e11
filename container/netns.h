/* netns: the container's network namespace (config.json's path, or the VMM's own that docker wires), its interface bridged to the guest. */
#ifndef HULL_CONTAINER_NETNS_H
#define HULL_CONTAINER_NETNS_H

#include <stdbool.h>
#include <stddef.h>

#include "container/proto.h"

#define CTR_NETNS_TAP "hulltap0"    /* the VM's TAP, made in the namespace */
#define CTR_NETNS_BRIDGE "hullbr0"  /* joins it to the namespace's interface */
#define CTR_NETNS_GUEST_IF "eth0"   /* the guest's name for the first virtio-net device */
#define CTR_NETNS_ADDRS_MAX 16	    /* IPv4 addresses taken from the interface, and IPv6 ones */
#define CTR_NETNS_ROUTE_MAX (64 << 10) /* /proc/net/route, /proc/net/ipv6_route read at most */

/*
 * The gateway of the default route through interface ifname in route, the text of
 * /proc/net/route (a header line, then Iface Destination Gateway Flags ... in hex, the
 * addresses in network byte order as the kernel prints them), as a dotted quad in gw.
 * 0, -ENOENT when there is none, -EINVAL for a line that does not parse.
 */
int ctr_netns_gateway(const char *route, const char *ifname, char *gw, size_t gwlen);

/*
 * The same for IPv6: the gateway of the first default route (::/0, RTF_UP and RTF_GATEWAY)
 * through ifname in route, the text of /proc/net/ipv6_route (no header; destination, its
 * prefix length, source, its prefix length, next hop, metric, refcount, use, flags, device:
 * addresses as 32 hex digits, the rest hex), as IPv6 text in gw. 0, -ENOENT when there is
 * none, -EINVAL for a line that does not parse, -ENOSPC when gw is too small.
 */
int ctr_netns_gateway6(const char *route, const char *ifname, char *gw, size_t gwlen);

/*
 * Join the network namespace at path for good (the calling process, before it has threads),
 * touching nothing in it: a pod's sandbox VM, which leaves the namespace's network to the
 * pod's container. 0, or -errno with the cause in err.
 */
int ctr_netns_enter(const char *path, char *err, size_t errlen);
/*
 * Join the network namespace at path for good (the calling process, before it has threads)
 * and hand its interface to the guest: the first interface other than loopback with an IPv4
 * address or a global IPv6 one (a veth, as netavark and CNI make). Its IPv4 and global IPv6
 * addresses (never link-local ones: each interface has its own), MTU and default gateways (IPv4
 * and IPv6) are read into nif (the guest's CTR_NETNS_GUEST_IF), those addresses removed from it,
 * and a persistent
 * TAP (CTR_NETNS_TAP, the flags hull's tap backend opens it with) and that interface are made
 * ports of a new bridge (CTR_NETNS_BRIDGE): the guest's frames leave the namespace through
 * the interface, with the guest's own MAC. All of it goes with the namespace. *found is
 * false, and nothing made, when the namespace has no such interface (only loopback: a
 * container without a network). What was taken is recorded on the bridge (its alias): where
 * hull's TAP is there already, a VM took the interface before; in use, that VM has the
 * namespace's network (-EBUSY, saying so); free, the record is read into nif (*found; none:
 * no network). 0, or -errno with the cause in err.
 */
int ctr_netns_join(const char *path, struct ctr_netif *nif, bool *found, char *err,
		   size_t errlen);

/*
 * The VMM's own network namespace (config.json names one without a path, and the prestart
 * hooks wire it later: docker's libnetwork-setkey moves a veth in): the TAP and the bridge
 * made now, in the namespace the caller is in, so that the VM boots with its network device
 * (the guest's eth0, left down). 0, or -errno with the cause in err.
 */
int ctr_netns_prepare(char *err, size_t errlen);

/*
 * After ctr_netns_prepare, once the hooks have run (at start): the interface found as
 * ctr_netns_join finds it (not hull's own TAP and bridge) taken as ctr_netns_join takes it,
 * into nif, and made the bridge's second port. *found is false, nif empty and nothing
 * changed when there is none (docker's --network none). 0, or -errno with the cause in err
 * (nif then holds what was read: ctr_spec_free's netif freeing frees it).
 */
int ctr_netns_adopt(struct ctr_netif *nif, bool *found, char *err, size_t errlen);

/*
 * Whether the namespace hull is in has an interface ctr_netns_adopt would take (*found),
 * changing nothing: for a VM whose TAP and bridge could not be made. 0, or -errno with the
 * cause in err.
 */
int ctr_netns_find(bool *found, char *err, size_t errlen);

#endif
