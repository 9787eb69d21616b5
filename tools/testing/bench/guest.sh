#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In-guest benchmark runner (started by bench.sh through vm-run --fs none).
#   usage: guest.sh OUTDIR
# Runs every workload on rbtrfs, on C btrfs and, where it applies, on the raw
# scratch disk /dev/vda, REPS times, interleaved: for each repetition a fresh
# mkfs, the rbtrfs module loaded, the workload, umount, rmmod; a fresh mkfs,
# the C module, the same workload, the same options; then fio on the raw disk.
# The order of the two implementations alternates between repetitions.
#
# Writes to OUTDIR (a vm-run --rwdir):
#   samples.jsonl  one JSON object per line: a measured value
#                  {"row","impl","rep","value"}, a row that could not be
#                  measured {"row","impl","rep","error"} or {..,"na"}, or a
#                  check {"check","impl","workload","ok","detail"}
#   meta.json      sizes, repetitions, kernel, tool versions
#   progress.log   what ran when (shows where a killed guest stopped)
#   done           the workloads finished, one a line
#   profile/       with BENCH_PROFILE=1: perf reports, one extra run per
#                  workload and implementation (not part of the samples)
# Benchmarks never fail: a failing row is recorded and the rest goes on.
#
# Environment: BENCH_MODE=full|smoke, BENCH_REPS, BENCH_WORKLOADS (subset of
# "seq rand meta tree snap"), BENCH_TAR (tarball for the tree workload),
# BENCH_PROFILE=1, BENCH_CRASH_IN=ROW (crash the guest there: tests the
# recovery in bench.sh), and size overrides BENCH_SEQ_MB, BENCH_RAND_FILE_MB,
# BENCH_RAND_IO_MB, BENCH_META_FILES, BENCH_META_DIRS, BENCH_SNAP_FILES.
set -uo pipefail
# usage: the header comment above, without its '#'s.
usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 && !/SPDX-License/' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) echo "guest.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# = 1 ] || { usage >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$1
MODE=${BENCH_MODE:-full}
if [ "$MODE" = smoke ]; then
    d_reps=1 d_seq=16 d_rfile=16 d_rio=2 d_mfiles=1000 d_mdirs=10 d_sfiles=1000
else
    d_reps=3 d_seq=1024 d_rfile=256 d_rio=16 d_mfiles=100000 d_mdirs=100 d_sfiles=100000
fi
REPS=${BENCH_REPS:-$d_reps}
SEQ_MB=${BENCH_SEQ_MB:-$d_seq}
RAND_FILE_MB=${BENCH_RAND_FILE_MB:-$d_rfile}
RAND_IO_MB=${BENCH_RAND_IO_MB:-$d_rio}
META_FILES=${BENCH_META_FILES:-$d_mfiles}
META_DIRS=${BENCH_META_DIRS:-$d_mdirs}
SNAP_FILES=${BENCH_SNAP_FILES:-$d_sfiles}
WORKLOADS=${BENCH_WORKLOADS:-seq rand meta tree snap}
PROFILE=${BENCH_PROFILE:-0}
DEV=/dev/vda
MNT=/tmp/bench-mnt
SAMPLES=$OUT/samples.jsonl
mkdir -p "$MNT" "$OUT"
# BENCH_RESUME=1 (bench.sh, after a guest died): append to what the dead guest wrote.
[ "${BENCH_RESUME:-0}" = 1 ] || { : > "$SAMPLES"; : > "$OUT/progress.log"; : > "$OUT/done"; }
# Kernel trouble, as in guest/lib.sh, plus hung tasks.
BAD_DMESG='WARNING:|BUG:|Oops|INFO: possible|possible circular locking|possible recursive locking|lockdep|UBSAN:|BTRFS error|BTRFS critical|kmemleak: [0-9]+ new suspected|trying to register non-static key|oom-kill|Call Trace|blocked for more than'

log() { echo "bench: $*"; echo "$(date +%T) $*" >> "$OUT/progress.log"; }
jstr() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }
# Samples are not recorded from profiled runs (perf perturbs them).
emit() { [ $PROFILING = 1 ] && return; echo "{\"row\":\"$1\",\"impl\":\"$2\",\"rep\":$3,\"value\":$4}" >> "$SAMPLES"; }
emit_error() { [ $PROFILING = 1 ] && return; echo "{\"row\":\"$1\",\"impl\":\"$2\",\"rep\":$3,\"error\":$(jstr "$4")}" >> "$SAMPLES"; }
emit_na() { [ $PROFILING = 1 ] && return; echo "{\"row\":\"$1\",\"impl\":\"$2\",\"rep\":$3,\"na\":$(jstr "$4")}" >> "$SAMPLES"; }
emit_io() { [ $PROFILING = 1 ] && return; echo "{\"row\":\"$1\",\"impl\":\"$2\",\"rep\":$3,\"io\":$4}" >> "$SAMPLES"; }
emit_check() { echo "{\"check\":\"$1\",\"impl\":\"$2\",\"workload\":\"$3\",\"ok\":$4,\"detail\":$(jstr "$5")}" >> "$SAMPLES"; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

load_module() {
    case "$1" in
        rbtrfs) insmod "$RBTRFS_MODDIR/rbtrfs.ko" ;;
        cbtrfs) modprobe -d "$RBTRFS_KDIR/modroot" btrfs ;;
    esac
}
unload_module() {
    case "$1" in
        rbtrfs) rmmod rbtrfs ;;
        cbtrfs) rmmod btrfs ;;
    esac
}

# The current run: implementation, repetition, whether perf records it, and
# the row whose failure ends it (later rows of the workload are skipped).
IMPL=""; REP=0; PROFILING=0; FAILED_AT=""

# phase ROW CMD...: run one measured phase. CMD prints the row's value as its
# last line of stdout. While profiling, perf records the whole system during
# CMD and the reports go to OUTDIR/profile; the value is not recorded.
phase() {
    local row=$1; shift
    if [ -n "$FAILED_AT" ]; then
        emit_error "$row" "$IMPL" "$REP" "not run: $FAILED_AT failed earlier in the workload"
        return 1
    fi
    log "  $IMPL rep $REP: $row$([ $PROFILING = 1 ] && echo ' (under perf record)')"
    local perf_pid="" rc=0 val
    if [ $PROFILING = 1 ]; then
        perf record -q -e cpu-clock -F 250 -a -g -o /tmp/perf.data > /tmp/perf.log 2>&1 &
        perf_pid=$!
        sleep 1
    fi
    local io0 io1
    io0=$(cat /sys/block/vda/stat)
    # Test hook for bench.sh's recovery: crash the guest in this phase.
    if [ "${BENCH_CRASH_IN:-}" = "$row" ] && [ "${BENCH_RESUME:-0}" = 0 ]; then
        echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger
    fi
    "$@" > /tmp/phase.out 2> /tmp/phase.err || rc=$?
    io1=$(cat /sys/block/vda/stat)
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid"; wait "$perf_pid"
        profile_report "$row"
    fi
    val=$(tail -n1 /tmp/phase.out)
    if [ $rc != 0 ] || ! [[ "$val" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
        FAILED_AT=$row
        local why
        why=$(grep -v '^$' /tmp/phase.err | tail -n2 | tr '\n' ' ' | cut -c1-200)
        [ -n "$why" ] || why=$(tail -n2 /tmp/phase.out | tr '\n' ' ' | cut -c1-200)
        log "  FAILED: $row on $IMPL (exit $rc): $why"
        emit_error "$row" "$IMPL" "$REP" "exit $rc: $why"
        return 1
    fi
    log "    = $val"
    emit "$row" "$IMPL" "$REP" "$val"
    # Block requests the phase sent to the disk (/sys/block/vda/stat: reads,
    # read sectors, writes, write sectors, discards, flushes), to tell where
    # a slow row's time goes.
    emit_io "$row" "$IMPL" "$REP" "$(awk -v a="$io0" -v b="$io1" 'BEGIN {
        split(a, x); split(b, y)
        printf "{\"reads\":%d,\"read_kib\":%d,\"writes\":%d,\"write_kib\":%d,\"discards\":%d,\"flushes\":%d}",
            y[1]-x[1], (y[3]-x[3])/2, y[5]-x[5], (y[7]-x[7])/2, y[12]-x[12], y[16]-x[16] }')"
}

# profile_report ROW: perf's views of the last recording, while the module
# is still loaded (module symbols come from /proc/kallsyms).
profile_report() {
    local p=$OUT/profile/$IMPL-$1 common=(-i /tmp/perf.data --kallsyms=/proc/kallsyms --stdio --percent-limit 0.5)
    mkdir -p "$OUT/profile"
    {
        echo "# $IMPL $1: self time by symbol (cpu-clock, all CPUs; idle = pv_native_safe_halt)"
        perf report "${common[@]}" --no-children --sort sym -g none 2>/dev/null | grep -v '^$'
        echo; echo "# by command"
        perf report "${common[@]}" --no-children --sort comm -g none 2>/dev/null | grep -v '^#' | grep -v '^$'
        echo; echo "# inclusive (children) by symbol"
        perf report "${common[@]}" --children --sort sym -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -80
    } > "$p.txt"
    perf report "${common[@]}" --no-children --sort sym -g caller,0.5,callee,function,percent 2>/dev/null \
        | head -2000 > "$p.callgraph.txt"
    rm -f /tmp/perf.data
}

# timed CMD...: run CMD (output discarded), print its wall time in seconds.
timed() {
    local s e
    s=$(date +%s.%N)
    "$@" > /dev/null || return $?
    e=$(date +%s.%N)
    awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", e - s }'
}
sh_sync() { "$@" && sync; }

# fio_run KIND ARGS...: one fio job; prints MiB/s (KIND=bw) or IOPS (KIND=iops)
# over fio's own runtime (for writes it includes the final fsync, see
# Documentation/benchmarks.md). fio's JSON is kept in /tmp/fio.json.
fio_run() {
    local kind=$1; shift
    fio --name=job --ioengine=psync --output-format=json --output=/tmp/fio.json "$@" >&2 || return $?
    python3 - "$kind" <<'EOF'
import json, sys
t = open("/tmp/fio.json").read()
job = json.loads(t[t.index("{"):])["jobs"][0]
if job["error"]:
    sys.exit(f"fio error {job['error']}")
ms = job["job_runtime"]
nbytes = job["read"]["io_bytes"] + job["write"]["io_bytes"]
nios = job["read"]["total_ios"] + job["write"]["total_ios"]
print(f"{nbytes / 1048576 / (ms / 1000):.2f}" if sys.argv[1] == "bw" else f"{nios / (ms / 1000):.1f}")
EOF
}

# The workloads. $1 is the target: a directory on the mounted filesystem, or
# the raw device. Buffered I/O on the filesystems (rbtrfs has no direct I/O),
# O_DIRECT on the raw disk.
wl_seq() {
    local f=$1/seqfile io=(--direct=0 --fallocate=none)
    [ "$IMPL" = raw ] && { f=$DEV; io=(--direct=1); }
    phase seq_write fio_run bw --filename="$f" --rw=write --bs=1M --size="${SEQ_MB}M" --end_fsync=1 "${io[@]}"
    drop_caches
    phase seq_read fio_run bw --filename="$f" --rw=read --bs=1M --size="${SEQ_MB}M" "${io[@]}"
}
wl_rand() {
    local f=$1/randfile io=(--direct=0 --fallocate=none)
    [ "$IMPL" = raw ] && { f=$DEV; io=(--direct=1); }
    # Lay the file out (not measured): the reads must hit written blocks.
    fio --name=layout --ioengine=psync --filename="$f" --rw=write --bs=1M --size="${RAND_FILE_MB}M" \
        --end_fsync=1 "${io[@]}" > /dev/null || FAILED_AT="laying out the file"
    drop_caches
    phase rand_read fio_run iops --filename="$f" --rw=randread --bs=4k --size="${RAND_FILE_MB}M" \
        --io_size="${RAND_IO_MB}M" --randrepeat=1 "${io[@]}"
    drop_caches
    phase rand_write fio_run iops --filename="$f" --rw=randwrite --bs=4k --size="${RAND_FILE_MB}M" \
        --io_size="${RAND_IO_MB}M" --randrepeat=1 --fsync=32 "${io[@]}"
}
wl_meta() {
    local a=("$1/meta" "$META_FILES" "$META_DIRS")
    mkdir "$1/meta"
    phase meta_create python3 "$HERE/meta.py" create "${a[@]}"
    drop_caches
    phase meta_stat python3 "$HERE/meta.py" stat "${a[@]}"
    drop_caches
    phase meta_rename python3 "$HERE/meta.py" rename "${a[@]}"
    drop_caches
    phase meta_unlink python3 "$HERE/meta.py" unlink "${a[@]}"
}
wl_tree() {
    phase tree_untar timed sh_sync tar -xf /tmp/bench-src.tar -C "$1"
    drop_caches
    phase tree_find timed find "$1/src"
    drop_caches
    phase tree_du timed du -s "$1/src"
    drop_caches
    phase tree_rm timed sh_sync rm -rf "$1/src"
}
snap_delete() { btrfs subvolume delete -c "$1/snap" && btrfs subvolume sync "$1"; }
wl_snap() {
    local err
    if ! err=$(btrfs subvolume create "$1/sv" 2>&1); then
        if [ "$IMPL" = rbtrfs ]; then
            log "  rbtrfs: btrfs subvolume create: $err"
            emit_na snap_create "$IMPL" "$REP" "snapshots not implemented"
            emit_na snap_delete "$IMPL" "$REP" "snapshots not implemented"
            FAILED_AT=n/a
            return
        fi
        FAILED_AT="subvolume create"
        emit_error snap_create "$IMPL" "$REP" "btrfs subvolume create: $err"
        emit_error snap_delete "$IMPL" "$REP" "not run: subvolume create failed"
        return
    fi
    # Populate (not measured), then snapshot and delete the snapshot; the
    # delete waits for the cleaner to drop the snapshot's tree.
    python3 "$HERE/meta.py" create "$1/sv" "$SNAP_FILES" "$META_DIRS" > /dev/null ||
        FAILED_AT="populating the subvolume"
    phase snap_create timed sh_sync btrfs subvolume snapshot "$1/sv" "$1/snap"
    phase snap_delete timed snap_delete "$1"
}

declare -A WL_ROWS=([seq]="seq_write seq_read" [rand]="rand_read rand_write"
    [meta]="meta_create meta_stat meta_rename meta_unlink" [tree]="tree_untar tree_find tree_du tree_rm"
    [snap]="snap_create snap_delete")
# fail_rows WORKLOAD WHY: every row of the workload failed before it ran.
fail_rows() { local r; for r in ${WL_ROWS[$1]}; do emit_error "$r" "$IMPL" "$REP" "$2"; done; }

# run_one IMPL WORKLOAD: one repetition of a workload on one implementation,
# with the end-of-run checks: btrfs check after unmount (every run in smoke
# mode, the last repetition otherwise) and dmesg.
run_one() {
    local wl=$2 bad
    IMPL=$1; FAILED_AT=""
    dmesg -C
    if [ "$IMPL" = raw ]; then
        "wl_$wl" "$DEV"
        return
    fi
    if ! mkfs.btrfs -f -q "$DEV" > /tmp/mkfs.log 2>&1; then
        fail_rows "$wl" "mkfs.btrfs failed"
        emit_check mkfs "$IMPL" "$wl" false "$(tail -n3 /tmp/mkfs.log)"; return
    fi
    if ! load_module "$IMPL" 2> /tmp/mod.err; then
        fail_rows "$wl" "loading the module failed"
        emit_check module "$IMPL" "$wl" false "loading the module: $(cat /tmp/mod.err)"; return
    fi
    if ! mount -t btrfs "$DEV" "$MNT" 2> /tmp/mount.err; then
        fail_rows "$wl" "mount failed: $(head -n1 /tmp/mount.err)"
        emit_check mount "$IMPL" "$wl" false "$(cat /tmp/mount.err)"
    else
        "wl_$wl" "$MNT"
        if ! umount "$MNT" 2> /tmp/umount.err; then
            emit_check umount "$IMPL" "$wl" false "$(cat /tmp/umount.err)"
        fi
    fi
    if [ "$MODE" = smoke ] || [ "$REP" = "$REPS" ]; then
        if btrfs check --readonly "$DEV" > /tmp/check.log 2>&1; then
            emit_check "btrfs check" "$IMPL" "$wl" true "clean after rep $REP"
        else
            log "  btrfs check FAILED after $IMPL $wl rep $REP"
            cp /tmp/check.log "$OUT/btrfs-check-$IMPL-$wl-$REP.log"
            emit_check "btrfs check" "$IMPL" "$wl" false "rep $REP: $(grep -iE 'error|wrong|mismatch|corrupt' /tmp/check.log | head -n3 | tr '\n' ' ')"
        fi
    fi
    unload_module "$IMPL" 2> /tmp/mod.err || emit_check rmmod "$IMPL" "$wl" false "$(cat /tmp/mod.err)"
    bad=$(dmesg | grep -E -- "$BAD_DMESG" || true)
    if [ -n "$bad" ]; then
        log "  dmesg trouble after $IMPL $wl rep $REP"
        dmesg > "$OUT/dmesg-$IMPL-$wl-$REP.log"
        emit_check dmesg "$IMPL" "$wl" false "rep $REP: $(head -n3 <<<"$bad" | tr '\n' ' ' | cut -c1-400)"
    else
        emit_check dmesg "$IMPL" "$wl" true "clean after rep $REP"
    fi
}

raw_applies() { [ "$1" = seq ] || [ "$1" = rand ]; }

[ "${BENCH_RESUME:-0}" = 1 ] || python3 - "$OUT/meta.json" <<EOF
import json, platform, subprocess, sys
def out(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
    except Exception:
        return "?"
json.dump({
    "mode": "$MODE", "reps": $REPS, "workloads": "$WORKLOADS".split(),
    "sizes": {"seq_mb": $SEQ_MB, "rand_file_mb": $RAND_FILE_MB, "rand_io_mb": $RAND_IO_MB,
              "meta_files": $META_FILES, "meta_dirs": $META_DIRS, "snap_files": $SNAP_FILES,
              "tar": "$(basename "${BENCH_TAR:-}")"},
    "guest": {"kernel": platform.release(), "cpus": $(nproc),
              "mem_mib": $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo),
              "clocksource": open("/sys/devices/system/clocksource/clocksource0/current_clocksource").read().strip()},
    "tools": {"fio": out(["fio", "--version"]), "btrfs-progs": out(["btrfs", "--version"]),
              "python": platform.python_version()},
}, open(sys.argv[1], "w"), indent=1)
EOF

log "mode $MODE, $REPS repetitions, workloads: $WORKLOADS"
case " $WORKLOADS " in *" tree "*)
    cp "${BENCH_TAR:?BENCH_TAR not set}" /tmp/bench-src.tar || log "cannot copy $BENCH_TAR" ;;
esac
for wl in $WORKLOADS; do
    for REP in $(seq 1 "$REPS"); do
        order="rbtrfs cbtrfs"; [ $((REP % 2)) = 0 ] && order="cbtrfs rbtrfs"
        raw_applies "$wl" && order="$order raw"
        for impl in $order; do
            log "$wl rep $REP/$REPS on $impl"
            run_one "$impl" "$wl"
        done
    done
    if [ "$PROFILE" = 1 ]; then
        PROFILING=1; REP=profile
        for impl in rbtrfs cbtrfs; do
            log "$wl profiled run on $impl"
            run_one "$impl" "$wl"
        done
        PROFILING=0
    fi
    echo "$wl" >> "$OUT/done"
done
log "done"
