# 25,000 small files in 50 directories: the fs tree reaches level 2, and the
# read-only mount still equals the source in every entry.
python3 - /tmp/big <<'PY'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(7)
for d in range(50):
    p = os.path.join(root, f"dir{d:02d}")
    os.makedirs(p)
    for i in range(500):
        with open(os.path.join(p, f"file-{i:04d}-{'x' * rnd.randrange(40)}"), "wb") as f:
            f.write(rnd.randbytes(rnd.randrange(64)))
PY
mkfs_btrfs /dev/vda -K --rootdir /tmp/big
level=$(btrfs inspect-internal dump-tree -t fs /dev/vda | sed -n '1s/.* level \([0-9]*\).*/\1/p')
[ "${level:-0}" -ge 2 ] || fail "fs tree level is ${level:-?}, want >= 2"
info "fs tree root level $level"
before=$(fingerprint /dev/vda)
try_mount -o ro /dev/vda "$MNT" || fail "mount failed: $MOUNT_ERR"
[ "$(find "$MNT" -type f | wc -l)" = 25000 ] || fail "file count"
python3 "$TESTDIR/compare.py" --mkfs-rootdir /tmp/big "$MNT" || fail "large tree differs"
umount "$MNT"
[ "$(fingerprint /dev/vda)" = "$before" ] || fail "the device changed"
check_fs /dev/vda
