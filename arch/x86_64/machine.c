/* machine: the x86_64 PC-like microVM: KVM irqchip/PIT, RAM layout, legacy devices, slots. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/arch.h"
#include "arch/x86_64/x86.h"
#include "lib/log.h"

#define VIRTIO_SLOT_SIZE 0x1000 /* a virtio-mmio register file */

/*
 * pci=conf1,noearly: the guest has no PCI and says nothing about it. Linux
 * finds mechanism #1 working on hull's empty bus in 5 port accesses (conf1:
 * without the sanity scan of bus 0, nor MMCONFIG) and skips its early scan
 * of bus 0 for chipset quirks (noearly: 64 accesses saved). With pci=off it
 * would print "PCI: Fatal: No config space access function found".
 */
const char *arch_default_cmdline(void)
{
	return "console=ttyS0 reboot=k panic=-1 pci=conf1,noearly i8042.noaux i8042.nomux "
	       "i8042.dumbkbd 8250.nr_uarts=1 quiet";
}

unsigned int arch_ram_layout(uint64_t size, struct arch_ram_range out[ARCH_MAX_RAM_RANGES])
{
	if (size <= LAYOUT_MMIO_HOLE) {
		out[0] = (struct arch_ram_range){ 0, size };
		return 1;
	}
	out[0] = (struct arch_ram_range){ 0, LAYOUT_MMIO_HOLE };
	out[1] = (struct arch_ram_range){ LAYOUT_4G, size - LAYOUT_MMIO_HOLE };
	return 2;
}

uint64_t arch_hotplug_base(uint64_t ram_size, uint64_t align)
{
	struct arch_ram_range r[ARCH_MAX_RAM_RANGES];
	unsigned int n = arch_ram_layout(ram_size, r);
	uint64_t end = r[n - 1].gpa + r[n - 1].size;

	/* Never below 4 GiB: the region then cannot meet the 32-bit MMIO hole, whatever its size. */
	if (end < LAYOUT_HOTPLUG_MIN)
		end = LAYOUT_HOTPLUG_MIN;
	return (end + align - 1) & ~(align - 1);
}

int arch_vm_create(int kvm_fd, int vm_fd, unsigned int ncpus, struct arch_vm **out)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t idmap = LAYOUT_IDMAP;
	struct arch_vm *avm;
	int err;

	/* Needed by VMX for real-mode emulation; harmless elsewhere. */
	if (ioctl(vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_TSS) < 0)
		log_debug("KVM_SET_TSS_ADDR: %s", strerror(errno));
	if (ioctl(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
		log_debug("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
	if (ioctl(vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		err = -errno;
		log_msg("KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return err;
	}
	if (ioctl(vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		err = -errno;
		log_msg("KVM_CREATE_PIT2: %s", strerror(errno));
		return err;
	}
	avm = calloc(1, sizeof(*avm));
	if (!avm) {
		log_msg("machine: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	avm->kvm_fd = kvm_fd;
	avm->vm_fd = vm_fd;
	avm->ncpus = ncpus;
	*out = avm;
	return 0;
}

void arch_vm_destroy(struct arch_vm *avm)
{
	if (avm)
		arch_devices_exit(avm);
	free(avm);
}

unsigned int arch_console_irq(void)
{
	return IRQ_COM1;
}

int arch_devices_init(struct arch_vm *avm, const struct arch_devices *d)
{
	int ret;

	acpi_pm_init(&avm->pm, ACPI_S5_SLP_TYP, ACPI_RESET_VALUE, d->host);
	i8042_init(&avm->i8042, d->host);
	rtc_init(&avm->rtc, NULL);
	pci_conf_init(&avm->pci);
	avm->devices = true;
	ret = bus_register(d->pio, PORT_COM1, 8, &serial_ops, d->console, "com1");
	if (!ret)
		ret = bus_register(d->pio, PORT_I8042_DATA, 1, &i8042_data_ops, &avm->i8042,
				   "i8042");
	if (!ret)
		ret = bus_register(d->pio, PORT_I8042_CMD, 1, &i8042_cmd_ops, &avm->i8042, "i8042");
	if (!ret)
		ret = bus_register(d->pio, PORT_CMOS, 2, &rtc_ops, &avm->rtc, "cmos");
	if (!ret)
		ret = bus_register(d->pio, PORT_ACPI_PM, ACPI_PM_LEN, &acpi_pm_ops, &avm->pm,
				   "acpi-pm");
	if (!ret)
		ret = bus_register(d->pio, PORT_PCI_CONF, PCI_CONF_LEN, &pci_conf_ops, &avm->pci,
				   "pci-conf1");
	if (!ret && d->boot_timer)
		ret = bus_register(d->mmio, LAYOUT_BOOT_TIMER, 0x1000, &boot_timer_ops,
				   d->boot_timer, "boot-timer");
	if (ret)
		log_msg("devices: %s", strerror(-ret));
	return ret;
}

void arch_devices_exit(struct arch_vm *avm)
{
	if (!avm->devices)
		return;
	i8042_destroy(&avm->i8042);
	rtc_destroy(&avm->rtc);
	avm->devices = false;
}

/*
 * The first nine are ISA interrupt lines no other device uses: COM1 is 4,
 * the RTC 8, the SCI 9; the timer takes 0/2 and 1 stays the keyboard's. 12
 * (the PS/2 mouse) is free because hull announces no i8042 and Linux's
 * driver never binds. Then the IOAPIC's pins above the ISA range, which
 * KVM's default routing sends to the IOAPIC alone. Edge-triggered, active
 * high: irqfd pulses the line.
 */
static const uint8_t virtio_gsis[] = { 5, 6, 7, 10, 11, 12, 14, 15, 3,
				       16, 17, 18, 19, 20, 21, 22, 23 };

/*
 * Without an MP table Linux maps only the ISA IRQs (below 16) up front: a
 * kernel that finds a device on the command line can use no other line.
 */
#define CMDLINE_GSI_MAX 15

unsigned int arch_virtio_slots(void)
{
	return sizeof(virtio_gsis);
}

int arch_virtio_slot(unsigned int i, uint64_t *base, uint32_t *gsi)
{
	if (i >= sizeof(virtio_gsis))
		return -ENOSPC;
	*base = LAYOUT_VIRTIO_MMIO + (uint64_t)i * VIRTIO_SLOT_SIZE;
	*gsi = virtio_gsis[i];
	return 0;
}

int arch_virtio_alias(unsigned int i, uint64_t *alias)
{
	if (i >= sizeof(virtio_gsis))
		return -ENOSPC;
	if (virtio_gsis[i] > CMDLINE_GSI_MAX)
		return -ENOENT;
	*alias = LAYOUT_VIRTIO_MMIO + LAYOUT_VIRTIO_ALIAS_OFF + (uint64_t)i * VIRTIO_SLOT_SIZE;
	return 0;
}
