# Corrupted variants of a stock image (made on the host by
# `cargo run --example mkcorrupt`: random byte flips in the superblock, the
# chunk/root/fs/extent/csum trees in both DUP copies, often with the
# checksum resealed, and in file data) are each refused at mount, or mount
# and then read cleanly or with EIO/EUCLEAN. Never an oops, WARN or hang.
# Each data corruption must give EIO on exactly the file it hit.
DIR=$RBTRFS_TOP/build/check/fuzz
[ -f "$DIR/manifest.txt" ] || fail "no variants in $DIR (check.sh makes them)"
expect_dmesg 'BTRFS (error|warning)'
refused=0; clean=0; errors=0; n=0; data_eio=0
while read -r file kind desc; do
    n=$((n + 1))
    loop=$(losetup -r -f --show "$DIR/$file")
    if timeout 120 mount -t btrfs -o ro "$loop" "$MNT" 2>/dev/null; then
        rc=0
        timeout 120 python3 "$TESTDIR/readall.py" "$MNT" >/tmp/fuzz-out || rc=$?
        case $rc in
            0) clean=$((clean + 1)) ;;
            1) errors=$((errors + 1)) ;;
            124) fail "$file ($kind: $desc): reading hung" ;;
            *) cat /tmp/fuzz-out; fail "$file ($kind): unexpected error kind" ;;
        esac
        if [ "$kind" = data ]; then
            path=$(sed -n 's/.* path=\([^ ]*\).*/\1/p' <<<"$desc")
            if timeout 60 cat "$MNT$path" >/dev/null 2>/tmp/data-err; then fail "$file: corrupted data in $path read fine"; fi
            grep -q "Input/output error" /tmp/data-err || fail "$file: $path: not EIO: $(cat /tmp/data-err)"
            dmesg_has "csum failed root 5 ino" || fail "$file: no csum failure logged"
            data_eio=$((data_eio + 1))
        fi
        umount "$MNT"
    else
        [ "$kind" = data ] && fail "$file: a data corruption stopped the mount"
        refused=$((refused + 1))
    fi
    losetup -d "$loop"
    if dmesg_has 'WARNING:|BUG:|Oops|Call Trace|lockdep'; then
        dmesg | grep -E -A20 'WARNING:|BUG:|Oops|Call Trace' | head -40
        fail "$file ($kind: $desc): kernel trouble"
    fi
done < "$DIR/manifest.txt"
info "$n variants: $refused refused at mount, $errors mounted with EIO/EUCLEAN on read, $clean mounted and read cleanly ($data_eio data corruptions gave EIO)"
[ "$n" -ge "${RBTRFS_VARIANTS:-200}" ] || fail "only $n variants"
[ $((refused + errors)) -ge $((n / 2)) ] || fail "too few corruptions detected"
