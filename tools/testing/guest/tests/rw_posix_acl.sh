# POSIX ACLs on a read-write rbtrfs mount (acl is the default). The same
# steps run on rbtrfs and on a tmpfs (the kernel's reference ACL code), and
# each step's outcome is checked on both: an access ACL grants uid 1000
# read of a root-owned 0600 file (EACCES without it); exact getfacl output;
# the mask is recalculated by setfacl and follows chmod; a directory's
# default ACL is inherited by new files, fifos and subdirectories (the
# latter get it as their default ACL too) with the mode narrowed by it and
# the umask ignored; without a default ACL the umask applies (027: 0640
# files, 0750 directories); symlinks get no ACL; an ACL the mode expresses
# is not stored; setfacl -b and removexattr remove the attribute; a default
# ACL on a file is refused (EACCES). The trees then compare equal (modes,
# owners, times, xattrs including the raw ACLs, data), also after a fresh
# mount, with getfacl of every file unchanged. With -o noacl: setfacl fails with
# EOPNOTSUPP, ACLs are not enforced, the umask applies and default ACLs are
# not inherited, the stored names are still listed; remount,acl and
# remount,noacl switch. btrfs check is clean.
source "$TESTDIR/acl_lib.sh"
IMG=/tmp/acl.img
REF=/tmp/acl-ref
rm -f "$IMG"; truncate -s 256M "$IMG"
LOOP=$(losetup -f --show "$IMG")
trap 'cd /; umount "$MNT" 2>/dev/null || true; umount "$REF" 2>/dev/null || true; losetup -d "$LOOP" 2>/dev/null || true; rm -f "$IMG"' EXIT
acl_ref_mount "$REF"
mkfs_btrfs "$LOOP"
try_mount "$LOOP" "$MNT" || fail "rw mount: $MOUNT_ERR"
grep -q "^$LOOP $MNT btrfs rw" /proc/mounts || fail "not mounted read-write"
acl_ops "$REF" tree
acl_ops "$MNT" tree
python3 "$TESTDIR/compare.py" "$REF/tree" "$MNT/tree" || fail "rbtrfs tree differs from the tmpfs reference"
acl_dump "$REF/tree" >/tmp/acl-ref.txt
acl_dump "$MNT/tree" >/tmp/acl-before.txt
diff /tmp/acl-ref.txt /tmp/acl-before.txt || fail "getfacl output differs from the tmpfs reference"
grep -q "^user:1000:r--" /tmp/acl-before.txt || fail "getfacl output shows no named user"

# Persistence: a fresh mount reads the same ACLs (no cached ones).
umount "$MNT"
btrfs check --readonly "$LOOP" >/tmp/check-acl.log 2>&1 || { cat /tmp/check-acl.log; fail "btrfs check after the ACL steps"; }
try_mount "$LOOP" "$MNT" || fail "second mount: $MOUNT_ERR"
acl_check_tree "fresh mount" "$MNT/tree" /tmp/acl-before.txt
python3 "$TESTDIR/compare.py" "$REF/tree" "$MNT/tree" || fail "tree differs after a fresh mount"
umount "$MNT"

# noacl: no ACLs set, enforced or inherited; the umask applies.
try_mount -o noacl "$LOOP" "$MNT" || fail "noacl mount: $MOUNT_ERR"
out=$(setfacl -m u:1000:r "$MNT/tree/plain/d" 2>&1) && fail "setfacl succeeded with noacl"
grep -q "Operation not supported" <<<"$out" || { echo "$out"; fail "setfacl with noacl: not EOPNOTSUPP"; }
if as_user cat "$MNT/tree/granted" >/dev/null 2>&1; then fail "noacl: the ACL still grants"; fi
python3 -c 'import os, sys; sys.exit("system.posix_acl_access" not in os.listxattr(sys.argv[1]))' "$MNT/tree/granted" \
    || fail "noacl: the stored ACL is not listed"
(umask 027; touch "$MNT/tree/inherit/na-file"; mkdir "$MNT/tree/inherit/na-dir")
expect_mode noacl "$MNT/tree/inherit/na-file" 640
expect_mode noacl "$MNT/tree/inherit/na-dir" 750
expect_no_xattrs noacl "$MNT/tree/inherit/na-file"
expect_no_xattrs noacl "$MNT/tree/inherit/na-dir"
rm "$MNT/tree/inherit/na-file"; rmdir "$MNT/tree/inherit/na-dir"
touch -h -d '2021-01-01 00:00:00.5' "$MNT/tree/inherit"
mount -o remount,acl "$MNT" || fail "remount,acl"
[ "$(as_user cat "$MNT/tree/granted")" = "$(cat "$REF/tree/granted")" ] || fail "remount,acl: ACL not enforced"
mount -o remount,noacl "$MNT" || fail "remount,noacl"
if as_user cat "$MNT/tree/granted" >/dev/null 2>&1; then fail "remount,noacl: the ACL still grants"; fi
umount "$MNT"
try_mount -o ro "$LOOP" "$MNT" || fail "ro mount: $MOUNT_ERR"
python3 "$TESTDIR/compare.py" "$REF/tree" "$MNT/tree" || fail "tree differs at the end"
acl_dump "$MNT/tree" >/tmp/acl-end.txt
diff /tmp/acl-before.txt /tmp/acl-end.txt || fail "getfacl output changed at the end"
umount "$MNT"
check_fs "$LOOP"
