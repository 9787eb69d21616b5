#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Deterministic files for the compressed-extent tests.

usage: mkcompressed.py base DIR       write the files into DIR
       mkcompressed.py overwrite DIR  overwrite parts of DIR/overwritten{,-2} in place

Written under C btrfs with compress-force, `base` gives (per algorithm):
large compressible files (several 128 KiB compressed extents each), tiny
compressible files (compressed inline extents, up to a whole 4096-byte
sector), an incompressible file (stored uncompressed), and a file with
holes between compressed extents. `overwrite`, run after a sync, writes
aligned and unaligned chunks over the compressed files `overwritten` and
`overwritten-2`, so
items with offset != 0 and split compressed extents exist. The same
commands on another filesystem build the reference.
"""
import argparse
import os
import random


def text(n, salt):
    """n bytes of repetitive, compressible text."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += f"{salt} line {i:07d}: the quick brown fox jumps over the lazy dog {i % 97:02d}\n".encode()
        i += 1
    return bytes(out[:n])


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def base(d):
    os.makedirs(d, exist_ok=True)
    for name, size in [("big-1m", 1 << 20), ("big-2m", 2 << 20), ("big-odd", (512 << 10) + 12345)]:
        write(os.path.join(d, name), text(size, name))
    for size in [1, 100, 700, 1500, 3000, 4000, 4096]:
        write(os.path.join(d, f"tiny-{size}"), text(size, "tiny"))
    write(os.path.join(d, "random-128k"), random.Random(42).randbytes(128 << 10))
    # Compressible data, a hole, more data, a trailing hole.
    with open(os.path.join(d, "holes"), "wb") as f:
        f.write(text(200000, "holes-a"))
        f.seek(1 << 20)
        f.write(text(70000, "holes-b"))
        f.truncate(2 << 20)
    for name in ["overwritten", "overwritten-2"]:
        write(os.path.join(d, name), text(512 << 10, "ow"))


# (offset, length, byte): unaligned and aligned chunks, one across a
# 128 KiB extent boundary, one at the very end.
OVERWRITES = [(5000, 3000, 0x41), (200003, 10, 0x42), (40 * 4096, 8192, 0x43),
              (131072 - 1000, 3000, 0x44), (300000, 65536, 0x45), ((512 << 10) - 7, 7, 0x46)]


def overwrite(d):
    for name in ["overwritten", "overwritten-2"]:
        with open(os.path.join(d, name), "r+b") as f:
            for off, n, b in OVERWRITES:
                f.seek(off)
                f.write(bytes([b]) * n)


def main():
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=["base", "overwrite"])
    ap.add_argument("dir", metavar="DIR")
    args = ap.parse_args()
    {"base": base, "overwrite": overwrite}[args.cmd](args.dir)


if __name__ == "__main__":
    main()
