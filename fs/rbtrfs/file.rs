// SPDX-License-Identifier: GPL-2.0

//! File data reads (C: `fs/btrfs/extent_io.c`, `file-item.c`).
//!
//! A folio is filled extent by extent: EXTENT_DATA items keyed by file
//! offset give inline data, regular extents (read from disk through the
//! chunk map and verified against the checksum tree, sector by sector),
//! preallocated extents (zeros) or holes (no item, with `no-holes`: zeros).
//!
//! Compressed extents (zlib, lzo, zstd; written by C btrfs) are read whole:
//! the compressed disk extent is read and checked against its checksums,
//! decoded with the kernel's decompressors ([`Codecs`]) into `ram_bytes`
//! bytes, and the item's part of it copied out. The last extent decoded is
//! kept ([`DecompressedCache`]), so the folios of one extent (up to 32)
//! cost one read and one decompression. Compressed inline data is decoded
//! on each read (it is at most a sector).

#![forbid(unsafe_code)]

use crate::compression::{self as comp, DecompressError, Decompressors};
use crate::ctree::{key_type, objectid, Key};
use crate::disk_io::{chunk_in, with_trans, with_view, MReader, VPath, View};
use crate::extent_io::{Overlay, RootNode};
use crate::file_item;
use crate::rfs::compress;
use crate::transaction::FsState;
use crate::items_write::RegularExtent;
use crate::rfs::folio::{ReadaheadBatch, Writeback, WritebackFolio};
use crate::rfs::inode::{INodeType, SetAttr, UnrefINode};
use crate::transaction::Trans;
use crate::items::{compression, inode_flag, FileExtent, FileExtentBody};
use crate::rfs::folio::LockedFolio;
use crate::rfs::fs::{BlockDevice, SuperBlock};
use crate::rfs::inode::INode;
use crate::rfs::remap::RemapRange;
use crate::super_::Btrfs;
use kernel::prelude::*;

/// Where read data goes: one folio (`read_folio`) or a readahead batch of
/// consecutive folios; offsets are relative to its start.
pub(crate) trait Dest {
    /// Copies `data` in at `off`.
    fn put(&mut self, off: usize, data: &[u8]) -> Result;
    /// Zeroes `len` bytes at `off`.
    fn clear(&mut self, off: usize, len: usize) -> Result;
}

impl Dest for LockedFolio<'_> {
    fn put(&mut self, off: usize, data: &[u8]) -> Result {
        self.write(off, data)
    }
    fn clear(&mut self, off: usize, len: usize) -> Result {
        self.zero(off, len)
    }
}

impl Dest for ReadaheadBatch<'_> {
    fn put(&mut self, off: usize, data: &[u8]) -> Result {
        self.write(off, data)
    }
    fn clear(&mut self, off: usize, len: usize) -> Result {
        self.zero(off, len)
    }
}

/// Fills a folio of a regular file or symlink (C: `btrfs_read_folio`).
pub(crate) fn read_folio(inode: &INode<Btrfs>, folio: &mut LockedFolio<'_>) -> Result {
    let (pos, size) = (folio.pos(), folio.size());
    fill_range(inode, folio, pos, size)
}

/// Fills a readahead batch (C: `btrfs_readahead`): one read per extent
/// run instead of one per folio.
pub(crate) fn readahead(inode: &INode<Btrfs>, batch: &mut ReadaheadBatch<'_>) -> Result {
    let (pos, len) = (batch.pos(), batch.len());
    fill_range(inode, batch, pos, len)
}

/// Fills `[pos, pos + size)` of the file into `dest`, extent by extent;
/// zeroes past the end of the file.
fn fill_range<D: Dest>(inode: &INode<Btrfs>, dest: &mut D, pos: u64, size: usize) -> Result {
    let isize = inode.size().max(0) as u64;
    let mut off = 0usize;
    while off < size {
        let fpos = pos + off as u64;
        if fpos >= isize {
            dest.clear(off, size - off)?;
            break;
        }
        let want = (size - off).min((isize - fpos) as usize);
        let done = fill(inode, dest, off, fpos, want)?;
        off += done.max(1);
    }
    Ok(())
}

/// Fills up to `want` bytes of `dest` at `off` (file offset `fpos`)
/// from the extent covering `fpos`; returns how many bytes were filled.
/// A plain regular extent is planned under the state lock (where it is,
/// its checksums) and read and verified after the lock is dropped: the
/// locked folios keep the file's extents in place (truncate, hole punch
/// and reflink wait for them), and freed extents stay pinned until the
/// next commit.
fn fill<D: Dest>(inode: &INode<Btrfs>, dest: &mut D, off: usize, fpos: u64, want: usize) -> Result<usize> {
    match with_view(inode.super_block(), |v| fill_in(v, inode, dest, off, fpos, want))? {
        Fill::Done(n) => Ok(n),
        Fill::Read(plan) => {
            let buf = plan.read(inode.super_block())?;
            dest.put(off, buf.get(..plan.len).ok_or(EIO)?)?;
            Ok(plan.len)
        }
    }
}

/// What [`fill_in`] did.
enum Fill {
    /// Filled this many bytes.
    Done(usize),
    /// A read to do once the state lock is dropped.
    Read(ReadPlan),
}

fn fill_in<D: Dest>(
    r: &View<'_>,
    inode: &INode<Btrfs>,
    folio: &mut D,
    off: usize,
    fpos: u64,
    want: usize,
) -> Result<Fill> {
    let sb = inode.super_block();
    let root = inode.data().root;
    let ino = inode.ino();
    let is_extent = |k: &Key| k.objectid == ino && k.ty == key_type::EXTENT_DATA;
    let mut path = VPath::new();
    let found = r.search(root, &Key::new(ino, key_type::EXTENT_DATA, fpos), &mut path)?;
    // Where the next extent starts bounds a hole.
    let mut next_start = u64::MAX;
    if !found {
        if let Some(k) = path.key().map_err(|e| r.tree_err(e))? {
            if is_extent(&k) {
                next_start = k.offset;
            }
        }
        if !r.prev(&mut path)? {
            return zero(folio, off, want, fpos, next_start).map(Fill::Done);
        }
    }
    let Some(item) = path.item().map_err(|e| r.tree_err(e))? else {
        return zero(folio, off, want, fpos, next_start).map(Fill::Done);
    };
    if !is_extent(&item.key) {
        return zero(folio, off, want, fpos, next_start).map(Fill::Done);
    }
    let start = item.key.offset;
    let fe = FileExtent::parse(item.data).map_err(|e| {
        r.tree_err(format_args!("root {} ino {} file extent at {}: {}", root, ino, start, e))
    })?;
    let kind = fe.header.compression();
    if kind > compression::ZSTD || fe.header.encryption() != 0 {
        btrfs_err_rl!(sb.data().geo.rl, sb.id(), "root {} ino {} off {}: unsupported compression {} or encryption {}",
            root, ino, start, kind, fe.header.encryption());
        return Err(EIO);
    }
    match fe.body {
        FileExtentBody::Inline(data) => {
            // Inline data starts at file offset 0; mkfs stores symlink
            // targets with a trailing NUL, so cut at i_size (want).
            let rel = (fpos - start) as usize;
            let decoded;
            let data = if kind == compression::NONE {
                data
            } else {
                let ss = sb.data().geo.sectorsize;
                decoded = comp::decompress_inline(kind, data, fe.header.ram_bytes(), ss, &Codecs).map_err(|e| {
                    btrfs_err_rl!(sb.data().geo.rl, sb.id(), "root {} ino {} inline extent: {}", root, ino, e);
                    crate::disk_io::kerr(e.errno())
                })?;
                &decoded[..]
            };
            let avail = data.len().saturating_sub(rel).min(want);
            if avail == 0 {
                return zero(folio, off, want, fpos, next_start).map(Fill::Done);
            }
            folio.put(off, data.get(rel..rel + avail).ok_or(EIO)?)?;
            Ok(Fill::Done(avail))
        }
        FileExtentBody::Prealloc(e) | FileExtentBody::Regular(e) => {
            let end = start.saturating_add(e.num_bytes());
            if fpos >= end {
                return zero(folio, off, want, fpos, next_start).map(Fill::Done);
            }
            let len = want.min((end - fpos) as usize);
            if matches!(fe.body, FileExtentBody::Prealloc(_)) || e.disk_bytenr() == 0 {
                folio.clear(off, len)?;
                return Ok(Fill::Done(len));
            }
            let ctx = DataCtx { sb, ov: r.overlay(), st: r.state, root, ino, flags: inode.data().flags() };
            if kind != compression::NONE {
                let re = RegularExtent::decode(item.data).map_err(|_| EIO)?;
                let at = re.offset.saturating_add(fpos - start) as usize;
                with_decompressed(&ctx, start, &re, |data| {
                    let src = data.get(at..).and_then(|d| d.get(..len)).ok_or(EIO)?;
                    folio.put(off, src)
                })?;
                return Ok(Fill::Done(len));
            }
            let logical = e.disk_bytenr() + e.offset() + (fpos - start);
            Ok(Fill::Read(plan_read(&ctx, fpos, logical, len)?))
        }
    }
}

/// The kernel's decompressors (`rust/compress.rs`) for the format code.
pub(crate) struct Codecs;

fn codec_err(kind: u8, e: compress::Error) -> DecompressError {
    match e {
        compress::Error::NoMem => DecompressError::NoMem,
        compress::Error::Corrupt(code) => DecompressError::Codec { kind, code },
    }
}

impl Decompressors for Codecs {
    fn zlib(&self, src: &[u8], dst: &mut [u8]) -> core::result::Result<usize, DecompressError> {
        compress::zlib_inflate(src, dst).map_err(|e| codec_err(compression::ZLIB, e))
    }

    fn lzo1x(&self, src: &[u8], dst: &mut [u8]) -> core::result::Result<usize, DecompressError> {
        compress::lzo1x_decompress(src, dst).map_err(|e| codec_err(compression::LZO, e))
    }

    fn zstd(&self, src: &[u8], dst: &mut [u8]) -> core::result::Result<usize, DecompressError> {
        compress::zstd_decompress(src, dst, comp::ZSTD_MAX_WINDOW).map_err(|e| codec_err(compression::ZSTD, e))
    }
}

/// The compressed extent last decoded (C has no such cache: it keeps
/// decoded data in the page cache of the one file that read it; here the
/// folios of an extent are filled one `read_folio` at a time). Identified
/// by everything its item says about the disk extent: rbtrfs never writes
/// compressed extents, and the disk extent cannot be freed and reused
/// while an item (the one being read) still points at it, so an entry
/// never goes stale while mounted. It holds only checksum-verified data.
pub(crate) struct DecompressedCache {
    key: Option<(u64, u64, u64, u64, u8)>,
    data: KVVec<u8>,
}

impl DecompressedCache {
    /// An empty cache.
    pub(crate) const fn new() -> Self {
        DecompressedCache { key: None, data: KVVec::new() }
    }
}

fn cache_key(re: &RegularExtent) -> (u64, u64, u64, u64, u8) {
    (re.disk_bytenr, re.disk_num_bytes, re.ram_bytes, re.generation, re.compression)
}

/// Where file data is read from: the current trees of a mounted
/// filesystem (a read's view or a transaction's), and the inode.
struct DataCtx<'a> {
    sb: &'a SuperBlock<Btrfs>,
    ov: &'a Overlay<'a, MReader<'a>>,
    st: &'a FsState,
    root: u64,
    ino: u64,
    /// Inode flags (`NODATASUM`).
    flags: u64,
}

/// Runs `f` on the decoded bytes (`ram_bytes` of them) of the compressed
/// regular extent `re`, which the item at file offset `file_offset` points
/// at: from the cache, or read whole, verified and decompressed (then
/// cached).
fn with_decompressed<R>(
    ctx: &DataCtx<'_>,
    file_offset: u64,
    re: &RegularExtent,
    f: impl FnOnce(&[u8]) -> Result<R>,
) -> Result<R> {
    let sb = ctx.sb;
    let fs = sb.data();
    let key = cache_key(re);
    {
        let cache = fs.decompressed.lock();
        if cache.key == Some(key) {
            return f(&cache.data);
        }
    }
    if re.disk_num_bytes == 0
        || re.disk_num_bytes > comp::MAX_COMPRESSED
        || re.ram_bytes > comp::MAX_UNCOMPRESSED
        || re.offset.checked_add(re.num_bytes).is_none_or(|e| e > re.ram_bytes)
    {
        btrfs_err_rl!(fs.geo.rl, sb.id(),
            "root {} ino {} off {}: bad compressed extent: disk {} len {} ram {} offset {} len {}",
            ctx.root, ctx.ino, file_offset, re.disk_bytenr, re.disk_num_bytes, re.ram_bytes, re.offset, re.num_bytes);
        return Err(EIO);
    }
    let src = read_verified(ctx, file_offset, re.disk_bytenr, re.disk_num_bytes as usize)?;
    let mut data = KVVec::from_elem(0u8, re.ram_bytes as usize, GFP_KERNEL)?;
    comp::decompress_extent(re.compression, &src, &mut data, fs.geo.sectorsize, &Codecs).map_err(|e| {
        btrfs_err_rl!(fs.geo.rl, sb.id(), "root {} ino {} off {} compressed extent at {} len {}: {}",
            ctx.root, ctx.ino, file_offset, re.disk_bytenr, re.disk_num_bytes, e);
        crate::disk_io::kerr(e.errno())
    })?;
    let r = f(&data);
    let mut cache = fs.decompressed.lock();
    cache.key = Some(key);
    cache.data = data;
    r
}

/// Zeroes the folio from `off` up to `want` bytes or the next extent.
fn zero<D: Dest>(folio: &mut D, off: usize, want: usize, fpos: u64, next_start: u64) -> Result<usize> {
    let len = (want as u64).min(next_start.saturating_sub(fpos)).max(1) as usize;
    let len = len.min(want);
    folio.clear(off, len)?;
    Ok(len)
}

/// Reads `len` bytes of data at `logical` (a sector boundary) from the
/// device, whole sectors, verifying each sector's checksum unless the
/// inode has NODATASUM. `fpos` is the file offset of the first byte, for
/// messages.
fn read_verified(ctx: &DataCtx<'_>, fpos: u64, logical: u64, len: usize) -> Result<KVVec<u8>> {
    plan_read(ctx, fpos, logical, len)?.read(ctx.sb)
}

/// A data read worked out under the state lock: where the sectors are and
/// the checksums they must have.
struct ReadPlan {
    /// Device offset of the first sector.
    phys: u64,
    /// Logical address of the first sector.
    logical: u64,
    /// File offset of the first byte, for messages.
    fpos: u64,
    /// Bytes wanted (the read is whole sectors).
    len: usize,
    /// The expected checksums, sector by sector; `None` for NODATASUM.
    csums: Option<KVVec<u8>>,
    /// How many sectors from the first have a checksum.
    found: usize,
    root: u64,
    ino: u64,
}

/// Maps `len` bytes at `logical` to the device and looks up their
/// checksums (see [`read_verified`]).
fn plan_read(ctx: &DataCtx<'_>, fpos: u64, logical: u64, len: usize) -> Result<ReadPlan> {
    let (sb, st) = (ctx.sb, ctx.st);
    let fs = sb.data();
    let ss = fs.geo.sector() as usize;
    let chunk = chunk_in(&st.chunks, logical).ok_or_else(|| {
        btrfs_err!(sb.id(), "data at {} is not in any chunk", logical);
        EIO
    })?;
    let map = chunk.map(logical).map_err(|e| {
        btrfs_err!(sb.id(), "{}", e);
        EIO
    })?;
    if map.len < len as u64 || logical % ss as u64 != 0 {
        btrfs_err!(sb.id(), "data extent at {} is misaligned or crosses its chunk", logical);
        return Err(EIO);
    }
    let phys = map.mirrors().first().ok_or(EIO)?.physical;
    let sectors = len.div_ceil(ss);
    let mut plan = ReadPlan { phys, logical, fpos, len, csums: None, found: 0, root: ctx.root, ino: ctx.ino };
    if ctx.flags & inode_flag::NODATASUM != 0 {
        return Ok(plan);
    }
    let mut want = KVVec::from_elem(0u8, sectors * fs.geo.csum_type.size(), GFP_KERNEL)?;
    plan.found = match st.root(objectid::CSUM_TREE) {
        Some(croot) => lookup_csums(ctx, &croot, logical, &mut want)?,
        None => 0,
    };
    plan.csums = Some(want);
    Ok(plan)
}

impl ReadPlan {
    /// Reads the sectors and checks them; needs no lock.
    fn read(&self, sb: &SuperBlock<Btrfs>) -> Result<KVVec<u8>> {
        let fs = sb.data();
        let ss = fs.geo.sector() as usize;
        let sectors = self.len.div_ceil(ss);
        let mut buf = KVVec::from_elem(0u8, sectors * ss, GFP_KERNEL)?;
        sb.read_at(self.phys, &mut buf)?;
        let Some(want) = &self.csums else { return Ok(buf) };
        let csum_type = fs.geo.csum_type;
        let csize = csum_type.size();
        for (i, sector) in buf.chunks(ss).enumerate() {
            let at = self.logical + (i * ss) as u64;
            let off = self.fpos + (i * ss) as u64;
            if i >= self.found {
                btrfs_warn_rl!(fs.geo.rl, sb.id(), "no csum found for root {} ino {} off {} (logical {})",
                    self.root, self.ino, off, at);
                return Err(EIO);
            }
            let mut got = [0u8; 32];
            csum_type.compute(sector, &mut got);
            let expected = want.get(i * csize..(i + 1) * csize).ok_or(EIO)?;
            let got = got.get(..csize).ok_or(EIO)?;
            if expected != got {
                btrfs_warn_rl!(fs.geo.rl, sb.id(),
                    "csum failed root {} ino {} off {} csum 0x{} expected csum 0x{} mirror 1",
                    self.root, self.ino, off, Hex(got), Hex(expected));
                return Err(EIO);
            }
        }
        Ok(buf)
    }
}

/// The stored checksums of the data sectors from `logical` on, into
/// `out`: how many sectors have one (from the first, consecutively).
fn lookup_csums(ctx: &DataCtx<'_>, croot: &RootNode, logical: u64, out: &mut [u8]) -> Result<usize> {
    let geo = &ctx.sb.data().geo;
    file_item::lookup_csums(ctx.ov, croot, geo.sectorsize, geo.csum_type.size(), logical, out).map_err(|e| {
        btrfs_err_rl!(geo.rl, ctx.sb.id(), "checksum lookup at {} failed: {}", logical, e.0);
        crate::disk_io::kerr(e)
    })
}

/// Bytes as hex, in memory order (C's `%*phN`).
struct Hex<'a>(&'a [u8]);

impl core::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.0 {
            write!(f, "{:02x}", b)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Writing (C: extent_writepages, cow_file_range, btrfs_setattr, btrfs_sync_file)
// ---------------------------------------------------------------------------

/// Most folios written as one extent.
const BATCH: usize = 256;

/// Checksums of every sector of `data`, back to back.
fn csums_of(data: &[u8], ss: usize, csum_type: crate::checksum::CsumType) -> Result<KVec<u8>> {
    let cs = csum_type.size();
    let mut out = KVec::with_capacity(data.len() / ss.max(1) * cs, GFP_KERNEL)?;
    for sector in data.chunks(ss.max(1)) {
        let mut c = [0u8; 32];
        if !csum_type.compute(sector, &mut c) {
            return Err(crate::rfs::errno::eopnotsupp());
        }
        out.extend_from_slice(&c[..cs], GFP_KERNEL)?;
    }
    Ok(out)
}

/// Where `logical` (data, `len` bytes) lives on the device: every copy.
fn data_mirrors(t: &Trans<'_, MReader<'_>>, logical: u64, len: u64) -> crate::error::Result<KVec<u64>> {
    let chunk = chunk_in(&t.fs.chunks, logical).ok_or(crate::error::EUCLEAN)?;
    let map = chunk.map(logical).map_err(|_| crate::error::EUCLEAN)?;
    if map.len < len {
        return Err(crate::error::EUCLEAN);
    }
    let mut v = KVec::new();
    for m in map.mirrors() {
        v.push(m.physical, GFP_KERNEL).map_err(|_| crate::error::ENOMEM)?;
    }
    Ok(v)
}

/// Writes `data` (sector aligned) at file offset `pos` of `inode` as new
/// extents: one if the data space has a free range that long, else
/// several; the item's size becomes `isize`.
fn write_extent(sb: &SuperBlock<Btrfs>, root: u64, ino: u64, pos: u64, data: &[u8], isize: u64) -> Result {
    let mut done = 0usize;
    while done < data.len() {
        done += write_extent_piece(sb, root, ino, pos + done as u64, &data[done..], isize)?;
    }
    Ok(())
}

/// Writes the longest prefix of `data` that one free range takes: allocates
/// it, writes every copy, then points the file at it with its checksums.
/// Returns how many bytes it wrote.
fn write_extent_piece(sb: &SuperBlock<Btrfs>, root: u64, ino: u64, pos: u64, data: &[u8], isize: u64) -> Result<usize> {
    let fs = sb.data();
    let (bytenr, len, mirrors, nodatasum) = with_trans(sb, |t| {
        // A deleted subvolume takes no more data (the cleaner drops it).
        if t.fs.dead_roots.contains(&root) {
            return Err(crate::error::ENOENT);
        }
        t.reserve_metadata()?;
        // `chattr +C` on an empty file turns its checksums off (C:
        // NODATASUM with NODATACOW); rbtrfs still copies on write.
        let nodatasum = crate::inode_ops::read_inode(t, root, ino)?.flags & inode_flag::NODATASUM != 0;
        let (b, len) = t.alloc_data_upto(data.len() as u64, 0)?;
        match data_mirrors(t, b, len) {
            Ok(m) => Ok((b, len, m, nodatasum)),
            Err(e) => {
                let _ = t.free_unused_data(b, len);
                Err(e)
            }
        }
    })?;
    let data = &data[..len as usize];
    let csums = if nodatasum {
        KVec::new()
    } else {
        match csums_of(data, fs.geo.sector() as usize, fs.geo.csum_type) {
            Ok(c) => c,
            Err(e) => {
                let _ = with_trans(sb, |t| t.free_unused_data(bytenr, len));
                return Err(e);
            }
        }
    };
    for p in mirrors.iter() {
        if let Err(e) = sb.write_at(*p, data) {
            btrfs_err_rl!(fs.geo.rl, sb.id(), "error writing data at logical {}: {}", bytenr, e.to_errno());
            let _ = with_trans(sb, |t| t.free_unused_data(bytenr, len));
            return Err(EIO);
        }
    }
    with_trans(sb, |t| {
        let ext = RegularExtent {
            generation: t.fs.transid(),
            ram_bytes: len,
            compression: compression::NONE,
            prealloc: false,
            disk_bytenr: bytenr,
            disk_num_bytes: len,
            offset: 0,
            num_bytes: len,
        };
        file_item::insert_file_extent(t, root, ino, pos, &ext, true)?;
        if !csums.is_empty() {
            file_item::insert_csums(t, bytenr, &csums)?;
        }
        file_item::update_inode(t, root, ino, |f| {
            f.size = isize;
            Ok(())
        })
    })
    .inspect_err(|e| {
        if *e == ENOENT {
            // The subvolume was deleted meanwhile: nothing points at the
            // extent yet, so its space goes back.
            let _ = with_trans(sb, |t| t.free_unused_data(bytenr, len));
        }
    })?;
    Ok(len as usize)
}

/// Writes a run of contiguous folios, then ends them.
fn flush_batch(inode: &UnrefINode<Btrfs>, batch: &mut KVec<WritebackFolio<'_>>) -> Result {
    let r = write_batch(inode, batch);
    let mut v = KVec::new();
    core::mem::swap(&mut v, batch);
    for f in v {
        f.end(r);
    }
    r
}

fn write_batch(inode: &UnrefINode<Btrfs>, batch: &[WritebackFolio<'_>]) -> Result {
    let Some(first) = batch.first() else { return Ok(()) };
    let sb = inode.super_block();
    let fs = sb.data();
    let (root, ino) = (inode.data().root, inode.ino());
    let pos = first.pos().max(0) as u64;
    let total: u64 = batch.iter().map(|f| f.size() as u64).sum();
    let isize = inode.size().max(0) as u64;
    if pos >= isize {
        // Beyond the end (truncated meanwhile): nothing to write.
        return Ok(());
    }
    let len = total.min(isize - pos) as usize;
    let ss = fs.geo.sector();
    let max_inline = file_item::max_inline_size(fs.geo.nodesize, fs.geo.sectorsize, file_item::DEFAULT_MAX_INLINE);
    let alen = (len as u64).div_ceil(ss) * ss;
    let mut buf = KVVec::from_elem(0u8, alen as usize, GFP_KERNEL)?;
    let mut at = 0usize;
    for f in batch {
        let n = f.size().min(len.saturating_sub(at));
        if n == 0 {
            break;
        }
        f.read(0, &mut buf[at..at + n])?;
        at += n;
    }
    if pos == 0 && isize as usize <= max_inline {
        // The whole file fits in its item (C: cow_file_range_inline).
        let data = &buf[..isize as usize];
        return with_trans(sb, |t| {
            t.reserve_metadata()?;
            file_item::insert_inline_extent(t, root, ino, data)?;
            file_item::update_inode(t, root, ino, |f| {
                f.size = isize;
                Ok(())
            })
        });
    }
    write_extent(sb, root, ino, pos, &buf, isize)
}

/// Writes dirty folios of a file (C: `btrfs_writepages`): runs of up to
/// [`BATCH`] contiguous folios become one extent each.
pub(crate) fn writepages(inode: &UnrefINode<Btrfs>, wb: &Writeback<'_>) -> Result {
    let mut batch: KVec<WritebackFolio<'_>> = KVec::new();
    let mut result = Ok(());
    while let Some(f) = wb.next() {
        let follows = batch.last().is_none_or(|l| l.pos() + l.size() as i64 == f.pos());
        if !follows || batch.len() >= BATCH {
            if let Err(e) = flush_batch(inode, &mut batch) {
                result = Err(e);
            }
        }
        batch.push(f, GFP_KERNEL)?;
    }
    if let Err(e) = flush_batch(inode, &mut batch) {
        result = Err(e);
    }
    result
}

/// Rewrites the sector at `start` (aligned) of a regular extent with the
/// bytes `[from, to)` of the file zeroed (C: `btrfs_truncate_block`): for
/// an unaligned shrink (the bytes past the new end must read as zeroes if
/// the file grows again) and the edges of a punched hole. Sectors that
/// are holes, prealloc or inline need nothing.
fn zero_in_sector(sb: &SuperBlock<Btrfs>, root: u64, ino: u64, start: u64, from: u64, to: u64) -> Result {
    let fs = sb.data();
    let ss = fs.geo.sector();
    let mut sector = KVec::from_elem(0u8, ss as usize, GFP_KERNEL)?;
    let isize = with_trans(sb, |t| {
        let (file_offset, re) = match file_item::find_extent_trans(t, root, ino, start)? {
            Some(e) if e.file_offset <= start => match e.kind {
                file_item::ExtentKind::Regular(r) if r.disk_bytenr != 0 && !r.prealloc => (e.file_offset, r),
                _ => return Ok(None),
            },
            _ => return Ok(None),
        };
        let rn = t.fs.root(root).ok_or(crate::error::EUCLEAN)?;
        let ov = Overlay { dirty: &t.fs.dirty, src: t.src };
        let inode = file_item::read_inode(&ov, &rn, ino)?;
        let isize = inode.size;
        if re.compression != compression::NONE {
            // Decode the whole extent and take this sector's part (items
            // are sector aligned, so one item covers the sector).
            let ctx = DataCtx { sb, ov: &ov, st: &*t.fs, root, ino, flags: inode.flags };
            let at = re.offset.saturating_add(start - file_offset) as usize;
            let n = (file_offset.saturating_add(re.num_bytes) - start).min(ss) as usize;
            with_decompressed(&ctx, file_offset, &re, |data| {
                let src = data.get(at..).and_then(|d| d.get(..n)).ok_or(EIO)?;
                sector.get_mut(..n).ok_or(EIO)?.copy_from_slice(src);
                Ok(())
            })
            .map_err(|e| crate::error::Errno(-e.to_errno()))?;
            return Ok(Some(isize));
        }
        let mut runs = crate::mem::Vec::new();
        file_item::read_file(&ov, &rn, ino, start, &mut sector, &mut runs)?;
        for r in runs.iter() {
            let mirrors = data_mirrors(t, r.logical, r.len as u64)?;
            let p = *mirrors.first().ok_or(crate::error::EIO)?;
            // Whole 512-byte blocks: the run stops at i_size, the device
            // reads in blocks (the bytes past i_size are zeroed below).
            let n = r.len.div_ceil(512) * 512;
            let dst = sector.get_mut(r.buf_offset..r.buf_offset + n).ok_or(crate::error::EUCLEAN)?;
            sb.read_at(p, dst).map_err(|_| crate::error::EIO)?;
        }
        Ok(Some(isize))
    })?;
    let Some(isize) = isize else { return Ok(()) };
    let lo = (from.max(start) - start) as usize;
    let hi = (to.min(start + ss) - start) as usize;
    if lo < hi {
        sector[lo..hi].fill(0);
    }
    if isize > start && isize < start + ss {
        sector[(isize - start) as usize..].fill(0);
    }
    write_extent(sb, root, ino, start, &sector, isize)
}

/// Data space promised by [`crate::disk_io::reserve_data`] for writes that
/// bypass the page cache (zeroing partial sectors), given back when the
/// operation is done.
struct Promise<'a>(&'a SuperBlock<Btrfs>, u64);

impl Drop for Promise<'_> {
    fn drop(&mut self) {
        if self.1 != 0 {
            crate::disk_io::release_data(self.0, self.1);
        }
    }
}

/// Rewrites a compressed inline extent of `inode` uncompressed, so that
/// part of it can be cut or zeroed (items only ever cut uncompressed
/// inline data). Data of up to [`file_item::max_inline_size`] stays
/// inline; a whole sector (C btrfs inlines up to one when it compresses
/// well) becomes a regular extent. Nothing to do for any other first
/// extent (rbtrfs never writes a compressed one, so the answer cannot
/// change under us); otherwise the first page is written back first, so
/// newer dirty data there is never replaced by the old.
fn uncompress_inline(inode: &INode<Btrfs>) -> Result {
    let sb = inode.super_block();
    let fs = sb.data();
    let (root, ino) = (inode.data().root, inode.ino());
    let ss = fs.geo.sector();
    let compressed = with_view(sb, |v| {
        let inline = file_item::read_inline_extent(v.overlay(), &v.root(root)?, ino).map_err(crate::disk_io::kerr)?;
        Ok(inline.is_some_and(|ie| ie.compression != compression::NONE))
    })?;
    if !compressed {
        return Ok(());
    }
    inode.write_and_wait_range(0, ss as i64 - 1)?;
    let max = file_item::max_inline_size(fs.geo.nodesize, fs.geo.sectorsize, u32::MAX);
    let sector_data = with_trans(sb, |t| {
        let Some(ie) = file_item::read_inline_extent_trans(t, root, ino)? else { return Ok(None) };
        if ie.compression == compression::NONE {
            return Ok(None);
        }
        let data = comp::decompress_inline(ie.compression, &ie.data, ie.ram_bytes, fs.geo.sectorsize, &Codecs)
            .map_err(|e| {
                btrfs_err_rl!(fs.geo.rl, sb.id(), "root {} ino {} inline extent: {}", root, ino, e);
                e.errno()
            })?;
        if data.is_empty() || data.len() > max {
            return Ok(Some(data));
        }
        t.reserve_metadata()?;
        file_item::insert_inline_extent(t, root, ino, &data)?;
        Ok(None)
    })?;
    if let Some(data) = sector_data {
        let mut sector = KVec::from_elem(0u8, ss as usize, GFP_KERNEL)?;
        sector.get_mut(..data.len()).ok_or(EIO)?.copy_from_slice(&data);
        write_extent(sb, root, ino, 0, &sector, inode.size().max(0) as u64)?;
    }
    Ok(())
}

/// After a shrink to an unaligned `size`, zero the rest of its sector.
fn zero_tail(sb: &SuperBlock<Btrfs>, root: u64, ino: u64, size: u64) -> Result {
    let ss = sb.data().geo.sector();
    let start = size / ss * ss;
    if start == size {
        return Ok(());
    }
    zero_in_sector(sb, root, ino, start, size, start + ss)
}

/// `setattr` (C: `btrfs_setattr`): a size change truncates or extends the
/// file, then the item follows the in-core attributes.
pub(crate) fn setattr(inode: &INode<Btrfs>, attr: &SetAttr<'_, Btrfs>) -> Result {
    attr.prepare()?;
    let sb = inode.super_block();
    let (root, ino) = (inode.data().root, inode.ino());
    if let Some(size) = attr.size() {
        if inode.typ() == Some(INodeType::Reg) && size != inode.size() {
            let size = size.max(0);
            let old = inode.size().max(0) as u64;
            let shrink = (size as u64) < old;
            // Zeroing the tail of an unaligned shrink rewrites a sector:
            // its space is promised before anything changes.
            let ss = sb.data().geo.sector();
            let promise = if shrink && size as u64 % ss != 0 { ss } else { 0 };
            if promise != 0 {
                crate::disk_io::reserve_data(sb, promise, true)?;
            }
            let _promise = Promise(sb, promise);
            if shrink && size > 0 && (size as u64) < sb.data().geo.sector() {
                // Only part of an inline extent may go.
                uncompress_inline(inode)?;
            }
            inode.truncate_setsize(size);
            // From the in-core size: the item's may already say `size` (a
            // concurrent write_inode) or lag behind.
            with_trans(sb, |t| {
                t.reserve_metadata()?;
                file_item::truncate_from(t, root, ino, old, size as u64)
            })?;
            if shrink {
                zero_tail(sb, root, ino, size as u64)?;
            }
            let now = inode.current_time();
            inode.set_cmtime(now);
        }
    }
    attr.copy();
    crate::inode::write_inode(inode)?;
    if attr.mode().is_some() {
        // The access ACL follows the new mode (C: `btrfs_setattr`).
        attr.acl_chmod()?;
    }
    Ok(())
}

/// `fsync` (C: `btrfs_sync_file`): the range is written back already; a
/// full commit makes it durable (there is no log tree yet).
pub(crate) fn fsync(inode: &INode<Btrfs>) -> Result {
    crate::inode::write_inode(inode)?;
    crate::disk_io::commit(inode.super_block())
}

/// `FALLOC_FL_KEEP_SIZE`.
const FALLOC_KEEP_SIZE: i32 = 0x01;
/// `FALLOC_FL_PUNCH_HOLE`.
const FALLOC_PUNCH_HOLE: i32 = 0x02;
/// `FALLOC_FL_ZERO_RANGE`.
const FALLOC_ZERO_RANGE: i32 = 0x10;
/// Largest single preallocated extent (C: `BTRFS_MAX_EXTENT_SIZE`).
const MAX_PREALLOC: u64 = 128 << 20;

/// Punches `[off, end)`: flushes and drops the page cache there, zeroes the
/// partial sectors at the edges, and drops the whole sectors' extents.
fn punch(inode: &INode<Btrfs>, off: u64, end: u64) -> Result {
    let sb = inode.super_block();
    let (root, ino) = (inode.data().root, inode.ino());
    let ss = sb.data().geo.sector();
    let isize = inode.size().max(0) as u64;
    let end = end.min(isize);
    if off >= end {
        return Ok(());
    }
    // The edge sectors are rewritten: their space is promised first.
    crate::disk_io::reserve_data(sb, 2 * ss, true)?;
    let _promise = Promise(sb, 2 * ss);
    if off < ss {
        // The range may cut into an inline extent.
        uncompress_inline(inode)?;
    }
    inode.write_and_wait_range(off as i64, (end - 1) as i64)?;
    inode.truncate_pagecache_range(off as i64, (end - 1) as i64);
    let first = off / ss * ss;
    let last = (end - 1) / ss * ss;
    if off != first {
        zero_in_sector(sb, root, ino, first, off, end)?;
    }
    if end % ss != 0 && (last != first || off == first) {
        zero_in_sector(sb, root, ino, last, off.max(last), end)?;
    }
    with_trans(sb, |t| {
        t.reserve_metadata()?;
        file_item::punch_hole(t, root, ino, off, end - off)
    })
}

/// Preallocates every hole of `[start, end)` (sector aligned). Each step
/// reserves its data space first (flushing to make room), so preallocation
/// takes no space that dirty page cache was promised.
fn prealloc(inode: &INode<Btrfs>, start: u64, end: u64) -> Result {
    let sb = inode.super_block();
    let (root, ino) = (inode.data().root, inode.ino());
    let mut pos = start;
    while pos < end {
        let want = (end - pos).min(MAX_PREALLOC);
        crate::disk_io::reserve_data(sb, want, true)?;
        let mut promised = true;
        let r = with_trans(sb, |t| {
            t.reserve_metadata()?;
            let (hole_end, next) = match file_item::find_extent_trans(t, root, ino, pos)? {
                Some(e) if e.file_offset <= pos => {
                    let e_end = e.end()?;
                    let ss = u64::from(t.fs.geo.sectorsize).max(1);
                    return Ok(e_end.div_ceil(ss) * ss);
                }
                Some(e) => (e.file_offset.min(end), e.file_offset.min(end)),
                None => (end, end),
            };
            // Our own promise makes room for the allocation.
            t.fs.release_data(want)?;
            promised = false;
            let (bytenr, len) = t.alloc_data_upto((hole_end - pos).min(want), 0)?;
            let ext = RegularExtent {
                generation: t.fs.transid(),
                ram_bytes: len,
                compression: compression::NONE,
                prealloc: true,
                disk_bytenr: bytenr,
                disk_num_bytes: len,
                offset: 0,
                num_bytes: len,
            };
            file_item::insert_file_extent(t, root, ino, pos, &ext, true)?;
            let _ = next;
            Ok(pos + len)
        });
        if promised {
            crate::disk_io::release_data(sb, want);
        }
        pos = r?;
    }
    Ok(())
}

/// `fallocate` (C: `btrfs_fallocate`): preallocation with or without
/// KEEP_SIZE, PUNCH_HOLE (with KEEP_SIZE) and ZERO_RANGE.
pub(crate) fn fallocate(inode: &INode<Btrfs>, mode: i32, off: i64, len: i64) -> Result {
    if inode.typ() != Some(INodeType::Reg) {
        return Err(ENODEV);
    }
    if off < 0 || len <= 0 {
        return Err(EINVAL);
    }
    if mode & !(FALLOC_KEEP_SIZE | FALLOC_PUNCH_HOLE | FALLOC_ZERO_RANGE) != 0 {
        return Err(crate::rfs::errno::eopnotsupp());
    }
    let sb = inode.super_block();
    let (root, ino) = (inode.data().root, inode.ino());
    let ss = sb.data().geo.sector();
    let (off, len) = (off as u64, len as u64);
    let end = off.checked_add(len).ok_or(EFBIG)?;
    if mode & FALLOC_PUNCH_HOLE != 0 {
        if mode & FALLOC_KEEP_SIZE == 0 || mode & FALLOC_ZERO_RANGE != 0 {
            return Err(EINVAL);
        }
        punch(inode, off, end)?;
    } else {
        if mode & FALLOC_ZERO_RANGE != 0 {
            punch(inode, off, end)?;
        }
        let isize = inode.size().max(0) as u64;
        // An inline extent cannot have neighbours past its sector.
        let a_start = off / ss * ss;
        let a_end = end.div_ceil(ss) * ss;
        prealloc(inode, a_start, a_end)?;
        if mode & FALLOC_KEEP_SIZE == 0 && end > isize {
            inode.set_size(end as i64);
            with_trans(sb, |t| {
                file_item::update_inode(t, root, ino, |f| {
                    f.size = end;
                    Ok(())
                })
            })?;
        }
    }
    let now = inode.current_time();
    inode.set_cmtime(now);
    crate::inode::write_inode(inode)
}

/// Refusals before the VFS's remap checks (C:
/// `btrfs_remap_file_range_prep`): a file must not become partly
/// checksummed, so `NODATASUM` must agree (`EINVAL`).
pub(crate) fn remap_prep(src: &INode<Btrfs>, dst: &INode<Btrfs>) -> Result {
    if (src.data().flags() ^ dst.data().flags()) & inode_flag::NODATASUM != 0 {
        return Err(EINVAL);
    }
    Ok(())
}

/// Shares a checked range of `src` into `dst` (C: `btrfs_clone_files` and
/// `btrfs_extent_same`): [`crate::reflink::clone_range`] in steps of 64 MiB
/// (a dedupe in steps of [`crate::reflink::MAX_DEDUPE_LEN`]),
/// then the inline data that could not stay inline is written as a
/// sector of its own, and the in-core size and times follow.
pub(crate) fn remap(src: &INode<Btrfs>, dst: &INode<Btrfs>, range: &RemapRange) -> Result {
    use crate::reflink::{clone_range, CloneArgs, MAX_DEDUPE_LEN};
    let sb = dst.super_block();
    let ss = sb.data().geo.sector();
    let (src_root, src_ino) = (src.data().root, src.ino());
    let (dst_root, dst_ino) = (dst.data().root, dst.ino());
    let src_size = src.size().max(0) as u64;
    let dst_size = dst.size().max(0) as u64;
    let end = range.dst_off.checked_add(range.len).ok_or(EINVAL)?;
    if range.dst_off > dst_size && dst_size % ss != 0 {
        // The old last sector's cached bytes past the end of file become
        // part of the file: only zeroes may show there (C:
        // `btrfs_cont_expand`). On disk they are zero already.
        let last = (dst_size / ss * ss) as i64;
        dst.write_and_wait_range(last, last + ss as i64 - 1)?;
        dst.truncate_pagecache_range(last, last + ss as i64 - 1);
    }
    // An inline source extent may have to be written as data: its space
    // is promised first.
    let src_inline = range.src_off == 0
        && with_view(sb, |v| {
            let ie = file_item::read_inline_extent(v.overlay(), &v.root(src_root)?, src_ino).map_err(crate::disk_io::kerr)?;
            Ok(ie.is_some())
        })?;
    let promise = if src_inline { ss } else { 0 };
    if promise != 0 {
        crate::disk_io::reserve_data(sb, promise, true)?;
    }
    let _promise = Promise(sb, promise);
    // A clone goes in steps of CLONE_STEP, each in one tree operation, so
    // that one step's new items cannot outgrow the metadata reserve (an
    // extent crossing a step boundary becomes two items).
    const CLONE_STEP: u64 = 64 << 20;
    let step = if range.dedupe { MAX_DEDUPE_LEN } else { CLONE_STEP };
    let mut done = 0u64;
    let mut inline = None;
    while done < range.len {
        let len = (range.len - done).min(step);
        let src_off = range.src_off + done;
        // A range ending at the source's end of file takes its last
        // sector whole (the VFS allows nothing else unaligned).
        let aligned_len = if src_off + len == src_size { len.div_ceil(ss) * ss } else { len };
        let args = CloneArgs {
            src_root,
            src_ino,
            src_off,
            dst_root,
            dst_ino,
            dst_off: range.dst_off + done,
            len,
            aligned_len,
            dst_size: dst_size.max(range.dst_off + done),
        };
        let r = with_trans(sb, |t| {
            t.reserve_metadata()?;
            let r = clone_range(t, &args)?;
            // The in-core size follows the item under the state lock (a
            // write_inode reads it there).
            let size = dst_size.max(args.dst_off + len);
            if size > dst.size().max(0) as u64 {
                dst.set_size(size as i64);
            }
            Ok(r)
        })?;
        if r.is_some() {
            inline = r;
        }
        done += len;
    }
    if let Some(ic) = inline {
        let decoded;
        let data: &[u8] = if ic.compression == compression::NONE {
            ic.data.get(..ic.ram_bytes as usize).ok_or(EIO)?
        } else {
            decoded = comp::decompress_inline(ic.compression, &ic.data, ic.ram_bytes, sb.data().geo.sectorsize, &Codecs)
                .map_err(|e| {
                    btrfs_err_rl!(sb.data().geo.rl, sb.id(), "root {} ino {} inline extent: {}", src_root, src_ino, e);
                    crate::disk_io::kerr(e.errno())
                })?;
            &decoded[..]
        };
        let mut sector = KVec::from_elem(0u8, ss as usize, GFP_KERNEL)?;
        sector.get_mut(..data.len()).ok_or(EIO)?.copy_from_slice(data);
        write_extent(sb, dst_root, dst_ino, ic.dst_offset, &sector, dst_size.max(end))?;
    }
    if !range.dedupe {
        let now = dst.current_time();
        dst.set_cmtime(now);
    }
    crate::inode::write_inode(dst)
}

/// `FS_IOC_FIEMAP` (C: `btrfs_fiemap`): the file is written back first
/// (delalloc has no place on disk yet), then its extent items are
/// reported in batches, each found in a transaction and filled after it
/// (filling copies to user memory, which may fault on this filesystem).
pub(crate) fn fiemap(inode: &INode<Btrfs>, fm: &crate::rfs::fiemap::Fiemap, start: u64, len: u64) -> Result {
    use crate::reflink::FiemapExtent;
    const BATCH: usize = 128;
    let sb = inode.super_block();
    let (root, ino) = (inode.data().root, inode.ino());
    inode.write_and_wait_range(0, i64::MAX)?;
    let end = start.saturating_add(len);
    let mut pos = start;
    loop {
        let mut recs: KVec<FiemapExtent> = KVec::new();
        with_view(sb, |v| {
            crate::reflink::fiemap(v.state, v.reader, root, ino, pos, end, |r| {
                recs.push(r, GFP_KERNEL).map_err(|_| crate::error::ENOMEM)?;
                Ok(recs.len() >= BATCH)
            })
            .map_err(crate::disk_io::kerr)
        })?;
        for r in recs.iter() {
            if fm.fill(r.logical, r.physical, r.len, r.flags)? {
                return Ok(());
            }
        }
        match recs.last() {
            Some(r) if recs.len() >= BATCH => pos = r.logical + r.len,
            _ => return Ok(()),
        }
    }
}
