"""clients: private setups of the real container engines that launch an OCI runtime (podman,
containerd driven by ctr, dockerd driven by docker), for the client tests and the OCI benchmark.

Each setup keeps its configuration, storage, state, sockets and logs under one directory of its
own (made on a local tmpfs: /run), starts its daemon itself, and removes everything on close:
the machine's own engines, their configuration in /etc and their stores are never used. The
runtime they launch is HULL_TEST_RUNTIME (a path): hull by default, runc (Debian's) to check the
tests and this harness themselves.

The engines talk to the runtime exactly as shared/oci/ records: podman with --runtime PATH
(through conmon), ctr with --runc-binary PATH (through containerd-shim-runc-v2), docker with a
runtime added to dockerd by --add-runtime NAME=PATH (the same shim).
"""

import fcntl
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

from harness import lab_allow_user_namespaces

REPO = Path(__file__).resolve().parents[2]
IMAGE_SCRIPT = REPO / "tests" / "images" / "oci-image.sh"
IMAGE = "localhost/hull-test:latest"  # what IMAGE_SCRIPT's archive is tagged
RUNTIME_ENV = "HULL_TEST_RUNTIME"

# Generous for TCG (the lab): one client command, a daemon's start, a daemon's stop.
CMD_TIMEOUT = 300
START_TIMEOUT = 180
STOP_TIMEOUT = 90

# What the lab's kernel lacks until something loads it (L1 cannot load modules on demand: its
# kernel's modprobe path is in the initramfs): podman's default network (a bridge, veth pairs,
# netavark's iptables-nft rules for NAT) and the engines' overlay stores.
LAB_MODULES = ("overlay", "bridge", "veth", "br_netfilter", "nf_tables", "nft_compat",
               "nft_chain_nat", "nf_nat", "nf_conntrack", "xt_conntrack", "xt_MASQUERADE",
               "xt_addrtype", "xt_comment", "xt_mark", "xt_multiport", "nft_masq")


class ClientError(Exception):
    """A client command failed or timed out; the message has its argv, status and output."""


def runtime_binary():
    """The OCI runtime under test: $HULL_TEST_RUNTIME, else the repository's hull."""
    return Path(os.environ.get(RUNTIME_ENV) or REPO / "hull")


def runtime_problem(path):
    """Why PATH cannot serve as the engines' runtime (a sentence), or None when it can."""
    if not path.is_absolute():
        return f"{RUNTIME_ENV}={path}: want an absolute path (the engines resolve it themselves)"
    if not (path.is_file() and os.access(path, os.X_OK)):
        return f"runtime {path}: not an executable file"
    if missing_verb(path, "create"):
        return (f"runtime {path}: hull has no `create` verb yet (the runc-compatible verbs of "
                f"issue 14 are not built); {RUNTIME_ENV}=/usr/sbin/runc runs these against runc "
                f"to check the tests themselves")
    return None


def missing_verb(path, verb):
    """True when the binary at PATH is a hull that has no VERB yet (it says "unknown command";
    the verb is called without arguments, which is a usage error once it exists)."""
    try:
        p = subprocess.run([str(path), verb], capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return False  # it does something with the verb, then
    return f"unknown command '{verb}'" in p.stderr


def oci_image():
    """The cached docker-archive of the test image (built by tests/images/oci-image.sh)."""
    path = Path(subprocess.run([IMAGE_SCRIPT, "--path"], check=True, capture_output=True,
                               text=True).stdout.strip())
    if not path.is_file():
        raise ClientError(f"missing the test image {path}: build it on the host (as root) with "
                          f"{IMAGE_SCRIPT} (tests/run does it in its build step)")
    return path


def prepare_lab():
    """Inside the lab only (HULL_LAB=1): what a booted Debian host has and L1 has not: its root
    as the root of the mount namespace, cgroup v2 on /sys/fs/cgroup, lo up, the modules of
    LAB_MODULES. Elsewhere the machine is left alone.

    The root matters to runc: `runc exec` joins the container's mount namespace with setns(),
    which gives it that namespace's root; in the lab's chroot that is L1's initramfs, whose /proc
    is empty ("error closing exec fds: open /proc/self/fd: no such file or directory").
    harness.lab_allow_user_namespaces() moves the lab's root over the initramfs's, as
    switch_root does (containers made after that have their own root as the namespace's)."""
    if os.environ.get("HULL_LAB") != "1":
        return
    try:
        lab_allow_user_namespaces()
    except RuntimeError as e:
        raise ClientError(str(e)) from None
    if not Path("/sys/fs/cgroup/cgroup.controllers").exists():
        run(["mount", "-t", "cgroup2", "cgroup2", "/sys/fs/cgroup"], timeout=30)
    run(["ip", "link", "set", "lo", "up"], timeout=30)
    for m in LAB_MODULES:
        run(["modprobe", m], timeout=60)


def _describe(argv, rc, out, err):
    return (f"command: {' '.join(map(str, argv))}\nexit status: {rc}\n--- stdout ---\n"
            f"{out[-3000:]}\n--- stderr ---\n{err[-3000:]}")


def run(argv, env=None, timeout=CMD_TIMEOUT, check=True, input=None):
    """subprocess.run with text output; ClientError on a timeout, or on failure when check."""
    argv = [str(a) for a in argv]
    try:
        p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                           input=input, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr
        raise ClientError(f"timed out after {timeout} s\n"
                          f"{_describe(argv, None, out or '', err or '')}") from None
    if check and p.returncode != 0:
        raise ClientError(f"failed\n{_describe(argv, p.returncode, p.stdout, p.stderr)}")
    return p


def describe(p):
    """A finished command (subprocess.CompletedProcess) for an assertion message."""
    return _describe(p.args, p.returncode, p.stdout, p.stderr)


def unmount_under(top):
    """Lazily unmount every mount at or below TOP, deepest first (overlay stores, netns)."""
    top = str(top)
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == top or point.startswith(top + "/"):
                points.append(point)
    for point in sorted(set(points), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def _pids_mentioning(text):
    """Processes whose command line contains TEXT: what a daemon of ours left (shims)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmdline = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(d.name))
    return found


def _kill_leftovers(top):
    for pid in _pids_mentioning(str(top)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{p}").exists() for p in pids):
            return True
        time.sleep(0.2)
    return False


class Engine:
    """What the three setups share: a private directory, an environment, a daemon (or none)."""

    name = "engine"

    def __init__(self, runtime):
        self.runtime = Path(runtime)
        self.top = Path(tempfile.mkdtemp(prefix=f"hull-{self.name}-", dir="/run"))
        self.daemon = None
        self.daemon_log = self.top / "daemon.log"
        self.env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
                    "HOME": str(self.top / "home"), "TMPDIR": str(self.top / "tmp"),
                    "XDG_RUNTIME_DIR": str(self.top / "xdg"), "LANG": "C.UTF-8"}
        for d in ("home", "tmp", "xdg"):
            (self.top / d).mkdir(mode=0o700)

    def _spawn(self, argv):
        with open(self.daemon_log, "ab") as log:
            self.daemon = subprocess.Popen([str(a) for a in argv], env=self.env,
                                           stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                           start_new_session=True)

    def log_tail(self, n=4000):
        try:
            return self.daemon_log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def _wait_ready(self, probe):
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.daemon.poll() is not None:
                raise ClientError(f"{self.name}: the daemon exited with status "
                                  f"{self.daemon.returncode}\n{self.log_tail()}")
            if probe().returncode == 0:
                return
            if time.monotonic() > deadline:
                raise ClientError(f"{self.name}: not ready after {START_TIMEOUT} s\n"
                                  f"{self.log_tail()}")
            time.sleep(0.5)

    def _stop_daemon(self):
        if self.daemon is None:
            return
        if self.daemon.poll() is None:
            self.daemon.terminate()
            try:
                self.daemon.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        self.daemon = None

    def close(self):
        self._stop_daemon()
        # Shims, conmon and runtime processes of ours name this directory on their command
        # lines (sockets, bundles, state); whatever outlived its daemon goes now.
        pids = _pids_mentioning(str(self.top))
        _kill_leftovers(self.top)
        _wait_gone(pids, 30)
        unmount_under(self.top)
        shutil.rmtree(self.top, ignore_errors=True)

    def pty(self, argv, rows=40, cols=100):
        return Pty(argv, dict(self.env, TERM="xterm"), rows, cols)


class Podman(Engine):
    """podman in root mode with its own containers.conf, storage.conf and registries.conf;
    every call names the runtime with --runtime PATH (conmon then launches it)."""

    name = "podman"

    def __init__(self, runtime):
        super().__init__(runtime)
        t = self.top
        (t / "containers.conf").write_text(f"""\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{t}/events.log"
tmp_dir = "{t}/libpod-tmp"
static_dir = "{t}/storage/libpod"
volume_path = "{t}/storage/volumes"

[network]
network_backend = "netavark"
network_config_dir = "{t}/networks"
""")
        (t / "storage.conf").write_text(f"""\
[storage]
driver = "overlay"
graphroot = "{t}/storage"
runroot = "{t}/runroot"
""")
        (t / "registries.conf").write_text("unqualified-search-registries = []\n")
        self.env.update(CONTAINERS_CONF=str(t / "containers.conf"),
                        CONTAINERS_STORAGE_CONF=str(t / "storage.conf"),
                        CONTAINERS_REGISTRIES_CONF=str(t / "registries.conf"))

    def argv(self, *args):
        return ["podman", "--runtime", str(self.runtime), *map(str, args)]

    def __call__(self, *args, timeout=CMD_TIMEOUT, check=True, input=None):
        return run(self.argv(*args), self.env, timeout, check, input)

    def load(self, archive):
        self("load", "-q", "-i", archive)

    def close(self):
        try:
            self("rm", "-a", "-f", "-t", "0", timeout=STOP_TIMEOUT, check=False)
        except ClientError:
            pass
        super().close()


class Containerd(Engine):
    """containerd with its own root, state and sockets (config.toml in its directory), the CRI
    plugin disabled unless `extra` enables a CRI section; ctr runs in namespace NS and names the
    runtime with --runc-binary PATH, its state with --runc-root (both for the runc v2 shim)."""

    name = "containerd"
    NS = "hull-test"

    def __init__(self, runtime, extra="", cri=False):
        super().__init__(runtime)
        t = self.top
        self.address = t / "containerd.sock"
        self.runc_root = t / "runc"
        disabled = ['"io.containerd.internal.v1.opt"']  # it would make /opt/containerd
        if not cri:
            disabled.append('"io.containerd.grpc.v1.cri"')
        self.config = t / "config.toml"
        self.config.write_text(f"""\
version = 2
root = "{t}/root"
state = "{t}/state"
disabled_plugins = [{", ".join(disabled)}]

[grpc]
  address = "{self.address}"

[ttrpc]
  address = "{self.address}.ttrpc"
{extra}""")

    def start(self):
        self._spawn(["containerd", "--config", self.config, "--log-level", "info"])
        self._wait_ready(lambda: self.ctr("version", check=False, timeout=30))
        return self

    def ctr_argv(self, *args):
        return ["ctr", "--address", str(self.address), "--namespace", self.NS, *map(str, args)]

    def ctr(self, *args, timeout=CMD_TIMEOUT, check=True, input=None):
        return run(self.ctr_argv(*args), self.env, timeout, check, input)

    def runtime_args(self, runtime=None):
        """ctr run's options that pick the runtime (the one under test unless given)."""
        return ["--runc-binary", str(runtime or self.runtime), "--runc-root", str(self.runc_root)]

    def load(self, archive):
        self.ctr("images", "import", archive)

    def close(self):
        if self.daemon is not None and self.daemon.poll() is None:
            try:
                for line in self.ctr("tasks", "ls", "-q", check=False,
                                     timeout=STOP_TIMEOUT).stdout.split():
                    self.ctr("tasks", "kill", "-s", "SIGKILL", line, check=False)
                    self.ctr("tasks", "delete", "-f", line, check=False, timeout=STOP_TIMEOUT)
                for line in self.ctr("containers", "ls", "-q", check=False).stdout.split():
                    self.ctr("containers", "delete", line, check=False)
            except ClientError:
                pass
        super().close()


def cri_handler(engine, name="hull"):
    """containerd config.toml text for a Kubernetes node (the README's, with this setup's
    paths): the CRI runtime handler NAME runs pods through the runc v2 shim with the runtime
    under test in runc's place (a RuntimeClass with `handler: NAME` picks it). The CNI
    directories are made private and empty: the machine's CNI configuration is not read."""
    return f"""
[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "{name}"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{name}]
  runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{name}.options]
    BinaryName = "{engine.runtime}"
    Root = "{engine.runc_root}"

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "{engine.top}/cni/bin"
  conf_dir = "{engine.top}/cni/net.d"
"""


def dumped_handler(engine, name):
    """The CRI runtime handler NAME as containerd itself reads ENGINE's configuration
    (`containerd config dump`): a dict with runtime_type and options."""
    import tomllib  # Python 3.11 (Debian 12): only this helper needs it

    p = run(["containerd", "--config", engine.config, "config", "dump"], engine.env)
    cfg = tomllib.loads(p.stdout)
    try:
        return cfg["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"][name]
    except KeyError:
        raise ClientError(f"containerd config dump has no CRI runtime handler {name}:\n"
                          f"{p.stdout[-3000:]}") from None


class Dockerd(Engine):
    """dockerd on private sockets, data and exec roots (its own managed containerd under the
    exec root), no iptables and no default bridge (the tests run with --network none, or on a
    user-defined bridge network: the bridge itself, without NAT), the
    runtime under test added as RUNTIME_NAME; the docker CLI is pointed at it by DOCKER_HOST."""

    name = "dockerd"
    RUNTIME_NAME = "hull"

    def __init__(self, runtime):
        super().__init__(runtime)
        t = self.top
        self.sock = t / "docker.sock"
        self.exec_root = t / "exec"
        (t / "daemon.json").write_text("{}\n")
        self.env.update(DOCKER_HOST=f"unix://{self.sock}", DOCKER_CONFIG=str(t / "cli"))

    def start(self):
        t = self.top
        self._spawn(["dockerd", "--config-file", t / "daemon.json", "-H", f"unix://{self.sock}",
                     "--data-root", t / "data", "--exec-root", self.exec_root,
                     "--pidfile", t / "docker.pid", "--iptables=false", "--ip6tables=false",
                     "--ip-forward=false", "--ip-masq=false", "--bridge=none",
                     "--userland-proxy=false", "--exec-opt", "native.cgroupdriver=cgroupfs",
                     "--add-runtime", f"{self.RUNTIME_NAME}={self.runtime}"])
        self._wait_ready(lambda: self("version", check=False, timeout=30))
        return self

    def __call__(self, *args, timeout=CMD_TIMEOUT, check=True, input=None):
        return run(["docker", *args], self.env, timeout, check, input)

    def argv(self, *args):
        return ["docker", *map(str, args)]

    def load(self, archive):
        self("load", "-q", "-i", archive)

    def close(self):
        if self.daemon is not None and self.daemon.poll() is None:
            try:
                ids = self("ps", "-a", "-q", check=False, timeout=STOP_TIMEOUT).stdout.split()
                if ids:
                    self("rm", "-f", *ids, check=False, timeout=STOP_TIMEOUT)
            except ClientError:
                pass
        super().close()


def podman_gateway(podman, network="podman"):
    """The host side of a podman network's bridge: its first subnet's gateway address."""
    info = json.loads(podman("network", "inspect", network).stdout)
    return info[0]["subnets"][0]["gateway"]


class Pty:
    """A client command on a new pseudo-terminal, its controlling terminal (as a person's shell
    would run `podman run -it`), with the window size given; its output is read as it comes."""

    def __init__(self, argv, env, rows=40, cols=100):
        self.argv = [str(a) for a in argv]
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(self.argv, env=env, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True, preexec_fn=_take_ctty)
        os.close(slave)
        self.out = bytearray()
        self.eof = False

    @property
    def text(self):
        return self.out.decode(errors="replace").replace("\r\n", "\n")

    def _read(self, timeout):
        if self.eof:
            time.sleep(min(timeout, 0.05))
            return
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: every slave descriptor is closed
            chunk = b""
        if chunk:
            self.out.extend(chunk)
        else:
            self.eof = True

    def expect(self, pattern, timeout=CMD_TIMEOUT):
        """Wait for the regex in the output; return the match, or raise ClientError."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.text)
            if m:
                return m
            left = deadline - time.monotonic()
            if left <= 0 or (self.eof and self.proc.poll() is not None):
                self.kill()
                why = f"not within {timeout} s" if left <= 0 else "the command ended first"
                raise ClientError(f"no /{pattern}/ on the terminal: {why}\n{self.describe()}")
            self._read(min(left, 0.5))

    def send(self, text):
        os.write(self.master, text.encode())

    def wait(self, timeout=CMD_TIMEOUT):
        """Read to the end and reap the command: its exit status."""
        deadline = time.monotonic() + timeout
        while not self.eof or self.proc.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise ClientError(f"still running after {timeout} s\n{self.describe()}")
            self._read(min(left, 0.5))
        return self.proc.wait()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self):
        self.kill()
        try:
            os.close(self.master)
        except OSError:
            pass

    def describe(self):
        return (f"command: {' '.join(self.argv)}\nexit status: {self.proc.poll()}\n"
                f"--- terminal (last 4000 chars) ---\n{self.text[-4000:]}")


def _take_ctty():
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
