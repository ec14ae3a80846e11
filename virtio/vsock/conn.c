/* vsock conn: the connection table, lifecycle, credit, and the bytes between guest and endpoint. */
#include "virtio/vsock/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/iov.h"
#include "lib/log.h"

static unsigned int bucket(uint32_t local, uint32_t peer)
{
	uint32_t h = local * 0x9e3779b1u ^ peer * 0x85ebca6bu;

	return (h ^ h >> 16) & (VSOCK_HASH - 1);
}

int vsock_proto_init(struct vsock_proto *p, uint64_t guest_cid, const char *name)
{
	unsigned int i;

	memset(p, 0, sizeof(*p));
	/* The whole pool at once (~150 KiB): connections are recycled, never freed mid-run. */
	p->eps = calloc(VSOCK_MAX_CONNS, sizeof(*p->eps));
	if (!p->eps)
		return -ENOMEM;
	p->guest_cid = guest_cid;
	p->name = name;
	p->next_port = VSOCK_EPHEMERAL;
	vlist_init(&p->free);
	vlist_init(&p->ctl);
	vlist_init(&p->blocked);
	vlist_init(&p->zombies);
	vlist_init(&p->dead);
	for (i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_ep *c = &p->eps[i];

		c->p = p;
		vlist_init(&c->ctl);
		vlist_init(&c->wait);
		vlist_init(&c->link);
		vlist_add_tail(&p->free, &c->link);
	}
	return 0;
}

void vsock_proto_fini(struct vsock_proto *p)
{
	unsigned int i;

	if (!p->eps)
		return;
	for (i = 0; i < VSOCK_MAX_CONNS; i++)
		free(p->eps[i].buf);
	free(p->eps);
	free(p->listeners);
	p->eps = NULL;
	p->listeners = NULL;
}

/* ---- the table ---- */

struct vsock_ep *vsock_ep_find(struct vsock_proto *p, uint32_t local, uint32_t peer)
{
	struct vsock_ep *c;

	for (c = p->hash[bucket(local, peer)]; c; c = c->hnext)
		if (c->local_port == local && c->peer_port == peer)
			return c;
	return NULL;
}

static void unhash(struct vsock_ep *c)
{
	struct vsock_ep **pp = &c->p->hash[bucket(c->local_port, c->peer_port)];

	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	c->hnext = NULL;
}

bool vsock_proto_room(const struct vsock_proto *p)
{
	return p->nconns + p->reserved < VSOCK_MAX_CONNS;
}

struct vsock_ep *vsock_ep_new(struct vsock_proto *p, uint32_t local, uint32_t peer)
{
	struct vsock_ep *c;
	unsigned int b = bucket(local, peer);

	if (!vsock_proto_room(p) || vlist_empty(&p->free))
		return NULL;
	c = vsock_ep_of(p->free.next, link);
	vlist_del(&c->link);
	*c = (struct vsock_ep){ .p = p,
				.state = VS_ESTABLISHED,
				.local_port = local,
				.peer_port = peer,
				.hnext = p->hash[b] };
	vlist_init(&c->ctl);
	vlist_init(&c->wait);
	vlist_init(&c->link);
	p->hash[b] = c;
	p->nconns++;
	return c;
}

struct vsock_listener *vsock_listener_find(struct vsock_proto *p, uint32_t port)
{
	unsigned int i;

	for (i = 0; i < p->nlisteners; i++)
		if (p->listeners[i].port == port)
			return &p->listeners[i];
	return NULL;
}

static bool local_in_use(const struct vsock_proto *p, uint32_t port)
{
	unsigned int i;

	for (i = 0; i < VSOCK_MAX_CONNS; i++) {
		const struct vsock_ep *c = &p->eps[i];

		if ((c->state == VS_CONNECTING || c->state == VS_ESTABLISHED ||
		     c->state == VS_CLOSING) &&
		    c->local_port == port)
			return true;
	}
	return false;
}

int vsock_proto_port(struct vsock_proto *p, uint32_t *port)
{
	unsigned int tries;

	/* At most VSOCK_MAX_CONNS + nlisteners ports are taken, so this ends with one. */
	for (tries = 0; tries <= VSOCK_MAX_CONNS + p->nlisteners; tries++) {
		uint32_t cand = p->next_port++;

		if (p->next_port == VSOCK_PORT_ANY || p->next_port < VSOCK_EPHEMERAL)
			p->next_port = VSOCK_EPHEMERAL;
		if (!local_in_use(p, cand) && !vsock_listener_find(p, cand)) {
			*port = cand;
			return 0;
		}
	}
	return -EADDRNOTAVAIL;
}

/* ---- lifecycle ---- */

void vsock_pend(struct vsock_ep *c, uint8_t bit)
{
	c->pending |= bit;
	if (vlist_empty(&c->ctl))
		vlist_add_tail(&c->p->ctl, &c->ctl);
}

static void drop_buf(struct vsock_ep *c)
{
	free(c->buf);
	c->buf = NULL;
	c->buf_head = c->buf_len = 0;
}

/* No protocol role left: out of the table; dead, or a zombie while closed() is owed. */
void vsock_ep_retire(struct vsock_ep *c)
{
	unhash(c);
	vlist_del(&c->ctl);
	vlist_del(&c->wait);
	c->pending = 0;
	c->want_room = false;
	drop_buf(c);
	if (c->ops && c->closed_owed) {
		c->state = VS_ZOMBIE; /* already on p->zombies */
		return;
	}
	c->state = VS_DEAD;
	c->ops = NULL;
	vlist_add_tail(&c->p->dead, &c->link);
}

void vsock_ep_drop(struct vsock_ep *c, int err, bool rst)
{
	/* The guest has not heard of a connect whose REQUEST is still owed: nothing to reset. */
	bool known = !(c->state == VS_CONNECTING && (c->pending & VP_REQUEST));

	if (c->state != VS_CONNECTING && c->state != VS_ESTABLISHED)
		return;
	if (c->ops && !c->closed_owed) {
		c->closed_owed = true;
		c->close_err = err;
		vlist_add_tail(&c->p->zombies, &c->link);
	}
	if (!rst || !known) {
		vsock_ep_retire(c);
		return;
	}
	/* Stay in the table until the RST is out, so late guest packets are absorbed. */
	vlist_del(&c->wait);
	c->want_room = false;
	drop_buf(c);
	c->state = VS_CLOSING;
	c->pending = 0;
	vsock_pend(c, VP_RST);
}

void vsock_proto_drop_all(struct vsock_proto *p, int err)
{
	unsigned int i;

	for (i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_ep *c = &p->eps[i];

		if (c->state == VS_CLOSING)
			vsock_ep_retire(c);
		else if (c->state == VS_CONNECTING || c->state == VS_ESTABLISHED)
			vsock_ep_drop(c, err, false);
	}
	p->norphans = 0;
}

void vsock_proto_reap(struct vsock_proto *p)
{
	while (!vlist_empty(&p->zombies)) {
		struct vsock_ep *c = vsock_ep_of(p->zombies.next, link);
		const struct vsock_ep_ops *ops = c->ops;

		vlist_del(&c->link);
		c->closed_owed = false;
		c->ops = NULL;
		if (ops && ops->closed)
			ops->closed(c, c->opaque, c->close_err);
		if (c->state == VS_ZOMBIE) {
			c->state = VS_DEAD;
			vlist_add_tail(&p->dead, &c->link);
		}
		/* A VS_CLOSING one stays in the table until its RST is out. */
	}
	while (!vlist_empty(&p->dead)) {
		struct vsock_ep *c = vsock_ep_of(p->dead.next, link);

		vlist_del(&c->ctl);
		vlist_del(&c->wait);
		c->state = VS_FREE;
		vlist_add_tail(&p->free, &c->link);
		p->nconns--;
	}
	if (vsock_proto_room(p))
		p->limit_logged = false;
}

/* ---- credit ---- */

uint32_t vsock_credit(const struct vsock_ep *c)
{
	/* u32 arithmetic wraps like the counters; a peer fwd_cnt ahead of tx_cnt reads as "full".
	 */
	uint32_t inflight = c->tx_cnt - c->peer_fwd_cnt;

	return inflight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - inflight;
}

static bool sending_open(const struct vsock_ep *c)
{
	return c->state == VS_ESTABLISHED && !c->closed_owed &&
	       !(c->shut_owed & VIRTIO_VSOCK_SHUTDOWN_SEND) &&
	       !(c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_RCV);
}

bool vsock_can_send(const struct vsock_ep *c)
{
	return sending_open(c) && !(c->pending & VP_RESPONSE) && vsock_credit(c) > 0;
}

void vsock_block(struct vsock_ep *c)
{
	if (c->state != VS_ESTABLISHED)
		return;
	c->want_room = true;
	if (vlist_empty(&c->wait))
		vlist_add_tail(&c->p->blocked, &c->wait);
}

void vsock_ep_wake(struct vsock_ep *c)
{
	vlist_del(&c->wait);
	c->want_room = false;
	if (c->ops && c->ops->writable)
		c->ops->writable(c, c->opaque);
}

void vsock_proto_wake(struct vsock_proto *p)
{
	struct vlist waiting;

	vlist_take(&waiting, &p->blocked);
	/* Callbacks may close or re-block any connection: each is taken off waiting first. */
	while (!vlist_empty(&waiting) && !p->rx_empty) {
		struct vsock_ep *c = vsock_ep_of(waiting.next, wait);

		vlist_del(&c->wait);
		if (vsock_can_send(c))
			vsock_ep_wake(c);
		else if (sending_open(c))
			vlist_add_tail(&p->blocked,
				       &c->wait); /* no credit: a guest update wakes it */
		else
			c->want_room = false;
	}
	while (!vlist_empty(&waiting))
		vlist_add_tail(&p->blocked, waiting.next);
}

/* Tell the guest about freed buffer space before it runs dry, without one update per write. */
static void credit_check(struct vsock_ep *c)
{
	uint32_t told_used = c->rx_cnt - c->fwd_told, fresh = c->fwd_cnt - c->fwd_told;
	uint32_t told_free = told_used >= VSOCK_BUF_ALLOC ? 0 : VSOCK_BUF_ALLOC - told_used;

	if (c->state == VS_ESTABLISHED && fresh >= VSOCK_BUF_ALLOC / 8 &&
	    told_free < VSOCK_BUF_ALLOC / 2)
		vsock_pend(c, VP_CREDIT_UPDATE);
}

/* ---- guest -> endpoint bytes ---- */

static size_t offer(struct vsock_ep *c, const struct iovec *iov, unsigned int n, size_t len)
{
	size_t taken;

	c->in_recv = true;
	taken = c->ops->recv(c, c->opaque, iov, n, len);
	c->in_recv = false;
	if (c->state != VS_ESTABLISHED)
		return 0;
	if (taken > len)
		taken = len;
	c->fwd_cnt += (uint32_t)taken;
	if (taken < len)
		c->ep_busy = true;
	return taken;
}

/* Keep len bytes of iov from byte off in c's ring; -ENOMEM. The credit check made room. */
static int keep(struct vsock_ep *c, const struct iovec *iov, unsigned int n, size_t off, size_t len)
{
	struct iov_cursor cur;

	if (!c->buf) {
		c->buf = malloc(VSOCK_BUF_ALLOC);
		if (!c->buf)
			return -ENOMEM;
		c->buf_head = c->buf_len = 0;
	}
	iov_cursor_init(&cur, iov, n, off);
	/* At most two runs: up to the ring's end, then from its start. */
	while (len) {
		uint32_t at = (c->buf_head + c->buf_len) % VSOCK_BUF_ALLOC;
		size_t run = VSOCK_BUF_ALLOC - at < len ? VSOCK_BUF_ALLOC - at : len;
		size_t got = iov_cursor_read(&cur, c->buf + at, run);

		c->buf_len += (uint32_t)got;
		len -= got;
		if (got < run)
			break; /* the buffers ended first */
	}
	return 0;
}

/*
 * Pass what the guest shut down to the endpoint once every byte before it was taken, and end
 * the connection when nothing can flow either way any more (RST: Linux expects one then).
 */
void vsock_ep_shut_progress(struct vsock_ep *c)
{
	unsigned int tell = 0;
	bool in_done, out_done;

	if (c->state != VS_ESTABLISHED)
		return;
	if ((c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_RCV) && !c->rcv_told) {
		c->rcv_told = true;
		vlist_del(&c->wait);
		c->want_room = false;
		tell |= VIRTIO_VSOCK_SHUTDOWN_RCV;
	}
	if ((c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_SEND) && !c->eof_told && !c->buf_len) {
		c->eof_told = true;
		tell |= VIRTIO_VSOCK_SHUTDOWN_SEND;
	}
	if (tell && c->ops && c->ops->shutdown && !c->closed_owed) {
		c->ops->shutdown(c, c->opaque, tell);
		if (c->state != VS_ESTABLISHED)
			return;
	}
	in_done = c->eof_told || (c->shut_owed & VIRTIO_VSOCK_SHUTDOWN_RCV);
	out_done = (c->shut_owed & VIRTIO_VSOCK_SHUTDOWN_SEND) ||
		   (c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_RCV);
	if (in_done && out_done)
		vsock_ep_drop(c, 0, true);
}

void vsock_ep_flush(struct vsock_ep *c)
{
	while (c->state == VS_ESTABLISHED && c->buf_len && !c->ep_busy && !c->in_recv) {
		uint32_t first = VSOCK_BUF_ALLOC - c->buf_head;
		struct iovec iov[2] = { { c->buf + c->buf_head, c->buf_len } };
		unsigned int n = 1;
		size_t taken;

		if (c->buf_len > first) {
			iov[0].iov_len = first;
			iov[1] = (struct iovec){ c->buf, c->buf_len - first };
			n = 2;
		}
		taken = offer(c, iov, n, c->buf_len);
		if (c->state != VS_ESTABLISHED)
			return;
		c->buf_head = (uint32_t)((c->buf_head + taken) % VSOCK_BUF_ALLOC);
		c->buf_len -= (uint32_t)taken;
	}
	if (c->state != VS_ESTABLISHED)
		return;
	/* A drained ring goes back: a stalled reader costs memory only while it stalls. */
	if (!c->buf_len && c->buf)
		drop_buf(c);
	credit_check(c);
	vsock_ep_shut_progress(c);
}

void vsock_ep_data(struct vsock_ep *c, uint32_t len, const struct iovec *iov, unsigned int n)
{
	size_t off = 0;

	if (!len)
		return;
	if (c->peer_shut & VIRTIO_VSOCK_SHUTDOWN_SEND) {
		log_debug("%s: port %u->%u: data after SHUTDOWN SEND dropped", c->p->name,
			  c->peer_port, c->local_port);
		return;
	}
	if (len > VSOCK_BUF_ALLOC - c->buf_len) {
		log_debug("%s: port %u->%u: %u bytes beyond the credit given (%u held): reset",
			  c->p->name, c->peer_port, c->local_port, len, c->buf_len);
		vsock_ep_drop(c, -ECONNRESET, true);
		return;
	}
	c->rx_cnt += len;
	if (c->shut_owed & VIRTIO_VSOCK_SHUTDOWN_RCV) {
		/* The endpoint reads no more: consume, so the guest's credit keeps flowing. */
		c->fwd_cnt += len;
		credit_check(c);
		return;
	}
	if (!c->buf_len && !c->ep_busy && !c->in_recv) {
		off = offer(c, iov, n, len);
		if (c->state != VS_ESTABLISHED)
			return;
	}
	if (off < len && keep(c, iov, n, off, len - off)) {
		log_msg("%s: port %u->%u: no memory for %u buffered bytes: reset", c->p->name,
			c->peer_port, c->local_port, len);
		vsock_ep_drop(c, -ECONNRESET, true);
		return;
	}
	credit_check(c);
}

/* ---- endpoint-side actions ---- */

int vsock_ep_do_shutdown(struct vsock_ep *c, uint8_t flags)
{
	uint8_t add = flags & VSOCK_SHUT_BOTH & (uint8_t)~c->shut_owed;

	if (c->state != VS_ESTABLISHED || c->closed_owed)
		return -ENOTCONN;
	if (!add)
		return 0;
	c->shut_owed |= add;
	vsock_pend(c, VP_SHUTDOWN);
	if (add & VIRTIO_VSOCK_SHUTDOWN_SEND) {
		vlist_del(&c->wait);
		c->want_room = false;
	}
	if (add & VIRTIO_VSOCK_SHUTDOWN_RCV) {
		/* What the endpoint will not read is consumed, as if read. */
		c->fwd_cnt += c->buf_len;
		drop_buf(c);
		c->ep_busy = false;
		credit_check(c);
	}
	vsock_ep_shut_progress(c);
	return 0;
}

void vsock_ep_do_close(struct vsock_ep *c)
{
	if (c->closed_owed) {
		c->closed_owed = false;
		vlist_del(&c->link);
	}
	c->ops = NULL;
	switch (c->state) {
	case VS_ZOMBIE:
		c->state = VS_DEAD;
		vlist_add_tail(&c->p->dead, &c->link);
		break;
	case VS_CONNECTING:
	case VS_ESTABLISHED:
		vsock_ep_drop(c, 0, true);
		break;
	case VS_FREE:
	case VS_CLOSING:
	case VS_DEAD:
		break;
	}
}
