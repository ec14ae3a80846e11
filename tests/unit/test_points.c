/* Unit tests for the mount points hull makes in a read-only root on the host (points.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "container/points.h"

/* dir/rootfs is the container's root, dir/outside what its absolute symlinks must not reach. */
static char dir[64], root[128], outside[128];
static char err[512];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/hull-points-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(root, sizeof(root), "%s/rootfs", dir);
	snprintf(outside, sizeof(outside), "%s/outside", dir);
	return mkdir(root, 0755) || mkdir(outside, 0755) ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void in_root(char *buf, size_t size, const char *path)
{
	snprintf(buf, size, "%s%s", root, path);
}

static mode_t kind(const char *path)
{
	char p[PATH_MAX];
	struct stat st;

	in_root(p, sizeof(p), path);
	return lstat(p, &st) ? 0 : st.st_mode & S_IFMT;
}

#define M(d, t, s) { .dest = (char[]){ d }, .type = (char[]){ t }, .source = (char[]){ s } }

/* Whether this kernel (and Valgrind, when under it) has openat2: points.c falls back without. */
static bool have_openat2(void)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC };
	long fd = syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof(how));

	if (fd >= 0)
		close((int)fd);
	return fd >= 0 || errno != ENOSYS;
}

static void make_file(const char *path, const char *text)
{
	char p[PATH_MAX];
	int fd;

	in_root(p, sizeof(p), path);
	fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void make_dir(const char *path)
{
	char p[PATH_MAX];

	in_root(p, sizeof(p), path);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void make_link(const char *path, const char *target)
{
	char p[PATH_MAX];

	in_root(p, sizeof(p), path);
	assert_int_equal(symlink(target, p), 0);
}

static void test_made_where_missing(void **state)
{
	struct ctr_mount mounts[] = {
		M("/proc", "proc", "proc"),	   M("/dev", "tmpfs", "tmpfs"),
		M("/dev/pts", "devpts", "devpts"), M("/scratch", "tmpfs", "tmpfs"),
		M("/a/b/c", "bind", "m0"),	   M("/etc/app.txt", "bind", "m1"),
		M("/scratch/sub", "tmpfs", "x"),   M("//etc//conf.d/", "bind", "m0"),
	};
	struct ctr_share_entry entries[] = { { .name = "m0" }, { .name = "m1", .is_file = true } };
	struct ctr_spec s = { .mounts = mounts, .nmounts = 8 };
	struct ctr_plan p = { .entries = entries, .nentries = 2 };
	char path[PATH_MAX];
	struct stat st;

	(void)state;
	make_dir("/etc");
	make_file("/etc/passwd", "root\n");
	assert_int_equal(ctr_mount_points(root, &s, &p, err, sizeof(err)), 0);
	assert_int_equal(kind("/proc"), S_IFDIR);
	assert_int_equal(kind("/dev"), S_IFDIR);
	/* Below an earlier mount: that filesystem holds it, in the guest. */
	assert_int_equal(kind("/dev/pts"), 0);
	assert_int_equal(kind("/scratch"), S_IFDIR);
	assert_int_equal(kind("/scratch/sub"), 0);
	assert_int_equal(kind("/a/b/c"), S_IFDIR);
	assert_int_equal(kind("/etc/app.txt"), S_IFREG);
	assert_int_equal(kind("/etc/conf.d"), S_IFDIR);
	/* What was there is left as it was; a second pass changes nothing. */
	assert_int_equal(ctr_mount_points(root, &s, &p, err, sizeof(err)), 0);
	in_root(path, sizeof(path), "/etc/passwd");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 5);
}

static void test_symlinks(void **state)
{
	struct ctr_mount mounts[] = { M("/var/run/x", "tmpfs", "tmpfs"), M("/esc/y", "bind", "m0") };
	struct ctr_share_entry entries[] = { { .name = "m0", .is_file = true } };
	struct ctr_spec s = { .mounts = mounts, .nmounts = 2 };
	struct ctr_plan p = { .entries = entries, .nentries = 1 };
	char path[PATH_MAX], cmd[PATH_MAX + 32];

	(void)state;
	/* /var/run a relative symlink; /esc an absolute one to the host's outside directory. */
	make_dir("/var");
	make_dir("/run");
	make_link("/var/run", "../run");
	make_link("/esc", outside);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s%s'", root, outside);
	assert_int_equal(system(cmd), 0);
	if (have_openat2()) {
		/* Resolved inside the root: /var/run/x is its /run/x, /esc/y its own path of outside. */
		assert_int_equal(ctr_mount_points(root, &s, &p, err, sizeof(err)), 0);
		assert_int_equal(kind("/var/run"), S_IFLNK);
		assert_int_equal(kind("/run/x"), S_IFDIR);
		snprintf(path, sizeof(path), "%s/y", outside);
		assert_int_equal(kind(path), S_IFREG);
	} else {
		/* Without openat2 a symlink on the way is refused. */
		assert_int_equal(ctr_mount_points(root, &s, &p, err, sizeof(err)), -ELOOP);
		assert_non_null(strstr(err, "mount /var/run/x: "));
		assert_int_equal(kind("/run/x"), 0);
		s.mounts = &mounts[1];
		s.nmounts = 1;
		assert_int_equal(ctr_mount_points(root, &s, &p, err, sizeof(err)), -ELOOP);
	}
	/* Never the host's outside. */
	snprintf(path, sizeof(path), "%s/y", outside);
	assert_int_equal(access(path, F_OK), -1);
}

static void test_refused(void **state)
{
	struct ctr_mount mounts[] = { M("/etc/passwd/x", "tmpfs", "tmpfs") };
	struct ctr_spec s = { .mounts = mounts, .nmounts = 1 };
	struct ctr_plan p = { 0 };
	char path[PATH_MAX];
	int r;

	(void)state;
	make_dir("/etc");
	make_file("/etc/passwd", "");
	assert_int_equal(ctr_mount_points(root, &s, &p, err, sizeof(err)), -ENOTDIR);
	assert_non_null(strstr(err, "mount /etc/passwd/x: its mount point in the read-only root "));
	assert_non_null(strstr(err, "Not a directory"));
	/* A dangling symlink on the way is not followed out of the root, nor made: an error. */
	make_link("/dangling", "/nowhere");
	mounts[0].dest = (char[]){ "/dangling/x" };
	r = ctr_mount_points(root, &s, &p, err, sizeof(err));
	assert_int_equal(r, have_openat2() ? -ENOENT : -ELOOP);
	assert_non_null(strstr(err, "mount /dangling/x: "));
	assert_int_equal(access("/nowhere", F_OK), -1);
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(ctr_mount_points(path, &s, &p, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "No such file or directory"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_made_where_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
