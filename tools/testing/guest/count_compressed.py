#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Count the compressed file extent items in `btrfs inspect-internal
dump-tree` output (stdin), per compression type.

usage: btrfs inspect-internal dump-tree -t 5 DEV | count_compressed.py [--require]
Prints one line per type: regular items, inline items, regular items with
a non-zero offset (split or partly overwritten extents) and distinct disk
extents. --require: exit 1 unless zlib, lzo and zstd each have regular,
inline and non-zero-offset items.
"""
import argparse
import re
import sys

NAMES = {1: "zlib", 2: "lzo", 3: "zstd"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--require", action="store_true",
                    help="exit 1 unless zlib, lzo and zstd each have every kind of item")
    args = ap.parse_args()
    stats = {t: {"regular": 0, "inline": 0, "offset": 0, "extents": set()} for t in NAMES}
    disk = off = None
    for line in sys.stdin:
        m = re.search(r"inline extent data size \d+ ram_bytes \d+ compression (\d+)", line)
        if m and int(m.group(1)) in stats:
            stats[int(m.group(1))]["inline"] += 1
            continue
        m = re.search(r"extent data disk byte (\d+) nr \d+", line)
        if m:
            disk = int(m.group(1))
            continue
        m = re.search(r"extent data offset (\d+) nr \d+ ram \d+", line)
        if m:
            off = int(m.group(1))
            continue
        m = re.search(r"extent compression (\d+)", line)
        if m:
            t = int(m.group(1))
            if t in stats and disk:
                s = stats[t]
                s["regular"] += 1
                s["offset"] += off != 0
                s["extents"].add(disk)
            disk = off = None
    ok = True
    for t, name in NAMES.items():
        s = stats[t]
        print(f"{name}: {s['regular']} regular items ({len(s['extents'])} extents, "
              f"{s['offset']} with offset != 0), {s['inline']} inline items")
        ok = ok and s["regular"] > 0 and s["inline"] > 0 and s["offset"] > 0
    if args.require and not ok:
        print("some algorithm lacks regular, inline or offset != 0 compressed items")
        sys.exit(1)


if __name__ == "__main__":
    main()
