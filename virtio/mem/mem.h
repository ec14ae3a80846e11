/* virtio-mem: guest memory plugged and unplugged in blocks of a hotplug region above RAM. */
#ifndef HULL_VIRTIO_MEM_MEM_H
#define HULL_VIRTIO_MEM_MEM_H

#include <stdint.h>

#include "virtio/virtio.h"

/*
 * ---- virtio-mem ------------------------------------------------------------------------
 *
 * The device offers the guest the blocks of the VM's hotplug region (virtio_host.hotplug,
 * lib/gmem.h) and asks it to have requested_size bytes of them plugged; the guest's driver
 * plugs and unplugs blocks to get there. Plugged blocks are guest RAM; unplugged ones are out
 * of the guest's reach and their memory is the host's again. The region, its address and its
 * size never change: plugging changes no KVM memory slot.
 */

/* Block size: x86 Linux's memory block, the unit it hot-adds and hot-removes. */
#define VMEM_BLOCK_SIZE (128ULL << 20)

/*
 * The kind (virtio/mem/config.c): no flag of its own, the VM adds one device when it has a
 * hotplug region (--max-memory). Its create takes its region from host->hotplug.
 */
extern const struct virtio_kind vmem_kind;

struct vmem;

/* The device on host->hotplug (which must be mapped), not attached. 0 or -errno; *out. */
int vmem_create(const struct virtio_host *host, struct vmem **out);
/* Detach when attached, free. NULL is fine. */
void vmem_destroy(struct vmem *m);
/* m's generic device, to attach it. */
struct virtio_dev *vmem_dev(struct vmem *m);

/* What the device says now. */
struct vmem_status {
	uint64_t region;    /* bytes of the hotplug region */
	uint64_t plugged;   /* bytes the guest has plugged */
	uint64_t requested; /* bytes the guest is asked to have plugged */
};

/*
 * Ask the guest to have size bytes of the region plugged (it grows or shrinks towards it; a
 * guest that cannot free blocks leaves more plugged: compare the status). 0, -EINVAL when size
 * is not a multiple of the block size, -ERANGE past the region, -ENODEV when d is no
 * virtio-mem device. A changed size raises a configuration interrupt. Any thread not holding
 * d's lock.
 */
int vmem_request(struct virtio_dev *d, uint64_t size);
/* d's status: 0, or -ENODEV when d is no virtio-mem device. Any thread not holding d's lock. */
int vmem_status(struct virtio_dev *d, struct vmem_status *s);

#endif
