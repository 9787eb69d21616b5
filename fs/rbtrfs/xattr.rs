// SPDX-License-Identifier: GPL-2.0

//! Extended attributes (C: `fs/btrfs/xattr.c`).

#![forbid(unsafe_code)]

use crate::rfs::errno;
use crate::rfs::inode::INode;
use crate::super_::Btrfs;
use kernel::prelude::*;

/// Reads attribute `name`.
pub(crate) fn get(_inode: &INode<Btrfs>, _name: &[u8], _buf: Option<&mut [u8]>) -> Result<usize> {
    Err(errno::enodata())
}

/// Lists attribute names.
pub(crate) fn list(_inode: &INode<Btrfs>, _buf: Option<&mut [u8]>) -> Result<usize> {
    Ok(0)
}
