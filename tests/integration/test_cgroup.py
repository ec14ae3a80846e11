"""Lab: `hull vm --cgroup PATH` puts hull, every thread of it, in a host cgroup v2 it makes, with
memory.max = guest RAM + hull's overhead and --cpu-affinity's CPUs as cpuset.cpus; hull survives
a guest that touches its RAM under that limit, and removes the cgroup at exit.

Needs root and a cgroup2 filesystem at /sys/fs/cgroup (in the lab, which mounts none, the test
mounts it). The test also prints
what hull's memory beyond guest RAM is made of (README, "Host memory.max"): run it with -s."""

import os
import pathlib
import re
import signal
import time

import pytest

from harness import guest_cmdline, lab_mount_cgroup2

pytestmark = pytest.mark.lab

CG_ROOT = pathlib.Path("/sys/fs/cgroup")
MIB = 1 << 20


def cgroup_v2_root():
    """Fails (never skips) where the test cannot run: not root, or no cgroup v2 at the root
    (the lab mounts none: it is mounted here)."""
    if os.geteuid() != 0:
        pytest.fail("test_cgroup needs root (run it in the lab: tests/lab/lab.sh)", pytrace=False)
    try:
        lab_mount_cgroup2(str(CG_ROOT))
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)


def kib(text, key):
    m = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) * 1024 if m else 0


def guest_ram_rss(pid, size):
    """Resident bytes of hull's mappings of guest RAM: those named hull-guest-ram, or where the
    kernel does not name anonymous mappings, those of exactly size bytes."""
    named, sized, cur = 0, 0, None
    for ln in pathlib.Path(f"/proc/{pid}/smaps").read_text().splitlines():
        m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) ", ln)
        if m:
            cur = (int(m.group(2), 16) - int(m.group(1), 16), "hull-guest-ram" in ln)
        elif ln.startswith("Rss:") and cur:
            kb = int(ln.split()[1]) * 1024
            named += kb if cur[1] else 0
            sized += kb if cur[0] == size else 0
    return named or sized


def stat(cg):
    out = {}
    for ln in (cg / "memory.stat").read_text().splitlines():
        k, v = ln.split()
        out[k] = int(v)
    return out


@pytest.mark.parametrize("vcpus,mem_mib", [(1, 512), (4, 256)])
def test_vm_in_host_cgroup(hull, project_bzimage, busybox_initrd, vcpus, mem_mib):
    """hull vm's default shape (1 vCPU, 512M), and 4 vCPUs on at most 2 CPUs with 256M; the
    guest fills 60% of its RAM."""
    cgroup_v2_root()
    name = f"hull-test-{os.getpid()}-{vcpus}"
    cg = CG_ROOT / name
    assert not cg.exists(), cg
    cpus = sorted(os.sched_getaffinity(0))[:2]
    cpu_list = ",".join(map(str, cpus))
    mem = mem_mib * MIB
    fill = mem_mib * 6 // 10
    h = hull("--kernel", project_bzimage, "--initrd", busybox_initrd, "--cpus", vcpus,
             "--memory", f"{mem_mib}M", "--cgroup", f"/{name}", "--cpu-affinity", cpu_list,
             "--verbose", "--cmdline", guest_cmdline("fill", f"hull.fill={fill}"))
    try:
        filled = int(h.expect(r"HULL-FILLED: (\d+) MiB", 300).group(1))
        assert filled >= fill - 1, h.describe()
        time.sleep(1)
        pid = h.proc.pid
        # Every thread of hull in the cgroup.
        for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
            assert (task / "cgroup").read_text().strip() == f"0::/{name}", (task, h.describe())
        # Besides hull, only KVM's own kernel threads for the VM (kvm-nx-lpage-recovery, ...),
        # which join the cgroups of the process that made the VM.
        procs = (cg / "cgroup.procs").read_text().split()
        assert str(pid) in procs, procs
        others = {p: pathlib.Path(f"/proc/{p}/comm").read_text().strip()
                  for p in procs if p != str(pid)}
        assert all(c.startswith("kvm") for c in others.values()), others
        # Its limits: RAM plus hull's overhead, the CPUs given.
        m = re.search(r"cgroup /\S+: hull in \S+, memory.max (\d+)", h.stderr)
        assert m, h.describe()
        limit = int((cg / "memory.max").read_text())
        assert limit == int(m.group(1)), (limit, h.describe())
        assert mem < limit < mem + 64 * MIB, limit
        assert (cg / "cpuset.cpus").read_text().strip() in (cpu_list, f"{cpus[0]}-{cpus[-1]}")
        # A guest that touched 192 MiB of its RAM fits: hull was never OOM-killed or stalled
        # at the limit.
        events = dict(ln.split() for ln in (cg / "memory.events").read_text().splitlines())
        assert events["oom_kill"] == "0" and events["oom"] == "0", events
        current = int((cg / "memory.current").read_text())
        peak_file = cg / "memory.peak"
        peak = int(peak_file.read_text()) if peak_file.exists() else current
        assert peak < limit, (peak, limit)
        # What hull costs beyond guest RAM, for the README's formula.
        status = pathlib.Path(f"/proc/{pid}/status").read_text()
        rss = kib(status, "VmRSS")
        ram = guest_ram_rss(pid, mem)
        st = stat(cg)
        print(f"\n{vcpus} vCPUs, {mem_mib} MiB, {filled} MiB filled: "
              f"hull cgroup: memory.max {limit / MIB:.1f} MiB, current {current / MIB:.1f} "
              f"MiB, peak {peak / MIB:.1f} MiB")
        print(f"hull RSS {rss / MIB:.1f} MiB, of it guest RAM {ram / MIB:.1f} MiB: outside "
              f"guest RAM {(rss - ram) / MIB:.1f} MiB (anon {kib(status, 'RssAnon') / MIB:.1f}"
              f", file {kib(status, 'RssFile') / MIB:.1f}, shmem "
              f"{kib(status, 'RssShmem') / MIB:.1f} MiB, all mappings)")
        print("memory.stat: " + ", ".join(
            f"{k} {st[k] / MIB:.2f} MiB" for k in ("anon", "file", "kernel", "kernel_stack",
                                                    "pagetables", "sec_pagetables", "percpu",
                                                    "slab", "sock", "shmem") if k in st))
        print(f"cgroup beyond guest RAM: {(current - ram) / MIB:.1f} MiB now, "
              f"{(peak - ram) / MIB:.1f} MiB at peak")
    finally:
        h.proc.send_signal(signal.SIGTERM)
        rc = h.wait(30)
    assert rc == 143, h.describe()
    # hull made the cgroup, so it removed it, itself moved back first.
    assert not cg.exists(), h.describe()
