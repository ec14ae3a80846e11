"""Lab group: boot Linux guests under hull on hardware-style KVM and check what they see."""

import re
import signal
import time
from pathlib import Path

import pytest

from conftest import huge_available
from harness import guest_cmdline

pytestmark = pytest.mark.lab

GiB = 1 << 30
MiB = 1 << 20


@pytest.mark.parametrize("which", ["cloud", "bzimage", "vmlinux"])
def test_boot_to_userspace(boot, kernels, which):
    """Each kernel (Debian cloud bzImage, project bzImage, project vmlinux via PVH) runs init."""
    h = boot(kernels[which], "hello")
    m = re.search(r"HULL-HELLO: userspace reached, kernel (\S+)$", h.stdout, re.M)
    assert m, h.describe()
    if which == "cloud":
        assert m.group(1).endswith("-cloud-amd64"), h.describe()


def test_bzimage_unpacked_on_host(boot, project_bzimage, tmp_path, monkeypatch):
    """The project bzImage (gzip, not relocatable) is unpacked by hull on the host once, kept in
    $HULL_CACHE/vmlinux, and booted from there (PVH entry): the first boot unpacks it, the second
    takes it from the cache file, --kernel-packed leaves it to its own decompressor. The guest
    runs the same kernel (its release) every way; the cache holds one file."""
    monkeypatch.setenv("HULL_CACHE", str(tmp_path))
    monkeypatch.setenv("HULL_DEBUG", "1")
    seen = []
    for args, said in [((), "unpacked (gzip, "), ((), "unpacked before, taken from"),
                       (("--kernel-packed",), None)]:
        h = boot(project_bzimage, "hello", args=args)
        lines = [ln for ln in h.stderr.splitlines() if f"kernel {project_bzimage}:" in ln]
        if said:
            assert any(said in ln for ln in lines), h.describe()
        else:
            assert not lines, h.describe()
        m = re.search(r"HULL-HELLO: userspace reached, kernel (\S+)$", h.stdout, re.M)
        assert m, h.describe()
        seen.append(m.group(1))
    assert len(set(seen)) == 1, seen
    assert len(list((tmp_path / "vmlinux").glob("kn-*.img"))) == 1


def kaslr_boot(boot, kernel, extra=""):
    """Boot kernel's "kaslr" script: (hull's log of the place and offset it chose, or None; the
    guest's _text; the physical start of its code)."""
    h = boot(kernel, "kaslr", extra=extra, timeout=120)
    text = re.search(r"HULL-TEXT: ([0-9a-f]{16})$", h.stdout, re.M)
    code = re.search(r"HULL-CODE: ([0-9a-f]+)$", h.stdout, re.M)
    assert text and code, h.describe()
    chose = re.search(r"at 0x([0-9a-f]+), virtual offset 0x([0-9a-f]+) \(KASLR by hull\)",
                      h.stderr)
    return h, chose and (int(chose.group(1), 16), int(chose.group(2), 16)), \
        int(text.group(1), 16), int(code.group(1), 16)


@pytest.mark.parametrize("flavour", ["cloud", "generic"])
def test_stock_kernel_kaslr_by_hull(request, boot, flavour, tmp_path, monkeypatch):
    """Debian's kernels are relocatable with KASLR: hull unpacks them (cloud: lz4, generic:
    xz), places them at random at every boot (RAM and virtual offset) and relocates them, as
    their decompressor would; the guest runs where hull says. With nokaslr they run where they
    are linked."""
    kernel = request.getfixturevalue(f"{flavour}_kernel")
    monkeypatch.setenv("HULL_CACHE", str(tmp_path))
    monkeypatch.setenv("HULL_DEBUG", "1")
    seen = set()
    for _ in range(3):
        h, chose, text, code = kaslr_boot(boot, kernel)
        # Any format hull reads will do (Debian 12: lz4 for cloud, xz for generic).
        assert re.search(rf"kernel {re.escape(str(kernel))}: (unpacked \((gzip|xz|zstd|lz4), "
                         rf"|unpacked before)", h.stderr), h.describe()
        assert "placed at random by hull at every boot" in h.stderr, h.describe()
        assert chose, h.describe()
        phys, virt = chose
        assert text == 0xffffffff81000000 + virt, h.describe()
        assert code == phys, h.describe()
        seen.add(chose)
    # Three boots at one place and offset: chance of about 1 in 10^9.
    assert len(seen) > 1, seen
    assert len(list((tmp_path / "vmlinux").glob("kn-*.img"))) == 1
    h, chose, text, code = kaslr_boot(boot, kernel, extra="nokaslr")
    assert chose is None and "placed at random" not in h.stderr, h.describe()
    assert (text, code) == (0xffffffff81000000, 0x1000000), h.describe()


@pytest.mark.parametrize("which,cpus", [("bzimage", 1), ("bzimage", 2), ("bzimage", 4),
                                        ("cloud", 2)])
def test_cpu_count(boot, kernels, which, cpus):
    """/proc/cpuinfo lists exactly --cpus processors."""
    h = boot(kernels[which], "cpuinfo", cpus=cpus)
    m = re.search(r"HULL-CPUS: (\d+)", h.stdout)
    assert m and int(m.group(1)) == cpus, h.describe()


@pytest.mark.parametrize("memory,size", [("256M", 256 * MiB), ("4G", 4 * GiB)])
def test_memory_size(boot, project_bzimage, memory, size):
    """MemTotal is 85-100% of --memory; with 4G it exceeds 3 GiB, so RAM above 4 GiB is used."""
    h = boot(project_bzimage, "meminfo", memory=memory)
    m = re.search(r"HULL-MEMTOTAL: (\d+)", h.stdout)
    assert m, h.describe()
    total = int(m.group(1)) * 1024
    assert 0.85 * size <= total <= size, f"MemTotal {total} for --memory {memory}\n{h.describe()}"
    if size > 3 * GiB:
        assert total > 3 * GiB, f"MemTotal {total}: no RAM above the 32-bit hole\n{h.describe()}"


def test_cmdline_arrives(boot, project_bzimage):
    """A unique token given with --cmdline shows up in the guest's /proc/cmdline."""
    token = f"hull_token_{time.time_ns()}"
    h = boot(project_bzimage, "cmdline", extra=f"{token}=1")
    m = re.search(r"HULL-CMDLINE: (.*)", h.stdout)
    assert m and f"{token}=1" in m.group(1).split(), h.describe()
    assert "console=ttyS0" in m.group(1), h.describe()


def test_stdin_reaches_guest(hull, busybox_initrd, project_bzimage):
    """A line written to hull's stdin is read by a guest shell, whose answer comes back out."""

    h = hull("--kernel", project_bzimage, "--initrd", busybox_initrd,
             "--cmdline", guest_cmdline("echo"))
    h.expect(r"HULL-READY", 30)
    token = f"typed-{time.time_ns()}"
    h.send(token + "\n")
    h.expect(rf"HULL-GOT: {token}\n", 30)
    assert h.wait(30) == 0, h.describe()


@pytest.mark.parametrize("which", ["poweroff", "reboot"])
def test_guest_shutdown(boot, project_bzimage, which):
    """`poweroff -f` and `reboot -f` in the guest both end hull with exit 0."""
    h = boot(project_bzimage, which, check=False, timeout=30)
    assert f"HULL-BYE: {which}" in h.stdout, h.describe()
    assert "HULL-INIT: done" not in h.stdout, h.describe()
    assert h.rc == 0, h.describe()


@pytest.mark.parametrize("name,sig,status", [("SIGTERM", signal.SIGTERM, 143),
                                             ("SIGINT", signal.SIGINT, 130),
                                             ("SIGHUP", signal.SIGHUP, 129),
                                             ("SIGUSR1", signal.SIGUSR1, 138),
                                             ("SIGUSR2", signal.SIGUSR2, 140),
                                             ("SIGRTMIN+5", signal.SIGRTMIN + 5,
                                              128 + signal.SIGRTMIN + 5)])
def test_signal_exit(hull, busybox_initrd, project_bzimage, name, sig, status):
    """A signal to hull while the guest sleeps stops it promptly with 128+N; no process is left."""

    h = hull("--kernel", project_bzimage, "--initrd", busybox_initrd, "--cpus", 2,
             "--cmdline", guest_cmdline("sleep"))
    h.expect(r"HULL-SLEEPING", 30)
    pid = h.proc.pid
    t0 = time.monotonic()
    h.proc.send_signal(sig)
    rc = h.wait(10)
    took = time.monotonic() - t0
    assert rc == status, h.describe()
    assert took < 5, f"{took:.1f} s to stop after {name}\n{h.describe()}"
    assert re.search(r"^hull: .*stopping the VM$", h.stderr, re.M), h.describe()
    assert not Path(f"/proc/{pid}").exists(), f"hull pid {pid} still exists after {name}"


def test_kick_signal_from_outside(hull, busybox_initrd, project_bzimage):
    """hull's vCPU kick (SIGRTMIN) sent to the process from outside neither ends hull nor stops
    the guest; SIGTERM afterwards still does."""
    h = hull("--kernel", project_bzimage, "--initrd", busybox_initrd, "--cpus", 2,
             "--cmdline", guest_cmdline("counter"))
    h.expect(r"HULL-COUNT 2\n", 60)
    for _ in range(50):
        h.proc.send_signal(signal.SIGRTMIN)
    last = max(int(n) for n in re.findall(r"HULL-COUNT (\d+)\n", h.stdout))
    h.expect(rf"HULL-COUNT {last + 3}\n", 60)
    assert h.proc.poll() is None, h.describe()
    h.proc.send_signal(signal.SIGTERM)
    assert h.wait(10) == 143, h.describe()
    assert "stopping the VM" in h.stderr and "Real-time" not in h.stderr, h.describe()


BOOT_TIMER = re.compile(r"^hull: boot timer: guest booted in (\d+(?:\.\d+)?) ms wall, "
                        r"(\d+(?:\.\d+)?) ms cpu since hull started$", re.M)


def test_boot_timer_demo(hull):
    """--boot-timer with the default kernel and the built-in demo initramfs reports it once."""
    h = hull("--boot-timer")
    assert h.wait(30) == 0, h.describe()
    assert "hull demo guest:" in h.stdout, h.describe()
    found = BOOT_TIMER.findall(h.stderr)
    assert len(found) == 1, h.describe()
    wall = float(found[0][0])
    assert 0 < wall < h.elapsed * 1000, h.describe()


def test_default_kernel_and_demo(hull):
    """With no options, hull boots its default kernel (PVH vmlinux) and the demo initramfs."""
    h = hull()
    assert h.wait(30) == 0, h.describe()
    assert re.search(r"^hull demo guest: Linux \S+ \(x86_64\), 1 vCPU\(s\)", h.stdout, re.M), \
        h.describe()
    assert "hull demo guest: powering off" in h.stdout, h.describe()


def test_kernel_given_no_demo(hull, project_bzimage):
    """--kernel without --initrd boots no initramfs (as QEMU and Firecracker do): not the demo.

    The project kernel then finds no root filesystem and panics; panic=-1 reboots, which ends
    the VM with exit 0.
    """
    h = hull("--kernel", project_bzimage)
    assert h.wait(60) == 0, h.describe()
    assert "hull demo guest" not in h.stdout, h.describe()
    assert re.search(r"VFS: Unable to mount root fs|No working init found", h.stdout), \
        h.describe()


def test_boot_timer_devmem(boot, project_bzimage):
    """busybox `devmem 0xfe000000 8 123` triggers the boot timer report; the guest carries on."""
    h = boot(project_bzimage, "devmem", args=["--boot-timer"])
    assert "HULL-TIMER-WRITTEN" in h.stdout, h.describe()
    assert len(BOOT_TIMER.findall(h.stderr)) == 1, h.describe()


def test_no_boot_timer_without_flag(boot, project_bzimage):
    """Without --boot-timer the same write is ignored: no report."""
    h = boot(project_bzimage, "devmem")
    assert not BOOT_TIMER.search(h.stderr), h.describe()


@pytest.mark.parametrize("which,extra", [("bzimage", ""), ("cloud", ""),
                                         ("bzimage", "acpi=off hull.end=reboot")])
def test_guest_clock(boot, kernels, which, extra):
    """The guest's clock is within 5 s of the host's. With ACPI no rtc_cmos is probed and no
    hctosys runs (the FADT announces no CMOS RTC: their ~130 port exits per boot), and the
    clock comes from kvmclock; booted without ACPI the kernel finds the CMOS clock at ports
    0x70/0x71 as on any PC, and rtc_cmos sets the clock from it."""
    h = boot(kernels[which], "date", extra=("initcall_debug log_buf_len=4M " + extra).strip(),
             args=["--stats"])
    host_now = time.time()
    m = re.search(r"HULL-DATE: (\d+)", h.stdout)
    assert m, h.describe()
    guest = int(m.group(1))
    # The line was printed before hull exited; allow for the time since then.
    assert abs(guest - host_now) < 5 + h.elapsed, f"guest {guest} host {host_now:.0f}\n" + h.describe()
    assert guest <= host_now + 5 and guest >= host_now - h.elapsed - 5, h.describe()
    cmos = "acpi=off" in extra
    assert bool(re.search(r"HULL-DMESG: .*rtc_cmos.*registered as rtc0", h.stdout)) == cmos, \
        h.describe()
    assert bool(re.search(r"HULL-DMESG: .*setting system clock to \d{4}-", h.stdout)) == cmos, \
        h.describe()
    m = re.search(r"^hull: stats: port and MMIO exits by site, most first: (.*)$", h.stderr,
                  re.M)
    assert m, h.describe()
    cmos_reads = [x for x in m.group(1).split(", ") if x.startswith("port 0x71 read ")]
    assert bool(cmos_reads) == cmos, m.group(1)


def test_stats(boot, project_bzimage):
    """--stats: at the end, the milestones of the start in order, the exits to hull by reason
    (adding up to the total) and by site, with the console's port and the boot timer among
    them."""
    h = boot(project_bzimage, "devmem", args=["--boot-timer", "--stats"])
    m = re.search(r"^hull: stats: ms after hull started: (.*)$", h.stderr, re.M)
    assert m, h.describe()
    ms = {k: float(v) for k, v in (item.split() for item in m.group(1).split(", "))}
    order = ["memory", "loaded", "first_run", "first_output", "boot_timer", "stop"]
    assert list(ms) == order, h.describe()
    assert all(ms[a] <= ms[b] for a, b in zip(order, order[1:])), ms
    assert 0 < ms["stop"] < h.elapsed * 1000, (ms, h.elapsed)
    m = re.search(r"^hull: stats: (\d+) exits to hull: (.*)$", h.stderr, re.M)
    assert m, h.describe()
    reasons = {k: int(v) for k, v in (item.split() for item in m.group(2).split(", "))}
    assert sum(reasons.values()) == int(m.group(1)), h.describe()
    assert reasons.get("io", 0) > 0 and reasons.get("mmio", 0) > 0, reasons
    m = re.search(r"^hull: stats: port and MMIO exits by site, most first: (.*)$", h.stderr,
                  re.M)
    assert m, h.describe()
    sites = m.group(1).split(", ")
    assert any(s.startswith("port 0x3f8 write ") for s in sites), sites
    # No CMOS RTC is announced, and with kvmclock the kernel does not read the clock there.
    assert not any(s.startswith(("port 0x70 ", "port 0x71 ")) for s in sites), sites
    counts = [int(s.split()[-1]) for s in sites if not s.endswith("elsewhere")]
    assert counts == sorted(counts, reverse=True), sites


def test_no_stats_without_flag(boot, project_bzimage):
    """Without --stats nothing is reported."""
    h = boot(project_bzimage, "hello")
    assert "hull: stats:" not in h.stderr, h.describe()


def guest_ram_mapping(pid, size):
    """(start address, AnonHugePages in KiB, Rss in KiB) of hull's guest-RAM mapping: named
    [anon:hull-guest-ram], or on kernels without CONFIG_ANON_VMA_NAME (Debian 12's) the one
    anonymous mapping of exactly the RAM's size."""
    found, start, fields = False, None, {}
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            words = line.split()
            if "-" in words[0] and len(words) >= 5:
                if found:
                    break
                lo, hi = (int(x, 16) for x in words[0].split("-"))
                found = (line.rstrip().endswith("[anon:hull-guest-ram]") or
                         (len(words) == 5 and hi - lo == size))
                start = lo
            elif found and words[0].endswith(":") and len(words) >= 2 and words[1].isdigit():
                fields[words[0][:-1]] = int(words[1])
    assert found, f"no guest-RAM mapping of {size} bytes in /proc/{pid}/smaps"
    return start, fields["AnonHugePages"], fields["Rss"]


def test_guest_ram_huge_pages(hull, busybox_initrd, project_bzimage):
    """Guest RAM starts at a 2 MiB-aligned host address, so that (where the host has
    transparent huge pages, as Debian's kernel does) huge pages back what the guest touched:
    each is one fault and one large entry in KVM's page tables, not 512."""
    h = hull("--kernel", project_bzimage, "--initrd", busybox_initrd, "--memory", "256M",
             "--cmdline", guest_cmdline("echo"))
    h.expect(r"HULL-READY", 60)
    start, huge, rss = guest_ram_mapping(h.proc.pid, 256 * MiB)
    h.send("done\n")
    assert h.wait(30) == 0, h.describe()
    assert start % (2 * MiB) == 0, hex(start)
    thp = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    if "[never]" in thp:
        assert huge == 0, (huge, rss)
    else:
        # At least one: how many depends on the host's free huge pages, not on hull.
        assert huge >= 2048, f"{huge} KiB of {rss} KiB in huge pages"


def smaps_mappings(pid):
    """Every mapping of /proc/PID/smaps: (start, end, name, {field: kB})."""
    maps = []
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            words = line.split()
            if "-" in words[0] and len(words) >= 5:
                lo, hi = (int(x, 16) for x in words[0].split("-"))
                maps.append((lo, hi, " ".join(words[5:]), {}))
            elif words[0].endswith(":") and len(words) >= 2 and words[1].isdigit():
                maps[-1][3][words[0][:-1]] = int(words[1])
    return maps


def test_guest_ram_hugetlb(hull, huge_pool, busybox_initrd, project_bzimage):
    """--memory 256M,hugepages=on with 140 huge pages free: the guest runs, hull's RAM mapping
    is hugetlb (2048 kB kernel pages), all 128 of its pages reserved from the pool at start
    (what the guest touched in use, the rest reserved), and all back when hull exits."""
    huge_pool(140)
    h = hull("--kernel", project_bzimage, "--initrd", busybox_initrd,
             "--memory", "256M,hugepages=on", "--cmdline", guest_cmdline("echo"))
    h.expect(r"HULL-READY", 60)
    ram = [m for m in smaps_mappings(h.proc.pid) if m[1] - m[0] == 256 * MiB]
    left = huge_available()
    h.send("done\n")
    assert h.wait(30) == 0, h.describe()
    assert "HULL-GOT: done" in h.stdout, h.describe()
    assert len(ram) == 1, ram
    lo, _, name, fields = ram[0]
    print(f"hugetlb RAM: {name} {fields.get('Private_Hugetlb')} kB in use at the guest's init")
    assert fields["KernelPageSize"] == 2048, fields
    assert lo % (2 * MiB) == 0, hex(lo)
    assert fields["Private_Hugetlb"] >= 2048, fields
    assert left == 140 - 128, left
    assert huge_available() == 140


def test_guest_ram_hugetlb_pool_short(hull, huge_pool, busybox_initrd, project_bzimage):
    """With 100 huge pages free, --memory 256M,hugepages=on (128 pages) fails at start with a
    message that says how many it needs and has; nothing of the guest runs."""
    huge_pool(100)
    h = hull("--kernel", project_bzimage, "--initrd", busybox_initrd,
             "--memory", "256M,hugepages=on", "--cmdline", guest_cmdline("echo"))
    rc = h.wait(30)
    assert rc != 0, h.describe()
    assert ("hugepages=on needs 128 free 2 MiB huge pages for 256 MiB of RAM, the host has 100"
            in h.stderr), h.describe()
    assert "raise /proc/sys/vm/nr_hugepages by 28" in h.stderr, h.describe()
    assert "HULL-" not in h.stdout, h.describe()
    assert huge_available() == 100


@pytest.fixture
def thp_always():
    """Transparent huge pages on for every anonymous mapping ("always", Debian's default) for
    the test, whatever the host has; put back after."""
    knob = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    old = re.search(r"\[(\w+)\]", knob.read_text()).group(1)
    knob.write_text("always\n")
    yield
    knob.write_text(f"{old}\n")


def test_own_memory_no_huge_pages(hull, thp_always, busybox_initrd, project_bzimage):
    """With THP "always", none of hull's own memory (outside guest RAM) is in huge pages, and
    with two vCPUs it stays small. A vCPU thread's default 8 MiB stack used to get a 2 MiB
    huge page at its first touch: 2 MiB resident per vCPU."""
    h = hull("--kernel", project_bzimage, "--initrd", busybox_initrd, "--memory", "256M",
             "--cpus", "2", "--cmdline", guest_cmdline("echo"))
    h.expect(r"HULL-READY", 60)
    maps = smaps_mappings(h.proc.pid)
    h.send("done\n")
    assert h.wait(30) == 0, h.describe()
    own = [m for m in maps if m[1] - m[0] != 256 * MiB]
    assert len(own) < len(maps), "no guest-RAM mapping"
    huge = [(hex(lo), name, f["AnonHugePages"]) for lo, _, name, f in own
            if f.get("AnonHugePages")]
    rss = sum(f["Rss"] for _, _, _, f in own)
    print(f"hull's own resident memory with 2 vCPUs: {rss} KiB")
    assert not huge, huge
    # The two vCPU threads' stacks below 2 MiB each: what makes a huge page impossible there.
    stacks = [hi - lo for lo, hi, name, _ in own if not name and MiB // 2 <= hi - lo < 2 * MiB]
    assert len(stacks) >= 2, [(hex(lo), hi - lo, name) for lo, hi, name, _ in own]
