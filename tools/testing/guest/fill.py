#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Deterministic files for ENOSPC tests (rw_enospc).

  fill.py write DIR PREFIX COUNT SIZE_MIB   write DIR/PREFIX<i> until ENOSPC;
                                            prints "name size" per file
  fill.py verify DIR MANIFEST               every "name size" file of the
                                            manifest has exactly its content

File NAME's content is a stream seeded by its base name, so a file of any length can
be checked without keeping its data. A write that gets ENOSPC leaves the file
at the size the writes reached (write() reports what it accepted, all of
which must reach the disk: fsync after ENOSPC must succeed).
"""
import argparse
import errno
import hashlib
import os
import sys

CHUNK = 1 << 20


def stream(name, length):
    """The first `length` bytes of file `name`'s content."""
    out = bytearray()
    i = 0
    while len(out) < length:
        out += hashlib.sha256(f"{name}:{i}".encode()).digest() * 128   # 4 KiB
        i += 1
    return bytes(out[:length])


def write(d, prefix, count, size_mib):
    full = False
    for i in range(count):
        name = f"{prefix}{i}"
        path = os.path.join(d, name)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                print(f"# create {name}: ENOSPC", flush=True)
                break
            raise
        data = stream(name, size_mib * CHUNK)
        done = 0
        try:
            while done < len(data):
                try:
                    n = os.write(fd, data[done:done + CHUNK])
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    print(f"# write {name} at {done}: ENOSPC", flush=True)
                    full = True
                    break
                done += n
            # Everything write() accepted had its space reserved.
            os.fsync(fd)
        finally:
            os.close(fd)
        print(f"{name} {done}", flush=True)
        if full:
            break
    if not full:
        print("# no ENOSPC", flush=True)


def verify(d, manifest):
    bad = 0
    n = 0
    with open(manifest) as m:
        for line in m:
            if line.startswith("#") or not line.strip():
                continue
            name, size = line.split()
            size = int(size)
            path = os.path.join(d, name)
            st = os.stat(path)
            if st.st_size != size:
                print(f"{name}: size {st.st_size}, want {size}")
                bad += 1
                continue
            with open(path, "rb") as f:
                got = f.read()
            want = stream(os.path.basename(name), size)
            if got != want:
                first = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)
                print(f"{name}: differs at byte {first}")
                bad += 1
            n += 1
    print(f"verified {n} files, {bad} bad")
    return bad == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="write|verify")
    w = sub.add_parser("write", allow_abbrev=False, help="write DIR/PREFIX<i> until ENOSPC")
    w.add_argument("dir", metavar="DIR")
    w.add_argument("prefix", metavar="PREFIX")
    w.add_argument("count", metavar="COUNT", type=int)
    w.add_argument("size_mib", metavar="SIZE_MIB", type=int)
    v = sub.add_parser("verify", allow_abbrev=False, help="check the files a manifest lists")
    v.add_argument("dir", metavar="DIR")
    v.add_argument("manifest", metavar="MANIFEST")
    args = ap.parse_args()
    if args.cmd == "write":
        write(args.dir, args.prefix, args.count, args.size_mib)
    else:
        sys.exit(0 if verify(args.dir, args.manifest) else 1)


if __name__ == "__main__":
    main()
