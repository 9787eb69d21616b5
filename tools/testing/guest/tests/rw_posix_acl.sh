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
IMG=/tmp/acl.img
REF=/tmp/acl-ref
rm -f "$IMG"; truncate -s 256M "$IMG"
LOOP=$(losetup -f --show "$IMG")
mkdir -p "$REF"
trap 'cd /; umount "$MNT" 2>/dev/null || true; umount "$REF" 2>/dev/null || true; losetup -d "$LOOP" 2>/dev/null || true; rm -f "$IMG"' EXIT
mount -t tmpfs -o size=64M,mode=0755 none "$REF" || fail "tmpfs for the reference"
mkfs_btrfs "$LOOP"
try_mount "$LOOP" "$MNT" || fail "rw mount: $MOUNT_ERR"
grep -q "^$LOOP $MNT btrfs rw" /proc/mounts || fail "not mounted read-write"

as_user() { setpriv --reuid=1000 --regid=1000 --clear-groups "$@"; }
# expect_acl WHERE FILE TEXT: getfacl -cn of FILE is exactly TEXT.
expect_acl() {
    local got
    got=$(getfacl -cn "$2") || fail "$1: getfacl $2"
    [ "$got" = "$3" ] || { printf '%s\n--- wanted:\n%s\n' "$got" "$3"; fail "$1: getfacl $2"; }
}
expect_mode() { [ "$(stat -c %a "$2")" = "$3" ] || fail "$1: $2 has mode $(stat -c %a "$2"), not $3"; }
# expect_no_xattrs WHERE FILE: no attribute at all (not following symlinks).
expect_no_xattrs() { [ -z "$(getfattr -h -m - "$2")" ] || { getfattr -h -m - -d "$2"; fail "$1: $2 has attributes"; }; }
# set_errno FILE NAME VALUE_FROM: setxattr(FILE, NAME, value of NAME... on
# VALUE_FROM's system.posix_acl_access); prints the errno name or "ok".
set_errno() {
    python3 - "$@" <<'EOF'
import errno, os, sys
f, name, src = sys.argv[1:]
v = os.getxattr(src, "system.posix_acl_access")
try:
    os.setxattr(f, name, v)
    print("ok")
except OSError as e:
    print(errno.errorcode[e.errno])
EOF
}

# acl_dump DIR: getfacl of everything under DIR but symlinks, in name order
# (getfacl -R follows readdir order, which differs between filesystems).
acl_dump() { (cd "$1" && find . ! -type l -print0 | sort -z | xargs -0 getfacl -n -p); }

T=$(printf '\t')
GRANTED="user::rw-
user:1000:r--
group::---
mask::r--
other::---"
INHERITED_FILE="user::rw-
user:1000:rwx${T}#effective:rw-
group::r-x${T}#effective:r--
mask::rw-
other::---"
DEFAULT="default:user::rwx
default:user:1000:rwx
default:group::r-x
default:mask::rwx
default:other::---"

# ops DIR: the steps and checks, in DIR/tree.
ops() {
    local W=$1 D=$1/tree
    mkdir "$D"
    cd "$D"
    umask 022
    # An access ACL grants a named user read; chmod narrows the mask.
    echo secret >secret
    chmod 0600 secret
    if as_user cat secret >/dev/null 2>&1; then fail "$W: uid 1000 reads a 0600 file without an ACL"; fi
    setfacl -m u:1000:r secret
    [ "$(as_user cat secret)" = secret ] || fail "$W: the ACL does not let uid 1000 read"
    expect_acl "$W" secret "$GRANTED"
    expect_mode "$W" secret 640
    chmod 0600 secret
    expect_acl "$W" secret "user::rw-
user:1000:r--${T}#effective:---
group::---
mask::---
other::---"
    if as_user cat secret >/dev/null 2>&1; then fail "$W: chmod 0600 left uid 1000 reading"; fi
    setfacl -m u:1000:rw secret
    expect_acl "$W" secret "user::rw-
user:1000:rw-
group::---
mask::rw-
other::---"
    expect_mode "$W" secret 660
    as_user sh -c 'echo more >>secret' || fail "$W: uid 1000 cannot write through the ACL"
    cp secret granted
    chmod 0600 granted
    setfacl -m u:1000:r granted
    # A default ACL is inherited, the umask ignored.
    mkdir inherit
    setfacl -d -m u:1000:rwx,g::r-x,o::--- inherit
    expect_acl "$W" inherit "user::rwx
group::r-x
other::r-x
$DEFAULT"
    (umask 077; touch inherit/file; mkdir inherit/sub; mkfifo inherit/fifo; ln -s file inherit/link
     echo nested >inherit/sub/nested)
    expect_mode "$W" inherit/file 660
    expect_mode "$W" inherit/fifo 660
    expect_mode "$W" inherit/sub 770
    expect_mode "$W" inherit/sub/nested 660
    expect_acl "$W" inherit/file "$INHERITED_FILE"
    expect_acl "$W" inherit/fifo "$INHERITED_FILE"
    expect_acl "$W" inherit/sub/nested "$INHERITED_FILE"
    expect_acl "$W" inherit/sub "user::rwx
user:1000:rwx
group::r-x
mask::rwx
other::---
$DEFAULT"
    expect_no_xattrs "$W" inherit/link
    [ "$(as_user cat inherit/sub/nested)" = nested ] || fail "$W: inherited ACL does not let uid 1000 read"
    # Without a default ACL the umask applies, and nothing is stored.
    mkdir plain
    (umask 027; touch plain/f; mkdir plain/d; mkfifo plain/p; echo data >plain/g)
    expect_mode "$W" plain/f 640
    expect_mode "$W" plain/d 750
    expect_mode "$W" plain/p 640
    for f in plain/f plain/d plain/p plain/g; do expect_no_xattrs "$W" $f; done
    # An ACL the mode bits express is not stored; the mode takes it.
    setfacl -m u::rwx,g::r-x,o::r-- plain/g
    expect_mode "$W" plain/g 754
    expect_no_xattrs "$W" plain/g
    # setfacl -b and removexattr remove the attribute.
    setfacl -b secret
    if grep -q posix_acl <<<"$(getfattr -m - secret)"; then fail "$W: setfacl -b left the attribute"; fi
    expect_mode "$W" secret 600
    setfacl -m u:1000:r plain/f
    grep -q system.posix_acl_access <<<"$(getfattr -m - plain/f)" || fail "$W: no attribute listed after setfacl"
    setfattr -x system.posix_acl_access plain/f
    expect_no_xattrs "$W" plain/f
    if as_user cat plain/f >/dev/null 2>&1; then fail "$W: removed ACL still grants"; fi
    # Default ACLs are for directories only.
    if setfacl -d -m u:1000:r secret 2>/dev/null; then fail "$W: setfacl -d on a file succeeded"; fi
    [ "$(set_errno secret system.posix_acl_default granted)" = EACCES ] || fail "$W: default ACL on a file not EACCES"
    [ "$(set_errno inherit/sub system.posix_acl_default granted)" = ok ] || fail "$W: default ACL on a directory"
    setfacl -k inherit/sub
    # Fixed times, so that the trees compare equal.
    find . -depth -exec touch -h -d '2021-01-01 00:00:00.5' {} +
    cd /
}

ops "$REF"
ops "$MNT"
python3 "$TESTDIR/compare.py" "$REF/tree" "$MNT/tree" || fail "rbtrfs tree differs from the tmpfs reference"
acl_dump "$REF/tree" >/tmp/acl-ref.txt
acl_dump "$MNT/tree" >/tmp/acl-before.txt
diff /tmp/acl-ref.txt /tmp/acl-before.txt || fail "getfacl output differs from the tmpfs reference"
grep -q "^user:1000:r--" /tmp/acl-before.txt || fail "getfacl output shows no named user"

# Persistence: a fresh mount reads the same ACLs (no cached ones).
umount "$MNT"
btrfs check --readonly "$LOOP" >/tmp/check-acl.log 2>&1 || { cat /tmp/check-acl.log; fail "btrfs check after the ACL steps"; }
try_mount "$LOOP" "$MNT" || fail "second mount: $MOUNT_ERR"
[ "$(as_user cat "$MNT/tree/granted")" = "$(cat "$REF/tree/granted")" ] || fail "ACL not enforced after a fresh mount"
acl_dump "$MNT/tree" >/tmp/acl-after.txt
diff /tmp/acl-before.txt /tmp/acl-after.txt || fail "getfacl output changed across a mount"
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
