// SPDX-License-Identifier: GPL-2.0

//! The tree block cache (C: the extent buffer cache, `fs_info->buffer_tree`
//! and the btree inode's page cache): verified tree blocks by logical
//! address.
//!
//! A fixed number of slots, replaced by the CLOCK algorithm (a block read
//! again since the hand last passed gets a second chance), and an
//! open-addressing index from address to slot. Both arrays are allocated
//! once, so inserting never allocates: the cache lock may be held where
//! memory reclaim could run, and reclaim itself shrinks the cache
//! ([`BlockCache::shrink`], from the superblock's shrinker and
//! `drop_caches`).

#![forbid(unsafe_code)]

use crate::mem::{NoMem, Vec};

struct Slot<B> {
    bytenr: u64,
    block: B,
    referenced: bool,
}

/// Verified tree blocks by logical address.
pub struct BlockCache<B> {
    slots: Vec<Option<Slot<B>>>,
    /// Slot number + 1 for each used position, 0 for an empty one; twice
    /// as many positions as slots, a power of two.
    index: Vec<u32>,
    /// Slots never used or freed, to fill before evicting.
    free: Vec<u32>,
    hand: usize,
    len: usize,
}

impl<B: Clone> BlockCache<B> {
    /// A cache of `capacity` blocks (at least 1).
    pub fn new(capacity: usize) -> Result<Self, NoMem> {
        let capacity = capacity.clamp(1, 1 << 24);
        let mut slots = Vec::with_capacity(capacity)?;
        let mut free = Vec::with_capacity(capacity)?;
        for i in (0..capacity).rev() {
            slots.push(None)?;
            free.push(i as u32)?;
        }
        let index = Vec::from_elem(0u32, (2 * capacity).next_power_of_two())?;
        Ok(BlockCache { slots, index, free, hand: 0, len: 0 })
    }

    /// Blocks held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no block is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn mask(&self) -> usize {
        self.index.len() - 1
    }

    fn home(&self, bytenr: u64) -> usize {
        // Tree blocks are at least 4 KiB apart.
        ((bytenr >> 12).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20) as usize & self.mask()
    }

    fn slot_of(&self, pos: usize) -> Option<&Slot<B>> {
        let s = *self.index.get(pos)? as usize;
        self.slots.get(s.checked_sub(1)?)?.as_ref()
    }

    /// The index position holding `bytenr`, if cached.
    fn find(&self, bytenr: u64) -> Option<usize> {
        let mut pos = self.home(bytenr);
        loop {
            let s = *self.index.get(pos)?;
            if s == 0 {
                return None;
            }
            if self.slot_of(pos).is_some_and(|slot| slot.bytenr == bytenr) {
                return Some(pos);
            }
            pos = (pos + 1) & self.mask();
        }
    }

    /// The cached block at `bytenr`.
    pub fn get(&mut self, bytenr: u64) -> Option<B> {
        let pos = self.find(bytenr)?;
        let s = *self.index.get(pos)? as usize - 1;
        let slot = self.slots.get_mut(s)?.as_mut()?;
        slot.referenced = true;
        Some(slot.block.clone())
    }

    /// Removes index position `pos` (backward-shift deletion: entries after
    /// it that probed past it move back, so lookups stay correct).
    fn unindex(&mut self, mut pos: usize) {
        let mask = self.mask();
        self.index[pos] = 0;
        let mut j = pos;
        loop {
            j = (j + 1) & mask;
            if self.index[j] == 0 {
                return;
            }
            let Some(home) = self.slot_of(j).map(|s| s.bytenr).map(|b| self.home(b)) else { return };
            // The entry at `j` may stay if its home is cyclically in (pos, j].
            let stays = if pos <= j { pos < home && home <= j } else { pos < home || home <= j };
            if !stays {
                self.index[pos] = self.index[j];
                self.index[j] = 0;
                pos = j;
            }
        }
    }

    /// Drops slot `s`'s block.
    fn evict(&mut self, s: usize) {
        let Some(bytenr) = self.slots.get(s).and_then(|x| x.as_ref()).map(|x| x.bytenr) else { return };
        if let Some(pos) = self.find(bytenr) {
            self.unindex(pos);
        }
        self.slots[s] = None;
        self.len -= 1;
        // Cannot fail: `free` has room for every slot.
        let _ = self.free.push(s as u32);
    }

    /// A slot to fill: a free one, else the first unreferenced one the
    /// CLOCK hand finds (clearing the referenced bits it passes).
    fn victim(&mut self) -> usize {
        if let Some(s) = self.free.pop() {
            return s as usize;
        }
        let n = self.slots.len();
        if n == 0 {
            return 0;
        }
        loop {
            let s = self.hand;
            self.hand = (self.hand + 1) % n;
            match self.slots[s].as_mut() {
                Some(slot) if slot.referenced => slot.referenced = false,
                _ => {
                    self.evict(s);
                    // `evict` pushed it on the free list.
                    return self.free.pop().map_or(s, |f| f as usize);
                }
            }
        }
    }

    /// Caches `block` at `bytenr`, replacing an older copy of that address.
    /// Never allocates.
    pub fn insert(&mut self, bytenr: u64, block: B) {
        if let Some(pos) = self.find(bytenr) {
            let s = self.index[pos] as usize - 1;
            if let Some(slot) = self.slots[s].as_mut() {
                slot.block = block;
                slot.referenced = true;
            }
            return;
        }
        let s = self.victim();
        self.slots[s] = Some(Slot { bytenr, block, referenced: false });
        self.len += 1;
        let mut pos = self.home(bytenr);
        while self.index[pos] != 0 {
            pos = (pos + 1) & self.mask();
        }
        self.index[pos] = s as u32 + 1;
    }

    /// Drops up to `nr` blocks, least recently used first (as the CLOCK
    /// hand finds them); returns how many went.
    pub fn shrink(&mut self, nr: usize) -> usize {
        let n = self.slots.len();
        if n == 0 {
            return 0;
        }
        let mut freed = 0;
        let mut steps = 0;
        while freed < nr && self.len > 0 && steps < 2 * n {
            let s = self.hand;
            self.hand = (self.hand + 1) % n;
            steps += 1;
            match self.slots[s].as_mut() {
                Some(slot) if slot.referenced => slot.referenced = false,
                Some(_) => {
                    self.evict(s);
                    freed += 1;
                }
                None => {}
            }
        }
        freed
    }

    /// Drops every block.
    pub fn clear(&mut self) {
        while self.len > 0 {
            self.shrink(usize::MAX);
        }
    }
}
