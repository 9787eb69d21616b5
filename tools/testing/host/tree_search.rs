// SPDX-License-Identifier: GPL-2.0
//! The TREE_SEARCH walk (`tree_search::search_leaf`) against a brute-force
//! model: an image with 4 KiB nodes (many leaves) changed over several
//! commits (leaves of different generations), searched with random key
//! ranges, transid ranges, item limits and buffer sizes. The model walks
//! every item in order with its leaf's generation and applies the rules of
//! C's `copy_to_sk` in one pass; both outputs must be byte-identical, and
//! the same for the item counts, the overflow answer and the needed size.

mod common;
mod image;
mod rw;

use common::{mkfs, Rng, Scratch};
use image::Image;
use rbtrfs_core::ctree::{objectid, Key, Path};
use rbtrfs_core::extent_io::RootNode;
use rbtrfs_core::inode_ops::{self, NewInode};
use rbtrfs_core::items::Timespec;
use rbtrfs_core::mem;
use rbtrfs_core::transaction::{commit, Trans};
use rbtrfs_core::tree_search::{search_leaf, Cursor, SearchKey, Step, SEARCH_HEADER_SIZE};
use rw::{btrfs_check, open_rw};

/// Every item of a tree: (leaf generation, key, data).
fn all_items(img: &Image, root: &RootNode) -> Vec<(u64, Key, Vec<u8>)> {
    let mut p: Path<std::rc::Rc<[u8]>> = Path::new();
    p.search(img, root.bytenr, root.level, root.generation, &Key::MIN).unwrap();
    let mut out = Vec::new();
    while let Some(item) = p.item().unwrap() {
        let gen = p.leaf().unwrap().generation();
        out.push((gen, item.key, item.data.to_vec()));
        if !p.next_item(img).unwrap() {
            break;
        }
    }
    out
}

/// What the search must return: (bytes, items found, overflow, buf_size).
fn model(items: &[(u64, Key, Vec<u8>)], sk: &SearchKey, buf_size: u64) -> (Vec<u8>, u32, bool, u64) {
    let (min, max) = (sk.min_key(), sk.max_key());
    let mut out = Vec::new();
    let mut found = 0u32;
    let mut size = buf_size;
    if size < SEARCH_HEADER_SIZE as u64 {
        return (out, 0, true, SEARCH_HEADER_SIZE as u64);
    }
    for (gen, key, data) in items {
        if *key < min || *key > max || *gen < sk.min_transid || *gen > sk.max_transid {
            continue;
        }
        let mut len = data.len() as u64;
        let mut overflow = false;
        if 32 + len > size {
            if found > 0 {
                break;
            }
            size = 32 + len;
            len = 0;
            overflow = true;
        }
        if 32 + len + out.len() as u64 > size {
            break;
        }
        out.extend_from_slice(&gen.to_le_bytes());
        out.extend_from_slice(&key.objectid.to_le_bytes());
        out.extend_from_slice(&key.offset.to_le_bytes());
        out.extend_from_slice(&u32::from(key.ty).to_le_bytes());
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(&data[..len as usize]);
        found += 1;
        if overflow {
            return (out, found, true, size);
        }
        if found >= sk.nr_items {
            break;
        }
    }
    (out, found, false, size)
}

/// Runs the search leaf by leaf, as the ioctl does.
fn run(img: &Image, root: &RootNode, sk: &SearchKey, buf_size: u64) -> (Vec<u8>, u32, bool, u64) {
    let mut c = match Cursor::new(sk, buf_size) {
        Ok(c) => c,
        Err(need) => return (Vec::new(), 0, true, need),
    };
    let mut all = Vec::new();
    let mut out = mem::Vec::new();
    let mut leaves = 0;
    loop {
        out.clear();
        let start = c.used;
        let step = search_leaf(img, root, sk, &mut c, &mut out).unwrap();
        assert_eq!(start as usize, all.len(), "output is contiguous");
        all.extend_from_slice(&out);
        assert_eq!(c.used as usize, all.len());
        leaves += 1;
        assert!(leaves < 1_000_000, "search does not end");
        match step {
            Step::More => continue,
            Step::Done => return (all, c.found, false, c.buf_size),
            Step::Overflow => return (all, c.found, true, c.buf_size),
        }
    }
}

fn random_key(rng: &mut Rng, keys: &[Key]) -> Key {
    let k = keys[rng.below(keys.len() as u64) as usize];
    match rng.below(6) {
        0 => Key::new(k.objectid, k.ty, k.offset.wrapping_add(1)),
        1 => Key::new(k.objectid, k.ty, k.offset.wrapping_sub(1)),
        2 => Key::new(k.objectid, 0, 0),
        3 => Key::new(k.objectid, 255, u64::MAX),
        _ => k,
    }
}

#[test]
fn search_matches_model() {
    let dir = Scratch::new("tree-search");
    let img_path = mkfs(&dir.0, "s.img", 128 << 20, &["-n", "4096"]);
    let mut rng = Rng(0x5ea4c4);
    // Rounds of creates in a few directories: leaves of many generations.
    let mut dirs = vec![256u64];
    for round in 0..6u64 {
        let (image, mut fs, dev) = open_rw(&img_path);
        {
            let mut t = Trans::new(&mut fs, &image).unwrap();
            for i in 0..120u64 {
                let d = dirs[rng.below(dirs.len() as u64) as usize];
                let is_dir = i % 17 == 0;
                let attrs = NewInode {
                    mode: if is_dir { 0o40755 } else { 0o100644 },
                    uid: 0,
                    gid: 0,
                    rdev: 0,
                    now: Timespec { sec: 1_700_000_000 + round * 1000 + i, nsec: 0 },
                };
                let name = format!("r{}-n{}-{}", round, i, "x".repeat(rng.below(60) as usize));
                let (ino, _) = inode_ops::create(&mut t, objectid::FS_TREE, d, name.as_bytes(), &attrs).unwrap();
                if is_dir {
                    dirs.push(ino);
                }
            }
        }
        commit(&mut fs, &image, &dev).unwrap();
    }
    btrfs_check(&img_path);
    let img = Image::open(&img_path);
    for tree in [objectid::FS_TREE, objectid::ROOT_TREE, objectid::EXTENT_TREE, objectid::CHUNK_TREE] {
        let r = img.tree(tree).unwrap();
        let root = RootNode { objectid: tree, bytenr: r.bytenr, level: r.level, generation: r.generation };
        let items = all_items(&img, &root);
        let keys: Vec<Key> = items.iter().map(|i| i.1).collect();
        let mut gens: Vec<u64> = items.iter().map(|i| i.0).collect();
        gens.sort();
        gens.dedup();
        if tree == objectid::FS_TREE {
            assert!(r.level >= 1 && gens.len() >= 3, "fs tree: level {}, generations {:?}", r.level, gens);
        }
        eprintln!("tree {}: level {} items {} generations {:?}", tree, r.level, items.len(), gens);
        // The whole tree in a large buffer.
        let full = SearchKey {
            tree_id: tree,
            max_objectid: u64::MAX,
            max_offset: u64::MAX,
            max_transid: u64::MAX,
            max_type: 255,
            nr_items: u32::MAX,
            ..SearchKey::default()
        };
        let got = run(&img, &root, &full, 16 << 20);
        assert_eq!(got.1 as usize, items.len(), "tree {}: every item", tree);
        assert_eq!(got, model(&items, &full, 16 << 20));
        for n in 0..400 {
            let mut a = random_key(&mut rng, &keys);
            let mut b = random_key(&mut rng, &keys);
            if rng.below(8) != 0 && a > b {
                std::mem::swap(&mut a, &mut b);
            }
            let g = |rng: &mut Rng| gens[rng.below(gens.len() as u64) as usize];
            let (mut lo, mut hi) = match rng.below(4) {
                0 => (0, u64::MAX),
                1 => (g(&mut rng), u64::MAX),
                2 => (0, g(&mut rng)),
                _ => (g(&mut rng), g(&mut rng)),
            };
            if rng.below(8) != 0 && lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            let sk = SearchKey {
                tree_id: tree,
                min_objectid: a.objectid,
                max_objectid: b.objectid,
                min_offset: a.offset,
                max_offset: b.offset,
                min_transid: lo,
                max_transid: hi,
                // High bits of the type are ignored, as in C.
                min_type: u32::from(a.ty) | if n % 13 == 0 { 0x100 } else { 0 },
                max_type: u32::from(b.ty),
                nr_items: match rng.below(4) {
                    0 => rng.below(3) as u32,
                    1 => rng.below(100) as u32,
                    _ => u32::MAX,
                },
            };
            let buf = match rng.below(5) {
                0 => rng.below(64),
                1 => 32 + rng.below(200),
                2 => 4096 - 104,
                _ => rng.below(1 << 20),
            };
            let want = model(&items, &sk, buf);
            let got = run(&img, &root, &sk, buf);
            assert_eq!(got, want, "tree {} search {:?} buf {}", tree, sk, buf);
        }
    }
}
