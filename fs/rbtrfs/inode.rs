// SPDX-License-Identifier: GPL-2.0

//! Inodes and directories (C: `fs/btrfs/inode.c`).

#![forbid(unsafe_code)]

use crate::rfs::errno;
use crate::rfs::fs::SuperBlock;
use crate::rfs::inode::{DirEmitter, INode};
use crate::super_::Btrfs;
use kernel::prelude::*;
use kernel::types::ARef;

/// The in-memory btrfs inode (C: `struct btrfs_inode`).
#[allow(dead_code)] // Filled in by the read path.
pub(crate) struct BtrfsInode {
    /// The subvolume root the inode lives in.
    pub(crate) root: u64,
}

/// The root directory of the mounted subvolume.
pub(crate) fn root(_sb: &SuperBlock<Btrfs>) -> Result<ARef<INode<Btrfs>>> {
    Err(errno::eopnotsupp())
}

/// Looks `name` up in `dir`.
pub(crate) fn lookup(_dir: &INode<Btrfs>, _name: &[u8]) -> Result<Option<ARef<INode<Btrfs>>>> {
    Err(errno::eopnotsupp())
}

/// readdir.
pub(crate) fn read_dir(_dir: &INode<Btrfs>, _emitter: &mut DirEmitter<'_>) -> Result {
    Err(errno::eopnotsupp())
}
