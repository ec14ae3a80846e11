/* vsock internals: protocol core (conn.c, packet.c), device (vsock.c, endpoint.c), uds.c. */
#ifndef HULL_VIRTIO_VSOCK_INTERNAL_H
#define HULL_VIRTIO_VSOCK_INTERNAL_H

#include <linux/virtio_vsock.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/usock.h"
#include "virtio/vsock/vsock.h"

#define VSOCK_HDR sizeof(struct virtio_vsock_hdr) /* 44 bytes */
#define VSOCK_MAX_PKT (64 * 1024)      /* payload per packet: VIRTIO_VSOCK_MAX_PKT_BUF_SIZE */
#define VSOCK_HASH 1024                /* connection table buckets (power of two) */
#define VSOCK_ORPHANS 64               /* RSTs owed for packets that match no connection */
#define VSOCK_EPHEMERAL (1U << 30)     /* host ports hull picks for connects start here */
#define VSOCK_PORT_ANY 0xffffffffU     /* VMADDR_PORT_ANY: never a real port */
#define VSOCK_LINE_MAX 32              /* "CONNECT <port>\n" on the Unix socket, at most */

/* ---- a minimal intrusive circular list ---- */

struct vlist {
	struct vlist *next, *prev;
};

static inline void vlist_init(struct vlist *l)
{
	l->next = l->prev = l;
}

static inline bool vlist_empty(const struct vlist *l)
{
	return l->next == l;
}

/* An element not on any list points at itself, so removing it twice is harmless. */
static inline void vlist_del(struct vlist *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	vlist_init(e);
}

static inline void vlist_add_tail(struct vlist *head, struct vlist *e)
{
	vlist_del(e);
	e->prev = head->prev;
	e->next = head;
	head->prev->next = e;
	head->prev = e;
}

/* Move every element of from to the (empty) list to. */
static inline void vlist_take(struct vlist *to, struct vlist *from)
{
	vlist_init(to);
	if (vlist_empty(from))
		return;
	to->next = from->next;
	to->prev = from->prev;
	to->next->prev = to;
	to->prev->next = to;
	vlist_init(from);
}

/* ---- connections ---- */

enum vsock_state {
	VS_FREE,        /* in the pool */
	VS_CONNECTING,  /* hull connects to the guest: REQUEST owed or sent, waiting for RESPONSE */
	VS_ESTABLISHED, /* guest-initiated ones are established as soon as an endpoint accepts */
	VS_CLOSING,     /* an RST is owed to the guest; no endpoint any more */
	VS_ZOMBIE,      /* out of the table; the endpoint's closed() is still to be called */
	VS_DEAD,        /* back to the pool when the outermost call returns, never mid-call */
};

/* Control packets owed to the guest (vsock_ep.pending), highest priority first. */
#define VP_RST (1u << 0)
#define VP_REQUEST (1u << 1)
#define VP_RESPONSE (1u << 2)
#define VP_CREDIT_UPDATE (1u << 3)
#define VP_SHUTDOWN (1u << 4)

#define VSOCK_SHUT_BOTH (VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND)

struct vsock_proto;

/* One connection as the host side sees it; the in-process API's handle. */
struct vsock_ep {
	struct vsock_proto *p;
	enum vsock_state state;
	uint32_t local_port;          /* the host's (CID 2) port */
	uint32_t peer_port;           /* the guest's port */
	struct vsock_ep *hnext;       /* hash chain */
	struct vlist ctl;             /* on p->ctl while pending != 0 */
	struct vlist wait;            /* on p->blocked while want_room */
	struct vlist link;            /* on p->free, p->zombies or p->dead */
	uint8_t pending;              /* VP_* */
	uint8_t peer_shut;            /* SHUTDOWN flags the guest sent */
	uint8_t shut_owed;            /* SHUTDOWN flags hull decided to send (VP_SHUTDOWN) */
	bool eof_told;                /* the guest's SEND shutdown was passed to the endpoint */
	bool rcv_told;                /* the guest's RCV shutdown was passed to the endpoint */
	bool ep_busy;                 /* recv took less than offered: wait for recv_ready */
	bool want_room;               /* a send found no credit or no buffers: writable() owed */
	bool in_recv;                 /* inside ops->recv: no recursive flush */
	bool closed_owed;             /* on p->zombies: closed(close_err) still to be called */
	int close_err;                /* for a zombie's closed() */

	/* Hull -> guest credit: what the guest advertised and what hull has sent. */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	/* Guest -> hull credit: received, delivered to the endpoint, and last told to the guest. */
	uint32_t rx_cnt, fwd_cnt, fwd_told;

	/* Guest bytes the endpoint has not taken yet: a VSOCK_BUF_ALLOC ring, while non-empty. */
	uint8_t *buf;
	uint32_t buf_head, buf_len;

	const struct vsock_ep_ops *ops;
	void *opaque;
};

#define vsock_ep_of(l, member) container_of(l, struct vsock_ep, member)

struct vsock_listener {
	uint32_t port;
	vsock_accept_fn *accept;
	void *opaque;
};

/* The protocol state of one device: pure data plus the endpoints' callbacks. */
struct vsock_proto {
	uint64_t guest_cid;
	const char *name;                  /* for messages */
	struct vsock_ep *eps;              /* the pool: VSOCK_MAX_CONNS entries */
	struct vsock_ep *hash[VSOCK_HASH];
	unsigned int nconns;               /* entries out of the pool */
	unsigned int reserved;             /* Unix-socket handshakes, counted toward the limit */
	struct vlist free, ctl, blocked, zombies, dead;
	struct {
		uint32_t local, peer;
	} orphan[VSOCK_ORPHANS];
	unsigned int orphan_head, norphans;
	struct vsock_listener *listeners;
	unsigned int nlisteners, listeners_cap;
	/* Guest connects no in-process listener takes (the Unix socket's PATH_P); may be NULL. */
	int (*fallback)(void *arg, struct vsock_ep *ep);
	void *fallback_arg;
	uint32_t next_port;
	bool rx_empty;                     /* no RX buffer last time (or no budget: see vsock.c) */
	bool limit_logged;
};

/*
 * conn.c and packet.c: the protocol core, testable without rings or fds. Packets come in
 * through vsock_proto_input and go out through vsock_proto_next_ctl / vsock_proto_data_hdr;
 * endpoints are called through their ops.
 */
int vsock_proto_init(struct vsock_proto *p, uint64_t guest_cid, const char *name);
void vsock_proto_fini(struct vsock_proto *p);

enum vsock_verdict {
	VSOCK_PKT_OK,
	VSOCK_PKT_DROP, /* not answerable or malformed: dropped (its connection reset) */
	VSOCK_PKT_RST,  /* well-formed but for nobody here: answered with RST */
};
/* Check a guest packet's header against the payload bytes its chain carries; *why says why not. */
enum vsock_verdict vsock_pkt_check(const struct virtio_vsock_hdr *h, uint64_t guest_cid,
				   size_t carried, const char **why);
/*
 * One packet from the guest (TX queue): payload iov[0..n) holds carried bytes. Updates
 * connections, calls endpoints, and queues control replies for vsock_proto_next_ctl.
 */
void vsock_proto_input(struct vsock_proto *p, const struct virtio_vsock_hdr *h,
		       const struct iovec *iov, unsigned int n, size_t carried);

/* Is a control packet owed? Then next_ctl writes it into *h (and forgets it). */
bool vsock_proto_has_ctl(const struct vsock_proto *p);
bool vsock_proto_next_ctl(struct vsock_proto *p, struct virtio_vsock_hdr *h);
/* The header of an RW packet of len bytes to the guest; counts them as sent. */
void vsock_proto_data_hdr(struct vsock_ep *c, uint32_t len, struct virtio_vsock_hdr *h);

/* Credit the guest gives hull on c, clamped at 0 whatever the guest claimed. */
uint32_t vsock_credit(const struct vsock_ep *c);
/* May c send data now (established, not shut down, RESPONSE out, credit left)? */
bool vsock_can_send(const struct vsock_ep *c);
/* Remember that c waits for credit or guest buffers: writable() when they come. */
void vsock_block(struct vsock_ep *c);
/* Guest buffers came back: call writable() on every waiting connection that may send. */
void vsock_proto_wake(struct vsock_proto *p);

/* Connections: lookup, a new one (NULL at the limit), a free host port. */
struct vsock_ep *vsock_ep_find(struct vsock_proto *p, uint32_t local, uint32_t peer);
struct vsock_ep *vsock_ep_new(struct vsock_proto *p, uint32_t local, uint32_t peer);
bool vsock_proto_room(const struct vsock_proto *p);
int vsock_proto_port(struct vsock_proto *p, uint32_t *port);
struct vsock_listener *vsock_listener_find(struct vsock_proto *p, uint32_t port);

/* One connection's state changes (conn.c), for packet.c. */
void vsock_pend(struct vsock_ep *c, uint8_t bit);           /* owe the guest a control packet */
void vsock_ep_retire(struct vsock_ep *c);                  /* out of the table, no RST */
void vsock_ep_wake(struct vsock_ep *c);                    /* writable() now */
void vsock_ep_shut_progress(struct vsock_ep *c);           /* pass shutdowns on; end when done */
/* Guest bytes for c (credit checked here: beyond it, c is reset). */
void vsock_ep_data(struct vsock_ep *c, uint32_t len, const struct iovec *iov, unsigned int n);

/* Endpoint-side actions (the in-process API's core). */
int vsock_ep_do_shutdown(struct vsock_ep *c, uint8_t flags);
void vsock_ep_do_close(struct vsock_ep *c);
void vsock_ep_flush(struct vsock_ep *c);
/* Drop c: the endpoint gets closed(err) later (zombie); rst: tell the guest too. */
void vsock_ep_drop(struct vsock_ep *c, int err, bool rst);
/* Every connection to zombies (closed() later), no RSTs: the guest forgets them by itself. */
void vsock_proto_drop_all(struct vsock_proto *p, int err);
/* Call closed() on zombies, then put dead connections back in the pool. */
void vsock_proto_reap(struct vsock_proto *p);

/* ---- the device (vsock.c) ---- */

#define VSOCK_QUEUE_MAX 256
#define VSOCK_RX_IOV 16   /* descriptors per RX chain */
#define VSOCK_TX_IOV 64   /* descriptors per TX chain */
#define VSOCK_RX_BATCH 16 /* RX chains one send fills (one readv) */
/*
 * Chains per call before yielding to the loop: TX chains per kick, RX chains
 * popped (used or returned as too small) per entry into vsock code, event
 * chains per flush.
 */
#define VSOCK_BUDGET VIRTIO_NOTIFY_BUDGET

enum { VSOCK_RXQ, VSOCK_TXQ, VSOCK_EVQ, VSOCK_NQUEUES };

struct vsock_rx {
	struct virtq_chain c;
	struct iovec iov[VSOCK_RX_IOV];
};

struct vsock_uds;

struct vsock {
	struct virtio_dev dev;
	struct vsock_proto p;
	uint64_t cid;
	struct vsock_uds *uds;          /* NULL: no Unix socket side */
	int reap_fd;                    /* eventfd: a reset left endpoints to close on the loop */
	struct loop_handler reap_h;
	/* Popped RX chains not used yet: rx[(rx_head + i) % VSOCK_RX_BATCH], i < rx_n. */
	struct vsock_rx rx[VSOCK_RX_BATCH];
	unsigned int rx_head, rx_n;
	unsigned int rx_budget;         /* RX chains this entry may still pop (VSOCK_BUDGET) */
	bool event_owed;                /* TRANSPORT_RESET not posted yet */
	bool tx_waits;                  /* TX stopped: RSTs owed and no guest buffer for them */
	/* Who holds dev.lock inside vsock code, how deep: callbacks may call the API again. */
	atomic_ulong owner;
	unsigned int depth;
	/* Notify calls per queue, under dev.lock: a busy loop would show here (tests watch). */
	uint64_t tx_kicks, rx_kicks;
};

/* Enter vsock code from outside (lock taken unless this thread holds it); leave undoes it. */
bool vsock_enter(struct vsock *v);
void vsock_leave(struct vsock *v, bool took);

/* RX chains for endpoint.c: the i-th held one (popping as needed), and using n of them. */
struct vsock_rx *vsock_rx_get(struct vsock *v, unsigned int i);
void vsock_rx_consume(struct vsock *v, unsigned int n);
void vsock_rx_flush(struct vsock *v);

/*
 * vsock_kind's building steps (vsock.c). vsock_open, the check: the hybrid socket listening
 * (a struct usock in *res when c->uds). vsock_release closes and removes it. vsock_build, the
 * create: the device and its endpoint on that socket, from res (which it takes).
 */
int vsock_open(const struct vsock_config *c, void **res);
void vsock_release(void *res);
int vsock_build(const void *cfg, void *res, unsigned int index, const struct virtio_host *host,
		struct virtio_dev **out);

/* ---- the Unix-socket side (uds.c) ---- */

/*
 * Listen at path (a stale socket replaced, anything else there refused; at most 96 bytes, so
 * PATH_P always fits): vsock_kind's check. Failures logged "vsock PATH: cause". 0 or -errno.
 */
int vsock_uds_listen(const char *path, struct usock *ls);
/* The endpoint on the listening socket ls (taken on success); sockets come from host->fds. */
int vsock_uds_open(struct vsock *v, struct usock *ls, const struct virtio_host *host,
		   struct vsock_uds **out);
void vsock_uds_close(struct vsock_uds *u);
/* proto fallback: connect a guest's REQUEST to port P to PATH_P. 0, or -errno (RST). */
int vsock_uds_guest_connect(void *arg, struct vsock_ep *ep);

#endif
