/* proto: the agent protocol's frames and messages, and the container spec hull-init gets (PROTOCOL.md). */
#ifndef HULL_CONTAINER_PROTO_H
#define HULL_CONTAINER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "container/tlv.h"

/*
 * Shared by hull and hull-init: libc only (see tlv.h). Every decoder takes
 * hostile bytes (a guest, or a spec that went through guest memory) and
 * either fills its struct completely or fails with -EINVAL and frees what it
 * allocated; *_free() is safe on a zeroed or failed struct.
 */

#define CTR_PROTO_VERSION 1
#define CTR_SPEC_VERSION 1
#define CTR_PORT_AGENT 1024
#define CTR_PORT_STREAM 1025
#define CTR_FRAME_HDR 8
#define CTR_FRAME_MAX (1u << 20)   /* payload bytes of one frame */
#define CTR_SPEC_MAX (1u << 20)	   /* bytes of the encoded spec */
#define CTR_LIST_MAX 4096	   /* entries of any repeated field */
#define CTR_UPDATE_CPUS_MAX 255 /* UPDATE's online vCPUs: at most the VM's (CONFIG_MAX_CPUS) */
#define CTR_HELLO_TIMEOUT_MS 60000 /* default; HULL_AGENT_TIMEOUT_MS overrides */
#define CTR_SPEC_PATH "/hull/spec"
/* The seccomp(2) flags a spec's filter may be loaded with: SECCOMP_FILTER_FLAG_LOG, _SPEC_ALLOW. */
#define CTR_SECCOMP_FLAGS (2u | 4u)
#define CTR_MODULES_DIR "/hull/modules"

enum ctr_msg {
	CTR_MSG_HELLO = 1,
	CTR_MSG_START = 2,
	CTR_MSG_EXEC = 3,
	CTR_MSG_SIGNAL = 4,
	CTR_MSG_EXITED = 5,
	CTR_MSG_STDIN_CLOSE = 6,
	CTR_MSG_WINSIZE = 7,
	CTR_MSG_UPDATE = 8,
	CTR_MSG_OK = 9,
	CTR_MSG_ERROR = 10,
	CTR_MSG_STREAM = 11,
};

enum ctr_stream { CTR_STDIN = 0, CTR_STDOUT = 1, CTR_STDERR = 2, CTR_TTY = 3 };

/* ---- frames ---- */

/*
 * Frame header: -EINVAL for a wrong version or a length past CTR_FRAME_MAX
 * (the caller then drops length bytes or closes), else 0 with type and
 * length set.
 */
int ctr_frame_parse_hdr(const uint8_t hdr[CTR_FRAME_HDR], uint16_t *type, uint32_t *len);
void ctr_frame_put_hdr(uint8_t hdr[CTR_FRAME_HDR], uint16_t type, uint32_t len);

/* ---- the spec hull-init runs (PROTOCOL.md "The container spec") ---- */

/* Tags of the spec's top level, and of its lists (PROTOCOL.md's table). */
enum ctr_spec_tag {
	CTR_SPEC_VER = 1, CTR_SPEC_HOSTNAME, CTR_SPEC_ROOT, CTR_SPEC_PROCESS, CTR_SPEC_MOUNT,
	CTR_SPEC_SYSCTL, CTR_SPEC_MASKED, CTR_SPEC_READONLY, CTR_SPEC_DEVICE, CTR_SPEC_PRIVILEGED,
	CTR_SPEC_MOUNTS_TAG, CTR_SPEC_RESOURCES, CTR_SPEC_MODULE, CTR_SPEC_CGROUP, CTR_SPEC_SECCOMP,
	CTR_SPEC_NETIF, CTR_SPEC_DOMAINNAME, CTR_SPEC_SECCOMP_FLAGS,
};
enum { CTR_ROOT_TAG = 1, CTR_ROOT_RO };
enum {
	CTR_PROC_ARG = 1, CTR_PROC_ENV, CTR_PROC_CWD, CTR_PROC_UID, CTR_PROC_GID, CTR_PROC_GROUP,
	CTR_PROC_UMASK, CTR_PROC_TERMINAL, CTR_PROC_CAPS, /* 9..13: the five sets, in caps[] order */
	CTR_PROC_NNP = CTR_PROC_CAPS + 5, CTR_PROC_RLIMIT, CTR_PROC_OOM,
};
enum { CTR_RLIM_RESOURCE = 1, CTR_RLIM_SOFT, CTR_RLIM_HARD };
enum { CTR_MNT_DEST = 1, CTR_MNT_TYPE, CTR_MNT_SOURCE, CTR_MNT_FLAGS, CTR_MNT_DATA, CTR_MNT_PROP };
enum {
	CTR_DEV_PATH = 1, CTR_DEV_TYPE, CTR_DEV_MAJOR, CTR_DEV_MINOR, CTR_DEV_MODE, CTR_DEV_UID,
	CTR_DEV_GID, CTR_DEV_SOURCE,
};
enum {
	CTR_RES_CPU_QUOTA = 1, CTR_RES_CPU_PERIOD, CTR_RES_CPU_WEIGHT, CTR_RES_CPUS, CTR_RES_MEMS,
	CTR_RES_MEM_MAX, CTR_RES_SWAP_MAX, CTR_RES_MEM_LOW, CTR_RES_PIDS_MAX,
};
enum {
	CTR_NET_NAME = 1, CTR_NET_MAC, CTR_NET_ADDR, CTR_NET_GATEWAY, CTR_NET_MTU, CTR_NET_ADDR6,
	CTR_NET_GATEWAY6,
};

struct ctr_rlimit {
	uint32_t resource; /* RLIMIT_* */
	uint64_t soft, hard;
};

struct ctr_process {
	char **args; /* argv, nargs >= 1 */
	unsigned int nargs;
	char **env; /* "K=V" */
	unsigned int nenv;
	char *cwd; /* absolute */
	uint32_t uid, gid;
	uint32_t *gids; /* additional */
	unsigned int ngids;
	uint32_t umask;
	bool has_umask;
	bool terminal;
	uint64_t caps[5]; /* bounding, effective, permitted, inheritable, ambient */
	bool no_new_privs;
	struct ctr_rlimit *rlimits;
	unsigned int nrlimits;
	int32_t oom_score_adj;
	bool has_oom_score_adj;
};

enum { CTR_CAP_BOUNDING, CTR_CAP_EFFECTIVE, CTR_CAP_PERMITTED, CTR_CAP_INHERITABLE, CTR_CAP_AMBIENT };

struct ctr_mount {
	char *dest;   /* absolute, inside the container */
	char *type;   /* "bind" (an entry of the mounts share) or a guest fs type */
	char *source; /* bind: the entry's name in the mounts share; else the fs source */
	uint64_t flags;	      /* MS_* */
	char *data;	      /* fs options, may be NULL */
	uint32_t propagation; /* MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE (| MS_REC), 0 none */
};

struct ctr_device {
	char *path; /* absolute, inside the container */
	char type;  /* 'c', 'b', 'p' */
	uint32_t major, minor, mode, uid, gid;
	char *guest_source; /* a guest node to mirror (host block device passed in), or NULL */
};

/* A resource absent from the spec is not limited: its has_ bit is clear. */
struct ctr_resources {
	uint64_t cpu_quota, cpu_period, cpu_weight;
	char *cpuset_cpus, *cpuset_mems;
	uint64_t mem_max, swap_max, mem_low, pids_max;
	bool has_cpu_quota, has_cpu_period, has_cpu_weight, has_mem_max, has_swap_max, has_mem_low,
		has_pids_max;
};

struct ctr_netif {
	char *name, *mac, *gateway;
	char **addrs; /* "ADDR/PREFIX" */
	unsigned int naddrs;
	uint32_t mtu;
	char **addrs6; /* IPv6 "ADDR/PREFIX", the prefix 0..128 */
	unsigned int naddrs6;
	char *gateway6; /* IPv6 address of the default route's gateway */
};

struct ctr_spec {
	char *hostname, *domainname;
	char *root_tag; /* virtio-fs tag of the rootfs */
	bool root_ro;
	struct ctr_process process;
	struct ctr_mount *mounts;
	unsigned int nmounts;
	char **sysctls; /* "key=value" */
	unsigned int nsysctls;
	char **masked, **readonly;
	unsigned int nmasked, nreadonly;
	struct ctr_device *devices;
	unsigned int ndevices;
	bool privileged;
	char *mounts_tag; /* virtio-fs tag of the mounts share, or NULL */
	struct ctr_resources resources;
	char **modules; /* files in CTR_MODULES_DIR, in load order */
	unsigned int nmodules;
	char *cgroup; /* path inside the guest's cgroup2 mount; NULL: "/hull" */
	void *seccomp; /* struct sock_filter[], seccomp_len bytes */
	size_t seccomp_len;
	uint32_t seccomp_flags; /* SECCOMP_FILTER_FLAG_* of its load: CTR_SECCOMP_FLAGS at most */
	struct ctr_netif *netifs;
	unsigned int nnetifs;
};

/*
 * Encode for the initramfs: 0 with a malloc'd *out and *len, -E2BIG past
 * CTR_SPEC_MAX or CTR_LIST_MAX entries, -EINVAL for a spec the decoder would
 * refuse (so whatever encodes, decodes to the same struct).
 *
 * What both sides check beyond the wire format: process args (at least one),
 * an absolute cwd, uid and gid present; env and sysctls "K=V" with K
 * non-empty; paths (cwd, mount destinations, masked and read-only paths,
 * device paths and sources, the cgroup) absolute and without a ".."
 * component; umask <= 0777; an rlimit resource below RLIMIT_NLIMITS, given
 * once, soft <= hard; oom_score_adj in -1000..1000; a device type c, b or p
 * and mode <= 07777; a bind mount's source a plain name and mounts_tag set;
 * propagation one of the four kinds (| MS_REC); hostname and domainname at
 * most 64 bytes; modules plain file names; cpusets of digits, ',' and '-';
 * seccomp a whole number of 8-byte instructions, at most 4096, its flags
 * within CTR_SECCOMP_FLAGS and only with a program; interface
 * names 1..15 bytes, IPv6 addresses ctr_inet6_prefix's "ADDR/PREFIX" and an IPv6
 * gateway IPv6 text.
 */
int ctr_spec_encode(const struct ctr_spec *s, uint8_t **out, size_t *len);
int ctr_spec_decode(const void *p, size_t len, struct ctr_spec *s);
void ctr_spec_free(struct ctr_spec *s);
/* The process part alone (EXEC's field 3 uses the same tags). */
void ctr_process_put(struct tlv_w *w, uint16_t tag, const struct ctr_process *p);
int ctr_process_get(const struct tlv_r *val, struct ctr_process *p);
void ctr_process_free(struct ctr_process *p);
void ctr_resources_put(struct tlv_w *w, uint16_t tag, const struct ctr_resources *r);
int ctr_resources_get(const struct tlv_r *val, struct ctr_resources *r);
void ctr_resources_free(struct ctr_resources *r);
/* Deep copies, through the codec: 0, or the error encoding src would give (dst then zero). */
int ctr_process_copy(struct ctr_process *dst, const struct ctr_process *src);
int ctr_resources_copy(struct ctr_resources *dst, const struct ctr_resources *src);
void ctr_netif_free(struct ctr_netif *n);
/*
 * An IPv6 "ADDR/PREFIX" (inet_pton's text, a decimal prefix 0..128) into addr (network order)
 * and *prefix: 0, or -EINVAL.
 */
int ctr_inet6_prefix(const char *text, uint8_t addr[16], unsigned int *prefix);
/* Absolute with no ".." component: what the spec's paths must be (hull-init joins them to a root). */
bool ctr_path_ok(const char *p);

/* ---- messages ---- */

/* One decoded message: the fields its type uses are set, the rest are zero. */
struct ctr_msg_fields {
	uint16_t type;
	uint32_t seq;
	bool has_seq;
	uint32_t id;	  /* process id (0: the container's process) */
	uint32_t cpus;	  /* HELLO; UPDATE: the vCPUs to have online (0: as they are) */
	uint64_t memory;  /* HELLO: MemTotal bytes */
	char *release;	  /* HELLO */
	uint32_t version; /* HELLO */
	uint32_t signal;  /* SIGNAL */
	bool all;	  /* SIGNAL */
	uint32_t kind, code; /* EXITED */
	uint32_t rows, cols; /* WINSIZE */
	uint32_t pid;	  /* OK */
	uint32_t err;	  /* ERROR: errno */
	char *message;	  /* ERROR */
	uint32_t stream;  /* STREAM */
	struct ctr_process process; /* EXEC */
	bool has_process;
	struct ctr_resources resources; /* UPDATE */
	bool has_resources;
	struct ctr_netif netif; /* START: the interface hull adopted at start (docker's veth) */
	bool has_netif;
};

/*
 * A whole frame (header + payload) for m: 0 with a malloc'd *out and *len, or
 * -E2BIG / -EINVAL. Only the fields m->type uses are written.
 */
int ctr_msg_encode(const struct ctr_msg_fields *m, uint8_t **out, size_t *len);
/*
 * Decode a payload of type (after ctr_frame_parse_hdr): -EINVAL when the type
 * is unknown, a field the type requires is missing, or any field is
 * malformed or out of range (unknown tags are skipped). Even then m->type, and
 * m->seq with has_seq when the payload's seq field itself was well formed (for
 * a type with a seq, or an unknown type), are kept, so that the receiver can
 * answer ERROR for that request (ENOSYS for an unknown type).
 *
 * Required: every field of the type's row in PROTOCOL.md but SIGNAL's all,
 * OK's pid and ERROR's message, which ctr_msg_encode leaves out when false,
 * 0 or NULL (EXEC's process and UPDATE's resources are always written).
 * Ranges: EXEC's id >= 1; HELLO's cpus >= 1; a signal 1..64; EXITED kind 0
 * (code 0..255) or 1 (code = a signal, 1..64); WINSIZE rows and cols
 * <= 65535; a stream 0..3.
 */
int ctr_msg_decode(uint16_t type, const void *payload, size_t len, struct ctr_msg_fields *m);
void ctr_msg_free(struct ctr_msg_fields *m);

#endif
