#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Namespace stress with subvolumes, in the manner of fsstress's btrfs
operations: files, directories, links and symlinks made, renamed (plain,
RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT), linked and removed
anywhere in the tree,
among subvolumes made, snapshotted (sometimes read-only) and deleted, whose
entries move between directories and subvolumes, and snapshot placeholders
removed. Operations that fail must fail with an errno a filesystem gives
for such a namespace (ENOENT, EEXIST, EXDEV, ENOTEMPTY, ...); EIO, EUCLEAN,
ENOMEM or an unknown errno ends the run.

usage:
  subvolstress.py run DIR --seed S --ops N [--procs P] [--log FILE]
  subvolstress.py clean DIR

run: P processes (default 1), process K drawing from the generator seeded
"S:K", each doing N ops on the whole tree under DIR. The paths an op picks
come from a walk of the tree (sorted, redone every 16 ops), so with one
process the same seed gives the same ops and, on two filesystems that
behave alike, the same results: --log FILE writes one line per op (the op,
its paths and its result) for comparing C btrfs with rbtrfs. Prints a
summary: ops, failures by errno.

clean: makes every subvolume under DIR writable again and removes
everything under DIR (rm -rf; a subvolume goes with rmdir once empty, a
placeholder with rmdir). Exits 1, naming what could not be removed.
"""
import argparse
import collections
import ctypes
import errno
import os
import random
import stat
import struct
import subprocess
import sys
import fcntl

MAGIC = 0x94


def iow(nr, size):
    return (1 << 30) | (size << 16) | (MAGIC << 8) | nr


SUBVOL_CREATE = iow(14, 4096)
SNAP_CREATE_V2 = iow(23, 4096)
SNAP_DESTROY = iow(15, 4096)
SUBVOL_SETFLAGS = iow(26, 8)
SUBVOL_RDONLY = 1 << 1
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
RENAME_WHITEOUT = 4
FIRST_FREE = 256
EMPTY_SUBVOL_DIR = 2

# What a namespace operation may fail with here (ENXIO: opening a whiteout
# left since the last walk where a file was).
EXPECTED = {errno.ENOENT, errno.EEXIST, errno.EXDEV, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR,
            errno.EINVAL, errno.EPERM, errno.EACCES, errno.EROFS, errno.EBUSY, errno.EMLINK,
            errno.ENOTTY, errno.EOPNOTSUPP, errno.ELOOP, errno.ENAMETOOLONG, errno.ENXIO}

libc = ctypes.CDLL(None, use_errno=True)


def renameat2(old, new, flags):
    if libc.renameat2(-100, os.fsencode(old), -100, os.fsencode(new), ctypes.c_uint(flags)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def vol_args(name, fd=0, flags=0):
    b = bytearray(4096)
    struct.pack_into("<qQ", b, 0, fd, 0)
    struct.pack_into("<Q", b, 16, flags)
    b[56:56 + len(name)] = name
    return b


def dir_ioctl(path, req, arg):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.ioctl(fd, req, arg)
    finally:
        os.close(fd)


def name_ioctl(parent, req, name):
    """An ioctl on directory parent with a btrfs_ioctl_vol_args naming name."""
    b = bytearray(4096)
    b[8:8 + len(name)] = name
    dir_ioctl(parent, req, b)


def subvol_create(parent, name):
    name_ioctl(parent, SUBVOL_CREATE, name)


def snapshot(src, parent, name, readonly):
    fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
    try:
        dir_ioctl(parent, SNAP_CREATE_V2, vol_args(name, fd, SUBVOL_RDONLY if readonly else 0))
    finally:
        os.close(fd)


def subvol_delete(parent, name):
    name_ioctl(parent, SNAP_DESTROY, name)


def set_readonly(path, ro):
    dir_ioctl(path, SUBVOL_SETFLAGS, struct.pack("<Q", SUBVOL_RDONLY if ro else 0))


class Tree:
    """The tree as last walked: relative paths by kind."""

    def __init__(self, top):
        self.top = top
        self.walk()

    def walk(self):
        self.dirs, self.files, self.links, self.subvols, self.placeholders = ["."], [], [], [], []
        stack = ["."]
        while stack:
            d = stack.pop()
            try:
                names = sorted(os.listdir(os.path.join(self.top, d)))
            except OSError:
                continue
            for n in names:
                rel = os.path.normpath(os.path.join(d, n))
                try:
                    st = os.lstat(os.path.join(self.top, rel))
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    self.dirs.append(rel)
                    if st.st_ino == FIRST_FREE:
                        self.subvols.append(rel)
                    elif st.st_ino == EMPTY_SUBVOL_DIR:
                        self.placeholders.append(rel)
                    stack.append(rel)
                elif stat.S_ISREG(st.st_mode):
                    self.files.append(rel)
                else:
                    # Symlinks and whiteouts (character devices 0:0).
                    self.links.append(rel)
        self.dirs.sort()

    def entries(self):
        return self.files + self.links + [d for d in self.dirs if d != "."]


class Worker:
    def __init__(self, top, seed, k, log):
        self.top = top
        self.rng = random.Random(f"{seed}:{k}")
        self.k = k
        self.n = 0
        self.log = log
        self.fails = collections.Counter()
        self.paths = []
        self.tree = Tree(top)

    def p(self, rel):
        self.paths.append(rel)
        return os.path.join(self.top, rel)

    def pick(self, seq):
        return seq[self.rng.randrange(len(seq))] if seq else None

    def newname(self, prefix):
        self.n += 1
        return f"{prefix}{self.k}_{self.n}"

    def newpath(self, prefix):
        return os.path.join(self.pick(self.tree.dirs), self.newname(prefix))

    # Each op returns (name, paths, callable).
    def op(self):
        r = self.rng
        t = self.tree
        ops = [
            (12, "creat", lambda: self.creat(self.newpath("f"))),
            (8, "mkdir", lambda: os.mkdir(self.p(self.newpath("d")))),
            (3, "symlink", lambda: os.symlink("t" * r.randrange(1, 60), self.p(self.newpath("l")))),
            (4, "link", lambda: os.link(self.p(self.pick(t.files) or "nofile"), self.p(self.newpath("h")))),
            (5, "unlink", lambda: os.unlink(self.p(self.pick(t.files + t.links) or "nofile"))),
            (5, "rmdir", lambda: os.rmdir(self.p(self.pick(t.dirs[1:]) or "nodir"))),
            (10, "rename", lambda: os.rename(self.p(self.pick(t.entries()) or "x"), self.p(self.rename_target()))),
            (4, "rnoreplace", lambda: renameat2(self.p(self.pick(t.entries()) or "x"),
                                                self.p(self.rename_target()), RENAME_NOREPLACE)),
            (4, "rexchange", lambda: renameat2(self.p(self.pick(t.entries()) or "x"),
                                               self.p(self.pick(t.entries()) or "y"), RENAME_EXCHANGE)),
            (2, "rwhiteout", lambda: renameat2(self.p(self.pick(t.entries()) or "x"),
                                               self.p(self.rename_target()), RENAME_WHITEOUT)),
            (4, "subvol_create", lambda: self.in_dir(subvol_create, self.newname("s"))),
            (4, "snapshot", lambda: self.snapshot()),
            (3, "subvol_delete", lambda: self.subvol_delete()),
            (4, "subvol_move", lambda: os.rename(self.p(self.pick(t.subvols) or "x"), self.p(self.newpath("m")))),
            (2, "rmdir_placeholder", lambda: os.rmdir(self.p(self.pick(t.placeholders) or "x"))),
            (3, "write", lambda: self.write(self.pick(t.files) or "nofile")),
            (2, "setxattr", lambda: os.setxattr(self.p(self.pick(t.files + t.dirs) or "x"), f"user.a{r.randrange(4)}",
                                                self.rng.randbytes(r.randrange(64)), follow_symlinks=False)),
            (2, "chmod", lambda: os.chmod(self.p(self.pick(t.dirs + t.files) or "x"), 0o700 | r.randrange(0o100))),
            (1, "rm_rf", lambda: self.rm_rf(self.pick(t.dirs[1:]) or "x")),
        ]
        x = r.randrange(sum(w for w, _, _ in ops))
        for w, name, f in ops:
            if x < w:
                return name, f
            x -= w

    def rename_target(self):
        # A new name, or (one time in three) an existing entry.
        if self.rng.randrange(3) == 0 and self.tree.entries():
            return self.pick(self.tree.entries())
        return self.newpath("r")

    def creat(self, rel):
        fd = os.open(self.p(rel), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            os.write(fd, self.rng.randbytes(self.rng.randrange(6000)))
        finally:
            os.close(fd)

    def write(self, rel):
        fd = os.open(self.p(rel), os.O_WRONLY)
        try:
            os.pwrite(fd, self.rng.randbytes(self.rng.randrange(1, 9000)), self.rng.randrange(20000))
        finally:
            os.close(fd)

    def in_dir(self, f, name):
        f(self.p(self.pick(self.tree.dirs)), os.fsencode(name))

    def snapshot(self):
        src = self.pick(self.tree.subvols + ["."])
        ro = self.rng.randrange(4) == 0
        snapshot(self.p(src), self.p(self.pick(self.tree.dirs)), os.fsencode(self.newname("n")), ro)

    def subvol_delete(self):
        sv = self.pick(self.tree.subvols) or "x/y"
        subvol_delete(self.p(os.path.dirname(sv) or "."), os.fsencode(os.path.basename(sv)))

    def rm_rf(self, rel):
        r = subprocess.run(["rm", "-rf", self.p(rel)], capture_output=True)
        if r.returncode != 0:
            # The errno of the first failure, from rm's message.
            msg = r.stderr.decode(errors="replace")
            for e, s in ((e, os.strerror(e)) for e in sorted(EXPECTED)):
                if s in msg:
                    raise OSError(e, s)
            raise OSError(errno.EIO, "rm -rf: " + msg.strip()[:200])

    def run(self, nops):
        for i in range(nops):
            if i % 16 == 0:
                self.tree.walk()
            name, f = self.op()
            self.paths = []
            try:
                f()
                res = "ok"
            except OSError as e:
                res = errno.errorcode.get(e.errno, str(e.errno))
                self.fails[res] += 1
                if e.errno not in EXPECTED:
                    print(f"subvolstress: process {self.k} op {i} {name}: unexpected {res}: {e}")
                    if self.log:
                        self.log.write(f"{i} {name} {' '.join(self.paths)} {res}\n")
                    return False
            if self.log:
                self.log.write(f"{i} {name} {' '.join(self.paths)} {res}\n")
        return True


def run_one(top, seed, k, nops, log_path, out):
    log = open(log_path, "w") if log_path else None
    w = Worker(top, seed, k, log)
    ok = w.run(nops)
    if log:
        log.close()
    out.put((k, ok, dict(w.fails)))


def clean(top):
    # Writable again, deepest first (a read-only parent would refuse).
    subvols = []
    for d, dirs, _ in os.walk(top):
        for n in dirs:
            p = os.path.join(d, n)
            if os.lstat(p).st_ino == FIRST_FREE:
                subvols.append(p)
    for p in sorted(subvols, key=len, reverse=True):
        set_readonly(p, False)
    bad = []
    for n in sorted(os.listdir(top)):
        r = subprocess.run(["rm", "-rf", os.path.join(top, n)], capture_output=True)
        if r.returncode != 0:
            bad.append(r.stderr.decode(errors="replace").strip()[:500])
    left = os.listdir(top)
    if bad or left:
        print("subvolstress clean: could not remove everything:", *bad, f"left: {left[:10]}", sep="\n  ")
        return 1
    print(f"subvolstress clean: {len(subvols)} subvolumes and everything else removed")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", allow_abbrev=False)
    r.add_argument("dir")
    r.add_argument("--seed", required=True)
    r.add_argument("--ops", type=int, required=True)
    r.add_argument("--procs", type=int, default=1)
    r.add_argument("--log")
    c = sub.add_parser("clean", allow_abbrev=False)
    c.add_argument("dir")
    args = ap.parse_args()
    if args.cmd == "clean":
        sys.exit(clean(args.dir))
    import multiprocessing
    q = multiprocessing.Queue()
    if args.procs == 1:
        run_one(args.dir, args.seed, 0, args.ops, args.log, q)
    else:
        ps = [multiprocessing.Process(target=run_one, args=(args.dir, args.seed, k, args.ops, None, q))
              for k in range(args.procs)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
    results = [q.get() for _ in range(args.procs)]
    fails = collections.Counter()
    for _, _, f in results:
        fails.update(f)
    tree = Tree(args.dir)
    ok = all(r[1] for r in results)
    print(f"subvolstress: {args.procs} x {args.ops} ops, seed {args.seed}: "
          f"failed ops by errno {dict(sorted(fails.items()))}; now {len(tree.files)} files, "
          f"{len(tree.dirs)} dirs, {len(tree.subvols)} subvolumes, {len(tree.placeholders)} placeholders")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
