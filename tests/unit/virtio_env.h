/* virtio_env: the VM a virtio unit test plays — guest RAM, MMIO bus, event loop, interrupt lines. */
#ifndef HULL_TESTS_UNIT_VIRTIO_ENV_H
#define HULL_TESTS_UNIT_VIRTIO_ENV_H

#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include "virtio/virtio.h"

struct virtio_env {
	uint8_t *ram;
	struct gmem mem;
	struct bus mmio;
	struct loop loop;
	struct dev_host lines;
	struct virtio_host host; /* vm_fd -1: no KVM, the transport signals by itself */
};

/*
 * Zeroed RAM of size bytes at gpa, an empty bus, a loop, and interrupt lines
 * reported to irq(opaque, gsi, level). 0, or -1 when something cannot be set up.
 */
static inline int virtio_env_init(struct virtio_env *v, uint64_t gpa, size_t size,
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

static inline void virtio_env_fini(struct virtio_env *v)
{
	loop_destroy(&v->loop);
	free(v->ram);
	v->ram = NULL;
}

/* Capture what hull logs (stderr) between these two calls, to check the messages users see. */
static int virtio_env_saved_err = -1, virtio_env_cap_fd = -1;

static inline void virtio_env_capture_start(void)
{
	virtio_env_cap_fd = memfd_create("stderr", 0);
	virtio_env_saved_err = dup(2);
	if (virtio_env_cap_fd < 0 || virtio_env_saved_err < 0)
		abort();
	dup2(virtio_env_cap_fd, 2);
}

/* What was logged since virtio_env_capture_start (the first 2 KiB); valid until the next call. */
static inline char *virtio_env_capture_end(void)
{
	static char buf[2048];
	ssize_t n;

	dup2(virtio_env_saved_err, 2);
	close(virtio_env_saved_err);
	n = pread(virtio_env_cap_fd, buf, sizeof(buf) - 1, 0);
	close(virtio_env_cap_fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* A thread body running the event loop (arg) as hull's loop thread does, until loop_stop. */
static inline void *virtio_env_loop_thread(void *arg)
{
	loop_run(arg);
	return NULL;
}

/* A loop handler that stops the loop: tests signal its eventfd to end virtio_env_loop_thread. */
static inline void virtio_env_stop_loop(struct loop *l, struct loop_handler *h, uint32_t events)
{
	(void)h;
	(void)events;
	loop_stop(l);
}

/* Run the loop's ready handlers (kicks, completions, timers), waiting up to ms; the count. */
static inline int virtio_env_dispatch(struct virtio_env *v, int ms)
{
	struct epoll_event ev[8];
	int i, n = epoll_wait(v->loop.epfd, ev, 8, ms);

	for (i = 0; i < n; i++) {
		struct loop_handler *h = ev[i].data.ptr;

		h->cb(&v->loop, h, ev[i].events);
	}
	return n;
}

#endif
