// SPDX-License-Identifier: GPL-2.0

//! Back references (C: `fs/btrfs/backref.c`): from a logical address to
//! the files whose extents cover it, and from an inode to its paths.
//!
//! Both work on any [`TreeSource`] and take the roots to search, so the
//! kernel runs them on the commit roots under `commit_root_sem`
//! (`BTRFS_IOC_LOGICAL_INO`) or on the current trees (`BTRFS_IOC_INO_PATHS`),
//! and the host tests run them on images.
//!
//! Data backrefs are followed as btrfs stores them: EXTENT_DATA_REF (inline
//! or keyed) names (root, inode, file offset - extent offset), so the file
//! extent items are found by searching that inode from that offset;
//! SHARED_DATA_REF names a leaf, whose owner is taken as the root (a leaf
//! shared by snapshots is reported once, for its owner).

#![forbid(unsafe_code)]

use crate::ctree::{key_type, objectid, Key, Path, SearchError, TreeBlock, TreeError, TreeSource};
use crate::extent_io::RootNode;
use crate::items::{Extent, ExtentDataRef, FileExtent, FileExtentBody, InlineRef, InodeExtrefIter, InodeRefIter, ItemError};
use crate::mem::Vec;

/// Why a backref walk failed.
#[derive(Debug)]
pub enum BackrefError<E> {
    /// Reading a block failed.
    Read(E),
    /// A block is corrupt.
    Tree(TreeError),
    /// An item is malformed.
    Item(ItemError),
    /// Out of memory.
    NoMem,
}

impl<E> From<SearchError<E>> for BackrefError<E> {
    fn from(e: SearchError<E>) -> Self {
        match e {
            SearchError::Read(e) => BackrefError::Read(e),
            SearchError::Tree(t) => BackrefError::Tree(t),
        }
    }
}

impl<E> From<TreeError> for BackrefError<E> {
    fn from(e: TreeError) -> Self {
        BackrefError::Tree(e)
    }
}

impl<E> From<ItemError> for BackrefError<E> {
    fn from(e: ItemError) -> Self {
        BackrefError::Item(e)
    }
}

impl<E> From<crate::mem::NoMem> for BackrefError<E> {
    fn from(_: crate::mem::NoMem) -> Self {
        BackrefError::NoMem
    }
}

type Res<T, E> = core::result::Result<T, BackrefError<E>>;

/// What covers a logical address in the extent tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtentAt {
    /// A data extent: its start and length.
    Data {
        /// First byte.
        bytenr: u64,
        /// Length.
        len: u64,
    },
    /// A tree block.
    TreeBlock,
    /// No extent.
    None,
}

/// Finds the extent covering `logical` (C: `extent_from_logical`).
pub fn extent_at<S: TreeSource>(src: &S, extent_root: &RootNode, logical: u64, nodesize: u32) -> Res<ExtentAt, S::Error> {
    let mut p = Path::new();
    p.search(src, extent_root.bytenr, extent_root.level, extent_root.generation, &Key::new(logical, key_type::METADATA_ITEM, u64::MAX))?;
    // The last extent item at or before `logical`.
    loop {
        if !p.prev_item(src)? {
            return Ok(ExtentAt::None);
        }
        let Some(item) = p.item()? else { return Ok(ExtentAt::None) };
        if item.key.objectid > logical {
            continue;
        }
        let len = match item.key.ty {
            key_type::EXTENT_ITEM => item.key.offset,
            key_type::METADATA_ITEM => u64::from(nodesize),
            _ => continue,
        };
        if logical >= item.key.objectid.saturating_add(len) {
            return Ok(ExtentAt::None);
        }
        let e = Extent::parse(item.key.ty, item.data)?;
        if e.item.flags() & crate::items::extent_flag::DATA == 0 {
            return Ok(ExtentAt::TreeBlock);
        }
        return Ok(ExtentAt::Data { bytenr: item.key.objectid, len });
    }
}

/// One reference to a data extent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataRef {
    /// From (root, inode, file offset - extent offset), `count` times.
    Indirect {
        /// The subvolume.
        root: u64,
        /// The inode.
        ino: u64,
        /// File offset minus the offset into the extent.
        offset: u64,
        /// References.
        count: u32,
    },
    /// From the file extent items of leaf `parent`.
    Shared {
        /// The leaf.
        parent: u64,
    },
}

fn indirect(r: &ExtentDataRef<'_>) -> DataRef {
    DataRef::Indirect { root: r.root(), ino: r.objectid(), offset: r.offset(), count: r.count() }
}

/// Every reference to the data extent `bytenr` of `len` bytes: the inline
/// ones, then the keyed EXTENT_DATA_REF and SHARED_DATA_REF items.
pub fn data_refs<S: TreeSource>(src: &S, extent_root: &RootNode, bytenr: u64, len: u64) -> Res<Vec<DataRef>, S::Error> {
    let mut out = Vec::new();
    let mut p = Path::new();
    let key = Key::new(bytenr, key_type::EXTENT_ITEM, len);
    if !p.search(src, extent_root.bytenr, extent_root.level, extent_root.generation, &key)? {
        return Ok(out);
    }
    loop {
        let Some(item) = p.item()? else { break };
        if item.key.objectid != bytenr {
            break;
        }
        match item.key.ty {
            key_type::EXTENT_ITEM => {
                for r in Extent::parse(item.key.ty, item.data)?.inline_refs {
                    match r? {
                        InlineRef::ExtentData(d) => out.push(indirect(&d))?,
                        InlineRef::SharedData { parent, .. } => out.push(DataRef::Shared { parent })?,
                        _ => {}
                    }
                }
            }
            key_type::EXTENT_DATA_REF => {
                let d = ExtentDataRef::new(item.data).ok_or(ItemError::Invalid("extent data ref"))?;
                out.push(indirect(&d))?;
            }
            key_type::SHARED_DATA_REF => out.push(DataRef::Shared { parent: item.key.offset })?,
            _ => {}
        }
        if !p.next_item(src)? {
            break;
        }
    }
    Ok(out)
}

/// A file range using a data extent: inode `ino` of tree `root`, at file
/// offset `offset` (of the logical address asked for, or of the file
/// extent item when offsets are ignored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    /// The inode.
    pub ino: u64,
    /// The file offset.
    pub offset: u64,
    /// The subvolume.
    pub root: u64,
}

/// The hit of file extent item `key`/`data` for extent `bytenr` at
/// `logical` (any offset with `None`), if it points there.
fn hit_of(key: &Key, data: &[u8], bytenr: u64, logical: Option<u64>, root: u64) -> core::result::Result<Option<(Hit, u64)>, ItemError> {
    let fe = FileExtent::parse(data)?;
    let (FileExtentBody::Regular(e) | FileExtentBody::Prealloc(e)) = fe.body else { return Ok(None) };
    if e.disk_bytenr() != bytenr {
        return Ok(None);
    }
    let ref_offset = key.offset.wrapping_sub(e.offset());
    let offset = match logical {
        None => key.offset,
        Some(l) => {
            let pos = l - bytenr;
            if pos < e.offset() || pos >= e.offset().saturating_add(e.num_bytes()) {
                return Ok(Some((Hit { ino: key.objectid, offset: u64::MAX, root }, ref_offset)));
            }
            key.offset + (pos - e.offset())
        }
    };
    Ok(Some((Hit { ino: key.objectid, offset, root }, ref_offset)))
}

/// The file extent items behind `r` that cover `logical` (all of them when
/// `logical` is `None`, C's `ignore_offset`), appended to `out`. `roots`
/// finds a subvolume's root (`None`: it is gone, nothing to report).
pub fn resolve_ref<S: TreeSource>(
    src: &S,
    r: &DataRef,
    roots: &dyn Fn(u64) -> Option<RootNode>,
    bytenr: u64,
    logical: Option<u64>,
    out: &mut Vec<Hit>,
) -> Res<(), S::Error> {
    match *r {
        DataRef::Indirect { root, ino, offset, count } => {
            let Some(rn) = roots(root) else { return Ok(()) };
            let mut p = Path::new();
            p.search(src, rn.bytenr, rn.level, rn.generation, &Key::new(ino, key_type::EXTENT_DATA, offset))?;
            // Every item with this reference's offset points here; stop
            // after `count` of them.
            let mut found = 0u32;
            while found < count {
                let Some(item) = p.item()? else { break };
                if item.key.objectid != ino || item.key.ty != key_type::EXTENT_DATA {
                    break;
                }
                if let Some((hit, ref_offset)) = hit_of(&item.key, item.data, bytenr, logical, root)? {
                    if ref_offset == offset {
                        found += 1;
                        if hit.offset != u64::MAX {
                            out.push(hit)?;
                        }
                    }
                }
                if !p.next_item(src)? {
                    break;
                }
            }
        }
        DataRef::Shared { parent } => {
            let b = src.read_tree_block(parent, 0, 0).map_err(BackrefError::Read)?;
            let tb = TreeBlock::new(b.as_ref())?;
            let owner = tb.owner();
            for slot in 0..tb.nritems() as usize {
                let item = tb.item(slot)?;
                if item.key.ty != key_type::EXTENT_DATA {
                    continue;
                }
                if let Some((hit, _)) = hit_of(&item.key, item.data, bytenr, logical, owner)? {
                    if hit.offset != u64::MAX {
                        out.push(hit)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Every file range using the data at `logical` (C:
/// `iterate_inodes_from_logical`); `ignore_offset` reports every item
/// pointing into the extent, at its own file offset. `Ok(None)` if no data
/// extent covers `logical`.
pub fn inodes_from_logical<S: TreeSource>(
    src: &S,
    extent_root: &RootNode,
    roots: &dyn Fn(u64) -> Option<RootNode>,
    logical: u64,
    nodesize: u32,
    ignore_offset: bool,
) -> Res<Option<Vec<Hit>>, S::Error> {
    let ExtentAt::Data { bytenr, len } = extent_at(src, extent_root, logical, nodesize)? else { return Ok(None) };
    let mut out = Vec::new();
    for r in data_refs(src, extent_root, bytenr, len)?.iter() {
        resolve_ref(src, r, roots, bytenr, (!ignore_offset).then_some(logical), &mut out)?;
    }
    Ok(Some(out))
}

/// Deepest directory nesting followed before giving up (a loop in
/// corrupt INODE_REFs).
const MAX_DEPTH: usize = 4096;

/// The path of directory `dir` from the subvolume's top directory, each
/// component followed by `/` (C: `btrfs_search_path_in_tree`); empty for
/// the top directory. `None` if a directory on the way has no INODE_REF.
pub fn dir_path<S: TreeSource>(src: &S, root: &RootNode, dir: u64) -> Res<Option<Vec<u8>>, S::Error> {
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut cur = dir;
    let mut p = Path::new();
    while cur != objectid::FIRST_FREE {
        if parts.len() > MAX_DEPTH {
            return Err(BackrefError::Item(ItemError::Invalid("inode ref loop")));
        }
        p.search(src, root.bytenr, root.level, root.generation, &Key::new(cur, key_type::INODE_REF, 0))?;
        let Some(item) = p.item()? else { return Ok(None) };
        if item.key.objectid != cur || item.key.ty != key_type::INODE_REF {
            return Ok(None);
        }
        let Some(r) = InodeRefIter::new(item.data).next() else { return Ok(None) };
        let mut name = Vec::new();
        name.extend_from_slice(r?.name)?;
        parts.push(name)?;
        if item.key.offset == cur {
            break;
        }
        cur = item.key.offset;
    }
    let mut out = Vec::new();
    for part in parts.iter().rev() {
        out.extend_from_slice(part)?;
        out.push(b'/')?;
    }
    Ok(Some(out))
}

/// Every path of inode `ino` from the subvolume's top directory, without
/// a leading `/` (C: `paths_from_inode`): one per name in INODE_REF and
/// INODE_EXTREF items.
pub fn inode_paths<S: TreeSource>(src: &S, root: &RootNode, ino: u64) -> Res<Vec<Vec<u8>>, S::Error> {
    let mut names: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut p = Path::new();
    p.search(src, root.bytenr, root.level, root.generation, &Key::new(ino, key_type::INODE_REF, 0))?;
    loop {
        let Some(item) = p.item()? else { break };
        if item.key.objectid != ino || (item.key.ty != key_type::INODE_REF && item.key.ty != key_type::INODE_EXTREF) {
            break;
        }
        if item.key.ty == key_type::INODE_REF {
            for r in InodeRefIter::new(item.data) {
                let mut n = Vec::new();
                n.extend_from_slice(r?.name)?;
                names.push((item.key.offset, n))?;
            }
        } else {
            for r in InodeExtrefIter::new(item.data) {
                let r = r?;
                let mut n = Vec::new();
                n.extend_from_slice(r.name)?;
                names.push((r.parent, n))?;
            }
        }
        if !p.next_item(src)? {
            break;
        }
    }
    let mut out = Vec::new();
    for (parent, name) in names.iter() {
        if *parent == ino {
            // The top directory's own ref ("..").
            continue;
        }
        let Some(mut path) = dir_path(src, root, *parent)? else { continue };
        path.extend_from_slice(name)?;
        out.push(path)?;
    }
    Ok(out)
}
