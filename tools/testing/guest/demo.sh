#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The guest half of `make run`: shows what rbtrfs does today, step by step.
set -u
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; eval "$@"; }
note() { printf '\n# %s\n' "$*"; }
MNT=/tmp/mnt; mkdir -p $MNT

note "rbtrfs.ko is loaded and registered filesystem type btrfs:"
step "lsmod | grep -E '^(rbtrfs|btrfs) '"
step "grep -w btrfs /proc/filesystems"
step "modinfo -F alias \$RBTRFS_MODDIR/rbtrfs.ko"
step "dmesg | grep 'rbtrfs loaded'"

note "A disk that is not btrfs is refused with EINVAL and a btrfs-style dmesg line:"
step "mkfs.ext4 -q -F /dev/vdb"
step "mount -t btrfs /dev/vdb $MNT"
step "dmesg | tail -1"

note "A stock mkfs.btrfs image: its superblock is read and checked (crc32c), then open_ctree stops (tree reading is the next step):"
step "mkfs.btrfs -f -q -K -L demo /dev/vda && blkid /dev/vda"
step "mount -t btrfs /dev/vda $MNT"
step "dmesg | tail -3"

note "Flip one byte of the superblock: the checksum catches it."
step "printf '\\\\x41' | dd of=/dev/vda bs=1 seek=\$((65536 + 300)) conv=notrunc status=none"
step "mount -t btrfs /dev/vda $MNT"
step "dmesg | tail -1"

note "btrfs-progs agrees the superblock is damaged:"
step "btrfs inspect-internal dump-super /dev/vda 2>&1 | grep -i -m1 csum"
note "rmmod works:"
step "rmmod rbtrfs && ! grep -w btrfs /proc/filesystems && echo 'btrfs unregistered'"
