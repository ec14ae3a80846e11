"""`hull run`: a container in its own microVM, end to end.

The lab tests boot real containers (the project kernel by default, Debian's cloud kernel where
said) from the busybox rootfs that tests/images/busybox-rootfs.sh builds (copied for each test:
a container writes to its root) and from the Debian image (mounted read-only on a loop device),
and check what the issue asks: exit codes and signals, a missing command, env, cwd, user and
groups, hostname, a read-only root, tmpfs, file and sub-directory bind mounts both ways, stdin,
64 MiB of stdout with stderr kept apart, a tty under a real pty, signals forwarded, a privileged
container with a host loop device passed in, two kernels, the initramfs built once and then
read from its cache, four containers at once, and a guest that never says HELLO or whose
hull-init gives up. The host tests check that bad input is
refused with exit 2 and one line, before /dev/kvm is opened.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import termios
import time
from pathlib import Path

import pytest

from harness import REPO

lab = pytest.mark.lab
host = pytest.mark.host

BUSYBOX_SCRIPT = REPO / "tests" / "images" / "busybox-rootfs.sh"
RUN_TIMEOUT = 180  # TCG lab: one container start takes seconds, several at once more


# --- helpers -----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def busybox_cached():
    path = subprocess.run([BUSYBOX_SCRIPT, "--path"], check=True, capture_output=True,
                          text=True).stdout.strip()
    if not Path(path, "bin", "busybox").is_file():
        pytest.fail(f"missing the busybox rootfs {path}: build it on the host with "
                    f"{BUSYBOX_SCRIPT} (tests/run does it in its build step)", pytrace=False)
    return Path(path)


@pytest.fixture
def rootfs(busybox_cached, tmp_path_factory):
    """A private copy of the busybox rootfs (on the lab's local /tmp, not the 9p share)."""
    top = Path(tempfile.mkdtemp(prefix="hull-run-", dir="/tmp"))
    root = top / "rootfs"
    shutil.copytree(busybox_cached, root, symlinks=True)
    yield root
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def scratch_dir():
    top = Path(tempfile.mkdtemp(prefix="hull-run-data-", dir="/tmp"))
    yield top
    shutil.rmtree(top, ignore_errors=True)


def hull_run(hull_bin, *args, input=None, timeout=RUN_TIMEOUT, env=None, stdin=None):
    """`hull run ARGS`: (exit status, stdout bytes, stderr text)."""
    argv = [str(hull_bin), "run", *map(str, args)]
    full_env = dict(os.environ, **(env or {}))
    try:
        p = subprocess.run(argv, input=input, stdin=stdin if input is None else None,
                           capture_output=True, timeout=timeout, env=full_env, cwd=REPO)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"hull run still running after {timeout} s: {' '.join(argv)}\n"
                    f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}", pytrace=False)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def describe(rc, out, err):
    return f"exit {rc}\n--- stdout ---\n{out[-3000:]!r}\n--- stderr ---\n{err[-3000:]}"


def sh(hull_bin, root, script, *opts, **kw):
    """A busybox shell script in a container: (status, stdout text, stderr text)."""
    rc, out, err = hull_run(hull_bin, *opts, "--rootfs", root, "--", "/bin/sh", "-c", script,
                            stdin=subprocess.DEVNULL, **kw)
    return rc, out.decode(errors="replace"), err


def bundle(top, root, process, **extra):
    """An OCI bundle in top: config.json for root (a path) with process and extra members."""
    cfg = {"ociVersion": "1.0.2", "root": {"path": str(root)}, "process": process, **extra}
    (top / "config.json").write_text(json.dumps(cfg))
    return top


def proc(args, uid=0, gid=0, **extra):
    return {"args": args, "cwd": "/", "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
            "user": {"uid": uid, "gid": gid, **extra.pop("user", {})}, **extra}


# --- exit status -------------------------------------------------------------------------------

@lab
def test_exit_codes(hull_bin, rootfs):
    """hull exits with the container's exit code (0, 1, 42); its stdout is the process's."""
    for code in (0, 1, 42):
        rc, out, err = sh(hull_bin, rootfs, f"echo code {code}; exit {code}")
        assert (rc, out) == (code, f"code {code}\n"), describe(rc, out, err)
        assert err == "", err


@lab
def test_killed_by_signal(hull_bin, rootfs):
    """A process killed by signal N makes hull exit 128+N: SIGKILL 137, SIGTERM 143."""
    for sig, want in (("KILL", 137), ("TERM", 143)):
        rc, out, err = sh(hull_bin, rootfs, f"echo before; kill -{sig} $$; echo after")
        assert (rc, out) == (want, "before\n"), describe(rc, out, err)


@lab
def test_missing_command(hull_bin, rootfs):
    """A command that is not there: 127, with the reason on the container's stderr; one that
    cannot be executed: 126."""
    rc, out, err = hull_run(hull_bin, "--rootfs", rootfs, "--", "nonexistent-command", "x",
                            stdin=subprocess.DEVNULL)
    assert rc == 127, describe(rc, out, err)
    assert err == "hull-init: exec nonexistent-command: No such file or directory\n", err
    rc, out, err = hull_run(hull_bin, "--rootfs", rootfs, "--", "/etc/passwd",
                            stdin=subprocess.DEVNULL)
    assert rc == 126, describe(rc, out, err)
    assert err.startswith("hull-init: exec /etc/passwd: "), err


# --- the container's shape ----------------------------------------------------------------------

@lab
def test_env_cwd_user_hostname(hull_bin, rootfs, scratch_dir):
    """--env, --workdir, --user and --hostname as the process sees them; a bundle's
    additionalGids too."""
    script = "echo $FOO; echo $BAR; pwd; id -u; id -g; hostname; echo $PATH"
    rc, out, err = sh(hull_bin, rootfs, script, "--env", "FOO=bar", "--env", "BAR=one two",
                      "--workdir", "/tmp", "--user", "1000:1000", "--hostname", "box")
    assert rc == 0, describe(rc, out, err)
    assert out.splitlines() == ["bar", "one two", "/tmp", "1000", "1000", "box",
                                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    # Groups, as a bundle gives them; and its hostname.
    b = bundle(scratch_dir, rootfs, proc(["/bin/sh", "-c", "id -G; id -u; hostname; pwd"],
                                         uid=1000, gid=1000, cwd="/home/user",
                                         user={"additionalGids": [100, 10]}),
               hostname="from-bundle")
    rc, out, err = hull_run(hull_bin, "--bundle", b, "c1", stdin=subprocess.DEVNULL)
    assert rc == 0, describe(rc, out, err)
    assert out.decode().splitlines() == ["1000 10 100", "1000", "from-bundle", "/home/user"]


@lab
def test_read_only_root_and_tmpfs(hull_bin, rootfs, scratch_dir):
    """--read-only: the root refuses writes; --tmpfs: a writable tmpfs in it all the same. The
    mount points the root lacks (/scratch, /opt/conf/app.conf) are made on the host first, as
    runc makes them before its read-only remount."""
    conf = scratch_dir / "app.conf"
    conf.write_text("conf\n")
    script = ("touch /newfile 2>/dev/null && echo wrote-root || echo root-ro; "
              "grep ' /scratch tmpfs ' /proc/mounts >/dev/null && echo scratch-tmpfs; "
              "echo x > /scratch/f && cat /scratch/f; cat /opt/conf/app.conf")
    rc, out, err = sh(hull_bin, rootfs, script, "--read-only", "--tmpfs", "/scratch",
                      "--mount", f"{conf}:/opt/conf/app.conf:ro")
    assert (rc, out) == (0, "root-ro\nscratch-tmpfs\nx\nconf\n"), describe(rc, out, err)
    assert not (rootfs / "newfile").exists()
    assert (rootfs / "scratch").is_dir() and (rootfs / "opt" / "conf" / "app.conf").is_file()
    # Writable by default, and the host sees it.
    rc, out, err = sh(hull_bin, rootfs, "echo hi > /newfile && echo ok")
    assert (rc, out) == (0, "ok\n"), describe(rc, out, err)
    assert (rootfs / "newfile").read_text() == "hi\n"


@lab
def test_bind_mounts(hull_bin, rootfs, scratch_dir):
    """A sub-directory and a single file, each read-write and read-only (Kubernetes' subPath
    arrives as these): the writes land in the host's files, the read-only ones refuse."""
    data = scratch_dir / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "in.txt").write_text("sub file\n")
    (data / "ro-sub").mkdir()
    (data / "ro-sub" / "keep.txt").write_text("keep\n")
    (data / "file.txt").write_text("rw file\n")
    (data / "conf.txt").write_text("ro file\n")
    script = ("cat /mnt/sub/in.txt; echo new > /mnt/sub/new.txt && echo wrote-sub; "
              "cat /mnt/ro/keep.txt; echo x > /mnt/ro/x.txt 2>/dev/null || echo ro-sub-refused; "
              "cat /etc/app.txt; echo changed > /etc/app.txt && echo wrote-file; "
              "cat /etc/conf.txt; echo x > /etc/conf.txt 2>/dev/null || echo ro-file-refused")
    rc, out, err = sh(hull_bin, rootfs, script,
                      "--mount", f"{data}/sub:/mnt/sub", "--mount", f"{data}/ro-sub:/mnt/ro:ro",
                      "--mount", f"{data}/file.txt:/etc/app.txt:rw",
                      "--mount", f"{data}/conf.txt:/etc/conf.txt:ro")
    assert rc == 0, describe(rc, out, err)
    assert out.splitlines() == ["sub file", "wrote-sub", "keep", "ro-sub-refused", "rw file",
                                "wrote-file", "ro file", "ro-file-refused"], out
    assert (data / "sub" / "new.txt").read_text() == "new\n"
    assert (data / "file.txt").read_text() == "changed\n"
    assert (data / "conf.txt").read_text() == "ro file\n"
    assert sorted(os.listdir(data / "ro-sub")) == ["keep.txt"]
    # The mount points were made inside the container's root, not next to the host's files.
    assert (rootfs / "etc" / "app.txt").is_file() and (rootfs / "mnt" / "sub").is_dir()


# --- stdio -------------------------------------------------------------------------------------

@lab
def test_stdin_round_trip(hull_bin, rootfs):
    """`echo data | hull run ... cat`: stdin reaches the process, its end of file too; binary
    data passes unchanged."""
    rc, out, err = hull_run(hull_bin, "--rootfs", rootfs, "--", "cat", input=b"data\n")
    assert (rc, out) == (0, b"data\n"), describe(rc, out, err)
    blob = os.urandom(1 << 20) + bytes(range(256)) * 16
    rc, out, err = hull_run(hull_bin, "--rootfs", rootfs, "--", "cat", input=blob)
    assert rc == 0, describe(rc, out[:100], err)
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(blob).hexdigest()
    # No stdin at all (/dev/null): the process reads end of file at once.
    rc, out, err = hull_run(hull_bin, "--rootfs", rootfs, "--", "/bin/sh", "-c",
                            "cat; echo eof", stdin=subprocess.DEVNULL)
    assert (rc, out) == (0, b"eof\n"), describe(rc, out, err)


@lab
def test_big_stdout_and_stderr_apart(hull_bin, rootfs, scratch_dir):
    """64 MiB through stdout arrive whole (sha256), and stderr's lines, written before, in the
    middle and after, never mix into it."""
    big = scratch_dir / "big.bin"
    with open(big, "wb") as f:
        for _ in range(64):
            f.write(os.urandom(1 << 20))
    want = hashlib.sha256(big.read_bytes()).hexdigest()
    script = ("echo first >&2; head -c 33554432 /data/big.bin; echo middle >&2; "
              "tail -c +33554433 /data/big.bin; echo last >&2")
    rc, out, err = hull_run(hull_bin, "--rootfs", rootfs, "--mount",
                            f"{big}:/data/big.bin:ro", "--", "/bin/sh", "-c", script,
                            stdin=subprocess.DEVNULL, timeout=600)
    assert rc == 0, describe(rc, out[:100], err)
    assert len(out) == 64 << 20
    assert hashlib.sha256(out).hexdigest() == want
    assert err == "first\nmiddle\nlast\n", err


@contextlib.contextmanager
def on_pty(hull_bin, rootfs, script, rows=24, cols=80):
    """`hull run --tty ... sh -c script` with a new pty as its stdin and stdout:
    (process, master, slave, the slave's settings before); everything ended afterwards."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    before = termios.tcgetattr(slave)
    p = subprocess.Popen([str(hull_bin), "run", "--tty", "--rootfs", str(rootfs), "--",
                          "/bin/sh", "-c", script], stdin=slave, stdout=slave,
                         stderr=subprocess.PIPE, cwd=REPO, start_new_session=True)
    try:
        yield p, master, slave, before
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(slave)
        os.close(master)


@lab
def test_tty(hull_bin, rootfs):
    """--tty under a real pty: the process has a terminal of the host terminal's size, typed
    bytes reach it, a new size follows SIGWINCH, and hull puts the terminal back as it was."""
    script = "tty; stty size; read x; echo \"got $x\"; read y; stty size; exit 5"
    got = b""
    with on_pty(hull_bin, rootfs, script, rows=33, cols=101) as (p, master, slave, before):

        def read_until(pattern, timeout=RUN_TIMEOUT):
            nonlocal got
            deadline = time.monotonic() + timeout
            while not re.search(pattern, got):
                left = deadline - time.monotonic()
                assert left > 0, f"no {pattern!r} from the tty: {got!r}"
                r, _, _ = select.select([master], [], [], left)
                if r:
                    try:
                        got += os.read(master, 4096)
                    except OSError:
                        break
            return got

        read_until(rb"33 101")
        # Raw mode on the host side while the container runs: no echo, no line editing here.
        during = termios.tcgetattr(slave)
        assert not during[3] & termios.ECHO and not during[3] & termios.ICANON
        os.write(master, b"abc\r")
        read_until(rb"got abc")
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.kill(p.pid, signal.SIGWINCH)
        time.sleep(2)  # the WINSIZE message reaches the guest before the next read returns
        os.write(master, b"def\r")
        read_until(rb"40 120")
        rc = p.wait(RUN_TIMEOUT)
        after = termios.tcgetattr(slave)
    text = got.decode(errors="replace")
    assert rc == 5, f"{text}\n{p.stderr.read().decode()}"
    assert "/dev/pts/" in text, text
    assert after == before


@lab
def test_tty_restored(hull_bin, rootfs):
    """The host terminal's settings are put back when hull exits, however the container
    ended (here: killed by a signal)."""
    with on_pty(hull_bin, rootfs, "kill -9 $$") as (p, master, slave, before):
        rc = p.wait(RUN_TIMEOUT)
        after = termios.tcgetattr(slave)
    assert rc == 137, p.stderr.read().decode()
    assert after == before


# --- signals -----------------------------------------------------------------------------------

def start(hull_bin, root, script, *opts):
    return subprocess.Popen([str(hull_bin), "run", *map(str, opts), "--rootfs", str(root),
                             "--", "/bin/sh", "-c", script], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)


def wait_line(p, want, timeout=RUN_TIMEOUT):
    deadline = time.monotonic() + timeout
    line = b""
    while not line.startswith(want):
        r, _, _ = select.select([p.stdout], [], [], max(0, deadline - time.monotonic()))
        assert r, f"no {want!r} from the container"
        line = p.stdout.readline()
        assert line, f"the container's stdout ended before {want!r}: {p.stderr.read()!r}"


@lab
def test_signals_forwarded(hull_bin, rootfs):
    """SIGTERM, SIGHUP, SIGUSR1 sent to hull reach the container's process (its trap sees each
    and the exit code it chooses is hull's); a second SIGINT within a second ends the VM: 130."""
    for sig, code in ((signal.SIGTERM, 7), (signal.SIGHUP, 8), (signal.SIGUSR1, 9)):
        name = signal.Signals(sig).name[3:]
        p = start(hull_bin, rootfs, f"trap 'echo got-{name}; exit {code}' {name}; "
                  "echo ready; while :; do sleep 1; done")
        try:
            wait_line(p, b"ready")
            p.send_signal(sig)
            out, err = p.communicate(timeout=RUN_TIMEOUT)
        finally:
            p.kill()
        assert p.returncode == code, (sig, out, err)
        assert out == f"got-{name}\n".encode(), (out, err)
    # SIGINT the process ignores: the first one is forwarded, a second within 1 s ends hull.
    p = start(hull_bin, rootfs, "trap '' INT; echo ready; sleep 1000")
    try:
        wait_line(p, b"ready")
        p.send_signal(signal.SIGINT)
        time.sleep(0.2)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 130, (out, err)
    assert b"a second SIGINT" in err, err


# --- privileged, devices, kernels -----------------------------------------------------------

@contextlib.contextmanager
def loop_device(path, read_only=False):
    """A loop device over path (the lab's kernel has loop as a module)."""
    subprocess.run(["modprobe", "-a", "loop", "ext4"], capture_output=True)
    ro = ["--read-only"] if read_only else []
    p = subprocess.run(["losetup", "--find", "--show", *ro, str(path)], capture_output=True,
                       text=True)
    if p.returncode != 0:
        pytest.fail(f"losetup {path}: {p.stderr.strip()}", pytrace=False)
    dev = p.stdout.strip()
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "-d", dev])


@lab
def test_privileged_and_host_block_device(hull_bin, rootfs, scratch_dir):
    """--privileged sees the guest's devices and has every capability; a host loop device
    named in a bundle's linux.devices (type b) is passed in as a disk and appears at the
    spec's path with the host's bytes."""
    script = ("test -c /dev/ttyS0 && echo guest-devices; grep CapEff /proc/self/status; "
              "echo x > /sys/kernel/uevent_helper 2>/dev/null; echo done")
    rc, out, err = sh(hull_bin, rootfs, script, "--privileged")
    assert rc == 0, describe(rc, out, err)
    lines = out.splitlines()
    assert lines[0] == "guest-devices", out
    assert lines[1].split() == ["CapEff:", "%016x" % ((1 << 41) - 1)], out
    # Unprivileged: none of the guest's own devices, runc's default capabilities.
    rc, out, err = sh(hull_bin, rootfs, "test -e /dev/ttyS0 || echo no-ttyS0; "
                      "grep CapEff /proc/self/status")
    assert rc == 0 and out.splitlines()[0] == "no-ttyS0", describe(rc, out, err)
    assert out.splitlines()[1].split()[1] == "%016x" % ((1 << 5) | (1 << 10) | (1 << 29)), out

    img = scratch_dir / "disk.img"
    payload = b"hull block device " + os.urandom(32).hex().encode() + b"\n"
    with open(img, "wb") as f:
        f.write(payload)
        f.truncate(4 << 20)
    (scratch_dir / "b").mkdir()
    with loop_device(img) as dev:
        st = os.stat(dev)
        b = bundle(scratch_dir / "b", rootfs,
                   proc(["/bin/sh", "-c", f"ls -l {dev}; head -c {len(payload)} {dev}"]),
                   linux={"devices": [{"path": dev, "type": "b", "major": os.major(st.st_rdev),
                                       "minor": os.minor(st.st_rdev), "fileMode": 0o660}]})
        rc, out, err = hull_run(hull_bin, "--bundle", b, stdin=subprocess.DEVNULL)
    assert rc == 0, describe(rc, out, err)
    text = out.decode(errors="replace")
    assert text.splitlines()[0].startswith("brw-rw----"), text
    assert out.endswith(payload), text


@lab
@pytest.mark.parametrize("kernel", ["vmlinux", "bzimage", "cloud"])
def test_kernels(hull_bin, kernels, rootfs, kernel):
    """The project kernel (its vmlinux, the default, and its bzImage) and Debian's cloud kernel,
    whose virtio, vsock and virtio-fs drivers are modules hull puts in the initramfs."""
    opts = [] if kernel == "vmlinux" else ["--kernel", kernels[kernel]]
    rc, out, err = sh(hull_bin, rootfs, "uname -r; hostname; echo pid $$", *opts)
    assert rc == 0, describe(rc, out, err)
    lines = out.splitlines()
    if kernel == "cloud":
        assert lines[0] == kernels["cloud"].name.removeprefix("vmlinuz-"), out
    assert lines[1] == "hull", out
    assert re.fullmatch(r"pid \d+", lines[2]) and lines[2] != "pid 1", out


@lab
def test_initramfs_cached(hull_bin, kernels, rootfs, scratch_dir):
    """Issue 16: with Debian's cloud kernel (its drivers are modules in the initramfs), what
    depends only on hull and the kernel's modules is built once: the first start writes one
    file in $HULL_CACHE/initramfs, the second boots from that file, untouched."""
    cache = scratch_dir / "cache" / "initramfs"
    env = {"HULL_CACHE": str(cache.parent), "HULL_DEBUG": "1"}
    release = kernels["cloud"].name.removeprefix("vmlinuz-")
    rc, out, err = sh(hull_bin, rootfs, "uname -r", "--kernel", kernels["cloud"], env=env)
    assert rc == 0, describe(rc, out, err)
    assert out.splitlines()[0] == release, out
    files = sorted(cache.iterdir())
    assert len(files) == 1, files
    first = files[0].stat()
    assert f"built and cached as {files[0]}" in err, err
    rc, out, err = sh(hull_bin, rootfs, "uname -r; echo second", "--kernel", kernels["cloud"],
                      env=env)
    assert rc == 0, describe(rc, out, err)
    assert out.splitlines() == [release, "second"], out
    assert sorted(cache.iterdir()) == files
    st = files[0].stat()
    assert (st.st_ino, st.st_mtime_ns, st.st_size) == (first.st_ino, first.st_mtime_ns,
                                                       first.st_size)
    assert f"from cache {files[0]}" in err, err


@lab
def test_debian_rootfs(hull_bin, debian_image, scratch_dir):
    """The Debian 12 image, mounted read-only on a loop device, as a read-only root."""
    mnt = scratch_dir / "debian"
    mnt.mkdir()
    with loop_device(debian_image, read_only=True) as dev:
        subprocess.run(["mount", "-t", "ext4", "-o", "ro,noload", dev, mnt], check=True)
        try:
            rc, out, err = hull_run(hull_bin, "--read-only", "--rootfs", mnt, "--", "/bin/sh",
                                    "-c", ". /etc/os-release; echo $PRETTY_NAME; "
                                    "python3 -c 'print(6 * 7)'; id -un",
                                    stdin=subprocess.DEVNULL)
        finally:
            subprocess.run(["umount", mnt])
    assert rc == 0, describe(rc, out, err)
    lines = out.decode().splitlines()
    assert lines[0].startswith("Debian GNU/Linux 12"), lines
    assert lines[1:] == ["42", "root"], lines


@lab
def test_four_at_once(hull_bin, busybox_cached):
    """Four containers run at the same time, each with its own output and exit code."""
    roots = [Path(tempfile.mkdtemp(prefix="hull-run-4-", dir="/tmp")) / "r" for _ in range(4)]
    procs = []
    try:
        for i, root in enumerate(roots):
            shutil.copytree(busybox_cached, root, symlinks=True)
            procs.append(subprocess.Popen(
                [str(hull_bin), "run", "--memory", "256M", "--hostname", f"c{i}", "--rootfs",
                 str(root), "--", "/bin/sh", "-c", f"sleep 1; echo $(hostname) {i}; exit {10 + i}"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=REPO))
        for i, p in enumerate(procs):
            out, err = p.communicate(timeout=RUN_TIMEOUT * 2)
            assert p.returncode == 10 + i, (i, out, err)
            assert out == f"c{i} {i}\n".encode(), (i, out, err)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for root in roots:
            shutil.rmtree(root.parent, ignore_errors=True)


# --- the console, and guests that do not start --------------------------------------------------

@lab
def test_console_log(hull_bin, rootfs, scratch_dir):
    """--console-log FILE gets the serial console (here a kernel message a privileged container
    logs through /dev/kmsg at error level, which `quiet` still prints); the container's output
    stays on stdout and never reaches it, and the kernel's never reaches stdout or stderr;
    without the flag the console goes nowhere."""
    log = scratch_dir / "console.log"
    script = "echo '<3>kmsg-console-marker' > /dev/kmsg; echo container-output-marker"
    rc, out, err = sh(hull_bin, rootfs, script, "--privileged", "--console-log", log)
    assert (rc, out, err) == (0, "container-output-marker\n", ""), describe(rc, out, err)
    text = log.read_text(errors="replace")
    assert "kmsg-console-marker" in text, text
    assert "container-output-marker" not in text, text
    rc, out, err = sh(hull_bin, rootfs, script, "--privileged")
    assert (rc, out, err) == (0, "container-output-marker\n", ""), describe(rc, out, err)


@lab
def test_hello_deadline(hull_bin, rootfs):
    """No HELLO within HULL_AGENT_TIMEOUT_MS: exit 1, a message naming the cause and the
    console's last lines."""
    rc, out, err = sh(hull_bin, rootfs, "true", env={"HULL_AGENT_TIMEOUT_MS": "1"})
    assert rc == 1, describe(rc, out, err)
    assert "hull: container: hull-init did not say HELLO within 1 ms" in err, err
    assert "hull: console: " in err, err


@lab
def test_hull_init_fatal(hull_bin, rootfs, scratch_dir):
    """A spec hull-init cannot carry out (a sysctl this kernel does not have): the guest ends,
    hull exits 1 naming hull-init's reason."""
    b = bundle(scratch_dir, rootfs, proc(["true"]),
               linux={"sysctl": {"kernel.no_such_sysctl": "1"}})
    rc, out, err = hull_run(hull_bin, "--bundle", b, stdin=subprocess.DEVNULL)
    assert rc == 1, describe(rc, out, err)
    assert re.search(r"hull: container: the VM ended before the container's process exited: "
                     r"hull-init: fatal: sysctl kernel\.no_such_sysctl", err), err


# --- bad input: exit 2 before /dev/kvm, on any host -------------------------------------------

@host
def test_bad_input(hull_bin, tmp_path):
    """Each is refused with exit 2 and one line naming it, before /dev/kvm is opened."""
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "sh").write_text("")
    (tmp_path / "file").write_text("x")
    b = tmp_path / "b"
    b.mkdir()
    os.symlink(root, b / "rootfs")

    def cfg(**kw):
        """A bundle whose config.json is the minimal one with kw's members (raw: this text)."""
        def make():
            text = kw.pop("raw", None)
            base = {"ociVersion": "1.0.2", "root": {"path": "rootfs"},
                    "process": {"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}}}
            base.update(kw)
            (b / "config.json").write_text(text if text is not None else json.dumps(base))
            return b
        return make

    cases = [
        (["--rootfs", tmp_path / "none", "--", "true"], "none"),
        (["--rootfs", tmp_path / "file", "--", "true"], "file"),
        (["--rootfs", root], "no command"),
        (["--", "true"], "--rootfs DIR or --bundle DIR"),
        (["--rootfs", root, "--mount", f"{tmp_path}/missing:/m", "--", "true"], "missing"),
        (["--rootfs", root, "--mount", f"{tmp_path}/file:rel", "--", "true"], "rel"),
        (["--rootfs", root, "--user", "bob", "--", "true"], "--user"),
        (["--rootfs", root, "--env", "=x", "--", "true"], "--env"),
        (["--rootfs", root, "--hostname", "a b", "--", "true"], "--hostname"),
        (["--rootfs", root, "--memory", "8M", "--", "true"], "memory"),
        (["--rootfs", root, "--cpus", "zero", "--", "true"], "cpus"),
        (["--rootfs", root, "--console-log", tmp_path / "no" / "log", "--", "true"],
         "console-log"),
        (["--rootfs", root, "--kernel", tmp_path / "file", "--", "true"], "kernel"),
        (["--rootfs", root, "--read-only", "--tmpfs", "/bin/sh/x", "--", "true"],
         "mount /bin/sh/x: its mount point in the read-only root"),
        (["--bundle", tmp_path / "nobundle"], "config.json"),
        (["--bundle", cfg(raw="{not json")], "config.json"),
        (["--bundle", cfg(mounts=[{"destination": "/d", "type": "nfs", "source": "s:/x"}])],
         "nfs"),
        (["--bundle", cfg(mounts=[{"destination": "rel", "type": "tmpfs"}])], "rel"),
        (["--bundle", cfg(mounts=[{"destination": "/d", "type": "bind",
                                   "source": str(tmp_path / "missing")}])], "missing"),
        (["--bundle", cfg(linux={"uidMappings": [{"containerID": 0, "hostID": 1000,
                                                  "size": 1}]})], "uidMappings"),
        (["--bundle", cfg(root={"path": "nope"})], "nope"),
        (["--bundle", cfg(), "--env", "A=1"], "--env"),
        # One share holds at most 256 entries (FSRV_ENTRIES_MAX): more bind mounts are refused.
        (["--bundle", cfg(mounts=[{"destination": f"/m{i}", "type": "bind",
                                   "source": str(tmp_path / "file")} for i in range(300)])],
         "300 entries, at most 256"),
    ]
    for args, word in cases:
        args = [a() if callable(a) else a for a in args]
        rc, out, err = hull_run(hull_bin, *args, stdin=subprocess.DEVNULL, timeout=60)
        lines = err.strip().splitlines()
        assert rc == 2, (args, describe(rc, out, err))
        assert len(lines) == 1 and lines[0].startswith("hull: "), (args, err)
        assert word in lines[0], (args, word, err)
        assert "/dev/kvm" not in err, (args, err)
