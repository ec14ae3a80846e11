/* libFuzzer target: a byte stream of agent frames, as hull or hull-init reads one; must never crash or leak. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "container/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What decoded encodes again, and that frame decodes to the same bytes once more. */
static void round_trip(const struct ctr_msg_fields *m)
{
	struct ctr_msg_fields again;
	uint8_t *a, *b;
	size_t alen, blen;
	uint16_t type;
	uint32_t len;

	if (ctr_msg_encode(m, &a, &alen))
		abort();
	if (ctr_frame_parse_hdr(a, &type, &len) || type != m->type || len + CTR_FRAME_HDR != alen)
		abort();
	if (ctr_msg_decode(type, a + CTR_FRAME_HDR, len, &again))
		abort();
	if (ctr_msg_encode(&again, &b, &blen) || blen != alen || memcmp(a, b, alen))
		abort();
	ctr_msg_free(&again);
	free(a);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctr_msg_fields m;
	uint16_t type;
	uint32_t len;
	int ret;

	/* Frame after frame, as a connection delivers them; a bad header ends the stream. */
	while (size >= CTR_FRAME_HDR) {
		if (ctr_frame_parse_hdr(data, &type, &len))
			break;
		if (len > CTR_FRAME_MAX)
			abort();
		data += CTR_FRAME_HDR;
		size -= CTR_FRAME_HDR;
		if (len > size)
			len = (uint32_t)size; /* a short read: decode what came */
		ret = ctr_msg_decode(type, data, len, &m);
		if (ret == 0)
			round_trip(&m);
		else if (ret != -EINVAL && ret != -ENOMEM)
			abort();
		else if (m.type != type || m.release || m.message || m.process.args || m.has_process)
			abort(); /* a refused message holds nothing but its type and seq */
		ctr_msg_free(&m);
		data += len;
		size -= len;
	}
	return 0;
}
