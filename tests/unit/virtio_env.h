/* virtio_env: the VM a virtio unit test plays (RAM, bus, loop, interrupt lines) and its driver. */
#ifndef HULL_TESTS_UNIT_VIRTIO_ENV_H
#define HULL_TESTS_UNIT_VIRTIO_ENV_H

/*
 * Compiled once (tests/unit/virtio_env.c) into each build's libtest.a, which the unit tests,
 * the fuzz targets and their memcheck replays link.
 */

#include <linux/virtio_mmio.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/virtio.h"

struct virtio_env {
	uint8_t *ram;
	struct gmem mem;
	struct bus mmio;
	struct loop loop;
	struct dev_host lines;
	struct virtio_host host; /* vm_fd -1: no KVM, the transport signals by itself */
};

/*
 * Zeroed RAM of size bytes at gpa, an empty bus, a loop, and interrupt lines
 * reported to irq(opaque, gsi, level). 0, or -1 when something cannot be set up.
 */
int virtio_env_init(struct virtio_env *v, uint64_t gpa, size_t size,
		    void (*irq)(void *, unsigned int, int), void *opaque);
void virtio_env_fini(struct virtio_env *v);

/*
 * Capture what hull logs (stderr) between these two calls, to check the messages users see.
 * _end returns what was logged (the first 2 KiB), valid until the next _end; one capture at a
 * time.
 */
void virtio_env_capture_start(void);
char *virtio_env_capture_end(void);

/* A thread body running the event loop (arg) as hull's loop thread does, until loop_stop. */
void *virtio_env_loop_thread(void *arg);

/* A loop handler that stops the loop: tests signal its eventfd to end virtio_env_loop_thread. */
void virtio_env_stop_loop(struct loop *l, struct loop_handler *h, uint32_t events);

/* Run the loop's ready handlers (kicks, completions, timers), waiting up to ms; the count. */
int virtio_env_dispatch(struct virtio_env *v, int ms);

/*
 * A driver's 32-bit register accessors. Some suites reach the device through the bus, as a
 * guest does, others call the transport directly; the driver steps below serve both.
 */
struct virtio_drv {
	uint32_t (*rd)(uint64_t off);
	void (*wr)(uint64_t off, uint32_t v);
};

/* A register of d through the MMIO transport's handlers, without the bus. */
uint32_t virtio_env_rd(struct virtio_dev *d, uint64_t off);
void virtio_env_wr(struct virtio_dev *d, uint64_t off, uint32_t v);

/* The 64 feature bits the device offers. */
uint64_t virtio_drv_offered(const struct virtio_drv *r);

/* Both windows of the driver's features, as written (no check against the offer). */
void virtio_drv_features(const struct virtio_drv *r, uint64_t f);

/*
 * After a reset: ACKNOWLEDGE, DRIVER, the offered features that are in want (~0: all of
 * them), FEATURES_OK. The status read back: FEATURES_OK is missing when the device refused.
 */
uint32_t virtio_drv_negotiate(const struct virtio_drv *r, uint64_t want);

/* Select queue q and set its size and ring addresses; READY is the caller's next step. */
void virtio_drv_queue(const struct virtio_drv *r, uint32_t q, uint32_t num, uint64_t desc,
		      uint64_t avail, uint64_t used);

/* DRIVER_OK on top of FEATURES_OK; the status read back. */
uint32_t virtio_drv_driver_ok(const struct virtio_drv *r);

#endif
