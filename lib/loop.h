/* loop: the event loop — one epoll set, one thread, a callback per fd, timers, deferred frees. */
#ifndef HULL_LIB_LOOP_H
#define HULL_LIB_LOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#define LOOP_BATCH 16 /* events taken from epoll per wakeup */

struct loop;

/*
 * One fd in the loop. fd, cb and opaque are the caller's; the rest is the
 * loop's. The handler must stay valid until it is deleted (loop_del) and the
 * batch being dispatched is over: loop_free() does both.
 */
struct loop_handler {
	int fd;
	void (*cb)(struct loop *l, struct loop_handler *h, uint32_t events);
	void *opaque;
	/* The loop's: h's interest and whether it is in the epoll set; loop_free()'s release. */
	uint32_t events;
	bool in_set;
	void (*release)(struct loop_handler *h);
	struct loop_handler *next_release;
	bool releasing;
};

/*
 * A timer: cb runs on the loop thread once the deadline (CLOCK_MONOTONIC)
 * passed, then every period if it has one. cb and opaque are the caller's.
 */
struct loop_timer {
	void (*cb)(struct loop *l, struct loop_timer *t);
	void *opaque;
	/* The loop's, under its timer lock. */
	uint64_t deadline, period; /* ns */
	uint64_t seq;              /* when it was armed: fires on a later pass than that */
	bool armed;
	struct loop_timer *next;
};

struct loop {
	int epfd;
	bool stop;
	/* The batch being dispatched (loop thread): loop_del() drops a deleted handler's events. */
	struct epoll_event batch[LOOP_BATCH];
	int batch_n, batch_i;
	bool dispatching;
	struct loop_handler *released; /* loop_free()d during this batch, released after it */
	/* Timers, sorted by deadline, behind one timerfd set to the first deadline. */
	int timer_fd;
	struct loop_handler timer_h;
	pthread_mutex_t timer_lock;
	struct loop_timer *timers;
	uint64_t timer_seq;
};

/* A new loop: its epoll set and its timerfd. 0 or -errno; loop_destroy() undoes it. */
int loop_init(struct loop *l);
/* Close the loop's fds; safe on a loop whose epfd is -1 (never initialised). */
void loop_destroy(struct loop *l);

/* h must stay valid until it is removed (loop_del / loop_free) or the loop is destroyed. */
int loop_add(struct loop *l, struct loop_handler *h, uint32_t events);
int loop_mod(struct loop *l, struct loop_handler *h, uint32_t events);
/*
 * Remove h from the epoll set. Called from a callback, it also drops h's
 * events still waiting in the current batch: h is not called again, however
 * the batch was ordered (level-triggered readiness comes back once h is added
 * again). Loop thread (or before the loop runs).
 */
int loop_del(struct loop *l, struct loop_handler *h);
/*
 * Make h's interest events: added, modified, or (0) removed from the set as
 * needed, nothing when unchanged. Removing an fd that waits for nothing
 * keeps a hung-up one (EPOLLHUP is always reported) from waking the loop.
 */
int loop_want(struct loop *l, struct loop_handler *h, uint32_t events);
/*
 * Remove h (as loop_del, ignoring that it was not in the set or its fd is
 * closed) and call release(h) once the current batch is dispatched, or at
 * once outside a dispatch: a callback may free a handler whose event is later
 * in the same batch. Loop thread.
 */
void loop_free(struct loop *l, struct loop_handler *h, void (*release)(struct loop_handler *h));

/* Dispatch events until loop_stop(); -errno on an epoll failure. */
int loop_run(struct loop *l);
/*
 * Wait at most timeout_ms (-1: no limit) for events and dispatch one batch:
 * the number of handlers called, or -errno (-EINTR is returned as 0).
 */
int loop_run_once(struct loop *l, int timeout_ms);
void loop_stop(struct loop *l);

/*
 * Timers. loop_timer_init() before first use. Arm: the first call of cb
 * after delay_ns, then every period_ns (0: once); arming an armed timer moves
 * it. A timer comes due on a pass of the loop after the one that armed it, so
 * a callback that re-arms itself with delay 0 runs once per pass, not in a
 * loop. Timers due in one pass run in deadline order; a periodic timer late by
 * more than its period skips what it missed (no burst). Arm and cancel may be
 * called from any thread (the callback always runs on the loop thread); after
 * cancel returns, the timer does not start again, but a callback that already
 * started on the loop thread finishes: free a timer only from the loop thread
 * or once the loop no longer runs.
 */
void loop_timer_init(struct loop_timer *t, void (*cb)(struct loop *l, struct loop_timer *t),
		     void *opaque);
void loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t delay_ns, uint64_t period_ns);
void loop_timer_cancel(struct loop *l, struct loop_timer *t);
bool loop_timer_armed(struct loop *l, struct loop_timer *t);

/* CLOCK_MONOTONIC in ns, the timers' clock. */
uint64_t loop_now_ns(void);

#endif
