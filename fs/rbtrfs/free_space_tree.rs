// SPDX-License-Identifier: GPL-2.0

//! The free space tree (C: `free-space-tree.c`).
//!
//! Tree 10 records, for every block group, which of its bytes are free:
//! a FREE_SPACE_INFO item `(bg start, FREE_SPACE_INFO, bg length)` with the
//! number of free extents and a flag for the format, then either
//! FREE_SPACE_EXTENT items `(start, FREE_SPACE_EXTENT, length)`, one per
//! free range, or FREE_SPACE_BITMAP items `(start, FREE_SPACE_BITMAP,
//! length)` whose bits, one per sector, are set where the space is free.
//!
//! [`load`] reads a block group's free space into memory at mount.
//! [`remove_range`] (an extent was allocated) and [`add_range`] (one was
//! freed) keep the tree in step when delayed refs run; both formats are
//! updated in place, and `extent_count` stays the number of free runs.
//! Converting between the formats as a group fragments is not done yet: a
//! group stays in the format it has.

#![forbid(unsafe_code)]

use crate::block_group::BlockGroup;
use crate::ctree::{key_type, objectid, Key, Path, SearchError, TreeSource};
use crate::ctree_write::{del_items, insert_item, item_data_mut, search_slot, WPath};
use crate::error::{Result, EIO, EUCLEAN};
use crate::extent_io::{Overlay, RootNode, TreeCtx};
use crate::items::{FreeSpaceInfo, FREE_SPACE_USING_BITMAPS};

/// The free space tree's objectid.
pub const TREE: u64 = objectid::FREE_SPACE_TREE;

fn read_err<E>(e: SearchError<E>) -> crate::error::Errno {
    match e {
        SearchError::Read(_) => EIO,
        SearchError::Tree(_) => EUCLEAN,
    }
}

/// Calls `f(start, len)` for every run of set bits in `bitmap`, whose bit
/// `i` stands for `[base + i * unit, base + (i + 1) * unit)`.
pub fn bitmap_runs(bitmap: &[u8], base: u64, unit: u64, nbits: u64, mut f: impl FnMut(u64, u64) -> Result) -> Result {
    let bit = |i: u64| bitmap.get((i / 8) as usize).is_some_and(|b| b & (1 << (i % 8)) != 0);
    let mut i = 0;
    while i < nbits {
        if !bit(i) {
            i += 1;
            continue;
        }
        let s = i;
        while i < nbits && bit(i) {
            i += 1;
        }
        f(base + s * unit, (i - s) * unit)?;
    }
    Ok(())
}

/// Reads block group `bg`'s free space from the tree rooted at `root`
/// into `bg.free`.
pub fn load<S: TreeSource>(src: &S, root: &RootNode, bg: &mut BlockGroup, sectorsize: u32) -> Result {
    let mut p = Path::new();
    let info_key = Key::new(bg.start, key_type::FREE_SPACE_INFO, bg.length);
    if !p.search(src, root.bytenr, root.level, root.generation, &info_key).map_err(read_err)? {
        return Err(EUCLEAN);
    }
    let end = bg.start.saturating_add(bg.length);
    while p.next_item(src).map_err(read_err)? {
        let Some(item) = p.item()? else { break };
        let k = item.key;
        if k.objectid >= end {
            break;
        }
        let inside = k.objectid >= bg.start && k.offset <= end - k.objectid;
        match k.ty {
            key_type::FREE_SPACE_EXTENT if inside => bg.free.add(k.objectid, k.offset)?,
            key_type::FREE_SPACE_BITMAP if inside => {
                let unit = u64::from(sectorsize).max(1);
                let free = &mut bg.free;
                bitmap_runs(item.data, k.objectid, unit, k.offset / unit, |s, l| free.add(s, l))?;
            }
            _ => return Err(EUCLEAN),
        }
    }
    Ok(())
}

/// The block group's FREE_SPACE_INFO: (extent count, flags).
fn info<C: TreeCtx>(ctx: &C, root: &RootNode, bg_start: u64, bg_len: u64) -> Result<(u32, u32)> {
    let ov = Overlay { dirty: ctx.dirty(), src: ctx.src() };
    let mut p = Path::new();
    let key = Key::new(bg_start, key_type::FREE_SPACE_INFO, bg_len);
    if !p.search(&ov, root.bytenr, root.level, root.generation, &key).map_err(read_err)? {
        return Err(EUCLEAN);
    }
    let item = p.item()?.ok_or(EUCLEAN)?;
    let i = FreeSpaceInfo::new(item.data).ok_or(EUCLEAN)?;
    Ok((i.extent_count(), i.flags()))
}

/// Adds `delta` to the block group's free extent count.
fn adjust_count<C: TreeCtx>(ctx: &mut C, root: &mut RootNode, bg_start: u64, bg_len: u64, delta: i64) -> Result {
    if delta == 0 {
        return Ok(());
    }
    let mut p = WPath::new();
    let key = Key::new(bg_start, key_type::FREE_SPACE_INFO, bg_len);
    if !search_slot(ctx, root, &key, &mut p, 0, true)? {
        return Err(EUCLEAN);
    }
    let d = item_data_mut(ctx, &p)?;
    let cur = i64::from(FreeSpaceInfo::new(d).ok_or(EUCLEAN)?.extent_count());
    let new = u32::try_from(cur + delta).map_err(|_| EUCLEAN)?;
    d[0..4].copy_from_slice(&new.to_le_bytes());
    Ok(())
}

/// The free-space item (extent or bitmap) with the greatest key `<=
/// (at, ty, u64::MAX)`, if it is of type `ty`.
fn item_before<C: TreeCtx>(ctx: &C, root: &RootNode, at: u64, ty: u8) -> Result<Option<Key>> {
    let ov = Overlay { dirty: ctx.dirty(), src: ctx.src() };
    let mut p = Path::new();
    p.search(&ov, root.bytenr, root.level, root.generation, &Key::new(at, ty, u64::MAX)).map_err(read_err)?;
    // The path is on the first key > (at, ty, MAX), or past the end.
    let moved = p.prev_item(&ov).map_err(read_err)?;
    if !moved {
        return Ok(None);
    }
    Ok(p.key()?.filter(|k| k.ty == ty && k.objectid <= at))
}

/// The free-space item of type `ty` starting exactly at `at`.
fn item_at<C: TreeCtx>(ctx: &C, root: &RootNode, at: u64, ty: u8) -> Result<Option<Key>> {
    let ov = Overlay { dirty: ctx.dirty(), src: ctx.src() };
    let mut p = Path::new();
    p.search(&ov, root.bytenr, root.level, root.generation, &Key::new(at, ty, 0)).map_err(read_err)?;
    Ok(p.key()?.filter(|k| k.ty == ty && k.objectid == at))
}

fn delete_key<C: TreeCtx>(ctx: &mut C, root: &mut RootNode, key: &Key) -> Result {
    let mut p = WPath::new();
    if !search_slot(ctx, root, key, &mut p, -1, true)? {
        return Err(EUCLEAN);
    }
    del_items(ctx, root, &mut p, 1)
}

fn insert_extent<C: TreeCtx>(ctx: &mut C, root: &mut RootNode, start: u64, len: u64) -> Result {
    if len == 0 {
        return Ok(());
    }
    insert_item(ctx, root, &Key::new(start, key_type::FREE_SPACE_EXTENT, len), &[])
}

/// Marks `[start, start + len)` of block group `bg` allocated.
///
/// `bg` is the block group's (start, length); bitmaps count in `sectorsize` units.
pub fn remove_range<C: TreeCtx>(
    ctx: &mut C,
    root: &mut RootNode,
    bg: (u64, u64),
    start: u64,
    len: u64,
    sectorsize: u32,
) -> Result {
    let (_, flags) = info(ctx, root, bg.0, bg.1)?;
    if flags & FREE_SPACE_USING_BITMAPS != 0 {
        return set_bits(ctx, root, bg, (start, len), u64::from(sectorsize), false);
    }
    let k = item_before(ctx, root, start, key_type::FREE_SPACE_EXTENT)?.ok_or(EUCLEAN)?;
    let end = start + len;
    if k.objectid + k.offset < end {
        return Err(EUCLEAN);
    }
    delete_key(ctx, root, &k)?;
    let left = start - k.objectid;
    let right = k.objectid + k.offset - end;
    insert_extent(ctx, root, k.objectid, left)?;
    insert_extent(ctx, root, end, right)?;
    let pieces = i64::from(left > 0) + i64::from(right > 0);
    adjust_count(ctx, root, bg.0, bg.1, pieces - 1)
}

/// Marks `[start, start + len)` of block group `bg` free.
///
/// `bg` is the block group's (start, length); bitmaps count in `sectorsize` units.
pub fn add_range<C: TreeCtx>(
    ctx: &mut C,
    root: &mut RootNode,
    bg: (u64, u64),
    start: u64,
    len: u64,
    sectorsize: u32,
) -> Result {
    let (_, flags) = info(ctx, root, bg.0, bg.1)?;
    if flags & FREE_SPACE_USING_BITMAPS != 0 {
        return set_bits(ctx, root, bg, (start, len), u64::from(sectorsize), true);
    }
    let end = start + len;
    let (mut s, mut e) = (start, end);
    let mut merged = 0i64;
    if let Some(l) = item_before(ctx, root, start, key_type::FREE_SPACE_EXTENT)? {
        if l.objectid >= bg.0 && l.objectid + l.offset > start {
            return Err(EUCLEAN);
        }
        if l.objectid >= bg.0 && l.objectid + l.offset == start {
            delete_key(ctx, root, &l)?;
            s = l.objectid;
            merged += 1;
        }
    }
    if end < bg.0 + bg.1 {
        if let Some(r) = item_before(ctx, root, end - 1, key_type::FREE_SPACE_EXTENT)? {
            if r.objectid > s && r.objectid < end {
                return Err(EUCLEAN);
            }
        }
        if let Some(r) = item_at(ctx, root, end, key_type::FREE_SPACE_EXTENT)? {
            delete_key(ctx, root, &r)?;
            e = end + r.offset;
            merged += 1;
        }
    }
    insert_extent(ctx, root, s, e - s)?;
    adjust_count(ctx, root, bg.0, bg.1, 1 - merged)
}

/// Whether the sector at `pos` is free in bitmap format (clear outside
/// the block group).
fn bit_at<C: TreeCtx>(ctx: &C, root: &RootNode, bg: (u64, u64), pos: u64, unit: u64) -> Result<bool> {
    let unit = unit.max(1);
    if pos < bg.0 || pos >= bg.0 + bg.1 {
        return Ok(false);
    }
    let ov = Overlay { dirty: ctx.dirty(), src: ctx.src() };
    let mut p = Path::new();
    p.search(&ov, root.bytenr, root.level, root.generation, &Key::new(pos, key_type::FREE_SPACE_BITMAP, u64::MAX))
        .map_err(read_err)?;
    if !p.prev_item(&ov).map_err(read_err)? {
        return Err(EUCLEAN);
    }
    let item = p.item()?.ok_or(EUCLEAN)?;
    let k = item.key;
    if k.ty != key_type::FREE_SPACE_BITMAP || pos < k.objectid || pos - k.objectid >= k.offset {
        return Err(EUCLEAN);
    }
    let i = (pos - k.objectid) / unit;
    let byte = item.data.get((i / 8) as usize).ok_or(EUCLEAN)?;
    Ok(byte & (1 << (i % 8)) != 0)
}

/// Sets (`free`) or clears the bits of `[start, start + len)`, which must
/// all be in the opposite state, and keeps the run count.
fn set_bits<C: TreeCtx>(
    ctx: &mut C,
    root: &mut RootNode,
    bg: (u64, u64),
    (start, len): (u64, u64),
    unit: u64,
    free: bool,
) -> Result {
    let unit = unit.max(1);
    let end = start + len;
    let before = bit_at(ctx, root, bg, start.wrapping_sub(unit), unit)?;
    let after = bit_at(ctx, root, bg, end, unit)?;
    let mut pos = start;
    while pos < end {
        let k = {
            let ov = Overlay { dirty: ctx.dirty(), src: ctx.src() };
            let mut p = Path::new();
            p.search(&ov, root.bytenr, root.level, root.generation, &Key::new(pos, key_type::FREE_SPACE_BITMAP, u64::MAX))
                .map_err(read_err)?;
            if !p.prev_item(&ov).map_err(read_err)? {
                return Err(EUCLEAN);
            }
            p.key()?.ok_or(EUCLEAN)?
        };
        if k.ty != key_type::FREE_SPACE_BITMAP || pos < k.objectid || pos - k.objectid >= k.offset {
            return Err(EUCLEAN);
        }
        let stop = end.min(k.objectid + k.offset);
        let mut p = WPath::new();
        if !search_slot(ctx, root, &k, &mut p, 0, true)? {
            return Err(EUCLEAN);
        }
        let data = item_data_mut(ctx, &p)?;
        while pos < stop {
            let i = (pos - k.objectid) / unit;
            let b = data.get_mut((i / 8) as usize).ok_or(EUCLEAN)?;
            let m = 1u8 << (i % 8);
            if (*b & m != 0) == free {
                return Err(EUCLEAN);
            }
            if free {
                *b |= m;
            } else {
                *b &= !m;
            }
            pos += unit;
        }
    }
    // Setting a run joins the runs on either side; clearing one splits.
    let neighbours = i64::from(before) + i64::from(after);
    let delta = if free { 1 - neighbours } else { neighbours - 1 };
    adjust_count(ctx, root, bg.0, bg.1, delta)
}
