# 25,000 small files in 50 directories (quick tier: 2,000 with 4 KiB nodes):
# the fs tree reaches level 2, and the read-only mount still equals the
# source in every entry.
BIG=$(mktemp -d /tmp/big.XXXXXX)
PER_DIR=$(sized 40 500)
NODES=$(sized 4096 16384)
python3 - "$BIG" "$PER_DIR" <<'PY'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(7)
for d in range(50):
    p = os.path.join(root, f"dir{d:02d}")
    os.makedirs(p)
    for i in range(int(sys.argv[2])):
        with open(os.path.join(p, f"file-{i:04d}-{'x' * rnd.randrange(40)}"), "wb") as f:
            f.write(rnd.randbytes(rnd.randrange(64)))
PY
# mkfs.btrfs 6.2 --rootdir fails on a block device for this tree ("unable
# to zero the output file"), so the image is a file, mounted through loop.
truncate -s 256M $BIG.img
mkfs_btrfs $BIG.img -n "$NODES" --rootdir "$BIG"
dev=$(losetup -f --show $BIG.img)
# (To a file: `dump-tree | grep -m1` would die of SIGPIPE under pipefail.)
btrfs inspect-internal dump-tree -t fs "$dev" > "$BIG.dump"
level=$(awk '/^(node|leaf) [0-9]+ level [0-9]+/ {print $4; exit}' "$BIG.dump")
[ "${level:-0}" -ge 2 ] || fail "fs tree level is ${level:-?}, want >= 2"
info "fs tree root level $level"
before=$(fingerprint "$dev")
try_mount -o ro "$dev" "$MNT" || fail "mount failed: $MOUNT_ERR"
[ "$(find "$MNT" -type f | wc -l)" = $((50 * PER_DIR)) ] || fail "file count"
python3 "$TESTDIR/compare.py" --mkfs-rootdir "$BIG" "$MNT" || fail "large tree differs"
# drop_caches empties the tree block cache too (the superblock shrinker);
# everything reads again from the device.
echo 3 >/proc/sys/vm/drop_caches
python3 "$TESTDIR/compare.py" --mkfs-rootdir "$BIG" "$MNT" >/dev/null || fail "large tree differs after drop_caches"
umount "$MNT"
[ "$(fingerprint "$dev")" = "$before" ] || fail "the device changed"
btrfs check --readonly "$dev" >/dev/null 2>&1 || fail "btrfs check"
losetup -d "$dev"
