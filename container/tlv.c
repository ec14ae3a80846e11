/* tlv: the tag-length-value codec of the agent protocol and the initramfs spec (PROTOCOL.md). */
#include "container/tlv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* libc only: this file is linked into hull-init too (see tlv.h). */

static void put_le(uint8_t *p, uint64_t v, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

void tlv_w_init(struct tlv_w *w, size_t max)
{
	*w = (struct tlv_w){ .max = max };
}

static void w_fail(struct tlv_w *w, int err)
{
	if (!w->err)
		w->err = err;
}

/* Room for n more bytes at w->data + w->len, or false with the error stuck in w. */
static bool w_room(struct tlv_w *w, size_t n)
{
	size_t cap;
	uint8_t *grown;

	if (w->err)
		return false;
	if (n > w->max - w->len) {
		w_fail(w, -E2BIG);
		return false;
	}
	if (n <= w->cap - w->len)
		return true;
	/* Double, but never past max: a 1 MiB limit never allocates 2 MiB. */
	cap = w->cap > w->max / 2 ? w->max : w->cap * 2;
	if (cap < 256)
		cap = w->max < 256 ? w->max : 256;
	if (cap - w->len < n)
		cap = w->len + n;
	grown = realloc(w->data, cap);
	if (!grown) {
		w_fail(w, -ENOMEM);
		return false;
	}
	w->data = grown;
	w->cap = cap;
	return true;
}

/* A field's header and its value bytes (p may be NULL when n is 0). */
static void put_field(struct tlv_w *w, uint16_t tag, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		w_fail(w, -E2BIG);
		return;
	}
	if (!w_room(w, TLV_HDR + n))
		return;
	put_le(w->data + w->len, tag, 2);
	put_le(w->data + w->len + 2, n, 4);
	if (n)
		memcpy(w->data + w->len + TLV_HDR, p, n);
	w->len += TLV_HDR + n;
}

void tlv_put_u32(struct tlv_w *w, uint16_t tag, uint32_t v)
{
	uint8_t b[4];

	put_le(b, v, sizeof(b));
	put_field(w, tag, b, sizeof(b));
}

void tlv_put_u64(struct tlv_w *w, uint16_t tag, uint64_t v)
{
	uint8_t b[8];

	put_le(b, v, sizeof(b));
	put_field(w, tag, b, sizeof(b));
}

void tlv_put_bool(struct tlv_w *w, uint16_t tag, bool v)
{
	uint8_t b = v;

	put_field(w, tag, &b, 1);
}

void tlv_put_str(struct tlv_w *w, uint16_t tag, const char *s)
{
	size_t n;

	if (!s) {
		w_fail(w, -EINVAL);
		return;
	}
	n = strnlen(s, TLV_STR_MAX + 1);
	if (n > TLV_STR_MAX) {
		w_fail(w, -EINVAL);
		return;
	}
	put_field(w, tag, s, n);
}

void tlv_put_bytes(struct tlv_w *w, uint16_t tag, const void *p, size_t n)
{
	if (!p && n) {
		w_fail(w, -EINVAL);
		return;
	}
	put_field(w, tag, p, n);
}

void tlv_begin(struct tlv_w *w, uint16_t tag)
{
	if (w->err)
		return;
	if (w->depth == TLV_DEPTH_MAX) {
		w_fail(w, -EINVAL);
		return;
	}
	w->open[w->depth] = w->len;
	put_field(w, tag, NULL, 0);
	if (!w->err)
		w->depth++;
}

void tlv_end(struct tlv_w *w)
{
	size_t hdr, n;

	if (w->err)
		return;
	if (!w->depth) {
		w_fail(w, -EINVAL);
		return;
	}
	hdr = w->open[--w->depth];
	n = w->len - hdr - TLV_HDR;
	if (n > UINT32_MAX) {
		w_fail(w, -E2BIG);
		return;
	}
	put_le(w->data + hdr + 2, n, 4);
}

int tlv_w_finish(struct tlv_w *w)
{
	if (!w->err && w->depth)
		w->err = -EINVAL;
	return w->err;
}

void tlv_w_free(struct tlv_w *w)
{
	free(w->data);
	tlv_w_init(w, w->max);
}

void tlv_r_init(struct tlv_r *r, const void *p, size_t len)
{
	*r = (struct tlv_r){ .p = p, .left = len };
}

int tlv_next(struct tlv_r *r, uint16_t *tag, struct tlv_r *val)
{
	uint64_t n;

	if (!r->left)
		return 0;
	if (r->left < TLV_HDR)
		return -EINVAL;
	n = get_le(r->p + 2, 4);
	if (n > r->left - TLV_HDR)
		return -EINVAL;
	*tag = (uint16_t)get_le(r->p, 2);
	*val = (struct tlv_r){ .p = r->p + TLV_HDR, .left = n, .depth = r->depth };
	r->p += TLV_HDR + n;
	r->left -= TLV_HDR + n;
	return 1;
}

int tlv_u32(const struct tlv_r *val, uint32_t *out)
{
	if (val->left != 4)
		return -EINVAL;
	*out = (uint32_t)get_le(val->p, 4);
	return 0;
}

int tlv_u64(const struct tlv_r *val, uint64_t *out)
{
	if (val->left != 8)
		return -EINVAL;
	*out = get_le(val->p, 8);
	return 0;
}

/* Only 0 and 1: any other byte would not survive a round trip unchanged. */
int tlv_bool(const struct tlv_r *val, bool *out)
{
	if (val->left != 1 || val->p[0] > 1)
		return -EINVAL;
	*out = val->p[0];
	return 0;
}

int tlv_str(const struct tlv_r *val, char **out)
{
	char *s;

	if (val->left > TLV_STR_MAX || (val->left && memchr(val->p, '\0', val->left)))
		return -EINVAL;
	s = malloc(val->left + 1);
	if (!s)
		return -ENOMEM;
	if (val->left)
		memcpy(s, val->p, val->left);
	s[val->left] = '\0';
	*out = s;
	return 0;
}

int tlv_list(const struct tlv_r *val, struct tlv_r *list)
{
	if (val->depth >= TLV_DEPTH_MAX)
		return -EINVAL;
	*list = (struct tlv_r){ .p = val->p, .left = val->left, .depth = val->depth + 1 };
	return 0;
}
