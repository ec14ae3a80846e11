/* config: the VM's configuration as plain data, from flags and/or a JSON file, validated in one place. */
#ifndef HULL_VMM_CONFIG_H
#define HULL_VMM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/blk/blk.h"
#include "virtio/fs/fs.h"
#include "virtio/net/net.h"
#include "virtio/vsock/vsock.h"

#define CONFIG_DEFAULT_CPUS 1
#define CONFIG_DEFAULT_MEM (512ULL << 20)
#define CONFIG_MIN_MEM (32ULL << 20)
#define CONFIG_MAX_MEM (1ULL << 40) /* keeps every guest address below 2^43 */
#define CONFIG_MAX_CPUS 255         /* xAPIC ids; KVM's own limit is checked at VM creation */
#define CONFIG_INITRD_NONE "none"
#define CONFIG_MAX_DISKS 8 /* virtio-mmio interrupt lines are the limit; see arch_virtio_slot() */
#define CONFIG_MAX_SHARES 8 /* likewise */
#define CONFIG_MAX_NETS 8   /* likewise */

struct vm_config {
	char *kernel;  /* NULL: hull's default kernel */
	char *initrd;  /* NULL: the built-in demo initramfs; "none": no initramfs */
	char *cmdline; /* NULL: the architecture's default command line */
	unsigned int cpus;
	uint64_t mem;
	bool boot_timer;
	struct vblk_config disks[CONFIG_MAX_DISKS]; /* --disk, in order: vda, vdb, ... */
	unsigned int ndisks;
	struct vfs_config shares[CONFIG_MAX_SHARES]; /* --fs, in order */
	unsigned int nshares;
	struct vnet_config nets[CONFIG_MAX_NETS]; /* --net, in order: eth0, eth1, ... */
	unsigned int nnets;
	struct vsock_config vsock; /* --vsock; used when has_vsock */
	bool has_vsock;
	bool rng; /* virtio-rng device (default on) */
	char *api_sock; /* --api-sock: the control socket's path; NULL: none */
};

/* Defaults: 1 vCPU, 512 MiB, default kernel, demo initramfs, default command line, rng on. */
void config_init(struct vm_config *c);
void config_free(struct vm_config *c);

/*
 * Read a JSON object with the same fields as the flags: "kernel", "initrd",
 * "cmdline" (strings), "cpus" (integer), "memory" (string like "512M" or
 * integer bytes), "boot_timer" and "rng" (booleans), "disks" (array of
 * objects with "path", "cache", "serial" strings and "ro" boolean), "shares"
 * (array of objects with "tag", "path", "cache" strings and "ro" boolean),
 * "nets" (array of objects with "tap" and "mac" strings, or "passt": a socket
 * path or true to start passt), "vsock" (object with integer "cid" and string
 * "uds").
 * Unknown fields and wrong types are errors. Fields present in the file
 * replace those in c. On error returns -errno and writes a one-line reason
 * naming the field into err.
 */
int config_load_json(struct vm_config *c, const char *text, size_t len, char *err, size_t errlen);
int config_load_file(struct vm_config *c, const char *path, char *err, size_t errlen);

/* Apply one "key=value"-style setting by field name (shared by flags and JSON). */
int config_set(struct vm_config *c, const char *key, const char *value, char *err, size_t errlen);

/*
 * Append a disk from a --disk spec ("path=FILE,ro=on,..."): -EINVAL with a
 * reason in err, -ENOSPC past CONFIG_MAX_DISKS.
 */
int config_add_disk(struct vm_config *c, const char *spec, char *err, size_t errlen);
void config_clear_disks(struct vm_config *c);

/*
 * Append a share from a --fs spec ("tag=TAG,path=DIR,..."): -EINVAL with a
 * reason in err, -ENOSPC past CONFIG_MAX_SHARES.
 */
int config_add_share(struct vm_config *c, const char *spec, char *err, size_t errlen);
void config_clear_shares(struct vm_config *c);

/*
 * Append a network device from a --net spec ("tap=NAME,mac=MAC" or
 * "passt[=SOCKET]"): -EINVAL with a reason in err, -ENOSPC past
 * CONFIG_MAX_NETS.
 */
int config_add_net(struct vm_config *c, const char *spec, char *err, size_t errlen);
void config_clear_nets(struct vm_config *c);

/* Set the vsock device from a --vsock spec ("cid=N,uds=PATH"), replacing any earlier one. */
int config_set_vsock(struct vm_config *c, const char *spec, char *err, size_t errlen);

/*
 * Check what does not need KVM: cpus, memory size and alignment, shares' tags
 * unique, no tap name or MAC used by two network devices.
 */
int config_validate(const struct vm_config *c, char *err, size_t errlen);

#endif
