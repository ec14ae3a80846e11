/* census: where a VM's start-up time and its vCPU exits go — milestones, and exits counted by
 * reason and by the port or MMIO address they touched; cheap enough to be always on. */
#ifndef HULL_VMM_CENSUS_H
#define HULL_VMM_CENSUS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The points of a VM's start hull can see, in the order they normally come. */
enum milestone {
	MS_MEMORY,       /* guest RAM mapped and given to KVM */
	MS_LOADED,       /* kernel, initrd and boot tables in guest memory */
	MS_FIRST_RUN,    /* the first KVM_RUN */
	MS_FIRST_OUTPUT, /* the guest's first byte on the console */
	MS_BOOT_TIMER,   /* the guest wrote the boot timer (--boot-timer) */
	MS_STOP,         /* the VM was asked to stop (power-off, reboot, error, signal) */
	MS_COUNT,
};

struct milestones {
	struct timespec start; /* CLOCK_MONOTONIC at hull's start (main's first line) */
	_Atomic int64_t at[MS_COUNT]; /* ns after start, +1 so that 0 means "not reached" */
};

void milestones_init(struct milestones *m, const struct timespec *start);
/* The first mark of each milestone counts; later ones are ignored. Any thread. */
void milestone_mark(struct milestones *m, enum milestone which);
/* ns from hull's start to the milestone; -1 when it was not reached. */
int64_t milestone_ns(const struct milestones *m, enum milestone which);
const char *milestone_name(enum milestone which);

/*
 * One vCPU's exits. Only its own thread counts (relaxed atomics: no locked instructions on the
 * exit path); any thread may read. Exit reasons up to CENSUS_REASONS are counted apiece, the
 * rest in the last slot. Port and MMIO accesses are counted per (bus, address, direction) in a
 * small open-addressed table: CENSUS_SITES distinct sites per vCPU, accesses to sites past
 * that in other_sites — a guest touching many addresses costs hull no memory.
 */
#define CENSUS_REASONS 48
#define CENSUS_SITES 64

struct census_site {
	_Atomic uint64_t key; /* census_key(); 0: free */
	_Atomic uint64_t count;
};

struct exit_census {
	_Atomic uint64_t reasons[CENSUS_REASONS + 1];
	struct census_site sites[CENSUS_SITES];
	_Atomic uint64_t other_sites;
};

void census_exit(struct exit_census *c, uint32_t reason);
void census_access(struct exit_census *c, bool mmio, uint64_t addr, bool write);

/* The exits of all vCPUs together, sites merged and sorted by count (most first). */
#define CENSUS_TOTAL_SITES (4 * CENSUS_SITES)

struct census_total {
	uint64_t exits;
	uint64_t reasons[CENSUS_REASONS + 1];
	struct {
		bool mmio, write;
		uint64_t addr, count;
	} sites[CENSUS_TOTAL_SITES];
	unsigned int nsites;
	uint64_t other_sites; /* accesses not in sites[] */
};

void census_sum(const struct exit_census *const *cs, unsigned int n, struct census_total *t);
/* KVM's name for an exit reason in lower case ("io", "mmio", "hlt"...), "reason_N" for one
 * without a name here, "other" for the slot past CENSUS_REASONS. buf: at least 16 bytes. */
const char *census_reason_name(unsigned int reason, char *buf, size_t size);

/* --stats: the milestones and the census on stderr, a few lines ("hull: stats: ..."). */
void census_report(const struct milestones *m, const struct census_total *t);

#endif
