#!/usr/bin/python3
"""fs_workload: the virtio-fs lab workload and the tree manifest both sides compare.

Runs in the guest (Debian's python3, on the mounted share) and on the lab host (the test's
python3, on the shared directory after the guest powered off):

    fs_workload.py run TREE [--big-mib N]     the workload in TREE (made empty): every kind of
                                              filesystem operation the issue lists; prints
                                              "HULL-KV check.NAME=ok|FAIL: why" per in-guest
                                              check and exits 1 when one failed
    fs_workload.py manifest TREE OUT          a JSON manifest of TREE (type, mode, owner, size,
                                              nlink, hard-link group, link target, user.*
                                              xattrs, mtime, sha256 of contents) into OUT
    fs_workload.py bigsum [--big-mib N]       the sha256 the big file must have

Only the standard library: the guest image has python3 but nothing else of the sort. The
expected results are constants here, so the host side checks them too (test_fs.py imports this
module).
"""

import errno
import hashlib
import json
import mmap
import os
import random
import stat
import sys

MiB = 1 << 20
BIG_SEED = 0x68756C6C  # "hull"
MANY = 10000

# What the workload leaves behind, for the host-side checks.
A_FINAL = b"hello, virtio-fs\n" + b"0123456789" * 2 + b"APPENDED"
TRUNC_SIZE = 3000
EXTEND_SIZE = 70000
OWNER = (1234, 5678)
LINK_OWNER = (4321, 8765)
XATTRS = {"user.hull": b"lab", "user.bin": bytes(range(256)) * 4, "user.empty": b""}
DIR_XATTRS = {"user.dir": b"directory attribute"}
SYMLINKS = {"sl_rel": "files/a", "sl_abs": "/nonexistent/absolute/target", "sl_dir": "sub",
            "sub/sl_up": "../files/a"}
MMAP_SIZE = 65536
MMAP_PATCHES = {0: b"MMAP-HEAD", 4096: b"page one", 65536 - 8: b"MMAPTAIL"}
UTIME_NS = (1_000_000_000_123_456_789, 1_234_567_890_987_654_321)
FALLOC_SIZE = 1 << 20


def mmap_base():
    return bytes((i * 7 + 3) & 0xFF for i in range(MMAP_SIZE))


def mmap_final():
    data = bytearray(mmap_base())
    for off, patch in MMAP_PATCHES.items():
        data[off:off + len(patch)] = patch
    return bytes(data)


def many_content(i):
    return f"file {i}\n".encode()


def big_chunks(mib):
    """The big file, 1 MiB at a time: a seeded random block, rotated per chunk, and the chunk's
    index in its first 8 bytes (cheap enough for a TCG guest, distinct in every MiB)."""
    block = random.Random(BIG_SEED).randbytes(MiB)
    for i in range(mib):
        k = (i * 40961) % MiB
        yield i.to_bytes(8, "little") + (block[k:] + block[:k])[8:]


def big_sum(mib):
    h = hashlib.sha256()
    for chunk in big_chunks(mib):
        h.update(chunk)
    return h.hexdigest()


# --- the workload -----------------------------------------------------------------------------

class Checks:
    def __init__(self):
        self.failed = 0

    def __call__(self, name, ok, why=""):
        if ok:
            print(f"HULL-KV check.{name}=ok", flush=True)
        else:
            self.failed += 1
            print(f"HULL-KV check.{name}=FAIL: {why}", flush=True)

    def errno_of(self, name, want, fn, *args):
        """fn(*args) must fail with errno want."""
        try:
            fn(*args)
        except OSError as e:
            self(name, e.errno == want, f"{errno.errorcode.get(e.errno, e.errno)}, "
                 f"want {errno.errorcode[want]}")
            return
        self(name, False, f"succeeded, want {errno.errorcode[want]}")


def write_file(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def renameat2(old, new, flags):
    """renameat2(2) through ctypes (os.rename has no flags): 0 or raises OSError."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD = -100
    if libc.renameat2(AT_FDCWD, old.encode(), AT_FDCWD, new.encode(), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), old)


RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2


def workload(tree, big_mib):
    ck = Checks()
    os.makedirs(tree, exist_ok=True)
    os.chdir(tree)
    for d in ("files", "sub", "sub/deep/er", "ren", "many", "gone"):
        os.makedirs(d, exist_ok=True)

    # create / read / write / append / truncate
    write_file("files/a", b"hello, virtio-fs\n" + b"x" * 20)
    fd = os.open("files/a", os.O_RDWR)
    os.pwrite(fd, b"0123456789" * 2, 17)
    os.close(fd)
    fd = os.open("files/a", os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"APPENDED")
    os.close(fd)
    ck("rw_append", read_file("files/a") == A_FINAL, repr(read_file("files/a")[:80]))
    write_file("files/trunc", bytes(range(256)) * 40)
    os.truncate("files/trunc", TRUNC_SIZE)
    fd = os.open("files/extend", os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"head")
    os.ftruncate(fd, EXTEND_SIZE)
    os.close(fd)
    t, e = read_file("files/trunc"), read_file("files/extend")
    ck("truncate", t == (bytes(range(256)) * 40)[:TRUNC_SIZE] and
       e == b"head" + b"\0" * (EXTEND_SIZE - 4), f"sizes {len(t)} {len(e)}")
    write_file("files/empty", b"")
    ck("create_excl", True)
    ck.errno_of("create_excl_exists", errno.EEXIST, os.open, "files/a",
                os.O_WRONLY | os.O_CREAT | os.O_EXCL)

    # rename: to a new name, over an existing file, across directories, a directory,
    # renameat2 NOREPLACE and EXCHANGE
    write_file("ren/src", b"source\n")
    os.rename("ren/src", "ren/dst")
    write_file("ren/over_src", b"the new content\n")
    write_file("ren/over_dst", b"old content that must vanish\n")
    os.rename("ren/over_src", "ren/over_dst")
    ck("rename_over", read_file("ren/over_dst") == b"the new content\n" and
       not os.path.exists("ren/over_src"), repr(read_file("ren/over_dst")))
    write_file("files/moving", b"moved across directories\n")
    os.rename("files/moving", "sub/deep/moved")
    os.makedirs("ren/dir_old/inner")
    write_file("ren/dir_old/inner/f", b"in a renamed directory\n")
    os.rename("ren/dir_old", "ren/dir_new")
    ck("rename_dir", read_file("ren/dir_new/inner/f") == b"in a renamed directory\n")
    write_file("ren/x", b"x side\n")
    write_file("ren/y", b"y side\n")
    ck.errno_of("rename_noreplace", errno.EEXIST, renameat2, "ren/x", "ren/y", RENAME_NOREPLACE)
    try:
        renameat2("ren/x", "ren/y", RENAME_EXCHANGE)
        ck("rename_exchange", read_file("ren/x") == b"y side\n" and
           read_file("ren/y") == b"x side\n", repr((read_file("ren/x"), read_file("ren/y"))))
    except OSError as err:
        ck("rename_exchange", False, str(err))

    # unlink while open: the open descriptor still reads (and writes) the file
    write_file("files/unlinked", b"still readable after unlink\n")
    fd = os.open("files/unlinked", os.O_RDWR)
    os.unlink("files/unlinked")
    gone = not os.path.exists("files/unlinked")
    os.pwrite(fd, b"STILL", 0)
    got = os.pread(fd, 100, 0)
    st = os.fstat(fd)
    os.close(fd)
    ck("unlink_open", gone and got == b"STILL readable after unlink\n" and st.st_nlink == 0,
       f"gone={gone} got={got!r} nlink={st.st_nlink}")

    # hard links
    write_file("files/hl1", b"one inode, three names\n")
    os.link("files/hl1", "files/hl2")
    os.link("files/hl1", "sub/hl3")
    os.link("files/hl1", "sub/hl4")
    os.unlink("sub/hl4")
    s1, s2, s3 = os.stat("files/hl1"), os.stat("files/hl2"), os.stat("sub/hl3")
    ck("hardlink", s1.st_ino == s2.st_ino == s3.st_ino and s1.st_nlink == 3 and
       s3.st_nlink == 3, f"ino {s1.st_ino} {s2.st_ino} {s3.st_ino} nlink {s1.st_nlink}")
    ck("hardlink_content", read_file("sub/hl3") == b"one inode, three names\n")

    # symlinks
    for name, target in SYMLINKS.items():
        os.symlink(target, name)
    ck("readlink", all(os.readlink(n) == t for n, t in SYMLINKS.items()),
       repr({n: os.readlink(n) for n in SYMLINKS}))
    ck("symlink_follow", read_file("sl_rel") == A_FINAL and read_file("sub/sl_up") == A_FINAL and
       os.path.isdir("sl_dir") and os.path.islink("sl_abs") and not os.path.exists("sl_abs"))

    # chmod / chown (another uid and gid), a symlink's own owner, setuid bits
    write_file("files/mode600", b"private\n")
    os.chmod("files/mode600", 0o600)
    write_file("files/suid", b"#!/bin/sh\n")
    os.chmod("files/suid", 0o4755)
    write_file("files/sgid", b"#!/bin/sh\n")
    os.chmod("files/sgid", 0o2750)
    os.chmod("sub/deep", 0o1777)
    write_file("files/owned", b"owned by someone else\n")
    os.chown("files/owned", *OWNER)
    os.chown("sub/deep/er", *OWNER)
    os.lchown("sl_rel", *LINK_OWNER)
    so, sl = os.stat("files/owned"), os.lstat("sl_rel")
    ck("chown", (so.st_uid, so.st_gid) == OWNER and (sl.st_uid, sl.st_gid) == LINK_OWNER,
       f"{so.st_uid}:{so.st_gid} {sl.st_uid}:{sl.st_gid}")
    ck("chmod", stat.S_IMODE(os.stat("files/suid").st_mode) == 0o4755 and
       stat.S_IMODE(os.stat("sub/deep").st_mode) == 0o1777,
       oct(os.stat("files/suid").st_mode))
    # A file owned by another user, group-writable: written by root (CAP_FSETID) it keeps
    # nothing special; the bits after the write are whatever both sides agree on (manifest).
    write_file("files/suid_written", b"x\n")
    os.chown("files/suid_written", *OWNER)
    os.chmod("files/suid_written", 0o6775)
    fd = os.open("files/suid_written", os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"appended by root\n")
    os.close(fd)

    # times
    write_file("files/utime", b"fixed times\n")
    os.utime("files/utime", ns=UTIME_NS)
    ck("utime", os.stat("files/utime").st_mtime_ns == UTIME_NS[1],
       str(os.stat("files/utime").st_mtime_ns))

    # xattrs (user.*), on a file and a directory
    write_file("files/xattr", b"has attributes\n")
    for k, v in XATTRS.items():
        os.setxattr("files/xattr", k, v)
    os.setxattr("files/xattr", "user.removed", b"gone soon")
    os.removexattr("files/xattr", "user.removed")
    for k, v in DIR_XATTRS.items():
        os.setxattr("sub", k, v)
    names = set(os.listxattr("files/xattr"))
    ck("xattr_list", {n for n in names if n.startswith("user.")} == set(XATTRS), repr(names))
    ck("xattr_get", all(os.getxattr("files/xattr", k) == v for k, v in XATTRS.items()))
    ck.errno_of("xattr_removed", errno.ENODATA, os.getxattr, "files/xattr", "user.removed")
    ck.errno_of("xattr_create_exists", errno.EEXIST, os.setxattr, "files/xattr", "user.hull",
                b"again", os.XATTR_CREATE)
    ck.errno_of("xattr_replace_missing", errno.ENODATA, os.setxattr, "files/xattr", "user.nope",
                b"x", os.XATTR_REPLACE)

    # mmap: read, and a shared writable mapping flushed with msync
    write_file("files/mmap", mmap_base())
    with open("files/mmap", "rb") as f:
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            ck("mmap_read", m[:] == mmap_base())
    with open("files/mmap", "r+b") as f:
        with mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED,
                       prot=mmap.PROT_READ | mmap.PROT_WRITE) as m:
            for off, patch in MMAP_PATCHES.items():
                m[off:off + len(patch)] = patch
            m.flush()  # msync(MS_SYNC)
    ck("mmap_write", read_file("files/mmap") == mmap_final())

    # fsync, fdatasync, a directory fsync; fallocate; copy_file_range; a FIFO; statfs
    fd = os.open("files/synced", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"synced\n")
    os.fsync(fd)
    os.fdatasync(fd)
    os.close(fd)
    dfd = os.open("files", os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(dfd)
    os.close(dfd)
    fd = os.open("files/falloc", os.O_RDWR | os.O_CREAT, 0o644)
    os.posix_fallocate(fd, 0, FALLOC_SIZE)
    os.close(fd)
    ck("fallocate", os.stat("files/falloc").st_size == FALLOC_SIZE)
    src = os.open("files/a", os.O_RDONLY)
    dst = os.open("files/copied", os.O_WRONLY | os.O_CREAT, 0o644)
    n = os.copy_file_range(src, dst, len(A_FINAL))
    os.close(src)
    os.close(dst)
    ck("copy_file_range", n == len(A_FINAL) and read_file("files/copied") == A_FINAL, str(n))
    os.mkfifo("files/fifo", 0o640)
    ck("mkfifo", stat.S_ISFIFO(os.lstat("files/fifo").st_mode))
    sv = os.statvfs(".")
    ck("statfs", sv.f_bsize > 0 and sv.f_blocks > 0 and sv.f_namemax >= 255, str(sv))

    # mkdir / rmdir, a non-empty rmdir, unlink
    os.rmdir("gone")
    ck("rmdir", not os.path.exists("gone"))
    ck.errno_of("rmdir_nonempty", errno.ENOTEMPTY, os.rmdir, "sub")
    write_file("files/unlinked2", b"x")
    os.unlink("files/unlinked2")
    ck.errno_of("unlink_missing", errno.ENOENT, os.unlink, "files/unlinked2")

    # many files in one directory
    for i in range(MANY):
        fd = os.open(f"many/f{i:05d}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, many_content(i))
        os.close(fd)
    names = os.listdir("many")
    ck("many_listdir", len(names) == MANY and len(set(names)) == MANY, str(len(names)))

    # the big file, written 1 MiB at a time, fsynced
    fd = os.open("big", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for chunk in big_chunks(big_mib):
        os.write(fd, chunk)
    os.fsync(fd)
    os.close(fd)
    ck("big_size", os.stat("big").st_size == big_mib * MiB, str(os.stat("big").st_size))
    return ck.failed


# --- the manifest -----------------------------------------------------------------------------

def file_sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(MiB)
            if not chunk:
                return h.hexdigest()
            h.update(chunk)


def manifest(tree):
    """{relative path: facts} for everything under tree (tree itself as ".")."""
    out, inodes = {}, {}
    paths = ["."]
    for top, dirs, files in os.walk(tree):
        dirs.sort()
        rel = os.path.relpath(top, tree)
        for name in sorted(dirs + files):
            paths.append(os.path.normpath(os.path.join(rel, name)))
    for rel in paths:
        path = os.path.join(tree, rel)
        st = os.lstat(path)
        fmt = stat.S_IFMT(st.st_mode)
        e = {"type": {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink",
                      stat.S_IFIFO: "fifo"}.get(fmt, oct(fmt)),
             "mode": oct(stat.S_IMODE(st.st_mode)), "uid": st.st_uid, "gid": st.st_gid,
             "nlink": st.st_nlink}
        if fmt in (stat.S_IFREG, stat.S_IFLNK):
            e["size"] = st.st_size
        if fmt == stat.S_IFREG:
            e["sha256"] = file_sha(path)
            e["mtime_ns"] = st.st_mtime_ns
            if st.st_nlink > 1:
                inodes.setdefault(st.st_ino, []).append(rel)
        if fmt == stat.S_IFLNK:
            e["target"] = os.readlink(path)
        if fmt in (stat.S_IFREG, stat.S_IFDIR):
            e["xattrs"] = {k: os.getxattr(path, k).hex() for k in sorted(os.listxattr(path))
                           if k.startswith("user.")}
        out[rel] = e
    for group in inodes.values():
        for rel in group:
            out[rel]["links"] = sorted(group)
    return out


def main(argv):
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["run", "manifest", "bigsum"])
    ap.add_argument("tree", nargs="?")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--big-mib", type=int, default=1024)
    a = ap.parse_args(argv)
    if a.what == "run":
        failed = workload(a.tree, a.big_mib)
        print(f"HULL-KV workload_failed={failed}", flush=True)
        return 1 if failed else 0
    if a.what == "manifest":
        m = manifest(a.tree)
        blob = json.dumps(m, indent=1, sort_keys=True).encode()
        with open(a.out, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        print(f"HULL-KV manifest_entries={len(m)}", flush=True)
        print(f"HULL-KV manifest_sha256={hashlib.sha256(blob).hexdigest()}", flush=True)
        return 0
    print(big_sum(a.big_mib))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
