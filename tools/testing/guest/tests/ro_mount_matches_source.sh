# A tree made by stock mkfs.btrfs --rootdir mounts read-only with rbtrfs
# and equals its source exactly: names, types, modes, owners, sizes, link
# counts, nanosecond mtimes, device numbers, symlink targets, xattrs and
# every byte of data. Also readdir in small getdents batches, and statfs.
SRC=$(mktemp -d /tmp/src.XXXXXX)
python3 "$TESTDIR/mktree.py" $SRC --files 300
mkfs_btrfs /dev/vda -K --rootdir $SRC
before=$(fingerprint /dev/vda)
try_mount -o ro /dev/vda "$MNT" || fail "mount failed: $MOUNT_ERR"
python3 "$TESTDIR/compare.py" --mkfs-rootdir $SRC "$MNT" || fail "mounted tree differs from its source"
# readdir resumed across many getdents calls sees each entry once.
python3 - "$MNT/wide" <<'PY' || fail "readdir in small batches"
import ctypes, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(200)   # room for a few entries per call
names, calls = [], 0
while True:
    n = libc.syscall(217, fd, buf, len(buf))  # getdents64
    if n < 0: raise OSError(ctypes.get_errno(), "getdents64")
    if n == 0: break
    calls += 1
    off = 0
    while off < n:
        reclen = int.from_bytes(buf.raw[off + 16:off + 18], "little")
        names.append(buf.raw[off + 19:off + reclen].split(b"\0")[0].decode())
        off += reclen
want = sorted(os.listdir(sys.argv[1]) + [".", ".."])
assert sorted(names) == want, (len(names), len(want))
assert len(names) == len(set(names)), "duplicates"
print(f"  readdir: {len(names)} entries in {calls} getdents calls")
PY
# statfs from the block groups: ordered, and "used" covers the source data.
read -r b f a bs < <(stat -f -c '%b %f %a %S' "$MNT")
used=$(( (b - f) * bs )); src=$(du -sb --apparent-size $SRC | cut -f1)
[ "$a" -le "$f" ] && [ "$f" -le "$b" ] || fail "statfs: avail $a <= free $f <= blocks $b does not hold"
[ "$used" -ge "$src" ] || fail "statfs: used $used is less than the source's $src bytes"
[ "$used" -le $((src * 2 + (64 << 20))) ] || fail "statfs: used $used is far above the source's $src"
[ "$b" = $(( $(blockdev --getsize64 /dev/vda) / bs )) ] || fail "statfs: blocks $b is not the device size"
info "statfs: $b blocks, $f free, $a available; used $used for $src bytes of files"
umount "$MNT"
[ "$(fingerprint /dev/vda)" = "$before" ] || fail "the device changed"
check_fs /dev/vda
