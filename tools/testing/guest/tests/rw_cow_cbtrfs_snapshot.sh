# C btrfs makes a filesystem with a snapshot of its top subvolume; rbtrfs
# changes the source's files (every leaf of tree 5 is copied on write while
# the snapshot shares it: FULL_BACKREF, shared block and data refs);
# btrfs check is clean. Then C btrfs reads the source as changed and the
# snapshot as it was, deletes the snapshot (its cleaner drops a tree whose
# blocks rbtrfs converted) and btrfs check is clean again.
KDIR=${RBTRFS_KDIR:?}
SRC=$(mktemp -d /tmp/src.XXXXXX) && python3 "$TESTDIR/mktree.py" "$SRC" --files "$(sized 300 800)" --small >/dev/null
REF=$(mktemp -d /tmp/ref.XXXXXX) && cp -a "$SRC/." "$REF/"

# Changes to existing files, the same on both sides: overwrites, shrinks, removals.
old_changes() {
    local d=$1 i=0 f
    for f in $(cd "$d" && find . -type f -size +8k | sort | head -40); do
        i=$((i + 1))
        case $((i % 4)) in
            0) printf 'OVERWRITE' | dd of="$d/$f" bs=1 seek=4100 conv=notrunc status=none ;;
            1) truncate -s 4096 "$d/$f" ;;
            2) rm -f "$d/$f" ;;
            3) head -c 20000 /dev/zero | tr '\0' 'q' >> "$d/$f" ;;
        esac
    done
}
old_changes "$REF"
bash "$TESTDIR/rw_mutate.sh" "$REF"

rmmod rbtrfs || fail "rmmod rbtrfs"
modprobe -d "$KDIR/modroot" btrfs || fail "modprobe C btrfs"
mkfs_btrfs /dev/vda -K
mount -t btrfs /dev/vda "$MNT" || fail "C btrfs mount"
mkdir "$MNT/data" && cp -a "$SRC/." "$MNT/data/"
btrfs subvolume snapshot "$MNT" "$MNT/snap" >/dev/null || fail "snapshot"
umount "$MNT"
modprobe -r -d "$KDIR/modroot" btrfs || fail "unload C btrfs"
insmod "$RBTRFS_MODDIR/rbtrfs.ko" || fail "insmod rbtrfs"

try_mount /dev/vda "$MNT" || fail "rbtrfs rw mount: $MOUNT_ERR"
old_changes "$MNT/data"
bash "$TESTDIR/rw_mutate.sh" "$MNT/data" || fail "changes failed"
python3 "$TESTDIR/compare.py" "$REF" "$MNT/data" || fail "changed tree differs (page cache)"
umount "$MNT"
btrfs check --readonly /dev/vda >/tmp/check-snap.log 2>&1 || { cat /tmp/check-snap.log; fail "btrfs check after rbtrfs changed the source"; }
# The copied blocks the snapshot still uses are full-backref now.
full=$(btrfs inspect-internal dump-tree -t extent /dev/vda | grep -c 'FULL_BACKREF' || true)
[ "$full" -gt 0 ] || fail "no FULL_BACKREF block after changing a snapshotted tree"
info "$full FULL_BACKREF blocks"
try_mount -o ro /dev/vda "$MNT" || fail "rbtrfs ro remount: $MOUNT_ERR"
python3 "$TESTDIR/compare.py" "$REF" "$MNT/data" || fail "changed tree differs after remount"
umount "$MNT"

rmmod rbtrfs || fail "rmmod rbtrfs"
modprobe -d "$KDIR/modroot" btrfs || fail "modprobe C btrfs"
mount -t btrfs /dev/vda "$MNT" || fail "C btrfs mount after rbtrfs"
python3 "$TESTDIR/compare.py" "$REF" "$MNT/data" || fail "C btrfs sees another source"
python3 "$TESTDIR/compare.py" "$SRC" "$MNT/snap/data" || fail "C btrfs sees another snapshot"
btrfs subvolume delete "$MNT/snap" >/dev/null || fail "subvolume delete"
btrfs subvolume sync "$MNT" || fail "subvolume sync"
umount "$MNT"
modprobe -r -d "$KDIR/modroot" btrfs || fail "unload C btrfs"
insmod "$RBTRFS_MODDIR/rbtrfs.ko" || fail "insmod rbtrfs"
try_mount -o ro /dev/vda "$MNT" || fail "rbtrfs mount after the snapshot is gone: $MOUNT_ERR"
python3 "$TESTDIR/compare.py" "$REF" "$MNT/data" || fail "source differs after the snapshot is gone"
umount "$MNT"
check_fs /dev/vda
