/* fuzz_dev: what the virtio fuzz targets share: no-op IRQs, feature bits, RAM writes, the loop. */
#ifndef HULL_TESTS_FUZZ_FUZZ_DEV_H
#define HULL_TESTS_FUZZ_FUZZ_DEV_H

/*
 * Compiled once (tests/fuzz/fuzz_dev.c) into libtest.a with the unit tests' helpers, which the
 * fuzz targets and their memcheck replays link.
 */

#include <stddef.h>
#include <stdint.h>

/* struct virtio_env (the VM) and the driver steps (virtio_drv_*), shared with the unit tests. */
#include "tests/unit/virtio_env.h"

/* An interrupt line nobody watches. */
void fuzz_no_irq(void *opaque, unsigned int irq, int level);

/* VERSION_1, and the ring features a header byte asks for: bit 0 EVENT_IDX, bit 1 INDIRECT_DESC. */
uint64_t fuzz_ring_features(uint8_t b);

/*
 * The "RAM write" op at p: le16 offset (modulo size), one byte of length, that many bytes
 * copied into ram (fewer at the end of the input or of RAM). Where the next op starts, or
 * NULL when the input ends inside the op's 3-byte head.
 */
const uint8_t *fuzz_ram_write(uint8_t *ram, size_t size, const uint8_t *p, const uint8_t *end);

/*
 * Run l's ready handlers as hull's loop thread would, batch (at most 16) events at a time
 * for at most rounds rounds: a device that keeps finding work must not hang the fuzzer.
 */
void fuzz_run_loop(struct loop *l, int rounds, int batch);

#endif
