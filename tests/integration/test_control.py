"""The control socket: `hull ctl` against stand-in servers (host, no KVM), and a running VM
paused, resumed, inspected and stopped through `hull vm --api-sock` (lab)."""

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from harness import guest_cmdline


@pytest.fixture
def rundir():
    """A short directory on a local filesystem for sockets (not the lab's 9p share)."""
    d = tempfile.mkdtemp(prefix="hull-ctl-", dir="/tmp")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


def ctl(hull_bin, path, cmd, timeout=60):
    """`hull ctl PATH CMD`: (exit status, stdout, stderr)."""
    p = subprocess.run([hull_bin, "ctl", str(path), cmd], capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


# --- host: the client against stand-ins ------------------------------------------------------

class StandIn:
    """A Unix socket server that takes one connection, records the request line and answers
    `reply` (bytes; None: hang up without a word)."""

    def __init__(self, path, reply):
        self.path, self.reply, self.request = str(path), reply, b""
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(self.path)
        self.srv.listen(1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _ = self.srv.accept()
        with conn:
            while not self.request.endswith(b"\n"):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                self.request += chunk
            if self.reply is not None:
                conn.sendall(self.reply)
        self.srv.close()

    def join(self):
        self.thread.join(10)


@pytest.mark.host
def test_ctl_usage(hull_bin):
    """Bad usage: exit 2 with one line naming the problem; --help: exit 0."""
    p = subprocess.run([hull_bin, "ctl"], capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.startswith("hull: ctl: "), p
    p = subprocess.run([hull_bin, "ctl", "/x.sock", "reboot"], capture_output=True, text=True)
    assert p.returncode == 2 and "unknown command 'reboot'" in p.stderr, p
    p = subprocess.run([hull_bin, "ctl", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "state|pause|resume|stop" in p.stdout, p


@pytest.mark.host
def test_ctl_missing_socket(hull_bin, rundir):
    """Nothing at PATH: exit 1, and the message names the path and the cause."""
    path = rundir / "none.sock"
    rc, out, err = ctl(hull_bin, path, "state")
    assert rc == 1, (rc, out, err)
    assert out == ""
    assert err == f"hull: ctl {path}: connect: No such file or directory\n", err


@pytest.mark.host
@pytest.mark.parametrize("cmd,reply,rc", [
    ("pause", b'{"ok":true}\n', 0),
    ("state", b'{"state":"running","vcpus":[],"memory":1,"devices":[],"uptime_ms":2}\n', 0),
    ("resume", b'{"error":"resume: the VM is stopping"}\n', 1),
])
def test_ctl_prints_reply(hull_bin, rundir, cmd, reply, rc):
    """The request is one JSON line; the reply line is printed; an error reply exits 1."""
    server = StandIn(rundir / "api.sock", reply)
    got, out, err = ctl(hull_bin, rundir / "api.sock", cmd)
    server.join()
    assert server.request == b'{"cmd":"%s"}\n' % cmd.encode()
    assert got == rc, (got, out, err)
    assert out == reply.decode()
    assert err == ""


@pytest.mark.host
@pytest.mark.parametrize("reply,words", [(None, "no reply: connection closed"),
                                         (b"hello\n", "not a reply"),
                                         (b'{"ok":tr', "no reply: connection closed")])
def test_ctl_bad_server(hull_bin, rundir, reply, words):
    """A server that hangs up, or answers something that is no reply: exit 1, said so."""
    server = StandIn(rundir / "api.sock", reply)
    rc, out, err = ctl(hull_bin, rundir / "api.sock", "state")
    server.join()
    assert rc == 1, (rc, out, err)
    assert words in err, err


@pytest.mark.host
@pytest.mark.parametrize("case,words", [
    ("no-dir", "No such file or directory"),
    ("file", "exists and is not a socket"),
    ("dir", "exists and is not a socket"),
    ("long", "path too long (at most 107 bytes)"),
    ("in-use", "in use by a running program"),
])
def test_api_sock_bad_path(hull_bin, rundir, case, words):
    """A control socket path that cannot serve is bad input, refused before /dev/kvm (exit 2,
    one line naming it) on any host; the file in the way is left alone."""
    path = {"no-dir": rundir / "no" / "api.sock", "file": rundir / "file",
            "dir": rundir / "dir", "long": rundir / ("a" * 120), "in-use": rundir / "live.sock"}[case]
    (rundir / "file").write_text("keep")
    (rundir / "dir").mkdir()
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(str(rundir / "live.sock"))
    live.listen(1)
    p = subprocess.run([hull_bin, "vm", "--api-sock", str(path)], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=30)
    live.close()
    assert p.returncode == 2, p
    assert p.stderr.startswith(f"hull: api-sock {path}: ") and p.stderr.count("\n") == 1, p
    assert words.format(d=rundir) in p.stderr, p
    assert (rundir / "file").read_text() == "keep"


# --- lab: a running VM ----------------------------------------------------------------------

COUNT = re.compile(r"HULL-COUNT (\d+)\n")


def last_count(h):
    counts = [int(n) for n in COUNT.findall(h.stdout)]
    return counts[-1] if counts else -1


def read_for(h, seconds):
    """Collect hull's output for `seconds` (hull must keep running meanwhile)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        assert h.proc.poll() is None, h.describe()
        if h.sel.get_map():
            h._pump(min(left, 0.2))
        else:
            time.sleep(min(left, 0.2))


def state_of(hull_bin, sock, h):
    rc, out, err = ctl(hull_bin, sock, "state")
    assert rc == 0, (rc, out, err, h.describe())
    return json.loads(out)


@pytest.mark.lab
def test_control_socket(hull, hull_bin, busybox_initrd, project_bzimage, scratch, rundir):
    """state lists the vCPUs (their threads) and devices; pause stops the guest's clock-driven
    counter, resume continues it; stop ends hull with 0 and removes the socket."""
    sock = rundir / "api.sock"
    disk = scratch("ctl", mib=16)
    h = hull("--kernel", project_bzimage, "--initrd", busybox_initrd, "--cpus", 2,
             "--memory", "256M", "--disk", f"path={disk}", "--api-sock", sock,
             "--cmdline", guest_cmdline("counter"))
    h.expect(r"HULL-COUNT 5\n", 60)
    st = os.lstat(sock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)

    s = state_of(hull_bin, sock, h)
    assert s["state"] == "running", s
    assert s["memory"] == 256 << 20, s
    assert s["uptime_ms"] > 0, s
    assert [v["index"] for v in s["vcpus"]] == [0, 1], s
    for v in s["vcpus"]:
        task = Path(f"/proc/{h.proc.pid}/task/{v['tid']}")
        assert task.is_dir(), (v, s)
        assert (task / "comm").read_text().strip() == f"hull-vcpu {v['index']}", v
    kinds = sorted(d["kind"] for d in s["devices"])
    assert kinds == ["blk", "rng"], s
    assert sorted(d["id"] for d in s["devices"]) == ["disk0", "rng0"], s
    assert all(d["gsi"] > 0 and d["base"] >= 0xfe001000 for d in s["devices"]), s
    # The census: the start's milestones so far and the exits, by reason and site.
    st = s["stats"]
    assert {"memory", "loaded", "first_run", "first_output"} <= set(st["milestones_ms"]), st
    assert "stop" not in st["milestones_ms"], st
    assert st["exits"] == sum(st["exit_reasons"].values()) > 0, st
    assert {"bus": "port", "addr": 0x3f8, "dir": "write"} in [
        {k: v for k, v in site.items() if k != "count"} for site in st["exit_sites"]], st

    assert ctl(hull_bin, sock, "pause")[:2] == (0, '{"ok":true}\n')
    assert state_of(hull_bin, sock, h)["state"] == "paused"
    read_for(h, 1)  # what the guest printed before the pause reaches stdout
    paused_at = last_count(h)
    read_for(h, 2.5)  # about 12 lines' worth of the guest's time
    assert last_count(h) == paused_at, f"the counter moved while paused\n{h.describe()}"
    assert ctl(hull_bin, sock, "pause")[:2] == (0, '{"ok":true}\n')  # again: a no-op

    assert ctl(hull_bin, sock, "resume")[:2] == (0, '{"ok":true}\n')
    h.expect(rf"HULL-COUNT {paused_at + 3}\n", 60)
    assert state_of(hull_bin, sock, h)["state"] == "running"

    assert ctl(hull_bin, sock, "stop")[:2] == (0, '{"ok":true}\n')
    assert h.wait(30) == 0, h.describe()
    assert "hull: stop requested on the control socket: stopping the VM" in h.stderr
    assert not sock.exists(), "the control socket was left behind"
    rc, out, err = ctl(hull_bin, sock, "state")
    assert rc == 1 and "connect: No such file or directory" in err, (rc, out, err)


@pytest.mark.lab
def test_control_socket_bad_clients(hull, hull_bin, busybox_initrd, project_bzimage, rundir):
    """Garbage, a client cut off mid-request, one that never reads and more clients than
    allowed neither stop nor stall the VM; it still answers and stops cleanly."""
    sock = rundir / "api.sock"
    h = hull("--kernel", project_bzimage, "--initrd", busybox_initrd, "--api-sock", sock,
             "--cmdline", guest_cmdline("counter"))
    h.expect(r"HULL-COUNT 2\n", 60)
    clients = []
    for i in range(20):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(str(sock))
        clients.append(c)
    extra = clients[-1]
    extra.settimeout(10)
    assert extra.recv(100) == b'{"error":"too many clients"}\n'
    garbage, cut, mute = clients[0], clients[1], clients[2]
    garbage.sendall(b"\x00\xffnot json\n")
    garbage.settimeout(10)
    assert garbage.recv(1000).startswith(b'{"error":"bad request: ')
    cut.sendall(b'{"cmd":"sta')
    cut.close()
    mute.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    mute.setblocking(False)
    try:
        for _ in range(2000):
            mute.send(b'{"cmd":"state"}\n')
    except (BlockingIOError, BrokenPipeError, ConnectionResetError):
        pass
    for c in clients[3:]:
        c.close()
    start = last_count(h)
    h.expect(rf"HULL-COUNT {start + 3}\n", 60)  # the guest kept running
    assert state_of(hull_bin, sock, h)["state"] == "running"
    assert ctl(hull_bin, sock, "stop")[:2] == (0, '{"ok":true}\n')
    assert h.wait(30) == 0, h.describe()
    for c in (garbage, mute):
        c.close()
