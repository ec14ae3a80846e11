"""hull as an OCI runtime.

Host tests: the verbs that need no VM — state, list, delete, features, spec, update — on a state
directory of our own (--root), and runc's errors where the shims read them. Containers are made
by writing <root>/<id>/state.json as `create` does (container/state.h): a VMM that is a live
process of ours (running), or one that has exited (stopped); with no control socket recorded,
so that the file's status stands.

Lab tests: the verbs on real containers (bundles of the busybox test rootfs), each in its
microVM: create → state → start → kill → delete with the pid file's rules (the test process is
a child subreaper, as the shims are, and waits for the VMM's pid itself), run, exec with and
without a terminal, --console-socket, pause/resume, ps, list, update, the errors for unknown
ids and double creates, and a 64-character id under a root longer than a socket address."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness import REPO

host = pytest.mark.host
lab = pytest.mark.lab


def hull(hull_bin, root, *args, stdin=None, log=None, env=None, timeout=30):
    argv = [hull_bin, "--root", str(root)]
    if log:
        argv += ["--log", str(log), "--log-format", "json"]
    return subprocess.run(argv + list(args), input=stdin, capture_output=True, timeout=timeout,
                          text=True, env=dict(os.environ, **(env or {})))


def start_time(pid):
    stat = open(f"/proc/{pid}/stat").read()
    return int(stat[stat.rindex(")") + 2:].split()[19])


def make_container(root, cid, pid, status, pid_start=None, bundle="/b"):
    d = root / cid
    d.mkdir(parents=True)
    (d / "lock").write_text("")
    state = {"ociVersion": "1.0.2", "id": cid, "pid": pid, "status": status, "bundle": bundle,
             "rootfs": bundle + "/rootfs", "created": "2026-12-06T21:44:55.123456789Z",
             "owner": "", "annotations": {"org.example": "yes"},
             "hull": {"pidStart": pid_start if pid_start is not None else 1}}
    (d / "state.json").write_text(json.dumps(state))
    return d


@pytest.fixture
def root(tmp_path):
    return tmp_path / "root"


@pytest.fixture
def sleeper():
    p = subprocess.Popen(["sleep", "60"])
    yield p
    p.kill()
    p.wait()


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


@host
def test_unknown_id(hull_bin, root, tmp_path):
    """An unknown id: runc's words, non-zero, and the JSON log line containerd reads."""
    log = tmp_path / "log.json"
    for verb in (["state"], ["delete"], ["kill"], ["start"], ["pause"], ["resume"],
                 ["ps", "--format", "json"], ["exec", "--process", "/p"]):
        p = hull(hull_bin, root, *verb, "nope", log=log)
        assert p.returncode != 0, (verb, p)
        last = json.loads(log.read_text().splitlines()[-1])
        assert last["level"] == "error", last
        assert last["msg"] == 'container "nope" does not exist', (verb, last)
    # Without --log the message is on stderr.
    p = hull(hull_bin, root, "state", "nope")
    assert p.returncode != 0 and 'container "nope" does not exist' in p.stderr


@host
def test_state_running_and_stale(hull_bin, root, sleeper):
    make_container(root, "live", sleeper.pid, "running", start_time(sleeper.pid))
    p = hull(hull_bin, root, "state", "live")
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout)
    assert s["status"] == "running" and s["pid"] == sleeper.pid, s
    assert set(s) >= {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created",
                      "owner", "annotations"}, s
    assert "hull" not in s, s
    assert s["annotations"] == {"org.example": "yes"}
    # The VMM's pid reused by another process (another start time): stopped, pid 0.
    make_container(root, "reused", sleeper.pid, "running", start_time(sleeper.pid) + 1)
    s = json.loads(hull(hull_bin, root, "state", "reused").stdout)
    assert s["status"] == "stopped" and s["pid"] == 0, s
    # The VMM gone without cleaning up: stopped.
    make_container(root, "gone", dead_pid(), "paused", 12345)
    s = json.loads(hull(hull_bin, root, "state", "gone").stdout)
    assert s["status"] == "stopped", s


@host
def test_kill_stopped_container(hull_bin, root):
    """runc's words for a kill of a container that is not running (podman reads them)."""
    make_container(root, "dead", dead_pid(), "running", 1)
    p = hull(hull_bin, root, "kill", "dead", "9")
    assert p.returncode != 0
    assert "container not running" in p.stderr, p.stderr


@host
def test_vmm_unreachable(hull_bin, root, sleeper):
    """A container whose VMM lives but does not serve its control socket is on its way out:
    stopped; the verbs that need the VMM say so and fail, never signalling the pid."""
    d = make_container(root, "live", sleeper.pid, "running", start_time(sleeper.pid))
    state = json.loads((d / "state.json").read_text())
    state["hull"]["control"] = str(d / "ctl.sock")
    (d / "state.json").write_text(json.dumps(state))
    s = json.loads(hull(hull_bin, root, "state", "live").stdout)
    assert s["status"] == "stopped", s
    for verb in (["kill", "live", "KILL"], ["pause", "live"], ["start", "live"],
                 ["exec", "live", "true"], ["ps", "live"]):
        p = hull(hull_bin, root, *verb)
        assert p.returncode != 0, (verb, p)
        assert "container not running" in p.stderr or "stopped" in p.stderr, (verb, p.stderr)
    assert sleeper.poll() is None  # nothing was signalled


@host
def test_create_refused(hull_bin, root, tmp_path):
    """create with a bad bundle, or a terminal without a console socket, fails with one message
    and leaves nothing behind; a VM that cannot start says why (the VMM's own message)."""
    b = tmp_path / "b"
    (b / "rootfs").mkdir(parents=True)
    p = hull(hull_bin, root, "create", "--bundle", str(b), "c1")
    assert p.returncode == 1 and "config.json" in p.stderr, p.stderr
    proc = {"args": ["/bin/sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "terminal": True}
    cfg = {"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": proc}
    (b / "config.json").write_text(json.dumps(cfg))
    p = hull(hull_bin, root, "create", "--bundle", str(b), "c1")
    assert p.returncode == 1 and "console socket" in p.stderr, p.stderr
    assert not (root / "c1").exists()
    proc["terminal"] = False
    (b / "config.json").write_text(json.dumps(cfg))
    # No kernel there: the VMM fails before /dev/kvm, and create shows its message.
    p = hull(hull_bin, root, "create", "--bundle", str(b), "c1", env={"HULL_KERNEL": "/nope"})
    assert p.returncode == 1, p
    assert "did not start" in p.stderr and "/nope" in p.stderr, p.stderr
    assert not (root / "c1").exists()


# linux.seccomp: mkdir and mkdirat fail with EPERM, everything else is allowed (runc's form).
DENY_MKDIR = {"defaultAction": "SCMP_ACT_ALLOW",
              "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
              "syscalls": [{"names": ["mkdir", "mkdirat", "no_such_syscall"],
                            "action": "SCMP_ACT_ERRNO"}]}


@host
def test_create_refused_seccomp(hull_bin, root, tmp_path):
    """A seccomp profile hull cannot compile fails create and run before any VM (no kernel is
    even looked for), the field named; nothing is left behind."""
    b = tmp_path / "b"
    (b / "rootfs").mkdir(parents=True)
    proc = {"args": ["/bin/sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}}
    bad = dict(DENY_MKDIR, syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_SOMETIMES"}])
    cfg = {"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": proc,
           "linux": {"seccomp": bad}}
    (b / "config.json").write_text(json.dumps(cfg))
    env = {"HULL_KERNEL": "/nope"}
    for verb in ("create", "run"):
        p = hull(hull_bin, root, verb, "--bundle", str(b), "c1", env=env)
        assert p.returncode == (1 if verb == "create" else 2), (verb, p)
        assert ("linux.seccomp.syscalls[0].action: unknown action SCMP_ACT_SOMETIMES"
                in p.stderr), p.stderr
        assert "/nope" not in p.stderr, p.stderr
        assert not (root / "c1").exists()
    cfg["linux"]["seccomp"] = dict(DENY_MKDIR, architectures=["SCMP_ARCH_PDP11"])
    (b / "config.json").write_text(json.dumps(cfg))
    p = hull(hull_bin, root, "create", "--bundle", str(b), "c1", env=env)
    assert p.returncode == 1 and "linux.seccomp.architectures[0]" in p.stderr, p.stderr


@host
def test_update_needs_the_vmm(hull_bin, root, sleeper, tmp_path):
    """update: the resources checked first; then applied by the container's VMM (lab:
    test_update.py), so a container whose VMM does not answer is refused and state.json keeps
    no resources; a stopped one is "container not running", as runc says."""
    d = make_container(root, "live", sleeper.pid, "running", start_time(sleeper.pid))
    p = hull(hull_bin, root, "update", "--resources", "-", "live", stdin="{\"memory\":")
    assert p.returncode != 0 and "not valid JSON" in p.stderr, p.stderr
    res = tmp_path / "res.json"
    res.write_text('{"memory": {"limit": 1073741824}, "cpu": {"shares": 512}, "unknown": 1}')
    p = hull(hull_bin, root, f"--resources={res}", "live")
    assert p.returncode != 0  # a flag is no verb
    p = hull(hull_bin, root, "update", f"--resources={res}", "live")
    assert p.returncode != 0 and "control socket" in p.stderr, p.stderr
    p = hull(hull_bin, root, "update", "--cpu-quota", "50000", "live")
    assert p.returncode != 0 and "control socket" in p.stderr, p.stderr
    assert "resources" not in json.loads((d / "state.json").read_text())["hull"]
    assert sleeper.poll() is None
    make_container(root, "dead", dead_pid(), "running", 1)
    p = hull(hull_bin, root, "update", "--pids-limit", "5", "dead")
    assert p.returncode != 0 and "container not running" in p.stderr, p.stderr


@host
def test_list(hull_bin, root, sleeper):
    p = hull(hull_bin, root, "list", "--format", "json")
    assert p.returncode == 0 and json.loads(p.stdout) == [], p
    make_container(root, "b-live", sleeper.pid, "running", start_time(sleeper.pid))
    make_container(root, "a-dead", dead_pid(), "created", 1, bundle="/bundle/a")
    (root / "not-a-container").write_text("")
    p = hull(hull_bin, root, "list", "--format", "json")
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert [(c["id"], c["status"]) for c in got] == [("a-dead", "stopped"),
                                                     ("b-live", "running")]
    p = hull(hull_bin, root, "list")
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"], lines
    assert lines[1].split()[:4] == ["a-dead", "0", "stopped", "/bundle/a"], lines
    assert lines[2].split()[:3] == ["b-live", str(sleeper.pid), "running"], lines
    p = hull(hull_bin, root, "list", "-q")
    assert p.stdout.split() == ["a-dead", "b-live"]
    # A corrupt container is named on stderr and does not hide the others.
    (root / "c-bad").mkdir()
    (root / "c-bad" / "state.json").write_text("{")
    p = hull(hull_bin, root, "list", "-q")
    assert p.stdout.split() == ["a-dead", "b-live"], p
    assert "c-bad" in p.stderr and "not valid JSON" in p.stderr, p.stderr


@host
def test_delete(hull_bin, root, sleeper):
    # Stopped: removed, and then it does not exist.
    make_container(root, "dead", dead_pid(), "running", 1)
    p = hull(hull_bin, root, "delete", "dead")
    assert p.returncode == 0, p.stderr
    assert not (root / "dead").exists()
    p = hull(hull_bin, root, "delete", "dead")
    assert p.returncode != 0 and 'container "dead" does not exist' in p.stderr
    # An unknown id with --force is success (containerd deletes twice).
    assert hull(hull_bin, root, "delete", "--force", "dead").returncode == 0
    # Running: refused without --force; with it the VMM is killed and the state removed.
    make_container(root, "live", sleeper.pid, "running", start_time(sleeper.pid))
    p = hull(hull_bin, root, "delete", "live")
    assert p.returncode != 0 and "not stopped" in p.stderr, p.stderr
    assert sleeper.poll() is None and (root / "live").exists()
    p = hull(hull_bin, root, "delete", "--force", "live")
    assert p.returncode == 0, p.stderr
    assert sleeper.wait(timeout=10) == -9
    assert not (root / "live").exists()
    # A corrupt state.json: named; --force removes it anyway.
    (root / "bad").mkdir()
    (root / "bad" / "lock").write_text("")
    (root / "bad" / "state.json").write_text("{\"id\": 1}")
    p = hull(hull_bin, root, "delete", "bad")
    assert p.returncode != 0 and "state of container bad" in p.stderr, p.stderr
    assert hull(hull_bin, root, "delete", "-f", "bad").returncode == 0
    assert not (root / "bad").exists()


@host
def test_bad_ids(hull_bin, root):
    for bad in ("..", ".", "a/b", "a b", "x" * 129):
        p = hull(hull_bin, root, "state", bad)
        assert p.returncode != 0 and "invalid container id" in p.stderr, (bad, p.stderr)
    assert not root.exists()  # nothing was made


@host
def test_features(hull_bin, root):
    p = hull(hull_bin, root, "features")
    assert p.returncode == 0, p.stderr
    f = json.loads(p.stdout)
    assert f["ociVersionMin"] == "1.0.0"
    assert "rbind" in f["mountOptions"]
    assert "CAP_SYS_ADMIN" in f["linux"]["capabilities"]
    sc = f["linux"]["seccomp"]
    assert sc["enabled"] and "SCMP_ACT_ERRNO" in sc["actions"], sc
    assert "SCMP_CMP_MASKED_EQ" in sc["operators"] and "SCMP_ARCH_X86_64" in sc["archs"], sc


@host
def test_spec(hull_bin, root, tmp_path):
    b = tmp_path / "bundle"
    b.mkdir()
    p = hull(hull_bin, root, "spec", "--bundle", str(b))
    assert p.returncode == 0, p.stderr
    spec = json.loads((b / "config.json").read_text())
    assert spec["root"]["path"] == "rootfs" and spec["process"]["args"] == ["sh"]
    p = hull(hull_bin, root, "spec", "-b", str(b))
    assert p.returncode != 0 and "exists" in p.stderr
    # In the current directory by default.
    c = tmp_path / "cwd"
    c.mkdir()
    p = subprocess.run([hull_bin, "spec"], cwd=c, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and json.loads((c / "config.json").read_text())["ociVersion"]


@host
def test_version(hull_bin):
    p = subprocess.run([hull_bin, "--version"], capture_output=True, text=True, timeout=30)
    lines = p.stdout.splitlines()
    assert p.returncode == 0
    assert lines[0].startswith("hull version ") and lines[1].startswith("spec: 1."), lines


@host
def test_usage_errors(hull_bin, root):
    for argv in (["create", "--bundle", "/b"], ["kill", "c", "NOSIG"], ["start"],
                 ["exec", "c"], ["list", "--format", "yaml"], ["delete", "--frob", "c"]):
        p = hull(hull_bin, root, *argv)
        assert p.returncode == 2, (argv, p)
        assert p.stderr.count("\n") == 1, (argv, p.stderr)


# --- lab: real containers ------------------------------------------------------------------------

BOOT_TIMEOUT = 180  # TCG lab: a VM's boot takes seconds, several at once more
PR_SET_CHILD_SUBREAPER = 36


@pytest.fixture
def subreaper():
    """This process as a child subreaper, as the shims are: the VMM's pid becomes our child."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    yield
    libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


@pytest.fixture
def lab_bundle(tmp_path):
    """make(args, linux=None, **process fields) -> a bundle of a private busybox rootfs copy
    running args (linux: config.json's linux section)."""
    import shutil
    import tempfile
    script = REPO / "tests" / "images" / "busybox-rootfs.sh"
    cached = subprocess.run([script, "--path"], check=True, capture_output=True,
                            text=True).stdout.strip()
    tops = []

    def make(args, linux=None, **extra):
        top = Path(tempfile.mkdtemp(prefix="hull-rt-", dir="/tmp"))
        tops.append(top)
        shutil.copytree(cached, top / "rootfs", symlinks=True)
        proc = {"args": args, "cwd": "/", "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                "user": {"uid": 0, "gid": 0}, **extra}
        cfg = {"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": proc,
               "annotations": {"org.example": "lab"}}
        if linux is not None:
            cfg["linux"] = linux
        (top / "config.json").write_text(json.dumps(cfg))
        return top
    yield make
    for t in tops:
        shutil.rmtree(t, ignore_errors=True)


def rt(hull_bin, root, *args, **kw):
    kw.setdefault("timeout", BOOT_TIMEOUT)
    return hull(hull_bin, root, *args, **kw)


def state_of(hull_bin, root, cid):
    p = rt(hull_bin, root, "state", cid)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def create(hull_bin, root, bundle, cid, tmp_path, *extra):
    """hull create with a pid file: (pid, stdout path, stderr path). Its stdio is the
    container's (kept by the VMM), so files, not pipes we would wait on: /dev/null in."""
    pid_file = tmp_path / f"{cid}.pid"
    out, err = tmp_path / f"{cid}.out", tmp_path / f"{cid}.err"
    with open(out, "wb") as o, open(err, "wb") as e:
        p = subprocess.run([hull_bin, "--root", str(root), "create", "--bundle", str(bundle),
                            "--pid-file", str(pid_file), *extra, cid],
                           stdin=subprocess.DEVNULL, stdout=o, stderr=e, timeout=BOOT_TIMEOUT)
    assert p.returncode == 0, err.read_text()
    return int(pid_file.read_text()), out, err


def wait_status(pid, timeout=BOOT_TIMEOUT):
    """The VMM's wait status (it is our child: we are a subreaper)."""
    import time
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got, st = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            return st
        time.sleep(0.05)
    pytest.fail(f"pid {pid} still alive after {timeout} s", pytrace=False)


@lab
def test_lifecycle(hull_bin, tmp_path, lab_bundle, subreaper):
    """create → created (the pid file's pid is the VMM, alive, our child) → start → running →
    kill TERM → the pid's wait status is the container's (killed by SIGTERM) → stopped →
    delete; the process's stdout is create's; errors in runc's words on the way."""
    root = tmp_path / "root"
    b = lab_bundle(["/bin/sh", "-c", "echo hello; echo oops >&2; exec sleep 1000"])
    pid, out, err = create(hull_bin, root, b, "c1", tmp_path)
    s = state_of(hull_bin, root, "c1")
    assert (s["status"], s["pid"], s["bundle"]) == ("created", pid, str(b)), s
    assert s["rootfs"] == str(b / "rootfs") and s["annotations"] == {"org.example": "lab"}
    assert os.waitpid(pid, os.WNOHANG) == (0, 0)
    p = rt(hull_bin, root, "create", "--bundle", str(b), "c1")
    assert p.returncode != 0 and "exists" in p.stderr, p.stderr
    p = rt(hull_bin, root, "start", "c1")
    assert p.returncode == 0, p.stderr
    assert state_of(hull_bin, root, "c1")["status"] == "running"
    p = rt(hull_bin, root, "start", "c1")
    assert p.returncode != 0 and "already running" in p.stderr, p.stderr
    p = rt(hull_bin, root, "delete", "c1")
    assert p.returncode != 0 and "not stopped" in p.stderr, p.stderr
    p = rt(hull_bin, root, "list", "--format", "json")
    assert [(c["id"], c["status"]) for c in json.loads(p.stdout)] == [("c1", "running")]
    p = rt(hull_bin, root, "kill", "c1", "TERM")
    assert p.returncode == 0, p.stderr
    st = wait_status(pid)
    assert os.WIFSIGNALED(st) and os.WTERMSIG(st) == signal.SIGTERM, st
    assert out.read_text() == "hello\n" and err.read_text() == "oops\n"
    s = state_of(hull_bin, root, "c1")
    assert s["status"] == "stopped", s
    p = rt(hull_bin, root, "kill", "c1", "KILL")
    assert p.returncode != 0 and "container not running" in p.stderr, p.stderr
    p = rt(hull_bin, root, "delete", "c1")
    assert p.returncode == 0, p.stderr
    p = rt(hull_bin, root, "state", "c1")
    assert p.returncode != 0 and 'container "c1" does not exist' in p.stderr


@lab
def test_exit_code_and_created_kill(hull_bin, tmp_path, lab_bundle, subreaper):
    """The pid's wait status is the container's exit code; a created container killed ends
    as killed by that signal; delete of a created container ends its VMM."""
    root = tmp_path / "root"
    b = lab_bundle(["/bin/sh", "-c", "exit 42"])
    pid, _, _ = create(hull_bin, root, b, "x42", tmp_path)
    assert rt(hull_bin, root, "start", "x42").returncode == 0
    st = wait_status(pid)
    assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == 42, st
    assert rt(hull_bin, root, "delete", "x42").returncode == 0
    pid, _, _ = create(hull_bin, root, b, "k9", tmp_path)
    p = rt(hull_bin, root, "kill", "k9", "9")
    assert p.returncode == 0, p.stderr
    st = wait_status(pid)
    assert os.WIFSIGNALED(st) and os.WTERMSIG(st) == signal.SIGKILL, st
    assert rt(hull_bin, root, "delete", "k9").returncode == 0
    pid, _, _ = create(hull_bin, root, b, "del", tmp_path)
    assert rt(hull_bin, root, "delete", "del").returncode == 0
    wait_status(pid)
    assert not (root / "del").exists()


@lab
def test_run(hull_bin, tmp_path, lab_bundle):
    """run (runc's form): create + start in the foreground, its exit status the container's,
    its stdio ours; the container is gone after."""
    root = tmp_path / "root"
    b = lab_bundle(["/bin/sh", "-c", "read x; echo got $x; echo err >&2; exit 7"])
    p = subprocess.run([hull_bin, "--root", str(root), "run", "-b", str(b), "r1"],
                       input="line\n", capture_output=True, text=True, timeout=BOOT_TIMEOUT)
    assert p.returncode == 7, p
    assert p.stdout == "got line\n" and p.stderr == "err\n", p
    assert not (root / "r1").exists()


@lab
def test_seccomp(hull_bin, tmp_path, lab_bundle, subreaper, monkeypatch):
    """linux.seccomp compiled on the host and loaded by hull-init: the container's process and
    an exec'd one (with and without noNewPrivileges) get EPERM from mkdir, other calls work.
    The profile's flags (LOG, SPEC_ALLOW; TSYNC changes nothing) go to the guest's seccomp(2),
    which refuses flags it does not know: a load that failed would be the start's error. The
    program is kept in $HULL_CACHE/seccomp: a second container with the profile gets it from
    there, and it holds there too."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("HULL_CACHE", str(cache))
    root = tmp_path / "root"
    flags = ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
             "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
    b = lab_bundle(["/bin/sh", "-c", "mkdir /tmp/x; echo main-rc=$?; touch /tmp/f && "
                    "echo main-ok; grep Seccomp: /proc/self/status; exec sleep 1000"],
                   linux={"seccomp": dict(DENY_MKDIR, flags=flags)})
    pid, out, err = create(hull_bin, root, b, "s1", tmp_path)
    # The profile is compiled once, by create (the VMM takes it over): one warning about the
    # name libseccomp does not know, on create's stderr, none in the VMM's log.
    assert err.read_text().count("does not know") == 1, err.read_text()
    vmm_log = root / "s1" / "vmm.log"
    assert not vmm_log.exists() or "does not know" not in vmm_log.read_text()
    assert rt(hull_bin, root, "start", "s1").returncode == 0
    script = "mkdir /tmp/y; echo exec-rc=$?; ls /tmp >/dev/null && echo exec-ok"
    p = rt(hull_bin, root, "exec", "s1", "/bin/sh", "-c", script)
    assert (p.returncode, p.stdout) == (0, "exec-rc=1\nexec-ok\n"), p
    assert "Operation not permitted" in p.stderr, p
    proc = {"args": ["/bin/sh", "-c", script], "cwd": "/", "user": {"uid": 0, "gid": 0},
            "env": ["PATH=/bin"], "noNewPrivileges": True}
    pf = tmp_path / "proc.json"
    pf.write_text(json.dumps(proc))
    p = rt(hull_bin, root, "exec", "--process", str(pf), "s1")
    assert (p.returncode, p.stdout) == (0, "exec-rc=1\nexec-ok\n"), p
    assert "Operation not permitted" in p.stderr, p
    assert rt(hull_bin, root, "kill", "s1", "KILL").returncode == 0
    wait_status(pid)
    assert out.read_text().splitlines() == ["main-rc=1", "main-ok", "Seccomp:\t2"], \
        (out.read_text(), err.read_text())
    assert "Operation not permitted" in err.read_text(), err.read_text()
    assert rt(hull_bin, root, "delete", "s1").returncode == 0

    kept = list((cache / "seccomp").iterdir())
    assert len(kept) == 1 and kept[0].name.startswith("sc-"), kept
    monkeypatch.setenv("HULL_DEBUG", "1")
    pid, out, err = create(hull_bin, root, b, "s2", tmp_path)
    assert f"the program compiled before, from {kept[0]}" in err.read_text(), err.read_text()
    assert err.read_text().count("does not know") == 1, err.read_text()
    assert rt(hull_bin, root, "start", "s2").returncode == 0
    end = time.monotonic() + BOOT_TIMEOUT
    while "Seccomp:" not in out.read_text() and time.monotonic() < end:
        time.sleep(0.1)
    assert rt(hull_bin, root, "kill", "s2", "KILL").returncode == 0
    wait_status(pid)
    assert out.read_text().splitlines() == ["main-rc=1", "main-ok", "Seccomp:\t2"], \
        (out.read_text(), err.read_text())
    assert rt(hull_bin, root, "delete", "s2").returncode == 0


def recv_master(sock, timeout=BOOT_TIMEOUT):
    """The pty master sent on the console socket (SCM_RIGHTS, one fd)."""
    import array
    import socket
    sock.settimeout(timeout)
    conn, _ = sock.accept()
    fds = array.array("i")
    msg, anc, _, _ = conn.recvmsg(64, socket.CMSG_SPACE(fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:fds.itemsize])
    conn.close()
    assert len(fds) == 1, anc
    return fds[0]


def read_until(fd, want, timeout=BOOT_TIMEOUT):
    import select
    import time
    got = b""
    end = time.monotonic() + timeout
    while want not in got and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 1)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            got += chunk
    return got


@lab
def test_exec_pause_ps_update(hull_bin, tmp_path, lab_bundle, subreaper):
    """exec (args form and --process, foreground and --detach --pid-file, with a terminal
    through --console-socket), pause/resume, ps, update on one running container."""
    import socket
    root = tmp_path / "root"
    b = lab_bundle(["/bin/sleep", "1000"])
    pid, _, _ = create(hull_bin, root, b, "e1", tmp_path)
    assert rt(hull_bin, root, "start", "e1").returncode == 0
    # exec ID CMD...: stdio ours, stdout and stderr apart, the exit code the process's.
    p = subprocess.run([hull_bin, "--root", str(root), "exec", "--env", "X=1", "e1", "/bin/sh",
                        "-c", "cat; echo x=$X; echo e >&2; exit 3"],
                       input="in\n", capture_output=True, text=True, timeout=BOOT_TIMEOUT)
    assert (p.returncode, p.stdout, p.stderr) == (3, "in\nx=1\n", "e\n"), p
    # --process F --detach --pid-file: the pid (our child) ends as the process does.
    proc = {"args": ["/bin/sh", "-c", "sleep 1; exit 5"], "cwd": "/",
            "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]}
    pf = tmp_path / "proc.json"
    pf.write_text(json.dumps(proc))
    p = rt(hull_bin, root, "exec", "--process", str(pf), "--detach", "--pid-file",
           str(tmp_path / "e.pid"), "e1", stdin=None)
    assert p.returncode == 0, p.stderr
    st = wait_status(int((tmp_path / "e.pid").read_text()))
    assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == 5, st
    # A terminal: the master comes on the console socket; the process sees a tty.
    sock_path = str(tmp_path / "console.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(sock_path)
    sock.listen(1)
    # The size set on the master reaches the guest's pty (the relay follows SIGWINCH).
    size_ok = 'while [ "$(stty size)" != "33 99" ]; do sleep 0.1; done; echo size-ok'
    proc = {"args": ["/bin/sh", "-c", f"test -t 0 && echo is-a-tty; {size_ok}; exit 4"],
            "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"], "terminal": True}
    pf.write_text(json.dumps(proc))
    argv = [hull_bin, "--root", str(root), "exec", "--process", str(pf), "--tty",
            "--console-socket", sock_path, "--detach", "--pid-file", str(tmp_path / "t.pid"),
            "e1"]
    ex = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    master = recv_master(sock)
    import fcntl
    import struct
    import termios
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 99, 0, 0))
    _, err = ex.communicate(timeout=BOOT_TIMEOUT)
    assert ex.returncode == 0, err
    got = read_until(master, b"size-ok")
    assert b"is-a-tty" in got and b"size-ok" in got, got
    st = wait_status(int((tmp_path / "t.pid").read_text()))
    assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == 4, st
    os.close(master)
    sock.close()
    # A detached exec's relay passes on the signals it gets: the process ends by SIGTERM, and
    # so does the relay. A relay killed by SIGKILL hangs up: the VMM kills its process.
    proc = {"args": ["/bin/sleep", "1001"], "cwd": "/", "user": {"uid": 0, "gid": 0},
            "env": ["PATH=/bin"]}
    pf.write_text(json.dumps(proc))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        # Its stdio is the process's, kept by the VMM: files, not pipes we would wait on.
        with open(tmp_path / "s.err", "w+") as e:
            p = subprocess.run([hull_bin, "--root", str(root), "exec", "--process", str(pf),
                                "--detach", "--pid-file", str(tmp_path / "s.pid"), "e1"],
                               stdin=subprocess.DEVNULL, stdout=e, stderr=e,
                               timeout=BOOT_TIMEOUT)
            e.seek(0)
            assert p.returncode == 0, e.read()
        relay = int((tmp_path / "s.pid").read_text())
        os.kill(relay, sig)
        st = wait_status(relay)
        assert os.WIFSIGNALED(st) and os.WTERMSIG(st) == sig, (sig, st)
    for _ in range(60):
        p = subprocess.run([hull_bin, "--root", str(root), "exec", "e1", "/bin/ps"],
                           capture_output=True, text=True, timeout=BOOT_TIMEOUT)
        assert p.returncode == 0, p
        if "sleep 1001" not in p.stdout:
            break
    else:
        pytest.fail(f"the exec'd process outlived its relay:\n{p.stdout}")
    # exec -t in the foreground on a terminal: that terminal both ways, its size followed
    # (SIGWINCH to hull exec reaches the process), its settings put back after.
    import fcntl
    import pty
    import struct
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    before = termios.tcgetattr(slave)
    wait_size = 'while [ "$(stty size)" != "{}" ]; do sleep 0.1; done; echo {}'
    script = (wait_size.format("33 101", "first-ok") + "; " +
              wait_size.format("40 120", "second-ok") + "; exit 5")
    ex = subprocess.Popen([hull_bin, "--root", str(root), "exec", "-t", "e1", "/bin/sh", "-c",
                           script], stdin=slave, stdout=slave, stderr=slave)
    got = read_until(master, b"first-ok")
    assert b"first-ok" in got, got
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    ex.send_signal(signal.SIGWINCH)
    got = read_until(master, b"second-ok")
    assert b"second-ok" in got, got
    assert ex.wait(BOOT_TIMEOUT) == 5
    assert termios.tcgetattr(slave) == before
    os.close(master)
    os.close(slave)
    # ps: the VMM's pid.
    p = rt(hull_bin, root, "ps", "--format", "json", "e1")
    assert p.returncode == 0 and json.loads(p.stdout) == [pid], p
    # pause / resume
    assert rt(hull_bin, root, "pause", "e1").returncode == 0
    assert state_of(hull_bin, root, "e1")["status"] == "paused"
    p = rt(hull_bin, root, "pause", "e1")
    assert p.returncode != 0 and "container not running" in p.stderr, p.stderr
    assert rt(hull_bin, root, "resume", "e1").returncode == 0
    assert state_of(hull_bin, root, "e1")["status"] == "running"
    p = rt(hull_bin, root, "resume", "e1")
    assert p.returncode != 0 and "not paused" in p.stderr, p.stderr
    p = rt(hull_bin, root, "update", "--memory", "256m", "e1")
    assert p.returncode == 0, p.stderr
    # Paused and killed: the VMM ends as killed by SIGKILL.
    assert rt(hull_bin, root, "pause", "e1").returncode == 0
    assert rt(hull_bin, root, "kill", "e1", "KILL").returncode == 0
    st = wait_status(pid)
    assert os.WIFSIGNALED(st) and os.WTERMSIG(st) == signal.SIGKILL, st
    assert rt(hull_bin, root, "delete", "e1").returncode == 0


@lab
def test_console_socket_long_root(hull_bin, tmp_path, lab_bundle, subreaper):
    """create --console-socket with a 64-character id under a root longer than a socket
    address holds: the pty master is ours, the container's terminal output comes on it, its
    size follows ours; create's stdout is not kept (its pipe ends when create returns)."""
    import socket
    root = tmp_path / ("r" * 150) / "root"
    cid = "a" * 64
    size_ok = 'while [ "$(stty size)" != "21 77" ]; do sleep 0.1; done; echo size-ok'
    b = lab_bundle(["/bin/sh", "-c", f"read x; echo got-$x; {size_ok}; exit 6"], terminal=True)
    sock_path = str(tmp_path / "c.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(sock_path)
    sock.listen(1)
    argv = [hull_bin, "--root", str(root), "create", "--bundle", str(b), "--pid-file",
            str(tmp_path / "c.pid"), "--console-socket", sock_path, cid]
    cr = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    master = recv_master(sock)
    out, err = cr.communicate(timeout=BOOT_TIMEOUT)  # EOF: nobody keeps create's pipes
    assert cr.returncode == 0, err
    pid = int((tmp_path / "c.pid").read_text())
    import fcntl
    import struct
    import termios
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 21, 77, 0, 0))
    assert rt(hull_bin, root, "start", cid).returncode == 0
    assert state_of(hull_bin, root, cid)["status"] == "running"
    os.write(master, b"abc\n")
    got = read_until(master, b"size-ok")
    assert b"got-abc" in got and b"size-ok" in got, got
    st = wait_status(pid)
    assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == 6, st
    os.close(master)
    assert rt(hull_bin, root, "delete", cid).returncode == 0


HOOK_KINDS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
              "poststop"]


def hook_bundle(lab_bundle, record, fail=()):
    """A bundle whose every hook kind appends "<kind> <its stdin>" as one line to record; the
    kinds in fail then say so on stderr and exit 3."""
    b = lab_bundle(["/bin/sh", "-c", "exec sleep 1000"])
    cfg = json.loads((b / "config.json").read_text())
    hooks = {}
    for kind in HOOK_KINDS:
        script = f'printf "%s " "$1" >> "{record}"; cat >> "{record}"; echo >> "{record}"'
        if kind in fail:
            script += f'; echo "{kind} says no"; exit 3'
        hooks[kind] = [{"path": "/bin/sh", "args": ["sh", "-c", script, "sh", kind],
                        "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOOK_KIND=" + kind],
                        "timeout": 60}]
    cfg["hooks"] = hooks
    (b / "config.json").write_text(json.dumps(cfg))
    return b


def hook_lines(record):
    """[(kind, state object)] in the order the hooks ran."""
    out = []
    for line in Path(record).read_text().splitlines():
        kind, _, state = line.partition(" ")
        out.append((kind, json.loads(state)))
    return out


@lab
def test_hooks_lifecycle(hull_bin, tmp_path, lab_bundle, subreaper):
    """Every hook kind runs on the host in the spec's order with the state `state` prints on
    its stdin: prestart, createRuntime, createContainer during create (creating, the VMM's
    pid), startContainer (created) and poststart (running) at start, poststop (stopped, pid 0)
    at delete after the VMM is gone."""
    root = tmp_path / "root"
    record = tmp_path / "hooks.txt"
    b = hook_bundle(lab_bundle, record)
    pid, _, _ = create(hull_bin, root, b, "h1", tmp_path)
    created = state_of(hull_bin, root, "h1")
    got = hook_lines(record)
    assert [k for k, _ in got] == HOOK_KINDS[:3], got
    for kind, s in got:
        assert s == dict(created, status="creating"), (kind, s, created)
        assert s["pid"] == pid and s["annotations"] == {"org.example": "lab"}
    # No network namespace path: the VMM's is its own, never the host's (docker's prestart
    # hook wires its bridge into /proc/PID/ns/net).
    assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
    assert rt(hull_bin, root, "start", "h1").returncode == 0
    got = hook_lines(record)
    assert [(k, s["status"], s["pid"]) for k, s in got[3:]] == \
        [("startContainer", "created", pid), ("poststart", "running", pid)], got
    assert rt(hull_bin, root, "kill", "h1", "KILL").returncode == 0
    st = wait_status(pid)
    assert os.WIFSIGNALED(st) and os.WTERMSIG(st) == signal.SIGKILL, st
    assert len(hook_lines(record)) == 5  # nothing at the VMM's end: poststop is delete's
    p = rt(hull_bin, root, "delete", "h1")
    assert p.returncode == 0, p.stderr
    got = hook_lines(record)
    assert [k for k, _ in got] == HOOK_KINDS, got
    assert (got[5][1]["status"], got[5][1]["pid"], got[5][1]["id"]) == ("stopped", 0, "h1")


@lab
def test_hooks_failures(hull_bin, tmp_path, lab_bundle, subreaper):
    """A failing prestart fails create: its output and cause logged, the VMM killed, poststop
    run, no container left. A failing poststart and poststop are warnings: start and delete
    succeed."""
    root = tmp_path / "root"
    record = tmp_path / "fail.txt"
    log = tmp_path / "fail.log"
    b = hook_bundle(lab_bundle, record, fail=("prestart",))
    p = rt(hull_bin, root, "create", "--bundle", str(b), "--pid-file", str(tmp_path / "f.pid"),
           "f1", log=log, stdin="")
    assert p.returncode != 0
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    msgs = [x["msg"] for x in lines]
    assert "hook prestart: prestart says no" in msgs, msgs
    assert "prestart hook 0 (/bin/sh): exit status 3" in lines[-1]["msg"], lines[-1]
    got = hook_lines(record)
    assert [(k, s["status"]) for k, s in got] == [("prestart", "creating"),
                                                  ("poststop", "stopped")], got
    assert not os.path.exists(f"/proc/{got[0][1]['pid']}"), "the VMM was left running"
    assert not (root / "f1").exists() and not (tmp_path / "f.pid").exists()
    p = rt(hull_bin, root, "state", "f1")
    assert p.returncode != 0 and 'container "f1" does not exist' in p.stderr

    record2 = tmp_path / "warn.txt"
    b = hook_bundle(lab_bundle, record2, fail=("poststart", "poststop"))
    pid, _, _ = create(hull_bin, root, b, "w1", tmp_path)
    p = rt(hull_bin, root, "start", "w1")
    assert p.returncode == 0, p.stderr
    assert "warning: poststart hook 0 (/bin/sh): exit status 3" in p.stderr, p.stderr
    assert state_of(hull_bin, root, "w1")["status"] == "running"
    p = rt(hull_bin, root, "delete", "--force", "w1")
    assert p.returncode == 0, p.stderr
    assert "warning: poststop hook 0 (/bin/sh): exit status 3" in p.stderr, p.stderr
    wait_status(pid)
    assert [k for k, _ in hook_lines(record2)] == HOOK_KINDS
    assert not (root / "w1").exists()
