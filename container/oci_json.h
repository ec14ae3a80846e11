/* oci_json: typed reads of config.json's values, each failure naming the field (oci*.c, seccomp.c). */
#ifndef HULL_CONTAINER_OCI_JSON_H
#define HULL_CONTAINER_OCI_JSON_H

#include <json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One read of a config.json: where it is, where its messages go. */
struct oci_ctx {
	const char *dir;     /* the bundle directory, or NULL */
	const char *dev_dir; /* where host block devices are looked up */
	char *err;
	size_t errlen;
	bool update; /* an update's resources: -1 clears a limit (UINT64_MAX, "max") */
	const char *seccomp_cache; /* where compiled profiles are kept (ctr_oci_load's), or NULL */
};

/* Write "where: why" style messages into c->err; returns ret. */
int oci_fail(struct oci_ctx *c, int ret, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A member of an object, NULL when absent or JSON null (Go writes null for empty lists). */
struct json_object *oci_get(struct json_object *obj, const char *key);
/*
 * Typed reads of a present value v; where names it in the message
 * ("process.cwd: expected a string"). Strings hold no NUL and at most
 * TLV_STR_MAX bytes; arrays at most CTR_LIST_MAX entries.
 */
int oci_object(struct oci_ctx *c, struct json_object *v, const char *where);
int oci_array(struct oci_ctx *c, struct json_object *v, const char *where, size_t *n);
int oci_str(struct oci_ctx *c, struct json_object *v, const char *where, char **out);
int oci_strv(struct oci_ctx *c, struct json_object *v, const char *where, char ***out,
	     unsigned int *n);
int oci_bool(struct oci_ctx *c, struct json_object *v, const char *where, bool *out);
int oci_u32(struct oci_ctx *c, struct json_object *v, const char *where, uint32_t max,
	    uint32_t *out);
int oci_u64(struct oci_ctx *c, struct json_object *v, const char *where, uint64_t *out);
int oci_i64(struct oci_ctx *c, struct json_object *v, const char *where, int64_t min, int64_t max,
	    int64_t *out);
/* v as compact JSON text, malloc'd (carried fields). */
int oci_text(struct oci_ctx *c, struct json_object *v, const char *where, char **out);

/* The parts of the reader (oci.c calls them in order). */
struct ctr_bundle;
int oci_mounts(struct oci_ctx *c, struct json_object *v, struct ctr_bundle *b);
int oci_linux(struct oci_ctx *c, struct json_object *v, struct ctr_bundle *b);
/* linux.seccomp compiled (container/seccomp.c): *prog malloc'd, *len bytes. */
int oci_seccomp(struct oci_ctx *c, struct json_object *v, void **prog, size_t *len,
		unsigned int *flags);

#endif
