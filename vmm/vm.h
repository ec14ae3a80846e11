/* vm: one virtual machine — KVM handles, guest memory, buses, devices, vCPU threads, event loop. */
#ifndef HULL_VMM_VM_H
#define HULL_VMM_VM_H

#include <limits.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
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
#include "lib/file.h"
#include "lib/gmem.h"
#include "lib/loop.h"
#include "virtio/virtio.h"
#include "vmm/census.h"
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
struct ctl_request;

struct vcpu {
	struct vm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool started;
	pid_t tid; /* the thread's id, set before vcpu_start() returns (pinning, cgroups) */
	int pin_err; /* the thread could not pin itself (vm_pin_vcpu) */
	struct exit_census census; /* its exits, counted by its own thread */
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
 * the thread recorded its id (vcpu->tid) and pinned itself (vm_pin_vcpu): 0, or
 * -errno when it could not be started or pinned (then it runs unpinned until the
 * VM stops). vm_vcpus_init() first.
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

#define VM_EXIT_ERROR 1 /* a stage failed, the VM failed */
#define VM_EXIT_USAGE 2 /* bad input: the first pass (vm_prepare) refused it */

/* --- the first pass: everything the user named, opened and checked before /dev/kvm ----- */

struct vm_host_cg;

struct vm_prep {
	char kernel_path[PATH_MAX];
	struct boot_src kernel;  /* the image: its file, open (fd -1 when none) */
	struct boot_image boot;  /* what checking it found: its kind, extent and limits */
	struct arch_kaslr kaslr; /* on: hull places the (unpacked) kernel at random at load */
	int initrd_fd;           /* the --initrd file, or -1 */
	struct cpio demo;        /* the built-in demo initramfs, when it is the initrd */
	bool has_demo;
	const uint8_t *image;    /* an initramfs in memory (the demo's, a mode's), or NULL */
	uint64_t initrd_len;     /* 0: no initrd */
	uint64_t initrd_gpa;     /* where it fits */
	/* cfg->devs[i]'s host resources (virtio_kind.check), until its create takes them. */
	void *res[CONFIG_MAX_DEVS];
	const struct virtio_kind *res_kind[CONFIG_MAX_DEVS];
	struct vm_host_cg *cgroup; /* --cgroup: the host cgroup hull runs in (vmm/host.c) */
	cpu_set_t host_cpus;       /* the CPUs hull may use, before --cpu-affinity confined it */
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
/* Free and close what the first pass opened that no stage took (and leave the cgroup). */
void vm_prep_free(struct vm_prep *p);
/*
 * An initramfs a mode built in memory (container mode's), after vm_prepare() of a config with
 * no initrd ("none"): checked to fit below the kernel's limit in cfg's memory, and placed. p
 * points at img, which must stay until the kernel stage has copied it. what names it in the
 * message. 0 or -errno (logged).
 */
int vm_prep_initramfs(const struct vm_config *cfg, struct vm_prep *p, const uint8_t *img,
		      size_t len, const char *what);

/*
 * hull on the host (vmm/host.c). vm_host_prepare, the first pass's first step, before
 * anything is started: --cpu-affinity confines the calling thread, which starts every other
 * (passt, share workers, vCPU threads), to the list, once checked against the CPUs hull may
 * use; --cgroup makes (or joins) the cgroup, writes memory.max = vm_host_mem() and the
 * list as cpuset.cpus (container mode: cfg->cgroup_limits instead), and moves hull in.
 * 0, or -errno (logged, naming the setting).
 * vm_host_release: a cgroup hull made is removed at the end, hull moved back first.
 */
int vm_host_prepare(const struct vm_config *cfg, struct vm_prep *p);
void vm_host_release(struct vm_prep *p);
/* The guest RAM plus hull's overhead (container/limits.h's formula) for cfg. */
uint64_t vm_host_mem(const struct vm_config *cfg);
/*
 * Pinning. vm_pin_vcpu: a vCPU thread with its tid known, under vcpu_lock, onto the
 * (index mod n)-th CPU of vm->affinity when vm->pinned (logged on failure). vm_set_affinity:
 * move the pinning at any time, safe while the vCPUs run (an update): with pin every started
 * vCPU re-pinned by set (without, confined to all of it and vm->pinned cleared: an update's
 * undo to no cpuset), every other thread of hull (the event loop, share workers) and of its
 * children (passt) confined to all of set. 0, or the first -errno; -EINVAL for an empty set.
 */
int vm_pin_vcpu(struct vm *vm, struct vcpu *vcpu);
int vm_set_affinity(struct vm *vm, const cpu_set_t *set, bool pin);
/*
 * An update of hull's host cgroup (ctr_cgroup_set on the cgroup vm_host_prepare placed it in):
 * 0, or -errno with the reason in err (-ENOENT: hull has none).
 */
struct ctr_resources;
int vm_host_cgroup_set(struct vm *vm, const struct ctr_resources *r, char *err, size_t errlen);
/*
 * The host's levels of an update (struct ctr_level's set, opaque the vm): the cgroup
 * (values a struct ctr_resources, vm_host_cgroup_set) and the pinning (a struct ctr_pin,
 * vm_set_affinity; err the cause).
 */
int vm_level_cgroup(void *vm, const void *values, char *err, size_t errlen);
/* The VM's virtio-mem device (a hotplug region: --max-memory), or NULL (vmm/api.c). */
struct virtio_dev *vm_hotplug_dev(const struct vm *vm);
/* The VM's balloon (--balloon on, a container VM's), or NULL (vmm/api.c). */
struct vballoon;
struct vballoon *vm_balloon(const struct vm *vm);
/*
 * The level of the balloon's target (values a uint64_t of bytes, vballoon_set_target):
 * -ENODEV for a target above 0 when the VM has no balloon.
 */
int vm_level_balloon(void *vm, const void *values, char *err, size_t errlen);
int vm_level_pin(void *vm, const void *values, char *err, size_t errlen);
/*
 * The level of the hotplug region's plugged bytes asked of the guest (values a uint64_t;
 * vmem_request): -ENODEV for a size above 0 when the VM has no virtio-mem device.
 */
int vm_level_plug(void *vm, const void *values, char *err, size_t errlen);
bool vm_host_has_cgroup(const struct vm *vm);
/* The hotplug region's bytes plugged now (0: no virtio-mem device). */
uint64_t vm_plugged_now(const struct vm *vm);

/*
 * An update's unplug and balloon inflation, polled every VM_SETTLE_MS, at most VM_SETTLE_POLLS
 * times (a minute: the guest's driver retries busy blocks with a growing pause), before the
 * host's limit falls; as long again for the balloon to take busy blocks' size.
 */
#define VM_SETTLE_MS 500
#define VM_SETTLE_POLLS 120

struct vm_settle {
	struct loop_timer timer;
	unsigned int polls;   /* left; 0: no unplug is being waited for */
	uint64_t from;        /* plugged when it began */
	uint64_t held;        /* the host cgroup's memory.max until the guest has unplugged ... */
	uint64_t target;      /* ... and once it has */
	bool own_balloon;     /* the balloon is the updates' (a container VM's) ... */
	uint64_t planned;     /* ... its target as planned (ctr_update's balloon[1]) ... */
	uint64_t busy;        /* ... and more than that, for busy blocks (set by the caller too) */
	bool fell;            /* the busy blocks were given to the balloon: it is waited for */
};

/*
 * After an update that unplugs or fills the balloon (its levels written): poll until the guest
 * has given the blocks back and, with own_balloon, holds planned + vm->settle.busy in its
 * balloon (vballoon_query's actual), then write target as the host cgroup's memory.max (when
 * hull has a cgroup). Blocks still plugged after VM_SETTLE_POLLS polls are busy in the guest:
 * with own_balloon the balloon's target becomes ctr_limits_busy_balloon()'s (busy: what it
 * adds), polled as long again, and target plus busy / CTR_PT_DIV (hull's page tables for the
 * busy blocks) is written once it holds that; without, or when the guest does not fill the
 * balloon, logged, held left. held is what memory.max stays meanwhile. Loop thread.
 */
void vm_settle_begin(struct vm *vm, uint64_t held, uint64_t target, bool own_balloon,
		     uint64_t planned);
/* An unplug is being waited for (vm_settle_begin): its held memory.max in *held. */
bool vm_settling(const struct vm *vm, uint64_t *held);
/*
 * A standalone VM's update (hull ctl PATH update): linux.resources JSON text (the fields
 * given; ctr_oci_resources) applied to the levels it has: cpu.cpus re-pins the vCPUs (and the
 * cgroup's cpuset.cpus); with --max-memory the memory limit is the guest's size, RAM plus the
 * hotplug region's blocks it asks the guest to plug or unplug (the part above the RAM, rounded
 * up to 128 MiB; at most the region); with --cgroup, cpu quota, period and shares, memory.max
 * = the guest's memory (the limit when below the RAM, else RAM plus plugged) plus hull's
 * overhead, lowered after an unplug only once the guest has done it (vm_settle_begin),
 * memory.low, swap and pids.max. Checked first (ctr_limits_update), written in order, set back
 * on a refusal (ctr_levels_set). 0, or -errno with the reason in err.
 */
int vm_host_update(struct vm *vm, const char *json, char *err, size_t errlen);

/*
 * The kernel command line: cfg's (or the architecture's default), then
 * "memhp_default_state=online_movable" when cfg has a hotplug region and the line sets no
 * memhp_default_state of its own, then "virtio_mmio.device=4K@BASE:GSI" for each of the first
 * ndevs virtio slots, for kernels that find devices there. -E2BIG (logged) when longer than
 * max bytes. *out is malloc'd.
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
	struct gmem_hp hotplug;    /* --max-memory's region (virtio-mem); size 0: none */
	struct bus pio, mmio;
	unsigned int ncpus;
	struct vcpu *vcpus;

	struct arch_vm *arch;               /* the architecture's part: its legacy devices, ... */
	/* vCPU threads as a group: start, pause, resume (vcpu.c). */
	int (*run_vcpu)(struct vcpu *vcpu); /* vcpu_run; tests inject a stand-in */
	pthread_mutex_t vcpu_lock;
	pthread_cond_t vcpu_cond;
	atomic_bool pause_req;  /* vCPUs park before their next KVM_RUN while set */
	cpu_set_t affinity;     /* under vcpu_lock, when pinned: vCPU i on the (i mod n)-th ... */
	bool pinned;            /* ... CPU of it, hull's other threads on all of it */
	unsigned int nstarted;  /* under vcpu_lock: threads started ... */
	unsigned int parked;    /* ... of those, parked by a pause ... */
	unsigned int exited;    /* ... or gone */
	struct timespec started_at; /* when vm_start() started the vCPUs */

	struct serial serial;
	struct boot_timer timer;
	struct dev_host host;

	struct virtio_host vhost;          /* what virtio devices get from the VM */
	struct fdbudget fds;               /* descriptors the guest makes hull hold: vhost.fds */
	struct vm_dev devs[VM_MAX_DEVS];   /* devs[i] is in virtio slot i */
	unsigned int ndevs;
	struct vm_prep *prep;              /* the first pass's results, taken by the stages */

	struct loop loop;
	struct console console;
	struct control *control;           /* --api-sock, or NULL */
	struct vm_settle settle;           /* an update's unplug being waited for (host.c) */
	void *mode;                        /* a mode's own state for its stages (vm_create_from) */
	/*
	 * A mode's say on the signals that stop the VM, before they do: true when it took signo
	 * (container mode forwards some to the container). NULL: every one stops the VM.
	 */
	bool (*signal_hook)(struct vm *vm, int signo);
	/*
	 * A mode's control commands (control_ops.mode: start, kill, ps, exec, resize) and its
	 * container's status for the state reply; loop thread. NULL: none.
	 */
	int (*ctl_hook)(struct vm *vm, const struct ctl_request *req, int client_fd, int *fds,
			unsigned int nfds, char **line, size_t *len);
	const char *(*status_hook)(struct vm *vm);
	struct loop_handler stop_h, sig_h;
	int stop_fd, sig_fd, room_fd, tx_fd;

	atomic_int state;     /* enum vm_state; the first stop reason wins */
	int exit_status;
	unsigned int unclaimed_logged;

	const struct stage *const *stages; /* the table vm_create() ran ... */
	unsigned int nstages;              /* ... and how many of it are done */
	struct timespec start_wall, start_cpu;
	struct milestones ms; /* the points of the start reached, from start_wall */
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
 * The lifecycle. vm_create builds a VM from a config that passed the first
 * pass (prep: what vm_prepare opened and checked, taken by the stages) by
 * running the stages of vm_stages[] (vm_create_from: a table of the
 * caller's, whose stages find mode in vm->mode), and unwinds them on failure:
 * 0 with *out, or -errno (the cause logged).
 * vm_start starts the vCPU threads: 0 or -errno (the VM is then stopped:
 * vm_destroy it). vm_run runs the event loop on the calling thread until the
 * VM stops and returns the process exit status: 0 on guest poweroff, reboot
 * or a stop request, 128+N on signal N, 1 on a VM failure. vm_destroy stops
 * and joins the vCPUs first, then unwinds the stages in reverse (devices,
 * then memory, then KVM) and frees the VM. Call them from one thread, in
 * that order; vm_destroy after any of them.
 */
int vm_create(const struct vm_config *cfg, struct vm_prep *prep, const struct vm_epoch *epoch,
	      struct vm **out);
int vm_create_from(const struct stage *const *stages, unsigned int n,
		   const struct vm_config *cfg, struct vm_prep *prep, const struct vm_epoch *epoch,
		   void *mode, struct vm **out);
int vm_start(struct vm *vm);
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);
/* Every vCPU's exits added up (any thread: while vCPUs run, the counts are a snapshot). */
void vm_census(const struct vm *vm, struct census_total *t);

/*
 * `hull vm` after the first pass: create, start, run, destroy. Returns the
 * process exit status: as vm_run, and 1 when a stage failed (messages
 * already printed). Bad input was vm_prepare's to find (exit 2).
 */
int vm_main(const struct vm_config *cfg, struct vm_prep *prep, const struct vm_epoch *epoch);

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
#define VM_KERNEL_CACHE_SUBDIR "vmlinux" /* under $HULL_CACHE */
#define VM_KERNEL_CACHE_KEEP 4		/* unpacked kernels kept, the newest */

/*
 * A kernel that unpacks itself at boot (a bzImage) unpacked on the host instead, once, and
 * kept in $HULL_CACHE/vmlinux: p->kernel and p->boot then are the unpacked kernel (an ELF, its
 * PVH entry used when it has one), checked against m. Left as it is, with a debug line saying
 * why, when that cannot be done or would change what the guest gets: a relocatable kernel
 * without nokaslr on its command line (only its own decompressor randomises where it runs),
 * a payload in another format than gzip, xz, zstd or lz4, a cache hull cannot use, a kernel not
 * unpacked yet while hull is in its --cgroup (whose memory.max has no room for unpacking it).
 * Never fails.
 */
void vm_unpack_kernel(const struct vm_config *cfg, struct vm_prep *p, const struct gmem *m);

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

#endif
