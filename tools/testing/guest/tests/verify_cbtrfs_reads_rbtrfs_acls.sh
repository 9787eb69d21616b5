# C btrfs reads the ACLs rbtrfs wrote (rw_modifies_cbtrfs_acl_image; the
# image is found by its label): rb-tree equals a tmpfs
# reference made by the same steps (raw ACL attributes, modes, times,
# data), and both trees' getfacl output is what rbtrfs saw, with the ACLs
# enforced. C btrfs then changes an rbtrfs-written ACL; btrfs check clean.
source "$TESTDIR/acl_lib.sh"
REF=/tmp/acl-ref
trap 'cd /; umount "$MNT" 2>/dev/null || true; umount "$REF" 2>/dev/null || true' EXIT
lsmod | grep -q '^btrfs ' || fail "C btrfs not loaded"
DEV=$(dev_by_label acl-interop)
btrfs check --readonly $DEV >/tmp/check0.log 2>&1 || { cat /tmp/check0.log; fail "btrfs check before mounting"; }
try_mount $DEV "$MNT" || fail "C btrfs cannot mount the ACL image: $MOUNT_ERR"
[ -e "$MNT/acl-dump-rb.txt" ] || fail "no rbtrfs getfacl output in the image"
acl_check_tree "C btrfs reading rbtrfs's ACLs" "$MNT/rb-tree" "$MNT/acl-dump-rb.txt"
acl_check_tree "C btrfs reading the C tree rbtrfs changed" "$MNT/c-tree" "$MNT/acl-dump-c.txt"
acl_ref_mount "$REF"
acl_ops "$REF" rb-tree
python3 "$TESTDIR/compare.py" "$REF/rb-tree" "$MNT/rb-tree" || fail "C btrfs reads rb-tree differently from the reference"
setfacl -m u:1000:rw "$MNT/rb-tree/granted"
expect_mode "C btrfs" "$MNT/rb-tree/granted" 660
umount "$MNT"
check_fs $DEV
