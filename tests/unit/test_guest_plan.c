/* Unit tests for hull-init's mount plan: defaults, spec mounts, devices, masked and read-only paths. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "container/guest/guest.h"

/* The spec's strings are mutable char *: literals go in through this. */
#define S(lit) ((char *)(uintptr_t)(lit))

/* The mounts share's entries in these tests: "data" and "conf" are directories, others files. */
static int fake_isdir(const char *path, void *ctx)
{
	int *calls = ctx;

	if (calls)
		(*calls)++;
	if (!strcmp(path, GI_SHARE "/data") || !strcmp(path, GI_SHARE "/conf"))
		return 1;
	if (!strcmp(path, GI_SHARE "/missing"))
		return -ENOENT;
	return 0;
}

static const struct gi_step *find(const struct gi_plan *p, enum gi_step_kind kind,
				  const char *target)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (p->steps[i].kind == kind && !strcmp(p->steps[i].target, target))
			return &p->steps[i];
	return NULL;
}

static size_t index_of(const struct gi_plan *p, const struct gi_step *s)
{
	return (size_t)(s - p->steps);
}

static size_t count(const struct gi_plan *p, const char *target)
{
	size_t i, n = 0;

	for (i = 0; i < p->n; i++)
		n += !strcmp(p->steps[i].target, target);
	return n;
}

static void build(const struct ctr_spec *s, struct gi_plan *p)
{
	char err[256];
	int r = gi_plan_build(s, fake_isdir, NULL, p, err, sizeof(err));

	if (r)
		fail_msg("gi_plan_build: %d (%s)", r, err);
}

static void build_err(const struct ctr_spec *s, const char *want)
{
	struct gi_plan p;
	char err[256] = "";

	assert_int_equal(gi_plan_build(s, fake_isdir, NULL, &p, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not say \"%s\"", err, want);
	assert_null(p.steps);
	assert_int_equal(p.n, 0);
}

static void test_defaults_unprivileged(void **state)
{
	struct ctr_spec s = { 0 };
	const char *order[] = { "/proc", "/sys", "/sys/fs/cgroup", "/dev", "/dev/pts", "/dev/shm",
				"/dev/mqueue" };
	const struct gi_step *st;
	struct gi_plan p;
	size_t i;

	(void)state;
	build(&s, &p);
	for (i = 0; i < 7; i++) {
		assert_int_equal(p.steps[i].kind, GI_MOUNT);
		assert_string_equal(p.steps[i].target, order[i]);
	}
	assert_string_equal(p.steps[3].fstype, "tmpfs");
	assert_true(p.steps[1].flags & MS_RDONLY); /* /sys */
	assert_true(p.steps[2].flags & MS_RDONLY); /* /sys/fs/cgroup */
	assert_false(p.steps[0].flags & MS_RDONLY);
	assert_non_null(strstr(p.steps[4].data, "newinstance"));
	assert_non_null(strstr(p.steps[4].data, "ptmxmode=0666"));
	/* The OCI default device set, after /dev's tmpfs. */
	st = find(&p, GI_MKNOD, "/dev/null");
	assert_non_null(st);
	assert_true(index_of(&p, st) > 3);
	assert_int_equal(st->mode, S_IFCHR | 0666);
	assert_int_equal(st->dev, makedev(1, 3));
	st = find(&p, GI_MKNOD, "/dev/urandom");
	assert_non_null(st);
	assert_int_equal(st->dev, makedev(1, 9));
	st = find(&p, GI_MKNOD, "/dev/tty");
	assert_non_null(st);
	assert_int_equal(st->dev, makedev(5, 0));
	assert_non_null(find(&p, GI_MKNOD, "/dev/zero"));
	assert_non_null(find(&p, GI_MKNOD, "/dev/full"));
	assert_non_null(find(&p, GI_MKNOD, "/dev/random"));
	st = find(&p, GI_SYMLINK, "/dev/ptmx");
	assert_non_null(st);
	assert_string_equal(st->source, "pts/ptmx");
	st = find(&p, GI_SYMLINK, "/dev/stderr");
	assert_non_null(st);
	assert_string_equal(st->source, "/proc/self/fd/2");
	assert_non_null(find(&p, GI_SYMLINK, "/dev/fd"));
	st = find(&p, GI_BIND, "/dev/console");
	assert_non_null(st);
	assert_string_equal(st->source, "/dev/null");
	assert_int_equal(st->mp, GI_MP_FILE);
	gi_plan_free(&p);
	assert_null(p.steps);
}

static void test_defaults_privileged(void **state)
{
	struct ctr_spec s = { .privileged = true };
	char *masked[] = { S("/proc/kcore") };
	const struct gi_step *st;
	struct gi_plan p;

	(void)state;
	s.masked = masked;
	s.nmasked = 1;
	s.readonly = masked;
	s.nreadonly = 1;
	build(&s, &p);
	/* Every guest device: the guest's devtmpfs, no device set of our own. */
	st = find(&p, GI_BIND, "/dev");
	assert_non_null(st);
	assert_string_equal(st->source, "/dev");
	assert_true(st->flags & MS_REC);
	assert_null(find(&p, GI_MOUNT, "/dev"));
	assert_null(find(&p, GI_MKNOD, "/dev/null"));
	assert_null(find(&p, GI_BIND, "/dev/console"));
	assert_non_null(find(&p, GI_MOUNT, "/dev/pts"));
	/* /sys and cgroup read-write; no masked or read-only paths. */
	assert_false(find(&p, GI_MOUNT, "/sys")->flags & MS_RDONLY);
	assert_false(find(&p, GI_MOUNT, "/sys/fs/cgroup")->flags & MS_RDONLY);
	assert_null(find(&p, GI_MASK, "/proc/kcore"));
	assert_null(find(&p, GI_READONLY, "/proc/kcore"));
	gi_plan_free(&p);
}

static void test_spec_mounts_in_order(void **state)
{
	struct ctr_mount m[] = {
		{ .dest = S("/data"), .type = S("bind"), .source = S("data"), .flags = MS_REC },
		{ .dest = S("/etc/app.conf"), .type = S("bind"), .source = S("appconf"),
		  .flags = MS_RDONLY | MS_NOSUID },
		{ .dest = S("/tmp"), .type = S("tmpfs"), .source = S("tmpfs"), .flags = MS_NOSUID,
		  .data = S("size=1m") },
		{ .dest = S("/sub"), .type = S("bind"), .source = S("conf"), .flags = MS_BIND | MS_RDONLY,
		  .propagation = MS_PRIVATE },
	};
	struct ctr_spec s = { .mounts = m, .nmounts = 4, .mounts_tag = S("mounts") };
	const struct gi_step *a, *b, *c, *d;
	struct gi_plan p;
	int calls = 0;
	char err[128];

	(void)state;
	assert_int_equal(gi_plan_build(&s, fake_isdir, &calls, &p, err, sizeof(err)), 0);
	assert_int_equal(calls, 3); /* each bind entry's kind asked once */
	a = find(&p, GI_BIND, "/data");
	b = find(&p, GI_BIND, "/etc/app.conf");
	c = find(&p, GI_MOUNT, "/tmp");
	d = find(&p, GI_BIND, "/sub");
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_non_null(d);
	/* After every default, in the spec's order. */
	assert_true(index_of(&p, a) > index_of(&p, find(&p, GI_BIND, "/dev/console")));
	assert_true(index_of(&p, a) < index_of(&p, b));
	assert_true(index_of(&p, b) < index_of(&p, c));
	assert_true(index_of(&p, c) < index_of(&p, d));
	/* A bind's source is its entry in the share; a file entry gets a file mount point. */
	assert_string_equal(a->source, GI_SHARE "/data");
	assert_int_equal(a->mp, GI_MP_DIR);
	assert_int_equal(a->flags, MS_REC);
	assert_string_equal(b->source, GI_SHARE "/appconf");
	assert_int_equal(b->mp, GI_MP_FILE);
	assert_int_equal(b->flags, MS_RDONLY | MS_NOSUID); /* the remount's flags */
	assert_int_equal(d->flags, MS_RDONLY);		    /* MS_BIND is the step's own */
	assert_int_equal(d->propagation, MS_PRIVATE);
	assert_string_equal(c->fstype, "tmpfs");
	assert_string_equal(c->data, "size=1m");
	assert_int_equal(c->mp, GI_MP_DIR);
	gi_plan_free(&p);
}

static void test_spec_replaces_default(void **state)
{
	struct ctr_mount m[] = {
		{ .dest = S("/proc"), .type = S("proc"), .source = S("proc"), .flags = MS_NOSUID },
		{ .dest = S("/sys/fs/cgroup"), .type = S("cgroup"), .source = S("cgroup"),
		  .flags = MS_RDONLY | MS_NOEXEC },
		{ .dest = S("/dev/shm"), .type = S("tmpfs"), .source = S("shm"), .data = S("size=1g") },
		/* Another type on a default's destination mounts over it. */
		{ .dest = S("/dev"), .type = S("bind"), .source = S("devdir") },
	};
	struct ctr_spec s = { .mounts = m, .nmounts = 4, .mounts_tag = S("mounts") };
	const struct gi_step *st;
	struct gi_plan p;

	(void)state;
	build(&s, &p);
	assert_int_equal(count(&p, "/proc"), 1);
	st = find(&p, GI_MOUNT, "/proc");
	assert_int_equal(index_of(&p, st), 0);
	assert_int_equal(st->flags, MS_NOSUID);
	assert_int_equal(count(&p, "/sys/fs/cgroup"), 1);
	st = find(&p, GI_MOUNT, "/sys/fs/cgroup");
	assert_string_equal(st->fstype, "cgroup2");
	assert_int_equal(st->flags, MS_RDONLY | MS_NOEXEC);
	st = find(&p, GI_MOUNT, "/dev/shm");
	assert_string_equal(st->data, "size=1g");
	assert_string_equal(st->source, "shm");
	assert_int_equal(count(&p, "/dev"), 2);
	gi_plan_free(&p);
}

static void test_devices_masked_readonly(void **state)
{
	struct ctr_device d[] = {
		{ .path = S("/dev/fuse"), .type = 'c', .major = 10, .minor = 229, .mode = 0666 },
		{ .path = S("/dev/disk0"), .type = 'b', .major = 254, .minor = 16, .mode = 0660,
		  .uid = 0, .gid = 6, .guest_source = S("/dev/vdb") },
		{ .path = S("/run/fifo"), .type = 'p', .major = 1, .minor = 1, .mode = 0600,
		  .uid = 1000, .gid = 1000 },
	};
	char *masked[] = { S("/proc/kcore"), S("/sys/firmware") };
	char *ro[] = { S("/proc/sys") };
	struct ctr_mount m[] = { { .dest = S("/proc/sys"), .type = S("tmpfs"), .source = S("x") } };
	struct ctr_spec s = { .devices = d, .ndevices = 3, .masked = masked, .nmasked = 2,
			      .readonly = ro, .nreadonly = 1, .mounts = m, .nmounts = 1 };
	const struct gi_step *fuse, *disk, *fifo, *k, *fw, *r, *mnt;
	struct gi_plan p;

	(void)state;
	build(&s, &p);
	fuse = find(&p, GI_MKNOD, "/dev/fuse");
	disk = find(&p, GI_BIND, "/dev/disk0");
	fifo = find(&p, GI_MKNOD, "/run/fifo");
	k = find(&p, GI_MASK, "/proc/kcore");
	fw = find(&p, GI_MASK, "/sys/firmware");
	r = find(&p, GI_READONLY, "/proc/sys");
	mnt = find(&p, GI_MOUNT, "/proc/sys");
	assert_non_null(fuse);
	assert_non_null(disk);
	assert_non_null(fifo);
	assert_non_null(k);
	assert_non_null(fw);
	assert_non_null(r);
	assert_int_equal(fuse->mode, S_IFCHR | 0666);
	assert_int_equal(fuse->dev, makedev(10, 229));
	/* A host block device passed in: the guest's node bound at the spec's path. */
	assert_string_equal(disk->source, "/dev/vdb");
	assert_int_equal(disk->mp, GI_MP_FILE);
	assert_int_equal(disk->mode, S_IFBLK | 0660);
	assert_int_equal(disk->gid, 6);
	assert_int_equal(fifo->mode, S_IFIFO | 0600);
	assert_int_equal(fifo->dev, 0);
	assert_int_equal(fifo->uid, 1000);
	/* Mounts, then devices, then masked paths, then read-only paths. */
	assert_true(index_of(&p, mnt) < index_of(&p, fuse));
	assert_true(index_of(&p, fifo) < index_of(&p, k));
	assert_true(index_of(&p, k) < index_of(&p, fw));
	assert_true(index_of(&p, fw) < index_of(&p, r));
	assert_int_equal(r, &p.steps[p.n - 1]);
	gi_plan_free(&p);
}

static void test_refusals(void **state)
{
	struct ctr_mount m = { .dest = S("/x"), .type = S("bind"), .source = S("data") };
	struct ctr_device d = { .path = S("/dev/x"), .type = 'c' };
	char *bad[] = { S("relative") };
	struct ctr_spec s = { .mounts = &m, .nmounts = 1 };
	struct gi_plan p;
	char err[128];

	(void)state;
	build_err(&s, "mount /x: a bind mount but the spec names no mounts share");
	s.mounts_tag = S("mounts");
	m.dest = S("relative/x");
	build_err(&s, "mount relative/x: the destination must be an absolute path");
	m.dest = S("/a/../../etc");
	build_err(&s, "mount /a/../../etc: the destination");
	m.dest = S("/a/./b");
	build_err(&s, "mount /a/./b: the destination");
	m.dest = S("/x");
	m.source = S("../etc");
	build_err(&s, "mount /x: bad entry name");
	m.source = S("a/b");
	build_err(&s, "mount /x: bad entry name");
	m.source = S("..");
	build_err(&s, "mount /x: bad entry name");
	m.source = S("missing");
	assert_int_equal(gi_plan_build(&s, fake_isdir, NULL, &p, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "mount /x: entry missing of the mounts share"));
	m.type = S("nfs");
	m.source = S("server:/x");
	build_err(&s, "mount /x: type nfs is not one hull-init makes");
	m.type = S("overlay");
	build_err(&s, "type overlay");
	s.nmounts = 0;
	s.devices = &d;
	s.ndevices = 1;
	d.type = 'x';
	build_err(&s, "device /dev/x: type must be c, b or p");
	d.type = 'b';
	d.guest_source = S("/etc/shadow");
	build_err(&s, "device /dev/x: guest source /etc/shadow is not a path below /dev");
	d.guest_source = S("/dev/../etc/shadow");
	build_err(&s, "guest source /dev/../etc/shadow");
	d.guest_source = NULL;
	d.path = S("dev/x");
	build_err(&s, "device dev/x: the path must be absolute");
	s.ndevices = 0;
	s.masked = bad;
	s.nmasked = 1;
	build_err(&s, "masked path relative");
	s.nmasked = 0;
	s.readonly = bad;
	s.nreadonly = 1;
	build_err(&s, "read-only path relative");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_unprivileged),
		cmocka_unit_test(test_defaults_privileged),
		cmocka_unit_test(test_spec_mounts_in_order),
		cmocka_unit_test(test_spec_replaces_default),
		cmocka_unit_test(test_devices_masked_readonly),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
