/* virtio-balloon's kind: --balloon on|off, "balloon": true|false, off by default. */
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "virtio/balloon/balloon.h"

/* Nothing to open before /dev/kvm; settings (struct vballoon_config) only from a caller. */
static int vballoon_build(const void *cfg, void *res, unsigned int index,
			  const struct virtio_host *host, struct virtio_dev **out)
{
	const struct vballoon_config *c = cfg;
	struct vballoon_params p = { .no_deflate_on_oom = c && c->no_deflate_on_oom };
	struct vballoon *b;
	int ret;

	(void)res;
	(void)index;
	ret = vballoon_create(host, &p, &b);
	if (ret) {
		log_msg("balloon: %s", strerror(-ret));
		return ret;
	}
	*out = vballoon_dev(b);
	return 0;
}

/* Nothing in it to free (the entry itself is the config's). */
static void vballoon_config_free(void *cfg)
{
	(void)cfg;
}

static void vballoon_describe(const void *cfg, unsigned int index, char *buf, size_t len)
{
	(void)cfg;
	(void)index;
	snprintf(buf, len, "balloon");
}

const struct virtio_kind vballoon_kind = {
	.name = "balloon",
	.json = "balloon",
	.form = VIRTIO_KIND_SWITCH,
	.host_mem = (64ull << 10), /* its state, PFN lists and statistics: a few KiB */
	.max = 1,
	.default_on = false,
	.arg = "on|off",
	.help = "virtio-balloon: the guest gives memory back when\n"
		"asked ('hull ctl PATH balloon SIZE') and as it frees\n"
		"it (free page reporting); its memory statistics\n"
		"(default off)\n",
	.describe = vballoon_describe,
	.create = vballoon_build,
	.free = vballoon_config_free,
};
