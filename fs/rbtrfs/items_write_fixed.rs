// SPDX-License-Identifier: GPL-2.0

//! Encoders and editors of root items, block groups, the free space tree,
//! devices, chunks and checksum items: part of [`crate::items_write`],
//! which re-exports everything here.
//!
//! `core` only: the same source builds into the module and the host tests.

#![forbid(unsafe_code)]

use super::{grow, slot, InodeFields};
use crate::ctree::{key_type, objectid, Key, KEY_SIZE};
use crate::error::{Result, EINVAL, EOVERFLOW, EUCLEAN};
use crate::format::{DevItem, DevItemMut};
use crate::items::{
    BlockGroupItem, BlockGroupItemMut, DevExtent, DevExtentMut, FreeSpaceInfo, FreeSpaceInfoMut, InodeItemMut,
    RootItem, RootItemExt, RootItemExtMut, RootItemMut, Timespec, ROOT_ITEM_FULL_SIZE,
};
use crate::mem::Vec;
use crate::volumes::{Chunk, ChunkItem, ChunkMut, Stripe, StripeMut};

// ---------------------------------------------------------------------------
// Root items
// ---------------------------------------------------------------------------

/// Every field of a ROOT_ITEM (`struct btrfs_root_item`), including the
/// embedded inode and the extension from `generation_v2` on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RootFields {
    /// The embedded inode item.
    pub inode: InodeFields,
    /// Transaction of the last change.
    pub generation: u64,
    /// Objectid of the root directory (256 for subvolumes, 0 otherwise).
    pub root_dirid: u64,
    /// Logical address of the root block.
    pub bytenr: u64,
    /// Unused limit.
    pub byte_limit: u64,
    /// Bytes used by the tree blocks.
    pub bytes_used: u64,
    /// Transaction of the last snapshot.
    pub last_snapshot: u64,
    /// `ROOT_SUBVOL_*` flags.
    pub flags: u64,
    /// Reference count.
    pub refs: u32,
    /// Where subvolume deletion stopped.
    pub drop_progress: Key,
    /// Level where subvolume deletion stopped.
    pub drop_level: u8,
    /// Level of the root block.
    pub level: u8,
    /// Copy of `generation` when the extension was written.
    pub generation_v2: u64,
    /// Subvolume uuid.
    pub uuid: [u8; 16],
    /// Uuid of the snapshot source.
    pub parent_uuid: [u8; 16],
    /// Uuid of the received subvolume.
    pub received_uuid: [u8; 16],
    /// Transaction of the last inode change.
    pub ctransid: u64,
    /// Transaction of creation.
    pub otransid: u64,
    /// Transaction when sent.
    pub stransid: u64,
    /// Transaction when received.
    pub rtransid: u64,
    /// Change time.
    pub ctime: Timespec,
    /// Creation time.
    pub otime: Timespec,
    /// Send time.
    pub stime: Timespec,
    /// Receive time.
    pub rtime: Timespec,
}

impl RootFields {
    /// The root item of a new, empty tree whose single leaf is at `bytenr`
    /// (as `btrfs_create_tree`): refs 1, level 0, `bytes_used` one node,
    /// `generation_v2 == generation`, everything else zero.
    pub fn new_tree(bytenr: u64, generation: u64, nodesize: u32) -> Self {
        RootFields {
            generation,
            generation_v2: generation,
            bytenr,
            bytes_used: nodesize.into(),
            refs: 1,
            ..Default::default()
        }
    }

    /// Decodes a ROOT_ITEM's data; the extension fields are zero for a
    /// legacy 239-byte item. `EUCLEAN` if shorter.
    pub fn decode(data: &[u8]) -> Result<Self> {
        let item = RootItem::new(data).ok_or(EUCLEAN)?;
        let mut f = RootFields {
            inode: InodeFields::decode(data)?,
            generation: item.generation(),
            root_dirid: item.root_dirid(),
            bytenr: item.bytenr(),
            byte_limit: item.byte_limit(),
            bytes_used: item.bytes_used(),
            last_snapshot: item.last_snapshot(),
            flags: item.flags(),
            refs: item.refs(),
            drop_progress: item.drop_progress(),
            drop_level: item.drop_level(),
            level: item.level(),
            ..Default::default()
        };
        if let Some(ext) = data.get(RootItem::SIZE..).and_then(RootItemExt::new) {
            f.generation_v2 = ext.generation_v2();
            f.uuid = *ext.uuid();
            f.parent_uuid = *ext.parent_uuid();
            f.received_uuid = *ext.received_uuid();
            f.ctransid = ext.ctransid();
            f.otransid = ext.otransid();
            f.stransid = ext.stransid();
            f.rtransid = ext.rtransid();
            f.ctime = ext.ctime();
            f.otime = ext.otime();
            f.stime = ext.stime();
            f.rtime = ext.rtime();
        }
        Ok(f)
    }

    /// Writes every field to a full (439-byte) root item's data in `buf`,
    /// leaving reserved bytes alone.
    pub fn write_to(&self, buf: &mut [u8]) -> Result<()> {
        let b = slot(buf, 0, ROOT_ITEM_FULL_SIZE)?;
        let mut inode = InodeItemMut::new(b).ok_or(EOVERFLOW)?;
        self.inode.write_to(&mut inode);
        let mut m = RootItemMut::new(b).ok_or(EOVERFLOW)?;
        m.set_generation(self.generation);
        m.set_root_dirid(self.root_dirid);
        m.set_bytenr(self.bytenr);
        m.set_byte_limit(self.byte_limit);
        m.set_bytes_used(self.bytes_used);
        m.set_last_snapshot(self.last_snapshot);
        m.set_flags(self.flags);
        m.set_refs(self.refs);
        m.set_drop_progress(&self.drop_progress);
        m.set_drop_level(self.drop_level);
        m.set_level(self.level);
        let mut e = RootItemExtMut::new(&mut b[RootItem::SIZE..]).ok_or(EOVERFLOW)?;
        e.set_generation_v2(self.generation_v2);
        e.set_uuid(&self.uuid);
        e.set_parent_uuid(&self.parent_uuid);
        e.set_received_uuid(&self.received_uuid);
        e.set_ctransid(self.ctransid);
        e.set_otransid(self.otransid);
        e.set_stransid(self.stransid);
        e.set_rtransid(self.rtransid);
        e.set_ctime(self.ctime);
        e.set_otime(self.otime);
        e.set_stime(self.stime);
        e.set_rtime(self.rtime);
        Ok(())
    }

    /// The full 439-byte item.
    pub fn encode(&self) -> [u8; ROOT_ITEM_FULL_SIZE] {
        let mut b = [0u8; ROOT_ITEM_FULL_SIZE];
        // Cannot fail: `b` has the full size.
        let _ = self.write_to(&mut b);
        b
    }
}

impl RootItemMut<'_> {
    /// Sets where subvolume deletion stopped.
    pub fn set_drop_progress(&mut self, k: &Key) {
        self.set_drop_progress_raw(&k.to_disk());
    }
}

impl RootItemExtMut<'_> {
    /// Sets the change time.
    pub fn set_ctime(&mut self, t: Timespec) {
        self.set_ctime_sec(t.sec);
        self.set_ctime_nsec(t.nsec);
    }

    /// Sets the creation time.
    pub fn set_otime(&mut self, t: Timespec) {
        self.set_otime_sec(t.sec);
        self.set_otime_nsec(t.nsec);
    }

    /// Sets the send time.
    pub fn set_stime(&mut self, t: Timespec) {
        self.set_stime_sec(t.sec);
        self.set_stime_nsec(t.nsec);
    }

    /// Sets the receive time.
    pub fn set_rtime(&mut self, t: Timespec) {
        self.set_rtime_sec(t.sec);
        self.set_rtime_nsec(t.nsec);
    }
}

/// A writable ROOT_ITEM: the legacy part (with the embedded inode) and,
/// for a full-size item, the extension.
pub struct RootMut<'a> {
    item: RootItemMut<'a>,
    ext: Option<RootItemExtMut<'a>>,
}

impl<'a> RootMut<'a> {
    /// Wraps a ROOT_ITEM's data (at least 239 bytes, else `EUCLEAN`).
    pub fn new(data: &'a mut [u8]) -> Result<Self> {
        if data.len() < RootItem::SIZE {
            return Err(EUCLEAN);
        }
        let (head, tail) = data.split_at_mut(RootItem::SIZE);
        Ok(RootMut { item: RootItemMut::new(head).ok_or(EUCLEAN)?, ext: RootItemExtMut::new(tail) })
    }

    /// The fields every root item has.
    pub fn item(&mut self) -> &mut RootItemMut<'a> {
        &mut self.item
    }

    /// The embedded inode item (always present: it is the first 160 bytes).
    pub fn inode(&mut self) -> Option<InodeItemMut<'_>> {
        InodeItemMut::new(self.item.as_bytes_mut())
    }

    /// The extension, if the item is long enough to hold it.
    pub fn ext(&mut self) -> Option<&mut RootItemExtMut<'a>> {
        self.ext.as_mut()
    }

    /// Sets `generation`, and `generation_v2` with it if the item has the
    /// extension (as `btrfs_update_root` does), so readers trust the
    /// extension.
    pub fn set_generation(&mut self, generation: u64) {
        self.item.set_generation(generation);
        if let Some(e) = self.ext.as_mut() {
            e.set_generation_v2(generation);
        }
    }
}

// ---------------------------------------------------------------------------
// Block groups and the free space tree
// ---------------------------------------------------------------------------

/// A BLOCK_GROUP_ITEM's data.
pub fn encode_block_group_item(used: u64, chunk_objectid: u64, flags: u64) -> [u8; BlockGroupItem::SIZE] {
    let mut b = [0u8; BlockGroupItem::SIZE];
    if let Some(mut m) = BlockGroupItemMut::new(&mut b) {
        m.set_used(used);
        m.set_chunk_objectid(chunk_objectid);
        m.set_flags(flags);
    }
    b
}

/// A FREE_SPACE_INFO item's data.
pub fn encode_free_space_info(extent_count: u32, flags: u32) -> [u8; FreeSpaceInfo::SIZE] {
    let mut b = [0u8; FreeSpaceInfo::SIZE];
    if let Some(mut m) = FreeSpaceInfoMut::new(&mut b) {
        m.set_extent_count(extent_count);
        m.set_flags(flags);
    }
    b
}

/// A FREE_SPACE_BITMAP item: key (start, FREE_SPACE_BITMAP, len), one bit
/// per sector of `[start, start + len)`, bit `i` (byte `i / 8`, bit
/// `i % 8`, least significant first) set when sector `i` is free.
#[derive(Debug)]
pub struct FreeSpaceBitmap<'a> {
    bits: &'a mut [u8],
    start: u64,
    sectorsize: u32,
    nbits: u64,
}

/// Bytes of the bitmap of `len` bytes at `sectorsize` granularity, `None`
/// if `len` is not a multiple of a nonzero `sectorsize`.
pub fn free_space_bitmap_size(len: u64, sectorsize: u32) -> Option<usize> {
    let ss = u64::from(sectorsize);
    if ss == 0 || !len.is_multiple_of(ss) {
        return None;
    }
    usize::try_from((len / ss).div_ceil(8)).ok()
}

impl<'a> FreeSpaceBitmap<'a> {
    /// Views `bits` as the bitmap covering `[start, start + len)`.
    /// `EUCLEAN` if the sizes disagree.
    pub fn new(bits: &'a mut [u8], start: u64, len: u64, sectorsize: u32) -> Result<Self> {
        if free_space_bitmap_size(len, sectorsize) != Some(bits.len()) {
            return Err(EUCLEAN);
        }
        Ok(FreeSpaceBitmap { bits, start, sectorsize, nbits: len / u64::from(sectorsize) })
    }

    /// The bit range of `[start, start + len)`, `EINVAL` if it is not
    /// sector aligned or not inside the bitmap.
    fn bit_range(&self, start: u64, len: u64) -> Result<(u64, u64)> {
        let ss = u64::from(self.sectorsize);
        let off = start.checked_sub(self.start).ok_or(EINVAL)?;
        if !off.is_multiple_of(ss) || !len.is_multiple_of(ss) {
            return Err(EINVAL);
        }
        let (first, n) = (off / ss, len / ss);
        if first.checked_add(n).is_none_or(|end| end > self.nbits) {
            return Err(EINVAL);
        }
        Ok((first, n))
    }

    fn set_bits(&mut self, first: u64, n: u64, on: bool) {
        for i in first..first + n {
            if let Some(b) = self.bits.get_mut((i / 8) as usize) {
                let mask = 1u8 << (i % 8);
                if on {
                    *b |= mask;
                } else {
                    *b &= !mask;
                }
            }
        }
    }

    /// Marks `[start, start + len)` free.
    pub fn set_range(&mut self, start: u64, len: u64) -> Result<()> {
        let (first, n) = self.bit_range(start, len)?;
        self.set_bits(first, n, true);
        Ok(())
    }

    /// Marks `[start, start + len)` used.
    pub fn clear_range(&mut self, start: u64, len: u64) -> Result<()> {
        let (first, n) = self.bit_range(start, len)?;
        self.set_bits(first, n, false);
        Ok(())
    }

    /// Whether the sector at `addr` is free (`None` outside the bitmap).
    pub fn test(&self, addr: u64) -> Option<bool> {
        let i = bitmap_bit(self.start, self.sectorsize, addr)?;
        (i < self.nbits).then(|| bitmap_get(self.bits, i))
    }

    /// The free extents, as (start, length).
    pub fn runs(&self) -> BitmapRuns<'_> {
        BitmapRuns { bits: self.bits, start: self.start, sectorsize: self.sectorsize, nbits: self.nbits, pos: 0 }
    }
}

fn bitmap_bit(start: u64, sectorsize: u32, addr: u64) -> Option<u64> {
    let ss = u64::from(sectorsize);
    let off = addr.checked_sub(start)?;
    (ss != 0).then(|| off / ss)
}

fn bitmap_get(bits: &[u8], i: u64) -> bool {
    bits.get((i / 8) as usize).is_some_and(|b| b & (1 << (i % 8)) != 0)
}

/// The runs of set bits of a free space bitmap, as (start, length) byte
/// ranges.
#[derive(Clone, Debug)]
pub struct BitmapRuns<'a> {
    bits: &'a [u8],
    start: u64,
    sectorsize: u32,
    nbits: u64,
    pos: u64,
}

impl<'a> BitmapRuns<'a> {
    /// The runs of a read-only bitmap covering `[start, start + len)`.
    /// `EUCLEAN` if the sizes disagree.
    pub fn new(bits: &'a [u8], start: u64, len: u64, sectorsize: u32) -> Result<Self> {
        if free_space_bitmap_size(len, sectorsize) != Some(bits.len()) {
            return Err(EUCLEAN);
        }
        Ok(BitmapRuns { bits, start, sectorsize, nbits: len / u64::from(sectorsize), pos: 0 })
    }
}

impl Iterator for BitmapRuns<'_> {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        while self.pos < self.nbits && !bitmap_get(self.bits, self.pos) {
            // Skip whole zero bytes quickly.
            if self.pos.is_multiple_of(8) && self.bits.get((self.pos / 8) as usize) == Some(&0) {
                self.pos += 8;
            } else {
                self.pos += 1;
            }
        }
        if self.pos >= self.nbits {
            return None;
        }
        let first = self.pos;
        while self.pos < self.nbits && bitmap_get(self.bits, self.pos) {
            self.pos += 1;
        }
        let ss = u64::from(self.sectorsize);
        Some((self.start + first * ss, (self.pos - first) * ss))
    }
}

// ---------------------------------------------------------------------------
// Devices and chunks
// ---------------------------------------------------------------------------

/// Every field of a DEV_ITEM (`struct btrfs_dev_item`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DevItemFields {
    /// Device id.
    pub devid: u64,
    /// Size of the device.
    pub total_bytes: u64,
    /// Bytes allocated to chunks.
    pub bytes_used: u64,
    /// Optimal I/O alignment.
    pub io_align: u32,
    /// Optimal I/O width.
    pub io_width: u32,
    /// Minimal I/O size.
    pub sector_size: u32,
    /// Device type.
    pub dev_type: u64,
    /// Generation of the last change.
    pub generation: u64,
    /// Start of the usable area.
    pub start_offset: u64,
    /// Grouping.
    pub dev_group: u32,
    /// Seek speed hint.
    pub seek_speed: u8,
    /// Bandwidth hint.
    pub bandwidth: u8,
    /// Device uuid.
    pub uuid: [u8; 16],
    /// Filesystem id.
    pub fsid: [u8; 16],
}

impl DevItemFields {
    /// Copies the fields out of a view.
    pub fn from_view(v: &DevItem<'_>) -> Self {
        DevItemFields {
            devid: v.devid(),
            total_bytes: v.total_bytes(),
            bytes_used: v.bytes_used(),
            io_align: v.io_align(),
            io_width: v.io_width(),
            sector_size: v.sector_size(),
            dev_type: v.dev_type(),
            generation: v.generation(),
            start_offset: v.start_offset(),
            dev_group: v.dev_group(),
            seek_speed: v.seek_speed(),
            bandwidth: v.bandwidth(),
            uuid: *v.uuid(),
            fsid: *v.fsid(),
        }
    }

    /// Writes every field through `m` (a DEV_ITEM or the superblock's).
    pub fn write_to(&self, m: &mut DevItemMut<'_>) {
        m.set_devid(self.devid);
        m.set_total_bytes(self.total_bytes);
        m.set_bytes_used(self.bytes_used);
        m.set_io_align(self.io_align);
        m.set_io_width(self.io_width);
        m.set_sector_size(self.sector_size);
        m.set_dev_type(self.dev_type);
        m.set_generation(self.generation);
        m.set_start_offset(self.start_offset);
        m.set_dev_group(self.dev_group);
        m.set_seek_speed(self.seek_speed);
        m.set_bandwidth(self.bandwidth);
        m.set_uuid(&self.uuid);
        m.set_fsid(&self.fsid);
    }

    /// The item's 98 bytes.
    pub fn encode(&self) -> [u8; DevItem::SIZE] {
        let mut b = [0u8; DevItem::SIZE];
        if let Some(mut m) = DevItemMut::new(&mut b) {
            self.write_to(&mut m);
        }
        b
    }
}

/// A DEV_EXTENT item's data: key (devid, DEV_EXTENT, physical start).
pub fn encode_dev_extent(
    chunk_tree: u64,
    chunk_objectid: u64,
    chunk_offset: u64,
    length: u64,
    chunk_tree_uuid: &[u8; 16],
) -> [u8; DevExtent::SIZE] {
    let mut b = [0u8; DevExtent::SIZE];
    if let Some(mut m) = DevExtentMut::new(&mut b) {
        m.set_chunk_tree(chunk_tree);
        m.set_chunk_objectid(chunk_objectid);
        m.set_chunk_offset(chunk_offset);
        m.set_length(length);
        m.set_chunk_tree_uuid(chunk_tree_uuid);
    }
    b
}

/// The fixed part of a CHUNK_ITEM (`num_stripes` comes from the stripes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkFields {
    /// Length in logical bytes.
    pub length: u64,
    /// Owner (the extent tree, 2).
    pub owner: u64,
    /// Stripe length (64 KiB).
    pub stripe_len: u64,
    /// Type and profile.
    pub type_flags: u64,
    /// Optimal I/O alignment.
    pub io_align: u32,
    /// Optimal I/O width.
    pub io_width: u32,
    /// Sector size.
    pub sector_size: u32,
    /// Stripes per mirror for RAID10 (1 otherwise).
    pub sub_stripes: u16,
}

/// One stripe of a CHUNK_ITEM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StripeFields {
    /// Device id.
    pub devid: u64,
    /// Physical offset on the device.
    pub offset: u64,
    /// Device uuid.
    pub dev_uuid: [u8; 16],
}

impl ChunkFields {
    /// Copies the fixed fields out of a view.
    pub fn from_view(v: &Chunk<'_>) -> Self {
        ChunkFields {
            length: v.length(),
            owner: v.owner(),
            stripe_len: v.stripe_len(),
            type_flags: v.type_flags(),
            io_align: v.io_align(),
            io_width: v.io_width(),
            sector_size: v.sector_size(),
            sub_stripes: v.sub_stripes(),
        }
    }

    /// Writes the chunk item with `stripes` to the start of `buf`; returns
    /// its size. `EINVAL` without stripes or with more than fit in a u16.
    pub fn encode(&self, buf: &mut [u8], stripes: &[StripeFields]) -> Result<usize> {
        let n = u16::try_from(stripes.len()).map_err(|_| EINVAL)?;
        if n == 0 {
            return Err(EINVAL);
        }
        let size = ChunkItem::item_size(stripes.len());
        let b = slot(buf, 0, size)?;
        let (head, tail) = b.split_at_mut(Chunk::SIZE);
        let mut m = ChunkMut::new(head).ok_or(EOVERFLOW)?;
        m.set_length(self.length);
        m.set_owner(self.owner);
        m.set_stripe_len(self.stripe_len);
        m.set_type_flags(self.type_flags);
        m.set_io_align(self.io_align);
        m.set_io_width(self.io_width);
        m.set_sector_size(self.sector_size);
        m.set_num_stripes(n);
        m.set_sub_stripes(self.sub_stripes);
        for (s, dst) in stripes.iter().zip(tail.chunks_exact_mut(Stripe::SIZE)) {
            s.write_to(&mut StripeMut::new(dst).ok_or(EOVERFLOW)?);
        }
        Ok(size)
    }

    /// Appends the chunk item with `stripes` to `out`.
    pub fn push(&self, out: &mut Vec<u8>, stripes: &[StripeFields]) -> Result<()> {
        let at = out.len();
        let r = grow(out, ChunkItem::item_size(stripes.len())).and_then(|b| self.encode(b, stripes));
        if r.is_err() {
            out.truncate(at);
        }
        r.map(|_| ())
    }
}

impl StripeFields {
    /// Copies the fields out of a view.
    pub fn from_view(v: &Stripe<'_>) -> Self {
        StripeFields { devid: v.devid(), offset: v.offset(), dev_uuid: *v.dev_uuid() }
    }

    /// Writes every field through `m`.
    pub fn write_to(&self, m: &mut StripeMut<'_>) {
        m.set_devid(self.devid);
        m.set_offset(self.offset);
        m.set_dev_uuid(&self.dev_uuid);
    }
}

/// The disk key of the CHUNK_ITEM at logical `start`, as the sys chunk
/// array and the chunk tree use.
pub fn chunk_key(start: u64) -> [u8; KEY_SIZE] {
    Key::new(objectid::FIRST_CHUNK_TREE, key_type::CHUNK_ITEM, start).to_disk()
}

// ---------------------------------------------------------------------------
// Checksum items
// ---------------------------------------------------------------------------

/// Byte offset, in an EXTENT_CSUM item starting at logical `item_start`,
/// of the checksum of the sector at `bytenr`; `None` if `bytenr` is before
/// the item or not sector aligned relative to it. Whether the item reaches
/// that far is the caller's check (see [`csum_slot_mut`]).
pub fn csum_offset(item_start: u64, sectorsize: u32, csum_size: usize, bytenr: u64) -> Option<usize> {
    let ss = u64::from(sectorsize);
    let off = bytenr.checked_sub(item_start)?;
    if ss == 0 || !off.is_multiple_of(ss) {
        return None;
    }
    usize::try_from(off / ss).ok()?.checked_mul(csum_size)
}

/// The logical end of the range an EXTENT_CSUM item of `item_len` bytes
/// starting at `item_start` covers.
pub fn csum_item_end(item_start: u64, item_len: usize, sectorsize: u32, csum_size: usize) -> u64 {
    let n = (item_len / csum_size.max(1)) as u64;
    item_start.saturating_add(n.saturating_mul(sectorsize.into()))
}

/// The checksum of the sector at `bytenr` in an EXTENT_CSUM item's data,
/// writable; `None` if the item does not cover it.
pub fn csum_slot_mut(
    data: &mut [u8],
    item_start: u64,
    sectorsize: u32,
    csum_size: usize,
    bytenr: u64,
) -> Option<&mut [u8]> {
    let off = csum_offset(item_start, sectorsize, csum_size, bytenr)?;
    data.get_mut(off..off.checked_add(csum_size)?)
}
