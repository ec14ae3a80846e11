/* load: the kernel and initrd stage — read the images, place them in guest memory. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/arch.h"
#include "lib/file.h"
#include "lib/log.h"
#include "vmm/vm.h"

/* Largest kernel image hull reads (a bzImage is ~10 MiB; an unstripped vmlinux can be ~500). */
#define KERNEL_FILE_MAX (1ULL << 30)

static int place_initrd(struct vm *vm, const char *what, uint64_t len)
{
	uint64_t floor = (vm->boot.load_end + 0xfff) & ~0xfffULL;
	uint64_t ram_end = arch_initrd_ram_end(&vm->mem);
	int ret = boot_place_initrd(floor, ram_end, (uint64_t)vm->boot.initrd_addr_max + 1, len,
				    &vm->initrd_gpa);

	if (ret) {
		log_msg("%s: %" PRIu64 " KiB does not fit between the kernel's end (0x%" PRIx64
			") and 0x%" PRIx64 " in %" PRIu64 " MiB of guest memory",
			what, len >> 10, floor, ram_end < (uint64_t)vm->boot.initrd_addr_max + 1 ?
			ram_end : (uint64_t)vm->boot.initrd_addr_max + 1, vm->cfg->mem >> 20);
		vm->exit_status = VM_EXIT_USAGE;
		return ret;
	}
	vm->initrd_len = len;
	return 0;
}

static int load_demo_initrd(struct vm *vm)
{
	struct cpio c;
	void *dst;
	int ret;

	boot_cpio_init(&c);
	ret = boot_demo_initramfs(&c);
	if (ret) {
		log_msg("demo initramfs: %s", strerror(-ret));
		goto out;
	}
	ret = place_initrd(vm, "demo initramfs", c.len);
	if (ret)
		goto out;
	dst = gmem_ptr(&vm->mem, vm->initrd_gpa, c.len);
	if (!dst) {
		ret = -EFAULT;
		goto out;
	}
	memcpy(dst, c.buf, c.len);
out:
	boot_cpio_free(&c);
	return ret;
}

static int load_initrd(struct vm *vm)
{
	const char *path = vm->cfg->initrd;
	struct stat st;
	uint64_t got = 0;
	uint8_t *dst;
	int fd, ret;

	if (!path)
		return load_demo_initrd(vm);
	if (!strcmp(path, CONFIG_INITRD_NONE))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		log_msg("initrd %s: %s", path, strerror(errno));
		vm->exit_status = VM_EXIT_USAGE;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0) {
		ret = -EINVAL;
		log_msg("initrd %s: %s", path, S_ISDIR(st.st_mode) ? strerror(EISDIR) :
			st.st_size == 0 ? "empty file" : "not a regular file");
		vm->exit_status = VM_EXIT_USAGE;
		goto out;
	}
	{
		char what[PATH_MAX + 16];

		snprintf(what, sizeof(what), "initrd %s", path);
		ret = place_initrd(vm, what, (uint64_t)st.st_size);
		if (ret)
			goto out;
	}
	dst = gmem_ptr(&vm->mem, vm->initrd_gpa, vm->initrd_len);
	if (!dst) {
		ret = -EFAULT;
		goto out;
	}
	/* Straight into guest memory: no second copy of a large initrd in hull. */
	while (got < vm->initrd_len) {
		ssize_t n = read(fd, dst + got, vm->initrd_len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			log_msg("initrd %s: %s", path, n < 0 ? strerror(errno) : "file shrank while reading");
			goto out;
		}
		got += (uint64_t)n;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
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
	if (n < 0)
		return -errno;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	if ((size_t)snprintf(out, cap, "%s/build/guest/vmlinux", exe) >= cap)
		return -ENAMETOOLONG;
	if (access(out, R_OK) < 0) {
		log_msg("no --kernel given and the default kernel %s is missing (%s): run 'make guest-kernel'",
			out, strerror(errno));
		return -ENOENT;
	}
	return 0;
}

int vm_load_kernel(struct vm *vm)
{
	char path[PATH_MAX];
	const char *msg = NULL;
	uint8_t *img = NULL;
	size_t len = 0;
	int ret;

	if (vm->cfg->kernel) {
		snprintf(path, sizeof(path), "%s", vm->cfg->kernel);
	} else {
		ret = default_kernel(path, sizeof(path));
		if (ret)
			return ret;
	}
	ret = file_read_all(path, KERNEL_FILE_MAX, &img, &len);
	if (ret) {
		log_msg("kernel %s: %s", path, ret == -EFBIG ? "larger than the 1 GiB limit" :
			file_strerror(ret));
		vm->exit_status = VM_EXIT_USAGE;
		return ret;
	}
	ret = arch_load_kernel(&vm->mem, img, len, &vm->boot, &msg);
	free(img);
	if (ret) {
		log_msg("kernel %s: %s", path, msg ? msg : strerror(-ret));
		vm->exit_status = VM_EXIT_USAGE;
		return ret;
	}
	return load_initrd(vm);
}
