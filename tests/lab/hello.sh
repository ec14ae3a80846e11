#!/bin/bash
# Boot a kernel under QEMU microvm + KVM with a busybox initramfs that prints HELLO (lab smoke test).
#
# Usage (inside the lab): tests/lab/lab.sh -- tests/lab/hello.sh KERNEL [ROUNDS]
# Prints the guest's uptime at HELLO and QEMU's wall time per round; exits 1 when no HELLO.
set -euo pipefail

kernel=${1:?usage: hello.sh KERNEL [ROUNDS]}
rounds=${2:-3}
[[ -r $kernel ]] || { echo "hello.sh: cannot read $kernel" >&2; exit 1; }
[[ -c /dev/kvm ]] || { echo "hello.sh: no /dev/kvm (run it inside tests/lab/lab.sh)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/hello.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root/bin" "$tmp/root/proc" "$tmp/root/dev"
cp /bin/busybox "$tmp/root/bin/busybox"
cat >"$tmp/root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
read -r up _ </proc/uptime
/bin/busybox echo "HELLO uptime=$up"
/bin/busybox poweroff -f
EOF
chmod 0755 "$tmp/root/init"
(cd "$tmp/root" && find . | cpio --quiet -o -H newc -R 0:0 >"$tmp/initrd.cpio")

# rtc=on: with KVM, microvm leaves the CMOS RTC out by default and rtc_cmos then spends ~3.6 s
# in the lab polling absent ports (each L2 port exit is slow under TCG).
ok=0
for ((i = 1; i <= rounds; i++)); do
	start=$(date +%s%N)
	out=$(timeout 60 qemu-system-x86_64 -M microvm,rtc=on -accel kvm -cpu host -m 256 -smp 1 \
		-nodefaults -no-user-config -display none -serial stdio \
		-kernel "$kernel" -initrd "$tmp/initrd.cpio" \
		-append "console=ttyS0 reboot=k panic=-1 quiet" </dev/null 2>&1) || true
	end=$(date +%s%N)
	line=$(grep -a -m1 -o 'HELLO uptime=[0-9.]*' <<<"$out") || line=
	if [[ -n $line ]]; then
		ok=$((ok + 1))
		echo "round $i: $line qemu_wall=$(((end - start) / 1000000))ms"
	else
		echo "round $i: no HELLO; output:"
		tail -n 20 <<<"$out"
	fi
done
((ok == rounds))
