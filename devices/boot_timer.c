/* boot_timer: Firecracker-compatible boot-time marker; the guest writes 123 when it is up. */
#include "devices/devices.h"

#include <stdatomic.h>
#include <string.h>

#include "lib/log.h"

void boot_timer_init(struct boot_timer *t, const struct timespec *start_wall,
		     const struct timespec *start_cpu, const struct dev_host *host)
{
	memset(t, 0, sizeof(*t));
	t->start_wall = *start_wall;
	t->start_cpu = *start_cpu;
	t->host = host;
}

static double ms_since(clockid_t clk, const struct timespec *start)
{
	struct timespec now;

	clock_gettime(clk, &now);
	return (double)(now.tv_sec - start->tv_sec) * 1e3 +
	       (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

static void boot_timer_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct boot_timer *t = dev;

	(void)len;
	if (off != 0 || data[0] != BOOT_TIMER_MAGIC)
		return;
	if (atomic_exchange(&t->fired, 1))
		return;
	if (t->host && t->host->event)
		t->host->event(t->host->opaque, DEV_BOOTED);
	log_msg("boot timer: guest booted in %.1f ms wall, %.1f ms cpu since hull started",
		ms_since(CLOCK_MONOTONIC, &t->start_wall),
		ms_since(CLOCK_PROCESS_CPUTIME_ID, &t->start_cpu));
}

const struct bus_ops boot_timer_ops = {
	.read = NULL, /* reads return all ones */
	.write = boot_timer_write,
};
