/* plan: from a checked bundle to the spec hull-init runs and the host's plan of the devices it needs. */
#include "container/plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

int ctr_disk_name(unsigned int index, char *buf, size_t size)
{
	char letters[8];
	size_t n = 0;
	long i = index;

	/* As virtblk_name_format(): a..z, then aa..zz, then aaa... (bijective base 26). */
	do {
		if (n == sizeof(letters))
			return -ENAMETOOLONG;
		letters[n++] = (char)('a' + i % 26);
		i = i / 26 - 1;
	} while (i >= 0);
	if (size < 3 + n)
		return -ENAMETOOLONG;
	buf[0] = 'v';
	buf[1] = 'd';
	for (size_t k = 0; k < n; k++)
		buf[2 + k] = letters[n - 1 - k];
	buf[2 + n] = '\0';
	return 0;
}

/* NULL stays NULL; -ENOMEM otherwise. */
static int dup_opt(const char *src, char **out)
{
	*out = src ? strdup(src) : NULL;
	return src && !*out ? -ENOMEM : 0;
}

static int plan_mounts(const struct ctr_bundle *b, struct ctr_spec *s, struct ctr_plan *p)
{
	const struct ctr_bmount *bm;
	struct ctr_share_entry *e;
	struct ctr_mount *m;
	const char *type;
	unsigned int i;

	s->mounts = calloc(b->nmounts ? b->nmounts : 1, sizeof(*s->mounts));
	p->entries = calloc(b->nmounts ? b->nmounts : 1, sizeof(*p->entries));
	if (!s->mounts || !p->entries)
		return -ENOMEM;
	for (i = 0; i < b->nmounts; i++) {
		bm = &b->mounts[i];
		m = &s->mounts[s->nmounts++];
		m->flags = bm->flags;
		m->propagation = bm->propagation;
		type = !strcmp(bm->type, "cgroup") ? "cgroup2" : bm->type;
		if (dup_opt(bm->dest, &m->dest) || dup_opt(type, &m->type) ||
		    dup_opt(bm->data, &m->data))
			return -ENOMEM;
		if (strcmp(bm->type, "bind")) {
			if (dup_opt(bm->source ? bm->source : bm->type, &m->source))
				return -ENOMEM;
			continue;
		}
		e = &p->entries[p->nentries];
		snprintf(e->name, sizeof(e->name), "m%u", p->nentries);
		p->nentries++;
		e->is_file = bm->is_file;
		e->ro = bm->flags & MS_RDONLY;
		if (dup_opt(bm->source, &e->host) || dup_opt(e->name, &m->source))
			return -ENOMEM;
	}
	if (p->nentries && dup_opt(CTR_MOUNTS_TAG, &s->mounts_tag))
		return -ENOMEM;
	return 0;
}

static int plan_devices(const struct ctr_bundle *b, unsigned int first_disk, struct ctr_spec *s,
			struct ctr_plan *p, char *err, size_t errlen)
{
	const struct ctr_bdevice *bd;
	struct ctr_device *d;
	struct ctr_disk *k;
	unsigned int i, j;

	s->devices = calloc(b->ndevices ? b->ndevices : 1, sizeof(*s->devices));
	p->disks = calloc(b->ndevices ? b->ndevices : 1, sizeof(*p->disks));
	if (!s->devices || !p->disks)
		return -ENOMEM;
	for (i = 0; i < b->ndevices; i++) {
		bd = &b->devices[i];
		d = &s->devices[s->ndevices++];
		*d = (struct ctr_device){ .type = bd->type, .major = bd->major, .minor = bd->minor,
					  .mode = bd->mode, .uid = bd->uid, .gid = bd->gid };
		if (dup_opt(bd->path, &d->path))
			return -ENOMEM;
		if (bd->type != 'b')
			continue;
		for (j = 0; j < p->ndisks; j++) {
			if (!strcmp(p->disks[j].host, bd->host)) {
				snprintf(err, errlen, "linux.devices[%u] (%.80s): host device %.80s is "
					 "passed in twice", i, bd->path, bd->host);
				return -EINVAL;
			}
		}
		k = &p->disks[p->ndisks];
		strcpy(k->guest, "/dev/");
		if (ctr_disk_name(first_disk + p->ndisks, k->guest + 5, sizeof(k->guest) - 5)) {
			snprintf(err, errlen, "linux.devices[%u] (%.80s): too many disks", i,
				 bd->path);
			return -E2BIG;
		}
		snprintf(k->serial, sizeof(k->serial), CTR_DISK_SERIAL, p->ndisks);
		p->ndisks++;
		if (dup_opt(bd->host, &k->host) || dup_opt(k->guest, &d->guest_source))
			return -ENOMEM;
	}
	return 0;
}

static int build(const struct ctr_bundle *b, unsigned int first_disk, struct ctr_spec *s,
		 struct ctr_plan *p, char *err, size_t errlen)
{
	uint8_t *enc;
	size_t len;
	int ret;

	p->rootfs_ro = s->root_ro = b->root_ro;
	s->privileged = b->privileged;
	if (dup_opt(b->root, &p->rootfs) || dup_opt(CTR_ROOTFS_TAG, &s->root_tag) ||
	    dup_opt(b->hostname, &s->hostname) || dup_opt(b->domainname, &s->domainname) ||
	    ctr_strv_dup((const char *const *)b->sysctls, b->nsysctls, &s->sysctls, &s->nsysctls) ||
	    ctr_strv_dup((const char *const *)b->masked, b->nmasked, &s->masked, &s->nmasked) ||
	    ctr_strv_dup((const char *const *)b->readonly, b->nreadonly, &s->readonly,
			 &s->nreadonly))
		return -ENOMEM;
	ret = ctr_process_copy(&s->process, &b->process) ?:
	      ctr_resources_copy(&s->resources, &b->resources);
	if (ret) {
		snprintf(err, errlen, "process or resources: %s",
			 ret == -E2BIG ? "larger than a spec may be" : "not valid for the guest");
		return ret;
	}
	ret = plan_mounts(b, s, p) ?: plan_devices(b, first_disk, s, p, err, errlen);
	if (ret)
		return ret;
	ret = ctr_spec_encode(s, &enc, &len);
	if (ret == -E2BIG)
		snprintf(err, errlen, "the container's spec is larger than %u bytes or has more "
			 "than %u entries in a list", CTR_SPEC_MAX, CTR_LIST_MAX);
	else if (ret)
		snprintf(err, errlen, "the container's spec is not valid for the guest");
	else
		free(enc);
	return ret;
}

int ctr_plan_build(const struct ctr_bundle *b, unsigned int first_disk, struct ctr_spec *s,
		   struct ctr_plan *p, char *err, size_t errlen)
{
	int ret;

	memset(s, 0, sizeof(*s));
	memset(p, 0, sizeof(*p));
	ret = build(b, first_disk, s, p, err, errlen);
	if (ret == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (ret) {
		ctr_spec_free(s);
		ctr_plan_free(p);
	}
	return ret;
}

void ctr_plan_free(struct ctr_plan *p)
{
	unsigned int i;

	free(p->rootfs);
	for (i = 0; p->entries && i < p->nentries; i++)
		free(p->entries[i].host);
	free(p->entries);
	for (i = 0; p->disks && i < p->ndisks; i++)
		free(p->disks[i].host);
	free(p->disks);
	memset(p, 0, sizeof(*p));
}
