/* entries: a share's entry table, and the synthetic root that holds a container's bind mounts. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtio/fs/srv.h"

/*
 * A plain share: entry 0 is the shared directory itself, and the root node is
 * it. root_fd, when not -1, is that directory opened already (the check before
 * /dev/kvm, fsrv_open_root): it is taken over.
 */
static int open_plain(struct fsrv *s, const struct fsrv_config *c, int root_fd, char *err,
		      size_t errlen)
{
	int fd = root_fd;

	if (fd < 0 && !c->path) {
		snprintf(err, errlen, "share: no directory and no entries");
		return -EINVAL;
	}
	if (fd < 0)
		fd = open(c->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int ret = -errno;

		snprintf(err, errlen, "share %s: %s", c->path,
			 ret == -ENOTDIR ? "not a directory" : strerror(-ret));
		return ret;
	}
	s->ent[0] = (struct srv_entry){ .name = NULL, .fd = fd, .type = S_IFDIR, .ro = c->ro };
	s->nent = 1;
	return 0;
}

/* The name rules of a guest's names (srv_name), for a name the user gave. */
static bool name_ok(const char *name)
{
	size_t n = name ? strnlen(name, FSRV_NAME_MAX + 1) : 0;

	return n && n <= FSRV_NAME_MAX && strcmp(name, ".") && strcmp(name, "..") &&
	       !strchr(name, '/');
}

/* Entry k of s from e: its name checked, its path opened O_PATH and of an allowed type. */
static int open_entry(struct fsrv *s, unsigned int k, const struct fsrv_entry *e, char *err,
		      size_t errlen)
{
	struct stat st;
	unsigned int j;
	int fd, ret;

	if (!name_ok(e->name)) {
		snprintf(err, errlen,
			 "share %s: entry '%.300s': not a valid name (1 to %d bytes, no '/')",
			 s->path, e->name ? e->name : "", FSRV_NAME_MAX);
		return -EINVAL;
	}
	for (j = 1; j < k; j++) {
		if (!strcmp(s->ent[j].name, e->name)) {
			snprintf(err, errlen, "share %s: entry %s: the name is used twice", s->path,
				 e->name);
			return -EINVAL;
		}
	}
	if (!e->path) {
		snprintf(err, errlen, "share %s: entry %s: no path", s->path, e->name);
		return -EINVAL;
	}
	/* O_PATH opens a FIFO or a device without touching it; the type is checked next. */
	fd = open(e->path, O_PATH | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		ret = -errno;
		snprintf(err, errlen, "share %s: entry %s (%s): %s", s->path, e->name, e->path,
			 strerror(-ret));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "share %s: entry %s (%s): not a directory or regular file",
			 s->path, e->name, e->path);
		close(fd);
		return -EINVAL;
	}
	s->ent[k] = (struct srv_entry){ .fd = fd, .type = st.st_mode & S_IFMT, .ro = e->ro };
	s->ent[k].name = strdup(e->name);
	s->nent = k + 1; /* srv_entries_close closes it from here on */
	if (!s->ent[k].name) {
		snprintf(err, errlen, "share %s: %s", s->path, strerror(ENOMEM));
		return -ENOMEM;
	}
	return 0;
}

int srv_entries_open(struct fsrv *s, const struct fsrv_config *c, int root_fd, char *err,
		     size_t errlen)
{
	unsigned int k;
	int ret;

	clock_gettime(CLOCK_REALTIME, &s->born);
	if (c->nentries > FSRV_ENTRIES_MAX) {
		snprintf(err, errlen, "share %s: %u entries, at most %d", s->path, c->nentries,
			 FSRV_ENTRIES_MAX);
		ret = -EINVAL;
		goto fail;
	}
	s->ent = calloc(c->nentries + 1, sizeof(*s->ent));
	if (!s->ent) {
		snprintf(err, errlen, "share %s: %s", s->path, strerror(ENOMEM));
		ret = -ENOMEM;
		goto fail;
	}
	if (!c->nentries)
		return open_plain(s, c, root_fd, err, errlen);
	if (root_fd >= 0)
		close(root_fd); /* a share of entries has no directory of its own */
	/* Entry 0 is the synthetic root: no host directory, nothing in it may change. */
	s->ent[0] = (struct srv_entry){ .fd = -1, .type = S_IFDIR, .ro = true };
	s->nent = 1;
	s->synth = true;
	for (k = 1; k <= c->nentries; k++) {
		ret = open_entry(s, k, &c->entries[k - 1], err, errlen);
		if (ret)
			return ret;
	}
	return 0;
fail:
	if (root_fd >= 0)
		close(root_fd);
	return ret;
}

void srv_entries_close(struct fsrv *s)
{
	unsigned int k;

	for (k = 0; s->ent && k < s->nent; k++) {
		if (s->ent[k].fd >= 0)
			close(s->ent[k].fd);
		free(s->ent[k].name);
	}
	free(s->ent);
	s->ent = NULL;
	s->nent = 0;
}

void srv_root_stat(const struct fsrv *s, struct stat *st)
{
	unsigned int k, dirs = 0;

	for (k = 1; k < s->nent; k++)
		dirs += s->ent[k].type == S_IFDIR;
	/* Stable: the same answer for the life of the share, as a read-only directory gives. */
	*st = (struct stat){
		.st_ino = FUSE_ROOT_ID,
		.st_mode = S_IFDIR | 0555,
		.st_nlink = 2 + dirs,
		.st_blksize = 4096,
		.st_atim = s->born,
		.st_mtim = s->born,
		.st_ctim = s->born,
	};
}

int srv_root_enter(struct srv_req *r, unsigned int k, struct fuse_entry_out *eo)
{
	struct stat st;
	int fd = r->s->ent[k].fd, ret = srv_stat(fd, &st);

	/*
	 * The entry's own O_PATH fd, opened at fsrv_open: whatever the host has
	 * since put at its path (a symlink, another directory) is never reached.
	 * Already a node of entry k: counted; else a duplicate of the fd enters.
	 */
	if (ret || (ret = srv_enter_stat(r, -1, &st, k, eo)) != -ENOENT)
		return ret;
	fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	return fd < 0 ? -errno : srv_enter_stat(r, fd, &st, k, eo);
}

int srv_root_lookup(struct srv_req *r, const char *name, struct fuse_entry_out *eo)
{
	unsigned int k;

	/* At most FSRV_ENTRIES_MAX names compared. */
	for (k = 1; k < r->s->nent; k++)
		if (!strcmp(r->s->ent[k].name, name))
			return srv_root_enter(r, k, eo);
	return -ENOENT;
}
