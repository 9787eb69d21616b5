#!/usr/bin/env python3
"""Checks BTRFS_IOC_LOGICAL_INO(_V2), INO_PATHS and INO_LOOKUP on a mounted
filesystem against the file extents `btrfs inspect-internal dump-tree`
printed for it (taken while it was unmounted) and the paths os.walk sees.

usage: logical_resolve.py DUMP MNT [--passes N] [--progs N] [--bad-args]
Exit status 1 on any mismatch, with the first ones printed."""
import argparse, ctypes, errno, fcntl, os, re, struct, subprocess, sys

def iowr(nr, size):
    return (3 << 30) | (size << 16) | (0x94 << 8) | nr

INO_LOOKUP, INO_PATHS = iowr(18, 4096), iowr(35, 56)
LOGICAL_INO, LOGICAL_INO_V2 = iowr(36, 56), iowr(59, 56)
FS_TREE = 5

def parse_dump(path):
    """(ino, file offset, disk bytenr, extent offset, num bytes) of every
    regular extent with data."""
    out, key, cur = [], None, None
    text = open(path).read()
    for line in text.splitlines():
        m = re.search(r"key \((\d+) EXTENT_DATA (\d+)\)", line)
        if m:
            key = (int(m.group(1)), int(m.group(2)))
            continue
        m = re.search(r"extent data disk byte (\d+) nr (\d+)", line)
        if m and key:
            disk = int(m.group(1))
            cur = [key[0], key[1], disk]
            continue
        m = re.search(r"extent data offset (\d+) nr (\d+)", line)
        if m and key and cur and cur[2] != 0:
            out.append((cur[0], cur[1], cur[2], int(m.group(1)), int(m.group(2))))
            cur = None
    return out

def logical_ino(fd, logical, v2=False, flags=0, size=65536, reserved=b"\0" * 24, inodes=None):
    buf = ctypes.create_string_buffer(max(size, 16))
    ptr = ctypes.addressof(buf) if inodes is None else inodes
    args = bytearray(struct.pack("<QQ", logical, size) + reserved + struct.pack("<QQ", flags, ptr))
    fcntl.ioctl(fd, LOGICAL_INO_V2 if v2 else LOGICAL_INO, args, True)
    left, missing, cnt, missed = struct.unpack_from("<IIII", buf.raw, 0)
    vals = struct.unpack_from("<%dQ" % cnt, buf.raw, 16)
    return [tuple(vals[i:i + 3]) for i in range(0, cnt, 3)], (left, missing, cnt, missed)

def ino_paths(fd, ino, size=4096, out=None):
    buf = ctypes.create_string_buffer(max(size, 16))
    ptr = ctypes.addressof(buf) if out is None else out
    args = bytearray(struct.pack("<QQ", ino, size) + b"\0" * 32 + struct.pack("<Q", ptr))
    fcntl.ioctl(fd, INO_PATHS, args, True)
    raw = buf.raw
    left, missing, cnt, missed = struct.unpack_from("<IIII", raw, 0)
    paths = []
    for i in range(cnt):
        off = struct.unpack_from("<Q", raw, 16 + 8 * i)[0]
        s = raw[16 + off:]
        paths.append(s[:s.index(b"\0")].decode())
    return sorted(paths), (left, missing, cnt, missed)

def ino_lookup(fd, tree, objectid):
    args = bytearray(struct.pack("<QQ", tree, objectid) + b"\0" * 4080)
    fcntl.ioctl(fd, INO_LOOKUP, args, True)
    t, = struct.unpack_from("<Q", args, 0)
    name = bytes(args[16:])
    return t, name[:name.index(b"\0")].decode()

def errno_of(f):
    try:
        f()
    except OSError as e:
        return e.errno
    return 0

def main():
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dump"); ap.add_argument("mnt")
    ap.add_argument("--passes", type=int, default=1)
    ap.add_argument("--progs", type=int, default=0, help="also check N addresses with btrfs-progs")
    ap.add_argument("--bad-args", action="store_true")
    ap.add_argument("--unprivileged", action="store_true", help="expect EPERM")
    a = ap.parse_args()
    fd = os.open(a.mnt, os.O_RDONLY | os.O_DIRECTORY)
    if a.unprivileged:
        assert errno_of(lambda: logical_ino(fd, 0)) == errno.EPERM, "LOGICAL_INO unprivileged"
        assert errno_of(lambda: ino_paths(fd, 257)) == errno.EPERM, "INO_PATHS unprivileged"
        assert errno_of(lambda: ino_lookup(fd, 0, 257)) == errno.EPERM, "INO_LOOKUP of 257 unprivileged"
        assert ino_lookup(fd, 0, 256) == (FS_TREE, ""), "INO_LOOKUP of the top directory"
        print("  unprivileged: EPERM for LOGICAL_INO, INO_PATHS, INO_LOOKUP (top directory allowed)")
        return 0
    extents = parse_dump(a.dump)
    paths = {}
    for d, dirs, files in os.walk(a.mnt):
        for n in files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            paths.setdefault(st.st_ino, set()).add(os.path.relpath(p, a.mnt))
    by_disk = {}
    for e in extents:
        by_disk.setdefault(e[2], set()).add(e[0])
    bad = []
    checked = 0
    for _ in range(a.passes):
        for ino, off, disk, eoff, num in extents:
            if ino not in paths:
                continue  # deleted since the dump
            mid = (num // 2) & ~4095
            logical = disk + eoff + mid
            hits, _ = logical_ino(fd, logical)
            if (ino, off + mid, FS_TREE) not in hits or {h[0] for h in hits} - by_disk[disk]:
                bad.append("LOGICAL_INO %d: %s, want (%d, %d, 5)" % (logical, hits, ino, off + mid))
            hits2, _ = logical_ino(fd, logical, v2=True, flags=1)
            if (ino, off, FS_TREE) not in hits2:
                bad.append("LOGICAL_INO_V2 ignore_offset %d: %s, want (%d, %d, 5)" % (logical, hits2, ino, off))
            got, _ = ino_paths(fd, ino)
            if set(got) != paths[ino]:
                bad.append("INO_PATHS %d: %s, want %s" % (ino, got, sorted(paths[ino])))
            checked += 1
    print("  %d extents of %d inodes resolved (%d lookups per ioctl)" % (len(extents), len(paths), checked))
    # btrfs-progs on a sample.
    for ino, off, disk, eoff, num in extents[:a.progs]:
        if ino not in paths:
            continue
        out = subprocess.run(["btrfs", "inspect-internal", "logical-resolve", str(disk + eoff), a.mnt],
                             capture_output=True, text=True)
        got = {os.path.relpath(l, a.mnt) for l in out.stdout.split()}
        if out.returncode != 0 or not paths[ino] <= got:
            bad.append("logical-resolve %d: rc %d %r %r, want %s" % (disk + eoff, out.returncode, out.stdout, out.stderr, paths[ino]))
        out = subprocess.run(["btrfs", "inspect-internal", "inode-resolve", str(ino), a.mnt], capture_output=True, text=True)
        got = {os.path.relpath(l, a.mnt) for l in out.stdout.split()}
        if out.returncode != 0 or got != paths[ino]:
            bad.append("inode-resolve %d: rc %d %r, want %s" % (ino, out.returncode, out.stdout, paths[ino]))
    if a.progs:
        print("  btrfs inspect-internal logical-resolve/inode-resolve agree on %d extents" % min(a.progs, len(extents)))
    # INO_LOOKUP: every directory's path.
    for d, dirs, files in os.walk(a.mnt):
        st = os.stat(d)
        rel = os.path.relpath(d, a.mnt)
        want = "" if rel == "." else rel + "/"
        if st.st_ino == 256:
            continue
        got = ino_lookup(fd, 0, st.st_ino)
        if got != (FS_TREE, want):
            bad.append("INO_LOOKUP %d: %s, want %s" % (st.st_ino, got, want))
    if a.bad_args:
        ino, off, disk, eoff, num = extents[0]
        cases = [
            ("v2 reserved", lambda: logical_ino(fd, disk, v2=True, reserved=b"\1" + b"\0" * 23), errno.EINVAL),
            ("v2 flags", lambda: logical_ino(fd, disk, v2=True, flags=2), errno.EINVAL),
            ("bad inodes pointer", lambda: logical_ino(fd, disk, inodes=8), errno.EFAULT),
            ("bad arg pointer", lambda: fcntl.ioctl(fd, LOGICAL_INO, 8), errno.EFAULT),
            ("no extent", lambda: logical_ino(fd, 1 << 50), errno.ENOENT),
            ("logical 0", lambda: logical_ino(fd, 0), errno.ENOENT),
            ("tree block", lambda: logical_ino(fd, int(open(a.dump + ".root").read())), errno.ENOENT),
            ("INO_PATHS no inode", lambda: ino_paths(fd, 1 << 40), errno.ENOENT),
            ("INO_PATHS bad pointer", lambda: ino_paths(fd, ino, out=16), errno.EFAULT),
            ("INO_LOOKUP no tree", lambda: ino_lookup(fd, 4242, 257), errno.ENOENT),
            ("INO_LOOKUP not a directory ref", lambda: ino_lookup(fd, 0, 1 << 40), errno.ENOENT),
            ("unknown ioctl", lambda: fcntl.ioctl(fd, iowr(250, 8), bytearray(8)), errno.ENOTTY),
        ]
        for name, f, want in cases:
            got = errno_of(f)
            if got != want:
                bad.append("%s: errno %d, want %d" % (name, got, want))
        # Too small containers: counted as missed, never overrun.
        _, (left, missing, cnt, missed) = logical_ino(fd, disk + eoff, size=16)
        if (left, cnt, missed) != (0, 0, 3) or missing != 24:
            bad.append("16-byte container: %s" % ((left, missing, cnt, missed),))
        _, (left, missing, cnt, missed) = logical_ino(fd, disk + eoff, size=8)
        if missing < 8:
            bad.append("8-byte container: %s" % ((left, missing, cnt, missed),))
        got, (left, missing, cnt, missed) = ino_paths(fd, ino, size=17)
        if cnt != 0 or missed < 1:
            bad.append("17-byte path container: %s" % ((left, missing, cnt, missed),))
        print("  %d bad-argument cases give the right errno; short containers count what is missed" % len(cases))
    for b in bad[:20]:
        print("  MISMATCH", b)
    return 1 if bad else 0

if __name__ == "__main__":
    sys.exit(main())
