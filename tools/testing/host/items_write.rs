// SPDX-License-Identifier: GPL-2.0
//! The write side of the item codecs: every encoder round-trips through the
//! read views, and decode-then-encode reproduces real items of an image
//! built by `mkfs.btrfs --rootdir` byte for byte. Backref hashes and inline
//! ref order are checked against values the kernel wrote (taken from
//! `dump-tree` of a filesystem with reflinked files and a snapshot).

mod common;
mod image;

use image::{dump_tree, Image};
use rbtrfs_core::checksum::{crc32c, name_hash};
use rbtrfs_core::ctree::{key_type, objectid, Key};
use rbtrfs_core::error::{E2BIG, EEXIST, EINVAL, ENAMETOOLONG, EOVERFLOW, EUCLEAN};
use rbtrfs_core::format::{DevItem, DevItemMut, RootBackupMut, SuperBlock, SuperBlockMut, NUM_BACKUP_ROOTS};
use rbtrfs_core::items::{
    extent_flag, file_extent_type, file_type, BlockGroupItem, DevExtent, DirItemIter, Extent, FileExtent,
    FileExtentBody, FreeSpaceInfo, InlineRef, InodeExtrefIter, InodeItem, InodeItemMut, InodeRefIter, Root, Timespec,
    ROOT_ITEM_FULL_SIZE,
};
use rbtrfs_core::items_write::*;
use rbtrfs_core::mem::Vec as KVec;
use rbtrfs_core::volumes::{ChunkItem, SysChunkIter};
use std::path::{Path, PathBuf};

/// Deterministic pseudo-random numbers (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() >> 32) as u8).collect()
    }
    fn ts(&mut self) -> Timespec {
        Timespec { sec: self.next(), nsec: self.next() as u32 }
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

fn kvec(b: &[u8]) -> KVec<u8> {
    let mut v = KVec::new();
    v.extend_from_slice(b).unwrap();
    v
}

/// A populated image: nested dirs, inline and regular files, xattrs,
/// symlinks, hard links (90 with long names in one directory, so some go
/// to INODE_EXTREF items).
fn populated_image(scratch: &Path) -> PathBuf {
    use std::fs;
    let src = scratch.join("src");
    fs::create_dir_all(src.join("a/b/c")).unwrap();
    fs::create_dir_all(src.join("links")).unwrap();
    fs::write(src.join("small"), b"small inline file\n").unwrap();
    fs::write(src.join("a/b/c/deep"), b"deep\n").unwrap();
    let mut rng = Rng(7);
    fs::write(src.join("big"), rng.bytes(300_000)).unwrap();
    fs::write(src.join("a/mid"), rng.bytes(70_000)).unwrap();
    fs::write(src.join("empty"), b"").unwrap();
    std::os::unix::fs::symlink("a/b/c/deep", src.join("sym")).unwrap();
    let st = std::process::Command::new("setfattr")
        .args(["-n", "user.color", "-v", "blue"])
        .arg(src.join("small"))
        .status()
        .unwrap();
    assert!(st.success());
    fs::write(src.join("linked"), b"linked\n").unwrap();
    for i in 0..90 {
        fs::hard_link(src.join("linked"), src.join("links").join(format!("n{:03}_{}", i, "x".repeat(200)))).unwrap();
    }
    common::mkfs(scratch, "img", 512 << 20, &["--rootdir", src.to_str().unwrap()])
}

// ---------------------------------------------------------------------------
// disk_struct! mutable views
// ---------------------------------------------------------------------------

#[test]
fn mut_views_set_what_views_get() {
    let mut buf = [0u8; 200];
    assert!(InodeItemMut::new(&mut buf[..159]).is_none());
    let mut m = InodeItemMut::new(&mut buf).unwrap();
    m.set_size(0x1122_3344_5566_7788);
    m.set_nlink(7);
    m.set_mode(0o100644);
    m.set_atime(Timespec { sec: 5, nsec: 6 });
    assert_eq!(m.size(), 0x1122_3344_5566_7788);
    assert_eq!(m.as_view().nlink(), 7);
    let v = m.into_view();
    assert_eq!(v.mode(), 0o100644);
    assert_eq!(v.atime(), Timespec { sec: 5, nsec: 6 });
    assert_eq!(&buf[16..24], &0x1122_3344_5566_7788u64.to_le_bytes());
    assert!(buf[160..].iter().all(|&b| b == 0), "setters stay inside the structure");

    let mut d = [0u8; DevItem::SIZE];
    let mut m = DevItemMut::new(&mut d).unwrap();
    m.set_uuid(&[9; 16]);
    m.set_seek_speed(3);
    assert_eq!(m.uuid(), &[9; 16]);
    assert_eq!(DevItem::new(&d).unwrap().seek_speed(), 3);
}

// ---------------------------------------------------------------------------
// Inode items
// ---------------------------------------------------------------------------

fn random_inode(rng: &mut Rng) -> InodeFields {
    InodeFields {
        generation: rng.next(),
        transid: rng.next(),
        size: rng.next(),
        nbytes: rng.next(),
        block_group: rng.next(),
        nlink: rng.next() as u32,
        uid: rng.next() as u32,
        gid: rng.next() as u32,
        mode: rng.next() as u32,
        rdev: rng.next(),
        flags: rng.next(),
        sequence: rng.next(),
        atime: rng.ts(),
        ctime: rng.ts(),
        mtime: rng.ts(),
        otime: rng.ts(),
    }
}

#[test]
fn inode_fields_roundtrip() {
    let mut rng = Rng(1);
    for _ in 0..100 {
        let f = random_inode(&mut rng);
        let b = f.encode();
        let v = InodeItem::new(&b).unwrap();
        assert_eq!(v.size(), f.size);
        assert_eq!(v.mtime(), f.mtime);
        assert_eq!(v.otime(), f.otime);
        assert_eq!(InodeFields::decode(&b).unwrap(), f);
        assert!(b[80..112].iter().all(|&x| x == 0), "reserved bytes zero");
        let mut big = vec![0xaa; 170];
        f.encode_into(&mut big).unwrap();
        assert_eq!(&big[..160], &b[..]);
        assert_eq!(&big[160..], &[0xaa; 10]);
    }
    assert_eq!(InodeFields::decode(&[0; 159]), Err(EUCLEAN));
    assert_eq!(InodeFields::default().encode_into(&mut [0; 100]), Err(EOVERFLOW));
}

// ---------------------------------------------------------------------------
// Directory entries, inode refs
// ---------------------------------------------------------------------------

#[test]
fn dir_entries_encode_find_remove() {
    let mut item = KVec::new();
    let names: [&[u8]; 3] = [b"alpha", b"b", b"a-much-longer-name"];
    for (i, n) in names.iter().enumerate() {
        let e = NewDirEntry {
            location: Key::new(256 + i as u64, key_type::INODE_ITEM, 0),
            transid: 10 + i as u64,
            ty: file_type::REG_FILE,
            name: n,
            data: if i == 1 { b"value" } else { b"" },
        };
        e.push(&mut item).unwrap();
    }
    let entries: Vec<_> = DirItemIter::new(&item).map(|e| e.unwrap()).collect();
    assert_eq!(entries.len(), 3);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.name, names[i]);
        assert_eq!(e.head.location(), Key::new(256 + i as u64, key_type::INODE_ITEM, 0));
        assert_eq!(e.head.transid(), 10 + i as u64);
        assert_eq!(e.head.ty(), file_type::REG_FILE);
    }
    assert_eq!(entries[1].data, b"value");

    let (r, e) = find_dir_entry(&item, b"b").unwrap().unwrap();
    assert_eq!(e.name, b"b");
    assert_eq!(r.len(), dir_entry_size(1, 5));
    assert!(find_dir_entry(&item, b"missing").unwrap().is_none());
    vec_remove(&mut item, r).unwrap();
    let left: Vec<Vec<u8>> = DirItemIter::new(&item).map(|e| e.unwrap().name.to_vec()).collect();
    assert_eq!(left, vec![b"alpha".to_vec(), b"a-much-longer-name".to_vec()]);

    // In-place removal in a leaf-like buffer returns the new length.
    let mut raw = item.to_vec();
    let r = dir_entry_range(&raw, b"alpha").unwrap().unwrap();
    let n = remove_range(&mut raw, r).unwrap();
    raw.truncate(n);
    let left: Vec<Vec<u8>> = DirItemIter::new(&raw).map(|e| e.unwrap().name.to_vec()).collect();
    assert_eq!(left, vec![b"a-much-longer-name".to_vec()]);

    // Bad arguments and malformed items.
    let loc = Key::new(1, key_type::INODE_ITEM, 0);
    let mk = |name: &'static [u8], data: &'static [u8], ty| NewDirEntry { location: loc, transid: 1, ty, name, data };
    let mut buf = vec![0u8; 70000];
    assert_eq!(mk(b"", b"", 1).encode(&mut buf), Err(EINVAL));
    let long: &'static [u8] = Box::leak(vec![b'x'; 256].into_boxed_slice());
    assert_eq!(mk(long, b"", 1).encode(&mut buf), Err(ENAMETOOLONG));
    let huge: &'static [u8] = Box::leak(vec![0u8; 65536].into_boxed_slice());
    assert_eq!(mk(b"x", huge, file_type::XATTR).encode(&mut buf), Err(E2BIG));
    assert_eq!(mk(b"x", b"", file_type::MAX).encode(&mut buf), Err(EINVAL));
    assert_eq!(mk(b"name", b"", 1).encode(&mut buf[..33]), Err(EOVERFLOW));
    assert_eq!(find_dir_entry(&item[..item.len() - 1], b"zzz").err(), Some(EUCLEAN));
}

#[test]
fn inode_refs_encode_find_remove() {
    let mut item = KVec::new();
    for (i, n) in [&b"one"[..], b"two", b"three"].iter().enumerate() {
        push_inode_ref(&mut item, 100 + i as u64, n).unwrap();
    }
    let refs: Vec<_> = InodeRefIter::new(&item).map(|r| r.unwrap()).collect();
    assert_eq!(refs.len(), 3);
    assert_eq!((refs[2].index, refs[2].name), (102, &b"three"[..]));
    let (r, e) = find_inode_ref(&item, b"two").unwrap().unwrap();
    assert_eq!(e.index, 101);
    assert_eq!(r, inode_ref_size(3)..2 * inode_ref_size(3));
    vec_remove(&mut item, r).unwrap();
    assert_eq!(InodeRefIter::new(&item).count(), 2);
    assert!(find_inode_ref(&item, b"two").unwrap().is_none());

    let mut ext = KVec::new();
    push_inode_extref(&mut ext, 300, 5, b"same").unwrap();
    push_inode_extref(&mut ext, 301, 6, b"same").unwrap();
    let (r, e) = find_inode_extref(&ext, 301, b"same").unwrap().unwrap();
    assert_eq!((e.parent, e.index), (301, 6));
    assert_eq!(r.start, inode_extref_size(4));
    assert!(find_inode_extref(&ext, 302, b"same").unwrap().is_none());
    let all: Vec<_> = InodeExtrefIter::new(&ext).map(|r| r.unwrap()).collect();
    assert_eq!(all[0].parent, 300);

    // Insert in the middle of an item that was extended at its end.
    let mut raw = item.to_vec();
    let at = inode_ref_size(3);
    let add = inode_ref_size(4);
    raw.resize(raw.len() + add, 0);
    open_gap(&mut raw, at, add).unwrap();
    encode_inode_ref(&mut raw[at..], 7, b"four").unwrap();
    let names: Vec<Vec<u8>> = InodeRefIter::new(&raw).map(|r| r.unwrap().name.to_vec()).collect();
    assert_eq!(names, vec![b"one".to_vec(), b"four".to_vec(), b"three".to_vec()]);
    assert_eq!(open_gap(&mut raw, 1000, 1), Err(EINVAL));
    assert_eq!(remove_range(&mut raw, 5..1000), Err(EINVAL));
    assert_eq!(encode_inode_ref(&mut [0u8; 12], 1, b"abc"), Err(EOVERFLOW));
}

// ---------------------------------------------------------------------------
// Real items of an mkfs image: decode then encode is the identity
// ---------------------------------------------------------------------------

#[test]
fn fs_tree_items_reencode() {
    let scratch = common::Scratch::new("iw-fs");
    let path = populated_image(&scratch.0);
    let img = Image::open(&path);
    let fs = img.tree(objectid::FS_TREE).unwrap();
    let items = img.items(fs).unwrap();
    let mut seen = std::collections::HashMap::new();
    for (key, data) in &items {
        *seen.entry(key.ty).or_insert(0) += 1;
        match key.ty {
            key_type::INODE_ITEM => assert_eq!(&InodeFields::decode(data).unwrap().encode()[..], &data[..]),
            key_type::DIR_ITEM | key_type::DIR_INDEX | key_type::XATTR_ITEM => {
                let mut out = KVec::new();
                for e in DirItemIter::new(data) {
                    let e = e.unwrap();
                    NewDirEntry {
                        location: e.head.location(),
                        transid: e.head.transid(),
                        ty: e.head.ty(),
                        name: e.name,
                        data: e.data,
                    }
                    .push(&mut out)
                    .unwrap();
                    let (r, f) = find_dir_entry(data, e.name).unwrap().unwrap();
                    assert_eq!(f.name, e.name);
                    assert_eq!(r.len(), dir_entry_size(e.name.len(), e.data.len()));
                    match key.ty {
                        key_type::DIR_ITEM => assert_eq!(*key, dir_item_key(key.objectid, e.name)),
                        key_type::XATTR_ITEM => assert_eq!(*key, xattr_key(key.objectid, e.name)),
                        _ => {}
                    }
                }
                assert_eq!(&out[..], &data[..], "{}", key);
            }
            key_type::INODE_REF => {
                let mut out = KVec::new();
                for r in InodeRefIter::new(data) {
                    let r = r.unwrap();
                    push_inode_ref(&mut out, r.index, r.name).unwrap();
                    assert_eq!(find_inode_ref(data, r.name).unwrap().unwrap().1, r);
                }
                assert_eq!(&out[..], &data[..], "{}", key);
            }
            key_type::INODE_EXTREF => {
                let mut out = KVec::new();
                for r in InodeExtrefIter::new(data) {
                    let r = r.unwrap();
                    push_inode_extref(&mut out, r.parent, r.index, r.name).unwrap();
                    assert_eq!(inode_extref_key(key.objectid, r.parent, r.name), *key, "extref hash");
                    assert_eq!(find_inode_extref(data, r.parent, r.name).unwrap().unwrap().1, r);
                }
                assert_eq!(&out[..], &data[..], "{}", key);
            }
            key_type::EXTENT_DATA => {
                let fe = FileExtent::parse(data).unwrap();
                match fe.body {
                    FileExtentBody::Inline(inline) => {
                        let mut out = KVec::new();
                        let h = fe.header;
                        push_inline_extent(&mut out, h.generation(), h.ram_bytes(), h.compression(), inline).unwrap();
                        assert_eq!(&out[..], &data[..]);
                    }
                    FileExtentBody::Regular(_) | FileExtentBody::Prealloc(_) => {
                        assert_eq!(&RegularExtent::decode(data).unwrap().encode()[..], &data[..]);
                    }
                }
            }
            _ => {}
        }
    }
    for ty in [
        key_type::INODE_ITEM,
        key_type::DIR_ITEM,
        key_type::DIR_INDEX,
        key_type::XATTR_ITEM,
        key_type::INODE_REF,
        key_type::INODE_EXTREF,
        key_type::EXTENT_DATA,
    ] {
        assert!(seen.get(&ty).copied().unwrap_or(0) > 0, "no item of type {} in the image", ty);
    }
    // Both inline and regular extents were covered.
    let kinds: std::collections::HashSet<u8> = items
        .iter()
        .filter(|(k, _)| k.ty == key_type::EXTENT_DATA)
        .map(|(_, d)| FileExtent::parse(d).unwrap().header.ty())
        .collect();
    assert!(kinds.contains(&file_extent_type::INLINE) && kinds.contains(&file_extent_type::REG));
}

#[test]
fn metadata_trees_reencode() {
    let scratch = common::Scratch::new("iw-meta");
    let path = populated_image(&scratch.0);
    let img = Image::open(&path);
    let mut counts = std::collections::HashMap::new();

    // Root tree: every root item, and the root tree dir's inode.
    for (key, data) in img.items(img.root_tree()).unwrap() {
        if key.ty == key_type::ROOT_ITEM {
            *counts.entry("root").or_insert(0) += 1;
            assert_eq!(data.len(), ROOT_ITEM_FULL_SIZE);
            let f = RootFields::decode(&data).unwrap();
            assert_eq!(&f.encode()[..], &data[..], "root item {}", key);
            let r = Root::parse(&data).unwrap();
            assert_eq!(f.bytenr, r.item.bytenr());
            assert!(r.valid_ext().is_some());
        }
    }

    // Extent tree: metadata and data extent items, block groups.
    let ext = img.tree(objectid::EXTENT_TREE).unwrap();
    for (key, data) in img.items(ext).unwrap() {
        match key.ty {
            key_type::METADATA_ITEM => {
                *counts.entry("metadata").or_insert(0) += 1;
                let e = Extent::parse(key.ty, &data).unwrap();
                let refs: Vec<_> = e.inline_refs.map(|r| r.unwrap()).collect();
                assert_eq!(refs.len(), 1);
                let b = Backref::from_inline(&refs[0]).unwrap();
                let mut out = [0u8; METADATA_ITEM_SIZE];
                let extra = e.item.flags() & !extent_flag::TREE_BLOCK;
                assert_eq!(encode_metadata_item(&mut out, e.item.generation(), extra, &b), Ok(METADATA_ITEM_SIZE));
                assert_eq!(&out[..], &data[..], "{}", key);
                assert_eq!(
                    lookup_inline_ref(key.ty, &data, &b).unwrap(),
                    InlineLookup::Found { range: 24..33, count: 1 }
                );
            }
            key_type::EXTENT_ITEM => {
                *counts.entry("data extent").or_insert(0) += 1;
                let e = Extent::parse(key.ty, &data).unwrap();
                assert_eq!(e.item.flags(), extent_flag::DATA);
                let refs: Vec<_> = e.inline_refs.map(|r| r.unwrap()).collect();
                assert_eq!(refs.len(), 1);
                let b = Backref::from_inline(&refs[0]).unwrap();
                let count = inline_ref_count(&refs[0]) as u32;
                let mut out = [0u8; 64];
                let n = encode_data_extent_item(&mut out, e.item.generation(), &b, count).unwrap();
                assert_eq!(&out[..n], &data[..], "{}", key);
            }
            key_type::BLOCK_GROUP_ITEM => {
                *counts.entry("block group").or_insert(0) += 1;
                let v = BlockGroupItem::new(&data).unwrap();
                assert_eq!(&encode_block_group_item(v.used(), v.chunk_objectid(), v.flags())[..], &data[..]);
            }
            _ => {}
        }
    }

    // Free space tree.
    let fst = img.tree(objectid::FREE_SPACE_TREE).unwrap();
    for (key, data) in img.items(fst).unwrap() {
        if key.ty == key_type::FREE_SPACE_INFO {
            *counts.entry("free space info").or_insert(0) += 1;
            let v = FreeSpaceInfo::new(&data).unwrap();
            assert_eq!(&encode_free_space_info(v.extent_count(), v.flags())[..], &data[..]);
        }
    }

    // Chunk tree: dev items and chunks.
    for (key, data) in img.items(img.chunk_tree()).unwrap() {
        match key.ty {
            key_type::DEV_ITEM => {
                *counts.entry("dev item").or_insert(0) += 1;
                let f = DevItemFields::from_view(&DevItem::new(&data).unwrap());
                assert_eq!(&f.encode()[..], &data[..]);
            }
            key_type::CHUNK_ITEM => {
                *counts.entry("chunk").or_insert(0) += 1;
                let c = ChunkItem::parse(&data).unwrap();
                let stripes: Vec<StripeFields> = c.stripes().map(|s| StripeFields::from_view(&s)).collect();
                let mut out = KVec::new();
                ChunkFields::from_view(&c.chunk()).push(&mut out, &stripes).unwrap();
                assert_eq!(&out[..], &data[..], "{}", key);
            }
            _ => {}
        }
    }

    // Dev tree: dev extents.
    let dev = img.tree(objectid::DEV_TREE).unwrap();
    for (key, data) in img.items(dev).unwrap() {
        if key.ty == key_type::DEV_EXTENT {
            *counts.entry("dev extent").or_insert(0) += 1;
            let v = DevExtent::new(&data).unwrap();
            let out =
                encode_dev_extent(v.chunk_tree(), v.chunk_objectid(), v.chunk_offset(), v.length(), v.chunk_tree_uuid());
            assert_eq!(&out[..], &data[..]);
        }
    }
    for what in ["root", "metadata", "data extent", "block group", "free space info", "dev item", "chunk", "dev extent"] {
        assert!(counts.get(what).copied().unwrap_or(0) > 0, "no {} item", what);
    }
}

#[test]
fn superblock_setters_and_csum() {
    let scratch = common::Scratch::new("iw-super");
    let path = populated_image(&scratch.0);
    let orig = common::read_super(&path);
    let sb = SuperBlock::new(&orig).unwrap();

    // Clobber every settable field, then set them back from the original.
    let mut buf = orig.clone();
    {
        let mut m = SuperBlockMut::new(&mut buf).unwrap();
        m.set_generation(1);
        m.set_root(2);
        m.set_root_level(3);
        m.set_chunk_root(4);
        m.set_chunk_root_level(5);
        m.set_chunk_root_generation(6);
        m.set_bytes_used(7);
        m.set_total_bytes(8);
        m.set_cache_generation(9);
        m.set_num_devices(10);
        m.set_sys_chunk_array_size(11);
        m.set_csum(&[0xee; 32]);
        m.dev_item_mut().set_bytes_used(12);
        m.dev_item_mut().set_uuid(&[1; 16]);
        // Only the valid part: mkfs leaves stale bytes after it.
        let n = sb.sys_chunk_array_size() as usize;
        m.sys_chunk_array_mut()[..n].fill(0x55);
        for i in 0..NUM_BACKUP_ROOTS {
            let mut b = m.backup_root_mut(i);
            b.set_tree_root(13);
            b.set_fs_root_gen(14);
            b.set_csum_root_level(15);
            b.set_num_devices(16);
        }
    }
    assert_ne!(buf, orig);
    {
        let mut m = SuperBlockMut::new(&mut buf).unwrap();
        m.set_generation(sb.generation());
        m.set_root(sb.root());
        m.set_root_level(sb.root_level());
        m.set_chunk_root(sb.chunk_root());
        m.set_chunk_root_level(sb.chunk_root_level());
        m.set_chunk_root_generation(sb.chunk_root_generation());
        m.set_bytes_used(sb.bytes_used());
        m.set_total_bytes(sb.total_bytes());
        m.set_cache_generation(sb.cache_generation());
        m.set_num_devices(sb.num_devices());
        DevItemFields::from_view(&sb.dev_item()).write_to(&mut m.dev_item_mut());
        // Rebuild the bootstrap array entry by entry.
        m.set_sys_chunk_array_size(0);
        for r in SysChunkIter::new(&sb) {
            let (logical, chunk) = r.unwrap();
            let stripes: Vec<StripeFields> = chunk.stripes().map(|s| StripeFields::from_view(&s)).collect();
            let mut bytes = KVec::new();
            ChunkFields::from_view(&chunk.chunk()).push(&mut bytes, &stripes).unwrap();
            m.push_sys_chunk(&chunk_key(logical), &bytes).unwrap();
        }
        for i in 0..NUM_BACKUP_ROOTS {
            let o = sb.backup_root(i);
            let mut b: RootBackupMut<'_> = m.backup_root_mut(i);
            b.set_tree_root(o.tree_root());
            b.set_tree_root_gen(o.tree_root_gen());
            b.set_chunk_root(o.chunk_root());
            b.set_chunk_root_gen(o.chunk_root_gen());
            b.set_extent_root(o.extent_root());
            b.set_extent_root_gen(o.extent_root_gen());
            b.set_fs_root(o.fs_root());
            b.set_fs_root_gen(o.fs_root_gen());
            b.set_dev_root(o.dev_root());
            b.set_dev_root_gen(o.dev_root_gen());
            b.set_csum_root(o.csum_root());
            b.set_csum_root_gen(o.csum_root_gen());
            b.set_total_bytes(o.total_bytes());
            b.set_bytes_used(o.bytes_used());
            b.set_num_devices(o.num_devices());
            b.set_tree_root_level(o.tree_root_level());
            b.set_chunk_root_level(o.chunk_root_level());
            b.set_extent_root_level(o.extent_root_level());
            b.set_fs_root_level(o.fs_root_level());
            b.set_dev_root_level(o.dev_root_level());
            b.set_csum_root_level(o.csum_root_level());
        }
        m.update_csum().unwrap();
    }
    let diff = buf.iter().zip(&orig).position(|(a, b)| a != b);
    assert_eq!(diff, None, "superblock rebuilt byte for byte, checksum included");
    assert_eq!(&buf[..4], &crc32c(&buf[32..4096]).to_le_bytes());

    // A changed field gets a checksum that validate_super accepts.
    {
        let mut m = SuperBlockMut::new(&mut buf).unwrap();
        m.set_generation(sb.generation() + 1);
        m.update_csum().unwrap();
    }
    rbtrfs_core::validate::validate_super(&buf, 4096).unwrap();
    assert_eq!(SuperBlock::new(&buf).unwrap().generation(), sb.generation() + 1);
    {
        let mut m = SuperBlockMut::new(&mut buf).unwrap();
        m.set_csum_type(77);
        assert_eq!(m.update_csum(), Err(EUCLEAN));
        let full = vec![0u8; 2048];
        m.set_csum_type(0);
        assert_eq!(m.push_sys_chunk(&chunk_key(0), &full), Err(E2BIG));
    }
}

// ---------------------------------------------------------------------------
// Root items
// ---------------------------------------------------------------------------

#[test]
fn root_items_new_and_edit() {
    let f = RootFields::new_tree(0x40_0000, 9, 16384);
    let b = f.encode();
    let r = Root::parse(&b).unwrap();
    assert_eq!(r.item.bytenr(), 0x40_0000);
    assert_eq!(r.item.generation(), 9);
    assert_eq!(r.item.refs(), 1);
    assert_eq!(r.item.bytes_used(), 16384);
    assert_eq!(r.item.level(), 0);
    assert!(r.valid_ext().is_some());
    assert_eq!(RootFields::decode(&b).unwrap(), f);

    let mut rng = Rng(3);
    let mut g = RootFields {
        inode: random_inode(&mut rng),
        generation: rng.next(),
        root_dirid: 256,
        bytenr: rng.next(),
        byte_limit: rng.next(),
        bytes_used: rng.next(),
        last_snapshot: rng.next(),
        flags: rng.next(),
        refs: rng.next() as u32,
        drop_progress: Key::new(rng.next(), 7, rng.next()),
        drop_level: 2,
        level: 3,
        generation_v2: rng.next(),
        uuid: [1; 16],
        parent_uuid: [2; 16],
        received_uuid: [3; 16],
        ctransid: rng.next(),
        otransid: rng.next(),
        stransid: rng.next(),
        rtransid: rng.next(),
        ctime: rng.ts(),
        otime: rng.ts(),
        stime: rng.ts(),
        rtime: rng.ts(),
    };
    let mut b = g.encode();
    assert_eq!(RootFields::decode(&b).unwrap(), g);
    let r = Root::parse(&b).unwrap();
    assert_eq!(r.item.drop_progress(), g.drop_progress);
    assert_eq!(r.ext.unwrap().rtime(), g.rtime);
    assert_eq!(InodeFields::from_view(&r.inode), g.inode);

    // In-place edits.
    {
        let mut m = RootMut::new(&mut b).unwrap();
        m.set_generation(77);
        m.item().set_bytenr(123);
        m.item().set_level(1);
        m.item().set_refs(0);
        m.item().set_drop_progress(&Key::new(1, 2, 3));
        m.ext().unwrap().set_ctransid(55);
        m.ext().unwrap().set_otime(Timespec { sec: 8, nsec: 9 });
        m.inode().unwrap().set_size(3);
    }
    g.generation = 77;
    g.generation_v2 = 77;
    g.bytenr = 123;
    g.level = 1;
    g.refs = 0;
    g.drop_progress = Key::new(1, 2, 3);
    g.ctransid = 55;
    g.otime = Timespec { sec: 8, nsec: 9 };
    g.inode.size = 3;
    assert_eq!(RootFields::decode(&b).unwrap(), g);

    // A legacy 239-byte item: editable, no extension.
    let mut legacy = b[..239].to_vec();
    let mut m = RootMut::new(&mut legacy).unwrap();
    assert!(m.ext().is_none());
    m.set_generation(5);
    assert_eq!(Root::parse(&legacy).unwrap().item.generation(), 5);
    assert!(RootMut::new(&mut [0u8; 238]).is_err());
    assert_eq!(RootFields::decode(&[0u8; 238]), Err(EUCLEAN));
}

// ---------------------------------------------------------------------------
// Extent backrefs
// ---------------------------------------------------------------------------

/// (root, inode, offset, key offset) of keyed EXTENT_DATA_REF items the
/// kernel wrote (dump-tree of a filesystem with 400 reflinks of one extent).
const DATA_REF_KEYS: [(u64, u64, u64, u64); 10] = [
    (5, 504, 0, 1007496931328862710),
    (5, 313, 0, 1007496931787850508),
    (5, 600, 0, 1007496932228676211),
    (5, 378, 0, 1007496932683284739),
    (5, 330, 0, 1007496933113624770),
    (5, 608, 0, 1007496933579058325),
    (5, 415, 0, 1007496934028416620),
    (5, 592, 0, 1007496934483301716),
    (5, 302, 0, 1007496934955952043),
    (5, 512, 0, 1007496935395991319),
];

/// The inline refs (root, inode) of one extent item as the kernel ordered
/// them: 13 reflinks in subvolume 5, then a snapshot of it (root 256).
const INLINE_ORDER: [(u64, u64); 26] = [
    (5, 269),
    (5, 264),
    (5, 267),
    (5, 258),
    (5, 257),
    (5, 260),
    (5, 263),
    (5, 262),
    (5, 261),
    (5, 259),
    (5, 266),
    (5, 265),
    (5, 268),
    (256, 269),
    (256, 264),
    (256, 267),
    (256, 258),
    (256, 257),
    (256, 260),
    (256, 263),
    (256, 262),
    (256, 261),
    (256, 259),
    (256, 266),
    (256, 265),
    (256, 268),
];

#[test]
fn hash_extent_data_ref_matches_kernel() {
    for (root, ino, off, want) in DATA_REF_KEYS {
        assert_eq!(hash_extent_data_ref(root, ino, off), want, "root {} ino {}", root, ino);
        let b = Backref::new(0, root, ino, off);
        assert_eq!(b.key(13631488), Key::new(13631488, key_type::EXTENT_DATA_REF, want));
    }
    // Independent definition: the kernel's crc32c(seed, ...) (no pre or
    // post inversion) of each little-endian field, high part shifted by 31.
    let raw = crc32c_bitwise;
    let (r, o, f) = (0x1234_5678_9abc_def0u64, 300u64, 1u64 << 40);
    let high = raw(!0, &r.to_le_bytes()) as u64;
    let low = raw(raw(!0, &o.to_le_bytes()), &f.to_le_bytes()) as u64;
    assert_eq!(hash_extent_data_ref(r, o, f), (high << 31) ^ low);
}

/// Bitwise crc32c update from `seed`, without inversions (a reference model).
fn crc32c_bitwise(seed: u32, data: &[u8]) -> u32 {
    let mut crc = seed;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
        }
    }
    crc
}

fn data_extent(first: &Backref, count: u32) -> KVec<u8> {
    let mut b = vec![0u8; 64];
    let n = encode_data_extent_item(&mut b, 7, first, count).unwrap();
    kvec(&b[..n])
}

fn inline_list(key_ty: u8, item: &[u8]) -> Vec<(Backref, u64)> {
    InlineRefSpans::new(key_ty, item)
        .unwrap()
        .map(|r| {
            let (_, r) = r.unwrap();
            (Backref::from_inline(&r).unwrap(), inline_ref_count(&r))
        })
        .collect()
}

#[test]
fn inline_data_refs_follow_kernel_order() {
    let mut rng = Rng(11);
    let want: Vec<Backref> = INLINE_ORDER.iter().map(|&(root, ino)| Backref::new(0, root, ino, 0)).collect();
    for _ in 0..20 {
        let mut order = want.clone();
        rng.shuffle(&mut order);
        let mut item = data_extent(&order[0], 1);
        for b in &order[1..] {
            insert_inline_ref(&mut item, key_type::EXTENT_ITEM, b, 1).unwrap();
        }
        let got: Vec<Backref> = inline_list(key_type::EXTENT_ITEM, &item).into_iter().map(|(b, _)| b).collect();
        assert_eq!(got, want);
        let e = Extent::parse(key_type::EXTENT_ITEM, &item).unwrap();
        assert_eq!(e.item.refs(), 26);
        assert_eq!(item.len(), 24 + 26 * 29);
    }
    // Lookups find every ref, and a duplicate insert is refused.
    let mut item = data_extent(&want[0], 1);
    for b in &want[1..] {
        insert_inline_ref(&mut item, key_type::EXTENT_ITEM, b, 1).unwrap();
    }
    for (i, b) in want.iter().enumerate() {
        let at = 24 + i * 29;
        assert_eq!(
            lookup_inline_ref(key_type::EXTENT_ITEM, &item, b).unwrap(),
            InlineLookup::Found { range: at..at + 29, count: 1 }
        );
    }
    assert_eq!(insert_inline_ref(&mut item, key_type::EXTENT_ITEM, &want[3], 1), Err(EEXIST));
    assert_eq!(item.len(), 24 + 26 * 29);
}

#[test]
fn inline_refs_mixed_types_update_and_drop() {
    // Data: EXTENT_DATA_REFs sort before SHARED_DATA_REFs; shared ones by decreasing parent.
    let a = Backref::ExtentData { root: 5, objectid: 257, offset: 0 };
    let s1 = Backref::SharedData { parent: 0x10000 };
    let s2 = Backref::SharedData { parent: 0x20000 };
    let mut item = data_extent(&s1, 2);
    insert_inline_ref(&mut item, key_type::EXTENT_ITEM, &a, 3).unwrap();
    insert_inline_ref(&mut item, key_type::EXTENT_ITEM, &s2, 1).unwrap();
    assert_eq!(inline_list(key_type::EXTENT_ITEM, &item), vec![(a, 3), (s2, 1), (s1, 2)]);
    assert_eq!(refs_of(&item), 6);

    // Bump and drop counts in place.
    let InlineLookup::Found { range, count } = lookup_inline_ref(key_type::EXTENT_ITEM, &item, &a).unwrap() else {
        panic!("a not found")
    };
    assert_eq!(count, 3);
    let mut raw = item.to_vec();
    assert_eq!(update_inline_ref(&mut raw, range.start, 2), Ok(raw.len()));
    assert_eq!(inline_list(key_type::EXTENT_ITEM, &raw)[0], (a, 5));
    assert_eq!(refs_of(&raw), 8);
    let InlineLookup::Found { range, .. } = lookup_inline_ref(key_type::EXTENT_ITEM, &raw, &s2).unwrap() else {
        panic!("s2 not found")
    };
    let n = update_inline_ref(&mut raw, range.start, -1).unwrap();
    raw.truncate(n);
    assert_eq!(inline_list(key_type::EXTENT_ITEM, &raw), vec![(a, 5), (s1, 2)]);
    assert_eq!(refs_of(&raw), 7);
    // Dropping more than a ref holds, or the extent's last ref, is corruption.
    let at_s1 = 24 + 29;
    assert_eq!(update_inline_ref(&mut raw, at_s1, -3), Err(EUCLEAN));
    assert_eq!(update_inline_ref(&mut raw, 24, -7), Err(EUCLEAN));
    // Tree block refs in a data extent are corruption.
    assert_eq!(lookup_inline_ref(key_type::EXTENT_ITEM, &raw, &Backref::TreeBlock { root: 5 }), Err(EUCLEAN));

    // Tree blocks: TREE_BLOCK_REF (decreasing root) before SHARED_BLOCK_REF (decreasing parent).
    let t5 = Backref::TreeBlock { root: 5 };
    let t256 = Backref::TreeBlock { root: 256 };
    let p1 = Backref::SharedBlock { parent: 0x4000 };
    let p2 = Backref::SharedBlock { parent: 0x8000 };
    let mut b = [0u8; METADATA_ITEM_SIZE];
    encode_metadata_item(&mut b, 3, extent_flag::FULL_BACKREF, &p1).unwrap();
    let mut m = kvec(&b);
    for r in [t5, p2, t256] {
        insert_inline_ref(&mut m, key_type::METADATA_ITEM, &r, 1).unwrap();
    }
    let got: Vec<Backref> = inline_list(key_type::METADATA_ITEM, &m).into_iter().map(|(b, _)| b).collect();
    assert_eq!(got, vec![t256, t5, p2, p1]);
    assert_eq!(refs_of(&m), 4);
    assert_eq!(insert_inline_ref(&mut m, key_type::METADATA_ITEM, &t5, 1), Err(EEXIST));
    let t7 = Backref::TreeBlock { root: 7 };
    assert_eq!(insert_inline_ref(&mut m, key_type::METADATA_ITEM, &t7, 2), Err(EINVAL));
    assert_eq!(m.len(), 24 + 4 * 9, "a failed insert leaves the item alone");
    let mut raw = m.to_vec();
    assert_eq!(update_inline_ref(&mut raw, 24, 1), Err(EUCLEAN), "tree block refs only drop by one");
    let n = update_inline_ref(&mut raw, 24, -1).unwrap();
    raw.truncate(n);
    let got: Vec<Backref> = inline_list(key_type::METADATA_ITEM, &raw).into_iter().map(|(b, _)| b).collect();
    assert_eq!(got, vec![t5, p2, p1]);

    // Non-skinny tree block items: refs start after the tree block info.
    let mut fat = [0u8; 64];
    let first = Key::new(256, key_type::INODE_ITEM, 0);
    let n = encode_tree_block_extent_item(&mut fat, 4, 0, &first, 1, &t5).unwrap();
    assert_eq!(n, 51);
    let e = Extent::parse(key_type::EXTENT_ITEM, &fat[..n]).unwrap();
    assert_eq!(e.tree_block.unwrap().key(), first);
    assert_eq!(e.tree_block.unwrap().level(), 1);
    assert_eq!(inline_refs_offset(key_type::EXTENT_ITEM, &fat[..n]), Ok(42));
    assert_eq!(
        lookup_inline_ref(key_type::EXTENT_ITEM, &fat[..n], &t5).unwrap(),
        InlineLookup::Found { range: 42..51, count: 1 }
    );
    assert_eq!(lookup_inline_ref(key_type::EXTENT_ITEM, &fat[..n], &t256).unwrap(), InlineLookup::Insert(42));
    assert_eq!(lookup_inline_ref(key_type::EXTENT_ITEM, &fat[..n], &p1).unwrap(), InlineLookup::Insert(51));

    // In-leaf insertion: extend, then setup at the looked-up offset.
    let mut leaf_item = fat[..n].to_vec();
    let InlineLookup::Insert(at) = lookup_inline_ref(key_type::EXTENT_ITEM, &leaf_item, &t256).unwrap() else {
        panic!()
    };
    leaf_item.resize(n + t256.inline_size(), 0);
    setup_inline_ref(&mut leaf_item, at, &t256, 1).unwrap();
    let got: Vec<Backref> = inline_list(key_type::EXTENT_ITEM, &leaf_item).into_iter().map(|(b, _)| b).collect();
    assert_eq!(got, vec![t256, t5]);

    // Malformed items.
    assert_eq!(lookup_inline_ref(key_type::EXTENT_ITEM, &[0u8; 10], &a), Err(EUCLEAN));
    let mut bad = data_extent(&a, 1).to_vec();
    bad.push(0xff);
    assert_eq!(lookup_inline_ref(key_type::EXTENT_ITEM, &bad, &s1), Err(EUCLEAN));
    assert_eq!(encode_data_extent_item(&mut [0u8; 64], 1, &t5, 1), Err(EINVAL));
    assert_eq!(encode_metadata_item(&mut [0u8; 64], 1, 0, &a), Err(EINVAL));
    assert_eq!(encode_metadata_item(&mut [0u8; 32], 1, 0, &t5), Err(EOVERFLOW));
}

/// The refs field of an extent item.
fn refs_of(item: &[u8]) -> u64 {
    rbtrfs_core::items::ExtentItem::new(item).unwrap().refs()
}

#[test]
fn keyed_backrefs_and_inline_encoding() {
    let bytenr = 1 << 30;
    let cases = [
        (Backref::new(0, 5, 1, 0), key_type::TREE_BLOCK_REF, 5, 0, 9),
        (Backref::new(0x8000, 5, 1, 0), key_type::SHARED_BLOCK_REF, 0x8000, 0, 9),
        (Backref::new(0x8000, 5, 300, 0), key_type::SHARED_DATA_REF, 0x8000, 4, 13),
        (Backref::new(0, 5, 300, 4096), key_type::EXTENT_DATA_REF, hash_extent_data_ref(5, 300, 4096), 28, 29),
    ];
    for (b, ty, off, keyed, inline) in cases {
        assert_eq!(b.ty(), ty);
        assert_eq!(b.key(bytenr), Key::new(bytenr, ty, off));
        assert_eq!(b.keyed_size(), keyed);
        assert_eq!(b.inline_size(), inline);
        assert_eq!(inline_ref_size(ty), Some(inline));
        let mut body = [0u8; 32];
        assert_eq!(b.encode_keyed(&mut body, 9), Ok(keyed));
        match b {
            Backref::SharedData { .. } => assert_eq!(&body[..4], &9u32.to_le_bytes()),
            Backref::ExtentData { root, objectid, offset } => {
                let v = rbtrfs_core::items::ExtentDataRef::new(&body).unwrap();
                assert_eq!((v.root(), v.objectid(), v.offset(), v.count()), (root, objectid, offset, 9));
            }
            _ => {}
        }
        let mut out = KVec::new();
        b.push_inline(&mut out, 9).unwrap();
        assert_eq!(out.len(), inline);
        let mut it = rbtrfs_core::items::InlineRefIter::new(&out);
        let r = it.next().unwrap().unwrap();
        assert!(it.next().is_none());
        assert_eq!(Backref::from_inline(&r), Some(b));
        let want_count = if b.is_data() { 9 } else { 1 };
        assert_eq!(inline_ref_count(&r), want_count);
    }
    assert_eq!(inline_ref_size(key_type::EXTENT_OWNER_REF), Some(9));
    assert_eq!(inline_ref_size(1), None);
    let owner = InlineRef::Owner { root: 5 };
    assert_eq!(Backref::from_inline(&owner), None);
    assert_eq!(inline_ref_count(&owner), 0);
}

#[test]
fn owner_refs_are_skipped() {
    // EXTENT_OWNER_REF (simple quotas) comes first and lookups step over it.
    let a = Backref::ExtentData { root: 5, objectid: 257, offset: 0 };
    let mut item = KVec::new();
    let mut head = [0u8; 24];
    {
        let mut m = rbtrfs_core::items::ExtentItemMut::new(&mut head).unwrap();
        m.set_refs(0);
        m.set_generation(1);
        m.set_flags(extent_flag::DATA);
    }
    item.extend_from_slice(&head).unwrap();
    item.push(key_type::EXTENT_OWNER_REF).unwrap();
    item.extend_from_slice(&5u64.to_le_bytes()).unwrap();
    assert_eq!(lookup_inline_ref(key_type::EXTENT_ITEM, &item, &a).unwrap(), InlineLookup::Insert(33));
    assert_eq!(insert_inline_ref(&mut item, key_type::EXTENT_ITEM, &a, 1), Ok(33));
    assert_eq!(
        lookup_inline_ref(key_type::EXTENT_ITEM, &item, &a).unwrap(),
        InlineLookup::Found { range: 33..62, count: 1 }
    );
}

// ---------------------------------------------------------------------------
// File extents, block groups, free space, chunks, csums
// ---------------------------------------------------------------------------

#[test]
fn file_extents_roundtrip() {
    let mut out = KVec::new();
    push_inline_extent(&mut out, 12, 4000, 3, b"compressed bytes").unwrap();
    assert_eq!(out.len(), inline_extent_size(16));
    let fe = FileExtent::parse(&out).unwrap();
    assert_eq!(fe.header.generation(), 12);
    assert_eq!(fe.header.ram_bytes(), 4000);
    assert_eq!(fe.header.compression(), 3);
    assert_eq!(fe.header.ty(), file_extent_type::INLINE);
    assert!(matches!(fe.body, FileExtentBody::Inline(d) if d == b"compressed bytes"));
    assert!(RegularExtent::decode(&out).is_err());

    for prealloc in [false, true] {
        let r = RegularExtent {
            generation: 1,
            ram_bytes: 1 << 20,
            compression: 0,
            prealloc,
            disk_bytenr: 0x1234_0000,
            disk_num_bytes: 1 << 20,
            offset: 4096,
            num_bytes: 8192,
        };
        let b = r.encode();
        let fe = FileExtent::parse(&b).unwrap();
        match fe.body {
            FileExtentBody::Regular(v) => {
                assert!(!prealloc);
                assert_eq!((v.disk_bytenr(), v.offset(), v.num_bytes()), (0x1234_0000, 4096, 8192));
            }
            FileExtentBody::Prealloc(v) => {
                assert!(prealloc);
                assert_eq!(v.disk_num_bytes(), 1 << 20);
            }
            FileExtentBody::Inline(_) => panic!("inline"),
        }
        assert_eq!(RegularExtent::decode(&b), Ok(r));
        // In-place edit, as when splitting an extent.
        let mut b = b;
        let mut m = rbtrfs_core::items::FileExtentItemMut::new(&mut b).unwrap();
        m.set_offset(8192);
        m.set_num_bytes(4096);
        assert_eq!(RegularExtent::decode(&b).unwrap().offset, 8192);
    }
    assert_eq!(encode_inline_extent(&mut [0u8; 22], 1, 2, 0, b"ab"), Err(EOVERFLOW));
}

#[test]
fn free_space_bitmap_ops() {
    let ss = 4096u32;
    let start = 1u64 << 30;
    let len = 1000 * u64::from(ss);
    let size = free_space_bitmap_size(len, ss).unwrap();
    assert_eq!(size, 125);
    assert_eq!(free_space_bitmap_size(len + 1, ss), None);
    let mut bits = vec![0u8; size];
    let mut model = vec![false; 1000];
    let mut rng = Rng(5);
    {
        let mut bm = FreeSpaceBitmap::new(&mut bits, start, len, ss).unwrap();
        for _ in 0..300 {
            let a = rng.below(1000);
            let n = rng.below(1000 - a) + 1;
            let on = rng.below(2) == 0;
            let (s, l) = (start + a * u64::from(ss), n * u64::from(ss));
            if on {
                bm.set_range(s, l).unwrap();
            } else {
                bm.clear_range(s, l).unwrap();
            }
            for m in &mut model[a as usize..(a + n) as usize] {
                *m = on;
            }
            let i = rng.below(1000);
            assert_eq!(bm.test(start + i * u64::from(ss)), Some(model[i as usize]));
        }
        let mut want = Vec::new();
        let mut i = 0;
        while i < 1000 {
            if model[i] {
                let j = (i..1000).find(|&j| !model[j]).unwrap_or(1000);
                want.push((start + i as u64 * u64::from(ss), (j - i) as u64 * u64::from(ss)));
                i = j;
            } else {
                i += 1;
            }
        }
        assert_eq!(bm.runs().collect::<Vec<_>>(), want);
        assert_eq!(bm.set_range(start - 4096, 4096), Err(EINVAL));
        assert_eq!(bm.set_range(start + 1, 4096), Err(EINVAL));
        assert_eq!(bm.set_range(start + len - 4096, 8192), Err(EINVAL));
        assert_eq!(bm.test(start + len), None);
    }
    // LSB-first layout, as extent_buffer_bitmap_set.
    let mut b2 = vec![0u8; 2];
    let mut bm = FreeSpaceBitmap::new(&mut b2, 0, 16 * 4096, ss).unwrap();
    bm.set_range(3 * 4096, 7 * 4096).unwrap();
    assert_eq!(b2, vec![0b1111_1000, 0b0000_0011]);
    assert_eq!(BitmapRuns::new(&b2, 0, 16 * 4096, ss).unwrap().collect::<Vec<_>>(), vec![(3 * 4096, 7 * 4096)]);
    assert!(FreeSpaceBitmap::new(&mut [0u8; 3], 0, 16 * 4096, ss).is_err());
}

#[test]
fn chunks_devs_and_csums() {
    let c = ChunkFields {
        length: 1 << 30,
        owner: 2,
        stripe_len: 65536,
        type_flags: rbtrfs_core::volumes::block_group::METADATA | rbtrfs_core::volumes::block_group::DUP,
        io_align: 65536,
        io_width: 65536,
        sector_size: 4096,
        sub_stripes: 1,
    };
    let s = [
        StripeFields { devid: 1, offset: 1 << 20, dev_uuid: [7; 16] },
        StripeFields { devid: 1, offset: 1 << 31, dev_uuid: [7; 16] },
    ];
    let mut out = KVec::new();
    c.push(&mut out, &s).unwrap();
    let ci = ChunkItem::parse(&out).unwrap();
    ci.check(1 << 32, 4096, false).unwrap();
    assert_eq!(ci.size(), out.len());
    assert_eq!(ChunkFields::from_view(&ci.chunk()), c);
    let back: Vec<StripeFields> = ci.stripes().map(|x| StripeFields::from_view(&x)).collect();
    assert_eq!(back, s);
    let m = ci.info(1 << 32).map((1 << 32) + 5).unwrap();
    assert_eq!(m.mirrors()[1].physical, (1 << 31) + 5);
    assert_eq!(c.encode(&mut [0u8; 200], &[]), Err(EINVAL));
    assert_eq!(c.encode(&mut [0u8; 100], &s), Err(EOVERFLOW));
    // A chunk key and item make a sys_chunk_array entry.
    let mut arr = chunk_key(1 << 32).to_vec();
    arr.extend_from_slice(&out);
    assert_eq!(SysChunkIter::from_bytes(&arr).count(), 1);

    let d = DevItemFields {
        devid: 1,
        total_bytes: 1 << 34,
        bytes_used: 1 << 31,
        io_align: 4096,
        io_width: 4096,
        sector_size: 4096,
        dev_type: 0,
        generation: 3,
        start_offset: 0,
        dev_group: 0,
        seek_speed: 0,
        bandwidth: 0,
        uuid: [1; 16],
        fsid: [2; 16],
    };
    assert_eq!(DevItemFields::from_view(&DevItem::new(&d.encode()).unwrap()), d);
    let e = encode_dev_extent(3, 256, 1 << 32, 1 << 30, &[4; 16]);
    let v = DevExtent::new(&e).unwrap();
    assert_eq!((v.chunk_tree(), v.chunk_objectid(), v.chunk_offset(), v.length()), (3, 256, 1 << 32, 1 << 30));
    assert_eq!(v.chunk_tree_uuid(), &[4; 16]);
    let bg = encode_block_group_item(5, 256, 1);
    let v = BlockGroupItem::new(&bg).unwrap();
    assert_eq!((v.used(), v.chunk_objectid(), v.flags()), (5, 256, 1));
    let fsi = encode_free_space_info(9, 1);
    assert_eq!(FreeSpaceInfo::new(&fsi).unwrap().extent_count(), 9);

    // Checksum item slots.
    let start = 1 << 20;
    assert_eq!(csum_offset(start, 4096, 4, start), Some(0));
    assert_eq!(csum_offset(start, 4096, 4, start + 3 * 4096), Some(12));
    assert_eq!(csum_offset(start, 4096, 32, start + 2 * 4096), Some(64));
    assert_eq!(csum_offset(start, 4096, 4, start - 4096), None);
    assert_eq!(csum_offset(start, 4096, 4, start + 1), None);
    assert_eq!(csum_item_end(start, 40, 4096, 4), start + 10 * 4096);
    let mut data = vec![0u8; 40];
    csum_slot_mut(&mut data, start, 4096, 4, start + 9 * 4096).unwrap().copy_from_slice(&[1, 2, 3, 4]);
    assert_eq!(&data[36..], &[1, 2, 3, 4]);
    assert!(csum_slot_mut(&mut data, start, 4096, 4, start + 10 * 4096).is_none());
}

#[test]
fn hashes_and_keys() {
    assert_eq!(dir_item_key(256, b"foo"), Key::new(256, key_type::DIR_ITEM, name_hash(b"foo") as u64));
    assert_eq!(dir_index_key(256, 7), Key::new(256, key_type::DIR_INDEX, 7));
    assert_eq!(inode_ref_key(300, 256), Key::new(300, key_type::INODE_REF, 256));
    // btrfs_extref_hash truncates the parent to crc32c's 32-bit seed.
    let p = 0x1_0000_0101u64;
    assert_eq!(extref_hash(p, b"n"), extref_hash(0x101, b"n"));
    assert_eq!(require(Some(3)), Ok(3));
    assert_eq!(require::<u8>(None), Err(rbtrfs_core::error::ENOENT));
}

#[test]
fn extent_tree_dump_agrees() {
    // Every extent item of the image is found by dump-tree at the same key,
    // and the inline ref of each data extent is found by lookup.
    let scratch = common::Scratch::new("iw-dump");
    let path = populated_image(&scratch.0);
    let img = Image::open(&path);
    let (_, dumped) = dump_tree(&path, objectid::EXTENT_TREE);
    let items = img.items(img.tree(objectid::EXTENT_TREE).unwrap()).unwrap();
    assert_eq!(dumped.len(), items.len());
    for ((key, data), d) in items.iter().zip(&dumped) {
        assert_eq!(*key, d.key);
        assert_eq!(data.len() as u32, d.itemsize);
        if key.ty == key_type::EXTENT_ITEM {
            for (range, r) in InlineRefSpans::new(key.ty, data).unwrap().map(|r| r.unwrap()) {
                let b = Backref::from_inline(&r).unwrap();
                assert_eq!(
                    lookup_inline_ref(key.ty, data, &b).unwrap(),
                    InlineLookup::Found { range, count: inline_ref_count(&r) }
                );
            }
        }
    }
}
