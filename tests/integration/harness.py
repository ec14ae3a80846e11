"""harness: what the integration tests share besides fixtures: where things are, which machine
this is, and Hull, a `hull vm` process whose console is read as it comes."""

import os
import re
import selectors
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# vmm's default command line (arch_default_cmdline()); --cmdline replaces it entirely.
DEFAULT_CMDLINE = ("console=ttyS0 reboot=k panic=-1 pci=off i8042.noaux i8042.nomux "
                   "i8042.dumbkbd 8250.nr_uarts=1 quiet")


def guest_cmdline(name, extra=""):
    """The default command line plus `hull.test=NAME`, which selects /tests/NAME.sh in the guest."""
    return " ".join(filter(None, [DEFAULT_CMDLINE, f"hull.test={name}", extra]))


# --- environment -----------------------------------------------------------------------------

def _module(name):
    return Path("/sys/module", name).is_dir()


def hardware_kvm():
    """True when /dev/kvm is hardware-style KVM (kvm_amd or kvm_intel, and no kvm_pvm)."""
    return (_module("kvm_amd") or _module("kvm_intel")) and not _module("kvm_pvm")


def pvm_host():
    return _module("kvm_pvm")


def in_lab():
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

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def describe(self):
        return (f"command: {' '.join(self.args)}\nexit status: {self.proc.poll()}\n"
                f"--- stderr ---\n{self.stderr[-4000:]}\n--- console (last 6000 chars) ---\n"
                f"{self.stdout[-6000:]}")


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
    (the disks come out as vda, vdb, ... in the order given, as with hull)."""
    it = iter(map(str, args))
    opts = {"--cpus": "1", "--memory": "512M", "--rng": "on"}
    disks = []
    for a in it:
        if a == "--disk":
            disks.append(parse_disk(next(it)))
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
    return argv
