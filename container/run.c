/* run: `hull run` — a container in its own microVM, from its spec to hull's exit status. */
#include "container/run.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "container/agent.h"
#include "container/cgroup.h"
#include "container/console.h"
#include "container/initramfs.h"
#include "container/limits.h"
#include "container/oci.h"
#include "container/plan.h"
#include "container/points.h"
#include "container/stdio.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "virtio/blk/blk.h"
#include "virtio/fs/fs.h"
#include "virtio/net/net.h"
#include "virtio/vsock/vsock.h"

#define NS_PER_MS 1000000ULL

/* One container VM's state, the stages' vm->mode. */
struct ctr_run {
	struct vm *vm;
	const struct ctr_run_args *args;
	struct ctr_bundle b;
	struct ctr_spec spec;
	struct ctr_plan plan;
	struct ctr_run_limits limits;
	struct cpio image;
	int log_fd;
	bool tty;
	uint64_t hello_ms;
	struct ctr_agent agent;
	struct ctr_stdio stdio;
	struct ctr_console console;
	struct loop_timer hello_timer, drain_timer;
	int winch_fd;
	struct loop_handler winch_h;
	uint32_t start_seq;
	bool started;	/* START answered OK: the process runs */
	bool exited;	/* EXITED for it came: status is its */
	bool finished;	/* hull stopped the VM with the container's status */
	bool reported;	/* a failure was reported already */
	int status;
	uint64_t last_int; /* when the last SIGINT was forwarded */
};

/* The VM ends with status; the reason was logged (or there is none to give). */
static void stop(struct ctr_run *r, int status)
{
	vm_request_stop(r->vm, VM_STOP, status);
}

static void fail(struct ctr_run *r, const char *why)
{
	if (!r->reported)
		ctr_console_report(&r->console, why);
	r->reported = true;
	stop(r, VM_EXIT_ERROR);
}

/* --- the container's end ------------------------------------------------------------------ */

static void finish(struct ctr_run *r)
{
	loop_timer_cancel(&r->vm->loop, &r->drain_timer);
	r->finished = true;
	stop(r, r->status);
}

/* Exited: once its output has ended (or paused CTR_DRAIN_MS), the VM ends with its status. */
static void maybe_finish(struct ctr_run *r)
{
	if (!r->exited || r->finished)
		return;
	if (ctr_stdio_done(&r->stdio))
		finish(r);
	else
		loop_timer_arm(&r->vm->loop, &r->drain_timer, CTR_DRAIN_MS * NS_PER_MS, 0);
}

static void on_drain_timeout(struct loop *l, struct loop_timer *t)
{
	struct ctr_run *r = t->opaque;

	(void)l;
	log_msg("container: its output did not end within %d ms after its process exited: the "
		"rest is dropped", CTR_DRAIN_MS);
	finish(r);
}

static void on_progress(void *opaque)
{
	maybe_finish(opaque);
}

static void on_input_end(void *opaque)
{
	struct ctr_run *r = opaque;
	int ret = ctr_agent_stdin_close(&r->agent, 0, NULL);

	if (ret)
		log_debug("container: STDIN_CLOSE: %s", strerror(-ret));
}

static const struct ctr_stdio_ops stdio_ops = { on_progress, on_input_end };

/* --- the agent ------------------------------------------------------------------------------- */

static void send_winsize(struct ctr_run *r)
{
	uint32_t rows, cols;
	int ret;

	if (!r->tty || !r->started || r->exited || ctr_stdio_winsize(&r->stdio, &rows, &cols))
		return;
	ret = ctr_agent_winsize(&r->agent, 0, rows, cols, NULL);
	if (ret)
		log_debug("container: WINSIZE: %s", strerror(-ret));
}

static void on_hello(struct ctr_agent *a, void *opaque, const struct ctr_msg_fields *m)
{
	struct ctr_run *r = opaque;
	char why[128];
	int ret;

	loop_timer_cancel(&r->vm->loop, &r->hello_timer);
	log_debug("container: hull-init is up: %u CPUs, %llu MiB, kernel %s, protocol %u", m->cpus,
		  (unsigned long long)(m->memory >> 20), m->release, m->version);
	ret = ctr_agent_start(a, &r->start_seq);
	if (ret) {
		snprintf(why, sizeof(why), "container: START: %s", strerror(-ret));
		fail(r, why);
	}
}

static void on_reply(struct ctr_agent *a, void *opaque, const struct ctr_msg_fields *m)
{
	struct ctr_run *r = opaque;

	(void)a;
	if (m->seq != r->start_seq || r->started) {
		if (m->type == CTR_MSG_ERROR)
			log_debug("container: request %u refused: %s (%s)", m->seq,
				  m->message ? m->message : "", strerror((int)m->err));
		return;
	}
	if (m->type == CTR_MSG_ERROR) {
		log_msg("container: its process did not start: %s (%s)",
			m->message ? m->message : "", strerror((int)m->err));
		r->reported = true;
		stop(r, VM_EXIT_ERROR);
		return;
	}
	r->started = true;
	log_debug("container: its process runs as pid %u in the guest", m->pid);
	send_winsize(r);
}

static void on_exited(struct ctr_agent *a, void *opaque, uint32_t id, uint32_t kind,
		      uint32_t code)
{
	struct ctr_run *r = opaque;

	(void)a;
	if (id != 0 || r->exited)
		return;
	r->exited = true;
	/* As a shell reports it, and runc's callers expect: the code, or 128 + the signal. */
	r->status = kind ? 128 + (int)code : (int)code;
	log_debug("container: its process %s %u", kind ? "was killed by signal" : "exited with",
		  code);
	maybe_finish(r);
}

static void on_agent_closed(struct ctr_agent *a, void *opaque, int err)
{
	(void)a;
	(void)opaque;
	/* hull-init powers the guest off after this; the VM's end says the rest. */
	log_debug("container: the agent connection ended (%s)", err ? strerror(-err) : "closed");
}

static const struct ctr_agent_ops agent_ops = { on_hello, on_reply, on_exited, on_agent_closed };

static void on_hello_timeout(struct loop *l, struct loop_timer *t)
{
	struct ctr_run *r = t->opaque;
	char why[160];

	(void)l;
	snprintf(why, sizeof(why), "container: hull-init did not say HELLO within %llu ms of the "
		 "guest's start", (unsigned long long)r->hello_ms);
	fail(r, why);
}

/* --- signals ------------------------------------------------------------------------------- */

/*
 * SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 go to the container's process once it
 * runs; a second SIGINT within CTR_SIGINT_TWICE_MS, any other signal, or one before the
 * process runs stops the VM as it does for `hull vm`.
 */
static bool on_signal(struct vm *vm, int sig)
{
	struct ctr_run *r = vm->mode;
	uint64_t now = loop_now_ns();

	if (sig != SIGINT && sig != SIGTERM && sig != SIGHUP && sig != SIGQUIT && sig != SIGUSR1 &&
	    sig != SIGUSR2)
		return false;
	if (!r->started || r->exited)
		return false;
	if (sig == SIGINT && r->last_int && now - r->last_int < CTR_SIGINT_TWICE_MS * NS_PER_MS) {
		log_msg("a second SIGINT within %d ms", CTR_SIGINT_TWICE_MS);
		return false;
	}
	if (ctr_agent_signal(&r->agent, 0, (uint32_t)sig, false, NULL))
		return false;
	if (sig == SIGINT)
		r->last_int = now;
	log_debug("container: %s forwarded to its process", strsignal(sig));
	return true;
}

static void on_winch(struct loop *l, struct loop_handler *h, uint32_t events)
{
	struct ctr_run *r = h->opaque;
	struct signalfd_siginfo si;

	(void)l;
	(void)events;
	while (read(r->winch_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
	send_winsize(r);
}

static int winch_init(struct ctr_run *r, struct loop *l)
{
	sigset_t set;

	/* SIGWINCH is blocked in every thread (ctr_run_main, before any was started). */
	sigemptyset(&set);
	sigaddset(&set, SIGWINCH);
	r->winch_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (r->winch_fd < 0)
		return -errno;
	r->winch_h = (struct loop_handler){ .fd = r->winch_fd, .cb = on_winch, .opaque = r };
	return loop_add(l, &r->winch_h, EPOLLIN);
}

/* --- the stages container mode adds -------------------------------------------------------- */

static void agent_stage_exit(struct vm *vm);

/* After the virtio devices: the agent listens on the vsock device, stdio waits for streams. */
static int agent_stage_init(struct vm *vm)
{
	struct ctr_run *r = vm->mode;
	struct vm_dev *d = vm_find_device(vm, "vsock0");
	struct vsock *vs = d ? vsock_of(d->dev) : NULL;
	int ret;

	r->vm = vm;
	ctr_agent_init(&r->agent, &agent_ops, r);
	loop_timer_init(&r->hello_timer, on_hello_timeout, r);
	loop_timer_init(&r->drain_timer, on_drain_timeout, r);
	ret = ctr_stdio_init(&r->stdio, &vm->loop, &r->agent, r->tty, &stdio_ops, r);
	if (ret)
		goto fail;
	if (!vs) {
		log_msg("container: the VM has no vsock device");
		ret = -ENODEV;
		goto fail;
	}
	ret = ctr_agent_listen(&r->agent, vs, &vm->loop);
	if (ret) {
		log_msg("container: vsock ports %u and %u: %s", CTR_PORT_AGENT, CTR_PORT_STREAM,
			strerror(-ret));
		goto fail;
	}
	ret = ctr_stdio_expect(&r->stdio, 0);
	if (!ret && r->tty)
		ret = winch_init(r, &vm->loop);
	if (ret) {
		log_msg("container: stdio: %s", strerror(-ret));
		goto fail;
	}
	vm->signal_hook = on_signal;
	return 0;
fail:
	agent_stage_exit(vm); /* the terminal put back too */
	return ret;
}

static void agent_stage_exit(struct vm *vm)
{
	struct ctr_run *r = vm->mode;

	vm->signal_hook = NULL;
	loop_timer_cancel(&vm->loop, &r->hello_timer);
	loop_timer_cancel(&vm->loop, &r->drain_timer);
	if (r->winch_fd >= 0) {
		loop_del(&vm->loop, &r->winch_h);
		close(r->winch_fd);
	}
	r->winch_fd = -1;
	ctr_stdio_fini(&r->stdio);
	ctr_agent_fini(&r->agent);
}

/* In place of `hull vm`'s console: the UART to --console-log (or nowhere) and the tail. */
static int console_stage_init(struct vm *vm)
{
	struct ctr_run *r = vm->mode;
	int ret = ctr_console_init(&r->console, &vm->loop, &vm->serial, vm->tx_fd, r->log_fd);

	if (ret)
		log_msg("console log %s: %s", r->args->console_log, strerror(-ret));
	return ret;
}

static void console_stage_exit(struct vm *vm)
{
	ctr_console_fini(&((struct ctr_run *)vm->mode)->console);
}

static const struct stage ctr_stage_agent = { "agent", agent_stage_init, agent_stage_exit };
static const struct stage ctr_stage_console = { "console", console_stage_init,
						console_stage_exit };

/* `hull vm`'s stages with the agent after the devices and a console of container mode's. */
static const struct stage *const ctr_stages[] = {
	&vm_stage_kvm,	  &vm_stage_memory, &vm_stage_loop,	 &vm_stage_control,
	&vm_stage_devices, &vm_stage_virtio, &ctr_stage_agent,	 &vm_stage_kernel,
	&vm_stage_boot,	  &vm_stage_vcpus,  &ctr_stage_console, &vm_stage_fds,
};

/* --- the first pass: everything checked before /dev/kvm ------------------------------------ */

static int add_device(struct vm_config *cfg, const struct virtio_kind *k, void *dev)
{
	char err[256];
	int ret = config_add(cfg, k, dev, err, sizeof(err));

	if (ret)
		log_msg("container: %s", ret == -ENOMEM ? strerror(ENOMEM) : err);
	return ret;
}

/* The plan's devices: its host block devices, the rootfs share, the mounts share, vsock. */
static int add_devices(struct ctr_run *r, struct vm_config *cfg)
{
	const struct ctr_plan *p = &r->plan;
	struct vsock_config *vs;
	struct vblk_config *bk;
	struct vfs_config *fs;
	unsigned int i;
	int ret;

	for (i = 0; i < p->ndisks; i++) {
		bk = calloc(1, sizeof(*bk));
		if (!bk || !(bk->path = strdup(p->disks[i].host)))
			goto nomem_bk;
		snprintf(bk->serial, sizeof(bk->serial), "%s", p->disks[i].serial);
		ret = add_device(cfg, &vblk_kind, bk);
		if (ret)
			return ret;
	}
	fs = calloc(1, sizeof(*fs));
	if (!fs || !(fs->path = strdup(p->rootfs)))
		goto nomem_fs;
	snprintf(fs->tag, sizeof(fs->tag), "%s", CTR_ROOTFS_TAG);
	fs->ro = p->rootfs_ro;
	ret = add_device(cfg, &vfs_kind, fs);
	if (ret)
		return ret;
	if (p->nentries) {
		fs = calloc(1, sizeof(*fs));
		if (!fs || !(fs->entries = calloc(p->nentries, sizeof(*fs->entries))))
			goto nomem_fs;
		snprintf(fs->tag, sizeof(fs->tag), "%s", CTR_MOUNTS_TAG);
		for (i = 0; i < p->nentries; i++, fs->nentries++) {
			fs->entries[i].ro = p->entries[i].ro;
			fs->entries[i].name = strdup(p->entries[i].name);
			fs->entries[i].path = strdup(p->entries[i].host);
			if (!fs->entries[i].name || !fs->entries[i].path) {
				fs->nentries++;
				goto nomem_fs;
			}
		}
		ret = add_device(cfg, &vfs_kind, fs);
		if (ret)
			return ret;
	}
	vs = calloc(1, sizeof(*vs));
	if (!vs)
		goto nomem;
	vs->cid = CTR_GUEST_CID; /* no Unix socket: hull's endpoints are the host side */
	return add_device(cfg, &vsock_kind, vs);

nomem_bk:
	if (bk)
		vblk_config_free(bk);
	free(bk);
	goto nomem;
nomem_fs:
	if (fs)
		vfs_config_free(fs);
	free(fs);
nomem:
	log_msg("container: %s", strerror(ENOMEM));
	return -ENOMEM;
}

/* The container as the bundle or the flags have it, and its plan. */
static int load(struct ctr_run *r, const struct ctr_run_args *a)
{
	char err[768];
	int ret;

	if (a->bundle) {
		ret = ctr_oci_load(a->bundle, &r->b, err, sizeof(err));
		if (ret) {
			log_msg("bundle %s: %s", a->bundle, err);
			return ret;
		}
	} else {
		ret = ctr_run_bundle(&a->opts, &r->b, err, sizeof(err));
		if (ret) {
			log_msg("run: %s", err);
			return ret;
		}
	}
	ret = ctr_plan_build(&r->b, 0, &r->spec, &r->plan, err, sizeof(err));
	if (ret)
		log_msg("%s%s: %s", a->bundle ? "bundle " : "container", a->bundle ? a->bundle : "",
			err);
	return ret;
}

/*
 * The container's linux.resources on every level before /dev/kvm (ctr_limits_run): the VM's
 * vCPUs and RAM (--cpus and --memory win), the vCPUs' pinning (as --cpu-affinity), hull's host
 * cgroup at linux.cgroupsPath (as --cgroup, with the resources' limits), and the container's
 * cgroup in the guest in the guest's numbers. cfg must have its devices (their memory counts).
 */
static int apply_limits(struct ctr_run *r, struct vm_config *cfg, const struct ctr_run_args *a)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	struct ctr_shape_in in = { .cpus = cfg->cpus, .mem = cfg->mem };
	struct ctr_run_limits *l = &r->limits;
	char err[512];
	int ret;

	if (sched_getaffinity(0, sizeof(in.host_cpus), &in.host_cpus) < 0) {
		ret = -errno;
		log_msg("container: sched_getaffinity: %s", strerror(errno));
		return ret;
	}
	in.host_mem = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
	ret = ctr_limits_run(&r->b.resources, &in, a->cpus_set, a->mem_set, config_devices_mem(cfg),
			     l, err, sizeof(err));
	if (ret) {
		log_msg("%s%s: linux.resources: %s", a->bundle ? "bundle " : "container",
			a->bundle ? a->bundle : "", ret == -ENOMEM ? strerror(ENOMEM) : err);
		return ret;
	}
	cfg->cpus = l->cpus;
	cfg->mem = l->mem;
	if (l->affinity) {
		free(cfg->cpu_affinity);
		cfg->cpu_affinity = strdup(l->affinity);
		if (!cfg->cpu_affinity)
			return -ENOMEM;
	}
	if (r->b.cgroups_path) {
		free(cfg->cgroup);
		cfg->cgroup = strdup(r->b.cgroups_path);
		if (!cfg->cgroup)
			return -ENOMEM;
		cfg->cgroup_systemd = ctr_cg_systemd_form(r->b.cgroups_path);
		cfg->cgroup_limits = &l->host;
	}
	/* The guest's cgroup: its cpuset in the VM's vCPUs, not the host's CPUs. */
	ctr_resources_free(&r->spec.resources);
	r->spec.resources = l->guest;
	l->guest = (struct ctr_resources){ 0 };
	log_debug("container: %u vCPUs, %llu MiB%s%s%s%s", l->cpus,
		  (unsigned long long)(l->mem >> 20), l->affinity ? ", pinned to " : "",
		  l->affinity ? l->affinity : "", r->b.cgroups_path ? ", cgroup " : "",
		  r->b.cgroups_path ? r->b.cgroups_path : "");
	return 0;
}

/* The modules the guest needs and the kernel lacks built in (none for the project kernel). */
static int modules(struct ctr_run *r, const struct vm_config *cfg, const struct vm_prep *p,
		   struct ctr_modules *m, char *moddir, size_t dirlen)
{
	const char *wanted[5] = { "virtio_mmio", "vmw_vsock_virtio_transport", "virtiofs" };
	unsigned int n = 3;
	char release[CTR_RELEASE_MAX + 1], err[512];
	int ret;

	*m = (struct ctr_modules){ 0 };
	ret = ctr_kernel_release(p->kernel, p->kernel_len, release, sizeof(release));
	if (ret) {
		log_debug("kernel %s: no release found in it: its drivers are taken as built in",
			  p->kernel_path);
		return 0;
	}
	if (r->plan.ndisks)
		wanted[n++] = "virtio_blk";
	if (config_count(cfg, &vnet_kind))
		wanted[n++] = "virtio_net";
	snprintf(moddir, dirlen, "%s/%s", CTR_MODULES_BASE, release);
	ret = ctr_modules_resolve(moddir, wanted, n, m, err, sizeof(err));
	if (ret)
		log_msg("kernel %s (release %s): %s", p->kernel_path, release, err);
	return ret;
}

/* The spec with its modules, encoded, and the initramfs around it, placed in guest memory. */
static int initramfs(struct ctr_run *r, const struct vm_config *cfg, struct vm_prep *p)
{
	struct ctr_modules m;
	char moddir[sizeof(CTR_MODULES_BASE) + CTR_RELEASE_MAX + 2] = "", err[512];
	uint8_t *spec = NULL;
	unsigned int i;
	size_t len;
	int ret;

	ret = modules(r, cfg, p, &m, moddir, sizeof(moddir));
	if (ret)
		return ret;
	r->spec.modules = calloc(m.n ? m.n : 1, sizeof(*r->spec.modules));
	ret = r->spec.modules ? 0 : -ENOMEM;
	for (i = 0; !ret && i < m.n; i++) {
		r->spec.modules[i] = strdup(m.mods[i].file);
		r->spec.nmodules += r->spec.modules[i] != NULL;
		ret = r->spec.modules[i] ? 0 : -ENOMEM;
	}
	if (!ret)
		ret = ctr_spec_encode(&r->spec, &spec, &len);
	if (ret) {
		log_msg("container: its spec: %s", ret == -E2BIG ? "too large" : strerror(-ret));
		goto out;
	}
	boot_cpio_init(&r->image);
	ret = ctr_initramfs_build(spec, len, moddir, &m, &r->image, err, sizeof(err));
	if (ret) {
		log_msg("container: initramfs: %s", err);
		goto out;
	}
	ret = vm_prep_initramfs(cfg, p, r->image.buf, r->image.len, "the container's initramfs");
	log_debug("container: initramfs of %zu KiB (%u modules)", r->image.len >> 10, m.n);
out:
	free(spec);
	ctr_modules_free(&m);
	return ret;
}

static int prepare(struct ctr_run *r, struct vm_config *cfg, const struct ctr_run_args *a,
		   struct vm_prep *p)
{
	char err[512];
	int ret;

	ret = load(r, a);
	if (ret)
		return ret;
	r->tty = r->spec.process.terminal;
	free(cfg->initrd);
	cfg->initrd = strdup(CONFIG_INITRD_NONE); /* hull's own initramfs, built below */
	if (!cfg->initrd)
		return -ENOMEM;
	ret = add_devices(r, cfg);
	if (ret)
		return ret;
	ret = apply_limits(r, cfg, a);
	if (ret)
		return ret;
	if (a->console_log) {
		r->log_fd = ctr_console_open_log(a->console_log);
		if (r->log_fd < 0) {
			log_msg("console-log %s: %s", a->console_log, strerror(-r->log_fd));
			return r->log_fd;
		}
	}
	ret = vm_prepare(cfg, p); /* says why not */
	cfg->cgroup_limits = NULL; /* r's, read only there */
	if (ret)
		return ret;
	/* The last check, since it changes the rootfs: the share of a read-only root refuses. */
	if (r->plan.rootfs_ro) {
		ret = ctr_mount_points(r->plan.rootfs, &r->spec, &r->plan, err, sizeof(err));
		if (ret)
			log_msg("container: %s", err);
	}
	if (!ret)
		ret = initramfs(r, cfg, p);
	if (ret)
		vm_prep_free(p);
	return ret;
}

/* HULL_AGENT_TIMEOUT_MS, else CTR_HELLO_TIMEOUT_MS. */
static uint64_t hello_timeout(void)
{
	const char *env = getenv("HULL_AGENT_TIMEOUT_MS");
	uint64_t v;

	if (env && !parse_uint(env, 1, 24ULL * 3600 * 1000, &v))
		return v;
	if (env)
		log_msg("HULL_AGENT_TIMEOUT_MS=%s: not a number of milliseconds: %d used", env,
			CTR_HELLO_TIMEOUT_MS);
	return CTR_HELLO_TIMEOUT_MS;
}

static void release(struct ctr_run *r)
{
	if (r->log_fd >= 0)
		close(r->log_fd);
	boot_cpio_free(&r->image);
	ctr_plan_free(&r->plan);
	ctr_run_limits_free(&r->limits);
	ctr_spec_free(&r->spec);
	ctr_bundle_free(&r->b);
	free(r);
}

int ctr_run_main(struct vm_config *cfg, const struct ctr_run_args *a,
		 const struct vm_epoch *epoch)
{
	struct ctr_run *r = calloc(1, sizeof(*r));
	struct vm_prep prep;
	enum vm_state why;
	bool ran = false;
	struct vm *vm;
	sigset_t winch;
	int status;

	if (!r) {
		log_msg("%s", strerror(ENOMEM));
		return VM_EXIT_ERROR;
	}
	r->args = a;
	r->log_fd = r->winch_fd = -1;
	r->hello_ms = hello_timeout();
	if (prepare(r, cfg, a, &prep)) {
		release(r);
		return VM_EXIT_USAGE;
	}
	if (r->tty) {
		/* Before any thread is started, so that every one inherits it blocked. */
		sigemptyset(&winch);
		sigaddset(&winch, SIGWINCH);
		pthread_sigmask(SIG_BLOCK, &winch, NULL);
	}
	status = VM_EXIT_ERROR;
	if (vm_create_from(ctr_stages, ARRAY_SIZE(ctr_stages), cfg, &prep, epoch, r, &vm))
		goto out;
	if (!vm_start(vm)) {
		ran = true;
		loop_timer_arm(&vm->loop, &r->hello_timer, r->hello_ms * NS_PER_MS, 0);
		status = vm_run(vm);
	}
	why = (enum vm_state)atomic_load(&vm->state);
	vm_destroy(vm); /* the console's last bytes are in its tail now */
	if (ran && !r->finished && !r->reported && why != VM_SIGNAL) {
		ctr_console_report(&r->console, "container: the VM ended before the container's "
						"process exited");
		status = VM_EXIT_ERROR;
	}
out:
	vm_prep_free(&prep);
	release(r);
	return status;
}
