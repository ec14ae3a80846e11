/* ctlproto: the control socket's protocol — one JSON object per line each way, as pure functions. */
#ifndef HULL_VMM_CTLPROTO_H
#define HULL_VMM_CTLPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmm/census.h"

/*
 * Requests: {"cmd":"state"|"pause"|"resume"|"stop"|"balloon"} and a newline,
 * nothing else in the object but, for balloon, "target":bytes. Replies:
 * {"ok":true}, {"error":"..."}; to state, {"state":"running"|"paused",
 * "vcpus":[{"index":0,"tid":1234},...],"memory":bytes,"devices":[{"id":...,
 * "kind":...,"base":...,"gsi":...},...],"uptime_ms":N[,"container":STATUS]};
 * to balloon, {"target":bytes,"actual":bytes,"released":bytes,"reported":bytes,
 * "stats":{"free_memory":N,...}[,"stats_age_ms":N]}; each on one line.
 *
 * A container VM (the OCI runtime's VMM, hull create) answers more, and says its
 * container's status (created, running, paused, stopped) in state's "container":
 *  - {"cmd":"start"}: the container's process is started; {"ok":true} once it runs;
 *  - {"cmd":"kill","signal":N[,"all":true]}: signal 1..64 to its process (all: every
 *    process of the container); with "id":N to exec N's process instead;
 *  - {"cmd":"ps"}: {"pids":[PID,...]}, the host processes of the container (the VMM's);
 *  - {"cmd":"exec","process":{OCI process}}, sent with up to CTL_FDS_MAX descriptors
 *    (SCM_RIGHTS; stdin, stdout, stderr — or one terminal, when process.terminal):
 *    {"ok":true,"id":N} once the process runs (N: its exec id), and on the same
 *    connection later one line {"exit":CODE} or {"signal":SIG} when it ended;
 *  - {"cmd":"resize","id":N,"rows":R,"cols":C}: exec N's terminal size.
 * Any other VM answers them with an error, but for update:
 *  - {"cmd":"update","resources":{OCI linux.resources}}: the fields given (-1 clears a limit)
 *    applied live at every level — a container VM: its host cgroup, the vCPUs' pinning, the
 *    container's cgroup in the guest; a standalone VM (hull vm): its --cgroup and pinning.
 *    {"ok":true} once all are written; {"error":...} naming the level that refused, with the
 *    levels written before it set back.
 *
 * A VM with a memory hotplug region (--max-memory, virtio-mem) takes
 * {"cmd":"memory","size":bytes}: the guest is asked to have size bytes in all
 * (its boot RAM and plugged blocks); {"ok":true} once asked. Its state reply
 * then has "hotplug":{"region":bytes,"plugged":bytes,"requested":bytes}.
 */

#define CTL_LINE_MAX 65536 /* bytes of one request line, its newline included */

enum ctl_cmd {
	CTL_STATE,
	CTL_PAUSE,
	CTL_RESUME,
	CTL_STOP,
	CTL_BALLOON,
	CTL_START,
	CTL_KILL,
	CTL_PS,
	CTL_EXEC,
	CTL_RESIZE,
	CTL_MEMORY,
	CTL_UPDATE,
	CTL_NCMDS,
};

#define CTL_FDS_MAX 3	    /* descriptors one request may carry (exec's stdio) */
#define CTL_SIGNAL_MAX 64   /* kill's signals: 1..64 */

/* One request: the command and its arguments. */
struct ctl_request {
	enum ctl_cmd cmd;
	bool has_target; /* balloon: set the target ... */
	uint64_t target; /* ... to this many bytes */
	int signal;	 /* kill */
	bool all;	 /* kill: every process of the container */
	/* kill: an exec's process (0: the container's); resize: the exec (0: the container) */
	char *process;	 /* exec: the OCI process object as JSON text (malloc'd: ctl_request_free) */
	char *resources; /* update: the OCI linux.resources object as JSON text (malloc'd too) */
	uint32_t id, rows, cols;
	uint64_t size;	 /* memory: the guest's memory in all, in bytes (required) */
};

/* "state", "pause", ...; and back (-EINVAL for a name that is no command). */
const char *ctl_cmd_name(enum ctl_cmd cmd);
int ctl_cmd_from_name(const char *name, enum ctl_cmd *cmd);

/*
 * One request line, its newline removed: 0 with *req, or -EINVAL with a
 * one-line reason in err (not JSON, trailing data, a NUL byte, not an
 * object, no "cmd", an unknown command or field, a field the command does
 * not take, a target or size that is not an integer of 0 or more, memory
 * without a size).
 */
int ctl_parse_request(const char *line, size_t len, struct ctl_request *req, char *err,
		      size_t errlen);

/* The request line for req, newline included, in buf: its length, or -ENOSPC. */
int ctl_encode_request(const struct ctl_request *req, char *buf, size_t size);
void ctl_request_free(struct ctl_request *req);

/* What the state reply says. */
struct ctl_vcpu {
	unsigned int index;
	pid_t tid; /* 0: its thread has not started */
};

struct ctl_dev {
	const char *id, *kind;
	uint64_t base;
	uint32_t gsi;
};

struct ctl_state {
	bool paused;
	const struct ctl_vcpu *vcpus;
	unsigned int nvcpus;
	uint64_t memory; /* bytes of guest RAM */
	const struct ctl_dev *devs;
	unsigned int ndevs;
	uint64_t uptime_ms; /* since the vCPUs started */
	const char *container; /* a container VM's container status; NULL: none */
	const struct milestones *ms;   /* "stats": the start's milestones... */
	const struct census_total *exits; /* ...and the exits to hull; NULL: no "stats" */
	const struct ctl_hotplug *hotplug; /* NULL: no hotplug region */
};

/* The hotplug region (virtio-mem): bytes in it, plugged, and asked for. */
struct ctl_hotplug {
	uint64_t region, plugged, requested;
};

/* What the balloon reply says (bytes), and the guest's statistics by name. */
struct ctl_stat {
	const char *name;
	uint64_t value;
};

struct ctl_balloon {
	uint64_t target, actual;
	uint64_t released, reported;
	const struct ctl_stat *stats;
	unsigned int nstats;
	bool has_age;          /* the guest sent statistics ... */
	uint64_t stats_age_ms; /* ... this long ago */
};

/* Reply lines, newline included: malloc'd (free() them), *len set; NULL when out of memory. */
char *ctl_reply_ok(size_t *len);
char *ctl_reply_error(const char *msg, size_t *len);
char *ctl_reply_state(const struct ctl_state *s, size_t *len);
char *ctl_reply_balloon(const struct ctl_balloon *b, size_t *len);
char *ctl_reply_pids(const pid_t *pids, unsigned int n, size_t *len);
char *ctl_reply_exec(uint32_t id, size_t *len);
/* A process's end: {"exit":code} (sig 0) or {"signal":sig}. */
char *ctl_reply_exited(int sig, int code, size_t *len);

/*
 * A reply line (client side), its newline removed: 0 for a reply that is not
 * an error, 1 for {"error":MSG} with MSG in err, -EINVAL (reason in err) for
 * a line that is no reply.
 */
int ctl_parse_reply(const char *line, size_t len, char *err, size_t errlen);

/*
 * Members of a reply that is not an error (client side): an integer member key (0 and *out,
 * -ENOENT when it is absent, -EINVAL when it is not an integer in [min, max]); a string member
 * into buf (0, -ENOENT, -EINVAL when it is no string, -ENOSPC when it does not fit).
 */
int ctl_reply_int(const char *line, size_t len, const char *key, int64_t min, int64_t max,
		  int64_t *out);
int ctl_reply_string(const char *line, size_t len, const char *key, char *buf, size_t size);

/*
 * Bytes received, cut into lines: a buffer of CTL_LINE_MAX bytes. Receive
 * into ctl_reader_room(), ctl_reader_commit() what arrived, then take lines
 * with ctl_reader_line() until it returns 0.
 */
struct ctl_reader {
	char buf[CTL_LINE_MAX];
	size_t start, len; /* unread bytes: buf[start .. start + len) */
	size_t scanned;    /* of those, how many are known to hold no newline */
};

void ctl_reader_init(struct ctl_reader *r);
/* Where the next bytes go and how many fit (0: the buffer holds a full line, or no newline yet). */
char *ctl_reader_room(struct ctl_reader *r, size_t *room);
void ctl_reader_commit(struct ctl_reader *r, size_t n);
/*
 * The next complete line: 1 with *line and *len (newline removed; valid until
 * the next call), 0 when none is complete yet, -EMSGSIZE when CTL_LINE_MAX
 * bytes hold no newline (the stream cannot be resynchronised: close it).
 */
int ctl_reader_line(struct ctl_reader *r, const char **line, size_t *len);
/* Bytes received and not taken as lines yet (a request in progress). */
size_t ctl_reader_pending(const struct ctl_reader *r);

#endif
