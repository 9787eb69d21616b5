#!/usr/bin/env bash
# make run: boot the guest with rbtrfs loaded and run the demo on scratch disks.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
IMG=$TOP/build/demo; mkdir -p "$IMG"; rm -f "$IMG"/*.img
"$TOP/tools/testing/vm-run" --timeout 600 --disk "$IMG/a.img:1G" --disk "$IMG/b.img:256M" \
    -- "$TOP/tools/testing/guest/demo.sh"
rm -f "$IMG"/*.img
