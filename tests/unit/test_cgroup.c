/* Unit tests for the host cgroup writer against fake cgroupfs trees, v2 and v1 (hybrid) layouts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "container/cgroup.h"
#include "lib/util.h"

/*
 * A fake tree: a temporary directory with the files cgroupfs would have. The
 * env's mkdir fills a new directory as the kernel does (v2: cgroup.controllers
 * from the parent's subtree_control; v1 cpuset: empty cpus and mems), its
 * rmdir refuses a directory whose cgroup.procs is not empty, as the kernel does.
 */
struct fake {
	char tmp[64];
	char root[512];
	char mountinfo[8192];
	char self[1024];
	int version;
	struct ctr_cg_env env;
	unsigned int mkdirs, rmdirs;
};

static void put_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

/* dir/name's content, in a static buffer. */
static const char *file(const char *dir, const char *name)
{
	static char buf[4096];
	char path[PATH_MAX];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static const char *v2_files[][2] = {
	{ "cgroup.procs", "" },	      { "cgroup.subtree_control", "" }, { "cpu.max", "max 100000\n" },
	{ "cpu.weight", "100\n" },    { "cpuset.cpus", "\n" },          { "cpuset.mems", "\n" },
	{ "memory.max", "max\n" },    { "memory.swap.max", "max\n" },   { "memory.low", "0\n" },
	{ "pids.max", "max\n" },
};

static const char *v1_files[][2] = {
	{ "cgroup.procs", "" },
	{ "cpu.cfs_period_us", "100000\n" },
	{ "cpu.cfs_quota_us", "-1\n" },
	{ "cpu.shares", "1024\n" },
	{ "cpuset.cpus", "\n" },
	{ "cpuset.mems", "\n" },
	{ "memory.limit_in_bytes", "9223372036854771712\n" },
	{ "memory.memsw.limit_in_bytes", "9223372036854771712\n" },
	{ "memory.soft_limit_in_bytes", "9223372036854771712\n" },
	{ "pids.max", "max\n" },
};

/* What the kernel puts in a new cgroup directory. */
static void populate(struct fake *f, const char *dir)
{
	char parent[PATH_MAX], controllers[256] = "", *p;
	const char *pc;
	unsigned int i;

	if (f->version == 2) {
		for (i = 0; i < ARRAY_SIZE(v2_files); i++)
			put_file(dir, v2_files[i][0], v2_files[i][1]);
		/* Its controllers are what the parent enabled ("+cpu +memory" reads "cpu memory"). */
		snprintf(parent, sizeof(parent), "%s", dir);
		*strrchr(parent, '/') = '\0';
		pc = file(parent, "cgroup.subtree_control");
		for (p = controllers; pc && *pc; pc++)
			if (*pc != '+' && p < controllers + sizeof(controllers) - 1)
				*p++ = *pc;
		*p = '\0';
		put_file(dir, "cgroup.controllers", controllers);
	} else {
		for (i = 0; i < ARRAY_SIZE(v1_files); i++)
			put_file(dir, v1_files[i][0], v1_files[i][1]);
	}
}

static int fake_mkdir(const char *dir, void *opaque)
{
	struct fake *f = opaque;

	if (mkdir(dir, 0755) < 0)
		return -errno;
	f->mkdirs++;
	populate(f, dir);
	return 0;
}

static int fake_rmdir(const char *dir, void *opaque)
{
	struct fake *f = opaque;
	char path[PATH_MAX];
	struct dirent *e;
	const char *procs;
	DIR *d;

	procs = file(dir, "cgroup.procs");
	if (!procs)
		return -ENOENT;
	if (procs[0])
		return -EBUSY;
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (e->d_type == DT_DIR && strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			closedir(d);
			return -EBUSY; /* a child cgroup */
		}
		if (e->d_type == DT_REG)
			unlink(path);
	}
	closedir(d);
	f->rmdirs++;
	return rmdir(dir) < 0 ? -errno : 0;
}

static void mkdir_p(const char *dir)
{
	char path[PATH_MAX], *p;

	snprintf(path, sizeof(path), "%s", dir);
	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	mkdir(path, 0755);
}

static void rm_rf(const char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fail_msg("%s failed", cmd);
}

static struct fake *fake_new(int version)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->tmp, sizeof(f->tmp), "/tmp/hull-test-cgroup.XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	/* A space in the root, as mountinfo escapes it. */
	snprintf(f->root, sizeof(f->root), "%s/sys fs/cgroup", f->tmp);
	mkdir_p(f->root);
	f->version = version;
	f->env = (struct ctr_cg_env){ .root = f->root, .mountinfo = f->mountinfo,
				      .self = f->self, .mkdir = fake_mkdir,
				      .rmdir = fake_rmdir, .opaque = f };
	return f;
}

/* The mount point of f's root as mountinfo writes it (" " as \040). */
static const char *escaped(const struct fake *f, const char *sub)
{
	static char buf[2][PATH_MAX];
	static unsigned int k;
	char *o = buf[k ^= 1];
	const char *s;

	for (s = f->root; *s; s++)
		o += *s == ' ' ? sprintf(o, "\\040") : sprintf(o, "%c", *s);
	sprintf(o, "%s", sub);
	return buf[k];
}

/* cgroup v2 at the root (a pure v2 host, as the lab), hull in /user.slice/s1. */
static struct fake *fake_v2(void)
{
	struct fake *f = fake_new(2);
	char dir[PATH_MAX];

	snprintf(f->mountinfo, sizeof(f->mountinfo),
		 "22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw\n"
		 "30 22 0:27 / %s rw,nosuid,nodev,noexec shared:9 - cgroup2 cgroup2 "
		 "rw,nsdelegate,memory_recursiveprot\n"
		 "31 22 0:28 / /elsewhere rw - cgroup2 cgroup2 rw\n",
		 escaped(f, ""));
	snprintf(f->self, sizeof(f->self), "0::/user.slice/s1\n");
	for (unsigned int i = 0; i < ARRAY_SIZE(v2_files); i++)
		put_file(f->root, v2_files[i][0], v2_files[i][1]);
	put_file(f->root, "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc");
	snprintf(dir, sizeof(dir), "%s/user.slice/s1", f->root);
	mkdir_p(dir);
	put_file(dir, "cgroup.procs", "1\n");
	return f;
}

/*
 * cgroup v1 as this development machine has it: each controller its own
 * hierarchy (cpu and cpuacct together), v2 at unified/, hull in a memory
 * cgroup of its own. memroot: what the memory mount shows of its hierarchy
 * ("/" but in a container).
 */
static struct fake *fake_v1_at(const char *memroot)
{
	static const char *const hier[][2] = {
		{ "cpu,cpuacct", "rw,cpu,cpuacct" }, { "cpuset", "rw,cpuset" },
		{ "memory", "rw,memory" },           { "pids", "rw,pids" },
		{ "devices", "rw,devices" },         { "systemd", "rw,name=systemd" },
	};
	struct fake *f = fake_new(1);
	char dir[PATH_MAX], sub[64];
	size_t at;
	unsigned int i, k;

	at = (size_t)snprintf(f->mountinfo, sizeof(f->mountinfo),
			      "30 22 0:27 / %s rw,relatime - tmpfs tmpfs rw,mode=755\n",
			      escaped(f, ""));
	for (i = 0; i < ARRAY_SIZE(hier); i++) {
		snprintf(sub, sizeof(sub), "/%s", hier[i][0]);
		at += (size_t)snprintf(f->mountinfo + at, sizeof(f->mountinfo) - at,
				       "%u 30 0:%u %s %s rw,relatime shared:%u - cgroup cgroup %s\n",
				       31 + i, 28 + i, i == 2 ? memroot : "/", escaped(f, sub),
				       10 + i, hier[i][1]);
		snprintf(dir, sizeof(dir), "%s/%s", f->root, hier[i][0]);
		mkdir_p(dir);
		for (k = 0; k < ARRAY_SIZE(v1_files); k++)
			put_file(dir, v1_files[k][0], v1_files[k][1]);
	}
	snprintf(f->mountinfo + at, sizeof(f->mountinfo) - at,
		 "40 30 0:37 / %s rw,relatime - cgroup2 cgroup2 rw\n", escaped(f, "/unified"));
	snprintf(dir, sizeof(dir), "%s/cpuset", f->root);
	put_file(dir, "cpuset.cpus", "0-3\n");
	put_file(dir, "cpuset.mems", "0\n");
	snprintf(f->self, sizeof(f->self),
		 "9:name=systemd:/\n8:pids:/\n5:devices:/\n4:memory:/process_api/7abb\n"
		 "3:cpuset:/\n1:cpu,cpuacct:/\n0::/\n");
	snprintf(dir, sizeof(dir), "%s/memory/process_api/7abb", f->root);
	mkdir_p(dir);
	put_file(dir, "cgroup.procs", "1\n");
	return f;
}

static struct fake *fake_v1(void)
{
	return fake_v1_at("/");
}

static void fake_free(struct fake *f)
{
	rm_rf(f->tmp);
	free(f);
}

static char err[512];

/* root/sub as a path. */
static const char *at(const struct fake *f, const char *sub)
{
	static char buf[4][PATH_MAX];
	static unsigned int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s%s", f->root, sub);
	return buf[k];
}

/* --- v2 ----------------------------------------------------------------------------------- */

static void test_v2_open(void **state)
{
	struct fake *f = fake_v2();
	struct ctr_cgroup cg;

	(void)state;
	assert_int_equal(ctr_cgroup_open(&f->env, "/hull//c1/", false, &cg, err, sizeof(err)), 0);
	assert_int_equal(cg.version, 2);
	assert_int_equal(cg.nh, 1);
	assert_string_equal(cg.h[0].dir, at(f, "/hull/c1"));
	assert_string_equal(cg.h[0].home, at(f, "/user.slice/s1"));
	assert_string_equal(cg.h[0].mount, f->root);
	ctr_cgroup_close(&cg);
	/* Relative: below hull's own cgroup, as runc takes it. */
	assert_int_equal(ctr_cgroup_open(&f->env, "./c2", false, &cg, err, sizeof(err)), 0);
	assert_string_equal(cg.h[0].dir, at(f, "/user.slice/s1/c2"));
	ctr_cgroup_close(&cg);
	/* The systemd form, mapped without systemd. */
	assert_int_equal(ctr_cgroup_open(&f->env, "system.slice:docker:abc", true, &cg, err,
					 sizeof(err)),
			 0);
	assert_string_equal(cg.path, "/system.slice/docker-abc.scope");
	assert_string_equal(cg.h[0].dir, at(f, "/system.slice/docker-abc.scope"));
	ctr_cgroup_close(&cg);
	assert_int_equal(ctr_cgroup_open(&f->env, "/a/../../etc", false, &cg, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "cgroup path /a/../../etc: a \"..\" component leaves the hierarchy");
	assert_int_equal(ctr_cgroup_open(&f->env, "..", false, &cg, err, sizeof(err)), -EINVAL);
	assert_int_equal(ctr_cgroup_open(&f->env, "", false, &cg, err, sizeof(err)), -EINVAL);
	assert_int_equal(ctr_cgroup_open(&f->env, "a:b", true, &cg, err, sizeof(err)), -EINVAL);
	/* hull's own cgroup unknown: a relative path has nothing to be relative to. */
	snprintf(f->self, sizeof(f->self), "1:name=systemd:/\n");
	assert_int_equal(ctr_cgroup_open(&f->env, "c", false, &cg, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "hull's own v2 cgroup (not listed in /proc/self/cgroup)"));
	fake_free(f);
}

static void test_v2_create(void **state)
{
	struct fake *f = fake_v2();
	struct ctr_cgroup cg;

	(void)state;
	assert_int_equal(ctr_cgroup_open(&f->env, "/hull/c1", false, &cg, err, sizeof(err)), 0);
	assert_int_equal(ctr_cgroup_create(&cg, err, sizeof(err)), 0);
	assert_true(cg.made);
	assert_int_equal(f->mkdirs, 2);
	/* Every ancestor lets its children have the controllers hull writes, and only those. */
	assert_string_equal(file(f->root, "cgroup.subtree_control"), "+cpu +cpuset +memory +pids");
	assert_string_equal(file(at(f, "/hull"), "cgroup.subtree_control"),
			    "+cpu +cpuset +memory +pids");
	assert_string_equal(file(at(f, "/hull/c1"), "cgroup.subtree_control"), "");
	assert_string_equal(file(at(f, "/hull/c1"), "cgroup.controllers"), "cpu cpuset memory pids");
	/* Again: it is there, nothing is made, no controller is enabled twice. */
	put_file(f->root, "cgroup.subtree_control", "cpu cpuset memory pids\n");
	assert_int_equal(ctr_cgroup_create(&cg, err, sizeof(err)), 0);
	assert_false(cg.made);
	assert_int_equal(f->mkdirs, 2);
	assert_string_equal(file(f->root, "cgroup.subtree_control"), "cpu cpuset memory pids\n");
	ctr_cgroup_close(&cg);
	/* A parent that offers less: only what it offers is asked for. */
	put_file(at(f, "/hull"), "cgroup.controllers", "memory io");
	put_file(at(f, "/hull"), "cgroup.subtree_control", "");
	assert_int_equal(ctr_cgroup_open(&f->env, "/hull/c2", false, &cg, err, sizeof(err)), 0);
	assert_int_equal(ctr_cgroup_create(&cg, err, sizeof(err)), 0);
	assert_string_equal(file(at(f, "/hull"), "cgroup.subtree_control"), "+memory");
	ctr_cgroup_close(&cg);
	/* A parent whose controllers cannot be read: the file is named. */
	unlink(at(f, "/hull/cgroup.controllers"));
	assert_int_equal(ctr_cgroup_open(&f->env, "/hull/c3", false, &cg, err, sizeof(err)), 0);
	assert_int_equal(ctr_cgroup_create(&cg, err, sizeof(err)), -ENOENT);
	if (!strstr(err, "/hull/cgroup.controllers: No such file or directory"))
		fail_msg("%s", err);
	ctr_cgroup_close(&cg);
	fake_free(f);
}

static void test_v2_set(void **state)
{
	struct fake *f = fake_v2();
	char cpus[] = "0-1", mems[] = "0";
	struct ctr_resources r = {
		.cpu_quota = 150000, .has_cpu_quota = true, .cpu_period = 100000,
		.has_cpu_period = true, .cpu_weight = 39, .has_cpu_weight = true,
		.cpuset_cpus = cpus, .cpuset_mems = mems,
		.mem_max = 1 << 30, .has_mem_max = true, .swap_max = 1 << 28, .has_swap_max = true,
		.mem_low = 1 << 27, .has_mem_low = true, .pids_max = 99, .has_pids_max = true,
	};
	struct ctr_cgroup cg;
	const char *d;

	(void)state;
	assert_int_equal(ctr_cgroup_open(&f->env, "/hull/c1", false, &cg, err, sizeof(err)), 0);
	assert_int_equal(ctr_cgroup_create(&cg, err, sizeof(err)), 0);
	assert_int_equal(ctr_cgroup_set(&cg, &r, err, sizeof(err)), 0);
	d = cg.h[0].dir;
	assert_string_equal(file(d, "cpu.max"), "150000 100000");
	assert_string_equal(file(d, "cpu.weight"), "39");
	assert_string_equal(file(d, "cpuset.cpus"), "0-1");
	assert_string_equal(file(d, "cpuset.mems"), "0");
	assert_string_equal(file(d, "memory.max"), "1073741824");
	assert_string_equal(file(d, "memory.swap.max"), "268435456");
	assert_string_equal(file(d, "memory.low"), "134217728");
	assert_string_equal(file(d, "pids.max"), "99");
	/* An update: what it leaves out stays; a period alone keeps the quota. */
	r = (struct ctr_resources){ .cpu_period = 50000, .has_cpu_period = true };
	assert_int_equal(ctr_cgroup_set(&cg, &r, err, sizeof(err)), 0);
	assert_string_equal(file(d, "cpu.max"), "150000 50000");
	assert_string_equal(file(d, "memory.max"), "1073741824");
	put_file(d, "cpu.max", "max 100000\n");
	assert_int_equal(ctr_cgroup_set(&cg, &r, err, sizeof(err)), 0);
	assert_string_equal(file(d, "cpu.max"), "max 50000");
	r = (struct ctr_resources){ .cpu_quota = 20000, .has_cpu_quota = true };
	assert_int_equal(ctr_cgroup_set(&cg, &r, err, sizeof(err)), 0);
	assert_string_equal(file(d, "cpu.max"), "20000");
	/* No limit (UINT64_MAX, an update's -1): "max" in every file that takes one. */
	r = (struct ctr_resources){ .cpu_quota = UINT64_MAX, .has_cpu_quota = true,
				    .cpu_period = 100000, .has_cpu_period = true,
				    .mem_max = UINT64_MAX, .has_mem_max = true,
				    .swap_max = UINT64_MAX, .has_swap_max = true,
				    .pids_max = UINT64_MAX, .has_pids_max = true };
	assert_int_equal(ctr_cgroup_set(&cg, &r, err, sizeof(err)), 0);
	assert_string_equal(file(d, "cpu.max"), "max 100000");
	assert_string_equal(file(d, "memory.max"), "max");
	assert_string_equal(file(d, "memory.swap.max"), "max");
	assert_string_equal(file(d, "pids.max"), "max");
	r = (struct ctr_resources){ .cpu_quota = UINT64_MAX, .has_cpu_quota = true };
	assert_int_equal(ctr_cgroup_set(&cg, &r, err, sizeof(err)), 0);
	assert_string_equal(file(d, "cpu.max"), "max");
	/* A controller that is not enabled: the file and the cause are named. */
	unlink(at(f, "/hull/c1/memory.max"));
	r = (struct ctr_resources){ .mem_max = 4096, .has_mem_max = true };
	assert_int_equal(ctr_cgroup_set(&cg, &r, err, sizeof(err)), -ENOENT);
	if (!strstr(err, "/hull/c1/memory.max: No such file or directory (is the controller enabled?)"))
		fail_msg("%s", err);
	ctr_cgroup_close(&cg);
	fake_free(f);
}

static void test_v2_enter_remove(void **state)
{
	struct fake *f = fake_v2();
	struct ctr_cgroup cg;
	struct timespec t0, t1;

	(void)state;
	assert_int_equal(ctr_cgroup_open(&f->env, "/hull/c1", false, &cg, err, sizeof(err)), 0);
	assert_int_equal(ctr_cgroup_create(&cg, err, sizeof(err)), 0);
	assert_int_equal(ctr_cgroup_enter(&cg, 4321, err, sizeof(err)), 0);
	assert_string_equal(file(cg.h[0].dir, "cgroup.procs"), "4321");
	/* Busy while a process is in it: tried again for a bounded time, then named. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(ctr_cgroup_remove(&cg, err, sizeof(err)), -EBUSY);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	if (!strstr(err, "/hull/c1: rmdir: Device or resource busy"))
		fail_msg("%s", err);
	assert_int_equal(ctr_cgroup_leave(&cg, 4321, err, sizeof(err)), 0);
	assert_string_equal(file(at(f, "/user.slice/s1"), "cgroup.procs"), "4321");
	put_file(cg.h[0].dir, "cgroup.procs", ""); /* the kernel empties it as the process leaves */
	assert_int_equal(ctr_cgroup_remove(&cg, err, sizeof(err)), 0);
	assert_int_equal(access(cg.h[0].dir, F_OK), -1);
	assert_int_equal(access(at(f, "/hull"), F_OK), 0); /* parents stay */
	/* Gone already: fine. */
	assert_int_equal(ctr_cgroup_remove(&cg, err, sizeof(err)), 0);
	/* A process that cannot be moved: the file and the cause. */
	assert_int_equal(ctr_cgroup_enter(&cg, 4321, err, sizeof(err)), -ENOENT);
	if (!strstr(err, "/hull/c1/cgroup.procs: No such file or directory"))
		fail_msg("%s", err);
	ctr_cgroup_close(&cg);
	fake_free(f);
}

/* --- v1 ----------------------------------------------------------------------------------- */

static void test_v1_open(void **state)
{
	struct fake *f = fake_v1();
	struct ctr_cgroup cg;
	(void)state;
	assert_int_equal(ctr_cgroup_open(&f->env, "/hull/c1", false, &cg, err, sizeof(err)), 0);
	assert_int_equal(cg.version, 1);
	assert_int_equal(cg.nh, 4); /* cpu,cpuacct; cpuset; memory; pids — not devices, systemd, v2 */
	assert_string_equal(cg.h[0].dir, at(f, "/cpu,cpuacct/hull/c1"));
	assert_int_equal(cg.h[0].ctrls, 1u << CTR_CG_CPU);
	assert_string_equal(cg.h[1].dir, at(f, "/cpuset/hull/c1"));
	assert_string_equal(cg.h[2].dir, at(f, "/memory/hull/c1"));
	assert_string_equal(cg.h[2].home, at(f, "/memory/process_api/7abb"));
	assert_string_equal(cg.h[3].dir, at(f, "/pids/hull/c1"));
	assert_string_equal(cg.h[3].home, at(f, "/pids"));
	ctr_cgroup_close(&cg);
	/* Relative: each hierarchy's own cgroup of hull. */
	assert_int_equal(ctr_cgroup_open(&f->env, "c1", false, &cg, err, sizeof(err)), 0);
	assert_string_equal(cg.h[2].dir, at(f, "/memory/process_api/7abb/c1"));
	assert_string_equal(cg.h[1].dir, at(f, "/cpuset/c1"));
	ctr_cgroup_close(&cg);
	fake_free(f);
}

static void test_v1_mount_root(void **state)
{
	struct fake *f = fake_v1_at("/docker/x");
	struct ctr_cgroup cg;

	(void)state;
	/* memory's mount shows the hierarchy from /docker/x down; hull is in /docker/x/in. */
	snprintf(f->self, sizeof(f->self),
		 "8:pids:/\n4:memory:/docker/x/in\n3:cpuset:/\n1:cpu,cpuacct:/\n0::/\n");
	assert_int_equal(ctr_cgroup_open(&f->env, "c1", false, &cg, err, sizeof(err)), 0);
	assert_string_equal(cg.h[2].home, at(f, "/memory/in"));
	assert_string_equal(cg.h[2].dir, at(f, "/memory/in/c1"));
	ctr_cgroup_close(&cg);
	/* hull outside what the mount shows. */
	snprintf(f->self, sizeof(f->self), "8:pids:/\n4:memory:/docker/xy\n3:cpuset:/\n1:cpu,cpuacct:/\n");
	assert_int_equal(ctr_cgroup_open(&f->env, "c1", false, &cg, err, sizeof(err)), -ENOENT);
	if (!strstr(err, "hull's own memory cgroup (/docker/xy) is not under"))
		fail_msg("%s", err);
	fake_free(f);
}

static void test_v1_create_set(void **state)
{
	struct fake *f = fake_v1();
	char cpus[] = "1";
	struct ctr_resources r = {
		.cpu_quota = 150000, .has_cpu_quota = true, .cpu_period = 100000,
		.has_cpu_period = true, .cpu_weight = 39, .has_cpu_weight = true,
		.cpuset_cpus = cpus, .mem_max = 1 << 30, .has_mem_max = true,
		.swap_max = 1 << 28, .has_swap_max = true, .mem_low = 1 << 27, .has_mem_low = true,
		.pids_max = 99, .has_pids_max = true,
	};
	struct ctr_cgroup cg;

	(void)state;
	assert_int_equal(ctr_cgroup_open(&f->env, "/hull/c1", false, &cg, err, sizeof(err)), 0);
	assert_int_equal(ctr_cgroup_create(&cg, err, sizeof(err)), 0);
	assert_true(cg.made);
	assert_int_equal(f->mkdirs, 8);
	/* New cpusets start empty; each gets its parent's, so that it can take processes. */
	assert_string_equal(file(at(f, "/cpuset/hull"), "cpuset.cpus"), "0-3");
	assert_string_equal(file(at(f, "/cpuset/hull"), "cpuset.mems"), "0");
	assert_string_equal(file(at(f, "/cpuset/hull/c1"), "cpuset.cpus"), "0-3");
	assert_string_equal(file(at(f, "/cpuset/hull/c1"), "cpuset.mems"), "0");
	assert_int_equal(ctr_cgroup_set(&cg, &r, err, sizeof(err)), 0);
	assert_string_equal(file(at(f, "/cpu,cpuacct/hull/c1"), "cpu.cfs_period_us"), "100000");
	assert_string_equal(file(at(f, "/cpu,cpuacct/hull/c1"), "cpu.cfs_quota_us"), "150000");
	assert_string_equal(file(at(f, "/cpu,cpuacct/hull/c1"), "cpu.shares"), "999");
	assert_string_equal(file(at(f, "/cpuset/hull/c1"), "cpuset.cpus"), "1");
	assert_string_equal(file(at(f, "/cpuset/hull/c1"), "cpuset.mems"), "0");
	assert_string_equal(file(at(f, "/memory/hull/c1"), "memory.limit_in_bytes"), "1073741824");
	/* v1 limits memory+swap together. */
	assert_string_equal(file(at(f, "/memory/hull/c1"), "memory.memsw.limit_in_bytes"),
			    "1342177280");
	assert_string_equal(file(at(f, "/memory/hull/c1"), "memory.soft_limit_in_bytes"),
			    "134217728");
	assert_string_equal(file(at(f, "/pids/hull/c1"), "pids.max"), "99");
	/* Lowering, then raising, with swap: both orders end with both values. */
	r = (struct ctr_resources){ .mem_max = 1 << 29, .has_mem_max = true, .swap_max = 0,
				    .has_swap_max = true };
	assert_int_equal(ctr_cgroup_set(&cg, &r, err, sizeof(err)), 0);
	assert_string_equal(file(at(f, "/memory/hull/c1"), "memory.limit_in_bytes"), "536870912");
	assert_string_equal(file(at(f, "/memory/hull/c1"), "memory.memsw.limit_in_bytes"),
			    "536870912");
	r.mem_max = 1ull << 31;
	assert_int_equal(ctr_cgroup_set(&cg, &r, err, sizeof(err)), 0);
	assert_string_equal(file(at(f, "/memory/hull/c1"), "memory.memsw.limit_in_bytes"),
			    "2147483648");
	/* No limit: -1 in v1's cpu and memory files, "max" in pids.max. */
	r = (struct ctr_resources){ .cpu_quota = UINT64_MAX, .has_cpu_quota = true,
				    .mem_max = UINT64_MAX, .has_mem_max = true,
				    .swap_max = UINT64_MAX, .has_swap_max = true,
				    .pids_max = UINT64_MAX, .has_pids_max = true };
	assert_int_equal(ctr_cgroup_set(&cg, &r, err, sizeof(err)), 0);
	assert_string_equal(file(at(f, "/cpu,cpuacct/hull/c1"), "cpu.cfs_quota_us"), "-1");
	assert_string_equal(file(at(f, "/memory/hull/c1"), "memory.limit_in_bytes"), "-1");
	assert_string_equal(file(at(f, "/memory/hull/c1"), "memory.memsw.limit_in_bytes"), "-1");
	assert_string_equal(file(at(f, "/pids/hull/c1"), "pids.max"), "max");
	r = (struct ctr_resources){ .swap_max = 1, .has_swap_max = true };
	assert_int_equal(ctr_cgroup_set(&cg, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "a swap limit needs a memory limit"));
	/* Each hierarchy gets the process. */
	assert_int_equal(ctr_cgroup_enter(&cg, 77, err, sizeof(err)), 0);
	assert_string_equal(file(at(f, "/cpu,cpuacct/hull/c1"), "cgroup.procs"), "77");
	assert_string_equal(file(at(f, "/cpuset/hull/c1"), "cgroup.procs"), "77");
	assert_string_equal(file(at(f, "/memory/hull/c1"), "cgroup.procs"), "77");
	assert_string_equal(file(at(f, "/pids/hull/c1"), "cgroup.procs"), "77");
	assert_int_equal(ctr_cgroup_leave(&cg, 77, err, sizeof(err)), 0);
	assert_string_equal(file(at(f, "/memory/process_api/7abb"), "cgroup.procs"), "77");
	ctr_cgroup_close(&cg);
	fake_free(f);
}

static void test_v1_remove(void **state)
{
	struct fake *f = fake_v1();
	struct ctr_cgroup cg;

	(void)state;
	assert_int_equal(ctr_cgroup_open(&f->env, "/hull/c1", false, &cg, err, sizeof(err)), 0);
	assert_int_equal(ctr_cgroup_create(&cg, err, sizeof(err)), 0);
	assert_int_equal(ctr_cgroup_remove(&cg, err, sizeof(err)), 0);
	assert_int_equal(f->rmdirs, 4);
	assert_int_equal(access(at(f, "/memory/hull/c1"), F_OK), -1);
	assert_int_equal(access(at(f, "/memory/hull"), F_OK), 0);
	ctr_cgroup_close(&cg);
	fake_free(f);
}

/* A controller hull needs that no hierarchy holds: named when a limit needs it. */
static void test_v1_missing(void **state)
{
	struct fake *f = fake_v1();
	struct ctr_resources r = { .pids_max = 5, .has_pids_max = true };
	struct ctr_cgroup cg;
	char *p = strstr(f->mountinfo, "rw,pids");

	(void)state;
	memcpy(p, "rw,xxxx", 7);
	assert_int_equal(ctr_cgroup_open(&f->env, "/hull/c1", false, &cg, err, sizeof(err)), 0);
	assert_int_equal(cg.nh, 3);
	assert_int_equal(ctr_cgroup_create(&cg, err, sizeof(err)), 0);
	assert_int_equal(ctr_cgroup_set(&cg, &r, err, sizeof(err)), -ENOENT);
	if (!strstr(err, "cgroup /hull/c1: no pids controller mounted under"))
		fail_msg("%s", err);
	ctr_cgroup_close(&cg);
	/* No cgroup filesystem at all. */
	snprintf(f->mountinfo, sizeof(f->mountinfo), "22 1 0:21 / /sys rw - sysfs sysfs rw\n");
	assert_int_equal(ctr_cgroup_open(&f->env, "/hull", false, &cg, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no cgroup filesystem at"));
	/* A ".." is refused as such whatever is mounted, not as a missing filesystem. */
	assert_int_equal(ctr_cgroup_open(&f->env, "/hull/../..", false, &cg, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "cgroup path /hull/../..: a \"..\" component leaves the hierarchy");
	fake_free(f);
}

/* --- pure parts ----------------------------------------------------------------------------- */

static void test_systemd_path(void **state)
{
	static const char *const good[][2] = {
		{ "system.slice:docker:abc", "/system.slice/docker-abc.scope" },
		{ ":runc:abc", "/system.slice/runc-abc.scope" },
		{ "machine.slice:libpod:1f2e", "/machine.slice/libpod-1f2e.scope" },
		{ "user-1000.slice:podman:x", "/user.slice/user-1000.slice/podman-x.scope" },
		{ "a-b-c.slice:p:n", "/a.slice/a-b.slice/a-b-c.slice/p-n.scope" },
		{ "-.slice:p:n", "/p-n.scope" },
		{ "kubepods.slice:cri:pod1.slice", "/kubepods.slice/pod1.slice" },
		{ "system.slice::abc", "/system.slice/-abc.scope" },
	};
	static const char *const bad[] = {
		"system.slice:docker",  "a:b:c:d",     "system:p:n",     ".slice:p:n",
		"a/b.slice:p:n",        "a--b.slice:p:n", "-a.slice:p:n", "a-.slice:p:n",
		"system.slice:p:",      "system.slice:p:a/b", "system.slice:a/b:n",
	};
	char out[PATH_MAX], small[16];
	unsigned int i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(good); i++) {
		if (ctr_cg_systemd_path(good[i][0], out, sizeof(out), err, sizeof(err)))
			fail_msg("%s: %s", good[i][0], err);
		if (strcmp(out, good[i][1]))
			fail_msg("%s: %s, want %s", good[i][0], out, good[i][1]);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		if (ctr_cg_systemd_path(bad[i], out, sizeof(out), err, sizeof(err)) != -EINVAL)
			fail_msg("%s: accepted as %s", bad[i], out);
	/* hull run tells the form from a cgroupfs path by its shape. */
	for (i = 0; i < ARRAY_SIZE(good); i++)
		assert_true(ctr_cg_systemd_form(good[i][0]));
	assert_true(ctr_cg_systemd_form("system.slice:p:"));
	assert_false(ctr_cg_systemd_form("/system.slice:docker:abc"));
	assert_false(ctr_cg_systemd_form("system.slice:docker"));
	assert_false(ctr_cg_systemd_form("a:b:c:d"));
	assert_false(ctr_cg_systemd_form("hull/c1"));
	assert_false(ctr_cg_systemd_form("/hull/c1"));
	assert_int_equal(ctr_cg_systemd_path("system.slice:docker:abc", small, sizeof(small), err,
					     sizeof(err)),
			 -ENAMETOOLONG);
}

/* v1's shares from v2's weight: runc's conversion takes them back to the same weight. */
static void test_shares(void **state)
{
	uint64_t shares, w;

	(void)state;
	assert_int_equal(ctr_cg_shares(1), 2);
	assert_int_equal(ctr_cg_shares(10000), 262144);
	assert_int_equal(ctr_cg_shares(0), 2);
	assert_int_equal(ctr_cg_shares(20000), 262144);
	for (shares = 2; shares <= 262144; shares += 7) {
		w = 1 + (shares - 2) * 9999 / 262142;
		assert_int_equal(1 + (ctr_cg_shares(w) - 2) * 9999 / 262142, w);
		assert_true(ctr_cg_shares(w) <= shares);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v2_open),       cmocka_unit_test(test_v2_create),
		cmocka_unit_test(test_v2_set),        cmocka_unit_test(test_v2_enter_remove),
		cmocka_unit_test(test_v1_open),       cmocka_unit_test(test_v1_mount_root),
		cmocka_unit_test(test_v1_create_set), cmocka_unit_test(test_v1_remove),
		cmocka_unit_test(test_v1_missing),    cmocka_unit_test(test_systemd_path),
		cmocka_unit_test(test_shares),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
