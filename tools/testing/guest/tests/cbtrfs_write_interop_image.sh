# C btrfs (the reference) writes the generated source tree onto /dev/vdb, the
# interop image that the rbtrfs suite then reads (ro_reads_cbtrfs_image).
# The copy is checked against the source here too, so a difference found
# later is rbtrfs's.
SRC=$RBTRFS_TOP/build/check/src
[ -d "$SRC" ] || fail "no source tree at $SRC (check.sh makes it)"
lsmod | grep -q '^btrfs ' || fail "C btrfs not loaded"
mkfs_btrfs /dev/vdb -K -L interop
mount -t btrfs /dev/vdb "$MNT"
cp -a "$SRC/." "$MNT/"
touch -h -d @1700000000.123456789 "$MNT"
umount "$MNT"
mount -t btrfs -o ro /dev/vdb "$MNT"
python3 "$TESTDIR/compare.py" "$SRC" "$MNT" || fail "C btrfs copy differs from the source"
umount "$MNT"
check_fs /dev/vdb
