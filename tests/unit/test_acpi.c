/* Unit tests for the ACPI tables: build, then parse back as a guest kernel would. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch/arch.h"
#include "arch/x86_64/acpi.h"
#include "arch/x86_64/layout.h"

/* An allocator that always fails, injected where the encoder allocates. */
static void *no_alloc(void *p, size_t n)
{
	(void)p;
	(void)n;
	return NULL;
}

#define BASE LAYOUT_ACPI

static const struct acpi_mmio_dev devs[3] = {
	{ "LNRO0005", 0xfe001000, 0x1000, 5 },
	{ "LNRO0005", 0xfe002000, 0x1000, 6 },
	{ "LNRO0005", 0xfe003000, 0x1000, 7 },
};

static struct acpi_config config(unsigned int ncpus, unsigned int ndevs)
{
	struct acpi_config c = {
		.ncpus = ncpus,
		.ioapic_addr = LAYOUT_IOAPIC,
		.lapic_addr = LAYOUT_LAPIC,
		.pm_port = PORT_ACPI_PM,
		.reset_value = ACPI_RESET_VALUE,
		.s5_slp_typ = ACPI_S5_SLP_TYP,
		.devs = devs,
		.ndevs = ndevs,
	};
	return c;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* Translates a table pointer back into buf and checks the table's header. */
static const uint8_t *table(const uint8_t *buf, size_t used, uint64_t base, uint64_t gpa,
			    const char *sig)
{
	const uint8_t *t;
	uint32_t len;

	assert_true(gpa >= base && gpa - base + 36 <= used);
	assert_int_equal((gpa - base) % 8, 0);
	t = buf + (gpa - base);
	assert_memory_equal(t, sig, 4);
	len = get32(t + 4);
	assert_true(len >= 36 && gpa - base + len <= used);
	assert_int_equal(sum(t, len), 0);
	assert_memory_equal(t + 10, "HULL  ", 6);
	assert_memory_equal(t + 16, "HULLVM  ", 8);
	assert_memory_equal(t + 28, "HULL", 4);
	return t;
}

static size_t count(const uint8_t *p, size_t len, const char *needle)
{
	size_t n = 0, k = strlen(needle), i;

	for (i = 0; i + k <= len; i++)
		if (!memcmp(p + i, needle, k))
			n++;
	return n;
}

static void check_gas_io8(const uint8_t *g, uint16_t port)
{
	assert_int_equal(g[0], 1);	/* System I/O */
	assert_int_equal(g[1], 8);
	assert_int_equal(g[2], 0);
	assert_int_equal(g[3], 1);	/* byte access */
	assert_int_equal(get64(g + 4), port);
}

static void check_madt(const uint8_t *t, const struct acpi_config *c)
{
	uint32_t len = get32(t + 4);
	unsigned int lapics = 0, ioapics = 0, isos = 0, nmis = 0;
	uint32_t off;

	assert_int_equal(get32(t + 36), c->lapic_addr);
	assert_int_equal(get32(t + 40), 1);	/* PCAT_COMPAT */
	for (off = 44; off < len; off += t[off + 1]) {
		const uint8_t *e = t + off;

		assert_true(e[1] >= 2 && off + e[1] <= len);
		switch (e[0]) {
		case 0:
			assert_int_equal(e[1], 8);
			assert_int_equal(e[2], lapics);
			assert_int_equal(e[3], lapics);
			assert_int_equal(get32(e + 4), 1);
			lapics++;
			break;
		case 1:
			assert_int_equal(e[1], 12);
			assert_int_equal(e[2], c->ncpus);
			assert_int_equal(get32(e + 4), c->ioapic_addr);
			assert_int_equal(get32(e + 8), 0);
			ioapics++;
			break;
		case 2:
			assert_int_equal(e[1], 10);
			assert_int_equal(e[2], 0);
			if (e[3] == 0) {
				assert_int_equal(get32(e + 4), 2);
				assert_int_equal(get16(e + 8), 0);
			} else {
				assert_int_equal(e[3], 9);
				assert_int_equal(get32(e + 4), 9);
				assert_int_equal(get16(e + 8), 0xd);	/* level, active high */
			}
			isos++;
			break;
		case 4:
			assert_int_equal(e[1], 6);
			assert_int_equal(e[2], 0xff);
			assert_int_equal(e[5], 1);	/* LINT1 */
			nmis++;
			break;
		default:
			fail_msg("unexpected MADT entry type %u", e[0]);
		}
	}
	assert_int_equal(off, len);
	assert_int_equal(lapics, c->ncpus);
	assert_int_equal(ioapics, 1);
	assert_int_equal(isos, 2);
	assert_int_equal(nmis, 1);
}

static void check_build(unsigned int ncpus, unsigned int ndevs, uint64_t base)
{
	struct acpi_config c = config(ncpus, ndevs);
	const uint8_t *xsdt, *fadt, *dsdt, *madt;
	uint8_t *buf = malloc(LAYOUT_ACPI_SIZE);
	size_t used = 0;
	uint32_t flags;

	assert_non_null(buf);
	assert_int_equal(acpi_build(buf, LAYOUT_ACPI_SIZE, base, &c, &used), 0);
	assert_true(used > 36 && used <= LAYOUT_ACPI_SIZE);

	/* RSDP: ACPI 2.0+, both checksums, XSDT only. */
	assert_memory_equal(buf, "RSD PTR ", 8);
	assert_int_equal(sum(buf, 20), 0);
	assert_int_equal(sum(buf, 36), 0);
	assert_memory_equal(buf + 9, "HULL  ", 6);
	assert_int_equal(buf[15], 2);
	assert_int_equal(get32(buf + 20), 36);
	xsdt = table(buf, used, base, get64(buf + 24), "XSDT");
	assert_int_equal(get32(xsdt + 4), 36 + 16);

	fadt = table(buf, used, base, get64(xsdt + 36), "FACP");
	madt = table(buf, used, base, get64(xsdt + 44), "APIC");
	assert_int_equal(get32(fadt + 4), 276);
	assert_int_equal(fadt[8], 6);	/* the CMOS RTC flag below needs revision 5 or later */
	flags = get32(fadt + 112);
	assert_true(flags & (1u << 20));	/* HW_REDUCED_ACPI */
	assert_true(flags & (1u << 10));	/* RESET_REG_SUP */
	assert_false(flags & (1u << 8));	/* no PM timer */
	/* VGA and the CMOS RTC absent (no rtc_cmos probe), no 8042 flag */
	assert_int_equal(get16(fadt + 109), 1u << 2 | 1u << 5);
	check_gas_io8(fadt + 116, PORT_ACPI_PM + 2);
	assert_int_equal(fadt[128], ACPI_RESET_VALUE);
	check_gas_io8(fadt + 244, PORT_ACPI_PM);
	check_gas_io8(fadt + 256, PORT_ACPI_PM + 1);
	assert_memory_equal(fadt + 268, "HULL    ", 8);

	dsdt = table(buf, used, base, get64(fadt + 140), "DSDT");
	assert_int_equal(get32(fadt + 40),
			 get64(fadt + 140) <= UINT32_MAX ? get64(fadt + 140) : 0);
	assert_int_equal(count(dsdt, get32(dsdt + 4), "\x0dLNRO0005"), ndevs);
	assert_int_equal(count(dsdt, get32(dsdt + 4), "_S5_\x12\x05\x02\x0a\x05\x00"), 1);
	assert_int_equal(count(dsdt, get32(dsdt + 4), "\x0c\x41\xd0\x05\x01"), 1);	/* COM1 */
	assert_int_equal(count(dsdt, get32(dsdt + 4), "\x0c\x41\xd0\x0b\x00"), 0);	/* no RTC */
	if (ndevs)
		assert_int_equal(count(dsdt, get32(dsdt + 4), "VR02"), 1);

	check_madt(madt, &c);
	free(buf);
}

static void test_build_shapes(void **state)
{
	static const unsigned int cpus[] = { 1, 4, 255 };
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		check_build(cpus[i], 0, BASE);
		check_build(cpus[i], 3, BASE);
	}
	/* Above 4 GiB the 32-bit DSDT pointer must stay 0. */
	check_build(2, 3, 0x100000000ULL);
}

/* Every cap below the need fails cleanly; ASan sees any write past cap. */
static void test_small_caps(void **state)
{
	struct acpi_config c = config(4, 3);
	uint8_t *big = malloc(LAYOUT_ACPI_SIZE);
	size_t need = 0, used, cap;

	(void)state;
	assert_non_null(big);
	assert_int_equal(acpi_build(big, LAYOUT_ACPI_SIZE, BASE, &c, &need), 0);
	free(big);
	for (cap = 0; cap <= need; cap++) {
		uint8_t *buf = malloc(cap ? cap : 1);

		assert_non_null(buf);
		used = 12345;
		if (cap < need) {
			assert_int_equal(acpi_build(buf, cap, BASE, &c, &used), -ENOSPC);
			assert_int_equal(used, 12345);
		} else {
			assert_int_equal(acpi_build(buf, cap, BASE, &c, &used), 0);
			assert_int_equal(used, need);
		}
		free(buf);
	}
}

static void test_bad_config(void **state)
{
	static const struct acpi_mmio_dev nohid = { NULL, 0xfe001000, 0x1000, 5 };
	static const struct acpi_mmio_dev badhid = { "LNRO\xff", 0xfe001000, 0x1000, 5 };
	uint8_t *buf = malloc(LAYOUT_ACPI_SIZE);
	struct acpi_config c;
	size_t used;

	(void)state;
	assert_non_null(buf);
	c = config(0, 0);
	assert_int_equal(acpi_build(buf, LAYOUT_ACPI_SIZE, BASE, &c, &used), -EINVAL);
	c = config(256, 0);
	assert_int_equal(acpi_build(buf, LAYOUT_ACPI_SIZE, BASE, &c, &used), -EINVAL);
	c = config(1, 0);
	assert_int_equal(acpi_build(buf, LAYOUT_ACPI_SIZE, BASE + 8, &c, &used), -EINVAL);
	assert_int_equal(acpi_build(buf, LAYOUT_ACPI_SIZE, BASE, NULL, &used), -EINVAL);
	assert_int_equal(acpi_build(NULL, LAYOUT_ACPI_SIZE, BASE, &c, &used), -EINVAL);
	assert_int_equal(acpi_build(buf, LAYOUT_ACPI_SIZE, BASE, &c, NULL), -EINVAL);
	assert_int_equal(acpi_build(buf, LAYOUT_ACPI_SIZE, UINT64_MAX & ~15ULL, &c, &used),
			 -EINVAL);
	c = config(1, 3);
	c.devs = NULL;
	assert_int_equal(acpi_build(buf, LAYOUT_ACPI_SIZE, BASE, &c, &used), -EINVAL);
	c.devs = &nohid;
	c.ndevs = 1;
	assert_int_equal(acpi_build(buf, LAYOUT_ACPI_SIZE, BASE, &c, &used), -EINVAL);
	c.devs = &badhid;
	assert_int_equal(acpi_build(buf, LAYOUT_ACPI_SIZE, BASE, &c, &used), -EINVAL);
	c = config(1, 0);
	c.pm_port = 0xfffe;
	assert_int_equal(acpi_build(buf, LAYOUT_ACPI_SIZE, BASE, &c, &used), -EINVAL);
	free(buf);
}

/* Device names carry two hex digits: 256 devices fit, 257 do not. */
static void test_many_devices(void **state)
{
	struct acpi_mmio_dev *many = calloc(257, sizeof(*many));
	uint8_t *buf = malloc(LAYOUT_ACPI_SIZE);
	struct acpi_config c = config(1, 256);
	size_t used, i;

	(void)state;
	assert_non_null(many);
	assert_non_null(buf);
	for (i = 0; i < 257; i++)
		many[i] = (struct acpi_mmio_dev){ "LNRO0005", 0xfe001000 + 0x1000 * (uint32_t)i,
						  0x1000, 5 };
	c.devs = many;
	assert_int_equal(acpi_build(buf, LAYOUT_ACPI_SIZE, BASE, &c, &used), 0);
	assert_true(count(buf, used, "VRFF") == 1);
	assert_true(count(buf, used, "\x0dLNRO0005") == 256);
	c.ndevs = 257;
	assert_int_equal(acpi_build(buf, LAYOUT_ACPI_SIZE, BASE, &c, &used), -EINVAL);
	free(buf);
	free(many);
}

static void test_enomem(void **state)
{
	struct acpi_config c = config(1, 3);
	uint8_t buf[4096];
	size_t used;

	(void)state;
	c.alloc = no_alloc;
	assert_int_equal(acpi_build(buf, sizeof(buf), BASE, &c, &used), -ENOMEM);
}

/* ---- the DSDT parsed back, as ACPICA reads the subset hull writes ---- */

struct parsed_dev {
	char name[5];
	char hid[16];      /* a string _HID, or "EISA:xxxxxxxx" */
	int64_t uid;       /* -1: none */
	unsigned int nmem, nirq, nio;
	uint32_t mem_base, mem_len, mem_rw;
	uint32_t irq, irq_flags, irq_count;
	uint16_t io_base;
};

struct parser {
	const uint8_t *p, *end;
};

static uint8_t take(struct parser *ps)
{
	assert_true(ps->p < ps->end);
	return *ps->p++;
}

/* PkgLength: returns the end of the package it opens (it counts itself). */
static const uint8_t *pkg_end(struct parser *ps)
{
	const uint8_t *start = ps->p;
	uint8_t lead = take(ps);
	unsigned int n = lead >> 6, i;
	uint32_t len = n ? lead & 0xf : lead & 0x3f;

	for (i = 0; i < n; i++)
		len |= (uint32_t)take(ps) << (4 + 8 * i);
	assert_true(start + len <= ps->end);
	return start + len;
}

static uint64_t integer(struct parser *ps)
{
	uint8_t op = take(ps);
	unsigned int n = 0, i;
	uint64_t v = 0;

	switch (op) {
	case 0x00:
		return 0;
	case 0x01:
		return 1;
	case 0x0a:
		n = 1;
		break;
	case 0x0b:
		n = 2;
		break;
	case 0x0c:
		n = 4;
		break;
	case 0x0e:
		n = 8;
		break;
	default:
		fail_msg("not an integer: opcode 0x%02x", op);
	}
	for (i = 0; i < n; i++)
		v |= (uint64_t)take(ps) << (8 * i);
	return v;
}

static void name_seg(struct parser *ps, char out[5])
{
	unsigned int i;

	for (i = 0; i < 4; i++)
		out[i] = (char)take(ps);
	out[4] = '\0';
}

/* A resource template: Memory32Fixed, Extended Interrupt, IO, then the EndTag. */
static void resources(const uint8_t *p, const uint8_t *end, struct parsed_dev *d)
{
	for (;;) {
		assert_true(p < end);
		if (*p == 0x79) {	/* EndTag */
			assert_true(p + 2 == end);
			return;
		}
		if (*p == 0x47) {	/* IO, 16-bit decode */
			assert_true(p + 8 <= end);
			assert_int_equal(p[1], 1);
			d->io_base = get16(p + 2);
			assert_int_equal(get16(p + 4), d->io_base);
			d->nio++;
			p += 8;
			continue;
		}
		assert_true(*p & 0x80);	/* a large item */
		assert_true(p + 3 <= end && p + 3 + get16(p + 1) <= end);
		if (*p == 0x86) {
			assert_int_equal(get16(p + 1), 9);
			d->mem_rw = p[3];
			d->mem_base = get32(p + 4);
			d->mem_len = get32(p + 8);
			d->nmem++;
		} else if (*p == 0x89) {
			assert_int_equal(get16(p + 1), 6);
			d->irq_flags = p[3];
			d->irq_count = p[4];
			d->irq = get32(p + 5);
			d->nirq++;
		} else {
			fail_msg("unexpected resource descriptor 0x%02x", *p);
		}
		p += 3 + get16(p + 1);
	}
}

/* Name(_XXX, data) inside a device. */
static void device_name(struct parser *ps, struct parsed_dev *d)
{
	char seg[5];
	const uint8_t *end;
	uint64_t size;

	name_seg(ps, seg);
	if (!strcmp(seg, "_HID")) {
		if (*ps->p == 0x0d) {
			size_t n;

			take(ps);
			n = strnlen((const char *)ps->p, (size_t)(ps->end - ps->p));
			assert_true(n < sizeof(d->hid) && ps->p + n < ps->end);
			memcpy(d->hid, ps->p, n + 1);
			ps->p += n + 1;
		} else {
			snprintf(d->hid, sizeof(d->hid), "EISA:%08x", (unsigned int)integer(ps));
		}
	} else if (!strcmp(seg, "_UID")) {
		d->uid = (int64_t)integer(ps);
	} else if (!strcmp(seg, "_CRS")) {
		assert_int_equal(take(ps), 0x11);	/* BufferOp */
		end = pkg_end(ps);
		size = integer(ps);
		assert_true(ps->p + size == end);
		resources(ps->p, end, d);
		ps->p = end;
	} else {
		fail_msg("unexpected name %s in a device", seg);
	}
}

/* Walk the DSDT's body: Scope(\_SB_) { Device()... } then Name(_S5_, Package). */
static unsigned int parse_dsdt(const uint8_t *dsdt, struct parsed_dev *out, unsigned int max)
{
	struct parser ps = { dsdt + 36, dsdt + get32(dsdt + 4) };
	const uint8_t *scope_end;
	unsigned int n = 0;

	assert_int_equal(take(&ps), 0x10);	/* ScopeOp */
	scope_end = pkg_end(&ps);
	assert_int_equal(take(&ps), '\\');
	assert_memory_equal(ps.p, "_SB_", 4);
	ps.p += 4;
	while (ps.p < scope_end) {
		struct parser dev;
		const uint8_t *dev_end;

		assert_int_equal(take(&ps), 0x5b);	/* ExtOpPrefix */
		assert_int_equal(take(&ps), 0x82);	/* DeviceOp */
		dev_end = pkg_end(&ps);
		assert_true(n < max);
		memset(&out[n], 0, sizeof(out[n]));
		out[n].uid = -1;
		dev = (struct parser){ ps.p, dev_end };
		name_seg(&dev, out[n].name);
		while (dev.p < dev_end) {
			assert_int_equal(take(&dev), 0x08);	/* NameOp */
			device_name(&dev, &out[n]);
		}
		ps.p = dev_end;
		n++;
	}
	assert_true(ps.p == scope_end);
	assert_int_equal(take(&ps), 0x08);
	assert_memory_equal(ps.p, "_S5_", 4);
	return n;
}

/* Every virtio slot the machine has, announced as hull's boot stage does. */
static void test_dsdt_every_slot(void **state)
{
	struct acpi_mmio_dev *slots;
	struct parsed_dev parsed[32];
	uint8_t *buf = malloc(LAYOUT_ACPI_SIZE);
	struct acpi_config c = config(2, 0);
	unsigned int i, n, nslots = arch_virtio_slots(), high = 0;
	const uint8_t *xsdt, *fadt, *dsdt;
	size_t used;

	(void)state;
	assert_int_equal(nslots, 17);
	slots = calloc(nslots, sizeof(*slots));
	assert_non_null(slots);
	assert_non_null(buf);
	for (i = 0; i < nslots; i++) {
		uint64_t base;
		uint32_t gsi;

		assert_int_equal(arch_virtio_slot(i, &base, &gsi), 0);
		slots[i] = (struct acpi_mmio_dev){ "LNRO0005", (uint32_t)base, 0x1000, gsi };
	}
	c.devs = slots;
	c.ndevs = nslots;
	assert_int_equal(acpi_build(buf, LAYOUT_ACPI_SIZE, BASE, &c, &used), 0);
	xsdt = table(buf, used, BASE, get64(buf + 24), "XSDT");
	fadt = table(buf, used, BASE, get64(xsdt + 36), "FACP");
	dsdt = table(buf, used, BASE, get64(fadt + 140), "DSDT");

	n = parse_dsdt(dsdt, parsed, 32);
	assert_int_equal(n, nslots + 1); /* the MMIO slots and COM1: no RTC (see the FADT) */
	for (i = 0; i < nslots; i++) {
		char name[5];

		snprintf(name, sizeof(name), "VR%02X", i & 0xff);
		assert_string_equal(parsed[i].name, name);
		assert_string_equal(parsed[i].hid, "LNRO0005");
		assert_int_equal(parsed[i].uid, i);
		assert_int_equal(parsed[i].nmem, 1);
		assert_int_equal(parsed[i].mem_base, slots[i].addr);
		assert_int_equal(parsed[i].mem_len, 0x1000);
		assert_int_equal(parsed[i].mem_rw, 1);
		assert_int_equal(parsed[i].nirq, 1);
		assert_int_equal(parsed[i].irq_count, 1);
		/* Consumer, edge-triggered, active high, exclusive: as irqfd pulses the line. */
		assert_int_equal(parsed[i].irq_flags, 0x03);
		assert_int_equal(parsed[i].irq, slots[i].gsi);
		assert_int_equal(parsed[i].nio, 0);
		if (parsed[i].irq >= 16)
			high++;
	}
	/* GSIs 16-23 reach the guest only through these 32-bit descriptors. */
	assert_int_equal(high, 8);
	assert_string_equal(parsed[nslots].name, "COM1");
	assert_string_equal(parsed[nslots].hid, "EISA:0105d041");	/* PNP0501 */
	assert_int_equal(parsed[nslots].io_base, 0x3f8);
	assert_int_equal(parsed[nslots].irq, 4);
	free(slots);
	free(buf);
}

static void test_checksum(void **state)
{
	uint8_t b[5] = { 1, 2, 3, 4, 0 };

	(void)state;
	b[4] = acpi_checksum(b, 4);
	assert_int_equal(b[4], 0xf6);
	assert_int_equal(sum(b, 5), 0);
	assert_int_equal(acpi_checksum(b, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_shapes),
		cmocka_unit_test(test_small_caps),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_many_devices),
		cmocka_unit_test(test_enomem),
		cmocka_unit_test(test_checksum),
		cmocka_unit_test(test_dsdt_every_slot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
