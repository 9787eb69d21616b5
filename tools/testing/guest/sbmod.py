#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Edit fields of a btrfs primary superblock in place and reseal its crc32c.

usage: sbmod.py DEV OFFSET:FMT:VALUE ... [--no-reseal]
  FMT is a struct format (<Q, <I, <H, B); VALUE is an integer (0x.. allowed).
  Offsets are from the start of the superblock (at 64 KiB), as in
  include/uapi/linux/btrfs_tree.h. Used by guest tests to make precise
  corruptions that only the field checks (not the checksum) can catch.
"""
import argparse
import struct

POLY = 0x82F63B78
TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ POLY if c & 1 else c >> 1
    TABLE.append(c)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = (crc >> 8) ^ TABLE[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFFFFFF


def main():
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-reseal", dest="reseal", action="store_false",
                    help="leave the checksum as it is")
    ap.add_argument("dev", metavar="DEV")
    ap.add_argument("edits", metavar="OFFSET:FMT:VALUE", nargs="*")
    args = ap.parse_intermixed_args()
    reseal, dev, edits = args.reseal, args.dev, args.edits
    with open(dev, "r+b") as f:
        f.seek(65536)
        sb = bytearray(f.read(4096))
        for e in edits:
            off, fmt, val = e.split(":")
            struct.pack_into(fmt, sb, int(off, 0), int(val, 0))
        if reseal:
            sb[0:32] = struct.pack("<I", crc32c(bytes(sb[32:]))) + bytes(28)
        f.seek(65536)
        f.write(sb)


if __name__ == "__main__":
    main()
