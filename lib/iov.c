/* iov: byte ranges of iovec arrays: slice, copy, total, a cursor. */
#include "lib/iov.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

int iov_slice(struct iovec *dst, unsigned int cap, const struct iovec *src, unsigned int n,
	      size_t off, size_t len)
{
	unsigned int i, k = 0;

	for (i = 0; i < n && len; i++) {
		size_t l = src[i].iov_len, take;

		/* Whole entries before the range go (zero-length ones with them). */
		if (off >= l) {
			off -= l;
			continue;
		}
		if (k == cap)
			return -ENOBUFS;
		take = l - off < len ? l - off : len;
		dst[k++] = (struct iovec){ .iov_base = (uint8_t *)src[i].iov_base + off,
					   .iov_len = take };
		len -= take;
		off = 0;
	}
	return len ? -ERANGE : (int)k;
}

size_t iov_total(const struct iovec *v, unsigned int n)
{
	size_t t = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (v[i].iov_len > SIZE_MAX - t)
			return SIZE_MAX;
		t += v[i].iov_len;
	}
	return t;
}

void iov_cursor_init(struct iov_cursor *c, const struct iovec *v, unsigned int n, size_t skip)
{
	*c = (struct iov_cursor){ .v = v, .n = n };
	while (c->i < n && skip >= v[c->i].iov_len)
		skip -= v[c->i++].iov_len;
	/* Past the end, skip is left over with i == n: nothing more is copied. */
	c->off = skip;
}

/* Copy len bytes between buf and the iovecs at the cursor (into them when to_iov); move on. */
static size_t cursor_copy(struct iov_cursor *c, uint8_t *buf, size_t len, bool to_iov)
{
	size_t done = 0;

	while (done < len && c->i < c->n) {
		const struct iovec *v = &c->v[c->i];
		size_t k;

		if (c->off >= v->iov_len) { /* this entry is done (or empty) */
			c->i++;
			c->off = 0;
			continue;
		}
		k = v->iov_len - c->off;
		if (k > len - done)
			k = len - done;
		if (to_iov)
			memcpy((uint8_t *)v->iov_base + c->off, buf + done, k);
		else
			memcpy(buf + done, (const uint8_t *)v->iov_base + c->off, k);
		done += k;
		c->off += k;
	}
	return done;
}

size_t iov_cursor_read(struct iov_cursor *c, void *dst, size_t len)
{
	return cursor_copy(c, dst, len, false);
}

size_t iov_cursor_write(struct iov_cursor *c, const void *src, size_t len)
{
	/* cursor_copy only reads buf when copying into the iovecs. */
	return cursor_copy(c, (uint8_t *)(uintptr_t)src, len, true);
}

size_t iov_read(const struct iovec *v, unsigned int n, size_t off, void *dst, size_t len)
{
	struct iov_cursor c;

	iov_cursor_init(&c, v, n, off);
	return iov_cursor_read(&c, dst, len);
}

size_t iov_write(const struct iovec *v, unsigned int n, size_t off, const void *src, size_t len)
{
	struct iov_cursor c;

	iov_cursor_init(&c, v, n, off);
	return iov_cursor_write(&c, src, len);
}
