#!/usr/bin/env bash
# make check: host tests, then guest tests, then one summary line.
#   usage: check.sh host|guest|all
# Prints "N passed, M failed" as its last line; exits non-zero on any failure.
set -uo pipefail
MODE=${1:-all}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
T=$TOP/tools/testing
export PATH="$HOME/.cargo/bin:$PATH"
LOGDIR=$TOP/build/check
mkdir -p "$LOGDIR"
passed=0; failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
started=$(date +%s)

if [ "$MODE" = host ] || [ "$MODE" = all ]; then
    echo "== host: cargo test (the userspace-testable core)"
    if (cd "$TOP" && cargo test --quiet 2>&1) | tee "$LOGDIR/cargo.log" | grep -E '^test result|panicked|FAILED'; then :; fi
    hp=$(grep -oE '^test result: [a-zA-Z]+\. [0-9]+ passed' "$LOGDIR/cargo.log" | awk '{s+=$4} END {print s+0}')
    hf=$(grep -oE '[0-9]+ failed' "$LOGDIR/cargo.log" | awk '{s+=$1} END {print s+0}')
    if [ "$hp" -gt 0 ] && [ "$hf" = 0 ] && grep -q '^test result' "$LOGDIR/cargo.log"; then
        pass "cargo test ($hp tests)"
    else
        fail "cargo test ($hp passed, $hf failed; see build/check/cargo.log)"
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
    IMG=$LOGDIR/img; mkdir -p "$IMG"; rm -f "$IMG"/*.img
    echo "== host: generating the interop source tree"
    rm -rf "$LOGDIR/src"
    python3 "$T/guest/mktree.py" "$LOGDIR/src" --files 300
    echo "== host: 200 corrupted image variants (mkcorrupt)"
    rm -rf "$LOGDIR/fuzz" "$LOGDIR/fuzz-src"; mkdir -p "$LOGDIR/fuzz"
    python3 "$T/guest/mktree.py" "$LOGDIR/fuzz-src" --files 40 --small
    truncate -s 128M "$LOGDIR/fuzz-pristine.img"
    mkfs.btrfs -f -q --rootdir "$LOGDIR/fuzz-src" "$LOGDIR/fuzz-pristine.img" >/dev/null 2>&1
    (cd "$TOP" && cargo run --quiet --example mkcorrupt -- "$LOGDIR/fuzz-pristine.img" "$LOGDIR/fuzz" 200 0x5eed)
    echo "== guest: C btrfs reference (writes the interop, compressed and ACL images; the workload model against C btrfs)"
    "$T/vm-run" --fs cbtrfs --timeout 3000 --disk "$IMG/a.img:1G" --disk "$IMG/interop.img:512M" \
        --disk "$IMG/compressed.img:512M" --disk "$IMG/acl.img:256M" \
        -- "$T/guest/run.sh" 2>&1 | tee "$LOGDIR/guest-cbtrfs.log"
    echo "== guest: rbtrfs suite (debug kernel: lockdep, kmemleak)"
    rm -f "$IMG/a.img"
    rm -rf "$LOGDIR/rw"; mkdir -p "$LOGDIR/rw"
    "$T/vm-run" --timeout 6600 --rwdir "$LOGDIR/rw" --disk "$IMG/a.img:256M" --disk "$IMG/b.img:256M" \
        --disk "$IMG/interop.img" --disk "$IMG/rw-basic.img:512M" --disk "$IMG/rw-workload.img:1G" \
        --disk "$IMG/compressed.img" --disk "$IMG/acl.img" \
        -- env WORKLOAD_OPS=20000 "$T/guest/run.sh" 2>&1 | tee "$LOGDIR/guest-rbtrfs.log"
    echo "== guest: C btrfs reads what rbtrfs wrote"
    "$T/vm-run" --fs cbtrfs --timeout 1500 --disk "$IMG/rw-basic.img" --disk "$IMG/rw-workload.img" \
        --disk "$IMG/compressed.img" --disk "$IMG/acl.img" \
        -- "$T/guest/run.sh" verify_cbtrfs_reads_rbtrfs_images verify_cbtrfs_reads_compressed_image \
        verify_cbtrfs_reads_rbtrfs_acls 2>&1 \
        | tee "$LOGDIR/guest-interop.log"
    rm -rf "$IMG"/*.img "$LOGDIR/fuzz" "$LOGDIR/fuzz-pristine.img"
    for log in "$LOGDIR"/guest-cbtrfs.log "$LOGDIR"/guest-rbtrfs.log "$LOGDIR"/guest-interop.log; do
        while read -r verdict name _; do
            if [ "$verdict" = PASS ]; then pass "guest $name"; else fail "guest $name"; fi
        done < <(grep -E '^(PASS|FAIL) ' "$log" | tr -d '\r')
        grep -q 'guest: [0-9]* passed, [0-9]* failed' "$log" || fail "guest run $(basename "$log") ended without a summary"
    done
    # make bench's harness at tiny sizes, one repetition: passes when every
    # row is measured on rbtrfs and C btrfs (and the raw disk where it
    # applies) and every btrfs check and dmesg check after each run is clean.
    # Timings never decide it. The debug kernel: make check has it already.
    echo "== guest: benchmark harness smoke (make bench at tiny sizes)"
    if "$T/bench/bench.sh" --smoke --flavour debug --out "$LOGDIR/bench" > "$LOGDIR/bench-smoke.log" 2>&1; then
        pass "bench smoke: every row measured on rbtrfs and C btrfs, btrfs check and dmesg clean"
    else
        tail -n 30 "$LOGDIR/bench-smoke.log"; fail "bench smoke (see build/check/bench-smoke.log)"
    fi
    echo "== guest: vm-run itself"
    if "$T/vm-run" --timeout 300 --disk "$IMG/x.img:1G" -- grep -w btrfs /proc/filesystems >/dev/null; then
        pass "vm-run: grep -w btrfs /proc/filesystems exits 0"; else fail "vm-run: grep btrfs"; fi
    rm -f "$IMG/x.img"
    if "$T/vm-run" --timeout 300 -- false; then fail "vm-run: false exited 0"; else pass "vm-run: false exits non-zero"; fi
    out=$("$T/vm-run" --timeout 60 --fs none -- sleep 600 2>&1); rc=$?
    if [ $rc = 124 ] && grep -q "timed out" <<<"$out"; then pass "vm-run: hung guest killed at the timeout"; else
        echo "$out" | tail -5; fail "vm-run: timeout (rc $rc)"; fi
fi

echo "== $(( $(date +%s) - started ))s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
