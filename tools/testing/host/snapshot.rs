// SPDX-License-Identifier: GPL-2.0
//! Snapshots in the host-testable core: `snapshot.rs` (tree copy, COW of
//! shared blocks, dropping a tree) against images made by
//! `mkfs.btrfs --rootdir`, judged by `btrfs check` after every commit and
//! by reading every tree back against a model of its files.

mod common;
mod image;
mod rw;

use rw::{btrfs_check, open_rw};

use common::{mkfs, Rng, Scratch};
use image::Image;
use rbtrfs_core::ctree::{key_type, objectid, Key};
use rbtrfs_core::ctree_write::insert_item;
use rbtrfs_core::extent_io::Overlay;
use rbtrfs_core::file_item::{self as fi, ExtentKind};
use rbtrfs_core::inode_ops;
use rbtrfs_core::items::Timespec;
use rbtrfs_core::mem;
use rbtrfs_core::snapshot::{self, SnapshotParams};
use rbtrfs_core::transaction::{commit, FsState, Trans};
use std::collections::BTreeMap;
use std::path::Path as FsPath;

/// Files of one tree: name -> contents.
type Files = BTreeMap<String, Vec<u8>>;

const NODESIZE: &str = "4096";

fn now(i: u64) -> Timespec {
    Timespec { sec: 1_700_000_000 + i, nsec: 0 }
}

/// A --rootdir image with `n` files of mixed sizes (inline and regular)
/// in the top directory, metadata with 4 KiB nodes so the fs tree has
/// several levels.
fn make_image(dir: &FsPath, n: usize, seed: u64) -> (std::path::PathBuf, Files) {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut rng = Rng(seed);
    let mut files = Files::new();
    for i in 0..n {
        let len = match rng.below(10) {
            0..=3 => rng.below(1500) as usize,
            4 => 0,
            _ => 4096 + rng.below(24 * 1024) as usize,
        };
        let data = rng.bytes(len);
        let name = format!("f{:05}", i);
        std::fs::write(src.join(&name), &data).unwrap();
        files.insert(name, data);
    }
    let src_arg = src.to_str().unwrap().to_string();
    let img = mkfs(dir, "s.img", 512 << 20, &["-n", NODESIZE, "--rootdir", &src_arg]);
    std::fs::remove_dir_all(&src).unwrap();
    (img, files)
}

/// Reads every file of `names` in tree `root` through the current trees.
fn read_files(image: &Image, fs: &mut FsState, root: u64) -> Files {
    let mut names = Vec::new();
    {
        let t = Trans::new(fs, image).unwrap();
        let rn = t.fs.root(root).unwrap();
        let ov = Overlay { dirty: &t.fs.dirty, src: image };
        // Every DIR_INDEX of the top directory.
        let mut p = rbtrfs_core::ctree::Path::new();
        p.search(&ov, rn.bytenr, rn.level, rn.generation, &Key::new(256, key_type::DIR_INDEX, 0)).unwrap();
        loop {
            if p.key().unwrap().is_none() && !p.next_item(&ov).unwrap() {
                break;
            }
            let item = p.item().unwrap().unwrap();
            if item.key.objectid != 256 || item.key.ty != key_type::DIR_INDEX {
                break;
            }
            let d = item.data;
            let ino = u64::from_le_bytes(d[0..8].try_into().unwrap());
            let nl = u16::from_le_bytes([d[27], d[28]]) as usize;
            // Subvolume entries (location in the root tree) are not files.
            if d[8] == key_type::INODE_ITEM {
                names.push((String::from_utf8(d[30..30 + nl].to_vec()).unwrap(), ino));
            }
            if !p.next_item(&ov).unwrap() {
                break;
            }
        }
    }
    let rn = fs.root(root).unwrap();
    let ov = Overlay { dirty: &fs.dirty, src: image };
    let mut out = Files::new();
    for (name, ino) in names {
        let size = fi::read_inode(&ov, &rn, ino).unwrap().size as usize;
        let mut buf = vec![0u8; size];
        let mut runs = mem::Vec::new();
        let n = fi::read_file(&ov, &rn, ino, 0, &mut buf, &mut runs).unwrap();
        assert_eq!(n, size);
        for r in runs.iter() {
            let d = image.read_logical(r.logical, r.len).unwrap();
            buf[r.buf_offset..r.buf_offset + r.len].copy_from_slice(&d);
        }
        out.insert(name, buf);
    }
    out
}

/// Asserts two file sets are equal, naming the first difference.
fn same(have: &Files, want: &Files, what: &str) {
    for (k, v) in want {
        match have.get(k) {
            None => panic!("{}: {} missing", what, k),
            Some(h) if h != v => {
                let at = h.iter().zip(v.iter()).position(|(a, b)| a != b);
                panic!("{}: {} differs: len {} want {}, first difference at {:?}", what, k, h.len(), v.len(), at)
            }
            _ => {}
        }
    }
    if let Some(k) = have.keys().find(|k| !want.contains_key(*k)) {
        panic!("{}: {} unexpected", what, k);
    }
}

fn ino_of(t: &Trans<'_, Image>, root: u64, name: &str) -> u64 {
    inode_ops::lookup(t, root, 256, name.as_bytes()).unwrap().unwrap().0
}

/// The directory entries naming subvolume `id` as `name` in the top
/// directory of tree 5, and its ROOT_REF/ROOT_BACKREF (the namespace part
/// of snapshot creation, which this test does by hand).
fn link_subvol(t: &mut Trans<'_, Image>, id: u64, name: &str, index: u64, n: u64) {
    let transid = t.fs.transid();
    let name_b = name.as_bytes();
    let mut entry = Vec::new();
    entry.extend_from_slice(&id.to_le_bytes());
    entry.push(key_type::ROOT_ITEM);
    entry.extend_from_slice(&u64::MAX.to_le_bytes());
    entry.extend_from_slice(&transid.to_le_bytes());
    entry.extend_from_slice(&0u16.to_le_bytes());
    entry.extend_from_slice(&(name_b.len() as u16).to_le_bytes());
    entry.push(2); // BTRFS_FT_DIR
    entry.extend_from_slice(name_b);
    let dir_item = rbtrfs_core::items_write::dir_item_key(256, name_b);
    let dir_index = rbtrfs_core::items_write::dir_index_key(256, index);
    t.with_root(objectid::FS_TREE, |t, r| {
        insert_item(t, r, &dir_item, &entry)?;
        insert_item(t, r, &dir_index, &entry)
    })
    .unwrap();
    inode_ops::update_inode(t, objectid::FS_TREE, 256, |f| {
        f.size += 2 * name_b.len() as u64;
        f.mtime = now(n);
        f.ctime = now(n);
    })
    .unwrap();
    let mut rr = Vec::new();
    rr.extend_from_slice(&256u64.to_le_bytes());
    rr.extend_from_slice(&index.to_le_bytes());
    rr.extend_from_slice(&(name_b.len() as u16).to_le_bytes());
    rr.extend_from_slice(name_b);
    t.with_root(objectid::ROOT_TREE, |t, r| {
        insert_item(t, r, &Key::new(objectid::FS_TREE, key_type::ROOT_REF, id), &rr)?;
        insert_item(t, r, &Key::new(id, key_type::ROOT_BACKREF, objectid::FS_TREE), &rr)
    })
    .unwrap();
}

/// Snapshots `src` as `id` (with its namespace in tree 5), in a fresh
/// transaction, and commits.
fn take_snapshot(image: &Image, fs: &mut FsState, dev: &rw::FileDev, src: u64, id: u64, n: u64) {
    {
        let mut t = Trans::new(fs, image).unwrap();
        let p = SnapshotParams { uuid: [(id - 255) as u8; 16], readonly: false, otime: now(n), ctransid: 0, ctime: now(n) };
        snapshot::create_snapshot(&mut t, src, id, &p).unwrap();
        // DIR_INDEX numbers far above the files'.
        link_subvol(&mut t, id, &format!("snap{}", id), 100_000 + id, n);
    }
    commit(fs, image, dev).unwrap();
}

/// Random changes to tree `root`, mirrored in `model`: truncations,
/// punched holes, removed files, reflinks of one file's first extent
/// into another, xattrs.
fn mutate(t: &mut Trans<'_, Image>, root: u64, model: &mut Files, rng: &mut Rng, count: usize, n: u64) {
    let ss = 4096u64;
    for i in 0..count {
        let names: Vec<String> = model.keys().cloned().collect();
        if names.len() < 2 {
            return;
        }
        let name = names[rng.below(names.len() as u64) as usize].clone();
        let ino = ino_of(t, root, &name);
        match rng.below(5) {
            0 => {
                // Truncate to a sector boundary.
                let len = model[&name].len() as u64;
                let new = (rng.below(len + 1) / ss) * ss;
                fi::truncate(t, root, ino, new).unwrap();
                model.get_mut(&name).unwrap().truncate(new as usize);
            }
            1 => {
                // Punch a hole of whole sectors inside regular data.
                let len = model[&name].len() as u64;
                if len < 3 * ss {
                    continue;
                }
                let start = rng.below(len / ss - 1) * ss;
                let hl = ss * (1 + rng.below(2));
                let end = (start + hl).min(len / ss * ss);
                fi::punch_hole(t, root, ino, start, end - start).unwrap();
                model.get_mut(&name).unwrap()[start as usize..end as usize].fill(0);
            }
            2 => {
                let (ino2, f) = inode_ops::unlink(t, root, 256, name.as_bytes(), now(n)).unwrap();
                assert_eq!(ino2, ino);
                assert_eq!(f.nlink, 0);
                inode_ops::remove_inode(t, root, ino, |t| fi::drop_extents(t, root, ino, 0, u64::MAX).map(|_| ())).unwrap();
                model.remove(&name);
            }
            3 => {
                // Reflink the first extent of another file over the start
                // of this one.
                let other = names[rng.below(names.len() as u64) as usize].clone();
                if other == name {
                    continue;
                }
                let oino = ino_of(t, root, &other);
                let Some(fe) = fi::find_extent_trans(t, root, oino, 0).unwrap() else { continue };
                let ExtentKind::Regular(r) = fe.kind else { continue };
                if r.disk_bytenr == 0 || r.compression != 0 || r.prealloc || fe.file_offset != 0 {
                    continue;
                }
                let span = r.num_bytes.min(model[&other].len() as u64 / ss * ss);
                if span == 0 || span != r.num_bytes {
                    continue;
                }
                let cur = model[&name].len() as u64;
                if cur % ss != 0 && cur < span {
                    // The tail sector of an unaligned file would keep stale bytes.
                    continue;
                }
                fi::insert_file_extent(t, root, ino, 0, &r, false).unwrap();
                if cur < span {
                    inode_ops::update_inode(t, root, ino, |f| f.size = span).unwrap();
                }
                let src = model[&other][..span as usize].to_vec();
                let m = model.get_mut(&name).unwrap();
                if (m.len() as u64) < span {
                    m.resize(span as usize, 0);
                }
                m[..span as usize].copy_from_slice(&src);
            }
            _ => {
                let v = vec![(i % 251) as u8; 200 + rng.below(600) as usize];
                let xn = format!("user.s{}.{}", n, i);
                inode_ops::set_xattr(t, root, ino, (xn.as_bytes(), &v), 0, now(n)).unwrap();
            }
        }
    }
}

fn fs_level(fs: &FsState, root: u64) -> u8 {
    fs.root(root).unwrap().level
}

/// A snapshot of a level >= 2 tree; both trees changed after (COW of
/// shared blocks from either side), then a chain of snapshots of
/// snapshots, 6 deep, with changes to the newest and the oldest between;
/// every tree reads back its model after each commit and after reopening,
/// and `btrfs check` is clean throughout.
#[test]
fn snapshot_chain_cow_both_sides() {
    let dir = Scratch::new("snap-chain");
    let (img, files) = make_image(&dir.0, 2500, 0x5eed_0001);
    let (image, mut fs, dev) = open_rw(&img);
    assert!(fs_level(&fs, objectid::FS_TREE) >= 2, "fs tree level {}", fs_level(&fs, objectid::FS_TREE));
    same(&read_files(&image, &mut fs, objectid::FS_TREE), &files, "initial");
    let mut models: BTreeMap<u64, Files> = BTreeMap::new();
    models.insert(objectid::FS_TREE, files);
    let mut rng = Rng(0xc0ffee);
    drop(fs);
    let mut src = objectid::FS_TREE;
    for k in 0..6u64 {
        let id = 256 + k;
        let (image, mut fs, dev) = open_rw(&img);
        take_snapshot(&image, &mut fs, &dev, src, id, k);
        let m = models[&src].clone();
        models.insert(id, m);
        // Change the source and the snapshot, in one transaction.
        {
            let mut t = Trans::new(&mut fs, &image).unwrap();
            let mut ms = models.remove(&src).unwrap();
            mutate(&mut t, src, &mut ms, &mut rng, 120, 10 + k);
            models.insert(src, ms);
            let mut mn = models.remove(&id).unwrap();
            mutate(&mut t, id, &mut mn, &mut rng, 120, 20 + k);
            models.insert(id, mn);
        }
        for (&tree, m) in models.iter() {
            same(&read_files(&image, &mut fs, tree), m, &format!("tree {} before commit, round {}", tree, k));
        }
        commit(&mut fs, &image, &dev).unwrap();
        // And the oldest tree once more, in its own transaction.
        {
            let mut t = Trans::new(&mut fs, &image).unwrap();
            let mut m5 = models.remove(&objectid::FS_TREE).unwrap();
            mutate(&mut t, objectid::FS_TREE, &mut m5, &mut rng, 40, 30 + k);
            models.insert(objectid::FS_TREE, m5);
        }
        commit(&mut fs, &image, &dev).unwrap();
        drop(fs);
        drop(image);
        btrfs_check(&img);
        let (image, mut fs, _dev) = open_rw(&img);
        for (&tree, m) in models.iter() {
            same(&read_files(&image, &mut fs, tree), m, &format!("tree {} after reopen, round {}", tree, k));
        }
        src = id;
    }
    drop(image);
    drop(dev);
}

/// A tree block's extent item as `dump-tree -t extent` prints it.
#[derive(Debug, Default, Clone)]
struct MetaRefs {
    refs: u64,
    full_backref: bool,
    /// "root N" / "parent N" backrefs.
    backrefs: Vec<String>,
}

fn dump_extent_refs(img: &FsPath) -> BTreeMap<u64, MetaRefs> {
    let out = std::process::Command::new("btrfs")
        .args(["inspect-internal", "dump-tree", "-t", "extent"])
        .arg(img)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let mut map = BTreeMap::new();
    let mut cur: Option<(u64, MetaRefs)> = None;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("item ") {
            if let Some((b, m)) = cur.take() {
                map.insert(b, m);
            }
            if l.contains("METADATA_ITEM") {
                let open = l.find('(').unwrap();
                let b: u64 = l[open + 1..].split_whitespace().next().unwrap().parse().unwrap();
                cur = Some((b, MetaRefs::default()));
            }
            continue;
        }
        let Some((_, m)) = cur.as_mut() else { continue };
        if let Some(rest) = l.strip_prefix("refs ") {
            m.refs = rest.split_whitespace().next().unwrap().parse().unwrap();
            m.full_backref = l.contains("FULL_BACKREF");
        } else if let Some(r) = l.strip_prefix("tree block backref root ") {
            let r = if r.trim() == "FS_TREE" { "5".to_string() } else { r.trim().to_string() };
            m.backrefs.push(format!("root {}", r));
        } else if let Some(p) = l.strip_prefix("shared block backref parent ") {
            m.backrefs.push(format!("parent {}", p.trim()));
        }
    }
    if let Some((b, m)) = cur.take() {
        map.insert(b, m);
    }
    map
}

/// Child pointers of a committed tree block: (key, bytenr).
fn children(image: &Image, bytenr: u64) -> Vec<(Key, u64)> {
    let buf = image.raw_block(bytenr).unwrap();
    let tb = rbtrfs_core::ctree::TreeBlock::new(&buf).unwrap();
    (0..tb.nritems() as usize).map(|s| tb.key_ptr(s).unwrap()).map(|kp| (kp.key, kp.blockptr)).collect()
}

/// Checks the snapshot root's children: each still shared by trees 5 and
/// 256 by tree (refs 2), or copied by tree 5 already, then FULL_BACKREF
/// with only the snapshot's ref, and its children then hold a shared
/// block ref naming it. Returns the converted ones.
fn check_top_refs(image: &Image, img: &FsPath, top: &[(Key, u64)]) -> Vec<u64> {
    let refs = dump_extent_refs(img);
    let mut converted = Vec::new();
    for &(_, b) in top {
        let m = &refs[&b];
        if m.full_backref {
            converted.push(b);
            assert_eq!(m.refs, 1, "{}: {:?}", b, m);
            assert_eq!(m.backrefs, vec!["root 256".to_string()], "{}", b);
            for (_, c) in children(image, b) {
                let cm = &refs[&c];
                assert!(cm.backrefs.contains(&format!("parent {}", b)), "{}: {:?}", c, cm);
                assert!(cm.refs == 2 || (cm.refs == 1 && cm.full_backref), "{}: {:?}", c, cm);
            }
        } else {
            assert_eq!(m.refs, 2, "child {} of the snapshot root: {:?}", b, m);
            let mut br = m.backrefs.clone();
            br.sort();
            assert_eq!(br, vec!["root 256".to_string(), "root 5".to_string()], "{}", b);
        }
    }
    converted
}

/// After a snapshot the source's level-1 blocks have two tree block refs
/// (trees 5 and 256), except those tree 5 changed since (the snapshot's
/// directory entry): those have FULL_BACKREF with only the snapshot's ref
/// and their children a shared block ref naming them. After the source
/// changes a file, the block on its path is converted too.
#[test]
fn snapshot_refcounts_in_dump_tree() {
    let dir = Scratch::new("snap-refs");
    let (img, files) = make_image(&dir.0, 2500, 0x5eed_0002);
    let (image, mut fs, dev) = open_rw(&img);
    assert!(fs_level(&fs, objectid::FS_TREE) >= 2);
    take_snapshot(&image, &mut fs, &dev, objectid::FS_TREE, 256, 1);
    let snap_root = fs.root(256).unwrap();
    drop(fs);
    drop(image);
    btrfs_check(&img);
    let image = Image::open(&img);
    // The ROOT_ITEM as C's create_pending_snapshot writes it.
    {
        use rbtrfs_core::items::Root;
        let rt = image.root_tree();
        let all = image.range(rt, Key::new(5, key_type::ROOT_ITEM, 0), Key::new(256, key_type::ROOT_ITEM, u64::MAX)).unwrap();
        let (k5, i5) = all.iter().find(|(k, _)| k.objectid == 5 && k.ty == key_type::ROOT_ITEM).unwrap();
        let (k, i) = all.iter().find(|(k, _)| k.objectid == 256 && k.ty == key_type::ROOT_ITEM).unwrap();
        let (src, snap) = (Root::parse(i5).unwrap(), Root::parse(i).unwrap());
        let (se, ne) = (src.valid_ext().unwrap(), snap.valid_ext().unwrap());
        assert_eq!(k.offset, snap_root.generation, "snapshot items are keyed by their transaction");
        assert_eq!(k5.offset, 0);
        assert_eq!(snap.item.bytenr(), snap_root.bytenr);
        assert_eq!(snap.item.level(), src.item.level());
        assert_eq!(snap.item.refs(), 1);
        assert_eq!(snap.item.last_snapshot(), snap_root.generation);
        assert_eq!(src.item.last_snapshot(), snap_root.generation);
        assert_eq!(snap.item.root_dirid(), 256);
        assert_eq!(ne.otransid(), snap_root.generation);
        assert_eq!(ne.parent_uuid(), se.uuid());
        assert_eq!(ne.uuid(), &[1u8; 16]);
        assert_eq!(snap.item.drop_progress(), Key::MIN);
    }
    let top = children(&image, snap_root.bytenr);
    assert!(top.len() >= 3);
    let before = check_top_refs(&image, &img, &top);
    assert!(!before.is_empty() && before.len() <= 3, "{:?}", before);
    // Change a file of the source far from the directory's items.
    let name = files.keys().last().unwrap().clone();
    let (image, mut fs, dev) = open_rw(&img);
    let ino;
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        ino = ino_of(&t, objectid::FS_TREE, &name);
        inode_ops::set_xattr(&mut t, objectid::FS_TREE, ino, (b"user.x", b"value"), 0, now(2)).unwrap();
    }
    commit(&mut fs, &image, &dev).unwrap();
    drop(fs);
    drop(image);
    btrfs_check(&img);
    let image = Image::open(&img);
    let after = check_top_refs(&image, &img, &top);
    let key = Key::new(ino, key_type::XATTR_ITEM, 0);
    let slot = top.iter().rposition(|(k, _)| *k <= key).unwrap();
    assert!(after.contains(&top[slot].1), "the block on the changed path is converted");
    assert!(before.iter().all(|b| after.contains(b)));
}

/// Removes what [`link_subvol`] added and marks subvolume `id` for
/// dropping with an orphan item (the namespace part of C's
/// `btrfs_delete_subvolume`, by hand).
fn unlink_subvol(t: &mut Trans<'_, Image>, id: u64, name: &str, index: u64, n: u64) {
    let name_b = name.as_bytes();
    let keys = [rbtrfs_core::items_write::dir_item_key(256, name_b), rbtrfs_core::items_write::dir_index_key(256, index)];
    t.with_root(objectid::FS_TREE, |t, r| {
        for k in keys.iter() {
            let mut p = rbtrfs_core::ctree_write::WPath::new();
            assert!(rbtrfs_core::ctree_write::search_slot(t, r, k, &mut p, -1, true)?);
            rbtrfs_core::ctree_write::del_items(t, r, &mut p, 1)?;
        }
        Ok(())
    })
    .unwrap();
    inode_ops::update_inode(t, objectid::FS_TREE, 256, |f| {
        f.size -= 2 * name_b.len() as u64;
        f.mtime = now(n);
        f.ctime = now(n);
    })
    .unwrap();
    t.with_root(objectid::ROOT_TREE, |t, r| {
        for k in [
            Key::new(objectid::FS_TREE, key_type::ROOT_REF, id),
            Key::new(id, key_type::ROOT_BACKREF, objectid::FS_TREE),
        ] {
            let mut p = rbtrfs_core::ctree_write::WPath::new();
            assert!(rbtrfs_core::ctree_write::search_slot(t, r, &k, &mut p, -1, true)?);
            rbtrfs_core::ctree_write::del_items(t, r, &mut p, 1)?;
        }
        insert_item(t, r, &Key::new(objectid::ORPHAN, key_type::ORPHAN_ITEM, id), &[])
    })
    .unwrap();
}

/// Used bytes of the data and the metadata block groups.
fn used(fs: &FsState) -> (u64, u64) {
    use rbtrfs_core::volumes::block_group as bg;
    let d = fs.bgs.iter().filter(|g| g.flags & bg::DATA != 0).map(|g| g.used).sum();
    let m = fs.bgs.iter().filter(|g| g.flags & bg::METADATA != 0).map(|g| g.used).sum();
    (d, m)
}

/// The drop progress recorded in tree `id`'s ROOT_ITEM on disk.
fn drop_progress(image: &Image, id: u64) -> Option<(Key, u8)> {
    let items = image.range(image.root_tree(), Key::new(id, key_type::ROOT_ITEM, 0), Key::new(id, key_type::ROOT_ITEM, u64::MAX)).unwrap();
    let item = items.into_iter().next()?.1;
    let ri = rbtrfs_core::items::RootItem::new(&item).unwrap();
    Some((ri.drop_progress(), ri.drop_level()))
}

/// Drops snapshot 256 (which changed its files, and of which 257 is a
/// snapshot, so 256 owns blocks still shared: the FULL_BACKREF
/// conversion) in small steps, reopening the filesystem between steps as
/// an unmount would, while 257 changes; then 257 the same way. `btrfs check` is clean after
/// every step, trees 5 and 257 read back their models, and at the end the
/// data block groups' `used` is exactly what it was before the
/// snapshots and the metadata's within 1 MiB of it.
#[test]
fn drop_snapshots_in_steps() {
    let dir = Scratch::new("snap-drop");
    let (img, files) = make_image(&dir.0, 2500, 0x5eed_0003);
    let (image, mut fs, dev) = open_rw(&img);
    assert!(fs_level(&fs, objectid::FS_TREE) >= 2);
    let base = used(&fs);
    let mut rng = Rng(0xd209);
    take_snapshot(&image, &mut fs, &dev, objectid::FS_TREE, 256, 1);
    let mut m256 = files.clone();
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        mutate(&mut t, 256, &mut m256, &mut rng, 300, 2);
    }
    commit(&mut fs, &image, &dev).unwrap();
    take_snapshot(&image, &mut fs, &dev, 256, 257, 3);
    let mut m257 = m256.clone();
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        mutate(&mut t, 257, &mut m257, &mut rng, 100, 4);
    }
    commit(&mut fs, &image, &dev).unwrap();
    drop(fs);
    drop(image);
    btrfs_check(&img);
    for (id, budget) in [(256u64, 25u64), (257, 60)] {
        let (image, mut fs, dev) = open_rw(&img);
        {
            let mut t = Trans::new(&mut fs, &image).unwrap();
            unlink_subvol(&mut t, id, &format!("snap{}", id), 100_000 + id, 5);
        }
        commit(&mut fs, &image, &dev).unwrap();
        drop(fs);
        drop(image);
        btrfs_check(&img);
        let mut steps = 0;
        let mut levels = std::collections::BTreeSet::new();
        loop {
            let (image, mut fs, dev) = open_rw(&img);
            let done = {
                let mut t = Trans::new(&mut fs, &image).unwrap();
                let done = snapshot::drop_tree_step(&mut t, id, budget).unwrap();
                if id == 256 {
                    // The surviving snapshot changes meanwhile: COW of
                    // blocks the half-dropped tree still shares.
                    mutate(&mut t, 257, &mut m257, &mut rng, 12, 100 + steps);
                }
                done
            };
            commit(&mut fs, &image, &dev).unwrap();
            steps += 1;
            same(&read_files(&image, &mut fs, objectid::FS_TREE), &files, &format!("tree 5, drop {} step {}", id, steps));
            if id == 256 {
                same(&read_files(&image, &mut fs, 257), &m257, &format!("tree 257, drop 256 step {}", steps));
            }
            drop(fs);
            drop(image);
            btrfs_check(&img);
            let image = Image::open(&img);
            match drop_progress(&image, id) {
                None => {
                    assert!(done);
                    assert!(image.lookup(image.root_tree(), Key::new(objectid::ORPHAN, key_type::ORPHAN_ITEM, id)).is_none());
                    break;
                }
                Some((k, l)) => {
                    assert!(!done);
                    assert_ne!(k.objectid, 0, "progress recorded");
                    levels.insert(l);
                }
            }
            assert!(steps < 1000);
        }
        assert!(steps >= 3, "drop of {} took {} steps", id, steps);
        eprintln!("drop of {}: {} steps, stopped at levels {:?}", id, steps, levels);
    }
    let (image, mut fs, _dev) = open_rw(&img);
    assert!(fs.root(256).is_none() && fs.root(257).is_none());
    same(&read_files(&image, &mut fs, objectid::FS_TREE), &files, "tree 5 at the end");
    let end = used(&fs);
    assert_eq!(end.0, base.0, "data used back to the level before the snapshots");
    assert!(end.1.abs_diff(base.1) <= 1 << 20, "metadata used {} vs {} before", end.1, base.1);
}

/// Key types of the keyed backref items in the extent tree, counted.
fn keyed_backrefs(img: &FsPath) -> BTreeMap<String, usize> {
    let (_, items) = image::dump_tree(img, objectid::EXTENT_TREE);
    let mut out = BTreeMap::new();
    for it in items {
        if let Some(name) = key_type::name(it.key.ty) {
            if name.ends_with("_REF") {
                *out.entry(name.to_string()).or_insert(0) += 1;
            }
        }
    }
    out
}

/// 130 snapshots of one tree, each changing the previous one's copy of
/// the same file: tree blocks get more refs than the extent item holds
/// inline (keyed TREE_BLOCK_REF items) and that file's data extents more
/// EXTENT_DATA_REFs (keyed ones); then the source and some snapshots
/// change and five snapshots are dropped whole. `btrfs check` is clean at
/// each stage and the trees read back their files.
#[test]
fn many_snapshots_keyed_refs() {
    let dir = Scratch::new("snap-many");
    let (img, files) = make_image(&dir.0, 400, 0x5eed_0004);
    let (image, mut fs, dev) = open_rw(&img);
    let hot = files.iter().find(|(_, d)| d.len() > 8192).unwrap().0.clone();
    const N: u64 = 130;
    for k in 0..N {
        let id = 256 + k;
        {
            let mut t = Trans::new(&mut fs, &image).unwrap();
            let p = SnapshotParams { uuid: [k as u8; 16], readonly: k % 2 == 0, otime: now(k), ctransid: 0, ctime: now(k) };
            snapshot::create_snapshot(&mut t, objectid::FS_TREE, id, &p).unwrap();
            link_subvol(&mut t, id, &format!("snap{}", id), 100_000 + id, k);
            if k > 0 {
                let ino = ino_of(&t, id - 1, &hot);
                inode_ops::set_xattr(&mut t, id - 1, ino, (b"user.hot", &[k as u8; 300]), 0, now(k)).unwrap();
            }
        }
        commit(&mut fs, &image, &dev).unwrap();
    }
    drop(fs);
    drop(image);
    btrfs_check(&img);
    let keyed = keyed_backrefs(&img);
    assert!(keyed.get("TREE_BLOCK_REF").copied().unwrap_or(0) > 0, "{:?}", keyed);
    assert!(keyed.get("EXTENT_DATA_REF").copied().unwrap_or(0) > 0, "{:?}", keyed);
    eprintln!("keyed backref items: {:?}", keyed);
    // Change the source and every tenth snapshot.
    let (image, mut fs, dev) = open_rw(&img);
    let mut rng = Rng(0x3a3a);
    let mut models: BTreeMap<u64, Files> = BTreeMap::new();
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        for id in std::iter::once(objectid::FS_TREE).chain((256..256 + N).step_by(10)) {
            let mut m = files.clone();
            mutate(&mut t, id, &mut m, &mut rng, 40, 1000 + id);
            models.insert(id, m);
        }
    }
    commit(&mut fs, &image, &dev).unwrap();
    for (&id, m) in &models {
        same(&read_files(&image, &mut fs, id), m, &format!("tree {}", id));
    }
    drop(fs);
    drop(image);
    btrfs_check(&img);
    // Drop five snapshots whole, two of them changed ones.
    let (image, mut fs, dev) = open_rw(&img);
    for id in [256u64, 257, 266, 300, 385] {
        {
            let mut t = Trans::new(&mut fs, &image).unwrap();
            unlink_subvol(&mut t, id, &format!("snap{}", id), 100_000 + id, 2000);
            assert!(snapshot::drop_tree_step(&mut t, id, u64::MAX).unwrap());
        }
        commit(&mut fs, &image, &dev).unwrap();
        models.remove(&id);
    }
    for (&id, m) in &models {
        same(&read_files(&image, &mut fs, id), m, &format!("tree {} after drops", id));
    }
    same(&read_files(&image, &mut fs, 300 - 1), &files, "an unchanged snapshot");
    drop(fs);
    drop(image);
    btrfs_check(&img);
}

/// A snapshot changed in the transaction that created it, then
/// snapshotted itself, then dropped: the blocks it owns from its creation
/// transaction are shared with the second snapshot and must be converted
/// to FULL_BACKREF; the survivor then changes those blocks. `btrfs check`
/// is clean at each commit and the trees read back their models.
#[test]
fn drop_snapshot_changed_in_its_creation_transaction() {
    let dir = Scratch::new("snap-same-trans");
    let (img, files) = make_image(&dir.0, 1200, 0x5eed_0005);
    let (image, mut fs, dev) = open_rw(&img);
    let mut rng = Rng(0x77);
    let mut m = files.clone();
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        let p = SnapshotParams { uuid: [9; 16], readonly: false, otime: now(1), ctransid: 0, ctime: now(1) };
        snapshot::create_snapshot(&mut t, objectid::FS_TREE, 256, &p).unwrap();
        link_subvol(&mut t, 256, "snap256", 100_256, 1);
        mutate(&mut t, 256, &mut m, &mut rng, 150, 1);
    }
    commit(&mut fs, &image, &dev).unwrap();
    take_snapshot(&image, &mut fs, &dev, 256, 257, 2);
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        unlink_subvol(&mut t, 256, "snap256", 100_256, 3);
        assert!(snapshot::drop_tree_step(&mut t, 256, u64::MAX).unwrap());
    }
    commit(&mut fs, &image, &dev).unwrap();
    same(&read_files(&image, &mut fs, 257), &m, "tree 257 after 256 is dropped");
    drop(fs);
    drop(image);
    btrfs_check(&img);
    let (image, mut fs, dev) = open_rw(&img);
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        mutate(&mut t, 257, &mut m, &mut rng, 150, 4);
    }
    commit(&mut fs, &image, &dev).unwrap();
    same(&read_files(&image, &mut fs, 257), &m, "tree 257 changed");
    same(&read_files(&image, &mut fs, objectid::FS_TREE), &files, "tree 5");
    drop(fs);
    drop(image);
    btrfs_check(&img);
}

/// The kernel's pattern: one mounted state (no reopen between steps);
/// snapshots of tree 5 each changed on their own side, all deleted in one
/// transaction, then dropped one after the other in small steps with a
/// commit after each (the cleaner), stopping half way as an unmount
/// would; `btrfs check` after every commit, then a reopen finishes the
/// drops and the space is back.
#[test]
fn drop_many_in_one_session() {
    let dir = Scratch::new("snap-session");
    let (img, files) = make_image(&dir.0, 600, 0x5eed_0010);
    let (image, mut fs, dev) = open_rw(&img);
    let base = used(&fs);
    let mut rng = Rng(0x5e55);
    let ids: Vec<u64> = (256..266).collect();
    for (k, &id) in ids.iter().enumerate() {
        take_snapshot(&image, &mut fs, &dev, objectid::FS_TREE, id, 10 + k as u64);
        let mut m = files.clone();
        {
            let mut t = Trans::new(&mut fs, &image).unwrap();
            mutate(&mut t, id, &mut m, &mut rng, 40, 30 + k as u64);
        }
        commit(&mut fs, &image, &dev).unwrap();
    }
    btrfs_check(&img);
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        for &id in ids.iter() {
            unlink_subvol(&mut t, id, &format!("snap{}", id), 100_000 + id, 50);
        }
    }
    let mut steps = 0;
    let mut remaining: Vec<u64> = ids.clone();
    while remaining.len() > 4 {
        let id = remaining[0];
        let done = {
            let mut t = Trans::new(&mut fs, &image).unwrap();
            snapshot::drop_tree_step(&mut t, id, 30).unwrap()
        };
        commit(&mut fs, &image, &dev).unwrap();
        steps += 1;
        btrfs_check(&img);
        if done {
            remaining.remove(0);
        }
        assert!(steps < 2000);
    }
    drop(fs);
    drop(image);
    btrfs_check(&img);
    let (image, mut fs, dev) = open_rw(&img);
    for &id in remaining.iter() {
        loop {
            let done = {
                let mut t = Trans::new(&mut fs, &image).unwrap();
                snapshot::drop_tree_step(&mut t, id, 30).unwrap()
            };
            commit(&mut fs, &image, &dev).unwrap();
            btrfs_check(&img);
            if done {
                break;
            }
        }
    }
    same(&read_files(&image, &mut fs, objectid::FS_TREE), &files, "tree 5 at the end");
    let end = used(&fs);
    assert_eq!(end.0, base.0, "data used back");
    assert!(end.1.abs_diff(base.1) <= 1 << 20, "metadata used {} vs {}", end.1, base.1);
}

/// Writes new data into tree `root`: a new file of 1 to 12 sectors, or a
/// sector-aligned overwrite inside an existing one, each a new data
/// extent with checksums (what writeback does), mirrored in `model`.
fn write_data(t: &mut Trans<'_, Image>, dev: &rw::FileDev, root: u64, model: &mut Files, rng: &mut Rng, n: u64, i: u64) {
    use rbtrfs_core::items_write::RegularExtent;
    use rbtrfs_core::inode_ops::{mode, NewInode};
    let ss = 4096u64;
    let names: Vec<String> = model.keys().cloned().collect();
    let (name, ino, off, len) = if names.is_empty() || rng.below(3) == 0 {
        let name = format!("w{}.{}", n, i);
        let attrs = NewInode { mode: mode::S_IFREG | 0o644, uid: 0, gid: 0, rdev: 0, now: now(n) };
        let (ino, _) = inode_ops::create(t, root, 256, name.as_bytes(), &attrs).unwrap();
        model.insert(name.clone(), Vec::new());
        (name, ino, 0, ss * (1 + rng.below(12)))
    } else {
        let name = names[rng.below(names.len() as u64) as usize].clone();
        let ino = ino_of(t, root, &name);
        let cur = model[&name].len() as u64;
        // Inside or just past the sectors the file has; an unaligned tail
        // sector is rewritten whole, so start at or below it.
        let off = rng.below(cur / ss + 1) * ss;
        (name, ino, off, ss * (1 + rng.below(8)))
    };
    let data = rng.bytes(len as usize);
    let bytenr = t.alloc_data(len, 0).unwrap();
    let mut done = 0usize;
    while done < data.len() {
        let l = bytenr + done as u64;
        let m = t.fs.chunk(l).unwrap().map(l).unwrap();
        let k = (data.len() - done).min(m.len as usize);
        for s in m.mirrors() {
            use rbtrfs_core::transaction::Device;
            dev.write_at(s.physical, &data[done..done + k]).unwrap();
        }
        done += k;
    }
    let cs = t.fs.geo.csum_type.size();
    let mut sums = Vec::new();
    for sector in data.chunks(ss as usize) {
        let mut c = [0u8; 32];
        assert!(t.fs.geo.csum_type.compute(sector, &mut c));
        sums.extend_from_slice(&c[..cs]);
    }
    fi::insert_csums(t, bytenr, &sums).unwrap();
    let e = RegularExtent { disk_bytenr: bytenr, disk_num_bytes: len, offset: 0, num_bytes: len, ram_bytes: len, ..Default::default() };
    fi::insert_file_extent(t, root, ino, off, &e, true).unwrap();
    let m = model.get_mut(&name).unwrap();
    let end = (off + len) as usize;
    if m.len() < end {
        m.resize(end, 0);
        inode_ops::update_inode(t, root, ino, |f| f.size = end as u64).unwrap();
    }
    m[off as usize..end].copy_from_slice(&data);
}

/// The seed of a randomised test: `SEED=N` replays one, otherwise a fresh
/// one, printed so that a failure can be replayed.
fn test_seed(what: &str) -> u64 {
    let seed = match std::env::var("SEED") {
        Ok(s) => s.trim().parse().unwrap_or_else(|_| panic!("SEED={} is not a number", s)),
        Err(_) => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 % 1_000_000_007,
    };
    eprintln!("{}: SEED={}", what, seed);
    seed
}

/// `RBTRFS_TEST_SIZE=full` (make check-full) or quick (make check).
fn full_size() -> bool {
    std::env::var("RBTRFS_TEST_SIZE").is_ok_and(|s| s == "full")
}

/// Commits if anything changed, as the kernel's commit does; the reader
/// is opened again when the commit added chunks (new block groups).
fn sync(fs: &mut FsState, image: &mut Image, dev: &rw::FileDev, img: &FsPath) {
    if fs.has_changes() {
        commit(fs, image, dev).unwrap();
        if fs.chunks.len() != image.chunks.len() {
            *image = Image::open(img);
        }
    }
}

/// Random interleavings of what the kernel does with subvolumes, in one
/// mounted state as the kernel keeps it: changes to live trees (new data,
/// overwrites, truncations, holes, unlinks, reflinks, xattrs), new empty
/// subvolumes, snapshots of random live trees (read-only or not, placed in
/// tree 5 or inside their source as fsstress places them; a commit before
/// and after, as `commit_around`), deletes, cleaner steps of random
/// budgets in the same transactions as the changes, commits and remounts.
/// `btrfs check` after every commit, every live tree read back against
/// its model; at the end everything is deleted and dropped, and the data
/// space held by nothing is back.
#[test]
fn snapshot_stress() {
    use rbtrfs_core::inode_ops::{mode, NewInode};
    use rbtrfs_core::root_tree;
    let seed = test_seed("snapshot_stress");
    let rounds = if full_size() { 1500 } else { 250 };
    let dir = Scratch::new("snap-stress");
    let (img, files) = make_image(&dir.0, 300, seed);
    let mut rng = Rng(seed | 1);
    let (mut image, mut fs, mut dev) = open_rw(&img);
    let base = used(&fs);
    let mut models: BTreeMap<u64, Files> = BTreeMap::new();
    models.insert(objectid::FS_TREE, files);
    // Subvolume -> the tree whose top directory names it.
    let mut parent: BTreeMap<u64, u64> = BTreeMap::new();
    let mut readonly = std::collections::BTreeSet::new();
    let mut dead: Vec<u64> = Vec::new();
    let mut made = 0u64;
    let mut commits = 0u64;
    let check = |image: &Image, fs: &mut FsState, models: &BTreeMap<u64, Files>, what: &str| {
        btrfs_check(&img);
        for (&tree, m) in models.iter() {
            same(&read_files(image, fs, tree), m, &format!("tree {} {}", tree, what));
        }
    };
    let name_of = |id: u64| format!("sv{}", id);
    for round in 0..rounds {
        let n = 1000 + round;
        let live: Vec<u64> = models.keys().copied().collect();
        let writable: Vec<u64> = live.iter().copied().filter(|id| !readonly.contains(id)).collect();
        let pick = |rng: &mut Rng, v: &[u64]| v[rng.below(v.len() as u64) as usize];
        match rng.below(100) {
            0..=29 => {
                let root = pick(&mut rng, &writable);
                let mut m = models.remove(&root).unwrap();
                let count = 1 + rng.below(40) as usize;
                println!("{}: mutate {} x{}", round, root, count);
                {
                    let mut t = Trans::new(&mut fs, &image).unwrap();
                    mutate(&mut t, root, &mut m, &mut rng, count, n);
                }
                models.insert(root, m);
            }
            30..=47 => {
                let root = pick(&mut rng, &writable);
                let mut m = models.remove(&root).unwrap();
                println!("{}: write {}", round, root);
                {
                    let mut t = Trans::new(&mut fs, &image).unwrap();
                    for i in 0..1 + rng.below(8) {
                        write_data(&mut t, &dev, root, &mut m, &mut rng, n, i);
                    }
                }
                models.insert(root, m);
            }
            48..=59 if models.len() < 14 => {
                // A snapshot (of any live tree) or a new empty subvolume
                // (in a writable one), named in tree 5 or in its source.
                let snap = rng.below(3) != 0;
                let src = if snap { pick(&mut rng, &live) } else { pick(&mut rng, &writable) };
                let at = if readonly.contains(&src) || rng.below(2) == 0 { objectid::FS_TREE } else { src };
                let ro = snap && rng.below(2) == 0;
                sync(&mut fs, &mut image, &dev, &img);
                let id = {
                    let mut t = Trans::new(&mut fs, &image).unwrap();
                    let id = root_tree::find_free_objectid(&t).unwrap();
                    let uuid = [(id % 251) as u8; 16];
                    let name = name_of(id);
                    if snap {
                        let p = SnapshotParams { uuid, readonly: ro, otime: now(n), ctransid: 0, ctime: now(n) };
                        snapshot::create_snapshot(&mut t, src, id, &p).unwrap();
                        let loc = Key::new(id, key_type::ROOT_ITEM, u64::MAX);
                        root_tree::link_names(&mut t, id, &uuid, loc, (at, 256), name.as_bytes(), now(n)).unwrap();
                    } else {
                        let attrs = NewInode { mode: mode::S_IFDIR | 0o755, uid: 0, gid: 0, rdev: 0, now: now(n) };
                        let node = root_tree::new_subvol_tree(&mut t, id, &attrs).unwrap();
                        let item = root_tree::subvol_root_item(&node, t.fs.transid(), t.fs.geo.nodesize, uuid, now(n));
                        root_tree::link_subvol(&mut t, id, &item, (at, 256), name.as_bytes(), now(n)).unwrap();
                    }
                    id
                };
                println!("{}: {} {} -> {} in {} ro {}", round, if snap { "snapshot" } else { "subvol" }, src, id, at, ro);
                if snap {
                    sync(&mut fs, &mut image, &dev, &img);
                }
                let m = if snap { models[&src].clone() } else { Files::new() };
                models.insert(id, m);
                parent.insert(id, at);
                if ro {
                    readonly.insert(id);
                }
                made += 1;
            }
            60..=67 if live.len() > 1 => {
                let id = pick(&mut rng, &live[1..]);
                if parent.values().any(|&p| p == id) {
                    // Subvolumes inside: ENOTEMPTY.
                    continue;
                }
                println!("{}: delete {}", round, id);
                {
                    let mut t = Trans::new(&mut fs, &image).unwrap();
                    let at = parent[&id];
                    root_tree::unlink_subvol(&mut t, id, (at, 256), name_of(id).as_bytes(), now(n)).unwrap();
                    // A file still open in it cannot be snapshotted.
                    let p = SnapshotParams { uuid: [1; 16], readonly: false, otime: now(n), ctransid: 0, ctime: now(n) };
                    assert_eq!(snapshot::create_snapshot(&mut t, id, 1 << 40, &p).unwrap_err(), rbtrfs_core::error::ENOENT);
                }
                models.remove(&id);
                parent.remove(&id);
                readonly.remove(&id);
                dead.push(id);
            }
            68..=84 if !dead.is_empty() => {
                // The cleaner takes the first dead tree; sometimes a later
                // one (after a remount the order may differ).
                let k = if rng.below(4) == 0 { rng.below(dead.len() as u64) as usize } else { 0 };
                let id = dead[k];
                let budget = 1 + rng.below(64);
                let done = {
                    let mut t = Trans::new(&mut fs, &image).unwrap();
                    snapshot::drop_tree_step(&mut t, id, budget).unwrap_or_else(|e| panic!("drop {} step: {:?}", id, e))
                };
                println!("{}: drop step {} budget {} done {}", round, id, budget, done);
                if done {
                    dead.remove(k);
                }
                if rng.below(2) == 0 {
                    sync(&mut fs, &mut image, &dev, &img);
                    commits += 1;
                    check(&image, &mut fs, &models, &format!("after a cleaner step, round {}", round));
                }
            }
            85..=94 => {
                println!("{}: commit", round);
                sync(&mut fs, &mut image, &dev, &img);
                commits += 1;
                check(&image, &mut fs, &models, &format!("after commit, round {}", round));
            }
            95..=99 => {
                println!("{}: remount", round);
                sync(&mut fs, &mut image, &dev, &img);
                drop(fs);
                drop(image);
                drop(dev);
                (image, fs, dev) = open_rw(&img);
                check(&image, &mut fs, &models, &format!("after remount, round {}", round));
            }
            _ => {}
        }
    }
    // Everything but tree 5 goes, innermost first.
    while let Some(&id) = parent.keys().find(|&&id| !parent.values().any(|&p| p == id)) {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        root_tree::unlink_subvol(&mut t, id, (parent[&id], 256), name_of(id).as_bytes(), now(9999)).unwrap();
        parent.remove(&id);
        models.remove(&id);
        dead.push(id);
    }
    while let Some(&id) = dead.first() {
        let done = {
            let mut t = Trans::new(&mut fs, &image).unwrap();
            snapshot::drop_tree_step(&mut t, id, 200).unwrap()
        };
        sync(&mut fs, &mut image, &dev, &img);
        if done {
            dead.remove(0);
        }
    }
    check(&image, &mut fs, &models, "at the end");
    eprintln!("snapshot_stress: {} rounds, {} commits, {} subvolumes made", rounds, commits, made);
    // Tree 5 changed too, so only the data no tree holds any more is back:
    // what tree 5 still has is at most what it wrote.
    let end = used(&fs);
    assert!(end.0 <= base.0 + models[&objectid::FS_TREE].values().map(|v| v.len() as u64 + 4096).sum::<u64>());
}

/// A reference update that does not find what it expects (here: a data
/// backref that is not there) fails the commit before anything is
/// written, names the reference for the abort message, and leaves the
/// filesystem as the previous commit left it.
#[test]
fn missing_ref_aborts_the_commit() {
    use rbtrfs_core::delayed_ref::{DelayedRef, RefKind};
    let dir = Scratch::new("snap-badref");
    let (img, _files) = make_image(&dir.0, 50, 0x5eed_0020);
    let (image, mut fs, dev) = open_rw(&img);
    // Some data extent of tree 5.
    let (bytenr, len) = {
        let t = Trans::new(&mut fs, &image).unwrap();
        let mut found = None;
        for i in 0..50 {
            let ino = ino_of(&t, objectid::FS_TREE, &format!("f{:05}", i));
            if let Some(fe) = fi::find_extent_trans(&t, objectid::FS_TREE, ino, 0).unwrap() {
                if let ExtentKind::Regular(r) = fe.kind {
                    if r.disk_bytenr != 0 {
                        found = Some((r.disk_bytenr, r.disk_num_bytes));
                        break;
                    }
                }
            }
        }
        found.expect("a file with a data extent")
    };
    let bad = DelayedRef { bytenr, num_bytes: len, kind: RefKind::Data { root: 5, owner: 999_999, offset: 0 }, delta: -1, new_extent: None };
    fs.refs.add(bad).unwrap();
    assert_eq!(commit(&mut fs, &image, &dev).unwrap_err(), rbtrfs_core::error::EUCLEAN);
    assert!(fs.aborted);
    assert_eq!(fs.ref_failure, Some(bad));
    assert_eq!(format!("{}", bad.kind), "root 5 owner 999999 offset 0");
    drop(fs);
    drop(image);
    btrfs_check(&img);
}
