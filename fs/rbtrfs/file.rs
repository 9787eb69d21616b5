// SPDX-License-Identifier: GPL-2.0

//! File data reads (C: `fs/btrfs/extent_io.c`, `file-item.c`).
//!
//! A folio is filled extent by extent: EXTENT_DATA items keyed by file
//! offset give inline data, regular extents (read from disk through the
//! chunk map and verified against the checksum tree, sector by sector),
//! preallocated extents (zeros) or holes (no item, with `no-holes`: zeros).

#![forbid(unsafe_code)]

use crate::ctree::{key_type, objectid, Key, Path};
use crate::disk_io::Reader;
use crate::inode::reader;
use crate::items::{compression, inode_flag, CsumItem, FileExtent, FileExtentBody};
use crate::rfs::folio::LockedFolio;
use crate::rfs::fs::{BlockDevice, SuperBlock};
use crate::rfs::inode::INode;
use crate::super_::Btrfs;
use kernel::prelude::*;

/// Fills a folio of a regular file or symlink (C: `btrfs_read_folio`).
pub(crate) fn read_folio(inode: &INode<Btrfs>, folio: &mut LockedFolio<'_>) -> Result {
    let pos = folio.pos();
    let size = folio.size();
    let isize = inode.size().max(0) as u64;
    let mut off = 0usize;
    while off < size {
        let fpos = pos + off as u64;
        if fpos >= isize {
            folio.zero(off, size - off)?;
            break;
        }
        let want = (size - off).min((isize - fpos) as usize);
        let done = fill(inode, folio, off, fpos, want)?;
        off += done.max(1);
    }
    Ok(())
}

/// Fills up to `want` bytes of the folio at `off` (file offset `fpos`)
/// from the extent covering `fpos`; returns how many bytes were filled.
fn fill(inode: &INode<Btrfs>, folio: &mut LockedFolio<'_>, off: usize, fpos: u64, want: usize) -> Result<usize> {
    let sb = inode.super_block();
    let r = reader(sb);
    let root = inode.data().root;
    let ino = inode.ino();
    let is_extent = |k: &Key| k.objectid == ino && k.ty == key_type::EXTENT_DATA;
    let mut path = Path::new();
    let found = r.search(&root, &Key::new(ino, key_type::EXTENT_DATA, fpos), &mut path)?;
    // Where the next extent starts bounds a hole.
    let mut next_start = u64::MAX;
    if !found {
        if let Some(k) = path.key().map_err(|e| r.tree_err(e))? {
            if is_extent(&k) {
                next_start = k.offset;
            }
        }
        if !r.prev(&mut path)? {
            return zero(folio, off, want, fpos, next_start);
        }
    }
    let Some(item) = path.item().map_err(|e| r.tree_err(e))? else {
        return zero(folio, off, want, fpos, next_start);
    };
    if !is_extent(&item.key) {
        return zero(folio, off, want, fpos, next_start);
    }
    let start = item.key.offset;
    let fe = FileExtent::parse(item.data).map_err(|e| {
        r.tree_err(format_args!("root {} ino {} file extent at {}: {}", root.id, ino, start, e))
    })?;
    if fe.header.compression() != compression::NONE || fe.header.encryption() != 0 {
        btrfs_err_rl!(sb.data().geo.rl, sb.id(), "root {} ino {} off {}: compressed extents are not supported yet",
            root.id, ino, start);
        return Err(EIO);
    }
    match fe.body {
        FileExtentBody::Inline(data) => {
            // Inline data starts at file offset 0; mkfs stores symlink
            // targets with a trailing NUL, so cut at i_size (want).
            let rel = (fpos - start) as usize;
            let avail = data.len().saturating_sub(rel).min(want);
            if avail == 0 {
                return zero(folio, off, want, fpos, next_start);
            }
            folio.write(off, &data[rel..rel + avail])?;
            Ok(avail)
        }
        FileExtentBody::Prealloc(e) | FileExtentBody::Regular(e) => {
            let end = start.saturating_add(e.num_bytes());
            if fpos >= end {
                return zero(folio, off, want, fpos, next_start);
            }
            let len = want.min((end - fpos) as usize);
            if matches!(fe.body, FileExtentBody::Prealloc(_)) || e.disk_bytenr() == 0 {
                folio.zero(off, len)?;
                return Ok(len);
            }
            let logical = e.disk_bytenr() + e.offset() + (fpos - start);
            read_data(sb, &r, inode, folio, off, fpos, logical, len)?;
            Ok(len)
        }
    }
}

/// Zeroes the folio from `off` up to `want` bytes or the next extent.
fn zero(folio: &mut LockedFolio<'_>, off: usize, want: usize, fpos: u64, next_start: u64) -> Result<usize> {
    let len = (want as u64).min(next_start.saturating_sub(fpos)).max(1) as usize;
    let len = len.min(want);
    folio.zero(off, len)?;
    Ok(len)
}

/// Reads `len` bytes of data at `logical` into the folio, verifying each
/// sector's checksum unless the inode has NODATASUM.
#[allow(clippy::too_many_arguments)]
fn read_data(
    sb: &SuperBlock<Btrfs>,
    r: &Reader<'_, SuperBlock<Btrfs>>,
    inode: &INode<Btrfs>,
    folio: &mut LockedFolio<'_>,
    off: usize,
    fpos: u64,
    logical: u64,
    len: usize,
) -> Result {
    let fs = sb.data();
    let ss = fs.geo.sector() as usize;
    let chunk = fs.geo.chunk(logical).ok_or_else(|| {
        btrfs_err!(sb.id(), "data at {} is not in any chunk", logical);
        EIO
    })?;
    let map = chunk.map(logical).map_err(|e| {
        btrfs_err!(sb.id(), "{}", e);
        EIO
    })?;
    if map.len < len as u64 || logical % ss as u64 != 0 {
        btrfs_err!(sb.id(), "data extent at {} is misaligned or crosses its chunk", logical);
        return Err(EIO);
    }
    let phys = map.mirrors().first().ok_or(EIO)?.physical;
    let span = len.div_ceil(ss) * ss;
    let mut buf = KVec::from_elem(0u8, span, GFP_KERNEL)?;
    sb.read_at(phys, &mut buf)?;
    if inode.data().flags & inode_flag::NODATASUM == 0 {
        let csum_type = fs.geo.csum_type;
        let csize = csum_type.size();
        for (i, sector) in buf.chunks(ss).enumerate() {
            let at = logical + (i * ss) as u64;
            let expected = lookup_csum(r, at)?;
            let mut got = [0u8; 32];
            csum_type.compute(sector, &mut got);
            match expected {
                Some(want) if want[..csize] == got[..csize] => {}
                Some(want) => {
                    btrfs_warn_rl!(fs.geo.rl, sb.id(),
                        "csum failed root {} ino {} off {} csum 0x{} expected csum 0x{} mirror 1",
                        inode.data().root.id, inode.ino(), fpos + (i * ss) as u64,
                        Hex(&got[..csize]), Hex(&want[..csize]));
                    return Err(EIO);
                }
                None => {
                    btrfs_warn_rl!(fs.geo.rl, sb.id(), "no csum found for root {} ino {} off {} (logical {})",
                        inode.data().root.id, inode.ino(), fpos + (i * ss) as u64, at);
                    return Err(EIO);
                }
            }
        }
    }
    folio.write(off, &buf[..len])
}

/// The stored checksum of the data sector at `logical`, if any.
fn lookup_csum(r: &Reader<'_, SuperBlock<Btrfs>>, logical: u64) -> Result<Option<[u8; 32]>> {
    let fs = r.geo;
    let Some(csum_root) = r.dev.data().csum_root else {
        return Ok(None);
    };
    let key = Key::new(objectid::EXTENT_CSUM, key_type::EXTENT_CSUM, logical);
    let mut path = Path::new();
    if !r.search(&csum_root, &key, &mut path)? && !r.prev(&mut path)? {
        return Ok(None);
    }
    let Some(item) = path.item().map_err(|e| r.tree_err(e))? else {
        return Ok(None);
    };
    if item.key.objectid != objectid::EXTENT_CSUM || item.key.ty != key_type::EXTENT_CSUM || item.key.offset > logical {
        return Ok(None);
    }
    let csums = CsumItem::new(item.data, fs.csum_type.size()).map_err(|e| r.tree_err(e))?;
    let idx = ((logical - item.key.offset) / fs.sector()) as usize;
    Ok(csums.get(idx).map(|c| {
        let mut out = [0u8; 32];
        out[..c.len()].copy_from_slice(c);
        out
    }))
}

/// Bytes as hex, in memory order (C's `%*phN`).
struct Hex<'a>(&'a [u8]);

impl core::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.0 {
            write!(f, "{:02x}", b)?;
        }
        Ok(())
    }
}
