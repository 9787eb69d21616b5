# A full disk gives the writer ENOSPC at write() time, never loses what
# write() accepted (fsync after ENOSPC succeeds, contents survive a remount),
# fallocate past the free space fails with ENOSPC, and deleting files makes
# room for new writes. Two writers fill the disk at once. btrfs check is
# clean at the end. The device is a 384 MiB loop image in the guest's /tmp.
IMG=/tmp/enospc.img
rm -f "$IMG"; truncate -s 384M "$IMG"
LOOP=$(losetup -f --show "$IMG")
trap 'umount "$MNT" 2>/dev/null || true; losetup -d "$LOOP" 2>/dev/null || true; rm -f "$IMG"' EXIT
mkfs_btrfs "$LOOP"
FILL="python3 $TESTDIR/fill.py"
M=/tmp/enospc.manifest
try_mount "$LOOP" "$MNT" || fail "mount: $MOUNT_ERR"
mkdir "$MNT/a" "$MNT/b"

# 1. Two writers, 16 MiB files, until ENOSPC.
$FILL write "$MNT/a" a 100 16 >/tmp/fill-a.log 2>&1 &
pa=$!
$FILL write "$MNT/b" b 100 16 >/tmp/fill-b.log 2>&1 &
pb=$!
wait $pa || { cat /tmp/fill-a.log; fail "writer a failed (fsync after ENOSPC must succeed)"; }
wait $pb || { cat /tmp/fill-b.log; fail "writer b failed (fsync after ENOSPC must succeed)"; }
grep -q ENOSPC /tmp/fill-a.log /tmp/fill-b.log || fail "no writer got ENOSPC"
grep -h '^#' /tmp/fill-a.log /tmp/fill-b.log | sed 's/^/  /'
grep -v '^#' /tmp/fill-a.log | sed 's,^,a/,' >"$M"
grep -v '^#' /tmp/fill-b.log | sed 's,^,b/,' >>"$M"
written=$(awk '{s+=$2} END {print s}' "$M")
info "filled: $(wc -l <"$M") files, $((written >> 20)) MiB accepted"
[ "$written" -gt $((200 << 20)) ] || fail "only $((written >> 20)) MiB fit on a 384 MiB disk"
avail=$(df -B1 --output=avail "$MNT" | tail -1)
info "df available when full: $avail bytes"

# 2. Full: more data is refused, small metadata changes still work.
if fallocate -l 64M "$MNT/prealloc" 2>/tmp/falloc.err; then fail "fallocate 64M on a full disk succeeded"; fi
grep -q "No space left" /tmp/falloc.err || { cat /tmp/falloc.err; fail "fallocate: not ENOSPC"; }
rm -f "$MNT/prealloc"
if dd if=/dev/zero of="$MNT/more" bs=1M count=64 2>/tmp/dd.err; then fail "dd of 64M on a full disk succeeded"; fi
grep -q "No space left" /tmp/dd.err || { cat /tmp/dd.err; fail "dd: not ENOSPC"; }
rm -f "$MNT/more"
[ "$avail" -lt $((4 << 20)) ] || fail "df shows $avail bytes available on a full disk"
# A shared mapping cannot dirty a page it has no space for: SIGBUS.
python3 - "$MNT/mapped" <<'PY' && rc=0 || rc=$?
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, 1 << 20)
m = mmap.mmap(fd, 1 << 20)
m[:] = b"x" * (1 << 20)
m.flush()
PY
[ "$rc" = 135 ] || fail "mmap write of 1 MiB on a full disk: exit $rc, want SIGBUS"
rm -f "$MNT/mapped"
# Metadata has its own space: namespace changes still work.
mkdir "$MNT/dir-when-full" || fail "mkdir on a full disk"
touch "$MNT/dir-when-full/f" || fail "create on a full disk"
setfattr -n user.full -v yes "$MNT/dir-when-full/f" || fail "setxattr on a full disk"
mv "$MNT/dir-when-full/f" "$MNT/dir-when-full/g" || fail "rename on a full disk"
sync

# 3. Deleting files frees space: half of it is writable again at once.
freed=0
for f in $(awk 'NR % 2 == 0 {print $1}' "$M"); do
    freed=$((freed + $(stat -c %s "$MNT/$f"))); rm "$MNT/$f"
done
awk 'NR % 2 == 1' "$M" >"$M.kept"; mv "$M.kept" "$M"
sync
count=$(( (freed >> 20) / 2 / 8 ))
info "freed $((freed >> 20)) MiB; writing $count new 8 MiB files"
mkdir "$MNT/c"
$FILL write "$MNT/c" c "$count" 8 >/tmp/fill-c.log 2>&1 || { cat /tmp/fill-c.log; fail "writer c failed"; }
grep -q "no ENOSPC" /tmp/fill-c.log || { cat /tmp/fill-c.log; fail "ENOSPC after deleting files"; }
grep -v '^#' /tmp/fill-c.log | sed 's,^,c/,' >>"$M"
python3 "$TESTDIR/fill.py" verify "$MNT" "$M" || fail "contents differ before remount"

# 4. Remount: everything write() accepted is there.
umount "$MNT"
btrfs check --readonly "$LOOP" >/tmp/check-enospc.log 2>&1 || { cat /tmp/check-enospc.log; fail "btrfs check"; }
try_mount "$LOOP" "$MNT" || fail "remount: $MOUNT_ERR"
python3 "$TESTDIR/fill.py" verify "$MNT" "$M" || fail "contents differ after remount"
[ "$(getfattr --only-values -n user.full "$MNT/dir-when-full/g")" = yes ] || fail "file made when full lost"
umount "$MNT"
check_fs "$LOOP"
