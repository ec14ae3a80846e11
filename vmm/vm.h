/* vm: one virtual machine — KVM handles, guest memory, buses, devices, vCPU threads, event loop. */
#ifndef HULL_VMM_VM_H
#define HULL_VMM_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
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
#include "vmm/stages.h"

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
	pid_t tid; /* the thread's id, set before vcpu_start() returns (pinning, cgroups) */
};

/* What the vCPU thread does after an exit was handled. */
enum vcpu_action {
	VCPU_CONTINUE,
	VCPU_STOP,
};

/*
 * The kick: a real-time signal, blocked in every thread of hull except inside
 * KVM_RUN (KVM_SET_SIGNAL_MASK), where it makes KVM_RUN return EINTR. Sent
 * before a thread enters KVM_RUN it stays pending and KVM_RUN returns at once
 * (immediate_exit covers the same race). One sent to the process from outside
 * costs a vCPU one spurious exit, or is read and ignored by the event loop.
 */
int vcpu_kick_signal(void);
/* Create vCPU fd, map its kvm_run, give KVM the signal mask for KVM_RUN. */
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
/*
 * Start the thread ("hull-vcpu N"); it runs until the VM stops. Returns once
 * the thread recorded its id (vcpu->tid). vm_vcpus_init() first.
 */
int vcpu_start(struct vcpu *vcpu);
/* Make a running vCPU leave KVM_RUN soon, and join it. */
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);

/* --- the VM ----------------------------------------------------------------------- */

enum vm_state {
	VM_RUNNING,
	VM_POWEROFF, /* guest powered off: exit 0 */
	VM_REBOOT,   /* guest rebooted: exit 0, the VM ends */
	VM_SIGNAL,   /* a terminating signal N: 128+N */
	VM_STOP,     /* stopped on request (the console's escape, the control socket): exit 0 */
	VM_ERROR,    /* KVM or device failure, triple fault: exit 1 */
};

#define VM_EXIT_ERROR 1
#define VM_EXIT_USAGE 2

/* When hull started: the boot timer measures from it. */
struct vm_epoch {
	struct timespec wall; /* CLOCK_MONOTONIC */
	struct timespec cpu;  /* CLOCK_PROCESS_CPUTIME_ID */
};

struct control;

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

	/* vCPU threads as a group: start, pause, resume (vcpu.c). */
	int (*run_vcpu)(struct vcpu *vcpu); /* vcpu_run; tests inject a stand-in */
	pthread_mutex_t vcpu_lock;
	pthread_cond_t vcpu_cond;
	atomic_bool pause_req;  /* vCPUs park before their next KVM_RUN while set */
	unsigned int nstarted;  /* under vcpu_lock: threads started ... */
	unsigned int parked;    /* ... of those, parked by a pause ... */
	unsigned int exited;    /* ... or gone */
	struct timespec started_at; /* when vm_start() started the vCPUs */

	struct serial serial;
	struct i8042 i8042;
	struct rtc rtc;
	struct acpi_pm pm;
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
	struct control *control;           /* --api-sock, or NULL */
	struct loop_handler stop_h, sig_h;
	int stop_fd, sig_fd, room_fd, tx_fd;

	atomic_int state;     /* enum vm_state; the first stop reason wins */
	int exit_status;
	unsigned int unclaimed_logged;

	const struct stage *const *stages; /* the table vm_create() ran ... */
	unsigned int nstages;              /* ... and how many of it are done */
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
 * The lifecycle. vm_create builds a VM from a validated config by running
 * the stages of vm_stages[] (vm_create_from: a table of the caller's), and
 * unwinds them on failure: 0 with *out, or -errno (the cause logged).
 * vm_start starts the vCPU threads: 0 or -errno (the VM is then stopped:
 * vm_destroy it). vm_run runs the event loop on the calling thread until the
 * VM stops and returns the process exit status: 0 on guest poweroff, reboot
 * or a stop request, 128+N on signal N, 1 on a VM failure. vm_destroy stops
 * and joins the vCPUs first, then unwinds the stages in reverse (devices,
 * then memory, then KVM) and frees the VM. Call them from one thread, in
 * that order; vm_destroy after any of them.
 */
int vm_create(const struct vm_config *cfg, const struct vm_epoch *epoch, struct vm **out);
int vm_create_from(const struct stage *const *stages, unsigned int n,
		   const struct vm_config *cfg, const struct vm_epoch *epoch, struct vm **out);
int vm_start(struct vm *vm);
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

/*
 * `hull vm`: create, start, run, destroy. Returns the process exit status:
 * as vm_run, and 2 on bad input found while building the VM (messages
 * already printed).
 */
int vm_main(const struct vm_config *cfg, const struct vm_epoch *epoch);

/*
 * Pause: every vCPU leaves KVM_RUN and parks; returns once all have (their
 * registers and the guest's memory stay as they are), 0, or -ESHUTDOWN when
 * the VM is stopping, -EAGAIN when vm_resume() came first. Pausing a paused
 * VM is a no-op; a VM paused before vm_start() parks its vCPUs as they
 * start. Resume wakes them: 0. Any thread but a vCPU's.
 */
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);
bool vm_paused(struct vm *vm);
/* The pause machinery and run_vcpu; vm_create does it (tests call it on their own vm). */
void vm_vcpus_init(struct vm *vm);
void vm_vcpus_fini(struct vm *vm);
/* Wake, kick and join every started vCPU thread; the VM's state must no longer be running. */
void vm_vcpus_stop(struct vm *vm);

/*
 * The "kernel" stage: load the kernel (--kernel or the default one) and the
 * initrd (a file, the built-in demo, or none) into guest memory, filling
 * vm->boot, vm->initrd_gpa and vm->initrd_len. Bad images set exit status 2.
 */
int vm_load_kernel(struct vm *vm);

#endif
