"""Limits a guest cannot push hull past: the descriptor budget (vmm/fdbudget.h).

The project kernel boots the virtio-blk tests' initramfs into the cached Debian image (read-only
/dev/vda) with a scratch disk (/dev/vdb), two shares and a vsock device, under a low open-file
limit that hull cannot raise (prlimit, and no CAP_SYS_RESOURCE). The guest takes descriptors
through both shares and vsock at once until each is refused, keeps them, and then hull must
still serve what it owes its user and the guest: a new disk read, a console line, SIGTERM.
"""

import hashlib
import os
import re
import resource
import shutil
import signal
import socket
import tempfile
import threading
from pathlib import Path

import pytest

import initramfs
from harness import guest_cmdline, start_vmm

lab = pytest.mark.lab

# hull's open-file limit, soft and hard: the budget is this minus what hull holds minus a
# reserve of max(256, limit / 8) (FDBUDGET_RESERVE_MIN).
LIMIT = 512
RESERVE_MIN = 256
FILES = 600  # per share: more than the whole budget
HOST_PORT = 5000  # the guest dials CID 2 here: hull connects to UDS_5000, the test accepts
ACCOUNTS = 3  # two shares and vsock split half of the budget as floors

# Runs in the Debian guest: opens share files (a LOOKUP and an OPEN each: two of hull's
# descriptors) in /run/a and /run/b and vsock connections to the host, all at once, each until
# refused; reports, then keeps everything open while it reads a console line and the disk.
EXHAUST = r"""
import errno, hashlib, mmap, os, resource, socket, sys, threading, time

resource.setrlimit(resource.RLIMIT_NOFILE, (1 << 20, 1 << 20))
files, port = int(sys.argv[1]), int(sys.argv[2])
held, res = [], {}


def name(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def share(tag):
    n, err = 0, "none"
    for i in range(files):
        try:
            held.append(os.open(f"/run/{tag}/f{i}", os.O_RDONLY))
        except OSError as e:
            err = name(e)
            break
        n += 1
    res[tag] = (n, err)


def vsock():
    n, err = 0, "none"
    while n < 100000:
        s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        s.settimeout(60)
        try:
            s.connect((2, port))
        except OSError as e:
            err = name(e) if e.errno else repr(e)
            s.close()
            break
        held.append(s)
        n += 1
    res["vsock"] = (n, err)


threads = [threading.Thread(target=share, args=(tag,)) for tag in ("a", "b")]
threads.append(threading.Thread(target=vsock))
for t in threads:
    t.start()
for t in threads:
    t.join()
for k, (n, err) in sorted(res.items()):
    print(f"HULL-KV {k}.opened={n}", flush=True)
    print(f"HULL-KV {k}.error={err}", flush=True)
print("HULL-WAIT", flush=True)
line = sys.stdin.readline().strip()
print(f"HULL-KV console={line}", flush=True)
fd = os.open("/dev/vdb", os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
got = os.preadv(fd, [buf], 0)
print(f"HULL-KV disk_read={got}", flush=True)
print(f"HULL-SUM {hashlib.sha256(buf).hexdigest()} vdb", flush=True)
print("HULL-HOLDING", flush=True)
time.sleep(3600)
"""

SCRIPTS = {
    "fd_exhaust": f"cat >/run/exhaust.py <<'EOF'\n{EXHAUST}\nEOF\n" + r"""set -e
files= port=
for arg in $(cat /proc/cmdline); do
	case $arg in
	hull.files=*) files=${arg#*=} ;;
	hull.port=*) port=${arg#*=} ;;
	esac
done
mkdir /run/a /run/b
mount -t virtiofs a /run/a
mount -t virtiofs b /run/b
python3 /run/exhaust.py "$files" "$port"
""",
}


def kv(h):
    return {m.group(1): m.group(2).strip()
            for m in re.finditer(r"^HULL-KV ([^=\s]+)=(.*)$", h.stdout, re.M)}


@pytest.fixture(scope="module")
def limits_initrd(tmp_path_factory):
    image = initramfs.blk_image("/bin/busybox", SCRIPTS)
    path = tmp_path_factory.mktemp("limits-initrd") / (
        "limits-%s.cpio" % hashlib.sha256(image).hexdigest()[:12])
    path.write_bytes(image)
    return path


class Holder:
    """Accepts every connection on a listening Unix socket and keeps it open until close()."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4096)
        self.conns = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


@lab
def test_guest_cannot_take_hulls_descriptors(hull_bin, project_vmlinux, limits_initrd,
                                             debian_image, tmp_path):
    """Under a 512-descriptor limit the guest opens files through two shares and vsock
    connections at once until refused: it gets ENFILE from the shares and a reset from vsock
    (never EMFILE from a host call that ran out), hull says so, keeps a reserve of descriptors
    of its own, and still serves a new O_DIRECT disk read, a console line and SIGTERM (143).
    All three devices got at least their floor, and the guest never more than the budget."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    rundir = Path(tempfile.mkdtemp(prefix="hull-limits-", dir="/run"))  # sockets: not on 9p
    holder = None
    try:
        shares = []
        for tag in ("a", "b"):
            d = tmp_path / tag
            d.mkdir()
            for i in range(FILES):
                (d / f"f{i}").write_bytes(b"")
            shares.append((tag, d))
        disk = tmp_path / "scratch.img"
        block = os.urandom(4096)
        with open(disk, "wb") as f:
            f.write(block)
            f.truncate(1 << 20)
        uds = rundir / "vsock.sock"
        holder = Holder(f"{uds}_{HOST_PORT}")
        args = ["--kernel", project_vmlinux, "--initrd", limits_initrd, "--memory", "512M",
                "--cmdline", guest_cmdline("fd_exhaust", f"hull.files={FILES} "
                                                         f"hull.port={HOST_PORT}"),
                "--disk", f"path={debian_image},ro=on", "--disk", f"path={disk}",
                "--vsock", f"cid=3,uds={uds}", "--verbose"]
        for tag, d in shares:
            args += ["--fs", f"tag={tag},path={d}"]
        # A low limit hull may not raise: no CAP_SYS_RESOURCE (the lab runs as root).
        h = start_vmm(hull_bin, args, wrap=["prlimit", f"--nofile={LIMIT}:{LIMIT}", "setpriv",
                                            "--bounding-set=-sys_resource", "--"])
        try:
            h.expect(r"HULL-WAIT", 600)
            info = kv(h)
            # The guest was refused with the budget's answers, not by a host call out of fds.
            assert info.get("a.error") == "ENFILE", h.describe()
            assert info.get("b.error") == "ENFILE", h.describe()
            assert info.get("vsock.error") == "ECONNRESET", h.describe()
            for what in (f"share {shares[0][1]}", f"share {shares[1][1]}", f"vsock {uds}"):
                assert f"hull: {what}: out of descriptors for the guest" in h.stderr, \
                    f"no refusal message for {what}\n{h.describe()}"
            # hull keeps descriptors of its own while the guest holds everything it could get.
            assert Path(f"/proc/{h.proc.pid}/comm").read_text().strip() == "hull"
            nfds = len(os.listdir(f"/proc/{h.proc.pid}/fd"))
            assert LIMIT - nfds >= RESERVE_MIN // 2, \
                f"hull holds {nfds} of its {LIMIT} descriptors\n{h.describe()}"

            # A console line is still read and answered ...
            token = f"typed-{os.getpid()}"
            h.send(token + "\n")
            h.expect(rf"HULL-KV console={token}\n", 120)
            # ... a new disk request is served ...
            m = h.expect(r"HULL-SUM ([0-9a-f]{64}) vdb\n", 120)
            assert m.group(1) == hashlib.sha256(block).hexdigest(), h.describe()
            h.expect(r"HULL-HOLDING", 60)

            # The budget as hull sized it: the guest got all of it, and no more; every
            # device at least its floor.
            m = re.search(r"^hull: descriptors: open-file limit (\d+), hull holds (\d+): (\d+) "
                          r"for the guest$", h.stderr, re.M)
            assert m, h.describe()
            assert int(m.group(1)) == LIMIT, h.describe()
            budget = int(m.group(3))
            opened = {k: int(info[f"{k}.opened"]) for k in ("a", "b", "vsock")}
            held = 2 * opened["a"] + 2 * opened["b"] + opened["vsock"]
            assert budget - 8 <= held <= budget, f"{opened}, budget {budget}\n{h.describe()}"
            floor = budget // 2 // ACCOUNTS
            assert opened["vsock"] >= floor, f"{opened}, floor {floor}\n{h.describe()}"
            assert min(opened["a"], opened["b"]) >= floor // 2, \
                f"{opened}, floor {floor}\n{h.describe()}"

            # ... and SIGTERM ends hull.
            h.proc.send_signal(signal.SIGTERM)
            rc = h.wait(60)
            assert rc == 128 + signal.SIGTERM, h.describe()
            assert "hull: Terminated: stopping the VM" in h.stderr, h.describe()
        finally:
            h.kill()
    finally:
        if holder:
            holder.close()
        shutil.rmtree(rundir, ignore_errors=True)
