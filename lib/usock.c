/* usock: a Unix stream socket hull listens on at a path the user named, stale sockets replaced. */
#include "lib/usock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/log.h"

/* Fill sa from path: -ENAMETOOLONG unless it fits with room bytes to spare. */
static int address(const char *what, const char *path, size_t room, struct sockaddr_un *sa)
{
	size_t n = strlen(path);

	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	if (!n) {
		log_msg("%s: empty socket path", what);
		return -EINVAL;
	}
	if (n + room >= sizeof(sa->sun_path)) {
		log_msg("%s %s: path too long (at most %zu bytes)", what, path,
			sizeof(sa->sun_path) - 1 - room);
		return -ENAMETOOLONG;
	}
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

/*
 * Something exists at path: fine only when it is a socket nobody listens on (a hull that died
 * left it). 0 for a stale socket, or -errno, logged.
 */
static int stale(const char *what, const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int probe, ret;

	if (lstat(path, &st)) {
		ret = -errno;
		log_msg("%s %s: %s", what, path, strerror(-ret));
		return ret;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_msg("%s %s: exists and is not a socket", what, path);
		return -EEXIST;
	}
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return -errno;
	ret = connect(probe, (const struct sockaddr *)sa, sizeof(*sa)) ? -errno : 0;
	close(probe);
	if (ret != -ECONNREFUSED) {
		log_msg("%s %s: in use by a running program", what, path);
		return -EADDRINUSE;
	}
	return 0;
}

int usock_check(const char *what, const char *path, size_t room)
{
	struct sockaddr_un sa;
	char dir[PATH_MAX], *slash;
	struct stat st;
	int ret;

	ret = address(what, path, room, &sa);
	if (ret)
		return ret;
	if (!lstat(path, &st) || errno != ENOENT)
		return stale(what, path, &sa);
	/* Nothing there yet: its directory must exist and take a new file. */
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st))
		ret = -errno;
	else if (!S_ISDIR(st.st_mode))
		ret = -ENOTDIR;
	else if (access(dir, W_OK | X_OK))
		ret = -errno;
	if (ret)
		log_msg("%s %s: %s", what, path, strerror(-ret));
	return ret;
}

int usock_listen(struct usock *u, const char *what, const char *path, size_t room, int backlog,
		 mode_t mode)
{
	struct sockaddr_un sa;
	struct stat st;
	int ret;

	*u = (struct usock){ .fd = -1 };
	ret = address(what, path, room, &sa);
	if (ret)
		return ret;
	u->path = strdup(path);
	if (!u->path)
		return -ENOMEM;
	u->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (u->fd < 0) {
		ret = -errno;
		log_msg("%s %s: socket: %s", what, path, strerror(-ret));
		goto err;
	}
	if (bind(u->fd, (const struct sockaddr *)&sa, sizeof(sa))) {
		ret = -errno;
		if (ret != -EADDRINUSE)
			goto err_bind;
		ret = stale(what, path, &sa); /* says why not */
		if (ret)
			goto err;
		if (unlink(path) && errno != ENOENT) {
			ret = -errno;
			log_msg("%s %s: stale socket: %s", what, path, strerror(-ret));
			goto err;
		}
		if (bind(u->fd, (const struct sockaddr *)&sa, sizeof(sa))) {
			ret = -errno;
			goto err_bind;
		}
	}
	if (!lstat(path, &st)) {
		u->dev = st.st_dev;
		u->ino = st.st_ino;
	}
	/* Before listen(): until then a connect is refused, so nobody gets in with the old mode. */
	if ((mode && chmod(path, mode)) || listen(u->fd, backlog)) {
		ret = -errno;
		log_msg("%s %s: %s: %s", what, path, mode ? "chmod or listen" : "listen",
			strerror(-ret));
		goto err_unlink;
	}
	return 0;

err_bind:
	log_msg("%s %s: bind: %s", what, path, strerror(-ret));
	goto err;
err_unlink:
	unlink(path);
err:
	if (u->fd >= 0)
		close(u->fd);
	free(u->path);
	*u = (struct usock){ .fd = -1 };
	return ret;
}

void usock_close(struct usock *u)
{
	struct stat st;

	if (u->fd >= 0)
		close(u->fd);
	/* Only our own socket file: another program may have replaced a stale one since. */
	if (u->path && !lstat(u->path, &st) && st.st_dev == u->dev && st.st_ino == u->ino)
		unlink(u->path);
	free(u->path);
	*u = (struct usock){ .fd = -1 };
}
