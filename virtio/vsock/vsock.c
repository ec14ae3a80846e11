/* virtio-vsock: the device — config space, TX and RX queues, the event queue, reset, lifecycle. */
#include "virtio/vsock/internal.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib/file.h"
#include "lib/iov.h"
#include "lib/log.h"

static struct vsock *of_dev(struct virtio_dev *d)
{
	return container_of(d, struct vsock, dev);
}

/* ---- entering vsock code ---- */

/*
 * The lock is held (by us or by the transport): count the depth, remember the
 * thread. Each outermost entry (one loop callback, one API call) starts with a
 * fresh budget of RX chains.
 */
static void hold(struct vsock *v)
{
	if (!v->depth++) {
		atomic_store(&v->owner, (unsigned long)pthread_self());
		v->rx_budget = VSOCK_BUDGET;
	}
}

bool vsock_enter(struct vsock *v)
{
	/* Only the holder can find its own id here: the check needs no lock. */
	bool took = atomic_load(&v->owner) != (unsigned long)pthread_self();

	if (took)
		pthread_mutex_lock(&v->dev.lock);
	hold(v);
	return took;
}

static void settle(struct vsock *v);

void vsock_leave(struct vsock *v, bool took)
{
	/* The outermost frame: no caller holds a connection pointer, so the pool may recycle. */
	if (v->depth == 1)
		settle(v);
	if (!--v->depth)
		atomic_store(&v->owner, 0UL);
	if (took)
		pthread_mutex_unlock(&v->dev.lock);
}

/* ---- queues ---- */

static bool queue_ok(const struct vsock *v, unsigned int q)
{
	return virtio_dev_live(&v->dev) && v->dev.vq[q].enabled && !v->dev.vq[q].broken;
}

/* The guest broke a ring: the device fails, and nothing can be carried any more. */
static void fail(struct vsock *v, unsigned int q)
{
	virtio_dev_fail(&v->dev, "queue %u: %s", q, v->dev.vq[q].why);
	vsock_proto_drop_all(&v->p, -ECONNRESET);
	v->rx_n = 0;
}

/*
 * The i-th RX chain held for use, popping more as needed; NULL when the guest has none (or
 * broke the ring). Chains too small for a header and a byte are returned at once, empty.
 * At most VSOCK_BUDGET pops per entry: then the guest's buffers count as gone (rx_empty,
 * senders wait) and the RX queue is requeued, whose notify brings them back on a later pass.
 */
struct vsock_rx *vsock_rx_get(struct vsock *v, unsigned int i)
{
	struct virtq *vq = &v->dev.vq[VSOCK_RXQ];

	while (v->rx_n <= i) {
		struct vsock_rx *r = &v->rx[(v->rx_head + v->rx_n) % VSOCK_RX_BATCH];
		int ret;

		if (!queue_ok(v, VSOCK_RXQ))
			return NULL;
		if (!v->rx_budget) {
			v->p.rx_empty = true;
			virtio_dev_requeue(&v->dev, VSOCK_RXQ);
			return NULL;
		}
		r->c = (struct virtq_chain){ .iov = r->iov, .cap = VSOCK_RX_IOV };
		ret = virtq_pop(vq, &r->c);
		if (!ret) {
			v->p.rx_empty = true;
			return NULL;
		}
		v->rx_budget--;
		if (ret < 0) {
			fail(v, VSOCK_RXQ);
			return NULL;
		}
		if (r->c.in_len <= VSOCK_HDR) {
			log_debug("%s: RX buffer of %zu bytes is too small, returned", v->dev.name,
				  r->c.in_len);
			virtq_push(vq, r->c.head, 0);
			virtio_dev_queue_done(&v->dev, VSOCK_RXQ);
			continue;
		}
		v->rx_n++;
	}
	return &v->rx[(v->rx_head + i) % VSOCK_RX_BATCH];
}

void vsock_rx_consume(struct vsock *v, unsigned int n)
{
	v->rx_head = (v->rx_head + n) % VSOCK_RX_BATCH;
	v->rx_n -= n;
}

/* Send the control packets owed (RSTs, RESPONSEs, credit updates...) while buffers last. */
void vsock_rx_flush(struct vsock *v)
{
	struct virtq *vq = &v->dev.vq[VSOCK_RXQ];
	struct virtio_vsock_hdr h;
	bool sent = false;

	while (vsock_proto_has_ctl(&v->p)) {
		struct vsock_rx *r = vsock_rx_get(v, 0);

		if (!r)
			break;
		vsock_proto_next_ctl(&v->p, &h);
		virtq_write_in(&r->c, 0, &h, VSOCK_HDR);
		virtq_push(vq, r->c.head, VSOCK_HDR);
		vsock_rx_consume(v, 1);
		sent = true;
	}
	if (sent)
		virtio_dev_queue_done(&v->dev, VSOCK_RXQ);
	/* TX waited for room for the RSTs it owes: go on through the loop, not recursively. */
	if (v->tx_waits && v->p.norphans < VSOCK_ORPHANS) {
		v->tx_waits = false;
		virtio_dev_requeue(&v->dev, VSOCK_TXQ);
	}
	if (sent)
		vsock_proto_wake(&v->p);
}

/* Post the owed TRANSPORT_RESET; chains too small for it are returned, a budget's worth a call. */
static void ev_flush(struct vsock *v)
{
	struct virtio_vsock_event e = { .id = htole32(VIRTIO_VSOCK_EVENT_TRANSPORT_RESET) };
	struct virtq *vq = &v->dev.vq[VSOCK_EVQ];
	unsigned int budget = VSOCK_BUDGET;
	struct iovec iov[4];
	struct virtq_chain c;
	int ret;

	while (v->event_owed && queue_ok(v, VSOCK_EVQ)) {
		if (!budget--) {
			virtio_dev_requeue(&v->dev, VSOCK_EVQ);
			return;
		}
		c = (struct virtq_chain){ .iov = iov, .cap = 4 };
		ret = virtq_pop(vq, &c);
		if (!ret)
			return;
		if (ret < 0) {
			fail(v, VSOCK_EVQ);
			return;
		}
		if (c.in_len >= sizeof(e)) {
			virtq_write_in(&c, 0, &e, sizeof(e));
			v->event_owed = false;
		}
		virtq_push(vq, c.head, v->event_owed ? 0 : (uint32_t)sizeof(e));
		virtio_dev_queue_done(&v->dev, VSOCK_EVQ);
	}
}

/*
 * One TX chain: the header from the readable part at offset 0, wherever descriptors split.
 * A chain carrying more than one packet can (VSOCK_MAX_PKT) is not even sliced: the check
 * of its length drops it (and resets the connection it names), however much it claims.
 */
static void tx_chain(struct vsock *v, const struct virtq_chain *c)
{
	struct iovec iov[VSOCK_TX_IOV];
	struct virtio_vsock_hdr h;
	size_t carried;
	int n = 0;

	if (c->out_len < VSOCK_HDR) {
		log_debug("%s: TX packet of %zu bytes, shorter than a header: dropped", v->dev.name,
			  c->out_len);
		return;
	}
	virtq_read_out(c, 0, &h, VSOCK_HDR);
	carried = c->out_len - VSOCK_HDR;
	/* The rest of the chain's readable part: it fits, as the chain fit VSOCK_TX_IOV entries. */
	if (carried <= VSOCK_MAX_PKT)
		n = iov_slice(iov, VSOCK_TX_IOV, c->iov, c->nout, VSOCK_HDR, carried);
	vsock_proto_input(&v->p, &h, iov, n > 0 ? (unsigned int)n : 0, carried);
}

/* Up to VSOCK_BUDGET TX chains (each at most one packet to an endpoint), then a requeue. */
static void tx_process(struct vsock *v)
{
	struct virtq *vq = &v->dev.vq[VSOCK_TXQ];
	unsigned int budget = VSOCK_BUDGET;
	struct iovec iov[VSOCK_TX_IOV];
	struct virtq_chain c;
	bool pushed = false;
	int ret;

	while (queue_ok(v, VSOCK_TXQ)) {
		/* Each packet may owe one RST: stop while there is no room to remember it. */
		if (v->p.norphans >= VSOCK_ORPHANS) {
			v->tx_waits = true;
			break;
		}
		if (!budget--) {
			/* Fairness: RX, the sockets and other devices get the loop in between. */
			if (virtq_pending(vq))
				virtio_dev_requeue(&v->dev, VSOCK_TXQ);
			break;
		}
		c = (struct virtq_chain){ .iov = iov, .cap = VSOCK_TX_IOV };
		ret = virtq_pop(vq, &c);
		if (!ret)
			break;
		if (ret < 0) {
			fail(v, VSOCK_TXQ);
			break;
		}
		tx_chain(v, &c);
		virtq_push(vq, c.head, 0);
		pushed = true;
	}
	if (pushed)
		virtio_dev_queue_done(&v->dev, VSOCK_TXQ);
}

/* Leaving the outermost frame: closed() for dropped connections, owed control packets. */
static void settle(struct vsock *v)
{
	unsigned int round;

	for (round = 0; round < 8; round++) {
		vsock_proto_reap(&v->p);
		if (queue_ok(v, VSOCK_RXQ) && vsock_proto_has_ctl(&v->p) && !v->p.rx_empty)
			vsock_rx_flush(v);
		if (vlist_empty(&v->p.zombies) && vlist_empty(&v->p.dead))
			break;
	}
}

/* ---- device ops ---- */

static void vsock_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_vsock_config cfg = { .guest_cid = htole64(of_dev(d)->cid) };

	memcpy(data, (const uint8_t *)&cfg + off, len);
}

static void vsock_notify(struct virtio_dev *d, unsigned int q)
{
	struct vsock *v = of_dev(d);

	hold(v);
	switch (q) {
	case VSOCK_RXQ:
		v->rx_kicks++;
		v->p.rx_empty = false;
		vsock_rx_flush(v);
		vsock_proto_wake(&v->p);
		break;
	case VSOCK_TXQ:
		v->tx_kicks++;
		tx_process(v);
		break;
	case VSOCK_EVQ:
		ev_flush(v);
		break;
	default:
		break;
	}
	vsock_leave(v, false);
}

/* DRIVER_OK (a vCPU thread): the rx queue may hold buffers now (the core requeues every queue). */
static int vsock_activate(struct virtio_dev *d)
{
	struct vsock *v = of_dev(d);

	v->p.rx_empty = false;
	return 0;
}

/*
 * Guest reset (a vCPU thread) or destroy: forget every connection and held buffer. The
 * endpoints hear closed() on the event loop (reap_fd), where their callbacks belong.
 */
static void vsock_reset(struct virtio_dev *d)
{
	struct vsock *v = of_dev(d);

	vsock_proto_drop_all(&v->p, -ECONNRESET);
	v->rx_n = 0;
	v->rx_head = 0;
	v->p.rx_empty = true;
	v->event_owed = false;
	v->tx_waits = false;
	if ((!vlist_empty(&v->p.zombies) || !vlist_empty(&v->p.dead)) &&
	    eventfd_write(v->reap_fd, 1) < 0)
		log_debug("%s: reap wake-up: %s", d->name, strerror(errno));
}

static void vsock_free(struct virtio_dev *d);

static const struct virtio_dev_ops vsock_ops = {
	.type = "vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.config_read = vsock_config_read,
	.activate = vsock_activate,
	.notify = vsock_notify,
	.reset = vsock_reset,
	.destroy = vsock_free,
};

static void on_reap(struct loop *l, struct loop_handler *h, uint32_t events)
{
	struct vsock *v = h->opaque;
	eventfd_t n;
	bool took;

	(void)l;
	(void)events;
	if (eventfd_read(h->fd, &n) < 0 && errno != EAGAIN)
		log_debug("%s: reap read: %s", v->dev.name, strerror(errno));
	took = vsock_enter(v);
	vsock_leave(v, took); /* settle() calls closed() */
}

int vsock_open(const struct vsock_config *c, void **res)
{
	struct usock *ls;
	int ret;

	*res = NULL;
	if (!c->uds)
		return 0;
	ls = malloc(sizeof(*ls));
	if (!ls)
		return -ENOMEM;
	ret = vsock_uds_listen(c->uds, ls); /* says why not */
	if (ret) {
		free(ls);
		return ret;
	}
	*res = ls;
	return 0;
}

void vsock_release(void *res)
{
	struct usock *ls = res;

	if (!ls)
		return;
	usock_close(ls);
	free(ls);
}

int vsock_build(const void *cfg, void *res, unsigned int index, const struct virtio_host *host,
		struct virtio_dev **out)
{
	const struct vsock_config *c = cfg;
	const char *what = c->uds ? c->uds : "(no socket)";
	struct usock *ls = res;
	struct vsock *v = calloc(1, sizeof(*v));
	char name[48];
	int ret;

	(void)index; /* one per VM */
	if (!v) {
		ret = -ENOMEM;
		goto err_res;
	}
	snprintf(name, sizeof(name), "virtio-vsock (cid %u)", c->cid);
	ret = virtio_dev_init(&v->dev, &vsock_ops, name, VSOCK_NQUEUES, VSOCK_QUEUE_MAX, 0,
			      sizeof(struct virtio_vsock_config));
	if (ret) {
		log_msg("vsock %s: %s", what, strerror(-ret));
		goto err_free;
	}
	v->dev.host = host;
	/* One descriptor per connection: the usual soft limit of 1024 is below VSOCK_MAX_CONNS. */
	file_raise_nofile();
	v->cid = c->cid;
	atomic_init(&v->owner, 0UL);
	v->reap_fd = -1;
	ret = vsock_proto_init(&v->p, c->cid, v->dev.name);
	if (ret) {
		log_msg("vsock %s: %s", what, strerror(-ret));
		goto err_mutex;
	}
	v->reap_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->reap_fd < 0) {
		ret = -errno;
		log_msg("vsock %s: eventfd: %s", what, strerror(-ret));
		goto err_proto;
	}
	v->reap_h = (struct loop_handler){ .fd = v->reap_fd, .cb = on_reap, .opaque = v };
	ret = loop_add(host->loop, &v->reap_h, EPOLLIN);
	if (ret) {
		log_msg("vsock %s: event loop: %s", what, strerror(-ret));
		goto err_reap;
	}
	if (ls) {
		ret = vsock_uds_open(v, ls, host, &v->uds);
		if (ret)
			goto err_loop;
		free(ls); /* its socket is the endpoint's */
		v->p.fallback = vsock_uds_guest_connect;
		v->p.fallback_arg = v->uds;
	}
	*out = &v->dev;
	return 0;

err_loop:
	loop_del(host->loop, &v->reap_h);
err_reap:
	close(v->reap_fd);
err_proto:
	vsock_proto_fini(&v->p);
err_mutex:
	pthread_mutex_destroy(&v->dev.lock);
err_free:
	free(v);
err_res:
	vsock_release(ls);
	return ret;
}

int vsock_create(const struct vsock_config *c, const struct virtio_host *host, struct vsock **out)
{
	struct virtio_dev *d;
	void *res = NULL;
	int ret;

	ret = vsock_open(c, &res);
	if (!ret)
		ret = vsock_build(c, res, 0, host, &d);
	if (!ret)
		*out = container_of(d, struct vsock, dev);
	return ret;
}

/* After the transport was detached (virtio_dev_destroy), which reset the device. */
static void vsock_free(struct virtio_dev *d)
{
	struct vsock *v = container_of(d, struct vsock, dev);
	const struct virtio_host *host = v->dev.host;
	bool took;

	took = vsock_enter(v);
	vsock_leave(v, took); /* the endpoints of the connections the reset ended hear closed() */
	vsock_uds_close(v->uds);
	loop_del(host->loop, &v->reap_h);
	close(v->reap_fd);
	vsock_proto_fini(&v->p);
	pthread_mutex_destroy(&v->dev.lock);
	free(v);
}

struct vsock *vsock_of(struct virtio_dev *d)
{
	return d && d->ops == &vsock_ops ? container_of(d, struct vsock, dev) : NULL;
}

void vsock_destroy(struct vsock *v)
{
	if (v)
		virtio_dev_destroy(&v->dev);
}

void vsock_transport_reset(struct vsock *v)
{
	bool took = vsock_enter(v);

	vsock_proto_drop_all(&v->p, -ECONNRESET);
	v->event_owed = true;
	ev_flush(v);
	vsock_leave(v, took);
}
