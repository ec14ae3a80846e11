"""Host group, kvm: hull on whatever /dev/kvm this machine has (PVM or hardware-style), with
guests that need no Linux boot to finish: the tiny PVH guest, and a Linux guest that is still
booting (PVM: guest kernel code is emulated, a boot takes minutes) or sleeping (hardware KVM)."""

import os
import pathlib
import signal
import subprocess
import time

import pytest

from harness import guest_cmdline, hardware_kvm

pytestmark = [pytest.mark.host, pytest.mark.kvm]


def test_tiny_pvh_guest(hull_bin, tiny_pvh):
    """The tiny PVH guest writes its line to COM1 and powers off through ACPI: exit 0."""
    p = subprocess.run([hull_bin, "vm", "--kernel", tiny_pvh, "--initrd", "none"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    out = p.stdout.decode(errors="replace")
    assert "hull tiny guest: hello from PVH" in out, (p.returncode, out, p.stderr)
    assert p.returncode == 0, p.stderr.decode(errors="replace")


def running_guest(hull, kernel, initrd, wait, cpus=1):
    """A hull whose guest is running and stays so: with hardware-style KVM the busybox guest's
    `sleep` script has started; on a PVM host the kernel is still booting after `wait` s."""
    h = hull("--kernel", kernel, "--initrd", initrd, "--cpus", cpus,
             "--cmdline", guest_cmdline("sleep"))
    if hardware_kvm():
        h.expect(r"HULL-SLEEPING", 60)
        return h
    try:
        h.proc.wait(timeout=wait)
        pytest.fail(f"hull exited on its own within {wait} s on a PVM host\n{h.describe()}",
                    pytrace=False)
    except subprocess.TimeoutExpired:
        pass
    return h


def test_running_vm_stops_on_sigterm(hull, project_bzimage, busybox_initrd, request):
    """SIGTERM stops hull promptly while its guest runs: exit 143, the reason on stderr."""
    h = running_guest(hull, project_bzimage, busybox_initrd,
                      float(request.config.getoption("--pvm-wait")))
    t0 = time.monotonic()
    h.proc.send_signal(signal.SIGTERM)
    rc = h.wait(10)
    took = time.monotonic() - t0
    assert rc == 143, h.describe()
    assert took < 5, f"hull took {took:.1f} s to stop after SIGTERM\n{h.describe()}"
    assert "hull: Terminated: stopping the VM" in h.stderr, h.describe()


def thread_policies(pid):
    """{thread name: scheduling policy number (stat field 41)} of every thread of pid."""
    out = {}
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a thread that just ended
        out[name] = int(fields[41 - 3])
    return out


def test_event_loop_yields_to_vcpus(hull, project_bzimage, busybox_initrd):
    """The event-loop thread runs as SCHED_BATCH (a wakeup of it does not preempt a vCPU); the
    vCPU threads keep the normal policy."""
    h = running_guest(hull, project_bzimage, busybox_initrd, 0.5, cpus=2)
    deadline = time.monotonic() + 10
    policies = {}
    while time.monotonic() < deadline:
        policies = thread_policies(h.proc.pid)
        if "hull-vcpu 1" in policies and policies.get("hull") == os.SCHED_BATCH:
            break
        time.sleep(0.1)
    assert policies.get("hull") == os.SCHED_BATCH, (policies, h.describe())
    assert policies.get("hull-vcpu 0") == os.SCHED_OTHER, policies
    assert policies.get("hull-vcpu 1") == os.SCHED_OTHER, policies


def cpu_list(cpus):
    """A sorted list of CPU numbers as Linux writes it: [0, 1, 2, 5] -> "0-2,5"."""
    out, cpus = [], sorted(cpus)
    i = 0
    while i < len(cpus):
        j = i
        while j + 1 < len(cpus) and cpus[j + 1] == cpus[j] + 1:
            j += 1
        out.append(str(cpus[i]) if i == j else f"{cpus[i]}-{cpus[j]}")
        i = j + 1
    return ",".join(out)


def thread_cpus(pid):
    """{thread id: (name, Cpus_allowed_list)} of every thread of pid."""
    out = {}
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            status = (task / "status").read_text()
        except OSError:
            continue  # a thread that just ended
        allowed = [ln.split(":", 1)[1].strip() for ln in status.splitlines()
                   if ln.startswith("Cpus_allowed_list:")]
        out[int(task.name)] = (name, allowed[0] if allowed else None)
    return out


def test_cpu_affinity_pins_vcpus(hull, project_bzimage, busybox_initrd, tmp_path):
    """--cpu-affinity LIST: vCPU thread i runs only on the (i mod n)-th CPU of LIST (three vCPUs
    on at most two CPUs: the counts need not match), every other thread of hull (the event loop,
    a share's workers) on all of LIST. Run the lab with --smp 2 to see two CPUs used."""
    mine = sorted(os.sched_getaffinity(0))
    cpus = mine[:2]
    want_all = cpu_list(cpus)
    h = hull("--kernel", project_bzimage, "--initrd", busybox_initrd, "--cpus", 3,
             "--cpu-affinity", want_all, "--fs", f"tag=pin,path={tmp_path}",
             "--cmdline", guest_cmdline("sleep"))
    deadline = time.monotonic() + 20
    threads = {}
    while time.monotonic() < deadline:
        threads = thread_cpus(h.proc.pid)
        if sum(name.startswith("hull-vcpu") for name, _ in threads.values()) == 3:
            break
        assert h.proc.poll() is None, h.describe()
        time.sleep(0.1)
    names = {name: allowed for name, allowed in threads.values()}
    for i in range(3):
        assert names.get(f"hull-vcpu {i}") == str(cpus[i % len(cpus)]), (cpus, threads,
                                                                         h.describe())
    others = [(tid, name, allowed) for tid, (name, allowed) in threads.items()
              if not name.startswith("hull-vcpu")]
    assert any(name == "hull" for _, name, _ in others), threads
    assert any(name.startswith("hull-fs") for _, name, _ in others), threads
    for tid, name, allowed in others:
        assert allowed == want_all, (tid, name, allowed, want_all)

