/* blk config: the --disk option and the JSON "disks" entries, and the kind that describes them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/blk/internal.h"
#include "lib/parse.h"

void vblk_config_free(struct vblk_config *c)
{
	free(c->path);
	*c = (struct vblk_config){ .cache = VBLK_CACHE_WRITEBACK };
}

int vblk_config_set(struct vblk_config *c, const char *key, const char *value, char *err,
		    size_t errlen)
{
	/* Indexed by enum vblk_cache. */
	static const char *const caches[] = { "writeback", "unsafe", "none" };
	int v, ret;

	if (!strcmp(key, "path"))
		return parse_set_path(key, value, &c->path, err, errlen);
	if (!strcmp(key, "ro"))
		return parse_set_bool(key, value, &c->ro, err, errlen);
	if (!strcmp(key, "cache")) {
		ret = parse_set_choice(key, value, caches, 3, &v, err, errlen);
		if (!ret)
			c->cache = (enum vblk_cache)v;
		return ret;
	}
	if (!strcmp(key, "serial"))
		return parse_set_word(key, value, VBLK_SERIAL_MAX, true, c->serial, err, errlen);
	snprintf(err, errlen, "unknown disk setting '%s' (path, ro, cache, serial)", key);
	return -EINVAL;
}

static int set_item(void *obj, const char *key, const char *value, char *err, size_t errlen)
{
	return vblk_config_set(obj, key, value, err, errlen);
}

int vblk_parse(struct vblk_config *c, const char *spec, char *err, size_t errlen)
{
	static const char *const keys[] = { "path", "ro", "cache", "serial" };
	int ret;

	*c = (struct vblk_config){ .cache = VBLK_CACHE_WRITEBACK };
	ret = parse_spec(spec, keys, 4, "path=FILE,ro=on,...", set_item, c, err, errlen);
	if (!ret && !c->path) {
		snprintf(err, errlen, "'%s': no path= given", spec);
		ret = -EINVAL;
	}
	if (ret)
		vblk_config_free(c);
	return ret;
}

static void kind_init(void *cfg)
{
	*(struct vblk_config *)cfg = (struct vblk_config){ .cache = VBLK_CACHE_WRITEBACK };
}

static int kind_parse(void *cfg, const char *spec, char *err, size_t errlen)
{
	return vblk_parse(cfg, spec, err, errlen);
}

static int kind_finish(void *cfg, char *err, size_t errlen)
{
	if (((struct vblk_config *)cfg)->path)
		return 0;
	snprintf(err, errlen, "no path= given");
	return -EINVAL;
}

static void kind_free(void *cfg)
{
	vblk_config_free(cfg);
}

static void kind_describe(const void *cfg, unsigned int index, char *buf, size_t len)
{
	(void)index;
	snprintf(buf, len, "disk %s", ((const struct vblk_config *)cfg)->path);
}

static int kind_check(const void *cfg, unsigned int index, void **res)
{
	(void)index;
	return vblk_open(cfg, res);
}

static const struct virtio_field fields[] = {
	{ "path", VIRTIO_FIELD_STRING },
	{ "ro", VIRTIO_FIELD_BOOL },
	{ "cache", VIRTIO_FIELD_STRING },
	{ "serial", VIRTIO_FIELD_STRING },
};

const struct virtio_kind vblk_kind = {
	.name = "disk",
	.json = "disks",
	.form = VIRTIO_KIND_LIST,
	.host_mem = (2ull << 20), /* the request pool, io_uring's rings */
	.arg = "path=FILE[,ro=on][,cache=writeback|unsafe|none][,serial=ID]",
	.help = "a virtio-blk disk: raw image or block device; the\n"
		"guest sees them as /dev/vda, /dev/vdb, ...\n"
		"ro=on: read-only; cache=writeback (default) uses the\n"
		"host page cache and flushes on request, unsafe never\n"
		"flushes, none uses O_DIRECT; serial= up to 20\n"
		"characters; ',,' in a value is a literal comma.\n"
		"Writable images are locked: a second hull cannot use\n"
		"them at the same time\n",
	.fields = fields,
	.nfields = ARRAY_SIZE(fields),
	.config_size = sizeof(struct vblk_config),
	.init = kind_init,
	.parse = kind_parse,
	.set = set_item,
	.finish = kind_finish,
	.free = kind_free,
	.describe = kind_describe,
	.check = kind_check,
	.release = vblk_release,
	.create = vblk_build,
};
