// SPDX-License-Identifier: GPL-2.0

//! Folios of the page cache.
//!
//! C: `include/linux/pagemap.h`, `include/linux/highmem.h`. A
//! [`LockedFolio`] is a folio handed to `read_folio`: locked, not yet up to
//! date, exclusively the filesystem's to fill. The abstraction marks it up
//! to date (on success) and unlocks it when the callback returns.

use super::bindings;
use core::marker::PhantomData;
use kernel::prelude::*;

/// A locked folio being filled.
///
/// # Invariants
///
/// `folio` is locked by the caller of the running `read_folio`, which does
/// not touch its contents until we return.
pub struct LockedFolio<'a> {
    folio: *mut bindings::folio,
    _p: PhantomData<&'a mut ()>,
}

impl LockedFolio<'_> {
    /// # Safety
    ///
    /// `folio` is locked and exclusively ours for the returned lifetime.
    pub(crate) unsafe fn from_raw(folio: *mut bindings::folio) -> Self {
        // INVARIANT: per the safety contract.
        Self { folio, _p: PhantomData }
    }

    /// Byte offset of the folio in its file.
    pub fn pos(&self) -> u64 {
        // SAFETY: The folio is locked and in a mapping.
        unsafe { bindings::rbtrfs_folio_pos(self.folio) as u64 }
    }

    /// Size of the folio in bytes.
    pub fn size(&self) -> usize {
        // SAFETY: The folio is locked.
        unsafe { bindings::rbtrfs_folio_size(self.folio) }
    }

    /// Copies `data` into the folio at `offset`; `EINVAL` if it does not fit.
    pub fn write(&mut self, offset: usize, data: &[u8]) -> Result {
        if offset.checked_add(data.len()).map_or(true, |end| end > self.size()) {
            return Err(EINVAL);
        }
        // SAFETY: In bounds (checked above); the folio is ours to fill.
        unsafe { bindings::rbtrfs_memcpy_to_folio(self.folio, offset, data.as_ptr().cast(), data.len()) };
        Ok(())
    }

    /// Zeroes `len` bytes at `offset`; `EINVAL` if out of bounds.
    pub fn zero(&mut self, offset: usize, len: usize) -> Result {
        if offset.checked_add(len).map_or(true, |end| end > self.size()) {
            return Err(EINVAL);
        }
        // SAFETY: In bounds (checked above); the folio is ours to fill.
        unsafe { bindings::rbtrfs_folio_zero_range(self.folio, offset, len) };
        Ok(())
    }
}
