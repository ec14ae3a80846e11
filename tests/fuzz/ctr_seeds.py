#!/usr/bin/env python3
"""ctr_seeds: writes the seeds of tests/fuzz/corpus/spec and corpus/proto (container/PROTOCOL.md).

Run from anywhere: python3 tests/fuzz/ctr_seeds.py. An encoder of its own, written from
PROTOCOL.md rather than from proto.c, so the seeds also check that the two agree: every seed
named ok_* must decode (fuzz_spec and fuzz_proto then round-trip it). The spec seeds are a
minimal spec, one with every field, one with unknown tags at every level and one with
CTR_LIST_MAX masked paths; the proto seeds are one frame of each message type, a stream of all
of them, and frames with a bad version, an oversized length and a short payload.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC = 1, 2, 4, 8, 4096, 16384
MS_PRIVATE, MS_SHARED = 1 << 18, 1 << 20
RLIMIT_NOFILE = 7


def fld(tag, payload):
    return struct.pack("<HI", tag, len(payload)) + payload


def u32(tag, v):
    return fld(tag, struct.pack("<I", v & 0xFFFFFFFF))


def u64(tag, v):
    return fld(tag, struct.pack("<Q", v))


def boolean(tag, v):
    return fld(tag, bytes([1 if v else 0]))


def s(tag, text):
    return fld(tag, text.encode())


def lst(tag, *fields):
    return fld(tag, b"".join(fields))


def process(full):
    p = [s(1, "/bin/sh"), s(1, "-c"), s(1, "echo hi; exit 42"), s(3, "/"), u32(4, 0), u32(5, 0)]
    if full:
        p += [s(1, ""), s(2, "PATH=/usr/bin:/bin"), s(2, "TERM=xterm"), u32(6, 10), u32(6, 20),
              u32(7, 0o022), boolean(8, True), u64(9, (1 << 41) - 1), u64(10, 1 << 21),
              u64(11, 1 << 21), u64(13, 1 << 10), boolean(14, True),
              lst(15, u32(1, RLIMIT_NOFILE), u64(2, 1024), u64(3, 4096)),
              lst(15, u32(1, 4), u64(2, 0), u64(3, (1 << 64) - 1)), u32(16, -500)]
    return b"".join(p)


def resources():
    return b"".join([u64(1, 50000), u64(2, 100000), u64(3, 100), s(4, "0-1"), s(5, "0"),
                     u64(6, 256 << 20), u64(7, 0), u64(8, 64 << 20), u64(9, 512)])


def spec_min():
    return u32(1, 1) + lst(3, s(1, "rootfs")) + lst(4, process(False))


def spec_full():
    return b"".join([
        u32(1, 1), s(2, "box"), lst(3, s(1, "rootfs"), boolean(2, True)), lst(4, process(True)),
        lst(5, s(1, "/proc"), s(2, "proc"), s(3, "proc"), u64(4, MS_NOSUID | MS_NODEV | MS_NOEXEC)),
        lst(5, s(1, "/data"), s(2, "bind"), s(3, "m0"), u64(4, MS_BIND | MS_REC | MS_RDONLY),
            u32(6, MS_PRIVATE | MS_REC)),
        lst(5, s(1, "/etc/hosts"), s(2, "bind"), s(3, "m1"), u64(4, MS_BIND)),
        lst(5, s(1, "/tmp"), s(2, "tmpfs"), s(3, "tmpfs"), s(5, "size=64m"), u32(6, MS_SHARED)),
        s(6, "net.ipv4.ip_forward=1"), s(7, "/proc/kcore"), s(7, "/sys/firmware"),
        s(8, "/proc/sys"),
        lst(9, s(1, "/dev/fuse"), u32(2, ord("c")), u32(3, 10), u32(4, 229), u32(5, 0o666)),
        lst(9, s(1, "/dev/sdb"), u32(2, ord("b")), u32(3, 8), u32(4, 16), u32(5, 0o660),
            u32(6, 0), u32(7, 6), s(8, "/dev/vda")),
        lst(9, s(1, "/dev/pipe"), u32(2, ord("p"))),
        boolean(10, True), s(11, "mounts"), lst(12, resources()), s(13, "virtio_mmio.ko"),
        s(13, "fuse.ko"), s(14, "/hull"), fld(15, bytes(16)),
        lst(16, s(1, "eth0"), s(2, "02:00:00:00:00:01"), s(3, "10.0.0.2/24"), s(4, "10.0.0.1"),
            u32(5, 1500)),
        s(17, "example.org"),
    ])


def spec_unknown():
    return b"".join([
        s(99, "future"), u32(1, 1), lst(3, u32(50, 1), s(1, "rootfs")),
        lst(4, fld(77, b"\xff" * 3), process(False)), lst(1000, lst(1, lst(1, lst(1)))),
        lst(12, s(40, "x")),
    ])


def spec_many():
    return spec_min() + s(7, "/m") * 4096


def frame(mtype, payload, version=1, length=None):
    return struct.pack("<IHH", len(payload) if length is None else length, mtype,
                       version) + payload


def frames():
    return {
        "hello": frame(1, u32(2, 2) + u64(3, 512 << 20) + s(4, "6.1.0-28-cloud-amd64") + u32(5, 1)),
        "start": frame(2, u32(1, 1)),
        "start_netif": frame(2, u32(1, 1) + lst(2, s(1, "eth0"), s(3, "10.78.0.2/24"),
                                                 s(3, "10.78.1.2/16"), s(4, "10.78.0.1"),
                                                 u32(5, 1500))),
        "exec": frame(3, u32(1, 2) + u32(2, 1) + lst(3, process(True))),
        "signal": frame(4, u32(1, 3) + u32(2, 0) + u32(3, 15) + boolean(4, True)),
        "exited": frame(5, u32(2, 0) + u32(3, 1) + u32(4, 9)),
        "stdin_close": frame(6, u32(1, 4) + u32(2, 0)),
        "winsize": frame(7, u32(1, 5) + u32(2, 0) + u32(3, 24) + u32(4, 80)),
        "update": frame(8, u32(1, 6) + lst(2, resources())),
        "ok": frame(9, u32(1, 1) + u32(2, 123)),
        "error": frame(10, u32(1, 2) + u32(2, 2) + s(3, "exec: no such file")),
        "stream": frame(11, u32(2, 0) + u32(3, 1)),
    }


def write(sub, name, data):
    d = os.path.join(HERE, "corpus", sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    write("spec", "ok_min", spec_min())
    write("spec", "ok_full", spec_full())
    write("spec", "ok_unknown_tags", spec_unknown())
    write("spec", "ok_many_masked", spec_many())
    write("spec", "bad_version", u32(1, 2) + spec_min()[10:])
    fr = frames()
    for name, data in fr.items():
        write("proto", "ok_" + name, data)
    write("proto", "ok_stream_of_all", b"".join(fr.values()))
    write("proto", "bad_version", frame(2, u32(1, 1), version=2) + fr["start"])
    write("proto", "bad_oversized", frame(2, u32(1, 1), length=(1 << 20) + 1))
    write("proto", "bad_short", frame(3, u32(1, 2) + u32(2, 1) + lst(3, process(True)))[:60])
    write("proto", "bad_missing_id", frame(3, u32(1, 2) + lst(3, process(False))) + fr["ok"])


if __name__ == "__main__":
    main()
