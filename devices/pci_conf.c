/* pci_conf: PCI configuration mechanism #1 (ports 0xcf8-0xcff) in front of an empty bus. */
#include "devices/devices.h"

#include <string.h>

#define ADDR_ENABLE  0x80000000u
#define ADDR_BUS(a)  (((a) >> 16) & 0xff)
#define ADDR_DEVFN(a) (((a) >> 8) & 0xff)
#define ADDR_REG(a)  ((a) & 0xfc) /* bits 11:8 (AMD's extended registers) are ignored */

#define DATA_PORT    4 /* 0xcfc, from 0xcf8 */

/*
 * The one register that is not all ones: bus 0, device 0, function 0 says
 * "host bridge" in its class code. Linux accepts mechanism #1 on a machine
 * without DMI only once its sanity check (arch/x86/pci/direct.c) sees a
 * host bridge or a known vendor among the 256 functions of bus 0, reading
 * each function's class and vendor: 4 port exits for each absent one, 1024
 * in all. With this it stops at the first. The vendor ID stays all ones, so
 * enumeration (which tests the vendor ID) finds no device at all.
 */
#define HOST_CLASS_REG 0x08
#define HOST_CLASS     0x06000000u /* class 06 (bridge), subclass 00 (host), prog-if 0, rev 0 */
#define HOST_HDR_REG   0x0c        /* header type 0: a single-function device */

void pci_conf_init(struct pci_conf *p)
{
	memset(p, 0, sizeof(*p));
	atomic_init(&p->addr, 0);
}

/* The configuration register the latched address selects: all ones but bus 0's class code. */
static uint32_t config_reg(uint32_t addr)
{
	if (!(addr & ADDR_ENABLE) || ADDR_BUS(addr) || ADDR_DEVFN(addr))
		return 0xffffffffu;
	if (ADDR_REG(addr) == HOST_CLASS_REG)
		return HOST_CLASS;
	if (ADDR_REG(addr) == HOST_HDR_REG)
		return 0;
	return 0xffffffffu;
}

static void pci_conf_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	struct pci_conf *p = dev;
	uint32_t v, i;

	memset(data, 0xff, len);
	if (off == 0 && len == 4) {
		v = atomic_load(&p->addr);
	} else if (off >= DATA_PORT) {
		/* A narrower read at 0xcfc + k takes bytes k.. of the selected dword. */
		v = config_reg(atomic_load(&p->addr)) >> (8 * (off - DATA_PORT));
	} else {
		return; /* bytes and words of 0xcf8-0xcfb are other chipset registers: none here */
	}
	for (i = 0; i < len && i < 4; i++)
		data[i] = (uint8_t)(v >> (8 * i));
}

static void pci_conf_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct pci_conf *p = dev;

	/* Only a doubleword at 0xcf8 is the address; writes to the (absent) registers are lost. */
	if (off == 0 && len == 4)
		atomic_store(&p->addr, (uint32_t)data[0] | (uint32_t)data[1] << 8 |
					       (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24);
}

const struct bus_ops pci_conf_ops = {
	.read = pci_conf_read,
	.write = pci_conf_write,
};
