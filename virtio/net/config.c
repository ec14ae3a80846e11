/* net config: the --net option and the JSON "nets" entries, and the kind that describes them. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/net/internal.h"
#include "lib/parse.h"

#define IFNAME_MAX 15 /* IFNAMSIZ - 1 */

void vnet_config_free(struct vnet_config *c)
{
	free(c->tap);
	free(c->passt);
	*c = (struct vnet_config){ .backend = VNET_TAP };
}

/* What the kernel's dev_valid_name() takes, said up front rather than as TUNSETIFF's EINVAL. */
static int set_tap(struct vnet_config *c, const char *value, char *err, size_t errlen)
{
	size_t i, n = strlen(value);
	char *copy;

	if (c->backend == VNET_PASST) {
		snprintf(err, errlen, "tap and passt: give one backend");
		return -EINVAL;
	}
	if (!n || n > IFNAME_MAX) {
		snprintf(err, errlen, "tap '%s': an interface name is 1 to %d bytes", value,
			 IFNAME_MAX);
		return -EINVAL;
	}
	if (!strcmp(value, ".") || !strcmp(value, "..")) {
		snprintf(err, errlen, "tap '%s': not an interface name", value);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (value[i] == '/' || value[i] == ':' || isspace((unsigned char)value[i])) {
			snprintf(err, errlen, "tap '%s': no '/', ':' or whitespace in a name",
				 value);
			return -EINVAL;
		}
	}
	copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	free(c->tap);
	c->tap = copy;
	return 0;
}

/* "" (or a bare "passt" in a spec): hull starts passt; anything else: passt's socket path. */
static int set_passt(struct vnet_config *c, const char *value, char *err, size_t errlen)
{
	char *copy = NULL;

	if (c->tap) {
		snprintf(err, errlen, "tap and passt: give one backend");
		return -EINVAL;
	}
	if (value[0]) {
		copy = strdup(value);
		if (!copy)
			return -ENOMEM;
	}
	free(c->passt);
	c->passt = copy;
	c->backend = VNET_PASST;
	return 0;
}

static int hexdigit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)tolower((unsigned char)ch);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* "aa:bb:cc:dd:ee:ff": six octets of two hex digits; a unicast address that is not all zero. */
static int set_mac(struct vnet_config *c, const char *value, char *err, size_t errlen)
{
	uint8_t mac[6];
	unsigned int i;

	if (strlen(value) != 17)
		goto bad;
	for (i = 0; i < 6; i++) {
		const char *p = value + 3 * i;
		int hi = hexdigit(p[0]), lo = hexdigit(p[1]);

		if (hi < 0 || lo < 0 || (i < 5 && p[2] != ':'))
			goto bad;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	if (mac[0] & 1) {
		snprintf(err, errlen,
			 "mac %s: a multicast address (low bit of the first octet set); "
			 "give a unicast one, e.g. 02:xx:xx:xx:xx:xx",
			 value);
		return -EINVAL;
	}
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5])) {
		snprintf(err, errlen, "mac %s: the all-zero address is not valid", value);
		return -EINVAL;
	}
	memcpy(c->mac, mac, sizeof(mac));
	c->mac_set = true;
	return 0;
bad:
	snprintf(err, errlen, "mac '%s': expected six hex octets, aa:bb:cc:dd:ee:ff", value);
	return -EINVAL;
}

int vnet_config_set(struct vnet_config *c, const char *key, const char *value, char *err,
		    size_t errlen)
{
	if (!strcmp(key, "tap"))
		return set_tap(c, value, err, errlen);
	if (!strcmp(key, "passt"))
		return set_passt(c, value, err, errlen);
	if (!strcmp(key, "mac"))
		return set_mac(c, value, err, errlen);
	snprintf(err, errlen, "unknown net setting '%s' (tap, passt, mac)", key);
	return -EINVAL;
}

static int set_item(void *obj, const char *key, const char *value, char *err, size_t errlen)
{
	return vnet_config_set(obj, key, value, err, errlen);
}

/*
 * parse_spec wants key=value items: turn a bare "passt" item into "passt=",
 * splitting items exactly as parse_spec does (",," is a literal comma).
 */
static char *bare_passt(const char *spec)
{
	size_t n = strlen(spec);
	char *out = malloc(2 * n + 2), *o = out;
	const char *p = spec;

	if (!out)
		return NULL;
	for (;;) {
		const char *start = p;

		while (*p && !(*p == ',' && p[1] != ','))
			p += *p == ',' ? 2 : 1;
		memcpy(o, start, (size_t)(p - start));
		o += p - start;
		if (p - start == 5 && !memcmp(start, "passt", 5))
			*o++ = '=';
		if (!*p)
			break;
		*o++ = *p++;
	}
	*o = '\0';
	return out;
}

int vnet_parse(struct vnet_config *c, const char *spec, char *err, size_t errlen)
{
	static const char *const keys[] = { "tap", "passt", "mac" };
	char why[200], *s;
	int ret;

	*c = (struct vnet_config){ .backend = VNET_TAP };
	s = bare_passt(spec);
	if (!s)
		return -ENOMEM;
	ret = parse_spec(s, keys, 3, "tap=NAME,mac=MAC or passt[=SOCKET],mac=MAC", set_item, c, why,
			 sizeof(why));
	free(s);
	if (!ret && c->backend == VNET_TAP && !c->tap) {
		snprintf(why, sizeof(why), "'%s': no tap=NAME or passt given", spec);
		ret = -EINVAL;
	}
	/* Name the device when the spec got as far as its backend. */
	if (ret == -EINVAL && c->tap)
		snprintf(err, errlen, "%s: %s", c->tap, why);
	else if (ret == -EINVAL)
		snprintf(err, errlen, "%s", why);
	if (ret)
		vnet_config_free(c);
	return ret;
}

static void kind_init(void *cfg)
{
	*(struct vnet_config *)cfg = (struct vnet_config){ .backend = VNET_TAP };
}

static int kind_parse(void *cfg, const char *spec, char *err, size_t errlen)
{
	return vnet_parse(cfg, spec, err, errlen);
}

/* An entry names its backend: "tap" or "passt". */
static int kind_finish(void *cfg, char *err, size_t errlen)
{
	const struct vnet_config *c = cfg;

	if (c->backend == VNET_PASST || c->tap)
		return 0;
	snprintf(err, errlen, "no tap=NAME or passt given");
	return -EINVAL;
}

static void kind_free(void *cfg)
{
	vnet_config_free(cfg);
}

static const char *backend(const struct vnet_config *c)
{
	return c->backend == VNET_TAP ? c->tap : "passt";
}

/* One tap cannot serve two devices, and two NICs with one MAC confuse every switch. */
static int kind_conflict(const void *a, const void *b, char *err, size_t errlen)
{
	const struct vnet_config *x = a, *y = b;

	if (x->backend == VNET_TAP && y->backend == VNET_TAP && !strcmp(x->tap, y->tap)) {
		snprintf(err, errlen, "net %s: tap used twice", x->tap);
		return -EINVAL;
	}
	if (x->mac_set && y->mac_set && !memcmp(x->mac, y->mac, sizeof(x->mac))) {
		snprintf(err, errlen, "net %s: mac %02x:%02x:%02x:%02x:%02x:%02x used twice",
			 backend(x), x->mac[0], x->mac[1], x->mac[2], x->mac[3], x->mac[4],
			 x->mac[5]);
		return -EINVAL;
	}
	return 0;
}

static void kind_describe(const void *cfg, unsigned int index, char *buf, size_t len)
{
	(void)index;
	snprintf(buf, len, "net %s", backend(cfg));
}

static int kind_check(const void *cfg, unsigned int index, void **res)
{
	(void)index;
	return vnet_open(cfg, res);
}

static const struct virtio_field fields[] = {
	{ "tap", VIRTIO_FIELD_STRING },
	/* true starts passt, as a bare --net passt does; a string is a running one's socket. */
	{ "passt", VIRTIO_FIELD_TRUE_OR_STRING },
	{ "mac", VIRTIO_FIELD_STRING },
};

const struct virtio_kind vnet_kind = {
	.name = "net",
	.json = "nets",
	.form = VIRTIO_KIND_LIST,
	.host_mem = (512ull << 10), /* the receive bounce buffer, passt's record */
	.arg = "tap=NAME[,mac=MAC] | passt[=SOCKET][,mac=MAC]",
	.help = "a virtio-net device, eth0, eth1, ... in the guest.\n"
		"tap=NAME: the TAP interface NAME (created when\n"
		"missing and hull may), with checksum and segmentation\n"
		"offloads; passt: rootless user-mode networking\n"
		"through passt, which hull starts (and stops) itself\n"
		"unless SOCKET names a running passt's socket;\n"
		"mac= the guest's MAC (default: a random local one)\n",
	.fields = fields,
	.nfields = ARRAY_SIZE(fields),
	.config_size = sizeof(struct vnet_config),
	.init = kind_init,
	.parse = kind_parse,
	.set = set_item,
	.finish = kind_finish,
	.free = kind_free,
	.conflict = kind_conflict,
	.describe = kind_describe,
	.check = kind_check,
	.release = vnet_release,
	.create = vnet_build,
};
