/* Unit tests for the x86_64 machine: its virtio slots and the legacy devices it puts on the buses. */
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

static unsigned int n_poweroff, n_reset, n_irq;

static void fake_event(void *opaque, enum dev_event ev)
{
	(void)opaque;
	if (ev == DEV_POWEROFF)
		n_poweroff++;
	else if (ev == DEV_RESET)
		n_reset++;
}

static void fake_irq(void *opaque, unsigned int irq, int level)
{
	(void)opaque;
	(void)irq;
	(void)level;
	n_irq++;
}

static const struct dev_host host = { .irq = fake_irq, .event = fake_event };

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
	n_poweroff = n_reset = n_irq = 0;
	bus_init(&m->pio, "pio");
	bus_init(&m->mmio, "mmio");
	serial_init(&m->console, arch_console_irq(), -1, -1, &host);
	boot_timer_init(&m->timer, &t, &t);
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
	assert_int_equal(n_reset, 1);
	outb(&m, 0x70, 0x0b);
	assert_true(inb(&m, 0x71) & 0x02); /* register B: 24-hour mode */
	/* ACPI PM: sleep control with SLP_EN and \_S5_'s type powers off; the reset register resets. */
	outb(&m, 0x600, (uint8_t)(0x20 | (ACPI_S5_SLP_TYP << 2)));
	assert_int_equal(n_poweroff, 1);
	outb(&m, 0x602, ACPI_RESET_VALUE);
	assert_int_equal(n_reset, 2);
	/* No boot timer unless asked for. */
	assert_false(bus_read(&m.mmio, LAYOUT_BOOT_TIMER, b, 1));
	machine_fini(&m);

	machine_init(&m, true);
	assert_true(bus_read(&m.mmio, LAYOUT_BOOT_TIMER, b, 1));
	machine_fini(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slots),
		cmocka_unit_test(test_aliases),
		cmocka_unit_test(test_devices),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
