# Namespace changes and clones raced against fsync of the same inodes
# (nsrace.py): fsync, like the flusher after an atime update, writes the
# in-core inode back while another process renames, links, unlinks and
# creates in the directory or clones onto the file's end. The in-core size
# and times follow each change's items under the state lock, so the write
# never puts back a size from before the change. 3 [10] rounds of 15 [30]
# seconds, each on a fresh filesystem with its own seed: the sizes hold
# while it runs, btrfs check is clean after it (no "dir isize wrong"), and
# after a remount the directories hold exactly the names made and the file
# exactly its clones.
ROUNDS=$(sized 3 10); SECS=$(sized 15 30)
SEED0=$(test_seed rw_namespace_race)
IMG=/tmp/nsrace.img
rm -f "$IMG"; truncate -s 256M "$IMG"
LOOP=$(losetup -f --show "$IMG")
trap 'umount "$MNT" 2>/dev/null || true; losetup -d "$LOOP" 2>/dev/null || true; rm -f "$IMG"' EXIT
for i in $(seq 1 "$ROUNDS"); do
    seed=$((SEED0 + i))
    mkfs_btrfs "$LOOP"
    try_mount "$LOOP" "$MNT" || fail "mount: $MOUNT_ERR"
    python3 "$TESTDIR/nsrace.py" run "$MNT" "$SECS" "$seed" >/tmp/nsrace.log 2>&1 || { cat /tmp/nsrace.log; fail "round $i (seed $seed): a size is off while mounted"; }
    umount "$MNT"
    btrfs check --readonly "$LOOP" >/tmp/check-ns.log 2>&1 || { cat /tmp/nsrace.log /tmp/check-ns.log; fail "round $i (seed $seed): btrfs check"; }
    try_mount "$LOOP" "$MNT" || fail "remount: $MOUNT_ERR"
    python3 "$TESTDIR/nsrace.py" verify "$MNT" >>/tmp/nsrace.log 2>&1 || { cat /tmp/nsrace.log; fail "round $i (seed $seed): after a remount"; }
    umount "$MNT"
done
info "$ROUNDS rounds of $SECS s: $(grep -m1 'ops' /tmp/nsrace.log | sed 's/^nsrace: //') (last round)"
check_fs "$LOOP"
