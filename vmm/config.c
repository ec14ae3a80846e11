/* config: the VM's configuration as plain data, from flags and/or a JSON file, validated in one place. */
#include "vmm/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/file.h"
#include "vmm/parse.h"

#define CONFIG_FILE_MAX (1 << 20)

void config_init(struct vm_config *c)
{
	*c = (struct vm_config){ .cpus = CONFIG_DEFAULT_CPUS, .mem = CONFIG_DEFAULT_MEM, .rng = true };
}

void config_clear_disks(struct vm_config *c)
{
	unsigned int i;

	for (i = 0; i < c->ndisks; i++)
		vblk_config_free(&c->disks[i]);
	c->ndisks = 0;
}

void config_free(struct vm_config *c)
{
	config_clear_disks(c);
	free(c->kernel);
	free(c->initrd);
	free(c->cmdline);
	config_init(c);
}

static int set_string(char **field, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

int config_set(struct vm_config *c, const char *key, const char *value, char *err, size_t errlen)
{
	uint64_t v;
	int b, ret;

	if (!strcmp(key, "kernel") || !strcmp(key, "initrd") || !strcmp(key, "cmdline")) {
		char **field = key[0] == 'k' ? &c->kernel : key[0] == 'i' ? &c->initrd : &c->cmdline;

		if (key[0] != 'c' && !value[0]) {
			snprintf(err, errlen, "%s: empty path", key);
			return -EINVAL;
		}
		return set_string(field, value);
	}
	if (!strcmp(key, "cpus")) {
		ret = parse_uint(value, 0, UINT32_MAX, &v);
		if (ret) {
			snprintf(err, errlen, "cpus '%s': not a CPU count", value);
			return -EINVAL;
		}
		c->cpus = (unsigned int)v;
		return 0;
	}
	if (!strcmp(key, "memory")) {
		ret = parse_size(value, &v);
		if (ret) {
			snprintf(err, errlen, "memory '%s': %s", value,
				 ret == -ERANGE ? "too large" : "not a size (use e.g. 512M, 4G)");
			return -EINVAL;
		}
		c->mem = v;
		return 0;
	}
	if (!strcmp(key, "boot_timer") || !strcmp(key, "rng")) {
		if (parse_bool(value, &b)) {
			snprintf(err, errlen, "%s '%s': not on/off", key, value);
			return -EINVAL;
		}
		*(key[0] == 'b' ? &c->boot_timer : &c->rng) = b;
		return 0;
	}
	if (!strcmp(key, "disk"))
		return config_add_disk(c, value, err, errlen);
	snprintf(err, errlen, "unknown setting '%s'", key);
	return -EINVAL;
}

static int disk_slot(struct vm_config *c, char *err, size_t errlen)
{
	if (c->ndisks == CONFIG_MAX_DISKS) {
		snprintf(err, errlen, "disk: at most %d disks", CONFIG_MAX_DISKS);
		return -ENOSPC;
	}
	return 0;
}

int config_add_disk(struct vm_config *c, const char *spec, char *err, size_t errlen)
{
	char why[200];
	int ret = disk_slot(c, err, errlen);

	if (ret)
		return ret;
	ret = vblk_parse(&c->disks[c->ndisks], spec, why, sizeof(why));
	if (ret) {
		if (ret == -EINVAL)
			snprintf(err, errlen, "disk %s", why);
		return ret;
	}
	c->ndisks++;
	return 0;
}

/* One element of "disks": an object of path/cache/serial strings and an ro boolean. */
static int json_disk(struct vm_config *c, unsigned int i, struct json_object *obj, char *err,
		     size_t errlen)
{
	struct vblk_config *d = &c->disks[c->ndisks];
	char why[200];
	int ret;

	if (!json_object_is_type(obj, json_type_object)) {
		snprintf(err, errlen, "disks[%u]: expected an object", i);
		return -EINVAL;
	}
	ret = disk_slot(c, err, errlen);
	if (ret)
		return ret;
	*d = (struct vblk_config){ .cache = VBLK_CACHE_WRITEBACK };
	json_object_object_foreach(obj, key, val) {
		bool is_bool = !strcmp(key, "ro");
		const char *v;

		if (is_bool ? !json_object_is_type(val, json_type_boolean)
			    : !json_object_is_type(val, json_type_string)) {
			snprintf(err, errlen, "disks[%u].%s: expected %s", i, key,
				 is_bool ? "true or false" : "a string");
			ret = -EINVAL;
			goto fail;
		}
		v = is_bool ? (json_object_get_boolean(val) ? "on" : "off") : json_object_get_string(val);
		ret = vblk_config_set(d, key, v, why, sizeof(why));
		if (ret) {
			if (ret == -EINVAL)
				snprintf(err, errlen, "disks[%u]: %s", i, why);
			goto fail;
		}
	}
	if (!d->path) {
		snprintf(err, errlen, "disks[%u]: no \"path\"", i);
		ret = -EINVAL;
		goto fail;
	}
	c->ndisks++;
	return 0;
fail:
	vblk_config_free(d);
	return ret;
}

static int json_disks(struct vm_config *c, struct json_object *val, char *err, size_t errlen)
{
	size_t i, n;
	int ret;

	if (!json_object_is_type(val, json_type_array)) {
		snprintf(err, errlen, "disks: expected an array of objects");
		return -EINVAL;
	}
	config_clear_disks(c);
	n = json_object_array_length(val);
	for (i = 0; i < n; i++) {
		ret = json_disk(c, (unsigned int)i, json_object_array_get_idx(val, i), err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

/* Turn one JSON member into the string form config_set() takes. */
static int json_member(struct vm_config *c, const char *key, struct json_object *val, char *err,
		       size_t errlen)
{
	if (!strcmp(key, "cpus") || !strcmp(key, "memory")) {
		if (json_object_is_type(val, json_type_int)) {
			/* json-c's own rendering keeps values past INT64_MAX exact; parse_* range-checks. */
			const char *num = json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN);

			if (num[0] == '-') {
				snprintf(err, errlen, "%s: must not be negative", key);
				return -EINVAL;
			}
			return config_set(c, key, num, err, errlen);
		}
		if (!strcmp(key, "memory") && json_object_is_type(val, json_type_string))
			return config_set(c, key, json_object_get_string(val), err, errlen);
		snprintf(err, errlen, "%s: expected %s", key,
			 key[0] == 'c' ? "an integer" : "a size string or an integer");
		return -EINVAL;
	}
	if (!strcmp(key, "boot_timer") || !strcmp(key, "rng")) {
		if (!json_object_is_type(val, json_type_boolean)) {
			snprintf(err, errlen, "%s: expected true or false", key);
			return -EINVAL;
		}
		*(key[0] == 'b' ? &c->boot_timer : &c->rng) = json_object_get_boolean(val);
		return 0;
	}
	if (!strcmp(key, "disks"))
		return json_disks(c, val, err, errlen);
	if (!strcmp(key, "kernel") || !strcmp(key, "initrd") || !strcmp(key, "cmdline")) {
		if (!json_object_is_type(val, json_type_string)) {
			snprintf(err, errlen, "%s: expected a string", key);
			return -EINVAL;
		}
		return config_set(c, key, json_object_get_string(val), err, errlen);
	}
	snprintf(err, errlen, "unknown field '%s'", key);
	return -EINVAL;
}

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

int config_load_json(struct vm_config *c, const char *text, size_t len, char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *root;
	enum json_tokener_error jerr;
	size_t end;
	int ret = 0;

	if (len > CONFIG_FILE_MAX || len > INT32_MAX) {
		snprintf(err, errlen, "too large (limit %d bytes)", CONFIG_FILE_MAX);
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
		ret = -EINVAL;
		goto out;
	}
	for (end = json_tokener_get_parse_end(tok); end < len && isspace((unsigned char)text[end]); end++)
		;
	if (end != len) {
		snprintf(err, errlen, "not valid JSON: trailing data at byte %zu", end);
		ret = -EINVAL;
		goto out;
	}
	if (!json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "expected a JSON object at the top level");
		ret = -EINVAL;
		goto out;
	}
	json_object_object_foreach(root, key, val) {
		ret = json_member(c, key, val, err, errlen);
		if (ret)
			goto out;
	}
out:
	json_object_put(root);
	json_tokener_free(tok);
	return ret;
}

int config_load_file(struct vm_config *c, const char *path, char *err, size_t errlen)
{
	uint8_t *text;
	size_t len;
	int ret;

	ret = file_read_all(path, CONFIG_FILE_MAX, &text, &len);
	if (ret) {
		snprintf(err, errlen, "%s", ret == -EFBIG ? "too large (limit 1 MiB)" : file_strerror(ret));
		return ret;
	}
	ret = config_load_json(c, (const char *)text, len, err, errlen);
	free(text);
	return ret;
}

int config_validate(const struct vm_config *c, char *err, size_t errlen)
{
	if (c->cpus == 0 || c->cpus > CONFIG_MAX_CPUS) {
		snprintf(err, errlen, "cpus %u: must be between 1 and %d", c->cpus, CONFIG_MAX_CPUS);
		return -EINVAL;
	}
	if (c->mem < CONFIG_MIN_MEM) {
		snprintf(err, errlen, "memory %" PRIu64 " bytes: too small (minimum %lluM)", c->mem,
			 CONFIG_MIN_MEM >> 20);
		return -EINVAL;
	}
	if (c->mem > CONFIG_MAX_MEM) {
		snprintf(err, errlen, "memory %" PRIu64 " bytes: too large (maximum %lluG)", c->mem,
			 CONFIG_MAX_MEM >> 30);
		return -EINVAL;
	}
	if (c->mem & 0xfff) {
		snprintf(err, errlen, "memory %" PRIu64 " bytes: not a multiple of 4K", c->mem);
		return -EINVAL;
	}
	return 0;
}
