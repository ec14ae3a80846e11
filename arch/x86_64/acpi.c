/* ACPI tables for a hardware-reduced x86_64 guest: RSDP, XSDT, FADT, DSDT, MADT. */
#include <errno.h>
#include <string.h>

#include "arch/x86_64/acpi.h"

#define HDR_LEN		36
#define RSDP_LEN	36
#define RSDP_V1_LEN	20	/* the part the first checksum covers */
#define FADT_LEN	276
#define MADT_HDR_LEN	44
#define ALIGN		16

#define OEM_ID		"HULL  "
#define OEM_TABLE_ID	"HULLVM  "
#define CREATOR_ID	"HULL"

/* FADT field offsets (ACPI 6.5, table 5.9). */
#define FADT_DSDT		40
#define FADT_SCI_INT		46
#define FADT_IAPC_BOOT_ARCH	109
#define FADT_FLAGS		112
#define FADT_RESET_REG		116
#define FADT_RESET_VALUE	128
#define FADT_MINOR		131
#define FADT_X_DSDT		140
#define FADT_SLEEP_CONTROL	244
#define FADT_SLEEP_STATUS	256
#define FADT_HYPERVISOR_ID	268

#define FADT_F_PWR_BUTTON	(1u << 4)	/* no fixed-feature power button */
#define FADT_F_SLP_BUTTON	(1u << 5)	/* no fixed-feature sleep button */
#define FADT_F_RESET_REG_SUP	(1u << 10)
#define FADT_F_HW_REDUCED	(1u << 20)
#define IAPC_VGA_NOT_PRESENT	(1u << 2)
#define IAPC_CMOS_RTC_NOT_PRESENT (1u << 5)	/* FADT revision 5 and later */

#define GAS_SYSTEM_IO		1
#define GAS_ACCESS_BYTE		1

/*
 * Linux reads an interrupt source override whose source equals the FADT's
 * SCI_INT as the SCI's, even on hardware-reduced platforms (which have no
 * SCI); with SCI_INT left 0 the IRQ0 override would be set up as a
 * level/low "SCI". Naming IRQ 9, as PCs do, keeps IRQ0 -> GSI 2 as is.
 */
#define SCI_IRQ			9

#define MADT_PCAT_COMPAT	1
#define MADT_LAPIC		0
#define MADT_IOAPIC		1
#define MADT_ISO		2
#define MADT_LAPIC_NMI		4
#define MADT_LAPIC_LEN		8
#define MADT_IOAPIC_LEN		12
#define MADT_ISO_LEN		10
#define MADT_NMI_LEN		6
#define MPS_ACTIVE_HIGH		0x1
#define MPS_LEVEL		0xc

#define COM1_PORT	0x3f8
#define COM1_IRQ	4

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

uint8_t acpi_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum = (uint8_t)(sum + *p++);
	return (uint8_t)-sum;
}

static size_t align_up(size_t v)
{
	return (v + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

/* Header with checksum 0; seal() fills it in once the body is written. */
static void header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, OEM_ID, 6);
	memcpy(t + 16, OEM_TABLE_ID, 8);
	put32(t + 24, 1);
	memcpy(t + 28, CREATOR_ID, 4);
	put32(t + 32, 1);
}

static void seal(uint8_t *t, size_t len)
{
	t[9] = 0;
	t[9] = acpi_checksum(t, len);
}

static void gas_io8(uint8_t *g, uint16_t port)
{
	g[0] = GAS_SYSTEM_IO;
	g[1] = 8;
	g[2] = 0;
	g[3] = GAS_ACCESS_BYTE;
	put64(g + 4, port);
}

static void build_rsdp(uint8_t *p, uint64_t xsdt_gpa)
{
	memcpy(p, "RSD PTR ", 8);
	memcpy(p + 9, OEM_ID, 6);
	p[15] = 2;
	put32(p + 16, 0);	/* no RSDT: the XSDT is all an ACPI 2.0+ OS reads */
	put32(p + 20, RSDP_LEN);
	put64(p + 24, xsdt_gpa);
	p[8] = acpi_checksum(p, RSDP_V1_LEN);
	p[32] = acpi_checksum(p, RSDP_LEN);
}

static void build_xsdt(uint8_t *t, uint64_t fadt_gpa, uint64_t madt_gpa)
{
	header(t, "XSDT", HDR_LEN + 16, 1);
	put64(t + HDR_LEN, fadt_gpa);
	put64(t + HDR_LEN + 8, madt_gpa);
	seal(t, HDR_LEN + 16);
}

static void build_fadt(uint8_t *t, const struct acpi_config *cfg, uint64_t dsdt_gpa)
{
	header(t, "FACP", FADT_LEN, 6);
	/* The 32-bit copy must match X_DSDT or be 0; ACPICA warns otherwise. */
	if (dsdt_gpa <= UINT32_MAX)
		put32(t + FADT_DSDT, (uint32_t)dsdt_gpa);
	put16(t + FADT_SCI_INT, SCI_IRQ);
	/*
	 * No CMOS RTC is announced: Linux then registers no rtc_cmos, whose
	 * probe and hctosys cost a guest about 130 port exits per boot; its
	 * wall clock comes from kvmclock. hull still answers at ports
	 * 0x70/0x71, for a kernel booted without ACPI, which finds the clock
	 * there as on any PC. The 8042 flag stays clear so Linux does not probe a
	 * keyboard controller that exists only to reset the VM.
	 */
	put16(t + FADT_IAPC_BOOT_ARCH, IAPC_VGA_NOT_PRESENT | IAPC_CMOS_RTC_NOT_PRESENT);
	put32(t + FADT_FLAGS, FADT_F_HW_REDUCED | FADT_F_RESET_REG_SUP |
				      FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON);
	gas_io8(t + FADT_RESET_REG, (uint16_t)(cfg->pm_port + 2));
	t[FADT_RESET_VALUE] = cfg->reset_value;
	t[FADT_MINOR] = 5;	/* ACPI 6.5 */
	put64(t + FADT_X_DSDT, dsdt_gpa);
	gas_io8(t + FADT_SLEEP_CONTROL, cfg->pm_port);
	gas_io8(t + FADT_SLEEP_STATUS, (uint16_t)(cfg->pm_port + 1));
	memcpy(t + FADT_HYPERVISOR_ID, "HULL    ", 8);
	seal(t, FADT_LEN);
}

static size_t madt_len(unsigned int ncpus)
{
	return MADT_HDR_LEN + (size_t)ncpus * MADT_LAPIC_LEN + MADT_IOAPIC_LEN +
	       2 * MADT_ISO_LEN + MADT_NMI_LEN;
}

static uint8_t *madt_iso(uint8_t *e, uint8_t irq, uint32_t gsi, uint16_t flags)
{
	e[0] = MADT_ISO;
	e[1] = MADT_ISO_LEN;
	e[2] = 0;	/* ISA */
	e[3] = irq;
	put32(e + 4, gsi);
	put16(e + 8, flags);
	return e + MADT_ISO_LEN;
}

static void build_madt(uint8_t *t, const struct acpi_config *cfg)
{
	size_t len = madt_len(cfg->ncpus);
	uint8_t *e = t + MADT_HDR_LEN;
	unsigned int i;

	header(t, "APIC", (uint32_t)len, 6);
	put32(t + HDR_LEN, cfg->lapic_addr);
	/* KVM's in-kernel irqchip includes the dual 8259s. */
	put32(t + HDR_LEN + 4, MADT_PCAT_COMPAT);
	for (i = 0; i < cfg->ncpus; i++, e += MADT_LAPIC_LEN) {
		e[0] = MADT_LAPIC;
		e[1] = MADT_LAPIC_LEN;
		e[2] = (uint8_t)i;	/* processor UID */
		e[3] = (uint8_t)i;	/* APIC id */
		put32(e + 4, 1);	/* enabled */
	}
	e[0] = MADT_IOAPIC;
	e[1] = MADT_IOAPIC_LEN;
	e[2] = (uint8_t)cfg->ncpus;	/* clear of every LAPIC id */
	e[3] = 0;
	put32(e + 4, cfg->ioapic_addr);
	put32(e + 8, 0);
	e += MADT_IOAPIC_LEN;
	/* KVM wires the PIT to IOAPIC pin 2, as PC chipsets do. */
	e = madt_iso(e, 0, 2, 0);
	e = madt_iso(e, SCI_IRQ, SCI_IRQ, MPS_LEVEL | MPS_ACTIVE_HIGH);
	e[0] = MADT_LAPIC_NMI;
	e[1] = MADT_NMI_LEN;
	e[2] = 0xff;	/* all processors */
	put16(e + 3, 0);
	e[5] = 1;	/* LINT1 */
	seal(t, len);
}

/* A device with a fixed _CRS: IO window plus one edge, active-high interrupt. */
static void legacy_dev(struct aml *a, const char *name, const char *eisaid, int uid,
		       uint16_t port, uint8_t nports, uint32_t irq)
{
	aml_device_begin(a, name);
	aml_name(a, "_HID");
	aml_eisaid(a, eisaid);
	if (uid >= 0) {
		aml_name(a, "_UID");
		aml_integer(a, (uint64_t)uid);
	}
	aml_name(a, "_CRS");
	aml_rt_begin(a);
	aml_rt_io(a, port, nports);
	aml_rt_interrupt(a, irq, 0, 0);
	aml_rt_end(a);
	aml_end(a);
}

/*
 * On a hardware-reduced platform Linux installs no legacy PIC, so ISA
 * IRQs get no descriptors unless a device's _CRS names them: COM1 is
 * listed so that 8250 gets a working interrupt. The RTC is not (see the
 * FADT): a PNP0B00 device would bind rtc_cmos whatever the FADT says.
 */
static int build_dsdt_body(struct aml *a, const struct acpi_config *cfg)
{
	static const char hex[] = "0123456789ABCDEF";
	char name[5] = "VR00";
	unsigned int i;

	aml_scope_begin(a, "\\_SB_");
	for (i = 0; i < cfg->ndevs; i++) {
		const struct acpi_mmio_dev *d = &cfg->devs[i];

		name[2] = hex[(i >> 4) & 0xf];
		name[3] = hex[i & 0xf];
		aml_device_begin(a, name);
		aml_name(a, "_HID");
		aml_string(a, d->hid);
		aml_name(a, "_UID");
		aml_integer(a, i);
		aml_name(a, "_CRS");
		aml_rt_begin(a);
		aml_rt_memory32_fixed(a, d->addr, d->size, 1);
		aml_rt_interrupt(a, d->gsi, 0, 0);
		aml_rt_end(a);
		aml_end(a);
	}
	legacy_dev(a, "COM1", "PNP0501", 0, COM1_PORT, 8, COM1_IRQ);
	aml_end(a);
	/* Linux registers ACPI poweroff only when \_S5_ exists. */
	aml_name(a, "_S5_");
	aml_package_begin(a, 2);
	aml_integer(a, cfg->s5_slp_typ);
	aml_integer(a, 0);
	aml_end(a);
	if (!a->error && a->depth)
		return -EINVAL;
	return a->error;
}

static int check_config(const uint8_t *buf, uint64_t base_gpa, const struct acpi_config *cfg,
			const size_t *used)
{
	if (!buf || !cfg || !used)
		return -EINVAL;
	if (cfg->ncpus == 0 || cfg->ncpus > 255)
		return -EINVAL;
	if (base_gpa % ALIGN)
		return -EINVAL;
	/* Device names carry the index in two hex digits. */
	if (cfg->ndevs > 256 || (cfg->ndevs && !cfg->devs))
		return -EINVAL;
	if ((unsigned int)cfg->pm_port + 2 > UINT16_MAX)
		return -EINVAL;
	return 0;
}

int acpi_build(uint8_t *buf, size_t cap, uint64_t base_gpa, const struct acpi_config *cfg,
	       size_t *used)
{
	size_t xsdt, fadt, dsdt, madt, end, dsdt_len;
	struct aml a;
	int err;

	err = check_config(buf, base_gpa, cfg, used);
	if (err)
		return err;
	aml_init(&a);
	if (cfg->alloc)
		a.alloc = cfg->alloc;
	err = build_dsdt_body(&a, cfg);
	if (err)
		goto out;
	dsdt_len = HDR_LEN + a.len;
	xsdt = align_up(RSDP_LEN);
	fadt = align_up(xsdt + HDR_LEN + 16);
	dsdt = align_up(fadt + FADT_LEN);
	madt = align_up(dsdt + dsdt_len);
	end = madt + madt_len(cfg->ncpus);
	if (dsdt_len > UINT32_MAX || end > cap) {
		err = -ENOSPC;
		goto out;
	}
	if (base_gpa > UINT64_MAX - end) {
		err = -EINVAL;
		goto out;
	}
	memset(buf, 0, end);
	build_xsdt(buf + xsdt, base_gpa + fadt, base_gpa + madt);
	build_fadt(buf + fadt, cfg, base_gpa + dsdt);
	header(buf + dsdt, "DSDT", (uint32_t)dsdt_len, 2);
	memcpy(buf + dsdt + HDR_LEN, a.buf, a.len);
	seal(buf + dsdt, dsdt_len);
	build_madt(buf + madt, cfg);
	/* RSDP last: its checksum covers the pointer to the finished XSDT. */
	build_rsdp(buf, base_gpa + xsdt);
	*used = end;
out:
	aml_free(&a);
	return err;
}
