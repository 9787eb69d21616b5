# rbtrfs reads the image C btrfs wrote with zlib, lzo and zstd compressed
# extents (cbtrfs_write_compressed_image, /dev/vdf): regular ones whole,
# split and partly overwritten, inline ones, holes between them; read-only
# first (the device must not change), every byte as the reference says.
# Then read-write: rw_mutate.sh in each algorithm's directory and
# overwrites, truncates, hole punches, appends and deletes inside
# compressed regular and inline extents (compressed.sh); the tree equals
# the reference before and after a remount, and btrfs check is clean.
source "$TESTDIR/compressed.sh"
[ "$(blkid -s LABEL -o value /dev/vdf)" = compressed ] || fail "/dev/vdf is not the compressed image"
t0=$(date +%s)
REF=$(mktemp -d /tmp/ref.XXXXXX)
compressed_reference "$REF"
info "reference built ($(( $(date +%s) - t0 ))s)"
before=$(fingerprint /dev/vdf)
try_mount -o ro /dev/vdf "$MNT" || fail "ro mount of the compressed image failed: $MOUNT_ERR"
compressed_compare "$REF" "$MNT" || fail "rbtrfs reads the compressed image differently"
umount "$MNT"
[ "$(fingerprint /dev/vdf)" = "$before" ] || fail "a read-only mount changed the device"
info "read-only pass done ($(( $(date +%s) - t0 ))s)"
try_mount /dev/vdf "$MNT" || fail "rw mount of the compressed image failed: $MOUNT_ERR"
for a in $COMPRESS_ALGOS; do
    compressed_edits "$MNT/$a" || fail "changes failed in $a/"
done
compressed_edits "$REF"
compressed_compare "$REF" "$MNT" || fail "changed tree differs (page cache)"
umount "$MNT"
info "changes done ($(( $(date +%s) - t0 ))s)"
btrfs check --readonly /dev/vdf >/tmp/check-z.log 2>&1 || { cat /tmp/check-z.log; fail "btrfs check after the changes"; }
try_mount -o ro /dev/vdf "$MNT" || fail "remount failed: $MOUNT_ERR"
compressed_compare "$REF" "$MNT" || fail "changed tree differs after remount"
umount "$MNT"
check_fs /dev/vdf
