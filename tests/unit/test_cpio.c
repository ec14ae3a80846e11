/* Unit tests for the newc cpio writer: parse the archive back, and let GNU cpio list it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/boot.h"

struct rec {
	uint32_t ino, mode, nlink, filesize, namesize;
	const char *name;
	const uint8_t *data;
};

static uint32_t hex8(const uint8_t *p)
{
	char s[9];
	char *end;
	unsigned long v;

	memcpy(s, p, 8);
	s[8] = '\0';
	v = strtoul(s, &end, 16);
	assert_true(end == s + 8);
	return (uint32_t)v;
}

static void assert_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		assert_int_equal(p[i], 0);
}

/* Parse one record at *off, checking the fixed fields and both paddings. */
static void next_rec(const struct cpio *c, size_t *off, struct rec *r)
{
	const uint8_t *h = c->buf + *off;
	size_t head, data_pad;

	assert_true(c->len - *off >= 110);
	assert_memory_equal(h, "070701", 6);
	r->ino = hex8(h + 6);
	r->mode = hex8(h + 14);
	assert_int_equal(hex8(h + 22), 0); /* uid */
	assert_int_equal(hex8(h + 30), 0); /* gid */
	r->nlink = hex8(h + 38);
	assert_int_equal(hex8(h + 46), 0); /* mtime */
	r->filesize = hex8(h + 54);
	assert_int_equal(hex8(h + 62), 0);
	assert_int_equal(hex8(h + 70), 0);
	assert_int_equal(hex8(h + 78), 0);
	assert_int_equal(hex8(h + 86), 0);
	r->namesize = hex8(h + 94);
	assert_int_equal(hex8(h + 102), 0); /* check */
	head = 110 + r->namesize;
	assert_true(c->len - *off >= head);
	r->name = (const char *)h + 110;
	assert_int_equal(strlen(r->name) + 1, r->namesize);
	assert_zero(h + head, (4 - head % 4) % 4);
	head += (4 - head % 4) % 4;
	data_pad = (4 - r->filesize % 4) % 4;
	assert_true(c->len - *off - head >= r->filesize + data_pad);
	r->data = h + head;
	assert_zero(h + head + r->filesize, data_pad);
	*off += head + r->filesize + data_pad;
	assert_int_equal(*off % 4, 0);
}

static void build(struct cpio *c)
{
	static const char init[] = "#!/bin/sh\necho hi\n";

	boot_cpio_init(c);
	assert_int_equal(boot_cpio_dir(c, "/dev", 0755), 0);
	assert_int_equal(boot_cpio_dir(c, "dev/pts", 040755), 0); /* type bits are ours to set */
	assert_int_equal(boot_cpio_file(c, "/init", 0755, init, sizeof(init) - 1), 0);
	assert_int_equal(boot_cpio_file(c, "empty", 0600, NULL, 0), 0);
	assert_int_equal(boot_cpio_symlink(c, "/bin/sh", "busybox"), 0);
	assert_int_equal(boot_cpio_finish(c), 0);
}

static void test_parse_back(void **state)
{
	static const struct {
		const char *name;
		uint32_t mode, nlink;
		const char *data;
	} want[] = {
		{ "dev", S_IFDIR | 0755, 2, "" },
		{ "dev/pts", S_IFDIR | 0755, 2, "" },
		{ "init", S_IFREG | 0755, 1, "#!/bin/sh\necho hi\n" },
		{ "empty", S_IFREG | 0600, 1, "" },
		{ "bin/sh", S_IFLNK | 0777, 1, "busybox" },
		{ "TRAILER!!!", 0, 1, "" },
	};
	struct cpio c;
	struct rec r;
	size_t off = 0, i;

	(void)state;
	build(&c);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		next_rec(&c, &off, &r);
		assert_string_equal(r.name, want[i].name);
		assert_int_equal(r.mode, want[i].mode);
		assert_int_equal(r.nlink, want[i].nlink);
		assert_int_equal(r.filesize, strlen(want[i].data));
		assert_memory_equal(r.data, want[i].data, r.filesize);
		assert_int_equal(r.ino, i + 1 < sizeof(want) / sizeof(want[0]) ? i + 1 : 0);
	}
	assert_int_equal(off, c.len);
	boot_cpio_free(&c);
	assert_null(c.buf);
}

static void test_gnu_cpio_lists_it(void **state)
{
	char path[] = "/tmp/hull-cpio-XXXXXX", cmd[128], line[64];
	static const char *const names[] = { "dev", "dev/pts", "init", "empty", "bin/sh" };
	struct cpio c;
	FILE *p;
	size_t i = 0;
	int fd;

	(void)state;
	if (access("/usr/bin/cpio", X_OK) != 0)
		return;
	build(&c);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, c.buf, c.len), (ssize_t)c.len);
	close(fd);
	snprintf(cmd, sizeof(cmd), "/usr/bin/cpio -t --quiet < %s", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = '\0';
		assert_true(i < 5);
		assert_string_equal(line, names[i]);
		i++;
	}
	assert_int_equal(pclose(p), 0);
	assert_int_equal(i, 5);
	unlink(path);
	boot_cpio_free(&c);
}

static void test_growth(void **state)
{
	static uint8_t blob[100003];
	struct cpio c;
	struct rec r;
	size_t off = 0, i;
	char name[32];

	(void)state;
	for (i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 31);
	boot_cpio_init(&c);
	for (i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "f%zu", i);
		assert_int_equal(boot_cpio_file(&c, name, 0644, blob, sizeof(blob) - i), 0);
	}
	assert_int_equal(boot_cpio_finish(&c), 0);
	for (i = 0; i < 50; i++) {
		next_rec(&c, &off, &r);
		assert_int_equal(r.filesize, sizeof(blob) - i);
		assert_memory_equal(r.data, blob, r.filesize);
	}
	next_rec(&c, &off, &r);
	assert_string_equal(r.name, "TRAILER!!!");
	assert_int_equal(off, c.len);
	boot_cpio_free(&c);
}

/* A reserve is one allocation the entries then fit in; one that cannot be had is the error. */
static void test_reserve(void **state)
{
	static uint8_t blob[100000];
	struct cpio c;
	uint8_t *buf;

	(void)state;
	boot_cpio_init(&c);
	assert_int_equal(boot_cpio_reserve(&c, sizeof(blob) + 4096), 0);
	assert_true(c.cap >= sizeof(blob) + 4096);
	buf = c.buf;
	assert_int_equal(boot_cpio_dir(&c, "dev", 0755), 0);
	assert_int_equal(boot_cpio_file(&c, "init", 0755, blob, sizeof(blob)), 0);
	assert_int_equal(boot_cpio_finish(&c), 0);
	assert_ptr_equal(c.buf, buf);
	assert_int_equal(boot_cpio_reserve(&c, SIZE_MAX), -ENOMEM);
	assert_int_equal(c.error, -ENOMEM);
	assert_int_equal(boot_cpio_dir(&c, "x", 0755), -ENOMEM);
	boot_cpio_free(&c);
}

static void test_errors_stick(void **state)
{
	static char longpath[4100];
	struct cpio c;
	size_t len;

	(void)state;
	boot_cpio_init(&c);
	assert_int_equal(boot_cpio_dir(&c, "", 0755), -EINVAL);
	assert_int_equal(boot_cpio_dir(&c, "ok", 0755), -EINVAL);
	assert_int_equal(boot_cpio_finish(&c), -EINVAL);
	assert_int_equal(c.len, 0);
	boot_cpio_free(&c);

	boot_cpio_init(&c);
	assert_int_equal(boot_cpio_dir(&c, "/", 0755), -EINVAL);
	boot_cpio_free(&c);

	/* 4096 characters is the longest path; one more fails. */
	memset(longpath, 'a', 4096);
	boot_cpio_init(&c);
	assert_int_equal(boot_cpio_dir(&c, longpath, 0755), 0);
	len = c.len;
	longpath[4096] = 'a';
	assert_int_equal(boot_cpio_dir(&c, longpath, 0755), -EINVAL);
	assert_int_equal(c.len, len);
	assert_int_equal(boot_cpio_file(&c, "x", 0644, "y", 1), -EINVAL);
	boot_cpio_free(&c);

	boot_cpio_init(&c);
	assert_int_equal(boot_cpio_symlink(&c, "l", ""), -EINVAL);
	boot_cpio_free(&c);
	boot_cpio_init(&c);
	assert_int_equal(boot_cpio_symlink(&c, "l", NULL), -EINVAL);
	boot_cpio_free(&c);
	boot_cpio_init(&c);
	assert_int_equal(boot_cpio_file(&c, "f", 0644, NULL, 3), -EINVAL);
	boot_cpio_free(&c);
	boot_cpio_init(&c);
	assert_int_equal(boot_cpio_file(&c, NULL, 0644, NULL, 0), -EINVAL);
	boot_cpio_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_back),
		cmocka_unit_test(test_gnu_cpio_lists_it),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_reserve),
		cmocka_unit_test(test_errors_stick),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
