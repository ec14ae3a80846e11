"""virtio-balloon: `hull ctl PATH balloon [SIZE]` against a stand-in (host, no KVM), and a guest
that gives memory back to the host (lab): free page reporting returns what it frees, the balloon
inflates to a target set on the control socket, and its statistics reach the control socket."""

import json
import subprocess
import time

import pytest

from harness import guest_cmdline, rss_bytes
from test_control import StandIn, rundir  # noqa: F401 (a fixture)

MIB = 1 << 20
GIB = 1 << 30
GUEST_MEM = 1536 * MIB
INFLATE = 768 * MIB


def ctl_balloon(hull_bin, sock, *size, timeout=60):
    """`hull ctl SOCK balloon [SIZE]`: (exit status, stdout, stderr)."""
    p = subprocess.run([hull_bin, "ctl", str(sock), "balloon", *size], capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


# --- host: the client against a stand-in -----------------------------------------------------

@pytest.mark.host
def test_ctl_balloon_request(hull_bin, rundir):
    """SIZE becomes "target" in bytes; without SIZE the request is the query alone; a SIZE that
    is no size is bad usage (exit 2) and nothing is sent."""
    reply = b'{"target":1073741824,"actual":0,"released":0,"reported":0,"stats":{}}\n'
    server = StandIn(rundir / "api.sock", reply)
    rc, out, err = ctl_balloon(hull_bin, rundir / "api.sock", "1G")
    server.join()
    assert (rc, out, err) == (0, reply.decode(), ""), (rc, out, err)
    assert server.request == b'{"cmd":"balloon","target":1073741824}\n'

    server = StandIn(rundir / "q.sock", reply)
    rc, out, err = ctl_balloon(hull_bin, rundir / "q.sock")
    server.join()
    assert rc == 0 and server.request == b'{"cmd":"balloon"}\n', (rc, out, err)

    rc, out, err = ctl_balloon(hull_bin, rundir / "none.sock", "lots")
    assert rc == 2 and "balloon 'lots': not a size" in err, (rc, out, err)
    p = subprocess.run([hull_bin, "ctl", str(rundir / "none.sock"), "state", "1G"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "state takes no argument" in p.stderr, p


# --- lab: a guest that gives memory back -----------------------------------------------------

def balloon_state(hull_bin, sock, h):
    rc, out, err = ctl_balloon(hull_bin, sock)
    assert rc == 0, (rc, out, err, h.describe())
    return json.loads(out)


def poll(what, timeout, step=0.5):
    """Call what() until it returns something true, for at most timeout seconds: the value and
    the seconds it took, or (None, timeout)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        got = what()
        if got:
            return got, time.monotonic() - start
        time.sleep(step)
    return None, timeout


@pytest.mark.lab
def test_balloon(hull, hull_bin, busybox_initrd, project_bzimage, rundir):
    """One guest of 1.5 GiB (its script: scripts.py "balloon"):
    (c) its statistics arrive on the control socket (total_memory is its MemTotal) and are
        refreshed while someone asks (free_memory falls once it filled 1 GiB);
    (b) free page reporting: it frees 1 GiB it had touched and hull's RSS falls by at least
        80% of it (the time it took is printed);
    (a) with reporting stopped and its free memory touched again, a target of 768 MiB set
        with `hull ctl PATH balloon 768M`: the balloon reaches it (actual) and hull's RSS falls
        by at least 80% of it; a target of 0 gives the memory back to the guest; a target above
        its RAM is refused with an error reply."""
    sock = rundir / "api.sock"
    h = hull("--kernel", project_bzimage, "--initrd", busybox_initrd, "--memory", "1536M",
             "--balloon", "on", "--api-sock", sock, "--cmdline", guest_cmdline("balloon"))
    m = h.expect(r"HULL-BALLOON-MEM total=(\d+) order=(\d+)\n", 120)
    total, order = int(m.group(1)) * 1024, int(m.group(2))
    print(f"balloon: guest MemTotal {total >> 20} MiB, page reporting order {order}")

    # (c) The driver's first statistics come with its probe, before the kernel freed its init
    # memory; fresh ones, asked for, have the MemTotal the guest printed.
    st, _ = poll(lambda: (s := balloon_state(hull_bin, sock, h))["stats"].get("total_memory")
                 == total and s, 30)
    assert st, f"no statistics, or no fresh ones\n{balloon_state(hull_bin, sock, h)}\n" \
               f"{h.describe()}"
    assert 0 < st["stats"]["free_memory"] <= total, st
    assert st["target"] == 0 and st["actual"] == 0, st

    # (b) 1 GiB touched and freed: free page reporting hands it back.
    h.expect(r"HULL-BALLOON-FILLED free=(\d+)\n", 300)
    filled = rss_bytes(h.proc.pid)
    # Fresh figures while someone asks: the guest's free memory fell by the 1 GiB it holds.
    st, _ = poll(lambda: (s := balloon_state(hull_bin, sock, h))["stats"]["free_memory"]
                 < total - 900 * MIB and s, 30)
    assert st, f"statistics not refreshed after the guest filled 1 GiB\n{h.describe()}"
    reported0 = st["reported"]
    h.send("free\n")
    h.expect(r"HULL-BALLOON-FREED\n", 120)
    freed_at = time.monotonic()
    back, took = poll(lambda: filled - rss_bytes(h.proc.pid) >= 0.8 * GIB, 240)
    assert back, (f"in {took:.0f} s hull's RSS fell by "
                  f"{(filled - rss_bytes(h.proc.pid)) >> 20} MiB of the 1024 MiB the guest "
                  f"freed\n{h.describe()}")
    print(f"balloon: free page reporting returned 80% of 1 GiB in {took:.1f} s "
          f"(hull RSS {filled >> 20} -> {rss_bytes(h.proc.pid) >> 20} MiB)")
    # Then until it stops falling (two samples 2 s apart within 4 MiB), for at most 60 s more.
    last = rss_bytes(h.proc.pid)
    for _ in range(30):
        time.sleep(2)
        now = rss_bytes(h.proc.pid)
        if last - now < 4 * MIB:
            break
        last = now
    print(f"balloon: {(filled - now) >> 20} MiB of the 1024 back after "
          f"{time.monotonic() - freed_at:.1f} s")
    st = balloon_state(hull_bin, sock, h)
    assert st["reported"] - reported0 >= 0.8 * GIB, st

    # (a) Reporting stopped, the guest's free memory touched again: the balloon takes it.
    h.send("touch\n")
    m = h.expect(r"HULL-BALLOON-TOUCHED free=(\d+)\n", 300)
    rc, out, err = ctl_balloon(hull_bin, sock, str(GUEST_MEM + 4096))
    assert rc == 1 and "more than the guest's" in err + out, (rc, out, err)
    before = rss_bytes(h.proc.pid)
    started = time.monotonic()
    rc, out, err = ctl_balloon(hull_bin, sock, "768M")
    assert rc == 0 and json.loads(out)["target"] == INFLATE, (rc, out, err)
    st, took = poll(lambda: (s := balloon_state(hull_bin, sock, h))["actual"] == INFLATE and s,
                    300)
    after = rss_bytes(h.proc.pid)
    assert st, f"the balloon did not reach 768 MiB\n{balloon_state(hull_bin, sock, h)}\n" \
               f"{h.describe()}"
    print(f"balloon: inflated to 768 MiB in {took:.1f} s "
          f"(hull RSS {before >> 20} -> {after >> 20} MiB)")
    assert st["released"] >= INFLATE, st
    assert before - after >= 0.8 * INFLATE, (before, after, st)
    assert ctl_balloon(hull_bin, sock, "0")[0] == 0
    st, took = poll(lambda: (s := balloon_state(hull_bin, sock, h))["actual"] == 0 and s, 300)
    assert st, f"the balloon did not deflate\n{h.describe()}"
    print(f"balloon: deflated in {took:.1f} s; {time.monotonic() - started:.1f} s in all")
    h.send("done\n")
    m = h.expect(r"HULL-BALLOON-DONE free=(\d+)\n", 60)
    # Deflated, the guest has its memory again.
    assert int(m.group(1)) * 1024 > INFLATE, m.group(0)
    h.expect(r"HULL-INIT: done status=0\n", 60)
    assert h.wait(60) == 0, h.describe()
