# C btrfs reads the compressed image after rbtrfs changed it
# (rw_modifies_compressed_image), exactly as the reference says, and keeps
# writing to it. Run by check.sh with C btrfs; the image is found by its label.
source "$TESTDIR/compressed.sh"
lsmod | grep -q '^btrfs ' || fail "C btrfs not loaded"
DEV=$(dev_by_label compressed)
btrfs check --readonly $DEV >/tmp/check0.log 2>&1 || { cat /tmp/check0.log; fail "btrfs check before mounting"; }
REF=$(mktemp -d /tmp/ref.XXXXXX)
compressed_reference "$REF"
compressed_edits "$REF"
try_mount $DEV "$MNT" || fail "C btrfs cannot mount the compressed image: $MOUNT_ERR"
compressed_compare "$REF" "$MNT" || fail "C btrfs reads the changed compressed image differently"
# C btrfs changes it further: frees extents rbtrfs split, rewrites others.
rm -rf "$MNT/zlib/overwritten" "$MNT/lzo"
cp "$MNT/zstd/big-2m" "$MNT/copy-by-c"
umount "$MNT"
check_fs $DEV
