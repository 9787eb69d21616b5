#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Edit fields of a btrfs primary superblock in place and reseal its crc32c.

usage: sbmod.py DEV OFFSET:FMT:VALUE ... [--no-reseal]
       sbmod.py DEV --batch LIST
  FMT is a struct format (<Q, <I, <H, B); VALUE is an integer (0x.. allowed).
  Offsets are from the start of the superblock (at 64 KiB), as in
  include/uapi/linux/btrfs_tree.h. Used by guest tests to make precise
  corruptions that only the field checks (not the checksum) can catch.
  --batch leaves DEV as it is: each line of LIST is "OUT [--no-reseal]
  OFFSET:FMT:VALUE ...", and the edited 4096-byte superblock goes to the
  file OUT (one Python start for many variants; dd it to DEV at 64 KiB).
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
    ap.add_argument("--batch", metavar="LIST",
                    help="write one edited superblock per line of LIST to a file")
    ap.add_argument("dev", metavar="DEV")
    ap.add_argument("edits", metavar="OFFSET:FMT:VALUE", nargs="*")
    args = ap.parse_intermixed_args()
    if args.batch and args.edits:
        ap.error("--batch takes its edits from LIST")
    with open(args.dev, "rb" if args.batch else "r+b") as f:
        f.seek(65536)
        sb = f.read(4096)
        if not args.batch:
            f.seek(65536)
            f.write(edited(sb, args.edits, args.reseal))
            return
    with open(args.batch) as lst:
        for line in lst:
            words = line.split()
            if not words:
                continue
            out, rest = words[0], words[1:]
            reseal = "--no-reseal" not in rest
            with open(out, "wb") as o:
                o.write(edited(sb, [w for w in rest if w != "--no-reseal"], reseal))


def edited(sb, edits, reseal):
    """sb with the edits made, its crc32c resealed unless told not to."""
    sb = bytearray(sb)
    for e in edits:
        off, fmt, val = e.split(":")
        struct.pack_into(fmt, sb, int(off, 0), int(val, 0))
    if reseal:
        sb[0:32] = struct.pack("<I", crc32c(bytes(sb[32:]))) + bytes(28)
    return bytes(sb)


if __name__ == "__main__":
    main()
