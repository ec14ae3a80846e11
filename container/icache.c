/* icache: the fixed part of container initramfs images, kept in files per hull-init and modules. */
#include "container/icache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fcache.h"
#include "lib/log.h"

#define NEWC "070701"

static const struct fcache_kind kind = {
	.magic = "HULLIRFS",
	.prefix = "ir",
	.version = CTR_ICACHE_VERSION,
	.payload_max = CTR_ICACHE_PAYLOAD_MAX,
	.key_max = CTR_ICACHE_KEY_MAX,
	.keep = CTR_ICACHE_KEEP,
};

int ctr_icache_dir(const char *env, char *out, size_t outlen)
{
	return fcache_dir(env, CTR_ICACHE_SUBDIR, out, outlen);
}

/* Length-prefixed, so that no name can pass for another's. */
int ctr_icache_key(const char *init_id, const char *moddir, const struct ctr_modules *m,
		   char **key, size_t *len)
{
	char path[4096];
	struct stat st;
	unsigned int i;
	FILE *f;
	int ret = 0;

	*key = NULL;
	*len = 0;
	if (!init_id || !*init_id)
		return -EINVAL;
	f = open_memstream(key, len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "hull initramfs %u\ninit %zu:%s\ndir %zu:%s\n", CTR_ICACHE_VERSION,
		strlen(init_id), init_id, strlen(moddir), moddir);
	for (i = 0; i < m->n && !ret; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", moddir, m->mods[i].path) >=
		    sizeof(path))
			ret = -ENAMETOOLONG;
		else if (stat(path, &st))
			ret = -errno;
		else
			fprintf(f, "module %zu:%s %zu:%s %llu %llu %lld %lld.%09ld %lld.%09ld\n",
				strlen(m->mods[i].file), m->mods[i].file, strlen(m->mods[i].path),
				m->mods[i].path, (unsigned long long)st.st_dev,
				(unsigned long long)st.st_ino, (long long)st.st_size,
				(long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
				(long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	}
	if (fclose(f) && !ret)
		ret = -ENOMEM;
	if (!ret && *len > CTR_ICACHE_KEY_MAX)
		ret = -E2BIG;
	if (ret) {
		free(*key);
		*key = NULL;
		*len = 0;
	}
	return ret;
}

void ctr_icache_name(const char *key, size_t len, char out[CTR_ICACHE_NAME_LEN + 1])
{
	fcache_name(&kind, key, len, out);
}

int ctr_icache_load(int dirfd, const char *key, size_t keylen, size_t extra, struct cpio *c)
{
	uint8_t *buf;
	uint32_t next_ino;
	size_t len;
	int ret;

	ret = fcache_load(dirfd, &kind, key, keylen, extra, &buf, &len, &next_ino);
	if (ret)
		return ret;
	if (len < 110 || memcmp(buf, NEWC, sizeof(NEWC) - 1) || !next_ino ||
	    next_ino > CTR_MODULES_MAX + 8) {
		free(buf);
		return -EINVAL;
	}
	/* The archive continues from here: boot_cpio_* grow buf as they would their own. */
	c->buf = buf;
	c->len = len;
	c->cap = len + extra;
	c->next_ino = next_ino;
	return 0;
}

int ctr_icache_store(int dirfd, const char *key, size_t keylen, const struct cpio *c,
		     char name[CTR_ICACHE_NAME_LEN + 1])
{
	if (c->error)
		return -EINVAL;
	return fcache_store(dirfd, &kind, key, keylen, c->buf, c->len, c->next_ino, name);
}

void ctr_icache_trim(int dirfd, unsigned int keep)
{
	fcache_trim(dirfd, &kind, keep);
}

int ctr_icache_get(const char *dir, const char *init_id, const char *moddir,
		   const struct ctr_modules *m, size_t extra, struct cpio *c,
		   enum ctr_icache_how *how, char *file, size_t filelen, char *err, size_t errlen)
{
	char name[CTR_ICACHE_NAME_LEN + 1];
	const char *why = NULL;
	char *key = NULL;
	size_t keylen;
	int dfd = -1, ret;

	*how = CTR_ICACHE_MEMORY;
	snprintf(file, filelen, "%s", "");
	if (!m->n) {
		/* hull-init alone is copied from hull's own image: a file would save nothing. */
		log_debug("container: initramfs: no modules, nothing to cache");
		goto build;
	}
	if (!dir) {
		log_debug("container: initramfs: no cache directory (HULL_CACHE too long)");
		goto build;
	}
	ret = ctr_icache_key(init_id, moddir, m, &key, &keylen);
	if (ret) {
		/* A module that cannot be stat'ed cannot be read either: the build says which. */
		log_debug("container: initramfs: no cache key: %s", strerror(-ret));
		goto build;
	}
	dfd = fcache_open_dir(dir, &why);
	if (dfd < 0) {
		log_debug("container: initramfs: cache %s: %s", dir, why);
		goto build;
	}
	ret = ctr_icache_load(dfd, key, keylen, extra, c);
	ctr_icache_name(key, keylen, name);
	if (!ret) {
		*how = CTR_ICACHE_HIT;
		snprintf(file, filelen, "%s/%s", dir, name);
		goto out;
	}
	if (ret != -ENOENT)
		log_debug("container: initramfs: cache %s/%s: %s: rebuilt", dir, name,
			  ret == -EINVAL ? "not a good cache file" : strerror(-ret));
build:
	ret = ctr_initramfs_fixed(moddir, m, c, err, errlen);
	if (ret || dfd < 0)
		goto out;
	ret = ctr_icache_store(dfd, key, keylen, c, name);
	if (ret) {
		log_debug("container: initramfs: cache %s: cannot write: %s", dir, strerror(-ret));
		ret = 0;
		goto out;
	}
	*how = CTR_ICACHE_STORED;
	snprintf(file, filelen, "%s/%s", dir, name);
out:
	if (dfd >= 0)
		close(dfd);
	free(key);
	return ret;
}
