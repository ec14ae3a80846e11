"""Virtio slots: all 17 of the machine's slots in use at once, each device found exactly once.

The busybox guest (scripts.SCRIPTS["slots"]) lists the virtio devices it found, the interrupt
lines and MMIO windows they took and what the kernel said, then uses each one: it reads every
disk's first bytes, mounts every share, reads the rng and pings the host from every NIC. hull
announces every slot in the DSDT and the nine below GSI 16 on the command line too, at a second
window each (virtio_mmio_alias), so a kernel reading both finds each device once:

- the project kernel reads both (ACPI, and CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES);
- Debian's cloud kernel reads the DSDT only (its virtio modules come from the initramfs);
- the project kernel with acpi=off reads the command line only: it finds the nine devices
  there, through their second windows (where the ioeventfds follow them).

Also: the README's main job, a bare `hull vm` (the demo), prints neither of the error lines
older hulls made every kernel print ("can't request region", "PCI: Fatal").
"""

import hashlib
import re

import pytest

import initramfs
import scripts
from conftest import module_files
from harness import NetNs, guest_cmdline, start_vmm

pytestmark = pytest.mark.lab

NDISKS, NSHARES, NNETS = 6, 6, 3  # + vsock + rng: the 17 slots
MiB = 1 << 20

# Slot i: window 0xfe001000 + i * 4 KiB; the first nine on ISA lines, then the IOAPIC's 16-23.
GSIS = [5, 6, 7, 10, 11, 12, 14, 15, 3] + list(range(16, 24))
WINDOWS = [0xfe001000 + i * 0x1000 for i in range(17)]
ALIASES = [w + MiB for w in WINDOWS[:9]]

# virtio device ids
BLK, NET, RNG, FS, VSOCK = 0x02, 0x01, 0x04, 0x1a, 0x13

# The cloud kernel's drivers for every kind, as modules.
CLOUD_MODULES = ("virtio_mmio", "virtio_blk", "virtio_rng", "virtio_net", "virtiofs",
                 "vmw_vsock_virtio_transport")

ERROR_LINES = ("can't request region", "PCI: Fatal")


def test_demo_prints_no_error(hull):
    """`hull vm` with no options (the default kernel, the demo initramfs) shows the demo's report
    and no error line from the kernel."""
    h = hull()
    assert h.wait(60) == 0, h.describe()
    assert "hull demo guest: powering off" in h.stdout, h.describe()
    for line in ERROR_LINES:
        assert line not in h.stdout and line not in h.stderr, h.describe()


@pytest.fixture(scope="module")
def cloud_initrd(tmp_path_factory, cloud_kernel):
    kver = cloud_kernel.name.removeprefix("vmlinuz-")
    image = initramfs.busybox_image("/bin/busybox", scripts.SCRIPTS,
                                    module_files(kver, CLOUD_MODULES))
    path = tmp_path_factory.mktemp("slots-initrd") / (
        "slots-cloud-%s.cpio" % hashlib.sha256(image).hexdigest()[:12])
    path.write_bytes(image)
    return path


def boot_every_slot(hull_bin, kernel, initrd, tmp_path, want, extra=""):
    """Boot with 6 disks, 6 shares, 3 NICs on TAPs in a namespace of the test's, vsock and rng;
    run the guest's "slots" script and return the finished Hull."""
    ns = NetNs("hull-slots")
    h = None
    try:
        args = ["--kernel", kernel, "--initrd", initrd, "--memory", "512M"]
        for i in range(NDISKS):
            img = tmp_path / f"disk{i}.img"
            with open(img, "wb") as f:
                f.write(f"hull-slot-disk{i:02d}".encode())
                f.truncate(8 * MiB)
            args += ["--disk", f"path={img}"]
        for i in range(NSHARES):
            d = tmp_path / f"share{i}"
            d.mkdir()
            (d / "tag").write_text(f"share{i}")
            args += ["--fs", f"tag=s{i},path={d}"]
        for i in range(NNETS):
            ns.add_tap(f"hslot{i}", f"10.77.{i}.1/24")
            args += ["--net", f"tap=hslot{i},mac=02:00:00:00:77:0{i}"]
        args += ["--vsock", f"cid=3,uds={tmp_path / 'vsock.sock'}"]
        shares = ",".join(f"s{i}" for i in range(NSHARES))
        args += ["--cmdline", guest_cmdline("slots", f"hull.want={want} hull.shares={shares} "
                                            f"hull.nets={NNETS} {extra}")]
        h = start_vmm(hull_bin, args, wrap=ns.argv())
        rc = h.wait(240)
        assert "HULL-INIT: done status=0" in h.stdout and rc == 0, h.describe()
        return h
    finally:
        if h:
            h.kill()
        ns.delete()


def found(h):
    """{virtioN: (device id, platform device)} from the guest's HULL-VIRTIO lines."""
    devs = {}
    for name, dev_id, parent in re.findall(r"^HULL-VIRTIO (\S+) (0x[0-9a-f]+) (\S+)$",
                                           h.stdout, re.M):
        assert name not in devs, h.describe()
        devs[name] = (int(dev_id, 16), parent)
    return devs


def irqs(h, tag):
    """{virtioN: (line, interrupts so far)} from /proc/interrupts as the guest printed it."""
    out = {}
    for line in re.findall(rf"^{tag} (.*)$", h.stdout, re.M):
        m = re.match(r"\s*(\d+):\s+([\d\s]+?)\s+\S+(?:\s+(\d+)-edge)?\s+(virtio\d+)\s*$", line)
        assert m, f"unexpected /proc/interrupts line {line!r}\n{h.describe()}"
        irq, counts, pin, name = m.groups()
        out[name] = (int(pin) if pin else int(irq), sum(map(int, counts.split())))
    return out


def windows(h):
    """The MMIO windows drivers claimed, from the guest's /proc/iomem lines: a driver's request
    of a platform device's window is named "DEVICE RESOURCE", the window itself "DEVICE"."""
    return {int(a, 16) for a in re.findall(r"^HULL-IOMEM ([0-9a-f]+)-[0-9a-f]+ : \S+ \S+$",
                                           h.stdout, re.M)}


def check_clean(h):
    for line in ERROR_LINES:
        assert line not in h.stdout and line not in h.stderr, h.describe()


def check_used(h, disks, shares):
    """The devices worked: each disk read once, each share mounted with its own file."""
    seen = sorted(re.findall(r"^HULL-DISK vd[a-z]+ (hull-slot-disk\d\d)", h.stdout, re.M))
    assert seen == [f"hull-slot-disk{i:02d}" for i in range(disks)], h.describe()
    got = dict(re.findall(r"^HULL-SHARE (s\d+) (\S+)$", h.stdout, re.M))
    assert got == {f"s{i}": f"share{i}" for i in range(shares)}, h.describe()


@pytest.mark.parametrize("which", ["vmlinux", "cloud"])
def test_every_slot(hull_bin, kernels, busybox_initrd, cloud_initrd, tmp_path, which):
    """16 devices of mixed kinds plus rng fill the 17 slots; the guest finds each once, through
    the DSDT's window, on its own interrupt line (GSIs 16-23 included), and uses it."""
    initrd = cloud_initrd if which == "cloud" else busybox_initrd
    h = boot_every_slot(hull_bin, kernels[which], initrd, tmp_path, want=17)
    check_clean(h)
    devs = found(h)
    kinds = sorted(d for d, _ in devs.values())
    assert kinds == sorted([BLK] * NDISKS + [FS] * NSHARES + [NET] * NNETS + [VSOCK, RNG]), \
        h.describe()
    parents = [p for _, p in devs.values()]
    assert len(set(parents)) == 17 and all(p.startswith("LNRO0005:") for p in parents), \
        h.describe()
    assert windows(h) == set(WINDOWS), h.describe()
    before, after = irqs(h, "HULL-IRQ"), irqs(h, "HULL-IRQ-AFTER")
    assert set(before) == set(devs) and sorted(p for p, _ in before.values()) == sorted(GSIS), \
        h.describe()
    check_used(h, NDISKS, NSHARES)
    assert re.search(r"^HULL-RNG [0-9a-f]{32}$", h.stdout, re.M), h.describe()
    pings = re.findall(r"^HULL-PING (\d) \S+ ok$", h.stdout, re.M)
    assert sorted(pings) == [str(i) for i in range(NNETS)], h.describe()
    # Every device but vsock (idle here) took interrupts on its line.
    for name, (dev_id, _) in devs.items():
        if dev_id != VSOCK:
            assert after[name][1] > 0, f"{name} (device {dev_id}) had no interrupt\n" + \
                h.describe()


def test_command_line_only(hull_bin, project_bzimage, busybox_initrd, tmp_path):
    """With acpi=off the project kernel finds devices on the command line only: the nine on
    ISA lines (6 disks, 3 shares), once each, through their second windows, and they work;
    the other eight are for kernels that read the DSDT."""
    h = boot_every_slot(hull_bin, project_bzimage, busybox_initrd, tmp_path, want=9,
                        extra="acpi=off hull.end=reboot")
    check_clean(h)
    devs = found(h)
    assert sorted(d for d, _ in devs.values()) == sorted([BLK] * NDISKS + [FS] * 3), \
        h.describe()
    assert all(p.startswith("virtio-mmio.") for _, p in devs.values()), h.describe()
    assert windows(h) == set(ALIASES), h.describe()
    before = irqs(h, "HULL-IRQ")
    assert sorted(p for p, _ in before.values()) == sorted(GSIS[:9]), h.describe()
    check_used(h, NDISKS, 3)
