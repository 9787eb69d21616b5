// SPDX-License-Identifier: GPL-2.0
//! mkcorrupt: makes corrupted variants of a btrfs image for the guest
//! corruption test, which mounts each one read-only with rbtrfs and expects
//! a refusal, EIO or EUCLEAN (or harmless success), never a crash.
//!
//! ```text
//! cargo run --quiet --example mkcorrupt -- PRISTINE.img OUTDIR COUNT SEED
//! ```
//!
//! Writes `OUTDIR/NNNN-<kind>.img` (sparse copies of the pristine image with
//! one corruption each) and `OUTDIR/manifest.txt`, one line per variant:
//! `<file> <kind> <description>`. Kinds, in turn:
//!
//! - `super`: 1-3 bytes of the primary superblock flipped (mostly in the
//!   fields and the sys_chunk_array), resealed half of the time.
//! - `chunk-tree`, `root-tree`, `fs-tree`, `extent-tree`, `csum-tree`: 1-4
//!   bytes flipped in a tree block of that tree, identically in every copy
//!   (DUP), resealed two times out of three.
//! - `data`: one byte flipped in a checksummed data extent of a regular file
//!   (reading it must give EIO).
//!
//! Deterministic from SEED: variant `i` depends only on SEED and `i`.
//! The generator is also `#[path]`-included by the host test `corrupt.rs`.

#[path = "image.rs"]
pub mod image;

use image::Image;
use rbtrfs_core::checksum::CsumType;
use rbtrfs_core::ctree::{key_type, objectid, Key, TreeBlock, HEADER_SIZE, ITEM_SIZE, KEY_PTR_SIZE};
use rbtrfs_core::format::{CSUM_SIZE, SUPER_INFO_OFFSET, SUPER_INFO_SIZE};
use rbtrfs_core::items::{compression, FileExtent, FileExtentBody, InodeRefIter};
use rbtrfs_core::validate::validate_super;
use std::fmt::Write as _;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Every kind, in the order variants cycle through them.
pub const KINDS: [&str; 7] = ["super", "chunk-tree", "root-tree", "fs-tree", "extent-tree", "csum-tree", "data"];

/// The tree of each tree kind.
pub const TREE_KINDS: [(&str, u64); 5] = [
    ("chunk-tree", objectid::CHUNK_TREE),
    ("root-tree", objectid::ROOT_TREE),
    ("fs-tree", objectid::FS_TREE),
    ("extent-tree", objectid::EXTENT_TREE),
    ("csum-tree", objectid::CSUM_TREE),
];

/// Region of 64 KiB copied when not all zero.
const COPY_GRAIN: usize = 64 * 1024;

/// The superblock's sys_chunk_array starts here.
const SYS_ARRAY_OFFSET: usize = 811;

/// Deterministic pseudo-random numbers: xorshift64*, seeded by splitmix64.
pub struct Rng(u64);

pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(splitmix64(seed) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0);
        self.next_u64() % n
    }

    /// `true` with probability `num/den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// A uniform offset in the union of the half-open `ranges`.
    pub fn pick(&mut self, ranges: &[(usize, usize)]) -> Option<usize> {
        let total: usize = ranges.iter().map(|&(a, b)| b.saturating_sub(a)).sum();
        if total == 0 {
            return None;
        }
        let mut n = self.below(total as u64) as usize;
        for &(a, b) in ranges {
            let len = b.saturating_sub(a);
            if n < len {
                return Some(a + n);
            }
            n -= len;
        }
        unreachable!()
    }

    /// A new value for byte `old`: one bit flipped half of the time, else
    /// XORed with a random non-zero mask.
    pub fn flip(&mut self, old: u8) -> u8 {
        let mask = if self.chance(1, 2) { 1u8 << self.below(8) } else { 1 + self.below(255) as u8 };
        old ^ mask
    }

    /// Copies `orig` and flips `n` distinct bytes of it, each drawn from
    /// `first` with probability `num/den` and from `second` otherwise.
    /// Returns the copy and the flipped offsets, sorted.
    pub fn flip_distinct(
        &mut self,
        orig: &[u8],
        n: usize,
        (num, den): (u64, u64),
        first: &[(usize, usize)],
        second: &[(usize, usize)],
    ) -> (Vec<u8>, Vec<usize>) {
        let mut flips = Vec::new();
        while flips.len() < n {
            let off = if self.chance(num, den) { self.pick(first) } else { self.pick(second) }.unwrap();
            if !flips.contains(&off) {
                flips.push(off);
            }
        }
        flips.sort_unstable();
        let mut buf = orig.to_vec();
        for &o in &flips {
            buf[o] = self.flip(buf[o]);
        }
        (buf, flips)
    }
}

/// `ranges` minus `[lo, hi)`.
fn exclude(ranges: &[(usize, usize)], lo: usize, hi: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for &(a, b) in ranges {
        if a < lo.min(b) {
            out.push((a, lo.min(b)));
        }
        if hi.max(a) < b {
            out.push((hi.max(a), b));
        }
    }
    out
}

/// One byte changed in a variant, at a physical offset of the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patch {
    pub physical: u64,
    pub old: u8,
    pub new: u8,
}

/// What a variant corrupts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detail {
    /// The primary superblock; `flips` are offsets in it. `resealed` is the
    /// checksum written over the result, if any.
    Super { flips: Vec<usize>, resealed: Option<CsumType> },
    /// Tree block `logical` of tree `tree`, at `physical` (every copy);
    /// `flips` are offsets in the block.
    Tree { tree: u64, logical: u64, physical: Vec<u64>, level: u8, nritems: u32, flips: Vec<usize>, resealed: bool },
    /// Byte `logical` of a data extent, at `physical` (every copy), in
    /// the sector starting at `sector` of file `ino`.
    Data { logical: u64, physical: Vec<u64>, sector: u64, ino: u64, path: String, file_offset: Option<u64> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    pub index: usize,
    pub kind: &'static str,
    pub file: String,
    pub detail: Detail,
    /// Every byte changed, in order of physical offset.
    pub patches: Vec<Patch>,
    /// What was changed, where, for the manifest.
    pub desc: String,
}

/// A tree block that can be corrupted.
#[derive(Clone, Copy, Debug)]
pub struct BlockRef {
    pub logical: u64,
    pub level: u8,
    pub nritems: u32,
    pub owner: u64,
}

/// A regular (non-inline) extent of a file, from an EXTENT_DATA item.
#[derive(Clone, Debug)]
pub struct DataExtent {
    pub ino: u64,
    pub file_offset: u64,
    pub disk_bytenr: u64,
    pub disk_num_bytes: u64,
    pub offset: u64,
    pub num_bytes: u64,
    pub compression: u8,
}

/// The pristine image and everything the variants are drawn from.
pub struct Pristine {
    pub path: PathBuf,
    pub img: Image,
    pub len: u64,
    /// The non-zero 64 KiB regions, merged: what a sparse copy writes.
    pub runs: Vec<(u64, Vec<u8>)>,
    /// Tree blocks, per entry of [`TREE_KINDS`].
    pub blocks: Vec<Vec<BlockRef>>,
    /// Data extents that have a checksum.
    pub extents: Vec<DataExtent>,
    /// EXTENT_CSUM items: (first logical sector, checksums), sorted.
    pub csums: Vec<(u64, Vec<u8>)>,
    /// The FS tree, for inode paths.
    fs_root: image::RootPtr,
}

impl Pristine {
    pub fn open(path: &Path) -> Result<Pristine, String> {
        let file = File::open(path).map_err(|e| format!("{}: {}", path.display(), e))?;
        let len = file.metadata().map_err(|e| e.to_string())?.len();
        if len < SUPER_INFO_OFFSET + SUPER_INFO_SIZE as u64 {
            return Err(format!("{}: too small for a btrfs image", path.display()));
        }
        let mut sb = vec![0u8; SUPER_INFO_SIZE];
        file.read_exact_at(&mut sb, SUPER_INFO_OFFSET).map_err(|e| format!("{}: {}", path.display(), e))?;
        validate_super(&sb, 4096).map_err(|e| format!("{}: pristine superblock: {}", path.display(), e))?;
        let runs = nonzero_runs(&file, len).map_err(|e| format!("{}: {}", path.display(), e))?;
        let img = Image::open(path);
        let csum_size = img.csum_type.size();
        let mut blocks = Vec::new();
        for (_, tree) in TREE_KINDS {
            let root = img.tree(tree).ok_or_else(|| format!("no tree {} in the image", tree))?;
            let all: Vec<BlockRef> = img
                .walk_blocks(root, tree)
                .into_iter()
                .map(|(logical, level, nritems, owner)| BlockRef { logical, level, nritems, owner })
                .collect();
            let owned: Vec<BlockRef> = all
                .iter()
                .copied()
                .filter(|b| if tree == objectid::FS_TREE { objectid::is_fstree(b.owner) } else { b.owner == tree })
                .collect();
            blocks.push(if owned.is_empty() { all } else { owned });
        }
        let csum_root = img.tree(objectid::CSUM_TREE).ok_or("no csum tree")?;
        let mut csums = Vec::new();
        for (key, data) in img.items(csum_root).map_err(|e| e.to_string())? {
            if key.objectid == objectid::EXTENT_CSUM && key.ty == key_type::EXTENT_CSUM {
                if data.len() % csum_size != 0 {
                    return Err(format!("csum item {} has {} bytes", key, data.len()));
                }
                csums.push((key.offset, data));
            }
        }
        csums.sort_by_key(|c| c.0);
        let fs_root = img.tree(objectid::FS_TREE).ok_or("no fs tree")?;
        let mut p = Pristine { path: path.to_path_buf(), img, len, runs, blocks, extents: Vec::new(), csums, fs_root };
        let items = p.img.items(fs_root).map_err(|e| e.to_string())?;
        for (key, data) in items {
            if key.ty != key_type::EXTENT_DATA {
                continue;
            }
            let Ok(fe) = FileExtent::parse(&data) else { continue };
            let FileExtentBody::Regular(r) = fe.body else { continue };
            if r.disk_bytenr() == 0 || r.num_bytes() == 0 {
                continue;
            }
            let e = DataExtent {
                ino: key.objectid,
                file_offset: key.offset,
                disk_bytenr: r.disk_bytenr(),
                disk_num_bytes: r.disk_num_bytes(),
                offset: r.offset(),
                num_bytes: r.num_bytes(),
                compression: r.compression(),
            };
            let (lo, _) = p.extent_range(&e);
            if p.data_csum(lo).is_some() {
                p.extents.push(e);
            }
        }
        Ok(p)
    }

    pub fn sectorsize(&self) -> u64 {
        u64::from(self.img.sectorsize)
    }

    /// The stored checksum of the data sector containing `logical`.
    pub fn data_csum(&self, logical: u64) -> Option<&[u8]> {
        let ss = self.sectorsize();
        let sector = logical - logical % ss;
        let n = self.csums.partition_point(|c| c.0 <= sector);
        let (start, data) = self.csums.get(n.checked_sub(1)?)?;
        let cs = self.img.csum_type.size();
        let i = ((sector - start) / ss) as usize;
        data.get(i * cs..(i + 1) * cs)
    }

    /// The logical range of an extent that its file reads: the referenced
    /// part for an uncompressed extent, the whole disk extent otherwise.
    fn extent_range(&self, e: &DataExtent) -> (u64, u64) {
        if e.compression == compression::NONE {
            let lo = e.disk_bytenr + e.offset;
            (lo, (lo + e.num_bytes).min(e.disk_bytenr + e.disk_num_bytes))
        } else {
            (e.disk_bytenr, e.disk_bytenr + e.disk_num_bytes)
        }
    }

    /// Every physical copy of logical `logical`.
    pub fn physical(&self, logical: u64) -> Result<Vec<u64>, String> {
        let m = self.img.chunk_of(logical).map_err(|e| e.to_string())?.map(logical).map_err(|e| e.to_string())?;
        Ok(m.mirrors().iter().map(|s| s.physical).collect())
    }

    pub fn read_physical(&self, physical: u64, len: usize) -> Result<Vec<u8>, String> {
        let mut buf = vec![0u8; len];
        self.img.file.read_exact_at(&mut buf, physical).map_err(|e| format!("read at {}: {}", physical, e))?;
        Ok(buf)
    }

    /// A path of inode `ino` in the FS tree, from its INODE_REFs.
    pub fn inode_path(&self, ino: u64) -> Option<String> {
        let mut parts = Vec::new();
        let mut cur = ino;
        for _ in 0..256 {
            if cur == objectid::FIRST_FREE {
                parts.reverse();
                return Some(format!("/{}", parts.join("/")));
            }
            let refs = self
                .img
                .range(
                    self.fs_root,
                    Key::new(cur, key_type::INODE_REF, 0),
                    Key::new(cur, key_type::INODE_REF, u64::MAX),
                )
                .ok()?;
            let (key, data) = refs.first()?;
            let r = InodeRefIter::new(data).next()?.ok()?;
            parts.push(escape(r.name));
            cur = key.offset;
        }
        None
    }

    /// Plans variant `index` for `seed`, without writing anything.
    pub fn plan(&self, index: usize, seed: u64) -> Result<Variant, String> {
        let kinds = self.kinds();
        let kind = kinds[index % kinds.len()];
        let mut rng = Rng::new(seed ^ splitmix64(index as u64 ^ 0x6d6b_636f_7272_7570));
        let (detail, patches) = match kind {
            "super" => self.plan_super(&mut rng)?,
            "data" => self.plan_data(&mut rng)?,
            _ => {
                let k = TREE_KINDS.iter().position(|t| t.0 == kind).unwrap();
                self.plan_tree(&mut rng, k)?
            }
        };
        if patches.is_empty() {
            return Err(format!("variant {} ({}) changes nothing", index, kind));
        }
        let desc = self.describe(&detail, &patches);
        Ok(Variant { index, kind, file: format!("{:04}-{}.img", index, kind), detail, patches, desc })
    }

    /// The kinds this image can have (no `data` without checksummed extents).
    pub fn kinds(&self) -> Vec<&'static str> {
        KINDS.iter().copied().filter(|&k| k != "data" || !self.extents.is_empty()).collect()
    }

    fn plan_super(&self, rng: &mut Rng) -> Result<(Detail, Vec<Patch>), String> {
        let orig = &self.img.sb;
        let csum_size = self.img.csum_type.size();
        let sys_end = SYS_ARRAY_OFFSET + (self.img.sb().sys_chunk_array_size() as usize).min(2048);
        let reseal = rng.chance(1, 2);
        let meaningful = [(CSUM_SIZE, sys_end)];
        let anywhere = if reseal {
            vec![(CSUM_SIZE, SUPER_INFO_SIZE)]
        } else {
            vec![(0, csum_size), (CSUM_SIZE, SUPER_INFO_SIZE)]
        };
        let n = 1 + rng.below(3) as usize;
        let (mut sb, flips) = rng.flip_distinct(&orig, n, (4, 5), &meaningful, &anywhere);
        let resealed = if reseal {
            // With the checksum type the corrupted superblock names, if it
            // is one we compute; else the pristine one.
            let raw = u16::from_le_bytes([sb[196], sb[197]]);
            let ty = CsumType::from_disk(raw).filter(|t| t.supported()).unwrap_or(self.img.csum_type);
            let mut c = [0u8; 32];
            ty.compute(&sb[CSUM_SIZE..SUPER_INFO_SIZE], &mut c);
            sb[..CSUM_SIZE].copy_from_slice(&c);
            Some(ty)
        } else {
            None
        };
        let patches = diff(orig, &sb, SUPER_INFO_OFFSET);
        Ok((Detail::Super { flips, resealed }, patches))
    }

    fn plan_tree(&self, rng: &mut Rng, k: usize) -> Result<(Detail, Vec<Patch>), String> {
        let tree = TREE_KINDS[k].1;
        let blocks = &self.blocks[k];
        let b = blocks[rng.below(blocks.len() as u64) as usize];
        let ns = self.img.nodesize as usize;
        let physical = self.physical(b.logical)?;
        let orig = self.read_physical(physical[0], ns)?;
        let tb = TreeBlock::new(&orig).map_err(|e| e.to_string())?;
        let leaf = tb.level() == 0;
        let entry = if leaf { ITEM_SIZE } else { KEY_PTR_SIZE };
        let head_end = (HEADER_SIZE + tb.nritems() as usize * entry).min(ns);
        let mut used = vec![(0, head_end)];
        if leaf && tb.nritems() > 0 {
            let min_off = (0..tb.nritems() as usize)
                .filter_map(|s| tb.item_head(s).ok())
                .map(|h| h.offset as usize)
                .min()
                .unwrap_or(ns);
            used.push(((HEADER_SIZE + min_off).clamp(head_end, ns), ns));
        }
        let reseal = rng.below(3) < 2;
        // Resealing rewrites the checksum; without it, flips may hit the
        // stored checksum but not its unused padding.
        let (lo, hi) = if reseal { (0, CSUM_SIZE) } else { (self.img.csum_type.size(), CSUM_SIZE) };
        let head = exclude(&[(0, head_end)], lo, hi);
        let used = exclude(&used, lo, hi);
        let n = 1 + rng.below(4) as usize;
        let (mut buf, flips) = rng.flip_distinct(&orig, n, (1, 2), &head, &used);
        if reseal {
            let mut c = [0u8; 32];
            self.img.csum_type.compute(&buf[CSUM_SIZE..], &mut c);
            buf[..CSUM_SIZE].copy_from_slice(&c);
        }
        // The same block in every copy (DUP), whatever each held before.
        let mut patches = Vec::new();
        for &p in &physical {
            let copy = if p == physical[0] { orig.clone() } else { self.read_physical(p, ns)? };
            patches.extend(diff(&copy, &buf, p));
        }
        patches.sort_by_key(|p| p.physical);
        let detail = Detail::Tree {
            tree,
            logical: b.logical,
            physical,
            level: b.level,
            nritems: b.nritems,
            flips,
            resealed: reseal,
        };
        Ok((detail, patches))
    }

    fn plan_data(&self, rng: &mut Rng) -> Result<(Detail, Vec<Patch>), String> {
        for _ in 0..1000 {
            let e = &self.extents[rng.below(self.extents.len() as u64) as usize];
            let (lo, hi) = self.extent_range(e);
            if hi <= lo {
                continue;
            }
            let logical = lo + rng.below(hi - lo);
            if self.data_csum(logical).is_none() {
                continue;
            }
            let physical = self.physical(logical)?;
            let mut patches = Vec::new();
            let mut new = None;
            for &p in &physical {
                let old = self.read_physical(p, 1)?[0];
                let n = *new.get_or_insert_with(|| rng.flip(old));
                if n != old {
                    patches.push(Patch { physical: p, old, new: n });
                }
            }
            let file_offset = (e.compression == compression::NONE).then(|| e.file_offset + (logical - lo));
            let ss = self.sectorsize();
            let detail = Detail::Data {
                logical,
                physical,
                sector: logical - logical % ss,
                ino: e.ino,
                path: self.inode_path(e.ino).unwrap_or_else(|| "?".into()),
                file_offset,
            };
            return Ok((detail, patches));
        }
        Err("no checksummed data byte found".into())
    }

    fn describe(&self, d: &Detail, patches: &[Patch]) -> String {
        let mut s = String::new();
        let flips_at = |base: u64, flips: &[usize], label: &dyn Fn(usize) -> String| {
            let mut s = String::from("flips=");
            for (i, &o) in flips.iter().enumerate() {
                let p = patches.iter().find(|p| p.physical == base + o as u64);
                let (old, new) = p.map(|p| (p.old, p.new)).unwrap_or((0, 0));
                let _ = write!(s, "{}+{}({}):0x{:02x}->0x{:02x}", if i > 0 { "," } else { "" }, o, label(o), old, new);
            }
            s
        };
        match d {
            Detail::Super { flips, resealed } => {
                let _ = write!(
                    s,
                    "primary superblock phys={} {} resealed={}",
                    SUPER_INFO_OFFSET,
                    flips_at(SUPER_INFO_OFFSET, flips, &|o| super_field(o, self.img.sb().sys_chunk_array_size())),
                    resealed.map_or("no", |t| t.name())
                );
            }
            Detail::Tree { tree, logical, physical, level, nritems, flips, resealed } => {
                let orig = self.read_physical(physical[0], self.img.nodesize as usize).unwrap_or_default();
                let _ = write!(
                    s,
                    "tree block owner={} logical={} phys={} level={} nritems={} {} resealed={} copies_patched={}",
                    tree,
                    logical,
                    join(physical),
                    level,
                    nritems,
                    flips_at(physical[0], flips, &|o| block_field(&orig, o)),
                    if *resealed { self.img.csum_type.name() } else { "no" },
                    physical.len()
                );
            }
            Detail::Data { logical, physical, sector, ino, path, file_offset } => {
                let p = patches.first().copied().unwrap_or(Patch { physical: 0, old: 0, new: 0 });
                let _ = write!(
                    s,
                    "data logical={} phys={} sector={} byte=0x{:02x}->0x{:02x} ino={} file_offset={} path={} expect=EIO",
                    logical,
                    join(physical),
                    sector,
                    p.old,
                    p.new,
                    ino,
                    file_offset.map_or("?".into(), |o| o.to_string()),
                    path
                );
            }
        }
        s
    }

    /// Writes variant `v` into `dir`: a sparse copy, then the patches; checks
    /// it reads back different from the pristine image.
    pub fn write(&self, dir: &Path, v: &Variant) -> Result<(), String> {
        let path = dir.join(&v.file);
        let err = |e: std::io::Error| format!("{}: {}", path.display(), e);
        let f =
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).map_err(err)?;
        f.set_len(self.len).map_err(err)?;
        for (off, data) in &self.runs {
            f.write_all_at(data, *off).map_err(err)?;
        }
        for p in &v.patches {
            f.write_all_at(&[p.new], p.physical).map_err(err)?;
        }
        let mut differs = false;
        for p in &v.patches {
            let mut b = [0u8; 1];
            f.read_exact_at(&mut b, p.physical).map_err(err)?;
            let orig = self.read_physical(p.physical, 1)?[0];
            assert_eq!(b[0], p.new, "{}: byte {} not written", v.file, p.physical);
            assert_eq!(orig, p.old, "{}: byte {} not what was planned on", v.file, p.physical);
            differs |= b[0] != orig;
        }
        assert!(differs, "{} does not differ from the pristine image", v.file);
        Ok(())
    }

    /// Plans and writes `count` variants into `dir`, with the manifest.
    pub fn generate(&self, dir: &Path, count: usize, seed: u64) -> Result<Vec<Variant>, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {}", dir.display(), e))?;
        let mut manifest = String::new();
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let v = self.plan(i, seed)?;
            self.write(dir, &v)?;
            let _ = writeln!(manifest, "{} {} {}", v.file, v.kind, v.desc);
            out.push(v);
        }
        let mpath = dir.join("manifest.txt");
        std::fs::write(&mpath, manifest).map_err(|e| format!("{}: {}", mpath.display(), e))?;
        Ok(out)
    }
}

/// The bytes that differ between `a` and `b`, as patches at `base`.
fn diff(a: &[u8], b: &[u8], base: u64) -> Vec<Patch> {
    a.iter()
        .zip(b)
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .map(|(i, (&old, &new))| Patch { physical: base + i as u64, old, new })
        .collect()
}

fn join(v: &[u64]) -> String {
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")
}

/// A name with spaces, backslashes and non-printable bytes as `\xNN`.
fn escape(name: &[u8]) -> String {
    let mut s = String::new();
    for &c in name {
        if c.is_ascii_graphic() && c != b'\\' {
            s.push(c as char);
        } else {
            let _ = write!(s, "\\x{:02x}", c);
        }
    }
    s
}

/// The superblock field at offset `o`, as `name+byte`.
pub fn super_field(o: usize, sys_array_size: u32) -> String {
    const FIELDS: [(usize, &str); 37] = [
        (0, "csum"),
        (32, "fsid"),
        (48, "bytenr"),
        (56, "flags"),
        (64, "magic"),
        (72, "generation"),
        (80, "root"),
        (88, "chunk_root"),
        (96, "log_root"),
        (104, "log_root_transid"),
        (112, "total_bytes"),
        (120, "bytes_used"),
        (128, "root_dir_objectid"),
        (136, "num_devices"),
        (144, "sectorsize"),
        (148, "nodesize"),
        (152, "leafsize"),
        (156, "stripesize"),
        (160, "sys_chunk_array_size"),
        (164, "chunk_root_generation"),
        (172, "compat_flags"),
        (180, "compat_ro_flags"),
        (188, "incompat_flags"),
        (196, "csum_type"),
        (198, "root_level"),
        (199, "chunk_root_level"),
        (200, "log_root_level"),
        (201, "dev_item"),
        (299, "label"),
        (555, "cache_generation"),
        (563, "uuid_tree_generation"),
        (571, "metadata_uuid"),
        (587, "nr_global_roots"),
        (595, "reserved"),
        (SYS_ARRAY_OFFSET, "sys_chunk_array"),
        (2859, "super_roots"),
        (3531, "padding"),
    ];
    let (start, name) = FIELDS.iter().rev().find(|f| f.0 <= o).copied().unwrap_or((0, "?"));
    let unused = name == "sys_chunk_array" && o >= SYS_ARRAY_OFFSET + sys_array_size as usize;
    format!("{}{}+{}", name, if unused { "(unused)" } else { "" }, o - start)
}

/// The field of tree block `buf` at offset `o`, as `name+byte`.
pub fn block_field(buf: &[u8], o: usize) -> String {
    const HEAD: [(usize, &str); 10] = [
        (0, "csum"),
        (32, "fsid"),
        (48, "bytenr"),
        (56, "flags"),
        (64, "chunk_tree_uuid"),
        (80, "generation"),
        (88, "owner"),
        (96, "nritems"),
        (100, "level"),
        (HEADER_SIZE, ""),
    ];
    if o < HEADER_SIZE {
        let (start, name) = HEAD.iter().rev().find(|f| f.0 <= o).copied().unwrap();
        return format!("{}+{}", name, o - start);
    }
    let Ok(tb) = TreeBlock::new(buf) else { return "?".into() };
    let n = tb.nritems() as usize;
    let key_field = |j: usize| match j {
        0..=7 => ("key.objectid", j),
        8 => ("key.type", 0),
        _ => ("key.offset", j - 9),
    };
    if tb.level() == 0 {
        let i = (o - HEADER_SIZE) / ITEM_SIZE;
        if i < n {
            let j = (o - HEADER_SIZE) % ITEM_SIZE;
            let (f, b) = match j {
                0..=16 => key_field(j),
                17..=20 => ("offset", j - 17),
                _ => ("size", j - 21),
            };
            return format!("item[{}].{}+{}", i, f, b);
        }
        for s in 0..n {
            let Ok(h) = tb.item_head(s) else { continue };
            let start = HEADER_SIZE + h.offset as usize;
            if o >= start && o < start + h.size as usize {
                let ty = key_type::name(h.key.ty).unwrap_or("?");
                return format!("item[{}].data({})+{}", s, ty, o - start);
            }
        }
        "free".into()
    } else {
        let i = (o - HEADER_SIZE) / KEY_PTR_SIZE;
        if i < n {
            let j = (o - HEADER_SIZE) % KEY_PTR_SIZE;
            let (f, b) = match j {
                0..=16 => key_field(j),
                17..=24 => ("blockptr", j - 17),
                _ => ("generation", j - 25),
            };
            return format!("ptr[{}].{}+{}", i, f, b);
        }
        "free".into()
    }
}

/// The non-zero `COPY_GRAIN` regions of `file`, adjacent ones merged.
fn nonzero_runs(file: &File, len: u64) -> std::io::Result<Vec<(u64, Vec<u8>)>> {
    let mut runs: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut buf = vec![0u8; 16 * COPY_GRAIN];
    let mut off = 0u64;
    while off < len {
        let n = ((len - off) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], off)?;
        for (i, g) in buf[..n].chunks(COPY_GRAIN).enumerate() {
            if g.iter().all(|&b| b == 0) {
                continue;
            }
            let at = off + (i * COPY_GRAIN) as u64;
            match runs.last_mut() {
                Some((s, d)) if *s + d.len() as u64 == at => d.extend_from_slice(g),
                _ => runs.push((at, g.to_vec())),
            }
        }
        off += n as u64;
    }
    Ok(runs)
}

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

const USAGE: &str = "usage: mkcorrupt PRISTINE.img OUTDIR COUNT SEED";

fn run(args: &[String]) -> Result<(), String> {
    let [img, dir, count, seed] = args else { return Err(USAGE.into()) };
    let count = parse_u64(count).ok_or(USAGE)? as usize;
    let seed = parse_u64(seed).ok_or(USAGE)?;
    let p = Pristine::open(Path::new(img))?;
    let variants = p.generate(Path::new(dir), count, seed)?;
    let mut line = format!("mkcorrupt: {} variants:", variants.len());
    for (i, kind) in p.kinds().iter().enumerate() {
        let n = variants.iter().filter(|v| v.kind == *kind).count();
        let _ = write!(line, "{} {} {}", if i > 0 { "," } else { "" }, kind, n);
    }
    let resealed = variants
        .iter()
        .filter(|v| matches!(v.detail, Detail::Super { resealed: Some(_), .. } | Detail::Tree { resealed: true, .. }))
        .count();
    let _ = write!(line, " ({} resealed)", resealed);
    println!("{}", line);
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("mkcorrupt: {}", e);
        std::process::exit(if e == USAGE { 2 } else { 1 });
    }
}
