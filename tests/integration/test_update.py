"""`hull update` applied live at every level (issue 15): the container's cgroup in the guest
(read with `hull exec ID cat ...`), hull's host cgroup at linux.cgroupsPath, the vCPU pinning;
state.json keeps the resources only when the update was applied; a refused update (a memory
limit above the VM's RAM, a CPU hull may not use) changes no level. Within the limits set live:
a fork bomb stops at pids.max, a process allocating past memory.max is OOM-killed in the guest
(exit 137) while the container, its VM and hull go on; `hull run`'s own process OOM-killed makes
hull exit 137.

The re-pinning itself (vCPU i on the i-th CPU of the new set) is unit-tested (test_vcpu's
test_repin_while_running, on the unit host's CPUs): the lab's L1 has one CPU, so here the only
cpuset is "0". The rollback order when a level refuses after others were written is
unit-tested with fake levels (test_limits)."""

import contextlib
import json
import os
import pathlib
import re
import subprocess

import pytest

from test_cgroup import cgroup_v2_root
from test_host import thread_cpus
from test_runtime import BOOT_TIMEOUT, create, lab_bundle, rt, state_of  # noqa: F401
from test_runtime import subreaper, wait_status  # noqa: F401  (fixtures)
from test_control import rundir  # noqa: F401  (fixture)

lab = pytest.mark.lab
CG_ROOT = pathlib.Path("/sys/fs/cgroup")
MIB = 1 << 20
GUEST_CG = "/sys/fs/cgroup/hull"


def with_limits(bundle, name, resources):
    """The bundle's config.json with a cgroupsPath, resources and cgroup2 mounted in it."""
    cfg_path = bundle / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["mounts"] = [{"destination": "/sys/fs/cgroup", "type": "cgroup2", "source": "cgroup2"}]
    cfg["linux"] = {"cgroupsPath": f"/{name}", "resources": resources}
    cfg_path.write_text(json.dumps(cfg))


def exec_settled(hull_bin, root, cid, *args):
    """hull exec, once more after a pause when its streams were reset: a guest busy writing an
    OOM report to its (TCG-slow) console can miss the host's 1 s for a stream's first frame."""
    import time
    p = rt(hull_bin, root, "exec", cid, *args)
    if p.returncode == 1 and "did not start" in p.stderr:
        print(f"exec {args}: {p.stderr.strip()!r}: again in 5 s")
        time.sleep(5)
        p = rt(hull_bin, root, "exec", cid, *args)
    return p


def guest_files(hull_bin, root, cid, *names):
    """The container's cgroup files in the guest, read with hull exec."""
    p = exec_settled(hull_bin, root, cid, "cat", *[f"{GUEST_CG}/{n}" for n in names])
    assert p.returncode == 0, p
    return p.stdout.split("\n")[:len(names)]


def host_files(cg, *names):
    return [(cg / n).read_text().strip() for n in names]


def stored(root, cid):
    return json.loads((root / cid / "state.json").read_text())["hull"].get("resources")


@lab
def test_update_every_level(hull_bin, tmp_path, lab_bundle, subreaper):  # noqa: F811
    """update --cpu-quota/--cpu-period/--pids-limit/--memory rewrites the guest's and the
    host's cgroup files and state.json; refused updates (memory above the VM's RAM, a CPU hull
    may not use; a swap limit the guest's cgroup has no file for, after the host's levels were
    written) say why and leave every level and state.json as they were;
    a fork bomb stops at pids.max; a process past the limit is OOM-killed (SIGKILL: 137) and
    the container goes on; -1 clears a limit at both levels."""
    cgroup_v2_root()
    name = f"hull-update-{os.getpid()}"
    cg = CG_ROOT / name
    root = tmp_path / "root"
    b = lab_bundle(["/bin/sleep", "1000"])
    with_limits(b, name, {"cpu": {"quota": 100000, "period": 100000, "cpus": "0"},
                          "memory": {"limit": 256 * MIB}, "pids": {"limit": 100}})
    pid, _, err = create(hull_bin, root, b, "u1", tmp_path)
    try:
        assert rt(hull_bin, root, "start", "u1").returncode == 0
        files = ("cpu.max", "pids.max", "memory.max")
        assert guest_files(hull_bin, root, "u1", *files) == ["100000 100000", "100",
                                                            str(256 * MIB)]
        assert host_files(cg, "cpu.max", "pids.max") == ["100000 100000", "max"]
        host_mem = host_files(cg, "memory.max")[0]
        assert int(host_mem) > 256 * MIB

        p = rt(hull_bin, root, "update", "--cpu-quota", "50000", "--cpu-period", "200000",
               "--pids-limit", "20", "--memory", "128m", "u1")
        assert p.returncode == 0, p.stderr
        print(f"update applied: {p.stderr.strip()!r}")
        got = guest_files(hull_bin, root, "u1", *files)
        print(f"guest cgroup after update: {got}")
        assert got == ["50000 200000", "20", str(128 * MIB)], got
        # The host: the CPU limit rewritten; memory.max falls by the 128M of the RAM the
        # balloon takes (once it holds them); no pids.max there (the processes are the guest's).
        host_mem = str(int(host_mem) - 128 * MIB)
        assert wait_for("host limit", lambda: host_files(cg, "memory.max")[0] == host_mem,
                        60), (host_mem, host_files(cg, "memory.max"))
        got = host_files(cg, "cpu.max", "pids.max", "memory.max")
        print(f"host cgroup after update: {got}")
        assert got == ["50000 200000", "max", host_mem], got
        res = stored(root, "u1")
        assert res["cpu"]["quota"] == 50000 and res["pids"]["limit"] == 20, res
        assert res["memory"]["limit"] == 128 * MIB, res

        # Refused: above what the VM can reach (its RAM of 256M and a hotplug region of 768M,
        # 4 times the RAM in all), a CPU hull may not use. Nothing changes.
        p = rt(hull_bin, root, "update", "--memory", "2g", "--pids-limit", "30", "u1")
        print(f"refused update: {p.stderr.strip()!r}")
        assert p.returncode != 0, p
        assert str(2 << 30) in p.stderr and str(256 * MIB) in p.stderr, p.stderr
        assert str(768 * MIB) in p.stderr, p.stderr
        outside = max(os.sched_getaffinity(0)) + 1
        p = rt(hull_bin, root, "update", "--cpuset-cpus", str(outside), "--cpu-quota",
               "70000", "u1")
        print(f"refused update: {p.stderr.strip()!r}")
        assert p.returncode != 0 and f"CPU {outside}" in p.stderr, p.stderr
        assert guest_files(hull_bin, root, "u1", *files) == ["50000 200000", "20",
                                                            str(128 * MIB)]
        assert host_files(cg, "cpu.max", "memory.max") == ["50000 200000", host_mem]
        assert stored(root, "u1") == res
        # Refused by a level after others were written: the guest kernel has no swap
        # (CONFIG_SWAP is off), so its cgroup has no memory.swap.max; the CPU limit, written
        # on the host (and in the guest, before the swap file) is set back everywhere.
        swap_file = cg / "memory.swap.max"
        swap_before = swap_file.read_text().strip() if swap_file.exists() else None
        p = rt(hull_bin, root, "update", "--cpu-quota", "70000", "--memory", "128m",
               "--memory-swap", "256m", "u1")
        print(f"refused by a level: {p.stderr.strip()!r}")
        assert p.returncode != 0 and "refused" in p.stderr, p.stderr
        assert "memory.swap.max" in p.stderr, p.stderr
        assert guest_files(hull_bin, root, "u1", *files) == ["50000 200000", "20",
                                                            str(128 * MIB)]
        assert host_files(cg, "cpu.max", "memory.max") == ["50000 200000", host_mem]
        if swap_before is not None:
            assert swap_file.read_text().strip() == swap_before
        assert stored(root, "u1") == res

        # A fork bomb stops at pids.max: a shell forks sleeps until fork fails (and it exits);
        # then, with builtins only, pids.current read and the sleeps ended (TERM to the group,
        # ignored by this shell only).
        script = ("sh -c 'i=0; while [ $i -lt 60 ]; do sleep 300 & i=$((i+1)); done' "
                  "2>/dev/null; echo bomb=$?; trap '' TERM; "
                  f"read n < {GUEST_CG}/pids.current; echo current=$n; kill -TERM 0; "
                  "echo done")
        p = rt(hull_bin, root, "exec", "u1", "/bin/sh", "-c", script)
        print(f"fork bomb: {p.stdout.strip()!r} {p.stderr.strip()[-200:]!r}")
        m = re.search(r"current=(\d+)", p.stdout)
        assert m and int(m.group(1)) <= 20 and "done" in p.stdout, p
        assert "bomb=0" not in p.stdout, p  # the shell's fork failed: it did not fork 60

        # Past the limit (128M): the guest is that size now (its balloon holds the rest of the
        # RAM, and MemTotal fell with it), so before the cgroup's memory.max the guest itself
        # runs out: dd's buffer of 95% of MemTotal (one the kernel's overcommit check lets it
        # map) is OOM-killed in the guest, exit 137.
        p = rt(hull_bin, root, "exec", "u1", "/bin/sh", "-c",
               "m=$(sed -n 's/^MemTotal: *\\([0-9]*\\) kB/\\1/p' /proc/meminfo); "
               "exec /bin/dd if=/dev/zero of=/dev/null bs=$((m * 95 / 100))k count=1")
        print(f"oom: exit {p.returncode} {p.stderr.strip()[-200:]!r}")
        # hull exec ends as its process did: killed by SIGKILL (a shell's 137).
        assert p.returncode == -9, p
        p = exec_settled(hull_bin, root, "u1", "/bin/sh", "-c",
                         f"grep oom_kill {GUEST_CG}/memory.events")
        assert p.returncode == 0 and re.search(r"oom_kill [1-9]", p.stdout), p
        # The container, its VM and hull go on.
        assert state_of(hull_bin, root, "u1")["status"] == "running"
        assert os.waitpid(pid, os.WNOHANG) == (0, 0)
        # Cleared with -1: no limit again at both levels.
        p = rt(hull_bin, root, "update", "--cpu-quota", "-1", "--pids-limit", "-1", "u1")
        assert p.returncode == 0, p.stderr
        assert guest_files(hull_bin, root, "u1", "cpu.max", "pids.max") == ["max 200000",
                                                                           "max"]
        assert host_files(cg, "cpu.max") == ["max 200000"]
    finally:
        rt(hull_bin, root, "kill", "u1", "KILL")
        wait_status(pid)
        rt(hull_bin, root, "delete", "u1")
    assert not cg.exists()


def mem_total(hull_bin, root, cid):
    """The guest's MemTotal, bytes (hull exec ID cat /proc/meminfo)."""
    p = exec_settled(hull_bin, root, cid, "cat", "/proc/meminfo")
    assert p.returncode == 0, p
    return int(re.search(r"MemTotal:\s+(\d+) kB", p.stdout).group(1)) * 1024


def rss(pid):
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024


def wait_for(what, cond, timeout=180):
    import time
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() > end:
            return v
        time.sleep(2)


def touch_and_free(hull_bin, root, cid, pid, size):
    """The container fills a buffer of size ("600M") and frees it (dd): hull's RSS after."""
    p = exec_settled(hull_bin, root, cid, "/bin/dd", "if=/dev/zero", "of=/dev/null",
                     f"bs={size}", "count=1")
    assert p.returncode == 0, p
    got = rss(pid)
    print(f"hull RSS after the guest filled and freed {size}: {got >> 20} MiB")
    return got


@contextlib.contextmanager
def memory_container(hull_bin, tmp_path, lab_bundle, name, limit, cid,  # noqa: F811
                     sysfs=False):
    """A container of `sleep 1000` with a memory limit and the cgroupsPath /name, created and
    started: (its host cgroup, the runtime's root, the VMM's pid); killed, waited for and
    deleted after, its cgroup then gone. sysfs: the guest's /sys mounted in it, writable."""
    cgroup_v2_root()
    cg = CG_ROOT / name
    root = tmp_path / "root"
    b = lab_bundle(["/bin/sleep", "1000"])
    with_limits(b, name, {"memory": {"limit": limit}})
    if sysfs:
        cfg = json.loads((b / "config.json").read_text())
        cfg["mounts"].insert(0, {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                                 "options": ["rw", "nosuid", "nodev", "noexec"]})
        (b / "config.json").write_text(json.dumps(cfg))
    pid, _, err = create(hull_bin, root, b, cid, tmp_path)
    try:
        assert rt(hull_bin, root, "start", cid).returncode == 0
        yield cg, root, pid
    finally:
        rt(hull_bin, root, "kill", cid, "KILL")
        wait_status(pid)
        rt(hull_bin, root, "delete", cid)
    assert not cg.exists()


@lab
def test_update_memory_grow_shrink(hull_bin, tmp_path, lab_bundle, subreaper):  # noqa: F811
    """A container with a 256M limit boots with 256M of RAM and a hotplug region (virtio-mem,
    768M by default: 4 times its RAM in all). update --memory 768m plugs 512M: MemTotal in the
    guest rises by it, the guest's cgroup memory.max is 768M and the host's follows; the
    container fills and frees memory; update --memory 256m unplugs it: MemTotal falls back,
    hull's RSS drops by at least 80% of the 512M removed and the host's memory.max with it."""
    with memory_container(hull_bin, tmp_path, lab_bundle, f"hull-update-mem-{os.getpid()}",
                          256 * MIB, "m1") as (cg, root, pid):
        before = mem_total(hull_bin, root, "m1")
        host_before = int(host_files(cg, "memory.max")[0])
        print(f"MemTotal {before >> 20} MiB, host memory.max {host_before}")

        p = rt(hull_bin, root, "update", "--memory", "768m", "m1")
        assert p.returncode == 0, p.stderr
        grown = wait_for("plugged", lambda: (lambda t: t if t - before >= 500 * MIB else 0)(
            mem_total(hull_bin, root, "m1")))
        after = mem_total(hull_bin, root, "m1")
        print(f"grown: MemTotal {after >> 20} MiB (+{(after - before) >> 20} MiB)")
        assert grown and 500 * MIB <= after - before <= 512 * MIB, (before, after)
        assert guest_files(hull_bin, root, "m1", "memory.max") == [str(768 * MIB)]
        host_grown = int(host_files(cg, "memory.max")[0])
        print(f"host memory.max {host_grown}")
        # 512M more, and hull's page tables for it (1/512 of it: README, "Host constraints").
        assert host_grown == host_before + 512 * MIB + MIB, (host_before, host_grown)

        # Filled and freed: a 600M buffer (movable, plugged memory first), gone with dd.
        full = touch_and_free(hull_bin, root, "m1", pid, "600M")

        p = rt(hull_bin, root, "update", "--memory", "256m", "m1")
        assert p.returncode == 0, p.stderr
        shrunk = wait_for("unplugged", lambda: (lambda t: t if t - before < 8 * MIB else 0)(
            mem_total(hull_bin, root, "m1")))
        print(f"shrunk: MemTotal {mem_total(hull_bin, root, 'm1') >> 20} MiB")
        assert shrunk, "MemTotal did not fall back"
        assert guest_files(hull_bin, root, "m1", "memory.max") == [str(256 * MIB)]
        # The host's limit falls once the guest has unplugged (polled every 0.5 s).
        assert wait_for("host limit", lambda: int(host_files(cg, "memory.max")[0]) ==
                        host_before, 30), host_files(cg, "memory.max")
        low = rss(pid)
        print(f"hull RSS after the shrink: {low >> 20} MiB (returned {(full - low) >> 20} MiB "
              f"of 512)")
        assert full - low >= 0.8 * 512 * MIB, (full, low)
        # What happened, in the runtime's log.
        log = (root / "m1" / "vmm.log").read_text()
        print("runtime log: " + " | ".join(x for x in log.splitlines() if "memory" in x))
        assert "512 MiB more asked to be plugged" in log, log
        assert "512 MiB unplugged, 0 MiB plugged" in log, log



def balloon_of(hull_bin, root, cid):
    """`hull ctl <root>/<id>/ctl.sock balloon`: the container VM's balloon (a dict)."""
    p = subprocess.run([hull_bin, "ctl", str(root / cid / "ctl.sock"), "balloon"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p
    return json.loads(p.stdout)


@lab
def test_update_memory_busy_blocks(hull_bin, tmp_path, lab_bundle, subreaper):  # noqa: F811
    """Plugged blocks the guest does not give back: a container with a 256M limit grows to
    512M (256M plugged) and fills and frees it; its virtio-mem driver is then unbound (the
    device reset leaves the blocks plugged, and nothing in the guest unplugs them any more).
    update --memory 256m asks for the 256M back in vain: after the settle poll's minute hull
    falls back to the balloon, which takes the busy blocks' 256M, so the guest is 256M again
    and hull's RSS falls; the runtime's log says which blocks were busy and what the balloon
    took instead."""
    with memory_container(hull_bin, tmp_path, lab_bundle, f"hull-update-busy-{os.getpid()}",
                          256 * MIB, "k1", sysfs=True) as (cg, root, pid):
        before = mem_total(hull_bin, root, "k1")
        p = rt(hull_bin, root, "update", "--memory", "512m", "k1")
        assert p.returncode == 0, p.stderr
        grown = wait_for("plugged", lambda: (lambda t: t if t - before >= 250 * MIB else 0)(
            mem_total(hull_bin, root, "k1")))
        assert grown, (before, mem_total(hull_bin, root, "k1"))
        full = touch_and_free(hull_bin, root, "k1", pid, "400M")
        drv = "/sys/bus/virtio/drivers/virtio_mem"
        p = exec_settled(hull_bin, root, "k1", "/bin/sh", "-c",
                         f"for d in {drv}/virtio*; do echo ${{d##*/}} > {drv}/unbind; done; "
                         f"ls {drv}")
        assert p.returncode == 0 and "virtio" not in p.stdout, p
        p = rt(hull_bin, root, "update", "--memory", "256m", "k1")
        assert p.returncode == 0, p.stderr
        # The minute of the settle poll, then the balloon's inflation (slow under TCG).
        bal = wait_for("ballooned", lambda: (lambda x: x if x["actual"] >= 256 * MIB else None)(
            balloon_of(hull_bin, root, "k1")), 420)
        if not bal:
            log = (root / "k1" / "vmm.log").read_text()
            zones = exec_settled(hull_bin, root, "k1", "/bin/sh", "-c",
                                 "grep -E '^Node|pages free|managed' /proc/zoneinfo; "
                                 "cat /proc/meminfo | head -5")
            print(f"balloon: {json.dumps(balloon_of(hull_bin, root, 'k1'))}\nlog:\n{log}\n"
                  f"zones:\n{zones.stdout}")
        assert bal and bal["target"] == 256 * MIB, balloon_of(hull_bin, root, "k1")
        low = rss(pid)
        print(f"hull RSS: {full >> 20} MiB after the guest freed 400M, {low >> 20} MiB once "
              f"the balloon took the busy blocks")
        assert full - low >= 0.8 * 256 * MIB, (full, low)
        assert guest_files(hull_bin, root, "k1", "memory.max") == [str(256 * MIB)]
        log = (root / "k1" / "vmm.log").read_text()
        print("runtime log: " + " | ".join(x for x in log.splitlines() if "memory" in x))
        assert "MiB busy in the guest (still plugged): the balloon inflated to 256 MiB" in log, \
            log


@lab
def test_update_memory_balloon(hull_bin, tmp_path, lab_bundle, subreaper):  # noqa: F811
    """A container with a 512M limit boots with 512M of RAM, a hotplug region and a balloon
    (empty). The guest touches and frees 350M; update --memory 256m: nothing is plugged to
    unplug, so the balloon takes the RAM's other 256M (`hull ctl <root>/<id>/ctl.sock balloon`
    says so), hull's RSS falls to about the 256M left, the guest's cgroup memory.max is 256M
    and the host's memory.max falls by 256M once the balloon holds it. update --memory 768m:
    the balloon is emptied first, then 256M plugged (MemTotal up), the host's limit up by it.
    A limit below the guest's floor of 128M is refused, naming it, and changes nothing."""
    with memory_container(hull_bin, tmp_path, lab_bundle, f"hull-update-bal-{os.getpid()}",
                          512 * MIB, "b1") as (cg, root, pid):
        bal = balloon_of(hull_bin, root, "b1")
        print(f"balloon at boot: {bal}")
        assert bal["target"] == 0 and bal["actual"] == 0, bal
        before = mem_total(hull_bin, root, "b1")
        host_before = int(host_files(cg, "memory.max")[0])
        print(f"MemTotal {before >> 20} MiB, host memory.max {host_before}")

        full = touch_and_free(hull_bin, root, "b1", pid, "350M")

        p = rt(hull_bin, root, "update", "--memory", "256m", "b1")
        assert p.returncode == 0, p.stderr
        assert guest_files(hull_bin, root, "b1", "memory.max") == [str(256 * MIB)]
        filled = wait_for("ballooned", lambda: (lambda x: x if x["actual"] >= 256 * MIB else
                                                None)(balloon_of(hull_bin, root, "b1")))
        bal = balloon_of(hull_bin, root, "b1")
        print(f"balloon after the shrink: {bal}")
        assert filled and bal["target"] == 256 * MIB and bal["actual"] == 256 * MIB, bal
        # The host's limit falls by what the balloon holds once it holds it (polled 0.5 s).
        assert wait_for("host limit", lambda: int(host_files(cg, "memory.max")[0]) ==
                        host_before - 256 * MIB, 30), (host_before, host_files(cg, "memory.max"))
        low = rss(pid)
        print(f"hull RSS after the shrink: {low >> 20} MiB (was {full >> 20})")
        # What the guest may still hold: the 256M left it, and hull's own (its text, heap,
        # page tables, the guest's kernel tables for its region: 64M is ample).
        assert low <= (256 + 64) * MIB, (full, low)

        # Below the floor: refused, nothing changed.
        p = rt(hull_bin, root, "update", "--memory", "64m", "b1")
        print(f"refused: {p.stderr.strip()!r}")
        assert p.returncode != 0 and "below the 128 MiB" in p.stderr, p.stderr
        assert guest_files(hull_bin, root, "b1", "memory.max") == [str(256 * MIB)]
        assert balloon_of(hull_bin, root, "b1")["target"] == 256 * MIB

        p = rt(hull_bin, root, "update", "--memory", "768m", "b1")
        assert p.returncode == 0, p.stderr
        bal = balloon_of(hull_bin, root, "b1")
        assert bal["target"] == 0, bal
        grown = wait_for("plugged", lambda: (lambda t: t if t - before >= 250 * MIB else 0)(
            mem_total(hull_bin, root, "b1")))
        assert grown and grown - before <= 256 * MIB, (before, grown)
        emptied = wait_for("deflated", lambda: balloon_of(hull_bin, root, "b1")["actual"] == 0)
        assert emptied, balloon_of(hull_bin, root, "b1")
        assert guest_files(hull_bin, root, "b1", "memory.max") == [str(768 * MIB)]
        # 256M more, and hull's page tables for it (1/512 of it).
        assert int(host_files(cg, "memory.max")[0]) == host_before + 256 * MIB + MIB // 2
        log = (root / "b1" / "vmm.log").read_text()
        print("runtime log: " + " | ".join(x for x in log.splitlines() if "memory" in x))
        assert "the balloon asked to hold 256 MiB (0 before)" in log, log
        assert "the balloon holds 256 MiB" in log, log
        assert "the balloon deflated to 0 MiB (from 256)" in log, log
        assert "256 MiB more asked to be plugged" in log, log



@lab
def test_run_oom_exit_137(hull_bin, tmp_path, lab_bundle):  # noqa: F811
    """hull run of a process allocating past its memory limit: OOM-killed in the guest, hull
    exits 137 (killed by SIGKILL, as a shell reports it) and says so."""
    cgroup_v2_root()
    name = f"hull-update-oom-{os.getpid()}"
    b = lab_bundle(["/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"])
    with_limits(b, name, {"memory": {"limit": 64 * MIB}})
    # RAM of 256M (--memory wins over the limit's): dd's buffer fits the guest, not the limit.
    p = subprocess.run([hull_bin, "run", "--memory", "256M", "--bundle", str(b), "oom"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=BOOT_TIMEOUT)
    print(f"hull run: exit {p.returncode} {p.stderr.strip()[-300:]!r}")
    assert p.returncode == 137, p
    assert "SIGKILL" in p.stderr, p.stderr


@lab
def test_ctl_update_standalone_vm(hull, hull_bin, busybox_initrd, project_bzimage, rundir):
    """hull ctl PATH update on `hull vm --cgroup --cpu-affinity`: the cgroup's cpu.max, pids.max
    and memory.max (the limit plus hull's overhead) rewritten, the vCPU threads pinned to the
    list; a limit above the VM's RAM refused with both sizes, nothing changed; a VM without
    --cgroup refuses the cgroup's limits."""
    from harness import guest_cmdline
    cgroup_v2_root()
    name = f"hull-ctl-update-{os.getpid()}"
    cg = CG_ROOT / name
    sock = rundir / "api.sock"
    h = hull("--kernel", project_bzimage, "--initrd", busybox_initrd, "--memory", "512M",
             "--cgroup", f"/{name}", "--cpu-affinity", "0", "--api-sock", sock,
             "--cmdline", guest_cmdline("counter"))
    h.expect(r"HULL-COUNT 2\n", 120)

    def ctl(*args):
        return subprocess.run([hull_bin, "ctl", str(sock), *args], capture_output=True,
                              text=True, timeout=30)

    before = int((cg / "memory.max").read_text())
    overhead = before - 512 * MIB
    p = ctl("update", "--cpu-quota", "50000", "--cpu-period", "100000", "--pids-limit", "64",
            "--memory", "256M", "--cpu-affinity", "0")
    print(f"ctl update: {p.returncode} {p.stdout.strip()!r} {p.stderr.strip()!r}")
    assert (p.returncode, p.stdout) == (0, '{"ok":true}\n'), p
    assert host_files(cg, "cpu.max", "pids.max") == ["50000 100000", "64"]
    assert int((cg / "memory.max").read_text()) == 256 * MIB + overhead
    vcpus = {n: c for n, c in thread_cpus(h.proc.pid).values() if n.startswith("hull-vcpu")}
    assert vcpus == {"hull-vcpu 0": "0"}, vcpus
    p = ctl("update", "--memory", "1G", "--pids-limit", "10")
    print(f"ctl update refused: {p.returncode} {p.stdout.strip()!r}")
    assert p.returncode == 1 and str(1 << 30) in p.stdout and str(512 * MIB) in p.stdout, p
    assert host_files(cg, "cpu.max", "pids.max") == ["50000 100000", "64"]
    assert int((cg / "memory.max").read_text()) == 256 * MIB + overhead
    p = ctl("update", "--cpu-quota", "-1", "--memory", "-1")
    assert p.returncode == 0, p
    assert host_files(cg, "cpu.max", "memory.max") == ["max 100000", "max"]
    p = ctl("update", "--bogus", "1")
    assert p.returncode == 2 and "unknown flag" in p.stderr, p
    assert ctl("stop").returncode == 0
    assert h.wait(30) == 0, h.describe()
    assert not cg.exists()


@lab
def test_update_onlines_vcpus(hull_bin, tmp_path, lab_bundle, subreaper):  # noqa: F811
    """The runtime's VM makes a vCPU for each CPU hull may use and boots with the quota's
    count online (maxcpus=); update --cpu-quota onlines or offlines vCPUs through hull-init, the
    guest's cpuset following. On a host of one CPU (tests/run's lab) there is nothing to online:
    run the lab with --smp 2 to see a vCPU come and go."""
    cgroup_v2_root()
    host = len(os.sched_getaffinity(0))
    two = min(2, host)
    name = f"hull-update-cpus-{os.getpid()}"
    root = tmp_path / "root"
    b = lab_bundle(["/bin/sleep", "1000"])
    with_limits(b, name, {"cpu": {"quota": 100000, "period": 100000}})
    pid, _, _ = create(hull_bin, root, b, "v1", tmp_path)
    try:
        assert rt(hull_bin, root, "start", "v1").returncode == 0
        vcpus = sorted(n for n, _ in thread_cpus(pid).values()
                       if n.startswith("hull-vcpu"))
        print(f"host CPUs {host}, vCPU threads {vcpus}")
        assert len(vcpus) == host, vcpus

        def online():
            p = exec_settled(hull_bin, root, "v1", "cat", "/sys/devices/system/cpu/online")
            assert p.returncode == 0, p
            return p.stdout.strip()
        assert online() == "0"
        p = rt(hull_bin, root, "update", "--cpu-quota", "200000", "v1")
        assert p.returncode == 0, p.stderr
        got = online()
        print(f"quota 2 CPUs: online {got!r}")
        assert got == ("0-1" if two == 2 else "0"), got
        p = rt(hull_bin, root, "update", "--cpu-quota", "100000", "v1")
        assert p.returncode == 0, p.stderr
        got = online()
        print(f"quota 1 CPU: online {got!r}")
        assert got == "0", got
    finally:
        rt(hull_bin, root, "kill", "v1", "KILL")
        wait_status(pid)
        rt(hull_bin, root, "delete", "v1")
