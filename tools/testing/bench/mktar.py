#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Write a deterministic, source-tree-like tarball for the untar benchmark.

usage: mktar.py OUT.tar --files N [--seed S]

N regular files in nested directories (a few levels, 5-40 entries per
directory, like a kernel tree), sizes drawn from a log-normal distribution
with a median of 4 KiB and a cap of 256 KiB (mean about 7 KiB, so 24000 files
make about 160 MiB), text-like content, plus a symlink every 500 files.
The same N and seed always give the same bytes. Written straight into the
tar stream: nothing is created on the host's filesystem but OUT.tar.
"""
import argparse
import io
import math
import random
import tarfile


def main():
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", metavar="OUT.tar")
    ap.add_argument("--files", metavar="N", type=int, required=True)
    ap.add_argument("--seed", metavar="S", type=int, default=1)
    args = ap.parse_args()
    out, nfiles, seed = args.out, args.files, args.seed
    rnd = random.Random(seed)
    words = [("".join(rnd.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(rnd.randint(2, 10))))
             for _ in range(2000)]
    # 2 MiB of text-like bytes; each file is a slice of it at a random offset.
    text = []
    size = 0
    while size < (2 << 20) + (256 << 10):
        line = " ".join(rnd.choice(words) for _ in range(rnd.randint(1, 12))) + ";\n"
        text.append(line)
        size += len(line)
    text = "".join(text).encode()

    mtime = 1700000000
    total = 0
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tar:
        def add_dir(path):
            ti = tarfile.TarInfo(path)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            ti.mtime = mtime
            tar.addfile(ti)

        add_dir("src")
        dirs = ["src"]
        made = 0
        ndir = 0
        while made < nfiles:
            # Pick a parent among the recent directories, make a new one
            # (depth grows to about 5), fill it with 5-40 files.
            parent = dirs[-1 - rnd.randrange(min(len(dirs), 8))]
            if parent.count("/") >= 5:
                parent = "src"
            ndir += 1
            d = f"{parent}/{rnd.choice(words)}{ndir}"
            add_dir(d)
            dirs.append(d)
            for _ in range(min(rnd.randint(5, 40), nfiles - made)):
                n = int(min(256 << 10, math.exp(rnd.gauss(math.log(4096), 1.1))))
                off = rnd.randrange(len(text) - n)
                ti = tarfile.TarInfo(f"{d}/{rnd.choice(words)}_{made}.{rnd.choice('chsS')}")
                ti.size = n
                ti.mode = 0o644
                ti.mtime = mtime
                tar.addfile(ti, io.BytesIO(text[off:off + n]))
                made += 1
                total += n
                if made % 500 == 0:
                    ti = tarfile.TarInfo(f"{d}/link_{made}")
                    ti.type = tarfile.SYMTYPE
                    ti.linkname = f"{rnd.choice(words)}_{made - 1}.c"
                    ti.mtime = mtime
                    tar.addfile(ti)
    print(f"mktar: {out}: {made} files in {ndir + 1} directories, {total >> 20} MiB of data")


if __name__ == "__main__":
    main()
