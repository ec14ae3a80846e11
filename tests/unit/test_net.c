/* Unit tests for virtio-net: header rules, config, the device over fake and real tap and passt. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <linux/virtio_mmio.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/route.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/virtio_env.h"
#include "virtio/net/internal.h"

#define BASE 0xd0000000ULL
#define GSI 7
#define RAM_GPA 0x100000ULL
#define RAM_SIZE (8ULL << 20)
#define RING(q) (RAM_GPA + (uint64_t)(q)*0x4000) /* desc +0, avail +0x1000, used +0x2000 */
#define BUFS (RAM_GPA + 0x10000)		 /* buffers from here, bump-allocated */
#define QSIZE 256

#define S_ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV VIRTIO_CONFIG_S_DRIVER
#define S_FOK VIRTIO_CONFIG_S_FEATURES_OK
#define S_DOK VIRTIO_CONFIG_S_DRIVER_OK
#define BIT(n) (1ULL << (n))
#define F(x) VNET_F(x)
#define TAP_ALL                                                                                  \
	(F(CSUM) | F(GUEST_CSUM) | F(GUEST_TSO4) | F(GUEST_TSO6) | F(GUEST_ECN) | F(GUEST_UFO) | \
	 F(HOST_TSO4) | F(HOST_TSO6) | F(HOST_ECN) | F(HOST_UFO) | F(MRG_RXBUF) | F(MAC) |       \
	 F(STATUS))

struct dq {
	uint16_t avail_idx, next_desc, used_seen;
};

static struct env {
	struct virtio_env v;
	struct vnet *n;
	int peer; /* the other end of the backend's socket, or -1 */
	struct dq q[2];
	uint64_t next_buf;
	unsigned int pulses;
} e;

static void rec_irq(void *opaque, unsigned int irq, int level)
{
	(void)irq;
	if (level)
		((struct env *)opaque)->pulses++;
}

static int setup(void **state)
{
	(void)state;
	memset(&e, 0, sizeof(e));
	e.peer = -1;
	return virtio_env_init(&e.v, RAM_GPA, RAM_SIZE, rec_irq, &e) ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	vnet_destroy(e.n);
	e.n = NULL;
	if (e.peer >= 0)
		close(e.peer);
	virtio_env_fini(&e.v);
	return 0;
}

/* ---- driver side ---- */

static uint32_t rd(uint64_t off)
{
	return virtio_env_rd(&e.n->dev, off);
}

static void wr(uint64_t off, uint32_t v)
{
	virtio_env_wr(&e.n->dev, off, v);
}

static const struct virtio_drv drv = { rd, wr };

static void *gpa(uint64_t a)
{
	return gmem_ptr(&e.v.mem, a, 1);
}

static uint64_t balloc(size_t len)
{
	uint64_t a = e.next_buf;

	e.next_buf += (len + 15) & ~15ULL;
	assert_true(e.next_buf <= RAM_GPA + RAM_SIZE);
	return a;
}

/* Reset, accept the offered features in want (plus VERSION_1), both queues, DRIVER_OK. */
static void bring_up(uint64_t want)
{
	unsigned int q;

	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(virtio_drv_negotiate(&drv, want | BIT(VIRTIO_F_VERSION_1)),
			 S_ACK | S_DRV | S_FOK);
	memset(gpa(RAM_GPA), 0, BUFS - RAM_GPA);
	memset(e.q, 0, sizeof(e.q));
	e.next_buf = BUFS;
	for (q = 0; q < 2; q++) {
		virtio_drv_queue(&drv, q, QSIZE, RING(q), RING(q) + 0x1000, RING(q) + 0x2000);
		assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), VNET_QUEUE_MAX);
		wr(VIRTIO_MMIO_QUEUE_READY, 1);
	}
	assert_int_equal(virtio_drv_driver_ok(&drv), S_ACK | S_DRV | S_FOK | S_DOK);
}

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool w;
};

static uint16_t post(unsigned int q, const struct seg *s, unsigned int n)
{
	struct vring_desc *d = gpa(RING(q));
	struct vring_avail *a = gpa(RING(q) + 0x1000);
	uint16_t head = e.q[q].next_desc;
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t k = (uint16_t)((head + i) % QSIZE);

		d[k] = (struct vring_desc){
			.addr = s[i].gpa,
			.len = s[i].len,
			.flags = (uint16_t)((s[i].w ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = (uint16_t)((k + 1) % QSIZE),
		};
	}
	e.q[q].next_desc = (uint16_t)((head + n) % QSIZE);
	a->ring[e.q[q].avail_idx % QSIZE] = head;
	__atomic_store_n(&a->idx, ++e.q[q].avail_idx, __ATOMIC_RELEASE);
	return head;
}

static uint16_t used_idx(unsigned int q)
{
	return __atomic_load_n(&((struct vring_used *)gpa(RING(q) + 0x2000))->idx,
			       __ATOMIC_ACQUIRE);
}

static unsigned int new_used(unsigned int q)
{
	return (uint16_t)(used_idx(q) - e.q[q].used_seen);
}

static struct vring_used_elem take_used(unsigned int q)
{
	struct vring_used *u = gpa(RING(q) + 0x2000);

	return u->ring[e.q[q].used_seen++ % QSIZE];
}

/* Run every ready handler until the loop is quiet; the number of rounds (bounded). */
static unsigned int pump(void)
{
	unsigned int rounds = 0;

	while (virtio_env_dispatch(&e.v, 0) > 0)
		assert_true(++rounds < 10000);
	return rounds;
}

static void kick(unsigned int q)
{
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, q);
	pump();
}

/* Wait (up to 5 s) for the loop to report something, running it. */
static void pump_until(bool (*done)(void))
{
	time_t end = time(NULL) + 5;

	while (!done() && time(NULL) < end)
		virtio_env_dispatch(&e.v, 20);
	assert_true(done());
}

static uint8_t pat(unsigned int seed, size_t i)
{
	return (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

/* An Ethernet frame of len bytes: broadcast, a local ethertype, a pattern. */
static void make_frame(uint8_t *f, size_t len, unsigned int seed)
{
	size_t i;

	memset(f, 0xff, 6);
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	for (i = 14; i < len; i++)
		f[i] = pat(seed, i);
}

/* Post a TX chain: header (12 bytes, split 5+7 to test split headers) then the frame in pieces. */
static uint16_t post_tx(const struct virtio_net_hdr_v1 *h, const uint8_t *frame, size_t len,
			size_t piece)
{
	struct seg s[64];
	unsigned int n = 0;
	uint64_t hg = balloc(VNET_HDR_LEN), fg = balloc(len);
	size_t off;

	memcpy(gpa(hg), h, VNET_HDR_LEN);
	memcpy(gmem_ptr(&e.v.mem, fg, len), frame, len);
	s[n++] = (struct seg){ hg, 5, false };
	s[n++] = (struct seg){ hg + 5, 7, false };
	for (off = 0; off < len; off += piece) {
		assert_true(n < 64);
		s[n++] = (struct seg){ fg + off, (uint32_t)(len - off < piece ? len - off : piece),
				       false };
	}
	return post(VNET_TXQ, s, n);
}

/* Post n RX chains of size bytes each (one buffer); their guest addresses go into gpas. */
static void post_rx(unsigned int n, uint32_t size, uint64_t *gpas)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint64_t g = balloc(size);
		struct seg s = { g, size, true };

		memset(gmem_ptr(&e.v.mem, g, size), 0xee, size);
		if (gpas)
			gpas[i] = g;
		post(VNET_RXQ, &s, 1);
	}
}

/* ---- devices over a socketpair ---- */

/* The bus cannot unregister: each device gets a fresh one (registers are reached directly). */
static int create(const struct vnet_config *c)
{
	int ret;

	bus_init(&e.v.mmio, "mmio");
	ret = vnet_create(c, 0, &e.v.host, &e.n);
	if (!ret && (ret = virtio_mmio_attach(&e.n->dev, &e.v.host, BASE, GSI))) {
		vnet_destroy(e.n);
		e.n = NULL;
	}
	return ret;
}

static void create_on(struct vnet_be *be, const struct vnet_config *c)
{
	bus_init(&e.v.mmio, "mmio");
	assert_int_equal(vnet_create_be(c, 0, be, &e.v.host, &e.n), 0);
	assert_int_equal(virtio_mmio_attach(&e.n->dev, &e.v.host, BASE, GSI), 0);
}

static struct vnet_config mac_cfg(enum vnet_backend b)
{
	return (struct vnet_config){ .backend = b,
				     .tap = b == VNET_TAP ? (char *)(uintptr_t) "faketap" : NULL,
				     .mac = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 },
				     .mac_set = true };
}

/* The socket playing a tap takes every offload: the device records what it asked for. */
static int fake_offload(int fd, unsigned int tun)
{
	(void)fd;
	(void)tun;
	return 0;
}

/* A tap played by a SOCK_SEQPACKET socket: one datagram per frame, header included. */
static void fake_tap(void)
{
	struct vnet_config c = mac_cfg(VNET_TAP);
	struct vnet_be be;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(vnet_tap_fd(&be, sv[0], "faketap", fake_offload), 0);
	create_on(&be, &c);
	e.peer = sv[1];
	/* The test's own sends must never block. */
	assert_int_equal(setsockopt(e.peer, SOL_SOCKET, SO_SNDBUF, &(int){ 1 << 20 }, sizeof(int)),
			 0);
}

/* passt played by the test on a stream socketpair. */
static void fake_passt(void)
{
	struct vnet_config c = mac_cfg(VNET_PASST);
	struct vnet_be be;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(vnet_passt_fd(&be, sv[0]), 0);
	create_on(&be, &c);
	e.peer = sv[1];
}

static void peer_write_all(const void *p, size_t len)
{
	const uint8_t *b = p;

	while (len) {
		ssize_t r = write(e.peer, b, len);

		assert_true(r > 0);
		b += r;
		len -= (size_t)r;
	}
}

static void peer_record(const uint8_t *frame, size_t len)
{
	uint32_t be32 = htobe32((uint32_t)len);

	peer_write_all(&be32, 4);
	peer_write_all(frame, len);
}

/* Read exactly len bytes from the peer, running the loop while waiting. */
static void peer_read_all(void *p, size_t len)
{
	uint8_t *b = p;
	time_t end = time(NULL) + 5;

	while (len) {
		ssize_t r = recv(e.peer, b, len, MSG_DONTWAIT);

		if (r > 0) {
			b += r;
			len -= (size_t)r;
			continue;
		}
		assert_true(r < 0 && errno == EAGAIN);
		assert_true(time(NULL) < end);
		virtio_env_dispatch(&e.v, 10);
	}
}

static bool peer_quiet(void)
{
	uint8_t b;

	return recv(e.peer, &b, 1, MSG_DONTWAIT | MSG_PEEK) < 0 && errno == EAGAIN;
}

/* ---- hdr.c ---- */

static struct virtio_net_hdr_v1 hdr(uint8_t flags, uint8_t gso, uint16_t hdr_len, uint16_t gso_size,
				    uint16_t cs, uint16_t co)
{
	return (struct virtio_net_hdr_v1){ .flags = flags,
					   .gso_type = gso,
					   .hdr_len = htole16(hdr_len),
					   .gso_size = htole16(gso_size),
					   .csum_start = htole16(cs),
					   .csum_offset = htole16(co) };
}

static void test_hdr_tx(void **state)
{
	const uint64_t all = TAP_ALL, csum = F(CSUM);
	const uint8_t NC = VIRTIO_NET_HDR_F_NEEDS_CSUM, T4 = VIRTIO_NET_HDR_GSO_TCPV4,
		      T6 = VIRTIO_NET_HDR_GSO_TCPV6, U = VIRTIO_NET_HDR_GSO_UDP,
		      ECN = VIRTIO_NET_HDR_GSO_ECN;
	struct virtio_net_hdr_v1 h;
	const char *why = NULL;

	(void)state;
	/* Plain frames, any size an Ethernet frame can have. */
	h = hdr(0, 0, 0, 0, 0, 0);
	assert_int_equal(vnet_hdr_check_tx(&h, 60, 0, &why), 0);
	assert_int_equal(vnet_hdr_check_tx(&h, 14, 0, &why), 0);
	assert_int_equal(vnet_hdr_check_tx(&h, VNET_FRAME_MAX, 0, &why), 0);
	assert_int_equal(vnet_hdr_check_tx(&h, 13, all, &why), -EINVAL);
	assert_int_equal(vnet_hdr_check_tx(&h, 0, all, &why), -EINVAL);
	assert_int_equal(vnet_hdr_check_tx(&h, VNET_FRAME_MAX + 1, all, &why), -EINVAL);
	assert_int_equal(vnet_hdr_check_tx(&h, SIZE_MAX, all, &why), -EINVAL);
	/* num_buffers is not looked at (Linux leaves it uninitialised on TX). */
	h.num_buffers = 0xffff;
	assert_int_equal(vnet_hdr_check_tx(&h, 60, 0, &why), 0);

	/* NEEDS_CSUM: only with CSUM, and the checksum inside the frame. */
	h = hdr(NC, 0, 0, 0, 34, 16);
	assert_int_equal(vnet_hdr_check_tx(&h, 100, csum, &why), 0);
	assert_int_equal(vnet_hdr_check_tx(&h, 100, all & ~csum, &why), -EINVAL);
	assert_int_equal(vnet_hdr_check_tx(&h, 52, csum, &why), 0);
	assert_int_equal(vnet_hdr_check_tx(&h, 51, csum, &why), -EINVAL);
	h = hdr(NC, 0, 0, 0, 0xffff, 0xffff);
	assert_int_equal(vnet_hdr_check_tx(&h, VNET_FRAME_MAX, all, &why), -EINVAL);
	/* DATA_VALID, RSC_INFO and unknown flags are not for TX. */
	h = hdr(VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, 0, 0, 0);
	assert_int_equal(vnet_hdr_check_tx(&h, 60, all, &why), -EINVAL);
	h = hdr(0x80, 0, 0, 0, 0, 0);
	assert_int_equal(vnet_hdr_check_tx(&h, 60, all, &why), -EINVAL);
	h = hdr(NC | VIRTIO_NET_HDR_F_RSC_INFO, 0, 0, 0, 34, 16);
	assert_int_equal(vnet_hdr_check_tx(&h, 100, all, &why), -EINVAL);

	/* Each GSO type needs its feature, NEEDS_CSUM, a gso_size. */
	h = hdr(NC, T4, 54, 1448, 34, 16);
	assert_int_equal(vnet_hdr_check_tx(&h, 65000, all, &why), 0);
	assert_int_equal(vnet_hdr_check_tx(&h, 65000, csum | F(HOST_TSO4), &why), 0);
	assert_int_equal(vnet_hdr_check_tx(&h, 65000, csum | F(HOST_TSO6), &why), -EINVAL);
	assert_int_equal(vnet_hdr_check_tx(&h, 65000, F(HOST_TSO4), &why), -EINVAL);
	h = hdr(NC, T6, 74, 1428, 54, 16);
	assert_int_equal(vnet_hdr_check_tx(&h, 65000, csum | F(HOST_TSO6), &why), 0);
	assert_int_equal(vnet_hdr_check_tx(&h, 65000, csum | F(HOST_TSO4), &why), -EINVAL);
	h = hdr(NC, U, 42, 1472, 34, 6);
	assert_int_equal(vnet_hdr_check_tx(&h, 9000, csum | F(HOST_UFO), &why), 0);
	assert_int_equal(vnet_hdr_check_tx(&h, 9000, all & ~F(HOST_UFO), &why), -EINVAL);
	h = hdr(0, T4, 54, 1448, 0, 0);
	assert_int_equal(vnet_hdr_check_tx(&h, 65000, all, &why), -EINVAL);
	assert_non_null(why);
	h = hdr(NC, T4, 54, 0, 34, 16);
	assert_int_equal(vnet_hdr_check_tx(&h, 65000, all, &why), -EINVAL);
	/* Unknown types: 2, 5 (USO, not offered), 0x7f. */
	h = hdr(NC, 2, 54, 1448, 34, 16);
	assert_int_equal(vnet_hdr_check_tx(&h, 65000, all, &why), -EINVAL);
	h = hdr(NC, 5, 42, 1448, 34, 6);
	assert_int_equal(vnet_hdr_check_tx(&h, 65000, all, &why), -EINVAL);
	h = hdr(NC, 0x7f, 42, 1448, 34, 6);
	assert_int_equal(vnet_hdr_check_tx(&h, 65000, all, &why), -EINVAL);

	/* ECN: on TCP with HOST_ECN only. */
	h = hdr(NC, T4 | ECN, 54, 1448, 34, 16);
	assert_int_equal(vnet_hdr_check_tx(&h, 65000, all, &why), 0);
	assert_int_equal(vnet_hdr_check_tx(&h, 65000, all & ~F(HOST_ECN), &why), -EINVAL);
	h = hdr(NC, T6 | ECN, 74, 1428, 54, 16);
	assert_int_equal(vnet_hdr_check_tx(&h, 65000, all, &why), 0);
	h = hdr(NC, ECN, 0, 0, 34, 16);
	assert_int_equal(vnet_hdr_check_tx(&h, 100, all, &why), -EINVAL);
	h = hdr(0, ECN, 0, 0, 0, 0);
	assert_int_equal(vnet_hdr_check_tx(&h, 100, all, &why), -EINVAL);
	h = hdr(NC, U | ECN, 42, 1472, 34, 6);
	assert_int_equal(vnet_hdr_check_tx(&h, 9000, all, &why), -EINVAL);

	/* hdr_len within the frame. */
	h = hdr(NC, T4, 101, 1448, 34, 16);
	assert_int_equal(vnet_hdr_check_tx(&h, 100, all, &why), -EINVAL);
	h = hdr(NC, T4, 100, 1448, 34, 16);
	assert_int_equal(vnet_hdr_check_tx(&h, 100, all, &why), 0);
	h = hdr(0, 0, 0xffff, 0, 0, 0);
	assert_int_equal(vnet_hdr_check_tx(&h, 60, all, &why), -EINVAL);

	/* passt: nothing but zeros (num_buffers aside). */
	h = hdr(0, 0, 0, 0, 0, 0);
	h.num_buffers = 7;
	assert_int_equal(vnet_hdr_check_plain(&h, 60, &why), 0);
	assert_int_equal(vnet_hdr_check_plain(&h, 13, &why), -EINVAL);
	assert_int_equal(vnet_hdr_check_plain(&h, VNET_FRAME_MAX + 1, &why), -EINVAL);
	h = hdr(0, 0, 14, 0, 0, 0);
	assert_int_equal(vnet_hdr_check_plain(&h, 60, &why), -EINVAL);
	h = hdr(0, 0, 0, 0, 0, 1);
	assert_int_equal(vnet_hdr_check_plain(&h, 60, &why), -EINVAL);
	h = hdr(NC, 0, 0, 0, 34, 16);
	assert_int_equal(vnet_hdr_check_plain(&h, 60, &why), -EINVAL);
	h = hdr(0, 0, 0, 1448, 0, 0);
	assert_int_equal(vnet_hdr_check_plain(&h, 60, &why), -EINVAL);
}

/* Every byte value in every field never crashes and only known-good shapes pass. */
static void test_hdr_tx_exhaustive(void **state)
{
	struct virtio_net_hdr_v1 h;
	const char *why;
	unsigned int f, g, pass = 0;

	(void)state;
	for (f = 0; f < 256; f++) {
		for (g = 0; g < 256; g++) {
			h = hdr((uint8_t)f, (uint8_t)g, 54, 1448, 34, 16);
			if (!vnet_hdr_check_tx(&h, 65000, TAP_ALL, &why)) {
				pass++;
				assert_true(f == 0 || f == VIRTIO_NET_HDR_F_NEEDS_CSUM);
				assert_true(g == 0 || g == 1 || g == 3 || g == 4 || g == 0x81 ||
					    g == 0x84);
			}
			assert_int_equal(vnet_hdr_check_tx(&h, 65000, 0, &why),
					 f == 0 && g == 0 ? 0 : -EINVAL);
		}
	}
	/* none, NEEDS_CSUM; with NEEDS_CSUM also TCPv4, UDP, TCPv6, and the two ECN forms. */
	assert_int_equal(pass, 7);
}

static void test_hdr_rx(void **state)
{
	const uint8_t NC = VIRTIO_NET_HDR_F_NEEDS_CSUM, DV = VIRTIO_NET_HDR_F_DATA_VALID;
	struct virtio_net_hdr_v1 h;
	const char *why;

	(void)state;
	/* Without GUEST_CSUM: DATA_VALID dropped, a partial checksum refused. */
	h = hdr(DV, 0, 0, 0, 0, 0);
	h.num_buffers = 9;
	assert_int_equal(vnet_hdr_rx_fixup(&h, 60, 0, &why), 0);
	assert_int_equal(h.flags, 0);
	assert_int_equal(h.num_buffers, 0);
	h = hdr(NC, 0, 0, 0, 34, 16);
	assert_int_equal(vnet_hdr_rx_fixup(&h, 60, TAP_ALL & ~F(GUEST_CSUM), &why), -EINVAL);
	/* With it: kept, but the checksum must be inside the frame; unknown flags cleared. */
	h = hdr(NC | DV | 0x70, 0, 0, 0, 34, 16);
	assert_int_equal(vnet_hdr_rx_fixup(&h, 60, F(GUEST_CSUM), &why), 0);
	assert_int_equal(h.flags, NC | DV);
	h = hdr(NC, 0, 0, 0, 50, 16);
	assert_int_equal(vnet_hdr_rx_fixup(&h, 60, F(GUEST_CSUM), &why), -EINVAL);
	/* GSO only as negotiated. */
	h = hdr(NC, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16);
	assert_int_equal(vnet_hdr_rx_fixup(&h, 60000, F(GUEST_CSUM) | F(GUEST_TSO4), &why), 0);
	assert_int_equal(vnet_hdr_rx_fixup(&h, 60000, F(GUEST_CSUM) | F(GUEST_TSO6), &why),
			 -EINVAL);
	h = hdr(NC, VIRTIO_NET_HDR_GSO_TCPV6 | VIRTIO_NET_HDR_GSO_ECN, 74, 1428, 54, 16);
	assert_int_equal(vnet_hdr_rx_fixup(&h, 60000, F(GUEST_CSUM) | F(GUEST_TSO6), &why),
			 -EINVAL);
	assert_int_equal(
		vnet_hdr_rx_fixup(&h, 60000, F(GUEST_CSUM) | F(GUEST_TSO6) | F(GUEST_ECN), &why),
		0);
	h = hdr(NC, VIRTIO_NET_HDR_GSO_UDP, 42, 1472, 34, 6);
	assert_int_equal(vnet_hdr_rx_fixup(&h, 9000, F(GUEST_CSUM), &why), -EINVAL);
	assert_int_equal(vnet_hdr_rx_fixup(&h, 9000, F(GUEST_CSUM) | F(GUEST_UFO), &why), 0);
	h = hdr(NC, VIRTIO_NET_HDR_GSO_UDP | VIRTIO_NET_HDR_GSO_ECN, 42, 1472, 34, 6);
	assert_int_equal(vnet_hdr_rx_fixup(&h, 9000, TAP_ALL, &why), -EINVAL);
	h = hdr(0, VIRTIO_NET_HDR_GSO_ECN, 0, 0, 0, 0);
	assert_int_equal(vnet_hdr_rx_fixup(&h, 100, TAP_ALL, &why), -EINVAL);
	h = hdr(NC, 5, 42, 1448, 34, 6);
	assert_int_equal(vnet_hdr_rx_fixup(&h, 9000, TAP_ALL, &why), -EINVAL);
	h = hdr(0, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 0, 0);
	assert_int_equal(vnet_hdr_rx_fixup(&h, 60000, TAP_ALL, &why), -EINVAL);
	h = hdr(0, 0, 0, 0, 0, 0);
	assert_int_equal(vnet_hdr_rx_fixup(&h, 13, TAP_ALL, &why), -EINVAL);
}

static void test_offloads(void **state)
{
	const unsigned int ALL = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO;

	(void)state;
	assert_int_equal(vnet_tun_offloads(0), 0);
	assert_int_equal(vnet_tun_offloads(TAP_ALL), ALL);
	/* Host-side features do not matter; dependencies are enforced. */
	assert_int_equal(vnet_tun_offloads(F(CSUM) | F(HOST_TSO4) | F(HOST_UFO) | F(MRG_RXBUF)), 0);
	assert_int_equal(vnet_tun_offloads(F(GUEST_TSO4) | F(GUEST_TSO6) | F(GUEST_UFO)), 0);
	assert_int_equal(vnet_tun_offloads(F(GUEST_CSUM)), TUN_F_CSUM);
	assert_int_equal(vnet_tun_offloads(F(GUEST_CSUM) | F(GUEST_ECN)), TUN_F_CSUM);
	assert_int_equal(vnet_tun_offloads(F(GUEST_CSUM) | F(GUEST_TSO6) | F(GUEST_ECN)),
			 TUN_F_CSUM | TUN_F_TSO6 | TUN_F_TSO_ECN);
	assert_int_equal(vnet_tun_offloads(F(GUEST_CSUM) | F(GUEST_UFO)), TUN_F_CSUM | TUN_F_UFO);
	assert_int_equal(vnet_tun_offloads(~0ULL), ALL);

	/* What to offer on a tap that accepted this much. */
	assert_int_equal(vnet_tap_features(ALL), TAP_ALL);
	assert_int_equal(vnet_tap_features(0), F(CSUM) | F(HOST_TSO4) | F(HOST_TSO6) | F(HOST_ECN) |
						       F(MRG_RXBUF) | F(MAC) | F(STATUS));
	assert_int_equal(vnet_tap_features(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6),
			 TAP_ALL & ~(F(GUEST_ECN) | F(GUEST_UFO) | F(HOST_UFO)));
	assert_int_equal(vnet_tap_features(TUN_F_TSO4 | TUN_F_UFO), vnet_tap_features(0));
	/* Round trip: what a guest negotiates of the offer maps back to what the tap took. */
	assert_int_equal(vnet_tun_offloads(vnet_tap_features(TUN_F_CSUM | TUN_F_TSO4)),
			 TUN_F_CSUM | TUN_F_TSO4);
}

/* ---- config ---- */

static char err[256];

static int parse(struct vnet_config *c, const char *spec)
{
	err[0] = '\0';
	return vnet_parse(c, spec, err, sizeof(err));
}

static void test_config(void **state)
{
	struct vnet_config c;
	char *big;

	(void)state;
	assert_int_equal(parse(&c, "tap=tap0"), 0);
	assert_int_equal(c.backend, VNET_TAP);
	assert_string_equal(c.tap, "tap0");
	assert_false(c.mac_set);
	vnet_config_free(&c);

	assert_int_equal(parse(&c, "tap=hull-tap-15by,mac=02:AB:cd:00:7f:ff"), 0);
	assert_string_equal(c.tap, "hull-tap-15by");
	assert_true(c.mac_set);
	assert_memory_equal(c.mac, "\x02\xab\xcd\x00\x7f\xff", 6);
	vnet_config_free(&c);

	assert_int_equal(parse(&c, "passt"), 0);
	assert_int_equal(c.backend, VNET_PASST);
	assert_null(c.passt);
	assert_null(c.tap);
	vnet_config_free(&c);
	assert_int_equal(parse(&c, "mac=02:00:00:00:00:01,passt"), 0);
	assert_int_equal(c.backend, VNET_PASST);
	assert_true(c.mac_set);
	vnet_config_free(&c);
	assert_int_equal(parse(&c, "passt=/run/user/1000/passt.socket_1,mac=02:00:00:00:00:02"), 0);
	assert_string_equal(c.passt, "/run/user/1000/passt.socket_1");
	vnet_config_free(&c);
	/* A doubled comma is a comma in the path, and "passt" inside a value is just text. */
	assert_int_equal(parse(&c, "passt=/tmp/a,,passt"), 0);
	assert_string_equal(c.passt, "/tmp/a,passt");
	vnet_config_free(&c);
	assert_int_equal(parse(&c, "passt=/tmp/passt,,"), 0);
	assert_string_equal(c.passt, "/tmp/passt,");
	vnet_config_free(&c);

	/* Exactly one backend. */
	assert_int_equal(parse(&c, ""), -EINVAL);
	assert_int_equal(parse(&c, "mac=02:00:00:00:00:01"), -EINVAL);
	assert_non_null(strstr(err, "no tap=NAME or passt"));
	assert_int_equal(parse(&c, "tap=a,passt"), -EINVAL);
	assert_non_null(strstr(err, "one backend"));
	assert_int_equal(parse(&c, "passt,tap=a"), -EINVAL);
	assert_int_equal(parse(&c, "passt=/x,tap=a"), -EINVAL);
	assert_int_equal(parse(&c, "passt,passt"), -EINVAL);
	assert_non_null(strstr(err, "twice"));
	assert_int_equal(parse(&c, "tap=a,tap=b"), -EINVAL);
	assert_int_equal(parse(&c, "tap0"), -EINVAL);
	assert_non_null(strstr(err, "key=value"));
	assert_int_equal(parse(&c, "passtx"), -EINVAL);
	assert_int_equal(parse(&c, "tap=a,speed=1G"), -EINVAL);
	assert_non_null(strstr(err, "speed"));
	assert_int_equal(parse(&c, "tap=a,"), -EINVAL);

	/* Interface names. */
	assert_int_equal(parse(&c, "tap=123456789012345"), 0);
	vnet_config_free(&c);
	assert_int_equal(parse(&c, "tap=1234567890123456"), -EINVAL);
	assert_non_null(strstr(err, "1 to 15"));
	assert_int_equal(parse(&c, "tap="), -EINVAL);
	assert_int_equal(parse(&c, "tap=a/b"), -EINVAL);
	assert_int_equal(parse(&c, "tap=a b"), -EINVAL);
	assert_int_equal(parse(&c, "tap=a\tb"), -EINVAL);
	assert_int_equal(parse(&c, "tap=a:1"), -EINVAL);
	assert_int_equal(parse(&c, "tap=.."), -EINVAL);

	/* MACs. */
	assert_int_equal(parse(&c, "tap=t,mac=01:00:5e:00:00:01"), -EINVAL);
	assert_non_null(strstr(err, "multicast"));
	assert_non_null(strstr(err, "t: mac"));
	assert_int_equal(parse(&c, "tap=t,mac=ff:ff:ff:ff:ff:ff"), -EINVAL);
	assert_int_equal(parse(&c, "tap=t,mac=00:00:00:00:00:00"), -EINVAL);
	assert_int_equal(parse(&c, "tap=t,mac=02:00:00:00:00"), -EINVAL);
	assert_non_null(strstr(err, "mac"));
	assert_int_equal(parse(&c, "tap=t,mac=02:00:00:00:00:001"), -EINVAL);
	assert_int_equal(parse(&c, "tap=t,mac=02-00-00-00-00-01"), -EINVAL);
	assert_int_equal(parse(&c, "tap=t,mac=2:0:0:0:0:1"), -EINVAL);
	assert_int_equal(parse(&c, "tap=t,mac=0g:00:00:00:00:01"), -EINVAL);
	assert_int_equal(parse(&c, "tap=t,mac=02:00:00:00:00:0 "), -EINVAL);
	assert_int_equal(parse(&c, "tap=t,mac="), -EINVAL);

	/* The JSON path: field by field, "" for passt means start one. */
	c = (struct vnet_config){ .backend = VNET_TAP };
	assert_int_equal(vnet_config_set(&c, "passt", "", err, sizeof(err)), 0);
	assert_int_equal(c.backend, VNET_PASST);
	assert_null(c.passt);
	assert_int_equal(vnet_config_set(&c, "tap", "x", err, sizeof(err)), -EINVAL);
	assert_int_equal(vnet_config_set(&c, "passt", "/s", err, sizeof(err)), 0);
	assert_string_equal(c.passt, "/s");
	assert_int_equal(vnet_config_set(&c, "mtu", "1500", err, sizeof(err)), -EINVAL);
	vnet_config_free(&c);
	assert_int_equal(c.backend, VNET_TAP);
	assert_null(c.passt);

	/* A long spec does not overflow anything. */
	big = malloc(20000);
	assert_non_null(big);
	memset(big, ',', 19999);
	big[19999] = '\0';
	memcpy(big, "passt", 5);
	assert_int_equal(parse(&c, big), -EINVAL);
	free(big);
}

/* ---- the device: TX ---- */

static void test_device_config(void **state)
{
	struct virtio_net_config cfg;
	unsigned int i;

	(void)state;
	fake_passt();
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
	assert_int_equal(virtio_drv_offered(&drv),
			 F(MRG_RXBUF) | F(MAC) | F(STATUS) | F(MTU) | VIRTIO_TRANSPORT_FEATURES);
	for (i = 0; i < 12; i++)
		virtio_mmio_ops.read(&e.n->dev, VIRTIO_MMIO_CONFIG + i, (uint8_t *)&cfg + i, 1);
	assert_memory_equal(cfg.mac, "\x02\x11\x22\x33\x44\x55", 6);
	assert_int_equal(le16toh(cfg.status), VIRTIO_NET_S_LINK_UP);
	assert_int_equal(le16toh(cfg.max_virtqueue_pairs), 1);
	assert_int_equal(le16toh(cfg.mtu), 65520);
	vnet_destroy(e.n);
	e.n = NULL;
	close(e.peer);

	/* A tap offers its offloads; no MAC given: a random local unicast one. */
	{
		struct vnet_config c = { .backend = VNET_TAP, .tap = (char *)(uintptr_t) "t" };
		struct vnet_be be;
		int sv[2];
		uint8_t mac[6];

		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
		assert_int_equal(vnet_tap_fd(&be, sv[0], "faketap", fake_offload), 0);
		create_on(&be, &c);
		e.peer = sv[1];
		assert_int_equal(virtio_drv_offered(&drv), TAP_ALL | VIRTIO_TRANSPORT_FEATURES);
		for (i = 0; i < 6; i++)
			virtio_mmio_ops.read(&e.n->dev, VIRTIO_MMIO_CONFIG + i, mac + i, 1);
		assert_int_equal(mac[0] & 3, 2);
		assert_false(!(mac[1] | mac[2] | mac[3] | mac[4] | mac[5]));
	}
}

static void test_tx_tap(void **state)
{
	static uint8_t frame[9000], got[9100];
	struct virtio_net_hdr_v1 h =
		hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16);
	struct vring_used_elem u;
	uint16_t head;
	ssize_t r;

	(void)state;
	fake_tap();
	bring_up(TAP_ALL);
	make_frame(frame, sizeof(frame), 1);
	h.num_buffers = 0x4242; /* garbage, as Linux leaves it */
	head = post_tx(&h, frame, sizeof(frame), 1000);
	kick(VNET_TXQ);
	assert_int_equal(new_used(VNET_TXQ), 1);
	u = take_used(VNET_TXQ);
	assert_int_equal(u.id, head);
	assert_int_equal(u.len, 0);
	/* One datagram: our copy of the header, then the frame. */
	r = recv(e.peer, got, sizeof(got), MSG_DONTWAIT);
	assert_int_equal(r, VNET_HDR_LEN + sizeof(frame));
	assert_memory_equal(got, &h, 10);
	assert_memory_equal(got + VNET_HDR_LEN, frame, sizeof(frame));
	assert_int_equal(e.n->stats.tx_frames, 1);

	/* Refused headers are not sent, but the chain comes back. */
	h = hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 0, 34, 16);
	post_tx(&h, frame, 100, 100);
	h = hdr(0, 0, 0, 0, 0, 0);
	post_tx(&h, frame, 13, 13);
	{
		struct seg s = { balloc(8), 8, false };

		post(VNET_TXQ, &s, 1); /* shorter than the header */
	}
	post_tx(&h, frame, 60, 7); /* and one good frame after them */
	kick(VNET_TXQ);
	assert_int_equal(new_used(VNET_TXQ), 4);
	assert_int_equal(e.n->stats.tx_bad, 3);
	assert_int_equal(e.n->stats.tx_frames, 2);
	r = recv(e.peer, got, sizeof(got), MSG_DONTWAIT);
	assert_int_equal(r, VNET_HDR_LEN + 60);
	assert_memory_equal(got + VNET_HDR_LEN, frame, 60);
	assert_true(peer_quiet());

	/* Without HOST_TSO4 negotiated, a TSO frame is refused. */
	bring_up(TAP_ALL & ~F(HOST_TSO4));
	h = hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16);
	post_tx(&h, frame, 3000, 3000);
	kick(VNET_TXQ);
	assert_int_equal(new_used(VNET_TXQ), 1);
	assert_int_equal(e.n->stats.tx_bad, 4);
	assert_true(peer_quiet());
}

/* A TX chain of aliased descriptors claiming far more than a frame: refused on its length. */
static void test_tx_aliased(void **state)
{
	struct virtio_net_hdr_v1 h = hdr(0, 0, 0, 0, 0, 0);
	struct seg s[QSIZE];
	uint64_t hg, big;
	unsigned int i;
	int pass;

	(void)state;
	for (pass = 0; pass < 2; pass++) {
		if (pass)
			fake_passt();
		else
			fake_tap();
		bring_up(pass ? ~0ULL : TAP_ALL);
		/* The header, then 255 descriptors over the same 4 MiB: 1020 MiB of "frame". */
		hg = balloc(VNET_HDR_LEN);
		big = balloc(4 << 20);
		memcpy(gpa(hg), &h, VNET_HDR_LEN);
		make_frame(gmem_ptr(&e.v.mem, big, VNET_FRAME_MAX), VNET_FRAME_MAX, 3);
		s[0] = (struct seg){ hg, VNET_HDR_LEN, false };
		for (i = 1; i < QSIZE; i++)
			s[i] = (struct seg){ big, 4 << 20, false };
		post(VNET_TXQ, s, QSIZE);
		/* One byte more than the largest frame: refused too. */
		s[1] = (struct seg){ big, VNET_FRAME_MAX + 1, false };
		post(VNET_TXQ, s, 2);
		kick(VNET_TXQ);
		assert_int_equal(new_used(VNET_TXQ), 2);
		for (i = 0; i < 2; i++)
			assert_int_equal(take_used(VNET_TXQ).len, 0);
		assert_true(peer_quiet());
		assert_int_equal(e.n->stats.tx_frames, 0);
		assert_int_equal(e.n->stats.tx_bad, 2);
		/* The largest frame still goes. */
		s[1] = (struct seg){ big, VNET_FRAME_MAX, false };
		post(VNET_TXQ, s, 2);
		kick(VNET_TXQ);
		assert_int_equal(take_used(VNET_TXQ).len, 0);
		assert_int_equal(e.n->stats.tx_frames, 1);
		vnet_destroy(e.n);
		e.n = NULL;
		close(e.peer);
		e.peer = -1;
	}
}

/* A tap that cannot take more (EAGAIN): the chain is held, EPOLLOUT armed, TX paused. */
static void test_tx_tap_full(void **state)
{
	static uint8_t frame[1000], got[2000];
	struct virtio_net_hdr_v1 h = hdr(0, 0, 0, 0, 0, 0);
	unsigned int i, sent = 0, posted = 40;

	(void)state;
	fake_tap();
	assert_int_equal(setsockopt(e.n->be.fd, SOL_SOCKET, SO_SNDBUF, &(int){ 4096 }, sizeof(int)),
			 0);
	bring_up(TAP_ALL);
	make_frame(frame, sizeof(frame), 2);
	for (i = 0; i < posted; i++) {
		frame[20] = (uint8_t)i;
		post_tx(&h, frame, sizeof(frame), sizeof(frame));
	}
	kick(VNET_TXQ);
	/* A unix datagram queue holds few; the device must have stopped. */
	assert_true(e.n->tx_wait);
	assert_true(e.n->tx_held);
	assert_true(e.n->be_events & EPOLLOUT);
	assert_true(new_used(VNET_TXQ) < posted);
	/* More kicks change nothing while the backend is full, and do not spin. */
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, VNET_TXQ);
	assert_true(pump() <= 1);
	/* Drain as a tap would: every frame arrives, in order, once. */
	while (sent < posted) {
		ssize_t r = recv(e.peer, got, sizeof(got), MSG_DONTWAIT);

		if (r < 0) {
			assert_int_equal(errno, EAGAIN);
			assert_true(virtio_env_dispatch(&e.v, 1000) > 0);
			continue;
		}
		assert_int_equal(r, VNET_HDR_LEN + sizeof(frame));
		assert_int_equal(got[VNET_HDR_LEN + 20], sent);
		sent++;
	}
	pump();
	assert_int_equal(new_used(VNET_TXQ), posted);
	assert_false(e.n->tx_wait);
	assert_false(e.n->be_events & EPOLLOUT);
	assert_int_equal(e.n->stats.tx_frames, posted);
}

/* The backend breaks (on the RX side) while TX is paused: the pending chains still come back. */
static void test_tx_paused_then_gone(void **state)
{
	static uint8_t frame[60000];
	struct virtio_net_hdr_v1 h = hdr(0, 0, 0, 0, 0, 0);
	uint32_t bad = htobe32(0);
	unsigned int i, posted = 10;

	(void)state;
	fake_passt();
	assert_int_equal(setsockopt(e.n->be.fd, SOL_SOCKET, SO_SNDBUF, &(int){ 4096 }, sizeof(int)),
			 0);
	bring_up(~0ULL);
	make_frame(frame, sizeof(frame), 2);
	for (i = 0; i < posted; i++)
		post_tx(&h, frame, sizeof(frame), 4096);
	kick(VNET_TXQ);
	assert_true(e.n->tx_wait);
	assert_true(new_used(VNET_TXQ) < posted);
	virtio_env_capture_start();
	peer_write_all(&bad, 4);
	pump(); /* no guest kick: the device must finish by itself */
	assert_non_null(strstr(virtio_env_capture_end(), "protocol error"));
	assert_int_equal(new_used(VNET_TXQ), posted);
	assert_false(e.n->tx_held);
	assert_int_equal(e.n->stats.tx_frames + e.n->stats.tx_dropped, posted);
}

static void test_tx_passt(void **state)
{
	static uint8_t frame[1500], got[1600];
	struct virtio_net_hdr_v1 h = hdr(0, 0, 0, 0, 0, 0);
	uint32_t len;
	unsigned int i;

	(void)state;
	fake_passt();
	bring_up(~0ULL);
	for (i = 0; i < 3; i++) {
		make_frame(frame, 60 + i * 500, i);
		post_tx(&h, frame, 60 + i * 500, 33);
	}
	/* Offloads mean nothing to passt: dropped. */
	h = hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 34, 16);
	post_tx(&h, frame, 100, 100);
	h = hdr(0, 0, 14, 0, 0, 0);
	post_tx(&h, frame, 100, 100);
	kick(VNET_TXQ);
	assert_int_equal(new_used(VNET_TXQ), 5);
	assert_int_equal(e.n->stats.tx_frames, 3);
	assert_int_equal(e.n->stats.tx_bad, 2);
	for (i = 0; i < 3; i++) {
		peer_read_all(&len, 4);
		assert_int_equal(be32toh(len), 60 + i * 500);
		peer_read_all(got, be32toh(len));
		make_frame(frame, 60 + i * 500, i);
		assert_memory_equal(got, frame, be32toh(len));
	}
	assert_true(peer_quiet());
}

/* Big frames, a small socket buffer: partial writes, EAGAIN, EPOLLOUT; the stream stays whole. */
static void test_tx_passt_partial(void **state)
{
	static uint8_t frame[65534], got[65534];
	struct virtio_net_hdr_v1 h = hdr(0, 0, 0, 0, 0, 0);
	unsigned int i, posted = 24, seen_buffered = 0, seen_held = 0;
	int small = 4096;
	uint32_t len;

	(void)state;
	fake_passt();
	assert_int_equal(setsockopt(e.n->be.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	assert_int_equal(setsockopt(e.peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	bring_up(~0ULL);
	for (i = 0; i < posted; i++) {
		size_t l = i % 2 ? sizeof(frame) : 14 + i;

		make_frame(frame, l, i);
		post_tx(&h, frame, l, 4096);
	}
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, VNET_TXQ);
	for (i = 0; i < posted; i++) {
		size_t l = i % 2 ? sizeof(frame) : 14 + i, have = 0;
		time_t end = time(NULL) + 5;

		/* Read slowly, sampling the device's state between steps. */
		while (have < 4 + l) {
			uint8_t *dst = have < 4 ? (uint8_t *)&len + have : got + have - 4;
			size_t want = have < 4 ? 4 - have : 4 + l - have;
			ssize_t r;

			virtio_env_dispatch(&e.v, 0);
			seen_buffered += e.n->be.tx_len != 0;
			seen_held += e.n->tx_held;
			assert_true(!e.n->tx_wait || (e.n->be_events & EPOLLOUT));
			r = recv(e.peer, dst, want > 3000 ? 3000 : want, MSG_DONTWAIT);
			if (r > 0)
				have += (size_t)r;
			else
				assert_true(time(NULL) < end);
		}
		assert_int_equal(be32toh(len), l);
		make_frame(frame, l, i);
		assert_memory_equal(got, frame, l);
	}
	pump();
	assert_true(peer_quiet());
	assert_int_equal(new_used(VNET_TXQ), posted);
	assert_int_equal(e.n->stats.tx_frames, posted);
	assert_true(seen_buffered > 0);
	assert_true(seen_held + seen_buffered > 0);
	assert_false(e.n->be_events & EPOLLOUT);
}

/* ---- the device: RX ---- */

static bool rx_used_1(void)
{
	return new_used(VNET_RXQ) >= 1;
}

static void test_rx_passt_pieces(void **state)
{
	static uint8_t frame[3000];
	uint64_t g[2];
	struct vring_used_elem u;
	const struct virtio_net_hdr_v1 *vh;
	uint32_t be32;
	size_t i;

	(void)state;
	fake_passt();
	bring_up(~0ULL & ~F(MRG_RXBUF));
	post_rx(2, 4096, g);
	make_frame(frame, sizeof(frame), 7);
	/* The length prefix byte by byte, then the frame in odd pieces. */
	be32 = htobe32(sizeof(frame));
	for (i = 0; i < 4; i++) {
		peer_write_all((uint8_t *)&be32 + i, 1);
		pump();
		assert_int_equal(new_used(VNET_RXQ), 0);
	}
	for (i = 0; i < sizeof(frame); i += 999) {
		peer_write_all(frame + i, sizeof(frame) - i < 999 ? sizeof(frame) - i : 999);
		pump();
		assert_int_equal(new_used(VNET_RXQ), i + 999 >= sizeof(frame));
	}
	u = take_used(VNET_RXQ);
	assert_int_equal(u.len, VNET_HDR_LEN + sizeof(frame));
	vh = gpa(g[0]);
	assert_int_equal(vh->flags, 0);
	assert_int_equal(vh->gso_type, 0);
	assert_int_equal(le16toh(vh->num_buffers), 1);
	assert_memory_equal(gmem_ptr(&e.v.mem, g[0] + VNET_HDR_LEN, sizeof(frame)), frame,
			    sizeof(frame));
	assert_true(e.pulses > 0);
	/* Two records in one write. */
	{
		static uint8_t two[2 * (4 + 100)];

		make_frame(frame, 100, 8);
		be32 = htobe32(100);
		memcpy(two, &be32, 4);
		memcpy(two + 4, frame, 100);
		memcpy(two + 104, two, 104);
		peer_write_all(two, sizeof(two));
		post_rx(1, 4096, NULL);
		pump();
		assert_int_equal(new_used(VNET_RXQ), 2);
	}
}

static void check_stopped(const char *log, const char *what)
{
	struct virtio_net_config cfg;

	assert_non_null(strstr(log, "net passt: "));
	assert_non_null(strstr(log, what));
	assert_non_null(strstr(log, "link is down"));
	assert_false(e.n->be_up);
	virtio_mmio_ops.read(&e.n->dev, VIRTIO_MMIO_CONFIG + 6, (uint8_t *)&cfg.status, 2);
	assert_int_equal(cfg.status, 0);
	/* Not polled any more: the loop is quiet although the peer is still there. */
	assert_int_equal(virtio_env_dispatch(&e.v, 0), 0);
}

static void test_rx_passt_bad_length(void **state)
{
	static const uint32_t bad[] = { 0, VNET_FRAME_MAX + 1, 0xffffffff };
	static uint8_t frame[100];
	struct virtio_net_hdr_v1 h = hdr(0, 0, 0, 0, 0, 0);
	unsigned int i;
	uint32_t gen;

	(void)state;
	for (i = 0; i < 3; i++) {
		uint32_t be32 = htobe32(bad[i]);
		char *log;

		fake_passt();
		bring_up(~0ULL);
		post_rx(4, 70000, NULL);
		gen = rd(VIRTIO_MMIO_CONFIG_GENERATION);
		e.pulses = 0;
		peer_write_all(&be32, 4);
		peer_write_all(frame, sizeof(frame));
		virtio_env_capture_start();
		pump();
		log = virtio_env_capture_end();
		check_stopped(log, "protocol error");
		assert_int_equal(new_used(VNET_RXQ), 0);
		assert_true(rd(VIRTIO_MMIO_CONFIG_GENERATION) != gen);
		assert_true(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
		assert_true(e.pulses > 0);
		/* TX still drains the guest's queue, into nothing. */
		make_frame(frame, sizeof(frame), 1);
		post_tx(&h, frame, sizeof(frame), sizeof(frame));
		kick(VNET_TXQ);
		assert_int_equal(new_used(VNET_TXQ), 1);
		assert_int_equal(e.n->stats.tx_dropped, 1);
		vnet_destroy(e.n);
		e.n = NULL;
		close(e.peer);
		e.peer = -1;
	}
	/* The largest legal frame is fine. */
	fake_passt();
	bring_up(~0ULL);
	post_rx(1, 70000, NULL);
	{
		static uint8_t big[VNET_FRAME_MAX];

		make_frame(big, sizeof(big), 3);
		peer_record(big, sizeof(big));
	}
	pump_until(rx_used_1);
	assert_int_equal(take_used(VNET_RXQ).len, VNET_HDR_LEN + VNET_FRAME_MAX);
	assert_true(e.n->be_up);
}

static void test_rx_passt_eof(void **state)
{
	char *log;

	(void)state;
	fake_passt();
	bring_up(~0ULL);
	virtio_env_capture_start();
	close(e.peer);
	e.peer = -1;
	pump();
	log = virtio_env_capture_end();
	assert_non_null(strstr(log, "passt closed the connection"));
	assert_false(e.n->be_up);
	/* Before the driver is up (nothing polled but hang-ups) too, with the same reason. */
	vnet_destroy(e.n);
	e.n = NULL;
	fake_passt();
	virtio_env_capture_start();
	close(e.peer);
	e.peer = -1;
	pump();
	log = virtio_env_capture_end();
	assert_non_null(strstr(log, "passt closed the connection; the link is down"));
	assert_false(e.n->be_up);
}

static void test_rx_mrg(void **state)
{
	static uint8_t frame[5000], out[5100];
	uint64_t g[8];
	struct vring_used_elem u;
	unsigned int i;
	size_t off = 0;

	(void)state;
	fake_passt();
	bring_up(~0ULL);
	post_rx(8, 1024, g);
	make_frame(frame, sizeof(frame), 4);
	peer_record(frame, sizeof(frame));
	pump();
	/* 12 + 5000 bytes: four full chains and 916 bytes in a fifth, pushed together. */
	assert_int_equal(new_used(VNET_RXQ), 5);
	for (i = 0; i < 5; i++) {
		u = take_used(VNET_RXQ);
		assert_int_equal(u.id, i);
		assert_int_equal(u.len, i < 4 ? 1024 : 5012 - 4096);
		memcpy(out + off, gpa(g[i]), u.len);
		off += u.len;
	}
	assert_int_equal(le16toh(((struct virtio_net_hdr_v1 *)(void *)out)->num_buffers), 5);
	assert_memory_equal(out + VNET_HDR_LEN, frame, sizeof(frame));
	assert_int_equal(e.n->stats.rx_frames, 1);

	/* Not enough buffers for the next one: the chains are held, the backend not read. */
	post_rx(1, 1024, g);
	make_frame(frame, sizeof(frame), 5);
	peer_record(frame, sizeof(frame));
	peer_record(frame, 100);
	pump();
	assert_int_equal(new_used(VNET_RXQ), 0);
	assert_true(e.n->rx_wait);
	assert_int_equal(e.n->rx_nbuf, 4); /* the three left from before and the new one */
	assert_false(e.n->be_events & EPOLLIN);
	assert_int_equal(virtio_env_dispatch(&e.v, 0), 0);
	/* More buffers and a kick: the frame completes, then the next one. */
	post_rx(2, 1024, NULL);
	kick(VNET_RXQ);
	assert_int_equal(new_used(VNET_RXQ), 6);
	assert_int_equal(e.n->stats.rx_frames, 3);
	assert_false(e.n->rx_wait);
	assert_true(e.n->be_events & EPOLLIN);

	/* A first chain smaller than the header is skipped (returned empty). */
	e.q[VNET_RXQ].used_seen = used_idx(VNET_RXQ);
	{
		struct seg s = { balloc(8), 8, true };

		post(VNET_RXQ, &s, 1);
	}
	post_rx(1, 200, g);
	peer_record(frame, 100);
	pump();
	assert_int_equal(new_used(VNET_RXQ), 2);
	assert_int_equal(take_used(VNET_RXQ).len, 0);
	assert_int_equal(take_used(VNET_RXQ).len, 112);
	assert_int_equal(le16toh(((struct virtio_net_hdr_v1 *)gpa(g[0]))->num_buffers), 1);
}

/* A frame larger than every buffer the ring can hold is dropped, the chains returned empty. */
static void test_rx_mrg_too_small(void **state)
{
	static uint8_t frame[20000];
	unsigned int i;

	(void)state;
	fake_passt();
	bring_up(~0ULL);
	post_rx(QSIZE, 64, NULL); /* 16 KiB in all */
	make_frame(frame, sizeof(frame), 1);
	peer_record(frame, sizeof(frame));
	peer_record(frame, 40);
	pump();
	assert_int_equal(new_used(VNET_RXQ), QSIZE);
	for (i = 0; i < QSIZE; i++)
		assert_int_equal(take_used(VNET_RXQ).len, 0);
	assert_int_equal(e.n->stats.rx_dropped, 1);
	assert_int_equal(e.n->rx_nbuf, 0);
	/* The next frame waits for buffers, and gets them. */
	assert_true(e.n->rx_wait);
	post_rx(1, 64, NULL);
	kick(VNET_RXQ);
	assert_int_equal(new_used(VNET_RXQ), 1);
	assert_int_equal(take_used(VNET_RXQ).len, 52);
}

static void test_rx_single(void **state)
{
	static uint8_t frame[3000];
	uint64_t g[2];

	(void)state;
	fake_passt();
	bring_up(~0ULL & ~F(MRG_RXBUF));
	/* A chain made of three buffers holds a frame; a too-small chain drops one. */
	{
		uint64_t a = balloc(2000);
		struct seg s[3] = { { a, 10, true },
				    { a + 10, 90, true },
				    { a + 100, 1900, true } };

		post(VNET_RXQ, s, 3);
		g[0] = a;
	}
	post_rx(1, 1000, &g[1]);
	make_frame(frame, 1500, 9);
	peer_record(frame, 1500);
	peer_record(frame, 1500);
	pump();
	assert_int_equal(new_used(VNET_RXQ), 2);
	assert_int_equal(take_used(VNET_RXQ).len, 1512);
	assert_int_equal(le16toh(((struct virtio_net_hdr_v1 *)gpa(g[0]))->num_buffers), 1);
	assert_memory_equal(gmem_ptr(&e.v.mem, g[0] + 12, 1500), frame, 1500);
	assert_int_equal(take_used(VNET_RXQ).len, 0);
	assert_int_equal(e.n->stats.rx_frames, 1);
	assert_int_equal(e.n->stats.rx_dropped, 1);
	/* Nothing posted: RX waits, the backend is not polled, a kick resumes it. */
	peer_record(frame, 1500);
	peer_record(frame, 700);
	pump();
	assert_true(e.n->rx_wait);
	assert_int_equal(e.n->stats.rx_waits, 1);
	assert_int_equal(e.n->be_events, 0);
	assert_int_equal(virtio_env_dispatch(&e.v, 50), 0);
	post_rx(2, 2000, NULL);
	kick(VNET_RXQ);
	assert_int_equal(new_used(VNET_RXQ), 2);
	assert_int_equal(take_used(VNET_RXQ).len, 1512);
	assert_int_equal(take_used(VNET_RXQ).len, 712);
	assert_int_equal(e.n->be_events, EPOLLIN);
}

/* The tap's header is checked against what the guest negotiated. */
static void test_rx_tap(void **state)
{
	static uint8_t buf[VNET_HDR_LEN + 2000];
	struct virtio_net_hdr_v1 h;
	uint64_t g[4];

	(void)state;
	fake_tap();
	bring_up(TAP_ALL & ~F(GUEST_TSO6));
	assert_int_equal(e.n->be.tun,
			 TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN | TUN_F_UFO); /* applied */
	post_rx(4, 4096, g);
	make_frame(buf + VNET_HDR_LEN, 2000, 1);
	h = hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16);
	h.num_buffers = 77;
	memcpy(buf, &h, VNET_HDR_LEN);
	assert_int_equal(send(e.peer, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6; /* not negotiated: dropped */
	memcpy(buf, &h, VNET_HDR_LEN);
	assert_int_equal(send(e.peer, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	assert_int_equal(send(e.peer, buf, 5, 0), 5); /* a runt: dropped */
	h = hdr(VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, 0, 0, 0);
	memcpy(buf, &h, VNET_HDR_LEN);
	assert_int_equal(send(e.peer, buf, VNET_HDR_LEN + 60, 0), VNET_HDR_LEN + 60);
	pump();
	assert_int_equal(new_used(VNET_RXQ), 2);
	assert_int_equal(take_used(VNET_RXQ).len, sizeof(buf));
	h = *(struct virtio_net_hdr_v1 *)gpa(g[0]);
	assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(le16toh(h.gso_size), 1448);
	assert_int_equal(le16toh(h.num_buffers), 1);
	assert_int_equal(take_used(VNET_RXQ).len, VNET_HDR_LEN + 60);
	assert_int_equal(((struct virtio_net_hdr_v1 *)gpa(g[1]))->flags,
			 VIRTIO_NET_HDR_F_DATA_VALID);
	assert_int_equal(e.n->stats.rx_bad, 2);

	/* A guest without offloads: the tap is told so, DATA_VALID is cleared. */
	bring_up(F(MRG_RXBUF));
	assert_int_equal(e.n->be.tun, 0);
	post_rx(1, 4096, g);
	assert_int_equal(send(e.peer, buf, VNET_HDR_LEN + 60, 0), VNET_HDR_LEN + 60);
	pump();
	assert_int_equal(new_used(VNET_RXQ), 1);
	assert_int_equal(((struct virtio_net_hdr_v1 *)gpa(g[0]))->flags, 0);
	/* Reset turns the offloads off until the next driver says what it takes. */
	bring_up(TAP_ALL);
	assert_int_equal(e.n->be.tun, vnet_tun_offloads(TAP_ALL));
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(e.n->be.tun, 0);
	assert_int_equal(e.n->be_events, 0);
}

/* Neither direction starves the other: each callback does at most VNET_BUDGET frames. */
static void test_budget(void **state)
{
	static uint8_t frame[60];
	struct virtio_net_hdr_v1 h = hdr(0, 0, 0, 0, 0, 0);
	struct epoll_event ev[8];
	unsigned int i;
	int k, nev;

	(void)state;
	fake_tap();
	bring_up(TAP_ALL);
	pump(); /* DRIVER_OK's one look at every queue, with nothing posted yet */
	make_frame(frame, sizeof(frame), 1);
	post_rx(200, 2048, NULL);
	for (i = 0; i < 150; i++) {
		uint8_t d[VNET_HDR_LEN + 60] = { 0 };

		memcpy(d + VNET_HDR_LEN, frame, 60);
		assert_int_equal(send(e.peer, d, sizeof(d), 0), (ssize_t)sizeof(d));
	}
	/* Three descriptors each: 80 chains fit the 256-entry table. */
	for (i = 0; i < 80; i++)
		post_tx(&h, frame, sizeof(frame), sizeof(frame));
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, VNET_TXQ);
	/* One round: the backend and the TX kick are both ready; each does one budget. */
	nev = epoll_wait(e.v.loop.epfd, ev, 8, 0);
	assert_int_equal(nev, 2);
	for (k = 0; k < nev; k++) {
		struct loop_handler *lh = ev[k].data.ptr;

		lh->cb(&e.v.loop, lh, ev[k].events);
	}
	assert_int_equal(new_used(VNET_RXQ), VNET_BUDGET);
	assert_int_equal(new_used(VNET_TXQ), VNET_BUDGET);
	/* Both are still ready (the TX kick re-armed itself), and finish in later rounds. */
	assert_int_equal(epoll_wait(e.v.loop.epfd, ev, 8, 0), 2);
	pump();
	assert_int_equal(new_used(VNET_RXQ), 150);
	assert_int_equal(new_used(VNET_TXQ), 80);
	for (i = 0; i < 80; i++) {
		uint8_t d[200];

		assert_int_equal(recv(e.peer, d, sizeof(d), MSG_DONTWAIT), VNET_HDR_LEN + 60);
	}
	assert_true(peer_quiet());
}

/*
 * A frame spread over more chains than one call's budget: VNET_BUDGET chains per call, the
 * RX queue requeued (its kick raised), the frame finished on later passes.
 */
static void test_rx_chain_budget(void **state)
{
	static uint8_t frame[3000], out[3100];
	struct loop_handler *k;
	struct vring_used_elem u;
	unsigned int i, nbuf = (VNET_HDR_LEN + sizeof(frame) + 15) / 16;
	uint64_t g[200];
	eventfd_t v;
	size_t off = 0;

	(void)state;
	fake_passt();
	bring_up(~0ULL);
	k = &e.n->dev.kick_h[VNET_RXQ];
	post_rx(200, 16, g);
	make_frame(frame, sizeof(frame), 6);
	peer_record(frame, sizeof(frame));
	e.n->be_h.cb(&e.v.loop, &e.n->be_h, EPOLLIN);
	assert_int_equal(new_used(VNET_RXQ), 0);
	assert_int_equal(e.n->rx_nbuf, VNET_BUDGET);
	assert_int_equal(eventfd_read(k->fd, &v), 0);
	assert_true(v > 0);
	/* Each pass of the requeued queue takes one budget more. */
	k->cb(&e.v.loop, k, EPOLLIN);
	assert_int_equal(e.n->rx_nbuf, 2 * VNET_BUDGET);
	assert_int_equal(eventfd_read(k->fd, &v), 0);
	k->cb(&e.v.loop, k, EPOLLIN);
	assert_int_equal(e.n->rx_nbuf, 0);
	assert_int_equal(new_used(VNET_RXQ), nbuf);
	for (i = 0; i < nbuf; i++) {
		u = take_used(VNET_RXQ);
		assert_int_equal(u.id, i);
		memcpy(out + off, gpa(g[i]), u.len);
		off += u.len;
	}
	assert_int_equal(off, VNET_HDR_LEN + sizeof(frame));
	assert_int_equal(le16toh(((struct virtio_net_hdr_v1 *)(void *)out)->num_buffers), nbuf);
	assert_memory_equal(out + VNET_HDR_LEN, frame, sizeof(frame));
	assert_int_equal(e.n->stats.rx_frames, 1);
	/* Done: nothing requeued. */
	assert_int_equal(eventfd_read(k->fd, &v), -1);
	pump();
	assert_int_equal(new_used(VNET_RXQ), 0);
}

/* A reset in the middle of a merged frame: nothing pushed after it, and the device works again. */
static void test_reset_mid_frame(void **state)
{
	static uint8_t frame[5000];

	(void)state;
	fake_passt();
	bring_up(~0ULL);
	post_rx(2, 1024, NULL);
	make_frame(frame, sizeof(frame), 1);
	peer_record(frame, sizeof(frame));
	pump();
	assert_int_equal(e.n->rx_nbuf, 2);
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(e.n->rx_nbuf, 0);
	assert_int_equal(e.n->rx_len, 0);
	assert_int_equal(used_idx(VNET_RXQ), 0);
	bring_up(~0ULL);
	post_rx(8, 1024, NULL);
	peer_record(frame, 100);
	pump();
	assert_int_equal(new_used(VNET_RXQ), 1);
	assert_int_equal(take_used(VNET_RXQ).len, 112);
}

/* A broken TX ring fails the device; the backend is left alone, and not polled. */
static void test_broken_ring(void **state)
{
	struct vring_avail *a;

	(void)state;
	fake_passt();
	bring_up(~0ULL);
	a = gpa(RING(VNET_TXQ) + 0x1000);
	a->ring[0] = QSIZE + 5;
	a->idx = 1;
	virtio_env_capture_start();
	kick(VNET_TXQ);
	assert_non_null(strstr(virtio_env_capture_end(), "TX queue"));
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(e.n->be_events, 0);
	assert_true(e.n->be_up);
	bring_up(~0ULL);
	assert_int_equal(e.n->be_events, EPOLLIN);
}

/* ---- passt over a path, and passt started by hull ---- */

static char tmpdir[64];

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/hull-net-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
}

static void test_passt_connect(void **state)
{
	struct vnet_config c = { .backend = VNET_PASST };
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	static uint8_t frame[200];
	char path[128];
	int l;

	(void)state;
	make_tmpdir();
	snprintf(path, sizeof(path), "%s/passt.socket", tmpdir);
	c.passt = path;
	/* Nobody listening. */
	virtio_env_capture_start();
	assert_int_equal(create(&c), -ENOENT);
	assert_non_null(strstr(virtio_env_capture_end(), "net passt: connect /tmp/hull-net-"));
	/* A listener: the device connects, frames go both ways. */
	assert_true(strlen(path) < sizeof(a.sun_path));
	memcpy(a.sun_path, path, strlen(path) + 1);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(create(&c), 0);
	e.peer = accept(l, NULL, NULL);
	assert_true(e.peer >= 0);
	bring_up(~0ULL);
	post_rx(1, 2048, NULL);
	make_frame(frame, sizeof(frame), 3);
	peer_record(frame, sizeof(frame));
	pump_until(rx_used_1);
	assert_int_equal(take_used(VNET_RXQ).len, VNET_HDR_LEN + sizeof(frame));
	close(l);
	unlink(path);
	/* A path too long for a Unix socket. */
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	vnet_destroy(e.n);
	e.n = NULL;
	virtio_env_capture_start();
	assert_int_equal(create(&c), -ENAMETOOLONG);
	assert_non_null(strstr(virtio_env_capture_end(), "longer than"));
	rmdir(tmpdir);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* A stand-in passt: logs its arguments and fds, then echoes records until EOF. */
static const char fake_passt_src[] = "#!/usr/bin/python3\n"
				     "import os, sys, signal, time\n"
				     "def is_open(fd):\n"
				     "    try:\n"
				     "        os.fstat(fd)\n"
				     "        return True\n"
				     "    except OSError:\n"
				     "        return False\n"
				     "ignore_term = os.environ.get('FAKE_PASST_IGNORE_TERM')\n"
				     "if ignore_term:\n"
				     "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
				     "fds = [fd for fd in range(3, 1024) if is_open(fd)]\n"
				     "log = os.environ['FAKE_PASST_LOG']\n"
				     "with open(log + '.tmp', 'w') as f:\n"
				     "    f.write(' '.join(sys.argv[1:]) + '\\n')\n"
				     "    f.write(' '.join(str(x) for x in fds) + '\\n')\n"
				     "    f.write(os.readlink('/proc/self/fd/0') + '\\n')\n"
				     "os.rename(log + '.tmp', log)\n"
				     "while ignore_term:\n"
				     "    time.sleep(1)\n"
				     "fd = int(sys.argv[sys.argv.index('--fd') + 1])\n"
				     "def rd(n):\n"
				     "    b = b''\n"
				     "    while len(b) < n:\n"
				     "        c = os.read(fd, n - len(b))\n"
				     "        if not c:\n"
				     "            sys.exit(3)\n"
				     "        b += c\n"
				     "    return b\n"
				     "while True:\n"
				     "    h = rd(4)\n"
				     "    d = rd(int.from_bytes(h, 'big'))\n"
				     "    os.write(fd, h + d)\n";

static bool backend_down(void)
{
	return !e.n->be_up;
}

static bool gone_pid(pid_t pid)
{
	return kill(pid, 0) < 0 && errno == ESRCH;
}

static void test_passt_start(void **state)
{
	struct vnet_config c = { .backend = VNET_PASST };
	static uint8_t frame[300];
	char script[128], logp[128], text[512],
		*old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	struct virtio_net_hdr_v1 h = hdr(0, 0, 0, 0, 0, 0);
	pid_t pid;
	int fd;
	ssize_t r;
	time_t end;

	(void)state;
	make_tmpdir();
	/* Not in PATH: the message says what to install. */
	setenv("PATH", tmpdir, 1);
	virtio_env_capture_start();
	assert_int_equal(create(&c), -ENOENT);
	assert_non_null(strstr(virtio_env_capture_end(),
			       "net passt: passt not found (install the passt package)"));

	snprintf(script, sizeof(script), "%s/passt", tmpdir);
	snprintf(logp, sizeof(logp), "%s/log", tmpdir);
	write_file(script, fake_passt_src, 0755);
	setenv("FAKE_PASST_LOG", logp, 1);
	setenv("PATH", "relative/dir::/nonexistent", 1);
	/* Relative PATH entries are not searched. */
	virtio_env_capture_start();
	assert_int_equal(create(&c), -ENOENT);
	assert_non_null(strstr(virtio_env_capture_end(), "passt not found"));
	{
		char p[200];

		snprintf(p, sizeof(p), "/nonexistent:%s", tmpdir);
		setenv("PATH", p, 1);
	}
	assert_int_equal(create(&c), 0);
	pid = e.n->be.child;
	assert_true(pid > 0);
	bring_up(~0ULL);
	post_rx(1, 2048, NULL);
	make_frame(frame, sizeof(frame), 6);
	post_tx(&h, frame, sizeof(frame), 100);
	kick(VNET_TXQ);
	/* The echo comes back as RX. */
	pump_until(rx_used_1);
	assert_int_equal(take_used(VNET_RXQ).len, VNET_HDR_LEN + sizeof(frame));
	/* passt saw -f -q --fd 3, only fd 3 beyond stdio, stdin /dev/null. */
	fd = open(logp, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	r = read(fd, text, sizeof(text) - 1);
	close(fd);
	assert_true(r > 0);
	text[r] = '\0';
	assert_non_null(strstr(text, "-f -q --fd 3"));
	assert_non_null(strstr(text, "\n3\n/dev/null\n"));
	/* Destroy stops it and reaps it. */
	vnet_destroy(e.n);
	e.n = NULL;
	assert_true(gone_pid(pid));

	/* One that ignores SIGTERM and EOF is killed after the grace. */
	setenv("FAKE_PASST_IGNORE_TERM", "1", 1);
	unlink(logp);
	assert_int_equal(create(&c), 0);
	pid = e.n->be.child;
	/* Its log says its handler is in place. */
	end = time(NULL) + 5;
	while (access(logp, F_OK) && time(NULL) < end)
		usleep(10000);
	virtio_env_capture_start();
	vnet_destroy(e.n);
	e.n = NULL;
	assert_non_null(strstr(virtio_env_capture_end(), "ignored SIGTERM"));
	assert_true(gone_pid(pid));
	unsetenv("FAKE_PASST_IGNORE_TERM");

	/* A passt that exits at once: the device says how it ended, driver up or not. */
	write_file(script, "#!/bin/sh\nexit 4\n", 0755);
	assert_int_equal(create(&c), 0);
	bring_up(~0ULL);
	virtio_env_capture_start();
	pump_until(backend_down);
	assert_non_null(strstr(virtio_env_capture_end(), "passt exited (status 4)"));
	vnet_destroy(e.n);
	e.n = NULL;
	assert_int_equal(create(&c), 0);
	virtio_env_capture_start();
	pump_until(backend_down);
	assert_non_null(strstr(virtio_env_capture_end(), "passt exited (status 4)"));
	vnet_destroy(e.n);
	e.n = NULL;

	unlink(script);
	unlink(logp);
	rmdir(tmpdir);
	if (old) {
		setenv("PATH", old, 1);
		free(old);
	}
	unsetenv("FAKE_PASST_LOG");
}

/* ---- real tap and real passt, in a network namespace of our own ---- */

static int ifreq_ioctl(unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret;

	assert_true(s >= 0);
	ret = ioctl(s, req, ifr);
	close(s);
	return ret;
}

static void if_up(const char *name)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	assert_int_equal(ifreq_ioctl(SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ifreq_ioctl(SIOCSIFFLAGS, &ifr), 0);
}

/* ethtool's legacy get for one feature (ETHTOOL_GTSO, ETHTOOL_GTXCSUM...). */
static uint32_t ethtool_get(const char *name, uint32_t cmd)
{
	struct ethtool_value v = { .cmd = cmd };
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_data = (void *)&v;
	assert_int_equal(ifreq_ioctl(SIOCETHTOOL, &ifr), 0);
	return v.data;
}

static int packet_socket(const char *name)
{
	struct sockaddr_ll a = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));

	assert_true(s >= 0);
	a.sll_ifindex = (int)if_nametoindex(name);
	assert_true(a.sll_ifindex > 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	return s;
}

/* Our frame (ethertype 0x88b5, seed in byte 20) from the packet socket, within 2 s. */
static ssize_t packet_recv(int s, uint8_t *buf, size_t cap)
{
	struct pollfd p = { .fd = s, .events = POLLIN };

	while (poll(&p, 1, 2000) == 1) {
		ssize_t r = recv(s, buf, cap, 0);

		if (r >= 14 && buf[12] == 0x88 && buf[13] == 0xb5)
			return r;
	}
	return -1;
}

static void test_real_tap(void **state)
{
	struct vnet_config c = { .backend = VNET_TAP, .tap = (char *)(uintptr_t) "hulltap0" };
	static uint8_t frame[1000], got[2000];
	struct virtio_net_hdr_v1 h = hdr(0, 0, 0, 0, 0, 0);
	uint64_t g[1];
	int ps;

	(void)state;
	/* Not a tap: a clear message. */
	c.tap = (char *)(uintptr_t) "lo";
	virtio_env_capture_start();
	assert_int_equal(create(&c), -EINVAL);
	assert_non_null(strstr(virtio_env_capture_end(), "net lo: TUNSETIFF: Invalid argument"));
	c.tap = (char *)(uintptr_t) "hulltap0";

	assert_int_equal(create(&c), 0);
	/* This kernel takes every offload we know. */
	assert_int_equal(virtio_drv_offered(&drv), TAP_ALL | VIRTIO_TRANSPORT_FEATURES);
	if_up("hulltap0");
	assert_int_equal(ethtool_get("hulltap0", ETHTOOL_GTSO), 0);
	bring_up(TAP_ALL);
	/* TUNSETOFFLOAD applied: the interface now hands us TSO frames. */
	assert_int_equal(ethtool_get("hulltap0", ETHTOOL_GTSO), 1);
	assert_int_equal(ethtool_get("hulltap0", ETHTOOL_GTXCSUM), 1);
	ps = packet_socket("hulltap0");

	/* Guest -> tap: the frame shows up on the interface. */
	make_frame(frame, sizeof(frame), 11);
	post_tx(&h, frame, sizeof(frame), 300);
	kick(VNET_TXQ);
	assert_int_equal(new_used(VNET_TXQ), 1);
	assert_int_equal(packet_recv(ps, got, sizeof(got)), (ssize_t)sizeof(frame));
	assert_memory_equal(got, frame, sizeof(frame));

	/* Interface -> guest. */
	post_rx(1, 2048, g);
	make_frame(frame, sizeof(frame), 12);
	assert_int_equal(send(ps, frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	pump_until(rx_used_1);
	assert_int_equal(take_used(VNET_RXQ).len, VNET_HDR_LEN + sizeof(frame));
	assert_memory_equal(gmem_ptr(&e.v.mem, g[0] + VNET_HDR_LEN, sizeof(frame)), frame,
			    sizeof(frame));
	assert_int_equal(le16toh(((struct virtio_net_hdr_v1 *)gpa(g[0]))->num_buffers), 1);

	/* A guest without offloads, after a reset: the interface is told. */
	bring_up(F(MRG_RXBUF) | F(MAC));
	assert_int_equal(ethtool_get("hulltap0", ETHTOOL_GTSO), 0);
	assert_int_equal(ethtool_get("hulltap0", ETHTOOL_GTXCSUM), 0);
	/* A GSO frame the kernel refuses is dropped, not fatal. */
	bring_up(TAP_ALL);
	h = hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16);
	post_tx(&h, frame, sizeof(frame), 1000);
	kick(VNET_TXQ);
	assert_int_equal(new_used(VNET_TXQ), 1);
	assert_true(e.n->be_up);
	close(ps);

	/* The interface disappears: the device notices and stops polling it. */
	virtio_env_capture_start();
	assert_int_equal(system("ip link del hulltap0"), 0);
	pump();
	assert_non_null(strstr(virtio_env_capture_end(), "net hulltap0: "));
	assert_false(e.n->be_up);
	assert_int_equal(virtio_env_dispatch(&e.v, 0), 0);
}

/* Put a persistent tap up with an address and a default route: what passt needs to run. */
static void netns_uplink(void)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ifr.ifr_addr;
	struct rtentry rt = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), s;

	assert_true(fd >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "hullup0");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
	assert_int_equal(ioctl(fd, TUNSETPERSIST, 1), 0);
	close(fd);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "hullup0");
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, "10.0.2.15", &sin->sin_addr);
	assert_int_equal(ifreq_ioctl(SIOCSIFADDR, &ifr), 0);
	inet_pton(AF_INET, "255.255.255.0", &sin->sin_addr);
	assert_int_equal(ifreq_ioctl(SIOCSIFNETMASK, &ifr), 0);
	if_up("hullup0");
	((struct sockaddr_in *)(void *)&rt.rt_dst)->sin_family = AF_INET;
	((struct sockaddr_in *)(void *)&rt.rt_genmask)->sin_family = AF_INET;
	sin = (struct sockaddr_in *)(void *)&rt.rt_gateway;
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, "10.0.2.2", &sin->sin_addr);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_int_equal(ioctl(s, SIOCADDRT, &rt), 0);
	close(s);
}

/* hull starts the real passt (Debian's), which answers an ARP request for the gateway. */
static void test_real_passt(void **state)
{
	struct vnet_config c = { .backend = VNET_PASST,
				 .mac_set = true,
				 .mac = { 0x02, 0, 0, 0, 0, 0x15 } };
	struct virtio_net_hdr_v1 h = hdr(0, 0, 0, 0, 0, 0);
	static const uint8_t gw[4] = { 10, 0, 2, 2 }, me[4] = { 10, 0, 2, 15 };
	uint8_t arp[42], *r;
	uint64_t g[1];
	pid_t pid;

	(void)state;
	netns_uplink();
	setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
	assert_int_equal(create(&c), 0);
	pid = e.n->be.child;
	bring_up(~0ULL);
	post_rx(1, 2048, g);
	memset(arp, 0xff, 6);
	memcpy(arp + 6, c.mac, 6);
	memcpy(arp + 12, "\x08\x06\x00\x01\x08\x00\x06\x04\x00\x01", 10);
	memcpy(arp + 22, c.mac, 6);
	memcpy(arp + 28, me, 4);
	memset(arp + 32, 0, 6);
	memcpy(arp + 38, gw, 4);
	post_tx(&h, arp, sizeof(arp), sizeof(arp));
	kick(VNET_TXQ);
	pump_until(rx_used_1);
	assert_true(take_used(VNET_RXQ).len >= VNET_HDR_LEN + 42);
	r = gmem_ptr(&e.v.mem, g[0] + VNET_HDR_LEN, 42);
	assert_memory_equal(r, c.mac, 6);	    /* to us */
	assert_memory_equal(r + 12, "\x08\x06", 2); /* ARP */
	assert_memory_equal(r + 20, "\x00\x02", 2); /* reply */
	assert_memory_equal(r + 28, gw, 4);	    /* from the gateway */
	vnet_destroy(e.n);
	e.n = NULL;
	assert_true(gone_pid(pid));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_tx),
		cmocka_unit_test(test_hdr_tx_exhaustive),
		cmocka_unit_test(test_hdr_rx),
		cmocka_unit_test(test_offloads),
		cmocka_unit_test(test_config),
		cmocka_unit_test_setup_teardown(test_device_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_tap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_aliased, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_tap_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_paused_then_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_passt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_passt_partial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_passt_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_passt_bad_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_passt_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_mrg, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_mrg_too_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_single, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_tap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_chain_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_mid_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passt_connect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passt_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_real_tap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_real_passt, setup, teardown),
	};

	/* The real tap and passt tests get a network namespace of their own (root needed). */
	if (unshare(CLONE_NEWNET)) {
		perror("test_net: unshare(CLONE_NEWNET) (run as root)");
		return 1;
	}
	/* No IPv6 chatter (router solicitations, MLD) on the test's interfaces. */
	{
		int fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY | O_CLOEXEC);

		if (fd >= 0) {
			if (write(fd, "1", 1) != 1)
				perror("test_net: disable_ipv6");
			close(fd);
		}
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
