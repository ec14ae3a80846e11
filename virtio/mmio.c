/* virtio mmio: the virtio-mmio version 2 register file, its status machine and KVM plumbing. */
#include "virtio/virtio.h"

#include <errno.h>
#include <linux/kvm.h>
#include <linux/virtio_mmio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lib/log.h"

#define MMIO_MAGIC 0x74726976 /* "virt" */
#define MMIO_VERSION 2

/* Status bits the driver may set, in the order it must set them (spec 3.1.1). */
#define S_ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRIVER VIRTIO_CONFIG_S_DRIVER
#define S_FEATURES_OK VIRTIO_CONFIG_S_FEATURES_OK
#define S_DRIVER_OK VIRTIO_CONFIG_S_DRIVER_OK
#define S_FAILED VIRTIO_CONFIG_S_FAILED
#define S_NEEDS_RESET VIRTIO_CONFIG_S_NEEDS_RESET
#define S_DRIVER_BITS (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK | S_FAILED)

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t window(uint64_t v, uint32_t sel)
{
	return sel == 0 ? (uint32_t)v : sel == 1 ? (uint32_t)(v >> 32) : 0;
}

static void set_window(uint64_t *v, uint32_t sel, uint32_t val)
{
	if (sel == 0)
		*v = (*v & ~0xffffffffULL) | val;
	else if (sel == 1)
		*v = (*v & 0xffffffffULL) | (uint64_t)val << 32;
}

static void set_half(uint64_t *v, bool high, uint32_t val)
{
	set_window(v, high ? 1 : 0, val);
}

/* The selected queue, when the driver may still configure it; NULL otherwise. */
static struct virtio_queue_cfg *setup_queue(struct virtio_dev *d, bool ready_ok)
{
	uint32_t q = d->queue_sel;

	if ((d->status & (S_FEATURES_OK | S_DRIVER_OK | S_NEEDS_RESET)) != S_FEATURES_OK) {
		log_debug("%s: queue %u set up outside FEATURES_OK..DRIVER_OK", d->name, q);
		return NULL;
	}
	if (q >= d->nqueues || (d->vq[q].enabled && !ready_ok)) {
		log_debug("%s: queue %u absent or ready, write ignored", d->name, q);
		return NULL;
	}
	return &d->qcfg[q];
}

static void queue_ready(struct virtio_dev *d, uint32_t val)
{
	struct virtio_queue_cfg *c = setup_queue(d, true);
	unsigned int q = d->queue_sel;
	int ret;

	if (!c)
		return;
	if (!val) {
		virtq_reset(&d->vq[q]);
		return;
	}
	if (d->vq[q].enabled)
		return;
	ret = virtq_enable(&d->vq[q], d->host->mem, c->num, c->desc, c->avail, c->used,
			   d->features);
	if (ret)
		virtio_dev_fail(d, "queue %u: size %u, rings at %#llx/%#llx/%#llx: %s", q, c->num,
				(unsigned long long)c->desc, (unsigned long long)c->avail,
				(unsigned long long)c->used, "misaligned or not in RAM");
}

static bool features_acceptable(const struct virtio_dev *d)
{
	uint64_t need = (1ULL << VIRTIO_F_VERSION_1) | d->required_features;

	return !(d->driver_features & ~d->host_features) && (d->driver_features & need) == need;
}

/* Spec 2.1.2 and 3.1.1: bits are only ever added, in order; 0 resets. */
static void write_status(struct virtio_dev *d, uint32_t val)
{
	uint32_t cur = d->status & S_DRIVER_BITS, next, added;

	if (!val) {
		virtio_dev_reset(d);
		return;
	}
	/* NEEDS_RESET is the device's bit: drivers write back what they read, so ignore it. */
	next = val & ~S_NEEDS_RESET;
	if ((next & ~S_DRIVER_BITS) || (cur & ~next)) {
		log_debug("%s: status 0x%x after 0x%x clears or sets unknown bits", d->name, val,
			  d->status);
		return;
	}
	if (((next & S_DRIVER) && !(next & S_ACK)) ||
	    ((next & S_FEATURES_OK) && !(next & S_DRIVER)) ||
	    ((next & S_DRIVER_OK) && !(next & S_FEATURES_OK))) {
		log_debug("%s: status 0x%x skips a step, ignored", d->name, val);
		return;
	}
	added = next & ~cur;
	if (added & S_FEATURES_OK) {
		if (!features_acceptable(d)) {
			/* The driver reads FEATURES_OK back and gives up by itself. */
			log_debug("%s: features 0x%llx refused (offered 0x%llx)", d->name,
				  (unsigned long long)d->driver_features,
				  (unsigned long long)d->host_features);
			next &= ~(S_FEATURES_OK | S_DRIVER_OK);
			added &= ~(S_FEATURES_OK | S_DRIVER_OK);
		} else {
			d->features = d->driver_features;
		}
	}
	d->status = (d->status & S_NEEDS_RESET) | next;
	if ((added & S_DRIVER_OK) && !(d->status & S_NEEDS_RESET)) {
		int ret = d->ops->activate ? d->ops->activate(d) : 0;

		if (ret) {
			virtio_dev_fail(d, "activation failed: %s", strerror(-ret));
			return;
		}
		/*
		 * Kicks before DRIVER_OK found the device not live and were dropped, and drivers
		 * do kick early (Linux's balloon posts its first statistics buffer in init_vqs):
		 * look at every enabled queue once, through its kick path.
		 */
		for (unsigned int q = 0; q < d->nqueues; q++)
			if (d->vq[q].enabled)
				virtio_dev_requeue(d, q);
	}
}

static void write_driver_features(struct virtio_dev *d, uint32_t val)
{
	if ((d->status & (S_DRIVER | S_FEATURES_OK | S_NEEDS_RESET)) != S_DRIVER) {
		log_debug("%s: driver features written outside DRIVER..FEATURES_OK, ignored",
			  d->name);
		return;
	}
	set_window(&d->driver_features, d->drv_features_sel, val);
}

static void queue_notify(struct virtio_dev *d, uint32_t q)
{
	/* With ioeventfd KVM signals the eventfd itself; this is the fallback path. */
	if (q >= d->nqueues || d->kick_fd[q] < 0) {
		log_debug("%s: notify of queue %u ignored", d->name, q);
		return;
	}
	if (eventfd_write(d->kick_fd[q], 1) < 0)
		log_debug("%s: queue %u kick: %s", d->name, q, strerror(errno));
}

static void reg_write(struct virtio_dev *d, uint64_t off, uint32_t val)
{
	struct virtio_queue_cfg *c;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		d->dev_features_sel = val;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		write_driver_features(d, val);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		d->drv_features_sel = val;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		d->queue_sel = val;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		c = setup_queue(d, false);
		if (!c)
			break;
		if (!val || val > d->queue_max || (val & (val - 1))) {
			log_debug("%s: queue size %u refused (max %u)", d->name, val, d->queue_max);
			break;
		}
		c->num = (uint16_t)val;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		queue_ready(d, val);
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		queue_notify(d, val);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		atomic_fetch_and(&d->isr, ~val);
		break;
	case VIRTIO_MMIO_STATUS:
		write_status(d, val);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		c = setup_queue(d, false);
		if (c)
			set_half(&c->desc, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, val);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		c = setup_queue(d, false);
		if (c)
			set_half(&c->avail, off == VIRTIO_MMIO_QUEUE_AVAIL_HIGH, val);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		c = setup_queue(d, false);
		if (c)
			set_half(&c->used, off == VIRTIO_MMIO_QUEUE_USED_HIGH, val);
		break;
	case VIRTIO_MMIO_SHM_SEL: /* no shared memory regions: nothing to select */
		break;
	default:
		log_debug("%s: write 0x%x to register 0x%llx ignored", d->name, val,
			  (unsigned long long)off);
		break;
	}
}

static uint32_t reg_read(struct virtio_dev *d, uint64_t off)
{
	uint32_t q = d->queue_sel;
	const struct virtio_queue_cfg *c = q < d->nqueues ? &d->qcfg[q] : NULL;

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return MMIO_VERSION;
	case VIRTIO_MMIO_DEVICE_ID:
		return d->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return window(d->host_features, d->dev_features_sel);
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		return d->dev_features_sel;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		return window(d->driver_features, d->drv_features_sel);
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		return d->drv_features_sel;
	case VIRTIO_MMIO_QUEUE_SEL:
		return d->queue_sel;
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return c ? d->queue_max : 0;
	case VIRTIO_MMIO_QUEUE_NUM:
		return c ? c->num : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return c ? d->vq[q].enabled : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return atomic_load(&d->isr);
	case VIRTIO_MMIO_STATUS:
		return d->status;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		return c ? (uint32_t)c->desc : 0;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		return c ? (uint32_t)(c->desc >> 32) : 0;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
		return c ? (uint32_t)c->avail : 0;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		return c ? (uint32_t)(c->avail >> 32) : 0;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
		return c ? (uint32_t)c->used : 0;
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		return c ? (uint32_t)(c->used >> 32) : 0;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:
		/* Spec 4.2.2: a region that does not exist has length -1. */
		return 0xffffffff;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return d->config_generation;
	default:
		log_debug("%s: read of register 0x%llx", d->name, (unsigned long long)off);
		return 0;
	}
}

/* Config space: any natural width, wholly inside config_size, or nothing. */
static bool config_access(const struct virtio_dev *d, uint64_t off, uint32_t len)
{
	if (len != 1 && len != 2 && len != 4 && len != 8)
		return false;
	return off >= VIRTIO_MMIO_CONFIG && off - VIRTIO_MMIO_CONFIG <= d->config_size &&
	       len <= d->config_size - (off - VIRTIO_MMIO_CONFIG);
}

static void claim(struct virtio_dev *d, int win);

/*
 * Does window win reach the device, or is it the placeholder? An access
 * that is not an identification read claims the device for the first
 * window to make one (see virtio_mmio_alias). Lock held.
 */
static bool serves(struct virtio_dev *d, int win, uint64_t off, bool write)
{
	if (d->owner == win)
		return true;
	if (d->owner >= 0)
		return false;
	if (!write && (off == VIRTIO_MMIO_MAGIC_VALUE || off == VIRTIO_MMIO_VERSION ||
		       off == VIRTIO_MMIO_VENDOR_ID))
		return true;
	claim(d, win);
	return true;
}

/* A virtio-mmio window with no function behind it (DeviceID 0). */
static uint32_t placeholder_reg(uint64_t off)
{
	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return MMIO_VERSION;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	default:
		return 0;
	}
}

static void window_read(struct virtio_dev *d, int win, uint64_t off, uint8_t *data, uint32_t len)
{
	memset(data, 0, len);
	pthread_mutex_lock(&d->lock);
	if (!serves(d, win, off, false)) {
		if (off < VIRTIO_MMIO_CONFIG && len == 4 && !(off & 3))
			put32(data, placeholder_reg(off));
	} else if (off >= VIRTIO_MMIO_CONFIG) {
		if (!config_access(d, off, len))
			log_debug("%s: config read of %u at 0x%llx ignored", d->name, len,
				  (unsigned long long)off);
		else if (d->ops->config_read)
			d->ops->config_read(d, (uint32_t)(off - VIRTIO_MMIO_CONFIG), data, len);
	} else if (len == 4 && !(off & 3)) {
		put32(data, reg_read(d, off));
	} else {
		log_debug("%s: %u-byte read at 0x%llx ignored", d->name, len,
			  (unsigned long long)off);
	}
	pthread_mutex_unlock(&d->lock);
}

static void window_write(struct virtio_dev *d, int win, uint64_t off, const uint8_t *data,
			 uint32_t len)
{
	pthread_mutex_lock(&d->lock);
	if (!serves(d, win, off, true)) {
		log_debug("%s: write to the placeholder window at 0x%llx ignored", d->name,
			  (unsigned long long)off);
	} else if (off >= VIRTIO_MMIO_CONFIG) {
		if (!config_access(d, off, len))
			log_debug("%s: config write of %u at 0x%llx ignored", d->name, len,
				  (unsigned long long)off);
		else if (d->ops->config_write)
			d->ops->config_write(d, (uint32_t)(off - VIRTIO_MMIO_CONFIG), data, len);
	} else if (len == 4 && !(off & 3)) {
		reg_write(d, off, get32(data));
	} else {
		log_debug("%s: %u-byte write at 0x%llx ignored", d->name, len,
			  (unsigned long long)off);
	}
	pthread_mutex_unlock(&d->lock);
}

static void mmio_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	window_read(dev, 0, off, data, len);
}

static void mmio_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	window_write(dev, 0, off, data, len);
}

static void alias_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	window_read(dev, 1, off, data, len);
}

static void alias_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	window_write(dev, 1, off, data, len);
}

const struct bus_ops virtio_mmio_ops = { .read = mmio_read, .write = mmio_write };
const struct bus_ops virtio_mmio_alias_ops = { .read = alias_read, .write = alias_write };

void virtio_dev_requeue(struct virtio_dev *d, unsigned int q)
{
	/* The loop's kick handler is level-triggered: a raised eventfd is seen on its next pass. */
	if (q < d->nqueues && d->kick_fd[q] >= 0 && eventfd_write(d->kick_fd[q], 1) < 0)
		log_debug("%s: queue %u requeue: %s", d->name, q, strerror(errno));
}

/* Event loop thread: the guest kicked queue q (through KVM's ioeventfd or queue_notify). */
static void on_kick(struct loop *l, struct loop_handler *h, uint32_t events)
{
	struct virtio_dev *d = h->opaque;
	unsigned int q = (unsigned int)(h - d->kick_h);
	eventfd_t v;

	(void)l;
	(void)events;
	if (eventfd_read(h->fd, &v) < 0 && errno != EAGAIN)
		log_debug("%s: queue %u kick read: %s", d->name, q, strerror(errno));
	pthread_mutex_lock(&d->lock);
	if (virtio_dev_live(d) && d->vq[q].enabled && !d->vq[q].broken)
		d->ops->notify(d, q);
	pthread_mutex_unlock(&d->lock);
}

/* Queue q's kicks go to the event loop, or to the device's own threads (d->own_kicks). */
static int add_kick(struct virtio_dev *d, unsigned int q)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u32 = q };

	if (d->own_kicks & (1u << q))
		return epoll_ctl(d->own_epfd, EPOLL_CTL_ADD, d->kick_fd[q], &ev) ? -errno : 0;
	d->kick_h[q] = (struct loop_handler){ .fd = d->kick_fd[q], .cb = on_kick, .opaque = d };
	return loop_add(d->host->loop, &d->kick_h[q], EPOLLIN);
}

static void del_kick(struct virtio_dev *d, unsigned int q)
{
	if (d->own_kicks & (1u << q)) {
		if (d->kick_fd[q] >= 0)
			epoll_ctl(d->own_epfd, EPOLL_CTL_DEL, d->kick_fd[q], NULL);
	} else if (d->kick_h[q].fd >= 0) {
		loop_del(d->host->loop, &d->kick_h[q]);
	}
}

static int kvm_irqfd(const struct virtio_dev *d, uint32_t flags)
{
	struct kvm_irqfd irqfd = { .fd = (uint32_t)d->irq_fd, .gsi = d->gsi, .flags = flags };

	return ioctl(d->host->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

static int kvm_ioeventfd(const struct virtio_dev *d, unsigned int q, uint32_t flags)
{
	struct kvm_ioeventfd io = {
		.datamatch = q,
		.addr = d->kick_base + VIRTIO_MMIO_QUEUE_NOTIFY,
		.len = 4,
		.fd = d->kick_fd[q],
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | flags,
	};

	return ioctl(d->host->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

/* Bind every queue's kick eventfd to QueueNotify at d->kick_base; all or none. */
static int bind_kicks(struct virtio_dev *d)
{
	unsigned int q, done;
	int ret = 0;

	for (done = 0; done < d->nqueues; done++) {
		ret = kvm_ioeventfd(d, done, 0);
		if (ret)
			break;
	}
	if (ret) {
		log_debug("%s: KVM_IOEVENTFD: %s; kicks go through the MMIO exit", d->name,
			  strerror(-ret));
		for (q = 0; q < done; q++)
			kvm_ioeventfd(d, q, KVM_IOEVENTFD_FLAG_DEASSIGN);
	}
	d->ioeventfd_ok = !ret;
	return ret;
}

static void unbind_kicks(struct virtio_dev *d)
{
	unsigned int q;

	if (d->ioeventfd_ok)
		for (q = 0; q < d->nqueues; q++)
			kvm_ioeventfd(d, q, KVM_IOEVENTFD_FLAG_DEASSIGN);
	d->ioeventfd_ok = false;
}

/* Ask KVM to take the interrupt and the kicks off our hands; falling back is fine. */
static void bind_kvm(struct virtio_dev *d)
{
	int ret;

	if (d->host->vm_fd < 0)
		return;
	ret = kvm_irqfd(d, 0);
	if (ret)
		log_debug("%s: KVM_IRQFD: %s; pulsing the line instead", d->name, strerror(-ret));
	d->irqfd_ok = !ret;
	bind_kicks(d);
}

static void unbind_kvm(struct virtio_dev *d)
{
	unbind_kicks(d);
	if (d->irqfd_ok)
		kvm_irqfd(d, KVM_IRQFD_FLAG_DEASSIGN);
	d->irqfd_ok = false;
}

/*
 * Window win is the device from now on. The kicks KVM catches move to its
 * QueueNotify, so the other window's writes reach hull (and are ignored);
 * where KVM refuses, they go through the MMIO exit of the claiming window.
 * On a vCPU thread with the lock held: KVM_IOEVENTFD waits only for KVM's
 * own read sections, which no vCPU thread waiting for this lock is in.
 */
static void claim(struct virtio_dev *d, int win)
{
	uint64_t at = win ? d->alias : d->base;
	bool bound = d->ioeventfd_ok;

	d->owner = win;
	log_debug("%s: claimed through its window at 0x%llx", d->name, (unsigned long long)at);
	if (at == d->kick_base)
		return;
	unbind_kicks(d);
	d->kick_base = at;
	if (bound)
		bind_kicks(d);
}

static void close_fds(struct virtio_dev *d)
{
	unsigned int q;

	for (q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (d->kick_fd[q] >= 0)
			close(d->kick_fd[q]);
		d->kick_fd[q] = -1;
		d->kick_h[q].fd = -1;
	}
	if (d->irq_fd >= 0)
		close(d->irq_fd);
	d->irq_fd = -1;
}

int virtio_mmio_attach(struct virtio_dev *d, const struct virtio_host *host, uint64_t base,
		       uint32_t gsi)
{
	unsigned int q, added = 0;
	int ret;

	d->host = host;
	d->base = base;
	d->alias = 0;
	d->owner = -1;
	d->kick_base = base;
	d->gsi = gsi;
	d->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->irq_fd < 0) {
		ret = -errno;
		goto err;
	}
	for (q = 0; q < d->nqueues; q++) {
		d->kick_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (d->kick_fd[q] < 0) {
			ret = -errno;
			goto err_fds;
		}
	}
	bind_kvm(d);
	for (added = 0; added < d->nqueues; added++) {
		ret = add_kick(d, added);
		if (ret)
			goto err_loop;
	}
	/* Last: the bus cannot unregister, so nothing may fail after the range exists. */
	ret = bus_register(host->mmio, base, VIRTIO_MMIO_SIZE, &virtio_mmio_ops, d, d->name);
	if (ret)
		goto err_loop;
	d->attached = true;
	return 0;

err_loop:
	while (added--)
		del_kick(d, added);
	unbind_kvm(d);
err_fds:
	close_fds(d);
err:
	log_msg("%s: cannot attach at 0x%llx: %s", d->name, (unsigned long long)base,
		strerror(-ret));
	return ret;
}

void virtio_mmio_detach(struct virtio_dev *d)
{
	unsigned int q;

	if (!d->attached)
		return;
	for (q = 0; q < d->nqueues; q++)
		del_kick(d, q);
	unbind_kvm(d);
	pthread_mutex_lock(&d->lock);
	virtio_dev_reset(d);
	pthread_mutex_unlock(&d->lock);
	close_fds(d);
	d->attached = false;
}

void virtio_dev_destroy(struct virtio_dev *d)
{
	if (!d)
		return;
	virtio_mmio_detach(d);
	d->ops->destroy(d);
}

int virtio_mmio_alias(struct virtio_dev *d, uint64_t alias)
{
	int ret;

	if (!alias || alias == d->base || d->alias) {
		ret = -EINVAL;
		goto err;
	}
	ret = bus_register(d->host->mmio, alias, VIRTIO_MMIO_SIZE, &virtio_mmio_alias_ops, d,
			   d->name);
	if (ret)
		goto err;
	d->alias = alias;
	return 0;
err:
	log_msg("%s: cannot add a second window at 0x%llx: %s", d->name,
		(unsigned long long)alias, strerror(-ret));
	return ret;
}
