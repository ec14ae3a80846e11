/* virtio-mem's kind: no flag or settings of its own; the VM adds one for its hotplug region. */
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "virtio/mem/mem.h"

static int vmem_build(const void *cfg, void *res, unsigned int index,
		      const struct virtio_host *host, struct virtio_dev **out)
{
	struct vmem *m;
	int ret;

	(void)cfg;
	(void)res;
	(void)index;
	ret = vmem_create(host, &m);
	if (ret) {
		log_msg("mem: %s", strerror(-ret));
		return ret;
	}
	*out = vmem_dev(m);
	return 0;
}

static void vmem_describe(const void *cfg, unsigned int index, char *buf, size_t len)
{
	(void)cfg;
	(void)index;
	snprintf(buf, len, "virtio-mem (max-memory)");
}

const struct virtio_kind vmem_kind = {
	.name = "mem",
	.form = VIRTIO_KIND_SINGLE,
	.max = 1,
	.help = "virtio-mem: the hotplug region --max-memory asks for\n",
	.describe = vmem_describe,
	.create = vmem_build,
};
