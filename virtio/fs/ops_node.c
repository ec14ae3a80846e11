/* ops_node: names and metadata: LOOKUP, GETATTR, SETATTR, creation, removal, rename, link... */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "virtio/fs/srv.h"

int srv_stat(int fd, struct stat *st)
{
	return fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

void srv_fill_attr(struct fuse_attr *a, const struct stat *st)
{
	unsigned int ma = major(st->st_rdev), mi = minor(st->st_rdev);

	*a = (struct fuse_attr){
		.ino = st->st_ino,
		.size = (uint64_t)st->st_size,
		.blocks = (uint64_t)st->st_blocks,
		.atime = (uint64_t)st->st_atim.tv_sec,
		.atimensec = (uint32_t)st->st_atim.tv_nsec,
		.mtime = (uint64_t)st->st_mtim.tv_sec,
		.mtimensec = (uint32_t)st->st_mtim.tv_nsec,
		.ctime = (uint64_t)st->st_ctim.tv_sec,
		.ctimensec = (uint32_t)st->st_ctim.tv_nsec,
		.mode = st->st_mode,
		.nlink = (uint32_t)st->st_nlink,
		.uid = st->st_uid,
		.gid = st->st_gid,
		.blksize = (uint32_t)st->st_blksize,
		/* the kernel's new_encode_dev() */
		.rdev = (mi & 0xff) | (ma << 8) | ((mi & ~0xffu) << 12),
	};
}

int srv_open_child(int dirfd, const char *name)
{
	struct open_how how = {
		.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	static atomic_bool no_openat2;
	long fd = -1;

	errno = ENOSYS;
	if (!atomic_load_explicit(&no_openat2, memory_order_relaxed))
		fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
	/*
	 * Without openat2 (a kernel before 5.6, a seccomp profile that refuses
	 * it, Valgrind before 3.22) the same single step is openat() with
	 * O_NOFOLLOW: name is one checked component (srv_name: no '/', not "."
	 * or ".."), so nothing is resolved but name itself in dirfd, and a
	 * symlink, magic or not, is opened as the link, never followed.
	 */
	if (fd < 0 && errno == ENOSYS) {
		atomic_store_explicit(&no_openat2, true, memory_order_relaxed);
		fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	}
	return fd < 0 ? -errno : (int)fd;
}

int srv_node_stat(struct fsrv *s, const struct srv_node *n, struct stat *st)
{
	if (srv_synth(s, n->id)) {
		srv_root_stat(s, st);
		return 0;
	}
	return srv_stat(n->fd, st);
}

/* Count a lookup of the inode st describes (fd: as srv_node_add) and fill the entry. */
int srv_enter_stat(struct srv_req *r, int fd, const struct stat *st, unsigned int entry,
		   struct fuse_entry_out *eo)
{
	uint64_t id;
	int ret = srv_node_add(r->s, fd, st, entry, &id);

	if (ret)
		return ret;
	*eo = (struct fuse_entry_out){ .nodeid = id,
				       .entry_valid = r->s->timeout,
				       .attr_valid = r->s->timeout };
	srv_fill_attr(&eo->attr, st);
	return 0;
}

int srv_enter(struct srv_req *r, int fd, unsigned int entry, struct fuse_entry_out *eo)
{
	struct stat st;
	int ret = srv_stat(fd, &st);

	if (ret) {
		close(fd);
		return ret;
	}
	return srv_enter_stat(r, fd, &st, entry, eo);
}

int srv_lookup(struct srv_req *r, int dirfd, unsigned int entry, const char *name,
	       struct fuse_entry_out *eo)
{
	struct stat st;
	int fd, ret;

	/*
	 * Most lookups are the guest revalidating an inode hull already holds:
	 * then one fstatat of the (validated, single-component) name is all it
	 * takes; it follows neither a symlink nor an automount. Only a new inode
	 * is opened, confined, and stat'ed through its own descriptor.
	 */
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT))
		return -errno;
	ret = srv_enter_stat(r, -1, &st, entry, eo);
	if (ret != -ENOENT)
		return ret;
	fd = srv_open_child(dirfd, name);
	return fd < 0 ? fd : srv_enter(r, fd, entry, eo);
}

int srv_get_dir(struct srv_req *r, struct srv_node *n)
{
	int ret = srv_node_get(r->s, r->h.nodeid, n);

	if (!ret && n->type != S_IFDIR) {
		srv_node_put(r->s, n);
		ret = -ENOTDIR;
	}
	return ret;
}

int srv_set_owner(struct srv_req *r, int fd, int parent_fd)
{
	uid_t uid = r->h.uid;
	gid_t gid = r->h.gid;
	struct stat pst;

	if (!r->s->can_chown)
		return 0; /* rootless: new entries stay hull's (the documented policy) */
	/* In a setgid directory the host already gave the entry the directory's group. */
	if (gid != getegid() && !fstat(parent_fd, &pst) && (pst.st_mode & S_ISGID))
		gid = (gid_t)-1;
	if (uid == geteuid() && (gid == (gid_t)-1 || gid == getegid()))
		return 0;
	return fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

int srv_op_lookup(struct srv_req *r)
{
	struct fuse_entry_out eo;
	struct srv_node dir;
	const char *name;
	size_t off = 0;
	int ret = srv_name(r, &off, &name);

	if (ret || (ret = srv_get_dir(r, &dir)))
		return ret;
	if (srv_synth(r->s, dir.id))
		ret = srv_root_lookup(r, name, &eo);
	else
		ret = srv_lookup(r, dir.fd, dir.entry, name, &eo);
	srv_node_put(r->s, &dir);
	return ret ? ret : srv_reply(r, &eo, sizeof(eo));
}

static int reply_attr(struct srv_req *r, const struct srv_node *n)
{
	struct fuse_attr_out ao = { .attr_valid = r->s->timeout };
	struct stat st;
	int ret = srv_node_stat(r->s, n, &st);

	if (ret)
		return ret;
	srv_fill_attr(&ao.attr, &st);
	return srv_reply(r, &ao, sizeof(ao));
}

int srv_op_getattr(struct srv_req *r)
{
	struct srv_node n;
	int ret = srv_node_get(r->s, r->h.nodeid, &n);

	if (ret)
		return ret;
	ret = reply_attr(r, &n);
	srv_node_put(r->s, &n);
	return ret;
}

/* The file's size: through the guest's handle when it is this inode's, else a reopened fd. */
static int set_size(struct srv_req *r, const struct srv_node *n, const struct fuse_setattr_in *in,
		    bool kill)
{
	struct srv_handle *h = NULL;
	int fd = -1, ret;

	if (n->type != S_IFREG)
		return n->type == S_IFDIR ? -EISDIR : -EINVAL;
	if (in->size > INT64_MAX)
		return -EFBIG;
	if ((in->valid & FATTR_FH) && !srv_handle_get(r->s, in->fh, &h) && h->nodeid == n->id) {
		ret = ftruncate(h->fd, (off_t)in->size) ? -errno : 0;
		if (!ret && kill)
			ret = srv_kill_priv(h->fd);
		srv_handle_put(r->s, h);
		if (ret != -EBADF && ret != -EINVAL)
			return ret; /* else the handle was read-only: reopen */
	} else if (h) {
		srv_handle_put(r->s, h);
	}
	fd = srv_reopen(r->s, n, O_WRONLY);
	if (fd < 0)
		return fd;
	ret = ftruncate(fd, (off_t)in->size) ? -errno : 0;
	if (!ret && kill)
		ret = srv_kill_priv(fd);
	close(fd);
	return ret;
}

static int set_mode(struct srv_req *r, const struct srv_node *n, mode_t mode)
{
	char num[16];

	/* Linux symlinks have no mode of their own; chmod through the magic link would follow it.
	 */
	if (n->type == S_IFLNK)
		return -EOPNOTSUPP;
	/*
	 * The magic link lands on this exact inode, which is not a symlink, so
	 * nothing further is followed, and chmod never opens the file.
	 */
	snprintf(num, sizeof(num), "%d", n->fd);
	return fchmodat(r->s->proc_fd, num, mode & 07777, 0) ? -errno : 0;
}

static int set_times(int proc_fd, const struct srv_node *n, const struct fuse_setattr_in *in)
{
	char num[16];
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };

	/* Checked raw: a guest's nsec must not pass for UTIME_NOW / UTIME_OMIT. */
	if (((in->valid & FATTR_ATIME) && in->atimensec >= 1000000000) ||
	    ((in->valid & FATTR_MTIME) && in->mtimensec >= 1000000000))
		return -EINVAL;
	if (in->valid & FATTR_ATIME_NOW)
		ts[0].tv_nsec = UTIME_NOW;
	else if (in->valid & FATTR_ATIME)
		ts[0] = (struct timespec){ (time_t)in->atime, in->atimensec };
	if (in->valid & FATTR_MTIME_NOW)
		ts[1].tv_nsec = UTIME_NOW;
	else if (in->valid & FATTR_MTIME)
		ts[1] = (struct timespec){ (time_t)in->mtime, in->mtimensec };
	/* Files and directories by hull's magic link: it lands on this inode, nothing more. */
	if (n->type == S_IFREG || n->type == S_IFDIR) {
		snprintf(num, sizeof(num), "%d", n->fd);
		return utimensat(proc_fd, num, ts, 0) ? -errno : 0;
	}
	if (!utimensat(n->fd, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
		return 0;
	/* Symlinks and specials by AT_EMPTY_PATH; kernels without it for utimensat: refuse. */
	return errno == EINVAL ? -EPERM : -errno;
}

int srv_op_setattr(struct srv_req *r)
{
	struct fuse_setattr_in in;
	struct srv_node n;
	bool kill;
	int ret;

	memcpy(&in, r->body, sizeof(in));
	kill = (in.valid & FATTR_KILL_SUIDGID) && (r->flags & FUSE_HANDLE_KILLPRIV_V2);
	ret = srv_node_get(r->s, r->h.nodeid, &n);
	if (ret)
		return ret;
	/* Owner first: the host clears setuid/setgid on chown, an explicit mode then wins. */
	if (in.valid & (FATTR_UID | FATTR_GID)) {
		uid_t uid = (in.valid & FATTR_UID) ? in.uid : (uid_t)-1;
		gid_t gid = (in.valid & FATTR_GID) ? in.gid : (gid_t)-1;

		if (fchownat(n.fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
			ret = -errno;
	}
	if (!ret && (in.valid & FATTR_MODE))
		ret = set_mode(r, &n, in.mode);
	if (!ret && (in.valid & FATTR_SIZE)) {
		ret = set_size(r, &n, &in, kill);
	} else if (!ret && kill && n.type == S_IFREG && !(in.valid & FATTR_MODE)) {
		int fd = srv_reopen(r->s, &n, O_RDONLY);

		ret = fd < 0 ? fd : srv_kill_priv(fd);
		if (fd >= 0)
			close(fd);
	}
	if (!ret && (in.valid & (FATTR_ATIME | FATTR_MTIME | FATTR_ATIME_NOW | FATTR_MTIME_NOW)))
		ret = set_times(r->s->proc_fd, &n, &in);
	if (!ret)
		ret = reply_attr(r, &n);
	srv_node_put(r->s, &n);
	return ret;
}

int srv_op_readlink(struct srv_req *r)
{
	char buf[SRV_SYMLINK_MAX + 1];
	struct srv_node n;
	ssize_t len = 0;
	int ret = srv_node_get(r->s, r->h.nodeid, &n);

	if (ret)
		return ret;
	if (n.type != S_IFLNK)
		ret = -EINVAL;
	else if ((len = readlinkat(n.fd, "", buf, sizeof(buf))) < 0)
		ret = -errno;
	srv_node_put(r->s, &n);
	return ret ? ret : srv_reply(r, buf, (size_t)len);
}

/*
 * name was just created in dir: give it to the requester, enter it, reply
 * with its entry; remove it again when any of that fails.
 */
/*
 * After mkdirat/mknodat/symlinkat (made: 0 or its -errno): give the new entry
 * its owner, enter it and reply; undo the creation when a later step fails.
 * Drops the reference on dir.
 */
static int finish_new(struct srv_req *r, struct srv_node *dir, const char *name, int made,
		      bool isdir, mode_t mode)
{
	struct fuse_entry_out eo;
	char num[16];
	int fd, ret;

	if (made) {
		srv_node_put(r->s, dir);
		return made;
	}
	fd = srv_open_child(dir->fd, name);
	ret = fd < 0 ? fd : 0;

	if (!ret)
		ret = srv_set_owner(r, fd, dir->fd);
	/* chown cleared a setuid/setgid the guest asked for on a regular file: set it again. */
	if (!ret && S_ISREG(mode) && (mode & (S_ISUID | S_ISGID))) {
		snprintf(num, sizeof(num), "%d", fd);
		ret = fchmodat(r->s->proc_fd, num, mode & 07777, 0) ? -errno : 0;
	}
	if (!ret) {
		ret = srv_enter(r, fd, dir->entry, &eo);
		fd = -1; /* the table owns it now */
	}
	if (!ret)
		ret = srv_reply(r, &eo, sizeof(eo));
	if (fd >= 0)
		close(fd);
	if (ret)
		unlinkat(dir->fd, name, isdir ? AT_REMOVEDIR : 0);
	srv_node_put(r->s, dir);
	return ret;
}

int srv_op_symlink(struct srv_req *r)
{
	const char *name, *target;
	struct srv_node dir;
	size_t off = 0;
	int ret = srv_name(r, &off, &name);

	/* The target is stored verbatim; hull never resolves it. */
	if (ret || (ret = srv_str(r, &off, SRV_SYMLINK_MAX, &target)) ||
	    (ret = srv_get_dir(r, &dir)))
		return ret;
	ret = symlinkat(target, dir.fd, name) ? -errno : 0;
	return finish_new(r, &dir, name, ret, false, S_IFLNK);
}

int srv_op_mknod(struct srv_req *r)
{
	struct fuse_mknod_in in;
	struct srv_node dir;
	const char *name;
	size_t off = sizeof(in);
	mode_t mode;
	int ret;

	memcpy(&in, r->body, sizeof(in));
	if ((ret = srv_name(r, &off, &name)))
		return ret;
	mode = in.mode & ~(in.umask & 0777);
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
		break;
	case S_IFCHR: /* only 0:0, an overlayfs whiteout */
		if (in.rdev == 0)
			break;
		return -EPERM;
	default:
		return (mode & S_IFMT) == S_IFBLK ? -EPERM : -EINVAL;
	}
	if ((ret = srv_get_dir(r, &dir)))
		return ret;
	srv_thread_prepare();
	ret = mknodat(dir.fd, name, mode, 0) ? -errno : 0;
	return finish_new(r, &dir, name, ret, false, mode);
}

int srv_op_mkdir(struct srv_req *r)
{
	struct fuse_mkdir_in in;
	struct srv_node dir;
	const char *name;
	size_t off = sizeof(in);
	int ret;

	memcpy(&in, r->body, sizeof(in));
	if ((ret = srv_name(r, &off, &name)) || (ret = srv_get_dir(r, &dir)))
		return ret;
	srv_thread_prepare();
	ret = mkdirat(dir.fd, name, in.mode & ~in.umask & 07777) ? -errno : 0;
	return finish_new(r, &dir, name, ret, true, S_IFDIR);
}

static int remove_name(struct srv_req *r, int flags)
{
	struct srv_node dir;
	const char *name;
	size_t off = 0;
	int ret = srv_name(r, &off, &name);

	if (ret || (ret = srv_get_dir(r, &dir)))
		return ret;
	ret = unlinkat(dir.fd, name, flags) ? -errno : 0;
	srv_node_put(r->s, &dir);
	return ret ? ret : srv_reply(r, NULL, 0);
}

int srv_op_unlink(struct srv_req *r)
{
	return remove_name(r, 0);
}

int srv_op_rmdir(struct srv_req *r)
{
	return remove_name(r, AT_REMOVEDIR);
}

static int do_rename(struct srv_req *r, uint64_t newdir, uint32_t flags, size_t off)
{
	struct srv_node dir, ndir = { 0 };
	const char *name, *newname;
	int ret;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
		return -EINVAL;
	if ((ret = srv_name(r, &off, &name)) || (ret = srv_name(r, &off, &newname)) ||
	    (ret = srv_get_dir(r, &dir)))
		return ret;
	ret = srv_node_get(r->s, newdir, &ndir);
	if (!ret && ndir.type != S_IFDIR)
		ret = -ENOTDIR;
	/* Across entries (the root is one too) as across mounts; then the entry's ro flag. */
	if (!ret && ndir.entry != dir.entry)
		ret = -EXDEV;
	if (!ret)
		ret = srv_writable(r->s, dir.entry);
	if (!ret && renameat2(dir.fd, name, ndir.fd, newname, flags))
		ret = -errno;
	srv_node_put(r->s, &ndir);
	srv_node_put(r->s, &dir);
	return ret ? ret : srv_reply(r, NULL, 0);
}

int srv_op_rename(struct srv_req *r)
{
	struct fuse_rename_in in;

	memcpy(&in, r->body, sizeof(in));
	return do_rename(r, in.newdir, 0, sizeof(in));
}

int srv_op_rename2(struct srv_req *r)
{
	struct fuse_rename2_in in;

	memcpy(&in, r->body, sizeof(in));
	return do_rename(r, in.newdir, in.flags, sizeof(in));
}

int srv_op_link(struct srv_req *r)
{
	struct fuse_link_in in;
	struct fuse_entry_out eo = { 0 };
	struct srv_node dir, old = { 0 };
	const char *name;
	size_t off = sizeof(in);
	int ret;

	memcpy(&in, r->body, sizeof(in));
	if ((ret = srv_name(r, &off, &name)) || (ret = srv_get_dir(r, &dir)))
		return ret;
	ret = srv_node_get(r->s, in.oldnodeid, &old);
	if (!ret && old.type == S_IFDIR)
		ret = -EPERM;
	/* A second name only inside the inode's own entry, which must be writable. */
	if (!ret && old.entry != dir.entry)
		ret = -EXDEV;
	if (!ret)
		ret = srv_writable(r->s, dir.entry);
	/* The inode itself by its O_PATH fd: no path of the guest's is resolved. */
	if (!ret && linkat(old.fd, "", dir.fd, name, AT_EMPTY_PATH))
		ret = -errno;
	if (!ret) {
		ret = srv_lookup(r, dir.fd, dir.entry, name, &eo);
		if (ret)
			unlinkat(dir.fd, name, 0);
	}
	srv_node_put(r->s, &old);
	srv_node_put(r->s, &dir);
	return ret ? ret : srv_reply(r, &eo, sizeof(eo));
}

int srv_op_statfs(struct srv_req *r)
{
	struct fuse_statfs_out o = { 0 };
	struct srv_node n;
	struct statfs sf;
	int ret = srv_node_get(r->s, r->h.nodeid, &n);

	if (ret)
		return ret;
	/* The synthetic root is on no host filesystem: an empty one, as a read-only dir's. */
	if (srv_synth(r->s, n.id))
		sf = (struct statfs){ .f_bsize = 4096,
				      .f_frsize = 4096,
				      .f_namelen = FSRV_NAME_MAX };
	else if (fstatfs(n.fd, &sf))
		ret = -errno;
	srv_node_put(r->s, &n);
	if (ret)
		return ret;
	o.st = (struct fuse_kstatfs){
		.blocks = sf.f_blocks,
		.bfree = sf.f_bfree,
		.bavail = sf.f_bavail,
		.files = sf.f_files,
		.ffree = sf.f_ffree,
		.bsize = (uint32_t)sf.f_bsize,
		.namelen = FSRV_NAME_MAX < sf.f_namelen ? FSRV_NAME_MAX : (uint32_t)sf.f_namelen,
		.frsize = (uint32_t)sf.f_frsize,
	};
	return srv_reply(r, &o, sizeof(o));
}

int srv_op_access(struct srv_req *r)
{
	struct fuse_access_in in;
	struct srv_node n;
	struct stat st;
	unsigned int mask, bits;
	int ret;

	memcpy(&in, r->body, sizeof(in));
	mask = in.mask & (R_OK | W_OK | X_OK);
	if ((ret = srv_node_get(r->s, r->h.nodeid, &n)))
		return ret;
	ret = srv_node_stat(r->s, &n, &st);
	srv_node_put(r->s, &n);
	if (ret)
		return ret;
	/* The guest's view: the reported owner and mode, for the requester (the host's would be
	 * hull's). */
	if ((mask & W_OK) && srv_writable(r->s, n.entry) &&
	    (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)))
		return -EROFS;
	if (r->h.uid == 0) {
		if ((mask & X_OK) && !S_ISDIR(st.st_mode) && !(st.st_mode & 0111))
			return -EACCES;
		return srv_reply(r, NULL, 0);
	}
	if (r->h.uid == st.st_uid)
		bits = (st.st_mode >> 6) & 7;
	else if (r->h.gid == st.st_gid)
		bits = (st.st_mode >> 3) & 7;
	else
		bits = st.st_mode & 7;
	return (mask & ~bits) ? -EACCES : srv_reply(r, NULL, 0);
}
