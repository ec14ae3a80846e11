/* initbin: hull-init (container/guest/), the guest's static PID 1, as embedded in hull. */
#ifndef HULL_CONTAINER_INITBIN_H
#define HULL_CONTAINER_INITBIN_H

#include <stdint.h>

/* The static ELF executable, hull_init_end - hull_init_start bytes (container/guest/blob.S). */
extern const uint8_t hull_init_start[];
extern const uint8_t hull_init_end[];

#endif
