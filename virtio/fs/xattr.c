/* xattr: GETXATTR, LISTXATTR, SETXATTR, REMOVEXATTR on regular files and directories. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "virtio/fs/srv.h"

/*
 * Linux has no *xattrat() before 6.13, so xattrs go through hull's own magic
 * link /proc/self/fd/N, which lands on the exact inode. Only for regular files
 * and directories: a symlink would be followed on the host, and Linux keeps
 * user.* off anything else anyway (reads: ENODATA, writes: EPERM).
 */
static bool xattr_ok(const struct fsrv *s, const struct srv_node *n, char *path, size_t len)
{
	snprintf(path, len, "/proc/self/fd/%d", n->fd);
	/* The synthetic root has none, as a file type without user.* (no host inode behind it). */
	return (n->type == S_IFREG || n->type == S_IFDIR) && !srv_synth(s, n->id);
}

/* GETXATTR and LISTXATTR: size 0 asks for the size; else the value, or -ERANGE. */
static int get_or_list(struct srv_req *r, const char *name)
{
	struct fuse_getxattr_in in;
	struct fuse_getxattr_out go = { 0 };
	struct srv_node n;
	char path[32], *buf = NULL;
	size_t cap = 0;
	ssize_t v = 0;
	int ret;

	memcpy(&in, r->body, sizeof(in));
	if ((ret = srv_node_get(r->s, r->h.nodeid, &n)))
		return ret;
	if (in.size) {
		cap = in.size < SRV_XATTR_SIZE_MAX ? in.size : SRV_XATTR_SIZE_MAX;
		if (cap > r->outlen - sizeof(struct fuse_out_header))
			cap = r->outlen - sizeof(struct fuse_out_header);
		buf = malloc(cap ? cap : 1);
		if (!buf) {
			srv_node_put(r->s, &n);
			return -ENOMEM;
		}
	}
	if (!xattr_ok(r->s, &n, path, sizeof(path)))
		ret = name ? -ENODATA : 0; /* as for user.* locally; an empty list */
	else if ((v = name ? getxattr(path, name, buf, cap) : listxattr(path, buf, cap)) < 0)
		ret = -errno;
	srv_node_put(r->s, &n);
	if (!ret && !in.size) {
		go.size = (uint32_t)v;
		ret = srv_reply(r, &go, sizeof(go));
	} else if (!ret) {
		ret = srv_reply(r, buf, (size_t)v);
	}
	free(buf);
	return ret;
}

int srv_op_getxattr(struct srv_req *r)
{
	const char *name;
	size_t off = sizeof(struct fuse_getxattr_in);
	int ret = srv_str(r, &off, SRV_XATTR_NAME_MAX, &name);

	return ret ? (ret == -ENAMETOOLONG ? -ERANGE : ret) : get_or_list(r, name);
}

int srv_op_listxattr(struct srv_req *r)
{
	return get_or_list(r, NULL);
}

int srv_op_setxattr(struct srv_req *r)
{
	struct fuse_setxattr_in in = { 0 };
	size_t off = (r->flags & FUSE_SETXATTR_EXT) ? sizeof(in) : FUSE_COMPAT_SETXATTR_IN_SIZE;
	struct srv_node n;
	const char *name;
	char path[32];
	int ret;

	if (r->blen < off)
		return -EINVAL;
	memcpy(&in, r->body, off);
	if ((ret = srv_str(r, &off, SRV_XATTR_NAME_MAX, &name)))
		return ret == -ENAMETOOLONG ? -ERANGE : ret;
	if (in.size > SRV_XATTR_SIZE_MAX)
		return -E2BIG;
	if (in.size > r->blen - off || (in.flags & ~(unsigned int)(XATTR_CREATE | XATTR_REPLACE)))
		return -EINVAL;
	if ((ret = srv_node_get(r->s, r->h.nodeid, &n)))
		return ret;
	if (!xattr_ok(r->s, &n, path, sizeof(path)))
		ret = -EPERM;
	else if (setxattr(path, name, r->body + off, in.size, (int)in.flags))
		ret = -errno;
	srv_node_put(r->s, &n);
	return ret ? ret : srv_reply(r, NULL, 0);
}

int srv_op_removexattr(struct srv_req *r)
{
	struct srv_node n;
	const char *name;
	char path[32];
	size_t off = 0;
	int ret = srv_str(r, &off, SRV_XATTR_NAME_MAX, &name);

	if (ret)
		return ret == -ENAMETOOLONG ? -ERANGE : ret;
	if ((ret = srv_node_get(r->s, r->h.nodeid, &n)))
		return ret;
	if (!xattr_ok(r->s, &n, path, sizeof(path)))
		ret = -EPERM;
	else if (removexattr(path, name))
		ret = -errno;
	srv_node_put(r->s, &n);
	return ret ? ret : srv_reply(r, NULL, 0);
}
