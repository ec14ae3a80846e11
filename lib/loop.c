/* loop: the event loop — one epoll set, one thread, callbacks per fd, timers, deferred frees. */
#include "lib/loop.h"

#include <errno.h>
#include <stddef.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define NSEC 1000000000ULL

uint64_t loop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

static void on_timers(struct loop *l, struct loop_handler *h, uint32_t events);

int loop_init(struct loop *l)
{
	int ret;

	l->stop = false;
	l->dispatching = false;
	l->batch_n = l->batch_i = 0;
	l->released = NULL;
	l->timers = NULL;
	l->timer_seq = 0;
	l->timer_fd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return -errno;
	l->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (l->timer_fd < 0) {
		ret = -errno;
		goto err;
	}
	l->timer_h = (struct loop_handler){ .fd = l->timer_fd, .cb = on_timers, .opaque = l };
	ret = loop_add(l, &l->timer_h, EPOLLIN);
	if (ret)
		goto err;
	pthread_mutex_init(&l->timer_lock, NULL);
	return 0;

err:
	if (l->timer_fd >= 0)
		close(l->timer_fd);
	close(l->epfd);
	l->epfd = l->timer_fd = -1;
	return ret;
}

void loop_destroy(struct loop *l)
{
	if (l->epfd < 0)
		return;
	close(l->timer_fd);
	close(l->epfd);
	pthread_mutex_destroy(&l->timer_lock);
	l->epfd = l->timer_fd = -1;
	l->timers = NULL;
}

static int ctl(struct loop *l, int op, struct loop_handler *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	if (epoll_ctl(l->epfd, op, h->fd, &ev) < 0)
		return -errno;
	h->in_set = op != EPOLL_CTL_DEL;
	h->events = h->in_set ? events : 0;
	return 0;
}

int loop_add(struct loop *l, struct loop_handler *h, uint32_t events)
{
	return ctl(l, EPOLL_CTL_ADD, h, events);
}

int loop_mod(struct loop *l, struct loop_handler *h, uint32_t events)
{
	return ctl(l, EPOLL_CTL_MOD, h, events);
}

/* Events of h still waiting in this batch are not delivered: h may be gone by then. */
static void forget_pending(struct loop *l, const struct loop_handler *h)
{
	int i;

	if (!l->dispatching)
		return;
	for (i = l->batch_i + 1; i < l->batch_n; i++)
		if (l->batch[i].data.ptr == h)
			l->batch[i].data.ptr = NULL;
}

int loop_del(struct loop *l, struct loop_handler *h)
{
	forget_pending(l, h);
	return ctl(l, EPOLL_CTL_DEL, h, 0);
}

int loop_want(struct loop *l, struct loop_handler *h, uint32_t events)
{
	if (!events)
		return h->in_set ? loop_del(l, h) : 0;
	if (!h->in_set)
		return loop_add(l, h, events);
	return events == h->events ? 0 : loop_mod(l, h, events);
}

void loop_free(struct loop *l, struct loop_handler *h, void (*release)(struct loop_handler *h))
{
	/* ENOENT (never added, or deleted already) and EBADF (fd closed) leave nothing to undo. */
	loop_del(l, h);
	if (!l->dispatching) {
		release(h);
		return;
	}
	if (h->releasing)
		return;
	h->releasing = true;
	h->release = release;
	h->next_release = l->released;
	l->released = h;
}

static void release_deferred(struct loop *l)
{
	while (l->released) {
		struct loop_handler *h = l->released;

		l->released = h->next_release;
		h->releasing = false;
		h->release(h);
	}
}

int loop_run_once(struct loop *l, int timeout_ms)
{
	int n, called = 0;

	n = epoll_wait(l->epfd, l->batch, LOOP_BATCH, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	l->batch_n = n;
	l->dispatching = true;
	for (l->batch_i = 0; l->batch_i < n && !l->stop; l->batch_i++) {
		struct loop_handler *h = l->batch[l->batch_i].data.ptr;

		if (!h)
			continue; /* deleted by an earlier callback of this batch */
		h->cb(l, h, l->batch[l->batch_i].events);
		called++;
	}
	l->dispatching = false;
	l->batch_n = l->batch_i = 0;
	release_deferred(l);
	return called;
}

int loop_run(struct loop *l)
{
	while (!l->stop) {
		int ret = loop_run_once(l, -1);

		if (ret < 0)
			return ret;
	}
	return 0;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}

/* --- timers --------------------------------------------------------------------------- */

/* a + b, or "never" (UINT64_MAX) past the end of the clock. */
static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Point the timerfd at the first deadline (timer lock held). */
static void program(struct loop *l)
{
	struct itimerspec its = { 0 };

	if (l->timers) {
		/* Absolute; never 0, which would disarm. */
		uint64_t d = l->timers->deadline ? l->timers->deadline : 1;

		its.it_value.tv_sec = (time_t)(d / NSEC);
		its.it_value.tv_nsec = (long)(d % NSEC);
	}
	/* Only EINVAL/EBADF are possible, for values and an fd this file controls. */
	timerfd_settime(l->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void unlink_timer(struct loop *l, struct loop_timer *t)
{
	struct loop_timer **p;

	for (p = &l->timers; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	t->next = NULL;
	t->armed = false;
}

/* Insert by deadline, after timers with the same deadline (they were armed first). */
static void insert_timer(struct loop *l, struct loop_timer *t)
{
	struct loop_timer **p = &l->timers;

	while (*p && (*p)->deadline <= t->deadline)
		p = &(*p)->next;
	t->next = *p;
	*p = t;
	t->armed = true;
}

void loop_timer_init(struct loop_timer *t, void (*cb)(struct loop *l, struct loop_timer *t),
		     void *opaque)
{
	*t = (struct loop_timer){ .cb = cb, .opaque = opaque };
}

void loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t delay_ns, uint64_t period_ns)
{
	pthread_mutex_lock(&l->timer_lock);
	if (t->armed)
		unlink_timer(l, t);
	t->deadline = add_sat(loop_now_ns(), delay_ns);
	t->period = period_ns;
	t->seq = l->timer_seq;
	insert_timer(l, t);
	program(l);
	pthread_mutex_unlock(&l->timer_lock);
}

void loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	pthread_mutex_lock(&l->timer_lock);
	if (t->armed) {
		unlink_timer(l, t);
		program(l);
	}
	pthread_mutex_unlock(&l->timer_lock);
}

bool loop_timer_armed(struct loop *l, struct loop_timer *t)
{
	bool armed;

	pthread_mutex_lock(&l->timer_lock);
	armed = t->armed;
	pthread_mutex_unlock(&l->timer_lock);
	return armed;
}

/*
 * The timerfd fired: run every timer due now, in deadline order, each once.
 * Timers armed during this pass (a callback re-arming itself or another) wait
 * for the next pass, so one pass does a bounded amount of work.
 */
static void on_timers(struct loop *l, struct loop_handler *h, uint32_t events)
{
	uint64_t now = loop_now_ns(), ticks, pass;
	struct loop_timer *t;
	ssize_t n;

	(void)events;
	/* The count does not matter (EAGAIN: re-programmed since): the list says what is due. */
	n = read(h->fd, &ticks, sizeof(ticks));
	(void)n;
	pthread_mutex_lock(&l->timer_lock);
	pass = ++l->timer_seq;
	while ((t = l->timers) && t->deadline <= now && t->seq < pass) {
		unlink_timer(l, t);
		if (t->period) {
			t->deadline = add_sat(t->deadline, t->period);
			if (t->deadline <= now)
				t->deadline = add_sat(now, t->period); /* late: skip what was missed */
			t->seq = pass;
			insert_timer(l, t);
		}
		pthread_mutex_unlock(&l->timer_lock);
		t->cb(l, t);
		pthread_mutex_lock(&l->timer_lock);
	}
	program(l);
	pthread_mutex_unlock(&l->timer_lock);
}
