# SPDX-License-Identifier: GPL-2.0
# Shared helpers for guest tests. Sourced by run.sh before each test.
#
# Every test ends by proving three things (see check_all):
#   - dmesg has no WARNING:/BUG:/Oops/lockdep/BTRFS error lines other than
#     the ones the test expects (expect_dmesg), and each expected one appeared;
#   - btrfs check is clean on each device the test says holds a filesystem;
#   - the data is what it should be: files equal their source, or a device a
#     mount must not touch was not written at all (fingerprint).

TESTDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MNT=/tmp/mnt
EXPECTED_DMESG=()
CHECK_DEVS=()
mkdir -p "$MNT"

fail() {
    echo "  FAIL: $*"
    echo "  dmesg (first errors, then the last btrfs lines):"
    dmesg | grep -E "BTRFS (error|warning|critical)|WARNING|BUG|Oops" | head -8 | sed 's/^/    /'
    echo "    ..."
    dmesg | grep -E "BTRFS|WARNING|BUG|Oops" | tail -8 | sed 's/^/    /'
    exit 1
}
info() { echo "  $*"; }

# python3 without the site module: the test scripts use the standard library
# only, and under TCG site's start-up (with whatever .pth files the host
# root has) costs about 0.3 s of a 1.1 s start. Tests start Python some 200
# times per make check.
python3() { command python3 -S "$@"; }

# Lines of dmesg that signal kernel trouble or a btrfs error.
BAD_DMESG='WARNING:|BUG:|Oops|INFO: possible|possible circular locking|possible recursive locking|lockdep|UBSAN:|BTRFS error|kmemleak: [0-9]+ new suspected|trying to register non-static key|oom-kill|Call Trace'

# expect_dmesg REGEX: this test expects a line matching REGEX (checked by check_all).
expect_dmesg() { EXPECTED_DMESG+=("$1"); }

# check_fs DEV: run btrfs check on DEV at the end of the test.
check_fs() { CHECK_DEVS+=("$1"); }

# fingerprint DEV: the device's write and discard counters (I/Os and
# sectors, from /sys/class/block/NAME/stat). Equal before and after means
# nothing wrote to it in between, not even the same bytes again; and it
# costs nothing, where hashing a whole disk under TCG takes many seconds.
fingerprint() {
    local name
    name=$(basename "$(readlink -f "$1")")
    awk '{print "written", $5, $7, "discarded", $12, $14}' "/sys/class/block/$name/stat"
}

# dev_by_label LABEL: the one disk whose filesystem has LABEL.
dev_by_label() {
    local d
    d=$(blkid -o device -t LABEL="$1" /dev/vd? 2>/dev/null || true)
    [ -n "$d" ] && [ "$(wc -l <<<"$d")" = 1 ] ||
        { echo "  FAIL: want one disk labelled $1, found [${d//$'\n'/ }]" >&2; return 1; }
    echo "$d"
}

# mkfs_btrfs DEV [ARGS...]: stock mkfs.btrfs, quiet.
mkfs_btrfs() { local d=$1; shift; mkfs.btrfs -f -q "$@" "$d" >/dev/null || fail "mkfs.btrfs $* $d"; }

# try_mount ARGS...: mount -t btrfs, returning mount's status and leaving its
# stderr in $MOUNT_ERR.
try_mount() {
    local rc=0
    MOUNT_ERR=$(mount -t btrfs "$@" 2>&1) || rc=$?
    return $rc
}

check_dmesg() {
    local log bad line pat seen
    log=$(dmesg)
    for pat in "${EXPECTED_DMESG[@]}"; do
        grep -qE -- "$pat" <<<"$log" || fail "expected dmesg line /$pat/ missing"
    done
    bad=$(grep -E -- "$BAD_DMESG" <<<"$log" || true)
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        seen=0
        for pat in "${EXPECTED_DMESG[@]}"; do
            grep -qE -- "$pat" <<<"$line" && { seen=1; break; }
        done
        [ $seen = 1 ] || { dmesg | tail -40; fail "unexpected dmesg line: $line"; }
    done <<<"$bad"
}

# check_all: the end-of-test checks (dmesg, btrfs check); data checks are the test's own.
check_all() {
    mountpoint -q "$MNT" && umount "$MNT"
    local d
    for d in "${CHECK_DEVS[@]}"; do
        btrfs check --readonly "$d" >/tmp/btrfs-check.log 2>&1 || { cat /tmp/btrfs-check.log; fail "btrfs check $d"; }
    done
    check_dmesg
}

# sized QUICK FULL: the size or count a test uses in this tier
# (RBTRFS_TEST_SIZE=quick for make check, full for make check-full).
# Only sizes change between tiers; every assertion stays.
sized() { if [ "${RBTRFS_TEST_SIZE:-quick}" = full ]; then echo "$2"; else echo "$1"; fi; }

# test_seed NAME: the seed of a randomised test: $SEED if set (a replay),
# else a fresh one; printed, so that a failure can be replayed.
test_seed() {
    local s=${SEED:-$(( $(od -An -N4 -tu4 /dev/urandom) ))}
    echo "  $1: SEED=$s" >&2
    echo "$s"
}

# errno_of PYTHON-STATEMENT: the errno name (errno.errorcode) the statement
# fails with, or OK. The statement may call renameat2(OLD, NEW, FLAGS).
errno_of() {
    python3 - "$@" <<'PY'
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def renameat2(a, b, flags):
    if libc.renameat2(-100, os.fsencode(a), -100, os.fsencode(b), ctypes.c_uint(flags)):
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
try:
    exec(sys.argv[1])
    print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])
PY
}

# expect_errno NAME PYTHON-STATEMENT: the statement fails with errno NAME
# (or succeeds, for OK).
expect_errno() {
    local want=$1 stmt=$2 got
    got=$(errno_of "$stmt")
    [ "$got" = "$want" ] || fail "$stmt: $got, want $want"
}

# dmesg_has REGEX: whether dmesg has a matching line. (Not `dmesg | grep -q`:
# under pipefail, grep exiting early kills dmesg with SIGPIPE.)
dmesg_has() { grep -qE -- "$1" <<<"$(dmesg)"; }
