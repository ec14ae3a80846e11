/* Unit tests for the x86_64 machine: virtio slots, its legacy devices, the empty PCI bus. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/x86_64/x86.h"

#define SLOT_SIZE 0x1000

static bool overlaps(uint64_t a, uint64_t b, uint64_t len)
{
	return a < b + len && b < a + len;
}

/* A window in the 32-bit MMIO hole, below the IOAPIC, clear of the boot timer. */
static void check_window(uint64_t base)
{
	assert_int_equal(base % SLOT_SIZE, 0);
	assert_true(base >= LAYOUT_MMIO_HOLE);
	assert_true(base + SLOT_SIZE <= LAYOUT_IOAPIC);
	assert_true(base + SLOT_SIZE <= LAYOUT_GPA_LIMIT);
	assert_false(overlaps(base, LAYOUT_BOOT_TIMER, SLOT_SIZE));
}

static void test_slots(void **state)
{
	uint64_t base[32], b;
	uint32_t gsi[32], g;
	unsigned int i, j, n = arch_virtio_slots();

	(void)state;
	assert_int_equal(n, 17);
	for (i = 0; i < n; i++) {
		assert_int_equal(arch_virtio_slot(i, &base[i], &gsi[i]), 0);
		check_window(base[i]);
		/* Lines the PIT (0, 2), keyboard (1), COM1 (4), RTC (8) and SCI (9) keep. */
		assert_true(gsi[i] != 0 && gsi[i] != 1 && gsi[i] != 2 && gsi[i] != 4 &&
			    gsi[i] != 8 && gsi[i] != 9);
		/* The IOAPIC's 24 pins; the ISA lines first, then 16-23 in order. */
		assert_true(gsi[i] < 24);
		assert_true(i < 9 ? gsi[i] < 16 : gsi[i] == 16 + (i - 9));
		for (j = 0; j < i; j++) {
			assert_false(overlaps(base[i], base[j], SLOT_SIZE));
			assert_int_not_equal(gsi[i], gsi[j]);
		}
	}
	assert_int_equal(arch_virtio_slot(n, &b, &g), -ENOSPC);
	assert_int_equal(arch_virtio_slot(UINT32_MAX, &b, &g), -ENOSPC);
}

/* The command line's second windows: exactly the slots below GSI 16, clear of every slot. */
static void test_aliases(void **state)
{
	uint64_t alias[32], base, b;
	uint32_t gsi, g;
	unsigned int i, j, n = arch_virtio_slots(), nalias = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		assert_int_equal(arch_virtio_slot(i, &base, &gsi), 0);
		if (gsi >= 16) {
			assert_int_equal(arch_virtio_alias(i, &alias[i]), -ENOENT);
			continue;
		}
		nalias++;
		assert_int_equal(arch_virtio_alias(i, &alias[i]), 0);
		check_window(alias[i]);
		for (j = 0; j < n; j++) {
			assert_int_equal(arch_virtio_slot(j, &b, &g), 0);
			assert_false(overlaps(alias[i], b, SLOT_SIZE));
			if (j < i && arch_virtio_alias(j, &b) == 0)
				assert_false(overlaps(alias[i], b, SLOT_SIZE));
		}
	}
	assert_int_equal(nalias, 9);
	assert_int_equal(arch_virtio_alias(n, &b), -ENOSPC);
}

/* ---- the legacy devices arch_devices_init places ---- */

/* Power events the devices raised, by kind; interrupt lines are not looked at here. */
static unsigned int events[DEV_BOOTED + 1];

static void on_event(void *opaque, enum dev_event ev)
{
	(void)opaque;
	events[ev]++;
}

static void on_irq(void *opaque, unsigned int irq, int level)
{
	(void)opaque;
	(void)irq;
	(void)level;
}

static const struct dev_host host = { .irq = on_irq, .event = on_event };

struct machine {
	struct arch_vm avm;
	struct bus pio, mmio;
	struct serial console;
	struct boot_timer timer;
};

static void machine_init(struct machine *m, bool with_timer)
{
	struct timespec t = { 0 };
	struct arch_devices d = { .pio = &m->pio, .mmio = &m->mmio, .host = &host,
				  .console = &m->console,
				  .boot_timer = with_timer ? &m->timer : NULL };

	memset(m, 0, sizeof(*m));
	memset(events, 0, sizeof(events));
	bus_init(&m->pio, "pio");
	bus_init(&m->mmio, "mmio");
	serial_init(&m->console, arch_console_irq(), -1, -1, &host);
	boot_timer_init(&m->timer, &t, &t, &host);
	assert_int_equal(arch_devices_init(&m->avm, &d), 0);
}

static void machine_fini(struct machine *m)
{
	arch_devices_exit(&m->avm);
	arch_devices_exit(&m->avm); /* twice is harmless: arch_vm_destroy calls it again */
	serial_destroy(&m->console);
}

static uint8_t inb(struct machine *m, uint16_t port)
{
	uint8_t v = 0;

	assert_true(bus_read(&m->pio, port, &v, 1));
	return v;
}

static void outb(struct machine *m, uint16_t port, uint8_t v)
{
	assert_true(bus_write(&m->pio, port, &v, 1));
}

static void test_devices(void **state)
{
	static struct machine m;
	uint8_t b[4];

	(void)state;
	machine_init(&m, false);
	assert_int_equal(arch_console_irq(), 4);
	assert_int_equal(m.console.irq, 4);
	/* COM1: the scratch register keeps what is written. */
	outb(&m, 0x3ff, 0x5a);
	assert_int_equal(inb(&m, 0x3ff), 0x5a);
	/* The i8042 resets the machine; the CMOS RTC answers its index/data pair. */
	outb(&m, 0x64, 0xfe);
	assert_int_equal(events[DEV_RESET], 1);
	outb(&m, 0x70, 0x0b);
	assert_true(inb(&m, 0x71) & 0x02); /* register B: 24-hour mode */
	/* ACPI PM: SLP_EN with \_S5_'s type powers off; the reset register resets. */
	outb(&m, 0x600, (uint8_t)(0x20 | (ACPI_S5_SLP_TYP << 2)));
	assert_int_equal(events[DEV_POWEROFF], 1);
	outb(&m, 0x602, ACPI_RESET_VALUE);
	assert_int_equal(events[DEV_RESET], 2);
	/* The PCI configuration ports: the address latch reads back. */
	assert_true(bus_write(&m.pio, 0xcf8, (const uint8_t *)"\x08\0\0\x80", 4));
	assert_true(bus_read(&m.pio, 0xcf8, b, 4));
	assert_memory_equal(b, "\x08\0\0\x80", 4);
	assert_true(bus_read(&m.pio, 0xcfc, b, 4));
	assert_memory_equal(b, "\0\0\0\x06", 4);
	/* No boot timer unless asked for. */
	assert_false(bus_read(&m.mmio, LAYOUT_BOOT_TIMER, b, 1));
	machine_fini(&m);

	machine_init(&m, true);
	assert_true(bus_read(&m.mmio, LAYOUT_BOOT_TIMER, b, 1));
	/* The guest's 123 is told once (the boot's milestone); other bytes are not. */
	assert_true(bus_write(&m.mmio, LAYOUT_BOOT_TIMER, (const uint8_t *)"\x01", 1));
	assert_int_equal(events[DEV_BOOTED], 0);
	assert_true(bus_write(&m.mmio, LAYOUT_BOOT_TIMER, (const uint8_t *)"\x7b", 1));
	assert_true(bus_write(&m.mmio, LAYOUT_BOOT_TIMER, (const uint8_t *)"\x7b", 1));
	assert_int_equal(events[DEV_BOOTED], 1);
	machine_fini(&m);
}

/* ---- PCI configuration mechanism #1 in front of an empty bus ---- */

static struct pci_conf pci;
static unsigned int pci_accesses; /* each one a port exit in a guest */

static uint32_t pci_in(uint16_t port, uint32_t len)
{
	uint8_t b[4] = { 0x5a, 0x5a, 0x5a, 0x5a };
	uint32_t v = 0, i;

	pci_accesses++;
	pci_conf_ops.read(&pci, port - PORT_PCI_CONF, b, len);
	for (i = 0; i < len; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

static void pci_out(uint16_t port, uint32_t v, uint32_t len)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	pci_accesses++;
	pci_conf_ops.write(&pci, port - PORT_PCI_CONF, b, len);
}

/* Linux's pci_conf1_read(): address, then the data port at the register's byte offset. */
static uint32_t conf1_read(unsigned int bus, unsigned int devfn, unsigned int reg, uint32_t len)
{
	pci_out(0xcf8, 0x80000000u | bus << 16 | devfn << 8 | (reg & 0xfc), 4);
	return pci_in((uint16_t)(0xcfc + (reg & 3)), len);
}

static void test_pci_conf(void **state)
{
	unsigned int devfn, reg;

	(void)state;
	pci_conf_init(&pci);
	/* The address latch: only a doubleword at 0xcf8, read back as written. */
	assert_int_equal(pci_in(0xcf8, 4), 0);
	pci_out(0xcf8, 0x80001234, 4);
	assert_int_equal(pci_in(0xcf8, 4), 0x80001234);
	pci_out(0xcfb, 0x01, 1);
	pci_out(0xcf8, 0x7777, 2);
	assert_int_equal(pci_in(0xcf8, 4), 0x80001234);
	assert_int_equal(pci_in(0xcf8, 1), 0xff);
	assert_int_equal(pci_in(0xcfa, 2), 0xffff);
	/* Every function of every bus is absent: its vendor ID reads all ones. */
	for (devfn = 0; devfn < 256; devfn++) {
		assert_int_equal(conf1_read(0, devfn, 0x00, 4), 0xffffffff);
		assert_int_equal(conf1_read(0, devfn, 0x00, 2), 0xffff);
	}
	assert_int_equal(conf1_read(1, 0, 0x08, 4), 0xffffffff);
	assert_int_equal(conf1_read(255, 0, 0x08, 4), 0xffffffff);
	/* ...but 00:00.0 names itself a host bridge, in whole and in part, single-function. */
	assert_int_equal(conf1_read(0, 0, 0x08, 4), 0x06000000);
	assert_int_equal(conf1_read(0, 0, 0x0a, 2), 0x0600);
	assert_int_equal(conf1_read(0, 0, 0x0b, 1), 0x06);
	assert_int_equal(conf1_read(0, 0, 0x0e, 1), 0x00);
	for (reg = 0x10; reg < 0x100; reg += 4)
		assert_int_equal(conf1_read(0, 0, reg, 4), 0xffffffff);
	/* Without the enable bit nothing is selected; writes to the data port are lost. */
	pci_out(0xcf8, 0x00000008, 4);
	assert_int_equal(pci_in(0xcfc, 4), 0xffffffff);
	pci_out(0xcf8, 0x80000008, 4);
	pci_out(0xcfc, 0, 4);
	assert_int_equal(pci_in(0xcfc, 4), 0x06000000);
}

/*
 * What Linux 6.1 does with these ports (arch/x86/pci/direct.c, early.c): with
 * pci=conf1,noearly (hull's default) it finds mechanism #1 in 5 accesses;
 * with neither option (a user's own command line) its sanity check stops at
 * 00:00.0 after 2 more instead of reading all 256 functions (1024); an
 * enumeration of bus 0 finds no device.
 */
static void test_pci_linux_probe(void **state)
{
	unsigned int devfn, found = 0;
	uint32_t tmp, x;

	(void)state;
	pci_conf_init(&pci);
	pci_accesses = 0;
	/* pci_check_type1() */
	pci_out(0xcfb, 0x01, 1);
	tmp = pci_in(0xcf8, 4);
	pci_out(0xcf8, 0x80000000, 4);
	assert_int_equal(pci_in(0xcf8, 4), 0x80000000);
	pci_out(0xcf8, tmp, 4);
	assert_int_equal(pci_accesses, 5);
	/* pci_sanity_check() without PCI_NO_CHECKS and without DMI */
	pci_accesses = 0;
	for (devfn = 0; devfn < 256; devfn++) {
		x = conf1_read(0, devfn, 0x0a, 2);
		if (x == 0x0600 || x == 0x0300)
			break;
		x = conf1_read(0, devfn, 0x00, 2);
		if (x == 0x8086 || x == 0x0e11)
			break;
	}
	assert_int_equal(devfn, 0);
	assert_int_equal(pci_accesses, 2);
	/* pci_scan_slot(): a device is there when its vendor ID is not all ones (nor zero). */
	for (devfn = 0; devfn < 256; devfn += 8) {
		x = conf1_read(0, devfn, 0x00, 4);
		if ((x & 0xffff) != 0xffff && (x & 0xffff) != 0)
			found++;
	}
	assert_int_equal(found, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slots),
		cmocka_unit_test(test_aliases),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_pci_conf),
		cmocka_unit_test(test_pci_linux_probe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
