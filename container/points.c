/* points: the mount points a read-only root lacks, made in the host's rootfs before the VM starts. */
#include "container/points.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static bool no_openat2; /* the first pass is single-threaded */

/*
 * prefix, the path so far inside the root, whose last component is name in dir (prefix's
 * parent, resolved): as RESOLVE_IN_ROOT from rootfd resolves it. Without openat2 (Linux
 * before 5.6, Valgrind before 3.22) name itself in dir, a symlink refused (ELOOP): nothing
 * is ever resolved outside the root.
 */
static int step(int rootfd, const char *prefix, int dir, const char *name)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	struct stat st;
	long fd = -1;
	int r;

	errno = ENOSYS;
	if (!no_openat2)
		fd = syscall(SYS_openat2, rootfd, prefix, &how, sizeof(how));
	if (fd >= 0 || errno != ENOSYS)
		return fd < 0 ? -errno : (int)fd;
	no_openat2 = true;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = fstatat((int)fd, "", &st, AT_EMPTY_PATH) ? -errno : S_ISLNK(st.st_mode) ? -ELOOP : 0;
	if (r) {
		close((int)fd);
		return r;
	}
	return (int)fd;
}

/* dest, made in the root where missing: directories, and the last component a file if is_file. */
static int make_point(int rootfd, const char *dest, bool is_file)
{
	char prefix[PATH_MAX];
	const char *c = dest, *name;
	int dir, fd, r;
	size_t n, len = 0;
	bool last;

	dir = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -errno;
	for (;;) {
		c += strspn(c, "/");
		n = strcspn(c, "/");
		if (!n)
			break;
		if (len + 1 + n >= sizeof(prefix) || n > NAME_MAX) {
			close(dir);
			return -ENAMETOOLONG;
		}
		prefix[len++] = '/';
		memcpy(prefix + len, c, n);
		len += n;
		prefix[len] = '\0';
		name = prefix + len - n;
		c += n;
		fd = step(rootfd, prefix, dir, name);
		if (fd == -ENOENT) {
			/* One component, made in its resolved parent: nothing to follow. */
			last = !c[strspn(c, "/")];
			if (is_file && last) {
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
			fd = step(rootfd, prefix, dir, name);
		}
		close(dir);
		if (fd < 0)
			return fd;
		dir = fd;
	}
	close(dir);
	return 0;
}

/* Whether path is at or below dir (both absolute). */
static bool at_or_below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	while (n && dir[n - 1] == '/')
		n--;
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

static bool entry_is_file(const struct ctr_plan *p, const char *name)
{
	unsigned int i;

	for (i = 0; i < p->nentries; i++)
		if (!strcmp(p->entries[i].name, name))
			return p->entries[i].is_file;
	return false;
}

int ctr_mount_points(const char *rootfs, const struct ctr_spec *s, const struct ctr_plan *p,
		     char *err, size_t errlen)
{
	const struct ctr_mount *m;
	unsigned int i, j;
	int rootfd, ret = 0;
	bool file;

	rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		ret = -errno;
		snprintf(err, errlen, "rootfs %s: %s", rootfs, strerror(-ret));
		return ret;
	}
	for (i = 0; i < s->nmounts && !ret; i++) {
		m = &s->mounts[i];
		for (j = 0; j < i && !at_or_below(m->dest, s->mounts[j].dest); j++)
			;
		if (j < i)
			continue;
		file = m->type && m->source && !strcmp(m->type, "bind") &&
		       entry_is_file(p, m->source);
		ret = make_point(rootfd, m->dest, file);
		if (ret)
			snprintf(err, errlen, "mount %s: its mount point in the read-only root %s: %s",
				 m->dest, rootfs, strerror(-ret));
	}
	close(rootfd);
	return ret;
}
