/* config: the VM's configuration as plain data, from flags and/or a JSON file, validated in one place. */
#include "vmm/config.h"

#include <errno.h>
#include <inttypes.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/file.h"
#include "lib/json.h"
#include "lib/parse.h"

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

void config_clear_shares(struct vm_config *c)
{
	unsigned int i;

	for (i = 0; i < c->nshares; i++)
		vfs_config_free(&c->shares[i]);
	c->nshares = 0;
}

void config_clear_nets(struct vm_config *c)
{
	unsigned int i;

	for (i = 0; i < c->nnets; i++)
		vnet_config_free(&c->nets[i]);
	c->nnets = 0;
}

void config_free(struct vm_config *c)
{
	config_clear_disks(c);
	config_clear_shares(c);
	config_clear_nets(c);
	vsock_config_free(&c->vsock);
	free(c->kernel);
	free(c->initrd);
	free(c->cmdline);
	free(c->api_sock);
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
	if (!strcmp(key, "api_sock")) {
		if (!value[0]) {
			snprintf(err, errlen, "%s: empty path", key);
			return -EINVAL;
		}
		return set_string(&c->api_sock, value);
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
	if (!strcmp(key, "fs"))
		return config_add_share(c, value, err, errlen);
	if (!strcmp(key, "net"))
		return config_add_net(c, value, err, errlen);
	if (!strcmp(key, "vsock"))
		return config_set_vsock(c, value, err, errlen);
	snprintf(err, errlen, "unknown setting '%s'", key);
	return -EINVAL;
}

/* The --disk, --fs and --net lists and their JSON arrays ("disks", ...), described once. */
struct dev_list {
	const char *flag, *array; /* "disk", "disks" */
	unsigned int max;
	/* One field of an entry; a whole spec; a required field not given (or NULL). */
	parse_set_fn *set;
	/*
	 * JSON: every field is a string but bool_key, which takes true or false,
	 * standing for the settings if_true and if_false (NULL: refused), and
	 * also a string when bool_or_string.
	 */
	const char *bool_key, *if_true, *if_false;
	bool bool_or_string;
	int (*parse)(void *entry, const char *spec, char *err, size_t errlen);
	const char *(*missing)(const void *entry);
	void (*free)(void *entry);
	/* Entry k of c's list, reset to its defaults; where the list's count is kept. */
	void *(*entry)(struct vm_config *c, unsigned int k);
	unsigned int *(*count)(struct vm_config *c);
	void (*clear)(struct vm_config *c);
};

static int disk_set(void *entry, const char *key, const char *value, char *err, size_t errlen)
{
	return vblk_config_set(entry, key, value, err, errlen);
}

static int disk_parse(void *entry, const char *spec, char *err, size_t errlen)
{
	return vblk_parse(entry, spec, err, errlen);
}

static const char *disk_missing(const void *entry)
{
	return ((const struct vblk_config *)entry)->path ? NULL : "path";
}

static void disk_free(void *entry)
{
	vblk_config_free(entry);
}

static void *disk_entry(struct vm_config *c, unsigned int k)
{
	c->disks[k] = (struct vblk_config){ .cache = VBLK_CACHE_WRITEBACK };
	return &c->disks[k];
}

static unsigned int *disk_count(struct vm_config *c)
{
	return &c->ndisks;
}

static int share_set(void *entry, const char *key, const char *value, char *err, size_t errlen)
{
	return vfs_config_set(entry, key, value, err, errlen);
}

static int share_parse(void *entry, const char *spec, char *err, size_t errlen)
{
	return vfs_parse(entry, spec, err, errlen);
}

static const char *share_missing(const void *entry)
{
	const struct vfs_config *s = entry;

	return !s->tag[0] ? "tag" : !s->path ? "path" : NULL;
}

static void share_free(void *entry)
{
	vfs_config_free(entry);
}

static void *share_entry(struct vm_config *c, unsigned int k)
{
	c->shares[k] = (struct vfs_config){ .cache = VFS_CACHE_AUTO };
	return &c->shares[k];
}

static unsigned int *share_count(struct vm_config *c)
{
	return &c->nshares;
}

static int net_set(void *entry, const char *key, const char *value, char *err, size_t errlen)
{
	return vnet_config_set(entry, key, value, err, errlen);
}

static int net_parse(void *entry, const char *spec, char *err, size_t errlen)
{
	return vnet_parse(entry, spec, err, errlen);
}

/* A net entry names its backend: "tap" or "passt". */
static const char *net_missing(const void *entry)
{
	const struct vnet_config *n = entry;

	return n->backend == VNET_TAP && !n->tap ? "tap\" or \"passt" : NULL;
}

static void net_free(void *entry)
{
	vnet_config_free(entry);
}

static void *net_entry(struct vm_config *c, unsigned int k)
{
	c->nets[k] = (struct vnet_config){ .backend = VNET_TAP };
	return &c->nets[k];
}

static unsigned int *net_count(struct vm_config *c)
{
	return &c->nnets;
}

static const struct dev_list disk_list = {
	.flag = "disk", .array = "disks", .max = CONFIG_MAX_DISKS,
	.set = disk_set, .bool_key = "ro", .if_true = "on", .if_false = "off", .parse = disk_parse, .missing = disk_missing,
	.free = disk_free, .entry = disk_entry, .count = disk_count, .clear = config_clear_disks,
};

static const struct dev_list share_list = {
	.flag = "fs", .array = "shares", .max = CONFIG_MAX_SHARES,
	.set = share_set, .bool_key = "ro", .if_true = "on", .if_false = "off", .parse = share_parse, .missing = share_missing,
	.free = share_free, .entry = share_entry, .count = share_count, .clear = config_clear_shares,
};

static const struct dev_list net_list = {
	.flag = "net", .array = "nets", .max = CONFIG_MAX_NETS,
	/* "passt": true starts passt, as a bare --net passt does; or the socket of a running one. */
	.set = net_set, .bool_key = "passt", .if_true = "", .bool_or_string = true,
	.parse = net_parse, .missing = net_missing, .free = net_free, .entry = net_entry, .count = net_count, .clear = config_clear_nets,
};

/* The next free entry of list l in c (with its defaults), or NULL with -ENOSPC's reason in err. */
static void *list_slot(struct vm_config *c, const struct dev_list *l, unsigned int **n, char *err,
		       size_t errlen)
{
	*n = l->count(c);
	if (**n == l->max) {
		snprintf(err, errlen, "%s: at most %u %s", l->flag, l->max, l->array);
		return NULL;
	}
	return l->entry(c, **n);
}

static int list_add_spec(struct vm_config *c, const struct dev_list *l, const char *spec,
			 char *err, size_t errlen)
{
	unsigned int *n;
	void *entry = list_slot(c, l, &n, err, errlen);
	char why[200];
	int ret;

	if (!entry)
		return -ENOSPC;
	ret = l->parse(entry, spec, why, sizeof(why));
	if (ret) {
		if (ret == -EINVAL)
			snprintf(err, errlen, "%s %s", l->flag, why);
		return ret;
	}
	(*n)++;
	return 0;
}

int config_add_disk(struct vm_config *c, const char *spec, char *err, size_t errlen)
{
	return list_add_spec(c, &disk_list, spec, err, errlen);
}

int config_add_share(struct vm_config *c, const char *spec, char *err, size_t errlen)
{
	return list_add_spec(c, &share_list, spec, err, errlen);
}

int config_add_net(struct vm_config *c, const char *spec, char *err, size_t errlen)
{
	return list_add_spec(c, &net_list, spec, err, errlen);
}

int config_set_vsock(struct vm_config *c, const char *spec, char *err, size_t errlen)
{
	struct vsock_config v;
	char why[200];
	int ret;

	ret = vsock_parse(&v, spec, why, sizeof(why));
	if (ret) {
		if (ret == -EINVAL)
			snprintf(err, errlen, "vsock %s", why);
		return ret;
	}
	vsock_config_free(&c->vsock);
	c->vsock = v;
	c->has_vsock = true;
	return 0;
}

/* One element of a device array: an object of strings and the list's booleans. */
static int json_entry(struct vm_config *c, const struct dev_list *l, unsigned int i,
		      struct json_object *obj, char *err, size_t errlen)
{
	const char *missing;
	unsigned int *n;
	void *entry;
	char why[200];
	int ret;

	if (!json_object_is_type(obj, json_type_object)) {
		snprintf(err, errlen, "%s[%u]: expected an object", l->array, i);
		return -EINVAL;
	}
	entry = list_slot(c, l, &n, err, errlen);
	if (!entry)
		return -ENOSPC;
	json_object_object_foreach(obj, key, val) {
		bool bool_key = !strcmp(key, l->bool_key);
		const char *v = NULL;

		if (json_object_is_type(val, json_type_string) && (!bool_key || l->bool_or_string))
			v = json_object_get_string(val);
		else if (json_object_is_type(val, json_type_boolean) && bool_key)
			v = json_object_get_boolean(val) ? l->if_true : l->if_false;
		if (!v) {
			snprintf(err, errlen, "%s[%u].%s: expected %s", l->array, i, key,
				 !bool_key		? "a string"
				 : l->bool_or_string	? "true or a string"
							: "true or false");
			ret = -EINVAL;
			goto fail;
		}
		ret = l->set(entry, key, v, why, sizeof(why));
		if (ret) {
			if (ret == -EINVAL)
				snprintf(err, errlen, "%s[%u]: %s", l->array, i, why);
			goto fail;
		}
	}
	missing = l->missing(entry);
	if (missing) {
		snprintf(err, errlen, "%s[%u]: no \"%s\"", l->array, i, missing);
		ret = -EINVAL;
		goto fail;
	}
	(*n)++;
	return 0;
fail:
	l->free(entry);
	return ret;
}

static int json_list(struct vm_config *c, const struct dev_list *l, struct json_object *val,
		     char *err, size_t errlen)
{
	size_t i, n;
	int ret;

	if (!json_object_is_type(val, json_type_array)) {
		snprintf(err, errlen, "%s: expected an array of objects", l->array);
		return -EINVAL;
	}
	l->clear(c);
	n = json_object_array_length(val);
	for (i = 0; i < n; i++) {
		ret = json_entry(c, l, (unsigned int)i, json_object_array_get_idx(val, i), err,
				 errlen);
		if (ret)
			return ret;
	}
	return 0;
}

/* "vsock": {"cid": N, "uds": "PATH"}, replacing an earlier vsock. */
static int json_vsock(struct vm_config *c, struct json_object *obj, char *err, size_t errlen)
{
	struct vsock_config v = { 0 };
	bool has_cid = false;
	char why[200];
	int ret;

	if (!json_object_is_type(obj, json_type_object)) {
		snprintf(err, errlen, "vsock: expected an object");
		return -EINVAL;
	}
	json_object_object_foreach(obj, key, val) {
		bool is_cid = !strcmp(key, "cid");

		if (is_cid ? !json_object_is_type(val, json_type_int)
			   : !json_object_is_type(val, json_type_string)) {
			snprintf(err, errlen, "vsock.%s: expected %s", key,
				 is_cid ? "an integer" : "a string");
			ret = -EINVAL;
			goto fail;
		}
		ret = vsock_config_set(&v, key,
				       is_cid ? json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN)
					      : json_object_get_string(val),
				       why, sizeof(why));
		if (ret) {
			if (ret == -EINVAL)
				snprintf(err, errlen, "vsock: %s", why);
			goto fail;
		}
		has_cid |= is_cid;
	}
	if (!has_cid || !v.uds) {
		snprintf(err, errlen, "vsock: no \"%s\"", has_cid ? "uds" : "cid");
		ret = -EINVAL;
		goto fail;
	}
	vsock_config_free(&c->vsock);
	c->vsock = v;
	c->has_vsock = true;
	return 0;
fail:
	vsock_config_free(&v);
	return ret;
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
		return json_list(c, &disk_list, val, err, errlen);
	if (!strcmp(key, "shares"))
		return json_list(c, &share_list, val, err, errlen);
	if (!strcmp(key, "nets"))
		return json_list(c, &net_list, val, err, errlen);
	if (!strcmp(key, "vsock"))
		return json_vsock(c, val, err, errlen);
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

int config_load_json(struct vm_config *c, const char *text, size_t len, char *err, size_t errlen)
{
	struct json_object *root;
	int ret;

	ret = json_parse_strict(text, len, CONFIG_FILE_MAX, &root, err, errlen);
	if (ret)
		return ret;
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

/* The guest mounts a share by its tag: two shares with one tag would make one unreachable. */
static int validate_shares(const struct vm_config *c, char *err, size_t errlen)
{
	unsigned int i, j;

	for (i = 0; i < c->nshares; i++) {
		for (j = 0; j < i; j++) {
			if (!strcmp(c->shares[i].tag, c->shares[j].tag)) {
				snprintf(err, errlen, "share %s: tag used twice", c->shares[i].tag);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* One tap cannot serve two devices, and two NICs with one MAC confuse every switch. */
static int validate_nets(const struct vm_config *c, char *err, size_t errlen)
{
	const struct vnet_config *a, *b;
	unsigned int i, j;

	for (i = 0; i < c->nnets; i++) {
		a = &c->nets[i];
		for (j = 0; j < i; j++) {
			b = &c->nets[j];
			if (a->backend == VNET_TAP && b->backend == VNET_TAP && !strcmp(a->tap, b->tap)) {
				snprintf(err, errlen, "net %s: tap used twice", a->tap);
				return -EINVAL;
			}
			if (a->mac_set && b->mac_set && !memcmp(a->mac, b->mac, sizeof(a->mac))) {
				snprintf(err, errlen,
					 "net %u: mac %02x:%02x:%02x:%02x:%02x:%02x used twice", i,
					 a->mac[0], a->mac[1], a->mac[2], a->mac[3], a->mac[4],
					 a->mac[5]);
				return -EINVAL;
			}
		}
	}
	return 0;
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
	return validate_shares(c, err, errlen) ?: validate_nets(c, err, errlen);
}
