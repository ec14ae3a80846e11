/* virtio-fs device: config space, the hiprio queue served inline, the request queue's workers. */
#include <endian.h>
#include <errno.h>
#include <linux/fuse.h>
#include <linux/virtio_fs.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "virtio/fs/fsrv.h"
#include "virtio/fs/fs.h"
#include "virtio/fs/internal.h"
#include "lib/log.h"

#define Q_HIPRIO 0
#define Q_REQUEST 1
/*
 * QueueNumMax, and so the hop budget of a chain: Linux's driver sends a 1 MiB
 * READ or WRITE as one descriptor per page plus four (in header, in args, out
 * header, out args), 260 in all, through an indirect table.
 */
#define VFS_QUEUE_MAX 1024
#define VFS_IOV_MAX (FSRV_MAX_PAGES + 16) /* a longer chain breaks the ring */
#define VFS_WORKERS 4			  /* requests in service at once, per device */
#define VFS_STACK (256 << 10)

struct vfs;

struct vfs_worker {
	struct vfs *f;
	unsigned int index;
	pthread_t thread;
	struct iovec iov[VFS_IOV_MAX]; /* the chain in service */
};

struct vfs {
	struct virtio_dev dev;
	struct virtio_fs_config cfg; /* as the guest reads it */
	struct fsrv *srv;
	int root_fd; /* from vfs_open (the check) until the server takes it */

	/*
	 * Idle workers wait in epoll_wait on dev.own_epfd, which holds the
	 * request queue's kick eventfd (edge-triggered: one kick wakes one
	 * worker, straight from KVM's ioeventfd, no event-loop hop) and stop_fd
	 * (level-triggered: once written, it wakes every worker for good).
	 */
	int stop_fd;

	/* Under dev.lock. */
	pthread_cond_t quiet;	/* a reset waits here for busy to reach 0 */
	unsigned int idle;	/* workers waiting for a kick */
	unsigned int busy;	/* workers inside fsrv_handle */
	unsigned int resetting; /* resets waiting for busy workers (vCPUs may race) */
	bool stopping;		/* destroy: workers leave */
	uint64_t served, hiprio, refused, dropped;

	struct iovec hp_iov[VFS_IOV_MAX]; /* the hiprio chain (event loop thread, lock held) */
	struct vfs_worker workers[VFS_WORKERS];
	unsigned int nworkers;	  /* started */
	struct vfs_params params; /* vfs_create's (zeroes from the kind); constant once built */
};

static struct vfs *to_vfs(struct virtio_dev *d)
{
	return container_of(d, struct vfs, dev);
}

static uint32_t used_len(size_t n)
{
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/*
 * One hiprio request: only what cannot block (table operations) is served on
 * the event loop, and at most one page of it (FSRV_HIPRIO_MAX: 253 forgets;
 * fsrv_handle refuses longer ones unread). Other opcodes are refused after
 * reading their header.
 */
static size_t serve_hiprio(struct vfs *f, const struct virtq_chain *c)
{
	const struct iovec *in = c->iov, *out = c->iov + c->nout;
	struct fsrv_peek p;

	if (fsrv_peek(in, c->nout, &p))
		return 0; /* no usable header: nothing to answer */
	switch (p.opcode) {
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		f->hiprio++;
		return fsrv_handle(f->srv, in, c->nout, out, c->nin);
	default:
		/* A slow call here would stall the loop and every other device on it. */
		f->refused++;
		return fsrv_reply_error(out, c->nin, p.unique, -EINVAL);
	}
}

/*
 * Event loop thread, device lock held: at most VIRTIO_NOTIFY_BUDGET chains
 * per call (each bounded as serve_hiprio says), then the rest waits for a
 * later pass of the loop, so a guest refilling the ring as fast as it is
 * served slows only itself.
 */
static void notify_hiprio(struct vfs *f)
{
	struct virtio_dev *d = &f->dev;
	struct virtq *q = &d->vq[Q_HIPRIO];
	unsigned int n;
	bool pushed = false;

	for (n = 0; n < VIRTIO_NOTIFY_BUDGET; n++) {
		struct virtq_chain c = { .iov = f->hp_iov, .cap = VFS_IOV_MAX };
		int ret = virtq_pop(q, &c);

		if (!ret)
			break;
		if (ret < 0) {
			virtio_dev_fail(d, "queue %u: %s", Q_HIPRIO, q->why);
			break;
		}
		if (virtq_push(q, c.head, used_len(serve_hiprio(f, &c))) < 0)
			log_msg("%s: head %u could not be returned", d->name, c.head);
		pushed = true;
	}
	/*
	 * Budget spent: continue on a later pass even if the ring looks empty
	 * now, since only an empty pop publishes avail_event (EVENT_IDX): without
	 * it the guest would not kick for what it adds next.
	 */
	if (n == VIRTIO_NOTIFY_BUDGET)
		virtio_dev_requeue(d, Q_HIPRIO);
	if (pushed)
		virtio_dev_queue_done(d, Q_HIPRIO);
}

static void vfs_notify(struct virtio_dev *d, unsigned int q)
{
	struct vfs *f = to_vfs(d);

	/* A reset waiting for the workers has released the lock: serve nothing meanwhile. */
	if (f->resetting)
		return;
	if (q == Q_HIPRIO)
		notify_hiprio(f);
}

/* Take the next request for a worker: 1 with c filled, 0 when there is none. Lock held. */
static int take(struct vfs *f, struct virtq_chain *c)
{
	struct virtio_dev *d = &f->dev;
	struct virtq *q = &d->vq[Q_REQUEST];
	int ret;

	if (f->resetting || !virtio_dev_live(d) || !q->enabled || q->broken)
		return 0;
	ret = virtq_pop(q, c);
	if (ret < 0) {
		virtio_dev_fail(d, "queue %u: %s", Q_REQUEST, q->why);
		return 0;
	}
	return ret;
}

/* Answer a served request, unless a reset or a failure came meanwhile. Lock held. */
static void finish(struct vfs *f, const struct virtq_chain *c, size_t len)
{
	struct virtio_dev *d = &f->dev;

	f->busy--;
	if (f->resetting || !virtio_dev_live(d)) {
		/* The guest gave the buffers up: not a byte more goes to them or to the ring. */
		f->dropped++;
		if (!f->busy)
			pthread_cond_broadcast(&f->quiet);
		return;
	}
	f->served++;
	if (virtq_push(&d->vq[Q_REQUEST], c->head, used_len(len)) < 0)
		log_msg("%s: head %u could not be returned", d->name, c->head);
	virtio_dev_queue_done(d, Q_REQUEST);
}

/*
 * Sleep until a kick (or stop). A kick that came after our last empty pop is
 * still pending as an edge on the eventfd, so it cannot be missed; a stale
 * one only costs an empty pop.
 */
static void wait_kick(struct vfs *f)
{
	struct epoll_event ev;
	eventfd_t v;

	if (epoll_wait(f->dev.own_epfd, &ev, 1, -1) == 1 && ev.data.u32 == Q_REQUEST &&
	    eventfd_read(f->dev.kick_fd[Q_REQUEST], &v) < 0 && errno != EAGAIN)
		log_debug("%s: kick read: %s", f->dev.name, strerror(errno));
}

/*
 * A worker holds at most one chain: VFS_WORKERS bounds the requests in
 * service (and the guest memory pinned by them); the rest wait in the ring.
 * One request's work is bounded by fsrv_handle (at most FSRV_IN_MAX read,
 * I/O of max_write, a 128 KiB directory reply), so a reset or shutdown
 * waiting for the busy workers waits for that much at most.
 */
static void *worker_main(void *arg)
{
	struct vfs_worker *w = arg;
	struct vfs *f = w->f;
	struct virtio_dev *d = &f->dev;

	pthread_mutex_lock(&d->lock);
	while (!f->stopping) {
		struct virtq_chain c = { .iov = w->iov, .cap = VFS_IOV_MAX };
		size_t len;

		if (!take(f, &c)) {
			f->idle++;
			pthread_mutex_unlock(&d->lock);
			wait_kick(f);
			pthread_mutex_lock(&d->lock);
			f->idle--;
			continue;
		}
		/* More waiting: wake an idle worker (as a kick would) rather than queue behind us. */
		if (f->idle && virtq_pending(&d->vq[Q_REQUEST]) &&
		    eventfd_write(d->kick_fd[Q_REQUEST], 1) < 0)
			log_debug("%s: wake: %s", d->name, strerror(errno));
		f->busy++;
		pthread_mutex_unlock(&d->lock);
		if (f->params.before_serve)
			f->params.before_serve(f->params.arg);
		len = fsrv_handle(f->srv, c.iov, c.nout, c.iov + c.nout, c.nin);
		pthread_mutex_lock(&d->lock);
		finish(f, &c, len);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/*
 * Called with the lock held (guest reset from a vCPU, or detach). Waits for
 * the requests in service, whose answers are dropped, so no guest memory is
 * touched once this returns; then the server forgets the guest's inodes and
 * handles.
 */
static void vfs_reset(struct virtio_dev *d)
{
	struct vfs *f = to_vfs(d);

	f->resetting++;
	while (f->busy)
		pthread_cond_wait(&f->quiet, &d->lock);
	fsrv_reset(f->srv);
	f->resetting--;
}

static void vfs_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len)
{
	memcpy(data, (const uint8_t *)&to_vfs(d)->cfg + off, len);
}

/* The tag and the queue count are the device's: ignore the driver's writes. */
static void vfs_config_write(struct virtio_dev *d, uint32_t off, const uint8_t *data, uint32_t len)
{
	(void)data;
	log_debug("%s: config write at %u (%u bytes) ignored", d->name, off, len);
}

static void vfs_free(struct virtio_dev *d);

static const struct virtio_dev_ops vfs_ops = {
	.type = "fs",
	.device_id = VIRTIO_ID_FS,
	.config_read = vfs_config_read,
	.config_write = vfs_config_write,
	.notify = vfs_notify,
	.reset = vfs_reset,
	.destroy = vfs_free,
};

static void stop_workers(struct vfs *f)
{
	unsigned int i;

	pthread_mutex_lock(&f->dev.lock);
	f->stopping = true;
	pthread_mutex_unlock(&f->dev.lock);
	if (eventfd_write(f->stop_fd, 1) < 0)
		log_msg("%s: cannot stop the workers: %s", f->dev.name, strerror(errno));
	for (i = 0; i < f->nworkers; i++)
		pthread_join(f->workers[i].thread, NULL);
	f->nworkers = 0;
}

/* Small stacks: a worker runs one request at a time and the server keeps big buffers off them. */
static int start_workers(struct vfs *f, unsigned int index)
{
	pthread_attr_t attr;
	unsigned int i;
	int ret;

	ret = pthread_attr_init(&attr);
	if (ret)
		return -ret;
	ret = pthread_attr_setstacksize(&attr, VFS_STACK);
	for (i = 0; !ret && i < VFS_WORKERS; i++) {
		struct vfs_worker *w = &f->workers[i];
		char name[16];

		w->f = f;
		w->index = i;
		ret = pthread_create(&w->thread, &attr, worker_main, w);
		if (ret)
			break;
		f->nworkers++;
		/* Numbered across devices (share 1's workers are 4..7), within the 15 chars. */
		snprintf(name, sizeof(name), "hull-fs %u", index * VFS_WORKERS + i);
		pthread_setname_np(w->thread, name);
	}
	pthread_attr_destroy(&attr);
	if (ret)
		stop_workers(f);
	return -ret;
}

/* The workers' epoll set: stop_fd now, the request queue's kick eventfd at attach. */
static int worker_fds(struct vfs *f)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = UINT32_MAX };
	int ret;

	f->dev.own_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (f->dev.own_epfd < 0)
		return -errno;
	f->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->stop_fd < 0) {
		ret = -errno;
		goto err_ep;
	}
	if (epoll_ctl(f->dev.own_epfd, EPOLL_CTL_ADD, f->stop_fd, &ev)) {
		ret = -errno;
		close(f->stop_fd);
		goto err_ep;
	}
	f->dev.own_kicks = 1u << Q_REQUEST;
	return 0;

err_ep:
	close(f->dev.own_epfd);
	f->dev.own_epfd = -1;
	return ret;
}

/* How messages name the share: its directory, or the tag of a share of entries. */
static const char *label(const struct vfs_config *c)
{
	return c->path ? c->path : c->tag;
}

/*
 * A share of entries opens its whole server in the check, so that every entry is opened
 * (and a bad one reported) before /dev/kvm; it joins the descriptor budget at build.
 */
static int open_entries(const struct vfs_config *c, struct vfs *f, char *err, size_t errlen)
{
	struct fsrv_entry *ents = calloc(c->nentries, sizeof(*ents));
	struct fsrv_config sc = { .path = label(c), .nentries = c->nentries, .ro = c->ro,
				  .cache = c->cache };
	unsigned int i;
	int ret;

	if (!ents) {
		snprintf(err, errlen, "share %s: %s", label(c), strerror(ENOMEM));
		return -ENOMEM;
	}
	for (i = 0; i < c->nentries; i++)
		ents[i] = (struct fsrv_entry){ .name = c->entries[i].name,
					       .path = c->entries[i].path,
					       .ro = c->entries[i].ro };
	sc.entries = ents;
	ret = fsrv_open(&sc, &f->srv, err, errlen); /* the server copies the names */
	free(ents);
	return ret;
}

int vfs_open(const struct vfs_config *c, void **res)
{
	struct vfs *f = calloc(1, sizeof(*f));
	char err[512];
	int ret;

	if (!f) {
		log_msg("share %s: %s", label(c), strerror(ENOMEM));
		return -ENOMEM;
	}
	f->root_fd = -1;
	if (c->nentries)
		ret = open_entries(c, f, err, sizeof(err));
	else
		ret = fsrv_open_root(c->path, &f->root_fd, err, sizeof(err));
	if (ret) {
		log_msg("%s", err);
		free(f);
		return ret;
	}
	*res = f;
	return 0;
}

void vfs_release(void *res)
{
	struct vfs *f = res;

	if (!f)
		return;
	if (f->root_fd >= 0)
		close(f->root_fd);
	fsrv_close(f->srv);
	free(f);
}

/* After vfs_build: everything but the transport, which virtio_dev_destroy detached first. */
static void vfs_free(struct virtio_dev *d)
{
	struct vfs *f = to_vfs(d);

	/* The detach reset waited for the requests in service; now none is. */
	stop_workers(f);
	close(f->stop_fd);
	close(f->dev.own_epfd);
	pthread_cond_destroy(&f->quiet);
	pthread_mutex_destroy(&f->dev.lock);
	vfs_release(f);
}

int vfs_build(const void *cfg, void *res, unsigned int index, const struct virtio_host *host,
	      struct virtio_dev **out)
{
	const struct vfs_config *c = cfg;
	struct fsrv_config sc = { .path = c->path, .ro = c->ro, .cache = c->cache, .fds = host->fds };
	struct vfs *f = res;
	char name[sizeof(f->dev.name)], err[256];
	int ret;

	if (f->srv) {
		/* A share of entries: opened by the check, it has served nothing yet. */
		ret = fsrv_set_budget(f->srv, host->fds);
		if (ret) {
			log_msg("share %s: descriptor budget: %s", label(c), strerror(-ret));
			goto err_free;
		}
	} else {
		ret = fsrv_open_at(&sc, f->root_fd, &f->srv, err, sizeof(err));
		f->root_fd = -1; /* the server's, or closed */
		if (ret) {
			log_msg("%s", err);
			goto err_free;
		}
	}
	memcpy(f->cfg.tag, c->tag, strnlen(c->tag, sizeof(f->cfg.tag)));
	f->cfg.num_request_queues = htole32(1);
	/* A 36-byte tag does not fit in a device name: cut it, keep the parenthesis. */
	if (snprintf(name, sizeof(name), "virtio-fs %u (%s)", index, c->tag) >= (int)sizeof(name))
		name[sizeof(name) - 2] = ')';
	ret = virtio_dev_init(&f->dev, &vfs_ops, name, 2, VFS_QUEUE_MAX, 0, sizeof(f->cfg));
	if (ret) {
		log_msg("share %s: %s", label(c), strerror(-ret));
		goto err_free;
	}
	ret = -pthread_cond_init(&f->quiet, NULL);
	if (ret) {
		log_msg("share %s: %s", label(c), strerror(-ret));
		goto err_mutex;
	}
	ret = worker_fds(f);
	if (ret) {
		log_msg("share %s: %s", label(c), strerror(-ret));
		goto err_quiet;
	}
	ret = start_workers(f, index);
	if (ret) {
		log_msg("share %s: cannot start its worker threads: %s", label(c),
			strerror(-ret));
		goto err_fds;
	}
	*out = &f->dev;
	return 0;

err_fds:
	close(f->stop_fd);
	close(f->dev.own_epfd);
err_quiet:
	pthread_cond_destroy(&f->quiet);
err_mutex:
	pthread_mutex_destroy(&f->dev.lock);
err_free:
	vfs_release(f);
	return ret;
}

int vfs_create(const struct vfs_config *c, unsigned int index, const struct virtio_host *host,
	       const struct vfs_params *p, struct vfs **out)
{
	struct virtio_dev *d;
	void *res = NULL;
	int ret;

	ret = vfs_open(c, &res);
	if (!ret && p) /* before vfs_build starts the workers that read them */
		((struct vfs *)res)->params = *p;
	if (!ret)
		ret = vfs_build(c, res, index, host, &d);
	if (!ret)
		*out = to_vfs(d);
	return ret;
}

void vfs_destroy(struct vfs *f)
{
	if (f)
		virtio_dev_destroy(&f->dev);
}

struct virtio_dev *vfs_dev(struct vfs *f)
{
	return &f->dev;
}

void vfs_stats(struct vfs *f, struct vfs_stats *st)
{
	struct fsrv_stats ss;

	pthread_mutex_lock(&f->dev.lock);
	fsrv_stats(f->srv, &ss);
	*st = (struct vfs_stats){ .served = f->served,
				  .hiprio = f->hiprio,
				  .refused = f->refused,
				  .dropped = f->dropped,
				  .busy = f->busy,
				  .idle = f->idle,
				  .inodes = ss.inodes,
				  .handles = ss.handles,
				  .oversized = ss.oversized };
	pthread_mutex_unlock(&f->dev.lock);
}
