/* virtio-rng: guest entropy from getrandom(), bounded by a token bucket per device. */
#include "virtio/rng/rng.h"

#include <errno.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "lib/log.h"

#define VRNG_QUEUE_MAX 64
#define VRNG_IOV 16        /* buffers per request; longer chains make the ring broken */
#define VRNG_RESUME_DIV 64 /* sleep until 1/64 s worth of bytes is back, not for each byte */
#define NSEC 1000000000ULL

struct vrng {
	struct virtio_dev dev;
	struct loop *loop;
	struct loop_timer timer; /* armed while the bucket is empty and requests wait */
	/* Token bucket: up to rate bytes (one second's worth), refilled at rate bytes/s. */
	uint64_t rate;
	uint64_t tokens;
	uint64_t last_ns;
	uint64_t (*now)(void);
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

static void refill(struct vrng *r)
{
	uint64_t now = r->now(), elapsed, add;

	if (now <= r->last_ns)
		return;
	elapsed = now - r->last_ns;
	/* elapsed < 1 s here and rate <= 2^32, so the product cannot overflow. */
	add = elapsed >= NSEC ? r->rate : elapsed * r->rate / NSEC;
	if (r->tokens + add >= r->rate) {
		r->tokens = r->rate;
		r->last_ns = now;
		return;
	}
	r->tokens += add;
	/* Advance only by the time those bytes took, so fractions of a byte are not lost. */
	r->last_ns += add * NSEC / r->rate;
}

static void arm_timer(struct vrng *r)
{
	uint64_t want = r->rate / VRNG_RESUME_DIV ? r->rate / VRNG_RESUME_DIV : 1;

	/* Armed once: re-arming on every kick would let a busy guest push the wake-up away. */
	if (loop_timer_armed(r->loop, &r->timer))
		return;
	loop_timer_arm(r->loop, &r->timer, (want * NSEC + r->rate - 1) / r->rate, 0);
}

/* Fill the writable part of one request; returns the bytes written (the used length). */
static uint32_t fill(struct vrng *r, const struct virtq_chain *c)
{
	size_t want = c->in_len, done = 0;
	unsigned int i;

	if (c->nout || !c->nin)
		return 0;
	if (want > r->tokens)
		want = r->tokens;
	if (want > VRNG_REQ_MAX)
		want = VRNG_REQ_MAX;
	for (i = c->nout; i < c->nout + c->nin && done < want; i++) {
		size_t n = c->iov[i].iov_len < want - done ? c->iov[i].iov_len : want - done;
		ssize_t got = getrandom(c->iov[i].iov_base, n, GRND_NONBLOCK);

		if (got <= 0) {
			log_debug("%s: getrandom: %s", r->dev.name,
				  got ? strerror(errno) : "no bytes");
			break;
		}
		done += (size_t)got;
		if ((size_t)got < n)
			break;
	}
	r->tokens -= done;
	return (uint32_t)done;
}

/*
 * Serve requests while the bucket has tokens; lock held, queue live. Bounded
 * per call: VIRTIO_NOTIFY_BUDGET requests of at most VRNG_REQ_MAX bytes each
 * (and never more than the bucket holds), then a requeue.
 */
static void serve(struct vrng *r)
{
	struct virtio_dev *d = &r->dev;
	struct virtq *vq = &d->vq[0];
	struct iovec iov[VRNG_IOV];
	struct virtq_chain c;
	unsigned int budget = VIRTIO_NOTIFY_BUDGET;
	bool pushed = false;
	int ret;

	refill(r);
	while (r->tokens) {
		if (!budget--) {
			/* A guest refilling as fast as we serve must not starve the loop. */
			if (virtq_pending(vq))
				virtio_dev_requeue(d, 0);
			break;
		}
		c = (struct virtq_chain){ .iov = iov, .cap = VRNG_IOV };
		ret = virtq_pop(vq, &c);
		if (!ret)
			break;
		if (ret < 0) {
			virtio_dev_fail(d, "queue 0: %s", d->vq[0].why);
			break;
		}
		if (virtq_push(vq, c.head, fill(r, &c)) < 0)
			log_msg("%s: head %u could not be returned", d->name, c.head);
		pushed = true;
	}
	if (!r->tokens)
		arm_timer(r);
	if (pushed)
		virtio_dev_queue_done(d, 0);
}

static void vrng_notify(struct virtio_dev *d, unsigned int q)
{
	(void)q;
	serve(container_of(d, struct vrng, dev));
}

static void vrng_reset(struct virtio_dev *d)
{
	struct vrng *r = container_of(d, struct vrng, dev);

	/* The bucket is kept: resetting must not buy a guest more entropy per second. */
	loop_timer_cancel(r->loop, &r->timer);
}

/* Event loop thread: tokens are back, serve what waited. */
static void on_timer(struct loop *l, struct loop_timer *t)
{
	struct vrng *r = t->opaque;
	struct virtio_dev *d = &r->dev;

	(void)l;
	pthread_mutex_lock(&d->lock);
	if (virtio_dev_live(d) && d->vq[0].enabled && !d->vq[0].broken)
		serve(r);
	pthread_mutex_unlock(&d->lock);
}

static void vrng_free(struct virtio_dev *d);

static const struct virtio_dev_ops vrng_ops = {
	.type = "rng",
	.device_id = VIRTIO_ID_RNG,
	.notify = vrng_notify,
	.reset = vrng_reset,
	.destroy = vrng_free,
};

int vrng_create(const struct virtio_host *host, const struct vrng_params *p, struct vrng **out)
{
	uint64_t rate = p && p->rate ? p->rate : VRNG_RATE_BYTES;
	struct vrng *r;
	int ret;

	/* refill()'s product elapsed * rate stays below 2^64 only up to 2^32 bytes/s. */
	if (rate > VRNG_RATE_MAX)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	ret = virtio_dev_init(&r->dev, &vrng_ops, "virtio-rng", 1, VRNG_QUEUE_MAX, 0, 0);
	if (ret)
		goto err_free;
	r->dev.host = host;
	r->rate = rate;
	r->tokens = r->rate;
	r->now = p && p->now_ns ? p->now_ns : mono_ns;
	r->last_ns = r->now();
	r->loop = host->loop;
	loop_timer_init(&r->timer, on_timer, r);
	*out = r;
	return 0;

err_free:
	free(r);
	return ret;
}

/* After the transport was detached (virtio_dev_destroy). */
static void vrng_free(struct virtio_dev *d)
{
	struct vrng *r = container_of(d, struct vrng, dev);

	/* The reset of the detach cancelled the timer; cancelling again is harmless. */
	loop_timer_cancel(r->loop, &r->timer);
	pthread_mutex_destroy(&r->dev.lock);
	free(r);
}

void vrng_destroy(struct vrng *r)
{
	if (r)
		virtio_dev_destroy(&r->dev);
}

struct virtio_dev *vrng_dev(struct vrng *r)
{
	return &r->dev;
}

/* The kind: nothing to open before /dev/kvm, no settings: on or off. */
static int vrng_build(const void *cfg, void *res, unsigned int index,
		      const struct virtio_host *host, struct virtio_dev **out)
{
	struct vrng *r;
	int ret;

	(void)cfg;
	(void)res;
	(void)index;
	ret = vrng_create(host, NULL, &r);
	if (ret) {
		log_msg("rng: %s", strerror(-ret));
		return ret;
	}
	*out = &r->dev;
	return 0;
}

static void vrng_describe(const void *cfg, unsigned int index, char *buf, size_t len)
{
	(void)cfg;
	(void)index;
	snprintf(buf, len, "rng");
}

const struct virtio_kind vrng_kind = {
	.name = "rng",
	.json = "rng",
	.form = VIRTIO_KIND_SWITCH,
	.host_mem = (64ull << 10),
	.max = 1,
	.default_on = true,
	.arg = "on|off",
	.help = "virtio-rng entropy device fed by getrandom(), at most\n"
		"1 MiB/s (default on)\n",
	.describe = vrng_describe,
	.create = vrng_build,
};
