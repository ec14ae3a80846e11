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

#define VRNG_RATE_BYTES 1048576	   /* per second, per device; excess requests wait */
#define VRNG_RATE_MAX (1ULL << 32) /* the most vrng_params may ask for */
#define VRNG_REQ_MAX 65536	   /* bytes one request gets, however long its buffers claim */

/* The kind (virtio/rng/rng.c): --rng on|off, "rng": true|false, on by default. */
extern const struct virtio_kind vrng_kind;

/*
 * What a caller may vary at create (tests: a slow rate and a clock they move by hand). Zeroes,
 * or no params at all, are what hull runs with.
 */
struct vrng_params {
	uint64_t rate;		  /* bytes/s, also the burst (1 s worth); 0: VRNG_RATE_BYTES */
	uint64_t (*now_ns)(void); /* the bucket's clock in ns; NULL: CLOCK_MONOTONIC */
};

struct vrng;
/*
 * The device, not attached (virtio_mmio_attach); p may be NULL. 0 or -errno (-EINVAL: a rate
 * above VRNG_RATE_MAX); *out on success.
 */
int vrng_create(const struct virtio_host *host, const struct vrng_params *p, struct vrng **out);
/* Detach when attached, free. NULL is fine. */
void vrng_destroy(struct vrng *r);
/* r's generic device, to attach it. */
struct virtio_dev *vrng_dev(struct vrng *r);

#endif
