# The C btrfs module of the same kernel (our reference) loads in place of
# rbtrfs and round-trips data: the harness for interop tests.
lsmod | grep -q '^btrfs ' || fail "C btrfs not loaded"
lsmod | grep -q '^rbtrfs ' && fail "rbtrfs loaded beside C btrfs"
mkfs_btrfs /dev/vda -K
mount -t btrfs /dev/vda "$MNT"
cp -a "$RBTRFS_TOP/fs" "$RBTRFS_TOP/rust" "$MNT/"
umount "$MNT"
mount -t btrfs -o ro /dev/vda "$MNT"
diff -r "$RBTRFS_TOP/fs" "$MNT/fs" || fail "fs/ differs after remount"
diff -r "$RBTRFS_TOP/rust" "$MNT/rust" || fail "rust/ differs after remount"
umount "$MNT"
check_fs /dev/vda
