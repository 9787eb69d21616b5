# SPDX-License-Identifier: GPL-2.0
# POSIX ACL steps and checks shared by the ACL tests (rw_posix_acl and the
# C btrfs interop tests cbtrfs_write_acl_image, rw_modifies_cbtrfs_acl_image,
# verify_cbtrfs_reads_rbtrfs_acls). Sourced after lib.sh.

as_user() { setpriv --reuid=1000 --regid=1000 --clear-groups "$@"; }
# expect_acl WHERE FILE TEXT: getfacl -cn of FILE is exactly TEXT.
expect_acl() {
    local got
    got=$(getfacl -cnp "$2") || fail "$1: getfacl $2"
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

# acl_ops DIR NAME: the ACL steps, each checked, in the new directory
# DIR/NAME; they end with fixed times on everything, so that trees made at
# different moments compare equal.
acl_ops() {
    local W=$1 D=$1/$2
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

# acl_ref_mount DIR: a tmpfs at DIR for a reference tree (the kernel's
# generic ACL code), unmounted at the end of the test by acl_cleanup.
acl_ref_mount() { mkdir -p "$1"; mount -t tmpfs -o size=64M,mode=0755 none "$1" || fail "tmpfs at $1"; }

# acl_check_tree WHERE DIR DUMP: DIR (made by acl_ops) grants uid 1000 what
# its ACLs say and getfacl shows exactly DUMP (a file from acl_dump).
acl_check_tree() {
    [ "$(as_user cat "$2/granted")" = "$(printf 'secret\nmore')" ] || fail "$1: ACL of $2/granted not enforced"
    if as_user cat "$2/secret" >/dev/null 2>&1; then fail "$1: $2/secret readable by uid 1000"; fi
    acl_dump "$2" >/tmp/acl-check.txt
    diff "$3" /tmp/acl-check.txt || fail "$1: getfacl of $2 differs"
}
