"""virtio-vsock: stream connections between the host and a Debian guest (--vsock cid=N,uds=PATH).

One VM serves every test of this file (a boot costs more than most checks): the project kernel
(vsock built in) with the virtio-blk tests' initramfs and the Debian image as the read-only
/dev/vda runs scripts.VSOCK_AGENT, which listens on guest port 1024 and takes one command per
connection (echo, sink, source, stall, dial to the host...). The host's end is
harness.VsockHost: hull's hybrid Unix socket, or AF_VSOCK to vhost-vsock under
HULL_TEST_VMM=qemu (QEMU microvm with vhost-vsock-device, to check the tests themselves).
Every transfer is checked with sha256 on both ends.
"""

import hashlib
import os
import re
import shutil
import socket
import tempfile
import threading
import time

import pytest

from harness import VsockHost, guest_cmdline, rss_bytes, start_vmm, vmm_under_test
from stream_data import exchange

lab = pytest.mark.lab

MiB = 1 << 20
AGENT_PORT = 1024
# Guest and host ports nobody listens on (the refusal checks).
UNUSED_GUEST_PORT = 1025
UNUSED_HOST_PORT = 7999

# The stalled-reader check: the host tries to push this much into a connection whose guest
# reader sleeps. What the VMM may take in (the Unix socket's buffers, its own per-connection
# buffer, the guest's receive buffer: buf_alloc, 256 KiB by default) and how much its RSS may
# grow meanwhile are bounded by these few MiB, far below what was offered.
STALL_PUSH = 256 * MiB
STALL_ACCEPT_LIMIT = 16 * MiB
STALL_RSS_LIMIT = 8 * MiB
# The writer counts as blocked after this long without progress.
STALL_IDLE = 3.0


# --- the VM and its agent --------------------------------------------------------------------

class VsockVM:
    def __init__(self, h, host, cid):
        self.h, self.host, self.cid = h, host, cid

    def command(self, text, timeout=120):
        """Open a connection to the agent, send one command line, return the answer line."""
        c = self.host.connect_to_guest(AGENT_PORT)
        try:
            c.settimeout(timeout)
            c.sendall(f"{text}\n".encode())
            return read_line(c)
        finally:
            c.close()

    def describe(self):
        return self.h.describe()


def read_line(c, limit=4096):
    b = bytearray()
    while not b.endswith(b"\n"):
        x = c.recv(1)
        if not x:
            raise EOFError(f"connection ended before a full line: {bytes(b)!r}")
        b += x
        if len(b) > limit:
            raise ValueError(f"line too long: {bytes(b[:100])!r}...")
    return b.decode().rstrip("\n")


def read_exact(c, n):
    """n bytes from c as (sha256 hex, count) (count < n when the stream ended early)."""
    h, got, buf = hashlib.sha256(), 0, bytearray(MiB)
    while got < n:
        k = c.recv_into(memoryview(buf)[:min(len(buf), n - got)])
        if not k:
            break
        h.update(memoryview(buf)[:k])
        got += k
    return h.hexdigest(), got


class Listener:
    """Accepts the guest's connections on a host listening socket, each served by a thread:
    mode "echo" sends everything back, "sink" only reads; both record (sha256, bytes) of what
    each connection brought, in arrival order."""

    def __init__(self, sock, mode):
        self.sock, self.mode = sock, mode
        self.got, self.errors = [], []
        self.lock = threading.Lock()
        self.threads = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return  # closed
            t = threading.Thread(target=self._serve, args=(c,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, c):
        h, n, buf = hashlib.sha256(), 0, bytearray(MiB)
        try:
            c.settimeout(120)
            while True:
                k = c.recv_into(buf)
                if not k:
                    break
                h.update(memoryview(buf)[:k])
                n += k
                if self.mode == "echo":
                    c.sendall(memoryview(buf)[:k])
            with self.lock:
                self.got.append((h.hexdigest(), n))
        except OSError as e:
            with self.lock:
                self.errors.append(repr(e))
        finally:
            c.close()

    def wait(self, count, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.got) + len(self.errors) >= count:
                    return
            time.sleep(0.05)


@pytest.fixture(scope="module")
def vsock_vm(hull_bin, project_vmlinux, net_initrd, debian_image):
    """The VM with the agent running: a VsockVM. Stopped with the agent's "quit" at the end."""
    rundir = tempfile.mkdtemp(prefix="hull-vsock-", dir="/run")  # sockets: not on 9p
    # Unique on the machine: QEMU's vhost-vsock CIDs are global.
    cid = 3 + int.from_bytes(os.urandom(3), "little")
    uds = f"{rundir}/vsock.sock"
    h = start_vmm(hull_bin, ["--kernel", project_vmlinux, "--initrd", net_initrd,
                             "--memory", "512M", "--cmdline", guest_cmdline("vsock"),
                             "--disk", f"path={debian_image},ro=on",
                             "--vsock", f"cid={cid},uds={uds}"])
    vm = VsockVM(h, VsockHost(vmm_under_test(), cid, uds), cid)
    try:
        h.expect(rf"HULL-VSOCK-READY port={AGENT_PORT}", 120)
        yield vm
        if h.proc.poll() is None:
            try:
                assert vm.command("quit", timeout=20) == "bye", h.describe()
            except (OSError, EOFError) as e:
                pytest.fail(f"the agent did not quit: {e!r}\n{h.describe()}", pytrace=False)
            rc = h.wait(60)
            assert "HULL-INIT: done status=0" in h.stdout, h.describe()
            assert rc == 0, h.describe()
    finally:
        h.kill()
        vm.host.close()
        shutil.rmtree(rundir, ignore_errors=True)


@pytest.fixture
def vvm(vsock_vm):
    """The shared VM, checked to be still running, with no agent errors, after each test."""
    yield vsock_vm
    assert vsock_vm.h.proc.poll() is None, vsock_vm.describe()
    assert "HULL-VSOCK-ERROR" not in vsock_vm.h.stdout, vsock_vm.describe()


# --- 1. echo both ways, refusals -----------------------------------------------------------

@lab
def test_echo_both_directions(vvm):
    """A host-initiated connection to a guest listener echoes 1 MiB intact (the host's SHUT_WR
    reaches the guest as EOF, the guest's close the host); a guest-initiated one to CID 2
    reaches a host listener and echoes intact. Connections to ports nobody listens on are
    refused at once, both ways (RST)."""
    data = os.urandom(MiB)
    c = vvm.host.connect_to_guest(AGENT_PORT)
    c.sendall(b"echo\n")
    got = exchange(c, data)
    c.close()
    assert got == data, f"host->guest echo: {len(got)} bytes back, differ\n{vvm.describe()}"

    t0 = time.monotonic()
    with pytest.raises(ConnectionError):
        vvm.host.connect_to_guest(UNUSED_GUEST_PORT, timeout=10).close()
    assert time.monotonic() - t0 < 5, "refusal of an unused guest port took long"

    port = 5001
    lst = Listener(vvm.host.listen_for_guest(port), "echo")
    answer = vvm.command(f"dial {port} echo 1 {MiB}")
    lst.wait(1)
    m = re.fullmatch(r"ok 1 ([0-9a-f]{64})", answer)
    assert m, f"guest->host echo: {answer}\n{vvm.describe()}"
    assert not lst.errors and len(lst.got) == 1, lst.errors
    digest, n = lst.got[0]
    assert n == MiB, f"the host got {n} bytes"
    assert m.group(1) == hashlib.sha256(digest.encode()).hexdigest(), \
        "the host received other data than the guest sent"

    answer = vvm.command(f"dial {UNUSED_HOST_PORT} probe")
    assert answer == "error ECONNRESET", \
        f"guest connecting to an unused host port: {answer}\n{vvm.describe()}"


# --- 2. many connections at once -------------------------------------------------------------

@lab
def test_100_concurrent_connections(vvm):
    """100 host-initiated connections open at once, each echoing its own 64 KiB; then 100
    guest-initiated ones the same way. Every byte checked."""
    count, size = 100, 64 * 1024
    conns = []
    try:
        for _ in range(count):
            c = vvm.host.connect_to_guest(AGENT_PORT)
            c.sendall(b"echo\n")
            conns.append(c)
        datas = [os.urandom(size) for _ in range(count)]
        results = [None] * count

        def one(i):
            try:
                results[i] = exchange(conns[i], datas[i])
            except OSError as e:
                results[i] = e

        threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        for c in conns:
            c.close()
    bad = [i for i in range(count) if results[i] != datas[i]]
    assert not bad, (f"{len(bad)} of {count} host-initiated connections failed, e.g. #{bad[0]}: "
                     f"{results[bad[0]]!r:.200}\n{vvm.describe()}")

    port = 5002
    lst = Listener(vvm.host.listen_for_guest(port), "echo")
    answer = vvm.command(f"dial {port} echo {count} {size}", timeout=300)
    lst.wait(count)
    m = re.fullmatch(rf"ok {count} ([0-9a-f]{{64}})", answer)
    assert m, f"guest-initiated connections: {answer}\n{vvm.describe()}"
    assert not lst.errors, lst.errors
    assert sorted(n for _, n in lst.got) == [size] * count
    expect = hashlib.sha256("".join(sorted(d for d, _ in lst.got)).encode()).hexdigest()
    assert m.group(1) == expect, "the host received other data than the guest sent"


# --- 3. 64 MiB each way --------------------------------------------------------------------

@lab
def test_64mib_each_way(vvm):
    """64 MiB host -> guest (host-initiated connection) and 64 MiB guest -> host (guest-initiated,
    to CID 2), sha256 compared between the ends."""
    size = 64 * MiB
    data = os.urandom(size)
    c = vvm.host.connect_to_guest(AGENT_PORT)
    c.settimeout(300)
    c.sendall(b"sink\n")
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    answer = read_line(c)
    c.close()
    assert answer == f"{hashlib.sha256(data).hexdigest()} {size}", \
        f"host->guest: the guest got {answer}\n{vvm.describe()}"

    port = 5003
    lst = Listener(vvm.host.listen_for_guest(port), "sink")
    answer = vvm.command(f"dial {port} source {size}", timeout=300)
    lst.wait(1)
    assert not lst.errors and len(lst.got) == 1, lst.errors
    digest, n = lst.got[0]
    assert n == size, f"guest->host: the host got {n} of {size} bytes\n{vvm.describe()}"
    assert answer == f"ok {digest}", f"guest->host: {answer}, host has {digest}"


# --- 4. a guest that stops reading ---------------------------------------------------------------

@lab
def test_stalled_reader_bounds_memory(vvm):
    """The host pushes into a connection whose guest reader sleeps: the writes block after a
    few MiB (STALL_ACCEPT_LIMIT) instead of taking the 256 MiB offered, and the VMM's RSS
    grows by less than STALL_RSS_LIMIT (sampled all along). Once the guest reads again, it
    gets exactly what the host wrote."""
    pid = vvm.h.proc.pid
    c = vvm.host.connect_to_guest(AGENT_PORT)
    c.sendall(b"stall s1\n")
    assert read_line(c) == "stalled"
    time.sleep(0.5)
    base = peak = rss_bytes(pid)

    chunk = bytearray(os.urandom(MiB))
    sent, h = 0, hashlib.sha256()
    c.setblocking(False)
    last_progress = time.monotonic()
    next_sample = 0.0
    while sent < STALL_PUSH:
        now = time.monotonic()
        if now >= next_sample:
            peak = max(peak, rss_bytes(pid))
            next_sample = now + 0.1
        if now - last_progress > STALL_IDLE:
            break
        try:
            k = c.send(memoryview(chunk)[sent % MiB:])
        except BlockingIOError:
            time.sleep(0.01)
            continue
        h.update(memoryview(chunk)[sent % MiB:sent % MiB + k])
        sent += k
        last_progress = time.monotonic()
    for _ in range(5):
        time.sleep(0.1)
        peak = max(peak, rss_bytes(pid))
    growth = peak - base
    print(f"stalled reader: the host got {sent} bytes in before blocking; VMM RSS "
          f"{base >> 10} KiB -> peak {peak >> 10} KiB (+{growth >> 10} KiB)")
    assert sent < STALL_ACCEPT_LIMIT, \
        f"{sent} bytes accepted for a guest that reads nothing\n{vvm.describe()}"
    assert growth < STALL_RSS_LIMIT, \
        f"VMM RSS grew by {growth >> 10} KiB while the guest read nothing\n{vvm.describe()}"
    assert vvm.h.proc.poll() is None, vvm.describe()

    assert vvm.command("resume s1") == "ok"
    c.setblocking(True)
    c.settimeout(120)
    tail = bytes(os.urandom(4 * MiB))
    c.sendall(tail)
    h.update(tail)
    c.shutdown(socket.SHUT_WR)
    answer = read_line(c)
    c.close()
    assert answer == f"{h.hexdigest()} {sent + len(tail)}", \
        f"after the stall the guest read {answer}\n{vvm.describe()}"
