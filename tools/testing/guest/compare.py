#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Compare two trees: every name, type, mode, owner, size, link count,
mtime (ns), device number, symlink target, xattr and byte of data.

usage: compare.py [--mkfs-rootdir] [--save FILE] SRC DST [DST...]
       compare.py [--mkfs-rootdir] --load FILE DST [DST...]
  Prints "N entries compared, M differences" (with several DSTs, a line for
  each, prefixed by "DST: "); exits 1 on any difference in any DST.
  --save FILE also writes what SRC holds to FILE; --load FILE compares DST
  with that instead of walking SRC again (one model, several mounts).
  Directories' link counts are not compared: btrfs reports 1 for every
  directory. --mkfs-rootdir is for images made by mkfs.btrfs 6.2 --rootdir,
  which stores whole-second times and rdev 0 for device nodes (btrfs-progs
  limitations, visible in dump-tree): mtimes compare to the second, device
  numbers are not compared. Trees written by a kernel compare exactly.
"""
import argparse
import hashlib
import json
import os
import stat
import sys


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def xattrs(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    return {n: os.getxattr(path, n, follow_symlinks=False).hex() for n in names}


MKFS = False


def describe(path, st):
    d = {
        "type": stat.S_IFMT(st.st_mode), "mode": stat.S_IMODE(st.st_mode),
        "uid": st.st_uid, "gid": st.st_gid,
        "mtime": st.st_mtime_ns // 10**9 if MKFS else st.st_mtime_ns,
        "xattrs": xattrs(path),
    }
    if not stat.S_ISDIR(st.st_mode):
        d["nlink"] = st.st_nlink
    if stat.S_ISREG(st.st_mode):
        d["size"] = st.st_size
        d["data"] = digest(path)
    elif stat.S_ISLNK(st.st_mode):
        d["target"] = os.readlink(path)
        d["size"] = st.st_size
    elif (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) and not MKFS:
        d["rdev"] = st.st_rdev
    return d


def describe_tree(src):
    """What SRC holds: per directory (relative path), its sorted names and
    each one's description."""
    tree = {}
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        names = sorted(dirnames + filenames)
        tree[rel] = {"names": names, "entries": {}}
        for name in names:
            a = os.path.join(dirpath, name)
            tree[rel]["entries"][name] = describe(a, os.lstat(a))
    return tree


def main():
    global MKFS
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mkfs-rootdir", action="store_true",
                    help="DST is a mount of an image made by mkfs.btrfs --rootdir (see above)")
    ap.add_argument("--save", metavar="FILE", help="also write what SRC holds to FILE")
    ap.add_argument("--load", metavar="FILE", help="compare DST with FILE (from --save), not with a SRC")
    ap.add_argument("paths", metavar="PATH", nargs="+", help="SRC DST..., or DST... alone with --load")
    args = ap.parse_intermixed_args()
    MKFS = args.mkfs_rootdir
    if args.load:
        if args.save:
            ap.error("--load FILE takes no --save")
        with open(args.load) as f:
            tree = json.load(f)
        dsts = args.paths
    else:
        if len(args.paths) < 2:
            ap.error("want SRC and at least one DST")
        tree = describe_tree(args.paths[0])
        dsts = args.paths[1:]
        if args.save:
            with open(args.save, "w") as f:
                json.dump(tree, f)
    bad = 0
    for dst in dsts:
        prefix = f"{dst}: " if len(dsts) > 1 else ""
        bad += compare(tree, dst, prefix)
    sys.exit(1 if bad else 0)


def compare(tree, dst, prefix):
    """Print DST's differences from tree and a summary; return their number."""
    bad = 0
    n = 0
    for rel in sorted(tree):
        other = os.path.normpath(os.path.join(dst, rel))
        want = tree[rel]["names"]
        try:
            have = sorted(os.listdir(other))
        except OSError as e:
            print(f"{prefix}DIFF {rel}: cannot list: {e}")
            bad += 1
            continue
        if want != have:
            print(f"{prefix}DIFF {rel}: entries differ: missing {sorted(set(want) - set(have))[:5]} extra {sorted(set(have) - set(want))[:5]}")
            bad += 1
        for name in want:
            b = os.path.join(other, name)
            da = tree[rel]["entries"][name]
            try:
                db = describe(b, os.lstat(b))
            except OSError as e:
                print(f"{prefix}DIFF {os.path.join(rel, name)}: {e}")
                bad += 1
                continue
            for k in da:
                if da[k] != db.get(k):
                    print(f"{prefix}DIFF {os.path.join(rel, name)}: {k}: want {str(da[k])[:80]} have {str(db.get(k))[:80]}")
                    bad += 1
            n += 1
    print(f"{prefix}{n} entries compared, {bad} differences")
    return bad


if __name__ == "__main__":
    main()
