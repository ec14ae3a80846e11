/* console: hull's stdin into the guest UART, its output out to stdout without ever blocking. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "lib/file.h"
#include "lib/log.h"
#include "vmm/vm.h"

size_t console_feed(struct console *c, const uint8_t *buf, size_t len)
{
	size_t i, used = 0;

	for (i = 0; i < len; i++) {
		uint8_t ch = buf[i];

		if (c->is_tty && c->escape) {
			c->escape = false;
			if (ch == 'x' || ch == 'X') {
				c->quit(c->opaque);
				return len;
			}
			if (ch != CONSOLE_ESCAPE) {
				/* Not an escape after all: pass both bytes on. */
				uint8_t esc = CONSOLE_ESCAPE;

				if (serial_input(c->serial, &esc, 1) != 1)
					return i;
			}
		} else if (c->is_tty && ch == CONSOLE_ESCAPE) {
			c->escape = true;
			used = i + 1;
			continue;
		}
		if (serial_input(c->serial, &ch, 1) != 1)
			return i;
		used = i + 1;
	}
	return used;
}

/* Read only as much as the UART can take; when it is full, wait for room_fd. */
static void on_input(struct loop *l, struct loop_handler *h, uint32_t events)
{
	struct console *c = h->opaque;
	uint8_t buf[256];
	size_t room = serial_rx_room(c->serial);
	ssize_t n;

	(void)events;
	if (room < 2) {
		loop_mod(l, &c->in, 0);
		return;
	}
	if (room > sizeof(buf))
		room = sizeof(buf);
	/* Keep one byte spare so an escape followed by a byte always fits. */
	n = read(c->in_fd, buf, room - 1);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* End of input (or an unreadable stdin): the guest keeps running without it. */
		c->eof = true;
		loop_del(l, &c->in);
		return;
	}
	console_feed(c, buf, (size_t)n);
}

static void on_room(struct loop *l, struct loop_handler *h, uint32_t events)
{
	struct console *c = h->opaque;
	eventfd_t v;

	(void)events;
	if (eventfd_read(c->room_fd, &v) < 0)
		return;
	if (!c->eof)
		loop_mod(l, &c->in, EPOLLIN);
}

/* --- output -------------------------------------------------------------------------- */

/* Writes per event-loop turn: the guest may refill the buffer while it is written out. */
#define OUT_PASSES 4

/*
 * Guest output must never block a vCPU (which holds the UART lock) or the event loop: stdout is
 * written through lib/file's non-blocking output (a private reopening of a pipe or tty, send()
 * with MSG_DONTWAIT on a socket, a regular file as it is).
 */
static int out_open(struct console *c, int fd)
{
	int ret = file_out_open(&c->outf, fd);

	if (!ret && c->outf.flags >= 0)
		log_debug("console: cannot reopen stdout: it is non-blocking until hull exits");
	return ret;
}

static void out_close(struct console *c)
{
	file_out_close(&c->outf);
}

/*
 * Write out waiting guest output without blocking: 0 once none waits, 1 when some still does
 * after OUT_PASSES writes, -EAGAIN when stdout is full, another -errno when it failed.
 */
static int out_write(struct console *c)
{
	struct iovec iov[2];
	unsigned int i, n;
	ssize_t w;

	for (i = 0; i < OUT_PASSES; i++) {
		n = serial_tx_peek(c->serial, iov);
		if (!n)
			return 0;
		w = file_out_writev(&c->outf, iov, (int)n);
		if (w < 0 && w != -EINTR)
			return (int)w;
		if (w > 0)
			serial_tx_consume(c->serial, (size_t)w);
	}
	return 1;
}

/* Nothing will take output again: drop it from now on, so the guest never waits for it. */
static void out_lost(struct loop *l, struct console *c, const char *why)
{
	log_msg("console: stdout: %s: guest output is discarded from now on", why);
	if (c->out_polled)
		loop_del(l, &c->out);
	c->out_polled = c->out_waiting = false;
	c->out_gone = true;
	serial_tx_discard(c->serial);
}

static void out_pump(struct loop *l, struct console *c)
{
	int ret = out_write(c);
	bool wait = ret == -EAGAIN && c->out_polled;

	if (wait != c->out_waiting) {
		if (loop_mod(l, &c->out, wait ? EPOLLOUT : 0) < 0) {
			out_lost(l, c, "cannot wait for it");
			return;
		}
		c->out_waiting = wait;
	}
	if (ret == 1)
		(void)!eventfd_write(c->tx_fd, 1); /* more waits: come back on the next turn */
	else if (ret < 0 && !wait)
		out_lost(l, c, strerror(-ret));
}

/* The guest started writing into an empty buffer. */
static void on_tx(struct loop *l, struct loop_handler *h, uint32_t events)
{
	struct console *c = h->opaque;
	eventfd_t v;

	(void)events;
	(void)!eventfd_read(c->tx_fd, &v);
	if (!c->out_gone)
		out_pump(l, c);
}

/* stdout has room again, or its reader is gone (a pipe's EPOLLERR, a tty's hangup). */
static void on_output(struct loop *l, struct loop_handler *h, uint32_t events)
{
	struct console *c = h->opaque;

	out_pump(l, c);
	if (!c->out_gone && (events & (EPOLLERR | EPOLLHUP)))
		out_lost(l, c, "hung up");
}

static int out_init(struct console *c, struct loop *l, int out_fd)
{
	int ret = out_open(c, out_fd);

	if (ret) {
		/* A closed stdout: the guest writes into nothing. */
		c->out_gone = true;
		serial_tx_discard(c->serial);
		log_msg("console: stdout: %s: guest output is discarded", strerror(-ret));
	} else {
		c->out = (struct loop_handler){ .fd = c->outf.fd, .cb = on_output, .opaque = c };
		ret = loop_add(l, &c->out, 0);
		/* epoll refuses regular files and /dev/null: writing to them never waits. */
		if (ret && ret != -EPERM)
			return ret;
		c->out_polled = !ret;
	}
	c->tx = (struct loop_handler){ .fd = c->tx_fd, .cb = on_tx, .opaque = c };
	return loop_add(l, &c->tx, EPOLLIN);
}

static int64_t ms_until(const struct timespec *end)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(end->tv_sec - now.tv_sec) * 1000 + (end->tv_nsec - now.tv_nsec) / 1000000;
}

/* The vCPUs have stopped: write what is left, giving stdout CONSOLE_FLUSH_MS in all. */
static void out_flush(struct console *c)
{
	struct pollfd p = { .fd = c->outf.fd, .events = POLLOUT };
	struct timespec end;
	int64_t left;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += CONSOLE_FLUSH_MS / 1000;
	end.tv_nsec += (CONSOLE_FLUSH_MS % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	while (!c->out_gone) {
		ret = out_write(c);
		if (ret == 0)
			return;
		if (ret == 1)
			continue; /* nothing refills the buffer any more */
		left = ms_until(&end);
		if (ret != -EAGAIN || left <= 0)
			return;
		if (poll(&p, 1, (int)left) <= 0 || (p.revents & (POLLERR | POLLHUP)))
			return;
	}
}

/* --- setup and exit ---------------------------------------------------------------- */

static void console_restore(struct console *c)
{
	if (c->raw)
		tcsetattr(c->in_fd, TCSANOW, &c->saved);
	c->raw = false;
}

int console_init(struct console *c, struct loop *l, const struct console_fds *fds,
		 struct serial *serial, void (*quit)(void *), void *opaque)
{
	struct termios raw;
	int ret;

	*c = (struct console){ .in_fd = fds->in, .serial = serial, .room_fd = fds->room,
			       .tx_fd = fds->tx, .outf = { .fd = -1, .flags = -1 }, .quit = quit,
			       .opaque = opaque };
	c->is_tty = isatty(c->in_fd);
	if (c->is_tty && tcgetattr(c->in_fd, &c->saved) == 0) {
		raw = c->saved;
		cfmakeraw(&raw);
		/* Keep output post-processing: hull's own messages still start at column 0. */
		raw.c_oflag = c->saved.c_oflag;
		if (tcsetattr(c->in_fd, TCSANOW, &raw) == 0)
			c->raw = true;
	}
	ret = out_init(c, l, fds->out);
	if (ret)
		goto fail;
	c->room = (struct loop_handler){ .fd = c->room_fd, .cb = on_room, .opaque = c };
	ret = loop_add(l, &c->room, EPOLLIN);
	if (ret)
		goto fail;
	c->in = (struct loop_handler){ .fd = c->in_fd, .cb = on_input, .opaque = c };
	ret = loop_add(l, &c->in, EPOLLIN);
	if (ret == -EPERM || ret == -EBADF) {
		/* stdin is a regular file, /dev/null or closed: nothing to forward. */
		c->eof = true;
		ret = 0;
	}
	if (ret)
		goto fail;
	return 0;
fail:
	out_close(c);
	console_restore(c);
	return ret;
}

void console_exit(struct console *c)
{
	uint64_t dropped;
	size_t left;

	out_flush(c);
	serial_tx_stats(c->serial, &left, &dropped);
	if (left)
		log_msg("console: stdout did not take the last %zu bytes of guest output", left);
	if (dropped)
		log_msg("console: %" PRIu64 " bytes of guest output dropped: the guest wrote them "
			"while the %u KiB buffer was full", dropped, SERIAL_TX_BUF / 1024);
	out_close(c);
	console_restore(c);
}
