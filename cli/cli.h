/* cli: hull's command line — global options, commands, flags and help, from the config tables. */
#ifndef HULL_CLI_CLI_H
#define HULL_CLI_CLI_H

#include "vmm/config.h"

#define HULL_VERSION "0.1.0"

enum cli_action {
	CLI_RUN_VM,
	CLI_EXIT_OK,    /* --help or --version was printed */
	CLI_EXIT_USAGE, /* a message was logged */
};

/*
 * Parse argv: the global options before the command (--log FILE, --log-format text|json,
 * which are applied at once with log_open(), so the messages about the rest already go where
 * they say; --help, --version), then "vm" and its flags into cfg: defaults, then --config
 * FILE, then the other flags, which override the file. Prints help or version to stdout;
 * every error is one logged line.
 */
enum cli_action cli_parse(int argc, char **argv, struct vm_config *cfg, bool *verbose);

/* `hull vm --help`'s text, generated from config_settings[] and config_kinds[] (malloc'd). */
char *cli_vm_help(void);

#endif
