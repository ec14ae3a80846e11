/* Unit tests for the OCI runtime's state directory (container/state): ids, locks, state.json. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container/oci.h"
#include "container/state.h"

static char tmpdir[256], root[512];

static int setup(void **state)
{
	char tmpl[] = "/tmp/hull-test-state.XXXXXX";

	(void)state;
	if (!mkdtemp(tmpl))
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "%s", tmpl);
	/* A root below the temporary directory: ctr_state_create makes it and its parent. */
	snprintf(root, sizeof(root), "%s/run/hull", tmpl);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void fill(struct ctr_state *s, const char *id)
{
	*s = (struct ctr_state){ 0 };
	s->oci_version = strdup("1.0.2");
	s->id = strdup(id);
	s->bundle = strdup("/b/ündle \"quoted\"");
	s->rootfs = strdup("/b/rootfs");
	s->owner = strdup("");
	s->status = CTR_CREATED;
	ctr_state_time(s->created, sizeof(s->created));
	s->annotations = json_object_new_object();
	json_object_object_add(s->annotations, "org.example/k", json_object_new_string("v"));
	s->control = strdup("/run/hull/x/ctl.sock");
	s->pid = (int)getpid();
	assert_int_equal(ctr_proc_start(getpid(), &s->pid_start), 0);
}

/* A container id made and its state written: the lock is released on return. */
static void make(const char *id, struct ctr_state *s)
{
	char err[256];
	int fd;

	assert_int_equal(ctr_state_create(root, id, &fd, err, sizeof(err)), 0);
	fill(s, id);
	assert_int_equal(ctr_state_write(root, s, err, sizeof(err)), 0);
	ctr_state_unlock(fd);
}

static void write_file(const char *id, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", root, id, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_ids(void **state)
{
	char err[256], longid[CTR_ID_MAX + 2];
	int fd;

	(void)state;
	assert_int_equal(ctr_id_check("c1", err, sizeof(err)), 0);
	assert_int_equal(ctr_id_check("a-b_c+d.e", err, sizeof(err)), 0);
	assert_int_equal(ctr_id_check("..a", err, sizeof(err)), 0);
	assert_int_equal(ctr_id_check("", err, sizeof(err)), -EINVAL);
	assert_int_equal(ctr_id_check(".", err, sizeof(err)), -EINVAL);
	assert_int_equal(ctr_id_check("..", err, sizeof(err)), -EINVAL);
	assert_int_equal(ctr_id_check("a/b", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "0x2f"));
	assert_int_equal(ctr_id_check("a b", err, sizeof(err)), -EINVAL);
	assert_int_equal(ctr_id_check("a\nb", err, sizeof(err)), -EINVAL);
	assert_int_equal(ctr_id_check("\xc3\xa9", err, sizeof(err)), -EINVAL);
	memset(longid, 'a', sizeof(longid));
	longid[CTR_ID_MAX] = '\0';
	assert_int_equal(ctr_id_check(longid, err, sizeof(err)), 0);
	longid[CTR_ID_MAX] = 'a';
	longid[CTR_ID_MAX + 1] = '\0';
	assert_int_equal(ctr_id_check(longid, err, sizeof(err)), -EINVAL);
	/* Every entry point checks: no path is ever made from a bad id. */
	assert_int_equal(ctr_state_create(root, "../x", &fd, err, sizeof(err)), -EINVAL);
	assert_int_equal(ctr_state_lock(root, "..", &fd, err, sizeof(err)), -EINVAL);
}

static void test_roundtrip(void **state)
{
	struct ctr_state s, r;
	char err[256];

	(void)state;
	make("c1", &s);
	assert_int_equal(ctr_state_read(root, "c1", &r, err, sizeof(err)), 0);
	assert_string_equal(r.id, "c1");
	assert_string_equal(r.oci_version, "1.0.2");
	assert_string_equal(r.bundle, s.bundle);
	assert_string_equal(r.rootfs, "/b/rootfs");
	assert_string_equal(r.owner, "");
	assert_string_equal(r.created, s.created);
	assert_string_equal(r.control, s.control);
	assert_int_equal(r.status, CTR_CREATED);
	assert_int_equal(r.pid, getpid());
	assert_int_equal(r.pid_start, s.pid_start);
	assert_string_equal(json_object_get_string(json_object_object_get(r.annotations,
									  "org.example/k")), "v");
	/* Our own process is alive with its start time: not stale. */
	assert_false(ctr_state_refresh(&r));
	assert_int_equal(r.status, CTR_CREATED);
	ctr_state_free(&r);
	ctr_state_free(&s);
}

/* update's resources: kept under "hull" as given, read back, never shown by state. */
static void test_resources(void **state)
{
	struct ctr_state s, r;
	struct json_object *o;
	char err[256];

	(void)state;
	make("res1", &s);
	s.resources = json_tokener_parse("{\"memory\":{\"limit\":1048576},\"pids\":{\"limit\":9}}");
	assert_non_null(s.resources);
	assert_int_equal(ctr_state_write(root, &s, err, sizeof(err)), 0);
	assert_int_equal(ctr_state_read(root, "res1", &r, err, sizeof(err)), 0);
	o = json_object_object_get(json_object_object_get(r.resources, "pids"), "limit");
	assert_int_equal(json_object_get_int(o), 9);
	o = ctr_state_json(&r);
	assert_null(json_object_object_get(o, "resources"));
	assert_null(json_object_object_get(o, "hull"));
	json_object_put(o);
	ctr_state_free(&r);
	ctr_state_free(&s);
}

/* The update replaces the file whole, leaves no temporary behind, and a reader sees it. */
static void test_atomic_update(void **state)
{
	struct ctr_state s, r;
	char err[256], path[PATH_MAX];
	int fd;

	(void)state;
	make("up", &s);
	assert_int_equal(ctr_state_lock(root, "up", &fd, err, sizeof(err)), 0);
	s.status = CTR_RUNNING;
	free(s.control);
	s.control = NULL;
	json_object_put(s.annotations);
	s.annotations = NULL;
	/* A temporary file left by a writer that crashed is simply replaced. */
	write_file("up", CTR_STATE_TMP, "garbage");
	assert_int_equal(ctr_state_write(root, &s, err, sizeof(err)), 0);
	ctr_state_unlock(fd);
	snprintf(path, sizeof(path), "%s/up/%s", root, CTR_STATE_TMP);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(ctr_state_read(root, "up", &r, err, sizeof(err)), 0);
	assert_int_equal(r.status, CTR_RUNNING);
	assert_null(r.control);
	assert_null(r.annotations);
	ctr_state_free(&r);
	ctr_state_free(&s);
}

static void test_stale(void **state)
{
	struct ctr_state s;
	struct json_object *o;
	pid_t child;
	int st;

	(void)state;
	fill(&s, "stale");
	s.status = CTR_RUNNING;
	/* The start time differs: the PID was reused by another process. */
	s.pid_start++;
	assert_true(ctr_state_refresh(&s));
	assert_int_equal(s.status, CTR_STOPPED);
	o = ctr_state_json(&s);
	assert_non_null(o);
	assert_int_equal(json_object_get_int(json_object_object_get(o, "pid")), 0);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "status")),
			    "stopped");
	json_object_put(o);
	/* The pid is gone. */
	child = fork();
	assert_true(child >= 0);
	if (!child)
		_exit(0);
	/* A zombie has exited already. */
	while (ctr_proc_start(child, &s.pid_start) == 0)
		usleep(1000);
	assert_int_equal(ctr_proc_start(child, &s.pid_start), -ESRCH);
	assert_int_equal(waitpid(child, &st, 0), child);
	assert_int_equal(ctr_proc_start(child, &s.pid_start), -ESRCH);
	s.pid = child;
	s.status = CTR_PAUSED;
	assert_true(ctr_state_refresh(&s));
	assert_int_equal(s.status, CTR_STOPPED);
	/* Stopped stays stopped; no pid at all is stopped too. */
	assert_false(ctr_state_refresh(&s));
	s.status = CTR_RUNNING;
	s.pid = 0;
	assert_true(ctr_state_refresh(&s));
	ctr_state_free(&s);
}

static void test_missing_and_exists(void **state)
{
	struct ctr_state s;
	char err[256];
	int fd;

	(void)state;
	assert_int_equal(ctr_state_lock(root, "nope", &fd, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "container \"nope\" does not exist");
	assert_int_equal(ctr_state_read(root, "nope", &s, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "container \"nope\" does not exist");
	ctr_state_free(&s);
	make("dup", &s);
	ctr_state_free(&s);
	assert_int_equal(ctr_state_create(root, "dup", &fd, err, sizeof(err)), -EEXIST);
	assert_string_equal(err, "container with id exists: dup");
}

static void expect_corrupt(const char *text, const char *why)
{
	struct ctr_state r;
	char err[512];

	write_file("bad", CTR_STATE_FILE, text);
	assert_int_equal(ctr_state_read(root, "bad", &r, err, sizeof(err)), -EINVAL);
	if (!strstr(err, why) || !strstr(err, "state of container bad"))
		fail_msg("'%s' does not say '%s'", err, why);
	ctr_state_free(&r);
}

#define GOOD_HEAD "{\"ociVersion\":\"1.0.2\",\"id\":\"bad\",\"pid\":1,\"bundle\":\"/b\"," \
		  "\"rootfs\":\"/b/r\",\"owner\":\"\",\"created\":\"2026-01-02T03:04:05.5Z\","

static void test_corrupt(void **state)
{
	struct ctr_state s, r;
	char err[512];

	(void)state;
	make("bad", &s);
	ctr_state_free(&s);
	expect_corrupt("", "not valid JSON");
	expect_corrupt("{\"id\":", "not valid JSON");
	expect_corrupt("[]", "expected an object");
	expect_corrupt("{}", "ociVersion: missing");
	expect_corrupt(GOOD_HEAD "\"status\":\"zombie\",\"hull\":{\"pidStart\":1}}", "status");
	expect_corrupt(GOOD_HEAD "\"status\":\"running\"}", "hull: missing");
	expect_corrupt(GOOD_HEAD "\"status\":\"running\",\"hull\":{}}", "hull.pidStart: missing");
	expect_corrupt(GOOD_HEAD "\"status\":\"running\",\"hull\":{\"pidStart\":-1}}",
		       "hull.pidStart");
	expect_corrupt(GOOD_HEAD "\"status\":7,\"hull\":{\"pidStart\":1}}", "status");
	expect_corrupt(GOOD_HEAD "\"status\":\"running\",\"annotations\":{\"a\":1},"
		       "\"hull\":{\"pidStart\":1}}", "annotations.a");
	expect_corrupt("{\"ociVersion\":\"1.0.2\",\"id\":\"other\",\"pid\":1,\"bundle\":\"/b\","
		       "\"rootfs\":\"/b/r\",\"owner\":\"\",\"created\":\"2026-01-02T03:04:05Z\","
		       "\"status\":\"running\",\"hull\":{\"pidStart\":1}}", "directory's");
	expect_corrupt("{\"ociVersion\":\"1.0.2\",\"id\":\"bad\",\"pid\":1,\"bundle\":\"/b\","
		       "\"rootfs\":\"/b/r\",\"owner\":\"\",\"created\":\"yesterday\","
		       "\"status\":\"running\",\"hull\":{\"pidStart\":1}}", "RFC 3339");
	expect_corrupt("{\"ociVersion\":\"1.0.2\",\"id\":\"bad\",\"pid\":-4,\"bundle\":\"/b\","
		       "\"rootfs\":\"/b/r\",\"owner\":\"\",\"created\":\"2026-01-02T03:04:05Z\","
		       "\"status\":\"running\",\"hull\":{\"pidStart\":1}}", "pid");
	/* And the well-formed file (with an offset time) reads. */
	write_file("bad", CTR_STATE_FILE, GOOD_HEAD "\"status\":\"paused\","
		   "\"hull\":{\"pidStart\":1}}");
	assert_int_equal(ctr_state_read(root, "bad", &r, err, sizeof(err)), 0);
	assert_int_equal(r.status, CTR_PAUSED);
	ctr_state_free(&r);
}

static void test_list_remove(void **state)
{
	struct ctr_state s;
	char err[256], **ids, path[PATH_MAX];
	unsigned int n;
	int fd;

	(void)state;
	make("zz", &s);
	ctr_state_free(&s);
	make("aa", &s);
	ctr_state_free(&s);
	/* Not containers: a file, a directory whose name is no id. */
	snprintf(path, sizeof(path), "%s/afile", root);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	snprintf(path, sizeof(path), "%s/not an id", root);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(ctr_state_list(root, &ids, &n, err, sizeof(err)), 0);
	assert_true(n >= 2);
	assert_string_equal(ids[0], "aa");
	for (unsigned int i = 0; i < n; i++) {
		assert_string_not_equal(ids[i], "afile");
		assert_string_not_equal(ids[i], "not an id");
		if (i)
			assert_true(strcmp(ids[i - 1], ids[i]) < 0);
	}
	ctr_strv_free(ids, n);
	assert_int_equal(ctr_state_lock(root, "zz", &fd, err, sizeof(err)), 0);
	assert_int_equal(ctr_state_remove(root, "zz", err, sizeof(err)), 0);
	ctr_state_unlock(fd);
	assert_int_equal(ctr_state_lock(root, "zz", &fd, err, sizeof(err)), -ENOENT);
	snprintf(path, sizeof(path), "%s/zz", root);
	assert_int_equal(access(path, F_OK), -1);
	/* A missing root lists nothing. */
	assert_int_equal(ctr_state_list("/nonexistent/hull-root", &ids, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
}

/*
 * Lockers in child processes increment a counter in state.json's pid under the lock, each
 * read-modify-write slow enough to be interleaved without it: no update is lost.
 */
#define LOCKERS 4
#define ROUNDS 25

static void test_concurrent_lockers(void **state)
{
	struct ctr_state s, r;
	char err[256];
	pid_t kids[LOCKERS];
	int i, k, st, fd;

	(void)state;
	make("race", &s);
	s.pid = 0;
	assert_int_equal(ctr_state_lock(root, "race", &fd, err, sizeof(err)), 0);
	assert_int_equal(ctr_state_write(root, &s, err, sizeof(err)), 0);
	ctr_state_unlock(fd);
	for (k = 0; k < LOCKERS; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k])
			continue;
		for (i = 0; i < ROUNDS; i++) {
			if (ctr_state_lock(root, "race", &fd, err, sizeof(err)) ||
			    ctr_state_read(root, "race", &r, err, sizeof(err)))
				_exit(1);
			r.pid++;
			usleep(200);
			if (ctr_state_write(root, &r, err, sizeof(err)))
				_exit(2);
			ctr_state_free(&r);
			ctr_state_unlock(fd);
		}
		_exit(0);
	}
	for (k = 0; k < LOCKERS; k++) {
		assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_int_equal(ctr_state_read(root, "race", &r, err, sizeof(err)), 0);
	assert_int_equal(r.pid, LOCKERS * ROUNDS);
	ctr_state_free(&r);
	ctr_state_free(&s);
}

/* A verb waiting for the lock while delete removes the container finds it gone. */
static void test_lock_waiter_sees_delete(void **state)
{
	struct ctr_state s;
	char err[256], c;
	int fd, p[2], st;
	pid_t kid;

	(void)state;
	make("gone", &s);
	ctr_state_free(&s);
	assert_int_equal(ctr_state_lock(root, "gone", &fd, err, sizeof(err)), 0);
	assert_int_equal(pipe(p), 0);
	kid = fork();
	assert_true(kid >= 0);
	if (!kid) {
		int kfd, ret;

		close(p[0]);
		/* The parent's lock is on an open file description fork() shares: drop ours. */
		close(fd);
		/* Blocks until the parent's delete releases the lock. */
		if (write(p[1], "x", 1) != 1)
			_exit(3);
		ret = ctr_state_lock(root, "gone", &kfd, err, sizeof(err));
		_exit(ret == -ENOENT ? 0 : 1);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	usleep(50 * 1000); /* most likely blocked in flock by now; either order must pass */
	assert_int_equal(ctr_state_remove(root, "gone", err, sizeof(err)), 0);
	ctr_state_unlock(fd);
	assert_int_equal(waitpid(kid, &st, 0), kid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_time(void **state)
{
	char t[CTR_TIME_LEN];

	(void)state;
	ctr_state_time(t, sizeof(t));
	/* 2026-12-06T21:44:55.123456789Z */
	assert_int_equal(strlen(t), 30);
	assert_int_equal(t[10], 'T');
	assert_int_equal(t[19], '.');
	assert_int_equal(t[29], 'Z');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_resources),
		cmocka_unit_test(test_atomic_update),
		cmocka_unit_test(test_stale),
		cmocka_unit_test(test_missing_and_exists),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_list_remove),
		cmocka_unit_test(test_concurrent_lockers),
		cmocka_unit_test(test_lock_waiter_sees_delete),
		cmocka_unit_test(test_time),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
