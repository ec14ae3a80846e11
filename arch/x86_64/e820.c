/* e820: the x86 guest memory map handed to the kernel (zero page or PVH memmap). */
#include <errno.h>

#include "arch/x86_64/x86.h"

static int add(struct e820_entry *out, unsigned int max, unsigned int *n, uint64_t addr,
	       uint64_t end, uint32_t type)
{
	if (end <= addr)
		return 0;
	if (*n >= max)
		return -ENOSPC;
	out[(*n)++] = (struct e820_entry){ .addr = addr, .size = end - addr, .type = type };
	return 0;
}

int x86_e820_build(const struct gmem *m, struct e820_entry *out, unsigned int max)
{
	unsigned int i, n = 0;
	int ret = 0;

	for (i = 0; i < m->n && !ret; i++) {
		uint64_t start = m->r[i].gpa, end = m->r[i].gpa + m->r[i].size;

		if (start < LAYOUT_HIMEM) {
			/* Below 1 MiB: the EBDA and the BIOS area are not RAM to the guest. */
			ret = add(out, max, &n, start, end < LAYOUT_EBDA ? end : LAYOUT_EBDA, E820_RAM);
			if (!ret && end > LAYOUT_ACPI)
				ret = add(out, max, &n, LAYOUT_ACPI, end < LAYOUT_HIMEM ? end : LAYOUT_HIMEM,
					  E820_RESERVED);
			start = LAYOUT_HIMEM;
		}
		if (!ret)
			ret = add(out, max, &n, start, end, E820_RAM);
	}
	/*
	 * The hotplug region (above all RAM, so the map stays sorted): reserved, never RAM. Linux
	 * leaves a reserved range to whoever claims it: its virtio-mem driver does, and adds the
	 * blocks it plugs as hotplugged memory.
	 */
	if (!ret && m->hp && m->hp->size)
		ret = add(out, max, &n, m->hp->gpa, m->hp->gpa + m->hp->size, E820_RESERVED);
	return ret ? ret : (int)n;
}
