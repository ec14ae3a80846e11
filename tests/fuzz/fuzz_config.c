/* libFuzzer target: arbitrary bytes as a JSON config file, then validation; must never crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "virtio/fs/fs.h"
#include "virtio/net/net.h"
#include "virtio/vsock/vsock.h"
#include "vmm/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whatever validation passes is inside hull's limits: check the device list against them. */
static void check_devices(const struct vm_config *c)
{
	unsigned int i, j, k;

	if (c->ndevs > arch_virtio_slots())
		abort();
	for (k = 0; k < config_nkinds; k++)
		if (config_count(c, config_kinds[k]) > config_kind_max(config_kinds[k]))
			abort();
	for (i = 0; i < c->ndevs; i++) {
		const struct config_dev *d = &c->devs[i];

		/* Kind by kind, in the table's order. */
		for (j = 0; j < i; j++)
			for (k = 0; k < config_nkinds && config_kinds[k] != c->devs[j].kind; k++)
				if (config_kinds[k] == d->kind)
					abort();
		if (!d->cfg != (d->kind->form == VIRTIO_KIND_SWITCH))
			abort();
		/* Every share has a tag and a path, and a tag no other share has. */
		if (d->kind == &vfs_kind) {
			const struct vfs_config *s = d->cfg;

			if (!s->tag[0] || !s->path || !s->path[0])
				abort();
			for (j = 0; j < i; j++) {
				const struct vfs_config *t = c->devs[j].cfg;

				if (c->devs[j].kind == &vfs_kind && !strcmp(s->tag, t->tag))
					abort();
			}
		}
		/* Every net names its backend. */
		if (d->kind == &vnet_kind) {
			const struct vnet_config *n = d->cfg;

			if (n->backend == VNET_TAP && (!n->tap || !n->tap[0]))
				abort();
		}
		/* A vsock has a usable CID and a socket path. */
		if (d->kind == &vsock_kind) {
			const struct vsock_config *v = d->cfg;

			if (v->cid < 3 || v->cid == UINT32_MAX || !v->uds || !v->uds[0])
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_config c;
	char err[256];
	int ret;

	config_init(&c);
	err[0] = '\0';
	ret = config_load_json(&c, (const char *)data, size, err, sizeof(err));
	/* Every failure says why, in a terminated string. */
	if (ret && (ret > 0 || !err[0] || !memchr(err, '\0', sizeof(err))))
		abort();
	if (!ret && config_validate(&c, err, sizeof(err)) == 0) {
		if (c.cpus < 1 || c.cpus > CONFIG_MAX_CPUS || c.mem < CONFIG_MIN_MEM ||
		    c.mem > CONFIG_MAX_MEM || (c.mem & 0xfff))
			abort();
		if ((c.kernel && !c.kernel[0]) || (c.initrd && !c.initrd[0]) ||
		    (c.api_sock && !c.api_sock[0]))
			abort();
		check_devices(&c);
	}
	config_free(&c);
	return 0;
}
