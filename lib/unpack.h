/* unpack: decompress a gzip, xz, zstd or lz4 (legacy) stream into a bounded buffer. */
#ifndef HULL_LIB_UNPACK_H
#define HULL_LIB_UNPACK_H

#include <stddef.h>
#include <stdint.h>

enum unpack_format {
	UNPACK_NONE, /* not a stream hull reads (or too short to tell) */
	UNPACK_GZIP,
	UNPACK_XZ,
	UNPACK_ZSTD,
	UNPACK_LZ4, /* the legacy frame (lz4 -l), as Linux packs with: no end mark, no checksum */
};

/* The format of a stream, told by its magic bytes. */
enum unpack_format unpack_detect(const uint8_t *in, size_t len);

/* "gzip", "xz", "zstd", "lz4", or "unknown". */
const char *unpack_name(enum unpack_format f);

/*
 * in (len bytes: one stream of format f; bytes after its end are ignored) decompressed into out
 * (cap bytes). 0 with the length in *got; -EFBIG when the stream holds more than cap bytes,
 * -EINVAL when it is cut short or corrupt (or f is UNPACK_NONE), -ENOMEM. The work is bounded
 * by cap and len; the decoders' own memory by 256 MiB (an xz dictionary, a zstd window). lz4's
 * legacy frame has no end mark: cut between blocks it ends there (a caller that knows the size
 * to expect compares it), and without a checksum a changed byte may go unnoticed.
 */
int unpack(enum unpack_format f, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
	   size_t *got);

#endif
