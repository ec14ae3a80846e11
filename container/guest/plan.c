/* plan: what hull-init mounts and creates inside the container's root, in order, from the spec. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "container/guest/guest.h"

/* Flags a mount may carry from the spec; the rest (MS_BIND, MS_MOVE, MS_REMOUNT...) are ours. */
#define MNT_FLAGS                                                                                  \
	(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS | MS_DIRSYNC | MS_NOATIME | \
	 MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME | MS_LAZYTIME)
#define NO_SNE (MS_NOSUID | MS_NODEV | MS_NOEXEC)

/* The filesystems made in the guest (anything else comes from the host as a bind entry). */
static const char *const guest_fs[] = { "tmpfs", "proc", "sysfs", "devpts", "mqueue", "cgroup2" };

/* The OCI default devices of an unprivileged container (runtime-spec config-linux.md). */
static const struct {
	const char *path;
	unsigned int major, minor;
} default_devs[] = {
	{ "/dev/null", 1, 3 },	  { "/dev/zero", 1, 5 }, { "/dev/full", 1, 7 },
	{ "/dev/random", 1, 8 }, { "/dev/urandom", 1, 9 }, { "/dev/tty", 5, 0 },
};

static const struct {
	const char *path, *text;
} default_links[] = {
	{ "/dev/ptmx", "pts/ptmx" },
	{ "/dev/fd", "/proc/self/fd" },
	{ "/dev/stdin", "/proc/self/fd/0" },
	{ "/dev/stdout", "/proc/self/fd/1" },
	{ "/dev/stderr", "/proc/self/fd/2" },
};

static struct gi_step *add(struct gi_plan *p, enum gi_step_kind kind, const char *target)
{
	struct gi_step *s;

	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 32;

		s = realloc(p->steps, cap * sizeof(*s));
		if (!s)
			return NULL;
		p->steps = s;
		p->cap = cap;
	}
	s = &p->steps[p->n++];
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->target = target;
	return s;
}

static struct gi_step *add_mount(struct gi_plan *p, const char *target, const char *fstype,
				 unsigned long flags, const char *data)
{
	struct gi_step *s = add(p, GI_MOUNT, target);

	if (s) {
		s->fstype = fstype;
		s->source = fstype;
		s->flags = flags;
		s->data = data;
	}
	return s;
}

static int defaults(const struct ctr_spec *s, struct gi_plan *p)
{
	unsigned long ro = s->privileged ? 0 : MS_RDONLY;
	struct gi_step *st;
	size_t i;

	if (!add_mount(p, "/proc", "proc", NO_SNE, NULL) ||
	    !add_mount(p, "/sys", "sysfs", NO_SNE | ro, NULL) ||
	    !add_mount(p, "/sys/fs/cgroup", "cgroup2", NO_SNE | MS_RELATIME | ro, NULL))
		return -ENOMEM;
	if (s->privileged) {
		/* Every device of the guest: its devtmpfs, as hull-init mounted it. */
		st = add(p, GI_BIND, "/dev");
		if (!st)
			return -ENOMEM;
		st->source = "/dev";
		st->flags = MS_REC;
	} else if (!add_mount(p, "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME,
			      "mode=755,size=65536k")) {
		return -ENOMEM;
	}
	if (!add_mount(p, "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		       "newinstance,ptmxmode=0666,mode=0620,gid=5") ||
	    !add_mount(p, "/dev/shm", "tmpfs", NO_SNE, "mode=1777,size=65536k") ||
	    !add_mount(p, "/dev/mqueue", "mqueue", NO_SNE, NULL))
		return -ENOMEM;
	if (s->privileged)
		return 0;
	for (i = 0; i < sizeof(default_devs) / sizeof(default_devs[0]); i++) {
		st = add(p, GI_MKNOD, default_devs[i].path);
		if (!st)
			return -ENOMEM;
		st->mode = S_IFCHR | 0666;
		st->dev = makedev(default_devs[i].major, default_devs[i].minor);
	}
	for (i = 0; i < sizeof(default_links) / sizeof(default_links[0]); i++) {
		st = add(p, GI_SYMLINK, default_links[i].path);
		if (!st)
			return -ENOMEM;
		st->source = default_links[i].text;
	}
	/* The pty slave of a process with a terminal is bound over it when that process starts. */
	st = add(p, GI_BIND, "/dev/console");
	if (!st)
		return -ENOMEM;
	st->source = "/dev/null";
	st->mp = GI_MP_FILE;
	return 0;
}

static const char *guest_type(const char *type)
{
	size_t i;

	if (!strcmp(type, "cgroup"))
		return "cgroup2"; /* the guest has cgroup v2 only */
	for (i = 0; i < sizeof(guest_fs) / sizeof(guest_fs[0]); i++)
		if (!strcmp(type, guest_fs[i]))
			return guest_fs[i];
	return NULL;
}

static int bind_entry(const struct ctr_spec *s, const struct ctr_mount *m, gi_isdir_fn *isdir,
		      void *ctx, struct gi_plan *p, char *err, size_t errlen)
{
	struct gi_step *st;
	char *src;
	int r;

	if (!s->mounts_tag) {
		snprintf(err, errlen, "mount %s: a bind mount but the spec names no mounts share",
			 m->dest);
		return -EINVAL;
	}
	if (!gi_name_ok(m->source)) {
		snprintf(err, errlen, "mount %s: bad entry name of the mounts share", m->dest);
		return -EINVAL;
	}
	if (asprintf(&src, "%s/%s", GI_SHARE, m->source) < 0)
		return -ENOMEM;
	r = isdir(src, ctx);
	if (r < 0) {
		snprintf(err, errlen, "mount %s: entry %s of the mounts share: %s", m->dest,
			 m->source, strerror(-r));
		free(src);
		return r;
	}
	st = add(p, GI_BIND, m->dest);
	if (!st) {
		free(src);
		return -ENOMEM;
	}
	st->own = src;
	st->source = src;
	st->flags = m->flags & (MNT_FLAGS | MS_REC);
	st->propagation = m->propagation;
	st->mp = r ? GI_MP_DIR : GI_MP_FILE;
	return 0;
}

static int spec_mount(const struct ctr_spec *s, const struct ctr_mount *m, size_t ndefaults,
		      gi_isdir_fn *isdir, void *ctx, struct gi_plan *p, char *err, size_t errlen)
{
	const char *type;
	struct gi_step *st = NULL;
	size_t i;

	if (!gi_abs_path_ok(m->dest)) {
		snprintf(err, errlen, "mount %s: the destination must be an absolute path without "
			 ". or .. components", m->dest ? m->dest : "(none)");
		return -EINVAL;
	}
	if (!m->type) {
		snprintf(err, errlen, "mount %s: no type", m->dest);
		return -EINVAL;
	}
	if (!strcmp(m->type, "bind"))
		return bind_entry(s, m, isdir, ctx, p, err, errlen);
	type = guest_type(m->type);
	if (!type) {
		snprintf(err, errlen, "mount %s: type %s is not one hull-init makes (tmpfs, proc, "
			 "sysfs, devpts, mqueue, cgroup2; host paths come as bind entries)",
			 m->dest, m->type);
		return -EINVAL;
	}
	/* The spec's own /proc, /dev/pts... replaces hull-init's default: its options win. */
	for (i = 0; i < ndefaults; i++) {
		if (p->steps[i].kind == GI_MOUNT && !strcmp(p->steps[i].target, m->dest) &&
		    !strcmp(p->steps[i].fstype, type)) {
			st = &p->steps[i];
			break;
		}
	}
	if (!st) {
		st = add(p, GI_MOUNT, m->dest);
		if (!st)
			return -ENOMEM;
	}
	st->fstype = type;
	st->source = m->source ? m->source : type;
	st->flags = m->flags & MNT_FLAGS;
	st->data = m->data;
	st->propagation = m->propagation;
	st->mp = GI_MP_DIR;
	return 0;
}

static int device(const struct ctr_device *d, struct gi_plan *p, char *err, size_t errlen)
{
	struct gi_step *st;
	mode_t type;

	if (!gi_abs_path_ok(d->path)) {
		snprintf(err, errlen, "device %s: the path must be absolute without . or ..",
			 d->path ? d->path : "(none)");
		return -EINVAL;
	}
	switch (d->type) {
	case 'c':
		type = S_IFCHR;
		break;
	case 'b':
		type = S_IFBLK;
		break;
	case 'p':
		type = S_IFIFO;
		break;
	default:
		snprintf(err, errlen, "device %s: type must be c, b or p", d->path);
		return -EINVAL;
	}
	if (d->guest_source) {
		if (strncmp(d->guest_source, "/dev/", 5) || !gi_abs_path_ok(d->guest_source)) {
			snprintf(err, errlen, "device %s: guest source %s is not a path below /dev",
				 d->path, d->guest_source);
			return -EINVAL;
		}
		st = add(p, GI_BIND, d->path);
		if (!st)
			return -ENOMEM;
		st->source = d->guest_source;
		st->mp = GI_MP_FILE;
		st->mode = type | (d->mode & 07777);
		st->uid = d->uid;
		st->gid = d->gid;
		return 0;
	}
	st = add(p, GI_MKNOD, d->path);
	if (!st)
		return -ENOMEM;
	st->mode = type | (d->mode & 07777);
	st->dev = type == S_IFIFO ? 0 : makedev(d->major, d->minor);
	st->uid = d->uid;
	st->gid = d->gid;
	return 0;
}

static int paths(char **list, unsigned int n, enum gi_step_kind kind, struct gi_plan *p,
		 char *err, size_t errlen)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (!gi_abs_path_ok(list[i])) {
			snprintf(err, errlen, "%s path %s: must be absolute without . or ..",
				 kind == GI_MASK ? "masked" : "read-only", list[i]);
			return -EINVAL;
		}
		if (!add(p, kind, list[i]))
			return -ENOMEM;
	}
	return 0;
}

int gi_plan_build(const struct ctr_spec *s, gi_isdir_fn *isdir, void *ctx, struct gi_plan *p,
		  char *err, size_t errlen)
{
	size_t ndefaults;
	unsigned int i;
	int r;

	memset(p, 0, sizeof(*p));
	snprintf(err, errlen, "out of memory");
	r = defaults(s, p);
	if (r)
		goto fail;
	ndefaults = p->n;
	for (i = 0; i < s->nmounts; i++) {
		r = spec_mount(s, &s->mounts[i], ndefaults, isdir, ctx, p, err, errlen);
		if (r)
			goto fail;
	}
	for (i = 0; i < s->ndevices; i++) {
		r = device(&s->devices[i], p, err, errlen);
		if (r)
			goto fail;
	}
	if (!s->privileged) {
		r = paths(s->masked, s->nmasked, GI_MASK, p, err, errlen);
		if (r)
			goto fail;
		r = paths(s->readonly, s->nreadonly, GI_READONLY, p, err, errlen);
		if (r)
			goto fail;
	}
	err[0] = '\0';
	return 0;
fail:
	gi_plan_free(p);
	return r;
}

void gi_plan_free(struct gi_plan *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		free(p->steps[i].own);
	free(p->steps);
	memset(p, 0, sizeof(*p));
}
