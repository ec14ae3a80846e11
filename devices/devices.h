/* devices: legacy and pseudo devices (8250 UART, i8042, CMOS RTC, ACPI PM, PCI, boot timer). */
#ifndef HULL_DEVICES_DEVICES_H
#define HULL_DEVICES_DEVICES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

#include "lib/bus.h"

/* What a device asks of the VM: a change of an interrupt line, or the end of the VM. */
enum dev_event {
	DEV_POWEROFF, /* guest powered off */
	DEV_RESET,    /* guest asked for a CPU/system reset */
	DEV_OUTPUT,   /* the guest's first byte on the console (once) */
	DEV_BOOTED,   /* the guest wrote the boot timer (once) */
};

struct dev_host {
	void (*irq)(void *opaque, unsigned int irq, int level);
	void (*event)(void *opaque, enum dev_event ev);
	void *opaque;
};

/* --- 8250/16550A UART ------------------------------------------------------- */

#define SERIAL_RX_FIFO 4096
/*
 * Guest output waiting for hull's stdout. The event loop writes it out when stdout takes it;
 * while it holds less than SERIAL_TX_FIFO free bytes, THRE and TEMT are clear and the guest
 * waits (a 16550A's THRE promises its driver a whole FIFO: Linux then writes 16 bytes unasked).
 */
#define SERIAL_TX_BUF (64 * 1024)
#define SERIAL_TX_FIFO 16

struct serial {
	pthread_mutex_t lock;
	uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
	bool thri_pending; /* transmitter-empty interrupt armed, not yet read via IIR */
	int irq_level;
	uint8_t rx[SERIAL_RX_FIFO];
	unsigned int rx_head, rx_len;
	uint8_t tx[SERIAL_TX_BUF];
	unsigned int tx_head, tx_len; /* output the console has not written out yet */
	bool tx_discard;              /* output has nowhere to go: drop it, THRE stays set */
	uint64_t tx_dropped;          /* bytes written while the buffer was full */
	bool tx_seen;                 /* the first byte was written (DEV_OUTPUT told) */
	int tx_fd;        /* eventfd written when output starts waiting; -1 for none */
	int room_fd;      /* eventfd written when the RX FIFO drains; -1 for none */
	unsigned int irq;
	struct dev_host host;
};

extern const struct bus_ops serial_ops;
void serial_init(struct serial *s, unsigned int irq, int tx_fd, int room_fd,
		 const struct dev_host *host);
void serial_destroy(struct serial *s);
/* Queue guest input; returns how many bytes fit (the rest must wait for room_fd). */
size_t serial_input(struct serial *s, const uint8_t *buf, size_t len);
/* Free space in the RX FIFO. */
size_t serial_rx_room(struct serial *s);
/*
 * The console's side of the output buffer, used by one thread at a time (the event loop).
 * serial_tx_peek() points iov at the waiting bytes (two pieces when the ring wraps) and returns
 * how many iovecs it filled, 0 when nothing waits; the bytes stay put until consumed.
 * serial_tx_consume() frees the first n of them once written out; when a FIFO's worth of room
 * is back, so are THRE and TEMT, with a THRI interrupt if the guest enabled it.
 * serial_tx_discard() empties the buffer and drops all later output (stdout closed or failed).
 */
unsigned int serial_tx_peek(struct serial *s, struct iovec iov[2]);
void serial_tx_consume(struct serial *s, size_t n);
void serial_tx_discard(struct serial *s);
/*
 * Bytes waiting in the buffer, and bytes the guest wrote while it was full (drivers that do
 * not wait for THRE).
 */
void serial_tx_stats(struct serial *s, size_t *waiting, uint64_t *dropped);

/* --- i8042 keyboard controller: only what reset and a probing guest need ----- */

struct i8042 {
	pthread_mutex_t lock;
	uint8_t ctr;      /* controller configuration byte */
	uint8_t outport;
	uint8_t pending;  /* command waiting for its data byte, or 0 */
	uint8_t obuf[4];
	unsigned int olen;
	struct dev_host host;
};

extern const struct bus_ops i8042_data_ops; /* port 0x60 */
extern const struct bus_ops i8042_cmd_ops;  /* port 0x64 */
void i8042_init(struct i8042 *k, const struct dev_host *host);
void i8042_destroy(struct i8042 *k);

/* --- MC146818 CMOS RTC (index port + data port) ------------------------------ */

struct rtc {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t ram[128];
	int64_t offset; /* guest time minus host time, seconds (the guest may set its clock) */
	time_t (*now)(void); /* host clock; NULL at init means time(NULL) */
};

extern const struct bus_ops rtc_ops;
void rtc_init(struct rtc *r, time_t (*now)(void));
void rtc_destroy(struct rtc *r);
/*
 * Encode t (UTC) into the time registers of ram per register B's format bits
 * (binary vs BCD, 12 vs 24 hour), and decode them back; pure functions.
 */
void rtc_encode(uint8_t ram[128], time_t t);
int rtc_decode(const uint8_t ram[128], time_t *t);

/* --- ACPI hardware-reduced sleep control/status and reset registers ---------- */

struct acpi_pm {
	uint8_t s5_typ;
	uint8_t reset_value;
	struct dev_host host;
};

extern const struct bus_ops acpi_pm_ops;
void acpi_pm_init(struct acpi_pm *p, uint8_t s5_typ, uint8_t reset_value,
		  const struct dev_host *host);

/* --- PCI configuration mechanism #1 with an empty bus behind it ------------------ */

/*
 * Ports 0xcf8-0xcff: the address latch at 0xcf8 reads back what was written,
 * configuration reads are all ones ("no device"; 00:00.0 shows only the host
 * bridge class Linux's sanity check looks for), writes are lost. Linux finds
 * an access method and no device: no PCI, and no error (see pci_conf.c).
 */
#define PCI_CONF_LEN 8

struct pci_conf {
	atomic_uint addr; /* the last doubleword written to 0xcf8 */
};

extern const struct bus_ops pci_conf_ops;
void pci_conf_init(struct pci_conf *p);

/* --- Boot timer: the guest writes 123 at offset 0 when it has booted ---------- */

#define BOOT_TIMER_MAGIC 123

struct boot_timer {
	struct timespec start_wall; /* CLOCK_MONOTONIC at hull's start */
	struct timespec start_cpu;  /* CLOCK_PROCESS_CPUTIME_ID at hull's start */
	atomic_int fired;           /* only the first write reports */
	const struct dev_host *host; /* told DEV_BOOTED */
};

extern const struct bus_ops boot_timer_ops;
void boot_timer_init(struct boot_timer *t, const struct timespec *start_wall,
		     const struct timespec *start_cpu, const struct dev_host *host);

#endif
