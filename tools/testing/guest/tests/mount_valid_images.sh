# Images of each supported checksum type and node size mount read-only;
# unsupported checksum types and unknown compat_ro features are named;
# nothing is written.
for spec in "--csum crc32c" "--csum xxhash -n 65536" "--csum crc32c -n 4096"; do
    # shellcheck disable=SC2086
    mkfs_btrfs /dev/vda -K $spec
    uuid=$(blkid -s UUID -o value /dev/vda)
    before=$(fingerprint /dev/vda)
    dmesg -C
    try_mount -o ro /dev/vda "$MNT" || fail "($spec) mount failed: $MOUNT_ERR"
    algo=crc32c; [[ $spec == *xxhash* ]] && algo=xxhash64
    dmesg_has "first mount of filesystem $uuid" || fail "($spec) no first-mount line"
    dmesg_has "BTRFS info \(device vda\): using $algo checksum algorithm" || fail "($spec) wrong algorithm"
    [ "$(stat -c %i "$MNT")" = 256 ] || fail "($spec) root inode is not 256"
    umount "$MNT"
    [ "$(fingerprint /dev/vda)" = "$before" ] || fail "($spec) device changed"
    btrfs check --readonly /dev/vda >/dev/null 2>&1 || fail "($spec) btrfs check"
done

mkfs_btrfs /dev/vda -K --csum sha256
try_mount -o ro /dev/vda "$MNT" && fail "sha256 mounted"
expect_dmesg "BTRFS error \(device vda\): checksum algorithm sha256 is not supported by rbtrfs"

# An unknown compat_ro bit: read-write is refused by name, read-only works.
mkfs_btrfs /dev/vda -K
python3 "$TESTDIR/sbmod.py" /dev/vda "180:<Q:0x100003"
try_mount -o rw /dev/vda "$MNT" && fail "rw mount with unknown compat_ro"
expect_dmesg "cannot mount read-write because of unknown compat_ro features \(0x100000\)"
[ "$(dmesg | grep -c 'unknown compat_ro')" = 1 ] || fail "rw refusal not logged once"
try_mount -o ro /dev/vda "$MNT" || fail "ro mount with unknown compat_ro failed: $MOUNT_ERR"
[ "$(dmesg | grep -c 'unknown compat_ro')" = 1 ] || fail "ro mount refused for compat_ro"
umount "$MNT"
python3 "$TESTDIR/sbmod.py" /dev/vda "180:<Q:0x3"
check_fs /dev/vda
