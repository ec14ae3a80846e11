/* console: hull's stdin into the guest UART — raw terminal mode and the Ctrl-A x escape. */
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/log.h"
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

int console_init(struct console *c, struct loop *l, int in_fd, struct serial *serial, int room_fd,
		 void (*quit)(void *), void *opaque)
{
	struct termios raw;
	int ret;

	*c = (struct console){ .in_fd = in_fd, .serial = serial, .room_fd = room_fd,
			       .quit = quit, .opaque = opaque };
	c->is_tty = isatty(in_fd);
	if (c->is_tty && tcgetattr(in_fd, &c->saved) == 0) {
		raw = c->saved;
		cfmakeraw(&raw);
		/* Keep output post-processing: hull's own messages still start at column 0. */
		raw.c_oflag = c->saved.c_oflag;
		if (tcsetattr(in_fd, TCSANOW, &raw) == 0)
			c->raw = true;
	}
	c->room = (struct loop_handler){ .fd = room_fd, .cb = on_room, .opaque = c };
	ret = loop_add(l, &c->room, EPOLLIN);
	if (ret)
		return ret;
	c->in = (struct loop_handler){ .fd = in_fd, .cb = on_input, .opaque = c };
	ret = loop_add(l, &c->in, EPOLLIN);
	if (ret == -EPERM || ret == -EBADF) {
		/* stdin is a regular file, /dev/null or closed: nothing to forward. */
		c->eof = true;
		ret = 0;
	}
	if (ret)
		console_restore(c);
	return ret;
}

void console_restore(struct console *c)
{
	if (c->raw)
		tcsetattr(c->in_fd, TCSANOW, &c->saved);
	c->raw = false;
}
