/* virtio-balloon internals: the device's state and bounds, shared by its files and its tests. */
#ifndef HULL_VIRTIO_BALLOON_INTERNAL_H
#define HULL_VIRTIO_BALLOON_INTERNAL_H

#include <linux/virtio_balloon.h>

#include "virtio/balloon/balloon.h"

/*
 * The queues exist in this order, stats and reporting only when negotiated (Linux numbers
 * the queues it uses without gaps): inflate 0, deflate 1, then stats, then reporting.
 */
enum vballoon_role {
	VB_INFLATE,
	VB_DEFLATE,
	VB_STATS,
	VB_REPORT,
	VB_NONE, /* a queue the negotiated features do not have */
};

#define VBALLOON_QUEUES 4
#define VBALLOON_QUEUE_MAX 256 /* QueueNumMax; Linux's reporting queue needs 32 */
#define VBALLOON_PFN_SHIFT 12  /* the balloon's page: 4 KiB, whatever the guest's */
/*
 * Bounds on what a chain may carry (longer ones are refused from their length alone, and
 * returned unread): PFNs of one inflate or deflate chain (Linux sends at most 256, its
 * VIRTIO_BALLOON_ARRAY_PFNS_MAX), ranges of one reporting chain (Linux: 32, its
 * PAGE_REPORTING_CAPACITY), entries of one statistics buffer (Linux 6.12 sends 16).
 */
#define VBALLOON_PFNS_MAX 256
#define VBALLOON_REPORT_MAX 32
#define VBALLOON_STATS_MAX 32
#define VBALLOON_STAT_SIZE 10 /* le16 tag, le64 value, packed */
/*
 * Chains taken per queue notification: with at most 256 PFNs or 32 ranges each, one call
 * makes at most 4096 madvise calls; the rest waits for the next pass of the event loop.
 */
#define VBALLOON_CHAINS_PER_CALL 16
/* Statistics: refreshed every period while someone asked within the last KEEP. */
#define VBALLOON_STATS_PERIOD_NS 1000000000ULL
#define VBALLOON_STATS_KEEP_NS 30000000000ULL

struct vballoon {
	struct virtio_dev dev;
	struct loop *loop;
	uint32_t num_pages; /* the host's target in 4 KiB pages (config num_pages) */
	uint32_t actual;    /* what the driver says the balloon holds (config actual) */
	/* Since the device was made: what went back to the host, what was refused. */
	uint64_t released_pages; /* by inflating */
	uint64_t reported_bytes; /* by free page reporting */
	uint64_t refused;	 /* PFNs, ranges and chains that were not guest RAM or too long */

	/* Statistics: the guest's buffer is held until fresh figures are wanted. */
	bool stats_held;
	uint16_t stats_head;
	uint32_t stats_have; /* bit t: stats[t] came with the last buffer */
	uint64_t stats[VBALLOON_TAGS];
	uint64_t stats_ns; /* when they came; 0: never */
	uint64_t asked_ns; /* the last vballoon_query */
	struct loop_timer stats_timer;
	uint64_t (*now)(void); /* ns: vballoon_params' now_ns or loop_now_ns */
};

/* Queue q's role under the negotiated features. */
enum vballoon_role vballoon_role(const struct vballoon *b, unsigned int q);

/*
 * stats.c. A statistics chain arrived: keep its figures (when it is not too long) and hold it
 * (a buffer held before goes back first). True when a buffer was returned. Lock held.
 */
bool vballoon_stats_take(struct vballoon *b, const struct virtq_chain *c);
/* Give the held buffer back so that the guest sends fresh figures. Lock held. */
void vballoon_stats_refresh(struct vballoon *b);
/* The refresh timer's callback (event loop thread). */
void vballoon_stats_tick(struct loop *l, struct loop_timer *t);

#endif
