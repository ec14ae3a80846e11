/* loader: what the kernel loaders (here and in arch/) share: the image's bytes, why a load failed. */
#include "boot/boot.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/*
 * The caller's msg is a plain const char * with no room for numbers, so a
 * formatted reason lives here, one per thread, until the next load.
 */
static _Thread_local char why[128];

int boot_fail(const char **msg, int err, const char *fmt, ...)
{
	va_list ap;

	if (msg) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
		*msg = why;
	}
	return err;
}

int boot_src_read(const struct boot_src *s, uint64_t off, void *dst, size_t n, const char **msg)
{
	uint8_t *to = dst;
	size_t got = 0;
	ssize_t r;

	if (off > s->len || n > s->len - off)
		return boot_fail(msg, -ENOEXEC, "%zu bytes at offset %llu are outside the %llu-byte "
				 "image", n, (unsigned long long)off, (unsigned long long)s->len);
	if (s->buf) {
		memcpy(dst, s->buf + off, n);
		return 0;
	}
	while (got < n) {
		r = pread(s->fd, to + got, n - got, (off_t)(s->base + off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return boot_fail(msg, -errno, "%s", strerror(errno));
		if (r == 0)
			return boot_fail(msg, -EIO, "the file shrank while it was read (%llu bytes "
					 "read of %llu)", (unsigned long long)(off + got),
					 (unsigned long long)s->len);
		got += (size_t)r;
	}
	return 0;
}
