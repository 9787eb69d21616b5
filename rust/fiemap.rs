// SPDX-License-Identifier: GPL-2.0

//! `FS_IOC_FIEMAP`: `inode_operations.fiemap`.
//!
//! C: `include/linux/fiemap.h`, `fs/ioctl.c` (`fiemap_prep`,
//! `fiemap_fill_next_extent`). The VFS copies the request in; the
//! abstraction checks its flags and range (`fiemap_prep`, which also
//! writes the file back for `FIEMAP_FLAG_SYNC`) and hands the filesystem a
//! [`Fiemap`] to fill record by record. Filling copies to user memory,
//! which may fault in a folio of this very filesystem: never fill while
//! holding a lock `read_folio` takes.

use super::bindings;
use super::fs::FileSystem;
use super::inode::INode;
use kernel::error::{from_result, to_result, Result};
use kernel::ffi::c_int;

/// The user's FIEMAP request being answered.
///
/// # Invariants
///
/// `info` is the VFS's `fiemap_extent_info` of the running call.
pub struct Fiemap {
    info: *mut bindings::fiemap_extent_info,
}

impl Fiemap {
    /// Adds a record (`fiemap_extent_info`'s next `fiemap_extent`).
    /// Returns `true` when the caller should stop: the user's array is
    /// full or the record had `FIEMAP_EXTENT_LAST`. `EFAULT` on a bad user
    /// buffer.
    pub fn fill(&self, logical: u64, physical: u64, len: u64, flags: u32) -> Result<bool> {
        // SAFETY: `info` is the running call's (invariant); the function
        // copies to the user's buffer with the usual user-access checks.
        let r = unsafe { bindings::fiemap_fill_next_extent(self.info, logical, physical, len, flags) };
        to_result(r)?;
        Ok(r == 1)
    }
}

/// `inode_operations.fiemap`.
///
/// # Safety
///
/// Called by the VFS with a live inode of ours and its request.
pub(crate) unsafe extern "C" fn fiemap<T: FileSystem>(
    inode: *mut bindings::inode,
    info: *mut bindings::fiemap_extent_info,
    start: u64,
    len: u64,
) -> c_int {
    from_result(|| {
        let mut len = len;
        // SAFETY: The VFS's inode and request, live for the call.
        to_result(unsafe { bindings::fiemap_prep(inode, info, start, &mut len, bindings::FIEMAP_FLAG_SYNC) })?;
        // SAFETY: The VFS holds a reference on the inode (an open file's)
        // for the call.
        let inode = unsafe { INode::<T>::from_raw(inode) };
        // INVARIANT: the running call's request.
        T::fiemap(inode, &Fiemap { info }, start, len)?;
        Ok(0)
    })
}
