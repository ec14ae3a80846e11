/* unpack: decompress a gzip, xz, zstd or lz4 (legacy) stream into a bounded buffer. */
#include "lib/unpack.h"

#include <errno.h>
#include <limits.h>
#include <lz4.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define DECODER_MEM_MAX (256u << 20)
#define ZSTD_WINDOW_LOG_MAX 28 /* 256 MiB, as DECODER_MEM_MAX */
#define LZ4_LEGACY_MAGIC 0x184c2102u
#define LZ4_LEGACY_BLOCK (8u << 20) /* what one block holds unpacked, at most */

enum unpack_format unpack_detect(const uint8_t *in, size_t len)
{
	static const uint8_t gz[] = { 0x1f, 0x8b, 0x08 }, xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0 },
			     zst[] = { 0x28, 0xb5, 0x2f, 0xfd }, lz4[] = { 0x02, 0x21, 0x4c, 0x18 };

	if (len >= sizeof(xz) && !memcmp(in, xz, sizeof(xz)))
		return UNPACK_XZ;
	if (len >= sizeof(zst) && !memcmp(in, zst, sizeof(zst)))
		return UNPACK_ZSTD;
	if (len >= sizeof(gz) && !memcmp(in, gz, sizeof(gz)))
		return UNPACK_GZIP;
	if (len >= sizeof(lz4) && !memcmp(in, lz4, sizeof(lz4)))
		return UNPACK_LZ4;
	return UNPACK_NONE;
}

const char *unpack_name(enum unpack_format f)
{
	switch (f) {
	case UNPACK_GZIP:
		return "gzip";
	case UNPACK_XZ:
		return "xz";
	case UNPACK_ZSTD:
		return "zstd";
	case UNPACK_LZ4:
		return "lz4";
	default:
		return "unknown";
	}
}

/* zlib counts in uInt: the buffers are handed over in pieces of at most that. */
static uInt piece(size_t n)
{
	return n > UINT_MAX ? UINT_MAX : (uInt)n;
}

static int gunzip(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *got)
{
	size_t in_left = len, out_left = cap;
	z_stream z;
	int r = Z_OK;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) /* 16: a gzip header and trailer */
		return -ENOMEM;
	z.next_in = (Bytef *)(uintptr_t)in;
	z.next_out = out;
	for (;;) {
		uInt ai = piece(in_left), ao = piece(out_left);

		z.avail_in = ai;
		z.avail_out = ao;
		r = inflate(&z, Z_NO_FLUSH);
		in_left -= ai - z.avail_in;
		out_left -= ao - z.avail_out;
		if (r == Z_STREAM_END || (r != Z_OK && r != Z_BUF_ERROR))
			break;
		if (!out_left || (!in_left && r == Z_BUF_ERROR))
			break; /* full, or the input ended inside the stream */
		if (ai == z.avail_in && ao == z.avail_out)
			break; /* no progress: cannot happen with input and room left */
	}
	inflateEnd(&z);
	*got = cap - out_left;
	if (r == Z_STREAM_END)
		return 0;
	if (r == Z_MEM_ERROR)
		return -ENOMEM;
	return !out_left && (r == Z_OK || r == Z_BUF_ERROR) ? -EFBIG : -EINVAL;
}

static int unxz(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *got)
{
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret r;

	/* The memory limit bounds the decoder's dictionary: a hostile header cannot ask more. */
	if (lzma_stream_decoder(&s, DECODER_MEM_MAX, 0) != LZMA_OK)
		return -ENOMEM;
	s.next_in = in;
	s.avail_in = len;
	s.next_out = out;
	s.avail_out = cap;
	/* Each call runs until it ends, fills out or runs dry; a second call without progress
	 * says LZMA_BUF_ERROR. */
	do
		r = lzma_code(&s, LZMA_FINISH);
	while (r == LZMA_OK);
	*got = cap - s.avail_out;
	lzma_end(&s);
	if (r == LZMA_STREAM_END)
		return 0;
	if (r == LZMA_MEM_ERROR || r == LZMA_MEMLIMIT_ERROR)
		return r == LZMA_MEM_ERROR ? -ENOMEM : -EINVAL;
	return r == LZMA_BUF_ERROR && !s.avail_out ? -EFBIG : -EINVAL;
}

static int unzstd(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *got)
{
	ZSTD_DStream *d = ZSTD_createDStream();
	ZSTD_inBuffer ib = { in, len, 0 };
	ZSTD_outBuffer ob = { out, cap, 0 };
	size_t r = 1;

	if (!d)
		return -ENOMEM;
	if (ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX))) {
		ZSTD_freeDStream(d);
		return -ENOMEM;
	}
	/* Bounded by cap: a frame that wants more than that stops with the buffer full. */
	while (r && ob.pos < ob.size) {
		r = ZSTD_decompressStream(d, &ob, &ib);
		if (ZSTD_isError(r) || (r && ib.pos == ib.size && ob.pos < ob.size))
			break;
	}
	ZSTD_freeDStream(d);
	*got = ob.pos;
	if (ZSTD_isError(r))
		return -EINVAL;
	if (!r)
		return 0;
	return ob.pos == ob.size ? -EFBIG : -EINVAL;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A block that failed to fit in room: -EFBIG if it decodes whole into a block's worth. */
static int lz4_overflow(const uint8_t *in, uint32_t n)
{
	char *scratch = malloc(LZ4_LEGACY_BLOCK);
	int r;

	if (!scratch)
		return -ENOMEM;
	r = LZ4_decompress_safe((const char *)in, scratch, (int)n, (int)LZ4_LEGACY_BLOCK);
	free(scratch);
	return r < 0 ? -EINVAL : -EFBIG;
}

/*
 * lz4's legacy frame (lz4 -l, what Linux packs with): the magic, then blocks, each its packed
 * length (le32) and at most 8 MiB unpacked; another magic may start a frame again. It has no
 * end mark: it ends where its input does, or at 4 bytes that are not a block (Linux appends
 * the unpacked size there). A block cut short is an error, a frame cut between blocks cannot
 * be told from one that ends there.
 */
static int unlz4(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *got)
{
	size_t pos = 4, room;
	uint32_t n;
	int r;

	if (len < 4 || le32(in) != LZ4_LEGACY_MAGIC)
		return -EINVAL;
	while (len - pos >= 4) {
		n = le32(in + pos);
		if (n == LZ4_LEGACY_MAGIC) {
			pos += 4;
			continue;
		}
		if (len - pos == 4)
			break; /* the trailer */
		pos += 4;
		if (!n || n > len - pos || n > (uint32_t)LZ4_COMPRESSBOUND(LZ4_LEGACY_BLOCK))
			return -EINVAL;
		room = cap - *got < LZ4_LEGACY_BLOCK ? cap - *got : LZ4_LEGACY_BLOCK;
		r = LZ4_decompress_safe((const char *)in + pos, (char *)out + *got, (int)n, (int)room);
		if (r < 0)
			return room < LZ4_LEGACY_BLOCK ? lz4_overflow(in + pos, n) : -EINVAL;
		*got += (size_t)r;
		pos += n;
	}
	return 0;
}

int unpack(enum unpack_format f, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
	   size_t *got)
{
	*got = 0;
	switch (f) {
	case UNPACK_GZIP:
		return gunzip(in, len, out, cap, got);
	case UNPACK_XZ:
		return unxz(in, len, out, cap, got);
	case UNPACK_ZSTD:
		return unzstd(in, len, out, cap, got);
	case UNPACK_LZ4:
		return unlz4(in, len, out, cap, got);
	default:
		return -EINVAL;
	}
}
