/* agent: the host side of the agent protocol (PROTOCOL.md) — hull-init's connections over vsock. */
#include "container/agent.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/log.h"

void ctr_agent_init(struct ctr_agent *a, const struct ctr_agent_ops *ops, void *opaque)
{
	unsigned int i;

	*a = (struct ctr_agent){ .ops = ops, .opaque = opaque };
	for (i = 0; i < CTR_STREAMS_MAX; i++)
		a->streams[i].a = a;
}

/* --- input: frames from hull-init ------------------------------------------------------ */

static void dispatch(struct ctr_agent *a)
{
	struct ctr_msg_fields m;

	if (ctr_msg_decode(a->type, a->payload, a->pay_len, &m)) {
		log_debug("agent: a frame of type %u from hull-init does not decode: dropped",
			  a->type);
		a->dropped++;
		ctr_msg_free(&m);
		return;
	}
	switch (m.type) {
	case CTR_MSG_HELLO:
		if (a->hello_seen)
			goto unexpected;
		a->hello_seen = true;
		a->ops->hello(a, a->opaque, &m);
		break;
	case CTR_MSG_OK:
	case CTR_MSG_ERROR:
		if (!m.has_seq)
			goto unexpected;
		a->ops->reply(a, a->opaque, &m);
		break;
	case CTR_MSG_EXITED:
		a->ops->exited(a, a->opaque, m.id, m.kind, m.code);
		break;
	default:
		goto unexpected;
	}
	ctr_msg_free(&m);
	return;
unexpected:
	/* A request, a STREAM on the agent connection, a second HELLO: nothing hull asked for. */
	log_debug("agent: hull-init sent an unexpected message of type %u: dropped", m.type);
	a->dropped++;
	ctr_msg_free(&m);
}

/* The header is complete: take its payload, or pass over a frame that cannot be one. */
static void header(struct ctr_agent *a)
{
	uint32_t len = a->hdr[0] | a->hdr[1] << 8 | (uint32_t)a->hdr[2] << 16 |
		       (uint32_t)a->hdr[3] << 24;

	a->hdr_got = 0;
	if (ctr_frame_parse_hdr(a->hdr, &a->type, &a->pay_len)) {
		log_debug("agent: a frame header from hull-init (%u bytes, version %u) is refused",
			  len, a->hdr[6] | a->hdr[7] << 8);
		a->dropped++;
		a->skip = len;
		return;
	}
	a->pay_got = 0;
	a->in_payload = true;
	if (!a->pay_len) {
		a->in_payload = false;
		dispatch(a);
		return;
	}
	/* One buffer, as large as the frames so far needed: at most CTR_FRAME_MAX. */
	free(a->payload);
	a->payload = malloc(a->pay_len);
	if (!a->payload) {
		a->in_payload = false;
		a->skip = a->pay_len;
		a->dropped++;
	}
}

void ctr_agent_input(struct ctr_agent *a, const uint8_t *p, size_t len)
{
	size_t k;

	while (len) {
		if (a->skip) {
			k = a->skip < len ? (size_t)a->skip : len;
			a->skip -= k;
		} else if (!a->in_payload) {
			k = CTR_FRAME_HDR - a->hdr_got < len ? CTR_FRAME_HDR - a->hdr_got : len;
			memcpy(a->hdr + a->hdr_got, p, k);
			a->hdr_got += (unsigned int)k;
			if (a->hdr_got == CTR_FRAME_HDR) {
				p += k;
				len -= k;
				header(a);
				continue;
			}
		} else {
			k = a->pay_len - a->pay_got < len ? a->pay_len - a->pay_got : len;
			memcpy(a->payload + a->pay_got, p, k);
			a->pay_got += (uint32_t)k;
			if (a->pay_got == a->pay_len) {
				a->in_payload = false;
				dispatch(a);
			}
		}
		p += k;
		len -= k;
	}
}

/* --- output: requests to hull-init --------------------------------------------------------- */

static int flush(struct ctr_agent *a)
{
	ssize_t n;

	while (a->out_len) {
		if (!a->send)
			return -ENOTCONN;
		n = a->send(a->t, a->out, a->out_len);
		if (n == -ENOBUFS || n == 0)
			return 0; /* ctr_agent_writable() continues */
		if (n < 0)
			return (int)n;
		memmove(a->out, a->out + n, a->out_len - (size_t)n);
		a->out_len -= (size_t)n;
	}
	return 0;
}

void ctr_agent_writable(struct ctr_agent *a)
{
	int ret = flush(a);

	if (ret)
		log_debug("agent: sending to hull-init: %s", strerror(-ret));
}

static int request(struct ctr_agent *a, struct ctr_msg_fields *m, uint32_t *seq)
{
	uint8_t *frame;
	size_t len, cap;
	int ret;

	if (!a->send)
		return -ENOTCONN;
	m->seq = a->seq + 1;
	m->has_seq = true;
	ret = ctr_msg_encode(m, &frame, &len);
	if (ret)
		return ret;
	if (len > CTR_AGENT_OUT_MAX - a->out_len) {
		free(frame);
		return -ENOBUFS;
	}
	if (a->out_len + len > a->out_cap) {
		uint8_t *out;

		for (cap = a->out_cap ? a->out_cap : 4096; cap < a->out_len + len; cap *= 2)
			;
		out = realloc(a->out, cap);
		if (!out) {
			free(frame);
			return -ENOMEM;
		}
		a->out = out;
		a->out_cap = cap;
	}
	memcpy(a->out + a->out_len, frame, len);
	a->out_len += len;
	free(frame);
	a->seq++;
	if (seq)
		*seq = a->seq;
	return flush(a);
}

int ctr_agent_start(struct ctr_agent *a, const struct ctr_netif *nif, uint32_t *seq)
{
	struct ctr_msg_fields m = { .type = CTR_MSG_START, .has_netif = nif != NULL };

	if (nif)
		m.netif = *nif;
	return request(a, &m, seq);
}

int ctr_agent_exec(struct ctr_agent *a, uint32_t id, const struct ctr_process *p,
		   uint32_t *seq)
{
	struct ctr_msg_fields m = { .type = CTR_MSG_EXEC, .id = id, .process = *p,
				    .has_process = true };

	return request(a, &m, seq);
}

int ctr_agent_signal(struct ctr_agent *a, uint32_t id, uint32_t sig, bool all, uint32_t *seq)
{
	struct ctr_msg_fields m = { .type = CTR_MSG_SIGNAL, .id = id, .signal = sig, .all = all };

	return request(a, &m, seq);
}

int ctr_agent_stdin_close(struct ctr_agent *a, uint32_t id, uint32_t *seq)
{
	struct ctr_msg_fields m = { .type = CTR_MSG_STDIN_CLOSE, .id = id };

	return request(a, &m, seq);
}

int ctr_agent_winsize(struct ctr_agent *a, uint32_t id, uint32_t rows, uint32_t cols,
		      uint32_t *seq)
{
	struct ctr_msg_fields m = { .type = CTR_MSG_WINSIZE, .id = id, .rows = rows, .cols = cols };

	return request(a, &m, seq);
}

int ctr_agent_update(struct ctr_agent *a, const struct ctr_resources *r, uint32_t cpus,
		     uint32_t *seq)
{
	struct ctr_msg_fields m = { .type = CTR_MSG_UPDATE, .resources = *r,
				    .has_resources = true, .cpus = cpus };

	return request(a, &m, seq);
}

/* --- streams ---------------------------------------------------------------------------- */

int ctr_agent_expect(struct ctr_agent *a, uint32_t id, uint32_t stream,
		     const struct ctr_stream_sink *sink)
{
	struct ctr_expect *free_slot = NULL;
	unsigned int i;

	for (i = 0; i < CTR_EXPECT_MAX; i++) {
		struct ctr_expect *e = &a->expect[i];

		if (e->used && e->id == id && e->stream == stream)
			return -EEXIST;
		if (!e->used && !free_slot)
			free_slot = e;
	}
	if (!free_slot)
		return -ENOSPC;
	*free_slot = (struct ctr_expect){ .id = id, .stream = stream, .sink = *sink, .used = true };
	return 0;
}

int ctr_agent_match(struct ctr_agent *a, uint32_t id, uint32_t stream,
		    struct ctr_stream_sink *sink)
{
	unsigned int i;

	for (i = 0; i < CTR_EXPECT_MAX; i++) {
		struct ctr_expect *e = &a->expect[i];

		if (e->used && e->id == id && e->stream == stream) {
			*sink = e->sink;
			e->used = false;
			return 0;
		}
	}
	return -ENOENT;
}

int ctr_stream_frame(const uint8_t *buf, size_t len, uint32_t *id, uint32_t *stream,
		     size_t *used)
{
	struct ctr_msg_fields m;
	uint32_t plen;
	uint16_t type;
	int ret;

	if (len < CTR_FRAME_HDR)
		return -EAGAIN;
	if (ctr_frame_parse_hdr(buf, &type, &plen) || type != CTR_MSG_STREAM ||
	    plen > sizeof(((struct ctr_stream_conn *)0)->buf) - CTR_FRAME_HDR)
		return -EINVAL;
	if (len < CTR_FRAME_HDR + plen)
		return -EAGAIN;
	ret = ctr_msg_decode(type, buf + CTR_FRAME_HDR, plen, &m);
	if (!ret) {
		*id = m.id;
		*stream = m.stream;
		*used = CTR_FRAME_HDR + plen;
	}
	ctr_msg_free(&m);
	return ret ? -EINVAL : 0;
}

/* --- over vsock: the agent connection ------------------------------------------------------ */

static ssize_t ep_send(void *t, const void *buf, size_t len)
{
	return vsock_ep_send(t, buf, len);
}

static size_t agent_recv(struct vsock_ep *ep, void *opaque, const struct iovec *iov,
			 unsigned int n, size_t len)
{
	struct ctr_agent *a = opaque;
	size_t done = 0;
	unsigned int i;

	(void)ep;
	/* Everything is taken: at most one frame is kept, in the agent's own buffer. */
	for (i = 0; i < n && done < len; i++) {
		size_t k = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;

		ctr_agent_input(a, iov[i].iov_base, k);
		done += k;
	}
	return len;
}

static void agent_writable(struct vsock_ep *ep, void *opaque)
{
	(void)ep;
	ctr_agent_writable(opaque);
}

static void agent_closed(struct vsock_ep *ep, void *opaque, int err)
{
	struct ctr_agent *a = opaque;

	(void)ep;
	a->ep = NULL;
	a->send = NULL;
	a->t = NULL;
	if (a->ops->closed)
		a->ops->closed(a, a->opaque, err);
}

static const struct vsock_ep_ops agent_ops = {
	.recv = agent_recv,
	.writable = agent_writable,
	.closed = agent_closed,
};

static int accept_agent(void *opaque, struct vsock_ep *ep, uint32_t guest_port,
			const struct vsock_ep_ops **ops, void **ep_opaque)
{
	struct ctr_agent *a = opaque;

	(void)guest_port;
	if (a->ep || a->hello_seen) {
		log_msg("agent: a second agent connection from the guest: refused");
		return -ECONNREFUSED;
	}
	a->ep = ep;
	a->send = ep_send;
	a->t = ep;
	*ops = &agent_ops;
	*ep_opaque = a;
	return 0;
}

/* --- over vsock: stream connections -------------------------------------------------------- */

static void stream_release(struct ctr_stream_conn *s)
{
	loop_timer_cancel(s->a->loop, &s->timer);
	s->used = s->attached = false;
	s->ep = NULL;
	s->got = 0;
}

/* Not a stream hull asked for, or too slow: reset it. */
static void stream_refuse(struct ctr_stream_conn *s, const char *why)
{
	struct vsock_ep *ep = s->ep;

	log_debug("agent: a stream connection from the guest %s: reset", why);
	stream_release(s);
	vsock_ep_close(ep);
}

static void stream_timeout(struct loop *l, struct loop_timer *t)
{
	struct ctr_stream_conn *s = t->opaque;

	(void)l;
	if (s->used && !s->attached)
		stream_refuse(s, "sent no STREAM frame within 1 s");
}

/* iov[0..n) from byte off on, to the sink: the bytes it took. */
static size_t pass_on(struct ctr_stream_conn *s, const struct iovec *iov, unsigned int n,
		      size_t off, size_t len)
{
	size_t done = 0;
	unsigned int i;

	for (i = 0; i < n && done < len && s->attached; i++) {
		struct iovec one = iov[i];
		size_t took;

		if (off >= one.iov_len) {
			off -= one.iov_len;
			continue;
		}
		one.iov_base = (uint8_t *)one.iov_base + off;
		one.iov_len -= off;
		off = 0;
		if (one.iov_len > len - done)
			one.iov_len = len - done;
		took = s->sink.ops->recv(s->ep, s->sink.opaque, &one, 1, one.iov_len);
		done += took;
		if (took < one.iov_len)
			break;
	}
	return done;
}

static size_t stream_recv(struct vsock_ep *ep, void *opaque, const struct iovec *iov,
			  unsigned int n, size_t len)
{
	struct ctr_stream_conn *s = opaque;
	struct ctr_stream_sink sink;
	uint32_t id, stream;
	size_t used = 0, k, at = 0;
	unsigned int i;
	int ret;

	if (s->attached)
		return s->sink.ops->recv(ep, s->sink.opaque, iov, n, len);
	/* Copy what may belong to the frame; bytes after it stay in iov for the sink. */
	for (i = 0; i < n && s->got < sizeof(s->buf); i++) {
		k = iov[i].iov_len < sizeof(s->buf) - s->got ? iov[i].iov_len
							       : sizeof(s->buf) - s->got;
		memcpy(s->buf + s->got, iov[i].iov_base, k);
		s->got += (unsigned int)k;
		at += k;
	}
	ret = ctr_stream_frame(s->buf, s->got, &id, &stream, &used);
	if (ret == -EAGAIN && s->got < sizeof(s->buf))
		return at;
	if (ret) {
		stream_refuse(s, "did not start with a STREAM frame");
		return 0;
	}
	if (ctr_agent_match(s->a, id, stream, &sink)) {
		log_debug("agent: stream %u of process %u: not asked for", stream, id);
		stream_refuse(s, "named a stream hull did not ask for");
		return 0;
	}
	loop_timer_cancel(s->a->loop, &s->timer);
	s->sink = sink;
	s->id = id;
	s->attached = true;
	sink.attach(sink.opaque, ep);
	/* The frame's bytes are taken; what followed it in this batch is the stream's. */
	k = used - (s->got - at); /* the frame's bytes in this batch */
	return k + pass_on(s, iov, n, k, len - k);
}

static void stream_shutdown(struct vsock_ep *ep, void *opaque, unsigned int flags)
{
	struct ctr_stream_conn *s = opaque;

	if (s->attached && s->sink.ops->shutdown)
		s->sink.ops->shutdown(ep, s->sink.opaque, flags);
}

static void stream_writable(struct vsock_ep *ep, void *opaque)
{
	struct ctr_stream_conn *s = opaque;

	if (s->attached && s->sink.ops->writable)
		s->sink.ops->writable(ep, s->sink.opaque);
}

static void stream_closed(struct vsock_ep *ep, void *opaque, int err)
{
	struct ctr_stream_conn *s = opaque;
	struct ctr_stream_sink sink = s->sink;
	bool attached = s->attached;

	stream_release(s);
	if (attached && sink.ops->closed)
		sink.ops->closed(ep, sink.opaque, err);
}

static const struct vsock_ep_ops stream_ops = {
	.recv = stream_recv,
	.shutdown = stream_shutdown,
	.writable = stream_writable,
	.closed = stream_closed,
};

static int accept_stream(void *opaque, struct vsock_ep *ep, uint32_t guest_port,
			 const struct vsock_ep_ops **ops, void **ep_opaque)
{
	struct ctr_agent *a = opaque;
	struct ctr_stream_conn *s = NULL;
	unsigned int i, pending = 0;

	(void)guest_port;
	for (i = 0; i < CTR_STREAMS_MAX; i++) {
		if (!a->streams[i].used && !s)
			s = &a->streams[i];
		pending += a->streams[i].used && !a->streams[i].attached;
	}
	if (!s || pending >= CTR_STREAMS_PENDING) {
		log_debug("agent: %u stream connections waiting for their first frame, %d open at "
			  "most: another one refused", pending, CTR_STREAMS_MAX);
		return -ECONNREFUSED;
	}
	s->used = true;
	s->attached = false;
	s->got = 0;
	s->ep = ep;
	loop_timer_arm(a->loop, &s->timer, (uint64_t)CTR_STREAM_WAIT_MS * 1000000, 0);
	*ops = &stream_ops;
	*ep_opaque = s;
	return 0;
}

void ctr_agent_stream_reset(struct ctr_agent *a, struct vsock_ep *ep)
{
	unsigned int i;

	for (i = 0; i < CTR_STREAMS_MAX; i++) {
		if (a->streams[i].used && a->streams[i].ep == ep) {
			stream_release(&a->streams[i]);
			vsock_ep_close(ep);
			return;
		}
	}
}

void ctr_agent_forget(struct ctr_agent *a, uint32_t id)
{
	struct vsock_ep *ep;
	unsigned int i;

	for (i = 0; i < CTR_EXPECT_MAX; i++)
		if (a->expect[i].used && a->expect[i].id == id)
			a->expect[i].used = false;
	for (i = 0; i < CTR_STREAMS_MAX; i++) {
		if (!a->streams[i].used || !a->streams[i].attached || a->streams[i].id != id)
			continue;
		ep = a->streams[i].ep;
		stream_release(&a->streams[i]);
		vsock_ep_close(ep);
	}
}

int ctr_agent_listen(struct ctr_agent *a, struct vsock *vs, struct loop *loop)
{
	unsigned int i;
	int ret;

	a->vs = vs;
	a->loop = loop;
	for (i = 0; i < CTR_STREAMS_MAX; i++)
		loop_timer_init(&a->streams[i].timer, stream_timeout, &a->streams[i]);
	ret = vsock_listen(vs, CTR_PORT_AGENT, accept_agent, a);
	if (ret)
		return ret;
	ret = vsock_listen(vs, CTR_PORT_STREAM, accept_stream, a);
	if (ret) {
		vsock_unlisten(vs, CTR_PORT_AGENT);
		return ret;
	}
	a->listening = true;
	return 0;
}

void ctr_agent_fini(struct ctr_agent *a)
{
	unsigned int i;

	for (i = 0; i < CTR_STREAMS_MAX; i++) {
		struct ctr_stream_conn *s = &a->streams[i];
		struct vsock_ep *ep = s->ep;

		if (!s->used)
			continue;
		stream_release(s);
		vsock_ep_close(ep);
	}
	if (a->ep)
		vsock_ep_close(a->ep);
	a->ep = NULL;
	a->send = NULL;
	if (a->listening) {
		vsock_unlisten(a->vs, CTR_PORT_AGENT);
		vsock_unlisten(a->vs, CTR_PORT_STREAM);
	}
	a->listening = false;
	free(a->payload);
	free(a->out);
	a->payload = a->out = NULL;
	a->out_len = a->out_cap = 0;
}
