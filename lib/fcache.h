/* fcache: hull's cache files: a header, the key (compared whole) and a payload, trusted dirs. */
#ifndef HULL_LIB_FCACHE_H
#define HULL_LIB_FCACHE_H

#include <stddef.h>
#include <stdint.h>

#define FCACHE_NAME_LEN 23	/* PREFIX "-" + 16 hex digits + ".img", PREFIX two letters */
#define FCACHE_TMP_AGE 600	/* s: a temporary file this old was left by a hull that died */
#define FCACHE_KEEP_MAX 64u /* a kind's keep at most (fcache_trim's table: on the stack) */

#define FCACHE_DEFAULT "/var/cache/hull" /* HULL_CACHE when it is unset or empty */

/* $HULL_CACHE/sub (env: HULL_CACHE's value, NULL or "" for FCACHE_DEFAULT); -ENAMETOOLONG. */
int fcache_dir(const char *env, const char *sub, char *out, size_t outlen);

/* What one cache keeps: its files' magic, name prefix, format version and bounds. */
struct fcache_kind {
	const char *magic;    /* 8 bytes */
	const char *prefix;   /* two lowercase letters: "ir" */
	uint32_t version;     /* of the file and of its payload's layout */
	uint64_t payload_max; /* bytes */
	size_t key_max;	      /* bytes */
	unsigned int keep;    /* files kept in the directory, the newest by mtime */
};

/*
 * dir (made if missing, with its parent, as mkdir -p would for the last two) opened, when it
 * is hull's user's or root's and nobody else may write it: the fd, or -errno with *why.
 */
int fcache_open_dir(const char *dir, const char **why);

/* The file name of a key: PREFIX-HEX.img, HEX a 64-bit hash of the key (the file holds it all). */
void fcache_name(const struct fcache_kind *k, const char *key, size_t len,
		     char out[FCACHE_NAME_LEN + 1]);

/*
 * The payload kept for key in dirfd: a malloc'd buffer with room for extra more bytes in
 * *payload, its length in *len, and the header's aux word in *aux. 0; -ENOENT when there is
 * none; -EINVAL for a file that is not a good one: shorter or longer than its header says,
 * another magic, version or key, a payload past the kind's bound, not a regular file (a
 * symlink is not followed), not owned by hull's user or root, writable by its group or
 * others; -errno when it cannot be read. Nothing is returned on error.
 */
int fcache_load(int dirfd, const struct fcache_kind *k, const char *key, size_t keylen,
		    size_t extra, uint8_t **payload, size_t *len, uint32_t *aux);

/*
 * The file kept for key in dirfd, checked as fcache_load checks it, opened: its fd (the caller
 * closes it), the payload's offset and length in the file in *off and *len, the aux word in
 * *aux. -ENOENT, -EINVAL or -errno as fcache_load. For payloads read in place, not copied.
 */
int fcache_open(int dirfd, const struct fcache_kind *k, const char *key, size_t keylen,
		uint64_t *off, uint64_t *len, uint32_t *aux);

/*
 * payload (len bytes) and aux as the file for key in dirfd, written to a temporary file,
 * synced and renamed over the name (a reader sees the old file or the new one, whole), then
 * the directory trimmed to the kind's keep. 0 with the name in name, or -errno (a short write:
 * -ENOSPC; a key or payload past the kind's bounds: -EINVAL); nothing is left behind on error.
 */
int fcache_store(int dirfd, const struct fcache_kind *k, const char *key, size_t keylen,
		     const void *payload, size_t len, uint32_t aux,
		     char name[FCACHE_NAME_LEN + 1]);

/*
 * At most keep of dirfd's files of the kind, the newest by mtime; temporary files older than
 * FCACHE_TMP_AGE seconds removed. Memory and work bounded by keep and the directory's size.
 */
void fcache_trim(int dirfd, const struct fcache_kind *k, unsigned int keep);

/*
 * The running hull's build id (the linker's NT_GNU_BUILD_ID note of the executable), as
 * lowercase hex: what tells one build of hull from another, for keys of what hull computed.
 * 0, or -ENOENT when the executable has none, -ENAMETOOLONG when out is too small.
 */
int fcache_build_id(char *out, size_t outlen);

#endif
