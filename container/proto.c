/* proto: the agent protocol's frames and messages, and the container spec's encoding (PROTOCOL.md). */
#include "container/proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>

/*
 * libc only: this file is linked into hull-init too (see tlv.h).
 *
 * Every struct travels as data: a table of its fields (tag, kind, where the
 * value lives) drives one encoder, one decoder and one free for all of them,
 * and each struct's check() is run by both the encoder (before writing) and
 * the decoder (after reading). So whatever encodes decodes, and whatever
 * decodes encodes again to the same bytes.
 */

enum kind {
	K_CONST,   /* u32 that must equal lo: the spec's version */
	K_U32,	   /* uint32_t, in lo..hi (hi 0: no upper bound) */
	K_I32,	   /* int32_t as a u32 */
	K_U64,	   /* uint64_t */
	K_BOOL,	   /* bool; written only when true */
	K_CHAR,	   /* char as a u32 (a device type) */
	K_STR,	   /* char *; NULL: absent */
	K_BYTES,   /* void * with a size_t length at aux */
	K_STRV,	   /* char ** with an unsigned int count at aux; one field per entry */
	K_U32V,	   /* uint32_t * with a count at aux */
	K_STRUCT,  /* a struct at off (of sub's layout), as one list field */
	K_STRUCTV, /* an array of sub->size structs with a count at aux, one list field each */
};

#define F_REQ 1 /* decode: must be present (repeated: at least once); encode: always written */
#define F_HAS 2 /* aux is a bool: set when decoded; encode writes the field only when it is set */
#define F_NZ 4	/* u32/u64: left out when 0, and 0 when absent */

struct sdesc;

struct fdesc {
	uint16_t tag;
	uint8_t kind, flags;
	size_t off, aux;
	uint32_t lo, hi;
	const struct sdesc *sub;
};

struct sdesc {
	const struct fdesc *f;
	unsigned int n;
	size_t size;
	int (*check)(const void *obj);
};

#define AT(obj, off, type) ((type *)(void *)((char *)(obj) + (off)))
#define CAT(obj, off, type) ((const type *)(const void *)((const char *)(obj) + (off)))

/* Array pointers of any element type, read and written without type-punning a pointer. */
static void *ptr_get(const void *obj, size_t off)
{
	void *p;

	memcpy(&p, (const char *)obj + off, sizeof(p));
	return p;
}

static void ptr_set(void *obj, size_t off, void *p)
{
	memcpy((char *)obj + off, &p, sizeof(p));
}

/* ---- checks shared by the encoder and the decoder ---- */

bool ctr_path_ok(const char *s)
{
	const char *p;

	if (!s || s[0] != '/')
		return false;
	for (p = s; (p = strstr(p, "..")); p += 2)
		if (p[-1] == '/' && (p[2] == '/' || !p[2]))
			return false;
	return true;
}

static bool key_value(const char *s)
{
	const char *eq = strchr(s, '=');

	return eq && eq != s;
}

/* A file or entry name: not empty, no '/', not "." or "..". */
static bool plain_name(const char *s)
{
	return s && s[0] && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

static bool all_abs(char *const *v, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (!ctr_path_ok(v[i]))
			return false;
	return true;
}

static int process_check(const void *obj)
{
	const struct ctr_process *p = obj;
	uint32_t seen = 0;
	unsigned int i;

	if (!p->nargs || !ctr_path_ok(p->cwd) || (p->has_umask && p->umask > 0777))
		return -EINVAL;
	if (p->has_oom_score_adj && (p->oom_score_adj < -1000 || p->oom_score_adj > 1000))
		return -EINVAL;
	for (i = 0; i < p->nenv; i++)
		if (!key_value(p->env[i]))
			return -EINVAL;
	for (i = 0; i < p->nrlimits; i++) {
		const struct ctr_rlimit *r = &p->rlimits[i];

		if (r->resource >= RLIMIT_NLIMITS || (seen & (1u << r->resource)) || r->soft > r->hard)
			return -EINVAL;
		seen |= 1u << r->resource;
	}
	return 0;
}

static int mount_check(const void *obj)
{
	const struct ctr_mount *m = obj;
	uint32_t prop = m->propagation & ~(uint32_t)MS_REC;

	if (!ctr_path_ok(m->dest) || !m->type[0])
		return -EINVAL;
	if (!strcmp(m->type, "bind") && !plain_name(m->source))
		return -EINVAL;
	if (prop ? prop != MS_SHARED && prop != MS_SLAVE && prop != MS_PRIVATE &&
			   prop != MS_UNBINDABLE
		 : m->propagation != 0)
		return -EINVAL;
	return 0;
}

static int device_check(const void *obj)
{
	const struct ctr_device *d = obj;

	if (!ctr_path_ok(d->path) || (d->type != 'c' && d->type != 'b' && d->type != 'p') ||
	    d->mode > 07777 || (d->guest_source && !ctr_path_ok(d->guest_source)))
		return -EINVAL;
	return 0;
}

static bool cpuset(const char *s)
{
	return !s || strspn(s, "0123456789,-") == strlen(s);
}

static int resources_check(const void *obj)
{
	const struct ctr_resources *r = obj;

	return cpuset(r->cpuset_cpus) && cpuset(r->cpuset_mems) ? 0 : -EINVAL;
}

int ctr_inet6_prefix(const char *text, uint8_t addr[16], unsigned int *prefix)
{
	const char *slash = strchr(text, '/');
	char a[INET6_ADDRSTRLEN];
	size_t len, digits;

	if (!slash || (len = (size_t)(slash - text)) >= sizeof(a))
		return -EINVAL;
	memcpy(a, text, len);
	a[len] = '\0';
	digits = strspn(slash + 1, "0123456789");
	if (!digits || digits > 3 || slash[1 + digits] || inet_pton(AF_INET6, a, addr) != 1)
		return -EINVAL;
	*prefix = (unsigned int)atoi(slash + 1);
	return *prefix <= 128 ? 0 : -EINVAL;
}

static int netif_check(const void *obj)
{
	const struct ctr_netif *n = obj;
	unsigned int i, prefix;
	uint8_t a[16];

	if (!plain_name(n->name) || strlen(n->name) > 15)
		return -EINVAL;
	for (i = 0; i < n->naddrs6; i++)
		if (ctr_inet6_prefix(n->addrs6[i], a, &prefix))
			return -EINVAL;
	if (n->gateway6 && inet_pton(AF_INET6, n->gateway6, a) != 1)
		return -EINVAL;
	return 0;
}

#define CTR_HOSTNAME_MAX 64 /* the kernel's HOST_NAME_MAX and domain name limit */
#define CTR_SECCOMP_MAX 4096 /* BPF_MAXINSNS */

static int spec_check(const void *obj)
{
	const struct ctr_spec *s = obj;
	unsigned int i;

	if (!s->root_tag[0] || (s->mounts_tag && !s->mounts_tag[0]))
		return -EINVAL;
	if ((s->hostname && strlen(s->hostname) > CTR_HOSTNAME_MAX) ||
	    (s->domainname && strlen(s->domainname) > CTR_HOSTNAME_MAX))
		return -EINVAL;
	if (!all_abs(s->masked, s->nmasked) || !all_abs(s->readonly, s->nreadonly) ||
	    (s->cgroup && !ctr_path_ok(s->cgroup)))
		return -EINVAL;
	for (i = 0; i < s->nsysctls; i++)
		if (!key_value(s->sysctls[i]))
			return -EINVAL;
	for (i = 0; i < s->nmodules; i++)
		if (!plain_name(s->modules[i]))
			return -EINVAL;
	for (i = 0; i < s->nmounts; i++)
		if (!strcmp(s->mounts[i].type, "bind") && !s->mounts_tag)
			return -EINVAL;
	if (s->seccomp && (!s->seccomp_len || s->seccomp_len % 8 ||
			   s->seccomp_len / 8 > CTR_SECCOMP_MAX))
		return -EINVAL;
	if (s->seccomp_flags & ~CTR_SECCOMP_FLAGS || (s->seccomp_flags && !s->seccomp))
		return -EINVAL;
	return 0;
}

static int exited_check(const void *obj)
{
	const struct ctr_msg_fields *m = obj;

	if (m->kind == 0 ? m->code > 255 : m->code < 1 || m->code > 64)
		return -EINVAL;
	return 0;
}

/* ---- the tables ---- */

#define P(f) offsetof(struct ctr_process, f)
static const struct fdesc rlimit_f[] = {
	{ CTR_RLIM_RESOURCE, K_U32, F_REQ, offsetof(struct ctr_rlimit, resource), 0, 0, 0, NULL },
	{ CTR_RLIM_SOFT, K_U64, F_REQ, offsetof(struct ctr_rlimit, soft), 0, 0, 0, NULL },
	{ CTR_RLIM_HARD, K_U64, F_REQ, offsetof(struct ctr_rlimit, hard), 0, 0, 0, NULL },
};
static const struct sdesc rlimit_d = { rlimit_f, 3, sizeof(struct ctr_rlimit), NULL };

static const struct fdesc process_f[] = {
	{ CTR_PROC_ARG, K_STRV, F_REQ, P(args), P(nargs), 0, 0, NULL },
	{ CTR_PROC_ENV, K_STRV, 0, P(env), P(nenv), 0, 0, NULL },
	{ CTR_PROC_CWD, K_STR, F_REQ, P(cwd), 0, 0, 0, NULL },
	{ CTR_PROC_UID, K_U32, F_REQ, P(uid), 0, 0, 0, NULL },
	{ CTR_PROC_GID, K_U32, F_REQ, P(gid), 0, 0, 0, NULL },
	{ CTR_PROC_GROUP, K_U32V, 0, P(gids), P(ngids), 0, 0, NULL },
	{ CTR_PROC_UMASK, K_U32, F_HAS, P(umask), P(has_umask), 0, 0777, NULL },
	{ CTR_PROC_TERMINAL, K_BOOL, 0, P(terminal), 0, 0, 0, NULL },
	{ CTR_PROC_CAPS + 0, K_U64, F_NZ, P(caps[0]), 0, 0, 0, NULL },
	{ CTR_PROC_CAPS + 1, K_U64, F_NZ, P(caps[1]), 0, 0, 0, NULL },
	{ CTR_PROC_CAPS + 2, K_U64, F_NZ, P(caps[2]), 0, 0, 0, NULL },
	{ CTR_PROC_CAPS + 3, K_U64, F_NZ, P(caps[3]), 0, 0, 0, NULL },
	{ CTR_PROC_CAPS + 4, K_U64, F_NZ, P(caps[4]), 0, 0, 0, NULL },
	{ CTR_PROC_NNP, K_BOOL, 0, P(no_new_privs), 0, 0, 0, NULL },
	{ CTR_PROC_RLIMIT, K_STRUCTV, 0, P(rlimits), P(nrlimits), 0, 0, &rlimit_d },
	{ CTR_PROC_OOM, K_I32, F_HAS, P(oom_score_adj), P(has_oom_score_adj), 0, 0, NULL },
};
static const struct sdesc process_d = { process_f, sizeof(process_f) / sizeof(process_f[0]),
					sizeof(struct ctr_process), process_check };

#define MT(f) offsetof(struct ctr_mount, f)
static const struct fdesc mount_f[] = {
	{ CTR_MNT_DEST, K_STR, F_REQ, MT(dest), 0, 0, 0, NULL },
	{ CTR_MNT_TYPE, K_STR, F_REQ, MT(type), 0, 0, 0, NULL },
	{ CTR_MNT_SOURCE, K_STR, 0, MT(source), 0, 0, 0, NULL },
	{ CTR_MNT_FLAGS, K_U64, F_NZ, MT(flags), 0, 0, 0, NULL },
	{ CTR_MNT_DATA, K_STR, 0, MT(data), 0, 0, 0, NULL },
	{ CTR_MNT_PROP, K_U32, F_NZ, MT(propagation), 0, 0, 0, NULL },
};
static const struct sdesc mount_d = { mount_f, 6, sizeof(struct ctr_mount), mount_check };

#define D(f) offsetof(struct ctr_device, f)
static const struct fdesc device_f[] = {
	{ CTR_DEV_PATH, K_STR, F_REQ, D(path), 0, 0, 0, NULL },
	{ CTR_DEV_TYPE, K_CHAR, F_REQ, D(type), 0, 0, 0, NULL },
	{ CTR_DEV_MAJOR, K_U32, F_NZ, D(major), 0, 0, 0, NULL },
	{ CTR_DEV_MINOR, K_U32, F_NZ, D(minor), 0, 0, 0, NULL },
	{ CTR_DEV_MODE, K_U32, F_NZ, D(mode), 0, 0, 0, NULL },
	{ CTR_DEV_UID, K_U32, F_NZ, D(uid), 0, 0, 0, NULL },
	{ CTR_DEV_GID, K_U32, F_NZ, D(gid), 0, 0, 0, NULL },
	{ CTR_DEV_SOURCE, K_STR, 0, D(guest_source), 0, 0, 0, NULL },
};
static const struct sdesc device_d = { device_f, 8, sizeof(struct ctr_device), device_check };

#define R(f) offsetof(struct ctr_resources, f)
static const struct fdesc resources_f[] = {
	{ CTR_RES_CPU_QUOTA, K_U64, F_HAS, R(cpu_quota), R(has_cpu_quota), 0, 0, NULL },
	{ CTR_RES_CPU_PERIOD, K_U64, F_HAS, R(cpu_period), R(has_cpu_period), 0, 0, NULL },
	{ CTR_RES_CPU_WEIGHT, K_U64, F_HAS, R(cpu_weight), R(has_cpu_weight), 0, 0, NULL },
	{ CTR_RES_CPUS, K_STR, 0, R(cpuset_cpus), 0, 0, 0, NULL },
	{ CTR_RES_MEMS, K_STR, 0, R(cpuset_mems), 0, 0, 0, NULL },
	{ CTR_RES_MEM_MAX, K_U64, F_HAS, R(mem_max), R(has_mem_max), 0, 0, NULL },
	{ CTR_RES_SWAP_MAX, K_U64, F_HAS, R(swap_max), R(has_swap_max), 0, 0, NULL },
	{ CTR_RES_MEM_LOW, K_U64, F_HAS, R(mem_low), R(has_mem_low), 0, 0, NULL },
	{ CTR_RES_PIDS_MAX, K_U64, F_HAS, R(pids_max), R(has_pids_max), 0, 0, NULL },
};
static const struct sdesc resources_d = { resources_f, 9, sizeof(struct ctr_resources),
					  resources_check };

#define N(f) offsetof(struct ctr_netif, f)
static const struct fdesc netif_f[] = {
	{ CTR_NET_NAME, K_STR, F_REQ, N(name), 0, 0, 0, NULL },
	{ CTR_NET_MAC, K_STR, 0, N(mac), 0, 0, 0, NULL },
	{ CTR_NET_ADDR, K_STRV, 0, N(addrs), N(naddrs), 0, 0, NULL },
	{ CTR_NET_GATEWAY, K_STR, 0, N(gateway), 0, 0, 0, NULL },
	{ CTR_NET_MTU, K_U32, F_NZ, N(mtu), 0, 0, 0, NULL },
	{ CTR_NET_ADDR6, K_STRV, 0, N(addrs6), N(naddrs6), 0, 0, NULL },
	{ CTR_NET_GATEWAY6, K_STR, 0, N(gateway6), 0, 0, 0, NULL },
};
static const struct sdesc netif_d = { netif_f, 7, sizeof(struct ctr_netif), netif_check };

/* The root list's fields live in struct ctr_spec itself. */
#define S(f) offsetof(struct ctr_spec, f)
static const struct fdesc root_f[] = {
	{ CTR_ROOT_TAG, K_STR, F_REQ, S(root_tag), 0, 0, 0, NULL },
	{ CTR_ROOT_RO, K_BOOL, 0, S(root_ro), 0, 0, 0, NULL },
};
static const struct sdesc root_d = { root_f, 2, 0, NULL };

static const struct fdesc spec_f[] = {
	{ CTR_SPEC_VER, K_CONST, F_REQ, 0, 0, CTR_SPEC_VERSION, 0, NULL },
	{ CTR_SPEC_HOSTNAME, K_STR, 0, S(hostname), 0, 0, 0, NULL },
	{ CTR_SPEC_ROOT, K_STRUCT, F_REQ, 0, 0, 0, 0, &root_d },
	{ CTR_SPEC_PROCESS, K_STRUCT, F_REQ, S(process), 0, 0, 0, &process_d },
	{ CTR_SPEC_MOUNT, K_STRUCTV, 0, S(mounts), S(nmounts), 0, 0, &mount_d },
	{ CTR_SPEC_SYSCTL, K_STRV, 0, S(sysctls), S(nsysctls), 0, 0, NULL },
	{ CTR_SPEC_MASKED, K_STRV, 0, S(masked), S(nmasked), 0, 0, NULL },
	{ CTR_SPEC_READONLY, K_STRV, 0, S(readonly), S(nreadonly), 0, 0, NULL },
	{ CTR_SPEC_DEVICE, K_STRUCTV, 0, S(devices), S(ndevices), 0, 0, &device_d },
	{ CTR_SPEC_PRIVILEGED, K_BOOL, 0, S(privileged), 0, 0, 0, NULL },
	{ CTR_SPEC_MOUNTS_TAG, K_STR, 0, S(mounts_tag), 0, 0, 0, NULL },
	{ CTR_SPEC_RESOURCES, K_STRUCT, 0, S(resources), 0, 0, 0, &resources_d },
	{ CTR_SPEC_MODULE, K_STRV, 0, S(modules), S(nmodules), 0, 0, NULL },
	{ CTR_SPEC_CGROUP, K_STR, 0, S(cgroup), 0, 0, 0, NULL },
	{ CTR_SPEC_SECCOMP, K_BYTES, 0, S(seccomp), S(seccomp_len), 0, 0, NULL },
	{ CTR_SPEC_NETIF, K_STRUCTV, 0, S(netifs), S(nnetifs), 0, 0, &netif_d },
	{ CTR_SPEC_DOMAINNAME, K_STR, 0, S(domainname), 0, 0, 0, NULL },
	{ CTR_SPEC_SECCOMP_FLAGS, K_U32, 0, S(seccomp_flags), 0, 0, 0, NULL },
};
static const struct sdesc spec_d = { spec_f, sizeof(spec_f) / sizeof(spec_f[0]),
				     sizeof(struct ctr_spec), spec_check };

/* Messages: field 1 is every request's and answer's seq (PROTOCOL.md "Messages"). */
#define M(f) offsetof(struct ctr_msg_fields, f)
#define SEQ { 1, K_U32, F_REQ | F_HAS, M(seq), M(has_seq), 0, 0, NULL }
#define ID(lo) { 2, K_U32, F_REQ, M(id), 0, lo, 0, NULL }
static const struct fdesc hello_f[] = {
	{ 2, K_U32, F_REQ, M(cpus), 0, 1, 0, NULL },
	{ 3, K_U64, F_REQ, M(memory), 0, 0, 0, NULL },
	{ 4, K_STR, F_REQ, M(release), 0, 0, 0, NULL },
	{ 5, K_U32, F_REQ, M(version), 0, 0, 0, NULL },
};
static const struct fdesc start_f[] = {
	SEQ, { 2, K_STRUCT, F_HAS, M(netif), M(has_netif), 0, 0, &netif_d },
};
static const struct fdesc exec_f[] = {
	SEQ, ID(1), { 3, K_STRUCT, F_REQ | F_HAS, M(process), M(has_process), 0, 0, &process_d },
};
static const struct fdesc signal_f[] = {
	SEQ, ID(0), { 3, K_U32, F_REQ, M(signal), 0, 1, 64, NULL },
	{ 4, K_BOOL, 0, M(all), 0, 0, 0, NULL },
};
static const struct fdesc exited_f[] = {
	ID(0), { 3, K_U32, F_REQ, M(kind), 0, 0, 1, NULL }, { 4, K_U32, F_REQ, M(code), 0, 0, 0, NULL },
};
static const struct fdesc stdin_close_f[] = { SEQ, ID(0) };
static const struct fdesc winsize_f[] = {
	SEQ, ID(0), { 3, K_U32, F_REQ, M(rows), 0, 0, 65535, NULL },
	{ 4, K_U32, F_REQ, M(cols), 0, 0, 65535, NULL },
};
static const struct fdesc update_f[] = {
	SEQ, { 2, K_STRUCT, F_REQ | F_HAS, M(resources), M(has_resources), 0, 0, &resources_d },
	{ 3, K_U32, F_NZ, M(cpus), 0, 0, CTR_UPDATE_CPUS_MAX, NULL },
};
static const struct fdesc ok_f[] = { SEQ, { 2, K_U32, F_NZ, M(pid), 0, 0, 0, NULL } };
static const struct fdesc error_f[] = {
	SEQ, { 2, K_U32, F_REQ, M(err), 0, 0, 0, NULL }, { 3, K_STR, 0, M(message), 0, 0, 0, NULL },
};
static const struct fdesc stream_f[] = { ID(0), { 3, K_U32, F_REQ, M(stream), 0, 0, 3, NULL } };

#define MSG(t, f, check) [t] = { f, sizeof(f) / sizeof(f[0]), 0, check }
static const struct sdesc msg_d[] = {
	MSG(CTR_MSG_HELLO, hello_f, NULL),
	MSG(CTR_MSG_START, start_f, NULL),
	MSG(CTR_MSG_EXEC, exec_f, NULL),
	MSG(CTR_MSG_SIGNAL, signal_f, NULL),
	MSG(CTR_MSG_EXITED, exited_f, exited_check),
	MSG(CTR_MSG_STDIN_CLOSE, stdin_close_f, NULL),
	MSG(CTR_MSG_WINSIZE, winsize_f, NULL),
	MSG(CTR_MSG_UPDATE, update_f, NULL),
	MSG(CTR_MSG_OK, ok_f, NULL),
	MSG(CTR_MSG_ERROR, error_f, NULL),
	MSG(CTR_MSG_STREAM, stream_f, NULL),
};

static const struct sdesc *msg_desc(uint16_t type)
{
	if (type >= sizeof(msg_d) / sizeof(msg_d[0]) || !msg_d[type].f)
		return NULL;
	return &msg_d[type];
}

/* ---- the engine ---- */

static bool repeated(const struct fdesc *f)
{
	return f->kind == K_STRV || f->kind == K_U32V || f->kind == K_STRUCTV;
}

static bool in_range(const struct fdesc *f, uint32_t v)
{
	return v >= f->lo && (!f->hi || v <= f->hi);
}

static void w_fail(struct tlv_w *w, int err)
{
	if (!w->err)
		w->err = err;
}

static void put_obj(struct tlv_w *w, const struct sdesc *d, const void *obj);
static void free_struct(const struct sdesc *d, void *obj);

/* The elements of a repeated field: NULL with -EINVAL/-E2BIG in w when they cannot be written. */
static const void *put_array(struct tlv_w *w, const struct fdesc *f, const void *obj,
			     unsigned int *n)
{
	const void *arr = ptr_get(obj, f->off);

	*n = *CAT(obj, f->aux, unsigned int);
	if (*n > CTR_LIST_MAX)
		w_fail(w, -E2BIG);
	else if ((*n && !arr) || (!*n && (f->flags & F_REQ)))
		w_fail(w, -EINVAL);
	return w->err ? NULL : arr;
}

static void put_one(struct tlv_w *w, const struct fdesc *f, const void *obj)
{
	const void *arr;
	unsigned int i, n;
	uint32_t u;
	uint64_t q;

	if ((f->flags & (F_HAS | F_REQ)) == F_HAS && !*CAT(obj, f->aux, bool))
		return;
	switch ((enum kind)f->kind) {
	case K_CONST:
		tlv_put_u32(w, f->tag, f->lo);
		break;
	case K_U32:
		u = *CAT(obj, f->off, uint32_t);
		if (!in_range(f, u))
			w_fail(w, -EINVAL);
		else if (u || !(f->flags & F_NZ))
			tlv_put_u32(w, f->tag, u);
		break;
	case K_I32:
		tlv_put_u32(w, f->tag, (uint32_t)*CAT(obj, f->off, int32_t));
		break;
	case K_U64:
		q = *CAT(obj, f->off, uint64_t);
		if (q || !(f->flags & F_NZ))
			tlv_put_u64(w, f->tag, q);
		break;
	case K_BOOL:
		if (*CAT(obj, f->off, bool))
			tlv_put_bool(w, f->tag, true);
		break;
	case K_CHAR:
		tlv_put_u32(w, f->tag, (unsigned char)*CAT(obj, f->off, char));
		break;
	case K_STR:
		if (ptr_get(obj, f->off))
			tlv_put_str(w, f->tag, ptr_get(obj, f->off));
		else if (f->flags & F_REQ)
			w_fail(w, -EINVAL);
		break;
	case K_BYTES:
		if (ptr_get(obj, f->off))
			tlv_put_bytes(w, f->tag, ptr_get(obj, f->off), *CAT(obj, f->aux, size_t));
		break;
	case K_STRV:
		arr = put_array(w, f, obj, &n);
		for (i = 0; arr && i < n; i++)
			tlv_put_str(w, f->tag, ((char *const *)arr)[i]);
		break;
	case K_U32V:
		arr = put_array(w, f, obj, &n);
		for (i = 0; arr && i < n; i++)
			tlv_put_u32(w, f->tag, ((const uint32_t *)arr)[i]);
		break;
	case K_STRUCT:
		tlv_begin(w, f->tag);
		put_obj(w, f->sub, CAT(obj, f->off, char));
		tlv_end(w);
		break;
	case K_STRUCTV:
		arr = put_array(w, f, obj, &n);
		for (i = 0; arr && i < n; i++) {
			tlv_begin(w, f->tag);
			put_obj(w, f->sub, (const char *)arr + i * f->sub->size);
			tlv_end(w);
		}
		break;
	}
}

static void put_obj(struct tlv_w *w, const struct sdesc *d, const void *obj)
{
	unsigned int i;

	/* The fields first: check() may then rely on what they were checked for (arrays, F_REQ). */
	for (i = 0; i < d->n && !w->err; i++)
		put_one(w, &d->f[i], obj);
	if (!w->err && d->check && d->check(obj))
		w_fail(w, -EINVAL);
}

static void free_obj(const struct sdesc *d, void *obj)
{
	const struct fdesc *f;
	unsigned int i, j, *n;
	char *arr;

	for (i = 0; i < d->n; i++) {
		f = &d->f[i];
		switch ((enum kind)f->kind) {
		case K_STR:
		case K_BYTES:
			free(ptr_get(obj, f->off));
			ptr_set(obj, f->off, NULL);
			if (f->kind == K_BYTES)
				*AT(obj, f->aux, size_t) = 0;
			break;
		case K_STRV:
		case K_U32V:
		case K_STRUCTV:
			arr = ptr_get(obj, f->off);
			n = AT(obj, f->aux, unsigned int);
			for (j = 0; arr && j < *n; j++) {
				if (f->kind == K_STRV)
					free(((char **)(void *)arr)[j]);
				else if (f->kind == K_STRUCTV)
					free_obj(f->sub, arr + j * f->sub->size);
			}
			free(arr);
			ptr_set(obj, f->off, NULL);
			*n = 0;
			break;
		case K_STRUCT:
			free_obj(f->sub, AT(obj, f->off, char));
			break;
		case K_CONST:
		case K_U32:
		case K_I32:
		case K_U64:
		case K_BOOL:
		case K_CHAR:
			break;
		}
	}
}

/*
 * Room for entry n of the array at obj + off: it grows by doubling (its
 * capacity is the next power of two), never past CTR_LIST_MAX entries.
 */
static int grow(void *obj, size_t off, unsigned int n, size_t size)
{
	void *p;

	if (n >= CTR_LIST_MAX)
		return -EINVAL;
	if (n & (n - 1))
		return 0;
	p = reallocarray(ptr_get(obj, off), n ? 2 * (size_t)n : 1, size);
	if (!p)
		return -ENOMEM;
	ptr_set(obj, off, p);
	return 0;
}

static int get_obj(struct tlv_r *r, const struct sdesc *d, void *obj);

static int get_one(const struct tlv_r *val, const struct fdesc *f, void *obj)
{
	unsigned int *n = AT(obj, f->aux, unsigned int);
	struct tlv_r list;
	uint32_t u;
	char *elem;
	int ret;

	switch ((enum kind)f->kind) {
	case K_CONST:
		ret = tlv_u32(val, &u);
		return ret ?: u == f->lo ? 0 : -EINVAL;
	case K_U32:
		ret = tlv_u32(val, &u);
		if (ret || !in_range(f, u))
			return -EINVAL;
		*AT(obj, f->off, uint32_t) = u;
		break;
	case K_I32:
		ret = tlv_u32(val, &u);
		if (ret)
			return ret;
		*AT(obj, f->off, int32_t) = (int32_t)u;
		break;
	case K_U64:
		ret = tlv_u64(val, AT(obj, f->off, uint64_t));
		if (ret)
			return ret;
		break;
	case K_BOOL:
		return tlv_bool(val, AT(obj, f->off, bool));
	case K_CHAR:
		ret = tlv_u32(val, &u);
		if (ret || u > 255)
			return -EINVAL;
		*AT(obj, f->off, char) = (char)u;
		break;
	case K_STR:
		return tlv_str(val, AT(obj, f->off, char *));
	case K_BYTES:
		elem = malloc(val->left ? val->left : 1);
		if (!elem)
			return -ENOMEM;
		if (val->left)
			memcpy(elem, val->p, val->left);
		ptr_set(obj, f->off, elem);
		*AT(obj, f->aux, size_t) = val->left;
		break;
	case K_STRV:
		ret = grow(obj, f->off, *n, sizeof(char *));
		if (ret)
			return ret;
		ret = tlv_str(val, &elem);
		if (ret)
			return ret;
		((char **)ptr_get(obj, f->off))[(*n)++] = elem;
		break;
	case K_U32V:
		ret = tlv_u32(val, &u) ?: grow(obj, f->off, *n, sizeof(uint32_t));
		if (ret)
			return ret;
		((uint32_t *)ptr_get(obj, f->off))[(*n)++] = u;
		break;
	case K_STRUCT:
		ret = tlv_list(val, &list);
		return ret ?: get_obj(&list, f->sub, AT(obj, f->off, char));
	case K_STRUCTV:
		ret = tlv_list(val, &list) ?: grow(obj, f->off, *n, f->sub->size);
		if (ret)
			return ret;
		elem = (char *)ptr_get(obj, f->off) + *n * f->sub->size;
		memset(elem, 0, f->sub->size);
		ret = get_obj(&list, f->sub, elem);
		if (ret)
			return ret;
		(*n)++;
		break;
	}
	return 0;
}

/* Every field of r into obj (zeroed by the caller); on failure what was allocated is freed. */
static int get_obj(struct tlv_r *r, const struct sdesc *d, void *obj)
{
	const struct fdesc *f;
	uint64_t seen = 0;
	struct tlv_r val;
	unsigned int i;
	uint16_t tag;
	int ret;

	while ((ret = tlv_next(r, &tag, &val)) > 0) {
		for (i = 0; i < d->n && d->f[i].tag != tag; i++)
			;
		if (i == d->n)
			continue; /* unknown tags are skipped */
		f = &d->f[i];
		if (!repeated(f) && (seen & (1ull << i))) {
			ret = -EINVAL;
			goto fail;
		}
		seen |= 1ull << i;
		ret = get_one(&val, f, obj);
		if (ret)
			goto fail;
		if (f->flags & F_HAS)
			*AT(obj, f->aux, bool) = true;
	}
	if (ret)
		goto fail;
	for (i = 0; i < d->n; i++) {
		if ((d->f[i].flags & F_REQ) && !(seen & (1ull << i))) {
			ret = -EINVAL;
			goto fail;
		}
	}
	if (d->check && d->check(obj)) {
		ret = -EINVAL;
		goto fail;
	}
	return 0;
fail:
	free_obj(d, obj);
	return ret;
}

/* ---- the public functions ---- */

int ctr_frame_parse_hdr(const uint8_t hdr[CTR_FRAME_HDR], uint16_t *type, uint32_t *len)
{
	uint32_t n = hdr[0] | hdr[1] << 8 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24;
	uint16_t version = (uint16_t)(hdr[6] | hdr[7] << 8);

	if (version != CTR_PROTO_VERSION || n > CTR_FRAME_MAX)
		return -EINVAL;
	*type = (uint16_t)(hdr[4] | hdr[5] << 8);
	*len = n;
	return 0;
}

void ctr_frame_put_hdr(uint8_t hdr[CTR_FRAME_HDR], uint16_t type, uint32_t len)
{
	const uint32_t v[3] = { len, type, CTR_PROTO_VERSION };

	hdr[0] = (uint8_t)v[0];
	hdr[1] = (uint8_t)(v[0] >> 8);
	hdr[2] = (uint8_t)(v[0] >> 16);
	hdr[3] = (uint8_t)(v[0] >> 24);
	hdr[4] = (uint8_t)v[1];
	hdr[5] = (uint8_t)(v[1] >> 8);
	hdr[6] = (uint8_t)v[2];
	hdr[7] = (uint8_t)(v[2] >> 8);
}

int ctr_spec_encode(const struct ctr_spec *s, uint8_t **out, size_t *len)
{
	struct tlv_w w;
	int ret;

	tlv_w_init(&w, CTR_SPEC_MAX);
	put_obj(&w, &spec_d, s);
	ret = tlv_w_finish(&w);
	if (ret) {
		tlv_w_free(&w);
		return ret;
	}
	*out = w.data;
	*len = w.len;
	return 0;
}

int ctr_spec_decode(const void *p, size_t len, struct ctr_spec *s)
{
	struct tlv_r r;
	int ret;

	memset(s, 0, sizeof(*s));
	if (len > CTR_SPEC_MAX)
		return -EINVAL;
	tlv_r_init(&r, p, len);
	ret = get_obj(&r, &spec_d, s);
	if (ret)
		memset(s, 0, sizeof(*s));
	return ret;
}

void ctr_spec_free(struct ctr_spec *s)
{
	free_struct(&spec_d, s);
}

/* A struct of layout d as one list field: the public put, get, copy and free of its parts. */
static void put_struct(struct tlv_w *w, uint16_t tag, const struct sdesc *d, const void *obj)
{
	const struct fdesc f = { tag, K_STRUCT, F_REQ, 0, 0, 0, 0, d };

	put_one(w, &f, obj);
}

static int get_struct(const struct tlv_r *val, const struct sdesc *d, void *obj)
{
	const struct fdesc f = { 0, K_STRUCT, F_REQ, 0, 0, 0, 0, d };

	memset(obj, 0, d->size);
	return get_one(val, &f, obj);
}

/* Through the codec itself: what copies is what the other side would decode. */
static int copy_struct(const struct sdesc *d, const void *src, void *dst)
{
	struct tlv_r r, val;
	struct tlv_w w;
	uint16_t tag;
	int ret;

	memset(dst, 0, d->size);
	tlv_w_init(&w, CTR_SPEC_MAX);
	put_struct(&w, 1, d, src);
	ret = tlv_w_finish(&w);
	if (!ret) {
		tlv_r_init(&r, w.data, w.len);
		ret = tlv_next(&r, &tag, &val) == 1 ? get_struct(&val, d, dst) : -EINVAL;
	}
	tlv_w_free(&w);
	return ret;
}

static void free_struct(const struct sdesc *d, void *obj)
{
	free_obj(d, obj);
	memset(obj, 0, d->size);
}

void ctr_process_put(struct tlv_w *w, uint16_t tag, const struct ctr_process *p)
{
	put_struct(w, tag, &process_d, p);
}

int ctr_process_get(const struct tlv_r *val, struct ctr_process *p)
{
	return get_struct(val, &process_d, p);
}

int ctr_process_copy(struct ctr_process *dst, const struct ctr_process *src)
{
	return copy_struct(&process_d, src, dst);
}

void ctr_process_free(struct ctr_process *p)
{
	free_struct(&process_d, p);
}

void ctr_resources_put(struct tlv_w *w, uint16_t tag, const struct ctr_resources *r)
{
	put_struct(w, tag, &resources_d, r);
}

int ctr_resources_get(const struct tlv_r *val, struct ctr_resources *r)
{
	return get_struct(val, &resources_d, r);
}

int ctr_resources_copy(struct ctr_resources *dst, const struct ctr_resources *src)
{
	return copy_struct(&resources_d, src, dst);
}

void ctr_resources_free(struct ctr_resources *r)
{
	free_struct(&resources_d, r);
}

void ctr_netif_free(struct ctr_netif *n)
{
	free_struct(&netif_d, n);
}

int ctr_msg_encode(const struct ctr_msg_fields *m, uint8_t **out, size_t *len)
{
	const struct sdesc *d = msg_desc(m->type);
	struct tlv_w w;
	uint8_t *frame;
	int ret;

	if (!d)
		return -EINVAL;
	tlv_w_init(&w, CTR_FRAME_MAX);
	put_obj(&w, d, m);
	ret = tlv_w_finish(&w);
	if (ret)
		goto out;
	frame = malloc(CTR_FRAME_HDR + w.len);
	if (!frame) {
		ret = -ENOMEM;
		goto out;
	}
	ctr_frame_put_hdr(frame, m->type, (uint32_t)w.len);
	if (w.len)
		memcpy(frame + CTR_FRAME_HDR, w.data, w.len);
	*out = frame;
	*len = CTR_FRAME_HDR + w.len;
out:
	tlv_w_free(&w);
	return ret;
}

/* The request's seq, for an ERROR answer even when the rest does not decode. */
static void peek_seq(const void *payload, size_t len, struct ctr_msg_fields *m)
{
	struct tlv_r r, val;
	uint16_t tag;

	tlv_r_init(&r, payload, len);
	while (tlv_next(&r, &tag, &val) > 0) {
		if (tag == 1) {
			m->has_seq = !tlv_u32(&val, &m->seq);
			return;
		}
	}
}

int ctr_msg_decode(uint16_t type, const void *payload, size_t len, struct ctr_msg_fields *m)
{
	const struct sdesc *d = msg_desc(type);
	struct ctr_msg_fields keep = { .type = type };
	struct tlv_r r;
	int ret;

	memset(m, 0, sizeof(*m));
	m->type = type;
	if (len > CTR_FRAME_MAX)
		return -EINVAL;
	/* A type this side does not know may be a newer request: its seq lets ERROR answer it. */
	if (!d || d->f[0].tag == 1)
		peek_seq(payload, len, &keep);
	if (!d) {
		ret = -EINVAL;
		goto fail;
	}
	tlv_r_init(&r, payload, len);
	ret = get_obj(&r, d, m);
	if (!ret)
		return 0;
fail:
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->seq = keep.seq;
	m->has_seq = keep.has_seq;
	return ret;
}

void ctr_msg_free(struct ctr_msg_fields *m)
{
	free(m->release);
	free(m->message);
	ctr_process_free(&m->process);
	ctr_resources_free(&m->resources);
	ctr_netif_free(&m->netif);
	memset(m, 0, sizeof(*m));
}
