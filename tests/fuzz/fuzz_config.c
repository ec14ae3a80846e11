/* libFuzzer target: arbitrary bytes as a JSON config file, then validation; must never crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_config c;
	char err[256];
	int ret;

	config_init(&c);
	err[0] = '\0';
	ret = config_load_json(&c, (const char *)data, size, err, sizeof(err));
	/* Every failure says why, in a terminated string. */
	if (ret && (ret > 0 || !err[0] || !memchr(err, '\0', sizeof(err))))
		abort();
	if (!ret && config_validate(&c, err, sizeof(err)) == 0) {
		/* Whatever validation passes is inside hull's limits. */
		if (c.cpus < 1 || c.cpus > CONFIG_MAX_CPUS || c.mem < CONFIG_MIN_MEM ||
		    c.mem > CONFIG_MAX_MEM || (c.mem & 0xfff))
			abort();
		if ((c.kernel && !c.kernel[0]) || (c.initrd && !c.initrd[0]))
			abort();
		/* Every share that validates has a tag, a path, and a tag no other share has. */
		for (unsigned int i = 0; i < c.nshares; i++) {
			if (!c.shares[i].tag[0] || !c.shares[i].path || !c.shares[i].path[0])
				abort();
			for (unsigned int j = 0; j < i; j++)
				if (!strcmp(c.shares[i].tag, c.shares[j].tag))
					abort();
		}
		/* Every net names its backend; no tap serves two devices. */
		for (unsigned int i = 0; i < c.nnets; i++) {
			if (c.nets[i].backend == VNET_TAP && (!c.nets[i].tap || !c.nets[i].tap[0]))
				abort();
			for (unsigned int j = 0; j < i; j++)
				if (c.nets[i].backend == VNET_TAP && c.nets[j].backend == VNET_TAP &&
				    !strcmp(c.nets[i].tap, c.nets[j].tap))
					abort();
		}
		/* A vsock has a usable CID and a socket path. */
		if (c.has_vsock && (c.vsock.cid < 3 || c.vsock.cid == UINT32_MAX || !c.vsock.uds ||
				    !c.vsock.uds[0]))
			abort();
	}
	config_free(&c);
	return 0;
}
