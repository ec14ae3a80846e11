/* Unit tests for hull's messages: text and JSON lines, escaping, a file, a stalled stderr. */
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
#include <unistd.h>

#include "lib/log.h"

static const struct timespec when = { .tv_sec = 1700000000, .tv_nsec = 123456789 };

static char *line(enum log_format f, const char *level, const char *msg, size_t *len)
{
	char *l = log_format_line(f, level, msg, &when, len);

	assert_non_null(l);
	assert_int_equal(strlen(l), *len);
	assert_int_equal(l[*len - 1], '\n');
	assert_null(memchr(l, '\n', *len - 1)); /* one line, whatever msg holds */
	return l;
}

/* Parse a JSON line back and return member key's string (valid until the object is put). */
static const char *member(struct json_object *o, const char *key)
{
	struct json_object *v;

	assert_true(json_object_object_get_ex(o, key, &v));
	assert_true(json_object_is_type(v, json_type_string));
	return json_object_get_string(v);
}

static struct json_object *parse(const char *l)
{
	struct json_object *o = json_tokener_parse(l);

	if (!o)
		fail_msg("not JSON: %s", l);
	assert_true(json_object_is_type(o, json_type_object));
	assert_int_equal(json_object_object_length(o), 3);
	return o;
}

static void test_text(void **state)
{
	size_t len;
	char *l;

	(void)state;
	l = line(LOG_TEXT, "error", "disk /a: locked", &len);
	assert_string_equal(l, "hull: disk /a: locked\n");
	free(l);
	l = line(LOG_TEXT, "debug", "x", &len);
	assert_string_equal(l, "hull: x\n");
	free(l);
}

static void test_json_fields(void **state)
{
	struct json_object *o;
	size_t len;
	char *l;

	(void)state;
	l = line(LOG_JSON, "error", "disk /a: locked", &len);
	/* runc's order and names: level, msg, time (RFC 3339, UTC, nanoseconds). */
	assert_string_equal(l, "{\"level\":\"error\",\"msg\":\"disk /a: locked\","
			       "\"time\":\"2023-11-14T22:13:20.123456789Z\"}\n");
	o = parse(l);
	assert_string_equal(member(o, "level"), "error");
	json_object_put(o);
	free(l);
	l = line(LOG_JSON, "debug", "stage kvm", &len);
	o = parse(l);
	assert_string_equal(member(o, "level"), "debug");
	assert_string_equal(member(o, "msg"), "stage kvm");
	json_object_put(o);
	free(l);
}

/* Whatever bytes a message holds (paths are the user's), the line is one valid JSON object. */
static void test_json_escaping(void **state)
{
	static const struct {
		const char *msg, *back;
	} cases[] = {
		{ "quote \" backslash \\ slash /", "quote \" backslash \\ slash /" },
		{ "new\nline\ttab\r\x01\x1f", "new\nline\ttab\r\x01\x1f" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
		/* Not UTF-8: a lone continuation, a cut sequence, an overlong '/', a surrogate. */
		{ "a\x80z", "a\xef\xbf\xbdz" },
		{ "cut \xe2\x82", "cut \xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xff", "\xef\xbf\xbd" },
	};
	struct json_object *o;
	unsigned int i;
	size_t len;
	char *l;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		l = line(LOG_JSON, "error", cases[i].msg, &len);
		o = parse(l);
		if (strcmp(member(o, "msg"), cases[i].back))
			fail_msg("case %u: %s", i, l);
		json_object_put(o);
		free(l);
	}
}

/* The longest message, all escapes: cut so that a pipe takes the line whole. */
static void test_json_bounded(void **state)
{
	char msg[LOG_MSG_MAX + 1];
	struct json_object *o;
	size_t len;
	char *l;

	(void)state;
	memset(msg, '\x01', LOG_MSG_MAX);
	msg[LOG_MSG_MAX] = '\0';
	l = line(LOG_JSON, "error", msg, &len);
	assert_true(len <= PIPE_BUF);
	o = parse(l);
	assert_true(strlen(member(o, "msg")) > 0);
	json_object_put(o);
	free(l);
	/* Plain text is kept to LOG_MSG_MAX. */
	memset(msg, 'x', LOG_MSG_MAX);
	l = line(LOG_TEXT, "error", msg, &len);
	assert_int_equal(len, 6 + LOG_MSG_MAX + 1);
	free(l);
}

static void test_parse_format(void **state)
{
	enum log_format f;

	(void)state;
	assert_int_equal(log_parse_format("json", &f), 0);
	assert_int_equal(f, LOG_JSON);
	assert_int_equal(log_parse_format("text", &f), 0);
	assert_int_equal(f, LOG_TEXT);
	assert_int_equal(log_parse_format("JSON", &f), -EINVAL);
	assert_int_equal(log_parse_format("", &f), -EINVAL);
}

/* --log FILE --log-format json: appended lines, one JSON object each; debug only when verbose. */
static void test_file_json(void **state)
{
	char path[] = "/tmp/hull-test-log-XXXXXX", buf[4096], *nl, *l;
	struct json_object *o;
	int fd = mkstemp(path), n = 0;
	ssize_t got;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "earlier\n", 8), 8);
	assert_int_equal(log_open(path, LOG_JSON), 0);
	log_msg("share %s: gone", "/srv/\"x\"");
	log_debug("not shown");
	log_set_verbose(true);
	log_debug("stage %d", 3);
	log_set_verbose(false);
	log_close();
	got = pread(fd, buf, sizeof(buf) - 1, 0);
	assert_true(got > 0);
	buf[got] = '\0';
	assert_int_equal(strncmp(buf, "earlier\n", 8), 0);
	for (l = buf + 8; *l; l = nl + 1) {
		nl = strchr(l, '\n');
		assert_non_null(nl);
		*nl = '\0';
		o = parse(l);
		assert_string_equal(member(o, "level"), n ? "debug" : "error");
		assert_string_equal(member(o, "msg"), n ? "stage 3" : "share /srv/\"x\": gone");
		json_object_put(o);
		n++;
	}
	assert_int_equal(n, 2);
	close(fd);
	unlink(path);
	assert_int_equal(log_open("/nonexistent/dir/log", LOG_JSON), -ENOENT);
}

static void on_alarm(int sig)
{
	(void)sig;
	fail_msg("a message blocked on a full stderr");
}

/* stderr a pipe nobody reads: messages never block; they are dropped, counted, and reported. */
static void test_stalled_stderr(void **state)
{
	int p[2], saved = dup(2), flags;
	char junk[4096], buf[256];
	uint64_t before;
	ssize_t n;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_true(saved >= 0);
	dup2(p[1], 2);
	assert_int_equal(log_open(NULL, LOG_TEXT), 0);
	/* Fill the pipe from outside, without blocking ourselves. */
	flags = fcntl(p[1], F_GETFL);
	fcntl(p[1], F_SETFL, flags | O_NONBLOCK);
	memset(junk, 'j', sizeof(junk));
	while (write(p[1], junk, sizeof(junk)) > 0)
		;
	fcntl(p[1], F_SETFL, flags);
	/* stderr itself stays as it was: blocking, for whoever else shares it. */
	assert_int_equal(fcntl(2, F_GETFL) & O_NONBLOCK, 0);
	before = log_dropped();
	signal(SIGALRM, on_alarm);
	alarm(10);
	log_msg("one");
	log_msg("two");
	alarm(0);
	assert_int_equal(log_dropped(), before + 2);
	/* Drain: the next line says how many went missing, then comes itself. */
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	while (read(p[0], junk, sizeof(junk)) > 0)
		;
	log_msg("three");
	n = read(p[0], buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "hull: log: 2 messages dropped: the output did not take them\n"
				 "hull: three\n");
	log_close();
	dup2(saved, 2);
	close(saved);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_json_fields),
		cmocka_unit_test(test_json_escaping),
		cmocka_unit_test(test_json_bounded),
		cmocka_unit_test(test_parse_format),
		cmocka_unit_test(test_file_json),
		cmocka_unit_test(test_stalled_stderr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
