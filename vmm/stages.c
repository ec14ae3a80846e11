/* stages: VM lifecycle as a table of init/exit pairs, run in order and unwound in reverse. */
#include "vmm/stages.h"

#include "lib/log.h"

int stages_run(const struct stage *const *stages, unsigned int n, struct vm *vm,
	       unsigned int *done)
{
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++) {
		log_debug("stage %s", stages[i]->name);
		ret = stages[i]->init(vm);
		if (ret) {
			stages_unwind(stages, i, vm);
			*done = 0;
			return ret;
		}
	}
	*done = n;
	return 0;
}

void stages_unwind(const struct stage *const *stages, unsigned int done, struct vm *vm)
{
	while (done-- > 0)
		if (stages[done]->exit)
			stages[done]->exit(vm);
}
