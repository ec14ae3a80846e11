/* AML encoder: the few ACPI Machine Language terms hull's DSDT needs, byte-exact with iasl. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/acpi.h"

#define ZERO_OP		0x00
#define ONE_OP		0x01
#define NAME_OP		0x08
#define BYTE_PREFIX	0x0a
#define WORD_PREFIX	0x0b
#define DWORD_PREFIX	0x0c
#define STRING_PREFIX	0x0d
#define QWORD_PREFIX	0x0e
#define SCOPE_OP	0x10
#define BUFFER_OP	0x11
#define PACKAGE_OP	0x12
#define DUAL_NAME	0x2e
#define MULTI_NAME	0x2f
#define EXT_OP		0x5b
#define DEVICE_OP	0x82
#define ROOT_CHAR	'\\'
#define PARENT_CHAR	'^'

/* Resource descriptors (ACPI 6.5, 6.4.2 and 6.4.3). */
#define RT_IO		0x47	/* small item 0x08, length 7 */
#define RT_END		0x79	/* small item 0x0f, length 1 */
#define RT_MEM32_FIXED	0x86
#define RT_EXT_IRQ	0x89

/* PkgLength counts itself; 28 bits is the most its 4-byte form holds. */
#define PKG_MAX		((1u << 28) - 1)

static void fail(struct aml *a, int err)
{
	if (!a->error)
		a->error = err;
}

static int grow(struct aml *a, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (a->error)
		return a->error;
	if (n > PKG_MAX || a->len > PKG_MAX - n) {
		fail(a, -E2BIG);
		return a->error;
	}
	if (a->len + n <= a->cap)
		return 0;
	cap = a->cap ? a->cap : 256;
	while (cap < a->len + n)
		cap *= 2;
	p = a->alloc(a->buf, cap);
	if (!p) {
		fail(a, -ENOMEM);
		return a->error;
	}
	a->buf = p;
	a->cap = cap;
	return 0;
}

static void emit(struct aml *a, const void *p, size_t n)
{
	if (grow(a, n))
		return;
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void emit_byte(struct aml *a, uint8_t b)
{
	emit(a, &b, 1);
}

static void emit_le(struct aml *a, uint64_t v, unsigned int n)
{
	uint8_t b[8];
	unsigned int i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	emit(a, b, n);
}

/*
 * Replace the old bytes at off with n new ones, shifting what follows;
 * lets a length that is only known at the end take its minimal size.
 */
static void splice(struct aml *a, size_t off, size_t old, const uint8_t *p, size_t n)
{
	if (n > old && grow(a, n - old))
		return;
	if (a->error)
		return;
	memmove(a->buf + off + n, a->buf + off + old, a->len - off - old);
	memcpy(a->buf + off, p, n);
	a->len = a->len - old + n;
}

void aml_init(struct aml *a)
{
	memset(a, 0, sizeof(*a));
	a->alloc = realloc;
}

void aml_free(struct aml *a)
{
	free(a->buf);
	aml_init(a);
}

static int lead_char(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '_';
}

static int name_char(char c)
{
	return lead_char(c) || (c >= '0' && c <= '9');
}

/* Validates one NameSeg of 1-4 chars ending at '.' or NUL; returns its length or 0. */
static size_t seg_len(const char *s)
{
	size_t n;

	if (!lead_char(s[0]))
		return 0;
	for (n = 1; s[n] && s[n] != '.'; n++)
		if (n == 4 || !name_char(s[n]))
			return 0;
	return n;
}

static void emit_namestring(struct aml *a, const char *name)
{
	const char *p;
	size_t n, nseg = 0;
	int prefixed;

	if (!name) {
		fail(a, -EINVAL);
		return;
	}
	prefixed = *name == ROOT_CHAR || *name == PARENT_CHAR;
	if (*name == ROOT_CHAR) {
		emit_byte(a, ROOT_CHAR);
		name++;
	} else {
		while (*name == PARENT_CHAR) {
			emit_byte(a, PARENT_CHAR);
			name++;
		}
	}
	/* Validate every segment before choosing the prefix that counts them. */
	for (p = name; *p; p += n + (p[n] == '.')) {
		n = seg_len(p);
		if (!n || (p[n] == '.' && !p[n + 1]) || ++nseg > 255) {
			fail(a, -EINVAL);
			return;
		}
	}
	if (nseg == 0) {
		if (prefixed)
			emit_byte(a, ZERO_OP); /* NullName: the prefix alone names the scope */
		else
			fail(a, -EINVAL);
		return;
	}
	if (nseg == 2) {
		emit_byte(a, DUAL_NAME);
	} else if (nseg > 2) {
		emit_byte(a, MULTI_NAME);
		emit_byte(a, (uint8_t)nseg);
	}
	for (p = name; *p; p += n + (p[n] == '.')) {
		n = seg_len(p);
		emit(a, p, n);
		emit(a, "____", 4 - n);
	}
}

void aml_name(struct aml *a, const char *name)
{
	emit_byte(a, NAME_OP);
	emit_namestring(a, name);
}

/* The smallest constant encoding of v into out (up to 9 bytes); returns its length. */
static size_t encode_int(uint8_t *out, uint64_t v)
{
	static const uint8_t prefix[] = { BYTE_PREFIX, WORD_PREFIX, DWORD_PREFIX, QWORD_PREFIX };
	unsigned int i, k, n;

	if (v <= 1) {
		out[0] = v ? ONE_OP : ZERO_OP;
		return 1;
	}
	for (k = 0, n = 1; k < 3 && (v >> (8 * n)); k++)
		n *= 2;
	out[0] = prefix[k];
	for (i = 0; i < n; i++)
		out[1 + i] = (uint8_t)(v >> (8 * i));
	return 1 + n;
}

void aml_integer(struct aml *a, uint64_t v)
{
	uint8_t b[9];

	emit(a, b, encode_int(b, v));
}

void aml_string(struct aml *a, const char *s)
{
	const char *p;

	if (!s) {
		fail(a, -EINVAL);
		return;
	}
	/* AsciiCharList is 0x01-0x7f; NUL terminates it. */
	for (p = s; *p; p++) {
		if ((unsigned char)*p > 0x7f) {
			fail(a, -EINVAL);
			return;
		}
	}
	emit_byte(a, STRING_PREFIX);
	emit(a, s, (size_t)(p - s) + 1);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v = 0;
	int i, h;

	if (!id || strlen(id) != 7)
		goto bad;
	/* Three 5-bit letters (A = 1) and four hex digits, packed big-endian. */
	for (i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			goto bad;
		v = v << 5 | (uint32_t)(id[i] - '@');
	}
	for (i = 3; i < 7; i++) {
		h = hexval(id[i]);
		if (h < 0)
			goto bad;
		v = v << 4 | (uint32_t)h;
	}
	/* iasl always emits EISAID as a DWordConst, whatever its value. */
	emit_byte(a, DWORD_PREFIX);
	for (i = 3; i >= 0; i--)
		emit_byte(a, (uint8_t)(v >> (8 * i)));
	return;
bad:
	fail(a, -EINVAL);
}

/* Opens a PkgLength with a 1-byte placeholder; aml_end widens it if the body needs. */
static void open_pkg(struct aml *a)
{
	if (a->error)
		return;
	if (a->depth >= AML_MAX_DEPTH) {
		fail(a, -EINVAL);
		return;
	}
	a->open[a->depth++] = a->len;
	emit_byte(a, 0);
}

void aml_scope_begin(struct aml *a, const char *name)
{
	emit_byte(a, SCOPE_OP);
	open_pkg(a);
	emit_namestring(a, name);
}

void aml_device_begin(struct aml *a, const char *name)
{
	emit_byte(a, EXT_OP);
	emit_byte(a, DEVICE_OP);
	open_pkg(a);
	emit_namestring(a, name);
}

void aml_package_begin(struct aml *a, uint8_t nelems)
{
	emit_byte(a, PACKAGE_OP);
	open_pkg(a);
	emit_byte(a, nelems);
}

/* The opcode in front of the innermost open PkgLength tells what is open. */
static int open_op(const struct aml *a)
{
	if (a->error || !a->depth)
		return -1;
	return a->buf[a->open[a->depth - 1] - 1];
}

static void close_pkg(struct aml *a)
{
	size_t off = a->open[a->depth - 1];
	size_t body = a->len - off - 1;
	uint8_t pl[4];
	size_t n, total, i;

	if (body + 1 <= 0x3f)
		n = 1;
	else if (body + 2 <= 0xfff)
		n = 2;
	else if (body + 3 <= 0xfffff)
		n = 3;
	else
		n = 4;
	total = body + n;
	if (total > PKG_MAX) {
		fail(a, -E2BIG);
		return;
	}
	if (n == 1) {
		pl[0] = (uint8_t)total;
	} else {
		/* Lead byte: count of follow bytes in bits 7-6, low nibble in 3-0. */
		pl[0] = (uint8_t)(((n - 1) << 6) | (total & 0xf));
		for (i = 1; i < n; i++)
			pl[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	splice(a, off, 1, pl, n);
	if (!a->error)
		a->depth--;
}

void aml_end(struct aml *a)
{
	int op = open_op(a);

	if (a->error)
		return;
	if (op < 0 || op == BUFFER_OP) {
		fail(a, -EINVAL); /* nothing open, or a template that needs aml_rt_end */
		return;
	}
	close_pkg(a);
}

/*
 * The BufferSize term sits between the PkgLength and the bytes; it is
 * reserved as BytePrefix+byte and widened at aml_rt_end if needed.
 */
void aml_rt_begin(struct aml *a)
{
	emit_byte(a, BUFFER_OP);
	open_pkg(a);
	emit_byte(a, BYTE_PREFIX);
	emit_byte(a, 0);
}

static int in_rt(struct aml *a)
{
	if (open_op(a) == BUFFER_OP)
		return 1;
	fail(a, -EINVAL);
	return 0;
}

void aml_rt_memory32_fixed(struct aml *a, uint32_t base, uint32_t len, int writable)
{
	if (!in_rt(a))
		return;
	emit_byte(a, RT_MEM32_FIXED);
	emit_le(a, 9, 2);
	emit_byte(a, writable ? 1 : 0);
	emit_le(a, base, 4);
	emit_le(a, len, 4);
}

void aml_rt_interrupt(struct aml *a, uint32_t gsi, int level, int active_low)
{
	/* Consumer (bit 0), edge (bit 1) unless level, active-low (bit 2), exclusive. */
	uint8_t flags = 0x01 | (level ? 0 : 0x02) | (active_low ? 0x04 : 0);

	if (!in_rt(a))
		return;
	emit_byte(a, RT_EXT_IRQ);
	emit_le(a, 6, 2);
	emit_byte(a, flags);
	emit_byte(a, 1);
	emit_le(a, gsi, 4);
}

void aml_rt_io(struct aml *a, uint16_t base, uint8_t len)
{
	if (!in_rt(a))
		return;
	emit_byte(a, RT_IO);
	emit_byte(a, 1); /* 16-bit decode */
	emit_le(a, base, 2);
	emit_le(a, base, 2);
	emit_byte(a, 1); /* alignment; min == max so any value is exact */
	emit_byte(a, len);
}

void aml_rt_end(struct aml *a)
{
	size_t size_off;
	uint8_t sz[9];

	if (!in_rt(a))
		return;
	emit_byte(a, RT_END);
	emit_byte(a, 0); /* checksum 0: "treat as valid" */
	if (a->error)
		return;
	size_off = a->open[a->depth - 1] + 1;
	/* At least the EndTag's 2 bytes, so never ZeroOp/OneOp, as with iasl. */
	splice(a, size_off, 2, sz, encode_int(sz, a->len - size_off - 2));
	close_pkg(a);
}
