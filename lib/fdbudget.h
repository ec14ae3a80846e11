/* fdbudget: one process-wide budget for the descriptors guest actions make hull hold open. */
#ifndef HULL_LIB_FDBUDGET_H
#define HULL_LIB_FDBUDGET_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>

/*
 * Every descriptor that hull keeps open because of something the guest did (a
 * virtio-fs inode or open file, a vsock connection's socket) is taken from one
 * budget before it is kept, and given back once it is closed. The budget is the
 * open-file limit minus a reserve for hull's own descriptors (eventfds, epoll,
 * io_uring, images, taps, sockets, the console, vCPUs), so a guest that runs
 * out gets its own request refused (ENFILE, RST, a refused host connect) while
 * hull's own opens never fail for lack of descriptors.
 *
 * Sharing between the devices that take descriptors (accounts: one per share,
 * one for vsock): half of the budget is split evenly as floors, each at most
 * what its account can ever hold; an account can always take up to its floor
 * whatever the others do. The other half, and whatever floors are smaller
 * than an even split, is a pool taken first come, first served. So a guest
 * exhausting one share still leaves every other share and vsock their floor,
 * and a lone busy share gets more than half of the budget.
 *
 * Threads: fdbudget_take and fdbudget_give are lock-free (virtio-fs workers and
 * the event loop call them concurrently). Setting up (init, accounts, set) and
 * closing accounts happen on one thread while no descriptor is being taken.
 */

#define FDBUDGET_ACCTS 16          /* accounts per budget: 8 shares, vsock, and room to grow */
#define FDBUDGET_RESERVE_MIN 256u  /* descriptors kept for hull's own use at runtime, at least */
#define FDBUDGET_MAX (1u << 30)    /* the largest budget (a limit of RLIM_INFINITY) */
#define FDBUDGET_LOG_NS (10ULL * 1000000000ULL) /* one refusal line per account per 10 s */

struct fdbudget_acct;

struct fdbudget {
	unsigned int total;          /* descriptors all accounts together may hold */
	atomic_uint pool;            /* descriptors beyond the floors nobody holds */
	struct fdbudget_acct *accts[FDBUDGET_ACCTS];
	unsigned int naccts;
	uint64_t (*clock)(void);     /* ns for the log's rate limit (tests); NULL: CLOCK_MONOTONIC */
};

/* One device's share of the budget. Embedded in the device; opaque to it. */
struct fdbudget_acct {
	struct fdbudget *b;          /* NULL: no budget (tests), only the device's own ceilings */
	char name[80];               /* for messages: "share /srv/x", "vsock /run/vm.sock" */
	unsigned int ceiling;        /* the most the device can ever hold (its table sizes) */
	unsigned int floor;
	atomic_uint in_floor, in_pool; /* descriptors held, counted against each */
	atomic_ulong refused;        /* refusals not logged yet */
	_Atomic uint64_t logged_at;  /* clock of the last refusal line; 0: none yet */
};

/*
 * The budget for a process whose open-file limit is limit and which holds
 * own descriptors itself: limit - own - reserve, where the reserve (what
 * hull may still open for itself while the guest runs: virtio-fs workers'
 * short-lived descriptors, a refused connection accepted only to be closed,
 * later control clients) is max(FDBUDGET_RESERVE_MIN, limit / 8). 0 when
 * nothing is left; at most FDBUDGET_MAX.
 */
unsigned int fdbudget_size(rlim_t limit, unsigned int own);

/* Descriptors this process has open now (from /proc/self/fd): the count, or -errno. */
int fdbudget_count_open(void);

/* An empty budget of total descriptors (fdbudget_set can size it later). */
void fdbudget_init(struct fdbudget *b, unsigned int total);

/* Size b to total and split the floors among its accounts. Nothing may be held. */
void fdbudget_set(struct fdbudget *b, unsigned int total);

/*
 * Open account a on b (NULL: a counts, but never refuses) for a device that
 * can hold at most ceiling descriptors; name (printf) is for messages. The
 * floors are split again among all of b's accounts: nothing may be held.
 * 0, or -ENOSPC when b has FDBUDGET_ACCTS accounts already.
 */
int fdbudget_acct_init(struct fdbudget_acct *a, struct fdbudget *b, unsigned int ceiling,
		       const char *name, ...) __attribute__((format(printf, 4, 5)));

/* Close a (gives back anything it still holds). A closed or never opened (zeroed) a is fine. */
void fdbudget_acct_fini(struct fdbudget_acct *a);

/*
 * Take one descriptor for a, before opening (or keeping) it: 0, or -ENFILE
 * when a's floor and the pool are used up. A refusal is logged, at most one
 * line per account every FDBUDGET_LOG_NS with the count since the last one.
 */
int fdbudget_take(struct fdbudget_acct *a);

/* Give one back, after closing it. */
void fdbudget_give(struct fdbudget_acct *a);

/* Descriptors a holds now (for tests and messages). */
unsigned int fdbudget_held(struct fdbudget_acct *a);

#endif
