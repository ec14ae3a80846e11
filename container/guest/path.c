/* path: how hull-init finds and reports a container process's executable — PATH search, 127/126. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "container/guest/guest.h"

const char *gi_env_path(char *const *env, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (!strncmp(env[i], "PATH=", 5))
			return env[i] + 5;
	return GI_DEFAULT_PATH;
}

/* Errors after which the next PATH entry is tried, as execvp(3) does. */
static bool keep_looking(int err)
{
	return err == ENOENT || err == ENOTDIR || err == EACCES || err == ENOEXEC || err == ELOOP ||
	       err == ENAMETOOLONG;
}

int gi_exec_search(const char *file, const char *path_env, gi_try_fn *try_exec, void *ctx)
{
	char cand[PATH_MAX];
	size_t flen = strlen(file), dlen;
	const char *dir, *end;
	bool denied = false;
	int err = ENOENT;

	if (!flen)
		return ENOENT;
	if (strchr(file, '/'))
		return try_exec(file, ctx);
	for (dir = path_env;; dir = end + 1) {
		end = strchrnul(dir, ':');
		dlen = (size_t)(end - dir);
		if (dlen + 1 + flen < sizeof(cand)) {
			/* An empty entry is the current directory. */
			if (dlen) {
				memcpy(cand, dir, dlen);
				cand[dlen++] = '/';
			}
			memcpy(cand + dlen, file, flen + 1);
			err = try_exec(cand, ctx);
			if (err == EACCES)
				denied = true;
			if (!keep_looking(err))
				return err;
		}
		if (!*end)
			break;
	}
	return denied ? EACCES : err;
}

int gi_exec_status(int err)
{
	return err == ENOENT ? 127 : 126;
}
