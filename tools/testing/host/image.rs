// SPDX-License-Identifier: GPL-2.0
//! Host-side reader of btrfs images for the tree tests: a `TreeSource` over an
//! image file (bootstrapped from the sys_chunk_array, then the chunk tree),
//! and a parser of `btrfs inspect-internal dump-tree` output to compare with.

#![allow(dead_code)]

use rbtrfs_core::checksum::CsumType;
use rbtrfs_core::ctree::{self, check_tree_block, key_type, objectid, BlockExpect, Key, Path, TreeBlock, TreeError,
    TreeSource};
use rbtrfs_core::format::SuperBlock;
use rbtrfs_core::items::Root;
use rbtrfs_core::validate::validate_super;
use rbtrfs_core::volumes::{ChunkError, ChunkInfo, ChunkItem, SysChunkIter};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path as FsPath;
use std::rc::Rc;

/// Errors of the image source.
#[derive(Clone, Debug, PartialEq)]
pub enum ImgErr {
    Tree(TreeError),
    Chunk(ChunkError),
    NoChunk(u64),
    Io(String),
}

impl std::fmt::Display for ImgErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImgErr::Tree(e) => write!(f, "{}", e),
            ImgErr::Chunk(e) => write!(f, "{}", e),
            ImgErr::NoChunk(l) => write!(f, "no chunk maps logical {}", l),
            ImgErr::Io(e) => write!(f, "{}", e),
        }
    }
}

pub type SErr = ctree::SearchError<ImgErr>;

/// A root pointer: (bytenr, level, generation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RootPtr {
    pub bytenr: u64,
    pub level: u8,
    pub generation: u64,
}

pub struct Image {
    pub file: File,
    pub sb: Vec<u8>,
    pub nodesize: u32,
    pub sectorsize: u32,
    pub fsid: [u8; 16],
    pub csum_type: CsumType,
    pub chunks: Vec<ChunkInfo>,
    /// Run `check_tree_block` on every block read (off for the fuzz tests,
    /// which feed unverified blocks to the search code).
    pub verify: Cell<bool>,
    /// Blocks replaced in memory (corruption tests), by logical address.
    pub overlay: RefCell<HashMap<u64, Vec<u8>>>,
    pub reads: Cell<u64>,
}

impl Image {
    pub fn open(path: &FsPath) -> Image {
        let file = File::open(path).unwrap();
        let mut sb = vec![0u8; 4096];
        file.read_exact_at(&mut sb, 65536).unwrap();
        let info = validate_super(&sb, 4096).expect("superblock validates");
        let mut img = Image {
            file,
            nodesize: info.nodesize,
            sectorsize: info.sectorsize,
            fsid: info.fsid,
            csum_type: info.csum_type,
            sb,
            chunks: Vec::new(),
            verify: Cell::new(true),
            overlay: RefCell::new(HashMap::new()),
            reads: Cell::new(0),
        };
        // Bootstrap: the system chunks from the superblock.
        let sbv = SuperBlock::new(&img.sb).unwrap();
        for r in SysChunkIter::new(&sbv) {
            let (logical, chunk) = r.expect("sys_chunk_array decodes");
            chunk.check(logical, img.sectorsize, false).unwrap();
            img.chunks.push(chunk.info(logical));
        }
        assert!(!img.chunks.is_empty());
        // Then every chunk, from the chunk tree.
        let root = RootPtr {
            bytenr: sbv.chunk_root(),
            level: sbv.chunk_root_level(),
            generation: sbv.chunk_root_generation(),
        };
        let mut chunks = Vec::new();
        for (key, data) in img.items(root).unwrap() {
            if key.ty == key_type::CHUNK_ITEM {
                assert_eq!(key.objectid, objectid::FIRST_CHUNK_TREE);
                let c = ChunkItem::parse(&data).unwrap();
                assert_eq!(c.size(), data.len());
                c.check(key.offset, img.sectorsize, false).unwrap();
                chunks.push(c.info(key.offset));
            }
        }
        // Every bootstrap chunk is in the chunk tree, identically.
        for c in &img.chunks {
            assert!(chunks.contains(c), "sys chunk {:?} not in chunk tree", c);
        }
        img.chunks = chunks;
        img
    }

    pub fn sb(&self) -> SuperBlock<'_> {
        SuperBlock::new(&self.sb).unwrap()
    }

    pub fn chunk_of(&self, logical: u64) -> Result<&ChunkInfo, ImgErr> {
        self.chunks.iter().find(|c| c.contains(logical)).ok_or(ImgErr::NoChunk(logical))
    }

    /// Reads `len` logical bytes from copy `mirror` (0 or 1 for DUP).
    pub fn read_mirror(&self, logical: u64, len: usize, mirror: usize) -> Result<Vec<u8>, ImgErr> {
        let mut out = vec![0u8; len];
        let mut done = 0usize;
        while done < len {
            let l = logical + done as u64;
            let m = self.chunk_of(l)?.map(l).map_err(ImgErr::Chunk)?;
            let s = m.mirrors().get(mirror).or(m.mirrors().first()).unwrap();
            let n = (len - done).min(m.len as usize);
            self.file.read_exact_at(&mut out[done..done + n], s.physical).map_err(|e| ImgErr::Io(e.to_string()))?;
            done += n;
        }
        Ok(out)
    }

    pub fn read_logical(&self, logical: u64, len: usize) -> Result<Vec<u8>, ImgErr> {
        self.read_mirror(logical, len, 0)
    }

    /// The raw block at `logical` (overlay first).
    pub fn raw_block(&self, logical: u64) -> Result<Vec<u8>, ImgErr> {
        if let Some(b) = self.overlay.borrow().get(&logical) {
            return Ok(b.clone());
        }
        self.read_logical(logical, self.nodesize as usize)
    }

    pub fn expect(&self, bytenr: u64, level: u8, generation: u64) -> BlockExpect {
        BlockExpect {
            bytenr,
            level: Some(level),
            generation: Some(generation),
            owner: None,
            first_key: None,
            sectorsize: self.sectorsize,
        }
    }

    pub fn check(&self, buf: &[u8], expect: &BlockExpect) -> Result<(), TreeError> {
        check_tree_block(buf, expect, &self.fsid, self.csum_type)
    }

    pub fn root_tree(&self) -> RootPtr {
        let sb = self.sb();
        RootPtr { bytenr: sb.root(), level: sb.root_level(), generation: sb.generation() }
    }

    pub fn chunk_tree(&self) -> RootPtr {
        let sb = self.sb();
        RootPtr { bytenr: sb.chunk_root(), level: sb.chunk_root_level(), generation: sb.chunk_root_generation() }
    }

    /// The root of tree `id`, from its ROOT_ITEM in the root tree.
    pub fn tree(&self, id: u64) -> Option<RootPtr> {
        if id == objectid::ROOT_TREE {
            return Some(self.root_tree());
        }
        if id == objectid::CHUNK_TREE {
            return Some(self.chunk_tree());
        }
        let mut p = Path::new();
        let rt = self.root_tree();
        p.search(self, rt.bytenr, rt.level, rt.generation, &Key::new(id, key_type::ROOT_ITEM, 0)).unwrap();
        let item = p.item().unwrap()?;
        if item.key.objectid != id || item.key.ty != key_type::ROOT_ITEM {
            return None;
        }
        let r = Root::parse(item.data).unwrap();
        Some(RootPtr { bytenr: r.item.bytenr(), level: r.item.level(), generation: r.item.generation() })
    }

    pub fn search(&self, p: &mut Path<Rc<[u8]>>, root: RootPtr, key: &Key) -> Result<bool, SErr> {
        p.search(self, root.bytenr, root.level, root.generation, key)
    }

    /// Every item of a tree in order, by search + next_item.
    pub fn items(&self, root: RootPtr) -> Result<Vec<(Key, Vec<u8>)>, SErr> {
        self.range(root, Key::MIN, Key::MAX)
    }

    /// Items with `lo <= key <= hi`.
    pub fn range(&self, root: RootPtr, lo: Key, hi: Key) -> Result<Vec<(Key, Vec<u8>)>, SErr> {
        let mut p = Path::new();
        self.search(&mut p, root, &lo)?;
        let mut out = Vec::new();
        while let Some(item) = p.item()? {
            if item.key > hi {
                break;
            }
            out.push((item.key, item.data.to_vec()));
            if !p.next_item(self)? {
                break;
            }
        }
        Ok(out)
    }

    /// The exact item `key`, if present.
    pub fn lookup(&self, root: RootPtr, key: Key) -> Option<Vec<u8>> {
        let mut p = Path::new();
        if self.search(&mut p, root, &key).unwrap() {
            Some(p.item().unwrap().unwrap().data.to_vec())
        } else {
            None
        }
    }

    /// Every block of a tree, depth first: (bytenr, level, nritems, owner).
    /// Each is verified, with the parent's level, generation and first key.
    pub fn walk_blocks(&self, root: RootPtr, owner: u64) -> Vec<(u64, u8, u32, u64)> {
        let mut out = Vec::new();
        let mut exp = self.expect(root.bytenr, root.level, root.generation);
        exp.owner = Some(owner);
        self.walk(exp, &mut out);
        out
    }

    fn walk(&self, exp: BlockExpect, out: &mut Vec<(u64, u8, u32, u64)>) {
        let buf = self.raw_block(exp.bytenr).unwrap();
        self.check(&buf, &exp).unwrap_or_else(|e| panic!("block {}: {}", exp.bytenr, e));
        let tb = TreeBlock::new(&buf).unwrap();
        out.push((tb.bytenr(), tb.level(), tb.nritems(), tb.owner()));
        if tb.level() > 0 {
            for slot in 0..tb.nritems() as usize {
                let kp = tb.key_ptr(slot).unwrap();
                let mut child = self.expect(kp.blockptr, tb.level() - 1, kp.generation);
                child.first_key = Some(kp.key);
                child.owner = exp.owner;
                self.walk(child, out);
            }
        }
    }
}

impl TreeSource for Image {
    type Block = Rc<[u8]>;
    type Error = ImgErr;

    fn read_tree_block(&self, logical: u64, level: u8, generation: u64) -> Result<Rc<[u8]>, ImgErr> {
        self.reads.set(self.reads.get() + 1);
        let buf = self.raw_block(logical).inspect_err(|e| {
            if std::env::var_os("RBTRFS_DEBUG_READS").is_some() {
                eprintln!("read_tree_block {} level {} gen {}: {}", logical, level, generation, e);
            }
        })?;
        if self.verify.get() {
            self.check(&buf, &self.expect(logical, level, generation)).map_err(|e| {
                if std::env::var_os("RBTRFS_DEBUG_READS").is_some() {
                    eprintln!("read_tree_block {} level {} gen {}: {}", logical, level, generation, e);
                }
                ImgErr::Tree(e)
            })?;
        }
        Ok(buf.into())
    }
}

/// One item line of dump-tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpItem {
    pub key: Key,
    pub itemoff: u32,
    pub itemsize: u32,
}

/// One block header line of dump-tree: (bytenr, level, nritems).
pub type DumpBlock = (u64, u8, u32);

fn objectid_by_name(s: &str) -> Option<u64> {
    Some(match s {
        "ROOT_TREE" => objectid::ROOT_TREE,
        "EXTENT_TREE" => objectid::EXTENT_TREE,
        "CHUNK_TREE" => objectid::CHUNK_TREE,
        "DEV_TREE" => objectid::DEV_TREE,
        "FS_TREE" => objectid::FS_TREE,
        "ROOT_TREE_DIR" => objectid::ROOT_TREE_DIR,
        "CSUM_TREE" => objectid::CSUM_TREE,
        "QUOTA_TREE" => objectid::QUOTA_TREE,
        "UUID_TREE" => objectid::UUID_TREE,
        "FREE_SPACE_TREE" => objectid::FREE_SPACE_TREE,
        "BLOCK_GROUP_TREE" => objectid::BLOCK_GROUP_TREE,
        "BALANCE" => objectid::BALANCE,
        "ORPHAN" => objectid::ORPHAN,
        "TREE_LOG" => objectid::TREE_LOG,
        "TREE_LOG_FIXUP" => objectid::TREE_LOG_FIXUP,
        "TREE_RELOC" => objectid::TREE_RELOC,
        "DATA_RELOC_TREE" => objectid::DATA_RELOC_TREE,
        "EXTENT_CSUM" => objectid::EXTENT_CSUM,
        "FREE_SPACE" => objectid::FREE_SPACE,
        "FREE_INO" => objectid::FREE_INO,
        "MULTIPLE" => objectid::MULTIPLE,
        "DEV_ITEMS" => objectid::DEV_ITEMS,
        "FIRST_CHUNK_TREE" => objectid::FIRST_CHUNK_TREE,
        "DEV_STATS" => objectid::DEV_STATS,
        _ => return None,
    })
}

fn parse_num(s: &str) -> u64 {
    if s == "-1" {
        u64::MAX
    } else if let Some(h) = s.strip_prefix("0x") {
        u64::from_str_radix(h, 16).unwrap()
    } else if let Some((a, b)) = s.split_once('/') {
        (a.parse::<u64>().unwrap() << 48) | b.parse::<u64>().unwrap()
    } else {
        s.parse().unwrap_or_else(|_| panic!("not a number: {:?}", s))
    }
}

/// Parses "(OBJ TYPE OFF)" as dump-tree prints it.
pub fn parse_dump_key(s: &str) -> Key {
    let inner = s.trim().trim_start_matches('(').trim_end_matches(')');
    let t: Vec<&str> = inner.split_whitespace().collect();
    assert_eq!(t.len(), 3, "key {:?}", s);
    let objectid = objectid_by_name(t[0]).unwrap_or_else(|| parse_num(t[0]));
    let ty = (0..=255u8)
        .find(|&ty| key_type::name(ty) == Some(t[1]))
        .or_else(|| t[1].strip_prefix("UNKNOWN.").map(|n| n.parse().unwrap()))
        .unwrap_or_else(|| panic!("unknown type name {:?}", t[1]));
    Key::new(objectid, ty, parse_num(t[2]))
}

/// Runs `dump-tree -t TREE` and returns its blocks and items in print order.
pub fn dump_tree(img: &FsPath, tree: u64) -> (Vec<DumpBlock>, Vec<DumpItem>) {
    // Not common::btrfs: xattr values are printed raw, so the output need not be UTF-8.
    let out = std::process::Command::new("btrfs")
        .args(["inspect-internal", "dump-tree", "-t", &tree.to_string()])
        .arg(img)
        .output()
        .unwrap();
    assert!(out.status.success(), "dump-tree -t {}: {}", tree, String::from_utf8_lossy(&out.stderr));
    let out = String::from_utf8_lossy(&out.stdout);
    let mut blocks = Vec::new();
    let mut items = Vec::new();
    for line in out.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.first() {
            Some(&"leaf") if w.get(2) == Some(&"items") => {
                blocks.push((w[1].parse().unwrap(), 0, w[3].parse().unwrap()));
            }
            Some(&"node") if w.get(2) == Some(&"level") => {
                blocks.push((w[1].parse().unwrap(), w[3].parse().unwrap(), w[5].parse().unwrap()));
            }
            Some(&"item") if line.starts_with('\t') && w.get(2) == Some(&"key") => {
                let open = line.find('(').unwrap();
                let close = line.find(')').unwrap();
                let key = parse_dump_key(&line[open..=close]);
                let rest: Vec<&str> = line[close + 1..].split_whitespace().collect();
                assert_eq!(rest[0], "itemoff");
                items.push(DumpItem { key, itemoff: rest[1].parse().unwrap(), itemsize: rest[3].parse().unwrap() });
            }
            _ => {}
        }
    }
    (blocks, items)
}
