// SPDX-License-Identifier: GPL-2.0

//! Chunks: how logical addresses map to device bytes.
//!
//! Every logical address lies in one chunk; a CHUNK_ITEM (key
//! `(FIRST_CHUNK_TREE, CHUNK_ITEM, logical start)`) gives the chunk's length,
//! type and profile, and its stripes (device id and physical offset). The
//! chunks holding the chunk tree itself are bootstrapped from the
//! superblock's `sys_chunk_array`, a packed list of (disk key, chunk item)
//! pairs ([`SysChunkIter`]).
//!
//! rbtrfs maps SINGLE and DUP chunks (one device); every other profile is
//! reported by name as unsupported ([`ChunkError::UnsupportedProfile`]).
//!
//! `core` only: the same source builds into the module and the host tests.

#![forbid(unsafe_code)]

use crate::ctree::{key_type, Key, KEY_SIZE};
use crate::format::{self, disk_struct, LeInt, SuperBlock};
use core::fmt;

/// Block group and chunk type flags (`BTRFS_BLOCK_GROUP_*`).
pub mod block_group {
    /// Holds file data.
    pub const DATA: u64 = 1 << 0;
    /// Holds the chunk tree.
    pub const SYSTEM: u64 = 1 << 1;
    /// Holds the other trees.
    pub const METADATA: u64 = 1 << 2;
    /// Striped over devices.
    pub const RAID0: u64 = 1 << 3;
    /// Mirrored on two devices.
    pub const RAID1: u64 = 1 << 4;
    /// Two copies on one device.
    pub const DUP: u64 = 1 << 5;
    /// Striped mirrors.
    pub const RAID10: u64 = 1 << 6;
    /// Single parity.
    pub const RAID5: u64 = 1 << 7;
    /// Double parity.
    pub const RAID6: u64 = 1 << 8;
    /// Mirrored on three devices.
    pub const RAID1C3: u64 = 1 << 9;
    /// Mirrored on four devices.
    pub const RAID1C4: u64 = 1 << 10;

    /// The type bits.
    pub const TYPE_MASK: u64 = DATA | SYSTEM | METADATA;
    /// The profile bits (none set: SINGLE).
    pub const PROFILE_MASK: u64 = RAID0 | RAID1 | RAID1C3 | RAID1C4 | RAID5 | RAID6 | DUP | RAID10;

    /// The name of the profile in `flags`, as btrfs-progs prints it.
    pub fn profile_name(flags: u64) -> &'static str {
        match flags & PROFILE_MASK {
            0 => "single",
            RAID0 => "raid0",
            RAID1 => "raid1",
            DUP => "dup",
            RAID10 => "raid10",
            RAID5 => "raid5",
            RAID6 => "raid6",
            RAID1C3 => "raid1c3",
            RAID1C4 => "raid1c4",
            _ => "mixed",
        }
    }
}

/// The only stripe length btrfs uses (`BTRFS_STRIPE_LEN`).
pub const STRIPE_LEN: u64 = 64 * 1024;

/// Why a chunk item or the sys_chunk_array cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// The data ends before the chunk item it must hold.
    Short {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// sys_chunk_array_size exceeds the array.
    ArraySize(u32),
    /// The sys_chunk_array ends in the middle of an entry.
    ArrayShort {
        /// Bytes the entry needs.
        len: usize,
        /// Offset of the entry in the array.
        offset: usize,
    },
    /// A sys_chunk_array key that is not a CHUNK_ITEM.
    ArrayKeyType {
        /// The key type.
        ty: u8,
        /// Offset in the array.
        offset: usize,
    },
    /// A sys_chunk_array chunk without the SYSTEM type.
    ArrayNotSystem {
        /// The chunk type.
        ty: u64,
        /// Offset in the array.
        offset: usize,
    },
    /// A chunk item with zero stripes.
    NoStripes,
    /// A value `btrfs_check_chunk_valid` rejects.
    Invalid {
        /// Logical start of the chunk.
        logical: u64,
        /// Which field.
        what: &'static str,
        /// Its value.
        value: u64,
    },
    /// A profile rbtrfs cannot map.
    UnsupportedProfile {
        /// Logical start of the chunk.
        logical: u64,
        /// The profile's name.
        profile: &'static str,
    },
    /// The address is not inside the chunk.
    OutsideChunk {
        /// The address.
        logical: u64,
        /// Chunk start.
        start: u64,
        /// Chunk length.
        length: u64,
    },
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Short { need, have } => write!(f, "chunk item too short, need {} bytes have {}", need, have),
            Self::ArraySize(s) => {
                write!(f, "system chunk array too big {} > {}", s, format::SYSTEM_CHUNK_ARRAY_SIZE)
            }
            Self::ArrayShort { len, offset } => {
                write!(f, "sys_array too short to read {} bytes at offset {}", len, offset)
            }
            Self::ArrayKeyType { ty, offset } => {
                write!(f, "unexpected item type {} in sys_array at offset {}", ty, offset)
            }
            Self::ArrayNotSystem { ty, offset } => {
                write!(f, "invalid chunk type {} in sys_array at offset {}", ty, offset)
            }
            Self::NoStripes => write!(f, "invalid chunk num_stripes, have 0"),
            Self::Invalid { logical, what, value } => {
                write!(f, "chunk_start={}, invalid chunk {}: {}", logical, what, value)
            }
            Self::UnsupportedProfile { logical, profile } => {
                write!(f, "chunk_start={}, unsupported chunk profile {}", logical, profile)
            }
            Self::OutsideChunk { logical, start, length } => {
                write!(f, "logical {} outside chunk [{}, {})", logical, start, start.saturating_add(length))
            }
        }
    }
}

disk_struct! {
    /// The fixed part of `struct btrfs_chunk`, before its stripes.
    Chunk / ChunkMut, size = 48;
    /// Length of the chunk in logical bytes.
    length: u64 @ 0 => set_length,
    /// Tree that owns it (the extent tree, 2).
    owner: u64 @ 8 => set_owner,
    /// Stripe length (64 KiB).
    stripe_len: u64 @ 16 => set_stripe_len,
    /// Type and profile ([`block_group`] bits).
    type_flags: u64 @ 24 => set_type_flags,
    /// Optimal I/O alignment.
    io_align: u32 @ 32 => set_io_align,
    /// Optimal I/O width.
    io_width: u32 @ 36 => set_io_width,
    /// Minimal I/O size (the sector size).
    sector_size: u32 @ 40 => set_sector_size,
    /// Number of stripes that follow.
    num_stripes: u16 @ 44 => set_num_stripes,
    /// Stripes per mirror for RAID10.
    sub_stripes: u16 @ 46 => set_sub_stripes,
}

disk_struct! {
    /// `struct btrfs_stripe`: where one stripe of a chunk lives.
    Stripe / StripeMut, size = 32;
    /// Device id.
    devid: u64 @ 0 => set_devid,
    /// Physical byte offset on that device.
    offset: u64 @ 8 => set_offset,
    /// Device uuid.
    dev_uuid: [16] @ 16 => set_dev_uuid,
}

/// A whole chunk item: the fixed part and `num_stripes` stripes, checked to
/// fit in the data it was decoded from.
#[derive(Clone, Copy)]
pub struct ChunkItem<'a> {
    head: Chunk<'a>,
    stripes: &'a [u8],
}

impl<'a> core::ops::Deref for ChunkItem<'a> {
    type Target = Chunk<'a>;

    fn deref(&self) -> &Chunk<'a> {
        &self.head
    }
}

impl<'a> ChunkItem<'a> {
    /// Size of a chunk item with `num_stripes` stripes.
    pub const fn item_size(num_stripes: usize) -> usize {
        Chunk::SIZE + num_stripes * Stripe::SIZE
    }

    /// Decodes the chunk item at the start of `data` (which may go on).
    pub fn parse(data: &'a [u8]) -> Result<Self, ChunkError> {
        let head = Chunk::new(data).ok_or(ChunkError::Short { need: Self::item_size(1), have: data.len() })?;
        let n = usize::from(head.num_stripes());
        if n == 0 {
            return Err(ChunkError::NoStripes);
        }
        let need = Self::item_size(n);
        match data.get(Chunk::SIZE..need) {
            Some(stripes) => Ok(ChunkItem { head, stripes }),
            None => Err(ChunkError::Short { need, have: data.len() }),
        }
    }

    /// The fixed part.
    pub fn chunk(&self) -> Chunk<'a> {
        self.head
    }

    /// Bytes the item occupies.
    pub fn size(&self) -> usize {
        Chunk::SIZE + self.stripes.len()
    }

    /// Stripe `i`, if `i < num_stripes`.
    pub fn stripe(&self, i: usize) -> Option<Stripe<'a>> {
        let start = i.checked_mul(Stripe::SIZE)?;
        self.stripes.get(start..).and_then(Stripe::new)
    }

    /// All stripes in order.
    pub fn stripes(&self) -> impl Iterator<Item = Stripe<'a>> + 'a {
        self.stripes.chunks_exact(Stripe::SIZE).filter_map(Stripe::new)
    }

    /// The checks of `btrfs_check_chunk_valid` for the chunk at `logical`
    /// in a filesystem with `sectorsize` (not `mixed`: data and metadata
    /// may not share a chunk).
    pub fn check(&self, logical: u64, sectorsize: u32, mixed: bool) -> Result<(), ChunkError> {
        let inval = |what, value| Err(ChunkError::Invalid { logical, what, value });
        let ss = u64::from(sectorsize.max(1));
        let ty = self.type_flags();
        let length = self.length();
        let num = self.num_stripes();
        if !logical.is_multiple_of(ss) {
            return inval("logical", logical);
        }
        if self.sector_size() != sectorsize {
            return inval("sectorsize", self.sector_size().into());
        }
        if length == 0 || !length.is_multiple_of(ss) || logical.checked_add(length).is_none() {
            return inval("length", length);
        }
        if self.stripe_len() != STRIPE_LEN {
            return inval("stripe length", self.stripe_len());
        }
        if ty & !(block_group::TYPE_MASK | block_group::PROFILE_MASK) != 0 {
            return inval("type", ty);
        }
        let profile = ty & block_group::PROFILE_MASK;
        if profile.count_ones() > 1 {
            return inval("profile flag", profile);
        }
        if ty & block_group::TYPE_MASK == 0 {
            return inval("type flag", ty);
        }
        if ty & block_group::SYSTEM != 0 && ty & (block_group::METADATA | block_group::DATA) != 0 {
            return inval("type (system with data or metadata)", ty);
        }
        if !mixed && ty & block_group::METADATA != 0 && ty & block_group::DATA != 0 {
            return inval("type (mixed in non-mixed mode)", ty);
        }
        let stripes_ok = match profile {
            0 => num == 1,
            block_group::DUP | block_group::RAID1 => num == 2,
            block_group::RAID1C3 => num == 3,
            block_group::RAID1C4 => num == 4,
            block_group::RAID10 => self.sub_stripes() == 2 && num >= 2,
            block_group::RAID5 => num >= 2,
            block_group::RAID6 => num >= 3,
            _ => num >= 1,
        };
        if !stripes_ok {
            return inval("num_stripes", num.into());
        }
        Ok(())
    }

    /// The mapping of the chunk at `logical`, copied out of the item.
    pub fn info(&self, logical: u64) -> ChunkInfo {
        let mut stripes = [PhysStripe::default(); MAX_MAPPED_STRIPES];
        for (dst, s) in stripes.iter_mut().zip(self.stripes()) {
            *dst = PhysStripe { devid: s.devid(), physical: s.offset() };
        }
        ChunkInfo {
            logical,
            length: self.length(),
            type_flags: self.type_flags(),
            num_stripes: self.num_stripes(),
            stripes,
        }
    }
}

/// Most stripes a supported (SINGLE or DUP) chunk has.
pub const MAX_MAPPED_STRIPES: usize = 2;

/// One physical copy of a logical range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhysStripe {
    /// Device id.
    pub devid: u64,
    /// Physical byte offset on the device.
    pub physical: u64,
}

/// What a chunk maps, copied out of its item so it can be kept (the kernel
/// keeps one per chunk, the tests a `Vec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkInfo {
    /// Logical start.
    pub logical: u64,
    /// Length in logical bytes.
    pub length: u64,
    /// Type and profile.
    pub type_flags: u64,
    /// Stripes in the item.
    pub num_stripes: u16,
    /// The first [`MAX_MAPPED_STRIPES`] stripes.
    pub stripes: [PhysStripe; MAX_MAPPED_STRIPES],
}

/// Where a logical address lives: every copy, and how far it stays
/// contiguous.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// Bytes from the address that stay contiguous on every copy (to the
    /// end of the chunk for SINGLE and DUP).
    pub len: u64,
    num: usize,
    stripes: [PhysStripe; MAX_MAPPED_STRIPES],
}

impl Mapping {
    /// The copies: one for SINGLE, two (same device) for DUP.
    pub fn mirrors(&self) -> &[PhysStripe] {
        self.stripes.get(..self.num).unwrap_or(&[])
    }
}

impl ChunkInfo {
    /// Whether `logical` lies in the chunk.
    pub fn contains(&self, logical: u64) -> bool {
        logical >= self.logical && logical - self.logical < self.length
    }

    /// Maps `logical` (inside the chunk) to its physical copies. SINGLE and
    /// DUP only; any other profile is an error naming it.
    pub fn map(&self, logical: u64) -> Result<Mapping, ChunkError> {
        if !self.contains(logical) {
            return Err(ChunkError::OutsideChunk { logical, start: self.logical, length: self.length });
        }
        let profile = self.type_flags & block_group::PROFILE_MASK;
        let num = match profile {
            0 => 1,
            block_group::DUP => 2,
            _ => {
                return Err(ChunkError::UnsupportedProfile {
                    logical: self.logical,
                    profile: block_group::profile_name(self.type_flags),
                })
            }
        };
        if usize::from(self.num_stripes) != num {
            return Err(ChunkError::Invalid {
                logical: self.logical,
                what: "num_stripes",
                value: self.num_stripes.into(),
            });
        }
        let off = logical - self.logical;
        let mut stripes = [PhysStripe::default(); MAX_MAPPED_STRIPES];
        for (dst, src) in stripes.iter_mut().zip(self.stripes.iter()).take(num) {
            let physical = src.physical.checked_add(off).ok_or(ChunkError::Invalid {
                logical: self.logical,
                what: "stripe offset",
                value: src.physical,
            })?;
            *dst = PhysStripe { devid: src.devid, physical };
        }
        Ok(Mapping { len: self.length - off, num, stripes })
    }
}

/// Maps `logical` through the chunk item `chunk` that starts at
/// `chunk_logical`: [`ChunkItem::info`] then [`ChunkInfo::map`].
pub fn map_logical(chunk_logical: u64, chunk: &ChunkItem<'_>, logical: u64) -> Result<Mapping, ChunkError> {
    chunk.info(chunk_logical).map(logical)
}

/// The (logical start, chunk item) pairs of a superblock's
/// `sys_chunk_array`, as `btrfs_read_sys_array` walks it. Yields one error
/// and stops at the first malformed entry.
#[derive(Clone, Debug)]
pub struct SysChunkIter<'a> {
    array: &'a [u8],
    pos: usize,
    err: Option<ChunkError>,
}

impl<'a> SysChunkIter<'a> {
    /// Walks the valid part of `sb`'s bootstrap chunk array.
    pub fn new(sb: &SuperBlock<'a>) -> Self {
        let size = sb.sys_chunk_array_size();
        match sb.sys_chunk_array().get(..size as usize) {
            Some(array) => SysChunkIter { array, pos: 0, err: None },
            None => SysChunkIter { array: &[], pos: 0, err: Some(ChunkError::ArraySize(size)) },
        }
    }

    /// Walks a raw array of (disk key, chunk item) pairs.
    pub fn from_bytes(array: &'a [u8]) -> Self {
        SysChunkIter { array, pos: 0, err: None }
    }

    fn decode(&mut self) -> Result<(u64, ChunkItem<'a>), ChunkError> {
        let offset = self.pos;
        let rest = self.array.get(offset..).unwrap_or(&[]);
        let key = Key::read(rest).ok_or(ChunkError::ArrayShort { len: KEY_SIZE, offset })?;
        let offset = offset + KEY_SIZE;
        if key.ty != key_type::CHUNK_ITEM {
            return Err(ChunkError::ArrayKeyType { ty: key.ty, offset });
        }
        let rest = rest.get(KEY_SIZE..).unwrap_or(&[]);
        // At least a chunk with one stripe; the exact size is checked below.
        let head = match rest.get(..ChunkItem::item_size(1)).and_then(Chunk::new) {
            Some(h) => h,
            None => return Err(ChunkError::ArrayShort { len: ChunkItem::item_size(1), offset }),
        };
        if head.num_stripes() == 0 {
            return Err(ChunkError::NoStripes);
        }
        if head.type_flags() & block_group::SYSTEM == 0 {
            return Err(ChunkError::ArrayNotSystem { ty: head.type_flags(), offset });
        }
        let len = ChunkItem::item_size(head.num_stripes().into());
        let chunk = ChunkItem::parse(rest).map_err(|_| ChunkError::ArrayShort { len, offset })?;
        self.pos = offset + len;
        Ok((key.offset, chunk))
    }
}

impl<'a> Iterator for SysChunkIter<'a> {
    type Item = Result<(u64, ChunkItem<'a>), ChunkError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.err.take() {
            self.array = &[];
            return Some(Err(e));
        }
        if self.pos >= self.array.len() {
            return None;
        }
        let r = self.decode();
        if r.is_err() {
            self.array = &[];
        }
        Some(r)
    }
}
