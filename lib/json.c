/* json: parse a whole JSON document strictly (json-c), with a size limit; read exact integers. */
#include "lib/json.h"

#include <ctype.h>
#include <errno.h>
#include <json.h>
#include <stdbool.h>
#include <stdio.h>

#include "lib/parse.h"

/*
 * json-c's strict mode still takes single-quoted strings; JSON does not. Returns the offset of
 * the first quote outside a double-quoted string, or len.
 */
static size_t single_quote_at(const char *text, size_t len)
{
	bool in_string = false;
	size_t i;

	for (i = 0; i < len; i++) {
		if (in_string && text[i] == '\\')
			i++;
		else if (text[i] == '"')
			in_string = !in_string;
		else if (!in_string && text[i] == '\'')
			return i;
	}
	return len;
}

int json_parse_strict(const char *text, size_t len, size_t max, struct json_object **out,
		      char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *root;
	enum json_tokener_error jerr;
	size_t end;

	*out = NULL;
	if (len > max || len > INT32_MAX) {
		snprintf(err, errlen, "too large (limit %zu bytes)", max < INT32_MAX ? max : INT32_MAX);
		return -EFBIG;
	}
	end = single_quote_at(text, len);
	if (end != len) {
		snprintf(err, errlen, "not valid JSON: single quote at byte %zu", end);
		return -EINVAL;
	}
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, text, (int)len);
	end = json_tokener_get_parse_end(tok);
	/* A number at the very end may go on: a NUL says the input has ended. */
	if (!root && json_tokener_get_error(tok) == json_tokener_continue) {
		root = json_tokener_parse_ex(tok, "", 1);
		end = len;
	}
	if (!root) {
		jerr = json_tokener_get_error(tok);
		if (jerr == json_tokener_continue)
			jerr = json_tokener_error_parse_eof;
		snprintf(err, errlen, "not valid JSON: %s at byte %zu", json_tokener_error_desc(jerr),
			 end);
		json_tokener_free(tok);
		return -EINVAL;
	}
	while (end < len && isspace((unsigned char)text[end]))
		end++;
	json_tokener_free(tok);
	if (end != len) {
		snprintf(err, errlen, "not valid JSON: trailing data at byte %zu", end);
		json_object_put(root);
		return -EINVAL;
	}
	*out = root;
	return 0;
}

/* json-c's own rendering keeps values past INT64_MAX exact; parse_uint range-checks. */
static const char *int_text(struct json_object *v)
{
	if (!json_object_is_type(v, json_type_int))
		return NULL;
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
}

int json_get_u64(struct json_object *v, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *s = int_text(v);

	if (!s)
		return -EINVAL;
	if (s[0] == '-')
		return -ERANGE;
	return parse_uint(s, min, max, out);
}

int json_get_i64(struct json_object *v, int64_t min, int64_t max, int64_t *out)
{
	const char *s = int_text(v);
	uint64_t mag;
	int64_t val;
	int ret;

	if (!s)
		return -EINVAL;
	if (s[0] != '-') {
		ret = parse_uint(s, 0, INT64_MAX, &mag);
		val = (int64_t)mag;
	} else {
		/* -INT64_MIN does not fit an int64; its magnitude does fit a uint64. */
		ret = parse_uint(s + 1, 0, (uint64_t)INT64_MAX + 1, &mag);
		val = mag > INT64_MAX ? INT64_MIN : -(int64_t)mag;
	}
	if (ret)
		return ret;
	if (val < min || val > max)
		return -ERANGE;
	*out = val;
	return 0;
}
