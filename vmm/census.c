/* census: milestones of a VM's start and its exits to hull counted by reason and address. */
#include "vmm/census.h"

#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

static const char *const ms_names[MS_COUNT] = {
	[MS_MEMORY] = "memory",
	[MS_LOADED] = "loaded",
	[MS_FIRST_RUN] = "first_run",
	[MS_FIRST_OUTPUT] = "first_output",
	[MS_BOOT_TIMER] = "boot_timer",
	[MS_STOP] = "stop",
};

void milestones_init(struct milestones *m, const struct timespec *start)
{
	unsigned int i;

	m->start = *start;
	for (i = 0; i < MS_COUNT; i++)
		atomic_init(&m->at[i], 0);
}

void milestone_mark(struct milestones *m, enum milestone which)
{
	struct timespec now;
	int64_t ns, none = 0;

	if ((unsigned int)which >= MS_COUNT ||
	    atomic_load_explicit(&m->at[which], memory_order_relaxed))
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (int64_t)(now.tv_sec - m->start.tv_sec) * 1000000000 +
	     (now.tv_nsec - m->start.tv_nsec);
	if (ns < 0)
		ns = 0;
	atomic_compare_exchange_strong(&m->at[which], &none, ns + 1);
}

int64_t milestone_ns(const struct milestones *m, enum milestone which)
{
	int64_t v;

	if ((unsigned int)which >= MS_COUNT)
		return -1;
	v = atomic_load_explicit(&m->at[which], memory_order_relaxed);
	return v ? v - 1 : -1;
}

const char *milestone_name(enum milestone which)
{
	return (unsigned int)which < MS_COUNT ? ms_names[which] : "?";
}

/* --- exits ---------------------------------------------------------------------------- */

/* Bit 63: MMIO (else port); bit 62: a write; bit 61: always set, so that no key is 0. */
#define KEY_MMIO (1ull << 63)
#define KEY_WRITE (1ull << 62)
#define KEY_USED (1ull << 61)
#define KEY_ADDR (KEY_USED - 1)

static uint64_t census_key(bool mmio, uint64_t addr, bool write)
{
	return (mmio ? KEY_MMIO : 0) | (write ? KEY_WRITE : 0) | KEY_USED | (addr & KEY_ADDR);
}

static unsigned int slot_of(uint64_t key, unsigned int size)
{
	key ^= key >> 29;
	key *= 0xbf58476d1ce4e5b9ull;
	key ^= key >> 32;
	return (unsigned int)(key % size);
}

/* Only the counting thread writes: a load and a store, no read-modify-write on the bus. */
static void bump(_Atomic uint64_t *v)
{
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

void census_exit(struct exit_census *c, uint32_t reason)
{
	bump(&c->reasons[reason < CENSUS_REASONS ? reason : CENSUS_REASONS]);
}

void census_access(struct exit_census *c, bool mmio, uint64_t addr, bool write)
{
	uint64_t key = census_key(mmio, addr, write), k;
	unsigned int i, s = slot_of(key, CENSUS_SITES);

	/* At most CENSUS_SITES probes: bounded work on every exit, whatever the guest touches. */
	for (i = 0; i < CENSUS_SITES; i++, s = (s + 1) % CENSUS_SITES) {
		k = atomic_load_explicit(&c->sites[s].key, memory_order_relaxed);
		if (k == key) {
			bump(&c->sites[s].count);
			return;
		}
		if (!k) {
			atomic_store_explicit(&c->sites[s].count, 1, memory_order_relaxed);
			atomic_store_explicit(&c->sites[s].key, key, memory_order_release);
			return;
		}
	}
	bump(&c->other_sites);
}

static int by_count(const void *a, const void *b)
{
	const __typeof__(((struct census_total *)0)->sites[0]) *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	if (x->mmio != y->mmio)
		return x->mmio ? 1 : -1;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return (int)x->write - (int)y->write;
}

static void add_site(struct census_total *t, uint64_t key, uint64_t count)
{
	bool mmio = key & KEY_MMIO, write = key & KEY_WRITE;
	uint64_t addr = key & KEY_ADDR;
	unsigned int i;

	for (i = 0; i < t->nsites; i++)
		if (t->sites[i].mmio == mmio && t->sites[i].write == write &&
		    t->sites[i].addr == addr) {
			t->sites[i].count += count;
			return;
		}
	if (t->nsites == CENSUS_TOTAL_SITES) {
		t->other_sites += count;
		return;
	}
	t->sites[t->nsites].mmio = mmio;
	t->sites[t->nsites].write = write;
	t->sites[t->nsites].addr = addr;
	t->sites[t->nsites++].count = count;
}

void census_sum(const struct exit_census *const *cs, unsigned int n, struct census_total *t)
{
	unsigned int i, j;
	uint64_t key, v;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < n; i++) {
		for (j = 0; j <= CENSUS_REASONS; j++) {
			v = atomic_load_explicit(&cs[i]->reasons[j], memory_order_relaxed);
			t->reasons[j] += v;
			t->exits += v;
		}
		for (j = 0; j < CENSUS_SITES; j++) {
			key = atomic_load_explicit(&cs[i]->sites[j].key, memory_order_acquire);
			if (key)
				add_site(t, key, atomic_load_explicit(&cs[i]->sites[j].count,
								      memory_order_relaxed));
		}
		t->other_sites += atomic_load_explicit(&cs[i]->other_sites, memory_order_relaxed);
	}
	qsort(t->sites, t->nsites, sizeof(t->sites[0]), by_count);
}

static const char *const reason_names[CENSUS_REASONS] = {
	[KVM_EXIT_UNKNOWN] = "unknown",
	[KVM_EXIT_EXCEPTION] = "exception",
	[KVM_EXIT_IO] = "io",
	[KVM_EXIT_HYPERCALL] = "hypercall",
	[KVM_EXIT_DEBUG] = "debug",
	[KVM_EXIT_HLT] = "hlt",
	[KVM_EXIT_MMIO] = "mmio",
	[KVM_EXIT_IRQ_WINDOW_OPEN] = "irq_window_open",
	[KVM_EXIT_SHUTDOWN] = "shutdown",
	[KVM_EXIT_FAIL_ENTRY] = "fail_entry",
	[KVM_EXIT_INTR] = "intr",
	[KVM_EXIT_SET_TPR] = "set_tpr",
	[KVM_EXIT_TPR_ACCESS] = "tpr_access",
	[KVM_EXIT_NMI] = "nmi",
	[KVM_EXIT_INTERNAL_ERROR] = "internal_error",
	[KVM_EXIT_SYSTEM_EVENT] = "system_event",
	[KVM_EXIT_IOAPIC_EOI] = "ioapic_eoi",
	[KVM_EXIT_HYPERV] = "hyperv",
	[KVM_EXIT_X86_RDMSR] = "x86_rdmsr",
	[KVM_EXIT_X86_WRMSR] = "x86_wrmsr",
	[KVM_EXIT_DIRTY_RING_FULL] = "dirty_ring_full",
	[KVM_EXIT_AP_RESET_HOLD] = "ap_reset_hold",
	[KVM_EXIT_X86_BUS_LOCK] = "x86_bus_lock",
	[KVM_EXIT_XEN] = "xen",
	[KVM_EXIT_NOTIFY] = "notify",
};

const char *census_reason_name(unsigned int reason, char *buf, size_t size)
{
	if (reason >= CENSUS_REASONS)
		return "other";
	if (reason_names[reason])
		return reason_names[reason];
	snprintf(buf, size, "reason_%u", reason);
	return buf;
}

/* --- the report ------------------------------------------------------------------------ */

#define REPORT_SITES 12

struct line {
	char buf[1024];
	size_t at;
	unsigned int items;
};

static void put(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append an item (", " between items); what does not fit is cut off. */
static void put(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (l->items++ && l->at < sizeof(l->buf) - 1)
		l->at += (size_t)snprintf(l->buf + l->at, sizeof(l->buf) - l->at, ", ");
	va_start(ap, fmt);
	w = vsnprintf(l->buf + l->at, sizeof(l->buf) - l->at, fmt, ap);
	va_end(ap);
	if (w > 0)
		l->at = l->at + (size_t)w < sizeof(l->buf) ? l->at + (size_t)w : sizeof(l->buf) - 1;
}

void census_report(const struct milestones *m, const struct census_total *t)
{
	struct line l = { .at = 0 };
	uint64_t rest = t->other_sites;
	unsigned int i;
	char name[16];
	int64_t ns;

	for (i = 0; i < MS_COUNT; i++) {
		ns = milestone_ns(m, i);
		if (ns >= 0)
			put(&l, "%s %.1f", milestone_name(i), (double)ns / 1e6);
	}
	log_msg("stats: ms after hull started: %s", l.items ? l.buf : "none reached");
	l = (struct line){ .at = 0 };
	for (i = 0; i <= CENSUS_REASONS; i++)
		if (t->reasons[i])
			put(&l, "%s %llu", census_reason_name(i, name, sizeof(name)),
			    (unsigned long long)t->reasons[i]);
	log_msg("stats: %llu exits to hull%s%s", (unsigned long long)t->exits,
		l.items ? ": " : "", l.items ? l.buf : "");
	if (!t->nsites)
		return;
	l = (struct line){ .at = 0 };
	for (i = 0; i < t->nsites; i++) {
		if (i < REPORT_SITES)
			put(&l, "%s 0x%llx %s %llu", t->sites[i].mmio ? "mmio" : "port",
			    (unsigned long long)t->sites[i].addr,
			    t->sites[i].write ? "write" : "read",
			    (unsigned long long)t->sites[i].count);
		else
			rest += t->sites[i].count;
	}
	if (rest)
		put(&l, "%llu elsewhere", (unsigned long long)rest);
	log_msg("stats: port and MMIO exits by site, most first: %s", l.buf);
}
