// SPDX-License-Identifier: GPL-2.0

//! Extent items and their backrefs (C: `extent-tree.c`).
//!
//! Every allocated extent has an item in the extent tree (tree 2):
//! - a tree block, with skinny metadata (mkfs's default), has
//!   `(bytenr, METADATA_ITEM, level)` holding refs, generation, flags
//!   `TREE_BLOCK` and an inline TREE_BLOCK_REF naming the owning tree;
//! - a data extent has `(bytenr, EXTENT_ITEM, length)` with flags `DATA`
//!   and one inline EXTENT_DATA_REF (root, inode, offset, count) per file
//!   position that references it, or keyed `(bytenr, EXTENT_DATA_REF,
//!   hash)` items once references are added to an existing extent.
//!
//! [`run_delayed_refs`] applies the queued [`DelayedRef`]s: it creates
//! items for new extents, adjusts backrefs, and deletes the items of
//! extents whose last reference went. Creating and deleting also update
//! the free space tree and the block group's `used`, and a deleted
//! extent's space is pinned until commit. Each of these changes trees,
//! which queues more refs, so it runs until the queue is empty.
//!
//! Not yet: blocks shared between trees (snapshots: SHARED_* refs and
//! FULL_BACKREF), and non-skinny metadata.

#![forbid(unsafe_code)]

use crate::ctree::{key_type, Key, Path, TreeSource};
use crate::ctree_write::{del_items, insert_item, item_data, item_data_mut, search_slot, truncate_item, WPath};
use crate::delayed_ref::{DelayedRef, NewExtent, RefKind};
use crate::error::{Result, EOPNOTSUPP, EUCLEAN};
use crate::extent_io::{Overlay, TreeCtx};
use crate::free_space_tree;
use crate::items_write::hash_extent_data_ref;
use crate::mem::Vec;
use crate::transaction::Trans;

/// `BTRFS_EXTENT_FLAG_DATA`.
pub const FLAG_DATA: u64 = 1;
/// `BTRFS_EXTENT_FLAG_TREE_BLOCK`.
pub const FLAG_TREE_BLOCK: u64 = 2;
/// Bytes of `struct btrfs_extent_item`.
const EXTENT_ITEM_SIZE: usize = 24;
/// An inline EXTENT_DATA_REF: type byte + root, objectid, offset, count.
const INLINE_DATA_REF_SIZE: usize = 1 + 28;

fn le64(b: &[u8], off: usize) -> Result<u64> {
    let s = b.get(off..off + 8).ok_or(EUCLEAN)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Ok(u64::from_le_bytes(a))
}

fn le32(b: &[u8], off: usize) -> Result<u32> {
    let s = b.get(off..off + 4).ok_or(EUCLEAN)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    Ok(u32::from_le_bytes(a))
}

fn put64(b: &mut [u8], off: usize, v: u64) -> Result {
    b.get_mut(off..off + 8).ok_or(EUCLEAN)?.copy_from_slice(&v.to_le_bytes());
    Ok(())
}

fn put32(b: &mut [u8], off: usize, v: u32) -> Result {
    b.get_mut(off..off + 4).ok_or(EUCLEAN)?.copy_from_slice(&v.to_le_bytes());
    Ok(())
}

/// Applies every queued reference change, and those that applying them
/// queues, until none is left.
pub fn run_delayed_refs<S: TreeSource>(t: &mut Trans<'_, S>) -> Result {
    loop {
        let refs = t.fs.refs.take();
        if refs.is_empty() {
            return Ok(());
        }
        let mut i = 0;
        while i < refs.len() {
            let bytenr = refs[i].bytenr;
            let mut j = i;
            while j < refs.len() && refs[j].bytenr == bytenr {
                j += 1;
            }
            run_extent(t, &refs[i..j])?;
            i = j;
        }
    }
}

/// Applies the changes queued for one extent.
fn run_extent<S: TreeSource>(t: &mut Trans<'_, S>, group: &[DelayedRef]) -> Result {
    let first = group[0];
    let total: i64 = group.iter().map(|r| r.delta).sum();
    if let Some(new) = group.iter().find_map(|r| r.new_extent) {
        if total <= 0 {
            // Allocated and dropped before it reached the tree; its data
            // checksums were inserted already.
            if new == NewExtent::Data {
                crate::file_item::del_csums(t, first.bytenr, first.num_bytes)?;
            }
            return t.unreserve(first.bytenr, first.num_bytes);
        }
        return create_extent(t, group, new, total);
    }
    for r in group.iter().filter(|r| r.delta > 0) {
        add_ref(t, r)?;
    }
    for r in group.iter().filter(|r| r.delta < 0) {
        drop_ref(t, r)?;
    }
    Ok(())
}

/// Inserts the item of an extent new in this transaction.
fn create_extent<S: TreeSource>(t: &mut Trans<'_, S>, group: &[DelayedRef], new: NewExtent, total: i64) -> Result {
    let r = group[0];
    let transid = t.transid();
    let mut body = Vec::new();
    body.resize(EXTENT_ITEM_SIZE, 0u8)?;
    put64(&mut body, 0, total as u64)?;
    put64(&mut body, 8, transid)?;
    match new {
        NewExtent::Tree { .. } => {
            if !t.fs.geo.skinny {
                return Err(EOPNOTSUPP);
            }
            put64(&mut body, 16, FLAG_TREE_BLOCK)?;
            for g in group.iter().filter(|g| g.delta > 0) {
                let RefKind::Tree { root } = g.kind else { return Err(EUCLEAN) };
                body.push(key_type::TREE_BLOCK_REF)?;
                body.extend_from_slice(&root.to_le_bytes())?;
            }
        }
        NewExtent::Data => {
            put64(&mut body, 16, FLAG_DATA)?;
            for g in group.iter().filter(|g| g.delta > 0) {
                let RefKind::Data { root, owner, offset } = g.kind else { return Err(EUCLEAN) };
                body.push(key_type::EXTENT_DATA_REF)?;
                body.extend_from_slice(&root.to_le_bytes())?;
                body.extend_from_slice(&owner.to_le_bytes())?;
                body.extend_from_slice(&offset.to_le_bytes())?;
                body.extend_from_slice(&(g.delta as u32).to_le_bytes())?;
            }
        }
    }
    let key = match new {
        NewExtent::Tree { level, .. } => Key::new(r.bytenr, key_type::METADATA_ITEM, u64::from(level)),
        NewExtent::Data => Key::new(r.bytenr, key_type::EXTENT_ITEM, r.num_bytes),
    };
    t.with_root(crate::ctree::objectid::EXTENT_TREE, |t, root| insert_item(t, root, &key, &body))?;
    t.space_taken(r.bytenr, r.num_bytes)
}

/// Finds the extent item of `bytenr`: its key.
fn find_extent<S: TreeSource>(t: &Trans<'_, S>, r: &DelayedRef) -> Result<Key> {
    let root = t.fs.root(crate::ctree::objectid::EXTENT_TREE).ok_or(EUCLEAN)?;
    let ov = Overlay { dirty: t.dirty(), src: t.src() };
    let mut p = Path::new();
    let want = match r.kind {
        RefKind::Tree { .. } => key_type::METADATA_ITEM,
        RefKind::Data { .. } => key_type::EXTENT_ITEM,
    };
    p.search(&ov, root.bytenr, root.level, root.generation, &Key::new(r.bytenr, want, 0))
        .map_err(|_| EUCLEAN)?;
    match p.key()? {
        Some(k) if k.objectid == r.bytenr && k.ty == want => Ok(k),
        _ => Err(EUCLEAN),
    }
}

/// Offset within the item of the inline EXTENT_DATA_REF for `kind`, if any.
fn find_inline_data_ref(item: &[u8], kind: &RefKind) -> Result<Option<usize>> {
    let RefKind::Data { root, owner, offset } = *kind else { return Ok(None) };
    let mut off = EXTENT_ITEM_SIZE;
    while off < item.len() {
        let ty = item[off];
        let size = match ty {
            key_type::TREE_BLOCK_REF | key_type::SHARED_BLOCK_REF | key_type::EXTENT_OWNER_REF => 9,
            key_type::SHARED_DATA_REF => 13,
            key_type::EXTENT_DATA_REF => INLINE_DATA_REF_SIZE,
            _ => return Err(EUCLEAN),
        };
        if ty == key_type::EXTENT_DATA_REF
            && le64(item, off + 1)? == root
            && le64(item, off + 9)? == owner
            && le64(item, off + 17)? == offset
        {
            return Ok(Some(off));
        }
        off += size;
    }
    Ok(None)
}

/// Adds references to an extent already in the tree.
fn add_ref<S: TreeSource>(t: &mut Trans<'_, S>, r: &DelayedRef) -> Result {
    let RefKind::Data { root: ref_root, owner, offset } = r.kind else {
        // A second tree referencing a tree block: snapshots.
        return Err(EOPNOTSUPP);
    };
    let key = find_extent(t, r)?;
    let delta = r.delta as u64;
    t.with_root(crate::ctree::objectid::EXTENT_TREE, |t, root| {
        let mut p = WPath::new();
        if !search_slot(t, root, &key, &mut p, 0, true)? {
            return Err(EUCLEAN);
        }
        let inline = find_inline_data_ref(item_data(t, &p)?, &r.kind)?;
        let d = item_data_mut(t, &p)?;
        put64(d, 0, le64(d, 0)? + delta)?;
        if let Some(off) = inline {
            let c = le32(d, off + 25)?;
            return put32(d, off + 25, c + delta as u32);
        }
        // A keyed backref item.
        let kkey = Key::new(r.bytenr, key_type::EXTENT_DATA_REF, hash_extent_data_ref(ref_root, owner, offset));
        let mut p = WPath::new();
        if search_slot(t, root, &kkey, &mut p, 0, true)? {
            let d = item_data_mut(t, &p)?;
            let c = le32(d, 24)?;
            return put32(d, 24, c + delta as u32);
        }
        let mut body = [0u8; 28];
        body[0..8].copy_from_slice(&ref_root.to_le_bytes());
        body[8..16].copy_from_slice(&owner.to_le_bytes());
        body[16..24].copy_from_slice(&offset.to_le_bytes());
        body[24..28].copy_from_slice(&(delta as u32).to_le_bytes());
        insert_item(t, root, &kkey, &body)
    })
}

/// Drops references; deletes the extent when none is left.
fn drop_ref<S: TreeSource>(t: &mut Trans<'_, S>, r: &DelayedRef) -> Result {
    let key = find_extent(t, r)?;
    let n = r.delta.unsigned_abs();
    let gone = t.with_root(crate::ctree::objectid::EXTENT_TREE, |t, root| {
        let mut p = WPath::new();
        if !search_slot(t, root, &key, &mut p, -1, true)? {
            return Err(EUCLEAN);
        }
        let item = item_data(t, &p)?;
        let refs = le64(item, 0)?;
        if refs < n {
            return Err(EUCLEAN);
        }
        if refs == n {
            // The last reference: the whole extent goes, with any keyed refs.
            del_items(t, root, &mut p, 1)?;
            if let RefKind::Data { root: rr, owner, offset } = r.kind {
                let kkey = Key::new(r.bytenr, key_type::EXTENT_DATA_REF, hash_extent_data_ref(rr, owner, offset));
                let mut p = WPath::new();
                if search_slot(t, root, &kkey, &mut p, -1, true)? {
                    del_items(t, root, &mut p, 1)?;
                }
            }
            return Ok(true);
        }
        let RefKind::Data { root: rr, owner, offset } = r.kind else { return Err(EOPNOTSUPP) };
        let inline = find_inline_data_ref(item, &r.kind)?;
        let d = item_data_mut(t, &p)?;
        put64(d, 0, refs - n)?;
        if let Some(off) = inline {
            let c = u64::from(le32(d, off + 25)?);
            if c > n {
                return put32(d, off + 25, (c - n) as u32).map(|_| false);
            }
            if c < n {
                return Err(EUCLEAN);
            }
            // Remove the inline ref: move what follows down, then shrink.
            let len = d.len();
            d.copy_within(off + INLINE_DATA_REF_SIZE..len, off);
            truncate_item(t, &p, (len - INLINE_DATA_REF_SIZE) as u32, true)?;
            return Ok(false);
        }
        let kkey = Key::new(r.bytenr, key_type::EXTENT_DATA_REF, hash_extent_data_ref(rr, owner, offset));
        let mut p = WPath::new();
        if !search_slot(t, root, &kkey, &mut p, -1, true)? {
            return Err(EUCLEAN);
        }
        let d = item_data_mut(t, &p)?;
        let c = u64::from(le32(d, 24)?);
        if c < n {
            return Err(EUCLEAN);
        }
        if c == n {
            del_items(t, root, &mut p, 1)?;
        } else {
            put32(d, 24, (c - n) as u32)?;
        }
        Ok(false)
    })?;
    if gone {
        if matches!(r.kind, RefKind::Data { .. }) {
            crate::file_item::del_csums(t, r.bytenr, r.num_bytes)?;
        }
        t.space_freed(r.bytenr, r.num_bytes)?;
    }
    Ok(())
}

/// Records in the free space tree that `[bytenr, +len)` is now used.
pub(crate) fn fst_remove<S: TreeSource>(t: &mut Trans<'_, S>, bg: (u64, u64), bytenr: u64, len: u64) -> Result {
    let ss = t.fs.geo.sectorsize;
    t.with_root(free_space_tree::TREE, |t, root| free_space_tree::remove_range(t, root, bg, bytenr, len, ss))
}

/// Records in the free space tree that `[bytenr, +len)` is free again.
pub(crate) fn fst_add<S: TreeSource>(t: &mut Trans<'_, S>, bg: (u64, u64), bytenr: u64, len: u64) -> Result {
    let ss = t.fs.geo.sectorsize;
    t.with_root(free_space_tree::TREE, |t, root| free_space_tree::add_range(t, root, bg, bytenr, len, ss))
}
