/* Unit tests for hull as an OCI runtime: runc's verbs and global flags, signal names, update's
 * resources, features and the default spec (cli/rtparse, cli/runtime, container/signame). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/runtime.h"
#include "container/hooks.h"
#include "container/oci.h"
#include "container/signame.h"
#include "lib/json.h"

static struct vm_config cfg;
static struct cli_run run;

static enum cli_action parse(int argc, const char **argv)
{
	static const char *kept[64];
	bool verbose = false;
	int verb = 0;

	assert_true(argc < 64);
	memcpy(kept, argv, (size_t)(argc + 1) * sizeof(*argv));
	cli_run_free(&run);
	config_free(&cfg);
	config_init(&cfg);
	return cli_parse(argc, (char **)(uintptr_t)kept, &cfg, &run, &verbose, &verb);
}

#define PARSE(...)                                                                   \
	({                                                                           \
		const char *argv_[] = { "hull", __VA_ARGS__, NULL };                 \
		parse((int)(sizeof(argv_) / sizeof(argv_[0])) - 1, argv_);          \
	})

static int teardown(void **state)
{
	(void)state;
	cli_run_free(&run);
	config_free(&cfg);
	return 0;
}

/* containerd's shim: global flags before the verb, both "--flag VALUE" and "--flag=VALUE". */
static void test_globals(void **state)
{
	(void)state;
	assert_int_equal(PARSE("--root", "/run/containerd/runc/default", "--log", "/dev/null",
			       "--log-format", "json", "create", "--bundle", "/b", "--pid-file",
			       "/b/init.pid", "c1"),
			 CLI_RUN_RUNTIME);
	assert_int_equal(run.rt.verb, RT_CREATE);
	assert_string_equal(run.rt.g.root, "/run/containerd/runc/default");
	assert_string_equal(run.rt.bundle, "/b");
	assert_string_equal(run.rt.pid_file, "/b/init.pid");
	assert_string_equal(run.rt.id, "c1");
	assert_null(run.rt.console_socket);
	/* podman's: --log-format=json, crun's --cgroup-manager, runc's switches. */
	assert_int_equal(PARSE("--log-format=json", "--log", "/dev/null", "--cgroup-manager",
			       "disabled", "--systemd-cgroup", "--debug", "--root=/r", "state",
			       "x"),
			 CLI_RUN_RUNTIME);
	assert_string_equal(run.rt.g.cgroup_manager, "disabled");
	assert_true(run.rt.g.systemd_cgroup);
	assert_true(run.rt.g.debug);
	assert_string_equal(run.rt.g.root, "/r");
	assert_int_equal(PARSE("--root"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("--frob", "state", "x"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("--version"), CLI_EXIT_OK);
	assert_int_equal(PARSE("-v"), CLI_EXIT_OK);
}

static void test_create_run(void **state)
{
	(void)state;
	assert_int_equal(PARSE("create", "--bundle", "/b", "--pid-file", "/p", "--console-socket",
			       "/tmp/pty.sock", "--no-pivot", "--no-new-keyring",
			       "--preserve-fds", "2", "c3"),
			 CLI_RUN_RUNTIME);
	assert_string_equal(run.rt.console_socket, "/tmp/pty.sock");
	assert_true(run.rt.no_pivot);
	assert_true(run.rt.no_new_keyring);
	assert_int_equal(run.rt.preserve_fds, 2);
	assert_int_equal(PARSE("create", "-b", "/b", "c"), CLI_RUN_RUNTIME);
	assert_string_equal(run.rt.bundle, "/b");
	assert_int_equal(PARSE("create", "--bundle=/b2", "c"), CLI_RUN_RUNTIME);
	assert_string_equal(run.rt.bundle, "/b2");
	assert_int_equal(PARSE("create", "--bundle", "/b"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("create", "a", "b"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("create", "--preserve-fds", "x", "c"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("create", "--frob", "c"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("create", "--pid-file"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("create", "--help"), CLI_EXIT_OK);
	/* run: runc's form when one of its own flags is there; hull's container mode otherwise. */
	assert_int_equal(PARSE("run", "--detach", "--pid-file", "/p", "-b", "/b", "c"),
			 CLI_RUN_RUNTIME);
	assert_int_equal(run.rt.verb, RT_RUN);
	assert_true(run.rt.detach);
	assert_int_equal(PARSE("run", "--pid-file=/p", "--bundle", "/b", "c"), CLI_RUN_RUNTIME);
	assert_int_equal(PARSE("run", "--keep", "c"), CLI_RUN_RUNTIME);
	assert_true(run.rt.keep);
	assert_int_equal(PARSE("run", "--bundle", "/b", "--detach", "c"), CLI_RUN_RUNTIME);
	assert_true(run.rt.detach);
	assert_string_equal(run.rt.bundle, "/b");
	assert_int_equal(PARSE("run", "--bundle", "/b", "c"), CLI_RUN_CONTAINER);
	assert_int_equal(PARSE("run", "--rootfs", "/r", "ls", "-d"), CLI_RUN_CONTAINER);
	assert_int_equal(PARSE("run", "--rootfs", "/r", "--", "-d"), CLI_RUN_CONTAINER);
}

static void test_id_verbs(void **state)
{
	(void)state;
	assert_int_equal(PARSE("start", "c1"), CLI_RUN_RUNTIME);
	assert_int_equal(run.rt.verb, RT_START);
	assert_int_equal(PARSE("state", "c1"), CLI_RUN_RUNTIME);
	assert_int_equal(run.rt.verb, RT_STATE);
	assert_int_equal(PARSE("pause", "c1"), CLI_RUN_RUNTIME);
	assert_int_equal(run.rt.verb, RT_PAUSE);
	assert_int_equal(PARSE("resume", "c1"), CLI_RUN_RUNTIME);
	assert_int_equal(run.rt.verb, RT_RESUME);
	assert_int_equal(PARSE("start"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("state", "a", "b"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("delete", "--force", "c1"), CLI_RUN_RUNTIME);
	assert_true(run.rt.force);
	assert_int_equal(PARSE("delete", "-f", "c1"), CLI_RUN_RUNTIME);
	assert_true(run.rt.force);
	assert_int_equal(PARSE("delete", "c1"), CLI_RUN_RUNTIME);
	assert_false(run.rt.force);
	assert_int_equal(PARSE("features"), CLI_RUN_RUNTIME);
	assert_int_equal(PARSE("features", "x"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("list"), CLI_RUN_RUNTIME);
	assert_string_equal(run.rt.format, "table");
	assert_int_equal(PARSE("list", "--format", "json", "-q"), CLI_RUN_RUNTIME);
	assert_string_equal(run.rt.format, "json");
	assert_true(run.rt.quiet);
	assert_int_equal(PARSE("list", "-f", "yaml"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("spec", "--bundle", "/b"), CLI_RUN_RUNTIME);
	assert_string_equal(run.rt.bundle, "/b");
	assert_int_equal(PARSE("spec", "--rootless"), CLI_RUN_RUNTIME);
	assert_true(run.rt.rootless_spec);
	assert_int_equal(PARSE("ps", "--format", "json", "c2"), CLI_RUN_RUNTIME);
	assert_string_equal(run.rt.format, "json");
	assert_int_equal(run.rt.nargs, 0);
	assert_int_equal(PARSE("ps", "-f", "table", "c2", "-ef"), CLI_RUN_RUNTIME);
	assert_int_equal(run.rt.nargs, 1);
	assert_string_equal(run.rt.args[0], "-ef");
}

static void test_kill(void **state)
{
	(void)state;
	assert_int_equal(PARSE("kill", "c2", "15"), CLI_RUN_RUNTIME);
	assert_int_equal(run.rt.signal, 15);
	assert_false(run.rt.all);
	assert_int_equal(PARSE("kill", "--all", "c4", "9"), CLI_RUN_RUNTIME);
	assert_int_equal(run.rt.signal, 9);
	assert_true(run.rt.all);
	assert_int_equal(PARSE("kill", "c4"), CLI_RUN_RUNTIME);
	assert_int_equal(run.rt.signal, 15); /* SIGTERM by default */
	assert_int_equal(PARSE("kill", "c4", "SIGKILL"), CLI_RUN_RUNTIME);
	assert_int_equal(run.rt.signal, 9);
	assert_int_equal(PARSE("kill", "-a", "c4", "hup"), CLI_RUN_RUNTIME);
	assert_int_equal(run.rt.signal, 1);
	assert_true(run.rt.all);
	assert_int_equal(PARSE("kill", "c4", "NOSUCH"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("kill", "c4", "9", "x"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("kill"), CLI_EXIT_USAGE);
}

/* runc kill's parser: numbers as they are, names with or without SIG in any case, RT names. */
static void test_signals(void **state)
{
	static const struct {
		const char *s;
		int sig;
	} good[] = {
		{ "9", 9 },	     { "15", 15 },	  { "1", 1 },	      { "64", 64 },
		{ "34", 34 },	     { "KILL", 9 },	  { "SIGKILL", 9 },   { "kill", 9 },
		{ "sigkill", 9 },    { "SigTerm", 15 },	  { "TERM", 15 },     { "HUP", 1 },
		{ "INT", 2 },	     { "QUIT", 3 },	  { "USR1", 10 },     { "USR2", 12 },
		{ "WINCH", 28 },     { "CHLD", 17 },	  { "STOP", 19 },     { "CONT", 18 },
		{ "IOT", 6 },	     { "SYS", 31 },	  { "RTMIN", 34 },    { "SIGRTMIN", 34 },
		{ "RTMIN+1", 35 },   { "SIGRTMIN+30", 64 }, { "RTMAX", 64 },  { "rtmax-2", 62 },
		{ "SIGRTMAX-30", 34 },
	};
	static const char *const bad[] = {
		"", "0", "65", "-9", "9x", "+9", "SIG", "FOO", "SIGFOO", "KILLX", "RTMIN+31",
		"RTMIN-1", "RTMAX+1", "RTMAX-31", "RTMIN+", "RTMIN+x", " 9", "SIG9", "99999999999999999999",
	};
	unsigned int i;
	char buf[32];
	int sig;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		sig = -1;
		if (ctr_signal_parse(good[i].s, &sig) || sig != good[i].sig)
			fail_msg("'%s': %d, expected %d", good[i].s, sig, good[i].sig);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ctr_signal_parse(bad[i], &sig) != -EINVAL)
			fail_msg("'%s' taken as %d", bad[i], sig);
	assert_string_equal(ctr_signal_name(15, buf, sizeof(buf)), "SIGTERM");
	assert_string_equal(ctr_signal_name(37, buf, sizeof(buf)), "SIGRTMIN+3");
	assert_null(ctr_signal_name(0, buf, sizeof(buf)));
	assert_null(ctr_signal_name(65, buf, sizeof(buf)));
	/* Every name it gives parses back. */
	for (sig = 1; sig <= CTR_SIGRTMAX; sig++) {
		int back = -1;

		if (sig == 32 || sig == 33)
			continue;
		assert_non_null(ctr_signal_name(sig, buf, sizeof(buf)));
		assert_int_equal(ctr_signal_parse(buf, &back), 0);
		assert_int_equal(back, sig);
	}
}

static void test_exec(void **state)
{
	(void)state;
	/* containerd's and podman's forms. */
	assert_int_equal(PARSE("exec", "--process", "/tmp/runc-process1", "--console-socket",
			       "/tmp/pty.sock", "--detach", "--pid-file", "/e2.pid", "c2"),
			 CLI_RUN_RUNTIME);
	assert_int_equal(run.rt.verb, RT_EXEC);
	assert_string_equal(run.rt.process, "/tmp/runc-process1");
	assert_true(run.rt.detach);
	assert_string_equal(run.rt.pid_file, "/e2.pid");
	assert_string_equal(run.rt.id, "c2");
	assert_int_equal(run.rt.nargs, 0);
	assert_int_equal(PARSE("exec", "--pid-file", "/p", "--process", "/f", "--detach", "--tty",
			       "--console-socket", "/tmp/conmon-term.X", "c"),
			 CLI_RUN_RUNTIME);
	assert_true(run.rt.tty);
	/* runc's other form: the command after the id, flags before it. */
	assert_int_equal(PARSE("exec", "-t", "--cwd", "/tmp", "-e", "A=1", "--env", "B=2", "-u",
			       "1000:1000", "-g", "10", "--cap", "CAP_KILL", "c", "ls", "-l"),
			 CLI_RUN_RUNTIME);
	assert_string_equal(run.rt.cwd, "/tmp");
	assert_int_equal(run.rt.nenv, 2);
	assert_string_equal(run.rt.env[1], "B=2");
	assert_string_equal(run.rt.user, "1000:1000");
	assert_int_equal(run.rt.ngids, 1);
	assert_int_equal(run.rt.ncaps, 1);
	assert_int_equal(run.rt.nargs, 2);
	assert_string_equal(run.rt.args[0], "ls");
	assert_string_equal(run.rt.args[1], "-l");
	assert_int_equal(PARSE("exec", "c"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("exec", "--process", "/f", "c", "ls"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("exec", "--process", "/f"), CLI_EXIT_USAGE);
}

static void test_update(void **state)
{
	struct rt_resources *r = &run.rt.res;

	(void)state;
	assert_int_equal(PARSE("update", "--resources", "-", "c"), CLI_RUN_RUNTIME);
	assert_string_equal(run.rt.resources, "-");
	assert_int_equal(PARSE("update", "--resources=/var/tmp/podman369761639", "c"),
			 CLI_RUN_RUNTIME);
	assert_string_equal(run.rt.resources, "/var/tmp/podman369761639");
	assert_int_equal(PARSE("update", "--memory", "512m", "--cpu-quota", "50000",
			       "--cpu-period", "100000", "--cpuset-cpus", "0-1", "--cpu-share",
			       "512", "--pids-limit", "-1", "--memory-swap", "-1",
			       "--blkio-weight", "300", "c"),
			 CLI_RUN_RUNTIME);
	assert_true(r->has_memory);
	assert_int_equal(r->memory, 512ll << 20);
	assert_true(r->has_cpu_quota);
	assert_int_equal(r->cpu_quota, 50000);
	assert_int_equal(r->cpu_period, 100000);
	assert_string_equal(r->cpuset_cpus, "0-1");
	assert_int_equal(r->cpu_shares, 512);
	assert_int_equal(r->pids_limit, -1);
	assert_int_equal(r->memory_swap, -1);
	assert_false(r->has_memory_reservation);
	assert_int_equal(PARSE("update", "--cpu-shares=2", "c"), CLI_RUN_RUNTIME);
	assert_int_equal(r->cpu_shares, 2);
	assert_int_equal(PARSE("update", "--memory", "lots", "c"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("update", "--pids-limit", "-2", "c"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE("update", "--frob", "1", "c"), CLI_EXIT_USAGE);
}

static int res(const char *text, struct rt_resources *r, char *err, size_t errlen)
{
	*r = (struct rt_resources){ 0 };
	return rt_resources_parse(text, strlen(text), r, err, errlen);
}

static void res_free(struct rt_resources *r)
{
	free(r->json_cpus);
	free(r->json_mems);
}

/* LinuxResources as docker and podman write it; unknown fields ignored, as runc does. */
static void test_resources_json(void **state)
{
	struct rt_resources r;
	char err[256];

	(void)state;
	assert_int_equal(res("{\"memory\":{\"limit\":536870912,\"swap\":-1,\"kernel\":0},"
			     "\"cpu\":{\"shares\":1024,\"quota\":-1,\"period\":100000,"
			     "\"cpus\":\"0\",\"mems\":\"\",\"realtimeRuntime\":0},"
			     "\"pids\":{\"limit\":100},\"blockIO\":{\"weight\":10},"
			     "\"devices\":[],\"unified\":{\"x\":\"y\"}}", &r, err, sizeof(err)), 0);
	assert_true(r.has_memory);
	assert_int_equal(r.memory, 536870912);
	assert_int_equal(r.memory_swap, -1);
	assert_int_equal(r.cpu_shares, 1024);
	assert_int_equal(r.cpu_quota, -1);
	assert_int_equal(r.cpu_period, 100000);
	assert_string_equal(r.cpuset_cpus, "0");
	assert_string_equal(r.cpuset_mems, "");
	assert_int_equal(r.pids_limit, 100);
	res_free(&r);
	/* JSON null is absent (Go writes it). */
	assert_int_equal(res("{\"memory\":null,\"cpu\":{\"shares\":null}}", &r, err, sizeof(err)),
			 0);
	assert_false(r.has_memory);
	assert_false(r.has_cpu_shares);
	res_free(&r);
	assert_int_equal(res("{}", &r, err, sizeof(err)), 0);
	res_free(&r);
	assert_int_equal(res("[]", &r, err, sizeof(err)), -EINVAL);
	res_free(&r);
	assert_int_equal(res("{\"memory\":{\"limit\":\"1G\"}}", &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "memory.limit"));
	res_free(&r);
	assert_int_equal(res("{\"cpu\":{\"shares\":-5}}", &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "cpu.shares"));
	res_free(&r);
	assert_int_equal(res("{\"memory\":{\"limit\":-2}}", &r, err, sizeof(err)), -EINVAL);
	res_free(&r);
	assert_int_equal(res("{\"pids\":5}", &r, err, sizeof(err)), -EINVAL);
	res_free(&r);
	assert_int_equal(res("{\"cpu\":{\"cpus\":3}}", &r, err, sizeof(err)), -EINVAL);
	res_free(&r);
	assert_int_equal(res("{\"memory\":", &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not valid JSON"));
	res_free(&r);
}

/* features is JSON with runc's keys; what it lists is what hull's reader knows. */
static void test_features(void **state)
{
	struct json_object *o, *l, *a;
	char *text = rt_features_json(), err[256];
	size_t i;
	bool has_rbind = false;

	(void)state;
	assert_non_null(text);
	assert_int_equal(json_parse_strict(text, strlen(text), 1 << 20, &o, err, sizeof(err)), 0);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "ociVersionMin")),
			    "1.0.0");
	assert_non_null(json_object_object_get(o, "ociVersionMax"));
	a = json_object_object_get(o, "mountOptions");
	for (i = 0; i < json_object_array_length(a); i++)
		if (!strcmp(json_object_get_string(json_object_array_get_idx(a, i)), "rbind"))
			has_rbind = true;
	assert_true(has_rbind);
	/* Every kind of hook is run (container/hooks), in the spec's order. */
	a = json_object_object_get(o, "hooks");
	assert_int_equal(json_object_array_length(a), CTR_HOOK_KINDS);
	for (i = 0; i < CTR_HOOK_KINDS; i++)
		assert_string_equal(json_object_get_string(json_object_array_get_idx(a, i)),
				    ctr_hook_name((enum ctr_hook_kind)i));
	assert_string_equal(json_object_get_string(json_object_array_get_idx(a, 0)), "prestart");
	l = json_object_object_get(o, "linux");
	a = json_object_object_get(l, "capabilities");
	assert_int_equal(json_object_array_length(a), CTR_NCAPS);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(a, 0)), "CAP_CHOWN");
	assert_non_null(json_object_object_get(l, "namespaces"));
	assert_non_null(json_object_object_get(l, "cgroup"));
	/* seccomp as runc lists it: what container/seccomp.c compiles. */
	l = json_object_object_get(l, "seccomp");
	assert_true(json_object_get_boolean(json_object_object_get(l, "enabled")));
	a = json_object_object_get(l, "actions");
	assert_int_equal(json_object_array_length(a), 8);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(a, 1)),
			    "SCMP_ACT_ERRNO");
	assert_int_equal(json_object_array_length(json_object_object_get(l, "operators")), 7);
	assert_non_null(json_object_object_get(l, "archs"));
	json_object_put(o);
	free(text);
}

/* `spec`'s config.json is one hull's own reader takes. */
static void test_default_spec(void **state)
{
	char tmpl[] = "/tmp/hull-test-spec.XXXXXX", rootfs[64], err[256];
	const char *spec = rt_default_spec();
	struct ctr_bundle b;

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmpl);
	assert_int_equal(mkdir(rootfs, 0755), 0);
	if (ctr_oci_parse(spec, strlen(spec), tmpl, NULL, &b, err, sizeof(err)))
		fail_msg("the default spec: %s", err);
	assert_string_equal(b.oci_version, RT_SPEC_VERSION);
	ctr_bundle_free(&b);
	rmdir(rootfs);
	rmdir(tmpl);
}

/* A child that ends with rt_exit_as(sig, code): its wait status. */
static int exit_as(int sig, int code)
{
	sigset_t set;
	pid_t pid;
	int st;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* As a VMM or relay: the signal blocked (signalfd) and handled, before. */
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		sigprocmask(SIG_BLOCK, &set, NULL);
		signal(SIGQUIT, SIG_IGN);
		rt_exit_as(sig, code);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

/*
 * The pid file's rule: the VMM's (and an exec relay's) wait status is the container's: its
 * exit code, or death by its signal, re-raised with the default action however the process
 * had it, and no core dump for the container's SIGQUIT.
 */
static void test_exit_as(void **state)
{
	int st;

	(void)state;
	st = exit_as(0, 42);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 42);
	st = exit_as(0, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = exit_as(SIGTERM, 0);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	st = exit_as(SIGKILL, 0);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	st = exit_as(SIGQUIT, 0);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGQUIT && !WCOREDUMP(st));
	/* A signal whose default is to ignore it cannot end a process: 128 + N, as a shell. */
	st = exit_as(SIGCHLD, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGCHLD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_as),
		cmocka_unit_test_teardown(test_globals, teardown),
		cmocka_unit_test_teardown(test_create_run, teardown),
		cmocka_unit_test_teardown(test_id_verbs, teardown),
		cmocka_unit_test_teardown(test_kill, teardown),
		cmocka_unit_test(test_signals),
		cmocka_unit_test_teardown(test_exec, teardown),
		cmocka_unit_test_teardown(test_update, teardown),
		cmocka_unit_test(test_resources_json),
		cmocka_unit_test(test_features),
		cmocka_unit_test(test_default_spec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
