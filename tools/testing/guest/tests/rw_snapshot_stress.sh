# Snapshots taken, changed and deleted under a running writer, from a seed
# (SEED=N replays one; make check draws a fresh one, make check-full runs 20
# seeds from it).
#
# Per seed, on a fresh filesystem with a random commit interval: a
# subvolume `data` where workload.py's workers write (creates, writes past
# EOF, overwrites, truncates, fallocate and hole punches, renames, links,
# symlinks, xattrs, mmap) and a shell loop makes reflinks and nested
# subvolumes; meanwhile, at random moments, read-only and writable
# snapshots of `data` (and of snapshots), each summed (treesum.py) as it
# is made; writable ones are changed (snapmut.py) and summed again;
# random snapshots deleted while the cleaner runs; unmounts and mounts
# between rounds, some with deleted trees half dropped. Then every
# surviving snapshot must match its sums, btrfs check must be clean, the
# cleaner must drop every deleted tree, and C btrfs must read every
# surviving snapshot equal to its sums too.
KDIR=${RBTRFS_KDIR:?}
IMG=/tmp/stress.img
SUMS=$(mktemp -d /tmp/sums.XXXXXX)
LOOP=""
# (Under errexit a failing command in the EXIT trap would be the test's
# status: every step here may fail.)
trap 'cd /; kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; umount "$MNT" 2>/dev/null || true
      if [ -n "$LOOP" ]; then losetup -d "$LOOP" 2>/dev/null || true; fi; rm -rf "$IMG" "$SUMS"' EXIT
trap 'echo "  error at line $LINENO: $BASH_COMMAND"' ERR
SEEDS=$(sized 1 20)
ROUNDS=$(sized 1 2)
OPS=$(sized 500 1500)

# snap SRC NAME [-r]: a snapshot, summed at once.
snap() {
    btrfs subvolume snapshot ${3:-} "$MNT/$1" "$MNT/snaps/$2" >/dev/null || fail "snapshot $1 -> $2"
    python3 "$TESTDIR/treesum.py" "$MNT/snaps/$2" >"$SUMS/$2" || fail "sums of $2"
    live+=("$2")
}
# verify DRIVER: every live snapshot against its sums.
verify() {
    local s
    for s in "${live[@]}"; do
        python3 "$TESTDIR/treesum.py" "$MNT/snaps/$s" --check "$SUMS/$s" >/tmp/sum.log 2>&1 \
            || { cat /tmp/sum.log; fail "seed $seed: $1: snapshot $s differs from its sums"; }
    done
}

one_seed() {
    seed=$1
    RANDOM=$seed
    live=()
    rm -f "$IMG" "$SUMS"/*; truncate -s "$(sized 1G 2G)" "$IMG"
    LOOP=$(losetup -f --show "$IMG")
    mkfs_btrfs "$LOOP"
    local commit=$(( 1 + RANDOM % 10 )) r n=0 wpid
    info "seed $seed: commit=$commit, $ROUNDS rounds of $OPS ops"
    try_mount -o commit=$commit "$LOOP" "$MNT" || fail "mount: $MOUNT_ERR"
    btrfs subvolume create "$MNT/data" >/dev/null || fail "subvolume create data"
    mkdir "$MNT/snaps"
    for r in $(seq 1 "$ROUNDS"); do
        mkdir -p "$MNT/data/r$r"
        python3 "$TESTDIR/workload.py" run --dir "$MNT/data/r$r" --ops "$OPS" --workers 2 \
            --seed "$seed$r" --max-file 4 --manifest /tmp/stress-wl.json --no-final-check \
            >/tmp/stress-wl.log 2>&1 &
        wpid=$!
        # Reflinks and nested subvolumes beside the workers.
        (
            # Best effort beside the workers (files come and go under it).
            set +e +o pipefail
            RANDOM=$seed$r
            i=0
            while :; do
                f=$(find "$MNT/data/r$r" -type f -size +1k 2>/dev/null | head -$(( 1 + RANDOM % 50 )) | tail -1)
                mkdir -p "$MNT/data/refl$r"
                [ -n "$f" ] && cp --reflink=always "$f" "$MNT/data/refl$r/c$i" 2>/dev/null
                if [ $(( RANDOM % 8 )) = 0 ]; then
                    btrfs subvolume create "$MNT/data/sv$r.$i" >/dev/null 2>&1 && echo x >"$MNT/data/sv$r.$i/f"
                fi
                i=$((i + 1)); sleep 0.$(( RANDOM % 10 ))
            done
        ) &
        local side=$!
        while kill -0 $wpid 2>/dev/null; do
            sleep $(( 2 + RANDOM % 6 ))
            kill -0 $wpid 2>/dev/null || break
            n=$((n + 1))
            case $(( RANDOM % 6 )) in
                0|1|2) snap data "s$n" -r ;;
                3) snap data "w$n"
                   # (In the workers' tree: the placeholders of nested
                   # subvolumes take no changes, EPERM as in C.)
                   python3 "$TESTDIR/snapmut.py" "$MNT/snaps/w$n/r$r" "$n" --ops 40 >/dev/null || fail "changes to w$n"
                   python3 "$TESTDIR/treesum.py" "$MNT/snaps/w$n" >"$SUMS/w$n" ;;
                4) [ ${#live[@]} -gt 0 ] && snap "snaps/${live[RANDOM % ${#live[@]}]}" "ss$n" -r ;;
                5) if [ ${#live[@]} -gt 1 ]; then
                       local k=$(( RANDOM % ${#live[@]} ))
                       btrfs subvolume delete "$MNT/snaps/${live[k]}" >/dev/null || fail "delete ${live[k]}"
                       live=("${live[@]:0:k}" "${live[@]:k+1}")
                   fi ;;
            esac
        done
        kill $side 2>/dev/null || true
        wait $side 2>/dev/null || true
        wait $wpid || { tail -20 /tmp/stress-wl.log; fail "seed $seed: workload round $r"; }
        verify "round $r"
        # Delete a few more, then unmount: the cleaner may be half way.
        while [ ${#live[@]} -gt 2 ] && [ $(( RANDOM % 2 )) = 0 ]; do
            local k=$(( RANDOM % ${#live[@]} ))
            btrfs subvolume delete "$MNT/snaps/${live[k]}" >/dev/null || fail "delete ${live[k]}"
            live=("${live[@]:0:k}" "${live[@]:k+1}")
        done
        umount "$MNT" || fail "umount after round $r"
        btrfs check --readonly "$LOOP" >/tmp/stress-check.log 2>&1 \
            || { head -40 /tmp/stress-check.log; fail "seed $seed: btrfs check after round $r"; }
        try_mount -o commit=$commit "$LOOP" "$MNT" || fail "mount: $MOUNT_ERR"
        verify "after remount $r"
    done
    # The cleaner drops every deleted tree.
    btrfs subvolume sync "$MNT" >/dev/null || fail "subvolume sync"
    [ -z "$(btrfs subvolume list -d "$MNT")" ] || fail "seed $seed: deleted subvolumes left after sync"
    umount "$MNT"
    btrfs check --readonly "$LOOP" >/tmp/stress-check.log 2>&1 \
        || { head -40 /tmp/stress-check.log; fail "seed $seed: btrfs check at the end"; }
    # C btrfs reads what survived.
    rmmod rbtrfs || fail "rmmod rbtrfs"
    modprobe -d "$KDIR/modroot" btrfs || fail "modprobe C btrfs"
    mount -t btrfs -o ro "$LOOP" "$MNT" || fail "C btrfs mount"
    verify "C btrfs"
    umount "$MNT"; rmmod btrfs
    insmod "$RBTRFS_MODDIR/rbtrfs.ko" || fail "insmod rbtrfs"
    losetup -d "$LOOP"; LOOP=""
    info "seed $seed: $n snapshot events, ${#live[@]} snapshots verified by rbtrfs and C btrfs"
}

base=$(test_seed rw_snapshot_stress)
for i in $(seq 0 $((SEEDS - 1))); do
    one_seed $((base + i))
done
