#!/usr/bin/env python3
"""fsrv_seeds: writes the hostile-length seeds of tests/fuzz/corpus/fsrv (see fuzz_fsrv.c's format).

Run from the repository root: python3 tests/fuzz/fsrv_seeds.py. Each seed is a
sequence of records against a fresh server (INIT done): the first new node is
0x100000002, the first handle 0x100000000. The seeds stress what a guest can do
with lengths: requests made huge by aliasing descriptors to one buffer, a
BATCH_FORGET with count UINT32_MAX, hiprio requests with tails, and nonzero
total_extlen. fuzz_fsrv must get through each well within -timeout=10.
"""
import os
import struct

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fsrv")

LOOKUP, FORGET, GETATTR, READ, WRITE, RELEASE = 1, 2, 3, 15, 16, 18
SETXATTR, CREATE, INTERRUPT, BATCH_FORGET, LSEEK = 21, 35, 36, 42, 46
ROOT, NODE1, FH0 = 1, 0x100000002, 0x100000000
BIG_OUT = 0xFFFF  # FSRV_MAX_WRITE + 4096 in fuzz_fsrv.c
ALIAS = {1: 0, 16: 1, 256: 2, 4096: 3}  # copies -> bits 14-15 of the length field
O_RDWR, S_IFREG, SEEK_SET = 2, 0o100000, 0


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


if __name__ == "__main__":
    main()
