/* Unit tests for the 8250 UART (transmit buffer, receive FIFO, interrupts, DLAB, loopback) and
 * the console that writes its output to stdout. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "devices/devices.h"
#include "tests/unit/virtio_env.h"
#include "vmm/vm.h"

#define THR 0
#define RBR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

struct fixture {
	struct serial s;
	int tx_fd;
	int room_fd;
	int level;          /* last level reported for our irq */
	unsigned int edges; /* number of irq callbacks */
	unsigned int wrong_irq;
	unsigned int outputs; /* DEV_OUTPUT events */
};

static void fake_irq(void *opaque, unsigned int irq, int level)
{
	struct fixture *fx = opaque;

	if (irq != 4)
		fx->wrong_irq++;
	fx->level = level;
	fx->edges++;
}

static void fake_event(void *opaque, enum dev_event ev)
{
	struct fixture *fx = opaque;

	if (ev != DEV_OUTPUT)
		fail_msg("the UART raised VM event %d", ev);
	fx->outputs++;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct dev_host host = { .irq = fake_irq, .event = fake_event };

	if (!fx)
		return -1;
	fx->tx_fd = eventfd(0, EFD_NONBLOCK);
	fx->room_fd = eventfd(0, EFD_NONBLOCK);
	if (fx->tx_fd < 0 || fx->room_fd < 0)
		return -1;
	host.opaque = fx;
	serial_init(&fx->s, 4, fx->tx_fd, fx->room_fd, &host);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	alarm(0); /* a console test that failed early leaves its alarm behind */
	serial_destroy(&fx->s);
	close(fx->tx_fd);
	close(fx->room_fd);
	free(fx);
	return 0;
}

static uint8_t rd(struct fixture *fx, uint64_t off)
{
	uint8_t v[1] = { 0x5a };

	serial_ops.read(&fx->s, off, v, 1);
	return v[0];
}

static void wr(struct fixture *fx, uint64_t off, uint8_t v)
{
	serial_ops.write(&fx->s, off, &v, 1);
}

/* Take up to cap bytes of the UART's waiting output, as the console does. */
static ssize_t take_output(struct fixture *fx, uint8_t *buf, size_t cap)
{
	struct iovec iov[2];
	unsigned int i, n = serial_tx_peek(&fx->s, iov);
	size_t got = 0;

	for (i = 0; i < n && got < cap; i++) {
		size_t k = iov[i].iov_len < cap - got ? iov[i].iov_len : cap - got;

		memcpy(buf + got, iov[i].iov_base, k);
		got += k;
	}
	serial_tx_consume(&fx->s, got);
	return (ssize_t)got;
}

static bool room_signalled(struct fixture *fx)
{
	eventfd_t v = 0;

	return eventfd_read(fx->room_fd, &v) == 0 && v > 0;
}

static void test_transmit(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[16];

	assert_int_equal(rd(fx, LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
	assert_int_equal(rd(fx, LSR) & LSR_DR, 0);
	assert_int_equal(fx->outputs, 0);
	wr(fx, THR, 'h');
	/* The first byte is a milestone of the boot (--stats): told once, not per byte. */
	assert_int_equal(fx->outputs, 1);
	wr(fx, THR, 'i');
	wr(fx, THR, '\n');
	assert_int_equal(fx->outputs, 1);
	assert_int_equal(take_output(fx, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "hi\n", 3);
	/* With room left in the buffer, the transmitter is empty again at once. */
	assert_int_equal(rd(fx, LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
	/* Reading RBR with nothing received gives nothing and does not transmit. */
	assert_int_equal(rd(fx, RBR), 0);
	assert_int_equal(take_output(fx, buf, sizeof(buf)), 0);
	assert_int_equal(fx->edges, 0); /* no interrupts enabled */
}

static bool tx_signalled(struct fixture *fx)
{
	eventfd_t v = 0;

	return eventfd_read(fx->tx_fd, &v) == 0 && v > 0;
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 13 + (i >> 8));
}

/* Write n bytes of pattern() from index `from` through THR, as a guest ignoring THRE would. */
static void put(struct fixture *fx, size_t from, size_t n)
{
	size_t i;

	for (i = from; i < from + n; i++)
		wr(fx, THR, pattern(i));
}

/* Take n bytes of output and check they are pattern() from index `from`. */
static void take_and_check(struct fixture *fx, size_t from, size_t n)
{
	uint8_t *buf = malloc(n);
	size_t i;

	assert_non_null(buf);
	assert_int_equal(take_output(fx, buf, n), n);
	for (i = 0; i < n; i++) {
		if (buf[i] != pattern(from + i))
			fail_msg("output byte %zu: 0x%02x, want 0x%02x", from + i, buf[i],
				 pattern(from + i));
	}
	free(buf);
}

static size_t waiting(struct fixture *fx)
{
	size_t n;
	uint64_t d;

	serial_tx_stats(&fx->s, &n, &d);
	return n;
}

static uint64_t dropped(struct fixture *fx)
{
	size_t n;
	uint64_t d;

	serial_tx_stats(&fx->s, &n, &d);
	return d;
}

static bool thre(struct fixture *fx)
{
	uint8_t v = rd(fx, LSR);

	/* THRE and TEMT move together: a buffered byte has left the UART for the guest. */
	assert_int_equal(!!(v & LSR_THRE), !!(v & LSR_TEMT));
	return v & LSR_THRE;
}

static void test_tx_buffer_fills(void **state)
{
	struct fixture *fx = *state;
	const size_t busy = SERIAL_TX_BUF - SERIAL_TX_FIFO + 1; /* first fill that leaves < 16 */
	struct iovec iov[2];

	/* The console is woken once, when output starts waiting, not per byte. */
	assert_false(tx_signalled(fx));
	put(fx, 0, 1);
	assert_true(tx_signalled(fx));
	put(fx, 1, 100);
	assert_false(tx_signalled(fx));
	/* THRE stays set while a whole FIFO (16 bytes) still fits. */
	put(fx, 101, busy - 1 - 101);
	assert_true(thre(fx));
	put(fx, busy - 1, 1);
	assert_false(thre(fx));
	assert_int_equal(dropped(fx), 0);
	/* A driver that writes anyway fills the rest; beyond that, bytes are dropped, counted. */
	put(fx, busy, SERIAL_TX_BUF - busy);
	assert_int_equal(dropped(fx), 0);
	put(fx, SERIAL_TX_BUF, 1000);
	assert_int_equal(dropped(fx), 1000);
	assert_false(thre(fx));
	assert_int_equal(serial_tx_peek(&fx->s, iov), 1);
	assert_int_equal(iov[0].iov_len, SERIAL_TX_BUF);
	/* What was kept comes out in order; the dropped bytes are gone. */
	take_and_check(fx, 0, SERIAL_TX_BUF);
	assert_true(thre(fx));
	assert_int_equal(serial_tx_peek(&fx->s, iov), 0);
	assert_int_equal(waiting(fx), 0);
	assert_int_equal(fx->edges, 0); /* no interrupts enabled */
}

static void test_tx_wraps(void **state)
{
	struct fixture *fx = *state;
	struct iovec iov[2];

	put(fx, 0, SERIAL_TX_BUF - 100);
	take_and_check(fx, 0, SERIAL_TX_BUF - 200);
	/* 100 bytes wait at the end of the ring; 300 more wrap around to its start. */
	put(fx, SERIAL_TX_BUF - 100, 300);
	assert_int_equal(serial_tx_peek(&fx->s, iov), 2);
	assert_int_equal(iov[0].iov_len, 200);
	assert_int_equal(iov[1].iov_len, 200);
	/* A partial write across the wrap point. */
	take_and_check(fx, SERIAL_TX_BUF - 200, 250);
	assert_int_equal(serial_tx_peek(&fx->s, iov), 1);
	assert_int_equal(iov[0].iov_len, 150);
	take_and_check(fx, SERIAL_TX_BUF + 50, 150);
	/* Emptied: the next output starts in one piece at the start again. */
	put(fx, 0, 10);
	assert_int_equal(serial_tx_peek(&fx->s, iov), 1);
	assert_ptr_equal(iov[0].iov_base, fx->s.tx);
	/* Consuming more than waits is clamped. */
	serial_tx_consume(&fx->s, 1000);
	assert_int_equal(serial_tx_peek(&fx->s, iov), 0);
	assert_true(thre(fx));
}

static void test_tx_thri_after_drain(void **state)
{
	struct fixture *fx = *state;
	const size_t busy = SERIAL_TX_BUF - SERIAL_TX_FIFO + 1;

	wr(fx, IER, 0x02);
	assert_int_equal(rd(fx, IIR) & 0x0f, 0x02);
	assert_int_equal(fx->level, 0);
	put(fx, 0, busy);
	/* The last write left no FIFO's worth of room: THRI is not re-armed. */
	assert_false(thre(fx));
	assert_int_equal(fx->level, 0);
	assert_int_equal(rd(fx, IIR) & 0x0f, 0x01);
	/* Disabling and enabling THRI while busy does not raise it either. */
	wr(fx, IER, 0x00);
	wr(fx, IER, 0x02);
	assert_int_equal(fx->level, 0);
	put(fx, busy, SERIAL_TX_BUF - busy);
	/* Freeing less than a FIFO's worth keeps the guest waiting. */
	take_and_check(fx, 0, SERIAL_TX_FIFO - 1);
	assert_false(thre(fx));
	assert_int_equal(fx->level, 0);
	/* Enough room again: THRE is back and THRI raised. */
	take_and_check(fx, SERIAL_TX_FIFO - 1, 1);
	assert_true(thre(fx));
	assert_int_equal(fx->level, 1);
	assert_int_equal(rd(fx, IIR) & 0x0f, 0x02);
	assert_int_equal(fx->level, 0);
	/* More room does not raise it again. */
	take_and_check(fx, SERIAL_TX_FIFO, 100);
	assert_int_equal(fx->level, 0);
	assert_int_equal(fx->wrong_irq, 0);
}

static void test_tx_discard(void **state)
{
	struct fixture *fx = *state;
	struct iovec iov[2];

	wr(fx, IER, 0x02);
	(void)rd(fx, IIR);
	put(fx, 0, SERIAL_TX_BUF + 5);
	assert_false(thre(fx));
	assert_true(tx_signalled(fx));
	/* stdout is gone: the buffer empties, THRE returns with its interrupt... */
	serial_tx_discard(&fx->s);
	assert_true(thre(fx));
	assert_int_equal(fx->level, 1);
	assert_int_equal(rd(fx, IIR) & 0x0f, 0x02);
	/* ...and from now on output is dropped without waking the console or waiting. */
	put(fx, 0, SERIAL_TX_BUF * 2);
	assert_true(thre(fx));
	assert_int_equal(serial_tx_peek(&fx->s, iov), 0);
	assert_false(tx_signalled(fx));
	assert_int_equal(dropped(fx), 5);
	/* Loopback still works. */
	wr(fx, MCR, 0x1a);
	wr(fx, THR, 'q');
	assert_int_equal(rd(fx, RBR), 'q');
}

static void test_loopback_when_full(void **state)
{
	struct fixture *fx = *state;

	put(fx, 0, SERIAL_TX_BUF);
	assert_false(thre(fx));
	/* In loopback the transmitter feeds the receiver: it is never busy. */
	wr(fx, MCR, 0x1a);
	assert_true(thre(fx));
	wr(fx, THR, 'l');
	assert_int_equal(rd(fx, RBR), 'l');
	wr(fx, MCR, 0x0a);
	assert_false(thre(fx));
	take_and_check(fx, 0, SERIAL_TX_BUF);
}

static void test_dlab(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[4];

	wr(fx, IER, 0x00);
	wr(fx, LCR, 0x83); /* DLAB, 8N1 */
	assert_int_equal(rd(fx, LCR), 0x83);
	wr(fx, DLL, 0x01);
	wr(fx, DLM, 0x02);
	assert_int_equal(rd(fx, DLL), 0x01);
	assert_int_equal(rd(fx, DLM), 0x02);
	/* With DLAB up, offset 0 is not the transmitter and offset 1 not IER. */
	assert_int_equal(take_output(fx, buf, sizeof(buf)), 0);
	wr(fx, LCR, 0x03);
	assert_int_equal(rd(fx, IER), 0x00);
	wr(fx, THR, 'x');
	assert_int_equal(take_output(fx, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'x');
	/* The divisor survives DLAB going down and up again. */
	wr(fx, LCR, 0x83);
	assert_int_equal(rd(fx, DLL), 0x01);
	assert_int_equal(rd(fx, DLM), 0x02);
	assert_int_equal(fx->edges, 0);
}

static void test_thri(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(rd(fx, IIR) & 0x0f, 0x01); /* no interrupt pending */
	wr(fx, IER, 0x02);
	assert_int_equal(rd(fx, IER), 0x02);
	/* Enabling THRI with an empty transmitter raises the line at once. */
	assert_int_equal(fx->level, 1);
	assert_int_equal(fx->edges, 1);
	assert_int_equal(rd(fx, IIR) & 0x0f, 0x02);
	/* Reading IIR acknowledged it. */
	assert_int_equal(fx->level, 0);
	assert_int_equal(fx->edges, 2);
	assert_int_equal(rd(fx, IIR) & 0x0f, 0x01);
	/* A transmitted byte re-arms it. */
	wr(fx, THR, 'a');
	assert_int_equal(fx->level, 1);
	assert_int_equal(rd(fx, IIR) & 0x0f, 0x02);
	assert_int_equal(fx->level, 0);
	/* Disabling THRI drops a pending one. */
	wr(fx, THR, 'b');
	assert_int_equal(fx->level, 1);
	wr(fx, IER, 0x00);
	assert_int_equal(fx->level, 0);
	assert_int_equal(fx->wrong_irq, 0);
}

static void test_receive(void **state)
{
	struct fixture *fx = *state;
	static const uint8_t in[] = "abc";

	assert_int_equal(serial_rx_room(&fx->s), SERIAL_RX_FIFO);
	assert_int_equal(serial_input(&fx->s, in, 3), 3);
	assert_int_equal(serial_rx_room(&fx->s), SERIAL_RX_FIFO - 3);
	assert_int_equal(rd(fx, LSR) & LSR_DR, LSR_DR);
	assert_int_equal(fx->edges, 0); /* RDI not enabled */
	assert_int_equal(rd(fx, IIR) & 0x0f, 0x01);

	wr(fx, IER, 0x01);
	assert_int_equal(fx->level, 1);
	assert_int_equal(rd(fx, IIR) & 0x0f, 0x04);
	assert_int_equal(fx->level, 1); /* reading IIR does not clear a data interrupt */
	assert_int_equal(rd(fx, RBR), 'a');
	assert_int_equal(rd(fx, RBR), 'b');
	assert_false(room_signalled(fx));
	assert_int_equal(fx->level, 1);
	assert_int_equal(rd(fx, RBR), 'c');
	/* Drained: DR down, the line drops, the console is told there is room. */
	assert_int_equal(rd(fx, LSR) & LSR_DR, 0);
	assert_int_equal(fx->level, 0);
	assert_int_equal(rd(fx, IIR) & 0x0f, 0x01);
	assert_true(room_signalled(fx));
	assert_int_equal(serial_rx_room(&fx->s), SERIAL_RX_FIFO);
}

static void test_rx_priority_over_thri(void **state)
{
	struct fixture *fx = *state;
	static const uint8_t in[] = "z";

	wr(fx, IER, 0x03);
	assert_int_equal(serial_input(&fx->s, in, 1), 1);
	assert_int_equal(rd(fx, IIR) & 0x0f, 0x04);
	assert_int_equal(rd(fx, RBR), 'z');
	assert_int_equal(rd(fx, IIR) & 0x0f, 0x02);
	assert_int_equal(rd(fx, IIR) & 0x0f, 0x01);
	assert_int_equal(fx->level, 0);
}

static void test_fifo_full(void **state)
{
	struct fixture *fx = *state;
	uint8_t *in = malloc(SERIAL_RX_FIFO + 100);
	unsigned int i;

	assert_non_null(in);
	for (i = 0; i < SERIAL_RX_FIFO + 100; i++)
		in[i] = (uint8_t)(i * 7);
	assert_int_equal(serial_input(&fx->s, in, 10), 10);
	assert_int_equal(serial_input(&fx->s, in + 10, SERIAL_RX_FIFO + 90), SERIAL_RX_FIFO - 10);
	assert_int_equal(serial_rx_room(&fx->s), 0);
	assert_int_equal(serial_input(&fx->s, in, 1), 0);
	assert_int_equal(serial_input(&fx->s, in, 0), 0);
	/* Read back in order, across the ring's wrap point. */
	for (i = 0; i < 100; i++)
		assert_int_equal(rd(fx, RBR), (uint8_t)(i * 7));
	assert_int_equal(serial_input(&fx->s, in + SERIAL_RX_FIFO, 100), 100);
	for (i = 100; i < SERIAL_RX_FIFO + 100; i++) {
		if (rd(fx, RBR) != (uint8_t)(i * 7))
			fail_msg("byte %u out of order", i);
	}
	assert_int_equal(rd(fx, LSR) & LSR_DR, 0);
	assert_true(room_signalled(fx));
	free(in);
}

static void test_fcr_clear_rx(void **state)
{
	struct fixture *fx = *state;
	static const uint8_t in[] = "hello";

	wr(fx, IER, 0x01);
	assert_int_equal(serial_input(&fx->s, in, 5), 5);
	assert_int_equal(fx->level, 1);
	wr(fx, FCR, 0x07); /* enable, clear RX and TX */
	assert_int_equal(rd(fx, LSR) & LSR_DR, 0);
	assert_int_equal(fx->level, 0);
	assert_int_equal(serial_rx_room(&fx->s), SERIAL_RX_FIFO);
	/* FIFOs enabled show in IIR's top bits. */
	assert_int_equal(rd(fx, IIR), 0xc1);
	/* A console waiting for room must hear that the FIFO emptied. */
	assert_true(room_signalled(fx));
	/* New input after the clear is read from the start. */
	assert_int_equal(serial_input(&fx->s, in + 4, 1), 1);
	assert_int_equal(rd(fx, RBR), 'o');
}

static void test_loopback(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[4];

	/* Without loopback, MSR says the modem is ready (DCD, DSR, CTS). */
	assert_int_equal(rd(fx, MSR) & 0xf0, 0xb0);
	wr(fx, MCR, 0x10 | 0x0a); /* LOOP, RTS, OUT2 */
	assert_int_equal(rd(fx, MCR), 0x1a);
	assert_int_equal(rd(fx, MSR) & 0xf0, 0x90); /* RTS->CTS, OUT2->DCD */
	wr(fx, MCR, 0x10 | 0x05);                   /* LOOP, DTR, OUT1 */
	assert_int_equal(rd(fx, MSR) & 0xf0, 0x60); /* DTR->DSR, OUT1->RI */
	wr(fx, MCR, 0x1a);

	wr(fx, THR, 0x55);
	wr(fx, THR, 0xaa);
	assert_int_equal(take_output(fx, buf, sizeof(buf)), 0);
	assert_int_equal(rd(fx, LSR) & LSR_DR, LSR_DR);
	assert_int_equal(rd(fx, RBR), 0x55);
	assert_int_equal(rd(fx, RBR), 0xaa);
	assert_int_equal(rd(fx, LSR) & LSR_DR, 0);

	wr(fx, MCR, 0x0b);
	wr(fx, THR, 'k');
	assert_int_equal(take_output(fx, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'k');
	assert_int_equal(rd(fx, LSR) & LSR_DR, 0);
}

static void test_scratch_and_misc(void **state)
{
	struct fixture *fx = *state;
	uint8_t v[4];

	wr(fx, SCR, 0xa5);
	assert_int_equal(rd(fx, SCR), 0xa5);
	wr(fx, SCR, 0x5a);
	assert_int_equal(rd(fx, SCR), 0x5a);
	/* LSR and MSR are read-only. */
	wr(fx, LSR, 0x00);
	assert_int_equal(rd(fx, LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
	/* IER keeps only its four defined bits. */
	wr(fx, IER, 0xf0);
	assert_int_equal(rd(fx, IER), 0x00);
	/* A wider read fills the rest with ones. */
	memset(v, 0, sizeof(v));
	serial_ops.read(&fx->s, SCR, v, 4);
	assert_int_equal(v[0], 0x5a);
	assert_int_equal(v[1], 0xff);
	assert_int_equal(v[3], 0xff);
	assert_int_equal(fx->edges, 0);
}

/* --- the console: the UART's output to a stdout nobody reads, without ever blocking ------- */

enum sink { SINK_PIPE, SINK_SOCKET, SINK_PTY };

struct cons {
	struct loop l;
	struct console c;
	int in[2];     /* hull's stdin: nothing is typed */
	int out, peer; /* hull's stdout and the test's end of it */
};

static void no_quit(void *opaque)
{
	(void)opaque;
	fail_msg("the console quit");
}

/*
 * hull's stdout and the test's end of it: a pipe (4 KiB, the smallest), a socket pair (small
 * buffers) or a pty in raw mode. Both stay blocking: hull must not block on them anyway.
 */
static void sink_open(struct cons *k, enum sink kind)
{
	int sv[2], small = 4096;

	switch (kind) {
	case SINK_PIPE:
		assert_int_equal(pipe(sv), 0);
		assert_true(fcntl(sv[0], F_SETPIPE_SZ, 4096) >= 4096);
		k->peer = sv[0];
		k->out = sv[1];
		break;
	case SINK_SOCKET:
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
		setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
		k->peer = sv[0];
		k->out = sv[1];
		break;
	case SINK_PTY: {
		struct termios t;

		k->peer = posix_openpt(O_RDWR | O_NOCTTY);
		assert_true(k->peer >= 0);
		assert_int_equal(grantpt(k->peer), 0);
		assert_int_equal(unlockpt(k->peer), 0);
		k->out = open(ptsname(k->peer), O_RDWR | O_NOCTTY);
		assert_true(k->out >= 0);
		/* Raw: the bytes arrive as written (no \n -> \r\n), and none are echoed back. */
		assert_int_equal(tcgetattr(k->out, &t), 0);
		cfmakeraw(&t);
		assert_int_equal(tcsetattr(k->out, TCSANOW, &t), 0);
		break;
	}
	}
}

static void cons_start(struct fixture *fx, struct cons *k)
{
	struct console_fds fds;

	assert_int_equal(pipe(k->in), 0);
	assert_int_equal(loop_init(&k->l), 0);
	fds = (struct console_fds){ .in = k->in[0], .out = k->out, .room = fx->room_fd,
				    .tx = fx->tx_fd };
	assert_int_equal(console_init(&k->c, &k->l, &fds, &fx->s, no_quit, NULL), 0);
	/* As in hull (the loop stage): a reader that went away is an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	/* A hang below is a failure, not a stuck test run. */
	alarm(60);
}

static void cons_stop(struct cons *k)
{
	alarm(0);
	if (k->peer >= 0)
		close(k->peer);
	close(k->out);
	close(k->in[0]);
	close(k->in[1]);
	loop_destroy(&k->l);
}

/*
 * Run the loop's ready handlers until none is ready, as loop_run would, waiting up to ms for
 * the first (a pty's room comes back asynchronously); how many ran.
 */
static unsigned int turn_wait(struct cons *k, int ms)
{
	struct epoll_event ev[8];
	unsigned int ran = 0, rounds;
	int i, n;

	for (rounds = 0; rounds < 100; rounds++) {
		n = epoll_wait(k->l.epfd, ev, 8, rounds ? 0 : ms);
		assert_true(n >= 0);
		if (!n)
			return ran;
		for (i = 0; i < n; i++) {
			struct loop_handler *h = ev[i].data.ptr;

			h->cb(&k->l, h, ev[i].events);
		}
		ran += (unsigned int)n;
	}
	fail_msg("the loop is always busy");
	return ran;
}

static unsigned int turn(struct cons *k)
{
	return turn_wait(k, 0);
}

static size_t queued(int fd)
{
	int n = 0;

	assert_int_equal(ioctl(fd, FIONREAD, &n), 0);
	return (size_t)n;
}

/* Read n bytes from the test's end and check they are pattern() from index `from`. */
static void read_and_check(struct cons *k, size_t from, size_t n)
{
	uint8_t buf[4096];
	size_t got = 0, i;

	while (got < n) {
		ssize_t r = read(k->peer, buf, n - got < sizeof(buf) ? n - got : sizeof(buf));

		assert_true(r > 0);
		for (i = 0; i < (size_t)r; i++) {
			if (buf[i] != pattern(from + got + i))
				fail_msg("stdout byte %zu: 0x%02x, want 0x%02x", from + got + i,
					 buf[i], pattern(from + got + i));
		}
		got += (size_t)r;
	}
}

/*
 * A guest that waits for THRE writes while the loop turns, until stdout and then the buffer
 * are full and THRE is clear; returns how many bytes it wrote. Nothing blocks on the way.
 */
static size_t stall(struct fixture *fx, struct cons *k)
{
	size_t n;

	for (n = 0; thre(fx); n++) {
		wr(fx, THR, pattern(n));
		if (n % 1000 == 0)
			turn(k);
		assert_true(n < 16 * SERIAL_TX_BUF);
	}
	assert_true(n >= SERIAL_TX_BUF - SERIAL_TX_FIFO);
	assert_true(k->c.out_waiting);
	return n;
}

static void stalled_then_drained(void **state, enum sink kind)
{
	struct fixture *fx = *state;
	struct cons k;
	size_t n, kept, done, q;
	int flags;

	sink_open(&k, kind);
	flags = fcntl(k.out, F_GETFL);
	cons_start(fx, &k);
	wr(fx, IER, 0x02);
	(void)rd(fx, IIR);
	n = stall(fx, &k);
	/* stdout's own open file description stayed blocking: shared, and not hull's to change. */
	assert_int_equal(fcntl(k.out, F_GETFL), flags);
	/* Nothing to do while stdout is full: no busy loop. */
	assert_int_equal(turn(&k), 0);
	assert_int_equal(fx->level, 0);
	/* A guest that ignores THRE fills the last bytes, then loses the rest, counted. */
	put(fx, n, 3 * SERIAL_TX_BUF);
	kept = n + 3 * SERIAL_TX_BUF - dropped(fx);
	assert_true(kept >= n && kept < n + SERIAL_TX_FIFO);
	assert_int_equal(turn(&k), 0);

	/* The reader comes back: everything the buffer took arrives, in order... */
	assert_true(queued(k.peer) > 0);
	for (done = 0; done < kept; done += q) {
		q = queued(k.peer);
		if (q > kept - done)
			q = kept - done;
		read_and_check(&k, done, q);
		turn_wait(&k, 100);
	}
	/* ...and THRE came back with its interrupt. */
	assert_true(thre(fx));
	assert_int_equal(fx->level, 1);
	assert_int_equal(rd(fx, IIR) & 0x0f, 0x02);
	assert_false(k.c.out_waiting);
	assert_int_equal(waiting(fx), 0);
	/* And the next output goes straight out. */
	put(fx, done, 10);
	assert_true(turn(&k) >= 1);
	read_and_check(&k, done, 10);
	virtio_env_capture_start();
	console_exit(&k.c);
	assert_non_null(strstr(virtio_env_capture_end(), "bytes of guest output dropped: the guest "
					"wrote them while the 64 KiB buffer was full"));
	cons_stop(&k);
}

static void test_console_stalled_pipe(void **state)
{
	stalled_then_drained(state, SINK_PIPE);
}

static void test_console_stalled_socket(void **state)
{
	stalled_then_drained(state, SINK_SOCKET);
}

static void test_console_stalled_pty(void **state)
{
	stalled_then_drained(state, SINK_PTY);
}

static void test_console_reader_gone(void **state)
{
	struct fixture *fx = *state;
	struct cons k;
	const char *log;

	sink_open(&k, SINK_PIPE);
	cons_start(fx, &k);
	stall(fx, &k);
	close(k.peer);
	k.peer = -1;
	virtio_env_capture_start();
	turn(&k);
	log = virtio_env_capture_end();
	assert_non_null(strstr(log, "hull: console: stdout: Broken pipe: guest output is discarded "
				    "from now on"));
	/* The guest writes on, into nothing: never waiting, never waking the loop. */
	assert_true(thre(fx));
	put(fx, 0, 2 * SERIAL_TX_BUF);
	assert_true(thre(fx));
	assert_int_equal(turn(&k), 0);
	console_exit(&k.c);
	cons_stop(&k);
}

static void test_console_exit_flush(void **state)
{
	struct fixture *fx = *state;
	struct cons k;
	const char *log;
	size_t n;

	/* A reader with room: what the guest left is written out at exit. */
	sink_open(&k, SINK_PIPE);
	assert_true(fcntl(k.peer, F_SETPIPE_SZ, 65536) >= 65536);
	cons_start(fx, &k);
	put(fx, 0, 30000);
	virtio_env_capture_start();
	console_exit(&k.c);
	log = virtio_env_capture_end();
	assert_int_equal(queued(k.peer), 30000);
	read_and_check(&k, 0, 30000);
	assert_null(strstr(log, "console:"));
	cons_stop(&k);

	/* A reader that never comes back: exit gives up after CONSOLE_FLUSH_MS and says so. */
	sink_open(&k, SINK_PIPE);
	cons_start(fx, &k);
	n = stall(fx, &k);
	/* Fill the buffer's last bytes and 5 more, which are lost. */
	put(fx, n, SERIAL_TX_BUF - waiting(fx) + 5);
	virtio_env_capture_start();
	console_exit(&k.c);
	log = virtio_env_capture_end();
	assert_non_null(strstr(log, "hull: console: stdout did not take the last "));
	assert_non_null(strstr(log, "hull: console: 5 bytes of guest output dropped"));
	cons_stop(&k);
}

/*
 * A FIFO whose reader is gone cannot be reopened non-blocking (ENXIO), nor can a pipe of
 * another user: O_NONBLOCK on stdout itself then, put back at exit.
 */
static void test_console_fallback_restores_flags(void **state)
{
	struct fixture *fx = *state;
	char dir[] = "/tmp/hull-test-serial-XXXXXX", path[64];
	struct cons k;
	const char *log;
	int flags, rd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	rd = open(path, O_RDONLY | O_NONBLOCK);
	assert_true(rd >= 0);
	k.out = open(path, O_WRONLY);
	assert_true(k.out >= 0);
	close(rd);
	unlink(path);
	rmdir(dir);
	k.peer = -1;
	flags = fcntl(k.out, F_GETFL);
	assert_int_equal(flags & O_NONBLOCK, 0);
	cons_start(fx, &k);
	assert_int_equal(fcntl(k.out, F_GETFL), flags | O_NONBLOCK);
	/* No reader: the first output finds that out, and the guest writes on into nothing. */
	put(fx, 0, 100);
	virtio_env_capture_start();
	turn(&k);
	log = virtio_env_capture_end();
	assert_non_null(strstr(log, "hull: console: stdout: Broken pipe: guest output is "
				    "discarded"));
	assert_true(thre(fx));
	console_exit(&k.c);
	assert_int_equal(fcntl(k.out, F_GETFL), flags);
	cons_stop(&k);
}

/* A regular file as stdout: written directly (epoll cannot watch it; it never needs to). */
static void test_console_regular_file(void **state)
{
	struct fixture *fx = *state;
	struct cons k;
	uint8_t buf[3000];
	size_t i;

	k.out = memfd_create("stdout", 0);
	assert_true(k.out >= 0);
	k.peer = -1;
	cons_start(fx, &k);
	assert_false(k.c.out_polled);
	put(fx, 0, sizeof(buf));
	turn(&k);
	assert_int_equal(pread(k.out, buf, sizeof(buf), 0), sizeof(buf));
	for (i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], pattern(i));
	assert_int_equal(turn(&k), 0);
	console_exit(&k.c);
	cons_stop(&k);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_transmit),
		T(test_dlab),
		T(test_thri),
		T(test_receive),
		T(test_rx_priority_over_thri),
		T(test_fifo_full),
		T(test_fcr_clear_rx),
		T(test_loopback),
		T(test_scratch_and_misc),
		T(test_tx_buffer_fills),
		T(test_tx_wraps),
		T(test_tx_thri_after_drain),
		T(test_tx_discard),
		T(test_loopback_when_full),
		T(test_console_stalled_pipe),
		T(test_console_stalled_socket),
		T(test_console_stalled_pty),
		T(test_console_reader_gone),
		T(test_console_exit_flush),
		T(test_console_fallback_restores_flags),
		T(test_console_regular_file),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
