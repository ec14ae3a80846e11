/* vsock endpoint: the in-process endpoint API — listen, connect, send into RX buffers, shut down.
 */
#include "virtio/vsock/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "lib/iov.h"

static struct vsock *of_ep(const struct vsock_ep *c)
{
	return container_of(c->p, struct vsock, p);
}

int vsock_listen(struct vsock *v, uint32_t port, vsock_accept_fn *accept, void *opaque)
{
	struct vsock_proto *p = &v->p;
	bool took;
	int ret = 0;

	if (port == VSOCK_PORT_ANY || !accept)
		return -EINVAL;
	took = vsock_enter(v);
	if (vsock_listener_find(p, port)) {
		ret = -EADDRINUSE;
	} else {
		if (p->nlisteners == p->listeners_cap) {
			unsigned int cap = p->listeners_cap ? 2 * p->listeners_cap : 4;
			struct vsock_listener *l = realloc(p->listeners, cap * sizeof(*l));

			if (!l) {
				ret = -ENOMEM;
				goto out;
			}
			p->listeners = l;
			p->listeners_cap = cap;
		}
		p->listeners[p->nlisteners++] =
			(struct vsock_listener){ .port = port, .accept = accept, .opaque = opaque };
	}
out:
	vsock_leave(v, took);
	return ret;
}

void vsock_unlisten(struct vsock *v, uint32_t port)
{
	bool took = vsock_enter(v);
	struct vsock_listener *l = vsock_listener_find(&v->p, port);

	if (l)
		*l = v->p.listeners[--v->p.nlisteners];
	vsock_leave(v, took);
}

int vsock_connect(struct vsock *v, uint32_t guest_port, const struct vsock_ep_ops *ops,
		  void *opaque, struct vsock_ep **out)
{
	struct vsock_ep *c = NULL;
	uint32_t port;
	bool took;
	int ret;

	if (!ops || !ops->recv || guest_port == VSOCK_PORT_ANY)
		return -EINVAL;
	took = vsock_enter(v);
	ret = vsock_proto_port(&v->p, &port);
	if (!ret) {
		c = vsock_ep_new(&v->p, port, guest_port);
		ret = c ? 0 : -EAGAIN;
	}
	if (!ret) {
		c->state = VS_CONNECTING;
		c->ops = ops;
		c->opaque = opaque;
		/* Sent once the guest has an RX buffer: settle() flushes. */
		c->pending = VP_REQUEST;
		vlist_add_tail(&v->p.ctl, &c->ctl);
		*out = c;
	}
	vsock_leave(v, took);
	return ret;
}

uint32_t vsock_ep_local_port(const struct vsock_ep *ep)
{
	return ep->local_port;
}

uint32_t vsock_ep_peer_port(const struct vsock_ep *ep)
{
	return ep->peer_port;
}

static ssize_t do_send(struct vsock *v, struct vsock_ep *c, size_t max, vsock_fill_fn *fill,
		       void *arg)
{
	struct iovec iov[VSOCK_RX_BATCH * VSOCK_RX_IOV];
	size_t want[VSOCK_RX_BATCH], room, cap = 0, left;
	unsigned int niov = 0, nch = 0, i;
	struct virtio_vsock_hdr h;
	ssize_t got;
	int k;

	if (!max)
		return -EINVAL;
	if (c->state == VS_CONNECTING)
		return -ENOTCONN;
	if (c->state != VS_ESTABLISHED || c->closed_owed ||
	    (c->shut_owed & VIRTIO_VSOCK_SHUTDOWN_SEND) ||
	    (c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_RCV))
		return -EPIPE;
	/* This endpoint is sending: it needs no writable() from the flush below. */
	vlist_del(&c->wait);
	c->want_room = false;
	if (c->pending & VP_RESPONSE) {
		vsock_rx_flush(v); /* the RESPONSE goes before any byte */
		if (c->state != VS_ESTABLISHED)
			return -EPIPE;
	}
	room = vsock_credit(c);
	if (room > max)
		room = max;
	if (!room || (c->pending & VP_RESPONSE)) {
		vsock_block(c);
		return -ENOBUFS;
	}
	while (cap < room && nch < VSOCK_RX_BATCH) {
		struct vsock_rx *r = vsock_rx_get(v, nch);

		if (!r)
			break;
		want[nch] = r->c.in_len - VSOCK_HDR;
		if (want[nch] > VSOCK_MAX_PKT)
			want[nch] = VSOCK_MAX_PKT;
		if (want[nch] > room - cap)
			want[nch] = room - cap;
		/* Inside a chain that fit VSOCK_RX_IOV entries: it fits (else the chain waits). */
		k = iov_slice(iov + niov, ARRAY_SIZE(iov) - niov, r->c.iov + r->c.nout, r->c.nin,
			      VSOCK_HDR, want[nch]);
		if (k < 0)
			break;
		niov += (unsigned int)k;
		cap += want[nch++];
	}
	if (c->state != VS_ESTABLISHED)
		return -EPIPE; /* the guest broke the RX ring meanwhile: everything was dropped */
	if (!nch) {
		vsock_block(c);
		return -ENOBUFS;
	}
	got = fill(arg, iov, niov);
	if (got <= 0)
		return got; /* the chains stay held for the next send */
	if ((size_t)got > cap)
		got = (ssize_t)cap;
	left = (size_t)got;
	for (i = 0; left; i++) {
		struct vsock_rx *r = &v->rx[(v->rx_head + i) % VSOCK_RX_BATCH];
		size_t n = want[i] < left ? want[i] : left;

		vsock_proto_data_hdr(c, (uint32_t)n, &h);
		virtq_write_in(&r->c, 0, &h, VSOCK_HDR);
		virtq_push(&v->dev.vq[VSOCK_RXQ], r->c.head, (uint32_t)(VSOCK_HDR + n));
		left -= n;
	}
	vsock_rx_consume(v, i);
	virtio_dev_queue_done(&v->dev, VSOCK_RXQ);
	return got;
}

ssize_t vsock_ep_send_fill(struct vsock_ep *ep, size_t max, vsock_fill_fn *fill, void *arg)
{
	struct vsock *v = of_ep(ep);
	bool took = vsock_enter(v);
	ssize_t ret = do_send(v, ep, max, fill, arg);

	vsock_leave(v, took);
	return ret;
}

struct flat {
	const uint8_t *p;
	size_t len;
};

static ssize_t copy_fill(void *arg, const struct iovec *iov, unsigned int n)
{
	struct flat *f = arg;

	return (ssize_t)iov_write(iov, n, 0, f->p, f->len);
}

ssize_t vsock_ep_send(struct vsock_ep *ep, const void *buf, size_t len)
{
	struct vsock *v = of_ep(ep);
	struct flat f = { buf, len };
	size_t done = 0;
	ssize_t ret = 0;
	bool took;

	if (!len)
		return 0;
	took = vsock_enter(v);
	/* Batch after batch until all is taken or the guest has no room (writable() follows). */
	while (done < len) {
		ret = do_send(v, ep, len - done, copy_fill, &f);
		if (ret <= 0)
			break;
		done += (size_t)ret;
		f.p += ret;
		f.len -= (size_t)ret;
	}
	vsock_leave(v, took);
	return done ? (ssize_t)done : ret;
}

void vsock_ep_recv_ready(struct vsock_ep *ep)
{
	struct vsock *v = of_ep(ep);
	bool took = vsock_enter(v);

	if (ep->state == VS_ESTABLISHED && !ep->in_recv) {
		ep->ep_busy = false;
		vsock_ep_flush(ep);
	}
	vsock_leave(v, took);
}

int vsock_ep_shutdown(struct vsock_ep *ep, int how)
{
	struct vsock *v = of_ep(ep);
	uint8_t flags;
	bool took;
	int ret;

	switch (how) {
	case SHUT_RD:
		flags = VIRTIO_VSOCK_SHUTDOWN_RCV;
		break;
	case SHUT_WR:
		flags = VIRTIO_VSOCK_SHUTDOWN_SEND;
		break;
	case SHUT_RDWR:
		flags = VSOCK_SHUT_BOTH;
		break;
	default:
		return -EINVAL;
	}
	took = vsock_enter(v);
	ret = vsock_ep_do_shutdown(ep, flags);
	vsock_leave(v, took);
	return ret;
}

void vsock_ep_close(struct vsock_ep *ep)
{
	struct vsock *v = of_ep(ep);
	bool took = vsock_enter(v);

	vsock_ep_do_close(ep);
	vsock_leave(v, took);
}
