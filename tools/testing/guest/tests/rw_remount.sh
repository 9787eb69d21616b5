# remount,rw of a read-only mount and remount,ro of a read-write one: a
# read-only mount refuses changes (EROFS) and writes nothing to the device;
# after remount,rw changes work and survive remount,ro and a fresh mount;
# a remount,ro commits. btrfs check clean; contents compared with a
# reference directory.
IMG=/tmp/remount.img
rm -f "$IMG"; truncate -s 256M "$IMG"
LOOP=$(losetup -f --show "$IMG")
trap 'umount "$MNT" 2>/dev/null || true; losetup -d "$LOOP" 2>/dev/null || true; rm -f "$IMG"' EXIT
SRC=$RBTRFS_TOP/build/check/src
[ -d "$SRC" ] || fail "no source tree at $SRC"
REF=$(mktemp -d /tmp/ref.XXXXXX)
cp -a "$SRC/." "$REF/"
mkfs.btrfs -f -q --rootdir "$REF" "$LOOP" >/dev/null || fail "mkfs --rootdir"
try_mount -o ro "$LOOP" "$MNT" || fail "ro mount: $MOUNT_ERR"
before=$(fingerprint "$LOOP")
if touch "$MNT/x" 2>/tmp/touch.err; then fail "create on a read-only mount succeeded"; fi
grep -q "Read-only file system" /tmp/touch.err || { cat /tmp/touch.err; fail "create: not EROFS"; }
python3 "$TESTDIR/compare.py" --mkfs-rootdir "$REF" "$MNT" || fail "read-only mount differs"
[ "$(fingerprint "$LOOP")" = "$before" ] || fail "a read-only mount wrote to the device"

mount -o remount,rw "$MNT" || fail "remount,rw of a read-only mount"
grep -q "^$LOOP $MNT btrfs rw" /proc/mounts || fail "not read-write after remount,rw"
dmesg_has "BTRFS info \(device loop[0-9]+\): remounted read-write" || fail "no remount message"
bash "$TESTDIR/rw_mutate.sh" "$REF" || fail "changes to the reference"
bash "$TESTDIR/rw_mutate.sh" "$MNT" || fail "changes after remount,rw"
python3 "$TESTDIR/compare.py" --mkfs-rootdir "$REF" "$MNT" || fail "changed tree differs"

mount -o remount,ro "$MNT" || fail "remount,ro"
grep -q "^$LOOP $MNT btrfs ro" /proc/mounts || fail "not read-only after remount,ro"
if touch "$MNT/y" 2>/dev/null; then fail "create after remount,ro succeeded"; fi
after_ro=$(fingerprint "$LOOP")
python3 "$TESTDIR/compare.py" --mkfs-rootdir "$REF" "$MNT" || fail "tree differs after remount,ro"
[ "$(fingerprint "$LOOP")" = "$after_ro" ] || fail "device changed while remounted read-only"
mount -o remount,rw "$MNT" || fail "second remount,rw"
echo again >"$MNT/again"
cp -a "$MNT/again" "$REF/again"; touch -r "$MNT" "$REF"
umount "$MNT"
btrfs check --readonly "$LOOP" >/tmp/check-remount.log 2>&1 || { cat /tmp/check-remount.log; fail "btrfs check"; }
try_mount -o ro "$LOOP" "$MNT" || fail "fresh mount: $MOUNT_ERR"
python3 "$TESTDIR/compare.py" --mkfs-rootdir "$REF" "$MNT" || fail "tree differs after a fresh mount"
umount "$MNT"
check_fs "$LOOP"
