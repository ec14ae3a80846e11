/* runspec: the default spec of `hull run --rootfs DIR`, as `runc spec` writes it minus namespaces, with hull run's flags. */
#include "container/runspec.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "lib/parse.h"

/* runc spec's mounts, in its order; options as a comma-separated list. */
static const struct {
	const char *dest, *type, *source, *options;
} default_mounts[] = {
	{ "/proc", "proc", "proc", "" },
	{ "/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k" },
	{ "/dev/pts", "devpts", "devpts", "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5" },
	{ "/dev/shm", "tmpfs", "shm", "nosuid,noexec,nodev,mode=1777,size=65536k" },
	{ "/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev" },
	{ "/sys", "sysfs", "sysfs", "nosuid,noexec,nodev,ro" },
	{ "/sys/fs/cgroup", "cgroup", "cgroup", "nosuid,noexec,nodev,relatime,ro" },
};
#define NDEFAULT_MOUNTS (sizeof(default_mounts) / sizeof(default_mounts[0]))

static const char *const default_masked[] = {
	"/proc/acpi",	     "/proc/asound",	 "/proc/kcore",	       "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/sys/firmware",     "/proc/scsi",	 "/sys/devices/virtual/tpm",
};

static const char *const default_readonly[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

#define DEFAULT_CAPS \
	((1ull << CAP_AUDIT_WRITE) | (1ull << CAP_KILL) | (1ull << CAP_NET_BIND_SERVICE))

/* Every option of a comma-separated list onto m (the defaults' and --tmpfs's). */
static int apply_options(struct ctr_bmount *m, const char *list)
{
	char *copy = strdup(list), *opt, *save = NULL;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (opt = strtok_r(copy, ",", &save); opt && !ret; opt = strtok_r(NULL, ",", &save))
		ret = ctr_mount_option(m, opt);
	free(copy);
	return ret;
}

/* What a flag's mount is added to: the bundle, and which default mounts flags replaced. */
struct run_ctx {
	struct ctr_bundle *b;
	unsigned int ndefaults; /* b->mounts[0..ndefaults) are default ones */
	uint32_t replaced;	/* bit i: b->mounts[i], a default one */
	char *err;
	size_t errlen;
};

/* The next mount, for dest: a default one there is replaced, a flag's one is an error. */
static struct ctr_bmount *mount_slot(struct run_ctx *c, const char *dest, const char *flag,
				     const char *arg)
{
	struct ctr_bundle *b = c->b;
	unsigned int i;

	for (i = 0; i < b->nmounts; i++) {
		if (strcmp(b->mounts[i].dest, dest))
			continue;
		if (i >= c->ndefaults || (c->replaced & (1u << i))) {
			parse_fail(c->err, c->errlen, -EINVAL, "%s %s: %s is mounted twice", flag,
				   arg, dest);
			return NULL;
		}
		c->replaced |= 1u << i;
		ctr_bmount_free(&b->mounts[i]);
		return &b->mounts[i];
	}
	return &b->mounts[b->nmounts++];
}

static int add_defaults(const struct ctr_run_opts *o, struct ctr_bundle *b)
{
	struct ctr_bmount *m;
	unsigned int i;
	int ret;

	for (i = 0; i < NDEFAULT_MOUNTS; i++) {
		/* Privileged: hull-init binds the guest's whole devtmpfs there instead. */
		if (o->privileged && !strcmp(default_mounts[i].dest, "/dev"))
			continue;
		m = &b->mounts[b->nmounts++];
		m->dest = strdup(default_mounts[i].dest);
		m->type = strdup(default_mounts[i].type);
		m->source = strdup(default_mounts[i].source);
		if (!m->dest || !m->type || !m->source)
			return -ENOMEM;
		ret = apply_options(m, default_mounts[i].options);
		if (ret)
			return ret;
		/* Privileged: the guest's /sys and cgroups are the container's to change. */
		if (o->privileged)
			m->flags &= ~(uint64_t)MS_RDONLY;
	}
	if (o->privileged)
		return 0;
	ret = ctr_strv_dup(default_masked, sizeof(default_masked) / sizeof(default_masked[0]),
			&b->masked, &b->nmasked);
	return ret ?: ctr_strv_dup(default_readonly,
				sizeof(default_readonly) / sizeof(default_readonly[0]),
				&b->readonly, &b->nreadonly);
}

/* --mount SRC:DST[:ro|:rw]: a recursive, private bind mount of a host directory or file. */
static int add_bind(struct run_ctx *c, const char *arg)
{
	char *err = c->err;
	size_t errlen = c->errlen;
	char *copy = strdup(arg), *dst, *mode, why[384];
	struct ctr_bmount *m;
	int ret;

	if (!copy)
		return -ENOMEM;
	dst = strchr(copy, ':');
	mode = dst ? strchr(dst + 1, ':') : NULL;
	if (dst)
		*dst++ = '\0';
	if (mode)
		*mode++ = '\0';
	if (!dst || !copy[0] || (mode && strcmp(mode, "ro") && strcmp(mode, "rw"))) {
		ret = parse_fail(err, errlen, -EINVAL, "--mount %s: expected SRC:DST[:ro|:rw]",
				 arg);
		goto out;
	}
	if (!ctr_path_ok(dst)) {
		ret = parse_fail(err, errlen, -EINVAL, "--mount %s: %s is not an absolute path",
				 arg, dst);
		goto out;
	}
	m = mount_slot(c, dst, "--mount", arg);
	if (!m) {
		ret = -EINVAL;
		goto out;
	}
	ret = ctr_bind_source(NULL, copy, &m->source, &m->is_file, why, sizeof(why));
	if (ret) {
		if (ret != -ENOMEM)
			parse_fail(err, errlen, ret, "--mount %s: %s", arg, why);
		goto out;
	}
	m->dest = strdup(dst);
	m->type = strdup("bind");
	if (!m->dest || !m->type) {
		ret = -ENOMEM;
		goto out;
	}
	ret = apply_options(m, mode && !strcmp(mode, "ro") ? "rbind,rprivate,ro" : "rbind,rprivate");
out:
	free(copy);
	return ret;
}

/* --tmpfs DST[:OPTIONS]: nosuid, nodev and noexec, then the options given ("exec" clears noexec). */
static int add_tmpfs(struct run_ctx *c, const char *arg)
{
	char *err = c->err;
	size_t errlen = c->errlen;
	char *copy = strdup(arg), *opts;
	struct ctr_bmount *m;
	int ret;

	if (!copy)
		return -ENOMEM;
	opts = strchr(copy, ':');
	if (opts)
		*opts++ = '\0';
	if (!ctr_path_ok(copy)) {
		ret = parse_fail(err, errlen, -EINVAL, "--tmpfs %s: %s is not an absolute path",
				 arg, copy);
		goto out;
	}
	m = mount_slot(c, copy, "--tmpfs", arg);
	if (!m) {
		ret = -EINVAL;
		goto out;
	}
	m->dest = strdup(copy);
	m->type = strdup("tmpfs");
	m->source = strdup("tmpfs");
	if (!m->dest || !m->type || !m->source) {
		ret = -ENOMEM;
		goto out;
	}
	ret = apply_options(m, "nosuid,nodev,noexec");
	if (!ret && opts)
		ret = apply_options(m, opts);
	if (ret == -EINVAL || ret == -E2BIG)
		parse_fail(err, errlen, ret, "--tmpfs %s: options not supported", arg);
out:
	free(copy);
	return ret;
}

/* --env K=V: replaces an earlier K, else is appended. */
static int add_env(struct ctr_process *p, const char *kv, char *err, size_t errlen)
{
	const char *eq = strchr(kv, '=');
	size_t klen;
	unsigned int i;
	char *copy;

	if (!eq || eq == kv)
		return parse_fail(err, errlen, -EINVAL, "--env %s: expected K=V", kv);
	klen = (size_t)(eq - kv) + 1;
	copy = strdup(kv);
	if (!copy)
		return -ENOMEM;
	for (i = 0; i < p->nenv; i++) {
		if (!strncmp(p->env[i], kv, klen)) {
			free(p->env[i]);
			p->env[i] = copy;
			return 0;
		}
	}
	p->env[p->nenv++] = copy;
	return 0;
}

/* --user UID[:GID], numbers only (the rootfs's /etc/passwd is not read). */
static int set_user(struct ctr_process *p, const char *arg, char *err, size_t errlen)
{
	char *copy = strdup(arg), *gid;
	uint64_t u = 0, g = 0;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	gid = strchr(copy, ':');
	if (gid)
		*gid++ = '\0';
	if (parse_uint(copy, 0, UINT32_MAX - 1, &u) || (gid && parse_uint(gid, 0, UINT32_MAX - 1, &g)))
		ret = parse_fail(err, errlen, -EINVAL,
				 "--user %s: expected UID[:GID], numbers below %u", arg,
				 UINT32_MAX);
	p->uid = (uint32_t)u;
	p->gid = (uint32_t)g;
	free(copy);
	return ret;
}

static int set_process(const struct ctr_run_opts *o, struct ctr_process *p, char *err,
		       size_t errlen)
{
	unsigned int i, k;
	int ret;

	if (!o->nargs || !o->args[0][0])
		return parse_fail(err, errlen, -EINVAL,
				  "no command (hull run ... -- CMD [ARG...])");
	if (o->nargs > CTR_LIST_MAX || o->nenv > CTR_LIST_MAX - 2)
		return parse_fail(err, errlen, -E2BIG, "more than %u arguments or variables",
				  CTR_LIST_MAX);
	ret = ctr_strv_dup(o->args, o->nargs, &p->args, &p->nargs);
	if (ret)
		return ret;
	p->env = calloc(o->nenv + 2, sizeof(char *));
	if (!p->env)
		return -ENOMEM;
	p->env[p->nenv++] = strdup(CTR_RUN_PATH);
	if (o->tty)
		p->env[p->nenv++] = strdup("TERM=xterm");
	for (i = 0; i < p->nenv; i++)
		if (!p->env[i])
			return -ENOMEM;
	for (i = 0; i < o->nenv; i++) {
		ret = add_env(p, o->env[i], err, errlen);
		if (ret)
			return ret;
	}
	if (o->workdir && !ctr_path_ok(o->workdir))
		return parse_fail(err, errlen, -EINVAL, "--workdir %s: not an absolute path",
				  o->workdir);
	p->cwd = strdup(o->workdir ? o->workdir : "/");
	if (!p->cwd)
		return -ENOMEM;
	if (o->user && (ret = set_user(p, o->user, err, errlen)))
		return ret;
	p->terminal = o->tty;
	p->no_new_privs = !o->privileged;
	for (k = 0; k < 5; k++)
		p->caps[k] = o->privileged ? CTR_CAPS_ALL : k <= CTR_CAP_PERMITTED ? DEFAULT_CAPS : 0;
	p->rlimits = calloc(1, sizeof(*p->rlimits));
	if (!p->rlimits)
		return -ENOMEM;
	p->rlimits[p->nrlimits++] = (struct ctr_rlimit){ RLIMIT_NOFILE, 1024, 1024 };
	return 0;
}

static int build(const struct ctr_run_opts *o, struct ctr_bundle *b, char *err, size_t errlen)
{
	struct run_ctx c = { .b = b, .err = err, .errlen = errlen };
	unsigned int i;
	struct stat st;
	int ret;

	if (!o->rootfs || !o->rootfs[0])
		return parse_fail(err, errlen, -EINVAL, "--rootfs: missing");
	b->root = realpath(o->rootfs, NULL);
	if (!b->root)
		return parse_fail(err, errlen, -errno, "--rootfs %s: %s", o->rootfs,
				  strerror(errno));
	if (stat(b->root, &st) || !S_ISDIR(st.st_mode))
		return parse_fail(err, errlen, -ENOTDIR, "--rootfs %s: not a directory", o->rootfs);
	b->root_ro = o->read_only;
	b->privileged = o->privileged;
	b->oci_version = strdup("1.0.2");
	if (o->hostname && !ctr_hostname_ok(o->hostname))
		return parse_fail(err, errlen, -EINVAL,
				  "--hostname %s: 1 to 64 letters, digits, '-', '.' or '_'",
				  o->hostname);
	b->hostname = strdup(o->hostname ? o->hostname : CTR_RUN_HOSTNAME);
	if (!b->oci_version || !b->hostname)
		return -ENOMEM;
	ret = set_process(o, &b->process, err, errlen);
	if (ret)
		return ret;
	if (o->nmounts + o->ntmpfs > CTR_LIST_MAX - NDEFAULT_MOUNTS)
		return parse_fail(err, errlen, -E2BIG, "more than %zu mounts",
				  CTR_LIST_MAX - NDEFAULT_MOUNTS);
	b->mounts = calloc(NDEFAULT_MOUNTS + o->nmounts + o->ntmpfs, sizeof(*b->mounts));
	if (!b->mounts)
		return -ENOMEM;
	ret = add_defaults(o, b);
	c.ndefaults = b->nmounts;
	for (i = 0; !ret && i < o->nmounts; i++)
		ret = add_bind(&c, o->mounts[i]);
	for (i = 0; !ret && i < o->ntmpfs; i++)
		ret = add_tmpfs(&c, o->tmpfs[i]);
	return ret;
}

int ctr_run_bundle(const struct ctr_run_opts *o, struct ctr_bundle *b, char *err, size_t errlen)
{
	int ret;

	memset(b, 0, sizeof(*b));
	ret = build(o, b, err, errlen);
	if (ret == -ENOMEM)
		parse_fail(err, errlen, ret, "out of memory");
	if (ret)
		ctr_bundle_free(b);
	return ret;
}
