// SPDX-License-Identifier: GPL-2.0
//! Keys, tree blocks, B-tree search, chunks and items against real images
//! built by `mkfs.btrfs --rootdir`, cross-checked with `dump-tree` and with
//! the source directory; then corrupted and fuzzed blocks.

mod common;
mod image;

use common::Rng;

use image::{dump_tree, Image, RootPtr};
use rbtrfs_core::checksum::{crc32c, name_hash, CsumType};
use rbtrfs_core::ctree::{key_type, objectid, Key, Path, SearchError, TreeBlock, TreeError, HEADER_SIZE, ITEM_SIZE};
use rbtrfs_core::items::{
    file_type, BlockGroupItem, CsumItem, DevExtent, DevItem, DirItemIter, Extent, FileExtent, FileExtentBody,
    FreeSpaceInfo, InlineRef, InodeItem, InodeRefIter, QgroupInfoItem, QgroupLimitItem, QgroupStatusItem, Root,
};
use rbtrfs_core::volumes::{block_group, ChunkItem};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path as FsPath, PathBuf};
use std::process::Command;


/// Two distinct names with the same btrfs name hash (a crc32c birthday search).
fn colliding_names() -> (String, String) {
    let mut seen: HashMap<u32, String> = HashMap::new();
    for i in 0u64.. {
        let n = format!("collide-{:x}", i);
        if let Some(other) = seen.insert(name_hash(n.as_bytes()), n.clone()) {
            return (other, n);
        }
    }
    unreachable!()
}

/// A source tree for mkfs --rootdir, with what was put where.
struct Source {
    root: PathBuf,
    xattrs: Vec<(PathBuf, String, Vec<u8>)>,
    collision: (String, String),
}

fn setfattr(path: &FsPath, name: &str, value: &[u8]) {
    let hex: String = value.iter().map(|b| format!("{:02x}", b)).collect();
    let st = Command::new("setfattr").args(["-n", name, "-v"]).arg(format!("0x{}", hex)).arg(path).status().unwrap();
    assert!(st.success(), "setfattr {} on {:?}", name, path);
}

/// Nested dirs, `nsmall` small files (inline, some empty), large multi-extent
/// files, a zero-filled and a sparse file, symlinks, hard links (two in one
/// directory), xattrs, a fifo, an empty dir and two names colliding in hash.
fn make_source(dir: &FsPath, nsmall: usize, seed: u64) -> Source {
    use std::fs;
    let mut rng = Rng(seed);
    let root = dir.join("src");
    fs::create_dir_all(root.join("a/b/c/d/e")).unwrap();
    fs::create_dir_all(root.join("empty-dir")).unwrap();
    for (i, d) in ["a", "a/b", "a/b/c", "a/b/c/d", "a/b/c/d/e"].iter().enumerate() {
        fs::write(root.join(d).join(format!("level{}.txt", i)), format!("at depth {}\n", i)).unwrap();
    }
    let many = root.join("many");
    fs::create_dir(&many).unwrap();
    for i in 0..nsmall {
        let len = match i % 7 {
            0 => 0,
            1 => 1,
            2 => 4095,
            _ => rng.below(3000) as usize,
        };
        let name = format!("f{:05}{}", i, "x".repeat(rng.below(40) as usize));
        fs::write(many.join(name), rng.bytes(len)).unwrap();
    }
    let big = root.join("big");
    fs::create_dir(&big).unwrap();
    fs::write(big.join("large1"), rng.bytes(5 * 1024 * 1024 + 12345)).unwrap();
    fs::write(big.join("large2"), rng.bytes(1536 * 1024 + 123)).unwrap();
    fs::write(big.join("exact4096"), rng.bytes(4096)).unwrap();
    fs::write(big.join("zeros"), vec![0u8; 2 << 20]).unwrap();
    let f = fs::File::create(big.join("sparse")).unwrap();
    f.set_len(3 << 20).unwrap();
    drop(f);
    let mut tail = fs::OpenOptions::new().append(true).open(big.join("sparse")).unwrap();
    std::io::Write::write_all(&mut tail, b"tail after a hole\n").unwrap();
    let links = root.join("links");
    fs::create_dir(&links).unwrap();
    std::os::unix::fs::symlink("../a/level0.txt", links.join("rel")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", links.join("abs")).unwrap();
    std::os::unix::fs::symlink("d/".repeat(500), links.join("long")).unwrap();
    std::os::unix::fs::symlink("nowhere", links.join("dangling")).unwrap();
    fs::write(links.join("target"), b"linked five times\n").unwrap();
    for n in ["same_a", "same_b"] {
        fs::hard_link(links.join("target"), links.join(n)).unwrap();
    }
    fs::hard_link(links.join("target"), root.join("a/b/elsewhere")).unwrap();
    fs::hard_link(links.join("target"), big.join("also-here")).unwrap();
    let st = Command::new("mkfifo").arg(root.join("a/fifo")).status().unwrap();
    assert!(st.success());
    let mut xattrs = Vec::new();
    for (p, name, value) in [
        (big.join("large2"), "user.small", b"v".to_vec()),
        (big.join("large2"), "user.second", b"another value".to_vec()),
        (root.join("a/b"), "user.on-dir", b"dir attr".to_vec()),
        (links.join("target"), "user.big", rng.bytes(2000)),
        (root.join("a/level0.txt"), "user.empty", Vec::new()),
    ] {
        setfattr(&p, name, &value);
        xattrs.push((p, name.to_string(), value));
    }
    let (c1, c2) = colliding_names();
    let coll = root.join("collide");
    fs::create_dir(&coll).unwrap();
    fs::write(coll.join(&c1), b"one").unwrap();
    fs::write(coll.join(&c2), b"two").unwrap();
    // Fixed times so they can be compared (and not depend on the clock).
    let st = Command::new("touch").args(["-h", "-d", "2021-03-04 05:06:07.123456789"]).arg(&root).status().unwrap();
    assert!(st.success());
    Source { root, xattrs, collision: (c1, c2) }
}

fn mkfs_rootdir(dir: &FsPath, src: &FsPath, size: u64, extra: &[&str]) -> PathBuf {
    let mut args = vec!["--rootdir", src.to_str().unwrap()];
    args.extend_from_slice(extra);
    common::mkfs(dir, "img", size, &args)
}

/// All trees an image has: (id, root).
fn all_trees(img: &Image) -> Vec<(u64, RootPtr)> {
    let mut out = vec![(objectid::ROOT_TREE, img.root_tree()), (objectid::CHUNK_TREE, img.chunk_tree())];
    for (key, data) in img.items(img.root_tree()).unwrap() {
        if key.ty == key_type::ROOT_ITEM {
            let r = Root::parse(&data).unwrap();
            let root = RootPtr { bytenr: r.item.bytenr(), level: r.item.level(), generation: r.item.generation() };
            out.push((key.objectid, root));
        }
    }
    out
}

/// Every key (with item offset and size) of every tree equals what dump-tree
/// prints, in order, and so do the blocks; every key can be searched.
fn check_against_dump_tree(path: &FsPath, img: &Image) -> BTreeMap<u64, u8> {
    let mut levels = BTreeMap::new();
    for (id, root) in all_trees(img) {
        let (dump_blocks, dump_items) = dump_tree(path, id);
        // Items, by search from the smallest key and next_item.
        let mut p = Path::new();
        img.search(&mut p, root, &Key::MIN).unwrap();
        let mut mine = Vec::new();
        while let Some(item) = p.item().unwrap() {
            let leaf = p.leaf().unwrap();
            let h = leaf.item_head(p.slot()).unwrap();
            assert_eq!(h.key, item.key);
            assert_eq!(h.size as usize, item.data.len());
            mine.push(image::DumpItem { key: item.key, itemoff: h.offset, itemsize: h.size });
            if !p.next_item(img).unwrap() {
                break;
            }
        }
        assert_eq!(mine.len(), dump_items.len(), "tree {}: item count", id);
        for (i, (a, b)) in mine.iter().zip(&dump_items).enumerate() {
            assert_eq!(a, b, "tree {} item {}", id, i);
        }
        // Backwards with prev_item gives the same keys reversed.
        assert_eq!(p.key().unwrap(), None, "past the end");
        let mut back = Vec::new();
        while p.prev_item(img).unwrap() {
            back.push(p.key().unwrap().unwrap());
        }
        back.reverse();
        assert!(back.iter().eq(mine.iter().map(|d| &d.key)), "tree {}: prev_item order", id);
        // Blocks (dump-tree prints breadth first; compare as sets).
        let walked = img.walk_blocks(root, id);
        let a: BTreeSet<(u64, u8, u32)> = walked.iter().map(|b| (b.0, b.1, b.2)).collect();
        let b: BTreeSet<(u64, u8, u32)> = dump_blocks.iter().copied().collect();
        assert_eq!(a, b, "tree {} blocks", id);
        assert_eq!(walked.len(), dump_blocks.len());
        // Exact searches for a sample of keys, and in-between keys.
        let step = (mine.len() / 300).max(1);
        for (i, d) in mine.iter().enumerate().step_by(step) {
            let mut p = Path::new();
            assert!(img.search(&mut p, root, &d.key).unwrap(), "tree {} key {}", id, d.key);
            assert_eq!(p.key().unwrap(), Some(d.key));
            let after = Key::new(d.key.objectid, d.key.ty, d.key.offset.wrapping_add(1));
            if d.key.offset != u64::MAX {
                let found = img.search(&mut p, root, &after).unwrap();
                let next = mine.get(i + 1).map(|n| n.key);
                assert_eq!(found, next == Some(after));
                assert_eq!(p.key().unwrap(), next, "tree {} after {}", id, d.key);
            }
        }
        // Past the end.
        let mut p = Path::new();
        assert!(!img.search(&mut p, root, &Key::MAX).unwrap() || mine.last().map(|d| d.key) == Some(Key::MAX));
        levels.insert(id, root.level);
    }
    levels
}

/// (ino, file type) of `name` in directory `dir`, by DIR_ITEM name hash.
fn lookup_name(img: &Image, fs: RootPtr, dir: u64, name: &[u8]) -> Option<(u64, u8)> {
    let data = img.lookup(fs, Key::new(dir, key_type::DIR_ITEM, name_hash(name).into()))?;
    DirItemIter::new(&data)
        .map(|e| e.unwrap())
        .find(|e| e.name == name)
        .map(|e| (e.head.location().objectid, e.head.ty()))
}

/// The bytes of file `ino` of `size` bytes, from its EXTENT_DATA items.
fn read_file(img: &Image, fs: RootPtr, ino: u64, size: u64) -> (Vec<u8>, u64) {
    let mut out = vec![0u8; size as usize];
    let mut nbytes = 0;
    let items = img
        .range(fs, Key::new(ino, key_type::EXTENT_DATA, 0), Key::new(ino, key_type::EXTENT_DATA, u64::MAX))
        .unwrap();
    for (key, data) in items {
        let fe = FileExtent::parse(&data).unwrap();
        assert_eq!(fe.header.compression(), 0);
        let start = key.offset as usize;
        match fe.body {
            FileExtentBody::Inline(d) => {
                assert_eq!(start, 0, "inline extents start at 0");
                assert_eq!(fe.header.ram_bytes() as usize, d.len());
                // Inline data may run past i_size (mkfs 6.2 stores a
                // symlink target with its NUL); only i_size bytes count.
                let n = d.len().min(out.len());
                out[..n].copy_from_slice(&d[..n]);
                assert!(d[n..].iter().all(|&b| b == 0));
                nbytes += d.len() as u64;
            }
            FileExtentBody::Regular(e) => {
                nbytes += e.num_bytes();
                if e.disk_bytenr() == 0 {
                    continue;
                }
                let bytes = img.read_logical(e.disk_bytenr() + e.offset(), e.num_bytes() as usize).unwrap();
                let end = (start + bytes.len()).min(out.len());
                out[start..end].copy_from_slice(&bytes[..end - start]);
            }
            FileExtentBody::Prealloc(e) => nbytes += e.num_bytes(),
        }
    }
    (out, nbytes)
}

struct Checked {
    files: usize,
    dirs: usize,
    symlinks: usize,
    bytes: u64,
    packed_refs: usize,
}

/// Every source entry is found by name, with its metadata, contents,
/// symlink target, xattrs, directory listing and back references.
fn check_against_source(img: &Image, src: &Source) -> Checked {
    let fs = img.tree(objectid::FS_TREE).unwrap();
    let root_item = img.lookup(img.root_tree(), Key::new(objectid::FS_TREE, key_type::ROOT_ITEM, 0)).unwrap();
    let root_dir = Root::parse(&root_item).unwrap().item.root_dirid();
    assert_eq!(root_dir, objectid::FIRST_FREE);
    let mut c = Checked { files: 0, dirs: 0, symlinks: 0, bytes: 0, packed_refs: 0 };
    let mut inos: HashMap<PathBuf, u64> = HashMap::new();
    let mut stack = vec![(src.root.clone(), root_dir)];
    inos.insert(src.root.clone(), root_dir);
    while let Some((dir, dir_ino)) = stack.pop() {
        c.dirs += 1;
        let mut names: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        for ent in std::fs::read_dir(&dir).unwrap() {
            let ent = ent.unwrap();
            let path = ent.path();
            let name = ent.file_name().into_encoded_bytes();
            let md = std::fs::symlink_metadata(&path).unwrap();
            let (ino, ftype) = lookup_name(img, fs, dir_ino, &name).unwrap_or_else(|| panic!("{:?} not found", path));
            names.insert(name.clone(), ino);
            inos.insert(path.clone(), ino);
            let inode_data = img.lookup(fs, Key::new(ino, key_type::INODE_ITEM, 0)).unwrap();
            let inode = InodeItem::new(&inode_data).unwrap();
            assert_eq!(inode.mode(), md.mode(), "{:?}", path);
            // btrfs directories always have one link.
            let nlink = if md.is_dir() { 1 } else { md.nlink() };
            assert_eq!(u64::from(inode.nlink()), nlink, "{:?}", path);
            assert_eq!(inode.uid(), md.uid());
            assert_eq!(inode.gid(), md.gid());
            assert_eq!(inode.mtime().sec as i64, md.mtime(), "{:?}", path);
            // The name's INODE_REF in this parent, with the DIR_INDEX index.
            let refs = img.lookup(fs, Key::new(ino, key_type::INODE_REF, dir_ino)).unwrap();
            let refs: Vec<_> = InodeRefIter::new(&refs).map(|r| r.unwrap()).collect();
            if refs.len() > 1 {
                c.packed_refs += 1;
            }
            let r = refs.iter().find(|r| r.name == name.as_slice()).unwrap();
            let idx = img.lookup(fs, Key::new(dir_ino, key_type::DIR_INDEX, r.index)).unwrap();
            let idx: Vec<_> = DirItemIter::new(&idx).map(|e| e.unwrap()).collect();
            assert_eq!(idx.len(), 1);
            assert_eq!(idx[0].name, name.as_slice());
            assert_eq!(idx[0].head.location(), Key::new(ino, key_type::INODE_ITEM, 0));
            let ft = md.file_type();
            if ft.is_dir() {
                assert_eq!(ftype, file_type::DIR);
                stack.push((path.clone(), ino));
            } else if ft.is_symlink() {
                assert_eq!(ftype, file_type::SYMLINK);
                let target = std::fs::read_link(&path).unwrap().into_os_string().into_encoded_bytes();
                assert_eq!(inode.size(), target.len() as u64);
                let (data, _) = read_file(img, fs, ino, inode.size());
                assert_eq!(data, target, "{:?}", path);
                c.symlinks += 1;
            } else if ft.is_file() {
                assert_eq!(ftype, file_type::REG_FILE);
                assert_eq!(inode.size(), md.len(), "{:?}", path);
                let (data, nbytes) = read_file(img, fs, ino, inode.size());
                assert!(data == std::fs::read(&path).unwrap(), "contents of {:?}", path);
                assert!(nbytes >= inode.size(), "{:?}", path);
                c.files += 1;
                c.bytes += md.len();
            } else {
                assert_eq!(ftype, file_type::FIFO);
                assert_eq!(inode.size(), 0);
                assert_eq!(inode.rdev(), 0);
            }
        }
        // The directory's DIR_INDEX listing is exactly its entries, and its
        // size is twice the sum of the name lengths.
        let listing = img
            .range(fs, Key::new(dir_ino, key_type::DIR_INDEX, 0), Key::new(dir_ino, key_type::DIR_INDEX, u64::MAX))
            .unwrap();
        let mut listed = BTreeMap::new();
        for (key, data) in &listing {
            assert!(key.offset >= 2);
            let e = DirItemIter::new(data).next().unwrap().unwrap();
            listed.insert(e.name.to_vec(), e.head.location().objectid);
        }
        assert_eq!(listed, names, "listing of {:?}", dir);
        let inode_data = img.lookup(fs, Key::new(dir_ino, key_type::INODE_ITEM, 0)).unwrap();
        let size: usize = names.keys().map(|n| n.len() * 2).sum();
        assert_eq!(InodeItem::new(&inode_data).unwrap().size(), size as u64, "size of {:?}", dir);
    }
    // Xattrs: found by name hash, value intact, and no others on those inodes.
    for (path, name, value) in &src.xattrs {
        let ino = inos[path];
        let data = img.lookup(fs, Key::new(ino, key_type::XATTR_ITEM, name_hash(name.as_bytes()).into())).unwrap();
        let e = DirItemIter::new(&data).map(|e| e.unwrap()).find(|e| e.name == name.as_bytes()).unwrap();
        assert_eq!(e.data, value.as_slice(), "xattr {} of {:?}", name, path);
        assert_eq!(e.head.ty(), file_type::XATTR);
        let all = img
            .range(fs, Key::new(ino, key_type::XATTR_ITEM, 0), Key::new(ino, key_type::XATTR_ITEM, u64::MAX))
            .unwrap();
        let n: usize = all.iter().map(|(_, d)| DirItemIter::new(d).count()).sum();
        assert_eq!(n, src.xattrs.iter().filter(|x| &x.0 == path).count());
    }
    // The two colliding names share one DIR_ITEM holding both entries.
    let coll = inos[&src.root.join("collide")];
    let (a, b) = &src.collision;
    let data = img.lookup(fs, Key::new(coll, key_type::DIR_ITEM, name_hash(a.as_bytes()).into())).unwrap();
    let got: BTreeSet<Vec<u8>> = DirItemIter::new(&data).map(|e| e.unwrap().name.to_vec()).collect();
    assert_eq!(got, [a.as_bytes().to_vec(), b.as_bytes().to_vec()].into_iter().collect());
    c
}

/// Data extents have backrefs and checksums; block groups, dev extents, the
/// dev item and free space info agree with the chunks; every tree block is
/// in the extent tree with its owner.
fn check_extents_and_chunks(img: &Image) -> (usize, usize) {
    let extent = img.tree(objectid::EXTENT_TREE).unwrap();
    let fs = img.tree(objectid::FS_TREE).unwrap();
    let csum_size = img.csum_type.size();
    let ss = img.sectorsize as u64;
    // File extents -> extent items with a matching inline data ref.
    let mut data_extents = 0;
    let mut disk_extents = BTreeSet::new();
    for (key, data) in img.items(fs).unwrap() {
        if key.ty != key_type::EXTENT_DATA {
            continue;
        }
        let FileExtentBody::Regular(e) = FileExtent::parse(&data).unwrap().body else { continue };
        let ext = img.lookup(extent, Key::new(e.disk_bytenr(), key_type::EXTENT_ITEM, e.disk_num_bytes())).unwrap();
        let ext = Extent::parse(key_type::EXTENT_ITEM, &ext).unwrap();
        assert!(ext.tree_block.is_none());
        let refs: Vec<_> = ext.inline_refs.clone().map(|r| r.unwrap()).collect();
        let mut total = 0u64;
        let mut mine = false;
        for r in refs {
            let InlineRef::ExtentData(d) = r else { panic!("data extent with a non-data ref") };
            total += u64::from(d.count());
            mine |= d.root() == objectid::FS_TREE && d.objectid() == key.objectid && d.offset() == key.offset - e.offset();
        }
        assert!(mine, "no backref for {}", key);
        assert_eq!(total, ext.item.refs());
        disk_extents.insert((e.disk_bytenr(), e.disk_num_bytes()));
        data_extents += 1;
    }
    // Checksums of every data sector.
    let csum = img.tree(objectid::CSUM_TREE).unwrap();
    let mut sums = 0;
    for (key, data) in img.items(csum).unwrap() {
        assert_eq!((key.objectid, key.ty), (objectid::EXTENT_CSUM, key_type::EXTENT_CSUM));
        let c = CsumItem::new(&data, csum_size).unwrap();
        let bytes = img.read_logical(key.offset, c.len() * ss as usize).unwrap();
        for (i, (want, sector)) in c.iter().zip(bytes.chunks(ss as usize)).enumerate() {
            let mut got = [0u8; 32];
            img.csum_type.compute(sector, &mut got);
            assert_eq!(&got[..csum_size], want, "csum of {}", key.offset + i as u64 * ss);
            assert_eq!(c.get(i), Some(want));
        }
        sums += c.len();
    }
    // ... and every sector of every data extent has one.
    assert_eq!(sums as u64, disk_extents.iter().map(|e| e.1 / ss).sum::<u64>());
    // Block groups are the chunks; usage adds up to the superblock's.
    let items = img.items(extent).unwrap();
    let bgs: Vec<(Key, Vec<u8>)> = items.iter().filter(|(k, _)| k.ty == key_type::BLOCK_GROUP_ITEM).cloned().collect();
    assert_eq!(bgs.len(), img.chunks.len());
    let mut used = 0;
    for ((key, data), chunk) in bgs.iter().zip(&img.chunks) {
        let bg = BlockGroupItem::new(data).unwrap();
        assert_eq!((key.objectid, key.offset), (chunk.logical, chunk.length));
        assert_eq!(bg.flags(), chunk.type_flags);
        assert_eq!(bg.chunk_objectid(), objectid::FIRST_CHUNK_TREE);
        used += bg.used();
    }
    assert_eq!(used, img.sb().bytes_used());
    // Free space info for every block group, and free + used = length.
    let fst = img.tree(objectid::FREE_SPACE_TREE).unwrap();
    let free_items = img.items(fst).unwrap();
    for (key, data) in &bgs {
        let info = img.lookup(fst, Key::new(key.objectid, key_type::FREE_SPACE_INFO, key.offset)).unwrap();
        let info = FreeSpaceInfo::new(&info).unwrap();
        assert_eq!(info.flags(), 0);
        let exts: Vec<&Key> = free_items
            .iter()
            .map(|(k, _)| k)
            .filter(|k| k.ty == key_type::FREE_SPACE_EXTENT && k.objectid >= key.objectid)
            .filter(|k| k.objectid < key.objectid + key.offset)
            .collect();
        assert_eq!(exts.len() as u32, info.extent_count());
        let free: u64 = exts.iter().map(|k| k.offset).sum();
        assert_eq!(free + BlockGroupItem::new(data).unwrap().used(), key.offset, "bg {}", key.objectid);
    }
    // Dev extents are the chunks' stripes; the dev item counts them.
    let dev = img.tree(objectid::DEV_TREE).unwrap();
    let mut dev_used = 0;
    let mut stripes = 0;
    for (key, data) in img.items(dev).unwrap() {
        if key.ty != key_type::DEV_EXTENT {
            continue;
        }
        let de = DevExtent::new(&data).unwrap();
        let chunk = img.chunk_of(de.chunk_offset()).unwrap();
        assert_eq!(chunk.logical, de.chunk_offset());
        assert_eq!(de.length(), chunk.length);
        assert_eq!(de.chunk_tree(), objectid::CHUNK_TREE);
        let n = chunk.num_stripes as usize;
        assert!(chunk.stripes[..n].iter().any(|s| s.devid == key.objectid && s.physical == key.offset));
        dev_used += de.length();
        stripes += 1;
    }
    assert_eq!(stripes, img.chunks.iter().map(|c| c.num_stripes as usize).sum::<usize>());
    let di = img.lookup(img.chunk_tree(), Key::new(objectid::DEV_ITEMS, key_type::DEV_ITEM, 1)).unwrap();
    let di = DevItem::new(&di).unwrap();
    let sb = img.sb();
    assert_eq!(di.bytes_used(), dev_used);
    assert_eq!(di.uuid(), sb.dev_item().uuid());
    assert_eq!(di.total_bytes(), sb.dev_item().total_bytes());
    // Every tree block of every tree is a METADATA_ITEM with its owner's ref.
    let mut meta: BTreeMap<u64, (u8, u64)> = BTreeMap::new();
    for (key, data) in &items {
        if key.ty != key_type::METADATA_ITEM {
            continue;
        }
        let e = Extent::parse(key.ty, data).unwrap();
        let refs: Vec<_> = e.inline_refs.map(|r| r.unwrap()).collect();
        assert_eq!(refs.len(), 1);
        let InlineRef::TreeBlock { root } = refs[0] else { panic!("tree block without a tree ref") };
        meta.insert(key.objectid, (key.offset as u8, root));
    }
    let mut blocks = BTreeMap::new();
    for (id, root) in all_trees(img) {
        for (bytenr, level, _, owner) in img.walk_blocks(root, id) {
            assert_eq!(owner, id);
            // DUP metadata: both copies are identical.
            assert_eq!(img.read_mirror(bytenr, 4096, 0).unwrap(), img.read_mirror(bytenr, 4096, 1).unwrap());
            blocks.insert(bytenr, (level, owner));
        }
    }
    assert_eq!(blocks, meta);
    // The uuid tree maps the fs tree's uuid to subvolume 5.
    let r = img.lookup(img.root_tree(), Key::new(objectid::FS_TREE, key_type::ROOT_ITEM, 0)).unwrap();
    let r = Root::parse(&r).unwrap();
    let ext = r.valid_ext().unwrap();
    let u = ext.uuid();
    let key = Key::new(
        u64::from_le_bytes(u[..8].try_into().unwrap()),
        key_type::UUID_KEY_SUBVOL,
        u64::from_le_bytes(u[8..].try_into().unwrap()),
    );
    let v = img.lookup(img.tree(objectid::UUID_TREE).unwrap(), key).unwrap();
    assert_eq!(v, objectid::FS_TREE.to_le_bytes());
    // The default subvolume link in the root tree directory.
    let d = img
        .lookup(img.root_tree(), Key::new(objectid::ROOT_TREE_DIR, key_type::DIR_ITEM, name_hash(b"default").into()))
        .unwrap();
    let e = DirItemIter::new(&d).next().unwrap().unwrap();
    assert_eq!(e.name, b"default");
    assert_eq!(e.head.location(), Key::new(objectid::FS_TREE, key_type::ROOT_ITEM, u64::MAX));
    (data_extents, sums)
}

#[test]
fn mixed_image_reads_back_exactly() {
    let s = common::Scratch::new("trees-mixed");
    let src = make_source(&s.0, 3000, 1);
    let path = mkfs_rootdir(&s.0, &src.root, 512 << 20, &[]);
    let img = Image::open(&path);
    let levels = check_against_dump_tree(&path, &img);
    assert!(levels[&objectid::FS_TREE] >= 1, "fs tree levels {:?}", levels);
    let c = check_against_source(&img, &src);
    assert!(c.files > 3000 && c.dirs >= 10 && c.symlinks == 4, "{} files {} dirs", c.files, c.dirs);
    assert!(c.bytes > 10 << 20);
    assert!(c.packed_refs >= 2, "same_a and same_b share one INODE_REF item");
    let (extents, sums) = check_extents_and_chunks(&img);
    assert!(extents >= 10 && sums > 2500, "{} data extents {} csums", extents, sums);
    eprintln!(
        "mixed: {} files, {} dirs, {} bytes, fs tree level {}, {} data extents, {} csums, {} block reads",
        c.files,
        c.dirs,
        c.bytes,
        levels[&objectid::FS_TREE],
        extents,
        sums,
        img.reads.get()
    );
}

#[test]
fn twenty_five_thousand_files_make_a_level_2_fs_tree() {
    let s = common::Scratch::new("trees-big");
    let root = s.0.join("src");
    for d in 0..25 {
        let dir = root.join(format!("dir{:02}", d));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..1000 {
            std::fs::write(dir.join(format!("file-with-a-longer-name-{:04}", i)), format!("{} {}\n", d, i)).unwrap();
        }
    }
    let path = mkfs_rootdir(&s.0, &root, 1 << 30, &[]);
    let img = Image::open(&path);
    let fs = img.tree(objectid::FS_TREE).unwrap();
    assert!(fs.level >= 2, "fs tree level {}", fs.level);
    check_against_dump_tree(&path, &img);
    // Every file by name, with its inline contents.
    let mut n = 0;
    for d in 0..25 {
        let (dino, _) = lookup_name(&img, fs, 256, format!("dir{:02}", d).as_bytes()).unwrap();
        for i in (0..1000).step_by(7) {
            let (ino, ty) = lookup_name(&img, fs, dino, format!("file-with-a-longer-name-{:04}", i).as_bytes()).unwrap();
            assert_eq!(ty, file_type::REG_FILE);
            let want = format!("{} {}\n", d, i);
            assert_eq!(read_file(&img, fs, ino, want.len() as u64).0, want.as_bytes());
            n += 1;
        }
    }
    assert!(n > 3500);
    eprintln!("25000 files: fs tree level {}, {} block reads", fs.level, img.reads.get());
}

#[test]
fn small_nodes_and_xxhash_read_back_exactly() {
    let s = common::Scratch::new("trees-4k");
    let src = make_source(&s.0, 2500, 2);
    let path = mkfs_rootdir(&s.0, &src.root, 512 << 20, &["-n", "4096", "--csum", "xxhash"]);
    let img = Image::open(&path);
    assert_eq!(img.csum_type, CsumType::Xxhash64);
    let levels = check_against_dump_tree(&path, &img);
    assert!(levels[&objectid::FS_TREE] >= 2, "fs tree levels {:?}", levels);
    assert!(levels[&objectid::EXTENT_TREE] >= 1, "extent tree levels {:?}", levels);
    let c = check_against_source(&img, &src);
    check_extents_and_chunks(&img);
    eprintln!("4k nodes: {} files, levels {:?}", c.files, levels);
}

#[test]
fn quota_items_match_dump_tree() {
    let s = common::Scratch::new("trees-quota");
    let src = s.0.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), vec![7u8; 100_000]).unwrap();
    let path = mkfs_rootdir(&s.0, &src, 256 << 20, &["-R", "quota"]);
    let img = Image::open(&path);
    let q = img.tree(objectid::QUOTA_TREE).expect("quota tree");
    let items = img.items(q).unwrap();
    let dump = common::btrfs(&["inspect-internal", "dump-tree", "-t", "8", path.to_str().unwrap()]);
    let words: Vec<&str> = dump.split_whitespace().collect();
    let after = |w: &str| -> u64 {
        let i = words.iter().position(|x| *x == w).unwrap_or_else(|| panic!("{} not in dump", w));
        words[i + 1].parse().unwrap()
    };
    let mut seen = 0;
    for (key, data) in &items {
        match key.ty {
            key_type::QGROUP_STATUS => {
                let st = QgroupStatusItem::new(data).unwrap();
                assert_eq!(st.version(), 1);
                let i = words.iter().position(|x| *x == "version").unwrap();
                assert_eq!(words[i + 2], "generation");
                assert_eq!(st.generation(), words[i + 3].parse::<u64>().unwrap());
                assert_eq!(rbtrfs_core::items::qgroup_status_enable_gen(data), None, "32-byte status item");
                assert_eq!(st.flags() & 1, 1, "quota ON");
                seen += 1;
            }
            key_type::QGROUP_INFO => {
                assert_eq!(key.offset, objectid::FS_TREE);
                let i = QgroupInfoItem::new(data).unwrap();
                assert_eq!(i.rfer(), after("referenced"));
                assert_eq!(i.excl(), after("exclusive"));
                assert_eq!(i.rfer_cmpr(), after("referenced_compressed"));
                seen += 1;
            }
            key_type::QGROUP_LIMIT => {
                // mkfs 6.2 -R quota --rootdir leaves this item's contents
                // uninitialized; whatever they are, they must match dump-tree.
                let l = QgroupLimitItem::new(data).unwrap();
                let i = words.iter().position(|x| *x == "max_referenced").unwrap();
                assert_eq!(words[i - 2], "flags");
                assert_eq!(l.flags(), u64::from_str_radix(words[i - 1], 16).unwrap());
                assert_eq!(l.max_rfer(), after("max_referenced"));
                assert_eq!(l.max_excl(), after("max_exclusive"));
                assert_eq!(l.rsv_rfer(), after("rsv_referenced"));
                assert_eq!(l.rsv_excl(), after("rsv_exclusive"));
                seen += 1;
            }
            _ => {}
        }
    }
    assert_eq!(seen, 3);
}

/// A copy of a real block of `tree` at `level`, with its bytenr.
fn sample_block(img: &Image, tree: u64, level: u8) -> (u64, Vec<u8>) {
    let root = img.tree(tree).unwrap();
    let (bytenr, ..) =
        img.walk_blocks(root, tree).into_iter().find(|b| b.1 == level && b.2 >= 8).expect("a block at that level");
    (bytenr, img.raw_block(bytenr).unwrap())
}

fn reseal(img: &Image, buf: &mut [u8]) {
    let mut c = [0u8; 32];
    assert!(img.csum_type.compute(&buf[32..], &mut c));
    buf[..32].copy_from_slice(&c);
}

fn set_u32(buf: &mut [u8], off: usize, v: u32) {
    buf[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn set_u64(buf: &mut [u8], off: usize, v: u64) {
    buf[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

fn fixture(tag: &str, extra: &[&str]) -> (common::Scratch, PathBuf, Image) {
    let s = common::Scratch::new(tag);
    let src = make_source(&s.0, 1500, 3);
    let path = mkfs_rootdir(&s.0, &src.root, 256 << 20, extra);
    let img = Image::open(&path);
    (s, path, img)
}

#[test]
fn corrupt_blocks_are_named() {
    let (_s, _path, img) = fixture("trees-corrupt", &[]);
    let (bytenr, leaf) = sample_block(&img, objectid::FS_TREE, 0);
    let gen = TreeBlock::new(&leaf).unwrap().generation();
    let exp = img.expect(bytenr, 0, gen);
    img.check(&leaf, &exp).unwrap();
    let check = |b: &[u8]| img.check(b, &exp).unwrap_err();
    let mutate = |f: &dyn Fn(&mut Vec<u8>), seal: bool| {
        let mut b = leaf.clone();
        f(&mut b);
        if seal {
            reseal(&img, &mut b);
        }
        check(&b)
    };
    let item = |slot: usize| HEADER_SIZE + slot * ITEM_SIZE;

    // Checksum: any byte, without resealing.
    for off in [60usize, 85, 97, 200, 5000, leaf.len() - 1] {
        assert!(matches!(mutate(&|b| b[off] ^= 0x40, false), TreeError::CsumMismatch { .. }), "offset {}", off);
    }
    let e = mutate(&|b| b[3000] ^= 1, false);
    assert!(e.to_string().starts_with(&format!("checksum verify failed on logical {} wanted 0x", bytenr)), "{}", e);
    // Header fields, resealed.
    assert_eq!(mutate(&|b| set_u64(b, 48, bytenr + 4096), true), TreeError::BadBytenr { want: bytenr, have: bytenr + 4096 });
    assert_eq!(mutate(&|b| b[33] ^= 1, true), TreeError::BadFsid { bytenr });
    assert_eq!(mutate(&|b| b[100] = 8, true), TreeError::BadLevel { bytenr, level: 8 });
    assert_eq!(mutate(&|b| b[100] = 1, true), TreeError::LevelMismatch { bytenr, want: 0, have: 1 });
    assert_eq!(mutate(&|b| set_u64(b, 80, gen + 1), true), TreeError::TransidMismatch { bytenr, want: gen, have: gen + 1 });
    assert!(matches!(mutate(&|b| b[56] &= !1, true), TreeError::WrittenNotSet(_)));
    // nritems.
    let max = ((leaf.len() - HEADER_SIZE) / ITEM_SIZE) as u32;
    let e = mutate(&|b| set_u32(b, 96, 100_000), true);
    assert!(matches!(e, TreeError::LeafNritems { nritems: 100_000, max: m, .. } if m == max), "{:?}", e);
    assert!(e.to_string().starts_with(&format!("corrupt leaf: root=5 block={} slot=0, nritems too large", bytenr)));
    let n = TreeBlock::new(&leaf).unwrap().nritems();
    // One item more, whose header is the first item's again (mkfs leaves
    // stale headers past nritems, which may form a valid item).
    let e = mutate(
        &|b| {
            let first = b[item(0)..item(1)].to_vec();
            b[item(n as usize)..item(n as usize + 1)].copy_from_slice(&first);
            set_u32(b, 96, n + 1)
        },
        true,
    );
    assert!(matches!(e, TreeError::ItemEnd { .. } | TreeError::BadKeyOrder { .. }), "{:?}", e);
    let e = mutate(&|b| set_u32(b, 96, 0), true);
    assert!(matches!(e, TreeError::EmptyRoot(at) if at.owner == 5), "{:?}", e);
    assert!(e.to_string().ends_with("invalid root, root 5 must never be empty"), "{}", e);
    // Dropping the last item is still a valid leaf.
    let mut b = leaf.clone();
    set_u32(&mut b, 96, n - 1);
    reseal(&img, &mut b);
    img.check(&b, &exp).unwrap();
    // Key order: swap the keys of items 2 and 3.
    let e = mutate(
        &|b| {
            let k2 = b[item(2)..item(2) + 17].to_vec();
            let k3 = b[item(3)..item(3) + 17].to_vec();
            b[item(2)..item(2) + 17].copy_from_slice(&k3);
            b[item(3)..item(3) + 17].copy_from_slice(&k2);
        },
        true,
    );
    let TreeError::BadKeyOrder { at, prev, cur } = e else { panic!("{:?}", e) };
    assert_eq!(at.slot, 3);
    assert!(prev > cur);
    assert!(e.to_string().contains("bad key order, prev ("), "{}", e);
    // Duplicate key.
    let e = mutate(&|b| {
        let k = b[item(4)..item(4) + 17].to_vec();
        b[item(5)..item(5) + 17].copy_from_slice(&k);
    }, true);
    assert!(matches!(e, TreeError::BadKeyOrder { at, .. } if at.slot == 5));
    // Offsets: a gap between items, data outside the block, data over the heads.
    let off3 = u32::from_le_bytes(leaf[item(3) + 17..item(3) + 21].try_into().unwrap());
    let e = mutate(&|b| set_u32(b, item(3) + 17, off3 - 1), true);
    assert!(matches!(e, TreeError::ItemEnd { at, .. } if at.slot == 3), "{:?}", e);
    let data_size = (leaf.len() - HEADER_SIZE) as u32;
    let e = mutate(&|b| set_u32(b, item(0) + 17, data_size), true);
    assert!(matches!(e, TreeError::ItemEnd { at, .. } if at.slot == 0), "{:?}", e);
    let e = mutate(&|b| {
        // One item whose data claims the whole block: ends right but overlaps the head array.
        set_u32(b, 96, 1);
        set_u32(b, item(0) + 17, 0);
        set_u32(b, item(0) + 21, data_size);
    }, true);
    assert!(matches!(e, TreeError::ItemOverlap { .. }), "{:?}", e);
    // An inode item one byte short (shrunk from the front, so it stays packed).
    let tb = TreeBlock::new(&leaf).unwrap();
    let slot = (0..n as usize).find(|&s| tb.item_head(s).unwrap().key.ty == key_type::INODE_ITEM).unwrap();
    let h = tb.item_head(slot).unwrap();
    let e = mutate(&|b| {
        set_u32(b, item(slot) + 17, h.offset + 1);
        set_u32(b, item(slot) + 21, h.size - 1);
    }, true);
    assert!(matches!(e, TreeError::BadItemSize { have: 159, expect: 160, .. } | TreeError::ItemEnd { .. }), "{:?}", e);
    // A dir item whose name runs past the item.
    let slot = (0..n as usize).find(|&s| tb.item_head(s).unwrap().key.ty == key_type::DIR_INDEX).unwrap();
    let h = tb.item_head(slot).unwrap();
    let e = mutate(&|b| {
        let o = HEADER_SIZE + h.offset as usize + 27;
        b[o..o + 2].copy_from_slice(&200u16.to_le_bytes());
    }, true);
    assert!(matches!(e, TreeError::BadItem { .. }), "{:?}", e);
    assert!(e.to_string().contains("dir item name too short"), "{}", e);

    // Nodes.
    let (nbytenr, node) = sample_block(&img, objectid::FS_TREE, 1);
    let ngen = TreeBlock::new(&node).unwrap().generation();
    let nexp = img.expect(nbytenr, 1, ngen);
    img.check(&node, &nexp).unwrap();
    let nmut = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = node.clone();
        f(&mut b);
        reseal(&img, &mut b);
        img.check(&b, &nexp).unwrap_err()
    };
    let ptr = |slot: usize| HEADER_SIZE + slot * 33;
    let e = nmut(&|b| set_u64(b, ptr(1) + 17, 12345));
    assert!(matches!(e, TreeError::UnalignedBlockptr { ptr: 12345, align: 4096, .. }), "{:?}", e);
    assert!(matches!(nmut(&|b| set_u64(b, ptr(2) + 17, 0)), TreeError::NullBlockptr(at) if at.slot == 2));
    assert!(matches!(nmut(&|b| set_u32(b, 96, 0)), TreeError::NodeNritems { nritems: 0, .. }));
    let e = nmut(&|b| set_u32(b, 96, 10_000));
    assert!(e.to_string().contains("nritems too large, have 10000 expect range [1,493]"), "{}", e);
    let e = nmut(&|b| {
        let k = b[ptr(0)..ptr(0) + 17].to_vec();
        b[ptr(1)..ptr(1) + 17].copy_from_slice(&k);
    });
    assert!(matches!(e, TreeError::BadKeyOrder { at, .. } if at.slot == 1), "{:?}", e);
    // A first key the parent does not promise.
    let mut fexp = exp;
    fexp.first_key = Some(Key::new(1, 2, 3));
    assert!(matches!(img.check(&leaf, &fexp), Err(TreeError::FirstKeyMismatch { .. })));
    // Owner: a leaf of the fs tree read as the extent tree's.
    let mut oexp = exp;
    oexp.owner = Some(objectid::EXTENT_TREE);
    let e = img.check(&leaf, &oexp).unwrap_err();
    assert!(e.to_string().contains("owner mismatch, have 5 expect 2"), "{}", e);
    oexp.owner = Some(300);
    img.check(&leaf, &oexp).unwrap();

    // Searches through a corrupt block fail with the source's error.
    let fs = img.tree(objectid::FS_TREE).unwrap();
    let key = TreeBlock::new(&leaf).unwrap().key(3).unwrap();
    let mut bad = leaf.clone();
    bad[2000] ^= 0xff;
    img.overlay.borrow_mut().insert(bytenr, bad);
    let mut p = Path::new();
    let e = img.search(&mut p, fs, &key).unwrap_err();
    assert!(matches!(e, SearchError::Read(image::ImgErr::Tree(TreeError::CsumMismatch { .. }))), "{:?}", e);
    assert!(p.item().unwrap().is_none(), "an error releases the path");
    // Unverified by the source, a wrong first key is still caught by the path.
    img.verify.set(false);
    let mut bad = leaf.clone();
    bad[item(0)] ^= 1;
    img.overlay.borrow_mut().insert(bytenr, bad);
    let e = img.search(&mut p, fs, &key).unwrap_err();
    assert!(matches!(e, SearchError::Tree(TreeError::FirstKeyMismatch { .. })), "{:?}", e);
    img.overlay.borrow_mut().clear();
    img.verify.set(true);
    assert!(img.search(&mut p, fs, &key).unwrap());
}

/// Runs every item decoder over `data`, whatever its key says; they may
/// fail, but must not panic. Returns how many decoded cleanly.
fn decode_everything(ty: u8, data: &[u8], csum_size: usize) -> usize {
    use rbtrfs_core::items::{InodeExtrefIter, RootRef};
    let mut ok = 0;
    ok += DirItemIter::new(data).take(1000).filter(|e| e.is_ok()).count();
    ok += InodeRefIter::new(data).take(1000).filter(|e| e.is_ok()).count();
    ok += InodeExtrefIter::new(data).take(1000).filter(|e| e.is_ok()).count();
    ok += FileExtent::parse(data).is_ok() as usize;
    for t in [ty, key_type::EXTENT_ITEM, key_type::METADATA_ITEM] {
        if let Ok(e) = Extent::parse(t, data) {
            ok += 1 + e.inline_refs.take(1000).filter(|r| r.is_ok()).count();
        }
    }
    if let Ok(r) = Root::parse(data) {
        ok += 1;
        let _ = (r.inode.size(), r.item.drop_progress(), r.valid_ext().map(|e| e.otime()));
    }
    ok += RootRef::parse(data).is_ok() as usize;
    if let Ok(c) = CsumItem::new(data, csum_size) {
        ok += c.iter().count().min(1);
        let _ = c.get(c.len());
    }
    if let Ok(c) = ChunkItem::parse(data) {
        ok += 1;
        let _ = c.check(0, 4096, false);
        let _ = c.info(4096).map(4096 + (data.len() as u64));
        let _ = c.stripe(usize::MAX / 2);
    }
    ok += InodeItem::new(data).map(|i| i.mtime().nsec).is_some() as usize;
    ok
}

#[test]
fn fuzzed_blocks_never_panic() {
    let (_s, _path, img) = fixture("trees-fuzz", &["-n", "4096"]);
    let mut blocks = Vec::new();
    for (id, root) in all_trees(&img) {
        for (bytenr, level, _, _) in img.walk_blocks(root, id) {
            let buf = img.raw_block(bytenr).unwrap();
            let gen = TreeBlock::new(&buf).unwrap().generation();
            blocks.push((id, root, bytenr, level, gen, buf));
        }
    }
    let fs_keys: Vec<Key> = img.items(img.tree(objectid::FS_TREE).unwrap()).unwrap().into_iter().map(|i| i.0).collect();
    let nodes: Vec<usize> = (0..blocks.len()).filter(|&i| blocks[i].3 > 0).collect();
    let leaves: Vec<usize> = (0..blocks.len()).filter(|&i| blocks[i].3 == 0).collect();
    assert!(nodes.len() >= 2, "{} nodes", nodes.len());
    let csum_size = img.csum_type.size();
    let mut rng = Rng(0x5eed);
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    let (mut searched, mut walked, mut decoded, mut search_errors) = (0usize, 0usize, 0usize, 0usize);
    const ITERATIONS: usize = 4000;
    img.verify.set(false);
    for _ in 0..ITERATIONS {
        // A quarter of the time a node, so node corruption is exercised too.
        let pick = if rng.below(4) == 0 { &nodes } else { &leaves };
        let (_, root, bytenr, level, gen, orig) = &blocks[pick[rng.below(pick.len() as u64) as usize]];
        let mut b = orig.clone();
        let heads = (HEADER_SIZE + 60 * ITEM_SIZE).min(b.len());
        let mut changed_from = usize::MAX;
        for _ in 0..1 + rng.below(4) {
            let region = if rng.below(2) == 0 { heads } else { b.len() };
            let off = rng.below(region as u64) as usize;
            match rng.below(3) {
                0 => b[off] ^= 1 << rng.below(8),
                1 => b[off] = rng.next() as u8,
                _ => b[off] = 0xff,
            }
            if b[off] != orig[off] {
                changed_from = changed_from.min(off);
            }
        }
        let sealed = rng.below(4) != 0;
        if sealed {
            reseal(&img, &mut b);
        }
        // 1. Verification names the problem; without resealing, any change
        // past the checksum is caught (by the checksum, or by the header
        // checks that come first, as in C).
        let r = img.check(&b, &img.expect(*bytenr, *level, *gen));
        if !sealed && changed_from >= 32 && changed_from != usize::MAX {
            assert!(
                matches!(
                    r,
                    Err(TreeError::CsumMismatch { .. }
                        | TreeError::BadFsid { .. }
                        | TreeError::BadBytenr { .. }
                        | TreeError::BadLevel { .. })
                ),
                "{:?}",
                r
            );
        }
        if let Err(e) = &r {
            let name = format!("{:?}", e);
            *errors.entry(name.split([' ', '(', '{']).next().unwrap().to_string()).or_default() += 1;
            assert!(!e.to_string().is_empty());
        }
        // 2. Every accessor on the unverified block.
        if let Ok(tb) = TreeBlock::new(&b) {
            let n = (tb.nritems() as usize).min(1000);
            for slot in 0..n + 2 {
                let _ = (tb.key(slot), tb.key_ptr(slot), tb.item_head(slot));
                if let Ok(item) = tb.item(slot) {
                    decoded += decode_everything(item.key.ty, item.data, csum_size);
                }
            }
            let k = fs_keys[rng.below(fs_keys.len() as u64) as usize];
            let _ = (tb.bin_search(&k), tb.child_slot(&k));
            let _ = rbtrfs_core::ctree::check_leaf(&tb, csum_size);
            let _ = rbtrfs_core::ctree::check_node(&tb, 4096);
        }
        // 3. Searches and walks through it, mostly unverified by the source.
        img.verify.set(rng.below(4) == 0);
        img.overlay.borrow_mut().insert(*bytenr, b);
        // Search for a key of the original block, so the search goes through it.
        let mut p = Path::new();
        let otb = TreeBlock::new(orig).unwrap();
        let k = otb.key(rng.below(otb.nritems() as u64) as usize).unwrap();
        let k = if rng.below(5) == 0 { Key::MIN } else { k };
        match img.search(&mut p, *root, &k) {
            Ok(_) => {
                searched += 1;
                for _ in 0..200 {
                    match p.item() {
                        Ok(Some(i)) => decoded += decode_everything(i.key.ty, i.data, csum_size).min(1),
                        Ok(None) | Err(_) => break,
                    }
                    walked += 1;
                    match p.next_item(&img) {
                        Ok(true) => {}
                        Ok(false) | Err(_) => break,
                    }
                }
                for _ in 0..50 {
                    if !matches!(p.prev_item(&img), Ok(true)) {
                        break;
                    }
                }
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                search_errors += 1;
            }
        }
        img.overlay.borrow_mut().remove(bytenr);
    }
    img.verify.set(true);
    assert!(errors.contains_key("CsumMismatch") && errors.len() >= 6, "{:?}", errors);
    eprintln!(
        "fuzz: {} iterations over {} blocks ({} nodes); errors {:?}; {} searches ok, {} failed, {} items walked, {} decodes",
        ITERATIONS,
        blocks.len(),
        nodes.len(),
        errors,
        searched,
        search_errors,
        walked,
        decoded
    );
}

/// A chunk item: `ty` flags, stripes of (devid, physical).
fn chunk_bytes(length: u64, ty: u64, stripes: &[(u64, u64)], sub_stripes: u16) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&length.to_le_bytes());
    b.extend_from_slice(&2u64.to_le_bytes());
    b.extend_from_slice(&65536u64.to_le_bytes());
    b.extend_from_slice(&ty.to_le_bytes());
    b.extend_from_slice(&65536u32.to_le_bytes());
    b.extend_from_slice(&65536u32.to_le_bytes());
    b.extend_from_slice(&4096u32.to_le_bytes());
    b.extend_from_slice(&(stripes.len() as u16).to_le_bytes());
    b.extend_from_slice(&sub_stripes.to_le_bytes());
    for &(devid, off) in stripes {
        b.extend_from_slice(&devid.to_le_bytes());
        b.extend_from_slice(&off.to_le_bytes());
        b.extend_from_slice(&[0xab; 16]);
    }
    b
}

#[test]
fn chunk_mapping_and_profiles() {
    use rbtrfs_core::volumes::{map_logical, ChunkError, SysChunkIter};
    let g = 1u64 << 30;
    // SINGLE: one copy, contiguous to the end of the chunk.
    let b = chunk_bytes(8 << 20, block_group::DATA, &[(1, 100 << 20)], 1);
    let c = ChunkItem::parse(&b).unwrap();
    c.check(g, 4096, false).unwrap();
    assert_eq!(c.size(), 80);
    let m = map_logical(g, &c, g + 12345).unwrap();
    assert_eq!(m.mirrors().len(), 1);
    assert_eq!((m.mirrors()[0].devid, m.mirrors()[0].physical), (1, (100 << 20) + 12345));
    assert_eq!(m.len, (8 << 20) - 12345);
    assert_eq!(map_logical(g, &c, g + (8 << 20)), Err(ChunkError::OutsideChunk { logical: g + (8 << 20), start: g, length: 8 << 20 }));
    assert!(matches!(map_logical(g, &c, g - 1), Err(ChunkError::OutsideChunk { .. })));
    // DUP: two copies on the same device.
    let b = chunk_bytes(32 << 20, block_group::METADATA | block_group::DUP, &[(1, 50 << 20), (1, 90 << 20)], 1);
    let c = ChunkItem::parse(&b).unwrap();
    c.check(g, 4096, false).unwrap();
    let m = map_logical(g, &c, g + (1 << 20)).unwrap();
    let phys: Vec<(u64, u64)> = m.mirrors().iter().map(|s| (s.devid, s.physical)).collect();
    assert_eq!(phys, [(1, 51 << 20), (1, 91 << 20)]);
    assert_eq!(m.len, 31 << 20);
    // Everything else is refused by name.
    for (flag, name, n) in [
        (block_group::RAID0, "raid0", 2),
        (block_group::RAID1, "raid1", 2),
        (block_group::RAID10, "raid10", 4),
        (block_group::RAID5, "raid5", 3),
        (block_group::RAID6, "raid6", 4),
        (block_group::RAID1C3, "raid1c3", 3),
        (block_group::RAID1C4, "raid1c4", 4),
    ] {
        let stripes: Vec<(u64, u64)> = (0..n).map(|i| (i + 1, 1 << 20)).collect();
        let b = chunk_bytes(8 << 20, block_group::DATA | flag, &stripes, 2);
        let c = ChunkItem::parse(&b).unwrap();
        c.check(g, 4096, false).unwrap();
        assert_eq!(c.stripes().count(), n as usize);
        let e = map_logical(g, &c, g).unwrap_err();
        assert_eq!(e, ChunkError::UnsupportedProfile { logical: g, profile: name });
        assert_eq!(e.to_string(), format!("chunk_start={}, unsupported chunk profile {}", g, name));
    }
    // btrfs_check_chunk_valid's checks.
    let bad = |length: u64, ty: u64, stripes: &[(u64, u64)]| {
        let b = chunk_bytes(length, ty, stripes, 1);
        ChunkItem::parse(&b).unwrap().check(g, 4096, false).unwrap_err()
    };
    assert!(matches!(bad(0, block_group::DATA, &[(1, 0)]), ChunkError::Invalid { what: "length", .. }));
    assert!(matches!(bad(4097, block_group::DATA, &[(1, 0)]), ChunkError::Invalid { what: "length", .. }));
    assert!(matches!(bad(1 << 20, 0, &[(1, 0)]), ChunkError::Invalid { what: "type flag", .. }));
    assert!(matches!(bad(1 << 20, block_group::DATA | block_group::METADATA, &[(1, 0)]), ChunkError::Invalid { .. }));
    assert!(matches!(bad(1 << 20, block_group::DATA, &[(1, 0), (1, 0)]), ChunkError::Invalid { what: "num_stripes", .. }));
    assert!(matches!(bad(1 << 20, block_group::DATA | block_group::DUP, &[(1, 0)]), ChunkError::Invalid { .. }));
    assert!(matches!(bad(1 << 20, block_group::DATA | block_group::RAID0 | block_group::RAID1, &[(1, 0)]), ChunkError::Invalid { what: "profile flag", .. }));
    assert!(matches!(bad(1 << 20, block_group::DATA | (1 << 20), &[(1, 0)]), ChunkError::Invalid { what: "type", .. }));
    let mut b = chunk_bytes(1 << 20, block_group::DATA, &[(1, 0)], 1);
    b[16] = 1; // stripe_len 65537
    assert!(matches!(ChunkItem::parse(&b).unwrap().check(g, 4096, false), Err(ChunkError::Invalid { what: "stripe length", .. })));
    assert!(matches!(ChunkItem::parse(&chunk_bytes(1 << 20, 1, &[(1, 0)], 1)).unwrap().check(g + 512, 4096, false), Err(ChunkError::Invalid { what: "logical", .. })));
    // Truncated and stripe-less items.
    let b = chunk_bytes(1 << 20, block_group::DATA | block_group::DUP, &[(1, 0), (1, 1 << 20)], 1);
    assert_eq!(ChunkItem::parse(&b[..100]).err(), Some(ChunkError::Short { need: 112, have: 100 }));
    assert!(matches!(ChunkItem::parse(&b[..40]), Err(ChunkError::Short { .. })));
    assert_eq!(ChunkItem::parse(&chunk_bytes(1 << 20, 1, &[], 1)).err(), Some(ChunkError::NoStripes));
    assert!(ChunkItem::parse(&b).unwrap().stripe(2).is_none());

    // sys_chunk_array: key + chunk pairs.
    let sys = |ty: u8, chunk: &[u8]| {
        let mut a = Key::new(256, ty, g).to_disk().to_vec();
        a.extend_from_slice(chunk);
        a
    };
    let c1 = chunk_bytes(8 << 20, block_group::SYSTEM | block_group::DUP, &[(1, 1 << 20), (1, 9 << 20)], 1);
    let c2 = chunk_bytes(4 << 20, block_group::SYSTEM, &[(1, 20 << 20)], 1);
    let mut a = sys(key_type::CHUNK_ITEM, &c1);
    a.extend(sys(key_type::CHUNK_ITEM, &c2));
    let got: Vec<_> = SysChunkIter::from_bytes(&a).map(|r| r.unwrap()).map(|(l, c)| (l, c.num_stripes())).collect();
    assert_eq!(got, [(g, 2), (g, 1)]);
    let errs = |a: &[u8]| SysChunkIter::from_bytes(a).filter_map(|r| r.err()).collect::<Vec<_>>();
    assert_eq!(errs(&a[..a.len() - 1]), [ChunkError::ArrayShort { len: 80, offset: a.len() - 80 }]);
    assert_eq!(errs(&a[..10]), [ChunkError::ArrayShort { len: 17, offset: 0 }]);
    assert_eq!(errs(&sys(key_type::DEV_ITEM, &c1)), [ChunkError::ArrayKeyType { ty: key_type::DEV_ITEM, offset: 17 }]);
    assert_eq!(
        errs(&sys(key_type::CHUNK_ITEM, &chunk_bytes(1 << 20, block_group::DATA, &[(1, 0)], 1))),
        [ChunkError::ArrayNotSystem { ty: block_group::DATA, offset: 17 }]
    );
    let mut no_stripes = chunk_bytes(1 << 20, 2, &[], 1);
    no_stripes.extend_from_slice(&[0; 32]);
    assert_eq!(errs(&sys(key_type::CHUNK_ITEM, &no_stripes)), [ChunkError::NoStripes]);
    assert_eq!(block_group::profile_name(block_group::DATA), "single");
    assert_eq!(block_group::profile_name(block_group::DUP | block_group::RAID1), "mixed");
}

#[test]
fn sys_chunk_array_of_real_images_and_its_fuzzing() {
    use rbtrfs_core::format::SuperBlock;
    use rbtrfs_core::volumes::{ChunkError, SysChunkIter};
    let s = common::Scratch::new("trees-sys");
    let path = common::mkfs(&s.0, "img", 256 << 20, &[]);
    let sb = common::read_super(&path);
    let sbv = SuperBlock::new(&sb).unwrap();
    let dump = common::btrfs(&["inspect-internal", "dump-super", "-f", path.to_str().unwrap()]);
    // dump-super prints "item 0 key (FIRST_CHUNK_TREE CHUNK_ITEM 22020096)" and "length 8388608 ...".
    let want: Vec<u64> = dump
        .lines()
        .filter_map(|l| l.trim().strip_prefix("item ").and_then(|r| r.split("CHUNK_ITEM ").nth(1)))
        .map(|r| r.trim_end_matches(')').parse().unwrap())
        .collect();
    let got: Vec<(u64, u64)> = SysChunkIter::new(&sbv).map(|r| r.unwrap()).map(|(l, c)| (l, c.type_flags())).collect();
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), want);
    assert!(got.iter().all(|g| g.1 == block_group::SYSTEM | block_group::DUP));
    // An impossible array size is reported.
    let mut b = sb.clone();
    set_u32(&mut b, 160, 4000);
    assert_eq!(SysChunkIter::new(&SuperBlock::new(&b).unwrap()).collect::<Vec<_>>().len(), 1);
    assert!(matches!(SysChunkIter::new(&SuperBlock::new(&b).unwrap()).next(), Some(Err(ChunkError::ArraySize(4000)))));
    // Byte flips in the array (and its size) never panic and always end.
    let size = sbv.sys_chunk_array_size() as usize;
    let mut rng = Rng(7);
    let mut outcomes = [0usize; 2];
    for _ in 0..3000 {
        let mut b = sb.clone();
        for _ in 0..1 + rng.below(3) {
            let off = 811 + rng.below(size as u64 + 8) as usize;
            b[off] ^= 1 << rng.below(8);
        }
        if rng.below(5) == 0 {
            set_u32(&mut b, 160, rng.below(2100) as u32);
        }
        let sbv = SuperBlock::new(&b).unwrap();
        let mut n = 0;
        for r in SysChunkIter::new(&sbv) {
            n += 1;
            assert!(n < 100);
            match r {
                Ok((l, c)) => {
                    let _ = c.check(l, 4096, false);
                    let info = c.info(l);
                    let _ = info.map(l.wrapping_add(rng.below(1 << 24)));
                    let _ = info.map(u64::MAX);
                    outcomes[0] += 1;
                }
                Err(e) => {
                    let _ = e.to_string();
                    outcomes[1] += 1;
                }
            }
        }
    }
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{:?}", outcomes);
}

#[test]
fn synthetic_items_decode_or_fail_cleanly() {
    use rbtrfs_core::items::{ItemError, InodeExtrefIter, RootRef};
    // Two extended refs packed in one item, then a truncated one.
    let mut b = Vec::new();
    for (parent, index, name) in [(300u64, 5u64, &b"first"[..]), (301, 9, b"second")] {
        b.extend_from_slice(&parent.to_le_bytes());
        b.extend_from_slice(&index.to_le_bytes());
        b.extend_from_slice(&(name.len() as u16).to_le_bytes());
        b.extend_from_slice(name);
    }
    let refs: Vec<_> = InodeExtrefIter::new(&b).map(|r| r.unwrap()).collect();
    assert_eq!((refs[1].parent, refs[1].index, refs[1].name), (301, 9, &b"second"[..]));
    assert_eq!(refs[0].name, b"first");
    let r: Vec<_> = InodeExtrefIter::new(&b[..b.len() - 1]).collect();
    assert_eq!(r.len(), 2);
    assert_eq!(r[1], Err(ItemError::TooShort { what: "inode extref name", need: 6, have: 5 }));
    // Inode refs with a name longer than the item.
    let mut b = 7u64.to_le_bytes().to_vec();
    b.extend_from_slice(&300u16.to_le_bytes());
    b.extend_from_slice(b"abc");
    assert!(matches!(InodeRefIter::new(&b).next(), Some(Err(ItemError::TooShort { .. }))));
    assert_eq!(InodeRefIter::new(&b[..5]).count(), 1);
    // Root refs: exact size only.
    let mut b = 256u64.to_le_bytes().to_vec();
    b.extend_from_slice(&3u64.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(b"snap");
    assert_eq!(RootRef::parse(&b).unwrap(), RootRef { dirid: 256, sequence: 3, name: b"snap" });
    b.push(0);
    assert_eq!(RootRef::parse(&b), Err(ItemError::Trailing { what: "root ref", extra: 1 }));
    assert!(RootRef::parse(&b[..20]).is_err());
    // A non-skinny tree block extent item: tree block info, then refs.
    let mut b = Vec::new();
    b.extend_from_slice(&2u64.to_le_bytes());
    b.extend_from_slice(&9u64.to_le_bytes());
    b.extend_from_slice(&2u64.to_le_bytes()); // TREE_BLOCK
    b.extend_from_slice(&Key::new(256, 1, 0).to_disk());
    b.push(1);
    b.push(key_type::TREE_BLOCK_REF);
    b.extend_from_slice(&5u64.to_le_bytes());
    b.push(key_type::SHARED_BLOCK_REF);
    b.extend_from_slice(&(30u64 << 20).to_le_bytes());
    let e = Extent::parse(key_type::EXTENT_ITEM, &b).unwrap();
    let tbi = e.tree_block.unwrap();
    assert_eq!((tbi.key(), tbi.level()), (Key::new(256, 1, 0), 1));
    let refs: Vec<String> = e.inline_refs.map(|r| match r.unwrap() {
        InlineRef::TreeBlock { root } => format!("tree {}", root),
        InlineRef::SharedBlock { parent } => format!("shared {}", parent),
        _ => "other".into(),
    }).collect();
    assert_eq!(refs, ["tree 5", format!("shared {}", 30u64 << 20).as_str()]);
    // As a METADATA_ITEM there is no tree block info: the same bytes misparse into an error.
    let r: Vec<_> = Extent::parse(key_type::METADATA_ITEM, &b).unwrap().inline_refs.collect();
    assert!(r.iter().any(|r| r.is_err()));
    // A data extent with shared and owner refs, then an unknown ref type.
    let mut b = Vec::new();
    b.extend_from_slice(&3u64.to_le_bytes());
    b.extend_from_slice(&9u64.to_le_bytes());
    b.extend_from_slice(&1u64.to_le_bytes()); // DATA
    b.push(key_type::EXTENT_OWNER_REF);
    b.extend_from_slice(&257u64.to_le_bytes());
    b.push(key_type::SHARED_DATA_REF);
    b.extend_from_slice(&(40u64 << 20).to_le_bytes());
    b.extend_from_slice(&2u32.to_le_bytes());
    b.push(key_type::EXTENT_DATA_REF);
    for v in [5u64, 300, 0] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&1u32.to_le_bytes());
    b.push(99);
    let refs: Vec<_> = Extent::parse(key_type::EXTENT_ITEM, &b).unwrap().inline_refs.collect();
    assert_eq!(refs.len(), 4);
    assert!(matches!(refs[0], Ok(InlineRef::Owner { root: 257 })));
    assert!(matches!(refs[1], Ok(InlineRef::SharedData { parent, count: 2 }) if parent == 40 << 20));
    assert!(matches!(refs[2], Ok(InlineRef::ExtentData(d)) if (d.root(), d.objectid(), d.offset(), d.count()) == (5, 300, 0, 1)));
    assert!(matches!(refs[3], Err(ItemError::BadType { what: "inline ref", value: 99 })));
    // Truncated refs, bad flags, short items.
    let refs: Vec<_> = Extent::parse(key_type::EXTENT_ITEM, &b[..b.len() - 10]).unwrap().inline_refs.collect();
    assert!(matches!(refs.last(), Some(Err(ItemError::TooShort { what: "extent data ref", .. }))));
    let mut bad = b.clone();
    bad[16] = 3;
    assert_eq!(Extent::parse(key_type::EXTENT_ITEM, &bad).err(), Some(ItemError::Invalid("extent flags")));
    assert!(Extent::parse(key_type::METADATA_ITEM, &b).is_err(), "metadata items are tree blocks");
    assert!(Extent::parse(key_type::EXTENT_ITEM, &b[..23]).is_err());
    // File extents: prealloc, bad type, short regular.
    let mut fe = vec![0u8; 53];
    fe[20] = 2;
    fe[45..53].copy_from_slice(&8192u64.to_le_bytes());
    assert!(matches!(FileExtent::parse(&fe).unwrap().body, FileExtentBody::Prealloc(e) if e.num_bytes() == 8192));
    fe[20] = 3;
    assert_eq!(FileExtent::parse(&fe).err(), Some(ItemError::BadType { what: "file extent", value: 3 }));
    fe[20] = 1;
    assert!(FileExtent::parse(&fe[..52]).is_err());
    assert!(FileExtent::parse(&fe[..20]).is_err());
    fe[20] = 0;
    assert!(matches!(FileExtent::parse(&fe[..21]).unwrap().body, FileExtentBody::Inline(d) if d.is_empty()));
    // Checksum items must hold whole checksums.
    assert!(CsumItem::new(&[0u8; 12], 4).unwrap().len() == 3);
    assert!(CsumItem::new(&[0u8; 12], 8).is_err());
    assert!(CsumItem::new(&[0u8; 12], 0).is_err());
    // Dir items: zero-length names and bad types are refused.
    let mut d = Key::new(257, 1, 0).to_disk().to_vec();
    d.extend_from_slice(&1u64.to_le_bytes());
    d.extend_from_slice(&0u16.to_le_bytes());
    d.extend_from_slice(&0u16.to_le_bytes());
    d.push(1);
    assert!(matches!(DirItemIter::new(&d).next(), Some(Err(ItemError::Invalid(_)))));
    d[27] = 1;
    d[29] = 42;
    d.push(b'x');
    assert!(matches!(DirItemIter::new(&d).next(), Some(Err(ItemError::BadType { value: 42, .. }))));
    // Root items: legacy size has no extension.
    let r = Root::parse(&[0u8; 239]).unwrap();
    assert!(r.ext.is_none() && r.valid_ext().is_none());
    assert!(Root::parse(&[0u8; 238]).is_err());
    // Keys order as btrfs does and print like the C code.
    let mut keys = vec![Key::new(2, 1, 0), Key::new(1, 200, 5), Key::new(1, 200, 4), Key::new(1, 1, u64::MAX)];
    keys.sort();
    assert_eq!(keys, [Key::new(1, 1, u64::MAX), Key::new(1, 200, 4), Key::new(1, 200, 5), Key::new(2, 1, 0)]);
    assert_eq!(Key::new(256, 84, 7).to_string(), "(256 84 7)");
    assert_eq!(Key::from_disk(&Key::new(1, 2, 3).to_disk()), Key::new(1, 2, 3));
    assert_eq!(Key::read(&[0u8; 16]), None);
    assert!(objectid::is_fstree(5) && objectid::is_fstree(256) && !objectid::is_fstree(2));
    assert!(!objectid::is_fstree(objectid::DATA_RELOC_TREE) && !objectid::is_fstree((1 << 48) | 5));
    assert_eq!(objectid::EXTENT_CSUM, (-10i64) as u64);
    assert_eq!(key_type::name(key_type::EXTENT_CSUM), Some("EXTENT_CSUM"));
    // A tree block view never panics on short or odd buffers.
    assert!(TreeBlock::new(&[0u8; 100]).is_err());
    let tb = TreeBlock::new(&[0xffu8; 101]).unwrap();
    assert!(matches!(tb.key(0), Err(TreeError::SlotOutOfRange { .. })));
    assert!(tb.bin_search(&Key::MIN).is_err());
    let _ = crc32c(b"");
}
