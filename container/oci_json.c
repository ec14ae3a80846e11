/* oci_json: typed reads of config.json's values, each failure naming the field. */
#include "container/oci_json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container/proto.h"
#include "lib/json.h"

int oci_fail(struct oci_ctx *c, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return ret;
}

struct json_object *oci_get(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

int oci_object(struct oci_ctx *c, struct json_object *v, const char *where)
{
	if (!json_object_is_type(v, json_type_object))
		return oci_fail(c, -EINVAL, "%s: expected an object", where);
	return 0;
}

int oci_array(struct oci_ctx *c, struct json_object *v, const char *where, size_t *n)
{
	if (!json_object_is_type(v, json_type_array))
		return oci_fail(c, -EINVAL, "%s: expected an array", where);
	*n = json_object_array_length(v);
	if (*n > CTR_LIST_MAX)
		return oci_fail(c, -E2BIG, "%s: %zu entries (limit %u)", where, *n, CTR_LIST_MAX);
	return 0;
}

int oci_str(struct oci_ctx *c, struct json_object *v, const char *where, char **out)
{
	const char *s;
	size_t len;

	if (!json_object_is_type(v, json_type_string))
		return oci_fail(c, -EINVAL, "%s: expected a string", where);
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (memchr(s, '\0', len))
		return oci_fail(c, -EINVAL, "%s: holds a NUL character", where);
	if (len > TLV_STR_MAX)
		return oci_fail(c, -E2BIG, "%s: %zu bytes long (limit %u)", where, len, TLV_STR_MAX);
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

int oci_strv(struct oci_ctx *c, struct json_object *v, const char *where, char ***out,
	     unsigned int *n)
{
	char at[96], **arr;
	size_t i, len;
	int ret;

	ret = oci_array(c, v, where, &len);
	if (ret)
		return ret;
	arr = calloc(len ? len : 1, sizeof(*arr));
	if (!arr)
		return -ENOMEM;
	for (i = 0; i < len; i++) {
		snprintf(at, sizeof(at), "%s[%zu]", where, i);
		ret = oci_str(c, json_object_array_get_idx(v, i), at, &arr[i]);
		if (ret) {
			while (i--)
				free(arr[i]);
			free(arr);
			return ret;
		}
	}
	*out = arr;
	*n = (unsigned int)len;
	return 0;
}

int oci_bool(struct oci_ctx *c, struct json_object *v, const char *where, bool *out)
{
	if (!json_object_is_type(v, json_type_boolean))
		return oci_fail(c, -EINVAL, "%s: expected true or false", where);
	*out = json_object_get_boolean(v);
	return 0;
}

static int int_fail(struct oci_ctx *c, int ret, const char *where, const char *range)
{
	if (ret == -ERANGE)
		return oci_fail(c, -EINVAL, "%s: out of range (%s)", where, range);
	return oci_fail(c, -EINVAL, "%s: expected an integer", where);
}

int oci_u32(struct oci_ctx *c, struct json_object *v, const char *where, uint32_t max,
	    uint32_t *out)
{
	char range[32];
	uint64_t u;
	int ret = json_get_u64(v, 0, max, &u);

	if (ret) {
		snprintf(range, sizeof(range), "0..%u", max);
		return int_fail(c, ret, where, range);
	}
	*out = (uint32_t)u;
	return 0;
}

int oci_u64(struct oci_ctx *c, struct json_object *v, const char *where, uint64_t *out)
{
	int ret = json_get_u64(v, 0, UINT64_MAX, out);

	return ret ? int_fail(c, ret, where, "must not be negative") : 0;
}

int oci_i64(struct oci_ctx *c, struct json_object *v, const char *where, int64_t min, int64_t max,
	    int64_t *out)
{
	char range[48];
	int ret = json_get_i64(v, min, max, out);

	if (ret) {
		snprintf(range, sizeof(range), "%lld..%lld", (long long)min, (long long)max);
		return int_fail(c, ret, where, range);
	}
	return 0;
}

int oci_text(struct oci_ctx *c, struct json_object *v, const char *where, char **out)
{
	const char *s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);

	if (!s)
		return -ENOMEM;
	if (strlen(s) > CTR_SPEC_MAX)
		return oci_fail(c, -E2BIG, "%s: larger than %u bytes", where, CTR_SPEC_MAX);
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}
