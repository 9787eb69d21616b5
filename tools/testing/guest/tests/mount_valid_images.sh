# Valid images of each supported checksum type and node size pass superblock
# validation; unsupported checksum types and unknown compat_ro features are
# named; nothing is written.
for spec in "--csum crc32c" "--csum xxhash -n 65536" "--csum crc32c -n 4096"; do
    # shellcheck disable=SC2086
    mkfs_btrfs /dev/vda -K $spec
    uuid=$(blkid -s UUID -o value /dev/vda)
    before=$(fingerprint /dev/vda)
    dmesg -C
    try_mount -o ro /dev/vda "$MNT" && fail "mount succeeded"
    algo=crc32c; [[ $spec == *xxhash* ]] && algo=xxhash64
    dmesg | grep -q "first mount of filesystem $uuid" || fail "($spec) no first-mount line"
    dmesg | grep -q "BTRFS info (device vda): using $algo checksum algorithm" || fail "($spec) wrong algorithm"
    [ "$(fingerprint /dev/vda)" = "$before" ] || fail "($spec) device changed"
    btrfs check --readonly /dev/vda >/dev/null 2>&1 || fail "($spec) btrfs check"
done
expect_dmesg "open_ctree failed: reading the trees is not implemented yet"

mkfs_btrfs /dev/vda -K --csum sha256
try_mount /dev/vda "$MNT" && fail "sha256 mounted"
expect_dmesg "BTRFS error \(device vda\): checksum algorithm sha256 is not supported by rbtrfs"

# An unknown compat_ro bit: read-write is refused by name, read-only goes on.
mkfs_btrfs /dev/vda -K
python3 "$TESTDIR/sbmod.py" /dev/vda "180:<Q:0x100003"
try_mount /dev/vda "$MNT" && fail "rw mount with unknown compat_ro"
expect_dmesg "cannot mount read-write because of unknown compat_ro features \(0x100000\)"
[ "$(dmesg | grep -c 'unknown compat_ro')" = 1 ] || fail "rw refusal not logged once"
try_mount -o ro /dev/vda "$MNT" && fail "mount succeeded"
[ "$(dmesg | grep -c 'unknown compat_ro')" = 1 ] || fail "ro mount refused for compat_ro"
dmesg | tail -1 | grep -q "open_ctree failed" || fail "ro mount did not reach open_ctree"
python3 "$TESTDIR/sbmod.py" /dev/vda "180:<Q:0x3"
check_fs /dev/vda
