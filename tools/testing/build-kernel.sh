#!/usr/bin/env bash
# Build (or reuse) the guest kernel for one flavour, out of tree, in the cache.
#   usage: build-kernel.sh debug|plain      prints the build directory on its last line
# The build directory is keyed by kernel version + config fragments + rustc + bindgen,
# so a second run on the same machine reuses it, and any change to those rebuilds.
set -euo pipefail
# usage: the header comment above, without its '#'s.
usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 && !/SPDX-License/' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) echo "build-kernel.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# = 1 ] || { usage >&2; exit 2; }
FLAVOUR=$1
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${RBTRFS_CACHE:-$HOME/.cache/rbtrfs}
export PATH="$HOME/.cargo/bin:$PATH"
TARBALL=/usr/src/linux-source-6.12.tar.xz
SRC=$CACHE/src/linux-source-6.12
FRAGS=("$HERE/kconfig/common.config" "$HERE/kconfig/$FLAVOUR.config")
[ -f "${FRAGS[1]}" ] || { echo "unknown flavour $FLAVOUR" >&2; exit 2; }

# One builder per flavour at a time: a second caller waits, then finds the
# build done. The shared source tree has its own lock.
mkdir -p "$CACHE/build" "$CACHE/src"
exec 9>"$CACHE/build/.lock-$FLAVOUR"
flock 9
(
    flock 8
    if [ ! -f "$SRC/.rbtrfs-extracted" ]; then
        echo "kernel: extracting $TARBALL" >&2
        rm -rf "$SRC"
        tar -C "$CACHE/src" -xf "$TARBALL"
        touch "$SRC/.rbtrfs-extracted"
    fi
) 8>"$CACHE/src/.lock"
KVER=$(make -s -C "$SRC" kernelversion)
KEY=$( { echo "$KVER"; cat "${FRAGS[@]}"; rustc --version; bindgen --version; clang --version | head -1; } \
       | sha256sum | cut -c1-12)
OUT=$CACHE/build/$FLAVOUR-$KEY
if [ -f "$OUT/.rbtrfs-built" ]; then
    echo "kernel: reusing $OUT" >&2
    echo "$OUT"; exit 0
fi

echo "kernel: building $FLAVOUR ($KVER, key $KEY) in $OUT" >&2
start=$(date +%s)
rm -rf "$OUT"; mkdir -p "$OUT"
MK=(make -C "$SRC" O="$OUT" LLVM=1 -j"$(nproc)")
"${MK[@]}" -s defconfig >&2
"$SRC/scripts/kconfig/merge_config.sh" -m -O "$OUT" "$OUT/.config" "${FRAGS[@]}" >/dev/null
"${MK[@]}" -s olddefconfig >&2
# Every option the fragments ask for must have survived olddefconfig.
bad=0
while IFS= read -r line; do
    case "$line" in CONFIG_*=*) ;; *) continue ;; esac
    opt=${line%%=*}; want=${line#*=}
    if [ "$want" = n ]; then
        if grep -q "^$opt=[ym]" "$OUT/.config"; then echo "kconfig: $opt wanted n, got $(grep "^$opt=" "$OUT/.config")" >&2; bad=1; fi
    elif ! grep -qx "$opt=$want" "$OUT/.config"; then
        echo "kconfig: $opt wanted $want, got $(grep "^$opt=" "$OUT/.config" || echo unset)" >&2; bad=1
    fi
done < <(cat "${FRAGS[@]}")
[ $bad = 0 ] || { echo "kconfig: fragments not satisfied (see above)" >&2; exit 1; }

"${MK[@]}" -s bzImage modules >&2
"${MK[@]}" -s modules_install INSTALL_MOD_PATH="$OUT/modroot" INSTALL_MOD_STRIP=1 >&2
end=$(date +%s)
echo "$((end - start))" > "$OUT/.rbtrfs-build-seconds"
touch "$OUT/.rbtrfs-built"
ln -sfn "$OUT" "$CACHE/build/$FLAVOUR"
echo "kernel: $FLAVOUR built in $((end - start)) s" >&2
echo "$OUT"
