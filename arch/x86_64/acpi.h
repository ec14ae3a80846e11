/* ACPI tables for x86_64 guests (RSDP, XSDT, FADT, MADT, DSDT) and the AML encoder. */
#ifndef HULL_ARCH_X86_64_ACPI_H
#define HULL_ARCH_X86_64_ACPI_H

#include <stddef.h>
#include <stdint.h>

/* A device described in the DSDT. */
struct acpi_mmio_dev {
	const char *hid; /* e.g. "LNRO0005" for virtio-mmio */
	uint32_t addr;   /* MMIO window (Memory32Fixed) */
	uint32_t size;
	uint32_t gsi;    /* interrupt (extended interrupt descriptor, edge, active high) */
};

struct acpi_config {
	unsigned int ncpus;     /* LAPIC entries with APIC ids 0..ncpus-1 */
	uint32_t ioapic_addr;
	uint32_t lapic_addr;
	uint16_t pm_port;       /* sleep control at pm_port, status at +1, reset at +2 */
	uint8_t reset_value;
	uint8_t s5_slp_typ;     /* value in \_S5_ */
	const struct acpi_mmio_dev *devs;
	unsigned int ndevs;
	/* The AML encoder's allocator (realloc's contract); NULL for realloc(). */
	void *(*alloc)(void *p, size_t n);
};

/*
 * Write the RSDP at buf[0] (guest-physical base_gpa) followed by XSDT, FADT
 * (hardware-reduced, revision 6, with sleep control/status and reset
 * registers), DSDT and MADT, all with correct lengths and checksums. buf
 * has cap bytes. Returns 0 and sets *used, or -ENOSPC when it does not fit,
 * -EINVAL for a bad config (ncpus 0 or > 255, base_gpa not 16-byte aligned).
 */
int acpi_build(uint8_t *buf, size_t cap, uint64_t base_gpa, const struct acpi_config *cfg,
	       size_t *used);

/* ACPI table checksum: the byte that makes the sum of len bytes zero. */
uint8_t acpi_checksum(const uint8_t *p, size_t len);

/*
 * AML encoder: a growable byte buffer. Each aml_* call appends one encoded
 * term; containers (scope, device, package, buffer) are opened with *_begin
 * and closed with aml_end, which back-patches the PkgLength. The first error
 * sticks in a->error and later calls do nothing.
 */
#define AML_MAX_DEPTH 16

struct aml {
	uint8_t *buf;
	size_t len;
	size_t cap;
	size_t open[AML_MAX_DEPTH]; /* offsets of open PkgLength fields */
	unsigned int depth;
	int error;
	void *(*alloc)(void *p, size_t n); /* realloc(), unless a test injects failures */
};

void aml_init(struct aml *a);
void aml_free(struct aml *a);
/* NameSeg paths like "_SB_", "\\_SB_.VR00", "_HID" (segments padded with '_'). */
void aml_name(struct aml *a, const char *name);              /* NameOp NameString (then a data object) */
void aml_integer(struct aml *a, uint64_t v);                 /* Zero/One/Byte/Word/DWord/QWord const */
void aml_string(struct aml *a, const char *s);
void aml_eisaid(struct aml *a, const char *id);              /* "PNP0501" -> DWordConst */
void aml_scope_begin(struct aml *a, const char *name);
void aml_device_begin(struct aml *a, const char *name);
void aml_package_begin(struct aml *a, uint8_t nelems);
void aml_end(struct aml *a);
/* Buffer holding a resource template; end with aml_rt_end (adds EndTag). */
void aml_rt_begin(struct aml *a);
void aml_rt_memory32_fixed(struct aml *a, uint32_t base, uint32_t len, int writable);
void aml_rt_interrupt(struct aml *a, uint32_t gsi, int level, int active_low);
void aml_rt_io(struct aml *a, uint16_t base, uint8_t len);
void aml_rt_end(struct aml *a);

#endif
