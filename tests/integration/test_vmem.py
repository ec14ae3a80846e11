"""virtio-mem: `hull ctl PATH memory SIZE` against a stand-in (host, no KVM), and a guest whose
memory grows and shrinks by plugging and unplugging 128 MiB blocks of its hotplug region (lab):
MemTotal rises by what was plugged, and an unplug gives the memory back to the host."""

import json
import os
import pathlib
import subprocess
import time

import pytest

from conftest import huge_available
from harness import guest_cmdline, rss_bytes
from test_control import StandIn, rundir  # noqa: F401 (a fixture)

MIB = 1 << 20
GIB = 1 << 30
BOOT = 512 * MIB
REGION = 1536 * MIB  # --max-memory 2G less --memory 512M
FILL_MIB = 1000


def ctl(hull_bin, sock, *args, timeout=60):
    """`hull ctl SOCK ARGS...`: (exit status, stdout, stderr)."""
    p = subprocess.run([hull_bin, "ctl", str(sock), *args], capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


# --- host: the client against a stand-in -----------------------------------------------------

@pytest.mark.host
def test_ctl_memory_request(hull_bin, rundir):
    """SIZE becomes "size" in bytes; memory without a SIZE, or with one that is no size, is bad
    usage (exit 2) and nothing is sent; an error reply exits 1."""
    server = StandIn(rundir / "api.sock", b'{"ok":true}\n')
    rc, out, err = ctl(hull_bin, rundir / "api.sock", "memory", "1536M")
    server.join()
    assert (rc, out, err) == (0, '{"ok":true}\n', ""), (rc, out, err)
    assert server.request == b'{"cmd":"memory","size":1610612736}\n'

    server = StandIn(rundir / "e.sock", b'{"error":"memory: the VM has no hotplug memory"}\n')
    rc, out, err = ctl(hull_bin, rundir / "e.sock", "memory", "1G")
    server.join()
    assert rc == 1 and "no hotplug memory" in out, (rc, out, err)

    rc, out, err = ctl(hull_bin, rundir / "none.sock", "memory")
    assert rc == 2 and "memory needs a size" in err, (rc, out, err)
    rc, out, err = ctl(hull_bin, rundir / "none.sock", "memory", "lots")
    assert rc == 2 and "memory 'lots': not a size" in err, (rc, out, err)


# --- lab: a guest that grows and shrinks -----------------------------------------------------

def hotplug_state(hull_bin, sock, h):
    rc, out, err = ctl(hull_bin, sock, "state")
    assert rc == 0, (rc, out, err, h.describe())
    return json.loads(out)["hotplug"]


def poll(what, timeout, step=0.25):
    """Call what() until it returns something true, for at most timeout seconds: the value and
    the seconds it took, or (None, timeout)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        got = what()
        if got:
            return got, time.monotonic() - start
        time.sleep(step)
    return None, timeout


class Guest:
    """The "vmem" script's console: ask(word) sends a line and returns its answer's (MemTotal,
    MemFree) in bytes; every word is new, so every answer is a new line."""

    def __init__(self, h):
        self.h = h
        self.n = 0

    def ask(self, cmd, arg="", timeout=120):
        self.n += 1
        word = f"{cmd}{self.n}" if cmd == "mem" else cmd
        self.h.send(f"{word} {arg}\n" if arg else f"{word}\n")
        m = self.h.expect(rf"HULL-VMEM {word} total=(\d+) free=(\d+)\n", timeout)
        return int(m.group(1)) * 1024, int(m.group(2)) * 1024

    def total_becomes(self, want, timeout):
        """Ask until MemTotal is want: the seconds it took, or None (the last value printed)."""
        got, took = poll(lambda: self.ask("mem")[0] == want, timeout, step=0.5)
        return took if got else None


@pytest.mark.lab
def test_vmem_grow_shrink(hull, hull_bin, busybox_initrd, project_bzimage, rundir):
    """--memory 512M --max-memory 2G: a 1.5 GiB hotplug region, nothing plugged at boot, the
    kernel command line asks for movable onlining. `hull ctl PATH memory 1536M`: 1 GiB plugged
    and the guest's MemTotal up by exactly 1 GiB. The guest touches 1000 MiB (most of it in the
    plugged blocks: ZONE_MOVABLE comes first for file pages) and frees it; `memory 512M`:
    everything unplugged, MemTotal back to where it was, hull's RSS down by at least 80% of the
    GiB removed. Sizes outside the region or off the block size are refused. The times to plug
    and to unplug 1 GiB are printed."""
    sock = rundir / "api.sock"
    h = hull("--kernel", project_bzimage, "--initrd", busybox_initrd, "--memory", "512M",
             "--max-memory", "2G", "--api-sock", sock, "--cmdline", guest_cmdline("vmem"))
    m = h.expect(r"HULL-VMEM boot total=(\d+) cmdline=(.*)\n", 120)
    boot_total, cmdline = int(m.group(1)) * 1024, m.group(2)
    g = Guest(h)
    print(f"vmem: boot MemTotal {boot_total >> 20} MiB; cmdline {cmdline}")
    assert "memhp_default_state=online_movable" in cmdline.split(), cmdline
    assert hotplug_state(hull_bin, sock, h) == {"region": REGION, "plugged": 0, "requested": 0}

    # Refused: past the region, below the boot memory, not a whole number of blocks.
    for size, words in (("2049M", "is outside"), ("256M", "is outside"),
                        ("600M", "plus a multiple of 128 MiB")):
        rc, out, err = ctl(hull_bin, sock, "memory", size)
        assert rc == 1 and words in out, (size, rc, out, err)
    assert hotplug_state(hull_bin, sock, h)["requested"] == 0

    # Grow by 1 GiB.
    started = time.monotonic()
    rc, out, err = ctl(hull_bin, sock, "memory", "1536M")
    assert (rc, out) == (0, '{"ok":true}\n'), (rc, out, err)
    st, _ = poll(lambda: (s := hotplug_state(hull_bin, sock, h))["plugged"] == GIB and s, 300)
    assert st, f"not plugged: {hotplug_state(hull_bin, sock, h)}\n{h.describe()}"
    assert st == {"region": REGION, "plugged": GIB, "requested": GIB}, st
    took = g.total_becomes(boot_total + GIB, 120)
    grown = g.ask("mem")[0]
    assert took is not None, (f"MemTotal {grown >> 20} MiB, not {(boot_total + GIB) >> 20}"
                              f"\n{h.describe()}")
    plug_s = time.monotonic() - started
    print(f"vmem: plugged 1 GiB in {plug_s:.1f} s (MemTotal {boot_total >> 20} -> "
          f"{grown >> 20} MiB)")

    # Touch the memory, free it again: hull holds it until the blocks are unplugged.
    total, free = g.ask("fill", str(FILL_MIB), timeout=300)
    print(f"vmem: the guest filled {FILL_MIB} MiB (free {free >> 20} MiB)")
    g.ask("free")
    filled = rss_bytes(h.proc.pid)

    # Shrink back to the boot memory.
    started = time.monotonic()
    rc, out, err = ctl(hull_bin, sock, "memory", "512M")
    assert (rc, out) == (0, '{"ok":true}\n'), (rc, out, err)
    st, _ = poll(lambda: (s := hotplug_state(hull_bin, sock, h))["plugged"] == 0 and s, 600)
    unplug_s = time.monotonic() - started
    after = rss_bytes(h.proc.pid)
    assert st, f"not unplugged: {hotplug_state(hull_bin, sock, h)}\n{h.describe()}"
    assert st["requested"] == 0, st
    took = g.total_becomes(boot_total, 120)
    assert took is not None, f"MemTotal did not fall back\n{h.describe()}"
    print(f"vmem: unplugged 1 GiB in {unplug_s:.1f} s (hull RSS {filled >> 20} -> "
          f"{after >> 20} MiB)")
    assert filled - after >= 0.8 * GIB, (filled >> 20, after >> 20)

    h.send("done\n")
    h.expect(r"HULL-INIT: done status=0\n", 60)
    assert h.wait(60) == 0, h.describe()


@pytest.mark.lab
def test_vmem_balloon_reports_hotplug(hull, hull_bin, busybox_initrd, project_bzimage, rundir):
    """The balloon reaches plugged hotplug memory: with --balloon on, 1 GiB plugged and 1000
    MiB touched there and freed, free page reporting gives it back to the host (hull's RSS down
    by at least 80% of 1 GiB) while the blocks stay plugged."""
    sock = rundir / "api.sock"
    h = hull("--kernel", project_bzimage, "--initrd", busybox_initrd, "--memory", "512M",
             "--max-memory", "2G", "--balloon", "on", "--api-sock", sock,
             "--cmdline", guest_cmdline("vmem"))
    m = h.expect(r"HULL-VMEM boot total=(\d+) cmdline=(.*)\n", 120)
    boot_total = int(m.group(1)) * 1024
    g = Guest(h)
    rc, out, err = ctl(hull_bin, sock, "memory", "1536M")
    assert rc == 0, (rc, out, err)
    st, _ = poll(lambda: hotplug_state(hull_bin, sock, h)["plugged"] == GIB, 300)
    assert st, f"not plugged: {hotplug_state(hull_bin, sock, h)}\n{h.describe()}"
    assert g.total_becomes(boot_total + GIB, 120) is not None, h.describe()
    g.ask("fill", str(FILL_MIB), timeout=300)
    filled = rss_bytes(h.proc.pid)
    g.ask("free")
    back, took = poll(lambda: filled - rss_bytes(h.proc.pid) >= 0.8 * GIB, 120, step=0.5)
    after = rss_bytes(h.proc.pid)
    print(f"vmem+balloon: free page reporting returned {(filled - after) >> 20} MiB of "
          f"{FILL_MIB} in {took:.1f} s (hull RSS {filled >> 20} -> {after >> 20} MiB)")
    assert back, (filled >> 20, after >> 20, h.describe())
    assert hotplug_state(hull_bin, sock, h)["plugged"] == GIB
    rc, out, err = ctl(hull_bin, sock, "balloon")
    assert rc == 0 and json.loads(out)["reported"] >= 0.8 * GIB, (rc, out, err)
    h.send("done\n")
    h.expect(r"HULL-INIT: done status=0\n", 60)
    assert h.wait(60) == 0, h.describe()


@pytest.mark.lab
def test_ctl_update_resizes_standalone_vm(hull, hull_bin, busybox_initrd, project_bzimage,
                                          rundir):
    """`hull ctl PATH update --memory` on `hull vm --memory 512M --max-memory 2G --cgroup`: the
    limit is the guest's size. 1G plugs 512 MiB (MemTotal up by it) and raises the cgroup's
    memory.max to RAM + plugged + overhead; 700M asks for 256 MiB (700M - 512M rounded up to a
    block) and memory.max falls only once the guest has unplugged; 256M unplugs everything and
    memory.max is the limit plus the overhead. A limit past RAM + region is refused, naming the
    sizes, with nothing changed. Without --cgroup the same flag only resizes the guest; without
    --max-memory it is refused."""
    from test_cgroup import cgroup_v2_root
    cgroup_v2_root()
    name = f"hull-vmem-update-{os.getpid()}"
    cg = pathlib.Path("/sys/fs/cgroup") / name
    sock = rundir / "api.sock"
    h = hull("--kernel", project_bzimage, "--initrd", busybox_initrd, "--memory", "512M",
             "--max-memory", "2G", "--cgroup", f"/{name}", "--api-sock", sock,
             "--cmdline", guest_cmdline("vmem"))
    m = h.expect(r"HULL-VMEM boot total=(\d+) cmdline=(.*)\n", 120)
    boot_total = int(m.group(1)) * 1024
    g = Guest(h)

    def mem_max():
        return int((cg / "memory.max").read_text())

    def update(size):
        return ctl(hull_bin, sock, "update", "--memory", size)

    # Refused: past RAM + region; nothing changes.
    at_boot = mem_max()
    rc, out, err = update("3G")
    assert rc == 1 and str(3 * GIB) in out and str(BOOT) in out and str(REGION) in out, (rc, out)
    assert mem_max() == at_boot and hotplug_state(hull_bin, sock, h)["requested"] == 0

    # Grow: 1G is the RAM and 512 MiB plugged.
    rc, out, err = update("1G")
    assert (rc, out) == (0, '{"ok":true}\n'), (rc, out, err)
    st, _ = poll(lambda: (s := hotplug_state(hull_bin, sock, h))["plugged"] == 512 * MIB and s,
                 300)
    assert st and st["requested"] == 512 * MIB, hotplug_state(hull_bin, sock, h)
    assert g.total_becomes(boot_total + 512 * MIB, 120) is not None, h.describe()
    grown = mem_max()
    overhead = grown - GIB
    print(f"update 1G: memory.max {at_boot >> 20} -> {grown >> 20} MiB "
          f"(overhead {overhead / MIB:.1f} MiB)")
    assert 8 * MIB <= overhead <= 64 * MIB, overhead

    # Shrink to 700M: 256 MiB stay plugged; memory.max held until the unplug is done.
    rc, out, err = update("700M")
    assert (rc, out) == (0, '{"ok":true}\n'), (rc, out, err)
    held = mem_max()
    assert held >= grown - 1 * MIB, (held, grown)  # not lowered before the guest unplugged
    settled, _ = poll(lambda: hotplug_state(hull_bin, sock, h)["plugged"] == 256 * MIB, 300)
    assert settled, hotplug_state(hull_bin, sock, h)
    lowered, _ = poll(lambda: mem_max() < held and mem_max(), 30)
    assert lowered and abs(lowered - (BOOT + 256 * MIB + overhead)) <= 2 * MIB, (lowered, held)
    assert g.total_becomes(boot_total + 256 * MIB, 120) is not None, h.describe()

    # Below the RAM: nothing plugged; memory.max the limit plus the overhead.
    rc, out, err = update("256M")
    assert (rc, out) == (0, '{"ok":true}\n'), (rc, out, err)
    st, _ = poll(lambda: (s := hotplug_state(hull_bin, sock, h))["plugged"] == 0 and s, 300)
    assert st and st["requested"] == 0, hotplug_state(hull_bin, sock, h)
    low, _ = poll(lambda: (v := mem_max()) < lowered and v, 30)
    assert low and abs(low - (256 * MIB + overhead)) <= 2 * MIB, (low, overhead)
    assert g.total_becomes(boot_total, 120) is not None, h.describe()

    h.send("done\n")
    h.expect(r"HULL-INIT: done status=0\n", 60)
    assert h.wait(60) == 0, h.describe()
    assert "256 MiB unplugged, 256 MiB plugged" in h.stderr, h.stderr
    assert "256 MiB unplugged, 0 MiB plugged" in h.stderr, h.stderr

    # Without --cgroup: the guest is resized all the same; without --max-memory: refused.
    h = hull("--kernel", project_bzimage, "--initrd", busybox_initrd, "--memory", "512M",
             "--max-memory", "1G", "--api-sock", sock, "--cmdline", guest_cmdline("vmem"))
    h.expect(r"HULL-VMEM boot total=(\d+) cmdline=(.*)\n", 120)
    rc, out, err = update("640M")
    assert (rc, out) == (0, '{"ok":true}\n'), (rc, out, err)
    st, _ = poll(lambda: (s := hotplug_state(hull_bin, sock, h))["plugged"] == 128 * MIB and s,
                 300)
    assert st, hotplug_state(hull_bin, sock, h)
    rc, out, err = ctl(hull_bin, sock, "update", "--pids-limit", "10")
    assert rc == 1 and "hull vm --cgroup" in out, (rc, out)
    h.send("done\n")
    h.expect(r"HULL-INIT: done status=0\n", 60)
    assert h.wait(60) == 0, h.describe()
    h = hull("--kernel", project_bzimage, "--initrd", busybox_initrd, "--memory", "512M",
             "--api-sock", sock, "--cmdline", guest_cmdline("vmem"))
    h.expect(r"HULL-VMEM boot total=(\d+) cmdline=(.*)\n", 120)
    rc, out, err = update("640M")
    assert rc == 1 and "--max-memory" in out, (rc, out)
    h.send("done\n")
    h.expect(r"HULL-INIT: done status=0\n", 60)
    assert h.wait(60) == 0, h.describe()


@pytest.mark.lab
def test_vmem_hugepages(hull, hull_bin, huge_pool, busybox_initrd, project_bzimage, rundir):
    """--memory 512M,hugepages=on --max-memory 1G with the RAM's 256 huge pages free and one
    block's 64 more: the hotplug region takes none at start; plugging 128 MiB takes its 64 and
    the guest's MemTotal rises by 128 MiB; a second block the pool cannot give is refused (the
    guest is told to retry; hull says why) and nothing else changes; unplugging gives the 64
    back to the pool."""
    huge_pool(256 + 64)
    sock = rundir / "api.sock"
    h = hull("--kernel", project_bzimage, "--initrd", busybox_initrd,
             "--memory", "512M,hugepages=on", "--max-memory", "1G", "--api-sock", sock,
             "--cmdline", guest_cmdline("vmem"))
    m = h.expect(r"HULL-VMEM boot total=(\d+) cmdline=(.*)\n", 120)
    boot_total = int(m.group(1)) * 1024
    g = Guest(h)
    assert huge_available() == 64, "the hotplug region reserved huge pages at start"
    assert hotplug_state(hull_bin, sock, h) == {"region": 512 * MIB, "plugged": 0,
                                                "requested": 0}

    rc, out, err = ctl(hull_bin, sock, "memory", "640M")
    assert (rc, out) == (0, '{"ok":true}\n'), (rc, out, err)
    st, _ = poll(lambda: hotplug_state(hull_bin, sock, h)["plugged"] == 128 * MIB, 300)
    assert st, f"not plugged: {hotplug_state(hull_bin, sock, h)}\n{h.describe()}"
    assert g.total_becomes(boot_total + 128 * MIB, 120) is not None, h.describe()
    assert huge_available() == 0

    # One block more than the pool has: refused, logged, nothing plugged or lost.
    rc, out, err = ctl(hull_bin, sock, "memory", "768M")
    assert (rc, out) == (0, '{"ok":true}\n'), (rc, out, err)
    said, _ = poll(lambda: "too few free 2 MiB pages in the host's pool" in h.stderr or
                   h._pump(0.2), 120)
    assert said, h.describe()
    assert hotplug_state(hull_bin, sock, h)["plugged"] == 128 * MIB
    assert g.ask("mem")[0] == boot_total + 128 * MIB

    rc, out, err = ctl(hull_bin, sock, "memory", "512M")
    assert (rc, out) == (0, '{"ok":true}\n'), (rc, out, err)
    st, _ = poll(lambda: hotplug_state(hull_bin, sock, h)["plugged"] == 0, 300)
    assert st, f"not unplugged: {hotplug_state(hull_bin, sock, h)}\n{h.describe()}"
    assert g.total_becomes(boot_total, 120) is not None, h.describe()
    assert huge_available() == 64
    h.send("done\n")
    h.expect(r"HULL-INIT: done status=0\n", 60)
    assert h.wait(60) == 0, h.describe()
