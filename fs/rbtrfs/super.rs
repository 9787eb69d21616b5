// SPDX-License-Identifier: GPL-2.0

//! The filesystem type and the mount entry (C: `fs/btrfs/super.c`).

#![forbid(unsafe_code)]

use crate::disk_io::FsInfo;
use crate::inode::BtrfsInode;
use crate::subvol::is_placeholder;
use crate::rfs::folio::LockedFolio;
use crate::rfs::fs::{self, BlockDevice, FileSystem, NewSuperBlock, StatFs, SuperBlock};
use crate::rfs::folio::Writeback;
use crate::rfs::inode::{DEntry, DirEmitter, INode, NewDEntry, RenameFlags, SetAttr, UnrefINode};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::ARef;

/// `BTRFS_SUPER_MAGIC` from `include/uapi/linux/magic.h`, as `statfs` reports it.
pub(crate) const BTRFS_SUPER_MAGIC: u64 = 0x9123_683E;

/// What this build supports, for the load message.
pub(crate) const FEATURES: &str = "read-write mount of single-device SINGLE/DUP filesystems (free space tree)";

/// The one `struct file_system_type` of the module (static: lockdep keys).
static BTRFS_FS_TYPE: fs::Type = fs::Type::new();

/// Mount options (C: `btrfs_parse_param`). Options that only change how
/// btrfs writes are accepted and have no effect on a read-only mount.
pub(crate) struct MountOptions {
    /// `subvolid=N`: the subvolume to mount (0: the default one).
    pub(crate) subvolid: Option<u64>,
    /// `subvol=/`: the top-level subvolume.
    pub(crate) subvol_root: bool,
    /// `subvol=PATH` (other than `/`): a subvolume by its path from the
    /// top level.
    pub(crate) subvol_path: Option<KVec<u8>>,
    /// `commit=N`: seconds between periodic commits (default 30).
    pub(crate) commit_interval: u32,
    /// `acl`/`noacl`: POSIX ACLs on or off (`None`: not given, which is on
    /// for a mount and unchanged for a remount).
    pub(crate) acl: Option<bool>,
    /// `user_subvol_rm_allowed`: owners may delete subvolumes.
    pub(crate) user_subvol_rm_allowed: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            subvolid: None,
            subvol_root: false,
            subvol_path: None,
            commit_interval: DEFAULT_COMMIT_INTERVAL,
            acl: None,
            user_subvol_rm_allowed: false,
        }
    }
}

/// Seconds between periodic commits (C: `BTRFS_DEFAULT_COMMIT_INTERVAL`).
pub(crate) const DEFAULT_COMMIT_INTERVAL: u32 = 30;

/// Options C btrfs takes that matter only for writing (or for devices we
/// do not support anyway): accepted, ignored.
const WRITE_ONLY_OPTIONS: &[&[u8]] = &[
    b"autodefrag", b"noautodefrag", b"barrier", b"nobarrier", b"clear_cache",
    b"compress", b"compress-force", b"datacow", b"nodatacow", b"datasum", b"nodatasum",
    b"device", b"discard", b"nodiscard", b"enospc_debug", b"noenospc_debug", b"fatal_errors",
    b"flushoncommit", b"noflushoncommit", b"max_inline", b"metadata_ratio", b"nologreplay",
    b"norecovery", b"rescan_uuid_tree", b"skip_balance", b"space_cache", b"nospace_cache",
    b"ssd", b"nossd", b"ssd_spread", b"nossd_spread", b"thread_pool", b"treelog", b"notreelog",
    b"usebackuproot",
];

/// The `btrfs` filesystem type.
pub(crate) struct Btrfs;

impl FileSystem for Btrfs {
    const NAME: &'static CStr = kernel::c_str!("btrfs");
    const MAGIC: u64 = BTRFS_SUPER_MAGIC;
    type Data = FsInfo;
    type INodeData = BtrfsInode;
    type Options = MountOptions;

    fn parse_option(opts: &mut MountOptions, key: &CStr, value: Option<&CStr>) -> Result {
        let v = value.map(|v| v.as_bytes());
        match (key.as_bytes(), v) {
            (b"subvolid", Some(v)) => {
                let id = core::str::from_utf8(v).ok().and_then(|s| s.parse::<u64>().ok()).ok_or_else(|| {
                    btrfs_err_nodev!("invalid subvolid '{}'", value.unwrap_or(kernel::c_str!("")));
                    EINVAL
                })?;
                opts.subvolid = Some(id);
            }
            (b"subvol", Some(b"/" | b"")) => {
                opts.subvol_root = true;
                opts.subvol_path = None;
            }
            (b"acl", None) => opts.acl = Some(true),
            (b"user_subvol_rm_allowed", None) => opts.user_subvol_rm_allowed = true,
            (b"noacl", None) => opts.acl = Some(false),
            (b"commit", v) => {
                let n = match v {
                    None => DEFAULT_COMMIT_INTERVAL,
                    Some(v) => core::str::from_utf8(v).ok().and_then(|s| s.parse::<u32>().ok()).ok_or_else(|| {
                        btrfs_err_nodev!("invalid commit interval '{}'", value.unwrap_or(kernel::c_str!("")));
                        EINVAL
                    })?,
                };
                opts.commit_interval = if n == 0 { DEFAULT_COMMIT_INTERVAL } else { n.min(300 * 10) };
            }
            (b"subvol", Some(v)) => {
                let mut p = KVec::new();
                p.extend_from_slice(v, GFP_KERNEL)?;
                opts.subvol_path = Some(p);
            }
            (k, _) if WRITE_ONLY_OPTIONS.contains(&k) => {}
            _ => {
                btrfs_err_nodev!("unrecognized mount option '{}'", key);
                return Err(EINVAL);
            }
        }
        Ok(())
    }

    fn fill_super(sb: &NewSuperBlock<'_>, opts: &MountOptions) -> Result<KBox<FsInfo>> {
        crate::disk_io::open_ctree(sb, opts)
    }

    fn reconfigure(sb: &SuperBlock<Self>, _opts: &MountOptions, read_only: bool) -> Result {
        if !read_only && sb.data().state.lock().aborted {
            btrfs_err!(sb.id(), "cannot remount read-write after a transaction abort");
            return Err(EROFS);
        }
        if !read_only {
            crate::disk_io::remount_rw(sb)?;
        }
        Ok(())
    }

    fn root(sb: &SuperBlock<Self>) -> Result<ARef<INode<Self>>> {
        crate::inode::root(sb)
    }

    fn lookup(dir: &INode<Self>, name: &[u8]) -> Result<Option<ARef<INode<Self>>>> {
        crate::inode::lookup(dir, name)
    }

    fn read_dir(dir: &INode<Self>, emitter: &mut DirEmitter<'_>) -> Result {
        crate::inode::read_dir(dir, emitter)
    }

    fn read_folio(inode: &INode<Self>, folio: &mut LockedFolio<'_>) -> Result {
        crate::file::read_folio(inode, folio)
    }

    fn readahead(inode: &INode<Self>, batch: &mut crate::rfs::folio::ReadaheadBatch<'_>) -> Result {
        crate::file::readahead(inode, batch)
    }

    // A placeholder directory answers as C's (`new_simple_dir`: simple
    // directory operations, no xattrs), see `subvol::is_placeholder`.

    fn get_xattr(inode: &INode<Self>, name: &[u8], buf: Option<&mut [u8]>) -> Result<usize> {
        if is_placeholder(inode) {
            return Err(crate::rfs::errno::eopnotsupp());
        }
        crate::xattr::get(inode, name, buf)
    }

    fn list_xattr(inode: &INode<Self>, buf: Option<&mut [u8]>) -> Result<usize> {
        if is_placeholder(inode) {
            return Ok(0);
        }
        crate::xattr::list(inode, buf)
    }

    fn set_xattr(inode: &INode<Self>, name: &[u8], value: Option<&[u8]>, flags: i32) -> Result {
        if is_placeholder(inode) {
            return Err(crate::rfs::errno::eopnotsupp());
        }
        crate::subvol::check_writable(inode)?;
        crate::xattr::set(inode, name, value, flags)
    }

    const POSIX_ACL: bool = true;

    fn posix_acl_option(opts: &MountOptions) -> Option<bool> {
        opts.acl
    }

    fn set_acl(inode: &INode<Self>, name: &[u8], value: Option<&[u8]>, mode: u16) -> Result {
        if is_placeholder(inode) {
            return Err(crate::rfs::errno::eopnotsupp());
        }
        crate::subvol::check_writable(inode)?;
        crate::acl::set(inode, name, value, mode)
    }

    fn statfs(sb: &SuperBlock<Self>) -> Result<StatFs> {
        crate::disk_io::statfs(sb)
    }

    const WRITABLE: bool = true;

    fn mounted(sb: &SuperBlock<Self>) -> Result {
        let fs = sb.data();
        if fs.writable() {
            crate::inode::orphan_cleanup(sb)?;
            sb.schedule_background_work(fs.commit_interval.saturating_mul(1000));
            // Deleted subvolumes left by the last mount: drop them now.
            crate::subvol::wake_cleaner(sb);
        }
        Ok(())
    }

    fn background_work(sb: &SuperBlock<Self>) {
        // The cleaner (C: `cleaner_kthread`): one step of dropping a
        // deleted subvolume, committed; the next right after.
        if crate::subvol::clean_step(sb) {
            sb.schedule_background_work(0);
            return;
        }
        // The periodic commit (C: `transaction_kthread`).
        if let Err(e) = crate::disk_io::commit(sb) {
            btrfs_err!(sb.id(), "periodic commit failed: error {}", e.to_errno());
            return;
        }
        sb.schedule_background_work(sb.data().commit_interval.saturating_mul(1000));
    }

    // In a placeholder, the VFS's answers for a directory without these
    // operations: EACCES for create, EPERM for the others.

    fn create(dir: &INode<Self>, dentry: NewDEntry<'_, Self>, mode: u16, _excl: bool) -> Result {
        if is_placeholder(dir) {
            return Err(EACCES);
        }
        crate::inode::create(dir, dentry, mode, 0, None)
    }

    fn mkdir(dir: &INode<Self>, dentry: NewDEntry<'_, Self>, mode: u16) -> Result {
        if is_placeholder(dir) {
            return Err(EPERM);
        }
        crate::inode::create(dir, dentry, mode, 0, None)
    }

    fn mknod(dir: &INode<Self>, dentry: NewDEntry<'_, Self>, mode: u16, rdev: u32) -> Result {
        if is_placeholder(dir) {
            return Err(EPERM);
        }
        crate::inode::create(dir, dentry, mode, rdev, None)
    }

    fn symlink(dir: &INode<Self>, dentry: NewDEntry<'_, Self>, mode: u16, target: &[u8]) -> Result {
        if is_placeholder(dir) {
            return Err(EPERM);
        }
        crate::inode::create(dir, dentry, mode, 0, Some(target))
    }

    fn link(inode: &INode<Self>, dir: &INode<Self>, dentry: NewDEntry<'_, Self>) -> Result {
        if is_placeholder(dir) {
            return Err(EPERM);
        }
        crate::inode::link(inode, dir, dentry)
    }

    fn unlink(dir: &INode<Self>, dentry: &DEntry<Self>) -> Result {
        crate::inode::unlink(dir, dentry)
    }

    fn rmdir(dir: &INode<Self>, dentry: &DEntry<Self>) -> Result {
        crate::inode::rmdir(dir, dentry)
    }

    fn rename(
        old_dir: &INode<Self>,
        old_dentry: &DEntry<Self>,
        new_dir: &INode<Self>,
        new_dentry: &DEntry<Self>,
        flags: RenameFlags,
    ) -> Result {
        crate::inode::rename(old_dir, old_dentry, new_dir, new_dentry, flags)
    }

    fn setattr(inode: &INode<Self>, attr: &SetAttr<'_, Self>) -> Result {
        if is_placeholder(inode) {
            // C's `simple_setattr`: the in-core inode only.
            attr.prepare()?;
            attr.copy();
            return Ok(());
        }
        crate::subvol::check_writable(inode)?;
        crate::file::setattr(inode, attr)
    }

    fn nr_cached_objects(sb: &SuperBlock<Self>) -> usize {
        crate::disk_io::cached_blocks(sb)
    }

    fn free_cached_objects(sb: &SuperBlock<Self>, nr: usize) -> usize {
        crate::disk_io::shrink_block_cache(sb, nr)
    }

    fn ioctl(file: &crate::rfs::ioctl::IoctlFile<'_, Self>, cmd: u32, arg: usize) -> Result<i32> {
        if is_placeholder(file.inode()) {
            return Err(ENOTTY);
        }
        crate::ioctl::ioctl(file, cmd, arg)
    }

    const SUBVOLUMES: bool = true;

    fn permission(inode: &INode<Self>, mask: i32) -> Result {
        crate::subvol::permission(inode, mask)
    }

    fn st_dev(inode: &INode<Self>) -> Option<u32> {
        crate::subvol::st_dev(inode)
    }

    const FILEATTR: bool = true;

    fn fileattr_get(inode: &INode<Self>) -> Result<u32> {
        if is_placeholder(inode) {
            return Err(ENOTTY);
        }
        crate::inode::fileattr_get(inode)
    }

    fn fileattr_set(inode: &INode<Self>, attr: &crate::rfs::inode::FileAttr) -> Result {
        if is_placeholder(inode) {
            return Err(ENOTTY);
        }
        crate::inode::fileattr_set(inode, attr)
    }

    fn fsync(inode: &INode<Self>, _start: i64, _end: i64, _datasync: bool) -> Result {
        crate::file::fsync(inode)
    }

    fn fallocate(inode: &INode<Self>, mode: i32, offset: i64, len: i64) -> Result {
        crate::file::fallocate(inode, mode, offset, len)
    }

    const REMAP: bool = true;

    const FIEMAP: bool = true;

    fn fiemap(inode: &INode<Self>, fiemap: &crate::rfs::fiemap::Fiemap, start: u64, len: u64) -> Result {
        crate::file::fiemap(inode, fiemap, start, len)
    }

    fn remap_prep(src: &INode<Self>, dst: &INode<Self>, _dedupe: bool) -> Result {
        crate::file::remap_prep(src, dst)
    }

    fn remap_file_range(src: &INode<Self>, dst: &INode<Self>, range: &crate::rfs::remap::RemapRange) -> Result {
        crate::file::remap(src, dst, range)
    }

    fn writepages(inode: &UnrefINode<Self>, wb: &Writeback<'_>) -> Result {
        crate::file::writepages(inode, wb)
    }

    fn reserve_data(inode: &INode<Self>, bytes: u64, flush: bool) -> Result {
        crate::disk_io::reserve_data(inode.super_block(), bytes, flush)
    }

    fn release_data(sb: &SuperBlock<Self>, bytes: u64) {
        crate::disk_io::release_data(sb, bytes)
    }

    fn write_inode(inode: &UnrefINode<Self>, _sync: bool) -> Result {
        crate::inode::write_inode(inode)
    }

    fn evict_inode(inode: &UnrefINode<Self>) {
        crate::inode::evict(inode)
    }

    fn sync_fs(sb: &SuperBlock<Self>, _wait: bool) -> Result {
        crate::disk_io::commit(sb)
    }

    fn put_super(sb: &SuperBlock<Self>) {
        if let Err(e) = crate::disk_io::commit(sb) {
            btrfs_err!(sb.id(), "final commit failed: error {}", e.to_errno());
        }
        crate::disk_io::check_space_leaks(sb);
    }
}

/// Registers filesystem type `btrfs`.
pub(crate) fn register(module: &'static ThisModule) -> Result<fs::Registration> {
    fs::Registration::new::<Btrfs>(&BTRFS_FS_TYPE, module)
}
