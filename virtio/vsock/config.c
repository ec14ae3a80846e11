/* vsock config: the --vsock option and the JSON "vsock" object, and the kind that describes them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/vsock/internal.h"
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

static void kind_init(void *cfg)
{
	*(struct vsock_config *)cfg = (struct vsock_config){ 0 };
}

static int kind_parse(void *cfg, const char *spec, char *err, size_t errlen)
{
	return vsock_parse(cfg, spec, err, errlen);
}

static int kind_finish(void *cfg, char *err, size_t errlen)
{
	const struct vsock_config *c = cfg;

	if (c->cid && c->uds)
		return 0;
	snprintf(err, errlen, "no %s= given", c->cid ? "uds" : "cid");
	return -EINVAL;
}

static void kind_free(void *cfg)
{
	vsock_config_free(cfg);
}

static void kind_describe(const void *cfg, unsigned int index, char *buf, size_t len)
{
	(void)index;
	snprintf(buf, len, "vsock %s", ((const struct vsock_config *)cfg)->uds);
}

static int kind_check(const void *cfg, unsigned int index, void **res)
{
	(void)index;
	return vsock_open(cfg, res);
}

static const struct virtio_field fields[] = {
	{ "cid", VIRTIO_FIELD_INT },
	{ "uds", VIRTIO_FIELD_STRING },
};

const struct virtio_kind vsock_kind = {
	.name = "vsock",
	.json = "vsock",
	.form = VIRTIO_KIND_SINGLE,
	.host_mem = (4ull << 20), /* tables; 16 connections' unread 256 KiB */
	.max = 1,
	.arg = "cid=N,uds=PATH",
	.help = "a virtio-vsock device; the guest's CID is N (3 or\n"
		"more). Firecracker-style hybrid host side: connect to\n"
		"PATH (at most 96 bytes) and write \"CONNECT <port>\\n\"\n"
		"to reach a guest port; a guest connecting to CID 2\n"
		"port P reaches the Unix socket PATH_P\n",
	.fields = fields,
	.nfields = ARRAY_SIZE(fields),
	.config_size = sizeof(struct vsock_config),
	.init = kind_init,
	.parse = kind_parse,
	.set = set_item,
	.finish = kind_finish,
	.free = kind_free,
	.describe = kind_describe,
	.check = kind_check,
	.release = vsock_release,
	.create = vsock_build,
};
