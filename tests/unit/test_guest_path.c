/* Unit tests for hull-init's exec: PATH search in the container's env, and 127/126 on failure. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "container/guest/guest.h"

/* The spec's strings are mutable char *: literals go in through this. */
#define S(lit) ((char *)(uintptr_t)(lit))

/* A fake filesystem for execve: each tried path and the errno it gives (0: it runs). */
struct fake {
	const char *paths[8];
	int errs[8];
	char tried[16][256];
	unsigned int ntried;
};

static int fake_exec(const char *path, void *ctx)
{
	struct fake *f = ctx;
	unsigned int i;

	if (f->ntried < 16)
		snprintf(f->tried[f->ntried++], 256, "%s", path);
	for (i = 0; i < 8 && f->paths[i]; i++)
		if (!strcmp(f->paths[i], path))
			return f->errs[i];
	return ENOENT;
}

static void test_search(void **state)
{
	struct fake f = { .paths = { "/usr/bin/ls" }, .errs = { 0 } };

	(void)state;
	assert_int_equal(gi_exec_search("ls", "/bin:/usr/bin:/sbin", fake_exec, &f), 0);
	assert_int_equal(f.ntried, 2);
	assert_string_equal(f.tried[0], "/bin/ls");
	assert_string_equal(f.tried[1], "/usr/bin/ls");
}

static void test_not_found_and_denied(void **state)
{
	struct fake f = { .paths = { "/a/x", "/b/x" }, .errs = { EACCES, ENOENT } };
	struct fake g = { .ntried = 0 };
	struct fake h = { .paths = { "/a/x", "/b/x" }, .errs = { EACCES, 0 } };
	struct fake i = { .paths = { "/a/x" }, .errs = { E2BIG } };

	(void)state;
	/* Every entry tried; one refused with EACCES: EACCES (126), as execvp does. */
	assert_int_equal(gi_exec_search("x", "/a:/b:/c", fake_exec, &f), EACCES);
	assert_int_equal(f.ntried, 3);
	assert_int_equal(gi_exec_status(EACCES), 126);
	/* Nowhere: ENOENT, 127. */
	assert_int_equal(gi_exec_search("x", "/a:/b", fake_exec, &g), ENOENT);
	assert_int_equal(gi_exec_status(ENOENT), 127);
	/* A later entry that runs wins over an earlier refusal. */
	assert_int_equal(gi_exec_search("x", "/a:/b", fake_exec, &h), 0);
	/* Another error stops the search: it is reported (126). */
	assert_int_equal(gi_exec_search("x", "/a:/b", fake_exec, &i), E2BIG);
	assert_int_equal(i.ntried, 1);
	assert_int_equal(gi_exec_status(E2BIG), 126);
	assert_int_equal(gi_exec_status(ENOEXEC), 126);
}

static void test_slash_and_empty(void **state)
{
	struct fake f = { .ntried = 0 };
	char longdir[5000];

	(void)state;
	/* A name with '/' is not searched. */
	assert_int_equal(gi_exec_search("./run", "/bin", fake_exec, &f), ENOENT);
	assert_int_equal(f.ntried, 1);
	assert_string_equal(f.tried[0], "./run");
	/* Empty entries are the current directory. */
	f.ntried = 0;
	assert_int_equal(gi_exec_search("t", ":/bin:", fake_exec, &f), ENOENT);
	assert_int_equal(f.ntried, 3);
	assert_string_equal(f.tried[0], "t");
	assert_string_equal(f.tried[1], "/bin/t");
	assert_string_equal(f.tried[2], "t");
	/* An empty name runs nothing. */
	f.ntried = 0;
	assert_int_equal(gi_exec_search("", "/bin", fake_exec, &f), ENOENT);
	assert_int_equal(f.ntried, 0);
	/* An entry too long for a path is skipped, not truncated. */
	memset(longdir, 'd', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	f.ntried = 0;
	assert_int_equal(gi_exec_search("t", longdir, fake_exec, &f), ENOENT);
	assert_int_equal(f.ntried, 0);
}

static void test_env_path(void **state)
{
	char *env[] = { S("HOME=/root"), S("PATH=/opt/bin:/bin"), S("PATHX=no") };
	char *none[] = { S("HOME=/root"), S("XPATH=/x") };

	(void)state;
	assert_string_equal(gi_env_path(env, 3), "/opt/bin:/bin");
	assert_string_equal(gi_env_path(none, 2), GI_DEFAULT_PATH);
	assert_string_equal(gi_env_path(NULL, 0), GI_DEFAULT_PATH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_search),
		cmocka_unit_test(test_not_found_and_denied),
		cmocka_unit_test(test_slash_and_empty),
		cmocka_unit_test(test_env_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
