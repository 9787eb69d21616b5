// SPDX-License-Identifier: GPL-2.0
//! File data items against real images: random writes, overwrites,
//! truncates, hole punches, preallocation and writes into it, over many
//! transactions on an mkfs --rootdir image, with an in-memory model of
//! every file. After every commit the files read back (through
//! `file_item::read_file` and the data runs it returns) must equal the
//! model, with every data sector matching its checksum; after every round
//! `btrfs check --readonly --check-data-csum` must find the image clean
//! (extent backrefs, nbytes, file extent layout, checksums of all data).

mod common;
mod image;
mod rw;

use rw::{btrfs_check_with, open_rw, FileDev};

use common::{mkfs, Scratch};
use image::Image;
use rbtrfs_core::ctree::{key_type, objectid, Key, Path};
use rbtrfs_core::error::{EINVAL, EOPNOTSUPP};
use rbtrfs_core::extent_io::Overlay;
use rbtrfs_core::file_item::{self as fi, DataRun, ExtentKind};
use rbtrfs_core::compression::{self as comp, DecompressError, Decompressors};
use rbtrfs_core::ctree_write::insert_item;
use rbtrfs_core::items::compression;
use rbtrfs_core::items_write::{encode_inline_extent, inline_extent_size, RegularExtent};
use rbtrfs_core::mem;
use rbtrfs_core::transaction::{commit, Device, FsState, Trans};
use std::collections::BTreeMap;
use std::path::Path as FsPath;

const ROOT: u64 = objectid::FS_TREE;



struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let seed = self.next();
        (0..n).map(|i| (seed >> ((i % 8) * 8)) as u8 ^ (i / 8) as u8).collect()
    }
}

/// Writes `data` at `logical` on every copy.
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
    let ss = fs.geo.sectorsize as usize;
    let cs = fs.geo.csum_type.size();
    let mut out = Vec::new();
    for sector in data.chunks(ss) {
        let mut c = [0u8; 32];
        assert!(fs.geo.csum_type.compute(sector, &mut c));
        out.extend_from_slice(&c[..cs]);
    }
    out
}

/// The test's knowledge of one file.
struct Model {
    name: String,
    ino: u64,
    data: Vec<u8>,
}

/// Every regular file of the root directory: name -> inode number.
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

/// Reads a whole file through `read_file` and the device, checking every
/// on-disk sector against its checksum.
fn read_back(image: &Image, fs: &FsState, ino: u64) -> Vec<u8> {
    let ov = Overlay { dirty: &fs.dirty, src: image };
    let root = fs.root(ROOT).unwrap();
    let size = fi::read_inode(&ov, &root, ino).unwrap().size as usize;
    let mut buf = vec![0u8; size + 100];
    let mut runs = mem::Vec::new();
    let n = fi::read_file(&ov, &root, ino, 0, &mut buf, &mut runs).unwrap();
    assert_eq!(n, size);
    buf.truncate(n);
    let ss = fs.geo.sectorsize as usize;
    let cs = fs.geo.csum_type.size();
    let csum_root = fs.root(objectid::CSUM_TREE).unwrap();
    for r in runs.iter() {
        let DataRun { buf_offset, logical, len, .. } = *r;
        assert_eq!(logical % ss as u64, 0, "runs of a whole-file read start on sectors");
        let whole = len.div_ceil(ss) * ss;
        let disk = image.read_logical(logical, whole).unwrap();
        buf[buf_offset..buf_offset + len].copy_from_slice(&disk[..len]);
        let mut want = vec![0u8; whole / ss * cs];
        let found = fi::lookup_csums(&ov, &csum_root, ss as u32, cs, logical, &mut want).unwrap();
        assert_eq!(found, whole / ss, "ino {} run {:?}: csums missing", ino, r);
        assert_eq!(csums_of(fs, &disk), want, "ino {} run {:?}: csum mismatch", ino, r);
    }
    // A read from the middle agrees.
    if size > 10 {
        let off = size / 3;
        let mut part = vec![0u8; size / 2];
        let m = fi::read_file(&ov, &root, ino, off as u64, &mut part, &mut runs).unwrap();
        for r in runs.iter() {
            let d = image.read_logical(r.logical, r.len).unwrap();
            part[r.buf_offset..r.buf_offset + r.len].copy_from_slice(&d);
        }
        assert_eq!(&part[..m], &buf[off..off + m], "ino {}: partial read", ino);
    }
    buf
}

fn nbytes_of_tree(image: &Image, fs: &FsState, ino: u64) -> u64 {
    let ov = Overlay { dirty: &fs.dirty, src: image };
    let root = fs.root(ROOT).unwrap();
    let mut p = Path::new();
    p.search(&ov, root.bytenr, root.level, root.generation, &Key::new(ino, key_type::EXTENT_DATA, 0)).unwrap();
    let mut n = 0;
    while let Some(item) = p.item().unwrap() {
        if item.key.objectid != ino || item.key.ty != key_type::EXTENT_DATA {
            break;
        }
        n += fi::FileExtentInfo::decode(item.key.offset, item.data).unwrap().nbytes();
        if !p.next_item(&ov).unwrap() {
            break;
        }
    }
    n
}

fn verify(image: &Image, fs: &FsState, files: &[Model], when: &str) {
    let ov = Overlay { dirty: &fs.dirty, src: image };
    let root = fs.root(ROOT).unwrap();
    for f in files {
        let got = read_back(image, fs, f.ino);
        if got != f.data {
            let first = got.iter().zip(f.data.iter()).position(|(a, b)| a != b);
            let last = got.iter().zip(f.data.iter()).rposition(|(a, b)| a != b);
            eprintln!("len got {} want {} first diff {:?} last {:?}", got.len(), f.data.len(), first, last);
            let mut pos = 0;
            while let Some(e) = fi::find_extent(&ov, &root, f.ino, pos).unwrap() {
                eprintln!("  {:?}", e);
                pos = e.end().unwrap().max(pos + 1);
            }
        }
        assert!(
            got == f.data,
            "{}: file {} (ino {}, {} bytes) differs from the model",
            when,
            f.name,
            f.ino,
            f.data.len()
        );
        let inode = fi::read_inode(&ov, &root, f.ino).unwrap();
        assert_eq!(inode.nbytes, nbytes_of_tree(image, fs, f.ino), "{}: nbytes of {}", when, f.name);
    }
}

/// The file operations, as a write path above the core would do them.
struct Ops<'a> {
    dev: &'a FileDev,
    hint: u64,
}

impl Ops<'_> {
    fn ss(t: &Trans<'_, Image>) -> u64 {
        u64::from(t.fs.geo.sectorsize)
    }

    /// COW-writes the model's bytes of `[a, b)` (sector aligned; zeroes
    /// past the end of the file) to a new extent.
    fn cow_sectors(&mut self, t: &mut Trans<'_, Image>, f: &Model, a: u64, b: u64) {
        let len = b - a;
        let mut bytes = vec![0u8; len as usize];
        let have = (f.data.len() as u64).clamp(a, b);
        bytes[..(have - a) as usize].copy_from_slice(&f.data[a as usize..have as usize]);
        let bytenr = t.alloc_data(len, self.hint).unwrap();
        self.hint = bytenr + len;
        write_logical(t.fs, self.dev, bytenr, &bytes);
        let sums = csums_of(t.fs, &bytes);
        fi::insert_csums(t, bytenr, &sums).unwrap();
        let e = RegularExtent {
            disk_bytenr: bytenr,
            disk_num_bytes: len,
            offset: 0,
            num_bytes: len,
            ram_bytes: len,
            ..Default::default()
        };
        fi::insert_file_extent(t, ROOT, f.ino, a, &e, true).unwrap();
    }

    /// Writes into the prealloc extent covering `[a, b)` in place, making
    /// that part regular (C: a NOCOW write and `btrfs_mark_extent_written`).
    fn write_prealloc(&mut self, t: &mut Trans<'_, Image>, f: &Model, a: u64, b: u64, pre: (u64, RegularExtent)) {
        let (off, re) = pre;
        let mut bytes = vec![0u8; (b - a) as usize];
        let have = (f.data.len() as u64).clamp(a, b);
        bytes[..(have - a) as usize].copy_from_slice(&f.data[a as usize..have as usize]);
        let logical = re.disk_bytenr + re.offset + (a - off);
        write_logical(t.fs, self.dev, logical, &bytes);
        fi::insert_csums(t, logical, &csums_of(t.fs, &bytes)).unwrap();
        let e = RegularExtent { offset: re.offset + (a - off), num_bytes: b - a, prealloc: false, ..re };
        fi::insert_file_extent(t, ROOT, f.ino, a, &e, false).unwrap();
    }

    fn inline_at_0(t: &Trans<'_, Image>, ino: u64) -> bool {
        matches!(
            fi::find_extent_trans(t, ROOT, ino, 0).unwrap(),
            Some(fi::FileExtentInfo { file_offset: 0, kind: ExtentKind::Inline { .. } })
        )
    }

    fn write(&mut self, t: &mut Trans<'_, Image>, f: &mut Model, off: u64, data: &[u8]) {
        let ss = Self::ss(t);
        let end = off + data.len() as u64;
        if f.data.len() < end as usize {
            f.data.resize(end as usize, 0);
        }
        f.data[off as usize..end as usize].copy_from_slice(data);
        let size = f.data.len() as u64;
        let max_inline = fi::max_inline_size(t.fs.geo.nodesize, t.fs.geo.sectorsize, fi::DEFAULT_MAX_INLINE) as u64;
        let inline = Self::inline_at_0(t, f.ino);
        if off < ss && size <= max_inline && (inline || fi::find_extent_trans(t, ROOT, f.ino, 0).unwrap().is_none()) {
            fi::insert_inline_extent(t, ROOT, f.ino, &f.data).unwrap();
        } else {
            let mut a = off / ss * ss;
            let b = end.div_ceil(ss) * ss;
            if inline && a < ss {
                a = 0;
            }
            // Inside one prealloc extent: written in place.
            let pre = match fi::find_extent_trans(t, ROOT, f.ino, a).unwrap() {
                Some(fi::FileExtentInfo { file_offset, kind: ExtentKind::Regular(re) })
                    if re.prealloc && file_offset <= a && file_offset + re.num_bytes >= b =>
                {
                    Some((file_offset, re))
                }
                _ => None,
            };
            match pre {
                Some(p) => self.write_prealloc(t, f, a, b, p),
                None => self.cow_sectors(t, f, a, b),
            }
        }
        fi::update_inode(t, ROOT, f.ino, |i| {
            i.size = i.size.max(size);
            Ok(())
        })
        .unwrap();
    }

    /// Zeroes the partial sector at `pos` on disk if a data extent covers
    /// it (C: `btrfs_truncate_block`), from the model (already zeroed).
    fn zero_partial(&mut self, t: &mut Trans<'_, Image>, f: &Model, pos: u64) {
        let ss = Self::ss(t);
        if pos % ss == 0 {
            return;
        }
        let a = pos / ss * ss;
        if let Some(fi::FileExtentInfo { file_offset, kind: ExtentKind::Regular(re) }) =
            fi::find_extent_trans(t, ROOT, f.ino, a).unwrap()
        {
            if file_offset <= a && re.disk_bytenr != 0 && !re.prealloc {
                self.cow_sectors(t, f, a, a + ss);
            }
        }
    }

    fn truncate(&mut self, t: &mut Trans<'_, Image>, f: &mut Model, new_size: u64) {
        if (new_size as usize) < f.data.len() {
            f.data.truncate(new_size as usize);
            self.zero_partial(t, f, new_size);
        } else {
            f.data.resize(new_size as usize, 0);
        }
        fi::truncate(t, ROOT, f.ino, new_size).unwrap();
    }

    fn punch(&mut self, t: &mut Trans<'_, Image>, f: &mut Model, start: u64, len: u64) {
        let size = f.data.len() as u64;
        let end = (start + len).min(size);
        if start < end {
            f.data[start as usize..end as usize].fill(0);
        }
        // Partial sectors of regular extents (not inline data) at the edges.
        let ss = Self::ss(t);
        if start < size {
            self.zero_partial(t, f, start);
        }
        let tail = (start + len) / ss * ss;
        if tail < size && tail / ss != start / ss {
            self.zero_partial(t, f, start + len);
        }
        fi::punch_hole(t, ROOT, f.ino, start, len).unwrap();
    }

    /// Preallocates `[a, b)` if it is a hole (C: fallocate), growing the
    /// file unless `keep_size`.
    fn fallocate(&mut self, t: &mut Trans<'_, Image>, f: &mut Model, a: u64, b: u64, keep_size: bool) -> bool {
        let ss = Self::ss(t);
        if a < ss && Self::inline_at_0(t, f.ino) {
            return false;
        }
        if let Some(e) = fi::find_extent_trans(t, ROOT, f.ino, a).unwrap() {
            if e.file_offset < b {
                return false;
            }
        }
        let len = b - a;
        let bytenr = t.alloc_data(len, self.hint).unwrap();
        self.hint = bytenr + len;
        let e = RegularExtent {
            disk_bytenr: bytenr,
            disk_num_bytes: len,
            offset: 0,
            num_bytes: len,
            ram_bytes: len,
            prealloc: true,
            ..Default::default()
        };
        fi::insert_file_extent(t, ROOT, f.ino, a, &e, true).unwrap();
        if !keep_size && b > f.data.len() as u64 {
            // The old partial last sector is zero past the size already.
            f.data.resize(b as usize, 0);
            fi::update_inode(t, ROOT, f.ino, |i| {
                i.size = b;
                Ok(())
            })
            .unwrap();
        }
        true
    }
}


fn commit_files(fs: &mut FsState, image: &Image, dev: &FileDev) {
    commit(fs, image, dev).unwrap();
}

fn make_rootdir(dir: &FsPath) -> BTreeMap<String, Vec<u8>> {
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let mut rng = Rng(0xf11e);
    let mut files = BTreeMap::new();
    for (name, size) in [
        ("empty", 0usize),
        ("small", 100),
        ("two", 2000),
        ("five", 5000),
        ("mid", 70_000),
        ("big3", 3_000_000),
        ("big5", 5_123_456),
        ("filler", 40 << 20),
    ] {
        let data = rng.bytes(size);
        std::fs::write(root.join(name), &data).unwrap();
        files.insert(name.to_string(), data);
    }
    files
}

fn load_models(image: &Image, fs: &FsState, contents: &BTreeMap<String, Vec<u8>>) -> Vec<Model> {
    let names = root_dir_files(image, fs);
    contents.iter().map(|(n, d)| Model { name: n.clone(), ino: names[n], data: d.clone() }).collect()
}

/// Many transactions of random file operations on an mkfs --rootdir image:
/// every commit reads back equal to the model with good checksums, every
/// round `btrfs check --check-data-csum` is clean.
#[test]
fn random_file_ops_check_clean() {
    let seed = std::env::var("FI_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_f11e);
    random_file_ops("file-item", seed, &[]);
}

/// The same with 4 KiB tree blocks (more leaves, splits and merges, smaller
/// checksum items) and xxhash64 checksums.
#[test]
fn random_file_ops_small_nodes_xxhash() {
    random_file_ops("file-item-small", 0xbad_c0ffee, &["--nodesize", "4096", "--csum", "xxhash"]);
}

fn random_file_ops(tag: &str, seed: u64, mkfs_args: &[&str]) {
    let dir = Scratch::new(tag);
    let contents = make_rootdir(&dir.0);
    let root = dir.0.join("root");
    let mut args = vec!["--rootdir", root.to_str().unwrap()];
    args.extend_from_slice(mkfs_args);
    let img = mkfs(&dir.0, "f.img", 512 << 20, &args);
    btrfs_check_with(&img, &["--check-data-csum"]);
    let mut files = {
        let (image, fs, _dev) = open_rw(&img);
        let files = load_models(&image, &fs, &contents);
        verify(&image, &fs, &files, "after mkfs");
        files
    };
    let mut rng = Rng(seed);
    let mut stats = BTreeMap::<&str, u32>::new();
    let debug = std::env::var_os("FI_DEBUG").is_some();
    for round in 0..8 {
        let (image, mut fs, dev) = open_rw(&img);
        let mut ops = Ops { dev: &dev, hint: 0 };
        for c in 0..4 {
            {
                let mut t = Trans::new(&mut fs, &image).unwrap();
                if round == 0 && c == 0 {
                    // Frees the filler's 40 MiB (after this commit).
                    let f = files.iter_mut().find(|f| f.name == "filler").unwrap();
                    ops.truncate(&mut t, f, 12345);
                }
                for k in 0..40 {
                    if debug {
                        drop(t);
                        verify(&image, &fs, &files, &format!("round {} commit {} op {}", round, c, k));
                        t = Trans::new(&mut fs, &image).unwrap();
                    }
                    let i = rng.below(files.len() as u64) as usize;
                    let f = &mut files[i];
                    let size = f.data.len() as u64;
                    let ss = 4096u64;
                    let op = rng.below(100);
                    if op < 40 {
                        // Write: mostly small, sometimes big, sometimes past the end.
                        let len = match rng.below(10) {
                            0 => 1 + rng.below(1 << 20),
                            1..=4 => 1 + rng.below(3000),
                            _ => 1 + rng.below(64 << 10),
                        };
                        let off = rng.below(size + (size / 4) + 8192);
                        let data = rng.bytes(len as usize);
                        if debug {
                            eprintln!("write {} off {} len {} size {}", f.name, off, len, size);
                        }
                        ops.write(&mut t, f, off, &data);
                        *stats.entry("write").or_default() += 1;
                    } else if op < 55 {
                        let new = match rng.below(8) {
                            0 => 0,
                            4..=6 => size - rng.below(size / 8 + 1),
                            1 => rng.below(size + 1),
                            2 => rng.below(size / 4 + 1) * 3,
                            _ => size + rng.below(20_000),
                        };
                        if debug {
                            eprintln!("truncate {} {} -> {}", f.name, size, new);
                        }
                        ops.truncate(&mut t, f, new);
                        *stats.entry("truncate").or_default() += 1;
                    } else if op < 75 {
                        let (start, len) = if rng.below(3) == 0 {
                            (rng.below(size + 1), 1 + rng.below(10_000))
                        } else {
                            (rng.below(size / ss + 1) * ss, (1 + rng.below(64)) * ss)
                        };
                        if debug {
                            eprintln!("punch {} {} +{} size {}", f.name, start, len, size);
                        }
                        ops.punch(&mut t, f, start, len);
                        *stats.entry("punch").or_default() += 1;
                    } else if op < 85 {
                        // Mostly past the end of the file, where holes are.
                        let a = if rng.below(4) == 0 {
                            rng.below(size / ss + 4) * ss
                        } else {
                            (size.div_ceil(ss) + rng.below(8)) * ss
                        };
                        let b = a + (1 + rng.below(64)) * ss;
                        let keep = rng.below(2) == 0;
                        if debug {
                            eprintln!("fallocate {} [{}, {}) keep {} size {}", f.name, a, b, keep, size);
                        }
                        if ops.fallocate(&mut t, f, a, b, keep) {
                            *stats.entry("fallocate").or_default() += 1;
                        }
                    } else {
                        // A write into preallocated space, if there is some.
                        let mut pre = Vec::new();
                        let mut pos = 0;
                        while let Some(e) = fi::find_extent_trans(&t, ROOT, f.ino, pos).unwrap() {
                            if let ExtentKind::Regular(re) = e.kind {
                                if re.prealloc {
                                    pre.push((e.file_offset, re));
                                }
                            }
                            pos = e.end().unwrap().max(pos + 1);
                        }
                        if !pre.is_empty() {
                            let (file_offset, re) = pre[rng.below(pre.len() as u64) as usize];
                            let a = file_offset + rng.below(re.num_bytes / ss) * ss;
                            {
                                let start = file_offset.max(a);
                                let end = file_offset + re.num_bytes;
                                let off = start + rng.below(end - start);
                                let len = 1 + rng.below(end - off);
                                let data = rng.bytes(len as usize);
                                if debug {
                                    eprintln!("prealloc write {} off {} len {} size {}", f.name, off, len, size);
                                }
                                ops.write(&mut t, f, off, &data);
                                *stats.entry("prealloc write").or_default() += 1;
                            }
                        }
                    }
                }
            }
            verify(&image, &fs, &files, &format!("round {} commit {}, before commit", round, c));
            commit_files(&mut fs, &image, &dev);
            verify(&image, &fs, &files, &format!("round {} commit {}", round, c));
        }
        drop(fs);
        btrfs_check_with(&img, &["--check-data-csum"]);
        let (image, fs, _dev) = open_rw(&img);
        verify(&image, &fs, &files, &format!("after reopen, round {}", round));
    }
    eprintln!("ops: {:?}", stats);
    assert!(stats.len() == 5 && stats.values().all(|&n| n > 3), "{:?}", stats);
}

/// Checksum items: inserting many sectors spans several items of at most
/// `max_csums_per_item`, adjacent inserts extend items, deleting ranges
/// trims and splits them; lookups see exactly what is left.
#[test]
fn csum_items_insert_extend_split() {
    let dir = Scratch::new("file-item-csum");
    let img = mkfs(&dir.0, "c.img", 256 << 20, &[]);
    let (image, mut fs, dev) = open_rw(&img);
    let ss = u64::from(fs.geo.sectorsize);
    let cs = fs.geo.csum_type.size();
    let max = fi::max_csums_per_item(fs.geo.nodesize, cs) as u64;
    // Checksum "extents" in an area no data uses: only the csum tree is
    // touched, no data extent is involved, so btrfs check is not run.
    let base = 1u64 << 40;
    let mut model: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut rng = Rng(42);
    let mut put = |t: &mut Trans<'_, Image>, model: &mut BTreeMap<u64, Vec<u8>>, sector: u64, n: u64| {
        let sums: Vec<u8> = (0..n as usize * cs).map(|_| rng.next() as u8).collect();
        fi::insert_csums(t, base + sector * ss, &sums).unwrap();
        for i in 0..n {
            model.insert(sector + i, sums[i as usize * cs..(i as usize + 1) * cs].to_vec());
        }
    };
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        put(&mut t, &mut model, 0, 2 * max + 17);
        put(&mut t, &mut model, 2 * max + 17, 5); // extends the last item
        put(&mut t, &mut model, 3 * max, 100); // separate, after a gap
        put(&mut t, &mut model, 3 * max - 10, 10); // ends where the next starts
        put(&mut t, &mut model, 10, 20); // overwrite
    }
    let check = |fs: &FsState, model: &BTreeMap<u64, Vec<u8>>| {
        let ov = Overlay { dirty: &fs.dirty, src: &image };
        let root = fs.root(objectid::CSUM_TREE).unwrap();
        for s in 0..4 * max {
            let mut out = vec![0u8; cs];
            let got = fi::lookup_csum(&ov, &root, ss as u32, cs, base + s * ss, &mut out).unwrap();
            match model.get(&s) {
                Some(want) => assert!(got && &out == want, "sector {}", s),
                None => assert!(!got, "sector {} should have no csum", s),
            }
        }
        // Items: sorted, non-overlapping, none too big.
        let mut p = Path::new();
        p.search(
            &ov,
            root.bytenr,
            root.level,
            root.generation,
            &Key::new(objectid::EXTENT_CSUM, key_type::EXTENT_CSUM, base),
        )
        .unwrap();
        let mut last_end = 0;
        while let Some(item) = p.item().unwrap() {
            assert!(item.key.offset >= last_end);
            let n = (item.data.len() / cs) as u64;
            assert!(n >= 1 && n <= max, "item of {} csums", n);
            last_end = item.key.offset + n * ss;
            if !p.next_item(&ov).unwrap() {
                break;
            }
        }
    };
    check(&fs, &model);
    commit(&mut fs, &image, &dev).unwrap();
    check(&fs, &model);
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        for (a, n) in [(5u64, 3u64), (max - 2, 4), (2 * max + 10, 20), (3 * max - 10, 12), (0, 2)] {
            fi::del_csums(&mut t, base + a * ss, n * ss).unwrap();
            for s in a..a + n {
                model.remove(&s);
            }
        }
    }
    check(&fs, &model);
    commit(&mut fs, &image, &dev).unwrap();
    check(&fs, &model);
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        fi::del_csums(&mut t, base, 4 * max * ss).unwrap();
        model.clear();
    }
    check(&fs, &model);
    commit(&mut fs, &image, &dev).unwrap();
    drop(fs);
    btrfs_check_with(&img, &["--check-data-csum"]);
}

/// The edges of the model, one by one: inline data zeroed, cut and
/// replaced; the errors for cuts btrfs cannot express; a hole punched in
/// the middle of a regular extent splits it (two references to one
/// extent); truncating to zero drops everything. Checked by the model,
/// `nbytes` and `btrfs check`.
#[test]
fn inline_split_and_errors() {
    let dir = Scratch::new("file-item-edges");
    let root = dir.0.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let mut rng = Rng(7);
    let inl = rng.bytes(1000);
    let reg = rng.bytes(64 << 10);
    std::fs::write(root.join("inl"), &inl).unwrap();
    std::fs::write(root.join("reg"), &reg).unwrap();
    let img = mkfs(&dir.0, "e.img", 256 << 20, &["--rootdir", root.to_str().unwrap()]);
    let (image, mut fs, dev) = open_rw(&img);
    let names = root_dir_files(&image, &fs);
    let mut files = vec![
        Model { name: "inl".into(), ino: names["inl"], data: inl },
        Model { name: "reg".into(), ino: names["reg"], data: reg },
    ];
    let (i, r) = (files[0].ino, files[1].ino);
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        let mut ops = Ops { dev: &dev, hint: 0 };
        // Inline: zero a range inside, then cut, then errors.
        fi::punch_hole(&mut t, ROOT, i, 100, 50).unwrap();
        files[0].data[100..150].fill(0);
        assert_eq!(fi::read_inode_trans(&t, ROOT, i).unwrap().nbytes, 1000);
        fi::truncate(&mut t, ROOT, i, 600).unwrap();
        files[0].data.truncate(600);
        assert_eq!(fi::read_inode_trans(&t, ROOT, i).unwrap().nbytes, 600);
        assert_eq!(fi::drop_extents(&mut t, ROOT, i, 0, 10), Err(EOPNOTSUPP));
        assert_eq!(fi::insert_inline_extent(&mut t, ROOT, i, &[1u8; 4096]), Err(EINVAL));
        // Grows by replacing the inline extent.
        let bigger = rng.bytes(1500);
        ops.write(&mut t, &mut files[0], 0, &bigger);
        assert_eq!(fi::read_inode_trans(&t, ROOT, i).unwrap().nbytes, 1500);
        assert!(Ops::inline_at_0(&t, i));
        // Regular: unaligned cuts are refused, a punch in the middle splits.
        assert_eq!(fi::drop_extents(&mut t, ROOT, r, 100, 4096), Err(EINVAL));
        fi::punch_hole(&mut t, ROOT, r, 8192, 8192).unwrap();
        files[1].data[8192..16384].fill(0);
        let a = fi::find_extent_trans(&t, ROOT, r, 0).unwrap().unwrap();
        let b = fi::find_extent_trans(&t, ROOT, r, 8192).unwrap().unwrap();
        let (ExtentKind::Regular(ea), ExtentKind::Regular(eb)) = (a.kind, b.kind) else { panic!() };
        assert_eq!((a.file_offset, ea.offset, ea.num_bytes), (0, 0, 8192));
        assert_eq!((b.file_offset, eb.offset, eb.num_bytes), (16384, 16384, 65536 - 16384));
        assert_eq!(ea.disk_bytenr, eb.disk_bytenr);
        assert_eq!(fi::read_inode_trans(&t, ROOT, r).unwrap().nbytes, 65536 - 8192);
    }
    verify(&image, &fs, &files, "edges, before commit");
    commit_files(&mut fs, &image, &dev);
    verify(&image, &fs, &files, "edges");
    drop(fs);
    btrfs_check_with(&img, &["--check-data-csum"]);
    // The split extent has one backref with count 2.
    let dump = common::btrfs(&["inspect-internal", "dump-tree", "-t", "2", img.to_str().unwrap()]);
    assert!(dump.contains(&format!("objectid {} offset 0 count 2", r)), "{}", dump);
    let (image, mut fs, dev) = open_rw(&img);
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        let mut ops = Ops { dev: &dev, hint: 0 };
        ops.truncate(&mut t, &mut files[1], 0);
        ops.truncate(&mut t, &mut files[0], 0);
        assert!(fi::find_extent_trans(&t, ROOT, r, 0).unwrap().is_none());
        assert!(fi::find_extent_trans(&t, ROOT, i, 0).unwrap().is_none());
        assert_eq!(fi::read_inode_trans(&t, ROOT, r).unwrap().nbytes, 0);
        assert_eq!(fi::read_inode_trans(&t, ROOT, i).unwrap().nbytes, 0);
    }
    commit_files(&mut fs, &image, &dev);
    verify(&image, &fs, &files, "edges, truncated");
    drop(fs);
    btrfs_check_with(&img, &["--check-data-csum"]);
}

/// A made-up "LZO1X" for the framing: each segment decodes to itself.
struct CopyLzo;

impl Decompressors for CopyLzo {
    fn zlib(&self, _: &[u8], _: &mut [u8]) -> Result<usize, DecompressError> {
        Err(DecompressError::Codec { kind: compression::ZLIB, code: -3 })
    }
    fn lzo1x(&self, src: &[u8], dst: &mut [u8]) -> Result<usize, DecompressError> {
        let d = dst.get_mut(..src.len()).ok_or(DecompressError::Codec { kind: compression::LZO, code: -5 })?;
        d.copy_from_slice(src);
        Ok(src.len())
    }
    fn zstd(&self, _: &[u8], _: &mut [u8]) -> Result<usize, DecompressError> {
        Err(DecompressError::Codec { kind: compression::ZSTD, code: 10 })
    }
}

/// Compressed extents as C btrfs writes them (made up here: btrfs check
/// does not decode data) are cut like C's `btrfs_drop_extents` does: a
/// hole punched in a compressed regular extent splits it into two items
/// that keep the disk extent, `ram_bytes` and the compression, with
/// `offset`/`num_bytes` selecting decoded bytes; a truncate trims one;
/// freeing the last item frees the disk extent and its checksums whole.
/// A compressed inline extent cannot be cut in part (`EOPNOTSUPP`) until
/// the caller rewrites it uncompressed (`read_inline_extent`,
/// `decompress_inline`, `insert_inline_extent`), as the kernel does.
#[test]
fn compressed_extents_cut_keep_disk_extent() {
    let dir = Scratch::new("file-item-compressed");
    let root = dir.0.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let mut rng = Rng(0xc0);
    let inl = rng.bytes(300);
    std::fs::write(root.join("inl"), &inl).unwrap();
    std::fs::write(root.join("reg"), rng.bytes(256 << 10)).unwrap();
    let img = mkfs(&dir.0, "c.img", 256 << 20, &["--rootdir", root.to_str().unwrap()]);
    let (image, mut fs, dev) = open_rw(&img);
    let names = root_dir_files(&image, &fs);
    let (i, r) = (names["inl"], names["reg"]);
    let disk = 8192u64;
    let bytenr;
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        // [0, 128 KiB) of reg: one zlib extent of 8 KiB on disk.
        bytenr = t.alloc_data(disk, 0).unwrap();
        let stream = rng.bytes(disk as usize);
        write_logical(t.fs, &dev, bytenr, &stream);
        let sums = csums_of(t.fs, &stream);
        fi::insert_csums(&mut t, bytenr, &sums).unwrap();
        let e = RegularExtent {
            disk_bytenr: bytenr,
            disk_num_bytes: disk,
            ram_bytes: 128 << 10,
            num_bytes: 128 << 10,
            compression: compression::ZLIB,
            ..Default::default()
        };
        fi::insert_file_extent(&mut t, ROOT, r, 0, &e, true).unwrap();
        // Punch [8 KiB, 16 KiB), truncate to 100000 (the partial sector is
        // the caller's), then check the items.
        fi::punch_hole(&mut t, ROOT, r, 8192, 8192).unwrap();
        fi::truncate(&mut t, ROOT, r, 100_000).unwrap();
        let a = fi::find_extent_trans(&t, ROOT, r, 0).unwrap().unwrap();
        let b = fi::find_extent_trans(&t, ROOT, r, 8192).unwrap().unwrap();
        let (ExtentKind::Regular(ea), ExtentKind::Regular(eb)) = (a.kind, b.kind) else { panic!() };
        assert_eq!((a.file_offset, ea.offset, ea.num_bytes), (0, 0, 8192));
        assert_eq!((b.file_offset, eb.offset, eb.num_bytes), (16384, 16384, 102400 - 16384));
        for x in [ea, eb] {
            assert_eq!((x.disk_bytenr, x.disk_num_bytes, x.ram_bytes, x.compression), (bytenr, disk, 128 << 10, 1));
        }
        assert_eq!(fi::read_inode_trans(&t, ROOT, r).unwrap().nbytes, 102400 - 8192);
        // The read path hands compressed data to its caller.
        let ov = Overlay { dirty: &t.fs.dirty, src: t.src };
        let rn = t.fs.root(ROOT).unwrap();
        let mut buf = vec![0u8; 4096];
        assert_eq!(fi::read_file(&ov, &rn, r, 0, &mut buf, &mut mem::Vec::new()), Err(EOPNOTSUPP));

        // inl: replace its inline extent by the same bytes, LZO-framed.
        let mut framed = vec![0u8; 8];
        framed.extend_from_slice(&inl);
        let total = framed.len() as u32;
        framed[..4].copy_from_slice(&total.to_le_bytes());
        framed[4..8].copy_from_slice(&(inl.len() as u32).to_le_bytes());
        assert_eq!(fi::drop_extents(&mut t, ROOT, i, 0, 4096).unwrap(), 300);
        let mut item = vec![0u8; inline_extent_size(framed.len())];
        encode_inline_extent(&mut item, t.fs.transid(), 300, compression::LZO, &framed).unwrap();
        t.with_root(ROOT, |t, rn| insert_item(t, rn, &Key::new(i, key_type::EXTENT_DATA, 0), &item)).unwrap();
        assert_eq!(fi::truncate(&mut t, ROOT, i, 100), Err(EOPNOTSUPP));
        assert_eq!(fi::punch_hole(&mut t, ROOT, i, 10, 20), Err(EOPNOTSUPP));
        let ie = fi::read_inline_extent_trans(&t, ROOT, i).unwrap().unwrap();
        assert_eq!((ie.compression, ie.ram_bytes, &ie.data[..]), (compression::LZO, 300, &framed[..]));
        let data = comp::decompress_inline(ie.compression, &ie.data, ie.ram_bytes, 4096, &CopyLzo).unwrap();
        assert_eq!(&data[..], &inl[..]);
        fi::insert_inline_extent(&mut t, ROOT, i, &data).unwrap();
        fi::punch_hole(&mut t, ROOT, i, 10, 20).unwrap();
        fi::truncate(&mut t, ROOT, i, 100).unwrap();
        assert_eq!(fi::read_inode_trans(&t, ROOT, i).unwrap().nbytes, 100);
    }
    let mut want = inl.clone();
    want[10..30].fill(0);
    want.truncate(100);
    assert_eq!(read_back(&image, &fs, i), want);
    commit_files(&mut fs, &image, &dev);
    drop(fs);
    btrfs_check_with(&img, &["--check-data-csum"]);
    let dump = common::btrfs(&["inspect-internal", "dump-tree", "-t", "2", img.to_str().unwrap()]);
    assert!(dump.contains(&format!("objectid {} offset 0 count 2", r)), "{}", dump);
    // Dropping both items frees the disk extent and its checksums.
    let (image, mut fs, dev) = open_rw(&img);
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        fi::truncate(&mut t, ROOT, r, 0).unwrap();
    }
    commit_files(&mut fs, &image, &dev);
    drop(fs);
    btrfs_check_with(&img, &["--check-data-csum"]);
    let dump = common::btrfs(&["inspect-internal", "dump-tree", "-t", "2", img.to_str().unwrap()]);
    assert!(!dump.contains(&format!("({} EXTENT_ITEM", bytenr)), "the compressed extent is still there");
    let csums = common::btrfs(&["inspect-internal", "dump-tree", "-t", "7", img.to_str().unwrap()]);
    assert!(!csums.contains(&format!("EXTENT_CSUM {})", bytenr)), "its checksums are still there");
}
