/* virtio-net internals: the device, the backend interface (tap.c, passt.c), the header rules. */
#ifndef HULL_VIRTIO_NET_INTERNAL_H
#define HULL_VIRTIO_NET_INTERNAL_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "virtio/net/net.h"

#define VNET_RXQ 0
#define VNET_TXQ 1
#define VNET_QUEUE_MAX 256	    /* QueueNumMax of both queues */
#define VNET_IOV_MAX VNET_QUEUE_MAX /* buffers per chain: the hop budget never exceeds it */
#define VNET_HDR_LEN 12		    /* struct virtio_net_hdr_v1: VERSION_1 is always negotiated */
#define VNET_ETH_MIN 14		    /* an Ethernet header */
#define VNET_FRAME_MAX (65535 + 14) /* largest frame either way (GSO included), header excluded */
/* The RX bounce buffer: header + frame, with room for what a tap might hand over (VLAN tags). */
#define VNET_RX_BUF (VNET_HDR_LEN + 65536 + 4096)
/*
 * Per callback and direction at most this many frames, and on RX this many
 * chains (a frame spread over more continues on the next pass): then the
 * loop moves on.
 */
#define VNET_BUDGET VIRTIO_NOTIFY_BUDGET
#define VNET_PASST_MTU 65520 /* passt's own default MTU */

#define VNET_F(bit) (1ULL << VIRTIO_NET_F_##bit)

/* ---- hdr.c: pure functions over struct virtio_net_hdr_v1 (little-endian fields) ---- */

/*
 * A TX header from the guest for a backend with offloads (tap), against the
 * negotiated features; len is the frame after the header. Checks: frame
 * 14..VNET_FRAME_MAX bytes; flags only NEEDS_CSUM, and only with CSUM; the
 * checksum field inside the frame; gso_type known and its HOST_* feature
 * negotiated, ECN only on TCP with HOST_ECN; GSO only with NEEDS_CSUM and a
 * non-zero gso_size; hdr_len within the frame. num_buffers is ignored (Linux
 * leaves it uninitialised without MRG_RXBUF). 0, or -EINVAL with *why set.
 */
int vnet_hdr_check_tx(const struct virtio_net_hdr_v1 *h, size_t len, uint64_t features,
		      const char **why);

/* The same for a backend without offloads (passt): only an all-zero header (but num_buffers). */
int vnet_hdr_check_plain(const struct virtio_net_hdr_v1 *h, size_t len, const char **why);

/*
 * A header the tap wrote for an RX frame of len bytes (header excluded),
 * made fit for the guest: flags cleared without GUEST_CSUM (a partial
 * checksum is then refused), only NEEDS_CSUM/DATA_VALID kept, the checksum
 * field inside the frame, gso_type one the guest negotiated (GUEST_TSO4,
 * GUEST_TSO6, GUEST_UFO, GUEST_ECN), num_buffers zeroed. 0, or -EINVAL (drop
 * the frame) with *why set.
 */
int vnet_hdr_rx_fixup(struct virtio_net_hdr_v1 *h, size_t len, uint64_t features, const char **why);

/* TUN_F_* for TUNSETOFFLOAD from the negotiated GUEST_* features, dependencies enforced. */
unsigned int vnet_tun_offloads(uint64_t features);

/* Device features to offer on a tap that accepted the TUN_F_* offloads in tun. */
uint64_t vnet_tap_features(unsigned int tun);

/* ---- backends ---- */

/* tx() took the frame but only partly wrote it: the backend holds the rest until flush(). */
#define VNET_TX_BUFFERED 1

struct vnet_be;

/* Set a tap's offloads (TUN_F_* in tun): 0 or -errno. TUNSETOFFLOAD unless a caller says. */
typedef int vnet_offload_fn(int fd, unsigned int tun);

struct vnet_be_ops {
	const char *kind; /* "tap", "passt" */
	/*
	 * Send one frame of len bytes in iov[1..1+n) (the guest's buffers,
	 * after the vnet header); iov[0] is the backend's own slot for its
	 * prefix (the checked copy hdr for a tap, the length for passt). 0:
	 * sent; VNET_TX_BUFFERED: see above (TX must wait for flush);
	 * -EAGAIN: nothing sent, retry the same frame when the fd is
	 * writable; -EPIPE: the backend is gone (why set); other -errno: this
	 * frame is dropped.
	 */
	int (*tx)(struct vnet_be *be, const struct virtio_net_hdr_v1 *hdr, struct iovec *iov,
		  unsigned int n, size_t len);
	/* Write what tx buffered: 0 all out, -EAGAIN not yet, -EPIPE gone (why set). NULL: never.
	 */
	int (*flush)(struct vnet_be *be);
	/*
	 * Read one frame into buf (cap bytes, always the same buffer): the vnet
	 * header at 0, the frame after it. Returns header + frame bytes,
	 * -EAGAIN when no whole frame is there (a partial one may be kept in
	 * buf between calls), -EPIPE when the backend is gone or broke its
	 * protocol (why set), or another -errno (this frame lost).
	 */
	ssize_t (*rx)(struct vnet_be *be, uint8_t *buf, size_t cap);
	/* TUNSETOFFLOAD; NULL for a backend without offloads. 0 or -errno. */
	int (*offload)(struct vnet_be *be, unsigned int tun);
	/* Close the fd; stop a passt hull started. */
	void (*close)(struct vnet_be *be);
};

struct vnet_be {
	const struct vnet_be_ops *ops;
	int fd;
	char name[40];	   /* message prefix: "net tap0", "net passt" */
	char why[120];	   /* why tx/rx/flush said -EPIPE */
	uint64_t features; /* the device features this backend can serve */
	bool offloads;	   /* has a vnet header (tap): TX headers may carry offloads */
	/* tap: how offloads are set and probed (TUNSETOFFLOAD, or what vnet_tap_fd was given) */
	vnet_offload_fn *set_offload;
	unsigned int tun;  /* TUN_F_* in force */
	/* passt: the child hull started, the stream state of each direction. */
	pid_t child;
	uint8_t rx_prefix[4];
	size_t rx_got;	  /* bytes of the current record read, its 4-byte length included */
	uint32_t rx_want; /* the record's frame length, once its prefix is whole */
	uint8_t *txbuf;	  /* the unsent rest of one record (4 + VNET_FRAME_MAX bytes) */
	size_t tx_off, tx_len;
};

/* Open a tap: /dev/net/tun, TUNSETIFF, vnet header size 12, offloads probed. Logs failures. */
int vnet_tap_open(struct vnet_be *be, const char *ifname);

/*
 * Wrap an open tap (its vnet header 12 bytes) named name in messages: the fd is the backend's
 * now, made non-blocking; on failure (-errno) it is still the caller's. Offloads are probed
 * and set through set_offload (NULL: TUNSETOFFLOAD). A test passes its own and a
 * SOCK_SEQPACKET socket as the tap: one datagram per frame, header included.
 */
int vnet_tap_fd(struct vnet_be *be, int fd, const char *name, vnet_offload_fn *set_offload);

/*
 * passt: connect to the socket at path, or, when path is NULL, start
 * `passt -f -q --fd 3` on one end of a socketpair. Logs failures.
 */
int vnet_passt_open(struct vnet_be *be, const char *path);

/* Wrap a connected stream socket (passt's, or a test's): the fd is the backend's now. */
int vnet_passt_fd(struct vnet_be *be, int fd);

/* ---- net.c: the device ---- */

struct vnet_stats {
	uint64_t tx_frames, tx_bad, tx_dropped; /* sent; refused header; lost in the backend */
	uint64_t rx_frames, rx_bad, rx_dropped; /* delivered; refused header; did not fit */
	uint64_t rx_waits;			/* times RX stopped for lack of buffers */
};

struct vnet {
	struct virtio_dev dev;
	struct vnet_be be;
	struct loop_handler be_h;
	bool be_up;	    /* in the loop; false once the backend failed */
	uint32_t be_events; /* what be_h is registered for */
	bool active;	    /* between activate and reset */
	struct virtio_net_config cfg;
	struct vnet_stats stats;

	/* RX: one frame in the bounce buffer; with MRG_RXBUF, the chains it has filled so far. */
	uint8_t *rxbuf;
	size_t rx_len; /* a whole frame waiting in rxbuf (header included), or 0 */
	bool rx_wait;  /* the guest has no buffers: the backend is not read until an RX kick */
	size_t rx_off; /* bytes of the frame already copied into chains */
	unsigned int rx_nbuf;
	uint16_t rx_head[VNET_QUEUE_MAX];
	uint32_t rx_used[VNET_QUEUE_MAX];
	struct iovec rx_first[VNET_IOV_MAX]; /* the first chain's buffers: num_buffers goes there */
	unsigned int rx_first_n;
	struct iovec rx_iov[VNET_IOV_MAX];

	/* TX: a chain the backend could not take yet waits here (tx_held) until EPOLLOUT. */
	bool tx_wait; /* backend full: TX paused until the fd is writable */
	bool tx_held;
	uint16_t tx_head;
	unsigned int tx_n;
	size_t tx_len;
	struct virtio_net_hdr_v1 tx_hdr;
	struct iovec tx_iov[VNET_IOV_MAX + 1];
	struct iovec tx_chain[VNET_IOV_MAX];
};

/*
 * Between net.c (device, backend polling) and queues.c (the data paths);
 * all with the device lock held.
 */
/* Poll the backend fd for input while active and not waiting, for output while tx_wait. */
void vnet_be_arm(struct vnet *n);
/* The backend is gone (be.why says why): stop polling it, link down, drain TX into nothing. */
void vnet_be_stop(struct vnet *n);
/* Send up to VNET_BUDGET TX chains; more: a requeue. Nothing while tx_wait. */
void vnet_tx_process(struct vnet *n);
/* The backend fd is writable: flush what it holds, retry the held chain, go on with TX. */
void vnet_tx_writable(struct vnet *n);
/*
 * Move up to VNET_BUDGET frames, over up to VNET_BUDGET chains, into the
 * guest; no buffers: rx_wait until an RX kick.
 */
void vnet_rx_process(struct vnet *n);
/* Forget the chains a merged frame has taken (reset: nothing is pushed). */
void vnet_rx_forget(struct vnet *n);

/* vnet_create with the backend open: be moves into the device; on failure the caller closes it. */
int vnet_create_be(const struct vnet_config *c, unsigned int index, const struct vnet_be *be,
		   const struct virtio_host *host, struct vnet **out);

/*
 * vnet_kind's building steps (net.c). vnet_open, the check: the backend opened (a tap
 * through TUNSETIFF, passt's socket connected or passt started) into *res. vnet_release
 * closes it (stopping a passt hull started). vnet_build, the create: the device, from res
 * (which it takes).
 */
int vnet_open(const struct vnet_config *c, void **res);
void vnet_release(void *res);
int vnet_build(const void *cfg, void *res, unsigned int index, const struct virtio_host *host,
	       struct virtio_dev **out);

#endif
