/* virtio_env: the VM a virtio unit test plays and its driver, compiled once for every test. */
#include "tests/unit/virtio_env.h"

#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

int virtio_env_init(struct virtio_env *v, uint64_t gpa, size_t size,
		    void (*irq)(void *, unsigned int, int), void *opaque)
{
	memset(v, 0, sizeof(*v));
	v->loop.epfd = -1;
	v->ram = aligned_alloc(4096, size);
	if (!v->ram)
		return -1;
	memset(v->ram, 0, size);
	if (gmem_add(&v->mem, gpa, size, v->ram) || loop_init(&v->loop))
		return -1;
	bus_init(&v->mmio, "mmio");
	v->lines = (struct dev_host){ .irq = irq, .opaque = opaque };
	v->host = (struct virtio_host){
		.mem = &v->mem, .loop = &v->loop, .mmio = &v->mmio, .vm_fd = -1, .lines = &v->lines
	};
	return 0;
}

void virtio_env_fini(struct virtio_env *v)
{
	loop_destroy(&v->loop);
	free(v->ram);
	v->ram = NULL;
}

/* stderr while a capture runs, and the memfd it goes to. */
static int saved_err = -1, cap_fd = -1;

void virtio_env_capture_start(void)
{
	cap_fd = memfd_create("stderr", 0);
	saved_err = dup(2);
	if (cap_fd < 0 || saved_err < 0)
		abort();
	dup2(cap_fd, 2);
}

char *virtio_env_capture_end(void)
{
	static char buf[2048];
	ssize_t n;

	dup2(saved_err, 2);
	close(saved_err);
	n = pread(cap_fd, buf, sizeof(buf) - 1, 0);
	close(cap_fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

void *virtio_env_loop_thread(void *arg)
{
	loop_run(arg);
	return NULL;
}

void virtio_env_stop_loop(struct loop *l, struct loop_handler *h, uint32_t events)
{
	(void)h;
	(void)events;
	loop_stop(l);
}

int virtio_env_dispatch(struct virtio_env *v, int ms)
{
	struct epoll_event ev[8];
	int i, n = epoll_wait(v->loop.epfd, ev, 8, ms);

	for (i = 0; i < n; i++) {
		struct loop_handler *h = ev[i].data.ptr;

		h->cb(&v->loop, h, ev[i].events);
	}
	return n;
}

uint32_t virtio_env_rd(struct virtio_dev *d, uint64_t off)
{
	uint8_t b[4] = { 0 };

	virtio_mmio_ops.read(d, off, b, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

void virtio_env_wr(struct virtio_dev *d, uint64_t off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	virtio_mmio_ops.write(d, off, b, 4);
}

uint64_t virtio_drv_offered(const struct virtio_drv *r)
{
	uint64_t f;

	r->wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	f = r->rd(VIRTIO_MMIO_DEVICE_FEATURES);
	r->wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	return f | (uint64_t)r->rd(VIRTIO_MMIO_DEVICE_FEATURES) << 32;
}

void virtio_drv_features(const struct virtio_drv *r, uint64_t f)
{
	r->wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	r->wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	r->wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	r->wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
}

uint32_t virtio_drv_negotiate(const struct virtio_drv *r, uint64_t want)
{
	r->wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	r->wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	virtio_drv_features(r, virtio_drv_offered(r) & want);
	r->wr(VIRTIO_MMIO_STATUS,
	      VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	return r->rd(VIRTIO_MMIO_STATUS);
}

void virtio_drv_queue(const struct virtio_drv *r, uint32_t q, uint32_t num, uint64_t desc,
		      uint64_t avail, uint64_t used)
{
	r->wr(VIRTIO_MMIO_QUEUE_SEL, q);
	r->wr(VIRTIO_MMIO_QUEUE_NUM, num);
	r->wr(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	r->wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	r->wr(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
	r->wr(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(avail >> 32));
	r->wr(VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)used);
	r->wr(VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(used >> 32));
}

uint32_t virtio_drv_driver_ok(const struct virtio_drv *r)
{
	r->wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					  VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	return r->rd(VIRTIO_MMIO_STATUS);
}
