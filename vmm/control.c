/* control: the control socket — a Unix socket served on the event loop, one JSON line each way. */
#include "vmm/control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/usock.h"

#define CONTROL_RETRY_NS 1000000000ULL /* out of descriptors: try accepting again after 1 s */

struct client {
	struct control *c;
	struct loop_handler h;
	struct loop_timer more; /* requests left for the next pass */
	unsigned int slot;
	bool rd_eof;  /* the client sent all it will: close once its replies are out */
	bool closing; /* an unrecoverable request: close once the error is out */
	size_t out_off, out_len;
	int fds[CTL_FDS_MAX]; /* descriptors received for the next request */
	unsigned int nfds;
	char out[CONTROL_OUT_MAX];
	struct ctl_reader in;
};

struct control {
	struct loop *loop;
	const struct control_ops *ops;
	void *opaque;
	char *path;
	char what[USOCK_PATH_MAX + 16]; /* "api-sock PATH", for messages */
	struct usock sock; /* sock.fd -1: no socket (tests adopt clients directly) */
	struct loop_handler lh;
	bool listening;               /* lh is in the loop */
	struct loop_timer retry;      /* listening again after running out of descriptors */
	struct client *clients[CONTROL_MAX_CLIENTS];
	unsigned int nclients;
	bool full_logged, fds_logged;
};

static void close_fds(struct client *cl)
{
	while (cl->nfds)
		if (cl->fds[--cl->nfds] >= 0)
			close(cl->fds[cl->nfds]);
}

static void release_client(struct loop_handler *h)
{
	struct client *cl = h->opaque;

	close_fds(cl);
	close(h->fd);
	free(cl);
}

/* Forget cl: it is released (fd closed, memory freed) once the loop's batch is over. */
static void drop(struct client *cl)
{
	struct control *c = cl->c;

	loop_timer_cancel(c->loop, &cl->more);
	c->clients[cl->slot] = NULL;
	c->nclients--;
	loop_free(c->loop, &cl->h, release_client);
}

/* Send what the client has not taken yet, without blocking: 0, or -errno (the client is gone). */
static int flush(struct client *cl)
{
	while (cl->out_off < cl->out_len) {
		ssize_t n = send(cl->h.fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		cl->out_off += (size_t)n;
	}
	cl->out_off = cl->out_len = 0;
	return 0;
}

/* Queue text and try to send it: 0, or -EPIPE when cl was dropped (it does not read, or left). */
static int queue(struct client *cl, const char *text, size_t len)
{
	if (cl->out_off) {
		memmove(cl->out, cl->out + cl->out_off, cl->out_len - cl->out_off);
		cl->out_len -= cl->out_off;
		cl->out_off = 0;
	}
	if (len > sizeof(cl->out) - cl->out_len) {
		log_debug("%s: a client that does not read its replies was dropped (%zu bytes "
			  "unread)", cl->c->what, cl->out_len);
		drop(cl);
		return -EPIPE;
	}
	memcpy(cl->out + cl->out_len, text, len);
	cl->out_len += len;
	if (flush(cl)) {
		drop(cl);
		return -EPIPE;
	}
	return 0;
}

/* Queue one reply line made by ctlproto (freed here; NULL: it could not be made). */
static int reply(struct client *cl, char *line, size_t len)
{
	static const char oom[] = "{\"error\":\"out of memory\"}\n";
	int ret = line ? queue(cl, line, len) : queue(cl, oom, sizeof(oom) - 1);

	free(line);
	return ret;
}

static int reply_error(struct client *cl, const char *msg)
{
	size_t len = 0;
	char *line = ctl_reply_error(msg, &len);

	return reply(cl, line, len);
}

static const char *op_error(int err)
{
	return err == -ESHUTDOWN ? "the VM is stopping" : strerror(-err);
}

/* One request line: 0, or -EPIPE when cl was dropped. */
static int handle(struct client *cl, const char *line, size_t n)
{
	struct control *c = cl->c;
	char why[160], msg[200];
	struct ctl_request req;
	enum ctl_cmd cmd;
	size_t len = 0;
	char *rep;
	int ret;

	if (ctl_parse_request(line, n, &req, why, sizeof(why))) {
		close_fds(cl);
		snprintf(msg, sizeof(msg), "bad request: %s", why);
		return reply_error(cl, msg);
	}
	cmd = req.cmd;
	switch (cmd) {
	case CTL_STATE:
		rep = c->ops->state(c->opaque, &len);
		return reply(cl, rep, len);
	case CTL_PAUSE:
	case CTL_RESUME:
		ret = cmd == CTL_PAUSE ? c->ops->pause(c->opaque) : c->ops->resume(c->opaque);
		if (ret) {
			snprintf(msg, sizeof(msg), "%s: %s", ctl_cmd_name(cmd), op_error(ret));
			return reply_error(cl, msg);
		}
		rep = ctl_reply_ok(&len);
		return reply(cl, rep, len);
	case CTL_STOP:
		rep = ctl_reply_ok(&len);
		ret = reply(cl, rep, len);
		c->ops->stop(c->opaque);
		return ret;
	case CTL_BALLOON:
		rep = c->ops->balloon(c->opaque, &req, &len);
		return reply(cl, rep, len);
	case CTL_MEMORY:
		if (!c->ops->memory)
			return reply_error(cl, "memory: this VM has no hotplug memory");
		rep = c->ops->memory(c->opaque, &req, &len);
		return reply(cl, rep, len);
	case CTL_START:
	case CTL_KILL:
	case CTL_PS:
	case CTL_EXEC:
	case CTL_RESIZE:
	case CTL_UPDATE:
		if (!c->ops->mode) {
			ctl_request_free(&req);
			snprintf(msg, sizeof(msg), "%s: not a container VM", ctl_cmd_name(cmd));
			return reply_error(cl, msg);
		}
		rep = NULL;
		ret = c->ops->mode(c->opaque, &req, cl->h.fd, cl->fds, cl->nfds, &rep, &len);
		ctl_request_free(&req);
		close_fds(cl);
		if (ret == 2) {
			/* The connection is the command's now (its dup): no longer a client. */
			drop(cl);
			return -EPIPE;
		}
		return ret == 1 ? 0 : reply(cl, rep, len);
	case CTL_NCMDS:
	default:
		break;
	}
	return reply_error(cl, "bad request: unknown command");
}

/*
 * Answer up to CONTROL_REQS_PER_PASS complete requests; more wait for the
 * next pass (the client's timer). 0, or -EPIPE when cl was dropped.
 */
static int serve(struct client *cl)
{
	unsigned int i;
	const char *line;
	char msg[64];
	size_t len;
	int ret;

	for (i = 0; i < CONTROL_REQS_PER_PASS && !cl->closing; i++) {
		ret = ctl_reader_line(&cl->in, &line, &len);
		if (ret == 0)
			return 0;
		if (ret < 0) {
			/* Where the next request starts is unknown: answer, then hang up. */
			cl->closing = true;
			loop_timer_cancel(cl->c->loop, &cl->more);
			snprintf(msg, sizeof(msg), "bad request: longer than %d bytes", CTL_LINE_MAX);
			return reply_error(cl, msg);
		}
		ret = handle(cl, line, len);
		if (ret)
			return ret;
		close_fds(cl); /* what the command did not take */
	}
	if (!cl->closing)
		loop_timer_arm(cl->c->loop, &cl->more, 0, 0);
	return 0;
}

/* After each wakeup: close a client that is done, else wait for what it needs. */
static void settle(struct client *cl)
{
	struct control *c = cl->c;
	bool out = cl->out_off < cl->out_len;
	uint32_t ev = 0;
	size_t room;
	int ret = 0;

	if ((cl->closing || (cl->rd_eof && !loop_timer_armed(c->loop, &cl->more))) && !out) {
		drop(cl);
		return;
	}
	ctl_reader_room(&cl->in, &room);
	/* No room: the buffer holds whole requests the timer will take (or one too long). */
	if (!cl->rd_eof && !cl->closing && room)
		ev |= EPOLLIN;
	if (out)
		ev |= EPOLLOUT;
	/* Out of the set while it waits for nothing, so a hung-up socket cannot spin. */
	ret = loop_want(c->loop, &cl->h, ev);
	if (ret) {
		log_msg("%s: event loop: %s", c->what, strerror(-ret));
		drop(cl);
	}
}

static void on_more(struct loop *l, struct loop_timer *t)
{
	struct client *cl = t->opaque;

	(void)l;
	if (!serve(cl))
		settle(cl);
}

/* recv with the descriptors that came along kept for the next request (CTL_FDS_MAX). */
static ssize_t recv_fds(struct client *cl, char *at, size_t room)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(CTL_FDS_MAX * sizeof(int))];
	} u;
	struct iovec iov = { at, room };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	unsigned int i, n;
	ssize_t got;
	int fd;

	got = recvmsg(cl->h.fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (got < 0)
		return got;
	/* Past CTL_FDS_MAX in one message the kernel closed the rest (MSG_CTRUNC). */
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (unsigned int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (cl->nfds < CTL_FDS_MAX)
				cl->fds[cl->nfds++] = fd;
			else
				close(fd);
		}
	}
	return got;
}

static void on_client(struct loop *l, struct loop_handler *h, uint32_t events)
{
	struct client *cl = h->opaque;
	size_t room;
	char *at;
	ssize_t n;

	(void)l;
	if (events & EPOLLERR) {
		drop(cl);
		return;
	}
	if ((events & EPOLLOUT) && flush(cl)) {
		drop(cl);
		return;
	}
	if ((events & (EPOLLIN | EPOLLHUP)) && !cl->rd_eof && !cl->closing) {
		at = ctl_reader_room(&cl->in, &room);
		if (room) {
			n = recv_fds(cl, at, room);
			if (n == 0) {
				/* A request cut short by the hang-up is forgotten with the client. */
				cl->rd_eof = true;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				drop(cl);
				return;
			} else if (n > 0) {
				ctl_reader_commit(&cl->in, (size_t)n);
			}
		}
		if (serve(cl))
			return;
	}
	settle(cl);
}

int control_adopt(struct control *c, int fd)
{
	static const char busy[] = "{\"error\":\"too many clients\"}\n";
	struct client *cl;
	unsigned int i;
	int ret;

	if (c->nclients >= CONTROL_MAX_CLIENTS) {
		if (!c->full_logged)
			log_msg("%s: %u clients already: refusing more until one leaves", c->what,
				CONTROL_MAX_CLIENTS);
		c->full_logged = true;
		if (send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			log_debug("%s: refused client: %s", c->what, strerror(errno));
		close(fd);
		return -EBUSY;
	}
	cl = malloc(sizeof(*cl));
	if (!cl) {
		close(fd);
		return -ENOMEM;
	}
	for (i = 0; c->clients[i]; i++)
		;
	cl->c = c;
	cl->h = (struct loop_handler){ .fd = fd, .cb = on_client, .opaque = cl };
	loop_timer_init(&cl->more, on_more, cl);
	cl->slot = i;
	cl->rd_eof = cl->closing = false;
	cl->out_off = cl->out_len = 0;
	cl->nfds = 0;
	ctl_reader_init(&cl->in);
	ret = loop_add(c->loop, &cl->h, EPOLLIN);
	if (ret) {
		log_msg("%s: event loop: %s", c->what, strerror(-ret));
		close(fd);
		free(cl);
		return ret;
	}
	c->clients[i] = cl;
	c->nclients++;
	return 0;
}

static void listen_again(struct loop *l, struct loop_timer *t)
{
	struct control *c = t->opaque;

	if (!c->listening && !loop_add(l, &c->lh, EPOLLIN))
		c->listening = true;
}

static void on_listen(struct loop *l, struct loop_handler *h, uint32_t events)
{
	struct control *c = h->opaque;
	unsigned int i;
	int fd;

	(void)events;
	for (i = 0; i < CONTROL_ACCEPTS; i++) {
		fd = accept4(c->sock.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM)
				return; /* EAGAIN, or a connection that went away meanwhile */
			/* The connection stays queued: listen again later rather than spin. */
			if (!c->fds_logged)
				log_msg("%s: accept: %s (trying again every second)", c->what,
					strerror(errno));
			c->fds_logged = true;
			if (!loop_del(l, &c->lh))
				c->listening = false;
			loop_timer_arm(l, &c->retry, CONTROL_RETRY_NS, 0);
			return;
		}
		c->fds_logged = false;
		if (control_adopt(c, fd) == 0)
			c->full_logged = false;
	}
}

int control_open(struct loop *l, const char *path, const struct control_ops *ops, void *opaque,
		 struct control **out)
{
	struct control *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	c->loop = l;
	c->ops = ops;
	c->opaque = opaque;
	c->sock.fd = -1;
	loop_timer_init(&c->retry, listen_again, c);
	snprintf(c->what, sizeof(c->what), "api-sock %s", path ? path : "(none)");
	if (path) {
		c->path = strdup(path);
		if (!c->path) {
			ret = -ENOMEM;
			goto err;
		}
		/* 0600 from the start: the socket stops and pauses the VM. */
		ret = usock_listen(&c->sock, "api-sock", path, 0, CONTROL_BACKLOG, 0600);
		if (ret)
			goto err;
		c->lh = (struct loop_handler){ .fd = c->sock.fd, .cb = on_listen, .opaque = c };
		ret = loop_add(l, &c->lh, EPOLLIN);
		if (ret) {
			log_msg("%s: event loop: %s", c->what, strerror(-ret));
			goto err_unlink;
		}
		c->listening = true;
	}
	*out = c;
	return 0;

err_unlink:
	usock_close(&c->sock);
err:
	free(c->path);
	free(c);
	return ret;
}

unsigned int control_clients(const struct control *c)
{
	return c->nclients;
}

void control_close(struct control *c)
{
	unsigned int i;

	if (!c)
		return;
	for (i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		if (!c->clients[i])
			continue;
		/* A last stop's reply, say: offered once, never waited for. */
		if (flush(c->clients[i]))
			log_debug("%s: a client left with replies unread", c->what);
		drop(c->clients[i]);
	}
	loop_timer_cancel(c->loop, &c->retry);
	if (c->sock.fd >= 0) {
		if (c->listening)
			loop_del(c->loop, &c->lh);
		usock_close(&c->sock);
	}
	free(c->path);
	free(c);
}
