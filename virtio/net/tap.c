/* net tap backend: a TAP interface with a 12-byte vnet header, offloads set by TUNSETOFFLOAD. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "virtio/net/internal.h"
#include "lib/log.h"

#define TUN_ALL (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO)

/*
 * Our checked copy of the header goes first, so the kernel never reads a
 * header the guest could rewrite after we checked it; the frame itself is
 * written from the guest's buffers, uncopied.
 */
static int tap_tx(struct vnet_be *be, const struct virtio_net_hdr_v1 *hdr, struct iovec *iov,
		  unsigned int n, size_t len)
{
	ssize_t r;

	iov[0] = (struct iovec){ .iov_base = (void *)(uintptr_t)hdr, .iov_len = VNET_HDR_LEN };
	do
		r = writev(be->fd, iov, (int)n + 1);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EAGAIN || errno == ENOBUFS)
			return -EAGAIN;
		/* EBADFD: the interface went away under us. */
		if (errno == EBADFD) {
			snprintf(be->why, sizeof(be->why), "write: %s", strerror(errno));
			return -EPIPE;
		}
		/* EIO: the interface is down (the frame is lost, as on a cable-less NIC); EINVAL:
		 * refused. */
		return -errno;
	}
	/* A tap takes a frame whole or not at all. */
	return (size_t)r == VNET_HDR_LEN + len ? 0 : -EIO;
}

static ssize_t tap_rx(struct vnet_be *be, uint8_t *buf, size_t cap)
{
	ssize_t r;

	do
		r = read(be->fd, buf, cap);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EAGAIN)
			return -EAGAIN;
		/* EBADFD (interface gone) or worse: reading again would fail again, forever. */
		snprintf(be->why, sizeof(be->why), "read: %s", strerror(errno));
		return -EPIPE;
	}
	/* A tap's every frame carries its header: 0 is a socket standing in for the tap, closed. */
	if (r == 0) {
		snprintf(be->why, sizeof(be->why), "read: end of file");
		return -EPIPE;
	}
	/* Shorter than the vnet header: nothing a tap sends; the caller drops it. */
	return r;
}

static int tun_set_offload(int fd, unsigned int tun)
{
	return ioctl(fd, TUNSETOFFLOAD, tun) < 0 ? -errno : 0;
}

static int tap_offload(struct vnet_be *be, unsigned int tun)
{
	int ret = be->set_offload(be->fd, tun);

	if (!ret)
		be->tun = tun;
	return ret;
}

static void tap_close(struct vnet_be *be)
{
	if (be->fd >= 0)
		close(be->fd);
	be->fd = -1;
}

static const struct vnet_be_ops tap_ops = {
	.kind = "tap",
	.tx = tap_tx,
	.rx = tap_rx,
	.offload = tap_offload,
	.close = tap_close,
};

/* The most the tap takes, trying smaller sets as older kernels refuse parts; then none again. */
static unsigned int probe_offloads(struct vnet_be *be)
{
	static const unsigned int tries[] = {
		TUN_ALL,
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN,
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
		TUN_F_CSUM,
	};
	unsigned int i, ok = 0;

	for (i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		if (!be->set_offload(be->fd, tries[i])) {
			ok = tries[i];
			break;
		}
	}
	/* Until the guest says what it takes, the kernel must segment and checksum for it. */
	be->set_offload(be->fd, 0);
	return ok;
}

int vnet_tap_fd(struct vnet_be *be, int fd, const char *name, vnet_offload_fn *set_offload)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	*be = (struct vnet_be){ .ops = &tap_ops,
				.fd = fd,
				.offloads = true,
				.set_offload = set_offload ? set_offload : tun_set_offload };
	snprintf(be->name, sizeof(be->name), "net %s", name);
	be->features = vnet_tap_features(probe_offloads(be));
	return 0;
}

static const char *tunsetiff_hint(int err)
{
	switch (err) {
	case EPERM:
		return " (create it for this user first, e.g. "
		       "`ip tuntap add NAME mode tap user USER vnet_hdr`, or run as root)";
	case EBUSY:
		return " (in use by another process?)";
	case EINVAL:
		return " (an interface of that name exists and is not a tap?)";
	default:
		return "";
	}
}

int vnet_tap_open(struct vnet_be *be, const char *ifname)
{
	struct ifreq ifr;
	int fd, hdr = VNET_HDR_LEN, ret;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		log_msg("net %s: /dev/net/tun: %s", ifname, strerror(-ret));
		return ret;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		log_msg("net %s: TUNSETIFF: %s%s", ifname, strerror(-ret), tunsetiff_hint(-ret));
		goto err;
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		ret = -errno;
		log_msg("net %s: TUNSETVNETHDRSZ 12: %s", ifname, strerror(-ret));
		goto err;
	}
	ret = vnet_tap_fd(be, fd, ifname, NULL);
	if (ret) {
		log_msg("net %s: %s", ifname, strerror(-ret));
		goto err;
	}
	return 0;
err:
	close(fd);
	return ret;
}
