# Subvolumes in the namespace, against C btrfs's rules, on a loop image:
# a subvolume moved between directories of different subvolumes (and its
# files with it), renamed in place, exchanged (RENAME_EXCHANGE) with
# another subvolume and with a directory, RENAME_NOREPLACE onto one; a
# snapshot's placeholders (a nested subvolume's entry copied by the
# snapshot): two at once stay apart, one is removed with rmdir, another is
# replaced by a rename, and they refuse changes with C's errnos; then rm -rf
# of a tree full of nested subvolumes, snapshots and placeholders. After
# each phase the tree equals a model kept on tmpfs (treesum); at the end
# btrfs check is clean, the tree survives a remount, and C btrfs reads the
# same tree.
KDIR=${RBTRFS_KDIR:?}
IMG=/tmp/svns.img
REF=$(mktemp -d /tmp/ref.XXXXXX); chmod 755 "$REF"
LOOP=""
trap 'umount "$MNT" 2>/dev/null || true; if [ -n "$LOOP" ]; then losetup -d "$LOOP" 2>/dev/null || true; fi
      rm -rf "$IMG" "$REF" /tmp/svns.sum' EXIT
trap 'echo "  error at line $LINENO: $BASH_COMMAND"' ERR
rm -f "$IMG"; truncate -s 512M "$IMG"
LOOP=$(losetup -f --show "$IMG")
mkfs_btrfs "$LOOP"
try_mount "$LOOP" "$MNT" || fail "mount: $MOUNT_ERR"
check_fs "$LOOP"

# same WHAT: the mount equals the model.
same() {
    python3 "$TESTDIR/treesum.py" "$REF" > /tmp/svns.sum
    python3 "$TESTDIR/treesum.py" "$MNT" --check /tmp/svns.sum || fail "$1: the tree differs from the model"
}
ino() { stat -c %i "$1"; }
put() { head -c "$2" /dev/urandom | tee "$REF/$1" > "$MNT/$1"; }

# top/ a (subvolume) { f1, x/ { b (subvolume) { f2 } } }, c (subvolume) { f3 }, d/ { f4 }
btrfs subvolume create "$MNT/a" >/dev/null; mkdir -p "$REF/a/x/b" "$REF/c" "$REF/d"
mkdir "$MNT/a/x"; btrfs subvolume create "$MNT/a/x/b" >/dev/null
btrfs subvolume create "$MNT/c" >/dev/null; mkdir "$MNT/d"
put a/f1 70000; put a/x/b/f2 5000; put c/f3 300; put d/f4 12345
# Snapshots of a: b is a placeholder in each (an empty directory, inode 2).
btrfs subvolume snapshot "$MNT/a" "$MNT/s1" >/dev/null
btrfs subvolume snapshot "$MNT/a" "$MNT/s2" >/dev/null
for s in s1 s2; do mkdir -p "$REF/$s/x/b"; cp "$REF/a/f1" "$REF/$s/f1"; done
same "snapshots"
[ "$(ino "$MNT/s1/x/b")" = 2 ] && [ "$(ino "$MNT/s2/x/b")" = 2 ] || fail "placeholders are not inode 2"
# Two placeholders looked up together keep their own names (each its own inode).
ls -d "$MNT/s1/x/b" "$MNT/s2/x/b" >/dev/null; ls "$MNT/s1/x/b" "$MNT/s2/x/b" >/dev/null
[ -d "$MNT/s1/x/b" ] && [ -d "$MNT/s2/x/b" ] || fail "a placeholder vanished when another was looked up"

# Placeholders refuse changes as C's do, and do not move.
expect_errno EACCES "open('$MNT/s1/x/b/new', 'w')"
expect_errno EPERM "os.mkdir('$MNT/s1/x/b/new')"
expect_errno EPERM "os.symlink('t', '$MNT/s1/x/b/new')"
expect_errno EPERM "os.link('$MNT/s1/f1', '$MNT/s1/x/b/new')"
expect_errno EPERM "os.rename('$MNT/s1/f1', '$MNT/s1/x/b/new')"
expect_errno ENOTSUP "os.setxattr('$MNT/s1/x/b', 'user.a', b'v')"
expect_errno ENOTEMPTY "os.rename('$MNT/s1/x/b', '$MNT/s1/moved')"
expect_errno ENOTTY "import fcntl; fcntl.ioctl(os.open('$MNT/s1/x/b', os.O_RDONLY), 0x80086601, bytearray(8))"

# Moves: b out of a into the top level's d/, renamed; files follow, st_dev
# stays b's own; then into subvolume c, and back in place under a new name.
dev_b=$(stat -c %d "$MNT/a/x/b")
mv "$MNT/a/x/b" "$MNT/d/b2" || fail "move a subvolume to another subvolume"
mv "$REF/a/x/b" "$REF/d/b2"
[ "$(stat -c %d "$MNT/d/b2")" = "$dev_b" ] || fail "moved subvolume has another st_dev"
same "b moved to d/b2"
mv "$MNT/d/b2" "$MNT/c/b3" || fail "move a subvolume into another subvolume"; mv "$REF/d/b2" "$REF/c/b3"
mv "$MNT/c/b3" "$MNT/c/b4" || fail "rename a subvolume in place"; mv "$REF/c/b3" "$REF/c/b4"
btrfs subvolume list "$MNT" | grep -q ' path c/b4$' || fail "subvolume list does not show c/b4: $(btrfs subvolume list "$MNT")"
same "b renamed to c/b4"
# Onto a subvolume: ENOTEMPTY (an empty directory) or EISDIR (a file);
# NOREPLACE: EEXIST; a file out of its subvolume: EXDEV; a subvolume
# into a placeholder: EPERM; into itself: EINVAL.
mkdir "$MNT/empty"; mkdir "$REF/empty"
expect_errno ENOTEMPTY "os.rename('$MNT/empty', '$MNT/c')"
expect_errno EISDIR "os.rename('$MNT/d/f4', '$MNT/c')"
expect_errno EEXIST "renameat2('$MNT/c/b4', '$MNT/empty', 1)"
expect_errno EXDEV "os.rename('$MNT/c/f3', '$MNT/d/f3')"
expect_errno EPERM "os.rename('$MNT/c/b4', '$MNT/s2/x/b/b')"
expect_errno EINVAL "os.rename('$MNT/c', '$MNT/c/b4/c')"
# Exchanges: two subvolumes linked in different subvolumes; a subvolume
# and a directory of the same tree; across trees, anything but two
# subvolumes: EXDEV.
expect_errno EXDEV "renameat2('$MNT/c/b4', '$MNT/a/x', 2)"
expect_errno EXDEV "renameat2('$MNT/a/f1', '$MNT/c', 2)"
[ "$(errno_of "renameat2('$MNT/c/b4', '$MNT/a', 2)")" = OK ] || fail "exchange two subvolumes across trees"
mv "$REF/c/b4" "$REF/tmp"; mv "$REF/a" "$REF/c/b4"; mv "$REF/tmp" "$REF/a"
same "exchanged c/b4 and a"
[ "$(errno_of "renameat2('$MNT/c', '$MNT/empty', 2)")" = OK ] || fail "exchange a subvolume with a directory"
mv "$REF/c" "$REF/tmp"; mv "$REF/empty" "$REF/c"; mv "$REF/tmp" "$REF/empty"
same "exchanged c and empty"

# Placeholders go: one with rmdir, one replaced by a directory moved onto it.
rmdir "$MNT/s1/x/b" || fail "rmdir of a placeholder"; rmdir "$REF/s1/x/b"
mkdir "$MNT/s2/new"; mv -T "$MNT/s2/new" "$MNT/s2/x/b" || fail "rename onto a placeholder"
[ "$(ino "$MNT/s2/x/b")" != 2 ] || fail "the placeholder is still there"
same "placeholders removed"
sync
umount "$MNT"
btrfs check --readonly "$LOOP" >/tmp/btrfs-check.log 2>&1 || { cat /tmp/btrfs-check.log; fail "btrfs check after the moves"; }
try_mount "$LOOP" "$MNT" || fail "remount: $MOUNT_ERR"
same "after a remount"

# A tree full of nested subvolumes, snapshots of them and of snapshots
# (with placeholders), read-only ones made writable: rm -rf takes it all.
mkdir -p "$MNT/big"
btrfs subvolume create "$MNT/big/n1" >/dev/null
for i in 1 2 3; do
    btrfs subvolume create "$MNT/big/n1/m$i" >/dev/null
    mkdir "$MNT/big/n1/m$i/dir"; head -c 3000 /dev/urandom > "$MNT/big/n1/m$i/dir/f"
    btrfs subvolume create "$MNT/big/n1/m$i/dir/k" >/dev/null
done
btrfs subvolume snapshot "$MNT/big/n1" "$MNT/big/snap" >/dev/null
btrfs subvolume snapshot "$MNT/big/snap" "$MNT/big/n1/m1/snapsnap" >/dev/null
btrfs subvolume snapshot -r "$MNT/big/n1/m2" "$MNT/big/ro" >/dev/null
btrfs property set -ts "$MNT/big/ro" ro false || fail "making the snapshot writable"
python3 "$TESTDIR/subvolstress.py" clean "$MNT/big" || fail "rm -rf of nested subvolumes and snapshots"
rmdir "$MNT/big"
same "after rm -rf"
umount "$MNT"
btrfs check --readonly "$LOOP" >/tmp/btrfs-check.log 2>&1 || { cat /tmp/btrfs-check.log; fail "btrfs check after rm -rf"; }

# C btrfs reads the same tree, and its cleaner finishes what is deleted.
rmmod rbtrfs || fail "rmmod rbtrfs"
modprobe -d "$KDIR/modroot" btrfs || fail "modprobe C btrfs"
mount -t btrfs "$LOOP" "$MNT" || fail "C btrfs mount"
python3 "$TESTDIR/treesum.py" "$MNT" --check /tmp/svns.sum || fail "C btrfs reads another tree"
btrfs subvolume sync "$MNT" >/dev/null || fail "C btrfs: subvolume sync"
umount "$MNT"
rmmod btrfs
insmod "$RBTRFS_MODDIR/rbtrfs.ko" || fail "insmod rbtrfs"
info "subvolume moves, exchanges, placeholders and rm -rf: model, btrfs check and C btrfs agree"
