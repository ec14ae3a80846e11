/* parse: pure parsers for sizes and counts given on the command line or in config files. */
#ifndef HULL_LIB_PARSE_H
#define HULL_LIB_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * "512M", "4G", "65536K", "1048576" (bytes), with optional "iB"/"B" suffix
 * ("512MiB", "512MB" are binary too). Returns 0, -EINVAL for garbage or an
 * empty string, -ERANGE on overflow.
 */
int parse_size(const char *s, uint64_t *out);

/* A decimal unsigned integer in [min, max]: -EINVAL for garbage, -ERANGE outside. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* "on"/"off"/"true"/"false"/"yes"/"no"/"1"/"0": -EINVAL otherwise. */
int parse_bool(const char *s, int *out);

/*
 * The reason a checker gives, fmt's message written into err (errlen bytes),
 * and ret returned: "return parse_fail(err, errlen, -EINVAL, "x %s: why", x);".
 */
int parse_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Apply one key=value item to obj: 0, or -errno with a one-line reason in err. */
typedef int parse_set_fn(void *obj, const char *key, const char *value, char *err, size_t errlen);

/*
 * Split a device spec "key=value,key=value" (--disk, --fs) and hand each item
 * to set, in order. A doubled comma stands for a literal comma (as in QEMU),
 * so values such as paths may contain commas. An item without '=' (an empty
 * one too, e.g. after a trailing comma) and a key of keys[0..nkeys) given
 * twice are -EINVAL; hint is the example the first message shows
 * ("path=FILE,ro=on,..."). 0, -ENOMEM, or the first error, with err written.
 */
int parse_spec(const char *spec, const char *const *keys, unsigned int nkeys, const char *hint,
	       parse_set_fn *set, void *obj, char *err, size_t errlen);

/*
 * Setting helpers for spec parsers; on failure each writes "KEY ...: why" into
 * err. parse_set_path: a non-empty string, strdup'd into *dst (the old value
 * freed). parse_set_bool: parse_bool's words. parse_set_choice: value is one
 * of names[0..n), *dst = its index; the message lists the names in order.
 */
int parse_set_path(const char *key, const char *value, char **dst, char *err, size_t errlen);
int parse_set_bool(const char *key, const char *value, bool *dst, char *err, size_t errlen);
/*
 * A short identifier (a disk serial, a share tag): printable ASCII without
 * spaces or commas, at most max bytes (empty only when may_be_empty), copied
 * with its NUL into dst (max + 1 bytes).
 */
int parse_set_word(const char *key, const char *value, size_t max, bool may_be_empty, char *dst,
		   char *err, size_t errlen);
int parse_set_choice(const char *key, const char *value, const char *const *names, unsigned int n,
		     int *dst, char *err, size_t errlen);

#endif
