/* log: hull's messages, one line each, as text or JSON, on stderr or in a file, never blocking. */
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/file.h"

static atomic_bool verbose;

/*
 * Where lines go. Set by log_open() before other threads start and by log_close() after they
 * stopped, read by any thread in between. Before log_open(), lines go straight to fd 2.
 */
static struct {
	bool open;
	enum log_format format;
	struct file_out out;
	int file_fd; /* the --log file as opened (out may be a reopening of it), or -1 */
} dst = { .file_fd = -1 };

static atomic_uint_least64_t dropped, dropped_told;

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Copy msg[0..n) into out (room for 3n bytes), each byte that is not UTF-8 as U+FFFD. */
static size_t utf8_clean(const char *msg, size_t n, char *out)
{
	const unsigned char *s = (const unsigned char *)msg;
	size_t i = 0, o = 0, k;

	while (i < n) {
		k = utf8_seq(s + i, n - i);
		if (k) {
			memcpy(out + o, s + i, k);
			i += k;
			o += k;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			i++;
			o += 3;
		}
	}
	return o;
}

static char *json_line(const char *level, const char *msg, size_t n, const char *time,
		       size_t *len)
{
	struct json_object *o = json_object_new_object();
	char *clean = malloc(3 * n + 1), *line = NULL;
	const char *s;
	size_t slen;

	if (!o || !clean)
		goto out;
	json_object_object_add(o, "level", json_object_new_string(level));
	json_object_object_add(o, "msg",
			       json_object_new_string_len(clean, (int)utf8_clean(msg, n, clean)));
	json_object_object_add(o, "time", json_object_new_string(time));
	s = json_object_to_json_string_ext(o,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s)
		goto out;
	slen = strlen(s);
	line = malloc(slen + 2);
	if (!line)
		goto out;
	memcpy(line, s, slen);
	line[slen++] = '\n';
	line[slen] = '\0';
	*len = slen;
out:
	json_object_put(o);
	free(clean);
	return line;
}

char *log_format_line(enum log_format format, const char *level, const char *msg,
		      const struct timespec *now, size_t *len)
{
	size_t n = strnlen(msg, LOG_MSG_MAX);
	char time[48], *line;
	struct tm tm;

	if (format == LOG_TEXT) {
		line = malloc(n + 8);
		if (!line)
			return NULL;
		*len = (size_t)sprintf(line, "hull: %.*s\n", (int)n, msg);
		return line;
	}
	gmtime_r(&now->tv_sec, &tm);
	snprintf(time, sizeof(time), "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now->tv_nsec);
	/* Escaping can make a message six times longer: cut it until a pipe takes it whole. */
	for (;;) {
		line = json_line(level, msg, n, time, len);
		if (!line || *len <= PIPE_BUF || n == 0)
			return line;
		free(line);
		n /= 2;
	}
}

/* Write one line without blocking, counting it when the output does not take all of it. */
static bool put(const char *line, size_t len)
{
	struct iovec iov = { .iov_base = (void *)(uintptr_t)line, .iov_len = len };
	ssize_t w;

	if (!dst.open)
		return write(STDERR_FILENO, line, len) == (ssize_t)len;
	w = file_out_writev(&dst.out, &iov, 1);
	if (w == (ssize_t)len)
		return true;
	atomic_fetch_add(&dropped, 1);
	return false;
}

/* Say what was lost since the last report, once per batch, before the next line. */
static void report_dropped(const struct timespec *now)
{
	uint64_t lost = atomic_load(&dropped), told = atomic_load(&dropped_told);
	char note[96], *line;
	size_t len;

	if (lost == told || !atomic_compare_exchange_strong(&dropped_told, &told, lost))
		return;
	snprintf(note, sizeof(note), "log: %llu messages dropped: the output did not take them",
		 (unsigned long long)(lost - told));
	line = log_format_line(dst.format, "error", note, now, &len);
	if (!line || !put(line, len)) {
		/* Still stuck: tell later, and the note itself is no message of the caller's. */
		if (line)
			atomic_fetch_sub(&dropped, 1);
		atomic_store(&dropped_told, told);
	}
	free(line);
}

static void emit(const char *level, const char *msg)
{
	struct timespec now;
	char *line;
	size_t len;

	clock_gettime(CLOCK_REALTIME, &now);
	report_dropped(&now);
	line = log_format_line(dst.format, level, msg, &now, &len);
	if (line)
		put(line, len);
	free(line);
}

static void vlog(const char *level, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX + 1];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	emit(level, msg);
}

void log_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("error", fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!atomic_load(&verbose))
		return;
	va_start(ap, fmt);
	vlog("debug", fmt, ap);
	va_end(ap);
}

void log_set_verbose(bool on)
{
	atomic_store(&verbose, on);
}

bool log_verbose(void)
{
	return atomic_load(&verbose);
}

int log_parse_format(const char *s, enum log_format *out)
{
	if (!strcmp(s, "text"))
		*out = LOG_TEXT;
	else if (!strcmp(s, "json"))
		*out = LOG_JSON;
	else
		return -EINVAL;
	return 0;
}

int log_open(const char *path, enum log_format format)
{
	int fd = STDERR_FILENO, ret;

	log_close();
	if (path) {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY | O_CLOEXEC, 0666);
		if (fd < 0)
			return -errno;
		dst.file_fd = fd;
	}
	ret = file_out_open(&dst.out, fd);
	if (ret) {
		/* stderr is closed: messages go nowhere, as before. */
		if (path)
			close(fd);
		dst.file_fd = -1;
		return path ? ret : 0;
	}
	dst.format = format;
	dst.open = true;
	return 0;
}

void log_close(void)
{
	struct timespec now;

	if (!dst.open)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	report_dropped(&now);
	file_out_close(&dst.out);
	if (dst.file_fd >= 0)
		close(dst.file_fd);
	dst.file_fd = -1;
	dst.open = false;
	dst.format = LOG_TEXT;
}

uint64_t log_dropped(void)
{
	return atomic_load(&dropped);
}
