/* Unit tests for the agent's host side: hull-init's frames made up by hand, requests, streams. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container/agent.h"

/* What the owner's callbacks saw, and what the fake transport took. */
static struct {
	struct ctr_agent a;
	unsigned int hellos, replies, exits, closes;
	struct ctr_msg_fields last; /* the last reply (shallow: strings not kept) */
	uint32_t exit_id, exit_kind, exit_code;
	char release[64];
	uint8_t sent[1 << 22];
	size_t sent_len;
	size_t take;		/* bytes the transport takes per call */
	int fail;		/* the transport's error, 0: none */
} t;

static void on_hello(struct ctr_agent *a, void *opaque, const struct ctr_msg_fields *m)
{
	(void)a;
	(void)opaque;
	t.hellos++;
	snprintf(t.release, sizeof(t.release), "%s", m->release);
	t.last = *m;
	t.last.release = NULL;
}

static void on_reply(struct ctr_agent *a, void *opaque, const struct ctr_msg_fields *m)
{
	(void)a;
	(void)opaque;
	t.replies++;
	t.last = *m;
	t.last.message = NULL;
}

static void on_exited(struct ctr_agent *a, void *opaque, uint32_t id, uint32_t kind,
		      uint32_t code)
{
	(void)a;
	(void)opaque;
	t.exits++;
	t.exit_id = id;
	t.exit_kind = kind;
	t.exit_code = code;
}

static void on_closed(struct ctr_agent *a, void *opaque, int err)
{
	(void)a;
	(void)opaque;
	(void)err;
	t.closes++;
}

static const struct ctr_agent_ops ops = { on_hello, on_reply, on_exited, on_closed };

static ssize_t fake_send(void *tp, const void *buf, size_t len)
{
	size_t k = len < t.take ? len : t.take;

	(void)tp;
	if (t.fail)
		return t.fail;
	if (!k)
		return -ENOBUFS;
	assert_true(t.sent_len + k <= sizeof(t.sent));
	memcpy(t.sent + t.sent_len, buf, k);
	t.sent_len += k;
	return (ssize_t)k;
}

static int setup(void **state)
{
	(void)state;
	memset(&t, 0, sizeof(t));
	ctr_agent_init(&t.a, &ops, NULL);
	t.a.send = fake_send;
	t.take = SIZE_MAX;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ctr_agent_fini(&t.a);
	return 0;
}

/* A whole frame for m, as hull-init's encoder makes it (malloc'd). */
static uint8_t *frame(const struct ctr_msg_fields *m, size_t *len)
{
	uint8_t *f;

	assert_int_equal(ctr_msg_encode(m, &f, len), 0);
	return f;
}

static void feed(const struct ctr_msg_fields *m, size_t piece)
{
	size_t len, off;
	uint8_t *f = frame(m, &len);

	for (off = 0; off < len; off += piece)
		ctr_agent_input(&t.a, f + off, len - off < piece ? len - off : piece);
	free(f);
}

/* The next frame hull sent, decoded into m (freed by the caller). */
static size_t sent_off;

static void next_sent(struct ctr_msg_fields *m)
{
	uint16_t type;
	uint32_t len;

	assert_true(t.sent_len - sent_off >= CTR_FRAME_HDR);
	assert_int_equal(ctr_frame_parse_hdr(t.sent + sent_off, &type, &len), 0);
	assert_true(t.sent_len - sent_off >= CTR_FRAME_HDR + len);
	assert_int_equal(ctr_msg_decode(type, t.sent + sent_off + CTR_FRAME_HDR, len, m), 0);
	sent_off += CTR_FRAME_HDR + len;
}

static void test_messages(void **state)
{
	char release[] = "6.1.192";
	struct ctr_msg_fields hello = { .type = CTR_MSG_HELLO, .cpus = 2, .memory = 256 << 20,
					.release = release, .version = CTR_PROTO_VERSION };
	struct ctr_msg_fields ok = { .type = CTR_MSG_OK, .seq = 7, .has_seq = true, .pid = 42 };
	char why[] = "chdir /x: No such file or directory";
	struct ctr_msg_fields error = { .type = CTR_MSG_ERROR, .seq = 8, .has_seq = true,
					.err = ENOENT, .message = why };
	struct ctr_msg_fields exited = { .type = CTR_MSG_EXITED, .id = 0, .kind = 1, .code = 9 };

	(void)state;
	/* Byte by byte, in odd pieces, whole: each frame is handled once it is complete. */
	feed(&hello, 1);
	assert_int_equal(t.hellos, 1);
	assert_int_equal(t.last.cpus, 2);
	assert_int_equal(t.last.memory, 256 << 20);
	assert_string_equal(t.release, "6.1.192");
	feed(&ok, 3);
	assert_int_equal(t.replies, 1);
	assert_int_equal(t.last.type, CTR_MSG_OK);
	assert_int_equal(t.last.seq, 7);
	assert_int_equal(t.last.pid, 42);
	feed(&error, 1000);
	assert_int_equal(t.replies, 2);
	assert_int_equal(t.last.type, CTR_MSG_ERROR);
	assert_int_equal(t.last.seq, 8);
	assert_int_equal(t.last.err, ENOENT);
	feed(&exited, 5);
	assert_int_equal(t.exits, 1);
	assert_int_equal(t.exit_id, 0);
	assert_int_equal(t.exit_kind, 1);
	assert_int_equal(t.exit_code, 9);
	assert_int_equal(t.a.dropped, 0);
	/* A second HELLO, a request or a STREAM on the agent connection: dropped, counted. */
	feed(&hello, 64);
	assert_int_equal(t.hellos, 1);
	{
		struct ctr_msg_fields start = { .type = CTR_MSG_START, .seq = 1, .has_seq = true };
		struct ctr_msg_fields st = { .type = CTR_MSG_STREAM, .id = 0, .stream = 1 };

		feed(&start, 64);
		feed(&st, 64);
	}
	assert_int_equal(t.a.dropped, 3);
	assert_int_equal(t.replies, 2);
	assert_int_equal(t.sent_len, 0); /* hull answers nothing: hull-init sends no requests */
}

/* Frames that are not frames: passed over, and the next good one is read as usual. */
static void test_hostile_frames(void **state)
{
	struct ctr_msg_fields exited = { .type = CTR_MSG_EXITED, .id = 3, .kind = 0, .code = 42 };
	uint8_t hdr[CTR_FRAME_HDR], junk[4096];
	uint32_t big = CTR_FRAME_MAX + 1;
	size_t i;

	(void)state;
	memset(junk, 0xa5, sizeof(junk));
	/* Longer than CTR_FRAME_MAX: its bytes are skipped unbuffered, in pieces. */
	ctr_frame_put_hdr(hdr, CTR_MSG_EXITED, big);
	ctr_agent_input(&t.a, hdr, sizeof(hdr));
	for (i = 0; i < big; i += sizeof(junk))
		ctr_agent_input(&t.a, junk, big - i < sizeof(junk) ? big - i : sizeof(junk));
	assert_null(t.a.payload);
	feed(&exited, 7);
	assert_int_equal(t.exits, 1);
	assert_int_equal(t.exit_code, 42);
	/* Another version, with a payload: skipped the same way. */
	ctr_frame_put_hdr(hdr, CTR_MSG_EXITED, 100);
	hdr[6] = 9;
	ctr_agent_input(&t.a, hdr, sizeof(hdr));
	ctr_agent_input(&t.a, junk, 100);
	feed(&exited, 100);
	assert_int_equal(t.exits, 2);
	/* A payload that does not decode, an unknown type, a frame without its fields. */
	ctr_frame_put_hdr(hdr, CTR_MSG_EXITED, 30);
	ctr_agent_input(&t.a, hdr, sizeof(hdr));
	ctr_agent_input(&t.a, junk, 30);
	ctr_frame_put_hdr(hdr, 77, 0);
	ctr_agent_input(&t.a, hdr, sizeof(hdr));
	ctr_frame_put_hdr(hdr, CTR_MSG_OK, 0);
	ctr_agent_input(&t.a, hdr, sizeof(hdr));
	assert_int_equal(t.a.dropped, 5);
	assert_int_equal(t.replies, 0);
	feed(&exited, 1);
	assert_int_equal(t.exits, 3);
}

static void test_requests(void **state)
{
	char arg0[] = "/bin/sh", cwd[] = "/";
	char *args[] = { arg0 };
	struct ctr_process p = { .args = args, .nargs = 1, .cwd = cwd };
	struct ctr_resources r = { .pids_max = 77, .has_pids_max = true };
	struct ctr_msg_fields m;
	uint32_t seq;

	(void)state;
	assert_int_equal(ctr_agent_start(&t.a, NULL, &seq), 0);
	assert_int_equal(seq, 1);
	assert_int_equal(ctr_agent_exec(&t.a, 1, &p, &seq), 0);
	assert_int_equal(seq, 2);
	assert_int_equal(ctr_agent_signal(&t.a, 0, 15, false, &seq), 0);
	assert_int_equal(ctr_agent_winsize(&t.a, 0, 24, 80, &seq), 0);
	assert_int_equal(ctr_agent_stdin_close(&t.a, 0, &seq), 0);
	assert_int_equal(ctr_agent_update(&t.a, &r, 0, &seq), 0);
	assert_int_equal(seq, 6);
	next_sent(&m);
	assert_int_equal(m.type, CTR_MSG_START);
	assert_int_equal(m.seq, 1);
	ctr_msg_free(&m);
	next_sent(&m);
	assert_int_equal(m.type, CTR_MSG_EXEC);
	assert_int_equal(m.id, 1);
	assert_string_equal(m.process.args[0], "/bin/sh");
	ctr_msg_free(&m);
	next_sent(&m);
	assert_int_equal(m.type, CTR_MSG_SIGNAL);
	assert_int_equal(m.signal, 15);
	assert_false(m.all);
	ctr_msg_free(&m);
	next_sent(&m);
	assert_int_equal(m.type, CTR_MSG_WINSIZE);
	assert_int_equal(m.rows, 24);
	assert_int_equal(m.cols, 80);
	ctr_msg_free(&m);
	next_sent(&m);
	assert_int_equal(m.type, CTR_MSG_STDIN_CLOSE);
	ctr_msg_free(&m);
	next_sent(&m);
	assert_int_equal(m.type, CTR_MSG_UPDATE);
	assert_int_equal(m.resources.pids_max, 77);
	ctr_msg_free(&m);
	assert_int_equal(sent_off, t.sent_len);
	/* A request that does not encode is refused and takes no seq. */
	assert_int_equal(ctr_agent_signal(&t.a, 0, 0, false, &seq), -EINVAL);
	assert_int_equal(ctr_agent_start(&t.a, NULL, &seq), 0);
	assert_int_equal(seq, 7);
	/* Not connected. */
	t.a.send = NULL;
	assert_int_equal(ctr_agent_start(&t.a, NULL, &seq), -ENOTCONN);
	sent_off = 0;
}

/* A guest that does not read: requests wait, bounded, and go once it takes them. */
static void test_back_pressure(void **state)
{
	char big[60000];
	char *args[] = { big };
	char cwd[] = "/";
	struct ctr_process p = { .args = args, .nargs = 1, .cwd = cwd };
	struct ctr_msg_fields m;
	unsigned int n = 0;
	uint32_t seq;
	int ret;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	t.take = 0; /* nothing is taken */
	while ((ret = ctr_agent_exec(&t.a, n + 1, &p, &seq)) == 0)
		n++;
	assert_int_equal(ret, -ENOBUFS);
	assert_true(t.a.out_len <= CTR_AGENT_OUT_MAX);
	assert_true(t.a.out_len > CTR_AGENT_OUT_MAX - 70000);
	assert_int_equal(seq, n);
	/* It reads a little at a time; everything arrives whole and in order. */
	t.take = 1000;
	while (t.a.out_len)
		ctr_agent_writable(&t.a);
	for (seq = 1; seq <= n; seq++) {
		next_sent(&m);
		assert_int_equal(m.type, CTR_MSG_EXEC);
		assert_int_equal(m.seq, seq);
		assert_int_equal(m.id, seq);
		ctr_msg_free(&m);
	}
	/* A transport that failed: the error comes back. */
	t.fail = -EPIPE;
	assert_int_equal(ctr_agent_start(&t.a, NULL, &seq), -EPIPE);
	sent_off = 0;
}

static void attach_none(void *opaque, struct vsock_ep *ep)
{
	(void)opaque;
	(void)ep;
}

static void test_streams(void **state)
{
	struct ctr_stream_sink s1 = { .attach = attach_none, .opaque = (void *)1 }, got;
	struct ctr_msg_fields st = { .type = CTR_MSG_STREAM, .id = 0, .stream = CTR_STDOUT };
	uint8_t buf[80], *f;
	uint32_t id, stream;
	size_t len, used;
	unsigned int i;

	(void)state;
	/* Expected once; matched once. */
	assert_int_equal(ctr_agent_expect(&t.a, 0, CTR_STDOUT, &s1), 0);
	assert_int_equal(ctr_agent_expect(&t.a, 0, CTR_STDOUT, &s1), -EEXIST);
	assert_int_equal(ctr_agent_match(&t.a, 0, CTR_STDERR, &got), -ENOENT);
	assert_int_equal(ctr_agent_match(&t.a, 0, CTR_STDOUT, &got), 0);
	assert_ptr_equal(got.opaque, (void *)1);
	assert_int_equal(ctr_agent_match(&t.a, 0, CTR_STDOUT, &got), -ENOENT);
	/* An exec whose owner goes: its expectations are dropped, and may be made again. */
	assert_int_equal(ctr_agent_expect(&t.a, 5, CTR_STDOUT, &s1), 0);
	assert_int_equal(ctr_agent_expect(&t.a, 5, CTR_STDERR, &s1), 0);
	ctr_agent_forget(&t.a, 5);
	assert_int_equal(ctr_agent_match(&t.a, 5, CTR_STDOUT, &got), -ENOENT);
	assert_int_equal(ctr_agent_match(&t.a, 5, CTR_STDERR, &got), -ENOENT);
	assert_int_equal(ctr_agent_expect(&t.a, 5, CTR_STDOUT, &s1), 0);
	ctr_agent_forget(&t.a, 5);
	for (i = 0; i < CTR_EXPECT_MAX; i++)
		assert_int_equal(ctr_agent_expect(&t.a, i, CTR_STDIN, &s1), 0);
	assert_int_equal(ctr_agent_expect(&t.a, 999, CTR_STDIN, &s1), -ENOSPC);

	/* The STREAM frame: whole, in pieces, with the stream's bytes after it. */
	f = frame(&st, &len);
	memcpy(buf, f, len);
	memcpy(buf + len, "data", 4);
	for (i = 0; i < len; i++)
		assert_int_equal(ctr_stream_frame(buf, i, &id, &stream, &used), -EAGAIN);
	assert_int_equal(ctr_stream_frame(buf, len + 4, &id, &stream, &used), 0);
	assert_int_equal(id, 0);
	assert_int_equal(stream, CTR_STDOUT);
	assert_int_equal(used, len);
	/* Another version, another type, a stream past 3, a payload too long to be one. */
	buf[6] = 2;
	assert_int_equal(ctr_stream_frame(buf, len, &id, &stream, &used), -EINVAL);
	buf[6] = CTR_PROTO_VERSION;
	buf[4] = CTR_MSG_EXITED;
	assert_int_equal(ctr_stream_frame(buf, len, &id, &stream, &used), -EINVAL);
	free(f);
	st.stream = 9;
	memset(buf, 0, sizeof(buf));
	ctr_frame_put_hdr(buf, CTR_MSG_STREAM, 20);
	memcpy(buf + 8, "\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x03\x00\x04\x00\x00\x00\x09\x00\x00"
			"\x00", 20);
	assert_int_equal(ctr_stream_frame(buf, 28, &id, &stream, &used), -EINVAL);
	ctr_frame_put_hdr(buf, CTR_MSG_STREAM, 57);
	assert_int_equal(ctr_stream_frame(buf, 8, &id, &stream, &used), -EINVAL);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_messages),
		T(test_hostile_frames),
		T(test_requests),
		T(test_back_pressure),
		T(test_streams),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
