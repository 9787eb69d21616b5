// SPDX-License-Identifier: GPL-2.0

//! The filesystem type and the mount entry (C: `fs/btrfs/super.c`).

#![forbid(unsafe_code)]

use crate::rfs::fs::{self, FileSystem, NewSuperBlock};
use kernel::prelude::*;
use kernel::str::CStr;

/// `BTRFS_SUPER_MAGIC` from `include/uapi/linux/magic.h`, as `statfs` reports it.
pub(crate) const BTRFS_SUPER_MAGIC: u64 = 0x9123_683E;

/// What this build supports, for the load message.
pub(crate) const FEATURES: &str = "superblock validation (mount of the trees pending)";

/// The one `struct file_system_type` of the module (static: lockdep keys).
static BTRFS_FS_TYPE: fs::Type = fs::Type::new();

/// The `btrfs` filesystem type.
pub(crate) struct Btrfs;

impl FileSystem for Btrfs {
    const NAME: &'static CStr = kernel::c_str!("btrfs");
    const MAGIC: u64 = BTRFS_SUPER_MAGIC;

    fn fill_super(sb: &NewSuperBlock<'_>) -> Result {
        crate::disk_io::open_ctree(sb)
    }
}

/// Registers filesystem type `btrfs`.
pub(crate) fn register(module: &'static ThisModule) -> Result<fs::Registration> {
    fs::Registration::new::<Btrfs>(&BTRFS_FS_TYPE, module)
}
