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
//! Blocks shared between trees (snapshots) have more than one reference:
//! TREE_BLOCK_REF (by tree) and SHARED_BLOCK_REF (by parent block, once
//! the parent has `FULL_BACKREF`), and a data extent SHARED_DATA_REFs
//! (by leaf). References are inline in the extent item, in C's order,
//! while it has room and no keyed backref items exist, else keyed items.
//! [`lookup_extent_info`] gives a tree block's refs and flags including
//! what is queued. Not supported: non-skinny metadata (`EOPNOTSUPP`),
//! colliding EXTENT_DATA_REF hashes (`EOPNOTSUPP`).

#![forbid(unsafe_code)]

use crate::ctree::{key_type, Key, Path, TreeSource};
use crate::ctree_write::{del_items, extend_item, insert_item, item_data, item_data_mut, search_slot, truncate_item, WPath};
use crate::delayed_ref::{DelayedRef, FlagsOp, NewExtent, RefKind};
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
/// `BTRFS_BLOCK_FLAG_FULL_BACKREF`: the block's children (or a leaf's data
/// extents) are referenced by this block's address (SHARED_* refs), not
/// by the tree owning it.
pub const FLAG_FULL_BACKREF: u64 = 1 << 8;
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
        let flags = t.fs.refs.take_flags();
        if refs.is_empty() && flags.is_empty() {
            return Ok(());
        }
        let (mut i, mut f) = (0, 0);
        while i < refs.len() || f < flags.len() {
            let bytenr = match (refs.get(i), flags.get(f)) {
                (Some(r), Some(fl)) => r.bytenr.min(fl.bytenr),
                (Some(r), None) => r.bytenr,
                (None, Some(fl)) => fl.bytenr,
                (None, None) => break,
            };
            let mut j = i;
            while j < refs.len() && refs[j].bytenr == bytenr {
                j += 1;
            }
            let op = match flags.get(f) {
                Some(fl) if fl.bytenr == bytenr => {
                    f += 1;
                    Some(*fl)
                }
                _ => None,
            };
            if let Err(e) = run_extent(t, &refs[i..j], op) {
                // Name the extent if no single reference was named.
                if t.fs.ref_failure.is_none() {
                    t.fs.ref_failure = refs.get(i).copied();
                }
                return Err(e);
            }
            i = j;
        }
    }
}

/// Applies the changes queued for one extent.
fn run_extent<S: TreeSource>(t: &mut Trans<'_, S>, group: &[DelayedRef], op: Option<FlagsOp>) -> Result {
    let set = op.map_or(0, |o| o.flags);
    if group.is_empty() {
        if let Some(o) = op {
            set_extent_flags(t, o.bytenr, o.level, o.flags)?;
        }
        return Ok(());
    }
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
        return create_extent(t, group, new, total, set);
    }
    if let Some(o) = op {
        set_extent_flags(t, o.bytenr, o.level, o.flags)?;
    }
    for r in group.iter().filter(|r| r.delta > 0).chain(group.iter().filter(|r| r.delta < 0)) {
        let res = if r.delta > 0 { add_ref(t, r) } else { drop_ref(t, r) };
        if res.is_err() {
            t.fs.ref_failure = Some(*r);
        }
        res?;
    }
    Ok(())
}

/// The inline ref type of a reference kind.
fn ref_type(kind: &RefKind) -> u8 {
    match kind {
        RefKind::Tree { .. } => key_type::TREE_BLOCK_REF,
        RefKind::Data { .. } => key_type::EXTENT_DATA_REF,
        RefKind::SharedTree { .. } => key_type::SHARED_BLOCK_REF,
        RefKind::SharedData { .. } => key_type::SHARED_DATA_REF,
    }
}

/// Bytes of an inline ref of type `ty` (type byte included).
fn inline_size(ty: u8) -> Result<usize> {
    Ok(match ty {
        key_type::TREE_BLOCK_REF | key_type::SHARED_BLOCK_REF | key_type::EXTENT_OWNER_REF => 9,
        key_type::SHARED_DATA_REF => 13,
        key_type::EXTENT_DATA_REF => INLINE_DATA_REF_SIZE,
        _ => return Err(EUCLEAN),
    })
}

/// An inline ref for `kind` holding `count` (data refs).
fn inline_ref(kind: &RefKind, count: u32) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    v.push(ref_type(kind))?;
    match *kind {
        RefKind::Tree { root } => v.extend_from_slice(&root.to_le_bytes())?,
        RefKind::SharedTree { parent } => v.extend_from_slice(&parent.to_le_bytes())?,
        RefKind::Data { root, owner, offset } => {
            v.extend_from_slice(&root.to_le_bytes())?;
            v.extend_from_slice(&owner.to_le_bytes())?;
            v.extend_from_slice(&offset.to_le_bytes())?;
            v.extend_from_slice(&count.to_le_bytes())?;
        }
        RefKind::SharedData { parent } => {
            v.extend_from_slice(&parent.to_le_bytes())?;
            v.extend_from_slice(&count.to_le_bytes())?;
        }
    }
    Ok(v)
}

/// Where the inline ref for `kind` is in an extent item, or where it goes.
///
/// C keeps inline refs sorted by type (TREE_BLOCK_REF, EXTENT_DATA_REF,
/// SHARED_BLOCK_REF, SHARED_DATA_REF), and within a type by value from the
/// largest down (root or parent; the hash for EXTENT_DATA_REF), skipping an
/// EXTENT_OWNER_REF; `btrfs check` verifies that order.
fn find_inline(item: &[u8], kind: &RefKind) -> Result<(Option<usize>, usize)> {
    let want = ref_type(kind);
    let mut off = EXTENT_ITEM_SIZE;
    while off < item.len() {
        let ty = item[off];
        let size = inline_size(ty)?;
        if off + size > item.len() {
            return Err(EUCLEAN);
        }
        if ty == key_type::EXTENT_OWNER_REF {
            off += size;
            continue;
        }
        if want < ty {
            break;
        }
        if want > ty {
            off += size;
            continue;
        }
        match *kind {
            RefKind::Data { root, owner, offset } => {
                let (r, o, f) = (le64(item, off + 1)?, le64(item, off + 9)?, le64(item, off + 17)?);
                if (r, o, f) == (root, owner, offset) {
                    return Ok((Some(off), off));
                }
                if hash_extent_data_ref(r, o, f) < hash_extent_data_ref(root, owner, offset) {
                    break;
                }
            }
            RefKind::Tree { root: v } | RefKind::SharedTree { parent: v } | RefKind::SharedData { parent: v } => {
                let have = le64(item, off + 1)?;
                if have == v {
                    return Ok((Some(off), off));
                }
                if have < v {
                    break;
                }
            }
        }
        off += size;
    }
    Ok((None, off))
}

/// The count an inline ref at `off` holds (1 for tree block refs).
fn inline_count(item: &[u8], off: usize) -> Result<u32> {
    match item[off] {
        key_type::EXTENT_DATA_REF => le32(item, off + 25),
        key_type::SHARED_DATA_REF => le32(item, off + 9),
        _ => Ok(1),
    }
}

fn set_inline_count(item: &mut [u8], off: usize, c: u32) -> Result {
    match item[off] {
        key_type::EXTENT_DATA_REF => put32(item, off + 25, c),
        key_type::SHARED_DATA_REF => put32(item, off + 9, c),
        _ => Err(EUCLEAN),
    }
}

/// Largest extent item that still takes inline refs (C:
/// `BTRFS_MAX_EXTENT_ITEM_SIZE`).
fn max_extent_item_size(nodesize: u32) -> usize {
    ((nodesize as usize).saturating_sub(crate::ctree::HEADER_SIZE) >> 4).saturating_sub(crate::ctree::ITEM_SIZE)
}

/// Inserts the item of an extent new in this transaction.
fn create_extent<S: TreeSource>(t: &mut Trans<'_, S>, group: &[DelayedRef], new: NewExtent, total: i64, set: u64) -> Result {
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
            put64(&mut body, 16, FLAG_TREE_BLOCK | set)?;
        }
        NewExtent::Data => put64(&mut body, 16, FLAG_DATA)?,
    }
    for g in group.iter() {
        if g.delta < 0 || g.kind.is_tree() != matches!(new, NewExtent::Tree { .. }) {
            // A new extent's refs only grow, and only with its own kind.
            return Err(EUCLEAN);
        }
        if g.delta == 0 {
            continue;
        }
        if g.kind.is_tree() && g.delta != 1 {
            return Err(EUCLEAN);
        }
        let (found, at) = find_inline(&body, &g.kind)?;
        if found.is_some() {
            return Err(EUCLEAN);
        }
        let iref = inline_ref(&g.kind, g.delta as u32)?;
        let mut tail = Vec::new();
        tail.extend_from_slice(&body[at..])?;
        body.truncate(at);
        body.extend_from_slice(&iref)?;
        body.extend_from_slice(&tail)?;
    }
    let key = match new {
        NewExtent::Tree { level, .. } => Key::new(r.bytenr, key_type::METADATA_ITEM, u64::from(level)),
        NewExtent::Data => Key::new(r.bytenr, key_type::EXTENT_ITEM, r.num_bytes),
    };
    t.with_root(crate::ctree::objectid::EXTENT_TREE, |t, root| insert_item(t, root, &key, &body))?;
    t.space_taken(r.bytenr, r.num_bytes)
}

/// Finds the extent item of `bytenr`: its key. A tree block must have a
/// skinny METADATA_ITEM (a non-skinny EXTENT_ITEM with tree block info is
/// refused with `EOPNOTSUPP`); `None` if there is no item at all.
fn find_extent_item<S: TreeSource>(t: &Trans<'_, S>, bytenr: u64, tree: bool) -> Result<Option<Key>> {
    let root = t.fs.root(crate::ctree::objectid::EXTENT_TREE).ok_or(EUCLEAN)?;
    let ov = Overlay { dirty: t.dirty(), src: t.src() };
    let mut p = Path::new();
    p.search(&ov, root.bytenr, root.level, root.generation, &Key::new(bytenr, key_type::EXTENT_ITEM, 0))
        .map_err(|_| EUCLEAN)?;
    if p.key()?.is_none() && !p.next_item(&ov).map_err(|_| EUCLEAN)? {
        return Ok(None);
    }
    match p.key()? {
        Some(k) if k.objectid == bytenr && k.ty == key_type::EXTENT_ITEM => {
            if tree {
                Err(EOPNOTSUPP)
            } else {
                Ok(Some(k))
            }
        }
        Some(k) if k.objectid == bytenr && k.ty == key_type::METADATA_ITEM => {
            if tree {
                Ok(Some(k))
            } else {
                Err(EUCLEAN)
            }
        }
        _ => Ok(None),
    }
}

fn find_extent<S: TreeSource>(t: &Trans<'_, S>, r: &DelayedRef) -> Result<Key> {
    find_extent_item(t, r.bytenr, r.kind.is_tree())?.ok_or(EUCLEAN)
}

/// Whether keyed backref items follow the extent item of `bytenr`.
fn has_keyed_refs<S: TreeSource>(t: &Trans<'_, S>, bytenr: u64) -> Result<bool> {
    let root = t.fs.root(crate::ctree::objectid::EXTENT_TREE).ok_or(EUCLEAN)?;
    let ov = Overlay { dirty: t.dirty(), src: t.src() };
    let mut p = Path::new();
    p.search(&ov, root.bytenr, root.level, root.generation, &Key::new(bytenr, key_type::METADATA_ITEM + 1, 0))
        .map_err(|_| EUCLEAN)?;
    if p.key()?.is_none() && !p.next_item(&ov).map_err(|_| EUCLEAN)? {
        return Ok(false);
    }
    Ok(matches!(p.key()?, Some(k) if k.objectid == bytenr && k.ty < key_type::BLOCK_GROUP_ITEM))
}

/// The key of the keyed backref item for `kind`.
fn keyed_key(bytenr: u64, kind: &RefKind) -> Key {
    let off = match *kind {
        RefKind::Tree { root } => root,
        RefKind::SharedTree { parent } | RefKind::SharedData { parent } => parent,
        RefKind::Data { root, owner, offset } => hash_extent_data_ref(root, owner, offset),
    };
    Key::new(bytenr, ref_type(kind), off)
}

/// Checks a keyed backref item is the one for `kind` (EXTENT_DATA_REF
/// hashes may collide: C then moves to the next offset, which is not
/// supported here) and returns its count.
fn keyed_count(d: &[u8], kind: &RefKind) -> Result<u32> {
    match *kind {
        RefKind::Tree { .. } | RefKind::SharedTree { .. } => Ok(1),
        RefKind::SharedData { .. } => le32(d, 0),
        RefKind::Data { root, owner, offset } => {
            if (le64(d, 0)?, le64(d, 8)?, le64(d, 16)?) != (root, owner, offset) {
                return Err(EOPNOTSUPP);
            }
            le32(d, 24)
        }
    }
}

fn set_keyed_count(d: &mut [u8], kind: &RefKind, c: u32) -> Result {
    match kind {
        RefKind::SharedData { .. } => put32(d, 0, c),
        RefKind::Data { .. } => put32(d, 24, c),
        _ => Err(EUCLEAN),
    }
}

/// Adds references to an extent already in the tree: to its inline ref if
/// there is one, else a new inline ref where C would put it (when the
/// item has room and no keyed refs follow), else a keyed backref item.
fn add_ref<S: TreeSource>(t: &mut Trans<'_, S>, r: &DelayedRef) -> Result {
    let key = find_extent(t, r)?;
    let delta = r.delta as u64;
    let count = u32::try_from(delta).map_err(|_| EUCLEAN)?;
    if r.kind.is_tree() && delta != 1 {
        return Err(EUCLEAN);
    }
    let keyed = has_keyed_refs(t, r.bytenr)?;
    let max = max_extent_item_size(t.fs.geo.nodesize);
    let iref = inline_ref(&r.kind, count)?;
    let inserted = t.with_root(crate::ctree::objectid::EXTENT_TREE, |t, root| {
        let mut p = WPath::new();
        if !search_slot(t, root, &key, &mut p, iref.len() as i32, true)? {
            return Err(EUCLEAN);
        }
        let (found, at) = find_inline(item_data(t, &p)?, &r.kind)?;
        let len = item_data(t, &p)?.len();
        if let Some(off) = found {
            if r.kind.is_tree() {
                // The same tree block ref twice.
                return Err(EUCLEAN);
            }
            let d = item_data_mut(t, &p)?;
            put64(d, 0, le64(d, 0)? + delta)?;
            let c = inline_count(d, off)?.checked_add(count).ok_or(EUCLEAN)?;
            set_inline_count(d, off, c)?;
            return Ok(true);
        }
        if !keyed && len + iref.len() < max {
            extend_item(t, &p, iref.len() as u32)?;
            let d = item_data_mut(t, &p)?;
            d.copy_within(at..len, at + iref.len());
            d[at..at + iref.len()].copy_from_slice(&iref);
            put64(d, 0, le64(d, 0)? + delta)?;
            return Ok(true);
        }
        let d = item_data_mut(t, &p)?;
        put64(d, 0, le64(d, 0)? + delta)?;
        Ok(false)
    })?;
    if inserted {
        return Ok(());
    }
    let kkey = keyed_key(r.bytenr, &r.kind);
    t.with_root(crate::ctree::objectid::EXTENT_TREE, |t, root| {
        let mut p = WPath::new();
        if search_slot(t, root, &kkey, &mut p, 0, true)? {
            if r.kind.is_tree() {
                return Err(EUCLEAN);
            }
            let c = keyed_count(item_data(t, &p)?, &r.kind)?.checked_add(count).ok_or(EUCLEAN)?;
            return set_keyed_count(item_data_mut(t, &p)?, &r.kind, c);
        }
        let body = match r.kind {
            RefKind::Tree { .. } | RefKind::SharedTree { .. } => Vec::new(),
            RefKind::SharedData { .. } => {
                let mut v = Vec::new();
                v.extend_from_slice(&count.to_le_bytes())?;
                v
            }
            // The inline ref's body without its type byte.
            RefKind::Data { .. } => {
                let mut v = Vec::new();
                v.extend_from_slice(&iref[1..])?;
                v
            }
        };
        insert_item(t, root, &kkey, &body)
    })
}

/// Drops references; deletes the extent when none is left.
fn drop_ref<S: TreeSource>(t: &mut Trans<'_, S>, r: &DelayedRef) -> Result {
    let key = find_extent(t, r)?;
    let n = r.delta.unsigned_abs();
    let n32 = u32::try_from(n).map_err(|_| EUCLEAN)?;
    // First the backref: inline or keyed.
    let inline = t.with_root(crate::ctree::objectid::EXTENT_TREE, |t, root| {
        let mut p = WPath::new();
        if !search_slot(t, root, &key, &mut p, 0, true)? {
            return Err(EUCLEAN);
        }
        let item = item_data(t, &p)?;
        let Some(off) = find_inline(item, &r.kind)?.0 else { return Ok(false) };
        let c = inline_count(item, off)?;
        if c < n32 {
            return Err(EUCLEAN);
        }
        let refs = le64(item, 0)?;
        if refs < n {
            return Err(EUCLEAN);
        }
        let d = item_data_mut(t, &p)?;
        put64(d, 0, refs - n)?;
        if c > n32 {
            return set_inline_count(d, off, c - n32).map(|_| true);
        }
        // Remove the inline ref: move what follows down, then shrink.
        let size = inline_size(d[off])?;
        let len = d.len();
        d.copy_within(off + size..len, off);
        truncate_item(t, &p, (len - size) as u32, true)?;
        Ok(true)
    })?;
    if !inline {
        let kkey = keyed_key(r.bytenr, &r.kind);
        t.with_root(crate::ctree::objectid::EXTENT_TREE, |t, root| {
            let mut p = WPath::new();
            if !search_slot(t, root, &kkey, &mut p, -1, true)? {
                return Err(EUCLEAN);
            }
            let c = keyed_count(item_data(t, &p)?, &r.kind)?;
            if c < n32 {
                return Err(EUCLEAN);
            }
            if c == n32 {
                del_items(t, root, &mut p, 1)
            } else {
                set_keyed_count(item_data_mut(t, &p)?, &r.kind, c - n32)
            }
        })?;
        t.with_root(crate::ctree::objectid::EXTENT_TREE, |t, root| {
            let mut p = WPath::new();
            if !search_slot(t, root, &key, &mut p, 0, true)? {
                return Err(EUCLEAN);
            }
            let d = item_data_mut(t, &p)?;
            let refs = le64(d, 0)?;
            if refs < n {
                return Err(EUCLEAN);
            }
            put64(d, 0, refs - n)
        })?;
    }
    // Then the extent, if that was its last reference.
    let gone = t.with_root(crate::ctree::objectid::EXTENT_TREE, |t, root| {
        let mut p = WPath::new();
        if !search_slot(t, root, &key, &mut p, -1, true)? {
            return Err(EUCLEAN);
        }
        let item = item_data(t, &p)?;
        if le64(item, 0)? != 0 {
            return Ok(false);
        }
        // No reference left: nothing but an owner ref may remain inline.
        let mut off = EXTENT_ITEM_SIZE;
        while off < item.len() {
            if item[off] != key_type::EXTENT_OWNER_REF {
                return Err(EUCLEAN);
            }
            off += inline_size(item[off])?;
        }
        del_items(t, root, &mut p, 1)?;
        Ok(true)
    })?;
    if gone {
        if has_keyed_refs(t, r.bytenr)? {
            return Err(EUCLEAN);
        }
        if !r.kind.is_tree() {
            crate::file_item::del_csums(t, r.bytenr, r.num_bytes)?;
        }
        t.space_freed(r.bytenr, r.num_bytes)?;
    }
    Ok(())
}

/// Sets `flags` on the extent item of the tree block at `bytenr`.
fn set_extent_flags<S: TreeSource>(t: &mut Trans<'_, S>, bytenr: u64, level: u8, flags: u64) -> Result {
    let key = Key::new(bytenr, key_type::METADATA_ITEM, u64::from(level));
    t.with_root(crate::ctree::objectid::EXTENT_TREE, |t, root| {
        let mut p = WPath::new();
        if !search_slot(t, root, &key, &mut p, 0, true)? {
            return Err(EUCLEAN);
        }
        let d = item_data_mut(t, &p)?;
        let f = le64(d, 16)?;
        if f & FLAG_TREE_BLOCK == 0 {
            return Err(EUCLEAN);
        }
        put64(d, 16, f | flags)
    })
}

/// A tree block's reference count and extent flags, with the changes
/// still queued in the delayed refs (C: `btrfs_lookup_extent_info`).
pub fn lookup_extent_info<S: TreeSource>(t: &Trans<'_, S>, bytenr: u64) -> Result<(u64, u64)> {
    let q = t.fs.refs.queued(bytenr);
    let (mut refs, flags) = match find_extent_item(t, bytenr, true)? {
        Some(key) => {
            let root = t.fs.root(crate::ctree::objectid::EXTENT_TREE).ok_or(EUCLEAN)?;
            let ov = Overlay { dirty: t.dirty(), src: t.src() };
            let mut p = Path::new();
            if !p.search(&ov, root.bytenr, root.level, root.generation, &key).map_err(|_| EUCLEAN)? {
                return Err(EUCLEAN);
            }
            let item = p.item()?.ok_or(EUCLEAN)?;
            if q.new {
                return Err(EUCLEAN);
            }
            (i64::try_from(le64(item.data, 0)?).map_err(|_| EUCLEAN)?, le64(item.data, 16)?)
        }
        None if q.new => (0, FLAG_TREE_BLOCK),
        None => return Err(EUCLEAN),
    };
    refs += q.delta;
    if refs < 0 {
        return Err(EUCLEAN);
    }
    Ok((refs as u64, flags | q.flags))
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
