/* Unit tests for a virtio-fs share of named entries: the synthetic root, file and dir entries. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <sys/xattr.h>

#include "lib/fdbudget.h"
#include "tests/unit/fuse_env.h"

/*
 * The scratch tree (fuse_env.h) plus, under its root:
 *   share/f "hello\n", share/d/inner "inner\n"    entry "rw" (share/), "sub" (share/d)
 *   ro/g "ro file\n", ro/sub/x "x\n"               entry "ro" (read-only)
 *   file.txt "file\n"                              entry "file" (a single file)
 *   rofile.txt "rofile\n"                          entry "rofile" (a single file, read-only)
 * and entry "alias": share/ again, read-only (one host directory, two entries).
 */

#define ROOT FUSE_ROOT_ID
#define NENT 6

static struct fuse_env E;
static char ro_dir[PATH_MAX], file_path[PATH_MAX], rofile_path[PATH_MAX], sub_path[PATH_MAX];
static struct fsrv_entry ents[NENT];

static const char *const names[NENT] = { "rw", "ro", "file", "rofile", "alias", "sub" };
static const mode_t types[NENT] = { S_IFDIR, S_IFDIR, S_IFREG, S_IFREG, S_IFDIR, S_IFDIR };

static int setup(void **state)
{
	(void)state;
	if (fenv_setup(&E))
		return -1;
	snprintf(ro_dir, sizeof(ro_dir), "%s/ro", E.root);
	snprintf(file_path, sizeof(file_path), "%s/file.txt", E.root);
	snprintf(rofile_path, sizeof(rofile_path), "%s/rofile.txt", E.root);
	snprintf(sub_path, sizeof(sub_path), "%s/d", E.share);
	if (fenv_write_host(fenv_path(&E, "f"), "hello\n", 0644) || mkdir(sub_path, 0755) ||
	    fenv_write_host(fenv_path(&E, "d/inner"), "inner\n", 0644) || mkdir(ro_dir, 0755))
		return -1;
	{
		char p[PATH_MAX + 16];

		snprintf(p, sizeof(p), "%s/g", ro_dir);
		if (fenv_write_host(p, "ro file\n", 0644))
			return -1;
		snprintf(p, sizeof(p), "%s/sub", ro_dir);
		if (mkdir(p, 0755))
			return -1;
		snprintf(p, sizeof(p), "%s/sub/x", ro_dir);
		if (fenv_write_host(p, "x\n", 0644))
			return -1;
	}
	if (fenv_write_host(file_path, "file\n", 0644) ||
	    fenv_write_host(rofile_path, "rofile\n", 0644))
		return -1;
	ents[0] = (struct fsrv_entry){ "rw", E.share, false };
	ents[1] = (struct fsrv_entry){ "ro", ro_dir, true };
	ents[2] = (struct fsrv_entry){ "file", file_path, false };
	ents[3] = (struct fsrv_entry){ "rofile", rofile_path, true };
	ents[4] = (struct fsrv_entry){ "alias", E.share, true };
	ents[5] = (struct fsrv_entry){ "sub", sub_path, false };
	return fenv_start_entries(&E, ents, NENT, false, 0, 0) ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	fenv_teardown(&E);
	return 0;
}

static uint64_t look(uint64_t parent, const char *name)
{
	struct fuse_entry_out eo;
	int rc = fenv_lookup(&E, parent, name, &eo);

	if (rc)
		fail_msg("LOOKUP %s: %d", name, rc);
	return eo.nodeid;
}

static unsigned int inodes(void)
{
	struct fsrv_stats st;

	fsrv_stats(E.s, &st);
	return st.inodes;
}

static unsigned int handles(void)
{
	struct fsrv_stats st;

	fsrv_stats(E.s, &st);
	return st.handles;
}

static void host_text(const char *path, const char *want)
{
	char buf[256];

	if (fenv_read_host(path, buf, sizeof(buf)) < 0 || strcmp(buf, want))
		fail_msg("%s holds \"%s\", not \"%s\"", path, buf, want);
}

/* Everything under the scratch root, to compare before and after refused requests. */
static char *tree(void)
{
	return fenv_listing(E.root);
}

static void same_tree(const char *before, const char *what)
{
	char *after = tree();

	if (strcmp(before, after))
		fail_msg("%s changed the host:\nbefore:\n%safter:\n%s", what, before, after);
	free(after);
}

/* ---- the synthetic root ------------------------------------------------------- */

static void test_root_attrs(void **state)
{
	struct fuse_attr_out a, b;
	struct fuse_statfs_out so;
	struct fuse_access_in ai = { .mask = R_OK | X_OK };

	(void)state;
	assert_int_equal(fenv_getattr(&E, ROOT, &a), 0);
	assert_int_equal(a.attr.mode, S_IFDIR | 0555);
	assert_int_equal(a.attr.uid, 0);
	assert_int_equal(a.attr.gid, 0);
	assert_int_equal(a.attr.nlink, 2 + 4); /* "." and the four directory entries */
	assert_int_equal(a.attr.ino, FUSE_ROOT_ID);
	/* Stable: the same times (and everything else) every time. */
	usleep(20000);
	assert_int_equal(fenv_getattr(&E, ROOT, &b), 0);
	assert_memory_equal(&a.attr, &b.attr, sizeof(a.attr));
	assert_true(a.attr.mtime > 0);

	/* ACCESS as a read-only directory: read and search yes, write EROFS. */
	fenv_begin(&E, FUSE_ACCESS, ROOT);
	fenv_put(&E, &ai, sizeof(ai));
	assert_int_equal(fenv_send(&E, NULL), 0);
	E.uid = E.gid = 1000;
	fenv_begin(&E, FUSE_ACCESS, ROOT);
	fenv_put(&E, &ai, sizeof(ai));
	assert_int_equal(fenv_send(&E, NULL), 0);
	ai.mask = W_OK;
	fenv_begin(&E, FUSE_ACCESS, ROOT);
	fenv_put(&E, &ai, sizeof(ai));
	assert_int_equal(fenv_send(&E, NULL), -EROFS);
	E.uid = E.gid = 0;

	/* STATFS: an empty filesystem, the name limit of the server. */
	fenv_begin(&E, FUSE_STATFS, ROOT);
	assert_int_equal(fenv_call(&E, &so, sizeof(so)), 0);
	assert_int_equal(so.st.namelen, FSRV_NAME_MAX);
	assert_int_equal(so.st.blocks, 0);

	/* No extended attributes, and no host inode's. */
	assert_int_equal(fenv_getxattr(&E, ROOT, "user.x", 64), -ENODATA);
	assert_int_equal(fenv_getxattr(&E, ROOT, "security.selinux", 64), -ENODATA);
	{
		struct fuse_getxattr_in in = { .size = 0 };
		struct fuse_getxattr_out go;

		fenv_begin(&E, FUSE_LISTXATTR, ROOT);
		fenv_put(&E, &in, sizeof(in));
		assert_int_equal(fenv_call(&E, &go, sizeof(go)), 0);
		assert_int_equal(go.size, 0);
	}
	/* READLINK and OPEN of a directory are what they are for any directory. */
	{
		char buf[16];
		uint64_t fh;

		assert_int_equal(fenv_readlink(&E, ROOT, buf, sizeof(buf)), -EINVAL);
		assert_true(fenv_open(&E, ROOT, O_RDONLY, &fh) < 0);
		assert_true(fenv_open(&E, ROOT, O_RDWR, &fh) < 0);
	}
	assert_int_equal(inodes(), 1);
}

static void test_root_lookup(void **state)
{
	struct fuse_entry_out eo, eo2;
	struct stat st;
	unsigned int k;

	(void)state;
	for (k = 0; k < NENT; k++) {
		assert_int_equal(fenv_lookup(&E, ROOT, names[k], &eo), 0);
		if ((eo.attr.mode & S_IFMT) != types[k])
			fail_msg("entry %s: mode %o", names[k], eo.attr.mode);
		assert_int_equal(stat(ents[k].path, &st), 0);
		assert_int_equal(eo.attr.ino, st.st_ino);
		assert_int_not_equal(eo.nodeid, ROOT);
		/* Again: the same node, counted twice. */
		assert_int_equal(fenv_lookup(&E, ROOT, names[k], &eo2), 0);
		assert_int_equal(eo2.nodeid, eo.nodeid);
	}
	assert_int_equal(inodes(), 1 + NENT);
	/* One host directory through two entries: two nodes. */
	assert_int_not_equal(look(ROOT, "rw"), look(ROOT, "alias"));

	/* Names that are not entries. */
	assert_int_equal(fenv_lookup(&E, ROOT, "nonexistent", &eo), -ENOENT);
	assert_int_equal(fenv_lookup(&E, ROOT, "f", &eo), -ENOENT); /* inside rw, not the root */
	assert_int_equal(fenv_lookup(&E, ROOT, "RW", &eo), -ENOENT);
	assert_int_equal(fenv_lookup(&E, ROOT, "rw2", &eo), -ENOENT);
	assert_int_equal(fenv_lookup(&E, ROOT, "..", &eo), -EINVAL);
	assert_int_equal(fenv_lookup(&E, ROOT, ".", &eo), -EINVAL);
	assert_int_equal(fenv_lookup(&E, ROOT, "rw/f", &eo), -EINVAL);

	/* A file entry is a leaf. */
	assert_int_equal(fenv_lookup(&E, look(ROOT, "file"), "x", &eo), -ENOTDIR);
	assert_int_equal(fenv_lookup(&E, look(ROOT, "rofile"), "x", &eo), -ENOTDIR);

	/* Forgotten entirely, the entries go; the root stays, whatever FORGET says of it. */
	for (k = 0; k < NENT; k++)
		assert_int_equal(fenv_forget(&E, look(ROOT, names[k]), UINT64_MAX), FENV_NOREPLY);
	assert_int_equal(fenv_forget(&E, ROOT, UINT64_MAX), FENV_NOREPLY);
	assert_int_equal(inodes(), 1);
	assert_int_equal(fenv_getattr(&E, ROOT, NULL), 0);
	/* A reset keeps the root synthetic and its entries reachable. */
	look(ROOT, "rw");
	fsrv_reset(E.s);
	assert_int_equal(inodes(), 1);
	assert_int_equal(fenv_init(&E), 0);
	assert_int_equal(fenv_lookup(&E, ROOT, "rw", &eo), 0);
	assert_int_equal(fenv_getattr(&E, ROOT, NULL), 0);
}

/* The names of a READDIR(PLUS) reply in E.body, appended to out ("name/type/off " each). */
static void dirents(bool plus, char *out, size_t size, uint64_t *last_off, uint64_t *ids)
{
	size_t off = 0, hdr = plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET;
	unsigned int n = 0;

	while (E.body_len - off >= hdr) {
		const struct fuse_entry_out *eo = (const void *)(E.body + off);
		const struct fuse_dirent *d =
			(const void *)(E.body + off + (plus ? sizeof(*eo) : 0));
		size_t len = strlen(out);

		snprintf(out + len, size - len, "%.*s/%u ", (int)d->namelen, d->name, d->type);
		*last_off = d->off;
		if (ids)
			ids[n++] = plus ? eo->nodeid : d->ino;
		off += FUSE_DIRENT_ALIGN(hdr + d->namelen);
	}
	assert_int_equal(off, E.body_len);
}

static void test_root_readdir(void **state)
{
	static const char want[] = "./4 ../4 rw/4 ro/4 file/8 rofile/8 alias/4 sub/4 ";
	static const uint32_t sizes[] = { 4096, 32, 48, 64, 200 };
	char got[1024];
	uint64_t dfh, off, ids[16];
	unsigned int i, k, rounds;

	(void)state;
	assert_int_equal(fenv_opendir(&E, ROOT, &dfh), 0);
	assert_int_equal(handles(), 1);
	/* All at once, then in small pieces resumed from each reply's last offset. */
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		got[0] = 0;
		off = 0;
		for (rounds = 0; rounds < 20; rounds++) {
			uint64_t last = off;

			assert_int_equal(fenv_readdir(&E, FUSE_READDIR, ROOT, dfh, off, sizes[i]),
					 0);
			if (!E.body_len)
				break;
			dirents(false, got, sizeof(got), &last, NULL);
			assert_true(last > off);
			off = last;
		}
		if (strcmp(got, want))
			fail_msg("READDIR of the root by %u bytes: \"%s\"", sizes[i], got);
	}
	/* The inode numbers are the entries' own. */
	got[0] = 0;
	assert_int_equal(fenv_readdir(&E, FUSE_READDIR, ROOT, dfh, 2, 4096), 0);
	dirents(false, got, sizeof(got), &off, ids);
	for (k = 0; k < NENT; k++) {
		struct stat st;

		assert_int_equal(stat(ents[k].path, &st), 0);
		assert_int_equal(ids[k], st.st_ino);
	}
	/* Past the end, and far past it: nothing. */
	assert_int_equal(fenv_readdir(&E, FUSE_READDIR, ROOT, dfh, 8, 4096), 0);
	assert_int_equal(E.body_len, 0);
	assert_int_equal(fenv_readdir(&E, FUSE_READDIR, ROOT, dfh, 1ULL << 62, 4096), 0);
	assert_int_equal(E.body_len, 0);
	assert_int_equal(fenv_readdir(&E, FUSE_READDIR, ROOT, dfh, UINT64_MAX, 4096), -EINVAL);
	/* READDIRPLUS enters each entry once per record sent: the nodes LOOKUP gives. */
	got[0] = 0;
	assert_int_equal(fenv_readdir(&E, FUSE_READDIRPLUS, ROOT, dfh, 0, 4096), 0);
	dirents(true, got, sizeof(got), &off, ids);
	assert_string_equal(got, want);
	assert_int_equal(ids[0], 0);
	assert_int_equal(ids[1], 0);
	for (k = 0; k < NENT; k++) {
		assert_int_equal(look(ROOT, names[k]), ids[2 + k]);
		assert_int_equal(fenv_forget(&E, ids[2 + k], 2), FENV_NOREPLY);
	}
	assert_int_equal(inodes(), 1);
	/* A reply too small for one READDIRPLUS record: an error, nothing entered. */
	assert_true(fenv_readdir(&E, FUSE_READDIRPLUS, ROOT, dfh, 2, 100) < 0);
	assert_int_equal(inodes(), 1);
	/* FSYNCDIR of a read-only directory: nothing to do. */
	{
		struct fuse_fsync_in fs = { .fh = dfh };

		fenv_begin(&E, FUSE_FSYNCDIR, ROOT);
		fenv_put(&E, &fs, sizeof(fs));
		assert_int_equal(fenv_send(&E, NULL), 0);
	}
	/* The root's handle reads and writes nothing as a file. */
	assert_true(fenv_read(&E, ROOT, dfh, 0, 100) < 0);
	assert_int_equal(fenv_write(&E, ROOT, dfh, 0, "x", 1, 0, NULL), -EROFS);
	assert_int_equal(fenv_release(&E, FUSE_RELEASEDIR, ROOT, dfh), 0);
	assert_int_equal(handles(), 0);
}

static void test_root_refuses_changes(void **state)
{
	struct fuse_setattr_in sa;
	struct fuse_entry_out eo;
	char *before;
	uint64_t rw, f, fh;
	int rc;

	(void)state;
	rw = look(ROOT, "rw");
	f = look(rw, "f");
	before = tree();
#define ROFS(expr)                                                                     \
	do {                                                                           \
		rc = (expr);                                                           \
		if (rc != -EROFS)                                                      \
			fail_msg("synthetic root: %s gave %d, not -EROFS", #expr, rc); \
	} while (0)
#define XDEV(expr)                                                                     \
	do {                                                                           \
		rc = (expr);                                                           \
		if (rc != -EXDEV)                                                      \
			fail_msg("synthetic root: %s gave %d, not -EXDEV", #expr, rc); \
	} while (0)
	ROFS(fenv_create(&E, ROOT, "new", 0644, O_RDWR, &eo, &fh));
	ROFS(fenv_create(&E, ROOT, "rw", 0644, O_RDWR, &eo, &fh)); /* an entry, without O_EXCL */
	ROFS(fenv_mkdir(&E, ROOT, "new", 0755, &eo));
	ROFS(fenv_mknod(&E, ROOT, "new", S_IFREG | 0644, 0, &eo));
	ROFS(fenv_mknod(&E, ROOT, "fifo", S_IFIFO | 0644, 0, &eo));
	ROFS(fenv_symlink(&E, ROOT, "new", "rw", &eo));
	ROFS(fenv_unlink(&E, ROOT, "file"));
	ROFS(fenv_unlink(&E, ROOT, "nonexistent"));
	ROFS(fenv_rmdir(&E, ROOT, "rw"));
	ROFS(fenv_rename(&E, ROOT, "rw", ROOT, "rw2"));
	ROFS(fenv_rename2(&E, ROOT, "rw", ROOT, "ro", RENAME_EXCHANGE));
	XDEV(fenv_rename(&E, ROOT, "rw", rw, "moved"));
	XDEV(fenv_rename(&E, rw, "f", ROOT, "f"));
	XDEV(fenv_rename2(&E, rw, "d", ROOT, "d", RENAME_NOREPLACE));
	XDEV(fenv_link(&E, f, ROOT, "f", &eo));
	XDEV(fenv_link(&E, look(ROOT, "file"), ROOT, "file2", &eo));
	assert_int_equal(fenv_link(&E, ROOT, rw, "rootlink", &eo), -EPERM); /* a directory */
	memset(&sa, 0, sizeof(sa));
	sa.valid = FATTR_MODE;
	sa.mode = 0777;
	ROFS(fenv_setattr(&E, ROOT, &sa, NULL));
	sa.valid = FATTR_UID | FATTR_GID;
	ROFS(fenv_setattr(&E, ROOT, &sa, NULL));
	sa.valid = FATTR_ATIME | FATTR_MTIME | FATTR_MTIME_NOW;
	ROFS(fenv_setattr(&E, ROOT, &sa, NULL));
	sa.valid = FATTR_SIZE;
	ROFS(fenv_setattr(&E, ROOT, &sa, NULL));
	ROFS(fenv_setxattr(&E, ROOT, "user.x", "v", 1, 0));
	ROFS(fenv_setxattr(&E, ROOT, "trusted.x", "v", 1, 0));
	fenv_begin(&E, FUSE_REMOVEXATTR, ROOT);
	fenv_name(&E, "user.x");
	ROFS(fenv_send(&E, NULL));
	{
		struct fuse_fallocate_in fa = { .fh = 0, .length = 4096 };

		fenv_begin(&E, FUSE_FALLOCATE, ROOT);
		fenv_put(&E, &fa, sizeof(fa));
		assert_true(fenv_send(&E, NULL) < 0);
	}
#undef ROFS
#undef XDEV
	same_tree(before, "changing the synthetic root");
	free(before);
	assert_int_equal(fenv_getattr(&E, ROOT, NULL), 0);
	assert_true(fenv_outside_intact(&E));
}

/* ---- file entries --------------------------------------------------------------- */

static void test_file_entry(void **state)
{
	struct fuse_setattr_in sa;
	struct fuse_entry_out eo;
	struct fuse_attr_out ao;
	uint64_t f, fh, rofh;
	uint32_t w;

	(void)state;
	f = look(ROOT, "file");
	assert_int_equal(fenv_open(&E, f, O_RDWR, &fh), 0);
	assert_int_equal(fenv_read(&E, f, fh, 0, 100), 0);
	assert_int_equal(E.body_len, 5);
	assert_memory_equal(E.body, "file\n", 5);
	/* A write lands in the host file at once. */
	assert_int_equal(fenv_write(&E, f, fh, 0, "FI", 2, 0, &w), 0);
	assert_int_equal(w, 2);
	host_text(file_path, "FIle\n");
	assert_int_equal(fenv_write(&E, f, fh, 5, "more\n", 5, 0, &w), 0);
	host_text(file_path, "FIle\nmore\n");
	/* Truncation, by SETATTR and by an O_TRUNC open. */
	memset(&sa, 0, sizeof(sa));
	sa.valid = FATTR_SIZE;
	sa.size = 3;
	assert_int_equal(fenv_setattr(&E, f, &sa, &ao), 0);
	assert_int_equal(ao.attr.size, 3);
	host_text(file_path, "FIl");
	assert_int_equal(fenv_release(&E, FUSE_RELEASE, f, fh), 0);
	assert_int_equal(fenv_open(&E, f, O_WRONLY | O_TRUNC, &fh), 0);
	host_text(file_path, "");
	assert_int_equal(fenv_write(&E, f, fh, 0, "new\n", 4, 0, &w), 0);
	assert_int_equal(fenv_release(&E, FUSE_RELEASE, f, fh), 0);
	host_text(file_path, "new\n");
	/* Nothing is under a file, nothing is created there. */
	assert_int_equal(fenv_lookup(&E, f, "x", &eo), -ENOTDIR);
	assert_int_equal(fenv_create(&E, f, "x", 0644, O_RDWR, &eo, &fh), -ENOTDIR);
	assert_int_equal(fenv_mkdir(&E, f, "x", 0755, &eo), -ENOTDIR);
	assert_int_equal(fenv_opendir(&E, f, &fh), -ENOTDIR);

	/* The read-only file entry: readable, and nothing else. */
	f = look(ROOT, "rofile");
	assert_int_equal(fenv_open(&E, f, O_RDONLY, &rofh), 0);
	assert_int_equal(fenv_read(&E, f, rofh, 0, 100), 0);
	assert_int_equal(E.body_len, 7);
	assert_int_equal(fenv_open(&E, f, O_WRONLY, &fh), -EROFS);
	assert_int_equal(fenv_open(&E, f, O_RDWR, &fh), -EROFS);
	assert_int_equal(fenv_open(&E, f, O_RDONLY | O_TRUNC, &fh), -EROFS);
	assert_int_equal(fenv_write(&E, f, rofh, 0, "x", 1, 0, NULL), -EROFS);
	sa.valid = FATTR_SIZE;
	sa.size = 0;
	assert_int_equal(fenv_setattr(&E, f, &sa, NULL), -EROFS);
	sa.valid = FATTR_MODE;
	sa.mode = 0777;
	assert_int_equal(fenv_setattr(&E, f, &sa, NULL), -EROFS);
	assert_int_equal(fenv_setxattr(&E, f, "user.x", "v", 1, 0), -EROFS);
	{
		struct fuse_fallocate_in fa = { .fh = rofh, .length = 1 << 20 };
		struct fuse_access_in ai = { .mask = W_OK };

		fenv_begin(&E, FUSE_FALLOCATE, f);
		fenv_put(&E, &fa, sizeof(fa));
		assert_int_equal(fenv_send(&E, NULL), -EROFS);
		fenv_begin(&E, FUSE_ACCESS, f);
		fenv_put(&E, &ai, sizeof(ai));
		assert_int_equal(fenv_send(&E, NULL), -EROFS);
	}
	assert_int_equal(fenv_release(&E, FUSE_RELEASE, f, rofh), 0);
	host_text(rofile_path, "rofile\n");
	assert_int_equal(handles(), 0);
}

/* ---- directory entries ------------------------------------------------------------ */

static void test_dir_entries(void **state)
{
	struct fuse_setattr_in sa = { .valid = FATTR_MODE, .mode = 0700 };
	struct fuse_entry_out eo;
	char *before, p[PATH_MAX + 16];
	uint64_t rw, ro, sub, d, g, fh;
	uint32_t w;

	(void)state;
	/* Read-write: everything a plain share does, on the host directory. */
	rw = look(ROOT, "rw");
	assert_int_equal(fenv_create(&E, rw, "new", 0644, O_RDWR, &eo, &fh), 0);
	assert_int_equal(fenv_write(&E, eo.nodeid, fh, 0, "data\n", 5, 0, &w), 0);
	assert_int_equal(fenv_release(&E, FUSE_RELEASE, eo.nodeid, fh), 0);
	host_text(fenv_path(&E, "new"), "data\n");
	assert_int_equal(fenv_mkdir(&E, rw, "nd", 0755, &eo), 0);
	assert_int_equal(fenv_type(fenv_path(&E, "nd")), S_IFDIR);
	assert_int_equal(fenv_rename(&E, rw, "new", eo.nodeid, "moved"), 0);
	host_text(fenv_path(&E, "nd/moved"), "data\n");
	assert_int_equal(fenv_symlink(&E, rw, "ln", "f", &eo), 0);
	assert_int_equal(fenv_link(&E, look(rw, "f"), rw, "hard", &eo), 0);
	assert_int_equal(fenv_unlink(&E, rw, "hard"), 0);
	assert_int_equal(fenv_setattr(&E, look(rw, "f"), &sa, NULL), 0);
	assert_int_equal(fenv_setxattr(&E, look(rw, "f"), "user.k", "v", 1, 0), 0);

	/* A sub-directory entry: the sub-directory alone, its writes on the host. */
	sub = look(ROOT, "sub");
	assert_int_equal(fenv_lookup(&E, sub, "inner", &eo), 0);
	assert_int_equal(fenv_lookup(&E, sub, "f", &eo), -ENOENT);
	assert_int_equal(fenv_lookup(&E, sub, "..", &eo), -EINVAL);
	assert_int_equal(fenv_create(&E, sub, "s", 0644, O_RDWR, &eo, &fh), 0);
	assert_int_equal(fenv_write(&E, eo.nodeid, fh, 0, "sub\n", 4, 0, &w), 0);
	assert_int_equal(fenv_release(&E, FUSE_RELEASE, eo.nodeid, fh), 0);
	host_text(fenv_path(&E, "d/s"), "sub\n");

	/* Read-only: readable throughout; every change refused, deep down too. */
	ro = look(ROOT, "ro");
	d = look(ro, "sub");
	g = look(ro, "g");
	assert_int_equal(fenv_open(&E, g, O_RDONLY, &fh), 0);
	assert_int_equal(fenv_read(&E, g, fh, 0, 100), 0);
	assert_int_equal(E.body_len, 8);
	assert_int_equal(fenv_release(&E, FUSE_RELEASE, g, fh), 0);
	assert_int_equal(fenv_opendir(&E, d, &fh), 0);
	assert_int_equal(fenv_readdir(&E, FUSE_READDIRPLUS, d, fh, 0, 4096), 0);
	assert_true(E.body_len > 0);
	assert_int_equal(fenv_release(&E, FUSE_RELEASEDIR, d, fh), 0);
	before = tree();
	assert_int_equal(fenv_create(&E, ro, "c", 0644, O_RDWR, &eo, &fh), -EROFS);
	assert_int_equal(fenv_create(&E, d, "c", 0644, O_RDWR, &eo, &fh), -EROFS);
	assert_int_equal(fenv_mkdir(&E, d, "m", 0755, &eo), -EROFS);
	assert_int_equal(fenv_mknod(&E, d, "n", S_IFIFO | 0644, 0, &eo), -EROFS);
	assert_int_equal(fenv_symlink(&E, d, "s", "x", &eo), -EROFS);
	assert_int_equal(fenv_unlink(&E, d, "x"), -EROFS);
	assert_int_equal(fenv_rmdir(&E, ro, "sub"), -EROFS);
	assert_int_equal(fenv_rename(&E, ro, "g", d, "g"), -EROFS);
	assert_int_equal(fenv_link(&E, g, d, "g2", &eo), -EROFS);
	assert_int_equal(fenv_open(&E, g, O_RDWR, &fh), -EROFS);
	assert_int_equal(fenv_open(&E, look(d, "x"), O_WRONLY | O_TRUNC, &fh), -EROFS);
	assert_int_equal(fenv_setattr(&E, g, &sa, NULL), -EROFS);
	assert_int_equal(fenv_setattr(&E, d, &sa, NULL), -EROFS);
	assert_int_equal(fenv_setxattr(&E, g, "user.k", "v", 1, 0), -EROFS);
	same_tree(before, "changes under a read-only entry");
	free(before);
	snprintf(p, sizeof(p), "%s/g", ro_dir);
	host_text(p, "ro file\n");
	assert_true(fenv_outside_intact(&E));
}

/* ---- across entries ---------------------------------------------------------------- */

static void test_exdev(void **state)
{
	struct fuse_entry_out eo;
	char *before;
	uint64_t rw, sub, alias, ro, file, f, d;
	int rc;

	(void)state;
	rw = look(ROOT, "rw");
	sub = look(ROOT, "sub");
	alias = look(ROOT, "alias");
	ro = look(ROOT, "ro");
	file = look(ROOT, "file");
	f = look(rw, "f");
	d = look(rw, "d"); /* the host directory entry "sub" is, but a node of rw */
	assert_int_not_equal(d, sub);
	before = tree();
#define XDEV(expr)                                                                     \
	do {                                                                           \
		rc = (expr);                                                           \
		if (rc != -EXDEV)                                                      \
			fail_msg("across entries: %s gave %d, not -EXDEV", #expr, rc); \
	} while (0)
	/* Both read-write, one host filesystem, sub inside rw's directory: still two mounts. */
	XDEV(fenv_rename(&E, rw, "f", sub, "f"));
	XDEV(fenv_rename(&E, sub, "inner", rw, "inner"));
	XDEV(fenv_rename2(&E, rw, "f", sub, "f", RENAME_NOREPLACE));
	XDEV(fenv_rename2(&E, rw, "f", sub, "inner", RENAME_EXCHANGE));
	XDEV(fenv_link(&E, f, sub, "f", &eo));
	XDEV(fenv_link(&E, look(sub, "inner"), rw, "inner2", &eo));
	XDEV(fenv_link(&E, file, rw, "file", &eo));
	/* Into or out of read-only entries: across first. */
	XDEV(fenv_rename(&E, rw, "f", alias, "f"));
	XDEV(fenv_rename(&E, alias, "f", rw, "f2"));
	XDEV(fenv_rename(&E, ro, "g", rw, "g"));
	XDEV(fenv_link(&E, look(alias, "f"), rw, "f3", &eo));
	XDEV(fenv_link(&E, f, ro, "f", &eo));
#undef XDEV
	same_tree(before, "RENAME and LINK across entries");
	free(before);
	/* Inside rw, d is an ordinary directory: the same moves work there. */
	assert_int_equal(fenv_rename(&E, rw, "f", d, "f"), 0);
	assert_int_equal(fenv_type(fenv_path(&E, "d/f")), S_IFREG);
	assert_int_equal(fenv_link(&E, look(d, "f"), rw, "f", &eo), 0);
}

/*
 * One host inode through a read-write and a read-only entry: two nodes, each
 * with its entry's rights, whichever node id or handle the guest pairs up.
 */
static void test_alias(void **state)
{
	struct fuse_setattr_in sa;
	uint64_t rw, alias, f_rw, f_ro, fh_rw, fh_ro, sub;
	uint32_t w;

	(void)state;
	rw = look(ROOT, "rw");
	alias = look(ROOT, "alias");
	f_rw = look(rw, "f");
	f_ro = look(alias, "f");
	assert_int_not_equal(f_rw, f_ro);
	/* And again the other way round (the table holds both now). */
	assert_int_equal(look(alias, "f"), f_ro);
	assert_int_equal(look(rw, "f"), f_rw);
	assert_int_equal(fenv_open(&E, f_ro, O_RDWR, &fh_ro), -EROFS);
	assert_int_equal(fenv_open(&E, f_ro, O_RDONLY, &fh_ro), 0);
	assert_int_equal(fenv_open(&E, f_rw, O_RDWR, &fh_rw), 0);
	/* The read-only entry's handle with the read-write entry's node in the header. */
	assert_int_equal(fenv_write(&E, f_rw, fh_ro, 0, "evil", 4, 0, NULL), -EROFS);
	{
		struct fuse_fallocate_in fa = { .fh = fh_ro, .length = 1 << 20 };
		struct fuse_copy_file_range_in cr = {
			.fh_in = fh_rw, .nodeid_out = f_rw, .fh_out = fh_ro, .len = 4
		};

		fenv_begin(&E, FUSE_FALLOCATE, f_rw);
		fenv_put(&E, &fa, sizeof(fa));
		assert_int_equal(fenv_send(&E, NULL), -EROFS);
		fenv_begin(&E, FUSE_COPY_FILE_RANGE, f_rw);
		fenv_put(&E, &cr, sizeof(cr));
		assert_int_equal(fenv_send(&E, NULL), -EROFS);
	}
	/* The read-write handle on the read-only node: the node's entry rules SETATTR. */
	memset(&sa, 0, sizeof(sa));
	sa.valid = FATTR_SIZE | FATTR_FH;
	sa.fh = fh_rw;
	assert_int_equal(fenv_setattr(&E, f_ro, &sa, NULL), -EROFS);
	host_text(fenv_path(&E, "f"), "hello\n");
	/* Through the read-write entry it all works, and the read-only one reads it. */
	assert_int_equal(fenv_write(&E, f_rw, fh_rw, 0, "HELLO\n", 6, 0, &w), 0);
	host_text(fenv_path(&E, "f"), "HELLO\n");
	assert_int_equal(fenv_read(&E, f_ro, fh_ro, 0, 100), 0);
	assert_memory_equal(E.body, "HELLO\n", 6);
	/* Copying out of the read-only entry into the read-write one is reading and writing. */
	{
		struct fuse_copy_file_range_in cr = {
			.fh_in = fh_ro, .nodeid_out = f_rw, .fh_out = fh_rw, .off_out = 6, .len = 6
		};

		fenv_begin(&E, FUSE_COPY_FILE_RANGE, f_rw);
		fenv_put(&E, &cr, sizeof(cr));
		assert_int_equal(fenv_send(&E, NULL), 0);
		host_text(fenv_path(&E, "f"), "HELLO\nHELLO\n");
	}
	assert_int_equal(fenv_release(&E, FUSE_RELEASE, f_ro, fh_ro), 0);
	assert_int_equal(fenv_release(&E, FUSE_RELEASE, f_rw, fh_rw), 0);
	/* A directory of the read-only entry as a parent: refused, even for the rw entry's name. */
	sub = look(alias, "d");
	assert_int_equal(fenv_unlink(&E, sub, "inner"), -EROFS);
	assert_int_equal(fenv_type(fenv_path(&E, "d/inner")), S_IFREG);
	assert_int_equal(fenv_unlink(&E, look(rw, "d"), "inner"), 0);
	assert_int_equal(fenv_type(fenv_path(&E, "d/inner")), 0);
}

/*
 * Twelve entries of one host directory in a 16-slot table (its hash has 16
 * chains): whatever chain two of them share, each entry still gets its own
 * node, with its own read-only flag.
 */
static void test_many_aliases(void **state)
{
	static char nm[12][8];
	struct fsrv_entry many[12];
	struct fuse_setattr_in sa = { .valid = FATTR_MODE, .mode = 0755 };
	uint64_t ids[12];
	unsigned int i, j;

	(void)state;
	for (i = 0; i < 12; i++) {
		snprintf(nm[i], sizeof(nm[i]), "a%u", i);
		many[i] = (struct fsrv_entry){ nm[i], E.share, i % 2 };
	}
	assert_int_equal(fenv_start_entries(&E, many, 12, false, 16, 0), 0);
	for (i = 0; i < 12; i++) {
		ids[i] = look(ROOT, nm[i]);
		for (j = 0; j < i; j++)
			assert_int_not_equal(ids[i], ids[j]);
		assert_int_equal(fenv_setattr(&E, ids[i], &sa, NULL), i % 2 ? -EROFS : 0);
	}
	assert_int_equal(inodes(), 13);
}

/* Node ids that name nothing, or the root, wherever an entry's node is expected. */
static void test_forged(void **state)
{
	static const uint64_t forged[] = {
		0, 2, 3, 7, 1ULL << 32, (1ULL << 32) | 1, 0xdeadbeefcafef00dULL, UINT64_MAX
	};
	struct fuse_entry_out eo;
	uint64_t rw, f, fh;
	char *before;
	unsigned int i;

	(void)state;
	rw = look(ROOT, "rw");
	f = look(rw, "f");
	before = tree();
	for (i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		if (fenv_getattr(&E, forged[i], NULL) == 0)
			continue;
		assert_true(fenv_lookup(&E, forged[i], "rw", &eo) < 0);
		assert_true(fenv_create(&E, forged[i], "x", 0644, O_RDWR, &eo, &fh) < 0);
		assert_true(fenv_rename(&E, rw, "f", forged[i], "x") < 0);
		assert_true(fenv_rename(&E, forged[i], "f", rw, "x") < 0);
		assert_true(fenv_link(&E, forged[i], rw, "x", &eo) < 0);
		assert_true(fenv_link(&E, f, forged[i], "x", &eo) < 0);
		assert_true(fenv_open(&E, forged[i], O_RDWR, &fh) < 0);
	}
	same_tree(before, "forged node ids");
	free(before);
}

/* ---- opening: the entries are checked before anything runs ----------------------------- */

static void open_fails(const struct fsrv_entry *e, unsigned int n, int want, const char *says)
{
	struct fsrv_config c = { .path = "mounts", .entries = e, .nentries = n };
	struct fsrv *s = (struct fsrv *)1;
	char err[512] = "";
	int fds = fdbudget_count_open(), rc = fsrv_open(&c, &s, err, sizeof(err));

	if (rc != want)
		fail_msg("fsrv_open: %d (%s), expected %d", rc, err, want);
	assert_null(s);
	if (!strstr(err, "share mounts: ") || !strstr(err, says))
		fail_msg("fsrv_open says \"%s\", not \"%s\"", err, says);
	assert_int_equal(fdbudget_count_open(), fds);
}

static void test_open_errors(void **state)
{
	static struct fsrv_entry many[FSRV_ENTRIES_MAX + 1];
	static char many_names[FSRV_ENTRIES_MAX + 1][8];
	char long_name[FSRV_NAME_MAX + 2], missing[PATH_MAX], fifo[PATH_MAX];
	struct fsrv_entry e[3];
	unsigned int i;

	(void)state;
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = 0;
	snprintf(missing, sizeof(missing), "%s/missing", E.root);
	snprintf(fifo, sizeof(fifo), "%s/fifo", E.root);
	assert_int_equal(mkfifo(fifo, 0644), 0);

	e[0] = (struct fsrv_entry){ "good", E.share, false };
	e[1] = (struct fsrv_entry){ "", E.share, false };
	open_fails(e, 2, -EINVAL, "entry '': not a valid name");
	e[1].name = ".";
	open_fails(e, 2, -EINVAL, "entry '.': not a valid name");
	e[1].name = "..";
	open_fails(e, 2, -EINVAL, "entry '..': not a valid name");
	e[1].name = "a/b";
	open_fails(e, 2, -EINVAL, "entry 'a/b': not a valid name");
	e[1].name = long_name;
	open_fails(e, 2, -EINVAL, "not a valid name");
	e[1].name = NULL;
	open_fails(e, 2, -EINVAL, "not a valid name");
	e[1] = (struct fsrv_entry){ "good", file_path, true };
	open_fails(e, 2, -EINVAL, "entry good: the name is used twice");
	e[1] = (struct fsrv_entry){ "gone", missing, false };
	open_fails(e, 2, -ENOENT, "entry gone (");
	e[1] = (struct fsrv_entry){ "nopath", NULL, false };
	open_fails(e, 2, -EINVAL, "entry nopath: no path");
	e[1] = (struct fsrv_entry){ "fifo", fifo, false };
	open_fails(e, 2, -EINVAL, "not a directory or regular file");
	e[1] = (struct fsrv_entry){ "null", "/dev/null", false };
	open_fails(e, 2, -EINVAL, "entry null (/dev/null): not a directory or regular file");
	/* The third fails after two were opened: both closed again (the fd count says so). */
	e[1] = (struct fsrv_entry){ "file", file_path, false };
	e[2] = (struct fsrv_entry){ "gone", missing, false };
	open_fails(e, 3, -ENOENT, "gone");

	/* FSRV_ENTRIES_MAX entries are fine; one more is refused. */
	for (i = 0; i <= FSRV_ENTRIES_MAX; i++) {
		snprintf(many_names[i], sizeof(many_names[i]), "e%u", i);
		many[i] = (struct fsrv_entry){ many_names[i], i % 2 ? file_path : E.share, i % 3 };
	}
	open_fails(many, FSRV_ENTRIES_MAX + 1, -EINVAL, "entries, at most");
	assert_int_equal(fenv_start_entries(&E, many, FSRV_ENTRIES_MAX, false, 0, 0), 0);
	{
		struct fuse_entry_out eo;
		char got[64];
		uint64_t dfh, off = 0, last = 0;
		unsigned int seen = 0, rounds;

		assert_int_equal(fenv_lookup(&E, ROOT, "e255", &eo), 0);
		assert_true(S_ISREG(eo.attr.mode));
		assert_int_equal(fenv_lookup(&E, ROOT, "e256", &eo), -ENOENT);
		assert_int_equal(fenv_opendir(&E, ROOT, &dfh), 0);
		for (rounds = 0; rounds < 1000; rounds++) {
			got[0] = 0;
			assert_int_equal(fenv_readdir(&E, FUSE_READDIR, ROOT, dfh, off, 40), 0);
			if (!E.body_len)
				break;
			dirents(false, got, sizeof(got), &last, NULL);
			off = last;
			seen++;
		}
		assert_int_equal(seen, FSRV_ENTRIES_MAX + 2);
		assert_int_equal(fenv_release(&E, FUSE_RELEASEDIR, ROOT, dfh), 0);
	}
	/* A share with entries and no label still names itself in messages. */
	{
		struct fsrv_config c = { .entries = e, .nentries = 1 };
		struct fsrv *s = NULL;
		char err[256] = "";

		e[0] = (struct fsrv_entry){ "x", missing, false };
		assert_int_equal(fsrv_open(&c, &s, err, sizeof(err)), -ENOENT);
		assert_non_null(strstr(err, "entry x ("));
	}
}

/* ---- the descriptor budget: one account for all entries --------------------------------- */

static void test_budget(void **state)
{
	struct fsrv_config c = {
		.path = "mounts", .entries = ents, .nentries = NENT, .cache = VFS_CACHE_AUTO
	};
	struct fdbudget b;
	struct fuse_entry_out eo;
	unsigned int k;

	(void)state;
	fdbudget_init(&b, 4);
	c.fds = &b;
	assert_int_equal(fenv_open_config(&E, &c), 0);
	assert_int_equal(fenv_init(&E), 0);
	assert_int_equal(b.naccts, 1);
	/* Four entries take the four descriptors; the fifth, in any entry, is refused. */
	for (k = 0; k < 4; k++)
		look(ROOT, names[k]);
	assert_int_equal(atomic_load(&b.pool), 0);
	assert_int_equal(fenv_lookup(&E, ROOT, names[4], &eo), -ENFILE);
	assert_int_equal(fenv_lookup(&E, look(ROOT, "rw"), "f", &eo), -ENFILE);
	/* Forgetting one lets another entry have it. */
	assert_int_equal(fenv_forget(&E, look(ROOT, "rofile"), UINT64_MAX), FENV_NOREPLY);
	assert_int_equal(fenv_lookup(&E, ROOT, names[4], &eo), 0);
	fsrv_close(E.s);
	E.s = NULL;
	assert_int_equal(b.naccts, 0);
	assert_int_equal(atomic_load(&b.pool), 4);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_root_attrs),   T(test_root_lookup),
		T(test_root_readdir), T(test_root_refuses_changes),
		T(test_file_entry),   T(test_dir_entries),
		T(test_exdev),	      T(test_alias),
		T(test_many_aliases), T(test_forged),
		T(test_open_errors),  T(test_budget),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
