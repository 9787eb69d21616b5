// SPDX-License-Identifier: GPL-2.0
//! The tree block cache against a model: random inserts, lookups and
//! shrinks never return a wrong block, never hold more than the capacity,
//! keep what was just inserted, and `clear`/`shrink` empty it.

mod common;

use common::Rng;
use rbtrfs_core::block_cache::BlockCache;
use std::collections::HashMap;

#[test]
fn cache_matches_model() {
    for &cap in &[1usize, 2, 7, 64, 1000] {
        let mut c: BlockCache<(u64, u32)> = BlockCache::new(cap).unwrap();
        let mut version: HashMap<u64, u32> = HashMap::new();
        let mut rng = Rng(cap as u64 * 77 + 1);
        let span = (cap as u64 * 3).max(4);
        for step in 0..50_000u32 {
            let bytenr = (rng.below(span) + 1) * 16384;
            match rng.below(10) {
                0..=3 => {
                    c.insert(bytenr, (bytenr, step));
                    version.insert(bytenr, step);
                    assert_eq!(c.get(bytenr), Some((bytenr, step)), "just inserted");
                }
                4..=8 => {
                    if let Some(b) = c.get(bytenr) {
                        assert_eq!(b, (bytenr, version[&bytenr]), "stale or wrong block");
                    }
                }
                _ => {
                    let before = c.len();
                    let n = c.shrink(rng.below(4) as usize);
                    assert_eq!(c.len(), before - n);
                }
            }
            assert!(c.len() <= cap);
        }
        // A full cache keeps the most recent inserts of distinct blocks
        // when nothing else is read.
        c.clear();
        assert!(c.is_empty());
        for i in 0..cap as u64 {
            c.insert((i + 1) * 4096, (i, 0));
        }
        assert_eq!(c.len(), cap);
        for i in 0..cap as u64 {
            assert_eq!(c.get((i + 1) * 4096), Some((i, 0)));
        }
        // Every block was just read: the hand clears them all, then takes
        // one.
        assert_eq!(c.shrink(1), 1);
        assert_eq!(c.len(), cap - 1);
        assert_eq!(c.shrink(usize::MAX), cap - 1);
        assert!(c.is_empty());
    }
}
