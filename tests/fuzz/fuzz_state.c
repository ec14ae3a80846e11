/* libFuzzer target: arbitrary bytes as a container's state.json, read back strictly, written as `state` prints it; must never crash or leak. */
#include <json.h>
#include <stddef.h>
#include <stdint.h>

#include "container/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctr_state s;
	struct json_object *o;
	char err[256];

	if (!ctr_state_parse((const char *)data, size, "c1", &s, err, sizeof(err))) {
		ctr_state_refresh(&s);
		o = ctr_state_json(&s);
		if (o)
			json_object_to_json_string(o);
		json_object_put(o);
	}
	ctr_state_free(&s);
	return 0;
}
