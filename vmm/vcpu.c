/* vcpu: vCPU fds, their kvm_run mappings and their threads ("hull-vcpu N"). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/arch.h"
#include "lib/log.h"
#include "vmm/vm.h"

/* The signal that kicks a vCPU out of KVM_RUN; its handler does nothing. */
#define VCPU_KICK_SIGNAL SIGUSR1

int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned int index)
{
	void *run;
	int fd;

	*vcpu = (struct vcpu){ .vm = vm, .index = index, .fd = -1 };
	fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (fd < 0)
		return -errno;
	run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (run == MAP_FAILED) {
		int err = -errno;

		close(fd);
		return err;
	}
	vcpu->fd = fd;
	vcpu->run = run;
	vcpu->run_size = vm->run_size;
	return 0;
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

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	sigset_t kick;

	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	while (atomic_load(&vm->state) == VM_RUNNING) {
		int ret = vcpu_run(vcpu);

		if (ret == -EINTR || ret == -EAGAIN) {
			vcpu->run->immediate_exit = 0;
			continue;
		}
		if (ret) {
			char regs[512];

			arch_vcpu_dump(vcpu->fd, regs, sizeof(regs));
			log_msg("vcpu %u: KVM_RUN: %s; %s", vcpu->index, strerror(-ret), regs);
			vm_request_stop(vm, VM_ERROR, VM_EXIT_ERROR);
			break;
		}
		if (vcpu_handle_exit(vm, vcpu) == VCPU_STOP)
			break;
	}
	return NULL;
}

static void kick_handler(int sig)
{
	(void)sig;
}

int vcpu_start(struct vcpu *vcpu)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	char name[16];
	int ret;

	/* No SA_RESTART: the kick must make KVM_RUN return EINTR. */
	sigemptyset(&sa.sa_mask);
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return -errno;
	ret = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
	if (ret)
		return -ret;
	vcpu->started = true;
	snprintf(name, sizeof(name), "hull-vcpu %u", vcpu->index);
	pthread_setname_np(vcpu->thread, name);
	return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	/* immediate_exit covers a kick that lands before the thread enters KVM_RUN. */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	pthread_join(vcpu->thread, NULL);
	vcpu->started = false;
}
