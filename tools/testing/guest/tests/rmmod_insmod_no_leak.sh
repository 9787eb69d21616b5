# insmod/rmmod in a loop (10 rounds; 4 in the quick tier), with read-only
# mounts and reads, read-write mounts with writes (on /dev/vdd), and
# refused mounts in between, leaks nothing (kmemleak), and the module can
# always be removed once unmounted.
KL=/sys/kernel/debug/kmemleak
[ -e $KL ] || fail "kmemleak not available (debug kernel expected)"
SRC=$(mktemp -d /tmp/src.XXXXXX) && python3 "$TESTDIR/mktree.py" "$SRC" --files 20 >/dev/null
mkfs_btrfs /dev/vda -K --rootdir "$SRC"
before=$(fingerprint /dev/vda)
echo scan > $KL; echo clear > $KL
ROUNDS=$(sized 4 10)
for i in $(seq 1 "$ROUNDS"); do
    rmmod rbtrfs || fail "rmmod failed (round $i)"
    grep -qw btrfs /proc/filesystems && fail "btrfs still registered after rmmod"
    [ -e /sys/fs/btrfs ] && fail "/sys/fs/btrfs left behind after rmmod"
    if [ $((i % 2)) = 0 ]; then
        # As fstests reloads it: by the alias, from an installed module tree.
        modprobe -d "$RBTRFS_MODDIR/modroot" fs-btrfs || fail "modprobe fs-btrfs failed (round $i)"
        lsmod | grep -q '^rbtrfs ' || fail "modprobe fs-btrfs did not load rbtrfs"
    else
        insmod "$RBTRFS_MODDIR/rbtrfs.ko" || fail "insmod failed (round $i)"
    fi
    try_mount -o ro /dev/vda "$MNT" || fail "mount failed (round $i): $MOUNT_ERR"
    cmp "$MNT/size-65536" "$SRC"/size-65536 || fail "data differs (round $i)"
    ls -lR "$MNT" >/dev/null
    umount "$MNT"
    try_mount -o ro /dev/vdb "$MNT" 2>/dev/null && fail "vdb (not btrfs) mounted"
    # Read-write: create, write, rename, unlink, xattr; umount commits.
    [ $i = 1 ] && mkfs_btrfs /dev/vdd -L leak
    try_mount /dev/vdd "$MNT" || fail "rw mount failed (round $i): $MOUNT_ERR"
    cp "$SRC/size-65536" "$MNT/f$i"
    mkdir -p "$MNT/d$i" && mv "$MNT/f$i" "$MNT/d$i/g"
    setfattr -n user.round -v "$i" "$MNT/d$i/g"
    [ $i -gt 1 ] && rm -rf "$MNT/d$((i - 1))"
    umount "$MNT"
done
try_mount -o ro /dev/vdd "$MNT" || fail "final ro mount of vdc failed"
cmp "$MNT/d$ROUNDS/g" "$SRC"/size-65536 || fail "rw data differs after the rounds"
[ "$(ls "$MNT")" = "d$ROUNDS" ] || fail "rw tree is not just d$ROUNDS: $(ls "$MNT" | tr '\n' ' ')"
umount "$MNT"
check_fs /dev/vdd
expect_dmesg "BTRFS error \(device vdb\)"
# kmemleak reports only objects older than 5 s, after two scans.
sleep 6
echo scan > $KL; echo scan > $KL
leaks=$(cat $KL)
[ -z "$leaks" ] || { echo "$leaks" | head -40; fail "kmemleak found leaks"; }
info "$ROUNDS load (insmod and modprobe fs-btrfs)/mount/read/write/unmount/unload rounds, kmemleak clean"
[ "$(fingerprint /dev/vda)" = "$before" ] || fail "device changed"
check_fs /dev/vda
