/* virtio-mem internals: the device's state and its request handler, for its files and tests. */
#ifndef HULL_VIRTIO_MEM_INTERNAL_H
#define HULL_VIRTIO_MEM_INTERNAL_H

#include <linux/virtio_mem.h>
#include <stdbool.h>

#include "lib/gmem.h"
#include "virtio/mem/mem.h"

#define VMEM_QUEUE_MAX 128
/* Buffers of one request (Linux uses one for the request and one for the response). */
#define VMEM_IOV 8
/* What a request chain must hold: a whole request to read, room for a whole response. */
#define VMEM_REQ_LEN sizeof(struct virtio_mem_req)
#define VMEM_RESP_LEN sizeof(struct virtio_mem_resp)

struct vmem {
	struct virtio_dev dev;
	struct gmem_hp *hp;  /* the region; its bitmap is the device's plugged state */
	uint64_t requested;  /* requested_size; under dev.lock */
	bool failure_logged; /* a host call failed once: said so */
};

/*
 * One request, already read (fields in the guest's little-endian order): the response type
 * (VIRTIO_MEM_RESP_*) and, for STATE, *state. Every field is checked: a block-aligned
 * address inside the region, a block count that is not 0 and stays inside it; PLUG needs
 * every block unplugged and stays within requested_size (else NACK), UNPLUG needs every
 * block plugged. Lock held.
 */
uint16_t vmem_handle(struct vmem *m, const struct virtio_mem_req *req, uint16_t *state);

#endif
