/* tlv: the tag-length-value codec of the agent protocol and the initramfs spec (PROTOCOL.md). */
#ifndef HULL_CONTAINER_TLV_H
#define HULL_CONTAINER_TLV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Shared by hull and by hull-init (a static guest program): this file and
 * tlv.c use only libc, never lib/ or anything of the VMM.
 *
 * A field is u16 tag | u32 len | len bytes, little-endian. A sequence of
 * fields is a payload; a list field holds a nested payload.
 */

#define TLV_HDR 6
#define TLV_STR_MAX 65535 /* bytes of one string field */
#define TLV_DEPTH_MAX 4	  /* nesting of list fields */

/*
 * Writer: a growable buffer with a hard size limit. Errors stick: after the
 * first failure (-ENOMEM, -E2BIG past max, -EINVAL for a string over
 * TLV_STR_MAX or holding a NUL, nesting past TLV_DEPTH_MAX) every put is a
 * no-op and tlv_w_finish() returns the error.
 */
struct tlv_w {
	uint8_t *data;
	size_t len, cap, max;
	size_t open[TLV_DEPTH_MAX]; /* offsets of the open lists' headers */
	unsigned int depth;
	int err;
};

void tlv_w_init(struct tlv_w *w, size_t max);
void tlv_put_u32(struct tlv_w *w, uint16_t tag, uint32_t v);
void tlv_put_u64(struct tlv_w *w, uint16_t tag, uint64_t v);
void tlv_put_bool(struct tlv_w *w, uint16_t tag, bool v);
void tlv_put_str(struct tlv_w *w, uint16_t tag, const char *s);
void tlv_put_bytes(struct tlv_w *w, uint16_t tag, const void *p, size_t n);
/* Open a list field; its fields follow until the matching tlv_end(). */
void tlv_begin(struct tlv_w *w, uint16_t tag);
void tlv_end(struct tlv_w *w);
/* 0 (w->data/len hold the payload, every list closed) or the first error. */
int tlv_w_finish(struct tlv_w *w);
void tlv_w_free(struct tlv_w *w);

/* Reader: a cursor over a payload it does not own. */
struct tlv_r {
	const uint8_t *p;
	size_t left;
	unsigned int depth;
};

void tlv_r_init(struct tlv_r *r, const void *p, size_t len);
/*
 * The next field: 1 with *tag and val (its bytes: val->p, val->left) set, 0
 * at the end of the payload, -EINVAL when the header or the length runs
 * past the payload.
 */
int tlv_next(struct tlv_r *r, uint16_t *tag, struct tlv_r *val);
/* Typed views of a field's bytes: -EINVAL when the length is not the type's (or a bool not 0/1). */
int tlv_u32(const struct tlv_r *val, uint32_t *out);
int tlv_u64(const struct tlv_r *val, uint64_t *out);
int tlv_bool(const struct tlv_r *val, bool *out);
/*
 * A string: 0..TLV_STR_MAX bytes, no NUL; *out is a malloc'd NUL-terminated
 * copy (-ENOMEM possible). Empty strings exist: an argument may be "".
 */
int tlv_str(const struct tlv_r *val, char **out);
/* A nested list: -EINVAL past TLV_DEPTH_MAX. */
int tlv_list(const struct tlv_r *val, struct tlv_r *list);

#endif
