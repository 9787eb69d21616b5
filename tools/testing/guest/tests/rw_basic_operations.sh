# rbtrfs mounts a fresh mkfs.btrfs image read-write: a 354-entry tree
# copied in (every file type, xattrs, hard links, devices) and then changed
# (rw_mutate.sh: new files of every size class around the inline limit,
# overwrite, append, sparse extend, shrink, renames, unlinks, chmod/chown,
# times) reads back equal to a reference copy, before and after a remount;
# btrfs check is clean. The image stays on /dev/vdd for C btrfs to check
# (verify_cbtrfs_reads_rbtrfs_images).
SRC=$RBTRFS_TOP/build/check/src
[ -b /dev/vdd ] || fail "no /dev/vdd for the rbtrfs-written image"
REF=$(mktemp -d /tmp/ref.XXXXXX)
cp -a "$SRC/." "$REF/"
bash "$TESTDIR/rw_mutate.sh" "$REF"
mkfs_btrfs /dev/vdd -L rbtrfs-basic
try_mount /dev/vdd "$MNT" || fail "rw mount failed: $MOUNT_ERR"
grep -q "^/dev/vdd $MNT btrfs rw" /proc/mounts || fail "not mounted read-write"
cp -a "$SRC/." "$MNT/"
python3 "$TESTDIR/compare.py" "$SRC" "$MNT" || fail "copied tree differs (page cache)"
umount "$MNT"
btrfs check --readonly /dev/vdd >/tmp/check1.log 2>&1 || { cat /tmp/check1.log; fail "btrfs check after the copy"; }
try_mount /dev/vdd "$MNT" || fail "remount failed: $MOUNT_ERR"
python3 "$TESTDIR/compare.py" "$SRC" "$MNT" || fail "copied tree differs after remount"
bash "$TESTDIR/rw_mutate.sh" "$MNT" || fail "changes failed on rbtrfs"
python3 "$TESTDIR/compare.py" "$REF" "$MNT" || fail "changed tree differs (page cache)"
sync
umount "$MNT"
try_mount /dev/vdd "$MNT" || fail "third mount failed: $MOUNT_ERR"
python3 "$TESTDIR/compare.py" "$REF" "$MNT" || fail "changed tree differs after remount"
# statfs follows the writes.
read -r b f a bs < <(stat -f -c '%b %f %a %S' "$MNT")
used=$(( (b - f) * bs ))
[ "$used" -ge $((5000000 + 1000000)) ] || fail "statfs: used $used below what was written"
umount "$MNT"
check_fs /dev/vdd
