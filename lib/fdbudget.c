/* fdbudget: one process-wide budget for the descriptors guest actions make hull hold open. */
#include "lib/fdbudget.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"

unsigned int fdbudget_size(rlim_t limit, unsigned int own)
{
	rlim_t reserve;

	if (limit == RLIM_INFINITY || limit > (rlim_t)FDBUDGET_MAX * 2)
		limit = (rlim_t)FDBUDGET_MAX * 2;
	/*
	 * An eighth of the limit: what hull opens for itself at runtime grows with
	 * what it serves (workers, connections, control clients), and at the common
	 * limits (1024 unprivileged, 1048576 as root) an eighth is 128 to 131072:
	 * never the guest's whole budget, never short for hull.
	 */
	reserve = limit / 8 > FDBUDGET_RESERVE_MIN ? limit / 8 : FDBUDGET_RESERVE_MIN;
	if (limit <= reserve + own)
		return 0;
	limit -= reserve + own;
	return limit > FDBUDGET_MAX ? FDBUDGET_MAX : (unsigned int)limit;
}

int fdbudget_count_open(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0; /* not the directory's own descriptor */
}

/* Floors: half of the budget split evenly, each at most its account's ceiling; the rest pools. */
static void split(struct fdbudget *b)
{
	unsigned int i, even = b->naccts ? b->total / 2 / b->naccts : 0, floors = 0;

	for (i = 0; i < b->naccts; i++) {
		struct fdbudget_acct *a = b->accts[i];

		a->floor = a->ceiling < even ? a->ceiling : even;
		floors += a->floor;
	}
	atomic_store(&b->pool, b->total - floors);
}

void fdbudget_init(struct fdbudget *b, unsigned int total)
{
	*b = (struct fdbudget){ .total = total };
	atomic_init(&b->pool, total);
}

void fdbudget_set(struct fdbudget *b, unsigned int total)
{
	b->total = total > FDBUDGET_MAX ? FDBUDGET_MAX : total;
	split(b);
}

int fdbudget_acct_init(struct fdbudget_acct *a, struct fdbudget *b, unsigned int ceiling,
		       const char *name, ...)
{
	va_list ap;

	*a = (struct fdbudget_acct){ .ceiling = ceiling };
	atomic_init(&a->in_floor, 0);
	atomic_init(&a->in_pool, 0);
	atomic_init(&a->refused, 0);
	atomic_init(&a->logged_at, 0);
	va_start(ap, name);
	vsnprintf(a->name, sizeof(a->name), name, ap);
	va_end(ap);
	if (!b)
		return 0;
	if (b->naccts == FDBUDGET_ACCTS)
		return -ENOSPC;
	a->b = b;
	b->accts[b->naccts++] = a;
	split(b);
	return 0;
}

void fdbudget_acct_fini(struct fdbudget_acct *a)
{
	struct fdbudget *b = a->b;
	unsigned int i;

	if (!b)
		return;
	for (i = 0; i < b->naccts && b->accts[i] != a; i++)
		;
	if (i < b->naccts) {
		b->accts[i] = b->accts[--b->naccts];
		/* Its floor and whatever it borrowed go back to the others. */
		atomic_fetch_add(&b->pool, a->floor + atomic_exchange(&a->in_pool, 0));
	}
	atomic_store(&a->in_floor, 0);
	a->b = NULL;
}

static uint64_t now_ns(const struct fdbudget *b)
{
	struct timespec ts;

	if (b->clock)
		return b->clock();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* A refusal: one line per account per FDBUDGET_LOG_NS, however fast the guest asks. */
static void refused(struct fdbudget_acct *a)
{
	uint64_t now = now_ns(a->b), last = atomic_load(&a->logged_at);
	unsigned long n;

	atomic_fetch_add(&a->refused, 1);
	if (last && now < last + FDBUDGET_LOG_NS)
		return;
	if (!atomic_compare_exchange_strong(&a->logged_at, &last, now ? now : 1))
		return; /* another thread logs this round */
	n = atomic_exchange(&a->refused, 0);
	log_msg("%s: out of descriptors for the guest: it holds %u, hull's budget for all guest "
		"descriptors is %u (the open-file limit less hull's own and a reserve); "
		"%lu request%s refused",
		a->name, fdbudget_held(a), a->b->total, n, n == 1 ? "" : "s");
}

/* *v + 1 unless that passes max (lock-free). */
static bool inc_below(atomic_uint *v, unsigned int max)
{
	unsigned int cur = atomic_load(v);

	while (cur < max)
		if (atomic_compare_exchange_weak(v, &cur, cur + 1))
			return true;
	return false;
}

/* *v - 1 unless *v is zero (lock-free). */
static bool dec_nonzero(atomic_uint *v)
{
	unsigned int cur = atomic_load(v);

	while (cur)
		if (atomic_compare_exchange_weak(v, &cur, cur - 1))
			return true;
	return false;
}

int fdbudget_take(struct fdbudget_acct *a)
{
	if (!a->b) {
		atomic_fetch_add(&a->in_floor, 1);
		return 0;
	}
	if (inc_below(&a->in_floor, a->floor))
		return 0;
	if (dec_nonzero(&a->b->pool)) {
		atomic_fetch_add(&a->in_pool, 1);
		return 0;
	}
	refused(a);
	return -ENFILE;
}

void fdbudget_give(struct fdbudget_acct *a)
{
	/*
	 * Borrowed ones go back first, so the pool refills as early as it can. A
	 * take between its pool decrement and its in_pool increment may make this
	 * count the descriptor as a floor one: the sums stay right either way.
	 */
	if (a->b && dec_nonzero(&a->in_pool)) {
		atomic_fetch_add(&a->b->pool, 1);
		return;
	}
	dec_nonzero(&a->in_floor);
}

unsigned int fdbudget_held(struct fdbudget_acct *a)
{
	return atomic_load(&a->in_floor) + atomic_load(&a->in_pool);
}
