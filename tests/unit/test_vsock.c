/* Unit tests for virtio-vsock: packets, states, credit, the hybrid Unix socket, limits, resets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/unit/virtio_env.h"
#include "virtio/vsock/internal.h"

#define BASE 0xd0000000ULL
#define GSI 7
#define RAM_GPA 0x100000ULL
#define RAM_SIZE (16ULL << 20)
#define QSIZE 256
#define RING(q) (RAM_GPA + (uint64_t)(q) * 0x4000)
#define DESC(q) RING(q)
#define AVAIL(q) (RING(q) + 0x1000)
#define USED(q) (RING(q) + 0x2000)
#define RXBUF(i) (RAM_GPA + 0x100000 + (uint64_t)(i) * 0x2000) /* 8 KiB per descriptor */
#define EVBUF(i) (RAM_GPA + 0x300000 + (uint64_t)(i) * 0x10)
#define TXAREA (RAM_GPA + 0x400000)
#define TXAREA_SIZE (8ULL << 20)
#define RXPAY 4096 /* payload bytes per RX buffer, as Linux posts */
#define GCID 3
#define HDR ((uint32_t)sizeof(struct virtio_vsock_hdr))

#define S_ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV VIRTIO_CONFIG_S_DRIVER
#define S_FOK VIRTIO_CONFIG_S_FEATURES_OK
#define S_DOK VIRTIO_CONFIG_S_DRIVER_OK

#define OP_REQUEST VIRTIO_VSOCK_OP_REQUEST
#define OP_RESPONSE VIRTIO_VSOCK_OP_RESPONSE
#define OP_RST VIRTIO_VSOCK_OP_RST
#define OP_SHUTDOWN VIRTIO_VSOCK_OP_SHUTDOWN
#define OP_RW VIRTIO_VSOCK_OP_RW
#define OP_CREDIT_UPDATE VIRTIO_VSOCK_OP_CREDIT_UPDATE
#define OP_CREDIT_REQUEST VIRTIO_VSOCK_OP_CREDIT_REQUEST
#define SH_RCV VIRTIO_VSOCK_SHUTDOWN_RCV
#define SH_SEND VIRTIO_VSOCK_SHUTDOWN_SEND

enum layout { L_SPLIT, L_ONE, L_MESSY };

struct dq { /* the driver's side of one queue */
	uint16_t avail_idx, used_seen;
	uint16_t free[QSIZE];
	unsigned int nfree;
	uint16_t chain[QSIZE][8];
	uint8_t chain_n[QSIZE];
};

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool w;
};

struct rxpkt {
	struct virtio_vsock_hdr h;
	uint16_t op;
	uint32_t src_port, dst_port, flags, fwd_cnt, buf_alloc;
	uint32_t len; /* payload */
	uint8_t data[70000];
};

/* An in-process endpoint that records what it gets (or echoes it back). */
struct rec {
	struct vsock_ep *ep;
	uint8_t *data;
	size_t len, cap;
	size_t take; /* at most this much per recv */
	bool echo, connected;
	unsigned int shut, writable, closed;
	int err;
};

static struct env {
	struct virtio_env v;
	struct vsock *vs;
	struct virtio_dev *d;
	unsigned int pulses;
	struct dq q[3];
	uint64_t tx_next, next_base;
	bool rx_split;
	bool early;          /* bring_up posts RX buffers before DRIVER_OK */
	unsigned int rx_out; /* RX buffers posted and not yet used */
	uint32_t guest_buf;  /* buf_alloc the guest advertises */
	char dir[64], path[128];
	struct rec recs[8];
	unsigned int nrecs;
	/* A guest whose interrupt handler posts a tiny buffer again for each one used on tiny_q. */
	int tiny_q;		/* -1: none */
	unsigned int tiny_used; /* tiny buffers the device gave back */
} e;

#define TINY_CAP 2000 /* the refilling guest gives up after this many, so the old code ended */

static struct rxpkt pk; /* the last packet rx_take read */

static void tiny_refill(void);

static void rec_irq(void *opaque, unsigned int irq, int level)
{
	(void)irq;
	if (level)
		((struct env *)opaque)->pulses++;
	if (level && e.tiny_q >= 0)
		tiny_refill();
}

/* ---- driver ---- */

static void *gpa(uint64_t a)
{
	return gmem_ptr(&e.v.mem, a, 1);
}

static uint32_t rd(uint64_t off)
{
	return virtio_env_rd(e.d, off);
}

static void wr(uint64_t off, uint32_t v)
{
	virtio_env_wr(e.d, off, v);
}

static const struct virtio_drv drv = { rd, wr };

static int dispatch(int ms)
{
	return virtio_env_dispatch(&e.v, ms);
}

/* Run the loop until nothing is ready; a device that keeps finding work is a busy loop. */
static void run(void)
{
	int i;

	for (i = 0; i < 20000; i++)
		if (dispatch(0) <= 0)
			break;
	assert_true(i < 20000);
}

static void kick(unsigned int q)
{
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, q);
	run();
}

static void take_descs(unsigned int q, unsigned int n, uint16_t *idx)
{
	struct dq *dq = &e.q[q];
	unsigned int i;

	assert_true(n <= 8 && dq->nfree >= n);
	for (i = 0; i < n; i++)
		idx[i] = dq->free[--dq->nfree];
}

static void publish(unsigned int q, const uint16_t *idx, const struct seg *s, unsigned int n)
{
	struct vring_desc *desc = gpa(DESC(q));
	struct vring_avail *a = gpa(AVAIL(q));
	struct dq *dq = &e.q[q];
	unsigned int i;

	for (i = 0; i < n; i++)
		desc[idx[i]] = (struct vring_desc){
			.addr = s[i].gpa,
			.len = s[i].len,
			.flags = (uint16_t)((s[i].w ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = i + 1 < n ? idx[i + 1] : 0,
		};
	memcpy(dq->chain[idx[0]], idx, n * sizeof(*idx));
	dq->chain_n[idx[0]] = (uint8_t)n;
	a->ring[dq->avail_idx % QSIZE] = idx[0];
	__atomic_store_n(&a->idx, ++dq->avail_idx, __ATOMIC_RELEASE);
}

/* The next used element of q, its descriptors given back; false when none. */
static bool used_take(unsigned int q, struct vring_used_elem *el, uint16_t *idx, unsigned int *n)
{
	struct vring_used *u = gpa(USED(q));
	struct dq *dq = &e.q[q];
	unsigned int i;

	if (dq->used_seen == __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE))
		return false;
	*el = u->ring[dq->used_seen++ % QSIZE];
	assert_true(el->id < QSIZE && dq->chain_n[el->id]);
	*n = dq->chain_n[el->id];
	memcpy(idx, dq->chain[el->id], *n * sizeof(*idx));
	dq->chain_n[el->id] = 0;
	for (i = 0; i < *n; i++)
		dq->free[dq->nfree++] = idx[i];
	return true;
}

static void queue_setup(unsigned int q)
{
	struct dq *dq = &e.q[q];
	unsigned int i;

	memset(dq, 0, sizeof(*dq));
	for (i = 0; i < QSIZE; i++)
		dq->free[dq->nfree++] = (uint16_t)(QSIZE - 1 - i);
	virtio_drv_queue(&drv, q, QSIZE, DESC(q), AVAIL(q), USED(q));
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), VSOCK_QUEUE_MAX);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 1);
}

static void rx_post(unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t idx[2];
		struct seg s[2];

		if (e.rx_split) {
			take_descs(0, 2, idx);
			s[0] = (struct seg){ RXBUF(idx[0]), HDR, true };
			s[1] = (struct seg){ RXBUF(idx[1]), RXPAY, true };
			publish(0, idx, s, 2);
		} else {
			take_descs(0, 1, idx);
			s[0] = (struct seg){ RXBUF(idx[0]), HDR + RXPAY, true };
			publish(0, idx, s, 1);
		}
		e.rx_out++;
	}
}

/* Post one buffer of len bytes (too small for the device) on q. */
static void tiny_post(unsigned int q, uint32_t len)
{
	uint16_t idx;
	struct seg s;

	take_descs(q, 1, &idx);
	s = (struct seg){ q ? EVBUF(idx) : RXBUF(idx), len, true };
	publish(q, &idx, &s, 1);
}

/* The interrupt handler of a guest that keeps its ring full of buffers too small to use. */
static void tiny_refill(void)
{
	unsigned int q = (unsigned int)e.tiny_q, n;
	struct vring_used_elem el;
	uint16_t idx[8];

	while (used_take(q, &el, idx, &n)) {
		assert_int_equal(el.len, 0);
		if (++e.tiny_used < TINY_CAP)
			tiny_post(q, q ? 2 : HDR);
	}
}

/* Take the RX buffers the device gave back unused (len 0), up to the next packet. */
static void drop_empty_rx(void)
{
	struct vring_used *u = gpa(USED(0));
	struct vring_used_elem el;
	uint16_t idx[8];
	unsigned int n;

	while (e.q[0].used_seen != __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE) &&
	       u->ring[e.q[0].used_seen % QSIZE].len == 0)
		used_take(0, &el, idx, &n);
}

/* Keep 64 RX buffers posted, as a driver refilling would. */
static void rx_refill(void)
{
	if (e.rx_out < 64)
		rx_post(64 - e.rx_out);
	kick(0);
}

/* What Linux does: reset, VERSION_1, three queues, DRIVER_OK, event buffers, RX buffers. */
static void bring_up(bool rx)
{
	unsigned int q, i;

	wr(VIRTIO_MMIO_STATUS, 0);
	run();
	memset(gpa(RING(0)), 0, 3 * 0x4000);
	e.rx_out = 0;
	assert_int_equal(virtio_drv_negotiate(&drv, 1ULL << VIRTIO_F_VERSION_1),
			 S_ACK | S_DRV | S_FOK);
	for (q = 0; q < 3; q++)
		queue_setup(q);
	if (rx && e.early) {
		/* Buffers and a kick before DRIVER_OK: the transport drops that kick. */
		rx_post(64);
		kick(0);
		rx = false;
	}
	assert_int_equal(virtio_drv_driver_ok(&drv), S_ACK | S_DRV | S_FOK | S_DOK);
	for (i = 0; i < 8; i++) {
		uint16_t idx;
		struct seg s = { EVBUF(i), 4, true };

		take_descs(2, 1, &idx);
		publish(2, &idx, &s, 1);
	}
	kick(2);
	if (rx) {
		rx_post(64);
		kick(0);
	}
}

static void open_dev(bool uds)
{
	struct vsock_config c = { .cid = GCID, .uds = uds ? e.path : NULL };

	assert_int_equal(vsock_create(&c, &e.v.host, &e.vs), 0);
	assert_int_equal(virtio_mmio_attach(&e.vs->dev, &e.v.host, BASE + e.next_base, GSI), 0);
	e.next_base += VIRTIO_MMIO_SIZE;
	e.d = &e.vs->dev;
	bring_up(true);
}

static int setup(void **state)
{
	(void)state;
	memset(&e, 0, sizeof(e));
	e.guest_buf = 256 * 1024;
	e.tiny_q = -1;
	if (virtio_env_init(&e.v, RAM_GPA, RAM_SIZE, rec_irq, &e))
		return -1;
	snprintf(e.dir, sizeof(e.dir), "/tmp/hull-vsock-XXXXXX");
	if (!mkdtemp(e.dir))
		return -1;
	snprintf(e.path, sizeof(e.path), "%s/v.sock", e.dir);
	return 0;
}

static int teardown(void **state)
{
	struct dirent *de;
	unsigned int i;
	DIR *dir;

	(void)state;
	vsock_destroy(e.vs);
	e.vs = NULL;
	dir = opendir(e.dir);
	while (dir && (de = readdir(dir))) {
		char p[400];

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", e.dir, de->d_name);
		unlink(p);
	}
	if (dir)
		closedir(dir);
	rmdir(e.dir);
	for (i = 0; i < 8; i++)
		free(e.recs[i].data);
	virtio_env_fini(&e.v);
	return 0;
}

/* ---- guest packets ---- */

static struct virtio_vsock_hdr H(uint16_t op, uint32_t gport, uint32_t hport, uint32_t len,
				 uint32_t flags, uint32_t fwd)
{
	return (struct virtio_vsock_hdr){
		.src_cid = htole64(GCID),
		.dst_cid = htole64(VSOCK_HOST_CID),
		.src_port = htole32(gport),
		.dst_port = htole32(hport),
		.len = htole32(len),
		.type = htole16(VIRTIO_VSOCK_TYPE_STREAM),
		.op = htole16(op),
		.flags = htole32(flags),
		.buf_alloc = htole32(e.guest_buf),
		.fwd_cnt = htole32(fwd),
	};
}

static uint64_t tx_alloc(size_t len)
{
	uint64_t a;

	if (e.tx_next + len > TXAREA_SIZE)
		e.tx_next = 0;
	a = TXAREA + e.tx_next;
	e.tx_next += (len + 15) & ~15ULL;
	return a;
}

/* bytes[0..total) as one TX chain, cut at cuts[] (ascending). */
static void tx_bytes(const void *bytes, size_t total, const size_t *cuts, unsigned int ncuts)
{
	struct seg s[8];
	uint16_t idx[8];
	size_t at = 0;
	unsigned int i, n = 0;

	for (i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : total;

		if (end <= at)
			continue;
		s[n].gpa = tx_alloc(end - at);
		s[n].len = (uint32_t)(end - at);
		s[n].w = false;
		memcpy(gpa(s[n].gpa), (const uint8_t *)bytes + at, end - at);
		n++;
		at = end;
	}
	take_descs(1, n, idx);
	publish(1, idx, s, n);
}

static uint8_t txbuf[HDR + 70000];

/* Post one packet (payload len bytes, whatever h.len says) without kicking. */
static void tx_post(struct virtio_vsock_hdr h, const void *payload, size_t len, enum layout l)
{
	size_t cuts[2];
	unsigned int n = 0;

	memcpy(txbuf, &h, HDR);
	if (len)
		memcpy(txbuf + HDR, payload, len);
	if (l == L_SPLIT) {
		cuts[n++] = HDR;
	} else if (l == L_MESSY) {
		cuts[n++] = 20; /* the header itself split */
		if (len >= 2)
			cuts[n++] = HDR + len / 2;
	}
	tx_bytes(txbuf, HDR + len, cuts, n);
}

static void tx(struct virtio_vsock_hdr h, const void *payload, size_t len, enum layout l)
{
	struct vring_used_elem el;
	uint16_t idx[8];
	unsigned int n;

	tx_post(h, payload, len, l);
	kick(1);
	while (used_take(1, &el, idx, &n))
		assert_int_equal(el.len, 0);
}

static void tx_ctl(uint16_t op, uint32_t gport, uint32_t hport, uint32_t flags, uint32_t fwd)
{
	tx(H(op, gport, hport, 0, flags, fwd), NULL, 0, L_SPLIT);
}

static void tx_data(uint32_t gport, uint32_t hport, const void *p, size_t len, uint32_t fwd,
		    enum layout l)
{
	tx(H(OP_RW, gport, hport, (uint32_t)len, 0, fwd), p, len, l);
}

/* The next RX packet into pk; false when the device used none. */
static bool rx_take(void)
{
	static uint8_t flat[HDR + RXPAY];
	struct vring_used_elem el;
	uint16_t idx[8];
	unsigned int n, i;
	size_t at = 0;

	if (!used_take(0, &el, idx, &n))
		return false;
	e.rx_out--;
	assert_true(el.len >= HDR && el.len <= HDR + RXPAY);
	for (i = 0; i < n && at < el.len; i++) {
		struct vring_desc *d = &((struct vring_desc *)gpa(DESC(0)))[idx[i]];
		size_t k = d->len < el.len - at ? d->len : el.len - at;

		memcpy(flat + at, gpa(d->addr), k);
		at += k;
	}
	memcpy(&pk.h, flat, HDR);
	pk.op = le16toh(pk.h.op);
	pk.src_port = le32toh(pk.h.src_port);
	pk.dst_port = le32toh(pk.h.dst_port);
	pk.flags = le32toh(pk.h.flags);
	pk.fwd_cnt = le32toh(pk.h.fwd_cnt);
	pk.buf_alloc = le32toh(pk.h.buf_alloc);
	pk.len = el.len - HDR;
	assert_int_equal(le32toh(pk.h.len), pk.len);
	assert_int_equal(le64toh(pk.h.src_cid), VSOCK_HOST_CID);
	assert_int_equal(le64toh(pk.h.dst_cid), GCID);
	assert_int_equal(le16toh(pk.h.type), VIRTIO_VSOCK_TYPE_STREAM);
	memcpy(pk.data, flat + HDR, pk.len);
	return true;
}

/* The next RX packet must be op between hport (host) and gport (guest). */
static void expect(uint16_t op, uint32_t hport, uint32_t gport)
{
	assert_true(rx_take());
	assert_int_equal(pk.op, op);
	assert_int_equal(pk.src_port, hport);
	assert_int_equal(pk.dst_port, gport);
}

static void expect_none(void)
{
	assert_false(rx_take());
}

/* Collect len data bytes for gport into out, skipping credit updates; the last fwd_cnt seen. */
static uint32_t rx_data(uint32_t gport, uint8_t *out, size_t len)
{
	size_t got = 0;
	uint32_t fwd = 0;

	while (got < len) {
		assert_true(rx_take());
		assert_int_equal(pk.dst_port, gport);
		fwd = pk.fwd_cnt;
		if (pk.op == OP_CREDIT_UPDATE)
			continue;
		assert_int_equal(pk.op, OP_RW);
		assert_true(got + pk.len <= len);
		memcpy(out + got, pk.data, pk.len);
		got += pk.len;
	}
	return fwd;
}

/* ---- in-process endpoints ---- */

static size_t rec_recv(struct vsock_ep *ep, void *opaque, const struct iovec *iov, unsigned int n,
		       size_t len)
{
	struct rec *r = opaque;
	size_t done = 0;
	unsigned int i;

	assert_ptr_equal(ep, r->ep);
	assert_true(len > 0);
	for (i = 0; i < n && done < len; i++) {
		size_t k = iov[i].iov_len;

		if (r->echo) {
			ssize_t s = vsock_ep_send(ep, iov[i].iov_base, k);

			if (s <= 0)
				break;
			done += (size_t)s;
			if ((size_t)s < k)
				break;
			continue;
		}
		if (k > r->take - done)
			k = r->take - done;
		if (k > r->cap - r->len)
			k = r->cap - r->len;
		memcpy(r->data + r->len, iov[i].iov_base, k);
		r->len += k;
		done += k;
		if (k < iov[i].iov_len)
			break;
	}
	return done;
}

static void rec_connected(struct vsock_ep *ep, void *opaque)
{
	struct rec *r = opaque;

	assert_ptr_equal(ep, r->ep);
	r->connected = true;
}

static void rec_shutdown(struct vsock_ep *ep, void *opaque, unsigned int flags)
{
	(void)ep;
	((struct rec *)opaque)->shut |= flags;
}

static void rec_writable(struct vsock_ep *ep, void *opaque)
{
	struct rec *r = opaque;

	r->writable++;
	if (r->echo)
		vsock_ep_recv_ready(ep); /* what was left can be echoed now */
}

static void rec_closed(struct vsock_ep *ep, void *opaque, int err)
{
	struct rec *r = opaque;

	assert_ptr_equal(ep, r->ep);
	r->closed++;
	r->err = err;
	r->ep = NULL;
}

static const struct vsock_ep_ops rec_ops = {
	.connected = rec_connected,
	.recv = rec_recv,
	.shutdown = rec_shutdown,
	.writable = rec_writable,
	.closed = rec_closed,
};

static struct rec *new_rec(bool echo)
{
	struct rec *r = &e.recs[e.nrecs++];

	assert_true(e.nrecs <= 8);
	memset(r, 0, sizeof(*r));
	r->cap = 1 << 20;
	r->data = malloc(r->cap);
	assert_non_null(r->data);
	r->take = SIZE_MAX;
	r->echo = echo;
	return r;
}

static int rec_accept(void *opaque, struct vsock_ep *ep, uint32_t gport,
		      const struct vsock_ep_ops **ops, void **ep_opaque)
{
	struct rec *r = new_rec(opaque != NULL);

	(void)gport;
	r->ep = ep;
	*ops = &rec_ops;
	*ep_opaque = r;
	return 0;
}

static int refuse(void *opaque, struct vsock_ep *ep, uint32_t gport,
		  const struct vsock_ep_ops **ops, void **ep_opaque)
{
	(void)opaque;
	(void)ep;
	(void)gport;
	(void)ops;
	(void)ep_opaque;
	return -ECONNREFUSED;
}

/* The guest connects gport -> hport, where a recording endpoint listens. */
static struct rec *guest_connect_rec(uint32_t gport, uint32_t hport)
{
	unsigned int before = e.nrecs;

	tx_ctl(OP_REQUEST, gport, hport, 0, 0);
	expect(OP_RESPONSE, hport, gport);
	assert_int_equal(e.nrecs, before + 1);
	return &e.recs[before];
}

/* ---- host sockets ---- */

/* A Unix stream socket connected to path, or (listening) bound and listening there. */
static int uds_open(const char *path, bool listening)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (listening) {
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(listen(fd, 16), 0);
	} else {
		assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	return fd;
}

static int uds_connect(const char *path)
{
	return uds_open(path, false);
}

static int uds_listen(const char *path)
{
	return uds_open(path, true);
}

static void nonblock(int fd)
{
	assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

/* Read up to len bytes that are there now (0 at EOF, -1 when nothing). */
static ssize_t read_now(int fd, void *buf, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, 100) <= 0)
		return -1;
	return recv(fd, buf, len, MSG_DONTWAIT);
}

static void read_exact(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read_now(fd, (uint8_t *)buf + got, len - got);

		assert_true(n > 0);
		got += (size_t)n;
	}
}

static void write_all(int fd, const void *buf, size_t len)
{
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
}

static bool at_eof(int fd)
{
	char c;

	return read_now(fd, &c, 1) == 0;
}

/* A host program connects through PATH to guest port gport; hull's host port in *hport. */
static int host_connect(uint32_t gport, uint32_t *hport)
{
	char line[32], want[32];
	int fd = uds_connect(e.path);

	dprintf(fd, "CONNECT %u\n", gport);
	run();
	assert_true(rx_take());
	assert_int_equal(pk.op, OP_REQUEST);
	assert_int_equal(pk.dst_port, gport);
	assert_true(pk.src_port >= VSOCK_EPHEMERAL);
	*hport = pk.src_port;
	tx_ctl(OP_RESPONSE, gport, *hport, 0, 0);
	snprintf(want, sizeof(want), "OK %u\n", *hport);
	memset(line, 0, sizeof(line));
	read_exact(fd, line, strlen(want));
	assert_string_equal(line, want);
	return fd;
}

/* The guest connects gport -> hport, reaching the program listening at PATH_hport. */
static int guest_connect_uds(uint32_t gport, uint32_t hport, int lfd)
{
	int fd;

	tx_ctl(OP_REQUEST, gport, hport, 0, 0);
	expect(OP_RESPONSE, hport, gport);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void fill_pattern(uint8_t *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31 + seed + (i >> 8));
}

/* ---- pure parts ---- */

static void test_config(void **state)
{
	struct vsock_config c;
	char err[200];

	(void)state;
	assert_int_equal(vsock_parse(&c, "cid=3,uds=/run/v.sock", err, sizeof(err)), 0);
	assert_int_equal(c.cid, 3);
	assert_string_equal(c.uds, "/run/v.sock");
	vsock_config_free(&c);
	assert_int_equal(vsock_parse(&c, "uds=/a,,b,cid=4294967294", err, sizeof(err)), 0);
	assert_int_equal(c.cid, 4294967294u);
	assert_string_equal(c.uds, "/a,b");
	vsock_config_free(&c);

	assert_int_equal(vsock_parse(&c, "cid=1,uds=/a", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "cid=1: reserved (3..4294967294)");
	assert_int_equal(vsock_parse(&c, "cid=2,uds=/a", err, sizeof(err)), -EINVAL);
	assert_int_equal(vsock_parse(&c, "cid=0,uds=/a", err, sizeof(err)), -EINVAL);
	assert_int_equal(vsock_parse(&c, "cid=4294967295,uds=/a", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "cid=4294967295: reserved (3..4294967294)");
	assert_int_equal(vsock_parse(&c, "cid=4294967296,uds=/a", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "cid=4294967296: out of range (3..4294967294)");
	assert_int_equal(vsock_parse(&c, "cid=0x10,uds=/a", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "cid=0x10: not a decimal number");
	assert_int_equal(vsock_parse(&c, "cid=-3,uds=/a", err, sizeof(err)), -EINVAL);
	assert_int_equal(vsock_parse(&c, "cid=,uds=/a", err, sizeof(err)), -EINVAL);
	assert_int_equal(vsock_parse(&c, "cid=5", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no uds="));
	assert_int_equal(vsock_parse(&c, "uds=/a", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no cid="));
	assert_int_equal(vsock_parse(&c, "cid=5,uds=", err, sizeof(err)), -EINVAL);
	assert_int_equal(vsock_parse(&c, "cid=5,uds=/a,port=3", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown vsock setting 'port'"));
	assert_int_equal(vsock_parse(&c, "cid=5,cid=6,uds=/a", err, sizeof(err)), -EINVAL);
	assert_null(c.uds);

	/* The JSON path: one field at a time. */
	c = (struct vsock_config){ 0 };
	assert_int_equal(vsock_config_set(&c, "cid", "77", err, sizeof(err)), 0);
	assert_int_equal(vsock_config_set(&c, "uds", "/x", err, sizeof(err)), 0);
	assert_int_equal(c.cid, 77);
	assert_int_equal(vsock_config_set(&c, "cid", "2", err, sizeof(err)), -EINVAL);
	assert_int_equal(c.cid, 77);
	vsock_config_free(&c);
}

static void hdr_for(struct virtio_vsock_hdr *h, uint64_t src, uint64_t dst, uint16_t type,
		    uint32_t len)
{
	*h = (struct virtio_vsock_hdr){ .src_cid = htole64(src), .dst_cid = htole64(dst),
					.type = htole16(type), .len = htole32(len),
					.op = htole16(OP_RW) };
}

static void test_pkt_check(void **state)
{
	struct virtio_vsock_hdr h;
	const char *why;

	(void)state;
	hdr_for(&h, GCID, 2, VIRTIO_VSOCK_TYPE_STREAM, 100);
	assert_int_equal(vsock_pkt_check(&h, GCID, 100, &why), VSOCK_PKT_OK);
	assert_int_equal(vsock_pkt_check(&h, GCID, 99, &why), VSOCK_PKT_DROP); /* truncated */
	assert_non_null(why);
	assert_int_equal(vsock_pkt_check(&h, GCID, 101, &why), VSOCK_PKT_DROP);
	hdr_for(&h, GCID, 2, VIRTIO_VSOCK_TYPE_STREAM, 65536);
	assert_int_equal(vsock_pkt_check(&h, GCID, 65536, &why), VSOCK_PKT_OK);
	hdr_for(&h, GCID, 2, VIRTIO_VSOCK_TYPE_STREAM, 65537);
	assert_int_equal(vsock_pkt_check(&h, GCID, 65537, &why), VSOCK_PKT_DROP);
	hdr_for(&h, GCID, 2, VIRTIO_VSOCK_TYPE_STREAM, 0xffffffff);
	assert_int_equal(vsock_pkt_check(&h, GCID, 0, &why), VSOCK_PKT_DROP);
	hdr_for(&h, GCID + 1, 2, VIRTIO_VSOCK_TYPE_STREAM, 0);
	assert_int_equal(vsock_pkt_check(&h, GCID, 0, &why), VSOCK_PKT_DROP);
	hdr_for(&h, GCID | 1ULL << 32, 2, VIRTIO_VSOCK_TYPE_STREAM, 0);
	assert_int_equal(vsock_pkt_check(&h, GCID, 0, &why), VSOCK_PKT_DROP);
	hdr_for(&h, GCID, 1, VIRTIO_VSOCK_TYPE_STREAM, 0);
	assert_int_equal(vsock_pkt_check(&h, GCID, 0, &why), VSOCK_PKT_RST);
	hdr_for(&h, GCID, 2, VIRTIO_VSOCK_TYPE_SEQPACKET, 0);
	assert_int_equal(vsock_pkt_check(&h, GCID, 0, &why), VSOCK_PKT_RST);
	hdr_for(&h, GCID, 2, 0, 0);
	assert_int_equal(vsock_pkt_check(&h, GCID, 0, &why), VSOCK_PKT_RST);
}

static void test_credit_math(void **state)
{
	struct vsock_ep c = { 0 };

	(void)state;
	c.peer_buf_alloc = 1000;
	assert_int_equal(vsock_credit(&c), 1000);
	c.tx_cnt = 600;
	c.peer_fwd_cnt = 100;
	assert_int_equal(vsock_credit(&c), 500);
	c.tx_cnt = 1100;
	assert_int_equal(vsock_credit(&c), 0);
	/* Counters wrap: 2^32 - 100 sent, the guest consumed up to 2^32 - 300. */
	c.tx_cnt = 50;
	c.peer_fwd_cnt = (uint32_t)-250;
	assert_int_equal(vsock_credit(&c), 700);
	/* A hostile fwd_cnt ahead of what was sent: no credit, never "negative" (huge). */
	c.tx_cnt = 100;
	c.peer_fwd_cnt = 101;
	assert_int_equal(vsock_credit(&c), 0);
	c.peer_buf_alloc = 0xffffffff;
	c.peer_fwd_cnt = 100 + 0x80000000u;
	assert_int_equal(vsock_credit(&c), 0x7fffffff);
	c.peer_buf_alloc = 0;
	c.peer_fwd_cnt = 100;
	assert_int_equal(vsock_credit(&c), 0);
}

static int proto_accept_count;

static int proto_accept(void *opaque, struct vsock_ep *ep, uint32_t gport,
			const struct vsock_ep_ops **ops, void **ep_opaque)
{
	(void)gport;
	proto_accept_count++;
	return rec_accept(opaque, ep, gport, ops, ep_opaque);
}

static bool next_ctl(struct vsock_proto *p, uint16_t *op, uint32_t *src, uint32_t *dst,
		     uint32_t *flags)
{
	struct virtio_vsock_hdr h;

	if (!vsock_proto_next_ctl(p, &h))
		return false;
	*op = le16toh(h.op);
	*src = le32toh(h.src_port);
	*dst = le32toh(h.dst_port);
	*flags = le32toh(h.flags);
	return true;
}

/* conn.c alone: packets in, control packets out, no rings. */
static void test_proto_pure(void **state)
{
	struct vsock_proto *p = calloc(1, sizeof(*p));
	struct virtio_vsock_hdr h;
	struct vsock_listener l = { .port = 50, .accept = proto_accept };
	uint32_t src, dst, flags;
	uint16_t op;
	struct rec *r;

	(void)state;
	assert_non_null(p);
	assert_int_equal(vsock_proto_init(p, GCID, "test"), 0);
	p->listeners = &l;
	p->nlisteners = 1;

	h = H(OP_REQUEST, 1000, 50, 0, 0, 0);
	vsock_proto_input(p, &h, NULL, 0, 0);
	assert_int_equal(proto_accept_count, 1);
	assert_true(next_ctl(p, &op, &src, &dst, &flags));
	assert_int_equal(op, OP_RESPONSE);
	assert_int_equal(src, 50);
	assert_int_equal(dst, 1000);
	assert_false(next_ctl(p, &op, &src, &dst, &flags));
	r = &e.recs[0];

	/* Unknown port, unknown connection: RST; an RST for nobody: nothing. */
	h = H(OP_REQUEST, 1001, 51, 0, 0, 0);
	vsock_proto_input(p, &h, NULL, 0, 0);
	h = H(OP_RW, 1002, 50, 0, 0, 0);
	vsock_proto_input(p, &h, NULL, 0, 0);
	h = H(OP_RST, 1003, 50, 0, 0, 0);
	vsock_proto_input(p, &h, NULL, 0, 0);
	assert_true(next_ctl(p, &op, &src, &dst, &flags));
	assert_int_equal(op, OP_RST);
	assert_int_equal(dst, 1001);
	assert_true(next_ctl(p, &op, &src, &dst, &flags));
	assert_int_equal(op, OP_RST);
	assert_int_equal(dst, 1002);
	assert_false(next_ctl(p, &op, &src, &dst, &flags));

	/* CREDIT_REQUEST answered; SHUTDOWN SEND passed on; the endpoint's SHUT_WR ends it. */
	h = H(OP_CREDIT_REQUEST, 1000, 50, 0, 0, 0);
	vsock_proto_input(p, &h, NULL, 0, 0);
	assert_true(next_ctl(p, &op, &src, &dst, &flags));
	assert_int_equal(op, OP_CREDIT_UPDATE);
	h = H(OP_SHUTDOWN, 1000, 50, 0, SH_SEND, 0);
	vsock_proto_input(p, &h, NULL, 0, 0);
	assert_int_equal(r->shut, SH_SEND);
	assert_int_equal(r->closed, 0);
	assert_int_equal(vsock_ep_do_shutdown(r->ep, SH_SEND), 0);
	assert_true(next_ctl(p, &op, &src, &dst, &flags));
	assert_int_equal(op, OP_RST); /* both directions done: RST replaces the SHUTDOWN */
	vsock_proto_reap(p);
	assert_int_equal(r->closed, 1);
	assert_int_equal(r->err, 0);
	assert_int_equal(p->nconns, 0);
	assert_false(next_ctl(p, &op, &src, &dst, &flags));

	p->listeners = NULL;
	vsock_proto_fini(p);
	free(p);
}

/* ---- the device ---- */

static void test_device(void **state)
{
	uint8_t cfg[8];

	(void)state;
	open_dev(false);
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_VSOCK);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	/* No SEQPACKET: stream sockets only. */
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_FEATURES) & (1u << VIRTIO_VSOCK_F_SEQPACKET), 0);
	virtio_mmio_ops.read(e.d, VIRTIO_MMIO_CONFIG, cfg, 8);
	assert_int_equal(cfg[0], GCID);
	assert_int_equal(cfg[1] | cfg[2] | cfg[3] | cfg[4] | cfg[5] | cfg[6] | cfg[7], 0);
	virtio_mmio_ops.read(e.d, VIRTIO_MMIO_CONFIG + 4, cfg, 4);
	assert_int_equal(cfg[0] | cfg[1] | cfg[2] | cfg[3], 0);
	expect_none();
}

/* Header and payload in one descriptor, split after the header, and split anywhere. */
static void test_tx_layouts(void **state)
{
	static uint8_t data[3 * 20000];
	struct rec *r;

	(void)state;
	open_dev(false);
	assert_int_equal(vsock_listen(e.vs, 50, rec_accept, NULL), 0);
	r = guest_connect_rec(1000, 50);
	fill_pattern(data, sizeof(data), 1);
	tx_data(1000, 50, data, 20000, 0, L_ONE);
	tx_data(1000, 50, data + 20000, 20000, 0, L_SPLIT);
	tx_data(1000, 50, data + 40000, 20000, 0, L_MESSY);
	assert_int_equal(r->len, sizeof(data));
	assert_memory_equal(r->data, data, sizeof(data));
	/* A header split 10/34 with no payload; one byte of payload after it. */
	{
		struct virtio_vsock_hdr h = H(OP_RW, 1000, 50, 1, 0, 0);
		size_t cuts[] = { 10, HDR };

		memcpy(txbuf, &h, HDR);
		txbuf[HDR] = 0x5a;
		tx_bytes(txbuf, HDR + 1, cuts, 2);
		kick(1);
	}
	assert_int_equal(r->len, sizeof(data) + 1);
	assert_int_equal(r->data[sizeof(data)], 0x5a);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

/* Hostile TX packets are dropped or answered with RST; the device lives on. */
static void test_tx_hostile(void **state)
{
	static uint8_t data[70000];
	struct virtio_vsock_hdr h;
	struct rec *r;
	uint8_t shortb[30] = { 0 };

	(void)state;
	open_dev(false);
	assert_int_equal(vsock_listen(e.vs, 50, rec_accept, NULL), 0);
	r = guest_connect_rec(1000, 50);

	/* Truncated header: dropped, nothing back. */
	tx_bytes(shortb, sizeof(shortb), NULL, 0);
	kick(1);
	expect_none();
	/* Wrong source CID: dropped without an answer. */
	h = H(OP_REQUEST, 1001, 50, 0, 0, 0);
	h.src_cid = htole64(GCID + 1);
	tx(h, NULL, 0, L_SPLIT);
	expect_none();
	/* Another destination CID or a SEQPACKET packet: RST. */
	h = H(OP_REQUEST, 1002, 50, 0, 0, 0);
	h.dst_cid = htole64(7);
	tx(h, NULL, 0, L_SPLIT);
	expect(OP_RST, 50, 1002);
	h = H(OP_REQUEST, 1003, 50, 0, 0, 0);
	h.type = htole16(VIRTIO_VSOCK_TYPE_SEQPACKET);
	tx(h, NULL, 0, L_SPLIT);
	expect(OP_RST, 50, 1003);
	/* A length the chain does not carry, either way: dropped, and its stream reset. */
	tx(H(OP_RW, 1000, 50, 100, 0, 0), data, 60, L_ONE);
	expect(OP_RST, 50, 1000);
	assert_int_equal(r->len, 0);
	run();
	assert_int_equal(r->closed, 1);
	assert_int_equal(r->err, -ECONNRESET);
	r = guest_connect_rec(1010, 50);
	tx(H(OP_RW, 1010, 50, 10, 0, 0), data, 60, L_SPLIT);
	expect(OP_RST, 50, 1010);
	r = guest_connect_rec(1011, 50);
	tx(H(OP_RW, 1011, 50, 65537, 0, 0), data, 65537, L_SPLIT);
	expect(OP_RST, 50, 1011);
	assert_int_equal(r->len, 0);
	/* The largest packet is fine. */
	r = guest_connect_rec(1012, 50);
	tx_data(1012, 50, data, 65536, 0, L_ONE);
	assert_int_equal(r->len, 65536);
	/* Unknown ops on a live connection are ignored, as Linux does. */
	tx_ctl(99, 1012, 50, 0, 0);
	tx_ctl(OP_RESPONSE, 1012, 50, 0, 0);
	expect_none();
	assert_int_equal(r->closed, 0);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

static void test_unknown_ports(void **state)
{
	(void)state;
	open_dev(false);
	tx_ctl(OP_REQUEST, 1000, 4444, 0, 0); /* nobody listens, no Unix socket */
	expect(OP_RST, 4444, 1000);
	tx_data(1001, 4444, "x", 1, 0, L_SPLIT);
	expect(OP_RST, 4444, 1001);
	tx_ctl(OP_SHUTDOWN, 1002, 4444, SH_SEND, 0);
	expect(OP_RST, 4444, 1002);
	tx_ctl(OP_RST, 1003, 4444, 0, 0); /* never an RST for an RST */
	expect_none();
	assert_int_equal(vsock_listen(e.vs, 4445, refuse, NULL), 0);
	tx_ctl(OP_REQUEST, 1004, 4445, 0, 0);
	expect(OP_RST, 4445, 1004);
	assert_int_equal(vsock_listen(e.vs, 4445, refuse, NULL), -EADDRINUSE);
	vsock_unlisten(e.vs, 4445);
	assert_int_equal(vsock_listen(e.vs, 4445, rec_accept, NULL), 0);
	tx_ctl(OP_REQUEST, 1005, 4445, 0, 0);
	expect(OP_RESPONSE, 4445, 1005);
	assert_int_equal(e.vs->p.nconns, 1);
}

/* SHUTDOWN in each direction, then the RST that ends a connection both ways. */
static void test_shutdown(void **state)
{
	struct rec *r;

	(void)state;
	open_dev(false);
	assert_int_equal(vsock_listen(e.vs, 50, rec_accept, NULL), 0);

	/* Guest SHUT_WR first: the endpoint hears it after the bytes before it. */
	r = guest_connect_rec(1000, 50);
	tx_data(1000, 50, "abc", 3, 0, L_SPLIT);
	tx_ctl(OP_SHUTDOWN, 1000, 50, SH_SEND, 0);
	assert_int_equal(r->len, 3);
	assert_int_equal(r->shut, SH_SEND);
	assert_int_equal(vsock_ep_send(r->ep, "xyz", 3), 3); /* the other way still flows */
	expect(OP_RW, 50, 1000);
	assert_memory_equal(pk.data, "xyz", 3);
	assert_int_equal(vsock_ep_shutdown(r->ep, SHUT_WR), 0);
	expect(OP_RST, 50, 1000); /* nothing can flow any more */
	assert_int_equal(r->closed, 1);
	assert_int_equal(r->err, 0);

	/* Endpoint SHUT_WR first: SHUTDOWN SEND to the guest, which may still send. */
	r = guest_connect_rec(1001, 50);
	assert_int_equal(vsock_ep_shutdown(r->ep, SHUT_WR), 0);
	expect(OP_SHUTDOWN, 50, 1001);
	assert_int_equal(pk.flags, SH_SEND);
	assert_int_equal(vsock_ep_send(r->ep, "x", 1), -EPIPE);
	tx_data(1001, 50, "hello", 5, 0, L_ONE);
	assert_int_equal(r->len, 5);
	assert_int_equal(r->closed, 0);
	/* The guest closes (Linux: SHUTDOWN RCV|SEND) and waits for our RST. */
	tx_ctl(OP_SHUTDOWN, 1001, 50, SH_RCV | SH_SEND, 0);
	expect(OP_RST, 50, 1001);
	assert_int_equal(r->closed, 1);
	assert_int_equal(r->err, 0);
	tx_ctl(OP_RST, 1001, 50, 0, 0); /* Linux answers our RST with one: ignored */
	expect_none();

	/* The guest stops reading: the endpoint hears RCV and sends fail. */
	r = guest_connect_rec(1002, 50);
	tx_ctl(OP_SHUTDOWN, 1002, 50, SH_RCV, 0);
	assert_int_equal(r->shut, SH_RCV);
	assert_int_equal(vsock_ep_send(r->ep, "x", 1), -EPIPE);
	/* A guest RST ends it at once. */
	tx_ctl(OP_RST, 1002, 50, 0, 0);
	run();
	assert_int_equal(r->closed, 1);
	assert_int_equal(r->err, -ECONNRESET);
	expect_none();
	assert_int_equal(e.vs->p.nconns, 0);
}

/* Credit: the guest may fill exactly what hull advertised; one byte more resets. */
static void test_credit_overrun(void **state)
{
	static uint8_t data[65536];
	struct rec *r;
	unsigned int i;

	(void)state;
	open_dev(false);
	assert_int_equal(vsock_listen(e.vs, 50, rec_accept, NULL), 0);
	r = guest_connect_rec(1000, 50);
	assert_int_equal(pk.buf_alloc, VSOCK_BUF_ALLOC);
	assert_int_equal(pk.fwd_cnt, 0);
	r->take = 0; /* a reader that takes nothing: hull holds the bytes */
	for (i = 0; i < VSOCK_BUF_ALLOC / sizeof(data); i++)
		tx_data(1000, 50, data, sizeof(data), 0, L_SPLIT);
	expect_none();
	assert_int_equal(r->ep->buf_len, VSOCK_BUF_ALLOC);
	tx_data(1000, 50, data, 1, 0, L_SPLIT);
	expect(OP_RST, 50, 1000);
	run();
	assert_int_equal(r->closed, 1);
	assert_int_equal(r->err, -ECONNRESET);
	assert_int_equal(r->len, 0);
}

/* Credit updates: asked for, and sent as a slow reader catches up. */
static void test_credit_updates(void **state)
{
	static uint8_t data[65536], got[4 * 65536];
	struct rec *r;
	unsigned int i;

	(void)state;
	open_dev(false);
	assert_int_equal(vsock_listen(e.vs, 50, rec_accept, NULL), 0);
	r = guest_connect_rec(1000, 50);
	tx_ctl(OP_CREDIT_REQUEST, 1000, 50, 0, 0);
	expect(OP_CREDIT_UPDATE, 50, 1000);
	assert_int_equal(pk.fwd_cnt, 0);
	assert_int_equal(pk.buf_alloc, VSOCK_BUF_ALLOC);

	/* Taken at once: hull tells the guest before its view of the credit runs low. */
	fill_pattern(data, sizeof(data), 7);
	for (i = 0; i < 2; i++)
		tx_data(1000, 50, data, sizeof(data), 0, L_ONE);
	expect_none(); /* the guest still believes in 128 KiB */
	tx_data(1000, 50, data, 1, 0, L_ONE);
	expect(OP_CREDIT_UPDATE, 50, 1000);
	assert_int_equal(pk.fwd_cnt, 2 * 65536 + 1);

	/* A slow reader: held bytes are not forwarded, so no update until it reads. */
	r->take = 0;
	for (i = 0; i < 3; i++)
		tx_data(1000, 50, data, sizeof(data), 0, L_ONE);
	expect_none();
	r->take = SIZE_MAX;
	vsock_ep_recv_ready(r->ep);
	expect(OP_CREDIT_UPDATE, 50, 1000);
	assert_int_equal(pk.fwd_cnt, 5 * 65536 + 1);
	assert_int_equal(r->len, 5 * 65536 + 1);
	(void)got;
}

/* In-process endpoints: an echo server with backpressure, and hull connecting to the guest. */
static void test_in_process(void **state)
{
	static uint8_t data[300000], back[300000];
	struct vsock_ep *ep;
	struct rec *r;
	size_t sent = 0;
	uint32_t fwd = 0;
	unsigned int spins = 0;

	(void)state;
	open_dev(false);
	assert_int_equal(vsock_listen(e.vs, 7, rec_accept, (void *)1), 0);
	r = guest_connect_rec(1000, 7);
	fill_pattern(data, sizeof(data), 3);
	/* 200 KB through 4 KiB RX buffers, 64 posted at a time: the echo waits for room. */
	while (sent < sizeof(data)) {
		size_t n = sizeof(data) - sent < 30000 ? sizeof(data) - sent : 30000;
		size_t before = 0;

		tx_data(1000, 7, data + sent, n, fwd, L_MESSY);
		while (before < n) {
			size_t k;

			assert_true(++spins < 10000);
			if (!rx_take()) {
				rx_refill();
				continue;
			}
			if (pk.op == OP_CREDIT_UPDATE)
				continue;
			assert_int_equal(pk.op, OP_RW);
			k = pk.len;
			memcpy(back + sent + before, pk.data, k);
			before += k;
		}
		sent += n;
		fwd += (uint32_t)n; /* the guest read it */
	}
	assert_memory_equal(back, data, sizeof(data));
	assert_true(r->writable > 0); /* it did run out of room and came back */

	/* Hull connects to the guest. */
	assert_int_equal(vsock_connect(e.vs, 2000, &rec_ops, new_rec(false), &ep), 0);
	r = &e.recs[e.nrecs - 1];
	r->ep = ep;
	assert_int_equal(vsock_ep_send(ep, "x", 1), -ENOTCONN);
	expect(OP_REQUEST, vsock_ep_local_port(ep), 2000);
	assert_int_equal(vsock_ep_peer_port(ep), 2000);
	assert_true(vsock_ep_local_port(ep) >= VSOCK_EPHEMERAL);
	tx_ctl(OP_RESPONSE, 2000, vsock_ep_local_port(ep), 0, 0);
	assert_true(r->connected);
	assert_int_equal(vsock_ep_send(ep, "ping", 4), 4);
	expect(OP_RW, vsock_ep_local_port(ep), 2000);
	assert_memory_equal(pk.data, "ping", 4);
	tx_data(2000, vsock_ep_local_port(ep), "pong", 4, 4, L_ONE);
	assert_int_equal(r->len, 4);
	vsock_ep_close(ep);
	expect(OP_RST, vsock_ep_local_port(ep), 2000);
	run();
	assert_int_equal(r->closed, 0); /* no callback after close */

	/* A refused connect. */
	assert_int_equal(vsock_connect(e.vs, 2001, &rec_ops, new_rec(false), &ep), 0);
	r = &e.recs[e.nrecs - 1];
	r->ep = ep;
	expect(OP_REQUEST, vsock_ep_local_port(ep), 2001);
	tx_ctl(OP_RST, 2001, vsock_ep_local_port(ep), 0, 0);
	run();
	assert_int_equal(r->closed, 1);
	assert_int_equal(r->err, -ECONNREFUSED);
	assert_false(r->connected);
}

/* ---- the hybrid Unix socket ---- */

static void test_uds_host_connect(void **state)
{
	static uint8_t data[100000], got[100000];
	unsigned int spins = 0;
	uint32_t hport, fwd;
	size_t n;
	int fd;

	(void)state;
	open_dev(true);
	fd = host_connect(1234, &hport);
	/* Host -> guest, straight into the RX buffers. */
	fill_pattern(data, sizeof(data), 9);
	write_all(fd, data, 50000);
	run();
	n = 0;
	while (n < 50000) {
		assert_true(++spins < 1000);
		if (!rx_take()) {
			rx_refill();
			continue;
		}
		assert_int_equal(pk.op, OP_RW);
		assert_int_equal(pk.src_port, hport);
		assert_true(pk.len <= RXPAY);
		memcpy(got + n, pk.data, pk.len);
		n += pk.len;
	}
	assert_int_equal(n, 50000);
	assert_memory_equal(got, data, 50000);
	/* Guest -> host. */
	tx_data(1234, hport, data, 30000, 50000, L_ONE);
	read_exact(fd, got, 30000);
	assert_memory_equal(got, data, 30000);
	/* Host EOF: SHUTDOWN SEND to the guest; the guest's data still reaches the host. */
	shutdown(fd, SHUT_WR);
	run();
	expect(OP_SHUTDOWN, hport, 1234);
	assert_int_equal(pk.flags, SH_SEND);
	tx_data(1234, hport, "tail", 4, 50000, L_SPLIT);
	read_exact(fd, got, 4);
	assert_memory_equal(got, "tail", 4);
	/* The guest closes: RST, the host sees EOF. */
	tx_ctl(OP_SHUTDOWN, 1234, hport, SH_RCV | SH_SEND, 50000);
	expect(OP_RST, hport, 1234);
	assert_true(at_eof(fd));
	close(fd);

	/* The guest refuses: the host program sees the socket closed, no OK. */
	fd = uds_connect(e.path);
	write_all(fd, "CONNECT 99\n", 11);
	run();
	assert_true(rx_take());
	assert_int_equal(pk.op, OP_REQUEST);
	tx_ctl(OP_RST, 99, pk.src_port, 0, 0);
	run();
	assert_true(at_eof(fd));
	close(fd);

	/* The guest's SHUT_WR: the host reads EOF after the data, and can still write. */
	fd = host_connect(1235, &hport);
	tx_data(1235, hport, "last", 4, 0, L_SPLIT);
	tx_ctl(OP_SHUTDOWN, 1235, hport, SH_SEND, 0);
	read_exact(fd, got, 4);
	assert_true(at_eof(fd));
	write_all(fd, "reply", 5);
	run();
	fwd = rx_data(1235, got, 5);
	(void)fwd;
	assert_memory_equal(got, "reply", 5);
	close(fd); /* EOF: now both directions are done, RST */
	run();
	expect(OP_RST, hport, 1235);
	assert_int_equal(e.vs->p.nconns, 0);
}

static void test_uds_handshake(void **state)
{
	static const char *const bad[] = { "CONNECT\n", "CONNECT x\n", "connect 5\n",
					   "CONNECT 4294967295\n", "CONNECT 99999999999\n",
					   "CONNECT 5 \n", "CONNECT -5\n" };
	char line[40], buf[8];
	uint32_t hport;
	unsigned int i;
	int fd;

	(void)state;
	open_dev(true);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fd = uds_connect(e.path);
		write_all(fd, bad[i], strlen(bad[i]));
		run();
		assert_true(at_eof(fd));
		close(fd);
	}
	/* 32 bytes without a newline: too long. */
	fd = uds_connect(e.path);
	memset(line, 'C', 32);
	write_all(fd, line, 32);
	run();
	assert_true(at_eof(fd));
	close(fd);
	/* Closing before asking: nothing left behind. */
	fd = uds_connect(e.path);
	write_all(fd, "CONN", 4);
	run();
	close(fd);
	run();
	assert_int_equal(e.vs->p.reserved, 0);
	expect_none();

	/* The line in pieces, with stream bytes right after the newline. */
	fd = uds_connect(e.path);
	write_all(fd, "CONNECT 4", 9);
	run();
	write_all(fd, "2\nearly", 7);
	run();
	assert_true(rx_take());
	assert_int_equal(pk.op, OP_REQUEST);
	assert_int_equal(pk.dst_port, 42);
	hport = pk.src_port;
	expect_none(); /* no data before the RESPONSE */
	tx_ctl(OP_RESPONSE, 42, hport, 0, 0);
	snprintf(line, sizeof(line), "OK %u\n", hport);
	memset(buf, 0, sizeof(buf));
	{
		char ok[40] = { 0 };

		read_exact(fd, ok, strlen(line));
		assert_string_equal(ok, line);
	}
	run();
	rx_data(42, (uint8_t *)buf, 5);
	assert_memory_equal(buf, "early", 5);
	close(fd);
}

static void test_uds_guest_connect(void **state)
{
	char path[160], buf[16];
	int lfd, fd;

	(void)state;
	open_dev(true);
	/* Nobody at PATH_5000: RST. */
	tx_ctl(OP_REQUEST, 1000, 5000, 0, 0);
	expect(OP_RST, 5000, 1000);
	snprintf(path, sizeof(path), "%s_5000", e.path);
	lfd = uds_listen(path);
	fd = guest_connect_uds(1001, 5000, lfd);
	tx_data(1001, 5000, "hi host", 7, 0, L_ONE);
	read_exact(fd, buf, 7);
	assert_memory_equal(buf, "hi host", 7);
	write_all(fd, "hi guest", 8);
	run();
	rx_data(1001, (uint8_t *)buf, 8);
	assert_memory_equal(buf, "hi guest", 8);
	/* Host closes: SHUTDOWN SEND; guest closes: RST. */
	close(fd);
	run();
	expect(OP_SHUTDOWN, 5000, 1001);
	tx_ctl(OP_SHUTDOWN, 1001, 5000, SH_RCV | SH_SEND, 8);
	expect(OP_RST, 5000, 1001);
	/* A stale file at PATH_5001 (nobody listens): RST too. */
	snprintf(path, sizeof(path), "%s_5001", e.path);
	close(uds_listen(path));
	tx_ctl(OP_REQUEST, 1002, 5001, 0, 0);
	expect(OP_RST, 5001, 1002);
	close(lfd);
}

/* The guest gives little credit: hull reads only that much, stops reading, resumes on update. */
static void test_uds_credit_stall(void **state)
{
	static uint8_t data[65536], got[65536];
	uint64_t kicks;
	uint32_t hport;
	int fd;

	(void)state;
	open_dev(true);
	e.guest_buf = 8192;
	fd = host_connect(1234, &hport);
	fill_pattern(data, sizeof(data), 5);
	nonblock(fd);
	write_all(fd, data, sizeof(data));
	run();
	rx_data(1234, got, 8192);
	expect_none();
	/* The socket is readable, but hull must not be woken for it: no busy loop. */
	kicks = e.vs->tx_kicks + e.vs->rx_kicks;
	assert_int_equal(dispatch(100), 0);
	assert_int_equal(e.vs->tx_kicks + e.vs->rx_kicks, kicks);
	/* A CREDIT_UPDATE opens 8 KiB more. */
	tx_ctl(OP_CREDIT_UPDATE, 1234, hport, 0, 8192);
	run();
	rx_data(1234, got + 8192, 8192);
	expect_none();
	assert_int_equal(dispatch(100), 0);
	/* Any packet carries credit: more buffer space announced with a data packet. */
	e.guest_buf = 65536;
	tx_data(1234, hport, "x", 1, 16384, L_SPLIT);
	run();
	rx_data(1234, got + 16384, 65536 - 16384);
	assert_memory_equal(got, data, sizeof(data));
	close(fd);
}

/* No RX buffers: hull stops reading the socket until the guest posts some. */
static void test_no_rx_buffers(void **state)
{
	static uint8_t data[20000], got[20000];
	struct vsock_ep *ep;
	uint32_t hport;
	int fd;

	(void)state;
	open_dev(true);
	bring_up(false); /* again, with one RX buffer only: the REQUEST takes it */
	rx_post(1);
	kick(0);
	fd = host_connect(1234, &hport);
	ep = vsock_ep_find(&e.vs->p, hport, 1234);
	assert_non_null(ep);
	fill_pattern(data, sizeof(data), 11);
	write_all(fd, data, sizeof(data));
	run();
	assert_int_equal(ep->tx_cnt, 0);
	assert_int_equal(dispatch(100), 0); /* readable, yet not polled */
	rx_post(8);
	kick(0);
	rx_data(1234, got, sizeof(data));
	assert_memory_equal(got, data, sizeof(data));
	close(fd);
}

static int light_accept(void *opaque, struct vsock_ep *ep, uint32_t gport,
			const struct vsock_ep_ops **ops, void **ep_opaque);

static size_t light_recv(struct vsock_ep *ep, void *opaque, const struct iovec *iov,
			 unsigned int n, size_t len)
{
	(void)ep;
	(void)opaque;
	(void)iov;
	(void)n;
	return len;
}

static const struct vsock_ep_ops light_ops = { .recv = light_recv };

static int light_accept(void *opaque, struct vsock_ep *ep, uint32_t gport,
			const struct vsock_ep_ops **ops, void **ep_opaque)
{
	(void)opaque;
	(void)ep;
	(void)gport;
	*ops = &light_ops;
	*ep_opaque = NULL;
	return 0;
}

static void count_replies(unsigned int *resp, unsigned int *rst)
{
	while (rx_take()) {
		if (pk.op == OP_RESPONSE)
			(*resp)++;
		else if (pk.op == OP_RST)
			(*rst)++;
		else
			fail_msg("op %u", pk.op);
	}
}

/* VSOCK_MAX_CONNS connections, then refusals on every path, and room again after a close. */
static void test_limit(void **state)
{
	struct vsock_ep *ep;
	unsigned int i, resp = 0, rst = 0;
	char *log;
	int fd, lim;

	(void)state;
	open_dev(true);
	assert_int_equal(vsock_listen(e.vs, 50, light_accept, NULL), 0);
	/* One pending handshake counts too. */
	lim = uds_connect(e.path);
	run();
	assert_int_equal(e.vs->p.reserved, 1);
	virtio_env_capture_start();
	for (i = 0; i < VSOCK_MAX_CONNS; i++) {
		tx_post(H(OP_REQUEST, 10000 + i, 50, 0, 0, 0), NULL, 0, L_SPLIT);
		if (i % 100 == 99 || i == VSOCK_MAX_CONNS - 1) {
			struct vring_used_elem el;
			uint16_t idx[8];
			unsigned int n;

			kick(1);
			while (used_take(1, &el, idx, &n))
				;
			for (n = 0; n < 10 && vsock_proto_has_ctl(&e.vs->p); n++) {
				count_replies(&resp, &rst);
				rx_refill();
			}
			count_replies(&resp, &rst);
		}
	}
	count_replies(&resp, &rst);
	rx_refill();
	assert_int_equal(resp, VSOCK_MAX_CONNS - 1);
	assert_int_equal(rst, 1);
	assert_int_equal(e.vs->p.nconns, VSOCK_MAX_CONNS - 1);
	/* Past the limit: a host connect is refused at once with a message, and so is hull's. */
	fd = uds_connect(e.path);
	run();
	assert_true(at_eof(fd));
	close(fd);
	assert_int_equal(vsock_connect(e.vs, 9, &rec_ops, NULL, &ep), -EAGAIN);
	log = virtio_env_capture_end();
	assert_non_null(strstr(log, "connections"));
	assert_non_null(strstr(log, e.path));
	assert_non_null(strstr(log, "refused"));
	assert_non_null(strstr(log, "guest connect to port 50 refused"));
	/* The handshake goes away: one more guest connect fits. */
	close(lim);
	run();
	assert_int_equal(e.vs->p.reserved, 0);
	tx_ctl(OP_REQUEST, 9999, 50, 0, 0);
	expect(OP_RESPONSE, 50, 9999);
	virtio_env_capture_start();
	tx_ctl(OP_REQUEST, 9998, 50, 0, 0);
	log = virtio_env_capture_end();
	assert_non_null(strstr(log, "1024 connections"));
	expect(OP_RST, 50, 9998);
	/* A close frees a slot. */
	tx_ctl(OP_RST, 9999, 50, 0, 0);
	tx_ctl(OP_REQUEST, 9998, 50, 0, 0);
	expect(OP_RESPONSE, 50, 9998);
}

static uint64_t frozen_clock(void)
{
	return 1; /* the budget's log is rate-limited: one line in this test */
}

/*
 * Connections take their sockets from hull's descriptor budget: past it the
 * guest's connect gets RST and a host connect is closed at once, with one
 * message; a close makes room; destroying the device gives everything back.
 */
static void test_fd_budget(void **state)
{
	static struct fdbudget b;
	char path[160], *log;
	uint32_t hport;
	int lfd, fd[2], hfd;

	(void)state;
	fdbudget_init(&b, 2); /* vsock alone: a floor of 1, a pool of 1 */
	b.clock = frozen_clock;
	e.v.host.fds = &b;
	open_dev(true);
	snprintf(path, sizeof(path), "%s_5000", e.path);
	lfd = uds_listen(path);
	fd[0] = guest_connect_uds(1000, 5000, lfd);
	fd[1] = guest_connect_uds(1001, 5000, lfd);
	assert_int_equal(atomic_load(&b.pool), 0);
	virtio_env_capture_start();
	tx_ctl(OP_REQUEST, 1002, 5000, 0, 0);
	expect(OP_RST, 5000, 1002);
	hfd = uds_connect(e.path);
	run();
	assert_true(at_eof(hfd));
	close(hfd);
	log = virtio_env_capture_end();
	assert_non_null(strstr(log, e.path));
	assert_non_null(strstr(log, "out of descriptors"));
	assert_int_equal(e.vs->p.nconns, 2);
	assert_int_equal(e.vs->p.reserved, 0);
	/* The guest closes one: a host program gets through again. */
	tx_ctl(OP_RST, 1000, 5000, 0, 0);
	run();
	assert_true(at_eof(fd[0]));
	close(fd[0]);
	hfd = host_connect(77, &hport);
	assert_int_equal(atomic_load(&b.pool), 0);
	close(hfd);
	close(fd[1]);
	close(lfd);
	vsock_destroy(e.vs);
	e.vs = NULL;
	assert_int_equal(atomic_load(&b.pool), 2);
	assert_int_equal(b.naccts, 0);
}

/* TRANSPORT_RESET: every connection gone, the guest told through the event queue. */
static void test_transport_reset(void **state)
{
	struct vring_used_elem el;
	uint16_t idx[8];
	unsigned int n;
	uint32_t hport;
	struct rec *r;
	int fd;

	(void)state;
	open_dev(true);
	assert_int_equal(vsock_listen(e.vs, 50, rec_accept, NULL), 0);
	r = guest_connect_rec(1000, 50);
	fd = host_connect(1234, &hport);
	assert_false(used_take(2, &el, idx, &n));
	vsock_transport_reset(e.vs);
	run();
	assert_true(used_take(2, &el, idx, &n));
	assert_int_equal(el.len, 4);
	{
		struct vring_desc *d = &((struct vring_desc *)gpa(DESC(2)))[idx[0]];
		struct virtio_vsock_event *ev = gpa(d->addr);

		assert_int_equal(le32toh(ev->id), VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	}
	assert_false(used_take(2, &el, idx, &n));
	assert_int_equal(r->closed, 1);
	assert_int_equal(r->err, -ECONNRESET);
	assert_true(at_eof(fd));
	close(fd);
	assert_int_equal(e.vs->p.nconns, 0);
	expect_none(); /* no RSTs: the guest resets its sockets itself */
	/* The old connection is unknown now; the listener is still there. */
	tx_data(1000, 50, "x", 1, 0, L_ONE);
	expect(OP_RST, 50, 1000);
	r = guest_connect_rec(1001, 50);
	assert_int_equal(r->closed, 0);
	/* No event buffer posted: the event waits for one. */
	for (n = 0; n < 7; n++)
		vsock_transport_reset(e.vs);
	vsock_transport_reset(e.vs);
	run();
	{
		unsigned int events = 0;

		while (used_take(2, &el, idx, &n))
			events++;
		assert_int_equal(events, 7);
	}
	{
		struct seg s = { EVBUF(0), 4, true };

		take_descs(2, 1, idx);
		publish(2, idx, &s, 1);
	}
	kick(2);
	assert_true(used_take(2, &el, idx, &n));
	assert_int_equal(el.len, 4);
}

/* A guest reset closes every host socket and forgets every connection. */
static void test_device_reset(void **state)
{
	char path[160];
	uint32_t hport;
	int base, with, lfd, c[3], g[2];
	unsigned int i;
	struct rec *r;

	(void)state;
	open_dev(true);
	assert_int_equal(vsock_listen(e.vs, 50, rec_accept, NULL), 0);
	snprintf(path, sizeof(path), "%s_6000", e.path);
	lfd = uds_listen(path);
	base = fd_count();
	for (i = 0; i < 3; i++)
		c[i] = host_connect(100 + i, &hport);
	for (i = 0; i < 2; i++)
		g[i] = guest_connect_uds(200 + i, 6000, lfd);
	r = guest_connect_rec(300, 50);
	with = fd_count();
	assert_int_equal(with, base + 3 * 2 + 2 * 2);
	wr(VIRTIO_MMIO_STATUS, 0);
	run();
	assert_int_equal(fd_count(), base + 3 + 2); /* only the test's own ends remain */
	for (i = 0; i < 3; i++) {
		assert_true(at_eof(c[i]));
		close(c[i]);
	}
	for (i = 0; i < 2; i++) {
		assert_true(at_eof(g[i]));
		close(g[i]);
	}
	assert_int_equal(r->closed, 1);
	assert_int_equal(r->err, -ECONNRESET);
	assert_int_equal(e.vs->p.nconns, 0);
	assert_int_equal(fd_count(), base);
	close(lfd);
	/* The device works again after the driver comes back. */
	bring_up(true);
	r = guest_connect_rec(301, 50);
	assert_int_equal(r->closed, 0);
}

/* The socket file: a stale one is replaced, other files and live sockets refused, unlinked. */
static void test_socket_file(void **state)
{
	struct vsock_config c = { .cid = GCID, .uds = e.path };
	struct vsock *v2;
	struct stat st;
	char *log;
	int fd;

	(void)state;
	close(uds_listen(e.path)); /* stale */
	open_dev(true);
	/* In use by us now: a second device is refused. */
	virtio_env_capture_start();
	assert_int_equal(vsock_create(&c, &e.v.host, &v2), -EADDRINUSE);
	log = virtio_env_capture_end();
	assert_non_null(strstr(log, e.path));
	assert_non_null(strstr(log, "in use"));
	vsock_destroy(e.vs);
	e.vs = NULL;
	assert_int_equal(lstat(e.path, &st), -1);
	/* A regular file is not ours to replace. */
	fd = open(e.path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	virtio_env_capture_start();
	assert_int_equal(vsock_create(&c, &e.v.host, &v2), -EEXIST);
	log = virtio_env_capture_end();
	assert_non_null(strstr(log, "not a socket"));
	unlink(e.path);
	/* A missing directory is an error at create. */
	snprintf(e.path, sizeof(e.path), "%s/no/such/v.sock", e.dir);
	virtio_env_capture_start();
	assert_int_equal(vsock_create(&c, &e.v.host, &v2), -ENOENT);
	log = virtio_env_capture_end();
	assert_non_null(strstr(log, "vsock "));
	snprintf(e.path, sizeof(e.path), "%s/v.sock", e.dir);
}

struct writer {
	int fd;
	size_t sent;
	int err;
};

/* A host program writing a pattern until hull closes the connection. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint8_t buf[8192];

	for (;;) {
		size_t i;
		ssize_t n;

		for (i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)((w->sent + i) * 13 + 1);
		n = send(w->fd, buf, sizeof(buf), MSG_NOSIGNAL);
		if (n < 0) {
			w->err = errno;
			return NULL;
		}
		w->sent += (size_t)n;
	}
}

/*
 * The event loop on its own thread while this one plays the vCPUs: kicks through MMIO, the
 * guest consuming and refilling RX, credit updates on TX, then a device reset mid-stream.
 */
static void test_threads(void **state)
{
	struct loop_handler stop_h;
	struct vring_used_elem el;
	struct writer w = { 0 };
	pthread_t loop_t, write_t;
	size_t got = 0, i;
	uint16_t idx[8];
	unsigned int n, spins;
	uint32_t hport;
	int stop_fd;

	(void)state;
	open_dev(true);
	w.fd = host_connect(1234, &hport);
	stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(stop_fd >= 0);
	stop_h = (struct loop_handler){ .fd = stop_fd, .cb = virtio_env_stop_loop };
	assert_int_equal(loop_add(&e.v.loop, &stop_h, EPOLLIN), 0);
	assert_int_equal(pthread_create(&loop_t, NULL, virtio_env_loop_thread, &e.v.loop), 0);
	assert_int_equal(pthread_create(&write_t, NULL, writer_main, &w), 0);

	/* 2 MiB through 256 KiB of credit and 64 buffers, every byte checked. */
	for (spins = 0; got < (2u << 20) && spins < 2000000; spins++) {
		bool any = false;

		while (rx_take()) {
			any = true;
			if (pk.op == OP_CREDIT_UPDATE)
				continue;
			assert_int_equal(pk.op, OP_RW);
			for (i = 0; i < pk.len; i++)
				assert_int_equal(pk.data[i], (uint8_t)((got + i) * 13 + 1));
			got += pk.len;
		}
		if (!any) {
			usleep(100);
			continue;
		}
		rx_post(64 - e.rx_out);
		wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		tx_post(H(OP_CREDIT_UPDATE, 1234, hport, 0, 0, (uint32_t)got), NULL, 0, L_SPLIT);
		wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
		while (used_take(1, &el, idx, &n))
			;
	}
	assert_true(got >= (2u << 20));
	/* A guest reset while the host keeps writing: hull closes its end, the writer stops. */
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(pthread_join(write_t, NULL), 0);
	assert_true(w.err == EPIPE || w.err == ECONNRESET);
	assert_int_equal(eventfd_write(stop_fd, 1), 0);
	assert_int_equal(pthread_join(loop_t, NULL), 0);
	loop_del(&e.v.loop, &stop_h);
	close(stop_fd);
	close(w.fd);
	run();
	assert_int_equal(e.vs->p.nconns, 0);
}

/* RX buffers posted (and kicked) before DRIVER_OK are found anyway. */
static void test_early_buffers(void **state)
{
	uint32_t hport;
	int fd;

	(void)state;
	e.early = true;
	open_dev(true);
	run();
	fd = host_connect(77, &hport);
	write_all(fd, "hey", 3);
	run();
	expect(OP_RW, hport, 77);
	assert_memory_equal(pk.data, "hey", 3);
	close(fd);
}

/* RX buffers split as header + payload (Linux before 6.2) work the same. */
static void test_rx_split(void **state)
{
	static uint8_t data[10000], got[10000];
	struct rec *r;

	(void)state;
	e.rx_split = true;
	open_dev(false);
	assert_int_equal(vsock_listen(e.vs, 50, rec_accept, NULL), 0);
	r = guest_connect_rec(1000, 50);
	fill_pattern(data, sizeof(data), 2);
	assert_int_equal(vsock_ep_send(r->ep, data, sizeof(data)), sizeof(data));
	rx_data(1000, got, sizeof(data));
	assert_memory_equal(got, data, sizeof(data));
}

/* The handler of queue q runs once, as the loop runs it; whether it raised its kick again. */
static bool kick_once(unsigned int q)
{
	struct loop_handler *k = &e.d->kick_h[q];
	eventfd_t v;

	wr(VIRTIO_MMIO_QUEUE_NOTIFY, q);
	k->cb(&e.v.loop, k, EPOLLIN);
	return eventfd_read(k->fd, &v) == 0 && v > 0;
}

/* A TX chain of aliased descriptors claiming far more than a packet: dropped, stream reset. */
static void test_tx_aliased(void **state)
{
	struct seg sg[VSOCK_TX_IOV];
	uint16_t idx[VSOCK_TX_IOV];
	struct virtio_vsock_hdr h;
	struct rec *r;
	uint64_t a = tx_alloc(HDR);
	unsigned int i;

	(void)state;
	open_dev(false);
	assert_int_equal(vsock_listen(e.vs, 50, rec_accept, NULL), 0);
	r = guest_connect_rec(1000, 50);
	/* The header, then 63 descriptors over the same 4 MiB: 252 MiB of payload. */
	h = H(OP_RW, 1000, 50, 1000, 0, 0);
	memcpy(gpa(a), &h, HDR);
	sg[0] = (struct seg){ a, HDR, false };
	for (i = 1; i < VSOCK_TX_IOV; i++)
		sg[i] = (struct seg){ TXAREA + (4 << 20), 4 << 20, false };
	for (i = 0; i < VSOCK_TX_IOV; i++)
		idx[i] = e.q[1].free[--e.q[1].nfree];
	/* publish() keeps up to 8 descriptors per chain: link the rest here. */
	{
		struct vring_desc *desc = gpa(DESC(1));
		struct vring_avail *av = gpa(AVAIL(1));

		for (i = 0; i < VSOCK_TX_IOV; i++)
			desc[idx[i]] = (struct vring_desc){
				.addr = sg[i].gpa,
				.len = sg[i].len,
				.flags = i + 1 < VSOCK_TX_IOV ? VRING_DESC_F_NEXT : 0,
				.next = i + 1 < VSOCK_TX_IOV ? idx[i + 1] : 0,
			};
		av->ring[e.q[1].avail_idx % QSIZE] = idx[0];
		__atomic_store_n(&av->idx, ++e.q[1].avail_idx, __ATOMIC_RELEASE);
	}
	kick(1);
	expect(OP_RST, 50, 1000);
	assert_int_equal(r->len, 0);
	run();
	assert_int_equal(r->closed, 1);
	assert_int_equal(r->err, -ECONNRESET);
	assert_false(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/*
 * A guest that keeps its RX ring full of buffers too small for a packet: one call returns at
 * most VSOCK_BUDGET of them, then the RX queue is requeued; real buffers then get the reply.
 */
static void test_rx_tiny_buffers(void **state)
{
	unsigned int i;

	(void)state;
	open_dev(false);
	bring_up(false);
	assert_int_equal(vsock_listen(e.vs, 50, rec_accept, NULL), 0);
	tx_ctl(OP_REQUEST, 1000, 50, 0, 0); /* a RESPONSE is owed, and no buffer to carry it */
	for (i = 0; i < 8; i++)
		tiny_post(0, HDR);
	e.tiny_q = 0;
	i = kick_once(0);
	assert_true(e.tiny_used <= VSOCK_BUDGET);
	assert_true(e.tiny_used > 0);
	assert_true(i); /* requeued */
	/* The guest stops; real buffers behind the tiny ones get the RESPONSE. */
	e.tiny_q = -1;
	rx_post(1);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0); /* the raised kick, read above */
	run();
	drop_empty_rx();
	expect(OP_RESPONSE, 50, 1000);
}

/* The same on the event queue: a TRANSPORT_RESET over event buffers too small for it. */
static void test_event_tiny_buffers(void **state)
{
	struct vring_used_elem el;
	uint16_t idx[8];
	unsigned int i, n;

	(void)state;
	open_dev(false);
	for (i = 0; i < 8; i++) /* the 8 event buffers bring_up posted */
		vsock_transport_reset(e.vs);
	while (used_take(2, &el, idx, &n))
		assert_int_equal(el.len, 4);
	for (i = 0; i < 8; i++)
		tiny_post(2, 2);
	e.tiny_q = 2;
	vsock_transport_reset(e.vs);
	assert_true(e.tiny_used <= VSOCK_BUDGET);
	assert_true(e.tiny_used > 0);
	{
		eventfd_t v;

		assert_int_equal(eventfd_read(e.d->kick_h[2].fd, &v), 0);
	}
	e.tiny_q = -1;
	{
		struct seg s = { EVBUF(0), 4, true };

		take_descs(2, 1, idx);
		publish(2, idx, &s, 1);
	}
	kick(2);
	for (;;) {
		assert_true(used_take(2, &el, idx, &n));
		if (el.len)
			break;
	}
	assert_int_equal(el.len, 4);
}

/* A TX kick serves VIRTIO_NOTIFY_BUDGET chains, then requeues itself (and comes back). */
static void test_tx_budget(void **state)
{
	struct vring_used_elem el;
	uint16_t idx[8];
	unsigned int i, n, used = 0;
	struct rec *r;

	(void)state;
	open_dev(false);
	assert_int_equal(vsock_listen(e.vs, 50, rec_accept, NULL), 0);
	r = guest_connect_rec(1000, 50);
	for (i = 0; i < 200; i++)
		tx_post(H(OP_RW, 1000, 50, 1, 0, 0), "b", 1, L_ONE);
	assert_true(kick_once(1));
	while (used_take(1, &el, idx, &n))
		used++;
	assert_int_equal(used, VIRTIO_NOTIFY_BUDGET);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1); /* the raised kick, read above */
	run();
	while (used_take(1, &el, idx, &n))
		used++;
	assert_int_equal(used, 200);
	assert_int_equal(r->len, 200);
}

/* ---- the fd <-> endpoint bridge over pipes (container stdio's shape: one fd each way) ---- */

static struct bowner {
	struct vsock_bridge b;
	struct file_out out;
	int in_rd, in_wr, out_rd, out_wr; /* host -> guest pipe, guest -> host pipe */
	bool closed;
} bo;

static size_t bo_recv(struct vsock_ep *ep, void *opaque, const struct iovec *iov, unsigned int n,
		      size_t len)
{
	(void)ep;
	return vsock_bridge_recv(opaque, iov, n, len);
}

static void bo_shutdown(struct vsock_ep *ep, void *opaque, unsigned int flags)
{
	(void)ep;
	vsock_bridge_shutdown(opaque, flags);
}

static void bo_writable(struct vsock_ep *ep, void *opaque)
{
	(void)ep;
	vsock_bridge_writable(opaque);
}

static void bo_closed(struct vsock_ep *ep, void *opaque, int err)
{
	(void)ep;
	(void)opaque;
	(void)err;
	bo.closed = true;
}

static const struct vsock_ep_ops bo_ops = {
	.recv = bo_recv, .shutdown = bo_shutdown, .writable = bo_writable, .closed = bo_closed,
};

static int bo_accept(void *opaque, struct vsock_ep *ep, uint32_t gport,
		     const struct vsock_ep_ops **ops, void **ep_opaque)
{
	(void)opaque;
	(void)gport;
	vsock_bridge_init(&bo.b, ep, bo.in_rd, &bo.out, false);
	*ops = &bo_ops;
	*ep_opaque = &bo.b;
	return 0;
}

static void test_bridge_pipes(void **state)
{
	static uint8_t data[20000], got[20000];
	int in[2], out[2];
	size_t n;

	(void)state;
	memset(&bo, 0, sizeof(bo));
	assert_int_equal(pipe2(in, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	/* A one-page pipe towards the host, so that back-pressure comes soon. */
	assert_true(fcntl(out[1], F_SETPIPE_SZ, 4096) >= 4096);
	bo.in_rd = in[0], bo.in_wr = in[1], bo.out_rd = out[0], bo.out_wr = out[1];
	assert_int_equal(file_out_open(&bo.out, out[1]), 0);
	open_dev(false);
	e.guest_buf = 8192;
	assert_int_equal(vsock_listen(e.vs, 60, bo_accept, NULL), 0);
	tx_ctl(OP_REQUEST, 2000, 60, 0, 0);
	expect(OP_RESPONSE, 60, 2000);
	assert_int_equal(vsock_bridge_events(&bo.b, in[0]), EPOLLIN);
	assert_int_equal(vsock_bridge_events(&bo.b, bo.out.fd), 0);

	/* Host -> guest: the pipe's bytes straight into the guest, within its credit. */
	fill_pattern(data, sizeof(data), 3);
	write_all(in[1], data, sizeof(data));
	for (n = 0; n < 4; n++)
		vsock_bridge_in_ready(&bo.b);
	rx_data(2000, got, 8192);
	assert_true(bo.b.in_blocked); /* no credit left: the pipe is not read */
	assert_int_equal(vsock_bridge_events(&bo.b, in[0]), 0);
	tx_ctl(OP_CREDIT_UPDATE, 2000, 60, 0, 8192);
	assert_false(bo.b.in_blocked); /* writable() */
	e.guest_buf = 65536;
	tx_ctl(OP_CREDIT_UPDATE, 2000, 60, 0, 8192);
	for (n = 0; n < 4; n++)
		vsock_bridge_in_ready(&bo.b);
	rx_data(2000, got + 8192, sizeof(data) - 8192);
	assert_memory_equal(got, data, sizeof(data));

	/* Guest -> host: the pipe takes a page; the rest waits in hull for out_ready. */
	tx_data(2000, 60, data, 10000, 20000, L_ONE);
	assert_true(bo.b.out_blocked);
	assert_int_equal(vsock_bridge_events(&bo.b, bo.out.fd), EPOLLOUT);
	n = 0;
	while (n < 10000) {
		ssize_t k = read(out[0], got + n, sizeof(got) - n);

		assert_true(k > 0);
		n += (size_t)k;
		vsock_bridge_out_ready(&bo.b);
	}
	assert_int_equal(n, 10000);
	assert_memory_equal(got, data, 10000);
	assert_false(bo.b.out_blocked);

	/* Ends: the pipe's EOF is SHUTDOWN SEND to the guest; the guest's is out_eof. */
	close(in[1]);
	vsock_bridge_in_ready(&bo.b);
	assert_true(bo.b.in_eof);
	expect(OP_SHUTDOWN, 60, 2000);
	assert_int_equal(pk.flags, SH_SEND);
	assert_int_equal(vsock_bridge_events(&bo.b, in[0]), 0);
	assert_false(bo.b.out_eof);
	tx_ctl(OP_SHUTDOWN, 2000, 60, SH_SEND, 20000);
	assert_true(bo.b.out_eof);
	expect(OP_RST, 60, 2000); /* nothing flows either way any more */
	assert_true(bo.closed);
	assert_int_equal(bo.b.err, 0);

	/* A reader that went away: the write fails and the bridge says so (the owner resets). */
	signal(SIGPIPE, SIG_IGN); /* as hull's loop stage has it */
	bo.closed = false;
	close(out[0]);
	close(in[0]);
	assert_int_equal(pipe2(in, O_CLOEXEC | O_NONBLOCK), 0);
	bo.in_rd = in[0];
	tx_ctl(OP_REQUEST, 2001, 60, 0, 0);
	expect(OP_RESPONSE, 60, 2001);
	tx_data(2001, 60, "x", 1, 0, L_ONE);
	assert_int_equal(bo.b.err, -EPIPE);
	assert_int_equal(vsock_bridge_events(&bo.b, in[0]), 0);
	vsock_ep_close(bo.b.ep);
	file_out_close(&bo.out);
	close(out[1]);
	close(in[0]);
	close(in[1]);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_config),
		T(test_pkt_check),
		T(test_credit_math),
		T(test_proto_pure),
		T(test_device),
		T(test_tx_layouts),
		T(test_tx_hostile),
		T(test_unknown_ports),
		T(test_shutdown),
		T(test_credit_overrun),
		T(test_credit_updates),
		T(test_in_process),
		T(test_bridge_pipes),
		T(test_uds_host_connect),
		T(test_uds_handshake),
		T(test_uds_guest_connect),
		T(test_uds_credit_stall),
		T(test_no_rx_buffers),
		T(test_limit),
		T(test_fd_budget),
		T(test_transport_reset),
		T(test_device_reset),
		T(test_socket_file),
		T(test_early_buffers),
		T(test_threads),
		T(test_rx_split),
		T(test_tx_budget),
		T(test_tx_aliased),
		T(test_rx_tiny_buffers),
		T(test_event_tiny_buffers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
