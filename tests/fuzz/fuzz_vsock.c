/* libFuzzer target: a hostile driver's rings and packets against virtio-vsock, with a Unix socket
 * side. */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <linux/virtio_mmio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/fuzz/fuzz_dev.h"
#include "virtio/vsock/internal.h"

/*
 * Input: a 4-byte header, then operations.
 *   Ports are chosen by selector: 7, 8, 9, 1000, 1001, the host port hull picked last, -1, 5.
 *   header: [0] queue size 1 << (b % 9) for all three queues; [1] bit 0 EVENT_IDX, bit 1
 *   INDIRECT_DESC, bit 2 RX buffers split header/payload; [2] buf_alloc the crafted packets
 *   advertise (b << 10); [3] unused.
 *   ops (first byte % 14):
 *    0 RAM write: le16 offset, one byte of length, that many bytes
 *    1 kick TX; 2 kick RX; 3 kick the event queue (each then runs the loop, bounded)
 *    4 make b chains available on queue (next byte % 3) whatever the rings hold
 *    5 a crafted TX packet: op, port selectors, flags, le16 len, layout byte, then
 *      payload bytes (up to len, the rest zero); the header's len may lie (layout bit 7)
 *    6 post b % 32 + 1 RX buffers of (next byte) * 32 bytes
 *    7 host program connects through PATH and writes "CONNECT <port>\n" (port selector)
 *    8 host program c writes b bytes; 9 host program c shuts down/closes
 *   10 the program at PATH_9 accepts what waits and writes a byte or closes
 *   11 transport reset; 12 guest reset and bring-up again
 *   13 hull connects to guest port (selector) in-process, or sends on such a connection
 * Every input ends with a guest reset; then every host socket hull held must be closed.
 */

#define RAM_GPA 0x10000ULL
#define RAM_SIZE 0x40000ULL
#define BASE 0xd0000000ULL
#define RING(q) (RAM_GPA + (uint64_t)(q)*0x2000)
#define DESC(q) RING(q)
#define AVAIL(q) (RING(q) + 0x1000)
#define USED(q) (RING(q) + 0x1400)
#define RXBUF (RAM_GPA + 0x8000) /* 512 bytes per descriptor index */
#define TXAREA (RAM_GPA + 0x28000)
#define TXAREA_SIZE 0x18000
#define MAX_OPS 256
#define MAX_CLIENTS 6
#define CID 3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct virtio_env env;
static struct vsock *v;
static char dir[64], path[128], path9[140];
static int lfd9 = -1, baseline_fds;
static int clients[MAX_CLIENTS];
static uint16_t qsize, next_tx;
static uint32_t guest_buf;
static bool rx_split;
static struct vsock_ep *eps[4];
static const uint32_t ports[] = { 7, 8, 9, 1000, 1001, 0, 0xffffffff, 5 };

/* A port by selector; 5 is the host port hull picked last, so its REQUESTs can be answered. */
static uint32_t port(uint8_t sel)
{
	return (sel & 7) == 5 ? v->p.next_port - 1 : ports[sel & 7];
}

/* In-process endpoints: an echo on port 7, a sink on 8, and what hull connects. */
static size_t echo_recv(struct vsock_ep *ep, void *opaque, const struct iovec *iov, unsigned int n,
			size_t len)
{
	size_t done = 0;
	unsigned int i;

	(void)len;
	for (i = 0; i < n; i++) {
		ssize_t s = opaque ? vsock_ep_send(ep, iov[i].iov_base, iov[i].iov_len)
				   : (ssize_t)iov[i].iov_len;

		if (s <= 0)
			break;
		done += (size_t)s;
		if ((size_t)s < iov[i].iov_len)
			break;
	}
	return done;
}

static void echo_writable(struct vsock_ep *ep, void *opaque)
{
	(void)opaque;
	vsock_ep_recv_ready(ep);
}

static void forget(struct vsock_ep *ep)
{
	unsigned int i;

	for (i = 0; i < 4; i++)
		if (eps[i] == ep)
			eps[i] = NULL;
}

static void echo_shutdown(struct vsock_ep *ep, void *opaque, unsigned int flags)
{
	(void)opaque;
	if (flags & VIRTIO_VSOCK_SHUTDOWN_SEND)
		vsock_ep_shutdown(ep, SHUT_WR);
}

static void echo_closed(struct vsock_ep *ep, void *opaque, int err)
{
	(void)opaque;
	(void)err;
	forget(ep);
}

static const struct vsock_ep_ops echo_ops = {
	.recv = echo_recv,
	.shutdown = echo_shutdown,
	.writable = echo_writable,
	.closed = echo_closed,
};

static int accept_echo(void *opaque, struct vsock_ep *ep, uint32_t gport,
		       const struct vsock_ep_ops **ops, void **ep_opaque)
{
	(void)ep;
	(void)gport;
	*ops = &echo_ops;
	*ep_opaque = opaque;
	return 0;
}

/* Sockets and eventfds open (what hull would leak); the sanitizers' own pipes come and go. */
static int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	char link[64], target[64];
	int n = 0;
	ssize_t len;

	if (!d)
		abort();
	while ((de = readdir(d))) {
		snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (!strncmp(target, "socket:", 7) || strstr(target, "eventfd"))
			n++;
	}
	closedir(d);
	return n;
}

static void cleanup(void)
{
	vsock_destroy(v);
	if (lfd9 >= 0)
		close(lfd9);
	unlink(path9);
	rmdir(dir);
}

static void init(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vsock_config c = { .cid = CID };
	unsigned int i;

	snprintf(dir, sizeof(dir), "/tmp/hull-fuzz-vsock-XXXXXX");
	if (!mkdtemp(dir) || virtio_env_init(&env, RAM_GPA, RAM_SIZE, fuzz_no_irq, NULL))
		abort();
	snprintf(path, sizeof(path), "%s/v.sock", dir);
	snprintf(path9, sizeof(path9), "%s_9", path);
	c.uds = path;
	if (vsock_create(&c, &env.host, &v) || virtio_mmio_attach(&v->dev, &env.host, BASE, 5) ||
	    vsock_listen(v, 7, accept_echo, v) ||
	    vsock_listen(v, 8, accept_echo, NULL))
		abort();
	/* A host program listening for guest connects to port 9. */
	lfd9 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path9);
	if (lfd9 < 0 || bind(lfd9, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd9, 64))
		abort();
	for (i = 0; i < MAX_CLIENTS; i++)
		clients[i] = -1;
	baseline_fds = fd_count();
	atexit(cleanup);
}

static void wr(uint64_t off, uint32_t val)
{
	virtio_env_wr(&v->dev, off, val);
}

static uint32_t rd(uint64_t off)
{
	return virtio_env_rd(&v->dev, off);
}

static const struct virtio_drv drv = { rd, wr };

/* The event loop, as hull runs it, for a bounded number of rounds. */
static void run(void)
{
	fuzz_run_loop(&env.loop, 64, 16);
}

static void bring_up(const uint8_t *h)
{
	uint64_t f = fuzz_ring_features(h[1]);
	unsigned int q;

	qsize = (uint16_t)(1U << (h[0] % 9));
	rx_split = h[1] & 4;
	guest_buf = (uint32_t)h[2] << 10;
	next_tx = 0;
	wr(VIRTIO_MMIO_STATUS, 0);
	run();
	memset(env.ram, 0, RING(3) - RAM_GPA);
	virtio_drv_negotiate(&drv, f);
	for (q = 0; q < 3; q++) {
		virtio_drv_queue(&drv, q, qsize, DESC(q), AVAIL(q), USED(q));
		wr(VIRTIO_MMIO_QUEUE_READY, 1);
	}
	virtio_drv_driver_ok(&drv);
	run();
}

static void kick(unsigned int q)
{
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, q);
	run();
}

static struct vring_avail *avail(unsigned int q)
{
	return gmem_ptr(&env.mem, AVAIL(q), sizeof(struct vring_avail) + 2u * qsize);
}

/* Descriptors d[0..n) as one chain, made available on q. */
static void publish(unsigned int q, uint16_t first, const uint64_t *addr, const uint32_t *len,
		    unsigned int n, bool write)
{
	struct vring_desc *desc = gmem_ptr(&env.mem, DESC(q), 16u * qsize);
	struct vring_avail *a = avail(q);
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t k = (uint16_t)((first + i) % qsize);

		desc[k] = (struct vring_desc){
			.addr = addr[i],
			.len = len[i],
			.flags = (uint16_t)((write ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = (uint16_t)((first + i + 1) % qsize),
		};
	}
	a->ring[a->idx % qsize] = (uint16_t)(first % qsize);
	__atomic_store_n(&a->idx, (uint16_t)(a->idx + 1), __ATOMIC_RELEASE);
}

/* A well-formed (or nearly) TX packet, so deeper states are reached than random RAM gives. */
static const uint8_t *crafted_tx(const uint8_t *p, const uint8_t *end)
{
	struct virtio_vsock_hdr h;
	uint64_t addr[3];
	uint32_t len[3], plen;
	uint8_t layout;
	uint64_t at;
	unsigned int n = 0;

	if (end - p < 7)
		return end;
	plen = (uint32_t)(p[4] | p[5] << 8) % 9000;
	layout = p[6];
	h = (struct virtio_vsock_hdr){
		.src_cid = htole64(CID),
		.dst_cid = htole64(VSOCK_HOST_CID),
		.src_port = htole32(port(p[1])),
		.dst_port = htole32(port(p[2])),
		.len = htole32(layout & 0x80 ? plen + (p[3] & 0xf) : plen),
		.type = htole16(VIRTIO_VSOCK_TYPE_STREAM),
		.op = htole16((uint16_t)(p[0] % 9)),
		.flags = htole32(p[3] >> 4),
		.buf_alloc = htole32(guest_buf),
		.fwd_cnt = htole32((uint32_t)p[3] << 12),
	};
	p += 7;
	if (plen + sizeof(h) > TXAREA_SIZE / 4)
		return p;
	if (next_tx + plen + sizeof(h) > TXAREA_SIZE)
		next_tx = 0;
	at = TXAREA + next_tx;
	memcpy(env.ram + (at - RAM_GPA), &h, sizeof(h));
	if (plen) {
		size_t have = (size_t)(end - p) < plen ? (size_t)(end - p) : plen;

		memcpy(env.ram + (at - RAM_GPA) + sizeof(h), p, have);
		memset(env.ram + (at - RAM_GPA) + sizeof(h) + have, 0, plen - have);
		p += have;
	}
	next_tx = (uint16_t)(next_tx + ((plen + sizeof(h) + 15) & ~15u));
	/* Header and payload together, split after the header, or split inside the header. */
	switch (layout % 3) {
	case 0:
		addr[n] = at;
		len[n++] = (uint32_t)sizeof(h) + plen;
		break;
	case 1:
		addr[n] = at;
		len[n++] = (uint32_t)sizeof(h);
		if (plen) {
			addr[n] = at + sizeof(h);
			len[n++] = plen;
		}
		break;
	default:
		addr[n] = at;
		len[n++] = 17;
		addr[n] = at + 17;
		len[n++] = (uint32_t)sizeof(h) - 17 + plen / 2;
		if (plen - plen / 2) {
			addr[n] = at + sizeof(h) + plen / 2;
			len[n++] = plen - plen / 2;
		}
		break;
	}
	if (n > qsize)
		return p;
	publish(1, (uint16_t)(avail(1)->idx * 3), addr, len, n, false);
	kick(1);
	return p;
}

static void post_rx(unsigned int count, unsigned int size)
{
	unsigned int i;

	if (size < 8)
		size = 8;
	if (size > 512)
		size = 512;
	for (i = 0; i < count; i++) {
		uint16_t first = (uint16_t)(avail(0)->idx * (rx_split ? 2 : 1));
		uint64_t addr[2] = { RXBUF + (uint64_t)(first % qsize) * 512,
				     RXBUF + (uint64_t)((first + 1) % qsize) * 512 };
		uint32_t len[2] = { size, size };

		if (rx_split && qsize >= 2) {
			len[0] = (uint32_t)sizeof(struct virtio_vsock_hdr);
			publish(0, first, addr, len, 2, true);
		} else {
			publish(0, first, addr, len, 1, true);
		}
	}
	kick(0);
}

static void host_connect(uint8_t sel)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	unsigned int i;
	char line[40];
	int fd, n;

	for (i = 0; i < MAX_CLIENTS && clients[i] >= 0; i++)
		;
	if (i == MAX_CLIENTS)
		return;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	n = snprintf(line, sizeof(line), sel & 8 ? "CONNECT x%u\n" : "CONNECT %u\n", port(sel));
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL) < 0) {
		close(fd);
		return;
	}
	clients[i] = fd;
	run();
}

static void drain(int fd)
{
	char buf[4096];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 4, *end = data + size;
	unsigned int ops = 0, i;
	uint8_t buf[256];
	int fd;

	if (!v)
		init();
	if (size < 4)
		return 0;
	memset(env.ram, 0, RAM_SIZE);
	bring_up(data);
	while (p < end && ops++ < MAX_OPS) {
		uint8_t op = *p++ % 14;
		uint16_t n;

		switch (op) {
		case 0:
			p = fuzz_ram_write(env.ram, RAM_SIZE, p, end);
			if (!p)
				goto done;
			break;
		case 1:
		case 2:
		case 3:
			kick(op == 1 ? 1 : op == 2 ? 0 : 2);
			break;
		case 4:
			if (end - p < 2)
				goto done;
			{
				struct vring_avail *a = avail(p[0] % 3);

				a->idx = (uint16_t)(a->idx + p[1]);
			}
			p += 2;
			break;
		case 5:
			p = crafted_tx(p, end);
			break;
		case 6:
			if (end - p < 2)
				goto done;
			post_rx(p[0] % 32 + 1, (unsigned int)p[1] * 32);
			p += 2;
			break;
		case 7:
			if (end - p < 1)
				goto done;
			host_connect(*p++);
			break;
		case 8:
			if (end - p < 2)
				goto done;
			fd = clients[p[0] % MAX_CLIENTS];
			n = p[1];
			p += 2;
			if (n > end - p)
				n = (uint16_t)(end - p);
			if (fd >= 0 && send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				drain(fd);
			p += n;
			run();
			break;
		case 9:
			if (end - p < 1)
				goto done;
			i = *p % MAX_CLIENTS;
			if (clients[i] >= 0) {
				drain(clients[i]);
				if (*p & 0x80) {
					close(clients[i]);
					clients[i] = -1;
				} else {
					shutdown(clients[i], SHUT_WR);
				}
			}
			p++;
			run();
			break;
		case 10:
			while ((fd = accept4(lfd9, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
				if (end - p > 0 && (*p & 1))
					(void)!send(fd, "z", 1, MSG_NOSIGNAL);
				close(fd);
			}
			run();
			break;
		case 11:
			vsock_transport_reset(v);
			run();
			break;
		case 12:
			bring_up(data);
			break;
		case 13:
			if (end - p < 1)
				goto done;
			i = *p & 3;
			if (!eps[i]) {
				if (!vsock_connect(v, port((uint8_t)(*p >> 2)), &echo_ops, NULL,
						   &eps[i]))
					run();
			} else {
				memset(buf, *p, sizeof(buf));
				if ((*p >> 2) & 1)
					vsock_ep_send(eps[i], buf, (*p >> 3) + 1);
				else if ((*p >> 2) & 2)
					vsock_ep_shutdown(eps[i], SHUT_WR);
				else
					vsock_ep_close(eps[i]);
				if (!((*p >> 2) & 3))
					eps[i] = NULL;
				run();
			}
			p++;
			break;
		}
		/* The device works or failed; the contract holds either way. */
		if (v->p.nconns + v->p.reserved > VSOCK_MAX_CONNS || v->rx_n > VSOCK_RX_BATCH)
			abort();
	}
done:
	/* A guest reset drops everything: every host socket hull held is closed. */
	for (i = 0; i < MAX_CLIENTS; i++) {
		if (clients[i] >= 0)
			close(clients[i]);
		clients[i] = -1;
	}
	while ((fd = accept4(lfd9, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(fd);
	wr(VIRTIO_MMIO_STATUS, 0);
	run();
	run();
	for (i = 0; i < 4; i++)
		if (eps[i])
			abort(); /* closed() told every in-process endpoint */
	if (v->p.nconns || v->p.reserved || rd(VIRTIO_MMIO_STATUS) || fd_count() != baseline_fds) {
		fprintf(stderr,
			"after reset: %u connections, %u handshakes, status %u, %d fds (%d)\n",
			v->p.nconns, v->p.reserved, rd(VIRTIO_MMIO_STATUS), fd_count(),
			baseline_fds);
		abort();
	}
	return 0;
}
