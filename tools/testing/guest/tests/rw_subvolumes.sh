# Subvolumes with btrfs-progs on a loop image: nested subvolumes with
# files (subvolume create), list/show/get-default against expectations,
# distinct st_dev per subvolume (find -xdev, du -x), EXDEV for rename/link
# of files across subvolumes (a subvolume itself moves), the read-only property (EROFS for every kind of
# change, then cleared), set-default and a plain mount showing it,
# subvolid= mounts, deletion (ENOTEMPTY with a nested subvolume, EPERM for
# the default, by name, by id, rmdir of an empty one), bad ioctl
# arguments, unprivileged EPERM/EACCES. Then: dmesg clean, btrfs check
# clean (deleted subvolumes are dead roots with orphan items), the files
# equal their reference copies after a remount.
IMG=/tmp/subvol.img
rm -f "$IMG"; truncate -s 512M "$IMG"
LOOP=$(losetup -f --show "$IMG")
REF=$(mktemp -d /tmp/ref.XXXXXX)
trap 'umount "$MNT" 2>/dev/null || true; losetup -d "$LOOP" 2>/dev/null || true; rm -rf "$IMG" "$REF"' EXIT
mkfs_btrfs "$LOOP"
try_mount "$LOOP" "$MNT" || fail "mount: $MOUNT_ERR"
check_fs "$LOOP"

# put PATH SIZE: a random file at PATH in the reference and the mount.
put() {
    mkdir -p "$(dirname "$REF/$1")" "$(dirname "$MNT/$1")"
    head -c "$2" /dev/urandom >"$REF/$1"
    cp "$REF/$1" "$MNT/$1" || fail "writing $1"
}

btrfs subvolume create "$MNT/a" >/dev/null || fail "subvolume create a"
mkdir "$MNT/a/dir"; mkdir -p "$REF/a/dir"
btrfs subvolume create "$MNT/a/dir/b" >/dev/null || fail "subvolume create a/dir/b"
btrfs subvolume create "$MNT/c" >/dev/null || fail "subvolume create c"
mkdir -p "$REF/a/dir/b" "$REF/c"
put top1 5000
put a/f1 123456
put a/dir/f2 10
put a/dir/b/f3 70000
put c/f4 4096
put c/sub/f5 300000
sync

# list and show.
list=$(btrfs subvolume list "$MNT") || fail "subvolume list"
got=$(awk '{print $2, $7, $9}' <<<"$list" | sort)
want=$'256 5 a\n257 256 a/dir/b\n258 5 c'
[ "$got" = "$want" ] || fail "subvolume list: got [$got] from [$list], want [$want]"
show=$(btrfs subvolume show "$MNT/a/dir/b") || fail "subvolume show"
grep -qE "Subvolume ID:\s+257$" <<<"$show" || fail "show: id: $show"
grep -qE "Parent ID:\s+256$" <<<"$show" || fail "show: parent: $show"
grep -qE "Top level ID:\s+256$" <<<"$show" || fail "show: top level: $show"
grep -qE "Flags:\s+-$" <<<"$show" || fail "show: flags: $show"
[ "$(stat -c %i "$MNT/a")" = 256 ] || fail "subvolume root inode is not 256"
[ "$(ls "$MNT/a/dir")" = $'b\nf2' ] || fail "readdir a/dir: $(ls "$MNT/a/dir")"
[ "$(stat -c %F "$MNT/a/dir/b")" = directory ] || fail "subvolume is not a directory"

# Each subvolume its own st_dev.
devs=$(for p in "" /a /a/dir/b /c; do stat -c %d "$MNT$p"; done | sort -u | wc -l)
[ "$devs" = 4 ] || fail "st_dev not distinct per subvolume"
[ "$(stat -c %d "$MNT/a")" = "$(stat -c %d "$MNT/a/dir")" ] || fail "st_dev differs within a subvolume"
[ "$(find "$MNT" -xdev -type f | wc -l)" = 1 ] || fail "find -xdev crossed into subvolumes: $(find "$MNT" -xdev -type f)"
[ "$(find "$MNT" -type f | wc -l)" = 6 ] || fail "find does not see every file"
du -sx "$MNT" >/dev/null || fail "du -x"

# Across subvolumes: EXDEV for rename and link; mv copies.
expect_errno EXDEV "os.rename('$MNT/a/f1', '$MNT/c/f1')"
expect_errno EXDEV "os.link('$MNT/a/f1', '$MNT/c/f1')"
expect_errno EXDEV "os.rename('$MNT/top1', '$MNT/a/dir/b/top1')"
cp "$MNT/a/f1" "$MNT/c/moved"; mv "$MNT/c/moved" "$MNT/a/dir/b/moved" || fail "mv across subvolumes"
cmp "$MNT/a/f1" "$MNT/a/dir/b/moved" || fail "mv across subvolumes changed the data"
rm "$MNT/a/dir/b/moved"
# A subvolume itself moves, also into another subvolume (and back).
expect_errno OK "os.rename('$MNT/c', '$MNT/a/c')"
expect_errno OK "os.rename('$MNT/a/c', '$MNT/c')"

# Read-only.
btrfs property set "$MNT/c" ro true || fail "property set ro true"
[ "$(btrfs property get "$MNT/c" ro)" = "ro=true" ] || fail "property get ro"
btrfs subvolume show "$MNT/c" | grep -qE "Flags:\s+readonly" || fail "show: not readonly"
expect_errno EROFS "open('$MNT/c/new', 'w')"
expect_errno EROFS "open('$MNT/c/f4', 'r+')"
expect_errno EROFS "os.mkdir('$MNT/c/d')"
expect_errno EROFS "os.unlink('$MNT/c/f4')"
expect_errno EROFS "os.rename('$MNT/c/f4', '$MNT/c/f6')"
expect_errno EROFS "os.chmod('$MNT/c/f4', 0o600)"
expect_errno EROFS "os.utime('$MNT/c/f4')"
expect_errno EROFS "os.setxattr('$MNT/c/f4', 'user.x', b'1')"
expect_errno EROFS "os.symlink('x', '$MNT/c/l')"
cat "$MNT/c/f4" >/dev/null || fail "reading a read-only subvolume"
# Others still take writes.
echo x >"$MNT/a/rw" && rm "$MNT/a/rw" || fail "write next to a read-only subvolume"
btrfs property set "$MNT/c" ro false || fail "property set ro false"
[ "$(btrfs property get "$MNT/c" ro)" = "ro=false" ] || fail "property get ro after clearing"
echo x >"$MNT/c/new" && rm "$MNT/c/new" || fail "write after clearing ro"

# Bad ioctl arguments.
python3 - "$MNT" "$TESTDIR" <<'PY' || fail "bad ioctl arguments"
import errno, fcntl, os, struct, sys
sys.path.insert(0, sys.argv[2])
import btrfs_ioctl as B
mnt = sys.argv[1]
SUBVOL_CREATE, SNAP_DESTROY = B.iow(14, 4096), B.iow(15, 4096)
SUBVOL_CREATE_V2, SNAP_DESTROY_V2 = B.iow(24, 4096), B.iow(63, 4096)
DEFAULT_SUBVOL, SETFLAGS = B.iow(19, 8), B.iow(26, 8)
def v1(name):
    b = bytearray(4096); b[8:8 + len(name)] = name; return b
def v2(name=b"", flags=0, subvolid=None):
    b = bytearray(4096); struct.pack_into("<Q", b, 16, flags)
    if subvolid is None: b[56:56 + len(name)] = name
    else: struct.pack_into("<Q", b, 56, subvolid)
    return b
def expect(want, fd, cmd, arg, what):
    try:
        fcntl.ioctl(fd, cmd, arg)
        got = 0
    except OSError as e:
        got = e.errno
    if got != want:
        sys.exit("%s: %s, want %s" % (what, errno.errorcode.get(got, got), errno.errorcode.get(want, want)))
fd = os.open(mnt, os.O_RDONLY)
E = errno
for cmd, mk in ((SUBVOL_CREATE, v1), (SUBVOL_CREATE_V2, v2)):
    expect(E.EINVAL, fd, cmd, mk(b"x/y"), "create x/y")
    expect(E.EEXIST, fd, cmd, mk(b"."), "create .")
    expect(E.EEXIST, fd, cmd, mk(b".."), "create ..")
    expect(E.EACCES, fd, cmd, mk(b""), "create ''")
    expect(E.ENAMETOOLONG, fd, cmd, mk(b"n" * 256), "create 256 bytes")
    expect(E.EEXIST, fd, cmd, mk(b"a"), "create over a subvolume")
    expect(E.EEXIST, fd, cmd, mk(b"top1"), "create over a file")
    expect(E.ENAMETOOLONG, fd, cmd, bytearray(b"\1" * 8) + bytearray(b"z" * 4088), "create unterminated")
expect(E.EOPNOTSUPP, fd, SUBVOL_CREATE_V2, v2(b"q", flags=1 << 5), "create v2 unknown flag")
expect(E.EINVAL, fd, SUBVOL_CREATE_V2, v2(b"q", flags=1 << 2), "create v2 qgroup inherit of size 0")
ffd = os.open(mnt + "/top1", os.O_RDONLY)
expect(E.ENOTDIR, ffd, SUBVOL_CREATE, v1(b"q"), "create on a file")
for cmd, mk in ((SNAP_DESTROY, v1), (SNAP_DESTROY_V2, v2)):
    expect(E.EINVAL, fd, cmd, mk(b".."), "destroy ..")
    expect(E.EINVAL, fd, cmd, mk(b"."), "destroy .")
    expect(E.EINVAL, fd, cmd, mk(b"a/dir"), "destroy a/dir")
    expect(E.ENOENT, fd, cmd, mk(b"nothing"), "destroy a missing name")
    unterminated = bytearray(b"\1" * 8) + bytearray(b"z" * 4088) if mk is v1 else bytearray(56) + bytearray(b"z" * 4040)
    expect(E.ENAMETOOLONG, fd, cmd, unterminated, "destroy unterminated")
os.mkdir(mnt + "/plain")
expect(E.EINVAL, fd, SNAP_DESTROY, v1(b"plain"), "destroy a plain directory")
os.rmdir(mnt + "/plain")
expect(E.ENOTDIR, fd, SNAP_DESTROY, v1(b"top1"), "destroy a file")
expect(E.EINVAL, fd, SNAP_DESTROY_V2, v2(subvolid=5, flags=1 << 4), "destroy by id 5")
expect(E.ENOENT, fd, SNAP_DESTROY_V2, v2(subvolid=9999, flags=1 << 4), "destroy by a missing id")
expect(E.EOPNOTSUPP, fd, SNAP_DESTROY_V2, v2(b"c", flags=1 << 1), "destroy v2 unknown flag")
dfd = os.open(mnt + "/a/dir", os.O_RDONLY)
expect(E.EINVAL, dfd, SETFLAGS, struct.pack("<Q", 2), "setflags on a plain directory")
cfd = os.open(mnt + "/c", os.O_RDONLY)
expect(E.EOPNOTSUPP, cfd, SETFLAGS, struct.pack("<Q", 1 << 3), "setflags unknown flag")
expect(E.ENOENT, fd, DEFAULT_SUBVOL, struct.pack("<Q", 1), "default subvol 1 (not a subvolume)")
expect(E.ENOENT, fd, DEFAULT_SUBVOL, struct.pack("<Q", 9999), "default subvol 9999")
assert sorted(os.listdir(mnt + "/a/dir")) == ["b", "f2"]
PY

# Unprivileged.
mkdir "$MNT/user"; chown 1000:1000 "$MNT/user"
as_user() { setpriv --reuid=1000 --regid=1000 --clear-groups "$@"; }
as_user btrfs subvolume create "$MNT/user/mine" >/dev/null || fail "unprivileged subvolume create in an own directory"
out=$(as_user btrfs subvolume create "$MNT/nope" 2>&1) && fail "unprivileged create in root's directory worked"
grep -q "Permission denied" <<<"$out" || fail "unprivileged create: $out"
out=$(as_user btrfs subvolume delete "$MNT/user/mine" 2>&1) && fail "unprivileged delete worked"
grep -q "Operation not permitted" <<<"$out" || fail "unprivileged delete: $out"
out=$(as_user btrfs subvolume set-default 256 "$MNT" 2>&1) && fail "unprivileged set-default worked"
grep -q "Operation not permitted" <<<"$out" || fail "unprivileged set-default: $out"
out=$(as_user btrfs property set "$MNT/c" ro true 2>&1) && fail "unprivileged ro on root's subvolume worked"
grep -q "Operation not permitted" <<<"$out" || fail "unprivileged property set: $out"
as_user btrfs property set "$MNT/user/mine" ro true || fail "owner sets ro"
as_user btrfs property set "$MNT/user/mine" ro false || fail "owner clears ro"
# rmdir of an empty subvolume deletes it (C: btrfs_rmdir).
as_user rmdir "$MNT/user/mine" || fail "rmdir of an own empty subvolume"
[ ! -e "$MNT/user/mine" ] || fail "rmdir left the subvolume"
rmdir "$MNT/user"

# Default subvolume.
btrfs subvolume set-default 256 "$MNT" || fail "set-default 256"
gd=$(btrfs subvolume get-default "$MNT") || fail "get-default"
grep -qE "^ID 256 .* path a$" <<<"$gd" || fail "get-default: $gd"
# btrfs-progs refuses by itself; the ioctl says EPERM.
out=$(btrfs subvolume delete "$MNT/a" 2>&1) && fail "deleting the default subvolume worked"
grep -qE "Operation not permitted|not deleting default subvolume" <<<"$out" || fail "deleting the default: $out"
expect_errno EPERM "import fcntl; b = bytearray(4096); b[8:9] = b'a'; fcntl.ioctl(os.open('$MNT', os.O_RDONLY), 0x5000940f, b)"
dmesg_has "BTRFS warning \(device [^)]*\): deleting default subvolume 256 is not allowed" || fail "no warning for deleting the default"
umount "$MNT"
btrfs inspect-internal dump-super "$LOOP" | grep -q DEFAULT_SUBVOL || fail "no DEFAULT_SUBVOL incompat flag"
try_mount "$LOOP" "$MNT" || fail "mount the default: $MOUNT_ERR"
cmp "$MNT/f1" "$REF/a/f1" || fail "plain mount does not show the default subvolume"
[ "$(stat -c %i "$MNT")" = 256 ] || fail "default mount root"
ls "$MNT/dir/b/f3" >/dev/null || fail "nested subvolume under the default"
umount "$MNT"
for opt in subvolid=5 subvol=/ subvolid=5,subvol=/; do
    try_mount -o "$opt" "$LOOP" "$MNT" || fail "mount -o $opt: $MOUNT_ERR"
    cmp "$MNT/top1" "$REF/top1" || fail "-o $opt is not the top level"
    umount "$MNT"
done
try_mount -o subvolid=258 "$LOOP" "$MNT" || fail "mount -o subvolid=258: $MOUNT_ERR"
cmp "$MNT/f4" "$REF/c/f4" || fail "subvolid=258 is not c"
umount "$MNT"
try_mount -o subvolid=257 "$LOOP" "$MNT" || fail "mount -o subvolid=257: $MOUNT_ERR"
cmp "$MNT/f3" "$REF/a/dir/b/f3" || fail "subvolid=257 is not a/dir/b"
umount "$MNT"
try_mount -o subvol=/a/dir/b "$LOOP" "$MNT" || fail "mount -o subvol=/a/dir/b: $MOUNT_ERR"
cmp "$MNT/f3" "$REF/a/dir/b/f3" || fail "subvol=/a/dir/b is not b"
umount "$MNT"
try_mount -o subvol=a/dir/b,subvolid=257 "$LOOP" "$MNT" || fail "mount -o subvol=a/dir/b,subvolid=257: $MOUNT_ERR"
umount "$MNT"
expect_dmesg "BTRFS error \(device [^)]*\): subvol 'c' does not match subvolid 256"
try_mount -o subvol=c,subvolid=256 "$LOOP" "$MNT" && fail "subvol=c,subvolid=256 mounted"
expect_dmesg "BTRFS error \(device [^)]*\): 'a/dir' is not a valid subvolume"
try_mount -o subvol=a/dir "$LOOP" "$MNT" && fail "subvol=a/dir (not a subvolume) mounted"
try_mount -o subvol=/nothing "$LOOP" "$MNT" && fail "subvol=/nothing mounted"
try_mount -o subvolid=5 "$LOOP" "$MNT" || fail "mount: $MOUNT_ERR"
btrfs subvolume set-default 5 "$MNT" || fail "set-default 5"

# Deletion.
out=$(btrfs subvolume delete "$MNT/a" 2>&1) && fail "deleting a subvolume with a nested one worked"
grep -q "Directory not empty" <<<"$out" || fail "delete a: $out"
btrfs subvolume delete "$MNT/a/dir/b" >/dev/null || fail "delete a/dir/b"
[ ! -e "$MNT/a/dir/b" ] || fail "a/dir/b still there"
rm -rf "$REF/a/dir/b"
btrfs subvolume create "$MNT/d" >/dev/null || fail "subvolume create d"
put d/f6 777
# Its id: the cleaner may already have dropped deleted trees (and their
# ids may come back after a remount, as in C).
did=$(btrfs subvolume show "$MNT/d" | awk '/Subvolume ID:/ {print $3}')
[ -n "$did" ] || fail "no id for d"
btrfs subvolume delete --subvolid "$did" "$MNT" >/dev/null || fail "delete by id"
[ ! -e "$MNT/d" ] || fail "d still there"
rm -rf "$REF/d"
list=$(btrfs subvolume list "$MNT") || fail "subvolume list after deleting"
got=$(awk '{print $2, $9}' <<<"$list" | sort)
[ "$got" = $'256 a\n258 c' ] || fail "list after deleting: $list"
btrfs subvolume create "$MNT/e" >/dev/null || fail "subvolume create e"
eid=$(btrfs subvolume list "$MNT" | awk '$9 == "e" {print $2}')
[ "${eid:-0}" -gt "$did" ] || fail "new id $eid after deleting $did: ids must not go back within a mount"
rmdir "$MNT/e" || fail "rmdir e"
out=$(rmdir "$MNT/c" 2>&1) && fail "rmdir of a non-empty subvolume worked"
grep -q "Directory not empty" <<<"$out" || fail "rmdir c: $out"
umount "$MNT"

# Everything persisted: remount and compare with the reference.
try_mount "$LOOP" "$MNT" || fail "remount: $MOUNT_ERR"
diff -r "$REF" "$MNT" || fail "contents differ from the reference"
umount "$MNT"
# Deleted tree 257 is either still a dead root (orphan item) or already
# dropped by the cleaner (no ROOT_ITEM left); never alive.
btrfs inspect-internal dump-tree -t root "$LOOP" >/tmp/subvol-roots.txt || fail "dump-tree -t root"
if ! grep -q "ORPHAN ORPHAN_ITEM 257" /tmp/subvol-roots.txt; then
    if grep -q "key (257 ROOT_ITEM" /tmp/subvol-roots.txt; then fail "tree 257 has a ROOT_ITEM but no orphan item"; fi
fi
