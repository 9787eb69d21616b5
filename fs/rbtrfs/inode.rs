// SPDX-License-Identifier: GPL-2.0

//! Inodes and directories (C: `fs/btrfs/inode.c`).
//!
//! An inode is found by (subvolume root, objectid): its INODE_ITEM gives
//! the attributes. A name is looked up through the DIR_ITEM keyed by the
//! name's crc32c hash (several names may share one item); readdir walks
//! the DIR_INDEX items in index order, positions 0 and 1 being `.` and
//! `..`, so `f_pos` is the next index and stays stable across calls.

#![forbid(unsafe_code)]

use crate::checksum::name_hash;
use crate::ctree::{key_type, objectid, Key};
use crate::disk_io::{with_trans, with_view, VPath};
use crate::inode_ops::{self, NewInode};
use crate::items_write::InodeFields;
use crate::items::{file_type, DirItemIter, InodeItem};
use crate::rfs::errno;
use crate::rfs::fs::{BlockDevice, SuperBlock};
use crate::rfs::inode::{
    DEntry, DirEmitter, FileAttr, INode, INodeKey, INodeParams, INodeType, InodeFlags, Lookup, NewDEntry, RenameFlags,
    Timespec, UnrefINode,
};
use crate::super_::Btrfs;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::types::ARef;

/// Longest name btrfs stores.
const NAME_MAX: usize = 255;

/// The in-memory btrfs inode (C: `struct btrfs_inode`).
pub(crate) struct BtrfsInode {
    /// The subvolume (tree id) the inode lives in.
    pub(crate) root: u64,
    /// `BTRFS_INODE_*` flags, as in the inode item (changed by
    /// [`fileattr_set`] under the inode lock).
    flags: AtomicU64,
}

impl BtrfsInode {
    /// The `BTRFS_INODE_*` flags.
    pub(crate) fn flags(&self) -> u64 {
        self.flags.load(Ordering::Relaxed)
    }
}

/// The root directory of the mounted subvolume.
pub(crate) fn root(sb: &SuperBlock<Btrfs>) -> Result<ARef<INode<Btrfs>>> {
    let root = sb.data().fs_root;
    iget(sb, root, objectid::FIRST_FREE)
}

/// Gets inode `ino` of `root`, reading it from disk if not cached.
pub(crate) fn iget(sb: &SuperBlock<Btrfs>, root: u64, ino: u64) -> Result<ARef<INode<Btrfs>>> {
    match sb.get_inode(INodeKey { root, ino })? {
        Lookup::Cached(inode) => Ok(inode),
        // If reading fails, dropping `new` marks the inode bad.
        Lookup::New(new) => new.init(read_inode(sb, root, ino)?),
    }
}

fn time(t: crate::items::Timespec) -> Timespec {
    Timespec { sec: t.sec as i64, nsec: t.nsec }
}

/// Reads the INODE_ITEM of `ino` (C: `btrfs_read_locked_inode`).
fn read_inode(sb: &SuperBlock<Btrfs>, root: u64, ino: u64) -> Result<INodeParams<BtrfsInode>> {
    let f = with_view(sb, |v| {
        let mut path = VPath::new();
        if !v.search(root, &Key::new(ino, key_type::INODE_ITEM, 0), &mut path)? {
            btrfs_err!(sb.id(), "inode {} of root {} not found", ino, root);
            return Err(errno::euclean());
        }
        let item = path.item().map_err(|e| v.tree_err(e))?.ok_or(EIO)?;
        let ii = InodeItem::new(item.data).ok_or_else(|| {
            v.tree_err(format_args!("root {} ino {}: inode item too small ({} bytes)", root, ino, item.data.len()))
        })?;
        Ok(InodeFields::from_view(&ii))
    })?;
    params_of(sb, root, ino, &f)
}

/// The VFS view of an inode item.
pub(crate) fn params_of(
    sb: &SuperBlock<Btrfs>,
    root: u64,
    ino: u64,
    f: &InodeFields,
) -> Result<INodeParams<BtrfsInode>> {
    let typ = INodeType::from_mode(f.mode).ok_or_else(|| {
        btrfs_err!(sb.id(), "root {} ino {}: invalid mode 0{:o}", root, ino, f.mode);
        errno::euclean()
    })?;
    Ok(INodeParams {
        typ,
        mode: (f.mode & 0o7777) as u16,
        size: f.size,
        nlink: f.nlink,
        uid: f.uid,
        gid: f.gid,
        rdev: f.rdev as u32,
        blocks: f.nbytes / 512,
        atime: time(f.atime),
        mtime: time(f.mtime),
        ctime: time(f.ctime),
        generation: f.generation,
        flags: inode_flags(f.flags),
        data: BtrfsInode { root, flags: AtomicU64::new(f.flags) },
    })
}

/// The flags the VFS enforces for item flags `flags`.
fn inode_flags(flags: u64) -> InodeFlags {
    let (sync, immutable, append, noatime, dirsync) = crate::fileattr::vfs_flags(flags);
    InodeFlags { sync, immutable, append, noatime, dirsync }
}

/// `FS_IOC_GETFLAGS` (C: `btrfs_fileattr_get`).
pub(crate) fn fileattr_get(inode: &INode<Btrfs>) -> Result<u32> {
    Ok(crate::fileattr::to_fsflags(inode.data().flags()))
}

/// `FS_IOC_SETFLAGS`/`FS_IOC_FSSETXATTR` (C: `btrfs_fileattr_set`): the
/// VFS checked ownership, `CAP_LINUX_IMMUTABLE` and the mount; the new
/// flags (and the compression property they imply) go into the inode item
/// in one transaction, then into the in-core inode.
pub(crate) fn fileattr_set(inode: &INode<Btrfs>, attr: &FileAttr) -> Result {
    use crate::fileattr::{Kind, Prop, COMPRESSION_PROP};
    if attr.has_fsx {
        return Err(errno::eopnotsupp());
    }
    let sb = inode.super_block();
    let (root, ino) = (inode.data().root, inode.ino());
    if crate::subvol::is_readonly(sb, root)? {
        return Err(EROFS);
    }
    let kind = match inode.typ() {
        Some(INodeType::Dir) => Kind::Dir,
        Some(INodeType::Reg) => Kind::Reg { size: inode.size().max(0) as u64 },
        _ => Kind::Other,
    };
    let (flags, prop) = crate::fileattr::set(inode.data().flags(), attr.flags, attr.flags_valid, kind)
        .map_err(crate::disk_io::kerr)?;
    let now = inode.current_time();
    with_trans(sb, |t| {
        t.reserve_metadata()?;
        match prop {
            Some(Prop::Set(v)) => inode_ops::set_xattr(t, root, ino, (COMPRESSION_PROP, v), 0, disk_time(now))?,
            Some(Prop::Remove) => match inode_ops::remove_xattr(t, root, ino, COMPRESSION_PROP, disk_time(now)) {
                Err(e) if e == crate::error::ENODATA => {}
                r => r?,
            },
            None => {}
        }
        inode_ops::update_inode(t, root, ino, |f| {
            f.flags = flags;
            f.ctime = disk_time(now);
        })?;
        inode.set_ctime(now);
        Ok(())
    })?;
    inode.data().flags.store(flags, Ordering::Relaxed);
    inode.set_inode_flags(inode_flags(flags));
    Ok(())
}

/// The VFS type of a directory entry's `BTRFS_FT_*` type.
fn entry_type(ft: u8) -> Option<INodeType> {
    Some(match ft {
        file_type::REG_FILE => INodeType::Reg,
        file_type::DIR => INodeType::Dir,
        file_type::CHRDEV => INodeType::Chr,
        file_type::BLKDEV => INodeType::Blk,
        file_type::FIFO => INodeType::Fifo,
        file_type::SOCK => INodeType::Sock,
        file_type::SYMLINK => INodeType::Lnk,
        _ => return None,
    })
}

/// Looks `name` up in `dir` (C: `btrfs_lookup`).
pub(crate) fn lookup(dir: &INode<Btrfs>, name: &[u8]) -> Result<Option<ARef<INode<Btrfs>>>> {
    if name.len() > NAME_MAX {
        return Err(errno::enametoolong());
    }
    let sb = dir.super_block();
    let root = dir.data().root;
    let key = Key::new(dir.ino(), key_type::DIR_ITEM, u64::from(name_hash(name)));
    let found = with_view(sb, |v| {
        let mut path = VPath::new();
        if !v.search(root, &key, &mut path)? {
            return Ok(None);
        }
        let item = path.item().map_err(|e| v.tree_err(e))?.ok_or(EIO)?;
        for entry in DirItemIter::new(item.data) {
            let entry = entry.map_err(|e| v.tree_err(e))?;
            if entry.name == name {
                return Ok(Some(entry.head.location()));
            }
        }
        Ok(None)
    })?;
    let Some(loc) = found else { return Ok(None) };
    if loc.ty == key_type::ROOT_ITEM {
        return crate::subvol::lookup(dir, name, loc.objectid).map(Some);
    }
    iget(sb, root, loc.objectid).map(Some)
}

/// The empty, read-only placeholder directory C btrfs shows for a
/// subvolume entry with no live subvolume behind it (C: `new_simple_dir`,
/// inode `BTRFS_EMPTY_SUBVOL_DIR_OBJECTID` in the parent's tree): mode
/// 0755 and the parent's owner, as C gives it;
/// [`crate::subvol::permission`] refuses changes. Each lookup makes a new
/// inode, as C's: a directory inode has one dentry, so placeholders
/// cannot share one (the cache key's root is a sequence number with the
/// top bit set, which no tree id has; the inode's tree is the parent's).
pub(crate) fn empty_subvol_dir(dir: &INode<Btrfs>) -> Result<ARef<INode<Btrfs>>> {
    let sb = dir.super_block();
    let root = dir.data().root;
    let ino = crate::subvol::EMPTY_SUBVOL_DIR;
    let seq = sb.data().placeholders.fetch_add(1, Ordering::Relaxed);
    let new = sb.new_inode(INodeKey { root: PLACEHOLDER_KEY | seq, ino })?;
    let now = new.current_time();
    new.init(INodeParams {
        typ: INodeType::Dir,
        mode: 0o755,
        size: 0,
        nlink: 1,
        uid: dir.uid(),
        gid: dir.gid(),
        rdev: 0,
        blocks: 0,
        atime: dir.atime(),
        mtime: now,
        ctime: now,
        generation: 0,
        flags: InodeFlags::default(),
        data: BtrfsInode { root, flags: AtomicU64::new(0) },
    })
}

/// The inode cache key's root of placeholders: the top bit, then a
/// sequence number.
const PLACEHOLDER_KEY: u64 = 1 << 63;

/// readdir (C: `btrfs_real_readdir`): `.`, `..`, then DIR_INDEX order.
pub(crate) fn read_dir(dir: &INode<Btrfs>, emitter: &mut DirEmitter<'_>) -> Result {
    if !emitter.emit_dots() {
        return Ok(());
    }
    let sb = dir.super_block();
    let root = dir.data().root;
    let ino = dir.ino();
    let start = emitter.pos().max(2) as u64;
    with_view(sb, |v| {
        let mut path = VPath::new();
        v.search(root, &Key::new(ino, key_type::DIR_INDEX, start), &mut path)?;
        while let Some(item) = path.item().map_err(|e| v.tree_err(e))? {
            if item.key.objectid != ino || item.key.ty != key_type::DIR_INDEX {
                break;
            }
            for entry in DirItemIter::new(item.data) {
                let entry = entry.map_err(|e| v.tree_err(e))?;
                let typ = entry_type(entry.head.ty()).ok_or_else(|| {
                    v.tree_err(format_args!("dir {} index {}: bad entry type {}", ino, item.key.offset, entry.head.ty()))
                })?;
                let loc = entry.head.location();
                // A subvolume shows as its root directory, as in C btrfs.
                let child = if loc.ty == key_type::ROOT_ITEM { objectid::FIRST_FREE } else { loc.objectid };
                if !emitter.emit(entry.name, child, typ) {
                    return Ok(());
                }
            }
            emitter.set_pos(item.key.offset as i64 + 1);
            if !v.next(&mut path)? {
                break;
            }
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// Changing the namespace (C: btrfs_create, btrfs_mkdir, btrfs_unlink, ...)
// ---------------------------------------------------------------------------

/// A VFS time as the core stores it.
pub(crate) fn disk_time(t: Timespec) -> crate::items::Timespec {
    crate::items::Timespec { sec: t.sec.max(0) as u64, nsec: t.nsec }
}

/// Brings the in-core directory in step with its item after a change.
/// Called inside the change's transaction, with the state lock held, like
/// every in-core update that follows an item: [`write_inode`] reads the
/// in-core fields under that lock too, so it never writes back a size or
/// a time from before a change that the item already has.
pub(crate) fn sync_dir(dir: &INode<Btrfs>, f: &InodeFields) {
    dir.set_size(f.size as i64);
    dir.set_mtime(time(f.mtime));
    dir.set_ctime(time(f.ctime));
}

/// Creates an inode of `mode` named by `dentry` in `dir`: a file,
/// directory, device node, FIFO, socket or (with `target`) a symlink.
pub(crate) fn create(
    dir: &INode<Btrfs>,
    dentry: NewDEntry<'_, Btrfs>,
    mode: u16,
    rdev: u32,
    target: Option<&[u8]>,
) -> Result {
    let sb = dir.super_block();
    let root = dir.data().root;
    let name = dentry.name();
    if name.len() > NAME_MAX {
        return Err(errno::enametoolong());
    }
    if let Some(t) = target {
        let fs = &sb.data().geo;
        let max = crate::file_item::max_inline_size(fs.nodesize, fs.sectorsize, u32::MAX);
        if t.is_empty() || t.len() > max {
            return Err(errno::enametoolong());
        }
    }
    let ino = with_trans(sb, |t| {
        t.reserve_metadata()?;
        inode_ops::alloc_ino(t, root)
    })?;
    let mut new = sb.new_inode(INodeKey { root, ino })?;
    let owner = new.init_owner(dir, mode);
    // The directory's default ACL (or the umask) narrows the mode, and the
    // inode inherits ACLs that go in with its items (C:
    // `btrfs_new_inode_prepare`, `btrfs_init_inode_security`).
    let acls = new.inherit_acls(dir, owner.mode)?;
    let xattrs = acls.xattrs()?;
    let now = new.current_time();
    let attrs = NewInode {
        mode: u32::from(acls.mode),
        uid: owner.uid,
        gid: owner.gid,
        rdev: u64::from(rdev),
        now: disk_time(now),
    };
    let fields = with_trans(sb, |t| {
        let mut f = inode_ops::create_at(t, root, dir.ino(), name, &attrs, ino)?;
        if let Some(target) = target {
            crate::file_item::insert_inline_extent(t, root, ino, target)?;
            f = inode_ops::update_inode(t, root, ino, |f| f.size = target.len() as u64)?;
        }
        for (name, value) in xattrs.iter() {
            inode_ops::set_xattr(t, root, ino, (name, value), inode_ops::XATTR_CREATE, attrs.now)?;
        }
        sync_dir(dir, &inode_ops::read_inode(t, root, dir.ino())?);
        Ok(f)
    })?;
    new.cache_acls(&acls);
    new.instantiate(params_of(sb, root, ino, &fields)?, dentry)?;
    Ok(())
}

/// Adds the name `dentry` in `dir` for `inode`.
pub(crate) fn link(inode: &INode<Btrfs>, dir: &INode<Btrfs>, dentry: NewDEntry<'_, Btrfs>) -> Result {
    let sb = dir.super_block();
    let root = dir.data().root;
    if inode.data().root != root {
        return Err(EXDEV);
    }
    let now = inode.current_time();
    let name = dentry.name();
    with_trans(sb, |t| {
        t.reserve_metadata()?;
        let f = inode_ops::link(t, root, inode.ino(), dir.ino(), name, disk_time(now))?;
        inode.set_nlink(f.nlink);
        inode.set_ctime(now);
        sync_dir(dir, &inode_ops::read_inode(t, root, dir.ino())?);
        Ok(())
    })?;
    dentry.instantiate(ARef::from(inode));
    Ok(())
}

/// Removes `dentry` from `dir` (a file, or with `is_dir` an empty
/// directory). At its last link the inode gets an orphan item, and
/// eviction removes it.
pub(crate) fn unlink(dir: &INode<Btrfs>, dentry: &DEntry<Btrfs>) -> Result {
    let sb = dir.super_block();
    let root = dir.data().root;
    let inode = dentry.inode().ok_or(ENOENT)?;
    let now = inode.current_time();
    let name = dentry.name();
    with_trans(sb, |t| {
        t.reserve_metadata()?;
        let (ino, f) = inode_ops::unlink(t, root, dir.ino(), name, disk_time(now))?;
        if f.nlink == 0 {
            inode_ops::add_orphan(t, root, ino)?;
        }
        inode.set_nlink(f.nlink);
        inode.set_ctime(now);
        sync_dir(dir, &inode_ops::read_inode(t, root, dir.ino())?);
        Ok(())
    })
}

/// Removes the empty directory `dentry` from `dir` (C: `btrfs_rmdir`): an
/// empty subvolume's root directory deletes the subvolume
/// (`btrfs_delete_subvolume`); a placeholder goes with its entry alone
/// (`btrfs_unlink_subvol`).
pub(crate) fn rmdir(dir: &INode<Btrfs>, dentry: &DEntry<Btrfs>) -> Result {
    let inode = dentry.inode().ok_or(ENOENT)?;
    let root = dir.data().root;
    let id = inode.data().root;
    if id != root {
        if inode.size() > 0 {
            return Err(crate::rfs::errno::enotempty());
        }
        return crate::subvol::delete(dir, dentry.name(), id);
    }
    if crate::subvol::is_placeholder(&inode) {
        let sb = dir.super_block();
        let now = disk_time(dir.current_time());
        let name = dentry.name();
        return with_trans(sb, |t| {
            t.reserve_metadata()?;
            match inode_ops::entry(t, root, dir.ino(), name)? {
                Some(inode_ops::Entry::Subvol { location, own: false }) => {
                    crate::root_tree::del_subvol_link(t, location.objectid, (root, dir.ino()), name, now)?;
                }
                // The subvolume was linked here meanwhile, or the name
                // changed: the dentry is stale.
                _ => return Err(crate::error::ENOENT),
            }
            sync_dir(dir, &inode_ops::read_inode(t, root, dir.ino())?);
            Ok(())
        });
    }
    unlink(dir, dentry)
}

/// Renames `old` in `old_dir` to `new` in `new_dir` (C: `btrfs_rename2`):
/// the trees change in [`inode_ops::rename_at`], which also moves
/// subvolumes between directories and subvolumes; here the in-core
/// inodes follow.
pub(crate) fn rename(
    old_dir: &INode<Btrfs>,
    old: &DEntry<Btrfs>,
    new_dir: &INode<Btrfs>,
    new: &DEntry<Btrfs>,
    flags: RenameFlags,
) -> Result {
    let sb = old_dir.super_block();
    let (oroot, nroot) = (old_dir.data().root, new_dir.data().root);
    if crate::subvol::is_placeholder(new_dir) {
        return Err(EPERM);
    }
    let moved = old.inode().ok_or(ENOENT)?;
    let now = moved.current_time();
    let mut core_flags = 0;
    if flags.contains(RenameFlags::NOREPLACE) {
        core_flags |= inode_ops::RENAME_NOREPLACE;
    }
    if flags.contains(RenameFlags::EXCHANGE) {
        core_flags |= inode_ops::RENAME_EXCHANGE;
    }
    // RENAME_WHITEOUT: a character device 0:0 takes the old name, in the
    // same transaction (C: `new_whiteout_inode`).
    let mut whiteout = None;
    if flags.contains(RenameFlags::WHITEOUT) {
        let ino = with_trans(sb, |t| {
            t.reserve_metadata()?;
            inode_ops::alloc_ino(t, oroot)
        })?;
        let mut w = sb.new_inode(INodeKey { root: oroot, ino })?;
        let owner = w.init_owner(old_dir, inode_ops::mode::S_IFCHR as u16);
        let attrs = NewInode { mode: u32::from(owner.mode), uid: owner.uid, gid: owner.gid, rdev: 0, now: disk_time(now) };
        whiteout = Some((w, ino, attrs));
    }
    // Subvolume links move under the subvolume lock, as creation and
    // deletion change them (C: `subvol_sem`, for read).
    let subvols = (moved.data().root != oroot || new.inode().is_some_and(|v| v.data().root != nroot))
        .then(|| sb.data().subvols.lock());
    let wfields = with_trans(sb, |t| {
        t.reserve_metadata()?;
        let v = inode_ops::rename_at(
            t,
            (oroot, old_dir.ino(), old.name()),
            (nroot, new_dir.ino(), new.name()),
            core_flags,
            disk_time(now),
        )?;
        if let Some((vino, f)) = &v {
            if f.nlink == 0 {
                inode_ops::add_orphan(t, nroot, *vino)?;
            }
        }
        moved.set_ctime(now);
        if let (Some((_, f)), Some(vi)) = (v, new.inode()) {
            vi.set_nlink(f.nlink);
            vi.set_ctime(now);
        }
        if core_flags & inode_ops::RENAME_EXCHANGE != 0 {
            if let Some(other) = new.inode() {
                other.set_ctime(now);
            }
        }
        let wf = match &whiteout {
            Some((_, ino, attrs)) => Some(inode_ops::create_at(t, oroot, old_dir.ino(), old.name(), attrs, *ino)?),
            None => None,
        };
        sync_dir(old_dir, &inode_ops::read_inode(t, oroot, old_dir.ino())?);
        sync_dir(new_dir, &inode_ops::read_inode(t, nroot, new_dir.ino())?);
        Ok(wf)
    })?;
    drop(subvols);
    if let (Some((w, ino, _)), Some(f)) = (whiteout, wfields) {
        // In the cache, unnamed: a lookup of the old name finds it.
        drop(w.init(params_of(sb, oroot, ino, &f)?)?);
    }
    Ok(())
}

/// Writes the in-core attributes an item must follow (C:
/// `btrfs_update_inode`): size, owner, mode, times.
pub(crate) fn write_inode(inode: &UnrefINode<Btrfs>) -> Result {
    let sb = inode.super_block();
    // A placeholder has no item (C skips its dummy inodes too).
    if !sb.data().writable() || inode.nlink() == 0 || inode.ino() == crate::subvol::EMPTY_SUBVOL_DIR {
        return Ok(());
    }
    let root = inode.data().root;
    with_trans(sb, |t| {
        t.reserve_metadata()?;
        // Read under the state lock: a namespace change of a directory
        // updates its item and then its in-core size and times under the
        // same lock, so these are never older than the item.
        let (size, mode, uid, gid) = (inode.size().max(0) as u64, inode.mode(), inode.uid(), inode.gid());
        let (atime, mtime, ctime) = (inode.atime(), inode.mtime(), inode.ctime());
        inode_ops::update_inode(t, root, inode.ino(), |f| {
            f.size = size;
            f.mode = (f.mode & 0o170000) | u32::from(mode & 0o7777);
            f.uid = uid;
            f.gid = gid;
            f.atime = disk_time(atime);
            f.mtime = disk_time(mtime);
            f.ctime = disk_time(ctime);
        })
        .map(|_| ())
    })
}

/// The inode leaves memory: free it on disk if it has no link left (C:
/// `btrfs_evict_inode`). Failures leave the orphan item for the next mount.
pub(crate) fn evict(inode: &UnrefINode<Btrfs>) {
    let sb = inode.super_block();
    if !sb.data().writable() || inode.nlink() != 0 {
        return;
    }
    let root = inode.data().root;
    let ino = inode.ino();
    let r = with_trans(sb, |t| {
        inode_ops::remove_inode(t, root, ino, |t| crate::file_item::drop_extents(t, root, ino, 0, u64::MAX).map(|_| ()))
    });
    if let Err(e) = r {
        btrfs_err!(sb.id(), "failed to free inode {} of root {}: error {}", ino, root, e.to_errno());
    }
}

/// Removes the inodes orphan items name (unlinked while open when the
/// filesystem went down), at a read-write mount (C: `btrfs_orphan_cleanup`).
pub(crate) fn orphan_cleanup(sb: &SuperBlock<Btrfs>) -> Result {
    let root = sb.data().fs_root;
    let mut found = 0u32;
    loop {
        // One at a time: removing changes the tree under any cursor.
        let next = with_view(sb, |v| {
            let mut path = VPath::new();
            v.search(root, &Key::new(objectid::ORPHAN, key_type::ORPHAN_ITEM, 0), &mut path)?;
            Ok(path.key().map_err(|e| v.tree_err(e))?.filter(|k| {
                k.objectid == objectid::ORPHAN && k.ty == key_type::ORPHAN_ITEM
            }))
        })?;
        let Some(k) = next else { break };
        let ino = k.offset;
        with_trans(sb, |t| {
            t.reserve_metadata()?;
            inode_ops::remove_inode(t, root, ino, |t| {
                crate::file_item::drop_extents(t, root, ino, 0, u64::MAX).map(|_| ())
            })
        })?;
        found += 1;
    }
    if found > 0 {
        btrfs_info!(sb.id(), "orphan cleanup removed {} inodes of root {}", found, root);
        crate::disk_io::commit(sb)?;
    }
    Ok(())
}
