/* Escape suite for the virtio-fs server: raw hostile FUSE requests, then a look at the host tree.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/fuse_env.h"

/*
 * Every test starts from the same scratch tree (fuse_env.h):
 *   share/f        "hello\n", 0644
 *   share/d/       0755, holding d/inner ("inner\n")
 *   outside/secret FENV_SECRET, 0600, with the xattr user.s = "topsecret"
 *   outside/dir/   empty
 * and a read-write server on share (INIT done). What each attack asserts on the
 * host: outside/ is exactly as it was (fenv_outside_intact: same bytes, mode,
 * owner, times, link count, no new entry), and the share holds nothing it
 * should not (a listing compared before and after, where the attack must fail).
 */

#define ROOT FUSE_ROOT_ID
#define F_TEXT "hello\n"
#define SECRET_XATTR "user.s"
#define SECRET_XVAL "topsecret"

static struct fuse_env E;
/*
 * The directory the share-level helpers work in (look(), symlink_battery): the
 * root of a plain share, or the entry whose host directory is E.share.
 */
static uint64_t home = ROOT;

static void need_root(const char *why)
{
	if (geteuid() != 0)
		fail_msg("this test must run as root (%s); it is not skipped", why);
}

/* Re-read outside/secret's inode state after the test itself changed it (xattr, host link). */
static void rebase_secret(void)
{
	assert_int_equal(lstat(fenv_opath(&E, "secret"), &E.secret_st), 0);
}

static int setup(void **state)
{
	(void)state;
	if (fenv_setup(&E))
		return -1;
	if (fenv_write_host(fenv_path(&E, "f"), F_TEXT, 0644) || chmod(fenv_path(&E, "f"), 0644) ||
	    mkdir(fenv_path(&E, "d"), 0755) ||
	    fenv_write_host(fenv_path(&E, "d/inner"), "inner\n", 0644))
		goto fail;
	/* A user xattr: the host file system must keep them (tmpfs does from Linux 6.6). */
	if (setxattr(fenv_opath(&E, "secret"), SECRET_XATTR, SECRET_XVAL, strlen(SECRET_XVAL), 0)) {
		fprintf(stderr, "setup: setxattr %s: %s\n", fenv_opath(&E, "secret"), strerror(errno));
		goto fail;
	}
	if (lstat(fenv_opath(&E, "secret"), &E.secret_st))
		goto fail;
	home = ROOT;
	if (fenv_start(&E, false, VFS_CACHE_AUTO, 0, 0))
		goto fail;
	return 0;
fail:
	fenv_teardown(&E); /* cmocka runs no teardown after a failed setup */
	return -1;
}

static int teardown(void **state)
{
	(void)state;
	fenv_teardown(&E);
	return 0;
}

static uint64_t look_in(uint64_t parent, const char *name)
{
	struct fuse_entry_out eo;
	int rc = fenv_lookup(&E, parent, name, &eo);

	if (rc)
		fail_msg("LOOKUP %s: %d", name, rc);
	assert_int_not_equal(eo.nodeid, 0);
	return eo.nodeid;
}

static uint64_t look(const char *name)
{
	return look_in(home, name);
}

static void assert_outside(void)
{
	if (!fenv_outside_intact(&E)) {
		char *l = fenv_listing(E.outside);

		fail_msg("outside/ changed:\n%s", l);
	}
}

static void assert_listing(const char *before, const char *what)
{
	char *after = fenv_listing(E.share);

	if (strcmp(before, after))
		fail_msg("%s changed the share:\nbefore:\n%safter:\n%s", what, before, after);
	free(after);
}

static uint32_t host_mode(const char *path)
{
	struct stat st;

	if (lstat(path, &st))
		return 0;
	return st.st_mode;
}

/* Raw FUSE call with one dummy body struct: the error. */
static int raw_call(uint32_t op, uint64_t node, const void *body, size_t len)
{
	fenv_begin(&E, op, node);
	fenv_put(&E, body, len);
	return fenv_send(&E, NULL);
}

/* ---- names ---------------------------------------------------------------- */

enum nop {
	N_LOOKUP,
	N_CREATE,
	N_MKDIR,
	N_MKNOD,
	N_SYMLINK,
	N_LINK,
	N_RENAME_OLD,
	N_RENAME_NEW,
	N_UNLINK,
	N_RMDIR,
	N_COUNT
};

static const char *const nop_name[N_COUNT] = {
	"LOOKUP", "CREATE",	 "MKDIR",	"MKNOD",  "SYMLINK",
	"LINK",	  "RENAME(old)", "RENAME(new)", "UNLINK", "RMDIR",
};

struct hname {
	const char *label;
	char bytes[300];
	size_t len; /* bytes sent for the name, its NUL included when there is one */
	bool lax;   /* "x\0y": acting on "x" is acceptable, see check_lax */
};

/*
 * Send op with the hostile bytes in the name slot the op puts under test; the
 * other name (if any) is harmless. A name without NUL is the last thing in
 * the request.
 */
static int send_named(enum nop op, uint64_t parent, const struct hname *h, uint64_t fnode)
{
	bool nul = h->len && h->bytes[h->len - 1] == 0;

	switch (op) {
	case N_LOOKUP:
		fenv_begin(&E, FUSE_LOOKUP, parent);
		break;
	case N_CREATE: {
		struct fuse_create_in in = { .flags = O_CREAT | O_RDWR, .mode = S_IFREG | 0644 };

		fenv_begin(&E, FUSE_CREATE, parent);
		fenv_put(&E, &in, sizeof(in));
		break;
	}
	case N_MKDIR: {
		struct fuse_mkdir_in in = { .mode = S_IFDIR | 0755 };

		fenv_begin(&E, FUSE_MKDIR, parent);
		fenv_put(&E, &in, sizeof(in));
		break;
	}
	case N_MKNOD: {
		struct fuse_mknod_in in = { .mode = S_IFREG | 0644 };

		fenv_begin(&E, FUSE_MKNOD, parent);
		fenv_put(&E, &in, sizeof(in));
		break;
	}
	case N_SYMLINK:
		fenv_begin(&E, FUSE_SYMLINK, parent);
		fenv_put(&E, h->bytes, h->len);
		if (nul)
			fenv_name(&E, "f");
		return fenv_send(&E, NULL);
	case N_LINK: {
		struct fuse_link_in in = { .oldnodeid = fnode };

		fenv_begin(&E, FUSE_LINK, parent);
		fenv_put(&E, &in, sizeof(in));
		break;
	}
	case N_RENAME_OLD:
	case N_RENAME_NEW: {
		struct fuse_rename_in in = { .newdir = parent };

		fenv_begin(&E, FUSE_RENAME, parent);
		fenv_put(&E, &in, sizeof(in));
		if (op == N_RENAME_OLD) {
			fenv_put(&E, h->bytes, h->len);
			if (nul)
				fenv_name(&E, "renamed");
			return fenv_send(&E, NULL);
		}
		fenv_name(&E, "f");
		break;
	}
	case N_UNLINK:
		fenv_begin(&E, FUSE_UNLINK, parent);
		break;
	case N_RMDIR:
		fenv_begin(&E, FUSE_RMDIR, parent);
		break;
	case N_COUNT:
		break;
	}
	fenv_put(&E, h->bytes, h->len);
	return fenv_send(&E, NULL);
}

/* "x\0y": the only acceptable change is an entry named x, y or renamed, or f's own line. */
static void check_lax(const char *before, const char *what)
{
	char *after = fenv_listing(E.share), *line, *save = NULL;

	for (line = strtok_r(after, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char l[PATH_MAX + 300];

		snprintf(l, sizeof(l), "%s\n", line);
		if (strstr(before, l) || !strncmp(line, "/x", 2) || !strncmp(line, "/y", 2) ||
		    !strncmp(line, "/renamed", 8) || !strncmp(line, "/f ", 3))
			continue;
		fail_msg("%s: unexpected entry %s", what, line);
	}
	free(after);
}

/* The hostile names every op gets (at most 12): the count. */
static unsigned int hostile_names(struct hname *names)
{
	unsigned int n = 0;

#define NAME(lbl, s, l)                                              \
	do {                                                         \
		names[n] = (struct hname){ .label = lbl, .len = l }; \
		memcpy(names[n].bytes, s, l);                        \
		n++;                                                 \
	} while (0)
	NAME("..", "..", 3);
	NAME(".", ".", 2);
	NAME("a/b", "d/inner", 8);
	NAME("../outside/secret", "../outside/secret", 18);
	NAME("/etc", "/etc", 5);
	names[n] = (struct hname){ .label = "absolute path into outside/" };
	names[n].len =
		(size_t)snprintf(names[n].bytes, sizeof(names[n].bytes), "%s/evil", E.outside) + 1;
	n++;
	NAME("x\\0y", "x\0y", 4);
	names[n - 1].lax = true;
	NAME("no NUL", "zz", 2);
	NAME("empty", "", 1);
	names[n] = (struct hname){ .label = "256 bytes", .len = 257 };
	memset(names[n].bytes, 'a', 256);
	n++;
#undef NAME
	return n;
}

static void name_attacks(enum nop op)
{
	struct hname names[12];
	unsigned int i, n = hostile_names(names);

	for (i = 0; i < n; i++) {
		const struct hname *h = &names[i];
		char what[128];
		uint64_t fnode, dnode;
		char *before;
		int rc;

		/* A fresh fixture for each name: one attack cannot hide another. */
		teardown(NULL);
		assert_int_equal(setup(NULL), 0);
		fnode = look("f");
		dnode = look("d");
		before = fenv_listing(E.share);
		snprintf(what, sizeof(what), "%s \"%s\"", nop_name[op], h->label);

		rc = send_named(op, ROOT, h, fnode);
		if (rc == FENV_BADREPLY || rc == FENV_NOREPLY)
			fail_msg("%s: bad reply (%d)", what, rc);
		if (h->lax) {
			if (rc == 0 && (op == N_UNLINK || op == N_RMDIR))
				fail_msg("%s: removed something", what);
			check_lax(before, what);
		} else {
			if (rc >= 0)
				fail_msg("%s: accepted (%d)", what, rc);
			assert_listing(before, what);
		}
		assert_outside();

		/* The same from a subdirectory: ".." there would be the share itself. */
		rc = send_named(op, dnode, h, fnode);
		if (!h->lax && rc >= 0)
			fail_msg("%s under d/: accepted (%d)", what, rc);
		if (!h->lax)
			assert_listing(before, what);
		assert_outside();
		assert_int_equal(fenv_type(fenv_path(&E, "f")) != 0 || h->lax, 1);
		free(before);
	}
}

static void test_names_lookup(void **state)
{
	struct fuse_entry_out eo;

	(void)state;
	name_attacks(N_LOOKUP);
	/* And the classic walk out: ".." from the root, then "outside". */
	assert_true(fenv_lookup(&E, ROOT, "..", &eo) < 0);
	assert_true(fenv_lookup(&E, look("d"), "..", &eo) < 0);
}

static void test_names_create(void **state)
{
	(void)state;
	name_attacks(N_CREATE);
}

static void test_names_mkdir(void **state)
{
	(void)state;
	name_attacks(N_MKDIR);
}

static void test_names_mknod(void **state)
{
	(void)state;
	name_attacks(N_MKNOD);
}

static void test_names_symlink(void **state)
{
	(void)state;
	name_attacks(N_SYMLINK);
}

static void test_names_link(void **state)
{
	(void)state;
	name_attacks(N_LINK);
}

static void test_names_rename(void **state)
{
	(void)state;
	name_attacks(N_RENAME_OLD);
	name_attacks(N_RENAME_NEW);
}

static void test_names_unlink_rmdir(void **state)
{
	(void)state;
	name_attacks(N_UNLINK);
	name_attacks(N_RMDIR);
}

/* 255 bytes is a valid name for every op (ext4 and tmpfs take it); 256 is refused. */
static void test_names_255(void **state)
{
	char n255[256], n256[257];
	struct fuse_entry_out eo;
	uint64_t fnode;

	(void)state;
	memset(n255, 'n', 255);
	n255[255] = 0;
	memset(n256, 'n', 256);
	n256[256] = 0;
	fnode = look("f");

	assert_int_equal(fenv_lookup(&E, ROOT, n255, &eo), -ENOENT);
	assert_int_equal(fenv_create(&E, ROOT, n255, 0644, O_RDWR, &eo, NULL), 0);
	assert_int_equal(fenv_type(fenv_path(&E, n255)), S_IFREG);
	assert_int_equal(fenv_unlink(&E, ROOT, n255), 0);
	assert_int_equal(fenv_type(fenv_path(&E, n255)), 0);
	assert_int_equal(fenv_mkdir(&E, ROOT, n255, 0755, &eo), 0);
	assert_int_equal(fenv_type(fenv_path(&E, n255)), S_IFDIR);
	assert_int_equal(fenv_rmdir(&E, ROOT, n255), 0);
	assert_int_equal(fenv_type(fenv_path(&E, n255)), 0);
	assert_int_equal(fenv_mknod(&E, ROOT, n255, S_IFREG | 0644, 0, &eo), 0);
	assert_int_equal(fenv_type(fenv_path(&E, n255)), S_IFREG);
	assert_int_equal(unlink(fenv_path(&E, n255)), 0);
	assert_int_equal(fenv_symlink(&E, ROOT, n255, "f", &eo), 0);
	assert_int_equal(fenv_type(fenv_path(&E, n255)), S_IFLNK);
	assert_int_equal(unlink(fenv_path(&E, n255)), 0);
	assert_int_equal(fenv_link(&E, fnode, ROOT, n255, &eo), 0);
	assert_int_equal(fenv_type(fenv_path(&E, n255)), S_IFREG);
	assert_int_equal(unlink(fenv_path(&E, n255)), 0);
	assert_int_equal(fenv_rename(&E, ROOT, "f", ROOT, n255), 0);
	assert_int_equal(fenv_type(fenv_path(&E, n255)), S_IFREG);
	assert_int_equal(fenv_rename(&E, ROOT, n255, ROOT, "f"), 0);
	assert_int_equal(fenv_type(fenv_path(&E, "f")), S_IFREG);

	/* 256 bytes: refused by every op, nothing on the host. */
	assert_true(fenv_lookup(&E, ROOT, n256, &eo) < 0);
	assert_true(fenv_create(&E, ROOT, n256, 0644, O_RDWR, &eo, NULL) < 0);
	assert_true(fenv_mkdir(&E, ROOT, n256, 0755, &eo) < 0);
	assert_true(fenv_symlink(&E, ROOT, n256, "f", &eo) < 0);
	assert_true(fenv_link(&E, fnode, ROOT, n256, &eo) < 0);
	assert_true(fenv_rename(&E, ROOT, "f", ROOT, n256) < 0);
	assert_int_equal(fenv_type(fenv_path(&E, "f")), S_IFREG);
	assert_outside();
}

/* ---- symlinks --------------------------------------------------------------- */

struct pstat {
	bool ok;
	struct stat st;
};

/* path NULL: nothing to compare (a target the test cannot name, e.g. whatever fd 0 is). */
static void snap(const char *path, struct pstat *p)
{
	p->ok = path && lstat(path, &p->st) == 0;
}

static void same(const char *path, const struct pstat *p, const char *what)
{
	struct stat st;

	if (!p->ok || !path)
		return;
	if (lstat(path, &st) || !fenv_stat_same(&st, &p->st))
		fail_msg("%s: %s changed (mode %o -> %o, size %lld -> %lld)", what, path,
			 (unsigned int)p->st.st_mode, (unsigned int)st.st_mode,
			 (long long)p->st.st_size, (long long)st.st_size);
}

static bool has_listxattr_name(uint64_t node, const char *name)
{
	struct fuse_getxattr_in in = { .size = 4096 };
	size_t off;

	fenv_begin(&E, FUSE_LISTXATTR, node);
	fenv_put(&E, &in, sizeof(in));
	if (fenv_send(&E, NULL))
		return false;
	for (off = 0; off < E.body_len;
	     off += strnlen((const char *)E.body + off, E.body_len - off) + 1)
		if (!strncmp((const char *)E.body + off, name, E.body_len - off))
			return true;
	return false;
}

/* A READDIR(PLUS) reply in E.body names something of outside/ or of the host's /. */
static bool foreign_dirent(bool plus)
{
	static const char *const foreign[] = { "secret", "passwd", "etc", "usr", "proc", "dir" };
	size_t off = 0, hdr = plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET;
	unsigned int i;

	while (E.body_len - off >= hdr) {
		const struct fuse_dirent *d =
			(const void *)(E.body + off + (plus ? sizeof(struct fuse_entry_out) : 0));

		for (i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++)
			if (d->namelen == strlen(foreign[i]) &&
			    !memcmp(d->name, foreign[i], d->namelen))
				return true;
		off += FUSE_DIRENT_ALIGN(hdr + d->namelen);
	}
	return false;
}

/*
 * Everything a guest can do to a symlink node ln whose target is the host
 * path real (resolved by the test; may be a directory): nothing may reach real.
 */
static void symlink_battery(const char *label, uint64_t ln, const char *text, const char *real)
{
	static const uint32_t oflags[] = {
		O_RDONLY,	    O_WRONLY,	       O_RDWR,
		O_WRONLY | O_TRUNC, O_RDWR | O_APPEND, O_RDONLY | O_DIRECTORY
	};
	struct pstat before_real, before_passwd;
	struct fuse_attr_out ao;
	struct fuse_entry_out eo;
	struct fuse_setattr_in sa;
	char buf[PATH_MAX], hl[64];
	uint64_t fh, dfh;
	unsigned int i;
	int rc;

	snap(real, &before_real);
	snap("/etc/passwd", &before_passwd);

	assert_int_equal(fenv_getattr(&E, ln, &ao), 0);
	if (!S_ISLNK(ao.attr.mode))
		fail_msg("%s: GETATTR says mode %o, not a symlink", label, ao.attr.mode);
	assert_int_equal(fenv_readlink(&E, ln, buf, sizeof(buf)), 0);
	if (strcmp(buf, text))
		fail_msg("%s: READLINK gave \"%s\", not \"%s\"", label, buf, text);

	for (i = 0; i < sizeof(oflags) / sizeof(oflags[0]); i++) {
		rc = fenv_open(&E, ln, oflags[i], &fh);
		if (rc == 0) {
			fenv_release(&E, FUSE_RELEASE, ln, fh);
			fail_msg("%s: OPEN flags %#o succeeded on a symlink", label, oflags[i]);
		}
	}
	rc = fenv_opendir(&E, ln, &fh);
	if (rc == 0)
		fail_msg("%s: OPENDIR succeeded on a symlink", label);

	/* SETATTR may change the link itself, never its target. */
	memset(&sa, 0, sizeof(sa));
	sa.valid = FATTR_MODE;
	sa.mode = S_IFLNK | 0777;
	fenv_setattr(&E, ln, &sa, &ao);
	sa.mode = 07777;
	fenv_setattr(&E, ln, &sa, &ao);
	same(real, &before_real, "SETATTR mode through a symlink");
	memset(&sa, 0, sizeof(sa));
	sa.valid = FATTR_SIZE;
	rc = fenv_setattr(&E, ln, &sa, &ao);
	if (rc == 0)
		fail_msg("%s: SETATTR size succeeded on a symlink", label);
	same(real, &before_real, "SETATTR size through a symlink");
	memset(&sa, 0, sizeof(sa));
	sa.valid = FATTR_ATIME | FATTR_MTIME;
	sa.atime = 12345;
	sa.mtime = 12345;
	fenv_setattr(&E, ln, &sa, &ao);
	sa.valid = FATTR_ATIME_NOW | FATTR_MTIME_NOW | FATTR_ATIME | FATTR_MTIME;
	fenv_setattr(&E, ln, &sa, &ao);
	same(real, &before_real, "SETATTR times through a symlink");
	memset(&sa, 0, sizeof(sa));
	sa.valid = FATTR_UID | FATTR_GID;
	sa.uid = 4321;
	sa.gid = 4321;
	fenv_setattr(&E, ln, &sa, &ao);
	same(real, &before_real, "SETATTR owner through a symlink");

	/* xattrs: neither written to nor read from the target. */
	fenv_setxattr(&E, ln, "user.evil", "x", 1, 0);
	fenv_setxattr(&E, ln, "trusted.evil", "x", 1, 0);
	fenv_setxattr(&E, ln, SECRET_XATTR, "overwritten", 11, 0);
	if (real && before_real.ok) {
		char v[64];

		if (lgetxattr(real, "user.evil", v, sizeof(v)) >= 0 ||
		    lgetxattr(real, "trusted.evil", v, sizeof(v)) >= 0)
			fail_msg("%s: SETXATTR through a symlink reached %s", label, real);
	}
	rc = fenv_getxattr(&E, ln, SECRET_XATTR, 256);
	if (rc == 0 && E.body_len >= strlen(SECRET_XVAL) &&
	    !memcmp(E.body, SECRET_XVAL, strlen(SECRET_XVAL)))
		fail_msg("%s: GETXATTR through a symlink read the target's xattr", label);
	if (has_listxattr_name(ln, SECRET_XATTR))
		fail_msg("%s: LISTXATTR through a symlink listed the target's xattr", label);
	fenv_begin(&E, FUSE_REMOVEXATTR, ln);
	fenv_name(&E, SECRET_XATTR);
	fenv_send(&E, NULL);
	same(real, &before_real, "xattrs through a symlink");

	/* The symlink as a parent directory. */
	if (fenv_lookup(&E, ln, "secret", &eo) == 0 || fenv_lookup(&E, ln, "passwd", &eo) == 0 ||
	    fenv_lookup(&E, ln, "etc", &eo) == 0)
		fail_msg("%s: LOOKUP under a symlink succeeded", label);
	if (fenv_create(&E, ln, "evil", 0644, O_RDWR, &eo, &fh) == 0 ||
	    fenv_mkdir(&E, ln, "evil_d", 0755, &eo) == 0 ||
	    fenv_mknod(&E, ln, "evil_n", S_IFREG | 0644, 0, &eo) == 0 ||
	    fenv_symlink(&E, ln, "evil_s", "/", &eo) == 0 ||
	    fenv_link(&E, look("f"), ln, "evil_l", &eo) == 0)
		fail_msg("%s: an entry was created under a symlink", label);
	if (fenv_rename(&E, home, "f", ln, "stolen") == 0)
		fail_msg("%s: RENAME into a symlink succeeded", label);
	assert_int_equal(fenv_type(fenv_path(&E, "f")), S_IFREG);
	if (fenv_unlink(&E, ln, "secret") == 0 || fenv_rmdir(&E, ln, "dir") == 0)
		fail_msg("%s: UNLINK/RMDIR under a symlink succeeded", label);

	/* READDIR naming the symlink but with its directory's handle: the handle decides. */
	assert_int_equal(fenv_opendir(&E, home, &dfh), 0);
	rc = fenv_readdir(&E, FUSE_READDIR, ln, dfh, 0, 4096);
	if (rc == 0 && foreign_dirent(false))
		fail_msg("%s: READDIR via a symlink listed its target", label);
	fenv_release(&E, FUSE_RELEASEDIR, home, dfh);
	rc = fenv_readdir(&E, FUSE_READDIRPLUS, ln, 0, 0, 4096);
	if (rc == 0 && foreign_dirent(true))
		fail_msg("%s: READDIRPLUS with a forged handle listed the target", label);

	/* LINK of the symlink: at most a second name for the link itself. */
	snprintf(hl, sizeof(hl), "hl_%llx", (unsigned long long)ln);
	if (fenv_link(&E, ln, home, hl, &eo) == 0 && fenv_type(fenv_path(&E, hl)) != S_IFLNK)
		fail_msg("%s: LINK of a symlink linked its target (%o)", label,
			 host_mode(fenv_path(&E, hl)));
	unlink(fenv_path(&E, hl));

	same(real, &before_real, label);
	same("/etc/passwd", &before_passwd, label);
	assert_outside();
}

static void host_symlinks(void)
{
	char abs_secret[PATH_MAX], abs_dir[PATH_MAX];

	snprintf(abs_secret, sizeof(abs_secret), "%s/secret", E.outside);
	snprintf(abs_dir, sizeof(abs_dir), "%s/dir", E.outside);
	assert_int_equal(symlink("/", fenv_path(&E, "l_root")), 0);
	assert_int_equal(symlink("../outside/secret", fenv_path(&E, "l_rel")), 0);
	assert_int_equal(symlink("../outside/dir", fenv_path(&E, "l_reldir")), 0);
	assert_int_equal(symlink("/etc/passwd", fenv_path(&E, "l_passwd")), 0);
	assert_int_equal(symlink(abs_secret, fenv_path(&E, "l_abs")), 0);
	assert_int_equal(symlink(abs_dir, fenv_path(&E, "l_absdir")), 0);
	assert_int_equal(symlink("f", fenv_path(&E, "l_in")), 0);
	/* A chain ca -> cb -> cc -> outside/secret. */
	assert_int_equal(symlink("cb", fenv_path(&E, "ca")), 0);
	assert_int_equal(symlink("cc", fenv_path(&E, "cb")), 0);
	assert_int_equal(symlink("../outside/secret", fenv_path(&E, "cc")), 0);
}

static void test_symlinks_host(void **state)
{
	char abs_secret[PATH_MAX], abs_dir[PATH_MAX];
	const char *sec, *dir;

	(void)state;
	host_symlinks();
	snprintf(abs_secret, sizeof(abs_secret), "%s/secret", E.outside);
	snprintf(abs_dir, sizeof(abs_dir), "%s/dir", E.outside);
	sec = abs_secret;
	dir = abs_dir;
	symlink_battery("host symlink to /", look("l_root"), "/", "/");
	symlink_battery("host ../outside/secret", look("l_rel"), "../outside/secret", sec);
	symlink_battery("host ../outside/dir", look("l_reldir"), "../outside/dir", dir);
	symlink_battery("host /etc/passwd", look("l_passwd"), "/etc/passwd", "/etc/passwd");
	symlink_battery("host absolute secret", look("l_abs"), abs_secret, sec);
	symlink_battery("host absolute dir", look("l_absdir"), abs_dir, dir);
	symlink_battery("host symlink inside the share", look("l_in"), "f", fenv_path(&E, "f"));
	symlink_battery("chain head", look("ca"), "cb", sec);
	symlink_battery("chain middle", look("cb"), "cc", sec);
	symlink_battery("chain tail", look("cc"), "../outside/secret", sec);
	assert_int_equal(fenv_type(fenv_path(&E, "f")), S_IFREG);
}

static void test_symlinks_guest(void **state)
{
	static const char *const targets[] = { "/",
					       "../outside/secret",
					       "../outside/dir",
					       "/etc/passwd",
					       "../../../../../../../etc/shadow",
					       "/proc/self/root",
					       "/proc/self/fd/0" };
	/* What each would reach if followed (NULL: cannot say, nothing compared). */
	const char *reals[] = { "/", NULL, NULL, "/etc/passwd", "/etc/shadow", "/", NULL };
	char abs_secret[PATH_MAX], name[32];
	struct fuse_entry_out eo;
	unsigned int i;

	(void)state;
	snprintf(abs_secret, sizeof(abs_secret), "%s/secret", E.outside);
	for (i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		snprintf(name, sizeof(name), "g%u", i);
		assert_int_equal(fenv_symlink(&E, ROOT, name, targets[i], &eo), 0);
		assert_true(S_ISLNK(eo.attr.mode));
		/* The host got exactly that symlink, verbatim, inside the share. */
		{
			char t[PATH_MAX];
			ssize_t n = readlink(fenv_path(&E, name), t, sizeof(t) - 1);

			assert_true(n >= 0);
			t[n] = 0;
			assert_string_equal(t, targets[i]);
		}
		reals[1] = abs_secret;
		reals[2] = fenv_opath(&E, "dir");
		symlink_battery(name, eo.nodeid, targets[i], reals[i]);
	}
	assert_int_equal(fenv_symlink(&E, ROOT, "gabs", abs_secret, &eo), 0);
	symlink_battery("guest absolute secret", eo.nodeid, abs_secret, abs_secret);
	/* A chain made by the guest. */
	assert_int_equal(fenv_symlink(&E, ROOT, "gc3", "../outside/secret", &eo), 0);
	assert_int_equal(fenv_symlink(&E, ROOT, "gc2", "gc3", &eo), 0);
	assert_int_equal(fenv_symlink(&E, ROOT, "gc1", "gc2", &eo), 0);
	symlink_battery("guest chain", eo.nodeid, "gc2", abs_secret);
	assert_outside();
}

/*
 * Magic links: /proc/self/... resolve to wherever the (test = server) process
 * has things open, including outside/secret itself (held open here on purpose).
 */
static void test_symlinks_magic(void **state)
{
	char fdlink[64], abs_secret[PATH_MAX];
	int fd;

	(void)state;
	snprintf(abs_secret, sizeof(abs_secret), "%s/secret", E.outside);
	fd = open(abs_secret, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	snprintf(fdlink, sizeof(fdlink), "/proc/self/fd/%d", fd);
	assert_int_equal(symlink("/proc/self/root", fenv_path(&E, "m_root")), 0);
	assert_int_equal(symlink("/proc/self/fd/0", fenv_path(&E, "m_fd0")), 0);
	assert_int_equal(symlink("/proc/self/cwd", fenv_path(&E, "m_cwd")), 0);
	assert_int_equal(symlink(fdlink, fenv_path(&E, "m_secret")), 0);
	assert_int_equal(symlink("/proc/self/root/etc/passwd", fenv_path(&E, "m_passwd")), 0);

	symlink_battery("magic /proc/self/root", look("m_root"), "/proc/self/root", "/");
	symlink_battery("magic /proc/self/fd/0", look("m_fd0"), "/proc/self/fd/0", NULL);
	symlink_battery("magic /proc/self/cwd", look("m_cwd"), "/proc/self/cwd", "/");
	symlink_battery("magic fd of the secret", look("m_secret"), fdlink, abs_secret);
	symlink_battery("magic root/etc/passwd", look("m_passwd"), "/proc/self/root/etc/passwd",
			"/etc/passwd");
	close(fd);
	assert_outside();
}

/* A directory the guest holds is swapped for a symlink to outside/ by the host. */
static void test_symlinks_swap(void **state)
{
	struct fuse_entry_out eo;
	uint64_t d, fh;

	(void)state;
	d = look("d");
	assert_int_equal(rename(fenv_path(&E, "d"), fenv_path(&E, "d_moved")), 0);
	assert_int_equal(symlink("../outside/dir", fenv_path(&E, "d")), 0);
	/* The held node is the moved directory (or stale), never outside/dir. */
	if (fenv_create(&E, d, "new", 0644, O_RDWR, &eo, &fh) == 0)
		assert_int_equal(fenv_type(fenv_path(&E, "d_moved/new")), S_IFREG);
	fenv_mkdir(&E, d, "newdir", 0755, &eo);
	assert_outside();
	/* A fresh LOOKUP sees the symlink. */
	assert_int_equal(fenv_lookup(&E, ROOT, "d", &eo), 0);
	assert_true(S_ISLNK(eo.attr.mode));
	assert_true(fenv_create(&E, eo.nodeid, "new2", 0644, O_RDWR, &eo, &fh) < 0);
	assert_outside();
}

/* ---- hard links ---------------------------------------------------------------- */

static void test_hardlinks(void **state)
{
	const uint64_t forged[] = { 0,		0xdeadbeefcafef00dULL,
				    UINT64_MAX, UINT64_MAX - 1,
				    1ULL << 32, (1ULL << 32) | 2,
				    1ULL << 40, 2,
				    3,		4,
				    5,		17,
				    100,	1000,
				    65535,	65536,
				    262143,	262144,
				    262145 };
	struct fuse_entry_out eo;
	char *before;
	uint64_t f, stale;
	unsigned int i;
	char buf[256];

	(void)state;
	f = look("f");
	/* A stale id: looked up once, forgotten once. */
	stale = look_in(look("d"), "inner");
	assert_int_equal(fenv_forget(&E, stale, 1), FENV_NOREPLY);
	before = fenv_listing(E.share);
	for (i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		if (forged[i] == f)
			continue;
		/* Unless the number happens to name a live node, LINK must fail. */
		if (fenv_getattr(&E, forged[i], NULL) == 0)
			continue;
		if (fenv_link(&E, forged[i], ROOT, "hl", &eo) == 0)
			fail_msg("LINK of forged node %#llx succeeded",
				 (unsigned long long)forged[i]);
		assert_listing(before, "LINK of a forged node");
	}
	assert_int_equal(fenv_link(&E, stale, ROOT, "hl", &eo), -ESTALE);
	assert_listing(before, "LINK of a stale node");
	/* LINK of a directory is refused as locally, of the root too. */
	assert_true(fenv_link(&E, ROOT, ROOT, "hl", &eo) < 0);
	assert_true(fenv_link(&E, look("d"), ROOT, "hl", &eo) < 0);
	assert_listing(before, "LINK of a directory");
	/* LINK into a forged or stale parent. */
	assert_true(fenv_link(&E, f, 0xdeadbeefcafef00dULL, "hl", &eo) < 0);
	assert_true(fenv_link(&E, f, stale, "hl", &eo) < 0);
	assert_listing(before, "LINK into a forged parent");
	free(before);
	assert_outside();

	/*
	 * A hard link the HOST made to outside/secret is the host's choice: it is
	 * just a file of the share (documented). The guest reads it like any file.
	 */
	assert_int_equal(link(fenv_opath(&E, "secret"), fenv_path(&E, "hsec")), 0);
	rebase_secret();
	{
		uint64_t h = look("hsec"), fh;

		assert_int_equal(fenv_open(&E, h, O_RDONLY, &fh), 0);
		assert_int_equal(fenv_read(&E, h, fh, 0, 4096), 0);
		snprintf(buf, sizeof(buf), "%.*s", (int)E.body_len, (const char *)E.body);
		assert_string_equal(buf, FENV_SECRET);
		fenv_release(&E, FUSE_RELEASE, h, fh);
	}
	assert_outside();
}

/* ---- rename out of the share -------------------------------------------------- */

/* RENAME with newdir (or the source dir) a forged, stale, or non-directory node id. */
static void test_rename_forged_dir(void **state)
{
	const uint64_t forged[] = {
		0, 0xdeadbeefcafef00dULL, UINT64_MAX, 1ULL << 32, 1ULL << 40, 7, 1000, 262145
	};
	uint64_t d, f, stale;
	char *before;
	unsigned int i;

	(void)state;
	d = look("d");
	f = look("f");
	stale = look_in(d, "inner");
	assert_int_equal(fenv_forget(&E, stale, 1), FENV_NOREPLY);
	before = fenv_listing(E.share);
	for (i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		if (fenv_getattr(&E, forged[i], NULL) == 0)
			continue;
		if (fenv_rename(&E, ROOT, "f", forged[i], "f2") == 0 ||
		    fenv_rename(&E, forged[i], "secret", ROOT, "stolen") == 0 ||
		    fenv_rename2(&E, ROOT, "f", forged[i], "f2", 0) == 0)
			fail_msg("RENAME with forged dir %#llx succeeded",
				 (unsigned long long)forged[i]);
		assert_listing(before, "RENAME with a forged directory");
		assert_outside();
	}
	assert_int_equal(fenv_rename(&E, ROOT, "f", stale, "f2"), -ESTALE);
	assert_true(fenv_rename(&E, ROOT, "f", f, "f2") < 0); /* newdir is a file */
	assert_listing(before, "RENAME into a stale directory or a file");
	free(before);
	assert_outside();
}

static void test_rename_dotdot_flags(void **state)
{
	struct fuse_entry_out eo;
	uint64_t d, fh;
	char *before;

	(void)state;
	d = look("d");
	before = fenv_listing(E.share);
	assert_true(fenv_rename(&E, d, "..", ROOT, "x") < 0);
	assert_true(fenv_rename(&E, ROOT, "..", ROOT, "x") < 0);
	assert_true(fenv_rename(&E, ROOT, "f", d, "..") < 0);
	assert_true(fenv_rename(&E, ROOT, "f", ROOT, "../outside/f") < 0);
	assert_true(fenv_rename(&E, ROOT, "d", ROOT, "../outside/dir/d") < 0);
	assert_true(fenv_rename2(&E, ROOT, "d", ROOT, "..", RENAME_EXCHANGE) < 0);
	assert_listing(before, "RENAME with '..'");
	/* RENAME2 with unknown flags: -EINVAL, nothing moves. */
	assert_int_equal(fenv_rename2(&E, ROOT, "f", ROOT, "f2", 1u << 3), -EINVAL);
	assert_int_equal(fenv_rename2(&E, ROOT, "f", ROOT, "f2", 1u << 31), -EINVAL);
	assert_int_equal(fenv_rename2(&E, ROOT, "f", ROOT, "f2", 0xffffffffu), -EINVAL);
	assert_int_equal(
		fenv_rename2(&E, ROOT, "f", ROOT, "f2", RENAME_EXCHANGE | RENAME_NOREPLACE),
		-EINVAL);
	assert_listing(before, "RENAME2 with bad flags");
	/* And the valid flags still work. */
	assert_int_equal(fenv_rename2(&E, ROOT, "f", ROOT, "d", RENAME_NOREPLACE), -EEXIST);
	assert_int_equal(fenv_rename2(&E, ROOT, "f", d, "f", RENAME_NOREPLACE), 0);
	assert_int_equal(fenv_type(fenv_path(&E, "d/f")), S_IFREG);
	/* A whiteout (a 0:0 char device the kernel makes) may be left; it never opens. */
	if (fenv_rename2(&E, d, "f", ROOT, "f", RENAME_WHITEOUT) == 0) {
		assert_int_equal(fenv_type(fenv_path(&E, "d/f")), S_IFCHR);
		assert_int_equal(fenv_lookup(&E, d, "f", &eo), 0);
		assert_true(fenv_open(&E, eo.nodeid, O_RDONLY, &fh) < 0);
		assert_true(fenv_open(&E, eo.nodeid, O_WRONLY, &fh) < 0);
	}
	free(before);
	assert_outside();
}

/* ---- special files -------------------------------------------------------------- */

static void *tsend_fn(void *p)
{
	int *rc = p;

	*rc = fenv_send(&E, NULL);
	return NULL;
}

/*
 * Send the request built in E from a thread: a server that opens a FIFO would
 * block; fail (after unblocking it) instead of hanging the suite.
 */
static int timed_send(const char *path, const char *what)
{
	struct timespec ts;
	pthread_t th;
	int rc = 0;

	assert_int_equal(pthread_create(&th, NULL, tsend_fn, &rc), 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	if (pthread_timedjoin_np(th, NULL, &ts)) {
		/* Be the FIFO's other end (reader and writer) so the server's open returns. */
		int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);

		pthread_join(th, NULL);
		if (fd >= 0)
			close(fd);
		fail_msg("%s of %s blocked: the server opened it", what, path);
	}
	return rc;
}

static int timed_open(uint64_t node, uint32_t flags, const char *path)
{
	struct fuse_open_in in = { .flags = flags };

	fenv_begin(&E, FUSE_OPEN, node);
	fenv_put(&E, &in, sizeof(in));
	return timed_send(path, "OPEN");
}

static void special_battery(const char *name, mode_t type)
{
	static const uint32_t oflags[] = { O_RDONLY, O_WRONLY, O_RDWR, O_RDONLY | O_NONBLOCK,
					   O_WRONLY | O_TRUNC };
	struct fuse_attr_out ao;
	struct fuse_setattr_in sa = { .valid = FATTR_SIZE, .size = 0 };
	struct fuse_entry_out eo;
	struct pstat before;
	uint64_t n, fh;
	unsigned int i;

	snap(fenv_path(&E, name), &before);
	assert_int_equal(fenv_lookup(&E, ROOT, name, &eo), 0);
	n = eo.nodeid;
	assert_int_equal(eo.attr.mode & S_IFMT, type);
	assert_int_equal(fenv_getattr(&E, n, &ao), 0);
	assert_int_equal(ao.attr.mode & S_IFMT, type);
	for (i = 0; i < sizeof(oflags) / sizeof(oflags[0]); i++) {
		int rc = timed_open(n, oflags[i], fenv_path(&E, name));

		if (rc == 0)
			fail_msg("%s: OPEN flags %#o succeeded", name, oflags[i]);
	}
	if (fenv_opendir(&E, n, &fh) == 0)
		fail_msg("%s: OPENDIR succeeded", name);
	if (fenv_setattr(&E, n, &sa, &ao) == 0)
		fail_msg("%s: SETATTR size succeeded", name);
	/* CREATE with the same name must not open the existing node either (O_CREAT without
	 * O_EXCL). */
	{
		struct fuse_create_in in = { .flags = O_CREAT | O_RDWR, .mode = S_IFREG | 0644 };

		fenv_begin(&E, FUSE_CREATE, ROOT);
		fenv_put(&E, &in, sizeof(in));
		fenv_name(&E, name);
		if (timed_send(fenv_path(&E, name), "CREATE") == 0)
			fail_msg("%s: CREATE over it succeeded", name);
	}
	same(fenv_path(&E, name), &before, name);
	assert_int_equal(fenv_type(fenv_path(&E, name)), type);
}

static void test_special_files(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct fuse_entry_out eo;
	int sfd, rc;

	(void)state;
	need_root("a device node in the share");
	assert_int_equal(mkfifo(fenv_path(&E, "fifo"), 0666), 0);
	sfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(sfd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", fenv_path(&E, "sock"));
	assert_true(strlen(fenv_path(&E, "sock")) < sizeof(sun.sun_path));
	assert_int_equal(bind(sfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(sfd, 1), 0);
	assert_int_equal(mknod(fenv_path(&E, "null"), S_IFCHR | 0666, makedev(1, 3)), 0);

	special_battery("fifo", S_IFIFO);
	special_battery("sock", S_IFSOCK);
	special_battery("null", S_IFCHR);

	/* Guest MKNOD: device nodes refused (nothing created), FIFOs made. */
	rc = fenv_mknod(&E, ROOT, "gchr", S_IFCHR | 0666, makedev(1, 3), &eo);
	assert_true(rc < 0);
	assert_int_equal(fenv_type(fenv_path(&E, "gchr")), 0);
	rc = fenv_mknod(&E, ROOT, "gchr2", S_IFCHR | 0666, makedev(1, 1), &eo); /* /dev/mem */
	assert_true(rc < 0);
	assert_int_equal(fenv_type(fenv_path(&E, "gchr2")), 0);
	rc = fenv_mknod(&E, ROOT, "gblk", S_IFBLK | 0666, makedev(7, 0), &eo);
	assert_true(rc < 0);
	assert_int_equal(fenv_type(fenv_path(&E, "gblk")), 0);
	/* A mode with no type bits, and an impossible type, are not device nodes either. */
	rc = fenv_mknod(&E, ROOT, "gbad", 0170000 | 0666, makedev(1, 3), &eo);
	assert_true(rc < 0);
	assert_int_equal(fenv_type(fenv_path(&E, "gbad")), 0);
	assert_int_equal(fenv_mknod(&E, ROOT, "gfifo", S_IFIFO | 0644, 0, &eo), 0);
	assert_int_equal(fenv_type(fenv_path(&E, "gfifo")), S_IFIFO);
	special_battery("gfifo", S_IFIFO);
	close(sfd);
	assert_outside();
}

/* ---- FORGET ---------------------------------------------------------------------- */

static void assert_inodes(unsigned int want)
{
	struct fsrv_stats st;

	fsrv_stats(E.s, &st);
	if (st.inodes != want)
		fail_msg("fsrv_stats: %u inodes, expected %u", st.inodes, want);
}

static void test_forget(void **state)
{
	struct fuse_forget_one ents[4];
	struct fuse_entry_out eo;
	uint64_t f, d, inner;

	(void)state;
	assert_inodes(1);
	f = look("f");
	assert_int_equal(fenv_lookup(&E, ROOT, "f", &eo), 0);
	assert_int_equal(eo.nodeid, f); /* one node per host inode, two lookups on it */

	/* Two lookups, one forget: still there; the second forget drops it. */
	assert_int_equal(fenv_forget(&E, f, 1), FENV_NOREPLY);
	assert_int_equal(fenv_getattr(&E, f, NULL), 0);
	assert_int_equal(fenv_forget(&E, f, 1), FENV_NOREPLY);
	assert_int_equal(fenv_getattr(&E, f, NULL), -ESTALE);
	/* Double (and triple) FORGET of a dropped node. */
	assert_int_equal(fenv_forget(&E, f, 1), FENV_NOREPLY);
	assert_int_equal(fenv_forget(&E, f, UINT64_MAX), FENV_NOREPLY);
	assert_int_equal(fenv_getattr(&E, f, NULL), -ESTALE);
	assert_int_equal(fenv_lookup(&E, f, "x", &eo), -ESTALE);
	assert_inodes(1);

	/* A huge count on a live node drops it once, not "negative". */
	d = look("d");
	inner = look_in(d, "inner");
	assert_int_equal(fenv_forget(&E, d, UINT64_MAX), FENV_NOREPLY);
	/* inner keeps working without its parent's node (which may live on for it). */
	assert_int_equal(fenv_getattr(&E, inner, NULL), 0);
	assert_int_equal(fenv_forget(&E, inner, 0),
			 FENV_NOREPLY); /* a zero count changes nothing */
	assert_int_equal(fenv_getattr(&E, inner, NULL), 0);
	assert_int_equal(fenv_forget(&E, inner, 1), FENV_NOREPLY);
	assert_int_equal(fenv_getattr(&E, inner, NULL), -ESTALE);
	assert_inodes(1);

	/* The root cannot be forgotten. */
	assert_int_equal(fenv_forget(&E, ROOT, 1), FENV_NOREPLY);
	assert_int_equal(fenv_forget(&E, ROOT, UINT64_MAX), FENV_NOREPLY);
	assert_int_equal(fenv_getattr(&E, ROOT, NULL), 0);
	assert_int_equal(fenv_lookup(&E, ROOT, "f", &eo), 0);
	assert_int_equal(fenv_forget(&E, eo.nodeid, 1), FENV_NOREPLY);

	/* Forged ids. */
	assert_int_equal(fenv_forget(&E, 0, 1), FENV_NOREPLY);
	assert_int_equal(fenv_forget(&E, 0xdeadbeefcafef00dULL, 1), FENV_NOREPLY);
	assert_int_equal(fenv_forget(&E, UINT64_MAX, UINT64_MAX), FENV_NOREPLY);
	assert_int_equal(fenv_forget(&E, 1ULL << 32 | 1, 1), FENV_NOREPLY); /* root's index? */
	assert_int_equal(fenv_getattr(&E, ROOT, NULL), 0);
	assert_inodes(1);

	/* BATCH_FORGET: count larger than the entries present, repeated ids, forged ids. */
	f = look("f");
	d = look("d");
	ents[0] = (struct fuse_forget_one){ f, 1 };
	ents[1] = (struct fuse_forget_one){ f, 1 };
	ents[2] = (struct fuse_forget_one){ 0xdeadbeefULL, 5 };
	ents[3] = (struct fuse_forget_one){ ROOT, UINT64_MAX };
	assert_int_equal(fenv_batch_forget(&E, 1000, ents, 4), FENV_NOREPLY);
	assert_int_equal(fenv_batch_forget(&E, UINT32_MAX, ents, 4), FENV_NOREPLY);
	assert_int_equal(fenv_batch_forget(&E, 3, ents, 0), FENV_NOREPLY);
	assert_int_equal(fenv_getattr(&E, ROOT, NULL), 0);
	/* A truncated entry (half of one) must not be read past the request. */
	fenv_begin(&E, FUSE_BATCH_FORGET, 0);
	{
		struct fuse_batch_forget_in in = { .count = 1 };

		fenv_put(&E, &in, sizeof(in));
		fenv_put(&E, &ents[0], 8);
	}
	assert_int_equal(fenv_send(&E, NULL), FENV_NOREPLY);
	/* Whatever the server made of those, a proper forget of what is left ends at 1. */
	ents[0] = (struct fuse_forget_one){ f, UINT64_MAX };
	ents[1] = (struct fuse_forget_one){ d, UINT64_MAX };
	assert_int_equal(fenv_batch_forget(&E, 2, ents, 2), FENV_NOREPLY);
	assert_int_equal(fenv_getattr(&E, f, NULL), -ESTALE);
	assert_int_equal(fenv_getattr(&E, d, NULL), -ESTALE);
	assert_inodes(1);

	/* A forgotten id whose slot was reused must still be stale (generation). */
	f = look("f");
	assert_int_equal(fenv_forget(&E, f, 1), FENV_NOREPLY);
	d = look("d");
	if (d == f)
		fail_msg("a reused slot gave the same node id %#llx", (unsigned long long)f);
	assert_int_equal(fenv_getattr(&E, f, NULL), -ESTALE);
	assert_int_equal(fenv_forget(&E, f, 1), FENV_NOREPLY);
	assert_int_equal(fenv_getattr(&E, d, NULL), 0);
	assert_int_equal(fenv_forget(&E, d, 1), FENV_NOREPLY);
	assert_inodes(1);
}

/* ---- bounds -------------------------------------------------------------------------- */

static void test_bounds_inodes(void **state)
{
	struct fuse_entry_out eo;
	uint64_t ids[32];
	char name[16];
	unsigned int i, ok = 0;
	int rc;

	(void)state;
	for (i = 0; i < 24; i++) {
		snprintf(name, sizeof(name), "n%02u", i);
		assert_int_equal(fenv_write_host(fenv_path(&E, name), "x", 0644), 0);
	}
	assert_int_equal(fenv_start(&E, false, VFS_CACHE_AUTO, 16, 4), 0);
	for (i = 0; i < 24; i++) {
		snprintf(name, sizeof(name), "n%02u", i);
		rc = fenv_lookup(&E, ROOT, name, &eo);
		if (rc == 0) {
			if (i != ok)
				fail_msg("LOOKUP %s succeeded after an -ENFILE", name);
			ids[ok++] = eo.nodeid;
		} else {
			assert_int_equal(rc, -ENFILE);
		}
	}
	if (ok != 15)
		fail_msg("max_inodes 16: %u lookups succeeded, expected 15 (16 with the root)", ok);
	assert_inodes(16);
	/* Creating is bounded too: nothing may be left behind on the host after -ENFILE. */
	rc = fenv_create(&E, ROOT, "c_full", 0644, O_RDWR, &eo, NULL);
	assert_int_equal(rc, -ENFILE);
	if (fenv_type(fenv_path(&E, "c_full")))
		fail_msg("CREATE failed with -ENFILE but left c_full on the host");
	rc = fenv_mkdir(&E, ROOT, "m_full", 0755, &eo);
	assert_int_equal(rc, -ENFILE);
	if (fenv_type(fenv_path(&E, "m_full")))
		fail_msg("MKDIR failed with -ENFILE but left m_full on the host");
	/* READDIRPLUS must not overflow the table either. */
	{
		uint64_t dfh;
		struct fsrv_stats st;

		assert_int_equal(fenv_opendir(&E, ROOT, &dfh), 0);
		rc = fenv_readdir(&E, FUSE_READDIRPLUS, ROOT, dfh, 0, 65536);
		assert_true(rc <= 0);
		fsrv_stats(E.s, &st);
		assert_true(st.inodes <= 16);
		fenv_release(&E, FUSE_RELEASEDIR, ROOT, dfh);
	}
	/* After a FORGET, lookups work again. */
	assert_int_equal(fenv_forget(&E, ids[0], 1), FENV_NOREPLY);
	assert_int_equal(fenv_lookup(&E, ROOT, "n20", &eo), 0);
	assert_int_equal(fenv_lookup(&E, ROOT, "n21", &eo), -ENFILE);
	assert_inodes(16);
}

static void test_bounds_handles(void **state)
{
	uint64_t fh[8], f, dfh;
	unsigned int i;

	(void)state;
	assert_int_equal(fenv_start(&E, false, VFS_CACHE_AUTO, 0, 4), 0);
	f = look("f");
	for (i = 0; i < 4; i++)
		assert_int_equal(fenv_open(&E, f, O_RDONLY, &fh[i]), 0);
	assert_int_equal(fenv_open(&E, f, O_RDONLY, &fh[4]), -ENFILE);
	assert_int_equal(fenv_opendir(&E, ROOT, &dfh), -ENFILE);
	assert_int_equal(fenv_create(&E, ROOT, "c_full", 0644, O_RDWR, NULL, &fh[5]), -ENFILE);
	if (fenv_type(fenv_path(&E, "c_full")))
		fail_msg("CREATE failed with -ENFILE but left c_full on the host");
	assert_int_equal(fenv_release(&E, FUSE_RELEASE, f, fh[0]), 0);
	/* Released twice: the second is a stale handle, and does not free another slot. */
	assert_int_equal(fenv_release(&E, FUSE_RELEASE, f, fh[0]), -EBADF);
	assert_int_equal(fenv_opendir(&E, ROOT, &dfh), 0);
	assert_int_equal(fenv_open(&E, f, O_RDONLY, &fh[4]), -ENFILE);
	assert_int_equal(fenv_read(&E, f, fh[0], 0, 10), -EBADF);
	assert_int_equal(fenv_release(&E, FUSE_RELEASEDIR, ROOT, dfh), 0);
	for (i = 1; i < 4; i++)
		assert_int_equal(fenv_release(&E, FUSE_RELEASE, f, fh[i]), 0);
	{
		struct fsrv_stats st;

		fsrv_stats(E.s, &st);
		assert_int_equal(st.handles, 0);
	}
}

/* ---- READDIR / READ / WRITE sizes --------------------------------------------- */

/* Every record is whole and inside the body; names are single components; no outside names. */
static void check_dirents(bool plus, const char *what)
{
	size_t off = 0, hdr = plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET;

	while (off < E.body_len) {
		const struct fuse_dirent *d;
		char name[300];
		size_t rec;

		if (E.body_len - off < hdr)
			fail_msg("%s: partial record header at %zu of %zu", what, off, E.body_len);
		d = (const void *)(E.body + off + (plus ? sizeof(struct fuse_entry_out) : 0));
		if (d->namelen == 0 || d->namelen > FSRV_NAME_MAX)
			fail_msg("%s: namelen %u", what, d->namelen);
		rec = FUSE_DIRENT_ALIGN(hdr + d->namelen);
		if (rec > E.body_len - off)
			fail_msg("%s: record of %zu bytes at %zu past %zu", what, rec, off,
				 E.body_len);
		memcpy(name, d->name, d->namelen);
		name[d->namelen] = 0;
		if (memchr(d->name, '/', d->namelen) || memchr(d->name, 0, d->namelen) ||
		    !strcmp(name, "secret") || !strcmp(name, "outside"))
			fail_msg("%s: entry \"%s\"", what, name);
		off += rec;
	}
}

static void test_readdir_sizes(void **state)
{
	static const uint32_t sizes[] = { 0,	     1,	 8,  23,   24,	     25,
					  31,	     32, 33, 4096, 1u << 20, (1u << 20) + 1,
					  UINT32_MAX };
	static const uint32_t ops[] = { FUSE_READDIR, FUSE_READDIRPLUS };
	uint64_t dfh;
	unsigned int i, j;
	int rc;

	(void)state;
	assert_int_equal(fenv_opendir(&E, ROOT, &dfh), 0);
	for (j = 0; j < 2; j++) {
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			rc = fenv_readdir(&E, ops[j], ROOT, dfh, 0, sizes[i]);
			if (rc > 0)
				fail_msg("READDIR%s size %u: bad reply %d", j ? "PLUS" : "",
					 sizes[i], rc);
			if (rc == 0 && E.body_len > sizes[i])
				fail_msg("READDIR size %u: %zu bytes", sizes[i], E.body_len);
			if (rc == 0)
				check_dirents(j, "READDIR");
			/* A size smaller than one record: no record. */
			if (rc == 0 && sizes[i] < 32)
				assert_int_equal(E.body_len, 0);
		}
		/* The out part smaller than the size asked: the reply fits the out part. */
		for (i = 16; i < 200; i += 7) {
			struct fenv_split sp = { .out_size = i };
			struct fuse_read_in in = { .fh = dfh, .size = 4096 };

			fenv_begin(&E, ops[j], ROOT);
			fenv_put(&E, &in, sizeof(in));
			rc = fenv_send(&E, &sp);
			if (rc > 0)
				fail_msg("READDIR out %u: bad reply %d", i, rc);
			if (rc == 0)
				check_dirents(j, "READDIR small out");
		}
		/* Offsets: huge, past the end. */
		rc = fenv_readdir(&E, ops[j], ROOT, dfh, UINT64_MAX, 4096);
		assert_true(rc <= 0);
		rc = fenv_readdir(&E, ops[j], ROOT, dfh, 1ULL << 62, 4096);
		assert_true(rc <= 0);
		rc = fenv_readdir(&E, ops[j], ROOT, dfh, 0, 4096);
		assert_int_equal(rc, 0);
		check_dirents(j, "READDIR");
	}
	assert_int_equal(fenv_release(&E, FUSE_RELEASEDIR, ROOT, dfh), 0);
	assert_outside();
}

static void test_read_write_sizes(void **state)
{
	struct stat st;
	uint64_t f, fh;
	uint8_t *big;
	uint32_t w;
	int rc;
	char buf[64];

	(void)state;
	f = look("f");
	assert_int_equal(fenv_open(&E, f, O_RDWR, &fh), 0);
	/* READ larger than max_read: an error or a capped read, never past the out part. */
	rc = fenv_read(&E, f, fh, 0, FSRV_MAX_WRITE + 1);
	assert_true(rc <= 0);
	rc = fenv_read(&E, f, fh, 0, UINT32_MAX);
	assert_true(rc <= 0);
	{
		struct fenv_split sp = { .out_size = 20 };
		struct fuse_read_in in = { .fh = fh, .size = 4096 };

		fenv_begin(&E, FUSE_READ, f);
		fenv_put(&E, &in, sizeof(in));
		rc = fenv_send(&E, &sp);
		assert_true(rc <= 0);
		assert_true(E.body_len <= 4);
	}
	rc = fenv_read(&E, f, fh, UINT64_MAX, 4096);
	assert_true(rc <= 0);
	rc = fenv_read(&E, f, fh, (1ULL << 63) + 5, 4096);
	assert_true(rc <= 0);

	/* WRITE larger than max_write: refused, the file unchanged. */
	big = malloc(FSRV_MAX_WRITE + 4096);
	assert_non_null(big);
	memset(big, 'B', FSRV_MAX_WRITE + 4096);
	rc = fenv_write(&E, f, fh, 0, big, FSRV_MAX_WRITE + 4096, 0, &w);
	assert_true(rc < 0);
	assert_int_equal(fenv_read_host(fenv_path(&E, "f"), buf, sizeof(buf)), strlen(F_TEXT));
	assert_string_equal(buf, F_TEXT);
	/* Exactly max_write is fine. */
	assert_int_equal(fenv_write(&E, f, fh, 0, big, FSRV_MAX_WRITE, 0, &w), 0);
	assert_int_equal(w, FSRV_MAX_WRITE);
	assert_int_equal(stat(fenv_path(&E, "f"), &st), 0);
	assert_int_equal(st.st_size, FSRV_MAX_WRITE);
	free(big);
	assert_int_equal(truncate(fenv_path(&E, "f"), 0), 0);

	/* The size field claims more than the payload present: refused, nothing written. */
	{
		struct fuse_write_in in = { .fh = fh, .offset = 0, .size = 4096 };

		fenv_begin(&E, FUSE_WRITE, f);
		fenv_put(&E, &in, sizeof(in));
		fenv_put(&E, "0123456789", 10);
		rc = fenv_send(&E, NULL);
		assert_true(rc < 0);
		assert_int_equal(stat(fenv_path(&E, "f"), &st), 0);
		assert_int_equal(st.st_size, 0);
		/* ... or the payload is longer than the size field: at most size bytes land. */
		in.size = 4;
		fenv_begin(&E, FUSE_WRITE, f);
		fenv_put(&E, &in, sizeof(in));
		fenv_put(&E, "0123456789", 10);
		rc = fenv_send(&E, NULL);
		assert_true(rc <= 0);
		assert_int_equal(stat(fenv_path(&E, "f"), &st), 0);
		if (rc == 0) {
			assert_int_equal(st.st_size, 4);
			assert_int_equal(fenv_read_host(fenv_path(&E, "f"), buf, sizeof(buf)), 4);
			assert_string_equal(buf, "0123");
		} else {
			assert_int_equal(st.st_size, 0);
		}
		/* A write body shorter than fuse_write_in. */
		fenv_begin(&E, FUSE_WRITE, f);
		fenv_put(&E, &in, 20);
		assert_true(fenv_send(&E, NULL) < 0);
		/* An offset that wraps. */
		in.size = 10;
		in.offset = UINT64_MAX - 3;
		fenv_begin(&E, FUSE_WRITE, f);
		fenv_put(&E, &in, sizeof(in));
		fenv_put(&E, "0123456789", 10);
		assert_true(fenv_send(&E, NULL) < 0);
	}
	assert_int_equal(fenv_release(&E, FUSE_RELEASE, f, fh), 0);
	assert_outside();
}

/* ---- headers ---------------------------------------------------------------------- */

static void test_headers(void **state)
{
	struct fuse_entry_out eo;
	uint64_t f, fh, dfh, d;
	size_t i;
	int rc;

	(void)state;
	/* 0..39 bytes of header: no reply. */
	for (i = 0; i < sizeof(struct fuse_in_header); i++) {
		fenv_begin(&E, FUSE_GETATTR, ROOT);
		E.req_len = i;
		if (fenv_send(&E, NULL) != FENV_NOREPLY)
			fail_msg("a %zu-byte header got a reply", i);
	}
	/* in.len disagreeing with the readable bytes: no reply. */
	{
		static const uint32_t lens[] = { 0, 1, 39, 40, 41, 42, 43, 100, 4096, UINT32_MAX };

		for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			fenv_begin(&E, FUSE_LOOKUP, ROOT);
			fenv_name(&E, "f");
			if (lens[i] == E.req_len)
				continue;
			fenv_hdr(&E)->len = lens[i];
			rc = fenv_send(&E, NULL);
			if (rc != FENV_NOREPLY)
				fail_msg("in.len %u for %zu bytes got a reply (%d)", lens[i],
					 E.req_len, rc);
		}
	}
	/* Unknown opcodes: -ENOSYS. */
	{
		static const uint32_t ops[] = { 0,
						7,
						19,
						FUSE_BMAP,
						FUSE_IOCTL,
						FUSE_POLL,
						FUSE_SETUPMAPPING,
						FUSE_REMOVEMAPPING,
						52,
						999,
						CUSE_INIT,
						FUSE_INIT_BSWAP_RESERVED,
						UINT32_MAX };

		for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
			uint8_t body[64] = { 0 };

			rc = raw_call(ops[i], ROOT, body, sizeof(body));
			if (rc != -ENOSYS)
				fail_msg("opcode %u: %d, expected -ENOSYS", ops[i], rc);
		}
	}
	/* Out part of 0..15 bytes: no reply, no write past it (ASan watches the pieces). */
	for (i = 0; i < sizeof(struct fuse_out_header); i++) {
		struct fenv_split sp = { .out_size = i ? i : (size_t)-1 };

		fenv_begin(&E, FUSE_LOOKUP, ROOT);
		fenv_name(&E, "f");
		if (fenv_send(&E, &sp) != FENV_NOREPLY)
			fail_msg("an out part of %zu bytes got a reply", i);
	}
	/* A success reply that does not fit the out part: an error reply instead. */
	{
		struct fenv_split sp = { .out_size = 16 + 10 };

		fenv_begin(&E, FUSE_LOOKUP, ROOT);
		fenv_name(&E, "f");
		rc = fenv_send(&E, &sp);
		assert_true(rc < 0);
	}
	/* Header and body split across 1-byte iovecs, reply too: works. */
	{
		struct fenv_split sp = { .in_bytes = true, .out_bytes = true, .out_size = 4096 };
		struct fuse_entry_out a, b;

		assert_int_equal(fenv_lookup(&E, ROOT, "f", &a), 0);
		fenv_begin(&E, FUSE_LOOKUP, ROOT);
		fenv_name(&E, "f");
		assert_int_equal(fenv_send(&E, &sp), 0);
		assert_true(E.body_len >= sizeof(b));
		memcpy(&b, E.body, sizeof(b));
		assert_int_equal(a.nodeid, b.nodeid);
		assert_int_equal(a.attr.ino, b.attr.ino);
		fenv_forget(&E, a.nodeid, 2);
	}
	/* Cuts inside the header, the body, and the name. */
	{
		static const size_t cuts[] = { 3, 8, 16, 39, 40, 44, 47 };
		static const size_t ocuts[] = { 5, 15, 17, 64 };
		struct fenv_split sp = {
			.in_cuts = cuts, .nin_cuts = 7, .out_cuts = ocuts, .nout_cuts = 4
		};
		struct fuse_mkdir_in in = { .mode = S_IFDIR | 0755 };

		fenv_begin(&E, FUSE_MKDIR, ROOT);
		fenv_put(&E, &in, sizeof(in));
		fenv_name(&E, "splitdir");
		assert_int_equal(fenv_send(&E, &sp), 0);
		assert_int_equal(fenv_type(fenv_path(&E, "splitdir")), S_IFDIR);
	}
	/* A WRITE with its payload in 1-byte iovecs. */
	{
		struct fenv_split sp = { .in_bytes = true };
		struct fuse_write_in in = { .size = 5 };
		char buf[16];

		f = look("f");
		assert_int_equal(fenv_open(&E, f, O_RDWR, &fh), 0);
		in.fh = fh;
		fenv_begin(&E, FUSE_WRITE, f);
		fenv_put(&E, &in, sizeof(in));
		fenv_put(&E, "HELLO", 5);
		assert_int_equal(fenv_send(&E, &sp), 0);
		assert_int_equal(fenv_read_host(fenv_path(&E, "f"), buf, sizeof(buf)), 6);
		assert_string_equal(buf, "HELLO\n");
	}
	/* nodeid 0, and a body too short for the opcode. */
	assert_true(fenv_getattr(&E, 0, NULL) < 0);
	assert_true(fenv_lookup(&E, 0, "f", &eo) < 0);
	assert_true(fenv_mkdir(&E, 0, "x", 0755, &eo) < 0);
	assert_int_equal(fenv_type(fenv_path(&E, "x")), 0);
	{
		uint8_t z[4] = { 0 };

		assert_true(raw_call(FUSE_SETATTR, f, z, sizeof(z)) < 0);
		assert_true(raw_call(FUSE_OPEN, f, z, 0) < 0);
		assert_true(raw_call(FUSE_READ, f, z, sizeof(z)) < 0);
		assert_true(raw_call(FUSE_MKDIR, ROOT, z, sizeof(z)) < 0);
		assert_true(raw_call(FUSE_RENAME, ROOT, z, sizeof(z)) < 0);
		assert_true(raw_call(FUSE_INTERRUPT, ROOT, z, sizeof(z)) == FENV_NOREPLY);
	}
	/* The id spaces do not mix: a handle as node id, a node id as handle. */
	d = look("d");
	assert_int_equal(fenv_opendir(&E, d, &dfh), 0);
	if (d != fh && d != dfh)
		assert_int_equal(fenv_read(&E, f, d, 0, 10), -EBADF);
	if (dfh != fh) {
		/* A directory handle used for READ/WRITE, a file handle for READDIR. */
		assert_true(fenv_read(&E, f, dfh, 0, 10) < 0);
		assert_true(fenv_write(&E, f, dfh, 0, "evil", 4, 0, NULL) < 0);
		assert_true(fenv_readdir(&E, FUSE_READDIR, d, fh, 0, 4096) < 0);
		assert_int_equal(fenv_type(fenv_path(&E, "d/inner")), S_IFREG);
	}
	assert_int_equal(fenv_release(&E, FUSE_RELEASE, f, fh), 0);
	assert_int_equal(fenv_release(&E, FUSE_RELEASEDIR, d, dfh), 0);
	assert_outside();
}

static void test_before_init(void **state)
{
	struct fuse_entry_out eo;

	(void)state;
	assert_int_equal(fenv_start_noinit(&E, false, VFS_CACHE_AUTO, 0, 0), 0);
	assert_int_equal(fenv_lookup(&E, ROOT, "f", &eo), -EIO);
	assert_int_equal(fenv_mkdir(&E, ROOT, "pre", 0755, &eo), -EIO);
	assert_int_equal(fenv_type(fenv_path(&E, "pre")), 0);
	assert_int_equal(fenv_getattr(&E, ROOT, NULL), -EIO);
	/* An INIT of a major version we do not speak, then a good one. */
	{
		struct fuse_init_in in = { .major = 99, .minor = 0 };

		raw_call(FUSE_INIT, 0, &in, sizeof(in));
		assert_int_equal(fenv_lookup(&E, ROOT, "f", &eo), -EIO);
	}
	assert_int_equal(fenv_init(&E), 0);
	assert_int_equal(E.init_out.major, FUSE_KERNEL_VERSION);
	assert_true(E.init_out.max_write >= (1u << 20));
	assert_int_equal(fenv_lookup(&E, ROOT, "f", &eo), 0);
	/* fsrv_reset: back to needing INIT, only the root left. */
	fsrv_reset(E.s);
	assert_inodes(1);
	assert_int_equal(fenv_getattr(&E, eo.nodeid, NULL), -EIO);
	assert_int_equal(fenv_init(&E), 0);
	assert_int_equal(fenv_getattr(&E, eo.nodeid, NULL), -ESTALE);
}

/* ---- read-only share ------------------------------------------------------------- */

static void test_ro(void **state)
{
	struct fuse_setattr_in sa;
	struct fuse_entry_out eo;
	char *before;
	uint64_t f, d, fh, dfh;
	int rc;

	(void)state;
	assert_int_equal(symlink("f", fenv_path(&E, "lnk")), 0);
	assert_int_equal(setxattr(fenv_path(&E, "f"), "user.k", "v", 1, 0), 0);
	assert_int_equal(fenv_start(&E, true, VFS_CACHE_AUTO, 0, 0), 0);
	before = fenv_listing(E.root);
	f = look("f");
	d = look("d");

#define RO(expr)                                                                 \
	do {                                                                     \
		rc = (expr);                                                     \
		if (rc != -EROFS)                                                \
			fail_msg("ro share: %s gave %d, not -EROFS", #expr, rc); \
	} while (0)
	memset(&sa, 0, sizeof(sa));
	sa.valid = FATTR_MODE;
	sa.mode = 0777;
	RO(fenv_setattr(&E, f, &sa, NULL));
	sa.valid = FATTR_SIZE;
	RO(fenv_setattr(&E, f, &sa, NULL));
	sa.valid = FATTR_MTIME | FATTR_ATIME;
	RO(fenv_setattr(&E, f, &sa, NULL));
	sa.valid = FATTR_UID;
	sa.uid = 1;
	RO(fenv_setattr(&E, f, &sa, NULL));
	RO(fenv_create(&E, ROOT, "c", 0644, O_RDWR, &eo, &fh));
	RO(fenv_create(&E, ROOT, "f", 0644, O_RDWR, &eo, &fh)); /* existing, no O_EXCL */
	RO(fenv_mkdir(&E, ROOT, "m", 0755, &eo));
	RO(fenv_mknod(&E, ROOT, "n", S_IFREG | 0644, 0, &eo));
	RO(fenv_mknod(&E, ROOT, "p", S_IFIFO | 0644, 0, &eo));
	RO(fenv_symlink(&E, ROOT, "s", "f", &eo));
	RO(fenv_link(&E, f, ROOT, "l", &eo));
	RO(fenv_unlink(&E, ROOT, "f"));
	RO(fenv_unlink(&E, ROOT, "nonexistent"));
	RO(fenv_rmdir(&E, d, "inner"));
	RO(fenv_rmdir(&E, ROOT, "d"));
	RO(fenv_rename(&E, ROOT, "f", ROOT, "g"));
	RO(fenv_rename2(&E, ROOT, "f", d, "g", RENAME_NOREPLACE));
	RO(fenv_rename2(&E, ROOT, "f", ROOT, "d", RENAME_EXCHANGE));
	RO(fenv_open(&E, f, O_WRONLY, &fh));
	RO(fenv_open(&E, f, O_RDWR, &fh));
	RO(fenv_open(&E, f, O_RDONLY | O_TRUNC, &fh));
	RO(fenv_open(&E, f, O_WRONLY | O_APPEND, &fh));
	RO(fenv_setxattr(&E, f, "user.n", "v", 1, 0));
	RO(fenv_setxattr(&E, d, "user.n", "v", 1, 0));
	fenv_begin(&E, FUSE_REMOVEXATTR, f);
	fenv_name(&E, "user.k");
	RO(fenv_send(&E, NULL));

	/* Reading works; a read-only handle cannot write, allocate, or receive a copy. */
	assert_int_equal(fenv_open(&E, f, O_RDONLY, &fh), 0);
	assert_int_equal(fenv_read(&E, f, fh, 0, 100), 0);
	assert_int_equal(E.body_len, strlen(F_TEXT));
	rc = fenv_write(&E, f, fh, 0, "evil", 4, 0, NULL);
	if (rc != -EROFS && rc != -EBADF)
		fail_msg("ro share: WRITE on a read-only handle gave %d", rc);
	{
		struct fuse_fallocate_in fa = { .fh = fh, .length = 1 << 20 };
		struct fuse_copy_file_range_in cr = {
			.fh_in = fh, .nodeid_out = f, .fh_out = fh, .off_out = 100, .len = 6
		};

		rc = raw_call(FUSE_FALLOCATE, f, &fa, sizeof(fa));
		if (rc >= 0)
			fail_msg("ro share: FALLOCATE gave %d", rc);
		rc = raw_call(FUSE_COPY_FILE_RANGE, f, &cr, sizeof(cr));
		if (rc >= 0)
			fail_msg("ro share: COPY_FILE_RANGE gave %d", rc);
	}
	{
		struct fuse_fsync_in fs = { .fh = fh };

		rc = raw_call(FUSE_FSYNC, f, &fs, sizeof(fs));
		assert_true(rc <= 0);
	}
	assert_int_equal(fenv_release(&E, FUSE_RELEASE, f, fh), 0);
	assert_int_equal(fenv_opendir(&E, ROOT, &dfh), 0);
	assert_int_equal(fenv_readdir(&E, FUSE_READDIRPLUS, ROOT, dfh, 0, 4096), 0);
	assert_int_equal(fenv_release(&E, FUSE_RELEASEDIR, ROOT, dfh), 0);
	assert_int_equal(fenv_getxattr(&E, f, "user.k", 16), 0);
#undef RO
	{
		char *after = fenv_listing(E.root);

		if (strcmp(before, after))
			fail_msg("ro share: the host tree changed:\nbefore:\n%safter:\n%s", before,
				 after);
		free(after);
	}
	free(before);
	assert_outside();
}

/* ---- setuid / capabilities ----------------------------------------------------------- */

/*
 * As root: f is 06755 (setuid + setgid + group exec) and carries a
 * security.capability (v2, CAP_NET_RAW permitted). A WRITE with
 * FUSE_WRITE_KILL_SUIDGID must leave it 0755 without the xattr, as the kernel
 * does for a writer without CAP_FSETID. ext4 and tmpfs both store
 * security.capability for root; the setup asserts that it really was set, so
 * the xattr half of the test cannot pass vacuously. Same for SETATTR size with
 * FATTR_KILL_SUIDGID and for a chown.
 */
static void set_suid_cap(const char *path)
{
	struct vfs_cap_data cap = { .magic_etc = VFS_CAP_REVISION_2 };
	char v[64];

	cap.data[0].permitted = 1u << CAP_NET_RAW;
	assert_int_equal(chmod(path, 06755), 0);
	if (setxattr(path, "security.capability", &cap, XATTR_CAPS_SZ_2, 0))
		fail_msg("cannot set security.capability on %s: %s", path, strerror(errno));
	/* Setting the xattr may itself have cleared the bits on some kernels: set them again. */
	assert_int_equal(chmod(path, 06755), 0);
	assert_int_equal(host_mode(path) & 07777, 06755);
	assert_true(getxattr(path, "security.capability", v, sizeof(v)) > 0);
}

static void assert_killed(const char *path, const char *what)
{
	char v[64];

	if (host_mode(path) & (S_ISUID | S_ISGID))
		fail_msg("%s: mode still %o", what, host_mode(path) & 07777);
	if (getxattr(path, "security.capability", v, sizeof(v)) >= 0)
		fail_msg("%s: security.capability still there", what);
	assert_int_equal(errno, ENODATA);
}

static void test_setuid_kill(void **state)
{
	struct fuse_setattr_in sa;
	uint64_t f, fh;
	uint32_t w;

	(void)state;
	need_root("setuid files and security.capability");
	f = look("f");
	set_suid_cap(fenv_path(&E, "f"));
	assert_int_equal(fenv_open(&E, f, O_RDWR, &fh), 0);
	assert_int_equal(fenv_write(&E, f, fh, 0, "X", 1, FUSE_WRITE_KILL_SUIDGID, &w), 0);
	assert_int_equal(w, 1);
	assert_killed(fenv_path(&E, "f"), "WRITE with FUSE_WRITE_KILL_SUIDGID");

	set_suid_cap(fenv_path(&E, "f"));
	memset(&sa, 0, sizeof(sa));
	sa.valid = FATTR_SIZE | FATTR_KILL_SUIDGID | FATTR_FH;
	sa.fh = fh;
	sa.size = 2;
	assert_int_equal(fenv_setattr(&E, f, &sa, NULL), 0);
	assert_killed(fenv_path(&E, "f"), "SETATTR size with FATTR_KILL_SUIDGID");

	set_suid_cap(fenv_path(&E, "f"));
	memset(&sa, 0, sizeof(sa));
	sa.valid = FATTR_UID | FATTR_GID;
	sa.uid = 1000;
	sa.gid = 1000;
	assert_int_equal(fenv_setattr(&E, f, &sa, NULL), 0);
	assert_killed(fenv_path(&E, "f"), "SETATTR chown");
	assert_int_equal(fenv_release(&E, FUSE_RELEASE, f, fh), 0);
	assert_outside();
}

/* ---- a share of entries -------------------------------------------------------------- */

/*
 * The same share/ (f, d/inner) as the entry "share", next to other entries of
 * the scratch root: other/ (o: "other\n"), file.txt, ro/ (g, read-only),
 * swap/ and swapf.txt (for the host's swaps), and outside/ as always. home is
 * the node of "share", so look() and symlink_battery work inside it.
 */
static char other_dir[PATH_MAX], file_txt[PATH_MAX], ro_dir[PATH_MAX], swap_dir[PATH_MAX],
	swapf[PATH_MAX];

/* A path under the scratch root (4 rotating buffers). */
static char *rpath(const char *rel)
{
	static char buf[4][PATH_MAX];
	static unsigned int next;
	char *b = buf[next++ % 4];

	snprintf(b, PATH_MAX, "%s/%s", E.root, rel);
	return b;
}

static int setup_entries(void **state)
{
	struct fsrv_entry ents[6];
	struct fuse_entry_out eo;

	if (setup(state))
		return -1;
	snprintf(other_dir, sizeof(other_dir), "%s", rpath("other"));
	snprintf(file_txt, sizeof(file_txt), "%s", rpath("file.txt"));
	snprintf(ro_dir, sizeof(ro_dir), "%s", rpath("ro"));
	snprintf(swap_dir, sizeof(swap_dir), "%s", rpath("swap"));
	snprintf(swapf, sizeof(swapf), "%s", rpath("swapf.txt"));
	if (mkdir(other_dir, 0755) || fenv_write_host(rpath("other/o"), "other\n", 0644) ||
	    fenv_write_host(file_txt, "file\n", 0644) || mkdir(ro_dir, 0755) ||
	    fenv_write_host(rpath("ro/g"), "g\n", 0644) || mkdir(swap_dir, 0755) ||
	    fenv_write_host(swapf, "swapf\n", 0644))
		return -1;
	ents[0] = (struct fsrv_entry){ "share", E.share, false };
	ents[1] = (struct fsrv_entry){ "other", other_dir, false };
	ents[2] = (struct fsrv_entry){ "file", file_txt, false };
	ents[3] = (struct fsrv_entry){ "ro", ro_dir, true };
	ents[4] = (struct fsrv_entry){ "swap", swap_dir, false };
	ents[5] = (struct fsrv_entry){ "swapf", swapf, false };
	if (fenv_start_entries(&E, ents, 6, false, 0, 0) || fenv_lookup(&E, ROOT, "share", &eo))
		return -1;
	home = eo.nodeid;
	return 0;
}

/* The scratch root but share/ and outside/ (which have their own checks): a listing. */
static char *others(void)
{
	char *a = fenv_listing(other_dir), *b = fenv_listing(ro_dir), *r;
	char fst[256];
	struct stat st;

	assert_int_equal(lstat(file_txt, &st), 0);
	snprintf(fst, sizeof(fst), "file.txt %o %lld %lld.%09ld\n", (unsigned int)st.st_mode,
		 (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	r = malloc(strlen(a) + strlen(b) + strlen(fst) + 1);
	assert_non_null(r);
	strcpy(r, a);
	strcat(r, b);
	strcat(r, fst);
	free(a);
	free(b);
	return r;
}

static void same_others(const char *before, const char *what)
{
	char *after = others();

	if (strcmp(before, after))
		fail_msg("%s changed another entry:\nbefore:\n%safter:\n%s", what, before, after);
	free(after);
}

/* Symlinks in one entry towards another entry's host path, and out of the scratch root. */
static void test_entries_symlinks(void **state)
{
	char abs_o[PATH_MAX + 8], abs_other[PATH_MAX], abs_file[PATH_MAX], *before;
	struct fuse_entry_out eo;

	(void)state;
	snprintf(abs_o, sizeof(abs_o), "%s/o", other_dir);
	snprintf(abs_other, sizeof(abs_other), "%s", other_dir);
	snprintf(abs_file, sizeof(abs_file), "%s", file_txt);
	before = others();
	assert_int_equal(symlink("../other/o", fenv_path(&E, "l_o")), 0);
	assert_int_equal(symlink(abs_o, fenv_path(&E, "l_abs_o")), 0);
	assert_int_equal(symlink("../other", fenv_path(&E, "l_other")), 0);
	assert_int_equal(symlink(abs_other, fenv_path(&E, "l_abs_other")), 0);
	assert_int_equal(symlink("../file.txt", fenv_path(&E, "l_file")), 0);
	assert_int_equal(symlink("../ro/g", fenv_path(&E, "l_ro")), 0);
	assert_int_equal(symlink("../outside/secret", fenv_path(&E, "l_secret")), 0);
	assert_int_equal(symlink("/", fenv_path(&E, "l_root")), 0);
	symlink_battery("host ../other/o", look("l_o"), "../other/o", abs_o);
	symlink_battery("host absolute other/o", look("l_abs_o"), abs_o, abs_o);
	symlink_battery("host ../other", look("l_other"), "../other", abs_other);
	symlink_battery("host absolute other", look("l_abs_other"), abs_other, abs_other);
	symlink_battery("host ../file.txt", look("l_file"), "../file.txt", abs_file);
	symlink_battery("host ../ro/g", look("l_ro"), "../ro/g", rpath("ro/g"));
	symlink_battery("host ../outside/secret", look("l_secret"), "../outside/secret",
			fenv_opath(&E, "secret"));
	symlink_battery("host /", look("l_root"), "/", "/");
	/* The guest's own, verbatim on the host, never followed there either. */
	assert_int_equal(fenv_symlink(&E, home, "g_other", "../other/o", &eo), 0);
	symlink_battery("guest ../other/o", eo.nodeid, "../other/o", abs_o);
	assert_int_equal(fenv_symlink(&E, home, "g_abs", abs_file, &eo), 0);
	symlink_battery("guest absolute file.txt", eo.nodeid, abs_file, abs_file);
	/* In the synthetic root the guest makes nothing, symlinks included. */
	assert_int_equal(fenv_symlink(&E, ROOT, "g_root", "share/f", &eo), -EROFS);
	same_others(before, "symlinks towards other entries");
	free(before);
	assert_outside();
}

/*
 * Hostile names at the synthetic root, in a directory entry, below it and in a
 * read-only entry: every one refused (the lax "x\0y" may act on "x" in the
 * writable entry); the other entries, outside/ and share/ unchanged but for
 * that. An entry's name means nothing below the root.
 */
static void test_entries_names(void **state)
{
	struct hname names[12];
	unsigned int n = hostile_names(names), i, op, p;
	struct fuse_entry_out eo;
	uint64_t parents[4], fnode;
	char *before, *before_share, what[160];
	int rc;

	(void)state;
	parents[0] = ROOT;
	parents[1] = home;
	parents[2] = look("d");
	parents[3] = look_in(ROOT, "ro");
	fnode = look("f");
	before = others();
	before_share = fenv_listing(E.share);
	for (op = 0; op < N_COUNT; op++) {
		for (i = 0; i < n; i++) {
			for (p = 0; p < 4; p++) {
				bool lax = names[i].lax && p == 1;

				/* Acting on d/x is fine there: the plain suite's case. */
				if (names[i].lax && p == 2)
					continue;

				snprintf(what, sizeof(what), "%s \"%s\" in parent %u", nop_name[op],
					 names[i].label, p);
				rc = send_named((enum nop)op, parents[p], &names[i], fnode);
				if (rc == FENV_BADREPLY || rc == FENV_NOREPLY)
					fail_msg("%s: bad reply (%d)", what, rc);
				if (!lax && rc >= 0)
					fail_msg("%s: accepted (%d)", what, rc);
				if (lax) {
					check_lax(before_share, what);
					free(before_share);
					before_share = fenv_listing(E.share);
				} else {
					assert_listing(before_share, what);
				}
			}
		}
	}
	same_others(before, "hostile names");
	/* Entry names are the root's alone. */
	assert_int_equal(fenv_lookup(&E, home, "other", &eo), -ENOENT);
	assert_int_equal(fenv_lookup(&E, home, "share", &eo), -ENOENT);
	assert_int_equal(fenv_lookup(&E, look("d"), "file", &eo), -ENOENT);
	assert_int_equal(fenv_lookup(&E, ROOT, "outside", &eo), -ENOENT);
	free(before);
	free(before_share);
	assert_outside();
}

/*
 * The host swaps an entry's directory, and a file entry, for a symlink to
 * outside/ after hull opened them: the entry stays what was opened (moved
 * away or not), before and after the guest looked it up.
 */
static void test_entries_swap(void **state)
{
	struct fuse_entry_out eo;
	char abs_dir[PATH_MAX], abs_secret[PATH_MAX], buf[64];
	uint64_t sw, fh, d;
	uint32_t w;

	(void)state;
	snprintf(abs_dir, sizeof(abs_dir), "%s/dir", E.outside);
	snprintf(abs_secret, sizeof(abs_secret), "%s/secret", E.outside);
	/* Not looked up yet: the swap comes first. */
	assert_int_equal(rename(swap_dir, rpath("swap_moved")), 0);
	assert_int_equal(symlink(abs_dir, swap_dir), 0);
	assert_int_equal(fenv_lookup(&E, ROOT, "swap", &eo), 0);
	assert_true(S_ISDIR(eo.attr.mode));
	sw = eo.nodeid;
	assert_int_equal(fenv_create(&E, sw, "new", 0644, O_RDWR, &eo, &fh), 0);
	assert_int_equal(fenv_release(&E, FUSE_RELEASE, eo.nodeid, fh), 0);
	assert_int_equal(fenv_type(rpath("swap_moved/new")), S_IFREG);
	assert_int_equal(fenv_mkdir(&E, sw, "newdir", 0755, &eo), 0);
	assert_int_equal(fenv_type(rpath("swap_moved/newdir")), S_IFDIR);
	assert_outside();
	/* Looked up already: swapped again, back to a directory elsewhere; the node holds on. */
	assert_int_equal(unlink(swap_dir), 0);
	assert_int_equal(rename(rpath("swap_moved"), rpath("swap_again")), 0);
	assert_int_equal(symlink("outside/dir", swap_dir), 0);
	assert_int_equal(fenv_create(&E, sw, "new2", 0644, O_RDWR, &eo, &fh), 0);
	assert_int_equal(fenv_release(&E, FUSE_RELEASE, eo.nodeid, fh), 0);
	assert_int_equal(fenv_type(rpath("swap_again/new2")), S_IFREG);
	assert_int_equal(fenv_lookup(&E, ROOT, "swap", &eo), 0);
	assert_int_equal(eo.nodeid, sw);
	assert_outside();

	/* A file entry swapped for a symlink to the secret: writes go to the file opened. */
	assert_int_equal(rename(swapf, rpath("swapf_moved.txt")), 0);
	assert_int_equal(symlink(abs_secret, swapf), 0);
	assert_int_equal(fenv_lookup(&E, ROOT, "swapf", &eo), 0);
	assert_true(S_ISREG(eo.attr.mode));
	assert_int_equal(fenv_open(&E, eo.nodeid, O_RDWR | O_TRUNC, &fh), 0);
	assert_int_equal(fenv_write(&E, eo.nodeid, fh, 0, "pwned\n", 6, 0, &w), 0);
	assert_int_equal(fenv_release(&E, FUSE_RELEASE, eo.nodeid, fh), 0);
	assert_int_equal(fenv_read_host(rpath("swapf_moved.txt"), buf, sizeof(buf)), 6);
	assert_string_equal(buf, "pwned\n");
	assert_outside();

	/* And a directory inside an entry, as in a plain share. */
	d = look("d");
	assert_int_equal(rename(fenv_path(&E, "d"), fenv_path(&E, "d_moved")), 0);
	assert_int_equal(symlink("../outside/dir", fenv_path(&E, "d")), 0);
	if (fenv_create(&E, d, "new", 0644, O_RDWR, &eo, &fh) == 0)
		assert_int_equal(fenv_type(fenv_path(&E, "d_moved/new")), S_IFREG);
	assert_int_equal(fenv_lookup(&E, home, "d", &eo), 0);
	assert_true(S_ISLNK(eo.attr.mode));
	assert_true(fenv_create(&E, eo.nodeid, "new2", 0644, O_RDWR, &eo, &fh) < 0);
	assert_outside();
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_names_lookup),
		T(test_names_create),
		T(test_names_mkdir),
		T(test_names_mknod),
		T(test_names_symlink),
		T(test_names_link),
		T(test_names_rename),
		T(test_names_unlink_rmdir),
		T(test_names_255),
		T(test_symlinks_host),
		T(test_symlinks_guest),
		T(test_symlinks_magic),
		T(test_symlinks_swap),
		T(test_hardlinks),
		T(test_rename_forged_dir),
		T(test_rename_dotdot_flags),
		T(test_special_files),
		T(test_forget),
		T(test_bounds_inodes),
		T(test_bounds_handles),
		T(test_readdir_sizes),
		T(test_read_write_sizes),
		T(test_headers),
		T(test_before_init),
		T(test_ro),
		T(test_setuid_kill),
		cmocka_unit_test_setup_teardown(test_entries_symlinks, setup_entries, teardown),
		cmocka_unit_test_setup_teardown(test_entries_names, setup_entries, teardown),
		cmocka_unit_test_setup_teardown(test_entries_swap, setup_entries, teardown),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
