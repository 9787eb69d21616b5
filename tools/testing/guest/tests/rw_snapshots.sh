# Snapshots made with btrfs-progs on rbtrfs, against models kept on tmpfs.
# Sizes are the full tier's; the quick tier's are in brackets.
#
# A: a subvolume of 2,000 [1,200] files (nodesize 4 KiB, so its tree has
# level 2), then 10 [3] rounds of: change the origin (snapmut.py:
# overwrites, appends, truncates, unlinks, renames, new files, links,
# symlinks, xattrs, modes), snapshot it (every third one read-only, which
# must refuse writes with EROFS), change the previous writable snapshot; at
# round 5 [2] a snapshot of that round's snapshot too, changed, while the
# next round changes the snapshot it was taken from. Every subvolume equals
# its model after a remount with cold caches; btrfs check is clean; C btrfs
# mounts the image and sees every subvolume equal to its model too.
#
# B: a fresh filesystem, 1,000 [300] files, used space recorded; 10 [5]
# snapshots, each changed; all deleted, and unmounted before the cleaner
# ran (btrfs check accepts the dead roots); mounted again, the cleaner
# drops them in committed steps (btrfs subvolume sync waits for it); data
# used is back to exactly its level before the snapshots and metadata
# within 1 MiB; no subvolume tree is left; the origin is intact.
KDIR=${RBTRFS_KDIR:?}
FILES_A=$(sized 1200 2000); ROUNDS=$(sized 3 10); SOS=$(sized 2 5); FILES_B=$(sized 300 1000); SNAPS_B=$(sized 5 10)
IMG=/tmp/snaps.img
MODEL=$(mktemp -d /tmp/model.XXXXXX)
rm -f "$IMG"; truncate -s 768M "$IMG"
LOOP=$(losetup -f --show "$IMG")
trap 'cd /; umount "$MNT" 2>/dev/null || true; losetup -d "$LOOP" 2>/dev/null || true; rm -rf "$IMG" "$MODEL" "$MODEL".*.json' EXIT
MUT="python3 $TESTDIR/snapmut.py"
trap 'echo "  error at line $LINENO: $BASH_COMMAND"' ERR

# both DIR ROUND: the same changes to the model and the mount.
both() {
    $MUT "$MODEL/$1" "$2" || fail "changes to the model of $1"
    $MUT "$MNT/$1" "$2" || fail "changes to $1 on rbtrfs"
}
# compare_all WHO: every subvolume on the mount equals its model. The first
# call saves what the models hold; later ones compare with that (the models
# do not change after A's rounds).
compare_all() {
    local s src
    for s in origin snaps; do
        src=("$MODEL/$s" --save "$MODEL.$s.json")
        [ -e "$MODEL.$s.json" ] && src=(--load "$MODEL.$s.json")
        python3 "$TESTDIR/compare.py" "${src[@]}" "$MNT/$s" >/tmp/cmp.log 2>&1 || { tail -5 /tmp/cmp.log; fail "$1: $s differs from its model"; }
    done
}

# --- A: a chain of snapshots with changes on both sides -------------------
mkfs_btrfs "$LOOP" -n 4096
try_mount "$LOOP" "$MNT" || fail "mount: $MOUNT_ERR"
btrfs subvolume create "$MNT/origin" >/dev/null || fail "subvolume create"
python3 "$TESTDIR/mktree.py" "$MODEL/origin" --files "$FILES_A" --small >/dev/null
touch -d @1600000000 "$MODEL/origin"
cp -a "$MODEL/origin/." "$MNT/origin/" || fail "copy in"
touch -d @1600000000 "$MNT/origin"
mkdir "$MNT/snaps" "$MODEL/snaps"
prev=""
for i in $(seq 1 "$ROUNDS"); do
    both origin "$i"
    ro=""; [ $((i % 3)) = 0 ] && ro="-r"
    btrfs subvolume snapshot $ro "$MNT/origin" "$MNT/snaps/s$i" >/dev/null || fail "snapshot $i"
    cp -a "$MODEL/origin" "$MODEL/snaps/s$i"
    if [ -n "$ro" ]; then
        touch "$MNT/snaps/s$i/new" 2>/tmp/ro.err && fail "read-only snapshot s$i took a new file"
        grep -q "Read-only file system" /tmp/ro.err || fail "s$i: $(cat /tmp/ro.err), want EROFS"
    fi
    # The previous writable snapshot changes too (its blocks are shared
    # with the origin and with the snapshot just taken).
    [ -n "$prev" ] && both "snaps/$prev" $((100 + i))
    [ -z "$ro" ] && prev=s$i
    if [ "$i" = "$SOS" ]; then
        btrfs subvolume snapshot "$MNT/snaps/s$i" "$MNT/snaps/s${i}b" >/dev/null || fail "snapshot of a snapshot"
        cp -a "$MODEL/snaps/s$i" "$MODEL/snaps/s${i}b"
        both "snaps/s${i}b" $((i * 11))
    fi
done
# The subvolumes the models describe are subvolumes: their own st_dev.
[ "$(stat -c %d "$MNT/origin")" != "$(stat -c %d "$MNT/snaps/s1")" ] || fail "a snapshot shares st_dev with its origin"
n=$(btrfs subvolume list "$MNT" | wc -l)
[ "$n" = $((ROUNDS + 2)) ] || { btrfs subvolume list "$MNT"; fail "subvolume list shows $n subvolumes, want $((ROUNDS + 2))"; }
btrfs subvolume show "$MNT/snaps/s3" | grep -q "Flags:.*readonly" || fail "s3 not shown read-only"
umount "$MNT"
btrfs inspect-internal dump-tree -t 256 "$LOOP" >/tmp/tree256.txt || fail "dump-tree -t 256"
lvl=$(grep -m1 -oE '^(node|leaf) [0-9]+ level [0-9]+' /tmp/tree256.txt | awk '{print $4}')
[ "${lvl:-0}" -ge 2 ] || fail "the origin's tree has level ${lvl:-?}, want >= 2"
btrfs check --readonly "$LOOP" >/tmp/check-a.log 2>&1 || { cat /tmp/check-a.log; fail "btrfs check after the snapshots"; }
echo 3 >/proc/sys/vm/drop_caches
try_mount "$LOOP" "$MNT" || fail "remount: $MOUNT_ERR"
compare_all "rbtrfs after a remount"
umount "$MNT"
info "A: $((ROUNDS + 2)) subvolumes equal their models on rbtrfs (origin tree level $lvl)"

# C btrfs reads the same.
rmmod rbtrfs || fail "rmmod rbtrfs"
modprobe -d "$KDIR/modroot" btrfs || fail "modprobe C btrfs"
mount -t btrfs -o ro "$LOOP" "$MNT" || fail "C btrfs mount"
compare_all "C btrfs"
umount "$MNT"
modprobe -r -d "$KDIR/modroot" btrfs || fail "unload C btrfs"
insmod "$RBTRFS_MODDIR/rbtrfs.ko" || fail "insmod rbtrfs"
info "A: C btrfs sees the same $((ROUNDS + 2)) subvolumes"

# --- B: delete every snapshot; the cleaner returns the space ---------------
rm -rf "$MODEL"/*
mkfs_btrfs "$LOOP"
# The cleaner runs with the periodic commit (as C's is woken by commits):
# with commit=300 it does not run before the unmount, so every deleted
# tree is left for the next mount to drop.
try_mount -o commit=300 "$LOOP" "$MNT" || fail "mount B: $MOUNT_ERR"
btrfs subvolume create "$MNT/origin" >/dev/null || fail "subvolume create B"
python3 "$TESTDIR/mktree.py" "$MODEL/origin" --files "$FILES_B" >/dev/null
touch -d @1600000000 "$MODEL/origin"
cp -a "$MODEL/origin/." "$MNT/origin/" || fail "copy in B"
touch -d @1600000000 "$MNT/origin"
sync
# used DF-LINE: the used bytes of "Data" or "Metadata" in btrfs filesystem df -b.
used() { btrfs filesystem df -b "$MNT" | awk -v k="$1," '$1 == k {sub(".*used=", ""); print $0}'; }
d0=$(used Data); m0=$(used Metadata)
[ -n "$d0" ] && [ -n "$m0" ] || fail "no usage from btrfs filesystem df"
for i in $(seq 1 "$SNAPS_B"); do
    btrfs subvolume snapshot "$MNT/origin" "$MNT/s$i" >/dev/null || fail "snapshot B$i"
    $MUT "$MNT/s$i" $((200 + i)) --ops 120 || fail "changes to s$i"
done
sync
d1=$(used Data); m1=$(used Metadata)
[ "$d1" -gt "$d0" ] || fail "the snapshots' changes took no data space ($d0 -> $d1)"
for i in $(seq 1 "$SNAPS_B"); do btrfs subvolume delete "$MNT/s$i" >/dev/null || fail "delete s$i"; done
[ "$(btrfs subvolume list "$MNT" | wc -l)" = 1 ] || fail "deleted snapshots still listed"
umount "$MNT"
btrfs inspect-internal dump-tree -t root "$LOOP" >/tmp/roots.txt || fail "dump-tree -t root"
left=$(grep -cE 'key \(-?[0-9]+ ORPHAN_ITEM|ORPHAN ORPHAN_ITEM' /tmp/roots.txt || true)
btrfs check --readonly "$LOOP" >/tmp/check-b.log 2>&1 || { cat /tmp/check-b.log; fail "btrfs check with deleted snapshots not dropped yet"; }
[ "$left" = "$SNAPS_B" ] || fail "$left deleted trees left at the unmount, want $SNAPS_B"
try_mount "$LOOP" "$MNT" || fail "mount B again: $MOUNT_ERR"
timeout 600 btrfs subvolume sync "$MNT" >/dev/null || fail "btrfs subvolume sync"
# The cleaner commits each step; one more commit settles the accounting.
sync
d2=$(used Data); m2=$(used Metadata)
python3 "$TESTDIR/compare.py" "$MODEL/origin" "$MNT/origin" >/tmp/cmp.log 2>&1 || { tail -5 /tmp/cmp.log; fail "origin differs after the drops"; }
umount "$MNT"
btrfs inspect-internal dump-tree -t root "$LOOP" >/tmp/roots.txt || fail "dump-tree -t root"
trees=$(grep -cE 'key \((2[5-9][0-9]|[3-9][0-9]{2}) ROOT_ITEM' /tmp/roots.txt || true)
[ "$trees" = 1 ] || fail "$trees subvolume ROOT_ITEMs left, want 1 (the origin)"
[ "$d2" = "$d0" ] || fail "data used $d2 after the drops, $d0 before the snapshots"
diff=$(( m2 > m0 ? m2 - m0 : m0 - m2 ))
[ "$diff" -le $((1 << 20)) ] || fail "metadata used $m2 after the drops, $m0 before (differs by more than 1 MiB)"
dmesg_has "cleaner: dropped deleted subvolume" || fail "no cleaner message in dmesg"
check_fs "$LOOP"
info "B: $left trees left at the unmount; data used $d0 -> $d1 -> $d2, metadata $m0 -> $m1 -> $m2"
