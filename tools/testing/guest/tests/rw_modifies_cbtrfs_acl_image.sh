# rbtrfs reads the ACLs C btrfs wrote (cbtrfs_write_acl_image, attached as
# /dev/vdg): getfacl output as C btrfs saw it, and enforced. Then it
# changes them: a new file inherits a C-written default ACL, chmod
# narrows the mask of a C-written access ACL, and the whole acl_ops tree
# is written again by rbtrfs (rb-tree, checked against a tmpfs reference),
# with rbtrfs's getfacl output saved in the image for C btrfs to compare
# (verify_cbtrfs_reads_rbtrfs_acls). btrfs check is clean.
source "$TESTDIR/acl_lib.sh"
REF=/tmp/acl-ref
trap 'cd /; umount "$MNT" 2>/dev/null || true; umount "$REF" 2>/dev/null || true' EXIT
[ -b /dev/vdg ] || fail "no ACL image on /dev/vdg (check.sh runs the C btrfs suite first)"
[ "$(blkid -s LABEL -o value /dev/vdg)" = acl-interop ] || fail "/dev/vdg is not the ACL image"
try_mount /dev/vdg "$MNT" || fail "mount failed: $MOUNT_ERR"
acl_check_tree "rbtrfs reading C btrfs's ACLs" "$MNT/c-tree" "$MNT/acl-dump-c.txt"
(umask 077; echo by-rbtrfs >"$MNT/c-tree/inherit/by-rbtrfs")
expect_mode rbtrfs "$MNT/c-tree/inherit/by-rbtrfs" 660
expect_acl rbtrfs "$MNT/c-tree/inherit/by-rbtrfs" "$INHERITED_FILE"
chmod 0750 "$MNT/c-tree/inherit/sub"
expect_acl rbtrfs "$MNT/c-tree/inherit/sub" "user::rwx
user:1000:rwx${T}#effective:r-x
group::r-x
mask::r-x
other::---"
acl_dump "$MNT/c-tree" >"$MNT/acl-dump-c.txt"
acl_ref_mount "$REF"
acl_ops "$REF" rb-tree
acl_ops "$MNT" rb-tree
python3 "$TESTDIR/compare.py" "$REF/rb-tree" "$MNT/rb-tree" || fail "rbtrfs tree differs from the tmpfs reference"
acl_dump "$MNT/rb-tree" >"$MNT/acl-dump-rb.txt"
acl_dump "$REF/rb-tree" | diff - "$MNT/acl-dump-rb.txt" || fail "rbtrfs getfacl output differs from tmpfs"
umount "$MNT"
check_fs /dev/vdg
