#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Generate a deterministic directory tree exercising every file type.

usage: mktree.py DIR [--files N] [--seed S] [--small]
Makes nested and wide directories, files of awkward sizes (empty, inline,
exactly a sector, multi-extent), sparse files, symlinks (short and long),
hard links, fifos, sockets, device nodes, xattrs (many, long values), 255-byte
and non-ASCII names, odd modes, owners and nanosecond timestamps.
"""
import argparse
import os
import random
import socket
import stat


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", metavar="DIR", help="output directory (created if missing)")
    ap.add_argument("--files", type=int, default=200, metavar="N",
                    help="files in DIR/wide (default 200)")
    ap.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default 1)")
    ap.add_argument("--small", action="store_true",
                    help="no file over 200 KB: for many image copies")
    return ap.parse_args(argv)


def main():
    args = parse_args()
    root, nfiles, seed = args.root, args.files, args.seed
    rnd = random.Random(seed)
    os.makedirs(root, exist_ok=True)

    def data(n):
        return rnd.randbytes(n)

    small = args.small   # no file over 200 KB: for many image copies
    sizes = [0, 1, 100, 2047, 2048, 4095, 4096, 4097, 8191, 65536, 100000, 1 << 20, (5 << 20) + 13]
    if small:
        sizes = [n for n in sizes if n <= 200000]
    for i, n in enumerate(sizes):
        with open(os.path.join(root, f"size-{n}"), "wb") as f:
            f.write(data(n))
    # Sparse: data, hole, data, trailing hole.
    with open(os.path.join(root, "sparse"), "wb") as f:
        f.write(data(5000))
        f.seek(150000 if small else 3 << 20)
        f.write(data(7000))
        f.truncate(200000 if small else 6 << 20)
    # Nested and wide directories.
    deep = root
    for d in range(12):
        deep = os.path.join(deep, f"d{d}")
        os.mkdir(deep)
        with open(os.path.join(deep, "f"), "wb") as f:
            f.write(data(d * 300))
    wide = os.path.join(root, "wide")
    os.mkdir(wide)
    for i in range(nfiles):
        with open(os.path.join(wide, f"file-{i:05d}"), "wb") as f:
            f.write(data(rnd.choice([0, 10, 3000, 5000, 20000])))
    # Names.
    for name in ["n" * 255, "Grüße, 世界 ✓", "with space", ".hidden", "-dash", "x" * 200 + "é" * 27]:
        with open(os.path.join(root, name), "wb") as f:
            f.write(name.encode())
    # Links.
    os.symlink("size-100", os.path.join(root, "link-short"))
    os.symlink("/" + "t" * 1000, os.path.join(root, "link-long"))
    os.symlink("d0/d1/d2", os.path.join(root, "link-dir"))
    os.link(os.path.join(root, "size-4096"), os.path.join(root, "hardlink-1"))
    os.link(os.path.join(root, "size-4096"), os.path.join(wide, "hardlink-2"))
    # Special files.
    os.mkfifo(os.path.join(root, "fifo"))
    s = socket.socket(socket.AF_UNIX)
    s.bind(os.path.join(root, "socket"))
    s.close()
    os.mknod(os.path.join(root, "chardev"), 0o620 | stat.S_IFCHR, os.makedev(4, 64))
    os.mknod(os.path.join(root, "blockdev"), 0o660 | stat.S_IFBLK, os.makedev(8, 3))
    # Xattrs.
    x = os.path.join(root, "size-1")
    # Sized to fit ext4's 4 KiB per-inode xattr space, where the host makes it.
    for i in range(16):
        os.setxattr(x, f"user.attr{i:02d}", data(rnd.choice([0, 1, 20, 60])))
    os.setxattr(x, "user.long", data(1500))
    os.setxattr(os.path.join(root, "d0"), "user.on-dir", b"directory value")
    os.setxattr(os.path.join(root, "size-0"), "trusted.t", b"trusted value")
    # Modes and owners.
    for name, mode, uid, gid in [("size-100", 0o4755, 1000, 1000), ("size-2047", 0o600, 65534, 65534),
                                 ("size-2048", 0o1777, 0, 1234), ("size-4095", 0o000, 42, 43)]:
        p = os.path.join(root, name)
        os.chown(p, uid, gid)
        os.chmod(p, mode)
    # Timestamps with nanoseconds (set last, directories deepest first).
    for dirpath, dirnames, filenames in sorted(os.walk(root), key=lambda t: -t[0].count("/")):
        for n in filenames + dirnames:
            p = os.path.join(dirpath, n)
            t = 1_600_000_000_000_000_000 + rnd.randrange(10**18)
            os.utime(p, ns=(t + 123, t + 456789), follow_symlinks=False)
    os.utime(root, ns=(1_700_000_000_123_456_789, 1_700_000_000_987_654_321))


if __name__ == "__main__":
    main()
