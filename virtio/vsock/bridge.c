/* vsock bridge: one connection's bytes between host descriptors and an in-process endpoint. */
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "virtio/vsock/internal.h"

void vsock_bridge_init(struct vsock_bridge *b, struct vsock_ep *ep, int in_fd,
		       const struct file_out *out, bool socket)
{
	*b = (struct vsock_bridge){ .ep = ep, .in_fd = in_fd, .out = out, .socket = socket };
}

size_t vsock_bridge_recv(struct vsock_bridge *b, const struct iovec *iov, unsigned int n,
			 size_t len)
{
	ssize_t w;

	if (b->err)
		return 0;
	if (!b->out)
		return len; /* nobody reads this direction: taken and dropped */
	w = file_out_writev(b->out, iov, (int)n);
	if (w == -EAGAIN || w == -EINTR) {
		w = 0;
	} else if (w < 0) {
		b->err = (int)w;
		return 0;
	}
	/* The endpoint keeps the rest and offers it again after out_ready's recv_ready. */
	if ((size_t)w < len)
		b->out_blocked = true;
	return (size_t)w;
}

void vsock_bridge_shutdown(struct vsock_bridge *b, unsigned int flags)
{
	/* Every byte before SEND was taken (written) already, so the reader sees them, then EOF. */
	if (flags & VIRTIO_VSOCK_SHUTDOWN_SEND) {
		b->out_eof = true;
		if (b->socket)
			shutdown(b->in_fd, SHUT_WR);
	}
	if (flags & VIRTIO_VSOCK_SHUTDOWN_RCV) {
		b->in_shut = true;
		if (b->socket)
			shutdown(b->in_fd, SHUT_RD); /* the host program's writes now fail (EPIPE) */
	}
}

void vsock_bridge_writable(struct vsock_bridge *b)
{
	b->in_blocked = false;
}

/* in_fd's bytes straight into the guest's RX buffers. */
static ssize_t fill(void *arg, const struct iovec *iov, unsigned int n)
{
	struct vsock_bridge *b = arg;
	ssize_t r = readv(b->in_fd, iov, (int)n);

	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno;
	return r;
}

void vsock_bridge_in_ready(struct vsock_bridge *b)
{
	ssize_t r;

	if (b->in_fd < 0 || b->in_eof || b->in_blocked || b->in_shut || b->err)
		return;
	r = vsock_ep_send_fill(b->ep, SIZE_MAX, fill, b);
	if (r > 0 || r == -EAGAIN)
		return; /* level-triggered: more comes on the next round, after other fds */
	if (r == -ENOBUFS) {
		b->in_blocked = true; /* writable() unblocks */
	} else if (r == 0) {
		b->in_eof = true;
		vsock_ep_shutdown(b->ep, SHUT_WR);
	} else if (r == -EPIPE) {
		b->in_shut = true;
	} else {
		b->err = (int)r;
	}
}

void vsock_bridge_out_ready(struct vsock_bridge *b)
{
	if (!b->out_blocked || b->err)
		return;
	b->out_blocked = false;
	vsock_ep_recv_ready(b->ep); /* recv may block again */
}

uint32_t vsock_bridge_events(const struct vsock_bridge *b, int fd)
{
	uint32_t ev = 0;

	if (fd < 0 || b->err)
		return 0;
	if (fd == b->in_fd && !b->in_eof && !b->in_blocked && !b->in_shut)
		ev |= EPOLLIN;
	if (b->out && fd == b->out->fd && b->out_blocked)
		ev |= EPOLLOUT;
	return ev;
}
