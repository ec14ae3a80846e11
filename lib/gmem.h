/* gmem: the one translator from guest-physical addresses to host memory. */
#ifndef HULL_LIB_GMEM_H
#define HULL_LIB_GMEM_H

#include <stdbool.h>
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

struct gmem_hp;

/*
 * Guest RAM as a small sorted list of disjoint regions, and at most one
 * hotplug region (below) above them. Nothing else in hull does arithmetic
 * on guest addresses: callers ask for a host pointer to a whole range, and
 * get NULL unless all of it is RAM or plugged hotplug memory.
 */
struct gmem {
	struct gmem_region r[GMEM_MAX_REGIONS];
	unsigned int n;
	const struct gmem_hp *hp; /* NULL: none */
};

/*
 * Add [gpa, gpa+size) backed by host. Fails with -EINVAL on size 0, wrap
 * past 2^64 or overlap with an existing region (the hotplug region too),
 * -ENOSPC when full. The caller keeps ownership of host and must keep it
 * mapped while m is used.
 */
int gmem_add(struct gmem *m, uint64_t gpa, uint64_t size, void *host);
/* The same for a region of the given backing (gmem_add: GMEM_PRIVATE). */
int gmem_add_backed(struct gmem *m, uint64_t gpa, uint64_t size, void *host,
		    enum gmem_backing backing);

/*
 * Host pointer to [gpa, gpa+len) if that range lies wholly inside one RAM
 * region, or wholly inside plugged blocks of the hotplug region; NULL on
 * len 0, on wrap, or when any byte is elsewhere. Safe from any thread while
 * the hotplug region's blocks are plugged and unplugged.
 */
void *gmem_ptr(const struct gmem *m, uint64_t gpa, uint64_t len);

/* Copy to/from guest memory; -EFAULT unless gmem_ptr() would give the whole range. */
int gmem_read(const struct gmem *m, uint64_t gpa, void *dst, size_t len);
int gmem_write(const struct gmem *m, uint64_t gpa, const void *src, size_t len);

/*
 * Give the host memory behind [gpa, gpa+len) back, as the region's backing
 * says: the guest reads zeros there next, and the host's memory is free until
 * it does. The range may span adjacent regions; gpa and len are multiples of
 * GMEM_PAGE (so are the regions' host mappings: -EINVAL otherwise, as for len
 * 0 or a wrap). All or nothing: -EFAULT, nothing released, when any byte is
 * outside RAM; else 0 or madvise's -errno. A range in the hotplug region is
 * released when it is all plugged (-EFAULT otherwise).
 */
int gmem_release(const struct gmem *m, uint64_t gpa, uint64_t len);

/*
 * The same for host memory [p, p+len) that gmem_ptr() gave (a buffer the
 * virtqueue parser translated): it lies in one region, whose backing decides.
 * -EINVAL unless p and len are GMEM_PAGE multiples, -EFAULT when it is not RAM
 * (or plugged hotplug memory).
 */
int gmem_release_host(const struct gmem *m, void *p, size_t len);

/* Total bytes of RAM, and the end (exclusive) of the highest RAM region: no hotplug memory. */
uint64_t gmem_total(const struct gmem *m);
uint64_t gmem_end(const struct gmem *m);

/*
 * ---- Huge pages ------------------------------------------------------------------------
 *
 * Guest memory in the host's 2 MiB hugetlb pages comes from a pool the host's administrator
 * reserves (/proc/sys/vm/nr_hugepages); a mapping made without MAP_NORESERVE takes its pages'
 * reservation at mmap time, so a pool too small fails there, not with a SIGBUS at first touch.
 */
#define GMEM_HUGE_PAGE (2ULL << 20)
#define GMEM_HUGE_SYSFS "/sys/kernel/mm/hugepages/hugepages-2048kB"

/* The pool's counts, in pages, as its sysfs directory gives them. */
struct gmem_huge_pool {
	uint64_t free;       /* free_hugepages: not in use (reserved ones included) */
	uint64_t resv;       /* resv_hugepages: promised to mappings already made */
	uint64_t overcommit; /* nr_overcommit_hugepages: surplus pages the pool may grow by */
	uint64_t surplus;    /* surplus_hugepages: surplus pages it has now */
};

/* Read the pool's counts from dir (GMEM_HUGE_SYSFS; tests give their own): 0 or -errno. */
int gmem_huge_pool_read(const char *dir, struct gmem_huge_pool *p);
/* Pages a new mapping can still reserve: free less reserved, plus the overcommit room left. */
uint64_t gmem_huge_available(const struct gmem_huge_pool *p);
/* Huge pages that bytes take (rounded up). */
uint64_t gmem_huge_pages(uint64_t bytes);

/*
 * ---- The hotplug region (virtio-mem) ---------------------------------------------------
 *
 * Memory above RAM in blocks that are plugged (the guest's to use) or not.
 * It is mapped once and never moves, so KVM sees one memory slot for it for
 * the VM's whole life; plugging changes only what each block's pages may
 * do. Its shared memory (a memfd) is mapped twice:
 *  - guest: the view KVM's memory slot points at. Unplugged blocks are
 *    PROT_NONE there, so a guest that touches them anyway gets its vCPU
 *    stopped (KVM_RUN fails with EFAULT) instead of growing hull's memory;
 *  - host: hull's own view, read-write for the region's whole life. Devices
 *    reach guest memory through gmem_ptr(), which refuses unplugged blocks;
 *    a pointer a device took before the guest unplugged the block (a ring,
 *    a buffer in flight) stays harmless: it writes to memory nobody maps for
 *    the guest, at most what that device has in flight, instead of faulting.
 * Unplugging releases a block's memory to the host (MADV_REMOVE; a region in huge pages:
 * gmem_hp_map_huge below).
 */
#define GMEM_HP_MAX_BLOCKS 8192 /* 1 TiB of 128 MiB blocks */

struct gmem_hp {
	uint64_t gpa;          /* first guest-physical address */
	uint64_t size;         /* nblocks * block; 0: no region */
	uint64_t block;        /* bytes per block: a power of two, at least a page */
	unsigned int nblocks;
	unsigned int nplugged; /* blocks plugged now */
	uint8_t *guest;        /* the view for KVM's memory slot */
	uint8_t *host;         /* hull's view */
	bool huge;             /* gmem_hp_map_huge's: huge pages, allocated at plug */
	int fd;                /* huge: the hugetlb memfd (plug allocates, unplug punches) */
	/* Bit i: block i plugged. Written by plug/unplug, read atomically by gmem_ptr(). */
	uint64_t plugged[GMEM_HP_MAX_BLOCKS / 64];
};

/*
 * Map a region of nblocks (1..GMEM_HP_MAX_BLOCKS) blocks of block bytes at
 * gpa (aligned to block, the end below 2^64), every block unplugged; name
 * shows in /proc/PID/maps. 0 or -errno (-EINVAL for a bad shape). hp is
 * unmapped with gmem_hp_unmap(), which is safe on a zeroed or failed one.
 */
int gmem_hp_map(struct gmem_hp *hp, const char *name, uint64_t gpa, uint64_t block,
		unsigned int nblocks);
/*
 * The same in the host's 2 MiB huge pages (block a multiple of GMEM_HUGE_PAGE): a hugetlb
 * memfd mapped without a reservation, so the region costs nothing until plugged. Plugging
 * allocates the blocks' pages (fallocate: -ENOSPC, nothing plugged, when the host's pool has
 * too few free), so the guest never meets a missing page; unplugging punches them out of the
 * memfd, back to the pool. Unplugged blocks of hull's view are anonymous memory instead
 * (a device's stale pointer writes there, never into a hole, which could SIGBUS).
 */
int gmem_hp_map_huge(struct gmem_hp *hp, const char *name, uint64_t gpa, uint64_t block,
		     unsigned int nblocks);
void gmem_hp_unmap(struct gmem_hp *hp);

/*
 * Translate into hp from now on: -EINVAL when it overlaps RAM or m has one
 * already. hp must stay mapped while m is used.
 */
int gmem_add_hotplug(struct gmem *m, const struct gmem_hp *hp);

/*
 * The blocks [*first, *first + nblocks) that [gpa, gpa + nblocks blocks)
 * names: true when gpa is block-aligned, nblocks is not 0 and the whole
 * range lies inside the region (no overflow, whatever the values).
 */
bool gmem_hp_blocks(const struct gmem_hp *hp, uint64_t gpa, uint64_t nblocks,
		    unsigned int *first);

/* Is block i plugged? How many of [first, first + n) are (n within the region)? */
bool gmem_hp_is_plugged(const struct gmem_hp *hp, unsigned int i);
unsigned int gmem_hp_count(const struct gmem_hp *hp, unsigned int first, unsigned int n);

/*
 * Plug or unplug the blocks of [first, first + n) that are not so already
 * (the range inside the region). Plug makes them accessible to the guest,
 * then translatable; unplug makes them untranslatable, inaccessible to the
 * guest, and gives their memory back to the host. 0 or -errno: a plug that
 * failed changed nothing from the failing run of blocks on; an unplug goes
 * on past a failure (the blocks are unplugged, some memory perhaps kept).
 * One caller at a time (the virtio-mem device's lock).
 */
int gmem_hp_plug(struct gmem_hp *hp, unsigned int first, unsigned int n);
int gmem_hp_unplug(struct gmem_hp *hp, unsigned int first, unsigned int n);

#endif
