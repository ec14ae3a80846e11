/* Unit tests for the agent protocol codec: frames, every message, the full spec, and malformed input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "container/proto.h"

/* ---- helpers ---- */

static char *dup_s(const char *s)
{
	char *d = strdup(s);

	assert_non_null(d);
	return d;
}

static char **strv(unsigned int n, ...)
{
	char **v = calloc(n, sizeof(*v));
	unsigned int i;
	va_list ap;

	assert_non_null(v);
	va_start(ap, n);
	for (i = 0; i < n; i++)
		v[i] = dup_s(va_arg(ap, const char *));
	va_end(ap);
	return v;
}

static void full_process(struct ctr_process *p)
{
	memset(p, 0, sizeof(*p));
	p->args = strv(3, "/bin/sh", "-c", ""); /* an empty argument travels too */
	p->nargs = 3;
	p->env = strv(2, "PATH=/bin", "EMPTY=");
	p->nenv = 2;
	p->cwd = dup_s("/work dir");
	p->uid = 1000;
	p->gid = 100;
	p->gids = calloc(2, sizeof(uint32_t));
	assert_non_null(p->gids);
	p->gids[0] = 10;
	p->gids[1] = UINT32_MAX - 1;
	p->ngids = 2;
	p->umask = 022;
	p->has_umask = true;
	p->terminal = true;
	p->caps[CTR_CAP_BOUNDING] = UINT64_MAX;
	p->caps[CTR_CAP_EFFECTIVE] = 1ull << 21;
	p->caps[CTR_CAP_PERMITTED] = 1ull << 21 | 1;
	p->caps[CTR_CAP_INHERITABLE] = 0;
	p->caps[CTR_CAP_AMBIENT] = 1ull << 40;
	p->no_new_privs = true;
	p->rlimits = calloc(2, sizeof(*p->rlimits));
	assert_non_null(p->rlimits);
	p->rlimits[0] = (struct ctr_rlimit){ RLIMIT_NOFILE, 1024, 4096 };
	p->rlimits[1] = (struct ctr_rlimit){ RLIMIT_CORE, 0, UINT64_MAX };
	p->nrlimits = 2;
	p->oom_score_adj = -1000;
	p->has_oom_score_adj = true;
}

static void full_resources(struct ctr_resources *r)
{
	*r = (struct ctr_resources){
		.cpu_quota = 50000, .cpu_period = 100000, .cpu_weight = 0,
		.cpuset_cpus = dup_s("0-1,3"), .cpuset_mems = dup_s("0"),
		.mem_max = 256ull << 20, .swap_max = 0, .mem_low = 1 << 20, .pids_max = 100,
		.has_cpu_quota = true, .has_cpu_period = true, .has_cpu_weight = true,
		.has_mem_max = true, .has_swap_max = true, .has_mem_low = true, .has_pids_max = true,
	};
}

/* A spec with every field set, each entry list with two entries at least. */
static void full_spec(struct ctr_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->hostname = dup_s("box");
	s->domainname = dup_s("example.org");
	s->root_tag = dup_s("rootfs");
	s->root_ro = true;
	full_process(&s->process);
	s->mounts = calloc(3, sizeof(*s->mounts));
	assert_non_null(s->mounts);
	s->mounts[0] = (struct ctr_mount){ dup_s("/proc"), dup_s("proc"), dup_s("proc"),
					   MS_NOSUID | MS_NOEXEC, NULL, 0 };
	s->mounts[1] = (struct ctr_mount){ dup_s("/data"), dup_s("bind"), dup_s("m0"),
					   MS_BIND | MS_REC | MS_RDONLY, NULL,
					   MS_PRIVATE | MS_REC };
	s->mounts[2] = (struct ctr_mount){ dup_s("/tmp"), dup_s("tmpfs"), dup_s("tmpfs"), 0,
					   dup_s("size=64m,mode=1777"), MS_SHARED };
	s->nmounts = 3;
	s->sysctls = strv(2, "net.ipv4.ip_forward=1", "kernel.msgmax=");
	s->nsysctls = 2;
	s->masked = strv(2, "/proc/kcore", "/sys/firmware");
	s->nmasked = 2;
	s->readonly = strv(1, "/proc/sys");
	s->nreadonly = 1;
	s->devices = calloc(2, sizeof(*s->devices));
	assert_non_null(s->devices);
	s->devices[0] = (struct ctr_device){ dup_s("/dev/fuse"), 'c', 10, 229, 0666, 0, 0, NULL };
	s->devices[1] = (struct ctr_device){ dup_s("/dev/xvdb"), 'b', 8, 16, 0660, 5, 6,
					     dup_s("/dev/vda") };
	s->ndevices = 2;
	s->privileged = true;
	s->mounts_tag = dup_s("mounts");
	full_resources(&s->resources);
	s->modules = strv(2, "virtio_mmio.ko", "fuse.ko.xz");
	s->nmodules = 2;
	s->cgroup = dup_s("/hull/c1");
	s->seccomp = calloc(2, 8);
	assert_non_null(s->seccomp);
	memset(s->seccomp, 0xa5, 16);
	s->seccomp_len = 16;
	s->seccomp_flags = CTR_SECCOMP_FLAGS;
	s->netifs = calloc(1, sizeof(*s->netifs));
	assert_non_null(s->netifs);
	s->netifs[0] = (struct ctr_netif){ .name = dup_s("eth0"), .mac = dup_s("02:00:00:00:00:01"),
					   .gateway = dup_s("10.0.0.1"),
					   .addrs = strv(2, "10.0.0.2/24", "fd00::2/64"),
					   .naddrs = 2, .mtu = 1500,
					   .addrs6 = strv(2, "fd77::5/64", "2001:db8::1:2/128"),
					   .naddrs6 = 2, .gateway6 = dup_s("fe80::1") };
	s->nnetifs = 1;
}

static void encode_spec(const struct ctr_spec *s, uint8_t **out, size_t *len)
{
	int ret = ctr_spec_encode(s, out, len);

	if (ret)
		fail_msg("ctr_spec_encode: %d", ret);
}

/* Encode s, decode it, encode that: the two encodings are the same bytes. */
static void spec_round_trip(const struct ctr_spec *s, struct ctr_spec *back)
{
	uint8_t *a, *b;
	size_t alen, blen;

	encode_spec(s, &a, &alen);
	assert_int_equal(ctr_spec_decode(a, alen, back), 0);
	encode_spec(back, &b, &blen);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	free(a);
	free(b);
}

static void test_spec_round_trip(void **state)
{
	struct ctr_spec s, t;

	(void)state;
	full_spec(&s);
	spec_round_trip(&s, &t);
	assert_string_equal(t.hostname, "box");
	assert_string_equal(t.domainname, "example.org");
	assert_string_equal(t.root_tag, "rootfs");
	assert_true(t.root_ro);
	assert_int_equal(t.process.nargs, 3);
	assert_string_equal(t.process.args[0], "/bin/sh");
	assert_string_equal(t.process.args[2], "");
	assert_string_equal(t.process.env[1], "EMPTY=");
	assert_string_equal(t.process.cwd, "/work dir");
	assert_int_equal(t.process.uid, 1000);
	assert_int_equal(t.process.gid, 100);
	assert_int_equal(t.process.ngids, 2);
	assert_int_equal(t.process.gids[1], UINT32_MAX - 1);
	assert_true(t.process.has_umask);
	assert_int_equal(t.process.umask, 022);
	assert_true(t.process.terminal);
	assert_true(t.process.caps[CTR_CAP_BOUNDING] == UINT64_MAX);
	assert_true(t.process.caps[CTR_CAP_AMBIENT] == 1ull << 40);
	assert_true(t.process.caps[CTR_CAP_INHERITABLE] == 0);
	assert_true(t.process.no_new_privs);
	assert_int_equal(t.process.nrlimits, 2);
	assert_int_equal(t.process.rlimits[1].resource, RLIMIT_CORE);
	assert_true(t.process.rlimits[1].hard == UINT64_MAX);
	assert_true(t.process.has_oom_score_adj);
	assert_int_equal(t.process.oom_score_adj, -1000);
	assert_int_equal(t.nmounts, 3);
	assert_string_equal(t.mounts[1].source, "m0");
	assert_true(t.mounts[1].flags == (MS_BIND | MS_REC | MS_RDONLY));
	assert_int_equal(t.mounts[1].propagation, MS_PRIVATE | MS_REC);
	assert_null(t.mounts[1].data);
	assert_string_equal(t.mounts[2].data, "size=64m,mode=1777");
	assert_int_equal(t.nsysctls, 2);
	assert_int_equal(t.nmasked, 2);
	assert_int_equal(t.nreadonly, 1);
	assert_int_equal(t.ndevices, 2);
	assert_int_equal(t.devices[1].type, 'b');
	assert_int_equal(t.devices[1].minor, 16);
	assert_int_equal(t.devices[1].gid, 6);
	assert_string_equal(t.devices[1].guest_source, "/dev/vda");
	assert_null(t.devices[0].guest_source);
	assert_true(t.privileged);
	assert_string_equal(t.mounts_tag, "mounts");
	assert_true(t.resources.has_cpu_weight && t.resources.cpu_weight == 0);
	assert_true(t.resources.has_swap_max && t.resources.swap_max == 0);
	assert_string_equal(t.resources.cpuset_cpus, "0-1,3");
	assert_int_equal(t.resources.pids_max, 100);
	assert_int_equal(t.nmodules, 2);
	assert_string_equal(t.cgroup, "/hull/c1");
	assert_int_equal(t.seccomp_len, 16);
	assert_memory_equal(t.seccomp, s.seccomp, 16);
	assert_int_equal(t.seccomp_flags, CTR_SECCOMP_FLAGS);
	assert_int_equal(t.nnetifs, 1);
	assert_int_equal(t.netifs[0].naddrs, 2);
	assert_int_equal(t.netifs[0].mtu, 1500);
	assert_int_equal(t.netifs[0].naddrs6, 2);
	assert_string_equal(t.netifs[0].addrs6[0], "fd77::5/64");
	assert_string_equal(t.netifs[0].addrs6[1], "2001:db8::1:2/128");
	assert_string_equal(t.netifs[0].gateway6, "fe80::1");
	ctr_spec_free(&s);
	ctr_spec_free(&t);
	ctr_spec_free(&t); /* twice is fine: free leaves it zeroed */
}

/* The least a spec may be: version, root, a process with args, cwd, uid and gid. */
static void min_spec(struct ctr_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->root_tag = dup_s("rootfs");
	s->process.args = strv(1, "true");
	s->process.nargs = 1;
	s->process.cwd = dup_s("/");
}

static void test_spec_minimal(void **state)
{
	struct ctr_spec s, t;

	(void)state;
	min_spec(&s);
	spec_round_trip(&s, &t);
	assert_null(t.hostname);
	assert_false(t.root_ro);
	assert_false(t.process.has_umask);
	assert_false(t.process.has_oom_score_adj);
	assert_false(t.resources.has_mem_max);
	assert_null(t.mounts);
	assert_null(t.seccomp);
	assert_int_equal(t.process.uid, 0);
	ctr_spec_free(&s);
	ctr_spec_free(&t);
}

/* What the decoder refuses, the encoder refuses too (so hull cannot send it). */
static void expect_refused(struct ctr_spec *s, const char *what)
{
	uint8_t *out = NULL;
	size_t len;
	int ret = ctr_spec_encode(s, &out, &len);

	if (ret != -EINVAL)
		fail_msg("%s: ctr_spec_encode = %d, want -EINVAL", what, ret);
	assert_null(out);
	ctr_spec_free(s);
}

static void test_spec_checks(void **state)
{
	struct ctr_spec s;

	(void)state;
#define REFUSED(change)                \
	do {                           \
		full_spec(&s);         \
		change;                \
		expect_refused(&s, #change); \
	} while (0)
	REFUSED((free(s.process.cwd), s.process.cwd = dup_s("relative")));
	REFUSED((free(s.process.cwd), s.process.cwd = NULL));
	REFUSED((free(s.process.cwd), s.process.cwd = dup_s("/a/../b")));
	REFUSED((free(s.process.cwd), s.process.cwd = dup_s("/a/..")));
	REFUSED((free(s.process.args[0]), free(s.process.args[1]), free(s.process.args[2]),
		 s.process.nargs = 0));
	REFUSED((free(s.process.env[0]), s.process.env[0] = dup_s("NOEQUALS")));
	REFUSED((free(s.process.env[0]), s.process.env[0] = dup_s("=v")));
	REFUSED(s.process.umask = 01000);
	REFUSED(s.process.oom_score_adj = 1001);
	REFUSED(s.process.oom_score_adj = -1001);
	REFUSED(s.process.rlimits[1].resource = RLIMIT_NOFILE);
	REFUSED(s.process.rlimits[1].resource = RLIMIT_NLIMITS);
	REFUSED(s.process.rlimits[0].soft = 4097);
	REFUSED((free(s.mounts[0].dest), s.mounts[0].dest = dup_s("proc")));
	REFUSED((free(s.mounts[0].dest), s.mounts[0].dest = dup_s("/x/../../etc")));
	REFUSED((free(s.mounts[0].type), s.mounts[0].type = dup_s("")));
	REFUSED((free(s.mounts[1].source), s.mounts[1].source = dup_s("../m0")));
	REFUSED((free(s.mounts[1].source), s.mounts[1].source = NULL));
	REFUSED((free(s.mounts_tag), s.mounts_tag = NULL));
	REFUSED((free(s.mounts_tag), s.mounts_tag = dup_s("")));
	REFUSED(s.mounts[2].propagation = MS_SHARED | MS_PRIVATE);
	REFUSED(s.mounts[2].propagation = MS_REC);
	REFUSED(s.mounts[2].propagation = MS_BIND);
	REFUSED(s.devices[0].type = 'x');
	REFUSED(s.devices[0].mode = 010000);
	REFUSED((free(s.devices[0].path), s.devices[0].path = dup_s("dev/fuse")));
	REFUSED((free(s.devices[1].guest_source), s.devices[1].guest_source = dup_s("vda")));
	REFUSED((free(s.masked[1]), s.masked[1] = dup_s("sys")));
	REFUSED((free(s.readonly[0]), s.readonly[0] = dup_s("/proc/../sys")));
	REFUSED((free(s.sysctls[0]), s.sysctls[0] = dup_s("=1")));
	REFUSED((free(s.modules[0]), s.modules[0] = dup_s("../fuse.ko")));
	REFUSED((free(s.modules[0]), s.modules[0] = dup_s("..")));
	REFUSED((free(s.cgroup), s.cgroup = dup_s("hull")));
	REFUSED((free(s.cgroup), s.cgroup = dup_s("/hull/../..")));
	REFUSED((free(s.hostname), s.hostname = dup_s("0123456789012345678901234567890123456789"
						       "0123456789012345678901234")));
	REFUSED(s.seccomp_len = 7);
	REFUSED(s.seccomp_len = 0);
	REFUSED((free(s.seccomp), s.seccomp = calloc(4097, 8), s.seccomp_len = 4097 * 8));
	/* seccomp(2)'s other flags (TSYNC, NEW_LISTENER...), and flags without a program. */
	REFUSED(s.seccomp_flags = 1);
	REFUSED(s.seccomp_flags = 8);
	REFUSED((free(s.seccomp), s.seccomp = NULL, s.seccomp_len = 0));
	REFUSED((free(s.resources.cpuset_cpus), s.resources.cpuset_cpus = dup_s("0\n1")));
	REFUSED((free(s.netifs[0].name), s.netifs[0].name = dup_s("a-very-long-name")));
	/* IPv6 addresses: not IPv6 text, no prefix, a prefix out of 0..128 or not decimal. */
#define BAD_ADDR6(text) REFUSED((free(s.netifs[0].addrs6[1]), s.netifs[0].addrs6[1] = dup_s(text)))
	BAD_ADDR6("10.0.0.2/24");
	BAD_ADDR6("fd77::5");
	BAD_ADDR6("fd77::5/");
	BAD_ADDR6("fd77::5/129");
	BAD_ADDR6("fd77::5/0129");
	BAD_ADDR6("fd77::5/64 ");
	BAD_ADDR6("fd77::5/+64");
	BAD_ADDR6("fd77:::5/64");
	BAD_ADDR6("/64");
	BAD_ADDR6("fd77:0000:0000:0000:0000:0000:0000:0000:0005/64");
#undef BAD_ADDR6
	REFUSED((free(s.netifs[0].gateway6), s.netifs[0].gateway6 = dup_s("10.0.0.1")));
	REFUSED((free(s.netifs[0].gateway6), s.netifs[0].gateway6 = dup_s("fe80::1/64")));
	REFUSED((free(s.netifs[0].gateway6), s.netifs[0].gateway6 = dup_s("")));
	REFUSED((free(s.root_tag), s.root_tag = dup_s("")));
	REFUSED((free(s.root_tag), s.root_tag = NULL));
	REFUSED((free(s.process.args[1]), s.process.args[1] = NULL));
#undef REFUSED
	/* An array missing behind its count. */
	full_spec(&s);
	{
		struct ctr_mount *keep = s.mounts;
		uint8_t *out = NULL;
		size_t len;

		s.mounts = NULL;
		assert_int_equal(ctr_spec_encode(&s, &out, &len), -EINVAL);
		s.mounts = keep;
	}
	ctr_spec_free(&s);
	/* The longest hostname is fine. */
	full_spec(&s);
	free(s.hostname);
	s.hostname = dup_s("0123456789012345678901234567890123456789012345678901234567890123");
	{
		uint8_t *out;
		size_t len;

		encode_spec(&s, &out, &len);
		free(out);
	}
	ctr_spec_free(&s);
}

/* Too large a spec, too many entries: -E2BIG before anything reaches a guest. */
static void test_spec_limits(void **state)
{
	struct ctr_spec s;
	uint8_t *out = NULL;
	char *big;
	size_t len;
	unsigned int i;

	(void)state;
	min_spec(&s);
	free(s.process.args[0]);
	free(s.process.args);
	s.process.args = calloc(CTR_LIST_MAX + 1, sizeof(char *));
	assert_non_null(s.process.args);
	for (i = 0; i <= CTR_LIST_MAX; i++)
		s.process.args[i] = dup_s("a");
	s.process.nargs = CTR_LIST_MAX + 1;
	assert_int_equal(ctr_spec_encode(&s, &out, &len), -E2BIG);
	s.process.nargs = CTR_LIST_MAX;
	encode_spec(&s, &out, &len);
	free(out);
	s.process.nargs = CTR_LIST_MAX + 1;
	ctr_spec_free(&s);

	min_spec(&s);
	big = malloc(TLV_STR_MAX + 1);
	assert_non_null(big);
	memset(big, 'x', TLV_STR_MAX);
	big[TLV_STR_MAX] = '\0';
	big[0] = 'K';
	big[1] = '=';
	s.process.env = calloc(17, sizeof(char *));
	assert_non_null(s.process.env);
	for (i = 0; i < 17; i++)
		s.process.env[i] = dup_s(big);
	s.process.nenv = 15; /* 15 x 64 KiB: under 1 MiB */
	encode_spec(&s, &out, &len);
	assert_true(len < CTR_SPEC_MAX);
	free(out);
	s.process.nenv = 17;
	out = NULL;
	assert_int_equal(ctr_spec_encode(&s, &out, &len), -E2BIG);
	assert_null(out);
	free(big);
	ctr_spec_free(&s);
}

/* ---- decoding hostile specs ---- */

/* A hand-built spec payload: version (0: none), root, process, then what the test adds. */
static void raw_begin(struct tlv_w *w, uint32_t version, bool root, bool process)
{
	tlv_w_init(w, 4u << 20);
	if (version)
		tlv_put_u32(w, CTR_SPEC_VER, version);
	if (root) {
		tlv_begin(w, CTR_SPEC_ROOT);
		tlv_put_str(w, CTR_ROOT_TAG, "rootfs");
		tlv_end(w);
	}
	if (process) {
		tlv_begin(w, CTR_SPEC_PROCESS);
		tlv_put_str(w, CTR_PROC_ARG, "sh");
		tlv_put_str(w, CTR_PROC_CWD, "/");
		tlv_put_u32(w, CTR_PROC_UID, 0);
		tlv_put_u32(w, CTR_PROC_GID, 0);
		tlv_end(w);
	}
}

static int raw_decode(struct tlv_w *w)
{
	struct ctr_spec s;
	int ret;

	assert_int_equal(tlv_w_finish(w), 0);
	ret = ctr_spec_decode(w->data, w->len, &s);
	if (ret) {
		/* A failed decode leaves nothing behind: the struct is zero. */
		static const struct ctr_spec zero;

		assert_memory_equal(&s, &zero, sizeof(s));
	}
	ctr_spec_free(&s);
	tlv_w_free(w);
	return ret;
}

static void test_spec_decode_required(void **state)
{
	struct tlv_w w;

	(void)state;
	raw_begin(&w, CTR_SPEC_VERSION, true, true);
	assert_int_equal(raw_decode(&w), 0);
	raw_begin(&w, 0, true, true);
	assert_int_equal(raw_decode(&w), -EINVAL);
	raw_begin(&w, CTR_SPEC_VERSION, false, true);
	assert_int_equal(raw_decode(&w), -EINVAL);
	raw_begin(&w, CTR_SPEC_VERSION, true, false);
	assert_int_equal(raw_decode(&w), -EINVAL);
	/* A process without uid (or gid, or args, or cwd). */
	for (uint16_t drop = CTR_PROC_ARG; drop <= CTR_PROC_GID; drop++) {
		if (drop == CTR_PROC_ENV)
			continue;
		raw_begin(&w, CTR_SPEC_VERSION, true, false);
		tlv_begin(&w, CTR_SPEC_PROCESS);
		if (drop != CTR_PROC_ARG)
			tlv_put_str(&w, CTR_PROC_ARG, "sh");
		if (drop != CTR_PROC_CWD)
			tlv_put_str(&w, CTR_PROC_CWD, "/");
		if (drop != CTR_PROC_UID)
			tlv_put_u32(&w, CTR_PROC_UID, 0);
		if (drop != CTR_PROC_GID)
			tlv_put_u32(&w, CTR_PROC_GID, 0);
		tlv_end(&w);
		if (raw_decode(&w) != -EINVAL)
			fail_msg("a process without field %u decoded", drop);
	}
	/* A mount without its type; a device without its type. */
	raw_begin(&w, CTR_SPEC_VERSION, true, true);
	tlv_begin(&w, CTR_SPEC_MOUNT);
	tlv_put_str(&w, CTR_MNT_DEST, "/x");
	tlv_end(&w);
	assert_int_equal(raw_decode(&w), -EINVAL);
	raw_begin(&w, CTR_SPEC_VERSION, true, true);
	tlv_begin(&w, CTR_SPEC_DEVICE);
	tlv_put_str(&w, CTR_DEV_PATH, "/dev/x");
	tlv_end(&w);
	assert_int_equal(raw_decode(&w), -EINVAL);
	/* An rlimit without its hard limit. */
	raw_begin(&w, CTR_SPEC_VERSION, true, false);
	tlv_begin(&w, CTR_SPEC_PROCESS);
	tlv_put_str(&w, CTR_PROC_ARG, "sh");
	tlv_put_str(&w, CTR_PROC_CWD, "/");
	tlv_put_u32(&w, CTR_PROC_UID, 0);
	tlv_put_u32(&w, CTR_PROC_GID, 0);
	tlv_begin(&w, CTR_PROC_RLIMIT);
	tlv_put_u32(&w, CTR_RLIM_RESOURCE, RLIMIT_NOFILE);
	tlv_put_u64(&w, CTR_RLIM_SOFT, 1);
	tlv_end(&w);
	tlv_end(&w);
	assert_int_equal(raw_decode(&w), -EINVAL);
}

static void test_spec_decode_malformed(void **state)
{
	struct tlv_w w;
	unsigned int i;

	(void)state;
	/* Wrong version. */
	raw_begin(&w, CTR_SPEC_VERSION + 1, true, true);
	assert_int_equal(raw_decode(&w), -EINVAL);
	/* Wrong field sizes: a u64 version, a 2-byte bool, a u32 flags field. */
	tlv_w_init(&w, 4096);
	tlv_put_u64(&w, CTR_SPEC_VER, CTR_SPEC_VERSION);
	assert_int_equal(raw_decode(&w), -EINVAL);
	raw_begin(&w, CTR_SPEC_VERSION, true, true);
	tlv_put_bytes(&w, CTR_SPEC_PRIVILEGED, "\1\0", 2);
	assert_int_equal(raw_decode(&w), -EINVAL);
	raw_begin(&w, CTR_SPEC_VERSION, true, true);
	tlv_put_bytes(&w, CTR_SPEC_PRIVILEGED, "\2", 1);
	assert_int_equal(raw_decode(&w), -EINVAL);
	raw_begin(&w, CTR_SPEC_VERSION, true, true);
	tlv_begin(&w, CTR_SPEC_MOUNT);
	tlv_put_str(&w, CTR_MNT_DEST, "/x");
	tlv_put_str(&w, CTR_MNT_TYPE, "tmpfs");
	tlv_put_u32(&w, CTR_MNT_FLAGS, 1);
	tlv_end(&w);
	assert_int_equal(raw_decode(&w), -EINVAL);
	/* A device type past a char. */
	raw_begin(&w, CTR_SPEC_VERSION, true, true);
	tlv_begin(&w, CTR_SPEC_DEVICE);
	tlv_put_str(&w, CTR_DEV_PATH, "/dev/x");
	tlv_put_u32(&w, CTR_DEV_TYPE, 'c' + 256);
	tlv_end(&w);
	assert_int_equal(raw_decode(&w), -EINVAL);
	/* A NUL inside a string. */
	raw_begin(&w, CTR_SPEC_VERSION, true, true);
	tlv_put_bytes(&w, CTR_SPEC_HOSTNAME, "ab\0c", 4);
	assert_int_equal(raw_decode(&w), -EINVAL);
	/* A field that is not repeated, given twice. */
	raw_begin(&w, CTR_SPEC_VERSION, true, true);
	tlv_put_str(&w, CTR_SPEC_HOSTNAME, "a");
	tlv_put_str(&w, CTR_SPEC_HOSTNAME, "b");
	assert_int_equal(raw_decode(&w), -EINVAL);
	raw_begin(&w, CTR_SPEC_VERSION, true, true);
	tlv_begin(&w, CTR_SPEC_ROOT);
	tlv_put_str(&w, CTR_ROOT_TAG, "again");
	tlv_end(&w);
	assert_int_equal(raw_decode(&w), -EINVAL);
	/* A list field that is not a list (a string where the root list belongs). */
	raw_begin(&w, CTR_SPEC_VERSION, false, true);
	tlv_put_str(&w, CTR_SPEC_ROOT, "rootfs");
	assert_int_equal(raw_decode(&w), -EINVAL);
	/* A list whose length runs past the payload's end. */
	raw_begin(&w, CTR_SPEC_VERSION, true, true);
	tlv_begin(&w, CTR_SPEC_MOUNT);
	tlv_end(&w);
	assert_int_equal(tlv_w_finish(&w), 0);
	w.data[w.len - 4] = 1; /* the mount list claims one byte more than there is */
	{
		struct ctr_spec s;

		assert_int_equal(ctr_spec_decode(w.data, w.len, &s), -EINVAL);
	}
	tlv_w_free(&w);
	/* Too many entries: CTR_LIST_MAX masked paths decode, one more does not. */
	raw_begin(&w, CTR_SPEC_VERSION, true, true);
	for (i = 0; i < CTR_LIST_MAX; i++)
		tlv_put_str(&w, CTR_SPEC_MASKED, "/m");
	assert_int_equal(raw_decode(&w), 0);
	raw_begin(&w, CTR_SPEC_VERSION, true, true);
	for (i = 0; i <= CTR_LIST_MAX; i++)
		tlv_put_str(&w, CTR_SPEC_MASKED, "/m");
	assert_int_equal(raw_decode(&w), -EINVAL);
	/* Too many mounts, each a list allocating its strings. */
	raw_begin(&w, CTR_SPEC_VERSION, true, true);
	for (i = 0; i <= CTR_LIST_MAX; i++) {
		tlv_begin(&w, CTR_SPEC_MOUNT);
		tlv_put_str(&w, CTR_MNT_DEST, "/m");
		tlv_put_str(&w, CTR_MNT_TYPE, "tmpfs");
		tlv_end(&w);
	}
	assert_int_equal(raw_decode(&w), -EINVAL);
	/* Larger than CTR_SPEC_MAX, however well formed. */
	raw_begin(&w, CTR_SPEC_VERSION, true, true);
	tlv_put_bytes(&w, 999, NULL, 0);
	assert_int_equal(tlv_w_finish(&w), 0);
	{
		uint8_t *big = calloc(1, CTR_SPEC_MAX + 1);
		struct ctr_spec s;

		assert_non_null(big);
		memcpy(big, w.data, w.len);
		/* padding made of empty unknown fields (tag 0, length 0) */
		assert_int_equal(ctr_spec_decode(big, CTR_SPEC_MAX - (CTR_SPEC_MAX - w.len) % 6, &s), 0);
		ctr_spec_free(&s);
		assert_int_equal(ctr_spec_decode(big, CTR_SPEC_MAX + 1, &s), -EINVAL);
		free(big);
	}
	tlv_w_free(&w);
}

/* Unknown tags are skipped wherever they are, whatever they hold. */
static void test_spec_unknown_tags(void **state)
{
	struct tlv_w w;
	unsigned int i;

	(void)state;
	raw_begin(&w, 0, false, false);
	tlv_put_u32(&w, 1000, 5);
	tlv_put_u32(&w, CTR_SPEC_VER, CTR_SPEC_VERSION);
	tlv_begin(&w, 0xffff);
	for (i = 0; i < TLV_DEPTH_MAX - 1; i++)
		tlv_begin(&w, 1);
	for (i = 0; i < TLV_DEPTH_MAX - 1; i++)
		tlv_end(&w);
	tlv_end(&w);
	tlv_begin(&w, CTR_SPEC_ROOT);
	tlv_put_str(&w, 77, "x");
	tlv_put_str(&w, CTR_ROOT_TAG, "rootfs");
	tlv_end(&w);
	tlv_begin(&w, CTR_SPEC_PROCESS);
	tlv_put_bytes(&w, 200, "\0\0\0", 3);
	tlv_put_str(&w, CTR_PROC_ARG, "sh");
	tlv_put_str(&w, CTR_PROC_CWD, "/");
	tlv_put_u32(&w, CTR_PROC_UID, 0);
	tlv_put_u32(&w, CTR_PROC_GID, 0);
	tlv_end(&w);
	assert_int_equal(raw_decode(&w), 0);
}

/* Every prefix and every single-byte change of a full spec: decoded or refused, never more. */
static void test_spec_mutations(void **state)
{
	struct ctr_spec s, t;
	uint8_t *enc, *again;
	size_t len, alen, i;
	unsigned int bit;

	(void)state;
	full_spec(&s);
	encode_spec(&s, &enc, &len);
	ctr_spec_free(&s);
	for (i = 0; i < len; i++) {
		int ret = ctr_spec_decode(enc, i, &t);

		assert_true(ret == 0 || ret == -EINVAL);
		ctr_spec_free(&t);
	}
	for (i = 0; i < len; i++) {
		for (bit = 0; bit < 8; bit++) {
			enc[i] ^= (uint8_t)(1u << bit);
			if (ctr_spec_decode(enc, len, &t) == 0) {
				/* What decodes, encodes, and decodes to the same again. */
				encode_spec(&t, &again, &alen);
				ctr_spec_free(&t);
				assert_int_equal(ctr_spec_decode(again, alen, &t), 0);
				spec_round_trip(&t, &s);
				ctr_spec_free(&s);
				free(again);
			}
			ctr_spec_free(&t);
			enc[i] ^= (uint8_t)(1u << bit);
		}
	}
	free(enc);
}

/* ---- frames and messages ---- */

static void test_frame_header(void **state)
{
	uint8_t hdr[CTR_FRAME_HDR];
	uint16_t type;
	uint32_t len;

	(void)state;
	ctr_frame_put_hdr(hdr, CTR_MSG_EXEC, 0x01020304 & (CTR_FRAME_MAX - 1));
	assert_int_equal(hdr[6], CTR_PROTO_VERSION);
	assert_int_equal(hdr[7], 0);
	assert_int_equal(hdr[4], CTR_MSG_EXEC);
	assert_int_equal(ctr_frame_parse_hdr(hdr, &type, &len), 0);
	assert_int_equal(type, CTR_MSG_EXEC);
	assert_int_equal(len, 0x01020304 & (CTR_FRAME_MAX - 1));
	ctr_frame_put_hdr(hdr, 0xabcd, CTR_FRAME_MAX);
	assert_int_equal(ctr_frame_parse_hdr(hdr, &type, &len), 0);
	assert_int_equal(type, 0xabcd); /* the type is the message decoder's business */
	assert_int_equal(len, CTR_FRAME_MAX);
	ctr_frame_put_hdr(hdr, 1, CTR_FRAME_MAX + 1);
	assert_int_equal(ctr_frame_parse_hdr(hdr, &type, &len), -EINVAL);
	ctr_frame_put_hdr(hdr, 1, UINT32_MAX);
	assert_int_equal(ctr_frame_parse_hdr(hdr, &type, &len), -EINVAL);
	ctr_frame_put_hdr(hdr, 1, 10);
	hdr[6] = CTR_PROTO_VERSION + 1;
	assert_int_equal(ctr_frame_parse_hdr(hdr, &type, &len), -EINVAL);
	hdr[6] = CTR_PROTO_VERSION;
	hdr[7] = 1;
	assert_int_equal(ctr_frame_parse_hdr(hdr, &type, &len), -EINVAL);
}

/* Encode m, check the frame header, decode the payload into back. */
static void msg_round_trip(const struct ctr_msg_fields *m, struct ctr_msg_fields *back)
{
	uint8_t *frame, *again;
	size_t len, alen;
	uint16_t type;
	uint32_t plen;
	int ret = ctr_msg_encode(m, &frame, &len);

	if (ret)
		fail_msg("ctr_msg_encode(type %u) = %d", m->type, ret);
	assert_int_equal(ctr_frame_parse_hdr(frame, &type, &plen), 0);
	assert_int_equal(type, m->type);
	assert_int_equal(plen + CTR_FRAME_HDR, len);
	assert_int_equal(ctr_msg_decode(type, frame + CTR_FRAME_HDR, plen, back), 0);
	assert_int_equal(ctr_msg_encode(back, &again, &alen), 0);
	assert_int_equal(alen, len);
	assert_memory_equal(again, frame, len);
	free(again);
	free(frame);
}

static void test_messages(void **state)
{
	struct ctr_msg_fields m, b;

	(void)state;
	m = (struct ctr_msg_fields){ .type = CTR_MSG_HELLO, .cpus = 4, .memory = 1ull << 33,
				     .release = dup_s("6.1.0-28-cloud-amd64"), .version = 1 };
	msg_round_trip(&m, &b);
	assert_int_equal(b.cpus, 4);
	assert_true(b.memory == 1ull << 33);
	assert_string_equal(b.release, "6.1.0-28-cloud-amd64");
	assert_int_equal(b.version, 1);
	assert_false(b.has_seq);
	ctr_msg_free(&m);
	ctr_msg_free(&b);

	m = (struct ctr_msg_fields){ .type = CTR_MSG_START, .seq = 7 };
	msg_round_trip(&m, &b);
	assert_true(b.has_seq);
	assert_int_equal(b.seq, 7);
	ctr_msg_free(&b);
	/* START with the interface hull adopted at start (docker's veth), as the spec has one. */
	m = (struct ctr_msg_fields){ .type = CTR_MSG_START, .seq = 7, .has_netif = true };
	m.netif = (struct ctr_netif){ .name = dup_s("eth0"), .gateway = dup_s("10.78.0.1"),
				      .mtu = 1450, .naddrs = 2 };
	m.netif.addrs = calloc(2, sizeof(char *));
	assert_non_null(m.netif.addrs);
	m.netif.addrs[0] = dup_s("10.78.0.2/24");
	m.netif.addrs[1] = dup_s("10.78.1.2/16");
	msg_round_trip(&m, &b);
	assert_true(b.has_netif);
	assert_string_equal(b.netif.name, "eth0");
	assert_int_equal(b.netif.naddrs, 2);
	assert_string_equal(b.netif.addrs[1], "10.78.1.2/16");
	assert_string_equal(b.netif.gateway, "10.78.0.1");
	assert_int_equal(b.netif.mtu, 1450);
	assert_null(b.netif.mac);
	assert_int_equal(b.netif.naddrs6, 0);
	assert_null(b.netif.gateway6);
	ctr_msg_free(&m);
	ctr_msg_free(&b);
	/* And its IPv6 addresses (a prefix of 0 and of 128 included) and IPv6 gateway. */
	m = (struct ctr_msg_fields){ .type = CTR_MSG_START, .seq = 7, .has_netif = true };
	m.netif = (struct ctr_netif){ .name = dup_s("eth0"), .gateway6 = dup_s("fd78::1"),
				      .addrs6 = strv(3, "fd78::2/64", "::/0", "fd78::9/128"),
				      .naddrs6 = 3 };
	msg_round_trip(&m, &b);
	assert_true(b.has_netif);
	assert_int_equal(b.netif.naddrs, 0);
	assert_int_equal(b.netif.naddrs6, 3);
	assert_string_equal(b.netif.addrs6[0], "fd78::2/64");
	assert_string_equal(b.netif.addrs6[1], "::/0");
	assert_string_equal(b.netif.addrs6[2], "fd78::9/128");
	assert_string_equal(b.netif.gateway6, "fd78::1");
	ctr_msg_free(&m);
	ctr_msg_free(&b);
	m = (struct ctr_msg_fields){ .type = CTR_MSG_START, .seq = 7 };
	msg_round_trip(&m, &b);
	assert_false(b.has_netif);
	assert_null(b.netif.name);
	ctr_msg_free(&b);

	m = (struct ctr_msg_fields){ .type = CTR_MSG_EXEC, .seq = 8, .id = 3, .has_process = true };
	full_process(&m.process);
	msg_round_trip(&m, &b);
	assert_int_equal(b.id, 3);
	assert_true(b.has_process);
	assert_string_equal(b.process.args[0], "/bin/sh");
	assert_int_equal(b.process.uid, 1000);
	ctr_msg_free(&m);
	ctr_msg_free(&b);

	m = (struct ctr_msg_fields){ .type = CTR_MSG_SIGNAL, .seq = 9, .id = 0, .signal = 15,
				     .all = true };
	msg_round_trip(&m, &b);
	assert_int_equal(b.signal, 15);
	assert_true(b.all);
	ctr_msg_free(&b);

	m = (struct ctr_msg_fields){ .type = CTR_MSG_EXITED, .id = 2, .kind = 1, .code = 9 };
	msg_round_trip(&m, &b);
	assert_int_equal(b.id, 2);
	assert_int_equal(b.kind, 1);
	assert_int_equal(b.code, 9);
	ctr_msg_free(&b);
	m = (struct ctr_msg_fields){ .type = CTR_MSG_EXITED, .kind = 0, .code = 255 };
	msg_round_trip(&m, &b);
	assert_int_equal(b.code, 255);
	ctr_msg_free(&b);

	m = (struct ctr_msg_fields){ .type = CTR_MSG_STDIN_CLOSE, .seq = 10, .id = 1 };
	msg_round_trip(&m, &b);
	assert_int_equal(b.id, 1);
	ctr_msg_free(&b);

	m = (struct ctr_msg_fields){ .type = CTR_MSG_WINSIZE, .seq = 11, .rows = 50, .cols = 65535 };
	msg_round_trip(&m, &b);
	assert_int_equal(b.rows, 50);
	assert_int_equal(b.cols, 65535);
	ctr_msg_free(&b);

	m = (struct ctr_msg_fields){ .type = CTR_MSG_UPDATE, .seq = 12, .has_resources = true };
	full_resources(&m.resources);
	msg_round_trip(&m, &b);
	assert_true(b.has_resources);
	assert_true(b.resources.has_mem_max);
	assert_true(b.resources.mem_max == 256ull << 20);
	assert_string_equal(b.resources.cpuset_cpus, "0-1,3");
	ctr_msg_free(&m);
	ctr_msg_free(&b);
	/* An empty update (no limit changed) is still an update. */
	m = (struct ctr_msg_fields){ .type = CTR_MSG_UPDATE, .seq = 12, .has_resources = true };
	msg_round_trip(&m, &b);
	assert_true(b.has_resources);
	assert_false(b.resources.has_mem_max);
	ctr_msg_free(&b);

	m = (struct ctr_msg_fields){ .type = CTR_MSG_OK, .seq = 13, .pid = 42 };
	msg_round_trip(&m, &b);
	assert_int_equal(b.pid, 42);
	ctr_msg_free(&b);
	m = (struct ctr_msg_fields){ .type = CTR_MSG_OK, .seq = 14 };
	msg_round_trip(&m, &b);
	assert_int_equal(b.pid, 0);
	ctr_msg_free(&b);

	m = (struct ctr_msg_fields){ .type = CTR_MSG_ERROR, .seq = 15, .err = ENOENT,
				     .message = dup_s("no such thing") };
	msg_round_trip(&m, &b);
	assert_int_equal(b.err, ENOENT);
	assert_string_equal(b.message, "no such thing");
	ctr_msg_free(&m);
	ctr_msg_free(&b);
	m = (struct ctr_msg_fields){ .type = CTR_MSG_ERROR, .seq = 15, .err = EIO };
	msg_round_trip(&m, &b);
	assert_null(b.message);
	ctr_msg_free(&b);

	m = (struct ctr_msg_fields){ .type = CTR_MSG_STREAM, .id = 4, .stream = CTR_TTY };
	msg_round_trip(&m, &b);
	assert_int_equal(b.stream, CTR_TTY);
	ctr_msg_free(&b);
}

/* What a message's encoder refuses: out of range values, missing parts. */
static void test_message_encode_refused(void **state)
{
	static char rel[] = "x";
	static const struct ctr_msg_fields bad[] = {
		{ .type = 0 },
		{ .type = CTR_MSG_STREAM + 1 },
		{ .type = CTR_MSG_HELLO, .cpus = 0, .release = rel },
		{ .type = CTR_MSG_HELLO, .cpus = 1 }, /* no release */
		{ .type = CTR_MSG_EXEC, .id = 0, .has_process = true },
		{ .type = CTR_MSG_EXEC, .id = 1 }, /* no process */
		{ .type = CTR_MSG_SIGNAL, .signal = 0 },
		{ .type = CTR_MSG_SIGNAL, .signal = 65 },
		{ .type = CTR_MSG_EXITED, .kind = 2 },
		{ .type = CTR_MSG_EXITED, .kind = 0, .code = 256 },
		{ .type = CTR_MSG_EXITED, .kind = 1, .code = 0 },
		{ .type = CTR_MSG_EXITED, .kind = 1, .code = 65 },
		{ .type = CTR_MSG_WINSIZE, .rows = 65536 },
		{ .type = CTR_MSG_STREAM, .stream = 4 },
		{ .type = CTR_MSG_START, .has_netif = true }, /* an interface without a name */
	};
	uint8_t *out;
	size_t len, i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		out = NULL;
		if (ctr_msg_encode(&bad[i], &out, &len) != -EINVAL)
			fail_msg("bad message %zu (type %u) encoded", i, bad[i].type);
		assert_null(out);
	}
}

/* A payload built field by field, decoded as type. */
static int decode_raw(uint16_t type, struct tlv_w *w, struct ctr_msg_fields *m)
{
	int ret;

	assert_int_equal(tlv_w_finish(w), 0);
	ret = ctr_msg_decode(type, w->data, w->len, m);
	tlv_w_free(w);
	return ret;
}

/* Each required field of each message, left out in turn: refused, with seq kept. */
static void test_message_required(void **state)
{
	static const struct {
		uint16_t type;
		uint8_t ntags;
		uint16_t tags[4];
	} req[] = {
		{ CTR_MSG_HELLO, 4, { 2, 3, 4, 5 } },	 { CTR_MSG_START, 1, { 1 } },
		{ CTR_MSG_EXEC, 3, { 1, 2, 3 } },	 { CTR_MSG_SIGNAL, 3, { 1, 2, 3 } },
		{ CTR_MSG_EXITED, 3, { 2, 3, 4 } },	 { CTR_MSG_STDIN_CLOSE, 2, { 1, 2 } },
		{ CTR_MSG_WINSIZE, 4, { 1, 2, 3, 4 } }, { CTR_MSG_UPDATE, 2, { 1, 2 } },
		{ CTR_MSG_OK, 1, { 1 } },		 { CTR_MSG_ERROR, 2, { 1, 2 } },
		{ CTR_MSG_STREAM, 2, { 2, 3 } },
	};
	struct ctr_msg_fields m;
	struct ctr_process p;
	struct tlv_w w;
	unsigned int i, j, k;

	(void)state;
	full_process(&p);
	for (i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
		for (j = 0; j <= req[i].ntags; j++) { /* j == ntags: nothing left out */
			tlv_w_init(&w, CTR_FRAME_MAX);
			for (k = 0; k < req[i].ntags; k++) {
				uint16_t tag = req[i].tags[k];

				if (k == j)
					continue;
				if (req[i].type == CTR_MSG_EXEC && tag == 3) {
					ctr_process_put(&w, tag, &p);
				} else if (req[i].type == CTR_MSG_UPDATE && tag == 2) {
					tlv_begin(&w, tag);
					tlv_end(&w);
				} else if (req[i].type == CTR_MSG_HELLO && tag == 3) {
					tlv_put_u64(&w, tag, 1 << 30);
				} else if (req[i].type == CTR_MSG_HELLO && tag == 4) {
					tlv_put_str(&w, tag, "6.1");
				} else {
					tlv_put_u32(&w, tag, tag == 1 ? 77 : 1);
				}
			}
			if (decode_raw(req[i].type, &w, &m) != (j == req[i].ntags ? 0 : -EINVAL))
				fail_msg("type %u without tag %u", req[i].type,
					 j < req[i].ntags ? req[i].tags[j] : 0);
			if (req[i].tags[0] == 1 && j != 0) {
				assert_true(m.has_seq);
				assert_int_equal(m.seq, 77);
			}
			assert_int_equal(m.type, req[i].type);
			ctr_msg_free(&m);
		}
	}
	ctr_process_free(&p);
}

static void test_message_malformed(void **state)
{
	struct ctr_msg_fields m;
	struct tlv_w w;

	(void)state;
	/* Unknown type: refused, its seq kept for an ERROR answer. */
	tlv_w_init(&w, 64);
	tlv_put_u32(&w, 1, 5);
	assert_int_equal(decode_raw(99, &w, &m), -EINVAL);
	assert_int_equal(m.type, 99);
	assert_true(m.has_seq);
	assert_int_equal(m.seq, 5);
	/* A type without seq (HELLO) never reports one. */
	tlv_w_init(&w, 64);
	tlv_put_u32(&w, 1, 5);
	assert_int_equal(decode_raw(CTR_MSG_HELLO, &w, &m), -EINVAL);
	assert_false(m.has_seq);
	/* A seq of the wrong size: refused, and no seq to answer with. */
	tlv_w_init(&w, 64);
	tlv_put_u64(&w, 1, 5);
	assert_int_equal(decode_raw(CTR_MSG_START, &w, &m), -EINVAL);
	assert_false(m.has_seq);
	/* A malformed process in EXEC: refused, seq kept, nothing leaked. */
	tlv_w_init(&w, 256);
	tlv_put_u32(&w, 1, 9);
	tlv_put_u32(&w, 2, 1);
	tlv_begin(&w, 3);
	tlv_put_str(&w, CTR_PROC_ARG, "sh");
	tlv_put_str(&w, CTR_PROC_ENV, "A=1");
	tlv_put_str(&w, CTR_PROC_CWD, "relative");
	tlv_put_u32(&w, CTR_PROC_UID, 0);
	tlv_put_u32(&w, CTR_PROC_GID, 0);
	tlv_end(&w);
	assert_int_equal(decode_raw(CTR_MSG_EXEC, &w, &m), -EINVAL);
	assert_true(m.has_seq);
	assert_int_equal(m.seq, 9);
	assert_false(m.has_process);
	assert_null(m.process.args);
	ctr_msg_free(&m);
	/* START's interface without a name, or a name that is a path: refused, nothing leaked. */
	tlv_w_init(&w, 256);
	tlv_put_u32(&w, 1, 10);
	tlv_begin(&w, 2);
	tlv_put_str(&w, CTR_NET_ADDR, "10.78.0.2/24");
	tlv_end(&w);
	assert_int_equal(decode_raw(CTR_MSG_START, &w, &m), -EINVAL);
	assert_int_equal(m.seq, 10);
	assert_false(m.has_netif);
	tlv_w_init(&w, 256);
	tlv_put_u32(&w, 1, 11);
	tlv_begin(&w, 2);
	tlv_put_str(&w, CTR_NET_NAME, "../eth0");
	tlv_put_str(&w, CTR_NET_GATEWAY, "10.78.0.1");
	tlv_end(&w);
	assert_int_equal(decode_raw(CTR_MSG_START, &w, &m), -EINVAL);
	assert_int_equal(m.seq, 11);
	assert_null(m.netif.gateway);
	/* An IPv6 address out of range, or an IPv6 gateway that is not IPv6: refused. */
	tlv_w_init(&w, 256);
	tlv_put_u32(&w, 1, 12);
	tlv_begin(&w, 2);
	tlv_put_str(&w, CTR_NET_NAME, "eth0");
	tlv_put_str(&w, CTR_NET_ADDR6, "fd78::2/200");
	tlv_end(&w);
	assert_int_equal(decode_raw(CTR_MSG_START, &w, &m), -EINVAL);
	assert_int_equal(m.seq, 12);
	assert_false(m.has_netif);
	assert_null(m.netif.addrs6);
	tlv_w_init(&w, 256);
	tlv_put_u32(&w, 1, 13);
	tlv_begin(&w, 2);
	tlv_put_str(&w, CTR_NET_NAME, "eth0");
	tlv_put_str(&w, CTR_NET_GATEWAY6, "10.78.0.1");
	tlv_end(&w);
	assert_int_equal(decode_raw(CTR_MSG_START, &w, &m), -EINVAL);
	assert_int_equal(m.seq, 13);
	assert_null(m.netif.gateway6);
	/* A truncated payload. */
	tlv_w_init(&w, 64);
	tlv_put_u32(&w, 1, 5);
	assert_int_equal(tlv_w_finish(&w), 0);
	assert_int_equal(ctr_msg_decode(CTR_MSG_START, w.data, w.len - 1, &m), -EINVAL);
	tlv_w_free(&w);
	/* A field given twice. */
	tlv_w_init(&w, 64);
	tlv_put_u32(&w, 1, 5);
	tlv_put_u32(&w, 1, 6);
	assert_int_equal(decode_raw(CTR_MSG_START, &w, &m), -EINVAL);
	assert_int_equal(m.seq, 5);
	/* HELLO's release with a NUL; ERROR's message too long to be a string. */
	tlv_w_init(&w, 64);
	tlv_put_u32(&w, 2, 1);
	tlv_put_u64(&w, 3, 1);
	tlv_put_bytes(&w, 4, "6.1\0", 4);
	tlv_put_u32(&w, 5, 1);
	assert_int_equal(decode_raw(CTR_MSG_HELLO, &w, &m), -EINVAL);
	tlv_w_init(&w, 1 << 20);
	tlv_put_u32(&w, 1, 5);
	tlv_put_u32(&w, 2, 5);
	{
		char *big = calloc(1, TLV_STR_MAX + 1);

		assert_non_null(big);
		memset(big, 'e', TLV_STR_MAX + 1);
		tlv_put_bytes(&w, 3, big, TLV_STR_MAX + 1);
		free(big);
	}
	assert_int_equal(decode_raw(CTR_MSG_ERROR, &w, &m), -EINVAL);
	assert_int_equal(m.seq, 5);
	/* A payload past CTR_FRAME_MAX. */
	assert_int_equal(ctr_msg_decode(CTR_MSG_START, "", CTR_FRAME_MAX + 1, &m), -EINVAL);
	/* Unknown fields are skipped. */
	tlv_w_init(&w, 64);
	tlv_put_str(&w, 40, "future");
	tlv_put_u32(&w, 1, 5);
	tlv_put_u32(&w, 2, 3);
	tlv_put_u32(&w, 3, 15);
	tlv_put_u64(&w, 5, 0);
	assert_int_equal(decode_raw(CTR_MSG_SIGNAL, &w, &m), 0);
	assert_int_equal(m.signal, 15);
	assert_false(m.all);
	ctr_msg_free(&m);
}

/* ctr_process_put/get alone, as EXEC's field uses them, inside a caller's own payload. */
static void test_process_alone(void **state)
{
	struct ctr_process p, q;
	struct tlv_r r, val;
	struct tlv_w w;
	uint16_t tag;

	(void)state;
	full_process(&p);
	tlv_w_init(&w, 1 << 16);
	ctr_process_put(&w, 9, &p);
	assert_int_equal(tlv_w_finish(&w), 0);
	tlv_r_init(&r, w.data, w.len);
	assert_int_equal(tlv_next(&r, &tag, &val), 1);
	assert_int_equal(tag, 9);
	assert_int_equal(ctr_process_get(&val, &q), 0);
	assert_string_equal(q.env[0], "PATH=/bin");
	ctr_process_free(&q);
	tlv_w_free(&w);
	/* An invalid process sticks an error into the caller's writer. */
	p.nargs = 0;
	ctr_process_put(&w, 9, &p);
	assert_int_equal(tlv_w_finish(&w), -EINVAL);
	tlv_w_free(&w);
	p.nargs = 3;
	ctr_process_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_round_trip),
		cmocka_unit_test(test_spec_minimal),
		cmocka_unit_test(test_spec_checks),
		cmocka_unit_test(test_spec_limits),
		cmocka_unit_test(test_spec_decode_required),
		cmocka_unit_test(test_spec_decode_malformed),
		cmocka_unit_test(test_spec_unknown_tags),
		cmocka_unit_test(test_spec_mutations),
		cmocka_unit_test(test_frame_header),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_message_encode_refused),
		cmocka_unit_test(test_message_required),
		cmocka_unit_test(test_message_malformed),
		cmocka_unit_test(test_process_alone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
