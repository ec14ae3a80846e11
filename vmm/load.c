/* load: the kernel and initrd, read and checked in the first pass, loaded by the kernel stage. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/arch.h"
#include "lib/log.h"
#include "vmm/vm.h"

/* "virtio_mmio.device=4K@0xfe101000:5": one slot's second window, for kernels that look there. */
#define VIRTIO_CMDLINE_ITEM 48

/*
 * Hot-added memory comes online by itself, and in ZONE_MOVABLE, so that what virtio-mem plugs
 * is used at once and can be unplugged again (Linux leaves it offline by default).
 */
#define HOTPLUG_KEY "memhp_default_state"
#define HOTPLUG_ONLINE HOTPLUG_KEY "=online_movable"

int vm_cmdline(const struct vm_config *cfg, unsigned int ndevs, size_t max, char **out)
{
	const char *base = cfg->cmdline ? cfg->cmdline : arch_default_cmdline();
	char (*items)[VIRTIO_CMDLINE_ITEM] = calloc(ndevs ? ndevs : 1, sizeof(*items));
	/* One per device, and the hotplug state and maxcpus= when hull adds them. */
	const char **extra = calloc(ndevs + 2, sizeof(*extra));
	char maxcpus[24];
	char *line = malloc(max + 1);
	unsigned int i, n = 0;
	int ret = -ENOMEM;

	if (!items || !extra || !line)
		goto out;
	/* A user's own choice of state stands. */
	if (config_hotplug_size(cfg) && !boot_cmdline_param(base, HOTPLUG_KEY))
		extra[n++] = HOTPLUG_ONLINE;
	/* --max-cpus: the rest boot offline, unless the user's own line says how many. */
	if (cfg->max_cpus > cfg->cpus && !boot_cmdline_param(base, "maxcpus")) {
		snprintf(maxcpus, sizeof(maxcpus), "maxcpus=%u", cfg->cpus);
		extra[n++] = maxcpus;
	}
	for (i = 0; i < ndevs; i++) {
		uint64_t base_addr, alias;
		uint32_t gsi;

		/* Only the slots such kernels can use (x86_64: GSIs below 16). */
		if (arch_virtio_slot(i, &base_addr, &gsi) || arch_virtio_alias(i, &alias))
			continue;
		snprintf(items[i], sizeof(items[i]), "virtio_mmio.device=4K@0x%" PRIx64 ":%u", alias,
			 gsi);
		extra[n++] = items[i];
	}
	ret = boot_cmdline_build(line, max + 1, max, base, extra, n);
	if (ret) {
		log_msg("cmdline: longer than the kernel's limit of %zu bytes with hull's device "
			"list appended", max);
		goto out;
	}
	*out = line;
	line = NULL;
out:
	free(line);
	free(extra);
	free(items);
	return ret;
}

/*
 * The default kernel: $HULL_KERNEL, else build/guest/vmlinux next to the hull binary, booted
 * through its PVH entry: no decompression, the fastest way in.
 */
static int default_kernel(char *out, size_t cap)
{
	const char *env = getenv("HULL_KERNEL");
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;

	if (env && env[0]) {
		snprintf(out, cap, "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0) {
		log_msg("no --kernel given and /proc/self/exe: %s", strerror(errno));
		return -errno;
	}
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	if ((size_t)snprintf(out, cap, "%s/build/guest/vmlinux", exe) >= cap) {
		log_msg("no --kernel given and the default kernel's path is too long");
		return -ENAMETOOLONG;
	}
	if (access(out, R_OK) < 0) {
		log_msg("no --kernel given and the default kernel %s is missing (%s): run 'make guest-kernel'",
			out, strerror(errno));
		return -ENOENT;
	}
	return 0;
}

/* The guest's RAM as the VM will have it, reserved but never touched: where things must fit. */
struct layout {
	struct gmem mem;
	void *base;
	uint64_t size;
};

static int layout_init(struct layout *l, uint64_t mem)
{
	struct arch_ram_range ranges[ARCH_MAX_RAM_RANGES];
	unsigned int i, n = arch_ram_layout(mem, ranges);
	uint64_t off = 0;
	int ret;

	*l = (struct layout){ .size = mem };
	/* Address space only: PROT_NONE and MAP_NORESERVE commit no memory, nothing reads it. */
	l->base = mmap(NULL, mem, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (l->base == MAP_FAILED) {
		ret = -errno;
		log_msg("guest memory: cannot reserve %" PRIu64 " MiB of address space: %s",
			mem >> 20, strerror(-ret));
		l->base = NULL;
		return ret;
	}
	for (i = 0; i < n; i++) {
		ret = gmem_add(&l->mem, ranges[i].gpa, ranges[i].size, (uint8_t *)l->base + off);
		if (ret)
			return ret;
		off += ranges[i].size;
	}
	return 0;
}

static void layout_free(struct layout *l)
{
	if (l->base)
		munmap(l->base, l->size);
	l->base = NULL;
}

/* Where an initrd of len bytes goes for the kernel in boot, in RAM shaped like mem. */
static int place_initrd(const struct gmem *mem, const struct boot_image *boot, uint64_t ram_mib,
			const char *what, uint64_t len, uint64_t *gpa)
{
	uint64_t floor = (boot->load_end + 0xfff) & ~0xfffULL;
	uint64_t ram_end = arch_initrd_ram_end(mem), limit = (uint64_t)boot->initrd_addr_max + 1;
	int ret = boot_place_initrd(floor, ram_end, limit, len, gpa);

	if (ret)
		log_msg("%s: %" PRIu64 " KiB does not fit between the kernel's end (0x%" PRIx64
			") and 0x%" PRIx64 " in %" PRIu64 " MiB of guest memory",
			what, len >> 10, floor, ram_end < limit ? ram_end : limit, ram_mib);
	return ret;
}

/*
 * The initrd: --initrd FILE (opened, a non-empty regular file), none, or the demo initramfs
 * when neither the kernel nor the initrd was given (a bare `hull vm`).
 */
static int open_initrd(const struct vm_config *cfg, struct vm_prep *p)
{
	const char *path = cfg->initrd;
	struct stat st;
	int ret;

	if (!path && !cfg->kernel) {
		boot_cpio_init(&p->demo);
		p->has_demo = true;
		ret = boot_demo_initramfs(&p->demo);
		if (ret)
			log_msg("demo initramfs: %s", strerror(-ret));
		p->image = p->demo.buf;
		p->initrd_len = p->demo.len;
		return ret;
	}
	if (!path || !strcmp(path, CONFIG_INITRD_NONE))
		return 0;
	p->initrd_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (p->initrd_fd < 0 || fstat(p->initrd_fd, &st) < 0) {
		ret = -errno;
		log_msg("initrd %s: %s", path, strerror(-ret));
		return ret;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0) {
		log_msg("initrd %s: %s", path, S_ISDIR(st.st_mode) ? strerror(EISDIR) :
			st.st_size == 0 ? "empty file" : "not a regular file");
		return -EINVAL;
	}
	p->initrd_len = (uint64_t)st.st_size;
	return 0;
}

/*
 * The kernel file, opened: the loaders read its headers and then its payload straight into
 * guest memory (no copy of the image passes through hull's heap).
 */
static int open_kernel(const char *path, struct boot_src *k)
{
	struct stat st;
	int ret;

	k->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (k->fd < 0 || fstat(k->fd, &st) < 0) {
		ret = -errno;
		log_msg("kernel %s: %s", path, strerror(-ret));
		return ret;
	}
	if (!S_ISREG(st.st_mode)) {
		log_msg("kernel %s: %s", path, S_ISDIR(st.st_mode) ? strerror(EISDIR) :
			"not a regular file");
		return -EINVAL;
	}
	k->len = (uint64_t)st.st_size;
	return 0;
}

int vm_check_kernel(const struct vm_config *cfg, struct vm_prep *p)
{
	const char *path = p->kernel_path, *msg = NULL;
	char what[PATH_MAX + 16], *line = NULL;
	struct layout l;
	int ret;

	if (cfg->kernel) {
		snprintf(p->kernel_path, sizeof(p->kernel_path), "%s", cfg->kernel);
	} else {
		ret = default_kernel(p->kernel_path, sizeof(p->kernel_path));
		if (ret)
			return ret;
	}
	ret = open_kernel(path, &p->kernel);
	if (ret)
		return ret;
	ret = layout_init(&l, cfg->mem);
	if (ret)
		goto out;
	ret = arch_check_kernel(&l.mem, &p->kernel, &p->boot, &msg);
	if (ret) {
		log_msg("kernel %s: %s", path, msg ? msg : strerror(-ret));
		goto out;
	}
	if (!cfg->kernel_packed)
		vm_unpack_kernel(cfg, p, &l.mem);
	ret = open_initrd(cfg, p);
	if (ret || !p->initrd_len)
		goto cmdline;
	if (p->has_demo)
		snprintf(what, sizeof(what), "demo initramfs");
	else
		snprintf(what, sizeof(what), "initrd %s", cfg->initrd);
	ret = place_initrd(&l.mem, &p->boot, cfg->mem >> 20, what, p->initrd_len, &p->initrd_gpa);
cmdline:
	if (!ret)
		ret = vm_cmdline(cfg, config_ndevs(cfg), p->boot.cmdline_size, &line);
	free(line);
out:
	layout_free(&l);
	return ret;
}

int vm_load_kernel(struct vm *vm)
{
	struct vm_prep *p = vm->prep;
	const char *msg = NULL;
	uint64_t got = 0;
	uint8_t *dst;
	int ret;

	/* The same memory shape as the check's, so the same place, by the kernel as checked. */
	if (p->initrd_len) {
		ret = place_initrd(&vm->mem, &p->boot, vm->cfg->mem >> 20, "initrd", p->initrd_len,
				   &vm->initrd_gpa);
		if (ret)
			return ret;
	}
	if (p->kaslr.on)
		ret = arch_kaslr_load(&vm->mem, &p->kernel, &p->kaslr, vm->initrd_gpa,
				      p->initrd_len, &vm->boot, &msg);
	else
		ret = arch_load_kernel(&vm->mem, &p->kernel, &vm->boot, &msg);
	close(p->kernel.fd); /* in guest memory now, or failed */
	p->kernel.fd = -1;
	if (ret) {
		log_msg("kernel %s: %s", p->kernel_path, msg ? msg : strerror(-ret));
		return ret;
	}
	if (p->kaslr.on)
		log_debug("kernel %s: at 0x%" PRIx64 ", virtual offset 0x%" PRIx64 " (KASLR by hull)",
			  p->kernel_path, p->kaslr.phys, p->kaslr.virt - p->kaslr.base);
	if (!p->initrd_len)
		return 0;
	vm->initrd_len = p->initrd_len;
	dst = gmem_ptr(&vm->mem, vm->initrd_gpa, vm->initrd_len);
	if (!dst)
		return -EFAULT;
	if (p->image) {
		memcpy(dst, p->image, vm->initrd_len);
		goto done;
	}
	/* Straight into guest memory: no second copy of a large initrd in hull. */
	while (got < vm->initrd_len) {
		ssize_t n = read(p->initrd_fd, dst + got, vm->initrd_len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			log_msg("initrd %s: %s", vm->cfg->initrd,
				n < 0 ? strerror(errno) : "file shrank while reading");
			return ret;
		}
		got += (uint64_t)n;
	}
done:
	/* In guest memory now: hull need not hold the file or the demo's copy while the VM runs. */
	vm_prep_free_boot(p);
	return 0;
}

void vm_prep_free_boot(struct vm_prep *p)
{
	if (p->kernel.fd >= 0)
		close(p->kernel.fd);
	p->kernel.fd = -1;
	if (p->initrd_fd >= 0)
		close(p->initrd_fd);
	p->initrd_fd = -1;
	if (p->has_demo)
		boot_cpio_free(&p->demo);
	p->has_demo = false;
	p->image = NULL;
}

int vm_prep_initramfs(const struct vm_config *cfg, struct vm_prep *p, const uint8_t *img,
		      size_t len, const char *what)
{
	struct layout l;
	int ret;

	if (p->initrd_len || !len)
		return -EINVAL; /* the config had an initrd already, or there is nothing */
	ret = layout_init(&l, cfg->mem);
	if (!ret)
		ret = place_initrd(&l.mem, &p->boot, cfg->mem >> 20, what, len, &p->initrd_gpa);
	layout_free(&l);
	if (ret)
		return ret;
	p->image = img;
	p->initrd_len = len;
	return 0;
}
