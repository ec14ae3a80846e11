/* Unit tests for vCPU threads as a group: ids, pause and resume, stop, the kick signal, pinning. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "lib/cpuset.h"
#include "tests/unit/virtio_env.h"
#include "vmm/vm.h"

#define NCPUS 2
#define RUN_SIZE 4096

/*
 * KVM_RUN played by a thread: "the guest" runs for 1 ms (an exit KVM would
 * make for an interrupt), or until the kick signal, which is unblocked only
 * in there (ppoll's mask stands for KVM_SET_SIGNAL_MASK), exactly as KVM does.
 */
static atomic_int inside, entries[NCPUS], poweroff_from, efault_from;

static int fake_run(struct vcpu *v)
{
	struct timespec slice = { .tv_nsec = 1000000 };
	sigset_t m;
	int ret;

	if (__atomic_load_n(&v->run->immediate_exit, __ATOMIC_SEQ_CST))
		return -EINTR;
	/* KVM could not reach the memory behind a guest address (an unplugged block). */
	if ((int)v->index + 1 == atomic_load(&efault_from))
		return -EFAULT;
	pthread_sigmask(SIG_BLOCK, NULL, &m);
	sigdelset(&m, vcpu_kick_signal());
	atomic_fetch_add(&inside, 1);
	atomic_fetch_add(&entries[v->index], 1);
	ret = ppoll(NULL, 0, &slice, &m);
	atomic_fetch_sub(&inside, 1);
	if (ret < 0)
		return -errno;
	if ((int)v->index + 1 == atomic_load(&poweroff_from)) {
		v->run->exit_reason = KVM_EXIT_SYSTEM_EVENT;
		v->run->system_event.type = KVM_SYSTEM_EVENT_SHUTDOWN;
	} else {
		v->run->exit_reason = KVM_EXIT_INTR;
	}
	return 0;
}

static struct vm *vm;

static int setup(void **state)
{
	unsigned int i;

	(void)state;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -1;
	vm->ncpus = NCPUS;
	vm->vcpus = calloc(NCPUS, sizeof(*vm->vcpus));
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->run_vcpu = fake_run;
	atomic_init(&vm->state, VM_RUNNING);
	vm_vcpus_init(vm);
	for (i = 0; i < NCPUS; i++) {
		vm->vcpus[i] = (struct vcpu){ .vm = vm, .index = i, .fd = -1,
					      .run = calloc(1, RUN_SIZE), .run_size = RUN_SIZE };
		atomic_store(&entries[i], 0);
	}
	atomic_store(&poweroff_from, 0);
	atomic_store(&efault_from, 0);
	return vm->stop_fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	unsigned int i;

	(void)state;
	vm_request_stop(vm, VM_STOP, 0);
	vm_vcpus_stop(vm);
	for (i = 0; i < NCPUS; i++)
		free(vm->vcpus[i].run);
	vm_vcpus_fini(vm);
	close(vm->stop_fd);
	free(vm->vcpus);
	free(vm);
	return 0;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void start_all(void)
{
	unsigned int i;

	for (i = 0; i < NCPUS; i++)
		assert_int_equal(vcpu_start(&vm->vcpus[i]), 0);
}

/* Every vCPU entered "KVM_RUN" at least n more times than in before[] (waiting up to 5 s). */
static void wait_progress(const int *before, int n)
{
	unsigned int i;
	int waited;

	for (i = 0; i < NCPUS; i++) {
		for (waited = 0; atomic_load(&entries[i]) < before[i] + n && waited < 5000; waited++)
			sleep_ms(1);
		assert_true(atomic_load(&entries[i]) >= before[i] + n);
	}
}

static void snapshot(int *out)
{
	unsigned int i;

	for (i = 0; i < NCPUS; i++)
		out[i] = atomic_load(&entries[i]);
}

static unsigned int parked(void)
{
	unsigned int n;

	pthread_mutex_lock(&vm->vcpu_lock);
	n = vm->parked;
	pthread_mutex_unlock(&vm->vcpu_lock);
	return n;
}

/* Each thread's id is known when vcpu_start returns, and it is that thread, named hull-vcpu N. */
static void test_thread_ids(void **state)
{
	char p[64], comm[32];
	unsigned int i;
	FILE *f;

	(void)state;
	start_all();
	for (i = 0; i < NCPUS; i++) {
		assert_true(vm->vcpus[i].tid > 0);
		assert_int_not_equal(vm->vcpus[i].tid, gettid());
		snprintf(p, sizeof(p), "/proc/self/task/%d/comm", vm->vcpus[i].tid);
		f = fopen(p, "r");
		assert_non_null(f);
		assert_non_null(fgets(comm, sizeof(comm), f));
		fclose(f);
		snprintf(p, sizeof(p), "hull-vcpu %u\n", i);
		assert_string_equal(comm, p);
	}
	assert_int_not_equal(vm->vcpus[0].tid, vm->vcpus[1].tid);
}

/* Pause returns with every vCPU out of KVM_RUN and parked; nothing runs until resume. */
static void test_pause_resume(void **state)
{
	int before[NCPUS] = { 0 }, now[NCPUS];
	unsigned int round;

	(void)state;
	start_all();
	wait_progress(before, 5);
	for (round = 0; round < 3; round++) {
		assert_int_equal(vm_pause(vm), 0);
		assert_true(vm_paused(vm));
		assert_int_equal(atomic_load(&inside), 0);
		assert_int_equal(parked(), NCPUS);
		snapshot(before);
		sleep_ms(50);
		snapshot(now);
		assert_memory_equal(before, now, sizeof(now));
		assert_int_equal(vm_pause(vm), 0); /* again: nothing changes */
		assert_int_equal(vm_resume(vm), 0);
		assert_false(vm_paused(vm));
		wait_progress(before, 5);
	}
}

/* A VM paused before its vCPUs start parks them as they start. */
static void test_pause_before_start(void **state)
{
	int before[NCPUS] = { 0 }, now[NCPUS];
	unsigned int waited;

	(void)state;
	assert_int_equal(vm_pause(vm), 0);
	start_all();
	for (waited = 0; parked() < NCPUS && waited < 5000; waited++)
		sleep_ms(1);
	assert_int_equal(parked(), NCPUS);
	snapshot(now);
	assert_memory_equal(before, now, sizeof(now));
	assert_int_equal(vm_resume(vm), 0);
	wait_progress(before, 3);
}

/* Stopping a paused VM: the parked threads leave and are joined; pause is then refused. */
static void test_stop_while_paused(void **state)
{
	unsigned int i;

	(void)state;
	start_all();
	assert_int_equal(vm_pause(vm), 0);
	vm_request_stop(vm, VM_STOP, 0);
	vm_vcpus_stop(vm);
	for (i = 0; i < NCPUS; i++)
		assert_false(vm->vcpus[i].started);
	assert_int_equal(vm->exited, NCPUS);
	assert_int_equal(vm_pause(vm), -ESHUTDOWN);
}

/* A vCPU that powers the guest off while a pause waits for it: the pause ends, refused. */
static void test_pause_meets_poweroff(void **state)
{
	int before[NCPUS] = { 0 };

	(void)state;
	start_all();
	wait_progress(before, 2);
	atomic_store(&poweroff_from, 2); /* vCPU 1's next exit is a shutdown */
	while (atomic_load(&vm->state) == VM_RUNNING)
		sleep_ms(1);
	assert_int_equal(vm_pause(vm), -ESHUTDOWN);
	assert_int_equal(atomic_load(&vm->state), VM_POWEROFF);
}

/*
 * A guest that touches an unplugged block of its hotplug region: KVM_RUN fails with EFAULT,
 * the VM stops with an error, and the message says what the guest did.
 */
static void test_efault_unplugged(void **state)
{
	int before[NCPUS] = { 0 };
	char *said;

	(void)state;
	vm->hotplug.size = 1; /* a region (its size is all the message looks at) */
	start_all();
	wait_progress(before, 2);
	virtio_env_capture_start();
	atomic_store(&efault_from, 1);
	while (atomic_load(&vm->state) == VM_RUNNING)
		sleep_ms(1);
	vm_vcpus_stop(vm);
	said = virtio_env_capture_end();
	assert_int_equal(atomic_load(&vm->state), VM_ERROR);
	assert_non_null(strstr(said, "vcpu 0: KVM_RUN: Bad address (the guest touched memory it "
				     "has not plugged"));
	vm->hotplug.size = 0;
}

/* The kick signal sent to the whole process from outside costs an exit, nothing more. */
static void test_kick_signal_from_outside(void **state)
{
	int before[NCPUS] = { 0 };
	unsigned int i;

	(void)state;
	start_all();
	wait_progress(before, 2);
	for (i = 0; i < 50; i++)
		kill(getpid(), vcpu_kick_signal());
	snapshot(before);
	wait_progress(before, 5);
	assert_int_equal(atomic_load(&vm->state), VM_RUNNING);
}

/* The CPUs this process may use, at most two of them, in *set; their number. */
static unsigned int usable_cpus(cpu_set_t *set)
{
	cpu_set_t mine;
	unsigned int n = 0;
	int cpu;

	assert_int_equal(sched_getaffinity(0, sizeof(mine), &mine), 0);
	CPU_ZERO(set);
	for (cpu = 0; cpu < CPU_SETSIZE && n < 2; cpu++)
		if (CPU_ISSET(cpu, &mine)) {
			CPU_SET(cpu, set);
			n++;
		}
	return n;
}

/* The CPUs thread tid may run on are exactly want. */
static void assert_cpus(pid_t tid, const cpu_set_t *want)
{
	cpu_set_t got;

	assert_int_equal(sched_getaffinity(tid, sizeof(got), &got), 0);
	if (!CPU_EQUAL(&got, want))
		fail_msg("thread %d: runs on %d CPUs (first %d), want %d (first %d)", (int)tid,
			 CPU_COUNT(&got), cpuset_nth(&got, 0), CPU_COUNT(want), cpuset_nth(want, 0));
}

static void assert_one_cpu(pid_t tid, int cpu)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	assert_cpus(tid, &one);
}

/* Pinned from the start: vCPU i is on the (i mod n)-th CPU before it first runs the guest. */
static void test_pinned_at_start(void **state)
{
	unsigned int i, n;

	(void)state;
	n = usable_cpus(&vm->affinity);
	vm->pinned = true;
	start_all();
	for (i = 0; i < NCPUS; i++)
		assert_one_cpu(vm->vcpus[i].tid, cpuset_nth(&vm->affinity, i % n));
}

/*
 * Re-pinning while the vCPUs run (an update): each vCPU moves to its new CPU, every other
 * thread of the process is confined to the whole set, and the vCPUs keep running.
 */
static void test_repin_while_running(void **state)
{
	int before[NCPUS] = { 0 };
	cpu_set_t mine, set, last, empty;
	unsigned int i, n;

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(mine), &mine), 0);
	n = usable_cpus(&set);
	start_all();
	wait_progress(before, 2);
	assert_int_equal(vm_set_affinity(vm, &set, true), 0);
	for (i = 0; i < NCPUS; i++)
		assert_one_cpu(vm->vcpus[i].tid, cpuset_nth(&set, i % n));
	assert_cpus(gettid(), &set);
	snapshot(before);
	wait_progress(before, 2);
	/* Narrowed to one CPU: every vCPU there. */
	CPU_ZERO(&last);
	CPU_SET(cpuset_nth(&set, n - 1), &last);
	assert_int_equal(vm_set_affinity(vm, &last, true), 0);
	for (i = 0; i < NCPUS; i++)
		assert_one_cpu(vm->vcpus[i].tid, cpuset_nth(&set, n - 1));
	assert_cpus(gettid(), &last);
	snapshot(before);
	wait_progress(before, 2);
	/* An empty set is refused and changes nothing. */
	CPU_ZERO(&empty);
	assert_int_equal(vm_set_affinity(vm, &empty, true), -EINVAL);
	assert_cpus(gettid(), &last);
	/* Unpinned (an update undone to no cpuset): every vCPU on the whole set, none pinned. */
	assert_int_equal(vm_set_affinity(vm, &set, false), 0);
	assert_false(vm->pinned);
	for (i = 0; i < NCPUS; i++)
		assert_cpus(vm->vcpus[i].tid, &set);
	assert_cpus(gettid(), &set);
	assert_int_equal(sched_setaffinity(0, sizeof(mine), &mine), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_thread_ids),
		T(test_pause_resume),
		T(test_pause_before_start),
		T(test_stop_while_paused),
		T(test_pause_meets_poweroff),
		T(test_efault_unplugged),
		T(test_kick_signal_from_outside),
		T(test_pinned_at_start),
		T(test_repin_while_running),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
