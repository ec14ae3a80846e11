/* net passt backend: 4-byte big-endian length + Ethernet frame, over passt's stream socket. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "virtio/net/internal.h"
#include "lib/iov.h"
#include "lib/log.h"

#define PREFIX 4
#define CHILD_FD 3	   /* the socket's number in passt: --fd 3 */
#define STOP_GRACE_MS 500  /* SIGTERM, then this long, then SIGKILL */
#define SOCK_BUF (1 << 20) /* room for several 64 KiB frames each way */

static int gone(struct vnet_be *be, const char *what, int err)
{
	snprintf(be->why, sizeof(be->why), "%s: %s", what, strerror(err));
	return -EPIPE;
}

/*
 * The whole record in one sendmsg. When the socket takes only part of it,
 * the rest is copied out now: the stream must carry whole records whatever
 * the guest does next (even a reset), so the remainder cannot stay in guest
 * memory.
 */
static int passt_tx(struct vnet_be *be, const struct virtio_net_hdr_v1 *hdr, struct iovec *iov,
		    unsigned int n, size_t len)
{
	uint32_t prefix = htobe32((uint32_t)len);
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = n + 1 };
	size_t total = PREFIX + len;
	ssize_t r;

	(void)hdr;
	if (be->tx_len)
		return -EAGAIN; /* the caller waits for flush first; never interleave records */
	iov[0] = (struct iovec){ .iov_base = &prefix, .iov_len = PREFIX };
	do
		r = sendmsg(be->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
			return -EAGAIN;
		return gone(be, "send", errno);
	}
	if ((size_t)r == total)
		return 0;
	/* Keep the unsent rest of the record (prefix and frame: at most 4 + VNET_FRAME_MAX). */
	be->tx_len = iov_read(iov, n + 1, (size_t)r, be->txbuf, total - (size_t)r);
	be->tx_off = 0;
	return VNET_TX_BUFFERED;
}

static int passt_flush(struct vnet_be *be)
{
	while (be->tx_off < be->tx_len) {
		ssize_t r = send(be->fd, be->txbuf + be->tx_off, be->tx_len - be->tx_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
				return -EAGAIN;
			return gone(be, "send", errno);
		}
		be->tx_off += (size_t)r;
	}
	be->tx_off = be->tx_len = 0;
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Our passt closed its end: if it is exiting, say how ("passt exited
 * (status 1)" beats a bare EOF). Its socket closes a moment before it
 * becomes a zombie, hence a short wait; this happens once per passt.
 */
static bool child_exit(struct vnet_be *be)
{
	int status, i;

	for (i = 0; be->child > 0 && i < 20; i++) {
		if (waitpid(be->child, &status, WNOHANG) == be->child) {
			be->child = 0;
			snprintf(be->why, sizeof(be->why), "passt exited (%s %d)",
				 WIFEXITED(status) ? "status" : "signal",
				 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			return true;
		}
		sleep_ms(5);
	}
	return false;
}

/* Read into dst what is there, up to want bytes: bytes read, -EAGAIN, or -EPIPE (closed, error). */
static ssize_t rd(struct vnet_be *be, void *dst, size_t want)
{
	ssize_t r;

	do
		r = recv(be->fd, dst, want, MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		return gone(be, "recv", errno);
	}
	if (r == 0) {
		if (!child_exit(be))
			snprintf(be->why, sizeof(be->why), "passt closed the connection");
		return -EPIPE;
	}
	return r;
}

/*
 * One record: the 4-byte length, then the frame, each possibly in pieces;
 * the piece state lives in be (rx_got, rx_want) and the partial frame in
 * buf. At most one record is ever held, and a length that is not a frame
 * ends the backend: resynchronising a byte stream is guesswork.
 */
static ssize_t passt_rx(struct vnet_be *be, uint8_t *buf, size_t cap)
{
	uint8_t *frame = buf + VNET_HDR_LEN;
	ssize_t r;

	if (be->rx_got < PREFIX) {
		r = rd(be, be->rx_prefix + be->rx_got, PREFIX - be->rx_got);
		if (r < 0)
			return r;
		be->rx_got += (size_t)r;
		if (be->rx_got < PREFIX)
			return -EAGAIN;
		be->rx_want = be32toh(*(const uint32_t *)(const void *)be->rx_prefix);
		if (!be->rx_want || be->rx_want > VNET_FRAME_MAX ||
		    be->rx_want > cap - VNET_HDR_LEN) {
			snprintf(be->why, sizeof(be->why),
				 "protocol error: a frame of %u bytes (1 to %u expected)",
				 be->rx_want, VNET_FRAME_MAX);
			return -EPIPE;
		}
	}
	r = rd(be, frame + (be->rx_got - PREFIX), be->rx_want - (be->rx_got - PREFIX));
	if (r < 0)
		return r;
	be->rx_got += (size_t)r;
	if (be->rx_got - PREFIX < be->rx_want)
		return -EAGAIN;
	be->rx_got = 0;
	/* passt has no offloads: a plain header, num_buffers filled in by the device. */
	memset(buf, 0, VNET_HDR_LEN);
	return (ssize_t)(VNET_HDR_LEN + be->rx_want);
}

/* Stop the passt we started: our end closed, SIGTERM, a short grace, then SIGKILL; reaped. */
static void stop_child(struct vnet_be *be)
{
	int status, waited;
	pid_t r;

	if (be->child <= 0)
		return;
	kill(be->child, SIGTERM);
	for (waited = 0; waited <= STOP_GRACE_MS; waited += 10) {
		r = waitpid(be->child, &status, WNOHANG);
		if (r == be->child || (r < 0 && errno != EINTR))
			goto done;
		sleep_ms(10);
	}
	log_msg("%s: passt (pid %d) ignored SIGTERM; killing it", be->name, (int)be->child);
	kill(be->child, SIGKILL);
	while (waitpid(be->child, &status, 0) < 0 && errno == EINTR)
		;
done:
	be->child = 0;
}

static void passt_close(struct vnet_be *be)
{
	if (be->fd >= 0)
		close(be->fd);
	be->fd = -1;
	stop_child(be);
	free(be->txbuf);
	be->txbuf = NULL;
}

static const struct vnet_be_ops passt_ops = {
	.kind = "passt",
	.tx = passt_tx,
	.flush = passt_flush,
	.rx = passt_rx,
	.close = passt_close,
};

int vnet_passt_fd(struct vnet_be *be, int fd)
{
	int flags = fcntl(fd, F_GETFL), size = SOCK_BUF;

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	/* Best effort: the defaults work, only with more wake-ups. */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	*be = (struct vnet_be){ .ops = &passt_ops, .fd = fd };
	snprintf(be->name, sizeof(be->name), "net passt");
	be->features = VNET_F(MRG_RXBUF) | VNET_F(MAC) | VNET_F(STATUS) | VNET_F(MTU);
	be->txbuf = malloc(PREFIX + VNET_FRAME_MAX);
	if (!be->txbuf) {
		be->fd = -1;
		return -ENOMEM;
	}
	return 0;
}

static int connect_to(struct vnet_be *be, const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd, ret;

	if (strlen(path) >= sizeof(a.sun_path)) {
		log_msg("net passt: %s: socket path longer than %zu bytes", path,
			sizeof(a.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(a.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		log_msg("net passt: socket: %s", strerror(-ret));
		return ret;
	}
	if (connect(fd, (const struct sockaddr *)&a, sizeof(a)) < 0) {
		ret = -errno;
		log_msg("net passt: connect %s: %s%s", path, strerror(-ret),
			-ret == ENOENT || -ret == ECONNREFUSED ? " (is passt running?)" : "");
		close(fd);
		return ret;
	}
	ret = vnet_passt_fd(be, fd);
	if (ret) {
		log_msg("net passt: %s", strerror(-ret));
		close(fd);
	}
	return ret;
}

/* The first executable "passt" along PATH (a default PATH when unset); no relative entries. */
static int find_passt(char *out, size_t outlen)
{
	const char *path = getenv("PATH"), *p, *end;

	if (!path || !path[0])
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; *p; p = *end ? end + 1 : end) {
		end = strchrnul(p, ':');
		if (*p != '/')
			continue;
		if ((size_t)snprintf(out, outlen, "%.*s/passt", (int)(end - p), p) >= outlen)
			continue;
		if (!access(out, X_OK))
			return 0;
	}
	return -ENOENT;
}

/*
 * After fork, in the child: only async-signal-safe calls. passt gets the
 * socket as fd 3 and /dev/null as stdin; stdout and stderr stay hull's so
 * passt's own errors reach the user; every other fd is closed.
 */
static void exec_child(const char *bin, int sock, int devnull, pid_t parent)
{
	char a0[] = "passt", a1[] = "-f", a2[] = "-q", a3[] = "--fd", a4[] = "3";
	/*
	 * No --runas: passt drops to nobody by itself when it is real root, and
	 * stays as it is in a user namespace, where nobody may not be mapped.
	 */
	char *argv[] = { a0, a1, a2, a3, a4, NULL };
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	/* Die with hull, even if it is killed; the check closes the race with hull dying first. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
		_exit(127);
	/* hull ignores SIGPIPE and may block signals in this thread: passt must start clean. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	sigaction(SIGPIPE, &dfl, NULL);
	sigaction(SIGTERM, &dfl, NULL);
	sigaction(SIGINT, &dfl, NULL);
	if (dup2(devnull, 0) < 0)
		_exit(127);
	if (sock == CHILD_FD) {
		if (fcntl(sock, F_SETFD, 0) < 0)
			_exit(127);
	} else if (dup2(sock, CHILD_FD) < 0) {
		_exit(127);
	}
	syscall(SYS_close_range, CHILD_FD + 1, ~0U, 0);
	execv(bin, argv);
	_exit(127);
}

/*
 * PR_SET_PDEATHSIG follows the thread that forks (hull's main thread, which
 * lives as long as the VM); passt clears it when it drops to nobody, and
 * then exits by itself when our end of the socket closes (--fd is one-off).
 */
static int start_passt(struct vnet_be *be)
{
	char bin[PATH_MAX];
	pid_t parent = getpid(), pid;
	int sv[2], devnull, ret;

	if (find_passt(bin, sizeof(bin))) {
		log_msg("net passt: passt not found (install the passt package)");
		return -ENOENT;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		ret = -errno;
		log_msg("net passt: socketpair: %s", strerror(-ret));
		return ret;
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0) {
		ret = -errno;
		log_msg("net passt: /dev/null: %s", strerror(-ret));
		goto err_pair;
	}
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		log_msg("net passt: fork: %s", strerror(-ret));
		goto err_null;
	}
	if (pid == 0)
		exec_child(bin, sv[1], devnull, parent);
	close(devnull);
	close(sv[1]);
	ret = vnet_passt_fd(be, sv[0]);
	if (ret) {
		log_msg("net passt: %s", strerror(-ret));
		close(sv[0]);
		be->child = pid;
		stop_child(be);
		return ret;
	}
	be->child = pid;
	log_debug("net passt: started %s (pid %d)", bin, (int)pid);
	return 0;

err_null:
	close(devnull);
err_pair:
	close(sv[0]);
	close(sv[1]);
	return ret;
}

int vnet_passt_open(struct vnet_be *be, const char *path)
{
	return path ? connect_to(be, path) : start_passt(be);
}
