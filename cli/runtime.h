/* runtime: hull as an OCI runtime — runc's verbs and flags, as the shims pass them, parsed. */
#ifndef HULL_CLI_RUNTIME_H
#define HULL_CLI_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctr_state;

#define RT_SPEC_VERSION "1.0.2" /* the runtime spec hull follows, as --version says */
#define RT_RESOURCES_MAX (1u << 20) /* update --resources FILE|-: the most read */

enum rt_verb {
	RT_NONE, /* not a runtime verb */
	RT_CREATE,
	RT_START,
	RT_STATE,
	RT_KILL,
	RT_DELETE,
	RT_EXEC,
	RT_PAUSE,
	RT_RESUME,
	RT_PS,
	RT_UPDATE,
	RT_FEATURES,
	RT_RUN,
	RT_LIST,
	RT_SPEC,
};

/* The global flags before the verb that only the runtime verbs use (--log* are cli.c's). */
struct rt_global {
	const char *root;	    /* --root DIR; default CTR_STATE_ROOT */
	bool systemd_cgroup;	    /* --systemd-cgroup: accepted; cgroupsPath is taken as given */
	bool debug;		    /* --debug: debug messages on */
	const char *cgroup_manager; /* --cgroup-manager (podman passes crun's flag): accepted */
	const char *rootless;	    /* --rootless auto|true|false: accepted */
	const char *criu;	    /* --criu PATH: accepted (no checkpoints) */
	const char *log;	    /* --log FILE (cli.c opened it): the VMM's messages go there too */
	bool log_json;		    /* --log-format json */
};

/* runc update's resources: the flag form and --resources' LinuxResources JSON alike. */
struct rt_resources {
	bool has_memory, has_memory_reservation, has_memory_swap, has_cpu_shares, has_cpu_quota,
		has_cpu_period, has_pids_limit;
	int64_t memory, memory_reservation, memory_swap; /* bytes; -1: unlimited */
	uint64_t cpu_shares, cpu_period;
	int64_t cpu_quota, pids_limit; /* -1: unlimited */
	const char *cpuset_cpus, *cpuset_mems; /* NULL: unchanged (a flag's, or json_*'s) */
	char *json_cpus, *json_mems;	       /* malloc'd from --resources (rt_cmd_free) */
};

/* One runtime verb's arguments; strings point into argv. */
struct rt_cmd {
	enum rt_verb verb;
	struct rt_global g;
	const char *id;
	/* create, run */
	const char *bundle, *pid_file, *console_socket;
	bool no_pivot, no_new_keyring, detach, keep, no_subreaper;
	unsigned int preserve_fds;
	/* kill */
	bool all;
	int signal;
	/* delete */
	bool force;
	/* exec (detach, pid_file, console_socket above too) */
	const char *process, *cwd, *user, *process_label, *apparmor;
	bool tty, no_new_privs;
	const char **env, **caps, **gids; /* malloc'd, room for all of argv */
	unsigned int nenv, ncaps, ngids;
	const char *const *args; /* exec ID CMD ARG...; ps ID ps-options */
	unsigned int nargs;
	/* ps, list */
	const char *format; /* "table" or "json" */
	bool quiet;	    /* list -q */
	/* update */
	const char *resources; /* --resources FILE or "-" */
	struct rt_resources res; /* the flag form */
	/* spec */
	bool rootless_spec;
};

/* The verb argv names, RT_NONE when it is no runtime verb (or is hull's own run). */
enum rt_verb rt_verb_of(const char *name);

/*
 * Parse a runtime verb and its flags (argv[0] is the verb) into c (c->g as the globals left
 * it). Flags as runc takes them: --flag VALUE, --flag=VALUE, and runc's short ones; the id
 * and, for exec and ps, what follows it. Returns 0, 1 when --help was printed, or -EINVAL
 * with one logged line (runc's words where shims read them). rt_cmd_free(c) after.
 */
int rt_parse(int argc, char **argv, struct rt_cmd *c);
void rt_cmd_free(struct rt_cmd *c);

/*
 * runc's update resources as JSON (LinuxResources: memory.limit/reservation/swap, cpu.shares/
 * quota/period/cpus/mems, pids.limit; unknown fields ignored, as runc does) into r, over what
 * the flags set. 0, or -EINVAL with the reason in err.
 */
int rt_resources_parse(const char *text, size_t len, struct rt_resources *r, char *err,
		       size_t errlen);

/* Run the parsed verb: the exit status (0; 1 for a failure, logged). */
int rt_main(struct rt_cmd *c);

/* --- the verbs that reach a VMM (rtvmm.c) --- */

/* --root's, or the default. */
const char *rt_root(const struct rt_cmd *c);
/*
 * s as ctr_state_refresh leaves it, then, while its VMM lives, the container's status as the
 * VMM says it; a VMM that lives but no longer serves its control socket (it is ending) is
 * stopped.
 */
void rt_refresh(const char *root, struct ctr_state *s);
/*
 * The poststop hooks of a container whose VMM is gone (state s, stopped), from
 * <root>/<id>/hooks.json: each failure logged as a warning, none stops the caller.
 */
void rt_poststop(const char *root, const struct ctr_state *s);
int rt_create(struct rt_cmd *c);
int rt_start(struct rt_cmd *c);
int rt_run(struct rt_cmd *c);
int rt_kill(struct rt_cmd *c);
int rt_pause(struct rt_cmd *c, bool pause);
int rt_ps(struct rt_cmd *c);
int rt_exec(struct rt_cmd *c);
/* The resources (rt_resources, flags over --resources') merged into state.json's. */
int rt_update(struct rt_cmd *c);
/*
 * Exit as a process ended: killed by sig (re-raised with the default action, no core
 * dump, so a waiter sees WIFSIGNALED), else with code.
 */
void rt_exit_as(int sig, int code) __attribute__((noreturn));

/* `--version`'s lines, runc's form: "hull version X", "spec: Y", "libseccomp: Z". */
void rt_print_version(void);

/* runc's `features` JSON as hull fills it (malloc'd text), or NULL. */
char *rt_features_json(void);

/* runc's default config.json as `spec` writes it (hostname "hull"; runc's otherwise). */
const char *rt_default_spec(void);

#endif
