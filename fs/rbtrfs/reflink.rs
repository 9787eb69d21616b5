// SPDX-License-Identifier: GPL-2.0

//! Cloning file ranges (C: `btrfs_clone` in `reflink.c`): `FICLONE`,
//! `FICLONERANGE` (the same numbers as `BTRFS_IOC_CLONE(_RANGE)`) and
//! `FIDEDUPERANGE`, once the VFS (`generic_remap_file_range_prep`) has
//! checked the request, flushed both ranges and, for dedupe, compared them.
//!
//! A clone of `[src_off, src_off + len)` of one inode to `dst_off` of
//! another (or the same, ranges never overlapping) shares the source's
//! data extents: the destination range loses its own extents
//! ([`drop_extents`]), then every EXTENT_DATA item of the source range is
//! copied, trimmed at the edges (`offset`/`num_bytes` move, the disk
//! extent stays), each getting a new data reference
//! `(dst root, dst ino, dst key offset - extent offset)`. Checksums are
//! keyed by disk address, so they are shared as they are, and so are
//! compressed extents. Holes need no items (NO_HOLES).
//!
//! Inline extents: the whole inline item is copied to the destination
//! when it lands at offset 0 of a file that has no data past it (C's
//! `clone_copy_inline_extent`); otherwise its data has to be written into
//! the destination's sector as ordinary data, which the caller does
//! ([`InlineCopy`], C's `copy_inline_to_page`).

#![forbid(unsafe_code)]

use crate::ctree::{key_type, Key, Path, SearchError, TreeSource};
use crate::ctree_write::insert_item;
use crate::error::{Errno, Result, EINVAL, EUCLEAN};
use crate::extent_io::Overlay;
use crate::file_item::{self, drop_extents, find_extent_trans, ExtentKind};
use crate::items::{FileExtent, FileExtentBody};
use crate::items_write::RegularExtent;
use crate::mem::Vec;
use crate::transaction::{FsState, Trans};

/// Largest range one dedupe step shares (C: `BTRFS_MAX_DEDUPE_LEN`):
/// longer requests go in steps of this size.
pub const MAX_DEDUPE_LEN: u64 = 16 << 20;

/// Inline data that could not stay inline at its destination: the caller
/// writes `ram_bytes` decoded bytes of `data` (compressed with
/// `compression`) at `dst_offset` as a sector of ordinary data, zeroes
/// after them.
#[derive(Debug)]
pub struct InlineCopy {
    /// Where in the destination (sector aligned).
    pub dst_offset: u64,
    /// Decoded length.
    pub ram_bytes: u64,
    /// Compression of `data`.
    pub compression: u8,
    /// The bytes stored in the source item.
    pub data: Vec<u8>,
}

/// One clone request.
#[derive(Clone, Copy, Debug)]
pub struct CloneArgs {
    /// Tree of the source inode.
    pub src_root: u64,
    /// The source inode.
    pub src_ino: u64,
    /// Start in the source (sector aligned).
    pub src_off: u64,
    /// Tree of the destination inode.
    pub dst_root: u64,
    /// The destination inode.
    pub dst_ino: u64,
    /// Start in the destination (sector aligned).
    pub dst_off: u64,
    /// Length the user asked for (after the VFS's checks): the
    /// destination's size becomes at least `dst_off + len`.
    pub len: u64,
    /// `len` rounded up to a sector: what is shared (the last sector of a
    /// source ending unaligned goes whole).
    pub aligned_len: u64,
    /// The destination's size before the clone.
    pub dst_size: u64,
}

fn read_err<E>(e: SearchError<E>) -> Errno {
    match e {
        SearchError::Read(_) => crate::error::EIO,
        SearchError::Tree(_) => EUCLEAN,
    }
}

/// The raw EXTENT_DATA item of `ino` at file offset 0.
fn raw_item_at_zero<S: TreeSource>(t: &Trans<'_, S>, root: u64, ino: u64) -> Result<Option<Vec<u8>>> {
    let rn = t.fs.root(root).ok_or(EUCLEAN)?;
    let ov = Overlay { dirty: &t.fs.dirty, src: t.src };
    let mut p = Path::new();
    let key = Key::new(ino, key_type::EXTENT_DATA, 0);
    if !p.search(&ov, rn.bytenr, rn.level, rn.generation, &key).map_err(read_err)? {
        return Ok(None);
    }
    let item = p.item()?.ok_or(EUCLEAN)?;
    let mut v = Vec::new();
    v.extend_from_slice(item.data)?;
    Ok(Some(v))
}

/// Shares `[src_off, src_off + aligned_len)` of the source at `dst_off` of
/// the destination in the running transaction, and sets the
/// destination's item size to at least `dst_off + len` (the caller updates
/// times and the in-core size). Returns inline data the caller must still
/// write (see [`InlineCopy`]).
///
/// `EINVAL` for unaligned offsets or lengths, or overlapping ranges of
/// one inode (the VFS refuses those before).
pub fn clone_range<S: TreeSource>(t: &mut Trans<'_, S>, a: &CloneArgs) -> Result<Option<InlineCopy>> {
    let ss = u64::from(t.fs.geo.sectorsize).max(1);
    let alen = a.aligned_len;
    if alen == 0 {
        return Ok(None);
    }
    if a.src_off % ss != 0 || a.dst_off % ss != 0 || alen % ss != 0 || a.len > alen || alen - a.len >= ss {
        return Err(EINVAL);
    }
    let src_end = a.src_off.checked_add(alen).ok_or(EINVAL)?;
    let dst_end = a.dst_off.checked_add(alen).ok_or(EINVAL)?;
    if a.src_root == a.dst_root && a.src_ino == a.dst_ino && a.dst_off < src_end && a.src_off < dst_end {
        return Err(EINVAL);
    }
    // What the destination has at offset 0 decides how an inline source
    // extent goes (looked at before its range is dropped).
    let dst_first_inline_or_none = if a.dst_off == 0 {
        match find_extent_trans(t, a.dst_root, a.dst_ino, 0)? {
            None => true,
            // Any other first extent, even one past the sector (C: an
            // implicit hole at 0), takes the data as a regular sector.
            Some(fe) => fe.file_offset == 0 && matches!(fe.kind, ExtentKind::Inline { .. }),
        }
    } else {
        false
    };
    let dropped = drop_extents(t, a.dst_root, a.dst_ino, a.dst_off, dst_end)?;
    file_item::update_inode(t, a.dst_root, a.dst_ino, |f| {
        f.nbytes = f.nbytes.checked_sub(dropped).ok_or(EUCLEAN)?;
        Ok(())
    })?;
    let mut inline_copy = None;
    let mut cursor = a.src_off;
    while cursor < src_end {
        let Some(fe) = find_extent_trans(t, a.src_root, a.src_ino, cursor)? else { break };
        if fe.file_offset >= src_end {
            break;
        }
        let fe_end = fe.end()?;
        match fe.kind {
            ExtentKind::Inline { ram_bytes, .. } => {
                // Only at offset 0, below a sector: a clone starting at 0
                // takes it whole.
                if fe.file_offset != 0 || a.src_off != 0 || ram_bytes > ss {
                    return Err(EUCLEAN);
                }
                let raw = raw_item_at_zero(t, a.src_root, a.src_ino)?.ok_or(EUCLEAN)?;
                if a.dst_off == 0 && dst_first_inline_or_none && a.dst_size <= ram_bytes {
                    // C copies the item as it is (generation included).
                    t.with_root(a.dst_root, |t, rn| {
                        insert_item(t, rn, &Key::new(a.dst_ino, key_type::EXTENT_DATA, 0), &raw)
                    })?;
                    file_item::update_inode(t, a.dst_root, a.dst_ino, |f| {
                        f.nbytes = f.nbytes.checked_add(ram_bytes).ok_or(EUCLEAN)?;
                        Ok(())
                    })?;
                } else {
                    let fe2 = FileExtent::parse(&raw).map_err(|_| EUCLEAN)?;
                    let FileExtentBody::Inline(d) = fe2.body else { return Err(EUCLEAN) };
                    let mut data = Vec::new();
                    data.extend_from_slice(d)?;
                    inline_copy = Some(InlineCopy {
                        dst_offset: a.dst_off,
                        ram_bytes,
                        compression: fe2.header.compression(),
                        data,
                    });
                }
            }
            ExtentKind::Regular(re) => {
                let ps = fe.file_offset.max(a.src_off);
                let pe = fe_end.min(src_end);
                if re.disk_bytenr != 0 && ps < pe {
                    let piece = RegularExtent {
                        offset: re.offset.checked_add(ps - fe.file_offset).ok_or(EUCLEAN)?,
                        num_bytes: pe - ps,
                        ..re
                    };
                    let at = a.dst_off + (ps - a.src_off);
                    file_item::insert_file_extent(t, a.dst_root, a.dst_ino, at, &piece, false)?;
                }
            }
        }
        cursor = if fe_end <= cursor { cursor.checked_add(1).ok_or(EUCLEAN)? } else { fe_end };
    }
    let new_end = a.dst_off.checked_add(a.len).ok_or(EINVAL)?;
    file_item::update_inode(t, a.dst_root, a.dst_ino, |f| {
        f.size = f.size.max(new_end).max(a.dst_size);
        Ok(())
    })?;
    Ok(inline_copy)
}

// ---------------------------------------------------------------------------
// FIEMAP: where a file's data is, and which extents are shared
// ---------------------------------------------------------------------------

/// `FIEMAP_EXTENT_LAST`.
pub const FIEMAP_LAST: u32 = 0x1;
/// `FIEMAP_EXTENT_ENCODED`: compressed.
pub const FIEMAP_ENCODED: u32 = 0x8;
/// `FIEMAP_EXTENT_NOT_ALIGNED`.
pub const FIEMAP_NOT_ALIGNED: u32 = 0x100;
/// `FIEMAP_EXTENT_DATA_INLINE`.
pub const FIEMAP_DATA_INLINE: u32 = 0x200;
/// `FIEMAP_EXTENT_UNWRITTEN`: preallocated.
pub const FIEMAP_UNWRITTEN: u32 = 0x800;
/// `FIEMAP_EXTENT_SHARED`.
pub const FIEMAP_SHARED: u32 = 0x2000;

/// One FIEMAP record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FiemapExtent {
    /// File offset.
    pub logical: u64,
    /// Disk (logical address space) offset; 0 for inline data.
    pub physical: u64,
    /// Length.
    pub len: u64,
    /// `FIEMAP_EXTENT_*`.
    pub flags: u32,
}

fn le(b: &[u8], off: usize, n: usize) -> Result<u64> {
    let s = b.get(off..off + n).ok_or(EUCLEAN)?;
    Ok(s.iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
}

/// Whether data extent `bytenr` is shared (C: `btrfs_is_data_extent_shared`):
/// referenced by more than one backref, that is more than one
/// `(root, inode, offset)` identity (or shared backref), in the extent tree
/// with the running transaction's queued changes applied. Two file extent
/// items of one identity (an extent split by a hole punched in it) do not
/// make it shared.
pub fn data_extent_shared<S: TreeSource>(fs: &FsState, src: &S, bytenr: u64) -> Result<bool> {
    use crate::delayed_ref::RefKind;
    // (root, owner, offset) or (parent, u64::MAX, u64::MAX) -> count.
    let mut ids: Vec<((u64, u64, u64), i64)> = Vec::new();
    fn add(ids: &mut Vec<((u64, u64, u64), i64)>, id: (u64, u64, u64), n: i64) -> Result {
        if let Some(e) = ids.iter_mut().find(|e| e.0 == id) {
            e.1 = e.1.saturating_add(n);
            return Ok(());
        }
        ids.push((id, n))?;
        Ok(())
    }
    let rn = fs.root(crate::ctree::objectid::EXTENT_TREE).ok_or(EUCLEAN)?;
    let ov = Overlay { dirty: &fs.dirty, src };
    let mut p = Path::new();
    p.search(&ov, rn.bytenr, rn.level, rn.generation, &Key::new(bytenr, key_type::EXTENT_ITEM, 0))
        .map_err(read_err)?;
    while let Some(item) = p.item()? {
        if item.key.objectid != bytenr {
            break;
        }
        let d = item.data;
        match item.key.ty {
            key_type::EXTENT_ITEM => {
                // refs, generation, flags, then the inline refs.
                let mut off = 24;
                while off < d.len() {
                    match d[off] {
                        key_type::EXTENT_DATA_REF => {
                            let id = (le(d, off + 1, 8)?, le(d, off + 9, 8)?, le(d, off + 17, 8)?);
                            add(&mut ids, id, le(d, off + 25, 4)? as i64)?;
                            off += 29;
                        }
                        key_type::SHARED_DATA_REF => {
                            add(&mut ids, (le(d, off + 1, 8)?, u64::MAX, u64::MAX), le(d, off + 9, 4)? as i64)?;
                            off += 13;
                        }
                        _ => return Err(EUCLEAN),
                    }
                }
            }
            key_type::EXTENT_DATA_REF => {
                let id = (le(d, 0, 8)?, le(d, 8, 8)?, le(d, 16, 8)?);
                add(&mut ids, id, le(d, 24, 4)? as i64)?;
            }
            key_type::SHARED_DATA_REF => {
                add(&mut ids, (item.key.offset, u64::MAX, u64::MAX), le(d, 0, 4)? as i64)?;
            }
            _ => {}
        }
        if !p.next_item(&ov).map_err(read_err)? {
            break;
        }
    }
    for r in fs.refs.iter() {
        if let (true, RefKind::Data { root, owner, offset }) = (r.bytenr == bytenr, r.kind) {
            add(&mut ids, (root, owner, offset), r.delta)?;
        }
    }
    Ok(ids.iter().filter(|e| e.1 > 0).count() > 1)
}

/// The FIEMAP records of `[start, end)` of `ino` (C: `btrfs_fiemap`, one
/// record per file extent item, holes left out): inline data flagged
/// DATA_INLINE|NOT_ALIGNED, prealloc UNWRITTEN, compressed ENCODED (its
/// physical address the disk extent's start), shared extents
/// ([`data_extent_shared`]) SHARED; the file's last extent LAST. `emit` returns `true` to
/// stop (the user's array is full).
pub fn fiemap<S: TreeSource>(
    fs: &FsState,
    src: &S,
    root: u64,
    ino: u64,
    start: u64,
    end: u64,
    mut emit: impl FnMut(FiemapExtent) -> Result<bool>,
) -> Result {
    let ss = u64::from(fs.geo.sectorsize).max(1);
    let rn = fs.root(root).ok_or(EUCLEAN)?;
    let ov = Overlay { dirty: &fs.dirty, src };
    let mut pos = start;
    let mut pending: Option<FiemapExtent> = None;
    while pos < end {
        let Some(fe) = file_item::find_extent(&ov, &rn, ino, pos)? else { break };
        let fe_end = fe.end()?;
        let next = if fe_end <= pos { pos.checked_add(1).ok_or(EUCLEAN)? } else { fe_end };
        if fe.file_offset >= end {
            break;
        }
        let rec = match fe.kind {
            ExtentKind::Inline { ram_bytes, .. } => Some(FiemapExtent {
                logical: fe.file_offset,
                physical: 0,
                len: ram_bytes.div_ceil(ss) * ss,
                flags: FIEMAP_DATA_INLINE | FIEMAP_NOT_ALIGNED,
            }),
            ExtentKind::Regular(re) if re.disk_bytenr != 0 => {
                let mut flags = 0;
                if re.prealloc {
                    flags |= FIEMAP_UNWRITTEN;
                }
                let physical = if re.compression != crate::items::compression::NONE {
                    flags |= FIEMAP_ENCODED;
                    re.disk_bytenr
                } else {
                    re.disk_bytenr + re.offset
                };
                if data_extent_shared(fs, src, re.disk_bytenr)? {
                    flags |= FIEMAP_SHARED;
                }
                Some(FiemapExtent { logical: fe.file_offset, physical, len: re.num_bytes, flags })
            }
            ExtentKind::Regular(_) => None,
        };
        if let Some(r) = rec {
            if let Some(p) = pending.replace(r) {
                if emit(p)? {
                    return Ok(());
                }
            }
        }
        pos = next;
    }
    if let Some(mut p) = pending {
        // LAST when nothing follows in the file at all.
        let end_of_p = p.logical.saturating_add(p.len);
        if file_item::find_extent(&ov, &rn, ino, end_of_p)?.is_none() {
            p.flags |= FIEMAP_LAST;
        }
        emit(p)?;
    }
    Ok(())
}
