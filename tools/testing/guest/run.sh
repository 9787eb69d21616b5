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
# restore_module NAME: after test NAME, the module of this run (rbtrfs,
# or C btrfs for --fs cbtrfs) is the one loaded, and no other btrfs.
restore_module() {
    local want=rbtrfs other=btrfs
    [ "${RBTRFS_FS:-}" = cbtrfs ] && { want=btrfs; other=rbtrfs; }
    [ "${RBTRFS_FS:-}" = none ] && return 0
    lsmod | grep -q "^$want " && ! lsmod | grep -q "^$other " && return 0
    case "$1" in verify_*) ;; *) echo "  run.sh: $1 left the modules changed; loading $want again" ;; esac
    umount -a -t btrfs 2>/dev/null || true
    for l in $(losetup -a 2>/dev/null | cut -d: -f1); do losetup -d "$l" 2>/dev/null || true; done
    if [ "$other" = btrfs ]; then modprobe -r -d "$RBTRFS_KDIR/modroot" btrfs 2>/dev/null || true
    else rmmod rbtrfs 2>/dev/null || true; fi
    if lsmod | grep -q "^$want "; then :
    elif [ "$want" = rbtrfs ]; then insmod "$RBTRFS_MODDIR/rbtrfs.ko"
    else modprobe -d "$RBTRFS_KDIR/modroot" btrfs; fi || echo "  run.sh: loading $want failed"
}
passed=0; failed=0
for t in "${tests[@]}"; do
    name=$(basename "$t" .sh)
    # verify_*: run only when named (they check images other runs wrote),
    # with C btrfs; cbtrfs_*: with C btrfs; the rest with rbtrfs.
    case "$name" in verify_*) [ $# -gt 0 ] || continue ;;
                    cbtrfs_*) [ "${RBTRFS_FS:-}" = cbtrfs ] || continue ;;
                    *) [ "${RBTRFS_FS:-}" = cbtrfs ] && continue ;; esac
    dmesg -C
    # verify_* tests check with C btrfs what rbtrfs wrote: in an rbtrfs
    # run, C btrfs takes rbtrfs's place for them (restore_module undoes it).
    case "$name" in verify_*) if [ "${RBTRFS_FS:-}" = rbtrfs ]; then
        rmmod rbtrfs && modprobe -d "$RBTRFS_KDIR/modroot" btrfs || echo "  run.sh: loading C btrfs failed"
    fi ;; esac
    start=$(date +%s)
    echo "=== $name"
    # A test that hangs fails alone (after RBTRFS_TEST_TIMEOUT seconds)
    # instead of taking the rest of the run with it.
    if timeout -k 30 "${RBTRFS_TEST_TIMEOUT:-1800}" \
        bash -c 'set -euo pipefail
            # RBTRFS_TRACE=DIR (a directory shared with the host): a timed
            # xtrace of each test in DIR/NAME.trace, to see where time goes.
            if [ -n "${RBTRFS_TRACE:-}" ]; then
                exec {xfd}>"$RBTRFS_TRACE/$3.trace"; BASH_XTRACEFD=$xfd
                PS4="+ \${EPOCHREALTIME} \${BASH_SOURCE:-bash}:\${LINENO}: "; set -x
            fi
            source "$1"; source "$2"; check_all' _ "$HERE/lib.sh" "$t" "$name" 2>&1; then
        echo "PASS $name ($(( $(date +%s) - start ))s)"; passed=$((passed + 1))
    else
        echo "FAIL $name"; failed=$((failed + 1))
    fi
    for d in /dev/vd?; do mountpoint -q /tmp/mnt && umount /tmp/mnt; done 2>/dev/null
    # A test that failed half way may leave the other btrfs loaded: put
    # back the one this run is for, so that one failure stays one.
    restore_module "$name"
done
echo "guest: $passed passed, $failed failed"
[ $failed = 0 ]
