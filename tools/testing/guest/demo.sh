#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The guest half of `make run`: shows what rbtrfs does today, step by step.
set -u
# stderr to stdout: vm-run sends the guest's stderr to its console log.
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; eval "$@" 2>&1; }
note() { printf '\n# %s\n' "$*"; }
MNT=/tmp/mnt; mkdir -p $MNT /tmp/src

note "rbtrfs.ko is loaded and registered filesystem type btrfs (C btrfs is not loaded):"
step "lsmod | grep -E '^(rbtrfs|btrfs) '"
step "grep -w btrfs /proc/filesystems; ls /sys/fs/btrfs/features"

note "Make a filesystem with the stock tools, filled from a directory:"
step "mkdir -p /tmp/src/docs && cp /etc/os-release /tmp/src/ && seq 1 100000 > /tmp/src/docs/numbers && ln -s docs/numbers /tmp/src/link && setfattr -n user.color -v blue /tmp/src/os-release"
step "mkfs.btrfs -f -q -K -L demo --rootdir /tmp/src /dev/vda >/dev/null 2>&1 && blkid /dev/vda"

note "rbtrfs mounts it read-only (read-write comes next) and reads it through the page cache:"
step "mount -t btrfs -o ro /dev/vda $MNT && grep $MNT /proc/mounts"
step "ls -la $MNT $MNT/docs"
step "head -3 $MNT/os-release; tail -1 $MNT/link; getfattr -d $MNT/os-release"
step "cmp $MNT/docs/numbers /tmp/src/docs/numbers && echo 'numbers: identical'"
step "df -h $MNT; umount $MNT"
step "dmesg | grep BTRFS | tail -4"

note "Flip one byte of file data on disk: the crc32c in the checksum tree catches it (EIO):"
step "off=\$(btrfs inspect-internal dump-tree -t fs /dev/vda | awk '/extent data disk byte/ {print \$5; exit}'); echo \"first data extent at \$off\""
step "printf '\\x00' | dd of=/dev/vda bs=1 seek=\$((off + 100)) conv=notrunc status=none"
step "mount -t btrfs -o ro /dev/vda $MNT; cat $MNT/docs/numbers > /dev/null; umount $MNT"
step "dmesg | grep 'csum failed' | tail -1"

note "A damaged superblock, and a disk that is not btrfs, are refused with a reason:"
step "printf '\\x41' | dd of=/dev/vda bs=1 seek=\$((65536 + 300)) conv=notrunc status=none"
step "mount -t btrfs -o ro /dev/vda $MNT; dmesg | tail -1"
step "mkfs.ext4 -q -F /dev/vdb && mount -t btrfs -o ro /dev/vdb $MNT; dmesg | tail -1"
note "rmmod works:"
step "rmmod rbtrfs && ! grep -w btrfs /proc/filesystems && echo 'btrfs unregistered'"
