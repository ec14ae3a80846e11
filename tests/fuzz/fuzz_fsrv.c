/* libFuzzer target: sequences of raw FUSE requests against the virtio-fs server on a scratch share.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fuse.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtio/fs/fsrv.h"
#include "lib/fdbudget.h"

/*
 * Input: records, one request each, served in order by one server (INIT is
 * done; every input gets a freshly opened server, so node ids and handles are
 * the same for the same requests: the first new node is 0x100000002, the
 * first handle 0x100000000 with today's table layout). Every input is served
 * twice: by a plain share, then by a share of entries (the synthetic root of
 * ENTRIES below), each server fresh:
 *   [0]    bits 0-3: number of cuts of the request into iovecs; bits 4-6:
 *          number of cuts of the reply area; bit 7: store the request's real
 *          length in in.len (so the fuzzer does not have to learn it)
 *   [1..2] le16 size of the reply area; 0xffff: FSRV_MAX_WRITE + 4096
 *   [3..4] le16: bits 0-13 the request length L (clamped to what is left);
 *          bits 14-15 A: the request's iovecs are presented 1, 16, 256 or
 *          4096 times over, every copy aliasing the same bytes, as a guest's
 *          descriptors may (in.len, when stored, is the total: up to 64 MiB)
 *   then one byte per request cut and per reply cut (offsets, taken modulo
 *   the part's size), then L request bytes.
 * The share (on tmpfs under /dev/shm) holds f, d/inner, a symlink to
 * ../outside/secret, one to "/", a FIFO, and a hard link to nothing outside.
 * The share of entries holds "f" (ent/f, a file) and "d" (ent/d, holding
 * inner), both read-write, so LOOKUPs of f and d in the root mean the same in
 * both, and read-only "ro" (ro/: x, sub/, a symlink to the secret), "rox"
 * (ro/x, a file) and "all" (the whole share). After every input outside/ and
 * the scratch root, and ro/ after the entries' turn, must be untouched: any
 * change aborts. RLIMIT_FSIZE bounds every file to 16 MiB (SIGXFSZ ignored:
 * the write fails with EFBIG instead), and the share is rebuilt whenever it
 * grows past 64 MiB and every 512 inputs.
 */

#define MAX_REQS 64
#define FILE_LIMIT (16u << 20)
#define SHARE_LIMIT (64ull << 20)
#define REBUILD_EVERY 512
#define BIG_OUT (FSRV_MAX_WRITE + 4096)
#define SECRET "fuzz secret\n"
#define FDS 16 /* hull's descriptor budget for the share: a few requests use it up */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fsrv *srv;
static struct fdbudget fds;
static char root[64], share[96], outside[96], secret[128], ro[96], rox[128], ent[96], entf[128],
	entd[128];
static struct stat root_st, outside_st, secret_st, ro_st[4];
static const char *const ro_paths[4] = { "", "/x", "/sub", "/up" };
static unsigned long long runs;
static unsigned long long share_bytes;
static bool trace; /* FUZZ_FSRV_TRACE set: one line per request, to check seeds */

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	if (f->level > 0)
		remove(p);
	return 0;
}

static int du_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)p;
	(void)flag;
	(void)f;
	share_bytes += (unsigned long long)st->st_blocks * 512;
	return 0;
}

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
}

static void populate(void)
{
	char p[256];

	/* The share's own directory stays (the server holds it); its contents are rebuilt. */
	nftw(share, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	snprintf(p, sizeof(p), "%s/f", share);
	put(p, "hello\n");
	snprintf(p, sizeof(p), "%s/d", share);
	if (mkdir(p, 0755))
		abort();
	snprintf(p, sizeof(p), "%s/d/inner", share);
	put(p, "inner\n");
	snprintf(p, sizeof(p), "%s/out", share);
	if (symlink("../outside/secret", p))
		abort();
	snprintf(p, sizeof(p), "%s/d/root", share);
	if (symlink("/", p))
		abort();
	snprintf(p, sizeof(p), "%s/fifo", share);
	if (mkfifo(p, 0666))
		abort();
	/* The entries f and d: apart from the share, whose f and d the plain share may remove. */
	nftw(ent, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	put(entf, "hello\n");
	if (mkdir(entd, 0755))
		abort();
	snprintf(p, sizeof(p), "%s/inner", entd);
	put(p, "inner\n");
}

static void cleanup(void)
{
	fsrv_close(srv);
	nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	rmdir(root);
}

static size_t serve(const uint8_t *req, size_t len, unsigned int reps, const size_t *cuts,
		    unsigned int ncuts, size_t out_size, const size_t *ocuts, unsigned int nocuts)
{
	struct iovec *in = calloc((size_t)17 * reps, sizeof(*in)), out[9];
	unsigned int nin = 0, nout = 0, i;
	uint8_t *inb = malloc(len ? len : 1), *outb = malloc(out_size ? out_size : 1);
	size_t at = 0, n;

	if (!in || !inb || !outb)
		abort();
	memcpy(inb, req, len);
	/* Exact-size buffers: ASan sees a byte read or written past either part. */
	for (i = 0; i <= ncuts && at < len; i++) {
		size_t end = i < ncuts && cuts[i] > at ? cuts[i] : len;

		if (i < ncuts && cuts[i] <= at)
			continue;
		in[nin++] = (struct iovec){ inb + at, end - at };
		at = end;
	}
	for (i = 0, at = 0; i <= nocuts && at < out_size; i++) {
		size_t end = i < nocuts && ocuts[i] > at ? ocuts[i] : out_size;

		if (i < nocuts && ocuts[i] <= at)
			continue;
		out[nout++] = (struct iovec){ outb + at, end - at };
		at = end;
	}
	for (i = 1; i < reps; i++)
		memcpy(in + (size_t)i * nin, in, nin * sizeof(*in));
	n = fsrv_handle(srv, in, nin * reps, out, nout);
	if (n > out_size)
		abort();
	if (n) {
		struct fuse_out_header oh;

		memcpy(&oh, outb, sizeof(oh));
		if (n < sizeof(oh) || oh.len != n || oh.error > 0 || (oh.error && n != sizeof(oh)))
			abort();
		if (trace && len >= 8)
			fprintf(stderr, "fuzz_fsrv: opcode %u -> %d, %zu bytes\n",
				inb[4] | inb[5] << 8 | inb[6] << 16 | (unsigned int)inb[7] << 24,
				oh.error, n);
	} else if (trace) {
		fprintf(stderr, "fuzz_fsrv: %zu-byte request, no reply\n", len * reps);
	}
	free(inb);
	free(outb);
	free(in);
	return n;
}

static void init_req(void)
{
	struct {
		struct fuse_in_header h;
		struct fuse_init_in i;
	} r = {
		.h = { .len = sizeof(r), .opcode = FUSE_INIT, .unique = 1 },
		.i = { .major = FUSE_KERNEL_VERSION,
		       .minor = FUSE_KERNEL_MINOR_VERSION,
		       .max_readahead = 131072,
		       .flags = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_DO_READDIRPLUS |
				FUSE_MAX_PAGES | FUSE_HANDLE_KILLPRIV_V2 | FUSE_EXPORT_SUPPORT },
	};

	if (serve((const uint8_t *)&r, sizeof(r), 1, NULL, 0, 4096, NULL, 0) <
	    sizeof(struct fuse_out_header))
		abort();
}

static void start(bool entries)
{
	const struct fsrv_entry ents[] = {
		{ "f", entf, false }, { "d", entd, false },   { "ro", ro, true },
		{ "rox", rox, true }, { "all", share, true },
	};
	struct fsrv_config c = { .path = share, .cache = VFS_CACHE_AUTO, .max_inodes = 4096,
				 .max_handles = 256, .fds = &fds };
	char err[256];

	if (entries) {
		c.entries = ents;
		c.nentries = sizeof(ents) / sizeof(ents[0]);
	}
	if (trace)
		fprintf(stderr, "fuzz_fsrv: %s\n",
			entries ? "a share of entries" : "a plain share");
	fsrv_close(srv);
	srv = NULL;
	/* Every descriptor the last input took came back when its server closed. */
	if (fds.naccts || atomic_load(&fds.pool) != FDS) {
		fprintf(stderr, "fuzz_fsrv: the descriptor budget leaked\n");
		abort();
	}
	if (fsrv_open(&c, &srv, err, sizeof(err))) {
		fprintf(stderr, "fuzz_fsrv: %s\n", err);
		abort();
	}
	init_req();
}

static void init(void)
{
	struct rlimit rl = { FILE_LIMIT, FILE_LIMIT };
	char p[160];
	unsigned int i;

	trace = getenv("FUZZ_FSRV_TRACE");
	fdbudget_init(&fds, FDS);
	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl))
		abort();
	snprintf(root, sizeof(root), "/dev/shm/hull-fuzz-fsrv-XXXXXX");
	if (!mkdtemp(root))
		abort();
	snprintf(share, sizeof(share), "%s/share", root);
	snprintf(outside, sizeof(outside), "%s/outside", root);
	snprintf(secret, sizeof(secret), "%s/secret", outside);
	snprintf(ro, sizeof(ro), "%s/ro", root);
	snprintf(rox, sizeof(rox), "%s/x", ro);
	snprintf(ent, sizeof(ent), "%s/ent", root);
	snprintf(entf, sizeof(entf), "%s/f", ent);
	snprintf(entd, sizeof(entd), "%s/d", ent);
	if (mkdir(share, 0755) || mkdir(outside, 0755) || mkdir(ro, 0755) || mkdir(ent, 0755))
		abort();
	put(secret, SECRET);
	put(rox, "read-only\n");
	snprintf(p, sizeof(p), "%s/sub", ro);
	if (mkdir(p, 0755))
		abort();
	snprintf(p, sizeof(p), "%s/up", ro);
	if (symlink("../outside/secret", p))
		abort();
	populate();
	if (lstat(root, &root_st) || lstat(outside, &outside_st) || lstat(secret, &secret_st))
		abort();
	for (i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s%s", ro, ro_paths[i]);
		if (lstat(p, &ro_st[i]))
			abort();
	}
	atexit(cleanup);
}

static bool st_same(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_mode == b->st_mode && a->st_nlink == b->st_nlink &&
	       a->st_uid == b->st_uid && a->st_gid == b->st_gid && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Nothing appeared next to the share or in outside/, and the secret is untouched. */
static void check_outside(void)
{
	struct stat st;
	char buf[64];
	ssize_t n;
	int fd;

	if (lstat(root, &st) || !st_same(&st, &root_st) || lstat(outside, &st) ||
	    !st_same(&st, &outside_st) || lstat(secret, &st) || !st_same(&st, &secret_st)) {
		fprintf(stderr, "fuzz_fsrv: something outside the share changed\n");
		abort();
	}
	fd = open(secret, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));
	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)strlen(SECRET) || memcmp(buf, SECRET, strlen(SECRET))) {
		fprintf(stderr, "fuzz_fsrv: the secret changed\n");
		abort();
	}
}

/* The read-only entries' tree is exactly as made: no request may change it. */
static void check_ro(void)
{
	struct stat st;
	char p[160], buf[64];
	unsigned int i;
	int fd;
	ssize_t n;

	for (i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s%s", ro, ro_paths[i]);
		if (lstat(p, &st) || !st_same(&st, &ro_st[i])) {
			fprintf(stderr, "fuzz_fsrv: %s changed under a read-only entry\n", p);
			abort();
		}
	}
	fd = open(rox, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));
	if (fd >= 0)
		close(fd);
	if (n != 10 || memcmp(buf, "read-only\n", 10)) {
		fprintf(stderr, "fuzz_fsrv: a read-only entry's file changed\n");
		abort();
	}
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* Serve the input's records, in order, on the server started last. */
static void run(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	unsigned int reqs = 0;

	while (end - p >= 5 && reqs++ < MAX_REQS) {
		unsigned int ncuts = p[0] & 15, nocuts = (p[0] >> 4) & 7, i;
		bool fix_len = p[0] & 0x80;
		size_t out_size = (size_t)(p[1] | p[2] << 8),
		       len = (size_t)(p[3] | (p[4] & 0x3f) << 8);
		unsigned int reps = 1u << (4 * (p[4] >> 6));
		size_t cuts[16], ocuts[8];
		uint8_t *req;

		p += 5;
		if (out_size == 0xffff)
			out_size = BIG_OUT;
		if ((size_t)(end - p) < ncuts + nocuts)
			break;
		if (len > (size_t)(end - p) - ncuts - nocuts)
			len = (size_t)(end - p) - ncuts - nocuts;
		for (i = 0; i < ncuts; i++)
			cuts[i] = len ? p[i] % len : 0;
		for (i = 0; i < nocuts; i++)
			ocuts[i] = out_size ? (p[ncuts + i] * (out_size / 256 + 1)) % out_size : 0;
		p += ncuts + nocuts;
		qsort(cuts, ncuts, sizeof(cuts[0]), cmp_size);
		qsort(ocuts, nocuts, sizeof(ocuts[0]), cmp_size);
		req = malloc(len ? len : 1);
		if (!req)
			abort();
		memcpy(req, p, len);
		if (fix_len && len >= 4) {
			uint32_t l = (uint32_t)(len * reps);

			memcpy(req, &l, 4);
		}
		serve(req, len, reps, cuts, ncuts, out_size, ocuts, nocuts);
		free(req);
		p += len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!root[0])
		init();
	start(false);
	run(data, size);
	check_outside();
	start(true);
	run(data, size);
	check_outside();
	check_ro();

	share_bytes = 0;
	if (++runs % 32 == 0) {
		nftw(share, du_cb, 16, FTW_PHYS);
		nftw(ent, du_cb, 16, FTW_PHYS);
	}
	if (runs % REBUILD_EVERY == 0 || share_bytes > SHARE_LIMIT)
		populate();
	return 0;
}
