/* vsock uds: the hybrid-vsock Unix socket (Firecracker's protocol) as one kind of endpoint. */
#include "virtio/vsock/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/usock.h"

#define UDS_BACKLOG 128
#define UDS_ACCEPTS 16 /* accepts per listener wake-up: other fds get their turn */
#define UDS_PORT_SUFFIX (sizeof("_4294967295") - 1) /* PATH_P must fit too, for every P */

enum uc_state {
	UC_FREE,
	UC_HANDSHAKE,  /* accepted, reading "CONNECT <port>\n" (counted in p->reserved) */
	UC_CONNECTING, /* REQUEST to the guest, waiting for its answer */
	UC_OPEN,       /* bytes flow */
};

struct uds_conn {
	struct vsock_uds *u;
	struct loop_handler h;
	enum uc_state state;
	struct vsock_ep *ep;
	char line[VSOCK_LINE_MAX];
	unsigned int line_len;
	char ok[24];		     /* "OK <port>\n" ... */
	unsigned int ok_len, ok_off; /* ... and how much of it is written */
	/* UC_OPEN: the bytes between the socket and the endpoint (its out is sock). */
	struct vsock_bridge br;
	struct file_out sock;
	struct vlist link;
};

struct vsock_uds {
	struct vsock *v;
	struct loop *loop;
	struct usock ls; /* the listening socket at PATH */
	const char *path; /* ls.path */
	int spare_fd;
	struct loop_handler lh;
	bool paused; /* out of fds with no spare: the listener waits for a close */
	bool limit_logged, fds_logged;
	struct fdbudget_acct fds; /* every connection's socket, either way, is taken from it */
	struct uds_conn *conns; /* the pool: VSOCK_MAX_CONNS */
	struct vlist free;
};

static void rearm(struct uds_conn *uc)
{
	struct vsock_uds *u = uc->u;
	uint32_t ev = 0;
	int ret = 0;

	if (uc->state == UC_HANDSHAKE)
		ev = EPOLLIN;
	if (uc->state == UC_OPEN) {
		ev = vsock_bridge_events(&uc->br, uc->h.fd);
		if (uc->ok_off < uc->ok_len)
			ev |= EPOLLOUT;
	}
	/* 0 takes it out of the set, so a hung-up fd cannot spin. */
	ret = loop_want(u->loop, &uc->h, ev);
	if (ret)
		log_msg("vsock %s: event loop: %s", u->path, strerror(-ret));
}

static void listener_resume(struct vsock_uds *u)
{
	if (!u->paused)
		return;
	if (loop_add(u->loop, &u->lh, EPOLLIN) == 0)
		u->paused = false;
}

/* Close the socket and put uc back; its endpoint (if any) was closed or is closing. */
static void uc_release(struct uds_conn *uc)
{
	struct vsock_uds *u = uc->u;

	if (uc->state == UC_FREE)
		return;
	loop_want(u->loop, &uc->h, 0);
	close(uc->h.fd);
	fdbudget_give(&u->fds);
	uc->h.fd = -1;
	if (uc->state == UC_HANDSHAKE)
		u->v->p.reserved--;
	uc->state = UC_FREE;
	uc->ep = NULL;
	vlist_add_tail(&u->free, &uc->link);
	listener_resume(u); /* an fd came back */
}

/* The host side failed: RST the guest, close the socket. */
static void uc_abort(struct uds_conn *uc)
{
	struct vsock_ep *ep = uc->ep;

	uc->ep = NULL;
	if (ep)
		vsock_ep_close(ep);
	uc_release(uc);
}

static void on_conn(struct loop *l, struct loop_handler *h, uint32_t events);

static struct uds_conn *uc_take(struct vsock_uds *u, int fd, enum uc_state state)
{
	struct uds_conn *uc = container_of(u->free.next, struct uds_conn, link);

	vlist_del(&uc->link);
	*uc = (struct uds_conn){ .u = u, .state = state };
	uc->h = (struct loop_handler){ .fd = fd, .cb = on_conn, .opaque = uc };
	vlist_init(&uc->link);
	return uc;
}

/* Bytes flow: the socket is both ends of the bridge (a socket: sent with MSG_DONTWAIT). */
static void uc_open(struct uds_conn *uc, struct vsock_ep *ep)
{
	uc->state = UC_OPEN;
	uc->sock = (struct file_out){ .fd = uc->h.fd, .flags = -1, .socket = true };
	vsock_bridge_init(&uc->br, ep, uc->h.fd, &uc->sock, true);
}

/* ---- the endpoint ops ---- */

static int write_ok(struct uds_conn *uc)
{
	while (uc->ok_off < uc->ok_len) {
		ssize_t n = send(uc->h.fd, uc->ok + uc->ok_off, uc->ok_len - uc->ok_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		uc->ok_off += (unsigned int)n;
	}
	return 0;
}

static void uds_connected(struct vsock_ep *ep, void *opaque)
{
	struct uds_conn *uc = opaque;
	int ret;

	uc_open(uc, ep);
	uc->ok_len =
		(unsigned int)snprintf(uc->ok, sizeof(uc->ok), "OK %u\n", vsock_ep_local_port(ep));
	uc->ok_off = 0;
	ret = write_ok(uc);
	if (ret) {
		log_debug("vsock %s: host port %u: %s", uc->u->path, vsock_ep_local_port(ep),
			  strerror(-ret));
		uc_abort(uc);
		return;
	}
	rearm(uc);
}

static size_t uds_recv(struct vsock_ep *ep, void *opaque, const struct iovec *iov, unsigned int n,
		       size_t len)
{
	struct uds_conn *uc = opaque;
	size_t w;

	(void)ep;
	if (uc->ok_off < uc->ok_len) {
		uc->br.out_blocked = true; /* bytes follow the OK line */
		rearm(uc);
		return 0;
	}
	w = vsock_bridge_recv(&uc->br, iov, n, len);
	if (uc->br.err) {
		log_debug("vsock %s: write: %s", uc->u->path, strerror(-uc->br.err));
		uc_abort(uc);
		return 0;
	}
	if (uc->br.out_blocked)
		rearm(uc);
	return w;
}

static void uds_shutdown(struct vsock_ep *ep, void *opaque, unsigned int flags)
{
	struct uds_conn *uc = opaque;

	(void)ep;
	vsock_bridge_shutdown(&uc->br, flags);
	rearm(uc);
}

static void uds_writable(struct vsock_ep *ep, void *opaque)
{
	struct uds_conn *uc = opaque;

	(void)ep;
	vsock_bridge_writable(&uc->br);
	rearm(uc);
}

static void uds_closed(struct vsock_ep *ep, void *opaque, int err)
{
	struct uds_conn *uc = opaque;

	(void)ep;
	(void)err;
	uc->ep = NULL;
	uc_release(uc);
}

static const struct vsock_ep_ops uds_ops = {
	.connected = uds_connected,
	.recv = uds_recv,
	.shutdown = uds_shutdown,
	.writable = uds_writable,
	.closed = uds_closed,
};

/* ---- socket events ---- */

static void in_ready(struct uds_conn *uc)
{
	vsock_bridge_in_ready(&uc->br);
	if (uc->br.err) {
		log_debug("vsock %s: read: %s", uc->u->path, strerror(-uc->br.err));
		uc_abort(uc);
	}
}

static void out_ready(struct uds_conn *uc)
{
	int ret = write_ok(uc);

	if (ret) {
		log_debug("vsock %s: write: %s", uc->u->path, strerror(-ret));
		uc_abort(uc);
		return;
	}
	if (uc->ok_off < uc->ok_len)
		return;
	vsock_bridge_out_ready(&uc->br); /* recv may block again */
}

/* "CONNECT <port>\n": the port, or -1. */
static int64_t parse_connect(const char *line, unsigned int len)
{
	static const char prefix[] = "CONNECT ";
	uint64_t port = 0;
	unsigned int i = sizeof(prefix) - 1;

	if (len < i + 2 || memcmp(line, prefix, i) || line[len - 1] != '\n' || len - 1 - i > 10)
		return -1;
	for (; i < len - 1; i++) {
		if (line[i] < '0' || line[i] > '9')
			return -1;
		port = port * 10 + (uint64_t)(line[i] - '0');
	}
	return port < VSOCK_PORT_ANY ? (int64_t)port : -1;
}

static void handshake(struct uds_conn *uc)
{
	struct vsock_uds *u = uc->u;
	char peek[VSOCK_LINE_MAX];
	size_t room = VSOCK_LINE_MAX - uc->line_len, take;
	const char *nl;
	int64_t port;
	ssize_t n;
	int ret;

	/* Peek, then take exactly up to the newline: bytes after it belong to the stream. */
	n = recv(uc->h.fd, peek, room, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		uc_release(uc); /* the host program went away before asking */
		return;
	}
	nl = memchr(peek, '\n', (size_t)n);
	take = nl ? (size_t)(nl - peek) + 1 : (size_t)n;
	if (recv(uc->h.fd, uc->line + uc->line_len, take, MSG_DONTWAIT) != (ssize_t)take) {
		uc_release(uc);
		return;
	}
	uc->line_len += (unsigned int)take;
	if (!nl) {
		if (uc->line_len == VSOCK_LINE_MAX) {
			log_debug("vsock %s: handshake longer than %u bytes: closed", u->path,
				  VSOCK_LINE_MAX);
			uc_release(uc);
		}
		return;
	}
	port = parse_connect(uc->line, uc->line_len);
	if (port < 0) {
		log_debug("vsock %s: handshake is not \"CONNECT <port>\": closed", u->path);
		uc_release(uc);
		return;
	}
	/* The reserved slot becomes the connection's. */
	u->v->p.reserved--;
	uc->state = UC_CONNECTING;
	ret = vsock_connect(u->v, (uint32_t)port, &uds_ops, uc, &uc->ep);
	if (ret) {
		log_msg("vsock %s: connect to guest port %u: %s", u->path, (uint32_t)port,
			strerror(-ret));
		uc->ep = NULL;
		uc_release(uc);
	}
}

static void on_conn(struct loop *l, struct loop_handler *h, uint32_t events)
{
	struct uds_conn *uc = h->opaque;
	struct vsock *v = uc->u->v;
	bool took = vsock_enter(v);

	(void)l;
	/* Event bits are hints (a recycled slot may see an old one): act on what calls return. */
	if (uc->state == UC_HANDSHAKE) {
		handshake(uc);
	} else if (uc->state == UC_OPEN) {
		if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && (uc->h.events & EPOLLOUT))
			out_ready(uc);
		if (uc->state == UC_OPEN && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
		    (uc->h.events & EPOLLIN))
			in_ready(uc);
	}
	if (uc->state != UC_FREE)
		rearm(uc);
	vsock_leave(v, took);
}

/* Out of fds: accept with the spare one and close at once, so the backlog cannot spin. */
static void shed(struct vsock_uds *u)
{
	int fd;

	if (!u->fds_logged)
		log_msg("vsock %s: out of file descriptors: host connections refused", u->path);
	u->fds_logged = true;
	if (u->spare_fd >= 0) {
		close(u->spare_fd);
		fd = accept4(u->ls.fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			close(fd);
		u->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (u->spare_fd < 0 && loop_del(u->loop, &u->lh) == 0)
		u->paused = true;
}

static void on_listen(struct loop *l, struct loop_handler *h, uint32_t events)
{
	struct vsock_uds *u = h->opaque;
	struct vsock *v = u->v;
	bool took = vsock_enter(v);
	struct uds_conn *uc;
	unsigned int i;
	int fd;

	(void)l;
	(void)events;
	for (i = 0; i < UDS_ACCEPTS && !u->paused; i++) {
		/*
		 * Out of the budget the connection is still accepted, with a descriptor
		 * from hull's reserve, and closed at once (the budget logs it): left in
		 * the backlog it would wake the listener again and again.
		 */
		bool budget = !fdbudget_take(&u->fds);

		fd = accept4(u->ls.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (budget)
				fdbudget_give(&u->fds);
			if (errno == EMFILE || errno == ENFILE)
				shed(u);
			else if (errno == EAGAIN)
				break;
			else if (errno != ECONNABORTED && errno != EINTR)
				log_debug("vsock %s: accept: %s", u->path, strerror(errno));
			continue;
		}
		u->fds_logged = false;
		if (!budget) {
			close(fd);
			continue;
		}
		if (!vsock_proto_room(&v->p) || vlist_empty(&u->free)) {
			if (!u->limit_logged)
				log_msg("vsock %s: %u connections open, the limit: host connection "
					"refused",
					u->path, VSOCK_MAX_CONNS);
			u->limit_logged = true;
			close(fd);
			fdbudget_give(&u->fds);
			continue;
		}
		u->limit_logged = false;
		uc = uc_take(u, fd, UC_HANDSHAKE);
		v->p.reserved++;
		rearm(uc);
		if (!uc->h.events)
			uc_release(uc);
	}
	vsock_leave(v, took);
}

/* ---- guest-initiated: PATH_P ---- */

int vsock_uds_guest_connect(void *arg, struct vsock_ep *ep)
{
	struct vsock_uds *u = arg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct uds_conn *uc;
	int fd, ret;

	if (vlist_empty(&u->free))
		return -EAGAIN; /* not reached: every slot in use is a counted connection */
	ret = fdbudget_take(&u->fds); /* out of it: the guest's connect gets RST */
	if (ret)
		return ret;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", u->path, ep->local_port);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		fdbudget_give(&u->fds);
		return ret;
	}
	/* AF_UNIX connects at once or fails (EAGAIN: backlog full); both are answers. */
	if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		close(fd);
		fdbudget_give(&u->fds);
		log_debug("vsock %s: guest connect to port %u: %s: %s", u->path, ep->local_port,
			  sa.sun_path, strerror(-ret));
		return ret;
	}
	uc = uc_take(u, fd, UC_OPEN);
	uc_open(uc, ep);
	uc->ep = ep;
	ep->ops = &uds_ops;
	ep->opaque = uc;
	rearm(uc);
	return 0;
}

/* ---- the listener ---- */

int vsock_uds_listen(const char *path, struct usock *ls)
{
	return usock_listen(ls, "vsock", path, UDS_PORT_SUFFIX, UDS_BACKLOG, 0);
}

int vsock_uds_open(struct vsock *v, struct usock *ls, const struct virtio_host *host,
		   struct vsock_uds **out)
{
	const char *path = ls->path;
	struct vsock_uds *u;
	unsigned int i;
	int ret;

	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->v = v;
	u->loop = host->loop;
	u->spare_fd = -1;
	u->conns = calloc(VSOCK_MAX_CONNS, sizeof(*u->conns));
	if (!u->conns) {
		ret = -ENOMEM;
		goto err;
	}
	ret = fdbudget_acct_init(&u->fds, host->fds, VSOCK_MAX_CONNS, "vsock %s", path);
	if (ret) {
		log_msg("vsock %s: descriptor budget: %s", path, strerror(-ret));
		goto err;
	}
	vlist_init(&u->free);
	for (i = 0; i < VSOCK_MAX_CONNS; i++) {
		u->conns[i] = (struct uds_conn){ .u = u, .h.fd = -1 };
		vlist_init(&u->conns[i].link);
		vlist_add_tail(&u->free, &u->conns[i].link);
	}
	u->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	u->lh = (struct loop_handler){ .fd = ls->fd, .cb = on_listen, .opaque = u };
	ret = loop_add(u->loop, &u->lh, EPOLLIN);
	if (ret) {
		log_msg("vsock %s: event loop: %s", path, strerror(-ret));
		goto err;
	}
	u->ls = *ls; /* the socket is the endpoint's now */
	*ls = (struct usock){ .fd = -1 };
	u->path = u->ls.path;
	*out = u;
	return 0;

err:
	if (u->spare_fd >= 0)
		close(u->spare_fd);
	fdbudget_acct_fini(&u->fds);
	free(u->conns);
	free(u);
	return ret;
}

void vsock_uds_close(struct vsock_uds *u)
{
	unsigned int i;

	if (!u)
		return;
	/* Connections were closed through their endpoints; handshakes in progress remain. */
	for (i = 0; i < VSOCK_MAX_CONNS; i++) {
		if (u->conns[i].ep)
			vsock_ep_close(u->conns[i].ep);
		uc_release(&u->conns[i]);
	}
	if (!u->paused)
		loop_del(u->loop, &u->lh);
	if (u->spare_fd >= 0)
		close(u->spare_fd);
	usock_close(&u->ls); /* removes only our own socket file */
	fdbudget_acct_fini(&u->fds);
	free(u->conns);
	free(u);
}
