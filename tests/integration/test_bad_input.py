"""Bad input: each is refused before /dev/kvm is opened, with exit 2 and one line "hull: ...".

hull checks everything the user named (kernel, initrd, disks, shares, taps, sockets) in a first
pass before it touches /dev/kvm, so every case runs on any host, one without /dev/kvm included.
"""

import fcntl
import json
import os
import re
import socket
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
    (d / "api-sock-number.json").write_text(json.dumps({"api_sock": 3}))
    (d / "locked.img").write_bytes(b"\0" * 4096)
    (d / "empty-path").mkdir()
    return d


# (id, args with {placeholders} (or a function of the machine's virtio slots returning them),
#  words the message must contain[, environment, "copy": run a copy of hull with no default
#  kernel beside it, global options before "vm"])
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
    ("disk-too-many", lambda n: ["--kernel", "{bz}"] + ["--disk", "path=x"] * (n + 1),
     ["--disk", "at most {slots} disks"]),
    ("disk-locked", ["--kernel", "{bz}", "--disk", "path={d}/locked.img"],
     ["disk", "locked.img", "locked by another process"]),
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
    ("fs-too-many", lambda n: ["--kernel", "{bz}"] + [a for i in range(n + 1) for a in
                                                      ["--fs", f"tag=t{i},path={{d}}/dir"]],
     ["--fs", "at most {slots} shares"]),
    ("fs-no-slot", lambda n: ["--kernel", "{bz}", "--rng", "off"]
     + ["--disk", "path={d}/disk.img,ro=on"] * (n - 1)
     + ["--fs", "tag=a,path={d}/dir", "--fs", "tag=b,path={d}/dir"],
     ["share b", "no room for another virtio device", "(this machine has {slots})"]),
    ("fs-no-slot-for-rng", lambda n: ["--kernel", "{bz}"]
     + ["--disk", "path={d}/disk.img,ro=on"] * (n - 1) + ["--fs", "tag=a,path={d}/dir"],
     ["rng", "no room for another virtio device"]),
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
    ("net-too-many", lambda n: ["--kernel", "{bz}"] + [a for i in range(n + 1) for a in
                                                       ["--net", f"tap=t{i}"]],
     ["--net", "at most {slots} nets"]),
    ("net-tap-not-a-tap", ["--kernel", "{bz}", "--net", "tap=lo"], ["net lo", "TUNSETIFF"]),
    ("net-passt-missing", ["--kernel", "{bz}", "--net", "passt"], ["net passt", "not found"],
     {"PATH": "{d}/empty-path"}),
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
    ("vsock-in-use", ["--kernel", "{bz}", "--vsock", "cid=3,uds={d}/listening.sock"],
     ["vsock", "listening.sock", "in use"]),
    ("kernel-too-big-for-memory", ["--kernel", "{vmlinux}", "--memory", "32M"],
     ["kernel", "vmlinux", "does not fit in guest memory"]),
    ("no-default-kernel", ["--memory", "64M"], ["no --kernel given", "make guest-kernel"],
     {"HULL_KERNEL": ""}, "copy"),
    ("api-sock-missing-dir", ["--kernel", "{bz}", "--api-sock", "{d}/nonexistent/api.sock"],
     ["api-sock", "nonexistent", "No such file"]),
    ("api-sock-not-socket", ["--kernel", "{bz}", "--api-sock", "{d}/empty"],
     ["api-sock", "empty", "not a socket"]),
    ("api-sock-in-use", ["--kernel", "{bz}", "--api-sock", "{d}/listening.sock"],
     ["api-sock", "listening.sock", "in use"]),
    ("api-sock-too-long", ["--kernel", "{bz}", "--api-sock", "{d}/" + "a" * 120],
     ["api-sock", "a" * 120, "too long"]),
    ("api-sock-empty", ["--kernel", "{bz}", "--api-sock", ""], ["--api-sock", "empty"]),
    ("config-api-sock-not-string", ["--config", "{d}/api-sock-number.json"],
     ["api_sock", "string"]),
    ("cpu-affinity-garbage", ["--kernel", "{bz}", "--cpu-affinity", "1--2"],
     ["cpu-affinity", "1--2", "not a CPU list"]),
    ("cpu-affinity-past-cpu-setsize", ["--kernel", "{bz}", "--cpu-affinity", "0-99999"],
     ["cpu-affinity", "0-99999", "not a CPU list"]),
    ("cpu-affinity-not-hulls", ["--kernel", "{bz}", "--cpu-affinity", "0,1000"],
     ["cpu-affinity 0,1000", "CPU 1000 is not one hull may run on"]),
    ("cgroup-dotdot", ["--kernel", "{bz}", "--cgroup", "/hull/../../etc"],
     ["cgroup path /hull/../../etc", "leaves the hierarchy"]),
    ("cgroup-empty", ["--kernel", "{bz}", "--cgroup", ""], ["--cgroup", "empty"]),
    ("log-missing-dir", ["--kernel", "{bz}"], ["--log", "nonexistent"], None, None,
     ["--log", "{d}/nonexistent/log"]),
    ("log-format-unknown", ["--kernel", "{bz}"], ["--log-format", "yaml"], None, None,
     ["--log-format", "yaml"]),
    ("global-option-unknown", ["--kernel", "{bz}"], ["--frobnicate"], None, None,
     ["--frobnicate"]),
]


def _case(c):
    return pytest.param(*c[1:], *([None] * (6 - len(c))), id=c[0])


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory, cloud_kernel, project_vmlinux):
    d = _files(tmp_path_factory.mktemp("bad"), cloud_kernel, project_vmlinux)
    # A socket something listens on, and a disk image another process holds locked.
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(d / "listening.sock"))
    listener.listen(1)
    with open(d / "locked.img", "r+b") as locked:
        fcntl.lockf(locked, fcntl.LOCK_EX)
        yield d
    listener.close()


@pytest.fixture(scope="module")
def slots(hull_bin):
    """How many virtio devices the machine takes, as `hull vm --help` says."""
    out = subprocess.run([hull_bin, "vm", "--help"], capture_output=True, text=True,
                         check=True).stdout
    return int(re.search(r"and (\d+) virtio devices in all", out).group(1))


@pytest.mark.parametrize("args,words,env,where,globs", [_case(c) for c in CASES])
def test_bad_input(hull_bin, bad_dir, project_bzimage, project_vmlinux, slots, tmp_path, args,
                   words, env, where, globs):
    """hull refuses the input with exit 2 and exactly one stderr line "hull: ..." naming it.

    Exit 2 comes only from the first pass, before /dev/kvm (a stage that fails later exits 1),
    so the same holds on any host. Nothing reaches the console.
    """
    fmt = dict(d=bad_dir, bz=project_bzimage, vmlinux=project_vmlinux, slots=slots)
    if callable(args):
        args = args(slots)
    argv = [a.format(**fmt) for a in args]
    glob_argv = [a.format(**fmt) for a in globs or []]
    words = [w.format(**fmt) for w in words]
    binary = hull_bin
    if where == "copy":  # a hull with no build/guest/vmlinux beside it
        binary = tmp_path / "hull"
        binary.write_bytes(hull_bin.read_bytes())
        binary.chmod(0o755)
    full_env = dict(os.environ)
    full_env.update({k: v.format(**fmt) for k, v in (env or {}).items()})
    p = subprocess.run([binary, *glob_argv, "vm", *argv], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=20, env=full_env)
    err = p.stderr.decode(errors="replace")
    what = (f"hull {' '.join(glob_argv)} vm {' '.join(a[:80] for a in argv)}\n"
            f"exit {p.returncode}\nstderr:\n{err}")
    assert p.returncode >= 0, f"killed by signal {-p.returncode}\n{what}"
    assert "Sanitizer" not in err and "runtime error" not in err, what
    assert p.returncode == 2, what
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hull: "), what
    for w in words:
        assert w in lines[0], f"message does not name {w!r}\n{what}"
    assert p.stdout == b"", f"nothing may reach the console\n{what}"
