#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""One phase of the metadata benchmark, timed from inside one process.

usage: meta.py create|stat|rename|unlink DIR NFILES NDIRS

create: NDIRS directories d000.., NFILES empty files f000000.. spread round
        robin over them (file i in directory i % NDIRS);
stat:   lstat every file by name;
rename: rename every f* to r* in its directory;
unlink: unlink every r*.
Phases that change the namespace end with sync(), so the time includes making
the change durable. Prints the phase's elapsed seconds (no interpreter start-up
in it) as its last line.
"""
import argparse
import os
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=["create", "stat", "rename", "unlink"])
    ap.add_argument("dir", metavar="DIR")
    ap.add_argument("nfiles", metavar="NFILES", type=int)
    ap.add_argument("ndirs", metavar="NDIRS", type=int)
    args = ap.parse_args()
    phase, top, nfiles, ndirs = args.phase, args.dir, args.nfiles, args.ndirs
    dirs = [os.path.join(top, f"d{d:03d}") for d in range(ndirs)]
    names = [os.path.join(dirs[i % ndirs], f"f{i:06d}") for i in range(nfiles)]
    renamed = [os.path.join(dirs[i % ndirs], f"r{i:06d}") for i in range(nfiles)]
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY
    start = time.monotonic()
    if phase == "create":
        for d in dirs:
            os.mkdir(d)
        for n in names:
            os.close(os.open(n, flags, 0o644))
        os.sync()
    elif phase == "stat":
        for n in names:
            os.lstat(n)
    elif phase == "rename":
        for a, b in zip(names, renamed):
            os.rename(a, b)
        os.sync()
    elif phase == "unlink":
        for n in renamed:
            os.unlink(n)
        os.sync()
    print(f"{time.monotonic() - start:.3f}")


if __name__ == "__main__":
    main()
