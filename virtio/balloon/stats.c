/* virtio-balloon statistics: the guest's figures kept, and asked for again while they are read. */
#include "virtio/balloon/internal.h"

#include <endian.h>
#include <string.h>

#include "lib/log.h"

/* Firecracker's names, in tag order (virtio 1.2's ten, then Linux 6.12's). */
static const char *const names[VBALLOON_TAGS] = {
	"swap_in",	    "swap_out",	    "major_faults",
	"minor_faults",	    "free_memory",  "total_memory",
	"available_memory", "disk_caches",  "hugetlb_allocations",
	"hugetlb_failures", "oom_kills",    "alloc_stalls",
	"async_scans",	    "direct_scans", "async_reclaims",
	"direct_reclaims",
};

const char *vballoon_stat_name(unsigned int t)
{
	return t < VBALLOON_TAGS ? names[t] : NULL;
}

/* The statistics queue's index: right after deflate when negotiated. */
static int stats_queue(const struct vballoon *b)
{
	return vballoon_role(b, VB_STATS) == VB_STATS ? VB_STATS : -1;
}

/* Read one buffer's entries: tags hull knows are kept, the others ignored. */
static void keep(struct vballoon *b, const struct virtq_chain *c)
{
	uint8_t raw[VBALLOON_STATS_MAX * VBALLOON_STAT_SIZE];
	size_t n = c->out_len / VBALLOON_STAT_SIZE, i;
	uint32_t have = 0;
	uint16_t tag;
	uint64_t val;

	if (c->out_len > sizeof(raw) || c->out_len % VBALLOON_STAT_SIZE) {
		log_debug("%s: statistics of %zu bytes refused", b->dev.name, c->out_len);
		b->refused++;
		return;
	}
	virtq_read_out(c, 0, raw, c->out_len);
	for (i = 0; i < n; i++) {
		memcpy(&tag, raw + i * VBALLOON_STAT_SIZE, sizeof(tag));
		memcpy(&val, raw + i * VBALLOON_STAT_SIZE + sizeof(tag), sizeof(val));
		tag = le16toh(tag);
		if (tag >= VBALLOON_TAGS)
			continue;
		b->stats[tag] = le64toh(val);
		have |= 1u << tag;
	}
	b->stats_have = have;
	b->stats_ns = b->now();
}

bool vballoon_stats_take(struct vballoon *b, const struct virtq_chain *c)
{
	struct virtq *vq = &b->dev.vq[VB_STATS];
	bool pushed = false;

	/* Linux has one buffer out at a time; a second one sends the first back. */
	if (b->stats_held) {
		if (virtq_push(vq, b->stats_head, 0) < 0)
			log_msg("%s: head %u could not be returned", b->dev.name, b->stats_head);
		pushed = true;
	}
	keep(b, c);
	b->stats_held = true;
	b->stats_head = c->head;
	return pushed;
}

void vballoon_stats_refresh(struct vballoon *b)
{
	struct virtio_dev *d = &b->dev;
	int q = stats_queue(b);

	if (!b->stats_held || q < 0 || !virtio_dev_live(d) || !d->vq[q].enabled || d->vq[q].broken)
		return;
	b->stats_held = false;
	if (virtq_push(&d->vq[q], b->stats_head, 0) < 0) {
		log_msg("%s: head %u could not be returned", d->name, b->stats_head);
		return;
	}
	/* The guest answers with a fresh buffer whether it is interrupted or not. */
	virtio_dev_queue_done(d, (unsigned int)q);
}

void vballoon_stats_tick(struct loop *l, struct loop_timer *t)
{
	struct vballoon *b = t->opaque;

	pthread_mutex_lock(&b->dev.lock);
	if (b->now() - b->asked_ns > VBALLOON_STATS_KEEP_NS)
		loop_timer_cancel(l, t); /* nobody asked for a while: the guest rests */
	else
		vballoon_stats_refresh(b);
	pthread_mutex_unlock(&b->dev.lock);
}

void vballoon_query(struct vballoon *b, struct vballoon_info *out)
{
	struct virtio_dev *d = &b->dev;
	uint64_t now;

	pthread_mutex_lock(&d->lock);
	now = b->now();
	*out = (struct vballoon_info){
		.target = (uint64_t)b->num_pages << VBALLOON_PFN_SHIFT,
		.actual = (uint64_t)b->actual << VBALLOON_PFN_SHIFT,
		.released = b->released_pages << VBALLOON_PFN_SHIFT,
		.reported = b->reported_bytes,
		.have = b->stats_ns ? b->stats_have : 0,
		.stats_age_ns = b->stats_ns && now > b->stats_ns ? now - b->stats_ns : 0,
	};
	memcpy(out->stats, b->stats, sizeof(out->stats));
	b->asked_ns = now;
	vballoon_stats_refresh(b);
	if (!loop_timer_armed(b->loop, &b->stats_timer))
		loop_timer_arm(b->loop, &b->stats_timer, VBALLOON_STATS_PERIOD_NS,
			       VBALLOON_STATS_PERIOD_NS);
	pthread_mutex_unlock(&d->lock);
}
