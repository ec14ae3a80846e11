/* cli: hull's command line — global options, commands, flags and help, from the config tables. */
#ifndef HULL_CLI_CLI_H
#define HULL_CLI_CLI_H

#include "vmm/config.h"

#define HULL_VERSION "0.1.0"

enum cli_action {
	CLI_RUN_VM,
	CLI_RUN_CTL,    /* hull ctl: ctl_main(argc - verb, argv + verb) */
	CLI_EXIT_OK,    /* --help or --version was printed */
	CLI_EXIT_USAGE, /* a message was logged */
};

/*
 * Parse argv: the global options before the command (--log FILE, --log-format text|json,
 * which are applied at once with log_open(), so the messages about the rest already go where
 * they say; --help, --version), then "vm" and its flags into cfg: defaults, then --config
 * FILE, then the other flags, which override the file. Prints help or version to stdout;
 * every error is one logged line. *verb is argv's index of the command.
 */
enum cli_action cli_parse(int argc, char **argv, struct vm_config *cfg, bool *verbose, int *verb);

/*
 * `hull ctl PATH state|pause|resume|stop` (argv[0] is "ctl"): send the
 * command to the control socket PATH, print the reply line on stdout.
 * Returns the exit status: 0, 1 for an error reply or when PATH cannot be
 * reached (the message names it), 2 for bad usage.
 */
int ctl_main(int argc, char **argv);

/* `hull vm --help`'s text, generated from config_settings[] and config_kinds[] (malloc'd). */
char *cli_vm_help(void);

#endif
