/* log: one-line diagnostics on stderr, prefixed "hull: ". */
#ifndef HULL_LIB_LOG_H
#define HULL_LIB_LOG_H

#include <stdbool.h>

/* Print "hull: <message>\n" to stderr, atomically as one write. */
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, only when --verbose (or HULL_DEBUG) asked for it. */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_set_verbose(bool on);
bool log_verbose(void);

#endif
