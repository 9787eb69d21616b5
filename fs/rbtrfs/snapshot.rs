// SPDX-License-Identifier: GPL-2.0

//! Tree blocks shared between trees: snapshot creation, copy-on-write of
//! shared blocks, and dropping a tree (C: `btrfs_copy_root`,
//! `update_ref_for_cow`, `btrfs_inc_ref`/`btrfs_dec_ref`,
//! `btrfs_drop_snapshot`).
//!
//! # The sharing model
//!
//! A snapshot copies only the root block of its source; every block below
//! is then shared, its extent item counting one reference per referrer.
//! A block's children (or a leaf's data extents) are referenced either
//! *by tree* (TREE_BLOCK_REF / EXTENT_DATA_REF naming the tree that owns
//! the block: valid for every copy of the block that tree makes) or, once
//! the block has `FULL_BACKREF`, *by block* (SHARED_BLOCK_REF /
//! SHARED_DATA_REF naming the block's address).
//!
//! Copy-on-write of a block of a shareable tree (5 and subvolumes) whose
//! generation is not newer than the tree's `last_snapshot` first looks the
//! block's references up ([`crate::extent_tree::lookup_extent_info`],
//! which counts what is queued):
//! - more than one reference, owned by this tree and not `FULL_BACKREF`:
//!   the old block gets full backrefs for everything it points to and the
//!   flag (the other referrers keep using it; the copy keeps the by-tree
//!   refs);
//! - more than one reference otherwise: the copy gets by-tree refs for
//!   everything it points to;
//! - one reference and `FULL_BACKREF`: the copy gets by-tree refs and the
//!   old block's full backrefs go;
//!
//! then the tree's reference to the old block is dropped (always by tree:
//! the parent is a copy made in this transaction, which references its
//! children by tree).
//!
//! # Snapshots
//!
//! [`snapshot_tree`] copies the source's root block to a new block owned
//! by the new tree, adds by-tree refs (new tree) for everything it points
//! to, records `last_snapshot` in the source, and adds the new tree to
//! [`FsState`](crate::transaction::FsState). [`snapshot_root_item`] builds
//! the new ROOT_ITEM as C's `create_pending_snapshot`, and
//! [`create_snapshot`] does all of it and inserts the item. Namespace
//! items (dir entries, ROOT_REF/ROOT_BACKREF, the UUID tree) are the
//! caller's.
//!
//! # Dropping a tree
//!
//! [`drop_tree_step`] is C's `btrfs_drop_snapshot` re-derived as a
//! recursion: it descends only into blocks whose reference count is one
//! (dropping the data refs of such leaves), drops its reference to shared
//! blocks, and before that converts shared blocks this tree owns (and
//! the blocks below them it owns) to `FULL_BACKREF` (C's UPDATE_BACKREF
//! stage), since the tree naming their children's references goes away.
//! After a budget of blocks it stops before a key pointer and records the
//! key and level in the ROOT_ITEM's `drop_progress`/`drop_level`: every
//! block on the path down to it has one reference, everything left of it
//! is dropped and everything right of it untouched — the state C leaves
//! and `btrfs check` understands. The next step (or the next mount)
//! searches down to that key and goes on. When the walk is done the root
//! block is released and the ROOT_ITEM and the tree's orphan item are
//! deleted.

#![forbid(unsafe_code)]

use crate::ctree::{key_type, objectid, Key, TreeBlock, TreeSource};
use crate::ctree_write::{del_items, insert_item, item_data_mut, search_slot, WPath};
use crate::delayed_ref::{DelayedRef, RefKind};
use crate::error::{Result, EEXIST, EINVAL, ENOENT, EOPNOTSUPP, EUCLEAN};
use crate::extent_io::{init_header, RootNode, TreeCtx, HEADER_FLAG_RELOC, MIXED_BACKREF_REV};
use crate::extent_tree::{lookup_extent_info, FLAG_FULL_BACKREF};
use crate::items::{RootItem, RootItemExtMut, RootItemMut, Timespec, ROOT_ITEM_FULL_SIZE, ROOT_SUBVOL_RDONLY};
use crate::mem::Vec;
use crate::transaction::{Trans, TreeRoot};

const FLAGS_OFF: usize = 56;
const GEN_OFF: usize = 80;
const OWNER_OFF: usize = 88;
/// File extent item: type byte, disk bytenr, disk length, offset.
const FE_TYPE: usize = 20;
const FE_DISK_BYTENR: usize = 21;
const FE_DISK_NUM_BYTES: usize = 29;
const FE_OFFSET: usize = 37;
const FE_REG: u8 = 1;
const FE_PREALLOC: u8 = 2;
/// `BTRFS_INODE_ROOT_ITEM_INIT` in the root item's embedded inode flags.
const INODE_ROOT_ITEM_INIT: u64 = 1 << 31;
const INODE_FLAGS_OFF: usize = 64;

fn le64(b: &[u8], off: usize) -> Result<u64> {
    let s = b.get(off..off + 8).ok_or(EUCLEAN)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Ok(u64::from_le_bytes(a))
}

/// Whether blocks of tree `id` may be shared by snapshots (C:
/// `BTRFS_ROOT_SHAREABLE`: the fs tree and subvolumes).
pub fn is_shareable(id: u64) -> bool {
    objectid::is_fstree(id)
}

/// A tree block's bytes: the running transaction's copy if dirty, else the
/// committed one.
fn read_block<S: TreeSource>(t: &Trans<'_, S>, bytenr: u64, level: u8, generation: u64) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    match t.fs.dirty.get(bytenr) {
        Some(d) => v.extend_from_slice(d)?,
        None => {
            let b = t.src.read_tree_block(bytenr, level, generation).map_err(|_| crate::error::EIO)?;
            v.extend_from_slice(b.as_ref())?;
        }
    }
    if v.len() != t.fs.geo.nodesize as usize || le64(&v, 48)? != bytenr || v.get(100) != Some(&level) {
        return Err(EUCLEAN);
    }
    Ok(v)
}

/// The references the block `buf` at `bytenr` holds: to its children (a
/// node) or to the data extents of its file extent items (a leaf), by
/// block (`full`) or by tree `root`. Each is (extent, length, holder).
pub fn block_refs(buf: &[u8], bytenr: u64, root: u64, full: bool, nodesize: u32) -> Result<Vec<(u64, u64, RefKind)>> {
    let tb = TreeBlock::new(buf)?;
    let mut out = Vec::new();
    let n = tb.nritems() as usize;
    if tb.level() > 0 {
        for slot in 0..n {
            let kp = tb.key_ptr(slot)?;
            let kind = if full { RefKind::SharedTree { parent: bytenr } } else { RefKind::Tree { root } };
            out.push((kp.blockptr, u64::from(nodesize), kind))?;
        }
        return Ok(out);
    }
    for slot in 0..n {
        let item = tb.item(slot)?;
        if item.key.ty != key_type::EXTENT_DATA {
            continue;
        }
        let d = item.data;
        let Some(&ty) = d.get(FE_TYPE) else { return Err(EUCLEAN) };
        if ty != FE_REG && ty != FE_PREALLOC {
            continue;
        }
        let disk = le64(d, FE_DISK_BYTENR)?;
        if disk == 0 {
            continue;
        }
        let len = le64(d, FE_DISK_NUM_BYTES)?;
        let kind = if full {
            RefKind::SharedData { parent: bytenr }
        } else {
            RefKind::Data { root, owner: item.key.objectid, offset: item.key.offset.wrapping_sub(le64(d, FE_OFFSET)?) }
        };
        out.push((disk, len, kind))?;
    }
    Ok(out)
}

/// Queues `delta` on every reference in `refs`.
fn queue<S: TreeSource>(t: &mut Trans<'_, S>, refs: &[(u64, u64, RefKind)], delta: i64) -> Result {
    for &(bytenr, num_bytes, kind) in refs {
        t.fs.refs.add(DelayedRef { bytenr, num_bytes, kind, delta, new_extent: None })?;
    }
    Ok(())
}

/// Adds a reference from the block `buf` (at `bytenr`, of tree `root`) to
/// everything it points to, by block if `full` (C: `btrfs_inc_ref`).
pub fn inc_ref<S: TreeSource>(t: &mut Trans<'_, S>, buf: &[u8], bytenr: u64, root: u64, full: bool) -> Result {
    let refs = block_refs(buf, bytenr, root, full, t.fs.geo.nodesize)?;
    queue(t, &refs, 1)
}

/// Drops those references (C: `btrfs_dec_ref`).
pub fn dec_ref<S: TreeSource>(t: &mut Trans<'_, S>, buf: &[u8], bytenr: u64, root: u64, full: bool) -> Result {
    let refs = block_refs(buf, bytenr, root, full, t.fs.geo.nodesize)?;
    queue(t, &refs, -1)
}

/// Header fields of a tree block: (flags, generation, owner).
fn header_of<S: TreeSource>(t: &Trans<'_, S>, bytenr: u64, level: u8, generation: u64) -> Result<(u64, u64, u64)> {
    let get = |b: &[u8]| -> Result<(u64, u64, u64)> { Ok((le64(b, FLAGS_OFF)?, le64(b, GEN_OFF)?, le64(b, OWNER_OFF)?)) };
    match t.fs.dirty.get(bytenr) {
        Some(d) => get(d),
        None => {
            let b = t.src.read_tree_block(bytenr, level, generation).map_err(|_| crate::error::EIO)?;
            get(b.as_ref())
        }
    }
}

/// Whether the committed block `old` (header flags and generation given)
/// of tree `owner` may be shared with a snapshot (C:
/// `btrfs_block_can_be_shared`).
fn can_be_shared<S: TreeSource>(t: &Trans<'_, S>, owner: u64, old: u64, hflags: u64, hgen: u64) -> Result<bool> {
    let tr = t.fs.tree_root(owner).ok_or(EUCLEAN)?;
    if hgen > tr.last_snapshot && hflags & HEADER_FLAG_RELOC == 0 {
        return Ok(false);
    }
    // A former root (the tree grew) was never shared by a snapshot of
    // the last commit: snapshots copy the root.
    if old == tr.commit.bytenr && hgen != t.fs.transid() {
        return Ok(false);
    }
    Ok(true)
}

/// The reference bookkeeping of copying the committed block `old` of tree
/// `owner` to `new` (see the module documentation). Called through
/// [`TreeCtx::cow_refs`] by the B-tree code, after `new` is linked in.
pub fn update_ref_for_cow<S: TreeSource>(
    t: &mut Trans<'_, S>,
    owner: u64,
    old: u64,
    old_gen: u64,
    new: u64,
    level: u8,
    is_root: bool,
) -> Result {
    if !is_shareable(owner) || is_root {
        // Never shared: the tree's reference was the only one.
        return t.free_tree_block(owner, old, level);
    }
    let (hflags, hgen, block_owner) = header_of(t, old, level, old_gen)?;
    let (refs, flags) = if can_be_shared(t, owner, old, hflags, hgen)? {
        let (refs, flags) = lookup_extent_info(t, old)?;
        if refs == 0 {
            // C: "found 0 references for tree block".
            return Err(EUCLEAN);
        }
        (refs, flags)
    } else {
        if hflags >> 56 < MIXED_BACKREF_REV {
            // Blocks of the old backref format: not supported.
            return Err(EOPNOTSUPP);
        }
        (1, 0)
    };
    if refs > 1 {
        if block_owner == owner && flags & FLAG_FULL_BACKREF == 0 {
            let buf = read_block(t, old, level, old_gen)?;
            inc_ref(t, &buf, old, owner, true)?;
            t.fs.refs.set_flags(old, level, FLAG_FULL_BACKREF)?;
        } else {
            let copy = read_block(t, new, level, t.fs.transid())?;
            inc_ref(t, &copy, new, owner, false)?;
        }
        // Not the last reference: the block stays.
        let ns = u64::from(t.fs.geo.nodesize);
        return t.fs.refs.add(DelayedRef {
            bytenr: old,
            num_bytes: ns,
            kind: RefKind::Tree { root: owner },
            delta: -1,
            new_extent: None,
        });
    }
    if flags & FLAG_FULL_BACKREF != 0 {
        let copy = read_block(t, new, level, t.fs.transid())?;
        inc_ref(t, &copy, new, owner, false)?;
        let buf = read_block(t, old, level, old_gen)?;
        dec_ref(t, &buf, old, owner, true)?;
    }
    t.free_tree_block(owner, old, level)
}

/// Copies tree `src_id`'s root block to a new block owned by `new_id` and
/// makes it tree `new_id` (C: `btrfs_copy_root` in
/// `create_pending_snapshot`): everything the root points to gets a
/// reference by tree `new_id`, the source's `last_snapshot` (in memory and
/// in its ROOT_ITEM) becomes the running transaction, and the new tree is
/// added to the filesystem state with that `last_snapshot`. Its ROOT_ITEM,
/// keyed `(new_id, ROOT_ITEM, transid)` as C keys snapshots (see
/// [`TreeRoot::item_key`]), must be inserted in this transaction (see
/// [`snapshot_root_item`] and [`create_snapshot`]); commit then keeps its
/// root position current.
///
/// The running transaction must not have changed the source (its root
/// block must be clean: `EINVAL` otherwise): a snapshot shares committed
/// blocks only. `EEXIST` if `new_id` is taken, `EINVAL` if either id is not
/// a subvolume id, `ENOENT` if the source does not exist.
pub fn snapshot_tree<S: TreeSource>(t: &mut Trans<'_, S>, src_id: u64, new_id: u64) -> Result<RootNode> {
    if !is_shareable(src_id) || !is_shareable(new_id) || new_id == objectid::FS_TREE {
        return Err(EINVAL);
    }
    if t.fs.root(new_id).is_some() {
        return Err(EEXIST);
    }
    let src = *t.fs.tree_root(src_id).ok_or(ENOENT)?;
    if t.fs.dirty.contains(src.node.bytenr) {
        return Err(EINVAL);
    }
    let transid = t.fs.transid();
    let level = src.node.level;
    let mut buf = read_block(t, src.node.bytenr, level, src.node.generation)?;
    let first = {
        let tb = TreeBlock::new(&buf)?;
        if tb.nritems() == 0 {
            Key::MIN
        } else {
            tb.key(0)?
        }
    };
    let new = t.alloc_tree_block(new_id, level, &first)?;
    init_header(&mut buf, &t.header_init(new, new_id, level));
    inc_ref(t, &buf, new, new_id, false)?;
    t.fs.dirty.insert(new, buf)?;
    // The source's last snapshot.
    let item_key = src.item_key;
    t.with_root(objectid::ROOT_TREE, |t, root| {
        let mut p = WPath::new();
        if !search_slot(t, root, &item_key, &mut p, 0, true)? {
            return Err(EUCLEAN);
        }
        RootItemMut::new(item_data_mut(t, &p)?).ok_or(EUCLEAN)?.set_last_snapshot(transid);
        Ok(())
    })?;
    if let Some(r) = t.fs.root_mut(src_id) {
        r.last_snapshot = transid;
    }
    let node = RootNode { objectid: new_id, bytenr: new, level, generation: transid };
    // `commit` differs from `node`, so commit writes the root into the item.
    let commit = RootNode { objectid: new_id, bytenr: 0, level: 0, generation: 0 };
    // C records when the snapshot was made in the item's key offset.
    t.fs.add_root(TreeRoot {
        node,
        item_key: Key::new(new_id, key_type::ROOT_ITEM, transid),
        commit,
        last_snapshot: transid,
    })?;
    Ok(node)
}

/// What a new snapshot's ROOT_ITEM records beyond its source's.
#[derive(Clone, Copy, Debug)]
pub struct SnapshotParams {
    /// The new subvolume's uuid.
    pub uuid: [u8; 16],
    /// Read-only snapshot (`BTRFS_ROOT_SUBVOL_RDONLY`).
    pub readonly: bool,
    /// Creation time.
    pub otime: Timespec,
    /// Transaction of the last change (C keeps the source's).
    pub ctransid: u64,
    /// Change time (C keeps the source's).
    pub ctime: Timespec,
}

/// The ROOT_ITEM of a new snapshot of the tree whose ROOT_ITEM is
/// `src_item` (read after [`snapshot_tree`], so with its new
/// `last_snapshot`), rooted at `node` (C: `create_pending_snapshot`): a
/// copy of the source's item, initialised as
/// `btrfs_check_and_init_root_item` does, with the new root position and
/// generation (and `generation_v2`), one reference, no drop progress,
/// `last_snapshot` and `otransid` the running transaction, the given uuid,
/// the source's uuid as parent uuid, the given times and `ctransid`, the
/// read-only flag as asked, and for a writable snapshot the received
/// uuid, `stransid`/`rtransid` and `stime`/`rtime` cleared.
pub fn snapshot_root_item(src_item: &[u8], node: &RootNode, p: &SnapshotParams) -> Result<Vec<u8>> {
    if src_item.len() < RootItem::SIZE {
        return Err(EUCLEAN);
    }
    let transid = node.generation;
    let mut v = Vec::from_elem(0u8, ROOT_ITEM_FULL_SIZE)?;
    let n = src_item.len().min(ROOT_ITEM_FULL_SIZE);
    v[..n].copy_from_slice(&src_item[..n]);
    let src_uuid = {
        let r = crate::items::Root::parse(src_item).map_err(|_| EUCLEAN)?;
        r.valid_ext().map(|e| *e.uuid()).unwrap_or([0u8; 16])
    };
    if src_item.len() < ROOT_ITEM_FULL_SIZE || crate::items::Root::parse(src_item).ok().and_then(|r| r.valid_ext()).is_none() {
        // No (valid) extension: start it from zero.
        v[RootItem::SIZE..].fill(0);
    }
    let mut iflags = le64(&v, INODE_FLAGS_OFF)?;
    let mut flags = RootItem::new(&v).ok_or(EUCLEAN)?.flags();
    {
        let mut ri = RootItemMut::new(&mut v).ok_or(EUCLEAN)?;
        if iflags & INODE_ROOT_ITEM_INIT == 0 {
            iflags |= INODE_ROOT_ITEM_INIT;
            flags = 0;
            ri.set_byte_limit(0);
        }
        ri.set_flags(if p.readonly { flags | ROOT_SUBVOL_RDONLY } else { flags & !ROOT_SUBVOL_RDONLY });
        ri.set_bytenr(node.bytenr);
        ri.set_level(node.level);
        ri.set_generation(transid);
        ri.set_refs(1);
        ri.set_drop_progress_raw(&[0u8; crate::ctree::KEY_SIZE]);
        ri.set_drop_level(0);
        ri.set_last_snapshot(transid);
    }
    v[INODE_FLAGS_OFF..INODE_FLAGS_OFF + 8].copy_from_slice(&iflags.to_le_bytes());
    let mut e = RootItemExtMut::new(&mut v[RootItem::SIZE..]).ok_or(EUCLEAN)?;
    e.set_generation_v2(transid);
    e.set_uuid(&p.uuid);
    e.set_parent_uuid(&src_uuid);
    if !p.readonly {
        e.set_received_uuid(&[0u8; 16]);
        e.set_stransid(0);
        e.set_rtransid(0);
        e.set_stime_sec(0);
        e.set_stime_nsec(0);
        e.set_rtime_sec(0);
        e.set_rtime_nsec(0);
    }
    e.set_otransid(transid);
    e.set_otime_sec(p.otime.sec);
    e.set_otime_nsec(p.otime.nsec);
    e.set_ctransid(p.ctransid);
    e.set_ctime_sec(p.ctime.sec);
    e.set_ctime_nsec(p.ctime.nsec);
    Ok(v)
}

/// Reads tree `id`'s ROOT_ITEM as the running transaction sees it.
pub fn read_root_item<S: TreeSource>(t: &mut Trans<'_, S>, id: u64) -> Result<Vec<u8>> {
    let key = t.fs.tree_root(id).ok_or(ENOENT)?.item_key;
    t.with_root(objectid::ROOT_TREE, |t, root| {
        let mut p = WPath::new();
        if !crate::ctree_write::search_slot_ro(t, root, &key, &mut p)? {
            return Err(EUCLEAN);
        }
        let item = crate::ctree_write::read_item(t, &p)?;
        let mut v = Vec::new();
        v.extend_from_slice(item.data())?;
        Ok(v)
    })
}

/// Snapshots tree `src_id` as the new tree `new_id`: [`snapshot_tree`],
/// then the ROOT_ITEM ([`snapshot_root_item`]) is inserted. Returns the
/// new root. The namespace (directory entry, ROOT_REF/ROOT_BACKREF, UUID
/// tree) is the caller's. `ENOENT` if the source is a deleted subvolume.
pub fn create_snapshot<S: TreeSource>(t: &mut Trans<'_, S>, src_id: u64, new_id: u64, p: &SnapshotParams) -> Result<RootNode> {
    // A deleted subvolume (reachable through a file still open in it) is
    // being dropped: its blocks must not gain referrers (C: ENOENT when
    // the source's root item has no references).
    let refs = RootItem::new(&read_root_item(t, src_id)?).ok_or(EUCLEAN)?.refs();
    if refs == 0 || t.fs.dead_roots.contains(&src_id) {
        return Err(ENOENT);
    }
    let node = snapshot_tree(t, src_id, new_id)?;
    let src_item = read_root_item(t, src_id)?;
    let body = snapshot_root_item(&src_item, &node, p)?;
    let key = t.fs.tree_root(new_id).ok_or(EUCLEAN)?.item_key;
    t.with_root(objectid::ROOT_TREE, |t, root| insert_item(t, root, &key, &body))?;
    Ok(node)
}

/// Where a drop walk is.
struct Walk {
    root: u64,
    /// The tree's creation transaction (C: origin generation): older
    /// blocks are not its own.
    origin: u64,
    budget: u64,
    used: u64,
    stop: Option<(Key, u8)>,
}

/// Drops this tree's reference to the tree block `bytenr`, held by tree or
/// (under a `FULL_BACKREF` parent) by the parent block.
fn drop_block_ref<S: TreeSource>(t: &mut Trans<'_, S>, w: &Walk, bytenr: u64, level: u8, kind: RefKind) -> Result {
    match kind {
        RefKind::Tree { .. } => t.free_tree_block(w.root, bytenr, level),
        _ => {
            let ns = u64::from(t.fs.geo.nodesize);
            t.fs.refs.add(DelayedRef { bytenr, num_bytes: ns, kind, delta: -1, new_extent: None })
        }
    }
}

/// UPDATE_BACKREF: converts the shared block `bytenr`, if this tree owns
/// it and it is not `FULL_BACKREF` yet, so that everything it points to is
/// referenced by the block, not by the tree; then the same below it.
fn update_backrefs<S: TreeSource>(t: &mut Trans<'_, S>, w: &mut Walk, bytenr: u64, level: u8, gen: u64, flags: u64) -> Result {
    if level == 0 && flags & FLAG_FULL_BACKREF != 0 {
        return Ok(());
    }
    let buf = read_block(t, bytenr, level, gen)?;
    if le64(&buf, OWNER_OFF)? != w.root {
        return Ok(());
    }
    w.used += 1;
    if flags & FLAG_FULL_BACKREF == 0 {
        inc_ref(t, &buf, bytenr, w.root, true)?;
        dec_ref(t, &buf, bytenr, w.root, false)?;
        t.fs.refs.set_flags(bytenr, level, FLAG_FULL_BACKREF)?;
    }
    if level == 0 {
        return Ok(());
    }
    let tb = TreeBlock::new(&buf)?;
    for slot in 0..tb.nritems() as usize {
        let kp = tb.key_ptr(slot)?;
        // Older than the tree: not its own. (C skips the creation
        // transaction too, as nothing changes a snapshot before its
        // creation commits; here the caller may, so that one is walked.)
        if kp.generation < w.origin {
            continue;
        }
        let (refs, cflags) = lookup_extent_info(t, kp.blockptr)?;
        if refs == 0 {
            return Err(EUCLEAN);
        }
        update_backrefs(t, w, kp.blockptr, level - 1, kp.generation, cflags)?;
    }
    Ok(())
}

/// DROP_REFERENCE: drops what the block `bytenr` (one reference: this
/// tree's) points to, from `resume` on. `Ok(false)`: stopped, `w.stop`
/// says where.
fn drop_block<S: TreeSource>(
    t: &mut Trans<'_, S>,
    w: &mut Walk,
    bytenr: u64,
    level: u8,
    gen: u64,
    flags: u64,
    resume: Option<(Key, u8)>,
) -> Result<bool> {
    let buf = read_block(t, bytenr, level, gen)?;
    let full = flags & FLAG_FULL_BACKREF != 0;
    if !full && le64(&buf, OWNER_OFF)? != w.root {
        // C: "unexpected tree owner".
        return Err(EUCLEAN);
    }
    if level == 0 {
        dec_ref(t, &buf, bytenr, w.root, full)?;
        return Ok(true);
    }
    let tb = TreeBlock::new(&buf)?;
    let n = tb.nritems() as usize;
    let mut slot = 0;
    let mut sub = None;
    if let Some((key, dl)) = resume {
        if dl == level {
            slot = match tb.bin_search(&key)? {
                Ok(s) => s,
                Err(_) => return Err(EUCLEAN),
            };
        } else if dl < level {
            slot = tb.child_slot(&key)?;
            sub = resume;
        } else {
            return Err(EUCLEAN);
        }
    }
    let holder = if full { RefKind::SharedTree { parent: bytenr } } else { RefKind::Tree { root: w.root } };
    while slot < n {
        let kp = tb.key_ptr(slot)?;
        if sub.is_none() && w.used >= w.budget {
            w.stop = Some((kp.key, level));
            return Ok(false);
        }
        let (refs, cflags) = lookup_extent_info(t, kp.blockptr)?;
        if refs == 0 {
            return Err(EUCLEAN);
        }
        if refs == 1 {
            if !drop_block(t, w, kp.blockptr, level - 1, kp.generation, cflags, sub.take())? {
                return Ok(false);
            }
        } else {
            if sub.is_some() {
                // The path to the resume point goes through blocks of one
                // reference only.
                return Err(EUCLEAN);
            }
            if kp.generation >= w.origin {
                update_backrefs(t, w, kp.blockptr, level - 1, kp.generation, cflags)?;
            }
        }
        drop_block_ref(t, w, kp.blockptr, level - 1, holder)?;
        w.used += 1;
        slot += 1;
    }
    Ok(true)
}

/// One step of dropping tree `root_id` (a deleted subvolume or snapshot;
/// C: `btrfs_drop_snapshot`): releases up to about `budget` blocks'
/// worth of references, from where the ROOT_ITEM's `drop_progress`
/// says the last step stopped. The ROOT_ITEM's reference count is set to
/// zero (the tree is dead; `btrfs check` reads `drop_progress` only
/// then). Returns `true` when the tree is gone: its root block released,
/// its ROOT_ITEM and orphan item `(ORPHAN, ORPHAN_ITEM, root_id)` deleted
/// and the tree removed from the filesystem state. Commit between steps;
/// a commit after a step that returned `false` is a consistent,
/// resumable state.
///
/// The tree must not be changed by anything else once dropping starts.
pub fn drop_tree_step<S: TreeSource>(t: &mut Trans<'_, S>, root_id: u64, budget: u64) -> Result<bool> {
    if !is_shareable(root_id) || root_id == objectid::FS_TREE {
        return Err(EINVAL);
    }
    let tr = *t.fs.tree_root(root_id).ok_or(ENOENT)?;
    let item = read_root_item(t, root_id)?;
    let (resume, origin) = {
        let ri = RootItem::new(&item).ok_or(EUCLEAN)?;
        let dp = ri.drop_progress();
        let resume = if dp.objectid == 0 { None } else { Some((dp, ri.drop_level())) };
        if let Some((_, dl)) = resume {
            if dl == 0 || dl > tr.node.level {
                return Err(EUCLEAN);
            }
        }
        // C's btrfs_root_origin_generation: the snapshot's transaction,
        // recorded in the item's key offset (0 for a plain subvolume).
        (resume, tr.item_key.offset)
    };
    let mut w = Walk { root: root_id, origin, budget: budget.max(1), used: 0, stop: None };
    let (refs, flags) = lookup_extent_info(t, tr.node.bytenr)?;
    if refs != 1 {
        return Err(EUCLEAN);
    }
    let done = drop_block(t, &mut w, tr.node.bytenr, tr.node.level, tr.node.generation, flags, resume)?;
    let item_key = tr.item_key;
    if !done {
        let (key, level) = w.stop.ok_or(EUCLEAN)?;
        let raw = key.to_disk();
        t.with_root(objectid::ROOT_TREE, |t, root| {
            let mut p = WPath::new();
            if !search_slot(t, root, &item_key, &mut p, 0, true)? {
                return Err(EUCLEAN);
            }
            let mut ri = RootItemMut::new(item_data_mut(t, &p)?).ok_or(EUCLEAN)?;
            ri.set_refs(0);
            ri.set_drop_progress_raw(&raw);
            ri.set_drop_level(level);
            Ok(())
        })?;
        return Ok(false);
    }
    let holder = if flags & FLAG_FULL_BACKREF != 0 {
        RefKind::SharedTree { parent: tr.node.bytenr }
    } else {
        RefKind::Tree { root: root_id }
    };
    drop_block_ref(t, &w, tr.node.bytenr, tr.node.level, holder)?;
    t.with_root(objectid::ROOT_TREE, |t, root| {
        let mut p = WPath::new();
        if !search_slot(t, root, &item_key, &mut p, -1, true)? {
            return Err(EUCLEAN);
        }
        del_items(t, root, &mut p, 1)?;
        let orphan = Key::new(objectid::ORPHAN, key_type::ORPHAN_ITEM, root_id);
        let mut p = WPath::new();
        if search_slot(t, root, &orphan, &mut p, -1, true)? {
            del_items(t, root, &mut p, 1)?;
        }
        Ok(())
    })?;
    t.fs.remove_root(root_id);
    Ok(true)
}
