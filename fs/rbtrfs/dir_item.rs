// SPDX-License-Identifier: GPL-2.0

//! Items that pack several entries under one key (C: `dir-item.c`, and
//! the ref half of `inode-item.c`).
//!
//! DIR_ITEM and XATTR_ITEM are keyed by a name hash, INODE_REF by the
//! parent directory, INODE_EXTREF by a hash of parent and name: entries
//! whose keys collide share one item, back to back. [`add_entry`] appends
//! an entry (creating the item if needed) and [`remove_entry`] cuts one
//! out (deleting the item with its last entry). [`find_entry`] looks one
//! up in the current trees.

#![forbid(unsafe_code)]

use crate::ctree::{Key, Path, SearchError, ITEM_SIZE};
use crate::ctree_write::{del_items, extend_item, insert_item, item_data, item_data_mut, search_slot, truncate_item, WPath};
use crate::error::{Errno, Result, EIO, EOVERFLOW, EUCLEAN};
use crate::extent_io::{Overlay, RootNode, TreeCtx};
use crate::items_write::remove_range;
use core::ops::Range;

/// Maps a search failure to an errno.
pub fn read_err<E>(e: SearchError<E>) -> Errno {
    match e {
        SearchError::Read(_) => EIO,
        SearchError::Tree(_) => EUCLEAN,
    }
}

/// Largest item data a leaf can hold.
pub fn max_item_size(nodesize: u32) -> usize {
    nodesize as usize - crate::ctree::HEADER_SIZE - ITEM_SIZE
}

/// Appends `entry` to the item at `key`, creating the item if there is
/// none. EOVERFLOW if the item would not fit in a leaf.
pub fn add_entry<C: TreeCtx>(ctx: &mut C, root: &mut RootNode, key: &Key, entry: &[u8]) -> Result {
    let extra = u32::try_from(entry.len()).map_err(|_| EOVERFLOW)?;
    let max = max_item_size(ctx.nodesize());
    // A search that makes room for an insert leaves the tree ready for that
    // insert (possibly an empty leaf keyed for it), so look first without
    // changing anything, then either insert or extend.
    let old = find_entry(ctx, root, key, |d| Ok(d.len()))?;
    let Some(old) = old else {
        if entry.len() > max {
            return Err(EOVERFLOW);
        }
        return insert_item(ctx, root, key, entry);
    };
    if old + entry.len() > max {
        return Err(EOVERFLOW);
    }
    let mut p = WPath::new();
    if !search_slot(ctx, root, key, &mut p, extra as i32, true)? {
        return Err(EUCLEAN);
    }
    extend_item(ctx, &p, extra)?;
    let d = item_data_mut(ctx, &p)?;
    d.get_mut(old..old + entry.len()).ok_or(EUCLEAN)?.copy_from_slice(entry);
    Ok(())
}

/// Removes the entry `find` locates in the item at `key`. Returns whether
/// there was one.
pub fn remove_entry<C: TreeCtx>(
    ctx: &mut C,
    root: &mut RootNode,
    key: &Key,
    find: impl FnOnce(&[u8]) -> Result<Option<Range<usize>>>,
) -> Result<bool> {
    let mut p = WPath::new();
    if !search_slot(ctx, root, key, &mut p, -1, true)? {
        return Ok(false);
    }
    let data = item_data(ctx, &p)?;
    let len = data.len();
    let Some(r) = find(data)? else { return Ok(false) };
    if r.start == 0 && r.end == len {
        del_items(ctx, root, &mut p, 1)?;
        return Ok(true);
    }
    let new_len = remove_range(item_data_mut(ctx, &p)?, r)?;
    truncate_item(ctx, &p, new_len as u32, true)?;
    Ok(true)
}

/// Calls `f` with the data of the item at `key` in the current trees.
pub fn find_entry<C: TreeCtx, R>(
    ctx: &C,
    root: &RootNode,
    key: &Key,
    f: impl FnOnce(&[u8]) -> Result<R>,
) -> Result<Option<R>> {
    let ov = Overlay { dirty: ctx.dirty(), src: ctx.src() };
    let mut p = Path::new();
    if !p.search(&ov, root.bytenr, root.level, root.generation, key).map_err(read_err)? {
        return Ok(None);
    }
    let item = p.item()?.ok_or(EUCLEAN)?;
    f(item.data).map(Some)
}

/// The greatest key `<= key` in the current trees, if any.
pub fn key_at_or_before<C: TreeCtx>(ctx: &C, root: &RootNode, key: &Key) -> Result<Option<Key>> {
    let ov = Overlay { dirty: ctx.dirty(), src: ctx.src() };
    let mut p = Path::new();
    if p.search(&ov, root.bytenr, root.level, root.generation, key).map_err(read_err)? {
        return Ok(Some(*key));
    }
    if !p.prev_item(&ov).map_err(read_err)? {
        return Ok(None);
    }
    Ok(p.key()?.filter(|k| k <= key))
}
