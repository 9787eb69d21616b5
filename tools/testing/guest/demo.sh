#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The guest half of `make run`: shows what rbtrfs does today, step by step.
#   usage (inside vm-run): demo.sh        (takes no options)
case "${1:-}" in
    -h|--help) sed -n '3,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "demo.sh: takes no arguments" >&2; exit 2 ;;
esac
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

note "rbtrfs mounts it read-write and reads it through the page cache:"
step "mount -t btrfs /dev/vda $MNT && grep $MNT /proc/mounts"
step "ls -la $MNT $MNT/docs; head -2 $MNT/os-release; getfattr -d $MNT/os-release"
step "cmp $MNT/docs/numbers /tmp/src/docs/numbers && echo 'numbers: identical'"

note "Write: a subvolume with new files, a rename, an xattr; copy-on-write underneath:"
step "btrfs subvolume create $MNT/projects"
step "seq 1 200000 > $MNT/projects/big && echo hello > $MNT/projects/note && mv $MNT/projects/note $MNT/projects/readme && setfattr -n user.tag -v demo $MNT/projects/readme"

note "A read-only snapshot, then the origin changes; the snapshot keeps the old data:"
step "btrfs subvolume snapshot -r $MNT/projects $MNT/projects-snap"
step "echo changed > $MNT/projects/readme && truncate -s 1000 $MNT/projects/big"
step "cat $MNT/projects-snap/readme $MNT/projects/readme; wc -c $MNT/projects-snap/big $MNT/projects/big"
step "btrfs subvolume list $MNT"

note "Subvolumes move like directories, also into other subvolumes; a snapshot's placeholder goes with rmdir:"
step "btrfs subvolume create $MNT/projects/sub && btrfs subvolume snapshot $MNT/projects $MNT/projects-2 >/dev/null && stat -c '%n inode %i' $MNT/projects-2/sub"
step "mkdir $MNT/archive && mv $MNT/projects/sub $MNT/archive/moved && rmdir $MNT/projects-2/sub && btrfs subvolume delete $MNT/projects-2 >/dev/null && btrfs subvolume list $MNT"

note "A reflink copy shares the data extents (no data is written):"
step "cp --reflink=always $MNT/projects-snap/big $MNT/big-copy && cmp $MNT/big-copy $MNT/projects-snap/big && echo 'reflink: identical'"
step "btrfs filesystem du $MNT/big-copy $MNT/projects-snap/big"
step "sync; df -h $MNT; umount $MNT"

note "The stock checker finds the filesystem rbtrfs wrote clean:"
step "btrfs check --readonly /dev/vda > /tmp/check.log 2>&1; grep -E 'found .* bytes used|no error found|ERROR' /tmp/check.log"

note "C btrfs (the kernel's own) reads what rbtrfs wrote:"
step "rmmod rbtrfs && modprobe -d \"\$RBTRFS_KDIR/modroot\" btrfs && lsmod | grep -E '^btrfs '"
step "mount -t btrfs -o ro /dev/vda $MNT && cat $MNT/projects/readme $MNT/projects-snap/readme && cmp $MNT/big-copy $MNT/projects-snap/big && echo 'C btrfs: snapshot and reflink read back identical'"
step "umount $MNT && rmmod btrfs && insmod \"\$RBTRFS_MODDIR/rbtrfs.ko\" && echo 'rbtrfs loaded again'"

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
