"""virtio-blk and virtio-rng: Debian userspace on hull's disks, with the project and cloud kernels.

Lab tests boot an initramfs (initramfs.BLK_INIT) that mounts the cached Debian image, attached
read-only as the first disk (/dev/vda), and runs a body from scripts.BLK_SCRIPTS inside it with
the test's scratch disks as /dev/vdb, /dev/vdc. The guest reports; the tests check, on the
guest's console and on the images from the host side. HULL_TEST_VMM=qemu runs the lab tests
under QEMU microvm instead (to check the tests themselves). The disk-lock test runs on the host.
"""

import hashlib
import os
import random
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from harness import DEFAULT_CMDLINE, guest_cmdline

MiB = 1 << 20

# The project kernel (virtio built in, cmdline devices) and Debian's cloud kernel (virtio as
# modules, devices found through ACPI).
KERNELS = ["vmlinux", "cloud"]

lab = pytest.mark.lab


def host(fn):
    """A host test that opens /dev/kvm (marks host and kvm)."""
    return pytest.mark.host(pytest.mark.kvm(fn))


# --- reading the guest's report --------------------------------------------------------------

def kv(h):
    """The guest's "HULL-KV key=value" lines as a dict."""
    out = {}
    for m in re.finditer(r"^HULL-KV ([^=\s]+)=(.*)$", h.stdout, re.M):
        out[m.group(1)] = m.group(2).strip()
    return out


def sums(h):
    """The guest's "HULL-SUM sha256  path" lines as {path: sha256}."""
    return {m.group(2): m.group(1)
            for m in re.finditer(r"^HULL-SUM ([0-9a-f]{64})\s+\*?(\S+)\s*$", h.stdout, re.M)}


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def file_range_sha(path, offset, length):
    with open(path, "rb") as f:
        f.seek(offset)
        return sha256(f.read(length))


def file_sha(path):
    with open(path, "rb") as f:
        return sha256(f.read())


def e2fsck(image, *opts):
    return subprocess.run(["e2fsck", *opts, str(image)], capture_output=True, text=True)


def debugfs_cat(image, path, tmp_path):
    """A file's contents from an ext4 image, read on the host with debugfs (no mount)."""
    out = tmp_path / ("debugfs-" + path.strip("/").replace("/", "_"))
    p = subprocess.run(["debugfs", "-R", f"dump /{path.strip('/')} {out}", str(image)],
                       capture_output=True, text=True)
    assert out.is_file(), f"debugfs could not dump /{path} from {image}: {p.stderr}"
    return out.read_bytes()


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture
def blk(vm, kernels, blk_initrd, debian_image):
    """Factory: blk(which, test, disks, args=(), wait=True) boots kernel `which` with the Debian
    image as /dev/vda (ro, serial hull-root), the --disk specs `disks` after it, and runs
    BLK_SCRIPTS[test]. With wait it waits for the end and checks a clean run (exit 0, body
    status 0); else it returns the running VM."""

    def run(which, test, disks=(), args=(), wait=True, timeout=120, memory="256M"):
        argv = ["--kernel", kernels[which], "--initrd", blk_initrd(which), "--memory", memory,
                "--cmdline", guest_cmdline(test),
                "--disk", f"path={debian_image},ro=on,serial=hull-root"]
        for d in disks:
            argv += ["--disk", d]
        h = vm(*argv, *args)
        if wait:
            blk_check(h, test, timeout)
        return h

    return run


def blk_check(h, test, timeout=120):
    """Wait for the end of a blk() run: the body ran to the end with status 0, the VMM exit 0."""
    rc = h.wait(timeout)
    assert f"HULL-INIT: start test={test}" in h.stdout, h.describe()
    assert "HULL-INIT: done status=0" in h.stdout, h.describe()
    assert rc == 0, h.describe()


@pytest.fixture
def disk(scratch, request):
    """Factory: disk(name, mib, cache) is a blank image where that cache mode works: cache=none
    (O_DIRECT) needs the loop-mounted ext4 directory, the others use the test's tmp_path.
    Images in the shared directory are removed after the test."""
    made = []

    def make(name, mib=128, cache="writeback"):
        where = request.getfixturevalue("direct_dir") if cache == "none" else None
        tag = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
        path = scratch(f"{tag}-{name}", mib, where)
        if where:
            made.append(path)
        return path

    yield make
    for p in made:
        p.unlink(missing_ok=True)


def open_flags(h, path):
    """The open(2) flags of every descriptor the VMM holds on path (from /proc/PID/fdinfo)."""
    found = []
    fds = Path(f"/proc/{h.proc.pid}/fd")
    for fd in fds.iterdir():
        try:
            if os.path.realpath(fd) != os.path.realpath(path):
                continue
            info = (Path(f"/proc/{h.proc.pid}/fdinfo") / fd.name).read_text()
        except OSError:
            continue
        m = re.search(r"^flags:\s*([0-7]+)$", info, re.M)
        if m:
            found.append(int(m.group(1), 8))
    return found


def _serial():
    return "hs%08x" % random.getrandbits(32)


# --- a. filesystem round trip, reboot ---------------------------------------------------------

@lab
@pytest.mark.parametrize("which,cache", [("vmlinux", "writeback"), ("vmlinux", "none"),
                                         ("cloud", "unsafe"), ("cloud", "none")])
def test_scratch_filesystem(blk, disk, tmp_path, which, cache):
    """mkfs.ext4 and files on a blank disk; the host's e2fsck -fn is clean and debugfs reads the
    same data; a second boot (the reboot) mounts it and reads the same checksums."""
    img = disk("scratch", 128, cache)
    spec = f"path={img},cache={cache}"
    h = blk(which, "fs_write", [spec], wait=False)
    h.expect(r"HULL-TEST: ", 60)
    # cache=none is O_DIRECT (a VMM may keep a buffered descriptor besides, for requests too
    # unaligned for it); the other modes never are.
    flags = open_flags(h, img)
    shown = f"{img} open with flags {[oct(f) for f in flags]}\n{h.describe()}"
    assert flags and all(f & os.O_ACCMODE == os.O_RDWR for f in flags), shown
    assert any(f & os.O_DIRECT for f in flags) == (cache == "none"), f"cache={cache}: {shown}"
    blk_check(h, "fs_write")
    info, first = kv(h), sums(h)
    assert info.get("ro") == "0", h.describe()
    assert info.get("size") == str(128 * MiB), h.describe()
    assert set(first) == {"a", "b", "dir/c"}, h.describe()

    fsck = e2fsck(img, "-fn")
    assert fsck.returncode == 0, (f"e2fsck -fn {img}: exit {fsck.returncode}\n{fsck.stdout}"
                                  f"{fsck.stderr}\n{h.describe()}")
    for path, digest in first.items():
        assert sha256(debugfs_cat(img, path, tmp_path)) == digest, \
            f"/{path} on the host differs from what the guest read\n{h.describe()}"

    h2 = blk(which, "fs_verify", [spec])
    assert sums(h2) == first, f"first boot: {first}\n{h2.describe()}"


# --- b. read-only disk -------------------------------------------------------------------------

@lab
@pytest.mark.parametrize("which", KERNELS)
def test_readonly_disk(blk, tmp_path, which):
    """ro=on: the guest sees a read-only disk, raw writes, a rw mount and file writes fail,
    reads work, and the image is unchanged (although its file is writable)."""
    src = tmp_path / "src"
    src.mkdir()
    data = random.randbytes(1 << 20)
    (src / "data").write_bytes(data)
    img = tmp_path / "ro.img"
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-d", src, img, "64M"], check=True)
    before = file_sha(img)

    h = blk(which, "ro_disk", [f"path={img},ro=on"], wait=False)
    h.expect(r"HULL-TEST: ", 60)
    flags = open_flags(h, img)
    assert flags and all(f & os.O_ACCMODE == os.O_RDONLY for f in flags), \
        f"{img} (ro=on) open with flags {[oct(f) for f in flags]}\n{h.describe()}"
    blk_check(h, "ro_disk")
    info = kv(h)
    assert info.get("getro") == "1", h.describe()
    assert info.get("rawwrite", "").startswith("refused"), h.describe()
    assert info.get("mountrw", "").startswith("refused") or info.get("mountrw") == "ro", \
        h.describe()
    assert info.get("filewrite", "").startswith("refused"), h.describe()
    assert sums(h).get("data") == sha256(data), h.describe()
    assert file_sha(img) == before, f"{img} changed under ro=on\n{h.describe()}"


# --- c. two disks --------------------------------------------------------------------------------

@lab
@pytest.mark.parametrize("which", KERNELS)
def test_two_disks(blk, disk, which):
    """Two scratch disks next to the root: distinct serials and sizes in the guest, each one's
    data lands in its own image, both written at the same time. The guest's driver takes the
    request limits hull advertises (seg_max 254, size_max 128 KiB: longer chains are refused)."""
    b, c = disk("b", 64), disk("c", 96)
    sb, sc = _serial(), _serial()
    h = blk(which, "two_disks", [f"path={b},serial={sb}", f"path={c},serial={sc}"])
    info, got = kv(h), sums(h)
    assert info.get("vda.serial") == "hull-root", h.describe()
    assert info.get("vdb.serial") == sb, h.describe()
    assert info.get("vdc.serial") == sc, h.describe()
    assert info.get("vdb.size") == str(64 * MiB), h.describe()
    assert info.get("vdc.size") == str(96 * MiB), h.describe()
    for d in ("vda", "vdb", "vdc"):
        assert info.get(f"{d}.max_segments") == "254", h.describe()
        assert info.get(f"{d}.max_segment_size") == str(128 * 1024), h.describe()
    assert info.get("vdb.tag") == "hull-tag-vdb", h.describe()
    assert info.get("vdc.tag") == "hull-tag-vdc", h.describe()
    data = got.get("/run/data")
    assert data and got.get("vdb") == data and got.get("vdc") == data, h.describe()
    for img, name in ((b, "vdb"), (c, "vdc")):
        with open(img, "rb") as f:
            head = f.read(32)
        assert head.startswith(f"hull-tag-{name}\n".encode()), \
            f"{img} starts with {head!r}\n{h.describe()}"
        assert file_range_sha(img, MiB, 8 * MiB) == data, f"{img}: data\n{h.describe()}"


# --- d. root filesystem on virtio-blk ------------------------------------------------------------

@lab
@pytest.mark.parametrize("which", ["bzimage", "vmlinux", "cloud"])
def test_root_on_virtio_blk(vm, blk, kernels, debian_image, which):
    """The Debian image as the root filesystem: the project kernel mounts root=/dev/vda itself
    (--initrd none); the cloud kernel gets there through an initramfs that loads its modules and
    switch_roots. Its /usr/local/sbin/hull-lab-init then runs as PID 1."""
    if which == "cloud":
        h = blk(which, "root", wait=False)
    else:
        h = vm("--kernel", kernels[which], "--initrd", "none", "--memory", "256M",
               "--cmdline", f"{DEFAULT_CMDLINE} root=/dev/vda ro rootfstype=ext4 "
               "init=/usr/local/sbin/hull-lab-init",
               "--disk", f"path={debian_image},ro=on")
    rc = h.wait(120)
    assert "HULL-ROOT: PRETTY_NAME=Debian GNU/Linux 12 (bookworm)" in h.stdout, h.describe()
    # The kernel names the root it mounted itself /dev/root: the device numbers tell.
    assert re.search(r"^HULL-ROOT: mount /dev/(vda|root) ext4 ro[,\s]", h.stdout, re.M), \
        h.describe()
    m = re.search(r"^HULL-ROOT: root dev (\S+) vda (\S+)$", h.stdout, re.M)
    assert m and m.group(1) == m.group(2), h.describe()
    assert re.search(r"^HULL-ROOT: pid 1 ", h.stdout, re.M), h.describe()
    assert "HULL-ROOT-OK" in h.stdout, h.describe()
    assert rc == 0, h.describe()


# --- e. synced data survives SIGKILL -------------------------------------------------------------

@lab
@pytest.mark.parametrize("which,cache", [("vmlinux", "none"), ("cloud", "writeback")])
def test_synced_data_survives_sigkill(blk, disk, tmp_path, which, cache):
    """What the guest wrote and synced is in the images after hull is SIGKILLed right after:
    2 MiB raw on one disk, a file on ext4 on the other (read after e2fsck replays the journal
    on a copy)."""
    raw, fs = disk("raw", 64, cache), disk("fs", 64, cache)
    h = blk(which, "synced_kill", [f"path={raw},cache={cache}", f"path={fs},cache={cache}"],
            wait=False)
    h.expect(r"HULL-SYNCED", 120)
    h.proc.kill()
    rc = h.wait(10)
    assert rc == -9, h.describe()
    got = sums(h)
    assert "/run/raw" in got and "/run/mnt/file" in got, h.describe()
    assert file_range_sha(raw, 0, 2 * MiB) == got["/run/raw"], \
        f"{raw}: the synced 2 MiB are not there\n{h.describe()}"
    copy = tmp_path / "fs-copy.img"
    shutil.copyfile(fs, copy)
    fsck = e2fsck(copy, "-fy")
    assert fsck.returncode in (0, 1), f"e2fsck -fy: exit {fsck.returncode}\n{fsck.stdout}" \
        f"{fsck.stderr}\n{h.describe()}"
    assert sha256(debugfs_cat(copy, "file", tmp_path)) == got["/run/mnt/file"], \
        f"/file on the killed guest's filesystem differs\n{fsck.stdout}\n{h.describe()}"


# --- f. the image lock (host) --------------------------------------------------------------------

@host
def test_disk_lock(hull, hull_bin, tiny_pvh, tmp_path):
    """A writable image is locked: a second hull on it fails with the lock message; once the
    first is gone the image is free again; two hulls may share an image with ro=on."""
    img = tmp_path / "locked.img"
    with open(img, "wb") as f:
        f.truncate(16 * MiB)
    base = ["--kernel", tiny_pvh, "--initrd", "none", "--cmdline", "h"]

    def second(spec):
        return subprocess.run([hull_bin, "vm", *map(str, base), "--disk", spec],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=30)

    first = hull(*base, "--disk", f"path={img}")
    first.expect(r"hull tiny guest: hello from PVH", 30)
    p = second(f"path={img}")
    msg = f"second hull: exit {p.returncode}\nstderr: {p.stderr}\nfirst: {first.describe()}"
    assert p.returncode == 2, msg  # found by the first pass, before /dev/kvm
    assert re.search(rf"disk {re.escape(str(img))}: locked by another process", p.stderr), msg
    assert first.proc.poll() is None, first.describe()

    # After SIGKILL the lock may outlive the process for a moment (io_uring tears its ring
    # down, and drops its hold on the image, asynchronously; writes still in flight land until
    # then), so the image must be free again soon, not at once.
    def start_when_free(spec, within=5.0):
        deadline = time.monotonic() + within
        while True:
            h = hull(*base, "--disk", spec)
            if h.wait_for(r"hull tiny guest: hello from PVH", 30):
                return h
            assert "locked by another process" in h.stderr, h.describe()
            assert time.monotonic() < deadline, \
                f"{img} still locked {within} s after its hull was killed\n{h.describe()}"
            time.sleep(0.05)

    first.kill()
    again = start_when_free(f"path={img}")
    again.kill()

    ro1 = start_when_free(f"path={img},ro=on")
    ro2 = hull(*base, "--disk", f"path={img},ro=on")
    ro2.expect(r"hull tiny guest: hello from PVH", 30)
    time.sleep(0.5)
    assert ro1.proc.poll() is None, ro1.describe()
    assert ro2.proc.poll() is None, ro2.describe()
    assert "locked" not in ro2.stderr, ro2.describe()


# --- g. virtio-rng -----------------------------------------------------------------------------

@lab
@pytest.mark.parametrize("which", KERNELS)
def test_rng(blk, which):
    """The guest's hwrng is virtio_rng; 64 bytes from /dev/hwrng, not all equal."""
    h = blk(which, "rng")
    info = kv(h)
    assert info.get("rng_current", "").startswith("virtio_rng"), h.describe()
    assert "0x0004" in info.get("virtio_ids", "").split(","), h.describe()
    hexdata = info.get("hwrng", "")
    assert re.fullmatch(r"[0-9a-f]{128}", hexdata), h.describe()
    data = bytes.fromhex(hexdata)
    assert len(set(data)) > 1, f"64 equal bytes from /dev/hwrng\n{h.describe()}"


@lab
@pytest.mark.parametrize("which", KERNELS)
def test_rng_off(blk, which):
    """--rng off: no virtio-rng device (type 4) and no virtio hwrng; the disks are still there."""
    h = blk(which, "rng", args=["--rng", "off"])
    info = kv(h)
    ids = info.get("virtio_ids", "").split(",")
    assert "0x0002" in ids and "0x0004" not in ids, h.describe()
    assert not info.get("rng_current", "").startswith("virtio_rng"), h.describe()
    assert "virtio_rng" not in info.get("rng_available", ""), h.describe()
    assert not re.fullmatch(r"[0-9a-f]{128}", info.get("hwrng", "")), h.describe()
