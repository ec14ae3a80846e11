/* cgroup: hull's cgroup on the host, v2 or v1 — made for cgroupsPath, limits written, processes moved in. */
#include "container/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/file.h"
#include "lib/parse.h"
#include "lib/util.h"

#define VALUE_MAX 64 /* a number, "max 100000", a pid */

static const char *const ctrl_names[CTR_CG_NCTRL] = { "cpu", "cpuset", "memory", "pids" };

/* --- files ----------------------------------------------------------------------------- */

/* dir/name: -ENAMETOOLONG past PATH_MAX. */
static int file_path(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Write value into dir/name in one write(2), as cgroupfs wants it. */
static int put(const char *dir, const char *name, const char *value, char *err, size_t errlen)
{
	char path[PATH_MAX];
	size_t len = strlen(value);
	ssize_t n;
	int fd, ret;

	ret = file_path(path, dir, name);
	if (ret)
		return parse_fail(err, errlen, ret, "cgroup %s/%s: path too long", dir, name);
	/* O_TRUNC means nothing to cgroupfs; in a test's fake tree it keeps the last value. */
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return parse_fail(err, errlen, -errno, "cgroup %s: %s%s", path, strerror(errno),
				  errno == ENOENT ? " (is the controller enabled?)" : "");
	n = write(fd, value, len);
	ret = n < 0 ? -errno : (size_t)n != len ? -EIO : 0;
	close(fd);
	if (ret)
		return parse_fail(err, errlen, ret, "cgroup %s: write %s: %s", path, value,
				  strerror(-ret));
	return 0;
}

/* v, or UINT64_MAX (no limit) as v2 and v1's pids.max write it: "max". */
static int put_u64(const char *dir, const char *name, uint64_t v, char *err, size_t errlen)
{
	char value[VALUE_MAX];

	if (v == UINT64_MAX)
		return put(dir, name, "max", err, errlen);
	snprintf(value, sizeof(value), "%" PRIu64, v);
	return put(dir, name, value, err, errlen);
}

/* v1's cpu and memory files: UINT64_MAX (no limit) is -1 there. */
static int put_v1(const char *dir, const char *name, uint64_t v, char *err, size_t errlen)
{
	return v == UINT64_MAX ? put(dir, name, "-1", err, errlen)
			       : put_u64(dir, name, v, err, errlen);
}

/* dir/name's text without its trailing newline, malloc'd. */
static int get(const char *dir, const char *name, char **out, char *err, size_t errlen)
{
	char path[PATH_MAX];
	size_t len;
	int ret;

	ret = file_path(path, dir, name);
	if (!ret)
		ret = file_read_text(path, CTR_CG_TEXT_MAX, out, &len);
	if (ret)
		return parse_fail(err, errlen, ret, "cgroup %s/%s: %s", dir, name, strerror(-ret));
	while (len && ((*out)[len - 1] == '\n' || (*out)[len - 1] == ' '))
		(*out)[--len] = '\0';
	return 0;
}

/* --- the host's mounts and hull's own cgroup ------------------------------------------- */

int ctr_cg_env_load(struct ctr_cg_env *env, char *err, size_t errlen)
{
	static const char *const files[] = { "/proc/self/mountinfo", "/proc/self/cgroup" };
	char **texts[] = { &env->mountinfo, &env->self };
	unsigned int i;
	size_t len;
	int ret = 0;

	*env = (struct ctr_cg_env){ 0 };
	env->root = strdup(CTR_CG_ROOT);
	if (!env->root)
		return parse_fail(err, errlen, -ENOMEM, "cgroup: %s", strerror(ENOMEM));
	for (i = 0; !ret && i < ARRAY_SIZE(files); i++) {
		ret = file_read_text(files[i], CTR_CG_TEXT_MAX, texts[i], &len);
		if (ret)
			parse_fail(err, errlen, ret, "cgroup: %s: %s", files[i],
				   ret == -EFBIG ? "larger than 1 MiB" : strerror(-ret));
	}
	if (ret)
		ctr_cg_env_free(env);
	return ret;
}

void ctr_cg_env_free(struct ctr_cg_env *env)
{
	free(env->root);
	free(env->mountinfo);
	free(env->self);
	*env = (struct ctr_cg_env){ 0 };
}

/* mountinfo's octal escapes (\040 for a space) undone in place. */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* Is tok one of the words of list, separated by sep? */
static bool has_word(const char *list, const char *tok, char sep)
{
	size_t n = strlen(tok);
	const char *p = list;

	while ((p = strstr(p, tok))) {
		if ((p == list || p[-1] == sep) && (p[n] == sep || !p[n]))
			return true;
		p += n;
	}
	return false;
}

/* One mount of a cgroup filesystem, from a mountinfo line (modified in place). */
struct mount {
	char *root, *point, *type, *opts;
};

static bool parse_mount(char *line, struct mount *m)
{
	char *f[32], *save = NULL, *tok;
	unsigned int n = 0, sep;

	for (tok = strtok_r(line, " ", &save); tok && n < ARRAY_SIZE(f);
	     tok = strtok_r(NULL, " ", &save))
		f[n++] = tok;
	for (sep = 6; sep < n && strcmp(f[sep], "-"); sep++)
		;
	if (sep + 3 >= n)
		return false;
	m->root = f[3];
	m->point = f[4];
	m->type = f[sep + 1];
	m->opts = f[sep + 3];
	unescape(m->root);
	unescape(m->point);
	return true;
}

/* Is point env->root itself, or below it? */
static bool under(const char *point, const char *root, bool exact)
{
	size_t n = strlen(root);

	if (strncmp(point, root, n))
		return false;
	return exact ? !point[n] : point[n] == '/';
}

/* hull's own cgroup in the hierarchy that holds ctrl (v1), or the unified one (ctrl NULL). */
static const char *own_cgroup(char *self, const char *ctrl)
{
	char *line, *save = NULL, *c1, *c2;

	for (line = strtok_r(self, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		c1 = strchr(line, ':');
		c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c1 = *c2 = '\0';
		/* "ID:CONTROLLERS:PATH"; v2's line is "0::PATH". */
		if (ctrl ? has_word(c1 + 1, ctrl, ',') : !strcmp(line, "0") && c1 + 1 == c2)
			return c2 + 1;
	}
	return NULL;
}

/*
 * base + path with "." components and doubled slashes dropped; -EINVAL for a
 * ".." component, which would leave the hierarchy.
 */
static int join(const char *base, const char *path, char **out)
{
	size_t cap = strlen(base) + strlen(path) + 2, at;
	const char *p = path, *end;
	char *s = malloc(cap);

	if (!s)
		return -ENOMEM;
	at = (size_t)snprintf(s, cap, "%s", base);
	while (at > 1 && s[at - 1] == '/')
		s[--at] = '\0';
	for (; *p; p = end) {
		while (*p == '/')
			p++;
		end = strchrnul(p, '/');
		if (end == p || (end - p == 1 && p[0] == '.'))
			continue;
		if (end - p == 2 && p[0] == '.' && p[1] == '.') {
			free(s);
			return -EINVAL;
		}
		if (!at || s[at - 1] != '/')
			s[at++] = '/';
		memcpy(s + at, p, (size_t)(end - p));
		at += (size_t)(end - p);
		s[at] = '\0';
	}
	*out = s;
	return 0;
}

/* own (from /proc/self/cgroup) as a path below mount m: -ENOENT when it is outside it. */
static const char *below_mount(const char *own, const struct mount *m)
{
	size_t n = strlen(m->root);

	if (!strcmp(m->root, "/"))
		return own;
	if (strncmp(own, m->root, n) || (own[n] && own[n] != '/'))
		return NULL;
	return own + n;
}

/* Add the hierarchy of mount m for controllers ctrls: cg->h[cg->nh++]. */
static int add_dir(struct ctr_cgroup *cg, const struct mount *m, unsigned int ctrls,
		   const char *ctrl, const char *cg_path, char *err, size_t errlen)
{
	struct ctr_cg_dir *d = &cg->h[cg->nh];
	const char *own, *rel;
	char *self;
	int ret;

	self = strdup(cg->env->self ? cg->env->self : "");
	if (!self)
		return -ENOMEM;
	own = own_cgroup(self, ctrl);
	rel = own ? below_mount(own, m) : NULL;
	if (!rel) {
		ret = parse_fail(err, errlen, -ENOENT,
				 "cgroup: hull's own %s cgroup (%s) is not under %s",
				 ctrl ? ctrl : "v2", own ? own : "not listed in /proc/self/cgroup",
				 m->point);
		goto out;
	}
	d->mount = strdup(m->point);
	if (!d->mount) {
		ret = -ENOMEM;
		goto out;
	}
	ret = join(m->point, rel, &d->home);
	if (ret)
		goto bad;
	ret = cg_path[0] == '/' ? join(m->point, cg_path, &d->dir) : join(d->home, cg_path, &d->dir);
	if (ret)
		goto bad;
	d->ctrls = ctrls;
	cg->nh++;
	goto out;
bad:
	/* cg_path was checked; a ".." here is in /proc/self/cgroup's own path. */
	parse_fail(err, errlen, ret, "cgroup %s under %s: %s", cg_path, m->point, strerror(-ret));
out:
	if (ret) {
		free(d->mount);
		free(d->home);
		*d = (struct ctr_cg_dir){ 0 };
	}
	free(self);
	return ret;
}

/* The v1 hierarchies of cpu, cpuset, memory and pids mounted below the root. */
static int find_v1(struct ctr_cgroup *cg, char *mi, const char *cg_path, char *err,
		   size_t errlen)
{
	char *line, *save = NULL;
	unsigned int i, have = 0, ctrls;
	struct mount m;
	int ret;

	for (line = strtok_r(mi, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!parse_mount(line, &m) || strcmp(m.type, "cgroup") ||
		    !under(m.point, cg->env->root, false))
			continue;
		for (i = 0, ctrls = 0; i < CTR_CG_NCTRL; i++)
			if (!(have & (1u << i)) && has_word(m.opts, ctrl_names[i], ','))
				ctrls |= 1u << i;
		if (!ctrls)
			continue;
		ret = add_dir(cg, &m, ctrls, ctrl_names[__builtin_ctz(ctrls)], cg_path, err,
			      errlen);
		if (ret)
			return ret;
		have |= ctrls;
	}
	return have ? 0
		    : parse_fail(err, errlen, -ENOENT, "cgroup: no cgroup filesystem at %s",
				 cg->env->root);
}

int ctr_cgroup_open(const struct ctr_cg_env *env, const char *cg_path, bool systemd,
		    struct ctr_cgroup *cg, char *err, size_t errlen)
{
	char *mi = NULL, *line, *save = NULL, unit[PATH_MAX];
	struct mount m;
	int ret;

	*cg = (struct ctr_cgroup){ .env = env };
	if (!cg_path || !cg_path[0])
		return parse_fail(err, errlen, -EINVAL, "cgroup path: empty");
	if (systemd) {
		ret = ctr_cg_systemd_path(cg_path, unit, sizeof(unit), err, errlen);
		if (ret)
			return ret;
		cg_path = unit;
	}
	/* Refused whatever is mounted: the path never leaves the hierarchy it is in. */
	ret = join("", cg_path, &mi);
	free(mi);
	mi = NULL;
	if (ret == -EINVAL)
		return parse_fail(err, errlen, ret,
				  "cgroup path %s: a \"..\" component leaves the "
				  "hierarchy",
				  cg_path);
	if (ret)
		return parse_fail(err, errlen, ret, "cgroup path %s: %s", cg_path, strerror(-ret));
	cg->path = strdup(cg_path);
	mi = strdup(env->mountinfo ? env->mountinfo : "");
	if (!cg->path || !mi) {
		ret = -ENOMEM;
		goto out;
	}
	for (line = strtok_r(mi, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (parse_mount(line, &m) && !strcmp(m.type, "cgroup2") &&
		    under(m.point, env->root, true))
			break;
	if (line) {
		cg->version = 2;
		ret = add_dir(cg, &m, (1u << CTR_CG_NCTRL) - 1, NULL, cg_path, err, errlen);
	} else {
		cg->version = 1;
		free(mi);
		mi = strdup(env->mountinfo ? env->mountinfo : "");
		ret = mi ? find_v1(cg, mi, cg_path, err, errlen) : -ENOMEM;
	}
out:
	free(mi);
	if (ret)
		ctr_cgroup_close(cg);
	return ret;
}

void ctr_cgroup_close(struct ctr_cgroup *cg)
{
	unsigned int i;

	for (i = 0; i < cg->nh; i++) {
		free(cg->h[i].mount);
		free(cg->h[i].dir);
		free(cg->h[i].home);
	}
	free(cg->path);
	*cg = (struct ctr_cgroup){ 0 };
}

/* --- the systemd form ------------------------------------------------------------------ */

static int append(char *out, size_t len, size_t *at, const char *s, size_t n)
{
	if (*at + n + 1 > len)
		return -ENAMETOOLONG;
	memcpy(out + *at, s, n);
	*at += n;
	out[*at] = '\0';
	return 0;
}

bool ctr_cg_systemd_form(const char *path)
{
	const char *c = strchr(path, ':');

	return path[0] != '/' && c && (c = strchr(c + 1, ':')) && !strchr(c + 1, ':');
}

int ctr_cg_systemd_path(const char *spec, char *out, size_t len, char *err, size_t errlen)
{
	static const char sfx[] = ".slice";
	const char *c1 = strchr(spec, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	const char *slice = spec, *name, *p, *dash;
	size_t slen, nlen, at = 0, pfx;
	int ret = 0;

	if (!c2 || strchr(c2 + 1, ':'))
		return parse_fail(err, errlen, -EINVAL,
				  "cgroup path %s: expected slice:prefix:name", spec);
	slen = (size_t)(c1 - spec);
	name = c2 + 1;
	nlen = strlen(name);
	if (!slen) {
		slice = "system.slice";
		slen = strlen(slice);
	}
	if (slen <= sizeof(sfx) - 1 || strncmp(slice + slen - (sizeof(sfx) - 1), sfx, sizeof(sfx) - 1) ||
	    memchr(slice, '/', slen) || !nlen || strchr(name, '/') || memchr(c1, '/', (size_t)(c2 - c1)))
		return parse_fail(err, errlen, -EINVAL,
				  "cgroup path %s: a slice ending in .slice, a prefix "
				  "and a name, none with '/'",
				  spec);
	out[0] = '\0';
	slen -= sizeof(sfx) - 1;
	/* "a-b-c" is /a.slice/a-b.slice/a-b-c.slice; "-" is the root slice. */
	if (!(slen == 1 && slice[0] == '-')) {
		for (p = slice; !ret && p <= slice + slen; p = dash + 1) {
			dash = memchr(p, '-', (size_t)(slice + slen - p));
			if (!dash)
				dash = slice + slen;
			if (dash == p)
				return parse_fail(err, errlen, -EINVAL,
						  "cgroup path %s: slice %.*s has an "
						  "empty part",
						  spec, (int)(slen + sizeof(sfx) - 1), slice);
			pfx = (size_t)(dash - slice);
			ret = append(out, len, &at, "/", 1) ?: append(out, len, &at, slice, pfx) ?:
			      append(out, len, &at, sfx, sizeof(sfx) - 1);
		}
	}
	if (!ret)
		ret = append(out, len, &at, "/", 1);
	if (!ret && nlen > sizeof(sfx) - 1 && !strcmp(name + nlen - (sizeof(sfx) - 1), sfx)) {
		ret = append(out, len, &at, name, nlen);
	} else if (!ret) {
		ret = append(out, len, &at, c1 + 1, (size_t)(c2 - c1 - 1)) ?:
		      append(out, len, &at, "-", 1) ?: append(out, len, &at, name, nlen) ?:
		      append(out, len, &at, ".scope", 6);
	}
	return ret ? parse_fail(err, errlen, ret, "cgroup path %s: too long", spec) : 0;
}

/* --- making it ------------------------------------------------------------------------- */

static int make_dir(const struct ctr_cg_env *env, const char *dir)
{
	if (env->mkdir)
		return env->mkdir(dir, env->opaque);
	return mkdir(dir, 0755) < 0 ? -errno : 0;
}

/* v2: the controllers hull uses that parent offers, enabled for its children. */
static int enable(const char *dir, char *err, size_t errlen)
{
	char *offered = NULL, *on = NULL, want[64] = "";
	unsigned int i;
	size_t at = 0;
	int ret;

	ret = get(dir, "cgroup.controllers", &offered, err, errlen) ?:
	      get(dir, "cgroup.subtree_control", &on, err, errlen);
	for (i = 0; !ret && i < CTR_CG_NCTRL; i++)
		if (has_word(offered, ctrl_names[i], ' ') && !has_word(on, ctrl_names[i], ' '))
			at += (size_t)snprintf(want + at, sizeof(want) - at, "%s+%s", at ? " " : "",
					       ctrl_names[i]);
	if (!ret && at)
		ret = put(dir, "cgroup.subtree_control", want, err, errlen);
	free(offered);
	free(on);
	return ret;
}

/* v1 cpuset: an empty cpuset.cpus or cpuset.mems in dir gets its parent's. */
static int cpuset_fill(const char *dir, char *err, size_t errlen)
{
	static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
	char parent[PATH_MAX], *mine = NULL, *theirs = NULL;
	unsigned int i;
	int ret = 0;

	snprintf(parent, sizeof(parent), "%s", dir);
	*strrchr(parent, '/') = '\0';
	for (i = 0; !ret && i < ARRAY_SIZE(files); i++) {
		ret = get(dir, files[i], &mine, err, errlen);
		if (!ret && !mine[0])
			ret = get(parent, files[i], &theirs, err, errlen) ?:
			      put(dir, files[i], theirs, err, errlen);
		free(mine);
		free(theirs);
		mine = theirs = NULL;
	}
	return ret;
}

/* Every directory from d's mount point down to the cgroup, made where missing. */
static int make_path(struct ctr_cgroup *cg, const struct ctr_cg_dir *d, char *err,
		     size_t errlen)
{
	size_t at = strlen(d->mount);
	char path[PATH_MAX];
	const char *slash;
	int ret = 0;

	if (strlen(d->dir) >= sizeof(path))
		return parse_fail(err, errlen, -ENAMETOOLONG, "cgroup %s: path too long", d->dir);
	while (!ret && d->dir[at]) {
		/* v2: the parent lets its children have the controllers before they exist. */
		snprintf(path, sizeof(path), "%.*s", (int)at, d->dir);
		if (cg->version == 2)
			ret = enable(path, err, errlen);
		if (ret)
			break;
		slash = strchrnul(d->dir + at + 1, '/');
		at = (size_t)(slash - d->dir);
		snprintf(path, sizeof(path), "%.*s", (int)at, d->dir);
		ret = make_dir(cg->env, path);
		if (!ret && !d->dir[at])
			cg->made = true;
		if (ret == -EEXIST)
			ret = 0;
		if (ret) {
			parse_fail(err, errlen, ret, "cgroup %s: mkdir: %s", path, strerror(-ret));
			break;
		}
		if (cg->version == 1 && (d->ctrls & (1u << CTR_CG_CPUSET)))
			ret = cpuset_fill(path, err, errlen);
	}
	return ret;
}

int ctr_cgroup_create(struct ctr_cgroup *cg, char *err, size_t errlen)
{
	unsigned int i;
	int ret = 0;

	cg->made = false;
	for (i = 0; !ret && i < cg->nh; i++)
		ret = make_path(cg, &cg->h[i], err, errlen);
	return ret;
}

/* --- limits -------------------------------------------------------------------------- */

uint64_t ctr_cg_shares(uint64_t weight)
{
	/* runc: weight = 1 + (shares - 2) * 9999 / 262142, shares in 2..262144. */
	if (weight < 1)
		weight = 1;
	if (weight > 10000)
		weight = 10000;
	return 2 + ((weight - 1) * 262142 + 9998) / 9999;
}

/* The directory of the hierarchy holding ctrl, or NULL with the reason in err. */
static const char *dir_of(const struct ctr_cgroup *cg, enum ctr_cg_ctrl c, char *err,
			  size_t errlen)
{
	unsigned int i;

	for (i = 0; i < cg->nh; i++)
		if (cg->h[i].ctrls & (1u << c))
			return cg->h[i].dir;
	parse_fail(err, errlen, -ENOENT, "cgroup %s: no %s controller mounted under %s", cg->path,
		   ctrl_names[c], cg->env->root);
	return NULL;
}

static int set_v2(struct ctr_cgroup *cg, const struct ctr_resources *r, char *err,
		  size_t errlen)
{
	const char *d = cg->h[0].dir;
	char value[2 * VALUE_MAX], *cur = NULL;
	int ret = 0;

	if (r->has_cpu_quota && r->has_cpu_period) {
		if (r->cpu_quota == UINT64_MAX)
			snprintf(value, sizeof(value), "max %" PRIu64, r->cpu_period);
		else
			snprintf(value, sizeof(value), "%" PRIu64 " %" PRIu64, r->cpu_quota,
				 r->cpu_period);
		ret = put(d, "cpu.max", value, err, errlen);
	} else if (r->has_cpu_quota) {
		ret = put_u64(d, "cpu.max", r->cpu_quota, err, errlen);
	} else if (r->has_cpu_period) {
		/* A period alone keeps the quota that is there ("max" or a number). */
		ret = get(d, "cpu.max", &cur, err, errlen);
		if (!ret) {
			cur[strcspn(cur, " ")] = '\0';
			snprintf(value, sizeof(value), "%.*s %" PRIu64, VALUE_MAX - 1, cur,
				 r->cpu_period);
			ret = put(d, "cpu.max", value, err, errlen);
		}
		free(cur);
	}
	if (!ret && r->has_cpu_weight)
		ret = put_u64(d, "cpu.weight", r->cpu_weight, err, errlen);
	if (!ret && r->cpuset_cpus)
		ret = put(d, "cpuset.cpus", r->cpuset_cpus, err, errlen);
	if (!ret && r->cpuset_mems)
		ret = put(d, "cpuset.mems", r->cpuset_mems, err, errlen);
	if (!ret && r->has_mem_max)
		ret = put_u64(d, "memory.max", r->mem_max, err, errlen);
	if (!ret && r->has_swap_max)
		ret = put_u64(d, "memory.swap.max", r->swap_max, err, errlen);
	if (!ret && r->has_mem_low)
		ret = put_u64(d, "memory.low", r->mem_low, err, errlen);
	if (!ret && r->has_pids_max)
		ret = put_u64(d, "pids.max", r->pids_max, err, errlen);
	return ret;
}

/* v1's quota and period are checked against each other: write them in an order it takes. */
static int cpu_v1(const char *d, const struct ctr_resources *r, char *err, size_t errlen)
{
	int ret = 0;

	if (r->has_cpu_period) {
		ret = put_v1(d, "cpu.cfs_period_us", r->cpu_period, err, errlen);
		if (ret == -EINVAL && r->has_cpu_quota)
			ret = put_v1(d, "cpu.cfs_quota_us", r->cpu_quota, err, errlen) ?:
			      put_v1(d, "cpu.cfs_period_us", r->cpu_period, err, errlen);
		else if (!ret && r->has_cpu_quota)
			ret = put_v1(d, "cpu.cfs_quota_us", r->cpu_quota, err, errlen);
	} else if (r->has_cpu_quota) {
		ret = put_v1(d, "cpu.cfs_quota_us", r->cpu_quota, err, errlen);
	}
	if (!ret && r->has_cpu_weight)
		ret = put_v1(d, "cpu.shares", ctr_cg_shares(r->cpu_weight), err, errlen);
	return ret;
}

/* v1's memory+swap limit may never be below the memory limit, before or after each write. */
static int memory_v1(const char *d, const struct ctr_resources *r, char *err, size_t errlen)
{
	uint64_t memsw;
	char *cur = NULL;
	int ret = 0;

	if (r->has_swap_max && !r->has_mem_max)
		return parse_fail(err, errlen, -EINVAL,
				  "cgroup %s: a swap limit needs a memory limit "
				  "(v1 limits memory+swap)",
				  d);
	if (r->has_swap_max) {
		memsw = r->mem_max + r->swap_max < r->mem_max ? UINT64_MAX : r->mem_max + r->swap_max;
		ret = get(d, "memory.limit_in_bytes", &cur, err, errlen);
		if (ret)
			return ret;
		/* Raising: memsw first; lowering: the limit first. */
		if (strtoull(cur, NULL, 10) < r->mem_max)
			ret = put_v1(d, "memory.memsw.limit_in_bytes", memsw, err, errlen) ?:
			      put_v1(d, "memory.limit_in_bytes", r->mem_max, err, errlen);
		else
			ret = put_v1(d, "memory.limit_in_bytes", r->mem_max, err, errlen) ?:
			      put_v1(d, "memory.memsw.limit_in_bytes", memsw, err, errlen);
		free(cur);
	} else if (r->has_mem_max) {
		ret = put_v1(d, "memory.limit_in_bytes", r->mem_max, err, errlen);
	}
	if (!ret && r->has_mem_low)
		ret = put_v1(d, "memory.soft_limit_in_bytes", r->mem_low, err, errlen);
	return ret;
}

static int set_v1(struct ctr_cgroup *cg, const struct ctr_resources *r, char *err,
		  size_t errlen)
{
	const char *d;
	int ret = 0;

	if (r->has_cpu_quota || r->has_cpu_period || r->has_cpu_weight)
		ret = (d = dir_of(cg, CTR_CG_CPU, err, errlen)) ? cpu_v1(d, r, err, errlen) : -ENOENT;
	if (!ret && (r->cpuset_cpus || r->cpuset_mems)) {
		d = dir_of(cg, CTR_CG_CPUSET, err, errlen);
		ret = !d ? -ENOENT : r->cpuset_cpus ? put(d, "cpuset.cpus", r->cpuset_cpus, err, errlen) : 0;
		if (!ret && r->cpuset_mems)
			ret = put(d, "cpuset.mems", r->cpuset_mems, err, errlen);
	}
	if (!ret && (r->has_mem_max || r->has_swap_max || r->has_mem_low))
		ret = (d = dir_of(cg, CTR_CG_MEMORY, err, errlen)) ? memory_v1(d, r, err, errlen)
								   : -ENOENT;
	if (!ret && r->has_pids_max)
		ret = (d = dir_of(cg, CTR_CG_PIDS, err, errlen)) ?
			      put_u64(d, "pids.max", r->pids_max, err, errlen) : -ENOENT;
	return ret;
}

int ctr_cgroup_set(struct ctr_cgroup *cg, const struct ctr_resources *r, char *err,
		   size_t errlen)
{
	return cg->version == 2 ? set_v2(cg, r, err, errlen) : set_v1(cg, r, err, errlen);
}

/* --- processes, removal ---------------------------------------------------------------- */

/* pid into cgroup.procs of each hierarchy's directory (dir, or home). */
static int move(struct ctr_cgroup *cg, pid_t pid, bool home, char *err, size_t errlen)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; !ret && i < cg->nh; i++)
		ret = put_u64(home ? cg->h[i].home : cg->h[i].dir, "cgroup.procs", (uint64_t)pid,
			      err, errlen);
	return ret;
}

int ctr_cgroup_enter(struct ctr_cgroup *cg, pid_t pid, char *err, size_t errlen)
{
	return move(cg, pid, false, err, errlen);
}

int ctr_cgroup_leave(struct ctr_cgroup *cg, pid_t pid, char *err, size_t errlen)
{
	return move(cg, pid, true, err, errlen);
}

static int remove_dir(const struct ctr_cg_env *env, const char *dir)
{
	struct timespec wait = { .tv_nsec = 10 * 1000 * 1000 };
	unsigned int tries;
	int ret;

	for (tries = 0;; tries++) {
		if (env->rmdir)
			ret = env->rmdir(dir, env->opaque);
		else
			ret = rmdir(dir) < 0 ? -errno : 0;
		if (ret != -EBUSY || tries == CTR_CG_RMDIR_TRIES)
			break;
		nanosleep(&wait, NULL);
		wait.tv_nsec *= 2;
	}
	return ret == -ENOENT ? 0 : ret;
}

int ctr_cgroup_remove(struct ctr_cgroup *cg, char *err, size_t errlen)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; !ret && i < cg->nh; i++) {
		ret = remove_dir(cg->env, cg->h[i].dir);
		if (ret)
			parse_fail(err, errlen, ret, "cgroup %s: rmdir: %s", cg->h[i].dir,
				   strerror(-ret));
	}
	return ret;
}
