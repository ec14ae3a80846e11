/* state: the OCI runtime's state directory <root>/<id>/ — ids, a per-container lock, state.json. */
#ifndef HULL_CONTAINER_STATE_H
#define HULL_CONTAINER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct json_object;

#define CTR_STATE_ROOT "/run/hull" /* --root's default */
/*
 * The longest container id. runc bounds none; docker, podman and containerd use 64 hex digits
 * or short names. 128 keeps <root>/<id>/<file> well within PATH_MAX and leaves the next
 * engineer room for the control socket's sun_path (see README).
 */
#define CTR_ID_MAX 128
#define CTR_STATE_MAX (1u << 20) /* the largest state.json read back (annotations included) */
#define CTR_TIME_LEN 40		 /* "2026-12-06T21:44:55.123456789Z" and its NUL, with room */

/* The files of <root>/<id>/. */
#define CTR_STATE_FILE "state.json"
#define CTR_STATE_TMP "state.json.tmp" /* written, fsync'd, renamed over state.json */
#define CTR_LOCK_FILE "lock"
#define CTR_CONTROL_FILE "ctl.sock" /* the VMM's control socket */
#define CTR_VMM_LOG "vmm.log"	    /* the VMM's messages when no --log was given */
#define CTR_HOOKS_FILE "hooks.json" /* config.json's hooks, kept for start and delete */

/* runc's statuses (and its "creating", while create has not finished). */
enum ctr_status {
	CTR_CREATING,
	CTR_CREATED,
	CTR_RUNNING,
	CTR_PAUSED,
	CTR_STOPPED,
};

/* What state.json holds: runc's `state` fields, then hull's own. */
struct ctr_state {
	char *oci_version; /* the bundle's config.json's */
	char *id;
	int pid;	   /* the VMM's (the pid-file's); 0 when there is none */
	enum ctr_status status;
	char *bundle;	   /* absolute */
	char *rootfs;	   /* absolute */
	char created[CTR_TIME_LEN]; /* RFC 3339 UTC with nanoseconds */
	char *owner;	   /* "" as runc writes it for a root-owned container */
	struct json_object *annotations; /* an object of strings; NULL: none */
	/* hull's */
	char *control;	   /* the VMM's control socket path; NULL before the VMM listens */
	uint64_t pid_start; /* the VMM's start time (/proc/PID/stat field 22): a reused PID differs */
	/* `update`'s resources, runc's LinuxResources JSON; NULL: none (issue 15 applies them) */
	struct json_object *resources;
};

/*
 * A container id as runc takes it: 1..CTR_ID_MAX bytes of [A-Za-z0-9_+.-], neither "." nor
 * "..". 0, or -EINVAL with the reason in err.
 */
int ctr_id_check(const char *id, char *err, size_t errlen);

/* "created", "running", ...; and back (-EINVAL for another word). */
const char *ctr_status_name(enum ctr_status s);
int ctr_status_parse(const char *s, enum ctr_status *out);

/* now as RFC 3339 UTC with nanoseconds, as runc's "created" (buf: CTR_TIME_LEN bytes). */
void ctr_state_time(char *buf, size_t len);

/*
 * /proc/PID/stat's start time (clock ticks since boot): 0, or -ESRCH when there is no such
 * process (or it is a zombie: the VMM has exited), -EINVAL for a stat line it cannot read.
 */
int ctr_proc_start(pid_t pid, uint64_t *out);

/*
 * The lock protocol: each verb holds <root>/<id>/lock (flock, exclusive) from before it reads
 * state.json until after it has written it or removed the directory. delete unlinks the lock
 * file while holding it, so a verb that was waiting finds its file unlinked (st_nlink 0) and
 * reports the container gone rather than acting on a removed one.
 *
 * ctr_state_create: make <root> (0711, parents too) and <root>/<id> (0700), then take the lock.
 * 0 with *lockfd; -EEXIST when the id is taken (message "container with id exists: ID").
 * ctr_state_lock: the lock of an existing container; -ENOENT when there is none (message
 * `container "ID" does not exist`, as runc words it). Both: other -errno with the path named.
 */
int ctr_state_create(const char *root, const char *id, int *lockfd, char *err, size_t errlen);
int ctr_state_lock(const char *root, const char *id, int *lockfd, char *err, size_t errlen);
void ctr_state_unlock(int lockfd);

/*
 * Write s to <root>/<s->id>/state.json atomically (a temporary file, fsync, rename, fsync of
 * the directory): a reader sees the old state or the new one, whole. The lock must be held.
 */
int ctr_state_write(const char *root, const struct ctr_state *s, char *err, size_t errlen);

/*
 * Read <root>/<id>/state.json back, strictly: every field present with its type (annotations
 * and control may be absent), the id the directory's, a known status, a well-formed time.
 * -ENOENT when there is no container (message as ctr_state_lock's), -EINVAL for a corrupt
 * file ("state of container ID: FIELD: why"). ctr_state_free(s) after, on any result.
 */
int ctr_state_read(const char *root, const char *id, struct ctr_state *s, char *err,
		   size_t errlen);
/* The parsing part of ctr_state_read: text[0..len) as container id's state.json. */
int ctr_state_parse(const char *text, size_t len, const char *id, struct ctr_state *s,
		    char *err, size_t errlen);
void ctr_state_free(struct ctr_state *s);

/*
 * A VMM that is gone: status created/running/paused whose pid no longer exists, or exists with
 * another start time (the PID was reused), is stopped (and its pid 0, as runc shows it). Returns
 * true when s changed. Does not write the file.
 */
bool ctr_state_refresh(struct ctr_state *s);

/* runc's JSON for `state` and `list --format json`: a new object (json_object_put it), or NULL. */
struct json_object *ctr_state_json(const struct ctr_state *s);

/*
 * Remove <root>/<id>/ (its state files, lock and any other file hull put there, not deeper
 * directories). The lock must be held: it is released by closing lockfd afterwards.
 */
int ctr_state_remove(const char *root, const char *id, char *err, size_t errlen);

/*
 * The ids under root (directories with a valid id), sorted: a malloc'd array of malloc'd
 * strings (ctr_strv_free). A missing root is an empty list.
 */
int ctr_state_list(const char *root, char ***ids, unsigned int *n, char *err, size_t errlen);

#endif
