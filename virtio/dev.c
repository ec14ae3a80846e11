/* virtio dev: the transport-independent part of a virtio device (state, failure, interrupts). */
#include "virtio/virtio.h"

#include <errno.h>
#include <linux/virtio_mmio.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>

#include "lib/log.h"

int virtio_dev_init(struct virtio_dev *d, const struct virtio_dev_ops *ops, const char *name,
		    unsigned int nqueues, uint16_t queue_max, uint64_t device_features,
		    uint32_t config_size)
{
	unsigned int i;
	int ret;

	if (!ops || !ops->notify || nqueues < 1 || nqueues > VIRTIO_MAX_QUEUES || !queue_max ||
	    queue_max > VIRTQ_MAX_SIZE || (queue_max & (queue_max - 1)) ||
	    config_size > VIRTIO_MMIO_SIZE - VIRTIO_MMIO_CONFIG)
		return -EINVAL;

	memset(d, 0, sizeof(*d));
	ret = pthread_mutex_init(&d->lock, NULL);
	if (ret)
		return -ret;
	d->ops = ops;
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->nqueues = nqueues;
	d->queue_max = queue_max;
	d->host_features = device_features | VIRTIO_TRANSPORT_FEATURES;
	d->config_size = config_size;
	atomic_init(&d->isr, 0);
	d->irq_fd = -1;
	d->own_epfd = -1;
	for (i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		d->kick_fd[i] = -1;
		d->kick_h[i].fd = -1;
		virtq_reset(&d->vq[i]);
	}
	return 0;
}

bool virtio_dev_live(const struct virtio_dev *d)
{
	return (d->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	       !(d->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

void virtio_dev_interrupt(struct virtio_dev *d, uint32_t why)
{
	const struct dev_host *lines = d->host ? d->host->lines : NULL;

	/* The bit is visible before the edge, so the guest's handler always finds a cause. */
	atomic_fetch_or(&d->isr, why);
	if (d->irqfd_ok) {
		if (eventfd_write(d->irq_fd, 1) < 0)
			log_debug("%s: irqfd write: %s", d->name, strerror(errno));
		return;
	}
	/* Without irqfd, pulse the line: KVM's irqfd is edge-like too, one model for both. */
	if (lines && lines->irq) {
		lines->irq(lines->opaque, d->gsi, 1);
		lines->irq(lines->opaque, d->gsi, 0);
	}
}

void virtio_dev_fail(struct virtio_dev *d, const char *fmt, ...)
{
	char reason[160];
	va_list ap;

	/* One failure, one message: a guest hammering a broken ring must not flood the log. */
	if (d->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_msg("%s: %s; the device needs a reset", d->name, reason);
	d->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	/* The spec ties NEEDS_RESET to a configuration change notification. */
	d->config_generation++;
	virtio_dev_interrupt(d, VIRTIO_MMIO_INT_CONFIG);
}

void virtio_dev_queue_done(struct virtio_dev *d, unsigned int q)
{
	if (q < d->nqueues && virtq_should_notify(&d->vq[q]))
		virtio_dev_interrupt(d, VIRTIO_MMIO_INT_VRING);
}

void virtio_dev_reset(struct virtio_dev *d)
{
	unsigned int i;

	if (d->ops->reset)
		d->ops->reset(d);
	for (i = 0; i < VIRTIO_MAX_QUEUES; i++)
		virtq_reset(&d->vq[i]);
	memset(d->qcfg, 0, sizeof(d->qcfg));
	d->driver_features = 0;
	d->features = 0;
	d->status = 0;
	atomic_store(&d->isr, 0);
	d->queue_sel = 0;
	d->dev_features_sel = 0;
	d->drv_features_sel = 0;
	/* config_generation keeps counting: a driver must never see an old value come back. */
}
