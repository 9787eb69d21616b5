// SPDX-License-Identifier: GPL-2.0

//! Item views: the data of leaf items, by key type.
//!
//! Fixed-size items are [`disk_struct!`] views. Variable-length items (names,
//! inline file data, inline extent backrefs, packed directory entries) are
//! split by bounds-checked constructors and iterators that return an
//! [`ItemError`] for anything that does not fit, never panic. Offsets and
//! layouts are those of `include/uapi/linux/btrfs_tree.h`.
//!
//! `core` only: the same source builds into the module and the host tests.

#![forbid(unsafe_code)]

use crate::ctree::{key_type, Key, KEY_SIZE};
use crate::format::{disk_struct, LeInt};
use core::fmt;

pub use crate::format::DevItem;

/// Longest file name (`BTRFS_NAME_LEN`).
pub const NAME_LEN: usize = 255;

/// Why an item's data does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemError {
    /// The data ends before a structure or name it must contain.
    TooShort {
        /// What was being decoded.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes left.
        have: usize,
    },
    /// Bytes left over after the last structure of an item that must be exact.
    Trailing {
        /// What was being decoded.
        what: &'static str,
        /// Extra bytes.
        extra: usize,
    },
    /// A type byte with an unknown value.
    BadType {
        /// What was being decoded.
        what: &'static str,
        /// The value found.
        value: u8,
    },
    /// More than one entry where exactly one is allowed.
    Multiple(&'static str),
    /// Any other impossible value.
    Invalid(&'static str),
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooShort { what, need, have } => {
                write!(f, "{} too short, need {} bytes have {}", what, need, have)
            }
            Self::Trailing { what, extra } => write!(f, "{} has {} trailing bytes", what, extra),
            Self::BadType { what, value } => write!(f, "invalid {} type {}", what, value),
            Self::Multiple(what) => write!(f, "{} holds more than one entry", what),
            Self::Invalid(what) => write!(f, "invalid {}", what),
        }
    }
}

/// Splits `n` bytes off the front of `*rest`, or says what was too short.
fn take<'a>(rest: &mut &'a [u8], n: usize, what: &'static str) -> Result<&'a [u8], ItemError> {
    if rest.len() < n {
        return Err(ItemError::TooShort { what, need: n, have: rest.len() });
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

/// Directory entry file types (`BTRFS_FT_*`), as in a dir item's type.
pub mod file_type {
    /// Unknown.
    pub const UNKNOWN: u8 = 0;
    /// Regular file.
    pub const REG_FILE: u8 = 1;
    /// Directory.
    pub const DIR: u8 = 2;
    /// Character device.
    pub const CHRDEV: u8 = 3;
    /// Block device.
    pub const BLKDEV: u8 = 4;
    /// Named pipe.
    pub const FIFO: u8 = 5;
    /// Socket.
    pub const SOCK: u8 = 6;
    /// Symbolic link.
    pub const SYMLINK: u8 = 7;
    /// Extended attribute (XATTR_ITEM entries).
    pub const XATTR: u8 = 8;
    /// One past the last valid type.
    pub const MAX: u8 = 9;
    /// Flag: the directory entry is encrypted.
    pub const ENCRYPTED: u8 = 0x80;
}

/// Inode flags (`BTRFS_INODE_*`).
pub mod inode_flag {
    /// No data checksums.
    pub const NODATASUM: u64 = 1 << 0;
    /// No copy-on-write for data.
    pub const NODATACOW: u64 = 1 << 1;
    /// Read-only.
    pub const READONLY: u64 = 1 << 2;
    /// Never compress.
    pub const NOCOMPRESS: u64 = 1 << 3;
    /// Has preallocated extents.
    pub const PREALLOC: u64 = 1 << 4;
    /// Synchronous writes.
    pub const SYNC: u64 = 1 << 5;
    /// Immutable.
    pub const IMMUTABLE: u64 = 1 << 6;
    /// Append only.
    pub const APPEND: u64 = 1 << 7;
    /// Not for dump.
    pub const NODUMP: u64 = 1 << 8;
    /// No atime updates.
    pub const NOATIME: u64 = 1 << 9;
    /// Synchronous directory updates.
    pub const DIRSYNC: u64 = 1 << 10;
    /// Compress.
    pub const COMPRESS: u64 = 1 << 11;
    /// Root item's inode was initialized (root items only).
    pub const ROOT_ITEM_INIT: u64 = 1 << 31;
}

/// A timestamp (`struct btrfs_timespec`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timespec {
    /// Seconds since the epoch.
    pub sec: u64,
    /// Nanoseconds.
    pub nsec: u32,
}

/// An entry of an item that packs several back to back (inode refs, dir
/// items, inline backrefs): how to decode one from the front of the data.
pub trait Packed<'a>: Sized {
    /// Decodes one entry, advancing `rest` past it.
    fn decode(rest: &mut &'a [u8]) -> Result<Self, ItemError>;
}

/// The entries packed in one item's data. Yields one error and stops at
/// the first malformed entry.
pub struct PackedIter<'a, E> {
    rest: &'a [u8],
    _entry: core::marker::PhantomData<E>,
}

impl<'a, E> PackedIter<'a, E> {
    /// Iterates the entries packed in `data`.
    pub fn new(data: &'a [u8]) -> Self {
        PackedIter { rest: data, _entry: core::marker::PhantomData }
    }
}

impl<E> Clone for PackedIter<'_, E> {
    fn clone(&self) -> Self {
        PackedIter { rest: self.rest, _entry: core::marker::PhantomData }
    }
}

impl<E> core::fmt::Debug for PackedIter<'_, E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PackedIter({} bytes left)", self.rest.len())
    }
}

impl<'a, E: Packed<'a>> Iterator for PackedIter<'a, E> {
    type Item = Result<E, ItemError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = E::decode(&mut self.rest);
        if r.is_err() {
            self.rest = &[];
        }
        Some(r)
    }
}

disk_struct! {
    /// `struct btrfs_inode_item`: key (ino, INODE_ITEM, 0).
    InodeItem / InodeItemMut, size = 160;
    /// NFS generation number.
    generation: u64 @ 0 => set_generation,
    /// Transaction that last changed the inode.
    transid: u64 @ 8 => set_transid,
    /// File size.
    size: u64 @ 16 => set_size,
    /// Bytes allocated (including inline data).
    nbytes: u64 @ 24 => set_nbytes,
    /// Allocation hint.
    block_group: u64 @ 32 => set_block_group,
    /// Link count.
    nlink: u32 @ 40 => set_nlink,
    /// Owner.
    uid: u32 @ 44 => set_uid,
    /// Group.
    gid: u32 @ 48 => set_gid,
    /// Type and permission bits.
    mode: u32 @ 52 => set_mode,
    /// Device number.
    rdev: u64 @ 56 => set_rdev,
    /// [`inode_flag`] bits (the top 32 bits are read-only compat flags).
    flags: u64 @ 64 => set_flags,
    /// NFS change counter.
    sequence: u64 @ 72 => set_sequence,
    /// Access time, seconds.
    atime_sec: u64 @ 112 => set_atime_sec,
    /// Access time, nanoseconds.
    atime_nsec: u32 @ 120 => set_atime_nsec,
    /// Change time, seconds.
    ctime_sec: u64 @ 124 => set_ctime_sec,
    /// Change time, nanoseconds.
    ctime_nsec: u32 @ 132 => set_ctime_nsec,
    /// Modification time, seconds.
    mtime_sec: u64 @ 136 => set_mtime_sec,
    /// Modification time, nanoseconds.
    mtime_nsec: u32 @ 144 => set_mtime_nsec,
    /// Creation time, seconds.
    otime_sec: u64 @ 148 => set_otime_sec,
    /// Creation time, nanoseconds.
    otime_nsec: u32 @ 156 => set_otime_nsec,
}

impl InodeItem<'_> {
    /// Access time.
    pub fn atime(&self) -> Timespec {
        Timespec { sec: self.atime_sec(), nsec: self.atime_nsec() }
    }

    /// Change time.
    pub fn ctime(&self) -> Timespec {
        Timespec { sec: self.ctime_sec(), nsec: self.ctime_nsec() }
    }

    /// Modification time.
    pub fn mtime(&self) -> Timespec {
        Timespec { sec: self.mtime_sec(), nsec: self.mtime_nsec() }
    }

    /// Creation time.
    pub fn otime(&self) -> Timespec {
        Timespec { sec: self.otime_sec(), nsec: self.otime_nsec() }
    }
}

disk_struct! {
    /// `struct btrfs_inode_ref` head; the name follows. Key (ino,
    /// INODE_REF, parent); one item packs every name in that parent.
    InodeRefHead / InodeRefHeadMut, size = 10;
    /// Index of the name in the parent (the DIR_INDEX offset).
    index: u64 @ 0 => set_index,
    /// Length of the name.
    name_len: u16 @ 8 => set_name_len,
}

/// One name of an inode in a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InodeRef<'a> {
    /// Index in the parent directory.
    pub index: u64,
    /// The name.
    pub name: &'a [u8],
}

/// The [`InodeRef`]s packed in one INODE_REF item.
pub type InodeRefIter<'a> = PackedIter<'a, InodeRef<'a>>;

impl<'a> Packed<'a> for InodeRef<'a> {
    fn decode(rest: &mut &'a [u8]) -> Result<Self, ItemError> {
        let head =
            InodeRefHead::new(take(rest, InodeRefHead::SIZE, "inode ref")?).ok_or(ItemError::Invalid("inode ref"))?;
        let name = take(rest, head.name_len().into(), "inode ref name")?;
        Ok(InodeRef { index: head.index(), name })
    }
}


disk_struct! {
    /// `struct btrfs_inode_extref` head; the name follows. Key (ino,
    /// INODE_EXTREF, hash(parent, name)); colliding names are packed.
    InodeExtrefHead / InodeExtrefHeadMut, size = 18;
    /// The parent directory.
    parent_objectid: u64 @ 0 => set_parent_objectid,
    /// Index of the name in the parent.
    index: u64 @ 8 => set_index,
    /// Length of the name.
    name_len: u16 @ 16 => set_name_len,
}

/// One extended name of an inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InodeExtref<'a> {
    /// The parent directory.
    pub parent: u64,
    /// Index in the parent directory.
    pub index: u64,
    /// The name.
    pub name: &'a [u8],
}

/// The [`InodeExtref`]s packed in one INODE_EXTREF item.
pub type InodeExtrefIter<'a> = PackedIter<'a, InodeExtref<'a>>;

impl<'a> Packed<'a> for InodeExtref<'a> {
    fn decode(rest: &mut &'a [u8]) -> Result<Self, ItemError> {
        let head = InodeExtrefHead::new(take(rest, InodeExtrefHead::SIZE, "inode extref")?)
            .ok_or(ItemError::Invalid("inode extref"))?;
        let name = take(rest, head.name_len().into(), "inode extref name")?;
        Ok(InodeExtref { parent: head.parent_objectid(), index: head.index(), name })
    }
}


disk_struct! {
    /// `struct btrfs_dir_item` head; name then data follow. Used by
    /// DIR_ITEM (key offset = name hash, colliding names packed), DIR_INDEX
    /// (offset = index, one entry) and XATTR_ITEM (name and value).
    DirItem / DirItemMut, size = 30;
    /// The target's key: (ino, INODE_ITEM, 0) or (subvol, ROOT_ITEM, -1).
    location_raw: [KEY_SIZE] @ 0 => set_location_raw,
    /// Transaction that created the entry.
    transid: u64 @ 17 => set_transid,
    /// Length of the data (xattr value).
    data_len: u16 @ 25 => set_data_len,
    /// Length of the name.
    name_len: u16 @ 27 => set_name_len,
    /// [`file_type`] of the target.
    ty: u8 @ 29 => set_ty,
}

impl DirItem<'_> {
    /// The target's key.
    pub fn location(&self) -> Key {
        Key::from_disk(self.location_raw())
    }
}

/// One directory entry or xattr.
#[derive(Clone, Copy)]
pub struct DirEntry<'a> {
    /// The fixed head.
    pub head: DirItem<'a>,
    /// The name.
    pub name: &'a [u8],
    /// The data (xattr value; empty for directory entries).
    pub data: &'a [u8],
}

/// The [`DirEntry`]s packed in one DIR_ITEM, DIR_INDEX or XATTR_ITEM item.
pub type DirItemIter<'a> = PackedIter<'a, DirEntry<'a>>;

impl<'a> Packed<'a> for DirEntry<'a> {
    fn decode(rest: &mut &'a [u8]) -> Result<Self, ItemError> {
        let head = DirItem::new(take(rest, DirItem::SIZE, "dir item")?).ok_or(ItemError::Invalid("dir item"))?;
        let name_len = usize::from(head.name_len());
        if name_len == 0 || name_len > NAME_LEN {
            return Err(ItemError::Invalid("dir item name length"));
        }
        if head.ty() & !file_type::ENCRYPTED >= file_type::MAX {
            return Err(ItemError::BadType { what: "dir item", value: head.ty() });
        }
        let name = take(rest, name_len, "dir item name")?;
        let data = take(rest, head.data_len().into(), "dir item data")?;
        Ok(DirEntry { head, name, data })
    }
}


disk_struct! {
    /// `struct btrfs_root_item` up to `level`: the part every root item has
    /// (older kernels wrote only these 239 bytes). Key (tree id,
    /// ROOT_ITEM, 0 or snapshot transid). See [`RootItemExt`] for the rest.
    RootItem / RootItemMut, size = 239;
    /// Transaction of the last change.
    generation: u64 @ 160 => set_generation,
    /// Objectid of the root directory (256 for subvolumes).
    root_dirid: u64 @ 168 => set_root_dirid,
    /// Logical address of the root block.
    bytenr: u64 @ 176 => set_bytenr,
    /// Unused.
    byte_limit: u64 @ 184 => set_byte_limit,
    /// Bytes used by the tree blocks.
    bytes_used: u64 @ 192 => set_bytes_used,
    /// Transaction of the last snapshot.
    last_snapshot: u64 @ 200 => set_last_snapshot,
    /// `ROOT_SUBVOL_*` flags.
    flags: u64 @ 208 => set_flags,
    /// Reference count (0: being deleted).
    refs: u32 @ 216 => set_refs,
    /// Where subvolume deletion stopped.
    drop_progress_raw: [KEY_SIZE] @ 220 => set_drop_progress_raw,
    /// Level where subvolume deletion stopped.
    drop_level: u8 @ 237 => set_drop_level,
    /// Level of the root block.
    level: u8 @ 238 => set_level,
}

impl RootItem<'_> {
    /// Where subvolume deletion stopped.
    pub fn drop_progress(&self) -> Key {
        Key::from_disk(self.drop_progress_raw())
    }
}

/// Size of a current root item: [`RootItem`] plus [`RootItemExt`].
pub const ROOT_ITEM_FULL_SIZE: usize = RootItem::SIZE + RootItemExt::SIZE;

/// The subvolume is read-only (root item flags).
pub const ROOT_SUBVOL_RDONLY: u64 = 1 << 0;

disk_struct! {
    /// The tail of `struct btrfs_root_item` from `generation_v2`, at byte
    /// 239 of the item; valid only if `generation_v2` equals the root
    /// item's generation.
    RootItemExt / RootItemExtMut, size = 200;
    /// Copy of the generation when these fields were written.
    generation_v2: u64 @ 0 => set_generation_v2,
    /// Subvolume uuid.
    uuid: [16] @ 8 => set_uuid,
    /// Uuid of the snapshot source.
    parent_uuid: [16] @ 24 => set_parent_uuid,
    /// Uuid of the sent subvolume this was received from.
    received_uuid: [16] @ 40 => set_received_uuid,
    /// Transaction of the last inode change.
    ctransid: u64 @ 56 => set_ctransid,
    /// Transaction of creation.
    otransid: u64 @ 64 => set_otransid,
    /// Transaction when sent.
    stransid: u64 @ 72 => set_stransid,
    /// Transaction when received.
    rtransid: u64 @ 80 => set_rtransid,
    /// Change time, seconds.
    ctime_sec: u64 @ 88 => set_ctime_sec,
    /// Change time, nanoseconds.
    ctime_nsec: u32 @ 96 => set_ctime_nsec,
    /// Creation time, seconds.
    otime_sec: u64 @ 100 => set_otime_sec,
    /// Creation time, nanoseconds.
    otime_nsec: u32 @ 108 => set_otime_nsec,
    /// Send time, seconds.
    stime_sec: u64 @ 112 => set_stime_sec,
    /// Send time, nanoseconds.
    stime_nsec: u32 @ 120 => set_stime_nsec,
    /// Receive time, seconds.
    rtime_sec: u64 @ 124 => set_rtime_sec,
    /// Receive time, nanoseconds.
    rtime_nsec: u32 @ 132 => set_rtime_nsec,
}

impl RootItemExt<'_> {
    /// Change time.
    pub fn ctime(&self) -> Timespec {
        Timespec { sec: self.ctime_sec(), nsec: self.ctime_nsec() }
    }

    /// Creation time.
    pub fn otime(&self) -> Timespec {
        Timespec { sec: self.otime_sec(), nsec: self.otime_nsec() }
    }

    /// Send time.
    pub fn stime(&self) -> Timespec {
        Timespec { sec: self.stime_sec(), nsec: self.stime_nsec() }
    }

    /// Receive time.
    pub fn rtime(&self) -> Timespec {
        Timespec { sec: self.rtime_sec(), nsec: self.rtime_nsec() }
    }
}

/// A decoded ROOT_ITEM: legacy part, embedded inode and, if present, the
/// extension.
#[derive(Clone, Copy)]
pub struct Root<'a> {
    /// Fields every root item has.
    pub item: RootItem<'a>,
    /// The embedded inode item (first 160 bytes).
    pub inode: InodeItem<'a>,
    /// Fields from `generation_v2` on, if the item is long enough.
    pub ext: Option<RootItemExt<'a>>,
}

impl<'a> Root<'a> {
    /// Decodes a ROOT_ITEM's data (239 or 439 bytes; longer is accepted).
    pub fn parse(data: &'a [u8]) -> Result<Self, ItemError> {
        let too_short = ItemError::TooShort { what: "root item", need: RootItem::SIZE, have: data.len() };
        let item = RootItem::new(data).ok_or(too_short)?;
        let inode = InodeItem::new(data).ok_or(too_short)?;
        let ext = data.get(RootItem::SIZE..).and_then(RootItemExt::new);
        Ok(Root { item, inode, ext })
    }

    /// The extension, if present and written by a kernel that kept it up
    /// to date (`generation_v2 == generation`).
    pub fn valid_ext(&self) -> Option<RootItemExt<'a>> {
        self.ext.filter(|e| e.generation_v2() == self.item.generation())
    }
}

disk_struct! {
    /// `struct btrfs_root_ref` head; the name follows. Key (parent,
    /// ROOT_REF, subvol) or (subvol, ROOT_BACKREF, parent).
    RootRefHead / RootRefHeadMut, size = 18;
    /// Directory the subvolume is linked in.
    dirid: u64 @ 0 => set_dirid,
    /// Index of the link in that directory.
    sequence: u64 @ 8 => set_sequence,
    /// Length of the name.
    name_len: u16 @ 16 => set_name_len,
}

/// A decoded ROOT_REF or ROOT_BACKREF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RootRef<'a> {
    /// Directory the subvolume is linked in.
    pub dirid: u64,
    /// Index of the link in that directory.
    pub sequence: u64,
    /// Name of the link.
    pub name: &'a [u8],
}

impl<'a> RootRef<'a> {
    /// Decodes the item's data, which must be exactly head plus name.
    pub fn parse(data: &'a [u8]) -> Result<Self, ItemError> {
        let mut rest = data;
        let head =
            RootRefHead::new(take(&mut rest, RootRefHead::SIZE, "root ref")?).ok_or(ItemError::Invalid("root ref"))?;
        let name = take(&mut rest, head.name_len().into(), "root ref name")?;
        if !rest.is_empty() {
            return Err(ItemError::Trailing { what: "root ref", extra: rest.len() });
        }
        Ok(RootRef { dirid: head.dirid(), sequence: head.sequence(), name })
    }
}

/// File extent types (`BTRFS_FILE_EXTENT_*`).
pub mod file_extent_type {
    /// Data stored in the item.
    pub const INLINE: u8 = 0;
    /// A regular extent.
    pub const REG: u8 = 1;
    /// A preallocated (reads as zeroes) extent.
    pub const PREALLOC: u8 = 2;
}

/// Compression types of file extents.
pub mod compression {
    /// Not compressed.
    pub const NONE: u8 = 0;
    /// zlib.
    pub const ZLIB: u8 = 1;
    /// lzo.
    pub const LZO: u8 = 2;
    /// zstd.
    pub const ZSTD: u8 = 3;
}

disk_struct! {
    /// The first 21 bytes of `struct btrfs_file_extent_item`, common to
    /// every type; inline data starts right after it.
    FileExtentHeader / FileExtentHeaderMut, size = 21;
    /// Transaction that created the extent.
    generation: u64 @ 0 => set_generation,
    /// Decoded size of the extent (upper bound when split).
    ram_bytes: u64 @ 8 => set_ram_bytes,
    /// [`compression`] type.
    compression: u8 @ 16 => set_compression,
    /// Encryption (0).
    encryption: u8 @ 17 => set_encryption,
    /// Other encoding (0).
    other_encoding: u16 @ 18 => set_other_encoding,
    /// [`file_extent_type`].
    ty: u8 @ 20 => set_ty,
}

disk_struct! {
    /// `struct btrfs_file_extent_item` of a regular or preallocated extent.
    /// Key (ino, EXTENT_DATA, file offset).
    FileExtentItem / FileExtentItemMut, size = 53;
    /// Transaction that created the extent.
    generation: u64 @ 0 => set_generation,
    /// Decoded size of the whole disk extent.
    ram_bytes: u64 @ 8 => set_ram_bytes,
    /// [`compression`] type.
    compression: u8 @ 16 => set_compression,
    /// Encryption (0).
    encryption: u8 @ 17 => set_encryption,
    /// Other encoding (0).
    other_encoding: u16 @ 18 => set_other_encoding,
    /// [`file_extent_type`].
    ty: u8 @ 20 => set_ty,
    /// Logical start of the disk extent; 0 for a hole.
    disk_bytenr: u64 @ 21 => set_disk_bytenr,
    /// Size of the disk extent.
    disk_num_bytes: u64 @ 29 => set_disk_num_bytes,
    /// Offset into the decoded extent where this file range starts.
    offset: u64 @ 37 => set_offset,
    /// Bytes of the file this item covers.
    num_bytes: u64 @ 45 => set_num_bytes,
}

/// What follows the common head of a file extent item.
#[derive(Clone, Copy)]
pub enum FileExtentBody<'a> {
    /// Data stored in the item itself (`ram_bytes` once decompressed).
    Inline(&'a [u8]),
    /// A regular extent.
    Regular(FileExtentItem<'a>),
    /// A preallocated extent: reads as zeroes.
    Prealloc(FileExtentItem<'a>),
}

/// A decoded EXTENT_DATA item.
#[derive(Clone, Copy)]
pub struct FileExtent<'a> {
    /// The fields common to every type.
    pub header: FileExtentHeader<'a>,
    /// Inline data or the extent reference.
    pub body: FileExtentBody<'a>,
}

impl<'a> FileExtent<'a> {
    /// Decodes an EXTENT_DATA item's data.
    pub fn parse(data: &'a [u8]) -> Result<Self, ItemError> {
        let header = FileExtentHeader::new(data).ok_or(ItemError::TooShort {
            what: "file extent",
            need: FileExtentHeader::SIZE,
            have: data.len(),
        })?;
        let ty = header.ty();
        if ty == file_extent_type::INLINE {
            let inline = data.get(FileExtentHeader::SIZE..).unwrap_or(&[]);
            return Ok(FileExtent { header, body: FileExtentBody::Inline(inline) });
        }
        if ty != file_extent_type::REG && ty != file_extent_type::PREALLOC {
            return Err(ItemError::BadType { what: "file extent", value: ty });
        }
        if data.len() != FileExtentItem::SIZE {
            return Err(ItemError::TooShort { what: "file extent", need: FileExtentItem::SIZE, have: data.len() });
        }
        let item = FileExtentItem::new(data).ok_or(ItemError::Invalid("file extent"))?;
        let body =
            if ty == file_extent_type::REG { FileExtentBody::Regular(item) } else { FileExtentBody::Prealloc(item) };
        Ok(FileExtent { header, body })
    }
}

/// Extent item flags (`BTRFS_EXTENT_FLAG_*`, `BTRFS_BLOCK_FLAG_*`).
pub mod extent_flag {
    /// A data extent.
    pub const DATA: u64 = 1 << 0;
    /// A tree block.
    pub const TREE_BLOCK: u64 = 1 << 1;
    /// Tree block using full backrefs.
    pub const FULL_BACKREF: u64 = 1 << 8;
}

disk_struct! {
    /// `struct btrfs_extent_item`: key (bytenr, EXTENT_ITEM, length) or
    /// (bytenr, METADATA_ITEM, level).
    ExtentItem / ExtentItemMut, size = 24;
    /// References to the extent.
    refs: u64 @ 0 => set_refs,
    /// Transaction that allocated it.
    generation: u64 @ 8 => set_generation,
    /// [`extent_flag`] bits.
    flags: u64 @ 16 => set_flags,
}

disk_struct! {
    /// `struct btrfs_tree_block_info`: follows a non-skinny tree block
    /// EXTENT_ITEM.
    TreeBlockInfo / TreeBlockInfoMut, size = 18;
    /// First key of the block.
    key_raw: [KEY_SIZE] @ 0 => set_key_raw,
    /// Level of the block.
    level: u8 @ 17 => set_level,
}

impl TreeBlockInfo<'_> {
    /// First key of the block.
    pub fn key(&self) -> Key {
        Key::from_disk(self.key_raw())
    }
}

disk_struct! {
    /// `struct btrfs_extent_data_ref`: data backref to (root, inode, file
    /// offset - extent offset), inline or as an EXTENT_DATA_REF item.
    ExtentDataRef / ExtentDataRefMut, size = 28;
    /// Subvolume.
    root: u64 @ 0 => set_root,
    /// Inode.
    objectid: u64 @ 8 => set_objectid,
    /// File offset minus the offset into the extent.
    offset: u64 @ 16 => set_offset,
    /// References.
    count: u32 @ 24 => set_count,
}

disk_struct! {
    /// `struct btrfs_shared_data_ref`: count of a SHARED_DATA_REF.
    SharedDataRef / SharedDataRefMut, size = 4;
    /// References.
    count: u32 @ 0 => set_count,
}

/// One inline backref of an extent item.
#[derive(Clone, Copy)]
pub enum InlineRef<'a> {
    /// TREE_BLOCK_REF: referenced by the tree `root`.
    TreeBlock {
        /// The tree.
        root: u64,
    },
    /// SHARED_BLOCK_REF: referenced by the tree block `parent`.
    SharedBlock {
        /// The parent block.
        parent: u64,
    },
    /// EXTENT_DATA_REF: referenced by a file.
    ExtentData(ExtentDataRef<'a>),
    /// SHARED_DATA_REF: referenced by the leaf `parent`.
    SharedData {
        /// The parent leaf.
        parent: u64,
        /// References.
        count: u32,
    },
    /// EXTENT_OWNER_REF: owned by the tree `root` (simple quotas).
    Owner {
        /// The owning tree.
        root: u64,
    },
}

/// The inline backrefs after an extent item.
pub type InlineRefIter<'a> = PackedIter<'a, InlineRef<'a>>;

impl<'a> Packed<'a> for InlineRef<'a> {
    fn decode(rest: &mut &'a [u8]) -> Result<Self, ItemError> {
        let ty = take(rest, 1, "inline ref")?.first().copied().unwrap_or(0);
        Ok(match ty {
            key_type::TREE_BLOCK_REF => {
                InlineRef::TreeBlock { root: take(rest, 8, "tree block ref").map(u64::read_le)? }
            }
            key_type::SHARED_BLOCK_REF => {
                InlineRef::SharedBlock { parent: take(rest, 8, "shared block ref").map(u64::read_le)? }
            }
            key_type::EXTENT_OWNER_REF => {
                InlineRef::Owner { root: take(rest, 8, "extent owner ref").map(u64::read_le)? }
            }
            key_type::SHARED_DATA_REF => {
                let parent = take(rest, 8, "shared data ref").map(u64::read_le)?;
                let count = take(rest, SharedDataRef::SIZE, "shared data ref").map(u32::read_le)?;
                InlineRef::SharedData { parent, count }
            }
            key_type::EXTENT_DATA_REF => InlineRef::ExtentData(
                ExtentDataRef::new(take(rest, ExtentDataRef::SIZE, "extent data ref")?)
                    .ok_or(ItemError::Invalid("extent data ref"))?,
            ),
            _ => return Err(ItemError::BadType { what: "inline ref", value: ty }),
        })
    }
}


/// A decoded EXTENT_ITEM or METADATA_ITEM.
#[derive(Clone)]
pub struct Extent<'a> {
    /// Refs, generation, flags.
    pub item: ExtentItem<'a>,
    /// First key and level, for tree block EXTENT_ITEMs (not skinny ones).
    pub tree_block: Option<TreeBlockInfo<'a>>,
    /// The inline backrefs.
    pub inline_refs: InlineRefIter<'a>,
}

impl<'a> Extent<'a> {
    /// Decodes the data of an item with key type `ty` (EXTENT_ITEM or
    /// METADATA_ITEM).
    pub fn parse(ty: u8, data: &'a [u8]) -> Result<Self, ItemError> {
        let mut rest = data;
        let item = ExtentItem::new(take(&mut rest, ExtentItem::SIZE, "extent item")?)
            .ok_or(ItemError::Invalid("extent item"))?;
        let flags = item.flags();
        let is_data = flags & extent_flag::DATA != 0;
        let is_tree = flags & extent_flag::TREE_BLOCK != 0;
        if is_data == is_tree {
            return Err(ItemError::Invalid("extent flags"));
        }
        if ty == key_type::METADATA_ITEM && !is_tree {
            return Err(ItemError::Invalid("metadata item flags"));
        }
        let tree_block = if ty == key_type::EXTENT_ITEM && is_tree {
            Some(
                TreeBlockInfo::new(take(&mut rest, TreeBlockInfo::SIZE, "tree block info")?)
                    .ok_or(ItemError::Invalid("tree block info"))?,
            )
        } else {
            None
        };
        Ok(Extent { item, tree_block, inline_refs: InlineRefIter::new(rest) })
    }
}

/// The checksums of one EXTENT_CSUM item: key (EXTENT_CSUM, EXTENT_CSUM,
/// logical start); entry `i` covers sector `start + i * sectorsize`.
#[derive(Clone, Copy, Debug)]
pub struct CsumItem<'a> {
    data: &'a [u8],
    csum_size: usize,
}

impl<'a> CsumItem<'a> {
    /// Views `data` as checksums of `csum_size` bytes each.
    pub fn new(data: &'a [u8], csum_size: usize) -> Result<Self, ItemError> {
        if csum_size == 0 || !data.len().is_multiple_of(csum_size) {
            return Err(ItemError::Trailing { what: "csum item", extra: data.len() % csum_size.max(1) });
        }
        Ok(CsumItem { data, csum_size })
    }

    /// Number of checksums.
    pub fn len(&self) -> usize {
        self.data.len() / self.csum_size
    }

    /// Whether the item holds no checksum.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Checksum `i`.
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        let start = i.checked_mul(self.csum_size)?;
        self.data.get(start..start.checked_add(self.csum_size)?)
    }

    /// All checksums in order.
    pub fn iter(&self) -> core::slice::ChunksExact<'a, u8> {
        self.data.chunks_exact(self.csum_size)
    }
}

disk_struct! {
    /// `struct btrfs_block_group_item`: key (start, BLOCK_GROUP_ITEM, length).
    BlockGroupItem / BlockGroupItemMut, size = 24;
    /// Bytes used.
    used: u64 @ 0 => set_used,
    /// Objectid of the chunk (256).
    chunk_objectid: u64 @ 8 => set_chunk_objectid,
    /// Type and profile (`volumes::block_group`).
    flags: u64 @ 16 => set_flags,
}

disk_struct! {
    /// `struct btrfs_free_space_info`: key (start, FREE_SPACE_INFO, length).
    FreeSpaceInfo / FreeSpaceInfoMut, size = 8;
    /// Free extents (or bitmaps) in the block group.
    extent_count: u32 @ 0 => set_extent_count,
    /// `FREE_SPACE_USING_BITMAPS`.
    flags: u32 @ 4 => set_flags,
}

/// Free space info flag: the block group's free space is kept in bitmaps.
pub const FREE_SPACE_USING_BITMAPS: u32 = 1 << 0;

disk_struct! {
    /// `struct btrfs_dev_extent`: key (devid, DEV_EXTENT, physical start).
    DevExtent / DevExtentMut, size = 48;
    /// Chunk tree id (3).
    chunk_tree: u64 @ 0 => set_chunk_tree,
    /// Chunk objectid (256).
    chunk_objectid: u64 @ 8 => set_chunk_objectid,
    /// Logical start of the chunk.
    chunk_offset: u64 @ 16 => set_chunk_offset,
    /// Length of the extent.
    length: u64 @ 24 => set_length,
    /// Chunk tree uuid.
    chunk_tree_uuid: [16] @ 32 => set_chunk_tree_uuid,
}

disk_struct! {
    /// `struct btrfs_qgroup_status_item` without `enable_gen` (older
    /// kernels wrote 32 bytes): key (0, QGROUP_STATUS, 0).
    QgroupStatusItem / QgroupStatusItemMut, size = 32;
    /// Format version (1).
    version: u64 @ 0 => set_version,
    /// Generation of the last update.
    generation: u64 @ 8 => set_generation,
    /// `QGROUP_STATUS_FLAG_*`.
    flags: u64 @ 16 => set_flags,
    /// Rescan progress (a logical address).
    rescan: u64 @ 24 => set_rescan,
}

/// `enable_gen` of a QGROUP_STATUS item, present in 40-byte items.
pub fn qgroup_status_enable_gen(data: &[u8]) -> Option<u64> {
    data.get(32..40).map(u64::read_le)
}

disk_struct! {
    /// `struct btrfs_qgroup_info_item`: key (0, QGROUP_INFO, qgroupid).
    QgroupInfoItem / QgroupInfoItemMut, size = 40;
    /// Generation of the last update.
    generation: u64 @ 0 => set_generation,
    /// Referenced bytes.
    rfer: u64 @ 8 => set_rfer,
    /// Referenced bytes, compressed.
    rfer_cmpr: u64 @ 16 => set_rfer_cmpr,
    /// Exclusive bytes.
    excl: u64 @ 24 => set_excl,
    /// Exclusive bytes, compressed.
    excl_cmpr: u64 @ 32 => set_excl_cmpr,
}

disk_struct! {
    /// `struct btrfs_qgroup_limit_item`: key (0, QGROUP_LIMIT, qgroupid).
    QgroupLimitItem / QgroupLimitItemMut, size = 40;
    /// Which limits are set.
    flags: u64 @ 0 => set_flags,
    /// Referenced limit.
    max_rfer: u64 @ 8 => set_max_rfer,
    /// Exclusive limit.
    max_excl: u64 @ 16 => set_max_excl,
    /// Reserved referenced.
    rsv_rfer: u64 @ 24 => set_rsv_rfer,
    /// Reserved exclusive.
    rsv_excl: u64 @ 32 => set_rsv_excl,
}
