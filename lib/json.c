/* json: strict JSON text to a json-c object — one document, nothing after it but whitespace. */
#include "lib/json.h"

#include <ctype.h>
#include <errno.h>
#include <json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

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

int json_parse_strict(const char *text, size_t len, struct json_object **out, char *err,
		      size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *root;
	enum json_tokener_error jerr;
	size_t end;

	*out = NULL;
	if (len > INT32_MAX) {
		snprintf(err, errlen, "too large for a JSON document");
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
	if (!root) {
		jerr = json_tokener_get_error(tok);
		if (jerr == json_tokener_continue)
			jerr = json_tokener_error_parse_eof;
		snprintf(err, errlen, "not valid JSON: %s at byte %zu", json_tokener_error_desc(jerr),
			 json_tokener_get_parse_end(tok));
		json_tokener_free(tok);
		return -EINVAL;
	}
	for (end = json_tokener_get_parse_end(tok); end < len && isspace((unsigned char)text[end]);
	     end++)
		;
	json_tokener_free(tok);
	if (end != len) {
		snprintf(err, errlen, "not valid JSON: trailing data at byte %zu", end);
		json_object_put(root);
		return -EINVAL;
	}
	*out = root;
	return 0;
}
