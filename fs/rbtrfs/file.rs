// SPDX-License-Identifier: GPL-2.0

//! File data (C: `fs/btrfs/file.c`, `extent_io.c`).

#![forbid(unsafe_code)]

use crate::rfs::errno;
use crate::rfs::folio::LockedFolio;
use crate::rfs::inode::INode;
use crate::super_::Btrfs;
use kernel::prelude::*;

/// Fills a folio of a regular file or symlink.
pub(crate) fn read_folio(_inode: &INode<Btrfs>, _folio: &mut LockedFolio<'_>) -> Result {
    Err(errno::eopnotsupp())
}
