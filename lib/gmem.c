/* gmem: bounds- and overflow-checked guest-physical address translation, and the hotplug region. */
#include "lib/gmem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static bool overlaps(uint64_t a, uint64_t asize, uint64_t b, uint64_t bsize)
{
	return a < b + bsize && b < a + asize;
}

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
	for (i = 0; i < m->n; i++)
		if (overlaps(gpa, size, m->r[i].gpa, m->r[i].size))
			return -EINVAL;
	if (m->hp && overlaps(gpa, size, m->hp->gpa, m->hp->size))
		return -EINVAL;
	for (at = 0; at < m->n && m->r[at].gpa < gpa; at++)
		;
	memmove(&m->r[at + 1], &m->r[at], (m->n - at) * sizeof(m->r[0]));
	m->r[at] = (struct gmem_region){ .gpa = gpa, .size = size, .host = host,
					 .backing = backing };
	m->n++;
	return 0;
}

static bool plugged(const struct gmem_hp *hp, unsigned int i)
{
	/* Acquire: a block seen plugged is accessible (gmem_hp_plug made it so first). */
	return __atomic_load_n(&hp->plugged[i / 64], __ATOMIC_ACQUIRE) >> (i % 64) & 1;
}

/* [gpa, gpa+len) in the hotplug region, len already checked against wrap: NULL unless plugged. */
static void *hp_ptr(const struct gmem_hp *hp, uint64_t gpa, uint64_t len)
{
	uint64_t off = gpa - hp->gpa;
	unsigned int i, last;

	if (len > hp->size - off)
		return NULL;
	/* At most nblocks steps; a virtqueue buffer (< 4 GiB) spans a few dozen at most. */
	last = (unsigned int)((off + len - 1) / hp->block);
	for (i = (unsigned int)(off / hp->block); i <= last; i++)
		if (!plugged(hp, i))
			return NULL;
	return hp->host + off;
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
	if (m->hp && gpa >= m->hp->gpa && gpa - m->hp->gpa < m->hp->size)
		return hp_ptr(m->hp, gpa, len);
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

/*
 * Hotplug memory [off, off+len) of hp's host view, page multiples inside the region: released
 * when all of it is plugged (-EFAULT otherwise). Shared memory: MADV_REMOVE frees it for both
 * views.
 */
static int hp_release(const struct gmem_hp *hp, uint64_t off, uint64_t len)
{
	if (!hp_ptr(hp, hp->gpa + off, len))
		return -EFAULT;
	return madvise(hp->host + off, len, MADV_REMOVE) ? -errno : 0;
}

int gmem_release(const struct gmem *m, uint64_t gpa, uint64_t len)
{
	const struct gmem_region *r;
	uint64_t end = gpa + len, at, n;
	unsigned int i;
	int pass, ret;

	if (len == 0 || end < gpa || (gpa | len) & (GMEM_PAGE - 1))
		return -EINVAL;
	/* The hotplug region lies apart from RAM: a range is in one or the other. */
	if (m->hp && gpa >= m->hp->gpa && gpa - m->hp->gpa < m->hp->size)
		return hp_release(m->hp, gpa - m->hp->gpa, len);
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
	if (m->hp && a >= (uintptr_t)m->hp->host && a - (uintptr_t)m->hp->host < m->hp->size)
		return hp_release(m->hp, a - (uintptr_t)m->hp->host, len);
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

/* --- the hotplug region ------------------------------------------------------------------ */

int gmem_hp_map(struct gmem_hp *hp, const char *name, uint64_t gpa, uint64_t block,
		unsigned int nblocks)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), size;
	void *guest, *host;
	int fd, ret;

	memset(hp, 0, sizeof(*hp));
	if (!nblocks || nblocks > GMEM_HP_MAX_BLOCKS || block < page || (block & (block - 1)) ||
	    block > (uint64_t)INT64_MAX / nblocks || (gpa & (block - 1)))
		return -EINVAL;
	size = block * nblocks;
	if (gpa + size < gpa)
		return -EINVAL;
	/* Shared memory, so two views reach the same pages; only pages touched take memory. */
	fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		ret = -errno;
		goto out;
	}
	guest = mmap(NULL, size, PROT_NONE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (guest == MAP_FAILED) {
		ret = -errno;
		goto out;
	}
	host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (host == MAP_FAILED) {
		ret = -errno;
		munmap(guest, size);
		goto out;
	}
	*hp = (struct gmem_hp){ .gpa = gpa, .size = size, .block = block, .nblocks = nblocks,
				.guest = guest, .host = host };
	ret = 0;
out:
	/* The mappings keep the memory; the descriptor is not needed again. */
	close(fd);
	return ret;
}

void gmem_hp_unmap(struct gmem_hp *hp)
{
	if (hp->size) {
		munmap(hp->guest, hp->size);
		munmap(hp->host, hp->size);
	}
	memset(hp, 0, sizeof(*hp));
}

int gmem_add_hotplug(struct gmem *m, const struct gmem_hp *hp)
{
	unsigned int i;

	if (m->hp || !hp->size)
		return -EINVAL;
	for (i = 0; i < m->n; i++)
		if (overlaps(hp->gpa, hp->size, m->r[i].gpa, m->r[i].size))
			return -EINVAL;
	m->hp = hp;
	return 0;
}

bool gmem_hp_blocks(const struct gmem_hp *hp, uint64_t gpa, uint64_t nblocks,
		    unsigned int *first)
{
	uint64_t off;

	if (!hp->size || !nblocks || gpa < hp->gpa || gpa - hp->gpa >= hp->size)
		return false;
	off = gpa - hp->gpa;
	if (off & (hp->block - 1) || nblocks > hp->nblocks - off / hp->block)
		return false;
	*first = (unsigned int)(off / hp->block);
	return true;
}

bool gmem_hp_is_plugged(const struct gmem_hp *hp, unsigned int i)
{
	return i < hp->nblocks && plugged(hp, i);
}

unsigned int gmem_hp_count(const struct gmem_hp *hp, unsigned int first, unsigned int n)
{
	unsigned int i, count = 0;

	for (i = first; i < hp->nblocks && i - first < n; i++)
		count += plugged(hp, i);
	return count;
}

static void set_bits(struct gmem_hp *hp, unsigned int first, unsigned int n, bool on)
{
	unsigned int i;

	/* Release: a plugged bit is seen after the access it grants; a cleared one at once. */
	for (i = first; i < first + n; i++) {
		uint64_t bit = 1ULL << (i % 64);

		if (on)
			__atomic_fetch_or(&hp->plugged[i / 64], bit, __ATOMIC_RELEASE);
		else
			__atomic_fetch_and(&hp->plugged[i / 64], ~bit, __ATOMIC_RELEASE);
	}
}

/*
 * Past the blocks from *i that are in state done already (plugged or not), the run of those
 * that are not, below end: its length (0 when there is none), starting at the new *i.
 */
static unsigned int next_run(const struct gmem_hp *hp, unsigned int *i, unsigned int end,
			     bool done)
{
	unsigned int n = 0;

	while (*i < end && plugged(hp, *i) == done)
		++*i;
	while (*i + n < end && plugged(hp, *i + n) != done)
		n++;
	return n;
}

int gmem_hp_plug(struct gmem_hp *hp, unsigned int first, unsigned int n)
{
	unsigned int i = first, end, run;

	if (first > hp->nblocks || n > hp->nblocks - first)
		return -EINVAL;
	end = first + n;
	while ((run = next_run(hp, &i, end, true))) {
		uint64_t off = (uint64_t)i * hp->block, len = (uint64_t)run * hp->block;

		if (mprotect(hp->guest + off, len, PROT_READ | PROT_WRITE) < 0)
			return -errno;
		set_bits(hp, i, run, true);
		hp->nplugged += run;
		i += run;
	}
	return 0;
}

int gmem_hp_unplug(struct gmem_hp *hp, unsigned int first, unsigned int n)
{
	unsigned int i = first, end, run;
	int ret = 0;

	if (first > hp->nblocks || n > hp->nblocks - first)
		return -EINVAL;
	end = first + n;
	while ((run = next_run(hp, &i, end, false))) {
		uint64_t off = (uint64_t)i * hp->block, len = (uint64_t)run * hp->block;

		/* Untranslatable first, then out of the guest's reach, then given back. */
		set_bits(hp, i, run, false);
		hp->nplugged -= run;
		if (mprotect(hp->guest + off, len, PROT_NONE) < 0 && !ret)
			ret = -errno;
		if (madvise(hp->host + off, len, MADV_REMOVE) < 0 && !ret)
			ret = -errno;
		i += run;
	}
	return ret;
}
