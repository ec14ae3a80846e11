/* oci_mounts: config.json's mounts: types, options as MS_* flags and data, bind sources on the host. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "container/oci.h"
#include "container/oci_json.h"

/* The options runc turns into mount flags: each sets or clears its flag. */
static const struct {
	const char *name;
	bool clear;
	uint64_t flag;
} flag_opts[] = {
	{ "acl", false, MS_POSIXACL },	      { "async", true, MS_SYNCHRONOUS },
	{ "atime", true, MS_NOATIME },	      { "bind", false, MS_BIND },
	{ "defaults", false, 0 },	      { "dev", true, MS_NODEV },
	{ "diratime", true, MS_NODIRATIME },  { "dirsync", false, MS_DIRSYNC },
	{ "exec", true, MS_NOEXEC },	      { "iversion", false, MS_I_VERSION },
	{ "lazytime", false, MS_LAZYTIME },   { "loud", true, MS_SILENT },
	{ "mand", false, MS_MANDLOCK },	      { "noacl", true, MS_POSIXACL },
	{ "noatime", false, MS_NOATIME },     { "nodev", false, MS_NODEV },
	{ "nodiratime", false, MS_NODIRATIME }, { "noexec", false, MS_NOEXEC },
	{ "noiversion", true, MS_I_VERSION }, { "nolazytime", true, MS_LAZYTIME },
	{ "nomand", true, MS_MANDLOCK },      { "norelatime", true, MS_RELATIME },
	{ "nostrictatime", true, MS_STRICTATIME }, { "nosuid", false, MS_NOSUID },
	{ "nosymfollow", false, MS_NOSYMFOLLOW }, { "rbind", false, MS_BIND | MS_REC },
	{ "relatime", false, MS_RELATIME },   { "remount", false, MS_REMOUNT },
	{ "ro", false, MS_RDONLY },	      { "rw", true, MS_RDONLY },
	{ "silent", false, MS_SILENT },	      { "strictatime", false, MS_STRICTATIME },
	{ "suid", true, MS_NOSUID },	      { "symfollow", true, MS_NOSYMFOLLOW },
	{ "sync", false, MS_SYNCHRONOUS },
};

static const struct {
	const char *name;
	uint32_t prop;
} prop_opts[] = {
	{ "private", MS_PRIVATE },
	{ "rprivate", MS_PRIVATE | MS_REC },
	{ "shared", MS_SHARED },
	{ "rshared", MS_SHARED | MS_REC },
	{ "slave", MS_SLAVE },
	{ "rslave", MS_SLAVE | MS_REC },
	{ "unbindable", MS_UNBINDABLE },
	{ "runbindable", MS_UNBINDABLE | MS_REC },
};

/* mount_setattr's recursive flags (rro, rnosuid, ...): an entry of the mounts share has no submounts. */
static const char *const recursive_opts[] = {
	"ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "noatime", "atime",
	"nodiratime", "diratime", "relatime", "norelatime", "strictatime", "nostrictatime",
	"nosymfollow", "symfollow",
};

static const char *const guest_types[] = {
	"tmpfs", "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2",
};

static int index_of(const char *s, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return (int)i;
	return -1;
}

bool ctr_guest_fs_type(const char *type)
{
	return index_of(type, guest_types, sizeof(guest_types) / sizeof(guest_types[0])) >= 0;
}

static bool apply_flag(struct ctr_bmount *m, const char *opt)
{
	size_t i;

	for (i = 0; i < sizeof(flag_opts) / sizeof(flag_opts[0]); i++) {
		if (strcmp(opt, flag_opts[i].name))
			continue;
		if (flag_opts[i].clear)
			m->flags &= ~flag_opts[i].flag;
		else
			m->flags |= flag_opts[i].flag;
		return true;
	}
	return false;
}

const char *ctr_mount_option_name(unsigned int i)
{
	static char rname[16];
	const size_t nflag = sizeof(flag_opts) / sizeof(flag_opts[0]),
		     nprop = sizeof(prop_opts) / sizeof(prop_opts[0]),
		     nrec = sizeof(recursive_opts) / sizeof(recursive_opts[0]);

	if (i < nflag)
		return flag_opts[i].name;
	i -= nflag;
	if (i < nprop)
		return prop_opts[i].name;
	i -= nprop;
	if (i < nrec) {
		snprintf(rname, sizeof(rname), "r%s", recursive_opts[i]);
		return rname;
	}
	return i == nrec ? "tmpcopyup" : NULL;
}

int ctr_mount_option(struct ctr_bmount *m, const char *opt)
{
	size_t i, have, len;
	char *data;

	if (apply_flag(m, opt))
		return 0;
	for (i = 0; i < sizeof(prop_opts) / sizeof(prop_opts[0]); i++) {
		if (!strcmp(opt, prop_opts[i].name)) {
			m->propagation = prop_opts[i].prop;
			return 0;
		}
	}
	if (opt[0] == 'r' &&
	    index_of(opt + 1, recursive_opts, sizeof(recursive_opts) / sizeof(recursive_opts[0])) >= 0)
		return apply_flag(m, opt + 1) ? 0 : -EINVAL;
	/* runc's own: copy the directory's files into a new tmpfs; hull-init does not. */
	if (!strcmp(opt, "tmpcopyup"))
		return 0;
	/* ID-mapped mounts need user namespaces, which the VM replaces. */
	if (!strcmp(opt, "idmap") || !strcmp(opt, "ridmap") || !strncmp(opt, "idmap=", 6) ||
	    !strncmp(opt, "ridmap=", 7))
		return -EINVAL;
	have = m->data ? strlen(m->data) : 0;
	len = strlen(opt);
	if (!len)
		return 0;
	if (have + 1 + len > TLV_STR_MAX)
		return -E2BIG;
	data = realloc(m->data, have + len + 2);
	if (!data)
		return -ENOMEM;
	if (have)
		data[have++] = ',';
	memcpy(data + have, opt, len + 1);
	m->data = data;
	return 0;
}

int ctr_bind_source(const char *dir, const char *src, char **out, bool *is_file, char *err,
		    size_t errlen)
{
	char *joined = NULL, *real;
	struct stat st;
	int ret = 0;

	if (src[0] != '/') {
		if (!dir) {
			snprintf(err, errlen, "source %.256s: not an absolute path", src);
			return -EINVAL;
		}
		if (asprintf(&joined, "%s/%s", dir, src) < 0)
			return -ENOMEM;
	}
	real = realpath(joined ? joined : src, NULL);
	if (!real) {
		ret = -errno;
		snprintf(err, errlen, "source %.256s: %s", joined ? joined : src, strerror(errno));
		goto out;
	}
	if (stat(real, &st)) {
		ret = -errno;
		snprintf(err, errlen, "source %.256s: %s", real, strerror(errno));
	} else if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		snprintf(err, errlen, "source %.256s: not a directory or a regular file", real);
	}
	if (ret) {
		free(real);
		goto out;
	}
	*is_file = S_ISREG(st.st_mode);
	*out = real;
out:
	free(joined);
	return ret;
}

/* A bind mount: its source resolved on the host, its type "bind". */
static int bind_mount(struct oci_ctx *c, struct ctr_bmount *m, const char *at)
{
	char why[384], *real;
	int ret;

	if (!m->source)
		return oci_fail(c, -EINVAL, "%s: a bind mount needs a source", at);
	ret = ctr_bind_source(c->dir, m->source, &real, &m->is_file, why, sizeof(why));
	if (ret)
		return ret == -ENOMEM ? ret : oci_fail(c, ret, "%s: %s", at, why);
	free(m->source);
	m->source = real;
	free(m->type);
	m->type = strdup("bind");
	return m->type ? 0 : -ENOMEM;
}

static int read_mount(struct oci_ctx *c, struct json_object *mo, size_t i, struct ctr_bmount *m)
{
	struct json_object *v;
	char at[128], **opts = NULL;
	unsigned int nopts = 0, k;
	int ret;

	snprintf(at, sizeof(at), "mounts[%zu]", i);
	ret = oci_object(c, mo, at);
	if (ret)
		return ret;
	if (!(v = oci_get(mo, "destination")))
		return oci_fail(c, -EINVAL, "%s: no destination", at);
	ret = oci_str(c, v, at, &m->dest);
	if (ret)
		return ret;
	snprintf(at, sizeof(at), "mounts[%zu] (%.80s)", i, m->dest);
	if (!ctr_path_ok(m->dest))
		return oci_fail(c, -EINVAL, "%s: destination is not an absolute path", at);
	if (((v = oci_get(mo, "type")) && (ret = oci_str(c, v, at, &m->type))) ||
	    ((v = oci_get(mo, "source")) && (ret = oci_str(c, v, at, &m->source))) ||
	    ((v = oci_get(mo, "options")) && (ret = oci_strv(c, v, at, &opts, &nopts))))
		return ret;
	for (k = 0; k < nopts && !ret; k++) {
		ret = ctr_mount_option(m, opts[k]);
		if (ret == -EINVAL)
			oci_fail(c, ret, "%s: option %.32s: ID-mapped mounts need user namespaces, "
				 "which a VM does not use", at, opts[k]);
		else if (ret == -E2BIG)
			oci_fail(c, ret, "%s: options longer than %u bytes", at, TLV_STR_MAX);
	}
	ctr_strv_free(opts, nopts);
	if (ret)
		return ret;
	if (m->type && !strcmp(m->type, "rbind"))
		m->flags |= MS_BIND | MS_REC;
	else if (m->type && !strcmp(m->type, "bind"))
		m->flags |= MS_BIND;
	/* As runc: the bind option makes a bind mount, whatever the type says ("none"). */
	if (m->flags & MS_BIND)
		return bind_mount(c, m, at);
	if (!m->type || !m->type[0])
		return oci_fail(c, -EINVAL, "%s: no type, and not a bind mount", at);
	if (!ctr_guest_fs_type(m->type))
		return oci_fail(c, -EINVAL,
				"%s: type %.32s: not supported (bind, tmpfs, proc, sysfs, devpts, "
				"mqueue, cgroup, cgroup2)", at, m->type);
	return 0;
}

int oci_mounts(struct oci_ctx *c, struct json_object *v, struct ctr_bundle *b)
{
	size_t i, n;
	int ret;

	ret = oci_array(c, v, "mounts", &n);
	if (ret)
		return ret;
	b->mounts = calloc(n ? n : 1, sizeof(*b->mounts));
	if (!b->mounts)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		/* Counted at once, so that a half-read entry is freed with the bundle. */
		b->nmounts++;
		ret = read_mount(c, json_object_array_get_idx(v, i), i, &b->mounts[i]);
		if (ret)
			return ret;
	}
	return 0;
}
