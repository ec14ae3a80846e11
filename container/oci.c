/* oci: config.json's top level, root and process read into a struct ctr_bundle; names of capabilities and rlimits. */
#include "lib/fcache.h"
#include "container/oci.h"
#include "container/seccomp.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "container/hooks.h"
#include "container/oci_json.h"
#include "lib/file.h"
#include "lib/json.h"
#include "lib/util.h"

/* Bit N is capability N (linux/capability.h); runc's names. */
static const char *const cap_names[CTR_NCAPS] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};

static const struct {
	const char *name;
	int resource;
} rlimit_names[] = {
	{ "RLIMIT_CPU", RLIMIT_CPU },	      { "RLIMIT_FSIZE", RLIMIT_FSIZE },
	{ "RLIMIT_DATA", RLIMIT_DATA },	      { "RLIMIT_STACK", RLIMIT_STACK },
	{ "RLIMIT_CORE", RLIMIT_CORE },	      { "RLIMIT_RSS", RLIMIT_RSS },
	{ "RLIMIT_NPROC", RLIMIT_NPROC },     { "RLIMIT_NOFILE", RLIMIT_NOFILE },
	{ "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK }, { "RLIMIT_AS", RLIMIT_AS },
	{ "RLIMIT_LOCKS", RLIMIT_LOCKS },     { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
	{ "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE }, { "RLIMIT_NICE", RLIMIT_NICE },
	{ "RLIMIT_RTPRIO", RLIMIT_RTPRIO },   { "RLIMIT_RTTIME", RLIMIT_RTTIME },
};

int ctr_cap_by_name(const char *name)
{
	int i;

	for (i = 0; i < CTR_NCAPS; i++)
		if (!strcmp(name, cap_names[i]))
			return i;
	return -1;
}

const char *ctr_cap_name(int cap)
{
	return cap >= 0 && cap < CTR_NCAPS ? cap_names[cap] : NULL;
}

int ctr_rlimit_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(rlimit_names) / sizeof(rlimit_names[0]); i++)
		if (!strcmp(name, rlimit_names[i].name))
			return rlimit_names[i].resource;
	return -1;
}

bool ctr_hostname_ok(const char *h)
{
	size_t n = strlen(h);

	return n >= 1 && n <= 64 &&
	       strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") == n;
}

int ctr_strv_dup(const char *const *src, unsigned int n, char ***out, unsigned int *nout)
{
	unsigned int i;

	*out = calloc(n ? n : 1, sizeof(char *));
	if (!*out)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		(*out)[i] = strdup(src[i]);
		if (!(*out)[i])
			return -ENOMEM;
		(*nout)++;
	}
	return 0;
}

void ctr_strv_free(char **v, unsigned int n)
{
	unsigned int i;

	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* ---- process ---- */

static int read_user(struct oci_ctx *c, struct json_object *u, struct ctr_process *p)
{
	struct json_object *v;
	size_t i, n;
	char at[96];
	int ret;

	ret = oci_object(c, u, "process.user");
	if (ret)
		return ret;
	/* uid and gid are required; -1 (4294967295) is no id. */
	if (!(v = oci_get(u, "uid")))
		return oci_fail(c, -EINVAL, "process.user.uid: missing");
	ret = oci_u32(c, v, "process.user.uid", UINT32_MAX - 1, &p->uid);
	if (ret)
		return ret;
	if (!(v = oci_get(u, "gid")))
		return oci_fail(c, -EINVAL, "process.user.gid: missing");
	ret = oci_u32(c, v, "process.user.gid", UINT32_MAX - 1, &p->gid);
	if (ret)
		return ret;
	if ((v = oci_get(u, "umask"))) {
		ret = oci_u32(c, v, "process.user.umask", 0777, &p->umask);
		if (ret)
			return ret;
		p->has_umask = true;
	}
	if (!(v = oci_get(u, "additionalGids")))
		return 0;
	ret = oci_array(c, v, "process.user.additionalGids", &n);
	if (ret)
		return ret;
	p->gids = calloc(n ? n : 1, sizeof(*p->gids));
	if (!p->gids)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		snprintf(at, sizeof(at), "process.user.additionalGids[%zu]", i);
		ret = oci_u32(c, json_object_array_get_idx(v, i), at, UINT32_MAX - 1, &p->gids[i]);
		if (ret)
			return ret;
		p->ngids++;
	}
	return 0;
}

static int read_caps(struct oci_ctx *c, struct json_object *caps, struct ctr_process *p)
{
	static const char *const sets[5] = { "bounding", "effective", "permitted", "inheritable",
					     "ambient" };
	struct json_object *v, *name;
	char at[96];
	unsigned int k;
	size_t i, n;
	int cap, ret;

	ret = oci_object(c, caps, "process.capabilities");
	if (ret)
		return ret;
	for (k = 0; k < 5; k++) {
		if (!(v = oci_get(caps, sets[k])))
			continue;
		snprintf(at, sizeof(at), "process.capabilities.%s", sets[k]);
		ret = oci_array(c, v, at, &n);
		if (ret)
			return ret;
		for (i = 0; i < n; i++) {
			name = json_object_array_get_idx(v, i);
			if (!json_object_is_type(name, json_type_string))
				return oci_fail(c, -EINVAL, "%s[%zu]: expected a string", at, i);
			cap = ctr_cap_by_name(json_object_get_string(name));
			if (cap < 0)
				return oci_fail(c, -EINVAL, "%s[%zu]: unknown capability %.64s", at,
						i, json_object_get_string(name));
			p->caps[k] |= 1ull << cap;
		}
	}
	return 0;
}

static int read_rlimits(struct oci_ctx *c, struct json_object *v, struct ctr_process *p)
{
	struct json_object *r, *f;
	struct ctr_rlimit *rl;
	char at[96];
	size_t i, n;
	int res, ret;
	unsigned int j;

	ret = oci_array(c, v, "process.rlimits", &n);
	if (ret)
		return ret;
	p->rlimits = calloc(n ? n : 1, sizeof(*p->rlimits));
	if (!p->rlimits)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		r = json_object_array_get_idx(v, i);
		rl = &p->rlimits[i];
		snprintf(at, sizeof(at), "process.rlimits[%zu]", i);
		ret = oci_object(c, r, at);
		if (ret)
			return ret;
		f = oci_get(r, "type");
		if (!f || !json_object_is_type(f, json_type_string))
			return oci_fail(c, -EINVAL, "%s.type: expected a name like RLIMIT_NOFILE", at);
		res = ctr_rlimit_by_name(json_object_get_string(f));
		if (res < 0)
			return oci_fail(c, -EINVAL, "%s: unknown rlimit %.64s", at,
					json_object_get_string(f));
		for (j = 0; j < p->nrlimits; j++)
			if (p->rlimits[j].resource == (uint32_t)res)
				return oci_fail(c, -EINVAL, "%s: %s given twice", at,
						json_object_get_string(f));
		rl->resource = (uint32_t)res;
		if (!oci_get(r, "soft") || !oci_get(r, "hard"))
			return oci_fail(c, -EINVAL, "%s (%s): needs soft and hard", at,
					json_object_get_string(f));
		ret = oci_u64(c, oci_get(r, "soft"), at, &rl->soft) ?:
		      oci_u64(c, oci_get(r, "hard"), at, &rl->hard);
		if (ret)
			return ret;
		if (rl->soft > rl->hard)
			return oci_fail(c, -EINVAL, "%s (%s): soft limit above the hard one", at,
					json_object_get_string(f));
		p->nrlimits++;
	}
	return 0;
}

static int read_env(struct oci_ctx *c, struct json_object *v, struct ctr_process *p)
{
	unsigned int i;
	int ret;

	ret = oci_strv(c, v, "process.env", &p->env, &p->nenv);
	if (ret)
		return ret;
	for (i = 0; i < p->nenv; i++) {
		const char *eq = strchr(p->env[i], '=');

		if (!eq || eq == p->env[i])
			return oci_fail(c, -EINVAL, "process.env[%u] %.64s: expected KEY=VALUE", i,
					p->env[i]);
	}
	return 0;
}

/*
 * process: args, cwd and user are required. Ignored: apparmorProfile and
 * selinuxLabel (no LSM in the guest), consoleSize (the terminal's own size
 * is followed), scheduler, ioPriority, execCPUAffinity, commandLine (Windows).
 */
static int read_process(struct oci_ctx *c, struct json_object *proc, struct ctr_process *p)
{
	struct json_object *v;
	int64_t oom;
	int ret;

	ret = oci_object(c, proc, "process");
	if (ret)
		return ret;
	if (!(v = oci_get(proc, "args")))
		return oci_fail(c, -EINVAL, "process.args: missing");
	ret = oci_strv(c, v, "process.args", &p->args, &p->nargs);
	if (ret)
		return ret;
	if (!p->nargs || !p->args[0][0])
		return oci_fail(c, -EINVAL, "process.args: no command");
	if (!(v = oci_get(proc, "cwd")))
		return oci_fail(c, -EINVAL, "process.cwd: missing");
	ret = oci_str(c, v, "process.cwd", &p->cwd);
	if (ret)
		return ret;
	if (!ctr_path_ok(p->cwd))
		return oci_fail(c, -EINVAL, "process.cwd %.128s: not an absolute path", p->cwd);
	if (!(v = oci_get(proc, "user")))
		return oci_fail(c, -EINVAL, "process.user: missing");
	ret = read_user(c, v, p);
	if (ret)
		return ret;
	if ((v = oci_get(proc, "env")) && (ret = read_env(c, v, p)))
		return ret;
	if ((v = oci_get(proc, "terminal")) && (ret = oci_bool(c, v, "process.terminal", &p->terminal)))
		return ret;
	if ((v = oci_get(proc, "capabilities")) && (ret = read_caps(c, v, p)))
		return ret;
	if ((v = oci_get(proc, "rlimits")) && (ret = read_rlimits(c, v, p)))
		return ret;
	if ((v = oci_get(proc, "noNewPrivileges")) &&
	    (ret = oci_bool(c, v, "process.noNewPrivileges", &p->no_new_privs)))
		return ret;
	if ((v = oci_get(proc, "oomScoreAdj"))) {
		ret = oci_i64(c, v, "process.oomScoreAdj", -1000, 1000, &oom);
		if (ret)
			return ret;
		p->oom_score_adj = (int32_t)oom;
		p->has_oom_score_adj = true;
	}
	return 0;
}

/* ---- top level ---- */

/* 1.0.x, 1.1.x and 1.2.x: the versions whose fields hull knows (README). */
static int read_version(struct oci_ctx *c, struct json_object *root, struct ctr_bundle *b)
{
	struct json_object *v = oci_get(root, "ociVersion");
	const char *s;
	int ret;

	if (!v)
		return oci_fail(c, -EINVAL, "ociVersion: missing");
	ret = oci_str(c, v, "ociVersion", &b->oci_version);
	if (ret)
		return ret;
	s = b->oci_version;
	if (strncmp(s, "1.", 2) || s[2] < '0' || s[2] > '2' ||
	    (s[3] != '\0' && s[3] != '.' && s[3] != '-' && s[3] != '+'))
		return oci_fail(c, -EINVAL, "ociVersion %.32s: not supported (hull reads 1.0, 1.1 and 1.2)",
				s);
	return 0;
}

static int read_root(struct oci_ctx *c, struct json_object *root, struct ctr_bundle *b)
{
	struct json_object *r = oci_get(root, "root"), *v;
	char *path = NULL, *joined = NULL;
	struct stat st;
	int ret;

	if (!r)
		return oci_fail(c, -EINVAL, "root: missing");
	ret = oci_object(c, r, "root");
	if (ret)
		return ret;
	if ((v = oci_get(r, "readonly")) && (ret = oci_bool(c, v, "root.readonly", &b->root_ro)))
		return ret;
	if (!(v = oci_get(r, "path")))
		return oci_fail(c, -EINVAL, "root.path: missing");
	ret = oci_str(c, v, "root.path", &path);
	if (ret)
		return ret;
	if (path[0] != '/' && c->dir && asprintf(&joined, "%s/%s", c->dir, path) < 0) {
		ret = -ENOMEM;
		goto out;
	}
	b->root = realpath(joined ? joined : path, NULL);
	if (!b->root) {
		ret = oci_fail(c, -errno, "root.path %.256s: %s", joined ? joined : path, strerror(errno));
		goto out;
	}
	if (stat(b->root, &st) || !S_ISDIR(st.st_mode))
		ret = oci_fail(c, -ENOTDIR, "root.path %.256s: not a directory", b->root);
out:
	free(path);
	free(joined);
	return ret;
}

static int read_names(struct oci_ctx *c, struct json_object *root, struct ctr_bundle *b)
{
	static const char *const keys[2] = { "hostname", "domainname" };
	char **dst[2] = { &b->hostname, &b->domainname };
	struct json_object *v;
	unsigned int i;
	int ret;

	for (i = 0; i < 2; i++) {
		if (!(v = oci_get(root, keys[i])))
			continue;
		ret = oci_str(c, v, keys[i], dst[i]);
		if (ret)
			return ret;
		/* An empty name is the same as none (Go writes "" for an unset string). */
		if (!(*dst[i])[0]) {
			free(*dst[i]);
			*dst[i] = NULL;
		} else if (!ctr_hostname_ok(*dst[i])) {
			return oci_fail(c, -EINVAL,
					"%s %.80s: 1 to 64 letters, digits, '-', '.' or '_'",
					keys[i], *dst[i]);
		}
	}
	return 0;
}

/* Annotations and hooks (checked) are carried for the runtime verbs (issue 14). */
static int read_carried(struct oci_ctx *c, struct json_object *root, struct ctr_bundle *b)
{
	struct json_object *v;
	size_t n;
	int ret;

	if ((v = oci_get(root, "hooks"))) {
		struct ctr_hooks h;

		/* Checked here, so that a bad hook fails create before anything is made. */
		ret = ctr_hooks_read(c, v, &h);
		ctr_hooks_free(&h);
		ret = ret ?: oci_text(c, v, "hooks", &b->hooks);
		if (ret)
			return ret;
	}
	if (!(v = oci_get(root, "annotations")))
		return 0;
	ret = oci_object(c, v, "annotations");
	if (ret)
		return ret;
	n = (size_t)json_object_object_length(v);
	if (n > CTR_LIST_MAX)
		return oci_fail(c, -E2BIG, "annotations: %zu entries (limit %u)", n, CTR_LIST_MAX);
	b->annotations = calloc(n ? n : 1, sizeof(*b->annotations));
	if (!b->annotations)
		return -ENOMEM;
	json_object_object_foreach(v, key, val) {
		struct ctr_annotation *a = &b->annotations[b->nannotations];
		char at[96];

		snprintf(at, sizeof(at), "annotations.%.64s", key);
		a->key = strdup(key);
		if (!a->key)
			return -ENOMEM;
		b->nannotations++;
		ret = oci_str(c, val, at, &a->value);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Unknown members are ignored, as the runtime spec asks; so are vm, windows
 * and solaris, which name other platforms.
 */
static int read_root_object(struct oci_ctx *c, struct json_object *root, struct ctr_bundle *b)
{
	struct json_object *v;
	int ret;

	if (!json_object_is_type(root, json_type_object))
		return oci_fail(c, -EINVAL, "expected a JSON object at the top level");
	ret = read_version(c, root, b) ?: read_root(c, root, b);
	if (ret)
		return ret;
	if (!(v = oci_get(root, "process")))
		return oci_fail(c, -EINVAL, "process: missing");
	ret = read_process(c, v, &b->process) ?: read_names(c, root, b);
	if (ret)
		return ret;
	if ((v = oci_get(root, "mounts")) && (ret = oci_mounts(c, v, b)))
		return ret;
	if ((v = oci_get(root, "linux")) && (ret = oci_linux(c, v, b)))
		return ret;
	return read_carried(c, root, b);
}

/* ctr_oci_parse, compiled seccomp profiles kept in seccomp_cache (a directory) when not NULL. */
static int parse_bundle(const char *text, size_t len, const char *dir, const char *dev_dir,
			const char *seccomp_cache, struct ctr_bundle *b, char *err, size_t errlen)
{
	struct oci_ctx c = { .dev_dir = dev_dir ? dev_dir : "/dev", .err = err, .errlen = errlen,
			     .seccomp_cache = seccomp_cache };
	struct json_object *root;
	int ret;

	memset(b, 0, sizeof(*b));
	ret = json_parse_strict(text, len, CTR_CONFIG_MAX, &root, err, errlen);
	if (ret)
		return ret;
	if (dir) {
		b->dir = realpath(dir, NULL);
		if (!b->dir) {
			ret = oci_fail(&c, -errno, "bundle %.256s: %s", dir, strerror(errno));
			goto out;
		}
		c.dir = b->dir;
	}
	ret = read_root_object(&c, root, b);
	if (ret == -ENOMEM)
		oci_fail(&c, ret, "out of memory");
out:
	json_object_put(root);
	if (ret)
		ctr_bundle_free(b);
	return ret;
}

int ctr_oci_parse(const char *text, size_t len, const char *dir, const char *dev_dir,
		  struct ctr_bundle *b, char *err, size_t errlen)
{
	return parse_bundle(text, len, dir, dev_dir, NULL, b, err, errlen);
}

int ctr_oci_process(const char *text, size_t len, struct ctr_process *p, char *err,
		    size_t errlen)
{
	struct oci_ctx c = { .dev_dir = "/dev", .err = err, .errlen = errlen };
	struct json_object *root;
	int ret;

	memset(p, 0, sizeof(*p));
	ret = json_parse_strict(text, len, CTR_CONFIG_MAX, &root, err, errlen);
	if (ret)
		return ret;
	ret = read_process(&c, root, p);
	if (ret == -ENOMEM)
		oci_fail(&c, ret, "out of memory");
	json_object_put(root);
	if (ret)
		ctr_process_free(p);
	return ret;
}

int ctr_oci_load(const char *dir, struct ctr_bundle *b, char *err, size_t errlen)
{
	char *path, why[512], cache[4096];
	uint8_t *text;
	size_t len;
	int ret;

	memset(b, 0, sizeof(*b));
	if (fcache_dir(getenv("HULL_CACHE"), CTR_SECCOMP_CACHE_SUBDIR, cache, sizeof(cache)))
		cache[0] = '\0'; /* HULL_CACHE too long: nothing kept */
	if (asprintf(&path, "%s/config.json", dir) < 0)
		return -ENOMEM;
	ret = file_read_all(path, CTR_CONFIG_MAX, &text, &len);
	free(path);
	if (ret) {
		snprintf(err, errlen, "config.json: %s",
			 ret == -EFBIG ? "too large (limit 4 MiB)" : file_strerror(ret));
		return ret;
	}
	ret = parse_bundle((const char *)text, len, dir, NULL, cache[0] ? cache : NULL, b, why,
			   sizeof(why));
	free(text);
	if (ret)
		snprintf(err, errlen, "config.json: %s", why);
	return ret;
}

void ctr_bmount_free(struct ctr_bmount *m)
{
	free(m->dest);
	free(m->type);
	free(m->source);
	free(m->data);
	memset(m, 0, sizeof(*m));
}

bool ctr_pod_sandbox(const struct ctr_bundle *b)
{
	static const char *const keys[] = { "io.kubernetes.cri.container-type",
					     "io.kubernetes.cri-o.ContainerType" };
	unsigned int i, k;

	for (i = 0; i < b->nannotations; i++)
		for (k = 0; k < ARRAY_SIZE(keys); k++)
			if (!strcmp(b->annotations[i].key, keys[k]) &&
			    !strcmp(b->annotations[i].value, "sandbox"))
				return true;
	return false;
}

void ctr_bundle_free(struct ctr_bundle *b)
{
	unsigned int i;

	free(b->dir);
	free(b->oci_version);
	free(b->root);
	ctr_process_free(&b->process);
	free(b->hostname);
	free(b->domainname);
	for (i = 0; b->mounts && i < b->nmounts; i++)
		ctr_bmount_free(&b->mounts[i]);
	free(b->mounts);
	ctr_strv_free(b->sysctls, b->nsysctls);
	ctr_strv_free(b->masked, b->nmasked);
	ctr_strv_free(b->readonly, b->nreadonly);
	for (i = 0; b->devices && i < b->ndevices; i++) {
		free(b->devices[i].path);
		free(b->devices[i].host);
	}
	free(b->devices);
	ctr_resources_free(&b->resources);
	free(b->cgroups_path);
	free(b->netns);
	free(b->seccomp);
	free(b->seccomp_prog);
	free(b->hooks);
	for (i = 0; b->annotations && i < b->nannotations; i++) {
		free(b->annotations[i].key);
		free(b->annotations[i].value);
	}
	free(b->annotations);
	memset(b, 0, sizeof(*b));
}
