#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Reflink and dedupe checks for rw_reflink_dedupe.sh.

usage: reflink_check.py ops MNT REF MNT2   clones/dedupes on MNT, the same
                                           by plain copies on REF; errors
       reflink_check.py refs FSDUMP EXTDUMP  references in dump-tree output
       reflink_check.py overwrite MNT REF  overwrite one copy
       reflink_check.py ro MNT REF         dedupe on a read-only mount
Every step compares the files touched with their REF copies.
"""
import argparse
import errno
import fcntl
import os
import random
import re
import struct
import subprocess
import sys

FICLONE = 0x40049409
FICLONERANGE = 0x4020940D
FIDEDUPERANGE = 0xC0189436
FS_IOC_SETFLAGS = 0x40086602
FS_NOCOW_FL = 0x00800000
DIFFERS = 1
K, M = 1024, 1024 * 1024


def fail(msg):
    print("  reflink_check: " + msg)
    sys.exit(1)


def rd(path):
    with open(path, "rb") as f:
        return f.read()


def same(mnt, ref, name, when):
    a, b = rd(os.path.join(mnt, name)), rd(os.path.join(ref, name))
    if a != b:
        first = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), None)
        fail("%s: %s differs (size %d, want %d, first difference at %s)" % (when, name, len(a), len(b), first))


def mirror(ref, src, soff, length, dst, doff):
    """The clone done by plain reads and writes on the reference copy."""
    s = rd(os.path.join(ref, src))
    if length == 0:
        length = len(s) - soff
    data = s[soff:soff + length]
    p = os.path.join(ref, dst)
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    os.pwrite(fd, data, doff)
    os.close(fd)


def clone_range(src, soff, length, dst, doff):
    sfd = os.open(src, os.O_RDONLY)
    dfd = os.open(dst, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.ioctl(dfd, FICLONERANGE, struct.pack("=qQQQ", sfd, soff, length, doff))
    finally:
        os.close(sfd)
        os.close(dfd)


def clone(src, dst):
    sfd = os.open(src, os.O_RDONLY)
    dfd = os.open(dst, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        fcntl.ioctl(dfd, FICLONE, sfd)
    finally:
        os.close(sfd)
        os.close(dfd)


def dedupe(src, soff, length, dst, doff, dst_flags=os.O_RDWR):
    """FIDEDUPERANGE with one destination: (bytes_deduped, status)."""
    sfd = os.open(src, os.O_RDONLY)
    dfd = os.open(dst, dst_flags)
    try:
        buf = bytearray(struct.pack("=QQHHI", soff, length, 1, 0, 0) + struct.pack("=qQQiI", dfd, doff, 0, 0, 0))
        fcntl.ioctl(sfd, FIDEDUPERANGE, buf)
        _, _, deduped, status, _ = struct.unpack("=qQQiI", bytes(buf[24:]))
        return deduped, status
    finally:
        os.close(sfd)
        os.close(dfd)


def expect_errno(want, what, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        if e.errno != want:
            fail("%s: errno %s, want %s" % (what, errno.errorcode.get(e.errno), errno.errorcode[want]))
        return
    fail("%s: succeeded, want %s" % (what, errno.errorcode[want]))


def write_pieces(path, data, rng, fsync):
    """Writes data in random pieces, fsyncing between them (new extents)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    pos = 0
    while pos < len(data):
        n = min(len(data) - pos, rng.choice([4 * K, 64 * K, 200 * K, 512 * K, 1 * M]))
        os.pwrite(fd, data[pos:pos + n], pos)
        if fsync:
            os.fsync(fd)
        pos += n
    os.close(fd)


def settimes(*roots):
    for r in roots:
        for n in os.listdir(r):
            os.utime(os.path.join(r, n), ns=(1700000000123456789, 1700000000123456789))
        os.chmod(r, 0o755)
        os.utime(r, ns=(1700000000123456789, 1700000000123456789))


def make(mnt, ref):
    rng = random.Random(11)
    src = rng.randbytes(6 * M)
    tail = rng.randbytes(300 * K + 123)
    dst = rng.randbytes(2 * M)
    pat = bytes(range(256)) * (4 * K)  # 1 MiB
    pat3 = bytearray(pat)
    pat3[700 * K + 5] ^= 0xFF
    for root, fsync in ((mnt, True), (ref, False)):
        r = random.Random(5)
        write_pieces(os.path.join(root, "src"), src, r, fsync)
        fd = os.open(os.path.join(root, "src"), os.O_RDWR)
        # A hole [6M, 7M) with a preallocated piece in it, then a tail
        # ending off a sector.
        os.pwrite(fd, tail, 7 * M)
        if fsync:
            os.fsync(fd)
            subprocess.run(["xfs_io", "-c", "falloc -k %d %d" % (6 * M + 256 * K, 256 * K),
                            os.path.join(root, "src")], check=True)
        os.close(fd)
        write_pieces(os.path.join(root, "dst"), dst, r, fsync)
        with open(os.path.join(root, "small"), "wb") as f:
            f.write(b"inline data " * 25)
        for n, d in (("dd1", pat), ("dd2", pat), ("dd3", bytes(pat3)), ("dd4", pat)):
            write_pieces(os.path.join(root, n), d, r, fsync)
    os.sync()


def ops(mnt, ref, mnt2):
    make(mnt, ref)
    P = lambda n: os.path.join(mnt, n)
    # cp --reflink=always: the whole file.
    subprocess.run(["cp", "--reflink=always", P("src"), P("copy1")], check=True)
    mirror(ref, "src", 0, 0, "copy1", 0)
    same(mnt, ref, "copy1", "cp --reflink=always")
    # xfs_io reflink: a middle range onto the destination, past its end
    # (a hole in between).
    out = subprocess.run(["xfs_io", "-c", "reflink %s %d %d %d" % (P("src"), 1 * M, 4 * M, 2 * M), P("dst")],
                         capture_output=True, text=True)
    if out.returncode != 0 or "linked" not in out.stdout:
        fail("xfs_io reflink: %r %r" % (out.stdout, out.stderr))
    mirror(ref, "src", 1 * M, 2 * M, "dst", 4 * M)
    # Onto the middle of an existing file, across the hole and prealloc.
    clone_range(P("src"), 5 * M, 2 * M, P("dst"), 512 * K)
    mirror(ref, "src", 5 * M, 2 * M, "dst", 512 * K)
    same(mnt, ref, "dst", "xfs_io reflink and FICLONERANGE into dst")
    # Unaligned at the source's end, to a new file.
    size = os.stat(P("src")).st_size
    clone_range(P("src"), 7 * M, size - 7 * M, P("tail1"), 0)
    mirror(ref, "src", 7 * M, size - 7 * M, "tail1", 0)
    # Length 0: to the end of file, at 64 KiB of a new file.
    clone_range(P("src"), 6 * M, 0, P("tail2"), 64 * K)
    open(os.path.join(ref, "tail2"), "wb").close()
    mirror(ref, "src", 6 * M, 0, "tail2", 64 * K)
    # Inline data: whole (an inline item), and past the start of a file.
    clone(P("small"), P("small1"))
    mirror(ref, "small", 0, 0, "small1", 0)
    clone_range(P("small"), 0, 0, P("dst"), 8 * M)
    mirror(ref, "small", 0, 0, "dst", 8 * M)
    # Within one file, ranges apart.
    clone_range(P("copy1"), 0, 1 * M, P("copy1"), 3 * M)
    mirror(ref, "copy1", 0, 1 * M, "copy1", 3 * M)
    # A clone longer than one step (64 MiB): several tree operations.
    # Mostly preallocated (cheap to write under TCG), data at a few places.
    for root in (mnt, ref):
        fd = os.open(os.path.join(root, "big"), os.O_RDWR | os.O_CREAT, 0o644)
        os.posix_fallocate(fd, 0, 80 * M)
        block = random.Random(9).randbytes(M)
        for i in (0, 10, 63, 64, 79):
            os.pwrite(fd, struct.pack("<Q", i) + block[8:], i * M)
        os.fsync(fd)
        os.close(fd)
    clone(P("big"), P("big2"))
    mirror(ref, "big", 0, 0, "big2", 0)
    clone_range(P("big"), 4 * M, 70 * M, P("big2"), 8 * M + 4 * K)
    mirror(ref, "big", 4 * M, 70 * M, "big2", 8 * M + 4 * K)
    for n in ("tail1", "tail2", "small1", "dst", "copy1", "src", "big", "big2"):
        same(mnt, ref, n, "after the clones")

    # Dedupe: equal ranges share, differing ones do not.
    out = subprocess.run(["xfs_io", "-c", "dedupe %s 0 0 %d" % (P("dd1"), 1 * M), P("dd2")],
                         capture_output=True, text=True)
    if out.returncode != 0 or "deduped %d/%d" % (M, M) not in out.stdout:
        fail("xfs_io dedupe: %r %r" % (out.stdout, out.stderr))
    got = dedupe(P("dd1"), 0, 1 * M, P("dd4"), 0)
    if got != (M, 0):
        fail("FIDEDUPERANGE equal: %r" % (got,))
    got = dedupe(P("dd1"), 0, 1 * M, P("dd3"), 0)
    if got != (0, DIFFERS):
        fail("FIDEDUPERANGE differing: %r, want (0, DIFFERS)" % (got,))
    out = subprocess.run(["xfs_io", "-c", "dedupe %s 0 0 %d" % (P("dd1"), 1 * M), P("dd3")],
                         capture_output=True, text=True)
    if "did not match" not in out.stdout + out.stderr:
        fail("xfs_io dedupe of differing ranges: %r %r" % (out.stdout, out.stderr))
    # An unaligned length short of EOF is cut to a block (the VFS shares
    # 4096 bytes but reports the length asked for, on any filesystem).
    got = dedupe(P("dd1"), 0, 5000, P("dd2"), 0)
    if got != (5000, 0):
        fail("FIDEDUPERANGE of 5000 bytes: %r, want (5000, 0)" % (got,))
    for n in ("dd1", "dd2", "dd3", "dd4"):
        same(mnt, ref, n, "after dedupe")

    # Errors.
    expect_errno(errno.EINVAL, "unaligned source offset", clone_range, P("src"), 100, 4 * K, P("e1"), 0)
    expect_errno(errno.EINVAL, "unaligned destination offset", clone_range, P("src"), 0, 4 * K, P("e1"), 100)
    expect_errno(errno.EINVAL, "unaligned length in the middle", clone_range, P("src"), 0, 5000, P("e1"), 0)
    expect_errno(errno.EINVAL, "overlapping ranges of one file", clone_range, P("copy1"), 0, 1 * M, P("copy1"), 512 * K)
    expect_errno(errno.EINVAL, "source range past EOF", clone_range, P("src"), 64 * M, 4 * K, P("e1"), 0)
    other = os.path.join(mnt2, "other")
    open(other, "wb").close()
    expect_errno(errno.EXDEV, "clone to another filesystem", clone, P("src"), other)
    os.mkdir(P("dir"))
    os.mkdir(os.path.join(ref, "dir"))
    expect_errno(errno.EISDIR, "clone from a directory", clone, P("dir"), P("e1"))
    # NODATASUM (chattr +C on an empty file) must match.
    fd = os.open(P("nocow"), os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("=l", FS_NOCOW_FL))
    os.close(fd)
    open(os.path.join(ref, "nocow"), "wb").close()
    expect_errno(errno.EINVAL, "clone to a NODATASUM file", clone_range, P("src"), 0, 4 * K, P("nocow"), 0)
    open(os.path.join(ref, "e1"), "wb").close()
    for n in os.listdir(ref):
        if os.path.isfile(os.path.join(ref, n)):
            same(mnt, ref, n, "after the errors")
    settimes(mnt, ref)


def refs(fsdump, extdump):
    fs = open(fsdump).read()
    ext = open(extdump).read()
    names = {int(m.group(1)): m.group(2) for m in re.finditer(r"key \((\d+) INODE_REF \d+\)[^\n]*\n[^\n]*name: (\S+)", fs)}
    items = {}
    for m in re.finditer(r"key \((\d+) EXTENT_DATA (\d+)\)[^\n]*\n[^\n]*\n\t\textent data disk byte (\d+) nr (\d+)", fs):
        if int(m.group(3)):
            items.setdefault(int(m.group(3)), []).append((names.get(int(m.group(1))), int(m.group(2))))
    # Extent item refs per data extent.
    counts = {int(m.group(1)): int(m.group(2))
              for m in re.finditer(r"key \((\d+) EXTENT_ITEM \d+\)[^\n]*\n\t\trefs (\d+) gen \d+ flags DATA", ext)}
    for b, users in items.items():
        if counts.get(b) != len(users):
            fail("extent %d: %s references, %d items %r" % (b, counts.get(b), len(users), users))
    shared = {b: u for b, u in items.items() if len({n for n, _ in u}) > 1}
    files = {n for u in shared.values() for n, _ in u}
    for want in ("src", "copy1", "dst", "tail1", "tail2", "dd1", "dd2", "dd4"):
        if want not in files:
            fail("%s shares no extent: %r" % (want, sorted(files)))
    if "dd3" in files:
        fail("dd3 (different data) shares an extent")
    print("  %d data extents, %d shared; references match the items" % (len(items), len(shared)))


def overwrite(mnt, ref):
    rng = random.Random(3)
    data = rng.randbytes(300 * K)
    for root in (mnt, ref):
        fd = os.open(os.path.join(root, "copy1"), os.O_RDWR)
        os.pwrite(fd, data, 1 * M + 100)
        os.fsync(fd)
        os.close(fd)
    for n in ("src", "copy1", "dst"):
        same(mnt, ref, n, "after overwriting copy1")
    settimes(mnt, ref)


def ro(mnt, ref):
    got = dedupe(os.path.join(mnt, "dd1"), 0, 1 * M, os.path.join(mnt, "dd3"), 0, os.O_RDONLY)
    if got[1] != -errno.EROFS:
        fail("dedupe on a read-only mount: %r, want status -EROFS" % (got,))
    expect_errno(errno.EROFS, "open for writing on a read-only mount", os.open, os.path.join(mnt, "e1"), os.O_RDWR)


def main():
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="ops|refs|overwrite|ro")
    # command: (function, its arguments)
    cmds = {"ops": (ops, ["MNT", "REF", "MNT2"]), "refs": (refs, ["FSDUMP", "EXTDUMP"]),
            "overwrite": (overwrite, ["MNT", "REF"]), "ro": (ro, ["MNT", "REF"])}
    for name, (_, params) in cmds.items():
        p = sub.add_parser(name, allow_abbrev=False)
        for a in params:
            p.add_argument(a)
    args = ap.parse_args()
    fn, params = cmds[args.cmd]
    fn(*(getattr(args, a) for a in params))


if __name__ == "__main__":
    main()
