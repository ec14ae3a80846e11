/* pvh: the PVH boot ABI's start info, module list (initrd) and memory map. */
#include <errno.h>
#include <string.h>

#include "arch/x86_64/x86.h"

#define PVH_MODLIST (LAYOUT_PVH_INFO + 0x40)
#define PVH_MEMMAP (LAYOUT_PVH_INFO + 0x80)
#define PVH_MEMMAP_MAX 16

int x86_pvh_write(const struct gmem *m, uint64_t cmdline_gpa, uint64_t initrd_gpa,
		  uint64_t initrd_len, const struct e820_entry *e820, unsigned int ne820,
		  uint64_t rsdp_gpa)
{
	struct pvh_start_info si = {
		.magic = PVH_START_MAGIC,
		.version = 1,
		.cmdline_paddr = cmdline_gpa,
		.rsdp_paddr = rsdp_gpa,
		.memmap_paddr = PVH_MEMMAP,
		.memmap_entries = ne820,
	};
	struct pvh_memmap_entry map[PVH_MEMMAP_MAX];
	unsigned int i;
	int ret;

	if (ne820 > PVH_MEMMAP_MAX)
		return -EINVAL;
	memset(map, 0, sizeof(map));
	for (i = 0; i < ne820; i++)
		map[i] = (struct pvh_memmap_entry){ e820[i].addr, e820[i].size, e820[i].type, 0 };
	if (initrd_len) {
		struct pvh_module mod = { .paddr = initrd_gpa, .size = initrd_len };

		si.nr_modules = 1;
		si.modlist_paddr = PVH_MODLIST;
		ret = gmem_write(m, PVH_MODLIST, &mod, sizeof(mod));
		if (ret)
			return ret;
	}
	ret = gmem_write(m, PVH_MEMMAP, map, ne820 * sizeof(map[0]));
	if (ret)
		return ret;
	return gmem_write(m, LAYOUT_PVH_INFO, &si, sizeof(si));
}
