// SPDX-License-Identifier: GPL-2.0

//! Reads of a filesystem's block device through buffer heads.
//!
//! C: `include/linux/buffer_head.h`. `sb_bread` returns a referenced,
//! up-to-date `buffer_head` whose data is one block of the device page
//! cache; `brelse` drops the reference. [`BufferHead`] owns that reference
//! and releases it on drop.

use super::bindings;
use core::ptr::NonNull;

/// One block of the device, read and referenced.
///
/// # Invariants
///
/// `ptr` points to a `buffer_head` on which this object owns one reference,
/// and which is up to date, so `b_data[..b_size]` is initialised and stays
/// mapped while the reference is held.
pub struct BufferHead {
    ptr: NonNull<bindings::buffer_head>,
}

// SAFETY: A referenced buffer head may be used and released from any thread.
unsafe impl Send for BufferHead {}
// SAFETY: `BufferHead` only gives out shared access to the data.
unsafe impl Sync for BufferHead {}

impl BufferHead {
    /// Takes ownership of a reference returned by `sb_bread`; `None` if the
    /// read failed.
    ///
    /// # Safety
    ///
    /// `ptr` is null or a referenced, up-to-date buffer head whose reference
    /// the caller transfers.
    pub(crate) unsafe fn from_raw(ptr: *mut bindings::buffer_head) -> Option<Self> {
        // INVARIANT: The caller transfers a reference to an up-to-date buffer.
        NonNull::new(ptr).map(|ptr| Self { ptr })
    }

    /// The block's bytes.
    pub fn data(&self) -> &[u8] {
        // SAFETY: By the type invariants the buffer is up to date and
        // referenced, so `b_data` points to `b_size` initialised bytes that
        // stay valid for the lifetime of `&self`.
        unsafe {
            let bh = self.ptr.as_ptr();
            core::slice::from_raw_parts((*bh).b_data.cast::<u8>(), (*bh).b_size)
        }
    }
}

impl Drop for BufferHead {
    fn drop(&mut self) {
        // SAFETY: By the type invariants we own one reference.
        unsafe { bindings::rbtrfs_brelse(self.ptr.as_ptr()) };
    }
}
