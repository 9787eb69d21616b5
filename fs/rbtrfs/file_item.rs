// SPDX-License-Identifier: GPL-2.0

//! File data items (C: `file-item.c`, `btrfs_drop_extents` in `file.c`,
//! the truncate and file extent insertion parts of `inode.c`).
//!
//! # The extent model
//!
//! A file's data is described by EXTENT_DATA items in its subvolume tree,
//! keyed `(ino, EXTENT_DATA, file offset)`, sorted by file offset and never
//! overlapping. Each item is one of:
//! - *inline*: the bytes are in the item itself, after a 21-byte header
//!   whose `ram_bytes` is their (decoded) length. Only at file offset 0;
//!   it logically covers `[0, ALIGN(ram_bytes, sectorsize))`, the bytes past
//!   `ram_bytes` reading as zeroes. At most [`max_inline_size`] bytes.
//! - *regular*: the file range `[key.offset, key.offset + num_bytes)` is
//!   bytes `[offset, offset + num_bytes)` of the (decoded) data extent
//!   `[disk_bytenr, disk_bytenr + disk_num_bytes)`. Several items may
//!   reference parts of one data extent (after a partial overwrite, a hole
//!   punched in the middle, a reflink). `disk_bytenr == 0` is an explicit
//!   hole.
//! - *prealloc*: like regular, but the range reads as zeroes (fallocate).
//!
//! Regular and inline data may be compressed (C btrfs wrote it; rbtrfs
//! never compresses): `offset`, `num_bytes` and `ram_bytes` then count
//! decoded bytes, and the disk extent is the compressed stream, always
//! read, checksummed and freed whole (see [`crate::compression`]).
//!
//! Every sector-aligned range not covered by an item is a hole: the
//! filesystem has the NO_HOLES feature, so holes need no items.
//!
//! Each item pointing at a data extent holds a reference on it, identified
//! by `(root, ino, key.offset - offset)`: the EXTENT_DATA_REF backref in
//! the extent tree counts the items with that identity. Trimming an item
//! keeps its identity (the key offset and the extent offset move
//! together); splitting one in two adds a reference with the same
//! identity; deleting one drops it. The references are queued as delayed
//! refs ([`Trans::data_ref`]) and reach the extent tree at commit; the
//! extent is freed when its last one goes.
//!
//! The INODE_ITEM's `nbytes` counts the bytes of regular and prealloc items
//! that point at an extent (`num_bytes`, holes excluded) plus the
//! `ram_bytes` of inline items; `btrfs check` verifies exactly that.
//!
//! # Checksums
//!
//! Data checksums (one per sector, of the checksum type in the superblock)
//! live in the checksum tree (7) in EXTENT_CSUM items keyed
//! `(EXTENT_CSUM_OBJECTID, EXTENT_CSUM, logical)`, each holding the
//! checksums of consecutive sectors from `logical` on, packed, never
//! overlapping, at most [`max_csums_per_item`] per item. They are keyed by
//! disk address, not by file: [`insert_csums`] when data is written to a
//! new extent, [`del_csums`] when a data extent is freed. Prealloc extents
//! have none until written.
//!
//! # Division of work
//!
//! This module only changes items. The caller allocates data space
//! ([`Trans::alloc_data`]), writes the data to the device (before the
//! commit), and zeroes partial sectors: bytes of the last sector past
//! `i_size` must read as zero, so a truncate to an unaligned size or a
//! hole punched at unaligned edges needs the partial sector rewritten by
//! the caller first (C: `btrfs_truncate_block`). Reads go through
//! [`read_file`], which returns what to read from the device.

#![forbid(unsafe_code)]

use crate::ctree::{key_type, objectid, Key, Path, SearchError, TreeSource, HEADER_SIZE, ITEM_SIZE};
use crate::ctree_write::{
    del_items, extend_item, insert_item, item_data_mut, max_item_size, search_slot, set_item_key, truncate_item, WPath,
};
use crate::delayed_ref::RefKind;
use crate::error::{Errno, Result, EINVAL, EIO, ENOENT, EOPNOTSUPP, EUCLEAN};
use crate::extent_io::{Overlay, RootNode};
use crate::items::{
    compression, FileExtent, FileExtentBody, FileExtentHeader, FileExtentHeaderMut, FileExtentItemMut, InodeItemMut,
};
use crate::items_write::{encode_inline_extent, inline_extent_size, InodeFields, RegularExtent};
use crate::mem::Vec;
use crate::transaction::Trans;

/// The mount option `max_inline` default (C: `BTRFS_DEFAULT_MAX_INLINE`).
pub const DEFAULT_MAX_INLINE: u32 = 2048;

/// Largest uncompressed inline extent: below a sector, fitting an item, and
/// at most the `max_inline` mount option (C: `cow_file_range_inline`'s
/// limits; `btrfs check` refuses `ram_bytes >= sectorsize`).
pub fn max_inline_size(nodesize: u32, sectorsize: u32, max_inline: u32) -> usize {
    let item = (max_item_size(nodesize) as usize).saturating_sub(FileExtentHeader::SIZE);
    item.min((sectorsize as usize).saturating_sub(1)).min(max_inline as usize)
}

/// Most checksums in one EXTENT_CSUM item (C: `MAX_CSUM_ITEMS`, with a
/// 4 KiB page).
pub fn max_csums_per_item(nodesize: u32, csum_size: usize) -> usize {
    let leaf_data = (nodesize as usize).saturating_sub(HEADER_SIZE);
    let n = (leaf_data.saturating_sub(2 * ITEM_SIZE) / csum_size.max(1)).saturating_sub(1);
    n.min(4096)
}

fn read_err<E>(e: SearchError<E>) -> Errno {
    match e {
        SearchError::Read(_) => EIO,
        SearchError::Tree(_) => EUCLEAN,
    }
}

fn align_up(v: u64, a: u64) -> Result<u64> {
    v.checked_add(a - 1).map(|x| x / a * a).ok_or(EINVAL)
}

fn aligned(v: u64, a: u64) -> bool {
    v % a == 0
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/// What an EXTENT_DATA item holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtentKind {
    /// Data in the item.
    Inline {
        /// Decoded length of the data.
        ram_bytes: u64,
        /// Compression of the stored bytes.
        compression: u8,
        /// Bytes stored in the item.
        stored: usize,
    },
    /// A regular or prealloc extent (or an explicit hole).
    Regular(RegularExtent),
}

/// One EXTENT_DATA item, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileExtentInfo {
    /// The key offset: where in the file it starts.
    pub file_offset: u64,
    /// Its contents.
    pub kind: ExtentKind,
}

impl FileExtentInfo {
    /// Decodes the item at `key.offset` with data `data`.
    pub fn decode(file_offset: u64, data: &[u8]) -> Result<Self> {
        let fe = FileExtent::parse(data).map_err(|_| EUCLEAN)?;
        let kind = match fe.body {
            FileExtentBody::Inline(d) => {
                if file_offset != 0 {
                    return Err(EUCLEAN);
                }
                ExtentKind::Inline {
                    ram_bytes: fe.header.ram_bytes(),
                    compression: fe.header.compression(),
                    stored: d.len(),
                }
            }
            FileExtentBody::Regular(_) | FileExtentBody::Prealloc(_) => {
                let r = RegularExtent::decode(data)?;
                if r.disk_bytenr == 0 && r.prealloc {
                    return Err(EUCLEAN);
                }
                ExtentKind::Regular(r)
            }
        };
        let info = FileExtentInfo { file_offset, kind };
        info.end()?;
        Ok(info)
    }

    /// Where the item's coverage ends (for an inline extent the end of its
    /// data, as `btrfs_drop_extents` sees it).
    pub fn end(&self) -> Result<u64> {
        let len = match self.kind {
            ExtentKind::Inline { ram_bytes, .. } => ram_bytes,
            ExtentKind::Regular(r) => r.num_bytes,
        };
        self.file_offset.checked_add(len).ok_or(EUCLEAN)
    }

    /// The bytes this item adds to the inode's `nbytes`.
    pub fn nbytes(&self) -> u64 {
        match self.kind {
            ExtentKind::Inline { ram_bytes, .. } => ram_bytes,
            ExtentKind::Regular(r) if r.disk_bytenr != 0 => r.num_bytes,
            ExtentKind::Regular(_) => 0,
        }
    }
}

// ---------------------------------------------------------------------------
// Reading (any tree source: the kernel's cache, an overlay of dirty blocks)
// ---------------------------------------------------------------------------

/// The inode item of `ino` in the tree rooted at `root`.
pub fn read_inode<S: TreeSource>(src: &S, root: &RootNode, ino: u64) -> Result<InodeFields> {
    let mut p = Path::new();
    let key = Key::new(ino, key_type::INODE_ITEM, 0);
    if !p.search(src, root.bytenr, root.level, root.generation, &key).map_err(read_err)? {
        return Err(ENOENT);
    }
    let item = p.item()?.ok_or(EUCLEAN)?;
    InodeFields::decode(item.data)
}

/// Positions `p` on the EXTENT_DATA item of `ino` covering `pos` if there
/// is one, else on the first item after `pos` (which may belong to
/// something else: callers check the key).
fn seek_extent<S: TreeSource>(src: &S, root: &RootNode, ino: u64, pos: u64, p: &mut Path<S::Block>) -> Result {
    let key = Key::new(ino, key_type::EXTENT_DATA, pos);
    if p.search(src, root.bytenr, root.level, root.generation, &key).map_err(read_err)? {
        return Ok(());
    }
    if !p.prev_item(src).map_err(read_err)? {
        return Ok(());
    }
    let item = p.item()?.ok_or(EUCLEAN)?;
    if item.key.objectid == ino && item.key.ty == key_type::EXTENT_DATA {
        let fe = FileExtentInfo::decode(item.key.offset, item.data)?;
        if fe.end()? > pos {
            return Ok(());
        }
    }
    p.next_item(src).map_err(read_err)?;
    Ok(())
}

/// The file extent of `ino` covering `pos`, or else the first one after
/// it; `None` if there is none at or after `pos`.
pub fn find_extent<S: TreeSource>(src: &S, root: &RootNode, ino: u64, pos: u64) -> Result<Option<FileExtentInfo>> {
    let mut p = Path::new();
    seek_extent(src, root, ino, pos, &mut p)?;
    loop {
        let Some(item) = p.item()? else { return Ok(None) };
        if item.key.objectid != ino || item.key.ty != key_type::EXTENT_DATA {
            return Ok(None);
        }
        let fe = FileExtentInfo::decode(item.key.offset, item.data)?;
        if fe.end()? > pos || fe.file_offset >= pos {
            return Ok(Some(fe));
        }
        if !p.next_item(src).map_err(read_err)? {
            return Ok(None);
        }
    }
}

/// A piece of file data that is on disk: the caller reads `len` bytes at
/// logical address `logical` into `buf[buf_offset..]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataRun {
    /// Where in the caller's buffer.
    pub buf_offset: usize,
    /// Logical address of the first byte.
    pub logical: u64,
    /// Bytes to read.
    pub len: usize,
    /// The data extent holding it (for checksum lookups, which are per
    /// sector of the extent).
    pub extent_bytenr: u64,
}

/// Reads `ino` from file offset `offset` into `buf`: returns how many bytes
/// of the file there are (up to `buf.len()`, clipped at `i_size`). Holes
/// and prealloc ranges are zeroed and inline data copied; the ranges on
/// disk are left zeroed in `buf` and listed in `runs` (cleared first), in
/// file order, for the caller to read from the device (and check against
/// [`lookup_csums`]). Compressed extents are `EOPNOTSUPP`: a caller that
/// can decode them reads the whole disk extent and decompresses it
/// ([`crate::compression`]), as the kernel's read path does.
pub fn read_file<S: TreeSource>(
    src: &S,
    root: &RootNode,
    ino: u64,
    offset: u64,
    buf: &mut [u8],
    runs: &mut Vec<DataRun>,
) -> Result<usize> {
    runs.clear();
    let isize = read_inode(src, root, ino)?.size;
    if offset >= isize {
        return Ok(0);
    }
    let n = (buf.len() as u64).min(isize - offset) as usize;
    let end = offset + n as u64;
    buf[..n].fill(0);
    let mut p = Path::new();
    seek_extent(src, root, ino, offset, &mut p)?;
    while let Some(item) = p.item()? {
        if item.key.objectid != ino || item.key.ty != key_type::EXTENT_DATA || item.key.offset >= end {
            break;
        }
        let fe = FileExtentInfo::decode(item.key.offset, item.data)?;
        let lo = fe.file_offset.max(offset);
        let hi = fe.end()?.min(end);
        if lo < hi {
            let at = (lo - offset) as usize;
            let len = (hi - lo) as usize;
            match fe.kind {
                ExtentKind::Inline { compression: c, .. } => {
                    if c != compression::NONE {
                        return Err(EOPNOTSUPP);
                    }
                    let data = item.data.get(FileExtentHeader::SIZE..).ok_or(EUCLEAN)?;
                    let from = lo as usize;
                    let avail = data.len().saturating_sub(from).min(len);
                    if avail > 0 {
                        buf[at..at + avail].copy_from_slice(&data[from..from + avail]);
                    }
                }
                ExtentKind::Regular(r) => {
                    if r.disk_bytenr == 0 || r.prealloc {
                        // Zeroes, already.
                    } else if r.compression != compression::NONE {
                        return Err(EOPNOTSUPP);
                    } else {
                        let logical = r
                            .disk_bytenr
                            .checked_add(r.offset)
                            .and_then(|x| x.checked_add(lo - fe.file_offset))
                            .ok_or(EUCLEAN)?;
                        runs.push(DataRun { buf_offset: at, logical, len, extent_bytenr: r.disk_bytenr })?;
                    }
                }
            }
        }
        if !p.next_item(src).map_err(read_err)? {
            break;
        }
    }
    Ok(n)
}

/// An inline extent's item, copied out: its data is compressed with
/// `compression` and decodes to `ram_bytes` bytes.
#[derive(Debug)]
pub struct InlineExtent {
    /// Compression of `data` ([`compression`]).
    pub compression: u8,
    /// Decoded length.
    pub ram_bytes: u64,
    /// The bytes stored in the item.
    pub data: Vec<u8>,
}

/// The inline extent of `ino` (at file offset 0), if it has one. A caller
/// about to cut or zero part of a compressed one decodes `data`
/// ([`crate::compression::decompress_inline`]) and puts it back
/// uncompressed ([`insert_inline_extent`]) first: items only ever cut
/// uncompressed inline data.
pub fn read_inline_extent<S: TreeSource>(src: &S, root: &RootNode, ino: u64) -> Result<Option<InlineExtent>> {
    let mut p = Path::new();
    let key = extent_key(ino, 0);
    if !p.search(src, root.bytenr, root.level, root.generation, &key).map_err(read_err)? {
        return Ok(None);
    }
    let item = p.item()?.ok_or(EUCLEAN)?;
    let fe = FileExtent::parse(item.data).map_err(|_| EUCLEAN)?;
    let FileExtentBody::Inline(d) = fe.body else { return Ok(None) };
    let mut data = Vec::new();
    data.extend_from_slice(d)?;
    Ok(Some(InlineExtent { compression: fe.header.compression(), ram_bytes: fe.header.ram_bytes(), data }))
}

/// The checksum item with the greatest start `<= pos`: (start, number of
/// checksums).
fn csum_item_at_or_before<S: TreeSource>(
    src: &S,
    root: &RootNode,
    pos: u64,
    cs: usize,
) -> Result<Option<(u64, usize)>> {
    let mut p = Path::new();
    let key = Key::new(objectid::EXTENT_CSUM, key_type::EXTENT_CSUM, pos);
    if !p.search(src, root.bytenr, root.level, root.generation, &key).map_err(read_err)?
        && !p.prev_item(src).map_err(read_err)?
    {
        return Ok(None);
    }
    let Some(item) = p.item()? else { return Ok(None) };
    let k = item.key;
    if k.objectid != objectid::EXTENT_CSUM || k.ty != key_type::EXTENT_CSUM || k.offset > pos {
        return Ok(None);
    }
    let cs = cs.max(1);
    if item.data.len() % cs != 0 || item.data.is_empty() {
        return Err(EUCLEAN);
    }
    Ok(Some((k.offset, item.data.len() / cs)))
}

/// The start of the first checksum item starting after `pos`.
fn csum_item_after<S: TreeSource>(src: &S, root: &RootNode, pos: u64) -> Result<Option<u64>> {
    let Some(next) = pos.checked_add(1) else { return Ok(None) };
    let mut p = Path::new();
    let key = Key::new(objectid::EXTENT_CSUM, key_type::EXTENT_CSUM, next);
    p.search(src, root.bytenr, root.level, root.generation, &key).map_err(read_err)?;
    Ok(p.key()?.filter(|k| k.objectid == objectid::EXTENT_CSUM && k.ty == key_type::EXTENT_CSUM).map(|k| k.offset))
}

/// Copies the checksums of the sectors from `bytenr` on into `out`
/// (`csum_size` bytes each, as many sectors as `out` holds), from the
/// checksum tree rooted at `csum_root`. Returns how many sectors from
/// `bytenr` on have one: the copy stops at the first that has none.
pub fn lookup_csums<S: TreeSource>(
    src: &S,
    csum_root: &RootNode,
    sectorsize: u32,
    csum_size: usize,
    bytenr: u64,
    out: &mut [u8],
) -> Result<usize> {
    let (ss, cs) = (u64::from(sectorsize), csum_size);
    if cs == 0 || ss == 0 || !aligned(bytenr, ss) {
        return Err(EINVAL);
    }
    let n = out.len() / cs;
    let mut i = 0;
    let mut p = Path::new();
    while i < n {
        let pos = bytenr.checked_add(i as u64 * ss).ok_or(EINVAL)?;
        let key = Key::new(objectid::EXTENT_CSUM, key_type::EXTENT_CSUM, pos);
        if !p.search(src, csum_root.bytenr, csum_root.level, csum_root.generation, &key).map_err(read_err)?
            && !p.prev_item(src).map_err(read_err)?
        {
            break;
        }
        let Some(item) = p.item()? else { break };
        let k = item.key;
        if k.objectid != objectid::EXTENT_CSUM || k.ty != key_type::EXTENT_CSUM || k.offset > pos {
            break;
        }
        if item.data.len() % cs != 0 || !aligned(k.offset, ss) {
            return Err(EUCLEAN);
        }
        let idx = ((pos - k.offset) / ss) as usize;
        let cnt = item.data.len() / cs;
        if idx >= cnt {
            break;
        }
        let take = (cnt - idx).min(n - i);
        out[i * cs..(i + take) * cs].copy_from_slice(&item.data[idx * cs..(idx + take) * cs]);
        i += take;
    }
    Ok(i)
}

/// The checksum of the sector at `bytenr` into `out[..csum_size]`, if it
/// has one.
pub fn lookup_csum<S: TreeSource>(
    src: &S,
    csum_root: &RootNode,
    sectorsize: u32,
    csum_size: usize,
    bytenr: u64,
    out: &mut [u8],
) -> Result<bool> {
    let out = out.get_mut(..csum_size).ok_or(EINVAL)?;
    Ok(lookup_csums(src, csum_root, sectorsize, csum_size, bytenr, out)? == 1)
}

// ---------------------------------------------------------------------------
// Changing items in a transaction
// ---------------------------------------------------------------------------

fn cur_root<S: TreeSource>(t: &Trans<'_, S>, root: u64) -> Result<RootNode> {
    t.fs.root(root).ok_or(EUCLEAN)
}

/// [`find_extent`] over the running transaction's trees.
pub fn find_extent_trans<S: TreeSource>(
    t: &Trans<'_, S>,
    root: u64,
    ino: u64,
    pos: u64,
) -> Result<Option<FileExtentInfo>> {
    let rn = cur_root(t, root)?;
    let ov = Overlay { dirty: &t.fs.dirty, src: t.src };
    find_extent(&ov, &rn, ino, pos)
}

/// [`read_inline_extent`] over the running transaction's trees.
pub fn read_inline_extent_trans<S: TreeSource>(t: &Trans<'_, S>, root: u64, ino: u64) -> Result<Option<InlineExtent>> {
    let rn = cur_root(t, root)?;
    let ov = Overlay { dirty: &t.fs.dirty, src: t.src };
    read_inline_extent(&ov, &rn, ino)
}

/// [`read_inode`] over the running transaction's trees.
pub fn read_inode_trans<S: TreeSource>(t: &Trans<'_, S>, root: u64, ino: u64) -> Result<InodeFields> {
    let rn = cur_root(t, root)?;
    let ov = Overlay { dirty: &t.fs.dirty, src: t.src };
    read_inode(&ov, &rn, ino)
}

/// Changes the INODE_ITEM of `ino` in tree `root`: `f` gets its fields,
/// with `transid` already set to the running transaction.
pub fn update_inode<S: TreeSource>(
    t: &mut Trans<'_, S>,
    root: u64,
    ino: u64,
    f: impl FnOnce(&mut InodeFields) -> Result,
) -> Result {
    let transid = t.fs.transid();
    t.with_root(root, |t, rn| {
        let mut p = WPath::new();
        if !search_slot(t, rn, &Key::new(ino, key_type::INODE_ITEM, 0), &mut p, 0, true)? {
            return Err(ENOENT);
        }
        let d = item_data_mut(t, &p)?;
        let mut fields = InodeFields::decode(d)?;
        fields.transid = transid;
        f(&mut fields)?;
        let mut m = InodeItemMut::new(d).ok_or(EUCLEAN)?;
        fields.write_to(&mut m);
        Ok(())
    })
}

/// Adds `add` and subtracts `sub` from the inode's `nbytes`.
fn adjust_nbytes<S: TreeSource>(t: &mut Trans<'_, S>, root: u64, ino: u64, add: u64, sub: u64) -> Result {
    update_inode(t, root, ino, |f| {
        f.nbytes = f.nbytes.checked_add(add).and_then(|n| n.checked_sub(sub)).ok_or(EUCLEAN)?;
        Ok(())
    })
}

fn extent_key(ino: u64, off: u64) -> Key {
    Key::new(ino, key_type::EXTENT_DATA, off)
}

/// Deletes the item `key`, which must exist.
fn delete_item<S: TreeSource>(t: &mut Trans<'_, S>, root: u64, key: &Key) -> Result {
    t.with_root(root, |t, rn| {
        let mut p = WPath::new();
        if !search_slot(t, rn, key, &mut p, -1, true)? {
            return Err(EUCLEAN);
        }
        del_items(t, rn, &mut p, 1)
    })
}

/// Rewrites the regular extent item at `key` (same size).
fn rewrite_regular<S: TreeSource>(t: &mut Trans<'_, S>, root: u64, key: &Key, e: &RegularExtent) -> Result {
    t.with_root(root, |t, rn| {
        let mut p = WPath::new();
        if !search_slot(t, rn, key, &mut p, 0, true)? {
            return Err(EUCLEAN);
        }
        let mut m = FileExtentItemMut::new(item_data_mut(t, &p)?).ok_or(EUCLEAN)?;
        e.write_to(&mut m);
        Ok(())
    })
}

/// Cuts the uncompressed inline extent of `ino` down to its first `len`
/// bytes.
fn truncate_inline<S: TreeSource>(t: &mut Trans<'_, S>, root: u64, ino: u64, len: u64) -> Result {
    let size = u32::try_from(inline_extent_size(len as usize)).map_err(|_| EINVAL)?;
    t.with_root(root, |t, rn| {
        let mut p = WPath::new();
        if !search_slot(t, rn, &extent_key(ino, 0), &mut p, 0, true)? {
            return Err(EUCLEAN);
        }
        truncate_item(t, &p, size, true)?;
        let mut h = FileExtentHeaderMut::new(item_data_mut(t, &p)?).ok_or(EUCLEAN)?;
        h.set_ram_bytes(len);
        Ok(())
    })
}

/// Removes file extent coverage of `[start, end)` from `ino` in tree
/// `root` (C: `btrfs_drop_extents`): items inside the range are deleted
/// (dropping their data reference), items straddling an edge are trimmed,
/// and an item spanning the whole range is split in two (adding a
/// reference with the same identity). An inline extent can only be
/// deleted whole or, uncompressed, cut at its end (`EOPNOTSUPP`
/// otherwise: the caller rewrites a compressed one uncompressed first, see
/// [`read_inline_extent`]); a regular or prealloc extent can only be cut
/// at sector-aligned offsets (`EINVAL`). A compressed regular extent is
/// cut like any other: only `offset` and `num_bytes` change, the disk
/// extent (read and freed whole) and `ram_bytes` stay.
///
/// Returns the bytes removed from the inode's `nbytes` accounting, which
/// the caller applies (the inode item is not changed here).
pub fn drop_extents<S: TreeSource>(t: &mut Trans<'_, S>, root: u64, ino: u64, start: u64, end: u64) -> Result<u64> {
    let ss = u64::from(t.fs.geo.sectorsize).max(1);
    let mut removed = 0u64;
    let mut cursor = start;
    while cursor < end {
        let Some(fe) = find_extent_trans(t, root, ino, cursor)? else { break };
        let off = fe.file_offset;
        if off >= end {
            break;
        }
        let fe_end = fe.end()?;
        let key = extent_key(ino, off);
        match fe.kind {
            ExtentKind::Inline { ram_bytes, compression: c, .. } => {
                if end < fe_end {
                    return Err(EOPNOTSUPP);
                }
                if start <= off {
                    delete_item(t, root, &key)?;
                    removed += ram_bytes;
                } else {
                    if c != compression::NONE {
                        return Err(EOPNOTSUPP);
                    }
                    truncate_inline(t, root, ino, start - off)?;
                    removed += fe_end - start;
                }
            }
            ExtentKind::Regular(re) => {
                let has_disk = re.disk_bytenr != 0;
                let cut_front = start > off;
                let cut_back = end < fe_end;
                if (cut_front && !aligned(start, ss)) || (cut_back && !aligned(end, ss)) {
                    return Err(EINVAL);
                }
                let ident = RefKind::Data { root, owner: ino, offset: off.wrapping_sub(re.offset) };
                // What is kept before `start` and after `end` (meaningful
                // when the range cuts there).
                let head = RegularExtent { num_bytes: start.wrapping_sub(off), ..re };
                let tail = RegularExtent {
                    offset: re.offset.wrapping_add(end.wrapping_sub(off)),
                    num_bytes: fe_end.wrapping_sub(end),
                    ..re
                };
                if cut_back && tail.offset < re.offset {
                    return Err(EUCLEAN);
                }
                match (cut_front, cut_back) {
                    (true, true) => {
                        // |--- extent ---| becomes |head| (dropped) |tail|.
                        rewrite_regular(t, root, &key, &head)?;
                        t.with_root(root, |t, rn| insert_item(t, rn, &extent_key(ino, end), &tail.encode()))?;
                        if has_disk {
                            t.data_ref(re.disk_bytenr, re.disk_num_bytes, ident, 1, false)?;
                            removed += end - start;
                        }
                    }
                    (false, true) => {
                        // The front goes: the item moves to `end`.
                        t.with_root(root, |t, rn| {
                            let mut p = WPath::new();
                            if !search_slot(t, rn, &key, &mut p, 0, true)? {
                                return Err(EUCLEAN);
                            }
                            set_item_key(t, &p, &extent_key(ino, end))?;
                            let mut m = FileExtentItemMut::new(item_data_mut(t, &p)?).ok_or(EUCLEAN)?;
                            tail.write_to(&mut m);
                            Ok(())
                        })?;
                        if has_disk {
                            removed += end - off;
                        }
                    }
                    (true, false) => {
                        rewrite_regular(t, root, &key, &head)?;
                        if has_disk {
                            removed += fe_end - start;
                        }
                    }
                    (false, false) => {
                        delete_item(t, root, &key)?;
                        if has_disk {
                            t.data_ref(re.disk_bytenr, re.disk_num_bytes, ident, -1, false)?;
                            removed += re.num_bytes;
                        }
                    }
                }
            }
        }
        if fe_end <= cursor {
            // A zero-length item (deleted above): move on past it.
            cursor = cursor.checked_add(1).ok_or(EUCLEAN)?;
        } else {
            cursor = fe_end;
        }
    }
    Ok(removed)
}

/// Points `[file_offset, file_offset + ext.num_bytes)` of `ino` at
/// `ext` (C: `insert_reserved_file_extent`): drops what covered the range,
/// inserts the EXTENT_DATA item (generation: the running transaction),
/// queues its data reference and adjusts the inode's `nbytes`. `new` says
/// the data extent was allocated in this transaction ([`Trans::alloc_data`])
/// and has no extent item yet; otherwise it exists already (a write into a
/// prealloc extent, a reflink). The caller sets `i_size`.
///
/// Offsets and lengths must be sector aligned, `num_bytes` non-zero,
/// `offset + num_bytes <= ram_bytes`; `disk_bytenr == 0` inserts an
/// explicit hole (not prealloc).
pub fn insert_file_extent<S: TreeSource>(
    t: &mut Trans<'_, S>,
    root: u64,
    ino: u64,
    file_offset: u64,
    ext: &RegularExtent,
    new: bool,
) -> Result {
    let ss = u64::from(t.fs.geo.sectorsize).max(1);
    let e = RegularExtent { generation: t.fs.transid(), ..*ext };
    if e.num_bytes == 0
        || [file_offset, e.num_bytes, e.offset, e.disk_bytenr, e.disk_num_bytes].iter().any(|&v| !aligned(v, ss))
        || e.offset.checked_add(e.num_bytes).map_or(true, |x| x > e.ram_bytes)
        || (e.disk_bytenr == 0 && (e.prealloc || new))
        || (e.disk_bytenr != 0 && e.disk_num_bytes == 0)
    {
        return Err(EINVAL);
    }
    let end = file_offset.checked_add(e.num_bytes).ok_or(EINVAL)?;
    let dropped = drop_extents(t, root, ino, file_offset, end)?;
    t.with_root(root, |t, rn| insert_item(t, rn, &extent_key(ino, file_offset), &e.encode()))?;
    let mut added = 0;
    if e.disk_bytenr != 0 {
        let ident = RefKind::Data { root, owner: ino, offset: file_offset.wrapping_sub(e.offset) };
        t.data_ref(e.disk_bytenr, e.disk_num_bytes, ident, 1, new)?;
        added = e.num_bytes;
    }
    adjust_nbytes(t, root, ino, added, dropped)
}

/// Makes `data` the inline extent of `ino` at file offset 0 (uncompressed):
/// drops what covered the first sector and adjusts `nbytes`. `data` must be
/// non-empty and below a sector ([`max_inline_size`] without the
/// `max_inline` limit, which is the caller's policy for file data; symlink
/// targets go up to this), else `EINVAL`. The caller sets `i_size` (btrfs inlines only
/// when the whole file fits).
pub fn insert_inline_extent<S: TreeSource>(t: &mut Trans<'_, S>, root: u64, ino: u64, data: &[u8]) -> Result {
    let geo = t.fs.geo;
    if data.is_empty() || data.len() > max_inline_size(geo.nodesize, geo.sectorsize, u32::MAX) {
        return Err(EINVAL);
    }
    let dropped = drop_extents(t, root, ino, 0, u64::from(geo.sectorsize))?;
    let mut item = Vec::new();
    item.resize(inline_extent_size(data.len()), 0u8)?;
    encode_inline_extent(&mut item, t.fs.transid(), data.len() as u64, compression::NONE, data)?;
    t.with_root(root, |t, rn| insert_item(t, rn, &extent_key(ino, 0), &item))?;
    adjust_nbytes(t, root, ino, data.len() as u64, dropped)
}

/// Sets the size of `ino` to `new_size` (C: `btrfs_truncate_inode_items`
/// and `btrfs_setsize`): shrinking drops every extent from the first
/// sector boundary at or after `new_size` and cuts an inline extent at
/// `new_size`; growing only changes the size (NO_HOLES). `nbytes` follows.
///
/// Bytes past `new_size` in its sector stay in their extent: when that
/// sector is in a regular extent and `new_size` is not aligned, the caller
/// first rewrites the sector with zeroes past `new_size`, so that growing
/// the file later reads zeroes there.
pub fn truncate<S: TreeSource>(t: &mut Trans<'_, S>, root: u64, ino: u64, new_size: u64) -> Result {
    let isize = read_inode_trans(t, root, ino)?.size;
    truncate_from(t, root, ino, isize, new_size)
}

/// [`truncate`] from a size the caller knows (the in-core `i_size` before
/// the change): the item's size may lag behind it, or have been written
/// with the new size already by a concurrent inode write-back.
pub fn truncate_from<S: TreeSource>(t: &mut Trans<'_, S>, root: u64, ino: u64, isize: u64, new_size: u64) -> Result {
    let ss = u64::from(t.fs.geo.sectorsize).max(1);
    let mut removed = 0;
    if new_size < isize {
        let from = align_up(new_size, ss)?;
        removed += drop_extents(t, root, ino, from, u64::MAX)?;
        if new_size < from {
            if let Some(fe) = find_extent_trans(t, root, ino, new_size)? {
                if matches!(fe.kind, ExtentKind::Inline { .. }) && fe.end()? > new_size {
                    removed += drop_extents(t, root, ino, new_size, from)?;
                }
            }
        }
    }
    update_inode(t, root, ino, |f| {
        f.size = new_size;
        f.nbytes = f.nbytes.checked_sub(removed).ok_or(EUCLEAN)?;
        Ok(())
    })
}

/// Punches a hole in `[start, start + len)` of `ino` (C: `btrfs_punch_hole`
/// without the page cache part): the whole sectors inside the range lose
/// their extents; inline data in the range is zeroed, or cut when the
/// range reaches its end. `i_size` is unchanged, `nbytes` follows.
///
/// Partial sectors at unaligned edges of a regular extent are left alone:
/// the caller zeroes them by rewriting the sector.
pub fn punch_hole<S: TreeSource>(t: &mut Trans<'_, S>, root: u64, ino: u64, start: u64, len: u64) -> Result {
    let ss = u64::from(t.fs.geo.sectorsize).max(1);
    let end = start.checked_add(len).ok_or(EINVAL)?;
    if len == 0 {
        return Ok(());
    }
    let mut removed = 0;
    if let Some(fe) = find_extent_trans(t, root, ino, start)? {
        if let ExtentKind::Inline { compression: c, .. } = fe.kind {
            let fe_end = fe.end()?;
            if start < fe_end {
                if end < fe_end {
                    if c != compression::NONE {
                        return Err(EOPNOTSUPP);
                    }
                    return zero_inline(t, root, ino, start, end);
                }
                removed += drop_extents(t, root, ino, start, fe_end)?;
            }
        }
    }
    let (a, b) = (align_up(start, ss)?, end / ss * ss);
    if a < b {
        removed += drop_extents(t, root, ino, a, b)?;
    }
    if removed == 0 {
        return Ok(());
    }
    adjust_nbytes(t, root, ino, 0, removed)
}

/// Zeroes bytes `[start, end)` of the inline extent of `ino`.
fn zero_inline<S: TreeSource>(t: &mut Trans<'_, S>, root: u64, ino: u64, start: u64, end: u64) -> Result {
    t.with_root(root, |t, rn| {
        let mut p = WPath::new();
        if !search_slot(t, rn, &extent_key(ino, 0), &mut p, 0, true)? {
            return Err(EUCLEAN);
        }
        let d = item_data_mut(t, &p)?;
        let (a, b) = (FileExtentHeader::SIZE + start as usize, FileExtentHeader::SIZE + end as usize);
        d.get_mut(a..b).ok_or(EUCLEAN)?.fill(0);
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// Checksums
// ---------------------------------------------------------------------------

fn csum_key(bytenr: u64) -> Key {
    Key::new(objectid::EXTENT_CSUM, key_type::EXTENT_CSUM, bytenr)
}

fn csum_geo<S: TreeSource>(t: &Trans<'_, S>) -> (u64, usize, usize) {
    let g = t.fs.geo;
    let cs = g.csum_type.size();
    (u64::from(g.sectorsize), cs, max_csums_per_item(g.nodesize, cs))
}

/// The data of the checksum item at `start`, copied out.
fn csum_item_data<S: TreeSource>(t: &Trans<'_, S>, start: u64) -> Result<Vec<u8>> {
    let rn = cur_root(t, objectid::CSUM_TREE)?;
    let ov = Overlay { dirty: &t.fs.dirty, src: t.src };
    let mut p = Path::new();
    if !p.search(&ov, rn.bytenr, rn.level, rn.generation, &csum_key(start)).map_err(read_err)? {
        return Err(EUCLEAN);
    }
    let item = p.item()?.ok_or(EUCLEAN)?;
    let mut v = Vec::new();
    v.extend_from_slice(item.data)?;
    Ok(v)
}

/// Records the checksums of the sectors from `bytenr` on (C:
/// `btrfs_csum_file_blocks`): `csums` holds one checksum (of the
/// superblock's type) per sector, packed. Extends the item ending at
/// `bytenr` when it has room, overwrites checksums already present, and
/// inserts new items otherwise, none above [`max_csums_per_item`]. A
/// caller that then gives the extent back unreferenced
/// ([`Trans::free_unused_data`]) deletes them first with [`del_csums`].
pub fn insert_csums<S: TreeSource>(t: &mut Trans<'_, S>, bytenr: u64, csums: &[u8]) -> Result {
    let (ss, cs, max) = csum_geo(t);
    if !aligned(bytenr, ss) || csums.len() % cs != 0 || max == 0 {
        return Err(EINVAL);
    }
    let n = csums.len() / cs;
    n.checked_mul(ss as usize).and_then(|l| bytenr.checked_add(l as u64)).ok_or(EINVAL)?;
    let mut done = 0usize;
    while done < n {
        let pos = bytenr + done as u64 * ss;
        let rn = cur_root(t, objectid::CSUM_TREE)?;
        let (before, after) = {
            let ov = Overlay { dirty: &t.fs.dirty, src: t.src };
            (csum_item_at_or_before(&ov, &rn, pos, cs)?, csum_item_after(&ov, &rn, pos)?)
        };
        if let Some((start, cnt)) = before {
            let item_end = start.checked_add(cnt as u64 * ss).ok_or(EUCLEAN)?;
            if item_end > pos {
                // Already covered: overwrite in place.
                let idx = ((pos - start) / ss) as usize;
                let take = (cnt - idx).min(n - done);
                let src = &csums[done * cs..(done + take) * cs];
                t.with_root(objectid::CSUM_TREE, |t, rn| {
                    let mut p = WPath::new();
                    if !search_slot(t, rn, &csum_key(start), &mut p, 0, true)? {
                        return Err(EUCLEAN);
                    }
                    let d = item_data_mut(t, &p)?;
                    let dst = d.get_mut(idx * cs..(idx + take) * cs).ok_or(EUCLEAN)?;
                    // Equal lengths, checked so the copy cannot panic.
                    if dst.len() != src.len() {
                        return Err(EUCLEAN);
                    }
                    dst.copy_from_slice(src);
                    Ok(())
                })?;
                done += take;
                continue;
            }
            if item_end == pos && cnt < max {
                // Extend the item ending here.
                let room = after.map_or(u64::MAX, |a| (a - pos) / ss) as usize;
                let take = (max - cnt).min(n - done).min(room);
                if take > 0 {
                    let src = &csums[done * cs..(done + take) * cs];
                    t.with_root(objectid::CSUM_TREE, |t, rn| {
                        let mut p = WPath::new();
                        let extra = src.len() as u32;
                        if !search_slot(t, rn, &csum_key(start), &mut p, extra as i32, true)? {
                            return Err(EUCLEAN);
                        }
                        extend_item(t, &p, extra)?;
                        let d = item_data_mut(t, &p)?;
                        let at = d.len() - src.len();
                        d[at..].copy_from_slice(src);
                        Ok(())
                    })?;
                    done += take;
                    continue;
                }
            }
        }
        let room = after.map_or(u64::MAX, |a| (a - pos) / ss) as usize;
        let take = max.min(n - done).min(room);
        if take == 0 {
            return Err(EUCLEAN);
        }
        let data = &csums[done * cs..(done + take) * cs];
        t.with_root(objectid::CSUM_TREE, |t, rn| insert_item(t, rn, &csum_key(pos), data))?;
        done += take;
    }
    Ok(())
}

/// Deletes the checksums of `[bytenr, bytenr + len)` (C:
/// `btrfs_del_csums`): items inside are deleted, items straddling an edge
/// trimmed, an item spanning the range split. For a data extent being
/// freed: `del_csums(t, extent bytenr, extent length)`.
pub fn del_csums<S: TreeSource>(t: &mut Trans<'_, S>, bytenr: u64, len: u64) -> Result {
    let (ss, cs, _) = csum_geo(t);
    let end = bytenr.checked_add(len).ok_or(EINVAL)?;
    if len == 0 {
        return Ok(());
    }
    if !aligned(bytenr, ss) || !aligned(len, ss) {
        return Err(EINVAL);
    }
    loop {
        let rn = cur_root(t, objectid::CSUM_TREE)?;
        let found = {
            let ov = Overlay { dirty: &t.fs.dirty, src: t.src };
            csum_item_at_or_before(&ov, &rn, end - 1, cs)?
        };
        let Some((start, cnt)) = found else { break };
        let item_end = start.checked_add(cnt as u64 * ss).ok_or(EUCLEAN)?;
        if item_end <= bytenr {
            break;
        }
        let key = csum_key(start);
        if start >= bytenr {
            if item_end <= end {
                delete_item(t, objectid::CSUM_TREE, &key)?;
            } else {
                // Keep the tail past `end`: the item moves to `end`.
                let keep = u32::try_from(((item_end - end) / ss) as usize * cs).map_err(|_| EUCLEAN)?;
                t.with_root(objectid::CSUM_TREE, |t, rn| {
                    let mut p = WPath::new();
                    if !search_slot(t, rn, &key, &mut p, 0, true)? {
                        return Err(EUCLEAN);
                    }
                    truncate_item(t, &p, keep, false)?;
                    set_item_key(t, &p, &csum_key(end))
                })?;
            }
        } else {
            let keep = u32::try_from(((bytenr - start) / ss) as usize * cs).map_err(|_| EUCLEAN)?;
            let tail = if item_end > end {
                let data = csum_item_data(t, start)?;
                let skip = ((end - start) / ss) as usize * cs;
                let mut v = Vec::new();
                v.extend_from_slice(data.get(skip..).ok_or(EUCLEAN)?)?;
                Some(v)
            } else {
                None
            };
            t.with_root(objectid::CSUM_TREE, |t, rn| {
                let mut p = WPath::new();
                if !search_slot(t, rn, &key, &mut p, 0, true)? {
                    return Err(EUCLEAN);
                }
                truncate_item(t, &p, keep, true)
            })?;
            if let Some(tail) = tail {
                t.with_root(objectid::CSUM_TREE, |t, rn| insert_item(t, rn, &csum_key(end), &tail))?;
            }
        }
        if start <= bytenr {
            break;
        }
    }
    Ok(())
}
