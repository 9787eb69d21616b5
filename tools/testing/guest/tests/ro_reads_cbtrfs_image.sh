# The image C btrfs wrote in the reference run (cbtrfs_write_interop_image,
# attached as /dev/vdc) reads back exactly with rbtrfs: nanosecond mtimes,
# device numbers, xattrs, sockets, and every byte. Nothing is written.
SRC=$RBTRFS_TOP/build/check/src
[ -b /dev/vdc ] || fail "no interop image on /dev/vdc (check.sh runs the C btrfs suite first)"
[ "$(blkid -s LABEL -o value /dev/vdc)" = interop ] || fail "/dev/vdc is not the interop image"
before=$(fingerprint /dev/vdc)
try_mount -o ro /dev/vdc "$MNT" || fail "mount failed: $MOUNT_ERR"
python3 "$TESTDIR/compare.py" "$SRC" "$MNT" || fail "rbtrfs reads the C btrfs image differently"
[ "$(stat -c %Y.%y "$MNT" | cut -c1-10)" = 1700000000 ] || fail "root mtime"
stat -c %y "$MNT" | grep -q '\.123456789' || fail "root mtime nanoseconds lost"
umount "$MNT"
# Subvolume options: the top level by id and by path.
for o in subvolid=5 subvol=/ subvolid=0; do
    try_mount -o ro,$o /dev/vdc "$MNT" || fail "mount -o $o failed: $MOUNT_ERR"
    [ -e "$MNT/size-4096" ] || fail "-o $o shows another tree"
    umount "$MNT"
done
try_mount -o ro,subvolid=300 /dev/vdc "$MNT" && fail "subvolid=300 mounted"
expect_dmesg "BTRFS error \(device vdc\): subvolume 300 does not exist"
try_mount -o ro,bogus_option /dev/vdc "$MNT" && fail "unknown option accepted"
expect_dmesg "BTRFS error: unrecognized mount option 'bogus_option'"
# Remounting read-only again is a no-op; the mount stays read-only and the
# image is not touched (remount,rw itself is tested by rw_remount on a copy).
try_mount -o ro /dev/vdc "$MNT" || fail "remount test mount failed"
mount -o remount,ro "$MNT" || fail "remount,ro of a read-only mount failed"
grep -q "^/dev/vdc $MNT btrfs ro" /proc/mounts || fail "not read-only after remount,ro"
python3 "$TESTDIR/compare.py" "$SRC" "$MNT" >/dev/null || fail "contents differ after remount,ro"
umount "$MNT"
[ "$(fingerprint /dev/vdc)" = "$before" ] || fail "the interop image changed"
check_fs /dev/vdc
