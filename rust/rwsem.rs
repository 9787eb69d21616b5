// SPDX-License-Identifier: GPL-2.0

//! Read-write semaphores.
//!
//! C: `include/linux/rwsem.h`. A `struct rw_semaphore` admits many readers
//! or one writer and sleeps while it waits. [`RwSemaphore<T>`] wraps one
//! around the data it protects, in the style of `kernel::sync::Mutex`:
//! [`RwSemaphore::read`] returns a guard that derefs to `&T`,
//! [`RwSemaphore::write`] one that derefs to `&mut T`, and dropping a guard
//! releases the semaphore. Each [`new_rwsem!`](crate::new_rwsem) call site
//! gets its own static lockdep class, as `init_rwsem` does in C.
//!
//! btrfs's `commit_root_sem` is the model user: tree searches on commit
//! roots hold it for read, the transaction commit that switches the commit
//! roots holds it for write, and long readers (send) poll
//! [`RwSemaphore::is_contended`] to let the writer in.
//!
//! # Examples
//!
//! ```ignore
//! #[pin_data]
//! struct Roots { #[pin] commit_root_sem: RwSemaphore<u64> }
//! let roots = KBox::pin_init(pin_init!(Roots {
//!     commit_root_sem <- new_rwsem!(0, "commit_root_sem"),
//! }), GFP_KERNEL)?;
//! let generation = *roots.commit_root_sem.read();
//! *roots.commit_root_sem.write() = generation + 1;
//! ```

use super::bindings;
use core::cell::UnsafeCell;
use core::marker::{PhantomData, PhantomPinned};
use core::ops::{Deref, DerefMut};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::Opaque;

/// A lockdep class key in static storage.
pub struct LockClassKey(Opaque<bindings::lock_class_key>);

// SAFETY: lockdep synchronises all access to its keys internally.
unsafe impl Sync for LockClassKey {}

impl LockClassKey {
    /// A key for use in a `static` (lockdep needs no initialisation for
    /// static keys; it identifies them by address).
    pub const fn new() -> Self {
        Self(Opaque::uninit())
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::lock_class_key {
        self.0.get()
    }
}

impl Default for LockClassKey {
    fn default() -> Self {
        Self::new()
    }
}

/// Creates a [`RwSemaphore`] initialiser with a static lockdep class and
/// name for this call site: `new_rwsem!(value, "name")`.
#[macro_export]
macro_rules! new_rwsem {
    ($value:expr, $name:literal) => {{
        static CLASS: $crate::rfs::rwsem::LockClassKey = $crate::rfs::rwsem::LockClassKey::new();
        $crate::rfs::rwsem::RwSemaphore::new($value, ::kernel::c_str!($name), &CLASS)
    }};
}

/// A read-write semaphore protecting a `T`.
///
/// # Invariants
///
/// `sem` is initialised. `data` is accessed shared only while `sem` is held
/// for read or write, and mutably only while it is held for write.
#[pin_data]
pub struct RwSemaphore<T: ?Sized> {
    #[pin]
    sem: Opaque<bindings::rw_semaphore>,
    #[pin]
    _pin: PhantomPinned,
    data: UnsafeCell<T>,
}

// SAFETY: The semaphore can be moved between threads with its data if the
// data can.
unsafe impl<T: ?Sized + Send> Send for RwSemaphore<T> {}
// SAFETY: Readers share `&T` across threads (needs `Sync`); a writer gets
// `&mut T` on any thread (needs `Send`).
unsafe impl<T: ?Sized + Send + Sync> Sync for RwSemaphore<T> {}

impl<T> RwSemaphore<T> {
    /// An initialiser for a semaphore around `data`, with lockdep `name`
    /// and class `key`. Prefer [`new_rwsem!`](crate::new_rwsem).
    pub fn new(data: T, name: &'static CStr, key: &'static LockClassKey) -> impl PinInit<Self> {
        // INVARIANT: `__init_rwsem` initialises `sem` in place.
        pin_init!(Self {
            data: UnsafeCell::new(data),
            _pin: PhantomPinned,
            // SAFETY: `slot` is valid for writes and pinned; `name` and
            // `key` are 'static as lockdep requires.
            sem <- Opaque::ffi_init(|slot| unsafe {
                bindings::__init_rwsem(slot, name.as_char_ptr(), key.as_ptr())
            }),
        })
    }
}

impl<T: ?Sized> RwSemaphore<T> {
    fn raw(&self) -> *mut bindings::rw_semaphore {
        self.sem.get()
    }

    /// Acquires the semaphore for read, sleeping while a writer holds it.
    pub fn read(&self) -> ReadGuard<'_, T> {
        // SAFETY: `sem` is initialised (type invariant); `down_read` may
        // sleep, which `might_sleep` inside it checks on debug kernels.
        unsafe { bindings::down_read(self.raw()) };
        // INVARIANT: held for read.
        ReadGuard { sem: self, _not_send: PhantomData }
    }

    /// Acquires the semaphore for write, sleeping while anyone holds it.
    pub fn write(&self) -> WriteGuard<'_, T> {
        // SAFETY: As in `read`.
        unsafe { bindings::down_write(self.raw()) };
        // INVARIANT: held for write.
        WriteGuard { sem: self, _not_send: PhantomData }
    }

    /// Acquires for read without sleeping; `None` if a writer holds it or
    /// waits for it.
    pub fn try_read(&self) -> Option<ReadGuard<'_, T>> {
        // SAFETY: `sem` is initialised; trylock never sleeps.
        if unsafe { bindings::down_read_trylock(self.raw()) } != 0 {
            Some(ReadGuard { sem: self, _not_send: PhantomData })
        } else {
            None
        }
    }

    /// Acquires for write without sleeping; `None` if anyone holds it.
    pub fn try_write(&self) -> Option<WriteGuard<'_, T>> {
        // SAFETY: `sem` is initialised; trylock never sleeps.
        if unsafe { bindings::down_write_trylock(self.raw()) } != 0 {
            Some(WriteGuard { sem: self, _not_send: PhantomData })
        } else {
            None
        }
    }

    /// Whether tasks are waiting for the semaphore (`rwsem_is_contended`).
    /// A long reader polls this to step aside for a writer.
    pub fn is_contended(&self) -> bool {
        // SAFETY: `sem` is initialised; this only reads its wait list.
        unsafe { bindings::rbtrfs_rwsem_is_contended(self.raw()) != 0 }
    }

    /// Whether the semaphore is held by anyone (`rwsem_is_locked`).
    pub fn is_locked(&self) -> bool {
        // SAFETY: `sem` is initialised; this only reads its count.
        unsafe { bindings::rbtrfs_rwsem_is_locked(self.raw()) != 0 }
    }
}

/// Shared access to the data of a [`RwSemaphore`] held for read.
///
/// # Invariants
///
/// `sem` is held for read by the current task.
#[must_use = "the semaphore is released when the guard is dropped"]
pub struct ReadGuard<'a, T: ?Sized> {
    sem: &'a RwSemaphore<T>,
    // Released by the task that acquired it (lockdep tracks the owner).
    _not_send: PhantomData<*mut ()>,
}

impl<T: ?Sized> Deref for ReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: Held for read (type invariant), so no writer has `&mut T`.
        unsafe { &*self.sem.data.get() }
    }
}

impl<T: ?Sized> Drop for ReadGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: Held for read by this task (type invariant).
        unsafe { bindings::up_read(self.sem.raw()) };
    }
}

/// Exclusive access to the data of a [`RwSemaphore`] held for write.
///
/// # Invariants
///
/// `sem` is held for write by the current task.
#[must_use = "the semaphore is released when the guard is dropped"]
pub struct WriteGuard<'a, T: ?Sized> {
    sem: &'a RwSemaphore<T>,
    _not_send: PhantomData<*mut ()>,
}

impl<'a, T: ?Sized> WriteGuard<'a, T> {
    /// Turns the write hold into a read hold without letting another writer
    /// in between (`downgrade_write`).
    pub fn downgrade(self) -> ReadGuard<'a, T> {
        let sem = self.sem;
        core::mem::forget(self);
        // SAFETY: Held for write by this task; after the call it is held for
        // read, which the new guard now owns.
        unsafe { bindings::downgrade_write(sem.raw()) };
        ReadGuard { sem, _not_send: PhantomData }
    }
}

impl<T: ?Sized> Deref for WriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: Held for write (type invariant).
        unsafe { &*self.sem.data.get() }
    }
}

impl<T: ?Sized> DerefMut for WriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: Held for write (type invariant), so access is exclusive.
        unsafe { &mut *self.sem.data.get() }
    }
}

impl<T: ?Sized> Drop for WriteGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: Held for write by this task (type invariant).
        unsafe { bindings::up_write(self.sem.raw()) };
    }
}
