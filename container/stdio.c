/* stdio: hull's stdin, stdout and stderr as the container's, over the agent's stream connections. */
#include "container/stdio.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"

static const char *const names[] = { "stdin", "stdout", "stderr", "tty" };

static void progress(struct ctr_stdio *s)
{
	if (s->ops->progress)
		s->ops->progress(s->opaque);
}

/* Interest for each of the pipe's fds from its bridge; an unpolled stdin is pumped. */
static void rearm(struct ctr_pipe *p)
{
	struct ctr_stdio *s = p->s;
	uint32_t ev;
	int ret;

	if (!p->attached)
		return;
	if (p->br.in_fd >= 0) {
		ev = vsock_bridge_events(&p->br, p->br.in_fd);
		ret = p->in_unpolled ? -EPERM : loop_want(s->loop, &p->in_h, ev);
		if (ret == -EPERM) {
			/* A regular file or /dev/null: always readable, read once per pass. */
			p->in_unpolled = true;
			if (ev)
				loop_timer_arm(s->loop, &p->pump, 0, 0);
			else
				loop_timer_cancel(s->loop, &p->pump);
		} else if (ret) {
			log_msg("container %s: event loop: %s", names[p->stream], strerror(-ret));
		}
	}
	if (p->br.out) {
		/* EPOLLOUT only while the output is full: never for a regular file. */
		ret = loop_want(s->loop, &p->out_h, vsock_bridge_events(&p->br, p->br.out->fd));
		if (ret && ret != -EPERM)
			log_msg("container %s: event loop: %s", names[p->stream], strerror(-ret));
	}
}

/* Out of the loop: its fds are no longer this stream's business. */
static void unhook(struct ctr_pipe *p)
{
	if (p->attached) {
		loop_want(p->s->loop, &p->in_h, 0);
		loop_want(p->s->loop, &p->out_h, 0);
		loop_timer_cancel(p->s->loop, &p->pump);
	}
	p->attached = false;
	p->done = true;
}

/* An fd failed: the stream is reset (the process sees EPIPE or ECONNRESET). */
static void fail(struct ctr_pipe *p)
{
	struct vsock_ep *ep = p->br.ep;

	log_debug("container %s: %s: the stream is reset", names[p->stream], strerror(-p->br.err));
	unhook(p);
	ctr_agent_stream_reset(p->s->agent, ep);
	progress(p->s);
}

/* After every bridge call: a failure, the ends, the fds' interest. */
static void settle(struct ctr_pipe *p)
{
	struct ctr_stdio *s = p->s;

	if (p->br.err) {
		fail(p);
		return;
	}
	if (p->br.out_eof && !p->done) {
		p->done = true;
		progress(s);
	}
	rearm(p);
}

static void on_in(struct loop *l, struct loop_handler *h, uint32_t events)
{
	struct ctr_pipe *p = h->opaque;

	(void)l;
	(void)events;
	vsock_bridge_in_ready(&p->br);
	settle(p);
}

static void on_pump(struct loop *l, struct loop_timer *t)
{
	struct ctr_pipe *p = t->opaque;

	(void)l;
	if (!p->attached)
		return;
	vsock_bridge_in_ready(&p->br);
	settle(p);
}

static void on_out(struct loop *l, struct loop_handler *h, uint32_t events)
{
	struct ctr_pipe *p = h->opaque;

	(void)l;
	if (events & (EPOLLERR | EPOLLHUP))
		p->br.err = -EPIPE; /* the reader is gone */
	else
		vsock_bridge_out_ready(&p->br);
	settle(p);
}

/* --- the stream connection's callbacks (through the agent's sink) ---------------------------- */

static void pipe_attach(void *opaque, struct vsock_ep *ep)
{
	struct ctr_pipe *p = opaque;
	struct ctr_stdio *s = p->s;
	bool in = p->stream == CTR_STDIN || p->stream == CTR_TTY;
	bool out = p->stream != CTR_STDIN;

	vsock_bridge_init(&p->br, ep, in ? s->in_fd : -1,
			  out ? (p->stream == CTR_STDERR ? &s->err : &s->out) : NULL, false);
	if (out && p->br.out->fd < 0)
		p->br.out = NULL; /* hull's stdout or stderr is closed: what comes is dropped */
	p->in_h = (struct loop_handler){ .fd = p->br.in_fd, .cb = on_in, .opaque = p };
	p->out_h = (struct loop_handler){ .fd = p->br.out ? p->br.out->fd : -1, .cb = on_out,
					  .opaque = p };
	p->attached = true;
	/* No stdin at all: the process reads end of file at once. */
	if (in && s->in_fd < 0) {
		p->br.in_eof = true;
		vsock_ep_shutdown(ep, SHUT_WR);
	}
	settle(p);
}

static size_t pipe_recv(struct vsock_ep *ep, void *opaque, const struct iovec *iov,
			unsigned int n, size_t len)
{
	struct ctr_pipe *p = opaque;
	size_t took;

	(void)ep;
	if (!p->attached)
		return len;
	took = vsock_bridge_recv(&p->br, iov, n, len);
	if (took && p->stream != CTR_STDIN)
		progress(p->s);
	settle(p);
	return took;
}

static void pipe_shutdown(struct vsock_ep *ep, void *opaque, unsigned int flags)
{
	struct ctr_pipe *p = opaque;

	(void)ep;
	vsock_bridge_shutdown(&p->br, flags);
	settle(p);
}

static void pipe_writable(struct vsock_ep *ep, void *opaque)
{
	struct ctr_pipe *p = opaque;

	(void)ep;
	vsock_bridge_writable(&p->br);
	settle(p);
}

static void pipe_closed(struct vsock_ep *ep, void *opaque, int err)
{
	struct ctr_pipe *p = opaque;

	(void)ep;
	if (err)
		log_debug("container %s: the connection ended: %s", names[p->stream],
			  strerror(-err));
	unhook(p);
	progress(p->s);
}

static const struct vsock_ep_ops pipe_ops = {
	.recv = pipe_recv,
	.shutdown = pipe_shutdown,
	.writable = pipe_writable,
	.closed = pipe_closed,
};

/* --- setup ---------------------------------------------------------------------------------- */

static void raw_mode(struct ctr_stdio *s)
{
	struct termios raw;

	if (!isatty(s->in_fd) || tcgetattr(s->in_fd, &s->saved))
		return;
	raw = s->saved;
	/* As runc and docker do: the guest's pty does the terminal's work (echo, \n to \r\n). */
	cfmakeraw(&raw);
	if (tcsetattr(s->in_fd, TCSANOW, &raw) == 0)
		s->raw = true;
}

int ctr_stdio_init(struct ctr_stdio *s, struct loop *l, struct ctr_agent *a, bool tty,
		   const struct ctr_stdio_ops *ops, void *opaque)
{
	return ctr_stdio_init_fds(s, l, a, tty, STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, ops,
				  opaque);
}

int ctr_stdio_init_fds(struct ctr_stdio *s, struct loop *l, struct ctr_agent *a, bool tty,
		       int in, int out, int err, const struct ctr_stdio_ops *ops, void *opaque)
{
	unsigned int i;
	int ret;

	*s = (struct ctr_stdio){ .loop = l, .agent = a, .tty = tty, .ops = ops, .opaque = opaque,
				 .out = { .fd = -1, .flags = -1 }, .err = { .fd = -1, .flags = -1 },
				 .npipes = tty ? 1 : 3 };
	s->in_fd = in < 0 || fcntl(in, F_GETFD) < 0 ? -1 : in;
	/* A closed stdout or stderr drops what the process writes there (as a closed fd would). */
	ret = out < 0 ? -EBADF : file_out_open(&s->out, out);
	if (ret && ret != -EBADF)
		log_msg("container stdout: %s", strerror(-ret));
	ret = err < 0 || tty ? -EBADF : file_out_open(&s->err, err);
	if (ret && ret != -EBADF)
		log_msg("container stderr: %s", strerror(-ret));
	for (i = 0; i < s->npipes; i++) {
		struct ctr_pipe *p = &s->pipes[i];

		*p = (struct ctr_pipe){ .s = s, .stream = tty ? CTR_TTY : i };
		loop_timer_init(&p->pump, on_pump, p);
	}
	if (tty && s->in_fd >= 0)
		raw_mode(s);
	return 0;
}

int ctr_stdio_expect(struct ctr_stdio *s, uint32_t id)
{
	unsigned int i;
	int ret;

	for (i = 0; i < s->npipes; i++) {
		struct ctr_pipe *p = &s->pipes[i];
		struct ctr_stream_sink sink = { .ops = &pipe_ops, .opaque = p,
						.attach = pipe_attach };

		ret = ctr_agent_expect(s->agent, id, p->stream, &sink);
		if (ret)
			return ret;
		p->expected = true;
	}
	return 0;
}

bool ctr_stdio_done(const struct ctr_stdio *s)
{
	unsigned int i;

	for (i = 0; i < s->npipes; i++)
		if (s->pipes[i].stream != CTR_STDIN && !s->pipes[i].done)
			return false;
	return true;
}

int ctr_stdio_winsize(const struct ctr_stdio *s, uint32_t *rows, uint32_t *cols)
{
	struct winsize w;

	if ((s->in_fd < 0 || ioctl(s->in_fd, TIOCGWINSZ, &w)) &&
	    (s->out.fd < 0 || ioctl(s->out.fd, TIOCGWINSZ, &w)))
		return -ENOTTY;
	*rows = w.ws_row;
	*cols = w.ws_col;
	return 0;
}

void ctr_stdio_fini(struct ctr_stdio *s)
{
	unsigned int i;

	for (i = 0; i < s->npipes; i++)
		unhook(&s->pipes[i]);
	if (s->raw)
		tcsetattr(s->in_fd, TCSANOW, &s->saved);
	s->raw = false;
	file_out_close(&s->out);
	file_out_close(&s->err);
}
