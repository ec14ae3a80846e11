/* cli: hull's command line — subcommands, flags, help and version. */
#ifndef HULL_CLI_CLI_H
#define HULL_CLI_CLI_H

#include "vmm/config.h"

#define HULL_VERSION "0.1.0"

enum cli_action {
	CLI_RUN_VM,
	CLI_EXIT_OK,    /* --help or --version was printed */
	CLI_EXIT_USAGE, /* a message was printed */
};

/*
 * Parse argv ("hull vm [flags]" and the global --help/--version) into cfg:
 * defaults, then --config FILE, then the other flags, which override the
 * file. Prints help, version or a one-line error to the given streams.
 */
enum cli_action cli_parse(int argc, char **argv, struct vm_config *cfg, bool *verbose);

#endif
