# rbtrfs.ko registers filesystem type btrfs with the fs-btrfs alias; a
# read-write mount is refused by name (read-only support only, for now),
# a read-only one works, and nothing is written to the device.
grep -qw btrfs /proc/filesystems || fail "btrfs not in /proc/filesystems"
lsmod | grep -q '^rbtrfs ' || fail "rbtrfs is not loaded"
[ "$(modinfo -F alias "$RBTRFS_MODDIR/rbtrfs.ko")" = fs-btrfs ] || fail "alias fs-btrfs missing"
[ "$(modinfo -F license "$RBTRFS_MODDIR/rbtrfs.ko")" = GPL ] || fail "license is not GPL"
! lsmod | grep -q '^btrfs ' || fail "C btrfs is loaded beside rbtrfs"
for f in mixed_backref extended_iref skinny_metadata no_holes free_space_tree; do
    [ -r /sys/fs/btrfs/features/$f ] || fail "/sys/fs/btrfs/features/$f missing"
done
[ "$(cat /sys/fs/btrfs/features/supported_checksums)" = "crc32c xxhash64" ] || fail "supported_checksums"
[ -e /sys/fs/btrfs/features/raid56 ] && fail "raid56 listed as supported"

mkfs_btrfs /dev/vda -K -L demo
uuid=$(blkid -s UUID -o value /dev/vda)
before=$(fingerprint /dev/vda)
# The kernel refuses rw with EROFS; util-linux then retries read-only.
try_mount -o rw /dev/vda "$MNT" || true
grep -q "^/dev/vda $MNT btrfs rw" /proc/mounts && fail "mounted read-write"
mountpoint -q "$MNT" && umount "$MNT"
expect_dmesg "BTRFS error \(device vda\): rbtrfs can only mount read-only for now; use -o ro"
try_mount -o ro /dev/vda "$MNT" || fail "read-only mount failed: $MOUNT_ERR"
expect_dmesg "BTRFS info \(device vda\): first mount of filesystem $uuid"
grep -q "^/dev/vda $MNT btrfs ro" /proc/mounts || fail "not in /proc/mounts as btrfs ro"
[ "$(stat -f -c %T "$MNT")" = btrfs ] || fail "statfs type is not btrfs"
[ -z "$(ls -A "$MNT")" ] || fail "a fresh filesystem is not empty"
rmmod rbtrfs 2>/dev/null && fail "rmmod succeeded while mounted"
umount "$MNT"
[ "$(fingerprint /dev/vda)" = "$before" ] || fail "the device changed"
check_fs /dev/vda
