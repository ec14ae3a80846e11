/* console: a container VM's serial console — to --console-log or nowhere, its tail kept for errors. */
#ifndef HULL_CONTAINER_CONSOLE_H
#define HULL_CONTAINER_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/devices.h"
#include "lib/file.h"
#include "lib/loop.h"

/*
 * The container's output never goes to the console: the console carries kernel messages and
 * hull-init's "hull-init: fatal: ..." lines only. hull takes every byte the guest writes at
 * once (the guest never waits for it), keeps the last CTR_CONSOLE_TAIL bytes in memory to
 * explain a guest that did not start, and appends everything to --console-log FILE when one
 * is given, without ever blocking (a FIFO nobody reads loses what it does not take, counted).
 */

#define CTR_CONSOLE_TAIL 8192 /* bytes of console output kept for messages */
#define CTR_CONSOLE_LINES 20  /* lines of it a message shows */

/* The last bytes of a stream. */
struct ctr_tail {
	char buf[CTR_CONSOLE_TAIL];
	size_t head, len; /* the oldest byte, and how many there are */
};

void ctr_tail_add(struct ctr_tail *t, const void *p, size_t n);
/* The kept bytes in order into out (NUL-terminated, at most cap - 1 of the newest). */
size_t ctr_tail_get(const struct ctr_tail *t, char *out, size_t cap);

struct ctr_console {
	struct serial *serial;
	struct loop *loop;
	struct loop_handler tx_h;
	bool hooked;
	struct file_out log; /* --console-log, or fd -1 */
	uint64_t dropped;    /* bytes the log did not take */
	struct ctr_tail tail;
};

/* --console-log FILE opened for appending (created 0666 minus the umask): the fd or -errno. */
int ctr_console_open_log(const char *path);
/* Take the UART's output from now on (tx_fd: its "output waits" eventfd); log_fd or -1. */
int ctr_console_init(struct ctr_console *c, struct loop *l, struct serial *serial, int tx_fd,
		     int log_fd);
/* What the guest left in the UART, taken; the log closed (a drop count said). */
void ctr_console_fini(struct ctr_console *c);
/*
 * Log why (one line), then the last CTR_CONSOLE_LINES lines of the console, each as
 * "console: LINE"; when one of them is hull-init's "hull-init: fatal: ..." line, why is
 * followed by it.
 */
void ctr_console_report(struct ctr_console *c, const char *why);

#endif
