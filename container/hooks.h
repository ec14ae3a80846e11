/* hooks: config.json's OCI hooks, read and checked, and run on the host with the state on stdin. */
#ifndef HULL_CONTAINER_HOOKS_H
#define HULL_CONTAINER_HOOKS_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;
struct oci_ctx;

/*
 * A hook given no timeout is killed after this many seconds (the spec sets no default; runc
 * waits for ever, which would let one stuck hook hang create, start or delete and the shim
 * behind it). A minute is long for a hook (docker's libnetwork-setkey takes milliseconds) and
 * still ends.
 */
#define CTR_HOOK_TIMEOUT_DEFAULT 60
#define CTR_HOOK_TIMEOUT_MAX 86400  /* the largest timeout accepted, in seconds (a day) */
#define CTR_HOOK_OUTPUT_MAX (64u << 10) /* a hook's stdout+stderr logged; the rest read, dropped */

/* The spec's kinds, in the order a container's life runs them. */
enum ctr_hook_kind {
	CTR_HOOK_PRESTART, /* deprecated by the spec, still what docker uses */
	CTR_HOOK_CREATE_RUNTIME,
	CTR_HOOK_CREATE_CONTAINER,
	CTR_HOOK_START_CONTAINER,
	CTR_HOOK_POSTSTART,
	CTR_HOOK_POSTSTOP,
	CTR_HOOK_KINDS,
};

struct ctr_hook {
	char *path;	   /* absolute: the executable */
	char **args;	   /* argv as given (args[0] is argv[0]); none: argv is { path } */
	unsigned int nargs;
	char **env;	   /* the environment, exactly; NULL (absent): hull's own, as runc */
	unsigned int nenv;
	unsigned int timeout; /* seconds; 0: none given (CTR_HOOK_TIMEOUT_DEFAULT) */
};

struct ctr_hooks {
	struct ctr_hook *v[CTR_HOOK_KINDS];
	unsigned int n[CTR_HOOK_KINDS];
};

/* "prestart", "createRuntime", ... as config.json names them; NULL past the last. */
const char *ctr_hook_name(enum ctr_hook_kind k);

/*
 * config.json's "hooks" object v into h (unknown kinds ignored, as runc does): each hook an
 * object with an absolute "path", "args" and "env" arrays of strings, "timeout" a positive
 * integer (at most CTR_HOOK_TIMEOUT_MAX). 0, or -EINVAL/-E2BIG with the field named
 * ("hooks.prestart[0].path: not absolute") in c's err. ctr_hooks_free(h) after, on any result.
 */
int ctr_hooks_read(struct oci_ctx *c, struct json_object *v, struct ctr_hooks *h);
/* The same from JSON text (as carried in struct ctr_bundle's hooks and <root>/<id>/hooks.json). */
int ctr_hooks_parse(const char *text, size_t len, struct ctr_hooks *h, char *err, size_t errlen);
void ctr_hooks_free(struct ctr_hooks *h);

/*
 * Run one hook on the host and wait for it: state[0..len) on its stdin (then EOF; a hook that
 * does not read it is fine), its stdout and stderr logged line by line ("hook KIND: ...", at
 * most CTR_HOOK_OUTPUT_MAX bytes), in a process group of its own with the default signal
 * dispositions and mask, no fd of hull's but 0-2. Killed (its group) when it outlives its
 * timeout. 0 when it exited 0; otherwise -ETIMEDOUT, -ECHILD (a non-zero exit or a signal) or
 * another -errno, with the cause in err.
 */
int ctr_hook_run(const struct ctr_hook *h, const char *kind, const char *state, size_t len,
		 char *err, size_t errlen);

/*
 * Run the hooks of kind k in order: 0 when all succeeded (or there are none). Without all,
 * stop at the first failure (prestart, createRuntime, createContainer, startContainer: the
 * verb fails), its index and cause in err ("prestart hook 1 (/path): exit status 3"); with
 * all (poststart, poststop: the spec's warnings), run every one, log each failure as a
 * warning and return the first's.
 */
int ctr_hooks_run(const struct ctr_hooks *h, enum ctr_hook_kind k, const char *state, size_t len,
		  bool all, char *err, size_t errlen);

#endif
