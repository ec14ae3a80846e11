"""Lab: a guest flooding its console while nobody reads hull's stdout never freezes hull."""

import fcntl
import os
import re
import select
import signal
import subprocess
import termios
import time
from array import array

import pytest

from harness import guest_cmdline

pytestmark = pytest.mark.lab

PIPE_SIZE = 4096       # hull's stdout pipe, shrunk to one page so that it fills at once
TX_BUF = 64 * 1024     # hull's console output buffer (SERIAL_TX_BUF)
# The flood reaches the console at about 5 KiB/s in the lab (nested KVM under TCG): hull's
# buffer is full about 15 s after the pipe. This is time given, not a speed asserted.
FILL_SECONDS = 30


def queued(fd):
    n = array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, n)
    return n[0]


def stall(hull, initrd, kernel, script, *args):
    """Start hull with the guest running /tests/SCRIPT.sh and let its console stall: hull's
    stdout pipe fills (it takes nothing for 3 s) and is not read, then hull's buffer gets
    FILL_SECONDS to fill too."""
    h = hull("--kernel", kernel, "--initrd", initrd, "--cmdline", guest_cmdline(script), *args)
    out = h.proc.stdout.fileno()
    fcntl.fcntl(out, fcntl.F_SETPIPE_SZ, PIPE_SIZE)  # before the guest printed anything
    deadline = time.monotonic() + 120
    level, since = 0, time.monotonic()
    while not level or time.monotonic() - since < 3:
        if h.proc.poll() is not None:
            pytest.fail(f"hull ended before its stdout filled\n{h.describe()}", pytrace=False)
        if time.monotonic() > deadline:
            pytest.fail(f"hull's stdout still takes output after 120 s\n{h.describe()}",
                        pytrace=False)
        time.sleep(0.2)
        if queued(out) != level:
            level, since = queued(out), time.monotonic()
    time.sleep(FILL_SECONDS)
    assert h.proc.poll() is None, h.describe()
    return h


def wait_unread(h, timeout):
    """hull's exit status, waiting at most timeout s without reading its stdout (which would
    unstall it); fails, killing hull, when it is still running."""
    try:
        return h.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        h.kill()
        h.wait(10)
        pytest.fail(f"hull still running {timeout} s later with its stdout stalled: "
                    f"frozen\n{h.describe()}", pytrace=False)


def expect_stderr(h, pattern, timeout):
    """Read hull's stderr only (its stdout stays stalled) until it matches pattern."""
    err = h.proc.stderr.fileno()
    deadline = time.monotonic() + timeout
    while not (m := re.search(pattern, h.stderr, re.M)):
        left = deadline - time.monotonic()
        if left <= 0 or h.proc.poll() is not None:
            h.kill()
            h.wait(10)
            pytest.fail(f"no /{pattern}/ on stderr with stdout stalled\n{h.describe()}",
                        pytrace=False)
        if select.select([err], [], [], min(left, 0.5))[0]:
            h.err.extend(os.read(err, 65536))
    return m


def test_stalled_console_sigterm(hull, busybox_initrd, project_bzimage):
    """A guest floods its console, nobody reads hull's stdout and a key is typed: SIGTERM still
    ends hull with 143, and what hull kept unwritten was bounded by its buffer."""
    h = stall(hull, busybox_initrd, project_bzimage, "flood")
    # A keystroke: a hull blocked in a write to stdout held the UART's lock, and the event
    # loop reading stdin blocked on that lock too.
    h.send("x\n")
    time.sleep(1)
    h.proc.send_signal(signal.SIGTERM)
    assert wait_unread(h, 20) == 143, h.describe()
    h.wait(10)
    assert "HULL-FLOOD 0 " in h.stdout, h.describe()
    assert re.search(r"^hull: .*stopping the VM$", h.stderr, re.M), h.describe()
    m = re.search(r"^hull: console: stdout did not take the last (\d+) bytes of guest output$",
                  h.stderr, re.M)
    assert m and 0 < int(m.group(1)) <= TX_BUF, h.describe()


def test_stalled_console_input(hull, busybox_initrd, project_bzimage):
    """While the flooding guest waits for a stalled stdout, a line typed on stdin still reaches
    it; once the test reads stdout again, the guest's answer comes out and it powers off."""
    h = stall(hull, busybox_initrd, project_bzimage, "flood_read", "--boot-timer")
    token = f"typed-{time.time_ns()}"
    h.send(token + "\n")
    # The guest got the line: it wrote the boot timer's byte, which hull reports on stderr.
    expect_stderr(h, r"^hull: boot timer: guest booted", 60)
    assert h.proc.poll() is None, h.describe()
    h.expect(rf"HULL-GOT: {token}\n", 120)
    assert h.wait(60) == 0, h.describe()
    assert "HULL-FLOOD 0 " in h.stdout, h.describe()
    assert "HULL-INIT: done status=0" in h.stdout, h.describe()
