/* blk_config: the --disk option and the JSON "disks" entries, parsed into struct vblk_config. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtio.h"
#include "vmm/parse.h"

void vblk_config_free(struct vblk_config *c)
{
	free(c->path);
	*c = (struct vblk_config){ .cache = VBLK_CACHE_WRITEBACK };
}

static int set_serial(struct vblk_config *c, const char *value, char *err, size_t errlen)
{
	size_t i, n = strlen(value);

	if (n > VBLK_SERIAL_MAX) {
		snprintf(err, errlen, "serial '%s': longer than %d characters", value,
			 VBLK_SERIAL_MAX);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (value[i] < 0x21 || value[i] > 0x7e) {
			snprintf(err, errlen, "serial '%s': only printable ASCII without spaces", value);
			return -EINVAL;
		}
	}
	memcpy(c->serial, value, n + 1);
	return 0;
}

int vblk_config_set(struct vblk_config *c, const char *key, const char *value, char *err,
		    size_t errlen)
{
	int b;

	if (!strcmp(key, "path")) {
		char *copy;

		if (!value[0]) {
			snprintf(err, errlen, "path: empty");
			return -EINVAL;
		}
		copy = strdup(value);
		if (!copy)
			return -ENOMEM;
		free(c->path);
		c->path = copy;
		return 0;
	}
	if (!strcmp(key, "ro")) {
		if (parse_bool(value, &b)) {
			snprintf(err, errlen, "ro '%s': not on/off", value);
			return -EINVAL;
		}
		c->ro = b;
		return 0;
	}
	if (!strcmp(key, "cache")) {
		if (!strcmp(value, "writeback"))
			c->cache = VBLK_CACHE_WRITEBACK;
		else if (!strcmp(value, "unsafe"))
			c->cache = VBLK_CACHE_UNSAFE;
		else if (!strcmp(value, "none"))
			c->cache = VBLK_CACHE_NONE;
		else {
			snprintf(err, errlen, "cache '%s': not one of unsafe, writeback, none", value);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(key, "serial"))
		return set_serial(c, value, err, errlen);
	snprintf(err, errlen, "unknown disk setting '%s' (path, ro, cache, serial)", key);
	return -EINVAL;
}

/*
 * Cut the next "key=value" item off *s. A doubled comma stands for a literal comma (as in
 * QEMU), so paths with commas can be given. The item is unescaped into buf; *more says
 * whether a separating comma followed it (so "path=a," has an empty last item).
 */
static int next_item(const char **s, char *buf, size_t cap, bool *more)
{
	const char *p = *s;
	size_t n = 0;

	for (;;) {
		if (*p == ',' && p[1] == ',') {
			p++;
		} else if (*p == ',' || !*p) {
			break;
		}
		if (n + 1 >= cap)
			return -ENAMETOOLONG;
		buf[n++] = *p++;
	}
	buf[n] = '\0';
	*more = *p == ',';
	*s = *more ? p + 1 : p;
	return 0;
}

int vblk_parse(struct vblk_config *c, const char *spec, char *err, size_t errlen)
{
	size_t cap = strlen(spec) + 1;
	unsigned int seen = 0;
	char *item = malloc(cap);
	const char *s = spec;
	bool more = true;
	int ret = 0;

	*c = (struct vblk_config){ .cache = VBLK_CACHE_WRITEBACK };
	if (!item)
		return -ENOMEM;
	while (more) {
		static const char *const keys[] = { "path", "ro", "cache", "serial" };
		unsigned int k;
		char *eq;

		ret = next_item(&s, item, cap, &more);
		if (ret)
			break;
		eq = strchr(item, '=');
		if (!eq) {
			snprintf(err, errlen, "'%s': expected key=value (path=FILE,ro=on,...)", item);
			ret = -EINVAL;
			break;
		}
		*eq = '\0';
		for (k = 0; k < 4 && strcmp(item, keys[k]); k++)
			;
		if (k < 4 && (seen & (1u << k))) {
			snprintf(err, errlen, "%s: given twice", item);
			ret = -EINVAL;
			break;
		}
		seen |= k < 4 ? 1u << k : 0;
		ret = vblk_config_set(c, item, eq + 1, err, errlen);
		if (ret)
			break;
	}
	if (!ret && !c->path) {
		snprintf(err, errlen, "'%s': no path= given", spec);
		ret = -EINVAL;
	}
	free(item);
	if (ret)
		vblk_config_free(c);
	return ret;
}
