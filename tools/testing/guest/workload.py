#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Randomized read-write workload with an exact model, and a verifier.

usage:
  workload.py run --dir MOUNTDIR --ops N --workers W --seed S --manifest OUT.json
                  [--max-file MIB] [--max-entries E] [--full-ops N] [--fill]
                  [--no-final-check]
  workload.py verify --dir MOUNTDIR --manifest M.json

run: W worker processes, worker K working only in MOUNTDIR/wK/ (so its model
of that subtree is exact), do N ops in total (N/W each), chosen at random from
a generator seeded by "S:K" (the same seed gives the same op sequence, as long
as no ENOSPC intervenes). Ops:

  create     O_CREAT|O_EXCL new file (sometimes O_SYNC), with initial data
  write      pwrite at a random offset, often beyond EOF (a hole); sometimes
             O_SYNC or O_DSYNC
  overwrite  pwrite inside the file
  append     O_APPEND write
  truncate   truncate/ftruncate, shrinking or extending
  fallocate  posix_fallocate, and fallocate(2) with KEEP_SIZE,
             PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE, ZERO_RANGE|KEEP_SIZE; a mode
             the filesystem refuses with EOPNOTSUPP is counted as unsupported
  rename     rename(2) to a new name, over an existing file (incl. another
             link of the same inode: a no-op), a directory over an empty one
  renameat2  RENAME_NOREPLACE (to a new name; onto an existing one must give
             EEXIST) and RENAME_EXCHANGE (files, symlinks, directories)
  link       hard link (of files and of symlinks)
  unlink     files and symlinks
  mkdir      directories up to depth 4
  rmdir      an empty directory, or a whole subtree (files, then dirs)
  symlink    targets of 1..4000 bytes, dangling or pointing at a sibling
  setxattr   user.* names, values 0..2048 bytes, create or replace
  removexattr
  chmod      file and directory modes
  utime      nanosecond mtimes (then verified until the next change)
  mmap       MAP_SHARED write of a range, msync
  fsync      fsync/fdatasync of a file or directory, sometimes sync(2)
  read       verify a file (whole or a range, and reads past EOF), a symlink,
             xattrs, a directory listing, stat fields, against the model
  errcheck   operations that must fail with a specific errno (EEXIST,
             ENOTEMPTY, EINVAL, EISDIR, ENOTDIR, ENODATA, ENOENT)

File data is mostly 0-64 KiB (crossing the 2 KiB inline limit and page
boundaries); about one write in a hundred is up to --max-file MiB (default
32). Each worker keeps its live data within a budget (40% of the free space
at the start, split between workers, at most 256 MiB each).

A read that differs from the model, an unexpected errno, or an op that should
have failed and did not, prints a message with the worker's last ops and
makes run exit 1. ENOSPC is not a failure: the op is counted, and the paths
it touched are re-read from the filesystem into the model (bytes of a file
outside the range the op could have changed must still match the model).

--fill: after the N ops, the workers wait while the main process fills the
disk with big files (MOUNTDIR/fill/) until ENOSPC; the partly written last
file must read back as a prefix of what was written. The workers then do
--full-ops more ops (default N/10) on the full disk (ENOSPC expected, no
mmap: a page fault without space is SIGBUS) and check their trees. Then the
main process deletes every other fill file, syncs, and writes new files of at
least a quarter of the freed size: these must not get ENOSPC.

At the end run checks the whole tree against the merged model (unless
--no-final-check: the workers have checked their trees already), writes the
manifest (every path: type, mode, size, sha256, xattrs, symlink target,
hard-link group, known mtimes) and prints a one-line summary.

verify: walks MOUNTDIR and compares it with the manifest exactly: every path
present, no extra path, types, modes, sizes, sha256 of data, xattrs (all but
security.*), symlink targets, mtimes the model knows, hard-link groups share
one inode whose st_nlink is the group size, other files have st_nlink 1 and
inodes of their own. Prints each difference, or "verify: N entries match";
exits 1 on any difference.
"""
import argparse
import collections
import ctypes
import errno
import hashlib
import json
import mmap
import multiprocessing
import os
import platform
import queue
import random
import stat
import struct
import sys
import time
import traceback

KiB = 1024
MiB = 1 << 20
MAX_DEPTH = 4

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
AT_FDCWD = -100

libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
libc.fallocate.restype = ctypes.c_int
SYS_RENAMEAT2 = {"x86_64": 316, "aarch64": 276}.get(platform.machine())


def fallocate(fd, mode, off, length):
    if libc.fallocate(fd, mode, off, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def renameat2(old, new, flags):
    o, n = os.fsencode(old), os.fsencode(new)
    if SYS_RENAMEAT2 is not None:
        r = libc.syscall(SYS_RENAMEAT2, AT_FDCWD, o, AT_FDCWD, n, ctypes.c_uint(flags))
    else:
        r = libc.renameat2(AT_FDCWD, o, AT_FDCWD, n, ctypes.c_uint(flags))
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), old, None, new)


class Failure(Exception):
    """A difference from the model or an unexpected result: the run fails."""


class Node:
    """One inode of the model. Files hold their data (bytearray), or, sealed
    (fill files), only size and sha256."""
    __slots__ = ("kind", "ino", "mode", "data", "size", "sha", "target", "xattrs", "mtime", "links")

    def __init__(self, kind, ino, mode, data=None, target=None):
        self.kind, self.ino, self.mode = kind, ino, mode
        self.data = data
        self.size = self.sha = None
        self.target = target
        self.xattrs = {}
        self.mtime = None      # ns, when known (set by utime, forgotten on change)
        self.links = 0

    def length(self):
        return len(self.data) if self.data is not None else self.size

    def digest(self):
        return hashlib.sha256(self.data).hexdigest() if self.data is not None else self.sha


KIND = {stat.S_IFREG: "f", stat.S_IFDIR: "d", stat.S_IFLNK: "l"}
KIND_NAME = {"f": "file", "d": "dir", "l": "symlink"}


def read_all(fd):
    out = bytearray()
    while True:
        b = os.read(fd, 4 * MiB)
        if not b:
            return out
        out += b


def file_sha(path):
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            b = os.read(fd, 4 * MiB)
            if not b:
                return h.hexdigest()
            h.update(b)
    finally:
        os.close(fd)


def user_xattrs(path):
    """All xattrs but security.* (LSM labels the model does not make)."""
    names = os.listxattr(path, follow_symlinks=False)
    return {n: os.getxattr(path, n, follow_symlinks=False) for n in names
            if not n.startswith("security.")}


def first_diff(a, b):
    n = min(len(a), len(b))
    lo, hi = 0, n
    if a[:n] == b[:n]:
        return n
    while hi - lo > 1:         # find the first differing byte by bisection
        mid = (lo + hi) // 2
        if a[lo:mid] != b[lo:mid]:
            hi = mid
        else:
            lo = mid
    return lo if a[lo] != b[lo] else hi


def stamped(seed_bytes, tag, n, start=0):
    """n bytes: a 4 KiB random block repeated, each 4 KiB stamped with tag and
    its offset (from start), so a block read from the wrong place or from
    another write is told apart."""
    blocks = (n + 4095) // 4096
    out = bytearray(seed_bytes * blocks)
    pk = struct.Struct("<QQ").pack
    for i in range(blocks):
        out[i * 4096:i * 4096 + 16] = pk(tag, start + i * 4096)
    del out[n:]
    return out


WEIGHTS = {
    "create": 8, "write": 10, "overwrite": 6, "append": 5, "truncate": 5, "fallocate": 5,
    "rename": 5, "renameat2": 3, "link": 3, "unlink": 6, "mkdir": 2, "rmdir": 2,
    "symlink": 3, "setxattr": 5, "removexattr": 2, "chmod": 2, "utime": 2, "mmap": 3,
    "fsync": 3, "read": 12, "errcheck": 3,
}
CREATES = {"create", "mkdir", "symlink", "link"}


class Worker:
    def __init__(self, root, wid, seed, max_file, budget, max_entries):
        self.root, self.wid = root, wid
        self.top = f"w{wid}"
        self.rng = random.Random(f"{seed}:{wid}")
        self.max_file = max_file
        self.budget = budget
        self.max_entries = max_entries
        self.paths = {}            # relative path -> Node
        self.by_ino = {}           # st_ino -> Node
        self.seq = 0
        self.opno = 0
        self.phase = "main"
        self.counts = collections.Counter()
        self.enospc = collections.Counter()
        self.unsupported = collections.Counter()
        self.written = 0
        self.resyncs = 0
        self.recent = collections.deque(maxlen=25)
        self.touched, self.changed = [], None
        self.unlinked = []
        self.enospc_log = collections.deque(maxlen=10)

    # ---- paths and model bookkeeping
    def abs(self, p):
        return os.path.join(self.root, p)

    def note(self, msg):
        self.recent.append(f"#{self.opno} {msg}")
        # WORKLOAD_TRACE=TEXT: print every op whose description has TEXT.
        trace = os.environ.get("WORKLOAD_TRACE")
        if trace and trace in msg:
            print(f"trace w{self.wid} #{self.opno} {msg}", file=sys.stderr, flush=True)

    def fail(self, msg):
        raise Failure(msg)

    def add_path(self, p, node):
        self.paths[p] = node
        node.links += 1

    def del_path(self, p):
        node = self.paths.pop(p)
        node.links -= 1
        if node.links == 0:
            self.unlinked.append(node)  # forgotten after the op, unless re-added
        return node

    def gc(self):
        for node in self.unlinked:
            if node.links == 0 and self.by_ino.get(node.ino) is node:
                del self.by_ino[node.ino]
        self.unlinked = []

    def subtree(self, p):
        pre = p + "/"
        return [q for q in self.paths if q == p or q.startswith(pre)]

    def children(self, p):
        pre = p + "/"
        return [q for q in self.paths if q.startswith(pre) and "/" not in q[len(pre):]]

    def dirty(self, p):
        """p's directory changed: its mtime is no longer known."""
        self.paths[os.path.dirname(p)].mtime = None

    def drop_tree(self, p):
        for q in sorted(self.subtree(p), key=len, reverse=True):
            self.del_path(q)

    def move_tree(self, src, dst):
        """The model of rename(src, dst), dst not existing (or already dropped)."""
        moved = [(q, self.paths[q]) for q in self.subtree(src)]
        for q, _ in moved:
            self.del_path(q)
        for q, node in moved:
            self.add_path(dst + q[len(src):], node)

    def live_bytes(self):
        seen = set()
        total = 0
        for n in self.paths.values():
            if n.kind == "f" and id(n) not in seen:
                seen.add(id(n))
                total += n.length()
        return total

    def pick(self, kinds, pred=None):
        c = [p for p, n in self.paths.items()
             if n.kind in kinds and p != self.top and (pred is None or pred(p, n))]
        return self.rng.choice(c) if c else None

    def pick_file(self, pred=None):
        return self.pick("f", lambda p, n: n.data is not None and (pred is None or pred(p, n)))

    def pick_dir(self, maxdepth=MAX_DEPTH):
        c = [p for p, n in self.paths.items() if n.kind == "d" and p.count("/") < maxdepth]
        return self.rng.choice(c)

    def new_name(self, prefix):
        self.seq += 1
        base = f"{prefix}{self.seq}"
        r = self.rng.random()
        if r < 0.08:
            return base + " with space"
        if r < 0.12:
            return base + "_" + "é" * ((255 - len(base) - 1) // 2)
        if r < 0.16:
            return base + "_" + "x" * (255 - len(base) - 1)
        return base

    def new_path(self, prefix):
        d = self.pick_dir()
        return f"{d}/{self.new_name(prefix)}"

    # ---- data generators
    def rand_len(self, big_ok=True):
        r = self.rng.random()
        if r < 0.35:
            n = self.rng.randint(0, 2 * KiB + 512)
        elif r < 0.70:
            n = self.rng.randint(0, 16 * KiB)
        elif r < 0.99 or not big_ok or self.phase != "main":
            n = self.rng.randint(0, 64 * KiB)
        else:
            n = self.rng.randint(64 * KiB, self.max_file * MiB)
        if self.rng.random() < 0.25:
            n -= n % 4096
        return n

    def rand_off(self, size):
        r = self.rng.random()
        if r < 0.5:
            off = self.rng.randint(0, size)
        elif r < 0.75:
            off = size + self.rng.randint(0, 64 * KiB)
        elif r < 0.9:
            off = self.rng.choice([0, 2047, 2048, 2049, 4095, 4096, 4097, 8192, 65535, 65536, 131072])
        else:
            off = self.rng.randint(0, size + MiB)
        if self.rng.random() < 0.3:
            off -= off % 4096
        return off

    def gen(self, n):
        if n <= 64 * KiB:
            return self.rng.randbytes(n)
        return stamped(self.rng.randbytes(4096), (self.wid << 48) | self.opno, n)

    def fits(self, grow):
        return self.phase != "main" or self.live_bytes() + grow <= self.budget

    # ---- syscall wrappers that also keep the model
    def open_flags(self):
        r = self.rng.random()
        return os.O_SYNC if r < 0.08 else os.O_DSYNC if r < 0.12 else 0

    def pwrite_all(self, fd, data, off):
        view = memoryview(data)
        done = 0
        while done < len(data):
            done += os.pwrite(fd, view[done:], off + done)

    def model_write(self, node, off, data):
        node.mtime = None
        if not data:
            return      # a write of nothing does not move EOF
        d = node.data
        if off > len(d):
            d.extend(bytes(off - len(d)))
        d[off:off + len(data)] = data
        node.mtime = None
        self.written += len(data)

    def model_truncate(self, node, size):
        d = node.data
        if size < len(d):
            del d[size:]
        else:
            d.extend(bytes(size - len(d)))
        node.mtime = None

    # ---- ops: each returns False when it does not apply now
    def op_create(self):
        if len(self.paths) >= self.max_entries:
            return False
        p = self.new_path("f")
        n = self.rand_len()
        if not self.fits(n):
            n = self.rng.randint(0, 4 * KiB)
        data = self.gen(n)
        mode = self.rng.choice([0o644, 0o600, 0o664, 0o640, 0o755, 0o700])
        flags = self.open_flags()
        self.note(f"create {p} len={n} mode={mode:o} flags={flags:#x}")
        self.touched, self.changed = [p, os.path.dirname(p)], None
        fd = os.open(self.abs(p), os.O_CREAT | os.O_EXCL | os.O_WRONLY | flags, mode)
        try:
            node = Node("f", os.fstat(fd).st_ino, mode, bytearray())
            self.by_ino[node.ino] = node
            self.add_path(p, node)
            self.dirty(p)
            if n:
                self.changed = (0, n)
                self.pwrite_all(fd, data, 0)
                self.model_write(node, 0, data)
        finally:
            os.close(fd)
        return True

    def _write(self, p, off, data, append=False):
        node = self.paths[p]
        flags = self.open_flags() | (os.O_APPEND if append else 0)
        if append:
            off = len(node.data)
        self.note(f"{'append' if append else 'write'} {p} off={off} len={len(data)} flags={flags:#x} size={len(node.data)}")
        self.touched, self.changed = [p], (min(off, len(node.data)), off + len(data))
        fd = os.open(self.abs(p), os.O_WRONLY | flags)
        try:
            if append:
                view = memoryview(data)
                done = 0
                while done < len(data):
                    done += os.write(fd, view[done:])
            else:
                self.pwrite_all(fd, data, off)
        finally:
            os.close(fd)
        self.model_write(node, off, data)
        return True

    def op_write(self):
        p = self.pick_file()
        if p is None:
            return False
        size = len(self.paths[p].data)
        off = self.rand_off(size)
        n = self.rand_len()
        if not self.fits(max(0, off + n - size)):
            off, n = self.rng.randint(0, size), self.rng.randint(0, 4 * KiB)
            if not self.fits(max(0, off + n - size)):
                return False
        return self._write(p, off, self.gen(n))

    def op_overwrite(self):
        p = self.pick_file(lambda p, n: len(n.data) > 0)
        if p is None:
            return False
        size = len(self.paths[p].data)
        off = self.rng.randint(0, size - 1)
        if self.rng.random() < 0.3:
            off -= off % 4096
        n = self.rng.randint(1, min(size - off, 64 * KiB if self.rng.random() < 0.9 else size))
        return self._write(p, off, self.gen(n))

    def op_append(self):
        p = self.pick_file()
        if p is None:
            return False
        n = self.rand_len(big_ok=False)
        if not self.fits(n):
            return False
        return self._write(p, 0, self.gen(n), append=True)

    def op_truncate(self):
        p = self.pick_file()
        if p is None:
            return False
        node = self.paths[p]
        size = len(node.data)
        r = self.rng.random()
        if r < 0.45:
            new = self.rng.randint(0, size)
        elif r < 0.8:
            new = size + self.rng.randint(1, 256 * KiB)
        else:
            new = self.rng.choice([0, 1, 2047, 2048, 2049, 4095, 4096, 4097, 65536, size])
        if new > size and not self.fits(new - size):
            new = self.rng.randint(0, size)
        how = self.rng.choice(["truncate", "ftruncate"])
        self.note(f"{how} {p} {size} -> {new}")
        self.touched, self.changed = [p], (min(size, new), max(size, new))
        if how == "truncate":
            os.truncate(self.abs(p), new)
        else:
            fd = os.open(self.abs(p), os.O_WRONLY)
            try:
                os.ftruncate(fd, new)
            finally:
                os.close(fd)
        self.model_truncate(node, new)
        return True

    def op_fallocate(self):
        p = self.pick_file()
        if p is None:
            return False
        node = self.paths[p]
        size = len(node.data)
        mode = self.rng.choice(["posix", 1, 3, 0x10, 0x11])
        off = self.rand_off(size) if self.rng.random() < 0.5 else self.rng.randint(0, size)
        n = self.rng.randint(1, 128 * KiB)
        if self.rng.random() < 0.4:
            off -= off % 4096
            n = max(4096, n - n % 4096)
        grows = mode in ("posix", 0x10)
        if grows and not self.fits(max(0, off + n - size)):
            return False
        self.note(f"fallocate {p} mode={mode} off={off} len={n} size={size}")
        self.touched, self.changed = [p], (min(off, size), off + n)
        fd = os.open(self.abs(p), os.O_WRONLY)
        try:
            if mode == "posix":
                os.posix_fallocate(fd, off, n)
            else:
                try:
                    fallocate(fd, mode, off, n)
                except OSError as e:
                    if e.errno == errno.EOPNOTSUPP:
                        self.unsupported[f"fallocate {mode:#x}"] += 1
                        self.note("  EOPNOTSUPP")
                        return False
                    raise
        finally:
            os.close(fd)
        d = node.data
        if mode in ("posix", 0x10) and off + n > size:
            d.extend(bytes(off + n - size))
        if mode in (3, 0x10, 0x11):
            end = min(off + n, len(d))
            if end > off:
                d[off:end] = bytes(end - off)
        node.mtime = None
        return True

    def op_rename(self):
        r = self.rng.random()
        if r < 0.5:         # anything to a new name
            src = self.pick("fdl")
            if src is None:
                return False
            dst = self.new_path("r")
            if self.node_kind(src) == "d" and (dst + "/").startswith(src + "/"):
                return False
            if self.node_kind(src) == "d" and dst.count("/") + self.height(src) > MAX_DEPTH + 1:
                return False
        elif r < 0.85:      # a file or symlink over another
            src = self.pick("fl")
            dst = self.pick("fl")
            if src is None or src == dst:
                return False
        else:               # a directory over an empty directory
            src = self.pick("d")
            dst = self.pick("d", lambda p, n: not self.children(p) and p != src)
            if src is None or dst is None or (dst + "/").startswith(src + "/") \
                    or (src + "/").startswith(dst + "/"):
                return False
            if dst.count("/") + self.height(src) > MAX_DEPTH + 1:
                return False
        self.note(f"rename {src} -> {dst}")
        self.touched, self.changed = [src, dst, os.path.dirname(src), os.path.dirname(dst)], None
        os.rename(self.abs(src), self.abs(dst))
        self.dirty(src)
        self.dirty(dst)
        if dst in self.paths and self.paths[dst] is self.paths[src]:
            return True     # two links of one inode: rename does nothing
        if dst in self.paths:
            self.del_path(dst)
        if self.paths[src].kind == "d":
            self.paths[src].mtime = None
        self.move_tree(src, dst)
        return True

    def node_kind(self, p):
        return self.paths[p].kind

    def height(self, p):
        """Levels in p's subtree (1 for a leaf)."""
        return 1 + max((q.count("/") - p.count("/") for q in self.subtree(p)), default=0)

    def op_renameat2(self):
        if self.rng.random() < 0.5:
            src = self.pick("fdl")
            if src is None:
                return False
            if self.rng.random() < 0.7:
                dst = self.new_path("n")
                if self.node_kind(src) == "d" and ((dst + "/").startswith(src + "/")
                                                    or dst.count("/") + self.height(src) > MAX_DEPTH + 1):
                    return False
                self.note(f"renameat2 NOREPLACE {src} -> {dst}")
                self.touched, self.changed = [src, dst, os.path.dirname(src), os.path.dirname(dst)], None
                renameat2(self.abs(src), self.abs(dst), RENAME_NOREPLACE)
                if self.node_kind(src) == "d":
                    self.paths[src].mtime = None
                self.dirty(src)
                self.dirty(dst)
                self.move_tree(src, dst)
            else:
                dst = self.pick("fdl", lambda p, n: p != src)
                if dst is None:
                    return False
                self.note(f"renameat2 NOREPLACE {src} -> existing {dst} (want EEXIST)")
                self.touched, self.changed = [], None
                self.expect_err([errno.EEXIST], renameat2, self.abs(src), self.abs(dst), RENAME_NOREPLACE)
            return True
        a = self.pick("fdl")
        b = self.pick("fdl", lambda p, n: p != a)
        if a is None or b is None or (a + "/").startswith(b + "/") or (b + "/").startswith(a + "/"):
            return False
        if b.count("/") + self.height(a) > MAX_DEPTH + 1 or a.count("/") + self.height(b) > MAX_DEPTH + 1:
            return False
        self.note(f"renameat2 EXCHANGE {a} <-> {b}")
        self.touched, self.changed = [a, b, os.path.dirname(a), os.path.dirname(b)], None
        renameat2(self.abs(a), self.abs(b), RENAME_EXCHANGE)
        self.dirty(a)
        self.dirty(b)
        ta = [(q, self.paths[q]) for q in self.subtree(a)]
        tb = [(q, self.paths[q]) for q in self.subtree(b)]
        for q, _ in ta + tb:
            self.del_path(q)
        for q, node in ta:
            self.add_path(b + q[len(a):], node)
        for q, node in tb:
            self.add_path(a + q[len(b):], node)
        for p in (a, b):
            if self.paths[p].kind == "d":
                self.paths[p].mtime = None
        return True

    def op_link(self):
        if len(self.paths) >= self.max_entries:
            return False
        src = self.pick("fl")
        if src is None:
            return False
        dst = self.new_path("h")
        self.note(f"link {src} -> {dst}")
        self.touched, self.changed = [src, dst, os.path.dirname(dst)], None
        os.link(self.abs(src), self.abs(dst), follow_symlinks=False)
        self.add_path(dst, self.paths[src])
        self.dirty(dst)
        return True

    def op_unlink(self):
        p = self.pick("fl")
        if p is None:
            return False
        self.note(f"unlink {p}")
        self.touched, self.changed = [p, os.path.dirname(p)], None
        os.unlink(self.abs(p))
        self.del_path(p)
        self.dirty(p)
        return True

    def op_mkdir(self):
        if len(self.paths) >= self.max_entries:
            return False
        d = self.pick_dir(MAX_DEPTH - 1)
        p = f"{d}/{self.new_name('d')}"
        mode = self.rng.choice([0o755, 0o700, 0o775, 0o750, 0o1777])
        self.note(f"mkdir {p} {mode:o}")
        self.touched, self.changed = [p, d], None
        os.mkdir(self.abs(p), mode)
        node = Node("d", os.lstat(self.abs(p)).st_ino, mode)
        self.by_ino[node.ino] = node
        self.add_path(p, node)
        self.dirty(p)
        return True

    def op_rmdir(self):
        p = self.pick("d")
        if p is None:
            return False
        if self.rng.random() < 0.8:
            p = self.pick("d", lambda q, n: not self.children(q))
            if p is None:
                return False
        elif len(self.subtree(p)) > 40:
            return False    # rm -r of small subtrees only
        self.touched, self.changed = [p, os.path.dirname(p)], None
        if not self.children(p):
            self.note(f"rmdir {p}")
            os.rmdir(self.abs(p))
        else:
            self.note(f"rm -r {p}")
            for q in sorted(self.subtree(p), key=lambda q: (-q.count("/"), q)):
                if self.paths[q].kind == "d":
                    os.rmdir(self.abs(q))
                else:
                    os.unlink(self.abs(q))
        self.drop_tree(p)
        self.dirty(p)
        return True

    def op_symlink(self):
        if len(self.paths) >= self.max_entries:
            return False
        p = self.new_path("l")
        r = self.rng.random()
        if r < 0.3:
            sib = [os.path.basename(q) for q in self.children(os.path.dirname(p))]
            target = self.rng.choice(sib) if sib else "dangling"
        else:
            n = (self.rng.randint(1, 60) if r < 0.8 else self.rng.randint(60, 1000) if r < 0.95
                 else self.rng.randint(1000, 4000))
            target = "".join(self.rng.choice("abcdefghij/._- XYZ0123") for _ in range(n))
        self.note(f"symlink {p} -> ({len(target)} bytes)")
        self.touched, self.changed = [p, os.path.dirname(p)], None
        os.symlink(target, self.abs(p))
        node = Node("l", os.lstat(self.abs(p)).st_ino, 0o777, target=target)
        self.by_ino[node.ino] = node
        self.add_path(p, node)
        self.dirty(p)
        return True

    def xattr_total(self, node):
        """Bytes of xattrs with a per-entry overhead: kept under 3 KiB, which
        fits ext4's one block as well (the host self-test)."""
        return sum(len(k) + len(v) + 24 for k, v in node.xattrs.items())

    def op_setxattr(self):
        p = self.pick("fd")
        if p is None:
            return False
        node = self.paths[p]
        if node.xattrs and self.rng.random() < 0.3:
            name = self.rng.choice(sorted(node.xattrs))
        else:
            name = f"user.x{self.rng.randint(0, 40)}" + ("_" * self.rng.randint(0, 100) if self.rng.random() < 0.2 else "")
        r = self.rng.random()
        n = self.rng.randint(0, 64) if r < 0.6 else self.rng.randint(64, 512) if r < 0.85 else self.rng.randint(512, 2048)
        old = len(name) + len(node.xattrs[name]) + 24 if name in node.xattrs else 0
        if self.xattr_total(node) - old + len(name) + 24 + n > 3 * KiB:
            n = 0
            if self.xattr_total(node) - old + len(name) + 24 > 3 * KiB:
                return False
        value = self.rng.randbytes(n)
        flags = 0
        if self.rng.random() < 0.3:
            flags = os.XATTR_REPLACE if name in node.xattrs else os.XATTR_CREATE
        self.note(f"setxattr {p} {name} len={n} flags={flags}")
        self.touched, self.changed = [p], None
        os.setxattr(self.abs(p), name, value, flags, follow_symlinks=False)
        node.xattrs[name] = value
        return True

    def op_removexattr(self):
        p = self.pick("fd", lambda p, n: n.xattrs)
        if p is None:
            return False
        node = self.paths[p]
        name = self.rng.choice(sorted(node.xattrs))
        self.note(f"removexattr {p} {name}")
        self.touched, self.changed = [p], None
        os.removexattr(self.abs(p), name, follow_symlinks=False)
        del node.xattrs[name]
        return True

    def op_chmod(self):
        p = self.pick("fd")
        if p is None:
            return False
        node = self.paths[p]
        if node.kind == "d":
            mode = 0o700 | self.rng.choice([0, 0o55, 0o50, 0o77, 0o1000, 0o1055])
        else:
            mode = 0o600 | self.rng.choice([0, 0o44, 0o40, 0o100, 0o144, 0o177, 0o66])
        self.note(f"chmod {p} {mode:o}")
        self.touched, self.changed = [p], None
        os.chmod(self.abs(p), mode)
        node.mode = mode
        return True

    def op_utime(self):
        p = self.pick("fdl")
        if p is None:
            return False
        node = self.paths[p]
        mt = self.rng.randint(0, 2_000_000_000) * 10**9 + self.rng.randint(0, 10**9 - 1)
        at = self.rng.randint(0, 2_000_000_000) * 10**9 + self.rng.randint(0, 10**9 - 1)
        self.note(f"utime {p} mtime={mt}")
        self.touched, self.changed = [p], None
        os.utime(self.abs(p), ns=(at, mt), follow_symlinks=False)
        node.mtime = mt
        return True

    def op_mmap(self):
        if self.phase != "main":
            return False
        p = self.pick_file(lambda p, n: len(n.data) > 0)
        if p is None:
            return False
        node = self.paths[p]
        size = len(node.data)
        off = self.rng.randint(0, size - 1)
        n = self.rng.randint(1, min(size - off, 64 * KiB))
        data = self.gen(n)
        self.note(f"mmap write {p} off={off} len={n} size={size}")
        self.touched, self.changed = [p], (off, off + n)
        fd = os.open(self.abs(p), os.O_RDWR)
        try:
            m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            m[off:off + n] = data
            m.flush()
            if self.rng.random() < 0.5:     # read it back through the mapping too
                got = m[off:off + n]
                if got != data:
                    self.fail(f"mmap {p}: read back through the mapping differs at +{first_diff(got, data)}")
            m.close()
        finally:
            os.close(fd)
        self.model_write(node, off, data)
        return True

    def op_fsync(self):
        r = self.rng.random()
        if r < 0.03:
            self.note("sync")
            self.touched, self.changed = [], None
            os.sync()
            return True
        p = self.pick("fd")
        if p is None:
            return False
        node = self.paths[p]
        how = self.rng.choice(["fsync", "fdatasync"])
        self.note(f"{how} {p}")
        self.touched, self.changed = [p], None
        fd = os.open(self.abs(p), os.O_RDONLY if node.kind == "d" or self.rng.random() < 0.3 else os.O_WRONLY)
        try:
            (os.fsync if how == "fsync" else os.fdatasync)(fd)
        finally:
            os.close(fd)
        return True

    def op_read(self):
        p = self.pick("fdl")
        if p is None:
            return False
        self.note(f"read {p}")
        self.touched, self.changed = [], None
        self.check_path(p, full=self.rng.random() < 0.5)
        return True

    def expect_err(self, errnos, fn, *args, **kw):
        try:
            fn(*args, **kw)
        except OSError as e:
            if e.errno in errnos:
                return
            if e.errno == errno.ENOSPC:
                raise       # counted as ENOSPC by run(); the op changed nothing
            self.fail(f"{self.recent[-1]}: got {errno.errorcode.get(e.errno, e.errno)}, want "
                      f"{'/'.join(errno.errorcode[x] for x in errnos)}")
        self.fail(f"{self.recent[-1]}: succeeded, want {'/'.join(errno.errorcode[x] for x in errnos)}")

    def op_errcheck(self):
        r = self.rng.randrange(11)
        self.touched, self.changed = [], None
        a = self.abs
        if r == 0:
            p = self.pick("fdl")
            if p is None:
                return False
            self.note(f"errcheck open O_EXCL existing {p}")
            self.expect_err([errno.EEXIST], os.open, a(p), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        elif r == 1:
            p = self.pick("fdl")
            if p is None:
                return False
            self.note(f"errcheck mkdir existing {p}")
            self.expect_err([errno.EEXIST], os.mkdir, a(p))
        elif r == 2:
            p = self.pick("d", lambda p, n: self.children(p))
            if p is None:
                return False
            self.note(f"errcheck rmdir non-empty {p}")
            self.expect_err([errno.ENOTEMPTY], os.rmdir, a(p))
        elif r == 3:
            s, d = self.pick("fl"), self.pick("fdl")
            if s is None or d is None:
                return False
            self.note(f"errcheck link {s} onto existing {d}")
            self.expect_err([errno.EEXIST], os.link, a(s), a(d), follow_symlinks=False)
        elif r == 4:
            p = self.pick("d")
            if p is None:
                return False
            dst = f"{p}/{self.new_name('in')}"
            self.note(f"errcheck rename {p} into itself {dst}")
            self.expect_err([errno.EINVAL], os.rename, a(p), a(dst))
        elif r == 5:
            s = self.pick("d")
            d = self.pick("d", lambda q, n: self.children(q) and q != s)
            if s is None or d is None or (d + "/").startswith(s + "/") or (s + "/").startswith(d + "/"):
                return False
            self.note(f"errcheck rename dir {s} over non-empty {d}")
            self.expect_err([errno.ENOTEMPTY, errno.EEXIST], os.rename, a(s), a(d))
        elif r == 6:
            s, d = self.pick("fl"), self.pick("d")
            if s is None or d is None or s.startswith(d + "/"):
                return False
            self.note(f"errcheck rename non-dir {s} over dir {d}")
            self.expect_err([errno.EISDIR], os.rename, a(s), a(d))
        elif r == 7:
            s, d = self.pick("d"), self.pick("fl")
            if s is None or d is None or d.startswith(s + "/"):
                return False
            self.note(f"errcheck rename dir {s} over non-dir {d}")
            self.expect_err([errno.ENOTDIR], os.rename, a(s), a(d))
        elif r == 8:
            p = self.pick("fd")
            if p is None:
                return False
            name = "user.missing"
            self.note(f"errcheck removexattr/XATTR_REPLACE missing {p}")
            if name in self.paths[p].xattrs:
                return False
            self.expect_err([errno.ENODATA], os.removexattr, a(p), name, follow_symlinks=False)
            self.expect_err([errno.ENODATA], os.getxattr, a(p), name, follow_symlinks=False)
            self.expect_err([errno.ENODATA], os.setxattr, a(p), name, b"v", os.XATTR_REPLACE,
                            follow_symlinks=False)
        elif r == 9:
            p = self.pick("fd", lambda p, n: n.xattrs)
            if p is None:
                return False
            name = self.rng.choice(sorted(self.paths[p].xattrs))
            self.note(f"errcheck XATTR_CREATE existing {p} {name}")
            self.expect_err([errno.EEXIST], os.setxattr, a(p), name, b"v", os.XATTR_CREATE,
                            follow_symlinks=False)
        else:
            p = self.pick("d")
            if p is None:
                return False
            self.note(f"errcheck unlink dir {p}, open missing")
            self.expect_err([errno.EISDIR], os.unlink, a(p))
            self.expect_err([errno.ENOENT], os.open, a(p + "/nonexistent"), os.O_RDONLY)
        return True

    # ---- checking the filesystem against the model
    def check_path(self, p, full=True):
        node = self.paths[p]
        a = self.abs(p)
        try:
            st = os.lstat(a)
        except OSError as e:
            self.fail(f"{p}: lstat: {e}")
        kind = KIND.get(stat.S_IFMT(st.st_mode), "?")
        if kind != node.kind:
            self.fail(f"{p}: is a {KIND_NAME.get(kind, oct(st.st_mode))}, want {KIND_NAME[node.kind]}")
        if st.st_ino != node.ino:
            self.fail(f"{p}: st_ino {st.st_ino}, want {node.ino}")
        if node.kind != "l" and stat.S_IMODE(st.st_mode) != node.mode:
            self.fail(f"{p}: mode {stat.S_IMODE(st.st_mode):o}, want {node.mode:o}")
        if node.kind != "d" and st.st_nlink != node.links:
            names = [os.path.relpath(os.path.join(d, n), self.root)
                     for d, ds, fs in os.walk(self.abs(self.top)) for n in ds + fs
                     if os.lstat(os.path.join(d, n)).st_ino == st.st_ino]
            self.fail(f"{p}: st_nlink {st.st_nlink}, want {node.links}; the model has "
                      f"{sorted(q for q, n in self.paths.items() if n is node)}, the tree has {sorted(names)}")
        if node.mtime is not None and st.st_mtime_ns != node.mtime:
            self.fail(f"{p}: mtime {st.st_mtime_ns}, want {node.mtime}")
        if node.kind == "l":
            t = os.readlink(a)
            if t != node.target:
                self.fail(f"{p}: symlink target ({len(t)} bytes) differs from the model ({len(node.target)} bytes)")
            if st.st_size != len(os.fsencode(node.target)):
                self.fail(f"{p}: symlink st_size {st.st_size}, want {len(os.fsencode(node.target))}")
            return
        x = user_xattrs(a)
        if x != node.xattrs:
            diff = sorted(set(x) ^ set(node.xattrs)) or sorted(k for k in x if x[k] != node.xattrs[k])
            self.fail(f"{p}: xattrs differ: {diff[:5]}")
        if node.kind == "d":
            have = sorted(os.listdir(a))
            want = sorted(os.path.basename(q) for q in self.children(p))
            if have != want:
                self.fail(f"{p}: directory lists {len(have)} entries, want {len(want)}: missing "
                          f"{sorted(set(want) - set(have))[:5]} extra {sorted(set(have) - set(want))[:5]}")
            return
        want = node.data
        if st.st_size != len(want):
            self.fail(f"{p}: size {st.st_size}, want {len(want)}")
        fd = os.open(a, os.O_RDONLY)
        try:
            if full or len(want) <= 256 * KiB:
                got = read_all(fd)
                off, exp = 0, want
            else:
                off = self.rng.randint(0, len(want) + 8192)
                n = self.rng.randint(1, 256 * KiB)
                got = os.pread(fd, n, off)
                exp = want[off:off + n]
        finally:
            os.close(fd)
        if got != exp:
            i = first_diff(got, exp)
            self.fail(f"{p}: data differs at byte {off + i} (read {len(got)} bytes at {off}, file size "
                      f"{len(want)}): have {bytes(got[i:i + 16]).hex()} want {bytes(exp[i:i + 16]).hex()}")

    def check_all(self):
        for p in list(self.paths):
            self.check_path(p)
        if os.path.basename(self.top) not in os.listdir(self.root):
            self.fail(f"{self.top} missing")

    # ---- ENOSPC: adopt what the filesystem has for the touched paths
    def resync(self):
        self.resyncs += 1
        for p in self.touched:
            self.resync_path(p, adopt=True)

    def resync_path(self, p, adopt):
        a = self.abs(p)
        try:
            st = os.lstat(a)
        except FileNotFoundError:
            if p in self.paths:
                self.drop_tree(p)
            return
        node = self.by_ino.get(st.st_ino)
        if p in self.paths and self.paths[p] is not node:
            self.drop_tree(p)
        kind = KIND[stat.S_IFMT(st.st_mode)]
        fresh = node is None
        if node is None:
            node = Node(kind, st.st_ino, stat.S_IMODE(st.st_mode))
            if kind == "f":
                node.data = bytearray()
                adopt = True
            elif kind == "l":
                node.target = os.readlink(a)
            else:
                adopt = True
            self.by_ino[st.st_ino] = node
        if p not in self.paths:
            self.add_path(p, node)
        if adopt:
            node.mtime = None
            node.mode = stat.S_IMODE(st.st_mode)
            if kind != "l":
                node.xattrs = user_xattrs(a)
        if kind == "d":
            names = set(os.listdir(a))
            for q in self.children(p):
                if os.path.basename(q) not in names:
                    self.drop_tree(q)
            for n in sorted(names):
                self.resync_path(f"{p}/{n}", adopt=False)
        elif kind == "f" and adopt:
            fd = os.open(a, os.O_RDONLY)
            try:
                new = read_all(fd)
            finally:
                os.close(fd)
            old = node.data
            if not fresh:
                # bytes the op could not have changed must still be the model's
                lo, hi = self.changed or (len(old), len(old))
                m = min(lo, len(new), len(old))
                if new[:m] != old[:m]:
                    self.fail(f"after ENOSPC, {p} differs at byte {first_diff(new[:m], old[:m])}, "
                              f"before the range {lo}..{hi} the op could change")
                m2 = min(len(new), len(old))
                if hi < m2 and new[hi:m2] != old[hi:m2]:
                    self.fail(f"after ENOSPC, {p} differs at byte {hi + first_diff(new[hi:m2], old[hi:m2])}, "
                              f"after the range {lo}..{hi} the op could change")
                if self.changed is None and len(new) != len(old):
                    self.fail(f"after ENOSPC, {p} has size {len(new)}, want {len(old)} (the op does not write data)")
            node.data = new

    # ---- driving
    def run(self, nops, weights):
        kinds = list(weights)
        w = [weights[k] for k in kinds]
        done = 0
        misses = 0
        while done < nops:
            kind = self.rng.choices(kinds, w)[0]
            self.opno += 1
            try:
                ok = getattr(self, "op_" + kind)()
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    self.fail(f"op {self.recent[-1] if self.recent else kind}: unexpected {e!r}")
                self.note(f"  ENOSPC: {e}")
                self.enospc_log.append(self.recent[-2] if len(self.recent) > 1 else kind)
                self.enospc[kind] += 1
                self.resync()
                ok = True
            self.gc()
            if ok:
                self.counts[kind] += 1
                done += 1
                misses = 0
            else:
                misses += 1
                if misses > 10000:
                    self.fail("no op applies (model stuck)")

    def manifest(self):
        groups = {}
        for p, n in self.paths.items():
            groups.setdefault(id(n), []).append(p)
        out = {}
        for p, n in self.paths.items():
            e = {"type": KIND_NAME[n.kind]}
            if n.kind != "l":
                e["mode"] = n.mode
                e["xattrs"] = {k: v.hex() for k, v in sorted(n.xattrs.items())}
            if n.kind == "f":
                e["size"] = n.length()
                e["sha256"] = n.digest()
            if n.kind == "l":
                e["target"] = n.target
            if n.kind != "d":
                g = groups[id(n)]
                e["link"] = f"w{self.wid}:{n.ino}" if len(g) > 1 else None
            if n.mtime is not None:
                e["mtime_ns"] = n.mtime
            out[p] = e
        return out


def worker_main(args, wid, nops, nfull, budget, q, full_event):
    os.umask(0)
    w = Worker(args.dir, wid, args.seed, args.max_file, budget, args.max_entries)
    try:
        os.mkdir(w.abs(w.top), 0o755)
        node = Node("d", os.lstat(w.abs(w.top)).st_ino, 0o755)
        w.by_ino[node.ino] = node
        w.add_path(w.top, node)
        w.run(nops, WEIGHTS)
        w.check_all()
        if args.fill:
            q.put(("ready", wid, None))
            full_event.wait()
            w.phase = "full"
            w.run(nfull, dict(WEIGHTS, mmap=0))
            w.check_all()
        q.put(("done", wid, {
            "entries": w.manifest(), "counts": dict(w.counts), "enospc": dict(w.enospc),
            "unsupported": dict(w.unsupported), "written": w.written, "resyncs": w.resyncs}))
    except Failure as e:
        print(f"workload: w{wid} FAILED at op #{w.opno} ({w.phase} phase): {e}", flush=True)
        print(f"workload: w{wid} last ops (seed {args.seed}):\n  " + "\n  ".join(w.recent), flush=True)
        if w.enospc_log:
            print(f"workload: w{wid} last ops that got ENOSPC:\n  " + "\n  ".join(w.enospc_log), flush=True)
        q.put(("failed", wid, str(e)))
    except Exception as e:   # noqa: BLE001 - a crash is a failure too
        traceback.print_exc()
        print(f"workload: w{wid} crashed at op #{w.opno}: {e!r}; last ops:\n  " + "\n  ".join(w.recent), flush=True)
        q.put(("failed", wid, repr(e)))


# ---- the fill phase (main process)
def write_fill(path, seed, i, size, log):
    """Write up to size bytes of fill stream i; returns (size, sha, hit_enospc)."""
    chunk = 4 * MiB
    block = random.Random(f"{seed}:fill:{i}").randbytes(4096)
    tag = (0xf111 << 48) | i
    h = hashlib.sha256()
    written = 0
    hit = False
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            return None
        raise
    try:
        while written < size and not hit:
            data = stamped(block, tag, min(chunk, size - written), written)
            view = memoryview(data)
            done = 0
            while done < len(data):
                try:
                    n = os.write(fd, view[done:])
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    hit = True
                    break
                h.update(view[done:done + n])
                done += n
            written += done
        try:
            os.fsync(fd)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
            log.append(f"fsync {path}: ENOSPC")
            hit = True
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if st.st_size != written:
        raise Failure(f"{path}: size {st.st_size} after writing {written} bytes")
    return written, h.hexdigest(), hit


def fill_phase(args, extra, log):
    """Fill the disk until ENOSPC; returns the fill files' manifest entries."""
    fdir = os.path.join(args.dir, "fill")
    os.mkdir(fdir, 0o755)
    extra["fill"] = {"type": "dir", "mode": 0o755, "xattrs": {}}
    fsize = max(args.max_file, 64) * MiB
    i = 0
    t0 = time.time()
    total = 0
    while True:
        rel = f"fill/big{i}"
        r = write_fill(os.path.join(args.dir, rel), args.seed, i, fsize, log)
        if r is None:
            log.append(f"create {rel}: ENOSPC")
            break
        size, sha, hit = r
        total += size
        extra[rel] = {"type": "file", "mode": 0o644, "xattrs": {}, "size": size, "sha256": sha, "link": None}
        if hit:
            # the partly written file reads back as what was written
            if file_sha(os.path.join(args.dir, rel)) != sha:
                raise Failure(f"{rel}: after ENOSPC its data differs from the {size} bytes written")
            break
        i += 1
        if i > 100000:
            raise Failure("the disk never filled")
    st = os.statvfs(args.dir)
    log.append(f"fill: ENOSPC after {total / MiB:.0f} MiB in {i + 1} files ({time.time() - t0:.0f}s), "
               f"{st.f_bavail * st.f_frsize // KiB} KiB left available")
    # the filesystem still works: stat, list, read a file back
    names = sorted(os.listdir(fdir))
    if len(names) != sum(1 for k in extra if k.startswith("fill/")):
        raise Failure(f"fill/: lists {len(names)} files, want {sum(1 for k in extra if k.startswith('fill/'))}")
    first = "fill/big0"
    if first in extra and file_sha(os.path.join(args.dir, first)) != extra[first]["sha256"]:
        raise Failure(f"{first}: data differs after the disk filled")
    # a small file may or may not fit now; either is fine, but it must be right
    tiny = os.path.join(fdir, "tiny")
    try:
        with open(tiny, "wb") as f:
            f.write(b"tiny file on a full disk\n")
        extra["fill/tiny"] = {"type": "file", "mode": 0o644, "xattrs": {}, "size": 25,
                              "sha256": hashlib.sha256(b"tiny file on a full disk\n").hexdigest(), "link": None}
        log.append("fill: a tiny file still fits")
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        log.append("fill: a tiny file gets ENOSPC")
        if os.path.exists(tiny):
            os.unlink(tiny)


def free_phase(args, extra, log):
    """Delete every other fill file; new writes of a quarter of that must fit."""
    big = sorted((k for k in extra if k.startswith("fill/big")), key=lambda k: int(k[8:]))
    freed = 0
    for k in big[::2]:
        os.unlink(os.path.join(args.dir, k))
        freed += extra.pop(k)["size"]
    os.sync()
    want = max(16 * MiB, freed // 4)
    j = 0
    got = 0
    retried = False
    while got < want:
        rel = f"fill/after{j}"
        path = os.path.join(args.dir, rel)
        n = min(16 * MiB, want - got)
        r = write_fill(path, args.seed, 1000 + j, n, log)
        if r is None or r[2]:
            if retried:
                raise Failure(f"ENOSPC writing {rel} after deleting {freed / MiB:.0f} MiB "
                              f"({got / MiB:.0f} MiB of {want / MiB:.0f} MiB written)")
            log.append(f"free: ENOSPC at {got / MiB:.0f} MiB; retrying after sync")
            retried = True
            if os.path.exists(path):
                os.unlink(path)
            os.sync()
            time.sleep(1)
            continue
        size, sha, _ = r
        extra[rel] = {"type": "file", "mode": 0o644, "xattrs": {}, "size": size, "sha256": sha, "link": None}
        got += size
        j += 1
    log.append(f"free: deleted {len(big[::2])} files ({freed / MiB:.0f} MiB), then wrote {got / MiB:.0f} MiB")


# ---- verify
def walk(root):
    out = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(root, rel) if rel else root) as it:
            for e in it:
                p = f"{rel}/{e.name}" if rel else e.name
                st = e.stat(follow_symlinks=False)
                out[p] = st
                if stat.S_ISDIR(st.st_mode):
                    stack.append(p)
    return out


def verify_tree(root, entries):
    """Compare root with the manifest entries; returns the differences."""
    diffs = []
    have = walk(root)
    for p in sorted(set(entries) - set(have)):
        diffs.append(f"{p}: missing")
    for p in sorted(set(have) - set(entries)):
        diffs.append(f"{p}: not in the manifest")
    groups = collections.defaultdict(list)
    owner = {}
    sizes = collections.Counter(e.get("link") for e in entries.values())
    for p in sorted(set(entries) & set(have)):
        e, st = entries[p], have[p]
        a = os.path.join(root, p)
        t = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink"}.get(stat.S_IFMT(st.st_mode), oct(st.st_mode))
        if t != e["type"]:
            diffs.append(f"{p}: is a {t}, want {e['type']}")
            continue
        if "mode" in e and stat.S_IMODE(st.st_mode) != e["mode"]:
            diffs.append(f"{p}: mode {stat.S_IMODE(st.st_mode):o}, want {e['mode']:o}")
        if "mtime_ns" in e and st.st_mtime_ns != e["mtime_ns"]:
            diffs.append(f"{p}: mtime {st.st_mtime_ns}, want {e['mtime_ns']}")
        try:
            if "xattrs" in e:
                x = {k: v.hex() for k, v in user_xattrs(a).items()}
                if x != e["xattrs"]:
                    bad = sorted(set(x) ^ set(e["xattrs"])) or sorted(k for k in x if x[k] != e["xattrs"][k])
                    diffs.append(f"{p}: xattrs differ: {bad[:5]}")
            if t == "file":
                if st.st_size != e["size"]:
                    diffs.append(f"{p}: size {st.st_size}, want {e['size']}")
                elif file_sha(a) != e["sha256"]:
                    diffs.append(f"{p}: data differs (sha256)")
            elif t == "symlink":
                tg = os.readlink(a)
                if tg != e["target"]:
                    diffs.append(f"{p}: symlink target differs ({len(tg)} bytes, want {len(e['target'])})")
        except OSError as ex:
            diffs.append(f"{p}: {ex}")
        if t != "dir":
            key = e.get("link") or ("path", p)
            groups[key].append((p, st))
    for key, members in groups.items():
        inos = {st.st_ino for _, st in members}
        paths = [p for p, _ in members]
        if len(inos) != 1:
            diffs.append(f"hard links {paths[:4]}: on {len(inos)} inodes, want one")
        for p, st in members:
            want = sizes[key] if isinstance(key, str) else 1
            if st.st_nlink != want:
                diffs.append(f"{p}: st_nlink {st.st_nlink}, want {want}")
        for ino in inos:
            if ino in owner and owner[ino] != key:
                diffs.append(f"{paths[0]}: shares inode {ino} with {owner[ino]}, want its own")
            owner[ino] = key
    return diffs, len(entries)


def cmd_verify(args):
    with open(args.manifest) as f:
        m = json.load(f)
    diffs, n = verify_tree(args.dir, m["entries"])
    for d in diffs:
        print(f"verify: DIFF {d}")
    if diffs:
        print(f"verify: {n} entries, {len(diffs)} differences")
        return 1
    print(f"verify: {n} entries match")
    return 0


def cmd_run(args):
    t0 = time.time()
    os.umask(0o022)
    if os.listdir(args.dir):
        print(f"workload: {args.dir} is not empty", file=sys.stderr)
        return 2
    st = os.statvfs(args.dir)
    avail = st.f_bavail * st.f_frsize
    budget = min(256 * MiB, int(avail * 0.4) // args.workers)
    nfull = args.full_ops if args.full_ops is not None else args.ops // 10
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    full_event = ctx.Event()
    procs = []
    for k in range(args.workers):
        n = args.ops // args.workers + (1 if k < args.ops % args.workers else 0)
        nf = nfull // args.workers + (1 if k < nfull % args.workers else 0)
        p = ctx.Process(target=worker_main, args=(args, k, n, nf, budget, q, full_event))
        p.start()
        procs.append(p)
    results, failed, ready = {}, [], set()
    extra = {}
    log = []

    def collect(until):
        while not until():
            try:
                kind, wid, val = q.get(timeout=1)
            except queue.Empty:
                for k, p in enumerate(procs):
                    if p.exitcode is not None and k not in results and k not in failed:
                        failed.append(k)
                        print(f"workload: w{k} died (exit code {p.exitcode})", flush=True)
                continue
            if kind == "ready":
                ready.add(wid)
            elif kind == "done":
                results[wid] = val
            else:
                failed.append(wid)

    nw = args.workers
    fill_ok = True
    if args.fill:
        collect(lambda: len(ready) + len(failed) >= nw)
        t_main = time.time() - t0
        print(f"workload: {args.ops} ops done in {t_main:.0f}s; filling the disk", flush=True)
        if not failed:
            try:
                fill_phase(args, extra, log)
            except Failure as e:
                print(f"workload: fill FAILED: {e}", flush=True)
                fill_ok = False
        full_event.set()
        t_full = time.time()
    collect(lambda: len(results) + len(failed) >= nw)
    if args.fill:
        log.append(f"full: {nfull} ops on the full disk in {time.time() - t_full:.0f}s")
    if not args.fill:
        t_main = time.time() - t0
    for p in procs:
        p.join()
    if args.fill and fill_ok and not failed:
        try:
            free_phase(args, extra, log)
        except Failure as e:
            print(f"workload: free FAILED: {e}", flush=True)
            fill_ok = False
    for line in log:
        print(f"workload: {line}")
    if failed or not fill_ok:
        print(f"workload: FAILED (workers {sorted(failed)} failed)" if failed else "workload: FAILED")
        return 1
    entries = {}
    counts, enospc, unsup = collections.Counter(), collections.Counter(), collections.Counter()
    written = resyncs = 0
    for k in sorted(results):
        r = results[k]
        entries.update(r["entries"])
        counts.update(r["counts"])
        enospc.update(r["enospc"])
        unsup.update(r["unsupported"])
        written += r["written"]
        resyncs += r["resyncs"]
    entries.update(extra)
    with open(args.manifest, "w") as f:
        json.dump({"version": 1, "seed": args.seed, "ops": args.ops, "workers": args.workers,
                   "entries": entries}, f, indent=0, sort_keys=True)
    diffs = verify_tree(args.dir, entries)[0] if args.final_check else []
    for d in diffs:
        print(f"workload: final check: DIFF {d}")
    elapsed = time.time() - t0
    print(f"run: {sum(counts.values())} ops in {elapsed:.1f}s (main phase {t_main:.1f}s) by {nw} workers, "
          f"seed {args.seed}: " + " ".join(f"{k}={counts[k]}" for k in WEIGHTS)
          + f"; ENOSPC {sum(enospc.values())}" + (f" ({dict(enospc)}, {resyncs} resyncs)" if enospc else "")
          + (f"; unsupported {dict(unsup)}" if unsup else "")
          + f"; {written / MiB:.1f} MiB written; {len(entries)} entries in the manifest"
          + ("; FINAL CHECK FAILED" if diffs else ""), flush=True)
    return 1 if diffs else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", allow_abbrev=False)
    r.add_argument("--dir", required=True)
    r.add_argument("--ops", type=int, required=True)
    r.add_argument("--workers", type=int, default=4)
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--manifest", required=True)
    r.add_argument("--max-file", type=int, default=32, help="MiB")
    r.add_argument("--max-entries", type=int, default=400, help="per worker")
    r.add_argument("--full-ops", type=int, default=None)
    r.add_argument("--fill", action="store_true")
    r.add_argument("--no-final-check", dest="final_check", action="store_false",
                   help="skip checking the whole tree against the merged model at the end")
    v = sub.add_parser("verify", allow_abbrev=False)
    v.add_argument("--dir", required=True)
    v.add_argument("--manifest", required=True)
    args = ap.parse_args()
    sys.exit(cmd_run(args) if args.cmd == "run" else cmd_verify(args))


if __name__ == "__main__":
    main()
