// SPDX-License-Identifier: GPL-2.0

//! POSIX ACLs (C: `fs/btrfs/acl.c`).
//!
//! An ACL is the attribute `system.posix_acl_access` (or, for a
//! directory's default ACL, `system.posix_acl_default`) in the VFS's xattr
//! format, stored as an XATTR_ITEM like any other attribute. The VFS side
//! (reading and converting them, `posix_acl_update_mode`, the ACL cache)
//! is in `rust/acl.rs`; reading goes through [`crate::xattr::get`]. What is
//! left here is writing one together with the mode it implies. New inodes
//! get theirs in [`crate::inode::create`], in the transaction that creates
//! them; `chmod` updates the access ACL in [`crate::file::setattr`].

#![forbid(unsafe_code)]

use crate::disk_io::with_trans;
use crate::inode::disk_time;
use crate::inode_ops;
use crate::rfs::inode::INode;
use crate::super_::Btrfs;
use kernel::prelude::*;

/// Sets ACL attribute `name` of `inode` to `value` (or removes it) and
/// writes the inode's `mode` (already in the in-core inode) and a new
/// change time, in one transaction.
pub(crate) fn set(inode: &INode<Btrfs>, name: &[u8], value: Option<&[u8]>, mode: u16) -> Result {
    let sb = inode.super_block();
    let root = inode.data().root;
    let now = inode.current_time();
    with_trans(sb, |t| {
        t.reserve_metadata()?;
        inode_ops::set_acl(t, root, inode.ino(), name, value, u32::from(mode), disk_time(now))?;
        inode.set_ctime(now);
        Ok(())
    })
}
