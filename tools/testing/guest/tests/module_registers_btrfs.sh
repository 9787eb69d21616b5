# rbtrfs.ko registers filesystem type btrfs with the fs-btrfs alias, and a
# stock mkfs.btrfs image reaches open_ctree (which, until the read-only
# mount lands, refuses with EOPNOTSUPP) without a byte of it changing.
grep -qw btrfs /proc/filesystems || fail "btrfs not in /proc/filesystems"
lsmod | grep -q '^rbtrfs ' || fail "rbtrfs is not loaded"
[ "$(modinfo -F alias "$RBTRFS_MODDIR/rbtrfs.ko")" = fs-btrfs ] || fail "alias fs-btrfs missing"
[ "$(modinfo -F license "$RBTRFS_MODDIR/rbtrfs.ko")" = GPL ] || fail "license is not GPL"
! lsmod | grep -q '^btrfs ' || fail "C btrfs is loaded beside rbtrfs"

mkfs_btrfs /dev/vda -K -L demo
uuid=$(blkid -s UUID -o value /dev/vda)
before=$(fingerprint /dev/vda)
try_mount /dev/vda "$MNT" && fail "mount succeeded before tree reading exists"
grep -q "not supported" <<<"$MOUNT_ERR" || fail "mount error was not EOPNOTSUPP: $MOUNT_ERR"
expect_dmesg "BTRFS info \(device vda\): first mount of filesystem $uuid"
expect_dmesg "BTRFS error \(device vda\): open_ctree failed: reading the trees is not implemented yet"
[ "$(fingerprint /dev/vda)" = "$before" ] || fail "the device changed"
check_fs /dev/vda
