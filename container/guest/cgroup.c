/* cgroup: the container's cgroup v2 inside the guest — created, limited, signalled. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/guest/guest.h"

/* Controllers the container's cgroup gets; one the kernel lacks is left out, not an error. */
static const char *const controllers[] = { "+cpu", "+cpuset", "+memory", "+pids" };

static void enable_controllers(int dir)
{
	size_t i;

	for (i = 0; i < sizeof(controllers) / sizeof(controllers[0]); i++)
		gi_write_file(dir, "cgroup.subtree_control", controllers[i]);
}

int gi_cgroup_setup(struct gi_cgroup *cg, const char *path, const struct ctr_resources *r,
		    char *err, size_t errlen)
{
	const char *c = path ? path : GI_DEFAULT_CGROUP, *comp;
	char name[256];
	int dir, next, ret;
	size_t n;

	cg->root = cg->dir = -1;
	/* Before the container's root: its /sys is read-only, and hull-init's root after. */
	cg->cpus = open("/sys/devices/system/cpu", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!gi_abs_path_ok(c) || !strcmp(c, "/")) {
		snprintf(err, errlen, "cgroup path %s: must be absolute, below the root, without . "
			 "or ..", c);
		return -EINVAL;
	}
	if ((mkdir(GI_CGROUP_MNT, 0755) && errno != EEXIST) ||
	    mount("cgroup2", GI_CGROUP_MNT, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
		ret = -errno;
		snprintf(err, errlen, "mount cgroup2 on %s: %s", GI_CGROUP_MNT, strerror(-ret));
		return ret;
	}
	cg->root = open(GI_CGROUP_MNT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg->root < 0) {
		ret = -errno;
		snprintf(err, errlen, "open %s: %s", GI_CGROUP_MNT, strerror(-ret));
		return ret;
	}
	dir = dup(cg->root);
	if (dir < 0)
		return -errno;
	/* Controllers are enabled in every ancestor; the leaf holds processes and enables none. */
	while ((n = gi_path_next(&c, &comp))) {
		if (n >= sizeof(name)) {
			close(dir);
			snprintf(err, errlen, "cgroup path %s: a component is too long", path);
			return -ENAMETOOLONG;
		}
		memcpy(name, comp, n);
		name[n] = '\0';
		enable_controllers(dir);
		if (mkdirat(dir, name, 0755) && errno != EEXIST) {
			ret = -errno;
			close(dir);
			snprintf(err, errlen, "mkdir cgroup %s: %s", name, strerror(-ret));
			return ret;
		}
		next = openat(dir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		ret = -errno;
		close(dir);
		if (next < 0) {
			snprintf(err, errlen, "open cgroup %s: %s", name, strerror(-ret));
			return ret;
		}
		dir = next;
	}
	cg->dir = dir;
	return gi_cgroup_apply(cg, r, err, errlen);
}

int gi_cgroup_apply(const struct gi_cgroup *cg, const struct ctr_resources *r, char *err,
		    size_t errlen)
{
	struct gi_cgval v[GI_CGVAL_MAX];
	size_t i, n = gi_cgroup_values(r, v);
	int ret;

	for (i = 0; i < n; i++) {
		ret = gi_write_file(cg->dir, v[i].file, v[i].value);
		if (ret) {
			snprintf(err, errlen, "cgroup %s = %s: %s", v[i].file, v[i].value,
				 strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* kill(2) every pid listed in cgroup.procs, reading it in bounded chunks. */
static int signal_procs(const struct gi_cgroup *cg, int sig)
{
	char buf[GI_PROCS_READ_MAX + 1];
	size_t have = 0, i, start;
	ssize_t n;
	long pid;
	int fd = openat(cg->dir, "cgroup.procs", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (;;) {
		n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		for (i = start = 0; i < have; i++) {
			if (buf[i] != '\n')
				continue;
			buf[i] = '\0';
			pid = strtol(buf + start, NULL, 10);
			if (pid > 1) /* never 0 or -1: those would reach hull-init */
				kill((pid_t)pid, sig);
			start = i + 1;
		}
		/* A partial last line waits for the rest; a line as long as the buffer is garbage. */
		memmove(buf, buf + start, have - start);
		have -= start;
		if (have == sizeof(buf) - 1)
			have = 0;
	}
	close(fd);
	return n < 0 ? -errno : 0;
}

int gi_cgroup_signal(const struct gi_cgroup *cg, int sig)
{
	/* cgroup.kill (Linux 5.14) kills every process, those forking meanwhile too. */
	if (sig == SIGKILL && !gi_write_file(cg->dir, "cgroup.kill", "1"))
		return 0;
	return signal_procs(cg, sig);
}

int gi_cpus_online(const struct gi_cgroup *cg, unsigned int n, bool up, char *err,
		   size_t errlen)
{
	char path[32];
	unsigned int cpu;
	int ret;

	for (cpu = up ? 1 : n; cpu < (up ? n : GI_CPUS_MAX); cpu++) {
		snprintf(path, sizeof(path), "cpu%u/online", cpu);
		ret = cg->cpus < 0 ? -ENOENT : gi_write_file(cg->cpus, path, up ? "1" : "0");
		if (ret == -ENOENT && !up)
			return 0; /* past the VM's vCPUs */
		if (ret) {
			snprintf(err, errlen, "vCPU %u %s: %s", cpu, up ? "online" : "offline",
				 ret == -ENOENT ? "the VM has no such vCPU" : strerror(-ret));
			return ret == -ENOENT ? -ENODEV : ret;
		}
	}
	return 0;
}
