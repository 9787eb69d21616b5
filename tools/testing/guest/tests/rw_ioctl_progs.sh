# The filesystem ioctls and the btrfs-progs commands built on them, on a
# loop image: `btrfs filesystem show/df/usage/sync/label`, `btrfs device
# stats`, `btrfs inspect-internal rootid`, `btrfs subvolume list/show/
# get-default`, and FS_INFO, DEV_INFO, SPACE_INFO, GET_DEV_STATS,
# GET/SET_FEATURES, GET/SET_FSLABEL, GET_SUBVOL_INFO, GET_SUBVOL_ROOTREF,
# INO_LOOKUP_USER, TREE_SEARCH(_V2), SYNC, START_SYNC and WAIT_SYNC
# directly; every number is checked against what dump-super and dump-tree
# read from the device (ioctl_progs.py). The tree is written in rounds with
# commits between, so TREE_SEARCH's transid filters see leaves of several
# generations. Unprivileged callers get EPERM where C btrfs gives it.
# Then a btrfs-convert'ed ext4 image holds a real subvolume (ext2_saved):
# subvolume list, ROOTREF and INO_LOOKUP_USER find it. Both images are
# compared with their source and pass btrfs check.
IMG=/tmp/ioctl.img
IMG2=/tmp/convert.img
rm -f "$IMG" "$IMG2"; truncate -s 256M "$IMG"
LOOP=$(losetup -f --show "$IMG")
LOOP2=
REF=$(mktemp -d /tmp/ref.XXXXXX)
trap 'umount /tmp/mnt-copy 2>/dev/null || true; umount "$MNT" 2>/dev/null || true; umount /tmp/ext4src 2>/dev/null || true; losetup -d "$LOOP" 2>/dev/null || true; [ -z "$LOOP2" ] || losetup -d "$LOOP2" 2>/dev/null || true; rm -rf "$IMG" "$IMG2" "$REF"' EXIT
mkfs_btrfs "$LOOP"
try_mount -o noatime "$LOOP" "$MNT" || fail "mount: $MOUNT_ERR"
python3 - "$MNT" "$REF" <<'PY' || fail "making the tree"
import os, random, sys
mnt, ref = sys.argv[1:]
for top in (mnt, ref):
    r = random.Random(11)
    for rnd in range(5):
        for i in range(40):
            d = os.path.join(top, "d%d" % (i % 7), "e%d" % (i % 3))
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "r%d-f%d" % (rnd, i)), "wb") as f:
                f.write(r.randbytes(r.choice([0, 100, 3000, 5000, 70000, 300000])))
        if top == mnt:
            os.sync()
    for d, dirs, files in os.walk(top, topdown=False):
        for n in files + dirs:
            os.utime(os.path.join(d, n), ns=(1700000000123456789, 1700000000123456789))
PY
sync
blockdev --flushbufs "$LOOP"
python3 "$TESTDIR/ioctl_progs.py" info "$LOOP" "$MNT" || fail "filesystem information ioctls"
python3 "$TESTDIR/ioctl_progs.py" search "$LOOP" "$MNT" || fail "tree search"
python3 "$TESTDIR/ioctl_progs.py" sync "$LOOP" "$MNT" || fail "sync ioctls"
setpriv --reuid=1000 --regid=1000 --clear-groups python3 "$TESTDIR/ioctl_progs.py" unpriv "$MNT" \
    || fail "unprivileged callers"
rm -rf "$MNT"/sync-*
touch -h -d @1700000000.123456789 "$MNT" "$REF"
python3 "$TESTDIR/compare.py" "$REF" "$MNT" || fail "tree differs from the reference"
# /sys/fs/btrfs/<fsid>/devinfo/1/fsid while mounted (btrfs-progs reads
# it); a copy of the image mounted beside gets none, with a warning
# rather than sysfs's duplicate-name trace; gone after unmount.
FSID=$(btrfs inspect-internal dump-super "$LOOP" | awk '$1 == "fsid" {print $2}')
[ "$(cat /sys/fs/btrfs/$FSID/devinfo/1/fsid)" = "$FSID" ] || fail "/sys/fs/btrfs/$FSID/devinfo/1/fsid"
umount "$MNT"
cp "$IMG" /tmp/ioctl-copy.img
LOOP3=$(losetup -f --show /tmp/ioctl-copy.img)
mkdir -p /tmp/mnt-copy
try_mount "$LOOP" "$MNT" || fail "mount again: $MOUNT_ERR"
try_mount "$LOOP3" /tmp/mnt-copy || fail "mount the copy: $MOUNT_ERR"
expect_dmesg "BTRFS warning \(device loop[0-9]+\): no /sys/fs/btrfs/$FSID directory: error -17"
umount /tmp/mnt-copy; losetup -d "$LOOP3"; rm -f /tmp/ioctl-copy.img
[ -e "/sys/fs/btrfs/$FSID/devinfo/1/fsid" ] || fail "the copy's unmount removed the original's sysfs directory"
umount "$MNT"
[ -e "/sys/fs/btrfs/$FSID" ] && fail "/sys/fs/btrfs/$FSID left after unmount"
check_fs "$LOOP"

# A subvolume: btrfs-convert keeps the ext4 image in subvolume ext2_saved.
# No free space tree, so rbtrfs mounts it read-only.
truncate -s 128M "$IMG2"
LOOP2=$(losetup -f --show "$IMG2")
mkfs.ext4 -q -F -b 4096 "$LOOP2" || fail "mkfs.ext4"
mkdir -p /tmp/ext4src
mount "$LOOP2" /tmp/ext4src || fail "mount ext4"
cp -a "$REF/d0" "$REF/d1" /tmp/ext4src/
umount /tmp/ext4src
btrfs-convert "$LOOP2" >/tmp/convert.log 2>&1 || { cat /tmp/convert.log; fail "btrfs-convert"; }
try_mount -o ro "$LOOP2" "$MNT" || fail "mount the converted image: $MOUNT_ERR"
python3 "$TESTDIR/ioctl_progs.py" subvol "$LOOP2" "$MNT" || fail "subvolume ioctls"
for d in d0 d1; do
    diff -r "$REF/$d" "$MNT/$d" || fail "converted $d differs"
done
umount "$MNT"
check_fs "$LOOP2"
