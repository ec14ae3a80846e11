/* console: a container VM's serial console — to --console-log or nowhere, its tail kept for errors. */
#include "container/console.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib/log.h"

#define TAKE_PASSES 4 /* drains of the UART per wakeup: the guest may refill it meanwhile */

void ctr_tail_add(struct ctr_tail *t, const void *p, size_t n)
{
	const char *c = p;
	size_t at, run;

	if (n >= CTR_CONSOLE_TAIL) {
		memcpy(t->buf, c + n - CTR_CONSOLE_TAIL, CTR_CONSOLE_TAIL);
		t->head = 0;
		t->len = CTR_CONSOLE_TAIL;
		return;
	}
	while (n) {
		at = (t->head + t->len) % CTR_CONSOLE_TAIL;
		run = CTR_CONSOLE_TAIL - at < n ? CTR_CONSOLE_TAIL - at : n;
		memcpy(t->buf + at, c, run);
		c += run;
		n -= run;
		t->len += run;
		if (t->len > CTR_CONSOLE_TAIL) {
			t->head = (t->head + t->len - CTR_CONSOLE_TAIL) % CTR_CONSOLE_TAIL;
			t->len = CTR_CONSOLE_TAIL;
		}
	}
}

size_t ctr_tail_get(const struct ctr_tail *t, char *out, size_t cap)
{
	size_t n = t->len < cap - 1 ? t->len : cap - 1, skip = t->len - n, i;

	for (i = 0; i < n; i++)
		out[i] = t->buf[(t->head + skip + i) % CTR_CONSOLE_TAIL];
	out[n] = '\0';
	return n;
}

int ctr_console_open_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0666);

	return fd < 0 ? -errno : fd;
}

/* Everything the UART holds: into the tail, and to the log if it takes it. */
static void take(struct ctr_console *c)
{
	struct iovec iov[2];
	unsigned int i, k, n;
	size_t total;
	ssize_t w;

	for (i = 0; i < TAKE_PASSES; i++) {
		n = serial_tx_peek(c->serial, iov);
		if (!n)
			return;
		for (k = 0, total = 0; k < n; k++) {
			ctr_tail_add(&c->tail, iov[k].iov_base, iov[k].iov_len);
			total += iov[k].iov_len;
		}
		w = c->log.fd >= 0 ? file_out_writev(&c->log, iov, (int)n) : (ssize_t)total;
		if (w < 0)
			w = 0;
		c->dropped += total - (size_t)w;
		serial_tx_consume(c->serial, total);
	}
}

static void on_tx(struct loop *l, struct loop_handler *h, uint32_t events)
{
	struct ctr_console *c = h->opaque;
	eventfd_t v;

	(void)l;
	(void)events;
	(void)!eventfd_read(h->fd, &v);
	take(c);
	/* More than TAKE_PASSES' worth: come back on the next pass, after the other fds. */
	if (serial_tx_peek(c->serial, (struct iovec[2]){ 0 }))
		(void)!eventfd_write(h->fd, 1);
}

int ctr_console_init(struct ctr_console *c, struct loop *l, struct serial *serial, int tx_fd,
		     int log_fd)
{
	int ret;

	*c = (struct ctr_console){ .serial = serial, .loop = l, .log = { .fd = -1, .flags = -1 } };
	if (log_fd >= 0) {
		ret = file_out_open(&c->log, log_fd);
		if (ret)
			return ret;
	}
	c->tx_h = (struct loop_handler){ .fd = tx_fd, .cb = on_tx, .opaque = c };
	ret = loop_add(l, &c->tx_h, EPOLLIN);
	if (ret) {
		file_out_close(&c->log);
		return ret;
	}
	c->hooked = true;
	return 0;
}

void ctr_console_fini(struct ctr_console *c)
{
	if (c->hooked) {
		loop_del(c->loop, &c->tx_h);
		take(c);
	}
	c->hooked = false;
	if (c->dropped)
		log_msg("console log: %" PRIu64 " bytes of console output dropped: the log did not "
			"take them", c->dropped);
	c->dropped = 0;
	file_out_close(&c->log);
}

void ctr_console_report(struct ctr_console *c, const char *why)
{
	static const char fatal[] = "hull-init: fatal: ";
	char text[CTR_CONSOLE_TAIL + 1], *line, *next, *f, *start;
	unsigned int lines = 0;
	size_t n = ctr_tail_get(&c->tail, text, sizeof(text)), k;

	/* hull-init's own word on it, when it said why, in the first line. */
	f = NULL;
	for (line = strstr(text, fatal); line; line = strstr(line + 1, fatal))
		f = line;
	if (f) {
		k = strcspn(f, "\r\n");
		log_msg("%s: %.*s", why, (int)k, f);
	} else {
		log_msg("%s", why);
	}
	if (!n) {
		log_msg("console: (nothing: the guest wrote no console output)");
		return;
	}
	/* The last CTR_CONSOLE_LINES lines (a newline at the very end ends the last one). */
	start = text;
	for (k = n; k > 0; k--) {
		if (text[k - 1] == '\n' && k != n && ++lines == CTR_CONSOLE_LINES) {
			start = text + k;
			break;
		}
	}
	for (line = start; *line; line = next) {
		next = line + strcspn(line, "\n");
		k = (size_t)(next - line);
		if (k && line[k - 1] == '\r')
			k--;
		if (k || *next)
			log_msg("console: %.*s", (int)k, line);
		if (*next)
			next++;
	}
}
