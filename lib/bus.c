/* bus: one address space (port I/O or MMIO) of device ranges, dispatched by address. */
#include "lib/bus.h"

#include <errno.h>
#include <string.h>

void bus_init(struct bus *b, const char *name)
{
	memset(b, 0, sizeof(*b));
	b->name = name;
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, const struct bus_ops *ops, void *dev,
		 const char *name)
{
	unsigned int i, at;

	if (len == 0 || base + len < base || base + len == 0 || !ops)
		return -EINVAL;
	if (b->n >= BUS_MAX_RANGES)
		return -ENOSPC;
	for (i = 0; i < b->n; i++)
		if (base < b->r[i].base + b->r[i].len && b->r[i].base < base + len)
			return -EINVAL;
	for (at = 0; at < b->n && b->r[at].base < base; at++)
		;
	memmove(&b->r[at + 1], &b->r[at], (b->n - at) * sizeof(b->r[0]));
	b->r[at] = (struct bus_range){ base, len, ops, dev, name };
	b->n++;
	return 0;
}

/* Binary search: ranges are sorted and disjoint. */
static const struct bus_range *find(const struct bus *b, uint64_t addr, uint32_t len)
{
	unsigned int lo = 0, hi = b->n;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &b->r[mid];

		if (addr < r->base) {
			hi = mid;
		} else if (addr - r->base >= r->len) {
			lo = mid + 1;
		} else {
			/* An access straddling the end of a range belongs to nobody. */
			if (len > r->len - (addr - r->base))
				return NULL;
			return r;
		}
	}
	return NULL;
}

bool bus_read(const struct bus *b, uint64_t addr, uint8_t *data, uint32_t len)
{
	const struct bus_range *r = find(b, addr, len);

	if (!r || !r->ops->read) {
		memset(data, 0xff, len);
		return r != NULL;
	}
	r->ops->read(r->dev, addr - r->base, data, len);
	return true;
}

bool bus_write(const struct bus *b, uint64_t addr, const uint8_t *data, uint32_t len)
{
	const struct bus_range *r = find(b, addr, len);

	if (!r)
		return false;
	if (r->ops->write)
		r->ops->write(r->dev, addr - r->base, data, len);
	return true;
}
