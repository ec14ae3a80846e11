/* Unit tests for virtio-mem: hostile requests, its queue, the hotplug region's memory, settings. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/x86_64/x86.h"
#include "tests/unit/virtio_env.h"
#include "virtio/mem/internal.h"
#include "vmm/config.h"
#include "vmm/vm.h"

#define BASE 0xd0000000ULL
#define GSI 7
#define RAM_GPA 0x100000ULL /* rings and requests */
#define RAM_SIZE 0x40000ULL
#define DESC (RAM_GPA)
#define AVAIL (RAM_GPA + 0x1000)
#define USED (RAM_GPA + 0x1800)
#define BUF (RAM_GPA + 0x10000)
#define QSIZE 64
/* The hotplug region: 16 blocks of 1 MiB at 4 GiB (the device takes its shape from it). */
#define HP_GPA 0x100000000ULL
#define BLK (1ULL << 20)
#define NBLK 16
#define PG 4096ULL

#define S_ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV VIRTIO_CONFIG_S_DRIVER
#define S_FOK VIRTIO_CONFIG_S_FEATURES_OK
#define S_DOK VIRTIO_CONFIG_S_DRIVER_OK
#define F_INACC (1ULL << VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE)
#define F_ALL (F_INACC | (1ULL << VIRTIO_F_VERSION_1))

static struct env {
	struct virtio_env v;
	struct gmem_hp hp;
	struct vmem *m;
	struct virtio_dev *d;
	unsigned int pulses;
	uint16_t avail_idx, next_desc;
} e;

static void rec_irq(void *opaque, unsigned int irq, int level)
{
	struct env *en = opaque;

	assert_int_equal(irq, GSI);
	en->pulses += level;
}

static int setup(void **state)
{
	(void)state;
	memset(&e, 0, sizeof(e));
	if (virtio_env_init(&e.v, RAM_GPA, RAM_SIZE, rec_irq, &e) ||
	    gmem_hp_map(&e.hp, "test-hotplug", HP_GPA, BLK, NBLK) ||
	    gmem_add_hotplug(&e.v.mem, &e.hp))
		return -1;
	e.v.host.hotplug = &e.hp;
	if (vmem_create(&e.v.host, &e.m) || virtio_mmio_attach(vmem_dev(e.m), &e.v.host, BASE, GSI))
		return -1;
	e.d = vmem_dev(e.m);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vmem_destroy(e.m);
	gmem_hp_unmap(&e.hp);
	virtio_env_fini(&e.v);
	return 0;
}

static uint32_t rd(uint64_t off)
{
	return virtio_env_rd(e.d, off);
}

static void wr(uint64_t off, uint32_t v)
{
	virtio_env_wr(e.d, off, v);
}

static const struct virtio_drv drv = { rd, wr };

static uint64_t config64(uint32_t off)
{
	return rd(VIRTIO_MMIO_CONFIG + off) | (uint64_t)rd(VIRTIO_MMIO_CONFIG + off + 4) << 32;
}

/*
 * Can the process read p? process_vm_readv() on itself tells without a signal (EFAULT when it
 * cannot), and Valgrind does not take the probe of an inaccessible page for a bug.
 */
static bool readable(void *p)
{
	char c;
	struct iovec local = { &c, 1 }, remote = { p, 1 };
	ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);

	if (n != 1)
		assert_int_equal(errno, EFAULT);
	return n == 1;
}

static bool resident(uint8_t *p)
{
	unsigned char v;

	assert_int_equal(mincore(p, PG, &v), 0);
	return v & 1;
}

/* One request straight to the handler (as the queue does, lock held): its response type. */
static uint16_t req(uint16_t type, uint64_t addr, uint16_t nb, uint16_t *st)
{
	struct virtio_mem_req r = { .type = htole16(type) };
	uint16_t state = 0, ret;

	r.u.plug.addr = htole64(addr);
	r.u.plug.nb_blocks = htole16(nb);
	pthread_mutex_lock(&e.d->lock);
	ret = vmem_handle(e.m, &r, &state);
	pthread_mutex_unlock(&e.d->lock);
	if (st)
		*st = state;
	return ret;
}

static uint64_t plugged(void)
{
	struct vmem_status s;

	assert_int_equal(vmem_status(e.d, &s), 0);
	return s.plugged;
}

/* --- the device and its configuration ----------------------------------------------------- */

static void test_device(void **state)
{
	struct virtio_dev other = { 0 };
	struct vmem_status s;
	uint32_t gen;

	(void)state;
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_MEM);
	assert_true(virtio_drv_offered(&drv) & F_INACC);
	/* A driver that would not keep away from unplugged memory is refused. */
	assert_false(virtio_drv_negotiate(&drv, F_ALL & ~F_INACC) & S_FOK);
	assert_int_equal(virtio_drv_negotiate(&drv, F_ALL), S_ACK | S_DRV | S_FOK);

	assert_true(config64(0) == BLK);                 /* block_size */
	assert_int_equal(rd(VIRTIO_MMIO_CONFIG + 8) & 0xffff, 0); /* node_id */
	assert_true(config64(16) == HP_GPA);             /* addr */
	assert_true(config64(24) == NBLK * BLK);         /* region_size */
	assert_true(config64(32) == NBLK * BLK);         /* usable_region_size */
	assert_true(config64(40) == 0);                  /* plugged_size */
	assert_true(config64(48) == 0);                  /* requested_size */
	/* Past the config space: nothing. */
	assert_int_equal(rd(VIRTIO_MMIO_CONFIG + sizeof(struct virtio_mem_config)), 0);

	/* requested_size: whole blocks inside the region; a change is a config interrupt. */
	virtio_drv_queue(&drv, 0, QSIZE, DESC, AVAIL, USED);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(virtio_drv_driver_ok(&drv), S_ACK | S_DRV | S_FOK | S_DOK);
	while (virtio_env_dispatch(&e.v, 0) > 0)
		;
	e.pulses = 0;
	gen = rd(VIRTIO_MMIO_CONFIG_GENERATION);
	assert_int_equal(vmem_request(e.d, 3 * BLK), 0);
	assert_true(config64(48) == 3 * BLK);
	assert_int_equal(e.pulses, 1);
	assert_true(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	assert_int_not_equal(rd(VIRTIO_MMIO_CONFIG_GENERATION), gen);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	/* The same size again: nothing to tell. */
	assert_int_equal(vmem_request(e.d, 3 * BLK), 0);
	assert_int_equal(e.pulses, 1);
	assert_int_equal(vmem_request(e.d, 3 * BLK + PG), -EINVAL);
	assert_int_equal(vmem_request(e.d, (NBLK + 1) * BLK), -ERANGE);
	assert_int_equal(vmem_request(e.d, UINT64_MAX - BLK + 1), -ERANGE);
	assert_true(config64(48) == 3 * BLK);
	assert_int_equal(vmem_request(e.d, NBLK * BLK), 0);
	assert_int_equal(vmem_status(e.d, &s), 0);
	assert_true(s.region == NBLK * BLK && s.plugged == 0 && s.requested == NBLK * BLK);
	/* The driver cannot write the configuration. */
	wr(VIRTIO_MMIO_CONFIG + 48, 0);
	assert_true(config64(48) == NBLK * BLK);
	/* Not a virtio-mem device. */
	assert_int_equal(vmem_request(&other, 0), -ENODEV);
	assert_int_equal(vmem_status(&other, &s), -ENODEV);
}

/* --- requests: the state machine, with hostile ones ---------------------------------------- */

static void test_plug_unplug(void **state)
{
	uint16_t st;

	(void)state;
	assert_int_equal(vmem_request(e.d, 4 * BLK), 0);
	assert_int_equal(req(VIRTIO_MEM_REQ_PLUG, HP_GPA, 2, NULL), VIRTIO_MEM_RESP_ACK);
	assert_true(plugged() == 2 * BLK);
	assert_true(config64(40) == 2 * BLK);
	/* Plugged again, or in part: an error, nothing changes. */
	assert_int_equal(req(VIRTIO_MEM_REQ_PLUG, HP_GPA, 1, NULL), VIRTIO_MEM_RESP_ERROR);
	assert_int_equal(req(VIRTIO_MEM_REQ_PLUG, HP_GPA + BLK, 2, NULL), VIRTIO_MEM_RESP_ERROR);
	assert_false(gmem_hp_is_plugged(&e.hp, 2));
	/* Past requested_size: NACK (the driver waits for a new size). */
	assert_int_equal(req(VIRTIO_MEM_REQ_PLUG, HP_GPA + 2 * BLK, 3, NULL), VIRTIO_MEM_RESP_NACK);
	assert_int_equal(req(VIRTIO_MEM_REQ_PLUG, HP_GPA + 2 * BLK, 2, NULL), VIRTIO_MEM_RESP_ACK);
	assert_true(plugged() == 4 * BLK);
	assert_int_equal(req(VIRTIO_MEM_REQ_PLUG, HP_GPA + 8 * BLK, 1, NULL), VIRTIO_MEM_RESP_NACK);

	/* Unplug: of plugged blocks only. */
	assert_int_equal(req(VIRTIO_MEM_REQ_UNPLUG, HP_GPA + 5 * BLK, 1, NULL),
			 VIRTIO_MEM_RESP_ERROR);
	assert_int_equal(req(VIRTIO_MEM_REQ_UNPLUG, HP_GPA + 3 * BLK, 2, NULL),
			 VIRTIO_MEM_RESP_ERROR);
	assert_true(plugged() == 4 * BLK);
	assert_int_equal(req(VIRTIO_MEM_REQ_UNPLUG, HP_GPA + BLK, 2, NULL), VIRTIO_MEM_RESP_ACK);
	assert_true(plugged() == 2 * BLK);
	assert_true(gmem_hp_is_plugged(&e.hp, 0) && !gmem_hp_is_plugged(&e.hp, 1) &&
		    !gmem_hp_is_plugged(&e.hp, 2) && gmem_hp_is_plugged(&e.hp, 3));
	/* A guest may unplug below requested_size, and plug back up to it. */
	assert_int_equal(req(VIRTIO_MEM_REQ_UNPLUG, HP_GPA + 3 * BLK, 1, NULL), VIRTIO_MEM_RESP_ACK);

	/* STATE: plugged, unplugged, mixed. */
	assert_int_equal(req(VIRTIO_MEM_REQ_STATE, HP_GPA, 1, &st), VIRTIO_MEM_RESP_ACK);
	assert_int_equal(st, VIRTIO_MEM_STATE_PLUGGED);
	assert_int_equal(req(VIRTIO_MEM_REQ_STATE, HP_GPA + BLK, NBLK - 1, &st),
			 VIRTIO_MEM_RESP_ACK);
	assert_int_equal(st, VIRTIO_MEM_STATE_UNPLUGGED);
	assert_int_equal(req(VIRTIO_MEM_REQ_STATE, HP_GPA, NBLK, &st), VIRTIO_MEM_RESP_ACK);
	assert_int_equal(st, VIRTIO_MEM_STATE_MIXED);

	/* A smaller requested_size leaves what is plugged; plugging more is refused. */
	assert_int_equal(vmem_request(e.d, 0), 0);
	assert_true(plugged() == BLK);
	assert_int_equal(req(VIRTIO_MEM_REQ_PLUG, HP_GPA + BLK, 1, NULL), VIRTIO_MEM_RESP_NACK);

	/* UNPLUG_ALL, whatever is plugged (nothing too). */
	assert_int_equal(req(VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0, NULL), VIRTIO_MEM_RESP_ACK);
	assert_true(plugged() == 0);
	assert_int_equal(req(VIRTIO_MEM_REQ_UNPLUG_ALL, ~0ULL, 0xffff, NULL), VIRTIO_MEM_RESP_ACK);
	assert_true(plugged() == 0 && config64(40) == 0);
	assert_int_equal(req(VIRTIO_MEM_REQ_STATE, HP_GPA, NBLK, &st), VIRTIO_MEM_RESP_ACK);
	assert_int_equal(st, VIRTIO_MEM_STATE_UNPLUGGED);
}

static void test_hostile_ranges(void **state)
{
	static const struct {
		uint64_t addr;
		uint16_t nb;
	} bad[] = {
		{ HP_GPA + PG, 1 },                  /* not block-aligned */
		{ HP_GPA + BLK / 2, 1 },
		{ HP_GPA - BLK, 1 },                 /* below the region */
		{ HP_GPA - BLK, 2 },                 /* ... reaching into it */
		{ 0, 1 },
		{ HP_GPA + NBLK * BLK, 1 },          /* just past it */
		{ HP_GPA + (NBLK - 1) * BLK, 2 },    /* running past its end */
		{ HP_GPA, NBLK + 1 },
		{ HP_GPA, 0xffff },                  /* absurd counts */
		{ HP_GPA, 0 },                       /* none at all */
		{ ~0ULL - BLK + 1, 1 },              /* aligned, but the end wraps */
		{ ~0ULL, 0xffff },
		{ HP_GPA + 0x8000000000000000ULL, 1 },
	};
	static const uint16_t types[] = { VIRTIO_MEM_REQ_PLUG, VIRTIO_MEM_REQ_UNPLUG,
					  VIRTIO_MEM_REQ_STATE };
	unsigned int i, t;
	uint16_t st;

	(void)state;
	assert_int_equal(vmem_request(e.d, NBLK * BLK), 0);
	for (t = 0; t < 3; t++) {
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			st = 0;
			assert_int_equal(req(types[t], bad[i].addr, bad[i].nb, &st),
					 VIRTIO_MEM_RESP_ERROR);
			assert_int_equal(st, 0);
		}
	}
	assert_true(plugged() == 0);
	/* Unknown request types. */
	assert_int_equal(req(4, HP_GPA, 1, NULL), VIRTIO_MEM_RESP_ERROR);
	assert_int_equal(req(0xffff, HP_GPA, 1, NULL), VIRTIO_MEM_RESP_ERROR);
	/* The whole region at once is fine, once. */
	assert_int_equal(req(VIRTIO_MEM_REQ_PLUG, HP_GPA, NBLK, NULL), VIRTIO_MEM_RESP_ACK);
	assert_true(plugged() == NBLK * BLK);
	assert_int_equal(req(VIRTIO_MEM_REQ_UNPLUG, HP_GPA, NBLK, NULL), VIRTIO_MEM_RESP_ACK);
	assert_true(plugged() == 0);
}

/* --- the region's memory: translation, the guest's view, the host's memory --------------- */

static void test_memory(void **state)
{
	uint8_t *h = e.hp.host, *g = e.hp.guest;

	(void)state;
	/* Unplugged: nothing translates, the guest's view is inaccessible. */
	assert_null(gmem_ptr(&e.v.mem, HP_GPA, 1));
	assert_null(gmem_ptr(&e.v.mem, HP_GPA + 5 * BLK + 17, 100));
	assert_false(readable(g));
	assert_false(readable(g + 5 * BLK));
	assert_int_equal(gmem_write(&e.v.mem, HP_GPA, "x", 1), -EFAULT);

	assert_int_equal(vmem_request(e.d, 3 * BLK), 0);
	assert_int_equal(req(VIRTIO_MEM_REQ_PLUG, HP_GPA + BLK, 2, NULL), VIRTIO_MEM_RESP_ACK);
	/* Plugged: translates (a buffer may span the two blocks), the guest may touch it. */
	assert_ptr_equal(gmem_ptr(&e.v.mem, HP_GPA + BLK, 2 * BLK), h + BLK);
	assert_ptr_equal(gmem_ptr(&e.v.mem, HP_GPA + 2 * BLK - 8, 16), h + 2 * BLK - 8);
	assert_int_equal(gmem_write(&e.v.mem, HP_GPA + BLK + 8, "hotplug", 8), 0);
	assert_string_equal((char *)g + BLK + 8, "hotplug"); /* one memory, two views */
	assert_true(readable(g + BLK) && readable(g + 3 * BLK - 1));
	/* A range that reaches an unplugged block, or past the region, does not. */
	assert_null(gmem_ptr(&e.v.mem, HP_GPA + BLK - 1, 2));
	assert_null(gmem_ptr(&e.v.mem, HP_GPA + 3 * BLK - 1, 2));
	assert_null(gmem_ptr(&e.v.mem, HP_GPA + BLK, 3 * BLK));
	assert_null(gmem_ptr(&e.v.mem, HP_GPA + BLK, ~0ULL));
	assert_null(gmem_ptr(&e.v.mem, HP_GPA + NBLK * BLK, 1));
	assert_false(readable(g) || readable(g + 3 * BLK));
	/* RAM translates as before. */
	assert_ptr_equal(gmem_ptr(&e.v.mem, RAM_GPA, 1), e.v.ram);

	/* The guest fills block 1; unplugged, its memory goes back and the guest cannot touch it. */
	memset(g + BLK, 0xa5, BLK);
	assert_true(resident(h + BLK) && resident(h + 2 * BLK - PG));
	assert_int_equal(req(VIRTIO_MEM_REQ_UNPLUG, HP_GPA + BLK, 1, NULL), VIRTIO_MEM_RESP_ACK);
	assert_false(resident(h + BLK) || resident(h + 2 * BLK - PG));
	assert_false(resident(g + BLK));
	assert_false(readable(g + BLK));
	assert_null(gmem_ptr(&e.v.mem, HP_GPA + BLK, 1));
	/* Block 2 kept what it had. */
	assert_true(readable(g + 2 * BLK));
	/* Plugged again, it reads zeros. */
	assert_int_equal(req(VIRTIO_MEM_REQ_PLUG, HP_GPA + BLK, 1, NULL), VIRTIO_MEM_RESP_ACK);
	assert_int_equal(g[BLK], 0);
	assert_int_equal(g[2 * BLK - 1], 0);
	assert_int_equal(req(VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0, NULL), VIRTIO_MEM_RESP_ACK);
	assert_false(readable(g + BLK) || readable(g + 2 * BLK));
	assert_false(resident(h + BLK));
}

/* The balloon's releases reach plugged hotplug memory (by address, or as a buffer it got). */
static void test_release(void **state)
{
	uint8_t *h = e.hp.host, *g = e.hp.guest;

	(void)state;
	assert_int_equal(vmem_request(e.d, 2 * BLK), 0);
	assert_int_equal(req(VIRTIO_MEM_REQ_PLUG, HP_GPA + 4 * BLK, 2, NULL), VIRTIO_MEM_RESP_ACK);
	memset(g + 4 * BLK, 1, 2 * BLK);
	/* Unplugged, in part or whole: refused, nothing released. */
	assert_int_equal(gmem_release(&e.v.mem, HP_GPA + 3 * BLK, 2 * PG), -EFAULT);
	assert_int_equal(gmem_release(&e.v.mem, HP_GPA + 4 * BLK - PG, 2 * PG), -EFAULT);
	assert_int_equal(gmem_release(&e.v.mem, HP_GPA + 6 * BLK - PG, 2 * PG), -EFAULT);
	assert_int_equal(gmem_release(&e.v.mem, HP_GPA + 4 * BLK, NBLK * BLK), -EFAULT);
	assert_int_equal(gmem_release_host(&e.v.mem, h + 6 * BLK - PG, 2 * PG), -EFAULT);
	assert_int_equal(gmem_release_host(&e.v.mem, h + NBLK * BLK - PG, 2 * PG), -EFAULT);
	assert_int_equal(gmem_release(&e.v.mem, HP_GPA + 4 * BLK + 8, PG), -EINVAL);
	assert_true(resident(h + 4 * BLK - 0) && resident(h + 6 * BLK - PG));
	/* Plugged: released, zeros next, the block stays plugged and the guest's. */
	assert_int_equal(gmem_release(&e.v.mem, HP_GPA + 4 * BLK, 3 * PG), 0);
	assert_false(resident(h + 4 * BLK) || resident(h + 4 * BLK + 2 * PG));
	assert_true(resident(h + 4 * BLK + 3 * PG));
	assert_int_equal(gmem_release_host(&e.v.mem, h + 5 * BLK - PG, 2 * PG), 0);
	assert_false(resident(h + 5 * BLK - PG) || resident(h + 5 * BLK));
	assert_true(readable(g + 4 * BLK));
	assert_int_equal(g[4 * BLK], 0);
	assert_int_equal(g[5 * BLK - 1], 0);
	assert_int_equal(g[5 * BLK + PG], 1);
	assert_true(plugged() == 2 * BLK);
}

static void test_region_shapes(void **state)
{
	struct gmem_hp hp;
	struct gmem m = { 0 };
	uint8_t ram[PG];
	unsigned int first;

	(void)state;
	assert_int_equal(gmem_hp_map(&hp, "t", HP_GPA, BLK, 0), -EINVAL);
	assert_int_equal(gmem_hp_map(&hp, "t", HP_GPA, BLK, GMEM_HP_MAX_BLOCKS + 1), -EINVAL);
	assert_int_equal(gmem_hp_map(&hp, "t", HP_GPA, 3 * PG, 2), -EINVAL);
	assert_int_equal(gmem_hp_map(&hp, "t", HP_GPA, 512, 2), -EINVAL);
	assert_int_equal(gmem_hp_map(&hp, "t", HP_GPA + PG, BLK, 2), -EINVAL);
	assert_int_equal(gmem_hp_map(&hp, "t", ~0ULL - BLK + 1, BLK, 2), -EINVAL);
	assert_int_equal(gmem_hp_map(&hp, "t", 0, 1ULL << 62, 4), -EINVAL);
	gmem_hp_unmap(&hp); /* safe after a failure */

	/* RAM and the region never overlap, whichever comes first; one region per gmem. */
	assert_int_equal(gmem_hp_map(&hp, "t", HP_GPA, BLK, 4), 0);
	assert_int_equal(gmem_add(&m, HP_GPA - PG, PG, ram), 0);
	assert_int_equal(gmem_add_hotplug(&m, &hp), 0);
	assert_int_equal(gmem_add_hotplug(&m, &hp), -EINVAL);
	assert_int_equal(gmem_add(&m, HP_GPA + 3 * BLK, PG, ram), -EINVAL);
	assert_int_equal(gmem_add(&m, HP_GPA - 2 * PG, 3 * PG, ram), -EINVAL);
	assert_int_equal(gmem_add(&m, HP_GPA + 4 * BLK, PG, ram), 0);
	m = (struct gmem){ 0 };
	assert_int_equal(gmem_add(&m, HP_GPA + BLK, PG, ram), 0);
	assert_int_equal(gmem_add_hotplug(&m, &hp), -EINVAL);
	/* RAM's total and end know nothing of the region. */
	m = (struct gmem){ 0 };
	assert_int_equal(gmem_add(&m, 0, PG, ram), 0);
	assert_int_equal(gmem_add_hotplug(&m, &hp), 0);
	assert_true(gmem_total(&m) == PG && gmem_end(&m) == PG);

	/* Block ranges: overflow-proof whatever the values. */
	assert_true(gmem_hp_blocks(&hp, HP_GPA + BLK, 3, &first) && first == 1);
	assert_false(gmem_hp_blocks(&hp, HP_GPA + BLK, 4, &first));
	assert_false(gmem_hp_blocks(&hp, HP_GPA + BLK, UINT64_MAX, &first));
	assert_false(gmem_hp_blocks(&hp, HP_GPA + BLK, 0, &first));
	assert_false(gmem_hp_blocks(&hp, UINT64_MAX, 1, &first));
	assert_int_equal(gmem_hp_plug(&hp, 3, 2), -EINVAL);
	assert_int_equal(gmem_hp_plug(&hp, 5, 0), -EINVAL);
	assert_int_equal(gmem_hp_unplug(&hp, UINT32_MAX, 2), -EINVAL);
	assert_int_equal(gmem_hp_count(&hp, 2, UINT32_MAX), 0);
	gmem_hp_unmap(&hp);
	gmem_hp_unmap(&hp);
}

/* --- the queue ---------------------------------------------------------------------------- */

static void *gpa(uint64_t a)
{
	return gmem_ptr(&e.v.mem, a, 1);
}

static void bring_up(void)
{
	memset(e.v.ram, 0, BUF - RAM_GPA);
	e.avail_idx = e.next_desc = 0;
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(virtio_drv_negotiate(&drv, F_ALL), S_ACK | S_DRV | S_FOK);
	virtio_drv_queue(&drv, 0, QSIZE, DESC, AVAIL, USED);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(virtio_drv_driver_ok(&drv), S_ACK | S_DRV | S_FOK | S_DOK);
	while (virtio_env_dispatch(&e.v, 0) > 0)
		;
}

/* A chain of a request (out_len bytes at BUF + off) and a response buffer (in_len bytes). */
static void post(uint64_t off, uint32_t out_len, uint32_t in_len, uint16_t type, uint64_t addr,
		 uint16_t nb)
{
	struct vring_desc *desc = gpa(DESC);
	struct vring_avail *a = gpa(AVAIL);
	struct virtio_mem_req *r = gpa(BUF + off);
	uint16_t head = e.next_desc % QSIZE, d2 = (e.next_desc + 1) % QSIZE;

	*r = (struct virtio_mem_req){ .type = htole16(type) };
	r->u.plug.addr = htole64(addr);
	r->u.plug.nb_blocks = htole16(nb);
	memset((uint8_t *)r + 64, 0xee, 64);
	desc[head] = (struct vring_desc){ .addr = BUF + off, .len = out_len,
					  .flags = in_len ? VRING_DESC_F_NEXT : 0, .next = d2 };
	desc[d2] = (struct vring_desc){ .addr = BUF + off + 64, .len = in_len,
					.flags = VRING_DESC_F_WRITE };
	e.next_desc += in_len ? 2 : 1;
	a->ring[e.avail_idx % QSIZE] = head;
	__atomic_store_n(&a->idx, ++e.avail_idx, __ATOMIC_RELEASE);
}

static void kick(void)
{
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	while (virtio_env_dispatch(&e.v, 0) > 0)
		;
}

static uint16_t used_idx(void)
{
	return __atomic_load_n(&((struct vring_used *)gpa(USED))->idx, __ATOMIC_ACQUIRE);
}

static struct virtio_mem_resp *resp_at(uint64_t off)
{
	return gpa(BUF + off + 64);
}

static uint64_t huge_available(void)
{
	struct gmem_huge_pool pool;

	assert_int_equal(gmem_huge_pool_read(GMEM_HUGE_SYSFS, &pool), 0);
	return gmem_huge_available(&pool);
}

/*
 * A region in huge pages costs no pages until plugged; a plug the host's pool cannot serve
 * fails whole (-ENOSPC) and leaves the blocks unplugged; unplugging gives the pages back. Hull's
 * view of an unplugged block is anonymous memory a stale pointer may write without a fault.
 * Which of the two paths runs depends on the host's pool (none on most development hosts).
 */
static void test_region_huge(void **state)
{
	uint64_t hb = GMEM_HUGE_PAGE, before;
	struct gmem_hp hp;
	struct gmem m = { 0 };

	(void)state;
	assert_int_equal(gmem_hp_map_huge(&hp, "t", HP_GPA, BLK / 2, 4), -EINVAL);
	assert_int_equal(gmem_hp_map_huge(&hp, "t", HP_GPA + BLK, hb, 4), -EINVAL);
	gmem_hp_unmap(&hp);
	before = huge_available();
	assert_int_equal(gmem_hp_map_huge(&hp, "t", HP_GPA, hb, 4), 0);
	assert_true(hp.huge && hp.fd >= 0);
	assert_int_equal(huge_available(), before); /* nothing reserved */
	assert_int_equal(gmem_add_hotplug(&m, &hp), 0);
	memset(hp.host + hb, 0xa5, hb); /* a stale pointer's write: harmless */
	assert_null(gmem_ptr(&m, HP_GPA + hb, 1));
	if (before < 2) {
		assert_int_equal(gmem_hp_plug(&hp, 1, 2), -ENOSPC);
		assert_int_equal(huge_available(), before); /* a page it got went back */
		assert_int_equal(hp.nplugged, 0);
		assert_int_equal(gmem_hp_count(&hp, 0, 4), 0);
		assert_null(gmem_ptr(&m, HP_GPA + hb, 1));
		memset(hp.host, 0x5a, 4 * hb);
	} else {
		assert_int_equal(gmem_hp_plug(&hp, 1, 2), 0);
		assert_int_equal(huge_available(), before - 2);
		/* Fresh pages, not the stand-in's bytes; one memory in both views. */
		assert_int_equal(*(uint8_t *)gmem_ptr(&m, HP_GPA + hb, 1), 0);
		memset(gmem_ptr(&m, HP_GPA + hb, 2 * hb), 7, 2 * hb);
		assert_int_equal(hp.guest[2 * hb + 5], 7);
		assert_int_equal(gmem_hp_unplug(&hp, 0, 4), 0);
		assert_int_equal(huge_available(), before);
		assert_null(gmem_ptr(&m, HP_GPA + hb, 1));
		memset(hp.host, 0x5a, 4 * hb);
		assert_int_equal(huge_available(), before);
	}
	gmem_hp_unmap(&hp);
	assert_int_equal(hp.size, 0);
}

static void test_queue(void **state)
{
	struct vring_used *u;
	unsigned int i;

	(void)state;
	bring_up();
	assert_int_equal(vmem_request(e.d, 2 * BLK), 0);
	post(0, sizeof(struct virtio_mem_req), sizeof(struct virtio_mem_resp), VIRTIO_MEM_REQ_PLUG,
	     HP_GPA, 2);
	post(256, sizeof(struct virtio_mem_req), 64, VIRTIO_MEM_REQ_STATE, HP_GPA, 3);
	post(512, sizeof(struct virtio_mem_req), sizeof(struct virtio_mem_resp),
	     VIRTIO_MEM_REQ_PLUG, HP_GPA + 2 * BLK, 1);
	kick();
	assert_int_equal(used_idx(), 3);
	u = gpa(USED);
	for (i = 0; i < 3; i++)
		assert_int_equal(u->ring[i].len, sizeof(struct virtio_mem_resp));
	assert_int_equal(le16toh(resp_at(0)->type), VIRTIO_MEM_RESP_ACK);
	assert_int_equal(le16toh(resp_at(256)->type), VIRTIO_MEM_RESP_ACK);
	assert_int_equal(le16toh(resp_at(256)->u.state.state), VIRTIO_MEM_STATE_MIXED);
	/* Only the response is written: the rest of a larger buffer stays the driver's. */
	assert_int_equal(((uint8_t *)resp_at(256))[sizeof(struct virtio_mem_resp)], 0xee);
	assert_int_equal(le16toh(resp_at(512)->type), VIRTIO_MEM_RESP_NACK);
	assert_true(plugged() == 2 * BLK);
	assert_false(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);

	/* A request too short to read: the driver broke the device, nothing was done. */
	post(0, 8, sizeof(struct virtio_mem_resp), VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0);
	kick();
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_true(plugged() == 2 * BLK);

	/* No room for the response: the same. */
	bring_up();
	post(0, sizeof(struct virtio_mem_req), 4, VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0);
	kick();
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_true(plugged() == 2 * BLK);
	/* No response buffer at all. */
	bring_up();
	post(0, sizeof(struct virtio_mem_req), 0, VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0);
	kick();
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_true(plugged() == 2 * BLK);

	/* A reset keeps the blocks plugged: the guest may still use them (it unplugs all next). */
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_true(plugged() == 2 * BLK);
	assert_true(config64(40) == 2 * BLK);
	bring_up();
	post(0, sizeof(struct virtio_mem_req), sizeof(struct virtio_mem_resp),
	     VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0);
	kick();
	assert_int_equal(le16toh(resp_at(0)->type), VIRTIO_MEM_RESP_ACK);
	assert_true(plugged() == 0);
}

/* A flood of requests: each kick serves a bounded number, the rest on later passes. */
static void test_queue_budget(void **state)
{
	unsigned int i;

	(void)state;
	bring_up();
	assert_int_equal(vmem_request(e.d, NBLK * BLK), 0);
	for (i = 0; i < QSIZE / 2; i++)
		post(i * 128, sizeof(struct virtio_mem_req), sizeof(struct virtio_mem_resp),
		     i % 2 ? VIRTIO_MEM_REQ_UNPLUG : VIRTIO_MEM_REQ_PLUG, HP_GPA, NBLK);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	virtio_env_dispatch(&e.v, 0);
	assert_true(used_idx() > 0);
	assert_true(used_idx() <= VIRTIO_NOTIFY_BUDGET);
	while (virtio_env_dispatch(&e.v, 0) > 0)
		;
	assert_int_equal(used_idx(), QSIZE / 2);
	for (i = 0; i < QSIZE / 2; i++)
		assert_int_equal(le16toh(resp_at(i * 128)->type), VIRTIO_MEM_RESP_ACK);
	assert_true(plugged() == 0);
}

/* --- settings: --max-memory, the command line, the memory map ---------------------------- */

static void test_settings(void **state)
{
	struct vm_config c;
	char err[256], *line = NULL;
	uint64_t host;

	(void)state;
	config_init(&c);
	assert_int_equal(config_set(&c, "memory", "512M", err, sizeof(err)), 0);
	assert_true(config_hotplug_size(&c) == 0);
	assert_int_equal(config_ndevs(&c), c.ndevs);
	host = vm_host_mem(&c);
	assert_int_equal(config_set(&c, "max-memory", "2G", err, sizeof(err)), 0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	assert_true(config_hotplug_size(&c) == 1536ULL << 20);
	assert_int_equal(config_ndevs(&c), c.ndevs + 1);
	/* --cgroup's memory.max: the whole region, plugged, and its page tables both ways. */
	assert_true(vm_host_mem(&c) - host == (1536ULL << 20) + 2 * ((1536ULL << 20) / 512));
	/* Rounded up to whole blocks. */
	assert_int_equal(config_set(&c, "max-memory", "700M", err, sizeof(err)), 0);
	assert_true(config_hotplug_size(&c) == VMEM_BLOCK_SIZE * 2);

	/* The guest's command line asks for movable onlining, unless it says otherwise. */
	assert_int_equal(vm_cmdline(&c, 0, 4096, &line), 0);
	assert_non_null(strstr(line, " memhp_default_state=online_movable"));
	free(line);
	free(c.cmdline);
	c.cmdline = strdup("console=ttyS0 memhp_default_state=online");
	assert_int_equal(vm_cmdline(&c, 0, 4096, &line), 0);
	assert_string_equal(line, "console=ttyS0 memhp_default_state=online");
	free(line);
	free(c.cmdline);
	c.cmdline = strdup("console=ttyS0 xmemhp_default_state=offline");
	assert_int_equal(vm_cmdline(&c, 0, 4096, &line), 0);
	assert_non_null(strstr(line, " memhp_default_state=online_movable"));
	free(line);

	/* Not above memory, or past the limit: refused in the first pass, named. */
	assert_int_equal(config_set(&c, "max-memory", "512M", err, sizeof(err)), 0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "max-memory"));
	assert_non_null(strstr(err, "not above memory"));
	assert_int_equal(config_set(&c, "max-memory", "2T", err, sizeof(err)), 0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "too large"));
	assert_int_equal(config_set(&c, "max-memory", "0", err, sizeof(err)), 0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	assert_true(config_hotplug_size(&c) == 0);
	/* Without it, no memhp parameter. */
	free(c.cmdline);
	c.cmdline = strdup("console=ttyS0");
	assert_int_equal(vm_cmdline(&c, 0, 4096, &line), 0);
	assert_string_equal(line, "console=ttyS0");
	free(line);
	config_free(&c);
}

static void test_e820(void **state)
{
	struct e820_entry map[8];
	int n;

	(void)state;
	/* The region is above RAM (at 4 GiB at the lowest), block-aligned, and reserved: not RAM. */
	assert_true(arch_hotplug_base(512ULL << 20, VMEM_BLOCK_SIZE) == 4ULL << 30);
	assert_true(arch_hotplug_base(6ULL << 30, VMEM_BLOCK_SIZE) == 7ULL << 30);
	assert_true(arch_hotplug_base((7ULL << 30) + (4 << 20), VMEM_BLOCK_SIZE) ==
		    (8ULL << 30) + VMEM_BLOCK_SIZE);
	n = x86_e820_build(&e.v.mem, map, 8);
	assert_true(n >= 2);
	assert_true(map[n - 1].addr == HP_GPA && map[n - 1].size == NBLK * BLK);
	assert_int_equal(map[n - 1].type, E820_RESERVED);
	while (--n > 0)
		assert_true(map[n - 1].type != E820_RAM ||
			    map[n - 1].addr + map[n - 1].size <= HP_GPA);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_device),     T(test_plug_unplug), T(test_hostile_ranges), T(test_memory),
		T(test_release),
		T(test_region_shapes), T(test_region_huge), T(test_queue), T(test_queue_budget),
		T(test_settings),
		T(test_e820),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
