# The RwSemaphore abstraction, tested in the kernel under lockdep: readers
# run concurrently, a writer excludes everyone, contention is visible,
# downgrade works, and a stress run sees no exclusion violation. The same
# module checks the zlib, LZO1X and zstd decoders of rust/compress.rs
# (round trips, errors for corrupt and truncated streams, no crash).
insmod "$RBTRFS_MODDIR/rbtrfs_selftest.ko" || { dmesg | grep rbtrfs_selftest; fail "selftest module failed"; }
summary=$(dmesg | grep -oE 'rbtrfs_selftest: [0-9]+ passed, [0-9]+ failed' | tail -1)
info "$summary"
[[ $summary =~ ([0-9]+)\ passed,\ 0\ failed ]] || fail "selftest summary: $summary"
[ "${BASH_REMATCH[1]}" -ge 17 ] || fail "only ${BASH_REMATCH[1]} checks ran"
dmesg_has "rbtrfs_selftest: rwsem stress: [0-9]* writes, max [0-9]* readers" || fail "stress did not report"
dmesg_has "rbtrfs_selftest: ok: compress: 900 mutated streams" || fail "decompressor checks did not run"
rmmod rbtrfs_selftest
if [ -e /proc/lockdep_stats ]; then
    grep -qE 'debug_locks:\s+1' /proc/lockdep_stats || fail "lockdep turned itself off (a splat happened)"
    info "lockdep active and clean"
fi
