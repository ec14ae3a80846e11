"""scripts: the per-test shell scripts baked into the busybox initramfs as /tests/NAME.sh.

The guest's /init runs /tests/NAME.sh for `hull.test=NAME` on the kernel command line, then
prints "HULL-INIT: done status=N" and powers off. Lines the tests look for start with "HULL-".
"""

# Numbered console lines, as fast as the console takes them.
_FLOOD = 'i=0; while :; do echo "HULL-FLOOD $i ' + "." * 48 + '"; i=$((i + 1)); done'

SCRIPTS = {
    # Reached userspace: which kernel, and that /proc works.
    "hello": 'echo "HULL-HELLO: userspace reached, kernel $(uname -r)"\n',
    "cpuinfo": 'echo "HULL-CPUS: $(grep -c ^processor /proc/cpuinfo)"\n',
    "meminfo": 'echo "HULL-MEMTOTAL: $(sed -n "s/^MemTotal: *\\([0-9]*\\) kB/\\1/p" /proc/meminfo)"\n',
    "cmdline": 'echo "HULL-CMDLINE: $(cat /proc/cmdline)"\n',
    # Where the kernel runs: its virtual _text, and where its code is in physical memory.
    "kaslr": ('echo "HULL-TEXT: $(grep -m1 \' _text$\' /proc/kallsyms | cut -d\' \' -f1)"\n'
              'echo "HULL-CODE: $(grep -m1 \'Kernel code\' /proc/iomem | tr -d \' \' | '
              'cut -d- -f1)"\n'),
    # A line typed on hull's stdin reaches the guest's console and comes back.
    "echo": 'echo "HULL-READY"\nread -r line\necho "HULL-GOT: $line"\n',
    "poweroff": 'echo "HULL-BYE: poweroff"\npoweroff -f\nsleep 600\n',
    "reboot": 'echo "HULL-BYE: reboot"\nreboot -f\nsleep 600\n',
    # For the signal tests: the guest sleeps until hull is signalled.
    "sleep": 'echo "HULL-SLEEPING"\nsleep 600\n',
    # test_cgroup.py: the guest touches hull.fill=N MiB of its RAM (a file on a tmpfs of that
    # size), then sleeps, so that hull's host cgroup holds what a busy guest costs.
    "fill": r"""fill=$(sed -n 's/.*hull\.fill=\([0-9]*\).*/\1/p' /proc/cmdline)
mkdir -p /mnt && mount -t tmpfs -o size=${fill}m tmpfs /mnt
dd if=/dev/zero of=/mnt/fill bs=1M count=$fill 2>/dev/null
echo "HULL-FILLED: $(du -m /mnt/fill | cut -f1) MiB"
sleep 600
""",
    # For the stalled-console tests (test_console.py): numbered lines as fast as the console
    # takes them, forever...
    "flood": f'echo "HULL-FLOODING"\n{_FLOOD}\n',
    # ...or until a line arrives on the console. The guest then tells hull at once through the
    # boot timer's MMIO byte (hull logs it on stderr, not on the stalled console) and echoes
    # the line, which comes out once the console drains.
    "flood_read": (f'echo "HULL-FLOODING"\n({_FLOOD}) &\nread -r line\nkill $!\n'
                   'devmem 0xfe000000 8 123\necho "HULL-GOT: $line"\n'),
    # For the control socket tests (test_control.py): a counter the guest's clock drives, one
    # line every 0.2 s; it stops while the vCPUs are paused.
    "counter": 'i=0\nwhile :; do echo "HULL-COUNT $i"; i=$((i + 1)); sleep 0.2; done\n',
    # The Firecracker-style boot timer: one byte, 123, at 0xfe000000.
    "devmem": 'devmem 0xfe000000 8 123 && echo "HULL-TIMER-WRITTEN"\n',
    # test_slots.py: every virtio device the guest found (its name, device id and the platform
    # device it came through), the interrupt lines and MMIO windows they took, what the kernel said
    # about them and about PCI; then each one used: a disk's first bytes, a share's "tag" file,
    # 16 bytes of the rng, a ping from each NIC (found by MAC 02:00:00:00:77:0N) to 10.77.N.1.
    # hull.want=N: wait up to 10 s for N devices; hull.shares=TAGS (commas); hull.nets=N;
    # hull.end=reboot: end with a reboot (a kernel booted with acpi=off cannot power off).
    "slots": r"""want=0
shares=
nets=0
end=
for arg in $(cat /proc/cmdline); do
	case $arg in
	hull.want=*) want=${arg#*=} ;;
	hull.shares=*) shares=$(echo ${arg#*=} | tr , ' ') ;;
	hull.nets=*) nets=${arg#*=} ;;
	hull.end=*) end=${arg#*=} ;;
	esac
done
i=0
while [ "$(ls /sys/bus/virtio/devices | wc -l)" -lt "$want" ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
for d in /sys/bus/virtio/devices/*; do
	echo "HULL-VIRTIO ${d##*/} $(cat $d/device) $(basename $(readlink -f $d/..))"
done
grep virtio /proc/interrupts | sed 's/^/HULL-IRQ /'
grep -i -e virtio -e LNRO /proc/iomem | sed 's/^ */HULL-IOMEM /'
dmesg | grep -i -e "request region" -e "PCI" -e virtio -e error | sed 's/^/HULL-DMESG: /'
for b in /sys/block/vd*; do
	echo "HULL-DISK ${b##*/} $(dd if=/dev/${b##*/} bs=16 count=1 2>/dev/null)"
done
for t in $shares; do
	mkdir -p /mnt/$t
	mount -t virtiofs $t /mnt/$t && echo "HULL-SHARE $t $(cat /mnt/$t/tag)"
done
echo "HULL-RNG $(od -An -tx1 -N16 /dev/hwrng | tr -d ' \n')"
ip link set lo up
i=0
while [ $i -lt "$nets" ]; do
	for n in /sys/class/net/*; do
		[ "$(cat $n/address)" = "02:00:00:00:77:0$i" ] || continue
		ip addr add 10.77.$i.2/24 dev ${n##*/}
		ip link set ${n##*/} up
		ping -c 1 -w 20 10.77.$i.1 >/dev/null 2>&1 && echo "HULL-PING $i ${n##*/} ok"
	done
	i=$((i + 1))
done
grep virtio /proc/interrupts | sed 's/^/HULL-IRQ-AFTER /'
if [ "$end" = reboot ]; then
	echo "HULL-INIT: done status=0"
	reboot -f
	sleep 600
fi
""",
    # test_balloon.py: memory touched and freed for the host to take back, in steps the test
    # paces with a line on the console each. First 1 GiB in a tmpfs file, freed (free page
    # reporting returns it); then, reporting stopped (an order no free block reaches), as much
    # of the free memory as can be touched, freed again for the balloon to take.
    "balloon": r"""o=/sys/module/page_reporting/parameters/page_reporting_order
kb() { sed -n "s/^$1: *\([0-9]*\) kB/\1/p" /proc/meminfo; }
echo "HULL-BALLOON-MEM total=$(kb MemTotal) order=$(cat $o)"
mkdir -p /fill
mount -t tmpfs -o size=2g tmpfs /fill || exit 1
dd if=/dev/zero of=/fill/a bs=1M count=1024 2>/dev/null || exit 1
echo "HULL-BALLOON-FILLED free=$(kb MemFree)"
read -r line
rm /fill/a
echo "HULL-BALLOON-FREED"
read -r line
echo 11 >$o
dd if=/dev/zero of=/fill/b bs=1M count=$(($(kb MemFree) / 1024 - 64)) 2>/dev/null
rm /fill/b
echo "HULL-BALLOON-TOUCHED free=$(kb MemFree)"
read -r line
echo "HULL-BALLOON-DONE free=$(kb MemFree)"
""",
    # test_vmem.py: the guest's MemTotal on demand, as virtio-mem plugs and unplugs its hotplug
    # region; "fill N" touches N MiB (a tmpfs file), "free" removes it. Each answer carries the
    # word the test sent, so that every line it waits for is a new one.
    "vmem": r"""kb() { sed -n "s/^$1: *\([0-9]*\) kB/\1/p" /proc/meminfo; }
mkdir -p /fill
mount -t tmpfs -o size=3g tmpfs /fill || exit 1
echo "HULL-VMEM boot total=$(kb MemTotal) cmdline=$(cat /proc/cmdline)"
while read -r cmd arg; do
	case "$cmd" in
	fill) dd if=/dev/zero of=/fill/a bs=1M count="$arg" 2>/dev/null || exit 1 ;;
	free) rm -f /fill/a ;;
	done) break ;;
	esac
	echo "HULL-VMEM $cmd total=$(kb MemTotal) free=$(kb MemFree)"
done
""",
    # The guest's wall clock and what the kernel said about the CMOS RTC.
    "date": ('echo "HULL-DATE: $(date +%s)"\n'
             'dmesg | grep -i -e rtc -e "initcall cmos_init" -e "system clock" '
             '| sed "s/^/HULL-DMESG: /"\n'
             # hull.end=reboot: end with a reboot (a kernel booted with acpi=off cannot power
             # off).
             'if grep -qw hull.end=reboot /proc/cmdline; then\n'
             '\techo "HULL-INIT: done status=0"\n\treboot -f\n\tsleep 600\nfi\n'),
}


# The virtio-blk tests' bodies: run by bash inside the Debian image (initramfs.BLK_INIT), with
# the image on /dev/vda (read-only) and the test's disks on /dev/vdb, /dev/vdc. They only report
# what they see, as "HULL-KV key=value" (one per line) and "HULL-SUM sha256 path" lines; the
# tests decide.
# `set -e`: a failing step ends the body, and "HULL-INIT: done status=N" shows it.
BLK_SCRIPTS = {
    # a. A blank disk gets an ext4 filesystem and three files; the sums are read back after a
    # remount, so they come from the disk, not from the page cache.
    "fs_write": r"""set -ex
dev=/dev/vdb
echo "HULL-KV ro=$(blockdev --getro $dev)"
echo "HULL-KV size=$(blockdev --getsize64 $dev)"
mkfs.ext4 -q -F -L hull-scratch $dev
mkdir /run/mnt
mount -t ext4 $dev /run/mnt
head -c 1048576 /dev/urandom >/run/mnt/a
head -c 3000001 /dev/urandom >/run/mnt/b
mkdir /run/mnt/dir
head -c 12345 /dev/urandom >/run/mnt/dir/c
umount /run/mnt
echo 3 >/proc/sys/vm/drop_caches
mount -t ext4 -o ro $dev /run/mnt
(cd /run/mnt && sha256sum a b dir/c) | sed 's/^/HULL-SUM /'
umount /run/mnt
""",
    # a. The "reboot": the filesystem written by fs_write mounts and its files read back.
    "fs_verify": r"""set -ex
mkdir /run/mnt
mount -t ext4 /dev/vdb /run/mnt
(cd /run/mnt && sha256sum a b dir/c) | sed 's/^/HULL-SUM /'
umount /run/mnt
""",
    # b. A read-only disk: every way of writing is refused; reading works.
    "ro_disk": r"""set -x
dev=/dev/vdb
echo "HULL-KV getro=$(blockdev --getro $dev)"
if dd status=none if=/dev/zero of=$dev bs=4096 count=1 oflag=direct 2>/run/err; then
	echo "HULL-KV rawwrite=ok"
else
	echo "HULL-KV rawwrite=refused $(tail -n1 /run/err)"
fi
mkdir /run/mnt
if mount -t ext4 -o rw $dev /run/mnt 2>/run/err; then
	echo "HULL-KV mountrw=$(awk '$2 == "/run/mnt" { split($4, o, ","); print o[1] }' /proc/mounts)"
	umount /run/mnt
else
	echo "HULL-KV mountrw=refused $(tail -n1 /run/err)"
fi
mount -t ext4 -o ro $dev /run/mnt || exit 1
if echo x >/run/mnt/new 2>/run/err; then
	echo "HULL-KV filewrite=ok"
else
	echo "HULL-KV filewrite=refused $(tail -n1 /run/err)"
fi
(cd /run/mnt && sha256sum data) | sed 's/^/HULL-SUM /'
umount /run/mnt
""",
    # c. Two disks besides the root: serials, sizes and request limits, a tag in each one's
    # first block, and 8 MiB written to both at once and read back.
    "two_disks": r"""set -ex
head -c 8388608 /dev/urandom >/run/data
for d in vda vdb vdc; do
	echo "HULL-KV $d.serial=$(cat /sys/block/$d/serial)"
	echo "HULL-KV $d.size=$(blockdev --getsize64 /dev/$d)"
	echo "HULL-KV $d.max_segments=$(cat /sys/block/$d/queue/max_segments)"
	echo "HULL-KV $d.max_segment_size=$(cat /sys/block/$d/queue/max_segment_size)"
done
for d in vdb vdc; do
	printf 'hull-tag-%s\n' $d | dd status=none of=/dev/$d bs=4096 conv=sync,fsync oflag=direct
done
dd status=none if=/run/data of=/dev/vdb bs=1M seek=1 oflag=direct conv=fsync &
b=$!
dd status=none if=/run/data of=/dev/vdc bs=1M seek=1 oflag=direct conv=fsync &
c=$!
wait $b
wait $c
for d in vdb vdc; do
	echo "HULL-KV $d.tag=$(dd status=none if=/dev/$d bs=4096 count=1 iflag=direct | tr -d '\0\n')"
	dd status=none if=/dev/$d bs=1M skip=1 count=8 iflag=direct | sha256sum |
		sed "s|-\$|$d|;s/^/HULL-SUM /"
done
sha256sum /run/data | sed 's/^/HULL-SUM /'
""",
    # e. Data written and synced before hull is killed (SIGKILL on HULL-SYNCED): 2 MiB raw at
    # the start of /dev/vdb and a file on an ext4 filesystem on /dev/vdc.
    "synced_kill": r"""set -ex
head -c 2097152 /dev/urandom >/run/raw
dd status=none if=/run/raw of=/dev/vdb bs=1M
mkfs.ext4 -q -F /dev/vdc
mkdir /run/mnt
mount -t ext4 /dev/vdc /run/mnt
head -c 3000000 /dev/urandom >/run/mnt/file
sync
sha256sum /run/raw /run/mnt/file | sed 's/^/HULL-SUM /'
echo HULL-SYNCED
sleep 600
""",
    # g. The entropy device: which hwrng the kernel uses, the virtio device ids, 64 bytes.
    "rng": r"""hw=/sys/class/misc/hw_random
echo "HULL-KV rng_available=$(cat $hw/rng_available 2>&1 | tr ' ' ,)"
echo "HULL-KV rng_current=$(cat $hw/rng_current 2>&1)"
echo "HULL-KV virtio_ids=$(cat /sys/bus/virtio/devices/*/device 2>/dev/null | tr '\n' ,)"
if timeout 20 od -An -v -tx1 -N64 /dev/hwrng >/run/rng 2>/run/err; then
	echo "HULL-KV hwrng=$(tr -d ' \n' </run/rng)"
else
	echo "HULL-KV hwrng=error $(tail -n1 /run/err)"
fi
""",
}


# The virtio-fs tests' bodies (test_fs.py): run by bash inside the Debian image like the
# BLK_SCRIPTS (the image is the read-only /dev/vda), with hull's shares to mount by tag. They
# report "HULL-KV key=value" lines; the tests decide, from those and from the host's tree.

def _embed(name, text):
    """A bash line writing text to /run/NAME (a quoted here-document: no expansion)."""
    return f"cat >/run/{name} <<'HULL_EMBED_EOF'\n{text}\nHULL_EMBED_EOF\n"


def _fs_workload_source():
    from pathlib import Path
    return (Path(__file__).resolve().parent / "fs_workload.py").read_text()


# The "every write form" probe of the read-only share: each one's errno name (or "ok").
_FS_RO_PROBE = r"""
import errno, os, sys
d = sys.argv[1]
def p(name, fn, *a):
    try:
        r = fn(*a)
        if isinstance(r, int) and name.startswith("open"):
            os.close(r)
        print(f"HULL-KV ro.{name}=ok", flush=True)
    except OSError as e:
        print(f"HULL-KV ro.{name}={errno.errorcode.get(e.errno, e.errno)}", flush=True)
f, sub = f"{d}/data", f"{d}/sub"
p("open_creat", os.open, f"{d}/new", os.O_WRONLY | os.O_CREAT, 0o644)
p("open_wronly", os.open, f, os.O_WRONLY)
p("open_rdwr", os.open, f, os.O_RDWR)
p("open_trunc", os.open, f, os.O_RDONLY | os.O_TRUNC)
p("open_append", os.open, f, os.O_WRONLY | os.O_APPEND)
p("truncate", os.truncate, f, 0)
p("mkdir", os.mkdir, f"{d}/newdir")
p("rmdir", os.rmdir, f"{sub}/empty")
p("unlink", os.unlink, f)
p("rename", os.rename, f, f"{d}/renamed")
p("link", os.link, f, f"{d}/hardlink")
p("symlink", os.symlink, "data", f"{d}/newlink")
p("mkfifo", os.mkfifo, f"{d}/fifo")
p("chmod", os.chmod, f, 0o600)
p("chown", os.chown, f, 1234, 1234)
p("utime", os.utime, f, (1, 1))
p("setxattr", os.setxattr, f, "user.x", b"1")
p("removexattr", os.removexattr, f, "user.x")
"""

FS_SCRIPTS = {
    # 1. The workload on share "work" (an ext4 directory on the host), then the manifest of
    # what the guest sees, written next to the tree on the share itself.
    "fs_workload": _embed("fs_workload.py", _fs_workload_source()) + r"""set -e
big=1024
for arg in $(cat /proc/cmdline); do
	case $arg in hull.big_mib=*) big=${arg#*=} ;; esac
done
mkdir /run/share
mount -t virtiofs work /run/share
echo "HULL-KV mount=$(awk '$2 == "/run/share" { print $1, $3 }' /proc/mounts)"
python3 /run/fs_workload.py run /run/share/tree --big-mib "$big"
sync
echo 3 >/proc/sys/vm/drop_caches
python3 /run/fs_workload.py manifest /run/share/tree /run/share/guest-manifest.json
umount /run/share
echo "HULL-KV umount=ok"
""",
    # 2. A read-only share: reads, then every kind of write (each must fail with EROFS).
    "fs_ro": _embed("ro_probe.py", _FS_RO_PROBE) + r"""set -e
mkdir /run/share
mount -t virtiofs ro /run/share
(cd /run/share && sha256sum data sub/inner) | sed 's/^/HULL-SUM /'
echo "HULL-KV list=$(cd /run/share && find . | sort | tr '\n' ' ')"
echo "HULL-KV readlink=$(readlink /run/share/link)"
python3 /run/ro_probe.py /run/share
(cd /run/share && sha256sum data sub/inner) | sed 's/^/HULL-SUM after /'
umount /run/share
""",
    # 3. Two shares at once: each one's listing and marker; a file written into each.
    "fs_two": r"""set -e
mkdir /run/one /run/two
mount -t virtiofs one /run/one
mount -t virtiofs two /run/two
for s in one two; do
	echo "HULL-KV $s.list=$(ls /run/$s | tr '\n' ' ')"
	echo "HULL-KV $s.marker=$(cat /run/$s/marker)"
	echo "written through $s" >/run/$s/from-guest
done
awk '$3 == "virtiofs" { print "HULL-KV mounted." $1 "=" $2 }' /proc/mounts
umount /run/one /run/two
""",
    # 5. A small read/write check on share "c" (mounted with the test's cache mode), O_DIRECT
    # writes and reads (the share is on tmpfs, which has no O_DIRECT of its own), and what
    # the guest reads after the host rewrote the file while it was mounted (it says HULL-WAIT
    # and reads a line from the console when the host is done).
    "fs_cache": r"""set -e
mkdir /run/share
mount -t virtiofs c /run/share
head -c 300000 /dev/urandom >/run/data
cp /run/data /run/share/guest-file
sync
echo 3 >/proc/sys/vm/drop_caches
sha256sum /run/data | sed 's|/run/data|written|;s/^/HULL-SUM /'
sha256sum /run/share/guest-file | sed 's|/run/share/guest-file|readback|;s/^/HULL-SUM /'
if dd status=none if=/run/data of=/run/share/direct bs=4096 count=16 oflag=direct 2>/run/err; then
	echo "HULL-KV direct_write=ok"
else
	echo "HULL-KV direct_write=failed: $(tail -n1 /run/err)"
fi
dd status=none if=/run/share/direct bs=4096 iflag=direct | sha256sum |
	sed 's/-$/direct/;s/^/HULL-SUM /'
echo "HULL-KV host_before=$(cat /run/share/host-file)"
echo "HULL-WAIT"
read -r line
echo "HULL-KV go=$line"
echo "HULL-KV host_after=$(cat /run/share/host-file)"
umount /run/share
""",
}


# --- virtio-vsock and virtio-net (test_vsock.py, test_net.py, tests/bench/net) ----------------
# Guest programs run by Debian's python3 inside the image, like the FS_SCRIPTS bodies. Bulk data
# is a fresh random MiB whose first 8 bytes are replaced by the chunk's index: cheap to make in
# a slow guest, and a lost, repeated or reordered piece changes the sha256.

def _stream_data_source():
    from pathlib import Path
    return (Path(__file__).resolve().parent / "stream_data.py").read_text()


_GUEST_DATA = _stream_data_source()

# The vsock agent: listens on the port given (argv[1]) and serves one command per connection
# the host opens, given as the connection's first line:
#   echo                   echo everything until EOF, then close
#   sink [nohash]          read to EOF, answer "SHA256 BYTES"
#   source N [nohash]      send N bytes, then the line "SHA256"
#   stall NAME             answer "stalled", read nothing until "resume NAME" came on another
#                          connection, then act as sink
#   resume NAME            answer "ok"
#   dial PORT echo K SIZE  open K connections to the host (CID 2) port PORT at once, echo SIZE
#                          distinct random bytes through each; answer "ok K DIGEST" (sha256 of
#                          the sorted per-connection sha256s) or "fail REASON"
#   dial PORT source N [nohash]
#                          connect to the host's PORT and send N bytes; answer "ok SHA256"
#   dial PORT probe        try to connect; answer "connected" or "error ERRNO-NAME"
#   quit                   answer "bye" and end the agent (the guest then powers off)
# It prints "HULL-VSOCK-READY port=P" once it listens.
VSOCK_AGENT = _GUEST_DATA + r'''
import errno

STALLS = {}
STALLS_LOCK = threading.Lock()


def stall_event(name):
    with STALLS_LOCK:
        return STALLS.setdefault(name, threading.Event())


def line(c):
    b = bytearray()
    while not b.endswith(b"\n"):
        x = c.recv(1)
        if not x or len(b) > 200:
            raise EOFError(f"no command line: {bytes(b)!r}")
        b += x
    return b.decode().split()


def to_host(port):
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect((socket.VMADDR_CID_HOST, port))
    return s


def dial_echo(port, count, size):
    conns = [to_host(port) for _ in range(count)]  # all open before any data moves
    results = [None] * count

    def one(i):
        data = os.urandom(size)
        try:
            results[i] = (exchange(conns[i], data) == data, hashlib.sha256(data).hexdigest())
        except OSError as e:
            results[i] = (False, repr(e))
        conns[i].close()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad = [i for i, r in enumerate(results) if not r[0]]
    if bad:
        return (f"fail {len(bad)} connections echoed wrong data, first {bad[0]}: "
                f"{results[bad[0]][1]}")
    digest = hashlib.sha256("".join(sorted(r[1] for r in results)).encode()).hexdigest()
    return f"ok {count} {digest}"


def dial(args):
    port, what = int(args[0]), args[1]
    if what == "probe":
        try:
            to_host(port).close()
            return "connected"
        except OSError as e:
            return f"error {errno.errorcode.get(e.errno, e.errno)}"
    if what == "echo":
        return dial_echo(port, int(args[2]), int(args[3]))
    if what == "source":
        s = to_host(port)
        digest = pour(s, int(args[2]), hashed="nohash" not in args)
        s.shutdown(socket.SHUT_WR)
        s.recv(1)  # the host closes once it has read everything
        s.close()
        return f"ok {digest}"
    return f"fail unknown dial {what}"


def serve(c):
    try:
        cmd = line(c)
        if cmd[0] == "echo":
            buf = bytearray(65536)
            while True:
                k = c.recv_into(buf)
                if not k:
                    break
                c.sendall(memoryview(buf)[:k])
        elif cmd[0] == "sink":
            digest, n = drain(c, hashed="nohash" not in cmd)
            c.sendall(f"{digest} {n}\n".encode())
        elif cmd[0] == "source":
            digest = pour(c, int(cmd[1]), hashed="nohash" not in cmd)
            c.sendall(f"{digest}\n".encode())
        elif cmd[0] == "stall":
            ev = stall_event(cmd[1])
            c.sendall(b"stalled\n")
            ev.wait()
            digest, n = drain(c)
            c.sendall(f"{digest} {n}\n".encode())
        elif cmd[0] == "resume":
            stall_event(cmd[1]).set()
            c.sendall(b"ok\n")
        elif cmd[0] == "dial":
            c.sendall((dial(cmd[1:]) + "\n").encode())
        elif cmd[0] == "quit":
            c.sendall(b"bye\n")
            c.close()
            print("HULL-VSOCK-QUIT", flush=True)
            os._exit(0)
        else:
            c.sendall(f"fail unknown command {cmd[0]}\n".encode())
    except Exception as e:  # reported on the console; the host sees the connection end
        print(f"HULL-VSOCK-ERROR {type(e).__name__}: {e}", flush=True)
    finally:
        c.close()


def main():
    port = int(sys.argv[1])
    ls = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    ls.bind((socket.VMADDR_CID_ANY, port))
    ls.listen(256)
    print(f"HULL-VSOCK-READY port={port}", flush=True)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


main()
'''

# The net tests' TCP client: connect to HOST:PORT, announce MiB MiB (8 bytes, big-endian) and
# send them while reading the echo; report both sums ("sent", "echoed") and the byte count
# (which must end with the server's close). No half-close: passt 0.0~git20230309 (Debian 12)
# corrupts data it sends after the guest's FIN.
TCP_ECHO = _GUEST_DATA + r'''
host, port, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((host, port), timeout=60)
sent, err = [], []


def send():
    try:
        s.sendall(struct.pack(">Q", mib << 20))
        sent.append(pour(s, mib << 20))
    except OSError as e:
        err.append(e)


t0 = time.monotonic()
t = threading.Thread(target=send)
t.start()
h, n, buf = hashlib.sha256(), 0, bytearray(1 << 20)
try:
    while True:
        k = s.recv_into(buf)
        if not k:
            break
        h.update(memoryview(buf)[:k])
        n += k
except OSError as e:
    err.append(e)
t.join()
print(f"HULL-KV tcp_seconds={time.monotonic() - t0:.1f}")
print(f"HULL-KV tcp_error={err[0]!r}" if err else "HULL-KV tcp_error=none")
if sent:
    print(f"HULL-SUM {sent[0]}  sent")
print(f"HULL-SUM {h.hexdigest()}  echoed")
print(f"HULL-KV echoed_bytes={n}", flush=True)
'''


def _cmdline_vars(*names):
    """bash lines setting $NAME from hull.NAME=VALUE on the kernel command line."""
    cases = "".join(f"\thull.{n}=*) {n}=${{arg#*=}} ;;\n" for n in names)
    return ("".join(f"{n}=\n" for n in names) + "for arg in $(cat /proc/cmdline); do\n"
            f"\tcase $arg in\n{cases}\tesac\ndone\n")


VSOCK_SCRIPTS = {
    # The agent in the foreground; the guest powers off when the host sends "quit".
    "vsock": _embed("vsock_agent.py", VSOCK_AGENT) + "exec python3 /run/vsock_agent.py 1024\n",
}

# One network body for the TAP and passt tests: eth0 gets hull.addr (CIDR) and a default route
# via hull.gw when given; the guest pings hull.ping; with hull.wait=1 it says HULL-WAIT and waits
# for a console line (the host pings it meanwhile); then it runs the TCP echo against hull.peer
# (IP:PORT) with hull.mib MiB. busybox provides ip and ping.
NET_SCRIPTS = {
    "net": _embed("tcp_echo.py", TCP_ECHO) + _cmdline_vars("addr", "gw", "ping", "wait", "peer",
                                                           "mib") + r"""set -e
ip() { busybox ip "$@"; }
echo "HULL-KV ifaces=$(ls /sys/class/net | tr '\n' ' ')"
echo "HULL-KV mac=$(cat /sys/class/net/eth0/address)"
ip link set lo up
ip addr add "$addr" dev eth0
ip link set eth0 up
[ -z "$gw" ] || ip route add default via "$gw"
i=0
while [ "$(cat /sys/class/net/eth0/operstate)" != up ] && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
echo "HULL-KV operstate=$(cat /sys/class/net/eth0/operstate)"
if [ -n "$ping" ]; then
	busybox ping -c 3 -w 20 "$ping" >/run/ping 2>&1 || true
	echo "HULL-KV ping=$(grep -o '[0-9]* packets received' /run/ping)"
fi
if [ "$wait" = 1 ]; then
	echo "HULL-WAIT"
	read -r line
	echo "HULL-KV go=$line"
fi
python3 /run/tcp_echo.py "${peer%:*}" "${peer##*:}" "$mib"
""",
}
