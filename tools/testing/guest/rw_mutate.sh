#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Deterministic changes to a tree made by mktree.py: applied to an rbtrfs
# mount and to a reference copy on another filesystem, the two must end up
# equal (names, modes, owners, times, xattrs, links and every byte).
#   usage: rw_mutate.sh DIR
set -euo pipefail
# usage: the header comment above, without its '#'s.
usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 && !/SPDX-License/' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) echo "rw_mutate.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# = 1 ] || { usage >&2; exit 2; }
D=$1
cd "$D"
# New files of every size class, directories, links.
mkdir -p new/deep/er/still
python3 -c '
for n in (0, 1, 100, 2047, 2048, 2049, 4095, 4096, 4097, 65536, 300000):
    with open(f"new/f-{n}", "wb") as f:
        f.write(bytes((i * 7 + n) % 251 for i in range(n)))
'
head -c 5000000 /dev/zero | tr '\0' 'z' > new/deep/er/still/five-mb
ln new/f-100 new/hard-100
ln -s ../new/f-4096 new/deep/sym
mkfifo new/fifo
mknod new/chr c 1 3
setfattr -n user.colour -v blue new/f-0
setfattr -n user.big -v "$(head -c 1500 /dev/zero | tr '\0' 'x')" new/deep
# Overwrite in the middle, append, extend with a hole, shrink.
printf 'MIDDLE' | dd of=new/f-65536 bs=1 seek=30000 conv=notrunc status=none
printf 'tail' >> new/f-4096
truncate -s 1000000 new/f-2049
truncate -s 3000 new/f-300000
truncate -s 100 new/f-4097
# Renames: within a directory, across directories, over an existing file.
mv new/f-1 new/deep/moved-1
mv new/deep/er new/er-moved
mv new/f-2047 new/f-2048
# Remove some of mktree's tree, and a directory.
rm -f hardlink-1 new/hard-100
rmdir new/deep/er 2>/dev/null || true
setfattr -x user.colour new/f-0
chmod 0600 new/f-0
chown 1234:5678 new/f-100
# Everything this touched gets fixed times, so a copy made at another
# moment compares equal (f-100 keeps its own nanoseconds).
find . -depth ! -path ./new/f-100 -exec touch -h -d '2021-01-01 00:00:00.5' {} +
touch -d '2020-02-02 02:02:02.123456789' new/f-100
