/* Unit tests for config.json's OCI hooks (container/hooks): reading them, running one. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/hooks.h"
#include "lib/file.h"
#include "lib/log.h"

static char dir[256];

static int setup(void **state)
{
	char tmpl[] = "/tmp/hull-test-hooks.XXXXXX";

	(void)state;
	if (!mkdtemp(tmpl))
		return -1;
	snprintf(dir, sizeof(dir), "%s", tmpl);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int parse(const char *text, struct ctr_hooks *h, char *err, size_t errlen)
{
	err[0] = '\0';
	return ctr_hooks_parse(text, strlen(text), h, err, errlen);
}

static void test_parse(void **state)
{
	struct ctr_hooks h;
	char err[256];

	(void)state;
	assert_int_equal(parse("{\"prestart\":[{\"path\":\"/a\",\"args\":[\"a0\",\"x\"],"
			       "\"env\":[\"K=V\"],\"timeout\":5},{\"path\":\"/b\"}],"
			       "\"createRuntime\":[],\"createContainer\":[{\"path\":\"/c\"}],"
			       "\"startContainer\":[{\"path\":\"/d\"}],\"poststart\":null,"
			       "\"poststop\":[{\"path\":\"/e\",\"env\":[]}],\"future\":[1]}",
			       &h, err, sizeof(err)),
			 0);
	assert_int_equal(h.n[CTR_HOOK_PRESTART], 2);
	assert_string_equal(h.v[CTR_HOOK_PRESTART][0].path, "/a");
	assert_int_equal(h.v[CTR_HOOK_PRESTART][0].nargs, 2);
	assert_string_equal(h.v[CTR_HOOK_PRESTART][0].args[0], "a0");
	assert_string_equal(h.v[CTR_HOOK_PRESTART][0].env[0], "K=V");
	assert_int_equal(h.v[CTR_HOOK_PRESTART][0].timeout, 5);
	assert_null(h.v[CTR_HOOK_PRESTART][1].args);
	assert_null(h.v[CTR_HOOK_PRESTART][1].env);
	assert_int_equal(h.v[CTR_HOOK_PRESTART][1].timeout, 0);
	assert_int_equal(h.n[CTR_HOOK_CREATE_RUNTIME], 0);
	assert_int_equal(h.n[CTR_HOOK_CREATE_CONTAINER], 1);
	assert_int_equal(h.n[CTR_HOOK_START_CONTAINER], 1);
	assert_int_equal(h.n[CTR_HOOK_POSTSTART], 0);
	assert_int_equal(h.n[CTR_HOOK_POSTSTOP], 1);
	/* An empty env is an empty environment, not hull's. */
	assert_non_null(h.v[CTR_HOOK_POSTSTOP][0].env);
	assert_int_equal(h.v[CTR_HOOK_POSTSTOP][0].nenv, 0);
	ctr_hooks_free(&h);
	assert_string_equal(ctr_hook_name(CTR_HOOK_CREATE_RUNTIME), "createRuntime");
	assert_null(ctr_hook_name(CTR_HOOK_KINDS));
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "[]", "hooks" },
		{ "{\"prestart\":{}}", "hooks.prestart" },
		{ "{\"prestart\":[1]}", "hooks.prestart[0]" },
		{ "{\"poststop\":[{}]}", "hooks.poststop[0].path: missing" },
		{ "{\"poststart\":[{\"path\":\"rel/x\"}]}", "hooks.poststart[0].path rel/x: not absolute" },
		{ "{\"createRuntime\":[{\"path\":\"/x\"},{\"path\":\"/y\",\"args\":[\"a\",2]}]}",
		  "hooks.createRuntime[1].args[1]" },
		{ "{\"createContainer\":[{\"path\":\"/x\",\"env\":\"K=V\"}]}",
		  "hooks.createContainer[0].env" },
		{ "{\"startContainer\":[{\"path\":\"/x\",\"timeout\":0}]}",
		  "hooks.startContainer[0].timeout 0: not a positive" },
		{ "{\"prestart\":[{\"path\":\"/x\",\"timeout\":-3}]}", "hooks.prestart[0].timeout -3" },
		{ "{\"prestart\":[{\"path\":\"/x\",\"timeout\":1.5}]}", "hooks.prestart[0].timeout" },
		{ "{\"prestart\":[{\"path\":\"/x\",\"timeout\":\"5\"}]}", "hooks.prestart[0].timeout" },
		{ "{\"prestart\":[{\"path\":\"/x\",\"timeout\":86401}]}",
		  "hooks.prestart[0].timeout 86401" },
		{ "{\"prestart\":[{\"path\":7}]}", "hooks.prestart[0].path" },
	};
	struct ctr_hooks h;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret = parse(cases[i].text, &h, err, sizeof(err));

		ctr_hooks_free(&h);
		if (ret >= 0 || !strstr(err, cases[i].want))
			fail_msg("%s: %d \"%s\", wanted \"%s\"", cases[i].text, ret, err,
				 cases[i].want);
	}
}

/* A hook script in the temporary directory: its path. */
static char *script(const char *name, const char *body)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
	return path;
}

static char *slurp(const char *name)
{
	char path[512], *text = NULL;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (file_read_text(path, 1u << 20, &text, &len))
		return NULL;
	return text;
}

static void test_run_stdin_argv_env(void **state)
{
	static const char st[] = "{\"ociVersion\":\"1.0.2\",\"id\":\"c1\",\"status\":\"creating\"}";
	char body[1024], err[256], a0[] = "argv-zero", a1[] = "one", a2[] = "two words",
				    e0[] = "HOOKVAR=yes", e1[] = "PATH=/usr/bin:/bin";
	char *args[] = { a0, a1, a2 }, *env[] = { e0, e1 };
	struct ctr_hook h = { .args = args, .nargs = 3, .env = env, .nenv = 2 };
	char *got;

	(void)state;
	snprintf(body, sizeof(body),
		 "cat > %s/stdin\n"
		 "printf '%%s|' \"$0\" \"$@\" > %s/argv\n"
		 "env | grep -v '^PWD=' | grep -v '^SHLVL=' | grep -v '^_=' | sort > %s/env\n",
		 dir, dir, dir);
	h.path = script("hook", body);
	assert_int_equal(ctr_hook_run(&h, "prestart", st, strlen(st), err, sizeof(err)), 0);
	got = slurp("stdin");
	assert_non_null(got);
	assert_string_equal(got, st);
	free(got);
	/* sh's $0 is the script (the kernel's), the rest argv[1..] as given. */
	got = slurp("argv");
	assert_non_null(got);
	assert_true(strstr(got, "|one|two words|") != NULL);
	free(got);
	got = slurp("env");
	assert_non_null(got);
	assert_string_equal(got, "HOOKVAR=yes\nPATH=/usr/bin:/bin\n");
	free(got);
}

static void test_run_argv0(void **state)
{
	char body[512], err[256], sh[] = "/bin/sh", a0[] = "custom-zero", a1[] = "-c";
	char *args[] = { a0, a1, body };
	struct ctr_hook h = { .path = sh, .args = args, .nargs = 3 };
	char *got;

	(void)state;
	/* path is the executable, args[0] its argv[0]: the kernel's view of the process. */
	snprintf(body, sizeof(body), "tr '\\0' ' ' < /proc/$$/cmdline > %s/cmdline", dir);
	assert_int_equal(ctr_hook_run(&h, "poststop", "{}", 2, err, sizeof(err)), 0);
	got = slurp("cmdline");
	assert_non_null(got);
	assert_true(strstr(got, "custom-zero -c ") == got);
	free(got);
}

static void test_run_failures(void **state)
{
	struct ctr_hook h = { 0 };
	char err[256], missing[] = "/nonexistent/hook";

	(void)state;
	h.path = script("exit3", "exit 3");
	assert_int_equal(ctr_hook_run(&h, "prestart", "{}", 2, err, sizeof(err)), -ECHILD);
	assert_string_equal(err, "exit status 3");
	h.path = script("sig", "kill -TERM $$");
	assert_int_equal(ctr_hook_run(&h, "prestart", "{}", 2, err, sizeof(err)), -ECHILD);
	assert_string_equal(err, "killed by signal 15");
	h.path = missing;
	assert_int_equal(ctr_hook_run(&h, "prestart", "{}", 2, err, sizeof(err)), -ECHILD);
	assert_string_equal(err, "exit status 127");
}

/* pid has ended (gone, or a zombie not yet reaped by whoever inherited it), waiting up to 10 s. */
static bool gone(int pid)
{
	char path[64], *stat = NULL, *p;
	size_t len;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	for (i = 0; i < 1000; i++) {
		if (file_read_text(path, 4096, &stat, &len))
			return true;
		p = strrchr(stat, ')');
		if (p && p[1] == ' ' && p[2] == 'Z') {
			free(stat);
			return true;
		}
		free(stat);
		stat = NULL;
		usleep(10000);
	}
	return false;
}

static void test_run_timeout(void **state)
{
	char body[512], err[256];
	struct ctr_hook h = { .timeout = 1 };
	char *got;

	(void)state;
	/*
	 * Never reads stdin, never exits, and leaves a child holding its output: killed at its
	 * timeout, its group with it.
	 */
	snprintf(body, sizeof(body), "sleep 100 &\necho $! > %s/bg\necho started\nsleep 100", dir);
	h.path = script("stuck", body);
	assert_int_equal(ctr_hook_run(&h, "poststart", "{}", 2, err, sizeof(err)), -ETIMEDOUT);
	assert_string_equal(err, "timed out after 1 s (killed)");
	got = slurp("bg");
	assert_non_null(got);
	assert_true(gone(atoi(got)));
	free(got);
}

static void test_run_unread_stdin(void **state)
{
	struct ctr_hook h = { 0 };
	size_t len = 1u << 20;
	char err[256], *big = malloc(len);

	(void)state;
	assert_non_null(big);
	memset(big, 'x', len);
	/* More than a pipe holds, and the hook reads none of it: no hang, no SIGPIPE. */
	h.path = script("noread", "exit 0");
	assert_int_equal(ctr_hook_run(&h, "poststop", big, len, err, sizeof(err)), 0);
	free(big);
}

static void test_run_output_logged(void **state)
{
	char log[512], err[256], *got;
	struct ctr_hooks hs = { 0 };
	struct ctr_hook v[2] = { { 0 }, { 0 } };

	(void)state;
	snprintf(log, sizeof(log), "%s/log", dir);
	v[0].path = strdup(script("out1", "echo to-stdout; echo to-stderr >&2; exit 1"));
	v[1].path = strdup(script("out2", "echo second-ran"));
	hs.v[CTR_HOOK_POSTSTART] = v;
	hs.n[CTR_HOOK_POSTSTART] = 2;
	assert_int_equal(log_open(log, LOG_TEXT), 0);
	/* poststart's: every hook runs, the first failure returned. */
	assert_int_equal(ctr_hooks_run(&hs, CTR_HOOK_POSTSTART, "{}", 2, true, err, sizeof(err)),
			 -ECHILD);
	log_close();
	assert_true(strstr(err, "poststart hook 0 (") == err);
	assert_true(strstr(err, "exit status 1") != NULL);
	got = slurp("log");
	assert_non_null(got);
	assert_true(strstr(got, "hook poststart: to-stdout\n") != NULL);
	assert_true(strstr(got, "hook poststart: to-stderr\n") != NULL);
	assert_true(strstr(got, "warning: poststart hook 0") != NULL);
	assert_true(strstr(got, "hook poststart: second-ran\n") != NULL);
	free(got);
	/* prestart's: the first failure stops the rest. */
	hs.v[CTR_HOOK_PRESTART] = v;
	hs.n[CTR_HOOK_PRESTART] = 2;
	hs.v[CTR_HOOK_POSTSTART] = NULL;
	hs.n[CTR_HOOK_POSTSTART] = 0;
	assert_int_equal(unlink(log), 0);
	assert_int_equal(log_open(log, LOG_TEXT), 0);
	assert_int_equal(ctr_hooks_run(&hs, CTR_HOOK_PRESTART, "{}", 2, false, err, sizeof(err)),
			 -ECHILD);
	log_close();
	got = slurp("log");
	assert_non_null(got);
	assert_null(strstr(got, "second-ran"));
	free(got);
	free(v[0].path);
	free(v[1].path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test_setup_teardown(test_run_stdin_argv_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_argv0, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_unread_stdin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_output_logged, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
