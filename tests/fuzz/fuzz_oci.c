/* libFuzzer target: arbitrary bytes as a bundle's config.json, then the plan for the guest; must never crash or leak. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/oci.h"
#include "container/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One bundle for every input: rootfs/, data/ with sub/, file.txt, dev/ (no nodes). */
static char dir[64];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_bundle(void)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void make_bundle(void)
{
	static const char *const dirs[] = { "rootfs", "data", "data/sub", "dev" };
	char path[128];
	size_t i;
	int fd;

	strcpy(dir, "/tmp/hull-fuzz-oci-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	atexit(rm_bundle);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, dirs[i]);
		if (mkdir(path, 0755))
			abort();
	}
	snprintf(path, sizeof(path), "%s/file.txt", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	if (fd < 0)
		abort();
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctr_bundle b;
	struct ctr_spec s;
	struct ctr_plan p;
	char err[512], devdir[96];
	unsigned int i;
	int ret;

	if (!dir[0])
		make_bundle();
	snprintf(devdir, sizeof(devdir), "%s/dev", dir);
	err[0] = '\0';
	ret = ctr_oci_parse((const char *)data, size, dir, devdir, &b, err, sizeof(err));
	/* Every refusal says why. */
	if (ret && (ret > 0 || !err[0]))
		abort();
	if (ret)
		return 0;
	/* What is accepted has a root, a command, and bind sources that exist on the host. */
	if (!b.root || !b.process.nargs || !b.process.args[0][0] || !b.process.cwd ||
	    b.process.cwd[0] != '/')
		abort();
	for (i = 0; i < b.nmounts; i++) {
		struct stat st;

		if (!b.mounts[i].dest || b.mounts[i].dest[0] != '/' || !b.mounts[i].type)
			abort();
		if (!strcmp(b.mounts[i].type, "bind") &&
		    (!b.mounts[i].source || stat(b.mounts[i].source, &st) ||
		     b.mounts[i].is_file != !!S_ISREG(st.st_mode)))
			abort();
	}
	/* What plans is a spec hull-init decodes. */
	ret = ctr_plan_build(&b, 0, &s, &p, err, sizeof(err));
	if (ret == 0) {
		uint8_t *enc;
		size_t len;
		struct ctr_spec t;

		if (ctr_spec_encode(&s, &enc, &len) || ctr_spec_decode(enc, len, &t))
			abort();
		free(enc);
		ctr_spec_free(&t);
		ctr_spec_free(&s);
		ctr_plan_free(&p);
	} else if (ret != -E2BIG && ret != -EINVAL && ret != -ENOMEM) {
		abort();
	}
	ctr_bundle_free(&b);
	return 0;
}
