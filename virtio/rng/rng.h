/* virtio-rng: entropy from getrandom(), rate-bounded. */
#ifndef HULL_VIRTIO_RNG_RNG_H
#define HULL_VIRTIO_RNG_RNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/virtio.h"

/*
 * ---- virtio-rng ----------------------------------------------------------------------
 */

#define VRNG_RATE_BYTES 1048576 /* per second, per device; excess requests wait */
#define VRNG_REQ_MAX 65536      /* bytes one request gets, however long its buffers claim */

/* The kind (virtio/rng/rng.c): --rng on|off, "rng": true|false, on by default. */
extern const struct virtio_kind vrng_kind;

struct vrng;
/* The device, not attached (virtio_mmio_attach). 0 or -errno; *out on success. */
int vrng_create(const struct virtio_host *host, struct vrng **out);
/* Detach when attached, free. NULL is fine. */
void vrng_destroy(struct vrng *r);
/* r's generic device, to attach it. */
struct virtio_dev *vrng_dev(struct vrng *r);
#ifdef HULL_TESTING
/* Tests: rate (bytes/s and burst, 1..2^32, bucket refilled) and clock (ns; NULL: monotonic). */
int vrng_test_set(struct vrng *r, uint64_t rate, uint64_t (*now_ns)(void));
#endif

#endif
