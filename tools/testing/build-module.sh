#!/usr/bin/env bash
# Build rbtrfs.ko and rbtrfs_selftest.ko against the cached kernel of one flavour.
#   usage: build-module.sh debug|plain     prints the module directory on its last line
# 6.12 builds external modules in their source directory, so each flavour gets
# its own copy of the sources under build/<flavour>/ (rsync keeps mtimes, so
# rebuilds are incremental).
set -euo pipefail
# usage: the header comment above, without its '#'s.
usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 && !/SPDX-License/' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) echo "build-module.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# = 1 ] || { usage >&2; exit 2; }
FLAVOUR=$1
TOP=$(cd "$(dirname "$0")/../.." && pwd)
KDIR=$("$TOP/tools/testing/build-kernel.sh" "$FLAVOUR" | tail -1)
OUT=$TOP/build/$FLAVOUR
mkdir -p "$OUT"
# One build per directory at a time (vm-run builds too, e.g. a demo run
# beside make check): the second waits, then finds nothing to do.
exec 9>"$TOP/build/.module-lock-$FLAVOUR"
flock 9
rsync -a --delete \
    --include=/Kbuild --include=/rust/ --include=/rust/** \
    --include=/fs/ --include=/fs/rbtrfs/ --include=/fs/rbtrfs/** \
    --include=/tools/ --include=/tools/testing/ --include=/tools/testing/selftest/ \
    --include=/tools/testing/selftest/** \
    --exclude='*.o' --exclude='*.ko' --exclude='.*.cmd' --exclude='*.mod' --exclude='*.mod.c' \
    --exclude='*.d' --exclude=bindings_generated.rs --exclude='*' \
    "$TOP/" "$OUT/"
export PATH="$HOME/.cargo/bin:$PATH"
# Warnings fail the build: a Rust panic path objtool flags is a BUG() in
# waiting, and rustc/clang warnings are cheap to fix when they appear.
log=$OUT/.build.log
if ! make -s -C "$KDIR" M="$OUT" LLVM=1 -j"$(nproc)" modules > "$log" 2>&1; then
    cat "$log" >&2; exit 1
fi
if grep -E 'warning|objtool' "$log" >&2; then
    echo "build-module: warnings (above) are errors" >&2; exit 1
fi
# A module root where `modprobe -d $OUT/modroot fs-btrfs` finds rbtrfs by
# its alias, as an installed module would be found (without C btrfs in it).
KREL=$(make -s -C "$KDIR" kernelrelease)
MODROOT=$OUT/modroot/lib/modules/$KREL
mkdir -p "$MODROOT/extra"
cp "$OUT/rbtrfs.ko" "$MODROOT/extra/"
echo extra/rbtrfs.ko > "$MODROOT/modules.order"
cp "$KDIR/modroot/lib/modules/$KREL"/modules.builtin* "$MODROOT/" 2>/dev/null || true
depmod -b "$OUT/modroot" "$KREL"
echo "$KDIR" > "$OUT/.kdir"
echo "$OUT"
