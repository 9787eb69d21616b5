#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Inode attribute flags on a mounted rbtrfs (FS_IOC_GETFLAGS/SETFLAGS,
FS_IOC_FSGETXATTR/FSSETXATTR, chattr/lsattr), step by step:

  root MNT          as root: every flag on and off, C btrfs's checks, the
                    VFS enforcing immutable and append-only, NOCOW on empty
                    and non-empty files, compression flags and their
                    btrfs.compression property; leaves a known set behind
  unpriv MNT        as uid 1000: flags of one's own file, not of another's,
                    and never immutable/append-only (CAP_LINUX_IMMUTABLE)
  after MNT         after a remount: the flags left behind are still there
                    and still enforced; then clears them
  ro MNT            on a read-only mount: reading works, changing is EROFS

Exit status 1 on the first failure, which is printed."""
import argparse, errno, fcntl, os, struct, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import btrfs_ioctl as B

SYNC, IMMUTABLE, APPEND, NODUMP, NOATIME = 0x8, 0x10, 0x20, 0x40, 0x80
COMPR, NOCOMP, DIRSYNC, NOCOW = 0x4, 0x400, 0x10000, 0x800000
XFLAG = {SYNC: 0x20, IMMUTABLE: 0x8, APPEND: 0x10, NODUMP: 0x80, NOATIME: 0x40}


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def expect_errno(code, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        check(e.errno == code, "%s%r: errno %d, expected %d" % (getattr(fn, "__name__", "?"), args, e.errno, code))
        return
    fail("%s%r succeeded, expected errno %d" % (getattr(fn, "__name__", "?"), args, code))


def flags_of(path):
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        return B.getflags(fd)
    finally:
        os.close(fd)


def set_flags(path, flags):
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        B.setflags(fd, flags)
    finally:
        os.close(fd)


def lsattr(path):
    out = subprocess.run(["lsattr", "-d", path], capture_output=True, text=True)
    check(out.returncode == 0, "lsattr %s: %s" % (path, out.stderr))
    return out.stdout.split()[0]


def chattr(arg, path):
    r = subprocess.run(["chattr", arg, path], capture_output=True, text=True)
    return r.returncode


def write(path, data, mode="wb"):
    with open(path, mode) as f:
        f.write(data)


def refused(what, fn, *args, code=errno.EPERM):
    try:
        fn(*args)
    except OSError as e:
        check(e.errno == code, "%s: errno %d, expected %d" % (what, e.errno, code))
        return
    fail("%s was allowed" % what)


def immutable_refuses(mnt, f, d):
    """Everything that would change the immutable file `f` or the
    immutable directory `d` is EPERM; reading works."""
    refused("open for writing", os.open, f, os.O_WRONLY)
    refused("open O_TRUNC", os.open, f, os.O_RDONLY | os.O_TRUNC)
    refused("truncate", os.truncate, f, 0)
    refused("unlink", os.unlink, f)
    refused("rename", os.rename, f, f + ".moved")
    refused("link", os.link, f, f + ".link")
    refused("chmod", os.chmod, f, 0o600)
    refused("chown", os.chown, f, 1, 1)
    refused("utime", os.utime, f, (1, 1))
    refused("setxattr", os.setxattr, f, "user.x", b"1")
    refused("create in an immutable directory", os.open, os.path.join(d, "new"), os.O_CREAT | os.O_WRONLY)
    refused("mkdir in an immutable directory", os.mkdir, os.path.join(d, "newdir"))
    refused("unlink in an immutable directory", os.unlink, os.path.join(d, "inner"))
    with open(f, "rb") as fh:
        check(fh.read() == b"immutable data", "reading an immutable file")
    check(os.listdir(d) == ["inner"], "listing an immutable directory")


def cmd_root(mnt):
    f = os.path.join(mnt, "flags-file")
    d = os.path.join(mnt, "flags-dir")
    write(f, b"immutable data")
    os.makedirs(d, exist_ok=True)
    write(os.path.join(d, "inner"), b"x")
    check(flags_of(f) == 0 and flags_of(d) == 0, "new inodes have flags")
    fd = os.open(f, os.O_RDONLY)
    check(B.fsgetxattr(fd)[0] == 0, "new file has xflags")
    # Each plain flag on and off, through the ioctl and through chattr.
    for fl, letter in [(SYNC, "S"), (NODUMP, "d"), (NOATIME, "A"), (APPEND, "a"), (IMMUTABLE, "i")]:
        ctime = os.stat(f).st_ctime_ns
        B.setflags(fd, fl)
        check(B.getflags(fd) == fl, "flag %#x set: got %#x" % (fl, B.getflags(fd)))
        check(B.fsgetxattr(fd)[0] == XFLAG[fl], "xflags of %#x: %#x" % (fl, B.fsgetxattr(fd)[0]))
        check(letter in lsattr(f), "lsattr lacks %s: %s" % (letter, lsattr(f)))
        check(os.stat(f).st_ctime_ns >= ctime, "ctime went back")
        B.setflags(fd, 0)
        check(B.getflags(fd) == 0, "flag %#x cleared" % fl)
        check(chattr("+" + letter, f) == 0 and letter in lsattr(f), "chattr +%s" % letter)
        check(chattr("-" + letter, f) == 0 and lsattr(f).strip("-") == "", "chattr -%s" % letter)
    # DIRSYNC only on directories (C masks it off files).
    set_flags(d, DIRSYNC)
    check(flags_of(d) == DIRSYNC and "D" in lsattr(d), "dirsync on a directory")
    set_flags(d, 0)
    B.setflags(fd, DIRSYNC)
    check(B.getflags(fd) == 0, "dirsync kept on a file")
    # C's checks: unknown flags, contradictions.
    expect_errno(errno.EOPNOTSUPP, B.setflags, fd, 0x100000)     # VERITY
    expect_errno(errno.EOPNOTSUPP, B.setflags, fd, 0x80000000)
    expect_errno(errno.EINVAL, B.setflags, fd, COMPR | NOCOMP)
    expect_errno(errno.EINVAL, B.setflags, fd, COMPR | NOCOW)
    # FSSETXATTR: the shared flags; anything xfs-only is EOPNOTSUPP.
    fcntl.ioctl(fd, B.FS_IOC_FSSETXATTR, bytearray(struct.pack("<IIIII", 0x80, 0, 0, 0, 0) + b"\0" * 8))
    check(B.getflags(fd) == NODUMP, "FSSETXATTR nodump: %#x" % B.getflags(fd))
    expect_errno(errno.EOPNOTSUPP, fcntl.ioctl, fd, B.FS_IOC_FSSETXATTR,
                 bytearray(struct.pack("<IIIII", 0, 0, 0, 0, 7) + b"\0" * 8))
    B.setflags(fd, 0)
    os.close(fd)
    # Immutable: the VFS refuses every change.
    set_flags(f, IMMUTABLE)
    set_flags(d, IMMUTABLE)
    immutable_refuses(mnt, f, d)
    set_flags(f, 0)
    set_flags(d, 0)
    write(f, b"immutable data")
    # Append-only: appending works, nothing else.
    a = os.path.join(mnt, "append-file")
    write(a, b"start\n")
    set_flags(a, APPEND)
    write(a, b"more\n", "ab")
    refused("open for writing without O_APPEND", os.open, a, os.O_WRONLY)
    refused("open O_TRUNC", os.open, a, os.O_WRONLY | os.O_APPEND | os.O_TRUNC)
    refused("truncate", os.truncate, a, 0)
    refused("unlink", os.unlink, a)
    refused("rename", os.rename, a, a + ".moved")
    with open(a, "rb") as fh:
        check(fh.read() == b"start\nmore\n", "append-only file contents")
    set_flags(a, 0)
    # NOCOW: only while a file is empty (then without checksums), always
    # on a directory.
    c = os.path.join(mnt, "nocow-file")
    write(c, b"")
    set_flags(c, NOCOW)
    check(flags_of(c) == NOCOW and "C" in lsattr(c), "+C on an empty file")
    with open(c, "wb") as fh:
        fh.write(bytes(range(256)) * 4096)
    n = os.path.join(mnt, "cow-file")
    write(n, b"data")
    set_flags(n, NOCOW)
    check(flags_of(n) == 0, "+C on a file with data took")
    set_flags(d, NOCOW)
    check(flags_of(d) == NOCOW, "+C on a directory")
    set_flags(d, 0)
    # Compression flags and the property.
    set_flags(d, COMPR)
    check(flags_of(d) == COMPR and "c" in lsattr(d), "+c")
    check(os.getxattr(d, "btrfs.compression") == b"zlib", "btrfs.compression property")
    set_flags(d, NOCOMP)
    check(flags_of(d) == NOCOMP and "m" in lsattr(d), "+m")
    expect_errno(errno.ENODATA, os.getxattr, d, "btrfs.compression")
    expect_errno(errno.EINVAL, set_flags, d, NOCOW)      # NOCOW with compression flags
    set_flags(d, 0)
    check(flags_of(d) == 0, "flags cleared")
    # Special files have no attribute flags in C btrfs: the ioctl goes to
    # the FIFO, which does not know it.
    p = os.path.join(mnt, "fifo")
    os.mkfifo(p)
    expect_errno(errno.ENOTTY, flags_of, p)
    # Left for the remount: an immutable file, an append-only file, a
    # noatime|nodump directory, the NOCOW file.
    set_flags(f, IMMUTABLE)
    set_flags(a, APPEND)
    set_flags(d, NOATIME | NODUMP)
    write(os.path.join(mnt, "own-file"), b"mine")
    os.chown(os.path.join(mnt, "own-file"), 1000, 1000)
    print("root: flags on and off, C's checks, immutable/append-only enforced, NOCOW and compression rules")


def cmd_unpriv(mnt):
    own = os.path.join(mnt, "own-file")
    other = os.path.join(mnt, "cow-file")
    set_flags(own, NODUMP)
    check(flags_of(own) == NODUMP, "owner sets nodump")
    set_flags(own, 0)
    refused("immutable without CAP_LINUX_IMMUTABLE", set_flags, own, IMMUTABLE | NODUMP)
    refused("flags of another's file", set_flags, other, NODUMP)
    refused("clearing immutable without the capability", set_flags, os.path.join(mnt, "flags-file"), 0)
    check(flags_of(other) == 0, "reading another's flags")
    print("unpriv: owner-only, CAP_LINUX_IMMUTABLE for immutable")


def cmd_after(mnt):
    f, a, d = (os.path.join(mnt, n) for n in ("flags-file", "append-file", "flags-dir"))
    check(flags_of(f) == IMMUTABLE and flags_of(a) == APPEND and flags_of(d) == NOATIME | NODUMP,
          "flags after remount: %#x %#x %#x" % (flags_of(f), flags_of(a), flags_of(d)))
    check(flags_of(os.path.join(mnt, "nocow-file")) == NOCOW, "NOCOW after remount")
    refused("writing the immutable file after remount", os.open, f, os.O_WRONLY)
    refused("truncating the append-only file after remount", os.truncate, a, 0)
    with open(os.path.join(mnt, "nocow-file"), "rb") as fh:
        check(fh.read() == bytes(range(256)) * 4096, "NOCOW file contents after remount")
    for p in (f, a, d):
        set_flags(p, 0)
    print("after: flags kept and enforced across a remount")


def cmd_ro(mnt):
    f = os.path.join(mnt, "nocow-file")
    check(flags_of(f) == NOCOW, "flags on a read-only mount")
    refused("SETFLAGS on a read-only mount", set_flags, f, NOCOW | NODUMP, code=errno.EROFS)
    print("ro: read, not changed")


if __name__ == "__main__":
    CMDS = {"root": cmd_root, "unpriv": cmd_unpriv, "after": cmd_after, "ro": cmd_ro}
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=list(CMDS))
    ap.add_argument("mnt", metavar="MNT")
    args = ap.parse_args()
    CMDS[args.cmd](args.mnt)
