// SPDX-License-Identifier: GPL-2.0

//! The filesystem type and the mount entry (C: `fs/btrfs/super.c`).

#![forbid(unsafe_code)]

use crate::disk_io::FsInfo;
use crate::inode::BtrfsInode;
use crate::rfs::folio::LockedFolio;
use crate::rfs::fs::{self, FileSystem, NewSuperBlock, StatFs, SuperBlock};
use crate::rfs::inode::{DirEmitter, INode};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::ARef;

/// `BTRFS_SUPER_MAGIC` from `include/uapi/linux/magic.h`, as `statfs` reports it.
pub(crate) const BTRFS_SUPER_MAGIC: u64 = 0x9123_683E;

/// What this build supports, for the load message.
pub(crate) const FEATURES: &str = "read-only mount of single-device SINGLE/DUP filesystems";

/// The one `struct file_system_type` of the module (static: lockdep keys).
static BTRFS_FS_TYPE: fs::Type = fs::Type::new();

/// The `btrfs` filesystem type.
pub(crate) struct Btrfs;

impl FileSystem for Btrfs {
    const NAME: &'static CStr = kernel::c_str!("btrfs");
    const MAGIC: u64 = BTRFS_SUPER_MAGIC;
    type Data = FsInfo;
    type INodeData = BtrfsInode;

    fn fill_super(sb: &NewSuperBlock<'_>) -> Result<KBox<FsInfo>> {
        crate::disk_io::open_ctree(sb)
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

    fn get_xattr(inode: &INode<Self>, name: &[u8], buf: Option<&mut [u8]>) -> Result<usize> {
        crate::xattr::get(inode, name, buf)
    }

    fn list_xattr(inode: &INode<Self>, buf: Option<&mut [u8]>) -> Result<usize> {
        crate::xattr::list(inode, buf)
    }

    fn statfs(sb: &SuperBlock<Self>) -> Result<StatFs> {
        crate::disk_io::statfs(sb)
    }
}

/// Registers filesystem type `btrfs`.
pub(crate) fn register(module: &'static ThisModule) -> Result<fs::Registration> {
    fs::Registration::new::<Btrfs>(&BTRFS_FS_TYPE, module)
}
