/* Unit tests for the control socket: the protocol codec, the line reader, and the server's bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/usock.h"
#include "vmm/control.h"
#include "vmm/ctlproto.h"

/* --- the codec --------------------------------------------------------------------------- */

static int parse(const char *line, struct ctl_request *req, char *why)
{
	return ctl_parse_request(line, strlen(line), req, why, 200);
}

static void expect_bad(const char *line, const char *words)
{
	struct ctl_request req;
	char why[200] = "";

	assert_int_equal(ctl_parse_request(line, strlen(line), &req, why, sizeof(why)), -EINVAL);
	if (!strstr(why, words))
		fail_msg("request '%s': reason '%s' lacks '%s'", line, why, words);
}

static void test_parse_every_command(void **state)
{
	struct ctl_request req, got;
	enum ctl_cmd back;
	char why[200], line[64];
	int i, n;

	(void)state;
	for (i = 0; i < CTL_NCMDS; i++) {
		/* kill needs a signal, exec a process, update resources. */
		req = (struct ctl_request){ .cmd = (enum ctl_cmd)i, .signal = 9,
					    .process = (char[]){ "{}" },
					    .resources = (char[]){ "{}" } };
		n = ctl_encode_request(&req, line, sizeof(line));
		assert_true(n > 0 && line[n - 1] == '\n');
		assert_int_equal(ctl_parse_request(line, (size_t)n - 1, &got, why, sizeof(why)), 0);
		assert_int_equal(got.cmd, i);
		assert_false(got.has_target);
		assert_int_equal(ctl_cmd_from_name(ctl_cmd_name(got.cmd), &back), 0);
		assert_int_equal(back, i);
		ctl_request_free(&got);
	}
	assert_int_equal(parse("{\"cmd\":\"pause\"}", &got, why), 0);
	assert_int_equal(got.cmd, CTL_PAUSE);
	/* Whitespace around, and a CR before the newline, are fine. */
	assert_int_equal(parse(" \t{ \"cmd\" : \"stop\" } \r", &got, why), 0);
	assert_int_equal(got.cmd, CTL_STOP);
	req = (struct ctl_request){ .cmd = CTL_STATE };
	assert_int_equal(ctl_encode_request(&req, line, 8), -ENOSPC);
	assert_int_equal(ctl_cmd_from_name("State", &back), -EINVAL);
}

static void test_parse_balloon(void **state)
{
	struct ctl_request req = { .cmd = CTL_BALLOON, .has_target = true, .target = UINT64_MAX };
	char why[200], line[96];
	int n;

	(void)state;
	/* The target, in either order of the fields, up to 2^64 - 1 exactly. */
	n = ctl_encode_request(&req, line, sizeof(line));
	assert_string_equal(line, "{\"cmd\":\"balloon\",\"target\":18446744073709551615}\n");
	req = (struct ctl_request){ 0 };
	assert_int_equal(ctl_parse_request(line, (size_t)n - 1, &req, why, sizeof(why)), 0);
	assert_int_equal(req.cmd, CTL_BALLOON);
	assert_true(req.has_target);
	assert_true(req.target == UINT64_MAX);
	assert_int_equal(parse("{\"target\":268435456,\"cmd\":\"balloon\"}", &req, why), 0);
	assert_true(req.has_target && req.target == 268435456);
	assert_int_equal(parse("{\"cmd\":\"balloon\",\"target\":0}", &req, why), 0);
	assert_true(req.has_target && req.target == 0);
	assert_int_equal(parse("{\"cmd\":\"balloon\"}", &req, why), 0);
	assert_false(req.has_target);
	expect_bad("{\"cmd\":\"balloon\",\"target\":-1}", "expected bytes");
	expect_bad("{\"cmd\":\"balloon\",\"target\":1.5}", "expected bytes");
	expect_bad("{\"cmd\":\"balloon\",\"target\":\"1G\"}", "expected bytes");
	expect_bad("{\"cmd\":\"balloon\",\"target\":null}", "expected bytes");
	expect_bad("{\"cmd\":\"state\",\"target\":4096}", "state takes no target");
	expect_bad("{\"target\":4096}", "no \"cmd\"");
}

static void test_parse_memory(void **state)
{
	struct ctl_request req = { .cmd = CTL_MEMORY, .size = UINT64_MAX };
	char why[200], line[96];
	int n;

	(void)state;
	/* The size, in either order of the fields, up to 2^64 - 1 exactly (the VM checks it). */
	n = ctl_encode_request(&req, line, sizeof(line));
	assert_string_equal(line, "{\"cmd\":\"memory\",\"size\":18446744073709551615}\n");
	req = (struct ctl_request){ 0 };
	assert_int_equal(ctl_parse_request(line, (size_t)n - 1, &req, why, sizeof(why)), 0);
	assert_int_equal(req.cmd, CTL_MEMORY);
	assert_true(req.size == UINT64_MAX);
	assert_int_equal(parse("{\"size\":1610612736,\"cmd\":\"memory\"}", &req, why), 0);
	assert_true(req.cmd == CTL_MEMORY && req.size == 1610612736);
	assert_int_equal(parse("{\"cmd\":\"memory\",\"size\":0}", &req, why), 0);
	assert_true(req.size == 0);
	expect_bad("{\"cmd\":\"memory\"}", "memory: no \"size\"");
	expect_bad("{\"cmd\":\"memory\",\"size\":-1}", "expected bytes");
	expect_bad("{\"cmd\":\"memory\",\"size\":1.5}", "expected bytes");
	expect_bad("{\"cmd\":\"memory\",\"size\":\"1G\"}", "expected bytes");
	expect_bad("{\"cmd\":\"memory\",\"target\":4096}", "memory takes no target");
	expect_bad("{\"cmd\":\"balloon\",\"size\":4096}", "balloon takes no size");
}

static void test_parse_refuses(void **state)
{
	char deep[4096];
	size_t i;

	(void)state;
	expect_bad("{\"cmd\":\"reboot\"}", "unknown command 'reboot'");
	expect_bad("{\"cmd\":\"\"}", "unknown command");
	expect_bad("state", "not valid JSON");
	expect_bad("", "not valid JSON");
	expect_bad("{\"cmd\":\"state\"", "not valid JSON");
	expect_bad("{\"cmd\":\"state\"} x", "not valid JSON");
	expect_bad("{\"cmd\":\"state\"}{\"cmd\":\"stop\"}", "not valid JSON");
	expect_bad("{'cmd':'state'}", "single quote");
	expect_bad("[\"state\"]", "expected a JSON object");
	expect_bad("\"state\"", "expected a JSON object");
	expect_bad("{}", "no \"cmd\"");
	expect_bad("{\"cmd\":1}", "expected a string");
	expect_bad("{\"cmd\":null}", "expected a string");
	expect_bad("{\"cmd\":\"state\",\"x\":1}", "unknown field 'x'");
	/* A NUL inside the line: json-c would stop there; the whole line is the request. */
	{
		static const char nul[] = "{\"cmd\":\"state\"}\0garbage";
		struct ctl_request req;
		char why[200];

		assert_int_equal(ctl_parse_request(nul, sizeof(nul) - 1, &req, why, sizeof(why)),
				 -EINVAL);
		assert_non_null(strstr(why, "NUL"));
	}
	/* Nesting far past json-c's depth limit is an error, not a stack overflow. */
	for (i = 0; i < sizeof(deep) - 1; i++)
		deep[i] = '[';
	deep[sizeof(deep) - 1] = '\0';
	expect_bad(deep, "not valid JSON");
	/* Binary garbage. */
	for (i = 0; i < 255; i++)
		deep[i] = (char)(i + 1);
	deep[255] = '\0';
	expect_bad(deep, "not valid JSON");
}

static void test_parse_container_commands(void **state)
{
	struct ctl_request req, got;
	char why[200], line[256];
	int n;

	(void)state;
	assert_int_equal(parse("{\"cmd\":\"kill\",\"signal\":9}", &got, why), 0);
	assert_true(got.cmd == CTL_KILL && got.signal == 9 && !got.all && !got.id);
	assert_int_equal(parse("{\"cmd\":\"kill\",\"signal\":64,\"all\":true}", &got, why), 0);
	assert_true(got.signal == 64 && got.all);
	assert_int_equal(parse("{\"cmd\":\"kill\",\"signal\":15,\"id\":3}", &got, why), 0);
	assert_true(got.signal == 15 && got.id == 3);
	expect_bad("{\"cmd\":\"kill\"}", "no \"signal\"");
	expect_bad("{\"cmd\":\"kill\",\"signal\":0}", "expected 1 to 64");
	expect_bad("{\"cmd\":\"kill\",\"signal\":65}", "\"signal\"");
	expect_bad("{\"cmd\":\"kill\",\"signal\":\"KILL\"}", "\"signal\"");
	expect_bad("{\"cmd\":\"kill\",\"signal\":9,\"all\":1}", "true or false");
	expect_bad("{\"cmd\":\"state\",\"signal\":9}", "state takes no signal");
	expect_bad("{\"cmd\":\"start\",\"process\":{}}", "start takes no process");
	/* exec: the process object kept as JSON text, for the VMM's OCI reader. */
	assert_int_equal(parse("{\"cmd\":\"exec\",\"process\":{\"args\":[\"ls\"]}}", &got, why),
			 0);
	assert_string_equal(got.process, "{\"args\":[\"ls\"]}");
	ctl_request_free(&got);
	assert_null(got.process);
	expect_bad("{\"cmd\":\"exec\"}", "no \"process\"");
	expect_bad("{\"cmd\":\"exec\",\"process\":[1]}", "expected an object");
	assert_int_equal(parse("{\"cmd\":\"resize\",\"id\":2,\"rows\":24,\"cols\":80}", &got, why),
			 0);
	assert_true(got.cmd == CTL_RESIZE && got.id == 2 && got.rows == 24 && got.cols == 80);
	expect_bad("{\"cmd\":\"resize\",\"rows\":-1}", "\"rows\"");
	/* Round trips. */
	req = (struct ctl_request){ .cmd = CTL_KILL, .signal = 10, .all = true };
	n = ctl_encode_request(&req, line, sizeof(line));
	assert_int_equal(ctl_parse_request(line, (size_t)n - 1, &got, why, sizeof(why)), 0);
	assert_true(got.signal == 10 && got.all);
	req = (struct ctl_request){ .cmd = CTL_KILL, .signal = 2, .id = 7 };
	n = ctl_encode_request(&req, line, sizeof(line));
	assert_int_equal(ctl_parse_request(line, (size_t)n - 1, &got, why, sizeof(why)), 0);
	assert_true(got.signal == 2 && got.id == 7 && !got.all);
	req = (struct ctl_request){ .cmd = CTL_RESIZE, .id = 1, .rows = 50, .cols = 132 };
	n = ctl_encode_request(&req, line, sizeof(line));
	assert_int_equal(ctl_parse_request(line, (size_t)n - 1, &got, why, sizeof(why)), 0);
	assert_true(got.id == 1 && got.rows == 50 && got.cols == 132);
	req = (struct ctl_request){ .cmd = CTL_EXEC, .process = (char[]){ "{\"cwd\":\"/\"}" } };
	n = ctl_encode_request(&req, line, sizeof(line));
	assert_int_equal(ctl_parse_request(line, (size_t)n - 1, &got, why, sizeof(why)), 0);
	assert_string_equal(got.process, "{\"cwd\":\"/\"}");
	ctl_request_free(&got);
	/* update: the resources object kept as JSON text, for the VMM's OCI reader. */
	assert_int_equal(parse("{\"cmd\":\"update\",\"resources\":{\"pids\":{\"limit\":5}}}",
			       &got, why), 0);
	assert_true(got.cmd == CTL_UPDATE && !got.process);
	assert_string_equal(got.resources, "{\"pids\":{\"limit\":5}}");
	ctl_request_free(&got);
	assert_null(got.resources);
	expect_bad("{\"cmd\":\"update\"}", "no \"resources\"");
	expect_bad("{\"cmd\":\"update\",\"resources\":\"{}\"}", "expected an object");
	expect_bad("{\"cmd\":\"update\",\"resources\":null}", "expected an object");
	expect_bad("{\"cmd\":\"update\",\"resources\":{},\"resources\":[]}", "resources");
	expect_bad("{\"cmd\":\"update\",\"process\":{}}", "update takes no process");
	expect_bad("{\"cmd\":\"exec\",\"process\":{},\"resources\":{}}",
		   "exec takes no resources");
	req = (struct ctl_request){ .cmd = CTL_UPDATE,
				    .resources = (char[]){ "{\"cpu\":{\"quota\":-1}}" } };
	n = ctl_encode_request(&req, line, sizeof(line));
	assert_int_equal(ctl_parse_request(line, (size_t)n - 1, &got, why, sizeof(why)), 0);
	assert_string_equal(got.resources, "{\"cpu\":{\"quota\":-1}}");
	ctl_request_free(&got);
}

static struct json_object *parse_line(const char *line, size_t len)
{
	struct json_object *o;

	assert_true(len > 1 && line[len - 1] == '\n' && strlen(line) == len);
	assert_null(memchr(line, '\n', len - 1)); /* one line */
	o = json_tokener_parse(line);
	assert_non_null(o);
	return o;
}

static void test_replies(void **state)
{
	static const struct ctl_vcpu vcpus[] = { { 0, 1234 }, { 1, 1235 } };
	static const struct ctl_dev devs[] = { { "blk0", "blk", 0xfe001000, 5 },
					       { "rng0", "rng", 0xfe002000, 16 } };
	struct ctl_state s = { .paused = true, .vcpus = vcpus, .nvcpus = 2, .memory = 1ULL << 30,
			       .devs = devs, .ndevs = 2, .uptime_ms = 4321 };
	struct json_object *o, *v, *a;
	char *line, why[200];
	size_t len;

	(void)state;
	line = ctl_reply_ok(&len);
	assert_string_equal(line, "{\"ok\":true}\n");
	assert_int_equal(ctl_parse_reply(line, len - 1, why, sizeof(why)), 0);
	free(line);

	/* Quotes, newlines and control characters in a message stay inside one line. */
	line = ctl_reply_error("bad \"x\"\nnext\t\x01", &len);
	o = parse_line(line, len);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "error")),
			    "bad \"x\"\nnext\t\x01");
	json_object_put(o);
	assert_int_equal(ctl_parse_reply(line, len - 1, why, sizeof(why)), 1);
	assert_string_equal(why, "bad \"x\"\nnext\t\x01");
	free(line);

	line = ctl_reply_state(&s, &len);
	o = parse_line(line, len);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "state")), "paused");
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "memory")), 1LL << 30);
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "uptime_ms")), 4321);
	a = json_object_object_get(o, "vcpus");
	assert_int_equal(json_object_array_length(a), 2);
	v = json_object_array_get_idx(a, 1);
	assert_int_equal(json_object_get_int(json_object_object_get(v, "index")), 1);
	assert_int_equal(json_object_get_int(json_object_object_get(v, "tid")), 1235);
	a = json_object_object_get(o, "devices");
	assert_int_equal(json_object_array_length(a), 2);
	v = json_object_array_get_idx(a, 0);
	assert_string_equal(json_object_get_string(json_object_object_get(v, "id")), "blk0");
	assert_string_equal(json_object_get_string(json_object_object_get(v, "kind")), "blk");
	assert_int_equal(json_object_get_int64(json_object_object_get(v, "base")), 0xfe001000);
	assert_int_equal(json_object_get_int(json_object_object_get(v, "gsi")), 5);
	json_object_put(o);
	assert_int_equal(ctl_parse_reply(line, len - 1, why, sizeof(why)), 0);
	free(line);

	s.paused = false;
	s.nvcpus = s.ndevs = 0;
	line = ctl_reply_state(&s, &len);
	assert_non_null(strstr(line, "\"state\":\"running\""));
	assert_non_null(strstr(line, "\"vcpus\":[]"));
	assert_non_null(strstr(line, "\"devices\":[]"));
	free(line);

	assert_int_equal(ctl_parse_reply("oops", 4, why, sizeof(why)), -EINVAL);
	assert_int_equal(ctl_parse_reply("{\"error\":7}", 11, why, sizeof(why)), 1);
}

static void test_reply_balloon(void **state)
{
	static const struct ctl_stat stats[] = { { "free_memory", 123456789 },
						 { "swap_in", 0 } };
	struct ctl_balloon b = { .target = 1ULL << 30, .actual = 1ULL << 29, .released = 4096,
				 .reported = 1ULL << 40, .stats = stats, .nstats = 2,
				 .has_age = true, .stats_age_ms = 17 };
	struct json_object *o, *st;
	char *line, why[200];
	size_t len;

	(void)state;
	line = ctl_reply_balloon(&b, &len);
	o = parse_line(line, len);
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "target")), 1LL << 30);
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "actual")), 1LL << 29);
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "released")), 4096);
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "reported")), 1LL << 40);
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "stats_age_ms")), 17);
	st = json_object_object_get(o, "stats");
	assert_int_equal(json_object_object_length(st), 2);
	assert_int_equal(json_object_get_int64(json_object_object_get(st, "free_memory")),
			 123456789);
	json_object_put(o);
	assert_int_equal(ctl_parse_reply(line, len - 1, why, sizeof(why)), 0);
	free(line);
	/* No statistics yet: an empty object and no age. */
	b = (struct ctl_balloon){ .target = 0 };
	line = ctl_reply_balloon(&b, &len);
	assert_string_equal(line, "{\"target\":0,\"actual\":0,\"released\":0,\"reported\":0,"
				  "\"stats\":{}}\n");
	free(line);
}

static void test_reply_container(void **state)
{
	static const pid_t pids[] = { 1234, 99 };
	struct ctl_state s = { .container = "created" };
	char *line, buf[16];
	int64_t v;
	size_t len;

	(void)state;
	line = ctl_reply_pids(pids, 2, &len);
	assert_string_equal(line, "{\"pids\":[1234,99]}\n");
	free(line);
	line = ctl_reply_exec(5, &len);
	assert_string_equal(line, "{\"ok\":true,\"id\":5}\n");
	assert_int_equal(ctl_reply_int(line, len - 1, "id", 1, 10, &v), 0);
	assert_int_equal(v, 5);
	assert_int_equal(ctl_reply_int(line, len - 1, "id", 6, 10, &v), -EINVAL);
	assert_int_equal(ctl_reply_int(line, len - 1, "exit", 0, 255, &v), -ENOENT);
	free(line);
	line = ctl_reply_exited(0, 42, &len);
	assert_string_equal(line, "{\"exit\":42}\n");
	free(line);
	line = ctl_reply_exited(9, 0, &len);
	assert_string_equal(line, "{\"signal\":9}\n");
	free(line);
	line = ctl_reply_state(&s, &len);
	assert_int_equal(ctl_reply_string(line, len - 1, "container", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "created");
	assert_int_equal(ctl_reply_string(line, len - 1, "container", buf, 4), -ENOSPC);
	assert_int_equal(ctl_reply_string(line, len - 1, "memory", buf, sizeof(buf)), -EINVAL);
	free(line);
	/* A VM that is no container VM says nothing of one. */
	s.container = NULL;
	line = ctl_reply_state(&s, &len);
	assert_null(strstr(line, "container"));
	free(line);
}

/* --- the line reader ---------------------------------------------------------------------- */

static struct ctl_reader R;

static void feed(const char *bytes, size_t n)
{
	size_t room;
	char *at = ctl_reader_room(&R, &room);

	assert_true(n <= room);
	memcpy(at, bytes, n);
	ctl_reader_commit(&R, n);
}

static void test_reader_partial_lines(void **state)
{
	static const char two[] = "{\"cmd\":\"state\"}\n{\"cmd\":\"stop\"}\n{\"cm";
	const char *line;
	size_t len, i;

	(void)state;
	ctl_reader_init(&R);
	feed("{\"cmd\"", 6);
	assert_int_equal(ctl_reader_line(&R, &line, &len), 0);
	feed(":\"pause\"}", 9);
	assert_int_equal(ctl_reader_line(&R, &line, &len), 0);
	feed("\n", 1);
	assert_int_equal(ctl_reader_line(&R, &line, &len), 1);
	assert_int_equal(len, 15);
	assert_memory_equal(line, "{\"cmd\":\"pause\"}", 15);
	assert_int_equal(ctl_reader_line(&R, &line, &len), 0);
	assert_int_equal(ctl_reader_pending(&R), 0);

	/* Two lines and the start of a third in one read. */
	feed(two, sizeof(two) - 1);
	assert_int_equal(ctl_reader_line(&R, &line, &len), 1);
	assert_memory_equal(line, "{\"cmd\":\"state\"}", len);
	assert_int_equal(ctl_reader_line(&R, &line, &len), 1);
	assert_memory_equal(line, "{\"cmd\":\"stop\"}", len);
	assert_int_equal(ctl_reader_line(&R, &line, &len), 0);
	assert_int_equal(ctl_reader_pending(&R), 4);

	/* The rest one byte at a time; an empty line is a line. */
	for (i = 0; i < 11; i++) {
		feed(&"d\":\"stop\"}\n"[i], 1);
		assert_int_equal(ctl_reader_line(&R, &line, &len), i == 10);
	}
	assert_memory_equal(line, "{\"cmd\":\"stop\"}", len);
	feed("\n", 1);
	assert_int_equal(ctl_reader_line(&R, &line, &len), 1);
	assert_int_equal(len, 0);
}

static void test_reader_oversized_line(void **state)
{
	static char big[CTL_LINE_MAX];
	const char *line;
	size_t len, room;

	(void)state;
	/* CTL_LINE_MAX bytes with the newline last: a line. */
	ctl_reader_init(&R);
	memset(big, ' ', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	feed(big, sizeof(big));
	assert_int_equal(ctl_reader_line(&R, &line, &len), 1);
	assert_int_equal(len, CTL_LINE_MAX - 1);
	/* One byte more without a newline: too long, however it arrives. */
	ctl_reader_init(&R);
	feed("x", 1);
	feed(big, sizeof(big) - 1 - 1);
	assert_int_equal(ctl_reader_line(&R, &line, &len), 0);
	feed(" ", 1);
	ctl_reader_room(&R, &room);
	assert_int_equal(room, 0);
	assert_int_equal(ctl_reader_line(&R, &line, &len), -EMSGSIZE);
}

/* --- the server ------------------------------------------------------------------------- */

static struct loop L;
static struct control *C;

static struct ops_rec {
	unsigned int state, pause, resume, stop, balloon, memory;
	uint64_t memory_size;
	int pause_ret;
	size_t state_pad; /* bytes of padding in the fake state reply */
	int mode, later, taken;
	unsigned int nfds;
} rec;

static char *fake_state(void *opaque, size_t *len)
{
	static const struct ctl_vcpu vcpus[] = { { 0, 42 } };
	struct ctl_dev devs[1] = { { "pad", "x", 1, 2 } };
	struct ctl_state s = { .vcpus = vcpus, .nvcpus = 1, .memory = 1 << 20, .devs = devs,
			       .ndevs = 1 };
	char *pad = NULL, *line;

	(void)opaque;
	rec.state++;
	if (rec.state_pad) {
		pad = malloc(rec.state_pad + 1);
		memset(pad, 'p', rec.state_pad);
		pad[rec.state_pad] = '\0';
		devs[0].id = pad;
	}
	line = ctl_reply_state(&s, len);
	free(pad);
	return line;
}

static int fake_pause(void *opaque)
{
	(void)opaque;
	rec.pause++;
	return rec.pause_ret;
}

static int fake_resume(void *opaque)
{
	(void)opaque;
	rec.resume++;
	return 0;
}

static void fake_stop(void *opaque)
{
	(void)opaque;
	rec.stop++;
}

static char *fake_balloon(void *opaque, const struct ctl_request *req, size_t *len)
{
	struct ctl_balloon b = { .target = req->has_target ? req->target : 7 };

	(void)opaque;
	rec.balloon++;
	return ctl_reply_balloon(&b, len);
}

/* The container commands: the descriptors that came with the request, and a later answer. */
static int fake_mode(void *opaque, const struct ctl_request *req, int client_fd, int *fds,
		     unsigned int nfds, char **line, size_t *len)
{
	(void)opaque;
	rec.mode++;
	rec.nfds = nfds;
	if (req->cmd == CTL_START || req->cmd == CTL_RESIZE) {
		/* Answered later, on a dup of the client's connection; resize takes it too. */
		rec.later = fcntl(client_fd, F_DUPFD_CLOEXEC, 0);
		return req->cmd == CTL_START ? 1 : 2;
	}
	if (nfds) {
		rec.taken = fds[0]; /* the first is the command's; the rest the server closes */
		fds[0] = -1;
	}
	*line = ctl_reply_ok(len);
	return 0;
}

static char *fake_memory(void *opaque, const struct ctl_request *req, size_t *len)
{
	(void)opaque;
	rec.memory++;
	rec.memory_size = req->size;
	return ctl_reply_ok(len);
}

static const struct control_ops fake_ops = { fake_state, fake_pause, fake_resume, fake_stop,
					     fake_balloon, fake_mode, fake_memory };
/* No container commands, no hotplug memory. */
static const struct control_ops plain_ops = { fake_state, fake_pause, fake_resume, fake_stop,
					      fake_balloon, NULL, NULL };

static int setup(void **state)
{
	(void)state;
	memset(&rec, 0, sizeof(rec));
	rec.later = rec.taken = -1;
	if (loop_init(&L) || control_open(&L, NULL, &fake_ops, NULL, &C))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	control_close(C);
	C = NULL;
	loop_destroy(&L);
	return 0;
}

/* A client: our end of a socket pair whose other end the server adopted. */
static int client(void)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(control_adopt(C, sv[1]), 0);
	return sv[0];
}

/* Run the loop until it has had nothing to do for 20 ms. */
static void pump(void)
{
	while (loop_run_once(&L, 20) > 0)
		;
}

static void say(int fd, const char *text)
{
	assert_int_equal(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

/* One reply line from fd (the loop is pumped first); "" at EOF. */
static char *hear(int fd)
{
	static char line[CONTROL_OUT_MAX + 1];
	size_t len = 0;

	pump();
	while (len < sizeof(line) - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 1000) != 1)
			fail_msg("no reply within 1 s (got '%.*s')", (int)len, line);
		n = recv(fd, line + len, 1, 0);
		assert_true(n >= 0);
		if (n == 0)
			break;
		if (line[len++] == '\n')
			break;
	}
	line[len] = '\0';
	return line;
}

/* The server closed fd: EOF (after anything still queued, which is skipped). */
static bool closed_by_server(int fd)
{
	char buf[4096];

	pump();
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 200) != 1)
			return false;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n <= 0)
			return n == 0 || errno == ECONNRESET;
	}
}

static void test_server_commands(void **state)
{
	int fd = client();
	char *r;

	(void)state;
	say(fd, "{\"cmd\":\"state\"}\n");
	r = hear(fd);
	assert_non_null(strstr(r, "\"state\":\"running\""));
	assert_non_null(strstr(r, "\"tid\":42"));
	say(fd, "{\"cmd\":\"pause\"}\n");
	assert_string_equal(hear(fd), "{\"ok\":true}\n");
	say(fd, "{\"cmd\":\"resume\"}\n");
	assert_string_equal(hear(fd), "{\"ok\":true}\n");
	rec.pause_ret = -ESHUTDOWN;
	say(fd, "{\"cmd\":\"pause\"}\n");
	assert_string_equal(hear(fd), "{\"error\":\"pause: the VM is stopping\"}\n");
	say(fd, "{\"cmd\":\"balloon\"}\n");
	assert_non_null(strstr(hear(fd), "{\"target\":7,"));
	say(fd, "{\"cmd\":\"balloon\",\"target\":8192}\n");
	assert_non_null(strstr(hear(fd), "{\"target\":8192,"));
	say(fd, "{\"cmd\":\"memory\",\"size\":1610612736}\n");
	assert_string_equal(hear(fd), "{\"ok\":true}\n");
	assert_int_equal(rec.memory, 1);
	assert_true(rec.memory_size == 1610612736);
	say(fd, "{\"cmd\":\"stop\"}\n");
	assert_string_equal(hear(fd), "{\"ok\":true}\n");
	assert_int_equal(rec.balloon, 2);
	assert_int_equal(rec.state, 1);
	assert_int_equal(rec.pause, 2);
	assert_int_equal(rec.resume, 1);
	assert_int_equal(rec.stop, 1);
	close(fd);
	pump();
	assert_int_equal(control_clients(C), 0);
}

/* Send text with the descriptors fds[0..n) on its first byte. */
static void say_fds(int fd, const char *line, const int *fds, unsigned int n)
{
	char text[256];
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(8 * sizeof(int))];
	} u;
	struct iovec iov = { text, strlen(line) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = CMSG_SPACE(n * sizeof(int)) };
	struct cmsghdr *cm;

	snprintf(text, sizeof(text), "%s", line);
	memset(&u, 0, sizeof(u));
	cm = CMSG_FIRSTHDR(&mh);
	if (!cm)
		abort(); /* not assert_non_null: the compiler must see it cannot go on */
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
	assert_int_equal(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)strlen(line));
}

/* n pipes: their read ends in rd, write ends in wr. */
static void pipes(int *rd, int *wr, unsigned int n)
{
	unsigned int i;
	int p[2];

	for (i = 0; i < n; i++) {
		assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
		rd[i] = p[0];
		wr[i] = p[1];
	}
}

/* Nobody holds pipe rd's write end any more: end of file. */
static bool write_end_closed(int rd)
{
	char c;

	return read(rd, &c, 1) == 0;
}

static void test_server_fds(void **state)
{
	int fd = client(), rd[5], wr[5], i;

	(void)state;
	/* exec with three: the command takes the first, the server closes the other two. */
	pipes(rd, wr, 5);
	say_fds(fd, "{\"cmd\":\"exec\",\"process\":{}}\n", wr, 3);
	for (i = 0; i < 3; i++)
		close(wr[i]);
	assert_string_equal(hear(fd), "{\"ok\":true}\n");
	assert_int_equal(rec.nfds, 3);
	assert_true(rec.taken >= 0);
	assert_false(write_end_closed(rd[0]));
	assert_true(write_end_closed(rd[1]) && write_end_closed(rd[2]));
	close(rec.taken);
	assert_true(write_end_closed(rd[0]));
	/* Descriptors with a command that takes none are closed after its answer. */
	say_fds(fd, "{\"cmd\":\"state\"}\n", &wr[3], 1);
	close(wr[3]);
	assert_non_null(strstr(hear(fd), "\"state\""));
	assert_true(write_end_closed(rd[3]));
	/* More than CTL_FDS_MAX: the rest are closed as they come; a bad request closes all. */
	{
		int many[CTL_FDS_MAX + 2];

		for (i = 0; i < CTL_FDS_MAX + 2; i++)
			many[i] = wr[4];
		say_fds(fd, "{\"cmd\":\"exec\"}\n", many, CTL_FDS_MAX + 2);
		close(wr[4]);
		assert_non_null(strstr(hear(fd), "no \\\"process\\\""));
		assert_true(write_end_closed(rd[4]));
	}
	assert_int_equal(rec.mode, 1);
	/* A command answered later, by its owner, on the same connection. */
	say(fd, "{\"cmd\":\"start\"}\n");
	pump();
	assert_int_equal(rec.mode, 2);
	assert_true(rec.later >= 0);
	assert_int_equal(send(rec.later, "{\"ok\":true}\n", 12, MSG_NOSIGNAL), 12);
	close(rec.later);
	assert_string_equal(hear(fd), "{\"ok\":true}\n");
	assert_int_equal(control_clients(C), 1);
	/* A command that takes the connection: no longer a client, its answer still comes. */
	say(fd, "{\"cmd\":\"resize\",\"id\":1,\"rows\":2,\"cols\":3}\n");
	pump();
	assert_int_equal(rec.mode, 3);
	assert_int_equal(control_clients(C), 0);
	assert_int_equal(send(rec.later, "{\"exit\":3}\n", 11, MSG_NOSIGNAL), 11);
	close(rec.later);
	assert_string_equal(hear(fd), "{\"exit\":3}\n");
	assert_true(closed_by_server(fd));
	for (i = 0; i < 5; i++)
		close(rd[i]);
	close(fd);
	pump();
	assert_int_equal(control_clients(C), 0);
}

/* A VM that is no container VM (no mode op) refuses the container commands by name. */
static void test_server_no_mode(void **state)
{
	struct control *c2;
	int sv[2], rd, wr;

	(void)state;
	assert_int_equal(control_open(&L, NULL, &plain_ops, NULL, &c2), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(control_adopt(c2, sv[1]), 0);
	pipes(&rd, &wr, 1);
	say_fds(sv[0], "{\"cmd\":\"exec\",\"process\":{}}\n", &wr, 1);
	close(wr);
	assert_string_equal(hear(sv[0]), "{\"error\":\"exec: not a container VM\"}\n");
	assert_true(write_end_closed(rd));
	/* Nor hotplug memory: memory is refused by name, the connection stays. */
	say(sv[0], "{\"cmd\":\"memory\",\"size\":1073741824}\n");
	assert_string_equal(hear(sv[0]), "{\"error\":\"memory: this VM has no hotplug memory\"}\n");
	close(rd);
	close(sv[0]);
	pump();
	control_close(c2);
}

/* Garbage gets an error line; the connection stays usable. */
static void test_server_garbage(void **state)
{
	int fd = client();

	(void)state;
	say(fd, "hello\n");
	assert_non_null(strstr(hear(fd), "{\"error\":\"bad request: not valid JSON"));
	say(fd, "{\"cmd\":\"state\"} trailing\n");
	assert_non_null(strstr(hear(fd), "not valid JSON"));
	say(fd, "{\"cmd\":\"launch\"}\n");
	assert_non_null(strstr(hear(fd), "unknown command 'launch'"));
	say(fd, "\n");
	assert_non_null(strstr(hear(fd), "{\"error\":\"bad request"));
	say(fd, "{\"cmd\":\"resume\"}\n");
	assert_string_equal(hear(fd), "{\"ok\":true}\n");
	assert_int_equal(rec.state + rec.pause + rec.stop, 0);
	close(fd);
}

/* A line longer than CTL_LINE_MAX: one error line, then the server hangs up. */
static void test_server_oversized(void **state)
{
	static char big[CTL_LINE_MAX + 100];
	int fd = client(), other = client();
	size_t off = 0;
	char *r;

	(void)state;
	memset(big, ' ', sizeof(big));
	while (off < sizeof(big)) {
		ssize_t n = send(fd, big + off, sizeof(big) - off, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno != EAGAIN)
			break;
		pump();
	}
	r = hear(fd);
	assert_non_null(strstr(r, "longer than 65536 bytes"));
	assert_true(closed_by_server(fd));
	assert_int_equal(control_clients(C), 1);
	/* The other client is served as before. */
	say(other, "{\"cmd\":\"resume\"}\n");
	assert_string_equal(hear(other), "{\"ok\":true}\n");
	close(fd);
	close(other);
}

/* CONTROL_MAX_CLIENTS at once; one more is told so and closed; a place freed is taken again. */
static void test_server_client_limit(void **state)
{
	int fds[CONTROL_MAX_CLIENTS], sv[2], i;
	char buf[128];
	ssize_t n;

	(void)state;
	for (i = 0; i < CONTROL_MAX_CLIENTS; i++)
		fds[i] = client();
	assert_int_equal(control_clients(C), CONTROL_MAX_CLIENTS);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(control_adopt(C, sv[1]), -EBUSY);
	n = recv(sv[0], buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "{\"error\":\"too many clients\"}\n");
	assert_int_equal(recv(sv[0], buf, sizeof(buf), 0), 0); /* closed */
	close(sv[0]);
	/* Every one of the 16 is served. */
	for (i = 0; i < CONTROL_MAX_CLIENTS; i++)
		say(fds[i], "{\"cmd\":\"resume\"}\n");
	for (i = 0; i < CONTROL_MAX_CLIENTS; i++)
		assert_string_equal(hear(fds[i]), "{\"ok\":true}\n");
	close(fds[3]);
	pump();
	assert_int_equal(control_clients(C), CONTROL_MAX_CLIENTS - 1);
	fds[3] = client();
	say(fds[3], "{\"cmd\":\"resume\"}\n");
	assert_string_equal(hear(fds[3]), "{\"ok\":true}\n");
	for (i = 0; i < CONTROL_MAX_CLIENTS; i++)
		close(fds[i]);
	pump();
	assert_int_equal(control_clients(C), 0);
}

/* A client that sends requests and never reads: dropped once its replies fill the buffer. */
static void test_server_client_never_reads(void **state)
{
	int sv[2], small = 4096, i, sent = 0;

	(void)state;
	rec.state_pad = 4000; /* about 4 KiB per reply */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	/* Small socket buffers, so the replies pile up in hull's. */
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	assert_int_equal(control_adopt(C, sv[1]), 0);
	for (i = 0; i < 200 && control_clients(C); i++) {
		if (send(sv[0], "{\"cmd\":\"state\"}\n", 16, MSG_DONTWAIT | MSG_NOSIGNAL) == 16)
			sent++;
		/* The loop never blocks on this client: each pass returns. */
		pump();
	}
	assert_int_equal(control_clients(C), 0);
	/* It took no more than the buffer holds, plus what the socket took. */
	assert_true(rec.state * 4000 <= CONTROL_OUT_MAX + 4 * 65536);
	assert_true(sent > 0);
	close(sv[0]);
}

/* A client that goes away mid-request is forgotten; one that half-closes gets its reply. */
static void test_server_disconnects(void **state)
{
	int fd = client();

	(void)state;
	say(fd, "{\"cmd\":");
	pump();
	close(fd);
	pump();
	assert_int_equal(control_clients(C), 0);
	assert_int_equal(rec.state + rec.pause + rec.resume + rec.stop, 0);

	fd = client();
	say(fd, "{\"cmd\":\"resume\"}\n{\"cmd\":\"resume\"}\n{\"cmd\":");
	shutdown(fd, SHUT_WR);
	assert_string_equal(hear(fd), "{\"ok\":true}\n");
	assert_string_equal(hear(fd), "{\"ok\":true}\n");
	assert_string_equal(hear(fd), ""); /* EOF: the cut-off request is dropped */
	assert_int_equal(rec.resume, 2);
	pump();
	assert_int_equal(control_clients(C), 0);
	close(fd);
}

/* One pass of the loop answers at most CONTROL_REQS_PER_PASS requests of one client. */
static void test_server_requests_per_pass(void **state)
{
	int fd = client(), i, lines = 0;
	char buf[65536];
	ssize_t n;

	(void)state;
	for (i = 0; i < 40; i++)
		say(fd, "{\"cmd\":\"resume\"}\n");
	assert_int_equal(loop_run_once(&L, 1000), 1);
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	assert_true(n > 0);
	for (i = 0; i < n; i++)
		lines += buf[i] == '\n';
	assert_int_equal(lines, CONTROL_REQS_PER_PASS);
	assert_int_equal(rec.resume, CONTROL_REQS_PER_PASS);
	/* The rest on later passes. */
	pump();
	assert_int_equal(rec.resume, 40);
	close(fd);
}

/* --- the socket file -------------------------------------------------------------------- */

static char dir[64], path[128];

static int dir_setup(void **state)
{
	strcpy(dir, "/tmp/hull-ctl-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/api.sock", dir);
	return setup(state);
}

static int dir_teardown(void **state)
{
	teardown(state);
	unlink(path);
	rmdir(dir);
	return 0;
}

static int dial(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, path);
	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* The socket is 0600 whatever the umask, served through accept, and removed at close. */
static void test_socket_file_mode_and_removal(void **state)
{
	struct control *c2;
	struct stat st;
	mode_t old = umask(0);
	int fd;

	(void)state;
	assert_int_equal(control_open(&L, path, &fake_ops, NULL, &c2), 0);
	umask(old);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	fd = dial();
	assert_true(fd >= 0);
	say(fd, "{\"cmd\":\"resume\"}\n");
	assert_string_equal(hear(fd), "{\"ok\":true}\n");
	assert_int_equal(control_clients(c2), 1);
	control_close(c2);
	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_true(closed_by_server(fd));
	close(fd);
}

static void test_socket_file_existing(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct usock u;
	struct control *c2;
	struct stat st;
	char longp[200];
	int fd, lfd;

	(void)state;
	/* A stale socket (nobody listens) is replaced. */
	strcpy(sa.sun_path, path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(lfd);
	assert_int_equal(usock_check("t", path, 0), 0);
	assert_int_equal(control_open(&L, path, &fake_ops, NULL, &c2), 0);
	fd = dial();
	assert_true(fd >= 0);
	close(fd);
	/* In use: refused, and left alone. */
	assert_int_equal(usock_check("t", path, 0), -EADDRINUSE);
	assert_int_equal(control_open(&L, path, &fake_ops, NULL, &C), -EADDRINUSE);
	assert_int_equal(lstat(path, &st), 0);
	/* A path another listener took over after us is not removed by our close. */
	unlink(path);
	assert_int_equal(usock_listen(&u, "t", path, 0, 1, 0600), 0);
	control_close(c2);
	assert_int_equal(lstat(path, &st), 0);
	usock_close(&u);
	assert_int_equal(lstat(path, &st), -1);
	/* A regular file is refused and kept. */
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	close(fd);
	assert_int_equal(usock_check("t", path, 0), -EEXIST);
	assert_int_equal(control_open(&L, path, &fake_ops, NULL, &c2), -EEXIST);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	unlink(path);
	/* A missing directory, a path too long. */
	snprintf(longp, sizeof(longp), "%s/no/such/api.sock", dir);
	assert_int_equal(usock_check("t", longp, 0), -ENOENT);
	assert_int_equal(control_open(&L, longp, &fake_ops, NULL, &c2), -ENOENT);
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(usock_check("t", longp, 0), -ENAMETOOLONG);
	assert_int_equal(control_open(&L, longp, &fake_ops, NULL, &c2), -ENAMETOOLONG);
	assert_int_equal(usock_check("t", "rel.sock", 0), 0);
}

#define T(f) cmocka_unit_test(f)
#define S(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define D(f) cmocka_unit_test_setup_teardown(f, dir_setup, dir_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_parse_every_command),
		T(test_parse_balloon),
		T(test_parse_memory),
		T(test_parse_refuses),
		T(test_replies),
		T(test_reply_balloon),
		T(test_parse_container_commands),
		T(test_reply_container),
		T(test_reader_partial_lines),
		T(test_reader_oversized_line),
		S(test_server_commands),
		S(test_server_garbage),
		S(test_server_fds),
		S(test_server_no_mode),
		S(test_server_oversized),
		S(test_server_client_limit),
		S(test_server_client_never_reads),
		S(test_server_disconnects),
		S(test_server_requests_per_pass),
		D(test_socket_file_mode_and_removal),
		D(test_socket_file_existing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
