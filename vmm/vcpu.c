/* vcpu: vCPU fds, their kvm_run mappings, their threads ("hull-vcpu N"), the kick, pause and resume. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/arch.h"
#include "lib/log.h"
#include "vmm/vm.h"

/* The kernel's sigset for KVM_SET_SIGNAL_MASK: 64 signals. */
#define KVM_SIGSET_BYTES 8

/*
 * A vCPU thread's stack. Its deepest path (an exit's device handler) uses a few KiB; the
 * default (RLIMIT_STACK, 8 MiB) spans whole 2 MiB-aligned ranges, and with transparent huge
 * pages set to "always" its first touch faulted in a 2 MiB page: 2 MiB resident per vCPU.
 * Below 2 MiB a stack cannot hold a huge page.
 */
#define VCPU_STACK (1 << 20)

int vcpu_kick_signal(void)
{
	/* glibc keeps the two below SIGRTMIN for itself; the others are free for programs. */
	return SIGRTMIN;
}

/*
 * Inside KVM_RUN the thread's mask less the kick: the kick (and only it, of
 * what hull blocks) interrupts the guest; outside it stays blocked, pending.
 */
static int set_run_mask(struct vcpu *vcpu)
{
	union {
		struct kvm_signal_mask km;
		uint8_t raw[sizeof(struct kvm_signal_mask) + KVM_SIGSET_BYTES];
	} m;
	sigset_t set;

	pthread_sigmask(SIG_BLOCK, NULL, &set);
	sigdelset(&set, vcpu_kick_signal());
	m.km.len = KVM_SIGSET_BYTES;
	/* glibc's sigset_t starts with the kernel's 64-bit mask. */
	memcpy(m.km.sigset, &set, KVM_SIGSET_BYTES);
	return ioctl(vcpu->fd, KVM_SET_SIGNAL_MASK, &m.km) < 0 ? -errno : 0;
}

int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned int index)
{
	void *run;
	int fd, ret;

	*vcpu = (struct vcpu){ .vm = vm, .index = index, .fd = -1 };
	fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (fd < 0)
		return -errno;
	run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (run == MAP_FAILED) {
		ret = -errno;
		close(fd);
		return ret;
	}
	vcpu->fd = fd;
	vcpu->run = run;
	vcpu->run_size = vm->run_size;
	ret = set_run_mask(vcpu);
	if (ret)
		vcpu_destroy(vcpu);
	return ret;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}

int vcpu_run(struct vcpu *vcpu)
{
	return ioctl(vcpu->fd, KVM_RUN, 0) < 0 ? -errno : 0;
}

/* After a kick: take the pending kick signals, or KVM_RUN would return EINTR again at once. */
static void eat_kicks(void)
{
	static const struct timespec now = { 0 };
	sigset_t kick;

	sigemptyset(&kick);
	sigaddset(&kick, vcpu_kick_signal());
	while (sigtimedwait(&kick, NULL, &now) > 0)
		;
}

/* Paused: wait out of KVM_RUN until resumed or stopped. */
static void park(struct vm *vm)
{
	pthread_mutex_lock(&vm->vcpu_lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->vcpu_cond);
	while (atomic_load(&vm->pause_req) && atomic_load(&vm->state) == VM_RUNNING)
		pthread_cond_wait(&vm->vcpu_cond, &vm->vcpu_lock);
	vm->parked--;
	pthread_mutex_unlock(&vm->vcpu_lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	char name[16];
	sigset_t kick;

	/* Blocked here whatever the creator's mask: only KVM_RUN's mask lets it through. */
	sigemptyset(&kick);
	sigaddset(&kick, vcpu_kick_signal());
	pthread_sigmask(SIG_BLOCK, &kick, NULL);
	snprintf(name, sizeof(name), "hull-vcpu %u", vcpu->index);
	pthread_setname_np(pthread_self(), name);
	pthread_mutex_lock(&vm->vcpu_lock);
	vcpu->tid = gettid();
	/* On its CPU before it first enters the guest. */
	vcpu->pin_err = vm_pin_vcpu(vm, vcpu);
	pthread_cond_broadcast(&vm->vcpu_cond);
	pthread_mutex_unlock(&vm->vcpu_lock);

	while (atomic_load(&vm->state) == VM_RUNNING) {
		int ret;

		if (atomic_load(&vm->pause_req)) {
			park(vm);
			continue;
		}
		milestone_mark(&vm->ms, MS_FIRST_RUN);
		ret = vm->run_vcpu(vcpu);
		if (!ret || ret == -EINTR)
			census_exit(&vcpu->census, ret ? KVM_EXIT_INTR : vcpu->run->exit_reason);
		if (ret == -EINTR || ret == -EAGAIN) {
			vcpu->run->immediate_exit = 0;
			eat_kicks();
			continue;
		}
		if (ret) {
			char regs[512];

			arch_vcpu_dump(vcpu->fd, regs, sizeof(regs));
			/*
			 * EFAULT: KVM could not reach the host memory behind a guest address. With a
			 * hotplug region that is a guest touching a block it has not plugged (hull
			 * made those inaccessible): the guest broke its own VM.
			 */
			log_msg("vcpu %u: KVM_RUN: %s%s; %s", vcpu->index, strerror(-ret),
				ret == -EFAULT && vm->hotplug.size ?
					" (the guest touched memory it has not plugged: an "
					"unplugged block of its --max-memory region?)" : "",
				regs);
			vm_request_stop(vm, VM_ERROR, VM_EXIT_ERROR);
			break;
		}
		if (vcpu_handle_exit(vm, vcpu) == VCPU_STOP)
			break;
	}
	pthread_mutex_lock(&vm->vcpu_lock);
	vm->exited++;
	pthread_cond_broadcast(&vm->vcpu_cond); /* a pause waiting for this one */
	pthread_mutex_unlock(&vm->vcpu_lock);
	return NULL;
}

static void kick_handler(int sig)
{
	(void)sig;
}

int vcpu_start(struct vcpu *vcpu)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	struct vm *vm = vcpu->vm;
	pthread_attr_t attr;
	int ret;

	/*
	 * A handler, so the kick never takes its default action (ending hull), and
	 * no SA_RESTART, so a kick delivered while unblocked interrupts.
	 */
	sigemptyset(&sa.sa_mask);
	if (sigaction(vcpu_kick_signal(), &sa, NULL) < 0)
		return -errno;
	ret = pthread_attr_init(&attr);
	if (ret)
		return -ret;
	ret = pthread_attr_setstacksize(&attr, VCPU_STACK);
	if (ret) {
		pthread_attr_destroy(&attr);
		return -ret;
	}
	pthread_mutex_lock(&vm->vcpu_lock);
	vm->nstarted++;
	ret = pthread_create(&vcpu->thread, &attr, vcpu_thread, vcpu);
	pthread_attr_destroy(&attr);
	if (ret) {
		vm->nstarted--;
		pthread_mutex_unlock(&vm->vcpu_lock);
		return -ret;
	}
	vcpu->started = true;
	/* Its id is known before anyone may pin it or move it into a cgroup. */
	while (!vcpu->tid)
		pthread_cond_wait(&vm->vcpu_cond, &vm->vcpu_lock);
	ret = vcpu->pin_err;
	pthread_mutex_unlock(&vm->vcpu_lock);
	return ret;
}

void vcpu_kick(struct vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	/* immediate_exit covers a kick that lands before the thread enters KVM_RUN. */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(vcpu->thread, vcpu_kick_signal());
}

void vcpu_join(struct vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	pthread_join(vcpu->thread, NULL);
	vcpu->started = false;
}

/* --- the vCPUs as a group ---------------------------------------------------------- */

void vm_vcpus_init(struct vm *vm)
{
	pthread_mutex_init(&vm->vcpu_lock, NULL);
	pthread_cond_init(&vm->vcpu_cond, NULL);
	atomic_init(&vm->pause_req, false);
	vm->nstarted = vm->parked = vm->exited = 0;
	if (!vm->run_vcpu)
		vm->run_vcpu = vcpu_run;
}

void vm_vcpus_fini(struct vm *vm)
{
	pthread_cond_destroy(&vm->vcpu_cond);
	pthread_mutex_destroy(&vm->vcpu_lock);
}

void vm_vcpus_stop(struct vm *vm)
{
	unsigned int i;

	/* Parked ones see the state under the lock; running ones are kicked out of KVM_RUN. */
	pthread_mutex_lock(&vm->vcpu_lock);
	pthread_cond_broadcast(&vm->vcpu_cond);
	pthread_mutex_unlock(&vm->vcpu_lock);
	for (i = 0; vm->vcpus && i < vm->ncpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	for (i = 0; vm->vcpus && i < vm->ncpus; i++)
		vcpu_join(&vm->vcpus[i]);
}

int vm_pause(struct vm *vm)
{
	unsigned int i;
	int ret = 0;

	pthread_mutex_lock(&vm->vcpu_lock);
	if (atomic_load(&vm->state) != VM_RUNNING) {
		pthread_mutex_unlock(&vm->vcpu_lock);
		return -ESHUTDOWN;
	}
	atomic_store(&vm->pause_req, true);
	pthread_mutex_unlock(&vm->vcpu_lock);
	/* A vCPU between its check and KVM_RUN gets the kick pending: KVM_RUN returns at once. */
	for (i = 0; vm->vcpus && i < vm->ncpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	pthread_mutex_lock(&vm->vcpu_lock);
	while (atomic_load(&vm->pause_req) && atomic_load(&vm->state) == VM_RUNNING &&
	       vm->parked + vm->exited < vm->nstarted)
		pthread_cond_wait(&vm->vcpu_cond, &vm->vcpu_lock);
	if (atomic_load(&vm->state) != VM_RUNNING)
		ret = -ESHUTDOWN;
	else if (!atomic_load(&vm->pause_req))
		ret = -EAGAIN;
	pthread_mutex_unlock(&vm->vcpu_lock);
	return ret;
}

int vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->vcpu_lock);
	atomic_store(&vm->pause_req, false);
	pthread_cond_broadcast(&vm->vcpu_cond);
	pthread_mutex_unlock(&vm->vcpu_lock);
	return 0;
}

bool vm_paused(struct vm *vm)
{
	return atomic_load(&vm->pause_req);
}
