#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checks rbtrfs's filesystem ioctls on a mounted, quiet filesystem against
what btrfs-progs reads from the device itself (dump-super, dump-tree):

  info DEV MNT          FS_INFO, DEV_INFO, SPACE_INFO (and the global
                        reserve), GET_DEV_STATS, features, label, subvolume
                        info, and the btrfs-progs commands built on them;
  search DEV MNT        TREE_SEARCH and _V2: whole trees, random key and
                        transid ranges, item limits, small buffers;
  sync DEV MNT          SYNC, START_SYNC and WAIT_SYNC transids;
  subvol DEV MNT        a filesystem with a subvolume (btrfs-convert's
                        ext2_saved): ROOTREF, INO_LOOKUP_USER, subvolume list;
  unpriv MNT            what an unprivileged caller may and may not do.

Exit status 1 on the first mismatch, which is printed."""
import argparse, errno, os, random, re, struct, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import btrfs_ioctl as B

M64 = B.M64


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def expect_errno(code, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except OSError as e:
        check(e.errno == code, "%s: errno %d, expected %d" % (fn.__name__, e.errno, code))
        return e
    fail("%s%r: succeeded, expected errno %d" % (fn.__name__, args[1:], code))


def run(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    check(r.returncode == 0, "%s: exit %d\n%s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r.stdout


def super_generation(dev):
    """The generation of the primary superblock as the device has it: read
    with O_DIRECT, past the page cache (and without the filesystem sync
    that `blockdev --flushbufs` does)."""
    import mmap
    fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
    try:
        m = mmap.mmap(-1, 4096)
        check(os.preadv(fd, [m], 65536) == 4096, "short superblock read")
        check(m[64:72] == b"_BHRfS_M", "no btrfs superblock on " + dev)
        return struct.unpack_from("<Q", m, 72)[0]
    finally:
        os.close(fd)


def root_items(dev):
    """tree id -> dict of a few ROOT_ITEM fields, from dump-tree -t 1."""
    out = {}
    for gen, key, size, text in B.dump_tree(dev, 1):
        if key[1] != B.KEY_TYPES["ROOT_ITEM"]:
            continue
        d = {}
        for name in ["generation", "bytenr", "bytes_used", "ctransid", "otransid", "refs"]:
            m = re.search(r"\b%s (\d+)" % name, text)
            if m:
                d[name] = int(m.group(1))
        m = re.search(r"\buuid ([0-9a-f-]{36})", text)
        d["uuid"] = B.uuid_bytes(m.group(1)) if m else b"\0" * 16
        out[key[0]] = d
    return out


def block_groups(dev):
    """(flags, length, used) of every block group, from dump-tree -t 2."""
    names = {"DATA": 1, "SYSTEM": 2, "METADATA": 4, "RAID0": 8, "RAID1": 16, "DUP": 32, "RAID10": 64,
             "RAID5": 128, "RAID6": 256, "RAID1C3": 512, "RAID1C4": 1024, "single": 0}
    out = []
    for gen, key, size, text in B.dump_tree(dev, 2):
        if key[1] == B.KEY_TYPES["BLOCK_GROUP_ITEM"]:
            m = re.search(r"block group used (\d+) chunk_objectid \d+ flags (\S+)", text)
            flags = sum(names[n] for n in m.group(2).split("|"))
            out.append((flags, key[2], int(m.group(1))))
    return out


def expected_spaces(dev, nodesize, fst):
    bgs = block_groups(dev)
    want = []
    for ty in [1, 2, 4, 5]:
        for index in range(10):
            sel = [g for g in bgs if g[0] & 7 == ty and
                   (g[0] & 0x7f8 == 0 if index == 0 else (g[0] & 0x7f8) and (g[0] & 0x7f8).bit_length() - 3 == index)]
            if sel:
                want.append((sel[-1][0], sum(g[1] for g in sel), sum(g[2] for g in sel)))
    roots = root_items(dev)
    used = sum(roots.get(t, {}).get("bytes_used", 0) for t in (2, 7, 10))
    n = sum(1 for t in (2, 7, 10) if t in roots)
    unit = nodesize * 8 * 2
    rsv = min(max(used, unit * (1 + n + 6) + unit * 6 * (2 if fst else 1)), 512 << 20)
    return want + [(B.SPACE_INFO_GLOBAL_RSV, rsv, 0)]


def cmd_info(dev, mnt):
    fd = os.open(mnt, os.O_RDONLY)
    sup = B.dump_super(dev)
    fsid = B.uuid_bytes(sup["fsid"])
    nodesize, sectorsize = int(sup["nodesize"]), int(sup["sectorsize"])
    gen = int(sup["generation"])
    # FS_INFO with every flag, and with none.
    fi = B.fs_info(fd)
    check(fi["max_id"] == 1 and fi["num_devices"] == 1, "FS_INFO devices %r" % fi)
    check(fi["fsid"] == fsid, "FS_INFO fsid")
    check((fi["nodesize"], fi["sectorsize"], fi["clone_alignment"]) == (nodesize, sectorsize, sectorsize), "FS_INFO sizes %r" % fi)
    csum_type = int(sup["csum_type"].split()[0])
    check((fi["csum_type"], fi["csum_size"]) == (csum_type, int(sup["csum_size"])), "FS_INFO csum %r" % fi)
    check(fi["flags"] == 7 and fi["generation"] == gen, "FS_INFO generation %d, super %d" % (fi["generation"], gen))
    check(fi["metadata_uuid"] == B.uuid_bytes(sup["metadata_uuid"]), "FS_INFO metadata_uuid")
    check(fi["rest"] == b"\0" * len(fi["rest"]), "FS_INFO reserved bytes not zero")
    bare = B.fs_info(fd, flags=0)
    check(bare["flags"] == 0 and bare["csum_type"] == 0 and bare["generation"] == 0, "FS_INFO without flags %r" % bare)
    check(B.fs_info(fd, flags=0xf0)["flags"] == 0, "FS_INFO unknown flags answered")
    # DEV_INFO.
    di = B.dev_info(fd, 1)
    check(di["devid"] == 1 and di["uuid"] == B.uuid_bytes(sup["dev_item.uuid"]), "DEV_INFO %r" % di)
    check(di["bytes_used"] == int(sup["dev_item.bytes_used"]) and di["total_bytes"] == int(sup["dev_item.total_bytes"]),
          "DEV_INFO sizes %r" % di)
    check(di["fsid"] == fsid and di["path"] == os.path.realpath(dev), "DEV_INFO path %r, device %s" % (di["path"], dev))
    check(B.dev_info(fd, 1, di["uuid"])["devid"] == 1, "DEV_INFO by devid and uuid")
    expect_errno(errno.ENODEV, B.dev_info, fd, 2)
    expect_errno(errno.ENODEV, B.dev_info, fd, 0)
    expect_errno(errno.ENODEV, B.dev_info, fd, 1, b"\1" * 16)
    # SPACE_INFO: per type and profile, then the global reserve.
    fst = int(sup["compat_ro_flags"], 16) & 1 != 0
    want = expected_spaces(dev, nodesize, fst)
    got = B.space_info(fd)
    check(got == want, "SPACE_INFO\n got  %r\n want %r" % (got, want))
    check(B.space_info(fd, 1) == want[:1], "SPACE_INFO with one slot")
    check(B.space_info(fd, 100) == want, "SPACE_INFO with more slots than spaces")
    check(sum(s[2] for s in want[:-1]) == int(sup["bytes_used"]), "block groups' used != super bytes_used")
    # GET_DEV_STATS: no errors counted; nr_items clamped; RESET as root.
    check(B.dev_stats(fd) == (5, 0, [0] * 5), "DEV_STATS %r" % (B.dev_stats(fd),))
    check(B.dev_stats(fd, nr=100)[0] == 5 and B.dev_stats(fd, nr=2)[0] == 2, "DEV_STATS nr_items")
    check(B.dev_stats(fd, flags=1)[2] == [0] * 5, "DEV_STATS reset")
    expect_errno(errno.ENODEV, B.dev_stats, fd, 7)
    # Features.
    feats = B.features(fd)
    check(feats == (int(sup["compat_flags"], 16), int(sup["compat_ro_flags"], 16), int(sup["incompat_flags"], 16)),
          "GET_FEATURES %r" % (feats,))
    supp, safe_set, safe_clear = B.features(fd, supported=True)
    check(all(f & ~s == 0 for f, s in zip(feats, supp)), "mounted features not all supported")
    check(safe_set == (0, 0, 0) and safe_clear == (0, 0, 0), "nothing may change while mounted")
    B.set_features(fd, (0, 0, 0), (0, 0, 0))
    expect_errno(errno.EPERM, B.set_features, fd, (0, 0, 1 << 9), (0, 0, 1 << 9))
    expect_errno(errno.EPERM, B.set_features, fd, (0, 0, 1 << 9), (0, 0, 0))
    expect_errno(errno.EOPNOTSUPP, B.set_features, fd, (0, 0, 1 << 13), (0, 0, 1 << 13))
    # Label: set through btrfs-progs, read back through the ioctl and the
    # superblock.
    check(B.get_label(fd) == sup["label"].strip() if "label" in sup else True, "GET_FSLABEL")
    run("btrfs", "filesystem", "label", mnt, "rbtrfs-ioctl")
    check(B.get_label(fd) == "rbtrfs-ioctl", "label after set: %r" % B.get_label(fd))
    check(run("btrfs", "filesystem", "label", mnt).strip() == "rbtrfs-ioctl", "btrfs filesystem label")
    expect_errno(errno.EINVAL, lambda f, b: __import__("fcntl").ioctl(f, B.SET_FSLABEL, b), fd, bytearray(b"x" * 256))
    run("blockdev", "--flushbufs", dev)
    sup = B.dump_super(dev)
    check(sup["label"] == "rbtrfs-ioctl", "super label %r" % sup["label"])
    check(B.fs_info(fd)["generation"] == int(sup["generation"]) > gen, "a label change is a commit")
    # The btrfs-progs commands on top, in raw numbers.
    out = run("btrfs", "filesystem", "show", "--raw", mnt)
    check("Label: 'rbtrfs-ioctl'  uuid: %s" % sup["fsid"] in out, "fi show label/uuid:\n" + out)
    used = sum(s[2] for s in want[:-1])
    check(re.search(r"Total devices 1 FS bytes used %d\b" % used, out), "fi show bytes used %d:\n%s" % (used, out))
    check(re.search(r"devid +1 size %d used %d path %s" % (di["total_bytes"], di["bytes_used"], re.escape(di["path"])), out),
          "fi show device line:\n" + out)
    out = run("btrfs", "filesystem", "df", "-b", mnt)
    names = {1: "Data", 2: "System", 4: "Metadata", 5: "Data+Metadata"}
    for flags, total, used in want:
        if flags == B.SPACE_INFO_GLOBAL_RSV:
            line = "GlobalReserve, single: total=%d, used=%d" % (total, used)
        else:
            prof = "DUP" if flags & B.BG_DUP else "single"
            line = "%s, %s: total=%d, used=%d" % (names[flags & 7], prof, total, used)
        check(line in out, "fi df lacks %r:\n%s" % (line, out))
    out = run("btrfs", "filesystem", "usage", "-b", mnt)
    check(re.search(r"Device size:\s+%d\b" % di["total_bytes"], out), "fi usage size:\n" + out)
    check(re.search(r"Device allocated:\s+%d\b" % di["bytes_used"], out), "fi usage allocated:\n" + out)
    check(re.search(r"Global reserve:\s+%d\s+\(used: 0\)" % want[-1][1], out), "fi usage reserve:\n" + out)
    check(re.search(r"^\s+%s\s+%d$" % (re.escape(di["path"]), di["total_bytes"] - di["bytes_used"]), out, re.M),
          "fi usage unallocated:\n" + out)
    out = run("btrfs", "device", "stats", mnt)
    for n in ["write_io_errs", "read_io_errs", "flush_io_errs", "corruption_errs", "generation_errs"]:
        check(re.search(r"\[%s\]\.%s +0$" % (re.escape(di["path"]), n), out, re.M), "device stats %s:\n%s" % (n, out))
    run("btrfs", "device", "stats", "-z", mnt)
    check(run("btrfs", "inspect-internal", "rootid", mnt).strip() == "5", "rootid")
    check(run("btrfs", "subvolume", "list", mnt).strip() == "", "subvolume list of a plain filesystem")
    check(run("btrfs", "subvolume", "get-default", mnt).strip() == "ID 5 (FS_TREE)", "get-default")
    roots = root_items(dev)
    out = run("btrfs", "subvolume", "show", mnt)
    check(re.search(r"Name:\s+<FS_TREE>", out) and re.search(r"Subvolume ID:\s+5$", out, re.M), "subvolume show:\n" + out)
    check(re.search(r"Generation:\s+%d$" % roots[5]["generation"], out, re.M), "subvolume show generation:\n" + out)
    # GET_SUBVOL_INFO of the top subvolume, ROOTREF (none), INO_LOOKUP_USER.
    si = B.subvol_info(fd)
    check(si["treeid"] == 5 and si["name"] == "" and si["parent_id"] == 0 and si["dirid"] == 0, "SUBVOL_INFO %r" % si)
    check(si["uuid"] == roots[5]["uuid"] and si["generation"] == roots[5]["generation"], "SUBVOL_INFO uuid/generation")
    check(si["reserved"] == b"\0" * 64, "SUBVOL_INFO reserved")
    check(B.subvol_rootrefs(fd) == ([], 0), "ROOTREF of a filesystem without subvolumes")
    expect_errno(errno.ENOENT, B.ino_lookup_user, fd, 256, 5)
    sub = next(os.path.join(mnt, d) for d in sorted(os.listdir(mnt)) if os.path.isdir(os.path.join(mnt, d)))
    sfd = os.open(sub, os.O_RDONLY)
    expect_errno(errno.EACCES, B.ino_lookup_user, sfd, 256, 5)
    expect_errno(errno.EINVAL, lambda f: __import__("fcntl").ioctl(f, B.SUBVOL_GETFLAGS, bytearray(8)), sfd)
    check(B.ino_lookup(sfd, 0, 256) == (5, ""), "INO_LOOKUP of the top directory")
    os.close(sfd)
    b = bytearray(8)
    __import__("fcntl").ioctl(fd, B.SUBVOL_GETFLAGS, b)
    check(struct.unpack("<Q", b)[0] == 0, "SUBVOL_GETFLAGS of a writable subvolume")
    os.close(fd)
    print("info: FS_INFO, DEV_INFO, SPACE_INFO (%d entries), DEV_STATS, features, label, subvolume info and"
          " fi show/df/usage, device stats, rootid, subvolume list/show agree with dump-super/dump-tree" % len(want))


def model_v1(items, lo, hi, transid, nr, room=4096 - 104):
    """What one TREE_SEARCH returns (C's copy_to_sk in one pass)."""
    out, used = [], 0
    for gen, key, size, data in items:
        if not (lo <= key <= hi and transid[0] <= gen <= transid[1]):
            continue
        ln = size
        if 32 + ln > room:
            if out:
                break
            out.append((gen, key, 0))
            break
        if used + 32 + ln > room:
            break
        out.append((gen, key, ln))
        used += 32 + ln
        if len(out) >= nr:
            break
    return out


def cmd_search(dev, mnt):
    fd = os.open(mnt, os.O_RDONLY)
    rng = random.Random(0x5ea4)
    sizes = {}
    for d, dirs, files in os.walk(mnt):
        for f in files:
            st = os.lstat(os.path.join(d, f))
            sizes[st.st_ino] = st.st_size
    trees = sorted(set(root_items(dev)) | {1, 3})
    total = 0
    for tree in trees:
        items = [(g, k, s, t) for g, k, s, t in B.dump_tree(dev, tree)]
        for v2 in (False, True):
            # Version 1 answers an item larger than its 3992 bytes with a
            # header of length 0.
            want = [(g, k, s if v2 or 32 + s <= 4096 - 104 else 0) for g, k, s, _ in items]
            got = B.search_all(fd, tree, v2=v2)
            mine = [(g, k, len(d)) for g, k, d in got]
            diff = [(a, b) for a, b in zip(mine, want) if a != b][:3]
            check(mine == want, "tree %d (v2 %s): %d items searched, dump-tree has %d; first differences"
                  " (searched, dumped): %r" % (tree, v2, len(got), len(want), diff))
        total += len(want)
        # The bytes are the items': root items and inode items decoded.
        for (g, k, d), (_, _, _, text) in zip(B.search_all(fd, tree), items):
            if k[1] == B.KEY_TYPES["ROOT_ITEM"]:
                gen, bytenr = struct.unpack_from("<Q", d, 160)[0], struct.unpack_from("<Q", d, 176)[0]
                check("generation %d root_dirid 256 bytenr %d" % (gen, bytenr) in text or
                      "bytenr %d" % bytenr in text, "root item %r bytes differ:\n%s" % (k, text))
            if tree == 5 and k[1] == B.KEY_TYPES["INODE_ITEM"] and k[0] in sizes:
                check(struct.unpack_from("<Q", d, 16)[0] == sizes[k[0]], "inode %d size in the item" % k[0])
    # Tree 0 is the file's subvolume.
    check(B.search_all(fd, 0) == B.search_all(fd, 5), "tree_id 0 is not the fs tree")
    expect_errno(errno.ENOENT, B.tree_search, fd, 12345)
    # Random ranges, transid windows and item limits, one call each, on
    # the trees with the most leaves and generations.
    queries = 0
    for tree in (5, 2, 1, 7):
        items = [(g, k, s, None) for g, k, s, _ in B.dump_tree(dev, tree)]
        keys = [k for _, k, _, _ in items]
        gens = sorted({g for g, _, _, _ in items})
        for n in range(150):
            a, b = sorted([rng.choice(keys), rng.choice(keys)])
            if n % 5 == 1:
                a = (a[0], a[1], max(a[2] - 1, 0))
            if n % 7 == 2:
                b = (b[0], 255, M64)
            if n % 11 == 3:
                a, b = b, a
            t = (0, M64)
            if n % 3 == 0:
                lo, hi = sorted([rng.choice(gens), rng.choice(gens)])
                t = (lo, hi) if n % 2 else (lo, M64)
            nr = rng.choice([0, 1, 2, 7, 50, 0xffffffff])
            got, cnt = B.tree_search(fd, tree, a, b, t, nr)
            exp = model_v1(items, a, b, t, max(nr, 1))
            check([(g, k, len(d)) for g, k, d in got] == exp and cnt == len(exp),
                  "tree %d search %r..%r transid %r nr %d:\n got  %r\n want %r" % (tree, a, b, t, nr,
                  [(g, k, len(d)) for g, k, d in got][:5], exp[:5]))
            queries += 1
    # V2 with buffers too small for one item: EOVERFLOW and the size.
    big = max((i for i in B.dump_tree(dev, 5)), key=lambda i: i[2])
    e = expect_errno(errno.EOVERFLOW, B.tree_search_v2, fd, 5, big[1], big[1], size=16)
    check(e.needed == 32, "V2 needs 32 for a header, said %d" % e.needed)
    e = expect_errno(errno.EOVERFLOW, B.tree_search_v2, fd, 5, big[1], big[1], size=32 + big[2] - 1)
    check(e.needed == 32 + big[2], "V2 needed %d, said %d" % (32 + big[2], e.needed))
    check(len(B.tree_search_v2(fd, 5, big[1], big[1], size=32 + big[2])) == 1, "V2 with exactly enough room")
    # V1 answers an item larger than its buffer with an empty header.
    csums = [i for i in B.dump_tree(dev, 7) if i[2] > 4096 - 104 - 32]
    if csums:
        got, cnt = B.tree_search(fd, 7, csums[0][1], csums[0][1])
        check(cnt == 1 and got[0][1] == csums[0][1] and got[0][2] == b"", "V1 overflow: %r" % (got,))
    os.close(fd)
    print("search: %d trees (%d items) whole with both versions, %d random range/transid/limit queries,"
          " EOVERFLOW sizes match dump-tree" % (len(trees), total, queries))


def cmd_sync(dev, mnt):
    fd = os.open(mnt, os.O_RDONLY)
    gen = B.fs_info(fd)["generation"]
    # Nothing changed: the last committed transaction.
    check(B.start_sync(fd) == gen, "START_SYNC on a clean filesystem")
    B.wait_sync(fd, gen)
    B.wait_sync(fd, 0)
    expect_errno(errno.EINVAL, B.wait_sync, fd, gen + 5)
    __import__("fcntl").ioctl(fd, B.WAIT_SYNC, 0)
    __import__("fcntl").ioctl(fd, B.START_SYNC, 0)
    # A change: the running transaction, committed by START_SYNC.
    with open(os.path.join(mnt, "sync-a"), "w") as f:
        f.write("a")
    os.fsync(os.open(os.path.join(mnt, "sync-a"), os.O_RDONLY))
    open(os.path.join(mnt, "sync-b"), "w").close()
    os.rename(os.path.join(mnt, "sync-b"), os.path.join(mnt, "sync-c"))
    g1 = B.fs_info(fd)["generation"]
    t = B.start_sync(fd)
    check(t == g1 and t > gen, "START_SYNC returned %d (before: %d, running %d)" % (t, gen, g1))
    B.wait_sync(fd, t)
    on_disk = super_generation(dev)
    check(on_disk == t, "transid %d not on disk after WAIT_SYNC: super says %d, FS_INFO %d" % (t, on_disk, B.fs_info(fd)["generation"]))
    # WAIT_SYNC on the running transaction commits it.
    os.mkdir(os.path.join(mnt, "sync-d"))
    g2 = B.fs_info(fd)["generation"]
    check(g2 == t + 1, "running transaction %d after %d" % (g2, t))
    B.wait_sync(fd, g2)
    check(super_generation(dev) == g2, "WAIT_SYNC did not commit %d" % g2)
    # BTRFS_IOC_SYNC (btrfs filesystem sync) writes dirty data back and commits.
    with open(os.path.join(mnt, "sync-e"), "wb") as f:
        f.write(os.urandom(70000))
    ino = os.stat(os.path.join(mnt, "sync-e")).st_ino
    run("btrfs", "filesystem", "sync", mnt)
    run("blockdev", "--flushbufs", dev)
    ext = [i for i in B.dump_tree(dev, 5) if i[1][0] == ino and i[1][1] == B.KEY_TYPES["EXTENT_DATA"]]
    check(ext, "file data not committed by btrfs filesystem sync")
    os.close(fd)
    print("sync: START_SYNC/WAIT_SYNC transids and BTRFS_IOC_SYNC match the superblock")


def cmd_subvol(dev, mnt):
    fd = os.open(mnt, os.O_RDONLY)
    roots = root_items(dev)
    check(256 in roots, "no subvolume 256 in the image")
    out = run("btrfs", "subvolume", "list", mnt)
    check(re.match(r"ID 256 gen %d top level 5 path ext2_saved$" % roots[256]["generation"], out.strip()),
          "subvolume list:\n" + out)
    refs, nxt = B.subvol_rootrefs(fd)
    check(refs == [(256, 256)] and nxt == 257, "ROOTREF %r next %d" % (refs, nxt))
    check(B.subvol_rootrefs(fd, 257) == ([], 257), "ROOTREF from 257")
    check(B.ino_lookup_user(fd, 256, 256) == ("ext2_saved", ""), "INO_LOOKUP_USER %r" % (B.ino_lookup_user(fd, 256, 256),))
    expect_errno(errno.ENOENT, B.ino_lookup_user, fd, 256, 257)
    out = run("btrfs", "subvolume", "show", mnt)
    check(re.search(r"Subvolume ID:\s+5$", out, re.M), "subvolume show:\n" + out)
    out = run("btrfs", "subvolume", "show", "-r", "256", mnt)
    check(re.search(r"Name:\s+ext2_saved$", out, re.M) and re.search(r"Subvolume ID:\s+256$", out, re.M) and
          re.search(r"Parent ID:\s+5$", out, re.M) and re.search(r"Generation:\s+%d$" % roots[256]["generation"], out, re.M),
          "subvolume show -r 256:\n" + out)
    si = B.subvol_info(fd)
    check(si["treeid"] == 5 and si["generation"] == roots[5]["generation"], "SUBVOL_INFO %r" % si)
    # The ROOT_ITEM, ROOT_REF and ROOT_BACKREF of 256 through TREE_SEARCH.
    got = B.search_all(fd, 1, (256, 0, 0), (256, 255, M64))
    check([k[1] for _, k, _ in got] == [B.KEY_TYPES["ROOT_ITEM"], B.KEY_TYPES["ROOT_BACKREF"]], "root tree items of 256: %r" % got)
    os.close(fd)
    print("subvol: subvolume list, ROOTREF, INO_LOOKUP_USER and the root tree agree on ext2_saved")


def cmd_unpriv(mnt):
    fd = os.open(mnt, os.O_RDONLY)
    for fn, args in [(B.tree_search, (5,)), (B.tree_search_v2, (5,)), (B.set_features, ((0, 0, 0), (0, 0, 0))),
                     (B.dev_stats, (1, 5, 1)), (B.ino_lookup, (5, 257))]:
        expect_errno(errno.EPERM, fn, fd, *args)
    expect_errno(errno.EPERM, lambda f: __import__("fcntl").ioctl(f, B.SET_FSLABEL, bytearray(b"x\0" + b"\0" * 254)), fd)
    # What needs no privilege.
    B.fs_info(fd)
    B.dev_info(fd, 1)
    B.space_info(fd)
    B.dev_stats(fd)
    B.features(fd)
    B.features(fd, supported=True)
    B.get_label(fd)
    B.subvol_info(fd)
    B.subvol_rootrefs(fd)
    B.start_sync(fd)
    B.wait_sync(fd, 0)
    check(B.ino_lookup(fd, 0, 256)[0] == 5, "unprivileged INO_LOOKUP of the top directory")
    r = subprocess.run(["btrfs", "filesystem", "df", mnt], capture_output=True, text=True)
    check(r.returncode == 0 and "GlobalReserve" in r.stdout, "unprivileged fi df:\n" + r.stdout + r.stderr)
    os.close(fd)
    print("unpriv: privileged ioctls refused (EPERM), the informational ones answered")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True, metavar="info|search|sync|subvol|unpriv")
    DEV_MNT = {"info": cmd_info, "search": cmd_search, "sync": cmd_sync, "subvol": cmd_subvol}
    for name in DEV_MNT:
        p = sub.add_parser(name, allow_abbrev=False)
        p.add_argument("dev", metavar="DEV")
        p.add_argument("mnt", metavar="MNT")
    sub.add_parser("unpriv", allow_abbrev=False).add_argument("mnt", metavar="MNT")
    args = ap.parse_args()
    if args.what == "unpriv":
        cmd_unpriv(args.mnt)
    else:
        DEV_MNT[args.what](args.dev, args.mnt)
