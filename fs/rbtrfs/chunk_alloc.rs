// SPDX-License-Identifier: GPL-2.0

//! Allocating new chunks (C: `btrfs_create_chunk` in `volumes.c` and
//! `btrfs_make_block_group` in `block-group.c`).
//!
//! When a block group type runs short, a new chunk is cut from the
//! device's unallocated space: a hole between DEV_EXTENT items of the
//! device tree, one stripe for SINGLE, two in the same hole for DUP (the
//! profile follows the existing chunks of the type). Then, in the running
//! transaction:
//! - the chunk tree gets the CHUNK_ITEM, and its DEV_ITEM (and the copy in
//!   the superblock) the new `bytes_used`;
//! - a SYSTEM chunk is also appended to the superblock's sys_chunk_array,
//!   which is how the next mount finds the chunk tree;
//! - the device tree gets one DEV_EXTENT per stripe;
//! - the extent tree a BLOCK_GROUP_ITEM, the free space tree a
//!   FREE_SPACE_INFO and the free ranges.
//!
//! The chunk and its free space are in memory before any tree changes, so
//! the tree changes themselves may already allocate from it. The 64 KiB
//! around a superblock mirror that falls inside the chunk is never
//! allocated (C: `exclude_super_stripes`), though the free space tree, as
//! C btrfs and mkfs write it, counts it free.

#![forbid(unsafe_code)]

use crate::block_group::{BlockGroup, FreeSpace};
use crate::ctree::{key_type, objectid, Key, Path, TreeSource};
use crate::ctree_write::{insert_item, item_data_mut, search_slot, WPath};
use crate::dir_item::read_err;
use crate::error::{Result, ENOSPC, EUCLEAN};
use crate::extent_io::{Overlay, TreeCtx};
use crate::format::{self, DevItemMut, SuperBlock, SuperBlockMut};
use crate::free_space_tree;
use crate::items::{BlockGroupItemMut, DevExtentMut};
use crate::mem::Vec;
use crate::transaction::Trans;
use crate::volumes::{block_group as bg_flags, ChunkItem, ChunkMut, StripeMut, STRIPE_LEN};

const MIB: u64 = 1 << 20;
/// Nothing is allocated in the first MiB of a device (boot loaders, the
/// primary superblock).
const DEV_START: u64 = MIB;

/// The logical ranges of chunk `(logical, length)` with stripes at
/// `physical` that hold a superblock mirror (64 KiB each).
pub(crate) fn super_stripes(
    logical: u64,
    length: u64,
    physical: &[u64],
    dev_size: u64,
    out: &mut Vec<(u64, u64)>,
) -> Result {
    for off in format::SUPER_MIRROR_OFFSETS {
        if off >= dev_size {
            continue;
        }
        for &p in physical {
            if off >= p && off - p < length {
                let start = logical + (off - p) / STRIPE_LEN * STRIPE_LEN;
                out.push((start, STRIPE_LEN.min(logical + length - start)))?;
            }
        }
    }
    Ok(())
}

/// Free ranges of device 1 at least `need` bytes long: the first one.
fn find_dev_hole<S: TreeSource>(t: &Trans<'_, S>, devid: u64, dev_size: u64, need: u64) -> Result<Option<(u64, u64)>> {
    let root = t.fs.root(objectid::DEV_TREE).ok_or(EUCLEAN)?;
    let ov = Overlay { dirty: TreeCtx::dirty(t), src: TreeCtx::src(t) };
    let mut p = Path::new();
    p.search(&ov, root.bytenr, root.level, root.generation, &Key::new(devid, key_type::DEV_EXTENT, 0))
        .map_err(read_err)?;
    let mut pos = DEV_START;
    let mut best: Option<(u64, u64)> = None;
    let consider = |best: &mut Option<(u64, u64)>, start: u64, end: u64| {
        if end > start && best.map_or(true, |b| end - start > b.1) {
            *best = Some((start, end - start));
        }
    };
    while let Some(item) = p.item()? {
        let k = item.key;
        if k.objectid != devid || k.ty != key_type::DEV_EXTENT {
            break;
        }
        let len = crate::items::DevExtent::new(item.data).ok_or(EUCLEAN)?.length();
        consider(&mut best, pos, k.offset);
        if best.is_some_and(|b| b.1 >= need) {
            return Ok(best);
        }
        pos = pos.max(k.offset + len);
        if !p.next_item(&ov).map_err(read_err)? {
            break;
        }
    }
    consider(&mut best, pos, dev_size);
    Ok(best)
}

/// The profile new chunks of type `ty` get: that of the existing ones.
fn profile_of(chunks: &[crate::volumes::ChunkInfo], ty: u64) -> u64 {
    chunks
        .iter()
        .find(|c| c.type_flags & bg_flags::TYPE_MASK == ty)
        .map_or(if ty == bg_flags::DATA { 0 } else { bg_flags::DUP }, |c| c.type_flags & bg_flags::PROFILE_MASK)
}

/// Adds a chunk of type `ty` (a [`crate::volumes::block_group`] type bit)
/// to the filesystem in the running transaction. ENOSPC when the device
/// has no room. Returns the chunk's logical start.
pub fn alloc_chunk<S: TreeSource>(t: &mut Trans<'_, S>, ty: u64) -> Result<u64> {
    let (devid, dev_size, dev_used, dev_uuid) = {
        let s = SuperBlock::new(&t.fs.sb).ok_or(EUCLEAN)?;
        let d = s.dev_item();
        (d.devid(), d.total_bytes(), d.bytes_used(), *d.uuid())
    };
    let profile = profile_of(&t.fs.chunks, ty);
    let copies: u64 = if profile == bg_flags::DUP { 2 } else { 1 };
    let cap = match ty {
        bg_flags::DATA => 1024 * MIB,
        bg_flags::METADATA => 256 * MIB,
        _ => 32 * MIB,
    };
    // A tenth of the device, as btrfs does for small filesystems.
    let want = (dev_size / 10 / MIB * MIB).clamp(8 * MIB, cap);
    let (hole, hole_len) = find_dev_hole(t, devid, dev_size, want * copies)?.ok_or(ENOSPC)?;
    // Data leaves the last of the device to metadata chunks.
    let room = if ty == bg_flags::DATA {
        hole_len.min(dev_size.saturating_sub(dev_used).saturating_sub(crate::transaction::METADATA_KEEP))
    } else {
        hole_len
    };
    let stripe = (room / copies).min(want) / MIB * MIB;
    if stripe < 4 * MIB {
        return Err(ENOSPC);
    }
    let flags = ty | profile;
    let logical = t.fs.chunks.iter().map(|c| c.logical + c.length).max().unwrap_or(0).max(DEV_START);
    let physical: [u64; 2] = [hole, hole + stripe];
    let physical = &physical[..copies as usize];
    let transid = t.fs.transid();
    let sectorsize = t.fs.geo.sectorsize;

    // The chunk item.
    let mut item = Vec::new();
    item.resize(ChunkItem::item_size(copies as usize), 0u8)?;
    {
        let (head, stripes) = item.split_at_mut(48);
        let mut c = ChunkMut::new(head).ok_or(EUCLEAN)?;
        c.set_length(stripe);
        c.set_owner(objectid::EXTENT_TREE);
        c.set_stripe_len(STRIPE_LEN);
        c.set_type_flags(flags);
        c.set_io_align(STRIPE_LEN as u32);
        c.set_io_width(STRIPE_LEN as u32);
        c.set_sector_size(sectorsize);
        c.set_num_stripes(copies as u16);
        c.set_sub_stripes(1);
        for (i, p) in physical.iter().enumerate() {
            let mut s = StripeMut::new(&mut stripes[i * 32..]).ok_or(EUCLEAN)?;
            s.set_devid(devid);
            s.set_offset(*p);
            s.set_dev_uuid(&dev_uuid);
        }
    }
    let info = ChunkItem::parse(&item).map_err(|_| EUCLEAN)?.info(logical);

    // In memory first: the mapping and the free space.
    let mut excluded = Vec::new();
    super_stripes(logical, stripe, physical, dev_size, &mut excluded)?;
    let mut free = FreeSpace::new();
    free.add(logical, stripe)?;
    for &(s, l) in excluded.iter() {
        if free.contains(s, l) {
            free.remove(s, l)?;
        }
    }
    let i = t.fs.chunks.partition_point(|c| c.logical < logical);
    t.fs.chunks.insert(i, info)?;
    let mut bg = BlockGroup::new(logical, stripe, flags, 0, objectid::FIRST_CHUNK_TREE);
    for &r in free.ranges() {
        bg.free.add(r.0, r.1)?;
    }
    t.fs.bgs.insert(bg)?;

    // The chunk tree: the chunk, and the device's bytes_used.
    let chunk_key = Key::new(objectid::FIRST_CHUNK_TREE, key_type::CHUNK_ITEM, logical);
    t.with_root(objectid::CHUNK_TREE, |t, r| insert_item(t, r, &chunk_key, &item))?;
    let added = stripe * copies;
    t.with_root(objectid::CHUNK_TREE, |t, r| {
        let mut p = WPath::new();
        if !search_slot(t, r, &Key::new(objectid::DEV_ITEMS, key_type::DEV_ITEM, devid), &mut p, 0, true)? {
            return Err(EUCLEAN);
        }
        let mut d = DevItemMut::new(item_data_mut(t, &p)?).ok_or(EUCLEAN)?;
        let used = d.bytes_used();
        d.set_bytes_used(used + added);
        d.set_generation(transid);
        Ok(())
    })?;
    {
        let mut s = SuperBlockMut::new(&mut t.fs.sb).ok_or(EUCLEAN)?;
        let mut d = s.dev_item_mut();
        let used = d.bytes_used();
        d.set_bytes_used(used + added);
        if ty == bg_flags::SYSTEM {
            let at = s.sys_chunk_array_size() as usize;
            let n = 17 + item.len();
            if at + n > format::SYSTEM_CHUNK_ARRAY_SIZE {
                return Err(ENOSPC);
            }
            let arr = s.sys_chunk_array_mut();
            arr[at..at + 17].copy_from_slice(&chunk_key.to_disk());
            arr[at + 17..at + n].copy_from_slice(&item);
            s.set_sys_chunk_array_size((at + n) as u32);
        }
    }
    // The device tree: one extent per stripe.
    let chunk_tree_uuid = t.fs.geo.chunk_tree_uuid;
    for p in physical {
        let mut de = [0u8; 48];
        {
            let mut m = DevExtentMut::new(&mut de).ok_or(EUCLEAN)?;
            m.set_chunk_tree(objectid::CHUNK_TREE);
            m.set_chunk_objectid(objectid::FIRST_CHUNK_TREE);
            m.set_chunk_offset(logical);
            m.set_length(stripe);
            m.set_chunk_tree_uuid(&chunk_tree_uuid);
        }
        let k = Key::new(devid, key_type::DEV_EXTENT, *p);
        t.with_root(objectid::DEV_TREE, |t, r| insert_item(t, r, &k, &de))?;
    }
    // The block group and its free space.
    let mut bgi = [0u8; 24];
    {
        let mut m = BlockGroupItemMut::new(&mut bgi).ok_or(EUCLEAN)?;
        m.set_used(0);
        m.set_chunk_objectid(objectid::FIRST_CHUNK_TREE);
        m.set_flags(flags);
    }
    let bg_key = Key::new(logical, key_type::BLOCK_GROUP_ITEM, stripe);
    t.with_root(objectid::EXTENT_TREE, |t, r| insert_item(t, r, &bg_key, &bgi))?;
    // The free space tree has the whole group free, super stripes
    // included, as C btrfs writes it; only memory leaves them out.
    let mut info_item = [0u8; 8];
    info_item[0..4].copy_from_slice(&1u32.to_le_bytes());
    t.with_root(free_space_tree::TREE, |t, r| {
        insert_item(t, r, &Key::new(logical, key_type::FREE_SPACE_INFO, stripe), &info_item)?;
        insert_item(t, r, &Key::new(logical, key_type::FREE_SPACE_EXTENT, stripe), &[])
    })?;
    Ok(logical)
}
