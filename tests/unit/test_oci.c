/* Unit tests for the OCI config.json reader and the plan it becomes (spec for hull-init, shares and disks). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "container/oci.h"
#include "container/plan.h"

/*
 * A bundle directory made once: rootfs/, data/ with sub/, file.txt, a FIFO,
 * a symlink to data, and dev/ standing for /dev with block nodes
 * (dev/block/250:7 and dev/sdq, 250:9), so that type b devices resolve
 * without touching the host's real ones.
 */
static char dir[64];
static char real_dir[PATH_MAX / 2];
static char err[512];

static void need_root(const char *why)
{
	if (geteuid() != 0)
		fail_msg("this test must run as root (%s); it is not skipped", why);
}

static char *path_in(const char *rel)
{
	static char buf[4][PATH_MAX];
	static unsigned int k;
	char *p = buf[k++ % 4];

	snprintf(p, PATH_MAX, "%s/%s", real_dir, rel);
	return p;
}

static int setup(void **state)
{
	char buf[PATH_MAX];
	int fd;

	(void)state;
	strcpy(dir, "/tmp/hull-oci-XXXXXX");
	if (!mkdtemp(dir) || !realpath(dir, buf) || strlen(buf) >= sizeof(real_dir))
		return -1;
	strcpy(real_dir, buf);
	if (mkdir(path_in("rootfs"), 0755) || mkdir(path_in("data"), 0755) ||
	    mkdir(path_in("data/sub"), 0755) || mkfifo(path_in("fifo"), 0600) ||
	    symlink("data", path_in("link")) || mkdir(path_in("dev"), 0755) ||
	    mkdir(path_in("dev/block"), 0755))
		return -1;
	fd = open(path_in("file.txt"), O_CREAT | O_WRONLY, 0644);
	if (fd < 0)
		return -1;
	close(fd);
	/* Block nodes need root; the tests that use them say so if they are missing. */
	if (geteuid() == 0) {
		if (mknod(path_in("dev/block/250:7"), S_IFBLK | 0600, makedev(250, 7)) ||
		    mknod(path_in("dev/sdq"), S_IFBLK | 0600, makedev(250, 9)) ||
		    mknod(path_in("dev/sdz"), S_IFCHR | 0600, makedev(250, 11)))
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int parse(const char *json, struct ctr_bundle *b)
{
	err[0] = '\0';
	return ctr_oci_parse(json, strlen(json), dir, path_in("dev"), b, err, sizeof(err));
}

#define HEAD "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"rootfs\"}, "
#define USER "\"user\": {\"uid\": 0, \"gid\": 0}"
#define PROC "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", " USER "}"

static void parse_ok(const char *json, struct ctr_bundle *b)
{
	if (parse(json, b))
		fail_msg("refused: %s\nfor: %s", err, json);
}

/* Refused, with a message holding want; the bundle is left zeroed. */
static void refused(const char *json, const char *want)
{
	static const struct ctr_bundle zero;
	struct ctr_bundle b;
	int ret = parse(json, &b);

	if (!ret)
		fail_msg("accepted: %s", json);
	if (ret > 0 || !strstr(err, want))
		fail_msg("message \"%s\" (%d) lacks \"%s\"\nfor: %s", err, ret, want, json);
	assert_memory_equal(&b, &zero, sizeof(b));
}

static void test_minimal(void **state)
{
	struct ctr_bundle b;

	(void)state;
	parse_ok(HEAD PROC "}", &b);
	assert_string_equal(b.dir, real_dir);
	assert_string_equal(b.root, path_in("rootfs"));
	assert_false(b.root_ro);
	assert_string_equal(b.oci_version, "1.0.2");
	assert_int_equal(b.process.nargs, 1);
	assert_string_equal(b.process.cwd, "/");
	assert_null(b.hostname);
	assert_int_equal(b.nmounts, 0);
	assert_false(b.process.has_umask);
	assert_false(b.process.no_new_privs);
	ctr_bundle_free(&b);
	ctr_bundle_free(&b);
}

/* Much of what containerd and podman write, nulls and unknown members included. */
static const char full_json[] =
	"{\"ociVersion\": \"1.1.0\", \"root\": {\"path\": \"rootfs\", \"readonly\": true},"
	" \"unknownThing\": {\"x\": [1, 2]},"
	" \"process\": {\"terminal\": true, \"consoleSize\": {\"height\": 24, \"width\": 80},"
	"  \"user\": {\"uid\": 1000, \"gid\": 100, \"umask\": 18, \"additionalGids\": [10, 20],"
	"            \"username\": \"ignored\"},"
	"  \"args\": [\"/bin/sh\", \"-c\", \"\"], \"env\": [\"PATH=/bin\", \"EMPTY=\"],"
	"  \"cwd\": \"/home/u\","
	"  \"capabilities\": {\"bounding\": [\"CAP_CHOWN\", \"CAP_SYS_ADMIN\", \"CAP_CHECKPOINT_RESTORE\"],"
	"    \"effective\": [\"CAP_KILL\"], \"permitted\": [\"CAP_KILL\"], \"inheritable\": null,"
	"    \"ambient\": []},"
	"  \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 4096, \"soft\": 1024},"
	"              {\"type\": \"RLIMIT_CORE\", \"hard\": 18446744073709551615,"
	"               \"soft\": 18446744073709551615}],"
	"  \"noNewPrivileges\": true, \"oomScoreAdj\": -999,"
	"  \"apparmorProfile\": \"docker-default\", \"selinuxLabel\": \"system_u:system_r:x\"},"
	" \"hostname\": \"box-1\", \"domainname\": \"example.org\","
	" \"mounts\": ["
	"  {\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\", \"options\": null},"
	"  {\"destination\": \"/tmp\", \"type\": \"tmpfs\", \"source\": \"tmpfs\","
	"   \"options\": [\"nosuid\", \"size=64m\", \"rshared\", \"tmpcopyup\", \"mode=1777\"]},"
	"  {\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"data\","
	"   \"options\": [\"rbind\", \"ro\", \"rprivate\"]},"
	"  {\"destination\": \"/etc/file\", \"type\": \"none\", \"source\": \"%s\","
	"   \"options\": [\"bind\", \"rw\"]},"
	"  {\"destination\": \"/sub\", \"source\": \"link/sub\", \"options\": [\"rbind\", \"rro\"]},"
	"  {\"destination\": \"/sys/fs/cgroup\", \"type\": \"cgroup\", \"source\": \"cgroup\","
	"   \"options\": [\"ro\", \"nosuid\"]}"
	" ],"
	" \"hooks\": {\"prestart\": [{\"path\": \"/bin/true\"}]},"
	" \"annotations\": {\"io.kubernetes.cri.container-type\": \"container\", \"a\": \"\"},"
	" \"linux\": {\"uidMappings\": [], \"gidMappings\": null,"
	"  \"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"ipc\"}, {\"type\": \"uts\"},"
	"                 {\"type\": \"mount\"}, {\"type\": \"cgroup\"},"
	"                 {\"type\": \"network\", \"path\": \"/var/run/netns/x\"}],"
	"  \"devices\": [{\"path\": \"/dev/fuse\", \"type\": \"c\", \"major\": 10, \"minor\": 229,"
	"                \"fileMode\": 8630, \"uid\": 0, \"gid\": 0},"
	"               {\"path\": \"/dev/xvda\", \"type\": \"b\", \"major\": 250, \"minor\": 7},"
	"               {\"path\": \"/dev/sdq\", \"type\": \"b\", \"major\": 250, \"minor\": 9,"
	"                \"fileMode\": 432, \"gid\": 6},"
	"               {\"path\": \"/dev/pipe\", \"type\": \"p\"},"
	"               {\"path\": \"/dev/u\", \"type\": \"u\", \"major\": 1, \"minor\": 3}],"
	"  \"resources\": {\"devices\": [{\"allow\": false, \"access\": \"rwm\"}],"
	"    \"cpu\": {\"shares\": 1024, \"quota\": 50000, \"period\": 100000, \"cpus\": \"0-1\","
	"             \"mems\": \"0\", \"realtimeRuntime\": 0},"
	"    \"memory\": {\"limit\": 268435456, \"reservation\": 134217728, \"swap\": 536870912,"
	"                \"swappiness\": 60},"
	"    \"pids\": {\"limit\": 100}, \"blockIO\": {\"weight\": 10}},"
	"  \"sysctl\": {\"net.ipv4.ip_forward\": \"1\", \"kernel/msgmax\": \"65536\"},"
	"  \"maskedPaths\": [\"/proc/kcore\"], \"readonlyPaths\": [\"/proc/sys\", \"/proc/bus\"],"
	"  \"cgroupsPath\": \"/kubepods/pod1/c1\", \"rootfsPropagation\": \"rslave\","
	"  \"seccomp\": {\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": []},"
	"  \"mountLabel\": \"x\"}}";

static void full_bundle(struct ctr_bundle *b)
{
	char *json;

	need_root("block device nodes in the test's /dev");
	assert_true(asprintf(&json, full_json, path_in("file.txt")) > 0);
	parse_ok(json, b);
	free(json);
}

static void test_full(void **state)
{
	const struct ctr_process *p;
	struct ctr_bundle b;

	(void)state;
	full_bundle(&b);
	p = &b.process;
	assert_true(b.root_ro);
	assert_string_equal(b.oci_version, "1.1.0");
	assert_true(p->terminal);
	assert_int_equal(p->uid, 1000);
	assert_int_equal(p->gid, 100);
	assert_true(p->has_umask);
	assert_int_equal(p->umask, 022);
	assert_int_equal(p->ngids, 2);
	assert_int_equal(p->gids[1], 20);
	assert_int_equal(p->nargs, 3);
	assert_string_equal(p->args[2], "");
	assert_int_equal(p->nenv, 2);
	assert_string_equal(p->cwd, "/home/u");
	assert_true(p->caps[CTR_CAP_BOUNDING] == (1ull << 0 | 1ull << 21 | 1ull << 40));
	assert_true(p->caps[CTR_CAP_EFFECTIVE] == 1ull << 5);
	assert_true(p->caps[CTR_CAP_PERMITTED] == 1ull << 5);
	assert_true(p->caps[CTR_CAP_INHERITABLE] == 0);
	assert_true(p->caps[CTR_CAP_AMBIENT] == 0);
	assert_int_equal(p->nrlimits, 2);
	assert_int_equal(p->rlimits[0].resource, RLIMIT_NOFILE);
	assert_int_equal(p->rlimits[0].soft, 1024);
	assert_int_equal(p->rlimits[0].hard, 4096);
	assert_true(p->rlimits[1].hard == UINT64_MAX);
	assert_true(p->no_new_privs);
	assert_true(p->has_oom_score_adj);
	assert_int_equal(p->oom_score_adj, -999);
	assert_string_equal(b.hostname, "box-1");
	assert_string_equal(b.domainname, "example.org");

	assert_int_equal(b.nmounts, 6);
	assert_string_equal(b.mounts[0].type, "proc");
	assert_null(b.mounts[0].data);
	assert_true(b.mounts[1].flags == MS_NOSUID);
	assert_string_equal(b.mounts[1].data, "size=64m,mode=1777"); /* tmpcopyup dropped */
	assert_int_equal(b.mounts[1].propagation, MS_SHARED | MS_REC);
	assert_string_equal(b.mounts[2].type, "bind");
	assert_string_equal(b.mounts[2].source, path_in("data"));
	assert_false(b.mounts[2].is_file);
	assert_true(b.mounts[2].flags == (MS_BIND | MS_REC | MS_RDONLY));
	assert_int_equal(b.mounts[2].propagation, MS_PRIVATE | MS_REC);
	assert_string_equal(b.mounts[3].type, "bind"); /* "none" with the bind option */
	assert_string_equal(b.mounts[3].source, path_in("file.txt"));
	assert_true(b.mounts[3].is_file);
	assert_true(b.mounts[3].flags == MS_BIND);
	assert_string_equal(b.mounts[4].source, path_in("data/sub")); /* through the symlink */
	assert_true(b.mounts[4].flags == (MS_BIND | MS_REC | MS_RDONLY));
	assert_string_equal(b.mounts[5].type, "cgroup");

	assert_non_null(strstr(b.hooks, "prestart"));
	assert_int_equal(b.nannotations, 2);
	assert_string_equal(b.annotations[0].key, "io.kubernetes.cri.container-type");
	assert_string_equal(b.annotations[1].value, "");
	assert_false(ctr_pod_sandbox(&b)); /* a pod's container, not its sandbox */
	assert_string_equal(b.netns, "/var/run/netns/x");

	assert_int_equal(b.ndevices, 5);
	assert_int_equal(b.devices[0].type, 'c');
	assert_int_equal(b.devices[0].mode, 0666); /* 8630 = S_IFCHR | 0666 */
	assert_null(b.devices[0].host);
	assert_int_equal(b.devices[1].type, 'b');
	assert_string_equal(b.devices[1].host, path_in("dev/block/250:7"));
	assert_string_equal(b.devices[2].host, path_in("dev/sdq"));
	assert_int_equal(b.devices[2].mode, 0660);
	assert_int_equal(b.devices[2].gid, 6);
	assert_int_equal(b.devices[3].type, 'p');
	assert_int_equal(b.devices[4].type, 'c');

	assert_true(b.resources.has_cpu_weight);
	assert_int_equal(b.resources.cpu_weight, 1 + (1022 * 9999) / 262142);
	assert_int_equal(b.resources.cpu_quota, 50000);
	assert_int_equal(b.resources.cpu_period, 100000);
	assert_string_equal(b.resources.cpuset_cpus, "0-1");
	assert_string_equal(b.resources.cpuset_mems, "0");
	assert_int_equal(b.resources.mem_max, 268435456);
	assert_int_equal(b.resources.mem_low, 134217728);
	assert_true(b.resources.has_swap_max);
	assert_int_equal(b.resources.swap_max, 536870912 - 268435456);
	assert_int_equal(b.resources.pids_max, 100);

	assert_int_equal(b.nsysctls, 2);
	assert_string_equal(b.sysctls[0], "net.ipv4.ip_forward=1");
	assert_string_equal(b.sysctls[1], "kernel/msgmax=65536");
	assert_int_equal(b.nmasked, 1);
	assert_int_equal(b.nreadonly, 2);
	assert_string_equal(b.cgroups_path, "/kubepods/pod1/c1");
	assert_non_null(strstr(b.seccomp, "SCMP_ACT_ERRNO"));
	ctr_bundle_free(&b);
}

static void test_errors_top(void **state)
{
	(void)state;
	refused("", "not valid JSON");
	refused("[]", "expected a JSON object at the top level");
	refused("{'a': 1}", "single quote");
	refused("{\"root\": {\"path\": \"rootfs\"}, " PROC "}", "ociVersion: missing");
	refused("{\"ociVersion\": \"2.0.0\", \"root\": {\"path\": \"rootfs\"}, " PROC "}",
		"ociVersion 2.0.0: not supported");
	refused("{\"ociVersion\": \"1.3.0\", \"root\": {\"path\": \"rootfs\"}, " PROC "}",
		"not supported (hull reads 1.0, 1.1 and 1.2)");
	refused("{\"ociVersion\": \"1.10\", \"root\": {\"path\": \"rootfs\"}, " PROC "}",
		"not supported");
	refused("{\"ociVersion\": 1, \"root\": {\"path\": \"rootfs\"}, " PROC "}",
		"ociVersion: expected a string");
	refused("{\"ociVersion\": \"1.0.2\", " PROC "}", "root: missing");
	refused("{\"ociVersion\": \"1.0.2\", \"root\": {}, " PROC "}", "root.path: missing");
	refused("{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"nothere\"}, " PROC "}",
		"root.path");
	refused("{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"nothere\"}, " PROC "}",
		"No such file or directory");
	refused("{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"file.txt\"}, " PROC "}",
		"not a directory");
	refused("{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"rootfs\", \"readonly\": 1}, "
		PROC "}", "root.readonly: expected true or false");
	refused(HEAD PROC ", \"hostname\": \"a b\"}", "hostname a b: 1 to 64");
	refused(HEAD PROC ", \"hostname\": "
		"\"12345678901234567890123456789012345678901234567890123456789012345\"}",
		"hostname");
	refused(HEAD PROC ", \"domainname\": \"x/y\"}", "domainname x/y");
	refused(HEAD PROC ", \"hostname\": \"a\\u0000b\"}", "hostname: holds a NUL character");
	refused(HEAD PROC ", \"annotations\": {\"k\": 1}}", "annotations.k: expected a string");
	refused(HEAD PROC ", \"hooks\": []}", "hooks: expected an object");
	/* The hooks are checked at load, so that create fails before it makes anything. */
	refused(HEAD PROC ", \"hooks\": {\"poststop\": [{\"path\": \"true\"}]}}",
		"hooks.poststop[0].path true: not absolute");
	refused(HEAD PROC ", \"hooks\": {\"prestart\": [{\"path\": \"/x\", \"timeout\": 0}]}}",
		"hooks.prestart[0].timeout 0");
}

static void test_errors_process(void **state)
{
	(void)state;
	refused(HEAD "\"x\": 1}", "process: missing");
	refused(HEAD "\"process\": []}", "process: expected an object");
	refused(HEAD "\"process\": {\"cwd\": \"/\", " USER "}}", "process.args: missing");
	refused(HEAD "\"process\": {\"args\": [], \"cwd\": \"/\", " USER "}}", "no command");
	refused(HEAD "\"process\": {\"args\": [\"\"], \"cwd\": \"/\", " USER "}}", "no command");
	refused(HEAD "\"process\": {\"args\": [\"a\", 1], \"cwd\": \"/\", " USER "}}",
		"process.args[1]: expected a string");
	refused(HEAD "\"process\": {\"args\": \"sh\", \"cwd\": \"/\", " USER "}}",
		"process.args: expected an array");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], " USER "}}", "process.cwd: missing");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"home\", " USER "}}",
		"process.cwd home: not an absolute path");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/a/../..\", " USER "}}",
		"not an absolute path");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\"}}", "process.user: missing");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", \"user\": {\"gid\": 0}}}",
		"process.user.uid: missing");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", \"user\": {\"uid\": 0}}}",
		"process.user.gid: missing");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\","
		" \"user\": {\"uid\": -1, \"gid\": 0}}}", "process.user.uid: out of range");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\","
		" \"user\": {\"uid\": 4294967295, \"gid\": 0}}}", "process.user.uid: out of range");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\","
		" \"user\": {\"uid\": 0, \"gid\": \"0\"}}}", "process.user.gid: expected an integer");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\","
		" \"user\": {\"uid\": 0, \"gid\": 0, \"umask\": 512}}}", "process.user.umask");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\","
		" \"user\": {\"uid\": 0, \"gid\": 0, \"additionalGids\": [1, -2]}}}",
		"process.user.additionalGids[1]: out of range");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", " USER
		", \"env\": [\"A=1\", \"NOEQ\"]}}", "process.env[1] NOEQ: expected KEY=VALUE");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", " USER
		", \"env\": [\"=1\"]}}", "expected KEY=VALUE");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", " USER
		", \"terminal\": \"yes\"}}", "process.terminal: expected true or false");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", " USER
		", \"capabilities\": {\"bounding\": [\"CAP_CHOWN\", \"CAP_FOO\"]}}}",
		"process.capabilities.bounding[1]: unknown capability CAP_FOO");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", " USER
		", \"capabilities\": {\"ambient\": [\"chown\"]}}}", "unknown capability chown");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", " USER
		", \"capabilities\": {\"effective\": \"CAP_KILL\"}}}",
		"process.capabilities.effective: expected an array");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", " USER
		", \"rlimits\": [{\"type\": \"RLIMIT_FOO\", \"hard\": 1, \"soft\": 1}]}}",
		"process.rlimits[0]: unknown rlimit RLIMIT_FOO");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", " USER
		", \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1, \"soft\": 1},"
		" {\"type\": \"RLIMIT_NOFILE\", \"hard\": 2, \"soft\": 2}]}}",
		"process.rlimits[1]: RLIMIT_NOFILE given twice");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", " USER
		", \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1, \"soft\": 2}]}}",
		"soft limit above the hard one");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", " USER
		", \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"soft\": 2}]}}", "needs soft and hard");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", " USER
		", \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": -1, \"soft\": 2}]}}",
		"process.rlimits[0]: out of range");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", " USER
		", \"oomScoreAdj\": 1001}}", "process.oomScoreAdj: out of range (-1000..1000)");
	refused(HEAD "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", " USER
		", \"noNewPrivileges\": null, \"oomScoreAdj\": 1.5}}",
		"process.oomScoreAdj: expected an integer");
}

static void test_errors_mounts(void **state)
{
	char json[1024];

	(void)state;
	refused(HEAD PROC ", \"mounts\": {}}", "mounts: expected an array");
	refused(HEAD PROC ", \"mounts\": [1]}", "mounts[0]: expected an object");
	refused(HEAD PROC ", \"mounts\": [{\"type\": \"tmpfs\"}]}", "mounts[0]: no destination");
	refused(HEAD PROC ", \"mounts\": [{\"destination\": \"data\", \"type\": \"tmpfs\"}]}",
		"mounts[0] (data): destination is not an absolute path");
	refused(HEAD PROC ", \"mounts\": [{\"destination\": \"/a/../../etc\", \"type\": \"tmpfs\"}]}",
		"destination is not an absolute path");
	refused(HEAD PROC ", \"mounts\": [{\"destination\": \"/x\", \"type\": \"proc\"},"
		" {\"destination\": \"/nfs\", \"type\": \"nfs\", \"source\": \"h:/e\"}]}",
		"mounts[1] (/nfs): type nfs: not supported (bind, tmpfs, proc, sysfs, devpts, mqueue, "
		"cgroup, cgroup2)");
	refused(HEAD PROC ", \"mounts\": [{\"destination\": \"/x\", \"source\": \"data\"}]}",
		"mounts[0] (/x): no type, and not a bind mount");
	refused(HEAD PROC ", \"mounts\": [{\"destination\": \"/x\", \"type\": \"bind\"}]}",
		"mounts[0] (/x): a bind mount needs a source");
	snprintf(json, sizeof(json),
		 HEAD PROC ", \"mounts\": [{\"destination\": \"/a\", \"type\": \"tmpfs\"},"
		 " {\"destination\": \"/b\", \"type\": \"tmpfs\"}, {\"destination\": \"/c\", "
		 "\"type\": \"tmpfs\"}, {\"destination\": \"/data\", \"type\": \"bind\", "
		 "\"source\": \"missing\"}]}");
	{
		char want[512];

		snprintf(want, sizeof(want),
			 "mounts[3] (/data): source %s: No such file or directory",
			 path_in("missing"));
		refused(json, want);
	}
	refused(HEAD PROC ", \"mounts\": [{\"destination\": \"/x\", \"type\": \"bind\","
		" \"source\": \"fifo\"}]}", "not a directory or a regular file");
	refused(HEAD PROC ", \"mounts\": [{\"destination\": \"/x\", \"type\": \"bind\","
		" \"source\": \"data\", \"options\": [\"rbind\", \"idmap\"]}]}",
		"mounts[0] (/x): option idmap: ID-mapped mounts need user namespaces");
	refused(HEAD PROC ", \"mounts\": [{\"destination\": \"/x\", \"type\": \"tmpfs\","
		" \"options\": [\"ro\", 3]}]}", "mounts[0] (/x)[1]: expected a string");
}

static void test_errors_linux(void **state)
{
	(void)state;
	refused(HEAD PROC ", \"linux\": []}", "linux: expected an object");
	refused(HEAD PROC ", \"linux\": {\"uidMappings\": [{\"containerID\": 0, \"hostID\": 1000,"
		" \"size\": 1}]}}", "linux.uidMappings: ID mappings (user namespaces) are not supported");
	refused(HEAD PROC ", \"linux\": {\"gidMappings\": [{}]}}", "linux.gidMappings");
	refused(HEAD PROC ", \"linux\": {\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"user\"}]}}",
		"linux.namespaces[1] (user): user namespaces are not supported");
	refused(HEAD PROC ", \"linux\": {\"namespaces\": [{\"type\": \"time\"}]}}",
		"namespace type time: not supported");
	refused(HEAD PROC ", \"linux\": {\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"pid\"}]}}",
		"linux.namespaces[1] (pid): given twice");
	refused(HEAD PROC ", \"linux\": {\"namespaces\": [{\"type\": \"ipc\", \"path\": \"/proc/1/ns/ipc\"}]}}",
		"linux.namespaces[0] (ipc): joining an existing namespace (path) is not supported");
	refused(HEAD PROC ", \"linux\": {\"namespaces\": [{\"type\": \"network\", \"path\": \"x\"}]}}",
		"path is not absolute");
	refused(HEAD PROC ", \"linux\": {\"namespaces\": [{\"path\": \"/x\"}]}}",
		"linux.namespaces[0].type: expected a string");
	refused(HEAD PROC ", \"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"x\"}]}}",
		"linux.devices[0] (/dev/x): type must be c, b, u or p");
	refused(HEAD PROC ", \"linux\": {\"devices\": [{\"path\": \"dev/x\", \"type\": \"c\"}]}}",
		"linux.devices[0] (dev/x): path is not absolute");
	refused(HEAD PROC ", \"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"c\","
		" \"major\": 1}]}}", "needs major and minor");
	refused(HEAD PROC ", \"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"c\","
		" \"major\": 1, \"minor\": 3, \"fileMode\": 65536}]}}", "fileMode 200000: not a mode");
	refused(HEAD PROC ", \"linux\": {\"devices\": [{\"path\": \"/dev/nonesuch\", \"type\": \"b\","
		" \"major\": 251, \"minor\": 1}]}}",
		"linux.devices[0] (/dev/nonesuch): no host block device 251:1");
	refused(HEAD PROC ", \"linux\": {\"resources\": {\"memory\": {\"swap\": 100}}}}",
		"linux.resources.memory.swap: needs a memory limit");
	refused(HEAD PROC ", \"linux\": {\"resources\": {\"memory\": {\"limit\": 200, \"swap\": 100}}}}",
		"below the memory limit");
	refused(HEAD PROC ", \"linux\": {\"resources\": {\"memory\": {\"limit\": -2}}}}",
		"linux.resources.memory.limit: out of range");
	refused(HEAD PROC ", \"linux\": {\"resources\": {\"cpu\": {\"quota\": -5}}}}",
		"linux.resources.cpu.quota: out of range");
	refused(HEAD PROC ", \"linux\": {\"resources\": {\"cpu\": {\"cpus\": \"0\\n1\"}}}}",
		"linux.resources.cpu.cpus");
	refused(HEAD PROC ", \"linux\": {\"resources\": {\"pids\": {\"limit\": \"10\"}}}}",
		"linux.resources.pids.limit: expected an integer");
	refused(HEAD PROC ", \"linux\": {\"sysctl\": {\"../../etc/x\": \"1\"}}}",
		"linux.sysctl ../../etc/x: not a sysctl name");
	refused(HEAD PROC ", \"linux\": {\"sysctl\": {\"kernel.x\": 1}}}",
		"linux.sysctl.kernel.x: expected a string");
	refused(HEAD PROC ", \"linux\": {\"maskedPaths\": [\"/proc/kcore\", \"proc/keys\"]}}",
		"linux.maskedPaths[1] proc/keys: not an absolute path");
	refused(HEAD PROC ", \"linux\": {\"readonlyPaths\": \"/proc\"}}",
		"linux.readonlyPaths: expected an array");
	refused(HEAD PROC ", \"linux\": {\"seccomp\": []}}", "linux.seccomp: expected an object");
	refused(HEAD PROC ", \"linux\": {\"cgroupsPath\": 5}}", "linux.cgroupsPath: expected a string");
}

/* Past 4 MiB, past CTR_LIST_MAX entries, past a string's 64 KiB: refused before anything else. */
static void test_limits(void **state)
{
	struct ctr_bundle b;
	size_t len, i;
	char *json;
	int n;

	(void)state;
	len = CTR_CONFIG_MAX + 1;
	json = malloc(len + 1);
	assert_non_null(json);
	memset(json, ' ', len);
	json[0] = '{';
	json[len - 1] = '}';
	json[len] = '\0';
	assert_int_equal(ctr_oci_parse(json, len, dir, NULL, &b, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "too large"));
	free(json);

	/* 4097 arguments. */
	json = malloc(64 + 4 * 4097 + 256);
	assert_non_null(json);
	n = sprintf(json, HEAD "\"process\": {\"cwd\": \"/\", " USER ", \"args\": [");
	for (i = 0; i <= CTR_LIST_MAX; i++)
		n += sprintf(json + n, "%s\"a\"", i ? "," : "");
	strcpy(json + n, "]}}");
	refused(json, "process.args: 4097 entries (limit 4096)");
	free(json);

	/* A 64 KiB + 1 argument. */
	json = malloc(TLV_STR_MAX + 512);
	assert_non_null(json);
	n = sprintf(json, HEAD "\"process\": {\"cwd\": \"/\", " USER ", \"args\": [\"");
	memset(json + n, 'a', TLV_STR_MAX + 1);
	strcpy(json + n + TLV_STR_MAX + 1, "\"]}}");
	refused(json, "process.args[0]: 65536 bytes long (limit 65535)");
	free(json);
}

static void test_load(void **state)
{
	struct ctr_bundle b;
	FILE *f;

	(void)state;
	assert_int_equal(ctr_oci_load(dir, &b, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "config.json: No such file or directory");
	f = fopen(path_in("config.json"), "w");
	assert_non_null(f);
	fputs(HEAD PROC ", \"mounts\": [{\"destination\": \"/data\", \"type\": \"bind\","
	      " \"source\": \"/nonexistent/x\"}]}", f);
	fclose(f);
	assert_int_equal(ctr_oci_load(dir, &b, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "config.json: mounts[0] (/data): source /nonexistent/x: "
				 "No such file or directory");
	f = fopen(path_in("config.json"), "w");
	assert_non_null(f);
	fputs(HEAD PROC "}\n", f);
	fclose(f);
	assert_int_equal(ctr_oci_load(dir, &b, err, sizeof(err)), 0);
	assert_string_equal(b.root, path_in("rootfs"));
	ctr_bundle_free(&b);
	unlink(path_in("config.json"));
	assert_int_equal(ctr_oci_load("/nonexistent-bundle", &b, err, sizeof(err)), -ENOENT);
}

static void test_mount_options(void **state)
{
	struct ctr_bmount m = { 0 };
	char *big;

	(void)state;
	assert_int_equal(ctr_mount_option(&m, "ro"), 0);
	assert_int_equal(ctr_mount_option(&m, "nosuid"), 0);
	assert_int_equal(ctr_mount_option(&m, "rw"), 0);
	assert_true(m.flags == MS_NOSUID);
	assert_int_equal(ctr_mount_option(&m, "rro"), 0);
	assert_int_equal(ctr_mount_option(&m, "rnoexec"), 0);
	assert_int_equal(ctr_mount_option(&m, "rexec"), 0);
	assert_true(m.flags == (MS_NOSUID | MS_RDONLY));
	assert_int_equal(ctr_mount_option(&m, "rbind"), 0);
	assert_true(m.flags & MS_BIND && m.flags & MS_REC);
	assert_int_equal(ctr_mount_option(&m, "slave"), 0);
	assert_int_equal(m.propagation, MS_SLAVE);
	assert_int_equal(ctr_mount_option(&m, "runbindable"), 0);
	assert_int_equal(m.propagation, MS_UNBINDABLE | MS_REC);
	assert_int_equal(ctr_mount_option(&m, "size=1m"), 0);
	assert_int_equal(ctr_mount_option(&m, ""), 0);
	assert_int_equal(ctr_mount_option(&m, "uid=5"), 0);
	assert_int_equal(ctr_mount_option(&m, "defaults"), 0);
	assert_string_equal(m.data, "size=1m,uid=5");
	assert_int_equal(ctr_mount_option(&m, "idmap"), -EINVAL);
	assert_int_equal(ctr_mount_option(&m, "ridmap=0:1000:1"), -EINVAL);
	big = malloc(TLV_STR_MAX);
	assert_non_null(big);
	memset(big, 'x', TLV_STR_MAX - 1);
	big[TLV_STR_MAX - 1] = '\0';
	assert_int_equal(ctr_mount_option(&m, big), -E2BIG);
	assert_string_equal(m.data, "size=1m,uid=5");
	free(big);
	ctr_bmount_free(&m);
	assert_true(ctr_guest_fs_type("cgroup2"));
	assert_false(ctr_guest_fs_type("ext4"));
	assert_false(ctr_guest_fs_type("bind"));
}

static void test_names(void **state)
{
	(void)state;
	assert_int_equal(ctr_cap_by_name("CAP_CHOWN"), 0);
	assert_int_equal(ctr_cap_by_name("CAP_SYS_ADMIN"), 21);
	assert_int_equal(ctr_cap_by_name("CAP_CHECKPOINT_RESTORE"), 40);
	assert_int_equal(ctr_cap_by_name("CAP_NOPE"), -1);
	assert_int_equal(ctr_cap_by_name("SYS_ADMIN"), -1);
	assert_int_equal(ctr_rlimit_by_name("RLIMIT_NOFILE"), RLIMIT_NOFILE);
	assert_int_equal(ctr_rlimit_by_name("RLIMIT_RTTIME"), RLIMIT_RTTIME);
	assert_int_equal(ctr_rlimit_by_name("NOFILE"), -1);
	assert_true(ctr_hostname_ok("a"));
	assert_true(ctr_hostname_ok("my-host.example_1"));
	assert_false(ctr_hostname_ok(""));
	assert_false(ctr_hostname_ok("a\nb"));
	assert_true(ctr_path_ok("/"));
	assert_true(ctr_path_ok("/a..b/..c"));
	assert_false(ctr_path_ok("/a/.."));
	assert_false(ctr_path_ok("a"));
}

static void test_block_devices(void **state)
{
	struct ctr_bundle b;

	(void)state;
	need_root("block device nodes in the test's /dev");
	/* Found by dev/block/MAJ:MIN, or by the device's own path below dev/. */
	parse_ok(HEAD PROC ", \"linux\": {\"devices\": [{\"path\": \"/dev/sdq\", \"type\": \"b\","
		 " \"major\": 250, \"minor\": 9}]}}", &b);
	assert_string_equal(b.devices[0].host, path_in("dev/sdq"));
	ctr_bundle_free(&b);
	/* The right name with the wrong numbers is not that device. */
	refused(HEAD PROC ", \"linux\": {\"devices\": [{\"path\": \"/dev/sdq\", \"type\": \"b\","
		" \"major\": 250, \"minor\": 10}]}}", "no host block device 250:10");
	/* Nor is a character device of the same numbers. */
	refused(HEAD PROC ", \"linux\": {\"devices\": [{\"path\": \"/dev/sdz\", \"type\": \"b\","
		" \"major\": 250, \"minor\": 11}]}}", "no host block device 250:11");
}

/* ---- the plan ---- */

static void test_disk_names(void **state)
{
	static const struct {
		unsigned int index;
		const char *name;
	} names[] = { { 0, "vda" }, { 1, "vdb" }, { 25, "vdz" }, { 26, "vdaa" }, { 27, "vdab" },
		      { 701, "vdzz" }, { 702, "vdaaa" }, { 18277, "vdzzz" }, { 18278, "vdaaaa" } };
	char buf[16];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(ctr_disk_name(names[i].index, buf, sizeof(buf)), 0);
		assert_string_equal(buf, names[i].name);
	}
	assert_int_equal(ctr_disk_name(26, buf, 4), -ENAMETOOLONG);
	assert_int_equal(ctr_disk_name(26, buf, 5), 0);
	assert_int_equal(ctr_disk_name(25, buf, 4), 0);
	assert_int_equal(ctr_disk_name(UINT_MAX, buf, sizeof(buf)), 0);
}

static void test_plan(void **state)
{
	struct ctr_bundle b;
	struct ctr_spec s, t;
	struct ctr_plan p;
	uint8_t *enc;
	size_t len;

	(void)state;
	full_bundle(&b);
	assert_int_equal(ctr_plan_build(&b, 2, &s, &p, err, sizeof(err)), 0);
	/* The host's side. */
	assert_string_equal(p.rootfs, path_in("rootfs"));
	assert_true(p.rootfs_ro);
	assert_int_equal(p.nentries, 3);
	assert_string_equal(p.entries[0].name, "m0");
	assert_string_equal(p.entries[0].host, path_in("data"));
	assert_true(p.entries[0].ro);
	assert_false(p.entries[0].is_file);
	assert_string_equal(p.entries[1].name, "m1");
	assert_string_equal(p.entries[1].host, path_in("file.txt"));
	assert_true(p.entries[1].is_file);
	assert_false(p.entries[1].ro);
	assert_string_equal(p.entries[2].host, path_in("data/sub"));
	assert_int_equal(p.ndisks, 2);
	assert_string_equal(p.disks[0].host, path_in("dev/block/250:7"));
	assert_string_equal(p.disks[0].guest, "/dev/vdc"); /* after the VM's own two */
	assert_string_equal(p.disks[0].serial, "hull-dev0");
	assert_string_equal(p.disks[1].guest, "/dev/vdd");
	assert_string_equal(p.disks[1].serial, "hull-dev1");
	/* The guest's side. */
	assert_string_equal(s.root_tag, CTR_ROOTFS_TAG);
	assert_true(s.root_ro);
	assert_string_equal(s.mounts_tag, CTR_MOUNTS_TAG);
	assert_string_equal(s.hostname, "box-1");
	assert_int_equal(s.nmounts, 6);
	assert_string_equal(s.mounts[0].type, "proc");
	assert_string_equal(s.mounts[0].source, "proc");
	assert_string_equal(s.mounts[2].type, "bind");
	assert_string_equal(s.mounts[2].source, "m0");
	assert_string_equal(s.mounts[2].dest, "/data");
	assert_true(s.mounts[2].flags == (MS_BIND | MS_REC | MS_RDONLY));
	assert_string_equal(s.mounts[3].source, "m1");
	assert_string_equal(s.mounts[4].source, "m2");
	assert_string_equal(s.mounts[5].type, "cgroup2");
	assert_string_equal(s.mounts[1].data, "size=64m,mode=1777");
	assert_int_equal(s.ndevices, 5);
	assert_string_equal(s.devices[1].guest_source, "/dev/vdc");
	assert_string_equal(s.devices[2].guest_source, "/dev/vdd");
	assert_null(s.devices[0].guest_source);
	assert_string_equal(s.process.args[0], "/bin/sh");
	assert_int_equal(s.process.nrlimits, 2);
	assert_true(s.resources.has_swap_max);
	assert_string_equal(s.resources.cpuset_cpus, "0-1");
	assert_int_equal(s.nsysctls, 2);
	assert_null(s.cgroup);
	/* It is what hull-init will decode. */
	assert_int_equal(ctr_spec_encode(&s, &enc, &len), 0);
	assert_int_equal(ctr_spec_decode(enc, len, &t), 0);
	assert_string_equal(t.mounts[4].source, "m2");
	free(enc);
	ctr_spec_free(&t);
	ctr_spec_free(&s);
	ctr_plan_free(&p);
	ctr_plan_free(&p);

	/* The same host device twice is one disk opened twice: refused. */
	free(b.devices[2].host);
	b.devices[2].host = strdup(b.devices[1].host);
	assert_int_equal(ctr_plan_build(&b, 0, &s, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "linux.devices[2] (/dev/sdq): host device"));
	assert_non_null(strstr(err, "passed in twice"));
	ctr_bundle_free(&b);

	/* No bind mount: no mounts share. */
	parse_ok(HEAD PROC ", \"mounts\": [{\"destination\": \"/t\", \"type\": \"tmpfs\"}]}", &b);
	assert_int_equal(ctr_plan_build(&b, 0, &s, &p, err, sizeof(err)), 0);
	assert_null(s.mounts_tag);
	assert_int_equal(p.nentries, 0);
	assert_int_equal(p.ndisks, 0);
	assert_string_equal(s.mounts[0].source, "tmpfs"); /* no source: the type */
	ctr_spec_free(&s);
	ctr_plan_free(&p);
	ctr_bundle_free(&b);
}

/* A spec over 1 MiB is refused before any VM: 17 arguments of 64 KiB. */
static void test_plan_too_big(void **state)
{
	struct ctr_bundle b;
	struct ctr_spec s;
	struct ctr_plan p;
	char **args;
	unsigned int i;

	(void)state;
	parse_ok(HEAD PROC "}", &b);
	args = calloc(17, sizeof(char *));
	assert_non_null(args);
	for (i = 0; i < 17; i++) {
		args[i] = malloc(TLV_STR_MAX + 1);
		assert_non_null(args[i]);
		memset(args[i], 'a', TLV_STR_MAX);
		args[i][TLV_STR_MAX] = '\0';
	}
	ctr_strv_free(b.process.args, b.process.nargs);
	b.process.args = args;
	b.process.nargs = 17;
	assert_int_equal(ctr_plan_build(&b, 0, &s, &p, err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "larger than"));
	ctr_bundle_free(&b);
}

static int process_alone(const char *text)
{
	struct ctr_process p;

	return ctr_oci_process(text, strlen(text), &p, err, sizeof(err));
}

/* exec's process: an OCI process object alone, read as config.json's process is. */
static void test_process_alone(void **state)
{
	static const char good[] = "{\"args\":[\"sh\",\"-c\",\"x\"],\"cwd\":\"/tmp\","
				   "\"user\":{\"uid\":5,\"gid\":6,\"additionalGids\":[7]},"
				   "\"env\":[\"A=1\"],\"terminal\":true,"
				   "\"capabilities\":{\"effective\":[\"CAP_KILL\"]}}";
	struct ctr_process p;

	(void)state;
	assert_int_equal(ctr_oci_process(good, strlen(good), &p, err, sizeof(err)), 0);
	assert_int_equal(p.nargs, 3);
	assert_string_equal(p.args[2], "x");
	assert_string_equal(p.cwd, "/tmp");
	assert_true(p.uid == 5 && p.gid == 6 && p.ngids == 1 && p.gids[0] == 7);
	assert_true(p.terminal && p.nenv == 1);
	assert_true(p.caps[CTR_CAP_EFFECTIVE] == 1ull << 5); /* CAP_KILL */
	ctr_process_free(&p);
	assert_int_equal(process_alone("{\"cwd\":\"/\",\"user\":{\"uid\":0,\"gid\":0}}"), -EINVAL);
	assert_non_null(strstr(err, "process.args: missing"));
	assert_int_equal(process_alone("{\"args\":[\"a\"],\"cwd\":\"rel\",\"user\":{\"uid\":0,"
				       "\"gid\":0}}"), -EINVAL);
	assert_non_null(strstr(err, "process.cwd"));
	assert_int_equal(process_alone("[1]"), -EINVAL);
	assert_int_equal(process_alone("{"), -EINVAL);
}

/* Whether a bundle with annotations "other": "x" and key: value is a pod's sandbox. */
static bool marked(const char *key, const char *value)
{
	char k[64], v[32], ok[] = "other", ov[] = "x";
	struct ctr_annotation a[2] = { { ok, ov }, { k, v } };
	struct ctr_bundle b = { .annotations = a, .nannotations = 2 };

	snprintf(k, sizeof(k), "%s", key);
	snprintf(v, sizeof(v), "%s", value);
	return ctr_pod_sandbox(&b);
}

/* A pod's sandbox as containerd and CRI-O mark it; anything else is not one. */
static void test_pod_sandbox(void **state)
{
	struct ctr_bundle none = { 0 };

	(void)state;
	assert_true(marked("io.kubernetes.cri.container-type", "sandbox"));
	assert_true(marked("io.kubernetes.cri-o.ContainerType", "sandbox"));
	assert_false(marked("io.kubernetes.cri.container-type", "container"));
	assert_false(marked("io.kubernetes.cri-o.ContainerType", "Sandbox"));
	assert_false(marked("sandbox", "sandbox"));
	assert_false(ctr_pod_sandbox(&none));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pod_sandbox),
		cmocka_unit_test(test_process_alone),
		cmocka_unit_test(test_minimal),	       cmocka_unit_test(test_full),
		cmocka_unit_test(test_errors_top),     cmocka_unit_test(test_errors_process),
		cmocka_unit_test(test_errors_mounts),  cmocka_unit_test(test_errors_linux),
		cmocka_unit_test(test_limits),	       cmocka_unit_test(test_load),
		cmocka_unit_test(test_mount_options),  cmocka_unit_test(test_names),
		cmocka_unit_test(test_block_devices),  cmocka_unit_test(test_disk_names),
		cmocka_unit_test(test_plan),	       cmocka_unit_test(test_plan_too_big),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
