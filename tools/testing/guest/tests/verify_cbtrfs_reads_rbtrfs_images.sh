# C btrfs mounts what rbtrfs wrote and reads it exactly as the reference
# says; btrfs check is clean before and after C btrfs writes to it too.
# Run by check.sh after the rbtrfs suite, with C btrfs, on the images
# labelled rbtrfs-basic (rw_basic_operations; reference: src +
# rw_mutate.sh) and rbtrfs-workload (rw_workload_model; its manifest).
SRC=$RBTRFS_TOP/build/check/src
M=$RBTRFS_TOP/build/check/rw/workload-manifest.json
lsmod | grep -q '^btrfs ' || fail "C btrfs not loaded"
BASIC=$(dev_by_label rbtrfs-basic); WL=$(dev_by_label rbtrfs-workload)
[ -r "$M" ] || fail "no workload manifest at $M"
for d in "$BASIC" "$WL"; do
    btrfs check --readonly $d >/tmp/check0.log 2>&1 || { cat /tmp/check0.log; fail "btrfs check $d before mounting"; }
done
REF=$(mktemp -d /tmp/ref.XXXXXX)
cp -a "$SRC/." "$REF/"
bash "$TESTDIR/rw_mutate.sh" "$REF"
try_mount $BASIC "$MNT" || fail "C btrfs cannot mount the rbtrfs image: $MOUNT_ERR"
python3 "$TESTDIR/compare.py" "$REF" "$MNT" || fail "C btrfs reads the rbtrfs image differently"
# C btrfs modifies it further: the extent and free space trees we wrote
# must hold up under its allocator.
cp -a "$MNT/new" "$MNT/new-copy-by-c"
rm -rf "$MNT/new"
umount "$MNT"
check_fs $BASIC
try_mount $WL "$MNT" || fail "C btrfs cannot mount the rbtrfs workload image: $MOUNT_ERR"
python3 "$TESTDIR/workload.py" verify --dir "$MNT" --manifest "$M" || fail "C btrfs sees the workload image differ from the model"
for w in "$MNT"/w*; do rm -rf "$w"; break; done
dd if=/dev/urandom of="$MNT/after-c" bs=1M count=8 status=none
umount "$MNT"
check_fs $WL
