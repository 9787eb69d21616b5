# C btrfs mounts what rbtrfs wrote (rw_basic_operations on /dev/vda) and
# reads it exactly as the reference says; btrfs check is clean; C btrfs can
# keep writing to it. Run by check.sh after the rbtrfs suite, with C btrfs.
SRC=$RBTRFS_TOP/build/check/src
[ "$(blkid -s LABEL -o value /dev/vda)" = rbtrfs-basic ] || fail "/dev/vda is not the rbtrfs-written image"
btrfs check --readonly /dev/vda >/tmp/check0.log 2>&1 || { cat /tmp/check0.log; fail "btrfs check before mounting"; }
REF=$(mktemp -d /tmp/ref.XXXXXX)
cp -a "$SRC/." "$REF/"
bash "$TESTDIR/rw_mutate.sh" "$REF"
try_mount /dev/vda "$MNT" || fail "C btrfs cannot mount the rbtrfs image: $MOUNT_ERR"
python3 "$TESTDIR/compare.py" "$REF" "$MNT" || fail "C btrfs reads the rbtrfs image differently"
# C btrfs modifies it further: the extent tree and free space tree we wrote
# must hold up under its allocator.
cp -a "$MNT/new" "$MNT/new-copy-by-c"
rm -rf "$MNT/new"
sync
umount "$MNT"
check_fs /dev/vda
