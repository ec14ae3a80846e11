/* exit: what a vCPU exit means — device accesses, power events and failures. */
#include <stdio.h>
#include <string.h>

#include "arch/arch.h"
#include "lib/log.h"
#include "vmm/vm.h"

/* Unclaimed accesses are normal while Linux probes; log a few, and only with --verbose. */
#define UNCLAIMED_LOG_MAX 32

static void unclaimed(struct vm *vm, const char *bus, uint64_t addr, uint32_t len, bool write)
{
	if (!log_verbose() || __atomic_fetch_add(&vm->unclaimed_logged, 1, __ATOMIC_RELAXED) >= UNCLAIMED_LOG_MAX)
		return;
	log_debug("unclaimed %s %s at 0x%llx, %u bytes", bus, write ? "write" : "read",
		  (unsigned long long)addr, len);
}

static enum vcpu_action fail(struct vm *vm, struct vcpu *vcpu, const char *what)
{
	char regs[512];

	arch_vcpu_dump(vcpu->fd, regs, sizeof(regs));
	log_msg("vcpu %u: %s; %s", vcpu->index, what, regs);
	vm_request_stop(vm, VM_ERROR, VM_EXIT_ERROR);
	return VCPU_STOP;
}

static enum vcpu_action handle_io(struct vm *vm, struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint32_t size = run->io.size, count = run->io.count, i;
	uint64_t off = run->io.data_offset;
	uint8_t *data;

	/* KVM wrote these, but a bad offset would be a memory-safety bug here; check anyway. */
	if ((size != 1 && size != 2 && size != 4) || count == 0 || off >= vcpu->run_size ||
	    (uint64_t)size * count > vcpu->run_size - off)
		return fail(vm, vcpu, "malformed port I/O exit");
	data = (uint8_t *)run + off;
	census_access(&vcpu->census, false, run->io.port, run->io.direction == KVM_EXIT_IO_OUT);
	for (i = 0; i < count; i++, data += size) {
		bool claimed;

		if (run->io.direction == KVM_EXIT_IO_OUT)
			claimed = bus_write(&vm->pio, run->io.port, data, size);
		else
			claimed = bus_read(&vm->pio, run->io.port, data, size);
		if (!claimed)
			unclaimed(vm, "port", run->io.port, size, run->io.direction == KVM_EXIT_IO_OUT);
	}
	return VCPU_CONTINUE;
}

static enum vcpu_action handle_mmio(struct vm *vm, struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint32_t len = run->mmio.len;
	bool claimed;

	if (len == 0 || len > sizeof(run->mmio.data))
		return fail(vm, vcpu, "malformed MMIO exit");
	census_access(&vcpu->census, true, run->mmio.phys_addr, run->mmio.is_write);
	if (run->mmio.is_write)
		claimed = bus_write(&vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
	else
		claimed = bus_read(&vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
	if (!claimed)
		unclaimed(vm, "mmio", run->mmio.phys_addr, len, run->mmio.is_write);
	return VCPU_CONTINUE;
}

static enum vcpu_action handle_system_event(struct vm *vm, struct vcpu *vcpu)
{
	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(vm, VM_POWEROFF, 0);
		return VCPU_STOP;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(vm, VM_REBOOT, 0);
		return VCPU_STOP;
	case KVM_SYSTEM_EVENT_CRASH:
		return fail(vm, vcpu, "guest crashed (system event)");
	default:
		return fail(vm, vcpu, "unknown system event");
	}
}

enum vcpu_action vcpu_handle_exit(struct vm *vm, struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	char what[96];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return handle_io(vm, vcpu);
	case KVM_EXIT_MMIO:
		return handle_mmio(vm, vcpu);
	case KVM_EXIT_INTR:
	case KVM_EXIT_HLT: /* with the in-kernel LAPIC this only follows a kick */
		return VCPU_CONTINUE;
	case KVM_EXIT_SYSTEM_EVENT:
		return handle_system_event(vm, vcpu);
	case KVM_EXIT_SHUTDOWN:
		return fail(vm, vcpu, "triple fault (guest shut down unexpectedly)");
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(what, sizeof(what), "VM entry failed (hardware reason 0x%llx)",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return fail(vm, vcpu, what);
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(what, sizeof(what), "KVM internal error (suberror %u)",
			 run->internal.suberror);
		return fail(vm, vcpu, what);
	default:
		snprintf(what, sizeof(what), "unexpected exit reason %u", run->exit_reason);
		return fail(vm, vcpu, what);
	}
}
