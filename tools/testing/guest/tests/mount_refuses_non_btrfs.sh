# Mounting something that is not btrfs fails with EINVAL and a dmesg line
# naming the device, and never writes to it.
mkfs.ext4 -q -F /dev/vdb
before=$(fingerprint /dev/vdb)
try_mount /dev/vdb "$MNT" && fail "ext4 mounted as btrfs"
grep -qiE "wrong fs type|invalid argument" <<<"$MOUNT_ERR" || fail "not EINVAL: $MOUNT_ERR"
expect_dmesg 'BTRFS error \(device vdb\): no valid btrfs superblock found \(bad magic\)'
[ "$(fingerprint /dev/vdb)" = "$before" ] || fail "ext4 device changed"

# A device too small to hold the superblock.
truncate -s 64K /tmp/tiny.img
loop=$(losetup -f --show /tmp/tiny.img)
try_mount "$loop" "$MNT" && fail "64K device mounted"
expect_dmesg "BTRFS error \(device ${loop#/dev/}\): device too small to hold a btrfs superblock"
losetup -d "$loop"
[ "$(sha256sum </tmp/tiny.img | cut -d' ' -f1)" = "$(head -c 65536 /dev/zero | sha256sum | cut -d' ' -f1)" ] \
    || fail "tiny device changed"
