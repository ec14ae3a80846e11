/* json: parse a whole JSON document strictly (json-c), with a size limit; read exact integers. */
#ifndef HULL_LIB_JSON_H
#define HULL_LIB_JSON_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

/*
 * Parse text[0..len) as one JSON value: json-c's strict mode, minus the
 * single-quoted strings it still takes, and nothing but white space after
 * the value. *out is the root (of any type; json_object_put() it). Errors:
 * -EFBIG past max bytes ("too large (limit N bytes)"), -EINVAL ("not valid
 * JSON: ... at byte N"), -ENOMEM; the reason goes into err.
 */
int json_parse_strict(const char *text, size_t len, size_t max, struct json_object **out,
		      char *err, size_t errlen);

/*
 * An integer value as json-c rendered it, exactly (values past INT64_MAX
 * too): 0, or -EINVAL for a value that is not an integer, -ERANGE outside
 * [min, max]. The signed form takes a leading minus.
 */
int json_get_u64(struct json_object *v, uint64_t min, uint64_t max, uint64_t *out);
int json_get_i64(struct json_object *v, int64_t min, int64_t max, int64_t *out);

#endif
