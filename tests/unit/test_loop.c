/* Unit tests for the event loop: handlers deleted or freed mid-batch, timers' order, cancel, periods. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/loop.h"

#define MS 1000000ULL

static struct loop L;

static int setup(void **state)
{
	(void)state;
	return loop_init(&L) ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	loop_destroy(&L);
	return 0;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* --- handlers deleted or freed by an earlier callback of the same batch --------------------- */

struct peer {
	struct loop_handler h;
	struct peer *other;
	int *calls;    /* shared count of callbacks run */
	int *released; /* shared count of releases */
	bool use_free; /* loop_free (deferred release) or loop_del + free() at once */
};

static void release_peer(struct loop_handler *h)
{
	struct peer *p = (struct peer *)h->opaque;

	(*p->released)++;
	close(p->h.fd);
	free(p);
}

static struct peer *ran; /* the peer whose callback ran */

/* Whichever of the two runs first removes and frees the other, whose event is in this batch. */
static void on_peer(struct loop *l, struct loop_handler *h, uint32_t events)
{
	struct peer *p = h->opaque, *o = p->other;

	(void)events;
	(*p->calls)++;
	ran = p;
	assert_non_null(o); /* a freed peer would be called with its (freed) state */
	o->other = NULL;
	p->other = NULL;
	if (p->use_free) {
		loop_free(l, &o->h, release_peer);
		return;
	}
	assert_int_equal(loop_del(l, &o->h), 0);
	close(o->h.fd);
	free(o); /* at once: ASan sees any later use of o by the loop */
	(*p->released)++;
}

static struct peer *new_peer(int *calls, int *released, bool use_free)
{
	struct peer *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	p->h = (struct loop_handler){ .fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK), .cb = on_peer,
				      .opaque = p };
	assert_true(p->h.fd >= 0);
	p->calls = calls;
	p->released = released;
	p->use_free = use_free;
	return p;
}

static void check_mid_batch(bool use_free)
{
	int calls = 0, released = 0, n;
	struct peer *a = new_peer(&calls, &released, use_free);
	struct peer *b = new_peer(&calls, &released, use_free);

	ran = NULL;
	a->other = b;
	b->other = a;
	assert_int_equal(loop_add(&L, &a->h, EPOLLIN), 0);
	assert_int_equal(loop_add(&L, &b->h, EPOLLIN), 0);
	/* Both eventfds are readable: one epoll_wait returns both events in one batch. */
	n = loop_run_once(&L, 1000);
	assert_int_equal(n, 1);
	assert_int_equal(calls, 1);
	assert_int_equal(released, 1);
	/* Only the one that ran is left in the set. */
	assert_non_null(ran);
	loop_free(&L, &ran->h, release_peer);
	assert_int_equal(released, 2);
	assert_int_equal(loop_run_once(&L, 30), 0);
	assert_int_equal(calls, 1);
}

/* A handler deleted and freed at once by an earlier callback of the batch is not called. */
static void test_deleted_mid_batch_not_called(void **state)
{
	(void)state;
	check_mid_batch(false);
}

/* ... and one freed through loop_free is released after the batch, once, and not called. */
static void test_freed_mid_batch_released_after(void **state)
{
	(void)state;
	check_mid_batch(true);
}

struct self {
	struct loop_handler h;
	int released;
	bool in_cb;
};

static void release_self(struct loop_handler *h)
{
	struct self *s = h->opaque;

	/* Never while its own callback still runs. */
	assert_false(s->in_cb);
	s->released++;
	close(h->fd);
}

static void on_self(struct loop *l, struct loop_handler *h, uint32_t events)
{
	struct self *s = h->opaque;

	(void)events;
	s->in_cb = true;
	loop_free(l, h, release_self);
	loop_free(l, h, release_self); /* twice: still released once */
	assert_int_equal(s->released, 0);
	s->in_cb = false;
}

/* A callback may free its own handler; it is released when the batch is over. */
static void test_free_self(void **state)
{
	struct self s = { 0 };

	(void)state;
	s.h = (struct loop_handler){ .fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK), .cb = on_self,
				     .opaque = &s };
	assert_int_equal(loop_add(&L, &s.h, EPOLLIN), 0);
	assert_int_equal(loop_run_once(&L, 1000), 1);
	assert_int_equal(s.released, 1);
	/* Gone from the set: nothing more to dispatch. */
	assert_int_equal(loop_run_once(&L, 0), 0);
}

/* Outside a dispatch, loop_free releases at once; a handler never added is fine too. */
static void test_free_outside_dispatch(void **state)
{
	struct self s = { 0 };

	(void)state;
	s.h = (struct loop_handler){ .fd = eventfd(0, EFD_CLOEXEC), .cb = on_self, .opaque = &s };
	loop_free(&L, &s.h, release_self);
	assert_int_equal(s.released, 1);
}

static int hup_calls;

static void on_hup(struct loop *l, struct loop_handler *h, uint32_t events)
{
	(void)l;
	(void)h;
	(void)events;
	hup_calls++;
}

/* loop_want adds, changes and removes; a hung-up fd that waits for nothing does not wake the loop. */
static void test_want(void **state)
{
	struct loop_handler h;
	int sv[2];

	(void)state;
	hup_calls = 0;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	h = (struct loop_handler){ .fd = sv[0], .cb = on_hup };
	assert_int_equal(loop_want(&L, &h, 0), 0); /* not in the set: nothing to do */
	assert_int_equal(loop_want(&L, &h, EPOLLIN), 0);
	assert_int_equal(loop_want(&L, &h, EPOLLIN), 0);
	assert_int_equal(h.events, EPOLLIN);
	close(sv[1]); /* hung up: EPOLLHUP whatever the interest */
	assert_int_equal(loop_run_once(&L, 100), 1);
	assert_int_equal(loop_want(&L, &h, EPOLLOUT), 0);
	assert_int_equal(loop_run_once(&L, 100), 1);
	assert_int_equal(loop_want(&L, &h, 0), 0);
	assert_false(h.in_set);
	assert_int_equal(loop_run_once(&L, 30), 0);
	assert_int_equal(hup_calls, 2);
	assert_int_equal(loop_want(&L, &h, EPOLLIN), 0);
	assert_int_equal(loop_run_once(&L, 100), 1);
	assert_int_equal(loop_del(&L, &h), 0);
	close(sv[0]);
}

/* --- timers ---------------------------------------------------------------------------- */

static int order[16], norder;

static void on_order(struct loop *l, struct loop_timer *t)
{
	(void)l;
	assert_true(norder < 16);
	order[norder++] = (int)(intptr_t)t->opaque;
}

/* Timers due in one pass run in deadline order, whatever order they were armed in. */
/* Arm t for an absolute deadline (a deadline already past: due now). */
static void arm_at(struct loop_timer *t, uint64_t deadline)
{
	uint64_t now = loop_now_ns();

	loop_timer_arm(&L, t, deadline > now ? deadline - now : 0, 0);
}

static void test_timers_in_order(void **state)
{
	struct loop_timer t[4];
	uint64_t start;
	int i;

	(void)state;
	norder = 0;
	for (i = 0; i < 4; i++)
		loop_timer_init(&t[i], on_order, (void *)(intptr_t)i);
	/*
	 * Deadlines 100, 200, 300, 400 ms after one start, armed out of order: each delay is taken
	 * from that start, so arming late keeps the order unless one arm takes 100 ms. Valgrind
	 * under TCG has taken tens of ms to translate the arming code the first time: arm and
	 * cancel once before, so the four calls below run translated code.
	 */
	arm_at(&t[0], loop_now_ns() + 1000 * MS);
	loop_timer_cancel(&L, &t[0]);
	start = loop_now_ns();
	arm_at(&t[3], start + 400 * MS);
	arm_at(&t[1], start + 200 * MS);
	arm_at(&t[0], start + 100 * MS);
	arm_at(&t[2], start + 300 * MS);
	sleep_ms(500); /* all four due before the loop looks */
	assert_int_equal(loop_run_once(&L, 1000), 1);
	assert_int_equal(norder, 4);
	for (i = 0; i < 4; i++)
		assert_int_equal(order[i], i);
	for (i = 0; i < 4; i++)
		assert_false(loop_timer_armed(&L, &t[i]));
	/* Nothing is left: the timerfd is disarmed. */
	assert_int_equal(loop_run_once(&L, 50), 0);
}

/* A cancelled timer never fires; re-arming moves a timer instead of adding a second one. */
static void test_timer_cancel_and_rearm(void **state)
{
	struct loop_timer a, b;

	(void)state;
	norder = 0;
	loop_timer_init(&a, on_order, (void *)1);
	loop_timer_init(&b, on_order, (void *)2);
	loop_timer_arm(&L, &a, 5 * MS, 0);
	loop_timer_arm(&L, &b, 5 * MS, 0);
	loop_timer_cancel(&L, &a);
	loop_timer_cancel(&L, &a); /* twice is fine */
	assert_false(loop_timer_armed(&L, &a));
	sleep_ms(20);
	assert_int_equal(loop_run_once(&L, 1000), 1);
	assert_int_equal(norder, 1);
	assert_int_equal(order[0], 2);

	/* Armed for 5 ms, moved to 10 s: it does not fire now. */
	norder = 0;
	loop_timer_arm(&L, &a, 5 * MS, 0);
	loop_timer_arm(&L, &a, 10000 * MS, 0);
	sleep_ms(20);
	assert_int_equal(loop_run_once(&L, 0), 0);
	assert_int_equal(norder, 0);
	assert_true(loop_timer_armed(&L, &a));
	loop_timer_cancel(&L, &a);
	/* The only timer cancelled: the timerfd is disarmed and the loop stays quiet. */
	assert_int_equal(loop_run_once(&L, 30), 0);
}

struct victim {
	struct loop_timer killer, victim;
	int victim_calls;
};

static void on_killer(struct loop *l, struct loop_timer *t)
{
	struct victim *v = t->opaque;

	loop_timer_cancel(l, &v->victim);
}

static void on_victim(struct loop *l, struct loop_timer *t)
{
	struct victim *v = t->opaque;

	(void)l;
	v->victim_calls++;
}

/* A callback cancels another timer due in the same pass: that one does not run. */
static void test_timer_cancelled_by_earlier_callback(void **state)
{
	struct victim v = { 0 };

	(void)state;
	loop_timer_init(&v.killer, on_killer, &v);
	loop_timer_init(&v.victim, on_victim, &v);
	loop_timer_arm(&L, &v.killer, 1 * MS, 0);
	loop_timer_arm(&L, &v.victim, 2 * MS, 0);
	sleep_ms(20);
	assert_int_equal(loop_run_once(&L, 1000), 1);
	assert_int_equal(v.victim_calls, 0);
	assert_int_equal(loop_run_once(&L, 30), 0);
	assert_int_equal(v.victim_calls, 0);
}

static int periodic_calls;

static void on_periodic(struct loop *l, struct loop_timer *t)
{
	(void)l;
	(void)t;
	periodic_calls++;
}

/* A periodic timer fires again and again; one late by many periods fires once, not in a burst. */
static void test_timer_periodic(void **state)
{
	struct loop_timer t;
	int passes = 0;

	(void)state;
	periodic_calls = 0;
	loop_timer_init(&t, on_periodic, NULL);
	loop_timer_arm(&L, &t, 2 * MS, 2 * MS);
	while (periodic_calls < 3 && passes++ < 100)
		loop_run_once(&L, 1000);
	assert_int_equal(periodic_calls, 3);
	assert_true(loop_timer_armed(&L, &t));
	sleep_ms(50); /* about 25 periods missed */
	periodic_calls = 0;
	assert_int_equal(loop_run_once(&L, 1000), 1);
	assert_int_equal(periodic_calls, 1);
	loop_timer_cancel(&L, &t);
	assert_int_equal(loop_run_once(&L, 30), 0);
	assert_int_equal(periodic_calls, 1);
}

static int rearm_calls;

static void on_rearm_now(struct loop *l, struct loop_timer *t)
{
	rearm_calls++;
	loop_timer_arm(l, t, 0, 0);
}

/* A callback that re-arms itself with no delay runs once per pass: no endless pass. */
static void test_timer_rearm_zero_once_per_pass(void **state)
{
	struct loop_timer t;

	(void)state;
	rearm_calls = 0;
	loop_timer_init(&t, on_rearm_now, NULL);
	loop_timer_arm(&L, &t, 0, 0);
	assert_int_equal(loop_run_once(&L, 1000), 1);
	assert_int_equal(rearm_calls, 1);
	assert_int_equal(loop_run_once(&L, 1000), 1);
	assert_int_equal(rearm_calls, 2);
	loop_timer_cancel(&L, &t);
}

static void on_stop_timer(struct loop *l, struct loop_timer *t)
{
	(void)t;
	loop_stop(l);
}

static void *arm_later(void *arg)
{
	struct loop_timer *t = arg;

	sleep_ms(20);
	loop_timer_arm(&L, t, 1 * MS, 0);
	return NULL;
}

/* Another thread arms a timer while the loop sleeps in epoll_wait: it wakes and runs it. */
static void test_timer_armed_from_another_thread(void **state)
{
	struct loop_timer t;
	pthread_t th;

	(void)state;
	loop_timer_init(&t, on_stop_timer, NULL);
	assert_int_equal(pthread_create(&th, NULL, arm_later, &t), 0);
	assert_int_equal(loop_run(&L), 0);
	pthread_join(th, NULL);
	assert_true(L.stop);
}

/* loop_destroy on a loop that was never initialised (epfd -1) does nothing. */
static void test_destroy_uninitialised(void **state)
{
	struct loop l = { .epfd = -1 };

	(void)state;
	loop_destroy(&l);
	assert_int_equal(l.epfd, -1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_deleted_mid_batch_not_called),
		T(test_freed_mid_batch_released_after),
		T(test_free_self),
		T(test_free_outside_dispatch),
		T(test_want),
		T(test_timers_in_order),
		T(test_timer_cancel_and_rearm),
		T(test_timer_cancelled_by_earlier_callback),
		T(test_timer_periodic),
		T(test_timer_rearm_zero_once_per_pass),
		T(test_timer_armed_from_another_thread),
		T(test_destroy_uninitialised),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
