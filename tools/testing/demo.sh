#!/usr/bin/env bash
# make run: boot the guest with rbtrfs loaded and run the demo on scratch disks.
#   usage: demo.sh        (takes no arguments)
set -euo pipefail
# usage: the header comment above, without its '#'s.
usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 && !/SPDX-License/' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        *) echo "demo.sh: unknown argument $1 (it takes none)" >&2; usage >&2; exit 2 ;;
    esac
done
TOP=$(cd "$(dirname "$0")/../.." && pwd)
IMG=$TOP/build/demo; mkdir -p "$IMG"; rm -f "$IMG"/*.img
"$TOP/tools/testing/vm-run" --timeout 600 --disk "$IMG/a.img:1G" --disk "$IMG/b.img:256M" \
    -- "$TOP/tools/testing/guest/demo.sh"
rm -f "$IMG"/*.img
