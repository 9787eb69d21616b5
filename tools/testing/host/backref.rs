// SPDX-License-Identifier: GPL-2.0
//! Back references on an image mkfs.btrfs --rootdir made: every data
//! extent's logical address resolves to exactly the file ranges that use
//! it (the LOGICAL_INO walk), and every file's inode resolves to its path
//! in the source tree (INO_PATHS, INO_LOOKUP's directory paths).

mod common;
mod image;

use common::{mkfs, Rng, Scratch};
use image::Image;
use rbtrfs_core::backref::{dir_path, extent_at, inode_paths, inodes_from_logical, ExtentAt, Hit};
use rbtrfs_core::ctree::{key_type, objectid, Key, Path};
use rbtrfs_core::extent_io::RootNode;
use rbtrfs_core::items::{FileExtent, FileExtentBody, InodeItem};
use std::collections::BTreeMap;

fn root_node(img: &Image, id: u64) -> RootNode {
    let r = img.tree(id).unwrap();
    RootNode { objectid: id, bytenr: r.bytenr, level: r.level, generation: r.generation }
}

#[test]
fn logical_and_paths_resolve() {
    let dir = Scratch::new("backref");
    let src = dir.0.join("src");
    let mut rng = Rng(0xbac);
    let mut files = BTreeMap::new();
    for d in ["a", "a/b", "a/b/c", "d"] {
        std::fs::create_dir_all(src.join(d)).unwrap();
    }
    for i in 0..40u64 {
        let d = ["a", "a/b", "a/b/c", "d", ""][(i % 5) as usize];
        let rel = if d.is_empty() { format!("f{}", i) } else { format!("{}/f{}", d, i) };
        let len = 8192 + rng.below(300_000) as usize;
        std::fs::write(src.join(&rel), rng.bytes(len)).unwrap();
        files.insert(rel, len as u64);
    }
    let img_path = mkfs(&dir.0, "b.img", 256 << 20, &["--rootdir", src.to_str().unwrap()]);
    let img = Image::open(&img_path);
    let fs_root = root_node(&img, objectid::FS_TREE);
    let extent_root = root_node(&img, objectid::EXTENT_TREE);
    let roots = |id: u64| (id == objectid::FS_TREE).then_some(fs_root);
    let nodesize = img.sb().nodesize();

    // Every regular file extent item, and every regular file's size.
    let mut p = Path::new();
    p.search(&img, fs_root.bytenr, fs_root.level, fs_root.generation, &Key::MIN).unwrap();
    let mut extents = Vec::new();
    let mut sizes = BTreeMap::new();
    loop {
        let Some(item) = p.item().unwrap() else { break };
        if item.key.ty == key_type::EXTENT_DATA {
            if let FileExtentBody::Regular(e) = FileExtent::parse(item.data).unwrap().body {
                if e.disk_bytenr() != 0 {
                    extents.push((item.key.objectid, item.key.offset, e.disk_bytenr(), e.offset(), e.num_bytes()));
                }
            }
        }
        if item.key.ty == key_type::INODE_ITEM && item.key.objectid > objectid::FIRST_FREE {
            let ii = InodeItem::new(item.data).unwrap();
            if ii.mode() & 0o170000 == 0o100000 {
                sizes.insert(item.key.objectid, ii.size());
            }
        }
        if !p.next_item(&img).unwrap() {
            break;
        }
    }
    assert!(extents.len() >= 40, "{} extents", extents.len());
    for &(ino, off, bytenr, eoff, num) in &extents {
        let mid = (num / 2) & !4095;
        let logical = bytenr + eoff + mid;
        let hits = inodes_from_logical(&img, &extent_root, &roots, logical, nodesize, false).unwrap().unwrap();
        assert!(hits.contains(&Hit { ino, offset: off + mid, root: 5 }), "{} -> {:?}", logical, hits);
        assert!(hits.iter().all(|h| h.ino == ino), "no other inode uses {}: {:?}", logical, hits);
        let all = inodes_from_logical(&img, &extent_root, &roots, logical, nodesize, true).unwrap().unwrap();
        assert!(all.contains(&Hit { ino, offset: off, root: 5 }), "ignore_offset {} -> {:?}", logical, all);
        assert_eq!(extent_at(&img, &extent_root, logical, nodesize).unwrap(), ExtentAt::Data { bytenr, len: match extent_at(&img, &extent_root, bytenr, nodesize).unwrap() { ExtentAt::Data { len, .. } => len, _ => panic!() } });
    }
    // A tree block, and an address no extent covers.
    assert_eq!(extent_at(&img, &extent_root, fs_root.bytenr, nodesize).unwrap(), ExtentAt::TreeBlock);
    assert!(inodes_from_logical(&img, &extent_root, &roots, fs_root.bytenr, nodesize, false).unwrap().is_none());
    assert!(inodes_from_logical(&img, &extent_root, &roots, 1 << 50, nodesize, false).unwrap().is_none());

    // Every file's inode resolves to its one path, with its size.
    let mut seen = BTreeMap::new();
    for (&ino, &size) in &sizes {
        let paths = inode_paths(&img, &fs_root, ino).unwrap();
        assert_eq!(paths.len(), 1, "inode {}: {:?}", ino, paths);
        let path = String::from_utf8(paths[0].to_vec()).unwrap();
        assert_eq!(files.get(&path), Some(&size), "inode {} -> {}", ino, path);
        seen.insert(path.clone(), ino);
        // Its directory's path (INO_LOOKUP's form: "a/b/").
        let parent = match path.rfind('/') { Some(i) => &path[..=i], None => "" };
        let mut p = Path::new();
        p.search(&img, fs_root.bytenr, fs_root.level, fs_root.generation, &Key::new(ino, key_type::INODE_REF, 0)).unwrap();
        let dirino = p.item().unwrap().unwrap().key.offset;
        assert_eq!(&dir_path(&img, &fs_root, dirino).unwrap().unwrap()[..], parent.as_bytes());
    }
    assert_eq!(seen.len(), files.len());
    assert!(dir_path(&img, &fs_root, objectid::FIRST_FREE).unwrap().unwrap().is_empty());
}
