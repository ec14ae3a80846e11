/* vm: one virtual machine — KVM handles, guest memory, buses, devices, vCPU threads, event loop. */
#ifndef HULL_VMM_VM_H
#define HULL_VMM_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <termios.h>
#include <time.h>

#include "arch/arch.h"
#include "boot/boot.h"
#include "devices/devices.h"
#include "lib/bus.h"
#include "vmm/config.h"
#include "lib/fdbudget.h"
#include "lib/gmem.h"
#include "lib/loop.h"
#include "virtio/blk/blk.h"
#include "virtio/fs/fs.h"
#include "virtio/net/net.h"
#include "virtio/rng/rng.h"
#include "virtio/vsock/vsock.h"

/* --- console: hull's stdin and stdout to the guest UART, raw terminal, escape to quit ----- */

#define CONSOLE_ESCAPE 0x01 /* Ctrl-A, then 'x' quits, Ctrl-A again sends one Ctrl-A */
#define CONSOLE_FLUSH_MS 500 /* at exit, how long stdout may take to accept what is left */

struct console_fds {
	int in, out; /* hull's stdin and stdout */
	int room;    /* the UART's eventfd: its RX FIFO has room again */
	int tx;      /* the UART's eventfd: output started waiting */
};

struct console {
	int in_fd;
	bool is_tty, raw, escape, eof;
	struct termios saved;
	struct loop_handler in, room;
	int room_fd;
	/* Output: written by the event loop without ever blocking (see console.c). */
	struct loop_handler out, tx;
	int tx_fd;
	int out_fd;        /* where guest output goes: stdout or a reopening of it, or -1 */
	int out_flags;     /* stdout's status flags to put back at exit, or -1 */
	bool out_own;      /* out_fd is hull's own reopening of stdout */
	bool out_socket;   /* stdout is a socket: send(MSG_DONTWAIT) */
	bool out_polled;   /* out_fd is in the event loop (a pipe, FIFO, tty or socket) */
	bool out_waiting;  /* ... with EPOLLOUT: stdout was full */
	bool out_gone;     /* stdout is closed or failed: output is discarded */
	struct serial *serial;
	void (*quit)(void *opaque);
	void *opaque;
};

int console_init(struct console *c, struct loop *l, const struct console_fds *fds,
		 struct serial *serial, void (*quit)(void *), void *opaque);
/*
 * At exit, after the vCPUs stopped: write out what the guest left (waiting at most
 * CONSOLE_FLUSH_MS for stdout), report output lost, restore the terminal and stdout.
 */
void console_exit(struct console *c);
/* Feed bytes typed by the user through escape handling into the UART (exposed for tests). */
size_t console_feed(struct console *c, const uint8_t *buf, size_t len);

/* --- vCPUs ---------------------------------------------------------------------- */

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool started;
};

/* What the vCPU thread does after an exit was handled. */
enum vcpu_action {
	VCPU_CONTINUE,
	VCPU_STOP,
};

/* Create vCPU fd and map its kvm_run. */
int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned int index);
void vcpu_destroy(struct vcpu *vcpu);
/* Issue KVM_RUN once: 0, or -errno (-EINTR when kicked). */
int vcpu_run(struct vcpu *vcpu);
/*
 * Decide what an exit means, from vcpu->run alone (tests feed made-up
 * exits). Device accesses go to vm's buses; guest power events and
 * failures become vm_request_stop().
 */
enum vcpu_action vcpu_handle_exit(struct vm *vm, struct vcpu *vcpu);
/* Start the thread ("hull-vcpu N"); it runs until the VM stops. */
int vcpu_start(struct vcpu *vcpu);
/* Make a running vCPU leave KVM_RUN soon, and join it. */
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);

/* --- the VM ----------------------------------------------------------------------- */

enum vm_state {
	VM_RUNNING,
	VM_POWEROFF, /* guest powered off: exit 0 */
	VM_REBOOT,   /* guest rebooted: exit 0, the VM ends */
	VM_SIGNAL,   /* SIGTERM/SIGINT/SIGHUP or the console escape: 128+signal */
	VM_ERROR,    /* KVM or device failure, triple fault: exit 1 */
};

#define VM_EXIT_ERROR 1
#define VM_EXIT_USAGE 2

struct vm {
	const struct vm_config *cfg;
	int kvm_fd, vm_fd;
	int max_vcpus;
	size_t run_size;
	struct gmem mem;
	void *ram[ARCH_MAX_RAM_RANGES];
	uint64_t ram_size[ARCH_MAX_RAM_RANGES];
	unsigned int nram;
	struct bus pio, mmio;
	unsigned int ncpus;
	struct vcpu *vcpus;

	struct arch_vm *arch;               /* the architecture's part: its legacy devices, ... */
	struct serial serial;
	struct boot_timer timer;
	struct dev_host host;

	struct virtio_host vhost;          /* what virtio devices get from the VM */
	struct fdbudget fds;               /* descriptors the guest makes hull hold: vhost.fds */
	struct vblk *disks[CONFIG_MAX_DISKS];
	unsigned int ndisks;
	struct vfs *shares[CONFIG_MAX_SHARES];
	unsigned int nshares;
	struct vnet *nets[CONFIG_MAX_NETS];
	unsigned int nnets;
	struct vsock *vsock;
	struct vrng *rng;
	unsigned int nvirtio;              /* virtio-mmio slots in use: 0..nvirtio-1 */

	struct loop loop;
	struct console console;
	struct loop_handler stop_h, sig_h;
	int stop_fd, sig_fd, room_fd, tx_fd;

	atomic_int state;     /* enum vm_state; the first stop reason wins */
	int exit_status;
	unsigned int unclaimed_logged;

	struct timespec start_wall, start_cpu;
	struct boot_image boot;
	uint64_t initrd_gpa, initrd_len;
	char *cmdline;
};

/*
 * Record why the VM ends (first caller wins) and wake the event loop, which
 * stops the vCPUs. Safe from any thread.
 */
void vm_request_stop(struct vm *vm, enum vm_state why, int status);

/*
 * Build the VM from a validated config and run it until it stops. Returns
 * the process exit status: 0 on guest poweroff/reboot, 128+N on signal N,
 * 1 on a VM failure, 2 on bad input (messages already printed).
 */
int vm_main(const struct vm_config *cfg, const struct timespec *start_wall,
	    const struct timespec *start_cpu);

/*
 * The "kernel" stage: load the kernel (--kernel or the default one) and the
 * initrd (a file, the built-in demo, or none) into guest memory, filling
 * vm->boot, vm->initrd_gpa and vm->initrd_len. Bad images set exit status 2.
 */
int vm_load_kernel(struct vm *vm);

/* Lifecycle as data: stages run in order, unwound in reverse. */
struct stage {
	const char *name;
	int (*init)(struct vm *vm);
	void (*exit)(struct vm *vm); /* may be NULL */
};

/* Run stages[0..n) in order; on failure unwind the ones done and return the error. */
int stages_run(const struct stage *stages, unsigned int n, struct vm *vm, unsigned int *done);
void stages_unwind(const struct stage *stages, unsigned int done, struct vm *vm);

#endif
