/* stdio: hull's stdin, stdout and stderr as the container's, over the agent's stream connections. */
#ifndef HULL_CONTAINER_STDIO_H
#define HULL_CONTAINER_STDIO_H

#include <stdbool.h>
#include <stdint.h>
#include <termios.h>

#include "container/agent.h"
#include "lib/file.h"
#include "lib/loop.h"
#include "virtio/vsock/vsock.h"

/*
 * Without a terminal the process has three streams, each its own vsock connection (so each
 * has its own back-pressure and its own end of file): hull's stdin into the stdin stream
 * (end of input: SHUTDOWN SEND, the process reads end of file), the stdout and stderr streams
 * out to hull's fd 1 and fd 2, kept apart. With a terminal (--tty, process.terminal) one tty
 * stream carries both ways: hull's stdin in (raw mode on a host terminal, put back on every
 * way out; end of input: SHUTDOWN SEND, hull-init writes the pty's VEOF after the input the
 * stream carried), the pty's output to fd 1.
 *
 * Bytes are never buffered in hull beyond the vsock endpoint's own credit (256 KiB per
 * stream): a reader that stops leaves the process blocked in the guest, a guest that stops
 * reading leaves hull's stdin unread. hull's fds are written without ever blocking (lib/file's
 * non-blocking output) and read only when epoll says so, or, for a regular file or /dev/null
 * that epoll refuses, one batch per pass of the event loop. A write that fails (the reader
 * went away: EPIPE) resets that stream, and the process gets EPIPE as with a pipe.
 */

struct ctr_stdio;

struct ctr_stdio_ops {
	/* Output moved, or a stream ended: the owner's drain deadline starts again. */
	void (*progress)(void *opaque);
};

/* One stream: a bridge between hull's descriptors and its connection. */
struct ctr_pipe {
	struct ctr_stdio *s;
	uint32_t stream;	    /* CTR_STDIN, CTR_STDOUT, CTR_STDERR, CTR_TTY */
	struct vsock_bridge br;
	struct loop_handler in_h, out_h;
	struct loop_timer pump;	    /* reads an in_fd that epoll refuses */
	bool expected, attached;
	bool done;		    /* its output ended (or it was reset or closed) */
	bool in_unpolled;	    /* in_fd is a regular file or /dev/null: pumped, not polled */
};

struct ctr_stdio {
	struct loop *loop;
	struct ctr_agent *agent;
	bool tty;
	int in_fd;		    /* hull's stdin, -1 when closed */
	struct file_out out, err;   /* hull's stdout and stderr, written without blocking */
	struct ctr_pipe pipes[3];   /* stdin, stdout, stderr; with a terminal the tty in [0] */
	unsigned int npipes;
	struct termios saved;
	bool raw;		    /* the terminal on stdin is in raw mode: put it back */
	const struct ctr_stdio_ops *ops;
	void *opaque;
};

/*
 * Prepare hull's fds (stdin checked, stdout and stderr opened for non-blocking writes; with a
 * terminal and a tty on stdin: raw mode). 0 or -errno (logged).
 */
int ctr_stdio_init(struct ctr_stdio *s, struct loop *l, struct ctr_agent *a, bool tty,
		   const struct ctr_stdio_ops *ops, void *opaque);
/*
 * The same with other fds than hull's 0, 1 and 2 (an exec's, received on the control socket;
 * -1: closed; with a terminal err is not used). The fds stay the caller's: closed by it after
 * ctr_stdio_fini.
 */
int ctr_stdio_init_fds(struct ctr_stdio *s, struct loop *l, struct ctr_agent *a, bool tty,
		       int in, int out, int err, const struct ctr_stdio_ops *ops, void *opaque);
/* Ask the agent for process id's streams (before its START or EXEC). 0 or -errno. */
int ctr_stdio_expect(struct ctr_stdio *s, uint32_t id);
/* Every output stream ended (end of file, or reset). */
bool ctr_stdio_done(const struct ctr_stdio *s);
/* The host terminal's size (stdin's, else stdout's): 0, or -ENOTTY when neither is one. */
int ctr_stdio_winsize(const struct ctr_stdio *s, uint32_t *rows, uint32_t *cols);
/* Out of the loop, the terminal put back, fds closed. The agent closes the connections. */
void ctr_stdio_fini(struct ctr_stdio *s);

#endif
