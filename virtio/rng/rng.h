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

struct vrng;
int vrng_create(const struct virtio_host *host, uint64_t base, uint32_t gsi, struct vrng **out);
void vrng_destroy(struct vrng *r);
#ifdef HULL_TESTING
/* Tests: rate (bytes/s and burst, 1..2^32, bucket refilled) and clock (ns; NULL: monotonic). */
int vrng_test_set(struct vrng *r, uint64_t rate, uint64_t (*now_ns)(void));
#endif

#endif
