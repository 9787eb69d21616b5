// SPDX-License-Identifier: GPL-2.0

//! Synchronous reads of a block device with bios.
//!
//! C: `include/linux/bio.h`. Reads go into freshly allocated pages, one bio
//! of up to [`MAX_PAGES`] pages at a time, waited for with
//! `submit_bio_wait`, then copied to the caller's buffer: tree blocks and
//! file data are read without going through the device's buffer cache.

use super::bindings;
use kernel::error::to_result;
use kernel::page::{Page, PAGE_SIZE};
use kernel::prelude::*;

/// Pages per bio.
const MAX_PAGES: usize = 64;

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
