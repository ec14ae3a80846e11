/* Unit tests for the virtio-fs device: config space, queues, workers and resets, on real rings. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <linux/virtio_fs.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/fuse_env.h"
#include "tests/unit/virtio_env.h"
#include "virtio/fs/fs.h"

#define BASE 0xd0000000ULL
#define GSI 7
#define RAM_GPA 0x100000ULL
#define RAM_SIZE (4ULL << 20)
#define QS0 1024 /* queue sizes: the largest offered, as Linux takes them */
#define QS1 1024
#define DESC0 (RAM_GPA + 0x0) /* 16 KiB */
#define AVAIL0 (RAM_GPA + 0x4000)
#define USED0 (RAM_GPA + 0x6000)
#define DESC1 (RAM_GPA + 0x10000)
#define AVAIL1 (RAM_GPA + 0x14000)
#define USED1 (RAM_GPA + 0x16000)
#define INDIRECT (RAM_GPA + 0x20000) /* 16 KiB: 1024 entries */
#define SLOT 0x2000		     /* request and reply slots */
#define NSLOTS 64
#define REQ (RAM_GPA + 0x40000)	  /* NSLOTS request slots: up to 0xc0000 */
#define REPLY (RAM_GPA + 0xc0000) /* NSLOTS reply slots: up to 0x140000 */
#define DATA (RAM_GPA + 0x200000) /* 1 MiB + a page of bulk data */
#define PAGE 4096
#define MIB (1u << 20)
#define PATTERN 0xa5
#define TAG "hull-share"
#define VFS_TEST_IOV_MAX (FSRV_MAX_PAGES + 16) /* fs.c's VFS_IOV_MAX: the longest chain served */

#define S_ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV VIRTIO_CONFIG_S_DRIVER
#define S_FOK VIRTIO_CONFIG_S_FEATURES_OK
#define S_DOK VIRTIO_CONFIG_S_DRIVER_OK
#define S_RESET VIRTIO_CONFIG_S_NEEDS_RESET

struct qstate {
	uint16_t size, avail_idx, next_desc, used_seen;
	uint64_t desc, avail, used;
};

static struct env {
	struct virtio_env v;
	struct fuse_env fe; /* the scratch share, and the request builder */
	struct vfs *f;
	uint64_t base;
	atomic_uint pulses;
	struct qstate q[2];

	/* The test hook: workers park in it while hold is set. */
	pthread_mutex_t hl;
	pthread_cond_t hcv;
	unsigned int in_hook;
	bool hold;
	unsigned int sleep_ms;
} e;

static void rec_irq(void *opaque, unsigned int irq, int level)
{
	(void)opaque;
	(void)irq;
	if (level)
		atomic_fetch_add(&e.pulses, 1);
}

static void hook(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&e.hl);
	e.in_hook++;
	pthread_cond_broadcast(&e.hcv);
	while (e.hold)
		pthread_cond_wait(&e.hcv, &e.hl);
	e.in_hook--;
	pthread_mutex_unlock(&e.hl);
	if (e.sleep_ms)
		usleep(e.sleep_ms * 1000);
}

static void release_hook(void)
{
	pthread_mutex_lock(&e.hl);
	e.hold = false;
	pthread_cond_broadcast(&e.hcv);
	pthread_mutex_unlock(&e.hl);
}

/* Wait (up to 10 s) until n workers are parked in the hook. */
static void wait_in_hook(unsigned int n)
{
	struct timespec end;
	int ret = 0;

	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += 10;
	pthread_mutex_lock(&e.hl);
	while (e.in_hook != n && ret == 0)
		ret = pthread_cond_timedwait(&e.hcv, &e.hl, &end);
	pthread_mutex_unlock(&e.hl);
	assert_int_equal(e.in_hook, n);
}

static int create(const char *path, const char *tag, uint64_t base, struct vfs **out)
{
	struct vfs_config c = { .path = (char *)(uintptr_t)path, .cache = VFS_CACHE_AUTO };
	/* Every worker passes the hook, which holds it only while a test sets hold or sleep_ms. */
	const struct vfs_params p = { .before_serve = hook };
	int ret;

	snprintf(c.tag, sizeof(c.tag), "%s", tag);
	ret = vfs_create(&c, 0, &e.v.host, &p, out);
	if (!ret && (ret = virtio_mmio_attach(vfs_dev(*out), &e.v.host, base, GSI))) {
		vfs_destroy(*out);
		*out = NULL;
	}
	return ret;
}

static int setup(void **state)
{
	(void)state;
	memset(&e, 0, sizeof(e));
	pthread_mutex_init(&e.hl, NULL);
	pthread_cond_init(&e.hcv, NULL);
	if (virtio_env_init(&e.v, RAM_GPA, RAM_SIZE, rec_irq, &e) || fenv_setup(&e.fe))
		return -1;
	memset(e.v.ram + (REQ - RAM_GPA), PATTERN, RAM_SIZE - (REQ - RAM_GPA));
	e.base = BASE;
	return create(e.fe.share, TAG, e.base, &e.f);
}

static int teardown(void **state)
{
	(void)state;
	release_hook();
	vfs_destroy(e.f);
	fenv_teardown(&e.fe);
	virtio_env_fini(&e.v);
	pthread_cond_destroy(&e.hcv);
	pthread_mutex_destroy(&e.hl);
	return 0;
}

/* ---- driver side ---- */

static uint32_t rd(uint64_t off)
{
	uint8_t b[4] = { 0 };

	assert_true(bus_read(&e.v.mmio, e.base + off, b, 4));
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void wr(uint64_t off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	assert_true(bus_write(&e.v.mmio, e.base + off, b, 4));
}

static const struct virtio_drv drv = { rd, wr };

static void *gpa(uint64_t a)
{
	return gmem_ptr(&e.v.mem, a, 1);
}

static void setup_queue(unsigned int qi, uint16_t size, uint64_t desc, uint64_t avail,
			uint64_t used)
{
	struct qstate *q = &e.q[qi];

	*q = (struct qstate){ .size = size, .desc = desc, .avail = avail, .used = used };
	memset(gpa(desc), 0, (size_t)size * 16);
	memset(gpa(avail), 0, 6 + (size_t)size * 2);
	memset(gpa(used), 0, 6 + (size_t)size * 8);
	virtio_drv_queue(&drv, qi, size, desc, avail, used);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 1024);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 1);
}

/* As Linux's virtio-fs driver: take every offered feature, both queues, DRIVER_OK. */
static void driver_init(void)
{
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(virtio_drv_negotiate(&drv, ~0ULL), S_ACK | S_DRV | S_FOK);
	setup_queue(0, QS0, DESC0, AVAIL0, USED0);
	setup_queue(1, QS1, DESC1, AVAIL1, USED1);
	assert_int_equal(virtio_drv_driver_ok(&drv), S_ACK | S_DRV | S_FOK | S_DOK);
}

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool w;
};

static struct vring_desc mkdesc(const struct seg *s, bool more, uint16_t next)
{
	return (struct vring_desc){
		.addr = s->gpa,
		.len = s->len,
		.flags = (uint16_t)((s->w ? VRING_DESC_F_WRITE : 0) |
				    (more ? VRING_DESC_F_NEXT : 0)),
		.next = next,
	};
}

static uint16_t make_avail(unsigned int qi, uint16_t head)
{
	struct qstate *q = &e.q[qi];
	struct vring_avail *a = gpa(q->avail);

	a->ring[q->avail_idx % q->size] = head;
	__atomic_store_n(&a->idx, ++q->avail_idx, __ATOMIC_RELEASE);
	return head;
}

/* Chain n segments from the next free descriptors of queue qi and make the chain available. */
static uint16_t post(unsigned int qi, const struct seg *s, unsigned int n)
{
	struct qstate *q = &e.q[qi];
	struct vring_desc *d = gpa(q->desc);
	uint16_t head = q->next_desc;
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t k = (uint16_t)((head + i) % q->size);

		d[k] = mkdesc(&s[i], i + 1 < n, (uint16_t)((k + 1) % q->size));
	}
	q->next_desc = (uint16_t)((head + n) % q->size);
	return make_avail(qi, head);
}

/* The same through one indirect table at INDIRECT (one request at a time). */
static uint16_t post_indirect(unsigned int qi, const struct seg *s, unsigned int n)
{
	struct qstate *q = &e.q[qi];
	struct vring_desc *table = gpa(INDIRECT), *d = gpa(q->desc);
	uint16_t head = q->next_desc;
	unsigned int i;

	for (i = 0; i < n; i++)
		table[i] = mkdesc(&s[i], i + 1 < n, (uint16_t)(i + 1));
	d[head] = (struct vring_desc){ .addr = INDIRECT, .len = n * 16,
				       .flags = VRING_DESC_F_INDIRECT };
	q->next_desc = (uint16_t)((head + 1) % q->size);
	return make_avail(qi, head);
}

static uint16_t used_idx(unsigned int qi)
{
	return __atomic_load_n(&((struct vring_used *)gpa(e.q[qi].used))->idx, __ATOMIC_ACQUIRE);
}

static unsigned int pending_used(unsigned int qi)
{
	return (uint16_t)(used_idx(qi) - e.q[qi].used_seen);
}

/* Kick queue qi and run the loop until n more chains are used there (or 10 s pass). */
static void run(unsigned int qi, unsigned int n)
{
	struct timespec t0, t;

	wr(VIRTIO_MMIO_QUEUE_NOTIFY, qi);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		while (virtio_env_dispatch(&e.v, 0) > 0)
			;
		if (pending_used(qi) >= n)
			break;
		usleep(200);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < 10);
	assert_int_equal(pending_used(qi), n);
}

static struct vring_used_elem take_used(unsigned int qi)
{
	struct vring_used *u = gpa(e.q[qi].used);

	return u->ring[e.q[qi].used_seen++ % e.q[qi].size];
}

/* Run queue qi until the chain at head is used: a request with no reply (used length 0). */
static void expect_unanswered(unsigned int qi, uint16_t head)
{
	struct vring_used_elem u;

	run(qi, 1);
	u = take_used(qi);
	assert_int_equal(u.id, head);
	assert_int_equal(u.len, 0);
}

/* Copy the request built in e.fe into request slot k; its guest address. */
static uint64_t place(unsigned int k)
{
	assert_true(k < NSLOTS && e.fe.req_len <= SLOT);
	memcpy(gpa(REQ + k * SLOT), e.fe.req, e.fe.req_len);
	return REQ + k * SLOT;
}

/* Post the request in e.fe to queue qi: request slot k, reply slot k of reply_len bytes. */
static uint16_t post_req(unsigned int qi, unsigned int k, uint32_t reply_len)
{
	struct seg s[2] = { { place(k), (uint32_t)e.fe.req_len, false },
			    { REPLY + k * SLOT, reply_len, true } };

	memset(gpa(REPLY + k * SLOT), PATTERN, SLOT);
	return post(qi, s, reply_len ? 2 : 1);
}

static const struct fuse_out_header *reply_hdr(unsigned int k)
{
	return gpa(REPLY + k * SLOT);
}

static const void *reply_body(unsigned int k)
{
	return (const uint8_t *)gpa(REPLY + k * SLOT) + sizeof(struct fuse_out_header);
}

/*
 * One request through queue qi, synchronously: checks the used element
 * against the reply header (len, unique) and returns the FUSE error.
 */
static int call(unsigned int qi, uint32_t reply_len)
{
	uint64_t unique = fenv_hdr(&e.fe)->unique;
	uint16_t head = post_req(qi, 0, reply_len);
	struct vring_used_elem u;

	run(qi, 1);
	u = take_used(qi);
	assert_int_equal(u.id, head);
	assert_true(u.len >= sizeof(struct fuse_out_header));
	assert_int_equal(reply_hdr(0)->len, u.len);
	assert_int_equal(reply_hdr(0)->unique, unique);
	return reply_hdr(0)->error;
}

static void build_init(void)
{
	struct fuse_init_in in = { .major = FUSE_KERNEL_VERSION,
				   .minor = FUSE_KERNEL_MINOR_VERSION,
				   .max_readahead = 131072,
				   .flags = FENV_INIT_FLAGS };

	fenv_begin(&e.fe, FUSE_INIT, 0);
	fenv_put(&e.fe, &in, sizeof(in));
}

static void fuse_init(void)
{
	const struct fuse_init_out *o = reply_body(0);

	build_init();
	assert_int_equal(call(1, SLOT), 0);
	assert_int_equal(o->major, FUSE_KERNEL_VERSION);
	assert_true(o->max_write >= MIB);
	assert_int_equal(o->max_pages, FSRV_MAX_PAGES);
}

static uint64_t lookup(const char *name, struct fuse_entry_out *eo)
{
	fenv_begin(&e.fe, FUSE_LOOKUP, FUSE_ROOT_ID);
	fenv_name(&e.fe, name);
	assert_int_equal(call(1, SLOT), 0);
	assert_int_equal(reply_hdr(0)->len, sizeof(struct fuse_out_header) + sizeof(*eo));
	memcpy(eo, reply_body(0), sizeof(*eo));
	assert_true(eo->nodeid != 0);
	return eo->nodeid;
}

static uint64_t open_file(uint64_t node, uint32_t flags)
{
	struct fuse_open_in in = { .flags = flags };
	struct fuse_open_out oo;

	fenv_begin(&e.fe, FUSE_OPEN, node);
	fenv_put(&e.fe, &in, sizeof(in));
	assert_int_equal(call(1, SLOT), 0);
	memcpy(&oo, reply_body(0), sizeof(oo));
	return oo.fh;
}

/* A cheap request that still goes through a worker. */
static void build_getattr_root(void)
{
	struct fuse_getattr_in in = { 0 };

	fenv_begin(&e.fe, FUSE_GETATTR, FUSE_ROOT_ID);
	fenv_put(&e.fe, &in, sizeof(in));
}

static bool all(const void *p, size_t len, uint8_t v)
{
	const uint8_t *b = p;

	while (len--)
		if (*b++ != v)
			return false;
	return true;
}

static uint8_t data_byte(size_t i)
{
	return (uint8_t)(i * 7 + i / 4096);
}

static void write_host_file(const char *rel, size_t len)
{
	uint8_t *buf = malloc(len);
	int fd;
	size_t i;

	assert_non_null(buf);
	for (i = 0; i < len; i++)
		buf[i] = data_byte(i);
	fd = open(fenv_path(&e.fe, rel), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
	free(buf);
}

static int count_dir(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *de;
	int n = 0;

	assert_non_null(dir);
	while ((de = readdir(dir)))
		n += de->d_name[0] != '.';
	closedir(dir);
	return n;
}

/*
 * The number of this process's threads once it settles at want. A joined thread leaves
 * /proc/self/task a moment after pthread_join returns (the kernel wakes the joiner before it
 * reaps the task), so a slow machine can still show it: wait up to 10 s, then return the count.
 */
static int tasks_settle(int want)
{
	int n = count_dir("/proc/self/task");

	for (int i = 0; i < 1000 && n != want; i++) {
		usleep(10000);
		n = count_dir("/proc/self/task");
	}
	return n;
}

static struct vfs_stats stats(void)
{
	struct vfs_stats st;

	vfs_stats(e.f, &st);
	return st;
}

/* ---- tests ---- */

static void test_config_space(void **state)
{
	struct virtio_fs_config cfg;
	uint8_t *p = (uint8_t *)&cfg, b[4];
	unsigned int i;

	(void)state;
	assert_int_equal(rd(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(rd(VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_FS);
	assert_int_equal(rd(VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR);
	/* Byte by byte, as a driver may: the tag NUL-padded, one request queue. */
	for (i = 0; i < sizeof(cfg); i++)
		assert_true(bus_read(&e.v.mmio, e.base + VIRTIO_MMIO_CONFIG + i, &p[i], 1));
	assert_memory_equal(cfg.tag, TAG, strlen(TAG));
	assert_true(all(cfg.tag + strlen(TAG), sizeof(cfg.tag) - strlen(TAG), 0));
	assert_int_equal(le32toh(cfg.num_request_queues), 1);
	assert_true(bus_read(&e.v.mmio, e.base + VIRTIO_MMIO_CONFIG + 36, b, 4));
	assert_int_equal(b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24, 1);
	/* Nothing past the struct, and the driver cannot change it. */
	memset(b, 0x5a, sizeof(b));
	assert_true(bus_read(&e.v.mmio, e.base + VIRTIO_MMIO_CONFIG + 40, b, 4));
	assert_memory_equal(b, "\0\0\0\0", 4);
	memset(b, 0x77, sizeof(b));
	assert_true(bus_write(&e.v.mmio, e.base + VIRTIO_MMIO_CONFIG, b, 4));
	assert_true(bus_write(&e.v.mmio, e.base + VIRTIO_MMIO_CONFIG + 36, b, 4));
	assert_true(bus_read(&e.v.mmio, e.base + VIRTIO_MMIO_CONFIG, b, 4));
	assert_memory_equal(b, TAG, 4);
	assert_true(bus_read(&e.v.mmio, e.base + VIRTIO_MMIO_CONFIG + 36, b, 4));
	assert_int_equal(b[0], 1);

	/* Two queues (hiprio, request) of up to 1024 entries; no third. */
	for (i = 0; i < 3; i++) {
		wr(VIRTIO_MMIO_QUEUE_SEL, i);
		assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), i < 2 ? 1024 : 0);
	}
}

/* A 36-byte tag fills the field with no terminator; the device name is cut, not overrun. */
static void test_long_tag(void **state)
{
	static const char tag36[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	struct virtio_fs_config cfg;
	struct vfs *f2 = NULL;
	unsigned int i;

	(void)state;
	assert_int_equal(strlen(tag36), 36);
	assert_int_equal(create(e.fe.share, tag36, BASE + 0x10000, &f2), 0);
	for (i = 0; i < sizeof(cfg); i++)
		assert_true(bus_read(&e.v.mmio, BASE + 0x10000 + VIRTIO_MMIO_CONFIG + i,
				     (uint8_t *)&cfg + i, 1));
	assert_memory_equal(cfg.tag, tag36, 36);
	assert_int_equal(le32toh(cfg.num_request_queues), 1);
	vfs_destroy(f2);
}

static void test_features(void **state)
{
	(void)state;
	/* No device feature bits (no notification queue, no DAX window): the transport's only. */
	assert_int_equal(virtio_drv_offered(&drv), VIRTIO_TRANSPORT_FEATURES);
	/* A driver asking for a bit not offered does not get FEATURES_OK. */
	wr(VIRTIO_MMIO_STATUS, S_ACK);
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV);
	virtio_drv_features(&drv, (1ULL << VIRTIO_F_VERSION_1) | 1); /* VIRTIO_FS_F_NOTIFICATION */
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS) & S_FOK, 0);
	/* VERSION_1 alone is enough (no indirect, no event index), and requests work. */
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(virtio_drv_negotiate(&drv, 1ULL << VIRTIO_F_VERSION_1),
			 S_ACK | S_DRV | S_FOK);
	setup_queue(0, QS0, DESC0, AVAIL0, USED0);
	setup_queue(1, QS1, DESC1, AVAIL1, USED1);
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	fuse_init();
	assert_true(atomic_load(&e.pulses) >= 1);
	assert_true(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING);
}

/* INIT, LOOKUP, GETATTR, OPEN, READ of a host file through the request queue. */
static void test_requests(void **state)
{
	static const char text[] = "hello from the host\n";
	struct fuse_getattr_in gin = { 0 };
	struct fuse_read_in rin;
	struct fuse_entry_out eo;
	struct fuse_attr_out ao;
	struct seg s[3];
	uint64_t node, fh, unique;
	struct vring_used_elem u;
	uint16_t head;

	(void)state;
	assert_int_equal(fenv_write_host(fenv_path(&e.fe, "hello.txt"), text, 0640), 0);
	driver_init();
	fuse_init();
	node = lookup("hello.txt", &eo);
	assert_int_equal(eo.attr.size, sizeof(text) - 1);
	assert_int_equal(eo.attr.mode & S_IFMT, S_IFREG);

	fenv_begin(&e.fe, FUSE_GETATTR, node);
	fenv_put(&e.fe, &gin, sizeof(gin));
	assert_int_equal(call(1, SLOT), 0);
	memcpy(&ao, reply_body(0), sizeof(ao));
	assert_int_equal(ao.attr.size, sizeof(text) - 1);
	assert_int_equal(ao.attr.mode & 07777, 0640);

	fh = open_file(node, O_RDONLY);
	/* READ with the reply header and the data in separate buffers, as Linux sends it. */
	rin = (struct fuse_read_in){ .fh = fh, .offset = 6, .size = 4096 };
	fenv_begin(&e.fe, FUSE_READ, node);
	fenv_put(&e.fe, &rin, sizeof(rin));
	unique = fenv_hdr(&e.fe)->unique;
	memset(gpa(REPLY), PATTERN, SLOT);
	memset(gpa(DATA), PATTERN, 8192);
	s[0] = (struct seg){ place(0), (uint32_t)e.fe.req_len, false };
	s[1] = (struct seg){ REPLY, sizeof(struct fuse_out_header), true };
	s[2] = (struct seg){ DATA, 4096, true };
	head = post(1, s, 3);
	run(1, 1);
	u = take_used(1);
	assert_int_equal(u.id, head);
	assert_int_equal(u.len, sizeof(struct fuse_out_header) + sizeof(text) - 1 - 6);
	assert_int_equal(reply_hdr(0)->len, u.len);
	assert_int_equal(reply_hdr(0)->error, 0);
	assert_int_equal(reply_hdr(0)->unique, unique);
	assert_memory_equal(gpa(DATA), text + 6, sizeof(text) - 1 - 6);
	assert_true(all((uint8_t *)gpa(DATA) + sizeof(text) - 1 - 6, 8192 - (sizeof(text) - 1 - 6),
			PATTERN));

	/* A name that is not there: an error reply, header only. */
	fenv_begin(&e.fe, FUSE_LOOKUP, FUSE_ROOT_ID);
	fenv_name(&e.fe, "missing");
	assert_int_equal(call(1, SLOT), -ENOENT);
	assert_int_equal(reply_hdr(0)->len, sizeof(struct fuse_out_header));
	/* An opcode nobody knows: ENOSYS. */
	fenv_begin(&e.fe, 9999, FUSE_ROOT_ID);
	assert_int_equal(call(1, SLOT), -ENOSYS);
	assert_int_equal(stats().served, 7);
	assert_int_equal(stats().busy, 0);
}

/* FORGET and BATCH_FORGET are served inline on hiprio, unanswered; anything else is refused. */
static void test_hiprio(void **state)
{
	struct fuse_forget_in fin = { .nlookup = 1 };
	struct fuse_batch_forget_in bin = { .count = 1 };
	struct fuse_forget_one one = { .nlookup = 1 };
	struct fuse_entry_out eo;
	struct seg s[1];
	uint64_t a, b;

	(void)state;
	assert_int_equal(fenv_write_host(fenv_path(&e.fe, "a"), "a", 0644), 0);
	assert_int_equal(fenv_write_host(fenv_path(&e.fe, "b"), "b", 0644), 0);
	driver_init();
	fuse_init();
	a = lookup("a", &eo);
	b = lookup("b", &eo);
	assert_int_equal(stats().inodes, 3);

	/* FORGET: a readable part only, as Linux sends it; used length 0. */
	fenv_begin(&e.fe, FUSE_FORGET, a);
	fenv_put(&e.fe, &fin, sizeof(fin));
	expect_unanswered(0, post_req(0, 1, 0));
	assert_int_equal(stats().inodes, 2);

	fenv_begin(&e.fe, FUSE_BATCH_FORGET, 0);
	fenv_put(&e.fe, &bin, sizeof(bin));
	one.nodeid = b;
	fenv_put(&e.fe, &one, sizeof(one));
	expect_unanswered(0, post_req(0, 2, 0));
	assert_int_equal(stats().inodes, 1);
	assert_int_equal(stats().hiprio, 2);

	/* A LOOKUP on hiprio is never served there: -EINVAL, header only. */
	fenv_begin(&e.fe, FUSE_LOOKUP, FUSE_ROOT_ID);
	fenv_name(&e.fe, "a");
	assert_int_equal(call(0, SLOT), -EINVAL);
	assert_int_equal(reply_hdr(0)->len, sizeof(struct fuse_out_header));
	assert_true(all(reply_body(0), SLOT - sizeof(struct fuse_out_header), PATTERN));
	assert_int_equal(stats().inodes, 1);
	assert_int_equal(stats().refused, 1);
	/* ... and without room for a reply, nothing is written: used length 0. */
	expect_unanswered(0, post_req(0, 3, 0));
	/* A header too short to read: no reply either, and the device stays live. */
	memset(gpa(REQ + 4 * SLOT), 0, 8);
	s[0] = (struct seg){ REQ + 4 * SLOT, 8, false };
	post(0, s, 1);
	run(0, 1);
	assert_int_equal(take_used(0).len, 0);
	assert_false(rd(VIRTIO_MMIO_STATUS) & S_RESET);
	/* The request queue never saw any of them. */
	assert_int_equal(stats().served, 3);
}

/*
 * The event loop serves at most VIRTIO_NOTIFY_BUDGET hiprio chains per call,
 * then requeues itself: the rest is served on the next pass, with no new kick.
 */
static void test_hiprio_budget(void **state)
{
	unsigned int i, n = VIRTIO_NOTIFY_BUDGET + 36;
	struct seg s;

	(void)state;
	driver_init();
	fuse_init();
	fenv_begin(&e.fe, FUSE_FORGET, 0x500000007ULL); /* no such node: a no-op */
	fenv_put(&e.fe, &(struct fuse_forget_in){ 1 }, sizeof(struct fuse_forget_in));
	s = (struct seg){ place(1), (uint32_t)e.fe.req_len, false };
	for (i = 0; i < n; i++)
		post(0, &s, 1);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(virtio_env_dispatch(&e.v, 0), 1);
	assert_int_equal(pending_used(0), VIRTIO_NOTIFY_BUDGET);
	assert_int_equal(stats().hiprio, VIRTIO_NOTIFY_BUDGET);
	assert_int_equal(virtio_env_dispatch(&e.v, 0), 1);
	assert_int_equal(pending_used(0), n);
	assert_int_equal(stats().hiprio, n);
	/* Fewer than the budget were left: the device did not requeue again. */
	assert_int_equal(virtio_env_dispatch(&e.v, 0), 0);
	assert_false(rd(VIRTIO_MMIO_STATUS) & S_RESET);
}

/*
 * A BATCH_FORGET on hiprio claiming UINT32_MAX entries, its chain 271
 * descriptors aliasing one 64 KiB buffer of forgets (17 MiB in all): refused
 * unread on the event loop, the node it names untouched, the device live.
 */
static void test_hiprio_aliased(void **state)
{
	static struct seg s[VFS_TEST_IOV_MAX];
	struct fuse_forget_one *ents = gpa(DATA);
	struct fuse_entry_out eo;
	unsigned int i, n = VFS_TEST_IOV_MAX;
	uint64_t a;

	(void)state;
	assert_int_equal(fenv_write_host(fenv_path(&e.fe, "a"), "a", 0644), 0);
	driver_init();
	fuse_init();
	a = lookup("a", &eo);
	for (i = 0; i < 65536 / sizeof(*ents); i++)
		ents[i] = (struct fuse_forget_one){ a, 1 };
	fenv_begin(&e.fe, FUSE_BATCH_FORGET, 0);
	fenv_put(&e.fe, &(struct fuse_batch_forget_in){ .count = UINT32_MAX },
		 sizeof(struct fuse_batch_forget_in));
	fenv_hdr(&e.fe)->len = (uint32_t)(e.fe.req_len + (n - 1) * 65536ULL);
	s[0] = (struct seg){ place(1), (uint32_t)e.fe.req_len, false };
	for (i = 1; i < n; i++)
		s[i] = (struct seg){ DATA, 65536, false };
	expect_unanswered(0, post_indirect(0, s, n));
	assert_int_equal(stats().inodes, 2);
	assert_int_equal(stats().oversized, 1);
	assert_false(rd(VIRTIO_MMIO_STATUS) & S_RESET);
	/* A proper FORGET still works. */
	fenv_begin(&e.fe, FUSE_FORGET, a);
	fenv_put(&e.fe, &(struct fuse_forget_in){ 1 }, sizeof(struct fuse_forget_in));
	expect_unanswered(0, post_req(0, 2, 0));
	assert_int_equal(stats().inodes, 1);
}

/* A chain longer than the device's iovec array breaks the ring: NEEDS_RESET, nothing more. */
static void test_chain_too_long(void **state)
{
	static struct seg s[FSRV_MAX_PAGES + 17];
	unsigned int i, n = FSRV_MAX_PAGES + 17;

	(void)state;
	driver_init();
	fuse_init();
	build_getattr_root();
	s[0] = (struct seg){ place(1), (uint32_t)e.fe.req_len, false };
	for (i = 1; i < n; i++)
		s[i] = (struct seg){ DATA + (i - 1) * PAGE, PAGE, true };
	post_indirect(1, s, n);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	for (i = 0; i < 1000 && !(rd(VIRTIO_MMIO_STATUS) & S_RESET); i++) {
		while (virtio_env_dispatch(&e.v, 0) > 0)
			;
		usleep(1000);
	}
	assert_true(rd(VIRTIO_MMIO_STATUS) & S_RESET);
	assert_true(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(rd(VIRTIO_MMIO_CONFIG_GENERATION), 1);
	assert_int_equal(used_idx(1), e.q[1].used_seen);
	/* The failed device serves nothing: not on hiprio either. */
	build_getattr_root();
	post_req(0, 2, SLOT);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	while (virtio_env_dispatch(&e.v, 0) > 0)
		;
	assert_int_equal(used_idx(0), 0);

	/* The same on hiprio, after a reset: the driver brings the device back. */
	driver_init();
	fuse_init();
	fenv_begin(&e.fe, FUSE_FORGET, 5);
	s[0] = (struct seg){ place(1), (uint32_t)e.fe.req_len, false };
	for (i = 1; i < n; i++)
		s[i] = (struct seg){ DATA + (i - 1) * 16, 16, false };
	post_indirect(0, s, n);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	while (virtio_env_dispatch(&e.v, 0) > 0)
		;
	assert_true(rd(VIRTIO_MMIO_STATUS) & S_RESET);
	assert_int_equal(rd(VIRTIO_MMIO_CONFIG_GENERATION), 2);
	driver_init();
	fuse_init();
}

/*
 * 1 MiB WRITE and READ as Linux sends them: one descriptor per page (here in
 * reverse order, scattered) plus the headers, 260 and 259 descriptors in an
 * indirect table.
 */
static void test_one_mib(void **state)
{
	static struct seg s[FSRV_MAX_PAGES + 4];
	struct fuse_write_in win;
	struct fuse_read_in rin;
	struct fuse_entry_out eo;
	struct fuse_write_out wo;
	struct vring_used_elem u;
	uint8_t *host;
	uint64_t node, fh;
	unsigned int i, n;
	uint16_t head;
	int fd;

	(void)state;
	write_host_file("big", MIB + 100);
	driver_init();
	fuse_init();
	node = lookup("big", &eo);
	fh = open_file(node, O_RDWR);

	/* WRITE: in header, write_in, 256 pages; out header, write_out. */
	for (i = 0; i < FSRV_MAX_PAGES; i++)
		memset(gpa(DATA + (FSRV_MAX_PAGES - 1 - i) * PAGE), 0x40 + (i % 64), PAGE);
	win = (struct fuse_write_in){ .fh = fh, .offset = 50, .size = MIB };
	fenv_begin(&e.fe, FUSE_WRITE, node);
	fenv_put(&e.fe, &win, sizeof(win));
	fenv_hdr(&e.fe)->len = (uint32_t)(e.fe.req_len + MIB);
	n = 0;
	s[n++] = (struct seg){ place(1), sizeof(struct fuse_in_header), false };
	s[n++] = (struct seg){ REQ + SLOT + sizeof(struct fuse_in_header), sizeof(win), false };
	for (i = 0; i < FSRV_MAX_PAGES; i++)
		s[n++] = (struct seg){ DATA + (FSRV_MAX_PAGES - 1 - i) * PAGE, PAGE, false };
	s[n++] = (struct seg){ REPLY + SLOT, sizeof(struct fuse_out_header), true };
	s[n++] = (struct seg){ REPLY + SLOT + 64, sizeof(wo), true };
	assert_int_equal(n, 260);
	head = post_indirect(1, s, n);
	run(1, 1);
	u = take_used(1);
	assert_int_equal(u.id, head);
	assert_int_equal(u.len, sizeof(struct fuse_out_header) + sizeof(wo));
	assert_int_equal(reply_hdr(1)->error, 0);
	memcpy(&wo, gpa(REPLY + SLOT + 64), sizeof(wo));
	assert_int_equal(wo.size, MIB);
	host = malloc(MIB + 100);
	assert_non_null(host);
	fd = open(fenv_path(&e.fe, "big"), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, host, MIB + 100, 0), MIB + 100);
	close(fd);
	for (i = 0; i < 50; i++)
		assert_int_equal(host[i], data_byte(i));
	for (i = 0; i < MIB; i++)
		if (host[50 + i] != 0x40 + ((i / PAGE) % 64))
			fail_msg("byte %u of the write is 0x%x", i, host[50 + i]);
	for (i = 50 + MIB; i < MIB + 100; i++)
		assert_int_equal(host[i], data_byte(i));

	/* READ it back the same way: in header and read_in; out header, 256 pages. */
	memset(gpa(DATA), PATTERN, MIB + PAGE);
	rin = (struct fuse_read_in){ .fh = fh, .offset = 50, .size = MIB };
	fenv_begin(&e.fe, FUSE_READ, node);
	fenv_put(&e.fe, &rin, sizeof(rin));
	n = 0;
	s[n++] = (struct seg){ place(2), sizeof(struct fuse_in_header), false };
	s[n++] = (struct seg){ REQ + 2 * SLOT + sizeof(struct fuse_in_header), sizeof(rin), false };
	s[n++] = (struct seg){ REPLY + 2 * SLOT, sizeof(struct fuse_out_header), true };
	for (i = 0; i < FSRV_MAX_PAGES; i++)
		s[n++] = (struct seg){ DATA + (FSRV_MAX_PAGES - 1 - i) * PAGE, PAGE, true };
	assert_int_equal(n, 259);
	head = post_indirect(1, s, n);
	run(1, 1);
	u = take_used(1);
	assert_int_equal(u.id, head);
	assert_int_equal(u.len, sizeof(struct fuse_out_header) + MIB);
	assert_int_equal(reply_hdr(2)->error, 0);
	assert_int_equal(reply_hdr(2)->len, u.len);
	for (i = 0; i < FSRV_MAX_PAGES; i++)
		assert_memory_equal(gpa(DATA + (FSRV_MAX_PAGES - 1 - i) * PAGE),
				    host + 50 + i * PAGE, PAGE);
	assert_true(all(gpa(DATA + MIB), PAGE, PATTERN));
	free(host);
}

/*
 * VFS_WORKERS requests are served at once (one slow request does not hold
 * up the others or hiprio); the rest wait in the ring.
 */
static void test_workers(void **state)
{
	struct fuse_forget_in fin = { .nlookup = 1 };
	struct virtio_dev *d = e.v.mmio.r[0].dev;
	struct vfs_stats st;
	unsigned int i, inflight;

	(void)state;
	driver_init();
	fuse_init();
	e.hold = true;
	for (i = 0; i < 8; i++) {
		build_getattr_root();
		post_req(1, 10 + i, SLOT);
	}
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	while (virtio_env_dispatch(&e.v, 0) > 0)
		;
	wait_in_hook(4);
	usleep(20000);
	st = stats();
	assert_int_equal(st.busy, 4);
	assert_int_equal(e.in_hook, 4);
	pthread_mutex_lock(&d->lock);
	inflight = d->vq[1].inflight;
	pthread_mutex_unlock(&d->lock);
	assert_int_equal(inflight, 4);
	assert_int_equal(pending_used(1), 0);

	/* The event loop is free: hiprio is served while every worker is busy. */
	fenv_begin(&e.fe, FUSE_FORGET, 12345);
	fenv_put(&e.fe, &fin, sizeof(fin));
	post_req(0, 1, 0);
	run(0, 1);
	assert_int_equal(take_used(0).len, 0);

	release_hook();
	run(1, 8);
	for (i = 0; i < 8; i++) {
		struct vring_used_elem u = take_used(1);

		assert_int_equal(u.len,
				 sizeof(struct fuse_out_header) + sizeof(struct fuse_attr_out));
	}
	for (i = 0; i < 8; i++)
		assert_int_equal(reply_hdr(10 + i)->error, 0);
	st = stats();
	assert_int_equal(st.busy, 0);
	assert_int_equal(st.idle, 4);
	assert_int_equal(st.served, 9);
}

static void *resetter(void *arg)
{
	atomic_bool *done = arg;

	wr(VIRTIO_MMIO_STATUS, 0); /* a vCPU resets the device */
	atomic_store(done, true);
	return NULL;
}

/* A reset while every worker is busy waits for them; their answers never reach the guest. */
static void test_reset_busy(void **state)
{
	struct fuse_entry_out eo;
	struct vfs_stats st;
	atomic_bool done = false;
	pthread_t t;
	unsigned int i;
	uint8_t *snap;

	(void)state;
	assert_int_equal(fenv_write_host(fenv_path(&e.fe, "f"), "data", 0644), 0);
	driver_init();
	fuse_init();
	lookup("f", &eo);
	open_file(eo.nodeid, O_RDONLY);
	assert_int_equal(stats().inodes, 2);
	assert_int_equal(stats().handles, 1);

	e.hold = true;
	for (i = 0; i < 6; i++) {
		build_getattr_root();
		post_req(1, 10 + i, SLOT);
	}
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	while (virtio_env_dispatch(&e.v, 0) > 0)
		;
	wait_in_hook(4);
	assert_int_equal(pthread_create(&t, NULL, resetter, &done), 0);
	usleep(100000);
	/* The reset waits for the requests in service. */
	assert_false(atomic_load(&done));
	release_hook();
	pthread_join(t, NULL);
	assert_true(atomic_load(&done));
	st = stats();
	assert_int_equal(st.busy, 0);
	assert_int_equal(st.dropped, 4);
	/* The server forgot the guest's inodes and handles. */
	assert_int_equal(st.inodes, 1);
	assert_int_equal(st.handles, 0);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), 0);
	/* Nothing reached the used ring, and nothing touches guest memory any more. */
	assert_int_equal(used_idx(1), e.q[1].used_seen);
	memset(gpa(REPLY), PATTERN, NSLOTS * SLOT);
	snap = malloc(RAM_SIZE);
	assert_non_null(snap);
	memcpy(snap, e.v.ram, RAM_SIZE);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	for (i = 0; i < 20; i++) {
		while (virtio_env_dispatch(&e.v, 0) > 0)
			;
		usleep(5000);
	}
	assert_memory_equal(snap, e.v.ram, RAM_SIZE);
	free(snap);
	assert_int_equal(stats().served, 3);

	/* A new driver: INIT again, and the device works. */
	driver_init();
	fuse_init();
	lookup("f", &eo);
}

/* Destroy with requests in service (and more waiting): it waits for them and answers none. */
static void test_destroy_in_flight(void **state)
{
	unsigned int i, untouched = 0;

	(void)state;
	driver_init();
	fuse_init();
	e.sleep_ms = 100;
	for (i = 0; i < 10; i++) {
		build_getattr_root();
		post_req(1, 10 + i, SLOT);
	}
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	while (virtio_env_dispatch(&e.v, 0) > 0)
		;
	for (i = 0; i < 1000 && stats().busy < 4; i++)
		usleep(1000);
	assert_int_equal(stats().busy, 4);
	vfs_destroy(e.f);
	e.f = NULL;
	assert_int_equal(used_idx(1), e.q[1].used_seen);
	/* The four in service may have written their replies before destroy returned; no more. */
	for (i = 0; i < 10; i++)
		untouched += all(gpa(REPLY + (10 + i) * SLOT), SLOT, PATTERN);
	assert_int_equal(untouched, 6);
}

/*
 * As in hull: kicks served on an event loop thread, requests by the workers,
 * resets from this thread (a vCPU), some landing mid-flight. No kick is lost:
 * rounds left to finish answer every request.
 */
static void test_threads(void **state)
{
	struct loop_handler stop = { .cb = virtio_env_stop_loop };
	unsigned int round, i, n = 48, ok = 0;
	struct vfs_stats st;
	pthread_t t;

	(void)state;
	stop.fd = eventfd(0, EFD_CLOEXEC);
	assert_true(stop.fd >= 0);
	assert_int_equal(loop_add(&e.v.loop, &stop, EPOLLIN), 0);
	assert_int_equal(pthread_create(&t, NULL, virtio_env_loop_thread, &e.v.loop), 0);
	for (round = 0; round < 30; round++) {
		time_t end = time(NULL) + 10;

		/* Each driver starts with INIT, alone: the server serves nothing before it. */
		driver_init();
		build_init();
		post_req(1, 0, SLOT);
		wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
		while (used_idx(1) != 1 && time(NULL) < end)
			usleep(100);
		assert_int_equal(used_idx(1), 1);
		assert_int_equal(reply_hdr(0)->error, 0);
		for (i = 1; i <= n; i++) {
			build_getattr_root();
			post_req(1, i, 256);
			/* Kick now and then, as a driver with event suppression would. */
			if (i % 16 == 0 || i == n)
				wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
		}
		if (round % 3 == 2) {
			while (used_idx(1) != n + 1 && time(NULL) < end)
				usleep(1000);
			assert_int_equal(used_idx(1), n + 1);
			for (i = 1; i <= n; i++)
				assert_int_equal(reply_hdr(i)->error, 0);
			ok++;
		} else {
			usleep(round * 30);
		}
		wr(VIRTIO_MMIO_STATUS, 0);
		st = stats();
		assert_int_equal(st.busy, 0);
	}
	eventfd_write(stop.fd, 1);
	pthread_join(t, NULL);
	loop_del(&e.v.loop, &stop);
	close(stop.fd);
	assert_int_equal(ok, 10);
}

/* ---- creation errors and leaks ---- */


static unsigned int lines(const char *s)
{
	unsigned int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_bad_share(void **state)
{
	struct vfs *x = NULL;
	char missing[PATH_MAX + 16], *msg;
	int fds = count_dir("/proc/self/fd"), threads = count_dir("/proc/self/task");

	(void)state;
	snprintf(missing, sizeof(missing), "%s/nonexistent", e.fe.root);
	virtio_env_capture_start();
	assert_int_equal(create(missing, "a", BASE + 0x10000, &x), -ENOENT);
	msg = virtio_env_capture_end();
	assert_null(x);
	assert_int_equal(lines(msg), 1);
	assert_non_null(strstr(msg, "share "));
	assert_non_null(strstr(msg, missing));

	assert_int_equal(fenv_write_host(fenv_path(&e.fe, "file"), "x", 0644), 0);
	virtio_env_capture_start();
	assert_int_equal(create(fenv_path(&e.fe, "file"), "a", BASE + 0x10000, &x), -ENOTDIR);
	msg = virtio_env_capture_end();
	assert_int_equal(lines(msg), 1);
	assert_non_null(strstr(msg, "share "));
	assert_non_null(strstr(msg, "/file"));
	assert_int_equal(count_dir("/proc/self/fd"), fds);
	assert_int_equal(tasks_settle(threads), threads);

	/* Attaching over another device fails late: the workers and fds are undone. */
	virtio_env_capture_start();
	assert_int_equal(create(e.fe.share, "b", e.base + 0x800, &x), -EINVAL);
	msg = virtio_env_capture_end();
	assert_null(x);
	assert_non_null(strstr(msg, "cannot attach"));
	assert_int_equal(count_dir("/proc/self/fd"), fds);
	assert_int_equal(tasks_settle(threads), threads);
}

/* Threads whose name starts with prefix. */
static int count_named(const char *prefix)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	assert_non_null(dir);
	while ((de = readdir(dir))) {
		char path[300], comm[32];
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		len = fenv_read_host(path, comm, sizeof(comm));
		n += len > 0 && !strncmp(comm, prefix, strlen(prefix));
	}
	closedir(dir);
	return n;
}

static void test_create_destroy(void **state)
{
	int fds = count_dir("/proc/self/fd"), threads = count_dir("/proc/self/task");
	struct vfs *x = NULL;

	(void)state;
	assert_int_equal(create(e.fe.share, "two", BASE + 0x10000, &x), 0);
	assert_non_null(x);
	assert_int_equal(count_dir("/proc/self/task"), threads + 4);
	/* Four workers per device, named "hull-fs N" (this one is device 0 too). */
	assert_int_equal(count_named("hull-fs "), 8);
	assert_int_equal(count_named("hull-fs 3\n"), 2);
	assert_int_equal(count_named("hull-fs 4"), 0);
	assert_true(count_dir("/proc/self/fd") > fds);
	vfs_destroy(x);
	assert_int_equal(count_dir("/proc/self/fd"), fds);
	assert_int_equal(tasks_settle(threads), threads);
	vfs_destroy(NULL);
}

/*
 * A share of entries through the device kind (container mode's bind mounts): its check opens
 * every entry before the VM exists (a bad one is refused there, naming it), the device serves
 * the synthetic root, and the share joins the descriptor budget only once it is built.
 */
static void test_entries_device(void **state)
{
	static const char text[] = "one file\n";
	struct vfs_entry ents[2];
	struct vfs_config c = { .cache = VFS_CACHE_AUTO, .entries = ents, .nentries = 2 };
	struct fuse_entry_out eo;
	char m0[] = "m0", m1[] = "m1";
	struct virtio_dev *d = NULL;
	struct fdbudget budget;
	void *res = NULL;
	char *msg;
	int fds;

	(void)state;
	vfs_destroy(e.f); /* the plain share setup() made: this test's device takes its place */
	e.f = NULL;
	fds = count_dir("/proc/self/fd");
	snprintf(c.tag, sizeof(c.tag), "mounts");
	assert_int_equal(mkdir(fenv_path(&e.fe, "dir"), 0755), 0);
	assert_int_equal(fenv_write_host(fenv_path(&e.fe, "dir/inside"), "in", 0644), 0);
	assert_int_equal(fenv_write_host(fenv_path(&e.fe, "file"), text, 0644), 0);
	ents[0] = (struct vfs_entry){ .name = m0, .path = strdup(fenv_path(&e.fe, "dir")) };
	ents[1] = (struct vfs_entry){ .name = m1, .path = strdup(fenv_path(&e.fe, "missing")),
				      .ro = true };

	/* The check names the entry that cannot be opened; nothing stays open. */
	virtio_env_capture_start();
	assert_int_equal(vfs_kind.check(&c, 0, &res), -ENOENT);
	msg = virtio_env_capture_end();
	assert_null(res);
	assert_int_equal(lines(msg), 1);
	assert_non_null(strstr(msg, "share mounts: entry m1 ("));
	assert_non_null(strstr(msg, "/missing): No such file or directory"));
	assert_int_equal(count_dir("/proc/self/fd"), fds);

	free(ents[1].path);
	ents[1].path = strdup(fenv_path(&e.fe, "file"));
	fdbudget_init(&budget, 1000);
	e.v.host.fds = &budget;
	assert_int_equal(vfs_kind.check(&c, 0, &res), 0);
	assert_non_null(res);
	assert_int_equal(budget.naccts, 0); /* opened, not yet the VM's */
	assert_int_equal(vfs_kind.create(&c, res, 0, &e.v.host, &d), 0);
	assert_int_equal(budget.naccts, 1);
	e.base += 0x10000; /* the bus keeps the old window's range */
	assert_int_equal(virtio_mmio_attach(d, &e.v.host, e.base, GSI), 0);
	driver_init();
	fuse_init();
	lookup("m0", &eo);
	assert_int_equal(eo.attr.mode & S_IFMT, S_IFDIR);
	lookup("m1", &eo);
	assert_int_equal(eo.attr.mode & S_IFMT, S_IFREG);
	assert_int_equal(eo.attr.size, sizeof(text) - 1);
	fenv_begin(&e.fe, FUSE_LOOKUP, FUSE_ROOT_ID);
	fenv_name(&e.fe, "dir");
	assert_int_equal(call(1, SLOT), -ENOENT); /* only the entries' names */
	virtio_dev_destroy(d);
	assert_int_equal(budget.naccts, 0);
	e.v.host.fds = NULL;
	free(ents[0].path);
	free(ents[1].path);
	assert_int_equal(count_dir("/proc/self/fd"), fds);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_config_space),
		T(test_long_tag),
		T(test_features),
		T(test_requests),
		T(test_hiprio),
		T(test_hiprio_budget),
		T(test_hiprio_aliased),
		T(test_chain_too_long),
		T(test_one_mib),
		T(test_workers),
		T(test_reset_busy),
		T(test_destroy_in_flight),
		T(test_threads),
		T(test_bad_share),
		T(test_create_destroy),
		T(test_entries_device),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
