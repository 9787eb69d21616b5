// SPDX-License-Identifier: GPL-2.0

//! Transactions (C: `transaction.c`, the commit half of `disk-io.c`).
//!
//! [`FsState`] is the writable state of a mounted filesystem: the roots of
//! every tree, the block groups, and the running transaction's dirty
//! blocks and delayed refs. A [`Trans`] is a handle on it for changing
//! trees: it implements [`TreeCtx`] for the B-tree code, allocating tree
//! blocks from the block groups and queueing their references.
//!
//! [`commit`] makes the running transaction durable:
//! 1. run delayed refs, write block group items and root items, over and
//!    over until nothing changes (each step changes trees, which queues
//!    more refs);
//! 2. checksum every dirty block and write it to every copy (DUP);
//! 3. flush, then write the superblock, with the new roots and a rotated
//!    backup root slot, to every mirror that fits the device, and flush;
//! 4. release the space pinned by the transaction.
//!
//! Readers of committed state never see a half-written transaction: the
//! superblock is written last, after a flush, and nothing a committed tree
//! points to is overwritten (copy-on-write, pinning).

#![forbid(unsafe_code)]

use crate::block_group::{BlockGroup, BlockGroups};
use crate::checksum::CsumType;
use crate::ctree::{key_type, objectid, Key, Path, SearchError, TreeSource};
use crate::ctree_write::{item_data_mut, search_slot, WPath};
use crate::delayed_ref::{DelayedRef, DelayedRefs, NewExtent, RefKind};
use crate::error::{Errno, Result, EIO, ENOSPC, EOPNOTSUPP, EROFS, EUCLEAN};
use crate::extent_io::{init_header, DirtyBlocks, HeaderInit, RootNode, TreeCtx, HEADER_FLAG_WRITTEN};
use crate::extent_tree;
use crate::format::{self, compat_ro, incompat, SuperBlock, SuperBlockMut, CSUM_SIZE, SUPER_INFO_SIZE};
use crate::free_space_tree;
use crate::items::{BlockGroupItem, BlockGroupItemMut, RootItem, RootItemExtMut, RootItemMut};
use crate::mem::Vec;
use crate::volumes::{block_group as bg_flags, ChunkInfo};

/// Below this much free metadata space, a transaction adds a chunk.
const METADATA_LOW: u64 = 8 << 20;
/// The same for system space (the chunk tree).
const SYSTEM_LOW: u64 = 1 << 20;
/// Unallocated device bytes that data chunks leave to metadata chunks, so
/// that a disk full of data still takes namespace changes and commits.
pub const METADATA_KEEP: u64 = 32 << 20;
/// Smallest useful chunk stripe (see [`crate::chunk_alloc`]).
const MIN_STRIPE: u64 = 4 << 20;
/// Slack for the superblock mirrors a new data chunk may have to exclude.
const DATA_SLACK: u64 = 1 << 20;

/// What every tree block written by this filesystem has in common.
#[derive(Clone, Copy, Debug)]
pub struct Geo {
    /// Tree block size.
    pub nodesize: u32,
    /// Data block size.
    pub sectorsize: u32,
    /// Checksum algorithm.
    pub csum_type: CsumType,
    /// The uuid in tree block headers (the metadata uuid).
    pub fsid: [u8; 16],
    /// The chunk tree's uuid, in every header.
    pub chunk_tree_uuid: [u8; 16],
    /// Skinny metadata extent items.
    pub skinny: bool,
}

/// One tree's root, as the running transaction sees it.
#[derive(Clone, Copy, Debug)]
pub struct TreeRoot {
    /// Where it is now.
    pub node: RootNode,
    /// The key of its ROOT_ITEM in the tree of tree roots (unused for the
    /// root and chunk trees, which the superblock records).
    pub item_key: Key,
    /// Where the last commit left it.
    pub commit: RootNode,
    /// The ROOT_ITEM's `last_snapshot`: the transaction of the last
    /// snapshot of this tree. Blocks of a shareable tree not newer than
    /// this may be shared with snapshots.
    pub last_snapshot: u64,
}

/// Writes to the device (the kernel's block device, or an image file).
pub trait Device {
    /// Writes `data` at byte `physical`.
    fn write_at(&self, physical: u64, data: &[u8]) -> Result;
    /// Makes every completed write durable.
    fn flush(&self) -> Result;
    /// Size of the device in bytes.
    fn size(&self) -> u64;
}

/// The writable state of a mounted filesystem.
pub struct FsState {
    /// Header fields and sizes.
    pub geo: Geo,
    /// Every chunk, for mapping logical addresses to the device.
    pub chunks: Vec<ChunkInfo>,
    /// The superblock as last written (or read).
    pub sb: Vec<u8>,
    /// The last committed transaction.
    pub generation: u64,
    /// Every tree's root, by objectid.
    pub roots: Vec<TreeRoot>,
    /// Block groups and their free space.
    pub bgs: BlockGroups,
    /// The running transaction's dirty tree blocks.
    pub dirty: DirtyBlocks,
    /// The running transaction's queued reference changes.
    pub refs: DelayedRefs,
    /// A commit failed: the filesystem is read-only until unmounted.
    pub aborted: bool,
    /// The reference change that the extent tree did not accept (a
    /// backref that is not there, a count that would go below zero, a
    /// new extent that exists), for the abort message (C logs "unable to
    /// find ref byte nr ..." and aborts the transaction).
    pub ref_failure: Option<crate::delayed_ref::DelayedRef>,
    /// Loaded for writing (free space known).
    pub writable: bool,
    /// Data bytes promised to dirty page cache not allocated yet (C:
    /// `space_info->bytes_may_use` of the data space).
    pub data_may_use: u64,
    meta_hint: u64,
    // Next inode number per tree, once known: (tree, next).
    next_ino: Vec<(u64, u64)>,
    /// Deleted subvolumes (ROOT_ITEM refs 0) whose trees the cleaner has
    /// not dropped yet (C: `fs_info->dead_roots`). Nothing may change them:
    /// [`Trans::with_root`] refuses with `ENOENT`.
    pub dead_roots: Vec<u64>,
    /// The highest subvolume id registered since the mount: new ids go
    /// above it even once the cleaner dropped the highest tree (C keeps
    /// `free_objectid` of the tree of tree roots the same way).
    pub tree_id_high: u64,
}

fn read_err<E>(e: SearchError<E>) -> Errno {
    match e {
        SearchError::Read(_) => EIO,
        SearchError::Tree(_) => EUCLEAN,
    }
}

/// Why a filesystem cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RwRefusal {
    /// No free space tree: allocation needs it.
    NoFreeSpaceTree,
    /// Metadata extent items are not skinny.
    NotSkinny,
    /// A profile other than SINGLE or DUP.
    Profile,
    /// Some other damage found while loading: the errno.
    Load(Errno),
}

impl FsState {
    /// Loads what writing needs from a mounted filesystem whose superblock
    /// is `sb` and chunks `chunks`: every root, every block group and its
    /// free space (from the free space tree).
    ///
    /// A read-only mount (`writable` false) loads the roots and block
    /// groups but no free space, and refuses nothing: it never allocates.
    pub fn open<S: TreeSource>(
        src: &S,
        sb: &[u8],
        chunks: Vec<ChunkInfo>,
        writable: bool,
    ) -> core::result::Result<Self, RwRefusal> {
        let s = SuperBlock::new(sb).ok_or(RwRefusal::Load(EUCLEAN))?;
        let ro = s.compat_ro_flags();
        if writable && (ro & compat_ro::FREE_SPACE_TREE == 0 || ro & compat_ro::FREE_SPACE_TREE_VALID == 0) {
            return Err(RwRefusal::NoFreeSpaceTree);
        }
        if writable && s.incompat_flags() & incompat::SKINNY_METADATA == 0 {
            return Err(RwRefusal::NotSkinny);
        }
        let csum_type = CsumType::from_disk(s.csum_type()).ok_or(RwRefusal::Load(EUCLEAN))?;
        let fsid = if s.incompat_flags() & incompat::METADATA_UUID != 0 { *s.metadata_uuid() } else { *s.fsid() };
        let l = |e: Errno| RwRefusal::Load(e);
        // The chunk tree uuid is in the chunk root's header.
        let chunk_root = RootNode {
            objectid: objectid::CHUNK_TREE,
            bytenr: s.chunk_root(),
            level: s.chunk_root_level(),
            generation: s.chunk_root_generation(),
        };
        let mut chunk_tree_uuid = [0u8; 16];
        {
            let b = src.read_tree_block(chunk_root.bytenr, chunk_root.level, chunk_root.generation).map_err(|_| l(EIO))?;
            chunk_tree_uuid.copy_from_slice(b.as_ref().get(64..80).ok_or(l(EUCLEAN))?);
        }
        let mut sbv = Vec::new();
        sbv.extend_from_slice(&sb[..SUPER_INFO_SIZE]).map_err(|_| l(crate::error::ENOMEM))?;
        let mut fs = FsState {
            geo: Geo {
                nodesize: s.nodesize(),
                sectorsize: s.sectorsize(),
                csum_type,
                fsid,
                chunk_tree_uuid,
                skinny: true,
            },
            chunks,
            sb: sbv,
            generation: s.generation(),
            roots: Vec::new(),
            bgs: BlockGroups::new(),
            dirty: DirtyBlocks::new(),
            refs: DelayedRefs::new(),
            aborted: false,
            ref_failure: None,
            writable: false,
            data_may_use: 0,
            meta_hint: 0,
            next_ino: Vec::new(),
            dead_roots: Vec::new(),
            tree_id_high: 0,
        };
        fs.writable = writable;
        if writable && fs.chunks.iter().any(|c| c.type_flags & bg_flags::PROFILE_MASK & !bg_flags::DUP != 0) {
            return Err(RwRefusal::Profile);
        }
        let tree_root =
            RootNode { objectid: objectid::ROOT_TREE, bytenr: s.root(), level: s.root_level(), generation: s.generation() };
        fs.add_root(TreeRoot { node: tree_root, item_key: Key::MIN, commit: tree_root, last_snapshot: 0 }).map_err(l)?;
        fs.add_root(TreeRoot { node: chunk_root, item_key: Key::MIN, commit: chunk_root, last_snapshot: 0 }).map_err(l)?;
        fs.load_roots(src, &tree_root).map_err(l)?;
        fs.load_block_groups(src).map_err(l)?;
        Ok(fs)
    }

    /// Registers a tree created by the running transaction (a new
    /// subvolume, the uuid tree): its root is `node`, its ROOT_ITEM is at
    /// `item_key` in the tree of tree roots (inserted by the caller), and
    /// commit rewrites that item whenever the root moves. `EEXIST` if the
    /// id is taken.
    pub fn add_new_root(&mut self, node: RootNode, item_key: Key) -> Result {
        self.add_root(TreeRoot { node, item_key, commit: node, last_snapshot: 0 })
    }

    /// Adds a tree (a new snapshot or subvolume: its ROOT_ITEM must be in
    /// the tree of tree roots by commit, which then writes the root's
    /// position into it). `EEXIST` if the id is taken.
    pub fn add_root(&mut self, r: TreeRoot) -> Result {
        let id = r.node.objectid;
        if objectid::is_fstree(id) && id > self.tree_id_high {
            self.tree_id_high = id;
        }
        let i = match self.roots.binary_search_by_key(&r.node.objectid, |x| x.node.objectid) {
            Ok(_) => return Err(crate::error::EEXIST),
            Err(i) => i,
        };
        self.roots.insert(i, r)?;
        Ok(())
    }

    /// Forgets a tree (dropped: its ROOT_ITEM is gone).
    pub fn remove_root(&mut self, id: u64) -> Option<TreeRoot> {
        let i = self.roots.binary_search_by_key(&id, |x| x.node.objectid).ok()?;
        Some(self.roots.remove(i))
    }

    /// Reads every ROOT_ITEM of the tree of tree roots.
    fn load_roots<S: TreeSource>(&mut self, src: &S, tree_root: &RootNode) -> Result {
        let mut p = Path::new();
        p.search(src, tree_root.bytenr, tree_root.level, tree_root.generation, &Key::MIN).map_err(read_err)?;
        loop {
            let Some(item) = p.item()? else { break };
            if item.key.ty == key_type::ROOT_ITEM {
                let r = RootItem::new(item.data).ok_or(EUCLEAN)?;
                let node = RootNode {
                    objectid: item.key.objectid,
                    bytenr: r.bytenr(),
                    level: r.level(),
                    generation: r.generation(),
                };
                let last_snapshot = r.last_snapshot();
                self.add_root(TreeRoot { node, item_key: item.key, commit: node, last_snapshot })?;
                if r.refs() == 0 && objectid::is_fstree(item.key.objectid) && item.key.objectid != objectid::FS_TREE {
                    self.dead_roots.push(item.key.objectid)?;
                }
            }
            if !p.next_item(src).map_err(read_err)? {
                break;
            }
        }
        Ok(())
    }

    /// Reads every block group item and its free space.
    fn load_block_groups<S: TreeSource>(&mut self, src: &S) -> Result {
        let dev_size = SuperBlock::new(&self.sb).ok_or(EUCLEAN)?.dev_item().total_bytes();
        let extent = self.root(objectid::EXTENT_TREE).ok_or(EUCLEAN)?;
        let fst = if self.writable { Some(self.root(free_space_tree::TREE).ok_or(EUCLEAN)?) } else { None };
        for i in 0..self.chunks.len() {
            let (start, len) = (self.chunks[i].logical, self.chunks[i].length);
            let mut p = Path::new();
            let key = Key::new(start, key_type::BLOCK_GROUP_ITEM, len);
            if !p.search(src, extent.bytenr, extent.level, extent.generation, &key).map_err(read_err)? {
                return Err(EUCLEAN);
            }
            let item = p.item()?.ok_or(EUCLEAN)?;
            let b = BlockGroupItem::new(item.data).ok_or(EUCLEAN)?;
            let mut bg = BlockGroup::new(start, len, b.flags(), b.used(), b.chunk_objectid());
            if let Some(fst) = &fst {
                free_space_tree::load(src, fst, &mut bg, self.geo.sectorsize)?;
                // Superblock mirrors inside the group are never allocated,
                // though the free space tree counts them free.
                let c = self.chunks[i];
                let n = usize::from(c.num_stripes).min(c.stripes.len());
                let mut phys = [0u64; crate::volumes::MAX_MAPPED_STRIPES];
                for (d, s) in phys.iter_mut().zip(c.stripes.iter()) {
                    *d = s.physical;
                }
                let mut excluded = Vec::new();
                crate::chunk_alloc::super_stripes(start, len, &phys[..n], dev_size, &mut excluded)?;
                for &(s, l) in excluded.iter() {
                    bg.free.remove_overlap(s, l)?;
                }
            }
            self.bgs.insert(bg)?;
        }
        Ok(())
    }

    /// The running transaction's id.
    pub fn transid(&self) -> u64 {
        self.generation + 1
    }

    /// Where tree `id` is now.
    pub fn root(&self, id: u64) -> Option<RootNode> {
        self.roots.binary_search_by_key(&id, |r| r.node.objectid).ok().map(|i| self.roots[i].node)
    }

    /// Tree `id`'s full state.
    pub fn tree_root(&self, id: u64) -> Option<&TreeRoot> {
        self.roots.binary_search_by_key(&id, |r| r.node.objectid).ok().map(|i| &self.roots[i])
    }

    /// The same, to change.
    pub fn root_mut(&mut self, id: u64) -> Option<&mut TreeRoot> {
        match self.roots.binary_search_by_key(&id, |r| r.node.objectid) {
            Ok(i) => Some(&mut self.roots[i]),
            Err(_) => None,
        }
    }

    /// The chunk holding `logical`.
    pub fn chunk(&self, logical: u64) -> Option<&ChunkInfo> {
        self.chunks.iter().find(|c| c.contains(logical))
    }

    /// The next inode number of tree `root`, if known yet.
    pub fn next_ino(&self, root: u64) -> Option<u64> {
        self.next_ino.iter().find(|(r, _)| *r == root).map(|(_, n)| *n)
    }

    /// Records the next inode number of tree `root`.
    pub fn set_next_ino(&mut self, root: u64, next: u64) -> Result {
        match self.next_ino.iter_mut().find(|(r, _)| *r == root) {
            Some(e) => e.1 = next,
            None => self.next_ino.push((root, next))?,
        }
        Ok(())
    }

    /// A mark that moves whenever the running transaction changes (a tree
    /// block, a queued reference): compare it before and after an
    /// operation ([`run_op`]).
    pub fn change_mark(&self) -> u64 {
        self.dirty.changes().wrapping_add(self.refs.changes())
    }

    /// Aborts the running transaction if an operation failed with `err`
    /// after changing it since `mark` (C: `btrfs_abort_transaction`), and
    /// `err` is one no operation expects: out of memory, corruption, an
    /// I/O error. Such a failure can stop an operation anywhere, so what it
    /// changed may be half done, and no commit may write it. (An expected
    /// error, `ENOENT` or `ENODATA` from a search that copied its path on
    /// write, say, leaves consistent changes.) Returns whether it aborted
    /// now.
    pub fn abort_if_changed_since(&mut self, mark: u64, err: Errno) -> bool {
        let unexpected = err == crate::error::ENOMEM || err == crate::error::EUCLEAN || err == EIO;
        if self.aborted || !unexpected || self.change_mark() == mark {
            return false;
        }
        self.aborted = true;
        true
    }

    /// Whether the running transaction changed anything.
    pub fn has_changes(&self) -> bool {
        !self.dirty.is_empty() || !self.refs.is_empty()
    }

    /// Data bytes that can still be allocated: free space in data block
    /// groups (not reserved, not pinned) plus what new data chunks can add
    /// from the unallocated device space, less [`METADATA_KEEP`].
    pub fn data_capacity(&self) -> u64 {
        let in_groups: u64 = self.bgs.iter().filter(|g| g.flags & bg_flags::DATA != 0).map(|g| g.free.total()).sum();
        let Some(s) = SuperBlock::new(&self.sb) else { return in_groups };
        let d = s.dev_item();
        let unallocated = d.total_bytes().saturating_sub(d.bytes_used()).saturating_sub(METADATA_KEEP);
        let dup = self
            .chunks
            .iter()
            .any(|c| c.type_flags & bg_flags::DATA != 0 && c.type_flags & bg_flags::DUP != 0);
        let usable = if dup { unallocated / 2 } else { unallocated };
        let from_chunks = if usable < MIN_STRIPE { 0 } else { usable - DATA_SLACK };
        in_groups + from_chunks
    }

    /// Data bytes that can still be promised to writers.
    pub fn data_available(&self) -> u64 {
        self.data_capacity().saturating_sub(self.data_may_use)
    }

    /// Promises `bytes` of data space to a writer (C:
    /// `btrfs_reserve_data_bytes`); `ENOSPC` if they are not there.
    pub fn reserve_data(&mut self, bytes: u64) -> Result {
        if bytes > self.data_available() {
            return Err(ENOSPC);
        }
        self.data_may_use += bytes;
        Ok(())
    }

    /// Takes back a promise of [`FsState::reserve_data`] (the space was
    /// allocated, or is not needed after all). `EUCLEAN` if more is given
    /// back than was promised (the counter stays at zero).
    pub fn release_data(&mut self, bytes: u64) -> Result {
        match self.data_may_use.checked_sub(bytes) {
            Some(v) => {
                self.data_may_use = v;
                Ok(())
            }
            None => {
                self.data_may_use = 0;
                Err(EUCLEAN)
            }
        }
    }
}

/// A handle for changing trees in the running transaction.
pub struct Trans<'a, S> {
    /// The filesystem.
    pub fs: &'a mut FsState,
    /// Where committed blocks are read from.
    pub src: &'a S,
}

impl<'a, S: TreeSource> Trans<'a, S> {
    /// Joins the running transaction.
    pub fn new(fs: &'a mut FsState, src: &'a S) -> Result<Self> {
        if fs.aborted || !fs.writable {
            return Err(EROFS);
        }
        Ok(Trans { fs, src })
    }

    /// Runs `f` on tree `id`'s root; a copy-on-write of the root block
    /// moves the root, which is recorded.
    /// A deleted subvolume (dead or already dropped) is `ENOENT`.
    pub fn with_root<R>(&mut self, id: u64, f: impl FnOnce(&mut Self, &mut RootNode) -> Result<R>) -> Result<R> {
        if self.fs.dead_roots.contains(&id) {
            return Err(crate::error::ENOENT);
        }
        let mut node = match self.fs.root(id) {
            Some(n) => n,
            None if id >= objectid::FIRST_FREE && objectid::is_fstree(id) => return Err(crate::error::ENOENT),
            None => return Err(EUCLEAN),
        };
        let r = f(self, &mut node);
        if let Some(tr) = self.fs.root_mut(id) {
            tr.node = node;
        }
        r
    }

    /// Gives back the space of an extent allocated in this transaction
    /// that never reached the extent tree.
    pub(crate) fn unreserve(&mut self, bytenr: u64, len: u64) -> Result {
        let bg = self.fs.bgs.get_mut(bytenr).ok_or(EUCLEAN)?;
        bg.reserved = bg.reserved.checked_sub(len).ok_or(EUCLEAN)?;
        bg.free.add(bytenr, len)
    }

    /// A new extent's item was inserted: its reserved bytes are used.
    pub(crate) fn space_taken(&mut self, bytenr: u64, len: u64) -> Result {
        let bg = self.fs.bgs.get_mut(bytenr).ok_or(EUCLEAN)?;
        bg.reserved = bg.reserved.checked_sub(len).ok_or(EUCLEAN)?;
        bg.used += len;
        bg.dirty = true;
        let range = (bg.start, bg.length);
        extent_tree::fst_remove(self, range, bytenr, len)
    }

    /// An extent's item was deleted: its bytes are free on disk, and
    /// pinned in memory until the commit.
    pub(crate) fn space_freed(&mut self, bytenr: u64, len: u64) -> Result {
        let bg = self.fs.bgs.get_mut(bytenr).ok_or(EUCLEAN)?;
        bg.used = bg.used.checked_sub(len).ok_or(EUCLEAN)?;
        bg.dirty = true;
        bg.pinned.push((bytenr, len))?;
        let range = (bg.start, bg.length);
        extent_tree::fst_add(self, range, bytenr, len)
    }

    /// Queues a data extent reference change (file extent items).
    pub fn data_ref(&mut self, bytenr: u64, num_bytes: u64, kind: RefKind, delta: i64, new: bool) -> Result {
        self.fs.refs.add(DelayedRef { bytenr, num_bytes, kind, delta, new_extent: new.then_some(NewExtent::Data) })
    }

    /// Allocates `len` bytes for data; the caller queues the reference
    /// (with `new`) once a file extent item points at it.
    pub fn alloc_data(&mut self, len: u64, hint: u64) -> Result<u64> {
        let ss = u64::from(self.fs.geo.sectorsize).max(1);
        if let Some(b) = self.fs.bgs.alloc(bg_flags::DATA, len, ss, hint) {
            return Ok(b);
        }
        crate::chunk_alloc::alloc_chunk(self, bg_flags::DATA)?;
        self.fs.bgs.alloc(bg_flags::DATA, len, ss, hint).ok_or(ENOSPC)
    }

    /// Allocates up to `len` bytes (sector aligned) for data: in one extent
    /// if possible, else the largest share, halving down to a sector, that
    /// a fragmented data space has. Returns the start and the length.
    pub fn alloc_data_upto(&mut self, len: u64, hint: u64) -> Result<(u64, u64)> {
        let ss = u64::from(self.fs.geo.sectorsize).max(1);
        let mut want = len;
        loop {
            match self.alloc_data(want, hint) {
                Ok(b) => return Ok((b, want)),
                Err(e) if e == ENOSPC && want > ss => want = (want / 2 / ss).max(1) * ss,
                Err(e) => return Err(e),
            }
        }
    }

    /// Makes sure metadata (and system) space for a tree operation is
    /// there, adding a chunk while there still is room to record it.
    /// ENOSPC when the device is full and the reserve is reached.
    pub fn reserve_metadata(&mut self) -> Result {
        for (ty, low) in [(bg_flags::SYSTEM, SYSTEM_LOW), (bg_flags::METADATA, METADATA_LOW)] {
            if self.free_bytes(ty) >= low {
                continue;
            }
            match crate::chunk_alloc::alloc_chunk(self, ty) {
                Ok(_) => {}
                // No room for a chunk: keep going on what is left, down to
                // the reserve that commits need.
                Err(e) if e == ENOSPC && self.free_bytes(ty) >= low / 4 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Free bytes in block groups of type `ty`.
    pub fn free_bytes(&self, ty: u64) -> u64 {
        self.fs.bgs.iter().filter(|g| g.flags & ty != 0).map(|g| g.free.total()).sum()
    }

    /// Gives back data space allocated but never referenced.
    pub fn free_unused_data(&mut self, bytenr: u64, len: u64) -> Result {
        self.unreserve(bytenr, len)
    }
}

impl<S: TreeSource> TreeCtx for Trans<'_, S> {
    type Src = S;

    fn src(&self) -> &S {
        self.src
    }

    fn dirty(&self) -> &DirtyBlocks {
        &self.fs.dirty
    }

    fn dirty_mut(&mut self) -> &mut DirtyBlocks {
        &mut self.fs.dirty
    }

    fn transid(&self) -> u64 {
        self.fs.transid()
    }

    fn nodesize(&self) -> u32 {
        self.fs.geo.nodesize
    }

    fn header_init(&self, bytenr: u64, owner: u64, level: u8) -> HeaderInit {
        HeaderInit {
            bytenr,
            generation: self.fs.transid(),
            owner,
            level,
            fsid: self.fs.geo.fsid,
            chunk_tree_uuid: self.fs.geo.chunk_tree_uuid,
        }
    }

    fn alloc_tree_block(&mut self, owner: u64, level: u8, first_key: &Key) -> Result<u64> {
        let ty = if owner == objectid::CHUNK_TREE { bg_flags::SYSTEM } else { bg_flags::METADATA };
        let ns = u64::from(self.fs.geo.nodesize);
        let bytenr = self.fs.bgs.alloc(ty, ns, ns, self.fs.meta_hint).ok_or(ENOSPC)?;
        self.fs.meta_hint = bytenr + ns;
        let r = DelayedRef {
            bytenr,
            num_bytes: ns,
            kind: RefKind::Tree { root: owner },
            delta: 1,
            new_extent: Some(NewExtent::Tree { level, key: *first_key }),
        };
        if let Err(e) = self.fs.refs.add(r) {
            let _ = self.unreserve(bytenr, ns);
            return Err(e);
        }
        Ok(bytenr)
    }

    fn free_tree_block(&mut self, owner: u64, bytenr: u64, _level: u8) -> Result {
        if let Some(len) = self.fs.refs.cancel_new(bytenr) {
            // Never written, and no other tree uses it: reuse at once.
            self.fs.dirty.remove(bytenr);
            return self.unreserve(bytenr, len);
        }
        let ns = u64::from(self.fs.geo.nodesize);
        self.fs.refs.add(DelayedRef { bytenr, num_bytes: ns, kind: RefKind::Tree { root: owner }, delta: -1, new_extent: None })
    }

    fn cow_refs(&mut self, owner: u64, old: u64, old_gen: u64, new: u64, level: u8, is_root: bool) -> Result {
        let r = crate::snapshot::update_ref_for_cow(self, owner, old, old_gen, new, level, is_root);
        if r.is_err() {
            // The copy is linked into its tree already: without its
            // references the transaction must not be committed (C aborts
            // it in btrfs_force_cow_block).
            self.fs.aborted = true;
        }
        r
    }
}

/// Writes each dirty block group's `used` into its item.
fn update_block_groups<S: TreeSource>(t: &mut Trans<'_, S>) -> Result<bool> {
    let mut changed = false;
    loop {
        let Some((start, len, used)) = t.fs.bgs.iter().find(|g| g.dirty).map(|g| (g.start, g.length, g.used)) else {
            break;
        };
        t.with_root(objectid::EXTENT_TREE, |t, root| {
            let mut p = WPath::new();
            if !search_slot(t, root, &Key::new(start, key_type::BLOCK_GROUP_ITEM, len), &mut p, 0, true)? {
                return Err(EUCLEAN);
            }
            BlockGroupItemMut::new(item_data_mut(t, &p)?).ok_or(EUCLEAN)?.set_used(used);
            Ok(())
        })?;
        if let Some(g) = t.fs.bgs.get_mut(start) {
            g.dirty = false;
        }
        changed = true;
    }
    Ok(changed)
}

/// Writes every moved root into its ROOT_ITEM.
fn update_root_items<S: TreeSource>(t: &mut Trans<'_, S>) -> Result<bool> {
    let mut changed = false;
    let transid = t.fs.transid();
    for i in 0..t.fs.roots.len() {
        let r = t.fs.roots[i];
        let id = r.node.objectid;
        if id == objectid::ROOT_TREE || id == objectid::CHUNK_TREE || r.node == r.commit {
            continue;
        }
        let node = r.node;
        let done = t.with_root(objectid::ROOT_TREE, |t, root| {
            let mut p = WPath::new();
            if !search_slot(t, root, &r.item_key, &mut p, 0, true)? {
                return Err(EUCLEAN);
            }
            let d = item_data_mut(t, &p)?;
            {
                let cur = RootItem::new(d).ok_or(EUCLEAN)?;
                if cur.bytenr() == node.bytenr && cur.level() == node.level && cur.generation() == transid {
                    return Ok(false);
                }
            }
            let mut ri = RootItemMut::new(d).ok_or(EUCLEAN)?;
            ri.set_bytenr(node.bytenr);
            ri.set_level(node.level);
            ri.set_generation(transid);
            if let Some(ext) = d.get_mut(RootItem::SIZE..) {
                if let Some(mut e) = RootItemExtMut::new(ext) {
                    e.set_generation_v2(transid);
                }
            }
            Ok(true)
        })?;
        changed |= done;
    }
    Ok(changed)
}

/// Checksums a tree block in place.
fn csum_block(buf: &mut [u8], csum_type: CsumType) -> Result {
    let mut out = [0u8; CSUM_SIZE];
    if !csum_type.compute(buf.get(CSUM_SIZE..).ok_or(EUCLEAN)?, &mut out) {
        return Err(EOPNOTSUPP);
    }
    buf.get_mut(..CSUM_SIZE).ok_or(EUCLEAN)?.copy_from_slice(&out);
    Ok(())
}

/// Writes `buf` at `logical` to every copy.
fn write_logical<D: Device>(fs: &FsState, dev: &D, logical: u64, buf: &[u8]) -> Result {
    let chunk = fs.chunk(logical).ok_or(EUCLEAN)?;
    let m = chunk.map(logical).map_err(|_| EUCLEAN)?;
    if (m.len as usize) < buf.len() {
        return Err(EUCLEAN);
    }
    for s in m.mirrors() {
        dev.write_at(s.physical, buf)?;
    }
    Ok(())
}

/// Fills in the superblock for transaction `transid`.
fn update_super(fs: &mut FsState, transid: u64) -> Result {
    let tree = fs.root(objectid::ROOT_TREE).ok_or(EUCLEAN)?;
    let chunk = fs.root(objectid::CHUNK_TREE).ok_or(EUCLEAN)?;
    let used = fs.bgs.bytes_used();
    let roots = [objectid::EXTENT_TREE, objectid::FS_TREE, objectid::DEV_TREE, objectid::CSUM_TREE]
        .map(|id| fs.root(id).unwrap_or(RootNode { objectid: id, bytenr: 0, level: 0, generation: 0 }));
    // The backup slot after the one holding the previous commit.
    let prev = {
        let s = SuperBlock::new(&fs.sb).ok_or(EUCLEAN)?;
        (0..format::NUM_BACKUP_ROOTS).find(|&i| s.backup_root(i).tree_root_gen() == transid - 1)
    };
    let mut s = SuperBlockMut::new(&mut fs.sb).ok_or(EUCLEAN)?;
    s.set_generation(transid);
    s.set_root(tree.bytenr);
    s.set_root_level(tree.level);
    s.set_chunk_root(chunk.bytenr);
    s.set_chunk_root_level(chunk.level);
    s.set_chunk_root_generation(chunk.generation);
    s.set_bytes_used(used);
    let slot = prev.map_or(0, |i| (i + 1) % format::NUM_BACKUP_ROOTS);
    let total = s.total_bytes();
    let ndev = s.num_devices();
    let mut b = s.backup_root_mut(slot);
    b.set_tree_root(tree.bytenr);
    b.set_tree_root_gen(transid);
    b.set_tree_root_level(tree.level);
    b.set_chunk_root(chunk.bytenr);
    b.set_chunk_root_gen(chunk.generation);
    b.set_chunk_root_level(chunk.level);
    let [ext, fsr, dev, csum] = roots;
    b.set_extent_root(ext.bytenr);
    b.set_extent_root_gen(ext.generation);
    b.set_extent_root_level(ext.level);
    b.set_fs_root(fsr.bytenr);
    b.set_fs_root_gen(fsr.generation);
    b.set_fs_root_level(fsr.level);
    b.set_dev_root(dev.bytenr);
    b.set_dev_root_gen(dev.generation);
    b.set_dev_root_level(dev.level);
    b.set_csum_root(csum.bytenr);
    b.set_csum_root_gen(csum.generation);
    b.set_csum_root_level(csum.level);
    b.set_total_bytes(total);
    b.set_bytes_used(used);
    b.set_num_devices(ndev);
    Ok(())
}

/// Commits the running transaction; returns the blocks written (by
/// logical address), for the caller's block cache. On error the
/// filesystem is marked aborted and nothing further may be written.
pub fn commit<S: TreeSource, D: Device>(fs: &mut FsState, src: &S, dev: &D) -> Result<Vec<(u64, Vec<u8>)>> {
    commit_switch(fs, src, dev, |_, blocks| Ok(blocks))
}

/// Commits the running transaction like [`commit`], and calls `switch` once
/// the superblocks are durable: `fs` then shows the new generation and
/// every [`TreeRoot::commit`] is the root just written, and `switch` gets
/// the written blocks. Space freed in the transaction is still pinned while
/// `switch` runs; it is released after (C: `switch_commit_roots` runs
/// before `btrfs_finish_extent_commit`). The kernel publishes the new
/// commit roots there, under `commit_root_sem` held for write: a reader of
/// the old commit roots (which hold it for read) finishes before the
/// blocks only they reference can be allocated again.
pub fn commit_switch<S: TreeSource, D: Device, R>(
    fs: &mut FsState,
    src: &S,
    dev: &D,
    switch: impl FnOnce(&FsState, Vec<(u64, Vec<u8>)>) -> Result<R>,
) -> Result<R> {
    if fs.aborted {
        return Err(EROFS);
    }
    let r = commit_inner(fs, src, dev, switch);
    if r.is_err() {
        fs.aborted = true;
    }
    r
}

fn commit_inner<S: TreeSource, D: Device, R>(
    fs: &mut FsState,
    src: &S,
    dev: &D,
    switch: impl FnOnce(&FsState, Vec<(u64, Vec<u8>)>) -> Result<R>,
) -> Result<R> {
    let transid = fs.transid();
    {
        let mut t = Trans::new(fs, src)?;
        loop {
            extent_tree::run_delayed_refs(&mut t)?;
            let a = update_block_groups(&mut t)?;
            let b = update_root_items(&mut t)?;
            if !a && !b && t.fs.refs.is_empty() {
                break;
            }
        }
    }
    // Every block, checksummed, to every copy.
    let csum_type = fs.geo.csum_type;
    for (_, buf) in fs.dirty.iter_mut() {
        let flags = buf.get_mut(56..64).ok_or(EUCLEAN)?;
        let mut f = [0u8; 8];
        f.copy_from_slice(flags);
        flags.copy_from_slice(&(u64::from_le_bytes(f) | HEADER_FLAG_WRITTEN).to_le_bytes());
        csum_block(buf, csum_type)?;
    }
    for (bytenr, buf) in fs.dirty.iter() {
        write_logical(fs, dev, bytenr, buf)?;
    }
    dev.flush()?;
    update_super(fs, transid)?;
    let size = dev.size();
    for off in format::SUPER_MIRROR_OFFSETS {
        if off + SUPER_INFO_SIZE as u64 > size {
            break;
        }
        let mut copy = Vec::new();
        copy.extend_from_slice(&fs.sb)?;
        SuperBlockMut::new(&mut copy).ok_or(EUCLEAN)?.set_bytenr(off);
        csum_block(&mut copy, csum_type)?;
        dev.write_at(off, &copy)?;
        if off == format::SUPER_INFO_OFFSET {
            fs.sb.copy_from_slice(&copy);
        }
    }
    dev.flush()?;
    // Committed: the new roots are the commit roots, then pinned space is
    // free.
    fs.generation = transid;
    for r in fs.roots.iter_mut() {
        r.commit = r.node;
    }
    let blocks = fs.dirty.take();
    let out = switch(fs, blocks)?;
    for g in fs.bgs.iter_mut() {
        while let Some((s, l)) = g.pinned.pop() {
            g.free.add(s, l)?;
        }
    }
    Ok(out)
}

/// Runs one operation `f` in the running transaction. If `f` fails with an
/// error no operation expects (out of memory, corruption, I/O) after
/// changing anything, the transaction is aborted
/// ([`FsState::abort_if_changed_since`]): the filesystem stays as the last
/// commit left it and takes no more changes. Other failures (a refused
/// name, a full disk found up front) leave it running.
pub fn run_op<S: TreeSource, R>(fs: &mut FsState, src: &S, f: impl FnOnce(&mut Trans<'_, S>) -> Result<R>) -> Result<R> {
    let mark = fs.change_mark();
    let mut t = Trans::new(fs, src)?;
    let r = f(&mut t);
    if let Err(e) = r {
        t.fs.abort_if_changed_since(mark, e);
    }
    r
}

/// Initialises a block's header (for the B-tree code's new blocks).
pub fn new_block_header<C: TreeCtx>(ctx: &C, buf: &mut [u8], bytenr: u64, owner: u64, level: u8) {
    init_header(buf, &ctx.header_init(bytenr, owner, level));
}
