/* libFuzzer target: arbitrary bytes as /hull/spec, decoded as hull-init does; must never crash or leak. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "container/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctr_spec s, t;
	uint8_t *a, *b;
	size_t alen, blen;
	int ret;

	ret = ctr_spec_decode(data, size, &s);
	if (ret) {
		static const struct ctr_spec zero;

		/* Refused: -EINVAL (or -ENOMEM), and nothing left behind. */
		if ((ret != -EINVAL && ret != -ENOMEM) || memcmp(&s, &zero, sizeof(s)))
			abort();
		return 0;
	}
	/* What hull-init accepts has what it needs to start a process. */
	if (!s.root_tag || !s.process.nargs || !s.process.cwd || s.process.cwd[0] != '/' ||
	    s.process.nargs > CTR_LIST_MAX)
		abort();
	/* It encodes again, and that decodes and encodes to the same bytes. */
	if (ctr_spec_encode(&s, &a, &alen))
		abort();
	if (ctr_spec_decode(a, alen, &t) || ctr_spec_encode(&t, &b, &blen) || blen != alen ||
	    memcmp(a, b, alen))
		abort();
	free(a);
	free(b);
	ctr_spec_free(&t);
	ctr_spec_free(&s);
	return 0;
}
