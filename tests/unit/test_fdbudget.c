/* Unit tests for hull's descriptor budget: sizing, floors and pool, threads, and shares on it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/fuse_env.h"
#include "tests/unit/virtio_env.h"
#include "lib/fdbudget.h"
#include "lib/file.h"

static uint64_t fake_ns;

static uint64_t fake_clock(void)
{
	return fake_ns;
}

/* ---- the budget alone ---- */

static void test_size(void **state)
{
	(void)state;
	/* The reserve is max(256, limit / 8), on top of what hull holds itself. */
	assert_int_equal(fdbudget_size(1024, 20), 1024 - 256 - 20);
	assert_int_equal(fdbudget_size(4096, 30), 4096 - 512 - 30);
	assert_int_equal(fdbudget_size(1048576, 100), 1048576 - 131072 - 100);
	assert_int_equal(fdbudget_size(2048, 0), 2048 - 256);
	/* Nothing left for the guest. */
	assert_int_equal(fdbudget_size(300, 44), 0);
	assert_int_equal(fdbudget_size(300, 1000), 0);
	assert_int_equal(fdbudget_size(0, 0), 0);
	/* Unlimited or huge limits are capped. */
	assert_int_equal(fdbudget_size(RLIM_INFINITY, 10), FDBUDGET_MAX);
	assert_int_equal(fdbudget_size((rlim_t)1 << 40, 10), FDBUDGET_MAX);
}

static void test_count_open(void **state)
{
	int before, fds[3], i;

	(void)state;
	before = fdbudget_count_open();
	assert_true(before >= 3); /* stdin, stdout, stderr at least */
	for (i = 0; i < 3; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(fdbudget_count_open(), before + 3);
	for (i = 0; i < 3; i++)
		close(fds[i]);
	assert_int_equal(fdbudget_count_open(), before);
}

/* Does this process have CAP_SYS_RESOURCE (may it raise a hard limit)? */
static bool cap_sys_resource(void)
{
	unsigned long long eff = 0;
	char line[128];
	FILE *f = fopen("/proc/self/status", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	return eff & (1ULL << 24); /* CAP_SYS_RESOURCE */
}

/*
 * The budget is sized from the raised limit. A host whose init left a low
 * open-file hard limit (4096, no systemd) must not cap the guest at a few
 * thousand descriptors: a hull with CAP_SYS_RESOURCE raises it to fs.nr_open.
 * Without the capability (some containers) the soft limit still rises to the
 * hard one. (Under Valgrind, which keeps the hard limit as it is, only the
 * soft limit is lowered.)
 */
static void test_raise_nofile(void **state)
{
	bool privileged = cap_sys_resource();
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		struct rlimit rl, low = { 1024, 4096 };
		rlim_t got;

		if (getrlimit(RLIMIT_NOFILE, &rl))
			_exit(2);
		if (setrlimit(RLIMIT_NOFILE, &low)) {
			low.rlim_max = rl.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &low))
				_exit(2);
		}
		got = file_raise_nofile();
		if (getrlimit(RLIMIT_NOFILE, &rl) || got != rl.rlim_cur || rl.rlim_cur != rl.rlim_max)
			_exit(3);
		if (privileged ? rl.rlim_max < low.rlim_max ||
					 (low.rlim_max == 4096 && rl.rlim_max < 65536)
			       : rl.rlim_max != low.rlim_max)
			_exit(4);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Take until refused: how many were granted. */
static unsigned int take_all(struct fdbudget_acct *a)
{
	unsigned int n = 0;

	while (fdbudget_take(a) == 0)
		n++;
	return n;
}

/* Half of the budget as floors (never above an account's ceiling), the rest pooled. */
static void test_floors_and_pool(void **state)
{
	struct fdbudget b;
	struct fdbudget_acct x, y, z;
	unsigned int i;

	(void)state;
	fdbudget_init(&b, 0);
	b.clock = fake_clock;
	assert_int_equal(fdbudget_acct_init(&x, &b, 1000, "x"), 0);
	assert_int_equal(fdbudget_acct_init(&y, &b, 1000, "y"), 0);
	assert_int_equal(fdbudget_acct_init(&z, &b, 10, "z %d", 3), 0);
	assert_string_equal(z.name, "z 3");
	/* Unsized: everything refused. */
	virtio_env_capture_start();
	assert_int_equal(fdbudget_take(&x), -ENFILE);
	virtio_env_capture_end();
	fdbudget_set(&b, 120);
	/* Even split of 60: 20 each, z only 10 (its ceiling); pool 120 - 50. */
	assert_int_equal(x.floor, 20);
	assert_int_equal(z.floor, 10);
	assert_int_equal(atomic_load(&b.pool), 70);

	virtio_env_capture_start();
	assert_int_equal(take_all(&x), 90); /* its floor and the whole pool */
	virtio_env_capture_end();
	assert_int_equal(fdbudget_held(&x), 90);
	/* The others still have their floors, and no more. */
	virtio_env_capture_start();
	assert_int_equal(take_all(&y), 20);
	assert_int_equal(take_all(&z), 10);
	virtio_env_capture_end();
	/* Giving back refills the pool first: y can borrow what x returned. */
	for (i = 0; i < 5; i++)
		fdbudget_give(&x);
	assert_int_equal(atomic_load(&b.pool), 5);
	virtio_env_capture_start();
	assert_int_equal(take_all(&y), 5);
	virtio_env_capture_end();
	assert_int_equal(fdbudget_held(&y), 25);
	/* Back to nothing held: the pool is whole again. */
	for (i = 0; i < 85; i++)
		fdbudget_give(&x);
	for (i = 0; i < 25; i++)
		fdbudget_give(&y);
	for (i = 0; i < 10; i++)
		fdbudget_give(&z);
	assert_int_equal(fdbudget_held(&x) + fdbudget_held(&y) + fdbudget_held(&z), 0);
	assert_int_equal(atomic_load(&b.pool), 70);
	/* An extra give (a caller bug) cannot mint descriptors. */
	fdbudget_give(&x);
	assert_int_equal(atomic_load(&b.pool), 70);
	assert_int_equal(fdbudget_held(&x), 0);

	/* Closing an account hands its floor and what it borrowed to the others. */
	assert_int_equal(take_all(&y), 90);
	fdbudget_acct_fini(&y);
	assert_int_equal(atomic_load(&b.pool), 70 + 20);
	assert_int_equal(b.naccts, 2);
	fdbudget_acct_fini(&y); /* twice is fine */
	fdbudget_acct_fini(&x);
	fdbudget_acct_fini(&z);
	assert_int_equal(b.naccts, 0);
	assert_int_equal(atomic_load(&b.pool), 120);
}

static void test_accounts_bound(void **state)
{
	struct fdbudget b;
	struct fdbudget_acct a[FDBUDGET_ACCTS + 1];
	unsigned int i;

	(void)state;
	fdbudget_init(&b, 1000);
	for (i = 0; i < FDBUDGET_ACCTS; i++)
		assert_int_equal(fdbudget_acct_init(&a[i], &b, 1000, "a%u", i), 0);
	assert_int_equal(fdbudget_acct_init(&a[i], &b, 1000, "extra"), -ENOSPC);
	for (i = 0; i < FDBUDGET_ACCTS; i++)
		fdbudget_acct_fini(&a[i]);
	fdbudget_acct_fini(&a[FDBUDGET_ACCTS]); /* never opened on b */
	assert_int_equal(atomic_load(&b.pool), 1000);
}

/* No budget: counted, never refused (tests and tools that run a device alone). */
static void test_unlimited(void **state)
{
	struct fdbudget_acct a;
	unsigned int i;

	(void)state;
	assert_int_equal(fdbudget_acct_init(&a, NULL, 4, "alone"), 0);
	for (i = 0; i < 100; i++)
		assert_int_equal(fdbudget_take(&a), 0);
	assert_int_equal(fdbudget_held(&a), 100);
	for (i = 0; i < 100; i++)
		fdbudget_give(&a);
	assert_int_equal(fdbudget_held(&a), 0);
	fdbudget_acct_fini(&a);
}

static unsigned int count(const char *hay, const char *needle)
{
	unsigned int n = 0;

	while ((hay = strstr(hay, needle))) {
		n++;
		hay++;
	}
	return n;
}

/* A guest hammering at the limit gets one line per 10 s, with the count refused meanwhile. */
static void test_refusal_log(void **state)
{
	struct fdbudget b;
	struct fdbudget_acct a;
	unsigned int i;
	char *log;

	(void)state;
	fdbudget_init(&b, 0);
	b.clock = fake_clock;
	fake_ns = 0;
	assert_int_equal(fdbudget_acct_init(&a, &b, 100, "share %s", "/srv/x"), 0);
	fdbudget_set(&b, 2);
	assert_int_equal(fdbudget_take(&a), 0);
	assert_int_equal(fdbudget_take(&a), 0);
	virtio_env_capture_start();
	for (i = 0; i < 1000; i++)
		assert_int_equal(fdbudget_take(&a), -ENFILE);
	fake_ns = FDBUDGET_LOG_NS - 1;
	assert_int_equal(fdbudget_take(&a), -ENFILE);
	log = virtio_env_capture_end();
	assert_int_equal(count(log, "hull: "), 1);
	assert_non_null(strstr(log, "share /srv/x: out of descriptors"));
	assert_non_null(strstr(log, "it holds 2,"));
	assert_non_null(strstr(log, "is 2 "));
	assert_non_null(strstr(log, "1 request refused"));
	/* Ten seconds on: the next refusal logs again, counting those in between. */
	fake_ns = FDBUDGET_LOG_NS + 1;
	virtio_env_capture_start();
	assert_int_equal(fdbudget_take(&a), -ENFILE);
	assert_int_equal(fdbudget_take(&a), -ENFILE);
	log = virtio_env_capture_end();
	assert_int_equal(count(log, "hull: "), 1);
	assert_non_null(strstr(log, "1001 requests refused"));
	fdbudget_acct_fini(&a);
}

/* ---- threads: never more granted than the budget, nothing lost ---- */

#define T_THREADS 4
#define T_ROUNDS 20000
#define T_TOTAL 64

static struct fdbudget tb;
static struct fdbudget_acct tacct[2];
static atomic_int held_now, over;

static void *hammer(void *arg)
{
	struct fdbudget_acct *a = &tacct[(uintptr_t)arg % 2];
	unsigned int seed = (unsigned int)(uintptr_t)arg, mine = 0, i;

	for (i = 0; i < T_ROUNDS; i++) {
		if (rand_r(&seed) % 2 && fdbudget_take(a) == 0) {
			if (atomic_fetch_add(&held_now, 1) + 1 > T_TOTAL)
				atomic_store(&over, 1);
			mine++;
		} else if (mine) {
			atomic_fetch_sub(&held_now, 1);
			fdbudget_give(a);
			mine--;
		}
	}
	while (mine--) {
		atomic_fetch_sub(&held_now, 1);
		fdbudget_give(a);
	}
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t t[T_THREADS];
	uintptr_t i;

	(void)state;
	fdbudget_init(&tb, 0);
	tb.clock = fake_clock;
	fake_ns = 1;
	assert_int_equal(fdbudget_acct_init(&tacct[0], &tb, 1000, "t0"), 0);
	assert_int_equal(fdbudget_acct_init(&tacct[1], &tb, 1000, "t1"), 0);
	fdbudget_set(&tb, T_TOTAL);
	virtio_env_capture_start();
	for (i = 0; i < T_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, (void *)(i + 1)), 0);
	for (i = 0; i < T_THREADS; i++)
		pthread_join(t[i], NULL);
	virtio_env_capture_end();
	assert_int_equal(atomic_load(&over), 0);
	assert_int_equal(fdbudget_held(&tacct[0]) + fdbudget_held(&tacct[1]), 0);
	assert_int_equal(atomic_load(&tb.pool), T_TOTAL - 2 * (T_TOTAL / 4));
	/* Everything is still there to take. */
	assert_int_equal(take_all(&tacct[0]) + take_all(&tacct[1]), T_TOTAL);
	fdbudget_acct_fini(&tacct[0]);
	fdbudget_acct_fini(&tacct[1]);
}

/* ---- virtio-fs shares on one budget ---- */

static struct fuse_env A, B;

static int fs_setup(void **state)
{
	(void)state;
	return fenv_setup(&A) || fenv_setup(&B) ? -1 : 0;
}

static int fs_teardown(void **state)
{
	(void)state;
	fenv_teardown(&A);
	fenv_teardown(&B);
	return 0;
}

/* fenv_start, with the share's descriptors taken from b. */
static void start_on(struct fuse_env *e, struct fdbudget *b)
{
	struct fsrv_config c = { .path = e->share, .cache = VFS_CACHE_AUTO, .fds = b };
	char err[256];

	assert_int_equal(fsrv_open(&c, &e->s, err, sizeof(err)), 0);
	assert_int_equal(fenv_init(e), 0);
}

static void make_files(struct fuse_env *e, unsigned int n)
{
	char name[16];
	unsigned int i;

	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "f%u", i);
		assert_int_equal(fenv_write_host(fenv_path(e, name), "", 0644), 0);
	}
}

/* LOOKUP f0, f1, ... until one fails: how many succeeded; *err the failure. */
static unsigned int lookup_all(struct fuse_env *e, unsigned int n, uint64_t *ids, int *err)
{
	struct fuse_entry_out eo;
	char name[16];
	unsigned int i;

	*err = 0;
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "f%u", i);
		*err = fenv_lookup(e, FUSE_ROOT_ID, name, &eo);
		if (*err)
			break;
		if (ids)
			ids[i] = eo.nodeid;
	}
	return i;
}

static unsigned int fs_inodes(struct fuse_env *e)
{
	struct fsrv_stats st;

	fsrv_stats(e->s, &st);
	return st.inodes;
}

/*
 * Two shares on a budget of 40: 10 each as floors, 20 pooled. One share takes
 * its floor and the pool, then gets ENFILE for every new descriptor (inodes,
 * files, directories, creations leave nothing behind); the other share still
 * gets its floor. Forgetting and releasing give back; closing returns it all.
 */
static void test_shares(void **state)
{
	static struct fdbudget b;
	uint64_t ids[64], fh, dfh;
	unsigned int n;
	int err;

	(void)state;
	fdbudget_init(&b, 0);
	b.clock = fake_clock;
	fake_ns = 1;
	start_on(&A, &b);
	start_on(&B, &b);
	fdbudget_set(&b, 40);
	make_files(&A, 64);
	make_files(&B, 64);

	virtio_env_capture_start();
	n = lookup_all(&A, 64, ids, &err);
	assert_int_equal(n, 30);
	assert_int_equal(err, -ENFILE);
	assert_int_equal(fs_inodes(&A), 31); /* and the root, which is hull's */
	/* Known inodes need no new descriptor: still found. */
	assert_int_equal(fenv_lookup(&A, FUSE_ROOT_ID, "f3", NULL), 0);
	assert_int_equal(fenv_opendir(&A, FUSE_ROOT_ID, NULL), -ENFILE);
	assert_int_equal(fenv_open(&A, ids[0], O_RDONLY, NULL), -ENFILE);
	assert_int_equal(fenv_create(&A, FUSE_ROOT_ID, "new", 0644, O_RDWR, NULL, NULL), -ENFILE);
	assert_int_equal(fenv_type(fenv_path(&A, "new")), 0);
	assert_int_equal(fenv_mkdir(&A, FUSE_ROOT_ID, "dir", 0755, NULL), -ENFILE);
	assert_int_equal(fenv_type(fenv_path(&A, "dir")), 0);
	/* The other share still has its floor, and only that. */
	n = lookup_all(&B, 64, NULL, &err);
	assert_int_equal(n, 10);
	assert_int_equal(err, -ENFILE);
	assert_non_null(strstr(virtio_env_capture_end(), "out of descriptors"));

	/* FORGET gives back: B can borrow what A returned. */
	assert_int_equal(fenv_forget(&A, ids[0], 2), FENV_NOREPLY); /* looked up once: clamped */
	assert_int_equal(fenv_forget(&A, ids[3], 2), FENV_NOREPLY); /* twice */
	assert_int_equal(fs_inodes(&A), 29);
	n = lookup_all(&B, 64, NULL, &err);
	assert_int_equal(n, 12);
	assert_int_equal(err, -ENFILE);
	/* A's own floor refills first when B forgets nothing: a handle for A after one more forget. */
	assert_int_equal(fenv_forget(&A, ids[4], 1), FENV_NOREPLY);
	assert_int_equal(fenv_opendir(&A, FUSE_ROOT_ID, &dfh), 0);
	virtio_env_capture_start();
	assert_int_equal(fenv_open(&A, ids[1], O_RDONLY, &fh), -ENFILE);
	virtio_env_capture_end();
	assert_int_equal(fenv_release(&A, FUSE_RELEASEDIR, FUSE_ROOT_ID, dfh), 0);
	assert_int_equal(fenv_open(&A, ids[1], O_RDONLY, &fh), 0);
	assert_int_equal(fenv_release(&A, FUSE_RELEASE, ids[1], fh), 0);

	/* A reset (or DESTROY) drops A's inodes: all of them come back. */
	fsrv_reset(A.s);
	assert_int_equal(fenv_init(&A), 0);
	assert_int_equal(atomic_load(&b.pool), 20 - 2); /* B still borrows 2 */
	fsrv_close(B.s);
	B.s = NULL;
	assert_int_equal(atomic_load(&b.pool), 40 - 10); /* only A's floor left out */
	fsrv_close(A.s);
	A.s = NULL;
	assert_int_equal(atomic_load(&b.pool), 40);
	assert_int_equal(b.naccts, 0);
}

/*
 * The case in one process: a low open-file limit, two shares on the
 * budget sized from it, a guest that looks up and opens directories until
 * refused on both. The guest gets ENFILE (never EMFILE from a host call that
 * ran out), and hull can still open descriptors of its own.
 */
static void test_exhaustion_spares_hull(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	make_files(&A, 400);
	make_files(&B, 400);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		struct rlimit rl;
		struct fdbudget b;
		unsigned int i, total;
		int err, fd, n;

		/* The soft limit is the one the kernel enforces (and Valgrind lets us lower). */
		if (getrlimit(RLIMIT_NOFILE, &rl))
			_exit(10);
		rl.rlim_cur = 512;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			_exit(10);
		fdbudget_init(&b, 0);
		start_on(&A, &b);
		start_on(&B, &b);
		n = fdbudget_count_open();
		total = fdbudget_size(512, (unsigned int)n);
		if (n < 0 || total < 100)
			_exit(11);
		fdbudget_set(&b, total);
		virtio_env_capture_start();
		/* Both shares, through inodes and directory handles, until refused. */
		lookup_all(&A, 400, NULL, &err);
		if (err != -ENFILE)
			_exit(12);
		lookup_all(&B, 400, NULL, &err);
		if (err != -ENFILE)
			_exit(13);
		for (i = 0; i < 1000 && !(err = fenv_opendir(&A, FUSE_ROOT_ID, NULL)); i++)
			;
		if (err != -ENFILE)
			_exit(14);
		for (i = 0; i < 1000 && !(err = fenv_opendir(&B, FUSE_ROOT_ID, NULL)); i++)
			;
		if (err != -ENFILE)
			_exit(15);
		virtio_env_capture_end();
		/* hull's own: an eventfd, and the reserve's worth of descriptors. */
		fd = eventfd(0, EFD_CLOEXEC);
		if (fd < 0)
			_exit(16);
		for (i = 0; i < FDBUDGET_RESERVE_MIN / 2; i++)
			if (open("/dev/null", O_RDONLY | O_CLOEXEC) < 0)
				_exit(17);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
#define FS(fn) cmocka_unit_test_setup_teardown(fn, fs_setup, fs_teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_count_open),
		cmocka_unit_test(test_raise_nofile),
		cmocka_unit_test(test_floors_and_pool),
		cmocka_unit_test(test_accounts_bound),
		cmocka_unit_test(test_unlimited),
		cmocka_unit_test(test_refusal_log),
		cmocka_unit_test(test_threads),
		FS(test_shares),
		FS(test_exhaustion_spares_hull),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
