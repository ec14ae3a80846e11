/* usock: a listening Unix socket at a path the user named: stale sockets replaced, our file removed. */
#include "lib/usock.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"

/* An existing path is usable only as a socket file nobody listens on (connecting is refused). */
static int check_stale(const char *path, const struct sockaddr_un *sa, const char *what)
{
	struct stat st;
	int probe, ret;

	if (lstat(path, &st) || !S_ISSOCK(st.st_mode)) {
		log_msg("%s: exists and is not a socket", what);
		return -EEXIST;
	}
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (probe < 0) {
		ret = -errno;
		log_msg("%s: socket: %s", what, strerror(-ret));
		return ret;
	}
	ret = connect(probe, (const struct sockaddr *)sa, sizeof(*sa)) ? -errno : 0;
	close(probe);
	if (ret != -ECONNREFUSED) {
		log_msg("%s: in use by a running program", what);
		return -EADDRINUSE;
	}
	return 0;
}

static int replace_stale(int fd, const char *path, const struct sockaddr_un *sa, const char *what)
{
	int ret = check_stale(path, sa, what);

	if (ret)
		return ret;
	if (unlink(path) && errno != ENOENT) {
		ret = -errno;
		log_msg("%s: stale socket: %s", what, strerror(-ret));
		return ret;
	}
	if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa))) {
		ret = -errno;
		log_msg("%s: bind: %s", what, strerror(-ret));
		return ret;
	}
	return 0;
}

static int fill_addr(struct sockaddr_un *sa, const char *path, const char *what)
{
	size_t len = strlen(path);

	if (!len || len > USOCK_PATH_MAX) {
		log_msg("%s: path %s (at most %zu bytes)", what, len ? "too long" : "empty",
			USOCK_PATH_MAX);
		return len ? -ENAMETOOLONG : -EINVAL;
	}
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	memcpy(sa->sun_path, path, len + 1);
	return 0;
}

int usock_check(const char *path, const char *what)
{
	struct sockaddr_un sa;
	char dir[sizeof(sa.sun_path)];
	struct stat st;
	char *slash;
	int ret;

	ret = fill_addr(&sa, path, what);
	if (ret)
		return ret;
	if (!lstat(path, &st))
		return check_stale(path, &sa, what);
	if (errno != ENOENT) {
		ret = -errno;
		log_msg("%s: %s", what, strerror(-ret));
		return ret;
	}
	memcpy(dir, path, strlen(path) + 1);
	slash = strrchr(dir, '/');
	if (!slash)
		return 0; /* in the working directory */
	if (slash == dir)
		slash++; /* "/x" lives in "/" */
	*slash = '\0';
	ret = stat(dir, &st) ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (ret)
		log_msg("%s: directory %s: %s", what, dir, strerror(-ret));
	return ret;
}

int usock_listen(const char *path, mode_t mode, int backlog, const char *what,
		 struct usock_file *file)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, ret;

	file->made = false;
	ret = fill_addr(&sa, path, what);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		log_msg("%s: socket: %s", what, strerror(-ret));
		return ret;
	}
	/* Linux gives the file the socket inode's mode (less the umask) at bind. */
	if (mode && fchmod(fd, mode)) {
		ret = -errno;
		log_msg("%s: fchmod: %s", what, strerror(-ret));
		goto err;
	}
	if (bind(fd, (const struct sockaddr *)&sa, sizeof(sa))) {
		ret = -errno;
		if (ret != -EADDRINUSE) {
			log_msg("%s: bind: %s", what, strerror(-ret));
			goto err;
		}
		ret = replace_stale(fd, path, &sa, what);
		if (ret)
			goto err;
	}
	if (!lstat(path, &st)) {
		file->dev = st.st_dev;
		file->ino = st.st_ino;
		file->made = true;
	}
	if (listen(fd, backlog)) {
		ret = -errno;
		log_msg("%s: listen: %s", what, strerror(-ret));
		usock_unlink(path, file);
		goto err;
	}
	return fd;

err:
	close(fd);
	return ret;
}

void usock_unlink(const char *path, struct usock_file *file)
{
	struct stat st;

	if (file->made && !lstat(path, &st) && st.st_dev == file->dev && st.st_ino == file->ino)
		unlink(path);
	file->made = false;
}
