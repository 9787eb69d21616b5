// SPDX-License-Identifier: GPL-2.0

//! Sharing file ranges: `file_operations.remap_file_range`.
//!
//! C: `include/linux/fs.h` (`remap_file_range`, `REMAP_FILE_*`),
//! `fs/remap_range.c` (`generic_remap_file_range_prep`),
//! `fs/btrfs/reflink.c` (`btrfs_remap_file_range`, the model).
//!
//! The VFS reaches this hook for `FICLONE`, `FICLONERANGE` (the numbers of
//! `BTRFS_IOC_CLONE(_RANGE)`), `copy_file_range` between files of one
//! filesystem, and `FIDEDUPERANGE` (with `REMAP_FILE_DEDUP`), after it
//! checked the mount (`EXDEV`, `EROFS`), the open modes and the file types.
//! The abstraction then does what every filesystem does around its own
//! part, in the order C btrfs and XFS do it:
//!
//! 1. lock both inodes (`lock_two_nondirectories`, or the one inode) and
//!    both mappings' `invalidate_lock` (`filemap_invalidate_lock_two`),
//!    which keeps readahead and faults from refilling the page cache;
//! 2. [`FileSystem::remap_prep`]: the filesystem's own refusals;
//! 3. `generic_remap_file_range_prep`: immutable/swap files, alignment
//!    (a length may end unaligned only at the source's end), overlapping
//!    ranges of one file, permissions, size limits, shortening; it writes
//!    back and waits for both ranges and, for dedupe, compares them
//!    (no remap when they differ); it also updates the destination's
//!    mode (suid) and times as a write does;
//! 4. [`FileSystem::remap_file_range`] with the checked range;
//! 5. drops the destination range's page cache, which now shows new data.
//!
//! The call returns the length remapped.

use super::bindings;
use super::fs::FileSystem;
use super::inode::INode;
use kernel::error::{code::*, to_result, Result};
use kernel::ffi::c_uint;

/// `REMAP_FILE_DEDUP`: share only if the contents are equal.
const DEDUP: u32 = bindings::REMAP_FILE_DEDUP;
/// `REMAP_FILE_ADVISORY`: the caller accepts a shorter remap.
const ADVISORY: u32 = bindings::REMAP_FILE_ADVISORY;
/// `REMAP_FILE_CAN_SHORTEN`.
const CAN_SHORTEN: u32 = bindings::REMAP_FILE_CAN_SHORTEN;

/// One checked remap request, as [`FileSystem::remap_file_range`] gets it.
#[derive(Clone, Copy, Debug)]
pub struct RemapRange {
    /// Start in the source.
    pub src_off: u64,
    /// Start in the destination.
    pub dst_off: u64,
    /// Length, non-zero: block aligned unless the range ends at the
    /// source's end of file.
    pub len: u64,
    /// `FIDEDUPERANGE`: the VFS found both ranges equal.
    pub dedupe: bool,
}

/// Both inodes (or the one) locked, with their mappings' invalidate locks;
/// unlocked on drop.
struct Locked {
    src: *mut bindings::inode,
    dst: *mut bindings::inode,
    src_map: *mut bindings::address_space,
    dst_map: *mut bindings::address_space,
}

impl Locked {
    /// # Safety
    ///
    /// `src` and `dst` are live non-directory inodes (possibly the same)
    /// that stay live until the result is dropped, neither locked by the
    /// caller.
    unsafe fn new(src: *mut bindings::inode, dst: *mut bindings::inode) -> Self {
        // SAFETY: Per the contract; `lock_two_nondirectories` orders the
        // two locks by address and takes one lock for one inode.
        unsafe { bindings::lock_two_nondirectories(src, dst) };
        // SAFETY: Both inodes are live.
        let (src_map, dst_map) = unsafe { (bindings::rbtrfs_inode_mapping(src), bindings::rbtrfs_inode_mapping(dst)) };
        // SAFETY: The mappings of live inodes; the function orders the two
        // by address and takes one lock when they are the same. The order
        // inode lock → invalidate_lock is the VFS's (truncate takes them
        // so).
        unsafe { bindings::filemap_invalidate_lock_two(src_map, dst_map) };
        Locked { src, dst, src_map, dst_map }
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        // SAFETY: `new` took exactly these locks, on inodes still live.
        unsafe {
            bindings::filemap_invalidate_unlock_two(self.src_map, self.dst_map);
            bindings::unlock_two_nondirectories(self.src, self.dst);
        }
    }
}

/// `file_operations.remap_file_range` of regular files.
///
/// # Safety
///
/// Called by the VFS with two open files of one `T` filesystem.
pub(crate) unsafe extern "C" fn remap_file_range<T: FileSystem>(
    file_in: *mut bindings::file,
    pos_in: bindings::loff_t,
    file_out: *mut bindings::file,
    pos_out: bindings::loff_t,
    len: bindings::loff_t,
    remap_flags: c_uint,
) -> bindings::loff_t {
    // SAFETY: The VFS passes open files, each holding its inode.
    let (src_raw, dst_raw) = unsafe { (bindings::rbtrfs_file_inode(file_in), bindings::rbtrfs_file_inode(file_out)) };
    // SAFETY: As above: both inodes are ours (the VFS refused other
    // filesystems with EXDEV) and referenced by their files for the call.
    let (src, dst) = unsafe { (INode::<T>::from_raw(src_raw), INode::<T>::from_raw(dst_raw)) };
    let r = (|| -> Result<i64> {
        if remap_flags & !(DEDUP | ADVISORY | CAN_SHORTEN) != 0 {
            return Err(EINVAL);
        }
        // The VFS refused directories already (`generic_file_rw_checks`);
        // `lock_two_nondirectories` must never see one.
        if src.typ() != Some(super::inode::INodeType::Reg) || dst.typ() != Some(super::inode::INodeType::Reg) {
            return Err(EINVAL);
        }
        // SAFETY: Live regular-file inodes, held by the open files for the
        // whole call; the VFS holds neither lock here.
        let _locked = unsafe { Locked::new(src_raw, dst_raw) };
        let dedupe = remap_flags & DEDUP != 0;
        T::remap_prep(src, dst, dedupe)?;
        let mut len = len;
        // SAFETY: Open files of this filesystem, both inodes locked as the
        // function requires; `len` is a valid place for the answer.
        to_result(unsafe {
            bindings::generic_remap_file_range_prep(file_in, pos_in, file_out, pos_out, &mut len, remap_flags)
        })?;
        if len <= 0 {
            return Ok(0);
        }
        let range = RemapRange { src_off: pos_in as u64, dst_off: pos_out as u64, len: len as u64, dedupe };
        let res = T::remap_file_range(src, dst, &range);
        // Whatever was done, the destination's cached folios of the range
        // may be stale now.
        let page = kernel::page::PAGE_SIZE as u64;
        let start = range.dst_off / page * page;
        let end = (range.dst_off + range.len).div_ceil(page) * page - 1;
        // SAFETY: The mapping of a live inode, locked; the call locks the
        // folios it drops.
        unsafe { bindings::truncate_inode_pages_range(dst.mapping_raw(), start as i64, end as i64) };
        res?;
        Ok(len)
    })();
    match r {
        Ok(n) => n,
        Err(e) => e.to_errno() as bindings::loff_t,
    }
}
