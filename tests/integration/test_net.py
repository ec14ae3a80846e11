"""virtio-net: a Debian guest on a TAP device in a network namespace, and on passt, rootless.

The guest is the project kernel (virtio-net built in) with the virtio-blk tests' initramfs and
the Debian image as the read-only /dev/vda; it runs scripts.NET_SCRIPTS["net"]: eth0 gets a
static address (busybox ip), the guest pings, then echoes N MiB of data through a TCP server on
the host (PEER below) and reports the sha256 of what it sent and of what came back. The server
records the sha256 of what it received; all three must agree. The client announces its length
instead of half-closing: Debian 12's passt (0.0~git20230309) corrupts what it forwards to a
guest after the guest's FIN, whatever the VMM.

- TAP: the test makes a network namespace with a TAP interface in it and runs the VMM there
  (`ip netns exec`); host <-> guest ping both ways, 100 MiB each way.
- passt: the VMM runs as nobody (plus the kvm group for /dev/kvm), in a user and network
  namespace of its own (`unshare --user --map-root-user --net`) that has a dummy uplink with a
  default route for passt to copy its addresses from (harness.lab_allow_user_namespaces()
  makes user namespaces work in the lab's chroot first). The TCP server listens on that
  namespace's 127.0.0.1; the guest reaches it through passt's gateway address. hull either
  starts passt itself (`--net passt`, and must stop it on exit) or uses one the test started
  (`--net passt=SOCKET`).

HULL_TEST_VMM=qemu runs everything under QEMU microvm (virtio-net-device on -netdev tap, or
-netdev stream to a passt the test starts in both passt variants) to check the tests themselves.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from harness import (NetNs, guest_cmdline, kvm_for_group, lab_allow_user_namespaces,
                     start_vmm, vmm_under_test)

lab = pytest.mark.lab

MiB = 1 << 20
PEER_PORT = 5201
NOBODY = 65534

# The host's TCP server: takes one connection, reads the 8-byte length N the client announces,
# echoes N bytes while hashing them, closes, and writes {"sha256", "bytes", "peer"} (the
# client's address) to RESULT. READY appears once it listens.
PEER = r"""
import hashlib, json, os, socket, struct, sys
host, port, result, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((host, port))
ls.listen(1)
ls.settimeout(600)
with open(ready, "w") as f:
    f.write(str(os.getpid()))
c, addr = ls.accept()
c.settimeout(120)
head = b""
while len(head) < 8:
    b = c.recv(8 - len(head))
    if not b:
        break
    head += b
want = struct.unpack(">Q", head)[0] if len(head) == 8 else 0
h, n, buf = hashlib.sha256(), 0, bytearray(1 << 20)
while n < want:
    k = c.recv_into(memoryview(buf)[:min(len(buf), want - n)])
    if not k:
        break
    h.update(memoryview(buf)[:k])
    n += k
    c.sendall(memoryview(buf)[:k])
c.close()
with open(result + ".tmp", "w") as f:
    json.dump({"sha256": h.hexdigest(), "bytes": n, "peer": addr[0]}, f)
os.rename(result + ".tmp", result)
"""


def kv(h):
    return {m.group(1): m.group(2).strip()
            for m in re.finditer(r"^HULL-KV ([^=\s]+)=(.*)$", h.stdout, re.M)}


def sums(h):
    return {m.group(2): m.group(1)
            for m in re.finditer(r"^HULL-SUM ([0-9a-f]{64})\s+(\S+)\s*$", h.stdout, re.M)}


def wait_file(path, proc, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not Path(path).exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{what} did not start (exit {proc.poll()})", pytrace=False)
        time.sleep(0.05)


def check_transfer(h, result, mib, peer_addr):
    """The guest sent and got back mib MiB, the sums of sent, received-by-the-server and
    echoed data agree, and the server's client was peer_addr."""
    info, got = kv(h), sums(h)
    assert info.get("tcp_error") == "none", h.describe()
    assert info.get("echoed_bytes") == str(mib * MiB), h.describe()
    assert Path(result).is_file(), f"the host's server wrote no result\n{h.describe()}"
    peer = json.loads(Path(result).read_text())
    assert peer["bytes"] == mib * MiB, f"the server received {peer['bytes']} bytes"
    assert got.get("sent") == peer["sha256"], \
        f"the server received other data than the guest sent\n{h.describe()}"
    assert got.get("echoed") == peer["sha256"], \
        f"the guest received other data than the server sent\n{h.describe()}"
    assert peer["peer"] == peer_addr, f"the server's client was {peer['peer']}"
    print(f"{mib} MiB each way in {info.get('tcp_seconds')} s (guest's clock)")


def run_check(h, timeout):
    rc = h.wait(timeout)
    assert "HULL-INIT: start test=net" in h.stdout, h.describe()
    assert "HULL-INIT: done status=0" in h.stdout, h.describe()
    assert rc == 0, h.describe()


def random_mac():
    return "02:68:75:" + ":".join(f"{b:02x}" for b in os.urandom(3))


# --- TAP ---------------------------------------------------------------------------------------

@lab
def test_tap_ping_and_transfer(hull_bin, project_vmlinux, net_initrd, debian_image, tmp_path):
    """The VMM on a TAP in a network namespace made by the test: the guest sees the MAC given
    and its link up, pings the host and is pinged by it (3 of 3 each), and 100 MiB go each way
    through a TCP connection to the host, sha256 checked on both ends."""
    mib, host_ip, guest_ip, mac = 100, "192.168.100.1", "192.168.100.2", random_mac()
    ns = NetNs("hull-tap")
    peer = h = None
    try:
        ns.add_tap("hulltap0", f"{host_ip}/24")
        result, ready = tmp_path / "result.json", tmp_path / "ready"
        peer = subprocess.Popen(ns.argv(sys.executable, "-c", PEER, host_ip, PEER_PORT, result,
                                        ready), stdin=subprocess.DEVNULL)
        wait_file(ready, peer, "the host's TCP server")
        extra = (f"hull.addr={guest_ip}/24 hull.ping={host_ip} hull.wait=1 "
                 f"hull.peer={host_ip}:{PEER_PORT} hull.mib={mib}")
        h = start_vmm(hull_bin, ["--kernel", project_vmlinux, "--initrd", net_initrd,
                                 "--memory", "512M", "--cmdline", guest_cmdline("net", extra),
                                 "--disk", f"path={debian_image},ro=on",
                                 "--net", f"tap=hulltap0,mac={mac}"], wrap=ns.argv())
        h.expect(r"HULL-WAIT", 120)
        ping = subprocess.run(ns.argv("busybox", "ping", "-c", "3", "-w", "20", guest_ip),
                              capture_output=True, text=True)
        h.send("go\n")
        run_check(h, 300)
        info = kv(h)
        assert info.get("mac") == mac, h.describe()
        assert info.get("operstate") == "up", h.describe()
        assert info.get("ping") == "3 packets received", f"guest -> host ping\n{h.describe()}"
        assert ping.returncode == 0 and "3 packets received" in ping.stdout, \
            f"host -> guest ping: {ping.stdout}{ping.stderr}\n{h.describe()}"
        peer.wait(30)
        check_transfer(h, result, mib, guest_ip)
    finally:
        if h:
            h.kill()
        if peer and peer.poll() is None:
            peer.kill()
            peer.wait()
        ns.delete()


# --- passt, rootless ---------------------------------------------------------------------------

# Runs as nobody in a new user + network namespace (root there): the uplink passt copies from,
# the TCP server on the namespace's loopback, passt when the test provides it ($1 = 1), then
# the VMM in this process. $2: the run directory.
PASST_WRAP = r"""set -e
start_passt=$1 run=$2
shift 2
ip link set lo up
ip link add uplink0 type dummy
ip addr add 10.77.0.15/24 dev uplink0
ip link set uplink0 up
ip route add default via 10.77.0.1
/usr/bin/python3 "$run/peer.py" 127.0.0.1 PORT "$run/result.json" "$run/ready" &
if [ "$start_passt" = 1 ]; then
	passt -f -s "$run/passt.sock" -P "$run/passt.pid" >"$run/passt.log" 2>&1 &
fi
i=0
until [ -e "$run/ready" ] && { [ "$start_passt" = 0 ] || [ -S "$run/passt.sock" ]; }; do
	i=$((i + 1))
	if [ $i -gt 400 ]; then
		echo "passt wrapper: the server or passt did not start" >&2
		cat "$run/passt.log" >&2 || true
		exit 1
	fi
	sleep 0.05
done
exec "$@"
""".replace("PORT", str(PEER_PORT))


def netns_of(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def processes_in(netns):
    """{pid: command line} of the processes in network namespace netns ("net:[inode]")."""
    out = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and netns_of(p.name) == netns:
            try:
                out[int(p.name)] = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                pass
    return out


@pytest.fixture
def rootless_rundir(net_initrd):
    """A directory nobody owns in /run (sockets cannot live on the lab's 9p share) with a copy
    of the initramfs; the user namespaces and /dev/kvm access the rootless VMM needs."""
    try:
        lab_allow_user_namespaces()
        gid = kvm_for_group()
    except (RuntimeError, OSError, KeyError) as e:
        pytest.fail(f"cannot set up the rootless run: {e}", pytrace=False)
    # A namespace without real root cannot load the module itself.
    subprocess.run(["modprobe", "dummy"], capture_output=True)
    run = Path(tempfile.mkdtemp(prefix="hull-passt-", dir="/run"))
    shutil.copyfile(net_initrd, run / "initrd.cpio")
    (run / "peer.py").write_text(PEER)
    (run / "wrap.sh").write_text(PASST_WRAP)
    for p in run.iterdir():
        p.chmod(0o644)
    os.chown(run, NOBODY, NOBODY)
    run.chmod(0o755)
    yield run, gid
    shutil.rmtree(run, ignore_errors=True)


@lab
@pytest.mark.parametrize("how", ["vmm-starts-passt", "passt-socket"])
def test_passt_reaches_host_loopback(hull_bin, project_vmlinux, debian_image, rootless_rundir,
                                     how):
    """As nobody, in its own user + network namespace: the guest, with the address passt
    hands out (the uplink's), connects to passt's gateway address and reaches a TCP server on
    the namespace's loopback; 16 MiB each way, sha256 checked. The VMM really ran unprivileged
    (uid nobody). When hull started passt, no process is left in the namespace after it
    exits."""
    run, gid = rootless_rundir
    mib = 16
    # QEMU cannot start passt: the wrapper starts it in both variants then.
    test_starts_passt = how == "passt-socket" or vmm_under_test() == "qemu"
    net = f"passt={run}/passt.sock" if test_starts_passt else "passt"
    extra = (f"hull.addr=10.77.0.15/24 hull.gw=10.77.0.1 hull.peer=10.77.0.1:{PEER_PORT} "
             f"hull.mib={mib}")
    wrap = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", f"--groups={gid}",
            "unshare", "--user", "--map-root-user", "--net", "--",
            "sh", run / "wrap.sh", "1" if test_starts_passt else "0", run]
    h = start_vmm(hull_bin, ["--kernel", project_vmlinux, "--initrd", run / "initrd.cpio",
                             "--memory", "512M", "--cmdline", guest_cmdline("net", extra),
                             "--disk", f"path={debian_image},ro=on", "--net", net], wrap=wrap)
    ns = None
    try:
        h.expect(r"HULL-INIT: start test=net", 120)
        ns = netns_of(h.proc.pid)
        status = Path(f"/proc/{h.proc.pid}/status").read_text()
        uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
        assert uids == [str(NOBODY)] * 4, f"the VMM runs with uids {uids}\n{h.describe()}"
        assert ns and ns != netns_of(os.getpid()), "the VMM is in the test's network namespace"
        run_check(h, 240)
        info = kv(h)
        assert info.get("operstate") == "up", h.describe()
        check_transfer(h, run / "result.json", mib, "127.0.0.1")
    finally:
        h.kill()
        if test_starts_passt and (run / "passt.pid").exists():
            try:
                os.kill(int((run / "passt.pid").read_text()), 9)
            except (ValueError, ProcessLookupError):
                pass
    # hull stops the passt it started; the server ended with its one connection.
    left = processes_in(ns) if ns else {}
    deadline = time.monotonic() + 5
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = processes_in(ns)
    for pid in left:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    assert not left, f"processes left in the VMM's namespace after it exited: {left}"
