/* inode: the server's bounded node and handle tables, and opening/closing a share. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtio/fs/srv.h"
#include "lib/log.h"

#define ROOT_IDX SRV_ROOT_IDX

static struct srv_inode *ino_at(struct fsrv *s, uint32_t i)
{
	return &s->ichunk[i / SRV_INODE_CHUNK][i % SRV_INODE_CHUNK];
}

static struct srv_handle *hd_at(struct fsrv *s, uint32_t i)
{
	return &s->hchunk[i / SRV_HANDLE_CHUNK][i % SRV_HANDLE_CHUNK];
}

static uint32_t hash_of(struct fsrv *s, unsigned int entry, dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)dev * 0x9e3779b97f4a7c15ULL) ^
		     ((uint64_t)ino * 0xc2b2ae3d27d4eb4fULL) ^
		     ((uint64_t)entry * 0x165667b19e3779f9ULL);

	return (uint32_t)(h ^ (h >> 29)) & s->hmask;
}

static uint64_t node_id(struct fsrv *s, uint32_t i)
{
	return ((uint64_t)ino_at(s, i)->gen << 32) | i;
}

static void hash_remove(struct fsrv *s, uint32_t i)
{
	struct srv_inode *n = ino_at(s, i);
	uint32_t *p = &s->hash[hash_of(s, n->entry, n->dev, n->ino)];

	while (*p && *p != i)
		p = &ino_at(s, *p)->hnext;
	if (*p)
		*p = n->hnext;
	n->hnext = 0;
}

/* Lock held; the slot's fd is an O_PATH fd, so closing it here cannot block. */
static void node_free(struct fsrv *s, uint32_t i)
{
	struct srv_inode *n = ino_at(s, i);

	hash_remove(s, i);
	close(n->fd);
	fdbudget_give(&s->fds);
	n->fd = -1;
	n->gen++;
	n->fnext = s->ifree;
	s->ifree = i;
	s->iused--;
}

static void node_maybe_free(struct fsrv *s, uint32_t i)
{
	struct srv_inode *n = ino_at(s, i);

	if (i != ROOT_IDX && !n->nlookup && !n->refs)
		node_free(s, i);
}

/* Lock held: a free slot index, or 0 with *err. */
static uint32_t node_alloc(struct fsrv *s, int *err)
{
	uint32_t i;

	if (s->iused >= s->max_inodes) {
		*err = -ENFILE;
		return 0;
	}
	if (s->ifree) {
		i = s->ifree;
		s->ifree = ino_at(s, i)->fnext;
		return i;
	}
	i = s->ialloc;
	if (i % SRV_INODE_CHUNK == 0) {
		struct srv_inode *c = calloc(SRV_INODE_CHUNK, sizeof(*c));
		unsigned int k;

		if (!c) {
			*err = -ENOMEM;
			return 0;
		}
		for (k = 0; k < SRV_INODE_CHUNK; k++)
			c[k].fd = -1, c[k].gen = 1;
		s->ichunk[i / SRV_INODE_CHUNK] = c;
	}
	s->ialloc++;
	return i;
}

int srv_node_add(struct fsrv *s, int fd, const struct stat *st, unsigned int entry, uint64_t *id)
{
	uint32_t i, h = hash_of(s, entry, st->st_dev, st->st_ino);
	int err = 0;
	struct srv_inode *n;

	pthread_mutex_lock(&s->lock);
	for (i = s->hash[h]; i; i = ino_at(s, i)->hnext) {
		n = ino_at(s, i);
		if (n->dev == st->st_dev && n->ino == st->st_ino && n->entry == entry) {
			/* Hard links and repeated lookups: one node per host inode and entry. */
			n->nlookup++;
			*id = node_id(s, i);
			if (fd >= 0)
				close(fd);
			pthread_mutex_unlock(&s->lock);
			return 0;
		}
	}
	if (fd < 0) {
		pthread_mutex_unlock(&s->lock);
		return -ENOENT;
	}
	/*
	 * A new inode keeps fd: it needs the budget's leave. Taken only now that
	 * fd is known to be new; until then it was one of the few descriptors a
	 * worker has open for a moment, which hull's reserve covers.
	 */
	err = fdbudget_take(&s->fds);
	if (err) {
		close(fd);
		pthread_mutex_unlock(&s->lock);
		return err;
	}
	i = node_alloc(s, &err);
	if (!i) {
		close(fd);
		fdbudget_give(&s->fds);
		pthread_mutex_unlock(&s->lock);
		return err;
	}
	n = ino_at(s, i);
	n->fd = fd;
	n->type = st->st_mode & S_IFMT;
	n->entry = (uint16_t)entry;
	n->dev = st->st_dev;
	n->ino = st->st_ino;
	n->nlookup = 1;
	n->refs = 0;
	n->fnext = 0;
	n->hnext = s->hash[h];
	s->hash[h] = i;
	s->iused++;
	*id = node_id(s, i);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* Lock held: the slot of a live node id, or 0. The root lives on (a synthetic one has no fd). */
static uint32_t node_find(struct fsrv *s, uint64_t id)
{
	uint32_t i = (uint32_t)id;

	if (!i || i >= s->ialloc || (i != ROOT_IDX && ino_at(s, i)->fd < 0) ||
	    ino_at(s, i)->gen != (uint32_t)(id >> 32))
		return 0;
	return i;
}

int srv_node_get(struct fsrv *s, uint64_t id, struct srv_node *out)
{
	uint32_t i;

	pthread_mutex_lock(&s->lock);
	i = node_find(s, id);
	if (!i) {
		pthread_mutex_unlock(&s->lock);
		return -ESTALE;
	}
	ino_at(s, i)->refs++;
	*out = (struct srv_node){ .id = id,
				  .idx = i,
				  .fd = ino_at(s, i)->fd,
				  .type = ino_at(s, i)->type,
				  .entry = ino_at(s, i)->entry };
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int srv_node_writable(struct fsrv *s, uint64_t id)
{
	unsigned int entry = 0;
	uint32_t i;

	/* A plain share has entry 0 alone: no need to find the node. */
	if (s->nent > 1) {
		pthread_mutex_lock(&s->lock);
		i = node_find(s, id);
		if (i)
			entry = ino_at(s, i)->entry;
		pthread_mutex_unlock(&s->lock);
		if (!i)
			return 0; /* the handler answers -ESTALE */
	}
	return srv_writable(s, entry);
}

void srv_node_put(struct fsrv *s, struct srv_node *n)
{
	if (!n->idx)
		return;
	pthread_mutex_lock(&s->lock);
	ino_at(s, n->idx)->refs--;
	node_maybe_free(s, n->idx);
	pthread_mutex_unlock(&s->lock);
	n->idx = 0;
	n->fd = -1;
}

void srv_node_forget(struct fsrv *s, uint64_t id, uint64_t count)
{
	uint32_t i;
	struct srv_inode *n;

	pthread_mutex_lock(&s->lock);
	i = node_find(s, id);
	if (i && i != ROOT_IDX) {
		n = ino_at(s, i);
		n->nlookup -= count < n->nlookup ? count : n->nlookup;
		node_maybe_free(s, i);
	}
	pthread_mutex_unlock(&s->lock);
}

int srv_handle_new(struct fsrv *s, int fd, uint64_t nodeid, unsigned int entry, uint64_t *fh)
{
	struct srv_handle *h;
	uint32_t i;

	pthread_mutex_lock(&s->lock);
	if (s->hused >= s->max_handles) {
		pthread_mutex_unlock(&s->lock);
		return -ENFILE;
	}
	/* fd was opened for this handle a moment ago (hull's reserve covers that moment). */
	if (fdbudget_take(&s->fds)) {
		pthread_mutex_unlock(&s->lock);
		return -ENFILE;
	}
	if (s->hfree) {
		i = s->hfree - 1;
		s->hfree = hd_at(s, i)->fnext;
	} else {
		i = s->halloc;
		if (i % SRV_HANDLE_CHUNK == 0) {
			struct srv_handle *c = calloc(SRV_HANDLE_CHUNK, sizeof(*c));
			unsigned int k;

			if (!c) {
				fdbudget_give(&s->fds);
				pthread_mutex_unlock(&s->lock);
				return -ENOMEM;
			}
			for (k = 0; k < SRV_HANDLE_CHUNK; k++) {
				c[k].fd = -1;
				c[k].gen = 1;
				pthread_mutex_init(&c[k].lock, NULL);
			}
			s->hchunk[i / SRV_HANDLE_CHUNK] = c;
		}
		s->halloc++;
	}
	h = hd_at(s, i);
	h->fd = fd;
	h->idx = i;
	h->used = h->live = true;
	h->refs = 0;
	h->nodeid = nodeid;
	h->entry = (uint16_t)entry;
	h->fnext = 0;
	s->hused++;
	*fh = ((uint64_t)h->gen << 32) | i;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int srv_handle_get(struct fsrv *s, uint64_t fh, struct srv_handle **out)
{
	uint32_t i = (uint32_t)fh;
	struct srv_handle *h;

	pthread_mutex_lock(&s->lock);
	if (i >= s->halloc || !(h = hd_at(s, i))->live || h->gen != (uint32_t)(fh >> 32)) {
		pthread_mutex_unlock(&s->lock);
		return -EBADF;
	}
	h->refs++;
	*out = h;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/*
 * Close a handle's fd (never under the lock: closing a file may block) and give
 * it back; a handle of the synthetic root has none but took its leave all the same.
 */
static void handle_close(struct fsrv *s, int fd)
{
	if (fd >= 0)
		close(fd);
	fdbudget_give(&s->fds);
}

/* Lock held: h is released and unreferenced; free the slot, return the fd to close. */
static int handle_free(struct fsrv *s, struct srv_handle *h, uint32_t i)
{
	int fd = h->fd;

	h->fd = -1;
	h->used = false;
	h->fnext = s->hfree;
	s->hfree = i + 1;
	s->hused--;
	return fd;
}

void srv_handle_put(struct fsrv *s, struct srv_handle *h)
{
	int fd = -1;

	pthread_mutex_lock(&s->lock);
	if (!--h->refs && !h->live)
		fd = handle_free(s, h, h->idx);
	pthread_mutex_unlock(&s->lock);
	if (fd >= 0)
		handle_close(s, fd);
}

/* Lock held: stop h being found; the fd to close now, or -1 while someone still uses it. */
static int handle_kill(struct fsrv *s, struct srv_handle *h, uint32_t i)
{
	h->live = false;
	h->gen++;
	return h->refs ? -1 : handle_free(s, h, i);
}

int srv_handle_release(struct fsrv *s, uint64_t fh)
{
	uint32_t i = (uint32_t)fh;
	struct srv_handle *h;
	int fd;

	pthread_mutex_lock(&s->lock);
	if (i >= s->halloc || !(h = hd_at(s, i))->live || h->gen != (uint32_t)(fh >> 32)) {
		pthread_mutex_unlock(&s->lock);
		return -EBADF;
	}
	fd = handle_kill(s, h, i);
	pthread_mutex_unlock(&s->lock);
	if (fd >= 0)
		handle_close(s, fd);
	return 0;
}

void srv_tables_drop(struct fsrv *s)
{
	uint32_t i;

	pthread_mutex_lock(&s->lock);
	for (i = ROOT_IDX + 1; i < s->ialloc; i++) {
		if (ino_at(s, i)->fd >= 0) {
			ino_at(s, i)->nlookup = 0;
			node_maybe_free(s, i);
		}
	}
	pthread_mutex_unlock(&s->lock);
	/* Handles one at a time: closing a file may block (NFS flush), never under the lock. */
	for (i = 0;; i++) {
		bool more;
		int fd = -1;

		pthread_mutex_lock(&s->lock);
		while (i < s->halloc && !hd_at(s, i)->live)
			i++;
		more = i < s->halloc;
		if (more)
			fd = handle_kill(s, hd_at(s, i), i);
		pthread_mutex_unlock(&s->lock);
		if (fd >= 0)
			handle_close(s, fd);
		if (!more)
			break;
	}
}

int srv_tables_init(struct fsrv *s)
{
	struct srv_inode *root;
	struct stat st = { 0 };
	uint32_t hsize = 16;
	int err = 0;

	s->ichunks = (s->max_inodes + 1 + SRV_INODE_CHUNK - 1) / SRV_INODE_CHUNK;
	s->hchunks = (s->max_handles + SRV_HANDLE_CHUNK - 1) / SRV_HANDLE_CHUNK;
	while (hsize < s->max_inodes && hsize < (1u << 30))
		hsize <<= 1;
	s->hmask = hsize - 1;
	s->ichunk = calloc(s->ichunks, sizeof(*s->ichunk));
	s->hchunk = calloc(s->hchunks, sizeof(*s->hchunk));
	s->hash = calloc(hsize, sizeof(*s->hash));
	if (!s->ichunk || !s->hchunk || !s->hash)
		return -ENOMEM;
	/* Slot 0 stays unused (node id 0 means "none" in FUSE); slot 1 is the root, forever. */
	s->ialloc = 0;
	if (node_alloc(s, &err) != 0 || err)
		return err ? err : -EINVAL;
	s->ialloc = ROOT_IDX + 1;
	s->iused = 1;
	root = ino_at(s, ROOT_IDX);
	root->gen = 0; /* id == FUSE_ROOT_ID */
	root->type = S_IFDIR;
	root->entry = 0;
	/*
	 * A synthetic root keeps fd -1: any host call a handler might make on it
	 * fails (EBADF), and it is in no hash chain: no host inode is the root.
	 */
	if (s->synth)
		return 0;
	if (fstat(s->ent[0].fd, &st))
		return -errno;
	root->fd = fcntl(s->ent[0].fd, F_DUPFD_CLOEXEC, 0);
	if (root->fd < 0)
		return -errno;
	root->dev = st.st_dev;
	root->ino = st.st_ino;
	s->hash[hash_of(s, 0, st.st_dev, st.st_ino)] = ROOT_IDX;
	return 0;
}

void srv_tables_free(struct fsrv *s)
{
	uint32_t i, k;

	for (i = 0; s->ichunk && i < s->ialloc; i++) {
		if (ino_at(s, i)->fd < 0)
			continue;
		close(ino_at(s, i)->fd);
		if (i != ROOT_IDX)
			fdbudget_give(&s->fds);
	}
	for (i = 0; s->hchunk && i < s->halloc; i++)
		if (hd_at(s, i)->used)
			handle_close(s, hd_at(s, i)->fd);
	for (i = 0; s->ichunk && i < s->ichunks; i++)
		free(s->ichunk[i]);
	for (i = 0; s->hchunk && i < s->hchunks; i++) {
		for (k = 0; s->hchunk[i] && k < SRV_HANDLE_CHUNK; k++)
			pthread_mutex_destroy(&s->hchunk[i][k].lock);
		free(s->hchunk[i]);
	}
	free(s->ichunk);
	free(s->hchunk);
	free(s->hash);
}

int fsrv_open_root(const char *path, int *fd, char *err, size_t errlen)
{
	struct stat st;
	int ret;

	if (stat(path, &st))
		goto fail;
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "share %s: not a directory", path);
		return -ENOTDIR;
	}
	*fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*fd >= 0)
		return 0;
fail:
	ret = -errno;
	snprintf(err, errlen, "share %s: %s", path, strerror(-ret));
	return ret;
}

int fsrv_open(const struct fsrv_config *c, struct fsrv **out, char *err, size_t errlen)
{
	int fd = -1, ret;

	*out = NULL;
	/* A share of entries opens each entry itself (srv_entries_open). */
	if (!c->nentries) {
		ret = fsrv_open_root(c->path, &fd, err, errlen);
		if (ret)
			return ret;
	}
	return fsrv_open_at(c, fd, out, err, errlen);
}

int fsrv_open_at(const struct fsrv_config *c, int root_fd, struct fsrv **out, char *err,
		 size_t errlen)
{
	const char *label = c->path ? c->path : "(entries)";
	struct fsrv *s;
	int ret;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(label))) {
		free(s);
		if (root_fd >= 0)
			close(root_fd);
		snprintf(err, errlen, "share %s: %s", label, strerror(ENOMEM));
		return -ENOMEM;
	}
	s->proc_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	s->ro = c->ro;
	s->can_chown = geteuid() == 0;
	switch (c->cache) {
	case VFS_CACHE_NEVER:
		s->timeout = 0;
		s->fopen_flags = s->fopen_dir_flags = FOPEN_DIRECT_IO;
		break;
	case VFS_CACHE_ALWAYS:
		s->timeout = 86400;
		s->fopen_flags = FOPEN_KEEP_CACHE;
		s->fopen_dir_flags = FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR;
		break;
	case VFS_CACHE_AUTO:
	default:
		s->timeout = 1;
		break;
	}
	/* The shared directory (root_fd, taken over) or the entries, each opened and checked. */
	ret = srv_entries_open(s, c, root_fd, err, errlen);
	if (ret)
		goto fail_msg;
	/*
	 * The tables' sizes are ceilings, not promises: each inode (but the root)
	 * and each handle holds a descriptor, and how many of those the guest gets
	 * is the budget's decision, shared with the other shares and vsock.
	 */
	s->max_inodes = c->max_inodes ? c->max_inodes : FSRV_MAX_INODES;
	if (s->max_inodes < 2)
		s->max_inodes = 2;
	s->max_handles = c->max_handles ? c->max_handles : FSRV_MAX_HANDLES;
	ret = fdbudget_acct_init(&s->fds, c->fds, s->max_inodes - 1 + s->max_handles, "share %s",
				 s->path);
	if (ret)
		goto fail;
	s->proc_fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->proc_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "share %s: /proc/self/fd: %s", s->path, strerror(-ret));
		goto fail_msg;
	}
	ret = srv_tables_init(s);
	if (ret)
		goto fail;
	*out = s;
	return 0;
fail:
	snprintf(err, errlen, "share %s: %s", s->path, strerror(-ret));
fail_msg:
	fsrv_close(s);
	return ret;
}

int fsrv_set_budget(struct fsrv *s, struct fdbudget *b)
{
	fdbudget_acct_fini(&s->fds);
	return fdbudget_acct_init(&s->fds, b, s->max_inodes - 1 + s->max_handles, "share %s",
				  s->path);
}

void fsrv_close(struct fsrv *s)
{
	if (!s)
		return;
	srv_tables_free(s);
	fdbudget_acct_fini(&s->fds);
	if (s->proc_fd >= 0)
		close(s->proc_fd);
	srv_entries_close(s);
	pthread_mutex_destroy(&s->lock);
	free(s->path);
	free(s);
}

void fsrv_reset(struct fsrv *s)
{
	srv_tables_drop(s);
	atomic_store(&s->ready, false);
}

void fsrv_stats(struct fsrv *s, struct fsrv_stats *st)
{
	pthread_mutex_lock(&s->lock);
	st->inodes = s->iused;
	st->handles = s->hused;
	pthread_mutex_unlock(&s->lock);
	st->dropped = atomic_load(&s->dropped);
	st->oversized = atomic_load(&s->oversized);
}
