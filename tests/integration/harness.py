"""harness: what the integration tests share besides fixtures: where things are, which machine
this is, and Hull, a `hull vm` process whose console is read as it comes."""

import contextlib
import os
import re
import selectors
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# vmm's default command line (arch_default_cmdline()); --cmdline replaces it entirely.
DEFAULT_CMDLINE = ("console=ttyS0 reboot=k panic=-1 pci=conf1,noearly i8042.noaux i8042.nomux "
                   "i8042.dumbkbd 8250.nr_uarts=1 quiet")


def guest_cmdline(name, extra=""):
    """The default command line plus `hull.test=NAME`, which selects /tests/NAME.sh in the guest."""
    return " ".join(filter(None, [DEFAULT_CMDLINE, f"hull.test={name}", extra]))


# --- environment -----------------------------------------------------------------------------

def _module(name):
    return Path("/sys/module", name).is_dir()


def have_kvm():
    """True when this machine has a /dev/kvm of any kind (hardware-style or PVM)."""
    return Path("/dev/kvm").is_char_device()


def hardware_kvm():
    """True when /dev/kvm is hardware-style KVM: the device exists, kvm_amd or kvm_intel is
    there, kvm_pvm is not (the same test as tests/run's have_hw_kvm). Hosts with hardware
    virtualization and the lab both qualify: lab tests run wherever this holds."""
    return (have_kvm() and (_module("kvm_amd") or _module("kvm_intel"))
            and not _module("kvm_pvm"))


def pvm_host():
    return _module("kvm_pvm")


def in_lab():
    """True inside tests/lab/lab.sh (which sets HULL_LAB=1): for the few things only the lab's
    own machine may do to itself (see lab_allow_user_namespaces)."""
    return os.environ.get("HULL_LAB") == "1" and hardware_kvm()


# --- running hull ----------------------------------------------------------------------------

class Hull:
    """A running `hull vm`: its output is collected as it comes; stdin is a pipe by default."""

    def __init__(self, hull_bin, args, cwd=REPO, stdin=subprocess.PIPE, argv=None):
        self.args = argv or [str(hull_bin), "vm", *map(str, args)]
        self.start = time.monotonic()
        self.proc = subprocess.Popen(self.args, cwd=cwd, stdin=stdin,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = bytearray()
        self.err = bytearray()
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ, self.out)
        self.sel.register(self.proc.stderr, selectors.EVENT_READ, self.err)
        self.rc = None

    @property
    def stdout(self):
        return self.out.decode(errors="replace").replace("\r\n", "\n")

    @property
    def stderr(self):
        return self.err.decode(errors="replace")

    def _pump(self, timeout):
        for key, _ in self.sel.select(timeout):
            chunk = os.read(key.fileobj.fileno(), 65536)
            if chunk:
                key.data.extend(chunk)
            else:
                self.sel.unregister(key.fileobj)

    def expect(self, pattern, timeout):
        """Wait until stdout matches the regex; return the match. Fails with the output so far."""
        m = self.wait_for(pattern, timeout)
        if m is None:
            pytest.fail(f"no /{pattern}/ on the console: hull ended first\n{self.describe()}",
                        pytrace=False)
        return m

    def wait_for(self, pattern, timeout):
        """Like expect(), but returns None instead of failing when hull ends first (all its
        output read); still fails (and kills hull) on timeout."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.stdout)
            if m:
                return m
            if not self.sel.get_map() and self.proc.poll() is not None:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                pytest.fail(f"no /{pattern}/ on the console after {timeout} s\n{self.describe()}",
                            pytrace=False)
            if not self.sel.get_map():
                time.sleep(0.05)
            else:
                self._pump(min(left, 0.5))

    def send(self, data):
        self.proc.stdin.write(data.encode() if isinstance(data, str) else data)
        self.proc.stdin.flush()

    def wait(self, timeout):
        """Wait for exit and EOF on both pipes; on timeout kill hull and fail."""
        deadline = time.monotonic() + timeout
        while self.sel.get_map() or self.proc.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                pytest.fail(f"hull still running after {timeout} s: killed\n{self.describe()}",
                            pytrace=False)
            if self.sel.get_map():
                self._pump(min(left, 0.5))
            else:
                time.sleep(0.02)
        self.rc = self.proc.wait()
        self.elapsed = time.monotonic() - self.start
        self.sel.close()
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        return self.rc

    # How long a SIGKILLed hull may take to die: its vCPUs leave KVM_RUN at their next exit.
    KILL_WAIT = 60

    def kill(self):
        """SIGKILL hull and reap it. One that does not die is stuck in the kernel: that is a
        failure with where each thread sleeps (/proc), never a test run that waits for ever."""
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(self.KILL_WAIT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"hull (pid {self.proc.pid}) still alive {self.KILL_WAIT} s after "
                        f"SIGKILL:\n{kernel_stacks(self.proc.pid)}\n{self.describe()}",
                        pytrace=False)

    def describe(self):
        return (f"command: {' '.join(self.args)}\nexit status: {self.proc.poll()}\n"
                f"--- stderr ---\n{self.stderr[-4000:]}\n--- console (last 6000 chars) ---\n"
                f"{self.stdout[-6000:]}")


def kernel_stacks(pid):
    """Each thread of pid: its name, state and kernel stack (what keeps it from dying)."""
    lines = []
    for task in sorted(Path(f"/proc/{pid}/task").glob("*")):
        def read(name):
            try:
                return (task / name).read_text().strip()
            except OSError as e:
                return f"({e.strerror})"
        state = re.search(r"^State:\s*(.*)$", read("status"), re.M)
        lines.append(f"thread {task.name} {read('comm')}: {state.group(1) if state else '?'}, "
                     f"wchan {read('wchan')}")
        lines += ["    " + line for line in read("stack").splitlines()]
    return "\n".join(lines) or f"(no /proc/{pid}/task)"


# --- QEMU in hull's place --------------------------------------------------------------------

def vmm_under_test():
    """"hull", or "qemu" when HULL_TEST_VMM=qemu: the virtio-blk tests then run the same guests
    under QEMU microvm, which checks the tests, the image and the guest scripts themselves."""
    vmm = os.environ.get("HULL_TEST_VMM", "hull")
    if vmm not in ("hull", "qemu"):
        pytest.fail(f"HULL_TEST_VMM={vmm}: want hull or qemu", pytrace=False)
    return vmm


def parse_disk(spec):
    """--disk path=FILE[,ro=on][,cache=MODE][,serial=ID] as a dict (path given, the rest as is)."""
    fields = dict(kv.split("=", 1) for kv in spec.split(","))
    if "path" not in fields:
        raise ValueError(f"--disk {spec}: no path=")
    return fields


def qemu_argv(args):
    """The QEMU microvm command equivalent to `hull vm ARGS` for the options the tests use
    (the disks come out as vda, vdb, ... in the order given, as with hull). --net and --vsock:
    see qemu_net_vsock_argv()."""
    it = iter(map(str, args))
    opts = {"--cpus": "1", "--memory": "512M", "--rng": "on"}
    disks, nets, vsock = [], [], None
    for a in it:
        if a == "--disk":
            disks.append(parse_disk(next(it)))
        elif a == "--net":
            nets.append(parse_net(next(it)))
        elif a == "--vsock":
            vsock = parse_vsock(next(it))
        elif a in ("--kernel", "--initrd", "--cmdline", "--cpus", "--memory", "--rng"):
            opts[a] = next(it)
        else:
            raise ValueError(f"qemu_argv: no QEMU equivalent for hull option {a}")
    argv = ["qemu-system-x86_64", "-M", "microvm,rtc=on,acpi=on", "-accel", "kvm", "-cpu", "host",
            "-smp", opts["--cpus"], "-m", opts["--memory"], "-nodefaults", "-no-user-config",
            "-display", "none", "-serial", "stdio", "-no-reboot",
            "-global", "virtio-mmio.force-legacy=false", "-kernel", opts["--kernel"],
            "-append", opts.get("--cmdline", DEFAULT_CMDLINE)]
    if opts.get("--initrd", "none") != "none":
        argv += ["-initrd", opts["--initrd"]]
    devices = []
    for i, d in enumerate(disks):
        drive = (f"file={d['path']},if=none,id=d{i},format=raw,"
                 f"cache={d.get('cache', 'writeback')}")
        if d.get("ro") == "on":
            drive += ",readonly=on"
        if d.get("cache") == "none":
            drive += ",aio=io_uring"
        dev = f"virtio-blk-device,drive=d{i}"
        if "serial" in d:
            dev += f",serial={d['serial']}"
        devices.append(["-drive", drive, "-device", dev])
    if opts["--rng"] == "on":
        devices.append(["-object", "rng-random,id=rng0,filename=/dev/urandom",
                        "-device", "virtio-rng-device,rng=rng0"])
    for dev in devices:
        argv += dev
    return argv + qemu_net_vsock_argv(nets, vsock)


# --- virtio-fs under QEMU: virtiofsd processes -------------------------------------------------

VIRTIOFSD = "/usr/lib/qemu/virtiofsd"

# hull's --fs cache= modes and virtiofsd's names for the same behaviour.
VIRTIOFSD_CACHE = {"auto": "auto", "always": "always", "never": "none"}


def parse_fs(spec):
    """--fs tag=TAG,path=DIR[,ro=on][,cache=MODE] as a dict (tag and path given, the rest as is)."""
    fields = dict(kv.split("=", 1) for kv in spec.split(","))
    if "tag" not in fields or "path" not in fields:
        raise ValueError(f"--fs {spec}: needs tag= and path=")
    return fields


class Virtiofsd:
    """QEMU's virtiofsd serving one --fs spec on a unix socket in rundir (which must be local:
    sockets cannot be bound on the lab's 9p share). ro=on has no virtiofsd option in QEMU 7.2:
    the directory is served through a read-only bind mount instead (needs root, as in the lab),
    so the guest's writes fail with the host's EROFS just as hull's ro=on answers them."""

    def __init__(self, spec, rundir, index):
        self.spec = spec
        self.sock = Path(rundir) / f"virtiofsd-{index}.sock"
        self.log = Path(rundir) / f"virtiofsd-{index}.log"
        self.bind = None
        source = spec["path"]
        if spec.get("ro") == "on":
            self.bind = Path(rundir) / f"ro-{index}"
            self.bind.mkdir()
            subprocess.run(["mount", "--bind", source, self.bind], check=True)
            subprocess.run(["mount", "-o", "remount,bind,ro", self.bind], check=True)
            source = str(self.bind)
        cache = VIRTIOFSD_CACHE[spec.get("cache", "auto")]
        self.argv = [VIRTIOFSD, f"--socket-path={self.sock}", "-o", f"source={source}",
                     "-o", f"cache={cache}", "-o", "xattr", "-o", "log_level=warn"]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not self.sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"virtiofsd for {spec['path']} did not start: "
                                   f"{self.log.read_text(errors='replace')}")
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.bind:
            subprocess.run(["umount", "-l", self.bind])
            self.bind.rmdir()
            self.bind = None


def qemu_fs_argv(argv, memory, sockets, tags):
    """QEMU argv (from qemu_argv) with vhost-user-fs devices on the given sockets: vhost-user
    needs the guest RAM in a shared memfd, so the machine gets a memory backend."""
    out = list(argv)
    i = out.index("-M")
    out[i + 1] += ",memory-backend=mem"
    out += ["-object", f"memory-backend-memfd,id=mem,size={memory},share=on"]
    for n, (sock, tag) in enumerate(zip(sockets, tags)):
        out += ["-chardev", f"socket,id=fs{n},path={sock}",
                "-device", f"vhost-user-fs-device,chardev=fs{n},tag={tag}"]
    return out


def split_fs_args(args):
    """(ARGS without the --fs options, their specs): qemu_argv() knows no --fs."""
    rest, specs = [], []
    it = iter(map(str, args))
    for a in it:
        if a == "--fs":
            specs.append(parse_fs(next(it)))
        else:
            rest.append(a)
    return rest, specs


def memory_of(args):
    args = list(map(str, args))
    return args[args.index("--memory") + 1] if "--memory" in args else "512M"


# --- scratch filesystems ---------------------------------------------------------------------

def run_checked(*cmd):
    """Run cmd; its stdout, or RuntimeError naming the command, its status and its output."""
    p = subprocess.run(list(map(str, cmd)), capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: exit {p.returncode}: "
                           f"{p.stderr.strip() or p.stdout.strip()}")
    return p.stdout


@contextlib.contextmanager
def ext4_on_loop(size, prefix, mkfs_opts=(), mount_opts="defaults"):
    """A fresh ext4 filesystem on a loop device over a sparse file of size bytes in /tmp (tmpfs
    in the lab, which lacks O_DIRECT and user.* xattrs before Linux 6.6): yields its mount point
    and removes everything afterwards. RuntimeError or OSError when it cannot be set up."""
    top = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    backing, mnt = top / "backing.img", top / "mnt"
    loop = None
    try:
        mnt.mkdir()
        subprocess.run(["modprobe", "-a", "loop", "ext4"], capture_output=True)
        with open(backing, "wb") as f:
            f.truncate(size)
        loop = run_checked("losetup", "--find", "--show", backing).strip()
        run_checked("mkfs.ext4", "-q", "-F", *mkfs_opts, loop)
        run_checked("mount", "-t", "ext4", "-o", mount_opts, loop, mnt)
        try:
            yield mnt
        finally:
            subprocess.run(["umount", mnt])
    finally:
        if loop:
            subprocess.run(["losetup", "-d", loop])
        shutil.rmtree(top, ignore_errors=True)


# --- virtio-vsock and virtio-net: options, QEMU's equivalents, the host's ends ----------------

def parse_net(spec):
    """--net tap=NAME[,mac=MAC] or passt[=SOCKET][,mac=MAC] as a dict: "backend" (tap or passt),
    "tap" or "passt" (the name, the socket or ""), "mac" when given."""
    out = {}
    for kv in spec.split(","):
        key, _, value = kv.partition("=")
        if key in ("tap", "passt"):
            if "backend" in out:
                raise ValueError(f"--net {spec}: two backends")
            out["backend"] = key
        out[key] = value
    if "backend" not in out or (out["backend"] == "tap" and not out["tap"]):
        raise ValueError(f"--net {spec}: want tap=NAME or passt[=SOCKET]")
    return out


def parse_vsock(spec):
    """--vsock cid=N,uds=PATH as a dict with an int "cid" and "uds"."""
    fields = dict(kv.split("=", 1) for kv in spec.split(","))
    if "cid" not in fields or "uds" not in fields:
        raise ValueError(f"--vsock {spec}: needs cid= and uds=")
    fields["cid"] = int(fields["cid"])
    return fields


def qemu_net_vsock_argv(nets, vsock):
    """QEMU's devices for hull's --net and --vsock specs: virtio-net-device on a netdev tap
    (an existing TAP, no scripts; vhost=off, QEMU's default) or a netdev stream to passt's
    socket (QEMU cannot start passt: passt without a socket is the caller's to start); and
    vhost-vsock-device, whose host side is AF_VSOCK, not hull's Unix socket (see VsockHost)."""
    argv = []
    for i, n in enumerate(nets):
        if n["backend"] == "tap":
            netdev = f"tap,id=n{i},ifname={n['tap']},script=no,downscript=no"
        elif n["passt"]:
            netdev = f"stream,id=n{i},server=off,addr.type=unix,addr.path={n['passt']}"
        else:
            raise ValueError("qemu_argv: --net passt without a socket: start passt and give "
                             "passt=SOCKET")
        dev = f"virtio-net-device,netdev=n{i}" + (f",mac={n['mac']}" if n.get("mac") else "")
        argv += ["-netdev", netdev, "-device", dev]
    if vsock:
        argv += ["-device", f"vhost-vsock-device,guest-cid={vsock['cid']}"]
    return argv


def start_vmm(hull_bin, args, wrap=(), cwd=REPO):
    """`hull vm ARGS` (or its QEMU equivalent under HULL_TEST_VMM=qemu) as a Hull, run through
    the command prefix wrap (e.g. `ip netns exec NS`)."""
    if vmm_under_test() == "qemu":
        argv = qemu_argv(args)
    else:
        argv = [str(hull_bin), "vm", *map(str, args)]
    return Hull(None, args, cwd=cwd, argv=[*map(str, wrap), *argv])


def rss_bytes(pid):
    """A process's resident set size (VmRSS in /proc/PID/status), in bytes."""
    m = re.search(r"^VmRSS:\s+(\d+) kB$", Path(f"/proc/{pid}/status").read_text(), re.M)
    if not m:
        raise RuntimeError(f"no VmRSS in /proc/{pid}/status")
    return int(m.group(1)) * 1024


class VsockHost:
    """The host's end of a VM's vsock device, the same for the tests whichever VMM runs:

    hull: the hybrid ("Firecracker") Unix socket uds. connect_to_guest(P) connects to it, sends
    "CONNECT P\\n" and reads "OK <n>\\n"; the guest's connections to CID 2 port P reach a Unix
    socket listening at uds_P, which listen_for_guest(P) makes.
    QEMU (vhost-vsock): AF_VSOCK sockets, to the guest's cid and listening on any CID.

    connect_to_guest raises ConnectionError when the guest refuses (no listener on P: hull
    closes the Unix connection without "OK", AF_VSOCK fails with ECONNRESET).
    """

    def __init__(self, vmm, cid, uds):
        self.vmm, self.cid, self.uds = vmm, cid, str(uds)
        self.listeners = []

    def connect_to_guest(self, port, timeout=20):
        if self.vmm == "qemu":
            s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
            s.settimeout(timeout)
            try:
                s.connect((self.cid, port))
            except BaseException:
                s.close()
                raise
            return s
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.uds)
            s.sendall(f"CONNECT {port}\n".encode())
            reply = bytearray()
            while not reply.endswith(b"\n"):
                b = s.recv(1)  # one at a time: the guest's data may follow the line
                if not b:
                    raise ConnectionRefusedError(
                        f"{self.uds}: CONNECT {port}: closed after {bytes(reply)!r}")
                reply += b
                if len(reply) > 64:
                    raise ConnectionError(f"{self.uds}: CONNECT {port}: reply {bytes(reply)!r}")
            if not re.fullmatch(rb"OK \d+\n", bytes(reply)):
                raise ConnectionError(f"{self.uds}: CONNECT {port}: reply {bytes(reply)!r}")
        except BaseException:
            s.close()
            raise
        return s

    def listen_for_guest(self, port, backlog=256):
        if self.vmm == "qemu":
            s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
            s.bind((socket.VMADDR_CID_ANY, port))
        else:
            path = f"{self.uds}_{port}"
            if os.path.exists(path):
                os.unlink(path)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
        s.listen(backlog)
        self.listeners.append(s)
        return s

    def close(self):
        for s in self.listeners:
            if s.family == socket.AF_UNIX:
                with contextlib.suppress(OSError):
                    os.unlink(s.getsockname())
            s.close()
        self.listeners = []


class NetNs:
    """A network namespace made for one test (`ip netns add`); delete() removes it and every
    interface in it. Commands run inside through argv()/run()."""

    def __init__(self, prefix="hull"):
        self.name = f"{prefix}-{os.getpid()}-{os.urandom(3).hex()}"
        run_checked("ip", "netns", "add", self.name)
        try:
            self.run("ip", "link", "set", "lo", "up")
        except RuntimeError:
            self.delete()
            raise

    def argv(self, *cmd):
        return ["ip", "netns", "exec", self.name, *map(str, cmd)]

    def run(self, *cmd):
        return run_checked(*self.argv(*cmd))

    def add_tap(self, name, cidr):
        """A persistent TAP interface NAME with address cidr, up (its carrier comes when a VMM
        opens it)."""
        self.run("ip", "tuntap", "add", "dev", name, "mode", "tap")
        self.run("ip", "addr", "add", cidr, "dev", name)
        self.run("ip", "link", "set", name, "up")

    def delete(self):
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True)


def lab_mount_cgroup2(where="/sys/fs/cgroup"):
    """Mount cgroup v2 at where in the lab, whose machine mounts no cgroup filesystem (a pure
    v2 host then, as systemd makes one); a no-op where cgroup2 is there already. Raises
    RuntimeError outside the lab or when the mount fails."""
    if os.path.isfile(os.path.join(where, "cgroup.controllers")):
        return
    if not in_lab():
        raise RuntimeError(f"no cgroup v2 at {where}, and this is not the lab")
    p = subprocess.run(["mount", "-t", "cgroup2", "cgroup2", where], capture_output=True,
                       text=True)
    if p.returncode:
        raise RuntimeError(f"mount -t cgroup2 {where}: {p.stderr.strip()}")


def lab_allow_user_namespaces():
    """Make `unshare --user` work in the lab, or raise RuntimeError.

    The lab runs its command chrooted into an overlay mounted at /newroot of L1's initramfs,
    and the kernel refuses new user namespaces to a chrooted process (passt needs one for its
    sandbox; so do the rootless tests). Moving the overlay over the initramfs's root (what
    switch_root does) ends that: every process of the lab then has the root of its mount
    namespace as its root. The initramfs's PID 1 keeps its own root and finishes the lab run as
    before. Done once per lab run; a no-op where user namespaces already work.
    """
    probe = ["unshare", "--user", "true"]
    if subprocess.run(probe, capture_output=True).returncode == 0:
        return
    if not in_lab():
        raise RuntimeError("`unshare --user true` fails on this machine")
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    cwd = os.getcwd()
    fd = os.open("/proc/1/root", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fchdir(fd)
        if libc.mount(b"/", b".", None, 8192, None) != 0:  # MS_MOVE
            err = ctypes.get_errno()
            raise RuntimeError(f"moving the lab's root over L1's initramfs: {os.strerror(err)}")
    finally:
        os.chdir(cwd)
        os.close(fd)
    p = subprocess.run(probe, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"unshare --user still fails: {p.stderr.strip()}")


def kvm_for_group(group="kvm"):
    """The gid of group, after making /dev/kvm usable by it (root:GROUP 0660, as udev sets it
    up on Debian; the lab's devtmpfs leaves it 0600): the unprivileged tests run as nobody
    with this one supplementary group."""
    import grp
    gid = grp.getgrnam(group).gr_gid
    st = os.stat("/dev/kvm")
    if st.st_gid != gid or (st.st_mode & 0o060) != 0o060:
        os.chown("/dev/kvm", 0, gid)
        os.chmod("/dev/kvm", 0o660)
    return gid
