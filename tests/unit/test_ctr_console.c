/* Unit tests for container mode's console: the tail kept for messages, and what they show. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "container/console.h"
#include "tests/unit/virtio_env.h"

static char out[CTR_CONSOLE_TAIL + 64];

static void test_tail(void **state)
{
	static struct ctr_tail t;
	char big[CTR_CONSOLE_TAIL + 100];
	size_t i;

	(void)state;
	memset(&t, 0, sizeof(t));
	assert_int_equal(ctr_tail_get(&t, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	ctr_tail_add(&t, "abc", 3);
	ctr_tail_add(&t, "def", 3);
	assert_int_equal(ctr_tail_get(&t, out, sizeof(out)), 6);
	assert_string_equal(out, "abcdef");
	/* A small buffer gets the newest bytes. */
	assert_int_equal(ctr_tail_get(&t, out, 4), 3);
	assert_string_equal(out, "def");
	/* Past its size, in pieces that wrap and in one piece larger than it: the newest bytes. */
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	for (i = 0; i < sizeof(big); i += 7)
		ctr_tail_add(&t, big + i, sizeof(big) - i < 7 ? sizeof(big) - i : 7);
	assert_int_equal(ctr_tail_get(&t, out, sizeof(out)), CTR_CONSOLE_TAIL);
	assert_memory_equal(out, big + 100, CTR_CONSOLE_TAIL);
	ctr_tail_add(&t, "xyz", 3);
	ctr_tail_add(&t, big, sizeof(big));
	assert_int_equal(ctr_tail_get(&t, out, sizeof(out)), CTR_CONSOLE_TAIL);
	assert_memory_equal(out, big + 100, CTR_CONSOLE_TAIL);
}

static void test_report(void **state)
{
	static const char first[] = "hull: container: the VM ended: hull-init: fatal: mount /data: "
				    "type nfs\nhull: console: line 11\nhull: console: line 12\n";
	static struct ctr_console c;
	char line[64], *msg;
	unsigned int i;

	(void)state;
	memset(&c, 0, sizeof(c));
	virtio_env_capture_start();
	ctr_console_report(&c, "container: it failed");
	msg = virtio_env_capture_end();
	assert_string_equal(msg, "hull: container: it failed\n"
				 "hull: console: (nothing: the guest wrote no console output)\n");
	/* hull-init's fatal line is named first; then the last lines of the console. */
	for (i = 0; i < 30; i++) {
		snprintf(line, sizeof(line), "line %u\r\n", i);
		ctr_tail_add(&c.tail, line, strlen(line));
	}
	ctr_tail_add(&c.tail, "hull-init: fatal: mount /data: type nfs\r\n", 41);
	virtio_env_capture_start();
	ctr_console_report(&c, "container: the VM ended");
	msg = virtio_env_capture_end();
	assert_true(!strncmp(msg, first, strlen(first)));
	assert_non_null(strstr(msg, "hull: console: line 29\nhull: console: hull-init: fatal: "
				    "mount /data: type nfs\n"));
	assert_null(strstr(msg, "line 10\n"));
	assert_null(strstr(msg, "\r"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tail),
		cmocka_unit_test(test_report),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
