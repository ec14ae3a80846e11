/* iov: byte ranges of iovec arrays (a chain's guest buffers): slice, copy, total, a cursor. */
#ifndef HULL_LIB_IOV_H
#define HULL_LIB_IOV_H

#include <stddef.h>
#include <sys/uio.h>

/*
 * The lengths in these arrays usually come from guest descriptors: any value, and one buffer
 * may appear many times, so a part's total can exceed 4 GiB with little guest memory. Nothing
 * here adds an offset to a length, and every walk is bounded by the entry count n. The arrays
 * are read-only; the bytes their entries point at are written by iov_write and
 * iov_cursor_write.
 */

/*
 * Cut [off, off + len) of src[0..n) into dst (room for cap entries), without zero-length
 * entries: the entry count (0 for len 0, wherever off is), -ERANGE when the range runs past
 * the end of src, -ENOBUFS when it needs more than cap entries.
 */
int iov_slice(struct iovec *dst, unsigned int cap, const struct iovec *src, unsigned int n,
	      size_t off, size_t len);

/* The byte total of v[0..n); SIZE_MAX when it does not fit in a size_t. */
size_t iov_total(const struct iovec *v, unsigned int n);

/*
 * Copy up to len bytes between byte off of v[0..n) and a flat buffer: out of the iovecs into
 * dst (read) or into them from src (write). The bytes copied, fewer when v ends first (0 for
 * off past its end). Each call walks v from its start: a reader of many fields uses a cursor.
 */
size_t iov_read(const struct iovec *v, unsigned int n, size_t off, void *dst, size_t len);
size_t iov_write(const struct iovec *v, unsigned int n, size_t off, const void *src, size_t len);

/*
 * A position in an iovec array that each read or write moves on, so a request is walked once
 * however it is cut, never from its start per field (a guest may alias hundreds of
 * descriptors to one buffer to make a request huge).
 */
struct iov_cursor {
	const struct iovec *v;
	unsigned int n, i; /* entries; the current one */
	size_t off;	   /* bytes into v[i] */
};

/* A cursor at byte skip of v[0..n) (past the end: reads and writes copy nothing). */
void iov_cursor_init(struct iov_cursor *c, const struct iovec *v, unsigned int n, size_t skip);
/* Copy up to len bytes at the cursor into dst (read) or from src (write), move past them. */
size_t iov_cursor_read(struct iov_cursor *c, void *dst, size_t len);
size_t iov_cursor_write(struct iov_cursor *c, const void *src, size_t len);

#endif
