#!/usr/bin/env bash
# rbtrfs's own bindgen step: binds rust/bindings_helper.h with exactly the
# flags the kernel tree used for its own bindings (read from the saved
# command in $KOBJ/rust/bindings/.bindings_generated.rs.cmd).
#   usage: bindgen.sh KOBJ HEADER OUTPUT
set -euo pipefail
KOBJ=$(realpath "$1"); HDR=$(realpath "$2"); OUT=$(realpath -m "$3")
CMDFILE=$KOBJ/rust/bindings/.bindings_generated.rs.cmd
saved=$(sed -n 's/^savedcmd_rust\/bindings\/bindings_generated.rs := //p' "$CMDFILE")
[ -n "$saved" ] || { echo "bindgen.sh: no saved bindgen command in $CMDFILE" >&2; exit 1; }
# The saved command is one shell line: bindgen HEADER FLAGS... ; sed ...
saved=${saved%%;*}
eval "set -- $saved"
args=("$1" "$HDR"); shift 2
while [ $# -gt 0 ]; do
    case "$1" in
        -o) args+=(-o "$OUT.tmp"); shift ;;
        -Wp,-MMD,*) ;;
        *) args+=("$1") ;;
    esac
    shift
done
cd "$KOBJ"
"${args[@]}" -I"$(dirname "$HDR")"
sed -Ei 's/pub const RUST_CONST_HELPER_([a-zA-Z0-9_]*)/pub const \1/g' "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
