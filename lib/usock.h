/* usock: a Unix stream socket hull listens on at a path the user named, stale sockets replaced. */
#ifndef HULL_LIB_USOCK_H
#define HULL_LIB_USOCK_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/un.h>

/* The longest path a socket address holds (sun_path less its NUL). */
#define USOCK_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

struct usock {
	int fd;     /* listening, non-blocking, close-on-exec; -1 when closed */
	char *path;
	dev_t dev;  /* the socket file made: only that one is removed at close */
	ino_t ino;
};

/*
 * Is path usable for usock_listen? It fits a socket address with room bytes to spare (a
 * suffix the user of the socket appends, e.g. vsock's "_PORT"), its directory exists, and
 * nothing is there but a stale socket (one nobody listens on), which usock_listen replaces.
 * Failures are logged as "WHAT PATH: cause" (what: "vsock", "api-sock"). 0, or -errno:
 * -ENAMETOOLONG, -EEXIST (not a socket), -EADDRINUSE (a program listens on it), an -errno of
 * the path or its directory (-ENOENT, -ENOTDIR, -EACCES).
 */
int usock_check(const char *what, const char *path, size_t room);

/*
 * Listen at path with usock_check's rules (a stale socket is replaced, anything else there is
 * an error), backlog connections pending, the socket file chmod'ed to mode (0: as the umask
 * leaves it) before anyone can connect. Failures logged as usock_check's. 0 or -errno, u
 * filled on success.
 */
int usock_listen(struct usock *u, const char *what, const char *path, size_t room, int backlog,
		 mode_t mode);

/* Close the socket and remove its file, if it is still the one usock_listen made. */
void usock_close(struct usock *u);

#endif
