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
# usage: the header comment above, without its '#'s.
usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 && !/SPDX-License/' "$0" | sed 's/^# \{0,1\}//'; }
bad_usage() { echo "bench.sh: $*" >&2; usage >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --flavour|--out) [ $# -ge 2 ] || bad_usage "$1 needs a value" ;;
    esac
    case "$1" in
        --smoke) MODE=smoke; shift ;;
        --flavour) FLAVOUR=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) bad_usage "unknown argument $1" ;;
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
ALL_WL=${BENCH_WORKLOADS:-seq rand meta tree snap}
start=$(date +%s)
vm_rc=0; boots=0; : > "$OUT/guest.log"
# One guest runs everything. If it dies (a kernel crash takes the guest with
# it), the phase it was in is recorded as failed, its console is kept, and a
# new guest goes on with the workloads not yet run; at most 3 boots.
while :; do
    boots=$((boots + 1))
    todo=$ALL_WL
    if [ $boots -gt 1 ]; then
        todo=$(for w in $ALL_WL; do grep -qx "$w" "$RAW/done" 2>/dev/null || echo "$w"; done | tail -n +2 | xargs)
        [ -n "$todo" ] || break
        echo "bench: guest $boots for the workloads left: $todo"
    fi
    set +e
    VM_RUN_CONSOLE=$OUT/console-$boots.log "$T/vm-run" --flavour "$FLAVOUR" --fs none --timeout "$TIMEOUT" \
        --memory 4G --cpus 2 --rwdir "$RAW" --disk "$SCRATCH" -- \
        env "${GENV[@]}" BENCH_WORKLOADS="$todo" BENCH_RESUME=$((boots > 1)) "$B/guest.sh" "$RAW" >> "$OUT/guest.log" 2>&1
    rc=$?
    set -e
    [ $rc = 0 ] && break
    vm_rc=$rc
    echo "bench: guest $boots exited $rc; last lines:"; tail -n 8 "$OUT/guest.log"
    # The phase it died in: the last "IMPL rep N: ROW" line of progress.log.
    last=$(tail -n1 "$RAW/progress.log" | grep -E '^[0-9:]+   [a-z]+ rep [0-9]+: [a-z_]+$' || true)
    if [ -n "$last" ]; then
        read -r _ impl _ rep row _ <<<"$last"
        printf '{"row":"%s","impl":"%s","rep":%s,"error":"the guest died in this phase (exit %s; console: console-%s.log)"}\n' \
            "$row" "$impl" "${rep%:}" "$rc" "$boots" >> "$RAW/samples.jsonl"
    fi
    { [ $rc = 124 ] || [ $boots -ge 3 ]; } && break
done
elapsed=$(( $(date +%s) - start ))
rm -f "$SCRATCH"

# perf reports (BENCH_PROFILE=1): Rust symbols demangled, kept in DIR/profile.
if [ -d "$RAW/profile" ]; then
    rm -rf "$OUT/profile"; mv "$RAW/profile" "$OUT/profile"
    python3 "$B/demangle.py" "$OUT"/profile/*.txt
    echo "bench: perf reports in $OUT/profile/"
fi

report=(python3 "$B/report.py" --raw "$RAW" --out "$OUT" --elapsed "$elapsed" --vm-rc "$vm_rc" --boots "$boots" --flavour "$FLAVOUR")
if [ "$MODE" = smoke ]; then
    "${report[@]}" --require-complete
else
    "${report[@]}" || { echo "bench: no table (report.py failed)"; exit 1; }
fi
