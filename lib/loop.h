/* loop: the event loop — one epoll set, one thread, a callback per fd. */
#ifndef HULL_LIB_LOOP_H
#define HULL_LIB_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct loop_handler {
	int fd;
	void (*cb)(struct loop *l, struct loop_handler *h, uint32_t events);
	void *opaque;
};

struct loop {
	int epfd;
	bool stop;
};

int loop_init(struct loop *l);
void loop_destroy(struct loop *l);
/* h must stay valid until removed or the loop is destroyed. */
int loop_add(struct loop *l, struct loop_handler *h, uint32_t events);
int loop_mod(struct loop *l, struct loop_handler *h, uint32_t events);
int loop_del(struct loop *l, struct loop_handler *h);
/* Dispatch events until loop_stop(); -errno on an epoll failure. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

#endif
