/* virtio-vsock: stream sockets between guest and host; hybrid Unix socket and in-process endpoints. */
#ifndef HULL_VIRTIO_VSOCK_VSOCK_H
#define HULL_VIRTIO_VSOCK_VSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "lib/file.h"
#include "virtio/virtio.h"

/*
 * ---- virtio-vsock --------------------------------------------------------------------
 *
 * Stream sockets between the guest and the host (CID 2), served on the event
 * loop. The host side is made of endpoints: the Firecracker-compatible
 * "hybrid vsock" Unix socket (virtio/vsock/uds.c) is one kind, and hull's
 * own code can be another (the in-process endpoint API below), so the agent
 * and container stdio of later issues need no Unix socket in between.
 * virtio/vsock/README states the limits and the wire behaviour.
 */

#define VSOCK_HOST_CID 2
#define VSOCK_MAX_CONNS 1024         /* per device, pending Unix-socket handshakes included */
#define VSOCK_BUF_ALLOC (256 * 1024) /* receive buffer hull advertises per connection, bytes */

struct vsock_config {
	uint32_t cid; /* the guest's CID, 3..0xfffffffe */
	char *uds;    /* hybrid-vsock socket path; NULL: no Unix socket side */
};

/* The kind (virtio/vsock/config.c): --vsock, "vsock", one per VM. */
extern const struct virtio_kind vsock_kind;

/*
 * Parse "cid=N,uds=PATH" (the JSON object's fields go through
 * vsock_config_set). 0, or -EINVAL with a one-line reason in err. c->uds is
 * malloc'd.
 */
int vsock_parse(struct vsock_config *c, const char *spec, char *err, size_t errlen);
int vsock_config_set(struct vsock_config *c, const char *key, const char *value, char *err,
		     size_t errlen);
void vsock_config_free(struct vsock_config *c);

struct vsock;

/*
 * vsock_kind's check and create in one call, for tests and fuzzers: listen on c->uds (a stale
 * socket file nobody listens on is replaced; any other existing file is an error) and build
 * the device, not attached (virtio_mmio_attach). Failures log "vsock PATH: cause". 0 or
 * -errno (-EADDRINUSE, -EEXIST, -ENOENT, -ENAMETOOLONG for the path); *out on success.
 */
int vsock_create(const struct vsock_config *c, const struct virtio_host *host, struct vsock **out);
/* Detach when attached, close every connection, the listening socket (unlinking PATH), free. */
void vsock_destroy(struct vsock *v);

/*
 * Drop every connection (host sides closed, in-process endpoints get
 * closed(-ECONNRESET)) and post VIRTIO_VSOCK_EVENT_TRANSPORT_RESET: the guest
 * resets its sockets and re-reads guest_cid. Listeners stay. Event loop thread.
 */
void vsock_transport_reset(struct vsock *v);

/*
 * In-process endpoints: hull code as the host side of guest streams, with
 * the same flow control as the Unix socket (which is built on this API).
 *
 * Threads: call these on the event loop thread. Callbacks run there with the
 * device lock held; calling back into this API from a callback is fine.
 * A struct vsock_ep is valid from accept/vsock_connect until closed() returns
 * or vsock_ep_close() is called.
 */
struct vsock_ep;

struct vsock_ep_ops {
	/* vsock_connect only: the guest accepted (RESPONSE). May be NULL. */
	void (*connected)(struct vsock_ep *ep, void *opaque);
	/*
	 * Guest bytes, len >= 1 in iov[0..n). Return how many were taken from
	 * the start (0..len). Fewer than len: hull keeps the rest (within the
	 * VSOCK_BUF_ALLOC of credit it gave) and offers it again only after
	 * vsock_ep_recv_ready(). May call vsock_ep_close().
	 */
	size_t (*recv)(struct vsock_ep *ep, void *opaque, const struct iovec *iov, unsigned int n,
		       size_t len);
	/*
	 * The guest shut down: VIRTIO_VSOCK_SHUTDOWN_SEND (no more bytes; every
	 * byte before was taken) and/or _RCV (it reads no more: stop sending).
	 * May be NULL.
	 */
	void (*shutdown)(struct vsock_ep *ep, void *opaque, unsigned int flags);
	/* After a send returned -ENOBUFS: there is room again. May be NULL. */
	void (*writable)(struct vsock_ep *ep, void *opaque);
	/*
	 * The connection is over: 0 (both directions finished), -ECONNREFUSED
	 * (vsock_connect refused), -ECONNRESET (guest RST, reset, transport
	 * reset, protocol violation). Not called after vsock_ep_close().
	 */
	void (*closed)(struct vsock_ep *ep, void *opaque, int err);
};

/*
 * A guest connects to a listened port: return 0 with *ops (recv required)
 * and *ep_opaque set to accept (RESPONSE), or -errno to refuse (RST). Use ep
 * once accept returned; a send before the RESPONSE is out gets -ENOBUFS and
 * writable() follows.
 */
typedef int vsock_accept_fn(void *opaque, struct vsock_ep *ep, uint32_t guest_port,
			    const struct vsock_ep_ops **ops, void **ep_opaque);

/* Take guest connects to host port: -EADDRINUSE, -EINVAL (port -1), -ENOMEM. */
int vsock_listen(struct vsock *v, uint32_t port, vsock_accept_fn *accept, void *opaque);
/* Stop taking new connects to port; existing connections go on. */
void vsock_unlisten(struct vsock *v, uint32_t port);
/*
 * Connect to the guest's port from a fresh host port: *out at once, then
 * connected() or closed(-ECONNREFUSED). -EAGAIN at VSOCK_MAX_CONNS.
 */
int vsock_connect(struct vsock *v, uint32_t guest_port, const struct vsock_ep_ops *ops,
		  void *opaque, struct vsock_ep **out);
uint32_t vsock_ep_local_port(const struct vsock_ep *ep);
uint32_t vsock_ep_peer_port(const struct vsock_ep *ep);
/*
 * Send to the guest: the bytes taken (1..len; fewer than len, or -ENOBUFS,
 * when the guest's credit or RX buffers ran out: writable() follows), -EPIPE
 * after either side shut that direction down, -ENOTCONN before connected().
 */
ssize_t vsock_ep_send(struct vsock_ep *ep, const void *buf, size_t len);
/*
 * One batch without a copy: fill() reads at most max bytes straight into the
 * guest's buffers iov[0..n) and returns the count, 0 for end of stream or
 * -errno (-EAGAIN: nothing now), which send_fill returns as is. A batch is at
 * most 64 KiB: call again while fill has more (only -ENOBUFS promises a
 * writable()). fill() must not call this API.
 */
typedef ssize_t vsock_fill_fn(void *arg, const struct iovec *iov, unsigned int n);
ssize_t vsock_ep_send_fill(struct vsock_ep *ep, size_t max, vsock_fill_fn *fill, void *arg);
/* recv() may be offered the bytes it left again. */
void vsock_ep_recv_ready(struct vsock_ep *ep);
/* SHUT_WR (SHUTDOWN SEND to the guest), SHUT_RD, SHUT_RDWR. -ENOTCONN when not connected. */
int vsock_ep_shutdown(struct vsock_ep *ep, int how);
/* End the connection now (RST; bytes hull still holds are dropped). No callbacks follow. */
void vsock_ep_close(struct vsock_ep *ep);

/* The device of kind vsock_kind behind d (vm's registry holds the generic one), or NULL. */
struct vsock *vsock_of(struct virtio_dev *d);

/*
 * ---- an fd <-> endpoint bridge --------------------------------------------------------
 *
 * Moves one connection's bytes between host descriptors and an in-process endpoint, with the
 * endpoint's flow control both ways: bytes read from in_fd go straight into the guest's
 * buffers (hull holds none of them), and the guest's bytes are written to out without ever
 * blocking (what out does not take now stays with the endpoint, within the credit hull gave,
 * until out_ready). The hybrid Unix socket's connections are bridges of one socket; container
 * stdio bridges hull's stdin, stdout and stderr.
 *
 * The owner keeps the descriptors in its event loop: after every call below it re-arms each
 * with vsock_bridge_events(b, fd), calls in_ready/out_ready when they are ready (in_ready
 * again and again for an in_fd that epoll refuses, a regular file, until it blocks or ends),
 * forwards the endpoint's recv/shutdown/writable callbacks, and ends the connection
 * (vsock_ep_close) once err is set. Event loop thread, as the endpoint API.
 */
struct vsock_bridge {
	struct vsock_ep *ep;
	int in_fd;                  /* read into the guest; -1: nothing goes to the guest */
	const struct file_out *out; /* the guest's bytes are written here; NULL: dropped */
	bool socket;                /* in_fd is a socket and out writes to it: the guest's
				       shutdowns become shutdown(2) of it */
	bool in_eof;                /* in_fd ended: SHUTDOWN SEND went to the guest */
	bool in_blocked;            /* the guest has no room: wait for writable() */
	bool in_shut;               /* the guest reads no more */
	bool out_blocked;           /* out took less than offered: wait for out_ready */
	bool out_eof;               /* the guest sent its last byte (SHUTDOWN SEND) and out has it */
	int err;                    /* an fd failed (-errno): the owner ends the connection */
};

void vsock_bridge_init(struct vsock_bridge *b, struct vsock_ep *ep, int in_fd,
		       const struct file_out *out, bool socket);
/* The endpoint's recv, shutdown and writable callbacks, forwarded. */
size_t vsock_bridge_recv(struct vsock_bridge *b, const struct iovec *iov, unsigned int n,
			 size_t len);
void vsock_bridge_shutdown(struct vsock_bridge *b, unsigned int flags);
void vsock_bridge_writable(struct vsock_bridge *b);
/* in_fd is readable: one batch into the guest (up to 64 KiB); end of file: SHUTDOWN SEND. */
void vsock_bridge_in_ready(struct vsock_bridge *b);
/* out's descriptor is writable again: the endpoint offers the rest. */
void vsock_bridge_out_ready(struct vsock_bridge *b);
/* The epoll events fd (in_fd, out's descriptor, or both when they are one) waits for. */
uint32_t vsock_bridge_events(const struct vsock_bridge *b, int fd);

#endif
