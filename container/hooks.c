/* hooks: config.json's OCI hooks, read and checked, and run on the host with the state on stdin. */
#include "container/hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "container/oci.h"
#include "container/oci_json.h"
#include "container/proto.h"
#include "lib/json.h"
#include "lib/log.h"

extern char **environ;

#define POLL_SLICE_MS 20 /* without a pidfd: how often the hook's exit is looked for */

static const char *const kind_names[CTR_HOOK_KINDS] = {
	"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
};

const char *ctr_hook_name(enum ctr_hook_kind k)
{
	return (unsigned int)k < CTR_HOOK_KINDS ? kind_names[k] : NULL;
}

static void hook_free(struct ctr_hook *h)
{
	free(h->path);
	ctr_strv_free(h->args, h->nargs);
	ctr_strv_free(h->env, h->nenv);
}

void ctr_hooks_free(struct ctr_hooks *h)
{
	unsigned int k, i;

	for (k = 0; k < CTR_HOOK_KINDS; k++) {
		for (i = 0; h->v[k] && i < h->n[k]; i++)
			hook_free(&h->v[k][i]);
		free(h->v[k]);
		h->v[k] = NULL;
		h->n[k] = 0;
	}
}

static int read_hook(struct oci_ctx *c, struct json_object *o, const char *where,
		     struct ctr_hook *h)
{
	char at[96];
	struct json_object *v;
	int64_t t;
	int ret;

	ret = oci_object(c, o, where);
	if (ret)
		return ret;
	snprintf(at, sizeof(at), "%s.path", where);
	if (!(v = oci_get(o, "path")))
		return oci_fail(c, -EINVAL, "%s: missing", at);
	ret = oci_str(c, v, at, &h->path);
	if (ret)
		return ret;
	if (h->path[0] != '/')
		return oci_fail(c, -EINVAL, "%s %.256s: not absolute", at, h->path);
	snprintf(at, sizeof(at), "%s.args", where);
	if ((v = oci_get(o, "args")) && (ret = oci_strv(c, v, at, &h->args, &h->nargs)))
		return ret;
	snprintf(at, sizeof(at), "%s.env", where);
	if ((v = oci_get(o, "env")) && (ret = oci_strv(c, v, at, &h->env, &h->nenv)))
		return ret;
	snprintf(at, sizeof(at), "%s.timeout", where);
	if ((v = oci_get(o, "timeout"))) {
		ret = oci_i64(c, v, at, INT64_MIN, INT64_MAX, &t);
		if (ret)
			return ret;
		if (t < 1 || t > CTR_HOOK_TIMEOUT_MAX)
			return oci_fail(c, -EINVAL, "%s %lld: not a positive number of seconds "
					"(at most %d)", at, (long long)t, CTR_HOOK_TIMEOUT_MAX);
		h->timeout = (unsigned int)t;
	}
	return 0;
}

int ctr_hooks_read(struct oci_ctx *c, struct json_object *v, struct ctr_hooks *h)
{
	struct json_object *a;
	char where[64];
	size_t n, i;
	unsigned int k;
	int ret;

	*h = (struct ctr_hooks){ 0 };
	ret = oci_object(c, v, "hooks");
	if (ret)
		return ret;
	for (k = 0; k < CTR_HOOK_KINDS; k++) {
		snprintf(where, sizeof(where), "hooks.%s", kind_names[k]);
		if (!(a = oci_get(v, kind_names[k])))
			continue;
		ret = oci_array(c, a, where, &n);
		if (ret)
			return ret;
		h->v[k] = calloc(n ? n : 1, sizeof(*h->v[k]));
		if (!h->v[k])
			return -ENOMEM;
		for (i = 0; i < n; i++) {
			snprintf(where, sizeof(where), "hooks.%s[%zu]", kind_names[k], i);
			h->n[k] = (unsigned int)i + 1;
			ret = read_hook(c, json_object_array_get_idx(a, i), where, &h->v[k][i]);
			if (ret)
				return ret;
		}
	}
	return 0;
}

int ctr_hooks_parse(const char *text, size_t len, struct ctr_hooks *h, char *err, size_t errlen)
{
	struct oci_ctx c = { .err = err, .errlen = errlen };
	struct json_object *o = NULL;
	int ret;

	*h = (struct ctr_hooks){ 0 };
	ret = json_parse_strict(text, len, CTR_SPEC_MAX, &o, err, errlen);
	if (!ret)
		ret = ctr_hooks_read(&c, o, h);
	json_object_put(o);
	return ret;
}

/* --- running one ------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The hook's output, logged a line at a time, at most CTR_HOOK_OUTPUT_MAX bytes of it. */
struct out {
	const char *kind;
	char line[LOG_MSG_MAX - 64];
	size_t len;   /* of line */
	size_t total; /* bytes logged so far */
	bool cut;
};

static void out_flush(struct out *o)
{
	if (o->len)
		log_msg("hook %s: %.*s", o->kind, (int)o->len, o->line);
	o->len = 0;
}

static void out_add(struct out *o, const char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (o->total >= CTR_HOOK_OUTPUT_MAX) {
			if (!o->cut)
				log_msg("hook %s: output past %u bytes dropped", o->kind,
					CTR_HOOK_OUTPUT_MAX);
			o->cut = true;
			return;
		}
		o->total++;
		if (buf[i] == '\n') {
			out_flush(o);
			continue;
		}
		o->line[o->len++] = buf[i];
		if (o->len == sizeof(o->line))
			out_flush(o);
	}
}

/* Read what the output pipe has now: 0, or 1 at its end (EOF or an error). */
static int out_read(int fd, struct out *o)
{
	char buf[4096];
	ssize_t n;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			out_add(o, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 && errno == EAGAIN ? 0 : 1;
	}
}

/* The child: never returns. */
static void hook_child(const struct ctr_hook *h, char *const *argv, char *const *envp, int in,
		       int out)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;
	int sig;

	setpgid(0, 0);
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
	    dup2(out, STDERR_FILENO) < 0)
		_exit(127);
#ifdef SYS_close_range
	syscall(SYS_close_range, 3, ~0U, 0);
#endif
	execve(h->path, argv, envp);
	dprintf(STDERR_FILENO, "%s: %s\n", h->path, strerror(errno));
	_exit(127);
}

int ctr_hook_run(const struct ctr_hook *h, const char *kind, const char *state, size_t len,
		 char *err, size_t errlen)
{
	unsigned int timeout = h->timeout ? h->timeout : CTR_HOOK_TIMEOUT_DEFAULT;
	struct sigaction ign = { .sa_handler = SIG_IGN }, oldpipe;
	char *path_argv[2] = { h->path, NULL }, **argv = NULL, **envp = NULL;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, pidfd = -1, st = 0, ret;
	struct pollfd pfd[3];
	struct out *o;
	int64_t deadline;
	size_t sent = 0;
	unsigned int i, nfd;
	bool exited = false, out_open = true;
	ssize_t n;
	pid_t pid;

	o = calloc(1, sizeof(*o));
	argv = calloc((size_t)h->nargs + 1, sizeof(*argv));
	envp = h->env ? calloc((size_t)h->nenv + 1, sizeof(*envp)) : NULL;
	if (!o || !argv || (h->env && !envp)) {
		ret = -ENOMEM;
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		goto out_free;
	}
	o->kind = kind;
	for (i = 0; i < h->nargs; i++)
		argv[i] = h->args[i];
	for (i = 0; envp && i < h->nenv; i++)
		envp[i] = h->env[i];
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) {
		ret = -errno;
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto out_close;
	}
	/* A hook that exits without reading its stdin is no failure: EPIPE, not SIGPIPE. */
	sigaction(SIGPIPE, &ign, &oldpipe);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		snprintf(err, errlen, "fork: %s", strerror(errno));
		goto out_sig;
	}
	if (pid == 0)
		hook_child(h, h->nargs ? argv : path_argv, envp ? envp : environ, in[0], out[1]);
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
#ifdef SYS_pidfd_open
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
	if (!len) {
		close(in[1]);
		in[1] = -1;
	}
	deadline = now_ms() + (int64_t)timeout * 1000;
	while (!exited) {
		int64_t left = deadline - now_ms();
		int wait_ms;

		if (waitpid(pid, &st, WNOHANG) == pid) {
			exited = true;
			break;
		}
		if (left <= 0)
			break;
		nfd = 0;
		if (in[1] >= 0)
			pfd[nfd++] = (struct pollfd){ .fd = in[1], .events = POLLOUT };
		if (out_open)
			pfd[nfd++] = (struct pollfd){ .fd = out[0], .events = POLLIN };
		if (pidfd >= 0)
			pfd[nfd++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
		wait_ms = pidfd >= 0 && left < INT32_MAX ? (int)left
			  : left < POLL_SLICE_MS ? (int)left : POLL_SLICE_MS;
		if (poll(pfd, nfd, wait_ms) < 0 && errno != EINTR) {
			ret = -errno;
			snprintf(err, errlen, "poll: %s", strerror(errno));
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			goto out_sig;
		}
		if (in[1] >= 0) {
			n = write(in[1], state + sent, len - sent);
			if (n > 0)
				sent += (size_t)n;
			if (sent == len || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (out_open && out_read(out[0], o))
			out_open = false;
	}
	if (!exited) {
		/* Its whole group: what it left running in the background goes too. */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		if (out_open)
			out_read(out[0], o);
		out_flush(o);
		ret = -ETIMEDOUT;
		snprintf(err, errlen, "timed out after %u s (killed)", timeout);
		goto out_sig;
	}
	/* What it wrote before it exited; a child it left holding the pipe is not waited for. */
	if (out_open)
		out_read(out[0], o);
	out_flush(o);
	if (WIFEXITED(st) && !WEXITSTATUS(st)) {
		ret = 0;
	} else {
		ret = -ECHILD;
		snprintf(err, errlen, "%s %d", WIFSIGNALED(st) ? "killed by signal" : "exit status",
			 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	}
out_sig:
	sigaction(SIGPIPE, &oldpipe, NULL);
out_close:
	for (i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	if (pidfd >= 0)
		close(pidfd);
out_free:
	free(o);
	free(argv);
	free(envp);
	return ret;
}

int ctr_hooks_run(const struct ctr_hooks *h, enum ctr_hook_kind k, const char *state, size_t len,
		  bool all, char *err, size_t errlen)
{
	char why[256];
	unsigned int i;
	int ret, first = 0;

	for (i = 0; i < h->n[k]; i++) {
		const struct ctr_hook *hk = &h->v[k][i];

		log_debug("%s hook %u: %s", kind_names[k], i, hk->path);
		ret = ctr_hook_run(hk, kind_names[k], state, len, why, sizeof(why));
		if (!ret)
			continue;
		if (!first)
			snprintf(err, errlen, "%s hook %u (%.256s): %s", kind_names[k], i, hk->path,
				 why);
		if (!all)
			return ret;
		log_msg("warning: %s hook %u (%.256s): %s", kind_names[k], i, hk->path, why);
		first = first ? first : ret;
	}
	return first;
}
