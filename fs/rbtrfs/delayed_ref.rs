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

/// The queue, merged by extent and reference.
#[derive(Default)]
pub struct DelayedRefs {
    // Sorted by (bytenr, kind).
    refs: Vec<DelayedRef>,
}

impl DelayedRefs {
    /// Nothing queued.
    pub const fn new() -> Self {
        DelayedRefs { refs: Vec::new() }
    }

    fn find(&self, bytenr: u64, kind: &RefKind) -> core::result::Result<usize, usize> {
        self.refs.binary_search_by(|r| (r.bytenr, r.kind).cmp(&(bytenr, *kind)))
    }

    /// Queues a reference change; merges with a queued one for the same
    /// extent and holder, dropping it when the net change is nothing.
    pub fn add(&mut self, r: DelayedRef) -> Result {
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

    /// If the extent at `bytenr` is new in this transaction and not yet in
    /// the extent tree, forgets it entirely and returns its length: the
    /// caller gives the space straight back.
    pub fn cancel_new(&mut self, bytenr: u64) -> Option<u64> {
        let first = self.refs.partition_point(|r| r.bytenr < bytenr);
        let is_new = self.refs[first..].iter().take_while(|r| r.bytenr == bytenr).any(|r| r.new_extent.is_some());
        if !is_new {
            return None;
        }
        let len = self.refs[first].num_bytes;
        while self.refs.get(first).is_some_and(|r| r.bytenr == bytenr) {
            self.refs.remove(first);
        }
        Some(len)
    }

    /// Whether anything is queued.
    pub fn is_empty(&self) -> bool {
        self.refs.is_empty()
    }

    /// How many changes are queued.
    pub fn len(&self) -> usize {
        self.refs.len()
    }

    /// Takes every queued change out, in extent order, to run them.
    pub fn take(&mut self) -> Vec<DelayedRef> {
        core::mem::take(&mut self.refs)
    }

    /// Queued changes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &DelayedRef> {
        self.refs.iter()
    }
}
