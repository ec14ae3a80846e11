/* cli: hull's command line — global options, commands, flags and help, from the config tables. */
#ifndef HULL_CLI_CLI_H
#define HULL_CLI_CLI_H

#include "cli/runtime.h"
#include "container/run.h"
#include "vmm/config.h"

#define HULL_VERSION "0.1.0"

enum cli_action {
	CLI_RUN_VM,
	CLI_RUN_CONTAINER, /* hull run: ctr_run_main with cli_run's args */
	CLI_RUN_CTL,    /* hull ctl: ctl_main(argc - verb, argv + verb) */
	CLI_RUN_RUNTIME, /* a runc verb (create, state, ...): rt_main(&cli_run's rt) */
	CLI_EXIT_OK,    /* --help or --version was printed */
	CLI_EXIT_USAGE, /* a message was logged */
};

/*
 * `hull run`'s flags: the container's (pointing into argv) and the lists they fill; or, for
 * a runc verb, the verb's flags and the runtime's global ones (--root, ...) in rt.
 */
struct cli_run {
	struct ctr_run_args args;
	const char **env, **mounts, **tmpfs; /* malloc'd, room for all of argv */
	struct rt_cmd rt;
};

/*
 * Parse argv: the global options before the command (--log FILE, --log-format text|json,
 * which are applied at once with log_open(), so the messages about the rest already go where
 * they say; --help, --version; the runtime's --root, --systemd-cgroup, --debug, ...), then a
 * runc verb into run->rt (runtime.h), or "vm" and its flags into cfg: defaults, then --config
 * FILE, then the other flags, which override the file; or "run" and its flags into run and
 * cfg (the VM's: --kernel, --cpus, --memory, --net). Prints help or version to stdout; every
 * error is one logged line. *verb is argv's index of the command. cli_run_free(run) after.
 */
enum cli_action cli_parse(int argc, char **argv, struct vm_config *cfg, struct cli_run *run,
			  bool *verbose, int *verb);
/* `hull run ...` (argv[0] is "run"). */
enum cli_action cli_parse_run(int argc, char **argv, struct vm_config *cfg, struct cli_run *run,
			      bool *verbose);
void cli_run_free(struct cli_run *run);

/*
 * `hull ctl PATH state|pause|resume|stop` (argv[0] is "ctl"): send the
 * command to the control socket PATH, print the reply line on stdout.
 * Returns the exit status: 0, 1 for an error reply or when PATH cannot be
 * reached (the message names it), 2 for bad usage.
 */
int ctl_main(int argc, char **argv);
/* Send all of buf on a socket (EINTR retried; its send timeout is -ETIMEDOUT): 0 or -errno. */
int ctl_send_all(int fd, const char *buf, size_t len);

/* `hull vm --help`'s text, generated from config_settings[] and config_kinds[] (malloc'd). */
char *cli_vm_help(void);

#endif
