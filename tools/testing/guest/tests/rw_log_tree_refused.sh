# An image whose superblock names a log tree (fsyncs after the last commit,
# which rbtrfs cannot replay yet) is refused read-write with a message
# naming `btrfs rescue zero-log`, mounts read-only showing the committed
# state (a remount read-write is refused the same way), and after
# `btrfs rescue zero-log` mounts read-write again; btrfs
# check is clean at the end. The log root is faked with sbmod.py (pointing
# at a real tree block, so a replay attempt could not go unnoticed either).
IMG=/tmp/logtree.img
rm -f "$IMG"; truncate -s 128M "$IMG"
LOOP=$(losetup -f --show "$IMG")
trap 'umount "$MNT" 2>/dev/null || true; losetup -d "$LOOP" 2>/dev/null || true; rm -f "$IMG"' EXIT
mkfs_btrfs "$LOOP"
try_mount "$LOOP" "$MNT" || fail "mount: $MOUNT_ERR"
echo committed >"$MNT/f"
umount "$MNT"
root=$(btrfs inspect-internal dump-super "$LOOP" | awk '$1 == "root" {print $2}')
[ -n "$root" ] || fail "no root in dump-super"
python3 "$TESTDIR/sbmod.py" "$LOOP" "96:<Q:$root" "200:B:0"
[ "$(btrfs inspect-internal dump-super "$LOOP" | awk '$1 == "log_root" {print $2}')" = "$root" ] || fail "sbmod did not set log_root"

expect_dmesg "BTRFS error \(device loop[0-9]+\): log tree present .*btrfs rescue zero-log"
if try_mount "$LOOP" "$MNT"; then fail "read-write mount with a log tree succeeded"; fi
dmesg_has "log tree present .*btrfs rescue zero-log" || fail "no zero-log message"
try_mount -o ro "$LOOP" "$MNT" || fail "read-only mount with a log tree: $MOUNT_ERR"
[ "$(cat "$MNT/f")" = committed ] || fail "committed file wrong on the read-only mount"
dmesg_has "BTRFS warning \(device loop[0-9]+\): log tree present: mounting read-only" || fail "no read-only warning"
if mount -o remount,rw "$MNT" 2>/dev/null; then fail "remount read-write with a log tree succeeded"; fi
grep -q "^$LOOP $MNT btrfs ro" /proc/mounts || fail "not read-only after the refused remount"
[ "$(cat "$MNT/f")" = committed ] || fail "committed file wrong after the refused remount"
umount "$MNT"

btrfs rescue zero-log "$LOOP" >/dev/null 2>&1 || fail "btrfs rescue zero-log"
try_mount "$LOOP" "$MNT" || fail "read-write mount after zero-log: $MOUNT_ERR"
echo more >"$MNT/g"
umount "$MNT"
try_mount -o ro "$LOOP" "$MNT" || fail "remount: $MOUNT_ERR"
[ "$(cat "$MNT/f")$(cat "$MNT/g")" = committedmore ] || fail "files wrong after zero-log"
umount "$MNT"
check_fs "$LOOP"
