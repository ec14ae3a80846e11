/* vm: one virtual machine — KVM handles, guest memory, buses, devices, vCPU threads, event loop. */
#ifndef HULL_VMM_VM_H
#define HULL_VMM_VM_H

#include <limits.h>
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
#include "lib/file.h"
#include "lib/gmem.h"
#include "lib/loop.h"
#include "virtio/virtio.h"

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
	struct file_out outf; /* where guest output goes: stdout, written without blocking */
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

#define VM_EXIT_ERROR 1 /* a stage failed, the VM failed */
#define VM_EXIT_USAGE 2 /* bad input: the first pass (vm_prepare) refused it */

/* --- the first pass: everything the user named, opened and checked before /dev/kvm ----- */

struct vm_prep {
	char kernel_path[PATH_MAX];
	uint8_t *kernel;         /* the image, read once */
	size_t kernel_len;
	struct boot_image boot;  /* what checking it found: its kind, extent and limits */
	int initrd_fd;           /* the --initrd file, or -1 */
	struct cpio demo;        /* the built-in demo initramfs, when it is the initrd */
	bool has_demo;
	uint64_t initrd_len;     /* 0: no initrd */
	uint64_t initrd_gpa;     /* where it fits */
	/* cfg->devs[i]'s host resources (virtio_kind.check), until its create takes them. */
	void *res[CONFIG_MAX_DEVS];
	const struct virtio_kind *res_kind[CONFIG_MAX_DEVS];
};

/*
 * The first pass, before /dev/kvm is touched, so that every bad input is reported on any
 * host: validate cfg (config_validate), read and check the kernel (its format, that it fits
 * the memory), open the initrd and check it fits below the kernel's limit, check the command
 * line with hull's device list fits the kernel's, open every device's host resources (disk
 * images and their locks, share directories, taps, passt, the vsock socket) and check the
 * control socket's path. Each failure is logged once, naming the input. 0 or -errno; p is
 * vm_prep_free()'d on failure.
 */
int vm_prepare(const struct vm_config *cfg, struct vm_prep *p);
/* Free and close what the first pass opened that no stage took. */
void vm_prep_free(struct vm_prep *p);

/*
 * The kernel command line: cfg's (or the architecture's default), then
 * "virtio_mmio.device=4K@BASE:GSI" for each of the first ndevs virtio slots, for kernels that
 * find devices there. -E2BIG (logged) when longer than max bytes. *out is malloc'd.
 */
int vm_cmdline(const struct vm_config *cfg, unsigned int ndevs, size_t max, char **out);

/* --- the device registry (vmm/devices.c) ------------------------------------------------ */

#define VM_MAX_DEVS 32   /* virtio devices per VM, at least as many as any arch has slots */
#define VM_DEV_ID_MAX 16 /* "disk12", "vsock0": the kind's name and a number */

struct vm_dev {
	char id[VM_DEV_ID_MAX];         /* "<kind><n>": disk0, fs1, net0, vsock0, rng0 */
	const struct virtio_kind *kind;
	struct virtio_dev *dev;
	uint64_t base;                  /* its MMIO window */
	uint32_t gsi;                   /* its interrupt */
};

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

	struct serial serial;
	struct i8042 i8042;
	struct rtc rtc;
	struct acpi_pm pm;
	struct boot_timer timer;
	struct dev_host host;

	struct virtio_host vhost;          /* what virtio devices get from the VM */
	struct fdbudget fds;               /* descriptors the guest makes hull hold: vhost.fds */
	struct vm_dev devs[VM_MAX_DEVS];   /* devs[i] is in virtio slot i */
	unsigned int ndevs;
	struct vm_prep *prep;              /* the first pass's results, taken by the stages */

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
 * Build the VM from a config that passed the first pass (prep: what it opened, taken by the
 * stages) and run it until it stops. Returns the process exit status: 0 on guest
 * poweroff/reboot, 128+N on signal N, 1 when a stage or the VM failed (messages already
 * printed).
 */
int vm_main(const struct vm_config *cfg, struct vm_prep *prep, const struct timespec *start_wall,
	    const struct timespec *start_cpu);

/*
 * The "kernel" stage: load the kernel vm_prepare() read and checked and the initrd it opened
 * (a file, the built-in demo, or none) into guest memory, filling vm->boot, vm->initrd_gpa
 * and vm->initrd_len.
 */
int vm_load_kernel(struct vm *vm);
/*
 * vm_prepare's part for them (vmm/load.c): the kernel read and checked against cfg's memory,
 * the initrd opened and placed below the kernel's limit, the command line's length checked.
 */
int vm_check_kernel(const struct vm_config *cfg, struct vm_prep *p);
/* Free what it read and close what it opened (vm_prep_free does it too). */
void vm_prep_free_boot(struct vm_prep *p);

/*
 * The registry. vm_add_device: give dev (of kind) the next virtio slot, attach the MMIO
 * transport there and record it as "<kind><n>" (*id, when id is not NULL, points at it). dev
 * is the VM's from then on: on failure (no slot left, logged naming the device) it is
 * destroyed. vm_find_device: the device with that id, or NULL. vm_remove_devices: every
 * device detached and destroyed, the last added first.
 */
int vm_add_device(struct vm *vm, const struct virtio_kind *kind, struct virtio_dev *dev,
		  const char **id);
struct vm_dev *vm_find_device(struct vm *vm, const char *id);
void vm_remove_devices(struct vm *vm);
/* The "virtio" stage: create cfg's devices from prep's resources, each through vm_add_device. */
int vm_create_devices(struct vm *vm);

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
