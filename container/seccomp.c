/* seccomp: config.json's linux.seccomp compiled with libseccomp into the classic BPF program hull-init loads. */
#include <ctype.h>
#include <errno.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/fcache.h"
#include "container/oci.h"
#include "container/oci_json.h"
#include "container/seccomp.h"
#include "lib/json.h"
#include "lib/log.h"

/* Rules in all (a name each, or one per comparison where runc splits them): bounds the work. */
#define SECCOMP_RULES_MAX CTR_SECCOMP_MAX_INSNS
/* Entries of linux.seccomp.architectures (libseccomp knows about 20). */
#define SECCOMP_ARCHS_MAX 32
/* The names of skipped syscalls quoted in the warning. */
#define SKIPPED_TEXT 256

struct action {
	const char *name;
	uint32_t act;	  /* with its low 16 bits the errno, where ret */
	bool ret;	  /* takes errnoRet (EPERM when absent, as runc) */
};

static const struct action actions[] = {
	{ "SCMP_ACT_KILL", SCMP_ACT_KILL, false },
	{ "SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false },
	{ "SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false },
	{ "SCMP_ACT_TRAP", SCMP_ACT_TRAP, false },
	{ "SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), true },
	{ "SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), true },
	{ "SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false },
	{ "SCMP_ACT_LOG", SCMP_ACT_LOG, false },
};

static const char *const feature_actions[] = {
	"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
	"SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP", NULL,
};

static const struct {
	const char *name;
	enum scmp_compare op;
} ops[] = {
	{ "SCMP_CMP_NE", SCMP_CMP_NE }, { "SCMP_CMP_LT", SCMP_CMP_LT },
	{ "SCMP_CMP_LE", SCMP_CMP_LE }, { "SCMP_CMP_EQ", SCMP_CMP_EQ },
	{ "SCMP_CMP_GE", SCMP_CMP_GE }, { "SCMP_CMP_GT", SCMP_CMP_GT },
	{ "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
};

static const char *const feature_operators[] = {
	"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
	"SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE", NULL,
};

/* "SCMP_ARCH_" and libseccomp's name in capitals (seccomp_arch_resolve_name's, lower case). */
static const char *const feature_archs[] = {
	"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64",
	"SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
	"SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_RISCV64",
	"SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64",
	NULL,
};

/* One libseccomp rule, read and checked in hull's process, added in the compiling child. */
struct rule {
	uint32_t act;
	int nr;
	unsigned int ncmp;
	struct scmp_arg_cmp cmp[6];
	const char *name;   /* in the JSON, for messages */
	size_t sys, at; /* syscalls[sys].names[at] */
};

struct compile {
	struct oci_ctx *c;
	scmp_filter_ctx ctx;
	uint32_t def; /* the default action, with its errno */
	uint32_t archs[SECCOMP_ARCHS_MAX];
	unsigned int narchs;
	struct rule *rules;
	unsigned int counted, nrules, cap, nskipped; /* counted: unknown names too */
	char skipped[SKIPPED_TEXT];
	unsigned int flags; /* SECCOMP_FILTER_FLAG_* for the load */
};

static int string_of(struct oci_ctx *c, struct json_object *v, const char *where, const char **out)
{
	if (!v || !json_object_is_type(v, json_type_string))
		return oci_fail(c, -EINVAL, "%s: expected a string", where);
	*out = json_object_get_string(v);
	return 0;
}

/* An action by name, with errnoRet (err_v, NULL when absent) where it takes one. */
static int read_action(struct oci_ctx *c, struct json_object *v, struct json_object *err_v,
		       const char *where, const char *err_where, uint32_t *out)
{
	const char *name = "";
	uint32_t e = EPERM;
	size_t i;
	int ret;

	ret = string_of(c, v, where, &name);
	if (ret)
		return ret;
	for (i = 0; i < sizeof(actions) / sizeof(actions[0]) && strcmp(actions[i].name, name); i++)
		;
	if (i == sizeof(actions) / sizeof(actions[0])) {
		if (!strcmp(name, "SCMP_ACT_NOTIFY"))
			return oci_fail(c, -EINVAL, "%s: SCMP_ACT_NOTIFY is not supported (no "
				       "seccomp agent reaches into the VM)", where);
		return oci_fail(c, -EINVAL, "%s: unknown action %.64s", where, name);
	}
	/* Checked with any action; as runc, only SCMP_ACT_ERRNO and SCMP_ACT_TRACE use it. */
	if (err_v && (ret = oci_u32(c, err_v, err_where, 0xffff, &e)))
		return ret;
	*out = actions[i].ret ? actions[i].act | e : actions[i].act;
	return 0;
}

static int read_archs(struct compile *k, struct json_object *v)
{
	char at[64], low[32];
	const char *name = "";
	uint32_t token;
	size_t i, j, n;
	int ret;

	ret = oci_array(k->c, v, "linux.seccomp.architectures", &n);
	if (!ret && n > SECCOMP_ARCHS_MAX)
		return oci_fail(k->c, -E2BIG, "linux.seccomp.architectures: more than %u entries",
				SECCOMP_ARCHS_MAX);
	for (i = 0; !ret && i < n; i++) {
		snprintf(at, sizeof(at), "linux.seccomp.architectures[%zu]", i);
		ret = string_of(k->c, json_object_array_get_idx(v, i), at, &name);
		if (ret)
			return ret;
		token = 0;
		if (!strncmp(name, "SCMP_ARCH_", 10) && strlen(name + 10) < sizeof(low)) {
			for (j = 0; name[10 + j]; j++)
				low[j] = (char)tolower((unsigned char)name[10 + j]);
			low[j] = '\0';
			token = seccomp_arch_resolve_name(low);
		}
		if (!token)
			return oci_fail(k->c, -EINVAL, "%s: unknown architecture %.64s", at, name);
		k->archs[k->narchs++] = token;
	}
	return ret;
}

/*
 * The flags runc passes to seccomp(2) as hull-init does: LOG (the kernel logs every action but
 * ALLOW) and SPEC_ALLOW (no speculative store bypass mitigation forced on the process) go with
 * the program to the guest. TSYNC synchronises the filter over the process's threads: the
 * process is single-threaded when hull-init loads it, so it changes nothing. Any other
 * (NEW_LISTENER, WAIT_KILLABLE_RECV: a listener, which hull has not) is refused.
 */
static const struct {
	const char *name;
	unsigned int flag;
} filter_flags[] = {
	{ "SECCOMP_FILTER_FLAG_TSYNC", 0 },
	{ "SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG },
	{ "SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW },
};

static int read_flags(struct compile *k, struct json_object *v)
{
	const char *name = "";
	char at[64];
	size_t i, j, n;
	int ret;

	ret = oci_array(k->c, v, "linux.seccomp.flags", &n);
	for (i = 0; !ret && i < n; i++) {
		snprintf(at, sizeof(at), "linux.seccomp.flags[%zu]", i);
		ret = string_of(k->c, json_object_array_get_idx(v, i), at, &name);
		for (j = 0; !ret && j < sizeof(filter_flags) / sizeof(filter_flags[0]); j++)
			if (!strcmp(name, filter_flags[j].name))
				break;
		if (!ret && j == sizeof(filter_flags) / sizeof(filter_flags[0]))
			ret = oci_fail(k->c, -EINVAL, "%s: flag %.64s is not supported", at, name);
		if (!ret)
			k->flags |= filter_flags[j].flag;
	}
	return ret;
}

static int read_arg(struct compile *k, struct json_object *a, const char *at,
		    struct scmp_arg_cmp *out)
{
	char where[128];
	const char *op = "";
	uint32_t index;
	uint64_t value = 0, two = 0;
	struct json_object *v;
	size_t i;
	int ret;

	ret = oci_object(k->c, a, at);
	if (ret)
		return ret;
	snprintf(where, sizeof(where), "%s.index", at);
	if (!(v = oci_get(a, "index")))
		return oci_fail(k->c, -EINVAL, "%s: missing", where);
	ret = oci_u32(k->c, v, where, 5, &index);
	if (ret)
		return ret;
	snprintf(where, sizeof(where), "%s.value", at);
	if ((v = oci_get(a, "value")) && (ret = oci_u64(k->c, v, where, &value)))
		return ret;
	snprintf(where, sizeof(where), "%s.valueTwo", at);
	if ((v = oci_get(a, "valueTwo")) && (ret = oci_u64(k->c, v, where, &two)))
		return ret;
	snprintf(where, sizeof(where), "%s.op", at);
	ret = string_of(k->c, oci_get(a, "op"), where, &op);
	if (ret)
		return ret;
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]) && strcmp(ops[i].name, op); i++)
		;
	if (i == sizeof(ops) / sizeof(ops[0]))
		return oci_fail(k->c, -EINVAL, "%s: unknown operator %.64s", where, op);
	*out = (struct scmp_arg_cmp){ index, ops[i].op, value, two };
	return 0;
}

/* A syscall name libseccomp does not know: counted, and quoted in the warning (up to 8). */
static void note_unknown(struct compile *k, const char *name)
{
	size_t used = strlen(k->skipped);

	if (k->nskipped++ < 8 && used + strlen(name) + 3 < sizeof(k->skipped))
		snprintf(k->skipped + used, sizeof(k->skipped) - used, "%s%s", used ? ", " : "",
			 name);
}

/*
 * One rule per name, as runc: the arguments' comparisons together (all must hold), except
 * when two compare the same argument — libseccomp cannot AND those, so runc adds one rule
 * per comparison (any may hold), and so does hull.
 */
static int add_rules(struct compile *k, size_t sys, size_t at, uint32_t act, const char *name,
		     const struct scmp_arg_cmp *cmp, unsigned int ncmp, bool split)
{
	unsigned int i, nrules = split ? ncmp : 1;
	struct rule *r;
	int nr;

	k->counted += nrules;
	if (k->counted > SECCOMP_RULES_MAX)
		return oci_fail(k->c, -E2BIG, "linux.seccomp.syscalls: more than %u rules (a name "
				"each, or a comparison each where runc splits them)", SECCOMP_RULES_MAX);
	nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR) {
		note_unknown(k, name);
		return 0;
	}
	for (i = 0; i < nrules; i++) {
		if (k->nrules == k->cap) {
			r = reallocarray(k->rules, k->cap ? 2 * k->cap : 64, sizeof(*r));
			if (!r)
				return -ENOMEM;
			k->rules = r;
			k->cap = k->cap ? 2 * k->cap : 64;
		}
		r = &k->rules[k->nrules++];
		*r = (struct rule){ act, nr, split ? 1 : ncmp, { { 0 } }, name, sys, at };
		memcpy(r->cmp, split ? cmp + i : cmp, r->ncmp * sizeof(*cmp));
	}
	return 0;
}

static int read_syscall(struct compile *k, struct json_object *s, size_t idx)
{
	struct scmp_arg_cmp cmp[6];
	struct json_object *names, *args;
	char at[64], where[96];
	const char *name = "";
	unsigned int ncmp = 0, seen = 0;
	bool split = false;
	size_t i, n, nargs = 0;
	uint32_t act;
	int ret;

	snprintf(at, sizeof(at), "linux.seccomp.syscalls[%zu]", idx);
	ret = oci_object(k->c, s, at);
	if (ret)
		return ret;
	snprintf(where, sizeof(where), "%s.action", at);
	snprintf(at + strlen(at), sizeof(at) - strlen(at), ".errnoRet");
	ret = read_action(k->c, oci_get(s, "action"), oci_get(s, "errnoRet"), where, at, &act);
	at[strlen(at) - strlen(".errnoRet")] = '\0';
	if (ret)
		return ret;
	if ((args = oci_get(s, "args"))) {
		snprintf(where, sizeof(where), "%s.args", at);
		ret = oci_array(k->c, args, where, &nargs);
		if (ret)
			return ret;
		if (nargs > 6)
			return oci_fail(k->c, -EINVAL, "%s: more than 6 comparisons", where);
	}
	for (i = 0; i < nargs; i++) {
		snprintf(where, sizeof(where), "%s.args[%zu]", at, i);
		ret = read_arg(k, json_object_array_get_idx(args, i), where, &cmp[ncmp]);
		if (ret)
			return ret;
		split |= (seen >> cmp[ncmp].arg) & 1;
		seen |= 1u << cmp[ncmp].arg;
		ncmp++;
	}
	snprintf(where, sizeof(where), "%s.names", at);
	names = oci_get(s, "names");
	if (!names)
		return oci_fail(k->c, -EINVAL, "%s: missing", where);
	ret = oci_array(k->c, names, where, &n);
	if (ret)
		return ret;
	/* As runc: a rule that does what the default does is left out (libseccomp refuses it). */
	if (act == k->def)
		n = 0;
	for (i = 0; i < n; i++) {
		snprintf(where, sizeof(where), "%s.names[%zu]", at, i);
		ret = string_of(k->c, json_object_array_get_idx(names, i), where, &name) ?:
		      add_rules(k, idx, i, act, name, cmp, ncmp, split);
		if (ret)
			return ret;
	}
	return 0;
}

/* The filter as the kernel takes it, read back from a memfd (libseccomp 2.5 exports to fds). */
static int export(struct compile *k, void **prog, size_t *len)
{
	struct stat st;
	void *buf = NULL;
	ssize_t got;
	int fd, ret;

	fd = memfd_create("hull-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return oci_fail(k->c, -errno, "linux.seccomp: memfd: %s", strerror(errno));
	ret = seccomp_export_bpf(k->ctx, fd);
	if (ret) {
		ret = oci_fail(k->c, ret, "linux.seccomp: libseccomp could not generate the "
			       "program: %s", strerror(-ret));
		goto out;
	}
	if (fstat(fd, &st)) {
		ret = oci_fail(k->c, -errno, "linux.seccomp: memfd: %s", strerror(errno));
		goto out;
	}
	if (st.st_size <= 0 || st.st_size % 8 || st.st_size / 8 > CTR_SECCOMP_MAX_INSNS) {
		ret = oci_fail(k->c, -E2BIG, "linux.seccomp: the program is %lld instructions, "
			       "the kernel takes at most %u", (long long)st.st_size / 8,
			       CTR_SECCOMP_MAX_INSNS);
		goto out;
	}
	buf = malloc((size_t)st.st_size);
	ret = buf ? 0 : -ENOMEM;
	if (ret)
		goto out;
	got = pread(fd, buf, (size_t)st.st_size, 0);
	if (got != st.st_size) {
		ret = oci_fail(k->c, got < 0 ? -errno : -EIO, "linux.seccomp: reading the program "
			       "back: %s", got < 0 ? strerror(errno) : "short read");
		goto out;
	}
	*prog = buf;
	*len = (size_t)st.st_size;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return ret;
}

/* In the compiling child: the rules given to libseccomp, the program exported. */
static int build(struct compile *k, void **prog, size_t *len)
{
	const struct rule *r;
	unsigned int i;
	int ret;

	/*
	 * The program runs on the guest's kernel, not this one: API level 3 (LOG and
	 * KILL_PROCESS, kernel 4.14) rather than what libseccomp would probe here.
	 */
	ret = seccomp_api_set(3);
	if (ret)
		return oci_fail(k->c, ret, "linux.seccomp: libseccomp's API level 3: %s",
				strerror(-ret));
	k->ctx = seccomp_init(k->def);
	if (!k->ctx)
		return oci_fail(k->c, -EINVAL, "linux.seccomp.defaultAction: libseccomp refused it");
	for (i = 0; i < k->narchs; i++) {
		ret = seccomp_arch_add(k->ctx, k->archs[i]);
		if (ret && ret != -EEXIST) {
			ret = oci_fail(k->c, ret, "linux.seccomp.architectures[%u]: %s", i,
				       strerror(-ret));
			goto out;
		}
	}
	for (i = 0; i < k->nrules; i++) {
		r = &k->rules[i];
		ret = seccomp_rule_add_array(k->ctx, r->act, r->nr, r->ncmp, r->cmp);
		if (ret) {
			ret = oci_fail(k->c, ret, "linux.seccomp.syscalls[%zu].names[%zu]: %.64s: "
				       "libseccomp refused the rule: %s", r->sys, r->at, r->name,
				       strerror(-ret));
			goto out;
		}
	}
	ret = export(k, prog, len);
out:
	seccomp_release(k->ctx);
	return ret;
}

/* In hull's process: every field read and checked, the rules listed for build(). */
static int parse(struct oci_ctx *c, struct json_object *v, struct compile *k)
{
	struct json_object *f;
	size_t i, n;
	int ret;

	ret = oci_object(c, v, "linux.seccomp") ?:
	      read_action(c, oci_get(v, "defaultAction"), oci_get(v, "defaultErrnoRet"),
			  "linux.seccomp.defaultAction", "linux.seccomp.defaultErrnoRet", &k->def);
	if (ret)
		return ret;
	if (oci_get(v, "listenerPath") || oci_get(v, "listenerMetadata"))
		return oci_fail(c, -EINVAL, "linux.seccomp: a listener is not supported (no "
			       "seccomp agent reaches into the VM)");
	if ((f = oci_get(v, "architectures")) && (ret = read_archs(k, f)))
		return ret;
	if ((f = oci_get(v, "flags")) && (ret = read_flags(k, f)))
		return ret;
	if ((f = oci_get(v, "syscalls"))) {
		ret = oci_array(c, f, "linux.seccomp.syscalls", &n);
		for (i = 0; !ret && i < n; i++)
			ret = read_syscall(k, json_object_array_get_idx(f, i), i);
	}
	return ret;
}

/* What the compiling child sends back: this, then the message, then the program. */
struct reply {
	int32_t ret;
	uint32_t errlen; /* the message's bytes, without NUL */
	uint32_t len;	 /* the program's */
};

static int write_all(int fd, const void *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf = (const uint8_t *)buf + n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len, const struct timespec *end)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct timespec now;
	size_t got = 0;
	ssize_t n;
	long ms;

	while (got < len) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (end->tv_sec - now.tv_sec) * 1000 + (end->tv_nsec - now.tv_nsec) / 1000000;
		if (ms <= 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, (int)ms);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		n = read(fd, (uint8_t *)buf + got, len - got);
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return -errno;
		if (n == 0)
			return -EPIPE;
		got += n > 0 ? (size_t)n : 0;
	}
	return 0;
}

/*
 * Compiled programs are kept in files (ctr_oci_load's runs: create, hull run), since a
 * profile as engines pass it takes libseccomp some 20 ms to compile (podman's default, three
 * architectures) and containers of one engine share it: the key is hull's build (its
 * compiler, libseccomp linked in) and the profile's JSON text. The program does not depend on
 * the host (API level 3, set in build()).
 */
static const struct fcache_kind cache_kind = {
	.magic = "HULLSECC",
	.prefix = "sc",
	.version = 1,
	.payload_max = CTR_SECCOMP_MAX_INSNS * 8,
	.key_max = CTR_CONFIG_MAX + 512,
	.keep = CTR_SECCOMP_CACHE_KEEP,
};

/* The key for profile v: a malloc'd text, or NULL (then nothing is kept; debug log: why). */
static char *cache_key(struct json_object *v, size_t *len)
{
	const struct scmp_version *sv = seccomp_version();
	char id[129], *key = NULL;
	const char *text;
	int ret;

	ret = fcache_build_id(id, sizeof(id));
	if (ret) {
		log_debug("linux.seccomp: not cached: hull's build id: %s", strerror(-ret));
		return NULL;
	}
	text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
	ret = text ? asprintf(&key, "hull seccomp %u\nbuild %s\nlibseccomp %u.%u.%u\n"
			      "profile %zu:%s", cache_kind.version, id, sv->major, sv->minor,
			      sv->micro, strlen(text), text) : -1;
	if (ret < 0)
		return NULL;
	*len = (size_t)ret;
	return key;
}

/* The program kept for key in dir: 0 with it, else -errno (-ENOENT: none kept yet). */
static int cache_load(const char *dir, const char *key, size_t keylen, void **prog,
		      size_t *len)
{
	char name[FCACHE_NAME_LEN + 1];
	const char *why = NULL;
	uint8_t *buf;
	uint32_t aux;
	int fd, ret;

	fd = fcache_open_dir(dir, &why);
	if (fd < 0) {
		log_debug("linux.seccomp: cache %s: %s", dir, why);
		return fd;
	}
	ret = fcache_load(fd, &cache_kind, key, keylen, 0, &buf, len, &aux);
	close(fd);
	if (!ret && (!*len || *len % 8 || aux != *len / 8)) {
		free(buf);
		ret = -EINVAL;
	}
	fcache_name(&cache_kind, key, keylen, name);
	if (ret == -EINVAL)
		log_debug("linux.seccomp: cache %s/%s: not a good file: compiled again", dir, name);
	if (!ret) {
		log_debug("linux.seccomp: the program compiled before, from %s/%s", dir, name);
		*prog = buf;
	}
	return ret;
}

static void cache_store(const char *dir, const char *key, size_t keylen, const void *prog,
			size_t len)
{
	char name[FCACHE_NAME_LEN + 1];
	const char *why = NULL;
	int fd, ret;

	fd = fcache_open_dir(dir, &why);
	if (fd < 0)
		return; /* cache_load said why */
	ret = fcache_store(fd, &cache_kind, key, keylen, prog, len, (uint32_t)(len / 8), name);
	close(fd);
	if (ret)
		log_debug("linux.seccomp: cache %s: cannot write: %s", dir, strerror(-ret));
	else
		log_debug("linux.seccomp: compiled, kept as %s/%s", dir, name);
}

/*
 * libseccomp runs in a child with a deadline: some rule sets send 2.5's rule merging into a
 * loop that does not end (two multi-argument rules for one syscall, found by fuzz_seccomp),
 * and a profile is the user's input. The child writes its answer on a pipe (read as it comes,
 * against the same deadline) and exits.
 */
int oci_seccomp(struct oci_ctx *c, struct json_object *v, void **prog, size_t *len,
		unsigned int *load_flags)
{
	struct compile k = { .c = c };
	const struct scmp_version *sv;
	struct timespec end;
	struct reply r = { 0, 0, 0 };
	void *buf = NULL;
	char *key = NULL;
	size_t keylen = 0;
	int p[2] = { -1, -1 }, ret, st;
	pid_t pid;

	ret = parse(c, v, &k);
	if (ret)
		goto out;
	key = c->seccomp_cache ? cache_key(v, &keylen) : NULL;
	if (key && !cache_load(c->seccomp_cache, key, keylen, &buf, len)) {
		r.len = (uint32_t)*len;
		goto compiled;
	}
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK)) {
		ret = oci_fail(c, -errno, "linux.seccomp: pipe: %s", strerror(errno));
		goto out;
	}
	fcntl(p[1], F_SETFL, 0);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		ret = oci_fail(c, -errno, "linux.seccomp: fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		goto out;
	}
	if (pid == 0) {
		struct rlimit cpu = { SECCOMP_COMPILE_SECONDS, SECCOMP_COMPILE_SECONDS };

		/* At the (equal) hard limit the kernel sends SIGKILL, whatever the signal mask. */
		setrlimit(RLIMIT_CPU, &cpu);
		close(p[0]);
		c->err[0] = '\0';
		r.ret = build(&k, &buf, len);
		r.errlen = (uint32_t)strnlen(c->err, c->errlen - 1);
		r.len = r.ret ? 0 : (uint32_t)*len;
		if (write_all(p[1], &r, sizeof(r)) || write_all(p[1], c->err, r.errlen) ||
		    write_all(p[1], buf, r.len))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += SECCOMP_COMPILE_WALL_SECONDS;
	ret = read_all(p[0], &r, sizeof(r), &end);
	if (!ret && r.errlen >= c->errlen)
		ret = -EPROTO;
	if (!ret)
		ret = read_all(p[0], c->err, r.errlen, &end);
	if (!ret)
		c->err[r.errlen] = '\0';
	if (!ret && !r.ret && (!r.len || r.len % 8 || r.len / 8 > CTR_SECCOMP_MAX_INSNS))
		ret = -EPROTO;
	if (!ret && !r.ret) {
		buf = malloc(r.len);
		ret = buf ? read_all(p[0], buf, r.len, &end) : -ENOMEM;
	}
	close(p[0]);
	if (ret)
		kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	/* The end of the pipe, the child killed at its CPU limit: its time ran out. */
	if (ret == -EPIPE && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
		ret = -ETIMEDOUT;
	if (ret == -ETIMEDOUT)
		ret = oci_fail(c, -ETIMEDOUT, "linux.seccomp: libseccomp did not compile it within "
			       "%d s of CPU time (%d s in all; a rule set its rule merging never ends "
			       "on)", SECCOMP_COMPILE_SECONDS, SECCOMP_COMPILE_WALL_SECONDS);
	else if (ret)
		ret = oci_fail(c, ret, "linux.seccomp: the compiling process: %s", strerror(-ret));
	else if ((ret = r.ret) < 0 && !c->err[0])
		ret = oci_fail(c, ret, "linux.seccomp: %s", strerror(-ret));
	if (ret) {
		free(buf);
		ret = ret < 0 ? ret : -EPROTO;
		goto out;
	}
	if (key)
		cache_store(c->seccomp_cache, key, keylen, buf, r.len);
compiled:
	*prog = buf;
	*len = r.len;
	*load_flags = k.flags;
	if (k.nskipped) {
		sv = seccomp_version();
		log_msg("warning: linux.seccomp: syscalls libseccomp %u.%u.%u does not know, "
			"skipped as runc does (%u): %s%s", sv->major, sv->minor, sv->micro,
			k.nskipped, k.skipped, k.nskipped > 8 ? ", ..." : "");
	}
out:
	free(key);
	free(k.rules);
	return ret;
}

static struct json_object *names(const char *const *v)
{
	struct json_object *a = json_object_new_array();

	for (; a && *v; v++)
		json_object_array_add(a, json_object_new_string(*v));
	return a;
}

struct json_object *ctr_seccomp_features(void)
{
	static const char *const known[] = { "SECCOMP_FILTER_FLAG_TSYNC",
					     "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
					     "SECCOMP_FILTER_FLAG_LOG", NULL };
	static const char *const supported[] = { "SECCOMP_FILTER_FLAG_TSYNC",
						 "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
						 "SECCOMP_FILTER_FLAG_LOG", NULL };
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "enabled", json_object_new_boolean(true));
	json_object_object_add(o, "actions", names(feature_actions));
	json_object_object_add(o, "operators", names(feature_operators));
	json_object_object_add(o, "archs", names(feature_archs));
	json_object_object_add(o, "knownFlags", names(known));
	json_object_object_add(o, "supportedFlags", names(supported));
	return o;
}

int ctr_seccomp_compile(const char *text, size_t len, void **prog, size_t *prog_len,
			unsigned int *flags, char *err, size_t errlen)
{
	struct oci_ctx c = { .err = err, .errlen = errlen };
	struct json_object *root;
	int ret;

	ret = json_parse_strict(text, len, CTR_CONFIG_MAX, &root, err, errlen);
	if (ret)
		return ret;
	ret = oci_seccomp(&c, root, prog, prog_len, flags);
	json_object_put(root);
	return ret;
}
