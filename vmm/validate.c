/* validate: the first pass — every input the user named opened and checked before /dev/kvm. */
#include "lib/log.h"
#include "lib/usock.h"
#include "vmm/vm.h"

int vm_prepare(const struct vm_config *cfg, struct vm_prep *p)
{
	char err[256];
	unsigned int i;
	int ret;

	*p = (struct vm_prep){ .initrd_fd = -1, .kernel.fd = -1 };
	ret = config_validate(cfg, err, sizeof(err));
	if (ret) {
		log_msg("%s", err);
		return ret;
	}
	/* First: what the first pass starts (passt) and allocates is confined and accounted. */
	ret = vm_host_prepare(cfg, p);
	if (!ret)
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
	vm_prep_free_boot(p);
	vm_host_release(p);
}
