# SPDX-License-Identifier: GPL-2.0
"""btrfs ioctls from Python (fcntl.ioctl on bytearrays, ctypes buffers
where the argument holds a pointer), and a parser of `btrfs
inspect-internal dump-tree`/`dump-super` output to check their answers
against. Shared by ioctl_progs.py and ioctl_fuzz.py."""
import ctypes, fcntl, re, struct, subprocess

MAGIC = 0x94


def _ioc(d, ty, nr, size):
    return (d << 30) | (size << 16) | (ty << 8) | nr


def io(nr, ty=MAGIC):
    return _ioc(0, ty, nr, 0)


def iow(nr, size, ty=MAGIC):
    return _ioc(1, ty, nr, size)


def ior(nr, size, ty=MAGIC):
    return _ioc(2, ty, nr, size)


def iowr(nr, size, ty=MAGIC):
    return _ioc(3, ty, nr, size)


SYNC = io(8)
TREE_SEARCH = iowr(17, 4096)
TREE_SEARCH_V2 = iowr(17, 112)
INO_LOOKUP = iowr(18, 4096)
SPACE_INFO = iowr(20, 16)
WAIT_SYNC = iow(22, 8)
START_SYNC = ior(24, 8)
SUBVOL_GETFLAGS = ior(25, 8)
DEV_INFO = iowr(30, 4096)
FS_INFO = ior(31, 1024)
INO_PATHS = iowr(35, 56)
LOGICAL_INO = iowr(36, 56)
GET_FSLABEL = ior(49, 256)
SET_FSLABEL = iow(50, 256)
GET_DEV_STATS = iowr(52, 1032)
GET_FEATURES = ior(57, 24)
SET_FEATURES = iow(57, 48)
GET_SUPPORTED_FEATURES = ior(57, 72)
LOGICAL_INO_V2 = iowr(59, 56)
GET_SUBVOL_INFO = ior(60, 504)
GET_SUBVOL_ROOTREF = iowr(61, 4096)
INO_LOOKUP_USER = iowr(62, 4096)
FS_IOC_GETFLAGS = ior(1, 8, ord("f"))
FS_IOC_SETFLAGS = iow(2, 8, ord("f"))
FS_IOC_GETVERSION = ior(1, 8, ord("v"))
FS_IOC_FSGETXATTR = ior(31, 28, ord("X"))
FS_IOC_FSSETXATTR = iow(32, 28, ord("X"))

SPACE_INFO_GLOBAL_RSV = 1 << 49
BG_DATA, BG_SYSTEM, BG_METADATA, BG_DUP = 1, 2, 4, 32

# Key types and special objectids as dump-tree names them.
KEY_TYPES = {
    "UNTYPED": 0, "INODE_ITEM": 1, "INODE_REF": 12, "INODE_EXTREF": 13, "XATTR_ITEM": 24,
    "VERITY_DESC_ITEM": 36, "VERITY_MERKLE_ITEM": 37, "ORPHAN_ITEM": 48, "DIR_LOG_ITEM": 60,
    "DIR_LOG_INDEX": 72, "DIR_ITEM": 84, "DIR_INDEX": 96, "EXTENT_DATA": 108, "EXTENT_CSUM": 128,
    "ROOT_ITEM": 132, "ROOT_BACKREF": 144, "ROOT_REF": 156, "EXTENT_ITEM": 168, "METADATA_ITEM": 169,
    "EXTENT_OWNER_REF": 172, "TREE_BLOCK_REF": 176, "EXTENT_DATA_REF": 178, "SHARED_BLOCK_REF": 182,
    "SHARED_DATA_REF": 184, "BLOCK_GROUP_ITEM": 192, "FREE_SPACE_INFO": 198, "FREE_SPACE_EXTENT": 199,
    "FREE_SPACE_BITMAP": 200, "DEV_EXTENT": 204, "DEV_ITEM": 216, "CHUNK_ITEM": 228,
    "RAID_STRIPE": 230, "QGROUP_STATUS": 240, "QGROUP_INFO": 242, "QGROUP_LIMIT": 244,
    "QGROUP_RELATION": 246, "TEMPORARY_ITEM": 248, "PERSISTENT_ITEM": 249, "DEV_REPLACE": 250,
    "UUID_KEY_SUBVOL": 251, "UUID_KEY_RECEIVED_SUBVOL": 252, "STRING_ITEM": 253,
}
M64 = (1 << 64) - 1
OBJECTIDS = {
    "ROOT_TREE": 1, "EXTENT_TREE": 2, "CHUNK_TREE": 3, "DEV_TREE": 4, "FS_TREE": 5,
    "ROOT_TREE_DIR": 6, "CSUM_TREE": 7, "QUOTA_TREE": 8, "UUID_TREE": 9, "FREE_SPACE_TREE": 10,
    "BLOCK_GROUP_TREE": 11, "RAID_STRIPE_TREE": 12, "DEV_STATS": 0, "BALANCE": M64 - 3,
    "ORPHAN": M64 - 4, "TREE_LOG": M64 - 5, "TREE_LOG_FIXUP": M64 - 6, "TREE_RELOC": M64 - 7,
    "DATA_RELOC_TREE": M64 - 8, "EXTENT_CSUM": M64 - 9, "FREE_SPACE": M64 - 10, "FREE_INO": M64 - 11,
    "MULTIPLE": M64 - 254, "DEV_ITEMS": 1, "FIRST_CHUNK_TREE": 256,
}


def _num(s):
    if s == "-1":
        return M64
    if s.startswith("0x"):
        return int(s, 16)
    if "/" in s:
        a, b = s.split("/")
        return (int(a) << 48) | int(b)
    return int(s)


def parse_key(s):
    o, t, off = s.strip("()").split()
    obj = OBJECTIDS[o] if o in OBJECTIDS else _num(o)
    ty = KEY_TYPES[t] if t in KEY_TYPES else int(t.split(".")[1])
    return (obj, ty, _num(off))


def dump_tree(dev, tree):
    """Every item of tree `tree` on `dev` in order: (leaf generation, key,
    itemsize), and the text after each item header up to the next (for a
    few decoded fields)."""
    out = subprocess.run(["btrfs", "inspect-internal", "dump-tree", "-t", str(tree), dev],
                         capture_output=True, check=True).stdout.decode("utf-8", "replace")
    items, gen = [], None
    for line in out.splitlines():
        m = re.match(r"leaf \d+ items \d+ free space \d+ generation (\d+) owner", line)
        if m:
            gen = int(m.group(1))
            continue
        m = re.match(r"\titem \d+ key (\([^)]*\)) itemoff \d+ itemsize (\d+)", line)
        if m:
            items.append([gen, parse_key(m.group(1)), int(m.group(2)), ""])
            continue
        if items and line.startswith("\t\t"):
            items[-1][3] += line + "\n"
    return items


def dump_super(dev):
    out = subprocess.run(["btrfs", "inspect-internal", "dump-super", dev],
                         capture_output=True, check=True).stdout.decode()
    d = {}
    for line in out.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[0] not in d:
            d[parts[0]] = parts[1].strip()
    return d


def uuid_bytes(s):
    return bytes.fromhex(s.replace("-", ""))


# --- the ioctls -----------------------------------------------------------

def fs_info(fd, flags=7):
    b = bytearray(1024)
    struct.pack_into("<Q", b, 48, flags)
    fcntl.ioctl(fd, FS_INFO, b, True)
    max_id, ndev = struct.unpack_from("<QQ", b, 0)
    nodesize, sectorsize, clone, csum_type, csum_size = struct.unpack_from("<IIIHH", b, 32)
    flags_out, gen = struct.unpack_from("<QQ", b, 48)
    return dict(max_id=max_id, num_devices=ndev, fsid=bytes(b[16:32]), nodesize=nodesize,
                sectorsize=sectorsize, clone_alignment=clone, csum_type=csum_type, csum_size=csum_size,
                flags=flags_out, generation=gen, metadata_uuid=bytes(b[64:80]), rest=bytes(b[80:]))


def dev_info(fd, devid, uuid=b"\0" * 16):
    b = bytearray(4096)
    struct.pack_into("<Q", b, 0, devid)
    b[8:24] = uuid
    fcntl.ioctl(fd, DEV_INFO, b, True)
    devid, = struct.unpack_from("<Q", b, 0)
    used, total = struct.unpack_from("<QQ", b, 24)
    path = bytes(b[3072:]).split(b"\0")[0].decode()
    return dict(devid=devid, uuid=bytes(b[8:24]), bytes_used=used, total_bytes=total,
                fsid=bytes(b[40:56]), path=path)


def space_info(fd, slots=None):
    if slots is None:
        b = bytearray(16)
        fcntl.ioctl(fd, SPACE_INFO, b, True)
        slots = struct.unpack_from("<Q", b, 8)[0]
    buf = ctypes.create_string_buffer(16 + 24 * slots)
    struct.pack_into("<QQ", buf, 0, slots, 0)
    fcntl.ioctl(fd, SPACE_INFO, buf, True)
    n = struct.unpack_from("<Q", buf, 8)[0]
    return [struct.unpack_from("<QQQ", buf, 16 + 24 * i) for i in range(n)]


def dev_stats(fd, devid=1, nr=5, flags=0):
    b = bytearray(1032)
    struct.pack_into("<QQQ", b, 0, devid, nr, flags)
    fcntl.ioctl(fd, GET_DEV_STATS, b, True)
    nr_out, flags_out = struct.unpack_from("<QQ", b, 8)
    return nr_out, flags_out, list(struct.unpack_from("<5Q", b, 24))


def features(fd, supported=False):
    if supported:
        b = bytearray(72)
        fcntl.ioctl(fd, GET_SUPPORTED_FEATURES, b, True)
        return [struct.unpack_from("<QQQ", b, 24 * i) for i in range(3)]
    b = bytearray(24)
    fcntl.ioctl(fd, GET_FEATURES, b, True)
    return struct.unpack("<QQQ", b)


def set_features(fd, mask, value):
    fcntl.ioctl(fd, SET_FEATURES, bytearray(struct.pack("<6Q", *mask, *value)), True)


def start_sync(fd):
    b = bytearray(8)
    fcntl.ioctl(fd, START_SYNC, b, True)
    return struct.unpack("<Q", b)[0]


def wait_sync(fd, transid):
    fcntl.ioctl(fd, WAIT_SYNC, bytearray(struct.pack("<Q", transid)), True)


def get_label(fd):
    b = bytearray(256)
    fcntl.ioctl(fd, GET_FSLABEL, b, True)
    return bytes(b).split(b"\0")[0].decode()


def search_key(tree, lo=(0, 0, 0), hi=(M64, 255, M64), transid=(0, M64), nr=0xffffffff):
    return struct.pack("<7QIII", tree, lo[0], hi[0], lo[2], hi[2], transid[0], transid[1],
                       lo[1], hi[1], nr) + b"\0" * 36


def parse_results(buf, n):
    """(transid, key, data) of the `n` results in `buf`."""
    out, off = [], 0
    for _ in range(n):
        transid, obj, offset, ty, ln = struct.unpack_from("<QQQII", buf, off)
        off += 32
        out.append((transid, (obj, ty, offset), bytes(buf[off:off + ln])))
        off += ln
    return out


def tree_search(fd, tree, lo=(0, 0, 0), hi=(M64, 255, M64), transid=(0, M64), nr=0xffffffff):
    """One TREE_SEARCH (version 1): (items, nr_items)."""
    b = bytearray(search_key(tree, lo, hi, transid, nr) + b"\0" * (4096 - 104))
    fcntl.ioctl(fd, TREE_SEARCH, b, True)
    n = struct.unpack_from("<I", b, 64)[0]
    return parse_results(b[104:], n), n


def tree_search_v2(fd, tree, lo=(0, 0, 0), hi=(M64, 255, M64), transid=(0, M64), nr=0xffffffff, size=1 << 16):
    """One TREE_SEARCH_V2 into a `size`-byte buffer: items (raises OSError
    EOVERFLOW with the needed size in .needed)."""
    buf = ctypes.create_string_buffer(112 + size)
    buf[0:104] = search_key(tree, lo, hi, transid, nr)
    struct.pack_into("<Q", buf, 104, size)
    try:
        fcntl.ioctl(fd, TREE_SEARCH_V2, buf, True)
    except OSError as e:
        e.needed = struct.unpack_from("<Q", buf, 104)[0]
        raise
    n = struct.unpack_from("<I", buf, 64)[0]
    return parse_results(buf.raw[112:], n)


def next_key(k):
    o, t, off = k
    if off < M64:
        return (o, t, off + 1)
    if t < 255:
        return (o, t + 1, 0)
    return (o + 1, 0, 0)


def search_all(fd, tree, lo=(0, 0, 0), hi=(M64, 255, M64), transid=(0, M64), v2=False, nr=0xffffffff, size=1 << 16):
    """Every item of a range, over as many calls as it takes (as
    btrfs-progs does)."""
    out = []
    while True:
        if v2:
            items = tree_search_v2(fd, tree, lo, hi, transid, nr, size)
        else:
            items, _ = tree_search(fd, tree, lo, hi, transid, nr)
        if not items:
            return out
        out += items
        last = items[-1][1]
        if last >= hi or last == (M64, 255, M64):
            return out
        lo = next_key(last)


def subvol_info(fd):
    b = bytearray(504)
    fcntl.ioctl(fd, GET_SUBVOL_INFO, b, True)
    treeid, = struct.unpack_from("<Q", b, 0)
    name = bytes(b[8:264]).split(b"\0")[0].decode()
    parent, dirid, gen, flags = struct.unpack_from("<QQQQ", b, 264)
    ctransid, otransid, stransid, rtransid = struct.unpack_from("<QQQQ", b, 344)
    return dict(treeid=treeid, name=name, parent_id=parent, dirid=dirid, generation=gen, flags=flags,
                uuid=bytes(b[296:312]), parent_uuid=bytes(b[312:328]), received_uuid=bytes(b[328:344]),
                ctransid=ctransid, otransid=otransid, stransid=stransid, rtransid=rtransid,
                otime=struct.unpack_from("<QI", b, 392), reserved=bytes(b[440:]))


def subvol_rootrefs(fd, min_treeid=0):
    b = bytearray(4096)
    struct.pack_into("<Q", b, 0, min_treeid)
    fcntl.ioctl(fd, GET_SUBVOL_ROOTREF, b, True)
    n = b[4088]
    return [struct.unpack_from("<QQ", b, 8 + 16 * i) for i in range(n)], struct.unpack_from("<Q", b, 0)[0]


def ino_lookup_user(fd, dirid, treeid):
    b = bytearray(4096)
    struct.pack_into("<QQ", b, 0, dirid, treeid)
    fcntl.ioctl(fd, INO_LOOKUP_USER, b, True)
    return bytes(b[16:272]).split(b"\0")[0].decode(), bytes(b[272:]).split(b"\0")[0].decode()


def ino_lookup(fd, tree, objectid):
    b = bytearray(4096)
    struct.pack_into("<QQ", b, 0, tree, objectid)
    fcntl.ioctl(fd, INO_LOOKUP, b, True)
    return struct.unpack_from("<Q", b, 0)[0], bytes(b[16:]).split(b"\0")[0].decode()


def getflags(fd):
    b = bytearray(8)
    fcntl.ioctl(fd, FS_IOC_GETFLAGS, b, True)
    return struct.unpack_from("<I", b)[0]


def setflags(fd, flags):
    fcntl.ioctl(fd, FS_IOC_SETFLAGS, bytearray(struct.pack("<Q", flags)), True)


def fsgetxattr(fd):
    b = bytearray(28)
    fcntl.ioctl(fd, FS_IOC_FSGETXATTR, b, True)
    return struct.unpack_from("<IIIII", b)


if __name__ == "__main__":
    # A module, not a command: only --help (and refusing anything else).
    import argparse
    argparse.ArgumentParser(description=__doc__ + "\n\nImport it; run alone it does nothing.",
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            allow_abbrev=False).parse_args()
