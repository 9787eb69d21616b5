#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The guest half of `make fstests` (tools/testing/fstests.sh): runs one
# fstests test from a checkout on /dev/vda (TEST_DEV) and /dev/vdb
# (SCRATCH_DEV) and copies its result files to OUT.
#   usage (inside vm-run): fstests-guest.sh FSTESTS_DIR TEST OUT
case "${1:-}" in -h|--help) sed -n '3,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
[ $# = 3 ] || { echo "usage: fstests-guest.sh FSTESTS_DIR TEST OUT" >&2; exit 2; }
SRC=$1; TEST=$2; OUT=$3
set -u
name=${TEST//\//-}
# The host root is read-only here: run from a writable copy of the tree.
mkdir -p /tmp/fstests /tmp/test /tmp/scratch
rsync -a --exclude=.git "$SRC/" /tmp/fstests/
cd /tmp/fstests || exit 1
# The users and groups some tests need (/etc is a writable overlay).
for u in fsgqa fsgqa2 123456-fsgqa; do id "$u" >/dev/null 2>&1 || useradd -M "$u" 2>/dev/null; done
getent group fsgqa >/dev/null || groupadd fsgqa 2>/dev/null
mkfs.btrfs -f -q /dev/vda >/dev/null || { echo "fstests-status: fail (mkfs of TEST_DEV)"; exit 1; }
cat > local.config <<EOF
export FSTYP=btrfs
export TEST_DEV=/dev/vda
export TEST_DIR=/tmp/test
export SCRATCH_DEV=/dev/vdb
export SCRATCH_MNT=/tmp/scratch
export RESULT_BASE=/tmp/fstests/results
EOF
dmesg -C
./check "$TEST" 2>&1 | tee /tmp/check.out
res=/tmp/fstests/results/$TEST
for f in "$res".out.bad "$res".full "$res".dmesg "$res".notrun; do
    [ -f "$f" ] && cp "$f" "$OUT/$name.$(basename "$f" | sed 's/^[^.]*\.//')"
done
dmesg > "$OUT/$name.kmsg"
if grep -q "^Passed all" /tmp/check.out; then
    echo "fstests-status: pass"
elif grep -q "^Not run:" /tmp/check.out; then
    echo "fstests-status: notrun ($(cat "$res".notrun 2>/dev/null))"
else
    echo "fstests-status: fail"
fi
