/* Unit tests for the 8250 UART: transmit, receive FIFO, interrupts, DLAB, loopback. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/devices.h"

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
	int pipe[2];
	int room_fd;
	int level;          /* last level reported for our irq */
	unsigned int edges; /* number of irq callbacks */
	unsigned int wrong_irq;
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
	(void)opaque;
	(void)ev;
	fail_msg("the UART raised a VM event");
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct dev_host host = { .irq = fake_irq, .event = fake_event };

	if (!fx || pipe2(fx->pipe, O_NONBLOCK) < 0)
		return -1;
	fx->room_fd = eventfd(0, EFD_NONBLOCK);
	if (fx->room_fd < 0)
		return -1;
	host.opaque = fx;
	serial_init(&fx->s, 4, fx->pipe[1], fx->room_fd, &host);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	serial_destroy(&fx->s);
	close(fx->pipe[0]);
	close(fx->pipe[1]);
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

/* Everything the UART wrote to out_fd so far. */
static ssize_t drain_pipe(struct fixture *fx, uint8_t *buf, size_t cap)
{
	ssize_t n = read(fx->pipe[0], buf, cap);

	return n < 0 && errno == EAGAIN ? 0 : n;
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
	wr(fx, THR, 'h');
	wr(fx, THR, 'i');
	wr(fx, THR, '\n');
	assert_int_equal(drain_pipe(fx, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "hi\n", 3);
	/* Transmission is synchronous: the transmitter is empty again at once. */
	assert_int_equal(rd(fx, LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
	/* Reading RBR with nothing received gives nothing and does not transmit. */
	assert_int_equal(rd(fx, RBR), 0);
	assert_int_equal(drain_pipe(fx, buf, sizeof(buf)), 0);
	assert_int_equal(fx->edges, 0); /* no interrupts enabled */
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
	assert_int_equal(drain_pipe(fx, buf, sizeof(buf)), 0);
	wr(fx, LCR, 0x03);
	assert_int_equal(rd(fx, IER), 0x00);
	wr(fx, THR, 'x');
	assert_int_equal(drain_pipe(fx, buf, sizeof(buf)), 1);
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
	assert_int_equal(drain_pipe(fx, buf, sizeof(buf)), 0);
	assert_int_equal(rd(fx, LSR) & LSR_DR, LSR_DR);
	assert_int_equal(rd(fx, RBR), 0x55);
	assert_int_equal(rd(fx, RBR), 0xaa);
	assert_int_equal(rd(fx, LSR) & LSR_DR, 0);

	wr(fx, MCR, 0x0b);
	wr(fx, THR, 'k');
	assert_int_equal(drain_pipe(fx, buf, sizeof(buf)), 1);
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
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
