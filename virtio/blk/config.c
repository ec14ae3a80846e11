/* blk_config: the --disk option and the JSON "disks" entries, parsed into struct vblk_config. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/blk/blk.h"
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
