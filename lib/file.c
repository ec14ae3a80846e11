/* file: read a user-named file with a size limit; non-blocking output; the open-file limit. */
#include "lib/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int file_read_all(const char *path, uint64_t max, uint8_t **out, size_t *len)
{
	uint8_t *buf = NULL;
	struct stat st;
	size_t got = 0;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max || (uint64_t)st.st_size >= SIZE_MAX) {
		ret = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	close(fd);
	return ret;
}

int file_read_text(const char *path, size_t max, char **out, size_t *len)
{
	size_t got = 0, cap = max < 4096 ? max + 1 : 4096, next;
	char *buf, *bigger;
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(cap);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	/* One byte past max is read, at most: its arrival says the file is too large. */
	for (;;) {
		if (got + 1 == cap) {
			if (got > max) {
				ret = -EFBIG;
				goto out;
			}
			next = cap > (max + 2) / 2 ? max + 2 : cap * 2;
			bigger = realloc(buf, next);
			if (!bigger) {
				ret = -ENOMEM;
				goto out;
			}
			buf = bigger;
			cap = next;
		}
		n = read(fd, buf + got, cap - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		if (!n)
			break;
		got += (size_t)n;
	}
	if (got > max) {
		ret = -EFBIG;
		goto out;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	close(fd);
	return ret;
}

const char *file_strerror(int err)
{
	switch (err) {
	case -EINVAL:
		return "not a regular file";
	case -EFBIG:
		return "file too large";
	case -EIO:
		return "file shrank while being read";
	default:
		return strerror(-err);
	}
}

/* The system's ceiling for RLIMIT_NOFILE (fs.nr_open), or 0 when unknown. */
static rlim_t nr_open(void)
{
	unsigned long long v = 0;
	FILE *f = fopen("/proc/sys/fs/nr_open", "re");

	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return (rlim_t)v;
}

rlim_t file_raise_nofile(void)
{
	struct rlimit rl;
	rlim_t ceiling = nr_open();

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && ceiling > rl.rlim_max) {
		struct rlimit up = { .rlim_cur = ceiling, .rlim_max = ceiling };

		if (!setrlimit(RLIMIT_NOFILE, &up))
			rl = up;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) && getrlimit(RLIMIT_NOFILE, &rl))
			return 0;
	}
	return rl.rlim_cur;
}

/*
 * How each kind of output is written without blocking:
 * - a pipe, FIFO or terminal: reopened through /proc/self/fd with O_NONBLOCK, a new open file
 *   description of the same pipe or tty. O_NONBLOCK on the descriptor itself would change the
 *   description hull shares with whoever gave it (the user's shell and terminal, a shim's
 *   pipe), with passt, which inherits it, and with stderr after 2>&1; a hull killed by SIGKILL
 *   could not put it back. pwritev2(RWF_NOWAIT) would be per call, but Linux 6.1 refuses it on
 *   pipes, ttys and sockets (EOPNOTSUPP), and later kernels still on ttys;
 * - a socket (systemd's journal stream): send(MSG_DONTWAIT), per call;
 * - a regular file or block device: as it is; those writes wait for no reader;
 * - when the reopening is refused (a pipe made by another user is 0600; no /proc): O_NONBLOCK
 *   on the descriptor after all, put back by file_out_close().
 */
int file_out_open(struct file_out *o, int fd)
{
	char path[32];
	struct stat st;
	int own, flags;

	*o = (struct file_out){ .fd = -1, .flags = -1 };
	if (fstat(fd, &st) < 0)
		return -errno;
	o->fd = fd;
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
		return 0;
	if (S_ISSOCK(st.st_mode)) {
		o->socket = true;
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	own = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (own >= 0) {
		o->fd = own;
		o->own = true;
		return 0;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		o->fd = -1;
		return -errno;
	}
	o->flags = flags;
	return 0;
}

ssize_t file_out_writev(const struct file_out *o, const struct iovec *iov, int n)
{
	ssize_t w;

	if (o->fd < 0)
		return -EBADF;
	if (o->socket) {
		struct msghdr m = { .msg_iov = (struct iovec *)(uintptr_t)iov,
				    .msg_iovlen = (size_t)n };

		w = sendmsg(o->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
	} else {
		w = writev(o->fd, iov, n);
	}
	return w < 0 ? -errno : w;
}

void file_out_close(struct file_out *o)
{
	if (o->flags >= 0 && o->fd >= 0)
		fcntl(o->fd, F_SETFL, o->flags);
	if (o->own)
		close(o->fd);
	*o = (struct file_out){ .fd = -1, .flags = -1 };
}
