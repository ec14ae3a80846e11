/* acpi_pm: the hardware-reduced ACPI sleep control, sleep status and reset registers. */
#include "devices/devices.h"

#include <string.h>

#define SLP_EN 0x20
#define SLP_TYP(v) (((v) >> 2) & 0x7)

void acpi_pm_init(struct acpi_pm *p, uint8_t s5_typ, uint8_t reset_value,
		  const struct dev_host *host)
{
	p->s5_typ = s5_typ;
	p->reset_value = reset_value;
	p->host = *host;
}

static void acpi_pm_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	(void)dev;
	(void)off;
	memset(data, 0, len); /* no wake status, nothing pending */
}

static void acpi_pm_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct acpi_pm *p = dev;

	(void)len;
	if (off == 0 && (data[0] & SLP_EN) && SLP_TYP(data[0]) == p->s5_typ)
		p->host.event(p->host.opaque, DEV_POWEROFF);
	else if (off == 2 && data[0] == p->reset_value)
		p->host.event(p->host.opaque, DEV_RESET);
}

const struct bus_ops acpi_pm_ops = {
	.read = acpi_pm_read,
	.write = acpi_pm_write,
};
