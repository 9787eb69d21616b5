#!/usr/bin/env bash
# Install everything rbtrfs needs on a fresh Debian 12 machine (root). Idempotent:
# each step checks whether its result is already there and skips if so.
#   apt packages, rust-src, bindgen-cli (pinned), virtme-ng (pinned, in a venv).
# The kernel itself is built by tools/testing/build-kernel.sh.
#   usage: setup-deps.sh  (takes no arguments)
set -euo pipefail
# usage: the header comment above, without its '#'s.
usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 && !/SPDX-License/' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        *) echo "setup-deps.sh: unknown argument $1 (it takes none)" >&2; usage >&2; exit 2 ;;
    esac
done

CACHE=${RBTRFS_CACHE:-$HOME/.cache/rbtrfs}
BINDGEN_VERSION=0.73.2   # reference.md: what `cargo install bindgen-cli --locked` gives
VIRTME_NG_VERSION=1.42   # reference.md: measured to boot in ~4 s here
mkdir -p "$CACHE"

APT_PKGS=(clang lld llvm libclang-dev bc flex bison libelf-dev libssl-dev cpio kmod
          make git xz-utils rsync python3-venv
          linux-source-6.12 qemu-system-x86 btrfs-progs fio xfsprogs attr acl
          busybox-static e2fsprogs util-linux udev
          linux-perf)   # make bench: fio (above) and perf (BENCH_PROFILE=1) in the guest

need_apt=()
for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need_apt+=("$p")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: apt-get install ${need_apt[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

export PATH="$HOME/.cargo/bin:$PATH"
if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
    echo "setup: rustup component add rust-src"
    rustup component add rust-src
fi

if ! bindgen --version 2>/dev/null | grep -q "$BINDGEN_VERSION"; then
    echo "setup: cargo install bindgen-cli $BINDGEN_VERSION"
    cargo install bindgen-cli --version "$BINDGEN_VERSION" --locked
fi

VENV="$CACHE/venv"
if ! "$VENV/bin/vng" --version 2>/dev/null | grep -q "$VIRTME_NG_VERSION"; then
    echo "setup: virtme-ng $VIRTME_NG_VERSION in $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "virtme-ng==$VIRTME_NG_VERSION"
fi
echo "setup: dependencies ready"
