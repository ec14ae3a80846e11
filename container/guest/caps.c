/* caps: the order in which a container process gets its identity and capabilities. */
#include "container/guest/guest.h"

size_t gi_caps_plan(const uint64_t caps[5], unsigned int last_cap, struct gi_cap_op *ops)
{
	size_t n = 0;
	unsigned int c;

	if (last_cap > GI_CAP_LAST_MAX)
		last_cap = GI_CAP_LAST_MAX;
	/* Dropping from the bounding set needs CAP_SETPCAP, which the child has until the capset. */
	for (c = 0; c <= last_cap; c++)
		if (!(caps[CTR_CAP_BOUNDING] >> c & 1))
			ops[n++] = (struct gi_cap_op){ GI_CAP_BOUND_DROP, c };
	/* setresuid away from 0 clears the permitted set unless keepcaps is on. */
	ops[n++] = (struct gi_cap_op){ GI_CAP_KEEP, 0 };
	ops[n++] = (struct gi_cap_op){ GI_CAP_IDS, 0 };
	ops[n++] = (struct gi_cap_op){ GI_CAP_UNKEEP, 0 };
	ops[n++] = (struct gi_cap_op){ GI_CAP_SET, 0 };
	/* Ambient capabilities must be permitted and inheritable: raised after the capset. */
	ops[n++] = (struct gi_cap_op){ GI_CAP_AMBIENT_CLEAR, 0 };
	for (c = 0; c <= last_cap; c++)
		if (caps[CTR_CAP_AMBIENT] >> c & 1)
			ops[n++] = (struct gi_cap_op){ GI_CAP_AMBIENT_RAISE, c };
	return n;
}
