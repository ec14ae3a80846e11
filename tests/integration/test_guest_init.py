"""hull-init, the guest's PID 1 in container mode, driven by a test that plays hull's side.

Before `hull run` exists, this proves hull-init on its own: the project kernel boots an initramfs
made here (hull-init as /init, a spec encoded by the small TLV writer below at /hull/spec), a
busybox rootfs directory is shared with `--fs tag=rootfs`, and a bind entry with `--fs
tag=mounts`. hull's hybrid vsock device (`--vsock cid=3,uds=PATH`) carries the agent protocol:
hull-init's connections to CID 2 port 1024 (agent) and 1025 (streams) reach Unix sockets the test
listens on at PATH_1024 and PATH_1025. The test then is hull: it reads HELLO, sends START and
EXECs, reads the streams and the EXITED messages (container/PROTOCOL.md).
"""

import contextlib
import os
import queue
import shutil
import socket
import struct
import tempfile
import threading
import time
from pathlib import Path

import pytest

import initramfs
from conftest import module_files
from harness import DEFAULT_CMDLINE, REPO, VsockHost

lab = pytest.mark.lab

AGENT_PORT, STREAM_PORT = 1024, 1025
PROTO_VERSION = 1
HELLO, START, EXEC, SIGNAL, EXITED, STDIN_CLOSE, WINSIZE, UPDATE, OK, ERROR, STREAM = range(1, 12)
STDIN, STDOUT, STDERR, TTY = range(4)
ALL_CAPS = (1 << 41) - 1
BOOT_TIMEOUT = 180  # TCG lab: the guest boots slowly


# --- the TLV writer and reader (PROTOCOL.md "TLV") ---------------------------------------------

def u32(tag, v):
    return struct.pack("<HII", tag, 4, v)


def u64(tag, v):
    return struct.pack("<HIQ", tag, 8, v)


def flag(tag, v):
    return struct.pack("<HIB", tag, 1, 1 if v else 0)


def text(tag, s):
    b = s.encode()
    return struct.pack("<HI", tag, len(b)) + b


def lst(tag, *fields):
    body = b"".join(fields)
    return struct.pack("<HI", tag, len(body)) + body


def frame(msg_type, *fields, version=PROTO_VERSION):
    body = b"".join(fields)
    return struct.pack("<IHH", len(body), msg_type, version) + body


def fields_of(payload):
    """{tag: [raw value bytes, ...]} of a TLV payload (top level only)."""
    out, off = {}, 0
    while off < len(payload):
        tag, n = struct.unpack_from("<HI", payload, off)
        off += 6
        out.setdefault(tag, []).append(payload[off:off + n])
        off += n
    return out


def get_u32(f, tag):
    return struct.unpack("<I", f[tag][0])[0]


def process(args, env=(), cwd="/", uid=0, gid=0, terminal=False, caps=ALL_CAPS, extra=()):
    """A process list's fields (PROTOCOL.md spec tag 4): the three sets bounding, effective and
    permitted are caps, inheritable and ambient empty unless extra has them."""
    fields = [text(1, a) for a in args] + [text(2, e) for e in env]
    fields += [text(3, cwd), u32(4, uid), u32(5, gid), flag(8, terminal)]
    fields += [u64(9 + i, caps) for i in range(3)]
    if not any(f[:2] in (b"\x0c\x00", b"\x0d\x00") for f in extra):
        fields += [u64(12, 0), u64(13, 0)]
    return fields + list(extra)


def seccomp_deny_mkdir():
    """A classic BPF program (struct sock_filter[]) failing mkdir and mkdirat with EPERM."""
    insns = [(0x20, 0, 0, 0),                 # ld [0]: the syscall number
             (0x15, 2, 0, 83),                # jeq mkdir -> deny
             (0x15, 1, 0, 258),               # jeq mkdirat -> deny
             (0x06, 0, 0, 0x7fff0000),        # ret ALLOW
             (0x06, 0, 0, 0x00050000 | 1)]    # ret ERRNO(EPERM)
    return b"".join(struct.pack("<HBBI", *i) for i in insns)


def spec(hostname, proc_fields, privileged=False, root_ro=False, modules=(), extra=()):
    """The container spec hull-init reads at /hull/spec: root and mounts from the two shares,
    masked and read-only paths, the modules to load (file names), extra fields at the end."""
    mount = lst(5, text(1, "/mnt/sub"), text(2, "bind"), text(3, "sub"), u64(4, 0))
    mount_ro = lst(5, text(1, "/etc/conf.txt"), text(2, "bind"), text(3, "conf.txt"),
                   u64(4, 1))  # MS_RDONLY
    tmp = lst(5, text(1, "/scratch"), text(2, "tmpfs"), text(3, "tmpfs"), u64(4, 0),
              text(5, "size=1m"))
    return b"".join([u32(1, 1), text(2, hostname), lst(3, text(1, "rootfs"), flag(2, root_ro)),
                     lst(4, *proc_fields), mount, mount_ro, tmp, text(11, "mounts"),
                     text(7, "/proc/cmdline"), text(7, "/sys/firmware"), text(8, "/proc/sys"),
                     flag(10, privileged), *[text(13, m) for m in modules], *extra])


# --- the host's side -----------------------------------------------------------------------

def recv_exact(c, n):
    b = bytearray()
    while len(b) < n:
        k = c.recv(n - len(b))
        if not k:
            raise EOFError(f"connection ended after {len(b)} of {n} bytes")
        b += k
    return bytes(b)


def read_frame(c):
    length, msg_type, version = struct.unpack("<IHH", recv_exact(c, 8))
    assert version == PROTO_VERSION, f"frame version {version}"
    assert length <= 1 << 20, f"frame of {length} bytes"
    return msg_type, fields_of(recv_exact(c, length))


class Agent:
    """The agent connection: a thread reads messages into a queue the test takes them from."""

    def __init__(self, sock):
        self.sock = sock
        self.msgs = queue.Queue()
        self.pending = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            while True:
                self.msgs.put(read_frame(self.sock))
        except (OSError, EOFError, AssertionError) as e:
            self.msgs.put(("end", repr(e)))

    def send(self, data):
        self.sock.sendall(data)

    def expect(self, pred, what, timeout=60):
        """The first message (in arrival order) for which pred(type, fields) holds."""
        deadline = time.monotonic() + timeout
        while True:
            for m in self.pending:
                if m[0] != "end" and pred(*m):
                    self.pending.remove(m)
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {what} within {timeout} s; got {self.pending}")
            try:
                m = self.msgs.get(timeout=left)
            except queue.Empty:
                continue
            if m[0] == "end":
                raise AssertionError(f"agent connection ended waiting for {what}: {m[1]}; "
                                     f"got {self.pending}")
            self.pending.append(m)

    def answer(self, seq, timeout=60):
        return self.expect(lambda t, f: t in (OK, ERROR) and get_u32(f, 1) == seq,
                           f"answer to seq {seq}", timeout)

    def exited(self, pid_id, timeout=60):
        t, f = self.expect(lambda t, f: t == EXITED and get_u32(f, 2) == pid_id,
                           f"EXITED for process {pid_id}", timeout)
        return get_u32(f, 3), get_u32(f, 4)


def accept_streams(listener, count, timeout=60):
    """{(process id, stream): socket} of the next count stream connections."""
    out = {}
    listener.settimeout(timeout)
    for _ in range(count):
        c, _ = listener.accept()
        c.settimeout(timeout)
        t, f = read_frame(c)
        assert t == STREAM, f"stream connection began with message type {t}"
        out[(get_u32(f, 2), get_u32(f, 3))] = c
    return out


def read_all(c):
    b = bytearray()
    while True:
        k = c.recv(65536)
        if not k:
            return bytes(b)
        b += k


# --- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def hull_init_bin():
    path = REPO / "build" / "hull-init"
    if not path.is_file():
        pytest.fail(f"missing {path}: build it with `make build/hull-init` (or `make`)",
                    pytrace=False)
    return path


@pytest.fixture
def rundir():
    d = tempfile.mkdtemp(prefix="hull-gi-", dir="/run")  # sockets and shares: not on 9p
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


def busybox_rootfs(top):
    """A minimal rootfs: /bin/busybox, sh, cat and sleep, /tmp; no /proc, /sys, /dev (hull-init
    makes them)."""
    root = top / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "tmp").mkdir(mode=0o1777)
    (root / "etc").mkdir()
    (root / "srv").mkdir()
    shutil.copy("/bin/busybox", root / "bin" / "busybox")
    for applet in ("sh", "cat", "sleep"):
        os.symlink("busybox", root / "bin" / applet)
    # A symlink that tries to lead a mount point out of the root: RESOLVE_IN_ROOT resolves it
    # as /srv of the container, never the initramfs's (or the host's).
    os.symlink("/../../../../srv", root / "mnt")
    return root


def mounts_share(top):
    share = top / "mounts"
    (share / "sub").mkdir(parents=True)
    (share / "sub" / "hello.txt").write_text("from the host\n")
    (share / "conf.txt").write_text("conf\n")
    return share


def boot(hull, kernel, hull_init_bin, rundir, spec_bytes, modules=()):
    """Boot hull-init with spec_bytes as /hull/spec, modules ((name, contents) pairs) in
    /hull/modules, the busybox rootfs and the mounts share: (hull, host, agent listener, stream
    listener)."""
    root = busybox_rootfs(rundir)
    share = mounts_share(rundir)
    image = initramfs.Newc()
    for d in ("dev", "proc", "sys", "hull", "newroot"):
        image.dir(d)
    image.chardev("dev/console", 5, 1)
    image.file("init", hull_init_bin.read_bytes(), 0o755)
    image.file("hull/spec", spec_bytes)
    if modules:
        image.dir("hull/modules")
    for name, blob in modules:
        image.file(f"hull/modules/{name}", blob)
    initrd = rundir / "initrd.cpio"
    initrd.write_bytes(image.bytes())
    uds = rundir / "v.sock"
    host = VsockHost("hull", 3, uds)
    agent_l = host.listen_for_guest(AGENT_PORT)
    stream_l = host.listen_for_guest(STREAM_PORT)
    h = hull("--kernel", kernel, "--initrd", initrd, "--cpus", 1, "--memory", "256M",
             "--cmdline", DEFAULT_CMDLINE, "--fs", f"tag=rootfs,path={root}",
             "--fs", f"tag=mounts,path={share}", "--vsock", f"cid=3,uds={uds}")
    return h, host, agent_l, stream_l


def connect(h, agent_l):
    """hull-init's agent connection, HELLO read: an Agent."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    agent_l.settimeout(0.5)
    while True:
        try:
            c, _ = agent_l.accept()
            break
        except socket.timeout:
            pass
        # Meanwhile the console is read: a guest that ended first (hull-init: fatal) says why.
        if h.sel.get_map():
            h._pump(0.2)
        if ("hull-init: fatal" in h.stdout or h.proc.poll() is not None
                or time.monotonic() > deadline):
            h.kill()
            h.wait(10)
            pytest.fail(f"hull-init never connected to the agent port\n{h.describe()}",
                        pytrace=False)
    c.settimeout(None)
    a = Agent(c)
    a.hello = a.expect(lambda t, f: t == HELLO, "HELLO")[1]
    return a


@contextlib.contextmanager
def described(h, host):
    """A failed assertion inside carries hull's console and stderr; hull is killed at the end."""
    try:
        yield
    except AssertionError as e:
        h.kill()
        h.wait(10)
        raise AssertionError(f"{e}\n{h.describe()}") from e
    finally:
        h.kill()
        host.close()


def power_off(h, a):
    """hull closes the agent connection: the guest powers off, hull exits 0."""
    a.sock.shutdown(socket.SHUT_RDWR)
    a.sock.close()
    rc = h.wait(120)
    assert rc == 0, h.describe()
    assert "hull-init: fatal" not in h.stdout, h.describe()


# What Debian's cloud kernel needs as modules for hull-init (the project kernel has them built in).
CLOUD_MODULES = ("virtio_mmio", "virtiofs", "vmw_vsock_virtio_transport")


@lab
@pytest.mark.parametrize("kernel", ["bzimage", "cloud"])
def test_hull_init_runs_a_container(hull, kernels, hull_init_bin, rundir, kernel):
    """HELLO arrives; START runs the container's process with stdin, stdout and stderr as
    separate streams; EXEC runs more processes (env, cwd, uid, hostname, a tty, a missing
    command: 127); bind entries (a sub-directory rw, a file ro), a tmpfs, a masked and a
    read-only path are in place; a frame of another version is answered with ERROR; the main
    process's exit code (42) comes in EXITED; when hull closes the agent connection the guest
    powers off. With Debian's cloud kernel, hull-init first loads the modules the spec lists
    (virtio-mmio, virtio-fs, the vsock transport and their dependencies)."""
    main = process(["/bin/sh", "-c", "echo hi; echo oops >&2; read line; echo \"got $line\"; "
                    "exit 42"], env=["PATH=/bin"])
    mods = []
    if kernel == "cloud":
        kver = kernels["cloud"].name.removeprefix("vmlinuz-")
        mods = module_files(kver, CLOUD_MODULES)
    h, host, agent_l, stream_l = boot(hull, kernels[kernel], hull_init_bin, rundir,
                                      spec("hull-test", main, modules=[n for n, _ in mods]),
                                      mods)
    root, share = rundir / "rootfs", rundir / "mounts"
    with described(h, host):
        a = connect(h, agent_l)
        f = a.hello
        assert get_u32(f, 2) == 1, f  # cpus
        memory = struct.unpack("<Q", f[3][0])[0]
        assert 128 << 20 < memory <= 256 << 20, memory
        assert f[4][0], "no kernel release"
        assert get_u32(f, 5) == PROTO_VERSION

        # The container's process: three streams, OK with its pid.
        a.send(frame(START, u32(1, 1)))
        s0 = accept_streams(stream_l, 3)
        assert set(s0) == {(0, STDIN), (0, STDOUT), (0, STDERR)}, s0
        t, f = a.answer(1)
        assert t == OK, f
        assert get_u32(f, 2) > 1  # a guest pid, never PID 1 itself

        # A frame of another version gets ERROR with its seq; the connection goes on.
        a.send(frame(START, u32(1, 2), version=7))
        t, f = a.answer(2)
        assert t == ERROR, f

        # EXEC: env, cwd, uid/gid, hostname, the mounts as the process sees them.
        script = ("echo $FOO; pwd; id -u; id -g; hostname; cat /mnt/sub/hello.txt; "
                  "echo new > /mnt/sub/new.txt && echo wrote-sub; "
                  "cat /etc/conf.txt; echo x > /etc/conf.txt || echo conf-ro; "
                  "grep -c . /proc/cmdline; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/printk || echo sys-ro; "
                  "grep -q ' /scratch tmpfs ' /proc/mounts && echo scratch-tmpfs; "
                  "test -c /dev/null && test -L /dev/ptmx && echo devs; exit 3")
        p1 = process(["sh", "-c", script], env=["PATH=/bin", "FOO=bar"], cwd="/tmp",
                     uid=0, gid=0)
        a.send(frame(EXEC, u32(1, 3), u32(2, 1), lst(3, *p1)))
        s1 = accept_streams(stream_l, 3)
        t, f = a.answer(3)
        assert t == OK, f
        out1, err1 = read_all(s1[(1, STDOUT)]), read_all(s1[(1, STDERR)])
        assert a.exited(1) == (0, 3), (out1, err1)
        lines = out1.decode().splitlines()
        assert lines == ["bar", "/tmp", "0", "0", "hull-test", "from the host", "wrote-sub",
                         "conf", "conf-ro", "0", "0", "sys-ro", "scratch-tmpfs", "devs"], \
            (out1, err1)
        assert (share / "sub" / "new.txt").read_text() == "new\n"
        assert (share / "conf.txt").read_text() == "conf\n"
        # The rootfs's /mnt symlink kept the mount inside the root.
        assert (root / "srv" / "sub").is_dir(), sorted(os.listdir(root))

        # EXEC as another user, and a command that does not exist: 127, the reason on stderr.
        p2 = process(["sh", "-c", "id -u; id -g"], env=["PATH=/bin"], uid=1000, gid=1000,
                     caps=0)
        a.send(frame(EXEC, u32(1, 4), u32(2, 2), lst(3, *p2)))
        s2 = accept_streams(stream_l, 3)
        assert a.answer(4)[0] == OK
        assert read_all(s2[(2, STDOUT)]) == b"1000\n1000\n"
        assert a.exited(2) == (0, 0)
        p3 = process(["nonexistent-command"], env=["PATH=/bin"])
        a.send(frame(EXEC, u32(1, 5), u32(2, 3), lst(3, *p3)))
        s3 = accept_streams(stream_l, 3)
        assert a.answer(5)[0] == OK
        err3 = read_all(s3[(3, STDERR)])
        assert a.exited(3) == (0, 127), err3
        assert err3 == b"hull-init: exec nonexistent-command: No such file or directory\n"

        # A process with a terminal: one tty stream through hull-init's relay.
        p4 = process(["sh", "-c", "tty; stty size; read x; echo \"tty got $x\"; exit 5"],
                     env=["PATH=/bin"], terminal=True)
        a.send(frame(EXEC, u32(1, 6), u32(2, 4), lst(3, *p4)))
        s4 = accept_streams(stream_l, 1)
        assert set(s4) == {(4, TTY)}
        assert a.answer(6)[0] == OK
        a.send(frame(WINSIZE, u32(1, 7), u32(2, 4), u32(3, 33), u32(4, 101)))
        assert a.answer(7)[0] == OK
        s4[(4, TTY)].sendall(b"abc\n")
        out4 = read_all(s4[(4, TTY)]).decode().replace("\r\n", "\n")
        assert a.exited(4) == (0, 5), out4
        assert "/dev/pts/" in out4 and "tty got abc" in out4, out4

        # The container's process: its stdin, stdout and stderr, then its exit code.
        s0[(0, STDIN)].sendall(b"x\n")
        s0[(0, STDIN)].shutdown(socket.SHUT_WR)
        out0, err0 = read_all(s0[(0, STDOUT)]), read_all(s0[(0, STDERR)])
        assert a.exited(0) == (0, 42), (out0, err0)
        assert out0 == b"hi\ngot x\n"
        assert err0 == b"oops\n"

        power_off(h, a)


def run_exec(a, stream_l, seq, pid_id, proc_fields):
    """EXEC a process and read its stdout and stderr to the end: (stdout, stderr)."""
    a.send(frame(EXEC, u32(1, seq), u32(2, pid_id), lst(3, *proc_fields)))
    st = accept_streams(stream_l, 3)
    t, f = a.answer(seq)
    assert t == OK, f
    return read_all(st[(pid_id, STDOUT)]), read_all(st[(pid_id, STDERR)])


@lab
def test_hull_init_signals_update_privileged(hull, project_bzimage, hull_init_bin, rundir):
    """A privileged container (its root read-only, its mount points made before that) sees the
    guest's devices and a writable /sys, and has every
    capability; SIGNAL reaches one process (a shell's trap sees SIGTERM) or all of them
    (SIGKILL through cgroup.kill, the container's process included); UPDATE rewrites the
    container's cgroup; the tty stream's SHUTDOWN, or STDIN_CLOSE, ends a tty's input with VEOF;
    requests that make no sense get ERROR."""
    main = process(["sh", "-c", "while :; do sleep 1; done"], env=["PATH=/bin"])
    filt = seccomp_deny_mkdir()
    seccomp_field = struct.pack("<HI", 15, len(filt)) + filt
    h, host, agent_l, stream_l = boot(hull, project_bzimage, hull_init_bin, rundir,
                                      spec("priv", main, privileged=True, root_ro=True,
                                           extra=(seccomp_field,)))
    with described(h, host):
        a = connect(h, agent_l)
        a.send(frame(START, u32(1, 1)))
        s0 = accept_streams(stream_l, 3)
        assert a.answer(1)[0] == OK

        out, err = run_exec(a, stream_l, 2, 1, process(
            ["sh", "-c", "test -c /dev/ttyS0 && echo guest-devices; "
             "grep -q ' /sys sysfs rw,' /proc/mounts && echo sys-rw; "
             "grep -q '/proc/cmdline' /proc/mounts || echo unmasked; "
             "grep CapBnd /proc/self/status; cat /proc/self/cgroup; "
             "echo x > /rootfile || echo root-ro"], env=["PATH=/bin"]))
        assert a.exited(1) == (0, 0), (out, err)
        lines = out.decode().splitlines()
        assert lines[:3] == ["guest-devices", "sys-rw", "unmasked"], (out, err)
        assert lines[3].split() == ["CapBnd:", "%016x" % ALL_CAPS], lines
        assert lines[4] == "0::/hull", lines
        assert lines[5] == "root-ro", (out, err)

        # Identity and limits: uid, gid and groups, umask, rlimits, OOM score, an ambient
        # capability kept across the uid change, no_new_privs with the spec's seccomp filter.
        net_bind = 1 << 10
        out, err = run_exec(a, stream_l, 16, 6, process(
            ["sh", "-c", "id -u; id -G; umask; ulimit -n; ulimit -Hn; "
             "cat /proc/self/oom_score_adj; grep -E 'Cap(Eff|Amb)|NoNewPrivs' /proc/self/status;"
             " mkdir /tmp/d 2>&1 || echo mkdir-denied"],
            env=["PATH=/bin"], uid=1000, gid=1000, caps=net_bind,
            extra=[u32(6, 10), u32(6, 20), u32(7, 0o27), lst(15, u32(1, 7), u64(2, 100),
                                                            u64(3, 200)),
                   u32(16, 500), flag(14, True), u64(12, net_bind), u64(13, net_bind)]))
        assert a.exited(6) == (0, 0), (out, err)
        lines = [" ".join(x.split()) for x in out.decode().splitlines()]
        assert lines[:6] == ["1000", "1000 10 20", "0027", "100", "200", "500"], (out, err)
        assert lines[6:9] == ["CapEff: %016x" % net_bind, "CapAmb: %016x" % net_bind,
                              "NoNewPrivs: 1"], (out, err)
        assert lines[-1] == "mkdir-denied" and "Operation not permitted" in lines[-2], out

        # UPDATE: the cgroup's files are rewritten; a value the kernel refuses is an ERROR.
        a.send(frame(UPDATE, u32(1, 3), lst(2, u64(9, 77), u64(6, 64 << 20))))
        assert a.answer(3)[0] == OK
        out, err = run_exec(a, stream_l, 4, 2, process(
            ["cat", "/sys/fs/cgroup/hull/pids.max", "/sys/fs/cgroup/hull/memory.max"],
            env=["PATH=/bin"]))
        assert a.exited(2) == (0, 0), err
        assert out == b"77\n67108864\n", (out, err)
        a.send(frame(UPDATE, u32(1, 5), lst(2, text(4, "99"))))  # no CPU 99
        t, f = a.answer(5)
        assert t == ERROR and b"cpuset.cpus" in f[3][0], f

        # A tty: the stream's SHUTDOWN SEND (how hull ends a tty's input) is VEOF after the
        # input it carried, so cat sees its line, then the end of its input.
        a.send(frame(EXEC, u32(1, 6), u32(2, 3), lst(3, *process(
            ["cat"], env=["PATH=/bin"], terminal=True))))
        tty = accept_streams(stream_l, 1)[(3, TTY)]
        assert a.answer(6)[0] == OK
        tty.sendall(b"typed\n")
        tty.shutdown(socket.SHUT_WR)
        out = read_all(tty)
        assert a.exited(3) == (0, 0), out
        assert out.count(b"typed") == 2, out  # the echo and cat's copy

        # STDIN_CLOSE is a tty's VEOF too, once the pty has the input (its echo came back).
        a.send(frame(EXEC, u32(1, 7), u32(2, 6), lst(3, *process(
            ["cat"], env=["PATH=/bin"], terminal=True))))
        tty = accept_streams(stream_l, 1)[(6, TTY)]
        assert a.answer(7)[0] == OK
        tty.sendall(b"again\n")
        tty.settimeout(60)
        seen = b""
        while b"again" not in seen:
            chunk = tty.recv(4096)
            assert chunk, seen
            seen += chunk
        a.send(frame(STDIN_CLOSE, u32(1, 16), u32(2, 6)))
        assert a.answer(16)[0] == OK
        out = seen + read_all(tty)
        assert a.exited(6) == (0, 0), out
        assert out.count(b"again") == 2, out

        # SIGNAL one process: a trap sees SIGTERM; a process without a tty has no window size.
        a.send(frame(EXEC, u32(1, 8), u32(2, 4), lst(3, *process(
            ["sh", "-c", "trap 'echo got-term; exit 7' TERM; echo ready; "
             "while :; do sleep 1; done"], env=["PATH=/bin"]))))
        s4 = accept_streams(stream_l, 3)
        assert a.answer(8)[0] == OK
        assert s4[(4, STDOUT)].recv(64) == b"ready\n"
        a.send(frame(WINSIZE, u32(1, 9), u32(2, 4), u32(3, 10), u32(4, 10)))
        t, f = a.answer(9)
        assert t == ERROR and get_u32(f, 2) == 25, f  # ENOTTY
        a.send(frame(SIGNAL, u32(1, 10), u32(2, 4), u32(3, 15)))
        assert a.answer(10)[0] == OK
        assert read_all(s4[(4, STDOUT)]) == b"got-term\n"
        assert a.exited(4) == (0, 7)

        # Requests that make no sense: a second START, a signal to nobody, an unknown id.
        a.send(frame(START, u32(1, 11)))
        assert a.answer(11)[0] == ERROR
        a.send(frame(SIGNAL, u32(1, 12), u32(2, 99), u32(3, 15)))
        t, f = a.answer(12)
        assert t == ERROR and get_u32(f, 2) == 3, f  # ESRCH
        a.send(frame(STDIN_CLOSE, u32(1, 13)))  # no process id: does not decode
        assert a.answer(13)[0] == ERROR

        # SIGNAL all with SIGKILL: every process of the container, its main one too.
        a.send(frame(EXEC, u32(1, 14), u32(2, 5), lst(3, *process(["sleep", "1000"],
                                                                  env=["PATH=/bin"]))))
        accept_streams(stream_l, 3)
        assert a.answer(14)[0] == OK
        a.send(frame(SIGNAL, u32(1, 15), u32(2, 0), u32(3, 9), flag(4, True)))
        assert a.answer(15)[0] == OK
        assert a.exited(5) == (1, 9)
        assert a.exited(0) == (1, 9)
        assert read_all(s0[(0, STDOUT)]) == b""
        power_off(h, a)


BAD_MOUNT = lst(5, text(1, "/data"), text(2, "nfs"), text(3, "server:/export"), u64(4, 0))


@lab
@pytest.mark.parametrize("case", ["garbage", "bad-mount"])
def test_hull_init_fatal(hull, project_bzimage, hull_init_bin, rundir, case):
    """A spec that does not decode, or one hull-init cannot carry out (an NFS mount), is
    reported on the console as "hull-init: fatal: ..." and the guest powers off without ever
    connecting to the agent port (PROTOCOL.md, "When hull-init cannot start")."""
    if case == "garbage":
        data, want = b"\xff" * 40, "hull-init: fatal: /hull/spec: the spec does not decode"
    else:
        data = spec("bad", process(["true"]), extra=(BAD_MOUNT,))
        want = "hull-init: fatal: mount /data: type nfs is not one hull-init makes"
    h, host, agent_l, stream_l = boot(hull, project_bzimage, hull_init_bin, rundir, data)
    try:
        rc = h.wait(BOOT_TIMEOUT)
        assert want in h.stdout, h.describe()
        assert rc == 0, h.describe()
        agent_l.settimeout(0.1)
        with pytest.raises(socket.timeout):
            agent_l.accept()
    finally:
        h.kill()
        host.close()
