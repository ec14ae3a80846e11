/* rootfs: mount the container's root from virtio-fs, carry out the mount plan in it, switch into it. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "container/guest/guest.h"

/*
 * Every target is resolved inside the new root (RESOLVE_IN_ROOT: ".." and
 * absolute symlinks stop at the root), so a rootfs whose /proc is a symlink
 * to /etc mounts proc on its own /etc, never on the initramfs's. Mounts go
 * onto /proc/self/fd/N of the resolved O_PATH descriptor (runc's way), which
 * needs the initramfs's /proc.
 */
static int open_in_root(int rootfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

static void fd_path(int fd, char buf[32])
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
}

/* The O_PATH descriptor of target, which is created (its parents as directories) when missing. */
static int make_point(int rootfd, const char *target, enum gi_mp mp)
{
	char prefix[4096], name[256];
	const char *c = target, *comp;
	int dir, fd, r;
	size_t n, len = 0;

	fd = open_in_root(rootfd, target, O_PATH);
	if (fd != -ENOENT)
		return fd;
	dir = open_in_root(rootfd, "/", O_PATH);
	if (dir < 0)
		return dir;
	while ((n = gi_path_next(&c, &comp))) {
		if (len + 1 + n >= sizeof(prefix) || n >= sizeof(name)) {
			close(dir);
			return -ENAMETOOLONG;
		}
		prefix[len++] = '/';
		memcpy(prefix + len, comp, n);
		len += n;
		prefix[len] = '\0';
		fd = open_in_root(rootfd, prefix, O_PATH);
		if (fd == -ENOENT) {
			memcpy(name, comp, n);
			name[n] = '\0';
			/* A single component made in the resolved parent: nothing to follow. */
			if (mp == GI_MP_FILE && !c[strspn(c, "/")]) {
				r = openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
					   0644);
				if (r >= 0)
					close(r);
			} else {
				r = mkdirat(dir, name, 0755);
			}
			if (r < 0 && errno != EEXIST) {
				r = -errno;
				close(dir);
				return r;
			}
			fd = open_in_root(rootfd, prefix, O_PATH);
		}
		close(dir);
		if (fd < 0)
			return fd;
		dir = fd;
	}
	return dir;
}

/* The parent of target, made as directories, and target's last component. */
static int make_parent(int rootfd, const char *target, char name[256])
{
	char parent[4096];
	const char *slash = strrchr(target, '/');
	size_t plen;

	if (!slash || strlen(slash + 1) >= 256 || !slash[1])
		return -EINVAL;
	plen = (size_t)(slash - target);
	if (plen >= sizeof(parent))
		return -ENAMETOOLONG;
	memcpy(parent, target, plen);
	parent[plen] = '\0';
	strcpy(name, slash + 1);
	return make_point(rootfd, plen ? parent : "/", GI_MP_DIR);
}

/* The O_PATH descriptor of target (which must exist) and its /proc/self/fd path in p. */
static int open_existing(int rootfd, const char *target, char p[32])
{
	int fd = open_in_root(rootfd, target, O_PATH);

	if (fd >= 0)
		fd_path(fd, p);
	return fd;
}

/* MS_NOSUID/NODEV/NOEXEC of the mount at fd, kept by a read-only remount. */
static unsigned long kept_flags(int fd)
{
	struct statvfs st;
	unsigned long f = 0;

	if (fstatvfs(fd, &st))
		return 0;
	if (st.f_flag & ST_NOSUID)
		f |= MS_NOSUID;
	if (st.f_flag & ST_NODEV)
		f |= MS_NODEV;
	if (st.f_flag & ST_NOEXEC)
		f |= MS_NOEXEC;
	return f;
}

/* After a mount on target: its propagation, and for a bind its flags (a bind ignores them). */
static int after_mount(int rootfd, const char *target, unsigned long remount, uint32_t prop)
{
	char p[32];
	int fd, r = 0;

	if (!remount && !prop)
		return 0;
	fd = open_existing(rootfd, target, p);
	if (fd < 0)
		return fd;
	if (remount && mount(NULL, p, NULL, MS_REMOUNT | MS_BIND | remount, NULL))
		r = -errno;
	if (!r && prop && mount(NULL, p, NULL, prop, NULL))
		r = -errno;
	close(fd);
	return r;
}

static int do_bind(int rootfd, const char *source, const char *target, enum gi_mp mp,
		   unsigned long flags, uint32_t prop)
{
	char p[32];
	int fd = make_point(rootfd, target, mp);

	if (fd < 0)
		return fd;
	fd_path(fd, p);
	if (mount(source, p, NULL, MS_BIND | (flags & MS_REC), NULL)) {
		int r = -errno;

		close(fd);
		return r;
	}
	close(fd);
	return after_mount(rootfd, target, flags & ~(unsigned long)MS_REC, prop);
}

static int do_step(int rootfd, const struct gi_step *s)
{
	char p[32], name[256];
	struct stat st;
	int fd, r = 0;

	switch (s->kind) {
	case GI_MOUNT:
		fd = make_point(rootfd, s->target, s->mp);
		if (fd < 0)
			return fd;
		fd_path(fd, p);
		if (mount(s->source, p, s->fstype, s->flags, s->data))
			r = -errno;
		close(fd);
		return r ? r : after_mount(rootfd, s->target, 0, s->propagation);
	case GI_BIND:
		r = do_bind(rootfd, s->source, s->target, s->mp, s->flags, s->propagation);
		if (r || !s->mode)
			return r;
		/* A guest node mirrored for a device of the spec: its owner and mode as it says. */
		fd = open_existing(rootfd, s->target, p);
		if (fd < 0)
			return fd;
		if (chown(p, s->uid, s->gid) || chmod(p, s->mode & 07777))
			r = -errno;
		close(fd);
		return r;
	case GI_MKNOD:
		fd = make_parent(rootfd, s->target, name);
		if (fd < 0)
			return fd;
		/* A node that is there already (a privileged container's guest /dev) is kept. */
		if (mknodat(fd, name, s->mode, s->dev) && errno != EEXIST)
			r = -errno;
		else if (fchownat(fd, name, s->uid, s->gid, AT_SYMLINK_NOFOLLOW) ||
			 fchmodat(fd, name, s->mode & 07777, 0))
			r = -errno;
		close(fd);
		return r;
	case GI_SYMLINK:
		fd = make_parent(rootfd, s->target, name);
		if (fd < 0)
			return fd;
		if (symlinkat(s->source, fd, name) && errno != EEXIST)
			r = -errno;
		close(fd);
		return r;
	case GI_MASK:
		/* An absent masked or read-only path is skipped, as runc does. */
		fd = open_existing(rootfd, s->target, p);
		if (fd < 0)
			return fd == -ENOENT ? 0 : fd;
		if (fstat(fd, &st))
			r = -errno;
		else if (S_ISDIR(st.st_mode) ? mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0") :
					      mount("/dev/null", p, NULL, MS_BIND, NULL))
			r = -errno;
		close(fd);
		return r;
	case GI_READONLY:
		fd = open_existing(rootfd, s->target, p);
		if (fd < 0)
			return fd == -ENOENT ? 0 : fd;
		if (mount(p, p, NULL, MS_BIND | MS_REC, NULL))
			r = -errno;
		close(fd);
		if (r)
			return r;
		/* The bind's own mount now: reopened, remounted read-only with its other flags. */
		fd = open_existing(rootfd, s->target, p);
		if (fd < 0)
			return fd;
		if (mount(NULL, p, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | kept_flags(fd), NULL))
			r = -errno;
		close(fd);
		return r;
	}
	return -EINVAL;
}

static const char *step_name(enum gi_step_kind k)
{
	switch (k) {
	case GI_MOUNT:
		return "mount";
	case GI_BIND:
		return "bind mount";
	case GI_MKNOD:
		return "device";
	case GI_SYMLINK:
		return "symlink";
	case GI_MASK:
		return "masked path";
	case GI_READONLY:
		return "read-only path";
	}
	return "step";
}

static int isdir(const char *path, void *ctx)
{
	struct stat st;

	(void)ctx;
	if (stat(path, &st))
		return -errno;
	return S_ISDIR(st.st_mode);
}

/* mount -t virtiofs TAG dir, waiting a little for the device (its driver may still probe). */
static int mount_tag(const char *tag, const char *dir, char *err, size_t errlen)
{
	struct timespec nap = { 0, 10 * 1000 * 1000 };
	unsigned int waited = 0;

	if (mkdir(dir, 0755) && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		return -errno;
	}
	/* virtio-fs says EINVAL for a tag it does not know (yet), ENODEV before fuse is there. */
	while (mount(tag, dir, "virtiofs", 0, NULL)) {
		int e = errno;

		if ((e != EINVAL && e != ENODEV) || waited >= GI_MOUNT_WAIT_MS) {
			snprintf(err, errlen, "mount -t virtiofs %s %s: %s", tag, dir, strerror(e));
			return -e;
		}
		nanosleep(&nap, NULL);
		waited += 10;
	}
	return 0;
}

static int run_plan(const struct ctr_spec *s, char *err, size_t errlen)
{
	struct gi_plan plan;
	size_t i;
	int rootfd, r;

	r = gi_plan_build(s, isdir, NULL, &plan, err, errlen);
	if (r)
		return r;
	rootfd = open(GI_NEWROOT, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		r = -errno;
		snprintf(err, errlen, "open %s: %s", GI_NEWROOT, strerror(-r));
		goto out;
	}
	for (i = 0; i < plan.n; i++) {
		r = do_step(rootfd, &plan.steps[i]);
		if (r) {
			snprintf(err, errlen, "%s %s%s%s: %s", step_name(plan.steps[i].kind),
				 plan.steps[i].target, plan.steps[i].fstype ? " type " : "",
				 plan.steps[i].fstype ? plan.steps[i].fstype : "", strerror(-r));
			break;
		}
	}
	close(rootfd);
out:
	gi_plan_free(&plan);
	return r;
}

int gi_rootfs_setup(const struct ctr_spec *s, char *err, size_t errlen)
{
	int r;

	if (!s->root_tag) {
		snprintf(err, errlen, "the spec names no root filesystem tag");
		return -EINVAL;
	}
	/* Read-write while the plan makes its mount points; read-only at the end, as runc does. */
	r = mount_tag(s->root_tag, GI_NEWROOT, err, errlen);
	if (r)
		return r;
	if (s->mounts_tag) {
		r = mount_tag(s->mounts_tag, GI_SHARE, err, errlen);
		if (r)
			return r;
	}
	r = run_plan(s, err, errlen);
	if (r)
		return r;
	if (s->root_ro && mount(NULL, GI_NEWROOT, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL)) {
		r = -errno;
		snprintf(err, errlen, "remount the root read-only: %s", strerror(-r));
		return r;
	}
	/*
	 * pivot_root(2) refuses the initramfs (rootfs cannot be unmounted): move the
	 * new root over / and chroot into it, as switch_root(8) does.
	 */
	if (chdir(GI_NEWROOT) || mount(".", "/", NULL, MS_MOVE, NULL) || chroot(".") || chdir("/")) {
		r = -errno;
		snprintf(err, errlen, "switch into the new root: %s", strerror(-r));
		return r;
	}
	return 0;
}
