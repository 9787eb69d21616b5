#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In-guest test runner: runs each test (all of tests/*.sh, or those named) in
# its own shell with a cleared dmesg, prints PASS/FAIL per test and a final
# "N passed, M failed" line. Exits non-zero if any test failed.
#   usage (inside vm-run): tools/testing/guest/run.sh [NAME...]
usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 && !/SPDX-License/' "$0" | sed 's/^# \{0,1\}//'; }
names=()
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --) shift; names+=("$@"); break ;;
        -*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) names+=("$1"); shift ;;
    esac
done
set -- "${names[@]}"
HERE=$(cd "$(dirname "$0")" && pwd)
if [ $# -gt 0 ]; then
    tests=(); for n in "$@"; do tests+=("$HERE/tests/$n.sh"); done
else
    tests=("$HERE"/tests/*.sh)
fi
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
passed=0; failed=0
for t in "${tests[@]}"; do
    name=$(basename "$t" .sh)
    # verify_*: run only when named (they check images other runs wrote),
    # with C btrfs; cbtrfs_*: with C btrfs; the rest with rbtrfs.
    case "$name" in verify_*) [ $# -gt 0 ] || continue ;;
                    cbtrfs_*) [ "${RBTRFS_FS:-}" = cbtrfs ] || continue ;;
                    *) [ "${RBTRFS_FS:-}" = cbtrfs ] && continue ;; esac
    dmesg -C
    start=$(date +%s)
    echo "=== $name"
    # A test that hangs fails alone (after RBTRFS_TEST_TIMEOUT seconds)
    # instead of taking the rest of the run with it.
    if timeout -k 30 "${RBTRFS_TEST_TIMEOUT:-1800}" \
        bash -c 'set -euo pipefail; source "$1"; source "$2"; check_all' _ "$HERE/lib.sh" "$t" 2>&1; then
        echo "PASS $name ($(( $(date +%s) - start ))s)"; passed=$((passed + 1))
    else
        echo "FAIL $name"; failed=$((failed + 1))
    fi
    for d in /dev/vd?; do mountpoint -q /tmp/mnt && umount /tmp/mnt; done 2>/dev/null
done
echo "guest: $passed passed, $failed failed"
[ $failed = 0 ]
