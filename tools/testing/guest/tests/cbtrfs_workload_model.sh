# C btrfs (the reference) under the randomized read-write workload
# (workload.py): 4 workers doing create/write/truncate/fallocate/rename/
# renameat2/link/unlink/mkdir/rmdir/symlink/xattr/chmod/utime/mmap/fsync ops,
# each read checked against an exact model; then the disk is filled to ENOSPC
# (the writer gets ENOSPC, the fs still works, deleting frees space for new
# writes). After umount, btrfs check is clean, and a fresh mount holds
# exactly the model's tree: paths, types, modes, sizes, data, xattrs, symlink
# targets, hard links.
# Wants a 1 GiB /dev/vda (smaller works, with smaller big files). Knobs for a
# manual run: WORKLOAD_OPS (10000: about 5 minutes under TCG with the debug
# kernel; 20000 takes 8), WORKLOAD_SEED (a fresh one, or $SEED), WORKLOAD_WORKERS (4).
lsmod | grep -q '^btrfs ' || fail "C btrfs not loaded"
DEV=/dev/vda
OPS=${WORKLOAD_OPS:-10000}
SEED=${WORKLOAD_SEED:-$(test_seed cbtrfs_workload_model)}
WORKERS=${WORKLOAD_WORKERS:-4}
size_mib=$(( $(blockdev --getsize64 $DEV) >> 20 ))
[ "$size_mib" -ge 1024 ] || info "note: $DEV is $size_mib MiB; the test is sized for 1 GiB"
max_file=$(( size_mib / 32 )); [ $max_file -le 32 ] || max_file=32; [ $max_file -ge 1 ] || max_file=1
M=/tmp/workload-manifest.json
mkfs_btrfs $DEV
try_mount $DEV "$MNT" || fail "mount failed: $MOUNT_ERR"
t0=$(date +%s)
python3 "$TESTDIR/workload.py" run --dir "$MNT" --ops "$OPS" --workers "$WORKERS" --seed "$SEED" \
    --max-file $max_file --fill --no-final-check --manifest $M || fail "workload run (seed $SEED)"
t1=$(date +%s)
info "statfs after the run: $(stat -f -c '%b blocks, %f free, %a available' "$MNT")"
info "$(btrfs filesystem df "$MNT" | tr '\n' ';')"
umount "$MNT"
btrfs check --readonly $DEV >/tmp/btrfs-check.log 2>&1 || { cat /tmp/btrfs-check.log; fail "btrfs check after the workload"; }
try_mount $DEV "$MNT" || fail "remount failed: $MOUNT_ERR"
python3 "$TESTDIR/workload.py" verify --dir "$MNT" --manifest $M || fail "the remounted tree differs from the model"
info "workload ${OPS} ops: run $((t1 - t0))s, check+remount+verify $(( $(date +%s) - t1 ))s"
umount "$MNT"
check_fs $DEV
