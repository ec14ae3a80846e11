/* Unit tests for lib/unpack (gzip, xz, zstd into a bounded buffer) and fcache_open. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "lib/fcache.h"
#include "lib/unpack.h"

#define PLAIN_LEN (300 * 1000)

static uint8_t plain[PLAIN_LEN];

static int setup(void **state)
{
	size_t i;

	(void)state;
	/* Compressible, but not trivially: a byte pattern with a slow drift. */
	for (i = 0; i < PLAIN_LEN; i++)
		plain[i] = (uint8_t)((i * 31) ^ (i >> 9));
	return 0;
}

/* plain compressed as f, then extra trailing bytes (as Linux appends its size): malloc'd. */
static uint8_t *pack(enum unpack_format f, size_t extra, size_t *len)
{
	size_t cap = PLAIN_LEN + 1024 + extra, n = 0;
	uint8_t *out = malloc(cap);
	ZSTD_CCtx *cctx;
	size_t off, blk;
	z_stream z;
	int r;

	assert_non_null(out);
	switch (f) {
	case UNPACK_GZIP:
		memset(&z, 0, sizeof(z));
		assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8,
					      Z_DEFAULT_STRATEGY), Z_OK);
		z.next_in = plain;
		z.avail_in = PLAIN_LEN;
		z.next_out = out;
		z.avail_out = (uInt)cap;
		assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
		n = z.total_out;
		deflateEnd(&z);
		break;
	case UNPACK_XZ:
		assert_int_equal(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, plain, PLAIN_LEN,
							 out, &n, cap), LZMA_OK);
		break;
	case UNPACK_ZSTD:
		/* With its checksum, as the zstd tool writes (Linux's payloads are made with it). */
		cctx = ZSTD_createCCtx();
		assert_non_null(cctx);
		assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 19)));
		assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)));
		n = ZSTD_compress2(cctx, out, cap, plain, PLAIN_LEN);
		assert_false(ZSTD_isError(n));
		ZSTD_freeCCtx(cctx);
		break;
	case UNPACK_LZ4:
		/* The legacy frame in blocks of 100000 bytes (Linux's are 8 MiB, the last shorter). */
		memcpy(out, "\x02\x21\x4c\x18", 4);
		n = 4;
		for (off = 0; off < PLAIN_LEN; off += blk) {
			blk = PLAIN_LEN - off < 100000 ? PLAIN_LEN - off : 100000;
			r = LZ4_compress_default((const char *)plain + off, (char *)out + n + 4,
						 (int)blk, (int)(cap - n - 4));
			assert_true(r > 0);
			memcpy(out + n, &r, 4);
			n += 4 + (size_t)r;
		}
		break;
	default:
		fail();
	}
	memset(out + n, 0x5a, extra);
	*len = n + extra;
	return out;
}

static const enum unpack_format formats[] = { UNPACK_GZIP, UNPACK_XZ, UNPACK_ZSTD, UNPACK_LZ4 };
#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

static void test_detect(void **state)
{
	static const uint8_t bz2[] = "BZh91AY&SY", lz4f[] = { 0x04, 0x22, 0x4d, 0x18 };
	uint8_t *in;
	size_t i, len;

	(void)state;
	for (i = 0; i < NFORMATS; i++) {
		in = pack(formats[i], 0, &len);
		assert_int_equal(unpack_detect(in, len), formats[i]);
		/* Too short to tell: nothing read past len. */
		assert_int_equal(unpack_detect(in, 2), UNPACK_NONE);
		free(in);
	}
	assert_int_equal(unpack_detect(bz2, sizeof(bz2)), UNPACK_NONE);
	/* lz4's current frame format: not what Linux packs with. */
	assert_int_equal(unpack_detect(lz4f, sizeof(lz4f)), UNPACK_NONE);
	assert_int_equal(unpack_detect(plain, 0), UNPACK_NONE);
	assert_string_equal(unpack_name(UNPACK_GZIP), "gzip");
	assert_string_equal(unpack_name(UNPACK_XZ), "xz");
	assert_string_equal(unpack_name(UNPACK_ZSTD), "zstd");
	assert_string_equal(unpack_name(UNPACK_LZ4), "lz4");
	assert_string_equal(unpack_name(UNPACK_NONE), "unknown");
}

/* Each format whole, with trailing bytes after the stream (ignored), into an exact buffer. */
static void test_roundtrip(void **state)
{
	uint8_t *in, *out = malloc(PLAIN_LEN + 100);
	size_t i, len, got;

	(void)state;
	assert_non_null(out);
	for (i = 0; i < NFORMATS; i++) {
		in = pack(formats[i], 4, &len);
		got = 1;
		assert_int_equal(unpack(formats[i], in, len, out, PLAIN_LEN, &got), 0);
		assert_int_equal(got, PLAIN_LEN);
		assert_memory_equal(out, plain, PLAIN_LEN);
		/* A larger buffer: the stream's end ends it. */
		assert_int_equal(unpack(formats[i], in, len, out, PLAIN_LEN + 100, &got), 0);
		assert_int_equal(got, PLAIN_LEN);
		free(in);
	}
	free(out);
}

/* A buffer one byte short: -EFBIG, nothing written past it. */
static void test_too_big(void **state)
{
	uint8_t *in, *out = malloc(PLAIN_LEN + 1);
	size_t i, len, got;

	(void)state;
	assert_non_null(out);
	for (i = 0; i < NFORMATS; i++) {
		in = pack(formats[i], 0, &len);
		out[PLAIN_LEN - 1] = 0xee;
		assert_int_equal(unpack(formats[i], in, len, out, PLAIN_LEN - 1, &got), -EFBIG);
		assert_true(got <= PLAIN_LEN - 1);
		assert_int_equal(unpack(formats[i], in, len, out, 0, &got), -EFBIG);
		assert_int_equal(got, 0);
		free(in);
	}
	free(out);
}

/*
 * Cut anywhere, or with a byte changed in the middle: -EINVAL, never a crash or a hang. (Room
 * for a byte more than it holds: a stream cut after its last byte out but before its end fills
 * an exact buffer, which is -EFBIG.)
 */
static void test_corrupt(void **state)
{
	uint8_t *in, *out = malloc(PLAIN_LEN + 1);
	size_t i, len, cut, got;
	int ret;

	(void)state;
	assert_non_null(out);
	for (i = 0; i < NFORMATS; i++) {
		in = pack(formats[i], 0, &len);
		for (cut = 0; cut < len; cut += 1 + cut / 3) {
			ret = unpack(formats[i], in, cut, out, PLAIN_LEN + 1, &got);
			/* lz4's legacy frame has no end mark: cut between blocks, it ends there. */
			if (formats[i] == UNPACK_LZ4 && !ret)
				assert_true(got < PLAIN_LEN && got % 100000 == 0);
			else
				assert_int_equal(ret, -EINVAL);
		}
		/* Changed, it may also decode to more than it held before its check fails. lz4
		 * has no check: decoded, it holds something else. */
		in[len / 2] ^= 0x55;
		ret = unpack(formats[i], in, len, out, PLAIN_LEN + 1, &got);
		if (formats[i] == UNPACK_LZ4 && !ret)
			assert_true(got != PLAIN_LEN || memcmp(out, plain, PLAIN_LEN));
		else
			assert_true(ret == -EINVAL || ret == -EFBIG);
		free(in);
	}
	assert_int_equal(unpack(UNPACK_NONE, plain, 100, out, PLAIN_LEN, &got), -EINVAL);
	free(out);
}

static const struct fcache_kind kind = {
	.magic = "HULLTEST", .prefix = "tt", .version = 3, .payload_max = 1 << 20,
	.key_max = 8192, .keep = 2,
};

/* fcache_open: the payload found in place (offset, length), as fcache_load would read it. */
static void test_fcache_open(void **state)
{
	char top[] = "/tmp/hull-unpack-XXXXXX", dir[256], name[FCACHE_NAME_LEN + 1], path[512];
	char other[FCACHE_NAME_LEN + 1], opath[512], key[5000];
	uint8_t buf[64];
	uint64_t off, len;
	uint32_t aux = 0;
	const char *why;
	int dfd, fd;

	(void)state;
	assert_non_null(mkdtemp(top));
	snprintf(dir, sizeof(dir), "%s/c", top);
	dfd = fcache_open_dir(dir, &why);
	assert_true(dfd >= 0);
	memset(key, 'k', sizeof(key)); /* longer than the piece it is compared in */
	assert_int_equal(fcache_open(dfd, &kind, key, sizeof(key), &off, &len, &aux), -ENOENT);
	assert_int_equal(fcache_store(dfd, &kind, key, sizeof(key), plain, 64, 77, name), 0);
	fd = fcache_open(dfd, &kind, key, sizeof(key), &off, &len, &aux);
	assert_true(fd >= 0);
	assert_int_equal(len, 64);
	assert_int_equal(aux, 77);
	assert_int_equal(pread(fd, buf, 64, (off_t)off), 64);
	assert_memory_equal(buf, plain, 64);
	close(fd);
	/* The file under the name of a key that differs in its last byte: compared whole. */
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	key[sizeof(key) - 1] = 'x';
	fcache_name(&kind, key, sizeof(key), other);
	snprintf(opath, sizeof(opath), "%s/%s", dir, other);
	assert_int_equal(rename(path, opath), 0);
	assert_int_equal(fcache_open(dfd, &kind, key, sizeof(key), &off, &len, &aux), -EINVAL);
	assert_int_equal(rename(opath, path), 0);
	key[sizeof(key) - 1] = 'k';
	/* Group-writable: not trusted. */
	assert_int_equal(chmod(path, 0664), 0);
	assert_int_equal(fcache_open(dfd, &kind, key, sizeof(key), &off, &len, &aux), -EINVAL);
	assert_int_equal(chmod(path, 0644), 0);
	/* Cut short: its header says more. */
	assert_int_equal(truncate(path, 100), 0);
	assert_int_equal(fcache_open(dfd, &kind, key, sizeof(key), &off, &len, &aux), -EINVAL);
	assert_int_equal(unlink(path), 0);
	close(dfd);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(rmdir(top), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_fcache_open),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
