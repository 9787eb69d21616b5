// SPDX-License-Identifier: GPL-2.0

//! Subvolumes on the kernel side (C: the subvolume ioctls of `ioctl.c`,
//! `btrfs_lookup_dentry`'s crossing into subvolumes, `btrfs_permission`'s
//! read-only check and `btrfs_getattr`'s anonymous device).
//!
//! - `BTRFS_IOC_SUBVOL_CREATE(_V2)`: a new, empty subvolume (one
//!   transaction through [`crate::root_tree`], then a commit, as C does);
//! - `BTRFS_IOC_SNAP_DESTROY(_V2)` and `rmdir` of an empty subvolume: the
//!   namespace part of deletion; the tree stays as a dead root (refs 0,
//!   orphan item) for the cleaner;
//! - `BTRFS_IOC_SUBVOL_SETFLAGS` (read-only on/off, committed) and
//!   `BTRFS_IOC_DEFAULT_SUBVOL`.
//!
//! Per-subvolume state the VFS hooks need without reading trees every
//! time lives in [`Subvols`] (`FsInfo::subvols`): the read-only flag and the
//! anonymous device. Its mutex also serialises subvolume creation,
//! deletion and flag changes (C's `subvol_sem`). Lock order: `subvols` →
//! `state`.

#![forbid(unsafe_code)]

use crate::ctree::{key_type, objectid, Key};
use crate::disk_io::{commit, commit_around, with_trans, with_view, VPath};
use crate::inode::{disk_time, iget, params_of, sync_dir};
use crate::ioctl_fs::{find_root_item, read_heap, SUBVOL_RDONLY};
use crate::items::{RootRef, ROOT_SUBVOL_RDONLY};
use crate::root_tree;
use crate::rfs::errno;
use crate::rfs::fs::{AnonDev, BlockDevice, SuperBlock};
use crate::rfs::inode::{INode, INodeKey, INodeType};
use crate::rfs::ioctl::{capable_sys_admin, iow, random_bytes, FdTarget, IoctlFile, MAY_EXEC, MAY_WRITE};
use crate::super_::Btrfs;
use kernel::prelude::*;
use kernel::types::ARef;
use kernel::uaccess::UserSlice;

type F<'a> = IoctlFile<'a, Btrfs>;

/// `BTRFS_IOCTL_MAGIC`.
const MAGIC: u8 = 0x94;
/// `struct btrfs_ioctl_vol_args` and `btrfs_ioctl_vol_args_v2`.
const VOL_ARGS: usize = 4096;
/// Where the name starts in `btrfs_ioctl_vol_args`.
const V1_NAME: usize = 8;
/// Where the name (or subvolid) starts in `btrfs_ioctl_vol_args_v2`.
const V2_NAME: usize = 56;
/// `BTRFS_SUBVOL_QGROUP_INHERIT`.
const SUBVOL_QGROUP_INHERIT: u64 = 1 << 2;
/// `sizeof(struct btrfs_qgroup_inherit)`.
const QGROUP_INHERIT_SIZE: u64 = 72;
/// `BTRFS_SUBVOL_SPEC_BY_ID`.
const SUBVOL_SPEC_BY_ID: u64 = 1 << 4;
/// `MAY_NOT_BLOCK`: RCU path walk.
const MAY_NOT_BLOCK: i32 = 0x80;
/// `BTRFS_EMPTY_SUBVOL_DIR_OBJECTID`: the placeholder directory.
pub(crate) const EMPTY_SUBVOL_DIR: u64 = 2;

/// `BTRFS_IOC_SUBVOL_CREATE`.
pub(crate) const IOC_SUBVOL_CREATE: u32 = iow(MAGIC, 14, VOL_ARGS);
/// `BTRFS_IOC_SNAP_CREATE`.
pub(crate) const IOC_SNAP_CREATE: u32 = iow(MAGIC, 1, VOL_ARGS);
/// `BTRFS_IOC_SNAP_CREATE_V2`.
pub(crate) const IOC_SNAP_CREATE_V2: u32 = iow(MAGIC, 23, VOL_ARGS);
/// `BTRFS_IOC_SNAP_DESTROY`.
pub(crate) const IOC_SNAP_DESTROY: u32 = iow(MAGIC, 15, VOL_ARGS);
/// `BTRFS_IOC_DEFAULT_SUBVOL`.
pub(crate) const IOC_DEFAULT_SUBVOL: u32 = iow(MAGIC, 19, 8);
/// `BTRFS_IOC_SUBVOL_CREATE_V2`.
pub(crate) const IOC_SUBVOL_CREATE_V2: u32 = iow(MAGIC, 24, VOL_ARGS);
/// `BTRFS_IOC_SUBVOL_SETFLAGS`.
pub(crate) const IOC_SUBVOL_SETFLAGS: u32 = iow(MAGIC, 26, 8);
/// `BTRFS_IOC_SNAP_DESTROY_V2`.
pub(crate) const IOC_SNAP_DESTROY_V2: u32 = iow(MAGIC, 63, VOL_ARGS);

/// What the VFS hooks know of one subvolume.
struct SubvolState {
    root: u64,
    ro: bool,
    dev: Option<AnonDev>,
}

/// Per-subvolume state, loaded on first use (`FsInfo::subvols`).
pub(crate) struct Subvols {
    list: KVec<SubvolState>,
}

impl Subvols {
    /// None known yet.
    pub(crate) fn new() -> Self {
        Subvols { list: KVec::new() }
    }
}

/// Runs `f` on the state of subvolume `root`, loading it first, with the
/// `subvols` mutex held (`guard`).
fn entry<R>(
    sb: &SuperBlock<Btrfs>,
    guard: &mut Subvols,
    root: u64,
    f: impl FnOnce(&mut SubvolState) -> Result<R>,
) -> Result<R> {
    if let Some(i) = guard.list.iter().position(|e| e.root == root) {
        return f(&mut guard.list[i]);
    }
    let flags = with_view(sb, |v| Ok(find_root_item(v, root)?.map_or(0, |r| r.0)))?;
    guard.list.push(SubvolState { root, ro: flags & ROOT_SUBVOL_RDONLY != 0, dev: None }, GFP_KERNEL)?;
    let n = guard.list.len();
    f(&mut guard.list[n - 1])
}

/// Whether subvolume `root` is read-only (C: `btrfs_root_readonly`).
pub(crate) fn is_readonly(sb: &SuperBlock<Btrfs>, root: u64) -> Result<bool> {
    let mut g = sb.data().subvols.lock();
    entry(sb, &mut g, root, |e| Ok(e.ro))
}

/// `inode_operations.permission` before `generic_permission` (C:
/// `btrfs_permission`): writing to a file, directory or symlink of a
/// read-only subvolume is `EROFS`. A placeholder has only the generic
/// checks, as C's ([`is_placeholder`]).
pub(crate) fn permission(inode: &INode<Btrfs>, mask: i32) -> Result {
    if mask & MAY_WRITE == 0 || is_placeholder(inode) {
        return Ok(());
    }
    if !matches!(inode.typ(), Some(INodeType::Reg | INodeType::Dir | INodeType::Lnk)) {
        return Ok(());
    }
    if mask & MAY_NOT_BLOCK != 0 {
        return Err(ECHILD);
    }
    if is_readonly(inode.super_block(), inode.data().root)? {
        return Err(EROFS);
    }
    Ok(())
}

/// Whether `inode` is a placeholder directory
/// ([`crate::inode::empty_subvol_dir`]). It answers as C's
/// (`new_simple_dir`), a directory with only lookup and readdir: no
/// tree changes, no xattrs, no ioctls; a write permission check is the
/// generic one, and the operation then fails as the VFS fails it for a
/// directory without that operation.
pub(crate) fn is_placeholder(inode: &INode<Btrfs>) -> bool {
    inode.ino() == EMPTY_SUBVOL_DIR
}

/// `EROFS` if `inode`'s subvolume is read-only (C: the checks of
/// `btrfs_setattr`, `btrfs_setxattr_trans`, `btrfs_fileattr_set`).
pub(crate) fn check_writable(inode: &INode<Btrfs>) -> Result {
    if is_readonly(inode.super_block(), inode.data().root)? {
        return Err(EROFS);
    }
    Ok(())
}

/// `stat`'s device for `inode` (C: `btrfs_getattr`, each subvolume its
/// anonymous device): the superblock's for the mounted subvolume, an
/// anonymous one allocated on first use for every other.
pub(crate) fn st_dev(inode: &INode<Btrfs>) -> Option<u32> {
    let sb = inode.super_block();
    let root = inode.data().root;
    if root == sb.data().fs_root {
        return None;
    }
    let mut g = sb.data().subvols.lock();
    entry(sb, &mut g, root, |e| {
        if e.dev.is_none() {
            e.dev = Some(AnonDev::new()?);
        }
        Ok(e.dev.as_ref().map(|d| d.dev()))
    })
    .ok()
    .flatten()
}

/// Lookup of `name` in `dir` whose entry points at subvolume `id` (C:
/// `btrfs_lookup_dentry` and `fixup_tree_root_location`): the subvolume's
/// root directory if a ROOT_REF from `dir`'s subvolume links it there
/// under that name and it is alive, else the empty placeholder directory
/// (a subvolume seen through a snapshot of its parent, or one being
/// deleted).
pub(crate) fn lookup(dir: &INode<Btrfs>, name: &[u8], id: u64) -> Result<ARef<INode<Btrfs>>> {
    let sb = dir.super_block();
    let parent = dir.data().root;
    let linked = with_view(sb, |v| {
        let mut path = VPath::new();
        if !v.search(objectid::ROOT_TREE, &Key::new(parent, key_type::ROOT_REF, id), &mut path)? {
            return Ok(false);
        }
        let item = path.item().map_err(|e| v.tree_err(e))?.ok_or(EIO)?;
        let rr = RootRef::parse(item.data).map_err(|e| v.tree_err(e))?;
        if rr.dirid != dir.ino() || rr.name != name {
            return Ok(false);
        }
        Ok(find_root_item(v, id)?.is_some_and(|r| r.2 > 0) && v.state.root(id).is_some())
    })?;
    if linked {
        iget(sb, id, objectid::FIRST_FREE)
    } else {
        crate::inode::empty_subvol_dir(dir)
    }
}

/// A NUL-terminated name in `field`; `ENAMETOOLONG` without a NUL (C:
/// `btrfs_check_ioctl_vol_args_path`).
fn name_in(field: &[u8]) -> Result<&[u8]> {
    let n = field.iter().position(|&b| b == 0).ok_or_else(errno::enametoolong)?;
    Ok(&field[..n])
}

/// A random version 4 uuid (C: `generate_random_guid`).
fn new_uuid() -> [u8; 16] {
    let mut u = [0u8; 16];
    random_bytes(&mut u);
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    u
}

/// The flags of a `_V2` create argument (C: `btrfs_ioctl_snap_create_v2`):
/// `EOPNOTSUPP` for unknown ones, `EINVAL` for a bad qgroup inherit size
/// (qgroups are not kept, but the size is checked as C checks it). Returns
/// whether read-only was asked (it applies to snapshots only).
fn create_v2_flags(args: &[u8]) -> Result<bool> {
    let flags = u64_at(args, 16);
    if flags & !(SUBVOL_RDONLY | SUBVOL_QGROUP_INHERIT) != 0 {
        return Err(errno::eopnotsupp());
    }
    let size = u64_at(args, 24);
    if flags & SUBVOL_QGROUP_INHERIT != 0 && !(QGROUP_INHERIT_SIZE..=4096).contains(&size) {
        return Err(EINVAL);
    }
    Ok(flags & SUBVOL_RDONLY != 0)
}

/// C's checks of a new subvolume's or snapshot's name, in its order
/// (`__btrfs_ioctl_snap_create`): a `/` is `EINVAL`, `.` and `..` are
/// `EEXIST`, longer than `NAME_MAX` is `ENAMETOOLONG`.
fn check_new_name(name: &[u8]) -> Result {
    if name.contains(&b'/') {
        return Err(EINVAL);
    }
    if name == b"." || name == b".." {
        return Err(EEXIST);
    }
    if name.len() > crate::inode_ops::NAME_MAX {
        return Err(errno::enametoolong());
    }
    Ok(())
}

/// `BTRFS_IOC_SUBVOL_CREATE` and `_V2` (C: `btrfs_ioctl_snap_create(_v2)`
/// with `subvol`, `__btrfs_ioctl_snap_create`, `btrfs_mksubvol`).
fn subvol_create(f: &F<'_>, arg: usize, v2: bool) -> Result {
    let dir = f.inode();
    // C's order: v2 checks the file type before copying, v1 after.
    if v2 && dir.typ() != Some(INodeType::Dir) {
        return Err(ENOTDIR);
    }
    let args = read_heap(arg, VOL_ARGS)?;
    let name = name_in(&args[if v2 { V2_NAME } else { V1_NAME }..])?;
    if v2 {
        create_v2_flags(&args)?;
    }
    if dir.typ() != Some(INodeType::Dir) {
        return Err(ENOTDIR);
    }
    let _w = f.want_write()?;
    check_new_name(name)?;
    let child = f.lock_child(name)?;
    child.may_create()?;
    create(dir, name)?;
    // The negative dentry goes: the next lookup finds the subvolume.
    child.drop_dentry();
    Ok(())
}

/// Creates the empty subvolume `name` in `dir` (C: `create_subvol`) and
/// commits. The caller holds `dir` locked and checked the name.
fn create(dir: &INode<Btrfs>, name: &[u8]) -> Result {
    let sb = dir.super_block();
    let fs = sb.data();
    let parent = dir.data().root;
    let now = dir.current_time();
    let uuid = new_uuid();
    {
        let _g = fs.subvols.lock();
        let alive = with_view(sb, |v| Ok(find_root_item(v, parent)?.is_some_and(|r| r.2 > 0)))?;
        if !alive {
            return Err(ENOENT);
        }
        let id = with_trans(sb, |t| {
            t.reserve_metadata()?;
            if crate::inode_ops::lookup_location(t, parent, dir.ino(), name)?.is_some() {
                return Err(crate::error::EEXIST);
            }
            root_tree::find_free_objectid(t)
        })?;
        // Qgroup level bits set: C refuses such ids with ENOSPC.
        if id >> 48 != 0 {
            return Err(ENOSPC);
        }
        let mut new = sb.new_inode(INodeKey { root: id, ino: objectid::FIRST_FREE })?;
        let owner = new.init_owner(dir, 0o040777);
        let acls = new.inherit_acls(dir, owner.mode)?;
        let xattrs = acls.xattrs()?;
        let attrs = crate::inode_ops::NewInode {
            mode: u32::from(acls.mode),
            uid: owner.uid,
            gid: owner.gid,
            rdev: 0,
            now: disk_time(now),
        };
        let fields = with_trans(sb, |t| {
            let node = root_tree::new_subvol_tree(t, id, &attrs)?;
            let item = root_tree::subvol_root_item(&node, t.fs.transid(), t.fs.geo.nodesize, uuid, attrs.now);
            root_tree::link_subvol(t, id, &item, (parent, dir.ino()), name, attrs.now)?;
            for (n, v) in xattrs.iter() {
                crate::inode_ops::set_xattr(t, id, objectid::FIRST_FREE, (n, v), crate::inode_ops::XATTR_CREATE, attrs.now)?;
            }
            sync_dir(dir, &crate::inode_ops::read_inode(t, parent, dir.ino())?);
            crate::inode_ops::read_inode(t, id, objectid::FIRST_FREE)
        })?;
        new.cache_acls(&acls);
        drop(new.init(params_of(sb, id, objectid::FIRST_FREE, &fields)?)?);
    }
    commit(sb)
}

/// `BTRFS_IOC_SNAP_CREATE` and `_V2` (C: `btrfs_ioctl_snap_create(_v2)`,
/// `__btrfs_ioctl_snap_create`, `btrfs_mksnapshot`): a snapshot of the
/// subvolume whose root directory is open as the argument's `fd`, named
/// `name` in the ioctl's directory; `_V2` may make it read-only.
fn snap_create(f: &F<'_>, arg: usize, v2: bool) -> Result {
    let dir = f.inode();
    if v2 && dir.typ() != Some(INodeType::Dir) {
        return Err(ENOTDIR);
    }
    let args = read_heap(arg, VOL_ARGS)?;
    let fd = u64_at(&args, 0) as i64;
    let readonly = if v2 { create_v2_flags(&args)? } else { false };
    let name = name_in(&args[if v2 { V2_NAME } else { V1_NAME }..])?;
    if dir.typ() != Some(INodeType::Dir) {
        return Err(ENOTDIR);
    }
    let _w = f.want_write()?;
    check_new_name(name)?;
    let sb = dir.super_block();
    let src = f.with_fd(fd, |t| match t {
        FdTarget::NotOpen => Err(EINVAL),
        FdTarget::OtherFs => {
            btrfs_info!(sb.id(), "Snapshot src from another FS");
            Err(EXDEV)
        }
        FdTarget::Ours { owner_or_capable: false, .. } => Err(EPERM),
        FdTarget::Ours { inode, .. } if inode.ino() != objectid::FIRST_FREE => Err(EINVAL),
        FdTarget::Ours { inode, .. } => Ok(inode.data().root),
    })?;
    let child = f.lock_child(name)?;
    child.may_create()?;
    snapshot(dir, name, src, readonly)?;
    child.drop_dentry();
    Ok(())
}

/// Snapshots subvolume `src` as `name` in `dir` (C: `create_snapshot` and
/// `create_pending_snapshot`). The source's dirty data is written first
/// (C: `btrfs_start_delalloc_snapshot`); then, with the state lock held
/// throughout, the running transaction is committed, the snapshot made in
/// a fresh one (it shares the committed blocks) and committed. The caller
/// holds `dir` locked and checked the name.
fn snapshot(dir: &INode<Btrfs>, name: &[u8], src: u64, readonly: bool) -> Result {
    let sb = dir.super_block();
    let fs = sb.data();
    let parent = dir.data().root;
    let now = disk_time(dir.current_time());
    let uuid = new_uuid();
    // Data written before the ioctl is in the snapshot.
    sb.sync()?;
    let _g = fs.subvols.lock();
    let alive = with_view(sb, |v| Ok(find_root_item(v, src)?.is_some_and(|r| r.2 > 0)))?;
    if !alive {
        return Err(ENOENT);
    }
    commit_around(sb, |t| {
        t.reserve_metadata()?;
        if crate::inode_ops::lookup_location(t, parent, dir.ino(), name)?.is_some() {
            return Err(crate::error::EEXIST);
        }
        let id = root_tree::find_free_objectid(t)?;
        if id >> 48 != 0 {
            return Err(crate::error::ENOSPC);
        }
        let src_item = root_tree::read_root_item(t, src)?.ok_or(crate::error::ENOENT)?;
        let p = crate::snapshot::SnapshotParams {
            uuid,
            readonly,
            otime: now,
            ctransid: src_item.ctransid,
            ctime: src_item.ctime,
        };
        crate::snapshot::create_snapshot(t, src, id, &p)?;
        let location = Key::new(id, key_type::ROOT_ITEM, u64::MAX);
        root_tree::link_names(t, id, &uuid, location, (parent, dir.ino()), name, now)?;
        sync_dir(dir, &crate::inode_ops::read_inode(t, parent, dir.ino())?);
        Ok(())
    })
}

/// `BTRFS_IOC_SNAP_DESTROY` and `_V2` (C: `btrfs_ioctl_snap_destroy`).
/// By id (`_V2` with `SPEC_BY_ID`) only for a subvolume linked in the
/// ioctl's own directory.
fn snap_destroy(f: &F<'_>, arg: usize, v2: bool) -> Result {
    let args = read_heap(arg, VOL_ARGS)?;
    let dir = f.inode();
    let sb = dir.super_block();
    let mut byid = KVec::new();
    let (name, _w) = if v2 {
        let flags = u64_at(&args, 16);
        if flags & !SUBVOL_SPEC_BY_ID != 0 {
            return Err(errno::eopnotsupp());
        }
        if flags & SUBVOL_SPEC_BY_ID == 0 {
            let name = name_in(&args[V2_NAME..])?;
            (name, f.want_write()?)
        } else {
            let id = u64_at(&args, V2_NAME);
            if id < objectid::FIRST_FREE {
                return Err(EINVAL);
            }
            let w = f.want_write()?;
            let at = with_trans(sb, |t| root_tree::root_backref(t, id))?;
            let Some((parent, dirid, _, n)) = at else { return Err(ENOENT) };
            if (parent, dirid) != (dir.data().root, dir.ino()) {
                return Err(errno::eopnotsupp());
            }
            byid.extend_from_slice(&n, GFP_KERNEL)?;
            (&byid[..], w)
        }
    } else {
        (name_in(&args[V1_NAME..])?, f.want_write()?)
    };
    // C: `strchr(name, '/') || strncmp(name, "..", len) == 0`.
    if name.contains(&b'/') || b"..".starts_with(name) {
        return Err(EINVAL);
    }
    if dir.typ() != Some(INodeType::Dir) {
        return Err(ENOTDIR);
    }
    let child = f.lock_child(name)?;
    let inode = child.inode().ok_or(ENOENT)?;
    let dest = inode.data().root;
    if !capable_sys_admin() {
        if !sb.data().user_subvol_rm_allowed {
            return Err(EPERM);
        }
        if dest == dir.data().root {
            return Err(EINVAL);
        }
        f.permission(inode, MAY_WRITE | MAY_EXEC)?;
    }
    child.may_delete()?;
    if inode.ino() != objectid::FIRST_FREE || dest == dir.data().root {
        return Err(EINVAL);
    }
    delete(dir, name, dest)?;
    child.invalidate();
    Ok(())
}

/// Deletes subvolume `id`, linked as `name` in `dir` (C:
/// `btrfs_delete_subvolume`): `EBUSY` for the mounted one, `EPERM` for
/// the default one, `ENOTEMPTY` if subvolumes are linked in it; then the
/// namespace part in one transaction. The caller holds `dir` locked.
pub(crate) fn delete(dir: &INode<Btrfs>, name: &[u8], id: u64) -> Result {
    let sb = dir.super_block();
    let fs = sb.data();
    let parent = dir.data().root;
    let now = disk_time(dir.current_time());
    if id == fs.fs_root {
        return Err(EBUSY);
    }
    // Dirty data of the subvolume goes to disk first: a dead tree takes
    // no more changes (the cleaner drops it).
    sb.sync()?;
    let mut g = fs.subvols.lock();
    let r = with_trans(sb, |t| {
        t.reserve_metadata()?;
        if root_tree::default_subvol(t)? == id {
            return Ok(None);
        }
        if root_tree::has_child_subvols(t, id)? {
            return Err(crate::error::ENOTEMPTY);
        }
        root_tree::unlink_subvol(t, id, (parent, dir.ino()), name, now)?;
        sync_dir(dir, &crate::inode_ops::read_inode(t, parent, dir.ino())?);
        Ok(Some(()))
    })?;
    if r.is_none() {
        btrfs_warn!(sb.id(), "deleting default subvolume {} is not allowed", id);
        return Err(EPERM);
    }
    // The cleaner drops the tree in the background, from the next periodic
    // run of the background work on (C wakes its cleaner at commits).
    let _ = fs.state.lock().dead_roots.push(id);
    if let Some(e) = g.list.iter_mut().find(|e| e.root == id) {
        // The anonymous device goes back; the slot stays, unused (no tree
        // has id 0).
        e.dev = None;
        e.root = 0;
    }
    Ok(())
}

/// Wakes the cleaner if deleted subvolumes wait for it (C wakes its
/// cleaner thread in `BTRFS_IOC_SYNC`, and after the commits that
/// `BTRFS_IOC_START_SYNC` hands to the transaction thread), and after a
/// mount or remount read-write that finds deleted subvolumes. Otherwise
/// the cleaner starts at the next periodic commit.
pub(crate) fn wake_cleaner(sb: &SuperBlock<Btrfs>) {
    let fs = sb.data();
    if fs.writable() && !fs.state.lock().dead_roots.is_empty() {
        sb.reschedule_background_work(0);
    }
}

/// Tree blocks one cleaner step releases before it commits.
const CLEANER_BUDGET: u64 = 512;

/// One step of the cleaner (C: `btrfs_clean_one_deleted_snapshot`, run by
/// the cleaner thread): drops up to [`CLEANER_BUDGET`] blocks' worth of
/// the first deleted subvolume's tree, recording where it stopped in the
/// ROOT_ITEM (`drop_progress`), and commits, so an unmount between steps
/// loses nothing and the next mount goes on. Runs from the superblock's
/// background work (a kernel workqueue); returns whether another step
/// should follow at once.
pub(crate) fn clean_step(sb: &SuperBlock<Btrfs>) -> bool {
    let fs = sb.data();
    if !fs.writable() {
        return false;
    }
    let Some(id) = fs.state.lock().dead_roots.first().copied() else { return false };
    let r = with_trans(sb, |t| {
        // Without room for the step nothing changed: try again later.
        t.reserve_metadata()?;
        match crate::snapshot::drop_tree_step(t, id, CLEANER_BUDGET) {
            Ok(done) => {
                if done {
                    t.fs.dead_roots.retain(|&x| x != id);
                }
                Ok(Some(done))
            }
            Err(e) => {
                // Half a step is in the running transaction: it must not
                // be committed (C aborts the transaction).
                t.fs.aborted = true;
                t.fs.dead_roots.retain(|&x| x != id);
                Err(e)
            }
        }
    });
    match r {
        Ok(Some(done)) => {
            if let Err(e) = commit(sb) {
                btrfs_err!(sb.id(), "cleaner: commit failed: error {}", e.to_errno());
                return false;
            }
            if done {
                btrfs_info!(sb.id(), "cleaner: dropped deleted subvolume {}", id);
            }
            true
        }
        Ok(None) => false,
        Err(e) if e == ENOSPC => false,
        Err(e) => {
            btrfs_err!(sb.id(), "failed to drop deleted subvolume {}: error {}; transaction aborted, forced readonly",
                id, e.to_errno());
            false
        }
    }
}

/// `BTRFS_IOC_SUBVOL_SETFLAGS` (C: `btrfs_ioctl_subvol_setflags`): on a
/// subvolume's root directory, owner or `CAP_FOWNER`; read-only on or off,
/// committed.
fn subvol_setflags(f: &F<'_>, arg: usize) -> Result {
    let inode = f.inode();
    let sb = inode.super_block();
    if !f.owner_or_capable() {
        return Err(EPERM);
    }
    let _w = f.want_write()?;
    if inode.ino() != objectid::FIRST_FREE {
        return Err(EINVAL);
    }
    let mut b = [0u8; 8];
    UserSlice::new(arg, 8).reader().read_slice(&mut b)?;
    let flags = u64::from_le_bytes(b);
    if flags & !SUBVOL_RDONLY != 0 {
        return Err(errno::eopnotsupp());
    }
    let ro = flags & SUBVOL_RDONLY != 0;
    let id = inode.data().root;
    {
        let mut g = sb.data().subvols.lock();
        if entry(sb, &mut g, id, |e| Ok(e.ro))? == ro {
            return Ok(());
        }
        with_trans(sb, |t| {
            t.reserve_metadata()?;
            root_tree::set_readonly(t, id, ro).map(|_| ())
        })?;
        entry(sb, &mut g, id, |e| {
            e.ro = ro;
            Ok(())
        })?;
    }
    commit(sb)
}

/// `BTRFS_IOC_DEFAULT_SUBVOL` (C: `btrfs_ioctl_default_subvol`):
/// `CAP_SYS_ADMIN`; 0 means the top level; the subvolume must exist.
fn default_subvol(f: &F<'_>, arg: usize) -> Result {
    if !capable_sys_admin() {
        return Err(EPERM);
    }
    let _w = f.want_write()?;
    let mut b = [0u8; 8];
    UserSlice::new(arg, 8).reader().read_slice(&mut b)?;
    let mut id = u64::from_le_bytes(b);
    if id == 0 {
        id = objectid::FS_TREE;
    }
    if !objectid::is_fstree(id) {
        return Err(ENOENT);
    }
    let sb = f.inode().super_block();
    let _g = sb.data().subvols.lock();
    with_trans(sb, |t| {
        t.reserve_metadata()?;
        let alive = root_tree::read_root_item(t, id)?.is_some_and(|r| r.refs > 0);
        if !alive {
            return Err(crate::error::ENOENT);
        }
        root_tree::set_default_subvol(t, id)
    })
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(off..off + 8) {
        w.copy_from_slice(s);
    }
    u64::from_le_bytes(w)
}

/// Dispatches the subvolume ioctls; `None` for other commands.
pub(crate) fn ioctl(f: &F<'_>, cmd: u32, arg: usize) -> Option<Result<i32>> {
    let r = match cmd {
        IOC_SUBVOL_CREATE => subvol_create(f, arg, false),
        IOC_SUBVOL_CREATE_V2 => subvol_create(f, arg, true),
        IOC_SNAP_CREATE => snap_create(f, arg, false),
        IOC_SNAP_CREATE_V2 => snap_create(f, arg, true),
        IOC_SNAP_DESTROY => snap_destroy(f, arg, false),
        IOC_SNAP_DESTROY_V2 => snap_destroy(f, arg, true),
        IOC_SUBVOL_SETFLAGS => subvol_setflags(f, arg),
        IOC_DEFAULT_SUBVOL => default_subvol(f, arg),
        _ => return None,
    };
    Some(r.map(|()| 0))
}
