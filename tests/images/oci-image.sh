#!/bin/bash
# Build (once) the small OCI image the container-engine tests and the OCI benchmark run.
#
# Usage: tests/images/oci-image.sh           build the image unless it is cached; print its path
#        tests/images/oci-image.sh --path    only print where the image is (or would be)
# Env:   HULL_CACHE  cache root (default /var/cache/hull)
#
# The image, localhost/hull-test:latest, is busybox-static's /bin/busybox with every applet
# linked (sh, sleep, nc, ip, ...), /etc/passwd and /etc/group for root and nobody, and empty
# /proc /sys /dev /tmp /run; its CMD is /bin/sh and its PATH the usual one. It is made offline:
# `podman import` of that tree into a private, throwaway podman store, then `podman save
# --format docker-archive`, which `podman load`, `ctr image import` and `docker load` all read.
# It lives in $HULL_CACHE/images/hull-test-oci-<key>.tar, key = sha256 of this script and of
# /bin/busybox, written to a temporary file and renamed into place when complete. Never commit
# an image.
set -euo pipefail

self=$(readlink -f "${BASH_SOURCE[0]}")
prog=tests/images/oci-image.sh
cache=${HULL_CACHE:-/var/cache/hull}/images
name=localhost/hull-test:latest

key=$({ cat "$self"; cat /bin/busybox 2>/dev/null || true; } | sha256sum | cut -c1-12)
image=$cache/hull-test-oci-$key.tar

say() { printf 'oci-image: %s\n' "$*" >&2; }
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

[[ -x /bin/busybox ]] || die "/bin/busybox missing: apt-get install busybox-static"
command -v podman >/dev/null || die "podman missing: apt-get install podman (tests/run deps)"

mkdir -p "$cache"
# One builder at a time: a second one waits, then finds the image made.
exec 9>"$cache/.hull-test-oci.lock"
flock 9
if [[ -s $image ]]; then
	say "reusing $image (built while we waited)"
	echo "$image"
	exit 0
fi

tmp=$(mktemp -d "$cache/.build-oci-$key.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
say "building $image ($name) from /bin/busybox"

root=$tmp/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,proc,sys,dev,run,var}
install -d -m 1777 "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
while read -r applet; do
	[[ $applet == */busybox ]] && continue
	ln -sf /bin/busybox "$root/$applet"
done < <(/bin/busybox --list-full)
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
	>"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
tar -C "$root" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$tmp/rootfs.tar" .

# A podman of its own: store, run root, configuration and network files all in $tmp, so the
# machine's podman (its images, networks, /etc/containers) is never touched.
cat >"$tmp/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$tmp/graph"
runroot = "$tmp/run"
EOF
cat >"$tmp/containers.conf" <<EOF
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$tmp/events.log"
[network]
network_backend = "netavark"
network_config_dir = "$tmp/networks"
EOF
printf 'unqualified-search-registries = []\n' >"$tmp/registries.conf"
export CONTAINERS_CONF=$tmp/containers.conf CONTAINERS_STORAGE_CONF=$tmp/storage.conf \
	CONTAINERS_REGISTRIES_CONF=$tmp/registries.conf
pod() { podman --log-level=error --tmpdir "$tmp/ptmp" "$@"; }
mkdir -p "$tmp/ptmp"
pod import -q --change 'CMD ["/bin/sh"]' \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	"$tmp/rootfs.tar" "$name" >/dev/null
pod save -q --format docker-archive -o "$tmp/image.tar" "$name"
tar -tf "$tmp/image.tar" manifest.json >/dev/null || die "podman save wrote no docker archive"
chmod 0444 "$tmp/image.tar"
mv -f "$tmp/image.tar" "$image"
# Images made by older versions of this script: drop them once they are a day old.
find "$cache" -maxdepth 1 -name 'hull-test-oci-*.tar' ! -name "${image##*/}" -mtime +0 -delete \
	2>/dev/null || true
say "done in $((SECONDS - start)) s: $image ($(du -h "$image" | cut -f1))"
echo "$image"
