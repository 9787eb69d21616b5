#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make bench: rbtrfs and C btrfs side by side, in one guest run.
#   usage: bench.sh [--smoke] [--flavour plain|debug] [--out DIR]
# Builds rbtrfs.ko for the flavour (plain by default: no debug checks), writes
# the untar workload's tarball, boots one guest (vm-run --fs none: the guest
# loads and unloads each module itself) on a fresh sparse 4 GiB scratch disk,
# then prints the table and writes DIR/results.json, DIR/ratios.svg and
# DIR/table.md (DIR defaults to build/bench).
#
# --smoke: tiny sizes, one repetition; exits non-zero unless every row was
# measured on both implementations (and the raw disk where it applies) and
# every btrfs check and dmesg check passed. That is make check's verdict on
# the harness; timings never decide it.
# Otherwise (make bench) the exit status is 0 whenever a table was printed:
# slow or failed rows are results, not build failures.
#
# Environment: BENCH_PROFILE=1 (perf reports into DIR/profile/),
# BENCH_REPS, BENCH_WORKLOADS, BENCH_TIMEOUT (seconds), the size overrides
# listed in guest.sh, RBTRFS_CACHE.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../../.." && pwd)
T=$TOP/tools/testing
B=$T/bench
MODE=full; FLAVOUR=plain; OUT=$TOP/build/bench
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) MODE=smoke; shift ;;
        --flavour) FLAVOUR=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        *) sed -n '3,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
mkdir -p "$OUT"
OUT=$(realpath "$OUT")

if [ "$MODE" = smoke ]; then
    TAR_FILES=${BENCH_TAR_FILES:-1000}; TIMEOUT=${BENCH_TIMEOUT:-1200}
else
    TAR_FILES=${BENCH_TAR_FILES:-24000}; TIMEOUT=${BENCH_TIMEOUT:-7200}
fi
echo "bench: building rbtrfs.ko ($FLAVOUR kernel)"
"$T/build-module.sh" "$FLAVOUR" > /dev/null

# The tarball is deterministic: keep it between runs (it is ~190 MiB at full size).
TAR=$TOP/build/bench-src-$TAR_FILES.tar
[ -f "$TAR" ] || python3 "$B/mktar.py" "$TAR" --files "$TAR_FILES"

RAW=$OUT/raw
rm -rf "$RAW"; mkdir -p "$RAW"
SCRATCH=$OUT/scratch.img
rm -f "$SCRATCH"; truncate -s 4G "$SCRATCH"
echo "bench: $MODE run, one guest ($FLAVOUR kernel, QEMU TCG); progress in $RAW/progress.log"
# The guest does not inherit our environment: pass the BENCH_* settings on.
GENV=(BENCH_MODE="$MODE" BENCH_TAR="$TAR")
for v in $(compgen -v BENCH_); do
    case "$v" in BENCH_MODE|BENCH_TAR|BENCH_TIMEOUT|BENCH_TAR_FILES) ;; *) GENV+=("$v=${!v}") ;; esac
done
start=$(date +%s)
set +e
"$T/vm-run" --flavour "$FLAVOUR" --fs none --timeout "$TIMEOUT" --memory 4G --cpus 2 \
    --rwdir "$RAW" --disk "$SCRATCH" -- env "${GENV[@]}" "$B/guest.sh" "$RAW" > "$OUT/guest.log" 2>&1
vm_rc=$?
set -e
elapsed=$(( $(date +%s) - start ))
rm -f "$SCRATCH"
[ $vm_rc = 0 ] || { echo "bench: the guest exited $vm_rc; last lines:"; tail -n 15 "$OUT/guest.log"; }

# perf reports (BENCH_PROFILE=1): Rust symbols demangled, kept in DIR/profile.
if [ -d "$RAW/profile" ]; then
    rm -rf "$OUT/profile"; mv "$RAW/profile" "$OUT/profile"
    python3 "$B/demangle.py" "$OUT"/profile/*.txt
    echo "bench: perf reports in $OUT/profile/"
fi

report=(python3 "$B/report.py" --raw "$RAW" --out "$OUT" --elapsed "$elapsed" --vm-rc "$vm_rc" --flavour "$FLAVOUR")
if [ "$MODE" = smoke ]; then
    "${report[@]}" --require-complete
else
    "${report[@]}" || { echo "bench: no table (report.py failed)"; exit 1; }
fi
