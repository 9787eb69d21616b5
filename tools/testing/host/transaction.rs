// SPDX-License-Identifier: GPL-2.0
//! Transactions against real images: change trees through the B-tree write
//! path, commit (delayed refs, extent items, free space tree, block group
//! items, root items, superblock), then let `btrfs check` judge the image
//! and read everything back.

mod common;
mod image;
mod rw;

use rw::{btrfs_check, open_rw};

use common::{mkfs, Scratch};
use image::Image;
use rbtrfs_core::checksum::name_hash;
use rbtrfs_core::ctree::{key_type, objectid, Key, Path};
use rbtrfs_core::ctree_write::{del_items, insert_item, search_slot, WPath};
use rbtrfs_core::error::{Errno, Result as CResult};
use rbtrfs_core::extent_io::Overlay;
use rbtrfs_core::transaction::{commit, commit_switch, FsState, Trans};
use std::collections::BTreeMap;



/// An xattr entry (a DIR_ITEM-format item) on the root directory.
fn xattr_item(name: &[u8], value: &[u8], transid: u64) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&[0u8; 17]); // location: zero key
    v.extend_from_slice(&transid.to_le_bytes());
    v.extend_from_slice(&(value.len() as u16).to_le_bytes());
    v.extend_from_slice(&(name.len() as u16).to_le_bytes());
    v.push(8); // BTRFS_FT_XATTR
    v.extend_from_slice(name);
    v.extend_from_slice(value);
    v
}

fn xattr_key(name: &[u8]) -> Key {
    Key::new(256, key_type::XATTR_ITEM, u64::from(name_hash(name)))
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Every xattr of the root directory, read through the current trees.
fn read_xattrs(image: &Image, fs: &FsState) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let ov = Overlay { dirty: &fs.dirty, src: image };
    read_xattrs_at(&ov, fs.root(objectid::FS_TREE).unwrap())
}

/// Every xattr of the root directory in the fs tree at `root`.
fn read_xattrs_at<S: rbtrfs_core::ctree::TreeSource>(ov: &S, root: rbtrfs_core::extent_io::RootNode) -> BTreeMap<Vec<u8>, Vec<u8>>
where
    S::Error: core::fmt::Debug,
{
    let mut p = Path::new();
    p.search(ov, root.bytenr, root.level, root.generation, &Key::new(256, key_type::XATTR_ITEM, 0)).unwrap();
    let mut out = BTreeMap::new();
    while let Some(item) = p.item().unwrap() {
        if item.key.objectid != 256 || item.key.ty != key_type::XATTR_ITEM {
            break;
        }
        let d = item.data;
        let dl = u16::from_le_bytes([d[25], d[26]]) as usize;
        let nl = u16::from_le_bytes([d[27], d[28]]) as usize;
        out.insert(d[30..30 + nl].to_vec(), d[30 + nl..30 + nl + dl].to_vec());
        if !p.next_item(ov).unwrap() {
            break;
        }
    }
    out
}

fn set_xattr(t: &mut Trans<'_, Image>, name: &[u8], value: &[u8]) -> CResult {
    let transid = t.fs.transid();
    let data = xattr_item(name, value, transid);
    t.with_root(objectid::FS_TREE, |t, root| insert_item(t, root, &xattr_key(name), &data))
}

fn remove_xattr(t: &mut Trans<'_, Image>, name: &[u8]) -> CResult {
    t.with_root(objectid::FS_TREE, |t, root| {
        let mut p = WPath::new();
        if !search_slot(t, root, &xattr_key(name), &mut p, -1, true)? {
            return Err(Errno(2));
        }
        del_items(t, root, &mut p, 1)
    })
}

/// Many transactions of xattr inserts and deletes on the root directory:
/// the fs tree grows to several levels, blocks are COWed, allocated and
/// freed across commits; `btrfs check` must find every commit clean.
#[test]
fn xattr_transactions_check_clean() {
    let dir = Scratch::new("trans-xattr");
    let img = mkfs(&dir.0, "x.img", 256 << 20, &[]);
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut rng = Rng(0x5eed);
    for round in 0..6 {
        let (image, mut fs, dev) = open_rw(&img);
        for _ in 0..3 {
            {
                let mut t = Trans::new(&mut fs, &image).unwrap();
                for _ in 0..600 {
                    let r = rng.next();
                    let existing = model.keys().nth((r >> 8) as usize % model.len().max(1)).cloned();
                    if r % 3 == 0 && existing.is_some() {
                        let name = existing.unwrap();
                        remove_xattr(&mut t, &name).unwrap();
                        model.remove(&name);
                    } else {
                        let name = format!("user.r{}-{:x}", round, rng.next()).into_bytes();
                        if model.contains_key(&name) || model.keys().any(|k| xattr_key(k) == xattr_key(&name)) {
                            continue;
                        }
                        let len = (rng.next() % 1500) as usize;
                        let value: Vec<u8> = (0..len).map(|i| (i as u8) ^ (round as u8)).collect();
                        set_xattr(&mut t, &name, &value).unwrap();
                        model.insert(name, value);
                    }
                }
            }
            assert_eq!(read_xattrs(&image, &fs), model, "before commit");
            commit(&mut fs, &image, &dev).unwrap();
        }
        drop(fs);
        btrfs_check(&img);
        let (image, fs, _dev) = open_rw(&img);
        assert_eq!(read_xattrs(&image, &fs), model, "after reopen, round {}", round);
    }
    assert!(model.len() > 1000);
}

/// Filling data and metadata past what mkfs allocated: new chunks (chunk
/// items, dev extents, block group items, free space info, the device's
/// bytes_used) are made in the running transaction; btrfs check is clean
/// and the chunk tree shows them.
#[test]
fn chunk_allocation_check_clean() {
    use rbtrfs_core::file_item;
    use rbtrfs_core::inode_ops::{self, mode, NewInode};
    use rbtrfs_core::items::Timespec;
    use rbtrfs_core::items_write::RegularExtent;
    use rbtrfs_core::volumes::block_group as bg;
    let dir = Scratch::new("trans-chunks");
    let img = mkfs(&dir.0, "c.img", 1 << 30, &[]);
    let (mut image, mut fs, mut dev) = open_rw(&img);
    let chunks_before = fs.chunks.len();
    let now = Timespec { sec: 1_700_000_000, nsec: 0 };
    let mut files = 0;
    for round in 0..6 {
        {
            let mut t = Trans::new(&mut fs, &image).unwrap();
            t.reserve_metadata().unwrap();
            let attrs = NewInode { mode: mode::S_IFREG | 0o644, uid: 0, gid: 0, rdev: 0, now };
            let (ino, _) =
                inode_ops::create(&mut t, objectid::FS_TREE, 256, format!("big{}", round).as_bytes(), &attrs).unwrap();
            files += 1;
            // 64 MiB of data in 1 MiB extents (never written: btrfs check
            // without --check-data-csum does not read data).
            for i in 0..64u64 {
                let len = 1 << 20;
                let b = t.alloc_data(len, 0).unwrap();
                let ext = RegularExtent {
                    generation: t.fs.transid(),
                    ram_bytes: len,
                    compression: 0,
                    prealloc: true,
                    disk_bytenr: b,
                    disk_num_bytes: len,
                    offset: 0,
                    num_bytes: len,
                };
                file_item::insert_file_extent(&mut t, objectid::FS_TREE, ino, i * len, &ext, true).unwrap();
            }
            file_item::update_inode(&mut t, objectid::FS_TREE, ino, |f| {
                f.size = 64 << 20;
                Ok(())
            })
            .unwrap();
            // And metadata: xattrs on the root directory.
            for j in 0..2500 {
                t.reserve_metadata().unwrap();
                let name = format!("user.r{}-{}", round, j).into_bytes();
                set_xattr(&mut t, &name, &vec![b'm'; 3500]).unwrap();
            }
        }
        commit(&mut fs, &image, &dev).unwrap();
        drop(fs);
        btrfs_check(&img);
        // Reopen: the chunk tree must map the new chunks.
        (image, fs, dev) = open_rw(&img);
    }
    let data_chunks = fs.chunks.iter().filter(|c| c.type_flags & bg::DATA != 0).count();
    let meta_chunks = fs.chunks.iter().filter(|c| c.type_flags & bg::METADATA != 0).count();
    assert!(fs.chunks.len() > chunks_before + 2, "chunks {} -> {}", chunks_before, fs.chunks.len());
    assert!(data_chunks >= 3 && meta_chunks >= 2, "data {} meta {}", data_chunks, meta_chunks);
    assert_eq!(files, 6);
}

/// A file of many extents truncated to one byte keeps no extent past its
/// first sector (the leaf walk must not skip items as it deletes them).
#[test]
fn truncate_many_extents_to_one_byte() {
    use rbtrfs_core::file_item;
    use rbtrfs_core::inode_ops::{self, mode, NewInode};
    use rbtrfs_core::items::Timespec;
    use rbtrfs_core::items_write::RegularExtent;
    let dir = Scratch::new("trans-trunc");
    let img = mkfs(&dir.0, "t.img", 512 << 20, &[]);
    let (image, mut fs, dev) = open_rw(&img);
    let now = Timespec { sec: 1_700_000_000, nsec: 0 };
    let root = objectid::FS_TREE;
    let ino;
    let n = 110u64;
    let len = 128 << 10;
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        let attrs = NewInode { mode: mode::S_IFREG | 0o644, uid: 0, gid: 0, rdev: 0, now };
        ino = inode_ops::create(&mut t, root, 256, b"many", &attrs).unwrap().0;
        for i in 0..n {
            let b = t.alloc_data(len, 0).unwrap();
            let ext = RegularExtent {
                generation: t.fs.transid(),
                ram_bytes: len,
                compression: 0,
                prealloc: false,
                disk_bytenr: b,
                disk_num_bytes: len,
                offset: 0,
                num_bytes: len,
            };
            file_item::insert_file_extent(&mut t, root, ino, i * len, &ext, true).unwrap();
            let csums = vec![0u8; (len / 4096 * 4) as usize];
            file_item::insert_csums(&mut t, b, &csums).unwrap();
        }
        file_item::update_inode(&mut t, root, ino, |f| {
            f.size = n * len;
            Ok(())
        })
        .unwrap();
    }
    commit(&mut fs, &image, &dev).unwrap();
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        file_item::truncate(&mut t, root, ino, 1).unwrap();
        let left = file_item::find_extent_trans(&t, root, ino, 4096).unwrap();
        assert!(left.is_none(), "extent left after truncate: {:?}", left);
        assert_eq!(file_item::read_inode_trans(&t, root, ino).unwrap().nbytes, 4096);
    }
    commit(&mut fs, &image, &dev).unwrap();
    drop(fs);
    btrfs_check(&img);
}

/// Data space promises: never more than the data capacity (which keeps
/// METADATA_KEEP unallocated for metadata), allocation inside the promise
/// always succeeds, giving back more than was promised is an error, and
/// the capacity matches what can really be allocated within a few MiB.
#[test]
fn data_reservation_accounting() {
    use rbtrfs_core::error::{ENOSPC, EUCLEAN};
    use rbtrfs_core::transaction::METADATA_KEEP;
    let dir = Scratch::new("trans-reserve");
    let img = mkfs(&dir.0, "r.img", 256 << 20, &[]);
    let (image, mut fs, _dev) = open_rw(&img);
    let cap = fs.data_capacity();
    assert!(cap > 100 << 20 && cap < (256 << 20) - METADATA_KEEP, "capacity {} of a 256 MiB image", cap);
    assert_eq!(fs.reserve_data(cap + 4096), Err(ENOSPC));
    fs.reserve_data(cap - (8 << 20)).unwrap();
    assert_eq!(fs.data_available(), 8 << 20);
    assert_eq!(fs.reserve_data(16 << 20), Err(ENOSPC));
    fs.release_data(cap - (8 << 20)).unwrap();
    assert_eq!(fs.data_may_use, 0);
    assert_eq!(fs.release_data(1), Err(EUCLEAN));
    assert_eq!(fs.data_may_use, 0);
    // Everything promised can be allocated (1 MiB extents, new chunks
    // included), and data chunks leave METADATA_KEEP unallocated.
    let mut got = 0u64;
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        t.reserve_metadata().unwrap();
        while got + (1 << 20) <= cap {
            match t.alloc_data_upto(1 << 20, 0) {
                Ok((_, len)) => got += len,
                Err(e) => panic!("allocation failed at {} of {} promised bytes: {:?}", got, cap, e),
            }
        }
    }
    let s = rbtrfs_core::format::SuperBlock::new(&fs.sb).unwrap();
    let d = s.dev_item();
    assert!(d.total_bytes() - d.bytes_used() >= METADATA_KEEP, "data chunks took the metadata keep");
    assert!(fs.data_capacity() < 4 << 20, "{} bytes still counted after allocating {}", fs.data_capacity(), got);
}

/// The commit-root switch: when `commit_switch` calls back, the
/// superblock names the new generation and every root's commit root is the
/// one just written, while the space the transaction freed is still
/// pinned, so the previous commit roots still read back whole (a reader
/// holding `commit_root_sem` for read finishes on intact blocks). After
/// the switch the pinned space is free.
#[test]
fn commit_roots_switch_before_unpin() {
    let dir = Scratch::new("trans-croot");
    let img = mkfs(&dir.0, "x.img", 128 << 20, &[]);
    let (image, mut fs, dev) = open_rw(&img);
    let mut model = BTreeMap::new();
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        for i in 0..400u32 {
            let name = format!("user.a{}", i).into_bytes();
            let value = vec![i as u8; 300];
            set_xattr(&mut t, &name, &value).unwrap();
            model.insert(name, value);
        }
    }
    commit(&mut fs, &image, &dev).unwrap();
    let old_root = fs.root(objectid::FS_TREE).unwrap();
    let old_model = model.clone();
    let gen = fs.generation;
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        for i in (0..400u32).step_by(3) {
            let name = format!("user.a{}", i).into_bytes();
            remove_xattr(&mut t, &name).unwrap();
            model.remove(&name);
        }
    }
    let pinned_before: u64 = fs.bgs.iter().map(|g| g.pinned_bytes()).sum();
    assert_eq!(pinned_before, 0, "nothing is pinned before the commit");
    let written = commit_switch(&mut fs, &image, &dev, |fs, blocks| {
        assert_eq!(fs.generation, gen + 1);
        for r in fs.roots.iter() {
            assert_eq!(r.commit, r.node, "tree {}: commit root not switched", r.node.objectid);
        }
        let pinned: u64 = fs.bgs.iter().map(|g| g.pinned_bytes()).sum();
        assert!(pinned > 0, "the COWed blocks of the old commit roots are still pinned");
        // The previous commit's fs tree is intact on disk.
        assert_eq!(read_xattrs_at(&image, old_root), old_model);
        Ok(blocks.len())
    })
    .unwrap();
    assert!(written > 0);
    let pinned_after: u64 = fs.bgs.iter().map(|g| g.pinned_bytes()).sum();
    assert_eq!(pinned_after, 0, "pinned space is free after the switch");
    assert_eq!(read_xattrs(&image, &fs), model);
    drop(fs);
    btrfs_check(&img);
}
