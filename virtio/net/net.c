/* virtio-net device: RX and TX queues on the event loop, between the guest and its backend. */
#include <endian.h>
#include <errno.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>

#include "virtio/net/internal.h"
#include "lib/log.h"

/* mac, status, max_virtqueue_pairs, mtu: the fields up to the MTU's. */
#define VNET_CONFIG_SIZE (offsetof(struct virtio_net_config, mtu) + 2)

static struct vnet *to_vnet(struct virtio_dev *d)
{
	return container_of(d, struct vnet, dev);
}

/*
 * What the backend fd is polled for: input while the guest is there and has
 * buffers, output while the backend holds something to write. The loop is
 * level-triggered, so a readable fd nobody wants to read must leave the set.
 */
void vnet_be_arm(struct vnet *n)
{
	uint32_t want = 0;
	int ret;

	if (!n->be_up)
		return;
	if (n->active && virtio_dev_live(&n->dev) && !n->rx_wait)
		want |= EPOLLIN;
	if (n->tx_wait)
		want |= EPOLLOUT;
	if (want == n->be_events)
		return;
	ret = loop_mod(n->dev.host->loop, &n->be_h, want);
	if (ret) {
		log_msg("%s: event loop: %s", n->be.name, strerror(-ret));
		return;
	}
	n->be_events = want;
}

/* Tell the guest about the link (STATUS) with a configuration change. */
static void link_down(struct vnet *n)
{
	n->cfg.status = htole16(0);
	n->dev.config_generation++;
	if (virtio_dev_live(&n->dev))
		virtio_dev_interrupt(&n->dev, VIRTIO_MMIO_INT_CONFIG);
}

/*
 * The backend is gone (passt exited, the tap vanished, a protocol error):
 * stop polling it for good and take the link down. TX keeps draining the
 * guest's queue into nothing so its watchdog stays quiet.
 */
void vnet_be_stop(struct vnet *n)
{
	struct virtq *tq = &n->dev.vq[VNET_TXQ];

	if (!n->be_up)
		return;
	log_msg("%s: %s; the link is down", n->be.name, n->be.why[0] ? n->be.why : "failed");
	loop_del(n->dev.host->loop, &n->be_h);
	n->be_up = false;
	n->be_events = 0;
	n->tx_wait = false;
	if (n->tx_held && virtio_dev_live(&n->dev)) {
		virtq_push(tq, n->tx_head, 0);
		virtio_dev_queue_done(&n->dev, VNET_TXQ);
	}
	if (n->tx_held)
		n->stats.tx_dropped++;
	n->tx_held = false;
	link_down(n);
	/*
	 * TX may have been paused with chains pending that the guest will not
	 * kick for again: a kick of our own drains them on the next round.
	 */
	if (virtio_dev_live(&n->dev))
		virtio_dev_requeue(&n->dev, VNET_TXQ);
}

/* ---- event loop and device ops ---- */

/*
 * Why a backend hung up: reading what is left ends in its own reason (passt's
 * exit status, the tap's error). The frames read are lost, as the link is; a
 * frame already waiting for the guest is kept, and then the reason generic.
 */
static void be_gone_why(struct vnet *n, uint32_t events)
{
	unsigned int i;
	ssize_t r = 0;

	for (i = 0; i < VNET_BUDGET && !n->rx_len && r != -EPIPE; i++) {
		r = n->be.ops->rx(&n->be, n->rxbuf, VNET_RX_BUF);
		if (r == -EAGAIN)
			break;
	}
	if (r != -EPIPE || !n->be.why[0])
		snprintf(n->be.why, sizeof(n->be.why), "%s",
			 events & EPOLLERR ? "error on its file descriptor" : "hung up");
}

static void on_backend(struct loop *l, struct loop_handler *h, uint32_t events)
{
	struct vnet *n = h->opaque;

	(void)l;
	pthread_mutex_lock(&n->dev.lock);
	if (!n->be_up)
		goto out;
	/* Hang-up or error while input is not wanted: the backend is gone. */
	if ((events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLIN)) {
		be_gone_why(n, events);
		vnet_be_stop(n);
		goto out;
	}
	if (events & EPOLLOUT)
		vnet_tx_writable(n);
	if ((events & EPOLLIN) && n->be_up)
		vnet_rx_process(n);
out:
	pthread_mutex_unlock(&n->dev.lock);
}

static void vnet_notify(struct virtio_dev *d, unsigned int q)
{
	struct vnet *n = to_vnet(d);

	if (q == VNET_RXQ) {
		/* New buffers: finish the waiting frame, then poll the backend again. */
		n->rx_wait = false;
		vnet_rx_process(n);
	} else if (q == VNET_TXQ) {
		vnet_tx_process(n);
	}
}

static int vnet_activate(struct virtio_dev *d)
{
	struct vnet *n = to_vnet(d);
	int ret;

	if (n->be.ops->offload && n->be_up) {
		ret = n->be.ops->offload(&n->be, vnet_tun_offloads(d->features));
		if (ret) {
			log_msg("%s: TUNSETOFFLOAD 0x%x: %s", n->be.name,
				vnet_tun_offloads(d->features), strerror(-ret));
			return ret;
		}
	}
	n->active = true;
	n->rx_wait = false;
	vnet_be_arm(n);
	return 0;
}

/* Forget the guest's chains (no pushes after a reset); the backend's stream state stays. */
static void vnet_reset(struct virtio_dev *d)
{
	struct vnet *n = to_vnet(d);

	n->active = false;
	n->rx_len = 0; /* may be GSO the next driver does not take */
	n->rx_wait = false;
	vnet_rx_forget(n);
	n->tx_held = false;
	/* A partly written passt record must still go out whole. */
	n->tx_wait = n->be.tx_len != 0;
	if (n->be_up && n->be.ops->offload && n->be.ops->offload(&n->be, 0))
		log_debug("%s: TUNSETOFFLOAD 0 failed", n->be.name);
	vnet_be_arm(n);
}

static void vnet_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len)
{
	memcpy(data, (const uint8_t *)&to_vnet(d)->cfg + off, len);
}

/* The MAC is read-only in virtio 1.x (CTRL_MAC_ADDR is not offered): ignore writes. */
static void vnet_config_write(struct virtio_dev *d, uint32_t off, const uint8_t *data, uint32_t len)
{
	(void)data;
	log_debug("%s: config write at %u (%u bytes) ignored", d->name, off, len);
}

static void vnet_free(struct virtio_dev *d);

static const struct virtio_dev_ops vnet_ops = {
	.type = "net",
	.device_id = VIRTIO_ID_NET,
	.config_read = vnet_config_read,
	.config_write = vnet_config_write,
	.activate = vnet_activate,
	.notify = vnet_notify,
	.reset = vnet_reset,
	.destroy = vnet_free,
};

int vnet_create_be(const struct vnet_config *c, unsigned int index, const struct vnet_be *be,
		   const struct virtio_host *host, struct vnet **out)
{
	struct vnet *n = calloc(1, sizeof(*n));
	char name[48];
	int ret;

	if (!n)
		return -ENOMEM;
	snprintf(name, sizeof(name), "virtio-net %u (%s)", index,
		 c->backend == VNET_TAP ? c->tap : "passt");
	ret = virtio_dev_init(&n->dev, &vnet_ops, name, 2, VNET_QUEUE_MAX, be->features,
			      VNET_CONFIG_SIZE);
	if (ret)
		goto err_free;
	n->dev.host = host;
	n->be = *be;
	n->rxbuf = malloc(VNET_RX_BUF);
	if (!n->rxbuf) {
		ret = -ENOMEM;
		goto err_mutex;
	}
	if (c->mac_set) {
		memcpy(n->cfg.mac, c->mac, sizeof(c->mac));
	} else if (getrandom(n->cfg.mac, sizeof(n->cfg.mac), 0) != sizeof(n->cfg.mac)) {
		ret = -EIO;
		log_msg("%s: no random bytes for a MAC", n->be.name);
		goto err_buf;
	} else {
		/* Locally administered, unicast. */
		n->cfg.mac[0] = (uint8_t)((n->cfg.mac[0] & 0xfe) | 0x02);
	}
	n->cfg.status = htole16(VIRTIO_NET_S_LINK_UP);
	n->cfg.max_virtqueue_pairs = htole16(1);
	if (be->features & VNET_F(MTU))
		n->cfg.mtu = htole16(VNET_PASST_MTU);

	n->be_h = (struct loop_handler){ .fd = n->be.fd, .cb = on_backend, .opaque = n };
	/* Nothing wanted until the driver is ready; hang-ups are reported anyway. */
	ret = loop_add(host->loop, &n->be_h, 0);
	if (ret) {
		log_msg("%s: event loop: %s", n->be.name, strerror(-ret));
		goto err_buf;
	}
	n->be_up = true;
	*out = n;
	return 0;

err_buf:
	free(n->rxbuf);
err_mutex:
	pthread_mutex_destroy(&n->dev.lock);
err_free:
	free(n);
	return ret;
}

int vnet_open(const struct vnet_config *c, void **res)
{
	struct vnet_be *be;
	int ret;

	if (c->backend == VNET_TAP && !c->tap) {
		log_msg("net: no backend (tap=NAME or passt)");
		return -EINVAL;
	}
	be = malloc(sizeof(*be));
	if (!be)
		return -ENOMEM;
	ret = c->backend == VNET_TAP ? vnet_tap_open(be, c->tap) : vnet_passt_open(be, c->passt);
	if (ret) {
		free(be);
		return ret;
	}
	*res = be;
	return 0;
}

void vnet_release(void *res)
{
	struct vnet_be *be = res;

	if (!be)
		return;
	be->ops->close(be);
	free(be);
}

int vnet_build(const void *cfg, void *res, unsigned int index, const struct virtio_host *host,
	       struct virtio_dev **out)
{
	struct vnet *n;
	int ret;

	ret = vnet_create_be(cfg, index, res, host, &n);
	if (ret) {
		vnet_release(res);
		return ret;
	}
	free(res); /* moved into the device */
	*out = &n->dev;
	return 0;
}

int vnet_create(const struct vnet_config *c, unsigned int index, const struct virtio_host *host,
		struct vnet **out)
{
	struct virtio_dev *d;
	void *res = NULL;
	int ret;

	ret = vnet_open(c, &res);
	if (!ret)
		ret = vnet_build(c, res, index, host, &d);
	if (!ret)
		*out = to_vnet(d);
	return ret;
}

/* After the transport was detached (virtio_dev_destroy): the backend closed, passt stopped. */
static void vnet_free(struct virtio_dev *d)
{
	struct vnet *n = to_vnet(d);
	const struct vnet_stats *st = &n->stats;

	log_debug("%s: TX %llu sent, %llu refused, %llu lost; RX %llu delivered, %llu refused, "
		  "%llu lost, %llu waits for buffers%s%s",
		  n->dev.name, (unsigned long long)st->tx_frames, (unsigned long long)st->tx_bad,
		  (unsigned long long)st->tx_dropped, (unsigned long long)st->rx_frames,
		  (unsigned long long)st->rx_bad, (unsigned long long)st->rx_dropped,
		  (unsigned long long)st->rx_waits, n->rx_wait ? "; waiting for RX buffers" : "",
		  n->tx_wait ? "; waiting for the backend" : "");
	if (n->be_up)
		loop_del(n->dev.host->loop, &n->be_h);
	n->be.ops->close(&n->be);
	free(n->rxbuf);
	pthread_mutex_destroy(&n->dev.lock);
	free(n);
}

void vnet_destroy(struct vnet *n)
{
	if (n)
		virtio_dev_destroy(&n->dev);
}
