/* vm: build a VM from its config as a table of stages, run it, and tear it down in reverse. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/mman.h>
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
#include "lib/cpuset.h"
#include "lib/file.h"
#include "lib/log.h"
#include "lib/util.h"
#include "virtio/mem/mem.h"
#include "vmm/vm.h"

void vm_request_stop(struct vm *vm, enum vm_state why, int status)
{
	int running = VM_RUNNING;

	if (atomic_compare_exchange_strong(&vm->state, &running, (int)why)) {
		milestone_mark(&vm->ms, MS_STOP);
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

	switch (ev) {
	case DEV_POWEROFF:
		vm_request_stop(vm, VM_POWEROFF, 0);
		break;
	case DEV_RESET:
		vm_request_stop(vm, VM_REBOOT, 0);
		break;
	case DEV_OUTPUT:
		milestone_mark(&vm->ms, MS_FIRST_OUTPUT);
		break;
	case DEV_BOOTED:
		milestone_mark(&vm->ms, MS_BOOT_TIMER);
		break;
	}
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

/*
 * Anonymous memory for guest RAM at a 2 MiB-aligned address. Only where the host address and
 * the guest-physical address agree modulo 2 MiB can one transparent huge page back a guest's
 * 2 MiB and KVM map it with one large entry of its page tables; mmap alone aligns to 4 KiB,
 * and then every first touch of a 4 KiB page is a fault of its own (measured in the lab: 9147
 * of them before a minimal kernel's init, against QEMU's 362). The extra is unmapped again.
 */
#define RAM_ALIGN (2ull << 20)

static void *map_ram(uint64_t size, bool huge)
{
	uint8_t *p;
	uintptr_t start, head;

	/*
	 * hugepages=on: hugetlb pages, 2 MiB-aligned by the kernel. Without MAP_NORESERVE the
	 * whole size is reserved from the host's pool here, so a pool too small fails now
	 * (ENOMEM) rather than with a SIGBUS at the guest's first touch of a page it lacks.
	 */
	if (huge)
		return mmap(NULL, size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);
	p = mmap(NULL, size + RAM_ALIGN, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return p;
	start = ((uintptr_t)p + RAM_ALIGN - 1) & ~(uintptr_t)(RAM_ALIGN - 1);
	head = start - (uintptr_t)p;
	if (head)
		munmap(p, head);
	if (RAM_ALIGN - head)
		munmap((uint8_t *)start + size, RAM_ALIGN - head);
	return (void *)start;
}

/*
 * The hotplug region, when --max-memory asks for one: mapped once, above RAM, and registered
 * with KVM as one memory slot for the VM's whole life (KVM's view of it; lib/gmem.h). Every
 * block starts unplugged; the virtio-mem device plugs them. Nothing here changes while vCPUs
 * run: plugging only changes what the slot's pages allow.
 */
static int hotplug_init(struct vm *vm)
{
	uint64_t size = config_hotplug_size(vm->cfg);
	uint64_t gpa = arch_hotplug_base(vm->cfg->mem, VMEM_BLOCK_SIZE);
	unsigned int nblocks = (unsigned int)(size / VMEM_BLOCK_SIZE);
	struct kvm_userspace_memory_region region;
	int ret;

	if (!size)
		return 0;
	/* Huge pages: taken from the pool at each plug, not reserved now (gmem_hp_map_huge). */
	if (vm->cfg->hugepages)
		ret = gmem_hp_map_huge(&vm->hotplug, "hull-guest-hotplug", gpa, VMEM_BLOCK_SIZE,
				       nblocks);
	else
		ret = gmem_hp_map(&vm->hotplug, "hull-guest-hotplug", gpa, VMEM_BLOCK_SIZE,
				  nblocks);
	if (ret) {
		log_msg("guest memory: cannot map a hotplug region of %" PRIu64 " MiB: %s",
			size >> 20, strerror(-ret));
		return ret;
	}
	region = (struct kvm_userspace_memory_region){
		.slot = ARCH_MAX_RAM_RANGES, /* after RAM's */
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)vm->hotplug.guest,
	};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		ret = -errno;
		log_msg("guest memory: KVM_SET_USER_MEMORY_REGION for the hotplug region at 0x%" PRIx64
			": %s", gpa, strerror(errno));
		goto fail;
	}
	ret = gmem_add_hotplug(&vm->mem, &vm->hotplug);
	if (!ret)
		return 0;
fail:
	/* A failed stage is not unwound: the region goes now. */
	gmem_hp_unmap(&vm->hotplug);
	return ret;
}

/*
 * hugepages=on: are there huge pages enough in the host's pool for the RAM? -ENOMEM with a
 * message that says how many it needs and has (also after an mmap that found the pool
 * shorter than this said: another process reserved them in between).
 */
static int huge_pool_check(uint64_t ram)
{
	uint64_t need = gmem_huge_pages(ram), have;
	struct gmem_huge_pool pool;
	int ret;

	ret = gmem_huge_pool_read(GMEM_HUGE_SYSFS, &pool);
	if (ret) {
		log_msg("guest memory: hugepages=on: cannot read the host's pool of 2 MiB pages "
			"(%s): %s", GMEM_HUGE_SYSFS, strerror(-ret));
		return ret;
	}
	have = gmem_huge_available(&pool);
	if (have >= need)
		return 0;
	log_msg("guest memory: hugepages=on needs %" PRIu64 " free 2 MiB huge pages for %" PRIu64
		" MiB of RAM, the host has %" PRIu64 " (%" PRIu64 " free, %" PRIu64 " of them "
		"reserved): raise /proc/sys/vm/nr_hugepages by %" PRIu64, need, ram >> 20, have,
		pool.free, pool.resv, need - have);
	return -ENOMEM;
}

static int memory_init(struct vm *vm)
{
	struct arch_ram_range ranges[ARCH_MAX_RAM_RANGES];
	unsigned int i, n = arch_ram_layout(vm->cfg->mem, ranges);
	bool huge = vm->cfg->hugepages;
	int ret;

	if (huge) {
		ret = huge_pool_check(vm->cfg->mem);
		if (ret)
			return ret;
	}
	for (i = 0; i < n; i++) {
		struct kvm_userspace_memory_region region;
		void *host = map_ram(ranges[i].size, huge);

		if (host == MAP_FAILED) {
			ret = -errno;
			if (huge && ret == -ENOMEM && huge_pool_check(vm->cfg->mem))
				return ret;
			log_msg("guest memory: cannot map %" PRIu64 " MiB%s: %s",
				ranges[i].size >> 20, huge ? " in huge pages" : "", strerror(-ret));
			return ret;
		}
		vm->ram[i] = host;
		vm->ram_size[i] = ranges[i].size;
		vm->nram = i + 1;
		/*
		 * Private huge pages a forked child (passt, a hook) shared until its exec would
		 * need pool pages for hull's writes meanwhile (copy on write): keep them out.
		 */
		if (huge && madvise(host, ranges[i].size, MADV_DONTFORK) < 0)
			log_debug("guest memory: MADV_DONTFORK: %s", strerror(errno));
		/* Named, so tools (and the boot benchmark) can tell guest RAM from hull's own. */
		prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)host, ranges[i].size,
		      (unsigned long)"hull-guest-ram");
		/*
		 * Transparent huge pages, as QEMU asks for its RAM: the guest's first touch of
		 * 2 MiB is one fault, not 512 (each a nested page fault under nested
		 * virtualization), and where the host's THP mode is "madvise" (or its defrag is)
		 * this is what gets them. A host with THP off refuses: 4 KiB pages, slower only.
		 */
		if (!huge && madvise(host, ranges[i].size, MADV_HUGEPAGE) < 0)
			log_debug("guest memory: MADV_HUGEPAGE: %s", strerror(errno));
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
	ret = hotplug_init(vm);
	if (!ret)
		milestone_mark(&vm->ms, MS_MEMORY);
	return ret;
}

static void memory_exit(struct vm *vm)
{
	unsigned int i;

	gmem_hp_unmap(&vm->hotplug);
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
	boot_timer_init(&vm->timer, &vm->start_wall, &vm->start_cpu, &vm->host);
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

static int virtio_init(struct vm *vm)
{
	/* Empty until the "fds" stage sizes it: the devices open their accounts first. */
	fdbudget_init(&vm->fds, 0);
	vm->vhost = (struct virtio_host){ .mem = &vm->mem, .loop = &vm->loop, .mmio = &vm->mmio,
					  .vm_fd = vm->vm_fd, .lines = &vm->host, .fds = &vm->fds,
					  .hotplug = vm->hotplug.size ? &vm->hotplug : NULL };
	return vm_create_devices(vm);
}

static void virtio_exit(struct vm *vm)
{
	vm_remove_devices(vm);
}

/* --- stage: boot structures -------------------------------------------------------- */

/*
 * Announce the virtio devices: every one in the firmware tables (win, filled
 * in here), and those the architecture lets such kernels use on the command
 * line too (vm_cmdline), at a second window of theirs, so that a kernel
 * reading both finds each device once (virtio_mmio_alias).
 */
static int announce(struct vm *vm, struct arch_mmio_window *win)
{
	unsigned int i;
	int ret;

	for (i = 0; i < vm->ndevs; i++) {
		uint64_t alias;

		win[i] = (struct arch_mmio_window){ .base = vm->devs[i].base,
						    .size = VIRTIO_MMIO_SIZE,
						    .gsi = vm->devs[i].gsi };
		if (arch_virtio_alias(i, &alias))
			continue;
		ret = virtio_mmio_alias(vm->devs[i].dev, alias);
		if (ret)
			return ret;
	}
	return vm_cmdline(vm->cfg, vm->ndevs, vm->boot.cmdline_size, &vm->cmdline);
}

static int boot_init(struct vm *vm)
{
	struct arch_mmio_window *win = NULL;
	struct arch_boot b;
	int ret;

	if (vm->ndevs) {
		win = calloc(vm->ndevs, sizeof(*win));
		if (!win)
			return -ENOMEM;
	}
	ret = announce(vm, win);
	if (ret)
		goto out;
	b = (struct arch_boot){ .mem = &vm->mem, .img = &vm->boot, .initrd_gpa = vm->initrd_gpa,
				.initrd_len = vm->initrd_len, .cmdline = vm->cmdline,
				.virtio = win, .nvirtio = vm->ndevs };
	ret = arch_boot_setup(vm->arch, &b);
	if (ret)
		log_msg("boot setup: %s", strerror(-ret));
	else
		milestone_mark(&vm->ms, MS_LOADED);
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
	if ((int)si.ssi_signo == vcpu_kick_signal()) {
		/* Sent to the process from outside: hull's own kicks go to vCPU threads. */
		log_debug("signal %u (the vCPU kick) from pid %u: ignored", si.ssi_signo, si.ssi_pid);
		return;
	}
	if (vm->signal_hook && vm->signal_hook(vm, (int)si.ssi_signo))
		return;
	log_msg("%s: stopping the VM", strsignal((int)si.ssi_signo));
	vm_request_stop(vm, VM_SIGNAL, 128 + (int)si.ssi_signo);
}

static void on_quit(void *opaque)
{
	struct vm *vm = opaque;

	vm_request_stop(vm, VM_STOP, 0);
}

/*
 * The signals that stop the VM with 128+N: every one whose default action
 * ends the process and that hull does not use itself, real-time ones
 * included (a container runtime forwards whatever it is sent).
 */
static const int stop_signals[] = {
	SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF,
	SIGIO, SIGPWR, SIGXCPU, SIGSTKFLT,
};

static void signal_set(sigset_t *set)
{
	unsigned int i;
	int sig;

	sigemptyset(set);
	for (i = 0; i < ARRAY_SIZE(stop_signals); i++)
		sigaddset(set, stop_signals[i]);
	/* The kick is among them: from outside it is read here and ignored (on_signal). */
	for (sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
		sigaddset(set, sig);
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
	/* Blocked in every thread (all are started after this), taken only through the signalfd. */
	signal_set(&set);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		return -EINVAL;
	/* Writes to a closed pipe or socket fail with EPIPE; past RLIMIT_FSIZE with EFBIG. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
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

/* --- the stage table ----------------------------------------------------------------- */

const struct stage vm_stage_kvm = { "kvm", kvm_init, kvm_exit };
const struct stage vm_stage_memory = { "memory", memory_init, memory_exit };
const struct stage vm_stage_loop = { "loop", loop_stage_init, loop_stage_exit };
const struct stage vm_stage_devices = { "devices", devices_init, devices_exit };
const struct stage vm_stage_virtio = { "virtio", virtio_init, virtio_exit };
const struct stage vm_stage_kernel = { "kernel", vm_load_kernel, NULL };
const struct stage vm_stage_boot = { "boot", boot_init, boot_exit };
const struct stage vm_stage_vcpus = { "vcpus", vcpus_init, vcpus_exit };
const struct stage vm_stage_console = { "console", console_stage_init, console_stage_exit };
const struct stage vm_stage_fds = { "fds", fds_init, NULL };

const struct stage *const vm_stages[] = {
	&vm_stage_kvm, &vm_stage_memory, &vm_stage_loop, &vm_stage_control, &vm_stage_devices,
	&vm_stage_virtio, &vm_stage_kernel, &vm_stage_boot, &vm_stage_vcpus, &vm_stage_console,
	&vm_stage_fds,
};
const unsigned int vm_nstages = ARRAY_SIZE(vm_stages);

/* --- the lifecycle --------------------------------------------------------------------- */

static struct vm *vm_alloc(const struct vm_config *cfg, struct vm_prep *prep,
			   const struct vm_epoch *epoch)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	if (!vm) {
		log_msg("%s", strerror(ENOMEM));
		return NULL;
	}
	vm->cfg = cfg;
	vm->prep = prep;
	vm->ncpus = cfg->max_cpus > cfg->cpus ? cfg->max_cpus : cfg->cpus; /* all made */
	vm->kvm_fd = vm->vm_fd = vm->stop_fd = vm->sig_fd = vm->room_fd = vm->tx_fd = -1;
	vm->loop.epfd = -1;
	vm->start_wall = epoch->wall;
	vm->start_cpu = epoch->cpu;
	milestones_init(&vm->ms, &epoch->wall);
	atomic_init(&vm->state, VM_RUNNING);
	vm->exit_status = VM_EXIT_ERROR;
	/* The first pass checked it; the vCPU threads pin themselves by it (vm_pin_vcpu). */
	vm->pinned = cfg->cpu_affinity && !cpuset_parse(cfg->cpu_affinity, &vm->affinity);
	vm_vcpus_init(vm);
	return vm;
}

static void vm_free(struct vm *vm)
{
	vm_vcpus_fini(vm);
	free(vm);
}

/* Run the table on vm; on failure the stages done are unwound (the cause was logged). */
static int build(struct vm *vm, const struct stage *const *stages, unsigned int n)
{
	vm->stages = stages;
	return stages_run(stages, n, vm, &vm->nstages);
}

int vm_create_from(const struct stage *const *stages, unsigned int n,
		   const struct vm_config *cfg, struct vm_prep *prep, const struct vm_epoch *epoch,
		   void *mode, struct vm **out)
{
	struct vm *vm = vm_alloc(cfg, prep, epoch);
	int ret;

	if (!vm)
		return -ENOMEM;
	vm->mode = mode;
	ret = build(vm, stages, n);
	if (ret) {
		vm_free(vm);
		return ret;
	}
	*out = vm;
	return 0;
}

int vm_create(const struct vm_config *cfg, struct vm_prep *prep, const struct vm_epoch *epoch,
	      struct vm **out)
{
	return vm_create_from(vm_stages, vm_nstages, cfg, prep, epoch, NULL, out);
}

int vm_start(struct vm *vm)
{
	unsigned int i;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &vm->started_at);
	for (i = 0; i < vm->ncpus; i++) {
		ret = vcpu_start(&vm->vcpus[i]);
		if (ret) {
			if (!vm->vcpus[i].started) /* else it said why it is not pinned */
				log_msg("vcpu %u: cannot start its thread: %s", i, strerror(-ret));
			vm_request_stop(vm, VM_ERROR, VM_EXIT_ERROR);
			return ret;
		}
	}
	return 0;
}

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

int vm_run(struct vm *vm)
{
	int ret;

	loop_yield_to_vcpus();
	ret = loop_run(&vm->loop);
	if (ret) {
		log_msg("event loop: %s", strerror(-ret));
		vm_request_stop(vm, VM_ERROR, VM_EXIT_ERROR);
	}
	return vm->exit_status;
}

void vm_destroy(struct vm *vm)
{
	int running = VM_RUNNING;

	if (!vm)
		return;
	/* Destroyed without a stop (a failed start, another mode's error path): this is one. */
	atomic_compare_exchange_strong(&vm->state, &running, VM_STOP);
	vm_vcpus_stop(vm);
	if (vm->cfg->stats && vm->vcpus) {
		struct census_total *t = malloc(sizeof(*t));

		if (t) {
			vm_census(vm, t);
			census_report(&vm->ms, t);
			free(t);
		}
	}
	stages_unwind(vm->stages, vm->nstages, vm);
	vm_free(vm);
}

void vm_census(const struct vm *vm, struct census_total *t)
{
	const struct exit_census *cs[CONFIG_MAX_CPUS];
	unsigned int i, n = vm->vcpus ? vm->ncpus : 0;

	for (i = 0; i < n && i < CONFIG_MAX_CPUS; i++)
		cs[i] = &vm->vcpus[i].census;
	census_sum(cs, i, t);
}

int vm_main(const struct vm_config *cfg, struct vm_prep *prep, const struct vm_epoch *epoch)
{
	struct vm *vm;
	int status;

	/* Bad input was the first pass's to find: a stage that fails now is exit 1. */
	if (vm_create(cfg, prep, epoch, &vm))
		return VM_EXIT_ERROR;
	if (vm_start(vm)) {
		vm_destroy(vm);
		return VM_EXIT_ERROR;
	}
	status = vm_run(vm);
	vm_destroy(vm);
	return status;
}
