/* virtio-balloon: memory the guest gives back on request and as it frees it, and its statistics. */
#ifndef HULL_VIRTIO_BALLOON_BALLOON_H
#define HULL_VIRTIO_BALLOON_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtio.h"

/*
 * ---- virtio-balloon (virtio 1.2, 5.5) ---------------------------------------------------
 *
 * Offered: VIRTIO_BALLOON_F_STATS_VQ, F_DEFLATE_ON_OOM (the guest deflates by itself under
 * memory pressure) and F_REPORTING (free page reporting: the guest hands back free memory as
 * it goes). Pages the guest puts in the balloon and ranges it reports are released on the host
 * (gmem_release: madvise as the memory region's backing says); deflating needs nothing (a
 * released page comes back zero-filled when the guest touches it). Every PFN and range is
 * checked against guest RAM; the bounds are in internal.h and the README.
 */

#define VBALLOON_TAGS 16 /* statistics tags hull keeps: virtio's ten and Linux 6.12's six */

/* The kind (virtio/balloon/config.c): --balloon on|off, "balloon": true|false, off by default. */
extern const struct virtio_kind vballoon_kind;

struct vballoon;

/*
 * What a caller may vary at create (tests: a clock they move by hand). Zeroes, or no params at
 * all, are what hull runs with.
 */
struct vballoon_params {
	uint64_t (*now_ns)(void); /* the statistics' clock in ns; NULL: loop_now_ns */
	bool no_deflate_on_oom;	  /* F_DEFLATE_ON_OOM not offered (a container VM's: below) */
};

/*
 * The kind's settings when a caller adds one itself (config_add; the CLI and JSON add none): a
 * container VM's balloon holds the part of its RAM above the memory limit, and the host's
 * memory.max falls by it, so a guest must not take it back by itself under memory pressure:
 * the OOM killer in the guest acts instead, as at a limit (container/run.c).
 */
struct vballoon_config {
	bool no_deflate_on_oom;
};

/* The device, not attached (virtio_mmio_attach); p may be NULL. 0 or -errno; *out on success. */
int vballoon_create(const struct virtio_host *host, const struct vballoon_params *p,
		    struct vballoon **out);
/* Detach when attached, free. NULL is fine. */
void vballoon_destroy(struct vballoon *b);
/* b's generic device, to attach it; and back (NULL when d is not a balloon). */
struct virtio_dev *vballoon_dev(struct vballoon *b);
struct vballoon *vballoon_of(struct virtio_dev *d);

/*
 * The host's target: bytes the guest should hold in its balloon (config num_pages), a
 * multiple of 4 KiB below 16 TiB (-EINVAL otherwise), with a configuration change interrupt
 * when the driver is up. The caller bounds it by the guest's memory. Event loop thread.
 */
int vballoon_set_target(struct vballoon *b, uint64_t bytes);

/* What the balloon says, and the guest's last statistics. */
struct vballoon_info {
	uint64_t target, actual;     /* bytes: the host's target, what the guest holds */
	uint64_t released, reported; /* bytes given back to the host: by inflating, by reports */
	uint32_t have;		     /* bit t: stats[t] came with the guest's last statistics */
	uint64_t stats[VBALLOON_TAGS];
	uint64_t stats_age_ns; /* since they came (when have is not 0) */
};

/*
 * Fill *out, and ask the guest for fresh statistics: its buffer goes back to it now and then
 * every VBALLOON_STATS_PERIOD_NS while someone asked in the last VBALLOON_STATS_KEEP_NS, so
 * that a caller polling the balloon sees figures at most a period old. Event loop thread.
 */
void vballoon_query(struct vballoon *b, struct vballoon_info *out);

/* "free_memory", "swap_in"...: the name of statistics tag t < VBALLOON_TAGS (Firecracker's). */
const char *vballoon_stat_name(unsigned int t);

#endif
