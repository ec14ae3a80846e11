/* virtio: the core — split virtqueues, the generic device, the MMIO transport; devices have their own folders. */
#ifndef HULL_VIRTIO_VIRTIO_H
#define HULL_VIRTIO_VIRTIO_H

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/devices.h"
#include "lib/bus.h"
#include "lib/fdbudget.h"
#include "lib/gmem.h"
#include "lib/loop.h"
#include "lib/util.h"

/*
 * ---- Split virtqueue -------------------------------------------------------
 *
 * The one parser of guest rings. Everything in the rings is hostile and may
 * change under our feet (other vCPUs write it concurrently): every field is
 * read once into a local before it is checked and used.
 *
 * Rules (any violation makes the ring "broken": virtq_pop returns -EIO, sets
 * q->broken and the device must fail with virtio_dev_fail()):
 *  - avail->idx may run ahead of the last index taken by at most q->size;
 *  - a head, and every next index, is below q->size;
 *  - a head may not be made available again while it is still in flight;
 *  - a chain has at most q->size descriptors (the hop budget), counting the
 *    entries of an indirect table too; loops and self-loops therefore end;
 *  - device-writable descriptors come after all device-readable ones;
 *  - indirect descriptors only when VIRTIO_RING_F_INDIRECT_DESC was
 *    negotiated, never with NEXT, never inside an indirect table; the table's
 *    length is a non-zero multiple of 16 and at most VIRTQ_MAX_INDIRECT
 *    entries; the table itself lies in RAM;
 *  - every buffer is translated with gmem_ptr(): zero length, address+length
 *    wrap, and any byte in the MMIO hole or past RAM are rejected;
 *  - the chain fits the caller's iovec array (cap entries).
 */

#define VIRTQ_MAX_SIZE 1024     /* largest QueueNumMax a hull device offers */
#define VIRTQ_MAX_INDIRECT 1024 /* entries in one indirect table */
/*
 * Largest byte total of one part of a chain (a longer part makes the ring
 * broken), so any used length a device reports fits the 32-bit used.len.
 * Aliased descriptors can reach it with little guest memory: the walk is
 * bounded by the hop budget, but a device must never do work per byte the
 * chain claims. Each device refuses a chain longer than its protocol can
 * mean, once, from out_len and in_len, as a request error (not a broken
 * ring: such a chain is legal, only useless).
 */
#define VIRTQ_PART_MAX UINT32_MAX

struct virtq {
	/* Set by virtq_enable(), constant while the queue is enabled. */
	uint16_t size;                 /* power of two, 1..VIRTQ_MAX_SIZE */
	bool enabled;
	bool event_idx;                /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;                 /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	struct vring_desc *desc;       /* host views of the three areas (checked at enable) */
	struct vring_avail *avail;
	struct vring_used *used;
	const struct gmem *mem;

	/* Device-side state. */
	uint16_t last_avail;           /* next avail ring slot to take */
	uint16_t used_idx;             /* next used ring slot to fill (shadow of used->idx) */
	uint16_t signalled_used;       /* used_idx when the guest was last interrupted */
	bool signalled_valid;
	bool broken;
	char why[96];                  /* what broke the ring, for the device's message */
	unsigned int inflight;         /* heads popped and not yet pushed */
	uint64_t inflight_map[VIRTQ_MAX_SIZE / 64];
};

/* One popped request: iov[0..nout) are device-readable, iov[nout..nout+nin) device-writable. */
struct virtq_chain {
	uint16_t head;
	unsigned int nout, nin;
	size_t out_len, in_len;        /* byte totals of each part, each <= VIRTQ_PART_MAX */
	struct iovec *iov;             /* caller's array ... */
	unsigned int cap;              /* ... and its capacity */
};

/*
 * Check and map a queue: size a power of two in 1..VIRTQ_MAX_SIZE, desc
 * 16-byte aligned, avail 2-byte, used 4-byte aligned, each whole area in RAM
 * (the avail/used areas include the event words when event_idx is set).
 * features are the negotiated ones (event_idx/indirect are taken from them).
 * -EINVAL on any violation, leaving q disabled.
 */
int virtq_enable(struct virtq *q, const struct gmem *mem, uint16_t size, uint64_t desc_gpa,
		 uint64_t avail_gpa, uint64_t used_gpa, uint64_t features);

/* Forget everything: disabled, indices zero, nothing in flight. */
void virtq_reset(struct virtq *q);

/*
 * Take the next available chain into c (c->iov and c->cap set by the
 * caller). Returns 1 with c filled and the head marked in flight, 0 when
 * nothing is available (with EVENT_IDX, avail_event is published first so a
 * buffer added concurrently is never missed), or -EIO when the ring is broken
 * (q->broken is set; every later call returns -EIO until virtq_reset()).
 */
int virtq_pop(struct virtq *q, struct virtq_chain *c);

/*
 * Return a chain taken with virtq_pop: writes the used element (len = bytes
 * the device wrote) and publishes used->idx with release ordering. -EINVAL
 * (nothing written) when head is not in flight: a device bug, not the guest's.
 */
int virtq_push(struct virtq *q, uint16_t head, uint32_t len);

/*
 * Has the driver made buffers available that virtq_pop has not taken yet?
 * A hint (the driver may add more at any time): for waking another worker.
 */
bool virtq_pending(const struct virtq *q);

/*
 * After one or more virtq_push calls: does the guest want an interrupt?
 * Honours used_event (EVENT_IDX) or VRING_AVAIL_F_NO_INTERRUPT.
 */
bool virtq_should_notify(struct virtq *q);

/* Copy between a chain's buffers and a flat buffer, at byte offset off of that part. */
size_t virtq_read_out(const struct virtq_chain *c, size_t off, void *dst, size_t len);
size_t virtq_write_in(const struct virtq_chain *c, size_t off, const void *src, size_t len);

/*
 * ---- Generic device ----------------------------------------------------------
 *
 * A virtio device embeds struct virtio_dev and fills in a static const ops
 * table; container_of() gets the device back. d->lock serialises the
 * transport (vCPU threads) and queue processing (the event loop thread): every
 * op below is called with it held.
 */

#define VIRTIO_MAX_QUEUES 8


/* Transport feature bits every hull device offers. */
#define VIRTIO_TRANSPORT_FEATURES                                                           \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |               \
	 (1ULL << VIRTIO_RING_F_EVENT_IDX))

struct virtio_dev;

struct virtio_dev_ops {
	const char *type; /* "blk", "rng": for messages */
	uint32_t device_id;
	/* Config space access, off + len <= d->config_size (the transport checks). */
	void (*config_read)(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len);
	void (*config_write)(struct virtio_dev *d, uint32_t off, const uint8_t *data, uint32_t len);
	/* The driver set DRIVER_OK. 0, or -errno: the device then needs a reset. May be NULL. */
	int (*activate)(struct virtio_dev *d);
	/* Queue q was notified (event loop thread). Only called on a live, ready queue. */
	void (*notify)(struct virtio_dev *d, unsigned int q);
	/*
	 * Back to the initial state: finish or cancel in-flight work without
	 * touching guest memory afterwards, drop held buffers. Called on a guest
	 * reset (status 0) from a vCPU thread, and before destroy. May be NULL.
	 */
	void (*reset)(struct virtio_dev *d);
	/*
	 * Free the device and everything it holds, after virtio_mmio_detach() (or when it was
	 * never attached). Called without the lock, from the thread that created it.
	 */
	void (*destroy)(struct virtio_dev *d);
};

/* What a device needs from the VM; tests pass vm_fd -1 and their own loop and memory. */
struct virtio_host {
	const struct gmem *mem;
	struct loop *loop;
	struct bus *mmio;
	int vm_fd;                    /* -1: no ioeventfd/irqfd, the transport signals by itself */
	const struct dev_host *lines; /* interrupt fallback when irqfd is unavailable */
	/*
	 * Every descriptor a device keeps open because of the guest (virtio-fs
	 * inodes and handles, vsock connections) is taken from this budget
	 * (vmm/fdbudget.h); NULL: no budget, only each device's own limits.
	 */
	struct fdbudget *fds;
	/*
	 * The memory hotplug region (lib/gmem.h), mem's too: the virtio-mem device plugs and
	 * unplugs its blocks. NULL: none.
	 */
	struct gmem_hp *hotplug;
};

struct virtio_queue_cfg { /* what the driver wrote before QueueReady */
	uint16_t num;
	uint64_t desc, avail, used;
};

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	char name[48];                 /* for messages, e.g. "virtio-blk 0 (/srv/a.img)" */
	pthread_mutex_t lock;
	const struct virtio_host *host;

	uint64_t host_features;        /* offered (device bits | VIRTIO_TRANSPORT_FEATURES) */
	/*
	 * Offered bits a driver must accept, besides VERSION_1: FEATURES_OK is refused without
	 * them (the driver gives up). Set after virtio_dev_init(), before attach.
	 */
	uint64_t required_features;
	uint64_t driver_features;      /* as written by the driver */
	uint64_t features;             /* negotiated, valid from FEATURES_OK */
	uint32_t status;
	atomic_uint isr;               /* VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG */
	uint32_t config_generation;
	uint32_t config_size;
	unsigned int nqueues;
	uint16_t queue_max;            /* QueueNumMax of every queue */
	struct virtio_queue_cfg qcfg[VIRTIO_MAX_QUEUES];
	struct virtq vq[VIRTIO_MAX_QUEUES];

	/* MMIO transport registers and host plumbing. */
	bool attached;                 /* between virtio_mmio_attach and virtio_mmio_detach */
	uint64_t base;
	uint64_t alias;                /* base of the second window (virtio_mmio_alias), 0: none */
	int owner;                     /* window the driver claimed: -1 none yet, 0 base, 1 alias */
	uint64_t kick_base;            /* window whose QueueNotify the ioeventfds sit on */
	uint32_t gsi;
	uint32_t queue_sel, dev_features_sel, drv_features_sel;
	int irq_fd;                    /* eventfd bound as irqfd to gsi (if irqfd_ok) */
	bool irqfd_ok;
	int kick_fd[VIRTIO_MAX_QUEUES];/* eventfds, bound as ioeventfds (if ioeventfd_ok) */
	bool ioeventfd_ok;
	/*
	 * Queues (bit q) whose kick eventfd the device's own threads wait on
	 * through own_epfd (EPOLLIN | EPOLLET, data.u32 = q) instead of the event
	 * loop; ops->notify is never called for them. Set before attach.
	 */
	uint32_t own_kicks;
	int own_epfd;
	struct loop_handler kick_h[VIRTIO_MAX_QUEUES];
};

/*
 * Initialise the generic part: ops, name, nqueues (1..VIRTIO_MAX_QUEUES),
 * queue_max (power of two <= VIRTQ_MAX_SIZE), device feature bits, config
 * space size. Fds start at -1. 0 or -errno.
 */
int virtio_dev_init(struct virtio_dev *d, const struct virtio_dev_ops *ops, const char *name,
		    unsigned int nqueues, uint16_t queue_max, uint64_t device_features,
		    uint32_t config_size);

/*
 * The guest broke this device (a broken ring, an impossible state): log
 * once, set DEVICE_NEEDS_RESET, raise a config interrupt, and stop serving
 * its queues until the driver resets it. Lock held.
 */
void virtio_dev_fail(struct virtio_dev *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* True between DRIVER_OK and reset, unless the device failed. Lock held. */
bool virtio_dev_live(const struct virtio_dev *d);

/* Tell the guest: used buffers (VIRTIO_MMIO_INT_VRING) or a config change (..._INT_CONFIG). */
void virtio_dev_interrupt(struct virtio_dev *d, uint32_t why);

/* After pushes on queue q: interrupt the guest if virtq_should_notify says so. */
void virtio_dev_queue_done(struct virtio_dev *d, unsigned int q);

/*
 * Work per ops->notify call is bounded: a handler that runs on the event loop
 * takes at most VIRTIO_NOTIFY_BUDGET chains from a queue (fewer where each
 * chain is costly), and when the guest has made more available it calls
 * virtio_dev_requeue(), so other devices, signals and the console get their
 * turn before it continues. A guest that keeps refilling its ring therefore
 * slows only itself.
 */
#define VIRTIO_NOTIFY_BUDGET 64

/*
 * Have ops->notify called again for queue q on a later pass of the event
 * loop (after the handlers already ready): the queue's kick is raised again.
 * Lock held; for queues served on the event loop (not d->own_kicks).
 */
void virtio_dev_requeue(struct virtio_dev *d, unsigned int q);

/* Reset the device to its initial state (ops->reset, queues, features, status, isr). Lock held. */
void virtio_dev_reset(struct virtio_dev *d);

/*
 * ---- MMIO transport (virtio 1.2, version 2) -------------------------------------
 *
 * Registers d at [base, base + VIRTIO_MMIO_SIZE) on host->mmio, creates the
 * interrupt eventfd (KVM_IRQFD to gsi) and one eventfd per queue
 * (KVM_IOEVENTFD on QueueNotify with datamatch = queue index), and adds the
 * queue eventfds to host->loop (or, for d->own_kicks, to d->own_epfd). When KVM refuses irqfd or ioeventfd (or
 * vm_fd is -1) the transport falls back to host->lines and to signalling
 * the queue eventfd from the MMIO write itself. 0 or -errno.
 */
#define VIRTIO_MMIO_SIZE 0x1000
#define VIRTIO_MMIO_VENDOR 0x4c4c5548 /* "HULL" */

int virtio_mmio_attach(struct virtio_dev *d, const struct virtio_host *host, uint64_t base,
		       uint32_t gsi);
/*
 * Undo attach: deregister eventfds from KVM and the loop, close them; calls virtio_dev_reset.
 * Nothing for a device that is not attached. The bus range stays (a bus never unregisters):
 * detach only when the VM, or the test, is going away.
 */
void virtio_mmio_detach(struct virtio_dev *d);

/* Detach d when attached, then free it (ops->destroy). NULL is fine. */
void virtio_dev_destroy(struct virtio_dev *d);

/*
 * A second window onto an attached device at [alias, alias + VIRTIO_MMIO_SIZE)
 * on the same bus, for a second announcement of it (x86_64: the kernel
 * command line besides the DSDT) that must not compete with the first for one
 * region. The window the driver claims first is the device from then on: a
 * claim is any access but a read of MagicValue, Version or VendorID (Linux's
 * probe reads DeviceID next). The other window then reads as a virtio-mmio
 * placeholder (right MagicValue, Version and VendorID, DeviceID 0: "no
 * function", which Linux skips without a message; every other register and
 * config space reads 0) and ignores writes. The ioeventfds move to the
 * claiming window. The claim lasts as long as the device: a driver resets it
 * right after probing, so a reset cannot release it. Call before vCPUs run;
 * nothing is undone by detach (the bus cannot unregister). 0 or -errno, logged.
 */
int virtio_mmio_alias(struct virtio_dev *d, uint64_t alias);

/* The register file of the first window and of the second, for the bus and for tests. */
extern const struct bus_ops virtio_mmio_ops;
extern const struct bus_ops virtio_mmio_alias_ops;

/*
 * ---- Device kinds -------------------------------------------------------------------
 *
 * What a kind of device (blk, fs, net, vsock, rng) tells the rest of hull: its flag, JSON key,
 * settings, limits and help, and how one is built. vmm/ lists the kinds in one table and
 * drives the command line, the config file, --help, validation and the device registry from
 * it, so adding a kind touches its folder, that table and the Makefile.
 *
 * A device is built in two steps so that bad input is found before /dev/kvm is touched:
 * check() opens and validates the host resources one entry names (an image and its lock, a
 * directory, a tap, a socket) into *res; create() builds the device from them once the VM
 * exists. The registry (vm_add_device) then gives it a slot and attaches the transport.
 */

enum virtio_kind_form {
	VIRTIO_KIND_LIST,   /* --disk SPEC, repeatable;  JSON "disks": [ {...}, ... ] */
	VIRTIO_KIND_SINGLE, /* --vsock SPEC, the last one counts;  JSON "vsock": { ... } */
	VIRTIO_KIND_SWITCH, /* --rng on|off;  JSON "rng": true|false;  no settings */
};

/* How a JSON member of an entry reaches set(): always as a string. */
enum virtio_field_type {
	VIRTIO_FIELD_STRING,
	VIRTIO_FIELD_BOOL,           /* true/false, given as "on"/"off" */
	VIRTIO_FIELD_INT,            /* an integer, given in decimal */
	VIRTIO_FIELD_TRUE_OR_STRING, /* true (given as "") or a string */
};

struct virtio_field {
	const char *key;
	enum virtio_field_type type;
};

struct virtio_kind {
	const char *name;        /* the flag (--disk), id prefix (disk0) and messages: "disk" */
	const char *json;        /* the config file's key: "disks" */
	enum virtio_kind_form form;
	unsigned int max;        /* entries per VM; 0: as many as the machine has virtio slots */
	bool default_on;         /* SWITCH: present unless turned off */
	const char *arg;         /* the flag's argument in --help: "path=FILE[,ro=on]..." */
	const char *help;        /* what it means, lines of at most 56 columns ending in '\n' */
	const struct virtio_field *fields; /* an entry's settings, in the order --help names them */
	unsigned int nfields;
	size_t config_size;      /* bytes of one entry's settings; 0 for SWITCH */
	/*
	 * Host memory one device of this kind makes hull hold beyond guest RAM in ordinary use
	 * (buffers, tables, worker stacks, kernel objects it opens): its share of the host
	 * cgroup's memory.max (container/limits.h). Its README gives the worst case.
	 */
	uint64_t host_mem;

	/*
	 * Settings (not used for SWITCH). Each fills err with a one-line reason (naming the
	 * entry where it can) on -EINVAL; the caller says where it came from and logs it.
	 * init: defaults. parse: a whole flag spec onto a fresh entry, required settings
	 * checked. set: one field (JSON). finish: after the JSON fields, required settings.
	 * free: what the entry holds (not the entry itself); safe on a freshly initialised one.
	 */
	void (*init)(void *cfg);
	int (*parse)(void *cfg, const char *spec, char *err, size_t errlen);
	int (*set)(void *cfg, const char *key, const char *value, char *err, size_t errlen);
	int (*finish)(void *cfg, char *err, size_t errlen);
	void (*free)(void *cfg);
	/* Entry a (later) clashes with entry b: a tag, a tap, a MAC used twice. May be NULL. */
	int (*conflict)(const void *a, const void *b, char *err, size_t errlen);
	/* "disk /srv/a.img", "share docs": how messages name entry index of this kind. */
	void (*describe)(const void *cfg, unsigned int index, char *buf, size_t len);

	/*
	 * Building. check: open and validate the host resources, before /dev/kvm; failures
	 * logged naming the entry; *res (may stay NULL) goes to create or release. May be
	 * NULL. release: close what check opened when create never ran. create: the device,
	 * not attached, numbered index among its kind; it takes res whatever it returns, logs
	 * its failures, and is freed by its ops->destroy.
	 */
	int (*check)(const void *cfg, unsigned int index, void **res);
	void (*release)(void *res);
	int (*create)(const void *cfg, void *res, unsigned int index,
		      const struct virtio_host *host, struct virtio_dev **out);
};

#endif
