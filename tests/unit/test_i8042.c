/* Unit tests for the i8042 controller (probe and reset) and the ACPI PM sleep/reset registers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "devices/devices.h"

#define STS_OBF 0x01
#define STS_SYS 0x04

static unsigned int n_reset, n_poweroff, n_irq;

static void fake_event(void *opaque, enum dev_event ev)
{
	(void)opaque;
	if (ev == DEV_RESET)
		n_reset++;
	else if (ev == DEV_POWEROFF)
		n_poweroff++;
}

static void fake_irq(void *opaque, unsigned int irq, int level)
{
	(void)opaque;
	(void)irq;
	(void)level;
	n_irq++;
}

static const struct dev_host host = { .irq = fake_irq, .event = fake_event };
static struct i8042 k;

static int setup(void **state)
{
	(void)state;
	n_reset = n_poweroff = n_irq = 0;
	i8042_init(&k, &host);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	i8042_destroy(&k);
	return 0;
}

static uint8_t status(void)
{
	uint8_t v = 0x5a;

	i8042_cmd_ops.read(&k, 0, &v, 1);
	return v;
}

static uint8_t data_in(void)
{
	uint8_t v = 0x5a;

	i8042_data_ops.read(&k, 0, &v, 1);
	return v;
}

static void cmd(uint8_t v)
{
	i8042_cmd_ops.write(&k, 0, &v, 1);
}

static void data_out(uint8_t v)
{
	i8042_data_ops.write(&k, 0, &v, 1);
}

static void test_idle_status(void **state)
{
	(void)state;
	assert_int_equal(status() & STS_OBF, 0);
	assert_int_equal(status() & STS_SYS, STS_SYS);
	assert_int_equal(n_reset, 0);
}

static void test_pulse_reset(void **state)
{
	(void)state;
	cmd(0xfe);
	assert_int_equal(n_reset, 1);
	assert_int_equal(n_poweroff, 0);
}

static void test_outport_reset(void **state)
{
	(void)state;
	/* Bit 0 set: the CPU keeps running. */
	cmd(0xd1);
	data_out(0x03);
	assert_int_equal(n_reset, 0);
	/* Read back what was written. */
	cmd(0xd0);
	assert_int_equal(status() & STS_OBF, STS_OBF);
	assert_int_equal(data_in(), 0x03);
	/* Bit 0 clear: reset. */
	cmd(0xd1);
	data_out(0x02);
	assert_int_equal(n_reset, 1);
	/* The data byte was consumed by the command, not answered as a keyboard byte. */
	assert_int_equal(status() & STS_OBF, 0);
}

static void test_ctr(void **state)
{
	(void)state;
	cmd(0x20);
	assert_int_equal(status() & STS_OBF, STS_OBF);
	assert_int_equal(data_in(), 0x45);
	assert_int_equal(status() & STS_OBF, 0);
	cmd(0x60);
	data_out(0x47);
	assert_int_equal(status() & STS_OBF, 0);
	cmd(0x20);
	assert_int_equal(data_in(), 0x47);
	assert_int_equal(n_reset, 0);
}

static void test_self_tests(void **state)
{
	(void)state;
	cmd(0xaa);
	assert_int_equal(status() & STS_OBF, STS_OBF);
	assert_int_equal(data_in(), 0x55);
	cmd(0xab);
	assert_int_equal(data_in(), 0x00);
	assert_int_equal(status() & STS_OBF, 0);
	/* Reading an empty output buffer gives 0 and leaves OBF clear. */
	assert_int_equal(data_in(), 0x00);
	assert_int_equal(status() & STS_OBF, 0);
}

static void test_keyboard_ack(void **state)
{
	(void)state;
	data_out(0xff); /* keyboard reset */
	assert_int_equal(status() & STS_OBF, STS_OBF);
	assert_int_equal(data_in(), 0xfa);
	assert_int_equal(status() & STS_OBF, 0);
	assert_int_equal(n_reset, 0);
}

static void test_queue_order_and_bound(void **state)
{
	unsigned int i;

	(void)state;
	cmd(0xaa);
	cmd(0x20);
	assert_int_equal(data_in(), 0x55);
	assert_int_equal(data_in(), 0x45);
	/* A guest that never reads cannot grow the queue without bound. */
	for (i = 0; i < 1000; i++)
		cmd(0xaa);
	for (i = 0; i < 1000 && (status() & STS_OBF); i++)
		assert_int_equal(data_in(), 0x55);
	assert_true(i <= sizeof(k.obuf));
	assert_int_equal(status() & STS_OBF, 0);
}

/* --- ACPI PM ------------------------------------------------------------------------ */

static struct acpi_pm pm;

static int pm_setup(void **state)
{
	(void)state;
	n_reset = n_poweroff = 0;
	memset(&pm, 0, sizeof(pm));
	acpi_pm_init(&pm, 5, 0x1, &host);
	return 0;
}

static void pm_write(uint64_t off, uint8_t v)
{
	acpi_pm_ops.write(&pm, off, &v, 1);
}

static void test_pm_poweroff(void **state)
{
	(void)state;
	pm_write(0, (5 << 2) | 0x20);
	assert_int_equal(n_poweroff, 1);
	assert_int_equal(n_reset, 0);
}

static void test_pm_no_poweroff(void **state)
{
	uint8_t typ;

	(void)state;
	/* SLP_TYP 5 without SLP_EN, and every other sleep type with it. */
	pm_write(0, 5 << 2);
	for (typ = 0; typ < 8; typ++)
		if (typ != 5)
			pm_write(0, (uint8_t)((typ << 2) | 0x20));
	/* The right value at the wrong register. */
	pm_write(1, (5 << 2) | 0x20);
	pm_write(2, (5 << 2) | 0x20);
	assert_int_equal(n_poweroff, 0);
	assert_int_equal(n_reset, 0);
}

static void test_pm_reset(void **state)
{
	(void)state;
	pm_write(2, 0x1);
	assert_int_equal(n_reset, 1);
	pm_write(2, 0x2);
	pm_write(2, 0x0);
	pm_write(0, 0x1);
	assert_int_equal(n_reset, 1);
	assert_int_equal(n_poweroff, 0);
}

static void test_pm_read(void **state)
{
	uint8_t v[2] = { 0xff, 0xff };

	(void)state;
	acpi_pm_ops.read(&pm, 1, v, 2);
	assert_int_equal(v[0], 0);
	assert_int_equal(v[1], 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define P(fn) cmocka_unit_test_setup(fn, pm_setup)
	const struct CMUnitTest tests[] = {
		T(test_idle_status),
		T(test_pulse_reset),
		T(test_outport_reset),
		T(test_ctr),
		T(test_self_tests),
		T(test_keyboard_ack),
		T(test_queue_order_and_bound),
		P(test_pm_poweroff),
		P(test_pm_no_poweroff),
		P(test_pm_reset),
		P(test_pm_read),
	};
#undef T
#undef P

	return cmocka_run_group_tests(tests, NULL, NULL);
}
