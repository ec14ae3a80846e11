/* fs config: the --fs option and the JSON "shares" entries, and the kind that describes them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/fs/internal.h"
#include "lib/parse.h"

void vfs_config_free(struct vfs_config *c)
{
	unsigned int i;

	free(c->path);
	for (i = 0; c->entries && i < c->nentries; i++) {
		free(c->entries[i].name);
		free(c->entries[i].path);
	}
	free(c->entries);
	*c = (struct vfs_config){ .cache = VFS_CACHE_AUTO };
}

int vfs_config_set(struct vfs_config *c, const char *key, const char *value, char *err,
		   size_t errlen)
{
	/* Indexed by enum vfs_cache. */
	static const char *const caches[] = { "auto", "always", "never" };
	int v, ret;

	/* The guest matches the tag byte for byte (mount -t virtiofs TAG): printable and plain. */
	if (!strcmp(key, "tag"))
		return parse_set_word(key, value, VFS_TAG_MAX, false, c->tag, err, errlen);
	if (!strcmp(key, "path"))
		return parse_set_path(key, value, &c->path, err, errlen);
	if (!strcmp(key, "ro"))
		return parse_set_bool(key, value, &c->ro, err, errlen);
	if (!strcmp(key, "cache")) {
		ret = parse_set_choice(key, value, caches, 3, &v, err, errlen);
		if (!ret)
			c->cache = (enum vfs_cache)v;
		return ret;
	}
	snprintf(err, errlen, "unknown share setting '%s' (tag, path, ro, cache)", key);
	return -EINVAL;
}

static int set_item(void *obj, const char *key, const char *value, char *err, size_t errlen)
{
	return vfs_config_set(obj, key, value, err, errlen);
}

int vfs_parse(struct vfs_config *c, const char *spec, char *err, size_t errlen)
{
	static const char *const keys[] = { "tag", "path", "ro", "cache" };
	char why[200];
	int ret;

	*c = (struct vfs_config){ .cache = VFS_CACHE_AUTO };
	ret = parse_spec(spec, keys, 4, "tag=TAG,path=DIR,...", set_item, c, why, sizeof(why));
	if (!ret && !c->tag[0]) {
		snprintf(why, sizeof(why), "'%s': no tag= given", spec);
		ret = -EINVAL;
	} else if (!ret && !c->path) {
		snprintf(why, sizeof(why), "no path= given");
		ret = -EINVAL;
	}
	/* Name the share when the spec got as far as its tag. */
	if (ret == -EINVAL && c->tag[0])
		snprintf(err, errlen, "share %s: %s", c->tag, why);
	else if (ret == -EINVAL)
		snprintf(err, errlen, "%s", why);
	if (ret)
		vfs_config_free(c);
	return ret;
}

static void kind_init(void *cfg)
{
	*(struct vfs_config *)cfg = (struct vfs_config){ .cache = VFS_CACHE_AUTO };
}

static int kind_parse(void *cfg, const char *spec, char *err, size_t errlen)
{
	return vfs_parse(cfg, spec, err, errlen);
}

static int kind_finish(void *cfg, char *err, size_t errlen)
{
	const struct vfs_config *c = cfg;

	if (!c->tag[0])
		snprintf(err, errlen, "no tag= given");
	else if (!c->path && !c->nentries)
		snprintf(err, errlen, "share %s: no path= given", c->tag);
	else
		return 0;
	return -EINVAL;
}

static void kind_free(void *cfg)
{
	vfs_config_free(cfg);
}

/* The guest mounts a share by its tag: two shares with one tag would make one unreachable. */
static int kind_conflict(const void *a, const void *b, char *err, size_t errlen)
{
	const struct vfs_config *x = a, *y = b;

	if (strcmp(x->tag, y->tag))
		return 0;
	snprintf(err, errlen, "share %s: tag used twice", x->tag);
	return -EINVAL;
}

static void kind_describe(const void *cfg, unsigned int index, char *buf, size_t len)
{
	(void)index;
	snprintf(buf, len, "share %s", ((const struct vfs_config *)cfg)->tag);
}

static int kind_check(const void *cfg, unsigned int index, void **res)
{
	(void)index;
	return vfs_open(cfg, res);
}

static const struct virtio_field fields[] = {
	{ "tag", VIRTIO_FIELD_STRING },
	{ "path", VIRTIO_FIELD_STRING },
	{ "ro", VIRTIO_FIELD_BOOL },
	{ "cache", VIRTIO_FIELD_STRING },
};

const struct virtio_kind vfs_kind = {
	.name = "fs",
	.json = "shares",
	.form = VIRTIO_KIND_LIST,
	.host_mem = (8ull << 20), /* 4 worker stacks and buffers, tables, open files */
	.arg = "tag=TAG,path=DIR[,ro=on][,cache=auto|always|never]",
	.help = "share host directory DIR with the guest (virtio-fs):\n"
		"mount -t virtiofs TAG /mnt; TAG: 1-36 printable\n"
		"characters, no spaces or commas, unique; ro=on:\n"
		"read-only; cache=auto (default) caches names and\n"
		"attributes for 1 s, always for long (only this guest\n"
		"changes DIR), never not at all (direct file I/O);\n"
		"',,' in a value is a literal comma. The guest cannot\n"
		"reach files outside DIR\n",
	.fields = fields,
	.nfields = ARRAY_SIZE(fields),
	.config_size = sizeof(struct vfs_config),
	.init = kind_init,
	.parse = kind_parse,
	.set = set_item,
	.finish = kind_finish,
	.free = kind_free,
	.conflict = kind_conflict,
	.describe = kind_describe,
	.check = kind_check,
	.release = vfs_release,
	.create = vfs_build,
};
