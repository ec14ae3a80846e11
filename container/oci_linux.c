/* oci_linux: config.json's linux section: namespaces, devices, resources, sysctls, masked paths. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "container/oci.h"
#include "container/oci_json.h"
#include "lib/json.h"

/*
 * pid, mount, ipc, uts and cgroup are what the VM gives every container
 * anyway; a network namespace to join is carried (issue 14). A user
 * namespace maps ids for a kernel shared with the host: the VM's kernel is
 * the container's own, so hull refuses it rather than pretend.
 */
static int read_namespaces(struct oci_ctx *c, struct json_object *v, struct ctr_bundle *b)
{
	static const char *const types[] = { "pid", "mount", "ipc", "uts", "cgroup", "network" };
	unsigned int seen = 0, k;
	struct json_object *ns, *t, *p;
	const char *type;
	char at[96];
	size_t i, n;
	int ret;

	ret = oci_array(c, v, "linux.namespaces", &n);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		ns = json_object_array_get_idx(v, i);
		snprintf(at, sizeof(at), "linux.namespaces[%zu]", i);
		ret = oci_object(c, ns, at);
		if (ret)
			return ret;
		t = oci_get(ns, "type");
		if (!t || !json_object_is_type(t, json_type_string))
			return oci_fail(c, -EINVAL, "%s.type: expected a string", at);
		type = json_object_get_string(t);
		if (!strcmp(type, "user"))
			return oci_fail(c, -EINVAL, "%s (user): user namespaces are not supported: the "
				       "container has its own kernel in the VM", at);
		for (k = 0; k < sizeof(types) / sizeof(types[0]) && strcmp(type, types[k]); k++)
			;
		if (k == sizeof(types) / sizeof(types[0]))
			return oci_fail(c, -EINVAL, "%s: namespace type %.32s: not supported", at, type);
		if (seen & (1u << k))
			return oci_fail(c, -EINVAL, "%s (%s): given twice", at, type);
		seen |= 1u << k;
		if (!(p = oci_get(ns, "path")))
			continue;
		if (strcmp(type, "network"))
			return oci_fail(c, -EINVAL, "%s (%s): joining an existing namespace (path) is "
				       "not supported", at, type);
		ret = oci_str(c, p, at, &b->netns);
		if (ret)
			return ret;
		if (b->netns[0] != '/')
			return oci_fail(c, -EINVAL, "%s (network): path is not absolute", at);
	}
	return 0;
}

/* The host node of block device major:minor: dev_dir/block/MAJ:MIN, or its own path there. */
static int host_block(struct oci_ctx *c, struct ctr_bdevice *d, const char *at)
{
	char cand[2][512];
	struct stat st;
	unsigned int k;

	snprintf(cand[0], sizeof(cand[0]), "%s/block/%u:%u", c->dev_dir, d->major, d->minor);
	cand[1][0] = '\0';
	if (!strncmp(d->path, "/dev/", 5))
		snprintf(cand[1], sizeof(cand[1]), "%s/%s", c->dev_dir, d->path + 5);
	for (k = 0; k < 2; k++) {
		if (!cand[k][0] || stat(cand[k], &st) || !S_ISBLK(st.st_mode) ||
		    st.st_rdev != makedev(d->major, d->minor))
			continue;
		d->host = realpath(cand[k], NULL);
		return d->host ? 0 : -errno;
	}
	return oci_fail(c, -ENODEV, "%s (%.80s): no host block device %u:%u (looked for %.200s%s%.200s)",
			at, d->path, d->major, d->minor, cand[0], cand[1][0] ? " and " : "", cand[1]);
}

static int read_device(struct oci_ctx *c, struct json_object *o, const char *at,
		       struct ctr_bdevice *d)
{
	struct json_object *v;
	const char *type;
	int ret;

	ret = oci_object(c, o, at);
	if (ret)
		return ret;
	if (!(v = oci_get(o, "path")))
		return oci_fail(c, -EINVAL, "%s: no path", at);
	ret = oci_str(c, v, at, &d->path);
	if (ret)
		return ret;
	if (!ctr_path_ok(d->path))
		return oci_fail(c, -EINVAL, "%s (%.80s): path is not absolute", at, d->path);
	v = oci_get(o, "type");
	type = v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
	if (strcmp(type, "c") && strcmp(type, "u") && strcmp(type, "b") && strcmp(type, "p"))
		return oci_fail(c, -EINVAL, "%s (%.80s): type must be c, b, u or p", at, d->path);
	d->type = type[0] == 'u' ? 'c' : type[0];
	d->mode = 0666;
	if (d->type != 'p') {
		if (!oci_get(o, "major") || !oci_get(o, "minor"))
			return oci_fail(c, -EINVAL, "%s (%.80s): needs major and minor", at, d->path);
		ret = oci_u32(c, oci_get(o, "major"), at, UINT32_MAX, &d->major) ?:
		      oci_u32(c, oci_get(o, "minor"), at, UINT32_MAX, &d->minor);
		if (ret)
			return ret;
	}
	/* Some writers include the file type bits (S_IFCHR...), as runc tolerates. */
	if ((v = oci_get(o, "fileMode"))) {
		ret = oci_u32(c, v, at, UINT32_MAX, &d->mode);
		if (ret)
			return ret;
		d->mode &= ~(uint32_t)S_IFMT;
		if (d->mode > 07777)
			return oci_fail(c, -EINVAL, "%s (%.80s): fileMode %o: not a mode", at, d->path,
					d->mode);
	}
	if (((v = oci_get(o, "uid")) && (ret = oci_u32(c, v, at, UINT32_MAX - 1, &d->uid))) ||
	    ((v = oci_get(o, "gid")) && (ret = oci_u32(c, v, at, UINT32_MAX - 1, &d->gid))))
		return ret;
	return d->type == 'b' ? host_block(c, d, at) : 0;
}

static int read_devices(struct oci_ctx *c, struct json_object *v, struct ctr_bundle *b)
{
	char at[96];
	size_t i, n;
	int ret;

	ret = oci_array(c, v, "linux.devices", &n);
	if (ret)
		return ret;
	b->devices = calloc(n ? n : 1, sizeof(*b->devices));
	if (!b->devices)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		b->ndevices++;
		snprintf(at, sizeof(at), "linux.devices[%zu]", i);
		ret = read_device(c, json_object_array_get_idx(v, i), at, &b->devices[i]);
		if (ret)
			return ret;
	}
	return 0;
}

/* An optional integer member of o: 1 when present (into *out), 0 when absent, or -errno. */
static int opt_i64(struct oci_ctx *c, struct json_object *o, const char *key, const char *where,
		   int64_t min, int64_t *out)
{
	struct json_object *v = oci_get(o, key);
	char at[96];
	int ret;

	if (!v)
		return 0;
	snprintf(at, sizeof(at), "%s.%s", where, key);
	ret = oci_i64(c, v, at, min, INT64_MAX, out);
	return ret ?: 1;
}

static int read_cpuset(struct oci_ctx *c, struct json_object *o, const char *key, char **out)
{
	struct json_object *v = oci_get(o, key);
	char at[96];
	int ret;

	if (!v)
		return 0;
	snprintf(at, sizeof(at), "linux.resources.cpu.%s", key);
	ret = oci_str(c, v, at, out);
	if (ret)
		return ret;
	if (strspn(*out, "0123456789,-") != strlen(*out))
		return oci_fail(c, -EINVAL, "%s %.64s: expected a list like 0-3,6", at, *out);
	if (!(*out)[0]) {
		free(*out);
		*out = NULL;
	}
	return 0;
}

/* cpu: shares become cgroup v2's weight, as runc converts them; quota and period as they are. */
static int read_cpu(struct oci_ctx *c, struct json_object *o, struct ctr_resources *r)
{
	int64_t shares, quota, period;
	int ret;

	ret = oci_object(c, o, "linux.resources.cpu");
	if (ret)
		return ret;
	ret = opt_i64(c, o, "shares", "linux.resources.cpu", 0, &shares);
	if (ret < 0)
		return ret;
	if (ret && shares) {
		shares = shares < 2 ? 2 : shares > 262144 ? 262144 : shares;
		r->cpu_weight = 1 + (uint64_t)((shares - 2) * 9999) / 262142;
		r->has_cpu_weight = true;
	}
	ret = opt_i64(c, o, "quota", "linux.resources.cpu", -1, &quota);
	if (ret < 0)
		return ret;
	if (ret && quota > 0) {
		r->cpu_quota = (uint64_t)quota;
		r->has_cpu_quota = true;
	} else if (ret && c->update && quota < 0) {
		r->cpu_quota = UINT64_MAX;
		r->has_cpu_quota = true;
	}
	ret = opt_i64(c, o, "period", "linux.resources.cpu", 0, &period);
	if (ret < 0)
		return ret;
	if (ret && period > 0) {
		r->cpu_period = (uint64_t)period;
		r->has_cpu_period = true;
	}
	return read_cpuset(c, o, "cpus", &r->cpuset_cpus) ?:
	       read_cpuset(c, o, "mems", &r->cpuset_mems);
}

/*
 * memory: limit and reservation (-1 or 0: none); swap is OCI's memory+swap,
 * cgroup v2's swap.max is swap alone, converted as runc does.
 */
static int read_memory(struct oci_ctx *c, struct json_object *o, struct ctr_resources *r)
{
	static const char *const where = "linux.resources.memory";
	int64_t limit = 0, low = 0, swap = 0;
	int ret;

	ret = oci_object(c, o, where);
	if (ret)
		return ret;
	if ((ret = opt_i64(c, o, "limit", where, -1, &limit)) < 0 ||
	    (ret = opt_i64(c, o, "reservation", where, -1, &low)) < 0 ||
	    (ret = opt_i64(c, o, "swap", where, -1, &swap)) < 0)
		return ret;
	if (limit > 0 || (c->update && limit < 0)) {
		r->mem_max = limit > 0 ? (uint64_t)limit : UINT64_MAX;
		r->has_mem_max = true;
	}
	if (low > 0 || (c->update && low < 0)) {
		r->mem_low = low > 0 ? (uint64_t)low : 0;
		r->has_mem_low = true;
	}
	if (c->update && swap < 0 && oci_get(o, "swap")) {
		r->swap_max = UINT64_MAX;
		r->has_swap_max = true;
		return 0;
	}
	if (swap <= 0)
		return 0;
	if (limit <= 0)
		return oci_fail(c, -EINVAL, "%s.swap: needs a memory limit", where);
	if (swap < limit)
		return oci_fail(c, -EINVAL, "%s.swap: below the memory limit (swap is memory+swap)",
				where);
	r->swap_max = (uint64_t)(swap - limit);
	r->has_swap_max = true;
	return 0;
}

/*
 * Read and carried for the constraints issue (cpu, memory, pids). Ignored:
 * blockIO, hugepageLimits, network, rdma, unified, devices (the device
 * cgroup: the container's /dev holds only its devices), memory's kernel,
 * kernelTCP, swappiness and disableOOMKiller, cpu's realtime and idle.
 */
static int read_resources(struct oci_ctx *c, struct json_object *o, struct ctr_resources *r)
{
	struct json_object *v;
	int64_t pids;
	int ret;

	ret = oci_object(c, o, "linux.resources");
	if (ret)
		return ret;
	if (((v = oci_get(o, "cpu")) && (ret = read_cpu(c, v, r))) ||
	    ((v = oci_get(o, "memory")) && (ret = read_memory(c, v, r))))
		return ret;
	if (!(v = oci_get(o, "pids")))
		return 0;
	ret = oci_object(c, v, "linux.resources.pids");
	if (ret)
		return ret;
	ret = opt_i64(c, v, "limit", "linux.resources.pids", -1, &pids);
	if (ret < 0)
		return ret;
	if (ret && (pids > 0 || (c->update && pids < 0))) {
		r->pids_max = pids > 0 ? (uint64_t)pids : UINT64_MAX;
		r->has_pids_max = true;
	}
	return 0;
}

int ctr_oci_resources(const char *text, size_t len, struct ctr_resources *r, char *err,
		      size_t errlen)
{
	struct oci_ctx c = { .dev_dir = "/dev", .err = err, .errlen = errlen, .update = true };
	struct json_object *root;
	int ret;

	memset(r, 0, sizeof(*r));
	ret = json_parse_strict(text, len, CTR_CONFIG_MAX, &root, err, errlen);
	if (ret)
		return ret;
	ret = read_resources(&c, root, r);
	if (ret == -ENOMEM)
		oci_fail(&c, ret, "out of memory");
	json_object_put(root);
	if (ret)
		ctr_resources_free(r);
	return ret;
}

/* Every sysctl is the guest kernel's own: none reaches the host, so none is refused for that. */
static int read_sysctl(struct oci_ctx *c, struct json_object *o, struct ctr_bundle *b)
{
	size_t n;
	int ret;

	ret = oci_object(c, o, "linux.sysctl");
	if (ret)
		return ret;
	n = (size_t)json_object_object_length(o);
	if (n > CTR_LIST_MAX)
		return oci_fail(c, -E2BIG, "linux.sysctl: %zu entries (limit %u)", n, CTR_LIST_MAX);
	b->sysctls = calloc(n ? n : 1, sizeof(*b->sysctls));
	if (!b->sysctls)
		return -ENOMEM;
	json_object_object_foreach(o, key, val) {
		size_t klen = strlen(key);
		const char *s;

		if (!klen || strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "0123456789_-./") != klen ||
		    key[0] == '/' || key[0] == '.' || strstr(key, ".."))
			return oci_fail(c, -EINVAL, "linux.sysctl %.64s: not a sysctl name", key);
		if (!json_object_is_type(val, json_type_string))
			return oci_fail(c, -EINVAL, "linux.sysctl.%.64s: expected a string", key);
		s = json_object_get_string(val);
		if ((size_t)json_object_get_string_len(val) != strlen(s) || strchr(s, '\n') ||
		    klen + 1 + strlen(s) > TLV_STR_MAX)
			return oci_fail(c, -EINVAL, "linux.sysctl.%.64s: not a value", key);
		if (asprintf(&b->sysctls[b->nsysctls], "%s=%s", key, s) < 0)
			return -ENOMEM;
		b->nsysctls++;
	}
	return 0;
}

static int read_paths(struct oci_ctx *c, struct json_object *v, const char *where, char ***out,
		      unsigned int *n)
{
	unsigned int i;
	int ret;

	ret = oci_strv(c, v, where, out, n);
	if (ret)
		return ret;
	for (i = 0; i < *n; i++)
		if (!ctr_path_ok((*out)[i]))
			return oci_fail(c, -EINVAL, "%s[%u] %.80s: not an absolute path", where, i,
					(*out)[i]);
	return 0;
}

static int read_mappings(struct oci_ctx *c, struct json_object *l)
{
	static const char *const keys[2] = { "uidMappings", "gidMappings" };
	struct json_object *v;
	unsigned int i;

	for (i = 0; i < 2; i++) {
		v = oci_get(l, keys[i]);
		if (v && (!json_object_is_type(v, json_type_array) || json_object_array_length(v)))
			return oci_fail(c, -EINVAL, "linux.%s: ID mappings (user namespaces) are "
				       "not supported: the container has its own kernel in the VM",
					keys[i]);
	}
	return 0;
}

/*
 * Ignored: rootfsPropagation (the root is a mount of its own in the guest),
 * mountLabel (no SELinux in the guest), intelRdt, personality.
 */
int oci_linux(struct oci_ctx *c, struct json_object *l, struct ctr_bundle *b)
{
	struct json_object *v;
	int ret;

	ret = oci_object(c, l, "linux") ?: read_mappings(c, l);
	if (ret)
		return ret;
	if (((v = oci_get(l, "namespaces")) && (ret = read_namespaces(c, v, b))) ||
	    ((v = oci_get(l, "devices")) && (ret = read_devices(c, v, b))) ||
	    ((v = oci_get(l, "resources")) && (ret = read_resources(c, v, &b->resources))) ||
	    ((v = oci_get(l, "sysctl")) && (ret = read_sysctl(c, v, b))) ||
	    ((v = oci_get(l, "maskedPaths")) &&
	     (ret = read_paths(c, v, "linux.maskedPaths", &b->masked, &b->nmasked))) ||
	    ((v = oci_get(l, "readonlyPaths")) &&
	     (ret = read_paths(c, v, "linux.readonlyPaths", &b->readonly, &b->nreadonly))) ||
	    ((v = oci_get(l, "cgroupsPath")) &&
	     (ret = oci_str(c, v, "linux.cgroupsPath", &b->cgroups_path))))
		return ret;
	/* Compiled here, so that a profile hull cannot honour fails create, before any VM. */
	if ((v = oci_get(l, "seccomp")))
		return oci_object(c, v, "linux.seccomp") ?:
		       oci_text(c, v, "linux.seccomp", &b->seccomp) ?:
		       oci_seccomp(c, v, &b->seccomp_prog, &b->seccomp_len, &b->seccomp_flags);
	return 0;
}
