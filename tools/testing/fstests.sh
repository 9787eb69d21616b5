#!/usr/bin/env bash
# make fstests: run tests of a user's own fstests checkout in the guest.
#
#   tools/testing/fstests.sh --fstests DIR [--fs rbtrfs|cbtrfs]
#                            [--flavour debug|plain] [--timeout S] TEST...
#   make fstests FSTESTS=DIR TESTS="generic/001 btrfs/187" [FS=rbtrfs|cbtrfs]
#
# DIR is an fstests (xfstests) checkout; it is built here if it has not
# been (the Debian packages fstests needs are installed first). Each test
# runs in a guest of its own, so a hang fails that test alone: fresh
# sparse TEST_DEV (/dev/vda) and SCRATCH_DEV (/dev/vdb) images of 10 GiB,
# a local.config written for them, FSTYP=btrfs, and rbtrfs or C btrfs
# loaded. Results, the test's .full and .dmesg files, and a summary line
# per test land in build/fstests/<fs>/. Prints "N passed, M failed"
# (notrun tests are counted apart) and exits non-zero if any test failed.
# Not part of make check: CI cannot download fstests.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
FS=rbtrfs; FLAVOUR=debug; TIMEOUT=7200; FSTESTS=""
usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0" | sed 's/^# \{0,1\}//'; }
bad() { echo "fstests.sh: $*" >&2; usage >&2; exit 2; }
TESTS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --fstests|--fs|--flavour|--timeout) [ $# -ge 2 ] || bad "$1 needs a value" ;;
    esac
    case "$1" in
        --fstests) FSTESTS=$2; shift 2 ;;
        --fs) FS=$2; shift 2 ;;
        --flavour) FLAVOUR=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        -*) bad "unknown option $1" ;;
        *) TESTS+=("$1"); shift ;;
    esac
done
[ -n "$FSTESTS" ] || bad "no fstests checkout (--fstests DIR, or make fstests FSTESTS=DIR)"
[ -f "$FSTESTS/check" ] || bad "$FSTESTS is not an fstests checkout (no ./check)"
[ ${#TESTS[@]} -gt 0 ] || bad "no tests named"
case "$FS" in rbtrfs|cbtrfs) ;; *) bad "--fs must be rbtrfs or cbtrfs" ;; esac
FSTESTS=$(realpath "$FSTESTS")

# What fstests needs to build and run (Debian names).
PKGS=(autoconf automake libtool libtool-bin make gcc pkg-config uuid-dev libattr1-dev libacl1-dev
      libaio-dev liburing-dev libgdbm-dev xfslibs-dev libbtrfsutil-dev libcap-dev gawk bc dump
      psmisc quota xfsprogs btrfs-progs fio attr acl)
need=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "fstests: apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -x "$FSTESTS/ltp/fsstress" ] || [ ! -x "$FSTESTS/src/xfsctl" ]; then
    echo "fstests: building $FSTESTS"
    make -C "$FSTESTS" -j"$(nproc)" >"$TOP/build/fstests-build.log" 2>&1 \
        || { tail -20 "$TOP/build/fstests-build.log"; echo "fstests: build failed" >&2; exit 1; }
fi

OUT=$TOP/build/fstests/$FS
mkdir -p "$OUT"
IMG=$OUT/img
mkdir -p "$IMG"
passed=0; failed=0; notrun=0
for t in "${TESTS[@]}"; do
    name=${t//\//-}
    rm -f "$IMG"/*.img "$OUT/$name".*
    truncate -s 10G "$IMG/test.img" "$IMG/scratch.img"
    echo "== $t on $FS"
    start=$(date +%s)
    rc=0
    "$TOP/tools/testing/vm-run" --fs "$FS" --flavour "$FLAVOUR" --timeout "$TIMEOUT" \
        --disk "$IMG/test.img" --disk "$IMG/scratch.img" --rwdir "$OUT" \
        -- "$TOP/tools/testing/guest/fstests-guest.sh" "$FSTESTS" "$t" "$OUT" >"$OUT/$name.console" 2>&1 || rc=$?
    secs=$(( $(date +%s) - start ))
    status=$(sed -n 's/^fstests-status: //p' "$OUT/$name.console" | tr -d '\r' | tail -1)
    [ $rc = 124 ] && status="fail (guest timed out after ${TIMEOUT}s)"
    [ -n "$status" ] || status="fail (no result; see $OUT/$name.console)"
    case "$status" in
        pass) passed=$((passed + 1)) ;;
        notrun*) notrun=$((notrun + 1)) ;;
        *) failed=$((failed + 1)) ;;
    esac
    echo "$t: $status (${secs}s)" | tee -a "$OUT/summary.txt"
done
rm -f "$IMG"/*.img
echo "results in $OUT"
echo "$passed passed, $failed failed, $notrun notrun"
[ $failed = 0 ]
