"""Bad input: each is refused before the guest runs, with exit 2 and one line "hull: ..."."""

import json
import os
import subprocess

import pytest

pytestmark = pytest.mark.host


def _files(d, cloud, vmlinux):
    """Create the bad inputs in d; return name -> path."""
    (d / "dir").mkdir()
    (d / "empty").write_bytes(b"")
    (d / "garbage").write_bytes(os.urandom(64 * 1024))
    (d / "trunc-bzimage").write_bytes(cloud.read_bytes()[:4096])
    (d / "trunc-vmlinux").write_bytes(vmlinux.read_bytes()[:1024])
    with open(d / "big-initrd", "wb") as f:
        f.truncate(100 << 20)  # sparse: 100 MiB that cost nothing
    (d / "broken.json").write_text('{"cpus": 2,')
    (d / "wrong-type.json").write_text(json.dumps({"cpus": "two"}))
    (d / "wrong-type-bool.json").write_text(json.dumps({"boot_timer": "yes"}))
    (d / "unknown-field.json").write_text(json.dumps({"cpus": 1, "frobnicate": True}))
    (d / "not-object.json").write_text("[1, 2]")
    (d / "tiny.img").write_bytes(b"\0" * 100)
    (d / "disks-not-array.json").write_text(json.dumps({"disks": {"path": "/x"}}))
    (d / "disk.img").write_bytes(b"\0" * 4096)
    (d / "shares-not-array.json").write_text(json.dumps({"shares": {"tag": "a", "path": "/x"}}))
    (d / "shares-dup-tag.json").write_text(json.dumps(
        {"shares": [{"tag": "a", "path": str(d / "dir")}, {"tag": "a", "path": str(d / "dir")}]}))
    (d / "shares-no-tag.json").write_text(json.dumps({"shares": [{"path": str(d / "dir")}]}))
    (d / "nets-no-backend.json").write_text(json.dumps({"nets": [{"mac": "02:00:00:00:00:01"}]}))
    (d / "vsock-no-uds.json").write_text(json.dumps({"vsock": {"cid": 3}}))
    (d / "vsock-cid-string.json").write_text(json.dumps({"vsock": {"cid": "3", "uds": "/x"}}))
    return d


# (id, args with {placeholders}, words the message must contain)
CASES = [
    ("missing-kernel", ["--kernel", "{d}/nonexistent"], ["nonexistent", "No such file"]),
    ("kernel-directory", ["--kernel", "{d}/dir"], ["dir", "directory"]),
    ("kernel-empty", ["--kernel", "{d}/empty"], ["empty"]),
    ("kernel-garbage", ["--kernel", "{d}/garbage"], ["garbage", "not an ELF or bzImage"]),
    ("kernel-truncated-bzimage", ["--kernel", "{d}/trunc-bzimage"], ["trunc-bzimage", "truncated"]),
    ("kernel-truncated-vmlinux", ["--kernel", "{d}/trunc-vmlinux"], ["trunc-vmlinux", "ELF"]),
    ("initrd-missing", ["--kernel", "{bz}", "--initrd", "{d}/nonexistent"],
     ["initrd", "nonexistent"]),
    ("initrd-directory", ["--kernel", "{bz}", "--initrd", "{d}/dir"], ["initrd", "directory"]),
    ("initrd-too-big", ["--kernel", "{bz}", "--initrd", "{d}/big-initrd", "--memory", "64M"],
     ["initrd", "big-initrd", "fit"]),
    ("memory-too-small", ["--kernel", "{bz}", "--memory", "16M"], ["memory", "too small"]),
    ("memory-unparsable", ["--kernel", "{bz}", "--memory", "12Q"], ["memory", "12Q"]),
    ("memory-too-large", ["--kernel", "{bz}", "--memory", "2T"], ["memory", "too large"]),
    ("memory-unaligned", ["--kernel", "{bz}", "--memory", "33554433"], ["memory", "4K"]),
    ("cpus-zero", ["--kernel", "{bz}", "--cpus", "0"], ["cpus", "0"]),
    ("cpus-huge", ["--kernel", "{bz}", "--cpus", "100000"], ["cpus", "100000"]),
    ("cpus-not-a-number", ["--kernel", "{bz}", "--cpus", "two"], ["cpus", "two"]),
    ("cmdline-too-long", ["--kernel", "{bz}", "--cmdline", "console=ttyS0 " + "x" * 5000],
     ["cmdline", "2047"]),
    ("unknown-option", ["--kernel", "{bz}", "--frobnicate"], ["--frobnicate"]),
    ("missing-value", ["--kernel"], ["--kernel"]),
    ("stray-argument", ["--kernel", "{bz}", "extra"], ["extra"]),
    ("config-invalid-json", ["--config", "{d}/broken.json"], ["broken.json", "JSON"]),
    ("config-wrong-type", ["--config", "{d}/wrong-type.json"], ["wrong-type.json", "cpus"]),
    ("config-wrong-type-bool", ["--config", "{d}/wrong-type-bool.json"], ["boot_timer"]),
    ("config-unknown-field", ["--config", "{d}/unknown-field.json"], ["frobnicate"]),
    ("config-not-object", ["--config", "{d}/not-object.json"], ["object"]),
    ("config-missing", ["--config", "{d}/nonexistent.json"], ["nonexistent.json", "No such file"]),
    ("config-directory", ["--config", "{d}/dir"], ["dir", "directory"]),
    ("disk-missing", ["--kernel", "{bz}", "--disk", "path={d}/nonexistent.img"],
     ["disk", "nonexistent.img", "No such file"]),
    ("disk-directory", ["--kernel", "{bz}", "--disk", "path={d}/dir"],
     ["disk", "dir", "not a regular file or block device"]),
    ("disk-char-device", ["--kernel", "{bz}", "--disk", "path=/dev/null"],
     ["disk", "/dev/null", "not a regular file or block device"]),
    ("disk-too-small", ["--kernel", "{bz}", "--disk", "path={d}/tiny.img"],
     ["disk", "tiny.img", "smaller than one"]),
    ("disk-no-path", ["--kernel", "{bz}", "--disk", "ro=on"], ["--disk", "path"]),
    ("disk-bad-cache", ["--kernel", "{bz}", "--disk", "path=x,cache=fast"], ["cache", "fast"]),
    ("disk-unknown-key", ["--kernel", "{bz}", "--disk", "path=x,size=1G"], ["size"]),
    ("disk-too-many", ["--kernel", "{bz}"] + ["--disk", "path=x"] * 9, ["disk", "at most 8"]),
    ("rng-bad-value", ["--kernel", "{bz}", "--rng", "maybe"], ["rng", "maybe"]),
    ("config-disks-not-array", ["--config", "{d}/disks-not-array.json"], ["disks", "array"]),
    ("fs-missing-dir", ["--kernel", "{bz}", "--fs", "tag=a,path={d}/nonexistent"],
     ["share", "nonexistent", "No such file"]),
    ("fs-file-not-dir", ["--kernel", "{bz}", "--fs", "tag=a,path={d}/empty"],
     ["share", "empty", "not a directory"]),
    ("fs-no-tag", ["--kernel", "{bz}", "--fs", "path={d}/dir"], ["--fs", "no tag="]),
    ("fs-no-path", ["--kernel", "{bz}", "--fs", "tag=docs"], ["--fs", "share docs", "no path="]),
    ("fs-empty-path", ["--kernel", "{bz}", "--fs", "tag=docs,path="], ["share docs", "path"]),
    ("fs-tag-too-long", ["--kernel", "{bz}", "--fs", "tag=" + "t" * 37 + ",path={d}/dir"],
     ["--fs", "t" * 37, "longer than 36"]),
    ("fs-tag-comma", ["--kernel", "{bz}", "--fs", "tag=a,,b,path={d}/dir"],
     ["--fs", "'a,b'", "commas"]),
    ("fs-tag-space", ["--kernel", "{bz}", "--fs", "tag=a b,path={d}/dir"], ["'a b'", "spaces"]),
    ("fs-tag-empty", ["--kernel", "{bz}", "--fs", "tag=,path={d}/dir"], ["--fs", "tag", "empty"]),
    ("fs-duplicate-tag", ["--kernel", "{bz}", "--fs", "tag=a,path={d}/dir", "--fs",
                          "tag=a,path={d}"], ["share a", "tag used twice"]),
    ("fs-bad-cache", ["--kernel", "{bz}", "--fs", "tag=a,path={d}/dir,cache=writeback"],
     ["share a", "cache", "writeback"]),
    ("fs-unknown-key", ["--kernel", "{bz}", "--fs", "tag=a,path={d}/dir,size=1G"],
     ["share a", "size"]),
    ("fs-bad-ro", ["--kernel", "{bz}", "--fs", "tag=a,path={d}/dir,ro=maybe"],
     ["share a", "ro", "maybe"]),
    ("fs-key-twice", ["--kernel", "{bz}", "--fs", "tag=a,path={d}/dir,path={d}"],
     ["share a", "path", "twice"]),
    ("fs-too-many", ["--kernel", "{bz}"] + [a for i in range(9) for a in
                                            ["--fs", f"tag=t{i},path={{d}}/dir"]],
     ["--fs", "at most 8 shares"]),
    ("fs-no-slot", ["--kernel", "{bz}", "--rng", "off"] + ["--disk", "path={d}/disk.img,ro=on"] * 8
     + ["--fs", "tag=a,path={d}/dir", "--fs", "tag=b,path={d}/dir"],
     ["share b", "no room for another virtio device"]),
    ("fs-no-slot-for-rng", ["--kernel", "{bz}"] + ["--disk", "path={d}/disk.img,ro=on"] * 8
     + ["--fs", "tag=a,path={d}/dir"], ["rng", "no room for another virtio device"]),
    ("config-shares-not-array", ["--config", "{d}/shares-not-array.json"], ["shares", "array"]),
    ("config-shares-dup-tag", ["--config", "{d}/shares-dup-tag.json"],
     ["share a", "tag used twice"]),
    ("config-shares-no-tag", ["--config", "{d}/shares-no-tag.json"], ["shares[0]", "tag"]),
    ("net-no-backend", ["--kernel", "{bz}", "--net", "mac=02:00:00:00:00:01"], ["--net", "tap"]),
    ("net-both-backends", ["--kernel", "{bz}", "--net", "tap=t0,passt"], ["--net", "passt"]),
    ("net-bad-mac", ["--kernel", "{bz}", "--net", "tap=t0,mac=02:00:00:00:00"], ["mac"]),
    ("net-multicast-mac", ["--kernel", "{bz}", "--net", "tap=t0,mac=01:00:5e:00:00:01"],
     ["mac", "multicast"]),
    ("net-long-tap", ["--kernel", "{bz}", "--net", "tap=" + "x" * 16], ["--net", "x" * 16]),
    ("net-tap-twice", ["--kernel", "{bz}", "--net", "tap=t0", "--net", "tap=t0"],
     ["net t0", "tap used twice"]),
    ("net-passt-no-socket", ["--kernel", "{bz}", "--net", "passt={d}/nonexistent.sock"],
     ["net passt", "nonexistent.sock", "No such file"]),
    ("net-passt-not-socket", ["--kernel", "{bz}", "--net", "passt={d}/empty"],
     ["net passt", "empty"]),
    ("net-too-many", ["--kernel", "{bz}"] + [a for i in range(9) for a in
                                             ["--net", f"tap=t{i}"]], ["--net", "at most 8 nets"]),
    ("vsock-no-uds", ["--kernel", "{bz}", "--vsock", "cid=3"], ["--vsock", "uds"]),
    ("vsock-reserved-cid", ["--kernel", "{bz}", "--vsock", "cid=2,uds={d}/v.sock"],
     ["--vsock", "cid"]),
    ("vsock-bad-cid", ["--kernel", "{bz}", "--vsock", "cid=three,uds={d}/v.sock"],
     ["--vsock", "three"]),
    ("vsock-missing-dir", ["--kernel", "{bz}", "--vsock", "cid=3,uds={d}/nonexistent/v.sock"],
     ["vsock", "nonexistent", "No such file"]),
    ("vsock-not-socket", ["--kernel", "{bz}", "--vsock", "cid=3,uds={d}/empty"],
     ["vsock", "empty", "not a socket"]),
    ("vsock-path-too-long", ["--kernel", "{bz}", "--vsock", "cid=3,uds={d}/" + "v" * 100],
     ["vsock", "v" * 100]),
    ("config-nets-no-backend", ["--config", "{d}/nets-no-backend.json"],
     ["nets[0]", "tap", "passt"]),
    ("config-vsock-no-uds", ["--config", "{d}/vsock-no-uds.json"], ["vsock", "uds"]),
    ("config-vsock-cid-string", ["--config", "{d}/vsock-cid-string.json"],
     ["vsock.cid", "integer"]),
]


# Cases hull detects only after it has opened /dev/kvm (the kernel, initrd and device stages):
# they need a /dev/kvm (tests/run runs them in the lab on a host without one).
NEEDS_KVM = {
    "missing-kernel", "kernel-directory", "kernel-empty", "kernel-garbage",
    "kernel-truncated-bzimage", "kernel-truncated-vmlinux", "initrd-missing", "initrd-directory",
    "initrd-too-big", "cmdline-too-long", "disk-missing", "disk-directory", "disk-char-device",
    "disk-too-small", "fs-missing-dir", "fs-file-not-dir", "fs-no-slot", "fs-no-slot-for-rng",
    "net-passt-no-socket", "net-passt-not-socket", "vsock-missing-dir", "vsock-not-socket",
    "vsock-path-too-long",
}


def _case(c):
    return pytest.param(*c[1:], id=c[0], marks=[pytest.mark.kvm] if c[0] in NEEDS_KVM else [])


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory, cloud_kernel, project_vmlinux):
    return _files(tmp_path_factory.mktemp("bad"), cloud_kernel, project_vmlinux)


@pytest.mark.parametrize("args,words", [_case(c) for c in CASES])
def test_bad_input(hull_bin, bad_dir, project_bzimage, args, words):
    """hull refuses the input with exit 2 and exactly one stderr line "hull: ..." naming it."""
    argv = [a.format(d=bad_dir, bz=project_bzimage) for a in args]
    p = subprocess.run([hull_bin, "vm", *argv], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=20)
    err = p.stderr.decode(errors="replace")
    what = f"hull vm {' '.join(a[:80] for a in argv)}\nexit {p.returncode}\nstderr:\n{err}"
    assert p.returncode >= 0, f"killed by signal {-p.returncode}\n{what}"
    assert "Sanitizer" not in err and "runtime error" not in err, what
    assert p.returncode == 2, what
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hull: "), what
    for w in words:
        assert w in lines[0], f"message does not name {w!r}\n{what}"
    assert p.stdout == b"", f"nothing may reach the console\n{what}"
