/* fs config: the --fs option and the JSON "shares" entries, parsed into struct vfs_config. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/fs/fs.h"
#include "lib/parse.h"

void vfs_config_free(struct vfs_config *c)
{
	free(c->path);
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
