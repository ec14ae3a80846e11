/* run: `hull run` — a container in its own microVM, from its spec to hull's exit status. */
#include "container/run.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "arch/arch.h"
#include "container/agent.h"
#include "container/cgroup.h"
#include "container/console.h"
#include "container/icache.h"
#include "container/initbin.h"
#include "container/initramfs.h"
#include "container/limits.h"
#include "container/netns.h"
#include "container/oci.h"
#include "container/plan.h"
#include "container/points.h"
#include "container/stdio.h"
#include "lib/cpuset.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "virtio/balloon/balloon.h"
#include "virtio/blk/blk.h"
#include "virtio/fs/fs.h"
#include "virtio/mem/mem.h"
#include "virtio/net/net.h"
#include "virtio/vsock/vsock.h"
#include "vmm/ctlproto.h"

#define NS_PER_MS 1000000ULL

struct ctr_run;

/* A process exec'd in the container (hull exec), its stdio the exec'ing client's fds. */
struct ctr_exec {
	struct ctr_run *r;
	uint32_t id, seq; /* id: its slot + 1 (0 is the container's process) */
	bool started, exited;
	int sig, code;
	int client_fd; /* a dup of the exec'ing client's connection: the answers go there */
	struct loop_handler hup_h; /* ... and its hang-up: the client (the relay) is gone */
	bool watching;
	int fds[CTL_FDS_MAX];
	bool tty;
	struct ctr_stdio stdio;
	struct loop_timer drain;
};

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
	int exit_sig;	/* the process was killed by this signal (0: it exited with status) */
	uint64_t last_int; /* when the last SIGINT was forwarded */
	/* hull create's VMM (args->rt) */
	bool start_sent; /* the control socket's start sent START */
	bool late_net;	 /* the VMM's own namespace: its interface is adopted at start */
	char *late_net_err; /* ... unless its TAP and bridge could not be made: why (malloc'd) */
	int start_fd;	 /* the start client's connection, answered when START is */
	struct ctr_exec *execs[CTR_EXECS_MAX];
	/* an update (the control socket's update): its plan, levels, and the client waiting */
	cpu_set_t host_cpus;	 /* the CPUs hull may use, before any pinning */
	unsigned int online;	 /* vCPUs online in the guest (of vm->ncpus made) */
	struct ctr_update upd;
	uint64_t ballooned;	 /* the balloon's target as updates planned it (upd.balloon) */
	uint64_t bal[2];	 /* the balloon level's: that plus what stands for busy blocks */
	struct ctr_level levels[4];
	unsigned int nlevels;
	bool updating;		 /* the guest's answer is awaited (update_fd waits for it) */
	uint32_t update_seq;	 /* UPDATE's seq ... */
	bool update_late;	 /* ... sent to a paused guest: answered already, an error logged */
	int update_fd;
	struct loop_timer update_timer;
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

static const struct ctr_stdio_ops stdio_ops = { on_progress };

/* --- hull create's VMM: the control socket's container commands ---------------------------- */

/*
 * One answer line to a client that waits for it (fd: a dup of its connection); then closed.
 * The length by address: read once line was made (an argument's order of evaluation is not).
 */
static void answer(int *fd, char *line, const size_t *len, bool close_after)
{
	if (*fd >= 0 && line &&
	    send(*fd, line, *len, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)*len)
		log_debug("container: a control client's answer was not taken: %s",
			  strerror(errno));
	free(line);
	if (close_after && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static struct ctr_exec *exec_of(struct ctr_run *r, uint32_t id)
{
	return id >= 1 && id <= CTR_EXECS_MAX ? r->execs[id - 1] : NULL;
}

/* The exec's slot freed: its streams reset, its fds closed, its client told why (or not). */
static void exec_free(struct ctr_exec *e, const char *why)
{
	struct ctr_run *r = e->r;
	size_t len = 0;
	unsigned int i;

	if (e->watching)
		loop_del(&r->vm->loop, &e->hup_h);
	if (e->client_fd >= 0 && why)
		answer(&e->client_fd, ctl_reply_error(why, &len), &len, true);
	if (e->client_fd >= 0)
		close(e->client_fd);
	loop_timer_cancel(&r->vm->loop, &e->drain);
	ctr_agent_forget(&r->agent, e->id);
	ctr_stdio_fini(&e->stdio);
	for (i = 0; i < CTL_FDS_MAX; i++)
		if (e->fds[i] >= 0)
			close(e->fds[i]);
	r->execs[e->id - 1] = NULL;
	free(e);
}

/* The process ended and its output did: its client is told, after its terminal was put back. */
static void exec_finish(struct ctr_exec *e)
{
	size_t len = 0;
	char *line = ctl_reply_exited(e->sig, e->code, &len);
	int fd = e->client_fd;

	e->client_fd = -1;
	exec_free(e, NULL);
	answer(&fd, line, &len, true);
}

static void exec_maybe_finish(struct ctr_exec *e)
{
	if (!e->exited)
		return;
	if (ctr_stdio_done(&e->stdio))
		exec_finish(e);
	else if (!loop_timer_armed(&e->r->vm->loop, &e->drain))
		loop_timer_arm(&e->r->vm->loop, &e->drain, CTR_DRAIN_MS * NS_PER_MS, 0);
}

static void exec_on_drain(struct loop *l, struct loop_timer *t)
{
	(void)l;
	exec_finish(t->opaque);
}

static void exec_on_progress(void *opaque)
{
	exec_maybe_finish(opaque);
}

static const struct ctr_stdio_ops exec_stdio_ops = { exec_on_progress };

/*
 * The exec'ing client hung up (a relay killed by SIGKILL, say, as a shim kills an exec's pid):
 * nobody is left to report the process's end to, and nobody to stop it: it is killed. Before
 * hull-init answered the EXEC, the exec is forgotten at once (a process it starts after finds
 * no streams).
 */
static void exec_on_hangup(struct loop *l, struct loop_handler *h, uint32_t events)
{
	struct ctr_exec *e = h->opaque;

	(void)events;
	loop_del(l, h);
	e->watching = false;
	if (!e->started) {
		/* Not answered yet: the slot is not held for a reply nobody waits for. */
		exec_free(e, NULL);
		return;
	}
	if (!e->exited && ctr_agent_signal(&e->r->agent, e->id, SIGKILL, false, NULL))
		log_debug("container: exec %u: its client left; SIGKILL could not be sent", e->id);
}

/* An answer to an exec's EXEC: true when m was one. */
static bool exec_reply(struct ctr_run *r, const struct ctr_msg_fields *m)
{
	struct ctr_exec *e = NULL;
	char why[256];
	size_t len = 0;
	unsigned int i;

	for (i = 0; i < CTR_EXECS_MAX && !e; i++)
		if (r->execs[i] && !r->execs[i]->started && r->execs[i]->seq == m->seq)
			e = r->execs[i];
	if (!e)
		return false;
	if (m->type == CTR_MSG_ERROR) {
		snprintf(why, sizeof(why), "exec: the process did not start: %s (%s)",
			 m->message ? m->message : "", strerror((int)m->err));
		exec_free(e, why);
		return true;
	}
	e->started = true;
	log_debug("container: exec %u runs as pid %u in the guest", e->id, m->pid);
	answer(&e->client_fd, ctl_reply_exec(e->id, &len), &len, false);
	return true;
}

static void exec_exited(struct ctr_run *r, uint32_t id, uint32_t kind, uint32_t code)
{
	struct ctr_exec *e = exec_of(r, id);

	if (!e || e->exited)
		return;
	e->exited = true;
	e->sig = kind ? (int)code : 0;
	e->code = kind ? 0 : (int)code;
	exec_maybe_finish(e);
}

static int reply_error(char **line, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int reply_error(char **line, size_t *len, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	*line = ctl_reply_error(msg, len);
	return 0;
}

static int rt_exec(struct ctr_run *r, const struct ctl_request *req, int client_fd, int *fds,
		   unsigned int nfds, char **line, size_t *len)
{
	struct ctr_process p;
	struct ctr_exec *e;
	unsigned int i, slot;
	char err[512];
	int ret;

	if (!r->started || r->exited)
		return reply_error(line, len, "cannot exec in a container that is not running");
	for (slot = 0; slot < CTR_EXECS_MAX && r->execs[slot]; slot++)
		;
	if (slot == CTR_EXECS_MAX)
		return reply_error(line, len, "exec: %d processes exec'd already run",
				   CTR_EXECS_MAX);
	if (ctr_oci_process(req->process, strlen(req->process), &p, err, sizeof(err)))
		return reply_error(line, len, "exec: %s", err);
	e = calloc(1, sizeof(*e));
	if (!e) {
		ctr_process_free(&p);
		return reply_error(line, len, "exec: %s", strerror(ENOMEM));
	}
	*e = (struct ctr_exec){ .r = r, .id = slot + 1, .tty = p.terminal };
	for (i = 0; i < CTL_FDS_MAX; i++) {
		e->fds[i] = i < nfds ? fds[i] : -1;
		if (i < nfds)
			fds[i] = -1;
	}
	loop_timer_init(&e->drain, exec_on_drain, e);
	e->client_fd = fcntl(client_fd, F_DUPFD_CLOEXEC, 0);
	r->execs[slot] = e;
	ret = e->client_fd < 0 ? -errno : 0;
	if (!ret) {
		e->hup_h = (struct loop_handler){ .fd = e->client_fd, .cb = exec_on_hangup,
						  .opaque = e };
		ret = loop_add(&r->vm->loop, &e->hup_h, EPOLLRDHUP);
		e->watching = !ret;
	}
	if (!ret)
		/* A terminal is one fd both ways: the first one sent. */
		ret = ctr_stdio_init_fds(&e->stdio, &r->vm->loop, &r->agent, e->tty, e->fds[0],
					 e->tty ? e->fds[0] : e->fds[1], e->fds[2],
					 &exec_stdio_ops, e);
	if (!ret)
		ret = ctr_stdio_expect(&e->stdio, e->id);
	if (!ret)
		ret = ctr_agent_exec(&r->agent, e->id, &p, &e->seq);
	ctr_process_free(&p);
	if (ret) {
		if (e->client_fd >= 0)
			close(e->client_fd);
		e->client_fd = -1;
		exec_free(e, NULL);
		return reply_error(line, len, "exec: %s", strerror(-ret));
	}
	/* Answered once hull-init did; the connection is the exec's (control_ops.mode). */
	return 2;
}

/* Signals whose default action is to ignore them: a created container's process stays. */
static bool ignored_by_default(int sig)
{
	return sig == SIGCHLD || sig == SIGCONT || sig == SIGURG || sig == SIGWINCH;
}

/* The container's process is gone without hull-init: as killed by sig. */
static void end_by_signal(struct ctr_run *r, int sig)
{
	r->exited = true;
	r->exit_sig = sig;
	r->status = 128 + sig;
	finish(r);
}

static int rt_kill(struct ctr_run *r, const struct ctl_request *req, char **line, size_t *len)
{
	int ret;

	if (r->exited)
		return reply_error(line, len, "container not running");
	if (req->id) {
		struct ctr_exec *e = exec_of(r, req->id);

		if (!e || !e->started || e->exited)
			return reply_error(line, len, "kill: exec %u does not run", req->id);
		ret = ctr_agent_signal(&r->agent, req->id, (uint32_t)req->signal, false, NULL);
		if (ret)
			return reply_error(line, len, "kill: %s", strerror(-ret));
	} else if (!r->started) {
		/* Created (or its start not answered yet): nothing runs in it to signal. */
		if (!ignored_by_default(req->signal))
			end_by_signal(r, req->signal);
	} else if (req->signal == SIGKILL && vm_paused(r->vm)) {
		/* Its vCPUs are stopped: no guest to deliver it; the VM ends as the process. */
		end_by_signal(r, SIGKILL);
	} else {
		ret = ctr_agent_signal(&r->agent, 0, (uint32_t)req->signal, req->all, NULL);
		if (ret)
			return reply_error(line, len, "kill: %s", strerror(-ret));
	}
	*line = ctl_reply_ok(len);
	return 0;
}

/*
 * The interface the hooks put in the VMM's own namespace by now (docker's veth), adopted for
 * START to carry (found false: none, eth0 stays down). A failure ends the container, as a
 * START hull-init refuses does.
 */
static int adopt_netns(struct ctr_run *r, struct ctr_netif *nif, bool *found, char **line,
		       size_t *len)
{
	char err[512], why[600];
	int ret;

	*found = false;
	*nif = (struct ctr_netif){ 0 };
	if (!r->late_net)
		return 0;
	if (r->late_net_err) {
		/* No device to give it: an interface there fails the start, with both causes. */
		ret = ctr_netns_find(found, err, sizeof(err));
		if (!ret && *found) {
			ret = -ENODEV;
			snprintf(err, sizeof(err), "an interface was put there, but the VM has no "
				 "network device for it: its TAP and bridge could not be made at create "
				 "(%s)", r->late_net_err);
		}
	} else {
		ret = ctr_netns_adopt(nif, found, err, sizeof(err));
	}
	if (!ret) {
		if (*found)
			log_debug("network namespace /proc/%d/ns/net: the guest's %s has %s%s, MTU %u",
				  (int)getpid(), CTR_NETNS_GUEST_IF,
				  nif->naddrs ? nif->addrs[0] : "no address",
				  nif->gateway ? " and a gateway" : "", nif->mtu);
		return 0;
	}
	ctr_netif_free(nif);
	snprintf(why, sizeof(why), "network namespace /proc/%d/ns/net: %s", (int)getpid(), err);
	log_msg("container: %s", why);
	r->reported = true;
	stop(r, VM_EXIT_ERROR);
	return reply_error(line, len, "start: %s", why);
}

static int rt_start(struct ctr_run *r, int client_fd, char **line, size_t *len)
{
	struct ctr_netif nif;
	bool found;
	int ret;

	if (r->exited)
		return reply_error(line, len, "cannot start a container that has stopped");
	if (r->start_sent)
		return reply_error(line, len, "cannot start an already running container");
	ret = adopt_netns(r, &nif, &found, line, len);
	if (ret)
		return ret;
	r->late_net = false; /* adopted once, whatever START does */
	ret = ctr_agent_start(&r->agent, found ? &nif : NULL, &r->start_seq);
	ctr_netif_free(&nif);
	if (ret)
		return reply_error(line, len, "start: %s", strerror(-ret));
	r->start_sent = true;
	r->start_fd = fcntl(client_fd, F_DUPFD_CLOEXEC, 0);
	if (r->start_fd < 0) {
		*line = ctl_reply_ok(len); /* answered now rather than never */
		return 0;
	}
	return 1;
}

/* --- update: every level rewritten, or none ------------------------------------------------ */

/* The update is done: its plan becomes the container's resources (ok), or is dropped. */
static void update_end(struct ctr_run *r, bool ok)
{
	const struct ctr_update *u = &r->upd;

	if (ok && u->balloon[1] < u->balloon[0])
		log_msg("container: update: memory: the balloon deflated to %" PRIu64 " MiB (from %"
			PRIu64 ")", r->bal[1] >> 20, r->bal[0] >> 20);
	if (ok && u->plug[1] > u->plug[0])
		log_msg("container: update: memory: %" PRIu64 " MiB more asked to be plugged (%" PRIu64
			" MiB in all; %" PRIu64 " plugged now)", (u->plug[1] - u->plug[0]) >> 20,
			u->plug[1] >> 20, vm_plugged_now(r->vm) >> 20);
	if (ok && u->plug[1] < u->plug[0])
		log_msg("container: update: memory: %" PRIu64 " MiB asked to be unplugged (%" PRIu64
			" MiB plugged in all)", (u->plug[0] - u->plug[1]) >> 20, u->plug[1] >> 20);
	if (ok && u->balloon[1] > u->balloon[0])
		log_msg("container: update: memory: the balloon asked to hold %" PRIu64 " MiB (%"
			PRIu64 " before): the guest's RAM of %" PRIu64 " MiB less the limit",
			r->bal[1] >> 20, r->bal[0] >> 20, r->vm->cfg->mem >> 20);
	if (ok) {
		r->vm->settle.busy = r->bal[1] - u->balloon[1];
		r->ballooned = u->balloon[1];
	}
	if (ok && (u->plug[1] < u->plug[0] || u->balloon[1] > u->balloon[0]))
		vm_settle_begin(r->vm, u->host[1].mem_max, u->host_mem_max,
				vm_balloon(r->vm) != NULL, u->balloon[1]);
	if (ok) {
		r->online = r->upd.vcpus[1];
		ctr_resources_free(&r->b.resources);
		r->b.resources = r->upd.want;
		r->upd.want = (struct ctr_resources){ 0 };
	}
	ctr_update_free(&r->upd);
	r->nlevels = 0;
	r->updating = false;
	loop_timer_cancel(&r->vm->loop, &r->update_timer);
}

/* The guest refused (or did not answer): the host's levels and the guest's set back. */
static void update_undo(struct ctr_run *r, const char *why)
{
	char err[512], msg[1024];
	size_t len = 0;
	int ret;

	ret = ctr_agent_update(&r->agent, &r->upd.guest[0],
			       r->upd.vcpus[0] != r->upd.vcpus[1] ? r->upd.vcpus[0] : 0, NULL);
	if (ret)
		log_msg("container: update: setting the guest's cgroup back: %s", strerror(-ret));
	ret = ctr_levels_undo(r->levels, r->nlevels, err, sizeof(err));
	snprintf(msg, sizeof(msg), "update: the container's cgroup in the guest refused: %s%s%s",
		 why, ret ? "; " : "", ret ? err : "");
	log_msg("container: %s", msg);
	answer(&r->update_fd, ctl_reply_error(msg, &len), &len, true);
	update_end(r, false);
}

static void on_update_timeout(struct loop *l, struct loop_timer *t)
{
	struct ctr_run *r = t->opaque;
	char why[96];

	(void)l;
	if (!r->updating)
		return;
	snprintf(why, sizeof(why), "no answer from hull-init within %d ms", CTR_UPDATE_TIMEOUT_MS);
	update_undo(r, why);
}

/* The guest's answer to UPDATE: true when m was it. */
static bool update_reply(struct ctr_run *r, const struct ctr_msg_fields *m)
{
	char why[320];
	size_t len = 0;

	if (r->update_late && m->seq == r->update_seq) {
		r->update_late = false;
		if (m->type == CTR_MSG_ERROR)
			log_msg("container: update: the guest's cgroup refused it once resumed: %s "
				"(%s)", m->message ? m->message : "", strerror((int)m->err));
		return true;
	}
	if (!r->updating || m->seq != r->update_seq)
		return false;
	if (m->type == CTR_MSG_ERROR) {
		snprintf(why, sizeof(why), "%s (%s)", m->message ? m->message : "",
			 strerror((int)m->err));
		update_undo(r, why);
		return true;
	}
	answer(&r->update_fd, ctl_reply_ok(&len), &len, true);
	update_end(r, true);
	return true;
}

/*
 * The control socket's update: planned and checked (ctr_limits_update), the host's levels
 * written (ctr_levels_set: a refusal sets back what was written), then the guest's cgroup
 * through hull-init, answered when it answers (1: the client waits), or set back with the
 * host's levels when it refuses. A paused guest answers once resumed: the update is answered
 * when the host's levels are written, and a later refusal is logged.
 */
static int rt_update(struct ctr_run *r, const struct ctl_request *req, int client_fd,
		     char **line, size_t *len)
{
	struct vm *vm = r->vm;
	struct virtio_dev *hp = vm_hotplug_dev(vm);
	struct ctr_vm_now now = { .host_cpus = r->host_cpus, .vcpus = r->online,
				  .max_vcpus = vm->ncpus, .mem = vm->cfg->mem,
				  .devices_mem = config_devices_mem(vm->cfg),
				  .balloon = vm_balloon(vm) != NULL, .ballooned = r->ballooned };
	struct vmem_status st;
	struct ctr_resources upd;
	char err[768];
	uint64_t held, plugged, over;
	int ret;

	if (r->exited)
		return reply_error(line, len, "container not running");
	if (r->updating)
		return reply_error(line, len, "update: another update of this container is under way");
	if (hp && !vmem_status(hp, &st)) {
		now.region = st.region;
		now.plugged = st.requested;
	}
	ret = ctr_oci_resources(req->resources, strlen(req->resources), &upd, err, sizeof(err));
	if (ret)
		return reply_error(line, len, "update: linux.resources: %s", err);
	ret = ctr_limits_update(&r->b.resources, &upd, &now, &r->upd, err, sizeof(err));
	ctr_resources_free(&upd);
	if (ret)
		return reply_error(line, len, "update: %s", err);
	if (vm_settling(vm, &held)) {
		/*
		 * An earlier shrink is still being unplugged: its poll lowers the host's memory.max,
		 * which stays as it is meanwhile; a new memory limit waits for it.
		 */
		if (r->upd.plug[0] != r->upd.plug[1] ||
		    r->upd.want.has_mem_max != r->b.resources.has_mem_max ||
		    r->upd.want.mem_max != r->b.resources.mem_max) {
			ctr_update_free(&r->upd);
			return reply_error(line, len, "update: memory: an earlier shrink is still "
					   "being unplugged or ballooned (for up to %d s): try "
					   "again",
					   2 * VM_SETTLE_MS * VM_SETTLE_POLLS / 1000);
		}
		r->upd.host[0].mem_max = r->upd.host[1].mem_max = held;
	}
	/*
	 * The balloon's part for blocks an earlier unplug left busy stays while they are plugged
	 * past what this update asks (the host's limits count neither); a memory change drops
	 * it once they are not.
	 */
	plugged = vm_plugged_now(vm);
	r->bal[0] = r->ballooned + vm->settle.busy;
	r->bal[1] = r->upd.balloon[1] + vm->settle.busy;
	if (r->upd.plug[0] != r->upd.plug[1] || r->upd.balloon[0] != r->upd.balloon[1]) {
		over = plugged > r->upd.plug[1] ? plugged - r->upd.plug[1] : 0;
		r->bal[1] = r->upd.balloon[1] + (vm->settle.busy < over ? vm->settle.busy : over);
	}
	r->nlevels = 0;
	if (vm_host_has_cgroup(vm))
		r->levels[r->nlevels++] = (struct ctr_level){ "the host cgroup", vm_level_cgroup, vm,
							      { &r->upd.host[0], &r->upd.host[1] } };
	/* Before a plug: a guest growing deflates first. */
	if (r->bal[0] != r->bal[1])
		r->levels[r->nlevels++] = (struct ctr_level){ "the balloon", vm_level_balloon, vm,
							      { &r->bal[0], &r->bal[1] } };
	if (r->upd.plug[0] != r->upd.plug[1])
		r->levels[r->nlevels++] = (struct ctr_level){ "the hotplugged memory", vm_level_plug, vm,
							      { &r->upd.plug[0], &r->upd.plug[1] } };
	if (r->upd.pinned)
		r->levels[r->nlevels++] = (struct ctr_level){ "the vCPU pinning", vm_level_pin, vm,
							      { &r->upd.pin[0], &r->upd.pin[1] } };
	ret = ctr_levels_set(r->levels, r->nlevels, err, sizeof(err));
	if (ret) {
		update_end(r, false);
		return reply_error(line, len, "update: %s", err);
	}
	ret = ctr_agent_update(&r->agent, &r->upd.guest[1],
			       r->upd.vcpus[0] != r->upd.vcpus[1] ? r->upd.vcpus[1] : 0,
			       &r->update_seq);
	if (ret) {
		ctr_levels_undo(r->levels, r->nlevels, err, sizeof(err));
		update_end(r, false);
		return reply_error(line, len, "update: the guest's agent: %s", strerror(-ret));
	}
	r->update_fd = vm_paused(vm) ? -1 : fcntl(client_fd, F_DUPFD_CLOEXEC, 0);
	if (r->update_fd < 0) {
		/* Paused (or no descriptor to answer later with): answered now, a refusal logged. */
		r->update_late = true;
		update_end(r, true);
		*line = ctl_reply_ok(len);
		return 0;
	}
	r->updating = true;
	loop_timer_arm(&vm->loop, &r->update_timer, CTR_UPDATE_TIMEOUT_MS * NS_PER_MS, 0);
	return 1;
}

static int rt_ctl(struct vm *vm, const struct ctl_request *req, int client_fd, int *fds,
		  unsigned int nfds, char **line, size_t *len)
{
	struct ctr_run *r = vm->mode;
	struct ctr_exec *e;
	pid_t pid;
	int ret;

	switch (req->cmd) {
	case CTL_START:
		return rt_start(r, client_fd, line, len);
	case CTL_KILL:
		return rt_kill(r, req, line, len);
	case CTL_PS:
		/* The container's host processes: the VMM (its vCPUs are its threads). */
		pid = getpid();
		*line = ctl_reply_pids(&pid, 1, len);
		return 0;
	case CTL_EXEC:
		return rt_exec(r, req, client_fd, fds, nfds, line, len);
	case CTL_UPDATE:
		return rt_update(r, req, client_fd, line, len);
	case CTL_RESIZE:
		e = exec_of(r, req->id);
		if (req->id && (!e || !e->started || e->exited || !e->tty))
			return reply_error(line, len, "resize: no exec %u with a terminal runs",
					   req->id);
		if (!req->id && (!r->started || r->exited || !r->tty))
			return reply_error(line, len, "resize: the container has no terminal");
		ret = ctr_agent_winsize(&r->agent, req->id, req->rows, req->cols, NULL);
		if (ret)
			return reply_error(line, len, "resize: %s", strerror(-ret));
		*line = ctl_reply_ok(len);
		return 0;
	default:
		return reply_error(line, len, "%s: not a container command",
				   ctl_cmd_name(req->cmd));
	}
}

static const char *rt_status(struct vm *vm)
{
	struct ctr_run *r = vm->mode;

	if (r->exited)
		return "stopped";
	if (vm_paused(vm))
		return "paused";
	return r->start_sent ? "running" : "created";
}

/* The VM is going: every exec's client and a start that waits are told. */
static void rt_fini(struct ctr_run *r)
{
	size_t len = 0;
	unsigned int i;

	for (i = 0; i < CTR_EXECS_MAX; i++)
		if (r->execs[i])
			exec_free(r->execs[i], "the container's VM ended");
	if (r->start_fd >= 0)
		answer(&r->start_fd, ctl_reply_error("the container's VM ended", &len), &len, true);
	if (r->update_fd >= 0)
		answer(&r->update_fd, ctl_reply_error("the container's VM ended", &len), &len, true);
	ctr_update_free(&r->upd);
	r->updating = false;
}

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
	if (r->args->rt) {
		/* Created: hull create returns; the control socket's start starts it. */
		if (r->args->rt->ready_fd >= 0) {
			if (write(r->args->rt->ready_fd, "1", 1) != 1)
				log_debug("container: create has gone: %s", strerror(errno));
			close(r->args->rt->ready_fd);
			r->args->rt->ready_fd = -1;
		}
		return;
	}
	ret = ctr_agent_start(a, NULL, &r->start_seq);
	if (ret) {
		snprintf(why, sizeof(why), "container: START: %s", strerror(-ret));
		fail(r, why);
	}
}

static void on_reply(struct ctr_agent *a, void *opaque, const struct ctr_msg_fields *m)
{
	struct ctr_run *r = opaque;
	char why[256];
	size_t len = 0;

	(void)a;
	if (exec_reply(r, m) || update_reply(r, m))
		return;
	if (r->start_fd >= 0 && m->seq == r->start_seq && !r->started) {
		if (m->type == CTR_MSG_ERROR)
			snprintf(why, sizeof(why), "its process did not start: %s (%s)",
				 m->message ? m->message : "", strerror((int)m->err));
		answer(&r->start_fd, m->type == CTR_MSG_ERROR ? ctl_reply_error(why, &len)
							      : ctl_reply_ok(&len),
		       &len, true);
	}
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
	if (id != 0) {
		exec_exited(r, id, kind, code);
		return;
	}
	if (r->exited)
		return;
	r->exited = true;
	/* As a shell reports it, and runc's callers expect: the code, or 128 + the signal. */
	r->status = kind ? 128 + (int)code : (int)code;
	r->exit_sig = kind ? (int)code : 0;
	log_debug("container: its process %s %u", kind ? "was killed by signal" : "exited with",
		  code);
	/* hull run exits 137 for it: say why (the runtime's verbs stay silent, as runc's do). */
	if (!r->args->rt && kind && code == SIGKILL)
		log_msg("container: its process was killed by SIGKILL in the guest (the OOM killer "
			"at its cgroup's memory.max, or a kill): exit status %d", r->status);
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
	loop_timer_init(&r->update_timer, on_update_timeout, r);
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
	if (r->args->rt) {
		vm->ctl_hook = rt_ctl;
		vm->status_hook = rt_status;
	}
	return 0;
fail:
	agent_stage_exit(vm); /* the terminal put back too */
	return ret;
}

static void agent_stage_exit(struct vm *vm)
{
	struct ctr_run *r = vm->mode;

	vm->signal_hook = NULL;
	vm->ctl_hook = NULL;
	vm->status_hook = NULL;
	rt_fini(r);
	loop_timer_cancel(&vm->loop, &r->hello_timer);
	loop_timer_cancel(&vm->loop, &r->drain_timer);
	loop_timer_cancel(&vm->loop, &r->update_timer);
	loop_timer_cancel(&vm->loop, &vm->settle.timer);
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

/*
 * The balloon an update fills when the memory limit falls below the RAM (rt_update), which
 * also hands the host what the guest frees (free page reporting): without deflate-on-OOM, as
 * the host's memory.max falls by what it holds (struct vballoon_config). None with
 * hugepages=on (the balloon cannot go with it), one given already (--balloon on), or when
 * it would take the last virtio slot (virtio-mem's, which comes after the list).
 */
static int add_balloon(struct vm_config *cfg)
{
	struct vballoon_config *bc;

	if (config_count(cfg, &vballoon_kind))
		return 0;
	if (cfg->hugepages || config_ndevs(cfg) + 2 > arch_virtio_slots()) {
		log_debug("container: no balloon (%s): an update shrinks the VM to its RAM at most",
			  cfg->hugepages ? "hugepages=on" : "no virtio slot left");
		return 0;
	}
	bc = calloc(1, sizeof(*bc));
	if (!bc) {
		log_msg("container: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	bc->no_deflate_on_oom = true;
	return add_device(cfg, &vballoon_kind, bc);
}

/* The VM's network device: the TAP made in the namespace (container/netns.h). */
static int add_tap(struct vm_config *cfg)
{
	struct vnet_config *nc = calloc(1, sizeof(*nc));

	if (!nc || !(nc->tap = strdup(CTR_NETNS_TAP))) {
		free(nc);
		log_msg("container: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	nc->backend = VNET_TAP;
	return add_device(cfg, &vnet_kind, nc);
}

/*
 * A network namespace path in config.json (podman's netavark, CNI): the VMM joins it for good
 * and its interface becomes the guest's eth0 (container/netns.h), through a TAP hull opens
 * as `--net tap=` does; a pod's sandbox joins it and leaves the interface alone. Without a
 * path, hull create's VMM is in a namespace of its own: the TAP and the bridge are made there
 * now, and the interface the hooks put there is adopted at start (rt_start). hull run's VM
 * has no network device.
 */
static int join_netns(struct ctr_run *r, struct vm_config *cfg)
{
	const struct ctr_netif *nif;
	char err[512];
	bool found;
	int ret;

	if (!r->b.netns && r->args->rt && r->args->rt->own_netns) {
		r->late_net = true;
		ret = ctr_netns_prepare(err, sizeof(err));
		if (!ret)
			return add_tap(cfg);
		/*
		 * Most containers get no interface there (--network none): they run without a
		 * network device; one the hooks do wire fails the start, saying why (rt_start).
		 */
		log_msg("network namespace /proc/%d/ns/net: %s: the VM has no network device",
			(int)getpid(), err);
		r->late_net_err = strdup(err);
		return r->late_net_err ? 0 : -ENOMEM;
	}
	if (!r->b.netns)
		return 0;
	if (ctr_pod_sandbox(&r->b)) {
		/*
		 * A pod's sandbox (its pause process) needs no network, and one VM can have the
		 * namespace's: the pod's container, which joins it next, gets it.
		 */
		ret = ctr_netns_enter(r->b.netns, err, sizeof(err));
		if (ret)
			log_msg("network namespace %s: %s", r->b.netns, err);
		else
			log_debug("network namespace %s: a pod's sandbox: its network is left to the "
				  "pod's container", r->b.netns);
		return ret;
	}
	r->spec.netifs = calloc(1, sizeof(*r->spec.netifs));
	if (!r->spec.netifs)
		goto nomem;
	r->spec.nnetifs = 1; /* freed with the spec whatever was filled */
	ret = ctr_netns_join(r->b.netns, r->spec.netifs, &found, err, sizeof(err));
	if (ret) {
		log_msg("network namespace %s: %s", r->b.netns, err);
		return ret;
	}
	if (!found) {
		r->spec.nnetifs = 0;
		free(r->spec.netifs);
		r->spec.netifs = NULL;
		return 0;
	}
	nif = r->spec.netifs;
	log_debug("network namespace %s: the guest's %s has %s%s, MTU %u", r->b.netns,
		  CTR_NETNS_GUEST_IF, nif->naddrs ? nif->addrs[0] : "no address",
		  nif->gateway ? " and a gateway" : "", nif->mtu);
	return add_tap(cfg);
nomem:
	log_msg("network namespace %s: %s", r->b.netns, strerror(ENOMEM));
	return -ENOMEM;
}

/* The container as the bundle or the flags have it, and its plan. */
static int load(struct ctr_run *r, const struct ctr_run_args *a)
{
	char err[768];
	int ret;

	if (a->loaded) {
		/* hull create read and checked it (its seccomp profile compiled) a moment ago. */
		r->b = *a->loaded;
		memset(a->loaded, 0, sizeof(*a->loaded));
	} else if (a->bundle) {
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
	if (ret) {
		log_msg("%s%s: %s", a->bundle ? "bundle " : "container", a->bundle ? a->bundle : "",
			err);
		return ret;
	}
	/* The compiled seccomp filter goes to hull-init with the spec (every process loads it). */
	r->spec.seccomp = r->b.seccomp_prog;
	r->spec.seccomp_len = r->b.seccomp_len;
	r->spec.seccomp_flags = r->b.seccomp_flags;
	r->b.seccomp_prog = NULL;
	return 0;
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
	struct ctr_shape_in in = { .cpus = cfg->cpus, .max_cpus = cfg->max_cpus, .mem = cfg->mem,
				   .max_mem = cfg->max_mem };
	struct ctr_run_limits *l = &r->limits;
	char err[512];
	int ret;

	if (sched_getaffinity(0, sizeof(in.host_cpus), &in.host_cpus) < 0) {
		ret = -errno;
		log_msg("container: sched_getaffinity: %s", strerror(errno));
		return ret;
	}
	r->host_cpus = in.host_cpus; /* an update's cpuset is checked against them */
	/* The runtime's VMs: a vCPU made for each CPU hull may use, for an update to online. */
	if (a->rt && !in.max_cpus)
		in.max_cpus = cpuset_count(&in.host_cpus) < CONFIG_MAX_CPUS ?
				      cpuset_count(&in.host_cpus) : CONFIG_MAX_CPUS;
	in.host_mem = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
	ret = ctr_limits_run(&r->b.resources, &in, a->cpus_set, a->mem_set, config_devices_mem(cfg),
			     l, err, sizeof(err));
	if (ret) {
		log_msg("%s%s: linux.resources: %s", a->bundle ? "bundle " : "container",
			a->bundle ? a->bundle : "", ret == -ENOMEM ? strerror(ENOMEM) : err);
		return ret;
	}
	cfg->cpus = l->cpus;
	cfg->max_cpus = l->max_cpus > l->cpus ? l->max_cpus : 0;
	r->online = l->cpus;
	cfg->mem = l->mem;
	cfg->max_mem = l->max_mem;
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
	const char *wanted[6] = { "virtio_mmio", "vmw_vsock_virtio_transport", "virtiofs" };
	unsigned int n = 3;
	char release[CTR_RELEASE_MAX + 1], err[512];
	int ret;

	*m = (struct ctr_modules){ 0 };
	ret = ctr_kernel_release(&p->kernel, release, sizeof(release));
	if (ret) {
		log_debug("kernel %s: no release found in it: its drivers are taken as built in",
			  p->kernel_path);
		return 0;
	}
	if (r->plan.ndisks)
		wanted[n++] = "virtio_blk";
	if (config_count(cfg, &vnet_kind))
		wanted[n++] = "virtio_net";
	if (config_count(cfg, &vballoon_kind))
		wanted[n++] = "virtio_balloon";
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
	char dir[4096], file[4096 + CTR_ICACHE_NAME_LEN + 2];
	enum ctr_icache_how how = CTR_ICACHE_MEMORY;
	struct timespec t0, t1;
	uint8_t *spec = NULL;
	unsigned int i;
	size_t len;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
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
	/* What depends only on hull-init and the modules comes from the cache; the spec follows. */
	boot_cpio_init(&r->image);
	ret = ctr_icache_dir(getenv("HULL_CACHE"), dir, sizeof(dir));
	ret = ctr_icache_get(ret ? NULL : dir, hull_init_id, moddir, &m, len + 512, &r->image,
			     &how, file, sizeof(file), err, sizeof(err));
	if (!ret)
		ret = ctr_initramfs_finish(&r->image, spec, len, err, sizeof(err));
	if (ret) {
		log_msg("container: initramfs: %s", err);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ret = vm_prep_initramfs(cfg, p, r->image.buf, r->image.len, "the container's initramfs");
	log_debug("container: initramfs of %zu KiB (%u modules) in %.1f ms, %s%s",
		  r->image.len >> 10, m.n,
		  (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
		  how == CTR_ICACHE_HIT ? "from cache " :
		  how == CTR_ICACHE_STORED ? "built and cached as " : "built in memory", file);
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
	ret = join_netns(r, cfg);
	if (!ret)
		ret = add_balloon(cfg);
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
	free(r->late_net_err);
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
	r->log_fd = r->winch_fd = r->start_fd = r->update_fd = -1;
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
	if (a->rt) {
		a->rt->ended = r->exited;
		a->rt->signal = r->exit_sig;
		a->rt->code = r->exited && !r->exit_sig ? r->status : 0;
	}
	vm_prep_free(&prep);
	release(r);
	return status;
}
