/* api: the VM's side of the control socket — the control stage and what each command does. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "virtio/balloon/balloon.h"
#include "virtio/mem/mem.h"
#include "vmm/control.h"
#include "vmm/vm.h"

/* The registry's devices, in slot order: ids "disk0", "fs1"..., kinds as the device calls itself. */
static unsigned int list_devices(const struct vm *vm, struct ctl_dev *devs)
{
	unsigned int i;

	for (i = 0; i < vm->ndevs; i++)
		devs[i] = (struct ctl_dev){ .id = vm->devs[i].id, .kind = vm->devs[i].dev->ops->type,
					    .base = vm->devs[i].base, .gsi = vm->devs[i].gsi };
	return vm->ndevs;
}

static uint64_t ms_since(const struct timespec *t)
{
	struct timespec now;
	int64_t ms;

	if (!t->tv_sec && !t->tv_nsec)
		return 0; /* not started */
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (int64_t)(now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
	return ms > 0 ? (uint64_t)ms : 0;
}

struct virtio_dev *vm_hotplug_dev(const struct vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->ndevs; i++)
		if (vm->devs[i].kind == &vmem_kind)
			return vm->devs[i].dev;
	return NULL;
}

struct vballoon *vm_balloon(const struct vm *vm)
{
	struct vballoon *b = NULL;
	unsigned int i;

	for (i = 0; i < vm->ndevs && !b; i++)
		b = vballoon_of(vm->devs[i].dev);
	return b;
}

static char *api_state(void *opaque, size_t *len)
{
	struct vm *vm = opaque;
	struct virtio_dev *mem = vm_hotplug_dev(vm);
	struct ctl_dev devs[VM_MAX_DEVS];
	struct ctl_hotplug hotplug;
	struct vmem_status ms;
	struct ctl_vcpu *vcpus;
	struct census_total *exits;
	struct ctl_state s;
	unsigned int i;
	char *line;

	vcpus = calloc(vm->ncpus ? vm->ncpus : 1, sizeof(*vcpus));
	exits = malloc(sizeof(*exits));
	if (!vcpus || !exits) {
		free(vcpus);
		free(exits);
		return NULL;
	}
	vm_census(vm, exits);
	/* tid is written once, under vcpu_lock, before vcpu_start() returned on this thread. */
	for (i = 0; vm->vcpus && i < vm->ncpus; i++)
		vcpus[i] = (struct ctl_vcpu){ .index = i, .tid = vm->vcpus[i].tid };
	s = (struct ctl_state){
		.paused = vm_paused(vm),
		.vcpus = vcpus,
		.nvcpus = vm->vcpus ? vm->ncpus : 0,
		.memory = vm->cfg->mem,
		.devs = devs,
		.ndevs = list_devices(vm, devs),
		.uptime_ms = ms_since(&vm->started_at),
		.container = vm->status_hook ? vm->status_hook(vm) : NULL,
		.ms = &vm->ms,
		.exits = exits,
	};
	if (mem && !vmem_status(mem, &ms)) {
		hotplug = (struct ctl_hotplug){ .region = ms.region, .plugged = ms.plugged,
						.requested = ms.requested };
		s.hotplug = &hotplug;
	}
	line = ctl_reply_state(&s, len);
	free(exits);
	free(vcpus);
	return line;
}

static int api_pause(void *opaque)
{
	return vm_pause(opaque);
}

static int api_resume(void *opaque)
{
	return vm_resume(opaque);
}

static void api_stop(void *opaque)
{
	log_msg("stop requested on the control socket: stopping the VM");
	vm_request_stop(opaque, VM_STOP, 0);
}

static char *balloon_error(size_t *len, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *balloon_error(size_t *len, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ctl_reply_error(msg, len);
}

/* The balloon's state and the guest's statistics; with a target, set it first. */
static char *api_balloon(void *opaque, const struct ctl_request *req, size_t *len)
{
	struct vm *vm = opaque;
	struct ctl_stat stats[VBALLOON_TAGS];
	struct vballoon *b = vm_balloon(vm);
	struct vballoon_info info;
	struct ctl_balloon rep;
	unsigned int i, n = 0;

	if (!b)
		return balloon_error(len, "balloon: the VM has no balloon (hull vm --balloon on)");
	if (req->has_target) {
		/* All of its RAM is as much as a guest can give. */
		if (req->target > vm->cfg->mem)
			return balloon_error(len,
					     "balloon: target %llu bytes is more than the guest's "
					     "%llu bytes of RAM",
					     (unsigned long long)req->target,
					     (unsigned long long)vm->cfg->mem);
		if (vballoon_set_target(b, req->target))
			return balloon_error(len,
					     "balloon: target %llu bytes is not a multiple of 4 KiB",
					     (unsigned long long)req->target);
	}
	vballoon_query(b, &info);
	for (i = 0; i < VBALLOON_TAGS; i++)
		if (info.have & (1u << i))
			stats[n++] = (struct ctl_stat){ vballoon_stat_name(i), info.stats[i] };
	rep = (struct ctl_balloon){
		.target = info.target,
		.actual = info.actual,
		.released = info.released,
		.reported = info.reported,
		.stats = stats,
		.nstats = n,
		.has_age = info.have != 0,
		.stats_age_ms = info.stats_age_ns / 1000000,
	};
	return ctl_reply_balloon(&rep, len);
}

static int api_mode(void *opaque, const struct ctl_request *req, int client_fd, int *fds,
		    unsigned int nfds, char **line, size_t *len)
{
	struct vm *vm = opaque;
	char msg[96];

	if (vm->ctl_hook)
		return vm->ctl_hook(vm, req, client_fd, fds, nfds, line, len);
	if (req->cmd == CTL_UPDATE) {
		char err[768];

		*line = vm_host_update(vm, req->resources, err, sizeof(err)) ? ctl_reply_error(err, len)
									     : ctl_reply_ok(len);
		return 0;
	}
	snprintf(msg, sizeof(msg), "%s: not a container VM (hull create makes one)",
		 ctl_cmd_name(req->cmd));
	*line = ctl_reply_error(msg, len);
	return 0;
}

/*
 * memory SIZE: the guest should have SIZE bytes in all, its boot RAM and what it has plugged of
 * the hotplug region (virtio-mem), which it is asked to plug or unplug towards that.
 */
static char *api_memory(void *opaque, const struct ctl_request *req, size_t *len)
{
	struct vm *vm = opaque;
	struct virtio_dev *mem = vm_hotplug_dev(vm);
	uint64_t boot = vm->cfg->mem, size = req->size;
	struct vmem_status ms;
	int ret;

	if (!mem || vmem_status(mem, &ms))
		return balloon_error(len, "memory: the VM has no hotplug memory (hull vm --max-memory)");
	if (size < boot || size - boot > ms.region)
		return balloon_error(len,
				     "memory: %" PRIu64 " bytes is outside %" PRIu64 " (the boot "
				     "memory) to %" PRIu64 " (--max-memory, rounded up to 128M blocks)",
				     size, boot, boot + ms.region);
	ret = vmem_request(mem, size - boot);
	if (ret == -EINVAL)
		return balloon_error(len,
				     "memory: %" PRIu64 " bytes is not the boot memory (%" PRIu64
				     ") plus a multiple of %llu MiB", size, boot, VMEM_BLOCK_SIZE >> 20);
	if (ret)
		return balloon_error(len, "memory: %s", strerror(-ret));
	log_msg("memory: the guest is asked for %" PRIu64 " MiB in all (%" PRIu64 " MiB of hotplug "
		"memory; %" PRIu64 " MiB plugged now)", size >> 20, (size - boot) >> 20,
		ms.plugged >> 20);
	return ctl_reply_ok(len);
}

static const struct control_ops api_ops = {
	.state = api_state,
	.pause = api_pause,
	.resume = api_resume,
	.stop = api_stop,
	.balloon = api_balloon,
	.mode = api_mode,
	.memory = api_memory,
};

static int control_stage_init(struct vm *vm)
{
	if (!vm->cfg->api_sock)
		return 0;
	return control_open(&vm->loop, vm->cfg->api_sock, &api_ops, vm, &vm->control);
}

static void control_stage_exit(struct vm *vm)
{
	control_close(vm->control);
	vm->control = NULL;
}

const struct stage vm_stage_control = { "control", control_stage_init, control_stage_exit };
