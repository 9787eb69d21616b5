// SPDX-License-Identifier: GPL-2.0
//! Reflink (`reflink::clone_range`) against a real image: multi-extent
//! files made by mkfs --rootdir and rewritten in pieces, cloned whole, in
//! the middle, unaligned at the source's end, onto the middle of an
//! existing file, within one file, and inline data (copied as an item, or
//! handed back to be written). After each step the files read back equal
//! to the model with good checksums, `nbytes` matches the items, and
//! `btrfs check --check-data-csum` is clean; shared extents carry one
//! reference per item. Then one copy is overwritten (the other keeps its
//! data) and at last every file is truncated, giving all data space back.

mod common;
mod image;
mod rw;

use common::{mkfs, Rng, Scratch};
use image::Image;
use rbtrfs_core::ctree::{key_type, objectid, Key, Path};
use rbtrfs_core::error::EINVAL;
use rbtrfs_core::extent_io::Overlay;
use rbtrfs_core::file_item::{self as fi, DataRun, ExtentKind};
use rbtrfs_core::items_write::RegularExtent;
use rbtrfs_core::mem;
use rbtrfs_core::reflink::{
    clone_range, fiemap, CloneArgs, FiemapExtent, FIEMAP_DATA_INLINE, FIEMAP_LAST, FIEMAP_NOT_ALIGNED, FIEMAP_SHARED,
};
use rbtrfs_core::transaction::{commit, Device, FsState, Trans};
use rbtrfs_core::volumes::block_group as bg_flags;
use rw::{btrfs_check_with, open_rw, FileDev};
use std::collections::BTreeMap;

const ROOT: u64 = objectid::FS_TREE;
const SS: u64 = 4096;

fn write_logical(fs: &FsState, dev: &FileDev, logical: u64, data: &[u8]) {
    let mut done = 0usize;
    while done < data.len() {
        let l = logical + done as u64;
        let m = fs.chunk(l).unwrap().map(l).unwrap();
        let n = (data.len() - done).min(m.len as usize);
        for s in m.mirrors() {
            dev.write_at(s.physical, &data[done..done + n]).unwrap();
        }
        done += n;
    }
}

fn csums_of(fs: &FsState, data: &[u8]) -> Vec<u8> {
    let cs = fs.geo.csum_type.size();
    let mut out = Vec::new();
    for sector in data.chunks(fs.geo.sectorsize as usize) {
        let mut c = [0u8; 32];
        assert!(fs.geo.csum_type.compute(sector, &mut c));
        out.extend_from_slice(&c[..cs]);
    }
    out
}

fn root_dir_files(image: &Image, fs: &FsState) -> BTreeMap<String, u64> {
    let ov = Overlay { dirty: &fs.dirty, src: image };
    let root = fs.root(ROOT).unwrap();
    let mut p = Path::new();
    p.search(&ov, root.bytenr, root.level, root.generation, &Key::new(256, key_type::DIR_INDEX, 0)).unwrap();
    let mut out = BTreeMap::new();
    while let Some(item) = p.item().unwrap() {
        if item.key.objectid != 256 || item.key.ty != key_type::DIR_INDEX {
            break;
        }
        let d = item.data;
        let ino = u64::from_le_bytes(d[0..8].try_into().unwrap());
        let nl = u16::from_le_bytes([d[27], d[28]]) as usize;
        out.insert(String::from_utf8(d[30..30 + nl].to_vec()).unwrap(), ino);
        if !p.next_item(&ov).unwrap() {
            break;
        }
    }
    out
}

/// Reads a whole file through `read_file`, checking every sector's csum.
fn read_back(image: &Image, fs: &FsState, ino: u64) -> Vec<u8> {
    let ov = Overlay { dirty: &fs.dirty, src: image };
    let root = fs.root(ROOT).unwrap();
    let size = fi::read_inode(&ov, &root, ino).unwrap().size as usize;
    let mut buf = vec![0u8; size];
    let mut runs = mem::Vec::new();
    let n = fi::read_file(&ov, &root, ino, 0, &mut buf, &mut runs).unwrap();
    assert_eq!(n, size);
    let ss = fs.geo.sectorsize as usize;
    let cs = fs.geo.csum_type.size();
    let csum_root = fs.root(objectid::CSUM_TREE).unwrap();
    for r in runs.iter() {
        let DataRun { buf_offset, logical, len, .. } = *r;
        let whole = len.div_ceil(ss) * ss;
        let disk = image.read_logical(logical, whole).unwrap();
        buf[buf_offset..buf_offset + len].copy_from_slice(&disk[..len]);
        let mut want = vec![0u8; whole / ss * cs];
        let found = fi::lookup_csums(&ov, &csum_root, ss as u32, cs, logical, &mut want).unwrap();
        assert_eq!(found, whole / ss, "ino {} run {:?}: csums missing", ino, r);
        assert_eq!(csums_of(fs, &disk), want, "ino {} run {:?}: csum mismatch", ino, r);
    }
    buf
}

/// The file's extent items.
fn extents(image: &Image, fs: &FsState, ino: u64) -> Vec<fi::FileExtentInfo> {
    let ov = Overlay { dirty: &fs.dirty, src: image };
    let root = fs.root(ROOT).unwrap();
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(e) = fi::find_extent(&ov, &root, ino, pos).unwrap() {
        pos = e.end().unwrap().max(e.file_offset + 1);
        out.push(e);
    }
    out
}

fn verify(image: &Image, fs: &FsState, files: &BTreeMap<String, (u64, Vec<u8>)>, when: &str) {
    let ov = Overlay { dirty: &fs.dirty, src: image };
    let root = fs.root(ROOT).unwrap();
    for (name, (ino, data)) in files {
        let got = read_back(image, fs, *ino);
        if got != *data {
            let first = got.iter().zip(data.iter()).position(|(a, b)| a != b);
            eprintln!("{}: len got {} want {} first diff {:?}", name, got.len(), data.len(), first);
            for e in extents(image, fs, *ino) {
                eprintln!("  {:?}", e);
            }
        }
        assert!(got == *data, "{}: file {} differs from the model", when, name);
        let nbytes: u64 = extents(image, fs, *ino).iter().map(|e| e.nbytes()).sum();
        assert_eq!(fi::read_inode(&ov, &root, *ino).unwrap().nbytes, nbytes, "{}: nbytes of {}", when, name);
    }
}

/// The extent item's reference count (committed extent tree).
fn extent_refs(image: &Image, fs: &FsState, bytenr: u64) -> u64 {
    let ov = Overlay { dirty: &fs.dirty, src: image };
    let root = fs.root(objectid::EXTENT_TREE).unwrap();
    let mut p = Path::new();
    let key = Key::new(bytenr, key_type::EXTENT_ITEM, 0);
    p.search(&ov, root.bytenr, root.level, root.generation, &key).unwrap();
    let item = p.item().unwrap().unwrap();
    assert_eq!((item.key.objectid, item.key.ty), (bytenr, key_type::EXTENT_ITEM), "no extent item at {}", bytenr);
    u64::from_le_bytes(item.data[0..8].try_into().unwrap())
}

fn fiemap_of(image: &Image, fs: &FsState, ino: u64) -> Vec<FiemapExtent> {
    let mut out = Vec::new();
    fiemap(fs, image, ROOT, ino, 0, u64::MAX, |r| {
        out.push(r);
        Ok(false)
    })
    .unwrap();
    out
}

fn data_used(fs: &FsState) -> u64 {
    fs.bgs.iter().filter(|g| g.flags & bg_flags::DATA != 0).map(|g| g.used).sum()
}

/// COW-writes `bytes` (sector aligned) at `at` of `ino` as a new extent.
fn cow_write(t: &mut Trans<'_, Image>, dev: &FileDev, ino: u64, at: u64, bytes: &[u8]) {
    let len = bytes.len() as u64;
    let bytenr = t.alloc_data(len, 0).unwrap();
    write_logical(t.fs, dev, bytenr, bytes);
    let sums = csums_of(t.fs, bytes);
    fi::insert_csums(t, bytenr, &sums).unwrap();
    let e = RegularExtent {
        disk_bytenr: bytenr,
        disk_num_bytes: len,
        offset: 0,
        num_bytes: len,
        ram_bytes: len,
        ..Default::default()
    };
    fi::insert_file_extent(t, ROOT, ino, at, &e, true).unwrap();
}

fn size_of(t: &Trans<'_, Image>, ino: u64) -> u64 {
    fi::read_inode_trans(t, ROOT, ino).unwrap().size
}

/// Clones in the core and in the model.
fn clone(
    t: &mut Trans<'_, Image>,
    dev: &FileDev,
    files: &mut BTreeMap<String, (u64, Vec<u8>)>,
    src: &str,
    src_off: u64,
    len: u64,
    dst: &str,
    dst_off: u64,
) {
    let (si, sdata) = files[src].clone();
    let di = files[dst].0;
    let aligned_len = len.div_ceil(SS) * SS;
    assert!(len % SS == 0 || src_off + len == sdata.len() as u64);
    let a = CloneArgs {
        src_root: ROOT,
        src_ino: si,
        src_off,
        dst_root: ROOT,
        dst_ino: di,
        dst_off,
        len,
        aligned_len,
        dst_size: size_of(t, di),
    };
    let inline = clone_range(t, &a).unwrap();
    if let Some(ic) = inline {
        // The caller's part: the inline data as a sector of its own.
        assert_eq!(ic.compression, 0);
        let mut sector = vec![0u8; SS as usize];
        sector[..ic.ram_bytes as usize].copy_from_slice(&ic.data[..ic.ram_bytes as usize]);
        cow_write(t, dev, di, ic.dst_offset, &sector);
    }
    let d = &mut files.get_mut(dst).unwrap().1;
    let end = (dst_off + len) as usize;
    if d.len() < end {
        d.resize(end, 0);
    }
    d[dst_off as usize..end].copy_from_slice(&sdata[src_off as usize..(src_off + len) as usize]);
}

fn commit_and_check(fs: &mut FsState, image: &Image, dev: &FileDev, img: &std::path::Path) {
    commit(fs, image, dev).unwrap();
    btrfs_check_with(img, &["--check-data-csum"]);
}

#[test]
fn reflink_ranges_share_extents() {
    let dir = Scratch::new("reflink");
    let rootdir = dir.0.join("root");
    std::fs::create_dir_all(&rootdir).unwrap();
    let mut rng = Rng(0x5eed_c10e);
    let mut contents = BTreeMap::new();
    for (name, size) in [
        ("a", 3usize << 20),
        ("b", 2_000_000),
        ("small", 100),
        ("dst", 1 << 20),
        ("e1", 0),
        ("e2", 0),
        ("e3", 0),
        ("e4", 0),
        ("e5", 0),
    ] {
        let data = rng.bytes(size);
        std::fs::write(rootdir.join(name), &data).unwrap();
        contents.insert(name.to_string(), data);
    }
    let img = mkfs(&dir.0, "r.img", 256 << 20, &["--rootdir", rootdir.to_str().unwrap()]);
    let (image, mut fs, dev) = open_rw(&img);
    let names = root_dir_files(&image, &fs);
    let mut files: BTreeMap<String, (u64, Vec<u8>)> =
        contents.into_iter().map(|(n, d)| (n.clone(), (names[&n], d))).collect();
    verify(&image, &fs, &files, "after mkfs");

    // Make `a` and `b` multi-extent: rewrites in pieces and a hole.
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        for (name, at, len) in [("a", 64 << 10, 128 << 10), ("a", 1 << 20, 300 << 10), ("a", 2 << 20, 64 << 10), ("b", 4096, 8192)] {
            let bytes = rng.bytes(len);
            let ino = files[name].0;
            cow_write(&mut t, &dev, ino, at, &bytes);
            files.get_mut(name).unwrap().1[at as usize..at as usize + len].copy_from_slice(&bytes);
        }
        let a = files["a"].0;
        fi::punch_hole(&mut t, ROOT, a, 1600 << 10, 200 << 10).unwrap();
        files.get_mut("a").unwrap().1[1600 << 10..1800 << 10].fill(0);
    }
    commit_and_check(&mut fs, &image, &dev, &img);
    verify(&image, &fs, &files, "after rewrites");
    assert!(extents(&image, &fs, files["a"].0).len() >= 6, "a has many extents");
    let used_before = data_used(&fs);

    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        // Whole file.
        clone(&mut t, &dev, &mut files, "a", 0, 3 << 20, "e1", 0);
        // A middle range, past the (empty) destination's end.
        clone(&mut t, &dev, &mut files, "a", 256 << 10, 1 << 20, "e2", 64 << 10);
        // Unaligned at the source's end.
        clone(&mut t, &dev, &mut files, "b", 1 << 20, 2_000_000 - (1 << 20), "e3", 0);
        // Onto the middle of an existing file, across a hole of the source.
        clone(&mut t, &dev, &mut files, "a", 1500 << 10, 512 << 10, "dst", 256 << 10);
        // Inline data: as an item at offset 0, as data elsewhere.
        clone(&mut t, &dev, &mut files, "small", 0, 100, "e4", 0);
        clone(&mut t, &dev, &mut files, "small", 0, 100, "e5", 8192);
        // Within one file, past its end.
        clone(&mut t, &dev, &mut files, "a", 0, 64 << 10, "a", 3 << 20);
        // Within one file, both ranges inside one extent.
        clone(&mut t, &dev, &mut files, "b", 16 << 10, 64 << 10, "b", 1200 << 10);
        // Overlapping ranges of one file, unaligned offsets: EINVAL.
        let a = files["a"].0;
        let size = size_of(&t, a);
        let bad = |src_off, dst_off, len, aligned_len| CloneArgs {
            src_root: ROOT,
            src_ino: a,
            src_off,
            dst_root: ROOT,
            dst_ino: a,
            dst_off,
            len,
            aligned_len,
            dst_size: size,
        };
        assert_eq!(clone_range(&mut t, &bad(0, 4096, 8192, 8192)).unwrap_err(), EINVAL);
        assert_eq!(clone_range(&mut t, &bad(0, 100, 4096, 4096)).unwrap_err(), EINVAL);
        assert_eq!(clone_range(&mut t, &bad(0, 1 << 30, 100, 100)).unwrap_err(), EINVAL);
    }
    let e4 = extents(&image, &fs, files["e4"].0);
    verify(&image, &fs, &files, "after clones, before commit");
    commit_and_check(&mut fs, &image, &dev, &img);
    verify(&image, &fs, &files, "after clones");
    assert!(matches!(e4[..], [fi::FileExtentInfo { file_offset: 0, kind: ExtentKind::Inline { ram_bytes: 100, .. } }]));
    // Only the inline copy at 8192 took data space.
    assert_eq!(data_used(&fs), used_before + SS);

    // Every extent item of e1 is shared with a: references count items.
    let mut refs_by_extent = BTreeMap::<u64, u64>::new();
    for name in files.keys() {
        for e in extents(&image, &fs, files[name].0) {
            if let ExtentKind::Regular(re) = e.kind {
                if re.disk_bytenr != 0 {
                    *refs_by_extent.entry(re.disk_bytenr).or_default() += 1;
                }
            }
        }
    }
    for e in extents(&image, &fs, files["e1"].0) {
        let ExtentKind::Regular(re) = e.kind else { panic!("e1 inline") };
        assert!(refs_by_extent[&re.disk_bytenr] >= 2);
    }
    for (bytenr, n) in &refs_by_extent {
        assert_eq!(extent_refs(&image, &fs, *bytenr), *n, "references of extent {}", bytenr);
    }

    // FIEMAP: every extent of e1 is shared (with a), the last is LAST;
    // the inline copy is one inline record.
    let recs = fiemap_of(&image, &fs, files["e1"].0);
    assert!(recs.len() >= 6);
    assert!(recs.iter().all(|r| r.flags & FIEMAP_SHARED != 0), "{:?}", recs);
    assert_eq!(recs.iter().filter(|r| r.flags & FIEMAP_LAST != 0).count(), 1);
    assert!(recs.last().unwrap().flags & FIEMAP_LAST != 0);
    // dst's own extent, split in two by the clone into its middle (one
    // backref identity), is not shared; the cloned range is.
    let recs = fiemap_of(&image, &fs, files["dst"].0);
    let at = |l: u64| recs.iter().find(|r| r.logical == l).unwrap_or_else(|| panic!("no record at {}: {:?}", l, recs));
    assert_eq!(at(0).flags & FIEMAP_SHARED, 0, "{:?}", recs);
    assert_eq!(at(768 << 10).flags & FIEMAP_SHARED, 0, "{:?}", recs);
    assert_ne!(at(256 << 10).flags & FIEMAP_SHARED, 0, "{:?}", recs);
    assert_eq!(
        fiemap_of(&image, &fs, files["e4"].0),
        [FiemapExtent { logical: 0, physical: 0, len: SS, flags: FIEMAP_DATA_INLINE | FIEMAP_NOT_ALIGNED | FIEMAP_LAST }]
    );

    // Overwrite one copy: the other keeps its data.
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        let bytes = rng.bytes(256 << 10);
        let e1 = files["e1"].0;
        cow_write(&mut t, &dev, e1, 0, &bytes);
        files.get_mut("e1").unwrap().1[..256 << 10].copy_from_slice(&bytes);
    }
    commit_and_check(&mut fs, &image, &dev, &img);
    verify(&image, &fs, &files, "after overwriting e1");

    // Delete everything: all data space comes back.
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        for (ino, _) in files.values() {
            fi::truncate(&mut t, ROOT, *ino, 0).unwrap();
        }
        for f in files.values_mut() {
            f.1.clear();
        }
    }
    commit_and_check(&mut fs, &image, &dev, &img);
    verify(&image, &fs, &files, "after truncating all");
    assert_eq!(data_used(&fs), 0);
}
