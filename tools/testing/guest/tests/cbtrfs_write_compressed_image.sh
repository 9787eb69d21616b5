# C btrfs writes the compressed image on /dev/vdc: the source tree and
# mkcompressed.py's files three times, into zlib/, lzo/ and zstd/: the
# source tree mounted with compress=ALGO (copied from the host once, then
# from zlib/, which is faster under TCG than 9p), the generated files with
# compress-force=ALGO, with parts overwritten after a sync.
# dump-tree must show compressed regular extents (some split or partly
# overwritten, offset != 0) and compressed inline extents for every
# algorithm; C btrfs reads the tree back as the reference says.
# rw_modifies_compressed_image then reads and changes it with rbtrfs.
source "$TESTDIR/compressed.sh"
[ -d "$RBTRFS_TOP/build/check/src" ] || fail "no source tree (check.sh makes it)"
lsmod | grep -q '^btrfs ' || fail "C btrfs not loaded"
t0=$(date +%s)
mkfs_btrfs /dev/vdc -L compressed
mount -t btrfs -o compress=zlib /dev/vdc "$MNT"
for a in $COMPRESS_ALGOS; do
    mount -o remount,compress=$a "$MNT"
    if [ "$a" = zlib ]; then
        compressed_copy_src "$MNT/$a"
    else
        mkdir "$MNT/$a"
        cp -a "$MNT/zlib/." "$MNT/$a/"
    fi
    sync
done
info "source tree copied three times ($(( $(date +%s) - t0 ))s)"
for a in $COMPRESS_ALGOS; do
    mount -o remount,compress-force=$a "$MNT"
    compressed_generate "$MNT/$a"
    info "$a/ generated ($(( $(date +%s) - t0 ))s)"
done
umount "$MNT"
mount -t btrfs /dev/vdc "$MNT"
find "$MNT" -depth -exec touch -h -d "$COMPRESS_TIME" {} +
umount "$MNT"
btrfs inspect-internal dump-tree -t 5 /dev/vdc >/tmp/compressed-dump.txt
python3 "$TESTDIR/count_compressed.py" --require </tmp/compressed-dump.txt | sed 's/^/  /' \
    || fail "not every algorithm has compressed regular, split and inline extents"
REF=$(mktemp -d /tmp/ref.XXXXXX)
compressed_reference "$REF"
info "reference built ($(( $(date +%s) - t0 ))s)"
mount -t btrfs -o ro /dev/vdc "$MNT"
compressed_compare "$REF" "$MNT" || fail "C btrfs reads the compressed image differently from the reference"
umount "$MNT"
check_fs /dev/vdc
