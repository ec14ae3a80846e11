#!/bin/bash
# Build (once) the Debian 12 rootfs image the virtio-blk tests and the blk benchmark boot from.
#
# Usage: tests/images/debian-rootfs.sh           build the image unless it is cached; print its path
#        tests/images/debian-rootfs.sh --path    only print where the image is (or would be)
# Env:   HULL_CACHE  cache root (default /var/cache/hull)
#
# The image is a raw ext4 filesystem (label hull-root, 1 GiB sparse) holding Debian bookworm's
# minbase plus the tools the guests use (mkfs.ext4, fsck, fio, busybox, kmod, util-linux) and
# /usr/local/sbin/hull-lab-init, the PID 1 of the `root=/dev/vda init=...` test. It lives in
# $HULL_CACHE/images/debian-12-<key>.img, key = sha256 of this script (package list and init
# included), and is made from the apt mirror this host uses. Built as root with mmdebstrap,
# written to a temporary file and renamed into place when complete. Never commit an image.
set -euo pipefail

self=$(readlink -f "${BASH_SOURCE[0]}")
prog=tests/images/debian-rootfs.sh
cache=${HULL_CACHE:-/var/cache/hull}/images
size=1G

# Debian bookworm minbase plus these. busybox-static gives `busybox poweroff -f` (no systemd
# in the guest to power off for us) and the network tests' `ip`, `ping`; fio runs
# tests/bench/blk; python3 (also a dependency of fio) runs the fs, vsock and net tests' guest
# programs; iperf3 runs tests/bench/net.
packages=(e2fsprogs fio busybox-static kmod util-linux coreutils python3 iperf3)

# PID 1 of the root-on-virtio-blk test (root=/dev/vda ro init=/usr/local/sbin/hull-lab-init):
# shows that the Debian userspace on the disk runs, then powers off.
read -r -d '' lab_init <<'INIT' || true
#!/bin/sh
# hull-lab-init: PID 1 of hull's root=/dev/vda lab test: report the system, then power off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
. /etc/os-release
echo "HULL-ROOT: PRETTY_NAME=$PRETTY_NAME"
echo "HULL-ROOT: kernel $(uname -r)"
echo "HULL-ROOT: mount $(awk '$2 == "/" { print $1, $3, $4 }' /proc/mounts)"
rootdev=$(awk '$5 == "/" { print $3 }' /proc/self/mountinfo)
echo "HULL-ROOT: root dev $rootdev vda $(cat /sys/block/vda/dev)"
echo "HULL-ROOT: pid $$ init $(readlink /proc/1/exe)"
echo "HULL-ROOT-OK"
busybox poweroff -f
echo "HULL-ROOT: poweroff failed"
sleep 1000
INIT

key=$(sha256sum <"$self" | cut -c1-12)
image=$cache/debian-12-$key.img

say() { printf 'debian-rootfs: %s\n' "$*" >&2; }
die() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 1
}

case ${1:-} in
--path)
	echo "$image"
	exit 0
	;;
"") ;;
*) die "usage: $prog [--path]" ;;
esac

if [[ -s $image ]]; then
	say "reusing $image"
	echo "$image"
	exit 0
fi

# The URI of the host's Debian bookworm archive, from one-line (sources.list) or deb822
# (*.sources) entries; the security archive is left out (its suite is bookworm-security).
host_mirror() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r $f ]] || continue
		awk '$1 == "deb" {
			i = 2
			if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
			if ($(i + 1) == "bookworm") { print $i; exit }
		}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -r $f ]] || continue
		awk 'function flush() {
			if (deb && enabled && suites ~ /(^| )bookworm( |$)/ && uri != "") print uri
			deb = 0; enabled = 1; suites = ""; uri = ""
		}
		BEGIN { enabled = 1 }
		/^[ \t]*$/ { flush(); next }
		/^#/ { next }
		tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
		tolower($1) == "enabled:" { enabled = (tolower($2) != "no") }
		tolower($1) == "suites:" { $1 = ""; suites = $0; sub(/^ +/, "", suites) }
		tolower($1) == "uris:" { uri = $2 }
		END { flush() }' "$f"
	done
}
mirror=$(host_mirror | head -n1)
[[ -n $mirror ]] || die "no Debian bookworm entry in /etc/apt/sources.list{,.d}: which mirror?"
[[ $(id -u) == 0 ]] || die "building $image needs root (mmdebstrap in root mode)"
command -v mmdebstrap >/dev/null || die "mmdebstrap missing: apt-get install mmdebstrap"
command -v mke2fs >/dev/null || die "mke2fs missing: apt-get install e2fsprogs"

mkdir -p "$cache"
# One builder at a time: a second one waits, then finds the image made.
exec 9>"$cache/.debian-12.lock"
flock 9
if [[ -s $image ]]; then
	say "reusing $image (built while we waited)"
	echo "$image"
	exit 0
fi

tmp=$(mktemp -d "$cache/.build-$key.XXXXXX")
chmod 0755 "$tmp" # apt downloads as _apt, which must reach it
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
say "building $image: Debian bookworm minbase + ${packages[*]} from $mirror"
pkgs=$(IFS=,; echo "${packages[*]}")
mmdebstrap --mode=root --variant=minbase --format=directory --include="$pkgs" \
	--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
	--customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
	bookworm "$tmp/root" "$mirror"

say "adding /usr/local/sbin/hull-lab-init"
install -d "$tmp/root/usr/local/sbin"
printf '%s\n' "$lab_init" >"$tmp/root/usr/local/sbin/hull-lab-init"
chmod 0755 "$tmp/root/usr/local/sbin/hull-lab-init"
echo hull-lab >"$tmp/root/etc/hostname"
printf 'LABEL=hull-root / ext4 ro 0 1\n' >"$tmp/root/etc/fstab"
for t in bash mkfs.ext4 e2fsck sha256sum fio busybox modprobe blockdev losetup python3 iperf3; do
	chroot "$tmp/root" /usr/bin/which "$t" >/dev/null || die "image lacks $t"
done

say "writing a $size ext4 image (mke2fs -d)"
truncate -s "$size" "$tmp/image"
mke2fs -q -F -t ext4 -L hull-root -d "$tmp/root" "$tmp/image"
e2fsck -fn "$tmp/image" >/dev/null 2>&1 || {
	e2fsck -fn "$tmp/image" >&2
	die "e2fsck found problems in the new image"
}
chmod 0444 "$tmp/image"
mv -f "$tmp/image" "$image"
# Images made by older versions of this script: drop them once they are a day old.
find "$cache" -maxdepth 1 -name 'debian-12-*.img' ! -name "${image##*/}" -mtime +0 -delete \
	2>/dev/null || true
say "done in $((SECONDS - start)) s: $image ($(du -h "$image" | cut -f1) used of $size)"
echo "$image"
