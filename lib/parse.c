/* parse: pure parsers for sizes and counts given on the command line or in config files. */
#include "lib/parse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int parse_digits(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned int d = (unsigned int)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*sp = s;
	*out = v;
	return 0;
}

int parse_size(const char *s, uint64_t *out)
{
	unsigned int shift = 0;
	uint64_t v;
	int err;

	if (!s)
		return -EINVAL;
	err = parse_digits(&s, &v);
	if (err)
		return err;
	switch (*s) {
	case 'k': case 'K': shift = 10; s++; break;
	case 'm': case 'M': shift = 20; s++; break;
	case 'g': case 'G': shift = 30; s++; break;
	case 't': case 'T': shift = 40; s++; break;
	default: break;
	}
	if (shift && (!strcmp(s, "iB") || !strcmp(s, "B")))
		s += strlen(s);
	else if (!shift && !strcmp(s, "B"))
		s++;
	if (*s)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;
	int err;

	if (!s)
		return -EINVAL;
	err = parse_digits(&s, &v);
	if (err)
		return err;
	if (*s)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "on", "true", "yes", "1" };
	static const char *const no[] = { "off", "false", "no", "0" };
	unsigned int i;

	for (i = 0; s && i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = 1;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = 0;
			return 0;
		}
	}
	return -EINVAL;
}

/*
 * Cut the next item off *s, unescaped into buf (which holds the whole spec, so it always fits);
 * *more says whether a separating comma followed it (so "path=a," has an empty last item).
 */
static void next_item(const char **s, char *buf, bool *more)
{
	const char *p = *s;
	size_t n = 0;

	for (;;) {
		if (*p == ',' && p[1] == ',')
			p++;
		else if (*p == ',' || !*p)
			break;
		buf[n++] = *p++;
	}
	buf[n] = '\0';
	*more = *p == ',';
	*s = *more ? p + 1 : p;
}

int parse_spec(const char *spec, const char *const *keys, unsigned int nkeys, const char *hint,
	       parse_set_fn *set, void *obj, char *err, size_t errlen)
{
	char *item = malloc(strlen(spec) + 1);
	const char *s = spec;
	uint64_t seen = 0;
	bool more = true;
	int ret = 0;

	if (!item)
		return -ENOMEM;
	while (more && !ret) {
		unsigned int k;
		char *eq;

		next_item(&s, item, &more);
		eq = strchr(item, '=');
		if (!eq) {
			snprintf(err, errlen, "'%s': expected key=value (%s)", item, hint);
			ret = -EINVAL;
			break;
		}
		*eq = '\0';
		for (k = 0; k < nkeys && k < 64 && strcmp(item, keys[k]); k++)
			;
		if (k < nkeys && k < 64) {
			if (seen & (1ULL << k)) {
				snprintf(err, errlen, "%s: given twice", item);
				ret = -EINVAL;
				break;
			}
			seen |= 1ULL << k;
		}
		ret = set(obj, item, eq + 1, err, errlen);
	}
	free(item);
	return ret;
}

int parse_set_path(const char *key, const char *value, char **dst, char *err, size_t errlen)
{
	char *copy;

	if (!value[0]) {
		snprintf(err, errlen, "%s: empty", key);
		return -EINVAL;
	}
	copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	free(*dst);
	*dst = copy;
	return 0;
}

int parse_set_bool(const char *key, const char *value, bool *dst, char *err, size_t errlen)
{
	int b;

	if (parse_bool(value, &b)) {
		snprintf(err, errlen, "%s '%s': not on/off", key, value);
		return -EINVAL;
	}
	*dst = b;
	return 0;
}

int parse_set_choice(const char *key, const char *value, const char *const *names, unsigned int n,
		     int *dst, char *err, size_t errlen)
{
	size_t len;
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (!strcmp(value, names[i])) {
			*dst = (int)i;
			return 0;
		}
	}
	len = (size_t)snprintf(err, errlen, "%s '%s': not one of", key, value);
	for (i = 0; i < n && len < errlen; i++)
		len += (size_t)snprintf(err + len, errlen - len, "%s %s", i ? "," : "", names[i]);
	return -EINVAL;
}

int parse_set_word(const char *key, const char *value, size_t max, bool may_be_empty, char *dst,
		   char *err, size_t errlen)
{
	size_t i, n = strlen(value);

	if (!n && !may_be_empty) {
		snprintf(err, errlen, "%s: empty", key);
		return -EINVAL;
	}
	if (n > max) {
		snprintf(err, errlen, "%s '%s': longer than %zu characters", key, value, max);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (value[i] < 0x21 || value[i] > 0x7e || value[i] == ',') {
			snprintf(err, errlen, "%s '%s': only printable ASCII without spaces or commas",
				 key, value);
			return -EINVAL;
		}
	}
	memcpy(dst, value, n + 1);
	return 0;
}

int parse_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}
