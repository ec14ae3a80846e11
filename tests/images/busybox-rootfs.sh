#!/bin/bash
# Build (once) the small busybox root filesystem that `hull run`'s demo, tests and benchmark use.
#
# Usage: tests/images/busybox-rootfs.sh           build the directory unless it is cached; print its path
#        tests/images/busybox-rootfs.sh --path    only print where it is (or would be)
# Env:   HULL_CACHE  cache root (default /var/cache/hull)
#
# A directory (not an image: `hull run --rootfs DIR` shares it with virtio-fs) holding Debian's
# busybox-static as /bin/busybox with a symlink for each of its applets where `busybox
# --list-full` puts them, /etc/passwd and /etc/group (root, a user 1000 "user" with groups 1000
# and 100, nobody), /etc/hostname, /root, /home/user, /tmp (1777), and empty /proc, /sys, /dev
# and /run for hull-init to mount over. It lives in $HULL_CACHE/images/busybox-<key>/, key = the
# sha256 of this script and of /bin/busybox, made in a temporary directory and renamed into
# place. Users of it copy it (or run it --read-only): a container writes to its root.
set -euo pipefail

self=$(readlink -f "${BASH_SOURCE[0]}")
prog=tests/images/busybox-rootfs.sh
cache=${HULL_CACHE:-/var/cache/hull}/images
busybox=/bin/busybox

die() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 1
}

[[ -x $busybox ]] || die "$busybox missing: apt-get install busybox-static"
key=$(cat "$self" "$busybox" | sha256sum | cut -c1-12)
dir=$cache/busybox-$key

case ${1:-} in
--path)
	echo "$dir"
	exit 0
	;;
"") ;;
*) die "usage: $prog [--path]" ;;
esac

if [[ -x $dir/bin/busybox ]]; then
	echo "$dir"
	exit 0
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.busybox-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
mkdir -p "$tmp"/{bin,sbin,usr/bin,usr/sbin,etc,root,home/user,proc,sys,dev,run}
install -d -m 1777 "$tmp/tmp"
install -m 755 "$busybox" "$tmp/bin/busybox"
while read -r applet; do
	[[ $applet == bin/busybox || -e $tmp/$applet ]] && continue
	mkdir -p "$(dirname "$tmp/$applet")"
	ln -s /bin/busybox "$tmp/$applet"
done < <("$busybox" --list-full)
cat >"$tmp/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$tmp/etc/group" <<'GROUP'
root:x:0:
users:x:100:user
user:x:1000:
nogroup:x:65534:
GROUP
echo busybox >"$tmp/etc/hostname"
chown 1000:1000 "$tmp/home/user"
mv "$tmp" "$dir"
trap - EXIT
echo "$dir"
