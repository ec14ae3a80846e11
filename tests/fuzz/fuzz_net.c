/* libFuzzer target: a hostile driver's TX and RX rings against virtio-net, both backends. */
#include <endian.h>
#include <errno.h>
#include <linux/virtio_mmio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/fuzz/fuzz_dev.h"
#include "virtio/net/internal.h"

/*
 * Input: an 8-byte header, then operations.
 *   header: [0] bit 0 the backend (0 a tap: SOCK_SEQPACKET, headers with
 *   offloads; 1 passt: SOCK_STREAM, framed, no offloads), bit 1 small
 *   socket buffers (TX hits EAGAIN and partial writes); [1] queue sizes
 *   1 << (b % 9) (low nibble RX, high nibble TX); [2..5] le32 mask of the
 *   offered feature bits 0..31 to accept; [6] bit 0 EVENT_IDX, bit 1
 *   INDIRECT_DESC; [7] pages of the two rings (low nibble RX, high TX).
 *   ops: 0 RAM write: le16 offset, one byte of length, that many bytes
 *        1 kick TX and run the loop
 *        2 the peer sends: le16 length, that many bytes (a tap
 *          datagram with whatever vnet header, or raw stream bytes for passt)
 *        3 kick RX and run the loop
 *        4 avail->idx of queue (b & 1) += b >> 1 (the ring entries are RAM)
 *        5 reset and bring the driver up again
 *        6 the peer reads what the device sent, checking it
 *        7 run the loop only
 * What the device sends must be well-formed whatever the guest did: every
 * tap datagram is a checked header and a 14..VNET_FRAME_MAX byte frame, the
 * passt stream is whole records of such frames.
 */

#define RAM_GPA 0x10000ULL
#define RAM_SIZE 0x10000ULL
#define BASE 0xd0000000ULL
#define MAX_OPS 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct virtio_env env;
static struct vnet *n;
static int peer = -1;
static bool passt;
static uint64_t features;
/* The passt stream as the peer parses it: bytes of the current record seen, its length. */
static size_t rec_got;
static uint32_t rec_len;
static uint8_t rec_prefix[4];
static uint8_t rec_hdr[VNET_HDR_LEN];

static void init(void)
{
	if (virtio_env_init(&env, RAM_GPA, RAM_SIZE, fuzz_no_irq, NULL))
		abort();
}

static void wr(uint64_t off, uint32_t v)
{
	virtio_env_wr(&n->dev, off, v);
}

static uint32_t rd(uint64_t off)
{
	return virtio_env_rd(&n->dev, off);
}

static const struct virtio_drv drv = { rd, wr };

/* The socket playing a tap takes every offload. */
static int fake_offload(int fd, unsigned int tun)
{
	(void)fd;
	(void)tun;
	return 0;
}

static void create(const uint8_t *h)
{
	struct vnet_config c = { .backend = VNET_PASST,
				 .mac_set = true,
				 .mac = { 2, 0, 0, 0, 0, 1 } };
	struct vnet_be be;
	int sv[2], small = 4096;

	passt = h[0] & 1;
	if (socketpair(AF_UNIX, (passt ? SOCK_STREAM : SOCK_SEQPACKET) | SOCK_CLOEXEC, 0, sv))
		abort();
	if (passt ? vnet_passt_fd(&be, sv[0]) : vnet_tap_fd(&be, sv[0], "fuzz", fake_offload))
		abort();
	if (!passt) {
		c.backend = VNET_TAP;
		c.tap = (char *)(uintptr_t) "fuzz";
	}
	if (h[0] & 2)
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	bus_init(&env.mmio, "mmio");
	if (vnet_create_be(&c, 0, &be, &env.host, &n) ||
	    virtio_mmio_attach(&n->dev, &env.host, BASE, 5))
		abort();
	peer = sv[1];
	rec_got = 0;
}

static void destroy(void)
{
	vnet_destroy(n);
	n = NULL;
	close(peer);
	peer = -1;
}

static uint64_t ring(uint8_t page, unsigned int area)
{
	return RAM_GPA + (uint64_t)(page % 8) * 0x1000 + area * 0x800;
}

static void bring_up(const uint8_t *h)
{
	uint64_t f = fuzz_ring_features(h[6]) | (uint64_t)h[2] | (uint64_t)h[3] << 8 |
		     (uint64_t)h[4] << 16 | (uint64_t)h[5] << 24;
	unsigned int q;

	wr(VIRTIO_MMIO_STATUS, 0);
	virtio_drv_negotiate(&drv, f);
	features = n->dev.features; /* the offered ones of f */
	for (q = 0; q < 2; q++) {
		uint8_t page = q ? h[7] >> 4 : h[7] & 15;
		uint8_t exp = q ? h[1] >> 4 : h[1] & 15;

		/* desc (up to 4 KiB) in its page; avail and used in the next one. */
		virtio_drv_queue(&drv, q, 1U << (exp % 9), ring(page, 0),
				 ring((uint8_t)(page + 1), 0), ring((uint8_t)(page + 1), 1));
		wr(VIRTIO_MMIO_QUEUE_READY, 1);
	}
	virtio_drv_driver_ok(&drv);
}

/* As the event loop would, bounded: the device must get quiet by itself or keep yielding. */
static void run_loop(void)
{
	fuzz_run_loop(&env.loop, 16, 8);
}

static void check_frame(const uint8_t *hdr, size_t len)
{
	const char *why;
	struct virtio_net_hdr_v1 h;

	memcpy(&h, hdr, sizeof(h));
	if (len < VNET_ETH_MIN || len > VNET_FRAME_MAX)
		abort();
	if (passt ? vnet_hdr_check_plain(&h, len, &why)
		  : vnet_hdr_check_tx(&h, len, features, &why))
		abort();
}

/* Read what the device sent; everything must be well-formed. */
static void drain(void)
{
	static uint8_t buf[VNET_HDR_LEN + VNET_FRAME_MAX + 16];
	ssize_t r;

	if (!passt) {
		while ((r = recv(peer, buf, sizeof(buf), MSG_DONTWAIT)) >= 0) {
			if ((size_t)r < VNET_HDR_LEN)
				abort();
			check_frame(buf, (size_t)r - VNET_HDR_LEN);
		}
		return;
	}
	while ((r = recv(peer, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		const uint8_t *p = buf;
		size_t left = (size_t)r, k;

		while (left) {
			if (rec_got < 4) {
				rec_prefix[rec_got++] = *p++;
				left--;
				if (rec_got == 4) {
					rec_len = be32toh(
						*(const uint32_t *)(const void *)rec_prefix);
					memset(rec_hdr, 0, sizeof(rec_hdr));
					check_frame(rec_hdr, rec_len);
				}
				continue;
			}
			k = rec_len - (rec_got - 4);
			k = k < left ? k : left;
			p += k;
			left -= k;
			rec_got += k;
			if (rec_got - 4 == rec_len)
				rec_got = 0;
		}
	}
}

static void kick(unsigned int q)
{
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, q);
	run_loop();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 8, *end = data + size;
	unsigned int ops = 0;

	if (!env.ram)
		init();
	if (size < 8)
		return 0;
	memset(env.ram, 0, RAM_SIZE);
	create(data);
	bring_up(data);
	while (p < end && ops++ < MAX_OPS) {
		uint8_t op = *p++ % 8;
		uint16_t len;
		struct vring_avail *avail;

		switch (op) {
		case 0:
			p = fuzz_ram_write(env.ram, RAM_SIZE, p, end);
			if (!p)
				goto out;
			break;
		case 1:
			kick(VNET_TXQ);
			break;
		case 2:
			if (end - p < 2)
				goto out;
			len = (uint16_t)(p[0] | p[1] << 8);
			p += 2;
			if (len > end - p)
				len = (uint16_t)(end - p);
			if (len && send(peer, p, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
			    errno != EAGAIN)
				abort();
			p += len;
			run_loop();
			break;
		case 3:
			kick(VNET_RXQ);
			break;
		case 4:
			if (end - p < 1)
				goto out;
			avail = gmem_ptr(
				&env.mem,
				ring((uint8_t)((*p & 1 ? data[7] >> 4 : data[7] & 15) + 1), 0),
				sizeof(*avail));
			avail->idx = (uint16_t)(avail->idx + (*p >> 1));
			p++;
			break;
		case 5:
			bring_up(data);
			break;
		case 6:
			drain();
			break;
		case 7:
			run_loop();
			break;
		}
	}
out:
	kick(VNET_TXQ);
	kick(VNET_RXQ);
	drain();
	/* A reset leaves no chain held and no frame waiting; the stream state may stay. */
	wr(VIRTIO_MMIO_STATUS, 0);
	if (n->tx_held || n->rx_len || n->rx_nbuf || n->be_events & EPOLLIN)
		abort();
	run_loop();
	drain();
	destroy();
	return 0;
}
