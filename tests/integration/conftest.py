"""conftest: artifacts, the busybox initramfs, environment checks and a hull process helper.

Two groups of tests, chosen with -m:

  -m host   runs on any machine. Tests also marked `kvm` open /dev/kvm (any kind: a PVM
            /dev/kvm, where guest kernel code is about 1000x slower, will do): the tiny PVH
            guest, signals and threads of a running VM. The others (most bad-input checks)
            need no KVM at all.
  -m lab    boots Linux guests to completion: needs hardware-style KVM (a host with hardware
            virtualization, or the lab: tests/lab/lab.sh).

tests/run picks what runs where: with hardware-style KVM everything runs directly; on a PVM
host the host group runs on the host and the lab group in the lab; without /dev/kvm the host
tests that need no KVM run on the host and the rest (-m "lab or (host and kvm)") in the lab.
Without -m, every test this machine can run is selected (said so in the report header). A test
run where it cannot (a lab test without hardware-style KVM, a kvm test without /dev/kvm) FAILS
with a message; it never skips.

The disk tests (test_blk.py) boot the cached Debian 12 image that tests/images/debian-rootfs.sh
builds on the host (tests/run does it in its build step). HULL_TEST_VMM=qemu runs them under
QEMU microvm instead of hull, to check the tests and the image themselves. The shared-directory
tests (test_fs.py) boot the same image with hull's --fs shares (under HULL_TEST_VMM=qemu: QEMU
with one /usr/lib/qemu/virtiofsd per share).
"""

import gzip
import hashlib
import lzma
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import initramfs  # noqa: E402
import scripts  # noqa: E402
from harness import (REPO, Hull, ext4_on_loop, guest_cmdline, hardware_kvm,  # noqa: E402
                     have_kvm, in_lab, pvm_host, qemu_argv, vmm_under_test)

BUILD_HINT = {
    "hull": "make",
    "build/guests/tiny-pvh.elf": "make guests",
    "build/guest/bzImage": "make guest-kernel",
    "build/guest/vmlinux": "make guest-kernel",
}


def pytest_report_header(config):
    if hardware_kvm():
        where = "the lab (hardware-style KVM)" if in_lab() else "a host with hardware-style KVM"
    elif pvm_host():
        where = "a PVM host"
    else:
        where = "a host without /dev/kvm" if not have_kvm() else "a host with an unknown /dev/kvm"
    lines = [f"hull integration: running on {where}; repository {REPO}"]
    if not config.option.markexpr:
        lines.append(f"hull integration: no -m given: running what this machine can run "
                     f"({_default_selection()})")
    return lines


def _runnable(item):
    if item.get_closest_marker("lab"):
        return hardware_kvm()
    return have_kvm() or not item.get_closest_marker("kvm")


def _default_selection():
    if hardware_kvm():
        return "host and lab"
    return "host" if have_kvm() else "host without kvm"


def pytest_collection_modifyitems(config, items):
    for item in items:
        groups = {"host", "lab"} & {m.name for m in item.iter_markers()}
        if len(groups) != 1:
            raise pytest.UsageError(f"{item.nodeid}: mark it with exactly one of host, lab")
        if item.get_closest_marker("lab") and item.get_closest_marker("kvm"):
            raise pytest.UsageError(f"{item.nodeid}: kvm is for host tests (lab implies it)")
    if config.option.markexpr:
        return
    keep = [i for i in items if _runnable(i)]
    dropped = [i for i in items if not _runnable(i)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(autouse=True)
def _environment(request):
    """Fail (never skip) a test this machine cannot run."""
    if request.node.get_closest_marker("lab") and not hardware_kvm():
        pytest.fail("this test boots Linux and needs hardware-style KVM (/dev/kvm with "
                    "kvm_amd/kvm_intel, no kvm_pvm): run it inside the lab, "
                    "tests/lab/lab.sh --mem 6144 -- /usr/bin/python3 -m pytest -q "
                    "-m lab tests/integration (tests/run test does)", pytrace=False)
    if request.node.get_closest_marker("kvm") and not have_kvm():
        pytest.fail("this test opens /dev/kvm and this machine has none: run it inside the "
                    "lab (tests/run test does)", pytrace=False)


# --- artifacts -------------------------------------------------------------------------------

def _artifact(rel):
    path = REPO / rel
    if not path.is_file() or path.stat().st_size == 0:
        pytest.fail(f"missing artifact {path}: build it with `{BUILD_HINT[rel]}` in {REPO}",
                    pytrace=False)
    return path


@pytest.fixture(scope="session")
def hull_bin():
    return _artifact("hull")


@pytest.fixture(scope="session")
def tiny_pvh():
    return _artifact("build/guests/tiny-pvh.elf")


@pytest.fixture(scope="session")
def project_bzimage():
    return _artifact("build/guest/bzImage")


@pytest.fixture(scope="session")
def project_vmlinux():
    return _artifact("build/guest/vmlinux")


@pytest.fixture(scope="session")
def cloud_kernel():
    found = sorted(Path("/boot").glob("vmlinuz-*-cloud-amd64"))
    if not found:
        pytest.fail("no /boot/vmlinuz-*-cloud-amd64: apt-get install linux-image-cloud-amd64",
                    pytrace=False)
    return found[-1]


@pytest.fixture(scope="session")
def generic_kernel():
    """Debian's generic kernel (the lab boots its own L1 with it): xz, 66 MB unpacked."""
    found = sorted(k for k in Path("/boot").glob("vmlinuz-*-amd64") if "-cloud-" not in k.name)
    if not found:
        pytest.fail("no /boot/vmlinuz-*-amd64: apt-get install linux-image-amd64", pytrace=False)
    return found[-1]


@pytest.fixture(scope="session")
def kernels(project_bzimage, project_vmlinux, cloud_kernel):
    return {"bzimage": project_bzimage, "vmlinux": project_vmlinux, "cloud": cloud_kernel}


@pytest.fixture(scope="session")
def busybox_initrd(tmp_path_factory):
    """The busybox initramfs with every script of scripts.SCRIPTS under /tests (built once)."""
    bb = Path("/bin/busybox")
    if not bb.is_file():
        pytest.fail("no /bin/busybox: apt-get install busybox-static", pytrace=False)
    image = initramfs.busybox_image(bb, scripts.SCRIPTS)
    path = tmp_path_factory.mktemp("initrd") / (
        "busybox-%s.cpio" % hashlib.sha256(image).hexdigest()[:12])
    path.write_bytes(image)
    return path


@pytest.fixture
def hull(hull_bin):
    """Factory: hull(args...) starts `hull vm ARGS`; every started hull is killed at teardown."""
    started = []

    def start(*args, cwd=REPO):
        h = Hull(hull_bin, args, cwd=cwd)
        started.append(h)
        return h

    yield start
    for h in started:
        h.kill()


@pytest.fixture
def boot(hull, busybox_initrd):
    """Factory: boot(kernel, test=NAME, ...) runs the busybox guest's /tests/NAME.sh to the end.

    Returns the finished Hull; asserts exit 0 and that the script ran to completion unless
    check=False.
    """

    def run(kernel, test, cpus=1, memory="256M", extra="", timeout=60, check=True, args=()):
        h = hull("--kernel", kernel, "--initrd", busybox_initrd, "--cpus", cpus,
                 "--memory", memory, "--cmdline", guest_cmdline(test, extra), *args)
        rc = h.wait(timeout)
        if check:
            assert f"HULL-INIT: start test={test}" in h.stdout, h.describe()
            assert "HULL-INIT: done status=0" in h.stdout, h.describe()
            assert rc == 0, h.describe()
        return h

    return run


# --- virtio-blk: the Debian image, the initramfs that boots into it, disks -------------------

DEBIAN_IMAGE_SCRIPT = REPO / "tests" / "images" / "debian-rootfs.sh"

# What the cloud kernel needs as modules to see hull's devices (ext4 is built in there; a name
# modprobe reports as builtin is skipped).
CLOUD_MODULES = ("virtio_mmio", "virtio_blk", "virtio_rng", "ext4")


@pytest.fixture(scope="session")
def debian_image():
    """The cached Debian 12 rootfs image (built on the host by tests/images/debian-rootfs.sh)."""
    path = subprocess.run([DEBIAN_IMAGE_SCRIPT, "--path"], check=True, capture_output=True,
                          text=True).stdout.strip()
    if not Path(path).is_file():
        pytest.fail(f"missing the Debian image {path}: build it on the host (as root) with "
                    f"{DEBIAN_IMAGE_SCRIPT} (tests/run does it in its build step)", pytrace=False)
    return Path(path)


def module_files(kver, names):
    """(file name, contents) of the modules names and their dependencies, in load order.

    One `modprobe --show-depends` call per module (its output order is the load order);
    compressed modules are unpacked, as busybox insmod may not read them.
    """
    out, seen = [], set()
    for name in names:
        p = subprocess.run(["modprobe", "-S", kver, "--show-depends", name], capture_output=True,
                           text=True)
        if p.returncode != 0:
            pytest.fail(f"modprobe -S {kver} --show-depends {name}: {p.stderr.strip()}",
                        pytrace=False)
        for line in p.stdout.splitlines():
            fields = line.split()
            if not fields or fields[0] != "insmod":
                continue  # "builtin NAME"
            path = Path(fields[1])
            base = path.name
            for ext in (".xz", ".zst", ".gz"):
                base = base.removesuffix(ext)
            if base in seen:
                continue
            seen.add(base)
            if path.suffix == ".xz":
                blob = lzma.decompress(path.read_bytes())
            elif path.suffix == ".zst":
                blob = subprocess.run(["zstd", "-qdc", path], check=True,
                                      capture_output=True).stdout
            elif path.suffix == ".gz":
                blob = gzip.decompress(path.read_bytes())
            else:
                blob = path.read_bytes()
            out.append((base, blob))
    return out


@pytest.fixture(scope="session")
def blk_initrd(tmp_path_factory, cloud_kernel):
    """Factory: blk_initrd(kernel_name) is the path of the virtio-blk tests' initramfs for that
    kernel ("cloud" gets the cloud kernel's virtio modules), built once per flavour."""
    bb = Path("/bin/busybox")
    if not bb.is_file():
        pytest.fail("no /bin/busybox: apt-get install busybox-static", pytrace=False)
    made = {}

    def get(which):
        flavour = "cloud" if which == "cloud" else "project"
        if flavour not in made:
            mods = ()
            if flavour == "cloud":
                kver = cloud_kernel.name.removeprefix("vmlinuz-")
                mods = module_files(kver, CLOUD_MODULES)
            image = initramfs.blk_image(bb, scripts.BLK_SCRIPTS, mods)
            path = tmp_path_factory.mktemp("blk-initrd") / (
                "blk-%s-%s.cpio" % (flavour, hashlib.sha256(image).hexdigest()[:12]))
            path.write_bytes(image)
            made[flavour] = path
        return made[flavour]

    return get


@pytest.fixture
def vm(hull_bin):
    """Factory like hull(), but runs QEMU microvm instead when HULL_TEST_VMM=qemu."""
    started = []
    vmm = vmm_under_test()

    def start(*args, cwd=REPO):
        if vmm == "qemu":
            h = Hull(None, args, cwd=cwd, argv=qemu_argv(args))
        else:
            h = Hull(hull_bin, args, cwd=cwd)
        started.append(h)
        return h

    yield start
    for h in started:
        h.kill()


@pytest.fixture
def scratch(tmp_path):
    """Factory: scratch(name, mib=128, where=None) is a new sparse raw image (in tmp_path)."""

    def make(name, mib=128, where=None):
        path = Path(where or tmp_path) / f"{name}.img"
        with open(path, "wb") as f:
            f.truncate(mib << 20)
        return path

    return make


@pytest.fixture(scope="session")
def direct_dir():
    """A directory where O_DIRECT works (for cache=none): ext4 on a loop device over a tmpfs
    file, since the lab's /tmp is tmpfs (no O_DIRECT before Linux 6.6). Removed afterwards."""
    try:
        with ext4_on_loop(1 << 30, "hull-direct-") as mnt:
            yield mnt
    except (RuntimeError, OSError) as e:
        pytest.fail(f"cannot set up an ext4 directory on a loop device: {e}", pytrace=False)


HUGE_POOL = Path("/sys/kernel/mm/hugepages/hugepages-2048kB")


def huge_available():
    """2 MiB pages a new mapping can reserve: free less those reserved already."""
    return (int((HUGE_POOL / "free_hugepages").read_text()) -
            int((HUGE_POOL / "resv_hugepages").read_text()))


@pytest.fixture
def huge_pool():
    """Factory (the lab, root): huge_pool(n) sizes the host's pool of 2 MiB pages so that
    exactly n are free for new mappings (those in use by others kept); the old size comes back
    at teardown."""
    nr = HUGE_POOL / "nr_hugepages"
    old = int(nr.read_text())

    def make(n):
        want = int(nr.read_text()) - huge_available() + n
        nr.write_text(f"{want}\n")
        if huge_available() != n:
            pytest.fail(f"cannot make {n} huge pages free (pool {nr.read_text().strip()}, "
                        f"{huge_available()} available)", pytrace=False)

    yield make
    nr.write_text(f"{old}\n")


@pytest.fixture(scope="session")
def net_initrd(tmp_path_factory):
    """The virtio-blk tests' initramfs (project kernel: virtio-net and vsock built in) with the
    VSOCK_SCRIPTS and NET_SCRIPTS bodies."""
    image = initramfs.blk_image("/bin/busybox", {**scripts.VSOCK_SCRIPTS, **scripts.NET_SCRIPTS})
    path = tmp_path_factory.mktemp("net-initrd") / (
        "net-%s.cpio" % hashlib.sha256(image).hexdigest()[:12])
    path.write_bytes(image)
    return path


def pytest_addoption(parser):
    parser.addoption("--pvm-wait", default="20",
                     help="seconds a PVM-host boot runs before the SIGTERM test signals it")
