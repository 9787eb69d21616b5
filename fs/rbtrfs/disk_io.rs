// SPDX-License-Identifier: GPL-2.0

//! Reading the filesystem at mount, and tree blocks afterwards
//! (C: `fs/btrfs/disk-io.c`, the read side of `volumes.c`).
//!
//! Mount (`open_ctree`): validate the superblock, map the system chunks
//! from its `sys_chunk_array`, read the chunk tree to map every chunk, read
//! the tree of tree roots, and find the roots the mount needs (the default
//! subvolume's fs tree and the checksum tree). Every tree block read goes
//! through [`Reader::read_tree_block`], which checks it like C btrfs does
//! (`btrfs_validate_extent_buffer` + the tree-checker) and falls back to
//! the other DUP copy when one is bad.

#![forbid(unsafe_code)]

use crate::checksum::CsumType;
use crate::ctree::{check_tree_block, key_type, objectid, BlockExpect, Key, Path, SearchError, TreeSource};
use crate::extent_io::{BlockRef, Overlay, RootNode};
use crate::format::{self, compat_ro, SuperBlock as DiskSuper};
use crate::items::{DirItemIter, Root};
use crate::transaction::{FsState, RwRefusal};
use crate::rfs::errno;
use crate::rfs::fs::{BlockDevice, NewSuperBlock, StatFs, SuperBlock};
use crate::super_::{Btrfs, MountOptions};
use crate::messages::RateLimit;
use crate::validate::{validate_super, SuperError, SuperInfo, Uuid};
use crate::volumes::{block_group, ChunkInfo, ChunkItem, SysChunkIter};
use kernel::prelude::*;
use crate::rfs::rwsem::RwSemaphore;
use kernel::new_mutex;
use kernel::sync::{Arc, Mutex};

/// Block size used to read the superblock through the buffer cache.
const SUPER_READ_BLOCK: u32 = format::SUPER_INFO_SIZE as u32;

/// The page size btrfs requires the sector size to match.
const PAGE_SIZE: u32 = kernel::page::PAGE_SIZE as u32;

/// A tree block read from disk and verified (C: `struct extent_buffer`).
#[derive(Clone)]
pub(crate) struct Eb(Arc<crate::mem::Vec<u8>>);

impl AsRef<[u8]> for Eb {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Where a tree's root block is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RootLoc {
    /// Logical address of the root block.
    pub(crate) bytenr: u64,
    /// Level of the root block.
    pub(crate) level: u8,
    /// Generation of the root block.
    pub(crate) generation: u64,
}

/// Bytes of tree blocks the cache holds at most (its blocks go back to
/// memory reclaim and `drop_caches` through the superblock's shrinker).
const BLOCK_CACHE_BYTES: usize = 64 << 20;

/// The tree block cache of a mount.
pub(crate) type BlockCache = crate::block_cache::BlockCache<Eb>;

/// What is needed to read tree blocks and data: geometry and the chunk map.
pub(crate) struct Geometry {
    /// Filesystem id (tree blocks carry it).
    pub(crate) fsid: [u8; 16],
    /// Checksum algorithm.
    pub(crate) csum_type: CsumType,
    /// Tree block size.
    pub(crate) nodesize: u32,
    /// Data block size.
    pub(crate) sectorsize: u32,
    /// Every chunk, sorted by logical address.
    chunks: KVec<ChunkInfo>,
    /// Limits the read-path error messages of this filesystem.
    pub(crate) rl: RateLimit,
    /// Verified tree blocks (`cache_lock` in C terms: a sleeping mutex,
    /// held only to look up or insert, never across I/O).
    cache: Arc<Mutex<BlockCache>>,
}

impl Geometry {
    /// The sector size as a divisor: validated non-zero at mount, and
    /// `max(1)` lets the compiler drop the division-by-zero panic path.
    pub(crate) fn sector(&self) -> u64 {
        u64::from(self.sectorsize).max(1)
    }

    fn insert_chunk(&mut self, info: ChunkInfo) -> Result {
        let i = self.chunks.partition_point(|c| c.logical < info.logical);
        if self.chunks.get(i).is_some_and(|c| c.logical == info.logical) {
            self.chunks[i] = info;
            return Ok(());
        }
        self.chunks.push(info, GFP_KERNEL)?;
        // Keep the vector sorted: rotate the new last element into place.
        self.chunks[i..].rotate_right(1);
        Ok(())
    }
}

/// The mounted filesystem (C: `struct btrfs_fs_info`).
pub(crate) struct FsInfo {
    /// Geometry, and the chunk map read at mount (later chunks are only in
    /// `state`).
    pub(crate) geo: Geometry,
    /// Filesystem size.
    pub(crate) total_bytes: u64,
    /// The mounted subvolume's tree id.
    pub(crate) fs_root: u64,
    /// Roots, block groups, chunks and the running transaction. Every tree
    /// access takes it; it is never held while taking a folio lock (folio
    /// locks come first: read_folio and writeback run under them).
    pub(crate) state: Arc<Mutex<FsState>>,
    /// Read-write (from the mount, or a remount read-write of a read-only
    /// mount: it only ever turns on).
    pub(crate) writable: core::sync::atomic::AtomicBool,
    /// `commit=`: seconds between periodic commits.
    pub(crate) commit_interval: u32,
    /// The trees were walked after a corruption error already.
    pub(crate) checked_after_error: core::sync::atomic::AtomicBool,
    /// The compressed extent last decoded. Taken inside `state` (reads
    /// hold it), never the other way round.
    pub(crate) decompressed: Arc<Mutex<crate::file::DecompressedCache>>,
    /// The trees as the last commit left them (C: `fs_info->commit_root_sem`
    /// and each root's `commit_root`). A commit switches them with the
    /// semaphore held for write, inside `state`; readers
    /// ([`with_commit_roots`]) hold it for read and never take `state`.
    pub(crate) commit_roots: Pin<KBox<RwSemaphore<CommitRoots>>>,
    /// Per-subvolume state of the VFS hooks (read-only flag, anonymous
    /// device); its mutex serialises subvolume creation, deletion and
    /// flag changes (C: `subvol_sem`). Taken before `state`.
    pub(crate) subvols: Arc<Mutex<crate::subvol::Subvols>>,
    /// `user_subvol_rm_allowed`: owners may delete subvolumes.
    pub(crate) user_subvol_rm_allowed: bool,
    /// Placeholder directories made so far: each gets its own inode
    /// ([`crate::inode::empty_subvol_dir`]).
    pub(crate) placeholders: core::sync::atomic::AtomicU64,
    /// `/sys/fs/btrfs/<fsid>/`, while mounted.
    pub(crate) _sysfs: Option<crate::sysfs::FsSysfs>,
}

/// Every tree's root as of the last commit, and the chunk map to read them.
pub(crate) struct CommitRoots {
    roots: KVec<RootNode>,
    chunks: KVec<ChunkInfo>,
}

impl CommitRoots {
    /// The commit roots of `st` (what its last commit wrote).
    fn of(st: &FsState) -> Result<Self> {
        let mut roots = KVec::with_capacity(st.roots.len(), GFP_KERNEL)?;
        for r in st.roots.iter() {
            roots.push(r.commit, GFP_KERNEL)?;
        }
        Ok(Self { roots, chunks: chunks_copy(st)? })
    }

    /// Tree `id` as committed.
    pub(crate) fn node(&self, id: u64) -> Option<RootNode> {
        self.roots.iter().find(|r| r.objectid == id).copied()
    }
}

/// Searches of the commit roots (C: a path with `search_commit_root`),
/// valid while [`with_commit_roots`] holds `commit_root_sem` for read.
/// Every block they reach stays as it is meanwhile: blocks freed since
/// that commit are pinned until the next switch, which waits for us.
pub(crate) struct CommitView<'a> {
    /// The roots searched.
    pub(crate) roots: &'a CommitRoots,
    /// Verified block reads.
    pub(crate) reader: Reader<'a, SuperBlock<Btrfs>>,
}

/// Runs `f` on the commit roots of `sb`, holding `commit_root_sem` for read
/// (C: `down_read(&fs_info->commit_root_sem)` around a commit-root search).
/// Keep `f` short: a commit waits for it before it can finish. `f` must
/// not take the state lock (a commit holds it while it waits for us).
pub(crate) fn with_commit_roots<R>(sb: &SuperBlock<Btrfs>, f: impl FnOnce(&CommitView<'_>) -> Result<R>) -> Result<R> {
    let fs = sb.data();
    let roots = fs.commit_roots.read();
    let view = CommitView { roots: &roots, reader: Reader { dev: sb, geo: &fs.geo, chunks: &roots.chunks } };
    f(&view)
}

impl FsInfo {
    /// Whether the filesystem takes changes (mounted or remounted
    /// read-write).
    pub(crate) fn writable(&self) -> bool {
        self.writable.load(core::sync::atomic::Ordering::Acquire)
    }
}

/// Maps a core error to a kernel one.
pub(crate) fn kerr(e: crate::error::Errno) -> Error {
    Error::from_errno(-e.0)
}

/// The block device as the core's commit writes to it.
struct DevWriter<'a>(&'a SuperBlock<Btrfs>);

impl crate::transaction::Device for DevWriter<'_> {
    fn write_at(&self, physical: u64, data: &[u8]) -> crate::error::Result {
        self.0.write_at(physical, data).map_err(|_| crate::error::EIO)
    }

    fn flush(&self) -> crate::error::Result {
        self.0.flush().map_err(|_| crate::error::EIO)
    }

    fn size(&self) -> u64 {
        self.0.device_size()
    }
}

/// A copy of the chunk map, for a reader used while the state is borrowed
/// mutably (a transaction). Chunks added by the running transaction hold
/// no committed block, so the copy is enough to read clean blocks.
fn chunks_copy(st: &FsState) -> Result<KVec<ChunkInfo>> {
    let mut v = KVec::with_capacity(st.chunks.len(), GFP_KERNEL)?;
    v.extend_from_slice(&st.chunks, GFP_KERNEL)?;
    Ok(v)
}

/// The reader type transactions of a mounted filesystem use.
pub(crate) type MReader<'a> = Reader<'a, SuperBlock<Btrfs>>;

/// Runs `f` in the running transaction of `sb` (C: `btrfs_start_transaction`
/// and `btrfs_end_transaction`), with the state lock held. Core errors
/// come back as kernel errors; `EROFS` on a read-only mount or after an
/// aborted commit.
#[track_caller]
pub(crate) fn with_trans<R>(
    sb: &SuperBlock<Btrfs>,
    f: impl FnOnce(&mut crate::transaction::Trans<'_, MReader<'_>>) -> crate::error::Result<R>,
) -> Result<R> {
    let fs = sb.data();
    if !fs.writable() {
        return Err(EROFS);
    }
    let at = core::panic::Location::caller();
    let mut guard = fs.state.lock();
    run_trans(sb, &mut guard, at, f)
}

/// Runs `f` as a transaction on the locked state `guard`; an unexpected
/// corruption or I/O error is reported with the caller's location `at`,
/// and the first one in a mount also has every tree checked.
fn run_trans<R>(
    sb: &SuperBlock<Btrfs>,
    guard: &mut FsState,
    at: &core::panic::Location<'_>,
    f: impl FnOnce(&mut crate::transaction::Trans<'_, MReader<'_>>) -> crate::error::Result<R>,
) -> Result<R> {
    let fs = sb.data();
    let chunks = chunks_copy(guard)?;
    let reader = Reader { dev: sb, geo: &fs.geo, chunks: &chunks };
    let mark = guard.change_mark();
    let was_aborted = guard.aborted;
    let mut t = crate::transaction::Trans::new(guard, &reader).map_err(kerr)?;
    f(&mut t).map_err(|e| {
        // Corruption or an I/O error in a tree operation is never expected.
        if e == crate::error::EUCLEAN || e == crate::error::EIO {
            btrfs_err_rl!(fs.geo.rl, sb.id(), "tree operation at {}:{} failed: error {}", at.file(), at.line(), -e.0);
            if !fs.checked_after_error.swap(true, core::sync::atomic::Ordering::Relaxed) {
                check_trees(sb, t.fs, &reader);
            }
        }
        // Failed half way (out of memory, say): what it changed must not
        // be committed (C: btrfs_abort_transaction).
        t.fs.abort_if_changed_since(mark, e);
        if t.fs.aborted && !was_aborted {
            btrfs_err!(sb.id(), "Transaction aborted (error {}) at {}:{}", -e.0, at.file(), at.line());
            btrfs_err!(sb.id(), "forced readonly");
        }
        kerr(e)
    })
}

/// After a tree operation failed with corruption: walks every tree of the
/// running transaction and reports the first bad block of each (once per
/// mount), so the cause is in the log and not only its symptom.
fn check_trees(sb: &SuperBlock<Btrfs>, st: &FsState, reader: &MReader<'_>) {
    let ov = Overlay { dirty: &st.dirty, src: reader };
    let csum_size = reader.geo.csum_type.size();
    for r in st.roots.iter() {
        let mut stack: crate::mem::Vec<(u64, u8, u64, Option<Key>)> = crate::mem::Vec::new();
        if stack.push((r.node.bytenr, r.node.level, r.node.generation, None)).is_err() {
            return;
        }
        let mut blocks = 0u32;
        while let Some((bytenr, level, gen, first)) = stack.pop() {
            blocks += 1;
            let b = match ov.read_tree_block(bytenr, level, gen) {
                Ok(b) => b,
                Err(_) => {
                    btrfs_err!(sb.id(), "tree {}: block {} level {} gen {} unreadable", r.node.objectid, bytenr, level, gen);
                    break;
                }
            };
            let dirty = st.dirty.contains(bytenr);
            // A dirty block is not written yet: check it as if it were.
            let mut copy = KVec::new();
            if copy.extend_from_slice(b.as_ref(), GFP_KERNEL).is_err() || copy.len() < 64 {
                return;
            }
            if dirty {
                copy[56] |= crate::extent_io::HEADER_FLAG_WRITTEN as u8;
            }
            let res = crate::ctree::TreeBlock::new(&copy).and_then(|tb| {
                if tb.level() != level {
                    return Err(crate::ctree::TreeError::LevelMismatch { bytenr, want: level, have: tb.level() });
                }
                if level == 0 { crate::ctree::check_leaf(&tb, csum_size) } else { crate::ctree::check_node(&tb, reader.geo.sectorsize) }?;
                if let Some(k) = first {
                    if tb.nritems() > 0 && tb.key(0)? != k {
                        return Err(crate::ctree::TreeError::FirstKeyMismatch { bytenr, want: k, have: tb.key(0)? });
                    }
                }
                if level > 0 {
                    for i in 0..tb.nritems() as usize {
                        let p = tb.key_ptr(i)?;
                        let _ = stack.push((p.blockptr, level - 1, p.generation, Some(p.key)));
                    }
                }
                Ok(())
            });
            if let Err(e) = res {
                btrfs_err!(sb.id(), "tree {}: {} block {}: {}", r.node.objectid, if dirty { "dirty" } else { "clean" }, bytenr, e);
                break;
            }
        }
        btrfs_info!(sb.id(), "tree {} checked: {} blocks (root {} level {})", r.node.objectid, blocks, r.node.bytenr, r.node.level);
    }
}

/// Promises `bytes` of data space to a folio about to be dirtied (C:
/// `btrfs_check_data_free_space`). Short of space and with `flush`, writes
/// back the dirty page cache (whose promises become allocations) and
/// commits (space freed in the transaction stops being pinned), then tries
/// again; `ENOSPC` if there still is no room.
pub(crate) fn reserve_data(sb: &SuperBlock<Btrfs>, bytes: u64, flush: bool) -> Result {
    let fs = sb.data();
    if !fs.writable() {
        return Err(EROFS);
    }
    for round in 0..3 {
        {
            let mut st = fs.state.lock();
            if st.aborted {
                return Err(EROFS);
            }
            if st.reserve_data(bytes).is_ok() {
                return Ok(());
            }
        }
        if !flush || round == 2 {
            break;
        }
        sb.writeback_for_space();
        commit(sb)?;
    }
    Err(ENOSPC)
}

/// Gives back a promise of [`reserve_data`].
pub(crate) fn release_data(sb: &SuperBlock<Btrfs>, bytes: u64) {
    let fs = sb.data();
    if fs.state.lock().release_data(bytes).is_err() {
        btrfs_err_rl!(fs.geo.rl, sb.id(), "data space reservation underflow releasing {} bytes", bytes);
    }
}

/// At unmount, after the last writeback: every promise was kept or given
/// back (C: the space_info checks of `btrfs_free_block_groups`).
pub(crate) fn check_space_leaks(sb: &SuperBlock<Btrfs>) {
    let fs = sb.data();
    let st = fs.state.lock();
    if st.data_may_use != 0 {
        btrfs_err!(sb.id(), "space leak: data bytes_may_use {} at unmount", st.data_may_use);
    }
    for g in st.bgs.iter() {
        if g.reserved != 0 {
            btrfs_err!(sb.id(), "space leak: block group {} has {} reserved bytes at unmount", g.start, g.reserved);
        }
    }
}

/// Commits the running transaction of `sb`, if it changed anything (C:
/// `btrfs_commit_transaction`). Once the superblocks are durable, the
/// written blocks become the cache's clean copies and the commit roots are
/// switched under `commit_root_sem`; then the space the transaction freed
/// is unpinned. A failed commit aborts: the filesystem takes no more
/// changes.
pub(crate) fn commit(sb: &SuperBlock<Btrfs>) -> Result {
    let fs = sb.data();
    if !fs.writable() {
        return Ok(());
    }
    let mut guard = fs.state.lock();
    commit_locked(sb, &mut guard)
}

/// Commits, runs `f` in a fresh transaction, and commits again, with the
/// state lock held throughout: nothing changes any tree between the first
/// commit and `f`, so `f` sees every tree clean (snapshot creation shares
/// committed blocks only; C creates snapshots inside the commit).
#[track_caller]
pub(crate) fn commit_around<R>(
    sb: &SuperBlock<Btrfs>,
    f: impl FnOnce(&mut crate::transaction::Trans<'_, MReader<'_>>) -> crate::error::Result<R>,
) -> Result<R> {
    let fs = sb.data();
    if !fs.writable() {
        return Err(EROFS);
    }
    let at = core::panic::Location::caller();
    let mut guard = fs.state.lock();
    commit_locked(sb, &mut guard)?;
    let r = run_trans(sb, &mut guard, at, f);
    // What `f` changed is committed (a failure half way aborted it: then
    // `f`'s error is the one to report).
    let c = commit_locked(sb, &mut guard);
    let v = r?;
    c.map(|()| v)
}

/// [`commit`] with the state lock held.
fn commit_locked(sb: &SuperBlock<Btrfs>, guard: &mut FsState) -> Result {
    let fs = sb.data();
    if guard.aborted {
        return Err(EROFS);
    }
    if !guard.has_changes() {
        return Ok(());
    }
    let chunks = chunks_copy(guard)?;
    let reader = Reader { dev: sb, geo: &fs.geo, chunks: &chunks };
    let switch = |st: &FsState, blocks: crate::mem::Vec<(u64, crate::mem::Vec<u8>)>| -> crate::error::Result {
        let nomem = |_: Error| crate::error::ENOMEM;
        {
            // The written blocks are the clean copies now. (Allocate
            // before taking the cache lock: reclaim shrinks the cache.)
            let mut ebs = KVec::with_capacity(blocks.len(), GFP_KERNEL).map_err(|_| crate::error::ENOMEM)?;
            for (bytenr, data) in blocks.into_inner() {
                let eb = Eb(Arc::new(data, GFP_KERNEL).map_err(|_| crate::error::ENOMEM)?);
                ebs.push((bytenr, eb), GFP_KERNEL).map_err(|_| crate::error::ENOMEM)?;
            }
            let mut cache = fs.geo.cache.lock();
            for (bytenr, eb) in ebs {
                cache.insert(bytenr, eb);
            }
        }
        let next = CommitRoots::of(st).map_err(nomem)?;
        // Readers of the old commit roots finish first.
        *fs.commit_roots.write() = next;
        Ok(())
    };
    match crate::transaction::commit_switch(guard, &reader, &DevWriter(sb), switch) {
        Ok(()) => Ok(()),
        Err(e) => {
            if let Some(r) = guard.ref_failure.take() {
                btrfs_err!(sb.id(), "unable to {} ref byte nr {} num_bytes {} {} by {}",
                    if r.delta > 0 { "add" } else { "find" }, r.bytenr, r.num_bytes, r.kind, r.delta);
            }
            btrfs_err!(sb.id(), "Transaction aborted (error {})", -e.0);
            btrfs_err!(sb.id(), "forced readonly");
            Err(kerr(e))
        }
    }
}

/// Reads verified tree blocks from a device.
pub(crate) struct Reader<'a, D: BlockDevice> {
    /// The device.
    pub(crate) dev: &'a D,
    /// Geometry and chunk map.
    pub(crate) geo: &'a Geometry,
    /// Every chunk, sorted by logical address.
    pub(crate) chunks: &'a [ChunkInfo],
}

/// The chunk holding `logical` in a sorted chunk list.
pub(crate) fn chunk_in(chunks: &[ChunkInfo], logical: u64) -> Option<&ChunkInfo> {
    let i = chunks.partition_point(|c| c.logical <= logical);
    let c = chunks.get(i.checked_sub(1)?)?;
    c.contains(logical).then_some(c)
}

impl<D: BlockDevice> TreeSource for Reader<'_, D> {
    type Block = Eb;
    type Error = Error;

    fn read_tree_block(&self, logical: u64, level: u8, generation: u64) -> Result<Eb> {
        if let Some(eb) = self.geo.cache.lock().get(logical) {
            // Verified when read; the parent's expectations must still hold.
            let tb = crate::ctree::TreeBlock::new(eb.as_ref()).map_err(|e| self.tree_err(e))?;
            if tb.level() == level && (generation == 0 || tb.generation() == generation) {
                return Ok(eb);
            }
        }
        let eb = self.read_tree_block_uncached(logical, level, generation)?;
        self.geo.cache.lock().insert(logical, eb.clone());
        Ok(eb)
    }
}

impl<D: BlockDevice> Reader<'_, D> {
    fn read_tree_block_uncached(&self, logical: u64, level: u8, generation: u64) -> Result<Eb> {
        let dev = self.dev.id();
        let chunk = chunk_in(self.chunks, logical).ok_or_else(|| {
            btrfs_err!(dev, "tree block {} is not in any chunk", logical);
            errno::euclean()
        })?;
        let map = chunk.map(logical).map_err(|e| {
            btrfs_err!(dev, "{}", e);
            errno::euclean()
        })?;
        let nodesize = self.geo.nodesize as usize;
        if map.len < nodesize as u64 {
            btrfs_err!(dev, "tree block {} crosses the end of its chunk", logical);
            return Err(errno::euclean());
        }
        let mut buf = crate::mem::Vec::from_elem(0u8, nodesize).map_err(|_| ENOMEM)?;
        let expect = BlockExpect {
            bytenr: logical,
            level: Some(level),
            generation: (generation != 0).then_some(generation),
            owner: None,
            first_key: None,
            sectorsize: self.geo.sectorsize,
        };
        let mut last = Err(EIO);
        for (i, stripe) in map.mirrors().iter().enumerate() {
            if let Err(e) = self.dev.read_at(stripe.physical, &mut buf) {
                btrfs_err_rl!(self.geo.rl, dev, "error reading tree block {} mirror {}: {}", logical, i + 1, e.to_errno());
                last = Err(EIO);
                continue;
            }
            match check_tree_block(&buf, &expect, &self.geo.fsid, self.geo.csum_type) {
                Ok(()) => {
                    if i > 0 {
                        btrfs_info!(dev, "read tree block {} from mirror {}", logical, i + 1);
                    }
                    return Ok(Eb(Arc::new(buf, GFP_KERNEL)?));
                }
                Err(e) => {
                    btrfs_err_rl!(self.geo.rl, dev, "{} (mirror {})", e, i + 1);
                    last = Err(errno::euclean());
                }
            }
        }
        last
    }
}

impl<D: BlockDevice> Reader<'_, D> {
    /// Searches the tree at `root` for `key`, positioning `path` on the
    /// first item `>= key`; returns whether `key` itself exists. Corrupt
    /// blocks are `EUCLEAN` with a message.
    pub(crate) fn search(&self, root: &RootLoc, key: &Key, path: &mut Path<Eb>) -> Result<bool> {
        let r = path.search(self, root.bytenr, root.level, root.generation, key);
        self.map_err(r)
    }

    /// Moves `path` to the next item; false at the end of the tree.
    pub(crate) fn next(&self, path: &mut Path<Eb>) -> Result<bool> {
        let r = path.next_item(self);
        self.map_err(r)
    }

    fn map_err<T>(&self, r: core::result::Result<T, SearchError<Error>>) -> Result<T> {
        r.map_err(|e| match e {
            SearchError::Read(e) => e,
            SearchError::Tree(t) => {
                btrfs_err_rl!(self.geo.rl, self.dev.id(), "{}", t);
                errno::euclean()
            }
        })
    }

    /// Reads the root item of tree `id` from the tree of tree roots.
    fn find_root(&self, tree_root: &RootLoc, id: u64) -> Result<Option<RootLoc>> {
        let mut path = Path::new();
        self.search(tree_root, &Key::new(id, key_type::ROOT_ITEM, 0), &mut path)?;
        let Some(item) = path.item().map_err(|e| self.tree_err(e))? else {
            return Ok(None);
        };
        if item.key.objectid != id || item.key.ty != key_type::ROOT_ITEM {
            return Ok(None);
        }
        let root = Root::parse(item.data).map_err(|e| {
            btrfs_err!(self.dev.id(), "bad root item for tree {}: {}", id, e);
            errno::euclean()
        })?;
        Ok(Some(RootLoc {
            bytenr: root.item.bytenr(),
            level: root.item.level(),
            generation: root.item.generation(),
        }))
    }

    /// Reports a corrupt item or block and returns `EUCLEAN`.
    pub(crate) fn tree_err(&self, e: impl core::fmt::Display) -> Error {
        btrfs_err_rl!(self.geo.rl, self.dev.id(), "{}", e);
        errno::euclean()
    }

    /// The subvolume at `path` (`subvol=`), walked from the top level's
    /// root directory as C's `mount_subtree` does: each name through its
    /// DIR_ITEM, into subvolumes through their ROOT_ITEM locations. It must
    /// end on a subvolume's root directory, else a BTRFS error and
    /// `EINVAL`; a missing name is `ENOENT`.
    fn resolve_subvol_path(&self, tree_root: &RootLoc, path: &[u8]) -> Result<u64> {
        let (mut tree, mut ino) = (objectid::FS_TREE, objectid::FIRST_FREE);
        for name in path.split(|&b| b == b'/').filter(|n| !n.is_empty() && *n != b".") {
            let root = self.find_root(tree_root, tree)?.ok_or(ENOENT)?;
            let hash = u64::from(crate::checksum::name_hash(name));
            let mut p = Path::new();
            if name == b".." || !self.search(&root, &Key::new(ino, key_type::DIR_ITEM, hash), &mut p)? {
                return Err(ENOENT);
            }
            let item = p.item().map_err(|e| self.tree_err(e))?.ok_or(ENOENT)?;
            let mut found = None;
            for entry in DirItemIter::new(item.data) {
                let entry = entry.map_err(|e| self.tree_err(e))?;
                if entry.name == name {
                    found = Some((entry.head.location(), entry.head.ty()));
                }
            }
            let (loc, ty) = found.ok_or(ENOENT)?;
            if loc.ty == key_type::ROOT_ITEM {
                (tree, ino) = (loc.objectid, objectid::FIRST_FREE);
            } else if ty == crate::items::file_type::DIR {
                ino = loc.objectid;
            } else {
                ino = 0;
                break;
            }
        }
        if ino != objectid::FIRST_FREE {
            btrfs_err!(self.dev.id(), "'{}' is not a valid subvolume", kernel::str::BStr::from_bytes(path));
            return Err(EINVAL);
        }
        Ok(tree)
    }

    /// The subvolume a plain mount shows: the root tree directory's
    /// "default" entry (`btrfs subvolume set-default`), else 5.
    fn default_subvol(&self, tree_root: &RootLoc) -> Result<u64> {
        let hash = u64::from(crate::checksum::name_hash(b"default"));
        let mut path = Path::new();
        if !self.search(tree_root, &Key::new(objectid::ROOT_TREE_DIR, key_type::DIR_ITEM, hash), &mut path)? {
            return Ok(objectid::FS_TREE);
        }
        let Some(item) = path.item().map_err(|e| self.tree_err(e))? else {
            return Ok(objectid::FS_TREE);
        };
        for entry in DirItemIter::new(item.data) {
            let entry = entry.map_err(|e| self.tree_err(e))?;
            if entry.name == b"default" {
                return Ok(entry.head.location().objectid);
            }
        }
        Ok(objectid::FS_TREE)
    }
}

/// The current trees of a mounted filesystem, read under the state lock:
/// the running transaction's dirty blocks first, then verified blocks
/// from the device.
pub(crate) struct View<'a> {
    ov: Overlay<'a, Reader<'a, SuperBlock<Btrfs>>>,
    /// The filesystem state (roots, chunks, block groups).
    pub(crate) state: &'a FsState,
    /// The device reader.
    pub(crate) reader: &'a Reader<'a, SuperBlock<Btrfs>>,
}

/// A path through the current trees.
pub(crate) type VPath<'a> = Path<BlockRef<'a, Eb>>;

impl<'a> View<'a> {
    /// Where tree `id` is now.
    pub(crate) fn root(&self, id: u64) -> Result<RootNode> {
        self.state.root(id).ok_or_else(|| {
            btrfs_err_rl!(self.reader.geo.rl, self.reader.dev.id(), "tree {} not found", id);
            ENOENT
        })
    }

    /// Searches tree `root` for `key` (see [`Reader::search`]).
    pub(crate) fn search(&self, root: u64, key: &Key, path: &mut VPath<'a>) -> Result<bool> {
        let r = self.root(root)?;
        let res = path.search(&self.ov, r.bytenr, r.level, r.generation, key);
        self.reader.map_err(res)
    }

    /// Moves `path` to the next item; false at the end of the tree.
    pub(crate) fn next(&self, path: &mut VPath<'a>) -> Result<bool> {
        let res = path.next_item(&self.ov);
        self.reader.map_err(res)
    }

    /// Moves `path` to the previous item; false at the start of the tree.
    pub(crate) fn prev(&self, path: &mut VPath<'a>) -> Result<bool> {
        let res = path.prev_item(&self.ov);
        self.reader.map_err(res)
    }

    /// Reports a corrupt item or block and returns `EUCLEAN`.
    pub(crate) fn tree_err(&self, e: impl core::fmt::Display) -> Error {
        self.reader.tree_err(e)
    }

    /// The current trees, as the core's tree functions read them.
    pub(crate) fn overlay(&self) -> &Overlay<'a, Reader<'a, SuperBlock<Btrfs>>> {
        &self.ov
    }
}

/// Readahead of a file, at least (C btrfs: `SZ_4M` in `open_ctree`).
const READAHEAD_BYTES: usize = 4 << 20;

/// Runs `f` on the current trees of `sb`, with the state lock held.
pub(crate) fn with_view<R>(sb: &SuperBlock<Btrfs>, f: impl FnOnce(&View<'_>) -> Result<R>) -> Result<R> {
    let fs = sb.data();
    let guard = fs.state.lock();
    let st: &FsState = &guard;
    let reader = Reader { dev: sb, geo: &fs.geo, chunks: &st.chunks };
    let view = View { ov: Overlay { dirty: &st.dirty, src: &reader }, state: st, reader: &reader };
    f(&view)
}

/// `statfs` (C: `btrfs_statfs`): blocks is the device size; free counts
/// everything not used (metadata copies included); available is the free
/// room in data block groups plus the space no chunk has claimed yet.
pub(crate) fn statfs(sb: &SuperBlock<Btrfs>) -> Result<StatFs> {
    let fs = sb.data();
    let bs = fs.geo.sector();
    let (mut data_total, mut data_used, mut used_physical, mut allocated_physical) = (0u64, 0u64, 0u64, 0u64);
    let (may_use, st_writable, avail_data);
    {
        let st = fs.state.lock();
        may_use = st.data_may_use;
        st_writable = st.writable && !st.aborted;
        avail_data = st.data_available();
        for g in st.bgs.iter() {
            let copies = st.chunk(g.start).map_or(1, |c| u64::from(c.num_stripes.max(1)));
            let used = g.used + g.reserved;
            if g.flags & block_group::DATA != 0 {
                data_total += g.length;
                data_used += used;
            }
            used_physical += used * copies;
            allocated_physical += g.length * copies;
        }
    }
    let blocks = fs.total_bytes / bs;
    let free = fs.total_bytes.saturating_sub(used_physical) / bs;
    let unallocated = fs.total_bytes.saturating_sub(allocated_physical);
    // Dirty page cache is promised its space already.
    let available = if st_writable {
        // What writers can still be promised (C: `btrfs_statfs` also keeps
        // back room for metadata).
        avail_data / bs
    } else {
        ((data_total.saturating_sub(data_used) + unallocated).saturating_sub(may_use) / bs).min(free)
    };
    let fsid = &fs.geo.fsid;
    let word = |i: usize| u32::from_le_bytes([fsid[i], fsid[i + 1], fsid[i + 2], fsid[i + 3]]);
    Ok(StatFs {
        block_size: bs,
        blocks,
        free,
        available,
        files: 0,
        free_files: 0,
        name_len: 255,
        fsid: [word(0) ^ word(8), word(4) ^ word(12)],
    })
}

/// Reads and validates the primary superblock, then reads the chunk map
/// and the tree roots.
///
/// Every refusal is `EINVAL` (or `EUCLEAN` for corrupt trees) with a
/// `BTRFS error (device ...)` line naming the problem, as C btrfs does.
pub(crate) fn open_ctree(sb: &NewSuperBlock<'_>, opts: &MountOptions) -> Result<KBox<FsInfo>> {
    let dev = sb.id();
    if sb.set_block_size(SUPER_READ_BLOCK).is_err() {
        btrfs_err!(dev, "unable to set blocksize {}", SUPER_READ_BLOCK);
        return Err(EINVAL);
    }
    if sb.device_size() < format::SUPER_INFO_OFFSET + format::SUPER_INFO_SIZE as u64 {
        btrfs_err!(dev, "{}", SuperError::TooSmall);
        return Err(EINVAL);
    }
    let bh = match sb.bread(format::SUPER_INFO_OFFSET / u64::from(SUPER_READ_BLOCK)) {
        Ok(bh) => bh,
        Err(e) => {
            btrfs_err!(dev, "unable to read superblock: error {}", e.to_errno());
            return Err(e);
        }
    };
    let info = match validate_super(bh.data(), PAGE_SIZE) {
        Ok(info) => info,
        Err(e) => {
            btrfs_err!(dev, "{}", e);
            return Err(EINVAL);
        }
    };
    btrfs_info!(dev, "first mount of filesystem {}", Uuid(&info.fsid));
    btrfs_info!(dev, "using {} checksum algorithm", info.csum_type.name());
    if !sb.is_read_only() {
        refuse_rw(dev, &info, bh.data())?;
    }
    if info.compat_ro & compat_ro::BLOCK_GROUP_TREE != 0 {
        btrfs_err!(dev, "block group tree is not supported by rbtrfs");
        return Err(EINVAL);
    }
    let disk = DiskSuper::new(bh.data()).ok_or(EINVAL)?;
    if disk.log_root() != 0 {
        // What the log holds was fsynced after the last commit; read-only,
        // the committed trees are still consistent without it (C btrfs's
        // `nologreplay`). Read-write was refused above.
        btrfs_warn!(dev, "log tree present: mounting read-only without replaying it (data fsynced after transid {} is not visible)",
            disk.generation());
    }

    let mut geo = Geometry {
        fsid: info.fsid,
        csum_type: info.csum_type,
        nodesize: info.nodesize,
        sectorsize: info.sectorsize,
        chunks: KVec::new(),
        rl: RateLimit::new(),
        cache: Arc::pin_init(
            new_mutex!(
                BlockCache::new(BLOCK_CACHE_BYTES / info.nodesize.max(4096) as usize).map_err(|_| ENOMEM)?,
                "rbtrfs_block_cache"
            ),
            GFP_KERNEL,
        )?,
    };
    // Bootstrap: the system chunks in the superblock map the chunk tree.
    let array = disk.sys_chunk_array();
    let array = array.get(..disk.sys_chunk_array_size() as usize).unwrap_or(&[]);
    for entry in SysChunkIter::from_bytes(array) {
        let (logical, chunk) = entry.map_err(|e| {
            btrfs_err!(dev, "{}", e);
            EINVAL
        })?;
        let info = chunk_info(dev, geo.sectorsize, logical, &chunk)?;
        geo.insert_chunk(info)?;
    }
    let chunk_root = RootLoc {
        bytenr: disk.chunk_root(),
        level: disk.chunk_root_level(),
        generation: disk.chunk_root_generation(),
    };
    let tree_root = RootLoc {
        bytenr: disk.root(),
        level: disk.root_level(),
        generation: disk.generation(),
    };
    let (generation, total_bytes) = (disk.generation(), disk.total_bytes());
    let (sb_fsid, devid) = (*disk.fsid(), disk.dev_item().devid());
    let mut sb_bytes = KVec::new();
    sb_bytes.extend_from_slice(bh.data(), GFP_KERNEL)?;
    drop(bh);

    read_chunk_tree(sb, &mut geo, &chunk_root)?;
    let mut chunks = crate::mem::Vec::new();
    for c in geo.chunks.iter() {
        chunks.push(*c).map_err(|_| ENOMEM)?;
    }
    let reader = Reader { dev: sb, geo: &geo, chunks: &geo.chunks };
    let by_path = match &opts.subvol_path {
        Some(p) => Some(reader.resolve_subvol_path(&tree_root, p)?),
        None if opts.subvol_root => Some(objectid::FS_TREE),
        None => None,
    };
    let subvol = match (opts.subvolid, by_path) {
        (Some(id), Some(p)) if id != 0 => {
            if id != p {
                btrfs_err!(dev, "subvol '{}' does not match subvolid {}",
                    kernel::str::BStr::from_bytes(opts.subvol_path.as_deref().unwrap_or(b"/")), id);
                return Err(EINVAL);
            }
            id
        }
        (Some(id), None) if id != 0 => id,
        (_, Some(p)) => p,
        _ => reader.default_subvol(&tree_root)?,
    };
    if !objectid::is_fstree(subvol) {
        btrfs_err!(dev, "subvolid={} is not a subvolume", subvol);
        return Err(EINVAL);
    }
    if reader.find_root(&tree_root, subvol)?.is_none() {
        btrfs_err!(dev, "subvolume {} does not exist", subvol);
        return Err(ENOENT);
    }
    let writable = !sb.is_read_only();
    let state = FsState::open(&reader, &sb_bytes, chunks, writable).map_err(|why| refusal(dev, why))?;
    if sb.set_block_size(geo.sectorsize).is_err() {
        btrfs_err!(dev, "unable to set blocksize {}", geo.sectorsize);
        return Err(EINVAL);
    }
    // Like btrfs: a per-filesystem bdi with at least 4 MiB of readahead.
    if let Err(e) = sb.setup_bdi(READAHEAD_BYTES) {
        btrfs_err!(dev, "unable to set up the backing device info: {:?}", e);
        return Err(e);
    }
    btrfs_info!(dev, "mounted subvolume {} {} (generation {}, {} chunks)",
        subvol, if writable { "read-write" } else { "read-only" }, generation, geo.chunks.len());
    let commit_roots = KBox::pin_init(crate::new_rwsem!(CommitRoots::of(&state)?, "commit_root_sem"), GFP_KERNEL)?;
    let state = Arc::pin_init(new_mutex!(state, "rbtrfs_fs_state"), GFP_KERNEL)?;
    Ok(KBox::new(
        FsInfo {
            geo,
            total_bytes,
            fs_root: subvol,
            state,
            writable: core::sync::atomic::AtomicBool::new(writable),
            commit_interval: opts.commit_interval,
            checked_after_error: core::sync::atomic::AtomicBool::new(false),
            decompressed: Arc::pin_init(
                new_mutex!(crate::file::DecompressedCache::new(), "rbtrfs_decompressed"),
                GFP_KERNEL,
            )?,
            commit_roots,
            subvols: Arc::pin_init(new_mutex!(crate::subvol::Subvols::new(), "rbtrfs_subvols"), GFP_KERNEL)?,
            user_subvol_rm_allowed: opts.user_subvol_rm_allowed,
            placeholders: core::sync::atomic::AtomicU64::new(0),
            _sysfs: crate::sysfs::mount_dir(dev, &sb_fsid, devid),
        },
        GFP_KERNEL,
    )?)
}

/// Why a superblock cannot be mounted read-write, logged: unknown compat_ro
/// features, a log tree (no replay yet), checksums we cannot write.
fn refuse_rw(dev: &kernel::str::CStr, info: &SuperInfo, sb: &[u8]) -> Result {
    if info.unknown_compat_ro != 0 {
        btrfs_err!(dev,
            "cannot mount read-write because of unknown compat_ro features (0x{:x})",
            info.unknown_compat_ro);
        return Err(EINVAL);
    }
    let disk = DiskSuper::new(sb).ok_or(EINVAL)?;
    if disk.log_root() != 0 {
        btrfs_err!(dev,
            "log tree present (transid {}): log replay is not supported, run 'btrfs rescue zero-log' or mount with C btrfs",
            disk.generation() + 1);
        return Err(EINVAL);
    }
    if !matches!(info.csum_type, CsumType::Crc32c | CsumType::Xxhash64) {
        btrfs_err!(dev, "cannot mount read-write: {} checksums are not supported for writing; mount with -o ro",
            info.csum_type.name());
        return Err(EINVAL);
    }
    Ok(())
}

/// Logs why the trees cannot be loaded (for writing) and returns the error.
fn refusal(dev: &kernel::str::CStr, why: RwRefusal) -> Error {
    let what = match why {
        RwRefusal::Load(e) => {
            btrfs_err!(dev, "failed to load the trees: error {}", e.0);
            return kerr(e);
        }
        RwRefusal::NoFreeSpaceTree => "no free space tree (mount with C btrfs and -o space_cache=v2 once)",
        RwRefusal::NotSkinny => "metadata extent items are not skinny",
        _ => "unsupported block group profile",
    };
    btrfs_err!(dev, "cannot mount read-write: {}; mount with -o ro", what);
    EINVAL
}

/// Remount read-write of a filesystem mounted read-only (C: the
/// `btrfs_remount` path to read-write): the superblock is read again and
/// checked as a read-write mount would, the trees are loaded for writing
/// (free space), orphans are cleaned up and periodic commits start.
pub(crate) fn remount_rw(sb: &SuperBlock<Btrfs>) -> Result {
    let fs = sb.data();
    if fs.writable() {
        return Ok(());
    }
    let dev = sb.id();
    let mut buf = KVec::from_elem(0u8, format::SUPER_INFO_SIZE, GFP_KERNEL)?;
    sb.read_at(format::SUPER_INFO_OFFSET, &mut buf)?;
    let info = validate_super(&buf, PAGE_SIZE).map_err(|e| {
        btrfs_err!(dev, "{}", e);
        EINVAL
    })?;
    refuse_rw(dev, &info, &buf)?;
    {
        let mut guard = fs.state.lock();
        if guard.generation != DiskSuper::new(&buf).ok_or(EINVAL)?.generation() {
            btrfs_err!(dev, "superblock changed under a read-only mount; not remounting read-write");
            return Err(EINVAL);
        }
        let kchunks = chunks_copy(&guard)?;
        let mut chunks = crate::mem::Vec::new();
        for c in kchunks.iter() {
            chunks.push(*c).map_err(|_| ENOMEM)?;
        }
        let reader = Reader { dev: sb, geo: &fs.geo, chunks: &kchunks };
        let st = FsState::open(&reader, &buf, chunks, true).map_err(|why| refusal(dev, why))?;
        let roots = CommitRoots::of(&st)?;
        *guard = st;
        *fs.commit_roots.write() = roots;
    }
    fs.writable.store(true, core::sync::atomic::Ordering::Release);
    btrfs_info!(dev, "remounted read-write (generation {})", fs.state.lock().generation);
    crate::inode::orphan_cleanup(sb)?;
    sb.schedule_background_work(fs.commit_interval.saturating_mul(1000));
    crate::subvol::wake_cleaner(sb);
    Ok(())
}

/// Validates a chunk item at `logical` and copies out its mapping; a
/// profile we cannot map is refused by name.
fn chunk_info(dev: &kernel::str::CStr, sectorsize: u32, logical: u64, chunk: &ChunkItem<'_>) -> Result<ChunkInfo> {
    if let Err(e) = chunk.check(logical, sectorsize, false) {
        btrfs_err!(dev, "{}", e);
        return Err(errno::euclean());
    }
    let info = chunk.info(logical);
    if let Err(e) = info.map(logical) {
        btrfs_err!(dev, "{}", e);
        return Err(EINVAL);
    }
    Ok(info)
}

/// Reads every CHUNK_ITEM of the chunk tree into the map.
fn read_chunk_tree(sb: &NewSuperBlock<'_>, geo: &mut Geometry, chunk_root: &RootLoc) -> Result {
    let dev = sb.id();
    // Collect first: the reader borrows the map we extend.
    let mut found: KVec<ChunkInfo> = KVec::new();
    {
        let reader = Reader { dev: sb, geo, chunks: &geo.chunks };
        let mut path = Path::new();
        let start = Key::new(objectid::FIRST_CHUNK_TREE, key_type::CHUNK_ITEM, 0);
        reader.search(chunk_root, &start, &mut path)?;
        while let Some(item) = path.item().map_err(|e| reader.tree_err(e))? {
            if item.key.ty == key_type::CHUNK_ITEM {
                let chunk = ChunkItem::parse(item.data).map_err(|e| reader.tree_err(e))?;
                found.push(chunk_info(dev, geo.sectorsize, item.key.offset, &chunk)?, GFP_KERNEL)?;
            }
            if !reader.next(&mut path)? {
                break;
            }
        }
    }
    for info in found.iter() {
        geo.insert_chunk(*info)?;
    }
    Ok(())
}

/// Tree blocks memory reclaim may take back (the superblock shrinker's
/// count).
pub(crate) fn cached_blocks(sb: &SuperBlock<Btrfs>) -> usize {
    sb.data().geo.cache.lock().len()
}

/// Drops up to `nr` cached tree blocks for memory reclaim or
/// `drop_caches`; returns how many went. Blocks in use elsewhere stay
/// allocated until their last user drops them.
pub(crate) fn shrink_block_cache(sb: &SuperBlock<Btrfs>, nr: usize) -> usize {
    sb.data().geo.cache.lock().shrink(nr)
}
