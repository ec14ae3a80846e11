/* json: strict JSON text to a json-c object — one document, nothing after it but whitespace. */
#ifndef HULL_LIB_JSON_H
#define HULL_LIB_JSON_H

#include <stddef.h>

struct json_object;

/*
 * Parse text[0..len) as one JSON value in json-c's strict mode, also refusing
 * what strict mode still takes (single-quoted strings) and anything but
 * whitespace after the value. 0 with *out (json_object_put() it), -EINVAL
 * with a one-line reason in err ("not valid JSON: ... at byte N"), -EFBIG
 * past INT32_MAX bytes, -ENOMEM.
 */
int json_parse_strict(const char *text, size_t len, struct json_object **out, char *err,
		      size_t errlen);

#endif
