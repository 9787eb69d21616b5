#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Deterministic changes to a tree, applied alike to a model and a mount.

usage: snapmut.py DIR ROUND [--ops N]

Lists DIR (sorted), then, from a generator seeded by ROUND, does N changes:
overwrite a range of a file, append, truncate (shrink or sparse extend),
unlink, rename within the tree, create a new file (0-200 KiB), mkdir, make a
hard link or a symlink, set a user xattr, chmod. Every entry it touches, and
the parent directories whose entries change, then get a fixed nanosecond
mtime derived from ROUND, so two identical trees stay identical to
compare.py, whose mtime check is exact. Data is derived from ROUND and the
op number, never from the tree's contents.
"""
import argparse
import os
import random


def listing(root):
    files, dirs = [], []
    for d, dn, fn in os.walk(root):
        dn.sort()
        rel = os.path.relpath(d, root)
        dirs.append(rel)
        for f in sorted(fn):
            p = os.path.normpath(os.path.join(rel, f))
            if os.path.isfile(os.path.join(root, p)) and not os.path.islink(os.path.join(root, p)):
                files.append(p)
    return sorted(files), sorted(dirs)


def data(rnd, n):
    return bytes(rnd.getrandbits(8) for _ in range(min(n, 4096))) * (n // 4096 + 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", metavar="DIR")
    ap.add_argument("round", metavar="ROUND", type=int)
    ap.add_argument("--ops", metavar="N", type=int, default=60, help="changes to make (default 60)")
    args = ap.parse_args()
    root, rnd_no, nops = args.dir, args.round, args.ops
    rnd = random.Random(rnd_no)
    files, dirs = listing(root)
    touched = set()
    for k in range(nops):
        op = rnd.choice(["overwrite", "overwrite", "append", "truncate", "unlink", "rename",
                         "create", "create", "mkdir", "link", "symlink", "xattr", "chmod"])
        if op in ("overwrite", "append", "truncate", "unlink", "rename", "link", "xattr", "chmod") and not files:
            op = "create"
        name = f"m{rnd_no}_{k}"
        if op == "overwrite":
            p = rnd.choice(files)
            size = os.path.getsize(os.path.join(root, p))
            off = rnd.randrange(0, size + 1) if size else 0
            with open(os.path.join(root, p), "r+b") as f:
                f.seek(off)
                f.write(data(rnd, rnd.randrange(1, 40000))[: rnd.randrange(1, 40000)])
            touched.add(p)
        elif op == "append":
            p = rnd.choice(files)
            with open(os.path.join(root, p), "ab") as f:
                f.write(data(rnd, rnd.randrange(1, 20000))[: rnd.randrange(1, 20000)])
            touched.add(p)
        elif op == "truncate":
            p = rnd.choice(files)
            size = os.path.getsize(os.path.join(root, p))
            os.truncate(os.path.join(root, p), rnd.choice([0, size // 2, size + 70000]))
            touched.add(p)
        elif op == "unlink":
            p = files.pop(rnd.randrange(len(files)))
            os.unlink(os.path.join(root, p))
            touched.add(os.path.dirname(p) or ".")
            touched.discard(p)
        elif op == "rename":
            p = files.pop(rnd.randrange(len(files)))
            d = rnd.choice(dirs)
            q = os.path.normpath(os.path.join(d, name))
            os.rename(os.path.join(root, p), os.path.join(root, q))
            files.append(q)
            touched.update([os.path.dirname(p) or ".", d, q])
            touched.discard(p)
        elif op == "create":
            d = rnd.choice(dirs)
            q = os.path.normpath(os.path.join(d, name))
            with open(os.path.join(root, q), "wb") as f:
                f.write(data(rnd, 200000)[: rnd.choice([0, 100, 3000, 5000, 70000, 200000])])
            files.append(q)
            touched.update([d, q])
        elif op == "mkdir":
            d = rnd.choice(dirs)
            q = os.path.normpath(os.path.join(d, name))
            os.mkdir(os.path.join(root, q))
            dirs.append(q)
            touched.update([d, q])
        elif op == "link":
            p = rnd.choice(files)
            d = rnd.choice(dirs)
            q = os.path.normpath(os.path.join(d, name))
            os.link(os.path.join(root, p), os.path.join(root, q))
            files.append(q)
            touched.update([d, q, p])
        elif op == "symlink":
            d = rnd.choice(dirs)
            q = os.path.normpath(os.path.join(d, name))
            os.symlink("target-" + "x" * rnd.randrange(1, 300), os.path.join(root, q))
            touched.update([d, q])
        elif op == "xattr":
            p = rnd.choice(files)
            os.setxattr(os.path.join(root, p), f"user.r{rnd_no}", data(rnd, 64)[: rnd.randrange(1, 64)])
            touched.add(p)
        elif op == "chmod":
            p = rnd.choice(files)
            os.chmod(os.path.join(root, p), rnd.choice([0o600, 0o644, 0o755, 0o400]))
            touched.add(p)
    t = 1_700_000_000_000_000_000 + rnd_no * 1_000_000_000 + 123
    for p in sorted(touched, key=lambda x: -x.count("/")):
        a = os.path.join(root, p)
        if os.path.lexists(a):
            os.utime(a, ns=(t, t), follow_symlinks=False)


if __name__ == "__main__":
    main()
