/* init: hull-init's main — the guest's PID 1 in container mode: spec, modules, setup, then the agent. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "container/guest/guest.h"

static void early_mounts(void)
{
	static const struct {
		const char *dir, *type;
	} m[] = { { "/dev", "devtmpfs" }, { "/proc", "proc" }, { "/sys", "sysfs" } };
	size_t i;
	int fd;

	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		mkdir(m[i].dir, 0755);
		/* Without /dev there is no console to say so: the kernel's panic message must do. */
		if (mount(m[i].type, m[i].dir, m[i].type, MS_NOSUID | MS_NOEXEC, NULL) &&
		    errno != EBUSY && i)
			gi_fatal("mount %s on %s: %s", m[i].type, m[i].dir, strerror(errno));
	}
	/* fds 0-2 always open, so that the descriptors a process's stdio is made of are above. */
	fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

static void read_spec(struct ctr_spec *s)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	ssize_t n;
	int fd, r;

	fd = open(CTR_SPEC_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st))
		gi_fatal("%s: %s", CTR_SPEC_PATH, strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > CTR_SPEC_MAX)
		gi_fatal("%s: %lld bytes, not a spec of 1..%u bytes", CTR_SPEC_PATH,
			 (long long)st.st_size, CTR_SPEC_MAX);
	buf = malloc((size_t)st.st_size);
	if (!buf)
		gi_fatal("%s: out of memory", CTR_SPEC_PATH);
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			gi_fatal("%s: read: %s", CTR_SPEC_PATH, n ? strerror(errno) : "short file");
		got += (size_t)n;
	}
	close(fd);
	r = ctr_spec_decode(buf, got, s);
	if (r)
		gi_fatal("%s: the spec does not decode: %s", CTR_SPEC_PATH, strerror(-r));
	free(buf);
	unlink(CTR_SPEC_PATH); /* initramfs memory the container does not need */
}

/* The spec's modules from /hull/modules, in order; one the kernel has already is fine. */
static void load_modules(const struct ctr_spec *s)
{
	char path[sizeof(CTR_MODULES_DIR) + 256];
	unsigned int i;
	int fd;

	for (i = 0; i < s->nmodules; i++) {
		if (!gi_name_ok(s->modules[i]))
			gi_fatal("module %s: not a file name", s->modules[i]);
		snprintf(path, sizeof(path), "%s/%s", CTR_MODULES_DIR, s->modules[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			gi_fatal("module %s: %s", path, strerror(errno));
		if (syscall(SYS_finit_module, fd, "", 0) && errno != EEXIST)
			gi_fatal("module %s: load: %s", path, strerror(errno));
		close(fd);
		unlink(path);
	}
}

static void set_names_and_sysctls(const struct ctr_spec *s)
{
	char path[512];
	const char *value;
	unsigned int i;
	int r;

	if (s->hostname && sethostname(s->hostname, strlen(s->hostname)))
		gi_fatal("hostname %s: %s", s->hostname, strerror(errno));
	if (s->domainname && setdomainname(s->domainname, strlen(s->domainname)))
		gi_fatal("domainname %s: %s", s->domainname, strerror(errno));
	/* The guest is the container's: its sysctls are the whole guest's (the initramfs's /proc). */
	for (i = 0; i < s->nsysctls; i++) {
		r = gi_sysctl_path(s->sysctls[i], path, sizeof(path), &value);
		if (!r)
			r = gi_write_file(AT_FDCWD, path, value);
		if (r)
			gi_fatal("sysctl %s: %s", s->sysctls[i], strerror(-r));
	}
}

static void loopback_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		gi_fatal("bring up lo: socket: %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr))
		gi_fatal("bring up lo: %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr))
		gi_fatal("bring up lo: %s", strerror(errno));
	close(fd);
}

/* The spec's interfaces (a network namespace's, carried by hull), after lo. */
static void net_setup(const struct ctr_spec *s)
{
	char err[256];
	unsigned int i;

	for (i = 0; i < s->nnetifs; i++)
		if (gi_net_config(&s->netifs[i], err, sizeof(err)))
			gi_fatal("%s", err);
}

static void hello_info(struct gi_hello *h)
{
	struct utsname u;
	char line[256];
	unsigned long long kb;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	FILE *f;

	memset(h, 0, sizeof(*h));
	h->cpus = cpus > 0 ? (uint32_t)cpus : 1;
	if (!uname(&u))
		snprintf(h->release, sizeof(h->release), "%s", u.release);
	else
		snprintf(h->release, sizeof(h->release), "unknown");
	f = fopen("/proc/meminfo", "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) {
			h->memory = (uint64_t)kb * 1024;
			break;
		}
	}
	if (f)
		fclose(f);
}

int main(void)
{
	struct ctr_spec spec;
	struct gi_cgroup cg;
	struct gi_hello hello;
	sigset_t all;
	char err[512];

	/*
	 * PID 1 gets no default signal actions: nothing would stop or end it, and
	 * signals are taken through a signalfd. The container's process, forked,
	 * gets its defaults back before exec.
	 */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	umask(0);
	early_mounts();
	memset(&spec, 0, sizeof(spec));
	read_spec(&spec);
	load_modules(&spec);
	unlink("/init");
	set_names_and_sysctls(&spec);
	loopback_up();
	net_setup(&spec);
	hello_info(&hello);
	if (gi_cgroup_setup(&cg, spec.cgroup, &spec.resources, err, sizeof(err)))
		gi_fatal("%s", err);
	if (gi_rootfs_setup(&spec, err, sizeof(err)))
		gi_fatal("%s", err);
	gi_agent_run(&spec, &cg, &hello);
	/* Without hull there is nobody to serve: the VM ends. */
	sync();
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}
