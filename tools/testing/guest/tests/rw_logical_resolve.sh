# BTRFS_IOC_LOGICAL_INO(_V2), INO_PATHS and INO_LOOKUP, directly and through
# `btrfs inspect-internal logical-resolve/inode-resolve`: every data extent
# of a tree with hard links resolves to exactly its file ranges and paths.
# LOGICAL_INO reads the commit roots under commit_root_sem; it is run again
# while another task creates files and commits over and over (every sync
# switches the commit roots), and must keep giving the same answers. Bad
# arguments get EINVAL/EFAULT/ENOENT/ENOTTY, unprivileged callers EPERM.
# Then btrfs check, and the tree is compared with a reference copy.
IMG=/tmp/logical.img
rm -f "$IMG"; truncate -s 256M "$IMG"
LOOP=$(losetup -f --show "$IMG")
REF=$(mktemp -d /tmp/ref.XXXXXX)
DUMP=/tmp/logical.dump
trap 'kill ${CHURN:-} 2>/dev/null || true; umount "$MNT" 2>/dev/null || true; losetup -d "$LOOP" 2>/dev/null || true; rm -rf "$IMG" "$REF"' EXIT
mkfs_btrfs "$LOOP"
try_mount "$LOOP" "$MNT" || fail "mount: $MOUNT_ERR"
# Files of 4 KiB to 1 MiB in nested directories, some written in pieces
# with fsyncs between (several extents), and hard links.
python3 - "$MNT" "$REF" <<'PY' || fail "making the tree"
import os, random, sys
r = random.Random(7)
for top in sys.argv[1:]:
    r.seed(7)
    for d in ["a", "a/b", "a/b/c", "d", "d/e"]:
        os.makedirs(os.path.join(top, d), exist_ok=True)
    for i in range(60):
        d = ["a", "a/b", "a/b/c", "d", "d/e", ""][i % 6]
        p = os.path.join(top, d, "f%d" % i)
        with open(p, "wb") as f:
            for _ in range(1 + i % 3):
                f.write(r.randbytes(4096 * r.randint(1, 80)))
                f.flush(); os.fsync(f.fileno())
    for i in range(0, 60, 7):
        d = ["a", "a/b", "a/b/c", "d", "d/e", ""][i % 6]
        os.link(os.path.join(top, d, "f%d" % i), os.path.join(top, "d/e", "link%d" % i))
        os.link(os.path.join(top, d, "f%d" % i), os.path.join(top, "a", "link%d" % i))
    for d, dirs, files in os.walk(top, topdown=False):
        for n in files + dirs:
            os.utime(os.path.join(d, n), ns=(1700000000123456789, 1700000000123456789))
PY
umount "$MNT"
btrfs inspect-internal dump-tree -t 5 "$LOOP" >"$DUMP" || fail "dump-tree"
awk '/^(leaf|node) /{print $2; exit}' "$DUMP" >"$DUMP.root"
try_mount "$LOOP" "$MNT" || fail "mount again: $MOUNT_ERR"
python3 "$TESTDIR/logical_resolve.py" "$DUMP" "$MNT" --progs 12 --bad-args || fail "resolving on a quiet filesystem"
# Again while commits switch the commit roots all the time.
rm -f /tmp/churn.count
( i=0; while :; do mkdir -p "$MNT/churn"; dd if=/dev/urandom of="$MNT/churn/c$((i % 20))" bs=64k count=4 status=none; sync; i=$((i+1)); echo $i >/tmp/churn.count; done ) &
CHURN=$!
python3 "$TESTDIR/logical_resolve.py" "$DUMP" "$MNT" --passes 3 || fail "resolving while commits run"
kill $CHURN; wait $CHURN 2>/dev/null || true
n=$(cat /tmp/churn.count 2>/dev/null || echo 0)
info "$n commits (write + sync) raced the resolving passes"
[ "$n" -ge 3 ] || fail "too few commits raced the resolving passes ($n)"
setpriv --reuid=1000 --regid=1000 --clear-groups python3 "$TESTDIR/logical_resolve.py" "$DUMP" "$MNT" --unprivileged \
    || fail "unprivileged callers"
rm -rf "$MNT/churn"
touch -r "$MNT" "$REF"
python3 "$TESTDIR/compare.py" "$REF" "$MNT" || fail "tree differs from the reference"
umount "$MNT"
check_fs "$LOOP"
