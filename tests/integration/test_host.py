"""Host group: hull on the development host's PVM /dev/kvm (no Linux boot to completion here)."""

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
