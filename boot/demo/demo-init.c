/* demo-init: /init of hull's demo guest — report what the guest sees, mark the boot timer, power off. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "arch/x86_64/layout.h"

static void read_line(const char *path, const char *key, char *out, size_t len)
{
	FILE *f = fopen(path, "r");
	char line[256];

	snprintf(out, len, "?");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!key || !strncmp(line, key, strlen(key))) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(out, len, "%s", line + (key ? strlen(key) : 0));
			break;
		}
	}
	fclose(f);
}

/* Tell hull's boot timer (Firecracker's protocol) that userspace is up. */
static void mark_boot_timer(void)
{
	int fd = open("/dev/mem", O_RDWR | O_SYNC);
	volatile uint8_t *p;

	if (fd < 0)
		return;
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)LAYOUT_BOOT_TIMER);
	if (p != MAP_FAILED) {
		*p = 123;
		munmap((void *)p, 4096);
	}
	close(fd);
}

int main(void)
{
	char uptime[64], mem[64], cmdline[512];
	struct utsname u;
	long cpus;
	int fd;

	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	fd = open("/dev/console", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	mark_boot_timer();
	uname(&u);
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	read_line("/proc/uptime", NULL, uptime, sizeof(uptime));
	read_line("/proc/meminfo", "MemTotal:", mem, sizeof(mem));
	read_line("/proc/cmdline", NULL, cmdline, sizeof(cmdline));
	uptime[strcspn(uptime, " ")] = '\0';
	printf("hull demo guest: Linux %s (%s), %ld vCPU(s), memory %s\n", u.release, u.machine, cpus,
	       mem + strspn(mem, " "));
	printf("hull demo guest: userspace reached %s s after the kernel started\n", uptime);
	printf("hull demo guest: command line: %s\n", cmdline);
	printf("hull demo guest: powering off\n");
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	return 0;
}
