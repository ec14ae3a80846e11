#!/bin/bash
# The lab: run a command inside a TCG-emulated AMD machine (L1) whose /dev/kvm is real kvm_amd.
#
# Usage: tests/lab/lab.sh [--smp N] [--mem MiB] [--timeout SEC] [--share DIR] -- CMD [ARGS...]
#
# L1 runs Debian's generic kernel under `qemu-system-x86_64 -accel tcg -cpu EPYC,+svm`. Its root
# is the host's / (9p, read-only) under a tmpfs overlay; DIR (default: the repository root) is
# shared read-write at the same absolute path and is CMD's working directory. CMD's stdout and
# stderr come out on our stdout; we exit with CMD's status, 124 on timeout, 125 when the lab
# itself failed. See tests/lab/README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prog=tests/lab/lab.sh

smp=1
mem=4096
timeout=1800
share=$(cd "$here/../.." && pwd)

# Modules L1 loads (with their dependencies, in modprobe's order). bridge too: a host's kernel
# loads it when a bridge is asked for (SIOCBRADDBR: hull create), L1's does not load modules by
# itself (SIOCBRADDBR fails there with ENOPKG, while modprobe bridge works).
lab_modules=(virtio_pci 9pnet_virtio 9p overlay virtio_blk ext4 kvm-amd tun vhost_vsock vhost_net
	bridge)

usage() {
	echo "usage: $prog [--smp N] [--mem MiB] [--timeout SEC] [--share DIR] -- CMD [ARGS...]" >&2
	exit 125
}
die() {
	echo "lab: $*" >&2
	exit 125
}

while (($#)); do
	case $1 in
	--smp | --mem | --timeout | --share)
		(($# >= 2)) || usage
		case $1 in
		--smp) smp=$2 ;;
		--mem) mem=$2 ;;
		--timeout) timeout=$2 ;;
		--share) share=$2 ;;
		esac
		shift 2
		;;
	--) shift; break ;;
	-h | --help) usage ;;
	*) usage ;;
	esac
done
(($#)) || usage
[[ $smp =~ ^[1-9][0-9]*$ ]] || die "--smp wants a positive integer, got '$smp'"
[[ $mem =~ ^[1-9][0-9]*$ ]] || die "--mem wants MiB as a positive integer, got '$mem'"
[[ $timeout =~ ^[1-9][0-9]*$ ]] || die "--timeout wants seconds, got '$timeout'"
[[ -d $share ]] || die "--share $share: not a directory"
share=$(cd "$share" && pwd -P)

# --- L1 kernel: Debian's generic flavour (the cloud flavour has no 9p) -------------------------
kernel=${HULL_LAB_KERNEL:-}
if [[ -z $kernel ]]; then
	kernel=$(find /boot -maxdepth 1 -name 'vmlinuz-*-amd64' ! -name '*-cloud-amd64' |
		sort -V | tail -n1)
fi
[[ -n $kernel && -r $kernel ]] ||
	die "no readable generic kernel /boot/vmlinuz-*-amd64 (apt-get install linux-image-amd64)"
kver=${kernel##*/vmlinuz-}
[[ -d /lib/modules/$kver ]] || die "/lib/modules/$kver missing for $kernel"

# --- L1 /init (busybox sh); its text is part of the initramfs cache key ----------------------
read -r -d '' init_script <<'INIT' || true
#!/bin/busybox sh
# hull lab L1 init: load modules, build the overlay root, run the command, report its status.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo 1 >/proc/sys/kernel/printk
fail() { echo "lab-init: $*"; poweroff -f; }
while read -r m; do
	insmod "/lib/modules/$m" || echo "lab-init: insmod $m failed"
done </lib/modules/order

mkdir -p /lab /host /ovl /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none labrun /lab ||
	fail "cannot mount the run directory"
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 hostroot /host ||
	fail "cannot mount the host root"
mount -t tmpfs -o mode=0755 tmpfs /ovl
mkdir -p /ovl/upper /ovl/work
mount -t overlay -o lowerdir=/host,upperdir=/ovl/upper,workdir=/ovl/work overlay /newroot ||
	fail "cannot mount the overlay root"
for d in proc sys dev; do
	mount --move "/$d" "/newroot/$d"
done
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /newroot/dev/pts
ln -sf pts/ptmx /newroot/dev/ptmx
# What udev would create: bash's process substitution and scripts use /dev/fd and /dev/std*.
ln -sf /proc/self/fd /newroot/dev/fd
ln -sf /proc/self/fd/0 /newroot/dev/stdin
ln -sf /proc/self/fd/1 /newroot/dev/stdout
ln -sf /proc/self/fd/2 /newroot/dev/stderr
mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm
mount -t tmpfs -o mode=0755 tmpfs /newroot/run
# /tmp on a disk, as on a Debian 12 host (tmpfs lacks O_DIRECT, user xattrs and zero-range
# before Linux 6.6, and tests use all three).
mount -t ext4 /newroot/dev/vda /newroot/tmp || fail "cannot mount the scratch disk on /tmp"
chmod 1777 /newroot/tmp
share=$(cat /lab/share)
mkdir -p "/newroot$share" /newroot/run/hull-lab
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none work "/newroot$share" ||
	fail "cannot mount the work share"
mount --bind /lab /newroot/run/hull-lab

# The overlay becomes the root of the mount namespace, as switch_root makes it: a plain chroot
# would leave the command "chrooted", where the kernel refuses user namespaces (passt uses
# them). This shell keeps the initramfs as its own root, so /lab and busybox stay reachable.
cd /newroot
mount --move . / || fail "cannot move the overlay onto /"

# The command's stdio is ttyS1 (the host's stdout); ttyS0 keeps the kernel's console.
# Redirect inside a subshell: ash would print "Killed" & co. into a redirection it holds itself.
tty=./dev/ttyS1
run="chroot . /usr/bin/env -i /bin/sh /run/hull-lab/cmd.sh"
if [ -e /lab/interactive ]; then
	stty -F $tty sane -onlcr # the host terminal adds the CR (QEMU keeps its OPOST)
	[ -s /lab/winsize ] && stty -F $tty $(cat /lab/winsize)
	(exec setsid -c $run <>$tty >&0 2>&0)
	status=$?
else
	stty -F $tty raw -echo
	(exec $run <./dev/null >$tty 2>&1)
	status=$?
fi
echo "$status" >/lab/status.tmp && mv /lab/status.tmp /lab/status
sync
poweroff -f
INIT

cache=${HULL_CACHE:-/var/cache/hull}/lab
init_key=$({
	printf '%s\n' "$init_script" "${lab_modules[*]}"
	stat -c %Y "/lib/modules/$kver/modules.dep"
	sha256sum </bin/busybox
} | sha256sum | cut -c1-12)
initramfs=$cache/initramfs-$kver-$init_key.cpio

# Everything this script may leave behind, removed by cleanup() on any exit.
tmp_initramfs=
run=
qpid=
spid=
saved_tty=

# Stop our own QEMU (only it, by pid): TERM, then KILL after 5 s.
kill_qemu() {
	[[ -n $qpid ]] || return 0
	kill -TERM "$qpid" 2>/dev/null || true
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 "$qpid" 2>/dev/null || break
		sleep 0.5
	done
	kill -KILL "$qpid" 2>/dev/null || true
	wait "$qpid" 2>/dev/null || true
	qpid=
}
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
	set +e
	[[ -n $spid ]] && kill "$spid" 2>/dev/null
	kill_qemu
	[[ -n $saved_tty ]] && stty "$saved_tty" 2>/dev/null
	[[ -n $tmp_initramfs ]] && rm -rf "$tmp_initramfs"
	if [[ -n $run && -n ${HULL_LAB_KEEP:-} ]]; then
		echo "lab: kept $run (console.log, qemu.log, share/)" >&2
	elif [[ -n $run ]]; then
		rm -rf "$run"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Build the initramfs: busybox, /init, the modules decompressed (busybox insmod may not
# handle .ko.xz) and their load order. Built in a temp dir, then renamed into place.
build_initramfs() {
	local tmp line path name m
	mkdir -p "$cache"
	tmp=$(mktemp -d "$cache/.initramfs.XXXXXX")
	tmp_initramfs=$tmp
	mkdir -p "$tmp/root"/{bin,dev,proc,sys,lib/modules}
	cp /bin/busybox "$tmp/root/bin/busybox"
	printf '%s\n' "$init_script" >"$tmp/root/init"
	chmod 0755 "$tmp/root/init"
	: >"$tmp/root/lib/modules/order"
	while read -r line; do
		[[ $line == insmod\ * ]] || continue
		path=$(awk '{ print $2 }' <<<"$line")
		name=${path##*/}
		name=${name%.xz}
		name=${name%.zst}
		name=${name%.gz}
		grep -qxF "$name" "$tmp/root/lib/modules/order" && continue
		case $path in
		*.xz) xz -dc "$path" >"$tmp/root/lib/modules/$name" ;;
		*.zst) zstd -qdc "$path" >"$tmp/root/lib/modules/$name" ;;
		*.gz) gzip -dc "$path" >"$tmp/root/lib/modules/$name" ;;
		*) cp "$path" "$tmp/root/lib/modules/$name" ;;
		esac
		echo "$name" >>"$tmp/root/lib/modules/order"
	done < <(for m in "${lab_modules[@]}"; do modprobe -S "$kver" --show-depends "$m"; done)
	(cd "$tmp/root" && find . -print0 | LC_ALL=C sort -z |
		cpio --quiet --null -o -H newc -R 0:0 >"$tmp/initramfs.cpio")
	mv -f "$tmp/initramfs.cpio" "$initramfs"
	rm -rf "$tmp"
	tmp_initramfs=
	# Images of older kernels or init scripts: drop them once they are a day old.
	find "$cache" -maxdepth 1 \( -name 'initramfs-*.cpio' -o -name 'vmlinux-*' \) -mtime +0 \
		-delete 2>/dev/null || true
}
[[ -s $initramfs ]] || build_initramfs

# Boot L1 from the uncompressed vmlinux through its PVH entry: decompressing the bzImage under
# TCG costs seconds on every run. The payload's place is in the bzImage setup header.
extract_vmlinux() {
	local sects off len tmp
	payload() { dd if="$kernel" iflag=skip_bytes,count_bytes skip="$off" count="$len" status=none; }
	sects=$(od -An -t u1 -j $((0x1f1)) -N1 "$kernel" | tr -d ' ')
	((sects)) || sects=4
	read -r off len < <(od -An -t u4 -j $((0x248)) -N8 "$kernel")
	off=$(((sects + 1) * 512 + off))
	tmp=$(mktemp "$cache/.vmlinux.XXXXXX")
	tmp_initramfs=$tmp
	case $(od -An -t x1 -j "$off" -N4 "$kernel" | tr -d ' ') in
	fd377a58) payload | xz -dc --single-stream >"$tmp" ;;
	28b52ffd) payload | zstd -qdc >"$tmp" ;;
	*) false ;;
	esac || { rm -f "$tmp"; tmp_initramfs=; return 1; }
	chmod 0644 "$tmp"
	mv -f "$tmp" "$vmlinux"
	tmp_initramfs=
}
vmlinux=$cache/vmlinux-$kver-$(stat -c %Y "$kernel")
if [[ -s $vmlinux ]] || extract_vmlinux 2>/dev/null; then
	l1_kernel=$vmlinux
else
	l1_kernel=$kernel
fi

# --- per-run directory: command, environment, exit status ----------------------------------
run=$(mktemp -d "${TMPDIR:-/tmp}/hull-lab.XXXXXX")
mkdir "$run/share"
# L1's /tmp: a sparse ext4 image, made fresh each run and removed with $run.
truncate -s "${HULL_LAB_TMP_SIZE:-16G}" "$run/tmp.img"
mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1 "$run/tmp.img" ||
	die "cannot make the scratch disk $run/tmp.img"

quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

{
	echo "cd $(quote "$share") || exit 125"
	echo "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	echo "export HOME=/root HULL_LAB=1"
	echo "export TERM=$(quote "${TERM:-dumb}")"
	while IFS= read -r -d '' kv; do
		name=${kv%%=*}
		[[ $name =~ ^(HULL|PYTEST)_[A-Za-z0-9_]*$ && $name != HULL_LAB ]] || continue
		echo "export $name=$(quote "${kv#*=}")"
	done < <(env -0)
	printf 'exec'
	for a in "$@"; do
		printf ' %s' "$(quote "$a")"
	done
	echo
} >"$run/share/cmd.sh"
printf '%s' "$share" >"$run/share/share"

interactive=0
if [[ -t 0 && -t 1 ]]; then
	interactive=1
	: >"$run/share/interactive"
	size=$(stty size 2>/dev/null) || size=
	[[ $size =~ ^([0-9]+)\ ([0-9]+)$ ]] &&
		echo "rows ${BASH_REMATCH[1]} cols ${BASH_REMATCH[2]}" >"$run/share/winsize"
	saved_tty=$(stty -g)
fi

# --- L1 -------------------------------------------------------------------------------------
accel=tcg
((smp > 1)) && accel=tcg,thread=multi
esc() { printf '%s' "${1//,/,,}"; }
qemu=(
	qemu-system-x86_64 -accel "$accel" -cpu "EPYC,+svm" -M q35 -m "$mem" -smp "$smp"
	-nodefaults -no-user-config -display none -no-reboot -nic none
	-kernel "$l1_kernel" -initrd "$initramfs"
	-append "console=ttyS0 panic=-1 quiet loglevel=${HULL_LAB_LOGLEVEL:-1} ${HULL_LAB_APPEND:-}"
	-monitor "unix:$(esc "$run/monitor.sock"),server=on,wait=off"
	-chardev "file,id=klog,path=$(esc "$run/console.log")" -serial chardev:klog
	-chardev "stdio,id=out,mux=off" -serial chardev:out
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$(esc "$share"),mount_tag=work,security_model=none,multidevs=remap"
	-virtfs "local,path=$(esc "$run/share"),mount_tag=labrun,security_model=none"
	-drive "file=$(esc "$run/tmp.img"),if=virtio,format=raw,cache=unsafe,discard=unmap"
)
if ((interactive)); then
	"${qemu[@]}" <&0 2>"$run/qemu.log" &
else
	"${qemu[@]}" </dev/null 2>"$run/qemu.log" &
fi
qpid=$!

# Nested SVM under TCG (QEMU 7.2) sometimes leaves L1 halted with an interrupt pending in its
# local APIC that the CPU was never told of: L1's timer interrupt sits in the IRR, the CPU
# sleeps, and QEMU uses no CPU time at all. Seen most in tests where L1 idles for long while its
# L2 guest waits (test_console.py's stalled consoles, every time in some runs). Any new
# interrupt makes QEMU look at the APIC again and L1 runs on: so after $kick seconds without
# CPU time the watchdog presses Shift on L1's PS/2 keyboard (nothing in L1 reads it) through
# the monitor. A working L1 always uses some CPU time (timer ticks, even when idle), so
# $freeze seconds without any, kicks and all, means it froze for good: give up then instead of
# waiting for the timeout. Both exit 124.
kick=${HULL_LAB_KICK:-10}
freeze=${HULL_LAB_FREEZE:-60}
monitor() { # one HMP command to L1's QEMU monitor
	python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
time.sleep(0.2)
s.sendall(sys.argv[2].encode() + b"\n")
time.sleep(0.5)
' "$run/monitor.sock" "$1" 2>/dev/null
}
watchdog() {
	local start=$SECONDS last=-1 still=0 cpu
	while ((SECONDS - start < timeout)); do
		sleep 5
		cpu=$(awk '{print $14 + $15}' "/proc/$qpid/stat" 2>/dev/null) || return 0
		if [[ $cpu == "$last" ]]; then
			still=$((still + 5))
			if ((still >= freeze)); then
				: >"$run/frozen"
				return 0
			fi
			if ((still % kick == 0)); then
				monitor "sendkey shift" && echo "$SECONDS: no CPU time for $still s: key pressed" >>"$run/kicks"
			fi
		else
			still=0
		fi
		last=$cpu
	done
}
watchdog &
spid=$!

set +e
wait -n "$qpid" "$spid"
set -e
if [[ -s $run/kicks ]]; then
	echo "lab: L1 went $kick s without CPU time (an interrupt left pending: see tests/lab/README.md); key presses woke it: $(wc -l <"$run/kicks")" >&2
fi
if kill -0 "$qpid" 2>/dev/null; then
	kill_qemu
	if [[ -e $run/frozen ]]; then
		echo >&2 # end the line a cut-off command may have left open
		echo "lab: L1 froze (no CPU time for $freeze s; nested SVM under TCG, see tests/lab/README.md): killed it; command: $*" >&2
	else
		echo "lab: timeout after $timeout s: killed L1 QEMU; command: $*" >&2
	fi
	exit 124
fi
qpid=
kill "$spid" 2>/dev/null || true
spid=

if [[ ! -s $run/share/status ]]; then
	{
		echo "lab: L1 ended without reporting the command's status"
		[[ -s $run/qemu.log ]] && sed 's/^/lab: qemu: /' "$run/qemu.log" | tail -n 20
		[[ -s $run/console.log ]] && sed 's/^/lab: L1: /' "$run/console.log" | tail -n 30
	} >&2
	exit 125
fi
status=$(cat "$run/share/status")
exit "$status"
