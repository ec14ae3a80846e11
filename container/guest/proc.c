/* proc: fork a container process and give it its stdio, cgroup, limits, identity and capabilities. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container/guest/guest.h"

/* What the child tells its parent through the CLOEXEC pipe when its setup failed. */
struct child_err {
	int err;
	char what[120];
};

struct exec_ctx {
	char **argv, **envp;
};

static int try_execve(const char *path, void *arg)
{
	struct exec_ctx *x = arg;

	execve(path, x->argv, x->envp);
	return errno;
}

static int set_caps(const uint64_t caps[5])
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	int i;

	for (i = 0; i < 2; i++) {
		d[i].effective = (uint32_t)(caps[CTR_CAP_EFFECTIVE] >> (32 * i));
		d[i].permitted = (uint32_t)(caps[CTR_CAP_PERMITTED] >> (32 * i));
		d[i].inheritable = (uint32_t)(caps[CTR_CAP_INHERITABLE] >> (32 * i));
	}
	return (int)syscall(SYS_capset, &hdr, d);
}

static int identity(const struct ctr_process *p, unsigned int last_cap, struct child_err *ce)
{
	struct gi_cap_op ops[GI_CAP_OPS_MAX];
	size_t i, n = gi_caps_plan(p->caps, last_cap, ops);

	for (i = 0; i < n; i++) {
		const char *what = NULL;

		switch (ops[i].kind) {
		case GI_CAP_BOUND_DROP:
			if (prctl(PR_CAPBSET_DROP, ops[i].cap, 0, 0, 0))
				what = "drop a capability from the bounding set";
			break;
		case GI_CAP_KEEP:
		case GI_CAP_UNKEEP:
			if (prctl(PR_SET_KEEPCAPS, ops[i].kind == GI_CAP_KEEP, 0, 0, 0))
				what = "keepcaps";
			break;
		case GI_CAP_IDS:
			if (setgroups(p->ngids, p->gids))
				what = "setgroups";
			else if (setresgid(p->gid, p->gid, p->gid))
				what = "setresgid";
			else if (setresuid(p->uid, p->uid, p->uid))
				what = "setresuid";
			break;
		case GI_CAP_SET:
			if (set_caps(p->caps))
				what = "capset";
			break;
		case GI_CAP_AMBIENT_CLEAR:
			/* EINVAL: a kernel without ambient capabilities, which then has none to clear. */
			if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
				what = "clear the ambient capabilities";
			break;
		case GI_CAP_AMBIENT_RAISE:
			if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, ops[i].cap, 0, 0))
				what = "raise an ambient capability";
			break;
		}
		if (what) {
			ce->err = errno;
			if (ops[i].kind == GI_CAP_BOUND_DROP || ops[i].kind == GI_CAP_AMBIENT_RAISE)
				snprintf(ce->what, sizeof(ce->what), "%s: capability %u", what,
					 ops[i].cap);
			else
				snprintf(ce->what, sizeof(ce->what), "%s", what);
			return -1;
		}
	}
	return 0;
}

_Static_assert(CTR_SECCOMP_FLAGS == (SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW),
	       "the spec's seccomp flags are seccomp(2)'s");

/* The spec's filter with the flags config.json asked for (LOG, SPEC_ALLOW). */
static int load_seccomp(const struct ctr_spec *s)
{
	struct sock_fprog f = {
		.len = (unsigned short)(s->seccomp_len / sizeof(struct sock_filter)),
		.filter = (struct sock_filter *)(uintptr_t)s->seccomp,
	};

	if (!s->seccomp_len || s->seccomp_len % sizeof(struct sock_filter) ||
	    s->seccomp_len / sizeof(struct sock_filter) > BPF_MAXINSNS ||
	    s->seccomp_flags & ~CTR_SECCOMP_FLAGS) {
		errno = EINVAL;
		return -1;
	}
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, s->seccomp_flags, &f);
}

static char **nul_terminated(char **v, unsigned int n)
{
	char **out = calloc((size_t)n + 1, sizeof(*out));

	if (out && n)
		memcpy(out, v, n * sizeof(*v));
	return out;
}

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		ce.err = errno;                                                                    \
		snprintf(ce.what, sizeof(ce.what), __VA_ARGS__);                                   \
		goto fail;                                                                         \
	} while (0)

/* In the child: everything up to the exec. Setup failures go through the pipe; exec's to stderr. */
static void __attribute__((noreturn))
child(const struct ctr_process *p, const struct gi_stdio *io, const struct gi_cgroup *cg,
      const struct ctr_spec *spec, unsigned int last_cap, int pipe_wr)
{
	struct child_err ce = { 0, "" };
	struct exec_ctx x;
	sigset_t none;
	bool cwd_done;
	char adj[16];
	unsigned int i;
	int err, fd, sig;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	if (setsid() < 0)
		FAIL("setsid");
	for (i = 0; i < 3; i++) {
		fd = io->fd[i] >= 0 ? io->fd[i] : open("/dev/null", O_RDWR);
		if (fd < 0 || dup2(fd, (int)i) < 0)
			FAIL("stdio fd %u", i);
	}
	if (io->terminal && ioctl(0, TIOCSCTTY, 0))
		FAIL("make the pty the controlling terminal");
	/* While still root with every capability: the cgroup, limits, the OOM score. */
	err = gi_write_file(cg->dir, "cgroup.procs", "0");
	if (err) {
		errno = -err;
		FAIL("join the container's cgroup");
	}
	if (p->has_oom_score_adj) {
		snprintf(adj, sizeof(adj), "%d", p->oom_score_adj);
		err = gi_write_file(AT_FDCWD, "/proc/self/oom_score_adj", adj);
		if (err) {
			errno = -err;
			FAIL("oom_score_adj %s", adj);
		}
	}
	for (i = 0; i < p->nrlimits; i++) {
		struct rlimit rl = { p->rlimits[i].soft, p->rlimits[i].hard };

		if (setrlimit((int)p->rlimits[i].resource, &rl))
			FAIL("rlimit %u", p->rlimits[i].resource);
	}
	umask(p->has_umask ? (mode_t)(p->umask & 0777) : 022);
	/* As runc: chdir before the uid change (root can), again after it when that failed. */
	cwd_done = !p->cwd || !chdir(p->cwd);
	/* Without no_new_privs a filter needs CAP_SYS_ADMIN: load it while the child has it. */
	if (spec->seccomp && !p->no_new_privs && load_seccomp(spec))
		FAIL("seccomp filter");
	if (identity(p, last_cap, &ce))
		goto fail;
	if (!cwd_done && chdir(p->cwd))
		FAIL("chdir %s", p->cwd);
	if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		FAIL("no_new_privs");
	if (spec->seccomp && p->no_new_privs && load_seccomp(spec))
		FAIL("seccomp filter");
	x.argv = nul_terminated(p->args, p->nargs);
	x.envp = nul_terminated(p->env, p->nenv);
	if (!x.argv || !x.envp)
		FAIL("out of memory");
	err = gi_exec_search(p->args[0], gi_env_path(p->env, p->nenv), try_execve, &x);
	/* The pipe closes unwritten at exit: the parent sees an exec that happened; this is a status. */
	dprintf(2, "hull-init: exec %s: %s\n", p->args[0], strerror(err));
	_exit(gi_exec_status(err));
fail:
	gi_write_all(pipe_wr, &ce, sizeof(ce));
	_exit(126);
}

static unsigned int cap_last_cap(void)
{
	char buf[16] = "";
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return CAP_LAST_CAP;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return CAP_LAST_CAP;
	buf[n] = '\0';
	return (unsigned int)strtoul(buf, NULL, 10);
}

pid_t gi_proc_spawn(const struct ctr_process *p, const struct gi_stdio *io,
		    const struct gi_cgroup *cg, const struct ctr_spec *spec, char *err,
		    size_t errlen)
{
	unsigned int last_cap = cap_last_cap();
	struct child_err ce;
	int fds[2], r;
	ssize_t n;
	pid_t pid;

	if (!p->nargs || !p->args || !p->args[0]) {
		snprintf(err, errlen, "the process has no arguments");
		return -EINVAL;
	}
	if (pipe2(fds, O_CLOEXEC)) {
		r = -errno;
		snprintf(err, errlen, "pipe: %s", strerror(-r));
		return r;
	}
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		child(p, io, cg, spec, last_cap, fds[1]);
	}
	r = -errno;
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		snprintf(err, errlen, "fork: %s", strerror(-r));
		return r;
	}
	do
		n = read(fds[0], &ce, sizeof(ce));
	while (n < 0 && errno == EINTR);
	close(fds[0]);
	if (n == 0)
		return pid; /* exec'd, or its failure is the exit status */
	/* The child's setup failed and it exits: reaped here, no EXITED for it. */
	waitpid(pid, NULL, 0);
	if (n != (ssize_t)sizeof(ce)) {
		snprintf(err, errlen, "the process's setup failed");
		return -EIO;
	}
	ce.what[sizeof(ce.what) - 1] = '\0';
	snprintf(err, errlen, "%s: %s", ce.what, strerror(ce.err));
	return ce.err ? -ce.err : -EIO;
}
