/* vm: build a VM from its config as a table of stages, run it, and tear it down in reverse. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/prctl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "arch/arch.h"
#include "lib/file.h"
#include "lib/log.h"
#include "vmm/vm.h"

void vm_request_stop(struct vm *vm, enum vm_state why, int status)
{
	int running = VM_RUNNING;

	if (atomic_compare_exchange_strong(&vm->state, &running, (int)why)) {
		vm->exit_status = status;
		if (eventfd_write(vm->stop_fd, 1) < 0)
			log_msg("cannot wake the event loop: %s", strerror(errno));
	}
}

static void on_irq(void *opaque, unsigned int irq, int level)
{
	struct vm *vm = opaque;
	struct kvm_irq_level l = { .irq = irq, .level = level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
		log_debug("irq %u: KVM_IRQ_LINE: %s", irq, strerror(errno));
}

static void on_event(void *opaque, enum dev_event ev)
{
	struct vm *vm = opaque;

	vm_request_stop(vm, ev == DEV_POWEROFF ? VM_POWEROFF : VM_REBOOT, 0);
}

/* --- stage: KVM ------------------------------------------------------------------- */

static int kvm_init(struct vm *vm)
{
	int ret, version;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		ret = -errno;
		log_msg("/dev/kvm: %s", strerror(errno));
		return ret;
	}
	version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		log_msg("/dev/kvm: API version %d, hull needs %d", version, KVM_API_VERSION);
		return -ENOTSUP;
	}
	ret = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (ret < (int)sizeof(struct kvm_run)) {
		log_msg("/dev/kvm: bad vCPU mmap size %d", ret);
		return -ENOTSUP;
	}
	vm->run_size = (size_t)ret;
	vm->max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (vm->max_vcpus <= 0)
		vm->max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (vm->max_vcpus <= 0)
		vm->max_vcpus = 4; /* the documented floor when neither capability exists */
	if (vm->ncpus > (unsigned int)vm->max_vcpus) {
		log_msg("cpus %u: more than KVM's limit of %d on this host", vm->ncpus,
			vm->max_vcpus);
		vm->exit_status = VM_EXIT_USAGE;
		return -EINVAL;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		ret = -errno;
		log_msg("KVM_CREATE_VM: %s", strerror(errno));
		return ret;
	}
	return arch_vm_create(vm->kvm_fd, vm->vm_fd, vm->ncpus, &vm->arch);
}

static void kvm_exit(struct vm *vm)
{
	arch_vm_destroy(vm->arch);
	vm->arch = NULL;
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->vm_fd = vm->kvm_fd = -1;
}

/* --- stage: guest memory -------------------------------------------------------- */

static int memory_init(struct vm *vm)
{
	struct arch_ram_range ranges[ARCH_MAX_RAM_RANGES];
	unsigned int i, n = arch_ram_layout(vm->cfg->mem, ranges);
	int ret;

	for (i = 0; i < n; i++) {
		struct kvm_userspace_memory_region region;
		void *host = mmap(NULL, ranges[i].size, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (host == MAP_FAILED) {
			ret = -errno;
			log_msg("guest memory: cannot map %" PRIu64 " MiB: %s", ranges[i].size >> 20,
				strerror(errno));
			return ret;
		}
		vm->ram[i] = host;
		vm->ram_size[i] = ranges[i].size;
		vm->nram = i + 1;
		/* Named, so tools (and the boot benchmark) can tell guest RAM from hull's own. */
		prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)host, ranges[i].size,
		      (unsigned long)"hull-guest-ram");
		region = (struct kvm_userspace_memory_region){
			.slot = i,
			.guest_phys_addr = ranges[i].gpa,
			.memory_size = ranges[i].size,
			.userspace_addr = (uintptr_t)host,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
			ret = -errno;
			log_msg("guest memory: KVM_SET_USER_MEMORY_REGION at 0x%" PRIx64 ": %s",
				ranges[i].gpa, strerror(errno));
			return ret;
		}
		ret = gmem_add(&vm->mem, ranges[i].gpa, ranges[i].size, host);
		if (ret)
			return ret;
	}
	return 0;
}

static void memory_exit(struct vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->nram; i++)
		munmap(vm->ram[i], vm->ram_size[i]);
	vm->nram = 0;
}

/* --- stage: devices ----------------------------------------------------------------- */

static int devices_init(struct vm *vm)
{
	struct arch_devices d = { .pio = &vm->pio, .mmio = &vm->mmio, .host = &vm->host,
				  .console = &vm->serial,
				  .boot_timer = vm->cfg->boot_timer ? &vm->timer : NULL };

	vm->host = (struct dev_host){ .irq = on_irq, .event = on_event, .opaque = vm };
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	vm->room_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->room_fd < 0)
		return -errno;
	vm->tx_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->tx_fd < 0)
		return -errno;
	serial_init(&vm->serial, arch_console_irq(), vm->tx_fd, vm->room_fd, &vm->host);
	boot_timer_init(&vm->timer, &vm->start_wall, &vm->start_cpu);
	return arch_devices_init(vm->arch, &d);
}

static void devices_exit(struct vm *vm)
{
	serial_destroy(&vm->serial);
	arch_devices_exit(vm->arch);
	if (vm->room_fd >= 0)
		close(vm->room_fd);
	if (vm->tx_fd >= 0)
		close(vm->tx_fd);
	vm->room_fd = vm->tx_fd = -1;
}

/* --- stage: virtio devices ------------------------------------------------------------ */

/* Take the next virtio-mmio slot, or fail naming the device that did not fit. */
static int virtio_slot(struct vm *vm, const char *what, uint64_t *base, uint32_t *gsi)
{
	if (arch_virtio_slot(vm->nvirtio, base, gsi)) {
		log_msg("%s: no room for another virtio device (this machine has %u)", what,
			vm->nvirtio);
		vm->exit_status = VM_EXIT_USAGE;
		return -ENOSPC;
	}
	vm->nvirtio++;
	return 0;
}

static int virtio_init(struct vm *vm)
{
	uint64_t base;
	uint32_t gsi;
	unsigned int i;
	int ret;

	/* Empty until the "fds" stage sizes it: the devices open their accounts first. */
	fdbudget_init(&vm->fds, 0);
	vm->vhost = (struct virtio_host){ .mem = &vm->mem, .loop = &vm->loop, .mmio = &vm->mmio,
					  .vm_fd = vm->vm_fd, .lines = &vm->host, .fds = &vm->fds };
	for (i = 0; i < vm->cfg->ndisks; i++) {
		const struct vblk_config *d = &vm->cfg->disks[i];

		ret = virtio_slot(vm, d->path, &base, &gsi);
		if (ret)
			return ret;
		ret = vblk_create(d, i, &vm->vhost, base, gsi, &vm->disks[i]);
		if (ret) {
			/* vblk_create named the disk and the cause; a bad disk is bad input. */
			vm->exit_status = VM_EXIT_USAGE;
			return ret;
		}
		vm->ndisks = i + 1;
	}
	for (i = 0; i < vm->cfg->nshares; i++) {
		const struct vfs_config *f = &vm->cfg->shares[i];
		char what[sizeof(f->tag) + 8];

		snprintf(what, sizeof(what), "share %s", f->tag);
		ret = virtio_slot(vm, what, &base, &gsi);
		if (ret)
			return ret;
		ret = vfs_create(f, i, &vm->vhost, base, gsi, &vm->shares[i]);
		if (ret) {
			/* vfs_create named the share and the cause: a bad directory is bad input. */
			vm->exit_status = VM_EXIT_USAGE;
			return ret;
		}
		vm->nshares = i + 1;
	}
	for (i = 0; i < vm->cfg->nnets; i++) {
		const struct vnet_config *n = &vm->cfg->nets[i];
		char what[32];

		snprintf(what, sizeof(what), "net %u", i);
		ret = virtio_slot(vm, what, &base, &gsi);
		if (ret)
			return ret;
		ret = vnet_create(n, i, &vm->vhost, base, gsi, &vm->nets[i]);
		if (ret) {
			/* vnet_create named the backend and the cause (a missing tap, no passt). */
			vm->exit_status = VM_EXIT_USAGE;
			return ret;
		}
		vm->nnets = i + 1;
	}
	if (vm->cfg->has_vsock) {
		ret = virtio_slot(vm, "vsock", &base, &gsi);
		if (ret)
			return ret;
		ret = vsock_create(&vm->cfg->vsock, &vm->vhost, base, gsi, &vm->vsock);
		if (ret) {
			/* vsock_create named the socket path and the cause. */
			vm->exit_status = VM_EXIT_USAGE;
			return ret;
		}
	}
	if (vm->cfg->rng) {
		ret = virtio_slot(vm, "rng", &base, &gsi); /* says why by itself */
		if (ret)
			return ret;
		ret = vrng_create(&vm->vhost, base, gsi, &vm->rng);
		if (ret) {
			log_msg("rng: %s", strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static void virtio_exit(struct vm *vm)
{
	unsigned int i;

	if (vm->rng)
		vrng_destroy(vm->rng);
	vm->rng = NULL;
	vsock_destroy(vm->vsock);
	vm->vsock = NULL;
	for (i = vm->nnets; i > 0; i--)
		vnet_destroy(vm->nets[i - 1]);
	vm->nnets = 0;
	for (i = vm->nshares; i > 0; i--)
		vfs_destroy(vm->shares[i - 1]);
	vm->nshares = 0;
	for (i = 0; i < vm->ndisks; i++)
		vblk_destroy(vm->disks[i]);
	vm->ndisks = 0;
}

/* --- stage: boot structures -------------------------------------------------------- */

/*
 * Virtio device i, in the slot the devices stage gave it: its window and its
 * transport. (Until the device registry lands: found on the bus by the
 * slot's base.)
 */
static struct virtio_dev *virtio_device(const struct vm *vm, unsigned int i,
					struct arch_mmio_window *w)
{
	unsigned int r;

	w->size = VIRTIO_MMIO_SIZE;
	if (arch_virtio_slot(i, &w->base, &w->gsi))
		return NULL;
	for (r = 0; r < vm->mmio.n; r++)
		if (vm->mmio.r[r].base == w->base && vm->mmio.r[r].ops == &virtio_mmio_ops)
			return vm->mmio.r[r].dev;
	return NULL;
}

/* "virtio_mmio.device=4K@0xfe101000:5" for a device, for kernels that look there. */
#define VIRTIO_CMDLINE_ITEM 48

/*
 * Announce the virtio devices: every one in the firmware tables (win, filled
 * in here), and those the architecture lets such kernels use on the command
 * line too, at a second window of theirs, so that a kernel reading both
 * finds each device once (virtio_mmio_alias). Then the kernel command line:
 * the user's (or the default) with those items appended, no longer than the
 * kernel takes.
 */
static int announce(struct vm *vm, struct arch_mmio_window *win)
{
	const char *base = vm->cfg->cmdline ? vm->cfg->cmdline : arch_default_cmdline();
	size_t max = vm->boot.cmdline_size;
	char (*items)[VIRTIO_CMDLINE_ITEM] = NULL;
	const char **extra = NULL;
	unsigned int i, n = vm->nvirtio, nextra = 0;
	int ret = -ENOMEM;

	if (n) {
		items = calloc(n, sizeof(*items));
		extra = calloc(n, sizeof(*extra));
		if (!items || !extra)
			goto out;
	}
	for (i = 0; i < n; i++) {
		struct virtio_dev *d = virtio_device(vm, i, &win[i]);
		uint64_t alias;

		if (!d) {
			ret = -ENODEV;
			log_msg("virtio device %u: not in its slot", i);
			goto out;
		}
		if (arch_virtio_alias(i, &alias))
			continue;
		ret = virtio_mmio_alias(d, alias);
		if (ret)
			goto out;
		snprintf(items[nextra], sizeof(items[nextra]),
			 "virtio_mmio.device=4K@0x%" PRIx64 ":%u", alias, win[i].gsi);
		extra[nextra] = items[nextra];
		nextra++;
	}
	ret = -ENOMEM;
	vm->cmdline = malloc(max + 1);
	if (!vm->cmdline)
		goto out;
	ret = boot_cmdline_build(vm->cmdline, max + 1, max, base, extra, nextra);
	if (ret) {
		log_msg("cmdline: longer than the kernel's limit of %zu bytes with hull's device "
			"list appended", max);
		vm->exit_status = VM_EXIT_USAGE;
	}
out:
	free(items);
	free(extra);
	return ret;
}

static int boot_init(struct vm *vm)
{
	struct arch_mmio_window *win = NULL;
	struct arch_boot b;
	int ret;

	if (vm->nvirtio) {
		win = calloc(vm->nvirtio, sizeof(*win));
		if (!win)
			return -ENOMEM;
	}
	ret = announce(vm, win);
	if (ret)
		goto out;
	b = (struct arch_boot){ .mem = &vm->mem, .img = &vm->boot, .initrd_gpa = vm->initrd_gpa,
				.initrd_len = vm->initrd_len, .cmdline = vm->cmdline,
				.virtio = win, .nvirtio = vm->nvirtio };
	ret = arch_boot_setup(vm->arch, &b);
	if (ret)
		log_msg("boot setup: %s", strerror(-ret));
out:
	free(win);
	return ret;
}

static void boot_exit(struct vm *vm)
{
	free(vm->cmdline);
	vm->cmdline = NULL;
}

/* --- stage: vCPUs ------------------------------------------------------------------- */

static int vcpus_init(struct vm *vm)
{
	unsigned int i;
	int ret;

	vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (i = 0; i < vm->ncpus; i++)
		vm->vcpus[i].fd = -1;
	for (i = 0; i < vm->ncpus; i++) {
		ret = vcpu_create(vm, &vm->vcpus[i], i);
		if (ret) {
			log_msg("vcpu %u: KVM_CREATE_VCPU: %s", i, strerror(-ret));
			return ret;
		}
		ret = arch_vcpu_setup(vm->arch, vm->vcpus[i].fd, i, &vm->boot);
		if (ret) {
			log_msg("vcpu %u: setup: %s", i, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static void vcpus_exit(struct vm *vm)
{
	unsigned int i;

	for (i = 0; vm->vcpus && i < vm->ncpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
}

/* --- stages: event loop and signals; console --------------------------------------------- */

static void on_stop(struct loop *l, struct loop_handler *h, uint32_t events)
{
	(void)h;
	(void)events;
	loop_stop(l);
}

static void on_signal(struct loop *l, struct loop_handler *h, uint32_t events)
{
	struct vm *vm = h->opaque;
	struct signalfd_siginfo si;

	(void)l;
	(void)events;
	if (read(vm->sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	log_msg("%s: stopping the VM", strsignal((int)si.ssi_signo));
	vm_request_stop(vm, VM_SIGNAL, 128 + (int)si.ssi_signo);
}

static void on_quit(void *opaque)
{
	struct vm *vm = opaque;

	vm_request_stop(vm, VM_SIGNAL, 0);
}

static int loop_stage_init(struct vm *vm)
{
	sigset_t set;
	int ret;

	ret = loop_init(&vm->loop);
	if (ret)
		return ret;
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0)
		return -errno;
	vm->stop_h = (struct loop_handler){ .fd = vm->stop_fd, .cb = on_stop, .opaque = vm };
	ret = loop_add(&vm->loop, &vm->stop_h, EPOLLIN);
	if (ret)
		return ret;
	/* Blocked in every thread (vCPU threads inherit this), taken only through the signalfd. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		return -EINVAL;
	signal(SIGPIPE, SIG_IGN);
	vm->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (vm->sig_fd < 0)
		return -errno;
	vm->sig_h = (struct loop_handler){ .fd = vm->sig_fd, .cb = on_signal, .opaque = vm };
	return loop_add(&vm->loop, &vm->sig_h, EPOLLIN);
}

static void loop_stage_exit(struct vm *vm)
{
	if (vm->sig_fd >= 0)
		close(vm->sig_fd);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	vm->sig_fd = vm->stop_fd = -1;
	loop_destroy(&vm->loop);
}

static int console_stage_init(struct vm *vm)
{
	struct console_fds fds = { .in = STDIN_FILENO, .out = STDOUT_FILENO,
				   .room = vm->room_fd, .tx = vm->tx_fd };

	return console_init(&vm->console, &vm->loop, &fds, &vm->serial, on_quit, vm);
}

static void console_stage_exit(struct vm *vm)
{
	console_exit(&vm->console);
}

/* --- stage: the guest's descriptor budget ------------------------------------------------ */

/*
 * Sized last, once hull holds every descriptor of its own it needs to run the
 * guest (KVM, vCPUs, devices, the loop): the guest gets the open-file limit
 * (raised as far as hull may) minus those and a reserve (vmm/fdbudget.h).
 */
static int fds_init(struct vm *vm)
{
	rlim_t limit = file_raise_nofile();
	int own = fdbudget_count_open();
	unsigned int total;

	if (own < 0) {
		/* No /proc (no share can work without it either): assume the reserve again. */
		log_debug("descriptors: /proc/self/fd: %s", strerror(-own));
		own = (int)FDBUDGET_RESERVE_MIN;
	}
	total = fdbudget_size(limit, (unsigned int)own);
	fdbudget_set(&vm->fds, total);
	log_debug("descriptors: open-file limit %llu, hull holds %d: %u for the guest",
		  (unsigned long long)limit, own, total);
	if (!total && vm->fds.naccts)
		log_msg("descriptors: the open-file limit of %llu leaves none for the guest's shares "
			"and vsock connections once hull has its own %d and a reserve of at least %u",
			(unsigned long long)limit, own, FDBUDGET_RESERVE_MIN);
	return 0;
}

/* --- stage: running vCPUs ---------------------------------------------------------------- */

static int start_init(struct vm *vm)
{
	unsigned int i;
	int ret;

	for (i = 0; i < vm->ncpus; i++) {
		ret = vcpu_start(&vm->vcpus[i]);
		if (ret) {
			log_msg("vcpu %u: cannot start its thread: %s", i, strerror(-ret));
			vm_request_stop(vm, VM_ERROR, VM_EXIT_ERROR);
			return ret;
		}
	}
	return 0;
}

static void start_exit(struct vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->ncpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	for (i = 0; i < vm->ncpus; i++)
		vcpu_join(&vm->vcpus[i]);
}

static const struct stage vm_stages[] = {
	{ "kvm", kvm_init, kvm_exit },
	{ "memory", memory_init, memory_exit },
	{ "loop", loop_stage_init, loop_stage_exit },
	{ "devices", devices_init, devices_exit },
	{ "virtio", virtio_init, virtio_exit },
	{ "kernel", vm_load_kernel, NULL },
	{ "boot", boot_init, boot_exit },
	{ "vcpus", vcpus_init, vcpus_exit },
	{ "console", console_stage_init, console_stage_exit },
	{ "fds", fds_init, NULL },
	{ "start", start_init, start_exit },
};

/*
 * The event loop yields to the vCPUs. As SCHED_BATCH, a wakeup of the loop
 * (a tap frame, a guest kick, a completed read) does not preempt a vCPU
 * thread running on the same CPU: the loop runs when that thread blocks (the
 * guest halts to wait for I/O) or its time slice ends, and then takes all
 * the guest and the backends queued meanwhile in one pass. Where CPUs are to
 * spare this changes nothing: the loop wakes on an idle one. Where the loop
 * and a vCPU share a CPU (a container limited to one), it replaces a
 * preemption, an interrupt and a guest exit per packet with one per batch;
 * the cost is that I/O of a guest that keeps its CPU busy waits for the end
 * of the slice. Children (none are started after this point) get the normal
 * policy back. A refusal leaves the normal policy: slower, not wrong.
 */
static void loop_yield_to_vcpus(void)
{
	struct sched_param p = { .sched_priority = 0 };

	if (sched_setscheduler(0, SCHED_BATCH | SCHED_RESET_ON_FORK, &p) < 0)
		log_debug("event loop: SCHED_BATCH: %s", strerror(errno));
}

int vm_main(const struct vm_config *cfg, const struct timespec *start_wall,
	    const struct timespec *start_cpu)
{
	unsigned int n = sizeof(vm_stages) / sizeof(vm_stages[0]), done = 0;
	struct vm *vm;
	int ret, status;

	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		log_msg("%s", strerror(ENOMEM));
		return VM_EXIT_ERROR;
	}
	vm->cfg = cfg;
	vm->ncpus = cfg->cpus;
	vm->kvm_fd = vm->vm_fd = vm->stop_fd = vm->sig_fd = vm->room_fd = vm->tx_fd = -1;
	vm->loop.epfd = -1;
	vm->start_wall = *start_wall;
	vm->start_cpu = *start_cpu;
	atomic_init(&vm->state, VM_RUNNING);
	vm->exit_status = VM_EXIT_ERROR;

	ret = stages_run(vm_stages, n, vm, &done);
	if (ret) {
		status = vm->exit_status ? vm->exit_status : VM_EXIT_ERROR;
		free(vm);
		return status;
	}
	loop_yield_to_vcpus();
	ret = loop_run(&vm->loop);
	if (ret) {
		log_msg("event loop: %s", strerror(-ret));
		vm_request_stop(vm, VM_ERROR, VM_EXIT_ERROR);
	}
	stages_unwind(vm_stages, done, vm);
	status = vm->exit_status;
	free(vm);
	return status;
}
