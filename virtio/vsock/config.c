/* vsock config: the --vsock option and the JSON "vsock" object, parsed into struct vsock_config. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/vsock/vsock.h"
#include "lib/parse.h"

#define CID_MIN 3ULL	      /* 0 hypervisor, 1 local, 2 host */
#define CID_MAX 0xfffffffeULL /* 0xffffffff is VMADDR_CID_ANY */

void vsock_config_free(struct vsock_config *c)
{
	free(c->uds);
	*c = (struct vsock_config){ 0 };
}

static int set_cid(struct vsock_config *c, const char *value, char *err, size_t errlen)
{
	uint64_t v;
	int ret = parse_uint(value, 0, UINT64_MAX, &v);

	if (ret) {
		snprintf(err, errlen, "cid=%s: not a decimal number", value);
		return -EINVAL;
	}
	if (v < CID_MIN || v == CID_MAX + 1) {
		snprintf(err, errlen, "cid=%s: reserved (%llu..%llu)", value, CID_MIN, CID_MAX);
		return -EINVAL;
	}
	if (v > CID_MAX) {
		snprintf(err, errlen, "cid=%s: out of range (%llu..%llu)", value, CID_MIN, CID_MAX);
		return -EINVAL;
	}
	c->cid = (uint32_t)v;
	return 0;
}

int vsock_config_set(struct vsock_config *c, const char *key, const char *value, char *err,
		     size_t errlen)
{
	if (!strcmp(key, "cid"))
		return set_cid(c, value, err, errlen);
	if (!strcmp(key, "uds"))
		return parse_set_path(key, value, &c->uds, err, errlen);
	snprintf(err, errlen, "unknown vsock setting '%s' (cid, uds)", key);
	return -EINVAL;
}

static int set_item(void *obj, const char *key, const char *value, char *err, size_t errlen)
{
	return vsock_config_set(obj, key, value, err, errlen);
}

int vsock_parse(struct vsock_config *c, const char *spec, char *err, size_t errlen)
{
	static const char *const keys[] = { "cid", "uds" };
	int ret;

	*c = (struct vsock_config){ 0 };
	ret = parse_spec(spec, keys, 2, "cid=N,uds=PATH", set_item, c, err, errlen);
	/* The socket's directory is checked at create: a config may be written before it exists. */
	if (!ret && !c->cid) {
		snprintf(err, errlen, "'%s': no cid= given", spec);
		ret = -EINVAL;
	} else if (!ret && !c->uds) {
		snprintf(err, errlen, "'%s': no uds= given", spec);
		ret = -EINVAL;
	}
	if (ret)
		vsock_config_free(c);
	return ret;
}
