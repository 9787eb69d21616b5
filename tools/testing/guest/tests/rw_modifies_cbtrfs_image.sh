# rbtrfs mounts read-write the image C btrfs wrote (cbtrfs_write_interop_image,
# /dev/vdc, after ro_reads_cbtrfs_image has read it untouched), changes it
# (rw_mutate.sh) and reads back exactly the reference, before and after a
# remount; btrfs check is clean.
SRC=$RBTRFS_TOP/build/check/src
[ "$(blkid -s LABEL -o value /dev/vdc)" = interop ] || fail "/dev/vdc is not the interop image"
REF=$(mktemp -d /tmp/ref.XXXXXX)
cp -a "$SRC/." "$REF/"
bash "$TESTDIR/rw_mutate.sh" "$REF"
try_mount /dev/vdc "$MNT" || fail "rw mount of the C btrfs image failed: $MOUNT_ERR"
grep -q "^/dev/vdc $MNT btrfs rw" /proc/mounts || fail "not mounted read-write"
bash "$TESTDIR/rw_mutate.sh" "$MNT" || fail "changes failed on the C btrfs image"
python3 "$TESTDIR/compare.py" "$REF" "$MNT" || fail "changed tree differs (page cache)"
umount "$MNT"
btrfs check --readonly /dev/vdc >/tmp/check-c.log 2>&1 || { cat /tmp/check-c.log; fail "btrfs check after the changes"; }
try_mount -o ro /dev/vdc "$MNT" || fail "remount failed: $MOUNT_ERR"
python3 "$TESTDIR/compare.py" "$REF" "$MNT" || fail "changed tree differs after remount"
umount "$MNT"
check_fs /dev/vdc
