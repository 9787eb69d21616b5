// SPDX-License-Identifier: GPL-2.0

//! Item encoders and in-place editors: the write side of [`crate::items`].
//!
//! Fixed-size items are written through the `*Mut` views that
//! `disk_struct!` declares next to each read view (for example
//! [`InodeItemMut`]), or built whole from a plain struct of their fields
//! ([`InodeFields`], [`RootFields`], [`DevItemFields`], ...), each of which
//! also decodes from the read view so that decode-then-encode reproduces
//! the bytes.
//!
//! Items packing several variable-length entries (dir items, inode refs,
//! inline extent backrefs) get three kinds of helpers, shaped for a caller
//! that edits a leaf in place the way the C code does:
//! - `encode_*` writes one entry into a slice (for example the bytes a
//!   leaf item was just extended by) and returns its length; `push_*`
//!   appends it to a [`Vec`];
//! - `find_*` returns the byte range of one entry in an item's data;
//! - [`remove_range`] / [`open_gap`] move the rest of an item over a removed
//!   entry or out of the way of a new one, and [`vec_remove`] /
//!   [`vec_insert`] do the same on a [`Vec`].
//!
//! Extent backrefs follow `extent-tree.c`: inline refs are ordered by type
//! (TREE_BLOCK_REF, EXTENT_DATA_REF, SHARED_BLOCK_REF, SHARED_DATA_REF);
//! within a type by decreasing root/parent, or for EXTENT_DATA_REF by
//! decreasing [`hash_extent_data_ref`]; EXTENT_OWNER_REFs are skipped.
//!
//! Errors: `EUCLEAN` for malformed existing data, `EOVERFLOW` for a
//! destination buffer too small, `ENAMETOOLONG`/`E2BIG` for names and
//! values that do not fit their length fields, `EINVAL` for other bad
//! arguments. Nothing here panics on bad input.
//!
//! `core` only: the same source builds into the module and the host tests.

#![forbid(unsafe_code)]

use crate::checksum::crc32c_raw;
use crate::ctree::{key_type, objectid, Key};
use crate::error::{Result, E2BIG, EEXIST, EINVAL, ENAMETOOLONG, ENOENT, EOVERFLOW, EUCLEAN};
use crate::items::{
    extent_flag, file_extent_type, file_type, DirEntry, DirItem, DirItemMut, ExtentDataRef, ExtentDataRefMut,
    ExtentItem, ExtentItemMut, FileExtentHeader, FileExtentHeaderMut, FileExtentItem, FileExtentItemMut, InlineRef,
    InodeExtref, InodeExtrefHead, InodeExtrefHeadMut, InodeItem, InodeItemMut, InodeRef, InodeRefHead,
    InodeRefHeadMut, Packed, Timespec, TreeBlockInfo, TreeBlockInfoMut, NAME_LEN,
};
use crate::mem::Vec;
use core::ops::Range;

#[path = "items_write_fixed.rs"]
mod fixed;
pub use fixed::*;

// ---------------------------------------------------------------------------
// Byte helpers
// ---------------------------------------------------------------------------

/// `buf[at..at + n]`, or `EOVERFLOW` if `buf` is too short.
pub(crate) fn slot(buf: &mut [u8], at: usize, n: usize) -> Result<&mut [u8]> {
    at.checked_add(n).and_then(|end| buf.get_mut(at..end)).ok_or(EOVERFLOW)
}

/// Copies `src` to `buf[at..]`.
fn put(buf: &mut [u8], at: usize, src: &[u8]) -> Result<()> {
    slot(buf, at, src.len())?.copy_from_slice(src);
    Ok(())
}

/// Removes `r` from the data in `buf`: moves `buf[r.end..]` down to
/// `r.start` and returns the new length (`buf.len() - r.len()`); the bytes
/// after it are stale, the caller truncates the item. `EINVAL` if `r` is
/// not inside `buf`.
pub fn remove_range(buf: &mut [u8], r: Range<usize>) -> Result<usize> {
    if r.start > r.end || r.end > buf.len() {
        return Err(EINVAL);
    }
    buf.copy_within(r.end.., r.start);
    Ok(buf.len() - (r.end - r.start))
}

/// Makes room for `n` bytes at `at` in an item that was just extended by
/// `n` bytes at its end: moves `buf[at..len - n]` up to `at + n`. The
/// bytes `buf[at..at + n]` are then free for the new entry. `EINVAL` if
/// `at > len - n`.
pub fn open_gap(buf: &mut [u8], at: usize, n: usize) -> Result<()> {
    let old_len = buf.len().checked_sub(n).ok_or(EINVAL)?;
    if at > old_len {
        return Err(EINVAL);
    }
    buf.copy_within(at..old_len, at + n);
    Ok(())
}

/// Inserts `bytes` at `at` in `v`.
pub fn vec_insert(v: &mut Vec<u8>, at: usize, bytes: &[u8]) -> Result<()> {
    if at > v.len() {
        return Err(EINVAL);
    }
    v.resize(v.len() + bytes.len(), 0)?;
    open_gap(v, at, bytes.len())?;
    put(v, at, bytes)
}

/// Removes the bytes `r` from `v`.
pub fn vec_remove(v: &mut Vec<u8>, r: Range<usize>) -> Result<()> {
    let n = remove_range(v, r)?;
    v.truncate(n);
    Ok(())
}

/// Appends `n` zero bytes to `out` and returns their slice.
pub(crate) fn grow(out: &mut Vec<u8>, n: usize) -> Result<&mut [u8]> {
    let at = out.len();
    out.resize(at.checked_add(n).ok_or(EOVERFLOW)?, 0)?;
    slot(out, at, n)
}

/// The entry of a packed item matching `pred`, with its byte range.
fn find_packed<'a, E: Packed<'a>>(
    data: &'a [u8],
    mut pred: impl FnMut(&E) -> bool,
) -> Result<Option<(Range<usize>, E)>> {
    let mut rest = data;
    while !rest.is_empty() {
        let start = data.len() - rest.len();
        let e = E::decode(&mut rest).map_err(|_| EUCLEAN)?;
        if pred(&e) {
            return Ok(Some((start..data.len() - rest.len(), e)));
        }
    }
    Ok(None)
}

/// Checks a name against `BTRFS_NAME_LEN`.
fn check_name(name: &[u8]) -> Result<u16> {
    if name.is_empty() {
        return Err(EINVAL);
    }
    if name.len() > NAME_LEN {
        return Err(ENAMETOOLONG);
    }
    Ok(name.len() as u16)
}

// ---------------------------------------------------------------------------
// Inode items
// ---------------------------------------------------------------------------

/// Every field of an INODE_ITEM (`struct btrfs_inode_item`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InodeFields {
    /// NFS generation number.
    pub generation: u64,
    /// Transaction that last changed the inode.
    pub transid: u64,
    /// File size.
    pub size: u64,
    /// Bytes allocated.
    pub nbytes: u64,
    /// Allocation hint.
    pub block_group: u64,
    /// Link count.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Type and permission bits.
    pub mode: u32,
    /// Device number.
    pub rdev: u64,
    /// Inode flags.
    pub flags: u64,
    /// NFS change counter.
    pub sequence: u64,
    /// Access time.
    pub atime: Timespec,
    /// Change time.
    pub ctime: Timespec,
    /// Modification time.
    pub mtime: Timespec,
    /// Creation time.
    pub otime: Timespec,
}

impl InodeFields {
    /// Copies the fields out of a view.
    pub fn from_view(v: &InodeItem<'_>) -> Self {
        InodeFields {
            generation: v.generation(),
            transid: v.transid(),
            size: v.size(),
            nbytes: v.nbytes(),
            block_group: v.block_group(),
            nlink: v.nlink(),
            uid: v.uid(),
            gid: v.gid(),
            mode: v.mode(),
            rdev: v.rdev(),
            flags: v.flags(),
            sequence: v.sequence(),
            atime: v.atime(),
            ctime: v.ctime(),
            mtime: v.mtime(),
            otime: v.otime(),
        }
    }

    /// Decodes an INODE_ITEM's data (`EUCLEAN` if shorter than 160 bytes).
    pub fn decode(data: &[u8]) -> Result<Self> {
        InodeItem::new(data).map(|v| Self::from_view(&v)).ok_or(EUCLEAN)
    }

    /// Writes every field through `m`, leaving the reserved bytes alone.
    pub fn write_to(&self, m: &mut InodeItemMut<'_>) {
        m.set_generation(self.generation);
        m.set_transid(self.transid);
        m.set_size(self.size);
        m.set_nbytes(self.nbytes);
        m.set_block_group(self.block_group);
        m.set_nlink(self.nlink);
        m.set_uid(self.uid);
        m.set_gid(self.gid);
        m.set_mode(self.mode);
        m.set_rdev(self.rdev);
        m.set_flags(self.flags);
        m.set_sequence(self.sequence);
        m.set_atime(self.atime);
        m.set_ctime(self.ctime);
        m.set_mtime(self.mtime);
        m.set_otime(self.otime);
    }

    /// Writes the whole item (reserved bytes zeroed) to `buf[..160]`.
    pub fn encode_into(&self, buf: &mut [u8]) -> Result<()> {
        let b = slot(buf, 0, InodeItem::SIZE)?;
        b.fill(0);
        let mut m = InodeItemMut::new(b).ok_or(EOVERFLOW)?;
        self.write_to(&mut m);
        Ok(())
    }

    /// The item's 160 bytes.
    pub fn encode(&self) -> [u8; InodeItem::SIZE] {
        let mut b = [0u8; InodeItem::SIZE];
        if let Some(mut m) = InodeItemMut::new(&mut b) {
            self.write_to(&mut m);
        }
        b
    }
}

impl InodeItemMut<'_> {
    /// Sets the access time.
    pub fn set_atime(&mut self, t: Timespec) {
        self.set_atime_sec(t.sec);
        self.set_atime_nsec(t.nsec);
    }

    /// Sets the change time.
    pub fn set_ctime(&mut self, t: Timespec) {
        self.set_ctime_sec(t.sec);
        self.set_ctime_nsec(t.nsec);
    }

    /// Sets the modification time.
    pub fn set_mtime(&mut self, t: Timespec) {
        self.set_mtime_sec(t.sec);
        self.set_mtime_nsec(t.nsec);
    }

    /// Sets the creation time.
    pub fn set_otime(&mut self, t: Timespec) {
        self.set_otime_sec(t.sec);
        self.set_otime_nsec(t.nsec);
    }
}

// ---------------------------------------------------------------------------
// Directory entries and xattrs
// ---------------------------------------------------------------------------

/// Key of the DIR_ITEM holding `name` in directory `dir`.
pub fn dir_item_key(dir: u64, name: &[u8]) -> Key {
    Key::new(dir, key_type::DIR_ITEM, u64::from(crate::checksum::name_hash(name)))
}

/// Key of the DIR_INDEX entry `index` of directory `dir`.
pub fn dir_index_key(dir: u64, index: u64) -> Key {
    Key::new(dir, key_type::DIR_INDEX, index)
}

/// Key of the XATTR_ITEM holding attribute `name` of inode `ino`.
pub fn xattr_key(ino: u64, name: &[u8]) -> Key {
    Key::new(ino, key_type::XATTR_ITEM, u64::from(crate::checksum::name_hash(name)))
}

/// Bytes one dir item / dir index / xattr entry takes.
pub fn dir_entry_size(name_len: usize, data_len: usize) -> usize {
    DirItem::SIZE + name_len + data_len
}

/// One directory entry or xattr to encode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewDirEntry<'n> {
    /// The target: (ino, INODE_ITEM, 0), (subvol, ROOT_ITEM, -1), or for
    /// xattrs all zero.
    pub location: Key,
    /// Transaction creating the entry.
    pub transid: u64,
    /// [`file_type`] of the target ([`file_type::XATTR`] for xattrs).
    pub ty: u8,
    /// The name (1..=255 bytes).
    pub name: &'n [u8],
    /// The data: the xattr value, empty for directory entries.
    pub data: &'n [u8],
}

impl NewDirEntry<'_> {
    /// Bytes the entry takes.
    pub fn size(&self) -> usize {
        dir_entry_size(self.name.len(), self.data.len())
    }

    /// Writes the entry to the start of `buf`; returns its size.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize> {
        let name_len = check_name(self.name)?;
        let data_len = u16::try_from(self.data.len()).map_err(|_| E2BIG)?;
        if self.ty & !file_type::ENCRYPTED >= file_type::MAX {
            return Err(EINVAL);
        }
        let size = self.size();
        let b = slot(buf, 0, size)?;
        let (head, tail) = b.split_at_mut(DirItem::SIZE);
        let mut m = DirItemMut::new(head).ok_or(EOVERFLOW)?;
        m.set_location(&self.location);
        m.set_transid(self.transid);
        m.set_data_len(data_len);
        m.set_name_len(name_len);
        m.set_ty(self.ty);
        put(tail, 0, self.name)?;
        put(tail, self.name.len(), self.data)?;
        Ok(size)
    }

    /// Appends the entry to `out` (an item's data being built).
    pub fn push(&self, out: &mut Vec<u8>) -> Result<()> {
        let at = out.len();
        let r = grow(out, self.size()).and_then(|b| self.encode(b));
        if r.is_err() {
            out.truncate(at);
        }
        r.map(|_| ())
    }
}

impl DirItemMut<'_> {
    /// Sets the target's key.
    pub fn set_location(&mut self, k: &Key) {
        self.set_location_raw(&k.to_disk());
    }
}

/// The entry named `name` in a DIR_ITEM / DIR_INDEX / XATTR_ITEM item's
/// data, with its byte range (`btrfs_match_dir_item_name`). `EUCLEAN` if
/// the item is malformed before the match.
pub fn find_dir_entry<'a>(item: &'a [u8], name: &[u8]) -> Result<Option<(Range<usize>, DirEntry<'a>)>> {
    find_packed(item, |e: &DirEntry<'_>| e.name == name)
}

/// The byte range to remove from a dir item to delete the entry `name`
/// (`btrfs_delete_one_dir_name`): if it is the whole item, delete the item.
pub fn dir_entry_range(item: &[u8], name: &[u8]) -> Result<Option<Range<usize>>> {
    Ok(find_dir_entry(item, name)?.map(|(r, _)| r))
}

// ---------------------------------------------------------------------------
// Inode refs
// ---------------------------------------------------------------------------

/// Key of the INODE_REF item of inode `ino` in directory `parent`.
pub fn inode_ref_key(ino: u64, parent: u64) -> Key {
    Key::new(ino, key_type::INODE_REF, parent)
}

/// `btrfs_extref_hash`: the key offset of an INODE_EXTREF item.
pub fn extref_hash(parent: u64, name: &[u8]) -> u64 {
    // The C passes the u64 parent as crc32c's u32 seed: it is truncated.
    u64::from(crc32c_raw(parent as u32, name))
}

/// Key of the INODE_EXTREF item holding (`parent`, `name`) of inode `ino`.
pub fn inode_extref_key(ino: u64, parent: u64, name: &[u8]) -> Key {
    Key::new(ino, key_type::INODE_EXTREF, extref_hash(parent, name))
}

/// Bytes one INODE_REF entry takes.
pub fn inode_ref_size(name_len: usize) -> usize {
    InodeRefHead::SIZE + name_len
}

/// Bytes one INODE_EXTREF entry takes.
pub fn inode_extref_size(name_len: usize) -> usize {
    InodeExtrefHead::SIZE + name_len
}

/// Writes one INODE_REF entry (index, name) to the start of `buf`;
/// returns its size.
pub fn encode_inode_ref(buf: &mut [u8], index: u64, name: &[u8]) -> Result<usize> {
    let name_len = check_name(name)?;
    let size = inode_ref_size(name.len());
    let b = slot(buf, 0, size)?;
    let mut m = InodeRefHeadMut::new(b).ok_or(EOVERFLOW)?;
    m.set_index(index);
    m.set_name_len(name_len);
    put(b, InodeRefHead::SIZE, name)?;
    Ok(size)
}

/// Appends one INODE_REF entry to `out`.
pub fn push_inode_ref(out: &mut Vec<u8>, index: u64, name: &[u8]) -> Result<()> {
    let at = out.len();
    let r = grow(out, inode_ref_size(name.len())).and_then(|b| encode_inode_ref(b, index, name));
    if r.is_err() {
        out.truncate(at);
    }
    r.map(|_| ())
}

/// The entry named `name` in an INODE_REF item's data, with its byte range.
pub fn find_inode_ref<'a>(item: &'a [u8], name: &[u8]) -> Result<Option<(Range<usize>, InodeRef<'a>)>> {
    find_packed(item, |e: &InodeRef<'_>| e.name == name)
}

/// Writes one INODE_EXTREF entry (parent, index, name) to the start of
/// `buf`; returns its size.
pub fn encode_inode_extref(buf: &mut [u8], parent: u64, index: u64, name: &[u8]) -> Result<usize> {
    let name_len = check_name(name)?;
    let size = inode_extref_size(name.len());
    let b = slot(buf, 0, size)?;
    let mut m = InodeExtrefHeadMut::new(b).ok_or(EOVERFLOW)?;
    m.set_parent_objectid(parent);
    m.set_index(index);
    m.set_name_len(name_len);
    put(b, InodeExtrefHead::SIZE, name)?;
    Ok(size)
}

/// Appends one INODE_EXTREF entry to `out`.
pub fn push_inode_extref(out: &mut Vec<u8>, parent: u64, index: u64, name: &[u8]) -> Result<()> {
    let at = out.len();
    let r = grow(out, inode_extref_size(name.len())).and_then(|b| encode_inode_extref(b, parent, index, name));
    if r.is_err() {
        out.truncate(at);
    }
    r.map(|_| ())
}

/// The entry (`parent`, `name`) in an INODE_EXTREF item's data, with its
/// byte range.
pub fn find_inode_extref<'a>(
    item: &'a [u8],
    parent: u64,
    name: &[u8],
) -> Result<Option<(Range<usize>, InodeExtref<'a>)>> {
    find_packed(item, |e: &InodeExtref<'_>| e.parent == parent && e.name == name)
}

// ---------------------------------------------------------------------------
// File extents
// ---------------------------------------------------------------------------

/// Bytes of an inline EXTENT_DATA item holding `data_len` bytes.
pub fn inline_extent_size(data_len: usize) -> usize {
    FileExtentHeader::SIZE + data_len
}

/// Writes an inline EXTENT_DATA item (encryption and other_encoding 0) to
/// the start of `buf`; `data` is stored as is (already compressed if
/// `compression` says so) and `ram_bytes` is its decoded size. Returns the
/// item size.
pub fn encode_inline_extent(
    buf: &mut [u8],
    generation: u64,
    ram_bytes: u64,
    compression: u8,
    data: &[u8],
) -> Result<usize> {
    let size = inline_extent_size(data.len());
    let b = slot(buf, 0, size)?;
    let mut m = FileExtentHeaderMut::new(b).ok_or(EOVERFLOW)?;
    m.set_generation(generation);
    m.set_ram_bytes(ram_bytes);
    m.set_compression(compression);
    m.set_encryption(0);
    m.set_other_encoding(0);
    m.set_ty(file_extent_type::INLINE);
    put(b, FileExtentHeader::SIZE, data)?;
    Ok(size)
}

/// Appends an inline EXTENT_DATA item to `out` (see [`encode_inline_extent`]).
pub fn push_inline_extent(
    out: &mut Vec<u8>,
    generation: u64,
    ram_bytes: u64,
    compression: u8,
    data: &[u8],
) -> Result<()> {
    let at = out.len();
    let r = grow(out, inline_extent_size(data.len()))
        .and_then(|b| encode_inline_extent(b, generation, ram_bytes, compression, data));
    if r.is_err() {
        out.truncate(at);
    }
    r.map(|_| ())
}

/// A regular or preallocated EXTENT_DATA item (53 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegularExtent {
    /// Transaction that created the extent.
    pub generation: u64,
    /// Decoded size of the whole disk extent.
    pub ram_bytes: u64,
    /// Compression type.
    pub compression: u8,
    /// A preallocated extent (reads as zeroes) rather than a regular one.
    pub prealloc: bool,
    /// Logical start of the disk extent; 0 for a hole.
    pub disk_bytenr: u64,
    /// Size of the disk extent.
    pub disk_num_bytes: u64,
    /// Offset into the decoded extent where this file range starts.
    pub offset: u64,
    /// Bytes of the file covered.
    pub num_bytes: u64,
}

impl RegularExtent {
    /// Decodes a regular or prealloc EXTENT_DATA item (`EUCLEAN` for an
    /// inline one, an unknown type, or a size other than 53).
    pub fn decode(data: &[u8]) -> Result<Self> {
        if data.len() != FileExtentItem::SIZE {
            return Err(EUCLEAN);
        }
        let v = FileExtentItem::new(data).ok_or(EUCLEAN)?;
        let prealloc = match v.ty() {
            file_extent_type::REG => false,
            file_extent_type::PREALLOC => true,
            _ => return Err(EUCLEAN),
        };
        Ok(RegularExtent {
            generation: v.generation(),
            ram_bytes: v.ram_bytes(),
            compression: v.compression(),
            prealloc,
            disk_bytenr: v.disk_bytenr(),
            disk_num_bytes: v.disk_num_bytes(),
            offset: v.offset(),
            num_bytes: v.num_bytes(),
        })
    }

    /// Writes every field through `m` (encryption and other_encoding 0).
    pub fn write_to(&self, m: &mut FileExtentItemMut<'_>) {
        m.set_generation(self.generation);
        m.set_ram_bytes(self.ram_bytes);
        m.set_compression(self.compression);
        m.set_encryption(0);
        m.set_other_encoding(0);
        m.set_ty(if self.prealloc { file_extent_type::PREALLOC } else { file_extent_type::REG });
        m.set_disk_bytenr(self.disk_bytenr);
        m.set_disk_num_bytes(self.disk_num_bytes);
        m.set_offset(self.offset);
        m.set_num_bytes(self.num_bytes);
    }

    /// The item's 53 bytes.
    pub fn encode(&self) -> [u8; FileExtentItem::SIZE] {
        let mut b = [0u8; FileExtentItem::SIZE];
        if let Some(mut m) = FileExtentItemMut::new(&mut b) {
            self.write_to(&mut m);
        }
        b
    }
}

// ---------------------------------------------------------------------------
// Extent backrefs
// ---------------------------------------------------------------------------

/// `hash_extent_data_ref`: the key offset of a keyed EXTENT_DATA_REF item
/// and the order of inline ones.
pub fn hash_extent_data_ref(root: u64, owner: u64, offset: u64) -> u64 {
    let high = crc32c_raw(!0, &root.to_le_bytes());
    let low = crc32c_raw(crc32c_raw(!0, &owner.to_le_bytes()), &offset.to_le_bytes());
    (u64::from(high) << 31) ^ u64::from(low)
}

/// `btrfs_extent_inline_ref_size`: bytes an inline ref of type `ty` takes
/// (type byte included), `None` for an unknown type.
pub fn inline_ref_size(ty: u8) -> Option<usize> {
    match ty {
        key_type::TREE_BLOCK_REF | key_type::SHARED_BLOCK_REF | key_type::EXTENT_OWNER_REF => Some(9),
        key_type::SHARED_DATA_REF => Some(13),
        key_type::EXTENT_DATA_REF => Some(1 + ExtentDataRef::SIZE),
        _ => None,
    }
}

/// Who holds a reference to an extent: what a backref records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backref {
    /// Tree block referenced by the tree `root` (TREE_BLOCK_REF).
    TreeBlock {
        /// The tree.
        root: u64,
    },
    /// Tree block referenced by the block `parent` (SHARED_BLOCK_REF).
    SharedBlock {
        /// The parent block.
        parent: u64,
    },
    /// Data referenced by a file (EXTENT_DATA_REF).
    ExtentData {
        /// The subvolume.
        root: u64,
        /// The inode.
        objectid: u64,
        /// File offset minus the offset into the extent.
        offset: u64,
    },
    /// Data referenced by the leaf `parent` (SHARED_DATA_REF).
    SharedData {
        /// The parent leaf.
        parent: u64,
    },
}

impl Backref {
    /// The backref of the C's (parent, root, owner, offset) arguments
    /// (`extent_ref_type`): owner below 256 is a tree level (a tree
    /// block), otherwise an inode; a nonzero parent makes it shared.
    pub fn new(parent: u64, root: u64, owner: u64, offset: u64) -> Self {
        match (owner < objectid::FIRST_FREE, parent > 0) {
            (true, true) => Backref::SharedBlock { parent },
            (true, false) => Backref::TreeBlock { root },
            (false, true) => Backref::SharedData { parent },
            (false, false) => Backref::ExtentData { root, objectid: owner, offset },
        }
    }

    /// Its inline ref / key type.
    pub fn ty(&self) -> u8 {
        match self {
            Backref::TreeBlock { .. } => key_type::TREE_BLOCK_REF,
            Backref::SharedBlock { .. } => key_type::SHARED_BLOCK_REF,
            Backref::ExtentData { .. } => key_type::EXTENT_DATA_REF,
            Backref::SharedData { .. } => key_type::SHARED_DATA_REF,
        }
    }

    /// Whether it references data (not a tree block).
    pub fn is_data(&self) -> bool {
        matches!(self, Backref::ExtentData { .. } | Backref::SharedData { .. })
    }

    /// Bytes of its inline form.
    pub fn inline_size(&self) -> usize {
        match self {
            Backref::TreeBlock { .. } | Backref::SharedBlock { .. } => 9,
            Backref::ExtentData { .. } => 1 + ExtentDataRef::SIZE,
            Backref::SharedData { .. } => 13,
        }
    }

    /// The value inline refs of its type are ordered by (decreasing):
    /// root, parent, or the data ref hash.
    pub fn order_value(&self) -> u64 {
        match *self {
            Backref::TreeBlock { root } => root,
            Backref::SharedBlock { parent } | Backref::SharedData { parent } => parent,
            Backref::ExtentData { root, objectid, offset } => hash_extent_data_ref(root, objectid, offset),
        }
    }

    /// The backref an inline ref records (`None` for an owner ref).
    pub fn from_inline(r: &InlineRef<'_>) -> Option<Self> {
        Some(match *r {
            InlineRef::TreeBlock { root } => Backref::TreeBlock { root },
            InlineRef::SharedBlock { parent } => Backref::SharedBlock { parent },
            InlineRef::ExtentData(d) => {
                Backref::ExtentData { root: d.root(), objectid: d.objectid(), offset: d.offset() }
            }
            InlineRef::SharedData { parent, .. } => Backref::SharedData { parent },
            InlineRef::Owner { .. } => return None,
        })
    }

    /// Writes its inline form holding `count` references (ignored for
    /// tree blocks, which hold one) to the start of `buf`; returns its size.
    pub fn encode_inline(&self, buf: &mut [u8], count: u32) -> Result<usize> {
        let size = self.inline_size();
        let b = slot(buf, 0, size)?;
        b[0] = self.ty();
        match *self {
            Backref::TreeBlock { root: v } | Backref::SharedBlock { parent: v } => put(b, 1, &v.to_le_bytes())?,
            Backref::SharedData { parent } => {
                put(b, 1, &parent.to_le_bytes())?;
                put(b, 9, &count.to_le_bytes())?;
            }
            Backref::ExtentData { .. } => {
                self.encode_keyed(&mut b[1..], count)?;
            }
        }
        Ok(size)
    }

    /// Appends its inline form to `out`.
    pub fn push_inline(&self, out: &mut Vec<u8>, count: u32) -> Result<()> {
        let at = out.len();
        let r = grow(out, self.inline_size()).and_then(|b| self.encode_inline(b, count));
        if r.is_err() {
            out.truncate(at);
        }
        r.map(|_| ())
    }

    /// Key of its keyed (standalone item) form for the extent at `bytenr`.
    pub fn key(&self, bytenr: u64) -> Key {
        let offset = match *self {
            Backref::TreeBlock { root } => root,
            Backref::SharedBlock { parent } | Backref::SharedData { parent } => parent,
            Backref::ExtentData { root, objectid, offset } => hash_extent_data_ref(root, objectid, offset),
        };
        Key::new(bytenr, self.ty(), offset)
    }

    /// Size of its keyed item's data: 0 for tree block refs, 28 for
    /// EXTENT_DATA_REF (`struct btrfs_extent_data_ref`), 4 for
    /// SHARED_DATA_REF (the count).
    pub fn keyed_size(&self) -> usize {
        match self {
            Backref::TreeBlock { .. } | Backref::SharedBlock { .. } => 0,
            Backref::ExtentData { .. } => ExtentDataRef::SIZE,
            Backref::SharedData { .. } => 4,
        }
    }

    /// Writes its keyed item's data with `count` references to the start
    /// of `buf`; returns its size.
    pub fn encode_keyed(&self, buf: &mut [u8], count: u32) -> Result<usize> {
        let size = self.keyed_size();
        let b = slot(buf, 0, size)?;
        match *self {
            Backref::TreeBlock { .. } | Backref::SharedBlock { .. } => {}
            Backref::SharedData { .. } => put(b, 0, &count.to_le_bytes())?,
            Backref::ExtentData { root, objectid, offset } => {
                let mut m = ExtentDataRefMut::new(b).ok_or(EOVERFLOW)?;
                m.set_root(root);
                m.set_objectid(objectid);
                m.set_offset(offset);
                m.set_count(count);
            }
        }
        Ok(size)
    }
}

/// Where the inline refs start in the data of an extent item with key
/// type `key_ty`: after the [`ExtentItem`], and after the
/// [`TreeBlockInfo`] of a non-skinny tree block. `EUCLEAN` if too short.
pub fn inline_refs_offset(key_ty: u8, data: &[u8]) -> Result<usize> {
    let item = ExtentItem::new(data).ok_or(EUCLEAN)?;
    let off = if key_ty == key_type::EXTENT_ITEM && item.flags() & extent_flag::TREE_BLOCK != 0 {
        ExtentItem::SIZE + TreeBlockInfo::SIZE
    } else {
        ExtentItem::SIZE
    };
    if data.len() < off {
        return Err(EUCLEAN);
    }
    Ok(off)
}

/// The inline refs of an extent item with their byte ranges in the item's
/// data. Yields one `EUCLEAN` and stops at the first malformed ref.
#[derive(Clone, Debug)]
pub struct InlineRefSpans<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> InlineRefSpans<'a> {
    /// The inline refs of an extent item's data with key type `key_ty`.
    pub fn new(key_ty: u8, data: &'a [u8]) -> Result<Self> {
        Ok(InlineRefSpans { data, pos: inline_refs_offset(key_ty, data)? })
    }
}

impl<'a> Iterator for InlineRefSpans<'a> {
    type Item = Result<(Range<usize>, InlineRef<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut rest = self.data.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        let start = self.pos;
        match InlineRef::decode(&mut rest) {
            Ok(r) => {
                self.pos = self.data.len() - rest.len();
                Some(Ok((start..self.pos, r)))
            }
            Err(_) => {
                self.pos = self.data.len();
                Some(Err(EUCLEAN))
            }
        }
    }
}

/// The references an inline ref holds: its count for data refs, 1 for
/// tree block refs, 0 for owner refs.
pub fn inline_ref_count(r: &InlineRef<'_>) -> u64 {
    match r {
        InlineRef::TreeBlock { .. } | InlineRef::SharedBlock { .. } => 1,
        InlineRef::ExtentData(d) => d.count().into(),
        InlineRef::SharedData { count, .. } => (*count).into(),
        InlineRef::Owner { .. } => 0,
    }
}

/// What [`lookup_inline_ref`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InlineLookup {
    /// The ref exists at `range` of the item's data, holding `count`
    /// references.
    Found {
        /// Its bytes in the item's data.
        range: Range<usize>,
        /// References it holds (1 for tree block refs).
        count: u64,
    },
    /// The ref is absent; a new one belongs at this offset.
    Insert(usize),
}

/// `lookup_inline_extent_backref` on one extent item's data (key type
/// `key_ty`): finds `want` among the inline refs, or where it must be
/// inserted to keep btrfs's order. `EUCLEAN` for malformed data or a ref
/// of the wrong kind (a data ref in a tree block or the reverse).
pub fn lookup_inline_ref(key_ty: u8, data: &[u8], want: &Backref) -> Result<InlineLookup> {
    let want_ty = want.ty();
    let want_val = want.order_value();
    let mut end = inline_refs_offset(key_ty, data)?;
    for r in InlineRefSpans::new(key_ty, data)? {
        let (range, r) = r?;
        let Some(have) = Backref::from_inline(&r) else {
            end = range.end;
            continue;
        };
        if have.is_data() != want.is_data() {
            return Err(EUCLEAN);
        }
        if let Backref::SharedBlock { parent: 0 } | Backref::SharedData { parent: 0 } = have {
            return Err(EUCLEAN);
        }
        let ty = have.ty();
        if want_ty < ty {
            return Ok(InlineLookup::Insert(range.start));
        }
        if want_ty == ty {
            if have == *want {
                return Ok(InlineLookup::Found { count: inline_ref_count(&r), range });
            }
            if have.order_value() < want_val {
                return Ok(InlineLookup::Insert(range.start));
            }
        }
        end = range.end;
    }
    Ok(InlineLookup::Insert(end))
}

/// Adds `delta` to the `refs` of an extent item's data; returns the new
/// value. `EUCLEAN` if it would underflow or overflow.
pub fn add_extent_refs(data: &mut [u8], delta: i64) -> Result<u64> {
    let mut m = ExtentItemMut::new(data).ok_or(EUCLEAN)?;
    let refs = m.refs().checked_add_signed(delta).ok_or(EUCLEAN)?;
    m.set_refs(refs);
    Ok(refs)
}

/// `setup_inline_extent_backref` in place: `buf` is an extent item's data
/// that was just extended by `want.inline_size()` bytes at its end; opens
/// a gap at `at` (from [`lookup_inline_ref`]), writes `want` holding
/// `count` references there and adds `count` to the item's refs.
pub fn setup_inline_ref(buf: &mut [u8], at: usize, want: &Backref, count: u32) -> Result<()> {
    let size = want.inline_size();
    if count == 0 || (!want.is_data() && count != 1) {
        return Err(EINVAL);
    }
    if at < ExtentItem::SIZE {
        return Err(EINVAL);
    }
    open_gap(buf, at, size)?;
    want.encode_inline(&mut buf[at..], count)?;
    add_extent_refs(buf, count.into())?;
    Ok(())
}

/// Adds the inline ref `want` with `count` references to an extent item
/// held in `item` (key type `key_ty`), at its place in btrfs's order.
/// `EEXIST` if it is already there. Returns its offset.
pub fn insert_inline_ref(item: &mut Vec<u8>, key_ty: u8, want: &Backref, count: u32) -> Result<usize> {
    let at = match lookup_inline_ref(key_ty, item, want)? {
        InlineLookup::Found { .. } => return Err(EEXIST),
        InlineLookup::Insert(at) => at,
    };
    let old = item.len();
    item.resize(old + want.inline_size(), 0)?;
    let r = setup_inline_ref(item, at, want, count);
    if r.is_err() {
        item.truncate(old);
    }
    r.map(|_| at)
}

/// `update_inline_extent_backref` in place: adds `delta` to the extent
/// item's refs and to the count of the inline ref at `at`, removing that
/// ref (moving the rest of `buf` down) when its count reaches zero. Returns
/// the new item size: the caller truncates the item to it. A tree block
/// ref can only be dropped (`delta == -1`). Dropping the extent's last
/// reference is `EUCLEAN`: the caller deletes the whole item instead.
pub fn update_inline_ref(buf: &mut [u8], at: usize, delta: i64) -> Result<usize> {
    let refs = ExtentItem::new(buf).ok_or(EUCLEAN)?.refs();
    if delta < 0 && refs.checked_add_signed(delta).is_none_or(|r| r == 0) {
        return Err(EUCLEAN);
    }
    let mut rest = buf.get(at..).ok_or(EINVAL)?;
    let r = InlineRef::decode(&mut rest).map_err(|_| EUCLEAN)?;
    let size = buf.len() - at - rest.len();
    let (count, count_off) = match r {
        InlineRef::ExtentData(d) => (u64::from(d.count()), at + 1 + 24),
        InlineRef::SharedData { count, .. } => (u64::from(count), at + 9),
        InlineRef::TreeBlock { .. } | InlineRef::SharedBlock { .. } => {
            if delta != -1 {
                return Err(EUCLEAN);
            }
            (1, 0)
        }
        InlineRef::Owner { .. } => return Err(EINVAL),
    };
    let new_count = count.checked_add_signed(delta).ok_or(EUCLEAN)?;
    let new_count32 = u32::try_from(new_count).map_err(|_| EOVERFLOW)?;
    add_extent_refs(buf, delta)?;
    if new_count > 0 {
        put(buf, count_off, &new_count32.to_le_bytes())?;
        Ok(buf.len())
    } else {
        remove_range(buf, at..at + size)
    }
}

impl TreeBlockInfoMut<'_> {
    /// Sets the block's first key.
    pub fn set_key(&mut self, k: &Key) {
        self.set_key_raw(&k.to_disk());
    }
}

/// Size of a skinny METADATA_ITEM with one inline ref.
pub const METADATA_ITEM_SIZE: usize = ExtentItem::SIZE + 9;

/// Writes the head of an extent item (refs, generation, flags) to the
/// start of `buf`.
fn encode_extent_head(buf: &mut [u8], refs: u64, generation: u64, flags: u64) -> Result<()> {
    let mut m = ExtentItemMut::new(buf).ok_or(EOVERFLOW)?;
    m.set_refs(refs);
    m.set_generation(generation);
    m.set_flags(flags);
    Ok(())
}

/// Writes a skinny METADATA_ITEM's data (key (bytenr, METADATA_ITEM,
/// level)) to the start of `buf`: refs 1, `generation`, flags TREE_BLOCK
/// plus `extra_flags` (FULL_BACKREF), and one inline TREE_BLOCK_REF or
/// SHARED_BLOCK_REF. Returns its size, [`METADATA_ITEM_SIZE`].
pub fn encode_metadata_item(buf: &mut [u8], generation: u64, extra_flags: u64, backref: &Backref) -> Result<usize> {
    if backref.is_data() {
        return Err(EINVAL);
    }
    let b = slot(buf, 0, METADATA_ITEM_SIZE)?;
    encode_extent_head(b, 1, generation, extent_flag::TREE_BLOCK | extra_flags)?;
    backref.encode_inline(&mut b[ExtentItem::SIZE..], 1)?;
    Ok(METADATA_ITEM_SIZE)
}

/// Writes a non-skinny tree block EXTENT_ITEM's data (key (bytenr,
/// EXTENT_ITEM, nodesize)): like [`encode_metadata_item`] plus the block's
/// first key and level. Returns its size (51).
pub fn encode_tree_block_extent_item(
    buf: &mut [u8],
    generation: u64,
    extra_flags: u64,
    first_key: &Key,
    level: u8,
    backref: &Backref,
) -> Result<usize> {
    if backref.is_data() {
        return Err(EINVAL);
    }
    let size = ExtentItem::SIZE + TreeBlockInfo::SIZE + backref.inline_size();
    let b = slot(buf, 0, size)?;
    encode_extent_head(b, 1, generation, extent_flag::TREE_BLOCK | extra_flags)?;
    let mut info = TreeBlockInfoMut::new(&mut b[ExtentItem::SIZE..]).ok_or(EOVERFLOW)?;
    info.set_key(first_key);
    info.set_level(level);
    backref.encode_inline(&mut b[ExtentItem::SIZE + TreeBlockInfo::SIZE..], 1)?;
    Ok(size)
}

/// Writes a data EXTENT_ITEM's data (key (bytenr, EXTENT_ITEM,
/// num_bytes)) with one inline EXTENT_DATA_REF or SHARED_DATA_REF holding
/// `count` references (the item's refs) to the start of `buf`. Returns its
/// size (53 or 37).
pub fn encode_data_extent_item(buf: &mut [u8], generation: u64, backref: &Backref, count: u32) -> Result<usize> {
    if !backref.is_data() || count == 0 {
        return Err(EINVAL);
    }
    let size = ExtentItem::SIZE + backref.inline_size();
    let b = slot(buf, 0, size)?;
    encode_extent_head(b, count.into(), generation, extent_flag::DATA)?;
    backref.encode_inline(&mut b[ExtentItem::SIZE..], count)?;
    Ok(size)
}

/// Reports a missing entry as `ENOENT`: `find_*` results for callers that
/// need the entry.
pub fn require<T>(found: Option<T>) -> Result<T> {
    found.ok_or(ENOENT)
}
