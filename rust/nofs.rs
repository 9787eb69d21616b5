// SPDX-License-Identifier: GPL-2.0

//! `GFP_NOFS` allocation scopes.
//!
//! C: `include/linux/sched/mm.h` (`memalloc_nofs_save`,
//! `memalloc_nofs_restore`). Inside a scope every allocation of the current
//! task implicitly drops `__GFP_FS`, so memory reclaim cannot recurse into
//! filesystem code (and deadlock on a lock the task holds, e.g. a running
//! transaction). 6.12's Rust allocation flags have no `GFP_NOFS`; this is
//! how transaction and writeback code allocate with `GFP_KERNEL` safely.
//!
//! # Examples
//!
//! ```ignore
//! let _nofs = NoFsScope::enter();
//! let v = KVec::<u8>::with_capacity(4096, GFP_KERNEL)?; // effectively GFP_NOFS
//! // scope ends when `_nofs` is dropped
//! ```

use super::bindings;
use core::marker::PhantomData;

/// A `GFP_NOFS` scope of the current task, ended when dropped.
///
/// Scopes nest: each restores the state it found. They must end in the
/// reverse order of entering them, which holding the guard in a local
/// variable gives.
///
/// # Invariants
///
/// `flags` is the value `memalloc_nofs_save` returned on this task.
#[must_use = "the scope ends when the guard is dropped"]
pub struct NoFsScope {
    flags: u32,
    // The state is per task: the guard must be dropped on the task that
    // created it.
    _not_send: PhantomData<*mut ()>,
}

impl NoFsScope {
    /// Enters a `GFP_NOFS` scope on the current task.
    pub fn enter() -> Self {
        // SAFETY: `memalloc_nofs_save` only sets a flag of the current task
        // and may be called in any context.
        let flags = unsafe { bindings::rbtrfs_memalloc_nofs_save() };
        // INVARIANT: the value just returned on this task.
        Self { flags, _not_send: PhantomData }
    }
}

impl Drop for NoFsScope {
    fn drop(&mut self) {
        // SAFETY: `flags` came from `memalloc_nofs_save` on this task (type
        // invariant; the guard is not `Send`).
        unsafe { bindings::rbtrfs_memalloc_nofs_restore(self.flags) };
    }
}

/// Runs `f` in a `GFP_NOFS` scope.
pub fn with_nofs<R>(f: impl FnOnce() -> R) -> R {
    let _scope = NoFsScope::enter();
    f()
}
