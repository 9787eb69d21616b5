// SPDX-License-Identifier: GPL-2.0

//! Delayed work and dedicated workqueues.
//!
//! C: `include/linux/workqueue.h`. 6.12's `kernel::workqueue` has `Work`
//! but no delayed work. A [`DelayedWork<C>`] is a `struct delayed_work`
//! pinned together with a context `C` and a callback `fn(&C)`: once
//! [scheduled](DelayedWork::schedule) it runs the callback on a workqueue
//! after a delay (the system unbound workqueue, or a [`Workqueue`] of the
//! owner's). Dropping it disables and cancels it synchronously
//! (`disable_delayed_work_sync`), so the callback never outlives the
//! context. Each [`new_delayed_work!`](crate::new_delayed_work) call site
//! gets its own lockdep class, as `INIT_DELAYED_WORK` does in C.
//!
//! A filesystem's per-superblock periodic work (transaction commit every
//! `commit=N` seconds) needs no `DelayedWork` of its own: see
//! [`FileSystem::background_work`](super::fs::FileSystem::background_work)
//! and [`SuperBlock::schedule_background_work`](super::fs::SuperBlock::schedule_background_work),
//! which are built on this.
//!
//! # Examples
//!
//! ```ignore
//! struct Stats { ticks: AtomicU64 }
//! fn tick(s: &Arc<Stats>) { s.ticks.fetch_add(1, Ordering::Relaxed); }
//! let work = KBox::pin_init(new_delayed_work!(stats.clone(), tick), GFP_KERNEL)?;
//! work.schedule(1000); // runs `tick` in about a second
//! drop(work);          // cancels it, waits if it is running
//! ```

use super::bindings;
use super::rwsem::LockClassKey;
use core::marker::PhantomPinned;
use core::ptr::NonNull;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::sync::Arc;
use kernel::types::Opaque;

/// A workqueue of one's own (`alloc_workqueue`), destroyed on drop.
///
/// # Invariants
///
/// `wq` is a live workqueue that this object destroys on drop.
pub struct Workqueue {
    wq: NonNull<bindings::workqueue_struct>,
}

// SAFETY: Workqueues are used and destroyed from any thread; the C code
// locks internally.
unsafe impl Send for Workqueue {}
// SAFETY: As above.
unsafe impl Sync for Workqueue {}

impl Workqueue {
    /// Not bound to a CPU (`WQ_UNBOUND`).
    pub const UNBOUND: u32 = bindings::RBTRFS_WQ_UNBOUND;
    /// Guaranteed forward progress under memory pressure
    /// (`WQ_MEM_RECLAIM`): for work that reclaim may wait on.
    pub const MEM_RECLAIM: u32 = bindings::RBTRFS_WQ_MEM_RECLAIM;
    /// Frozen during system suspend (`WQ_FREEZABLE`).
    pub const FREEZABLE: u32 = bindings::RBTRFS_WQ_FREEZABLE;

    /// Allocates a workqueue named `name` with `flags` (the constants
    /// above) running at most `max_active` items at once per CPU or node
    /// (0: the default). Returns it in an [`Arc`], as [`DelayedWork::new`]
    /// takes it, so that the queue outlives every work item on it.
    pub fn new(name: &CStr, flags: u32, max_active: i32) -> Result<Arc<Self>> {
        // SAFETY: `name` is NUL terminated; `alloc_workqueue` copies it.
        let wq = unsafe { bindings::rbtrfs_alloc_workqueue(name.as_char_ptr(), flags, max_active) };
        // INVARIANT: a live workqueue, ours to destroy.
        let wq = Self { wq: NonNull::new(wq).ok_or(ENOMEM)? };
        Ok(Arc::new(wq, GFP_KERNEL)?)
    }

    fn raw(&self) -> *mut bindings::workqueue_struct {
        self.wq.as_ptr()
    }
}

impl Drop for Workqueue {
    fn drop(&mut self) {
        // SAFETY: Live and ours (type invariants). Every `DelayedWork` on
        // it holds an `Arc` of it and disables itself before dropping that,
        // so nothing is queued or pending; `destroy_workqueue` drains
        // anything still running.
        unsafe { bindings::destroy_workqueue(self.raw()) };
    }
}

/// Creates a [`DelayedWork`] initialiser with a static lockdep class for
/// this call site: `new_delayed_work!(ctx, func)` runs on the system
/// unbound workqueue, `new_delayed_work!(ctx, func, wq)` on `wq`
/// (`Arc<Workqueue>`).
#[macro_export]
macro_rules! new_delayed_work {
    ($ctx:expr, $func:expr) => {{
        static CLASS: $crate::rfs::rwsem::LockClassKey = $crate::rfs::rwsem::LockClassKey::new();
        $crate::rfs::workqueue::DelayedWork::new($ctx, $func, None, &CLASS)
    }};
    ($ctx:expr, $func:expr, $wq:expr) => {{
        static CLASS: $crate::rfs::rwsem::LockClassKey = $crate::rfs::rwsem::LockClassKey::new();
        $crate::rfs::workqueue::DelayedWork::new($ctx, $func, Some($wq), &CLASS)
    }};
}

/// A delayed work item: runs `func(&ctx)` on a workqueue some time after
/// [`DelayedWork::schedule`].
///
/// The callback runs in process context on a worker thread; it may sleep.
/// It may re-arm its own work with `schedule`/`reschedule` (periodic work),
/// but it must not call [`DelayedWork::cancel_sync`],
/// [`DelayedWork::disable_sync`] or [`DelayedWork::flush`] on it, nor drop
/// the last owner of it: those wait for the callback to return and would
/// deadlock.
///
/// # Invariants
///
/// `dwork` is initialised with [`run::<C>`] as its function and, while it
/// is queued, pending or running, `self` is alive and pinned: `drop`
/// disables and cancels it synchronously before any field is dropped.
/// `wq` is `None` (the system unbound workqueue) or a queue that outlives
/// the work.
#[pin_data(PinnedDrop)]
#[repr(C)]
pub struct DelayedWork<C: Send + Sync + 'static> {
    // First field: the callback finds `self` from the `delayed_work`.
    #[pin]
    dwork: Opaque<bindings::delayed_work>,
    func: fn(&C),
    ctx: C,
    wq: Option<Arc<Workqueue>>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: The work may be scheduled, cancelled and dropped from any thread
// (the C code synchronises); the callback gets `&C` on a worker thread, so
// `C` must be `Sync`, and it is dropped wherever the work is, so `Send`.
unsafe impl<C: Send + Sync + 'static> Send for DelayedWork<C> {}
// SAFETY: As above; `&DelayedWork` gives only `&C` and the C operations,
// which are thread safe.
unsafe impl<C: Send + Sync + 'static> Sync for DelayedWork<C> {}

impl<C: Send + Sync + 'static> DelayedWork<C> {
    /// An initialiser for a work item running `func(&ctx)` on `wq` (`None`:
    /// the system unbound workqueue), in lockdep class `key`. Prefer
    /// [`new_delayed_work!`](crate::new_delayed_work).
    pub fn new(
        ctx: C,
        func: fn(&C),
        wq: Option<Arc<Workqueue>>,
        key: &'static LockClassKey,
    ) -> impl PinInit<Self> {
        // INVARIANT: `dwork` is initialised in place with `run::<C>`.
        pin_init!(Self {
            func,
            ctx,
            wq,
            _pin: PhantomPinned,
            // SAFETY: `slot` is valid for writes and pinned (it lives in
            // the pinned `Self`); `key` is 'static as lockdep requires.
            dwork <- Opaque::ffi_init(|slot| unsafe {
                bindings::rbtrfs_init_delayed_work(slot, Some(run::<C>), key.as_ptr())
            }),
        })
    }

    fn raw(&self) -> *mut bindings::delayed_work {
        self.dwork.get()
    }

    fn queue(&self) -> *mut bindings::workqueue_struct {
        match &self.wq {
            Some(wq) => wq.raw(),
            // SAFETY: `system_unbound_wq` is set up at boot and never freed.
            None => unsafe { bindings::rbtrfs_system_unbound_wq() },
        }
    }

    /// The context the callback gets.
    pub fn context(&self) -> &C {
        &self.ctx
    }

    /// Queues the work to run in `delay_ms` milliseconds (0: as soon as
    /// possible), unless it is already pending; returns false then (the
    /// earlier deadline stays) and when the work is disabled.
    pub fn schedule(&self, delay_ms: u32) -> bool {
        // SAFETY: `dwork` is initialised and `self` pinned; by the type
        // invariants `self` and the queue outlive the queued work.
        unsafe {
            let delay = bindings::rbtrfs_msecs_to_jiffies(delay_ms);
            bindings::queue_delayed_work_on(
                bindings::wq_misc_consts_WORK_CPU_UNBOUND as i32,
                self.queue(),
                self.raw(),
                delay,
            )
        }
    }

    /// Queues the work to run in `delay_ms` milliseconds, moving the
    /// deadline of a pending one (`mod_delayed_work`). Returns whether it
    /// was pending. Does nothing while the work is disabled.
    pub fn reschedule(&self, delay_ms: u32) -> bool {
        // SAFETY: As in `schedule`.
        unsafe {
            let delay = bindings::rbtrfs_msecs_to_jiffies(delay_ms);
            bindings::mod_delayed_work_on(
                bindings::wq_misc_consts_WORK_CPU_UNBOUND as i32,
                self.queue(),
                self.raw(),
                delay,
            )
        }
    }

    /// Cancels a pending run without waiting for a running one
    /// (`cancel_delayed_work`). Returns whether it was pending.
    pub fn cancel(&self) -> bool {
        // SAFETY: `dwork` is initialised.
        unsafe { bindings::cancel_delayed_work(self.raw()) }
    }

    /// Cancels a pending run and waits for a running one to finish
    /// (`cancel_delayed_work_sync`). A callback that re-arms itself is
    /// cancelled too. Sleeps; not from the callback itself.
    pub fn cancel_sync(&self) -> bool {
        // SAFETY: `dwork` is initialised; we are not its callback (see the
        // type's documentation; doing so would deadlock, not corrupt).
        unsafe { bindings::cancel_delayed_work_sync(self.raw()) }
    }

    /// Runs a pending work now and waits for it (`flush_delayed_work`).
    /// Returns whether there was anything to wait for. Sleeps; not from the
    /// callback itself.
    pub fn flush(&self) -> bool {
        // SAFETY: `dwork` is initialised.
        unsafe { bindings::flush_delayed_work(self.raw()) }
    }

    /// Like [`DelayedWork::cancel_sync`], and makes every later
    /// `schedule`/`reschedule` a no-op until [`DelayedWork::enable`]
    /// (`disable_delayed_work_sync`; calls nest). Sleeps; not from the
    /// callback itself.
    pub fn disable_sync(&self) -> bool {
        // SAFETY: `dwork` is initialised.
        unsafe { bindings::disable_delayed_work_sync(self.raw()) }
    }

    /// Undoes one [`DelayedWork::disable_sync`] (`enable_delayed_work`).
    /// Returns whether the work is enabled now.
    pub fn enable(&self) -> bool {
        // SAFETY: `dwork` is initialised.
        unsafe { bindings::enable_delayed_work(self.raw()) }
    }
}

#[pinned_drop]
impl<C: Send + Sync + 'static> PinnedDrop for DelayedWork<C> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `dwork` is initialised. After this returns nothing is
        // pending or running and nothing can be queued, so the fields (the
        // context, the queue) may be dropped.
        unsafe { bindings::disable_delayed_work_sync(self.raw()) };
    }
}

/// The C work function of every `DelayedWork<C>`.
///
/// # Safety
///
/// Called by the workqueue with the `work_struct` of a `DelayedWork<C>`'s
/// `delayed_work`.
unsafe extern "C" fn run<C: Send + Sync + 'static>(work: *mut bindings::work_struct) {
    // SAFETY: `work` is embedded in a `delayed_work`, which is the first
    // field of a `repr(C)` `DelayedWork<C>` (`Opaque` is transparent); by
    // the type invariants it stays alive and pinned while this runs, and
    // nothing holds `&mut` to it.
    let this = unsafe { &*bindings::rbtrfs_to_delayed_work(work).cast::<DelayedWork<C>>() };
    (this.func)(&this.ctx);
}
