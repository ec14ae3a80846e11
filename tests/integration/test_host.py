"""Host group: hull on the development host's PVM /dev/kvm (no Linux boot to completion here)."""

import os
import pathlib
import signal
import subprocess
import time

import pytest

from harness import pvm_host

pytestmark = pytest.mark.host


def test_tiny_pvh_guest(hull_bin, tiny_pvh):
    """The tiny PVH guest writes its line to COM1 and powers off through ACPI: exit 0."""
    p = subprocess.run([hull_bin, "vm", "--kernel", tiny_pvh, "--initrd", "none"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    out = p.stdout.decode(errors="replace")
    assert "hull tiny guest: hello from PVH" in out, (p.returncode, out, p.stderr)
    assert p.returncode == 0, p.stderr.decode(errors="replace")


def test_slow_boot_stops_on_sigterm(hull, project_bzimage, request):
    """On a PVM host a Linux boot takes minutes: SIGTERM stops hull promptly with exit 143."""
    if not pvm_host():
        pytest.fail("this test needs a PVM host (/sys/module/kvm_pvm); under hardware KVM the "
                    "guest finishes too fast: the lab group covers signals (test_signal_exit)",
                    pytrace=False)
    wait = float(request.config.getoption("--pvm-wait"))
    h = hull("--kernel", project_bzimage)
    try:
        h.proc.wait(timeout=wait)
        pytest.fail(f"hull exited on its own within {wait} s on a PVM host\n{h.describe()}",
                    pytrace=False)
    except subprocess.TimeoutExpired:
        pass
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


def test_event_loop_yields_to_vcpus(hull, project_bzimage):
    """The event-loop thread runs as SCHED_BATCH (a wakeup of it does not preempt a vCPU); the
    vCPU threads keep the normal policy."""
    if not pvm_host():
        pytest.fail("this test needs a PVM host (/sys/module/kvm_pvm), where the boot lasts long "
                    "enough to look at hull's threads", pytrace=False)
    h = hull("--kernel", project_bzimage, "--cpus", "2")
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
