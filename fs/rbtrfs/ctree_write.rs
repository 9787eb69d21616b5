// SPDX-License-Identifier: GPL-2.0

//! Changing B-trees: the write side of C btrfs's `ctree.c`.
//!
//! # Copy-on-write
//!
//! A committed tree block is never changed. Before a block on the way to an
//! item is changed, [`search_slot`] (with `cow`) copies it: a new address
//! comes from [`TreeCtx::alloc_tree_block`], the bytes are copied, the
//! header gets the new bytenr, the running transaction's generation, the
//! owner and the level ([`init_header`], which also clears the WRITTEN
//! flag), the copy goes into [`TreeCtx::dirty_mut`], the parent's key
//! pointer (address and generation) is pointed at it — or, for the root,
//! the [`RootNode`] is updated — and the old block is released with
//! [`TreeCtx::free_tree_block`]. COW runs from the root down, so a parent
//! is always dirty before its child is copied. Blocks already in
//! [`TreeCtx::dirty`] (generation == the running transaction) are changed in
//! place. Blocks are read from the dirty set first, then from
//! [`TreeCtx::src`] (what [`Overlay`](crate::extent_io::Overlay) does).
//!
//! Reference bookkeeping of the copied block is the context's
//! ([`TreeCtx::cow_refs`]): for a transaction, blocks shared with snapshots
//! move their references as C's `update_ref_for_cow` does (see
//! `snapshot.rs`). No relocation trees. The owner of every block written
//! is [`RootNode::objectid`].
//!
//! # Shape
//!
//! Leaves keep their item heads at the front and item data packed at the
//! back, exactly as btrfs; nodes hold at most `(nodesize - HEADER_SIZE) /
//! 33` key pointers. An insert search ([`search_slot`] with `ins_len > 0`)
//! splits every node on the way down that has fewer than four free
//! pointers (growing the tree at the root when needed), and splits the
//! leaf, into two or three leaves, so the item fits. A delete search
//! (`ins_len < 0`) shrinks the tree when the root node has one child and
//! merges (or evens out) a node that is less than a quarter full with a
//! sibling; [`del_items`] frees emptied leaves and nodes and moves the items
//! of a leaf under a third full into its siblings when they all fit.
//!
//! Nothing here trusts a block read from the source: a committed block is
//! checked for a sane layout before it is copied, every access is bounds
//! checked, and a bad block gives `EUCLEAN`, never a panic. Errors leave
//! the tree in a state only good for aborting the transaction, as in C.

#![forbid(unsafe_code)]

use crate::ctree::{Key, KeyPtr, TreeBlock, TreeSource, HEADER_SIZE, ITEM_SIZE, KEY_PTR_SIZE, KEY_SIZE};
use crate::error::{Result, EEXIST, EINVAL, EIO, ENOENT, EOVERFLOW, EUCLEAN};
use crate::extent_io::{init_header, set_nritems, BlockRef, RootNode, TreeCtx};
use crate::format::MAX_LEVEL;
use crate::mem::Vec;

const LEVELS: usize = MAX_LEVEL as usize;
const BYTENR_OFF: usize = 48;
const NRITEMS_OFF: usize = 96;
const LEVEL_OFF: usize = 100;

// ---------------------------------------------------------------------------
// Bounds-checked byte access.

fn range(b: &[u8], off: usize, len: usize) -> Result<&[u8]> {
    off.checked_add(len).and_then(|end| b.get(off..end)).ok_or(EUCLEAN)
}

fn range_mut(b: &mut [u8], off: usize, len: usize) -> Result<&mut [u8]> {
    off.checked_add(len).and_then(move |end| b.get_mut(off..end)).ok_or(EUCLEAN)
}

fn rd32(b: &[u8], off: usize) -> Result<u32> {
    let s = range(b, off, 4)?;
    Ok(u32::from_le_bytes(s.try_into().map_err(|_| EUCLEAN)?))
}

fn rd64(b: &[u8], off: usize) -> Result<u64> {
    let s = range(b, off, 8)?;
    Ok(u64::from_le_bytes(s.try_into().map_err(|_| EUCLEAN)?))
}

fn wr(b: &mut [u8], off: usize, v: &[u8]) -> Result {
    range_mut(b, off, v.len())?.copy_from_slice(v);
    Ok(())
}

fn to_u32(v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| EUCLEAN)
}

/// Moves `len` bytes from `src` to `dst` inside `b` (absolute offsets).
fn mv(b: &mut [u8], src: usize, dst: usize, len: usize) -> Result {
    range(b, src, len)?;
    range(b, dst, len)?;
    b.copy_within(src..src + len, dst);
    Ok(())
}

fn zero(b: &mut [u8], off: usize, len: usize) -> Result {
    range_mut(b, off, len)?.fill(0);
    Ok(())
}

fn sub(a: usize, b: usize) -> Result<usize> {
    a.checked_sub(b).ok_or(EUCLEAN)
}

fn add(a: usize, b: usize) -> Result<usize> {
    a.checked_add(b).ok_or(EUCLEAN)
}

fn entry(slot: usize, size: usize) -> Result<usize> {
    slot.checked_mul(size).and_then(|o| o.checked_add(HEADER_SIZE)).ok_or(EUCLEAN)
}

// ---------------------------------------------------------------------------
// Header fields.

fn nritems(b: &[u8]) -> Result<usize> {
    Ok(rd32(b, NRITEMS_OFF)? as usize)
}

fn set_nr(b: &mut [u8], n: usize) -> Result {
    range(b, NRITEMS_OFF, 4)?;
    set_nritems(b, to_u32(n)?);
    Ok(())
}

fn block_level(b: &[u8]) -> Result<u8> {
    b.get(LEVEL_OFF).copied().ok_or(EUCLEAN)
}

fn data_size(b: &[u8]) -> Result<usize> {
    sub(b.len(), HEADER_SIZE)
}

/// Key pointers that fit in a node of `nodesize` bytes
/// (`BTRFS_NODEPTRS_PER_BLOCK`).
pub fn max_ptrs(nodesize: u32) -> usize {
    (nodesize as usize).saturating_sub(HEADER_SIZE) / KEY_PTR_SIZE
}

/// The largest item data a leaf of `nodesize` bytes can hold
/// (`BTRFS_MAX_ITEM_SIZE`).
pub fn max_item_size(nodesize: u32) -> u32 {
    (nodesize as usize).saturating_sub(HEADER_SIZE + ITEM_SIZE) as u32
}

// ---------------------------------------------------------------------------
// Leaf layout. Offsets of item data are relative to the end of the header.

fn item_key_at(b: &[u8], slot: usize) -> Result<Key> {
    Key::read(range(b, entry(slot, ITEM_SIZE)?, KEY_SIZE)?).ok_or(EUCLEAN)
}

fn item_off(b: &[u8], slot: usize) -> Result<usize> {
    Ok(rd32(b, entry(slot, ITEM_SIZE)? + KEY_SIZE)? as usize)
}

fn item_size(b: &[u8], slot: usize) -> Result<usize> {
    Ok(rd32(b, entry(slot, ITEM_SIZE)? + KEY_SIZE + 4)? as usize)
}

fn set_item_off(b: &mut [u8], slot: usize, off: usize) -> Result {
    wr(b, entry(slot, ITEM_SIZE)? + KEY_SIZE, &to_u32(off)?.to_le_bytes())
}

fn set_item_size(b: &mut [u8], slot: usize, size: usize) -> Result {
    wr(b, entry(slot, ITEM_SIZE)? + KEY_SIZE + 4, &to_u32(size)?.to_le_bytes())
}

fn set_item_head(b: &mut [u8], slot: usize, key: &Key, off: usize, size: usize) -> Result {
    wr(b, entry(slot, ITEM_SIZE)?, &key.to_disk())?;
    set_item_off(b, slot, off)?;
    set_item_size(b, slot, size)
}

/// Start of the lowest item data (the data area ends at `data_size`).
fn leaf_data_end(b: &[u8]) -> Result<usize> {
    match nritems(b)? {
        0 => data_size(b),
        n => item_off(b, n - 1),
    }
}

fn leaf_free(b: &[u8]) -> Result<usize> {
    let heads = nritems(b)?.checked_mul(ITEM_SIZE).ok_or(EUCLEAN)?;
    sub(leaf_data_end(b)?, heads)
}

/// Space item `slot` takes: its head and its data.
fn item_cost(b: &[u8], slot: usize) -> Result<usize> {
    add(item_size(b, slot)?, ITEM_SIZE)
}

/// Space items `start..start + count` take (`leaf_space_used`).
fn items_cost(b: &[u8], start: usize, count: usize) -> Result<usize> {
    if count == 0 {
        return Ok(0);
    }
    let end = add(item_off(b, start)?, item_size(b, start)?)?;
    let data = sub(end, item_off(b, start + count - 1)?)?;
    add(data, count * ITEM_SIZE)
}

/// Makes room in a leaf for `count` item heads at `slot` and `ds` bytes of
/// their data; returns where that data must end (it starts `ds` below).
/// The caller fills the heads.
fn leaf_open_gap(b: &mut [u8], slot: usize, count: usize, ds: usize) -> Result<usize> {
    let n = nritems(b)?;
    if slot > n {
        return Err(EUCLEAN);
    }
    if leaf_free(b)? < add(ds, count * ITEM_SIZE)? {
        return Err(EOVERFLOW);
    }
    let data_end = leaf_data_end(b)?;
    let end = if slot < n { add(item_off(b, slot)?, item_size(b, slot)?)? } else { data_end };
    if slot < n {
        let len = sub(end, data_end)?;
        mv(b, HEADER_SIZE + data_end, HEADER_SIZE + sub(data_end, ds)?, len)?;
        for i in slot..n {
            let off = sub(item_off(b, i)?, ds)?;
            set_item_off(b, i, off)?;
        }
        mv(b, entry(slot, ITEM_SIZE)?, entry(slot + count, ITEM_SIZE)?, (n - slot) * ITEM_SIZE)?;
    }
    set_nr(b, n + count)?;
    Ok(end)
}

/// Removes items `slot..slot + count` from a leaf.
fn leaf_close(b: &mut [u8], slot: usize, count: usize) -> Result {
    let n = nritems(b)?;
    if slot.checked_add(count).is_none_or(|e| e > n) {
        return Err(EUCLEAN);
    }
    if count == 0 {
        return Ok(());
    }
    if slot + count < n {
        let ds = sub(items_cost(b, slot, count)?, count * ITEM_SIZE)?;
        let data_end = leaf_data_end(b)?;
        let last_off = item_off(b, slot + count - 1)?;
        mv(b, HEADER_SIZE + data_end, HEADER_SIZE + add(data_end, ds)?, sub(last_off, data_end)?)?;
        for i in slot + count..n {
            let off = add(item_off(b, i)?, ds)?;
            set_item_off(b, i, off)?;
        }
        mv(b, entry(slot + count, ITEM_SIZE)?, entry(slot, ITEM_SIZE)?, (n - slot - count) * ITEM_SIZE)?;
    }
    set_nr(b, n - count)
}

/// Moves items `s..s + count` of leaf `src` to slot `p` of leaf `dst`.
fn leaf_move(src: &mut [u8], s: usize, count: usize, dst: &mut [u8], p: usize) -> Result {
    if count == 0 {
        return Ok(());
    }
    let src_end = add(item_off(src, s)?, item_size(src, s)?)?;
    let src_start = item_off(src, s + count - 1)?;
    let ds = sub(src_end, src_start)?;
    let end = leaf_open_gap(dst, p, count, ds)?;
    let start = sub(end, ds)?;
    range_mut(dst, HEADER_SIZE + start, ds)?.copy_from_slice(range(src, HEADER_SIZE + src_start, ds)?);
    for i in 0..count {
        let key = item_key_at(src, s + i)?;
        let off = add(sub(item_off(src, s + i)?, src_start)?, start)?;
        set_item_head(dst, p + i, &key, off, item_size(src, s + i)?)?;
    }
    leaf_close(src, s, count)
}

/// Checks that a block read from the source has the layout the code here
/// relies on: its size, level, item count and (leaf) packed item data.
fn check_layout(b: &[u8], nodesize: usize, level: u8) -> Result {
    if b.len() != nodesize || block_level(b)? != level {
        return Err(EUCLEAN);
    }
    let n = nritems(b)?;
    let ds = data_size(b)?;
    if level == 0 {
        if n.checked_mul(ITEM_SIZE).is_none_or(|h| h > ds) {
            return Err(EUCLEAN);
        }
        let mut expect = ds;
        for i in 0..n {
            let off = item_off(b, i)?;
            if add(off, item_size(b, i)?)? != expect || off < (i + 1) * ITEM_SIZE {
                return Err(EUCLEAN);
            }
            expect = off;
        }
    } else if n == 0 || n > ds / KEY_PTR_SIZE {
        return Err(EUCLEAN);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Node layout.

fn node_ptr(b: &[u8], slot: usize) -> Result<KeyPtr> {
    if slot >= nritems(b)? {
        return Err(EUCLEAN);
    }
    let e = range(b, entry(slot, KEY_PTR_SIZE)?, KEY_PTR_SIZE)?;
    Ok(KeyPtr { key: Key::read(e).ok_or(EUCLEAN)?, blockptr: rd64(e, KEY_SIZE)?, generation: rd64(e, KEY_SIZE + 8)? })
}

fn set_node_ptr(b: &mut [u8], slot: usize, p: &KeyPtr) -> Result {
    let e = entry(slot, KEY_PTR_SIZE)?;
    wr(b, e, &p.key.to_disk())?;
    wr(b, e + KEY_SIZE, &p.blockptr.to_le_bytes())?;
    wr(b, e + KEY_SIZE + 8, &p.generation.to_le_bytes())
}

fn set_node_key(b: &mut [u8], slot: usize, key: &Key) -> Result {
    wr(b, entry(slot, KEY_PTR_SIZE)?, &key.to_disk())
}

fn node_max(b: &[u8]) -> Result<usize> {
    Ok(data_size(b)? / KEY_PTR_SIZE)
}

fn node_insert(b: &mut [u8], slot: usize, p: &KeyPtr) -> Result {
    let n = nritems(b)?;
    if slot > n || n + 1 > node_max(b)? {
        return Err(EUCLEAN);
    }
    mv(b, entry(slot, KEY_PTR_SIZE)?, entry(slot + 1, KEY_PTR_SIZE)?, (n - slot) * KEY_PTR_SIZE)?;
    set_node_ptr(b, slot, p)?;
    set_nr(b, n + 1)
}

fn node_remove(b: &mut [u8], slot: usize, count: usize) -> Result {
    let n = nritems(b)?;
    if slot.checked_add(count).is_none_or(|e| e > n) {
        return Err(EUCLEAN);
    }
    let rest = (n - slot - count) * KEY_PTR_SIZE;
    mv(b, entry(slot + count, KEY_PTR_SIZE)?, entry(slot, KEY_PTR_SIZE)?, rest)?;
    set_nr(b, n - count)
}

/// Moves key pointers `s..s + count` of node `src` to slot `p` of `dst`.
fn node_move(src: &mut [u8], s: usize, count: usize, dst: &mut [u8], p: usize) -> Result {
    let n = nritems(src)?;
    let dn = nritems(dst)?;
    if s.checked_add(count).is_none_or(|e| e > n) || p > dn || dn + count > node_max(dst)? {
        return Err(EUCLEAN);
    }
    let len = count * KEY_PTR_SIZE;
    mv(dst, entry(p, KEY_PTR_SIZE)?, entry(p + count, KEY_PTR_SIZE)?, (dn - p) * KEY_PTR_SIZE)?;
    range_mut(dst, entry(p, KEY_PTR_SIZE)?, len)?.copy_from_slice(range(src, entry(s, KEY_PTR_SIZE)?, len)?);
    set_nr(dst, dn + count)?;
    node_remove(src, s, count)
}

/// The first key of a leaf or node, [`Key::MIN`] if it is empty.
fn first_key(b: &[u8]) -> Result<Key> {
    if nritems(b)? == 0 {
        return Ok(Key::MIN);
    }
    if block_level(b)? == 0 {
        item_key_at(b, 0)
    } else {
        Ok(node_ptr(b, 0)?.key)
    }
}

// ---------------------------------------------------------------------------
// Blocks of the context.

type Blk<'a, C> = BlockRef<'a, <<C as TreeCtx>::Src as TreeSource>::Block>;

/// Reads a block, dirty first, and checks its size, address and level.
fn read<C: TreeCtx>(ctx: &C, bytenr: u64, level: u8, generation: u64) -> Result<Blk<'_, C>> {
    let blk = match ctx.dirty().get(bytenr) {
        Some(d) => BlockRef::Dirty(d),
        None => BlockRef::Clean(ctx.src().read_tree_block(bytenr, level, generation).map_err(|_| EIO)?),
    };
    let b = blk.as_ref();
    if b.len() != ctx.nodesize() as usize || rd64(b, BYTENR_OFF)? != bytenr || block_level(b)? != level {
        return Err(EUCLEAN);
    }
    Ok(blk)
}

fn dref<C: TreeCtx>(ctx: &C, bytenr: u64) -> Result<&[u8]> {
    ctx.dirty().get(bytenr).ok_or(EUCLEAN)
}

fn dmut<C: TreeCtx>(ctx: &mut C, bytenr: u64) -> Result<&mut [u8]> {
    ctx.dirty_mut().get_mut(bytenr).ok_or(EUCLEAN)
}

fn dmut2<C: TreeCtx>(ctx: &mut C, a: u64, b: u64) -> Result<(&mut [u8], &mut [u8])> {
    ctx.dirty_mut().get2_mut(a, b).ok_or(EUCLEAN)
}

/// Allocates and dirties an empty block of `owner` at `level`.
fn new_block<C: TreeCtx>(ctx: &mut C, owner: u64, level: u8, first: &Key) -> Result<u64> {
    let bytenr = ctx.alloc_tree_block(owner, level, first)?;
    let r = (|| {
        let mut buf = Vec::from_elem(0u8, ctx.nodesize() as usize)?;
        range(&buf, 0, HEADER_SIZE)?;
        init_header(&mut buf, &ctx.header_init(bytenr, owner, level));
        set_nritems(&mut buf, 0);
        ctx.dirty_mut().insert(bytenr, buf)
    })();
    if let Err(e) = r {
        let _ = ctx.free_tree_block(owner, bytenr, level);
        return Err(e);
    }
    Ok(bytenr)
}

/// Forgets a block unlinked from its tree and releases it.
fn free_block<C: TreeCtx>(ctx: &mut C, owner: u64, bytenr: u64, level: u8) -> Result {
    ctx.dirty_mut().remove(bytenr);
    ctx.free_tree_block(owner, bytenr, level)
}

/// Copy-on-write of one block (`btrfs_cow_block`): returns the address of
/// a dirty copy, `bytenr` itself if it is dirty already. `parent` (dirty)
/// and the slot pointing at the block, or `None` for the root, is updated.
fn cow_block<C: TreeCtx>(
    ctx: &mut C,
    root: &mut RootNode,
    parent: Option<(u64, usize)>,
    bytenr: u64,
    level: u8,
    generation: u64,
) -> Result<u64> {
    if ctx.dirty().contains(bytenr) {
        return Ok(bytenr);
    }
    let nodesize = ctx.nodesize() as usize;
    let mut copy = Vec::with_capacity(nodesize)?;
    {
        let blk = read(ctx, bytenr, level, generation)?;
        let b = blk.as_ref();
        check_layout(b, nodesize, level)?;
        copy.extend_from_slice(b)?;
    }
    if let Some((p, slot)) = parent {
        if node_ptr(dref(ctx, p)?, slot)?.blockptr != bytenr {
            return Err(EUCLEAN);
        }
    } else if root.bytenr != bytenr || root.level != level {
        return Err(EUCLEAN);
    }
    let owner = root.objectid;
    let first = first_key(&copy)?;
    let new = ctx.alloc_tree_block(owner, level, &first)?;
    init_header(&mut copy, &ctx.header_init(new, owner, level));
    if let Err(e) = ctx.dirty_mut().insert(new, copy) {
        let _ = ctx.free_tree_block(owner, new, level);
        return Err(e);
    }
    let transid = ctx.transid();
    match parent {
        Some((p, slot)) => {
            let pb = dmut(ctx, p)?;
            let mut kp = node_ptr(pb, slot)?;
            kp.blockptr = new;
            kp.generation = transid;
            set_node_ptr(pb, slot, &kp)?;
        }
        None => {
            root.bytenr = new;
            root.generation = transid;
        }
    }
    ctx.cow_refs(owner, bytenr, generation, new, level, parent.is_none())?;
    Ok(new)
}

// ---------------------------------------------------------------------------
// Paths.

/// A position in a tree being changed (`struct btrfs_path`): for each
/// level from the leaf (0) up to the root, the block's address (0 = none),
/// its generation (to read it if it is clean) and the slot in it.
/// Holds no blocks and allocates nothing; any change to the tree other
/// than through this path makes it stale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WPath {
    nodes: [u64; LEVELS],
    gens: [u64; LEVELS],
    slots: [usize; LEVELS],
}

impl WPath {
    /// An empty path.
    pub const fn new() -> Self {
        WPath { nodes: [0; LEVELS], gens: [0; LEVELS], slots: [0; LEVELS] }
    }

    /// The slot in the leaf (may equal the leaf's item count: past its
    /// last item).
    pub fn slot(&self) -> usize {
        self.slots[0]
    }

    /// Address of the leaf, 0 if the path is empty.
    pub fn leaf(&self) -> u64 {
        self.nodes[0]
    }

    /// Sets the slot in the leaf.
    pub fn set_slot(&mut self, s: usize) {
        self.slots[0] = s;
    }

    /// Forgets every level.
    pub fn release(&mut self) {
        *self = Self::new();
    }

    /// The block at `level` and the slot in it, `None` above the root.
    pub fn node(&self, level: u8) -> Option<(u64, usize)> {
        let l = usize::from(level);
        match self.nodes.get(l) {
            Some(&b) if b != 0 => Some((b, self.slots[l])),
            _ => None,
        }
    }

    /// Generation of the block at `level` (as its parent records it).
    pub fn generation(&self, level: u8) -> u64 {
        self.gens.get(usize::from(level)).copied().unwrap_or(0)
    }
}

/// Sets the key of every pointer on the path to the first key of a block
/// at `level - 1` whose first key became `key` (`fixup_low_keys`): the
/// pointer at `level`, then up as long as it was a slot 0.
fn fixup_low_keys<C: TreeCtx>(ctx: &mut C, path: &WPath, level: usize, key: &Key) -> Result {
    for l in level..LEVELS {
        let b = path.nodes[l];
        if b == 0 {
            break;
        }
        let s = path.slots[l];
        set_node_key(dmut(ctx, b)?, s, key)?;
        if s != 0 {
            break;
        }
    }
    Ok(())
}

/// Whether every block of the path from the leaf to the root is dirty.
fn path_dirty<C: TreeCtx>(ctx: &C, root: Option<&RootNode>, path: &WPath) -> bool {
    let top = match root {
        Some(r) if path.nodes.get(usize::from(r.level)) != Some(&r.bytenr) => return false,
        Some(r) => usize::from(r.level),
        None => (0..LEVELS).rev().find(|&l| path.nodes[l] != 0).unwrap_or(0),
    };
    (0..=top).all(|l| path.nodes[l] != 0 && ctx.dirty().contains(path.nodes[l]))
}

/// Makes a new root node at `level` above the current root, with a single
/// pointer to it (`insert_new_root`).
fn insert_new_root<C: TreeCtx>(ctx: &mut C, root: &mut RootNode, path: &mut WPath, level: u8) -> Result {
    let l = usize::from(level);
    if l >= LEVELS || root.level + 1 != level {
        return Err(EOVERFLOW);
    }
    let first = first_key(dref(ctx, root.bytenr)?)?;
    let new = new_block(ctx, root.objectid, level, &first)?;
    let kp = KeyPtr { key: first, blockptr: root.bytenr, generation: root.generation };
    node_insert(dmut(ctx, new)?, 0, &kp)?;
    *root = RootNode { objectid: root.objectid, bytenr: new, level, generation: ctx.transid() };
    path.nodes[l] = new;
    path.gens[l] = root.generation;
    path.slots[l] = 0;
    Ok(())
}

/// Splits the (dirty) node at `level` of the path in two halves, growing
/// the tree if it is the root (`split_node`). The path is stale after.
fn split_node<C: TreeCtx>(ctx: &mut C, root: &mut RootNode, path: &mut WPath, level: u8) -> Result {
    if level == root.level {
        insert_new_root(ctx, root, path, level + 1)?;
    }
    let l = usize::from(level);
    let c = path.nodes[l];
    let n = nritems(dref(ctx, c)?)?;
    let mid = n.div_ceil(2);
    let first = node_ptr(dref(ctx, c)?, mid)?.key;
    let new = new_block(ctx, root.objectid, level, &first)?;
    {
        let (cb, nb) = dmut2(ctx, c, new)?;
        node_move(cb, mid, n - mid, nb, 0)?;
    }
    let kp = KeyPtr { key: first, blockptr: new, generation: ctx.transid() };
    node_insert(dmut(ctx, path.nodes[l + 1])?, path.slots[l + 1] + 1, &kp)
}

/// Removes key pointer `slot` of the node at `level` of the path
/// (`btrfs_del_ptr`), freeing nodes that become empty up the tree. An empty
/// tree gets a new empty root leaf. The path is stale after.
fn del_ptr<C: TreeCtx>(ctx: &mut C, root: &mut RootNode, path: &mut WPath, level: u8, slot: usize) -> Result {
    let mut level = level;
    let mut slot = slot;
    loop {
        let l = usize::from(level);
        let node = path.nodes[l];
        node_remove(dmut(ctx, node)?, slot, 1)?;
        let b = dref(ctx, node)?;
        if nritems(b)? > 0 {
            if slot == 0 {
                let k = node_ptr(b, 0)?.key;
                fixup_low_keys(ctx, path, l + 1, &k)?;
            }
            return Ok(());
        }
        free_block(ctx, root.objectid, node, level)?;
        if level == root.level {
            let new = new_block(ctx, root.objectid, 0, &Key::MIN)?;
            *root = RootNode { objectid: root.objectid, bytenr: new, level: 0, generation: ctx.transid() };
            path.release();
            path.nodes[0] = new;
            path.gens[0] = root.generation;
            return Ok(());
        }
        if l + 1 >= LEVELS {
            return Err(EUCLEAN);
        }
        slot = path.slots[l + 1];
        level += 1;
    }
}

/// While the root is a node with a single pointer, makes its child the
/// root (the tree shrinks).
fn shrink_root<C: TreeCtx>(ctx: &mut C, root: &mut RootNode) -> Result {
    while root.level > 0 {
        let kp = {
            let blk = read(ctx, root.bytenr, root.level, root.generation)?;
            let b = blk.as_ref();
            if nritems(b)? != 1 {
                return Ok(());
            }
            node_ptr(b, 0)?
        };
        // The child is copied on write before it becomes the root (C:
        // `balance_level`), as a child of the old root, so the new root
        // belongs to this transaction: commit writes its ROOT_ITEM with the
        // running transaction as generation, which must be the block's.
        let child = if ctx.dirty().contains(kp.blockptr) {
            kp.blockptr
        } else {
            let parent = cow_block(ctx, root, None, root.bytenr, root.level, root.generation)?;
            cow_block(ctx, root, Some((parent, 0)), kp.blockptr, root.level - 1, kp.generation)?
        };
        let generation = ctx.transid();
        free_block(ctx, root.objectid, root.bytenr, root.level)?;
        *root = RootNode { objectid: root.objectid, bytenr: child, level: root.level - 1, generation };
    }
    Ok(())
}

/// Rebalances the underfull (dirty, non-root) node at `level` of the path
/// with a sibling (`balance_level`): merges it into its left sibling or its
/// right sibling into it when they fit in one node, else moves pointers
/// from the fuller sibling. Returns whether anything changed (the path is
/// then stale).
fn balance_node<C: TreeCtx>(ctx: &mut C, root: &mut RootNode, path: &mut WPath, level: u8) -> Result<bool> {
    let l = usize::from(level);
    let mid = path.nodes[l];
    let parent = path.nodes[l + 1];
    let ps = path.slots[l + 1];
    let (pn, left, right) = {
        let pb = dref(ctx, parent)?;
        let pn = nritems(pb)?;
        let left = if ps > 0 { Some(node_ptr(pb, ps - 1)?) } else { None };
        let right = if ps + 1 < pn { Some(node_ptr(pb, ps + 1)?) } else { None };
        (pn, left, right)
    };
    if pn < 2 {
        return Ok(false);
    }
    let max = max_ptrs(ctx.nodesize());
    let mid_n = nritems(dref(ctx, mid)?)?;
    let count = |ctx: &C, p: &KeyPtr| -> Result<usize> { nritems(read(ctx, p.blockptr, level, p.generation)?.as_ref()) };
    let ln = match &left {
        Some(p) => count(ctx, p)?,
        None => 0,
    };
    let rn = match &right {
        Some(p) => count(ctx, p)?,
        None => 0,
    };
    if let Some(lp) = &left {
        if ln + mid_n <= max {
            let lb = cow_block(ctx, root, Some((parent, ps - 1)), lp.blockptr, level, lp.generation)?;
            let (mb, lbuf) = dmut2(ctx, mid, lb)?;
            node_move(mb, 0, mid_n, lbuf, ln)?;
            free_block(ctx, root.objectid, mid, level)?;
            del_ptr(ctx, root, path, level + 1, ps)?;
            return Ok(true);
        }
    }
    if let Some(rp) = &right {
        if mid_n + rn <= max {
            let rb = cow_block(ctx, root, Some((parent, ps + 1)), rp.blockptr, level, rp.generation)?;
            let (rbuf, mb) = dmut2(ctx, rb, mid)?;
            node_move(rbuf, 0, rn, mb, mid_n)?;
            free_block(ctx, root.objectid, rb, level)?;
            del_ptr(ctx, root, path, level + 1, ps + 1)?;
            return Ok(true);
        }
    }
    if let Some(lp) = left.filter(|_| ln > mid_n + 1) {
        let k = (ln - mid_n) / 2;
        let lb = cow_block(ctx, root, Some((parent, ps - 1)), lp.blockptr, level, lp.generation)?;
        let (lbuf, mb) = dmut2(ctx, lb, mid)?;
        node_move(lbuf, ln - k, k, mb, 0)?;
        let k0 = node_ptr(mb, 0)?.key;
        set_node_key(dmut(ctx, parent)?, ps, &k0)?;
        return Ok(true);
    }
    if let Some(rp) = right.filter(|_| rn > mid_n + 1) {
        let k = (rn - mid_n) / 2;
        let rb = cow_block(ctx, root, Some((parent, ps + 1)), rp.blockptr, level, rp.generation)?;
        let (rbuf, mb) = dmut2(ctx, rb, mid)?;
        node_move(rbuf, 0, k, mb, mid_n)?;
        let k0 = node_ptr(rbuf, 0)?.key;
        set_node_key(dmut(ctx, parent)?, ps + 1, &k0)?;
        return Ok(true);
    }
    Ok(false)
}

/// Moves leaf items `from..` of `leaf` into a new leaf whose parent pointer
/// (with key `first`) goes at `pslot` of `parent`.
fn split_off_leaf<C: TreeCtx>(
    ctx: &mut C,
    owner: u64,
    leaf: u64,
    from: usize,
    parent: u64,
    pslot: usize,
    first: &Key,
) -> Result<u64> {
    let new = new_block(ctx, owner, 0, first)?;
    {
        let (lb, nb) = dmut2(ctx, leaf, new)?;
        let n = nritems(lb)?;
        leaf_move(lb, from, sub(n, from)?, nb, 0)?;
    }
    let kp = KeyPtr { key: *first, blockptr: new, generation: ctx.transid() };
    node_insert(dmut(ctx, parent)?, pslot, &kp)?;
    Ok(new)
}

/// Splits the path's leaf so that `need` more bytes fit at the path's slot
/// (`split_leaf`): for an insert of `key` (`!extend`) a new item of `need`
/// bytes (head included) goes at the slot; for `extend` the item at the
/// slot grows by `need`. The items, with the new or grown one, are cut in
/// two leaves as evenly as fits, or in three with the new or grown item
/// alone in the middle. The path is left on the leaf and slot the item is
/// (to be) in.
fn split_leaf<C: TreeCtx>(
    ctx: &mut C,
    root: &mut RootNode,
    path: &mut WPath,
    key: &Key,
    need: usize,
    extend: bool,
) -> Result {
    let leaf = path.nodes[0];
    let slot = path.slots[0];
    let (n, dsize) = {
        let b = dref(ctx, leaf)?;
        let n = nritems(b)?;
        let dsize = data_size(b)?;
        let grown = if extend { add(item_cost(b, slot)?, need)? } else { need };
        if grown > dsize {
            return Err(EOVERFLOW);
        }
        (n, dsize)
    };
    if slot > n || (extend && slot >= n) {
        return Err(EUCLEAN);
    }
    if root.level == 0 {
        insert_new_root(ctx, root, path, 1)?;
    }
    let b = dref(ctx, leaf)?;
    // Units: the items, with the new one inserted at `slot` (or the one at
    // `slot` grown).
    let m = if extend { n } else { n + 1 };
    let unit = |j: usize| -> Result<usize> {
        if extend {
            add(item_cost(b, j)?, if j == slot { need } else { 0 })
        } else if j < slot {
            item_cost(b, j)
        } else if j == slot {
            Ok(need)
        } else {
            item_cost(b, j - 1)
        }
    };
    let mut total = 0usize;
    for j in 0..m {
        total = add(total, unit(j)?)?;
    }
    let mut best: Option<(usize, usize)> = None;
    let mut left = 0usize;
    for k in 1..m {
        left += unit(k - 1)?;
        let right = total - left;
        if left <= dsize && right <= dsize {
            let score = left.max(right);
            if best.is_none_or(|(_, s)| score < s) {
                best = Some((k, score));
            }
        }
    }
    // Unit groups [0, k1), [k1, k2), [k2, m).
    let (k1, k2) = match best {
        Some((k, _)) => (k, m),
        None if slot > 0 && slot + 1 < m => (slot, slot + 1),
        None => return Err(EUCLEAN),
    };
    // Old items among units [0, j).
    let olds = |j: usize| if extend || j <= slot { j } else { j - 1 };
    let group_first = |k: usize| -> Result<Key> {
        if !extend && k == slot {
            Ok(*key)
        } else {
            item_key_at(b, olds(k))
        }
    };
    let first2 = if k2 < m { Some(group_first(k2)?) } else { None };
    let first1 = group_first(k1)?;
    let parent = path.nodes[1];
    let ps = path.slots[1];
    let owner = root.objectid;
    let mut leaves = [leaf, 0, 0];
    if let Some(f) = first2 {
        leaves[2] = split_off_leaf(ctx, owner, leaf, olds(k2), parent, ps + 1, &f)?;
    }
    leaves[1] = split_off_leaf(ctx, owner, leaf, olds(k1), parent, ps + 1, &first1)?;
    let (g, start) = if slot < k1 {
        (0, 0)
    } else if slot < k2 {
        (1, k1)
    } else {
        (2, k2)
    };
    path.nodes[0] = leaves[g];
    path.gens[0] = ctx.transid();
    path.slots[0] = slot - start;
    path.slots[1] = ps + g;
    if g == 0 && olds(k1) == 0 {
        // The new item will be the only one of the old leaf: it leads it.
        fixup_low_keys(ctx, path, 1, key)?;
    }
    if leaf_free(dref(ctx, path.nodes[0])?)? < need {
        return Err(EUCLEAN);
    }
    Ok(())
}

/// Searches for `key` in the tree of `root` (`btrfs_search_slot`).
///
/// Returns whether an item with that key exists; the path is on it, or on
/// the slot where it would be inserted (which may equal the leaf's item
/// count). `ins_len > 0`: the leaf is made to have `ins_len` free bytes
/// (for a new item: data size + [`ITEM_SIZE`]; for an existing key: bytes
/// its item will grow by), splitting nodes and leaves on the way.
/// `ins_len < 0`: a delete follows; underfull nodes on the way are merged
/// and the tree shrinks when its root has one child. `cow`: every block on
/// the path is copied into the running transaction (required when
/// `ins_len != 0` or the caller will change the leaf, else `EINVAL`).
/// Without `cow` the path may hold clean blocks, good for reading only.
/// On error the path is released.
pub fn search_slot<C: TreeCtx>(
    ctx: &mut C,
    root: &mut RootNode,
    key: &Key,
    path: &mut WPath,
    ins_len: i32,
    cow: bool,
) -> Result<bool> {
    search(ctx, root, key, path, ins_len, cow, true)
}

fn search<C: TreeCtx>(
    ctx: &mut C,
    root: &mut RootNode,
    key: &Key,
    path: &mut WPath,
    ins_len: i32,
    cow: bool,
    extend: bool,
) -> Result<bool> {
    if ins_len != 0 && !cow {
        return Err(EINVAL);
    }
    let r = search_inner(ctx, root, key, path, ins_len, cow, extend);
    if r.is_err() {
        path.release();
    }
    r
}

/// Search results at one level: item count, slot, exact match, child.
type LevelInfo = (usize, usize, bool, Option<KeyPtr>);

/// Reads the block at `level` of a search for `key` (checking it starts
/// with `want_first`, the key its parent points with) and finds the slot.
fn level_info<C: TreeCtx>(
    ctx: &C,
    bytenr: u64,
    level: u8,
    gen: u64,
    want_first: Option<Key>,
    key: &Key,
) -> Result<LevelInfo> {
    let blk = read(ctx, bytenr, level, gen)?;
    let tb = TreeBlock::new(blk.as_ref())?;
    let n = tb.nritems() as usize;
    if let Some(want) = want_first {
        if n == 0 || tb.key(0)? != want {
            return Err(EUCLEAN);
        }
    }
    if level == 0 {
        return Ok(match tb.bin_search(key)? {
            Ok(s) => (n, s, true, None),
            Err(s) => (n, s, false, None),
        });
    }
    if n == 0 {
        return Err(EUCLEAN);
    }
    let s = tb.child_slot(key)?;
    Ok((n, s, false, Some(tb.key_ptr(s)?)))
}

/// [`search_slot`] without COW and without changing anything, through a
/// shared context: the path may hold clean blocks and is good for reading
/// ([`item_key`], [`read_item`], [`next_item`]...) only.
pub fn search_slot_ro<C: TreeCtx>(ctx: &C, root: &RootNode, key: &Key, path: &mut WPath) -> Result<bool> {
    path.release();
    let r = (|| {
        if usize::from(root.level) >= LEVELS {
            return Err(EUCLEAN);
        }
        let (mut level, mut bytenr, mut gen) = (root.level, root.bytenr, root.generation);
        let mut want_first = None;
        loop {
            let l = usize::from(level);
            let (_, slot, found, child) = level_info(ctx, bytenr, level, gen, want_first, key)?;
            path.nodes[l] = bytenr;
            path.gens[l] = gen;
            path.slots[l] = slot;
            let Some(kp) = child else { return Ok(found) };
            want_first = Some(kp.key);
            bytenr = kp.blockptr;
            gen = kp.generation;
            level = level.checked_sub(1).ok_or(EUCLEAN)?;
        }
    })();
    if r.is_err() {
        path.release();
    }
    r
}

fn search_inner<C: TreeCtx>(
    ctx: &mut C,
    root: &mut RootNode,
    key: &Key,
    path: &mut WPath,
    ins_len: i32,
    cow: bool,
    extend: bool,
) -> Result<bool> {
    let max = max_ptrs(ctx.nodesize());
    let mut balanced = 0u32;
    // Each restart follows a split (at most one per level and the root),
    // a root shrink, or the rebalance of a level not yet rebalanced.
    'again: for _ in 0..4 * LEVELS + 4 {
        path.release();
        if usize::from(root.level) >= LEVELS {
            return Err(EUCLEAN);
        }
        let mut level = root.level;
        let mut bytenr = root.bytenr;
        let mut gen = root.generation;
        let mut want_first: Option<Key> = None;
        loop {
            let l = usize::from(level);
            if cow {
                let parent = if level == root.level { None } else { Some((path.nodes[l + 1], path.slots[l + 1])) };
                bytenr = cow_block(ctx, root, parent, bytenr, level, gen)?;
                gen = ctx.transid();
            }
            path.nodes[l] = bytenr;
            path.gens[l] = gen;
            let (n, slot, found, child) = level_info(ctx, bytenr, level, gen, want_first, key)?;
            path.slots[l] = slot;
            if level == 0 {
                if ins_len > 0 && (extend || !found) {
                    let need = ins_len as usize;
                    if leaf_free(dref(ctx, bytenr)?)? < need {
                        split_leaf(ctx, root, path, key, need, found)?;
                    }
                }
                return Ok(found);
            }
            if ins_len > 0 && n + 3 >= max {
                split_node(ctx, root, path, level)?;
                continue 'again;
            }
            if ins_len < 0 {
                if level == root.level && n == 1 {
                    shrink_root(ctx, root)?;
                    continue 'again;
                }
                if level < root.level && n < max / 4 && balanced & (1 << l) == 0 {
                    balanced |= 1 << l;
                    if balance_node(ctx, root, path, level)? {
                        continue 'again;
                    }
                }
            }
            let kp = child.ok_or(EUCLEAN)?;
            want_first = Some(kp.key);
            bytenr = kp.blockptr;
            gen = kp.generation;
            level -= 1;
        }
    }
    Err(EUCLEAN)
}

/// Inserts an item of `data_size` zeroed bytes at `key`
/// (`btrfs_insert_empty_item`). `EEXIST` if the key exists (the path is
/// then on that item, its leaf not made any roomier), `EOVERFLOW` if the
/// item cannot fit in a leaf. On success the path is on the new item, every
/// block on it dirty.
pub fn insert_empty_item<C: TreeCtx>(
    ctx: &mut C,
    root: &mut RootNode,
    path: &mut WPath,
    key: &Key,
    data_size: u32,
) -> Result {
    if data_size > max_item_size(ctx.nodesize()) {
        return Err(EOVERFLOW);
    }
    let ds = data_size as usize;
    let ins_len = i32::try_from(ds + ITEM_SIZE).map_err(|_| EOVERFLOW)?;
    if search(ctx, root, key, path, ins_len, true, false)? {
        return Err(EEXIST);
    }
    let slot = path.slots[0];
    let b = dmut(ctx, path.nodes[0])?;
    let end = leaf_open_gap(b, slot, 1, ds)?;
    let start = sub(end, ds)?;
    set_item_head(b, slot, key, start, ds)?;
    zero(b, HEADER_SIZE + start, ds)?;
    if slot == 0 {
        fixup_low_keys(ctx, path, 1, key)?;
    }
    Ok(())
}

/// Inserts an item with a copy of `data` at `key` (`btrfs_insert_item`).
pub fn insert_item<C: TreeCtx>(ctx: &mut C, root: &mut RootNode, key: &Key, data: &[u8]) -> Result {
    let mut path = WPath::new();
    let size = u32::try_from(data.len()).map_err(|_| EOVERFLOW)?;
    insert_empty_item(ctx, root, &mut path, key, size)?;
    item_data_mut(ctx, &path)?.copy_from_slice(data);
    Ok(())
}

/// Deletes `nr` items from the path's slot on, all in its leaf
/// (`btrfs_del_items`); the path comes from [`search_slot`] with
/// `ins_len < 0` and `cow`. An emptied leaf is freed (and nodes emptied
/// by that, up the tree); a leaf left under a third full gives its items to
/// its siblings when they all fit, and is freed; a root node left with one
/// child gives way to it. Afterwards the path is where the first deleted
/// key would be (a search without COW: blocks may be clean).
pub fn del_items<C: TreeCtx>(ctx: &mut C, root: &mut RootNode, path: &mut WPath, nr: usize) -> Result {
    if nr == 0 {
        return Ok(());
    }
    if !path_dirty(ctx, Some(root), path) {
        return Err(EINVAL);
    }
    let leaf = path.nodes[0];
    let slot = path.slots[0];
    let (n, gone) = {
        let b = dref(ctx, leaf)?;
        let n = nritems(b)?;
        if slot.checked_add(nr).is_none_or(|e| e > n) {
            return Err(EINVAL);
        }
        (n, item_key_at(b, slot)?)
    };
    leaf_close(dmut(ctx, leaf)?, slot, nr)?;
    if root.level > 0 {
        if n == nr {
            free_block(ctx, root.objectid, leaf, 0)?;
            del_ptr(ctx, root, path, 1, path.slots[1])?;
        } else {
            let (k0, used, dsize) = {
                let b = dref(ctx, leaf)?;
                let dsize = data_size(b)?;
                (item_key_at(b, 0)?, sub(dsize, leaf_free(b)?)?, dsize)
            };
            if slot == 0 {
                fixup_low_keys(ctx, path, 1, &k0)?;
            }
            if used < dsize / 3 {
                merge_leaf(ctx, root, path)?;
            }
        }
        shrink_root(ctx, root)?;
    }
    search(ctx, root, &gone, path, 0, false, true)?;
    Ok(())
}

/// Moves every item of the path's leaf into its siblings (a front part to
/// the left one, the rest to the right one) if they fit, and frees it.
fn merge_leaf<C: TreeCtx>(ctx: &mut C, root: &mut RootNode, path: &mut WPath) -> Result {
    let leaf = path.nodes[0];
    let parent = path.nodes[1];
    let ps = path.slots[1];
    let (left, right) = {
        let pb = dref(ctx, parent)?;
        let pn = nritems(pb)?;
        let left = if ps > 0 { Some(node_ptr(pb, ps - 1)?) } else { None };
        let right = if ps + 1 < pn { Some(node_ptr(pb, ps + 1)?) } else { None };
        (left, right)
    };
    let free_of = |ctx: &C, p: &Option<KeyPtr>| -> Result<Option<(KeyPtr, usize, usize)>> {
        match p {
            Some(p) => {
                let blk = read(ctx, p.blockptr, 0, p.generation)?;
                Ok(Some((*p, leaf_free(blk.as_ref())?, nritems(blk.as_ref())?)))
            }
            None => Ok(None),
        }
    };
    let left = free_of(ctx, &left)?;
    let right = free_of(ctx, &right)?;
    let b = dref(ctx, leaf)?;
    let n = nritems(b)?;
    let mut k = 0;
    if let Some((_, free, _)) = left {
        let mut acc = 0;
        while k < n {
            acc = add(acc, item_cost(b, k)?)?;
            if acc > free {
                break;
            }
            k += 1;
        }
    }
    let rest = n - k;
    if rest > 0 {
        match right {
            Some((_, free, _)) if items_cost(b, k, rest)? <= free => {}
            _ => return Ok(()),
        }
    }
    if let Some((lp, _, ln)) = left.filter(|_| k > 0) {
        let lb = cow_block(ctx, root, Some((parent, ps - 1)), lp.blockptr, 0, lp.generation)?;
        let (src, dst) = dmut2(ctx, leaf, lb)?;
        leaf_move(src, 0, k, dst, ln)?;
    }
    if let Some((rp, _, _)) = right.filter(|_| rest > 0) {
        let rb = cow_block(ctx, root, Some((parent, ps + 1)), rp.blockptr, 0, rp.generation)?;
        let k0 = {
            let (src, dst) = dmut2(ctx, leaf, rb)?;
            leaf_move(src, 0, rest, dst, 0)?;
            item_key_at(dst, 0)?
        };
        set_node_key(dmut(ctx, parent)?, ps + 1, &k0)?;
    }
    free_block(ctx, root.objectid, leaf, 0)?;
    del_ptr(ctx, root, path, 1, ps)
}

/// The dirty leaf of the path and its slot, which must be on an item.
fn leaf_slot<'a, C: TreeCtx>(ctx: &'a mut C, path: &WPath) -> Result<(&'a mut [u8], usize, usize)> {
    let slot = path.slots[0];
    let b = ctx.dirty_mut().get_mut(path.nodes[0]).ok_or(EINVAL)?;
    let n = nritems(b)?;
    if slot >= n {
        return Err(ENOENT);
    }
    Ok((b, slot, n))
}

/// Grows the item at the path by `extra` zeroed bytes at its end
/// (`btrfs_extend_item`). The leaf must be dirty (else `EINVAL`) and have
/// the room (search with `ins_len = extra`), else `EOVERFLOW`.
pub fn extend_item<C: TreeCtx>(ctx: &mut C, path: &WPath, extra: u32) -> Result {
    let (b, slot, n) = leaf_slot(ctx, path)?;
    let extra = extra as usize;
    if extra == 0 {
        return Ok(());
    }
    if leaf_free(b)? < extra {
        return Err(EOVERFLOW);
    }
    let data_end = leaf_data_end(b)?;
    let off = item_off(b, slot)?;
    let size = item_size(b, slot)?;
    let end = add(off, size)?;
    mv(b, HEADER_SIZE + data_end, HEADER_SIZE + sub(data_end, extra)?, sub(end, data_end)?)?;
    for i in slot..n {
        let o = sub(item_off(b, i)?, extra)?;
        set_item_off(b, i, o)?;
    }
    set_item_size(b, slot, size + extra)?;
    zero(b, HEADER_SIZE + sub(end, extra)?, extra)
}

/// Shrinks the item at the path to `new_size` bytes
/// (`btrfs_truncate_item`): keeps its first `new_size` bytes if
/// `from_end`, else its last `new_size` bytes. Unlike C, the key is never
/// changed (use [`set_item_key`]). The leaf must be dirty, else `EINVAL`;
/// `new_size` above the item size is `EINVAL`.
pub fn truncate_item<C: TreeCtx>(ctx: &mut C, path: &WPath, new_size: u32, from_end: bool) -> Result {
    let (b, slot, n) = leaf_slot(ctx, path)?;
    let size = item_size(b, slot)?;
    let new_size = new_size as usize;
    if new_size > size {
        return Err(EINVAL);
    }
    let shrink = size - new_size;
    if shrink == 0 {
        return Ok(());
    }
    let data_end = leaf_data_end(b)?;
    let off = item_off(b, slot)?;
    let moved_end = if from_end { add(off, new_size)? } else { off };
    mv(b, HEADER_SIZE + data_end, HEADER_SIZE + add(data_end, shrink)?, sub(moved_end, data_end)?)?;
    for i in slot..n {
        let o = add(item_off(b, i)?, shrink)?;
        set_item_off(b, i, o)?;
    }
    set_item_size(b, slot, new_size)?;
    zero(b, HEADER_SIZE + data_end, shrink)
}

/// Reads the path's leaf, and checks the slot is on an item.
fn leaf_ref<'a, C: TreeCtx>(ctx: &'a C, path: &WPath) -> Result<(Blk<'a, C>, usize)> {
    if path.nodes[0] == 0 {
        return Err(ENOENT);
    }
    let blk = read(ctx, path.nodes[0], 0, path.gens[0])?;
    if path.slots[0] >= nritems(blk.as_ref())? {
        return Err(ENOENT);
    }
    Ok((blk, path.slots[0]))
}

/// The key of the item at the path; `ENOENT` past the end of a leaf.
pub fn item_key<C: TreeCtx>(ctx: &C, path: &WPath) -> Result<Key> {
    let (blk, slot) = leaf_ref(ctx, path)?;
    item_key_at(blk.as_ref(), slot)
}

/// The data of the item at the path, in a dirty leaf: a clean leaf (from a
/// search without COW or a [`next_item`] walk) gives `EINVAL`; use
/// [`read_item`] for those.
pub fn item_data<'a, C: TreeCtx>(ctx: &'a C, path: &WPath) -> Result<&'a [u8]> {
    let b = ctx.dirty().get(path.nodes[0]).ok_or(EINVAL)?;
    if path.slots[0] >= nritems(b)? {
        return Err(ENOENT);
    }
    Ok(TreeBlock::new(b)?.item_data(path.slots[0])?)
}

/// The data of the item at the path, to change; the leaf must be dirty
/// (searched with `cow`), else `EINVAL`.
pub fn item_data_mut<'a, C: TreeCtx>(ctx: &'a mut C, path: &WPath) -> Result<&'a mut [u8]> {
    let (b, slot, _) = leaf_slot(ctx, path)?;
    let off = item_off(b, slot)?;
    let size = item_size(b, slot)?;
    range_mut(b, HEADER_SIZE + off, size)
}

/// An item read through a path, in a dirty or clean leaf.
pub struct ItemRef<'a, B> {
    block: BlockRef<'a, B>,
    key: Key,
    start: usize,
    end: usize,
}

impl<B: AsRef<[u8]>> ItemRef<'_, B> {
    /// The item's key.
    pub fn key(&self) -> Key {
        self.key
    }

    /// The item's data.
    pub fn data(&self) -> &[u8] {
        self.block.as_ref().get(self.start..self.end).unwrap_or(&[])
    }
}

/// The item at the path, dirty or clean leaf alike.
pub fn read_item<'a, C: TreeCtx>(ctx: &'a C, path: &WPath) -> Result<ItemRef<'a, <C::Src as TreeSource>::Block>> {
    let (block, slot) = leaf_ref(ctx, path)?;
    let (key, start, end) = {
        let tb = TreeBlock::new(block.as_ref())?;
        let h = tb.item_head(slot)?;
        tb.item_data(slot)?;
        let start = HEADER_SIZE + h.offset as usize;
        (h.key, start, start + h.size as usize)
    };
    Ok(ItemRef { block, key, start, end })
}

/// Free bytes in the path's leaf (`btrfs_leaf_free_space`).
pub fn leaf_free_space<C: TreeCtx>(ctx: &C, path: &WPath) -> Result<usize> {
    if path.nodes[0] == 0 {
        return Err(ENOENT);
    }
    leaf_free(read(ctx, path.nodes[0], 0, path.gens[0])?.as_ref())
}

/// Item count of the path's leaf.
pub fn leaf_nritems<C: TreeCtx>(ctx: &C, path: &WPath) -> Result<usize> {
    if path.nodes[0] == 0 {
        return Err(ENOENT);
    }
    nritems(read(ctx, path.nodes[0], 0, path.gens[0])?.as_ref())
}

/// Replaces the key of the item at the path (`btrfs_set_item_key_safe`).
/// The new key must sort strictly between the item's neighbours, in this
/// leaf or the next and previous ones, else `EINVAL`. The leaf (and, for
/// slot 0, its ancestors, whose keys follow) must be dirty, else `EINVAL`.
pub fn set_item_key<C: TreeCtx>(ctx: &mut C, path: &WPath, key: &Key) -> Result {
    let (slot, n) = {
        let (b, slot, n) = leaf_slot(ctx, path)?;
        if slot > 0 && item_key_at(b, slot - 1)? >= *key {
            return Err(EINVAL);
        }
        if slot + 1 < n && *key >= item_key_at(b, slot + 1)? {
            return Err(EINVAL);
        }
        (slot, n)
    };
    if slot == 0 {
        if !path_dirty(ctx, None, path) {
            return Err(EINVAL);
        }
        let mut p = *path;
        if prev_item(ctx, &mut p)? && item_key(ctx, &p)? >= *key {
            return Err(EINVAL);
        }
    }
    if slot + 1 == n {
        let mut p = *path;
        if next_item(ctx, &mut p)? && *key >= item_key(ctx, &p)? {
            return Err(EINVAL);
        }
    }
    wr(dmut(ctx, path.nodes[0])?, entry(slot, ITEM_SIZE)?, &key.to_disk())?;
    if slot == 0 {
        fixup_low_keys(ctx, path, 1, key)?;
    }
    Ok(())
}

/// Moves the path to the next item in key order, into the next leaf if
/// needed (`btrfs_next_item`), without COW: blocks entered may be clean.
/// Returns `false` at the end of the tree (the path is then past the last
/// item of the last leaf).
pub fn next_item<C: TreeCtx>(ctx: &C, path: &mut WPath) -> Result<bool> {
    step(ctx, path, true)
}

/// Moves the path to the previous item in key order, without COW. Returns
/// `false` (the path unchanged) at the start of the tree.
pub fn prev_item<C: TreeCtx>(ctx: &C, path: &mut WPath) -> Result<bool> {
    step(ctx, path, false)
}

fn step<C: TreeCtx>(ctx: &C, path: &mut WPath, forward: bool) -> Result<bool> {
    if path.nodes[0] == 0 {
        return Ok(false);
    }
    let n = nritems(read(ctx, path.nodes[0], 0, path.gens[0])?.as_ref())?;
    if forward && path.slots[0] + 1 < n {
        path.slots[0] += 1;
        return Ok(true);
    }
    if !forward && path.slots[0] > 0 && n > 0 {
        path.slots[0] = path.slots[0].min(n) - 1;
        return Ok(true);
    }
    // The lowest ancestor with a neighbouring slot that way.
    let mut l = 1;
    loop {
        if l >= LEVELS || path.nodes[l] == 0 {
            if forward {
                path.slots[0] = n;
            }
            return Ok(false);
        }
        let pn = nritems(read(ctx, path.nodes[l], l as u8, path.gens[l])?.as_ref())?;
        let s = path.slots[l];
        if forward && s + 1 < pn {
            break;
        }
        if !forward && s > 0 && s <= pn {
            break;
        }
        l += 1;
    }
    let mut nodes = path.nodes;
    let mut gens = path.gens;
    let mut slots = path.slots;
    slots[l] = if forward { slots[l] + 1 } else { slots[l] - 1 };
    while l > 0 {
        let kp = node_ptr(read(ctx, nodes[l], l as u8, gens[l])?.as_ref(), slots[l])?;
        l -= 1;
        let blk = read(ctx, kp.blockptr, l as u8, kp.generation)?;
        let cn = nritems(blk.as_ref())?;
        if cn == 0 || first_key(blk.as_ref())? != kp.key {
            return Err(EUCLEAN);
        }
        nodes[l] = kp.blockptr;
        gens[l] = kp.generation;
        slots[l] = if forward { 0 } else { cn - 1 };
    }
    path.nodes = nodes;
    path.gens = gens;
    path.slots = slots;
    Ok(true)
}
