/* control: the control socket — a Unix socket served on the event loop, one JSON line each way. */
#ifndef HULL_VMM_CONTROL_H
#define HULL_VMM_CONTROL_H

#include "lib/loop.h"
#include "vmm/ctlproto.h"

/*
 * Bounds, whatever clients do (each client costs at most about
 * CTL_LINE_MAX + CONTROL_OUT_MAX bytes and one descriptor):
 *  - CONTROL_MAX_CLIENTS at once; one more is accepted, sent an error line
 *    and closed;
 *  - a request line is at most CTL_LINE_MAX bytes: a longer one gets an error
 *    and the connection is closed (the stream cannot be resynchronised);
 *  - replies a client has not read: at most CONTROL_OUT_MAX bytes, past that
 *    the client is dropped;
 *  - CONTROL_REQS_PER_PASS requests of one client per pass of the loop; the
 *    rest wait for the next pass, after the loop's other work.
 * Garbage gets an error reply and the connection stays usable; a client that
 * goes away mid-request is closed and forgotten. Descriptors a client sends
 * (SCM_RIGHTS) go with its next request: at most CTL_FDS_MAX are held per
 * client (more are closed as they come), and those the request's command does
 * not take are closed once it was answered. A command that takes the connection
 * (control_ops.mode returning 2) ends it as a client.
 */
#define CONTROL_MAX_CLIENTS 16
#define CONTROL_OUT_MAX 65536
#define CONTROL_REQS_PER_PASS 16
#define CONTROL_BACKLOG 16
#define CONTROL_ACCEPTS 16 /* accepts per wakeup of the listener */

/* What the commands do; called on the loop thread. */
struct control_ops {
	/* The state reply line (ctl_reply_state()), malloc'd; NULL when out of memory. */
	char *(*state)(void *opaque, size_t *len);
	/* 0, or -errno: the reply is an error naming the cause. */
	int (*pause)(void *opaque);
	int (*resume)(void *opaque);
	/* The reply ({"ok":true}) is sent first, then stop is called. */
	void (*stop)(void *opaque);
	/* The whole reply line to a balloon request (an error reply too); NULL when out of memory. */
	char *(*balloon)(void *opaque, const struct ctl_request *req, size_t *len);
	/*
	 * A container VM's command (start, kill, ps, exec, resize), with the descriptors that
	 * came with it (fds[0..nfds): a command takes one by setting it to -1). 0 with the reply
	 * line in *line (malloc'd; NULL when out of memory), or 1 when the command answers later
	 * itself, on a dup of client_fd it made, or 2 when it also took the connection (exec):
	 * the server forgets the client (closing its own fd; nothing more is read from it), so
	 * that long-lived connections never count against CONTROL_MAX_CLIENTS. NULL: those
	 * commands get an error reply.
	 */
	int (*mode)(void *opaque, const struct ctl_request *req, int client_fd, int *fds,
		    unsigned int nfds, char **line, size_t *len);
	/*
	 * The whole reply line to a memory request (an error reply too); NULL when out of
	 * memory. NULL op: the command gets an error reply.
	 */
	char *(*memory)(void *opaque, const struct ctl_request *req, size_t *len);
};

struct control;

/*
 * Serve the control protocol on loop l. path: listen there (created 0600,
 * stale sockets replaced, other files refused: lib/usock.h), or NULL for a
 * server that only serves fds handed to control_adopt(). 0 or -errno (the
 * cause logged once, naming the path).
 */
int control_open(struct loop *l, const char *path, const struct control_ops *ops, void *opaque,
		 struct control **out);
/* Serve a connected stream socket as one more client (it is closed on failure): 0 or -errno. */
int control_adopt(struct control *c, int fd);
/* Clients connected now. */
unsigned int control_clients(const struct control *c);
/*
 * Close every client (once offering each what it has not read yet, without
 * waiting), the listener, and remove the socket file if it is still ours.
 * Loop thread, or once the loop no longer runs.
 */
void control_close(struct control *c);

#endif
