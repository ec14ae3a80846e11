/* main: hull's entry point — parse the command line, run the VM, exit with its status. */
#include <stdlib.h>
#include <time.h>

#include "cli/cli.h"
#include "lib/log.h"
#include "vmm/vm.h"

int main(int argc, char **argv)
{
	struct vm_epoch epoch;
	struct vm_config cfg;
	bool verbose = getenv("HULL_DEBUG") != NULL;
	int status;

	/* Taken first: the boot timer measures from here. */
	clock_gettime(CLOCK_MONOTONIC, &epoch.wall);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &epoch.cpu);
	config_init(&cfg);
	switch (cli_parse(argc, argv, &cfg, &verbose)) {
	case CLI_EXIT_OK:
		status = 0;
		break;
	case CLI_EXIT_USAGE:
		status = VM_EXIT_USAGE;
		break;
	case CLI_RUN_CTL:
		status = ctl_main(argc - 1, argv + 1);
		break;
	case CLI_RUN_VM:
	default:
		log_set_verbose(verbose);
		status = vm_main(&cfg, &epoch);
		break;
	}
	config_free(&cfg);
	return status;
}
