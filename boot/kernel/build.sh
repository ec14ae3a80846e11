#!/bin/bash
# Build hull's default guest kernel (allnoconfig + boot/kernel/config) from Debian's linux-source.
#
# Usage: boot/kernel/build.sh            (what `make guest-kernel` runs)
# Env:   HULL_CACHE  cache root (default /var/cache/hull); the tree is built in
#                    $HULL_CACHE/kernel/<key>/, key = sha256(fragment, linux-source version, gcc)
#        V=1         show the kernel build output instead of logging it
# Output: build/guest/bzImage and build/guest/vmlinux in the repository.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
fragment="$here/config"
cache_root="${HULL_CACHE:-/var/cache/hull}/kernel"
out="$repo/build/guest"

die() { echo "boot/kernel/build.sh: $*" >&2; exit 1; }

[[ -r $fragment ]] || die "missing fragment $fragment"
src_pkg=$(dpkg-query -W -f='${Package}\n' 'linux-source-*' 2>/dev/null | sort -V | tail -n1) ||
	true
[[ -n $src_pkg ]] || die "no linux-source-* package installed (apt-get install linux-source)"
src_ver=$(dpkg-query -W -f='${Version}' "$src_pkg")
tarball=$(dpkg-query -L "$src_pkg" | grep -E '/usr/src/linux-source-[^/]*\.tar\.(xz|bz2|gz)$' |
	head -n1) || true
[[ -n $tarball && -r $tarball ]] || die "$src_pkg: source tarball not found"
gcc_ver=$(gcc --version | head -n1)

key=$({
	cat "$fragment"
	printf '%s %s\n%s\n' "$src_pkg" "$src_ver" "$gcc_ver"
} | sha256sum | cut -c1-12)
dest="$cache_root/$key"

install_outputs() {
	mkdir -p "$out"
	local f
	for f in bzImage vmlinux; do
		# Copy, then rename: readers never see a half-written file and the cache
		# copy stays safe from whoever edits build/guest/ in place.
		cp -f "$dest/$f" "$out/.$f.$$"
		mv -f "$out/.$f.$$" "$out/$f"
	done
	echo "guest kernel: $out/bzImage ($(du -h "$out/bzImage" | cut -f1))"
	echo "guest kernel: $out/vmlinux"
}

if [[ -s $dest/bzImage && -s $dest/vmlinux ]]; then
	echo "guest kernel: reusing cached build $dest ($src_pkg $src_ver)"
	install_outputs
	exit 0
fi

mkdir -p "$cache_root"
tmp=$(mktemp -d "$cache_root/.build-$key.XXXXXX")
chmod 0755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

echo "guest kernel: building $src_pkg $src_ver with $(basename "$fragment") in $dest"
start=$SECONDS
tar -xf "$tarball" -C "$tmp"
srcdir=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -name 'linux-source-*' | head -n1)
[[ -n $srcdir ]] || die "$tarball: no linux-source-* directory inside"
mv "$srcdir" "$tmp/src"
cp "$fragment" "$tmp/fragment"

# Independent of the make that ran us: its flags and command-line variables (O=, V=, -j)
# travel in MAKEFLAGS and would redirect or throttle the kernel build.
kmake() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
		make -C "$tmp/src" KBUILD_BUILD_USER=hull KBUILD_BUILD_HOST=hull "$@"
}

kmake -s allnoconfig KCONFIG_ALLCONFIG="$tmp/fragment"

# allnoconfig silently drops options whose dependencies are not met: catch that here.
missing=()
while IFS= read -r line; do
	grep -qxF "$line" "$tmp/src/.config" || missing+=("$line")
done < <(grep -E '^CONFIG_[A-Za-z0-9_]+=y$' "$fragment")
if ((${#missing[@]})); then
	{
		echo "boot/kernel/build.sh: these options of $fragment did not survive into .config"
		echo "(missing dependency or typo):"
		printf '  %s\n' "${missing[@]}"
	} >&2
	exit 1
fi

log="$tmp/build.log"
echo "guest kernel: make -j$(nproc) bzImage (log: $dest/build.log)"
if [[ ${V:-0} == 1 ]]; then
	kmake -j"$(nproc)" bzImage 2>&1 | tee "$log"
else
	kmake -j"$(nproc)" bzImage >"$log" 2>&1 || {
		cp "$log" "$cache_root/build-$key.failed.log"
		tail -n 40 "$log" >&2
		die "kernel build failed, full log in $cache_root/build-$key.failed.log"
	}
fi

cp "$tmp/src/arch/x86/boot/bzImage" "$tmp/src/vmlinux" "$tmp/"
cp "$tmp/src/.config" "$tmp/config"

# Publish atomically; a concurrent build that finished first wins and ours is dropped.
if mv -T "$tmp" "$dest" 2>/dev/null; then
	trap - EXIT
	echo "guest kernel: built in $((SECONDS - start)) s"
	# Older keys keep their images but not their 1.7 GB source and object trees.
	for old in "$cache_root"/*/src; do
		[[ $old == "$dest/src" ]] || rm -rf "$old"
	done
else
	echo "guest kernel: a concurrent build already published $dest, using it"
fi
install_outputs
