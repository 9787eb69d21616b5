// SPDX-License-Identifier: GPL-2.0

//! The filesystem type and the mount entry (C: `fs/btrfs/super.c`).

#![forbid(unsafe_code)]

use crate::disk_io::FsInfo;
use crate::inode::BtrfsInode;
use crate::rfs::folio::LockedFolio;
use crate::rfs::fs::{self, BlockDevice, FileSystem, NewSuperBlock, StatFs, SuperBlock};
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

/// Mount options (C: `btrfs_parse_param`). Options that only change how
/// btrfs writes are accepted and have no effect on a read-only mount.
#[derive(Default)]
pub(crate) struct MountOptions {
    /// `subvolid=N`: the subvolume to mount (0: the default one).
    pub(crate) subvolid: Option<u64>,
    /// `subvol=/`: the top-level subvolume.
    pub(crate) subvol_root: bool,
}

/// Options C btrfs takes that matter only for writing (or for devices we
/// do not support anyway): accepted, ignored.
const WRITE_ONLY_OPTIONS: &[&[u8]] = &[
    b"acl", b"noacl", b"autodefrag", b"noautodefrag", b"barrier", b"nobarrier", b"clear_cache",
    b"commit", b"compress", b"compress-force", b"datacow", b"nodatacow", b"datasum", b"nodatasum",
    b"device", b"discard", b"nodiscard", b"enospc_debug", b"noenospc_debug", b"fatal_errors",
    b"flushoncommit", b"noflushoncommit", b"max_inline", b"metadata_ratio", b"nologreplay",
    b"norecovery", b"rescan_uuid_tree", b"skip_balance", b"space_cache", b"nospace_cache",
    b"ssd", b"nossd", b"ssd_spread", b"nossd_spread", b"thread_pool", b"treelog", b"notreelog",
    b"user_subvol_rm_allowed", b"usebackuproot",
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
            (b"subvol", Some(b"/" | b"")) => opts.subvol_root = true,
            (b"subvol", Some(_)) => {
                btrfs_err_nodev!("subvol={}: only subvol=/ is supported by rbtrfs, use subvolid=",
                    value.unwrap_or(kernel::c_str!("")));
                return Err(EINVAL);
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
        if !read_only {
            btrfs_err!(sb.id(), "rbtrfs can only mount read-only for now; use -o ro");
            return Err(EROFS);
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
