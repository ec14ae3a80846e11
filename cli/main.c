/* main: hull's entry point — parse the command line, check the input, run the VM, exit. */
#include <stdlib.h>
#include <time.h>

#include "cli/cli.h"
#include "lib/log.h"
#include "vmm/vm.h"

int main(int argc, char **argv)
{
	struct cli_run run = { 0 };
	struct vm_epoch epoch;
	struct vm_config cfg;
	struct vm_prep prep;
	bool verbose = getenv("HULL_DEBUG") != NULL;
	int status, verb = 1;

	/* Taken first: the boot timer measures from here. */
	clock_gettime(CLOCK_MONOTONIC, &epoch.wall);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &epoch.cpu);
	config_init(&cfg);
	switch (cli_parse(argc, argv, &cfg, &run, &verbose, &verb)) {
	case CLI_EXIT_OK:
		status = 0;
		break;
	case CLI_EXIT_USAGE:
		status = VM_EXIT_USAGE;
		break;
	case CLI_RUN_CTL:
		status = ctl_main(argc - verb, argv + verb);
		break;
	case CLI_RUN_RUNTIME:
		log_set_verbose(verbose);
		status = rt_main(&run.rt);
		break;
	case CLI_RUN_CONTAINER:
		log_set_verbose(verbose);
		/* Bad input is found before /dev/kvm: exit 2; then the container's status. */
		status = ctr_run_main(&cfg, &run.args, &epoch);
		break;
	case CLI_RUN_VM:
	default:
		log_set_verbose(verbose);
		/* Bad input is found here, before /dev/kvm: exit 2. Later failures are exit 1. */
		if (vm_prepare(&cfg, &prep)) {
			status = VM_EXIT_USAGE;
			break;
		}
		status = vm_main(&cfg, &prep, &epoch);
		vm_prep_free(&prep);
		break;
	}
	cli_run_free(&run);
	config_free(&cfg);
	log_close();
	return status;
}
