#!/usr/bin/env python3
"""balloon_seeds: writes the seeds of tests/fuzz/corpus/balloon (see fuzz_balloon.c's format).

Run from anywhere: python3 tests/fuzz/balloon_seeds.py. Each seed is one guest doing one thing
a driver does, well or with hostile values: inflate and deflate lists (runs, the MMIO hole, the
highest PFNs, exactly and one past 256 PFNs, aliased buffers), free page reports (pages and
blocks, misaligned and partial lengths, ranges outside RAM, one block many times over),
statistics (known and unknown tags, too many, the refresh), targets and config writes, resets.
"""

import os
import struct

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "balloon")

# Header feature bits (byte 1) and ops.
EVENT_IDX, INDIRECT, STATS, OOM, REPORT, HINT = 1, 2, 4, 8, 16, 32
ALL = STATS | OOM | REPORT
RAM, KICK, AVAIL, CHAIN, PFNS, STATS_OP, TARGET, QUERY, CONFIG = range(9)
# Buffer selectors (where) and flags.
BUFS, BUFS_PG, BIG, BIG_MID, BIG_LAST, RINGS, HOLE, TOP = range(8)
PAGES, WRITE = 0x40, 0x80
# PFN selectors: base, plus up to 31 pages (sel >> 3).
P_BIG, P_RINGS, P_HOLE, P_HIGH, P_ZERO, P_END, P_LAST, P_BUFS = range(8)


def header(qshift=6, feats=ALL, queues=4):
    return bytes([qshift, feats, queues, 0])


def chain(q, bufs):
    """bufs: (selector, flags, length) each."""
    out = bytes([CHAIN, q, len(bufs) - 1])
    for sel, flags, length in bufs:
        out += bytes([sel | flags]) + struct.pack("<H", length)
    return out


def pfns(slot, sels):
    return bytes([PFNS, slot, len(sels)]) + bytes(sels)


def pfn(base, plus=0):
    return base | plus << 3


def kick(q):
    return bytes([KICK, q])


def stats(slot, entries):
    out = bytes([STATS_OP, slot, len(entries)])
    for tag, value in entries:
        out += bytes([tag, value])
    return out


def target(pages):
    return bytes([TARGET]) + struct.pack("<H", pages)


def config(off, width, value):
    return bytes([CONFIG, off, width]) + struct.pack("<I", value)


SEEDS = {
    # Runs and single pages of the big region, a page twice, then deflate the same list.
    "inflate_deflate": header() + pfns(0, [pfn(P_BIG, i) for i in range(8)] +
                                       [pfn(P_BIG, 20), pfn(P_BIG, 20), pfn(P_BIG, 3)]) +
    chain(0, [(BUFS, 0, 44)]) + kick(0) + chain(1, [(BUFS, 0, 44)]) + kick(1),
    # Pages that are not RAM among good ones: the hole, the highest PFNs, past the end, a run
    # crossing the region's end; a page of the first region is fine.
    "inflate_hostile": header() + pfns(0, [pfn(P_HOLE), pfn(P_HIGH, 31), pfn(P_END),
                                           pfn(P_LAST), pfn(P_END, 1), pfn(P_ZERO),
                                           pfn(P_BUFS, 3), pfn(P_BIG, 5)]) +
    chain(0, [(BUFS, 0, 32)]) + kick(0),
    # Exactly 256 PFNs in 4 aliased buffers, then 257 (refused), then 8 buffers of a page each.
    "inflate_max": header() + pfns(0, [pfn(P_BIG, i % 32) for i in range(64)]) +
    chain(0, [(BUFS, 0, 256)] * 4) + chain(0, [(BUFS, 0, 256)] * 4 + [(BUFS, 0, 4)]) +
    chain(0, [(BUFS, PAGES, 1)] * 8) + kick(0),
    # Not a whole number of PFNs, a writable list, an empty buffer.
    "inflate_odd": header() + pfns(0, [pfn(P_BIG, 1)] * 4) + chain(0, [(BUFS, 0, 15)]) +
    chain(0, [(BUFS, WRITE, 16)]) + chain(0, [(BUFS, 0, 0)]) + kick(0),
    # 40 one-PFN chains and one notification: the budget, the requeue.
    "inflate_budget": header(qshift=7) + pfns(0, [pfn(P_BIG, 2)]) +
    b"".join(chain(0, [(BUFS, 0, 4)]) for _ in range(40)) + kick(0),
    # Reports: a block, a page, the last page; a partial page and a part of one (refused) with a
    # readable buffer; then a range in the hole (the ring parser fails the device).
    "report": header() + chain(3, [(BIG, WRITE | PAGES, 16), (BIG_MID, WRITE | PAGES, 1),
                                   (BIG_LAST, WRITE | PAGES, 1)]) +
    chain(3, [(BUFS, 0, 16), (BIG, WRITE, 4097), (BIG_MID, WRITE, 100)]) + kick(3) +
    chain(3, [(HOLE, WRITE | PAGES, 1), (TOP, WRITE | PAGES, 1)]) + kick(3),
    # One block reported 8 times over in one chain, and the rings' RAM reported.
    "report_aliased": header() + chain(3, [(BIG, WRITE | PAGES, 32)] * 8) +
    chain(3, [(RINGS, WRITE | PAGES, 2)]) + kick(3),
    # Without the statistics queue reporting is queue 2; queue 3 is no queue.
    "report_no_stats": header(feats=REPORT, queues=3) +
    chain(2, [(BIG, WRITE | PAGES, 8)]) + kick(2) + chain(3, [(BIG, WRITE | PAGES, 8)]) + kick(3),
    # Statistics: known and unknown tags, held, refreshed by a query, a tick 40 s later.
    "stats": header() + stats(0, [(t, t + 1) for t in range(10)] + [(99, 1), (15, 2)]) +
    chain(2, [(BUFS, 0, 120)]) + kick(2) + bytes([QUERY, 0]) +
    stats(0, [(4, 9)]) + chain(2, [(BUFS, 0, 10)]) + kick(2) + bytes([QUERY, 1]) +
    bytes([QUERY, 40]),
    # Too many entries (aliased), a length that is not whole entries, two buffers at once.
    "stats_hostile": header() + stats(0, [(4, 1)] * 33) +
    chain(2, [(BUFS, 0, 330)]) + chain(2, [(BUFS, 0, 320)] * 8) + chain(2, [(BUFS, 0, 11)]) +
    chain(2, [(BUFS, 0, 10)]) + chain(2, [(BUFS, 0, 10)]) + kick(2) + bytes([QUERY, 2]),
    # Targets (an unaligned one refused) and config writes of every width, then a reset.
    "target_config": header() + target(256) + bytes([TARGET, 0x01, 0x80]) + target(0xffff) +
    config(4, 2, 0x100) + config(6, 1, 0x12) + config(0, 2, 77) + config(3, 1, 5) +
    config(14, 2, 9) + bytes([CONFIG, 0x80, 0, 0, 0, 0, 0]) + target(0),
    # A driver that asks for hinting is refused (no FEATURES_OK); kicks on its rings do nothing.
    "hinting_refused": header(feats=ALL | HINT) + pfns(0, [pfn(P_BIG)]) +
    chain(0, [(BUFS, 0, 4)]) + kick(0),
    # Event index and indirect descriptors on, queues of 2 used round and round, then a driver
    # that claims 200 more chains than the ring holds.
    "tiny_rings": header(qshift=1, feats=ALL | EVENT_IDX | INDIRECT) + pfns(0, [pfn(P_BIG)]) +
    (chain(0, [(BUFS, 0, 4)]) * 2 + kick(0)) * 3 + bytes([AVAIL, 0, 200]) + kick(0),
}


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT_DIR, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
