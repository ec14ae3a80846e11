/* virtio-balloon: the device — config space, inflate, deflate and free page reporting. */
#include "virtio/balloon/internal.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_mmio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

#define FEATURES                                                                           \
	((1ULL << VIRTIO_BALLOON_F_STATS_VQ) | (1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM) | \
	 (1ULL << VIRTIO_BALLOON_F_REPORTING))

static struct vballoon *of_dev(struct virtio_dev *d)
{
	return container_of(d, struct vballoon, dev);
}

enum vballoon_role vballoon_role(const struct vballoon *b, unsigned int q)
{
	unsigned int stats = !!(b->dev.features & (1ULL << VIRTIO_BALLOON_F_STATS_VQ));

	if (q <= VB_DEFLATE)
		return (enum vballoon_role)q;
	if (stats && q == VB_STATS)
		return VB_STATS;
	if ((b->dev.features & (1ULL << VIRTIO_BALLOON_F_REPORTING)) && q == VB_STATS + stats)
		return VB_REPORT;
	return VB_NONE;
}

/*
 * Release n pages from pfn on. A run that is not all RAM (a page in the MMIO hole or past the
 * end) goes page by page, so the guest's good pages still go back and only the others are
 * refused.
 */
static void release_run(struct vballoon *b, uint64_t pfn, uint64_t n)
{
	const struct gmem *mem = b->dev.host->mem;
	uint64_t i;
	int ret;

	ret = gmem_release(mem, pfn << VBALLOON_PFN_SHIFT, n << VBALLOON_PFN_SHIFT);
	if (!ret) {
		b->released_pages += n;
		return;
	}
	if (ret != -EFAULT || n == 1) {
		log_debug("%s: pages 0x%llx+%llu not released: %s", b->dev.name,
			  (unsigned long long)pfn, (unsigned long long)n, strerror(-ret));
		b->refused += n;
		return;
	}
	for (i = 0; i < n; i++)
		release_run(b, pfn + i, 1);
}

/* An inflate chain: a list of le32 PFNs, consecutive ones released as one range. */
static void inflate(struct vballoon *b, const struct virtq_chain *c)
{
	uint32_t pfns[VBALLOON_PFNS_MAX];
	size_t n = c->out_len / sizeof(pfns[0]), i, j;

	if (c->out_len > sizeof(pfns) || c->out_len % sizeof(pfns[0])) {
		log_debug("%s: inflate chain of %zu bytes refused", b->dev.name, c->out_len);
		b->refused++;
		return;
	}
	virtq_read_out(c, 0, pfns, c->out_len);
	for (i = 0; i < n; i = j) {
		uint64_t first = le32toh(pfns[i]);

		for (j = i + 1; j < n && le32toh(pfns[j]) == first + (j - i); j++)
			;
		release_run(b, first, j - i);
	}
}

/* A reporting chain: each writable buffer is free guest memory, released as it is. */
static void report(struct vballoon *b, const struct virtq_chain *c)
{
	unsigned int i;
	int ret;

	if (c->nin > VBALLOON_REPORT_MAX) {
		log_debug("%s: report of %u ranges refused", b->dev.name, c->nin);
		b->refused++;
		return;
	}
	for (i = c->nout; i < c->nout + c->nin; i++) {
		ret = gmem_release_host(b->dev.host->mem, c->iov[i].iov_base, c->iov[i].iov_len);
		if (ret) {
			log_debug("%s: reported range of %zu bytes not released: %s", b->dev.name,
				  c->iov[i].iov_len, strerror(-ret));
			b->refused++;
			continue;
		}
		b->reported_bytes += c->iov[i].iov_len;
	}
}

/*
 * Serve queue q: at most VBALLOON_CHAINS_PER_CALL chains, then a requeue when the guest has
 * more. Every chain but a statistics buffer goes back at once, used length 0. Lock held.
 */
static void serve(struct vballoon *b, unsigned int q, enum vballoon_role role)
{
	struct virtio_dev *d = &b->dev;
	struct virtq *vq = &d->vq[q];
	/* A chain has at most q->size <= VBALLOON_QUEUE_MAX buffers: any legal chain fits. */
	struct iovec iov[VBALLOON_QUEUE_MAX];
	unsigned int budget = VBALLOON_CHAINS_PER_CALL;
	struct virtq_chain c;
	bool pushed = false;
	int ret;

	for (;;) {
		if (!budget--) {
			if (virtq_pending(vq))
				virtio_dev_requeue(d, q);
			break;
		}
		c = (struct virtq_chain){ .iov = iov, .cap = VBALLOON_QUEUE_MAX };
		ret = virtq_pop(vq, &c);
		if (!ret)
			break;
		if (ret < 0) {
			virtio_dev_fail(d, "queue %u: %s", q, vq->why);
			break;
		}
		switch (role) {
		case VB_INFLATE:
			inflate(b, &c);
			break;
		case VB_DEFLATE:
			/* Nothing to do on the host: a released page refills when touched. */
			break;
		case VB_REPORT:
			report(b, &c);
			break;
		case VB_STATS:
			pushed |= vballoon_stats_take(b, &c);
			continue;
		case VB_NONE:
		default:
			break;
		}
		if (virtq_push(vq, c.head, 0) < 0)
			log_msg("%s: head %u could not be returned", d->name, c.head);
		pushed = true;
	}
	if (pushed)
		virtio_dev_queue_done(d, q);
}

static void vballoon_notify(struct virtio_dev *d, unsigned int q)
{
	struct vballoon *b = of_dev(d);
	enum vballoon_role role = vballoon_role(b, q);

	if (role == VB_NONE) {
		log_debug("%s: queue %u is not one the features have: ignored", d->name, q);
		return;
	}
	serve(b, q, role);
}

static void vballoon_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len)
{
	struct vballoon *b = of_dev(d);
	struct virtio_balloon_config cfg = { .num_pages = htole32(b->num_pages),
					     .actual = htole32(b->actual) };

	memcpy(data, (const uint8_t *)&cfg + off, len);
}

/* Only actual is the driver's to write (a write may cover part of it); the rest is ignored. */
static void vballoon_config_write(struct virtio_dev *d, uint32_t off, const uint8_t *data,
				  uint32_t len)
{
	struct vballoon *b = of_dev(d);
	uint32_t actual = htole32(b->actual);
	uint8_t *raw = (uint8_t *)&actual;
	const uint32_t at = offsetof(struct virtio_balloon_config, actual);
	uint32_t i;

	for (i = 0; i < len; i++) {
		if (off + i >= at && off + i < at + sizeof(actual))
			raw[off + i - at] = data[i];
		else
			log_debug("%s: config write at %u ignored", d->name, off + i);
	}
	b->actual = le32toh(actual);
}

static void vballoon_reset(struct virtio_dev *d)
{
	struct vballoon *b = of_dev(d);

	/* The target is the host's and stays; the driver starts with an empty balloon. */
	b->actual = 0;
	b->stats_held = false;
}

static void vballoon_free(struct virtio_dev *d);

static const struct virtio_dev_ops vballoon_ops = {
	.type = "balloon",
	.device_id = VIRTIO_ID_BALLOON,
	.config_read = vballoon_config_read,
	.config_write = vballoon_config_write,
	.notify = vballoon_notify,
	.reset = vballoon_reset,
	.destroy = vballoon_free,
};

int vballoon_create(const struct virtio_host *host, const struct vballoon_params *p,
		    struct vballoon **out)
{
	struct vballoon *b = calloc(1, sizeof(*b));
	int ret;

	if (!b)
		return -ENOMEM;
	ret = virtio_dev_init(&b->dev, &vballoon_ops, "virtio-balloon", VBALLOON_QUEUES,
			      VBALLOON_QUEUE_MAX,
			      FEATURES & ~(p && p->no_deflate_on_oom ?
						   1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM : 0),
			      sizeof(struct virtio_balloon_config));
	if (ret) {
		free(b);
		return ret;
	}
	b->dev.host = host;
	b->loop = host->loop;
	b->now = p && p->now_ns ? p->now_ns : loop_now_ns;
	loop_timer_init(&b->stats_timer, vballoon_stats_tick, b);
	*out = b;
	return 0;
}

/* After the transport was detached (virtio_dev_destroy), once the loop no longer runs. */
static void vballoon_free(struct virtio_dev *d)
{
	struct vballoon *b = of_dev(d);

	loop_timer_cancel(b->loop, &b->stats_timer);
	pthread_mutex_destroy(&b->dev.lock);
	free(b);
}

void vballoon_destroy(struct vballoon *b)
{
	if (b)
		virtio_dev_destroy(&b->dev);
}

struct virtio_dev *vballoon_dev(struct vballoon *b)
{
	return &b->dev;
}

struct vballoon *vballoon_of(struct virtio_dev *d)
{
	return d && d->ops == &vballoon_ops ? of_dev(d) : NULL;
}

int vballoon_set_target(struct vballoon *b, uint64_t bytes)
{
	struct virtio_dev *d = &b->dev;

	if (bytes & ((1ULL << VBALLOON_PFN_SHIFT) - 1) || bytes >> VBALLOON_PFN_SHIFT > UINT32_MAX)
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	b->num_pages = (uint32_t)(bytes >> VBALLOON_PFN_SHIFT);
	d->config_generation++;
	if (virtio_dev_live(d))
		virtio_dev_interrupt(d, VIRTIO_MMIO_INT_CONFIG);
	pthread_mutex_unlock(&d->lock);
	return 0;
}
