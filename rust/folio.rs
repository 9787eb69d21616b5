// SPDX-License-Identifier: GPL-2.0

//! Folios of the page cache.
//!
//! C: `include/linux/pagemap.h`, `include/linux/highmem.h`,
//! `include/linux/writeback.h`. A [`LockedFolio`] is a folio handed to
//! `read_folio`: locked, not yet up to date, exclusively the filesystem's
//! to fill. The abstraction marks it up to date (on success) and unlocks it
//! when the callback returns.
//!
//! Writeback: [`Writeback`] iterates over the dirty folios of a mapping
//! that a `writepages` call should write (`writeback_iter`). Each
//! [`WritebackFolio`] it yields is locked, its dirty bit cleared for I/O and
//! writeback started; its bytes are stable while it lives (a writer must
//! lock the folio to change it). The filesystem writes them to disk and
//! ends each with [`WritebackFolio::end`] (`folio_end_writeback`, unlock),
//! or gives up on one with [`WritebackFolio::redirty`].
//!
//! # Examples
//!
//! ```ignore
//! fn writepages(inode: &UnrefINode<Self>, wb: &Writeback<'_>) -> Result {
//!     while let Some(folio) = wb.next() {
//!         let r = write_folio(inode, folio.pos(), folio.bytes());
//!         folio.end(r);
//!     }
//!     Ok(())
//! }
//! ```

use super::bindings;
use core::cell::Cell;
use core::marker::PhantomData;
use kernel::ffi::c_int;
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

/// Most folios in one [`ReadaheadBatch`]: 1 MiB of 4 KiB folios.
pub const READAHEAD_BATCH: usize = 256;

/// Consecutive locked folios of one readahead window, filled together.
///
/// C: the folios `readahead_folio` hands out of a `readahead_control`.
/// They cover `[pos, pos + len)` of the file without gaps, so the
/// filesystem can fill them from one large read per extent instead of one
/// small read per folio. The abstraction marks every folio up to date if
/// the fill succeeds and unlocks them all in any case; a folio left not up
/// to date is read again by `read_folio`, which then reports the error.
///
/// # Invariants
///
/// Every pointer is a folio locked by the running readahead and
/// exclusively ours to fill; they are consecutive in the file, in order.
pub struct ReadaheadBatch<'a> {
    folios: KVec<*mut bindings::folio>,
    _p: PhantomData<&'a mut ()>,
}

impl ReadaheadBatch<'_> {
    /// An empty batch.
    pub(crate) fn new() -> Result<Self> {
        Ok(Self { folios: KVec::with_capacity(READAHEAD_BATCH, GFP_KERNEL)?, _p: PhantomData })
    }

    /// Adds the next folio of the window; gives it back if the batch is
    /// full or it does not follow the last one.
    ///
    /// # Safety
    ///
    /// `folio` is locked by the running readahead and exclusively ours to
    /// fill until the batch is finished.
    pub(crate) unsafe fn push(&mut self, folio: *mut bindings::folio) -> core::result::Result<(), *mut bindings::folio> {
        if self.folios.len() >= READAHEAD_BATCH {
            return Err(folio);
        }
        if let Some(&last) = self.folios.last() {
            // SAFETY: Both are locked folios of the mapping (invariant and
            // safety contract).
            let follows = unsafe {
                bindings::rbtrfs_folio_pos(last) + bindings::rbtrfs_folio_size(last) as i64
                    == bindings::rbtrfs_folio_pos(folio)
            };
            if !follows {
                return Err(folio);
            }
        }
        // INVARIANT: per the safety contract; consecutive (checked).
        self.folios.push(folio, GFP_KERNEL).map_err(|_| folio)
    }

    /// Whether the batch holds no folio.
    pub fn is_empty(&self) -> bool {
        self.folios.is_empty()
    }

    /// Byte offset of the first folio in its file.
    pub fn pos(&self) -> u64 {
        match self.folios.first() {
            // SAFETY: The folio is locked and in a mapping (invariant).
            Some(&f) => unsafe { bindings::rbtrfs_folio_pos(f) as u64 },
            None => 0,
        }
    }

    /// Bytes covered by the batch.
    pub fn len(&self) -> usize {
        // SAFETY: Each folio is locked (invariant).
        self.folios.iter().map(|&f| unsafe { bindings::rbtrfs_folio_size(f) }).sum()
    }

    /// The folio holding byte `offset` of the batch, and where in it.
    fn locate(&self, mut offset: usize) -> Option<(usize, usize)> {
        for (i, &f) in self.folios.iter().enumerate() {
            // SAFETY: The folio is locked (invariant).
            let size = unsafe { bindings::rbtrfs_folio_size(f) };
            if offset < size {
                return Some((i, offset));
            }
            offset -= size;
        }
        None
    }

    /// Copies `data` into the batch at byte `offset` (across folios);
    /// `EINVAL` if it does not fit.
    pub fn write(&mut self, offset: usize, data: &[u8]) -> Result {
        self.each_piece(offset, data.len(), |f, at, done, n| {
            // SAFETY: `at + n` is within the folio (each_piece); the folio
            // is ours to fill (invariant); `done + n <= data.len()`.
            unsafe { bindings::rbtrfs_memcpy_to_folio(f, at, data[done..].as_ptr().cast(), n) }
        })
    }

    /// Zeroes `len` bytes at byte `offset` of the batch; `EINVAL` if out of
    /// bounds.
    pub fn zero(&mut self, offset: usize, len: usize) -> Result {
        self.each_piece(offset, len, |f, at, _, n| {
            // SAFETY: `at + n` is within the folio (each_piece); the folio
            // is ours to fill (invariant).
            unsafe { bindings::rbtrfs_folio_zero_range(f, at, n) }
        })
    }

    /// Calls `f(folio, offset in folio, bytes done, bytes)` for each
    /// folio's share of `[offset, offset + len)`.
    fn each_piece(&self, offset: usize, len: usize, mut f: impl FnMut(*mut bindings::folio, usize, usize, usize)) -> Result {
        if offset.checked_add(len).map_or(true, |end| end > self.len()) {
            return Err(EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let (mut i, mut at) = self.locate(offset).ok_or(EINVAL)?;
        let mut done = 0;
        while done < len {
            let folio = *self.folios.get(i).ok_or(EINVAL)?;
            // SAFETY: The folio is locked (invariant).
            let size = unsafe { bindings::rbtrfs_folio_size(folio) };
            let n = (size - at).min(len - done);
            f(folio, at, done, n);
            done += n;
            i += 1;
            at = 0;
        }
        Ok(())
    }

    /// Each folio as a [`LockedFolio`], for filling them one by one.
    pub fn for_each_folio(&mut self, mut f: impl FnMut(&mut LockedFolio<'_>) -> Result) -> Result {
        for &folio in self.folios.iter() {
            // SAFETY: Locked and ours to fill (invariant), for the length
            // of the call.
            f(&mut unsafe { LockedFolio::from_raw(folio) })?;
        }
        Ok(())
    }

    /// Marks every folio up to date if `ok`, and unlocks them all.
    pub(crate) fn finish(&mut self, ok: bool) {
        let folios = core::mem::replace(&mut self.folios, KVec::new());
        for &folio in folios.iter() {
            // SAFETY: Locked by us (invariant); after the unlock we never
            // touch it again (the batch no longer holds it).
            unsafe {
                if ok {
                    bindings::rbtrfs_folio_mark_uptodate(folio);
                }
                bindings::folio_unlock(folio);
            }
        }
    }
}

impl Drop for ReadaheadBatch<'_> {
    fn drop(&mut self) {
        // Never leave a folio locked.
        self.finish(false);
    }
}

/// The dirty folios a `writepages` call writes, in ascending order
/// (`writeback_iter`).
///
/// [`Writeback::next`] must be called until it returns `None` unless the
/// filesystem fails the whole call (returns an error): folios left over are
/// then redirtied, not written. Several [`WritebackFolio`]s may be held at
/// once, e.g. to write a contiguous range in one extent.
///
/// # Invariants
///
/// `mapping` and `wbc` are the arguments of the running `writepages`.
/// `prev` is null before the first `writeback_iter` call and after the
/// iteration ended (`done`), else the folio it returned last.
pub struct Writeback<'a> {
    mapping: *mut bindings::address_space,
    wbc: *mut bindings::writeback_control,
    drop_reservation: unsafe fn(*mut bindings::folio),
    prev: Cell<*mut bindings::folio>,
    done: Cell<bool>,
    err: Cell<c_int>,
    _p: PhantomData<&'a ()>,
}

impl Writeback<'_> {
    /// # Safety
    ///
    /// `mapping` and `wbc` are the arguments of a running `writepages`, for
    /// the returned lifetime. `drop_reservation` may be called on a locked
    /// folio of the mapping: it gives back the data space reservation the
    /// folio holds, if any (called when a folio leaves writeback clean).
    pub(crate) unsafe fn new(
        mapping: *mut bindings::address_space,
        wbc: *mut bindings::writeback_control,
        drop_reservation: unsafe fn(*mut bindings::folio),
    ) -> Self {
        // INVARIANT: nothing iterated yet.
        Self {
            mapping,
            wbc,
            drop_reservation,
            prev: Cell::new(core::ptr::null_mut()),
            done: Cell::new(false),
            err: Cell::new(0),
            _p: PhantomData,
        }
    }

    /// Data-integrity writeback (`WB_SYNC_ALL`: `fsync`, `sync`): every
    /// dirty folio of the range must be written. Otherwise background
    /// writeback, which stops at the first error.
    pub fn is_sync(&self) -> bool {
        // SAFETY: `wbc` is valid (type invariants).
        unsafe { bindings::rbtrfs_wbc_sync_all(self.wbc) }
    }

    /// The byte range asked for, inclusive (`0..=i64::MAX` for cyclic
    /// background writeback).
    pub fn range(&self) -> (i64, i64) {
        let (mut start, mut end) = (0, 0);
        // SAFETY: `wbc` is valid (type invariants); the outputs are valid
        // for writes.
        unsafe { bindings::rbtrfs_wbc_range(self.wbc, &mut start, &mut end) };
        (start, end)
    }

    /// One `writeback_iter` step: the next folio, locked with its dirty bit
    /// cleared, or null at the end.
    fn step(&self) -> *mut bindings::folio {
        if self.done.get() {
            return core::ptr::null_mut();
        }
        let mut err = self.err.get();
        // SAFETY: Arguments of the running `writepages`; `prev` is null or
        // the folio the previous call returned, which the batch in `wbc`
        // still references (type invariants).
        let folio = unsafe { bindings::writeback_iter(self.mapping, self.wbc, self.prev.get(), &mut err) };
        if folio.is_null() {
            // INVARIANT: the iteration ended.
            self.done.set(true);
            if err != 0 && self.err.get() == 0 {
                self.err.set(err);
            }
        }
        self.prev.set(folio);
        folio
    }

    /// The next folio to write: locked, writeback started. `None` once the
    /// range is done or (background writeback) after an error.
    pub fn next(&self) -> Option<WritebackFolio<'_>> {
        let folio = self.step();
        if folio.is_null() {
            return None;
        }
        // SAFETY: `writeback_iter` returned the folio locked with its dirty
        // bit cleared and not under writeback; we take our own reference
        // for the `WritebackFolio`.
        unsafe {
            bindings::rbtrfs_folio_start_writeback(folio);
            bindings::rbtrfs_folio_get(folio);
        }
        // INVARIANT: locked, under writeback, referenced.
        Some(WritebackFolio { folio, wb: self })
    }

    fn fail(&self, e: Error) {
        if self.err.get() == 0 {
            self.err.set(e.to_errno());
        }
    }

    /// Ends the iteration after the filesystem's `writepages` returned `r`:
    /// redirties folios it did not get to and returns the C result.
    pub(crate) fn finish(self, r: Result) -> c_int {
        let mut left = false;
        if let Err(e) = r {
            self.fail(e);
        }
        loop {
            let folio = self.step();
            if folio.is_null() {
                break;
            }
            left = true;
            // SAFETY: A locked folio from `writeback_iter`, whose dirty bit
            // it cleared: set it again and unlock it, unwritten.
            unsafe {
                bindings::folio_redirty_for_writepage(self.wbc, folio);
                bindings::folio_unlock(folio);
            }
        }
        match r {
            Err(e) => e.to_errno(),
            // Folios of a data-integrity writeback left unwritten without
            // an error: `fsync` must not report success.
            Ok(()) if left && self.is_sync() && self.err.get() == 0 => EIO.to_errno(),
            Ok(()) => self.err.get(),
        }
    }
}

/// A folio being written back: locked, dirty bit cleared, writeback
/// started. Its bytes do not change while this lives. End it with
/// [`WritebackFolio::end`] once its data is on disk (or failed to get
/// there); dropped without that it is [redirtied](WritebackFolio::redirty).
///
/// # Invariants
///
/// `folio` is locked by us, under writeback, and we own a reference on it;
/// it belongs to the mapping of `wb`.
pub struct WritebackFolio<'a> {
    folio: *mut bindings::folio,
    wb: &'a Writeback<'a>,
}

impl WritebackFolio<'_> {
    /// Byte offset of the folio in its file.
    pub fn pos(&self) -> i64 {
        // SAFETY: The folio is locked in its mapping (type invariants).
        unsafe { bindings::rbtrfs_folio_pos(self.folio) }
    }

    /// Size of the folio in bytes (bytes beyond the end of the file are
    /// garbage, e.g. from a shared mapping, and must not be written as
    /// data).
    pub fn size(&self) -> usize {
        // SAFETY: The folio is locked (type invariants).
        unsafe { bindings::rbtrfs_folio_size(self.folio) }
    }

    /// The folio's bytes, when it is mapped in the kernel (always on 64-bit
    /// machines: `None` only for a highmem folio; use
    /// [`WritebackFolio::read`] then).
    pub fn bytes(&self) -> Option<&[u8]> {
        // SAFETY: The folio is locked (type invariants): nobody writes to it
        // while we live (writers lock it, and its mappings were
        // write-protected when its dirty bit was cleared for I/O). A
        // non-highmem folio is mapped for its lifetime, and our reference
        // keeps it.
        unsafe {
            let p = bindings::rbtrfs_folio_address(self.folio);
            (!p.is_null()).then(|| core::slice::from_raw_parts(p.cast::<u8>(), self.size()))
        }
    }

    /// Copies the bytes at `offset` into `buf`; `EINVAL` if out of bounds.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result {
        if offset.checked_add(buf.len()).map_or(true, |end| end > self.size()) {
            return Err(EINVAL);
        }
        // SAFETY: In bounds (checked above); the folio is stable (see
        // `bytes`); `buf` is valid for writes.
        unsafe { bindings::rbtrfs_memcpy_from_folio(buf.as_mut_ptr().cast(), self.folio, offset, buf.len()) };
        Ok(())
    }

    /// Ends writeback with the result of writing the folio
    /// (`folio_end_writeback`) and unlocks it. The folio is clean now, so
    /// the data space reserved for it is given back (it was allocated, or
    /// the write failed). An error is recorded in the
    /// mapping (`mapping_set_error`), so `fsync` reports it, and stops
    /// background writeback.
    pub fn end(self, result: Result) {
        if let Err(e) = result {
            self.wb.fail(e);
            // SAFETY: The folio is locked in its mapping (type invariants).
            unsafe { bindings::rbtrfs_mapping_set_error(self.folio, e.to_errno()) };
        }
        let mut this = core::mem::ManuallyDrop::new(self);
        this.release(false);
    }

    /// Gives the folio back unwritten: dirty again for a later writeback
    /// (`folio_redirty_for_writepage`), then ends writeback and unlocks.
    pub fn redirty(self) {
        let mut this = core::mem::ManuallyDrop::new(self);
        this.release(true);
    }

    fn release(&mut self, redirty: bool) {
        // SAFETY: Locked, under writeback and referenced by us (type
        // invariants); this runs once (from `end`, `redirty` or `drop`),
        // after which the object is gone. `drop_reservation` accepts a
        // locked folio of the mapping (contract of `Writeback::new`).
        unsafe {
            if redirty {
                bindings::folio_redirty_for_writepage(self.wb.wbc, self.folio);
            } else {
                (self.wb.drop_reservation)(self.folio);
            }
            bindings::folio_end_writeback(self.folio);
            bindings::folio_unlock(self.folio);
            bindings::rbtrfs_folio_put(self.folio);
        }
    }
}

impl Drop for WritebackFolio<'_> {
    fn drop(&mut self) {
        self.release(true);
    }
}
