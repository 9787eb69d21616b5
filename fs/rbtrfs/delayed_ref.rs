// SPDX-License-Identifier: GPL-2.0

//! Delayed references (C: `delayed-ref.c`).
//!
//! Changing a tree allocates and frees tree blocks, and recording each of
//! those in the extent tree would change the extent tree, recursively. So
//! a reference change is queued here and the extent tree is updated later,
//! at commit, by `extent_tree::run_delayed_refs`. Changes to the same
//! reference are merged: a block allocated and freed in one transaction
//! cancels out and never reaches the extent tree.

#![forbid(unsafe_code)]

use crate::ctree::Key;
use crate::error::Result;
use crate::mem::Vec;

/// Who holds a reference (the backref's identity).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RefKind {
    /// A tree block referenced by tree `root` (TREE_BLOCK_REF).
    Tree {
        /// The owning tree.
        root: u64,
    },
    /// A data extent referenced by file `owner` of tree `root` at file
    /// offset `offset` minus the extent item's offset (EXTENT_DATA_REF).
    Data {
        /// The tree.
        root: u64,
        /// The inode number.
        owner: u64,
        /// The file offset the extent is referenced from, minus the file
        /// extent's offset into the extent.
        offset: u64,
    },
    /// A tree block referenced by the tree block `parent` (full backref,
    /// SHARED_BLOCK_REF): the parent is shared by snapshots and has
    /// `BTRFS_BLOCK_FLAG_FULL_BACKREF`.
    SharedTree {
        /// Logical address of the referencing tree block.
        parent: u64,
    },
    /// A data extent referenced by file extent items of the leaf `parent`
    /// (full backref, SHARED_DATA_REF, with a count).
    SharedData {
        /// Logical address of the referencing leaf.
        parent: u64,
    },
}

/// As C's messages name a backref: `root R`, `root R owner O offset F`
/// or `parent P`.
impl core::fmt::Display for RefKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            RefKind::Tree { root } => write!(f, "root {}", root),
            RefKind::Data { root, owner, offset } => write!(f, "root {} owner {} offset {}", root, owner, offset),
            RefKind::SharedTree { parent } | RefKind::SharedData { parent } => write!(f, "parent {}", parent),
        }
    }
}

impl RefKind {
    /// Whether the extent is a tree block (else data).
    pub fn is_tree(&self) -> bool {
        matches!(self, RefKind::Tree { .. } | RefKind::SharedTree { .. })
    }
}

/// What a new extent's item records beyond its references.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewExtent {
    /// A tree block: its level and first key.
    Tree {
        /// Block level.
        level: u8,
        /// First key in the block.
        key: Key,
    },
    /// A data extent.
    Data,
}

/// A queued change to one reference of one extent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DelayedRef {
    /// Logical start of the extent.
    pub bytenr: u64,
    /// Length of the extent.
    pub num_bytes: u64,
    /// Whose reference.
    pub kind: RefKind,
    /// Net change of the reference count.
    pub delta: i64,
    /// Set when the extent itself is new in this transaction: its item
    /// must be created (and its space taken from the free space tree).
    pub new_extent: Option<NewExtent>,
}

/// A queued change of a tree block's extent item flags (C: the delayed
/// ref head's `extent_op`): `flags` are set (ORed in) at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlagsOp {
    /// Logical start of the tree block.
    pub bytenr: u64,
    /// Its level (the METADATA_ITEM's key offset).
    pub level: u8,
    /// Flags to set (`BTRFS_BLOCK_FLAG_FULL_BACKREF`).
    pub flags: u64,
}

/// What is queued for one extent, as [`DelayedRefs::queued`] sums it up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Queued {
    /// Net change of the reference count.
    pub delta: i64,
    /// Flags queued to be set.
    pub flags: u64,
    /// The extent is new in this transaction (not in the extent tree).
    pub new: bool,
}

/// The queue, merged by extent and reference.
#[derive(Default)]
pub struct DelayedRefs {
    // Sorted by (bytenr, kind).
    refs: Vec<DelayedRef>,
    // Sorted by bytenr, one per extent.
    flags: Vec<FlagsOp>,
    // Counts every change (see [`DelayedRefs::changes`]).
    changes: u64,
}

impl DelayedRefs {
    /// Nothing queued.
    pub const fn new() -> Self {
        DelayedRefs { refs: Vec::new(), flags: Vec::new(), changes: 0 }
    }

    /// A count that grows with every change queued, cancelled or taken:
    /// an operation that failed after it grew left the transaction half
    /// done.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    fn find(&self, bytenr: u64, kind: &RefKind) -> core::result::Result<usize, usize> {
        self.refs.binary_search_by(|r| (r.bytenr, r.kind).cmp(&(bytenr, *kind)))
    }

    /// Queues a reference change; merges with a queued one for the same
    /// extent and holder, dropping it when the net change is nothing.
    pub fn add(&mut self, r: DelayedRef) -> Result {
        self.changes += 1;
        match self.find(r.bytenr, &r.kind) {
            Ok(i) => {
                let q = &mut self.refs[i];
                q.delta += r.delta;
                if q.new_extent.is_none() {
                    q.new_extent = r.new_extent;
                }
                if q.delta == 0 && q.new_extent.is_none() {
                    self.refs.remove(i);
                }
            }
            Err(i) => self.refs.insert(i, r)?,
        }
        Ok(())
    }

    /// Queues setting `flags` on the extent item of the tree block at
    /// `bytenr` (C: `btrfs_set_disk_extent_flags`).
    pub fn set_flags(&mut self, bytenr: u64, level: u8, flags: u64) -> Result {
        self.changes += 1;
        match self.flags.binary_search_by_key(&bytenr, |f| f.bytenr) {
            Ok(i) => self.flags[i].flags |= flags,
            Err(i) => self.flags.insert(i, FlagsOp { bytenr, level, flags })?,
        }
        Ok(())
    }

    /// The net reference change, flags and newness queued for `bytenr`.
    pub fn queued(&self, bytenr: u64) -> Queued {
        let first = self.refs.partition_point(|r| r.bytenr < bytenr);
        let mut q = Queued::default();
        for r in self.refs[first..].iter().take_while(|r| r.bytenr == bytenr) {
            q.delta += r.delta;
            q.new |= r.new_extent.is_some();
        }
        if let Ok(i) = self.flags.binary_search_by_key(&bytenr, |f| f.bytenr) {
            q.flags = self.flags[i].flags;
        }
        q
    }

    /// If the extent at `bytenr` is new in this transaction, not yet in
    /// the extent tree, and the reference about to be dropped is its only
    /// one, forgets it entirely and returns its length: the caller gives
    /// the space straight back.
    pub fn cancel_new(&mut self, bytenr: u64) -> Option<u64> {
        let q = self.queued(bytenr);
        if !q.new || q.delta != 1 {
            return None;
        }
        self.changes += 1;
        let first = self.refs.partition_point(|r| r.bytenr < bytenr);
        if let Ok(i) = self.flags.binary_search_by_key(&bytenr, |f| f.bytenr) {
            self.flags.remove(i);
        }
        let len = self.refs[first].num_bytes;
        while self.refs.get(first).is_some_and(|r| r.bytenr == bytenr) {
            self.refs.remove(first);
        }
        Some(len)
    }

    /// Whether anything is queued.
    pub fn is_empty(&self) -> bool {
        self.refs.is_empty() && self.flags.is_empty()
    }

    /// Takes every queued flags change out, in extent order.
    pub fn take_flags(&mut self) -> Vec<FlagsOp> {
        self.changes += 1;
        core::mem::take(&mut self.flags)
    }

    /// How many changes are queued.
    pub fn len(&self) -> usize {
        self.refs.len()
    }

    /// Takes every queued change out, in extent order, to run them.
    pub fn take(&mut self) -> Vec<DelayedRef> {
        self.changes += 1;
        core::mem::take(&mut self.refs)
    }

    /// Queued changes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &DelayedRef> {
        self.refs.iter()
    }
}
