// SPDX-License-Identifier: GPL-2.0

//! The tree search of `BTRFS_IOC_TREE_SEARCH` and `_V2` (C: `search_ioctl`,
//! `copy_to_sk` and `btrfs_search_forward` in `ioctl.c` and `ctree.c`).
//!
//! A search takes a slice of one tree: the items whose key lies between
//! `(min_objectid, min_type, min_offset)` and `(max_objectid, max_type,
//! max_offset)` in key order (a range of the 136-bit key space, not three
//! separate ranges), in leaves written between `min_transid` and
//! `max_transid`. Each item found goes out as a 32-byte
//! `struct btrfs_ioctl_search_header` (transid = the leaf's generation,
//! objectid, offset, type, len) followed by the item's bytes, until the
//! range ends, `nr_items` items are out or the next one does not fit.
//!
//! The search runs leaf by leaf ([`search_leaf`]): the caller holds its
//! locks only for one leaf, copies that leaf's output out and comes back
//! with the [`Cursor`], as C releases its path between leaves. Subtrees
//! whose pointer generation is below `min_transid` are skipped without
//! being read, as `btrfs_search_forward` does; leaves newer than
//! `max_transid` are read and skipped.

#![forbid(unsafe_code)]

use crate::ctree::{Key, SearchError, TreeBlock, TreeError, TreeSource};
use crate::extent_io::RootNode;
use crate::format::MAX_LEVEL;
use crate::mem::{NoMem, Vec};

/// Size of `struct btrfs_ioctl_search_key`.
pub const SEARCH_KEY_SIZE: usize = 104;
/// Size of `struct btrfs_ioctl_search_header`.
pub const SEARCH_HEADER_SIZE: usize = 32;
/// Offset of `nr_items` in `struct btrfs_ioctl_search_key`.
pub const NR_ITEMS_OFFSET: usize = 64;

const LEVELS: usize = MAX_LEVEL as usize;

/// The search criteria (`struct btrfs_ioctl_search_key`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchKey {
    /// The tree; 0 is the subvolume of the file the ioctl was issued on.
    pub tree_id: u64,
    /// Lowest objectid of the range.
    pub min_objectid: u64,
    /// Highest objectid of the range.
    pub max_objectid: u64,
    /// Lowest offset of the range.
    pub min_offset: u64,
    /// Highest offset of the range.
    pub max_offset: u64,
    /// Oldest leaf generation wanted.
    pub min_transid: u64,
    /// Newest leaf generation wanted.
    pub max_transid: u64,
    /// Lowest type (only its low 8 bits count, as in C's `btrfs_key`).
    pub min_type: u32,
    /// Highest type (low 8 bits).
    pub max_type: u32,
    /// At most this many items (0 still returns one, as C does).
    pub nr_items: u32,
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(w)
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(w)
}

impl SearchKey {
    /// Decodes the struct as user space laid it out.
    pub fn parse(b: &[u8; SEARCH_KEY_SIZE]) -> Self {
        SearchKey {
            tree_id: u64_at(b, 0),
            min_objectid: u64_at(b, 8),
            max_objectid: u64_at(b, 16),
            min_offset: u64_at(b, 24),
            max_offset: u64_at(b, 32),
            min_transid: u64_at(b, 40),
            max_transid: u64_at(b, 48),
            min_type: u32_at(b, 56),
            max_type: u32_at(b, 60),
            nr_items: u32_at(b, NR_ITEMS_OFFSET),
        }
    }

    /// The first key of the range.
    pub fn min_key(&self) -> Key {
        Key::new(self.min_objectid, self.min_type as u8, self.min_offset)
    }

    /// The last key of the range.
    pub fn max_key(&self) -> Key {
        Key::new(self.max_objectid, self.max_type as u8, self.max_offset)
    }
}

/// Where a search stands between leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The next key to look at.
    pub key: Key,
    /// Bytes of the user's buffer filled so far.
    pub used: u64,
    /// Items found so far.
    pub found: u32,
    /// Size of the user's buffer; on [`Step::Overflow`], the size the item
    /// that did not fit needs (header included).
    pub buf_size: u64,
}

impl Cursor {
    /// A search of `sk` into a buffer of `buf_size` bytes. `Err` with the
    /// size needed if not even a header fits (C: `EOVERFLOW`).
    pub fn new(sk: &SearchKey, buf_size: u64) -> Result<Self, u64> {
        if buf_size < SEARCH_HEADER_SIZE as u64 {
            return Err(SEARCH_HEADER_SIZE as u64);
        }
        Ok(Cursor { key: sk.min_key(), used: 0, found: 0, buf_size })
    }
}

/// What the search does after a leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Go on with the next leaf.
    More,
    /// Finished: the range ended, `nr_items` were found or the buffer is
    /// full.
    Done,
    /// The first item found is larger than the whole buffer: a header with
    /// `len` 0 went out for it and [`Cursor::buf_size`] says what it needs
    /// (C: `EOVERFLOW`, which version 1 reports as success).
    Overflow,
}

/// Why a search failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchFail<E> {
    /// Reading a block failed.
    Read(E),
    /// A block is corrupt.
    Tree(TreeError),
    /// Out of memory.
    NoMem,
}

impl<E> From<SearchError<E>> for SearchFail<E> {
    fn from(e: SearchError<E>) -> Self {
        match e {
            SearchError::Read(e) => SearchFail::Read(e),
            SearchError::Tree(t) => SearchFail::Tree(t),
        }
    }
}

impl<E> From<TreeError> for SearchFail<E> {
    fn from(e: TreeError) -> Self {
        SearchFail::Tree(e)
    }
}

impl<E> From<NoMem> for SearchFail<E> {
    fn from(_: NoMem) -> Self {
        SearchFail::NoMem
    }
}

/// The key right after `k`, if any.
fn key_after(k: Key) -> Option<Key> {
    if k.offset < u64::MAX {
        Some(Key::new(k.objectid, k.ty, k.offset + 1))
    } else if k.ty < u8::MAX {
        Some(Key::new(k.objectid, k.ty + 1, 0))
    } else if k.objectid < u64::MAX {
        Some(Key::new(k.objectid + 1, 0, 0))
    } else {
        None
    }
}

/// Reads the child `slot` of `node` at `level` and checks what the parent
/// pointer promises.
fn read_child<S: TreeSource>(src: &S, node: &TreeBlock<'_>, slot: usize, level: u8) -> Result<S::Block, SearchFail<S::Error>> {
    let ptr = node.key_ptr(slot)?;
    let child = src.read_tree_block(ptr.blockptr, level, ptr.generation).map_err(SearchFail::Read)?;
    {
        let tb = TreeBlock::new(child.as_ref())?;
        if tb.level() != level {
            return Err(TreeError::LevelMismatch { bytenr: ptr.blockptr, want: level, have: tb.level() }.into());
        }
        if tb.nritems() == 0 {
            return Err(TreeError::EmptyChild { bytenr: ptr.blockptr }.into());
        }
        let have = tb.key(0)?;
        if have != ptr.key {
            return Err(TreeError::FirstKeyMismatch { bytenr: ptr.blockptr, want: ptr.key, have }.into());
        }
    }
    Ok(child)
}

/// The first key after the path's position at `level` or above whose
/// subtree is at least `min_trans` new (C: `btrfs_find_next_key`).
fn find_next_key<B: AsRef<[u8]>>(path: &[Option<(B, usize)>], level: usize, min_trans: u64) -> Result<Option<Key>, TreeError> {
    for l in level..LEVELS {
        let Some((b, s)) = &path[l] else { return Ok(None) };
        let tb = TreeBlock::new(b.as_ref())?;
        for slot in s + 1..tb.nritems() as usize {
            if l == 0 {
                return Ok(Some(tb.key(slot)?));
            }
            let p = tb.key_ptr(slot)?;
            if p.generation >= min_trans {
                return Ok(Some(p.key));
            }
        }
    }
    Ok(None)
}

/// Finds the first item at or after `min_key` in a leaf reached only
/// through pointers at least `min_trans` new (C: `btrfs_search_forward`):
/// the leaf and the slot, with `min_key` set to the item's key. `None`
/// when there is no such item.
pub fn search_forward<S: TreeSource>(
    src: &S,
    root: &RootNode,
    min_key: &mut Key,
    min_trans: u64,
) -> Result<Option<(S::Block, usize)>, SearchFail<S::Error>> {
    if root.level >= MAX_LEVEL {
        return Err(TreeError::BadLevel { bytenr: root.bytenr, level: root.level }.into());
    }
    loop {
        let rb = src.read_tree_block(root.bytenr, root.level, root.generation).map_err(SearchFail::Read)?;
        {
            let tb = TreeBlock::new(rb.as_ref())?;
            if tb.level() != root.level {
                return Err(TreeError::LevelMismatch { bytenr: root.bytenr, want: root.level, have: tb.level() }.into());
            }
            if tb.generation() < min_trans {
                return Ok(None);
            }
        }
        let mut path: [Option<(S::Block, usize)>; LEVELS] = core::array::from_fn(|_| None);
        let mut cur = rb;
        let mut level = root.level;
        let stuck_at = loop {
            let (slot, next) = {
                let tb = TreeBlock::new(cur.as_ref())?;
                let nritems = tb.nritems() as usize;
                let found = tb.bin_search(min_key)?;
                if level == 0 {
                    let slot = match found {
                        Ok(s) | Err(s) => s,
                    };
                    if slot < nritems {
                        *min_key = tb.key(slot)?;
                        return Ok(Some((cur, slot)));
                    }
                    (slot, None)
                } else {
                    let mut slot = match found {
                        Ok(s) => s,
                        Err(s) => s.saturating_sub(1),
                    };
                    while slot < nritems && tb.key_ptr(slot)?.generation < min_trans {
                        slot += 1;
                    }
                    if slot >= nritems {
                        (slot, None)
                    } else {
                        (slot, Some(read_child(src, &tb, slot, level - 1)?))
                    }
                }
            };
            let idx = usize::from(level);
            match next {
                None => {
                    path[idx] = Some((cur, slot));
                    break idx;
                }
                Some(child) => {
                    path[idx] = Some((cur, slot));
                    cur = child;
                    level -= 1;
                }
            }
        };
        match find_next_key(&path, stuck_at, min_trans)? {
            // Keys only grow; a smaller one means the node is corrupt
            // (and would make us loop forever).
            Some(k) if k > *min_key => *min_key = k,
            Some(k) => {
                return Err(TreeError::FirstKeyMismatch { bytenr: root.bytenr, want: *min_key, have: k }.into());
            }
            None => return Ok(None),
        }
    }
}

/// One leaf of a search (C: one `btrfs_search_forward` + `copy_to_sk`):
/// finds the next leaf from `c.key`, appends what goes out for it to
/// `out` (headers and item bytes, to be copied to the user's buffer at
/// offset `c.used` as it was before the call) and moves the cursor on.
pub fn search_leaf<S: TreeSource>(
    src: &S,
    root: &RootNode,
    sk: &SearchKey,
    c: &mut Cursor,
    out: &mut Vec<u8>,
) -> Result<Step, SearchFail<S::Error>> {
    let Some((leaf, slot)) = search_forward(src, root, &mut c.key, sk.min_transid)? else {
        return Ok(Step::Done);
    };
    let tb = TreeBlock::new(leaf.as_ref())?;
    let nritems = tb.nritems() as usize;
    let (min, max) = (sk.min_key(), sk.max_key());
    let gen = tb.generation();
    if gen > sk.max_transid {
        // Nothing of this leaf goes out: go on after its last item.
        c.key = tb.key(nritems - 1)?;
    } else {
        for i in slot..nritems {
            let item = tb.item(i)?;
            c.key = item.key;
            if item.key < min || item.key > max {
                continue;
            }
            let head = SEARCH_HEADER_SIZE as u64;
            let mut len = item.data.len() as u64;
            let mut overflow = false;
            if head + len > c.buf_size {
                if c.found > 0 {
                    return Ok(Step::Done);
                }
                c.buf_size = head + len;
                len = 0;
                overflow = true;
            }
            if head + len + c.used > c.buf_size {
                return Ok(Step::Done);
            }
            let mut h = [0u8; SEARCH_HEADER_SIZE];
            h[0..8].copy_from_slice(&gen.to_le_bytes());
            h[8..16].copy_from_slice(&item.key.objectid.to_le_bytes());
            h[16..24].copy_from_slice(&item.key.offset.to_le_bytes());
            h[24..28].copy_from_slice(&u32::from(item.key.ty).to_le_bytes());
            h[28..32].copy_from_slice(&(len as u32).to_le_bytes());
            out.extend_from_slice(&h)?;
            if len > 0 {
                out.extend_from_slice(item.data)?;
            }
            c.used += head + len;
            c.found += 1;
            if overflow {
                return Ok(Step::Overflow);
            }
            if c.found >= sk.nr_items {
                return Ok(Step::Done);
            }
        }
    }
    if c.key >= max {
        return Ok(Step::Done);
    }
    match key_after(c.key) {
        Some(k) => {
            c.key = k;
            Ok(Step::More)
        }
        None => Ok(Step::Done),
    }
}
