/* initramfs: what a container's guest boots from — hull-init, its spec, the kernel's modules. */
#include "container/initramfs.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "container/initbin.h"
#include "container/proto.h"
#include "lib/file.h"
#include "lib/unpack.h"

/* --- the kernel's release ---------------------------------------------------------- */

#define BZ_HDRS 0x202	    /* "HdrS": the boot protocol's setup header */
#define BZ_VERSION 0x20e    /* u16: the version string's offset, less 0x200 */
#define BANNER "Linux version "

/* A release is a word: printable, no '/' (it names a directory under /lib/modules). */
static int take_release(const uint8_t *p, size_t avail, char *out, size_t outlen)
{
	size_t n = 0;

	while (n < avail && p[n] > ' ' && p[n] < 0x7f) {
		if (p[n] == '/')
			return -EINVAL;
		n++;
	}
	if (!n || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
		return -EINVAL;
	if (n >= outlen || n > CTR_RELEASE_MAX)
		return -ENAMETOOLONG;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/*
 * The ELF scan's window: a banner starting in its first SCAN_CHUNK bytes has its release in it.
 * 64 KiB, reused: a buffer the size of .rodata would be page faults for nothing.
 */
#define SCAN_CHUNK (64U << 10)
#define SCAN_OVERLAP (sizeof(BANNER) - 1 + CTR_RELEASE_MAX + 1)

/*
 * The release of the first banner starting in [from, to) of the image (to at most its length;
 * the release may run past to), read in windows of buf's SCAN_CHUNK + SCAN_OVERLAP bytes.
 */
static int scan_release(const struct boot_src *img, uint64_t from, uint64_t to, uint8_t *buf,
			char *out, size_t outlen)
{
	const uint8_t *p, *end;
	uint64_t at, starts;
	size_t n, off;
	int ret;

	for (at = from; at < to; at += SCAN_CHUNK) {
		starts = to - at < SCAN_CHUNK ? to - at : SCAN_CHUNK;
		n = img->len - at < starts + SCAN_OVERLAP ? (size_t)(img->len - at) :
							    (size_t)starts + SCAN_OVERLAP;
		ret = boot_src_read(img, at, buf, n, NULL);
		if (ret)
			return ret;
		end = buf + starts;
		for (p = buf; p < end; p++) {
			p = memmem(p, n - (size_t)(p - buf), BANNER, sizeof(BANNER) - 1);
			if (!p || p >= end)
				break;
			off = (size_t)(p - buf) + sizeof(BANNER) - 1;
			if (off < n && buf[off] >= '0' && buf[off] <= '9')
				return take_release(buf + off, n - off, out, outlen);
		}
	}
	return -ENOENT;
}

/*
 * An ELF vmlinux carries linux_banner as it was formatted at build time: the first one. It is
 * in .rodata, which starts about 12 MiB into the project's vmlinux and is about 1 MiB long:
 * with a section header table only that section is read, else (or when it holds none) the
 * whole image.
 */
static int elf_release(const struct boot_src *img, char *out, size_t outlen)
{
	uint8_t *buf = malloc(SCAN_CHUNK + SCAN_OVERLAP);
	uint64_t off, size;
	int ret = -ENOENT;

	if (!buf)
		return -ENOMEM;
	if (boot_elf_section(img, ".rodata", &off, &size, NULL) == 1)
		ret = scan_release(img, off, off + size, buf, out, outlen);
	if (ret == -ENOENT)
		ret = scan_release(img, 0, img->len, buf, out, outlen);
	free(buf);
	return ret;
}

int ctr_kernel_release(const struct boot_src *img, char *out, size_t outlen)
{
	uint8_t head[BZ_VERSION + 2], rel[CTR_RELEASE_MAX + 1];
	uint64_t off;
	int ret;

	if (img->len >= sizeof(head) && !boot_src_read(img, 0, head, sizeof(head), NULL) &&
	    !memcmp(head + BZ_HDRS, "HdrS", 4) && memcmp(head, ELFMAG, SELFMAG)) {
		off = (uint64_t)(head[BZ_VERSION] | head[BZ_VERSION + 1] << 8);
		if (!off)
			return -ENOENT;
		off += 0x200;
		if (off >= img->len)
			return -ENOENT;
		ret = boot_src_read(img, off, rel, img->len - off < sizeof(rel) ?
				    (size_t)(img->len - off) : sizeof(rel), NULL);
		if (!ret)
			ret = take_release(rel, img->len - off < sizeof(rel) ?
					   (size_t)(img->len - off) : sizeof(rel), out, outlen);
		return ret == -EINVAL ? -ENOENT : ret;
	}
	return elf_release(img, out, outlen);
}

/* --- modules.dep and modules.builtin --------------------------------------------------- */

struct mod {
	const char *name; /* normalised: '-' as '_', no directory, no ".ko..." */
	size_t namelen;
	char *path;	  /* in the text copy, NUL-terminated */
	char *deps;	  /* the rest of its modules.dep line; NULL for a built-in one */
	bool builtin;
	uint8_t state;	  /* 0 not seen, 1 being resolved, 2 done */
};

struct table {
	struct mod *mods;
	unsigned int n, cap;
	unsigned int *slot; /* open addressing: index + 1, 0 empty */
	unsigned int nslots;
};

/* n bytes at p end with suffix. */
static bool has_suffix(const char *p, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && !memcmp(p + n - k, suffix, k);
}

/* The module name of a path or a wanted name: its last component without .ko[.xz|.zst|.gz]. */
static void name_of(const char *p, size_t len, const char **name, size_t *n)
{
	static const char *const packed[] = { ".xz", ".zst", ".gz" };
	const char *slash = memrchr(p, '/', len);
	unsigned int i;

	if (slash) {
		len -= (size_t)(slash + 1 - p);
		p = slash + 1;
	}
	for (i = 0; i < 3; i++) {
		if (has_suffix(p, len, packed[i]) && has_suffix(p, len - strlen(packed[i]), ".ko")) {
			len -= strlen(packed[i]);
			break;
		}
	}
	if (has_suffix(p, len, ".ko"))
		len -= 3;
	*name = p;
	*n = len;
}

static bool same_name(const char *a, size_t an, const char *b, size_t bn)
{
	size_t i;

	if (an != bn)
		return false;
	for (i = 0; i < an; i++) {
		char x = a[i] == '-' ? '_' : a[i], y = b[i] == '-' ? '_' : b[i];

		if (x != y)
			return false;
	}
	return true;
}

static unsigned int hash_name(const char *s, size_t n)
{
	unsigned int h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)(s[i] == '-' ? '_' : s[i])) * 16777619u;
	return h;
}

static struct mod *find(struct table *t, const char *name, size_t n)
{
	unsigned int i = hash_name(name, n) & (t->nslots - 1), k;

	while ((k = t->slot[i])) {
		if (same_name(t->mods[k - 1].name, t->mods[k - 1].namelen, name, n))
			return &t->mods[k - 1];
		i = (i + 1) & (t->nslots - 1);
	}
	return NULL;
}

/* Add a module line (deps NULL: a built-in one). The first of a name wins, as for modprobe. */
static void add(struct table *t, char *path, char *deps)
{
	const char *name;
	size_t n;
	unsigned int i;

	name_of(path, strlen(path), &name, &n);
	if (!n || find(t, name, n))
		return;
	t->mods[t->n] = (struct mod){ .name = name, .namelen = n, .path = path, .deps = deps,
				      .builtin = !deps };
	i = hash_name(name, n) & (t->nslots - 1);
	while (t->slot[i])
		i = (i + 1) & (t->nslots - 1);
	t->slot[i] = ++t->n;
}

/* Lines of text (a private, NUL-terminated copy) into t. */
static void parse(struct table *t, char *text, bool builtin)
{
	char *line = text, *next, *colon;

	for (; *line; line = next) {
		next = strchrnul(line, '\n');
		if (*next)
			*next++ = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		if (!*line || *line == '#')
			continue;
		if (builtin) {
			line[strcspn(line, " \t\r")] = '\0';
			add(t, line, NULL);
			continue;
		}
		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		add(t, line, colon + 1);
	}
}

static int table_init(struct table *t, size_t lines)
{
	*t = (struct table){ .cap = (unsigned int)lines };
	t->nslots = 16;
	while (t->nslots < 2 * lines)
		t->nslots *= 2;
	t->mods = calloc(lines ? lines : 1, sizeof(*t->mods));
	t->slot = calloc(t->nslots, sizeof(*t->slot));
	return t->mods && t->slot ? 0 : -ENOMEM;
}

static size_t count_lines(const char *s, size_t len)
{
	size_t n = 1, i;

	for (i = 0; i < len; i++)
		n += s[i] == '\n';
	return n;
}

struct resolve {
	struct table t;
	struct ctr_modules *out;
	char *err;
	size_t errlen;
};

static int emit(struct resolve *r, const struct mod *m)
{
	struct ctr_module *c;
	size_t n = m->namelen;

	if (r->out->n == CTR_MODULES_MAX) {
		snprintf(r->err, r->errlen, "more than %d modules to load", CTR_MODULES_MAX);
		return -E2BIG;
	}
	/* The file keeps the module's own spelling; the guest loads it by path, not by name. */
	c = &r->out->mods[r->out->n];
	c->file = malloc(n + 4);
	c->path = strdup(m->path);
	r->out->n++;
	if (!c->file || !c->path)
		return -ENOMEM;
	memcpy(c->file, m->name, n);
	memcpy(c->file + n, ".ko", 4);
	return 0;
}

/* m and what it depends on, dependencies first; depth bounds the recursion. */
static int visit(struct resolve *r, struct mod *m, unsigned int depth)
{
	const char *dep, *name;
	size_t len, n;
	struct mod *d;
	int ret;

	if (m->builtin || m->state)
		return 0; /* built in, done, or a cycle (modules.dep has none): nothing more */
	if (depth > CTR_MODULES_MAX) {
		snprintf(r->err, r->errlen, "module %.*s: dependencies deeper than %d",
			 (int)m->namelen, m->name, CTR_MODULES_MAX);
		return -E2BIG;
	}
	if (m->namelen + 3 > CTR_MODULE_NAME_MAX) {
		snprintf(r->err, r->errlen, "module %.60s...: its name is too long", m->name);
		return -ENAMETOOLONG;
	}
	m->state = 1;
	for (dep = m->deps; *dep; dep += len) {
		dep += strspn(dep, " \t\r");
		len = strcspn(dep, " \t\r");
		if (!len)
			break;
		name_of(dep, len, &name, &n);
		d = n ? find(&r->t, name, n) : NULL;
		if (!d) {
			snprintf(r->err, r->errlen, "module %.*s: its dependency %.*s is not in "
				 "modules.dep", (int)m->namelen, m->name, (int)(len > 200 ? 200 : len),
				 dep);
			return -ENOENT;
		}
		ret = visit(r, d, depth + 1);
		if (ret)
			return ret;
	}
	m->state = 2;
	return emit(r, m);
}

int ctr_modules_from(const char *dep, size_t deplen, const char *builtin, size_t builtinlen,
		     const char *const *wanted, unsigned int nwanted, struct ctr_modules *out,
		     char *err, size_t errlen)
{
	struct resolve r = { .out = out, .err = err, .errlen = errlen };
	char *dcopy = strndup(dep ? dep : "", deplen);
	char *bcopy = strndup(builtin ? builtin : "", builtinlen);
	const char *name;
	unsigned int i;
	struct mod *m;
	size_t n;
	int ret;

	*out = (struct ctr_modules){ 0 };
	ret = dcopy && bcopy ? 0 : -ENOMEM;
	if (!ret)
		ret = table_init(&r.t, count_lines(dep, deplen) + count_lines(builtin, builtinlen));
	if (!ret) {
		out->mods = calloc(CTR_MODULES_MAX, sizeof(*out->mods));
		ret = out->mods ? 0 : -ENOMEM;
	}
	if (ret) {
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		goto out;
	}
	/* Built-in ones first: a module both built in and in modules.dep needs no file. */
	parse(&r.t, bcopy, true);
	parse(&r.t, dcopy, false);
	for (i = 0; i < nwanted && !ret; i++) {
		name_of(wanted[i], strlen(wanted[i]), &name, &n);
		m = find(&r.t, name, n);
		if (!m) {
			snprintf(err, errlen, "module %s: neither built into the kernel nor in "
				 "modules.dep", wanted[i]);
			ret = -ENOENT;
			break;
		}
		ret = visit(&r, m, 0);
	}
	if (ret == -ENOMEM)
		snprintf(err, errlen, "%s", strerror(ENOMEM));
out:
	if (ret)
		ctr_modules_free(out);
	free(r.t.mods);
	free(r.t.slot);
	free(dcopy);
	free(bcopy);
	return ret;
}

void ctr_modules_free(struct ctr_modules *m)
{
	unsigned int i;

	for (i = 0; m->mods && i < m->n; i++) {
		free(m->mods[i].file);
		free(m->mods[i].path);
	}
	free(m->mods);
	*m = (struct ctr_modules){ 0 };
}

/* dir/name into *text, up to CTR_MODDEP_MAX bytes; a missing file is empty when optional. */
static int read_list(const char *dir, const char *name, bool optional, uint8_t **text,
		     size_t *len, char *err, size_t errlen)
{
	char path[4096];
	int ret;

	*text = NULL;
	*len = 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
		snprintf(err, errlen, "%.200s/%s: path too long", dir, name);
		return -ENAMETOOLONG;
	}
	ret = file_read_all(path, CTR_MODDEP_MAX, text, len);
	if (ret == -ENOENT && optional)
		return 0;
	if (ret)
		snprintf(err, errlen, "%s: %s", path,
			 ret == -EFBIG ? "larger than 16 MiB" : file_strerror(ret));
	return ret;
}

int ctr_modules_resolve(const char *dir, const char *const *wanted, unsigned int nwanted,
			struct ctr_modules *out, char *err, size_t errlen)
{
	uint8_t *dep = NULL, *builtin = NULL;
	size_t deplen, builtinlen;
	struct stat st;
	int ret;

	*out = (struct ctr_modules){ 0 };
	if (stat(dir, &st) && errno == ENOENT)
		return 0; /* no module tree for this kernel: it has what it needs built in */
	ret = read_list(dir, "modules.dep", false, &dep, &deplen, err, errlen) ?:
	      read_list(dir, "modules.builtin", true, &builtin, &builtinlen, err, errlen);
	if (!ret)
		ret = ctr_modules_from((const char *)dep, deplen, (const char *)builtin, builtinlen,
				       wanted, nwanted, out, err, errlen);
	free(dep);
	free(builtin);
	return ret;
}

/* --- module files -------------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
	return has_suffix(s, strlen(s), suffix);
}

int ctr_module_read(const char *path, uint8_t **out, size_t *len, char *err, size_t errlen)
{
	bool xz = ends_with(path, ".ko.xz"), zst = ends_with(path, ".ko.zst");
	uint8_t *raw, *buf;
	size_t rawlen, got = 0;
	int ret;

	*out = NULL;
	*len = 0;
	if (!xz && !zst && !ends_with(path, ".ko")) {
		snprintf(err, errlen, "module %s: not a .ko, .ko.xz or .ko.zst file", path);
		return -EINVAL;
	}
	ret = file_read_all(path, CTR_MODULE_MAX, &raw, &rawlen);
	if (ret) {
		snprintf(err, errlen, "module %s: %s", path,
			 ret == -EFBIG ? "larger than 64 MiB" : file_strerror(ret));
		return ret;
	}
	if (!xz && !zst) {
		*out = raw;
		*len = rawlen;
		return 0;
	}
	buf = malloc(CTR_MODULE_MAX);
	ret = buf ? unpack(xz ? UNPACK_XZ : UNPACK_ZSTD, raw, rawlen, buf, CTR_MODULE_MAX, &got) :
	      -ENOMEM;
	free(raw);
	if (ret) {
		snprintf(err, errlen, "module %s: %s", path,
			 ret == -EFBIG ? "larger than 64 MiB unpacked" :
			 ret == -EINVAL ? "cannot be decompressed" : strerror(-ret));
		free(buf);
		return ret;
	}
	*out = realloc(buf, got ? got : 1) ?: buf;
	*len = got;
	return 0;
}

/* --- the image ---------------------------------------------------------------------- */

/*
 * What depends only on hull-init and the modules comes first, so that icache.c can keep it; the
 * spec and the trailer follow it in the same archive.
 */
int ctr_initramfs_fixed(const char *moddir, const struct ctr_modules *m, struct cpio *c,
			char *err, size_t errlen)
{
	char path[4096], file[sizeof(CTR_MODULES_DIR) + CTR_MODULE_NAME_MAX + 2];
	unsigned int i;
	uint8_t *data;
	size_t len;
	int ret;

	/* hull-init and a page of headers (and the spec, after) in one buffer, copied once. */
	boot_cpio_reserve(c, (size_t)(hull_init_end - hull_init_start) + 4096);
	boot_cpio_dir(c, "dev", 0755);
	boot_cpio_dir(c, "proc", 0555);
	boot_cpio_dir(c, "sys", 0555);
	boot_cpio_dir(c, "hull", 0700);
	boot_cpio_file(c, "init", 0755, hull_init_start, (size_t)(hull_init_end - hull_init_start));
	if (m->n)
		boot_cpio_dir(c, CTR_MODULES_DIR, 0700);
	for (i = 0; i < m->n && !c->error; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", moddir, m->mods[i].path) >=
		    sizeof(path)) {
			snprintf(err, errlen, "module %.200s: path too long", m->mods[i].path);
			return -ENAMETOOLONG;
		}
		ret = ctr_module_read(path, &data, &len, err, errlen);
		if (ret)
			return ret;
		snprintf(file, sizeof(file), "%s/%s", CTR_MODULES_DIR, m->mods[i].file);
		boot_cpio_file(c, file, 0600, data, len);
		free(data);
	}
	if (c->error)
		snprintf(err, errlen, "the initramfs: %s", strerror(-c->error));
	return c->error;
}

int ctr_initramfs_finish(struct cpio *c, const uint8_t *spec, size_t speclen, char *err,
			 size_t errlen)
{
	int ret;

	boot_cpio_file(c, CTR_SPEC_PATH, 0600, spec, speclen);
	ret = boot_cpio_finish(c);
	if (ret)
		snprintf(err, errlen, "the initramfs: %s", strerror(-ret));
	return ret;
}

int ctr_initramfs_build(const uint8_t *spec, size_t speclen, const char *moddir,
			const struct ctr_modules *m, struct cpio *c, char *err, size_t errlen)
{
	return ctr_initramfs_fixed(moddir, m, c, err, errlen) ?:
	       ctr_initramfs_finish(c, spec, speclen, err, errlen);
}
