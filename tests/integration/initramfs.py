"""initramfs: write cpio "newc" archives (directories, files, symlinks, device nodes) from Python.

The integration tests build their busybox initramfs with this instead of cpio(1), so the image is
byte-for-byte reproducible and does not depend on the tools installed in the lab.
"""

import stat

TRAILER = "TRAILER!!!"


def _pad4(blob):
    return blob + b"\0" * ((4 - len(blob) % 4) % 4)


def _record(ino, name, mode, data, nlink, mtime, rdev):
    """One newc record: header, NUL-terminated name and data, each padded to 4 bytes."""
    fields = (ino, mode, 0, 0, nlink, mtime, len(data), 0, 0, rdev[0], rdev[1],
              len(name.encode()) + 1, 0)
    hdr = b"070701" + b"".join(b"%08X" % f for f in fields)
    return _pad4(hdr + name.encode() + b"\0") + _pad4(data)


class Newc:
    """An in-memory newc archive. Add entries parent-first; call bytes() to get the image."""

    def __init__(self, mtime=0):
        self._out = bytearray()
        self._ino = 1
        self._mtime = mtime
        self._names = set()

    def _entry(self, name, mode, data=b"", nlink=1, rdev=(0, 0)):
        name = name.strip("/")
        if not name or name in self._names:
            raise ValueError(f"cpio: bad or duplicate name {name!r}")
        self._names.add(name)
        self._out += _record(self._ino, name, mode, data, nlink, self._mtime, rdev)
        self._ino += 1

    def dir(self, name, perm=0o755):
        self._entry(name, stat.S_IFDIR | perm, nlink=2)

    def file(self, name, data, perm=0o644):
        if isinstance(data, str):
            data = data.encode()
        self._entry(name, stat.S_IFREG | perm, data)

    def symlink(self, name, target):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor, perm=0o600):
        self._entry(name, stat.S_IFCHR | perm, rdev=(major, minor))

    def bytes(self):
        """The archive with its trailer, padded to 512 bytes as cpio(1) does."""
        blob = bytes(self._out) + _record(0, TRAILER, 0, b"", 1, 0, (0, 0))
        return blob + b"\0" * ((512 - len(blob) % 512) % 512)


# The guest's PID 1. It loads the modules in /modules/order if there are any (a distribution
# kernel's drivers), runs /tests/NAME.sh for `hull.test=NAME` on the kernel command line and
# powers off afterwards (a test script may power off or reboot by itself). Markers are printed on
# the serial console so the tests can tell "init ran" from "the kernel printed something".
INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
if [ -s /modules/order ]; then
	while read -r m; do
		insmod "/modules/$m" || echo "HULL-INIT: insmod $m failed"
	done </modules/order
fi
name=default
for arg in $(cat /proc/cmdline); do
	case $arg in hull.test=*) name=${arg#hull.test=} ;; esac
done
echo "HULL-INIT: start test=$name"
if [ -f "/tests/$name.sh" ]; then
	sh "/tests/$name.sh"
	echo "HULL-INIT: done status=$?"
else
	echo "HULL-INIT: no such test script /tests/$name.sh"
fi
poweroff -f
sleep 1000
"""


def _busybox_base(busybox_path, extra_dirs, init, scripts):
    """What every test initramfs has: the usual directories plus extra_dirs, console and null,
    /bin/busybox (and sh), /init, and /tests/NAME.sh for each scripts[NAME]."""
    with open(busybox_path, "rb") as f:
        busybox = f.read()
    a = Newc()
    for d in ("bin", "dev", "proc", "sys", "tmp", "tests") + tuple(extra_dirs):
        a.dir(d)
    a.chardev("dev/console", 5, 1)
    a.chardev("dev/null", 1, 3, 0o666)
    a.file("bin/busybox", busybox, 0o755)
    a.symlink("bin/sh", "busybox")
    a.file("init", init, 0o755)
    for name, text in sorted(scripts.items()):
        a.file(f"tests/{name}.sh", text, 0o755)
    return a


def _add_modules(a, modules):
    for name, blob in modules:
        a.file(f"modules/{name}", blob)
    a.file("modules/order", "".join(f"{name}\n" for name, _ in modules))


def busybox_image(busybox_path, scripts, modules=()):
    """A busybox initramfs: /init above, /bin/busybox, /tests/NAME.sh for each scripts[NAME],
    and modules ((file name, contents) pairs), loaded with insmod in this order."""
    a = _busybox_base(busybox_path, ("sbin", "usr", "usr/bin", "usr/sbin", "root", "modules"),
                      INIT, scripts)
    _add_modules(a, modules)
    return a.bytes()


# The PID 1 of the virtio-blk tests. It loads the modules in /modules/order (the cloud kernel's
# virtio drivers; the project kernel has everything built in), mounts the Debian image on
# /dev/vda read-only and switches into it:
#   hull.test=root   runs the image's own /usr/local/sbin/hull-lab-init (the rootfs test);
#   hull.test=NAME   runs /tests/NAME.sh with Debian's bash and tools, wrapped by /run/test.sh
#                    (tmpfs /run and /tmp; /run/busybox for `poweroff -f`).
BLK_INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
name=default
for arg in $(cat /proc/cmdline); do
	case $arg in hull.test=*) name=${arg#hull.test=} ;; esac
done
echo "HULL-INIT: start test=$name"
fail() {
	echo "HULL-INIT: $*"
	dmesg | tail -n 40 | sed 's/^/HULL-DMESG: /'
	poweroff -f
	sleep 1000
}
if [ -s /modules/order ]; then
	while read -r m; do
		insmod "/modules/$m" || echo "HULL-INIT: insmod $m failed"
	done </modules/order
fi
i=0
while [ ! -b /dev/vda ]; do
	i=$((i + 1))
	[ $i -le 100 ] || fail "no /dev/vda after 10 s"
	sleep 0.1
done
mkdir -p /newroot
mount -t ext4 -o ro /dev/vda /newroot || fail "cannot mount /dev/vda read-only"
if [ "$name" = root ]; then
	mount --move /dev /newroot/dev
	umount /proc /sys
	exec switch_root /newroot /usr/local/sbin/hull-lab-init
fi
[ -f "/tests/$name.sh" ] || fail "no such test script /tests/$name.sh"
mount -t tmpfs -o mode=0755 tmpfs /newroot/run || fail "cannot mount /newroot/run"
mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp || fail "cannot mount /newroot/tmp"
cp /bin/busybox /newroot/run/busybox
cp "/tests/$name.sh" /newroot/run/body.sh
cp /blk/test.sh /newroot/run/test.sh
for d in proc sys dev; do
	mount --move "/$d" "/newroot/$d"
done
exec switch_root /newroot /bin/bash /run/test.sh
"""

# PID 1 after switch_root: the test body runs with Debian's userspace; then power off.
BLK_WRAPPER = r"""#!/bin/bash
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
cd /run
. /etc/os-release
echo "HULL-TEST: $PRETTY_NAME, kernel $(uname -r)"
bash /run/body.sh
echo "HULL-INIT: done status=$?"
sync
/run/busybox poweroff -f
sleep 1000
"""


def blk_image(busybox_path, scripts, modules=()):
    """The virtio-blk tests' initramfs: BLK_INIT, busybox, /tests/NAME.sh, /modules/*.ko.

    modules: (file name, contents) pairs, loaded with insmod in this order.
    """
    a = _busybox_base(busybox_path, ("blk", "modules"), BLK_INIT, scripts)
    a.file("blk/test.sh", BLK_WRAPPER, 0o755)
    _add_modules(a, modules)
    return a.bytes()
