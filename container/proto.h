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
#define CTR_HELLO_TIMEOUT_MS 60000 /* default; HULL_AGENT_TIMEOUT_MS overrides */
#define CTR_SPEC_PATH "/hull/spec"
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
	struct ctr_netif *netifs;
	unsigned int nnetifs;
};

/* Encode for the initramfs: 0 with a malloc'd *out and *len, -E2BIG past CTR_SPEC_MAX, -EINVAL. */
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

/* ---- messages ---- */

/* One decoded message: the fields its type uses are set, the rest are zero. */
struct ctr_msg_fields {
	uint16_t type;
	uint32_t seq;
	bool has_seq;
	uint32_t id;	  /* process id (0: the container's process) */
	uint32_t cpus;	  /* HELLO */
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
};

/*
 * A whole frame (header + payload) for m: 0 with a malloc'd *out and *len, or
 * -E2BIG / -EINVAL. Only the fields m->type uses are written.
 */
int ctr_msg_encode(const struct ctr_msg_fields *m, uint8_t **out, size_t *len);
/*
 * Decode a payload of type (after ctr_frame_parse_hdr): -EINVAL when a field
 * the type requires is missing or malformed (unknown tags are skipped).
 */
int ctr_msg_decode(uint16_t type, const void *payload, size_t len, struct ctr_msg_fields *m);
void ctr_msg_free(struct ctr_msg_fields *m);

#endif
