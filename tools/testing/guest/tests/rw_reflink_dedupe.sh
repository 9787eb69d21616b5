# Reflink and dedupe (remap_file_range) on a loop image: multi-extent files
# (written in pieces with fsyncs, a hole, a preallocated range, an inline
# file) cloned with `cp --reflink=always`, `xfs_io reflink` and
# FICLONE/FICLONERANGE (whole files, middle ranges, unaligned at the
# source's end, to end of file with length 0, inline data at offset 0 and
# past it, within one file, 80 MiB (mostly preallocated) in several steps), deduped with `xfs_io dedupe` and
# FIDEDUPERANGE (equal ranges: bytes_deduped; differing: status DIFFERS,
# nothing shared). Errors as Linux/C btrfs give them: unaligned offsets and
# overlapping ranges of one file EINVAL, another filesystem EXDEV, a
# directory EISDIR, NODATASUM mismatch EINVAL, a read-only mount EROFS.
# Every file is compared with a copy on tmpfs that the same operations made
# by plain reads and writes: after the clones, after overwriting one copy
# (the other keeps its data), after a remount and drop_caches, and on a
# read-only mount. The extent tree holds the references: the cloned files'
# items point at the source's extents (dump-tree). btrfs check (with data
# checksums) is clean; all data space is freed when the files go.
IMG=/tmp/reflink.img
IMG2=/tmp/reflink2.img
MNT2=/tmp/mnt2
rm -f "$IMG" "$IMG2"; truncate -s 512M "$IMG"; truncate -s 256M "$IMG2"
LOOP=$(losetup -f --show "$IMG")
LOOP2=$(losetup -f --show "$IMG2")
REF=$(mktemp -d /tmp/ref.XXXXXX)
mkdir -p "$MNT2"
trap 'umount "$MNT" 2>/dev/null || true; umount "$MNT2" 2>/dev/null || true; umount "$REF" 2>/dev/null || true;
      losetup -d "$LOOP" 2>/dev/null || true; losetup -d "$LOOP2" 2>/dev/null || true; rm -rf "$IMG" "$IMG2" "$REF"' EXIT
mount -t tmpfs -o size=400M none "$REF" || fail "tmpfs for the reference copies"
mkfs_btrfs "$LOOP"
mkfs_btrfs "$LOOP2"
try_mount "$LOOP" "$MNT" || fail "mount: $MOUNT_ERR"
try_mount "$LOOP2" "$MNT2" || fail "mount second fs: $MOUNT_ERR"
python3 "$TESTDIR/reflink_check.py" ops "$MNT" "$REF" "$MNT2" || fail "clones and dedupes"
umount "$MNT2"
sync
# btrfs filesystem du (FIEMAP with FIEMAP_EXTENT_SHARED): deduped and
# cloned files' bytes are shared, the differing copy's are its own.
btrfs filesystem du --raw "$MNT"/dd1 "$MNT"/dd3 "$MNT"/src "$MNT"/copy1 >/tmp/reflink.du 2>&1 || { cat /tmp/reflink.du; fail "btrfs filesystem du"; }
cat /tmp/reflink.du
python3 - /tmp/reflink.du "$MNT" <<'PY' || fail "btrfs filesystem du numbers"
import sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 4 and f[0].isdigit():
        rows[f[3].rsplit("/", 1)[-1]] = (int(f[0]), int(f[1]))
M = 1 << 20
assert rows["dd1"] == (M, 0), rows
assert rows["dd3"] == (M, M), rows
# copy1 is all shared; src's extents wholly inside [3M, 4M) are its own
# (copy1 got copy1's first MiB there).
assert rows["copy1"][1] == 0, rows
assert 0 < rows["src"][1] <= M, rows
assert rows["src"][0] == 6 * M + 256 * 1024 + 300 * 1024 + 4096, rows
PY
# The clones' file extent items point into the source's extents, and
# every shared extent's item counts one reference per file extent item.
btrfs inspect-internal dump-tree -t 5 "$LOOP" >/tmp/reflink.fs.dump || fail "dump-tree fs"
btrfs inspect-internal dump-tree -t 2 "$LOOP" >/tmp/reflink.extent.dump || fail "dump-tree extent"
python3 "$TESTDIR/reflink_check.py" refs /tmp/reflink.fs.dump /tmp/reflink.extent.dump || fail "extent references"
# Overwrite one copy: the other keeps its data.
python3 "$TESTDIR/reflink_check.py" overwrite "$MNT" "$REF" || fail "overwriting a copy"
umount "$MNT"
btrfs check --readonly --check-data-csum "$LOOP" >/tmp/reflink.check 2>&1 || { cat /tmp/reflink.check; fail "btrfs check --check-data-csum"; }
try_mount "$LOOP" "$MNT" || fail "mount again: $MOUNT_ERR"
echo 3 >/proc/sys/vm/drop_caches
python3 "$TESTDIR/compare.py" "$REF" "$MNT" || fail "files differ from the reference after a remount"
umount "$MNT"
try_mount -o ro "$LOOP" "$MNT" || fail "mount read-only: $MOUNT_ERR"
python3 "$TESTDIR/reflink_check.py" ro "$MNT" "$REF" || fail "read-only mount"
python3 "$TESTDIR/compare.py" "$REF" "$MNT" || fail "files differ from the reference (read-only)"
umount "$MNT"
# Deleting every file gives all data space back.
try_mount "$LOOP" "$MNT" || fail "mount to delete: $MOUNT_ERR"
rm -rf "${MNT:?}"/*
sync
used=$(python3 -c 'import os,sys; s=os.statvfs(sys.argv[1]); print((s.f_blocks-s.f_bfree)*s.f_frsize)' "$MNT")
umount "$MNT"
btrfs inspect-internal dump-tree -t 2 "$LOOP" | grep -cE "refs [0-9]+ gen [0-9]+ flags DATA$" >/tmp/reflink.left || true
[ "$(cat /tmp/reflink.left)" = 0 ] || { btrfs inspect-internal dump-tree -t 2 "$LOOP" | grep -B2 -A4 DATA | head -40; fail "data extents left after deleting every file"; }
info "after deleting every file: $used bytes used (metadata), no data extent left"
check_fs "$LOOP"
