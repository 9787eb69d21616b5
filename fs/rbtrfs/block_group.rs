// SPDX-License-Identifier: GPL-2.0

//! Block groups and space accounting (C: `block-group.c`, `space-info.c`,
//! and the in-memory side of `free-space-cache.c`).
//!
//! Every chunk is a block group of one type (data, metadata or system).
//! [`BlockGroup`] keeps its `used` bytes, as its BLOCK_GROUP_ITEM records
//! them, and [`FreeSpace`], the free ranges allocation may take: loaded
//! from the free space tree at mount, then kept in memory. [`SpaceInfo`]
//! sums the block groups of one type with btrfs's counters.
//!
//! The life of an extent's bytes:
//! - allocation takes them out of [`FreeSpace`] at once and counts them
//!   `reserved` until the delayed ref that creates the extent item runs;
//!   then they are `used` (and the free space tree says so);
//! - freeing a committed extent runs a delayed ref that deletes the extent
//!   item, makes the bytes free in the free space tree and `pinned` in
//!   memory: the committed trees may still point there, so they are not
//!   reused until the transaction that freed them is on disk;
//! - a tree block allocated and freed in the same transaction was never
//!   written: its bytes go straight back to [`FreeSpace`].

#![forbid(unsafe_code)]

use crate::error::{Result, EUCLEAN};
use crate::mem::Vec;
use crate::volumes::block_group as bg_flags;

/// Disjoint free ranges `(start, len)`, sorted, adjacent ones merged.
#[derive(Default)]
pub struct FreeSpace {
    ranges: Vec<(u64, u64)>,
}

impl FreeSpace {
    /// No free space.
    pub const fn new() -> Self {
        FreeSpace { ranges: Vec::new() }
    }

    /// Index of the last range starting at or before `at`.
    fn floor(&self, at: u64) -> Option<usize> {
        match self.ranges.binary_search_by_key(&at, |r| r.0) {
            Ok(i) => Some(i),
            Err(0) => None,
            Err(i) => Some(i - 1),
        }
    }

    /// Makes `[start, start + len)` free. Overlap with free space is
    /// corruption (a double free): EUCLEAN.
    pub fn add(&mut self, start: u64, len: u64) -> Result {
        if len == 0 {
            return Ok(());
        }
        let end = start.checked_add(len).ok_or(EUCLEAN)?;
        let i = match self.floor(start) {
            Some(i) => {
                let (s, l) = self.ranges[i];
                if s + l > start {
                    return Err(EUCLEAN);
                }
                i + 1
            }
            None => 0,
        };
        if let Some(&(ns, _)) = self.ranges.get(i) {
            if ns < end {
                return Err(EUCLEAN);
            }
        }
        let merge_left = i > 0 && {
            let (s, l) = self.ranges[i - 1];
            s + l == start
        };
        let merge_right = self.ranges.get(i).is_some_and(|r| r.0 == end);
        match (merge_left, merge_right) {
            (true, true) => {
                let (_, rl) = self.ranges.remove(i);
                self.ranges[i - 1].1 += len + rl;
            }
            (true, false) => self.ranges[i - 1].1 += len,
            (false, true) => self.ranges[i] = (start, len + self.ranges[i].1),
            (false, false) => self.ranges.insert(i, (start, len))?,
        }
        Ok(())
    }

    /// Takes `[start, start + len)` out; it must be free (else EUCLEAN).
    pub fn remove(&mut self, start: u64, len: u64) -> Result {
        if len == 0 {
            return Ok(());
        }
        let i = self.floor(start).ok_or(EUCLEAN)?;
        let (s, l) = self.ranges[i];
        let end = start.checked_add(len).ok_or(EUCLEAN)?;
        if end > s + l {
            return Err(EUCLEAN);
        }
        let (left, right) = (start - s, s + l - end);
        match (left > 0, right > 0) {
            (false, false) => {
                self.ranges.remove(i);
            }
            (true, false) => self.ranges[i].1 = left,
            (false, true) => self.ranges[i] = (end, right),
            (true, true) => {
                self.ranges[i].1 = left;
                self.ranges.insert(i + 1, (end, right))?;
            }
        }
        Ok(())
    }

    /// Takes whatever part of `[start, start + len)` is free out.
    pub fn remove_overlap(&mut self, start: u64, len: u64) -> Result {
        let end = start.saturating_add(len);
        let mut i = self.floor(start).unwrap_or(0);
        while let Some(&(s, l)) = self.ranges.get(i) {
            if s >= end {
                break;
            }
            let (lo, hi) = (s.max(start), (s + l).min(end));
            if lo < hi {
                self.remove(lo, hi - lo)?;
                // The range at `i` may now start after `hi`; look again.
                continue;
            }
            i += 1;
        }
        Ok(())
    }

    /// Whether all of `[start, start + len)` is free.
    pub fn contains(&self, start: u64, len: u64) -> bool {
        match self.floor(start) {
            Some(i) => {
                let (s, l) = self.ranges[i];
                start.saturating_add(len) <= s + l
            }
            None => false,
        }
    }

    /// The first `align`-aligned start of `len` free bytes at or after
    /// `hint` (then from the beginning).
    pub fn find(&self, len: u64, align: u64, hint: u64) -> Option<u64> {
        let align = align.max(1);
        let fit = |&(s, l): &(u64, u64), from: u64| -> Option<u64> {
            let lo = s.max(from);
            let a = lo.checked_add(align - 1)? / align * align;
            (a.checked_add(len)? <= s + l).then_some(a)
        };
        let first = self.floor(hint).unwrap_or(0);
        self.ranges[first..].iter().find_map(|r| fit(r, hint)).or_else(|| self.ranges.iter().find_map(|r| fit(r, 0)))
    }

    /// Free bytes in all.
    pub fn total(&self) -> u64 {
        self.ranges.iter().map(|r| r.1).sum()
    }

    /// The free ranges, in order.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }
}

/// One block group (C: `struct btrfs_block_group`).
pub struct BlockGroup {
    /// Logical start (the chunk's logical address).
    pub start: u64,
    /// Length in bytes.
    pub length: u64,
    /// Type and profile ([`crate::volumes::block_group`]).
    pub flags: u64,
    /// Bytes in extents, as the BLOCK_GROUP_ITEM says.
    pub used: u64,
    /// The item's chunk objectid (always 256).
    pub chunk_objectid: u64,
    /// Free ranges allocation may take.
    pub free: FreeSpace,
    /// Allocated in the running transaction, extent item not yet inserted.
    pub reserved: u64,
    /// Freed by the running transaction; reusable after its commit.
    pub pinned: Vec<(u64, u64)>,
    /// `used` changed: the item must be rewritten at commit.
    pub dirty: bool,
}

impl BlockGroup {
    /// A block group with nothing free yet (the free space tree fills it).
    pub fn new(start: u64, length: u64, flags: u64, used: u64, chunk_objectid: u64) -> Self {
        BlockGroup {
            start,
            length,
            flags,
            used,
            chunk_objectid,
            free: FreeSpace::new(),
            reserved: 0,
            pinned: Vec::new(),
            dirty: false,
        }
    }

    /// Whether `bytenr` is in this group.
    pub fn contains(&self, bytenr: u64) -> bool {
        bytenr >= self.start && bytenr - self.start < self.length
    }

    /// Bytes pinned.
    pub fn pinned_bytes(&self) -> u64 {
        self.pinned.iter().map(|p| p.1).sum()
    }
}

/// The space of one block group type (C: `struct btrfs_space_info`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpaceInfo {
    /// [`crate::volumes::block_group`] type bit.
    pub flags: u64,
    /// Bytes in all block groups of the type.
    pub total_bytes: u64,
    /// In extents.
    pub bytes_used: u64,
    /// Allocated, extent item pending.
    pub bytes_reserved: u64,
    /// Freed, waiting for commit.
    pub bytes_pinned: u64,
    /// Promised to operations that have not allocated yet.
    pub bytes_may_use: u64,
    /// In read-only block groups.
    pub bytes_readonly: u64,
}

/// The three types, in the order [`BlockGroups::space`] uses.
pub const TYPES: [u64; 3] = [bg_flags::DATA, bg_flags::METADATA, bg_flags::SYSTEM];

/// Every block group, by start.
#[derive(Default)]
pub struct BlockGroups {
    groups: Vec<BlockGroup>,
}

impl BlockGroups {
    /// None yet.
    pub const fn new() -> Self {
        BlockGroups { groups: Vec::new() }
    }

    /// Adds a block group (at mount, or a new chunk).
    pub fn insert(&mut self, bg: BlockGroup) -> Result {
        let i = match self.groups.binary_search_by_key(&bg.start, |g| g.start) {
            Ok(_) => return Err(EUCLEAN),
            Err(i) => i,
        };
        self.groups.insert(i, bg)?;
        Ok(())
    }

    fn index(&self, bytenr: u64) -> Option<usize> {
        let i = match self.groups.binary_search_by_key(&bytenr, |g| g.start) {
            Ok(i) => i,
            Err(0) => return None,
            Err(i) => i - 1,
        };
        self.groups[i].contains(bytenr).then_some(i)
    }

    /// The group holding `bytenr`.
    pub fn get(&self, bytenr: u64) -> Option<&BlockGroup> {
        self.index(bytenr).map(|i| &self.groups[i])
    }

    /// The same, to change.
    pub fn get_mut(&mut self, bytenr: u64) -> Option<&mut BlockGroup> {
        self.index(bytenr).map(|i| &mut self.groups[i])
    }

    /// Every group in address order.
    pub fn iter(&self) -> impl Iterator<Item = &BlockGroup> {
        self.groups.iter()
    }

    /// The same, to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut BlockGroup> {
        self.groups.iter_mut()
    }

    /// Allocates `len` bytes aligned to `align` from a group of type
    /// `ty` (a [`TYPES`] bit), trying `hint` first. The bytes leave the
    /// free space and count as reserved.
    pub fn alloc(&mut self, ty: u64, len: u64, align: u64, hint: u64) -> Option<u64> {
        let first = self
            .index(hint)
            .filter(|&i| self.groups[i].flags & ty != 0)
            .and_then(|i| self.groups[i].free.find(len, align, hint).map(|s| (i, s)));
        let pick = first.or_else(|| {
            self.groups
                .iter()
                .enumerate()
                .filter(|(_, g)| g.flags & ty != 0)
                .find_map(|(i, g)| g.free.find(len, align, g.start).map(|s| (i, s)))
        })?;
        let (i, start) = pick;
        let g = &mut self.groups[i];
        g.free.remove(start, len).ok()?;
        g.reserved += len;
        Some(start)
    }

    /// The counters of type `ty`, summed over its groups.
    pub fn space(&self, ty: u64) -> SpaceInfo {
        let mut s = SpaceInfo { flags: ty, ..SpaceInfo::default() };
        for g in self.groups.iter().filter(|g| g.flags & ty != 0) {
            s.total_bytes += g.length;
            s.bytes_used += g.used;
            s.bytes_reserved += g.reserved;
            s.bytes_pinned += g.pinned_bytes();
        }
        s
    }

    /// Bytes used in every group (the superblock's `bytes_used`).
    pub fn bytes_used(&self) -> u64 {
        self.groups.iter().map(|g| g.used).sum()
    }

    /// What `BTRFS_IOC_SPACE_INFO` reports before the global reserve (C:
    /// `btrfs_ioctl_space_info`): one entry per type (data, system,
    /// metadata, then mixed data+metadata) and profile present, profiles
    /// in C's RAID index order (SINGLE, RAID0, RAID1, DUP, RAID10, ...):
    /// the flags of the last group of the kind, the summed length and
    /// `used`.
    pub fn space_report(&self) -> Result<Vec<SpaceReport>> {
        let mut out = Vec::new();
        for ty in [bg_flags::DATA, bg_flags::SYSTEM, bg_flags::METADATA, bg_flags::DATA | bg_flags::METADATA] {
            for index in 0..=bg_flags::PROFILE_MASK.count_ones() {
                let mut r = SpaceReport { flags: 0, total_bytes: 0, used_bytes: 0 };
                let mut any = false;
                for g in self.groups.iter() {
                    if g.flags & bg_flags::TYPE_MASK == ty && raid_index(g.flags) == index {
                        any = true;
                        r.flags = g.flags;
                        r.total_bytes += g.length;
                        r.used_bytes += g.used;
                    }
                }
                if any {
                    out.push(r)?;
                }
            }
        }
        Ok(out)
    }
}

/// One entry of `BTRFS_IOC_SPACE_INFO` (`struct btrfs_ioctl_space_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpaceReport {
    /// Type and profile flags (or [`SPACE_INFO_GLOBAL_RSV`]).
    pub flags: u64,
    /// Bytes in the block groups.
    pub total_bytes: u64,
    /// Bytes used in them.
    pub used_bytes: u64,
}

/// `BTRFS_SPACE_INFO_GLOBAL_RSV`: the entry for the global block reserve.
pub const SPACE_INFO_GLOBAL_RSV: u64 = 1 << 49;

/// C's `btrfs_bg_flags_to_raid_index`: 0 for SINGLE, then one per profile
/// bit in ascending order.
fn raid_index(flags: u64) -> u32 {
    let p = flags & bg_flags::PROFILE_MASK;
    if p == 0 {
        0
    } else {
        p.trailing_zeros() - bg_flags::RAID0.trailing_zeros() + 1
    }
}

/// The size of C's global block reserve (`btrfs_update_global_block_rsv`):
/// the bytes used by the root, extent, checksum and free space trees
/// (`roots_used`, `global_roots` of the latter three present), at least
/// what an unlink with its delayed refs may need, at most 512 MiB.
pub fn global_rsv_size(nodesize: u32, roots_used: u64, global_roots: u32, free_space_tree: bool) -> u64 {
    const MAX_LEVEL: u64 = 8;
    const UNLINK_METADATA_UNITS: u64 = 6;
    let insert = |items: u64| u64::from(nodesize) * MAX_LEVEL * 2 * items;
    let min_items = 1 + u64::from(global_roots) + UNLINK_METADATA_UNITS;
    let delayed = insert(UNLINK_METADATA_UNITS) * if free_space_tree { 2 } else { 1 };
    roots_used.max(insert(min_items) + delayed).min(512 << 20)
}
