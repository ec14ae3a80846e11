/* log: hull's messages, one line each, as text or JSON, on stderr or in a file, never blocking. */
#ifndef HULL_LIB_LOG_H
#define HULL_LIB_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum log_format {
	LOG_TEXT, /* "hull: <message>" */
	LOG_JSON, /* {"level":"error","msg":"<message>","time":"<RFC 3339, UTC>"}, as runc writes */
};

/* The longest message kept; the rest of a longer one is cut. */
#define LOG_MSG_MAX 1024

/*
 * Print one message as one line, atomically as one write, to the output log_open() chose
 * (stderr until then). log_msg is level "error", log_debug level "debug" and only printed when
 * --verbose (or HULL_DEBUG) asked for it.
 */
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_set_verbose(bool on);
bool log_verbose(void);

/*
 * Send messages to path (appended to, created 0666 minus the umask; NULL: stderr) in format,
 * written without ever blocking (lib/file.h's file_out): a line the output does not take at
 * once (a stalled terminal, a full pipe) is dropped and counted, and the count is reported in
 * the next line that gets through and at log_close(). Call before any other thread logs.
 * 0, or -errno when path cannot be opened (messages then still go to stderr).
 */
int log_open(const char *path, enum log_format format);
/* Report lines dropped, put the output back as it was, close the file. */
void log_close(void);

/* "text" or "json": 0, or -EINVAL. */
int log_parse_format(const char *s, enum log_format *out);

/* Lines dropped so far because the output was full. */
uint64_t log_dropped(void);

/*
 * Format one line (with its newline) as it would be written: level "error" or "debug", msg
 * (cut to LOG_MSG_MAX; in JSON, bytes that are not UTF-8 become U+FFFD so the line is always
 * JSON, and the line stays within PIPE_BUF so a pipe takes it whole or not at all), at time
 * now. Returns a malloc'd line and its length in *len, or NULL when out of memory.
 */
char *log_format_line(enum log_format format, const char *level, const char *msg,
		      const struct timespec *now, size_t *len);

#endif
