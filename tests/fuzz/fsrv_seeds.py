#!/usr/bin/env python3
"""fsrv_seeds: writes the hostile-length and entries seeds of tests/fuzz/corpus/fsrv (see fuzz_fsrv.c's format).

Run from the repository root: python3 tests/fuzz/fsrv_seeds.py. Each seed is a
sequence of records against a fresh server (INIT done): the first new node is
0x100000002, the first handle 0x100000000. The seeds stress what a guest can do
with lengths: requests made huge by aliasing descriptors to one buffer, a
BATCH_FORGET with count UINT32_MAX, hiprio requests with tails, and nonzero
total_extlen; and the share of entries' synthetic root and entries. fuzz_fsrv
must get through each well within -timeout=10.
"""
import os
import struct

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fsrv")

LOOKUP, FORGET, GETATTR, SETATTR, MKDIR, UNLINK = 1, 2, 3, 4, 9, 10
RENAME, LINK, OPEN, READ, WRITE, STATFS, RELEASE = 12, 13, 14, 15, 16, 17, 18
SETXATTR, OPENDIR, READDIR, RELEASEDIR, FSYNCDIR = 21, 27, 28, 29, 30
CREATE, INTERRUPT, BATCH_FORGET, FALLOCATE, READDIRPLUS = 35, 36, 42, 43, 44
RENAME2, LSEEK, COPY_FILE_RANGE = 45, 46, 47
ROOT, NODE1, FH0 = 1, 0x100000002, 0x100000000
BIG_OUT = 0xFFFF  # FSRV_MAX_WRITE + 4096 in fuzz_fsrv.c
ALIAS = {1: 0, 16: 1, 256: 2, 4096: 3}  # copies -> bits 14-15 of the length field
O_RDONLY, O_RDWR, O_TRUNC, S_IFREG, SEEK_SET = 0, 2, 0o1000, 0o100000, 0
FATTR_MODE, FATTR_SIZE, FATTR_FH = 1, 8, 64
RENAME_EXCHANGE = 2


class Seed:
    def __init__(self):
        self.data = b""
        self.unique = 1

    def req(self, opcode, nodeid, body, out=4096, copies=1, extlen=0, cuts=(), ocuts=()):
        """One record; the header's len is the length of all copies together."""
        self.unique += 1
        length = (40 + len(body)) * copies
        hdr = struct.pack("<IIQQIIIHH", length & 0xFFFFFFFF, opcode, self.unique, nodeid,
                          0, 0, 0, extlen, 0)
        req = hdr + body
        assert len(req) < 1 << 14 and len(cuts) < 16 and len(ocuts) < 8
        self.data += bytes([len(cuts) | len(ocuts) << 4])
        self.data += struct.pack("<HH", out, len(req) | ALIAS[copies] << 14)
        self.data += bytes(cuts) + bytes(ocuts) + req

    def write(self, name):
        with open(os.path.join(OUT_DIR, name), "wb") as f:
            f.write(self.data)


def name(s):
    return s.encode() + b"\0"


def forgets(node, n):
    return b"".join(struct.pack("<QQ", node, 1) for _ in range(n))


def batch(count, entries):
    return struct.pack("<II", count, 0) + entries


def create(seed, fname):
    seed.req(CREATE, ROOT, struct.pack("<IIII", O_RDWR, S_IFREG | 0o644, 0, 0) + name(fname))


def write_in(fh, off, size):
    return struct.pack("<QQIIQII", fh, off, size, 0, 0, 0, 0)


def lseek_in(fh, off):
    return struct.pack("<QQII", fh, off, SEEK_SET, 0)


def read_in(fh, off, size):
    return struct.pack("<QQIIQII", fh, off, size, 0, 0, 0, 0)


def open_in(flags):
    return struct.pack("<II", flags, 0)


def setattr_in(valid, size=0, mode=0, fh=0):
    # fuse_setattr_in: valid, padding, fh, size, lock_owner, atime, mtime, ctime,
    # atimensec, mtimensec, ctimensec, mode, unused4, uid, gid, unused5
    return struct.pack("<IIQQQQQQIIIIIIII", valid, 0, fh, size, 0, 0, 0, 0, 0, 0, 0, mode,
                       0, 0, 0, 0)


def entries_seeds():
    """Seeds for the share of entries fuzz_fsrv serves every input with too: the synthetic
    root (LOOKUP, GETATTR, STATFS, READDIR, READDIRPLUS, changes), file entries (I/O,
    truncation, a lookup under one), read-only entries, and RENAME/LINK across entries.
    In fuzz_fsrv's share of entries, LOOKUPs of f, d, ro, rox, all in the root give nodes
    NODE1.. in that order; in the plain share ro, rox and all do not exist."""
    f, d, ro, rox, al = NODE1, NODE1 + 1, NODE1 + 2, NODE1 + 3, NODE1 + 4

    s = Seed()
    for n in ("f", "d", "ro", "rox", "all"):
        s.req(LOOKUP, ROOT, name(n))
    s.req(GETATTR, ROOT, bytes(16))
    s.req(STATFS, ROOT, b"")
    s.req(OPENDIR, ROOT, open_in(O_RDONLY))
    s.req(READDIR, ROOT, read_in(FH0, 0, 4096))
    s.req(READDIR, ROOT, read_in(FH0, 3, 48))
    s.req(READDIRPLUS, ROOT, read_in(FH0, 0, 4096), out=BIG_OUT)
    s.req(READDIRPLUS, ROOT, read_in(FH0, 2, 200))
    s.req(FSYNCDIR, ROOT, struct.pack("<QII", FH0, 0, 0))
    s.req(RELEASEDIR, ROOT, struct.pack("<QIIQ", FH0, 0, 0, 0))
    s.req(LOOKUP, rox, name("x"))
    s.req(LOOKUP, ro, name("up"))
    s.req(LOOKUP, al, name("out"))
    s.write("entries_root.bin")

    # Changes: to the root, under read-only entries, with a read-only handle, across entries.
    s = Seed()
    for n in ("f", "d", "ro", "rox", "all"):
        s.req(LOOKUP, ROOT, name(n))
    create(s, "new")
    s.req(MKDIR, ROOT, struct.pack("<II", 0o755, 0) + name("m"))
    s.req(UNLINK, ROOT, name("f"))
    s.req(SETATTR, ROOT, setattr_in(FATTR_MODE, mode=0o777))
    s.req(SETXATTR, ROOT, struct.pack("<II", 1, 0) + name("user.a") + b"v")
    s.req(RENAME, ROOT, struct.pack("<Q", d) + name("f") + name("g"))
    s.req(RENAME, d, struct.pack("<Q", ROOT) + name("inner") + name("inner"))
    s.req(RENAME, d, struct.pack("<Q", al) + name("inner") + name("x"))
    s.req(RENAME2, al, struct.pack("<QII", d, RENAME_EXCHANGE, 0) + name("f") + name("inner"))
    s.req(LINK, d, struct.pack("<Q", f) + name("flink"))
    s.req(LINK, ro, struct.pack("<Q", rox) + name("xlink"))
    s.req(OPEN, rox, open_in(O_RDWR))
    s.req(OPEN, rox, open_in(O_RDONLY | O_TRUNC))
    s.req(OPEN, rox, open_in(O_RDONLY))
    s.req(WRITE, rox, write_in(FH0, 0, 4) + b"evil")
    s.req(FALLOCATE, rox, struct.pack("<QQQII", FH0, 0, 1 << 20, 0, 0))
    s.req(SETATTR, rox, setattr_in(FATTR_SIZE | FATTR_FH, fh=FH0))
    s.req(OPEN, f, open_in(O_RDWR))
    s.req(COPY_FILE_RANGE, f, struct.pack("<QQQQQQQ", FH0 + 1, 0, f, FH0, 0, 4, 0))
    s.req(COPY_FILE_RANGE, f, struct.pack("<QQQQQQQ", FH0, 0, f, FH0 + 1, 6, 10, 0))
    s.req(WRITE, f, write_in(FH0 + 1, 0, 5) + b"HELLO")
    s.req(SETATTR, f, setattr_in(FATTR_SIZE, size=3))
    s.req(LOOKUP, f, name("x"))
    s.req(CREATE, f, struct.pack("<IIII", O_RDWR, S_IFREG | 0o644, 0, 0) + name("x"))
    s.req(RELEASE, rox, struct.pack("<QIIQ", FH0, 0, 0, 0))
    s.req(RELEASE, f, struct.pack("<QIIQ", FH0 + 1, 0, 0, 0))
    s.write("entries_changes.bin")


def main():
    os.makedirs(OUT_DIR, exist_ok=True)

    # BATCH_FORGET, count UINT32_MAX, one page aliased 4096 times (16 MiB), 256 times
    # (1 MiB), once (count disagrees), then a page whose count is right.
    s = Seed()
    s.req(LOOKUP, ROOT, name("f"))
    s.req(LOOKUP, ROOT, name("f"))
    page = batch(0xFFFFFFFF, forgets(NODE1, 253))
    s.req(BATCH_FORGET, 0, page, out=0, copies=4096, cuts=(48, 100, 200))
    s.req(BATCH_FORGET, 0, page, out=0, copies=256)
    s.req(BATCH_FORGET, 0, page, out=0)
    s.req(BATCH_FORGET, 0, batch(1, forgets(NODE1, 1)), out=0, copies=16)
    s.req(GETATTR, NODE1, bytes(16))
    s.req(BATCH_FORGET, 0, batch(253, forgets(NODE1, 253)), out=0)
    s.req(GETATTR, NODE1, bytes(16))
    s.write("batch_forget_alias.bin")

    # WRITE whose data is one buffer aliased: 1 MiB in all (served), 16 MiB (refused).
    s = Seed()
    create(s, "w")
    chunk = 4096 - 40
    s.req(WRITE, NODE1, write_in(FH0, 0, 256 * 4096 - 80) + bytes(range(256)) * ((chunk - 40) // 256)
          + bytes((chunk - 40) % 256), copies=256, cuts=(80, 200))
    s.req(WRITE, NODE1, write_in(FH0, 0, 4096 * 4096 - 80) + bytes(chunk - 40), copies=4096)
    s.req(READ, NODE1, struct.pack("<QQIIQII", FH0, 0, 1 << 20, 0, 0, 0, 0), out=BIG_OUT,
          ocuts=(1, 17, 100, 200))
    s.req(RELEASE, NODE1, struct.pack("<QIIQ", FH0, 0, 0, 0))
    s.write("write_alias.bin")

    # total_extlen: a body hidden as extensions, extensions after a body, a huge claim.
    s = Seed()
    create(s, "x")
    s.req(WRITE, NODE1, write_in(FH0, 0, 10) + b"0123456789")
    s.req(LSEEK, NODE1, lseek_in(FH0, 7))
    s.req(LSEEK, NODE1, lseek_in(0, 0), extlen=3)
    s.req(LSEEK, NODE1, lseek_in(0, 0))
    s.req(GETATTR, ROOT, bytes(16) + bytes(8), extlen=1)
    s.req(CREATE, ROOT, struct.pack("<IIII", O_RDWR, S_IFREG | 0o644, 0, 0) + name("y")
          + bytes(6), extlen=1)
    s.req(FORGET, NODE1, struct.pack("<Q", 1), out=0, extlen=1)
    s.req(LOOKUP, ROOT, name("f"), extlen=0xFFFF)
    s.req(SETXATTR, NODE1, struct.pack("<II", 1, 0) + name("user.a") + b"v", extlen=1)
    s.req(GETATTR, NODE1, bytes(16))
    s.req(RELEASE, NODE1, struct.pack("<QIIQ", FH0, 0, 0, 0))
    s.write("extlen.bin")

    # The hiprio opcodes with tails or counts that disagree with their length.
    s = Seed()
    s.req(LOOKUP, ROOT, name("f"))
    s.req(FORGET, NODE1, struct.pack("<Q", 1) + b"junkjunk", out=0)
    s.req(INTERRUPT, 0, struct.pack("<Q", 7) + b"junkjunk", out=0)
    s.req(BATCH_FORGET, 0, batch(2, forgets(NODE1, 1)), out=0)
    s.req(BATCH_FORGET, 0, batch(0, forgets(NODE1, 1)), out=0)
    s.req(BATCH_FORGET, 0, batch(254, forgets(NODE1, 254)), out=0)
    s.req(FORGET, NODE1, struct.pack("<Q", 1), out=0, copies=16)
    s.req(GETATTR, NODE1, bytes(16))
    s.req(INTERRUPT, 0, struct.pack("<Q", 7), out=0)
    s.req(FORGET, NODE1, struct.pack("<Q", 1), out=0)
    s.write("hiprio_tails.bin")

    # Any opcode made huge by aliasing: 64 MiB, 4 MiB, and just past FSRV_IN_MAX.
    s = Seed()
    s.req(GETATTR, ROOT, bytes(16383 - 40), copies=4096)
    s.req(LOOKUP, ROOT, b"f" * (16383 - 40), copies=256)
    s.req(9999, ROOT, bytes(4096 - 40), copies=4096)
    s.req(GETATTR, ROOT, bytes(4097 - 40), copies=256)
    s.req(GETATTR, ROOT, bytes(16))
    s.write("huge_requests.bin")

    entries_seeds()


if __name__ == "__main__":
    main()
