# Inode attribute flags (chattr/lsattr through FS_IOC_GETFLAGS/SETFLAGS and
# FS_IOC_FSGETXATTR/FSSETXATTR) on a loop image, step by step
# (chattr_check.py): every flag on and off, C btrfs's checks (EOPNOTSUPP,
# EINVAL), immutable and append-only enforced by the VFS, NOCOW only on
# empty files (whose data then has no checksums: dump-tree shows none),
# compression flags with their btrfs.compression property, ownership and
# CAP_LINUX_IMMUTABLE for an unprivileged caller, flags kept and enforced
# across a remount, EROFS on a read-only mount. dump-tree shows the flags
# in the inode items as C btrfs writes them; btrfs check (with data
# checksums) is clean; the tree equals its reference.
IMG=/tmp/chattr.img
rm -f "$IMG"; truncate -s 256M "$IMG"
LOOP=$(losetup -f --show "$IMG")
REF=$(mktemp -d /tmp/ref.XXXXXX)
trap 'umount "$MNT" 2>/dev/null || true; losetup -d "$LOOP" 2>/dev/null || true; rm -rf "$IMG" "$REF"' EXIT
mkfs_btrfs "$LOOP"
try_mount "$LOOP" "$MNT" || fail "mount: $MOUNT_ERR"
python3 "$TESTDIR/chattr_check.py" root "$MNT" || fail "flags as root"
setpriv --reuid=1000 --regid=1000 --clear-groups python3 "$TESTDIR/chattr_check.py" unpriv "$MNT" \
    || fail "flags as an unprivileged user"
umount "$MNT"
# The items as C btrfs would have them.
btrfs inspect-internal dump-tree -t 5 "$LOOP" >/tmp/chattr.dump || fail "dump-tree"
python3 - /tmp/chattr.dump "$LOOP" <<'PY' || fail "inode flags or checksums on disk"
import re, subprocess, sys
dump = open(sys.argv[1], errors="replace").read()
names = {}
for m in re.finditer(r"key \((\d+) INODE_REF \d+\)[^\n]*\n[^\n]*name: (\S+)", dump):
    names[m.group(2)] = int(m.group(1))
def flags(name):
    m = re.search(r"key \(%d INODE_ITEM 0\)[^\n]*\n(?:\t\t[^\n]*\n)*?\t\tsequence \d+ flags (0x[0-9a-f]+)\(([^)]*)\)" % names[name], dump)
    return m.group(2)
want = {"flags-file": "IMMUTABLE", "append-file": "APPEND", "flags-dir": "NODUMP|NOATIME",
        "nocow-file": "NODATASUM|NODATACOW", "cow-file": "none"}
for n, w in want.items():
    assert flags(n) == w, "%s: flags %s, want %s" % (n, flags(n), w)
# The NOCOW file's extents have no checksums; the others' have.
ext = {}
for m in re.finditer(r"key \((\d+) EXTENT_DATA \d+\)[^\n]*\n[^\n]*\n\t\textent data disk byte (\d+) nr (\d+)", dump):
    if int(m.group(2)):
        ext.setdefault(int(m.group(1)), []).append((int(m.group(2)), int(m.group(3))))
csum = subprocess.run(["btrfs", "inspect-internal", "dump-tree", "-t", "7", sys.argv[2]], capture_output=True, text=True).stdout
ranges = [(int(m.group(1)), int(m.group(2))) for m in re.finditer(r"EXTENT_CSUM (\d+)\) itemoff \d+ itemsize (\d+)", csum)]
def covered(b, n):
    return any(s <= b < s + size // 4 * 4096 for s, size in ranges)
nocow = ext[names["nocow-file"]]
assert nocow and not any(covered(b, n) for b, n in nocow), "NOCOW file data has checksums: %r" % nocow
print("dump-tree: flags as C btrfs writes them; the NOCOW file's %d extent(s) have no checksums" % len(nocow))
PY
btrfs check --readonly --check-data-csum "$LOOP" >/tmp/chattr.check 2>&1 || { cat /tmp/chattr.check; fail "btrfs check --check-data-csum"; }
try_mount "$LOOP" "$MNT" || fail "mount again: $MOUNT_ERR"
python3 "$TESTDIR/chattr_check.py" after "$MNT" || fail "flags after a remount"
# The same tree, by plain means, as the reference.
python3 - "$REF" <<'PY'
import os, sys
r = sys.argv[1]
os.makedirs(os.path.join(r, "flags-dir"))
for n, d in [("flags-file", b"immutable data"), ("flags-dir/inner", b"x"), ("append-file", b"start\nmore\n"),
             ("nocow-file", bytes(range(256)) * 4096), ("cow-file", b"data"), ("own-file", b"mine")]:
    open(os.path.join(r, n), "wb").write(d)
os.mkfifo(os.path.join(r, "fifo"))
os.chown(os.path.join(r, "own-file"), 1000, 1000)
PY
for p in "$MNT" "$REF"; do
    find "$p" -mindepth 1 -exec touch -h -d @1700000000 {} + ; touch -h -d @1700000000 "$p"
    chmod 644 "$p"/*-file "$p"/flags-dir/inner; chmod 755 "$p/flags-dir"; chmod 644 "$p/fifo"
done
python3 "$TESTDIR/compare.py" "$REF" "$MNT" || fail "tree differs from the reference"
umount "$MNT"
try_mount -o ro "$LOOP" "$MNT" || fail "mount read-only: $MOUNT_ERR"
python3 "$TESTDIR/chattr_check.py" ro "$MNT" || fail "flags on a read-only mount"
umount "$MNT"
check_fs "$LOOP"
