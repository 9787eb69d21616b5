# SPDX-License-Identifier: GPL-2.0
# Shared by the compressed-image tests (sourced): the image C btrfs writes
# (cbtrfs_write_compressed_image), what rbtrfs changes on it
# (rw_modifies_compressed_image) and what C btrfs reads back
# (verify_cbtrfs_reads_compressed_image) are all rebuilt from here. Each
# algorithm's directory on the image holds the same tree, so one reference
# directory stands for all three.
#   usage: source compressed.sh   (from a guest test; run alone, only --help)

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-}" in
        -h|--help) awk '!/^#/ {exit} !/SPDX-License/' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "compressed.sh: a library for the guest tests: source it, do not run it" >&2; exit 2 ;;
    esac
fi

COMPRESS_ALGOS="zlib lzo zstd"
# Every file and directory gets this time, so copies compare equal.
COMPRESS_TIME='2022-03-03 03:03:03.25'

# compressed_copy_src DIR: the source tree into DIR.
compressed_copy_src() {
    mkdir -p "$1"
    cp -a "$RBTRFS_TOP/build/check/src/." "$1/"
}

# compressed_generate DIR: the generated files, then the overwrites (which
# C btrfs does after a sync, so they split compressed extents).
compressed_generate() {
    python3 "$TESTDIR/mkcompressed.py" base "$1"
    sync
    python3 "$TESTDIR/mkcompressed.py" overwrite "$1"
}

# compressed_tree DIR: one algorithm's directory as C btrfs leaves it.
compressed_tree() {
    compressed_copy_src "$1"
    compressed_generate "$1"
}

# compressed_reference DIR: the reference for every algorithm's directory.
compressed_reference() {
    compressed_tree "$1"
    find "$1" -depth -exec touch -h -d "$COMPRESS_TIME" {} +
}

# compressed_edits DIR: what rbtrfs changes in one algorithm's directory:
# rw_mutate.sh, then overwrites, truncates and punches inside compressed
# regular and inline extents, appends, deletes.
compressed_edits() {
    local d=$1
    bash "$TESTDIR/rw_mutate.sh" "$d"
    # Unaligned overwrite in the middle of a compressed extent.
    printf 'rbtrfs was here' | dd of="$d/big-2m" bs=1 seek=1000003 conv=notrunc status=none
    # Aligned overwrite of one sector inside another.
    head -c 4096 /dev/zero | tr '\0' 'Q' | dd of="$d/big-odd" bs=4096 seek=70 conv=notrunc status=none
    # Truncates: compressed inline to a smaller size (4096 bytes: becomes a
    # regular extent first), compressed regular to an unaligned size.
    truncate -s 100 "$d/tiny-1500"
    truncate -s 1000 "$d/tiny-4096"
    truncate -s 2999 "$d/tiny-3000"
    truncate -s 333333 "$d/big-odd"
    # Holes: inside a compressed inline extent, unaligned and aligned inside
    # compressed regular extents, across split items.
    fallocate -p -o 10 -l 20 "$d/tiny-4000"
    fallocate -p -o 70001 -l 100000 "$d/big-1m"
    fallocate -p -o 262144 -l 131072 "$d/big-1m"
    fallocate -p -o 6000 -l 10000 "$d/overwritten"
    # Appends: to compressed inline files and to a compressed extent.
    printf 'appended' >> "$d/tiny-100"
    printf 'appended' >> "$d/tiny-700"
    head -c 10000 /dev/zero | tr '\0' 'a' >> "$d/big-2m"
    # Deletes: files with compressed extents (one shared by split items),
    # a compressed inline file.
    rm "$d/holes" "$d/overwritten-2" "$d/tiny-1"
    find "$d" -depth -exec touch -h -d "$COMPRESS_TIME" {} +
}

# compressed_compare REF DIR: every algorithm's directory under DIR equals REF.
compressed_compare() {
    local a dsts=()
    for a in $COMPRESS_ALGOS; do dsts+=("$2/$a"); done
    python3 "$TESTDIR/compare.py" "$1" "${dsts[@]}" | sed "s/^/  /"
}
