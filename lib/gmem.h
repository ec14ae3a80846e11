/* gmem: the one translator from guest-physical addresses to host memory. */
#ifndef HULL_LIB_GMEM_H
#define HULL_LIB_GMEM_H

#include <stddef.h>
#include <stdint.h>

#define GMEM_MAX_REGIONS 8
#define GMEM_PAGE 4096ULL /* the unit gmem_release() works in */

/* What backs a region: it decides how the region's pages go back to the host (gmem_release). */
enum gmem_backing {
	GMEM_PRIVATE, /* MAP_PRIVATE | MAP_ANONYMOUS: madvise(MADV_DONTNEED) */
	GMEM_SHARED,  /* MAP_SHARED memory or a file (memfd, hugetlbfs): madvise(MADV_REMOVE) */
};

struct gmem_region {
	uint64_t gpa;  /* first guest-physical address */
	uint64_t size; /* bytes; never 0 */
	uint8_t *host; /* host mapping of gpa; owned by whoever added it */
	enum gmem_backing backing;
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
/* The same for a region of the given backing (gmem_add: GMEM_PRIVATE). */
int gmem_add_backed(struct gmem *m, uint64_t gpa, uint64_t size, void *host,
		    enum gmem_backing backing);

/*
 * Host pointer to [gpa, gpa+len) if that range lies wholly inside one RAM
 * region; NULL on len 0, on wrap, or when any byte is outside RAM.
 */
void *gmem_ptr(const struct gmem *m, uint64_t gpa, uint64_t len);

/* Copy to/from guest memory; -EFAULT unless the whole range is RAM. */
int gmem_read(const struct gmem *m, uint64_t gpa, void *dst, size_t len);
int gmem_write(const struct gmem *m, uint64_t gpa, const void *src, size_t len);

/*
 * Give the host memory behind [gpa, gpa+len) back, as the region's backing
 * says: the guest reads zeros there next, and the host's memory is free until
 * it does. The range may span adjacent regions; gpa and len are multiples of
 * GMEM_PAGE (so are the regions' host mappings: -EINVAL otherwise, as for len
 * 0 or a wrap). All or nothing: -EFAULT, nothing released, when any byte is
 * outside RAM; else 0 or madvise's -errno.
 */
int gmem_release(const struct gmem *m, uint64_t gpa, uint64_t len);

/*
 * The same for host memory [p, p+len) that gmem_ptr() gave (a buffer the
 * virtqueue parser translated): it lies in one region, whose backing decides.
 * -EINVAL unless p and len are GMEM_PAGE multiples, -EFAULT when it is not RAM.
 */
int gmem_release_host(const struct gmem *m, void *p, size_t len);

/* Total bytes of RAM, and the end (exclusive) of the highest region. */
uint64_t gmem_total(const struct gmem *m);
uint64_t gmem_end(const struct gmem *m);

#endif
