/* rtvmm: hull as an OCI runtime — the verbs that reach a container's VMM (create, start, exec...). */
#include "cli/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <limits.h>
#include <poll.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "container/hooks.h"
#include "container/oci.h"
#include "container/run.h"
#include "container/state.h"
#include "lib/file.h"
#include "lib/json.h"
#include "lib/log.h"
#include "vmm/ctlproto.h"
#include "vmm/vm.h"

#define RT_CTL_TIMEOUT_S 30 /* a VMM's loop answers at once; a dead one must not hang a verb */
#define RT_LOG_TAIL 4096    /* create that failed: the VMM's last messages shown */

/* Signals `hull run` and a foreground `hull exec` pass on to the container's process. */
static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

void rt_exit_as(int sig, int code)
{
	struct rlimit none = { 0, 0 };
	sigset_t set;

	if (sig > 0 && sig < NSIG) {
		fflush(NULL);
		setrlimit(RLIMIT_CORE, &none); /* the container dumped its core, not hull */
		signal(sig, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		raise(sig);
		code = 128 + sig; /* a signal whose default is not to end the process */
	}
	exit(code);
}

/* --- the control socket ------------------------------------------------------------------- */

/*
 * "/proc/self/fd/N/NAME" for a file of <root>/<id>/ held open as dirfd: a socket address of
 * at most ~40 bytes whatever the root's and the id's length (sun_path holds 107).
 */
static void fd_path(char *buf, size_t size, int dirfd, const char *name)
{
	snprintf(buf, size, "/proc/self/fd/%d/%s", dirfd, name);
}

static int state_dir(const char *root, const char *id)
{
	char dir[PATH_MAX];

	int fd;

	if (snprintf(dir, sizeof(dir), "%s/%s", root, id) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* A Unix stream connection to path (any length: via its directory's fd): the fd or -errno. */
static int dial_path(const char *path, int timeout_s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_s };
	char *dir = strdup(path), *slash, name[64];
	int fd = -1, dfd = -1, ret;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (strlen(path) < sizeof(sa.sun_path)) {
		memcpy(sa.sun_path, path, strlen(path) + 1);
	} else {
		if (!slash || strlen(slash + 1) >= 32) {
			ret = -ENAMETOOLONG;
			goto out;
		}
		*slash = '\0';
		dfd = open(*dir ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0) {
			ret = -errno;
			goto out;
		}
		fd_path(name, sizeof(name), dfd, slash + 1);
		memcpy(sa.sun_path, name, strlen(name) + 1);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (timeout_s) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	ret = connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) ? -errno : fd;
	if (ret < 0)
		close(fd);
out:
	if (dfd >= 0)
		close(dfd);
	free(dir);
	return ret;
}

/* The container's control socket: the fd, or -errno. */
static int dial_vmm(const char *root, const char *id, int timeout_s)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s/%s", root, id, CTR_CONTROL_FILE) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	return dial_path(path, timeout_s);
}

/* A connection to a VMM and the lines it sends. */
struct conn {
	int fd;
	struct ctl_reader *in;
};

static void conn_close(struct conn *k)
{
	if (k->fd >= 0)
		close(k->fd);
	free(k->in);
	k->fd = -1;
	k->in = NULL;
}

static int conn_open(struct conn *k, const char *root, const char *id, int timeout_s)
{
	k->in = malloc(sizeof(*k->in));
	k->fd = -1;
	if (!k->in)
		return -ENOMEM;
	ctl_reader_init(k->in);
	k->fd = dial_vmm(root, id, timeout_s);
	if (k->fd < 0) {
		int ret = k->fd;

		conn_close(k);
		return ret;
	}
	return 0;
}

/*
 * len bytes of buf (at least 1) with fds[0..nfds) (SCM_RIGHTS), in one message as runc sends
 * its console (a reader may take one message and hang up); the rest, if the socket took
 * less, after it. 0 or -errno.
 */
static int send_fds(int s, char *buf, size_t len, const int *fds, unsigned int nfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(CTL_FDS_MAX * sizeof(int))];
	} u;
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	ssize_t n;

	if (nfds > CTL_FDS_MAX)
		return -EINVAL;
	if (nfds) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		if (!cm)
			return -EINVAL;
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	do
		n = sendmsg(s, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	return ctl_send_all(s, buf + n, len - (size_t)n);
}

/* req, with fds (SCM_RIGHTS, on its first byte): 0 or -errno. */
static int conn_send(struct conn *k, const struct ctl_request *req, const int *fds,
		     unsigned int nfds)
{
	char *line = malloc(CTL_LINE_MAX);
	int len, ret;

	if (!line)
		return -ENOMEM;
	len = ctl_encode_request(req, line, CTL_LINE_MAX);
	ret = len < 0 ? -E2BIG : send_fds(k->fd, line, (size_t)len, fds, nfds);
	free(line);
	return ret;
}

/* The next line: 1 with *line (valid until the next call), 0 at end of file, -errno. */
static int conn_line(struct conn *k, const char **line, size_t *len)
{
	size_t room;
	ssize_t n;
	char *at;
	int ret;

	for (;;) {
		ret = ctl_reader_line(k->in, line, len);
		if (ret)
			return ret;
		at = ctl_reader_room(k->in, &room);
		n = recv(k->fd, at, room, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (n == 0)
			return 0;
		ctl_reader_commit(k->in, (size_t)n);
	}
}

/*
 * One request to the container's VMM and its reply: 0 (the reply line in rep, when given),
 * 1 for an error reply (its message in err), -errno when the VMM could not be asked (err
 * says why).
 */
static int call(const char *root, const char *id, const struct ctl_request *req, char *rep,
		size_t repsize, char *err, size_t errlen)
{
	struct conn k;
	const char *line;
	size_t len;
	int ret;

	ret = conn_open(&k, root, id, RT_CTL_TIMEOUT_S);
	if (ret) {
		snprintf(err, errlen, "container %s: its VMM's control socket: %s", id,
			 strerror(-ret));
		return ret;
	}
	ret = conn_send(&k, req, NULL, 0);
	if (!ret) {
		ret = conn_line(&k, &line, &len);
		ret = ret == 0 ? -ECONNRESET : ret < 0 ? ret : 0;
	}
	if (ret) {
		snprintf(err, errlen, "container %s: %s: %s", id, ctl_cmd_name(req->cmd),
			 strerror(-ret));
		goto out;
	}
	ret = ctl_parse_reply(line, len, err, errlen);
	if (!ret && rep)
		snprintf(rep, repsize, "%.*s", (int)len, line);
	if (ret < 0)
		snprintf(err, errlen, "container %s: %s: not a reply", id, ctl_cmd_name(req->cmd));
out:
	conn_close(&k);
	return ret;
}

const char *rt_root(const struct rt_cmd *c)
{
	return c->g.root ? c->g.root : CTR_STATE_ROOT;
}

void rt_refresh(const char *root, struct ctr_state *s)
{
	struct ctl_request req = { .cmd = CTL_STATE };
	char *rep, err[256], status[32];
	enum ctr_status st;
	int ret;

	ctr_state_refresh(s);
	/* No control socket recorded: not create's VMM; the file's word stands. */
	if (s->status == CTR_STOPPED || !s->control)
		return;
	rep = malloc(CTL_LINE_MAX);
	if (!rep)
		return;
	ret = call(root, s->id, &req, rep, CTL_LINE_MAX, err, sizeof(err));
	if (!ret)
		ret = ctl_reply_string(rep, strlen(rep), "container", status, sizeof(status));
	if (ret == -ENOENT || ret == -ECONNREFUSED || ret == -ECONNRESET) {
		/* Alive without its socket, or past its container: the VMM is on its way out. */
		s->status = CTR_STOPPED;
	} else if (!ret && !ctr_status_parse(status, &st)) {
		s->status = st;
	} else {
		log_debug("container %s: its VMM's state: %s", s->id,
			  ret > 0 ? err : strerror(ret < 0 ? -ret : EINVAL));
	}
	free(rep);
}

/* The container's state (refreshed, as the VMM says): 0, or 1 with the error logged. */
static int load(const struct rt_cmd *c, struct ctr_state *s)
{
	char err[512];

	if (ctr_state_read(rt_root(c), c->id, s, err, sizeof(err))) {
		ctr_state_free(s);
		log_msg("%s", err);
		return 1;
	}
	rt_refresh(rt_root(c), s);
	return 0;
}

/* One plain command to a container whose status is one of want (else runc's message). */
static int simple(const struct rt_cmd *c, struct ctl_request *req, unsigned int want,
		  const char *not_so, char *rep, size_t repsize)
{
	struct ctr_state s;
	char err[512];
	int ret;

	if (load(c, &s))
		return 1;
	ret = !(want & (1u << s.status));
	ctr_state_free(&s);
	if (ret) {
		log_msg("%s", not_so);
		return 1;
	}
	ret = call(rt_root(c), c->id, req, rep, repsize, err, sizeof(err));
	if (ret)
		log_msg("%s", err);
	return ret ? 1 : 0;
}

#define ST(x) (1u << (x))

int rt_kill(struct rt_cmd *c)
{
	struct ctl_request req = { .cmd = CTL_KILL, .signal = c->signal, .all = c->all };

	return simple(c, &req, ST(CTR_CREATED) | ST(CTR_RUNNING) | ST(CTR_PAUSED),
		      "container not running", NULL, 0);
}

int rt_pause(struct rt_cmd *c, bool pause)
{
	struct ctl_request req = { .cmd = pause ? CTL_PAUSE : CTL_RESUME };

	if (pause)
		return simple(c, &req, ST(CTR_RUNNING), "container not running", NULL, 0);
	return simple(c, &req, ST(CTR_PAUSED), "container not paused", NULL, 0);
}

int rt_ps(struct rt_cmd *c)
{
	struct ctl_request req = { .cmd = CTL_PS };
	struct json_object *o = NULL, *pids;
	char *rep = malloc(CTL_LINE_MAX), err[128], comm[64], path[64];
	size_t i, n;
	int ret = 1;

	if (!rep) {
		log_msg("ps: %s", strerror(ENOMEM));
		return 1;
	}
	if (simple(c, &req, ST(CTR_CREATED) | ST(CTR_RUNNING) | ST(CTR_PAUSED),
		   "container not running", rep, CTL_LINE_MAX))
		goto out;
	if (json_parse_strict(rep, strlen(rep), CTL_LINE_MAX, &o, err, sizeof(err)) ||
	    !json_object_object_get_ex(o, "pids", &pids) ||
	    !json_object_is_type(pids, json_type_array)) {
		log_msg("ps: the VMM's reply has no pids");
		goto out;
	}
	n = json_object_array_length(pids);
	if (!strcmp(c->format, "json")) {
		printf("%s\n", json_object_to_json_string_ext(pids, JSON_C_TO_STRING_PLAIN));
	} else {
		/* runc runs ps(1) on them; the PID and command name are what a VMM has. */
		printf("PID     CMD\n");
		for (i = 0; i < n; i++) {
			int pid = json_object_get_int(json_object_array_get_idx(pids, i));
			uint8_t *text = NULL;
			size_t len = 0;

			snprintf(path, sizeof(path), "/proc/%d/comm", pid);
			snprintf(comm, sizeof(comm), "?");
			if (!file_read_all(path, sizeof(comm) - 1, &text, &len) && len)
				snprintf(comm, sizeof(comm), "%.*s", (int)len - 1, (char *)text);
			free(text);
			printf("%-7d %s\n", pid, comm);
		}
	}
	ret = 0;
out:
	json_object_put(o);
	free(rep);
	return ret;
}

/* --- create -------------------------------------------------------------------------------- */

/* Write pid to path as runc does: the number alone, through a temporary file and a rename. */
static int write_pid_file(const char *path, pid_t pid)
{
	char tmp[PATH_MAX], text[24];
	int fd, n, ret = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.hull-tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	n = snprintf(text, sizeof(text), "%d", (int)pid);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, (size_t)n) != n)
		ret = -EIO;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

/* Send fd over the Unix socket at path (runc's --console-socket): 0 or -errno. */
static int send_console(const char *path, int fd)
{
	char name[] = "/dev/ptmx";
	int s = dial_path(path, RT_CTL_TIMEOUT_S), ret;

	if (s < 0)
		return s;
	ret = send_fds(s, name, sizeof(name) - 1, &fd, 1);
	close(s);
	return ret;
}

/*
 * A pty whose master goes to the console socket; the slave, made this session's controlling
 * terminal (its window-size changes are SIGWINCH here), in *slave. 0 or -errno (logged).
 */
static int console_pty(const char *socket_path, int *slave)
{
	int master, ret;

	if (openpty(&master, slave, NULL, NULL, NULL)) {
		ret = -errno;
		log_msg("console: a pty: %s", strerror(-ret));
		return ret;
	}
	ret = send_console(socket_path, master);
	close(master);
	if (ret) {
		log_msg("console socket %s: %s", socket_path, strerror(-ret));
		close(*slave);
		return ret;
	}
	if (ioctl(*slave, TIOCSCTTY, 0))
		log_debug("console: the pty as controlling terminal: %s", strerror(errno));
	return 0;
}

/* The VMM: the child of create, its own session; never returns. */
static void vmm_main(const struct rt_cmd *c, int dirfd, int ready_fd, struct ctr_bundle *b,
		     bool own_netns)
{
	struct ctr_rt rt = { .ready_fd = ready_fd };
	struct ctr_run_args a = { .bundle = b->dir, .loaded = b, .id = c->id, .rt = &rt };
	struct vm_config cfg;
	struct vm_epoch epoch;
	char path[64];
	int status, slave, i;
	sigset_t none;

	clock_gettime(CLOCK_MONOTONIC, &epoch.wall);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &epoch.cpu);
	setsid();
	/* run blocked what it forwards: the VM takes the signals it wants itself. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/*
	 * Its messages never go to the container's stdio: to --log, else to <root>/<id>/vmm.log
	 * (create shows its tail when the VM did not start). Reopening drops create's stderr.
	 */
	fd_path(path, sizeof(path), dirfd, CTR_VMM_LOG);
	if (log_open(c->g.log ? c->g.log : path, c->g.log_json ? LOG_JSON : LOG_TEXT))
		log_open(NULL, LOG_TEXT);
	/*
	 * No network namespace path: the VMM gets a network namespace of its own, and the VM a
	 * network device bridged there (container/netns.h). The state's pid is what hooks take
	 * the container's namespace from (docker's prestart hook wires its bridge into
	 * /proc/PID/ns/net): never the host's. start hands what they put there to the guest.
	 */
	if (own_netns && unshare(CLONE_NEWNET))
		log_debug("create %s: a network namespace of its own: %s (the VM gets no network "
			  "device)", c->id, strerror(errno));
	else
		rt.own_netns = own_netns;
	if (c->console_socket) {
		if (console_pty(c->console_socket, &slave))
			_exit(1);
		/* The terminal is its stdio: create's stdout and stderr are not kept. */
		for (i = 0; i < 3; i++)
			dup2(slave, i);
		if (slave > 2)
			close(slave);
	}
	config_init(&cfg);
	fd_path(path, sizeof(path), dirfd, CTR_CONTROL_FILE);
	cfg.api_sock = strdup(path);
	status = cfg.api_sock ? ctr_run_main(&cfg, &a, &epoch) : VM_EXIT_ERROR;
	config_free(&cfg);
	log_close();
	if (rt.ended)
		rt_exit_as(rt.signal, rt.code);
	_exit(status);
}

/* The VMM's last messages (vmm.log, when it logged there), each as one of create's. */
static void show_vmm_log(int dirfd)
{
	char path[64], *text, *line, *nl;
	uint8_t *buf = NULL;
	size_t len = 0;

	fd_path(path, sizeof(path), dirfd, CTR_VMM_LOG);
	if (file_read_all(path, 1u << 20, &buf, &len) || !len) {
		free(buf);
		return;
	}
	text = (char *)buf;
	text[len - 1] = '\0';
	line = len > RT_LOG_TAIL ? strchr(text + len - RT_LOG_TAIL, '\n') : text;
	while (line && *line) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (*line)
			log_msg("%s", !strncmp(line, "hull: ", 6) ? line + 6 : line);
		line = nl ? nl + 1 : NULL;
	}
	free(buf);
}

static struct json_object *annotations_json(const struct ctr_bundle *b)
{
	struct json_object *o;
	unsigned int i;

	if (!b->nannotations)
		return NULL;
	o = json_object_new_object();
	for (i = 0; o && i < b->nannotations; i++)
		json_object_object_add(o, b->annotations[i].key,
				       json_object_new_string(b->annotations[i].value));
	return o;
}

/* --- hooks ---------------------------------------------------------------------------------- */

/* The hooks kept at create: 0 (none when there is no file), or 1 with the error logged. */
static int hooks_load(const char *root, const char *id, struct ctr_hooks *h)
{
	char path[PATH_MAX], err[512];
	char *text = NULL;
	size_t len = 0;
	int ret;

	*h = (struct ctr_hooks){ 0 };
	snprintf(path, sizeof(path), "%s/%s/%s", root, id, CTR_HOOKS_FILE);
	ret = file_read_text(path, CTR_STATE_MAX, &text, &len);
	if (ret == -ENOENT)
		return 0;
	if (!ret)
		ret = ctr_hooks_parse(text, len, h, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "%s", file_strerror(ret));
	free(text);
	if (ret) {
		log_msg("container %s: %s: %s", id, path, err);
		ctr_hooks_free(h);
		return 1;
	}
	return 0;
}

/* Keep the bundle's hooks (checked text) in the state directory: 0, or -errno. */
static int hooks_keep(int dirfd, const char *text)
{
	size_t len = strlen(text), off = 0;
	ssize_t n;
	int fd, ret = 0;

	fd = openat(dirfd, CTR_HOOKS_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (off < len) {
		n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	if (close(fd) && !ret)
		ret = -errno;
	return ret;
}

/*
 * Run the hooks of kind k with the state JSON that `state` prints, its status st (the spec's
 * for that point): 0, or the first failure's -errno with its cause in err (see ctr_hooks_run).
 */
static int run_hooks(const struct ctr_hooks *h, enum ctr_hook_kind k, const struct ctr_state *s,
		     enum ctr_status st, bool all, char *err, size_t errlen)
{
	struct ctr_state t = *s;
	struct json_object *o;
	const char *text;
	int ret;

	if (!h->n[k])
		return 0;
	t.status = st;
	o = ctr_state_json(&t);
	text = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE)
		 : NULL;
	if (!text) {
		snprintf(err, errlen, "%s hooks: %s", ctr_hook_name(k), strerror(ENOMEM));
		json_object_put(o);
		return -ENOMEM;
	}
	ret = ctr_hooks_run(h, k, text, strlen(text), all, err, errlen);
	json_object_put(o);
	return ret;
}

void rt_poststop(const char *root, const struct ctr_state *s)
{
	struct ctr_hooks h;
	char err[512];

	if (hooks_load(root, s->id, &h))
		return;
	/* Each failure is logged as a warning by ctr_hooks_run: delete goes on. */
	run_hooks(&h, CTR_HOOK_POSTSTOP, s, CTR_STOPPED, true, err, sizeof(err));
	ctr_hooks_free(&h);
}

/*
 * A create that fails after its VMM exists: the VMM killed and reaped (it is still create's
 * child), then the poststop hooks, as the spec's lifecycle goes on at delete.
 */
static void create_undo(const char *root, const struct ctr_state *s, bool hooks_begun)
{
	struct ctr_state t = *s;
	int st;

	kill(s->pid, SIGKILL);
	waitpid(s->pid, &st, 0);
	if (hooks_begun && s->pid_start) {
		t.status = CTR_STOPPED;
		rt_poststop(root, &t);
	}
}

/* create, and for run the VMM's pid: 0, or 1 with the error logged. */
static int create(struct rt_cmd *c, pid_t *vmm)
{
	const char *root = rt_root(c), *bundle = c->bundle ? c->bundle : ".";
	struct ctr_state s = { 0 };
	struct ctr_hooks hooks = { 0 };
	struct ctr_bundle b;
	char err[768], ctl[PATH_MAX], id[CTR_ID_MAX + 1], owner[1] = "", byte;
	int lockfd = -1, dirfd = -1, p[2] = { -1, -1 }, ret = 1, st;
	enum ctr_hook_kind k;
	ssize_t n;
	pid_t pid;

	/* The bundle checked here first, so that its errors are create's own. */
	if (ctr_oci_load(bundle, &b, err, sizeof(err))) {
		log_msg("bundle %s: %s", bundle, err);
		return 1;
	}
	if (b.process.terminal && !c->console_socket && c->verb == RT_CREATE) {
		log_msg("cannot allocate tty if runc will detach without setting console socket");
		goto out;
	}
	if (!b.process.terminal && c->console_socket) {
		log_msg("cannot use console socket if runc will not detach or allocate tty");
		goto out;
	}
	if (ctr_state_create(root, c->id, &lockfd, err, sizeof(err))) {
		log_msg("%s", err);
		goto out;
	}
	dirfd = state_dir(root, c->id);
	if (dirfd < 0 || pipe2(p, O_CLOEXEC)) {
		log_msg("create %s: %s", c->id, strerror(dirfd < 0 ? -dirfd : errno));
		goto fail;
	}
	/* The hooks (checked by ctr_oci_load) kept for start and delete. */
	if (b.hooks) {
		int r = ctr_hooks_parse(b.hooks, strlen(b.hooks), &hooks, err, sizeof(err));

		if (r || (r = hooks_keep(dirfd, b.hooks))) {
			log_msg("create %s: hooks: %s", c->id, r == -EINVAL ? err : strerror(-r));
			goto fail;
		}
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		log_msg("create %s: fork: %s", c->id, strerror(errno));
		goto fail;
	}
	if (pid == 0) {
		close(p[0]);
		close(lockfd); /* the lock is create's until it returns */
		vmm_main(c, dirfd, p[1], &b, !b.netns);
	}
	close(p[1]);
	p[1] = -1;
	do
		n = read(p[0], &byte, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1) {
		waitpid(pid, &st, 0);
		if (!c->g.log)
			show_vmm_log(dirfd);
		log_msg("create %s: the container's VM did not start (%s %d)", c->id,
			WIFSIGNALED(st) ? "killed by signal" : "exit status",
			WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		goto fail;
	}
	snprintf(ctl, sizeof(ctl), "%s/%s/%s", root, c->id, CTR_CONTROL_FILE);
	s.oci_version = b.oci_version;
	snprintf(id, sizeof(id), "%s", c->id);
	s.id = id;
	s.pid = pid;
	s.status = CTR_CREATED;
	s.bundle = b.dir;
	s.rootfs = b.root;
	ctr_state_time(s.created, sizeof(s.created));
	s.owner = owner;
	s.annotations = annotations_json(&b);
	s.control = ctl;
	if (ctr_proc_start(pid, &s.pid_start) ||
	    ctr_state_write(root, &s, err, sizeof(err))) {
		log_msg("create %s: %s", c->id, s.pid_start ? err : "the VMM ended");
		create_undo(root, &s, false);
		goto fail;
	}
	/*
	 * The VMM exists (its pid is the state's): prestart and createRuntime, then
	 * createContainer, all on the host (the container's namespaces are the guest's, inside
	 * the VM: nothing of them exists on the host to run a hook in). One failing fails create.
	 */
	for (k = CTR_HOOK_PRESTART; k <= CTR_HOOK_CREATE_CONTAINER; k++) {
		if (run_hooks(&hooks, k, &s, CTR_CREATING, false, err, sizeof(err))) {
			log_msg("create %s: %s", c->id, err);
			create_undo(root, &s, true);
			goto fail;
		}
	}
	if (c->pid_file && (ret = write_pid_file(c->pid_file, pid))) {
		log_msg("create %s: --pid-file %s: %s", c->id, c->pid_file, strerror(-ret));
		create_undo(root, &s, true);
		ret = 1;
		goto fail;
	}
	*vmm = pid;
	ret = 0;
	goto out;
fail:
	ctr_state_remove(root, c->id, err, sizeof(err));
out:
	json_object_put(s.annotations);
	ctr_hooks_free(&hooks);
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	if (dirfd >= 0)
		close(dirfd);
	if (lockfd >= 0)
		ctr_state_unlock(lockfd);
	ctr_bundle_free(&b);
	return ret;
}

int rt_create(struct rt_cmd *c)
{
	pid_t pid;

	return create(c, &pid);
}

/* start, the lock held by the caller or not: 0, or 1 with the error logged. */
static int start(struct rt_cmd *c)
{
	struct ctl_request req = { .cmd = CTL_START };
	struct ctr_hooks hooks = { 0 };
	struct ctr_state s;
	char err[512];
	int lockfd, ret;

	if (ctr_state_lock(rt_root(c), c->id, &lockfd, err, sizeof(err))) {
		log_msg("%s", err);
		return 1;
	}
	ret = 1;
	if (load(c, &s))
		goto out;
	if (s.status != CTR_CREATED) {
		log_msg(s.status == CTR_STOPPED ? "cannot start a container that has stopped"
						: "cannot start an already running container");
		goto out_state;
	}
	if (hooks_load(rt_root(c), c->id, &hooks))
		goto out_state;
	/* startContainer on the host (see create): a failure stops the container, as the spec. */
	if (run_hooks(&hooks, CTR_HOOK_START_CONTAINER, &s, CTR_CREATED, false, err,
		      sizeof(err))) {
		log_msg("start %s: %s", c->id, err);
		kill(s.pid, SIGKILL);
		goto out_state;
	}
	ret = call(rt_root(c), c->id, &req, NULL, 0, err, sizeof(err));
	if (ret) {
		log_msg("%s", err);
		ret = 1;
		goto out_state;
	}
	/* state asks the VMM; the file says it too, for a reader that cannot. */
	s.status = CTR_RUNNING;
	if (ctr_state_write(rt_root(c), &s, err, sizeof(err)))
		log_debug("%s", err);
	/* poststart: a failure is a warning (logged by ctr_hooks_run), the start stands. */
	run_hooks(&hooks, CTR_HOOK_POSTSTART, &s, CTR_RUNNING, true, err, sizeof(err));
	ret = 0;
out_state:
	ctr_hooks_free(&hooks);
	ctr_state_free(&s);
out:
	ctr_state_unlock(lockfd);
	return ret;
}

int rt_start(struct rt_cmd *c)
{
	return start(c);
}

/* --- run ------------------------------------------------------------------------------------ */

/* Block the forwarded signals (and SIGCHLD, SIGWINCH): a signalfd for them, or -errno. */
static int signal_fd(bool winch)
{
	unsigned int i;
	sigset_t set;
	int fd;

	sigemptyset(&set);
	for (i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	sigaddset(&set, SIGCHLD);
	if (winch)
		sigaddset(&set, SIGWINCH);
	sigprocmask(SIG_BLOCK, &set, NULL);
	fd = signalfd(-1, &set, SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Wait for the child pid, passing the signals signal_fd took on to target: its wait status. */
static int wait_forwarding(pid_t pid, int sfd, pid_t target)
{
	struct signalfd_siginfo si;
	int st;

	for (;;) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
			continue;
		/* SIGWINCH too: a VMM or relay on our terminal reads its new size. */
		if (si.ssi_signo != SIGCHLD)
			kill(target, (int)si.ssi_signo);
	}
}

/* run's end (the VMM reaped): the poststop hooks of container id, from its state. */
static void poststop_of(const char *root, const char *id)
{
	struct ctr_state s;
	char err[512];

	if (!ctr_state_read(root, id, &s, err, sizeof(err))) {
		s.status = CTR_STOPPED;
		rt_poststop(root, &s);
	}
	ctr_state_free(&s);
}

int rt_run(struct rt_cmd *c)
{
	char err[512];
	pid_t pid;
	int st, sfd;

	sfd = signal_fd(true);
	if (sfd < 0) {
		log_msg("run: signalfd: %s", strerror(-sfd));
		return 1;
	}
	if (create(c, &pid))
		return 1;
	if (start(c)) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		poststop_of(rt_root(c), c->id);
		ctr_state_remove(rt_root(c), c->id, err, sizeof(err));
		return 1;
	}
	if (c->detach)
		return 0;
	/* The VMM forwards to the container what it is sent, as `hull run` does. */
	st = wait_forwarding(pid, sfd, pid);
	close(sfd);
	if (!c->keep) {
		poststop_of(rt_root(c), c->id);
		if (ctr_state_remove(rt_root(c), c->id, err, sizeof(err)))
			log_msg("%s", err);
	}
	if (WIFSIGNALED(st))
		rt_exit_as(WTERMSIG(st), 0);
	return WEXITSTATUS(st);
}

/* --- exec ----------------------------------------------------------------------------------- */

/* "UID[:GID]" into process.user (numeric only: the names are the container's). */
static int set_user(struct json_object *proc, const char *spec)
{
	struct json_object *u;
	unsigned long uid, gid = 0;
	char *end;

	uid = strtoul(spec, &end, 10);
	if (end == spec || (*end && *end != ':'))
		return -EINVAL;
	if (*end == ':') {
		gid = strtoul(end + 1, &end, 10);
		if (*end)
			return -EINVAL;
	}
	if (uid > UINT32_MAX - 1 || gid > UINT32_MAX - 1)
		return -EINVAL;
	if (!json_object_object_get_ex(proc, "user", &u) ||
	    !json_object_is_type(u, json_type_object)) {
		u = json_object_new_object();
		json_object_object_add(proc, "user", u);
	}
	json_object_object_add(u, "uid", json_object_new_int64((int64_t)uid));
	json_object_object_add(u, "gid", json_object_new_int64((int64_t)gid));
	return 0;
}

/* Append v[0..n) to the array obj.key (made when missing), as strings or as integers. */
static void append(struct json_object *obj, const char *key, const char *const *v,
		   unsigned int n, bool ints)
{
	struct json_object *a;
	unsigned int i;

	if (!n)
		return;
	if (!json_object_object_get_ex(obj, key, &a) || !json_object_is_type(a, json_type_array)) {
		a = json_object_new_array();
		json_object_object_add(obj, key, a);
	}
	for (i = 0; i < n; i++)
		json_object_array_add(a, ints ? json_object_new_int64(strtoll(v[i], NULL, 10))
					      : json_object_new_string(v[i]));
}

/*
 * The exec'd process as JSON text (malloc'd): --process FILE's, or, as runc does for
 * `exec ID CMD ARG...`, the container's own process with the flags over it.
 */
static char *exec_process(const struct rt_cmd *c, const struct ctr_state *s)
{
	static const char *const sets[] = { "bounding", "effective", "permitted" };
	struct json_object *cfg = NULL, *proc, *caps;
	char path[PATH_MAX], err[256], *text = NULL;
	uint8_t *buf = NULL;
	unsigned int i;
	size_t len;
	int ret;

	if (c->process) {
		ret = file_read_all(c->process, CTL_LINE_MAX - 64, &buf, &len);
		if (ret) {
			log_msg("exec: --process %s: %s", c->process,
				ret == -EFBIG ? "too large" : file_strerror(ret));
			return NULL;
		}
		ret = json_parse_strict((char *)buf, len, CTL_LINE_MAX, &cfg, err, sizeof(err));
		if (ret || !json_object_is_type(cfg, json_type_object)) {
			log_msg("exec: --process %s: %s", c->process, ret ? err : "not an object");
			goto out;
		}
		proc = cfg;
	} else {
		snprintf(path, sizeof(path), "%s/config.json", s->bundle);
		ret = file_read_all(path, CTR_CONFIG_MAX, &buf, &len);
		if (!ret)
			ret = json_parse_strict((char *)buf, len, CTR_CONFIG_MAX, &cfg, err,
						sizeof(err)) ? -EINVAL : 0;
		if (ret || !json_object_object_get_ex(cfg, "process", &proc) ||
		    !json_object_is_type(proc, json_type_object)) {
			log_msg("exec: the container's %s: no process in it", path);
			goto out;
		}
		json_object_object_add(proc, "args", json_object_new_array());
		append(proc, "args", c->args, c->nargs, false);
		json_object_object_add(proc, "terminal", json_object_new_boolean(c->tty));
		if (c->cwd)
			json_object_object_add(proc, "cwd", json_object_new_string(c->cwd));
		append(proc, "env", c->env, c->nenv, false);
		if (c->user && set_user(proc, c->user)) {
			log_msg("exec: --user %s: expected UID[:GID], numbers", c->user);
			goto out;
		}
		if (c->ngids && json_object_object_get_ex(proc, "user", &caps))
			append(caps, "additionalGids", c->gids, c->ngids, true);
		if (c->ncaps) {
			if (!json_object_object_get_ex(proc, "capabilities", &caps)) {
				caps = json_object_new_object();
				json_object_object_add(proc, "capabilities", caps);
			}
			for (i = 0; i < 3; i++)
				append(caps, sets[i], c->caps, c->ncaps, false);
		}
		if (c->no_new_privs)
			json_object_object_add(proc, "noNewPrivileges", json_object_new_boolean(1));
	}
	text = strdup(json_object_to_json_string_ext(proc, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
	if (text && strlen(text) > CTL_LINE_MAX - 64) {
		log_msg("exec: the process is more than %d bytes of JSON", CTL_LINE_MAX - 64);
		free(text);
		text = NULL;
	}
out:
	json_object_put(cfg);
	free(buf);
	return text;
}

/* The terminal's size (of fd) to exec id's process. */
static void send_size(const struct rt_cmd *c, int fd, uint32_t id)
{
	struct ctl_request req = { .cmd = CTL_RESIZE, .id = id };
	struct winsize w;
	char err[256];

	if (fd < 0 || ioctl(fd, TIOCGWINSZ, &w))
		return;
	req.rows = w.ws_row;
	req.cols = w.ws_col;
	/* A connection of its own: the exec's is the VMM's to answer on (control_ops.mode). */
	if (call(rt_root(c), c->id, &req, NULL, 0, err, sizeof(err)))
		log_debug("exec: resize: %s", err);
}
/*
 * The relay: a process of its own session that hands its stdio (or a pty whose master went
 * to the console socket) to the VMM, tells create's parent (ready) once the process runs,
 * passes on signals and window sizes, and ends as the exec'd process did. Never returns.
 */
static void relay_main(const struct rt_cmd *c, char *process, bool tty, int ready)
{
	struct ctl_request req = { .cmd = CTL_EXEC, .process = process };
	struct signalfd_siginfo si;
	struct pollfd pf[2];
	struct conn k;
	const char *line;
	int fds[3] = { 0, 1, 2 }, nfds = 3, term = -1, sfd, ret;
	int64_t v;
	size_t len;
	uint32_t id = 0;
	char err[512];

	setsid();
	if (c->console_socket) {
		if (console_pty(c->console_socket, &term))
			_exit(255);
		fds[0] = term;
		nfds = 1;
	} else if (tty) {
		term = 0; /* hull exec -t on a terminal: that terminal, both ways */
		nfds = 1;
	}
	sfd = signal_fd(tty);
	ret = conn_open(&k, rt_root(c), c->id, 0);
	if (!ret)
		ret = conn_send(&k, &req, fds, (unsigned int)nfds);
	if (ret) {
		log_msg("exec: container %s: %s", c->id, strerror(-ret));
		_exit(255);
	}
	/*
	 * Detached, only the VMM holds the shim's pipes now (the shim waits for their end); the
	 * relay's messages go to --log or nowhere.
	 */
	if (c->detach) {
		ret = open("/dev/null", O_RDWR | O_CLOEXEC);
		for (nfds = 0; ret >= 0 && nfds < 3; nfds++)
			dup2(ret, nfds);
		if (ret > 2)
			close(ret);
		log_open(c->g.log, c->g.log_json ? LOG_JSON : LOG_TEXT);
	}
	for (;;) {
		ret = conn_line(&k, &line, &len);
		if (ret <= 0) {
			log_msg("exec: container %s: the VMM %s", c->id,
				ret ? strerror(-ret) : "went away");
			_exit(255);
		}
		if (ctl_parse_reply(line, len, err, sizeof(err))) {
			/* Before it runs: it did not start. After: a kill or resize that failed. */
			if (!id) {
				log_msg("exec: %s", err);
				_exit(255);
			}
			log_debug("exec: %s", err);
			continue;
		}
		if (!ctl_reply_int(line, len, "exit", 0, 255, &v))
			rt_exit_as(0, (int)v);
		if (!ctl_reply_int(line, len, "signal", 1, 64, &v))
			rt_exit_as((int)v, 0);
		if (!id && !ctl_reply_int(line, len, "id", 1, UINT32_MAX, &v)) {
			id = (uint32_t)v;
			if (ready >= 0) {
				if (write(ready, "1", 1) != 1)
					log_debug("exec: hull exec has gone");
				close(ready);
				ready = -1;
			}
			if (term >= 0)
				send_size(c, term, id);
		}
		/* Nothing else comes on this connection. Wait for its end, or a signal. */
		if (ctl_reader_pending(k.in))
			continue;
		pf[0] = (struct pollfd){ .fd = k.fd, .events = POLLIN };
		pf[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		while (poll(pf, sfd >= 0 ? 2 : 1, -1) >= 0 && !(pf[0].revents)) {
			if (!(pf[1].revents & POLLIN) || read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGWINCH) {
				send_size(c, term, id);
			} else if (si.ssi_signo != SIGCHLD && id) {
				struct ctl_request kr = { .cmd = CTL_KILL, .id = id,
							  .signal = (int)si.ssi_signo };

				if (call(rt_root(c), c->id, &kr, NULL, 0, err, sizeof(err)))
					log_debug("exec: kill: %s", err);
			}
		}
	}
}

int rt_exec(struct rt_cmd *c)
{
	struct ctr_state s;
	char *process, byte;
	int p[2], st, sfd = -1, ret = 1;
	bool tty;
	ssize_t n;
	pid_t pid;

	if (load(c, &s))
		return 1;
	if (s.status != CTR_RUNNING) {
		log_msg(s.status == CTR_STOPPED ? "cannot exec in a stopped container"
						: "cannot exec in a container that is not running "
						  "(%s)", ctr_status_name(s.status));
		ctr_state_free(&s);
		return 1;
	}
	process = exec_process(c, &s);
	ctr_state_free(&s);
	if (!process)
		return 1;
	tty = c->tty || strstr(process, "\"terminal\":true");
	if (tty && !c->console_socket && c->detach) {
		log_msg("cannot allocate tty if runc will detach without setting console socket");
		goto out;
	}
	if (!tty && c->console_socket) {
		log_msg("cannot use console socket if runc will not detach or allocate tty");
		goto out;
	}
	if (!c->detach && (sfd = signal_fd(true)) < 0) {
		log_msg("exec: signalfd: %s", strerror(-sfd));
		goto out;
	}
	if (pipe2(p, O_CLOEXEC)) {
		log_msg("exec: pipe: %s", strerror(errno));
		goto out;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		log_msg("exec: fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		goto out;
	}
	if (pid == 0) {
		close(p[0]);
		relay_main(c, process, tty, p[1]);
	}
	close(p[1]);
	do
		n = read(p[0], &byte, 1);
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n != 1) {
		waitpid(pid, &st, 0); /* it said why */
		goto out;
	}
	if (c->pid_file && (ret = write_pid_file(c->pid_file, pid))) {
		log_msg("exec: --pid-file %s: %s", c->pid_file, strerror(-ret));
		kill(pid, SIGKILL);
		ret = 1;
		goto out;
	}
	ret = 0;
	if (c->detach)
		goto out;
	st = wait_forwarding(pid, sfd, pid);
	if (WIFSIGNALED(st))
		rt_exit_as(WTERMSIG(st), 0);
	ret = WEXITSTATUS(st);
out:
	if (sfd >= 0)
		close(sfd);
	free(process);
	return ret;
}

/* --- update --------------------------------------------------------------------------------- */

static struct json_object *member(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_object))
		return v;
	v = json_object_new_object();
	json_object_object_add(o, key, v);
	return v;
}

/* The update's fields (flags, or --resources) into res, an OCI linux.resources object. */
static void put_update(struct json_object *res, const struct rt_resources *r)
{
	struct json_object *m, *cpu;

	if (r->has_memory || r->has_memory_reservation || r->has_memory_swap) {
		m = member(res, "memory");
		if (r->has_memory)
			json_object_object_add(m, "limit", json_object_new_int64(r->memory));
		if (r->has_memory_reservation)
			json_object_object_add(m, "reservation",
					       json_object_new_int64(r->memory_reservation));
		if (r->has_memory_swap)
			json_object_object_add(m, "swap", json_object_new_int64(r->memory_swap));
	}
	if (r->has_cpu_shares || r->has_cpu_quota || r->has_cpu_period || r->cpuset_cpus ||
	    r->json_cpus || r->cpuset_mems || r->json_mems) {
		cpu = member(res, "cpu");
		if (r->has_cpu_shares)
			json_object_object_add(cpu, "shares", json_object_new_uint64(r->cpu_shares));
		if (r->has_cpu_quota)
			json_object_object_add(cpu, "quota", json_object_new_int64(r->cpu_quota));
		if (r->has_cpu_period)
			json_object_object_add(cpu, "period", json_object_new_uint64(r->cpu_period));
		if (r->cpuset_cpus || r->json_cpus)
			json_object_object_add(cpu, "cpus", json_object_new_string(
								    r->cpuset_cpus ?: r->json_cpus));
		if (r->cpuset_mems || r->json_mems)
			json_object_object_add(cpu, "mems", json_object_new_string(
								    r->cpuset_mems ?: r->json_mems));
	}
	if (r->has_pids_limit)
		json_object_object_add(member(res, "pids"), "limit",
				       json_object_new_int64(r->pids_limit));
}

/*
 * update: the fields given sent to the VMM, which writes them at every level or at none
 * (its error says which level refused); state.json keeps the resources only once applied.
 */
int rt_update(struct rt_cmd *c)
{
	struct ctl_request req = { .cmd = CTL_UPDATE };
	struct json_object *upd;
	struct ctr_state s;
	const char *text;
	char err[1024];
	int lockfd, ret = 1;

	if (ctr_state_lock(rt_root(c), c->id, &lockfd, err, sizeof(err))) {
		log_msg("%s", err);
		return 1;
	}
	if (load(c, &s))
		goto out;
	if (s.status == CTR_STOPPED) {
		log_msg("container not running");
		goto out_state;
	}
	upd = json_object_new_object();
	if (upd)
		put_update(upd, &c->res);
	text = upd ? json_object_to_json_string_ext(upd, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE)
		   : NULL;
	req.resources = text ? strdup(text) : NULL;
	json_object_put(upd);
	if (!req.resources) {
		log_msg("update: %s", strerror(ENOMEM));
		goto out_state;
	}
	ret = call(rt_root(c), c->id, &req, NULL, 0, err, sizeof(err));
	free(req.resources);
	if (ret) {
		log_msg("%s", err);
		ret = 1;
		goto out_state;
	}
	ret = 1;
	if (!s.resources)
		s.resources = json_object_new_object();
	if (s.resources)
		put_update(s.resources, &c->res);
	if (!s.resources || ctr_state_write(rt_root(c), &s, err, sizeof(err)))
		log_msg("update: applied, but state.json: %s",
			s.resources ? err : strerror(ENOMEM));
	else
		ret = 0;
out_state:
	ctr_state_free(&s);
out:
	ctr_state_unlock(lockfd);
	return ret;
}
