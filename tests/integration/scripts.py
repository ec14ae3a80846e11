"""scripts: the per-test shell scripts baked into the busybox initramfs as /tests/NAME.sh.

The guest's /init runs /tests/NAME.sh for `hull.test=NAME` on the kernel command line, then
prints "HULL-INIT: done status=N" and powers off. Lines the tests look for start with "HULL-".
"""

SCRIPTS = {
    # Reached userspace: which kernel, and that /proc works.
    "hello": 'echo "HULL-HELLO: userspace reached, kernel $(uname -r)"\n',
    "cpuinfo": 'echo "HULL-CPUS: $(grep -c ^processor /proc/cpuinfo)"\n',
    "meminfo": 'echo "HULL-MEMTOTAL: $(sed -n "s/^MemTotal: *\\([0-9]*\\) kB/\\1/p" /proc/meminfo)"\n',
    "cmdline": 'echo "HULL-CMDLINE: $(cat /proc/cmdline)"\n',
    # A line typed on hull's stdin reaches the guest's console and comes back.
    "echo": 'echo "HULL-READY"\nread -r line\necho "HULL-GOT: $line"\n',
    "poweroff": 'echo "HULL-BYE: poweroff"\npoweroff -f\nsleep 600\n',
    "reboot": 'echo "HULL-BYE: reboot"\nreboot -f\nsleep 600\n',
    # For the signal tests: the guest sleeps until hull is signalled.
    "sleep": 'echo "HULL-SLEEPING"\nsleep 600\n',
    # The Firecracker-style boot timer: one byte, 123, at 0xfe000000.
    "devmem": 'devmem 0xfe000000 8 123 && echo "HULL-TIMER-WRITTEN"\n',
    # The guest's wall clock (set from the CMOS RTC at boot) and what the kernel said about it.
    "date": ('echo "HULL-DATE: $(date +%s)"\n'
             'dmesg | grep -i -e rtc -e "initcall cmos_init" -e "system clock" '
             '| sed "s/^/HULL-DMESG: /"\n'
             'echo "HULL-RTC: $(cat /sys/class/rtc/rtc0/name 2>/dev/null) '
             'since_epoch=$(cat /sys/class/rtc/rtc0/since_epoch 2>/dev/null)"\n'),
}
