# 10,000 (quick tier: 3,000) random ioctls (ioctl_fuzz.py) on a directory and a file of a loop
# image: every btrfs ioctl rbtrfs implements, the attribute-flag ioctls,
# unimplemented btrfs ioctls (ENOTTY) and random btrfs numbers, with random
# contents, sizes and pointers (NULL, kernel, guard page, crossing into it,
# misaligned). 6,000 as root, 4,000 as uid 1000, for whom every privileged
# one is EPERM. Then: no oops/WARN/BUG/lockdep in dmesg (check_all), the
# filesystem unmounts, btrfs check is clean, it mounts again and a tree
# written before the fuzzing still equals its reference.
IMG=/tmp/ioctl-fuzz.img
rm -f "$IMG"; truncate -s 256M "$IMG"
LOOP=$(losetup -f --show "$IMG")
REF=$(mktemp -d /tmp/ref.XXXXXX)
trap 'umount "$MNT" 2>/dev/null || true; losetup -d "$LOOP" 2>/dev/null || true; rm -rf "$IMG" "$REF"' EXIT
mkfs_btrfs "$LOOP"
try_mount "$LOOP" "$MNT" || fail "mount: $MOUNT_ERR"
python3 - "$MNT/tree" "$REF" <<'PY' || fail "making the tree"
import os, random, sys
for top in sys.argv[1:]:
    r = random.Random(3)
    for i in range(60):
        d = os.path.join(top, "a%d" % (i % 5), "b%d" % (i % 2))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "f%d" % i), "wb") as f:
            f.write(r.randbytes(r.choice([0, 10, 2000, 9000, 150000])))
    for d, dirs, files in os.walk(top, topdown=False):
        for n in files + dirs:
            os.utime(os.path.join(d, n), ns=(1700000000123456789, 1700000000123456789))
PY
mkdir "$MNT/fuzz"
head -c 100000 /dev/urandom >"$MNT/fuzz/file"
chmod 755 "$MNT/fuzz"; chmod 644 "$MNT/fuzz/file"
sync
# A fresh seed each run (SEED=N replays one); 10,000 ioctls in the full
# tier, 3,000 in the quick one.
seed=$(test_seed ioctl_fuzz)
n_root=$(sized 1800 6000); n_user=$(sized 1200 4000)
start=$(date +%s)
python3 "$TESTDIR/ioctl_fuzz.py" "$MNT/fuzz" "$n_root" "$seed" || fail "fuzzing as root (SEED=$seed)"
setpriv --reuid=1000 --regid=1000 --clear-groups python3 "$TESTDIR/ioctl_fuzz.py" "$MNT/fuzz" "$n_user" $((seed + 1)) --unprivileged \
    || fail "fuzzing as an unprivileged user (SEED=$seed)"
info "$((n_root + n_user)) ioctls in $(( $(date +%s) - start ))s"
# SUBVOL_SETFLAGS may have made the top level read-only.
btrfs property set "$MNT" ro false || fail "clearing the read-only flag"
# The fuzzing may have left attribute flags (immutable, append-only) on
# its directory, its file and the top directory: clear them, then remove
# the directory.
python3 - "$MNT/fuzz" "$TESTDIR" <<'PY' || fail "clearing the flags"
import os, sys
sys.path.insert(0, sys.argv[2])
import btrfs_ioctl as B
for p in (sys.argv[1] + "/file", sys.argv[1], os.path.dirname(sys.argv[1])):
    fd = os.open(p, os.O_RDONLY)
    B.setflags(fd, 0)
    os.close(fd)
PY
# DEFAULT_SUBVOL may have picked a subvolume the fuzzing created.
btrfs subvolume set-default 5 "$MNT" || fail "resetting the default subvolume"
rm -rf "$MNT/fuzz"
umount "$MNT" || fail "unmount after fuzzing"
btrfs check --readonly "$LOOP" >/tmp/fuzz.check 2>&1 || { cat /tmp/fuzz.check; fail "btrfs check after fuzzing"; }
try_mount "$LOOP" "$MNT" || fail "mount after fuzzing: $MOUNT_ERR"
touch -h -d @1700000000.123456789 "$MNT/tree" "$REF"
python3 "$TESTDIR/compare.py" "$REF" "$MNT/tree" || fail "tree differs from the reference"
umount "$MNT"
check_fs "$LOOP"
