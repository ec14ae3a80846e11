/* stages: VM lifecycle as data — the stages a VM is built from, exported so modes compose tables. */
#ifndef HULL_VMM_STAGES_H
#define HULL_VMM_STAGES_H

struct vm;

/*
 * One step of building a VM and its undo. init returns 0 or -errno (the
 * cause logged once); exit undoes a successful init and may be NULL.
 */
struct stage {
	const char *name;
	int (*init)(struct vm *vm);
	void (*exit)(struct vm *vm);
};

/* Run stages[0..n) in order; on failure unwind the ones done and return the error. */
int stages_run(const struct stage *const *stages, unsigned int n, struct vm *vm,
	       unsigned int *done);
/* Undo stages[0..done) in reverse. */
void stages_unwind(const struct stage *const *stages, unsigned int done, struct vm *vm);

/*
 * The stages of `hull vm`, in the order vm_stages[] runs them. Another mode
 * (container mode) composes its own table from these and its own, e.g. a
 * cgroup placement first and an agent listener after the devices; each
 * stage needs the ones before it in this list that it uses (every stage
 * needs "kvm"; devices need "memory" and "loop").
 */
extern const struct stage vm_stage_kvm;      /* /dev/kvm, the VM, arch's VM-wide setup */
extern const struct stage vm_stage_memory;   /* guest RAM, registered with KVM and gmem */
extern const struct stage vm_stage_loop;     /* the event loop and the signals it takes */
extern const struct stage vm_stage_control;  /* the control socket (--api-sock), if any */
extern const struct stage vm_stage_devices;  /* the legacy devices: UART, i8042, RTC, ... */
extern const struct stage vm_stage_virtio;   /* the virtio devices */
extern const struct stage vm_stage_kernel;   /* kernel and initrd in guest memory */
extern const struct stage vm_stage_boot;     /* command line, boot structures */
extern const struct stage vm_stage_vcpus;    /* vCPU fds and registers (threads: vm_start) */
extern const struct stage vm_stage_console;  /* stdin/stdout to the UART */
extern const struct stage vm_stage_fds;      /* the guest's descriptor budget, sized last */

extern const struct stage *const vm_stages[];
extern const unsigned int vm_nstages;

#endif
