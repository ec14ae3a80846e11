/* Unit tests for vCPU exit handling, fed hand-made kvm_run exits (no KVM needed). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/vm.h"

#define RUN_SIZE 4096
#define DATA_OFF 1024 /* where fake port I/O data lives inside kvm_run */

/* A device that logs every access and answers reads with 0x40 + access number. */
struct fake {
	unsigned int n;
	struct {
		bool write;
		uint64_t off;
		uint32_t len;
		uint8_t data[8];
	} log[64];
};

static void fake_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	struct fake *f = dev;
	uint32_t i;

	if (f->n < 64)
		f->log[f->n] = (typeof(f->log[0])){ .write = false, .off = off, .len = len };
	for (i = 0; i < len; i++)
		data[i] = (uint8_t)(0x40 + f->n);
	f->n++;
}

static void fake_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct fake *f = dev;

	if (f->n < 64) {
		f->log[f->n] = (typeof(f->log[0])){ .write = true, .off = off, .len = len };
		memcpy(f->log[f->n].data, data, len);
	}
	f->n++;
}

static const struct bus_ops fake_ops = { .read = fake_read, .write = fake_write };

struct fixture {
	struct vm *vm;
	struct vcpu vcpu;
	struct fake port, mmio;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->vm = calloc(1, sizeof(*fx->vm));
	if (!fx->vm)
		return -1;
	bus_init(&fx->vm->pio, "pio");
	bus_init(&fx->vm->mmio, "mmio");
	if (bus_register(&fx->vm->pio, 0x3f8, 8, &fake_ops, &fx->port, "port") ||
	    bus_register(&fx->vm->mmio, 0xfe000000, 0x1000, &fake_ops, &fx->mmio, "mmio"))
		return -1;
	fx->vm->stop_fd = eventfd(0, EFD_NONBLOCK);
	if (fx->vm->stop_fd < 0)
		return -1;
	atomic_init(&fx->vm->state, VM_RUNNING);
	fx->vcpu.vm = fx->vm;
	fx->vcpu.fd = -1;
	fx->vcpu.run = calloc(1, RUN_SIZE);
	fx->vcpu.run_size = RUN_SIZE;
	if (!fx->vcpu.run)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	close(fx->vm->stop_fd);
	free(fx->vcpu.run);
	free(fx->vm);
	free(fx);
	return 0;
}

static enum vcpu_action handle(struct fixture *fx)
{
	return vcpu_handle_exit(fx->vm, &fx->vcpu);
}

static int state_of(struct fixture *fx)
{
	return atomic_load(&fx->vm->state);
}

/* The event loop was woken exactly when a stop was requested. */
static bool stop_signalled(struct fixture *fx)
{
	eventfd_t v = 0;

	return eventfd_read(fx->vm->stop_fd, &v) == 0 && v > 0;
}

static void set_io(struct fixture *fx, uint8_t dir, uint8_t size, uint16_t port, uint32_t count,
		   uint64_t off)
{
	struct kvm_run *run = fx->vcpu.run;

	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = dir;
	run->io.size = size;
	run->io.port = port;
	run->io.count = count;
	run->io.data_offset = off;
}

static void assert_running(struct fixture *fx)
{
	assert_int_equal(state_of(fx), VM_RUNNING);
	assert_false(stop_signalled(fx));
}

static void assert_error_stop(struct fixture *fx, enum vcpu_action a)
{
	assert_int_equal(a, VCPU_STOP);
	assert_int_equal(state_of(fx), VM_ERROR);
	assert_int_equal(fx->vm->exit_status, VM_EXIT_ERROR);
	assert_true(stop_signalled(fx));
}

static void test_io_out(void **state)
{
	struct fixture *fx = *state;
	uint8_t *data = (uint8_t *)fx->vcpu.run + DATA_OFF;
	unsigned int size;

	for (size = 1; size <= 4; size *= 2) {
		fx->port.n = 0;
		memcpy(data, "\x11\x22\x33\x44", 4);
		set_io(fx, KVM_EXIT_IO_OUT, (uint8_t)size, 0x3f9, 1, DATA_OFF);
		assert_int_equal(handle(fx), VCPU_CONTINUE);
		assert_int_equal(fx->port.n, 1);
		assert_true(fx->port.log[0].write);
		assert_int_equal(fx->port.log[0].off, 1);
		assert_int_equal(fx->port.log[0].len, size);
		assert_memory_equal(fx->port.log[0].data, "\x11\x22\x33\x44", size);
	}
	assert_running(fx);
}

static void test_io_in(void **state)
{
	struct fixture *fx = *state;
	uint8_t *data = (uint8_t *)fx->vcpu.run + DATA_OFF;

	memset(data, 0, 8);
	set_io(fx, KVM_EXIT_IO_IN, 2, 0x3f8, 1, DATA_OFF);
	assert_int_equal(handle(fx), VCPU_CONTINUE);
	assert_int_equal(fx->port.n, 1);
	assert_false(fx->port.log[0].write);
	assert_int_equal(fx->port.log[0].off, 0);
	assert_int_equal(data[0], 0x40);
	assert_int_equal(data[1], 0x40);
	assert_int_equal(data[2], 0); /* nothing past size */
	assert_running(fx);
}

static void test_io_string(void **state)
{
	struct fixture *fx = *state;
	uint8_t *data = (uint8_t *)fx->vcpu.run + DATA_OFF;
	unsigned int i;

	/* rep outsw of three words: three device writes, each at the same port. */
	memcpy(data, "\x01\x02\x03\x04\x05\x06", 6);
	set_io(fx, KVM_EXIT_IO_OUT, 2, 0x3fa, 3, DATA_OFF);
	assert_int_equal(handle(fx), VCPU_CONTINUE);
	assert_int_equal(fx->port.n, 3);
	for (i = 0; i < 3; i++) {
		assert_true(fx->port.log[i].write);
		assert_int_equal(fx->port.log[i].off, 2);
		assert_int_equal(fx->port.log[i].len, 2);
		assert_int_equal(fx->port.log[i].data[0], 1 + 2 * i);
		assert_int_equal(fx->port.log[i].data[1], 2 + 2 * i);
	}

	/* rep insb of four bytes: filled in order. */
	fx->port.n = 0;
	memset(data, 0, 8);
	set_io(fx, KVM_EXIT_IO_IN, 1, 0x3f8, 4, DATA_OFF);
	assert_int_equal(handle(fx), VCPU_CONTINUE);
	assert_int_equal(fx->port.n, 4);
	assert_memory_equal(data, "\x40\x41\x42\x43\x00", 5);

	/* String I/O ending exactly at the end of kvm_run is in range. */
	fx->port.n = 0;
	set_io(fx, KVM_EXIT_IO_OUT, 4, 0x3f8, 4, RUN_SIZE - 16);
	assert_int_equal(handle(fx), VCPU_CONTINUE);
	assert_int_equal(fx->port.n, 4);
	assert_running(fx);
}

static void test_io_unclaimed(void **state)
{
	struct fixture *fx = *state;
	uint8_t *data = (uint8_t *)fx->vcpu.run + DATA_OFF;

	memset(data, 0, 4);
	set_io(fx, KVM_EXIT_IO_IN, 4, 0x80, 1, DATA_OFF);
	assert_int_equal(handle(fx), VCPU_CONTINUE);
	assert_memory_equal(data, "\xff\xff\xff\xff", 4);
	set_io(fx, KVM_EXIT_IO_OUT, 1, 0x80, 1, DATA_OFF);
	assert_int_equal(handle(fx), VCPU_CONTINUE);
	/* Straddling the end of the device's range is nobody's. */
	set_io(fx, KVM_EXIT_IO_IN, 4, 0x3fe, 1, DATA_OFF);
	assert_int_equal(handle(fx), VCPU_CONTINUE);
	assert_memory_equal(data, "\xff\xff\xff\xff", 4);
	assert_int_equal(fx->port.n, 0);
	assert_running(fx);
}

static void test_io_malformed(void **state)
{
	static const struct {
		uint8_t size;
		uint32_t count;
		uint64_t off;
	} bad[] = {
		{ 3, 1, DATA_OFF },            /* no such access size */
		{ 0, 1, DATA_OFF },
		{ 8, 1, DATA_OFF },
		{ 1, 0, DATA_OFF },            /* nothing to do is not an exit KVM makes */
		{ 1, 1, RUN_SIZE },            /* data starts past kvm_run */
		{ 1, 1, UINT64_MAX },
		{ 4, 1, RUN_SIZE - 3 },        /* data runs past kvm_run */
		{ 4, 0x40000001u, DATA_OFF },  /* size * count wraps in 32 bits */
		{ 4, UINT32_MAX, DATA_OFF },
		{ 2, 0x80000000u, 0 },         /* 2^32 exactly */
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fixture *fx;

		assert_int_equal(setup((void **)&fx), 0);
		set_io(fx, KVM_EXIT_IO_OUT, bad[i].size, 0x3f8, bad[i].count, bad[i].off);
		if (handle(fx) != VCPU_STOP)
			fail_msg("case %u (size %u count %u off %llu) not rejected", i, bad[i].size,
				 bad[i].count, (unsigned long long)bad[i].off);
		assert_int_equal(state_of(fx), VM_ERROR);
		assert_int_equal(fx->port.n, 0);
		teardown((void **)&fx);
	}
}

static void set_mmio(struct fixture *fx, uint64_t addr, uint32_t len, bool write)
{
	struct kvm_run *run = fx->vcpu.run;

	run->exit_reason = KVM_EXIT_MMIO;
	run->mmio.phys_addr = addr;
	run->mmio.len = len;
	run->mmio.is_write = write;
}

static void test_mmio(void **state)
{
	struct fixture *fx = *state;
	struct kvm_run *run = fx->vcpu.run;

	memcpy(run->mmio.data, "\xde\xad\xbe\xef\x01\x02\x03\x04", 8);
	set_mmio(fx, 0xfe000010, 8, true);
	assert_int_equal(handle(fx), VCPU_CONTINUE);
	assert_int_equal(fx->mmio.n, 1);
	assert_true(fx->mmio.log[0].write);
	assert_int_equal(fx->mmio.log[0].off, 0x10);
	assert_int_equal(fx->mmio.log[0].len, 8);
	assert_memory_equal(fx->mmio.log[0].data, "\xde\xad\xbe\xef\x01\x02\x03\x04", 8);

	memset(run->mmio.data, 0, 8);
	set_mmio(fx, 0xfe000ffc, 4, false);
	assert_int_equal(handle(fx), VCPU_CONTINUE);
	assert_int_equal(fx->mmio.n, 2);
	assert_false(fx->mmio.log[1].write);
	assert_int_equal(fx->mmio.log[1].off, 0xffc);
	assert_memory_equal(run->mmio.data, "\x41\x41\x41\x41\x00", 5);
	assert_int_equal(fx->port.n, 0); /* MMIO never reaches the port bus */
	assert_running(fx);
}

static void test_mmio_unclaimed(void **state)
{
	struct fixture *fx = *state;
	struct kvm_run *run = fx->vcpu.run;

	memset(run->mmio.data, 0, 8);
	set_mmio(fx, 0xd0000000, 4, false);
	assert_int_equal(handle(fx), VCPU_CONTINUE);
	assert_memory_equal(run->mmio.data, "\xff\xff\xff\xff\x00", 5);
	set_mmio(fx, 0xd0000000, 4, true);
	assert_int_equal(handle(fx), VCPU_CONTINUE);
	/* Port numbers are not MMIO addresses. */
	set_mmio(fx, 0x3f8, 1, true);
	assert_int_equal(handle(fx), VCPU_CONTINUE);
	assert_int_equal(fx->port.n, 0);
	assert_int_equal(fx->mmio.n, 0);
	assert_running(fx);
}

static void test_mmio_bad_len(void **state)
{
	static const uint32_t bad[] = { 0, 9, 16, UINT32_MAX };
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fixture *fx;

		assert_int_equal(setup((void **)&fx), 0);
		set_mmio(fx, 0xfe000000, bad[i], false);
		assert_error_stop(fx, handle(fx));
		assert_int_equal(fx->mmio.n, 0);
		teardown((void **)&fx);
	}
}

static void set_system_event(struct fixture *fx, uint32_t type)
{
	fx->vcpu.run->exit_reason = KVM_EXIT_SYSTEM_EVENT;
	fx->vcpu.run->system_event.type = type;
}

static void test_system_shutdown(void **state)
{
	struct fixture *fx = *state;

	set_system_event(fx, KVM_SYSTEM_EVENT_SHUTDOWN);
	assert_int_equal(handle(fx), VCPU_STOP);
	assert_int_equal(state_of(fx), VM_POWEROFF);
	assert_int_equal(fx->vm->exit_status, 0);
	assert_true(stop_signalled(fx));
}

static void test_system_reset(void **state)
{
	struct fixture *fx = *state;

	set_system_event(fx, KVM_SYSTEM_EVENT_RESET);
	assert_int_equal(handle(fx), VCPU_STOP);
	assert_int_equal(state_of(fx), VM_REBOOT);
	assert_int_equal(fx->vm->exit_status, 0);
	assert_true(stop_signalled(fx));
}

static void test_system_crash(void **state)
{
	struct fixture *fx = *state;

	set_system_event(fx, KVM_SYSTEM_EVENT_CRASH);
	assert_error_stop(fx, handle(fx));
}

static void test_system_unknown(void **state)
{
	struct fixture *fx = *state;

	set_system_event(fx, 0x1234);
	assert_error_stop(fx, handle(fx));
}

static void test_triple_fault(void **state)
{
	struct fixture *fx = *state;

	fx->vcpu.run->exit_reason = KVM_EXIT_SHUTDOWN;
	assert_error_stop(fx, handle(fx));
	assert_int_equal(fx->vm->exit_status, 1);
}

static void test_failures(void **state)
{
	static const uint32_t reasons[] = { KVM_EXIT_FAIL_ENTRY, KVM_EXIT_INTERNAL_ERROR,
					    KVM_EXIT_UNKNOWN, KVM_EXIT_EXCEPTION, 0xdead };
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		struct fixture *fx;

		assert_int_equal(setup((void **)&fx), 0);
		fx->vcpu.run->exit_reason = reasons[i];
		fx->vcpu.run->fail_entry.hardware_entry_failure_reason = 0x80000021;
		assert_error_stop(fx, handle(fx));
		teardown((void **)&fx);
	}
}

static void test_continue(void **state)
{
	struct fixture *fx = *state;

	fx->vcpu.run->exit_reason = KVM_EXIT_INTR;
	assert_int_equal(handle(fx), VCPU_CONTINUE);
	fx->vcpu.run->exit_reason = KVM_EXIT_HLT;
	assert_int_equal(handle(fx), VCPU_CONTINUE);
	assert_running(fx);
}

static void test_first_stop_wins(void **state)
{
	struct fixture *fx = *state;

	set_system_event(fx, KVM_SYSTEM_EVENT_SHUTDOWN);
	assert_int_equal(handle(fx), VCPU_STOP);
	fx->vcpu.run->exit_reason = KVM_EXIT_SHUTDOWN;
	assert_int_equal(handle(fx), VCPU_STOP);
	set_system_event(fx, KVM_SYSTEM_EVENT_RESET);
	assert_int_equal(handle(fx), VCPU_STOP);
	assert_int_equal(state_of(fx), VM_POWEROFF);
	assert_int_equal(fx->vm->exit_status, 0);

	/* And an error first keeps the error. */
	atomic_store(&fx->vm->state, VM_RUNNING);
	fx->vm->exit_status = 0;
	fx->vcpu.run->exit_reason = KVM_EXIT_SHUTDOWN;
	assert_int_equal(handle(fx), VCPU_STOP);
	set_system_event(fx, KVM_SYSTEM_EVENT_SHUTDOWN);
	assert_int_equal(handle(fx), VCPU_STOP);
	assert_int_equal(state_of(fx), VM_ERROR);
	assert_int_equal(fx->vm->exit_status, 1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_io_out),
		T(test_io_in),
		T(test_io_string),
		T(test_io_unclaimed),
		cmocka_unit_test(test_io_malformed),
		T(test_mmio),
		T(test_mmio_unclaimed),
		cmocka_unit_test(test_mmio_bad_len),
		T(test_system_shutdown),
		T(test_system_reset),
		T(test_system_crash),
		T(test_system_unknown),
		T(test_triple_fault),
		cmocka_unit_test(test_failures),
		T(test_continue),
		T(test_first_stop_wins),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
