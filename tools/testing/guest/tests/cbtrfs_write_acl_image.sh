# C btrfs (the reference) writes the ACL tree of acl_lib.sh's acl_ops onto
# /dev/vdd, each step checked as on a tmpfs reference, and keeps its
# getfacl output in the image (acl-dump-c.txt). rbtrfs then reads and
# changes it (rw_modifies_cbtrfs_acl_image) and C btrfs reads that back
# (verify_cbtrfs_reads_rbtrfs_acls).
source "$TESTDIR/acl_lib.sh"
REF=/tmp/acl-ref
trap 'cd /; umount "$MNT" 2>/dev/null || true; umount "$REF" 2>/dev/null || true' EXIT
lsmod | grep -q '^btrfs ' || fail "C btrfs not loaded"
[ -b /dev/vdd ] || fail "no /dev/vdd for the ACL image"
acl_ref_mount "$REF"
mkfs_btrfs /dev/vdd -K -L acl-interop
mount -t btrfs /dev/vdd "$MNT"
acl_ops "$REF" c-tree
acl_ops "$MNT" c-tree
python3 "$TESTDIR/compare.py" "$REF/c-tree" "$MNT/c-tree" || fail "C btrfs tree differs from the tmpfs reference"
acl_dump "$MNT/c-tree" >"$MNT/acl-dump-c.txt"
acl_dump "$REF/c-tree" | diff - "$MNT/acl-dump-c.txt" || fail "C btrfs getfacl output differs from tmpfs"
umount "$MNT"
check_fs /dev/vdd
