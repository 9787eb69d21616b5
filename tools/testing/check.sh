#!/usr/bin/env bash
# make check: host tests, then guest tests, then one summary line.
#   usage: check.sh host|guest|all
# RBTRFS_TEST_SIZE=quick (make check, the default) runs every test at a
# quick size, full (make check-full) at full size; the assertions are the
# same. Randomised tests draw a fresh seed each run and print it; SEED=N
# replays one. TRACE=1 keeps a timed xtrace of every guest test in
# build/check/trace/NAME.trace (tools/testing/tracetime.py sums it).
# Prints the ten slowest tests, then "N passed, M failed" as its last line;
# exits non-zero on any failure.
set -uo pipefail
case "${1:-all}" in
    host|guest|all) MODE=${1:-all} ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "check.sh: usage: check.sh host|guest|all" >&2; exit 2 ;;
esac
export RBTRFS_TEST_SIZE=${RBTRFS_TEST_SIZE:-quick}
case "$RBTRFS_TEST_SIZE" in quick|full) ;; *) echo "check.sh: RBTRFS_TEST_SIZE must be quick or full" >&2; exit 2 ;; esac
full() { [ "$RBTRFS_TEST_SIZE" = full ]; }
# The corrupted variants: 30 of a fresh seed per quick run (CI covers new
# cases over time), all 200 of the fixed seed in the full tier.
# The shared source tree: 300 files with some of several MiB (full), 150
# files of at most 200 KB (quick).
# The workload models fill their disk to ENOSPC: 1 GiB (full), 384 MiB (quick).
if full; then NVARIANTS=200; VSEED=${SEED:-0x5eed}; OPS=20000; SRCARGS=(--files 300); WLDISK=1G; else
    NVARIANTS=30; VSEED=${SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}; OPS=2000
    SRCARGS=(--files 150 --small); WLDISK=384M; fi
echo "== tier: $RBTRFS_TEST_SIZE"
TOP=$(cd "$(dirname "$0")/../.." && pwd)
T=$TOP/tools/testing
export PATH="$HOME/.cargo/bin:$PATH"
LOGDIR=$TOP/build/check
mkdir -p "$LOGDIR"
passed=0; failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
started=$(date +%s)

if [ "$MODE" = guest ] || [ "$MODE" = all ]; then
    IMG=$LOGDIR/img; mkdir -p "$IMG"; rm -f "$IMG"/*.img
    echo "== host: generating the interop source tree"
    rm -rf "$LOGDIR/src"
    python3 "$T/guest/mktree.py" "$LOGDIR/src" "${SRCARGS[@]}"
    # Two guests at a time, one per core: lane A runs the rbtrfs tests that
    # make their own filesystems (loop images in the guest, scratch disks),
    # then the benchmark smoke; lane B the C btrfs reference (which writes
    # the interop, compressed and ACL images), then the rbtrfs tests of
    # those images (and a few more, for balance) and C btrfs reading what
    # rbtrfs wrote (verify_*), then vm-run's own checks. Lane A needs
    # nothing the host tier makes but the source tree above, so it starts
    # first and runs beside the host tier; lane B starts after it.
    GENV=(env WORKLOAD_OPS=$OPS RBTRFS_TEST_SIZE=$RBTRFS_TEST_SIZE RBTRFS_VARIANTS=$NVARIANTS ${SEED:+SEED=$SEED})
    TRACEDIR=(); if [ -n "${TRACE:-}" ]; then
        rm -rf "$LOGDIR/trace"; mkdir -p "$LOGDIR/trace"
        TRACEDIR=(--rwdir "$LOGDIR/trace"); GENV+=(RBTRFS_TRACE="$LOGDIR/trace"); fi
    LANE_B=(module_registers_btrfs mount_valid_images mount_refuses_corrupt_super ro_mount_matches_source
            rmmod_insmod_no_leak ro_reads_cbtrfs_image rw_basic_operations rw_modifies_cbtrfs_image
            rw_workload_model rw_modifies_compressed_image rw_modifies_cbtrfs_acl_image
            corrupt_images_refused_or_eio rw_reflink_dedupe rw_subvol_stress
            verify_cbtrfs_reads_rbtrfs_images verify_cbtrfs_reads_compressed_image verify_cbtrfs_reads_rbtrfs_acls)
    LANE_A=()
    for t in "$T"/guest/tests/*.sh; do
        n=$(basename "$t" .sh)
        case "$n" in cbtrfs_*|verify_*) continue ;; esac
        case " ${LANE_B[*]} " in *" $n "*) continue ;; esac
        LANE_A+=("$n")
    done
    echo "== guest: lane A, rbtrfs (debug kernel: lockdep, kmemleak): ${LANE_A[*]}"
    echo "== guest: lane B, C btrfs reference, then rbtrfs: ${LANE_B[*]}"
    (
        "$T/vm-run" "${TRACEDIR[@]}" --timeout 4800 --disk "$IMG/a2.img:256M" --disk "$IMG/b2.img:256M" \
            -- "${GENV[@]}" "$T/guest/run.sh" "${LANE_A[@]}" > "$LOGDIR/guest-rbtrfs-a.log" 2>&1
        rm -f "$IMG/a2.img" "$IMG/b2.img"
        # make bench's harness at tiny sizes, one repetition: passes when
        # every row is measured on rbtrfs and C btrfs (and the raw disk where
        # it applies) and every btrfs check and dmesg check after each run is
        # clean. Timings never decide it. The debug kernel: make check has it.
        rm -f "$LOGDIR/bench-smoke.ok"
        if "$T/bench/bench.sh" --smoke --flavour debug --out "$LOGDIR/bench" > "$LOGDIR/bench-smoke.log" 2>&1; then
            touch "$LOGDIR/bench-smoke.ok"; fi
    ) &
    lane_a=$!
fi

if [ "$MODE" = host ] || [ "$MODE" = all ]; then
    echo "== host: cargo test (the userspace-testable core)"
    # The randomised host tests (snapshot_stress) take this seed.
    HSEED=${SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
    echo "   randomised host tests: SEED=$HSEED"
    if (cd "$TOP" && SEED=$HSEED cargo test --quiet 2>&1) | tee "$LOGDIR/cargo.log" | grep -E '^test result|panicked|FAILED'; then :; fi
    hp=$(grep -oE '^test result: [a-zA-Z]+\. [0-9]+ passed' "$LOGDIR/cargo.log" | awk '{s+=$4} END {print s+0}')
    hf=$(grep -oE '[0-9]+ failed' "$LOGDIR/cargo.log" | awk '{s+=$1} END {print s+0}')
    if [ "$hp" -gt 0 ] && [ "$hf" = 0 ] && grep -q '^test result' "$LOGDIR/cargo.log"; then
        pass "cargo test ($hp tests)"
    else
        fail "cargo test ($hp passed, $hf failed; see build/check/cargo.log)"
    fi
    if full; then
        # More seeds of the snapshot stress test, each at full size.
        for i in 1 2 3 4 5; do
            s=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
            if (cd "$TOP" && SEED=$s cargo test --quiet --test snapshot snapshot_stress >"$LOGDIR/stress-$s.log" 2>&1); then
                pass "snapshot_stress SEED=$s (full size)"; else fail "snapshot_stress SEED=$s (see build/check/stress-$s.log)"; fi
        done
    fi
    echo "== host: fs/rbtrfs is safe Rust"
    unsafe_hits=$(grep -nE '\bunsafe\b|bindings::' "$TOP"/fs/rbtrfs/*.rs | grep -v '^[^:]*rbtrfs.rs:' || true)
    missing=$(for f in "$TOP"/fs/rbtrfs/*.rs; do
        case "$(basename "$f")" in rbtrfs.rs|core.rs) continue ;; esac
        grep -q '^#!\[forbid(unsafe_code)\]' "$f" || echo "$f"; done)
    if [ -z "$unsafe_hits$missing" ]; then pass "fs/rbtrfs has no unsafe and forbids it"; else
        echo "$unsafe_hits$missing"; fail "fs/rbtrfs unsafe audit"; fi
    echo "== host: every unsafe block in rust/ has a SAFETY comment"
    # An unsafe block or impl must have "SAFETY" on its line or in the
    # comment block right above it.
    undoc=$(awk 'FNR==1 {safety=0}
        /^[[:space:]]*\/\// { if ($0 ~ /SAFETY/) safety=1; next }
        /unsafe \{|unsafe impl/ { if (!safety && $0 !~ /SAFETY/) print FILENAME":"FNR": "$0 }
        { safety=0 }' "$TOP"/rust/*.rs "$T"/selftest/*.rs | grep -v 'rust/bindings.rs' || true)
    if [ -z "$undoc" ]; then pass "unsafe blocks documented"; else echo "$undoc"; fail "undocumented unsafe"; fi
    echo "== host: the repository tracks only the known top-level layout"
    stray=$(cd "$TOP" && git ls-files | cut -d/ -f1 | sort -u \
        | grep -vxE 'Makefile|Kbuild|Cargo\.toml|rust|fs|Documentation|tools|README\.md|\..*' || true)
    if [ -z "$stray" ]; then pass "top-level layout"; else echo "$stray"; fail "files outside the known layout"; fi
fi

if [ "$MODE" = guest ] || [ "$MODE" = all ]; then
    echo "== host: $NVARIANTS corrupted image variants (mkcorrupt, SEED=$VSEED)"
    rm -rf "$LOGDIR/fuzz" "$LOGDIR/fuzz-src"; mkdir -p "$LOGDIR/fuzz"
    python3 "$T/guest/mktree.py" "$LOGDIR/fuzz-src" --files 40 --small
    truncate -s 128M "$LOGDIR/fuzz-pristine.img"
    mkfs.btrfs -f -q --rootdir "$LOGDIR/fuzz-src" "$LOGDIR/fuzz-pristine.img" >/dev/null 2>&1
    (cd "$TOP" && cargo run --quiet --example mkcorrupt -- "$LOGDIR/fuzz-pristine.img" "$LOGDIR/fuzz" "$NVARIANTS" "$VSEED")
    "$T/vm-run" "${TRACEDIR[@]}" --fs cbtrfs --timeout 3000 --disk "$IMG/a.img:$WLDISK" --disk "$IMG/interop.img:512M" \
        --disk "$IMG/compressed.img:512M" --disk "$IMG/acl.img:256M" \
        -- "${GENV[@]}" "$T/guest/run.sh" > "$LOGDIR/guest-cbtrfs.log" 2>&1
    rm -f "$IMG/a.img"
    rm -rf "$LOGDIR/rw"; mkdir -p "$LOGDIR/rw"
    "$T/vm-run" "${TRACEDIR[@]}" --timeout 4800 --rwdir "$LOGDIR/rw" --disk "$IMG/a.img:256M" --disk "$IMG/b.img:256M" \
        --disk "$IMG/interop.img" --disk "$IMG/rw-basic.img:512M" --disk "$IMG/rw-workload.img:$WLDISK" \
        --disk "$IMG/compressed.img" --disk "$IMG/acl.img" \
        -- "${GENV[@]}" "$T/guest/run.sh" "${LANE_B[@]}" > "$LOGDIR/guest-rbtrfs-b.log" 2>&1
    # vm-run itself: a command's exit status comes back (3 here, after
    # checking that rbtrfs registered btrfs and the disk is attached), and
    # a hung guest is killed at the timeout.
    {
        "$T/vm-run" --timeout 300 --disk "$IMG/x.img:1G" -- \
            sh -c 'grep -qw btrfs /proc/filesystems && test -b /dev/vda && exit 3'; rc=$?
        if [ $rc = 3 ]; then echo "PASS vm-run: the guest command's exit status (3) comes back"
        else echo "FAIL vm-run: exit status $rc, want 3"; fi
        rm -f "$IMG/x.img"
        out=$("$T/vm-run" --timeout 30 --fs none -- sleep 600 2>&1); rc=$?
        if [ $rc = 124 ] && grep -q "timed out" <<<"$out"; then echo "PASS vm-run: hung guest killed at the timeout"; else
            echo "$out" | tail -5; echo "FAIL vm-run: timeout (rc $rc)"; fi
    } > "$LOGDIR/vm-run.log" 2>&1
    wait $lane_a
    for log in guest-cbtrfs guest-rbtrfs-b guest-rbtrfs-a; do
        echo "== guest log: $log"; tr -d '\r' < "$LOGDIR/$log.log" | grep -E '^(===|PASS|FAIL|  )' | grep -vE "^  dmesg \(first" | head -400
    done
    rm -rf "$IMG"/*.img "$LOGDIR/fuzz" "$LOGDIR/fuzz-pristine.img"
    for log in "$LOGDIR"/guest-cbtrfs.log "$LOGDIR"/guest-rbtrfs-a.log "$LOGDIR"/guest-rbtrfs-b.log; do
        while read -r verdict name _; do
            if [ "$verdict" = PASS ]; then pass "guest $name"; else fail "guest $name"; fi
        done < <(grep -E '^(PASS|FAIL) ' "$log" | tr -d '\r')
        grep -q 'guest: [0-9]* passed, [0-9]* failed' "$log" || fail "guest run $(basename "$log") ended without a summary"
    done
    echo "== guest: vm-run itself (in lane B)"
    while read -r verdict rest; do
        if [ "$verdict" = PASS ]; then pass "$rest"; else fail "$rest"; fi
    done < <(grep -E '^(PASS|FAIL) ' "$LOGDIR/vm-run.log")
    [ "$(grep -c '^PASS ' "$LOGDIR/vm-run.log")" = 2 ] || { cat "$LOGDIR/vm-run.log"; fail "vm-run checks (see build/check/vm-run.log)"; }
    echo "== guest: benchmark harness smoke (make bench at tiny sizes, run in lane A)"
    if [ -f "$LOGDIR/bench-smoke.ok" ]; then
        pass "bench smoke: every row measured on rbtrfs and C btrfs, btrfs check and dmesg clean"
    else
        tail -n 30 "$LOGDIR/bench-smoke.log"; fail "bench smoke (see build/check/bench-smoke.log)"
    fi
fi

if [ "$MODE" != host ]; then
    echo "== the ten slowest guest tests"
    cat "$LOGDIR"/guest-*.log 2>/dev/null | tr -d '\r' | sed -nE 's/^PASS ([^ ]+) \(([0-9]+)s\)$/\2 \1/p' \
        | sort -rn | head -10 | awk '{printf "  %5d s  %s\n", $1, $2}'
fi
echo "== $(( $(date +%s) - started ))s ($RBTRFS_TEST_SIZE tier)"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
