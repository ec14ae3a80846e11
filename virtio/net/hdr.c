/* virtio-net header rules: what a guest may send, what the guest may get, tap offload mapping. */
#include <endian.h>
#include <errno.h>
#include <linux/if_tun.h>

#include "virtio/net/internal.h"

#define GSO_ECN VIRTIO_NET_HDR_GSO_ECN

static int bad(const char **why, const char *reason)
{
	*why = reason;
	return -EINVAL;
}

/* The checksum is written at csum_start + csum_offset, two bytes: inside the frame. */
static bool csum_inside(const struct virtio_net_hdr_v1 *h, size_t len)
{
	return (size_t)le16toh(h->csum_start) + le16toh(h->csum_offset) + 2 <= len;
}

int vnet_hdr_check_tx(const struct virtio_net_hdr_v1 *h, size_t len, uint64_t features,
		      const char **why)
{
	/* One read of each field: the caller's copy is stable, but keep the habit. */
	uint8_t flags = h->flags, gso = h->gso_type;
	uint64_t need;

	if (len < VNET_ETH_MIN)
		return bad(why, "frame shorter than an Ethernet header");
	if (len > VNET_FRAME_MAX)
		return bad(why, "frame longer than 65549 bytes");
	/* DATA_VALID and RSC_INFO describe received frames; nothing else is defined. */
	if (flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return bad(why, "flags other than NEEDS_CSUM");
	if (flags && !(features & VNET_F(CSUM)))
		return bad(why, "NEEDS_CSUM without VIRTIO_NET_F_CSUM");
	if (flags && !csum_inside(h, len))
		return bad(why, "checksum field outside the frame");
	switch (gso & ~GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		if (gso & GSO_ECN)
			return bad(why, "ECN flag without segmentation");
		need = 0;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		need = VNET_F(HOST_TSO4);
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		need = VNET_F(HOST_TSO6);
		break;
	case VIRTIO_NET_HDR_GSO_UDP:
		if (gso & GSO_ECN)
			return bad(why, "ECN flag on UDP segmentation");
		need = VNET_F(HOST_UFO);
		break;
	default:
		return bad(why, "unknown gso_type");
	}
	if (need && !(features & need))
		return bad(why, "gso_type whose HOST_* feature was not negotiated");
	if ((gso & GSO_ECN) && !(features & VNET_F(HOST_ECN)))
		return bad(why, "ECN flag without VIRTIO_NET_F_HOST_ECN");
	if (need && !(flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return bad(why, "segmentation without NEEDS_CSUM");
	if (need && !h->gso_size)
		return bad(why, "segmentation with gso_size 0");
	if (le16toh(h->hdr_len) > len)
		return bad(why, "hdr_len past the frame");
	return 0;
}

int vnet_hdr_check_plain(const struct virtio_net_hdr_v1 *h, size_t len, const char **why)
{
	if (h->flags || h->gso_type || h->hdr_len || h->gso_size || h->csum_start || h->csum_offset)
		return bad(why, "offload fields set for a backend without offloads");
	return vnet_hdr_check_tx(h, len, 0, why);
}

int vnet_hdr_rx_fixup(struct virtio_net_hdr_v1 *h, size_t len, uint64_t features, const char **why)
{
	uint8_t gso = h->gso_type;
	uint64_t need;

	if (len < VNET_ETH_MIN)
		return bad(why, "frame shorter than an Ethernet header");
	if (!(features & VNET_F(GUEST_CSUM))) {
		/* Only a complete checksum may reach a guest that cannot finish one. */
		if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			return bad(why, "partial checksum for a guest without GUEST_CSUM");
		h->flags = 0;
	}
	h->flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID;
	if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !csum_inside(h, len))
		return bad(why, "checksum field outside the frame");
	switch (gso & ~GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		need = 0;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		need = VNET_F(GUEST_TSO4);
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		need = VNET_F(GUEST_TSO6);
		break;
	case VIRTIO_NET_HDR_GSO_UDP:
		need = VNET_F(GUEST_UFO);
		break;
	default:
		return bad(why, "gso_type unknown to the guest");
	}
	/* ECN marks TCP segmentation only. */
	if ((gso & GSO_ECN) && !(need & (VNET_F(GUEST_TSO4) | VNET_F(GUEST_TSO6))))
		return bad(why, "ECN flag without TCP segmentation");
	if (gso & GSO_ECN)
		need |= VNET_F(GUEST_ECN);
	if ((features & need) != need)
		return bad(why, "segmentation the guest did not negotiate");
	if (gso != VIRTIO_NET_HDR_GSO_NONE && !(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return bad(why, "segmentation without NEEDS_CSUM");
	h->num_buffers = 0;
	return 0;
}

unsigned int vnet_tun_offloads(uint64_t f)
{
	unsigned int t;

	/* The tap takes TSO/UFO only with CSUM, and TSO_ECN only with TSO (tun's set_offload). */
	if (!(f & VNET_F(GUEST_CSUM)))
		return 0;
	t = TUN_F_CSUM;
	if (f & VNET_F(GUEST_TSO4))
		t |= TUN_F_TSO4;
	if (f & VNET_F(GUEST_TSO6))
		t |= TUN_F_TSO6;
	if ((f & VNET_F(GUEST_ECN)) && (t & (TUN_F_TSO4 | TUN_F_TSO6)))
		t |= TUN_F_TSO_ECN;
	if (f & VNET_F(GUEST_UFO))
		t |= TUN_F_UFO;
	return t;
}

uint64_t vnet_tap_features(unsigned int tun)
{
	/* The tap takes checksum and TCP segmentation requests from us whatever it can send. */
	uint64_t f = VNET_F(CSUM) | VNET_F(HOST_TSO4) | VNET_F(HOST_TSO6) | VNET_F(HOST_ECN) |
		     VNET_F(MRG_RXBUF) | VNET_F(MAC) | VNET_F(STATUS);

	if (!(tun & TUN_F_CSUM))
		return f;
	f |= VNET_F(GUEST_CSUM);
	if (tun & TUN_F_TSO4)
		f |= VNET_F(GUEST_TSO4);
	if (tun & TUN_F_TSO6)
		f |= VNET_F(GUEST_TSO6);
	if ((tun & TUN_F_TSO_ECN) && (tun & (TUN_F_TSO4 | TUN_F_TSO6)))
		f |= VNET_F(GUEST_ECN);
	/* As QEMU does: UFO both ways only when the tap knows UFO at all. */
	if (tun & TUN_F_UFO)
		f |= VNET_F(GUEST_UFO) | VNET_F(HOST_UFO);
	return f;
}
