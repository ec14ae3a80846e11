/* parse: pure parsers for sizes and counts given on the command line or in config files. */
#ifndef HULL_VMM_PARSE_H
#define HULL_VMM_PARSE_H

#include <stdint.h>

/*
 * "512M", "4G", "65536K", "1048576" (bytes), with optional "iB"/"B" suffix
 * ("512MiB", "512MB" are binary too). Returns 0, -EINVAL for garbage or an
 * empty string, -ERANGE on overflow.
 */
int parse_size(const char *s, uint64_t *out);

/* A decimal unsigned integer in [min, max]: -EINVAL for garbage, -ERANGE outside. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* "on"/"off"/"true"/"false"/"yes"/"no"/"1"/"0": -EINVAL otherwise. */
int parse_bool(const char *s, int *out);

#endif
