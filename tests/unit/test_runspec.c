/* Unit tests for `hull run`'s default spec and each of its flags, good values and bad. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/plan.h"
#include "container/runspec.h"

/* A scratch rootfs, a host directory and a host file to bind. */
static char dir[64], rootfs[128], hdir[128], hfile[128];
static char err[512];
static const char *const sh[] = { "/bin/sh", "-c", "" };

static int setup(void **state)
{
	char real[PATH_MAX];
	int fd;

	(void)state;
	strcpy(dir, "/tmp/hull-run-XXXXXX");
	if (!mkdtemp(dir) || !realpath(dir, real) || strlen(real) > 100)
		return -1;
	snprintf(rootfs, sizeof(rootfs), "%.100s/rootfs", real);
	snprintf(hdir, sizeof(hdir), "%.100s/hostdir", real);
	snprintf(hfile, sizeof(hfile), "%.100s/hostfile", real);
	if (mkdir(rootfs, 0755) || mkdir(hdir, 0755))
		return -1;
	fd = open(hfile, O_CREAT | O_WRONLY, 0644);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct ctr_run_opts opts(void)
{
	return (struct ctr_run_opts){ .rootfs = rootfs, .args = sh, .nargs = 3 };
}

static void run_ok(const struct ctr_run_opts *o, struct ctr_bundle *b)
{
	err[0] = '\0';
	if (ctr_run_bundle(o, b, err, sizeof(err)))
		fail_msg("refused: %s", err);
}

static void run_refused(const struct ctr_run_opts *o, const char *want)
{
	static const struct ctr_bundle zero;
	struct ctr_bundle b;
	int ret;

	err[0] = '\0';
	ret = ctr_run_bundle(o, &b, err, sizeof(err));
	if (!ret)
		fail_msg("accepted; wanted \"%s\"", want);
	if (ret > 0 || !strstr(err, want))
		fail_msg("message \"%s\" lacks \"%s\"", err, want);
	assert_memory_equal(&b, &zero, sizeof(b));
}

static const struct ctr_bmount *find_mount(const struct ctr_bundle *b, const char *dest)
{
	unsigned int i;

	for (i = 0; i < b->nmounts; i++)
		if (!strcmp(b->mounts[i].dest, dest))
			return &b->mounts[i];
	fail_msg("no mount on %s", dest);
	return NULL;
}

/* The bundle plans, and its spec is what hull-init decodes. */
static void plans(const struct ctr_bundle *b)
{
	struct ctr_spec s, t;
	struct ctr_plan p;
	uint8_t *enc;
	size_t len;

	if (ctr_plan_build(b, 0, &s, &p, err, sizeof(err)))
		fail_msg("plan: %s", err);
	assert_int_equal(ctr_spec_encode(&s, &enc, &len), 0);
	assert_int_equal(ctr_spec_decode(enc, len, &t), 0);
	free(enc);
	ctr_spec_free(&t);
	ctr_spec_free(&s);
	ctr_plan_free(&p);
}

static void test_defaults(void **state)
{
	const uint64_t caps = 1ull << CAP_AUDIT_WRITE | 1ull << CAP_KILL | 1ull << CAP_NET_BIND_SERVICE;
	struct ctr_run_opts o = opts();
	const struct ctr_bmount *m;
	struct ctr_bundle b;

	(void)state;
	run_ok(&o, &b);
	assert_string_equal(b.root, rootfs);
	assert_false(b.root_ro);
	assert_null(b.dir);
	assert_false(b.privileged);
	assert_string_equal(b.hostname, "hull");
	assert_int_equal(b.process.nargs, 3);
	assert_string_equal(b.process.args[2], "");
	assert_int_equal(b.process.nenv, 1);
	assert_string_equal(b.process.env[0], CTR_RUN_PATH);
	assert_string_equal(b.process.cwd, "/");
	assert_int_equal(b.process.uid, 0);
	assert_int_equal(b.process.gid, 0);
	assert_false(b.process.terminal);
	assert_true(b.process.no_new_privs);
	assert_true(b.process.caps[CTR_CAP_BOUNDING] == caps);
	assert_true(b.process.caps[CTR_CAP_EFFECTIVE] == caps);
	assert_true(b.process.caps[CTR_CAP_PERMITTED] == caps);
	assert_true(b.process.caps[CTR_CAP_INHERITABLE] == 0);
	assert_true(b.process.caps[CTR_CAP_AMBIENT] == 0);
	assert_int_equal(b.process.nrlimits, 1);
	assert_int_equal(b.process.rlimits[0].resource, RLIMIT_NOFILE);
	assert_int_equal(b.process.rlimits[0].soft, 1024);
	assert_int_equal(b.process.rlimits[0].hard, 1024);
	assert_int_equal(b.nmounts, 7);
	m = find_mount(&b, "/proc");
	assert_string_equal(m->type, "proc");
	assert_true(m->flags == 0);
	m = find_mount(&b, "/dev");
	assert_string_equal(m->type, "tmpfs");
	assert_true(m->flags == (MS_NOSUID | MS_STRICTATIME));
	assert_string_equal(m->data, "mode=755,size=65536k");
	m = find_mount(&b, "/dev/pts");
	assert_string_equal(m->data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
	m = find_mount(&b, "/dev/shm");
	assert_string_equal(m->source, "shm");
	m = find_mount(&b, "/dev/mqueue");
	assert_string_equal(m->type, "mqueue");
	m = find_mount(&b, "/sys");
	assert_true(m->flags == (MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY));
	m = find_mount(&b, "/sys/fs/cgroup");
	assert_true(m->flags & MS_RDONLY);
	assert_int_equal(b.nmasked, 11);
	assert_string_equal(b.masked[0], "/proc/acpi");
	assert_int_equal(b.nreadonly, 5);
	assert_string_equal(b.readonly[3], "/proc/sys");
	plans(&b);
	ctr_bundle_free(&b);
}

static void test_tty_read_only(void **state)
{
	struct ctr_run_opts o = opts();
	struct ctr_bundle b;

	(void)state;
	o.tty = true;
	o.read_only = true;
	run_ok(&o, &b);
	assert_true(b.process.terminal);
	assert_int_equal(b.process.nenv, 2);
	assert_string_equal(b.process.env[1], "TERM=xterm");
	assert_true(b.root_ro);
	ctr_bundle_free(&b);
}

static void test_env(void **state)
{
	const char *env[] = { "A=1", "PATH=/opt/bin", "B=", "A=2=3" };
	struct ctr_run_opts o = opts();
	struct ctr_bundle b;

	(void)state;
	o.env = env;
	o.nenv = 4;
	o.tty = true;
	run_ok(&o, &b);
	assert_int_equal(b.process.nenv, 4);
	assert_string_equal(b.process.env[0], "PATH=/opt/bin");
	assert_string_equal(b.process.env[1], "TERM=xterm");
	assert_string_equal(b.process.env[2], "A=2=3");
	assert_string_equal(b.process.env[3], "B=");
	plans(&b);
	ctr_bundle_free(&b);

	env[1] = "NOEQUALS";
	run_refused(&o, "--env NOEQUALS: expected K=V");
	env[1] = "=v";
	run_refused(&o, "--env =v: expected K=V");
}

static void test_workdir_user_hostname(void **state)
{
	struct ctr_run_opts o = opts();
	struct ctr_bundle b;

	(void)state;
	o.workdir = "/srv/app";
	o.user = "1000";
	o.hostname = "web-1";
	run_ok(&o, &b);
	assert_string_equal(b.process.cwd, "/srv/app");
	assert_int_equal(b.process.uid, 1000);
	assert_int_equal(b.process.gid, 0);
	assert_string_equal(b.hostname, "web-1");
	ctr_bundle_free(&b);
	o.user = "65534:65533";
	run_ok(&o, &b);
	assert_int_equal(b.process.uid, 65534);
	assert_int_equal(b.process.gid, 65533);
	ctr_bundle_free(&b);
	o.user = "4294967294:0";
	run_ok(&o, &b);
	assert_int_equal(b.process.uid, 4294967294u);
	ctr_bundle_free(&b);

	o = opts();
	o.workdir = "srv";
	run_refused(&o, "--workdir srv: not an absolute path");
	o.workdir = "/srv/../..";
	run_refused(&o, "--workdir /srv/../..: not an absolute path");
	o = opts();
	static const char *const bad_users[] = { "root", "1000:", ":5", "-1", "4294967295",
						 "1:2:3", "", "1000:staff", "0x10" };
	for (unsigned int i = 0; i < sizeof(bad_users) / sizeof(bad_users[0]); i++) {
		o.user = bad_users[i];
		run_refused(&o, "expected UID[:GID]");
	}
	o = opts();
	o.hostname = "a b";
	run_refused(&o, "--hostname a b: 1 to 64");
	o.hostname = "";
	run_refused(&o, "--hostname");
	o.hostname = "12345678901234567890123456789012345678901234567890123456789012345";
	run_refused(&o, "--hostname");
}

static void test_mount(void **state)
{
	char rw[256], ro[256], over[256];
	const char *mounts[3] = { rw, ro, over };
	struct ctr_run_opts o = opts();
	const struct ctr_bmount *m;
	struct ctr_bundle b;

	(void)state;
	snprintf(rw, sizeof(rw), "%s:/data", hdir);
	snprintf(ro, sizeof(ro), "%s:/etc/app.conf:ro", hfile);
	snprintf(over, sizeof(over), "%s:/dev/shm:rw", hdir);
	o.mounts = mounts;
	o.nmounts = 3;
	run_ok(&o, &b);
	assert_int_equal(b.nmounts, 9); /* /dev/shm replaced, not added */
	m = find_mount(&b, "/data");
	assert_string_equal(m->type, "bind");
	assert_string_equal(m->source, hdir);
	assert_false(m->is_file);
	assert_true(m->flags == (MS_BIND | MS_REC));
	assert_int_equal(m->propagation, MS_PRIVATE | MS_REC);
	m = find_mount(&b, "/etc/app.conf");
	assert_string_equal(m->source, hfile);
	assert_true(m->is_file);
	assert_true(m->flags == (MS_BIND | MS_REC | MS_RDONLY));
	m = find_mount(&b, "/dev/shm");
	assert_string_equal(m->type, "bind");
	plans(&b);
	ctr_bundle_free(&b);

	o.nmounts = 1;
	snprintf(rw, sizeof(rw), "relative:/data");
	run_refused(&o, "--mount relative:/data: source relative: not an absolute path");
	snprintf(rw, sizeof(rw), "/nonexistent/src:/data");
	run_refused(&o, "--mount /nonexistent/src:/data: source /nonexistent/src: No such file");
	snprintf(rw, sizeof(rw), "%s", hdir);
	run_refused(&o, "expected SRC:DST[:ro|:rw]");
	snprintf(rw, sizeof(rw), ":/data");
	run_refused(&o, "expected SRC:DST[:ro|:rw]");
	snprintf(rw, sizeof(rw), "%s:data", hdir);
	run_refused(&o, "data is not an absolute path");
	snprintf(rw, sizeof(rw), "%s:/data:rx", hdir);
	run_refused(&o, "expected SRC:DST[:ro|:rw]");
	snprintf(rw, sizeof(rw), "%s:/data:ro:x", hdir);
	run_refused(&o, "expected SRC:DST[:ro|:rw]");
	snprintf(rw, sizeof(rw), "/dev/null:/null");
	run_refused(&o, "not a directory or a regular file");
	/* Two on one destination. */
	snprintf(rw, sizeof(rw), "%s:/data", hdir);
	snprintf(ro, sizeof(ro), "%s:/data:ro", hdir);
	o.nmounts = 2;
	run_refused(&o, "/data is mounted twice");
	snprintf(rw, sizeof(rw), "%s:/dev/shm", hdir);
	snprintf(ro, sizeof(ro), "%s:/dev/shm", hdir);
	run_refused(&o, "/dev/shm is mounted twice");
}

static void test_tmpfs(void **state)
{
	const char *tmpfs[3] = { "/tmp", "/run:size=64m,exec,mode=0700", "/dev" };
	struct ctr_run_opts o = opts();
	const struct ctr_bmount *m;
	struct ctr_bundle b;

	(void)state;
	o.tmpfs = tmpfs;
	o.ntmpfs = 3;
	run_ok(&o, &b);
	assert_int_equal(b.nmounts, 9);
	m = find_mount(&b, "/tmp");
	assert_string_equal(m->type, "tmpfs");
	assert_true(m->flags == (MS_NOSUID | MS_NODEV | MS_NOEXEC));
	assert_null(m->data);
	m = find_mount(&b, "/run");
	assert_true(m->flags == (MS_NOSUID | MS_NODEV));
	assert_string_equal(m->data, "size=64m,mode=0700");
	m = find_mount(&b, "/dev"); /* replaces runc's /dev tmpfs */
	assert_true(m->flags == (MS_NOSUID | MS_NODEV | MS_NOEXEC));
	assert_null(m->data);
	plans(&b);
	ctr_bundle_free(&b);

	o.ntmpfs = 1;
	tmpfs[0] = "tmp";
	run_refused(&o, "--tmpfs tmp: tmp is not an absolute path");
	tmpfs[0] = "/x:idmap";
	run_refused(&o, "--tmpfs /x:idmap: options not supported");
	tmpfs[0] = "/tmp";
	tmpfs[1] = "/tmp:size=1m";
	o.ntmpfs = 2;
	run_refused(&o, "--tmpfs /tmp:size=1m: /tmp is mounted twice");
	tmpfs[0] = "/dev";
	tmpfs[1] = "/dev";
	run_refused(&o, "/dev is mounted twice");
}

static void test_privileged(void **state)
{
	const char *twice[2] = { "/x", "/x" };
	struct ctr_run_opts o = opts();
	struct ctr_bundle b;
	unsigned int k;

	(void)state;
	o.privileged = true;
	run_ok(&o, &b);
	assert_true(b.privileged);
	for (k = 0; k < 5; k++)
		assert_true(b.process.caps[k] == CTR_CAPS_ALL);
	assert_true(CTR_CAPS_ALL >> CAP_CHECKPOINT_RESTORE == 1);
	assert_false(b.process.no_new_privs);
	assert_int_equal(b.nmasked, 0);
	assert_int_equal(b.nreadonly, 0);
	assert_false(find_mount(&b, "/sys")->flags & MS_RDONLY);
	assert_false(find_mount(&b, "/sys/fs/cgroup")->flags & MS_RDONLY);
	/* No tmpfs on /dev: the guest's devtmpfs is the container's. */
	for (k = 0; k < b.nmounts; k++)
		assert_string_not_equal(b.mounts[k].dest, "/dev");
	assert_non_null(find_mount(&b, "/dev/pts"));
	plans(&b);
	ctr_bundle_free(&b);
	/* A flag's mount in the slot /dev's would have had is still a flag's: twice is refused. */
	o.tmpfs = twice;
	o.ntmpfs = 2;
	run_refused(&o, "--tmpfs /x: /x is mounted twice");
}

static void test_command_and_rootfs(void **state)
{
	const char *empty[] = { "" };
	struct ctr_run_opts o = opts();

	(void)state;
	o.nargs = 0;
	run_refused(&o, "no command");
	o.args = empty;
	o.nargs = 1;
	run_refused(&o, "no command");
	o = opts();
	o.rootfs = NULL;
	run_refused(&o, "--rootfs: missing");
	o.rootfs = "/nonexistent/rootfs";
	run_refused(&o, "--rootfs /nonexistent/rootfs: No such file or directory");
	o.rootfs = hfile;
	run_refused(&o, "not a directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_tty_read_only),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_workdir_user_hostname),
		cmocka_unit_test(test_mount),
		cmocka_unit_test(test_tmpfs),
		cmocka_unit_test(test_privileged),
		cmocka_unit_test(test_command_and_rootfs),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
