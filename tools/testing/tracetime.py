#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Where a guest test spends its time, from its timed xtrace.

TRACE=1 make check (or run.sh with RBTRFS_TRACE=DIR) writes NAME.trace
with one "+ EPOCH FILE:LINE: COMMAND" line per command. Each line is
charged the time until the next one; the lines of each file are summed,
and the costliest are printed with the command last seen on them.
"""
import argparse
import collections
import os
import re
import sys

LINE = re.compile(r'^\++ (\d+\.\d+) ([^:]*):(\d+): (.*)$')


def profile(path):
    cost = collections.Counter()
    text = {}
    prev = None
    first = last = None
    with open(path, errors='replace') as f:
        for raw in f:
            m = LINE.match(raw.rstrip('\n'))
            if not m:
                continue
            t = float(m.group(1))
            where = f'{m.group(2)}:{m.group(3)}'
            if prev is not None:
                cost[prev] += t - last
            first = t if first is None else first
            prev, last = where, t
            text[where] = m.group(4)[:90]
    return cost, text, (last - first) if first is not None else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('traces', nargs='+', help='NAME.trace files')
    ap.add_argument('-n', type=int, default=8, help='lines per test (default 8)')
    args = ap.parse_args()
    rows = []
    for p in args.traces:
        cost, text, total = profile(p)
        rows.append((total, os.path.basename(p)[:-6], cost, text))
    for total, name, cost, text in sorted(rows, key=lambda r: r[0], reverse=True):
        print(f'{total:7.1f} s  {name}')
        for where, c in cost.most_common(args.n):
            print(f'    {c:6.1f} s  {where:28} {text[where]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
