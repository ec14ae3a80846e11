/* vsock packet: the wire — guest packets checked and dispatched, control packets to the guest. */
#include "virtio/vsock/internal.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "lib/log.h"

/* A decoded header: the wire one is packed little-endian. */
struct pkt {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len, flags, buf_alloc, fwd_cnt;
	uint16_t type, op;
};

static void decode(const struct virtio_vsock_hdr *h, struct pkt *k)
{
	*k = (struct pkt){
		.src_cid = le64toh(h->src_cid),
		.dst_cid = le64toh(h->dst_cid),
		.src_port = le32toh(h->src_port),
		.dst_port = le32toh(h->dst_port),
		.len = le32toh(h->len),
		.flags = le32toh(h->flags),
		.buf_alloc = le32toh(h->buf_alloc),
		.fwd_cnt = le32toh(h->fwd_cnt),
		.type = le16toh(h->type),
		.op = le16toh(h->op),
	};
}

/* ---- guest packets ---- */

enum vsock_verdict vsock_pkt_check(const struct virtio_vsock_hdr *h, uint64_t guest_cid,
				   size_t carried, const char **why)
{
	uint32_t len = le32toh(h->len);

	*why = NULL;
	if (le64toh(h->src_cid) != guest_cid) {
		*why = "source CID is not the guest's";
		return VSOCK_PKT_DROP;
	}
	if (len > VSOCK_MAX_PKT) {
		*why = "payload over 64 KiB";
		return VSOCK_PKT_DROP;
	}
	if (carried != len) {
		*why = "header length differs from the bytes the buffers carry";
		return VSOCK_PKT_DROP;
	}
	if (le64toh(h->dst_cid) != VSOCK_HOST_CID) {
		*why = "destination CID is not the host";
		return VSOCK_PKT_RST;
	}
	if (le16toh(h->type) != VIRTIO_VSOCK_TYPE_STREAM) {
		*why = "not a stream packet";
		return VSOCK_PKT_RST;
	}
	return VSOCK_PKT_OK;
}

/* An RST for a packet that matches no connection (never for an RST). */
static void orphan_rst(struct vsock_proto *p, const struct pkt *k)
{
	unsigned int at;

	if (k->op == VIRTIO_VSOCK_OP_RST)
		return;
	if (p->norphans == VSOCK_ORPHANS) {
		/* The device stops TX before this happens; a guest ignoring RSTs loses some. */
		log_debug("%s: RST to port %u dropped: %u owed already", p->name, k->src_port,
			  p->norphans);
		return;
	}
	at = (p->orphan_head + p->norphans++) % VSOCK_ORPHANS;
	p->orphan[at].local = k->dst_port;
	p->orphan[at].peer = k->src_port;
}

static void request(struct vsock_proto *p, const struct pkt *k)
{
	struct vsock_listener *l = vsock_listener_find(p, k->dst_port);
	const struct vsock_ep_ops *ops = NULL;
	void *opaque = NULL;
	struct vsock_ep *c;
	int ret;

	c = vsock_ep_new(p, k->dst_port, k->src_port);
	if (!c) {
		if (!p->limit_logged)
			log_msg("%s: guest connect to port %u refused: %u connections, the limit",
				p->name, k->dst_port, VSOCK_MAX_CONNS);
		p->limit_logged = true;
		orphan_rst(p, k);
		return;
	}
	c->peer_buf_alloc = k->buf_alloc;
	c->peer_fwd_cnt = k->fwd_cnt;
	if (l) {
		ret = l->accept(l->opaque, c, k->src_port, &ops, &opaque);
		if (!ret && (!ops || !ops->recv))
			ret = -EINVAL;
		if (c->state != VS_ESTABLISHED)
			return; /* closed from inside accept: its RST answers the REQUEST */
		if (!ret) {
			c->ops = ops;
			c->opaque = opaque;
		}
	} else if (p->fallback) {
		ret = p->fallback(p->fallback_arg, c); /* sets c->ops itself */
	} else {
		ret = -ECONNREFUSED;
	}
	if (ret) {
		log_debug("%s: guest connect %u->%u refused: %s", p->name, k->src_port, k->dst_port,
			  strerror(-ret));
		c->ops = NULL;
		vsock_ep_retire(c);
		orphan_rst(p, k);
		return;
	}
	vsock_pend(c, VP_RESPONSE);
}

static void connecting(struct vsock_ep *c, const struct pkt *k)
{
	switch (k->op) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c->pending & VP_REQUEST) {
			vsock_ep_drop(c, -ECONNRESET, true);
			break;
		}
		c->state = VS_ESTABLISHED;
		if (c->ops && c->ops->connected)
			c->ops->connected(c, c->opaque);
		break;
	case VIRTIO_VSOCK_OP_RST:
		vsock_ep_drop(c, -ECONNREFUSED, false);
		break;
	default:
		/* As Linux: anything else while connecting resets the connection. */
		vsock_ep_drop(c, -ECONNRESET, true);
		break;
	}
}

static void established(struct vsock_ep *c, const struct pkt *k, const struct iovec *iov,
			unsigned int n)
{
	switch (k->op) {
	case VIRTIO_VSOCK_OP_RW:
		vsock_ep_data(c, k->len, iov, n);
		break;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE: /* the credit fields were taken already */
		break;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		vsock_pend(c, VP_CREDIT_UPDATE);
		break;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		c->peer_shut |= (uint8_t)(k->flags & VSOCK_SHUT_BOTH);
		vsock_ep_shut_progress(c);
		break;
	case VIRTIO_VSOCK_OP_RST:
		/* Hand over what is held if the endpoint takes it now; then it is over. */
		vsock_ep_flush(c);
		if (c->state == VS_CLOSING)
			vsock_ep_retire(c); /* the flush ended it orderly: no RST back to an RST */
		else if (c->state == VS_ESTABLISHED)
			vsock_ep_drop(c, c->peer_shut == VSOCK_SHUT_BOTH ? 0 : -ECONNRESET, false);
		break;
	default:
		/* REQUEST or RESPONSE on a live connection, unknown ops: Linux ignores them too. */
		log_debug("%s: port %u->%u: op %u ignored", c->p->name, c->peer_port, c->local_port,
			  k->op);
		break;
	}
}

void vsock_proto_input(struct vsock_proto *p, const struct virtio_vsock_hdr *h,
		       const struct iovec *iov, unsigned int n, size_t carried)
{
	enum vsock_verdict verdict;
	struct vsock_ep *c;
	const char *why;
	struct pkt k;

	decode(h, &k);
	verdict = vsock_pkt_check(h, p->guest_cid, carried, &why);
	if (verdict != VSOCK_PKT_OK) {
		log_debug("%s: packet op %u %u->%u: %s", p->name, k.op, k.src_port, k.dst_port,
			  why);
		if (verdict == VSOCK_PKT_RST) {
			orphan_rst(p, &k);
		} else if (k.src_cid == p->guest_cid && k.dst_cid == VSOCK_HOST_CID) {
			/* Skipping bytes of a stream would corrupt it: reset its connection. */
			c = vsock_ep_find(p, k.dst_port, k.src_port);
			if (c)
				vsock_ep_drop(c, -ECONNRESET, true);
		}
		return;
	}
	c = vsock_ep_find(p, k.dst_port, k.src_port);
	if (!c) {
		if (k.op == VIRTIO_VSOCK_OP_REQUEST)
			request(p, &k);
		else
			orphan_rst(p, &k);
		return;
	}
	if (c->state == VS_CLOSING) {
		/* Our RST is on its way; the guest's own RST makes it unnecessary. */
		if (k.op == VIRTIO_VSOCK_OP_RST)
			vsock_ep_retire(c);
		return;
	}
	/* Every packet carries the guest's credit, as Linux reads it from every packet. */
	c->peer_buf_alloc = k.buf_alloc;
	c->peer_fwd_cnt = k.fwd_cnt;
	if (c->state == VS_CONNECTING)
		connecting(c, &k);
	else
		established(c, &k, iov, n);
	if (c->want_room && vsock_can_send(c) && !p->rx_empty)
		vsock_ep_wake(c);
}

/* ---- packets to the guest ---- */

static void fill_hdr(const struct vsock_ep *c, uint16_t op, uint32_t len, uint32_t flags,
		     struct virtio_vsock_hdr *h)
{
	*h = (struct virtio_vsock_hdr){
		.src_cid = htole64(VSOCK_HOST_CID),
		.dst_cid = htole64(c->p->guest_cid),
		.src_port = htole32(c->local_port),
		.dst_port = htole32(c->peer_port),
		.len = htole32(len),
		.type = htole16(VIRTIO_VSOCK_TYPE_STREAM),
		.op = htole16(op),
		.flags = htole32(flags),
		.buf_alloc = htole32(VSOCK_BUF_ALLOC),
		.fwd_cnt = htole32(c->fwd_cnt),
	};
}

bool vsock_proto_has_ctl(const struct vsock_proto *p)
{
	return p->norphans || !vlist_empty(&p->ctl);
}

bool vsock_proto_next_ctl(struct vsock_proto *p, struct virtio_vsock_hdr *h)
{
	/* Indexed by the bit number of VP_*. */
	static const uint16_t ops[] = { VIRTIO_VSOCK_OP_RST, VIRTIO_VSOCK_OP_REQUEST,
					VIRTIO_VSOCK_OP_RESPONSE, VIRTIO_VSOCK_OP_CREDIT_UPDATE,
					VIRTIO_VSOCK_OP_SHUTDOWN };
	_Static_assert(VP_RST == 1 && VP_REQUEST == 2 && VP_RESPONSE == 4 &&
			       VP_CREDIT_UPDATE == 8 && VP_SHUTDOWN == 16,
		       "ops[] follows the VP_* bits");
	struct vsock_ep *c, orphan;
	unsigned int bit;
	uint8_t what;

	if (p->norphans) {
		orphan = (struct vsock_ep){ .p = p,
					    .local_port = p->orphan[p->orphan_head].local,
					    .peer_port = p->orphan[p->orphan_head].peer };
		p->orphan_head = (p->orphan_head + 1) % VSOCK_ORPHANS;
		p->norphans--;
		fill_hdr(&orphan, VIRTIO_VSOCK_OP_RST, 0, 0, h);
		return true;
	}
	if (vlist_empty(&p->ctl))
		return false;
	c = vsock_ep_of(p->ctl.next, ctl);
	bit = (unsigned int)__builtin_ctz(c->pending);
	what = (uint8_t)(1u << bit);
	c->pending &= (uint8_t)~what;
	fill_hdr(c, ops[bit], 0, what == VP_SHUTDOWN ? c->shut_owed : 0, h);
	c->fwd_told = c->fwd_cnt;
	/* Round robin: a connection with more owed goes behind the others. */
	vlist_del(&c->ctl);
	if (c->pending)
		vlist_add_tail(&p->ctl, &c->ctl);
	if (what == VP_RST)
		vsock_ep_retire(c);
	return true;
}

void vsock_proto_data_hdr(struct vsock_ep *c, uint32_t len, struct virtio_vsock_hdr *h)
{
	fill_hdr(c, VIRTIO_VSOCK_OP_RW, len, 0, h);
	c->tx_cnt += len;
	c->fwd_told = c->fwd_cnt;
	/* The data packet carries the credit an update would have. */
	if (c->pending & VP_CREDIT_UPDATE) {
		c->pending &= (uint8_t)~VP_CREDIT_UPDATE;
		if (!c->pending)
			vlist_del(&c->ctl);
	}
}
