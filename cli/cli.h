/* cli: hull's command line — subcommands, flags, help and version. */
#ifndef HULL_CLI_CLI_H
#define HULL_CLI_CLI_H

#include "vmm/config.h"

#define HULL_VERSION "0.1.0"

enum cli_action {
	CLI_RUN_VM,
	CLI_RUN_CTL,    /* hull ctl: ctl_main(argc - 1, argv + 1) */
	CLI_EXIT_OK,    /* --help or --version was printed */
	CLI_EXIT_USAGE, /* a message was printed */
};

/*
 * Parse argv ("hull vm [flags]" and the global --help/--version) into cfg:
 * defaults, then --config FILE, then the other flags, which override the
 * file. Prints help, version or a one-line error to the given streams.
 */
enum cli_action cli_parse(int argc, char **argv, struct vm_config *cfg, bool *verbose);

/*
 * `hull ctl PATH state|pause|resume|stop` (argv[0] is "ctl"): send the
 * command to the control socket PATH, print the reply line on stdout.
 * Returns the exit status: 0, 1 for an error reply or when PATH cannot be
 * reached (the message names it), 2 for bad usage.
 */
int ctl_main(int argc, char **argv);

#endif
