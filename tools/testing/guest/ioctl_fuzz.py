#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Random ioctls on a mounted rbtrfs.

usage: ioctl_fuzz.py DIR ITERS SEED [--unprivileged]

Issues ITERS ioctls on file descriptors of directory DIR, its parent (the
top directory of the subvolume) and DIR/file:
every btrfs ioctl rbtrfs implements, the VFS's attribute-flag ioctls, a
dozen btrfs ioctls it does not implement and random numbers in the btrfs
range. Arguments are random: contents (zeros, random bytes, interesting
values, structured ones per command), sizes (huge item counts and buffer
sizes), and pointers, both the argument and the ones inside it (NULL,
kernel addresses, a PROT_NONE guard page, the end of a mapping so that
reads and writes cross into the guard, misaligned ones). All memory the
kernel may legitimately write lies in one arena with a guard after it.

Checks on the way: every call returns 0 or -1; commands rbtrfs does not
implement are ENOTTY; as an unprivileged user the privileged ones are EPERM
whenever their argument is readable (C btrfs's order of checks), and so is
changing the flags of a file one does not own; every 500 calls FS_INFO
still gives the same fsid and TREE_SEARCH of the root tree still ends.
Prints a count per command and errno; exit status 1 on a failed check."""
import argparse, collections, ctypes, errno, os, random, struct, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import btrfs_ioctl as B

libc = ctypes.CDLL(None, use_errno=True)
libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
libc.ioctl.restype = ctypes.c_int
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mmap.restype = ctypes.c_void_p
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]

ARENA = 40 << 20      # room for a 16 MiB TREE_SEARCH_V2 answer after any argument
GUARD = 1 << 20
LOW = 8 << 20         # arguments start in the first 8 MiB

PRIVILEGED = {"TREE_SEARCH", "TREE_SEARCH_V2", "INO_PATHS", "LOGICAL_INO", "LOGICAL_INO_V2",
              "SET_FEATURES", "SET_FSLABEL", "DEFAULT_SUBVOL"}

# (name, number, kind): kind "ok" is implemented, "nope" is a btrfs ioctl
# rbtrfs does not implement (ENOTTY), "vfs" one the VFS answers itself.
COMMANDS = [
    ("SYNC", B.SYNC, "ok"), ("TREE_SEARCH", B.TREE_SEARCH, "ok"), ("TREE_SEARCH_V2", B.TREE_SEARCH_V2, "ok"),
    ("INO_LOOKUP", B.INO_LOOKUP, "ok"), ("SPACE_INFO", B.SPACE_INFO, "ok"), ("WAIT_SYNC", B.WAIT_SYNC, "ok"),
    ("START_SYNC", B.START_SYNC, "ok"), ("SUBVOL_GETFLAGS", B.SUBVOL_GETFLAGS, "ok"),
    ("DEV_INFO", B.DEV_INFO, "ok"), ("FS_INFO", B.FS_INFO, "ok"), ("INO_PATHS", B.INO_PATHS, "ok"),
    ("LOGICAL_INO", B.LOGICAL_INO, "ok"), ("LOGICAL_INO_V2", B.LOGICAL_INO_V2, "ok"),
    ("GET_FSLABEL", B.GET_FSLABEL, "ok"), ("SET_FSLABEL", B.SET_FSLABEL, "ok"),
    ("GET_DEV_STATS", B.GET_DEV_STATS, "ok"), ("GET_FEATURES", B.GET_FEATURES, "ok"),
    ("SET_FEATURES", B.SET_FEATURES, "ok"), ("GET_SUPPORTED_FEATURES", B.GET_SUPPORTED_FEATURES, "ok"),
    ("GET_SUBVOL_INFO", B.GET_SUBVOL_INFO, "ok"), ("GET_SUBVOL_ROOTREF", B.GET_SUBVOL_ROOTREF, "ok"),
    ("INO_LOOKUP_USER", B.INO_LOOKUP_USER, "ok"), ("GETVERSION", B.FS_IOC_GETVERSION, "ok"),
    ("GETFLAGS", B.FS_IOC_GETFLAGS, "ok"), ("SETFLAGS", B.FS_IOC_SETFLAGS, "ok"),
    ("FSGETXATTR", B.FS_IOC_FSGETXATTR, "ok"), ("FSSETXATTR", B.FS_IOC_FSSETXATTR, "ok"),
    ("SNAP_CREATE", B.iow(1, 4096), "ok"), ("DEFRAG", B.iow(2, 4096), "nope"), ("RESIZE", B.iow(3, 4096), "nope"),
    ("SCAN_DEV", B.iow(4, 4096), "nope"), ("TRANS_START", B.io(6), "nope"), ("ADD_DEV", B.iow(10, 4096), "nope"),
    ("SUBVOL_CREATE", B.iow(14, 4096), "ok"), ("SNAP_DESTROY", B.iow(15, 4096), "ok"),
    ("DEFAULT_SUBVOL", B.iow(19, 8), "ok"), ("SUBVOL_SETFLAGS", B.iow(26, 8), "ok"),
    ("SUBVOL_CREATE_V2", B.iow(24, 4096), "ok"), ("SNAP_CREATE_V2", B.iow(23, 4096), "ok"),
    ("SCRUB", B.iowr(27, 1024), "nope"), ("SCRUB_CANCEL", B.io(28), "nope"), ("BALANCE_V2", B.iowr(32, 1024), "nope"),
    ("QUOTA_CTL", B.iowr(40, 16), "nope"), ("SEND", B.iow(38, 72), "nope"), ("DEV_REPLACE", B.iowr(53, 2600), "nope"),
    ("ENCODED_READ", B.ior(64, 128), "nope"), ("SNAP_DESTROY_V2", B.iow(63, 4096), "ok"),
    ("CLONE", B.iow(9, 4), "vfs"), ("CLONE_RANGE", B.iow(13, 32), "vfs"), ("FIEMAP", B.iowr(11, 32, ord("f")), "vfs"),
]
# Numbers random commands avoid: those of the list the VFS or rbtrfs take,
# and FIDEDUPERANGE (the VFS's).
IMPLEMENTED_NRS = {c[1] for c in COMMANDS if c[2] != "nope"} | {B.iowr(54, 24)}

INTERESTING = [0, 1, 2, 5, 6, 7, 255, 256, 257, 4095, 4096, 65536, (1 << 31) - 1, 1 << 31, (1 << 32) - 1,
               1 << 32, (1 << 63) - 1, 1 << 63, B.M64 - 8, B.M64 - 1, B.M64]


class Fuzzer:
    def __init__(self, d, seed, unpriv):
        self.r = random.Random(seed)
        self.unpriv = unpriv
        self.counts = collections.Counter()
        self.failures = []
        base = libc.mmap(None, ARENA + GUARD, 3, 0x22, -1, 0)  # PROT_READ|WRITE, MAP_PRIVATE|ANON
        if base in (None, ctypes.c_void_p(-1).value):
            raise OSError("mmap")
        self.base = base
        self.guard = base + ARENA
        if libc.mprotect(self.guard, GUARD, 0) != 0:
            raise OSError("mprotect")
        f = os.path.join(d, "file")
        flags = os.O_RDONLY if unpriv else os.O_RDWR
        # The directory above DIR is the subvolume's top directory
        # (SUBVOL_GETFLAGS, INO_LOOKUP_USER answer there).
        self.fds = [("top", os.open(os.path.dirname(os.path.abspath(d)), os.O_RDONLY)),
                    ("dir", os.open(d, os.O_RDONLY)), ("file", os.open(f, flags)),
                    ("file-ro", os.open(f, os.O_RDONLY))]
        self.fsid = B.fs_info(self.fds[0][1])["fsid"]

    def mem(self, off, data):
        ctypes.memmove(self.base + off, bytes(data), len(data))

    def pointer(self, size):
        """A pointer for `size` bytes, and whether all of them are readable
        and writable."""
        c = self.r.random()
        if c < 0.70:
            off = self.r.randrange(LOW - size) if size < LOW else 0
            if self.r.random() < 0.3:
                off |= self.r.randrange(1, 8)
            return self.base + off, True
        if c < 0.80:
            # Crossing into the guard: partly readable.
            return self.guard - self.r.randrange(1, max(2, min(size, 4096))), size == 0
        return self.r.choice([0, 1, 0xfff, self.guard, self.guard + 4095,
                              0xffff888000000000, 0xffffffffff600000, B.M64 - 7]), False

    def content(self, size):
        c = self.r.random()
        if c < 0.25:
            return bytearray(size)
        if c < 0.5:
            return bytearray(self.r.getrandbits(8) for _ in range(size))
        b = bytearray(size)
        for off in range(0, size - 7, 8):
            if self.r.random() < 0.5:
                struct.pack_into("<Q", b, off, self.r.choice(INTERESTING))
        return b

    def structured(self, name, b):
        """Makes the argument plausible for its command more often than
        random bytes would, with embedded pointers into the arena or not."""
        r = self.r
        q = lambda off, v: struct.pack_into("<Q", b, off, v & B.M64) if off + 8 <= len(b) else None
        if name in ("TREE_SEARCH", "TREE_SEARCH_V2"):
            q(0, r.choice([0, 1, 2, 3, 4, 5, 7, 9, 10, 11, 6, 8, 256, B.M64 - 8, r.getrandbits(64)]))
            q(8, r.choice([0, 256, r.getrandbits(64)]))
            q(16, r.choice([B.M64, 300, r.getrandbits(64)]))
            q(32, B.M64)
            q(48, r.choice([B.M64, r.randrange(20)]))
            struct.pack_into("<III", b, 56, r.choice([0, 1, 84, 300]), r.choice([255, 0x1ff, 96]),
                             r.choice([0, 1, 3, 4096, 0xffffffff]))
            if name == "TREE_SEARCH_V2":
                q(104, r.choice([0, 31, 32, 100, 4096, 1 << 20, 16 << 20, B.M64]))
        elif name in ("INO_PATHS", "LOGICAL_INO", "LOGICAL_INO_V2"):
            q(0, r.choice([256, 257, 300, 1 << 20, 13 << 20, r.getrandbits(64)]))
            q(8, r.choice([0, 8, 16, 24, 4096, 65536, 16 << 20, B.M64]))
            if r.random() < 0.5:
                for off in range(16, 40, 8):
                    q(off, 0)
            q(40, r.choice([0, 1, 2]))
            ptr, _ = self.pointer(r.choice([16, 4096, 65536]))
            q(48, ptr)
        elif name == "SPACE_INFO":
            q(0, r.choice([0, 1, 3, 4, 5, 170, 171, 1 << 40, B.M64]))
        elif name == "DEV_INFO":
            q(0, r.choice([0, 1, 2, B.M64]))
            if r.random() < 0.7:
                b[8:24] = bytes(16)
        elif name == "GET_DEV_STATS":
            q(0, r.choice([0, 1, 2]))
            q(8, r.choice([0, 1, 5, 6, B.M64]))
            q(16, r.choice([0, 1, 2, B.M64]))
        elif name in ("INO_LOOKUP", "INO_LOOKUP_USER"):
            q(0, r.choice([0, 5, 256, 257, 1000, B.M64]))
            q(8, r.choice([0, 5, 256, 257, 258, B.M64]))
        elif name == "GET_SUBVOL_ROOTREF":
            q(0, r.choice([0, 256, B.M64]))
        elif name in ("WAIT_SYNC",):
            q(0, r.choice([0, 1, 5, 50, 1 << 40, B.M64]))
        elif name == "SET_FSLABEL":
            if r.random() < 0.3:
                # Unterminated: 256 bytes without a NUL (EINVAL).
                b[:256] = bytes(r.randrange(1, 256) for _ in range(256))
            elif r.random() < 0.5:
                n = r.randrange(256)
                b[:n] = bytes(r.choice(b"abcxyz-_ ") for _ in range(n))
                b[n:] = bytes(256 - n)
        elif name in ("SETFLAGS", "FSSETXATTR"):
            struct.pack_into("<I", b, 0, r.choice([0, 0x8, 0x10, 0x20, 0x40, 0x80, 0x400, 0x4, 0x10000,
                                                    0x800000, 0x100000, r.getrandbits(32)]))
        elif name == "SET_FEATURES":
            for off in range(0, 48, 8):
                q(off, r.choice([0, 0, 1 << 9, 1 << 13, 1 << 1, r.getrandbits(64)]))

    def one(self):
        r = self.r
        if r.random() < 0.08:
            # A random number in the btrfs range, not one the VFS takes.
            while True:
                cmd = (r.randrange(4) << 30) | (r.randrange(1 << 14) << 16) | (0x94 << 8) | r.randrange(256)
                if cmd not in IMPLEMENTED_NRS:
                    break
            name, kind = "random", "random"
        else:
            name, cmd, kind = r.choice(COMMANDS)
        size = (cmd >> 16) & 0x3fff
        fdname, fd = r.choice(self.fds)
        if size == 0 and r.random() < 0.5:
            arg, readable = r.choice([0, 1, B.M64, r.getrandbits(64)]), False
        else:
            # Room for the struct and whatever a command writes after it.
            arg, readable = self.pointer(max(size, 16))
            if readable:
                b = self.content(max(size, 16))
                if r.random() < 0.6:
                    self.structured(name, b)
                self.mem(arg - self.base, b)
        ctypes.set_errno(0)
        ret = libc.ioctl(fd, cmd, arg)
        err = ctypes.get_errno() if ret == -1 else 0
        self.counts[(name, errno.errorcode.get(err, str(err)) if err else "ok")] += 1
        self.verify(name, kind, fdname, arg, readable, ret, err)

    def verify(self, name, kind, fdname, arg, readable, ret, err):
        def bad(msg):
            self.failures.append("%s on %s (arg %#x): %s" % (name, fdname, arg, msg))
        if ret not in (0, -1):
            bad("returned %d" % ret)
        if kind == "nope" and err != errno.ENOTTY:
            bad("not implemented, but errno %d" % err)
        if kind == "random" and err != errno.ENOTTY:
            bad("random command answered errno %d" % err)
        if not self.unpriv:
            return
        if name in PRIVILEGED and err != errno.EPERM:
            bad("unprivileged: errno %d, not EPERM" % err)
        if not readable:
            return
        data = ctypes.string_at(arg, 32)
        if name == "INO_LOOKUP" and struct.unpack_from("<Q", data, 8)[0] != 256 and err != errno.EPERM:
            bad("unprivileged INO_LOOKUP of a directory: errno %d" % err)
        if name == "GET_DEV_STATS" and struct.unpack_from("<Q", data, 16)[0] & 1 and err != errno.EPERM:
            bad("unprivileged DEV_STATS reset: errno %d" % err)
        if name in ("SETFLAGS", "FSSETXATTR") and err != errno.EPERM:
            bad("unprivileged flags change of root's file: errno %d" % err)

    def sanity(self):
        fd = self.fds[0][1]
        if B.fs_info(fd)["fsid"] != self.fsid:
            self.failures.append("FS_INFO fsid changed")
        if not self.unpriv:
            items = B.search_all(fd, 1)
            if not any(k[1] == B.KEY_TYPES["ROOT_ITEM"] and k[0] == 5 for _, k, _ in items):
                self.failures.append("TREE_SEARCH of the root tree lost the FS_TREE root item")


def main():
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", metavar="DIR")
    ap.add_argument("iters", metavar="ITERS", type=int)
    ap.add_argument("seed", metavar="SEED", type=lambda s: int(s, 0), help="0x.. allowed")
    ap.add_argument("--unprivileged", action="store_true",
                    help="running as an unprivileged user: expect EPERM where C btrfs gives it")
    args = ap.parse_args()
    d, iters, seed = args.dir, args.iters, args.seed
    f = Fuzzer(d, seed, args.unprivileged)
    for i in range(iters):
        f.one()
        if i % 500 == 499:
            f.sanity()
        if len(f.failures) > 20:
            break
    for fdname, fd in f.fds:
        os.close(fd)
    per = collections.defaultdict(list)
    for (name, res), n in sorted(f.counts.items()):
        per[name].append("%s %d" % (res, n))
    for name in sorted(per):
        print("  %-22s %s" % (name, ", ".join(per[name])))
    print("%d ioctls%s, %d failed checks" % (sum(f.counts.values()), " (unprivileged)" if f.unpriv else "",
                                             len(f.failures)))
    for m in f.failures[:20]:
        print("FAIL: " + m)
    sys.exit(1 if f.failures else 0)


if __name__ == "__main__":
    main()
