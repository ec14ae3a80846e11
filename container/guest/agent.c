/* agent: hull-init's end of the agent protocol — hull's requests, the processes, their tty relays. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "container/guest/guest.h"

enum { EV_AGENT = 1, EV_CHILD, EV_MASTER, EV_SOCK };
#define EV(kind, i) ((uint64_t)(kind) << 32 | (uint32_t)(i))

/* A process of the container; a terminal one has a relay between its pty and its tty stream. */
struct gproc {
	bool used, exited, terminal;
	uint32_t id;
	pid_t pid;
	int status;
	int master, sock;
	bool master_eof, sock_eof, sock_dead, master_reg, sock_reg;
	bool veof_due, veof_done; /* the end of input is owed to the pty, or was written once */
	uint8_t *to_sock, *to_pty; /* GI_RELAY_BUF each */
	size_t to_sock_len, to_pty_len;
	int64_t deadline; /* ms, CLOCK_MONOTONIC: give up draining the tty output */
};

struct agent {
	int fd, ep, sigfd;
	bool gone, started;
	const struct ctr_spec *spec;
	const struct gi_cgroup *cg;
	uint8_t hdr[CTR_FRAME_HDR];
	size_t hlen;
	bool in_payload, bad_hdr;
	uint16_t type;
	uint32_t plen, pgot;
	uint8_t *payload; /* CTR_FRAME_MAX */
	struct gproc procs[GI_PROC_MAX];
};

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int send_msg(struct agent *a, const struct ctr_msg_fields *m)
{
	uint8_t *out;
	size_t len, off = 0;
	ssize_t n;
	int r;

	if (a->gone)
		return -EPIPE;
	r = ctr_msg_encode(m, &out, &len);
	if (r) {
		gi_log("cannot encode message type %u: %s", m->type, strerror(-r));
		return r;
	}
	while (off < len) {
		n = send(a->fd, out + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			a->gone = true;
			break;
		}
		off += (size_t)n;
	}
	free(out);
	return a->gone ? -EPIPE : 0;
}

static void reply_ok(struct agent *a, uint32_t seq, pid_t pid)
{
	struct ctr_msg_fields m = { .type = CTR_MSG_OK, .seq = seq, .has_seq = true };

	m.pid = (uint32_t)pid;
	send_msg(a, &m);
}

static void __attribute__((format(printf, 4, 5)))
reply_err(struct agent *a, uint32_t seq, int err, const char *fmt, ...)
{
	struct ctr_msg_fields m = { .type = CTR_MSG_ERROR, .seq = seq, .has_seq = true };
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	m.err = (uint32_t)err;
	m.message = msg[0] ? msg : strerror(err); /* a TLV string is never empty */
	send_msg(a, &m);
}

/* The seq of a request that did not decode, to answer it: 1 when found. */
static bool find_seq(const uint8_t *p, size_t len, uint32_t *seq)
{
	struct tlv_r r, v;
	uint16_t tag;

	tlv_r_init(&r, p, len);
	while (tlv_next(&r, &tag, &v) == 1)
		if (tag == 1 && !tlv_u32(&v, seq))
			return true;
	return false;
}

/* ---- processes ---- */

static struct gproc *live(struct agent *a, uint32_t id)
{
	size_t i;

	for (i = 0; i < GI_PROC_MAX; i++)
		if (a->procs[i].used && !a->procs[i].exited && a->procs[i].id == id)
			return &a->procs[i];
	return NULL;
}

static void set_interest(struct agent *a, struct gproc *g, int fd, bool *reg, uint32_t ev,
			 uint64_t data)
{
	struct epoll_event e = { .events = ev, .data.u64 = data };

	/* Unregistered when idle: a hung-up pty or socket would report EPOLLHUP forever. */
	if (!ev) {
		if (*reg)
			epoll_ctl(a->ep, EPOLL_CTL_DEL, fd, NULL);
		*reg = false;
		return;
	}
	if (!epoll_ctl(a->ep, *reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &e))
		*reg = true;
	(void)g;
}

static void relay_interest(struct agent *a, struct gproc *g)
{
	size_t i = (size_t)(g - a->procs);
	uint32_t m = 0, s = 0;

	if (!g->master_eof) {
		if (g->to_sock_len < GI_RELAY_BUF)
			m |= EPOLLIN;
		if (g->to_pty_len || (g->veof_due && !g->veof_done))
			m |= EPOLLOUT;
	}
	if (!g->sock_dead) {
		if (!g->sock_eof && g->to_pty_len < GI_RELAY_BUF)
			s |= EPOLLIN;
		if (g->to_sock_len)
			s |= EPOLLOUT;
	}
	set_interest(a, g, g->master, &g->master_reg, m, EV(EV_MASTER, i));
	set_interest(a, g, g->sock, &g->sock_reg, s, EV(EV_SOCK, i));
}

static void shift(uint8_t *buf, size_t *len, size_t n)
{
	memmove(buf, buf + n, *len - n);
	*len -= n;
}

/* One pass of the relay both ways: each read or write at most a buffer's worth. */
static void relay_pump(struct agent *a, struct gproc *g)
{
	ssize_t n;

	if (!g->master_eof && g->to_sock_len < GI_RELAY_BUF) {
		n = read(g->master, g->to_sock + g->to_sock_len, GI_RELAY_BUF - g->to_sock_len);
		if (n > 0)
			g->to_sock_len += (size_t)n;
		else if (n == 0 || (errno != EAGAIN && errno != EINTR))
			g->master_eof = true; /* EIO: every slave descriptor is closed */
	}
	if (!g->sock_dead && g->to_sock_len) {
		n = send(g->sock, g->to_sock, g->to_sock_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0)
			shift(g->to_sock, &g->to_sock_len, (size_t)n);
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			g->sock_dead = true;
	}
	if (!g->sock_dead && !g->sock_eof && g->to_pty_len < GI_RELAY_BUF) {
		n = recv(g->sock, g->to_pty + g->to_pty_len, GI_RELAY_BUF - g->to_pty_len,
			 MSG_DONTWAIT);
		if (n > 0)
			g->to_pty_len += (size_t)n;
		else if (n == 0)
			g->sock_eof = g->veof_due = true; /* hull's input ended (SHUTDOWN SEND) */
		else if (errno != EAGAIN && errno != EINTR)
			g->sock_dead = true;
	}
	/* A tty's end of input is its VEOF character, after every byte of input before it. */
	if (g->veof_due && !g->veof_done && g->to_pty_len < GI_RELAY_BUF) {
		struct termios t;

		g->to_pty[g->to_pty_len++] = tcgetattr(g->master, &t) ? 4 : t.c_cc[VEOF];
		g->veof_done = true;
	}
	if (!g->master_eof && g->to_pty_len) {
		n = write(g->master, g->to_pty, g->to_pty_len);
		if (n > 0)
			shift(g->to_pty, &g->to_pty_len, (size_t)n);
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			g->to_pty_len = 0;
	}
	if (g->sock_dead)
		g->to_sock_len = 0; /* nobody reads it any more */
	relay_interest(a, g);
}

static void proc_release(struct agent *a, struct gproc *g)
{
	if (g->terminal) {
		g->master_eof = g->sock_dead = true;
		relay_interest(a, g);
		close(g->master);
		close(g->sock);
		free(g->to_sock);
		free(g->to_pty);
	}
	memset(g, 0, sizeof(*g));
}

/* Send EXITED once the process has exited and its tty output has reached hull (or timed out). */
static void finish(struct agent *a, struct gproc *g, int64_t now)
{
	struct ctr_msg_fields m = { .type = CTR_MSG_EXITED };

	if (!g->used || !g->exited)
		return;
	if (g->terminal && !(g->master_eof && !g->to_sock_len) && now < g->deadline)
		return;
	m.id = g->id;
	if (WIFSIGNALED(g->status)) {
		m.kind = 1;
		m.code = (uint32_t)WTERMSIG(g->status);
	} else {
		m.code = (uint32_t)WEXITSTATUS(g->status);
	}
	/* The tty stream ends (hull reads EOF) before EXITED says why. */
	proc_release(a, g);
	send_msg(a, &m);
}

static void reap(struct agent *a)
{
	struct signalfd_siginfo si;
	int64_t now = now_ms();
	size_t i;
	pid_t pid;
	int st;

	while (read(a->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
	/* PID 1 adopts every orphan of the guest: all of them are reaped here. */
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (i = 0; i < GI_PROC_MAX; i++) {
			struct gproc *g = &a->procs[i];

			if (!g->used || g->exited || g->pid != pid)
				continue;
			g->exited = true;
			g->status = st;
			g->deadline = now + GI_DRAIN_MS;
			/* The container ends with its process: what it left behind is killed. */
			if (g->id == 0)
				gi_cgroup_signal(a->cg, SIGKILL);
			if (g->terminal)
				relay_pump(a, g);
			finish(a, g, now);
			break;
		}
	}
}

/* A stream connection to hull for process id: 0 and the connected socket, or -errno. */
static int stream_open(uint32_t id, uint32_t stream)
{
	struct sockaddr_vm sa = {
		.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = CTR_PORT_STREAM };
	struct ctr_msg_fields m = { .type = CTR_MSG_STREAM, .id = id, .stream = stream };
	uint8_t *out;
	size_t len;
	int fd, r;

	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		r = -errno;
		goto fail;
	}
	r = ctr_msg_encode(&m, &out, &len);
	if (r)
		goto fail;
	r = gi_write_all(fd, out, len);
	free(out);
	if (r)
		goto fail;
	return fd;
fail:
	close(fd);
	return r;
}

static int open_pty(int *master, int *slave, char *name, size_t len)
{
	int r;

	/* The container's /dev/ptmx: its own devpts instance. */
	*master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*master < 0)
		return -errno;
	if (unlockpt(*master) || ptsname_r(*master, name, len)) {
		r = -errno;
		goto fail;
	}
	*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*slave < 0) {
		r = -errno;
		goto fail;
	}
	return 0;
fail:
	close(*master);
	return r;
}

static void spawn(struct agent *a, uint32_t seq, uint32_t id, const struct ctr_process *p)
{
	struct gi_stdio io = { { -1, -1, -1 }, p->terminal };
	struct gproc *g = NULL;
	int master = -1, slave = -1, tty = -1, r = 0;
	char err[256] = "", name[64];
	uint8_t *b1 = NULL, *b2 = NULL;
	size_t i;
	pid_t pid;

	if (live(a, id)) {
		reply_err(a, seq, EEXIST, "process %u is running already", id);
		return;
	}
	for (i = 0; i < GI_PROC_MAX && !g; i++)
		if (!a->procs[i].used)
			g = &a->procs[i];
	if (!g) {
		reply_err(a, seq, EAGAIN, "%d processes are running already", GI_PROC_MAX);
		return;
	}
	if (p->terminal) {
		b1 = malloc(GI_RELAY_BUF);
		b2 = malloc(GI_RELAY_BUF);
		r = b1 && b2 ? open_pty(&master, &slave, name, sizeof(name)) : -ENOMEM;
		if (r) {
			snprintf(err, sizeof(err), "open a pty: %s", strerror(-r));
			goto fail;
		}
		tty = stream_open(id, CTR_TTY);
		if (tty < 0) {
			r = tty;
			snprintf(err, sizeof(err), "tty stream: %s", strerror(-r));
			goto fail;
		}
		io.fd[0] = io.fd[1] = io.fd[2] = slave;
		/* The container's /dev/console is its process's terminal (as runc's console). */
		if (id == 0 && !a->spec->privileged && mount(name, "/dev/console", NULL, MS_BIND, NULL))
			gi_log("bind %s over /dev/console: %s", name, strerror(errno));
	} else {
		for (i = 0; i < 3; i++) {
			io.fd[i] = stream_open(id, (uint32_t)i);
			if (io.fd[i] < 0) {
				r = io.fd[i];
				snprintf(err, sizeof(err), "stream %zu: %s", i, strerror(-r));
				goto fail;
			}
		}
	}
	pid = gi_proc_spawn(p, &io, a->cg, a->spec, err, sizeof(err));
	if (pid < 0) {
		r = pid;
		goto fail;
	}
	/* The child has its stdio; hull-init keeps only the relay's ends. */
	if (slave >= 0)
		close(slave);
	for (i = 0; i < 3 && !p->terminal; i++)
		close(io.fd[i]);
	g->used = true;
	g->id = id;
	g->pid = pid;
	g->terminal = p->terminal;
	g->master = master;
	g->sock = tty;
	g->to_sock = b1;
	g->to_pty = b2;
	if (p->terminal) {
		fcntl(master, F_SETFL, O_NONBLOCK);
		fcntl(tty, F_SETFL, O_NONBLOCK);
		relay_interest(a, g);
	}
	reply_ok(a, seq, pid);
	return;
fail:
	if (slave >= 0)
		close(slave);
	if (master >= 0)
		close(master);
	if (tty >= 0)
		close(tty);
	for (i = 0; i < 3 && !p->terminal; i++)
		if (io.fd[i] >= 0)
			close(io.fd[i]);
	free(b1);
	free(b2);
	reply_err(a, seq, -r, "%s", err);
}

/* ---- requests ---- */

static void stdin_close(struct agent *a, struct gproc *g)
{
	/*
	 * A pipe's end of file is the stdin stream's SHUTDOWN; a tty's is its VEOF character,
	 * written once, whether this or the tty stream's SHUTDOWN (how hull ends a tty's input:
	 * in-band, after the input it carried) comes first. Input the stream brought goes first.
	 */
	if (!g->terminal)
		return;
	relay_pump(a, g);
	g->veof_due = true;
	relay_pump(a, g);
}

static void request(struct agent *a, const struct ctr_msg_fields *m)
{
	struct winsize ws;
	struct gproc *g;
	char err[256];
	int r;

	switch (m->type) {
	case CTR_MSG_START:
		if (a->started) {
			reply_err(a, m->seq, EBUSY, "the container's process was started already");
			return;
		}
		/* The interface hull adopted at start (docker's): up before the process. */
		r = m->has_netif ? gi_net_config(&m->netif, err, sizeof(err)) : 0;
		if (r) {
			reply_err(a, m->seq, -r, "%s", err);
			return;
		}
		spawn(a, m->seq, 0, &a->spec->process);
		a->started = live(a, 0) != NULL;
		return;
	case CTR_MSG_EXEC:
		if (!m->id || !m->has_process) {
			reply_err(a, m->seq, EINVAL, "EXEC needs a process id >= 1 and a process");
			return;
		}
		spawn(a, m->seq, m->id, &m->process);
		return;
	case CTR_MSG_SIGNAL:
		if (!m->signal || m->signal >= (uint32_t)NSIG) {
			reply_err(a, m->seq, EINVAL, "signal %u", m->signal);
			return;
		}
		if (m->all) {
			r = gi_cgroup_signal(a->cg, (int)m->signal);
		} else {
			g = live(a, m->id);
			r = !g ? -ESRCH : kill(g->pid, (int)m->signal) ? -errno : 0;
		}
		if (r)
			reply_err(a, m->seq, -r, "signal %u to %s %u: %s", m->signal,
				  m->all ? "the container of" : "process", m->id, strerror(-r));
		else
			reply_ok(a, m->seq, 0);
		return;
	case CTR_MSG_STDIN_CLOSE:
	case CTR_MSG_WINSIZE:
		g = live(a, m->id);
		if (!g) {
			reply_err(a, m->seq, ESRCH, "no running process %u", m->id);
			return;
		}
		if (m->type == CTR_MSG_STDIN_CLOSE) {
			stdin_close(a, g);
		} else {
			if (!g->terminal) {
				reply_err(a, m->seq, ENOTTY, "process %u has no terminal", m->id);
				return;
			}
			ws = (struct winsize){ .ws_row = (unsigned short)m->rows,
					       .ws_col = (unsigned short)m->cols };
			if (ioctl(g->master, TIOCSWINSZ, &ws)) {
				reply_err(a, m->seq, errno, "window size: %s", strerror(errno));
				return;
			}
		}
		reply_ok(a, m->seq, 0);
		return;
	case CTR_MSG_UPDATE:
		/* vCPUs onlined before the cpuset names them, offlined once it no longer does. */
		r = m->cpus ? gi_cpus_online(a->cg, m->cpus, true, err, sizeof(err)) : 0;
		if (!r)
			r = gi_cgroup_apply(a->cg, &m->resources, err, sizeof(err));
		if (!r && m->cpus)
			r = gi_cpus_online(a->cg, m->cpus, false, err, sizeof(err));
		if (r)
			reply_err(a, m->seq, -r, "%s", err);
		else
			reply_ok(a, m->seq, 0);
		return;
	default:
		reply_err(a, m->seq, EINVAL, "message type %u is not a request", m->type);
		return;
	}
}

static void frame(struct agent *a)
{
	struct ctr_msg_fields m;
	uint32_t seq;

	if (a->bad_hdr) {
		if (find_seq(a->payload, a->pgot, &seq))
			reply_err(a, seq, EPROTO, "frame version %u: this agent speaks %u",
				  (unsigned int)(a->hdr[6] | a->hdr[7] << 8), CTR_PROTO_VERSION);
		return;
	}
	memset(&m, 0, sizeof(m));
	if (ctr_msg_decode(a->type, a->payload, a->plen, &m)) {
		if (find_seq(a->payload, a->plen, &seq))
			reply_err(a, seq, EINVAL, "message type %u does not decode", a->type);
		ctr_msg_free(&m);
		return;
	}
	if (m.has_seq)
		request(a, &m);
	ctr_msg_free(&m);
}

/*
 * Read what the agent connection has: frames are dispatched as they complete.
 * A frame longer than CTR_FRAME_MAX is read and dropped without buffering.
 */
static void agent_read(struct agent *a)
{
	uint8_t sink[4096];
	size_t want;
	ssize_t n;
	uint32_t raw;

	for (;;) {
		if (!a->in_payload) {
			n = recv(a->fd, a->hdr + a->hlen, CTR_FRAME_HDR - a->hlen, MSG_DONTWAIT);
		} else {
			want = a->plen - a->pgot;
			if (a->plen > CTR_FRAME_MAX)
				n = recv(a->fd, sink, want < sizeof(sink) ? want : sizeof(sink),
					 MSG_DONTWAIT);
			else
				n = recv(a->fd, a->payload + a->pgot, want, MSG_DONTWAIT);
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			a->gone = true;
			return;
		}
		if (!a->in_payload) {
			a->hlen += (size_t)n;
			if (a->hlen < CTR_FRAME_HDR)
				continue;
			a->hlen = 0;
			raw = (uint32_t)a->hdr[0] | (uint32_t)a->hdr[1] << 8 |
			      (uint32_t)a->hdr[2] << 16 | (uint32_t)a->hdr[3] << 24;
			a->bad_hdr = ctr_frame_parse_hdr(a->hdr, &a->type, &a->plen) != 0;
			a->plen = raw;
			a->pgot = 0;
			a->in_payload = true;
		} else {
			a->pgot += (uint32_t)n;
		}
		if (a->in_payload && a->pgot == a->plen) {
			a->in_payload = false;
			if (a->plen <= CTR_FRAME_MAX)
				frame(a);
			else
				gi_log("dropped a frame of %u bytes (at most %u)", a->plen,
				       CTR_FRAME_MAX);
		}
	}
}

static int agent_connect(void)
{
	struct sockaddr_vm sa = {
		.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = CTR_PORT_AGENT };
	struct timespec nap = { 0, 100 * 1000 * 1000 };
	int fd, i, err = 0;

	/* hull listens before the guest starts; a few tries cover a transport still probing. */
	for (i = 0; i < GI_CONNECT_TRIES; i++) {
		fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return fd;
		err = errno;
		close(fd);
		nanosleep(&nap, NULL);
	}
	return -err;
}

static int next_timeout(struct agent *a)
{
	int64_t now = now_ms(), best = -1;
	size_t i;

	for (i = 0; i < GI_PROC_MAX; i++) {
		struct gproc *g = &a->procs[i];

		if (g->used && g->exited && g->terminal) {
			int64_t left = g->deadline > now ? g->deadline - now : 0;

			if (best < 0 || left < best)
				best = left;
		}
	}
	return (int)best;
}

static void event(struct agent *a, uint64_t data)
{
	uint32_t kind = (uint32_t)(data >> 32), i = (uint32_t)data;

	switch (kind) {
	case EV_AGENT:
		agent_read(a);
		return;
	case EV_CHILD:
		reap(a);
		return;
	case EV_MASTER:
	case EV_SOCK:
		if (i < GI_PROC_MAX && a->procs[i].used && a->procs[i].terminal) {
			relay_pump(a, &a->procs[i]);
			finish(a, &a->procs[i], now_ms());
		}
		return;
	}
}

int gi_agent_run(const struct ctr_spec *s, const struct gi_cgroup *cg,
		 const struct gi_hello *hello)
{
	struct ctr_msg_fields m = { .type = CTR_MSG_HELLO };
	struct epoll_event ev[16];
	struct agent *a;
	sigset_t chld;
	int n, i, r;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->spec = s;
	a->cg = cg;
	a->fd = a->ep = a->sigfd = -1;
	a->payload = malloc(CTR_FRAME_MAX);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	a->sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	a->ep = epoll_create1(EPOLL_CLOEXEC);
	if (!a->payload || a->sigfd < 0 || a->ep < 0) {
		r = -errno;
		gi_log("agent setup: %s", strerror(errno));
		goto out;
	}
	a->fd = agent_connect();
	if (a->fd < 0) {
		r = a->fd;
		gi_log("connect to hull (vsock CID 2 port %u): %s", CTR_PORT_AGENT, strerror(-r));
		goto out;
	}
	ev[0] = (struct epoll_event){ .events = EPOLLIN, .data.u64 = EV(EV_AGENT, 0) };
	ev[1] = (struct epoll_event){ .events = EPOLLIN, .data.u64 = EV(EV_CHILD, 0) };
	if (epoll_ctl(a->ep, EPOLL_CTL_ADD, a->fd, &ev[0]) ||
	    epoll_ctl(a->ep, EPOLL_CTL_ADD, a->sigfd, &ev[1])) {
		r = -errno;
		goto out;
	}
	m.cpus = hello->cpus;
	m.memory = hello->memory;
	m.release = (char *)(uintptr_t)hello->release;
	m.version = CTR_PROTO_VERSION;
	r = send_msg(a, &m);
	while (!r && !a->gone) {
		n = epoll_wait(a->ep, ev, 16, next_timeout(a));
		if (n < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		for (i = 0; i < n; i++)
			event(a, ev[i].data.u64);
		for (i = 0; i < GI_PROC_MAX; i++)
			finish(a, &a->procs[i], now_ms());
	}
	if (!r)
		gi_log("the agent connection to hull ended");
out:
	if (a->fd >= 0)
		close(a->fd);
	if (a->ep >= 0)
		close(a->ep);
	if (a->sigfd >= 0)
		close(a->sigfd);
	free(a->payload);
	free(a);
	return r;
}
