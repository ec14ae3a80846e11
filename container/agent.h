/* agent: the host side of the agent protocol (PROTOCOL.md) — hull-init's connections over vsock. */
#ifndef HULL_CONTAINER_AGENT_H
#define HULL_CONTAINER_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "container/proto.h"
#include "lib/loop.h"
#include "virtio/vsock/vsock.h"

/*
 * One agent per container VM. hull-init connects to CTR_PORT_AGENT once (a second
 * connection is refused) and sends framed messages; the agent sends it requests (START, EXEC,
 * SIGNAL, ...) and hands what comes back to its owner's callbacks. Stream connections
 * (CTR_PORT_STREAM) start with a STREAM frame naming a process and a stream; one the owner
 * asked for (ctr_agent_expect) is handed to the owner's sink, any other is reset, as is one
 * whose frame does not come within CTR_STREAM_WAIT_MS.
 *
 * A hostile guest costs bounded work and memory: one frame is buffered at a time, at most
 * CTR_FRAME_MAX bytes, allocated once its header was checked; a frame with a bad header (a
 * length past CTR_FRAME_MAX, another version) is skipped byte by byte without buffering; a
 * payload that does not decode, or a message hull does not expect from the guest, is dropped
 * and counted (hull-init's messages are not requests, so nothing is answered). Requests hull-init
 * has not taken yet are held up to CTR_AGENT_OUT_MAX bytes; past that a request fails with
 * -ENOBUFS. At most CTR_STREAMS_MAX stream connections are open, CTR_STREAMS_PENDING of them
 * waiting for their first frame; more are refused (RST).
 *
 * The protocol part (ctr_agent_input, the requests, ctr_agent_expect/_match) knows nothing of
 * vsock: its transport is a send function, so tests drive it with made-up frames. The
 * callbacks run on the event loop thread; a callback may send requests.
 */

#define CTR_AGENT_OUT_MAX (2 * (CTR_FRAME_MAX + CTR_FRAME_HDR)) /* unsent request bytes */
#define CTR_STREAM_WAIT_MS 1000 /* for a stream connection's STREAM frame */
#define CTR_STREAMS_MAX 768	/* stream connections open: 3 for each of hull-init's 256 processes */
#define CTR_STREAMS_PENDING 16	/* ... of them still waiting for their STREAM frame */
#define CTR_EXPECT_MAX 64	/* streams the owner waits for at once */

struct ctr_agent;

struct ctr_agent_ops {
	/* hull-init said HELLO (m: cpus, memory, release, version). Once. */
	void (*hello)(struct ctr_agent *a, void *opaque, const struct ctr_msg_fields *m);
	/* OK or ERROR (m->type) answering the request m->seq. */
	void (*reply)(struct ctr_agent *a, void *opaque, const struct ctr_msg_fields *m);
	/* Process id ended: kind 0 exit code, 1 killed by signal code. */
	void (*exited)(struct ctr_agent *a, void *opaque, uint32_t id, uint32_t kind,
		       uint32_t code);
	/* The agent connection ended (0: hull-init closed it; -ECONNRESET ...). May be NULL. */
	void (*closed)(struct ctr_agent *a, void *opaque, int err);
};

/*
 * Where an expected stream goes: once its STREAM frame arrived, attach(opaque, ep) and from
 * then on the connection's callbacks (recv, shutdown, writable, closed) go to ops with
 * opaque; bytes that followed the frame come through ops->recv.
 */
struct ctr_stream_sink {
	const struct vsock_ep_ops *ops;
	void *opaque;
	void (*attach)(void *opaque, struct vsock_ep *ep);
};

struct ctr_expect {
	uint32_t id, stream;
	struct ctr_stream_sink sink;
	bool used;
};

struct ctr_stream_conn {
	struct ctr_agent *a;
	struct vsock_ep *ep;
	uint8_t buf[64]; /* the STREAM frame: its header and a payload of at most 56 bytes */
	unsigned int got;
	struct ctr_stream_sink sink; /* once attached */
	uint32_t id;		     /* the process it is a stream of, once attached */
	bool used, attached;
	struct loop_timer timer;
};

struct ctr_agent {
	const struct ctr_agent_ops *ops;
	void *opaque;
	/* The transport: bytes taken (maybe fewer than len), -ENOBUFS (ctr_agent_writable
	 * comes), or another -errno. NULL: not connected. */
	ssize_t (*send)(void *t, const void *buf, size_t len);
	void *t;
	/* Input: the frame being read. */
	uint8_t hdr[CTR_FRAME_HDR];
	unsigned int hdr_got;
	uint16_t type;
	uint8_t *payload;
	uint32_t pay_len, pay_got;
	bool in_payload;
	uint64_t skip;		/* bytes of a refused frame still to pass over */
	unsigned long dropped;	/* frames dropped: bad header, not decoding, not expected */
	bool hello_seen;
	/* Output: frames hull-init has not taken yet. */
	uint8_t *out;
	size_t out_len, out_cap;
	uint32_t seq;		/* the last request's */
	struct ctr_expect expect[CTR_EXPECT_MAX];
	/* vsock (ctr_agent_listen). */
	struct vsock *vs;
	struct loop *loop;
	struct vsock_ep *ep;	/* the agent connection */
	bool listening;
	struct ctr_stream_conn streams[CTR_STREAMS_MAX];
};

void ctr_agent_init(struct ctr_agent *a, const struct ctr_agent_ops *ops, void *opaque);
/* Close the connections (no callbacks follow), stop listening, free. */
void ctr_agent_fini(struct ctr_agent *a);

/* --- the protocol ------------------------------------------------------------------------- */

/* Bytes from hull-init's agent connection: every frame they complete is handled. */
void ctr_agent_input(struct ctr_agent *a, const uint8_t *p, size_t len);
/* The transport has room again: send what waits. */
void ctr_agent_writable(struct ctr_agent *a);

/*
 * Requests: 0 with the request's seq in *seq (NULL: not wanted), -ENOTCONN before hull-init
 * connected, -ENOBUFS when CTR_AGENT_OUT_MAX bytes wait already, -E2BIG/-EINVAL when the
 * message does not encode, another -errno when the transport failed.
 */
/* START: nif (NULL: none) is the interface hull-init configures first (docker's, at start). */
int ctr_agent_start(struct ctr_agent *a, const struct ctr_netif *nif, uint32_t *seq);
int ctr_agent_exec(struct ctr_agent *a, uint32_t id, const struct ctr_process *p,
		   uint32_t *seq);
int ctr_agent_signal(struct ctr_agent *a, uint32_t id, uint32_t sig, bool all, uint32_t *seq);
int ctr_agent_stdin_close(struct ctr_agent *a, uint32_t id, uint32_t *seq);
int ctr_agent_winsize(struct ctr_agent *a, uint32_t id, uint32_t rows, uint32_t cols,
		      uint32_t *seq);
/* UPDATE: the container's cgroup rewritten; cpus the vCPUs to have online (0: as they are). */
int ctr_agent_update(struct ctr_agent *a, const struct ctr_resources *r, uint32_t cpus,
		     uint32_t *seq);

/*
 * Wait for stream (CTR_STDIN ... CTR_TTY) of process id: 0, -EEXIST when it is expected
 * already, -ENOSPC past CTR_EXPECT_MAX. ctr_agent_match takes the expectation a STREAM frame
 * names (0 and *sink), or -ENOENT when there is none.
 */
int ctr_agent_expect(struct ctr_agent *a, uint32_t id, uint32_t stream,
		     const struct ctr_stream_sink *sink);
int ctr_agent_match(struct ctr_agent *a, uint32_t id, uint32_t stream,
		    struct ctr_stream_sink *sink);

/*
 * One STREAM frame at the start of a stream connection: 0 with *id and *stream once buf[0..len)
 * holds it whole (*used: its bytes), -EAGAIN while more is needed, -EINVAL when it is not a
 * valid STREAM frame or longer than sizeof(ctr_stream_conn.buf).
 */
int ctr_stream_frame(const uint8_t *buf, size_t len, uint32_t *id, uint32_t *stream,
		     size_t *used);

/* --- over vsock ---------------------------------------------------------------------------- */

/*
 * Listen on the device's CTR_PORT_AGENT and CTR_PORT_STREAM (in-process endpoints: no
 * Unix socket). loop runs the stream connections' timers. 0 or -errno.
 */
int ctr_agent_listen(struct ctr_agent *a, struct vsock *vs, struct loop *loop);
/*
 * A sink ends its stream (an fd of its failed): the connection is reset (RST) and let go; no
 * callback follows. The agent owns every stream's endpoint: sinks never close one themselves.
 */
void ctr_agent_stream_reset(struct ctr_agent *a, struct vsock_ep *ep);
/*
 * Process id's streams are no longer wanted (its owner goes away): its expectations dropped,
 * its attached stream connections reset. No callback follows for them.
 */
void ctr_agent_forget(struct ctr_agent *a, uint32_t id);

#endif
