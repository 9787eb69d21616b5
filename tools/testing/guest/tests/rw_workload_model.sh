# rbtrfs under the randomized read-write workload (workload.py, the same
# one C btrfs passes in cbtrfs_workload_model): concurrent workers doing
# create/write/overwrite/truncate/rename/renameat2/link/unlink/mkdir/rmdir/
# symlink/xattr/chmod/utime/mmap/fsync, each read checked against an exact
# model. Then (WORKLOAD_FILL=1, the default) the disk is filled until
# ENOSPC while the workers wait, more ops run on the full disk (ENOSPC is
# expected and the model adopts what the filesystem kept), and deleting fill
# files must make room for new writes. After umount btrfs check is clean and
# a fresh mount holds exactly the model's tree. The image (/dev/vde) and manifest (build/check/rw/)
# stay for C btrfs to verify (verify_cbtrfs_reads_rbtrfs_images).
# Knobs: WORKLOAD_OPS, WORKLOAD_SEED (a fresh one, or $SEED), WORKLOAD_WORKERS,
# WORKLOAD_FILL=0|1.
DEV=/dev/vde
[ -b $DEV ] || fail "no $DEV for the workload image"
OPS=${WORKLOAD_OPS:-20000}
SEED=${WORKLOAD_SEED:-$(test_seed rw_workload_model)}
WORKERS=${WORKLOAD_WORKERS:-4}
OUT=$RBTRFS_TOP/build/check/rw
mkdir -p "$OUT" 2>/dev/null || true
M=$OUT/workload-manifest.json
[ -w "$OUT" ] || M=/tmp/workload-manifest.json
size_mib=$(( $(blockdev --getsize64 $DEV) >> 20 ))
max_file=$(( size_mib / 32 )); [ $max_file -le 32 ] || max_file=32; [ $max_file -ge 1 ] || max_file=1
fill=(); [ "${WORKLOAD_FILL:-1}" = 1 ] && fill=(--fill)
mkfs_btrfs $DEV -L rbtrfs-workload
try_mount $DEV "$MNT" || fail "mount failed: $MOUNT_ERR"
t0=$(date +%s)
python3 "$TESTDIR/workload.py" run --dir "$MNT" --ops "$OPS" --workers "$WORKERS" --seed "$SEED" \
    --max-file $max_file "${fill[@]}" --no-final-check --manifest $M || fail "workload run (seed $SEED)"
t1=$(date +%s)
info "statfs after the run: $(stat -f -c '%b blocks, %f free, %a available' "$MNT")"
umount "$MNT"
btrfs check --readonly $DEV >/tmp/btrfs-check.log 2>&1 || { cat /tmp/btrfs-check.log; fail "btrfs check after the workload"; }
try_mount $DEV "$MNT" || fail "remount failed: $MOUNT_ERR"
python3 "$TESTDIR/workload.py" verify --dir "$MNT" --manifest $M || fail "the remounted tree differs from the model"
info "workload ${OPS} ops: run $((t1 - t0))s, check+remount+verify $(( $(date +%s) - t1 ))s"
umount "$MNT"
check_fs $DEV
