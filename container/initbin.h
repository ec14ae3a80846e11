/* initbin: hull-init (container/guest/), the guest's static PID 1, as embedded in hull. */
#ifndef HULL_CONTAINER_INITBIN_H
#define HULL_CONTAINER_INITBIN_H

#include <stdint.h>

/* The static ELF executable, hull_init_end - hull_init_start bytes (container/guest/blob.S). */
extern const uint8_t hull_init_start[];
extern const uint8_t hull_init_end[];
/*
 * Its identity: the sha256 of that file in hex, computed when hull was built, so that nothing
 * hashes megabytes at each start (icache.c keys the cached initramfs with it).
 */
extern const char hull_init_id[];

#endif
