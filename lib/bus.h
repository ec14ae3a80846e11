/* bus: one address space (port I/O or MMIO) of device ranges, dispatched by address. */
#ifndef HULL_LIB_BUS_H
#define HULL_LIB_BUS_H

#include <stdbool.h>
#include <stdint.h>

#define BUS_MAX_RANGES 64

/*
 * Device callbacks. off is relative to the range's base; len is 1, 2, 4 or
 * 8. Reads fill data[0..len). Called from vCPU threads, possibly several at
 * once: a device with state shared between calls locks it itself.
 */
struct bus_ops {
	void (*read)(void *dev, uint64_t off, uint8_t *data, uint32_t len);
	void (*write)(void *dev, uint64_t off, const uint8_t *data, uint32_t len);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *dev;
	const char *name;
};

/*
 * Ranges are registered before any vCPU runs and never change after that,
 * so lookups take no lock.
 */
struct bus {
	const char *name; /* "pio" or "mmio", for messages */
	struct bus_range r[BUS_MAX_RANGES];
	unsigned int n;
};

void bus_init(struct bus *b, const char *name);
/* -EINVAL on len 0, wrap or overlap with a registered range; -ENOSPC when full. */
int bus_register(struct bus *b, uint64_t base, uint64_t len, const struct bus_ops *ops, void *dev,
		 const char *name);
/*
 * Dispatch an access of len bytes at addr. Returns true when a device took
 * it; for an unclaimed read, data is filled with all ones.
 */
bool bus_read(const struct bus *b, uint64_t addr, uint8_t *data, uint32_t len);
bool bus_write(const struct bus *b, uint64_t addr, const uint8_t *data, uint32_t len);

#endif
