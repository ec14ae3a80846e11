/* Unit tests for virtio-blk: request parsing, statuses, real io_uring I/O, locking, reset. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_mmio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/virtio_env.h"
#include "virtio/blk/internal.h"

#define BASE 0xd0000000ULL
#define GSI 5
#define RAM_GPA 0x100000ULL
#define RAM_SIZE (4ULL << 20)
#define DESC (RAM_GPA + 0x0)
#define AVAIL (RAM_GPA + 0x1000)
#define USED (RAM_GPA + 0x2000)
#define HDR (RAM_GPA + 0x4000)	/* 32 bytes per request slot */
#define STAT (RAM_GPA + 0x7000) /* 1 byte per request slot */
#define DATA (RAM_GPA + 0x10000)
#define TABLES (RAM_GPA + 0x200000) /* one 4 KiB indirect table per request slot */
#define SEG (RAM_GPA + 0x300000)    /* a size_max buffer that big requests alias */
#define HIGH_GPA (1ULL << 32)	    /* 16 MiB more RAM, for chains near 4 GiB */
#define HIGH_SIZE (16ULL << 20)
#define QSIZE 256
#define IMG_SIZE (1ULL << 20)
#define IMG_SECTORS (IMG_SIZE / 512)

#define S_ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV VIRTIO_CONFIG_S_DRIVER
#define S_FOK VIRTIO_CONFIG_S_FEATURES_OK
#define S_DOK VIRTIO_CONFIG_S_DRIVER_OK
#define BIT(n) (1ULL << (n))

static struct env {
	struct virtio_env v;
	unsigned int pulses;
	char path[64], path2[64];
	struct vblk *b, *b2;
	uint16_t avail_idx, next_desc, used_seen;
	uint64_t next_base; /* the bus cannot unregister: each device gets its own range */
	void *high;	    /* the HIGH_GPA region, when a test added it */
} e;

static void rec_irq(void *opaque, unsigned int irq, int level)
{
	(void)irq;
	if (level)
		((struct env *)opaque)->pulses++;
}

/* Sector s of a fresh image is filled with pattern(s). */
static uint8_t pattern(uint64_t s)
{
	return (uint8_t)(s * 7 + 0x5a);
}

static int make_image(char *path, const char *dir, uint64_t size)
{
	uint8_t sec[512];
	uint64_t s;
	int fd;

	snprintf(path, 64, "%s/hull-blk-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		return -1;
	for (s = 0; s < size / 512; s++) {
		memset(sec, pattern(s), sizeof(sec));
		if (pwrite(fd, sec, sizeof(sec), (off_t)(s * 512)) != sizeof(sec))
			return -1;
	}
	close(fd);
	return 0;
}

/* A sparse image of size bytes (zeros), quick to make at any size. */
static int make_sparse(char *path, uint64_t size)
{
	int fd;

	snprintf(path, 64, "/tmp/hull-blk-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		return -1;
	close(fd);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	memset(&e, 0, sizeof(e));
	if (virtio_env_init(&e.v, RAM_GPA, RAM_SIZE, rec_irq, &e))
		return -1;
	return make_image(e.path, "/tmp", IMG_SIZE);
}

static int teardown(void **state)
{
	(void)state;
	vblk_destroy(e.b);
	vblk_destroy(e.b2);
	if (e.high)
		munmap(e.high, HIGH_SIZE);
	unlink(e.path);
	if (e.path2[0])
		unlink(e.path2);
	virtio_env_fini(&e.v);
	return 0;
}

static int create(const char *path, bool ro, enum vblk_cache cache, const char *serial,
		  uint64_t base, struct vblk **out)
{
	struct vblk_config c = { .path = (char *)(uintptr_t)path, .ro = ro, .cache = cache };

	int ret;

	snprintf(c.serial, sizeof(c.serial), "%s", serial);
	ret = vblk_create(&c, 0, &e.v.host, out);
	if (!ret && (ret = virtio_mmio_attach(&(*out)->dev, &e.v.host, base, GSI))) {
		vblk_destroy(*out);
		*out = NULL;
	}
	return ret;
}

/* ---- stderr capture, to check the messages users see ---- */


/* ---- driver side ---- */

static uint32_t rd(uint64_t off)
{
	return virtio_env_rd(&e.b->dev, off);
}

static void wr(uint64_t off, uint32_t v)
{
	virtio_env_wr(&e.b->dev, off, v);
}

static const struct virtio_drv drv = { rd, wr };

static void *gpa(uint64_t a)
{
	return gmem_ptr(&e.v.mem, a, 1);
}

/* Reset, negotiate everything offered but refuse, set up queue 0, DRIVER_OK. */
static void driver_init(uint64_t refuse)
{
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(virtio_drv_negotiate(&drv, ~refuse), S_ACK | S_DRV | S_FOK);
	memset(gpa(DESC), 0, 0x3000);
	e.avail_idx = e.next_desc = e.used_seen = 0;
	virtio_drv_queue(&drv, 0, QSIZE, DESC, AVAIL, USED);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), VBLK_QUEUE_MAX);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(virtio_drv_driver_ok(&drv), S_ACK | S_DRV | S_FOK | S_DOK);
}

static void open_dev(bool ro, enum vblk_cache cache, const char *serial)
{
	assert_int_equal(create(e.path, ro, cache, serial, BASE + 0x100000 + e.next_base, &e.b), 0);
	e.next_base += VIRTIO_MMIO_SIZE;
	driver_init(0);
}

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool w;
};

static uint16_t make_avail(uint16_t head)
{
	struct vring_avail *a = gpa(AVAIL);

	a->ring[e.avail_idx % QSIZE] = head;
	__atomic_store_n(&a->idx, ++e.avail_idx, __ATOMIC_RELEASE);
	return head;
}

/* Chain n segments from the next free descriptors and make the chain available. */
static uint16_t post(const struct seg *s, unsigned int n)
{
	struct vring_desc *d = gpa(DESC);
	uint16_t head = e.next_desc;
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t k = (uint16_t)((head + i) % QSIZE);

		d[k] = (struct vring_desc){ .addr = s[i].gpa,
					    .len = s[i].len,
					    .flags =
						    (uint16_t)((s[i].w ? VRING_DESC_F_WRITE : 0) |
							       (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
					    .next = (uint16_t)((k + 1) % QSIZE) };
	}
	e.next_desc = (uint16_t)((head + n) % QSIZE);
	return make_avail(head);
}

/* The same chain in slot's indirect table: one ring descriptor, however many segments. */
static uint16_t post_indirect(unsigned int slot, const struct seg *s, unsigned int n)
{
	uint64_t t = TABLES + slot * 0x1000ULL;
	struct vring_desc *table = gmem_ptr(&e.v.mem, t, 16ULL * n), *d = gpa(DESC);
	uint16_t head = e.next_desc;
	unsigned int i;

	assert_true(n <= 256);
	for (i = 0; i < n; i++)
		table[i] = (struct vring_desc){
			.addr = s[i].gpa,
			.len = s[i].len,
			.flags = (uint16_t)((s[i].w ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = (uint16_t)(i + 1),
		};
	d[head] = (struct vring_desc){ .addr = t, .len = 16 * n, .flags = VRING_DESC_F_INDIRECT };
	e.next_desc = (uint16_t)((head + 1) % QSIZE);
	return make_avail(head);
}

static uint16_t used_idx(void)
{
	return __atomic_load_n(&((struct vring_used *)gpa(USED))->idx, __ATOMIC_ACQUIRE);
}

static int dispatch(int ms)
{
	return virtio_env_dispatch(&e.v, ms);
}

/* Kick and run the loop until n more chains are used (or 10 s pass). */
static void run(unsigned int n)
{
	time_t end = time(NULL) + 10;

	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	while ((uint16_t)(used_idx() - e.used_seen) < n && time(NULL) < end)
		dispatch(100);
	assert_int_equal((uint16_t)(used_idx() - e.used_seen), n);
}

/*
 * The guest kicks and the loop runs the queue's handler once (nothing is reaped). Whether
 * the handler raised the kick again to come back for more: its eventfd is read.
 */
static bool kick_once(void)
{
	struct loop_handler *k = &e.b->dev.kick_h[0];
	eventfd_t v;

	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	k->cb(&e.v.loop, k, EPOLLIN);
	return eventfd_read(k->fd, &v) == 0 && v > 0;
}

/* The used element for the k-th completion since the last take. */
static struct vring_used_elem take_used(void)
{
	struct vring_used *u = gpa(USED);

	return u->ring[e.used_seen++ % QSIZE];
}

static void header(unsigned int slot, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr *h = gpa(HDR + slot * 32);

	*h = (struct virtio_blk_outhdr){ .type = type, .sector = sector };
	*(uint8_t *)gpa(STAT + slot) = 0xee;
}

/* Post header + data + status for slot; data_in: the device writes the data. */
static uint16_t post_rq(unsigned int slot, uint32_t type, uint64_t sector, uint64_t data,
			uint32_t len, bool data_in)
{
	struct seg s[3];
	unsigned int n = 0;

	header(slot, type, sector);
	s[n++] = (struct seg){ HDR + slot * 32, 16, false };
	if (len)
		s[n++] = (struct seg){ data, len, data_in };
	s[n++] = (struct seg){ STAT + slot, 1, true };
	return post(s, n);
}

/*
 * A READ or WRITE in slot's indirect table: the header, n data segments of len bytes that all
 * alias the guest buffer at data (the last one last_len bytes), and the status byte.
 */
static uint16_t post_aliased(unsigned int slot, uint32_t type, uint64_t sector, uint64_t data,
			     uint32_t len, unsigned int n, uint32_t last_len)
{
	static struct seg s[256];
	unsigned int i;

	assert_true(n + 2 <= 256);
	header(slot, type, sector);
	s[0] = (struct seg){ HDR + slot * 32, 16, false };
	for (i = 0; i < n; i++)
		s[1 + i] =
			(struct seg){ data, i + 1 < n ? len : last_len, type == VIRTIO_BLK_T_IN };
	s[n + 1] = (struct seg){ STAT + slot, 1, true };
	return post_indirect(slot, s, n + 2);
}

/* One request, synchronously: returns the status byte; *used gets the used length. */
static uint8_t do_rq(uint32_t type, uint64_t sector, uint64_t data, uint32_t len, bool data_in,
		     uint32_t *used)
{
	uint16_t head = post_rq(0, type, sector, data, len, data_in);
	struct vring_used_elem u;

	run(1);
	u = take_used();
	assert_int_equal(u.id, head);
	if (used)
		*used = u.len;
	return *(uint8_t *)gpa(STAT);
}

static uint8_t do_zero(uint32_t type, uint64_t sector, uint32_t num, uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes *z = gpa(DATA);

	*z = (struct virtio_blk_discard_write_zeroes){ .sector = sector,
						       .num_sectors = num,
						       .flags = flags };
	return do_rq(type, 0, DATA, sizeof(*z), false, NULL);
}

static void file_read(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static bool all(const uint8_t *p, size_t len, uint8_t v)
{
	while (len--)
		if (*p++ != v)
			return false;
	return true;
}

/* ---- pure parsing ---- */

static struct vblk_req creq;

/* Classify a chain made of host buffers: out buffers then in buffers. */
static void classify(const struct vblk_disk *disk, struct iovec *out, unsigned int nout,
		     struct iovec *in, unsigned int nin)
{
	unsigned int i;

	memset(&creq, 0, sizeof(creq));
	creq.chain = (struct virtq_chain){
		.iov = creq.iov, .cap = VBLK_IOV_MAX, .nout = nout, .nin = nin
	};
	for (i = 0; i < nout; i++) {
		creq.iov[i] = out[i];
		creq.chain.out_len += out[i].iov_len;
	}
	for (i = 0; i < nin; i++) {
		creq.iov[nout + i] = in[i];
		creq.chain.in_len += in[i].iov_len;
	}
	vblk_classify(disk, &creq);
}

static void test_classify(void **state)
{
	struct vblk_disk disk = { .capacity = 100, .blk_size = 512 };
	struct virtio_blk_outhdr h = { .type = VIRTIO_BLK_T_IN, .sector = 98 };
	uint8_t data[1025], st[4];
	struct iovec out[2] = { { &h, 16 } }, in[2] = { { data, 1025 } };

	(void)state;
	/* The status shares the data buffer: data is everything but its last byte. */
	classify(&disk, out, 1, in, 1);
	assert_int_equal(creq.op, VBLK_OP_READ);
	assert_int_equal(creq.off, 98 * 512);
	assert_int_equal(creq.len, 1024);
	assert_int_equal(creq.ndata, 1);
	assert_ptr_equal(creq.data[0].iov_base, data);
	assert_int_equal(creq.data[0].iov_len, 1024);
	/* One sector more is past the end; sector + length wrapping 2^64 too. */
	h.sector = 99;
	classify(&disk, out, 1, in, 1);
	assert_int_equal(creq.op, VBLK_OP_DONE);
	assert_int_equal(creq.status, VIRTIO_BLK_S_IOERR);
	h.sector = UINT64_MAX - 1;
	classify(&disk, out, 1, in, 1);
	assert_int_equal(creq.status, VIRTIO_BLK_S_IOERR);
	h.sector = UINT64_MAX / 512 + 1; /* sector * 512 alone overflows */
	classify(&disk, out, 1, in, 1);
	assert_int_equal(creq.status, VIRTIO_BLK_S_IOERR);
	/* Length not a multiple of 512. */
	h.sector = 0;
	in[0].iov_len = 1000;
	classify(&disk, out, 1, in, 1);
	assert_int_equal(creq.status, VIRTIO_BLK_S_IOERR);
	/* Header split 3 + 13: still parsed; OUT data after it, status alone. */
	h.type = VIRTIO_BLK_T_OUT;
	h.sector = 4;
	out[0] = (struct iovec){ &h, 3 };
	out[1] = (struct iovec){ (uint8_t *)&h + 3, 13 };
	in[0] = (struct iovec){ st, 1 };
	classify(&disk, out, 2, in, 1);
	assert_int_equal(creq.op, VBLK_OP_DONE); /* no data: a zero-length write succeeds */
	assert_int_equal(creq.status, VIRTIO_BLK_S_OK);
	/* A write with two status bytes is malformed. */
	in[0].iov_len = 2;
	classify(&disk, out, 2, in, 1);
	assert_int_equal(creq.status, VIRTIO_BLK_S_IOERR);
	/* Read-only disk: writes fail, reads and flushes do not. */
	disk.ro = true;
	in[0].iov_len = 1;
	classify(&disk, out, 2, in, 1);
	assert_int_equal(creq.status, VIRTIO_BLK_S_IOERR);
	h.type = VIRTIO_BLK_T_FLUSH;
	classify(&disk, out, 2, in, 1);
	assert_int_equal(creq.op, VBLK_OP_FLUSH);
	disk.cache = VBLK_CACHE_UNSAFE;
	classify(&disk, out, 2, in, 1);
	assert_int_equal(creq.op, VBLK_OP_DONE);
	assert_int_equal(creq.status, VIRTIO_BLK_S_OK);
	/* Short header, no in part, unknown type. */
	out[0].iov_len = 15;
	classify(&disk, out, 1, in, 1);
	assert_int_equal(creq.status, VIRTIO_BLK_S_IOERR);
	classify(&disk, out, 2, in, 0);
	assert_int_equal(creq.op, VBLK_OP_DROP);
	h.type = 99;
	out[0].iov_len = 16;
	classify(&disk, out, 1, in, 1);
	assert_int_equal(creq.status, VIRTIO_BLK_S_UNSUPP);
}

/* ---- through the transport and io_uring ---- */

static void test_config_space(void **state)
{
	struct virtio_blk_config cfg;
	uint8_t b8[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint64_t f;
	unsigned int i;

	(void)state;
	open_dev(false, VBLK_CACHE_WRITEBACK, "");
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
	for (i = 0; i < VBLK_CONFIG_SIZE; i++)
		virtio_mmio_ops.read(&e.b->dev, VIRTIO_MMIO_CONFIG + i, (uint8_t *)&cfg + i, 1);
	assert_int_equal(cfg.capacity, IMG_SECTORS);
	assert_int_equal(cfg.seg_max, 254);
	assert_int_equal(cfg.size_max, VBLK_SIZE_MAX);
	assert_int_equal(cfg.blk_size, 512);
	assert_int_equal(cfg.max_discard_seg, 1);
	assert_int_equal(cfg.max_write_zeroes_seg, 1);
	assert_int_equal(cfg.discard_sector_alignment, 1);
	assert_true(cfg.max_discard_sectors > 0 && cfg.max_write_zeroes_sectors > 0);
	assert_int_equal(cfg.write_zeroes_may_unmap, 1);
	/* The driver cannot change it; beyond the config size reads nothing. */
	virtio_mmio_ops.write(&e.b->dev, VIRTIO_MMIO_CONFIG, b8, 8);
	virtio_mmio_ops.read(&e.b->dev, VIRTIO_MMIO_CONFIG, b8, 8);
	assert_int_equal(b8[0] | b8[1] << 8 | b8[2] << 16, IMG_SECTORS);
	virtio_mmio_ops.read(&e.b->dev, VIRTIO_MMIO_CONFIG + VBLK_CONFIG_SIZE, b8, 4);
	assert_true(all(b8, 4, 0));

	f = virtio_drv_offered(&drv);
	assert_true(f & BIT(VIRTIO_BLK_F_FLUSH));
	assert_false(f & BIT(VIRTIO_BLK_F_RO));
	assert_true(f & BIT(VIRTIO_BLK_F_SEG_MAX) && f & BIT(VIRTIO_BLK_F_SIZE_MAX) &&
		    f & BIT(VIRTIO_BLK_F_BLK_SIZE) && f & BIT(VIRTIO_BLK_F_DISCARD) &&
		    f & BIT(VIRTIO_BLK_F_WRITE_ZEROES) && f & BIT(VIRTIO_F_VERSION_1));
	assert_false(f & BIT(VIRTIO_BLK_F_MQ));
	vblk_destroy(e.b);
	e.b = NULL;

	assert_int_equal(create(e.path, true, VBLK_CACHE_UNSAFE, "", BASE + 0x1000, &e.b), 0);
	f = virtio_drv_offered(&drv);
	assert_true(f & BIT(VIRTIO_BLK_F_RO));
	assert_false(f & BIT(VIRTIO_BLK_F_FLUSH));
}

static void test_read_write(void **state)
{
	uint8_t *w = gpa(DATA), *r = gpa(DATA + 0x10000), file[4096];
	uint32_t used;
	unsigned int i;

	(void)state;
	open_dev(false, VBLK_CACHE_WRITEBACK, "");
	for (i = 0; i < 4096; i++)
		w[i] = (uint8_t)(i * 13 + 1);
	assert_int_equal(do_rq(VIRTIO_BLK_T_OUT, 10, DATA, 4096, false, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1);
	file_read(e.path, 10 * 512, file, sizeof(file));
	assert_memory_equal(file, w, 4096);
	assert_int_equal(do_rq(VIRTIO_BLK_T_IN, 10, DATA + 0x10000, 4096, true, &used),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(used, 4097);
	assert_memory_equal(r, w, 4096);
	/* Untouched sectors still hold the image's pattern. */
	assert_int_equal(do_rq(VIRTIO_BLK_T_IN, 18, DATA + 0x10000, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	assert_true(all(r, 512, pattern(18)));
	/* The last sector is inside; the one after is not. */
	assert_int_equal(do_rq(VIRTIO_BLK_T_IN, IMG_SECTORS - 1, DATA, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(do_rq(VIRTIO_BLK_T_IN, IMG_SECTORS, DATA, 512, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_true(e.pulses > 0);
	assert_int_equal(e.b->stats.reads, 3); /* the one past the end never became a read */
	assert_int_equal(e.b->stats.writes, 1);
	assert_int_equal(e.b->nfree, VBLK_QUEUE_MAX);
}

static void test_split_chains(void **state)
{
	uint8_t *buf = gpa(DATA), *st;
	struct seg s[6];
	struct vring_used_elem u;
	unsigned int i;

	(void)state;
	open_dev(false, VBLK_CACHE_WRITEBACK, "");
	/* Header split 5 + 11 across descriptors, data over odd-sized pieces. */
	header(0, VIRTIO_BLK_T_OUT, 20);
	for (i = 0; i < 1024; i++)
		buf[i] = (uint8_t)(i ^ 0xa5);
	s[0] = (struct seg){ HDR, 5, false };
	s[1] = (struct seg){ HDR + 5, 11, false };
	s[2] = (struct seg){ DATA, 100, false };
	s[3] = (struct seg){ DATA + 100, 700, false };
	s[4] = (struct seg){ DATA + 800, 224, false };
	s[5] = (struct seg){ STAT, 1, true };
	post(s, 6);
	run(1);
	u = take_used();
	assert_int_equal(u.len, 1);
	assert_int_equal(*(uint8_t *)gpa(STAT), VIRTIO_BLK_S_OK);

	/* Read back with the status byte sharing the last data descriptor. */
	header(0, VIRTIO_BLK_T_IN, 20);
	memset(gpa(DATA + 0x10000), 0, 2048);
	s[0] = (struct seg){ HDR, 16, false };
	s[1] = (struct seg){ DATA + 0x10000, 300, true };
	s[2] = (struct seg){ DATA + 0x10000 + 300, 725, true };
	post(s, 3);
	run(1);
	u = take_used();
	assert_int_equal(u.len, 1025);
	st = gpa(DATA + 0x10000 + 1024);
	assert_int_equal(*st, VIRTIO_BLK_S_OK);
	assert_memory_equal(gpa(DATA + 0x10000), buf, 1024);
}

static void test_flush_get_id(void **state)
{
	uint8_t *id = gpa(DATA);
	uint32_t used;

	(void)state;
	open_dev(false, VBLK_CACHE_WRITEBACK, "hull-serial-1");
	assert_int_equal(do_rq(VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1);
	assert_int_equal(e.b->stats.flushes, 1);
	memset(id, 0xcc, 32);
	assert_int_equal(do_rq(VIRTIO_BLK_T_GET_ID, 0, DATA, 20, true, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 21);
	assert_memory_equal(id, "hull-serial-1\0\0\0\0\0\0\0", 20);
	assert_int_equal(id[20], 0xcc);
	/* A shorter buffer gets what fits. */
	memset(id, 0xcc, 32);
	assert_int_equal(do_rq(VIRTIO_BLK_T_GET_ID, 0, DATA, 4, true, NULL), VIRTIO_BLK_S_OK);
	assert_memory_equal(id, "hull\xcc", 5);
	vblk_destroy(e.b);
	e.b = NULL;

	/* No serial: all zeros. A 20-character serial has no terminator. */
	open_dev(false, VBLK_CACHE_UNSAFE, "");
	memset(id, 0xcc, 32);
	assert_int_equal(do_rq(VIRTIO_BLK_T_GET_ID, 0, DATA, 20, true, NULL), VIRTIO_BLK_S_OK);
	assert_true(all(id, 20, 0));
	/* cache=unsafe: FLUSH not offered, but one sent anyway succeeds without I/O. */
	assert_int_equal(do_rq(VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	vblk_destroy(e.b);
	e.b = NULL;
	open_dev(false, VBLK_CACHE_WRITEBACK, "abcdefghijklmnopqrst");
	assert_int_equal(do_rq(VIRTIO_BLK_T_GET_ID, 0, DATA, 20, true, NULL), VIRTIO_BLK_S_OK);
	assert_memory_equal(id, "abcdefghijklmnopqrst", 20);
}

/* Sectors [s, s+n) read back as zero, and the sector after keeps its pattern. */
static void check_zeroed(uint64_t s, unsigned int n)
{
	uint8_t *r = gpa(DATA + 0x20000);

	assert_int_equal(do_rq(VIRTIO_BLK_T_IN, s, DATA + 0x20000, (n + 1) * 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	assert_true(all(r, n * 512, 0));
	assert_true(all(r + n * 512, 512, pattern(s + n)));
}

static void zero_ops(void)
{
	uint32_t unmap = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;

	assert_int_equal(do_zero(VIRTIO_BLK_T_WRITE_ZEROES, 100, 4, 0), VIRTIO_BLK_S_OK);
	check_zeroed(100, 4);
	assert_int_equal(do_zero(VIRTIO_BLK_T_WRITE_ZEROES, 200, 9, unmap), VIRTIO_BLK_S_OK);
	check_zeroed(200, 9);
	assert_int_equal(do_zero(VIRTIO_BLK_T_DISCARD, 300, 16, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(do_zero(VIRTIO_BLK_T_WRITE_ZEROES, IMG_SECTORS - 1, 1, 0),
			 VIRTIO_BLK_S_OK);
	/* Bad segments: UNMAP on discard, unknown flags, past the end, too long, two of them. */
	assert_int_equal(do_zero(VIRTIO_BLK_T_DISCARD, 300, 16, unmap), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_zero(VIRTIO_BLK_T_WRITE_ZEROES, 300, 16, 2), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_zero(VIRTIO_BLK_T_WRITE_ZEROES, IMG_SECTORS - 1, 2, 0),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_zero(VIRTIO_BLK_T_DISCARD, UINT64_MAX, 1, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_zero(VIRTIO_BLK_T_DISCARD, 0, VBLK_MAX_ZERO_SECTORS + 1, 0),
			 VIRTIO_BLK_S_IOERR);
	memset(gpa(DATA), 0, 32);
	assert_int_equal(do_rq(VIRTIO_BLK_T_DISCARD, 0, DATA, 32, false, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_rq(VIRTIO_BLK_T_DISCARD, 0, DATA, 20, false, NULL), VIRTIO_BLK_S_IOERR);
}

static void test_discard_write_zeroes(void **state)
{
	(void)state;
	open_dev(false, VBLK_CACHE_WRITEBACK, "");
	zero_ops();
	assert_false(e.b->no_zero_range); /* ext4 under /tmp zeroes ranges itself */
	vblk_destroy(e.b);
	e.b = NULL;
	/* tmpfs has no ZERO_RANGE: WRITE_ZEROES falls back to punching a hole. */
	unlink(e.path);
	assert_int_equal(make_image(e.path, "/dev/shm", IMG_SIZE), 0);
	open_dev(false, VBLK_CACHE_WRITEBACK, "");
	zero_ops();
	assert_true(e.b->no_zero_range);
}

static void test_errors(void **state)
{
	uint8_t file[512];
	struct seg s[2];
	uint32_t used;

	(void)state;
	open_dev(false, VBLK_CACHE_WRITEBACK, "");
	/* sector + length overflow, length not a multiple of 512, beyond the end. */
	assert_int_equal(do_rq(VIRTIO_BLK_T_IN, UINT64_MAX - 1, DATA, 1024, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_rq(VIRTIO_BLK_T_OUT, UINT64_MAX / 256, DATA, 512, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_rq(VIRTIO_BLK_T_IN, 0, DATA, 513, true, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_rq(VIRTIO_BLK_T_OUT, 0, DATA, 100, false, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_rq(VIRTIO_BLK_T_OUT, IMG_SECTORS - 1, DATA, 1024, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	/* Unknown types, including legacy SCSI and ones hull does not offer. */
	assert_int_equal(do_rq(99, 0, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_rq(VIRTIO_BLK_T_SCSI_CMD, 0, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_rq(VIRTIO_BLK_T_SECURE_ERASE, 0, 0, 0, false, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	/* A header shorter than 16 bytes. */
	header(0, VIRTIO_BLK_T_IN, 0);
	s[0] = (struct seg){ HDR, 12, false };
	s[1] = (struct seg){ STAT, 1, true };
	post(s, 2);
	run(1);
	assert_int_equal(take_used().len, 1);
	assert_int_equal(*(uint8_t *)gpa(STAT), VIRTIO_BLK_S_IOERR);
	/* No device-writable byte at all: pushed with len 0, and the device keeps serving. */
	header(0, VIRTIO_BLK_T_OUT, 0);
	s[0] = (struct seg){ HDR, 16, false };
	s[1] = (struct seg){ DATA, 512, false };
	post(s, 2);
	run(1);
	assert_int_equal(take_used().len, 0);
	assert_int_equal(e.b->stats.no_status, 1);
	file_read(e.path, 0, file, sizeof(file));
	assert_true(all(file, 512, pattern(0))); /* and nothing was written */
	assert_int_equal(do_rq(VIRTIO_BLK_T_IN, 0, DATA, 512, true, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 513);
	assert_int_equal(e.b->stats.ioerr, 6);
	assert_int_equal(e.b->stats.unsupp, 3);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FOK | S_DOK);
}

static void test_read_only(void **state)
{
	uint8_t file[512];
	int pass;

	(void)state;
	assert_int_equal(create(e.path, true, VBLK_CACHE_WRITEBACK, "", BASE, &e.b), 0);
	/* Enforced whether the driver negotiated RO (pass 0) or ignored it (pass 1). */
	for (pass = 0; pass < 2; pass++) {
		driver_init(pass ? BIT(VIRTIO_BLK_F_RO) : 0);
		assert_int_equal(!!(e.b->dev.features & BIT(VIRTIO_BLK_F_RO)), !pass);
		memset(gpa(DATA), 0, 512);
		assert_int_equal(do_rq(VIRTIO_BLK_T_OUT, 0, DATA, 512, false, NULL),
				 VIRTIO_BLK_S_IOERR);
		assert_int_equal(do_zero(VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 0), VIRTIO_BLK_S_IOERR);
		assert_int_equal(do_zero(VIRTIO_BLK_T_DISCARD, 0, 1, 0), VIRTIO_BLK_S_IOERR);
		assert_int_equal(do_rq(VIRTIO_BLK_T_IN, 0, DATA, 512, true, NULL), VIRTIO_BLK_S_OK);
		assert_true(all(gpa(DATA), 512, pattern(0)));
		assert_int_equal(do_rq(VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	}
	file_read(e.path, 0, file, sizeof(file));
	assert_true(all(file, 512, pattern(0)));
	assert_int_equal(fcntl(e.b->fd, F_GETFL) & O_ACCMODE, O_RDONLY);
}

static void test_broken_ring(void **state)
{
	struct vring_desc *d = gpa(DESC);
	struct vring_avail *a = gpa(AVAIL);

	(void)state;
	open_dev(false, VBLK_CACHE_WRITEBACK, "");
	assert_int_equal(do_rq(VIRTIO_BLK_T_IN, 0, DATA, 512, true, NULL), VIRTIO_BLK_S_OK);
	/* A descriptor chained to itself. */
	header(0, VIRTIO_BLK_T_IN, 0);
	d[7] = (struct vring_desc){ .addr = HDR, .len = 16, .flags = VRING_DESC_F_NEXT, .next = 7 };
	a->ring[e.avail_idx % QSIZE] = 7;
	__atomic_store_n(&a->idx, ++e.avail_idx, __ATOMIC_RELEASE);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	dispatch(100);
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_true(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(used_idx(), 1);
	assert_int_equal(e.b->nfree, VBLK_QUEUE_MAX);
	/* The driver resets the device and it serves again. */
	driver_init(0);
	assert_int_equal(do_rq(VIRTIO_BLK_T_IN, 3, DATA, 512, true, NULL), VIRTIO_BLK_S_OK);
	assert_true(all(gpa(DATA), 512, pattern(3)));
}

static void test_many_in_flight(void **state)
{
	unsigned int i, n = 80;
	uint16_t heads[80];
	bool seen[80] = { false };

	(void)state;
	open_dev(false, VBLK_CACHE_WRITEBACK, "");
	for (i = 0; i < n; i++) {
		memset(gpa(DATA + i * 4096), (int)i, 4096);
		heads[i] = post_rq(i, VIRTIO_BLK_T_OUT, i * 8, DATA + i * 4096, 4096, false);
	}
	run(n);
	for (i = 0; i < n; i++) {
		struct vring_used_elem u = take_used();
		unsigned int k;

		for (k = 0; k < n && heads[k] != u.id; k++)
			;
		assert_true(k < n && !seen[k]);
		seen[k] = true;
		assert_int_equal(*(uint8_t *)gpa(STAT + k), VIRTIO_BLK_S_OK);
	}
	for (i = 0; i < n; i++)
		post_rq(i, VIRTIO_BLK_T_IN, i * 8, DATA + 0x100000 + i * 4096, 4096, true);
	run(n);
	for (i = 0; i < n; i++) {
		assert_int_equal(*(uint8_t *)gpa(STAT + i), VIRTIO_BLK_S_OK);
		assert_true(all(gpa(DATA + 0x100000 + i * 4096), 4096, (uint8_t)i));
	}
	assert_int_equal(e.b->nfree, VBLK_QUEUE_MAX);
}

static void test_reset_in_flight(void **state)
{
	unsigned int i, n = 80;

	(void)state;
	open_dev(false, VBLK_CACHE_NONE, "");
	for (i = 0; i < n; i++)
		post_rq(i, VIRTIO_BLK_T_IN, i * 8, DATA + i * 4096, 4096, true);
	/* Run only the kick (twice: one call takes a budget): submitted, nothing reaped. */
	assert_true(kick_once());
	assert_int_equal(e.b->inflight, VIRTIO_NOTIFY_BUDGET);
	assert_false(kick_once());
	assert_int_equal(e.b->inflight, n);
	assert_int_equal(e.b->nfree, VBLK_QUEUE_MAX - n);
	assert_true(e.b->inflight_bytes == n * 4096ULL);
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(e.b->inflight, 0);
	assert_int_equal(e.b->nfree, VBLK_QUEUE_MAX);
	assert_true(e.b->inflight_bytes == 0);
	/* Nothing reached the ring or the status bytes after the reset. */
	assert_int_equal(used_idx(), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(*(uint8_t *)gpa(STAT + i), 0xee);
	while (dispatch(50) > 0)
		;
	assert_int_equal(used_idx(), 0);
	driver_init(0);
	assert_int_equal(do_rq(VIRTIO_BLK_T_IN, 5, DATA, 512, true, NULL), VIRTIO_BLK_S_OK);
	assert_true(all(gpa(DATA), 512, pattern(5)));
}

/* A guest that keeps the ring full gets VIRTIO_NOTIFY_BUDGET requests per call, then a requeue. */
static void test_notify_budget(void **state)
{
	unsigned int i, n = 200;
	struct seg s[2];

	(void)state;
	open_dev(false, VBLK_CACHE_WRITEBACK, "budget");
	for (i = 0; i < n; i++) {
		header(i, VIRTIO_BLK_T_GET_ID, 0);
		s[0] = (struct seg){ HDR + i * 32, 16, false };
		s[1] = (struct seg){ DATA + i * 32, 21, true };
		post_indirect(i, s, 2);
	}
	assert_true(kick_once());
	assert_int_equal(used_idx(), VIRTIO_NOTIFY_BUDGET);
	assert_int_equal(e.b->stats.requests, VIRTIO_NOTIFY_BUDGET);
	/* The raised kick brings the loop back for the rest, a budget at a time. */
	run(n);
	for (i = 0; i < n; i++) {
		assert_int_equal(*(uint8_t *)gpa(DATA + i * 32 + 20), VIRTIO_BLK_S_OK);
		assert_memory_equal(gpa(DATA + i * 32), "budget", 6);
	}
	/* Exactly a budget's worth: served in one call, and no needless requeue. */
	e.used_seen = used_idx();
	for (i = 0; i < VIRTIO_NOTIFY_BUDGET; i++) {
		s[0] = (struct seg){ HDR + i * 32, 16, false };
		s[1] = (struct seg){ DATA + i * 32, 21, true };
		post_indirect(i, s, 2);
	}
	assert_false(kick_once());
	assert_int_equal((uint16_t)(used_idx() - e.used_seen), VIRTIO_NOTIFY_BUDGET);
}

/* Chains longer than any request (aliased descriptors, near 4 GiB) are refused on their totals. */
static void test_too_long(void **state)
{
	struct vring_used_elem u;
	uint8_t *st = gpa(STAT);

	(void)state;
	/* A 4 GiB disk, so that a 4 GiB read would be inside it; 16 MiB more guest RAM. */
	assert_int_equal(make_sparse(e.path2, 4ULL << 30), 0);
	e.high = mmap(NULL, HIGH_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(e.high != MAP_FAILED);
	assert_int_equal(gmem_add(&e.v.mem, HIGH_GPA, HIGH_SIZE, e.high), 0);
	memset(e.high, 0xee, 4096);
	assert_int_equal(create(e.path2, false, VBLK_CACHE_WRITEBACK, "", BASE, &e.b), 0);
	driver_init(0);

	/* 254 segments of 16 MiB, all the same buffer: a read of 3.97 GiB. */
	post_aliased(0, VIRTIO_BLK_T_IN, 0, HIGH_GPA, HIGH_SIZE, VBLK_SEG_MAX, HIGH_SIZE);
	run(1);
	u = take_used();
	assert_int_equal(st[0], VIRTIO_BLK_S_IOERR);
	assert_int_equal(e.b->stats.reads, 0);
	assert_true(all(e.high, 4096, 0xee)); /* nothing was read into it */
	assert_int_equal(u.len, VBLK_SEG_MAX * HIGH_SIZE + 1);
	assert_int_equal(e.b->stats.too_long, 1);

	/* One byte over the limits (seg_max segments, one of them over size_max): refused too. */
	memset(gpa(SEG), 0x77, VBLK_SIZE_MAX + 512);
	post_aliased(1, VIRTIO_BLK_T_OUT, 0, SEG, VBLK_SIZE_MAX, VBLK_SEG_MAX, VBLK_SIZE_MAX + 512);
	run(1);
	take_used();
	assert_int_equal(st[1], VIRTIO_BLK_S_IOERR);
	assert_int_equal(e.b->stats.writes, 0);
	assert_int_equal(e.b->stats.too_long, 2);
	{
		uint8_t file[512];

		file_read(e.path2, 0, file, sizeof(file));
		assert_true(all(file, sizeof(file), 0));
	}

	/* The largest request the advertised limits allow is served. */
	post_aliased(2, VIRTIO_BLK_T_IN, 8, SEG, VBLK_SIZE_MAX, VBLK_SEG_MAX, VBLK_SIZE_MAX);
	run(1);
	u = take_used();
	assert_int_equal(st[2], VIRTIO_BLK_S_OK);
	assert_int_equal(u.len, VBLK_DATA_MAX + 1);
	assert_int_equal(e.b->stats.reads, 1);
	assert_int_equal(e.b->stats.too_long, 2);
	assert_true(all(gpa(SEG), VBLK_SIZE_MAX, 0));
	assert_true(e.b->inflight_bytes == 0);
}

/* No request is taken while VBLK_INFLIGHT_MAX bytes are in flight: a reset waits for less. */
static void test_inflight_bytes(void **state)
{
	const unsigned int n = 8, fits = (VBLK_INFLIGHT_MAX + VBLK_DATA_MAX - 1) / VBLK_DATA_MAX;
	struct virtio_blk_discard_write_zeroes *z = gpa(DATA);
	unsigned int i, round;

	(void)state;
	assert_int_equal(make_sparse(e.path2, 128ULL << 20), 0);
	assert_int_equal(create(e.path2, false, VBLK_CACHE_WRITEBACK, "", BASE, &e.b), 0);
	for (round = 0; round < 2; round++) {
		driver_init(0);
		for (i = 0; i < n; i++)
			post_aliased(i, VIRTIO_BLK_T_IN, i, SEG, VBLK_SIZE_MAX, VBLK_SEG_MAX,
				     VBLK_SIZE_MAX);
		/* Not requeued: the next completion brings the loop back. */
		assert_false(kick_once());
		assert_int_equal(e.b->inflight, fits);
		assert_true(e.b->inflight_bytes < VBLK_INFLIGHT_MAX + VBLK_DATA_MAX);
		assert_true(e.b->starved);
		if (round) {
			/* The reset waits for those only, and drops them. */
			wr(VIRTIO_MMIO_STATUS, 0);
			assert_int_equal(e.b->inflight, 0);
			assert_true(e.b->inflight_bytes == 0);
			assert_int_equal(e.b->nfree, VBLK_QUEUE_MAX);
			break;
		}
		run(n);
		for (i = 0; i < n; i++)
			assert_int_equal(*(uint8_t *)gpa(STAT + i), VIRTIO_BLK_S_OK);
		assert_true(e.b->inflight_bytes == 0);
		assert_int_equal(e.b->stats.reads, n);
	}
	/* Ranges count too: a 64 MiB WRITE_ZEROES fills the allowance alone. */
	driver_init(0);
	for (i = 0; i < 2; i++) {
		z[i] = (struct virtio_blk_discard_write_zeroes){
			.sector = i * (VBLK_INFLIGHT_MAX / 512),
			.num_sectors = VBLK_INFLIGHT_MAX / 512
		};
		post_rq(i, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA + i * sizeof(*z), sizeof(*z), false);
	}
	assert_false(kick_once());
	assert_int_equal(e.b->inflight, 1);
	run(2);
	assert_int_equal(*(uint8_t *)gpa(STAT), VIRTIO_BLK_S_OK);
	assert_int_equal(*(uint8_t *)gpa(STAT + 1), VIRTIO_BLK_S_OK);
	assert_true(e.b->inflight_bytes == 0);
}

static void test_lock(void **state)
{
	struct vblk *x = NULL;
	char *msg;

	(void)state;
	assert_int_equal(create(e.path, false, VBLK_CACHE_WRITEBACK, "", BASE, &e.b), 0);
	virtio_env_capture_start();
	assert_int_equal(create(e.path, false, VBLK_CACHE_WRITEBACK, "", BASE + 0x1000, &x),
			 -EBUSY);
	assert_int_equal(create(e.path, true, VBLK_CACHE_WRITEBACK, "", BASE + 0x2000, &x), -EBUSY);
	msg = virtio_env_capture_end();
	assert_non_null(strstr(msg, "locked by another process"));
	assert_non_null(strstr(msg, e.path));
	vblk_destroy(e.b);
	e.b = NULL;
	/* Two read-only users share the image; a writer then waits its turn. */
	assert_int_equal(create(e.path, true, VBLK_CACHE_WRITEBACK, "", BASE + 0x3000, &e.b), 0);
	assert_int_equal(create(e.path, true, VBLK_CACHE_NONE, "", BASE + 0x4000, &e.b2), 0);
	virtio_env_capture_start();
	assert_int_equal(create(e.path, false, VBLK_CACHE_WRITEBACK, "", BASE + 0x5000, &x),
			 -EBUSY);
	virtio_env_capture_end();
	vblk_destroy(e.b);
	vblk_destroy(e.b2);
	e.b = e.b2 = NULL;
	assert_int_equal(create(e.path, false, VBLK_CACHE_WRITEBACK, "", BASE + 0x6000, &e.b), 0);
}

static void test_bad_images(void **state)
{
	struct vblk *x = NULL;
	char *msg;
	int fd;

	(void)state;
	virtio_env_capture_start();
	assert_int_equal(create("/nonexistent/disk.img", false, VBLK_CACHE_WRITEBACK, "", BASE, &x),
			 -ENOENT);
	assert_int_equal(create("/tmp", false, VBLK_CACHE_WRITEBACK, "", BASE, &x), -EINVAL);
	assert_int_equal(create("/dev/null", false, VBLK_CACHE_WRITEBACK, "", BASE, &x), -EINVAL);
	msg = virtio_env_capture_end();
	assert_non_null(strstr(msg, "disk /nonexistent/disk.img: No such file"));
	assert_non_null(strstr(msg, "disk /dev/null: not a regular file or block device"));
	/* Smaller than one sector. */
	assert_int_equal(truncate(e.path, 511), 0);
	virtio_env_capture_start();
	assert_int_equal(create(e.path, false, VBLK_CACHE_WRITEBACK, "", BASE, &x), -EINVAL);
	msg = virtio_env_capture_end();
	assert_non_null(strstr(msg, "smaller than one 512-byte sector"));
	/* A partial last sector is not part of the disk. */
	assert_int_equal(truncate(e.path, 4096 + 100), 0);
	assert_int_equal(create(e.path, false, VBLK_CACHE_WRITEBACK, "", BASE, &e.b), 0);
	assert_int_equal(e.b->disk.capacity, 8);
	fd = open(e.path, O_RDONLY);
	assert_true(fd >= 0);
	close(fd);
}

/* The image shrinks under the device: a read across the new end is short, then fails. */
static void test_short_read(void **state)
{
	(void)state;
	open_dev(false, VBLK_CACHE_WRITEBACK, "");
	assert_int_equal(truncate(e.path, 1000 * 512 + 256), 0);
	assert_int_equal(do_rq(VIRTIO_BLK_T_IN, 998, DATA, 1024, true, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(do_rq(VIRTIO_BLK_T_IN, 999, DATA, 1024, true, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(e.b->stats.short_io, 1);
	assert_int_equal(do_rq(VIRTIO_BLK_T_IN, 1500, DATA, 512, true, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(e.b->nfree, VBLK_QUEUE_MAX);
}

/* O_DIRECT: aligned requests go direct, misaligned guest buffers still work. */
static void test_cache_none(void **state)
{
	uint8_t *w = gpa(DATA + 8), file[2048];
	unsigned int i;

	(void)state;
	open_dev(false, VBLK_CACHE_NONE, "");
	assert_true(fcntl(e.b->fd, F_GETFL) & O_DIRECT);
	assert_true(e.b->buf_fd >= 0 && !(fcntl(e.b->buf_fd, F_GETFL) & O_DIRECT));
	for (i = 0; i < 2048; i++)
		w[i] = (uint8_t)(i * 31);
	assert_int_equal(do_rq(VIRTIO_BLK_T_OUT, 40, DATA + 8, 2048, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(e.b->stats.buffered, 1);
	assert_int_equal(do_rq(VIRTIO_BLK_T_IN, 40, DATA + 0x10000, 2048, true, NULL),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(e.b->stats.buffered, 1); /* aligned: straight to O_DIRECT */
	assert_memory_equal(gpa(DATA + 0x10000), w, 2048);
	assert_int_equal(do_rq(VIRTIO_BLK_T_IN, 40, DATA + 0x20001, 2048, true, NULL),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(gpa(DATA + 0x20001), w, 2048);
	assert_int_equal(e.b->stats.buffered, 2);
	assert_int_equal(do_rq(VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	file_read(e.path, 40 * 512, file, sizeof(file));
	assert_memory_equal(file, w, 2048);
}

/* cache=none where the filesystem refuses O_DIRECT: one clear message. */
static void test_cache_none_unsupported(void **state)
{
	struct vblk *x = NULL;
	const char *path = e.path2;
	char *msg;
	int fd, ret;

	(void)state;
	assert_int_equal(make_image(e.path2, "/dev/shm", IMG_SIZE), 0);
	/* tmpfs learned O_DIRECT in Linux 6.6; procfs never had it. */
	fd = open(e.path2, O_RDONLY | O_DIRECT);
	if (fd >= 0) {
		close(fd);
		assert_int_equal(create(e.path2, false, VBLK_CACHE_NONE, "", BASE, &e.b2), 0);
		path = "/proc/self/stat";
	}
	virtio_env_capture_start();
	ret = create(path, true, VBLK_CACHE_NONE, "", BASE + 0x1000, &x);
	msg = virtio_env_capture_end();
	assert_int_equal(ret, -EINVAL);
	assert_non_null(strstr(msg, "cache=none needs O_DIRECT, which this filesystem does not "
				    "support"));
	assert_non_null(strstr(msg, path));
}

/* The ring takes only the four opcodes the backend uses, and only on its registered files. */
static void test_ring_restricted(void **state)
{
	struct io_uring *ring;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct iovec iov = { gpa(DATA), 512 };
	int i;

	(void)state;
	open_dev(false, VBLK_CACHE_WRITEBACK, "");
	ring = &e.b->ring;
	for (i = 0; i < 3; i++) {
		sqe = io_uring_get_sqe(ring);
		assert_non_null(sqe);
		if (i == 0) {
			io_uring_prep_nop(sqe);
		} else if (i == 1) {
			io_uring_prep_readv(sqe, e.b->fd, &iov, 1, 0); /* a plain fd */
		} else {
			io_uring_prep_readv(sqe, 0, &iov, 1, 0);
			sqe->flags |= IOSQE_FIXED_FILE;
		}
		io_uring_sqe_set_data(sqe, NULL);
		assert_int_equal(io_uring_submit_and_wait(ring, 1), 1);
		assert_int_equal(io_uring_peek_cqe(ring, &cqe), 0);
		assert_int_equal(cqe->res, i < 2 ? -EACCES : 512);
		io_uring_cqe_seen(ring, cqe);
	}
	assert_true(all(gpa(DATA), 512, pattern(0)));
}

/*
 * As in hull: completions on an event loop thread, kicks and resets from
 * this thread (a vCPU). Resets land while requests are in flight.
 */
static void test_threads(void **state)
{
	struct loop_handler stop = { .cb = virtio_env_stop_loop };
	unsigned int round, i, n = 60, ok = 0;
	time_t end;
	pthread_t t;

	(void)state;
	open_dev(false, VBLK_CACHE_NONE, "");
	stop.fd = eventfd(0, EFD_CLOEXEC);
	assert_true(stop.fd >= 0);
	assert_int_equal(loop_add(&e.v.loop, &stop, EPOLLIN), 0);
	assert_int_equal(pthread_create(&t, NULL, virtio_env_loop_thread, &e.v.loop), 0);
	for (round = 0; round < 30; round++) {
		driver_init(0);
		for (i = 0; i < n; i++)
			post_rq(i, i % 2 ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, i * 8,
				DATA + i * 4096, 4096, i % 2 == 0);
		wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		if (round % 3 == 2) {
			/* Let this round finish: every request answered OK. */
			end = time(NULL) + 10;
			while (used_idx() != n && time(NULL) < end)
				usleep(1000);
			assert_int_equal(used_idx(), n);
			for (i = 0; i < n; i++)
				assert_int_equal(*(uint8_t *)gpa(STAT + i), VIRTIO_BLK_S_OK);
			ok++;
		} else {
			usleep(round * 50);
		}
		wr(VIRTIO_MMIO_STATUS, 0); /* reset, possibly mid-flight */
		pthread_mutex_lock(&e.b->dev.lock);
		assert_int_equal(e.b->inflight, 0);
		assert_int_equal(e.b->nfree, VBLK_QUEUE_MAX);
		pthread_mutex_unlock(&e.b->dev.lock);
	}
	eventfd_write(stop.fd, 1);
	pthread_join(t, NULL);
	loop_del(&e.v.loop, &stop);
	close(stop.fd);
	assert_int_equal(ok, 10);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		T(test_config_space),
		T(test_read_write),
		T(test_split_chains),
		T(test_flush_get_id),
		T(test_discard_write_zeroes),
		T(test_errors),
		T(test_read_only),
		T(test_broken_ring),
		T(test_many_in_flight),
		T(test_reset_in_flight),
		T(test_notify_budget),
		T(test_too_long),
		T(test_inflight_bytes),
		T(test_lock),
		T(test_bad_images),
		T(test_short_read),
		T(test_cache_none),
		T(test_cache_none_unsupported),
		T(test_ring_restricted),
		T(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
