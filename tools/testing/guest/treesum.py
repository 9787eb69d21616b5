#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checksums of a whole tree, taken once and checked later (like fssum).

usage:
  treesum.py DIR > SUMS          one line per entry: path, type, mode, size,
                                 sha256 of the data (or symlink target), and
                                 of the sorted user xattrs
  treesum.py DIR --check SUMS    exits 1, naming the first few differences,
                                 if DIR does not match SUMS

Times, owners, inode numbers and link counts are left out: a snapshot must
keep its data, names, modes and xattrs, and this also holds for a copy read
by another driver (C btrfs). Subvolume placeholders (empty directories with
inode number 2) are directories like any other.
"""
import argparse
import hashlib
import os
import stat
import sys


def entry(root, rel):
    p = os.path.join(root, rel) if rel != "." else root
    st = os.lstat(p)
    h = hashlib.sha256()
    if stat.S_ISREG(st.st_mode):
        kind = "f"
        with open(p, "rb") as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                h.update(b)
    elif stat.S_ISLNK(st.st_mode):
        kind = "l"
        h.update(os.fsencode(os.readlink(p)))
    elif stat.S_ISDIR(st.st_mode):
        kind = "d"
    else:
        kind = "o"
    x = hashlib.sha256()
    if kind != "l":
        for name in sorted(os.listxattr(p, follow_symlinks=False)):
            if name.startswith("user."):
                x.update(name.encode() + b"=" + os.getxattr(p, name, follow_symlinks=False) + b"\0")
    size = st.st_size if kind in "fl" else 0
    return f"{rel}\t{kind}\t{stat.S_IMODE(st.st_mode):o}\t{size}\t{h.hexdigest()[:32]}\t{x.hexdigest()[:16]}"


def walk(root):
    out = [entry(root, ".")]
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files):
            out.append(entry(root, os.path.relpath(os.path.join(d, name), root)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", metavar="DIR")
    ap.add_argument("--check", metavar="SUMS", help="compare DIR against SUMS instead of printing")
    a = ap.parse_args()
    have = walk(a.dir)
    if a.check is None:
        sys.stdout.write("\n".join(have) + "\n")
        return 0
    with open(a.check) as f:
        want = f.read().splitlines()
    if have == want:
        return 0
    hs, ws = set(have), set(want)
    for line in [w for w in want if w not in hs][:5]:
        print(f"{a.dir}: want {line}")
    for line in [h for h in have if h not in ws][:5]:
        print(f"{a.dir}: have {line}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
