/* replay: run a fuzz target's inputs once each without libFuzzer (for Valgrind memcheck). */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input file: read it whole and hand it to the target. 0, or 1 when it cannot be read. */
static int replay_file(const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "rb");
	long end;

	if (!f)
		goto fail;
	if (fseek(f, 0, SEEK_END) || (end = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		goto fail;
	len = (size_t)end;
	/* libFuzzer never passes NULL; a one-byte allocation keeps empty inputs the same. */
	buf = malloc(len ? len : 1);
	if (!buf || fread(buf, 1, len, f) != len)
		goto fail;
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
fail:
	fprintf(stderr, "replay: %s: %s\n", path, errno ? strerror(errno) : "short read");
	free(buf);
	if (f)
		fclose(f);
	return 1;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of a directory, in name order so runs are repeatable. */
static int replay_dir(const char *dir, unsigned int *count)
{
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0, i;
	struct dirent *e;
	DIR *d = opendir(dir);
	int bad = 0;

	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	while ((e = readdir(d))) {
		char **grown;

		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(names, cap * sizeof(*names));
			if (!grown) {
				bad = 1;
				break;
			}
			names = grown;
		}
		if (!(names[n] = strdup(e->d_name))) {
			bad = 1;
			break;
		}
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp);
	for (i = 0; i < n; i++) {
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (!stat(path, &st) && S_ISREG(st.st_mode)) {
			bad |= replay_file(path);
			(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return bad;
}

int main(int argc, char **argv)
{
	unsigned int count = 0;
	int i, bad = 0;

	for (i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st)) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			bad = 1;
		} else if (S_ISDIR(st.st_mode)) {
			bad |= replay_dir(argv[i], &count);
		} else {
			bad |= replay_file(argv[i]);
			count++;
		}
	}
	printf("replay: %u inputs\n", count);
	return bad;
}
