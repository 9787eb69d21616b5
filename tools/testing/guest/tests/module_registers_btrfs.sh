# rbtrfs.ko registers filesystem type btrfs with the fs-btrfs alias; a
# read-only mount writes nothing to the device; a read-write one works and
# an unmount with nothing changed writes nothing either.
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
try_mount -o ro /dev/vda "$MNT" || fail "read-only mount failed: $MOUNT_ERR"
expect_dmesg "BTRFS info \(device vda\): first mount of filesystem $uuid"
grep -q "^/dev/vda $MNT btrfs ro" /proc/mounts || fail "not in /proc/mounts as btrfs ro"
[ "$(stat -f -c %T "$MNT")" = btrfs ] || fail "statfs type is not btrfs"
[ -z "$(ls -A "$MNT")" ] || fail "a fresh filesystem is not empty"
rmmod rbtrfs 2>/dev/null && fail "rmmod succeeded while mounted"
umount "$MNT"
[ "$(fingerprint /dev/vda)" = "$before" ] || fail "the device changed under a read-only mount"
try_mount -o rw /dev/vda "$MNT" || fail "read-write mount failed: $MOUNT_ERR"
grep -q "^/dev/vda $MNT btrfs rw" /proc/mounts || fail "not in /proc/mounts as btrfs rw"
expect_dmesg "BTRFS info \(device vda\): mounted subvolume 5 read-write"
umount "$MNT"
[ "$(fingerprint /dev/vda)" = "$before" ] || fail "an idle read-write mount changed the device"
check_fs /dev/vda
