// SPDX-License-Identifier: GPL-2.0
//! The B-tree write path (`ctree_write.rs`) against an in-memory transaction
//! context and a `BTreeMap` model: randomized inserts, deletes, extends,
//! truncates, key changes and walks, with full structural checks of every
//! block, of the allocator balance and of copy-on-write across simulated
//! commits; corrupted committed blocks; and inserts into the fs tree of a
//! real mkfs image, read back with the read-only search code.

mod common;
mod image;

use common::Rng;

use image::Image;
use rbtrfs_core::checksum::CsumType;
use rbtrfs_core::ctree::{check_leaf, check_node, check_tree_block, BlockExpect, Key, Path, TreeBlock, TreeSource};
use rbtrfs_core::ctree_write::{
    del_items, extend_item, insert_empty_item, insert_item, item_data, item_data_mut, item_key, leaf_free_space,
    leaf_nritems, max_item_size, max_ptrs, next_item, prev_item, read_item, search_slot, search_slot_ro,
    set_item_key,
    truncate_item, WPath,
};
use rbtrfs_core::error::{Result, EEXIST, EINVAL, ENOENT, EOVERFLOW, EUCLEAN};
use rbtrfs_core::extent_io::{init_header, set_nritems, DirtyBlocks, HeaderInit, Overlay, RootNode, TreeCtx};
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;

/// Owner of the test trees: a subvolume id, so an empty root leaf is valid.
const OWNER: u64 = 256;
const FSID: [u8; 16] = [7; 16];
const SECTORSIZE: u32 = 4096;
/// Key types whose items the tree checker does not parse.
const TYPES: [u8; 5] = [2, 3, 4, 250, 253];


/// Committed blocks, checked like a real source checks them.
struct MemSrc {
    blocks: std::collections::HashMap<u64, Rc<[u8]>>,
}

impl TreeSource for MemSrc {
    type Block = Rc<[u8]>;
    type Error = String;

    fn read_tree_block(&self, logical: u64, level: u8, generation: u64) -> std::result::Result<Rc<[u8]>, String> {
        let b = self.blocks.get(&logical).ok_or_else(|| format!("no committed block at {}", logical))?;
        let tb = TreeBlock::new(b).map_err(|e| e.to_string())?;
        if tb.bytenr() != logical || tb.level() != level || (generation != 0 && tb.generation() != generation) {
            return Err(format!("block {} level {} gen {}: wanted level {} gen {}", logical, tb.level(),
                tb.generation(), level, generation));
        }
        Ok(b.clone())
    }
}

/// An in-memory transaction: committed blocks, dirty blocks, a bump
/// allocator that never reuses an address, and the set of live blocks.
struct Mem {
    src: MemSrc,
    dirty: DirtyBlocks,
    transid: u64,
    nodesize: u32,
    next: u64,
    live: HashSet<u64>,
    freed: HashSet<u64>,
    allocs: u64,
    frees: u64,
    /// Fail allocations (ENOSPC) once `allocs` reaches this.
    fail_at: Option<u64>,
}

impl TreeCtx for Mem {
    type Src = MemSrc;

    fn src(&self) -> &MemSrc {
        &self.src
    }
    fn dirty(&self) -> &DirtyBlocks {
        &self.dirty
    }
    fn dirty_mut(&mut self) -> &mut DirtyBlocks {
        &mut self.dirty
    }
    fn transid(&self) -> u64 {
        self.transid
    }
    fn nodesize(&self) -> u32 {
        self.nodesize
    }
    fn header_init(&self, bytenr: u64, owner: u64, level: u8) -> HeaderInit {
        HeaderInit { bytenr, generation: self.transid, owner, level, fsid: FSID, chunk_tree_uuid: [9; 16] }
    }
    fn alloc_tree_block(&mut self, owner: u64, level: u8, _first_key: &Key) -> Result<u64> {
        assert_eq!(owner, OWNER);
        assert!(level < 8);
        if self.fail_at.is_some_and(|f| self.allocs >= f) {
            return Err(rbtrfs_core::error::ENOSPC);
        }
        let b = self.next;
        // Sector aligned even for the small node sizes of the deep-tree tests.
        self.next += u64::from(self.nodesize.max(SECTORSIZE));
        assert!(self.live.insert(b));
        self.allocs += 1;
        Ok(b)
    }
    fn free_tree_block(&mut self, owner: u64, bytenr: u64, _level: u8) -> Result {
        assert_eq!(owner, OWNER);
        assert!(self.live.remove(&bytenr), "freeing block {} that is not live", bytenr);
        assert!(!self.dirty.contains(bytenr), "freed block {} still dirty", bytenr);
        self.freed.insert(bytenr);
        self.frees += 1;
        Ok(())
    }
}

/// Sets WRITTEN and the crc32c checksum, as commit does.
fn finish_block(buf: &mut [u8]) {
    buf[56] |= 1;
    let mut out = [0u8; 32];
    assert!(CsumType::Crc32c.compute(&buf[32..], &mut out));
    buf[..32].copy_from_slice(&out);
}

impl Mem {
    /// A context whose committed tree is one empty leaf.
    fn new(nodesize: u32) -> (Mem, RootNode) {
        let mut m = Mem {
            src: MemSrc { blocks: Default::default() },
            dirty: DirtyBlocks::new(),
            transid: 1,
            nodesize,
            next: 1 << 30,
            live: HashSet::new(),
            freed: HashSet::new(),
            allocs: 0,
            frees: 0,
            fail_at: None,
        };
        let b = m.alloc_tree_block(OWNER, 0, &Key::MIN).unwrap();
        let mut buf = vec![0u8; nodesize as usize];
        init_header(&mut buf, &m.header_init(b, OWNER, 0));
        set_nritems(&mut buf, 0);
        finish_block(&mut buf);
        m.src.blocks.insert(b, buf.into());
        m.transid = 2;
        (m, RootNode { objectid: OWNER, bytenr: b, level: 0, generation: 1 })
    }

    /// Writes every dirty block to the committed map (checking each fully)
    /// and starts the next transaction. Freed blocks become unreadable.
    fn commit(&mut self) {
        let mut taken = self.dirty.take();
        while let Some((b, data)) = taken.pop() {
            let mut buf = data.to_vec();
            finish_block(&mut buf);
            let exp = BlockExpect { owner: Some(OWNER), ..BlockExpect::at(b, SECTORSIZE) };
            check_tree_block(&buf, &exp, &FSID, CsumType::Crc32c).unwrap_or_else(|e| panic!("commit {}: {}", b, e));
            self.src.blocks.insert(b, buf.into());
        }
        for f in self.freed.drain() {
            self.src.blocks.remove(&f);
        }
        self.transid += 1;
    }

    fn block(&self, b: u64) -> &[u8] {
        match self.dirty.get(b) {
            Some(d) => d,
            None => self.src.blocks.get(&b).unwrap_or_else(|| panic!("block {} not found", b)),
        }
    }

    /// Checks the whole tree against the model; returns (blocks, height).
    fn verify(&self, root: &RootNode, model: &BTreeMap<Key, Vec<u8>>) -> (usize, u8) {
        let mut seen = HashSet::new();
        let mut items = Vec::new();
        self.walk(root.bytenr, root.level, root.generation, None, None, None, true, &mut seen, &mut items);
        assert_eq!(items.len(), model.len(), "item count");
        for ((k, d), (mk, md)) in items.iter().zip(model.iter()) {
            assert_eq!(k, mk);
            assert!(d == md, "data of {}", k);
        }
        assert_eq!(seen, self.live, "live blocks != reachable blocks");
        assert_eq!(self.allocs - self.frees, seen.len() as u64, "allocator balance");
        for (b, _) in self.dirty.iter() {
            assert!(seen.contains(&b), "dirty block {} unreachable", b);
        }
        for f in &self.freed {
            assert!(!seen.contains(f));
        }
        self.check_read_side(root, model);
        (seen.len(), root.level)
    }

    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        b: u64,
        level: u8,
        gen: u64,
        first: Option<Key>,
        lo: Option<Key>,
        hi: Option<Key>,
        is_root: bool,
        seen: &mut HashSet<u64>,
        items: &mut Vec<(Key, Vec<u8>)>,
    ) {
        assert!(seen.insert(b), "block {} reachable twice", b);
        let buf = self.block(b);
        let dirty = self.dirty.contains(b);
        let mut copy = buf.to_vec();
        copy[56] |= 1;
        let tb = TreeBlock::new(&copy).unwrap();
        assert_eq!(tb.bytenr(), b);
        assert_eq!(tb.level(), level, "level of {}", b);
        assert_eq!(tb.owner(), OWNER);
        assert_eq!(tb.generation(), gen, "generation of {}", b);
        if dirty {
            assert_eq!(gen, self.transid);
        } else {
            assert!(gen < self.transid);
        }
        assert_eq!(&copy[32..48], &FSID);
        let n = tb.nritems() as usize;
        if let Some(f) = first {
            assert!(n > 0, "empty child {}", b);
            assert_eq!(tb.key(0).unwrap(), f, "first key of {}", b);
        }
        let in_range = |k: Key| lo.is_none_or(|lo| k >= lo) && hi.is_none_or(|hi| k < hi);
        if level == 0 {
            check_leaf(&tb, 4).unwrap_or_else(|e| panic!("{}", e));
            assert!(is_root || n > 0);
            for s in 0..n {
                let it = tb.item(s).unwrap();
                assert!(in_range(it.key), "key {} outside its parent's range", it.key);
                items.push((it.key, it.data.to_vec()));
            }
        } else {
            check_node(&tb, SECTORSIZE).unwrap_or_else(|e| panic!("{}", e));
            assert!(n <= max_ptrs(self.nodesize));
            for s in 0..n {
                let kp = tb.key_ptr(s).unwrap();
                assert!(in_range(kp.key));
                let next = if s + 1 < n { Some(tb.key_ptr(s + 1).unwrap().key) } else { hi };
                self.walk(kp.blockptr, level - 1, kp.generation, Some(kp.key), Some(kp.key), next, false, seen, items);
            }
        }
    }

    /// Reads the tree with the read-only search code over the overlay, and
    /// with `next_item` / `prev_item` of the write path.
    fn check_read_side(&self, root: &RootNode, model: &BTreeMap<Key, Vec<u8>>) {
        let ov = Overlay { dirty: &self.dirty, src: &self.src };
        let mut p = Path::new();
        p.search(&ov, root.bytenr, root.level, root.generation, &Key::MIN).unwrap();
        let mut it = model.iter();
        while let Some(item) = p.item().unwrap() {
            let (k, d) = it.next().expect("tree has more items than the model");
            assert_eq!(item.key, *k);
            assert!(item.data == &d[..]);
            if !p.next_item(&ov).unwrap() {
                break;
            }
        }
        assert!(it.next().is_none());

        // Forward with next_item from a search of the smallest key.
        let mut m2 = WPathWalk::new(self, root, &Key::MIN);
        let mut keys = Vec::new();
        while let Some(k) = m2.cur() {
            keys.push(k);
            if !m2.next() {
                break;
            }
        }
        assert!(keys.iter().eq(model.keys()));
        // Backward with prev_item from past the largest key.
        let mut w = WPathWalk::new(self, root, &Key::MAX);
        let mut back = Vec::new();
        while w.prev() {
            back.push(item_key(self, &w.path).unwrap());
        }
        assert!(back.iter().eq(model.keys().rev()));
    }
}

/// A read-only walk with a `WPath`.
struct WPathWalk<'a> {
    m: &'a Mem,
    path: WPath,
}

impl<'a> WPathWalk<'a> {
    fn new(m: &'a Mem, root: &RootNode, key: &Key) -> Self {
        let mut path = WPath::new();
        readonly_search(m, root, key, &mut path);
        WPathWalk { m, path }
    }
    /// The item at the path, or the first of the next leaf if the path is
    /// past the end of its leaf.
    fn cur(&mut self) -> Option<Key> {
        if self.path.slot() < leaf_nritems(self.m, &self.path).unwrap() {
            return Some(item_key(self.m, &self.path).unwrap());
        }
        if next_item(self.m, &mut self.path).unwrap() {
            Some(item_key(self.m, &self.path).unwrap())
        } else {
            None
        }
    }
    fn next(&mut self) -> bool {
        next_item(self.m, &mut self.path).unwrap()
    }
    fn prev(&mut self) -> bool {
        prev_item(self.m, &mut self.path).unwrap()
    }
}

/// `search_slot_ro`, cross-checked with `search_slot` without COW on a
/// view of the context that panics on any change.
fn readonly_search(m: &Mem, root: &RootNode, key: &Key, path: &mut WPath) -> bool {
    struct View<'a>(&'a Mem);
    impl TreeCtx for View<'_> {
        type Src = MemSrc;
        fn src(&self) -> &MemSrc {
            &self.0.src
        }
        fn dirty(&self) -> &DirtyBlocks {
            &self.0.dirty
        }
        fn dirty_mut(&mut self) -> &mut DirtyBlocks {
            panic!("a read-only search changed a block")
        }
        fn transid(&self) -> u64 {
            self.0.transid
        }
        fn nodesize(&self) -> u32 {
            self.0.nodesize
        }
        fn header_init(&self, b: u64, o: u64, l: u8) -> HeaderInit {
            self.0.header_init(b, o, l)
        }
        fn alloc_tree_block(&mut self, _: u64, _: u8, _: &Key) -> Result<u64> {
            panic!("a read-only search allocated")
        }
        fn free_tree_block(&mut self, _: u64, _: u64, _: u8) -> Result {
            panic!("a read-only search freed")
        }
    }
    let found = search_slot_ro(m, root, key, path).unwrap();
    let mut r = *root;
    let mut p2 = WPath::new();
    assert_eq!(search_slot(&mut View(m), &mut r, key, &mut p2, 0, false).unwrap(), found);
    assert_eq!(r, *root);
    assert_eq!(p2, *path);
    found
}

fn random_key(rng: &mut Rng, space: u64) -> Key {
    Key::new(256 + rng.below(space), TYPES[rng.below(TYPES.len() as u64) as usize], rng.below(64) * 3)
}

fn random_size(rng: &mut Rng, nodesize: u32, big_permille: u64) -> usize {
    let max = max_item_size(nodesize) as u64;
    let r = rng.below(1000);
    let s = if r < big_permille {
        max - rng.below(80).min(max)
    } else if r < 700 {
        rng.below(48)
    } else if r < 950 {
        48 + rng.below(500)
    } else {
        500 + rng.below(2000)
    };
    s.min(max) as usize
}

/// The first model key `>= k`.
fn existing(model: &BTreeMap<Key, Vec<u8>>, k: Key) -> Option<Key> {
    model.range(k..).next().or_else(|| model.iter().next_back()).map(|(k, _)| *k)
}

struct Fixture {
    m: Mem,
    root: RootNode,
    model: BTreeMap<Key, Vec<u8>>,
    rng: Rng,
    space: u64,
    big: u64,
}

impl Fixture {
    fn new(nodesize: u32, seed: u64, space: u64, big: u64) -> Self {
        let (m, root) = Mem::new(nodesize);
        Fixture { m, root, model: BTreeMap::new(), rng: Rng(seed), space, big }
    }

    fn insert(&mut self) {
        let k = random_key(&mut self.rng, self.space);
        let size = random_size(&mut self.rng, self.m.nodesize, self.big);
        let data = self.rng.bytes(size);
        let r = insert_item(&mut self.m, &mut self.root, &k, &data);
        match self.model.entry(k) {
            std::collections::btree_map::Entry::Occupied(_) => assert_eq!(r, Err(EEXIST)),
            std::collections::btree_map::Entry::Vacant(v) => {
                r.unwrap();
                v.insert(data);
            }
        }
    }

    fn delete(&mut self, max_nr: u64) {
        let Some(k) = existing(&self.model, random_key(&mut self.rng, self.space)) else { return };
        let mut path = WPath::new();
        assert!(search_slot(&mut self.m, &mut self.root, &k, &mut path, -1, true).unwrap());
        assert_eq!(item_key(&self.m, &path).unwrap(), k);
        let n = leaf_nritems(&self.m, &path).unwrap();
        let nr = 1 + self.rng.below(max_nr).min((n - path.slot() - 1) as u64) as usize;
        let mut gone = Vec::new();
        for s in path.slot()..path.slot() + nr {
            let mut p = path;
            p.set_slot(s);
            gone.push(item_key(&self.m, &p).unwrap());
        }
        del_items(&mut self.m, &mut self.root, &mut path, nr).unwrap();
        for g in &gone {
            assert!(self.model.remove(g).is_some());
        }
        // The path is where the first deleted key was.
        let want = self.model.range(k..).next().map(|(k, _)| *k);
        let have = WPathWalk { m: &self.m, path }.cur();
        assert_eq!(have, want);
    }

    fn extend(&mut self) {
        let Some(k) = existing(&self.model, random_key(&mut self.rng, self.space)) else { return };
        let extra = if self.rng.below(4) == 0 { self.rng.below(3000) } else { self.rng.below(64) } as u32;
        let mut path = WPath::new();
        let size = self.model[&k].len();
        let r = search_slot(&mut self.m, &mut self.root, &k, &mut path, extra as i32, true);
        if size + extra as usize > max_item_size(self.m.nodesize) as usize {
            assert_eq!(r, Err(EOVERFLOW));
            return;
        }
        assert!(r.unwrap());
        assert!(leaf_free_space(&self.m, &path).unwrap() >= extra as usize);
        extend_item(&mut self.m, &path, extra).unwrap();
        let grown = item_data(&self.m, &path).unwrap();
        assert!(grown[..size] == self.model[&k][..] && grown[size..].iter().all(|&b| b == 0));
        let d = self.model.get_mut(&k).unwrap();
        d.resize(size + extra as usize, 0);
        // Fill the new bytes so later moves are checked.
        let fill = self.rng.bytes(extra as usize);
        item_data_mut(&mut self.m, &path).unwrap()[size..].copy_from_slice(&fill);
        d[size..].copy_from_slice(&fill);
    }

    fn truncate(&mut self) {
        let Some(k) = existing(&self.model, random_key(&mut self.rng, self.space)) else { return };
        let mut path = WPath::new();
        assert!(search_slot(&mut self.m, &mut self.root, &k, &mut path, 0, true).unwrap());
        let d = self.model.get_mut(&k).unwrap();
        let new_size = self.rng.below(d.len() as u64 + 1) as usize;
        let from_end = self.rng.below(2) == 0;
        truncate_item(&mut self.m, &path, new_size as u32, from_end).unwrap();
        if from_end {
            d.truncate(new_size);
        } else {
            d.drain(..d.len() - new_size);
        }
        assert!(item_data(&self.m, &path).unwrap() == &d[..]);
    }

    fn set_key(&mut self) {
        let Some(k) = existing(&self.model, random_key(&mut self.rng, self.space)) else { return };
        let mut path = WPath::new();
        assert!(search_slot(&mut self.m, &mut self.root, &k, &mut path, 0, true).unwrap());
        let prev = self.model.range(..k).next_back().map(|(k, _)| *k);
        let next = self.model.range((std::ops::Bound::Excluded(k), std::ops::Bound::Unbounded)).next().map(|(k, _)| *k);
        let nudge = Key::new(k.objectid, k.ty, k.offset.wrapping_add(self.rng.below(7)).wrapping_sub(3));
        let cand = match self.rng.below(5) {
            0 => next.unwrap_or(nudge),
            1 => prev.unwrap_or(nudge),
            _ => nudge,
        };
        let ok = prev.is_none_or(|p| p < cand) && next.is_none_or(|n| cand < n);
        let r = set_item_key(&mut self.m, &path, &cand);
        if ok {
            r.unwrap();
            let d = self.model.remove(&k).unwrap();
            self.model.insert(cand, d);
            assert_eq!(item_key(&self.m, &path).unwrap(), cand);
        } else {
            assert_eq!(r, Err(EINVAL), "set {} -> {} between {:?} and {:?}", k, cand, prev, next);
        }
    }

    fn rewrite(&mut self) {
        let Some(k) = existing(&self.model, random_key(&mut self.rng, self.space)) else { return };
        let mut path = WPath::new();
        assert!(search_slot(&mut self.m, &mut self.root, &k, &mut path, 0, true).unwrap());
        let d = self.model.get_mut(&k).unwrap();
        let fill = self.rng.bytes(d.len());
        item_data_mut(&mut self.m, &path).unwrap().copy_from_slice(&fill);
        *d = fill;
    }

    fn lookup(&mut self) {
        let k = random_key(&mut self.rng, self.space);
        let mut path = WPath::new();
        readonly_search(&self.m, &self.root, &k, &mut path);
        let n = leaf_nritems(&self.m, &path).unwrap();
        match self.model.get(&k) {
            Some(d) => {
                assert!(path.slot() < n);
                let it = read_item(&self.m, &path).unwrap();
                assert_eq!(it.key(), k);
                assert!(it.data() == &d[..]);
                if !self.m.dirty.contains(path.leaf()) {
                    assert_eq!(item_data(&self.m, &path), Err(EINVAL));
                    assert_eq!(item_data_mut(&mut self.m, &path).err(), Some(EINVAL));
                }
            }
            None => {
                if path.slot() < n {
                    assert!(item_key(&self.m, &path).unwrap() > k);
                } else {
                    assert_eq!(item_key(&self.m, &path), Err(ENOENT));
                }
            }
        }
        // Walk a little both ways.
        let mut w = WPathWalk { m: &self.m, path };
        let fwd: Vec<Key> = self.model.range(k..).take(20).map(|(k, _)| *k).collect();
        let mut got = Vec::new();
        if let Some(c) = w.cur() {
            got.push(c);
            while got.len() < fwd.len() && w.next() {
                got.push(item_key(&self.m, &w.path).unwrap());
            }
        }
        assert_eq!(got, fwd);
        let mut w = WPathWalk { m: &self.m, path };
        let back: Vec<Key> = self.model.range(..k).rev().take(20).map(|(k, _)| *k).collect();
        let mut got = Vec::new();
        while got.len() < back.len() && w.prev() {
            got.push(item_key(&self.m, &w.path).unwrap());
        }
        assert_eq!(got, back);
    }

    /// One random operation; `weights` are insert, delete, extend,
    /// truncate, set_key, rewrite, lookup.
    fn op(&mut self, weights: [u64; 7], max_nr: u64) {
        let total: u64 = weights.iter().sum();
        let mut r = self.rng.below(total);
        let mut which = 0;
        while r >= weights[which] {
            r -= weights[which];
            which += 1;
        }
        match which {
            0 => self.insert(),
            1 => self.delete(max_nr),
            2 => self.extend(),
            3 => self.truncate(),
            4 => self.set_key(),
            5 => self.rewrite(),
            _ => self.lookup(),
        }
    }

    fn maybe_commit(&mut self, every: u64) {
        if self.rng.below(every) == 0 {
            self.m.commit();
        }
    }
}

/// Grows to `peak` keys with mixed operations, churns, then deletes
/// everything; verifies and commits along the way.
fn randomized(nodesize: u32, seed: u64, peak: usize, space: u64, big: u64) {
    let mut f = Fixture::new(nodesize, seed, space, big);
    let mut ops = 0u64;
    let mut max_height = 0;
    let mut check = |f: &mut Fixture, ops: u64| {
        let every = if f.model.len() < 2000 { 97 } else { 1499 };
        if ops.is_multiple_of(every) {
            let (_, h) = f.m.verify(&f.root, &f.model);
            max_height = max_height.max(h);
        }
    };
    while f.model.len() < peak {
        f.op([60, 10, 8, 8, 5, 4, 5], 3);
        f.maybe_commit(700);
        ops += 1;
        check(&mut f, ops);
    }
    f.m.verify(&f.root, &f.model);
    for _ in 0..peak / 2 {
        f.op([30, 30, 10, 10, 8, 4, 8], 6);
        f.maybe_commit(500);
        ops += 1;
        check(&mut f, ops);
    }
    f.m.verify(&f.root, &f.model);
    f.m.commit();
    while !f.model.is_empty() {
        f.op([8, 70, 4, 6, 4, 2, 6], 8);
        f.maybe_commit(900);
        ops += 1;
        check(&mut f, ops);
    }
    let (blocks, h) = f.m.verify(&f.root, &f.model);
    assert_eq!((blocks, h), (1, 0), "an empty tree is one leaf");
    f.m.commit();
    f.m.verify(&f.root, &f.model);
    assert!(max_height >= 2, "the test never built a tree of height 3 (max level {})", max_height);
    eprintln!("nodesize {}: {} ops, {} allocs, max root level {}", nodesize, ops, f.m.allocs, max_height);
}

#[test]
fn random_4k() {
    randomized(4096, 0x1234_5678_9abc_def1, 20_000, 1 << 20, 5);
}

#[test]
fn random_16k() {
    randomized(16384, 0x0fed_cba9_8765_4321, 20_000, 1 << 20, 3);
}

#[test]
fn random_1k_deep_tree() {
    // Tiny blocks (28 pointers a node): a tree of height 4 and more, so node
    // splits, merges and rebalancing run at every level.
    randomized(1024, 0xdead_beef_0bad_cafe, 20_000, 1 << 20, 20);
}

#[test]
fn random_4k_dense_keys_big_items() {
    // Few objectids: many collisions, set_key conflicts, and big items.
    randomized(4096, 42, 3000, 400, 60);
}

#[test]
fn sequential_insert_and_delete() {
    for nodesize in [4096u32, 16384] {
        let (mut m, mut root) = Mem::new(nodesize);
        let mut model = BTreeMap::new();
        let n = 6000u64;
        for i in 0..n {
            let k = Key::new(256 + i, 2, 0);
            let d = vec![i as u8; 60];
            insert_item(&mut m, &mut root, &k, &d).unwrap();
            model.insert(k, d);
            if i % 1000 == 999 {
                m.commit();
            }
        }
        // Descending keys below the first ones.
        for i in 0..n {
            let k = Key::new(255 - (i % 250), 3, n - i);
            let d = vec![(i * 7) as u8; 30];
            insert_item(&mut m, &mut root, &k, &d).unwrap();
            model.insert(k, d);
        }
        let (blocks, level) = m.verify(&root, &model);
        assert!(level >= 1 && blocks > 10);
        m.commit();
        // Delete from the front, one search per item.
        while let Some((&k, _)) = model.iter().next() {
            let mut p = WPath::new();
            assert!(search_slot(&mut m, &mut root, &k, &mut p, -1, true).unwrap());
            del_items(&mut m, &mut root, &mut p, 1).unwrap();
            model.remove(&k);
            if model.len() % 2000 == 0 {
                m.verify(&root, &model);
                m.commit();
            }
        }
        assert_eq!(m.verify(&root, &model), (1, 0));
    }
}

#[test]
fn range_deletes_rebalance_nodes() {
    // Random fills, then whole key ranges deleted in order: nodes at the
    // edge of a range go underfull next to full siblings, at every level.
    for seed in 1..25u64 {
        let (mut m, mut root) = Mem::new(1024);
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut model = BTreeMap::new();
        while model.len() < 6000 {
            let k = Key::new(256 + rng.below(20_000), 2, 0);
            let len = rng.below(40) as usize;
            let d = rng.bytes(len);
            if insert_item(&mut m, &mut root, &k, &d).is_ok() {
                model.insert(k, d);
            }
        }
        m.verify(&root, &model);
        m.commit();
        for r in 0..12u64 {
            let lo = Key::new(256 + rng.below(20_000), 0, 0);
            let hi = Key::new(lo.objectid + 500 + r * 300, 0, 0);
            let gone: Vec<Key> = model.range(lo..hi).map(|(k, _)| *k).collect();
            let ascending = r % 2 == 0;
            for i in 0..gone.len() {
                let k = if ascending { gone[i] } else { gone[gone.len() - 1 - i] };
                let mut p = WPath::new();
                assert!(search_slot(&mut m, &mut root, &k, &mut p, -1, true).unwrap());
                del_items(&mut m, &mut root, &mut p, 1).unwrap();
                model.remove(&k);
            }
            m.verify(&root, &model);
            if r % 3 == 0 {
                m.commit();
            }
        }
    }
}

#[test]
fn three_way_split() {
    let (mut m, mut root) = Mem::new(4096);
    let mut model = BTreeMap::new();
    for i in 0..60u64 {
        let k = Key::new(256, 2, i * 2);
        insert_item(&mut m, &mut root, &k, &[i as u8; 30]).unwrap();
        model.insert(k, vec![i as u8; 30]);
    }
    assert_eq!(root.level, 0);
    m.commit();
    // The biggest item in the middle of a full-ish leaf: alone in a leaf.
    let big = max_item_size(4096) as usize;
    let k = Key::new(256, 2, 61);
    insert_item(&mut m, &mut root, &k, &vec![0xab; big]).unwrap();
    model.insert(k, vec![0xab; big]);
    let (blocks, level) = m.verify(&root, &model);
    assert_eq!((blocks, level), (4, 1));
    // Growing an item of that leaf that cannot grow.
    let mut p = WPath::new();
    assert_eq!(search_slot(&mut m, &mut root, &k, &mut p, 1, true), Err(EOVERFLOW));
    // Growing a small item next to it splits its leaf so it fits.
    let k2 = Key::new(256, 2, 60);
    assert!(search_slot(&mut m, &mut root, &k2, &mut p, 2000, true).unwrap());
    extend_item(&mut m, &p, 2000).unwrap();
    model.get_mut(&k2).unwrap().resize(2030, 0);
    m.verify(&root, &model);
    // Item at slot 0 of the whole tree, too big to share a leaf.
    let k0 = Key::new(1, 2, 0);
    insert_item(&mut m, &mut root, &k0, &vec![1; big]).unwrap();
    model.insert(k0, vec![1; big]);
    m.verify(&root, &model);
    m.commit();
    m.verify(&root, &model);
}

#[test]
fn errors() {
    let (mut m, mut root) = Mem::new(4096);
    let big = max_item_size(4096);
    let mut p = WPath::new();
    assert_eq!(insert_empty_item(&mut m, &mut root, &mut p, &Key::new(300, 2, 0), big + 1), Err(EOVERFLOW));
    insert_empty_item(&mut m, &mut root, &mut p, &Key::new(300, 2, 0), 10).unwrap();
    assert_eq!(item_data(&m, &p).unwrap(), &[0u8; 10]);
    assert_eq!(insert_empty_item(&mut m, &mut root, &mut p, &Key::new(300, 2, 0), 10), Err(EEXIST));
    assert_eq!(item_key(&m, &p).unwrap(), Key::new(300, 2, 0));
    assert_eq!(search_slot(&mut m, &mut root, &Key::new(300, 2, 0), &mut p, 5, false), Err(EINVAL));
    assert!(search_slot(&mut m, &mut root, &Key::new(300, 2, 0), &mut p, 0, true).unwrap());
    assert_eq!(truncate_item(&mut m, &p, 11, true), Err(EINVAL));
    assert_eq!(extend_item(&mut m, &p, 5000), Err(EOVERFLOW));
    assert_eq!(set_item_key(&mut m, &p, &Key::new(300, 2, 1)), Ok(()));
    m.commit();
    // Clean leaf: read only.
    let mut p = WPath::new();
    readonly_search(&m, &root, &Key::new(300, 2, 1), &mut p);
    assert_eq!(item_data(&m, &p), Err(EINVAL));
    assert_eq!(extend_item(&mut m, &p, 1), Err(EINVAL));
    assert_eq!(del_items(&mut m, &mut root, &mut p, 1), Err(EINVAL));
    assert_eq!(read_item(&m, &p).unwrap().data(), &[0u8; 10]);
    // Past the end.
    p.set_slot(1);
    assert_eq!(item_key(&m, &p), Err(ENOENT));
    // Allocation failure is an error, not a panic, and changes nothing
    // committed.
    m.fail_at = Some(m.allocs);
    assert!(insert_item(&mut m, &mut root, &Key::new(301, 2, 0), &[1]).is_err());
    m.fail_at = None;
    // Set-key order across leaves.
    let (mut m, mut root) = Mem::new(4096);
    for i in 0..400u64 {
        insert_item(&mut m, &mut root, &Key::new(1000 + i * 10, 2, 0), &[0; 40]).unwrap();
    }
    assert!(root.level >= 1);
    // The first key of the second leaf cannot go below the last of the first.
    let mut p = WPath::new();
    let mut first = WPath::new();
    readonly_search(&m, &root, &Key::MIN, &mut first);
    let n0 = leaf_nritems(&m, &first).unwrap();
    first.set_slot(n0 - 1);
    let last0 = item_key(&m, &first).unwrap();
    assert!(next_item(&m, &mut first).unwrap());
    let first1 = item_key(&m, &first).unwrap();
    assert!(search_slot(&mut m, &mut root, &first1, &mut p, 0, true).unwrap());
    assert_eq!(p.slot(), 0);
    assert_eq!(set_item_key(&mut m, &p, &last0), Err(EINVAL));
    assert_eq!(set_item_key(&mut m, &p, &Key::new(last0.objectid, 2, 5)), Ok(()));
    let mut model: BTreeMap<Key, Vec<u8>> =
        (0..400u64).map(|i| (Key::new(1000 + i * 10, 2, 0), vec![0; 40])).collect();
    model.remove(&first1);
    model.insert(Key::new(last0.objectid, 2, 5), vec![0; 40]);
    m.verify(&root, &model);
}

#[test]
fn corrupt_committed_blocks_do_not_panic() {
    let mut rng = Rng(99);
    for round in 0..60 {
        let (mut m, mut root) = Mem::new(4096);
        for i in 0..800u64 {
            let k = Key::new(256 + (i * 7919) % 5000, 2, 0);
            let len = rng.below(120) as usize;
            let _ = insert_item(&mut m, &mut root, &k, &rng.bytes(len));
        }
        m.commit();
        // Corrupt a few bytes of one committed block (header or body).
        let addrs: Vec<u64> = m.src.blocks.keys().copied().collect();
        let victim = addrs[rng.below(addrs.len() as u64) as usize];
        let mut buf = m.src.blocks[&victim].to_vec();
        for _ in 0..1 + round % 4 {
            let at = if rng.below(2) == 0 { 96 + rng.below(4) as usize } else { 101 + rng.below(3995) as usize };
            buf[at] ^= 1 << rng.below(8);
        }
        m.src.blocks.insert(victim, buf.into());
        for _ in 0..200 {
            let k = Key::new(256 + rng.below(5000), 2, 0);
            let mut p = WPath::new();
            let _ = match rng.below(4) {
                0 => {
                    let len = rng.below(300) as usize;
                    insert_item(&mut m, &mut root, &k, &rng.bytes(len))
                }
                1 => match search_slot(&mut m, &mut root, &k, &mut p, -1, true) {
                    Ok(true) => del_items(&mut m, &mut root, &mut p, 1),
                    r => r.map(|_| ()),
                },
                2 => search_slot(&mut m, &mut root, &k, &mut p, 0, false).and_then(|_| {
                    for _ in 0..30 {
                        if !next_item(&m, &mut p)? {
                            break;
                        }
                        let _ = read_item(&m, &p)?;
                    }
                    Ok(())
                }),
                _ => search_slot(&mut m, &mut root, &k, &mut p, 100, true)
                    .and_then(|f| if f { extend_item(&mut m, &p, 100) } else { Ok(()) }),
            };
        }
    }
    // A committed leaf with an impossible item count is refused on COW.
    let (mut m, mut root) = Mem::new(4096);
    insert_item(&mut m, &mut root, &Key::new(300, 2, 0), &[1; 8]).unwrap();
    m.commit();
    let mut buf = m.src.blocks[&root.bytenr].to_vec();
    set_nritems(&mut buf, 1000);
    m.src.blocks.insert(root.bytenr, buf.into());
    let mut p = WPath::new();
    assert_eq!(search_slot(&mut m, &mut root, &Key::new(300, 2, 0), &mut p, 0, true), Err(EUCLEAN));
}

/// The transaction context over a real image.
struct ImgCtx {
    img: Image,
    dirty: DirtyBlocks,
    transid: u64,
    next: u64,
    chunk_tree_uuid: [u8; 16],
    allocated: HashSet<u64>,
    freed: Vec<u64>,
}

impl TreeCtx for ImgCtx {
    type Src = Image;
    fn src(&self) -> &Image {
        &self.img
    }
    fn dirty(&self) -> &DirtyBlocks {
        &self.dirty
    }
    fn dirty_mut(&mut self) -> &mut DirtyBlocks {
        &mut self.dirty
    }
    fn transid(&self) -> u64 {
        self.transid
    }
    fn nodesize(&self) -> u32 {
        self.img.nodesize
    }
    fn header_init(&self, bytenr: u64, owner: u64, level: u8) -> HeaderInit {
        HeaderInit {
            bytenr,
            generation: self.transid,
            owner,
            level,
            fsid: self.img.fsid,
            chunk_tree_uuid: self.chunk_tree_uuid,
        }
    }
    fn alloc_tree_block(&mut self, owner: u64, _level: u8, _first_key: &Key) -> Result<u64> {
        assert_eq!(owner, 5);
        let b = self.next;
        self.next += u64::from(self.img.nodesize);
        self.allocated.insert(b);
        Ok(b)
    }
    fn free_tree_block(&mut self, owner: u64, bytenr: u64, _level: u8) -> Result {
        assert_eq!(owner, 5);
        self.freed.push(bytenr);
        Ok(())
    }
}

#[test]
fn insert_into_mkfs_image() {
    let dir = common::Scratch::new("ctree-write");
    let path = common::mkfs(&dir.0, "img", 256 << 20, &[]);
    let img = Image::open(&path);
    let rp = img.tree(5).expect("fs tree");
    let original = img.items(rp).unwrap();
    assert!(!original.is_empty());
    let mut chunk_tree_uuid = [0u8; 16];
    chunk_tree_uuid.copy_from_slice(&img.raw_block(rp.bytenr).unwrap()[64..80]);
    let transid = img.sb().generation() + 1;
    let mut ctx = ImgCtx {
        img,
        dirty: DirtyBlocks::new(),
        transid,
        next: 1 << 40,
        chunk_tree_uuid,
        allocated: HashSet::new(),
        freed: Vec::new(),
    };
    let mut root = RootNode { objectid: 5, bytenr: rp.bytenr, level: rp.level, generation: rp.generation };
    let mut model: BTreeMap<Key, Vec<u8>> = original.into_iter().collect();
    let mut rng = Rng(2024);
    let mut inserted = 0;
    while inserted < 2000 {
        let k = Key::new(1000 + rng.below(100_000), 253, rng.below(4));
        if model.contains_key(&k) {
            continue;
        }
        let len = rng.below(200) as usize;
        let d = rng.bytes(len);
        insert_item(&mut ctx, &mut root, &k, &d).unwrap();
        model.insert(k, d);
        inserted += 1;
    }
    assert!(root.level >= 1);
    assert!(ctx.freed.contains(&rp.bytenr), "the committed root was copied and released");
    // Read everything back through the read-only search over the overlay.
    let ov = Overlay { dirty: &ctx.dirty, src: &ctx.img };
    let mut p = Path::new();
    p.search(&ov, root.bytenr, root.level, root.generation, &Key::MIN).unwrap();
    let mut it = model.iter();
    let mut count = 0;
    while let Some(item) = p.item().unwrap() {
        let (k, d) = it.next().expect("more items than expected");
        assert_eq!(item.key, *k);
        assert!(item.data == &d[..]);
        count += 1;
        if !p.next_item(&ov).unwrap() {
            break;
        }
    }
    assert!(it.next().is_none());
    assert_eq!(count, model.len());
    // Every dirty block, finished as commit would, passes the full checks.
    let csum = ctx.img.csum_type;
    let fsid = ctx.img.fsid;
    for (b, data) in ctx.dirty.iter() {
        assert!(ctx.allocated.contains(&b));
        let mut buf = data.to_vec();
        buf[56] |= 1;
        let mut out = [0u8; 32];
        assert!(csum.compute(&buf[32..], &mut out));
        buf[..32].copy_from_slice(&out);
        let exp = BlockExpect { owner: Some(5), ..BlockExpect::at(b, ctx.img.sectorsize) };
        check_tree_block(&buf, &exp, &fsid, csum).unwrap_or_else(|e| panic!("{}", e));
    }
    // Deleting what was inserted gives back the original tree's items.
    let keys: Vec<Key> = model.keys().copied().filter(|k| k.ty == 253 && k.objectid >= 1000).collect();
    for k in keys {
        let mut p = WPath::new();
        assert!(search_slot(&mut ctx, &mut root, &k, &mut p, -1, true).unwrap());
        del_items(&mut ctx, &mut root, &mut p, 1).unwrap();
        model.remove(&k);
    }
    let ov = Overlay { dirty: &ctx.dirty, src: &ctx.img };
    let mut p = Path::new();
    p.search(&ov, root.bytenr, root.level, root.generation, &Key::MIN).unwrap();
    let mut back = Vec::new();
    while let Some(item) = p.item().unwrap() {
        back.push((item.key, item.data.to_vec()));
        if !p.next_item(&ov).unwrap() {
            break;
        }
    }
    assert!(back.into_iter().eq(model.into_iter()));
}
