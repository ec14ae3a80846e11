/* gmem: the one translator from guest-physical addresses to host memory. */
#ifndef HULL_LIB_GMEM_H
#define HULL_LIB_GMEM_H

#include <stddef.h>
#include <stdint.h>

#define GMEM_MAX_REGIONS 8

struct gmem_region {
	uint64_t gpa;  /* first guest-physical address */
	uint64_t size; /* bytes; never 0 */
	uint8_t *host; /* host mapping of gpa; owned by whoever added it */
};

/*
 * Guest RAM as a small sorted list of disjoint regions. Nothing else in hull
 * does arithmetic on guest addresses: callers ask for a host pointer to a
 * whole range, and get NULL unless all of it is RAM.
 */
struct gmem {
	struct gmem_region r[GMEM_MAX_REGIONS];
	unsigned int n;
};

/*
 * Add [gpa, gpa+size) backed by host. Fails with -EINVAL on size 0, wrap
 * past 2^64 or overlap with an existing region, -ENOSPC when full. The
 * caller keeps ownership of host and must keep it mapped while m is used.
 */
int gmem_add(struct gmem *m, uint64_t gpa, uint64_t size, void *host);

/*
 * Host pointer to [gpa, gpa+len) if that range lies wholly inside one RAM
 * region; NULL on len 0, on wrap, or when any byte is outside RAM.
 */
void *gmem_ptr(const struct gmem *m, uint64_t gpa, uint64_t len);

/* Copy to/from guest memory; -EFAULT unless the whole range is RAM. */
int gmem_read(const struct gmem *m, uint64_t gpa, void *dst, size_t len);
int gmem_write(const struct gmem *m, uint64_t gpa, const void *src, size_t len);

/* Total bytes of RAM, and the end (exclusive) of the highest region. */
uint64_t gmem_total(const struct gmem *m);
uint64_t gmem_end(const struct gmem *m);

#endif
