/* Unit tests for the device registry: slots, transport, ids, lookup, creation, teardown order. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "tests/unit/virtio_env.h"
#include "vmm/vm.h"

#define RAM_GPA 0x100000ULL
#define RAM_SIZE (1ULL << 20)
#define MAX_FAKES 64

/* A device that does nothing but say when it is destroyed, and of which kind it is. */
struct fake {
	struct virtio_dev dev;
	unsigned int serial; /* creation order */
};

static struct {
	struct virtio_env v;
	struct vm *vm;
	unsigned int created, destroyed;
	unsigned int order[MAX_FAKES]; /* serials, in the order they were destroyed */
	int fail_create_at;            /* create fails for the device of this serial; -1: never */
	unsigned int released;         /* check results released without a create */
} e;

static void fake_notify(struct virtio_dev *d, unsigned int q)
{
	(void)d;
	(void)q;
}

static void fake_destroy(struct virtio_dev *d)
{
	struct fake *f = container_of(d, struct fake, dev);

	/* The registry detaches before destroy: nothing of the transport is left. */
	assert_false(d->attached);
	assert_int_equal(d->irq_fd, -1);
	e.order[e.destroyed++] = f->serial;
	pthread_mutex_destroy(&d->lock);
	free(f);
}

static const struct virtio_dev_ops fake_ops = {
	.type = "fake", .device_id = 42, .notify = fake_notify, .destroy = fake_destroy,
};

static int fake_create(const void *cfg, void *res, unsigned int index,
		       const struct virtio_host *host, struct virtio_dev **out)
{
	struct fake *f;
	char name[32];

	(void)cfg;
	(void)host;
	free(res); /* create takes res, whatever it returns */
	if ((int)e.created == e.fail_create_at) {
		e.created++;
		return -EIO;
	}
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(name, sizeof(name), "virtio-fake %u", index);
	assert_int_equal(virtio_dev_init(&f->dev, &fake_ops, name, 1, 8, 0, 0), 0);
	f->serial = e.created++;
	*out = &f->dev;
	return 0;
}

static int fake_check(const void *cfg, unsigned int index, void **res)
{
	(void)cfg;
	(void)index;
	*res = malloc(1);
	return *res ? 0 : -ENOMEM;
}

static void fake_release(void *res)
{
	e.released++;
	free(res);
}

static void fake_describe(const void *cfg, unsigned int index, char *buf, size_t len)
{
	(void)cfg;
	snprintf(buf, len, "fake %u", index);
}

static const struct virtio_kind fake_kind = {
	.name = "fake", .json = "fakes", .form = VIRTIO_KIND_SWITCH, .arg = "on|off",
	.help = "x\n", .describe = fake_describe, .check = fake_check, .release = fake_release,
	.create = fake_create,
};
static const struct virtio_kind other_kind = {
	.name = "other", .json = "others", .form = VIRTIO_KIND_SWITCH, .arg = "on|off",
	.help = "x\n", .describe = fake_describe, .create = fake_create,
};

static struct virtio_dev *new_fake(void)
{
	struct virtio_dev *d;

	assert_int_equal(fake_create(NULL, NULL, e.created, &e.v.host, &d), 0);
	return d;
}

static int count_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(dir);
	while ((de = readdir(dir)))
		n += de->d_name[0] != '.';
	closedir(dir);
	return n;
}

static int setup(void **state)
{
	(void)state;
	memset(&e, 0, sizeof(e));
	e.fail_create_at = -1;
	if (virtio_env_init(&e.v, RAM_GPA, RAM_SIZE, NULL, NULL))
		return -1;
	e.vm = calloc(1, sizeof(*e.vm));
	if (!e.vm)
		return -1;
	e.vm->vhost = e.v.host;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vm_remove_devices(e.vm);
	free(e.vm);
	virtio_env_fini(&e.v);
	return 0;
}

/* Each device gets the next slot, its transport there, and an id numbered within its kind. */
static void test_add_and_find(void **state)
{
	const char *id;
	uint64_t base;
	uint32_t gsi;
	struct vm_dev *d;
	unsigned int i;

	(void)state;
	assert_int_equal(vm_add_device(e.vm, &fake_kind, new_fake(), &id), 0);
	assert_string_equal(id, "fake0");
	assert_int_equal(vm_add_device(e.vm, &other_kind, new_fake(), &id), 0);
	assert_string_equal(id, "other0");
	assert_int_equal(vm_add_device(e.vm, &fake_kind, new_fake(), NULL), 0);
	assert_int_equal(e.vm->ndevs, 3);
	assert_string_equal(e.vm->devs[2].id, "fake1");
	for (i = 0; i < 3; i++) {
		assert_int_equal(arch_virtio_slot(i, &base, &gsi), 0);
		assert_int_equal(e.vm->devs[i].base, base);
		assert_int_equal(e.vm->devs[i].gsi, gsi);
		assert_true(e.vm->devs[i].dev->attached);
		assert_int_equal(e.vm->devs[i].dev->base, base);
		assert_int_equal(e.vm->devs[i].dev->gsi, gsi);
		/* The guest reaches it at its window. */
		assert_ptr_equal(e.v.mmio.r[i].dev, e.vm->devs[i].dev);
		assert_int_equal(e.v.mmio.r[i].base, base);
	}
	assert_ptr_equal(e.vm->devs[1].kind, &other_kind);
	d = vm_find_device(e.vm, "fake1");
	assert_non_null(d);
	assert_ptr_equal(d, &e.vm->devs[2]);
	assert_ptr_equal(vm_find_device(e.vm, "other0"), &e.vm->devs[1]);
	assert_null(vm_find_device(e.vm, "fake2"));
	assert_null(vm_find_device(e.vm, "fake"));
	assert_null(vm_find_device(e.vm, ""));
}

/* One loop in reverse: the last added is destroyed first, every descriptor given back. */
static void test_teardown_order(void **state)
{
	int before = count_fds();
	unsigned int i;

	(void)state;
	for (i = 0; i < 5; i++)
		assert_int_equal(vm_add_device(e.vm, i & 1 ? &other_kind : &fake_kind, new_fake(),
					       NULL),
				 0);
	assert_true(count_fds() > before);
	vm_remove_devices(e.vm);
	assert_int_equal(e.vm->ndevs, 0);
	assert_int_equal(e.destroyed, 5);
	for (i = 0; i < 5; i++)
		assert_int_equal(e.order[i], 4 - i);
	assert_int_equal(count_fds(), before);
	vm_remove_devices(e.vm); /* twice is fine */
	assert_int_equal(e.destroyed, 5);
}

/* Past the last slot: refused, named, and the device (the VM's from the call on) destroyed. */
static void test_slots_run_out(void **state)
{
	unsigned int i, slots = arch_virtio_slots();
	char *log, want[64];

	(void)state;
	for (i = 0; i < slots; i++)
		assert_int_equal(vm_add_device(e.vm, &fake_kind, new_fake(), NULL), 0);
	virtio_env_capture_start();
	assert_int_equal(vm_add_device(e.vm, &fake_kind, new_fake(), NULL), -ENOSPC);
	log = virtio_env_capture_end();
	snprintf(want, sizeof(want), "virtio-fake %u: no room for another virtio device", slots);
	if (!strstr(log, want))
		fail_msg("message: %s", log);
	assert_int_equal(e.vm->ndevs, slots);
	assert_int_equal(e.destroyed, 1);
	assert_int_equal(e.order[0], slots);
}

/* The "virtio" stage: cfg's devices, created from the first pass's resources, in cfg's order. */
static void test_create_devices(void **state)
{
	struct vm_config cfg = { 0 };
	struct vm_prep prep = { .initrd_fd = -1, .kernel.fd = -1 };
	unsigned int i;

	(void)state;
	cfg.ndevs = 4;
	for (i = 0; i < cfg.ndevs; i++) {
		cfg.devs[i].kind = i == 2 ? &other_kind : &fake_kind;
		prep.res_kind[i] = cfg.devs[i].kind;
		if (cfg.devs[i].kind->check)
			assert_int_equal(cfg.devs[i].kind->check(NULL, i, &prep.res[i]), 0);
	}
	e.vm->cfg = &cfg;
	e.vm->prep = &prep;
	assert_int_equal(vm_create_devices(e.vm), 0);
	assert_int_equal(e.vm->ndevs, 4);
	assert_string_equal(e.vm->devs[0].id, "fake0");
	assert_string_equal(e.vm->devs[1].id, "fake1");
	assert_string_equal(e.vm->devs[2].id, "other0");
	assert_string_equal(e.vm->devs[3].id, "fake2");
	/* Every resource was taken by its create: nothing left to release. */
	for (i = 0; i < cfg.ndevs; i++)
		assert_null(prep.res[i]);
	vm_prep_free(&prep);
	assert_int_equal(e.released, 0);
	vm_remove_devices(e.vm);

	/* A create fails: what was added stays for the stage's undo, the rest is released. */
	bus_init(&e.v.mmio, "mmio"); /* a bus never unregisters: a fresh one for the slots */
	e.created = 0;
	e.fail_create_at = 1;
	for (i = 0; i < cfg.ndevs; i++)
		if (cfg.devs[i].kind->check)
			assert_int_equal(cfg.devs[i].kind->check(NULL, i, &prep.res[i]), 0);
	assert_int_equal(vm_create_devices(e.vm), -EIO);
	assert_int_equal(e.vm->ndevs, 1);
	vm_prep_free(&prep);
	assert_int_equal(e.released, 1); /* device 3's: device 2 has no check, 1 failed in create */
	vm_remove_devices(e.vm);
	e.vm->cfg = NULL;
	e.vm->prep = NULL;
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_add_and_find),
		T(test_teardown_order),
		T(test_slots_run_out),
		T(test_create_devices),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
