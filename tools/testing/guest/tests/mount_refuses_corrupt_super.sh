# Each kind of superblock corruption is refused with EINVAL and a message
# naming it; no refused mount writes to the device (its write counters do
# not move); the pristine image stays clean.
SB="$TESTDIR/sbmod.py"
mkfs_btrfs /dev/vda -K
dd if=/dev/vda of=/tmp/good-head bs=64K count=2 status=none
restore() { dd if=/tmp/good-head of=/dev/vda bs=64K count=2 conv=notrunc status=none; }

# case: sbmod edits | expected message
cases=(
  "--no-reseal 64:<Q:0|no valid btrfs superblock found \(bad magic\)"
  "--no-reseal 300:B:0x41|superblock checksum mismatch"
  "196:<H:7|unsupported checksum algorithm 7"
  "48:<Q:4096|super_bytenr mismatch, have 4096 want 65536"
  "144:<I:1024|invalid sectorsize 1024"
  "148:<I:2048|invalid nodesize 2048"
  "198:B:9|tree_root level too big: 9 >= 8"
  "136:<Q:0|invalid number of devices 0"
  "136:<Q:3|multi-device filesystems are not supported \(3 devices\)"
  "188:<Q:0x10000000141|cannot mount because of unsupported optional features \(0x10000000000:\)"
  "188:<Q:0x1c1|cannot mount because of unsupported optional features \(0x80: raid56\)"
  "160:<I:4096|system chunk array too big 4096 > 2048"
)
# Every corrupted superblock is made up front, by one Python start.
i=0
for c in "${cases[@]}"; do echo "/tmp/sb-$i ${c%%|*}"; i=$((i + 1)); done > /tmp/sb-list
python3 "$SB" /dev/vda --batch /tmp/sb-list
n=0
for c in "${cases[@]}"; do
    edits=${c%%|*}; msg=${c#*|}
    # Only the superblock differs from the pristine head, and a refused
    # mount writes nothing (checked below): writing the variant's
    # superblock over the last one's is enough.
    dd if="/tmp/sb-$n" of=/dev/vda bs=4096 seek=16 conv=notrunc,fsync status=none
    before=$(fingerprint /dev/vda)
    try_mount /dev/vda "$MNT" && fail "corrupt superblock ($edits) mounted"
    grep -qiE "wrong fs type|invalid argument" <<<"$MOUNT_ERR" || fail "($edits) not EINVAL: $MOUNT_ERR"
    dmesg_has "BTRFS error \(device vda\): $msg" || { dmesg | tail -5; fail "($edits) no line /$msg/"; }
    expect_dmesg "BTRFS error \(device vda\): $msg"
    [ "$(fingerprint /dev/vda)" = "$before" ] || fail "($edits) the refused mount wrote to the device"
    n=$((n + 1))
done
info "$n corruptions refused, each named"
restore
check_fs /dev/vda
