/* Unit tests for virtio-mmio and the generic device: registers, status machine, kicks, irqs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <linux/virtio_mmio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tests/unit/virtio_env.h"
#include "virtio/virtio.h"

#define BASE 0xd0000000ULL
#define ALIAS 0xd0100000ULL /* the second window (virtio_mmio_alias) */
#define GSI 5
#define RAM_GPA 0x100000ULL
#define RAM_SIZE 0x10000ULL
#define DESC (RAM_GPA + 0x0)
#define AVAIL (RAM_GPA + 0x1000)
#define USED (RAM_GPA + 0x2000)
#define BUF (RAM_GPA + 0x4000)
#define QSIZE 8
#define NQ 2
#define QMAX 16
#define CFG_SIZE 6
#define FAKE_FEATURES ((1ULL << 0) | (1ULL << 5) | (1ULL << 35)) /* one bit in the high window */

#define F_V1 (1ULL << VIRTIO_F_VERSION_1)
#define S_ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV VIRTIO_CONFIG_S_DRIVER
#define S_FOK VIRTIO_CONFIG_S_FEATURES_OK
#define S_DOK VIRTIO_CONFIG_S_DRIVER_OK

struct fake {
	struct virtio_dev dev;
	uint8_t cfg[8]; /* two bytes more than config_size: they must never be touched */
	unsigned int notifies[NQ], activates, resets, cfg_reads, cfg_writes, cfg_outside;
	int activate_ret;
	unsigned int popped;
	unsigned int budget; /* chains per notify, then virtio_dev_requeue; 0: no bound */
};

static struct env {
	struct virtio_env v;
	struct fake f;
	unsigned int pulses, wrong_gsi, level;
	uint16_t avail_idx, next_desc;
} e;

static void fake_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len)
{
	struct fake *f = container_of(d, struct fake, dev);

	f->cfg_reads++;
	if (off + len > CFG_SIZE) {
		f->cfg_outside++;
		return;
	}
	memcpy(data, f->cfg + off, len);
}

static void fake_config_write(struct virtio_dev *d, uint32_t off, const uint8_t *data, uint32_t len)
{
	struct fake *f = container_of(d, struct fake, dev);

	f->cfg_writes++;
	if (off + len > CFG_SIZE) {
		f->cfg_outside++;
		return;
	}
	memcpy(f->cfg + off, data, len);
}

static int fake_activate(struct virtio_dev *d)
{
	struct fake *f = container_of(d, struct fake, dev);

	f->activates++;
	return f->activate_ret;
}

/* A device that answers each request with its in_len, as a real one would after filling it. */
static void fake_notify(struct virtio_dev *d, unsigned int q)
{
	struct fake *f = container_of(d, struct fake, dev);
	struct iovec iov[8];
	struct virtq_chain c;
	unsigned int n;

	f->notifies[q]++;
	for (n = 0;; n++) {
		if (f->budget && n == f->budget) {
			if (virtq_pending(&d->vq[q]))
				virtio_dev_requeue(d, q);
			break;
		}
		c = (struct virtq_chain){ .iov = iov, .cap = 8 };
		if (virtq_pop(&d->vq[q], &c) <= 0)
			break;
		f->popped++;
		virtq_push(&d->vq[q], c.head, (uint32_t)c.in_len);
	}
	virtio_dev_queue_done(d, q);
}

static void fake_reset(struct virtio_dev *d)
{
	struct fake *f = container_of(d, struct fake, dev);

	f->resets++;
	memcpy(f->cfg, "\x11\x22\x33\x44\x55\x66\xee\xee", 8);
}

static const struct virtio_dev_ops fake_ops = {
	.type = "fake",
	.device_id = 42,
	.config_read = fake_config_read,
	.config_write = fake_config_write,
	.activate = fake_activate,
	.notify = fake_notify,
	.reset = fake_reset,
};

static void rec_irq(void *opaque, unsigned int irq, int level)
{
	struct env *en = opaque;

	if (irq != GSI)
		en->wrong_gsi++;
	/* A pulse is a rise followed by a fall. */
	if (level)
		en->pulses++;
	else if (!en->level)
		en->wrong_gsi++;
	en->level = (unsigned int)level;
}

static int setup(void **state)
{
	(void)state;
	memset(&e, 0, sizeof(e));
	if (virtio_env_init(&e.v, RAM_GPA, RAM_SIZE, rec_irq, &e))
		return -1;
	if (virtio_dev_init(&e.f.dev, &fake_ops, "virtio-fake 0", NQ, QMAX, FAKE_FEATURES,
			    CFG_SIZE))
		return -1;
	memcpy(e.f.cfg, "\x11\x22\x33\x44\x55\x66\xee\xee", 8);
	return virtio_mmio_attach(&e.f.dev, &e.v.host, BASE, GSI);
}

static int teardown(void **state)
{
	(void)state;
	virtio_mmio_detach(&e.f.dev);
	pthread_mutex_destroy(&e.f.dev.lock);
	virtio_env_fini(&e.v);
	return 0;
}

/* ---- driver side ---- */

static uint32_t rd(uint64_t off)
{
	uint8_t b[4] = { 0xa5, 0xa5, 0xa5, 0xa5 };

	virtio_mmio_ops.read(&e.f.dev, off, b, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void wr(uint64_t off, uint32_t v)
{
	virtio_env_wr(&e.f.dev, off, v);
}

static const struct virtio_drv drv = { rd, wr };

static void raw_wr(uint64_t off, const char *bytes, uint32_t len)
{
	virtio_mmio_ops.write(&e.f.dev, off, (const uint8_t *)bytes, len);
}

static void *gpa(uint64_t a)
{
	return gmem_ptr(&e.v.mem, a, 1);
}

static int dispatch(int ms)
{
	return virtio_env_dispatch(&e.v, ms);
}

/* The whole driver bring-up of queue 0 (size QSIZE) up to DRIVER_OK. */
static void bring_up(void)
{
	assert_int_equal(virtio_drv_negotiate(&drv, F_V1), S_ACK | S_DRV | S_FOK);
	virtio_drv_queue(&drv, 0, QSIZE, DESC, AVAIL, USED);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	assert_int_equal(virtio_drv_driver_ok(&drv), S_ACK | S_DRV | S_FOK | S_DOK);
}

/* Post one device-writable buffer of len bytes. */
static void post(uint32_t len)
{
	struct vring_desc *d = gpa(DESC);
	struct vring_avail *a = gpa(AVAIL);
	uint16_t head = e.next_desc++ % QSIZE;

	d[head] = (struct vring_desc){ .addr = BUF + head * 0x100u,
				       .len = len,
				       .flags = VRING_DESC_F_WRITE };
	a->ring[e.avail_idx % QSIZE] = head;
	__atomic_store_n(&a->idx, ++e.avail_idx, __ATOMIC_RELEASE);
}

static uint16_t used_idx(void)
{
	return __atomic_load_n(&((struct vring_used *)gpa(USED))->idx, __ATOMIC_ACQUIRE);
}

/* ---- tests ---- */

static void test_ids(void **state)
{
	uint8_t b[4] = { 0 };

	(void)state;
	assert_int_equal(rd(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(rd(VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_ID), 42);
	assert_int_equal(rd(VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd(VIRTIO_MMIO_CONFIG_GENERATION), 0);
	assert_int_equal(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	/* Registered on the bus at BASE: the guest reaches the same register file. */
	assert_true(bus_read(&e.v.mmio, BASE + VIRTIO_MMIO_MAGIC_VALUE, b, 4));
	assert_memory_equal(b, "virt", 4);
	assert_true(bus_read(&e.v.mmio, BASE + VIRTIO_MMIO_SIZE - 4, b, 4));
	assert_false(bus_read(&e.v.mmio, BASE + VIRTIO_MMIO_SIZE, b, 4));
	/* Regions that do not exist have length -1 (spec 4.2.2). */
	assert_int_equal(rd(VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
	assert_int_equal(rd(VIRTIO_MMIO_SHM_LEN_HIGH), 0xffffffff);
	/* Legacy and unknown registers read 0; writes to read-only ones change nothing. */
	assert_int_equal(rd(VIRTIO_MMIO_GUEST_PAGE_SIZE), 0);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_PFN), 0);
	assert_int_equal(rd(0x0f8), 0);
	wr(VIRTIO_MMIO_MAGIC_VALUE, 0);
	wr(VIRTIO_MMIO_DEVICE_ID, 7);
	wr(VIRTIO_MMIO_CONFIG_GENERATION, 9);
	wr(VIRTIO_MMIO_QUEUE_PFN, 0x1234);
	assert_int_equal(rd(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_ID), 42);
	assert_int_equal(rd(VIRTIO_MMIO_CONFIG_GENERATION), 0);
}

static void test_feature_windows(void **state)
{
	uint64_t offered = FAKE_FEATURES | VIRTIO_TRANSPORT_FEATURES;

	(void)state;
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_FEATURES), (uint32_t)offered);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_FEATURES_SEL), 1);
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_FEATURES), (uint32_t)(offered >> 32));
	assert_true(rd(VIRTIO_MMIO_DEVICE_FEATURES) & 1); /* VERSION_1 is bit 32 */
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_FEATURES), 0);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0xffffffff);
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_FEATURES), 0);

	/* Driver features: only between DRIVER and FEATURES_OK. */
	virtio_drv_features(&drv, F_V1 | 1);
	assert_int_equal(e.f.dev.driver_features, 0);
	wr(VIRTIO_MMIO_STATUS, S_ACK);
	virtio_drv_features(&drv, F_V1 | 1);
	assert_int_equal(e.f.dev.driver_features, 0);
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV);
	virtio_drv_features(&drv, F_V1 | (1ULL << 5));
	assert_true(e.f.dev.driver_features == (F_V1 | (1ULL << 5)));
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	assert_int_equal(rd(VIRTIO_MMIO_DRIVER_FEATURES), 1u << 5);
	/* Selectors beyond 1 change nothing. */
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 2);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffff);
	assert_true(e.f.dev.driver_features == (F_V1 | (1ULL << 5)));
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FOK);
	assert_true(e.f.dev.features == (F_V1 | (1ULL << 5)));
	/* Frozen after FEATURES_OK. */
	virtio_drv_features(&drv, F_V1);
	assert_true(e.f.dev.driver_features == (F_V1 | (1ULL << 5)));
	assert_true(e.f.dev.features == (F_V1 | (1ULL << 5)));
}

static void test_happy_path(void **state)
{
	struct vring_used *u;

	(void)state;
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), QMAX);
	bring_up();
	assert_int_equal(e.f.activates, 1);
	assert_true(e.f.dev.features == F_V1);
	/* The queue registers read back what the driver wrote. */
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM), QSIZE);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_DESC_LOW), (uint32_t)DESC);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_AVAIL_LOW), (uint32_t)AVAIL);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_USED_LOW), (uint32_t)USED);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_USED_HIGH), 0);
	assert_true(virtio_dev_live(&e.f.dev));

	post(100);
	post(200);
	/* No ioeventfd (vm_fd -1): the write reaches the transport, which kicks the eventfd. */
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(e.f.notifies[0], 0); /* nothing happens on the vCPU thread */
	assert_int_equal(dispatch(1000), 1);
	assert_int_equal(e.f.notifies[0], 1);
	assert_int_equal(e.f.popped, 2);
	u = gpa(USED);
	assert_int_equal(used_idx(), 2);
	assert_int_equal(u->ring[0].len, 100);
	assert_int_equal(u->ring[1].len, 200);
	assert_int_equal(e.pulses, 1);
	assert_int_equal(e.level, 0);
	assert_int_equal(e.wrong_gsi, 0);
	assert_int_equal(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);

	/* Several kicks before the loop runs coalesce; the second queue is not ready: no call. */
	post(8);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	while (dispatch(0) > 0)
		;
	assert_int_equal(e.f.notifies[0], 2);
	assert_int_equal(e.f.notifies[1], 0);
	assert_int_equal(used_idx(), 3);
	/* Out-of-range queue indices are ignored. */
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, NQ);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0xffff);
	assert_int_equal(dispatch(0), 0);
}

/*
 * A kick before DRIVER_OK finds the device not live and is dropped; DRIVER_OK then looks at
 * every enabled queue once, so buffers posted early are served, and a queue not enabled is not.
 */
static void test_kick_before_driver_ok(void **state)
{
	(void)state;
	assert_int_equal(virtio_drv_negotiate(&drv, F_V1), S_ACK | S_DRV | S_FOK);
	virtio_drv_queue(&drv, 0, QSIZE, DESC, AVAIL, USED);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	post(64);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(dispatch(0), 1);
	assert_int_equal(e.f.notifies[0], 0);
	assert_int_equal(e.f.popped, 0);
	assert_int_equal(virtio_drv_driver_ok(&drv), S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(e.f.activates, 1);
	assert_int_equal(dispatch(0), 1);
	assert_int_equal(e.f.notifies[0], 1);
	assert_int_equal(e.f.notifies[1], 0);
	assert_int_equal(e.f.popped, 1);
	assert_int_equal(used_idx(), 1);
	assert_int_equal(dispatch(0), 0);
}

static void test_features_refused(void **state)
{
	(void)state;
	/* Without VERSION_1 (a legacy driver): FEATURES_OK stays clear. */
	assert_int_equal(virtio_drv_negotiate(&drv, 1), S_ACK | S_DRV);
	/* A bit the device did not offer. */
	virtio_drv_features(&drv, F_V1 | (1ULL << 7));
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), S_ACK | S_DRV);
	virtio_drv_features(&drv, F_V1 | (1ULL << 50));
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), S_ACK | S_DRV);
	/* FEATURES_OK with DRIVER_OK in one write, refused: neither bit sticks, no activation. */
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), S_ACK | S_DRV);
	assert_int_equal(e.f.activates, 0);
	assert_false(virtio_dev_live(&e.f.dev));
	/* A subset with VERSION_1 is fine. */
	virtio_drv_features(&drv, F_V1 | (1ULL << 35) | VIRTIO_TRANSPORT_FEATURES);
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FOK);
}

static void test_queue_window(void **state)
{
	(void)state;
	/* Before FEATURES_OK nothing of the queue sticks. */
	wr(VIRTIO_MMIO_STATUS, S_ACK);
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV);
	virtio_drv_queue(&drv, 0, QSIZE, DESC, AVAIL, USED);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM), 0);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_DESC_LOW), 0);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_AVAIL_LOW), 0);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_USED_LOW), 0);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	assert_false(e.f.dev.vq[0].enabled);

	virtio_drv_features(&drv, F_V1);
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK);
	virtio_drv_queue(&drv, 0, QSIZE, DESC, AVAIL, USED);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	/* A ready queue cannot be reconfigured. */
	virtio_drv_queue(&drv, 0, 4, DESC + 0x100, AVAIL + 0x100, USED + 0x100);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM), QSIZE);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_DESC_LOW), (uint32_t)DESC);
	assert_int_equal(e.f.dev.vq[0].size, QSIZE);
	/* QueueReady=0 before DRIVER_OK takes it down again. */
	wr(VIRTIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	assert_false(e.f.dev.vq[0].enabled);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 1);

	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	/* After DRIVER_OK: queue 1 cannot be set up, queue 0 cannot be taken down. */
	virtio_drv_queue(&drv, 1, QSIZE, DESC + 0x800, AVAIL + 0x800, USED + 0x800);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM), 0);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_DESC_LOW), 0);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(VIRTIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	/* Nor the features. */
	virtio_drv_features(&drv, F_V1 | 1);
	assert_true(e.f.dev.features == F_V1);
	assert_true(e.f.dev.driver_features == F_V1);
}

static void test_queue_num(void **state)
{
	static const uint32_t bad[] = { 0, 3, 12, 15, QMAX * 2, 1024, 0x10000 | 4, 0xffffffff };
	unsigned int i;

	(void)state;
	assert_int_equal(virtio_drv_negotiate(&drv, F_V1), S_ACK | S_DRV | S_FOK);
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		wr(VIRTIO_MMIO_QUEUE_NUM, bad[i]);
		assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM), 0);
	}
	wr(VIRTIO_MMIO_QUEUE_NUM, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM), 1);
	wr(VIRTIO_MMIO_QUEUE_NUM, QMAX);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM), QMAX);
	wr(VIRTIO_MMIO_QUEUE_NUM, 12);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM), QMAX);
	/* An ignored size is not a failure. */
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FOK);
}

/* The device failed: NEEDS_RESET, a new generation, a config interrupt. */
static void assert_failed(uint32_t gen_before, unsigned int pulses_before)
{
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(rd(VIRTIO_MMIO_CONFIG_GENERATION), gen_before + 1);
	assert_true(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(e.pulses, pulses_before + 1);
	assert_false(virtio_dev_live(&e.f.dev));
}

static void test_ready_outside_ram(void **state)
{
	(void)state;
	assert_int_equal(virtio_drv_negotiate(&drv, F_V1), S_ACK | S_DRV | S_FOK);
	/* Used ring past the end of RAM. */
	virtio_drv_queue(&drv, 0, QSIZE, DESC, AVAIL, RAM_GPA + RAM_SIZE - 8);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	assert_failed(0, 0);
	/* Once failed, the same failure again does not count twice. */
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(VIRTIO_MMIO_CONFIG_GENERATION), 1);
	assert_int_equal(e.pulses, 1);
	/* DRIVER_OK on a failed device does not activate it. */
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(e.f.activates, 0);
	assert_false(virtio_dev_live(&e.f.dev));

	/* After a reset, a misaligned descriptor table fails the same way. */
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(virtio_drv_negotiate(&drv, F_V1), S_ACK | S_DRV | S_FOK);
	virtio_drv_queue(&drv, 0, QSIZE, DESC + 8, AVAIL, USED);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	assert_failed(1, 1);

	/* And rings in the right place after that reset work. */
	wr(VIRTIO_MMIO_STATUS, 0);
	bring_up();
	assert_true(virtio_dev_live(&e.f.dev));
}

static void test_status_machine(void **state)
{
	(void)state;
	/* Steps may not be skipped. */
	wr(VIRTIO_MMIO_STATUS, S_DRV);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), 0);
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_FOK);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), 0);
	wr(VIRTIO_MMIO_STATUS, S_ACK);
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_DOK);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), S_ACK);
	/* Unknown bits are refused. */
	wr(VIRTIO_MMIO_STATUS, S_ACK | 0x10);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), S_ACK);
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV);
	virtio_drv_features(&drv, F_V1);
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK);
	/* Clearing bits other than by writing 0 is ignored. */
	wr(VIRTIO_MMIO_STATUS, S_ACK);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FOK);
	wr(VIRTIO_MMIO_STATUS, S_DRV | S_FOK);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FOK);
	assert_int_equal(e.f.resets, 0);
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(e.f.activates, 1);
	/* Writing the same value again does not activate twice. */
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(e.f.activates, 1);
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_DOK);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FOK | S_DOK);
	/* FAILED may be added at any point. */
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK | VIRTIO_CONFIG_S_FAILED);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS),
			 S_ACK | S_DRV | S_FOK | S_DOK | VIRTIO_CONFIG_S_FAILED);
	/* Non-register-sized status writes change nothing. */
	{
		uint8_t z[2] = { 0, 0 };

		virtio_mmio_ops.write(&e.f.dev, VIRTIO_MMIO_STATUS, z, 1);
		virtio_mmio_ops.write(&e.f.dev, VIRTIO_MMIO_STATUS, z, 2);
		assert_int_equal(e.f.resets, 0);
		assert_true(rd(VIRTIO_MMIO_STATUS) & S_DOK);
	}
}

/* All 32-bit registers, as a guest would see them. */
static void snapshot(uint32_t regs[VIRTIO_MMIO_CONFIG / 4][NQ + 1])
{
	uint32_t off, q;

	for (q = 0; q <= NQ; q++) {
		wr(VIRTIO_MMIO_QUEUE_SEL, q);
		for (off = 0; off < VIRTIO_MMIO_CONFIG; off += 4)
			regs[off / 4][q] = rd(off);
	}
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
}

static void test_reset(void **state)
{
	uint32_t before[VIRTIO_MMIO_CONFIG / 4][NQ + 1], after[VIRTIO_MMIO_CONFIG / 4][NQ + 1];
	uint8_t cfg[4];

	(void)state;
	snapshot(before);
	bring_up();
	/* Ignored: after DRIVER_OK. */
	virtio_drv_queue(&drv, 1, 4, DESC + 0x800, AVAIL + 0x800, USED + 0x800);
	post(10);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	dispatch(1000);
	assert_int_equal(used_idx(), 1);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_QUEUE_SEL, 1);
	wr(VIRTIO_MMIO_CONFIG, 0x99);
	assert_int_not_equal(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);

	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(e.f.resets, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_SEL), 0);
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_FEATURES_SEL), 0);
	assert_int_equal(rd(VIRTIO_MMIO_DRIVER_FEATURES_SEL), 0);
	snapshot(after);
	assert_memory_equal(before, after, sizeof(before));
	assert_false(e.f.dev.vq[0].enabled);
	assert_true(e.f.dev.features == 0 && e.f.dev.driver_features == 0);
	/* The device's own reset ran (it restores the config space). */
	virtio_mmio_ops.read(&e.f.dev, VIRTIO_MMIO_CONFIG, cfg, 4);
	assert_memory_equal(cfg, "\x11\x22\x33\x44", 4);
	/* A kick after the reset reaches nobody. */
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	dispatch(0);
	assert_int_equal(e.f.notifies[0], 1);
	/* And the device can be brought up again from scratch, rings starting over. */
	memset(e.v.ram, 0, 0x3000);
	e.avail_idx = e.next_desc = 0;
	bring_up();
	post(20);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	dispatch(1000);
	assert_int_equal(used_idx(), 1);
	assert_int_equal(((struct vring_used *)gpa(USED))->ring[0].len, 20);
}

static void test_fail(void **state)
{
	(void)state;
	bring_up();
	pthread_mutex_lock(&e.f.dev.lock);
	virtio_dev_fail(&e.f.dev, "test says %s", "no");
	/* A second failure before the reset: no second message, generation or interrupt. */
	virtio_dev_fail(&e.f.dev, "test says %s", "again");
	pthread_mutex_unlock(&e.f.dev.lock);
	assert_failed(0, 0);
	/* Status bits stay; NEEDS_RESET comes on top. */
	assert_int_equal(rd(VIRTIO_MMIO_STATUS),
			 S_ACK | S_DRV | S_FOK | S_DOK | VIRTIO_CONFIG_S_NEEDS_RESET);
	/* The device no longer serves its queues. */
	post(10);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	dispatch(0);
	assert_int_equal(e.f.notifies[0], 0);
	assert_int_equal(used_idx(), 0);
	/* A driver writing back NEEDS_RESET with FAILED added: FAILED sticks, NEEDS_RESET too. */
	wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) | VIRTIO_CONFIG_S_FAILED);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FOK | S_DOK |
							 VIRTIO_CONFIG_S_NEEDS_RESET |
							 VIRTIO_CONFIG_S_FAILED);
	/* Only a reset clears it; the generation keeps counting. */
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd(VIRTIO_MMIO_CONFIG_GENERATION), 1);
	assert_int_equal(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
}

static void test_activate_fails(void **state)
{
	(void)state;
	e.f.activate_ret = -ENOMEM;
	assert_int_equal(virtio_drv_negotiate(&drv, F_V1), S_ACK | S_DRV | S_FOK);
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(e.f.activates, 1);
	assert_failed(0, 0);
}

static void test_interrupt_ack(void **state)
{
	eventfd_t v;
	int fd, old_fd = e.f.dev.irq_fd;

	(void)state;
	virtio_dev_interrupt(&e.f.dev, VIRTIO_MMIO_INT_VRING);
	virtio_dev_interrupt(&e.f.dev, VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(e.pulses, 2);
	assert_int_equal(e.level, 0);
	assert_int_equal(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 3);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, 0);
	assert_int_equal(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, 0xffffffff);
	assert_int_equal(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);

	/* With an irqfd the eventfd is the line: no pulse through the host callback. */
	fd = eventfd(0, EFD_NONBLOCK);
	assert_true(fd >= 0);
	e.f.dev.irq_fd = fd;
	e.f.dev.irqfd_ok = true;
	virtio_dev_interrupt(&e.f.dev, VIRTIO_MMIO_INT_VRING);
	virtio_dev_interrupt(&e.f.dev, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(e.pulses, 2);
	assert_int_equal(eventfd_read(fd, &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	e.f.dev.irqfd_ok = false;
	e.f.dev.irq_fd = old_fd;
	close(fd);
}

static void test_config_space(void **state)
{
	uint8_t b[8];
	static const uint32_t widths[] = { 1, 2, 4, 8 };
	unsigned int i;
	uint64_t off;

	(void)state;
	memset(b, 0xa5, sizeof(b));
	virtio_mmio_ops.read(&e.f.dev, VIRTIO_MMIO_CONFIG, b, 4);
	assert_memory_equal(b, "\x11\x22\x33\x44", 4);
	virtio_mmio_ops.read(&e.f.dev, VIRTIO_MMIO_CONFIG + 4, b, 2);
	assert_memory_equal(b, "\x55\x66", 2);
	virtio_mmio_ops.read(&e.f.dev, VIRTIO_MMIO_CONFIG + 5, b, 1);
	assert_int_equal(b[0], 0x66);
	/* Unaligned but inside is fine for the config space. */
	virtio_mmio_ops.read(&e.f.dev, VIRTIO_MMIO_CONFIG + 1, b, 4);
	assert_memory_equal(b, "\x22\x33\x44\x55", 4);
	/* Every access that reaches past config_size reads 0 and never reaches the device. */
	for (i = 0; i < 4; i++) {
		for (off = VIRTIO_MMIO_CONFIG; off < VIRTIO_MMIO_SIZE; off++) {
			if (off + widths[i] <= VIRTIO_MMIO_CONFIG + CFG_SIZE)
				continue;
			memset(b, 0xa5, sizeof(b));
			virtio_mmio_ops.read(&e.f.dev, off, b, widths[i]);
			assert_memory_equal(b, "\0\0\0\0\0\0\0\0", widths[i]);
			raw_wr(off, "\xff\xff\xff\xff\xff\xff\xff\xff", widths[i]);
		}
	}
	assert_int_equal(e.f.cfg_outside, 0);
	assert_memory_equal(e.f.cfg, "\x11\x22\x33\x44\x55\x66\xee\xee", 8);
	/* Width 3 never is an access. */
	virtio_mmio_ops.read(&e.f.dev, VIRTIO_MMIO_CONFIG, b, 3);
	assert_memory_equal(b, "\0\0\0", 3);
	/* Writes inside reach the device. */
	raw_wr(VIRTIO_MMIO_CONFIG + 2, "\xab\xcd\xef\x01", 4);
	assert_memory_equal(e.f.cfg, "\x11\x22\xab\xcd\xef\x01\xee\xee", 8);
	/* 8 bytes from the start is past a 6-byte space. */
	memset(b, 0xa5, sizeof(b));
	virtio_mmio_ops.read(&e.f.dev, VIRTIO_MMIO_CONFIG, b, 8);
	assert_memory_equal(b, "\0\0\0\0\0\0\0\0", 8);
	assert_int_equal(e.f.cfg_outside, 0);
}

static void test_bad_widths(void **state)
{
	uint8_t b[8];
	static const uint32_t widths[] = { 1, 2, 8 };
	unsigned int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		memset(b, 0xa5, sizeof(b));
		virtio_mmio_ops.read(&e.f.dev, VIRTIO_MMIO_MAGIC_VALUE, b, widths[i]);
		assert_memory_equal(b, "\0\0\0\0\0\0\0\0", widths[i]);
	}
	/* Misaligned 4-byte accesses. */
	memset(b, 0xa5, sizeof(b));
	virtio_mmio_ops.read(&e.f.dev, VIRTIO_MMIO_MAGIC_VALUE + 1, b, 4);
	assert_memory_equal(b, "\0\0\0\0", 4);
	virtio_mmio_ops.read(&e.f.dev, VIRTIO_MMIO_CONFIG - 2, b, 4);
	assert_memory_equal(b, "\0\0\0\0", 4);
	/* Writes: status by halves, 8 bytes at once, misaligned: none lands. */
	raw_wr(VIRTIO_MMIO_STATUS, "\x01\0\0\0\0\0\0\0", 1);
	raw_wr(VIRTIO_MMIO_STATUS, "\x01\0\0\0\0\0\0\0", 2);
	raw_wr(VIRTIO_MMIO_STATUS, "\x01\0\0\0\0\0\0\0", 8);
	raw_wr(VIRTIO_MMIO_STATUS - 1, "\0\x01\0\0", 4);
	raw_wr(VIRTIO_MMIO_QUEUE_SEL + 2, "\x01\0\0\0", 4);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_SEL), 0);
	/* The same byte pattern as a proper 32-bit write lands. */
	raw_wr(VIRTIO_MMIO_STATUS, "\x01\0\0\0", 4);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), S_ACK);
}

static void test_queue_sel_beyond(void **state)
{
	static const uint32_t sels[] = { NQ, VIRTIO_MAX_QUEUES, 0x10000, 0xffffffff };
	unsigned int i;

	(void)state;
	assert_int_equal(virtio_drv_negotiate(&drv, F_V1), S_ACK | S_DRV | S_FOK);
	for (i = 0; i < 4; i++) {
		virtio_drv_queue(&drv, sels[i], QSIZE, DESC, AVAIL, USED);
		assert_int_equal(rd(VIRTIO_MMIO_QUEUE_SEL), sels[i]);
		wr(VIRTIO_MMIO_QUEUE_READY, 1);
		assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
		assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM), 0);
		assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 0);
		assert_int_equal(rd(VIRTIO_MMIO_QUEUE_DESC_LOW), 0);
		wr(VIRTIO_MMIO_QUEUE_NOTIFY, sels[i]);
	}
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FOK);
	for (i = 0; i < VIRTIO_MAX_QUEUES; i++)
		assert_false(e.f.dev.vq[i].enabled);
	assert_int_equal(dispatch(0), 0);
	/* Queue 1 exists and has its own registers. */
	wr(VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), QMAX);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM), 0);
}

static int count_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(dir);
	while ((de = readdir(dir)))
		n += de->d_name[0] != '.';
	closedir(dir);
	return n;
}

/* virtio_dev_requeue: the queue's handler runs again on a later pass, without a guest kick. */
static void test_requeue(void **state)
{
	eventfd_t v;
	unsigned int i;

	(void)state;
	bring_up();
	e.f.budget = 2;
	for (i = 0; i < 5; i++)
		post(16);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(dispatch(0), 1);
	assert_int_equal(e.f.popped, 2);
	/* Raised again: the next pass runs it, and the one after. */
	assert_int_equal(dispatch(0), 1);
	assert_int_equal(e.f.popped, 4);
	assert_int_equal(dispatch(0), 1);
	assert_int_equal(e.f.popped, 5);
	assert_int_equal(e.f.notifies[0], 3);
	/* Nothing left: not raised, the loop is quiet. */
	assert_int_equal(dispatch(0), 0);
	assert_int_equal(used_idx(), 5);
	/* Queues the device does not have are ignored. */
	pthread_mutex_lock(&e.f.dev.lock);
	virtio_dev_requeue(&e.f.dev, NQ);
	virtio_dev_requeue(&e.f.dev, VIRTIO_MAX_QUEUES + 3);
	pthread_mutex_unlock(&e.f.dev.lock);
	assert_int_equal(dispatch(0), 0);
	/* A requeue that finds the device reset calls nothing. */
	pthread_mutex_lock(&e.f.dev.lock);
	virtio_dev_requeue(&e.f.dev, 0);
	pthread_mutex_unlock(&e.f.dev.lock);
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(dispatch(0), 1);
	assert_int_equal(e.f.notifies[0], 3);
	assert_int_equal(eventfd_read(e.f.dev.kick_fd[0], &v), -1);
}

static void test_attach_unwinds(void **state)
{
	struct fake g;
	int before;

	(void)state;
	assert_int_equal(virtio_dev_init(&g.dev, &fake_ops, "virtio-fake 1", NQ, QMAX, 0, 0), 0);
	before = count_fds();
	/* Overlapping the first device: refused by the bus, every fd closed again. */
	assert_int_equal(virtio_mmio_attach(&g.dev, &e.v.host, BASE + 0x800, GSI), -EINVAL);
	assert_int_equal(count_fds(), before);
	assert_int_equal(g.dev.irq_fd, -1);
	assert_int_equal(g.dev.kick_fd[0], -1);
	/* Somewhere else it works, and detach gives everything back. */
	assert_int_equal(virtio_mmio_attach(&g.dev, &e.v.host, BASE + VIRTIO_MMIO_SIZE, GSI), 0);
	assert_true(count_fds() > before);
	virtio_mmio_detach(&g.dev);
	assert_int_equal(count_fds(), before);
	pthread_mutex_destroy(&g.dev.lock);

	/* Bad init parameters. */
	assert_int_equal(virtio_dev_init(&g.dev, &fake_ops, "x", 0, QMAX, 0, 0), -EINVAL);
	assert_int_equal(virtio_dev_init(&g.dev, &fake_ops, "x", VIRTIO_MAX_QUEUES + 1, QMAX, 0, 0),
			 -EINVAL);
	assert_int_equal(virtio_dev_init(&g.dev, &fake_ops, "x", 1, 12, 0, 0), -EINVAL);
	assert_int_equal(virtio_dev_init(&g.dev, &fake_ops, "x", 1, 0, 0, 0), -EINVAL);
	assert_int_equal(virtio_dev_init(&g.dev, &fake_ops, "x", 1, VIRTQ_MAX_SIZE * 2, 0, 0),
			 -EINVAL);
	assert_int_equal(virtio_dev_init(&g.dev, &fake_ops, "x", 1, 16, 0, 0xf01), -EINVAL);
}

/* ---- the second window: claimed by the first driver, a placeholder for the other ---- */

static int setup_alias(void **state)
{
	if (setup(state))
		return -1;
	return virtio_mmio_alias(&e.f.dev, ALIAS);
}

/* A 32-bit access through the bus, as the guest makes it at window base win. */
static uint32_t bus_rd(uint64_t win, uint64_t off)
{
	uint8_t b[4] = { 0xa5, 0xa5, 0xa5, 0xa5 };

	assert_true(bus_read(&e.v.mmio, win + off, b, 4));
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void bus_wr(uint64_t win, uint64_t off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	assert_true(bus_write(&e.v.mmio, win + off, b, 4));
}

/* What Linux's virtio_mmio_probe reads, in its order: the DeviceID it finds (0: no function). */
static uint32_t linux_probe(uint64_t win)
{
	assert_int_equal(bus_rd(win, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(bus_rd(win, VIRTIO_MMIO_VERSION), 2);
	return bus_rd(win, VIRTIO_MMIO_DEVICE_ID);
}

/* Window w is the placeholder: identity right, DeviceID and every other register 0, writes lost. */
static void check_placeholder(uint64_t w, uint64_t other)
{
	unsigned int reads = e.f.cfg_reads, writes = e.f.cfg_writes, notifies = e.f.notifies[0];
	uint32_t status = bus_rd(other, VIRTIO_MMIO_STATUS);
	uint8_t b[8];

	assert_int_equal(linux_probe(w), 0);
	assert_int_equal(bus_rd(w, VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR);
	assert_int_equal(bus_rd(w, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	assert_int_equal(bus_rd(w, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	assert_int_equal(bus_rd(w, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(bus_rd(w, VIRTIO_MMIO_SHM_LEN_LOW), 0);
	assert_int_equal(bus_rd(w, VIRTIO_MMIO_CONFIG), 0);
	memset(b, 0xa5, sizeof(b));
	assert_true(bus_read(&e.v.mmio, w + VIRTIO_MMIO_CONFIG, b, 8));
	assert_memory_equal(b, "\0\0\0\0\0\0\0\0", 8);
	assert_int_equal(e.f.cfg_reads, reads);
	/* Writes go nowhere: the status, the config space and the queues are the other window's. */
	bus_wr(w, VIRTIO_MMIO_STATUS, 0);
	bus_wr(w, VIRTIO_MMIO_STATUS, S_ACK);
	bus_wr(w, VIRTIO_MMIO_CONFIG, 0xdeadbeef);
	bus_wr(w, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(bus_rd(other, VIRTIO_MMIO_STATUS), status);
	assert_int_equal(e.f.cfg_writes, writes);
	assert_int_equal(dispatch(0), 0);
	assert_int_equal(e.f.notifies[0], notifies);
}

/* The device behind window w works: a whole bring-up and one request through it. */
static void check_device(uint64_t w)
{
	uint32_t cfg;

	assert_int_equal(linux_probe(w), 42);
	assert_int_equal(bus_rd(w, VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR);
	bus_wr(w, VIRTIO_MMIO_STATUS, 0);
	bus_wr(w, VIRTIO_MMIO_STATUS, S_ACK);
	bus_wr(w, VIRTIO_MMIO_STATUS, S_ACK | S_DRV);
	bus_wr(w, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	bus_wr(w, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	bus_wr(w, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK);
	assert_int_equal(bus_rd(w, VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FOK);
	bus_wr(w, VIRTIO_MMIO_QUEUE_SEL, 0);
	bus_wr(w, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	bus_wr(w, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)DESC);
	bus_wr(w, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)AVAIL);
	bus_wr(w, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)USED);
	bus_wr(w, VIRTIO_MMIO_QUEUE_READY, 1);
	bus_wr(w, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(bus_rd(w, VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(e.f.activates, 1);
	cfg = bus_rd(w, VIRTIO_MMIO_CONFIG);
	assert_int_equal(cfg, 0x44332211);
	post(64);
	bus_wr(w, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(dispatch(1000), 1);
	assert_int_equal(e.f.notifies[0], 1);
	assert_int_equal(used_idx(), 1);
}

/* A kernel reading the DSDT first (the window at BASE), then the command line (ALIAS). */
static void test_alias_first_window_claims(void **state)
{
	(void)state;
	assert_int_equal(linux_probe(BASE), 42);
	check_placeholder(ALIAS, BASE);
	check_device(BASE);
	/* Still so after the device was reset and brought up: the claim lasts. */
	check_placeholder(ALIAS, BASE);
}

/* The reverse: a kernel that finds the device on the command line first. */
static void test_alias_second_window_claims(void **state)
{
	(void)state;
	assert_int_equal(linux_probe(ALIAS), 42);
	check_placeholder(BASE, ALIAS);
	check_device(ALIAS);
	check_placeholder(BASE, ALIAS);
}

/* Identification reads claim nothing; the first other access does, a write too. */
static void test_alias_claim_rules(void **state)
{
	(void)state;
	assert_int_equal(bus_rd(BASE, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(bus_rd(BASE, VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(bus_rd(BASE, VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR);
	assert_int_equal(e.f.dev.owner, -1);
	bus_wr(ALIAS, VIRTIO_MMIO_STATUS, S_ACK);
	assert_int_equal(e.f.dev.owner, 1);
	assert_int_equal(bus_rd(ALIAS, VIRTIO_MMIO_STATUS), S_ACK);
	assert_int_equal(linux_probe(BASE), 0);
	assert_int_equal(linux_probe(ALIAS), 42);
}

/* Without a second window the device is its one window, as before. */
static void test_alias_none(void **state)
{
	(void)state;
	assert_int_equal(linux_probe(BASE), 42);
	assert_false(bus_read(&e.v.mmio, ALIAS, (uint8_t[4]){ 0 }, 4));
	check_device(BASE);
}

static void test_alias_refused(void **state)
{
	char *log;

	(void)state;
	virtio_env_capture_start();
	assert_int_equal(virtio_mmio_alias(&e.f.dev, 0), -EINVAL);
	assert_int_equal(virtio_mmio_alias(&e.f.dev, BASE), -EINVAL);
	/* Overlapping the first window on the bus. */
	assert_int_not_equal(virtio_mmio_alias(&e.f.dev, BASE + 0x800), 0);
	assert_int_equal(virtio_mmio_alias(&e.f.dev, ALIAS), 0);
	assert_int_equal(virtio_mmio_alias(&e.f.dev, ALIAS + VIRTIO_MMIO_SIZE), -EINVAL);
	log = virtio_env_capture_end();
	assert_non_null(strstr(log, "virtio-fake 0: cannot add a second window at 0xd0000000"));
	assert_int_equal(e.f.dev.alias, ALIAS);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TA(fn) cmocka_unit_test_setup_teardown(fn, setup_alias, teardown)
	const struct CMUnitTest tests[] = {
		T(test_ids),
		T(test_feature_windows),
		T(test_happy_path),
		T(test_kick_before_driver_ok),
	T(test_features_refused),
		T(test_queue_window),
		T(test_queue_num),
		T(test_ready_outside_ram),
		T(test_status_machine),
		T(test_reset),
		T(test_fail),
		T(test_activate_fails),
		T(test_interrupt_ack),
		T(test_config_space),
		T(test_bad_widths),
		T(test_queue_sel_beyond),
		T(test_requeue),
		T(test_attach_unwinds),
		TA(test_alias_first_window_claims),
		TA(test_alias_second_window_claims),
		TA(test_alias_claim_rules),
		T(test_alias_none),
		T(test_alias_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
