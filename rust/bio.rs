// SPDX-License-Identifier: GPL-2.0

//! Synchronous reads and writes of a block device with bios.
//!
//! C: `include/linux/bio.h`, `include/linux/blkdev.h`. Reads go into freshly
//! allocated pages, one bio of up to [`MAX_PAGES`] pages at a time, waited
//! for with `submit_bio_wait`, then copied to the caller's buffer: tree
//! blocks and file data are read without going through the device's buffer
//! cache. Writes copy the caller's bytes into fresh pages the same way and
//! wait for each bio (`REQ_OP_WRITE | REQ_SYNC`, optionally `REQ_FUA`);
//! [`flush`] empties the device's volatile write cache
//! (`blkdev_issue_flush`).
//!
//! Bio writes bypass the device's buffer cache just like bio reads, so a
//! range written here must not also be read through `sb_bread` (the cached
//! block would be stale).

use super::bindings;
use super::nofs::NoFsScope;
use kernel::error::to_result;
use kernel::page::{Page, PAGE_SIZE};
use kernel::prelude::*;

/// Pages per bio (`BIO_MAX_VECS`): 1 MiB.
const MAX_PAGES: usize = 256;

/// Reads `buf.len()` bytes at byte `offset` of `bdev`. Both must be
/// multiples of 512 (`EINVAL` otherwise); a failed read is `EIO`.
///
/// # Safety
///
/// `bdev` is an open block device for the duration of the call.
pub(crate) unsafe fn read_at(bdev: *mut bindings::block_device, offset: u64, buf: &mut [u8]) -> Result {
    if offset % 512 != 0 || buf.len() % 512 != 0 {
        return Err(EINVAL);
    }
    let mut done = 0usize;
    while done < buf.len() {
        let chunk = (buf.len() - done).min(MAX_PAGES * PAGE_SIZE);
        let npages = chunk.div_ceil(PAGE_SIZE);
        let mut pages = KVec::with_capacity(npages, GFP_KERNEL)?;
        for _ in 0..npages {
            pages.push(Page::alloc_page(GFP_KERNEL)?, GFP_KERNEL)?;
        }
        // SAFETY: `bdev` is open (safety contract); `bio_alloc` with
        // GFP_NOFS may sleep and does not fail for a small vector count, but
        // we check anyway.
        let bio = unsafe { bindings::rbtrfs_bio_alloc_read(bdev, npages as u16) };
        if bio.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: We own `bio` until `bio_put`; each page is ours and stays
        // alive until after the bio completes; lengths fit a page.
        let ret = unsafe {
            bindings::rbtrfs_bio_set_sector(bio, (offset + done as u64) >> 9);
            let mut ok = true;
            for (i, page) in pages.iter().enumerate() {
                let len = (chunk - i * PAGE_SIZE).min(PAGE_SIZE) as u32;
                if bindings::bio_add_page(bio, page.as_ptr().cast(), len, 0) != len as i32 {
                    ok = false;
                    break;
                }
            }
            let ret = if ok { bindings::submit_bio_wait(bio) } else { -(bindings::EIO as i32) };
            bindings::bio_put(bio);
            ret
        };
        to_result(ret).map_err(|_| EIO)?;
        for (i, page) in pages.iter().enumerate() {
            let len = (chunk - i * PAGE_SIZE).min(PAGE_SIZE);
            let dst = &mut buf[done + i * PAGE_SIZE..done + i * PAGE_SIZE + len];
            // SAFETY: `dst` is valid for `len` writes and does not overlap
            // the page.
            unsafe { page.read_raw(dst.as_mut_ptr(), 0, len)? };
        }
        done += chunk;
    }
    Ok(())
}

/// Writes `data` at byte `offset` of `bdev` and waits for it. Both must be
/// multiples of 512 (`EINVAL` otherwise); `EROFS` if the device is
/// read-only; a failed write is `EIO`. With `fua` each bio is also
/// `REQ_FUA`: it is on stable storage when this returns (btrfs writes its
/// superblocks so, after a [`flush`]).
///
/// The bounce pages are allocated in a `GFP_NOFS` scope: this is called
/// from writeback and transaction commit.
///
/// # Safety
///
/// `bdev` is an open block device for the duration of the call.
pub(crate) unsafe fn write_at(bdev: *mut bindings::block_device, offset: u64, data: &[u8], fua: bool) -> Result {
    if offset % 512 != 0 || data.len() % 512 != 0 {
        return Err(EINVAL);
    }
    // SAFETY: `bdev` is open (safety contract).
    if unsafe { bindings::rbtrfs_bdev_read_only(bdev) } != 0 {
        return Err(EROFS);
    }
    let _nofs = NoFsScope::enter();
    let mut done = 0usize;
    while done < data.len() {
        let chunk = (data.len() - done).min(MAX_PAGES * PAGE_SIZE);
        let npages = chunk.div_ceil(PAGE_SIZE);
        let mut pages = KVec::with_capacity(npages, GFP_KERNEL)?;
        for i in 0..npages {
            let page = Page::alloc_page(GFP_KERNEL)?;
            let start = done + i * PAGE_SIZE;
            let len = (chunk - i * PAGE_SIZE).min(PAGE_SIZE);
            let src = data.get(start..start + len).ok_or(EINVAL)?;
            // SAFETY: `src` is valid for `len` reads and does not overlap
            // the new page; `len` fits a page.
            unsafe { page.write_raw(src.as_ptr(), 0, len)? };
            pages.push(page, GFP_KERNEL)?;
        }
        // SAFETY: `bdev` is open (safety contract).
        let bio = unsafe { bindings::rbtrfs_bio_alloc_write(bdev, npages as u16, fua) };
        if bio.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: We own `bio` until `bio_put`; each page is ours and stays
        // alive until after the bio completes; lengths fit a page.
        let ret = unsafe {
            bindings::rbtrfs_bio_set_sector(bio, (offset + done as u64) >> 9);
            let mut ok = true;
            for (i, page) in pages.iter().enumerate() {
                let len = (chunk - i * PAGE_SIZE).min(PAGE_SIZE) as u32;
                if bindings::bio_add_page(bio, page.as_ptr().cast(), len, 0) != len as i32 {
                    ok = false;
                    break;
                }
            }
            let ret = if ok { bindings::submit_bio_wait(bio) } else { -(bindings::EIO as i32) };
            bindings::bio_put(bio);
            ret
        };
        to_result(ret).map_err(|_| EIO)?;
        done += chunk;
    }
    Ok(())
}

/// Flushes the device's volatile write cache (`blkdev_issue_flush`): every
/// write completed before the call is on stable storage when it returns.
///
/// # Safety
///
/// `bdev` is an open block device for the duration of the call.
pub(crate) unsafe fn flush(bdev: *mut bindings::block_device) -> Result {
    // SAFETY: `bdev` is open (safety contract); the call sleeps until the
    // flush completes.
    to_result(unsafe { bindings::blkdev_issue_flush(bdev) }).map_err(|_| EIO)
}
