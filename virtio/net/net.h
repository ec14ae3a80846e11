/* virtio-net: one queue pair on a TAP interface or through passt. */
#ifndef HULL_VIRTIO_NET_NET_H
#define HULL_VIRTIO_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/virtio.h"

/*
 * ---- virtio-net ----------------------------------------------------------------------
 *
 * One RX/TX queue pair per device, served on the event loop, with a TAP
 * device (vnet header, offloads) or a passt process (rootless user-mode
 * networking) as the backend. virtio/net/README states the features, the
 * limits and what passt needs; virtio/net/net.h the backend interface.
 */

enum vnet_backend {
	VNET_TAP,   /* tap=NAME */
	VNET_PASST, /* passt[=SOCKET] */
};

struct vnet_config {
	enum vnet_backend backend;
	char *tap;        /* VNET_TAP: interface name (created if missing, as TUNSETIFF does) */
	char *passt;      /* VNET_PASST: path of passt's socket; NULL: hull starts passt itself */
	uint8_t mac[6];
	bool mac_set;     /* false: a random locally administered unicast MAC at create */
};

/* The kind (virtio/net/config.c): --net, "nets", up to one per virtio slot. */
extern const struct virtio_kind vnet_kind;

/*
 * Parse "tap=NAME[,mac=MAC]" or "passt[=SOCKET][,mac=MAC]" (the JSON
 * object's fields go through vnet_config_set: "tap", "passt" with "" for
 * "start one", "mac"). 0, or -EINVAL with a one-line reason in err.
 */
int vnet_parse(struct vnet_config *c, const char *spec, char *err, size_t errlen);
int vnet_config_set(struct vnet_config *c, const char *key, const char *value, char *err,
		    size_t errlen);
void vnet_config_free(struct vnet_config *c);

struct vnet;

/*
 * vnet_kind's check and create in one call, for tests: open the backend (TAP: /dev/net/tun
 * with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR; passt: connect to the socket, or start passt on one end
 * of a socketpair) and build the device, not attached (virtio_mmio_attach). Failures log "net
 * NAME: cause" (NAME the tap name, or "passt"). 0 or -errno; *out on success.
 */
int vnet_create(const struct vnet_config *c, unsigned int index, const struct virtio_host *host,
		struct vnet **out);
/* Detach when attached, close the backend (stopping a passt hull started), free. NULL is fine. */
void vnet_destroy(struct vnet *n);

#endif
