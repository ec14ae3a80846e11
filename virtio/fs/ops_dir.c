/* ops_dir: directory handles — OPENDIR, and READDIR/READDIRPLUS resumed from the host's d_off. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtio/fs/srv.h"

#define DENTS_BUF 32768 /* bytes of host entries read per getdents64 */
/*
 * Largest reply built (the Linux driver asks for one page): the guest's size
 * and buffers could otherwise make every worker allocate as much as guest RAM.
 * A shorter reply than asked is fine; the guest reads on from its offset.
 */
#define DIR_REPLY_MAX (128u << 10)

int srv_op_opendir(struct srv_req *r)
{
	struct fuse_open_out oo = { 0 };
	struct srv_node n;
	int fd, ret;

	if ((ret = srv_node_get(r->s, r->h.nodeid, &n)))
		return ret;
	if (n.type != S_IFDIR) {
		srv_node_put(r->s, &n);
		return -ENOTDIR;
	}
	if (srv_synth(r->s, n.id)) {
		/* The synthetic root's handle has no fd: its listing comes from the entry table. */
		fd = -1;
		ret = srv_handle_new(r->s, fd, n.id, n.entry, &oo.fh);
	} else {
		fd = srv_reopen(r->s, &n, O_RDONLY);
		ret = fd < 0 ? fd : srv_handle_new(r->s, fd, n.id, n.entry, &oo.fh);
	}
	if (ret && fd >= 0)
		close(fd);
	srv_node_put(r->s, &n);
	if (ret)
		return ret;
	oo.open_flags = r->s->fopen_dir_flags;
	return srv_reply(r, &oo, sizeof(oo));
}

struct dir_out {
	uint8_t *buf;
	size_t room, used;
	bool full; /* an entry did not fit */
	int err;   /* the first lookup error, when nothing was emitted */
};

/* One entry to list: its dirent (name not yet copied) and, for READDIRPLUS, what enters it. */
struct dir_ent {
	const char *name;
	uint64_t ino, off; /* the fuse_dirent's fields */
	uint32_t type;
	unsigned int entry; /* the entry's table index: READDIRPLUS of the synthetic root */
	int dirfd;	    /* else: look name up in dirfd of entry */
};

/*
 * Pack one entry; false when the reply is full or a lookup failed (stop). Looked
 * up (nlookup + 1) only once it is certain to be sent; "." and ".." never.
 */
static bool emit(struct srv_req *r, struct dir_out *o, struct dir_ent *d, bool plus)
{
	size_t namelen = strlen(d->name);
	size_t head = plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET;
	size_t size = FUSE_DIRENT_ALIGN(head + namelen);
	struct fuse_entry_out eo = { 0 };
	struct fuse_dirent de = {
		.ino = d->ino, .off = d->off, .namelen = (uint32_t)namelen, .type = d->type
	};
	uint8_t *p = o->buf + o->used;
	bool dot = !strcmp(d->name, ".") || !strcmp(d->name, "..");

	if (size > o->room - o->used) {
		o->full = true;
		return false;
	}
	if (plus && !dot) {
		int ret = d->dirfd < 0 ? srv_root_enter(r, d->entry, &eo)
				       : srv_lookup(r, d->dirfd, d->entry, d->name, &eo);

		if (ret == -ENOENT)
			return true; /* vanished since getdents: skip it */
		if (ret) {
			if (!o->used)
				o->err = ret;
			return false;
		}
	}
	memset(p, 0, size);
	if (plus) {
		memcpy(p, &eo, sizeof(eo));
		p += sizeof(eo);
	}
	memcpy(p, &de, sizeof(de));
	memcpy(p + sizeof(de), d->name, namelen);
	o->used += size;
	return true;
}

/*
 * The synthetic root's listing: ".", "..", then the entries in their order;
 * the offset of a record is its position + 1, so the guest resumes where it
 * stopped. At most FSRV_ENTRIES_MAX + 2 records, one lookup each (PLUS).
 */
static void root_list(struct srv_req *r, struct dir_out *o, uint64_t offset, bool plus)
{
	const struct fsrv *s = r->s;
	uint64_t pos;

	for (pos = offset; pos < (uint64_t)s->nent + 1; pos++) {
		struct dir_ent d = { .dirfd = -1, .off = pos + 1, .type = DT_DIR };

		if (pos < 2) {
			d.name = pos ? ".." : ".";
			d.ino = FUSE_ROOT_ID;
		} else {
			struct stat st;

			d.entry = (unsigned int)pos - 1;
			d.name = s->ent[d.entry].name;
			d.type = s->ent[d.entry].type == S_IFDIR ? DT_DIR : DT_REG;
			if (!srv_stat(s->ent[d.entry].fd, &st))
				d.ino = st.st_ino; /* what GETATTR of it says */
		}
		if (!emit(r, o, &d, plus))
			break;
	}
}

static int do_readdir(struct srv_req *r, bool plus)
{
	struct fuse_read_in in;
	struct dir_out o = { 0 };
	struct srv_handle *h;
	uint8_t *dents;
	ssize_t n = 0;
	int ret;

	memcpy(&in, r->body, sizeof(in));
	if (in.offset > INT64_MAX)
		return -EINVAL;
	o.room = r->outlen - sizeof(struct fuse_out_header);
	if (o.room > in.size)
		o.room = in.size;
	if (o.room > DIR_REPLY_MAX)
		o.room = DIR_REPLY_MAX;
	if ((ret = srv_handle_get(r->s, in.fh, &h)))
		return ret;
	o.buf = malloc(o.room ? o.room : 1);
	dents = malloc(DENTS_BUF);
	if (!o.buf || !dents) {
		ret = -ENOMEM;
		goto out;
	}
	/* The kernel may read one directory concurrently: the fd position is per handle. */
	pthread_mutex_lock(&h->lock);
	if (srv_synth(r->s, h->nodeid))
		root_list(r, &o, in.offset, plus);
	else if (lseek(h->fd, (off_t)in.offset, SEEK_SET) < 0)
		ret = -errno;
	while (!ret && h->fd >= 0 && (n = getdents64(h->fd, dents, DENTS_BUF)) > 0) {
		ssize_t at = 0;
		bool more = true;

		while (more && at < n) {
			const struct dirent64 *hd = (const struct dirent64 *)(dents + at);
			struct dir_ent d = { .name = hd->d_name,
					     .ino = hd->d_ino,
					     .off = (uint64_t)hd->d_off,
					     .type = hd->d_type,
					     .entry = h->entry,
					     .dirfd = h->fd };

			more = emit(r, &o, &d, plus);
			at += hd->d_reclen;
		}
		if (!more)
			break;
	}
	if (!ret && n < 0)
		ret = -errno;
	pthread_mutex_unlock(&h->lock);
	if (!ret && o.err)
		ret = o.err;
	/* Nothing fits although entries remain: an empty reply would read as the end. */
	if (!ret && !o.used && o.full)
		ret = -EINVAL;
	if (!ret)
		ret = srv_reply(r, o.buf, o.used);
out:
	srv_handle_put(r->s, h);
	free(dents);
	free(o.buf);
	return ret;
}

int srv_op_readdir(struct srv_req *r)
{
	return do_readdir(r, false);
}

int srv_op_readdirplus(struct srv_req *r)
{
	return do_readdir(r, true);
}
