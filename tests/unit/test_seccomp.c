/* Unit tests for container/seccomp: profiles accepted or refused, and the programs run by a small classic-BPF interpreter. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/fcache.h"
#include "container/oci.h"
#include "container/seccomp.h"

/* Run prog on one syscall as the kernel would (the subset of classic BPF libseccomp emits). */
static uint32_t run(const struct sock_filter *f, size_t n, const struct seccomp_data *d)
{
	uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = { 0 }, w;
	size_t pc = 0, steps = 0;

	while (pc < n) {
		const struct sock_filter *i = &f[pc++];
		uint32_t src = BPF_SRC(i->code) == BPF_X ? x : i->k;

		assert_true(++steps <= n); /* seccomp programs only jump forward */
		switch (i->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			assert_true(i->k % 4 == 0 && i->k + 4 <= sizeof(*d));
			memcpy(&w, (const uint8_t *)d + i->k, 4);
			a = w;
			continue;
		case BPF_LD | BPF_MEM:
			a = mem[i->k % BPF_MEMWORDS];
			continue;
		case BPF_LDX | BPF_MEM:
			x = mem[i->k % BPF_MEMWORDS];
			continue;
		case BPF_ST:
			mem[i->k % BPF_MEMWORDS] = a;
			continue;
		case BPF_STX:
			mem[i->k % BPF_MEMWORDS] = x;
			continue;
		case BPF_MISC | BPF_TAX:
			x = a;
			continue;
		case BPF_MISC | BPF_TXA:
			a = x;
			continue;
		case BPF_RET | BPF_K:
			return i->k;
		case BPF_RET | BPF_A:
			return a;
		case BPF_JMP | BPF_JA:
			pc += i->k;
			continue;
		}
		switch (BPF_CLASS(i->code)) {
		case BPF_ALU:
			switch (BPF_OP(i->code)) {
			case BPF_AND: a &= src; continue;
			case BPF_OR: a |= src; continue;
			case BPF_ADD: a += src; continue;
			case BPF_SUB: a -= src; continue;
			}
			break;
		case BPF_JMP: {
			bool t;

			switch (BPF_OP(i->code)) {
			case BPF_JEQ: t = a == src; break;
			case BPF_JGT: t = a > src; break;
			case BPF_JGE: t = a >= src; break;
			case BPF_JSET: t = (a & src) != 0; break;
			default: fail_msg("jump op %#x", i->code); return 0;
			}
			pc += t ? i->jt : i->jf;
			continue;
		}
		}
		fail_msg("instruction %#x at %zu not interpreted", i->code, pc - 1);
	}
	fail_msg("fell off the program's end");
	return 0;
}

#define DEF "{\"defaultAction\": \"SCMP_ACT_ALLOW\""

struct prog {
	struct sock_filter *f;
	size_t n;
	unsigned int flags; /* what the load takes */
};

static struct prog compile_ok(const char *json)
{
	struct prog p = { 0 };
	char err[512] = "";
	void *buf = NULL;
	size_t len = 0;
	unsigned int flags = 99;
	int ret = ctr_seccomp_compile(json, strlen(json), &buf, &len, &flags, err, sizeof(err));

	if (ret)
		fail_msg("%d %s: %.200s", ret, err, json);
	p.flags = flags;
	assert_true(len && len % sizeof(struct sock_filter) == 0);
	assert_true(len / sizeof(struct sock_filter) <= CTR_SECCOMP_MAX_INSNS);
	p.f = buf;
	p.n = len / sizeof(struct sock_filter);
	return p;
}

static uint32_t call(const struct prog *p, uint32_t arch, int nr, uint64_t a0, uint64_t a1)
{
	struct seccomp_data d = { .nr = nr, .arch = arch, .args = { a0, a1 } };

	return run(p->f, p->n, &d);
}

#define X86_64 AUDIT_ARCH_X86_64

/* x86_64, the second and third arguments given. */
static uint32_t call3(const struct prog *p, int nr, uint64_t a1, uint64_t a2)
{
	struct seccomp_data d = { .nr = nr, .arch = AUDIT_ARCH_X86_64, .args = { 3, a1, a2 } };

	return run(p->f, p->n, &d);
}
#define ERRNO(e) (SECCOMP_RET_ERRNO | (e))

static void test_deny_mkdir(void **state)
{
	struct prog p = compile_ok(
		"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_X86_64\", "
		"\"SCMP_ARCH_X86\", \"SCMP_ARCH_X32\"], \"syscalls\": [{\"names\": [\"mkdir\", "
		"\"mkdirat\"], \"action\": \"SCMP_ACT_ERRNO\"}]}");

	(void)state;
	assert_int_equal(call(&p, X86_64, __NR_mkdir, 0, 0), ERRNO(EPERM));
	assert_int_equal(call(&p, X86_64, __NR_mkdirat, 0, 0), ERRNO(EPERM));
	assert_int_equal(call(&p, X86_64, __NR_getpid, 0, 0), SECCOMP_RET_ALLOW);
	assert_int_equal(call(&p, X86_64, __NR_openat, 0, 0), SECCOMP_RET_ALLOW);
	/* i386's mkdir is 39 (x86_64's dup): the rule follows the architecture. */
	assert_int_equal(call(&p, AUDIT_ARCH_I386, 39, 0, 0), ERRNO(EPERM));
	assert_int_equal(call(&p, AUDIT_ARCH_I386, 20, 0, 0), SECCOMP_RET_ALLOW);
	/* An architecture the profile does not list is killed (libseccomp's bad-arch action). */
	assert_int_equal(call(&p, AUDIT_ARCH_AARCH64, 34, 0, 0) & SECCOMP_RET_ACTION_FULL,
			 SECCOMP_RET_KILL_THREAD);
	free(p.f);
}

/*
 * linux.seccomp.flags as runc passes them to seccomp(2): LOG and SPEC_ALLOW reach the load,
 * TSYNC changes nothing (one thread), none is none; the program is the same either way.
 */
static void test_flags(void **state)
{
	static const struct {
		const char *flags;
		unsigned int want;
	} cases[] = {
		{ "", 0 },
		{ ", \"flags\": []", 0 },
		{ ", \"flags\": [\"SECCOMP_FILTER_FLAG_TSYNC\"]", 0 },
		{ ", \"flags\": [\"SECCOMP_FILTER_FLAG_LOG\"]", SECCOMP_FILTER_FLAG_LOG },
		{ ", \"flags\": [\"SECCOMP_FILTER_FLAG_SPEC_ALLOW\"]", SECCOMP_FILTER_FLAG_SPEC_ALLOW },
		{ ", \"flags\": [\"SECCOMP_FILTER_FLAG_LOG\", \"SECCOMP_FILTER_FLAG_TSYNC\", "
		  "\"SECCOMP_FILTER_FLAG_SPEC_ALLOW\", \"SECCOMP_FILTER_FLAG_LOG\"]",
		  SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW },
	};
	char json[512];
	struct prog p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(json, sizeof(json), DEF "%s, \"syscalls\": [{\"names\": [\"mkdir\"], "
			 "\"action\": \"SCMP_ACT_ERRNO\"}]}", cases[i].flags);
		p = compile_ok(json);
		assert_int_equal(p.flags, cases[i].want);
		assert_int_equal(call(&p, X86_64, __NR_mkdir, 0, 0), ERRNO(EPERM));
		free(p.f);
	}
}

static void test_actions_and_errno(void **state)
{
	struct prog p = compile_ok(
		"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 38, \"syscalls\": ["
		"{\"names\": [\"read\", \"write\", \"not_a_syscall_hull_knows\"], "
		"\"action\": \"SCMP_ACT_ALLOW\", \"errnoRet\": 5},"
		"{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 28},"
		"{\"names\": [\"ptrace\"], \"action\": \"SCMP_ACT_KILL_PROCESS\"},"
		"{\"names\": [\"reboot\"], \"action\": \"SCMP_ACT_KILL\"},"
		"{\"names\": [\"kexec_load\"], \"action\": \"SCMP_ACT_TRAP\"},"
		"{\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_LOG\"},"
		"{\"names\": [\"getppid\"], \"action\": \"SCMP_ACT_TRACE\", \"errnoRet\": 7},"
		"{\"names\": [\"close\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 38}]}");

	(void)state;
	assert_int_equal(call(&p, X86_64, __NR_read, 0, 0), SECCOMP_RET_ALLOW);
	assert_int_equal(call(&p, X86_64, __NR_write, 0, 0), SECCOMP_RET_ALLOW);
	assert_int_equal(call(&p, X86_64, __NR_mkdir, 0, 0), ERRNO(ENOSPC));
	assert_int_equal(call(&p, X86_64, __NR_ptrace, 0, 0), SECCOMP_RET_KILL_PROCESS);
	assert_int_equal(call(&p, X86_64, __NR_reboot, 0, 0), SECCOMP_RET_KILL_THREAD);
	assert_int_equal(call(&p, X86_64, __NR_kexec_load, 0, 0), SECCOMP_RET_TRAP);
	assert_int_equal(call(&p, X86_64, __NR_getpid, 0, 0), SECCOMP_RET_LOG);
	assert_int_equal(call(&p, X86_64, __NR_getppid, 0, 0), SECCOMP_RET_TRACE | 7);
	/* The default's own action on close is left out, as runc does: the default answers. */
	assert_int_equal(call(&p, X86_64, __NR_close, 0, 0), ERRNO(ENOSYS));
	assert_int_equal(call(&p, X86_64, __NR_openat, 0, 0), ERRNO(ENOSYS));
	free(p.f);
}

static void test_args(void **state)
{
	/*
	 * personality(0) or personality(8) allowed (the same argument twice: runc's OR); socket
	 * with domain 1 and type 2 (two arguments: AND); clone without CLONE_NEWUSER (masked).
	 */
	struct prog p = compile_ok(
		"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": ["
		"{\"names\": [\"personality\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": ["
		"{\"index\": 0, \"value\": 0, \"op\": \"SCMP_CMP_EQ\"},"
		"{\"index\": 0, \"value\": 8, \"op\": \"SCMP_CMP_EQ\"}]},"
		"{\"names\": [\"socket\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": ["
		"{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"},"
		"{\"index\": 1, \"value\": 2, \"valueTwo\": 0, \"op\": \"SCMP_CMP_EQ\"}]},"
		"{\"names\": [\"clone\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": ["
		"{\"index\": 0, \"value\": 268435456, \"valueTwo\": 0, \"op\": \"SCMP_CMP_MASKED_EQ\"}]},"
		"{\"names\": [\"lseek\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": ["
		"{\"index\": 2, \"value\": 2, \"op\": \"SCMP_CMP_LE\"}]}]}");

	(void)state;
	assert_int_equal(call(&p, X86_64, __NR_personality, 0, 0), SECCOMP_RET_ALLOW);
	assert_int_equal(call(&p, X86_64, __NR_personality, 8, 0), SECCOMP_RET_ALLOW);
	assert_int_equal(call(&p, X86_64, __NR_personality, 4, 0), ERRNO(EPERM));
	assert_int_equal(call(&p, X86_64, __NR_socket, 1, 2), SECCOMP_RET_ALLOW);
	assert_int_equal(call(&p, X86_64, __NR_socket, 1, 3), ERRNO(EPERM));
	assert_int_equal(call(&p, X86_64, __NR_socket, 2, 2), ERRNO(EPERM));
	assert_int_equal(call(&p, X86_64, __NR_clone, 0x11, 0), SECCOMP_RET_ALLOW);
	assert_int_equal(call(&p, X86_64, __NR_clone, 0x10000011, 0), ERRNO(EPERM));
	/* The upper 32 bits count: a 64-bit value is not truncated. */
	assert_int_equal(call(&p, X86_64, __NR_personality, 1ull << 32, 0), ERRNO(EPERM));
	free(p.f);
}

/* n rules of two compared arguments each: about 6 instructions a rule. */
static char *big_profile(unsigned int n)
{
	size_t cap = 256 + (size_t)n * 192, used;
	char *s = malloc(cap);
	unsigned int i;

	assert_non_null(s);
	used = (size_t)snprintf(s, cap, "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": "
				"[{\"names\": [\"ioctl\"], \"action\": \"SCMP_ACT_ERRNO\", \"args\": "
				"[{\"index\": 1, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}");
	for (i = 0; i < n; i++)
		used += (size_t)snprintf(s + used, cap - used, ",{\"names\": [\"ioctl\"], \"action\":"
					 " \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 1, \"value\": "
					 "%u, \"op\": \"SCMP_CMP_EQ\"}, {\"index\": 2, \"value\": %u, "
					 "\"op\": \"SCMP_CMP_EQ\"}]}", 0x10000 + i * 3, i);
	snprintf(s + used, cap - used, "]}");
	return s;
}

static void refused(const char *json, int err, const char *what)
{
	char msg[512] = "";
	void *buf = (void *)1;
	size_t len = 7;
	unsigned int flags = 0;
	int ret = ctr_seccomp_compile(json, strlen(json), &buf, &len, &flags, msg, sizeof(msg));

	if (ret != err || !strstr(msg, what))
		fail_msg("%d \"%s\", wanted %d \"%s\": %.200s", ret, msg, err, what, json);
	assert_ptr_equal(buf, (void *)1); /* untouched */
}


static void test_refused(void **state)
{
	char *big = big_profile(750); /* 4532 instructions: libseccomp's merging is quadratic */

	(void)state;
	refused("[]", -EINVAL, "linux.seccomp: expected an object");
	refused("{}", -EINVAL, "linux.seccomp.defaultAction: expected a string");
	refused("{\"defaultAction\": \"SCMP_ACT_BLOCK\"}", -EINVAL,
		"linux.seccomp.defaultAction: unknown action SCMP_ACT_BLOCK");
	refused("{\"defaultAction\": \"SCMP_ACT_NOTIFY\"}", -EINVAL, "SCMP_ACT_NOTIFY is not");
	refused("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"defaultErrnoRet\": \"1\"}", -EINVAL,
		"linux.seccomp.defaultErrnoRet");
	refused("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 70000}", -EINVAL,
		"linux.seccomp.defaultErrnoRet");
	refused(DEF ", \"architectures\": [\"SCMP_ARCH_VAX\"]}", -EINVAL,
		"linux.seccomp.architectures[0]: unknown architecture SCMP_ARCH_VAX");
	refused(DEF ", \"architectures\": [\"x86_64\"]}", -EINVAL, "unknown architecture x86_64");
	refused(DEF ", \"architectures\": \"SCMP_ARCH_X86\"}", -EINVAL,
		"linux.seccomp.architectures: expected an array");
	refused(DEF ", \"flags\": [\"SECCOMP_FILTER_FLAG_TSYNC\", "
		"\"SECCOMP_FILTER_FLAG_NEW_LISTENER\"]}", -EINVAL,
		"linux.seccomp.flags[1]: flag SECCOMP_FILTER_FLAG_NEW_LISTENER is not supported");
	refused(DEF ", \"flags\": [\"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV\"]}", -EINVAL,
		"linux.seccomp.flags[0]: flag SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not");
	refused(DEF ", \"flags\": [2]}", -EINVAL, "linux.seccomp.flags[0]: expected a string");
	refused(DEF ", \"listenerPath\": \"/run/agent.sock\"}", -EINVAL, "a listener");
	refused(DEF ", \"syscalls\": [{\"names\": [\"mkdir\"]}]}", -EINVAL,
		"linux.seccomp.syscalls[0].action: expected a string");
	refused(DEF ", \"syscalls\": [{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_DENY\"}]}",
		-EINVAL, "linux.seccomp.syscalls[0].action: unknown action SCMP_ACT_DENY");
	refused(DEF ", \"syscalls\": [{\"action\": \"SCMP_ACT_ERRNO\"}]}", -EINVAL,
		"linux.seccomp.syscalls[0].names: missing");
	refused(DEF ", \"syscalls\": [{\"names\": [1], \"action\": \"SCMP_ACT_ERRNO\"}]}", -EINVAL,
		"linux.seccomp.syscalls[0].names[0]: expected a string");
	refused(DEF ", \"syscalls\": [{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_KILL\", "
		"\"errnoRet\": -1}]}", -EINVAL, "linux.seccomp.syscalls[0].errnoRet");
	refused(DEF ", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ERRNO\", "
		"\"args\": [{\"index\": 6, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}", -EINVAL,
		"linux.seccomp.syscalls[0].args[0].index");
	refused(DEF ", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ERRNO\", "
		"\"args\": [{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_XOR\"}]}]}", -EINVAL,
		"linux.seccomp.syscalls[0].args[0].op: unknown operator SCMP_CMP_XOR");
	refused(DEF ", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ERRNO\", "
		"\"args\": [{\"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}", -EINVAL,
		"linux.seccomp.syscalls[0].args[0].index: missing");
	refused(DEF ", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ERRNO\", "
		"\"args\": [{\"index\": 0, \"value\": -1, \"op\": \"SCMP_CMP_EQ\"}]}]}", -EINVAL,
		"linux.seccomp.syscalls[0].args[0].value");
	refused(big, -E2BIG, "linux.seccomp: the program is");
	refused(big, -E2BIG, "the kernel takes at most 4096");
	free(big);
}

/* Rules are counted over the whole profile: 4097 names in two entries are too many. */
static char *many_names(unsigned int n)
{
	size_t cap = 256 + (size_t)n * 16, used;
	char *s = malloc(cap);
	unsigned int i;

	assert_non_null(s);
	used = (size_t)snprintf(s, cap, DEF ", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
				"\"SCMP_ACT_ERRNO\"}, {\"names\": [\"write\"");
	for (i = 1; i < n; i++)
		used += (size_t)snprintf(s + used, cap - used, ", \"%s\"", i % 2 ? "nosuch" : "open");
	snprintf(s + used, cap - used, "], \"action\": \"SCMP_ACT_ERRNO\"}]}");
	return s;
}

static void test_bounds(void **state)
{
	char *many = many_names(CTR_SECCOMP_MAX_INSNS);
	struct prog p;

	(void)state;
	refused(many, -E2BIG, "linux.seccomp.syscalls: more than 4096 rules");
	free(many);
	many = many_names(CTR_SECCOMP_MAX_INSNS - 1);
	p = compile_ok(many);
	assert_int_equal(call(&p, X86_64, __NR_open, 0, 0), ERRNO(EPERM));
	free(p.f);
	free(many);
	/* A few hundred compared values still fit. */
	many = big_profile(200);
	p = compile_ok(many);
	assert_int_equal(call3(&p, __NR_ioctl, 0x10000 + 3 * 7, 7), ERRNO(EPERM));
	assert_int_equal(call3(&p, __NR_ioctl, 0x10000 + 3 * 7, 8), SECCOMP_RET_ALLOW);
	assert_int_equal(call3(&p, __NR_ioctl, 0x10000 + 3 * 7 + 1, 7), SECCOMP_RET_ALLOW);
	free(p.f);
	free(many);
}

/*
 * Two multi-argument rules for one syscall send libseccomp 2.5.4's rule merging into a loop
 * that never ends (found by fuzz_seccomp): the compile's deadline makes it an error.
 */
static void test_libseccomp_hang(void **state)
{
	char what[128];

	(void)state;
	snprintf(what, sizeof(what), "linux.seccomp: libseccomp did not compile it within %d s of "
		 "CPU time", SECCOMP_COMPILE_SECONDS);
	refused(DEF ", \"syscalls\": [{\"names\": [\"socket\"], \"action\": \"SCMP_ACT_ERRNO\", "
		"\"args\": [{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_NE\"}, {\"index\": 1, "
		"\"value\": 3, \"op\": \"SCMP_CMP_LT\"}]}, {\"names\": [\"socket\"], \"action\": "
		"\"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_NE\"}, "
		"{\"index\": 2, \"value\": 4096, \"op\": \"SCMP_CMP_GE\"}, {\"index\": 3, \"value\": "
		"9, \"op\": \"SCMP_CMP_GT\"}]}]}", -ETIMEDOUT, what);
}

/* The reader: a bundle's linux.seccomp is compiled with it, its errors are the bundle's. */
static void test_bundle(void **state)
{
	static const char head[] = "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"/\"}, "
				   "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", \"user\": "
				   "{\"uid\": 0, \"gid\": 0}}, \"linux\": {\"seccomp\": ";
	char text[1024], err[512] = "";
	struct ctr_bundle b;

	(void)state;
	snprintf(text, sizeof(text), "%s%s}}", head, DEF ", \"syscalls\": [{\"names\": "
		 "[\"mkdir\"], \"action\": \"SCMP_ACT_ERRNO\"}]}");
	assert_int_equal(ctr_oci_parse(text, strlen(text), NULL, NULL, &b, err, sizeof(err)), 0);
	assert_non_null(b.seccomp_prog);
	assert_true(b.seccomp_len >= 8 && b.seccomp_len % 8 == 0);
	assert_int_equal(run(b.seccomp_prog, b.seccomp_len / 8,
			     &(struct seccomp_data){ .nr = __NR_mkdir, .arch = X86_64 }),
			 ERRNO(EPERM));
	assert_int_equal(b.seccomp_flags, 0);
	ctr_bundle_free(&b);
	snprintf(text, sizeof(text), "%s%s}}", head, DEF ", \"flags\": "
		 "[\"SECCOMP_FILTER_FLAG_SPEC_ALLOW\"]}");
	assert_int_equal(ctr_oci_parse(text, strlen(text), NULL, NULL, &b, err, sizeof(err)), 0);
	assert_int_equal(b.seccomp_flags, SECCOMP_FILTER_FLAG_SPEC_ALLOW);
	ctr_bundle_free(&b);
	snprintf(text, sizeof(text), "%s%s}}", head, "{\"defaultAction\": \"SCMP_ACT_PANIC\"}");
	assert_int_equal(ctr_oci_parse(text, strlen(text), NULL, NULL, &b, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "linux.seccomp.defaultAction: unknown action SCMP_ACT_PANIC"));
}

/* The files under dir/seccomp, and the one such file's path in one (when there is one). */
static unsigned int cache_files(const char *dir, char *one, size_t len)
{
	char sub[512];
	struct dirent *e;
	unsigned int n = 0;
	DIR *d;

	snprintf(sub, sizeof(sub), "%s/seccomp", dir);
	d = opendir(sub);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		assert_int_equal(strlen(e->d_name), FCACHE_NAME_LEN);
		assert_memory_equal(e->d_name, "sc-", 3);
		snprintf(one, len, "%s/%s", sub, e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/* What mkdir gets from the program of the bundle in dir, read by ctr_oci_load. */
static uint32_t mkdir_by_load(const char *dir)
{
	char err[512] = "";
	struct ctr_bundle b;
	uint32_t r;

	assert_int_equal(ctr_oci_load(dir, &b, err, sizeof(err)), 0);
	assert_non_null(b.seccomp_prog);
	r = run(b.seccomp_prog, b.seccomp_len / 8,
		&(struct seccomp_data){ .nr = __NR_mkdir, .arch = X86_64 });
	ctr_bundle_free(&b);
	return r;
}

static void write_config(const char *dir, const char *syscall)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/config.json", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"/\"}, \"process\": "
		"{\"args\": [\"sh\"], \"cwd\": \"/\", \"user\": {\"uid\": 0, \"gid\": 0}}, "
		"\"linux\": {\"seccomp\": %s, \"syscalls\": [{\"names\": [\"%s\"], "
		"\"action\": \"SCMP_ACT_ERRNO\"}]}}}", DEF, syscall);
	assert_int_equal(fclose(f), 0);
}

/*
 * ctr_oci_load keeps compiled programs in $HULL_CACHE/seccomp and reads them back for the same
 * profile (a program changed in the file is what the next load gets); a file that is not a
 * good one, or that others may write, is compiled again and replaced; another profile gets a
 * file of its own; a cache that cannot be used is no error; ctr_oci_parse keeps nothing.
 */
static void test_cache(void **state)
{
	char top[] = "/tmp/hull-sccache-XXXXXX", cache[256], file[512], other[512], text[1024];
	char err[512] = "";
	struct sock_filter f;
	struct ctr_bundle b;
	struct stat st;
	uint8_t *img;
	size_t i, n;
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(top));
	snprintf(cache, sizeof(cache), "%s/cache", top);
	assert_int_equal(setenv("HULL_CACHE", cache, 1), 0);
	write_config(top, "mkdir");
	assert_int_equal(mkdir_by_load(top), ERRNO(EPERM));
	assert_int_equal(cache_files(cache, file, sizeof(file)), 1);
	assert_int_equal(mkdir_by_load(top), ERRNO(EPERM));
	assert_int_equal(cache_files(cache, file, sizeof(file)), 1);

	/* The program is the file's last bytes: its EPERM made EACCES there is read back. */
	assert_int_equal(stat(file, &st), 0);
	n = (size_t)st.st_size;
	img = malloc(n);
	assert_non_null(img);
	fp = fopen(file, "r+");
	assert_non_null(fp);
	assert_int_equal(fread(img, 1, n, fp), n);
	for (i = n % 8; i + 8 <= n; i += 8) {
		memcpy(&f, img + i, sizeof(f));
		if (f.code == (BPF_RET | BPF_K) && f.k == ERRNO(EPERM)) {
			f.k = ERRNO(EACCES);
			memcpy(img + i, &f, sizeof(f));
		}
	}
	assert_int_equal(fseek(fp, 0, SEEK_SET), 0);
	assert_int_equal(fwrite(img, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(mkdir_by_load(top), ERRNO(EACCES));
	/* Writable by others: not trusted, compiled again, the file replaced. */
	assert_int_equal(chmod(file, 0666), 0);
	assert_int_equal(mkdir_by_load(top), ERRNO(EPERM));
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	/* Cut short: the same. */
	assert_int_equal(truncate(file, 40), 0);
	assert_int_equal(mkdir_by_load(top), ERRNO(EPERM));
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal((size_t)st.st_size, n);
	free(img);

	/* Another profile, another file; the first one stays. */
	write_config(top, "rmdir");
	assert_int_equal(mkdir_by_load(top), 0x7fff0000u); /* SCMP_ACT_ALLOW */
	assert_int_equal(cache_files(cache, other, sizeof(other)), 2);
	/* ctr_oci_parse keeps nothing. */
	snprintf(text, sizeof(text), "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": "
		 "\"/\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", \"user\": "
		 "{\"uid\": 0, \"gid\": 0}}, \"linux\": {\"seccomp\": %s}}}", DEF);
	assert_int_equal(ctr_oci_parse(text, strlen(text), NULL, NULL, &b, err, sizeof(err)), 0);
	ctr_bundle_free(&b);
	assert_int_equal(cache_files(cache, other, sizeof(other)), 2);
	/* A cache that is a file: compiled, no error. */
	snprintf(file, sizeof(file), "%s/plain", top);
	fp = fopen(file, "w");
	assert_non_null(fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(setenv("HULL_CACHE", file, 1), 0);
	assert_int_equal(mkdir_by_load(top), 0x7fff0000u);
	unsetenv("HULL_CACHE");

	snprintf(text, sizeof(text), "rm -rf '%s'", top);
	assert_int_equal(system(text), 0);
}

/* hull's build id, by which kept programs are keyed: lowercase hex; too small a buffer says so. */
static void test_build_id(void **state)
{
	char id[129], small[8];
	size_t i;

	(void)state;
	assert_int_equal(fcache_build_id(id, sizeof(id)), 0);
	assert_true(strlen(id) >= 16 && strlen(id) % 2 == 0);
	for (i = 0; id[i]; i++)
		assert_non_null(strchr("0123456789abcdef", id[i]));
	assert_int_equal(fcache_build_id(small, sizeof(small)), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deny_mkdir),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_actions_and_errno),
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_libseccomp_hang),
		cmocka_unit_test(test_bundle),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_build_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
