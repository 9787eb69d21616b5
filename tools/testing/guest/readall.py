#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Read everything under a mount point: stat, readlink, every xattr, and up
to 4 MiB of every file (a corrupted inode may claim terabytes of holes).

usage: readall.py DIR     prints "entries N errors M: <errno names>"; exit 0
                          unless an error other than EIO/EUCLEAN/ENOENT/
                          EOPNOTSUPP/ENODATA/ENAMETOOLONG occurred (exit 2)
"""
import argparse
import errno
import os
import stat
import sys

OK = {errno.EIO, errno.EUCLEAN, errno.ENOENT, errno.EOPNOTSUPP, errno.ENODATA, errno.ENAMETOOLONG}
CAP = 4 << 20


def main():
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", metavar="DIR")
    args = ap.parse_args()
    n, errs, bad = 0, {}, []

    def note(e, where):
        errs[errno.errorcode.get(e.errno, str(e.errno))] = errs.get(errno.errorcode.get(e.errno, str(e.errno)), 0) + 1
        if e.errno not in OK:
            bad.append(f"{where}: {e}")

    stack = [args.dir]
    while stack:
        d = stack.pop()
        try:
            names = os.listdir(d)
        except OSError as e:
            note(e, d)
            continue
        for name in names:
            p = os.path.join(d, name)
            n += 1
            try:
                st = os.lstat(p)
                for a in os.listxattr(p, follow_symlinks=False):
                    os.getxattr(p, a, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    stack.append(p)
                elif stat.S_ISLNK(st.st_mode):
                    os.readlink(p)
                elif stat.S_ISREG(st.st_mode):
                    with open(p, "rb") as f:
                        left = CAP
                        while left > 0:
                            b = f.read(min(left, 1 << 20))
                            if not b:
                                break
                            left -= len(b)
            except OSError as e:
                note(e, p)
    print(f"entries {n} errors {sum(errs.values())}: {errs}")
    for b in bad[:5]:
        print("unexpected:", b)
    sys.exit(2 if bad else (1 if errs else 0))


if __name__ == "__main__":
    main()
