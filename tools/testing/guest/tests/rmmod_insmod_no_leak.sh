# insmod/rmmod in a loop, with refused mounts in between, leaks nothing
# (kmemleak) and the module can always be removed.
KL=/sys/kernel/debug/kmemleak
[ -e $KL ] || fail "kmemleak not available (debug kernel expected)"
mkfs_btrfs /dev/vda -K
before=$(fingerprint /dev/vda)
echo scan > $KL; echo clear > $KL
for i in $(seq 1 10); do
    rmmod rbtrfs || fail "rmmod failed (round $i)"
    grep -qw btrfs /proc/filesystems && fail "btrfs still registered after rmmod"
    insmod "$RBTRFS_MODDIR/rbtrfs.ko" || fail "insmod failed (round $i)"
    try_mount /dev/vda "$MNT" && fail "mount succeeded"
    try_mount /dev/vdb "$MNT" 2>/dev/null || true
done
expect_dmesg "open_ctree failed: reading the trees is not implemented yet"
expect_dmesg "BTRFS error \(device vdb\)"
# kmemleak reports only objects older than 5 s, after two scans.
sleep 6
echo scan > $KL; echo scan > $KL
leaks=$(cat $KL)
[ -z "$leaks" ] || { echo "$leaks" | head -40; fail "kmemleak found leaks"; }
info "10 load/unload rounds, kmemleak clean"
[ "$(fingerprint /dev/vda)" = "$before" ] || fail "device changed"
check_fs /dev/vda
