/* config: the VM's configuration as plain data, from flags and a JSON file, through tables. */
#include "vmm/config.h"

#include <errno.h>
#include <inttypes.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "lib/file.h"
#include "lib/cpuset.h"
#include "lib/json.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "virtio/balloon/balloon.h"
#include "virtio/blk/blk.h"
#include "virtio/fs/fs.h"
#include "virtio/mem/mem.h"
#include "virtio/net/net.h"
#include "virtio/rng/rng.h"
#include "virtio/vsock/vsock.h"

#define FIELD(f) offsetof(struct vm_config, f)

const struct config_setting config_settings[] = {
	{ "kernel", "kernel", "PATH",
	  "bzImage or ELF vmlinux (PVH entry used when present)\n"
	  "(default: $HULL_KERNEL, else build/guest/vmlinux beside\n"
	  "hull)\n",
	  CONFIG_PATH, FIELD(kernel) },
	{ "kernel-packed", "kernel_packed", NULL,
	  "boot a bzImage as it is, to be unpacked by its own\n"
	  "decompressor in the guest (default: hull unpacks one\n"
	  "that is not relocatable, or has nokaslr on its command\n"
	  "line, on the host once, keeps it in $HULL_CACHE/vmlinux\n"
	  "and boots what it holds)\n",
	  CONFIG_FLAG, FIELD(kernel_packed) },
	{ "initrd", "initrd", "PATH",
	  "initramfs image; 'none' for none (default: none, but\n"
	  "hull's built-in demo initramfs when the kernel is the\n"
	  "default one too)\n",
	  CONFIG_PATH, FIELD(initrd) },
	{ "cmdline", "cmdline", "STR",
	  "kernel command line, replacing the default (below)\n",
	  CONFIG_STRING, FIELD(cmdline) },
	{ "cpus", "cpus", "N",
	  "number of vCPUs, 1-255 and at most KVM's limit\n"
	  "(default 1)\n",
	  CONFIG_COUNT, FIELD(cpus) },
	{ "max-cpus", "max_cpus", "N",
	  "vCPUs made, cpus-255 (default: --cpus); the guest boots\n"
	  "with --cpus online (maxcpus=), an update onlines more\n",
	  CONFIG_COUNT, FIELD(max_cpus) },
	{ "memory", "memory", "SIZE[,hugepages=on]",
	  "guest RAM: bytes or K/M/G/T suffix, multiple of 4K,\n"
	  "32M-1T (default 512M; above 3G, RAM continues above\n"
	  "4 GiB); hugepages=on: in the host's 2 MiB hugetlb\n"
	  "pages (SIZE a multiple of 2M, reserved at start from\n"
	  "/proc/sys/vm/nr_hugepages; no --balloon)\n",
	  CONFIG_MEMORY, FIELD(mem) },
	{ "max-memory", "max_memory", "SIZE",
	  "memory the guest may grow to: above --memory, a\n"
	  "hotplug region of the difference (rounded up to 128M)\n"
	  "with a virtio-mem device; 'hull ctl PATH memory SIZE'\n"
	  "plugs and unplugs it (default 0: none)\n",
	  CONFIG_SIZE, FIELD(max_mem) },
	{ "boot-timer", "boot_timer", NULL,
	  "report the time until the guest writes 123 to the boot\n"
	  "timer at 0xfe000000 (Firecracker-compatible)\n",
	  CONFIG_FLAG, FIELD(boot_timer) },
	{ "stats", "stats", NULL,
	  "when the VM ends, report on stderr when each point of\n"
	  "its start was reached and its exits to hull by reason\n"
	  "and by port or MMIO address (the control socket's\n"
	  "state reply has them too)\n",
	  CONFIG_FLAG, FIELD(stats) },
	{ "api-sock", "api_sock", "PATH",
	  "serve the control socket at PATH (see 'hull ctl'); a\n"
	  "stale socket there is replaced, any other file is an\n"
	  "error\n",
	  CONFIG_PATH, FIELD(api_sock) },
	{ "cpu-affinity", "cpu_affinity", "LIST",
	  "host CPUs hull runs on, a list like 0-3,6: vCPU i\n"
	  "pinned to the (i mod n)-th of them, every other thread\n"
	  "of hull (and passt) confined to them all\n",
	  CONFIG_STRING, FIELD(cpu_affinity) },
	{ "cgroup", "cgroup", "PATH",
	  "run hull in host cgroup PATH (absolute, or relative to\n"
	  "hull's own; made if missing and then removed at exit),\n"
	  "limited to the guest's RAM plus hull's own overhead\n"
	  "(memory.max) and to --cpu-affinity's CPUs (cpuset)\n",
	  CONFIG_PATH, FIELD(cgroup) },
};
const unsigned int config_nsettings = ARRAY_SIZE(config_settings);

const struct virtio_kind *const config_kinds[] = {
	&vblk_kind, &vfs_kind, &vnet_kind, &vsock_kind, &vrng_kind, &vballoon_kind,
};
const unsigned int config_nkinds = ARRAY_SIZE(config_kinds);

/* --- the device list ----------------------------------------------------------------- */

static unsigned int rank(const struct virtio_kind *k)
{
	unsigned int i;

	for (i = 0; i < config_nkinds && config_kinds[i] != k; i++)
		;
	return i;
}

unsigned int config_kind_max(const struct virtio_kind *k)
{
	if (k->form != VIRTIO_KIND_LIST)
		return 1;
	return k->max ? k->max : arch_virtio_slots();
}

uint64_t config_hotplug_size(const struct vm_config *c)
{
	if (c->max_mem <= c->mem)
		return 0;
	return (c->max_mem - c->mem + VMEM_BLOCK_SIZE - 1) / VMEM_BLOCK_SIZE * VMEM_BLOCK_SIZE;
}

unsigned int config_ndevs(const struct vm_config *c)
{
	return c->ndevs + (config_hotplug_size(c) ? 1 : 0);
}

unsigned int config_count(const struct vm_config *c, const struct virtio_kind *k)
{
	unsigned int i, n = 0;

	for (i = 0; i < c->ndevs; i++)
		n += c->devs[i].kind == k;
	return n;
}

unsigned int config_index(const struct vm_config *c, unsigned int i)
{
	unsigned int j, n = 0;

	for (j = 0; j < i; j++)
		n += c->devs[j].kind == c->devs[i].kind;
	return n;
}

const void *config_device(const struct vm_config *c, const struct virtio_kind *k, unsigned int i)
{
	unsigned int j;

	for (j = 0; j < c->ndevs; j++)
		if (c->devs[j].kind == k && !i--)
			return c->devs[j].cfg;
	return NULL;
}

static void dev_free(struct config_dev *d)
{
	if (d->cfg)
		d->kind->free(d->cfg);
	free(d->cfg);
	d->cfg = NULL;
}

static void remove_at(struct vm_config *c, unsigned int i)
{
	dev_free(&c->devs[i]);
	memmove(&c->devs[i], &c->devs[i + 1], (c->ndevs - i - 1) * sizeof(c->devs[0]));
	c->ndevs--;
}

void config_clear_kind(struct vm_config *c, const struct virtio_kind *k)
{
	unsigned int i = c->ndevs;

	while (i-- > 0)
		if (c->devs[i].kind == k)
			remove_at(c, i);
}


static void entry_drop(const struct virtio_kind *k, void *cfg)
{
	if (cfg)
		k->free(cfg);
	free(cfg);
}

/* Put cfg after the last device of k's kind or an earlier one; c has room. */
static void insert(struct vm_config *c, const struct virtio_kind *k, void *cfg)
{
	unsigned int at = c->ndevs, r = rank(k);

	while (at > 0 && rank(c->devs[at - 1].kind) > r)
		at--;
	memmove(&c->devs[at + 1], &c->devs[at], (c->ndevs - at) * sizeof(c->devs[0]));
	c->devs[at] = (struct config_dev){ .kind = k, .cfg = cfg };
	c->ndevs++;
}

/*
 * A fresh entry of kind k (LIST or SINGLE) with its defaults, not in c's list yet: 0, or
 * -ENOSPC past the kind's limit or the list's (a SINGLE entry replaces the one there) with
 * the reason in err, named by where ("'path=/a'", "disks[8]"), or -ENOMEM.
 */
static int entry_new(const struct vm_config *c, const struct virtio_kind *k, const char *where,
		     void **cfg, char *err, size_t errlen)
{
	if (k->form == VIRTIO_KIND_LIST && config_count(c, k) >= config_kind_max(k)) {
		snprintf(err, errlen, "%s: at most %u %s", where, config_kind_max(k), k->json);
		return -ENOSPC;
	}
	if (c->ndevs >= CONFIG_MAX_DEVS) {
		snprintf(err, errlen, "%s: at most %d devices in all", where, CONFIG_MAX_DEVS);
		return -ENOSPC;
	}
	*cfg = malloc(k->config_size);
	if (!*cfg)
		return -ENOMEM;
	k->init(*cfg);
	return 0;
}

/* Add (or for SINGLE, put in place of the one there) a complete entry; cfg is c's then. */
static void add(struct vm_config *c, const struct virtio_kind *k, void *cfg)
{
	if (k->form != VIRTIO_KIND_LIST)
		config_clear_kind(c, k);
	insert(c, k, cfg);
}

static int set_switch(struct vm_config *c, const struct virtio_kind *k, bool on)
{
	config_clear_kind(c, k);
	if (on)
		insert(c, k, NULL);
	return 0;
}

int config_add_device(struct vm_config *c, const struct virtio_kind *k, const char *value,
		      char *err, size_t errlen)
{
	char where[80];
	void *cfg;
	int on, ret;

	if (k->form == VIRTIO_KIND_SWITCH) {
		if (parse_bool(value, &on)) {
			snprintf(err, errlen, "'%s': not on/off", value);
			return -EINVAL;
		}
		return set_switch(c, k, on);
	}
	snprintf(where, sizeof(where), "'%s'", value);
	ret = entry_new(c, k, where, &cfg, err, errlen);
	if (ret)
		return ret;
	ret = k->parse(cfg, value, err, errlen);
	if (ret) {
		free(cfg); /* parse freed what it had set */
		return ret;
	}
	add(c, k, cfg);
	return 0;
}

int config_add(struct vm_config *c, const struct virtio_kind *k, void *cfg, char *err,
	       size_t errlen)
{
	char what[128];

	if ((k->form == VIRTIO_KIND_LIST && config_count(c, k) >= config_kind_max(k)) ||
	    c->ndevs >= CONFIG_MAX_DEVS) {
		k->describe(cfg, config_count(c, k), what, sizeof(what));
		snprintf(err, errlen, "%s: at most %u %s, %d devices in all", what,
			 config_kind_max(k), k->json, CONFIG_MAX_DEVS);
		entry_drop(k, cfg);
		return -ENOSPC;
	}
	add(c, k, cfg);
	return 0;
}

/* --- settings ------------------------------------------------------------------------- */

void config_init(struct vm_config *c)
{
	unsigned int i;

	*c = (struct vm_config){ .cpus = CONFIG_DEFAULT_CPUS, .mem = CONFIG_DEFAULT_MEM };
	for (i = 0; i < config_nkinds; i++)
		if (config_kinds[i]->form == VIRTIO_KIND_SWITCH && config_kinds[i]->default_on)
			insert(c, config_kinds[i], NULL);
}

void config_free(struct vm_config *c)
{
	unsigned int i;

	for (i = 0; i < c->ndevs; i++)
		dev_free(&c->devs[i]);
	free(c->kernel);
	free(c->initrd);
	free(c->cmdline);
	free(c->api_sock);
	free(c->cpu_affinity);
	free(c->cgroup);
	config_init(c);
}

static void *field(struct vm_config *c, const struct config_setting *s)
{
	return (char *)c + s->offset;
}

static int set_memory_item(void *obj, const char *key, const char *value, char *err,
			   size_t errlen)
{
	if (!strcmp(key, "hugepages"))
		return parse_set_bool(key, value, obj, err, errlen);
	snprintf(err, errlen, "unknown setting '%s' (hugepages)", key);
	return -EINVAL;
}

/* "SIZE[,hugepages=on|off]": both set, or neither; a SIZE alone means hugepages=off. */
static int apply_memory(struct vm_config *c, const char *value, char *err, size_t errlen)
{
	static const char *const keys[] = { "hugepages" };
	const char *comma = strchr(value, ',');
	char *size = strndup(value, comma ? (size_t)(comma - value) : strlen(value)), why[160];
	bool huge = false;
	uint64_t v;
	int ret;

	if (!size)
		return -ENOMEM;
	ret = parse_size(size, &v);
	free(size);
	if (ret) {
		snprintf(err, errlen, "'%s': %s", value,
			 ret == -ERANGE ? "too large" : "not a size (use e.g. 512M, 4G)");
		return -EINVAL;
	}
	if (comma) {
		ret = parse_spec(comma + 1, keys, 1, "SIZE,hugepages=on", set_memory_item, &huge,
				 why, sizeof(why));
		if (ret == -EINVAL)
			snprintf(err, errlen, "'%s': %s", value, why);
		if (ret)
			return ret;
	}
	c->mem = v;
	c->hugepages = huge;
	return 0;
}

int config_apply(struct vm_config *c, const struct config_setting *s, const char *value,
		 char *err, size_t errlen)
{
	char **str = field(c, s), *copy;
	uint64_t v;
	int b, ret;

	switch (s->type) {
	case CONFIG_PATH:
	case CONFIG_STRING:
		if (s->type == CONFIG_PATH && !value[0]) {
			snprintf(err, errlen, "'': empty path");
			return -EINVAL;
		}
		copy = strdup(value);
		if (!copy)
			return -ENOMEM;
		free(*str);
		*str = copy;
		return 0;
	case CONFIG_COUNT:
		if (parse_uint(value, 0, UINT32_MAX, &v)) {
			snprintf(err, errlen, "'%s': not a count", value);
			return -EINVAL;
		}
		*(unsigned int *)field(c, s) = (unsigned int)v;
		return 0;
	case CONFIG_SIZE:
		ret = parse_size(value, &v);
		if (ret) {
			snprintf(err, errlen, "'%s': %s", value,
				 ret == -ERANGE ? "too large" : "not a size (use e.g. 512M, 4G)");
			return -EINVAL;
		}
		*(uint64_t *)field(c, s) = v;
		return 0;
	case CONFIG_MEMORY:
		return apply_memory(c, value, err, errlen);
	case CONFIG_FLAG:
		if (parse_bool(value, &b)) {
			snprintf(err, errlen, "'%s': not on/off", value);
			return -EINVAL;
		}
		*(bool *)field(c, s) = b;
		return 0;
	}
	return -EINVAL;
}

int config_set(struct vm_config *c, const char *name, const char *value, char *err,
	       size_t errlen)
{
	char why[256] = "";
	unsigned int i;
	int ret;

	for (i = 0; i < config_nsettings; i++) {
		if (!strcmp(name, config_settings[i].flag)) {
			ret = config_apply(c, &config_settings[i], value, why, sizeof(why));
			goto out;
		}
	}
	for (i = 0; i < config_nkinds; i++) {
		if (!strcmp(name, config_kinds[i]->name)) {
			ret = config_add_device(c, config_kinds[i], value, why, sizeof(why));
			goto out;
		}
	}
	snprintf(err, errlen, "unknown setting '%s'", name);
	return -EINVAL;
out:
	if (ret)
		snprintf(err, errlen, "%s %s", name, why);
	return ret;
}

/* --- JSON ----------------------------------------------------------------------------- */

/*
 * One JSON member as the string set() or config_apply() takes, when its type is right:
 * strings as they are, booleans as "on"/"off" (or if_true), integers in decimal (json-c's own
 * rendering keeps values past INT64_MAX exact; the parsers range-check). NULL otherwise.
 */
static const char *json_value(struct json_object *val, bool string, bool boolean, bool integer,
			      const char *if_true)
{
	if (string && json_object_is_type(val, json_type_string))
		return json_object_get_string(val);
	if (boolean && json_object_is_type(val, json_type_boolean))
		return json_object_get_boolean(val) ? if_true : "off";
	if (integer && json_object_is_type(val, json_type_int))
		return json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN);
	return NULL;
}

static const char *const expected[] = {
	[VIRTIO_FIELD_STRING] = "a string",
	[VIRTIO_FIELD_BOOL] = "true or false",
	[VIRTIO_FIELD_INT] = "an integer",
	[VIRTIO_FIELD_TRUE_OR_STRING] = "true or a string",
};

/* One entry of a device kind: an object of its fields. where: "disks[2]", "vsock". */
static int json_entry(struct vm_config *c, const struct virtio_kind *k, const char *where,
		      struct json_object *obj, char *err, size_t errlen)
{
	const struct virtio_field *f;
	enum virtio_field_type t;
	char why[200], names[128];
	const char *v;
	unsigned int i;
	size_t n;
	void *cfg;
	int ret;

	if (!json_object_is_type(obj, json_type_object)) {
		snprintf(err, errlen, "%s: expected an object", where);
		return -EINVAL;
	}
	ret = entry_new(c, k, where, &cfg, err, errlen);
	if (ret)
		return ret;
	json_object_object_foreach(obj, key, val) {
		for (i = 0, f = NULL; i < k->nfields && !f; i++)
			if (!strcmp(key, k->fields[i].key))
				f = &k->fields[i];
		if (!f) {
			for (i = 0, n = 0; i < k->nfields && n < sizeof(names); i++)
				n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s",
						      i ? ", " : "", k->fields[i].key);
			snprintf(err, errlen, "%s: unknown setting '%s' (%s)", where, key, names);
			ret = -EINVAL;
			goto fail;
		}
		t = f->type;
		v = json_value(val, t == VIRTIO_FIELD_STRING || t == VIRTIO_FIELD_TRUE_OR_STRING,
			       t == VIRTIO_FIELD_BOOL || t == VIRTIO_FIELD_TRUE_OR_STRING,
			       t == VIRTIO_FIELD_INT, t == VIRTIO_FIELD_BOOL ? "on" : "");
		/* A bare false means nothing for a TRUE_OR_STRING field ("passt": false). */
		if (!v || (t == VIRTIO_FIELD_TRUE_OR_STRING && !strcmp(v, "off") &&
			   json_object_is_type(val, json_type_boolean))) {
			snprintf(err, errlen, "%s.%s: expected %s", where, key, expected[t]);
			ret = -EINVAL;
			goto fail;
		}
		ret = k->set(cfg, key, v, why, sizeof(why));
		if (ret)
			goto fail_why;
	}
	ret = k->finish(cfg, why, sizeof(why));
	if (ret)
		goto fail_why;
	add(c, k, cfg);
	return 0;
fail_why:
	if (ret == -EINVAL)
		snprintf(err, errlen, "%s: %s", where, why);
fail:
	entry_drop(k, cfg);
	return ret;
}

/* A device kind's member: an array of entries, one entry, or true/false. */
static int json_kind(struct vm_config *c, const struct virtio_kind *k, struct json_object *val,
		     char *err, size_t errlen)
{
	char where[48];
	size_t i, n;
	int ret;

	switch (k->form) {
	case VIRTIO_KIND_SWITCH:
		if (!json_object_is_type(val, json_type_boolean)) {
			snprintf(err, errlen, "%s: expected true or false", k->json);
			return -EINVAL;
		}
		return set_switch(c, k, json_object_get_boolean(val));
	case VIRTIO_KIND_SINGLE:
		return json_entry(c, k, k->json, val, err, errlen);
	case VIRTIO_KIND_LIST:
		if (!json_object_is_type(val, json_type_array)) {
			snprintf(err, errlen, "%s: expected an array of objects", k->json);
			return -EINVAL;
		}
		config_clear_kind(c, k);
		n = json_object_array_length(val);
		for (i = 0; i < n; i++) {
			snprintf(where, sizeof(where), "%s[%zu]", k->json, i);
			ret = json_entry(c, k, where, json_object_array_get_idx(val, i), err,
					 errlen);
			if (ret)
				return ret;
		}
		return 0;
	}
	return -EINVAL;
}

/* A VM-level setting's member, type-checked, through config_apply(). */
static int json_setting(struct vm_config *c, const struct config_setting *s,
			struct json_object *val, char *err, size_t errlen)
{
	static const char *const want[] = {
		[CONFIG_PATH] = "a string",
		[CONFIG_STRING] = "a string",
		[CONFIG_COUNT] = "an integer",
		[CONFIG_SIZE] = "a size string or an integer",
		[CONFIG_FLAG] = "true or false",
		[CONFIG_MEMORY] = "a size string or an integer",
	};
	enum config_type t = s->type;
	bool size = t == CONFIG_SIZE || t == CONFIG_MEMORY;
	char why[200];
	const char *v;
	int ret;

	v = json_value(val, t == CONFIG_PATH || t == CONFIG_STRING || size, t == CONFIG_FLAG,
		       t == CONFIG_COUNT || size, "on");
	if (!v) {
		snprintf(err, errlen, "%s: expected %s", s->json, want[t]);
		return -EINVAL;
	}
	if (json_object_is_type(val, json_type_int) && v[0] == '-') {
		snprintf(err, errlen, "%s: must not be negative", s->json);
		return -EINVAL;
	}
	ret = config_apply(c, s, v, why, sizeof(why));
	if (ret == -EINVAL)
		snprintf(err, errlen, "%s %s", s->json, why);
	return ret;
}

static int json_member(struct vm_config *c, const char *key, struct json_object *val, char *err,
		       size_t errlen)
{
	unsigned int i;

	for (i = 0; i < config_nsettings; i++)
		if (!strcmp(key, config_settings[i].json))
			return json_setting(c, &config_settings[i], val, err, errlen);
	for (i = 0; i < config_nkinds; i++)
		if (!strcmp(key, config_kinds[i]->json))
			return json_kind(c, config_kinds[i], val, err, errlen);
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

/* --- validation ------------------------------------------------------------------------ */

/* Pairs of one kind that cannot both be: the later one is named. */
static int validate_conflicts(const struct vm_config *c, char *err, size_t errlen)
{
	const struct config_dev *a, *b;
	unsigned int i, j;
	int ret;

	for (i = 0; i < c->ndevs; i++) {
		a = &c->devs[i];
		for (j = 0; a->kind->conflict && j < i; j++) {
			b = &c->devs[j];
			if (b->kind != a->kind)
				continue;
			ret = a->kind->conflict(a->cfg, b->cfg, err, errlen);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* Every device needs a virtio slot: name the first that finds none. */
static int validate_slots(const struct vm_config *c, char *err, size_t errlen)
{
	unsigned int slots = arch_virtio_slots();
	const struct config_dev *d;
	char what[128];

	if (config_ndevs(c) <= slots)
		return 0;
	if (c->ndevs <= slots) {
		/* Only virtio-mem, which comes after the list's devices, finds none. */
		vmem_kind.describe(NULL, 0, what, sizeof(what));
	} else {
		d = &c->devs[slots];
		d->kind->describe(d->cfg, config_index(c, slots), what, sizeof(what));
	}
	snprintf(err, errlen, "%s: no room for another virtio device (this machine has %u)", what,
		 slots);
	return -ENOSPC;
}

int config_validate(const struct vm_config *c, char *err, size_t errlen)
{
	cpu_set_t cpus;

	if (c->cpus == 0 || c->cpus > CONFIG_MAX_CPUS) {
		snprintf(err, errlen, "cpus %u: must be between 1 and %d", c->cpus, CONFIG_MAX_CPUS);
		return -EINVAL;
	}
	if (c->max_cpus && (c->max_cpus < c->cpus || c->max_cpus > CONFIG_MAX_CPUS)) {
		snprintf(err, errlen, "max-cpus %u: must be between cpus (%u) and %d", c->max_cpus,
			 c->cpus, CONFIG_MAX_CPUS);
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
	if (c->hugepages && c->mem % CONFIG_HUGE_PAGE) {
		snprintf(err, errlen, "memory %" PRIu64 " bytes: hugepages=on needs a multiple of "
			 "2M (the huge page size)", c->mem);
		return -EINVAL;
	}
	if (c->hugepages && config_count(c, &vballoon_kind)) {
		snprintf(err, errlen, "balloon: not with memory hugepages=on (the balloon gives "
			 "back 4 KiB pages; a huge page goes back to the host only whole)");
		return -EINVAL;
	}
	if (c->max_mem && c->max_mem <= c->mem) {
		snprintf(err, errlen, "max-memory %" PRIu64 " bytes: not above memory (%" PRIu64
			 " bytes)", c->max_mem, c->mem);
		return -EINVAL;
	}
	if (c->max_mem > CONFIG_MAX_MEM) {
		snprintf(err, errlen, "max-memory %" PRIu64 " bytes: too large (maximum %lluG)",
			 c->max_mem, CONFIG_MAX_MEM >> 30);
		return -EINVAL;
	}
	if (c->cpu_affinity && cpuset_parse(c->cpu_affinity, &cpus)) {
		snprintf(err, errlen, "cpu-affinity '%.64s': not a CPU list (like 0-3,6; CPUs below %d)",
			 c->cpu_affinity, CPUSET_MAX);
		return -EINVAL;
	}
	return validate_conflicts(c, err, errlen) ?: validate_slots(c, err, errlen);
}

uint64_t config_devices_mem(const struct vm_config *c)
{
	uint64_t sum = 0;
	unsigned int i;

	for (i = 0; i < c->ndevs; i++)
		sum += c->devs[i].kind->host_mem;
	return sum;
}
