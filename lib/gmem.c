/* gmem: bounds- and overflow-checked guest-physical address translation. */
#include "lib/gmem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

int gmem_add(struct gmem *m, uint64_t gpa, uint64_t size, void *host)
{
	return gmem_add_backed(m, gpa, size, host, GMEM_PRIVATE);
}

int gmem_add_backed(struct gmem *m, uint64_t gpa, uint64_t size, void *host,
		    enum gmem_backing backing)
{
	unsigned int i, at;

	if (size == 0 || !host || gpa + size < gpa ||
	    (backing != GMEM_PRIVATE && backing != GMEM_SHARED))
		return -EINVAL;
	if (m->n >= GMEM_MAX_REGIONS)
		return -ENOSPC;
	for (i = 0; i < m->n; i++) {
		const struct gmem_region *r = &m->r[i];

		if (gpa < r->gpa + r->size && r->gpa < gpa + size)
			return -EINVAL;
	}
	for (at = 0; at < m->n && m->r[at].gpa < gpa; at++)
		;
	memmove(&m->r[at + 1], &m->r[at], (m->n - at) * sizeof(m->r[0]));
	m->r[at] = (struct gmem_region){ .gpa = gpa, .size = size, .host = host,
					 .backing = backing };
	m->n++;
	return 0;
}

void *gmem_ptr(const struct gmem *m, uint64_t gpa, uint64_t len)
{
	unsigned int i;

	if (len == 0 || gpa + len < gpa)
		return NULL;
	for (i = 0; i < m->n; i++) {
		const struct gmem_region *r = &m->r[i];

		if (gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		if (len > r->size - (gpa - r->gpa))
			return NULL;
		return r->host + (gpa - r->gpa);
	}
	return NULL;
}

int gmem_read(const struct gmem *m, uint64_t gpa, void *dst, size_t len)
{
	const void *p = gmem_ptr(m, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int gmem_write(const struct gmem *m, uint64_t gpa, const void *src, size_t len)
{
	void *p = gmem_ptr(m, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

/* madvise host bytes [p, p+len) of region r, both page multiples. */
static int release(const struct gmem_region *r, uint8_t *p, uint64_t len)
{
	/* DONTNEED on a shared mapping would drop only this mapping's view, not the memory. */
	int advice = r->backing == GMEM_SHARED ? MADV_REMOVE : MADV_DONTNEED;

	return madvise(p, len, advice) ? -errno : 0;
}

/*
 * The region holding gpa at or after index *i (regions are sorted and disjoint), and the bytes
 * of [gpa, end) in it: NULL when gpa is not RAM.
 */
static const struct gmem_region *piece(const struct gmem *m, unsigned int *i, uint64_t gpa,
				       uint64_t end, uint64_t *n)
{
	for (; *i < m->n; (*i)++) {
		const struct gmem_region *r = &m->r[*i];

		if (gpa < r->gpa)
			return NULL;
		if (gpa - r->gpa >= r->size)
			continue;
		*n = end - r->gpa <= r->size ? end - gpa : r->size - (gpa - r->gpa);
		return r;
	}
	return NULL;
}

int gmem_release(const struct gmem *m, uint64_t gpa, uint64_t len)
{
	const struct gmem_region *r;
	uint64_t end = gpa + len, at, n;
	unsigned int i;
	int pass, ret;

	if (len == 0 || end < gpa || (gpa | len) & (GMEM_PAGE - 1))
		return -EINVAL;
	/* Pass 0 checks every piece (all RAM, page-aligned on the host too), pass 1 releases. */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0, at = gpa; at < end; at += n) {
			r = piece(m, &i, at, end, &n);
			if (!r)
				return -EFAULT;
			if (pass == 0 && ((uintptr_t)(r->host + (at - r->gpa)) | n) & (GMEM_PAGE - 1))
				return -EINVAL;
			if (pass == 1) {
				ret = release(r, r->host + (at - r->gpa), n);
				if (ret)
					return ret;
			}
		}
	}
	return 0;
}

int gmem_release_host(const struct gmem *m, void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p;
	unsigned int i;

	if (len == 0 || a + len < a || (a | len) & (GMEM_PAGE - 1))
		return -EINVAL;
	for (i = 0; i < m->n; i++) {
		const struct gmem_region *r = &m->r[i];
		uintptr_t base = (uintptr_t)r->host;

		if (a < base || a - base >= r->size)
			continue;
		if (len > r->size - (a - base))
			return -EFAULT;
		return release(r, p, len);
	}
	return -EFAULT;
}

uint64_t gmem_total(const struct gmem *m)
{
	uint64_t sum = 0;
	unsigned int i;

	for (i = 0; i < m->n; i++)
		sum += m->r[i].size;
	return sum;
}

uint64_t gmem_end(const struct gmem *m)
{
	return m->n ? m->r[m->n - 1].gpa + m->r[m->n - 1].size : 0;
}
