"""`hull run --bundle` applies the bundle's linux.resources on the host (issue 15): the VM's shape
(vCPUs from the CPU quota, RAM from the memory limit), the vCPUs pinned to linux.resources.cpu.cpus,
hull in the host cgroup at linux.cgroupsPath with memory.max = the RAM + hull's overhead, the
cgroup removed at exit; and an unusable cpuset refused before the VM starts.

The lab test needs root and a cgroup v2 (the lab mounts none: it is mounted here); run it with
tests/lab/lab.sh --smp 2 to see two vCPUs on one CPU (on a host of one CPU, as tests/run's lab,
the quota of two gets one vCPU: never more than the host's CPUs)."""

import os
import pathlib
import re
import subprocess
import time

import pytest

from harness import lab_mount_cgroup2
from test_host import thread_cpus
from test_run import RUN_TIMEOUT, bundle, busybox_cached, describe, hull_run, proc  # noqa: F401
from test_run import rootfs, scratch_dir  # noqa: F401  (fixtures)

CG_ROOT = pathlib.Path("/sys/fs/cgroup")
MIB = 1 << 20


def vcpu_threads(pid):
    """{vCPU thread name: Cpus_allowed_list} of hull's process pid."""
    return {name: allowed for name, allowed in thread_cpus(pid).values()
            if name.startswith("hull-vcpu")}


@pytest.mark.lab
def test_bundle_resources_on_host(hull_bin, rootfs, scratch_dir):  # noqa: F811
    """quota 200000/100000, cpus "0", memory limit 256M, a cgroupsPath: the guest has 2 vCPUs
    online (on a host of 2 CPUs or more) and MemTotal near 256M, both vCPU threads run only on
    CPU 0, every thread of hull is in the cgroup with memory.max = 256M + hull's overhead, and
    the cgroup is gone at exit."""
    if os.geteuid() != 0:
        pytest.fail("needs root (run it in the lab: tests/lab/lab.sh)", pytrace=False)
    if 0 not in os.sched_getaffinity(0):
        pytest.fail("needs CPU 0", pytrace=False)
    # Never more vCPUs than the host's CPUs: one on a host of one (tests/run's lab).
    vcpus = min(2, len(os.sched_getaffinity(0)))
    try:
        lab_mount_cgroup2(str(CG_ROOT))
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    name = f"hull-run-limits-{os.getpid()}"
    cg = CG_ROOT / name
    assert not cg.exists(), cg
    script = ("busybox nproc; cat /sys/devices/system/cpu/online; grep MemTotal /proc/meminfo; "
              "echo READY; read x; echo DONE")
    b = bundle(scratch_dir, rootfs, proc(["/bin/sh", "-c", script]),
               linux={"cgroupsPath": f"/{name}",
                      "resources": {"cpu": {"quota": 200000, "period": 100000, "cpus": "0"},
                                    "memory": {"limit": 256 * MIB}}})
    p = subprocess.Popen([str(hull_bin), "run", "--verbose", "--bundle", str(b), "c1"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        lines = []
        deadline = time.monotonic() + RUN_TIMEOUT
        while not lines or lines[-1] != "READY":
            assert time.monotonic() < deadline, lines
            line = p.stdout.readline()
            assert line, (lines, p.poll(), p.stderr.read().decode(errors="replace")
                          if p.poll() is not None else "")
            lines.append(line.decode().strip())
        # The guest: two CPUs online, RAM of the limit.
        assert lines[0] == str(vcpus), lines
        assert lines[1] == ("0-1" if vcpus == 2 else "0"), lines
        mem_total = int(re.search(r"MemTotal:\s+(\d+) kB", lines[2]).group(1)) * 1024
        assert 200 * MIB < mem_total <= 256 * MIB, lines
        pid = p.pid
        # Both vCPUs pinned to CPU 0 (two vCPUs on a cpuset of one: they share it).
        want = {f"hull-vcpu {i}": "0" for i in range(vcpus)}
        assert vcpu_threads(pid) == want, vcpu_threads(pid)
        # Every thread of hull in the cgroup, with the limits hull computed.
        for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
            assert (task / "cgroup").read_text().strip() == f"0::/{name}", task
        limit = int((cg / "memory.max").read_text())
        assert 256 * MIB + 8 * MIB < limit < 256 * MIB + 64 * MIB, limit
        assert (cg / "cpu.max").read_text().split() == ["200000", "100000"]
        assert (cg / "cpuset.cpus").read_text().strip() == "0"
        out, err = p.communicate(b"\n", timeout=RUN_TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err = err.decode(errors="replace")
    assert p.returncode == 0, describe(p.returncode, out, err)
    assert out.decode().strip() == "DONE", describe(p.returncode, out, err)
    m = re.search(r"cgroup /\S+: hull in \S+, memory.max (\d+)", err)
    assert m and int(m.group(1)) == limit, err
    assert f"container: {vcpus} vCPUs, 256 MiB, pinned to 0, cgroup /" in err, err
    # hull made the cgroup: it removed it at exit.
    assert not cg.exists(), err


def outside_cpu():
    """A CPU number hull may not run on here (outside its affinity, below 1024)."""
    mine = os.sched_getaffinity(0)
    return next(c for c in range(1023, -1, -1) if c not in mine)


@pytest.mark.host
@pytest.mark.parametrize("linux,want", [
    (lambda: {"resources": {"cpu": {"cpus": f"0,{outside_cpu()}"}}},
     lambda b: f"hull: bundle {b}: linux.resources: cpu.cpus 0,{outside_cpu()}: CPU "
               f"{outside_cpu()} is not one hull may run on"),
    (lambda: {"resources": {"cpu": {"cpus": "3-1"}}},
     lambda b: f"hull: bundle {b}: linux.resources: cpu.cpus 3-1: not a CPU list"),
    (lambda: {"resources": {"memory": {"limit": 2 << 40}}},
     lambda b: f"hull: bundle {b}: linux.resources: memory limit 2199023255552 bytes: above "
               f"hull's maximum"),
    (lambda: {"cgroupsPath": "/a/../b"},
     lambda b: 'hull: cgroup path /a/../b: a ".." component leaves the hierarchy'),
], ids=["outside", "not-a-list", "limit-too-large", "cgroup-dotdot"])
def test_bundle_resources_refused(hull_bin, rootfs, scratch_dir, linux, want):  # noqa: F811
    """A cpuset hull may not use, or one that is no CPU list, a limit past hull's maximum, a
    cgroupsPath that leaves the hierarchy: one line and exit 2, before the VM (no /dev/kvm
    needed)."""
    b = bundle(scratch_dir, rootfs, proc(["true"]), linux=linux())
    rc, out, err = hull_run(hull_bin, "--bundle", b, stdin=subprocess.DEVNULL)
    assert rc == 2, describe(rc, out, err)
    assert want(b) in err, describe(rc, out, err)
    assert len(err.strip().splitlines()) == 1, err
