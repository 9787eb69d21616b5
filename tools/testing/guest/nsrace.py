#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Namespace changes raced against write_inode of the same inodes.

usage: nsrace.py run DIR SECONDS SEED
       nsrace.py verify DIR

run: one process changes directory DIR/d (creates, unlinks and renames
names of random lengths, links a file, renames across DIR/d and DIR/e) and
extends DIR/c by cloning 4 KiB blocks of DIR/src onto its end, for SECONDS;
a second process meanwhile lists both directories and fsyncs them and c
(fsync writes the in-core inode back, as the flusher does after an atime
update). A write_inode that read an inode's size before a change and wrote
it after would leave the directory's i_size off the sum of its names (btrfs
check: "dir isize wrong") or c shorter than its clones. Prints the counts;
exits 1 if a size is off already.

verify (after a remount): each directory's size is twice the length of its
names, d and e hold the names run wrote to DIR/names.txt, and c is exactly
the clones it recorded.
"""
import argparse
import fcntl
import os
import random
import struct
import sys
import time

FICLONERANGE = 0x4020940D
BLOCK = 4096


def block(i):
    return (b"%08d" % i) * (BLOCK // 8)


def dir_size_ok(d):
    want = 2 * sum(len(n.encode()) for n in os.listdir(d))
    got = os.stat(d).st_size
    if got != want:
        print(f"nsrace: {d} has size {got}, its names add up to {want}", file=sys.stderr)
        return False
    return True


def racer(paths, end):
    fds = [os.open(p, os.O_RDONLY) for p in paths]
    while time.time() < end:
        for p, fd in zip(paths, fds):
            if os.path.isdir(p):
                os.listdir(p)
            os.fsync(fd)
    os._exit(0)


def run(root, secs, seed):
    d, e, c, src = (os.path.join(root, n) for n in ("d", "e", "c", "src"))
    os.makedirs(d)
    os.makedirs(e)
    with open(src, "wb") as f:
        for i in range(16):
            f.write(block(i))
    open(c, "wb").close()
    end = time.time() + secs
    pid = os.fork()
    if pid == 0:
        racer([d, e, c], end)
    rng = random.Random(seed)
    names = {d: [], e: []}
    clones = []
    ops = 0
    sfd, cfd = os.open(src, os.O_RDONLY), os.open(c, os.O_WRONLY)
    while time.time() < end:
        r = rng.random()
        here = d if rng.random() < 0.7 else e
        there = e if here == d else d
        tag = f"{ops}_" + "n" * rng.randrange(1, 80)
        if r < 0.35 or not names[here]:
            open(os.path.join(here, "f" + tag), "w").close()
            names[here].append("f" + tag)
        elif r < 0.5:
            os.link(os.path.join(here, rng.choice(names[here])), os.path.join(there, "h" + tag))
            names[there].append("h" + tag)
        elif r < 0.7:
            n = names[here].pop(rng.randrange(len(names[here])))
            os.unlink(os.path.join(here, n))
        elif r < 0.9:
            n = names[here].pop(rng.randrange(len(names[here])))
            to = here if rng.random() < 0.5 else there
            os.rename(os.path.join(here, n), os.path.join(to, "r" + tag))
            names[to].append("r" + tag)
        else:
            i = rng.randrange(16)
            fcntl.ioctl(cfd, FICLONERANGE, struct.pack("=qQQQ", sfd, i * BLOCK, BLOCK, len(clones) * BLOCK))
            clones.append(i)
        ops += 1
    os.waitpid(pid, 0)
    with open(os.path.join(root, "names.txt"), "w") as f:
        for k, tag in ((d, "d"), (e, "e")):
            for n in names[k]:
                f.write(f"{tag} {n}\n")
        f.write("c " + " ".join(map(str, clones)) + "\n")
    print(f"nsrace: {ops} ops ({len(clones)} clones), seed {seed}; "
          f"{len(names[d])} + {len(names[e])} names left")
    ok = dir_size_ok(d) and dir_size_ok(e) and os.stat(c).st_size == len(clones) * BLOCK
    return 0 if ok else 1


def verify(root):
    want = {"d": set(), "e": set()}
    clones = []
    with open(os.path.join(root, "names.txt")) as f:
        for line in f:
            tag, rest = line.rstrip("\n").split(" ", 1)
            if tag == "c":
                clones = [int(x) for x in rest.split()]
            else:
                want[tag].add(rest)
    ok = True
    for tag in ("d", "e"):
        p = os.path.join(root, tag)
        got = set(os.listdir(p))
        if got != want[tag]:
            print(f"nsrace: {p}: {len(got - want[tag])} unexpected names, {len(want[tag] - got)} missing",
                  file=sys.stderr)
            ok = False
        ok = dir_size_ok(p) and ok
    with open(os.path.join(root, "c"), "rb") as f:
        data = f.read()
    if data != b"".join(block(i) for i in clones):
        print(f"nsrace: c has {len(data)} bytes, want the {len(clones)} cloned blocks", file=sys.stderr)
        ok = False
    print(f"nsrace: verified {len(want['d']) + len(want['e'])} names and {len(clones)} clones")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", allow_abbrev=False)
    r.add_argument("dir", metavar="DIR")
    r.add_argument("seconds", metavar="SECONDS", type=float)
    r.add_argument("seed", metavar="SEED", type=int)
    v = sub.add_parser("verify", allow_abbrev=False)
    v.add_argument("dir", metavar="DIR")
    args = ap.parse_args()
    if args.cmd == "run":
        return run(args.dir, args.seconds, args.seed)
    return verify(args.dir)


if __name__ == "__main__":
    sys.exit(main())
