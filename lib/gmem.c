/* gmem: bounds- and overflow-checked guest-physical address translation, and the hotplug region. */
#include "lib/gmem.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/file.h"
#include "lib/parse.h"

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

/* --- huge pages -------------------------------------------------------------------------- */

/* One count of the pool: a decimal number and a newline. */
static int pool_count(const char *dir, const char *name, uint64_t *out)
{
	char path[256], *text;
	size_t len;
	int ret;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	ret = file_read_text(path, 64, &text, &len);
	if (ret)
		return ret;
	if (len && text[len - 1] == '\n')
		text[len - 1] = '\0';
	ret = parse_uint(text, 0, UINT64_MAX, out) ? -EINVAL : 0;
	free(text);
	return ret;
}

int gmem_huge_pool_read(const char *dir, struct gmem_huge_pool *p)
{
	return pool_count(dir, "free_hugepages", &p->free) ?:
	       pool_count(dir, "resv_hugepages", &p->resv) ?:
	       pool_count(dir, "nr_overcommit_hugepages", &p->overcommit) ?:
	       pool_count(dir, "surplus_hugepages", &p->surplus);
}

uint64_t gmem_huge_available(const struct gmem_huge_pool *p)
{
	uint64_t unpromised = p->free > p->resv ? p->free - p->resv : 0;
	uint64_t room = p->overcommit > p->surplus ? p->overcommit - p->surplus : 0;

	return unpromised + room < unpromised ? UINT64_MAX : unpromised + room;
}

uint64_t gmem_huge_pages(uint64_t bytes)
{
	return bytes / GMEM_HUGE_PAGE + (bytes % GMEM_HUGE_PAGE != 0);
}

/* --- the hotplug region ------------------------------------------------------------------ */

/*
 * Hull's view of huge-page blocks [off, off+len) when unplugged: anonymous memory in place of
 * the memfd's pages, so that a stale pointer's write lands somewhere and not in a hole, where
 * a hugetlb fault with the pool dry would be a SIGBUS.
 */
static int huge_stand_in(struct gmem_hp *hp, uint64_t off, uint64_t len)
{
	void *p = mmap(hp->host + off, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);

	return p == MAP_FAILED ? -errno : 0;
}

/* Unplugged huge-page blocks [off, off+len): the stand-in in hull's view, the pages freed. */
static int huge_release(struct gmem_hp *hp, uint64_t off, uint64_t len)
{
	int ret = huge_stand_in(hp, off, len);

	if (fallocate(hp->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
		      (off_t)len) < 0 && !ret)
		ret = -errno;
	return ret;
}

/* Huge-page blocks [off, off+len) about to be plugged: their pages allocated and in hull's view. */
static int huge_acquire(struct gmem_hp *hp, uint64_t off, uint64_t len)
{
	void *p;
	int ret;

	/* Allocated now, so the guest and hull never fault on a page the pool cannot give. */
	if (fallocate(hp->fd, 0, (off_t)off, (off_t)len) < 0) {
		ret = errno == ENOSPC || errno == ENOMEM ? -ENOSPC : -errno;
		/* The pages it got before the pool ran dry go back. */
		huge_release(hp, off, len);
		return ret;
	}
	p = mmap(hp->host + off, len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_NORESERVE | MAP_FIXED, hp->fd, (off_t)off);
	if (p != MAP_FAILED)
		return 0;
	ret = -errno;
	huge_release(hp, off, len);
	return ret;
}

static int hp_map(struct gmem_hp *hp, const char *name, uint64_t gpa, uint64_t block,
		  unsigned int nblocks, bool huge)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), size;
	void *guest, *host;
	int fd, ret;

	memset(hp, 0, sizeof(*hp));
	if (!nblocks || nblocks > GMEM_HP_MAX_BLOCKS || block < page || (block & (block - 1)) ||
	    block > (uint64_t)INT64_MAX / nblocks || (gpa & (block - 1)) ||
	    (huge && block % GMEM_HUGE_PAGE))
		return -EINVAL;
	size = block * nblocks;
	if (gpa + size < gpa)
		return -EINVAL;
	/* Shared memory, so two views reach the same pages; only pages touched take memory. */
	fd = memfd_create(name, MFD_CLOEXEC | (huge ? MFD_HUGETLB | MFD_HUGE_2MB : 0));
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
	/* Huge pages: an address the memfd can be mapped at again, block by block, at plug. */
	host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (host == MAP_FAILED) {
		ret = -errno;
		munmap(guest, size);
		goto out;
	}
	*hp = (struct gmem_hp){ .gpa = gpa, .size = size, .block = block, .nblocks = nblocks,
				.guest = guest, .host = host, .huge = huge, .fd = -1 };
	if (!huge) {
		ret = 0;
		goto out;
	}
	hp->fd = fd;
	ret = huge_stand_in(hp, 0, size);
	if (ret)
		gmem_hp_unmap(hp);
	return ret;
out:
	/* The mappings keep the memory; the descriptor is not needed again. */
	close(fd);
	return ret;
}

int gmem_hp_map(struct gmem_hp *hp, const char *name, uint64_t gpa, uint64_t block,
		unsigned int nblocks)
{
	return hp_map(hp, name, gpa, block, nblocks, false);
}

int gmem_hp_map_huge(struct gmem_hp *hp, const char *name, uint64_t gpa, uint64_t block,
		     unsigned int nblocks)
{
	return hp_map(hp, name, gpa, block, nblocks, true);
}

void gmem_hp_unmap(struct gmem_hp *hp)
{
	if (hp->size) {
		munmap(hp->guest, hp->size);
		munmap(hp->host, hp->size);
	}
	if (hp->huge && hp->fd >= 0)
		close(hp->fd);
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
	int ret;

	if (first > hp->nblocks || n > hp->nblocks - first)
		return -EINVAL;
	end = first + n;
	while ((run = next_run(hp, &i, end, true))) {
		uint64_t off = (uint64_t)i * hp->block, len = (uint64_t)run * hp->block;

		ret = hp->huge ? huge_acquire(hp, off, len) : 0;
		if (ret)
			return ret;
		if (mprotect(hp->guest + off, len, PROT_READ | PROT_WRITE) < 0) {
			ret = -errno;
			if (hp->huge)
				huge_release(hp, off, len);
			return ret;
		}
		set_bits(hp, i, run, true);
		hp->nplugged += run;
		i += run;
	}
	return 0;
}

int gmem_hp_unplug(struct gmem_hp *hp, unsigned int first, unsigned int n)
{
	unsigned int i = first, end, run;
	int ret = 0, err;

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
		if (hp->huge) {
			err = huge_release(hp, off, len);
			ret = ret ?: err;
		} else if (madvise(hp->host + off, len, MADV_REMOVE) < 0 && !ret) {
			ret = -errno;
		}
		i += run;
	}
	return ret;
}
