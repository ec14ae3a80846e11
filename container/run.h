/* run: `hull run` — a container in its own microVM, from its spec to hull's exit status. */
#ifndef HULL_CONTAINER_RUN_H
#define HULL_CONTAINER_RUN_H

#include <stdbool.h>

#include "container/runspec.h"
#include "vmm/vm.h"

#define CTR_GUEST_CID 3		/* the guest's vsock CID: hull's endpoints are its only peer */
#define CTR_DRAIN_MS 5000	/* after the process exited, its output may pause this long */
#define CTR_SIGINT_TWICE_MS 1000 /* a second SIGINT within this ends the VM */

#define CTR_UPDATE_TIMEOUT_MS 20000 /* the guest's answer to an update (the runtime's verb waits 30 s) */
#define CTR_EXECS_MAX 16 /* exec'd processes of one container VM at once (3 streams each) */

/*
 * The OCI runtime's VMM (hull create's child): the container is created at hull-init's HELLO
 * and started by the control socket's start; exec, kill, ps and resize come the same way.
 */
struct ctr_rt {
	int ready_fd; /* HELLO: one byte written, then closed (-1 once done) */
	int signal;   /* out: the container's process was killed by this signal (0: it exited) */
	int code;     /* out: its exit code (signal 0) */
	bool ended;   /* out: its process ended (signal and code are its) */
	bool own_netns; /* in: the VMM is in a network namespace of its own (no path given) */
};

/* `hull run`'s own flags (the VM's settings are in the vm_config next to them). */
struct ctr_run_args {
	struct ctr_run_opts opts;	/* the container without a bundle: --rootfs and the rest */
	const char *bundle;		/* --bundle DIR: its config.json instead */
	struct ctr_bundle *loaded;	/* that bundle already read (hull create's): taken over */
	const char *id;			/* the container's id with --bundle (for messages) */
	const char *console_log;	/* --console-log FILE */
	struct ctr_rt *rt;		/* hull create's VMM; NULL for hull run */
	bool cpus_set, mem_set;		/* --cpus, --memory given: they win over the resources */
};

/*
 * `hull run` once its flags are parsed into a and cfg (kernel, cpus, memory, nets): the
 * bundle or the default spec, its plan, the devices, the generated initramfs, all checked
 * before /dev/kvm; then the VM, the agent, stdio and signals until the container's process
 * has exited and its output has ended. Returns hull's exit status: the process's exit code,
 * or 128+N when it was killed by signal N; 2 for bad input (one line, before /dev/kvm); 1
 * when the VM or hull-init failed (the message carries the console's last lines); 128+N
 * when hull itself was ended by signal N (a second SIGINT within CTR_SIGINT_TWICE_MS: 130).
 */
int ctr_run_main(struct vm_config *cfg, const struct ctr_run_args *a,
		 const struct vm_epoch *epoch);

#endif
