/* Unit tests for lib/file.c's reader of files whose size stat() does not tell (/proc, cgroupfs). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/file.h"

static char path[64];

static void write_bytes(size_t n)
{
	FILE *f = fopen(path, "w");
	size_t i;

	assert_non_null(f);
	for (i = 0; i < n; i++)
		fputc('a' + (int)(i % 26), f);
	fclose(f);
}

static int setup(void **state)
{
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/hull-test-file.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

/* Exactly max bytes are read whole; one more is -EFBIG, at every size around the growth steps. */
static void test_read_text_bound(void **state)
{
	static const size_t maxes[] = { 0, 1, 4095, 4096, 4097, 8191, 10000, 1 << 20 };
	size_t len, i;
	char *text;

	(void)state;
	for (i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
		write_bytes(maxes[i]);
		text = NULL;
		assert_int_equal(file_read_text(path, maxes[i], &text, &len), 0);
		assert_int_equal(len, maxes[i]);
		assert_int_equal(strlen(text), maxes[i]);
		if (len)
			assert_int_equal(text[len - 1], 'a' + (int)((len - 1) % 26));
		free(text);
		write_bytes(maxes[i] + 1);
		text = NULL;
		assert_int_equal(file_read_text(path, maxes[i], &text, &len), -EFBIG);
		assert_null(text);
	}
}

/* /proc's files say size 0 and are read to their end; a missing file is -ENOENT. */
static void test_read_text_proc(void **state)
{
	size_t len;
	char *text;

	(void)state;
	assert_int_equal(file_read_text("/proc/self/status", 1 << 20, &text, &len), 0);
	assert_non_null(strstr(text, "Name:"));
	assert_int_equal(strlen(text), len);
	free(text);
	assert_int_equal(file_read_text("/proc/self/status", 16, &text, &len), -EFBIG);
	assert_int_equal(file_read_text("/nonexistent/x", 16, &text, &len), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_text_bound),
		cmocka_unit_test(test_read_text_proc),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
