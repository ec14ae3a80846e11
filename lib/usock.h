/* usock: a listening Unix socket at a path the user named: stale sockets replaced, our file removed. */
#ifndef HULL_LIB_USOCK_H
#define HULL_LIB_USOCK_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

/* The longest path a socket address holds (sun_path less its NUL). */
#define USOCK_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* The socket file a listener made: only that file is removed (another may have replaced it). */
struct usock_file {
	dev_t dev;
	ino_t ino;
	bool made;
};

/*
 * Bind a non-blocking, close-on-exec Unix stream socket at path and listen.
 * An existing socket file that nobody listens on is stale and replaced; any
 * other existing file, or a socket someone listens on, is refused. mode, when
 * not 0, is the socket file's permissions from the start (set on the socket
 * before bind: no moment where others may connect). what names the socket in
 * the one message logged on failure ("WHAT: exists and is not a socket").
 * Returns the listening fd, with *file filled for usock_unlink(), or -errno:
 * -ENAMETOOLONG, -EEXIST (not a socket), -EADDRINUSE (in use), or what
 * socket/bind/listen said (-ENOENT: the directory does not exist).
 */
int usock_listen(const char *path, mode_t mode, int backlog, const char *what,
		 struct usock_file *file);

/*
 * Check, without creating anything, that usock_listen() could use path: it
 * fits a socket address, its directory exists, and it is absent or a stale
 * socket. For validating user input early; the same one-line messages.
 */
int usock_check(const char *path, const char *what);

/* Remove path if it is still the socket file usock_listen() made. */
void usock_unlink(const char *path, struct usock_file *file);

#endif
