/* libFuzzer target: a user's modules.dep and modules.builtin, and kernel images' release strings. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "container/initramfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The input: a first line of wanted module names (space-separated, at most 8), then
 * modules.dep's text up to a NUL byte, then modules.builtin's. Whatever they hold, the
 * answer is a list in which every module comes after what it depends on, each once, or a
 * refusal with a reason; never a crash, a hang or a leak.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *nl = memchr(text, '\n', size), *nul;
	char *line, *w, *save = NULL, err[256], rel[CTR_RELEASE_MAX + 1];
	const char *wanted[8];
	struct ctr_modules m;
	unsigned int n = 0, i, j;
	size_t head, deplen;

	struct boot_src img = { .buf = data, .fd = -1, .len = size };

	if (ctr_kernel_release(&img, rel, sizeof(rel)) == 0 &&
	    (!rel[0] || strchr(rel, '/') || strlen(rel) > CTR_RELEASE_MAX))
		abort();
	head = nl ? (size_t)(nl - text) + 1 : size;
	line = strndup(text, head);
	if (!line)
		return 0;
	for (w = strtok_r(line, " \n", &save); w && n < 8; w = strtok_r(NULL, " \n", &save))
		wanted[n++] = w;
	nul = memchr(text + head, '\0', size - head);
	deplen = nul ? (size_t)(nul - (text + head)) : size - head;
	err[0] = '\0';
	if (ctr_modules_from(text + head, deplen, nul ? nul + 1 : NULL,
			     nul ? size - head - deplen - 1 : 0, wanted, n, &m, err, sizeof(err))) {
		if (m.mods || m.n || !err[0])
			abort();
	} else {
		if (m.n > CTR_MODULES_MAX)
			abort();
		for (i = 0; i < m.n; i++) {
			if (!m.mods[i].file[0] || strchr(m.mods[i].file, '/') ||
			    strlen(m.mods[i].file) > CTR_MODULE_NAME_MAX)
				abort();
			for (j = 0; j < i; j++)
				if (!strcmp(m.mods[i].path, m.mods[j].path))
					abort();
		}
	}
	ctr_modules_free(&m);
	free(line);
	return 0;
}
