/* validate: the first pass — every input the user named opened and checked before /dev/kvm. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/usock.h"
#include "vmm/vm.h"

int vm_prepare(const struct vm_config *cfg, struct vm_prep *p)
{
	char err[256];
	unsigned int i;
	int ret;

	*p = (struct vm_prep){ .initrd_fd = -1 };
	ret = config_validate(cfg, err, sizeof(err));
	if (ret) {
		log_msg("%s", err);
		return ret;
	}
	ret = vm_check_kernel(cfg, p);
	for (i = 0; !ret && i < cfg->ndevs; i++) {
		const struct config_dev *d = &cfg->devs[i];

		if (!d->kind->check)
			continue;
		p->res_kind[i] = d->kind;
		ret = d->kind->check(d->cfg, config_index(cfg, i), &p->res[i]); /* says why not */
	}
	if (!ret && cfg->api_sock)
		ret = usock_check("api-sock", cfg->api_sock, 0);
	if (ret)
		vm_prep_free(p);
	return ret;
}

void vm_prep_free(struct vm_prep *p)
{
	unsigned int i;

	for (i = 0; i < CONFIG_MAX_DEVS; i++) {
		if (p->res[i] && p->res_kind[i]->release)
			p->res_kind[i]->release(p->res[i]);
		p->res[i] = NULL;
	}
	free(p->kernel);
	p->kernel = NULL;
	if (p->initrd_fd >= 0)
		close(p->initrd_fd);
	p->initrd_fd = -1;
	if (p->has_demo)
		boot_cpio_free(&p->demo);
	p->has_demo = false;
}
