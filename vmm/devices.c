/* devices: the VM's virtio device registry — slots, the MMIO transport, ids, teardown. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arch/arch.h"
#include "lib/log.h"
#include "virtio/mem/mem.h"
#include "vmm/vm.h"

int vm_add_device(struct vm *vm, const struct virtio_kind *kind, struct virtio_dev *dev,
		  const char **id)
{
	struct vm_dev *d = &vm->devs[vm->ndevs];
	unsigned int i, n = 0;
	uint64_t base;
	uint32_t gsi;
	int ret;

	if (vm->ndevs == VM_MAX_DEVS || arch_virtio_slot(vm->ndevs, &base, &gsi)) {
		log_msg("%s: no room for another virtio device (this machine has %u)", dev->name,
			vm->ndevs);
		ret = -ENOSPC;
		goto fail;
	}
	ret = virtio_mmio_attach(dev, &vm->vhost, base, gsi); /* names the device on failure */
	if (ret)
		goto fail;
	for (i = 0; i < vm->ndevs; i++)
		n += vm->devs[i].kind == kind;
	*d = (struct vm_dev){ .kind = kind, .dev = dev, .base = base, .gsi = gsi };
	snprintf(d->id, sizeof(d->id), "%s%u", kind->name, n);
	vm->ndevs++;
	if (id)
		*id = d->id;
	return 0;
fail:
	virtio_dev_destroy(dev);
	return ret;
}

struct vm_dev *vm_find_device(struct vm *vm, const char *id)
{
	unsigned int i;

	for (i = 0; i < vm->ndevs; i++)
		if (!strcmp(vm->devs[i].id, id))
			return &vm->devs[i];
	return NULL;
}

void vm_remove_devices(struct vm *vm)
{
	while (vm->ndevs > 0) {
		struct vm_dev *d = &vm->devs[--vm->ndevs];

		virtio_dev_destroy(d->dev);
		*d = (struct vm_dev){ 0 };
	}
}

int vm_create_devices(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	struct virtio_dev *dev;
	unsigned int i;
	void *res;
	int ret = 0;

	for (i = 0; i < cfg->ndevs; i++) {
		const struct config_dev *c = &cfg->devs[i];

		res = vm->prep->res[i];
		vm->prep->res[i] = NULL; /* create takes it, whatever it returns */
		ret = c->kind->create(c->cfg, res, config_index(cfg, i), &vm->vhost, &dev);
		/* create said why not */
		if (ret)
			return ret;
		ret = vm_add_device(vm, c->kind, dev, NULL);
		if (ret)
			return ret;
	}
	/* The device --max-memory brings, after the list's (config_ndevs counted its slot). */
	if (vm->vhost.hotplug) {
		ret = vmem_kind.create(NULL, NULL, 0, &vm->vhost, &dev);
		if (ret)
			return ret;
		ret = vm_add_device(vm, &vmem_kind, dev, NULL);
	}
	return ret;
}
