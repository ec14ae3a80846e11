"""virtio-fs: host directories shared with a Debian guest (--fs), the guest's root on a share.

Lab tests boot the project kernel with the virtio-blk tests' initramfs (initramfs.BLK_INIT: the
cached Debian image, read-only, as /dev/vda and a switch_root into it) and run a body from
scripts.FS_SCRIPTS that mounts the shares by tag. The guest reports what it sees; the tests check
that and the host's tree after the guest powered off. The workload (fs_workload.py) writes a
manifest of the tree as the guest sees it; the same code makes one on the host; they must be
equal. HULL_TEST_VMM=qemu runs everything under QEMU microvm with /usr/lib/qemu/virtiofsd instead
(to check the tests themselves; ro=on is then a read-only bind mount of the directory).
"""

import faulthandler
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

import fs_workload as wl
import initramfs
import scripts
from harness import (DEFAULT_CMDLINE, Hull, Virtiofsd, ext4_on_loop, guest_cmdline, memory_of,
                     qemu_argv, qemu_fs_argv, run_checked, split_fs_args, vmm_under_test)

lab = pytest.mark.lab

MiB = 1 << 20
# The big file of the workload (MiB): 1 GiB as the issue asks; HULL_FS_BIG_MIB makes it smaller
# for quick runs while working on the tests.
BIG_MIB = int(os.environ.get("HULL_FS_BIG_MIB", "1024"))


# --- reading the guest's report ------------------------------------------------------------

def kv(h):
    out = {}
    for m in re.finditer(r"^HULL-KV ([^=\s]+)=(.*)$", h.stdout, re.M):
        out[m.group(1)] = m.group(2).strip()
    return out


def sums(h, prefix=""):
    return {m.group(2): m.group(1) for m in re.finditer(
        rf"^HULL-SUM {prefix}([0-9a-f]{{64}})\s+\*?(\S+)\s*$", h.stdout, re.M)}


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def fs_check(h, test, timeout):
    """Wait for the end of a run: the body finished with status 0 and the VMM exited 0."""
    rc = h.wait(timeout)
    assert f"HULL-INIT: start test={test}" in h.stdout, h.describe()
    assert "HULL-INIT: done status=0" in h.stdout, h.describe()
    assert rc == 0, h.describe()


def snapshot(top):
    """Everything about a tree a write would change: {path: (mode, uid, gid, size, mtime_ns,
    ctime_ns, contents or link target)}."""
    out = {}
    for dirpath, dirs, files in os.walk(top):
        for name in dirs + files + ["."]:
            p = os.path.normpath(os.path.join(dirpath, name))
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                body = Path(p).read_bytes()
            elif stat.S_ISLNK(st.st_mode):
                body = os.readlink(p)
            else:
                body = None
            out[os.path.relpath(p, top)] = (st.st_mode, st.st_uid, st.st_gid, st.st_size,
                                            st.st_mtime_ns, st.st_ctime_ns, body)
    return out


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def ext4_top():
    """An ext4 filesystem on a loop device in the lab's /tmp: the lab kernel's tmpfs has no
    user.* xattrs. Mounted with discard so that removed trees give their memory back to the
    tmpfs underneath."""
    try:
        with ext4_on_loop(BIG_MIB * MiB + (1 << 30), "hull-fs-ext4-", ("-E", "nodiscard"),
                          "discard") as mnt:
            yield mnt
    except (RuntimeError, OSError) as e:
        pytest.fail(f"cannot set up ext4 on a loop device: {e}", pytrace=False)


@pytest.fixture
def share_dir(ext4_top, request):
    """Factory: share_dir(name) is a new empty directory on the ext4 filesystem, removed after
    the test."""
    made = []

    def make(name):
        tag = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
        d = ext4_top / f"{tag}-{name}"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
        made.append(d)
        return d

    yield make
    for d in made:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def fs_initrd(tmp_path_factory):
    """The virtio-blk tests' initramfs (project kernel) with the FS_SCRIPTS bodies."""
    image = initramfs.blk_image("/bin/busybox", scripts.FS_SCRIPTS)
    path = tmp_path_factory.mktemp("fs-initrd") / (
        "fs-%s.cpio" % hashlib.sha256(image).hexdigest()[:12])
    path.write_bytes(image)
    return path


@pytest.fixture
def fsvm(hull_bin):
    """Factory like the vm fixture: fsvm(args...) starts `hull vm ARGS`, or under
    HULL_TEST_VMM=qemu QEMU microvm with one virtiofsd per --fs. All are killed at teardown."""
    started, daemons, rundirs = [], [], []
    vmm = vmm_under_test()

    def start(*args):
        if vmm == "qemu":
            rest, specs = split_fs_args(args)
            rundir = tempfile.mkdtemp(prefix="hull-virtiofsd-", dir="/run")
            rundirs.append(rundir)
            ds = []
            for i, spec in enumerate(specs):
                ds.append(Virtiofsd(spec, rundir, i))
                daemons.append(ds[-1])
            argv = qemu_fs_argv(qemu_argv(rest), memory_of(args), [d.sock for d in ds],
                                [s["tag"] for s in specs])
            h = Hull(None, args, argv=argv)
        else:
            h = Hull(hull_bin, args)
        started.append(h)
        return h

    yield start
    for h in started:
        h.kill()
    for d in daemons:
        d.stop()
    for r in rundirs:
        shutil.rmtree(r, ignore_errors=True)


@pytest.fixture
def fsrun(fsvm, kernels, fs_initrd, debian_image):
    """Factory: fsrun(test, shares, cmdline_extra="", wait=True, timeout=...) boots the project
    kernel with the Debian image as /dev/vda and the --fs specs `shares`, running
    FS_SCRIPTS[test]; with wait it checks a clean run."""

    def run(test, shares, extra="", wait=True, timeout=300, memory="512M"):
        argv = ["--kernel", kernels["vmlinux"], "--initrd", fs_initrd, "--memory", memory,
                "--cmdline", guest_cmdline(test, extra),
                "--disk", f"path={debian_image},ro=on"]
        for s in shares:
            argv += ["--fs", s]
        h = fsvm(*argv)
        if wait:
            fs_check(h, test, timeout)
        return h

    return run


# --- 1. the workload -------------------------------------------------------------------------

@lab
def test_workload_manifest(fsrun, share_dir):
    """Every kind of operation on a share (cache=auto), with the 1 GiB file: every in-guest
    check passes, and the manifest of the tree the guest made (types, modes, owners, sizes,
    link counts and groups, targets, xattrs, mtimes, contents) equals the host's."""
    # Minutes under TCG: pytest.ini's faulthandler_timeout (180 s) would dump every stack
    # midway; the run has its own timeout (hull is killed and the test fails).
    faulthandler.cancel_dump_traceback_later()
    d = share_dir("work")
    h = fsrun("fs_workload", [f"tag=work,path={d}"], extra=f"hull.big_mib={BIG_MIB}",
              timeout=600 + BIG_MIB, memory="512M")
    info = kv(h)
    failed = {k: v for k, v in info.items() if k.startswith("check.") and v != "ok"}
    assert not failed, f"in-guest checks failed: {failed}\n{h.describe()}"
    assert info.get("workload_failed") == "0", h.describe()
    assert info.get("mount") == "work virtiofs", h.describe()
    assert info.get("umount") == "ok", h.describe()

    blob = (d / "guest-manifest.json").read_bytes()
    assert sha256(blob) == info.get("manifest_sha256"), \
        f"the guest's manifest file differs from what the guest wrote\n{h.describe()}"
    guest = json.loads(blob)
    tree = d / "tree"
    host = wl.manifest(str(tree))
    diff = {p: (guest.get(p), host.get(p)) for p in set(guest) | set(host)
            if guest.get(p) != host.get(p)}
    assert not diff, "guest and host see different trees (path: (guest, host)):\n" + "\n".join(
        f"  {p}: {g} != {hst}" for p, (g, hst) in sorted(diff.items())[:40])

    # What the tree must hold, checked on the host's files themselves.
    assert len(host) == int(info.get("manifest_entries", -1)), h.describe()
    assert (tree / "files/a").read_bytes() == wl.A_FINAL
    assert (tree / "files/mmap").read_bytes() == wl.mmap_final(), "MAP_SHARED write lost"
    assert (tree / "files/copied").read_bytes() == wl.A_FINAL
    assert (tree / "files/trunc").stat().st_size == wl.TRUNC_SIZE
    assert (tree / "files/extend").stat().st_size == wl.EXTEND_SIZE
    assert (tree / "files/falloc").stat().st_size == wl.FALLOC_SIZE
    assert (tree / "ren/over_dst").read_bytes() == b"the new content\n"
    assert not (tree / "ren/over_src").exists() and not (tree / "ren/src").exists()
    assert (tree / "ren/dst").read_bytes() == b"source\n"
    assert (tree / "ren/x").read_bytes() == b"y side\n"
    assert (tree / "ren/dir_new/inner/f").is_file() and not (tree / "ren/dir_old").exists()
    assert (tree / "sub/deep/moved").is_file() and not (tree / "files/moving").exists()
    assert not (tree / "files/unlinked").exists() and not (tree / "gone").exists()
    hl = [os.stat(tree / p) for p in ("files/hl1", "files/hl2", "sub/hl3")]
    assert len({s.st_ino for s in hl}) == 1 and hl[0].st_nlink == 3, hl
    assert not (tree / "sub/hl4").exists()
    for name, target in wl.SYMLINKS.items():
        assert os.readlink(tree / name) == target, name
    so, sl = os.stat(tree / "files/owned"), os.lstat(tree / "sl_rel")
    assert (so.st_uid, so.st_gid) == wl.OWNER and (sl.st_uid, sl.st_gid) == wl.LINK_OWNER
    assert stat.S_IMODE(os.stat(tree / "files/mode600").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tree / "files/suid").st_mode) == 0o4755
    assert stat.S_IMODE(os.stat(tree / "sub/deep").st_mode) == 0o1777
    assert os.stat(tree / "files/utime").st_mtime_ns == wl.UTIME_NS[1]
    for k, v in wl.XATTRS.items():
        assert os.getxattr(tree / "files/xattr", k) == v, k
    assert "user.removed" not in os.listxattr(tree / "files/xattr")
    for k, v in wl.DIR_XATTRS.items():
        assert os.getxattr(tree / "sub", k) == v, k
    assert stat.S_ISFIFO(os.lstat(tree / "files/fifo").st_mode)
    many = sorted(os.listdir(tree / "many"))
    assert many == [f"f{i:05d}" for i in range(wl.MANY)]
    for i in (0, 1, 4999, wl.MANY - 1):
        assert (tree / f"many/f{i:05d}").read_bytes() == wl.many_content(i)
    assert (tree / "big").stat().st_size == BIG_MIB * MiB
    assert host["big"]["sha256"] == wl.big_sum(BIG_MIB), "the big file's contents are wrong"


# --- 2. a read-only share --------------------------------------------------------------------

@lab
def test_readonly_share(fsrun, tmp_path):
    """ro=on: the guest reads the files; every write form fails with EROFS; the host tree is
    unchanged (contents, modes, owners, times), although its files are writable."""
    d = tmp_path / "ro"
    (d / "sub/empty").mkdir(parents=True)
    data, inner = os.urandom(200000), b"inner file\n"
    (d / "data").write_bytes(data)
    (d / "sub/inner").write_bytes(inner)
    os.symlink("data", d / "link")
    before = snapshot(d)

    h = fsrun("fs_ro", [f"tag=ro,path={d},ro=on"])
    info = kv(h)
    assert sums(h) == {"data": sha256(data), "sub/inner": sha256(inner)}, h.describe()
    assert sums(h, "after ") == sums(h), h.describe()
    assert info.get("list") == ". ./data ./link ./sub ./sub/empty ./sub/inner", h.describe()
    assert info.get("readlink") == "data", h.describe()
    probes = {k[3:]: v for k, v in info.items() if k.startswith("ro.")}
    assert len(probes) == 18, h.describe()
    wrong = {k: v for k, v in probes.items() if v != "EROFS"}
    assert not wrong, f"write forms that did not fail with EROFS: {wrong}\n{h.describe()}"
    assert snapshot(d) == before, f"the read-only share changed\n{h.describe()}"


# --- 3. two shares ---------------------------------------------------------------------------

@lab
def test_two_shares(fsrun, tmp_path):
    """Two shares with different tags: each mount shows its own directory; a file written into
    each lands in its own host directory only."""
    one, two = tmp_path / "one", tmp_path / "two"
    for d in (one, two):
        d.mkdir()
        (d / "marker").write_text(f"this is {d.name}\n")
        (d / f"only-in-{d.name}").write_text("")
    h = fsrun("fs_two", [f"tag=one,path={one}", f"tag=two,path={two}"])
    info = kv(h)
    for name, d in (("one", one), ("two", two)):
        assert info.get(f"{name}.list") == f"marker only-in-{name}", h.describe()
        assert info.get(f"{name}.marker") == f"this is {name}", h.describe()
        assert info.get(f"mounted.{name}") == f"/run/{name}", h.describe()
        assert (d / "from-guest").read_text() == f"written through {name}\n", h.describe()
        assert sorted(os.listdir(d)) == sorted(["marker", f"only-in-{name}", "from-guest"])


# --- 4. the root filesystem on virtio-fs -----------------------------------------------------

@pytest.fixture
def debian_tree(debian_image, tmp_path):
    """The cached Debian image loop-mounted read-only: its tree, to share as a root."""
    mnt = tmp_path / "debian"
    mnt.mkdir()
    try:
        subprocess.run(["modprobe", "-a", "loop", "ext4"], capture_output=True)
        run_checked("mount", "-t", "ext4", "-o", "loop,ro", debian_image, mnt)
    except RuntimeError as e:
        pytest.fail(f"cannot loop-mount {debian_image}: {e}", pytrace=False)
    yield mnt
    subprocess.run(["umount", mnt])


@lab
def test_root_on_virtio_fs(fsvm, kernels, debian_tree):
    """`root=rootfs rootfstype=virtiofs`: the project kernel (virtio-fs built in, no initramfs)
    mounts the share as / and runs the Debian image's /usr/local/sbin/hull-lab-init as PID 1."""
    h = fsvm("--kernel", kernels["vmlinux"], "--initrd", "none", "--memory", "256M",
             "--cmdline", f"{DEFAULT_CMDLINE} root=rootfs rootfstype=virtiofs ro "
             "init=/usr/local/sbin/hull-lab-init",
             "--fs", f"tag=rootfs,path={debian_tree},ro=on")
    rc = h.wait(180)
    assert "HULL-ROOT: PRETTY_NAME=Debian GNU/Linux 12 (bookworm)" in h.stdout, h.describe()
    assert re.search(r"^HULL-ROOT: mount rootfs virtiofs ro[,\s]", h.stdout, re.M), h.describe()
    assert re.search(r"^HULL-ROOT: pid 1 ", h.stdout, re.M), h.describe()
    assert "HULL-ROOT-OK" in h.stdout, h.describe()
    assert rc == 0, h.describe()


# --- 5. cache modes --------------------------------------------------------------------------

@lab
@pytest.mark.parametrize("cache", ["never", "always"])
def test_cache_modes(fsrun, tmp_path, cache):
    """cache=never and cache=always: a file written by the guest reads back (after the guest
    dropped its caches) and is on the host; O_DIRECT writes and reads work although the host
    directory (tmpfs) has no O_DIRECT; with cache=never the guest also sees at once what
    the host wrote while the share was mounted (no page or attribute cache)."""
    d = tmp_path / "c"
    d.mkdir()
    host_file = d / "host-file"
    host_file.write_text("host version 1\n")
    h = fsrun("fs_cache", [f"tag=c,path={d},cache={cache}"], wait=False)
    h.expect(r"HULL-WAIT", 180)
    host_file.write_text("host version 2, longer\n")
    h.send("go\n")
    fs_check(h, "fs_cache", 120)
    info, got = kv(h), sums(h)
    assert got.get("written") and got.get("readback") == got["written"], h.describe()
    assert sha256((d / "guest-file").read_bytes()) == got["written"], h.describe()
    assert info.get("direct_write") == "ok", h.describe()
    assert got.get("direct") == sha256((d / "guest-file").read_bytes()[:16 * 4096]), \
        h.describe()
    assert info.get("host_before") == "host version 1", h.describe()
    assert info.get("go") == "go", h.describe()
    if cache == "never":
        assert info.get("host_after") == "host version 2, longer", h.describe()
    else:
        # Cached attributes (the old size) may cut the new contents short.
        assert info.get("host_after") in ("host version 1", "host version 2, longer",
                                          "host version 2,"), h.describe()
