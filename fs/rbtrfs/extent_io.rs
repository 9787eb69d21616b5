// SPDX-License-Identifier: GPL-2.0

//! Tree blocks being modified (C: the write side of `extent_io.c`).
//!
//! A transaction never writes into a block that a committed tree points to:
//! the first change to a block copies it to a newly allocated address
//! (copy-on-write) and the copy is *dirty*. [`DirtyBlocks`] holds the dirty
//! blocks of the running transaction by logical address; they are the only
//! blocks that can be changed in place, and commit writes them out.
//!
//! Readers of the current (not yet committed) trees see dirty blocks before
//! clean ones through [`Overlay`], a [`TreeSource`] over both.
//!
//! [`TreeCtx`] is what the B-tree write code (`ctree_write.rs`) needs from
//! a transaction: the blocks, and allocating and freeing tree blocks (which
//! the extent tree accounts).

#![forbid(unsafe_code)]

use crate::ctree::{Key, TreeSource, HEADER_SIZE};
use crate::error::Result;
use crate::mem::Vec;

/// Header flag: the block has been written (C: `BTRFS_HEADER_FLAG_WRITTEN`).
pub const HEADER_FLAG_WRITTEN: u64 = 1 << 0;
/// Header flag: the block may be shared by snapshots through full backrefs
/// (C: `BTRFS_HEADER_FLAG_RELOC`).
pub const HEADER_FLAG_RELOC: u64 = 1 << 1;
/// Backref revision of blocks written by any btrfs since 2.6.31
/// (C: `BTRFS_MIXED_BACKREF_REV`), in bits 56..64 of the flags.
pub const MIXED_BACKREF_REV: u64 = 1;
const BACKREF_REV_SHIFT: u32 = 56;

/// The dirty tree blocks of the running transaction, by logical address.
#[derive(Default)]
pub struct DirtyBlocks {
    // Sorted by bytenr.
    blocks: Vec<(u64, Vec<u8>)>,
    // Counts every change (see [`DirtyBlocks::changes`]).
    changes: u64,
}

impl DirtyBlocks {
    /// No dirty blocks.
    pub const fn new() -> Self {
        DirtyBlocks { blocks: Vec::new(), changes: 0 }
    }

    /// A count that grows with every block added, removed or handed out
    /// to change: an operation that failed after it grew left the
    /// transaction half done.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    fn find(&self, bytenr: u64) -> core::result::Result<usize, usize> {
        self.blocks.binary_search_by_key(&bytenr, |(b, _)| *b)
    }

    /// Whether `bytenr` is dirty (and so may be changed in place).
    pub fn contains(&self, bytenr: u64) -> bool {
        self.find(bytenr).is_ok()
    }

    /// The dirty block at `bytenr`.
    pub fn get(&self, bytenr: u64) -> Option<&[u8]> {
        self.find(bytenr).ok().map(|i| &self.blocks[i].1[..])
    }

    /// The dirty block at `bytenr`, to change.
    pub fn get_mut(&mut self, bytenr: u64) -> Option<&mut [u8]> {
        self.changes += 1;
        match self.find(bytenr) {
            Ok(i) => Some(&mut self.blocks[i].1[..]),
            Err(_) => None,
        }
    }

    /// Two different dirty blocks at once, to move items between them.
    pub fn get2_mut(&mut self, a: u64, b: u64) -> Option<(&mut [u8], &mut [u8])> {
        self.changes += 1;
        let ia = self.find(a).ok()?;
        let ib = self.find(b).ok()?;
        if ia == ib {
            return None;
        }
        let (lo, hi, swap) = if ia < ib { (ia, ib, false) } else { (ib, ia, true) };
        let (left, right) = self.blocks.split_at_mut(hi);
        let (x, y) = (&mut left[lo].1[..], &mut right[0].1[..]);
        Some(if swap { (y, x) } else { (x, y) })
    }

    /// Adds (or replaces) the dirty block at `bytenr`.
    pub fn insert(&mut self, bytenr: u64, data: Vec<u8>) -> Result {
        self.changes += 1;
        match self.find(bytenr) {
            Ok(i) => self.blocks[i].1 = data,
            Err(i) => self.blocks.insert(i, (bytenr, data))?,
        }
        Ok(())
    }

    /// Forgets the dirty block at `bytenr` (it was freed in this
    /// transaction), returning its bytes.
    pub fn remove(&mut self, bytenr: u64) -> Option<Vec<u8>> {
        self.changes += 1;
        self.find(bytenr).ok().map(|i| self.blocks.remove(i).1)
    }

    /// Every dirty block, in address order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.blocks.iter().map(|(b, d)| (*b, &d[..]))
    }

    /// Every dirty block, to finish (checksum) before writing.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (u64, &mut [u8])> {
        self.changes += 1;
        self.blocks.iter_mut().map(|(b, d)| (*b, &mut d[..]))
    }

    /// How many blocks are dirty.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether no block is dirty.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Takes every dirty block out (after they are written).
    pub fn take(&mut self) -> Vec<(u64, Vec<u8>)> {
        self.changes += 1;
        core::mem::take(&mut self.blocks)
    }
}

/// Header fields every new or copied block gets.
#[derive(Clone, Copy, Debug)]
pub struct HeaderInit {
    /// Where the block lives.
    pub bytenr: u64,
    /// The running transaction.
    pub generation: u64,
    /// The owning tree.
    pub owner: u64,
    /// 0 for a leaf.
    pub level: u8,
    /// The filesystem's metadata uuid.
    pub fsid: [u8; 16],
    /// The chunk tree's uuid.
    pub chunk_tree_uuid: [u8; 16],
}

fn put(buf: &mut [u8], off: usize, v: &[u8]) {
    buf[off..off + v.len()].copy_from_slice(v);
}

/// Writes a fresh header into `buf` (a new or copied block): everything but
/// the checksum, which commit computes, and nritems, which is kept.
pub fn init_header(buf: &mut [u8], h: &HeaderInit) {
    put(buf, 32, &h.fsid);
    put(buf, 48, &h.bytenr.to_le_bytes());
    put(buf, 56, &(MIXED_BACKREF_REV << BACKREF_REV_SHIFT).to_le_bytes());
    put(buf, 64, &h.chunk_tree_uuid);
    put(buf, 80, &h.generation.to_le_bytes());
    put(buf, 88, &h.owner.to_le_bytes());
    buf[100] = h.level;
}

/// Sets a block's item (or key pointer) count.
pub fn set_nritems(buf: &mut [u8], n: u32) {
    put(buf, 96, &n.to_le_bytes());
}

/// Bytes of a block after its header.
pub fn payload(buf: &[u8]) -> &[u8] {
    &buf[HEADER_SIZE..]
}

/// A dirty block or a clean one, as returned by [`Overlay`].
#[derive(Clone)]
pub enum BlockRef<'a, B> {
    /// A block of the running transaction.
    Dirty(&'a [u8]),
    /// A committed block from the underlying source.
    Clean(B),
}

impl<B: AsRef<[u8]>> AsRef<[u8]> for BlockRef<'_, B> {
    fn as_ref(&self) -> &[u8] {
        match self {
            BlockRef::Dirty(d) => d,
            BlockRef::Clean(b) => b.as_ref(),
        }
    }
}

/// The current trees: dirty blocks first, then the committed ones.
pub struct Overlay<'a, S> {
    /// The running transaction's blocks.
    pub dirty: &'a DirtyBlocks,
    /// Where committed blocks come from.
    pub src: &'a S,
}

impl<'a, S: TreeSource> TreeSource for Overlay<'a, S> {
    type Block = BlockRef<'a, S::Block>;
    type Error = S::Error;

    fn read_tree_block(&self, logical: u64, level: u8, generation: u64) -> core::result::Result<Self::Block, S::Error> {
        match self.dirty.get(logical) {
            Some(d) => Ok(BlockRef::Dirty(d)),
            None => self.src.read_tree_block(logical, level, generation).map(BlockRef::Clean),
        }
    }
}

/// Where a tree's root block is, as the root item (or superblock) records
/// it; copy-on-write of the root block moves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RootNode {
    /// The tree's objectid (`BTRFS_ROOT_TREE_OBJECTID`, 5, ...).
    pub objectid: u64,
    /// Logical address of the root block.
    pub bytenr: u64,
    /// Level of the root block.
    pub level: u8,
    /// Generation of the root block.
    pub generation: u64,
}

/// What the B-tree write code needs from the running transaction.
pub trait TreeCtx {
    /// Where committed tree blocks are read from.
    type Src: TreeSource;

    /// Committed blocks.
    fn src(&self) -> &Self::Src;
    /// The running transaction's dirty blocks.
    fn dirty(&self) -> &DirtyBlocks;
    /// The same, to change.
    fn dirty_mut(&mut self) -> &mut DirtyBlocks;
    /// The running transaction's id (the generation of every block it
    /// dirties).
    fn transid(&self) -> u64;
    /// Tree block size.
    fn nodesize(&self) -> u32;
    /// Header fields for a block of `owner` at `level` living at `bytenr`.
    fn header_init(&self, bytenr: u64, owner: u64, level: u8) -> HeaderInit;
    /// Allocates a tree block for `owner` at `level` (its first key is
    /// `first_key`, for the extent item's tree block info) and accounts it
    /// in the extent tree. Returns its logical address; the caller inserts
    /// the block into [`TreeCtx::dirty_mut`].
    fn alloc_tree_block(&mut self, owner: u64, level: u8, first_key: &Key) -> Result<u64>;
    /// Drops `owner`'s reference to the tree block at `bytenr`. A block
    /// allocated in this transaction and never written may be reused at
    /// once; others are pinned until commit.
    fn free_tree_block(&mut self, owner: u64, bytenr: u64, level: u8) -> Result;
    /// Copy-on-write moved the committed block `old` (generation
    /// `old_gen`, at `level`) of tree `owner` to the dirty block `new`,
    /// already linked into its parent (or made the root, `is_root`):
    /// releases the tree's reference to `old` and, for a block shared with
    /// snapshots, moves the references the block holds to its children
    /// (C: `update_ref_for_cow`, then `btrfs_free_tree_block`). The default
    /// suits trees whose blocks are never shared: it drops `owner`'s
    /// reference.
    fn cow_refs(&mut self, owner: u64, old: u64, old_gen: u64, new: u64, level: u8, is_root: bool) -> Result {
        let _ = (old_gen, new, is_root);
        self.free_tree_block(owner, old, level)
    }
}
