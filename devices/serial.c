/* serial: an 8250/16550A UART; guest output waits in a bounded buffer the console writes out. */
#include "devices/devices.h"

#include <string.h>
#include <sys/eventfd.h>

#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_IER_RDI 0x01
#define UART_IER_THRI 0x02
#define UART_IIR_NO_INT 0x01
#define UART_IIR_THRI 0x02
#define UART_IIR_RDI 0x04
#define UART_IIR_FIFO 0xc0
#define UART_LCR_DLAB 0x80
#define UART_MCR_LOOP 0x10
#define UART_MSR_IDLE 0xb0 /* DCD | DSR | CTS: a modem that is always ready */

void serial_init(struct serial *s, unsigned int irq, int tx_fd, int room_fd,
		 const struct dev_host *host)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->msr = UART_MSR_IDLE;
	s->mcr = 0x08; /* OUT2: interrupts reach the PIC */
	s->irq = irq;
	s->tx_fd = tx_fd;
	s->room_fd = room_fd;
	s->host = *host;
}

void serial_destroy(struct serial *s)
{
	pthread_mutex_destroy(&s->lock);
}

/*
 * THRE, and TEMT with it: room for a whole transmit FIFO. TEMT does not wait for stdout to
 * take everything: a byte in hull's buffer has left the UART as far as the guest can tell, and
 * Linux's console waits up to 10 ms for TEMT after every message.
 */
static bool tx_ready(const struct serial *s)
{
	return (s->mcr & UART_MCR_LOOP) || s->tx_discard ||
	       SERIAL_TX_BUF - s->tx_len >= SERIAL_TX_FIFO;
}

static uint8_t lsr(const struct serial *s)
{
	return s->lsr | (tx_ready(s) ? UART_LSR_THRE | UART_LSR_TEMT : 0);
}

static uint8_t iir(const struct serial *s)
{
	uint8_t fifo = (s->fcr & 1) ? UART_IIR_FIFO : 0;

	if ((s->ier & UART_IER_RDI) && (s->lsr & UART_LSR_DR))
		return UART_IIR_RDI | fifo;
	if ((s->ier & UART_IER_THRI) && s->thri_pending && tx_ready(s))
		return UART_IIR_THRI | fifo;
	return UART_IIR_NO_INT | fifo;
}

/* Called with the lock held after any state change that may move the line. */
static void update_irq(struct serial *s)
{
	int level = !(iir(s) & UART_IIR_NO_INT);

	if (level != s->irq_level) {
		s->irq_level = level;
		s->host.irq(s->host.opaque, s->irq, level);
	}
}

static void rx_push(struct serial *s, uint8_t c)
{
	if (s->rx_len == SERIAL_RX_FIFO)
		return;
	s->rx[(s->rx_head + s->rx_len) % SERIAL_RX_FIFO] = c;
	s->rx_len++;
	s->lsr |= UART_LSR_DR;
}

/* Tell the console the FIFO has drained, so it reads stdin again. */
static void signal_room(struct serial *s)
{
	/* A failed write means the counter is saturated: a wakeup is pending anyway. */
	if (s->room_fd >= 0)
		(void)!eventfd_write(s->room_fd, 1);
}

static uint8_t rx_pop(struct serial *s)
{
	uint8_t c;

	if (!s->rx_len)
		return 0;
	c = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % SERIAL_RX_FIFO;
	if (--s->rx_len == 0) {
		s->lsr &= (uint8_t)~UART_LSR_DR;
		signal_room(s);
	}
	return c;
}

static void transmit(struct serial *s, uint8_t c)
{
	if (!s->tx_seen) {
		s->tx_seen = true;
		if (s->host.event)
			s->host.event(s->host.opaque, DEV_OUTPUT);
	}
	if (s->mcr & UART_MCR_LOOP) {
		rx_push(s, c);
		return;
	}
	if (s->tx_discard)
		return;
	if (s->tx_len == SERIAL_TX_BUF) {
		/* The guest did not wait for THRE (Linux's console gives up after 10 ms). */
		s->tx_dropped++;
		return;
	}
	s->tx[(s->tx_head + s->tx_len) % SERIAL_TX_BUF] = c;
	/* Only the first byte wakes the console: it writes out all that waits at once. */
	if (s->tx_len++ == 0 && s->tx_fd >= 0)
		(void)!eventfd_write(s->tx_fd, 1);
}

static void serial_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	struct serial *s = dev;
	uint8_t v = 0xff;

	memset(data, 0xff, len);
	pthread_mutex_lock(&s->lock);
	switch (off) {
	case 0:
		v = (s->lcr & UART_LCR_DLAB) ? s->dll : rx_pop(s);
		break;
	case 1:
		v = (s->lcr & UART_LCR_DLAB) ? s->dlm : s->ier;
		break;
	case 2:
		v = iir(s);
		if ((v & 0x0f) == UART_IIR_THRI)
			s->thri_pending = false;
		break;
	case 3:
		v = s->lcr;
		break;
	case 4:
		v = s->mcr;
		break;
	case 5:
		v = lsr(s);
		break;
	case 6:
		if (s->mcr & UART_MCR_LOOP) {
			/* Loopback: modem inputs mirror the outputs (DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD). */
			v = (uint8_t)(((s->mcr & 0x01) << 5) | ((s->mcr & 0x02) << 3) |
				      ((s->mcr & 0x04) << 4) | ((s->mcr & 0x08) << 4));
		} else {
			v = s->msr;
		}
		break;
	case 7:
		v = s->scr;
		break;
	default:
		break;
	}
	data[0] = v;
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct serial *s = dev;
	uint8_t v = data[0];

	(void)len;
	pthread_mutex_lock(&s->lock);
	switch (off) {
	case 0:
		if (s->lcr & UART_LCR_DLAB) {
			s->dll = v;
		} else {
			transmit(s, v);
			/* Re-armed at once while there is room, else when the console frees it. */
			s->thri_pending = tx_ready(s);
		}
		break;
	case 1:
		if (s->lcr & UART_LCR_DLAB) {
			s->dlm = v;
		} else {
			/* Enabling THRI with an empty transmitter raises it at once, as on real parts. */
			if ((v & UART_IER_THRI) && !(s->ier & UART_IER_THRI) && tx_ready(s))
				s->thri_pending = true;
			s->ier = v & 0x0f;
		}
		break;
	case 2:
		/*
		 * A TX FIFO clear (bit 2) leaves hull's buffer alone: Linux clears the FIFOs
		 * whenever the port opens, and what is buffered was already sent for the guest.
		 */
		s->fcr = v;
		if ((v & 0x02) && s->rx_len) { /* clear RX FIFO */
			s->rx_len = 0;
			s->lsr &= (uint8_t)~UART_LSR_DR;
			signal_room(s);
		}
		break;
	case 3:
		s->lcr = v;
		break;
	case 4:
		s->mcr = v & 0x1f;
		break;
	case 7:
		s->scr = v;
		break;
	default:
		break; /* LSR and MSR are read-only */
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

const struct bus_ops serial_ops = {
	.read = serial_read,
	.write = serial_write,
};

size_t serial_input(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < len && s->rx_len < SERIAL_RX_FIFO; i++)
		rx_push(s, buf[i]);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return i;
}

size_t serial_rx_room(struct serial *s)
{
	size_t room;

	pthread_mutex_lock(&s->lock);
	room = SERIAL_RX_FIFO - s->rx_len;
	pthread_mutex_unlock(&s->lock);
	return room;
}

unsigned int serial_tx_peek(struct serial *s, struct iovec iov[2])
{
	unsigned int head, len, first;

	pthread_mutex_lock(&s->lock);
	head = s->tx_head;
	len = s->tx_len;
	pthread_mutex_unlock(&s->lock);
	/*
	 * Safe to read unlocked: vCPUs only append past head + len, and only the caller
	 * moves head.
	 */
	if (!len)
		return 0;
	first = len < SERIAL_TX_BUF - head ? len : SERIAL_TX_BUF - head;
	iov[0] = (struct iovec){ .iov_base = s->tx + head, .iov_len = first };
	if (first == len)
		return 1;
	iov[1] = (struct iovec){ .iov_base = s->tx, .iov_len = len - first };
	return 2;
}

/* Called with the lock held when room may be back: THRE returns with its interrupt. */
static void tx_room(struct serial *s, bool was_ready)
{
	if (!was_ready && tx_ready(s))
		s->thri_pending = true;
	update_irq(s);
}

void serial_tx_consume(struct serial *s, size_t n)
{
	bool was_ready;

	pthread_mutex_lock(&s->lock);
	was_ready = tx_ready(s);
	if (n > s->tx_len)
		n = s->tx_len;
	s->tx_head = (unsigned int)((s->tx_head + n) % SERIAL_TX_BUF);
	s->tx_len -= (unsigned int)n;
	if (!s->tx_len)
		s->tx_head = 0; /* the next output goes out in one piece */
	tx_room(s, was_ready);
	pthread_mutex_unlock(&s->lock);
}

void serial_tx_discard(struct serial *s)
{
	bool was_ready;

	pthread_mutex_lock(&s->lock);
	was_ready = tx_ready(s);
	s->tx_discard = true;
	s->tx_head = s->tx_len = 0;
	tx_room(s, was_ready);
	pthread_mutex_unlock(&s->lock);
}

void serial_tx_stats(struct serial *s, size_t *waiting, uint64_t *dropped)
{
	pthread_mutex_lock(&s->lock);
	*waiting = s->tx_len;
	*dropped = s->tx_dropped;
	pthread_mutex_unlock(&s->lock);
}
