"""Host group: hull as an OCI runtime, the verbs that need no VM — state, list, delete, features,
spec — on a state directory of our own (--root), and runc's errors where the shims read them.
Containers are made by writing <root>/<id>/state.json as `create` will (container/state.h):
a VMM that is a live process of ours (running), or one that has exited (stopped)."""

import json
import os
import subprocess

import pytest

pytestmark = pytest.mark.host


def hull(hull_bin, root, *args, stdin=None, log=None):
    argv = [hull_bin, "--root", str(root)]
    if log:
        argv += ["--log", str(log), "--log-format", "json"]
    return subprocess.run(argv + list(args), input=stdin, capture_output=True, timeout=30,
                          text=True)


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


def test_kill_stopped_container(hull_bin, root):
    """runc's words for a kill of a container that is not running (podman reads them)."""
    make_container(root, "dead", dead_pid(), "running", 1)
    p = hull(hull_bin, root, "kill", "dead", "9")
    assert p.returncode != 0
    assert "container not running" in p.stderr, p.stderr


def test_not_implemented_is_said(hull_bin, root, sleeper):
    """The verbs that need a VMM fail plainly, never pretending to have worked."""
    make_container(root, "live", sleeper.pid, "running", start_time(sleeper.pid))
    for verb in (["kill", "live", "KILL"], ["pause", "live"], ["start", "live"],
                 ["create", "--bundle", "/b", "new"]):
        p = hull(hull_bin, root, *verb)
        assert p.returncode != 0 and "not implemented yet" in p.stderr, (verb, p.stderr)
    assert sleeper.poll() is None  # nothing was signalled


def test_update_resources_checked(hull_bin, root, sleeper, tmp_path):
    make_container(root, "live", sleeper.pid, "running", start_time(sleeper.pid))
    p = hull(hull_bin, root, "update", "--resources", "-", "live", stdin="{\"memory\":")
    assert p.returncode != 0 and "not valid JSON" in p.stderr, p.stderr
    res = tmp_path / "res.json"
    res.write_text('{"memory": {"limit": 1073741824}, "cpu": {"shares": 512}, "unknown": 1}')
    p = hull(hull_bin, root, f"--resources={res}", "live")
    assert p.returncode != 0  # a flag is no verb
    p = hull(hull_bin, root, "update", f"--resources={res}", "live")
    assert p.returncode != 0 and "not implemented yet" in p.stderr, p.stderr
    p = hull(hull_bin, root, "update", "--resources", "-", "live",
             stdin='{"pids": {"limit": 10}}')
    assert "not implemented yet" in p.stderr, p.stderr


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


def test_bad_ids(hull_bin, root):
    for bad in ("..", ".", "a/b", "a b", "x" * 129):
        p = hull(hull_bin, root, "state", bad)
        assert p.returncode != 0 and "invalid container id" in p.stderr, (bad, p.stderr)
    assert not root.exists()  # nothing was made


def test_features(hull_bin, root):
    p = hull(hull_bin, root, "features")
    assert p.returncode == 0, p.stderr
    f = json.loads(p.stdout)
    assert f["ociVersionMin"] == "1.0.0"
    assert "rbind" in f["mountOptions"]
    assert "CAP_SYS_ADMIN" in f["linux"]["capabilities"]


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


def test_version(hull_bin):
    p = subprocess.run([hull_bin, "--version"], capture_output=True, text=True, timeout=30)
    lines = p.stdout.splitlines()
    assert p.returncode == 0
    assert lines[0].startswith("hull version ") and lines[1].startswith("spec: 1."), lines


def test_usage_errors(hull_bin, root):
    for argv in (["create", "--bundle", "/b"], ["kill", "c", "NOSIG"], ["start"],
                 ["exec", "c"], ["list", "--format", "yaml"], ["delete", "--frob", "c"]):
        p = hull(hull_bin, root, *argv)
        assert p.returncode == 2, (argv, p)
        assert p.stderr.count("\n") == 1, (argv, p.stderr)
