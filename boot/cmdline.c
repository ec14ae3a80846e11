/* cmdline: join the user's command line with the options hull adds. */
#include "boot/boot.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* Append s (with a separating space unless out is empty); -E2BIG past max. */
static int append(char *out, size_t *pos, size_t max, const char *s)
{
	size_t n, sep;

	if (!s || !*s)
		return 0;
	n = strlen(s);
	sep = *pos ? 1 : 0;
	if (n > max - *pos || sep > max - *pos - n)
		return -E2BIG;
	if (sep)
		out[(*pos)++] = ' ';
	memcpy(out + *pos, s, n);
	*pos += n;
	return 0;
}

int boot_cmdline_build(char *out, size_t cap, size_t max_len, const char *base,
		       const char *const *extra, size_t nextra)
{
	size_t pos = 0, max, i;
	int err;

	if (!out || cap == 0)
		return -E2BIG;
	if (nextra && !extra)
		return -EINVAL;
	/* The result and its NUL must fit in cap, and the kernel takes max_len. */
	max = cap - 1 < max_len ? cap - 1 : max_len;

	err = append(out, &pos, max, base);
	for (i = 0; !err && i < nextra; i++)
		err = append(out, &pos, max, extra[i]);
	if (err) {
		out[0] = '\0';
		return err;
	}
	out[pos] = '\0';
	return 0;
}

/* key as an option of its own among line's words, or (with_value) as key=VALUE too. */
static bool find_option(const char *line, const char *key, bool with_value)
{
	size_t n = strlen(key), len;

	while (line && *line) {
		line += strspn(line, " \t\n");
		len = strcspn(line, " \t\n");
		if (n && len >= n && !memcmp(line, key, n) &&
		    (len == n || (with_value && line[n] == '=')))
			return true;
		line += len;
	}
	return false;
}

bool boot_cmdline_param(const char *line, const char *key)
{
	return find_option(line, key, true);
}

bool boot_cmdline_has(const char *line, const char *word)
{
	return find_option(line, word, false);
}
