# fsstress-like namespace stress with subvolume operations
# (subvolstress.py), from a seed (SEED=N replays one):
# - one process, the same seed on rbtrfs and on C btrfs: every operation
#   must give the same result on both (the op logs are compared), and the
#   trees must end equal (treesum);
# - several processes at once on rbtrfs: no operation may fail with an
#   errno a namespace operation cannot give;
# each followed by rm -rf of everything (read-only subvolumes made writable
# first), btrfs check after each unmount, and dmesg clean.
KDIR=${RBTRFS_KDIR:?}
IMG=/tmp/svstress.img
LOOP=""
trap 'umount "$MNT" 2>/dev/null || true; if [ -n "$LOOP" ]; then losetup -d "$LOOP" 2>/dev/null || true; fi
      rm -rf "$IMG" /tmp/svstress.*' EXIT
trap 'echo "  error at line $LINENO: $BASH_COMMAND"' ERR
OPS=$(sized 250 1500)
PROCS=$(sized 3 6)
SEEDS=$(sized 1 4)
SS=$TESTDIR/subvolstress.py

fresh() {
    if [ -n "$LOOP" ]; then losetup -d "$LOOP"; LOOP=""; fi
    rm -f "$IMG"; truncate -s 1G "$IMG"
    LOOP=$(losetup -f --show "$IMG")
    mkfs_btrfs "$LOOP"
}
checked() {
    umount "$MNT" || fail "$1: umount"
    btrfs check --readonly "$LOOP" >/tmp/svstress.check 2>&1 || { head -40 /tmp/svstress.check; fail "$1: btrfs check"; }
}
clean_all() {
    python3 "$SS" clean "$MNT" || fail "$1: rm -rf of everything"
    checked "$1 (after rm -rf)"
}

base=$(test_seed rw_subvol_stress)
for i in $(seq 0 $((SEEDS - 1))); do
    seed=$((base + i))
    # One process, on C btrfs first, then on rbtrfs: the same results.
    fresh
    rmmod rbtrfs || fail "rmmod rbtrfs"
    modprobe -d "$KDIR/modroot" btrfs || fail "modprobe C btrfs"
    mount -t btrfs "$LOOP" "$MNT" || fail "C btrfs mount"
    python3 "$SS" run "$MNT" --seed "$seed" --ops "$OPS" --log /tmp/svstress.c.log >/tmp/svstress.out \
        || { cat /tmp/svstress.out; fail "seed $seed: C btrfs run"; }
    python3 "$TESTDIR/treesum.py" "$MNT" > /tmp/svstress.c.sum
    umount "$MNT"; rmmod btrfs
    insmod "$RBTRFS_MODDIR/rbtrfs.ko" || fail "insmod rbtrfs"
    fresh
    try_mount "$LOOP" "$MNT" || fail "mount: $MOUNT_ERR"
    python3 "$SS" run "$MNT" --seed "$seed" --ops "$OPS" --log /tmp/svstress.rb.log \
        || fail "seed $seed: rbtrfs run"
    if ! cmp -s /tmp/svstress.c.log /tmp/svstress.rb.log; then
        { diff /tmp/svstress.c.log /tmp/svstress.rb.log || true; } | head -8 | sed 's/^/  C < > rbtrfs: /'
        fail "seed $seed: an operation gave rbtrfs another result than C btrfs"
    fi
    python3 "$TESTDIR/treesum.py" "$MNT" --check /tmp/svstress.c.sum || fail "seed $seed: the tree differs from C btrfs's"
    checked "seed $seed, one process"
    try_mount "$LOOP" "$MNT" || fail "mount: $MOUNT_ERR"
    clean_all "seed $seed, one process"
    # Several processes, on rbtrfs.
    fresh
    try_mount "$LOOP" "$MNT" || fail "mount: $MOUNT_ERR"
    python3 "$SS" run "$MNT" --seed "$seed" --ops "$OPS" --procs "$PROCS" || fail "seed $seed: $PROCS processes"
    checked "seed $seed, $PROCS processes"
    try_mount "$LOOP" "$MNT" || fail "mount: $MOUNT_ERR"
    clean_all "seed $seed, $PROCS processes"
done
losetup -d "$LOOP"; LOOP=""
info "$SEEDS seeds of $OPS ops: rbtrfs and C btrfs agree op by op; $PROCS processes; rm -rf and btrfs check clean"
