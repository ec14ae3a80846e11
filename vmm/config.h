/* config: the VM's configuration as plain data, from flags and a JSON file, through tables. */
#ifndef HULL_VMM_CONFIG_H
#define HULL_VMM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/virtio.h"

struct ctr_resources;

#define CONFIG_DEFAULT_CPUS 1
#define CONFIG_DEFAULT_MEM (512ULL << 20)
#define CONFIG_MIN_MEM (32ULL << 20)
#define CONFIG_MAX_MEM (1ULL << 40) /* keeps every guest address below 2^43 */
#define CONFIG_HUGE_PAGE (2ULL << 20) /* hugepages=on: RAM in huge pages of this size */
#define CONFIG_MAX_CPUS 255         /* xAPIC ids; KVM's own limit is checked at VM creation */
#define CONFIG_INITRD_NONE "none"
/*
 * Entries in the device list, of all kinds: each kind has at most as many as the machine has
 * virtio slots (config_kind_max), and validation refuses more than the slots in all.
 */
#define CONFIG_MAX_DEVS 64
#define CONFIG_FILE_MAX (1 << 20)

/* One device the user asked for: its kind and its settings. */
struct config_dev {
	const struct virtio_kind *kind;
	void *cfg; /* kind->config_size bytes, malloc'd; NULL for a SWITCH kind */
};

struct vm_config {
	char *kernel;   /* NULL: hull's default kernel */
	char *initrd;   /* NULL: none, or the built-in demo with the default kernel; "none": none */
	char *cmdline;  /* NULL: the architecture's default command line */
	unsigned int cpus;
	unsigned int max_cpus; /* vCPUs made (0: cpus); those above cpus boot offline (maxcpus=) */
	uint64_t mem;
	bool hugepages;   /* RAM (and the hotplug region) in 2 MiB hugetlb pages (--memory's) */
	uint64_t max_mem; /* 0: none; else mem plus the hotplug region (virtio-mem) */
	bool kernel_packed; /* --kernel-packed: a bzImage unpacks itself in the guest */
	bool boot_timer;
	bool stats; /* --stats: the census on stderr at the end */
	char *api_sock; /* the control socket's path, or NULL */
	char *cpu_affinity; /* host CPUs, "0-3,6": vCPU i on the (i mod n)-th; NULL: any */
	char *cgroup;   /* the host cgroup hull runs in, or NULL */
	/*
	 * Container mode's, set by `hull run` (no flag): cgroup in the systemd form
	 * "slice:prefix:name", and the cgroup's limits in place of memory.max from --memory and
	 * the cpuset from --cpu-affinity (ctr_limits_host's; the caller's, not freed here).
	 */
	bool cgroup_systemd;
	const struct ctr_resources *cgroup_limits;
	/* Every device, in the order of config_kinds[] and, within a kind, as given. */
	struct config_dev devs[CONFIG_MAX_DEVS];
	unsigned int ndevs;
};

/* The VM-level settings, described once: the flags, the JSON keys and --help come from here. */
enum config_type {
	CONFIG_PATH,   /* a non-empty string */
	CONFIG_STRING, /* any string */
	CONFIG_COUNT,  /* a decimal number (JSON: an integer) */
	CONFIG_SIZE,   /* bytes or with a K/M/G/T suffix (JSON: a string or an integer) */
	CONFIG_FLAG,   /* a flag without value sets it (JSON: true or false) */
	/* The RAM setting: a CONFIG_SIZE, then ",hugepages=on|off" (the same in JSON's string) */
	CONFIG_MEMORY,
};

struct config_setting {
	const char *flag; /* --kernel */
	const char *json; /* "kernel" */
	const char *arg;  /* the value in --help ("PATH"); NULL for a CONFIG_FLAG */
	const char *help; /* lines of at most 56 columns, each ending in '\n' */
	enum config_type type;
	size_t offset; /* of the field in struct vm_config */
};

extern const struct config_setting config_settings[];
extern const unsigned int config_nsettings;
/* Every kind of device, in the order devices get their slots; vmm/'s one list of kinds. */
extern const struct virtio_kind *const config_kinds[];
extern const unsigned int config_nkinds;

/*
 * Errors: every function below that takes err returns 0 or -errno, and on -EINVAL (or
 * -ENOSPC, -EFBIG) writes a one-line reason into err, which the caller logs once, saying
 * where the value came from (a flag, a config file).
 */

/* Defaults: 1 vCPU, 512 MiB, default kernel, no initramfs or the demo, default command line,
 * and the devices on by default (rng). */
void config_init(struct vm_config *c);
void config_free(struct vm_config *c);

/*
 * Read a JSON object with a member for each setting (config_settings[].json) and each device
 * kind (virtio_kind.json: an array of objects, an object, or a boolean). Unknown fields and
 * wrong types are errors. Fields present in the file replace those in c (a device key
 * replaces that kind's whole list). The reason names the field ("disks[1].ro: ...").
 */
int config_load_json(struct vm_config *c, const char *text, size_t len, char *err, size_t errlen);
int config_load_file(struct vm_config *c, const char *path, char *err, size_t errlen);

/*
 * Apply one setting from its string form (a flag's value; "on"/"off" for a CONFIG_FLAG). The
 * reason starts with the value: "'two': not a CPU count"; the caller puts the name in front.
 */
int config_apply(struct vm_config *c, const struct config_setting *s, const char *value,
		 char *err, size_t errlen);

/*
 * A device flag's value: a LIST kind's spec adds an entry (-ENOSPC past config_kind_max), a
 * SINGLE kind's replaces the entry, a SWITCH kind's "on"/"off" adds or removes it. The reason
 * starts with the value or names the entry; the caller puts the flag in front.
 */
int config_add_device(struct vm_config *c, const struct virtio_kind *k, const char *value,
		      char *err, size_t errlen);
/*
 * Add a device whose settings the caller built rather than parsed (container mode's shares,
 * disks and vsock): cfg is k->config_size bytes, malloc'd, complete; c owns it from then on,
 * on failure too (-ENOSPC past the kind's or the list's limit, the reason in err).
 */
int config_add(struct vm_config *c, const struct virtio_kind *k, void *cfg, char *err,
	       size_t errlen);
/* Forget every device of kind k (a flag replaces what the config file listed). */
void config_clear_kind(struct vm_config *c, const struct virtio_kind *k);
/* Devices of kind k, and the settings of the i-th of them (NULL past the last). */
unsigned int config_count(const struct vm_config *c, const struct virtio_kind *k);
const void *config_device(const struct vm_config *c, const struct virtio_kind *k, unsigned int i);
/* Which of its kind c->devs[i] is: 0 for the first disk, 1 for the second... */
unsigned int config_index(const struct vm_config *c, unsigned int i);
/* Most devices of kind k: its own limit, else one per virtio slot of the machine. */
unsigned int config_kind_max(const struct virtio_kind *k);

/*
 * The memory hotplug region --max-memory asks for: max_mem - mem rounded up to virtio-mem's
 * block size (VMEM_BLOCK_SIZE), or 0 for none. It brings a virtio-mem device (vmem_kind) with
 * it, which takes the slot after the list's devices.
 */
uint64_t config_hotplug_size(const struct vm_config *c);
/* Virtio devices in all: the list's, and virtio-mem when there is a hotplug region. */
unsigned int config_ndevs(const struct vm_config *c);

/*
 * A setting or device flag by name, as the flags spell them ("kernel", "boot-timer", "disk"):
 * for tests and for callers that hold names. The reason names the setting.
 */
int config_set(struct vm_config *c, const char *name, const char *value, char *err,
	       size_t errlen);

/* The host memory cfg's devices may make hull hold: the sum of their kinds' host_mem. */
uint64_t config_devices_mem(const struct vm_config *c);

/*
 * Check what does not need the host: cpus, memory size and alignment (CONFIG_HUGE_PAGE with
 * hugepages=on, which the balloon cannot go with), max-memory (0, or above memory and at most
 * CONFIG_MAX_MEM), the CPU list, devices that clash (a share's tag, a tap or
 * a MAC used twice), and that every device finds a virtio slot (the reason names the first one
 * that does not).
 */
int config_validate(const struct vm_config *c, char *err, size_t errlen);

#endif
