"""Real container engines running containers through the OCI runtime under test (issue 14).

podman (--runtime PATH, through conmon), containerd driven by ctr (--runc-binary PATH, through
containerd-shim-runc-v2), docker (dockerd --add-runtime hull=PATH, through the same shim) and a
containerd configured the Kubernetes way (a CRI runtime handler whose options name the binary)
each run the small busybox image of tests/images/oci-image.sh, imported once per engine. Each
engine is a private setup of clients.py (its own configuration, store, state and sockets under
/run/hull-ENGINE-*), one per module, started before the first test that needs it and stopped
after the last.

The runtime is HULL_TEST_RUNTIME (a path), the repository's hull by default (a hull without the
runc-compatible verbs fails every test here saying so); HULL_TEST_RUNTIME=/usr/sbin/runc runs
them against Debian's runc, which checks the tests and the setups themselves:

    tests/lab/lab.sh --mem 6144 --timeout 3600 -- env HULL_TEST_RUNTIME=/usr/sbin/runc \\
        /usr/bin/python3 -m pytest -v --color=no -m lab tests/integration/test_clients.py

(lab.sh passes HULL_* variables in, so exporting it before lab.sh works too.) The containers run
without a network (--network none) except in the networking tests, which use podman's default
network (a bridge made by netavark), a podman network and a docker bridge network of their own,
and a TCP server on the host side of the bridge.
"""

import json
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

import clients
from clients import IMAGE, ClientError, describe

lab = pytest.mark.lab


@pytest.fixture(scope="session")
def runtime():
    """The runtime binary, checked; the lab made to look like a booted host; the image."""
    path = clients.runtime_binary()
    problem = clients.runtime_problem(path)
    if problem:
        pytest.fail(problem, pytrace=False)
    try:
        clients.prepare_lab()
    except ClientError as e:
        pytest.fail(f"cannot prepare the lab for the container engines: {e}", pytrace=False)
    return path


@pytest.fixture(scope="session")
def image_archive():
    try:
        return clients.oci_image()
    except ClientError as e:
        pytest.fail(str(e), pytrace=False)


def _engine(make, archive):
    eng = None
    try:
        eng = make()
        eng.load(archive)
    except ClientError as e:
        if eng is not None:
            eng.close()
        pytest.fail(f"cannot set the engine up: {e}", pytrace=False)
    return eng


@pytest.fixture(scope="module")
def podman(runtime, image_archive):
    eng = _engine(lambda: clients.Podman(runtime), image_archive)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def containerd(runtime, image_archive):
    eng = _engine(lambda: clients.Containerd(runtime).start(), image_archive)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def docker(runtime, image_archive):
    eng = _engine(lambda: clients.Dockerd(runtime).start(), image_archive)
    yield eng
    eng.close()


@pytest.fixture
def terminal():
    """Factory: terminal(engine, argv) runs argv on a new pty; closed at teardown."""
    made = []

    def start(engine, argv):
        t = engine.pty(argv)
        made.append(t)
        return t

    yield start
    for t in made:
        t.close()


def shell_session(t):
    """Drive a busybox shell on the container's tty: the answer comes back, the tty is a pty
    of the container's, the window size given to the client (40x100) is the container's, and
    the client ends with the shell's exit status."""
    t.expect(r"# $|# \x1b", 120)
    t.send("echo sum=$((6*7)); echo tty=$(tty); echo size=$(stty size)\n")
    t.expect(r"sum=42")
    t.expect(r"tty=/dev/pts/\d+")
    t.expect(r"size=40 100")
    t.send("exit 5\n")
    return t.wait()


# --- the runtime check (any host) -------------------------------------------------------------

def stand_in(path, stderr, status):
    path.write_text(f"#!/bin/sh\necho \"{stderr}\" >&2\nexit {status}\n")
    path.chmod(0o755)
    return path


@pytest.mark.host
def test_runtime_problem(tmp_path):
    """A hull without `create` is refused with a sentence that says so and names runc as the
    way to check the tests; a binary that knows `create` (a usage error without arguments, as
    runc and the coming hull give) is accepted; relative paths and non-executables are not."""
    old = stand_in(tmp_path / "old-hull", "hull: unknown command 'create' (see 'hull --help')", 2)
    why = clients.runtime_problem(old)
    assert why and "no `create` verb yet" in why and "HULL_TEST_RUNTIME=/usr/sbin/runc" in why
    new = stand_in(tmp_path / "new-hull", "hull create: --bundle is missing", 2)
    assert clients.runtime_problem(new) is None
    assert "absolute path" in clients.runtime_problem(Path("hull"))
    plain = tmp_path / "plain"
    plain.write_text("")
    assert "not an executable" in clients.runtime_problem(plain)
    assert "not an executable" in clients.runtime_problem(tmp_path / "missing")


def check_kernel(engine, p):
    """The second line of P's output is the container's `uname -r`: the host's own with runc,
    a kernel of its own (the microVM's) with any other runtime, so an engine that ran runc
    in the runtime's place is caught."""
    release = p.stdout.split()[1:2]
    host = os.uname().release
    if engine.runtime.name == "runc":
        assert release == [host], describe(p)
    else:
        assert release and release[0] != host, (f"the container runs on the host's kernel "
                                                f"{host}: not in a VM\n{describe(p)}")


def exit_state(engine, cid):
    """(status, exit code) of a podman or docker container, from `inspect` (same JSON)."""
    st = json.loads(engine("inspect", cid).stdout)[0]["State"]
    return st["Status"], st["ExitCode"]


# --- podman ----------------------------------------------------------------------------------

RUN = ("run", "--network", "none")


@lab
@pytest.mark.parametrize("code", [0, 1, 42])
def test_podman_run_exit_codes(podman, code):
    name = f"exit-{code}"
    p = podman(*RUN, "--rm", "--name", name, IMAGE, "sh", "-c",
               f"echo out-{code}; echo err-{code} >&2; exit {code}", check=False)
    assert p.returncode == code, describe(p)
    assert p.stdout.splitlines() == [f"out-{code}"], describe(p)
    assert f"err-{code}" in p.stderr, describe(p)
    names = podman("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert name not in names, "--rm left the container"


@lab
def test_podman_run_detached_stop(podman):
    # The shell turns TERM into exit 7, so the status podman records is the container's own.
    cid = podman(*RUN, "-d", IMAGE, "sh", "-c",
                 "trap 'exit 7' TERM; echo up; while :; do sleep 1; done").stdout.strip()
    try:
        state = podman("inspect", "-f", "{{.State.Status}}", cid).stdout.strip()
        assert state == "running", state
        podman("stop", "-t", "60", cid)
        assert exit_state(podman, cid) == ("exited", 7)
        assert "up" in podman("logs", cid).stdout
    finally:
        podman("rm", "-f", cid, check=False)


@lab
def test_podman_exec(podman):
    cid = podman(*RUN, "-d", IMAGE, "sleep", "600").stdout.strip()
    try:
        p = podman("exec", cid, "sh", "-c", "echo in-$((6*7)); echo e >&2; uname -r; exit 3",
                   check=False)
        assert p.returncode == 3, describe(p)
        assert p.stdout.split()[0] == "in-42" and p.stderr.strip() == "e", describe(p)
        check_kernel(podman, p)
        # stdin reaches the exec'd process and its end is an EOF.
        p = podman("exec", "-i", cid, "sh", "-c", "tr a-z A-Z", input="piped\n")
        assert p.stdout == "PIPED\n", describe(p)
        # The container's main process is still the one that was there (not restarted).
        assert podman("inspect", "-f", "{{.State.Status}}", cid).stdout.strip() == "running"
    finally:
        podman("rm", "-f", "-t", "0", cid, check=False)


@lab
def test_podman_seccomp(podman, tmp_path):
    """podman's seccomp profiles reach hull-init: its default one is loaded (Seccomp: 2), one
    given with --security-opt fails mkdir with EPERM, unconfined loads none."""
    status = "grep Seccomp: /proc/self/status"
    p = podman(*RUN, "--rm", IMAGE, "sh", "-c", status)
    assert p.stdout.split() == ["Seccomp:", "2"], describe(p)
    prof = tmp_path / "deny-mkdir.json"
    prof.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}))
    p = podman(*RUN, "--rm", "--security-opt", f"seccomp={prof}", IMAGE, "sh", "-c",
               "mkdir /tmp/x; echo rc=$?", check=False)
    assert p.stdout.strip() == "rc=1" and "Operation not permitted" in p.stderr, describe(p)
    p = podman(*RUN, "--rm", "--security-opt", "seccomp=unconfined", IMAGE, "sh", "-c", status)
    assert p.stdout.split() == ["Seccomp:", "0"], describe(p)


@lab
def test_podman_run_it(podman, terminal):
    t = terminal(podman, podman.argv(*RUN, "--rm", "-it", IMAGE, "sh"))
    rc = shell_session(t)
    assert rc == 5, t.describe()


@lab
def test_podman_kill(podman):
    cid = podman(*RUN, "-d", IMAGE, "sleep", "600").stdout.strip()
    try:
        podman("kill", "-s", "KILL", cid)
        podman("wait", cid, timeout=120)
        assert exit_state(podman, cid) == ("exited", 137)
    finally:
        podman("rm", "-f", cid, check=False)


@lab
def test_podman_rm_force(podman):
    cid = podman(*RUN, "-d", IMAGE, "sleep", "600").stdout.strip()
    podman("rm", "-f", "-t", "0", cid)
    assert cid not in podman("ps", "-a", "-q", "--no-trunc").stdout
    p = podman("inspect", cid, check=False)
    assert p.returncode != 0, describe(p)


# --- networking through podman's default network ---------------------------------------------

class LineServer:
    """A TCP server on the host bound to addr (a bridge's host-side address): it accepts one
    connection, reads a line (got["line"], the peer's address got["peer"]) and answers
    "from-host"."""

    def __init__(self, addr):
        self.got = {}
        self.srv = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
        self.srv.bind((addr, 0))
        self.srv.listen(1)
        self.srv.settimeout(300)
        self.port = self.srv.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            c, addr = self.srv.accept()
            with c:
                c.settimeout(120)
                data = b""
                while not data.endswith(b"\n"):
                    chunk = c.recv(100)
                    if not chunk:
                        break
                    data += chunk
                self.got["line"], self.got["peer"] = data, addr[0]
                c.sendall(b"from-host\n")
        except OSError as e:
            self.got["error"] = e

    def wait(self):
        self.thread.join(60)
        return self.got

    def close(self):
        self.srv.close()


@lab
def test_podman_default_network_reaches_host(podman):
    """A container on podman's default network (bridge podman0, made by netavark) connects to
    a TCP server bound to the bridge's host-side address and trades a line with it."""
    keeper = podman("run", "-d", IMAGE, "sleep", "600").stdout.strip()
    srv = None
    try:
        gw = clients.podman_gateway(podman)
        srv = LineServer(gw)  # the bridge exists once a container is on it
        p = podman("exec", keeper, "sh", "-c",
                   f"ip route; echo from-container | nc -w 30 {gw} {srv.port}")
        got = srv.wait()
        assert got.get("line") == b"from-container\n", (got, describe(p))
        assert "from-host" in p.stdout, describe(p)
        assert re.search(rf"^default via {re.escape(gw)} ", p.stdout, re.M), describe(p)
        addr = podman("inspect", "-f", "{{.NetworkSettings.IPAddress}}", keeper).stdout.strip()
        assert got["peer"] == addr, (got, addr)
    finally:
        if srv:
            srv.close()
        podman("rm", "-f", "-t", "0", keeper, check=False)


@lab
def test_podman_network_shape(podman):
    """A podman network of its own (netavark: another subnet, MTU 1400): the container's eth0
    has the address podman gives it, with its prefix, the network's MTU and the default route
    through the network's gateway; with --network none (a namespace without a path: the VM's
    eth0 is there for what a hook could wire before start) it has no address but lo's and
    only lo is up."""
    net = "hull-mtu"
    podman("network", "create", "--subnet", "10.77.0.0/24", "--opt", "mtu=1400", net)
    cid = None
    try:
        cid = podman("run", "-d", "--network", net, IMAGE, "sleep", "600").stdout.strip()
        addr = podman("inspect", "-f", f"{{{{(index .NetworkSettings.Networks \"{net}\")"
                      f".IPAddress}}}}", cid).stdout.strip()
        assert addr.startswith("10.77.0."), addr
        p = podman("exec", cid, "sh", "-c",
                   "cat /sys/class/net/eth0/mtu; ip -4 addr show eth0; ip route")
        lines = p.stdout.splitlines()
        assert lines[0] == "1400", describe(p)
        assert re.search(rf"inet {re.escape(addr)}/24 ", p.stdout), describe(p)
        assert re.search(r"^default via 10\.77\.0\.1 dev eth0", p.stdout, re.M), describe(p)
        p = podman(*RUN, "--rm", IMAGE, "sh", "-c",
                   "ip -4 addr; cat /sys/class/net/*/operstate")
        assert re.findall(r"inet (\S+)", p.stdout) == ["127.0.0.1/8"], describe(p)
        assert "up" not in p.stdout.split(), describe(p)
    finally:
        if cid:
            podman("rm", "-f", "-t", "0", cid, check=False)
        podman("network", "rm", "-f", net, check=False)


@lab
def test_podman_pod_network(podman):
    """Two containers in one network namespace, as a pod's (podman's --network container:ID:
    the second joins the first's namespace). Marked as a pod's sandbox (containerd's CRI
    annotation), the first leaves the namespace's network alone (under hull its VM has only
    lo's address), and the second, the pod's container, gets the address and the default route
    (as under runc, where both share them), and again when it runs a second time (a restart:
    under hull what the first VM took is read back from the bridge's record). Not marked, the
    first takes the network and under hull a second container in its namespace is refused,
    saying why."""
    net = "hull-pod"
    podman("network", "create", "--subnet", "10.75.0.0/24", net)
    sandbox = first = None
    hull = podman.runtime.name != "runc"
    try:
        sandbox = podman("run", "-d", "--network", net, "--annotation",
                         "io.kubernetes.cri.container-type=sandbox", IMAGE,
                         "sleep", "600").stdout.strip()
        addr = podman("inspect", "-f", f"{{{{(index .NetworkSettings.Networks \"{net}\")"
                      f".IPAddress}}}}", sandbox).stdout.strip()
        assert addr.startswith("10.75.0."), addr
        p = podman("exec", sandbox, "ip", "-4", "addr")
        if hull:
            assert re.findall(r"inet (\S+)", p.stdout) == ["127.0.0.1/8"], describe(p)
        for _ in range(2):  # the second time as a pod's container restarted
            p = podman("run", "--rm", "--network", f"container:{sandbox}", IMAGE, "sh", "-c",
                       "ip -4 addr show eth0; ip route")
            assert re.search(rf"inet {re.escape(addr)}/24 ", p.stdout), describe(p)
            assert re.search(r"^default via 10\.75\.0\.1 dev eth0", p.stdout, re.M), \
                describe(p)

        first = podman("run", "-d", "--network", net, IMAGE, "sleep", "600").stdout.strip()
        p = subprocess.run(podman.argv("run", "--rm", "--network", f"container:{first}", IMAGE,
                                       "true"),
                           env=podman.env, capture_output=True, text=True,
                           timeout=clients.CMD_TIMEOUT, stdin=subprocess.DEVNULL)
        if hull:
            assert p.returncode != 0, describe(p)
            assert ("hulltap0 is in use: another hull VM has this namespace's network"
                    in p.stdout + p.stderr), describe(p)
        else:
            assert p.returncode == 0, describe(p)
    finally:
        for cid in (sandbox, first):
            if cid:
                podman("rm", "-f", "-t", "0", cid, check=False)
        podman("network", "rm", "-f", net, check=False)


@lab
def test_podman_ipv6_network(podman, cloud_kernel, tmp_path):
    """A dual-stack podman network (netavark: an IPv4 and an IPv6 subnet): with a guest kernel
    that has IPv6 (Debian's cloud kernel, HULL_KERNEL through a wrapper podman runs as the
    runtime), the container's eth0 has the IPv6 address podman gives it with its prefix, the
    IPv6 default route goes through the network's IPv6 gateway, and a TCP exchange with a host
    server reached at that gateway address works (its peer is the container's IPv6 address).
    With the project kernel (no CONFIG_IPV6) the container does not start, and hull says why:
    never a container that silently has IPv4 only."""
    net = "hull-v6"
    podman("network", "create", "--ipv6", "--subnet", "10.76.0.0/24", "--subnet", "fd77::/64",
           net)
    wrapper = tmp_path / "hull-cloud"
    wrapper.write_text(f"#!/bin/sh\nHULL_KERNEL={cloud_kernel} exec {podman.runtime} \"$@\"\n")
    wrapper.chmod(0o755)
    srv = None
    try:
        subnets = json.loads(podman("network", "inspect", net).stdout)[0]["subnets"]
        gw6 = next(n["gateway"] for n in subnets if ":" in n["subnet"])
        assert gw6 == "fd77::1", subnets
        srv = LineServer("::")  # the gateway's address appears with the bridge, at the run
        p = clients.run(["podman", "--runtime", wrapper, "run", "--rm", "--network", net, IMAGE,
                         "sh", "-c", f"uname -r; ip -6 addr show eth0; ip -6 route; "
                         f"echo from-container | nc -w 30 {gw6} {srv.port}"],
                        podman.env, check=False)
        got = srv.wait()
        assert p.returncode == 0, describe(p)
        if podman.runtime.name != "runc":
            assert p.stdout.split()[0] == cloud_kernel.name.removeprefix("vmlinuz-"), describe(p)
        m = re.search(r"inet6 (fd77:\S+)/64 scope global", p.stdout)
        assert m, describe(p)
        assert re.search(r"^default via fd77::1 dev eth0", p.stdout, re.M), describe(p)
        assert got.get("line") == b"from-container\n", (got, describe(p))
        assert "from-host" in p.stdout, describe(p)
        assert got["peer"] == m.group(1), (got, m.group(1))
        if podman.runtime.name != "runc":
            # The error quotes the VM's console, which need not be UTF-8.
            p = subprocess.run(podman.argv("run", "--rm", "--network", net, IMAGE, "true"),
                               env=podman.env, capture_output=True, timeout=clients.CMD_TIMEOUT,
                               stdin=subprocess.DEVNULL)
            out = (p.stdout + p.stderr).decode(errors="replace")
            assert p.returncode != 0, out
            assert "the guest kernel has no IPv6: cannot configure fd77:" in out, out
            assert "use a kernel with CONFIG_IPV6" in out, out
    finally:
        if srv:
            srv.close()
        podman("network", "rm", "-f", net, check=False)


# --- containerd, driven by ctr ---------------------------------------------------------------

def ctr_run(containerd, *opts, check=True):
    return containerd.ctr("run", *containerd.runtime_args(), *opts, check=check)


@lab
def test_ctr_run_rm(containerd):
    p = ctr_run(containerd, "--rm", IMAGE, "c-rm", "sh", "-c", "echo hello; exit 3", check=False)
    assert p.returncode == 3, describe(p)
    assert p.stdout.strip() == "hello", describe(p)
    assert "c-rm" not in containerd.ctr("containers", "ls", "-q").stdout.split()


def ctr_remove(containerd, cid):
    """Whatever is left of container CID: its task killed and deleted, then the container."""
    containerd.ctr("tasks", "kill", "-s", "SIGKILL", cid, check=False)
    containerd.ctr("tasks", "delete", "-f", cid, check=False)
    containerd.ctr("containers", "delete", cid, check=False)


def ctr_task_status(containerd, cid):
    for line in containerd.ctr("tasks", "ls").stdout.splitlines()[1:]:
        f = line.split()
        if f and f[0] == cid:
            return f[2], int(f[1])
    return None, None


@lab
def test_ctr_run_detached_kill_delete(containerd):
    cid = "c-detached"
    ctr_run(containerd, "-d", IMAGE, cid, "sh", "-c", "trap 'exit 9' TERM; while :; do sleep 1; "
            "done")
    try:
        assert ctr_task_status(containerd, cid)[0] == "RUNNING"
        containerd.ctr("tasks", "kill", "-s", "SIGTERM", cid)
        deadline = time.monotonic() + 120
        while ctr_task_status(containerd, cid)[0] != "STOPPED":
            assert time.monotonic() < deadline, containerd.ctr("tasks", "ls").stdout
            time.sleep(0.5)
        p = containerd.ctr("tasks", "delete", cid)
        # ctr reports a non-zero exit status as a warning
        assert re.search(r"exit code 9\b", p.stderr), describe(p)
        containerd.ctr("containers", "delete", cid)
        assert cid not in containerd.ctr("containers", "ls", "-q").stdout.split()
    finally:
        ctr_remove(containerd, cid)


@lab
def test_ctr_run_tty(containerd, terminal):
    t = terminal(containerd, containerd.ctr_argv("run", *containerd.runtime_args(), "-t", "--rm",
                                                 IMAGE, "c-tty", "sh"))
    rc = shell_session(t)
    assert rc == 5, t.describe()


@lab
def test_ctr_task_exec_and_ps(containerd):
    cid = "c-exec"
    ctr_run(containerd, "-d", IMAGE, cid, "sleep", "600")
    try:
        p = containerd.ctr("tasks", "exec", "--exec-id", "e1", cid, "sh", "-c",
                           "echo in-$((6*7)); uname -r; exit 4", check=False)
        assert p.returncode == 4, describe(p)
        assert p.stdout.split()[0] == "in-42", describe(p)
        check_kernel(containerd, p)
        # task ps: the host PIDs the runtime reports (`ps --format json`); the task's own
        # PID (the pid file's) among them.
        _, pid = ctr_task_status(containerd, cid)
        p = containerd.ctr("tasks", "ps", cid)
        pids = [int(line.split()[0]) for line in p.stdout.splitlines()[1:] if line.strip()]
        assert pid in pids, describe(p)
    finally:
        ctr_remove(containerd, cid)


# --- containerd configured like a Kubernetes node (a CRI runtime handler) ---------------------

@lab
def test_containerd_cri_runtime_handler(runtime, image_archive):
    """The README's CRI configuration (clients.cri_handler: runtime handler `hull`, runtime_type
    io.containerd.runc.v2, options.BinaryName = the runtime) loads into containerd with its CRI
    plugin, which serves it; a container then runs through the runc v2 shim with the options
    that handler gives the shim (ctr cannot pick a CRI handler by name: it passes the same
    BinaryName and Root itself)."""
    eng = clients.Containerd(runtime, cri=True)
    try:
        eng.config.write_text(eng.config.read_text() + clients.cri_handler(eng))
        handler = clients.dumped_handler(eng, "hull")
        assert handler["runtime_type"] == "io.containerd.runc.v2", handler
        assert handler["options"]["BinaryName"] == str(runtime), handler
        eng.start()
        plugins = eng.ctr("plugins", "ls").stdout
        assert re.search(r"^io\.containerd\.grpc\.v1\s+cri\s+.*\sok\s*$", plugins, re.M), \
            f"{plugins}\n{eng.log_tail()}"
        eng.load(image_archive)
        p = eng.ctr("run", "--rm", "--runtime", handler["runtime_type"],
                    "--runc-binary", handler["options"]["BinaryName"],
                    "--runc-root", handler["options"]["Root"], IMAGE, "c-cri", "sh", "-c",
                    "echo cri-style; exit 6", check=False)
        assert p.returncode == 6, describe(p)
        assert p.stdout.strip() == "cri-style", describe(p)
    except ClientError as e:
        pytest.fail(str(e), pytrace=False)
    finally:
        eng.close()


# --- docker ----------------------------------------------------------------------------------

def drun(docker, *args, check=True):
    return docker("run", "--runtime", docker.RUNTIME_NAME, "--network", "none", *args,
                  check=check)


@lab
def test_docker_bridge_network(docker):
    """A docker user-defined bridge network (dockerd runs with --bridge=none and
    --iptables=false: the bridge itself, no NAT). docker's prestart hook (libnetwork-setkey)
    moves a veth into the namespace of the state's pid, the VMM's own, at create; at start hull
    hands it to the guest: eth0 has the address docker gives the container, with its prefix,
    and the default route through the network's gateway, and the container trades a line with
    a TCP server on the gateway's address on the host. With --network none, eth0 stays down."""
    net = "hull-br"
    gw = "10.78.0.1"  # given: docker 20.10's inspect shows no gateway it chose itself
    docker("network", "create", "--subnet", "10.78.0.0/24", "--gateway", gw, net)
    cid = srv = None
    try:
        cid = docker("run", "--runtime", docker.RUNTIME_NAME, "-d", "--network", net, IMAGE,
                     "sleep", "600").stdout.strip()
        fmt = f"{{{{with index .NetworkSettings.Networks \"{net}\"}}}}" \
              "{{.IPAddress}}/{{.IPPrefixLen}}{{end}}"
        addr = docker("inspect", "-f", fmt, cid).stdout.strip()
        assert addr.startswith("10.78.0.") and addr.endswith("/24"), addr
        srv = LineServer(gw)  # bound where docker put the gateway: the host's bridge
        p = docker("exec", cid, "sh", "-c", "ip -4 addr show eth0; ip route; "
                   f"echo from-container | nc -w 30 {gw} {srv.port}")
        got = srv.wait()
        assert re.search(rf"inet {re.escape(addr)} ", p.stdout), describe(p)
        assert re.search(rf"^default via {re.escape(gw)} dev eth0", p.stdout, re.M), describe(p)
        assert got.get("line") == b"from-container\n", (got, describe(p))
        assert "from-host" in p.stdout, describe(p)
        assert got["peer"] == addr.split("/")[0], (got, addr)
        # No network: the VM's eth0 is there (the VMM cannot know before start), down.
        p = drun(docker, "--rm", IMAGE, "sh", "-c", "ip -4 addr; cat /sys/class/net/*/operstate")
        assert re.findall(r"inet (\S+)", p.stdout) == ["127.0.0.1/8"], describe(p)
        assert "up" not in p.stdout.split(), describe(p)
    finally:
        if srv:
            srv.close()
        if cid:
            docker("rm", "-f", cid, check=False)
        docker("network", "rm", net, check=False)


@lab
def test_docker_run_rm(docker):
    p = drun(docker, "--rm", "--name", "d-rm", IMAGE, "sh", "-c", "echo out; echo err >&2; exit 3",
             check=False)
    assert p.returncode == 3, describe(p)
    assert p.stdout.strip() == "out" and p.stderr.strip() == "err", describe(p)
    assert "d-rm" not in docker("ps", "-a", "--format", "{{.Names}}").stdout.split()


@lab
def test_docker_run_detached_stop(docker):
    cid = drun(docker, "-d", IMAGE, "sh", "-c",
               "trap 'exit 7' TERM; while :; do sleep 1; done").stdout.strip()
    try:
        assert docker("inspect", "-f", "{{.State.Status}}", cid).stdout.strip() == "running"
        docker("stop", "-t", "60", cid)
        assert exit_state(docker, cid) == ("exited", 7)
    finally:
        docker("rm", "-f", cid, check=False)


@lab
def test_docker_exec(docker):
    cid = drun(docker, "-d", IMAGE, "sleep", "600").stdout.strip()
    try:
        p = docker("exec", cid, "sh", "-c", "echo in-$((6*7)); uname -r; exit 4", check=False)
        assert p.returncode == 4, describe(p)
        assert p.stdout.split()[0] == "in-42", describe(p)
        check_kernel(docker, p)
        p = docker("exec", "-i", cid, "sh", "-c", "tr a-z A-Z", input="piped\n")
        assert p.stdout == "PIPED\n", describe(p)
    finally:
        docker("rm", "-f", cid, check=False)


@lab
def test_docker_run_tty(docker, terminal):
    t = terminal(docker, docker.argv("run", "--runtime", docker.RUNTIME_NAME, "--network",
                                     "none", "--rm", "-it", IMAGE, "sh"))
    rc = shell_session(t)
    assert rc == 5, t.describe()


def runtime_dir(docker, cid):
    """The runtime's state directory of a docker container: ROOT/CID, ROOT being the --root
    dockerd's runc v2 shim gives the runtime (found, not guessed: a directory named CID with a
    state.json below dockerd's exec root; Debian's dockerd 20.10 names it
    EXEC_ROOT/runtime-runc/moby even for a runtime added as hull=PATH)."""
    found = sorted(p.parent for p in Path(docker.exec_root).glob(f"**/{cid}/state.json"))
    assert len(found) == 1, (f"want one state directory of {cid} under {docker.exec_root}, "
                             f"found {found}")
    return found[0]


def runtime_state(docker, cid):
    """The runtime's own `state` of a docker container (under the root dockerd gives it)."""
    d = runtime_dir(docker, cid)
    p = clients.run([docker.runtime, "--root", d.parent, "state", cid], docker.env)
    return json.loads(p.stdout)["status"]


@lab
def test_docker_update(docker):
    """docker update reaches the runtime (`update --resources -`, runc's LinuxResources JSON
    on stdin) and succeeds, and the new memory limit holds: in the container's cgroup (with
    hull, the container's cgroup in the guest, /sys/fs/cgroup/hull, written live; hull also
    keeps it in state.json's hull.resources)."""
    cid = drun(docker, "-d", "--memory", "256m", IMAGE, "sleep", "600").stdout.strip()
    try:
        docker("update", "--memory", "128m", "--memory-swap", "256m", cid)
        assert docker("inspect", "-f", "{{.HostConfig.Memory}}", cid).stdout.strip() == \
            str(128 << 20)
        state = json.loads((runtime_dir(docker, cid) / "state.json").read_text())
        # hull's state.json has its own member: this is the runtime under test, not runc.
        assert ("hull" in state) == (docker.runtime.name != "runc"), (docker.runtime, state)
        if "hull" in state:
            assert state["hull"]["resources"]["memory"]["limit"] == 128 << 20, state["hull"]
        cgroup = "/sys/fs/cgroup/hull" if "hull" in state else "/sys/fs/cgroup"
        p = docker("exec", cid, "cat", f"{cgroup}/memory.max")
        assert p.stdout.strip() == str(128 << 20), describe(p)
        # The container runs on after the update.
        assert docker("exec", cid, "echo", "alive").stdout.strip() == "alive"
    finally:
        docker("rm", "-f", cid, check=False)


@lab
def test_docker_pause_unpause(docker):
    cid = drun(docker, "-d", IMAGE, "sleep", "600").stdout.strip()
    try:
        docker("pause", cid)
        assert docker("inspect", "-f", "{{.State.Status}}", cid).stdout.strip() == "paused"
        assert runtime_state(docker, cid) == "paused"
        p = docker("exec", cid, "true", check=False)
        assert p.returncode != 0 and "paused" in p.stderr, describe(p)
        docker("unpause", cid)
        assert runtime_state(docker, cid) == "running"
        assert docker("exec", cid, "echo", "awake").stdout.strip() == "awake"
    finally:
        docker("rm", "-f", cid, check=False)
